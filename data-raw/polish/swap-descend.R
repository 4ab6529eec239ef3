source("data-raw/polish/polish.R")
sk <- evaluable_skeleton(); targets <- search_targets()
st <- state_from_frame(read.csv("data-raw/survival-fit.csv"), sk)
cls <- sk$best_response
best <- list(state = st, cost = objective(st, sk, targets)); t0 <- proc.time()[[3]]
dc <- which(st$bin_id > 0)
bins <- dc_time_bins()
for (a in dc) for (b in dc) if (a < b && st$bin_id[a] != st$bin_id[b]) {
  if ((cls[a]=="PR" && st$bin_id[b]==1) || (cls[b]=="PR" && st$bin_id[a]==1)) next
  s0 <- st; s0$bin_id[c(a,b)] <- st$bin_id[c(b,a)]; s0$time[c(a,b)] <- st$time[c(b,a)]
  # try three retimings of each within its new bin: low, mid, as swapped
  for (fa in c(0, 0.5, 1)) for (fb in c(0, 0.5, 1)) {
    s1 <- s0
    for (i in c(a, b)) if (s1$bin_id[i] > 1) { f <- if (i == a) fa else fb; lo <- bins$lower[s1$bin_id[i]]; hi <- min(bins$upper[s1$bin_id[i]], 30)
      s1$time[i] <- if (f == 1) s1$time[i] else round((lo + f * (hi - lo)) * 2) / 2 }
    if (!is.finite(objective(s1, sk, targets))) next
    r <- local_descent(s1, sk, targets, pairs = FALSE)
    if (r$cost < best$cost - 1e-9) { best <- r; saveRDS(best, "data-raw/polish/swap-best.rds")
      message(sprintf("swap %d %d %.4f | %s t=%.0f", a, b, r$cost, report(r$state, sk, targets), proc.time()[[3]] - t0)) }
  }
  message("pair ", a, " ", b, " t=", round(proc.time()[[3]] - t0))
}
