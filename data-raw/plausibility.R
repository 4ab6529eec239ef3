# Plausibility of the reconstructed PFS curve (issue 17 item 5): how much the progression
# times bunch, and how far the overall KM curve is from a smooth parametric one with the
# published median. Used by report-fit.R (README numbers) and search-survival.R (log lines).
#   pfs_plausibility(time, event) -> named numeric vector:
#     tied_pairs   pairs of equal progression times, the forced 5.0 trio (3 pairs) excepted
#     near_pairs   pairs of progression times 0.5 months apart
#     max_gap      largest gap between consecutive distinct progression times (months)
#     gap_excess   sum over those gaps of max(0, gap - 2.5)^2 (the search's gap term)
#     sd_late      SD of the progression times after the 5.0 trio (their spread, months)
#     ks_weibull   sup over [0, 16.5] of |KM(t) - S_w(t)|, S_w the Weibull with median 16.5
#                  whose shape minimises that distance (shape in [0.5, 6])
#     weibull_shape that shape

pfs_plausibility <- function(time, event, median = 16.5, gap_from = 2.5) {
  pd <- sort(time[event == 1])
  n_eq <- function(d) sum(outer(pd, pd, function(a, b) abs(a - b) == d)[upper.tri(diag(length(pd)))])
  trio <- sum(pd == 5)
  gaps <- diff(unique(pd))
  late <- pd[pd != 5]
  km <- survival::survfit(survival::Surv(time, event) ~ 1)
  grid <- seq(0, median, by = 0.01)
  s_km <- stats::stepfun(km$time, c(1, km$surv))(grid)
  # sup distance, checked just before each jump too (the KM is right-continuous)
  s_km_left <- stats::stepfun(km$time, c(1, km$surv), right = TRUE)(grid)
  ks <- function(k) {
    s_w <- exp(-log(2) * (grid / median)^k)
    max(abs(s_km - s_w), abs(s_km_left - s_w))
  }
  opt <- stats::optimize(ks, c(0.5, 6))
  c(tied_pairs = n_eq(0) - choose(trio, 2), near_pairs = n_eq(0.5), max_gap = max(gaps),
    gap_excess = sum(pmax(0, gaps - gap_from)^2), sd_late = stats::sd(late),
    ks_weibull = opt$objective, weibull_shape = opt$minimum)
}
