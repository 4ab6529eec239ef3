# Simulated registry-like survival data for the benchmarks (seeded, deterministic).
#   n        rows
#   p        numeric covariates x1..xp (standard normal, true log-HR 0.1 each, alternating sign)
#   groups   number of levels of the factor g (for KM / log-rank), 0 for none
#   strata   number of levels of s (for stratified cases), 0 for none
#   resolution "day" (times rounded to whole days: heavy ties) or "exact"
#   counting TRUE adds (start, stop] intervals: each subject split at a random time
#   event_rate target share of events (administrative + random censoring)
simulate_cohort <- function(n, p = 10, groups = 0, strata = 0, resolution = "day",
                            counting = FALSE, event_rate = 0.35, seed = 20261127) {
  set.seed(seed)
  x <- matrix(stats::rnorm(n * max(p, 1)), n, max(p, 1))
  colnames(x) <- paste0("x", seq_len(ncol(x)))
  beta <- rep_len(c(0.1, -0.1), ncol(x))
  lp <- drop(x %*% beta)
  g <- if (groups > 0) sample.int(groups, n, replace = TRUE) else rep(1L, n)
  lp <- lp + 0.1 * (g - 1)
  event_time <- stats::rexp(n, rate = exp(lp) / 365)
  # censoring rate tuned so that about event_rate of the rows are events
  censor_time <- stats::rexp(n, rate = (1 / event_rate - 1) / 365)
  time <- pmin(event_time, censor_time)
  status <- as.integer(event_time <= censor_time)
  if (resolution == "day") time <- pmax(1, round(time))
  d <- data.frame(time = time, status = status)
  if (p > 0) d <- cbind(d, as.data.frame(x[, seq_len(p), drop = FALSE]))
  if (groups > 0) d$g <- factor(g)
  if (strata > 0) d$s <- factor(sample.int(strata, n, replace = TRUE))
  if (counting) d <- split_intervals(d)
  d
}

# Splits every subject with time > 1 into two (start, stop] rows at a random whole day,
# keeping the event on the last row: a counting-process data set with tied start/stop times.
split_intervals <- function(d) {
  d$id <- seq_len(nrow(d))
  cut <- ifelse(d$time > 1, pmax(1, floor(d$time * stats::runif(nrow(d)))), NA)
  split <- which(!is.na(cut) & cut < d$time)
  first <- d[split, ]
  first$start <- 0
  first$stop <- cut[split]
  first$status <- 0L
  second <- d
  second$start <- 0
  second$start[split] <- cut[split]
  second$stop <- d$time
  out <- rbind(first, second)
  out$time <- NULL
  out[order(out$id, out$start), ]
}
