# Test of proportional hazards for a Cox fit (Grambsch & Therneau 1994), as survival (>= 3.0)
# computes it in cox.zph(): a score test, at the fitted beta and gamma = 0, for adding the
# time-varying terms x * g(t) to the model, g a transform of time centred at its mean over
# the events. Because g(t) is constant within an event time, every quantity is a sum over
# event times of the risk-set sums S0, S1, S2 (and the tied-death sums Efron needs):
#   score for gamma:  U_g = sum_t g(t) [sum_{deaths} w x - wbar sum_k xbar_k(t)]
#   information:      I(t) = wbar sum_k V_k(t),  blocks I_bb = sum I(t), I_bg = sum g I(t),
#                     I_gg = sum g^2 I(t)
# with k running over the Efron passes at t (one pass for Breslow), wbar the mean death weight.
# The statistic is u' I^-1 u with u = (0, U_g): the beta part of the score is zero at beta-hat.

#' Test the proportional-hazards assumption of a Cox fit
#'
#' The score test of Grambsch and Therneau for adding \eqn{\beta_j g(t)}{b_j g(t)} terms, per
#' model term and globally, with the scaled Schoenfeld residuals and transformed event times
#' for plotting. Agrees with [survival::cox.zph()] (survival >= 3.0, which computes this score
#' test rather than the older regression on scaled Schoenfeld residuals).
#'
#' @param fit An `rwe_cox` fit from [cox_fit()] or [cox_fit_matrix()] (not Firth-penalised).
#' @param transform Time transform \eqn{g}: `"km"` (one minus the left-continuous pooled
#'   Kaplan-Meier, the default), `"rank"` (ranks of the follow-up times) or `"identity"`.
#' @param terms If `TRUE`, test each model term as a whole (the columns of a factor
#'   together, on as many degrees of freedom); if `FALSE`, one test per model-matrix column.
#' @return An object of class `rwe_ph_test`: `table` (data frame `term`, `statistic`, `df`,
#'   `p.value`, the last row `GLOBAL`), `x` (transformed time of each event), `time` (event
#'   times), `y` (matrix of scaled Schoenfeld residuals, one column per term), `strata` (of
#'   each event, or `NULL`), `var`, `transform`.
#' @examples
#' fit <- cox_fit(survival::Surv(time, status) ~ age + sex + ph.ecog, data = survival::lung)
#' zph <- ph_test(fit)
#' zph
#' generics::tidy(zph)
#' plot(zph)
#' @export
ph_test <- function(fit, transform = c("km", "rank", "identity"), terms = TRUE) {
  fit <- check_ph_fit(fit)
  transform <- match_choice(transform, c("km", "rank", "identity"))
  check_flag(terms)
  d <- ph_data(fit, terms)
  gt <- ph_time_transform(d$y, transform)
  gtime <- gt - mean(gt[d$status == 1])
  ord <- ph_event_order(d$y, d$strata)
  sums <- ph_event_time_sums(d, gtime, ord)
  table <- ph_score_tests(sums, d$assign)
  resid <- ph_scaled_schoenfeld(sums, d, terms)
  events <- ord[d$status[ord] == 1]
  structure(list(table = table, x = unname(gt[events]), time = unname(d$time[events]),
                 y = resid$y, strata = if (d$has_strata) d$strata_labels[d$strata[events]],
                 var = resid$var, transform = transform),
            class = "rwe_ph_test")
}

check_ph_fit <- function(fit, call = rlang::caller_env()) {
  refuse_partitioned(fit, "{.fn ph_test} (Schoenfeld residuals)", call)
  if (!inherits(fit, "rwe_cox") || inherits(fit, "rwe_cox_firth")) {
    cli::cli_abort("{.arg fit} must be an ordinary (unpenalised) {.cls rwe_cox} fit from {.fn cox_fit}.",
                   call = call, class = "rwe_bad_input")
  }
  if (!length(fit$coefficients) || all(is.na(fit$coefficients))) {
    cli::cli_abort("{.arg fit} has no coefficients: there is nothing to test.",
                   call = call, class = "rwe_bad_input")
  }
  # the model matrix and response, rebuilt from the data when the fit does not keep them
  cox_complete(fit, call = call)
}

# Model matrix, response and term assignment of the fit, aliased (NA) columns dropped.
ph_data <- function(fit, terms) {
  x <- cox_design(fit)
  y <- unclass(fit$y)
  keep <- !is.na(fit$coefficients)
  assign <- if (terms && !is.null(fit$assign)) fit$assign else
    as.list(stats::setNames(seq_along(keep), names(fit$coefficients)))
  new_index <- cumsum(keep)
  assign <- lapply(assign, function(j) unname(new_index[j[keep[j]]]))
  assign <- assign[lengths(assign) > 0L]
  n <- nrow(y)
  strata <- if (is.null(fit$strata)) rep(1L, n) else as.integer(fit$strata)
  counting <- ncol(y) == 3L
  list(x = x[, keep, drop = FALSE], y = fit$y, time = y[, ncol(y) - 1L],
       start = if (counting) y[, 1L] else NULL, status = y[, ncol(y)],
       eta = fit$linear.predictors, weights = if (is.null(fit$weights)) rep(1, n) else fit$weights,
       strata = strata, has_strata = !is.null(fit$strata) && max(strata) > 1L,
       strata_labels = ph_strata_labels(fit, max(strata)),
       coef = fit$coefficients[keep], assign = assign, method = fit$method)
}

# survfit-style stratum labels ("s=1, t=2") from the strata table when there is one.
ph_strata_labels <- function(fit, k) {
  tab <- fit$strata_table
  if (is.data.frame(tab) && nrow(tab) == k && ncol(tab)) {
    cells <- lapply(names(tab), function(v) paste0(v, "=", trimws(format(tab[[v]]))))
    return(do.call(paste, c(cells, sep = ", ")))
  }
  if (is.null(fit$strata_levels)) as.character(seq_len(k)) else fit$strata_levels
}

# g(t) for every row: the pooled KM (unweighted, ignoring strata) is taken just before t.
ph_time_transform <- function(y, transform) {
  ym <- unclass(y)
  time <- ym[, ncol(ym) - 1L]
  switch(transform,
         identity = time,
         rank = rank(time),
         km = {
           start <- if (ncol(ym) == 3L) ym[, 1L] else NULL
           km <- km_fit_matrix(time, ym[, ncol(ym)], start = start)
           idx <- findInterval(time, km$curves$time, left.open = TRUE)
           1 - c(1, km$curves$surv)[idx + 1L]
         })
}

# Rows in the order of cox.zph's output: by stratum and time (ties in row order) for
# right-censored data; for counting-process data the reverse of (stratum, time) descending.
ph_event_order <- function(y, strata) {
  ym <- unclass(y)
  if (ncol(ym) == 2L) return(order(strata, ym[, 1L]))
  rev(order(-strata, -ym[, 2L]))
}

# Per event time (stratum, time): risk-set sums S0, S1, S2 at beta-hat (rows with start < t
# <= stop in the stratum), their Efron passes, the information I(t) and the Schoenfeld
# residuals; returns the score and the 2p x 2p information of the augmented model.
ph_event_time_sums <- function(d, gtime, ord) {
  p <- ncol(d$x)
  risk <- d$weights * exp(d$eta - max(d$eta))
  ev <- which(d$status == 1)
  ev <- ev[order(d$strata[ev], d$time[ev])]
  new_time <- c(TRUE, diff(d$strata[ev]) != 0 | diff(d$time[ev]) != 0)
  tid <- cumsum(new_time)  # event time of each event row (in `ev` order)
  first <- ev[new_time]
  at <- ph_risk_positions(d, d$strata[first], d$time[first])
  pairs <- which(upper.tri(diag(p), diag = TRUE), arr.ind = TRUE)
  column <- function(k) if (k == 0L) rep(1, nrow(d$x)) else if (k <= p) d$x[, k] else
    d$x[, pairs[k - p, 1L]] * d$x[, pairs[k - p, 2L]]
  ncols <- 1L + p + nrow(pairs)
  S <- E <- matrix(0, length(first), ncols)
  for (k in seq_len(ncols) - 1L) {
    v <- risk * column(k)
    S[, k + 1L] <- ph_risk_sum(v, at)
    E[, k + 1L] <- rowsum(v[ev], tid, reorder = FALSE)[, 1L]
  }
  passes <- ph_tie_passes(S, E, tid, d$weights[ev], p, pairs, d$method == "efron")
  xw_dead <- rowsum(d$x[ev, , drop = FALSE] * d$weights[ev], tid, reorder = FALSE)
  ub <- xw_dead - passes$wdead * passes$mean  # per event time
  g <- gtime[first]
  info <- passes$info
  block <- function(v) matrix(colSums(v * info), p, p)
  imat <- rbind(cbind(block(1), block(g)), cbind(block(g), block(g^2)))
  schoen <- d$x[ev, , drop = FALSE] - passes$mean[tid, , drop = FALSE]
  # put the residuals in cox.zph's row order
  events_out <- ord[d$status[ord] == 1]
  schoen <- schoen[match(events_out, ev), , drop = FALSE]
  list(u = colSums(g * ub), imat = imat, schoen = schoen, used = ph_used(d), p = p)
}

# Index pairs (lo, hi) into suffix sums of the rows sorted by (stratum, stop) and by
# (stratum, start): the risk set at t is {stop >= t} minus {start >= t}, within the stratum.
ph_risk_positions <- function(d, s_query, t_query) {
  by_stop <- order(d$strata, d$time)
  res <- list(stop = ph_suffix_positions(d$strata[by_stop], d$time[by_stop], s_query, t_query),
              stop_order = by_stop)
  if (!is.null(d$start)) {
    by_start <- order(d$strata, d$start)
    res$start <- ph_suffix_positions(d$strata[by_start], d$start[by_start], s_query, t_query)
    res$start_order <- by_start
  }
  res
}

# For each query, first sorted position with key >= t in stratum s, and one past the stratum.
ph_suffix_positions <- function(s_sorted, key_sorted, s_query, t_query) {
  n <- length(s_sorted)
  block_end <- cumsum(tabulate(s_sorted, nbins = max(s_sorted, s_query)))
  block_begin <- c(0L, block_end[-length(block_end)])
  lo <- integer(length(s_query))
  for (s in unique(s_query)) {
    q <- which(s_query == s)
    keys <- key_sorted[seq_len(block_end[s] - block_begin[s]) + block_begin[s]]
    lo[q] <- block_begin[s] + findInterval(t_query[q], keys, left.open = TRUE) + 1L
  }
  list(lo = lo, hi = block_end[s_query] + 1L)
}

ph_risk_sum <- function(v, at) {
  suffix <- function(ordv) c(rev(cumsum(rev(ordv))), 0)
  cs <- suffix(v[at$stop_order])
  out <- cs[at$stop$lo] - cs[at$stop$hi]
  if (!is.null(at$start)) {
    cs <- suffix(v[at$start_order])
    out <- out - (cs[at$start$lo] - cs[at$start$hi])
  }
  out
}

# The tie passes at each event time (src/ties.h through cox_tie_table_cpp): the stage mean of
# x (K x p; Breslow: the risk-set mean) and the information I(t) = W/d sum_k V_k (K x p^2,
# column-major p x p per row), from the risk-set sums S and tied-death sums E (columns 1, x,
# then the products of `pairs`). `tid` numbers the event time of each death, `w` their weights;
# zero-weight deaths are no tied deaths, as in the fit.
ph_tie_passes <- function(S, E, tid, w, p, pairs, efron) {
  K <- nrow(S)
  ndead <- as.double(tabulate(tid[w > 0], nbins = K))
  wdead <- rowsum(w, tid, reorder = FALSE)[, 1L]
  full <- function(m) {
    out <- matrix(0, K, p * p)
    out[, (pairs[, 2L] - 1L) * p + pairs[, 1L]] <- m[, 1L + p + seq_len(nrow(pairs))]
    out[, (pairs[, 1L] - 1L) * p + pairs[, 2L]] <- m[, 1L + p + seq_len(nrow(pairs))]
    out
  }
  cols <- 1L + seq_len(p)
  tab <- cox_tie_table_cpp(S[, 1L], E[, 1L], S[, cols, drop = FALSE], E[, cols, drop = FALSE],
                           ndead, wdead, efron, full(S), full(E))
  list(mean = tab$mean, info = tab$info, wdead = wdead)
}

# Per stratum and column: the number of events in the stratum if the column varies within
# it, else 0 (a constant column carries no information there).
ph_used <- function(d) {
  k <- max(d$strata)
  used <- matrix(0L, k, ncol(d$x))
  for (s in seq_len(k)) {
    rows <- which(d$strata == s)
    if (!length(rows)) next
    varies <- apply(d$x[rows, , drop = FALSE], 2L, function(v) any(v != v[1L]))
    used[s, ] <- as.integer(sum(d$status[rows])) * varies
  }
  used
}

# Score test u' I^-1 u with u = (0, U_gamma), per term (beta block plus that term's gamma
# columns) and globally.
ph_score_tests <- function(sums, assign) {
  p <- sums$p
  u <- c(rep(0, p), sums$u)
  one <- function(cols) {
    kk <- c(seq_len(p), cols + p)
    c(drop(crossprod(u[kk], ph_solve(sums$imat[kk, kk, drop = FALSE], u[kk]))), length(cols))
  }
  res <- rbind(t(vapply(assign, one, numeric(2))), GLOBAL = one(seq_len(p)))
  data.frame(term = rownames(res), statistic = res[, 1L], df = as.integer(res[, 2L]),
             p.value = stats::pchisq(res[, 1L], res[, 2L], lower.tail = FALSE),
             row.names = NULL, stringsAsFactors = FALSE)
}

# Scaled Schoenfeld residuals for plotting (Grambsch & Therneau): the residuals times the
# inverse of the average per-event information (averaged over the events of the strata in
# which each column varies), plus beta. A multi-column term (factor) is collapsed to its
# linear-predictor contribution, scaled to be 1 under proportional hazards.
ph_scaled_schoenfeld <- function(sums, d, terms) {
  assign <- d$assign
  used <- sums$used
  for (cols in assign[lengths(assign) > 1L]) used[, cols] <- apply(used[, cols, drop = FALSE], 1L, max)
  wt <- Reduce(`+`, lapply(seq_len(nrow(used)), function(s) outer(used[s, ], used[s, ], pmin)))
  vmean <- sums$imat[seq_len(sums$p), seq_len(sums$p), drop = FALSE] / ifelse(wt == 0, 1, wt)
  resid <- sums$schoen
  if (terms && any(lengths(assign) > 1L)) {
    collapse <- matrix(0, sums$p, length(assign))
    for (i in seq_along(assign)) {
      cols <- assign[[i]]
      collapse[cols, i] <- if (length(cols) == 1L) 1 else d$coef[cols]
    }
    resid <- resid %*% collapse
    vmean <- crossprod(collapse, vmean %*% collapse)
    used <- used[, vapply(assign, `[`, 1L, 1L), drop = FALSE]
  }
  group <- rep(seq_len(nrow(used)), apply(used, 1L, max))
  for (s in seq_len(nrow(used))) {
    k <- which(used[s, ] > 0)
    if (!length(k)) next
    rows <- which(group == s)
    resid[rows, k] <- resid[rows, k, drop = FALSE] %*% ph_solve(vmean[k, k, drop = FALSE])
    resid[rows, -k] <- NA
  }
  shift <- vapply(assign, function(cols) if (length(cols) == 1L) d$coef[[cols]] else 1, 1)
  resid <- resid + rep(shift, each = nrow(resid))
  dimnames(resid) <- list(NULL, names(assign))
  list(y = resid, var = ph_solve(vmean))
}

# solve() for the information matrices of the test. They are singular when the fit is (an
# infinite coefficient, a column without variation among the events at risk, too few events for
# the 2p-parameter augmented model): refuse with a classed error rather than LAPACK's message.
ph_solve <- function(a, b, call = quote(ph_test())) {
  bad <- function(e) {
    cli::cli_abort(c("{.arg fit}: the information matrix of the proportional-hazards test is singular.",
                     "i" = "Likely causes: a coefficient that diverged (monotone likelihood), a covariate constant among the events, or fewer events than the test has parameters.",
                     "x" = conditionMessage(e)),
                   call = call, class = "rwe_bad_input")
  }
  if (!all(is.finite(a))) bad(simpleError("it has non-finite entries"))
  tryCatch(if (missing(b)) solve(a) else solve(a, b), error = bad)
}

#' @export
print.rwe_ph_test <- function(x, digits = max(3L, getOption("digits") - 4L), ...) {
  check_dots_empty_bad(...)
  cat("Proportional-hazards score test (Grambsch-Therneau), transform = ", x$transform, "\n",
      sep = "")
  tab <- x$table
  out <- data.frame(chisq = signif(tab$statistic, digits), df = tab$df,
                    p = format.pval(tab$p.value, digits = digits), row.names = tab$term)
  print(out)
  invisible(x)
}

#' Tidy a proportional-hazards test
#'
#' @param x An `rwe_ph_test` from [ph_test()].
#' @param ... Must be empty (an unknown argument is an error, not ignored).
#' @return A data frame with `term` (the last row `GLOBAL`), `statistic` (chi-square), `df`,
#'   `p.value`.
#' @examples
#' fit <- cox_fit(survival::Surv(time, status) ~ age + sex, data = survival::lung)
#' generics::tidy(ph_test(fit))
#' @export
tidy.rwe_ph_test <- function(x, ...) {
  check_dots_empty_bad(...)
  x$table
}

#' Plot scaled Schoenfeld residuals against transformed time
#'
#' One panel per term: the scaled Schoenfeld residuals against \eqn{g(t)} with a lowess
#' smooth (a flat smooth supports proportional hazards).
#'
#' @param x An `rwe_ph_test` from [ph_test()].
#' @param which Terms to plot (names or positions); default all.
#' @param ... Passed to [graphics::plot()].
#' @return `x`, invisibly.
#' @examples
#' fit <- cox_fit(survival::Surv(time, status) ~ age + sex, data = survival::lung)
#' plot(ph_test(fit), which = "sex")
#' @export
plot.rwe_ph_test <- function(x, which = colnames(x$y), ...) {
  y <- x$y[, which, drop = FALSE]
  if (ncol(y) > 1L) {
    old <- graphics::par(mfrow = grDevices::n2mfrow(ncol(y)))
    on.exit(graphics::par(old))
  }
  xlab <- switch(x$transform, km = "1 - KM(t-)", rank = "rank(time)", identity = "time")
  for (j in seq_len(ncol(y))) {
    ok <- !is.na(y[, j])
    graphics::plot(x$x[ok], y[ok, j], xlab = xlab, ylab = paste("Beta(t) for", colnames(y)[j]),
                   col = "grey40", ...)
    if (sum(ok) > 3L) graphics::lines(stats::lowess(x$x[ok], y[ok, j]), lwd = 2)
  }
  invisible(x)
}
