source("data-raw/search-survival.R")

state_from_frame <- function(fr, sk) {
  fnames <- names(factor_counts_by_response()); fnames <- fnames[fnames != "hfs"]
  f <- lapply(setNames(fnames, fnames), function(n) as.logical(fr[[n]]))
  time <- fr$pfs_months
  dc_free <- sk$best_response != "PD" & is.na(sk$fixed_pfs)
  bin_id <- integer(nrow(sk))
  bin_id[dc_free] <- findInterval(time[dc_free], c(0, 12, 18, 24))
  list(time = time, f = f, hfs = as.logical(fr$hfs), bin_id = bin_id)
}

# Exhaustive best-improvement local search: every single-slot time on its grid, every
# within-class factor carrier swap, every pair of progression times jointly.
local_descent <- function(state, sk, targets, pairs = TRUE) {
  cost <- objective(state, sk, targets)
  cls <- sk$best_response
  repeat {
    best <- state; best_cost <- cost
    try_cand <- function(cand) {
      cc <- objective(cand, sk, targets)
      if (cc < best_cost - 1e-12) { best <<- cand; best_cost <<- cc }
    }
    pd <- which(cls == "PD" & state$time != 5)
    for (i in pd) for (t in seq(5.5, 16.5, 0.5)) if (t != state$time[i]) {
      cand <- state; cand$time[i] <- t; try_cand(cand) }
    bins <- dc_time_bins()
    for (i in which(state$bin_id > 1)) {
      b <- bins[state$bin_id[i], ]
      for (t in seq(b$lower, b$upper, 0.5)) if (t != state$time[i]) {
        cand <- state; cand$time[i] <- t; try_cand(cand) } }
    for (name in names(state$f)) for (c in c("PR", "SD", "PD")) {
      v <- state$f[[name]]
      locked <- c(if (name == "dose_modified") which(!state$hfs),
                  if (name == "tg_ge60") which(sk$hash_patient))
      on <- setdiff(which(cls == c & v), locked); off <- setdiff(which(cls == c & !v), locked)
      for (i in on) for (j in off) { cand <- state; cand$f[[name]][c(i, j)] <- c(FALSE, TRUE); try_cand(cand) }
    }
    # swap DC times between slots (bins move with them)
    dc <- which(state$bin_id > 0)
    for (a in seq_along(dc)) for (b2 in seq_along(dc)) if (a < b2) {
      ij <- dc[c(a, b2)]; sb <- state$bin_id[rev(ij)]
      if (!any(cls[ij] == "PR" & sb == 1) && state$time[ij[1]] != state$time[ij[2]]) {
        cand <- state; cand$time[ij] <- state$time[rev(ij)]; cand$bin_id[ij] <- sb; try_cand(cand) } }
    # swap progression times (incl. the 5.0 trio members other than no-HFS)
    pdall <- setdiff(which(cls == "PD"), which(!state$hfs))
    for (a in pdall) for (b2 in pdall) if (a < b2 && state$time[a] != state$time[b2]) {
      cand <- state; cand$time[c(a, b2)] <- state$time[c(b2, a)]; try_cand(cand) }
    if (best_cost < cost - 1e-12) { state <- best; cost <- best_cost; message("descent ", round(cost, 4)); next }
    if (!pairs) break
    # pairs of progression times jointly
    for (a in seq_along(pd)) for (b2 in seq_along(pd)) if (a < b2) {
      for (t1 in seq(max(5.5, state$time[pd[a]] - 3), min(16.5, state$time[pd[a]] + 3), 0.5))
        for (t2 in seq(max(5.5, state$time[pd[b2]] - 3), min(16.5, state$time[pd[b2]] + 3), 0.5)) {
          cand <- state; cand$time[pd[c(a, b2)]] <- c(t1, t2); try_cand(cand) } }
    if (best_cost < cost - 1e-12) { state <- best; cost <- best_cost; message("pair descent ", round(cost, 4)); next }
    break
  }
  list(state = state, cost = cost)
}

report <- function(state, sk, targets) {
  ev <- evaluate_fit(state, sk, targets)
  ok <- !is.na(targets$mean)
  e <- abs(ev$mean[ok] - targets$mean[ok])
  pf <- pmax(ev$p, 1e-12) / pmax(ev$p_target, 0.0005)
  pf[ev$p_target == 0 & ev$p < 0.0005] <- 1
  pf <- pmax(pf, 1 / pf)
  calls <- sum((ev$p < 0.05) != (ev$p_target < 0.05))
  pdt <- sort(state$time[sk$best_response == "PD"])
  sprintf("avg %.4f worst %.3f pfac %.3f calls %d hfs %.5f median %s obj %.4f pd %s",
          mean(e), max(e), max(pf), calls, ev$p[11], ev$median, objective(state, sk, targets),
          paste(pdt, collapse = " "))
}

# Joint move: a factor-carrier swap and a time move together (crosses ridges of single moves).
propose_joint <- function(state, sk) {
  if (runif(1) < 0.3) return(propose(propose(state, sk), sk))
  propose(state, sk)
}

anneal2 <- function(sk, targets, n_iter, temp_start, temp_end, start, final = FALSE) {
  state <- start; cost <- objective(state, sk, targets)
  best <- state; best_cost <- cost
  cooling <- (temp_end / temp_start)^(1 / n_iter); temp <- temp_start
  for (it in seq_len(n_iter)) {
    cand <- propose_joint(state, sk)
    cand_cost <- objective(cand, sk, targets)
    if (cand_cost <= cost || runif(1) < exp((cost - cand_cost) / temp)) {
      state <- cand; cost <- cand_cost
      if (cost < best_cost) { best <- state; best_cost <- cost }
    }
    temp <- temp * cooling
  }
  if (final) return(list(state = state, cost = cost))
  list(state = best, cost = best_cost)
}

polish <- function(start, sk, targets, n_rounds, n_iter, temp_start, seed, log = message) {
  set.seed(seed)
  best <- local_descent(start, sk, targets, pairs = FALSE)
  for (r in seq_len(n_rounds)) {
    a <- anneal2(sk, targets, n_iter, temp_start, 0.001, best$state)
    a <- local_descent(a$state, sk, targets, pairs = FALSE)
    if (a$cost < best$cost) best <- a
    log(sprintf("round %d: %.4f best %.4f | %s", r, a$cost, best$cost, report(best$state, sk, targets)))
  }
  best
}
