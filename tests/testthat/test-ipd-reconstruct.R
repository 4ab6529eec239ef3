# reconstruct_ipd() validated on data nobody here made: the Kaplan-Meier curves of
# survival::lung (by sex), survival::veteran (by trt) and survival::colon (deaths, Obs vs
# Lev+5FU) are "published" (their step points and numbers at risk every 3 months, or every
# 12 months for colon), reconstructed, and compared with the true patients.
library(survival)

ipd_cases <- list(
  lung = with(lung, data.frame(time = time, status = status - 1,
                               arm = factor(sex, 1:2, c("Male", "Female")))),
  veteran = with(veteran, data.frame(time = time, status = status,
                                     arm = factor(trt, 1:2, c("Standard", "Test")))),
  colon = with(colon[colon$etype == 2 & colon$rx != "Lev", ],
               data.frame(time = time, status = status,
                          arm = factor(as.character(rx), c("Obs", "Lev+5FU")))))
ipd_steps <- c(lung = 91.3, veteran = 91.3, colon = 365.25)

# The "publication": survfit's step points per arm and the numbers at risk at every step.
ipd_publish <- function(d, step) {
  fit <- survfit(Surv(time, status) ~ arm, data = d)
  arm <- factor(rep(levels(d$arm), fit$strata), levels(d$arm))
  at <- summary(fit, times = seq(0, max(d$time), by = step), extend = TRUE)
  risk <- data.frame(arm = factor(sub("arm=", "", as.character(at$strata)), levels(d$arm)),
                     time = at$time, n.risk = at$n.risk)
  list(curve = data.frame(arm = arm, time = fit$time, surv = fit$surv),
       at_risk = risk[risk$n.risk > 0 | risk$time == 0, ],
       events = tapply(d$status, d$arm, sum))
}

# A digitiser: clicks at the top and bottom of every drop and at the curve's end, with
# seeded click noise (sd half a pixel), read off a 250 x 250 pixel grid of the axes
# (x from 0 to the axis maximum, y from 0 to 1).
ipd_digitise <- function(curve, seed, xmax) {
  set.seed(seed)
  px <- xmax / 250
  py <- 1 / 250
  out <- lapply(split(curve, curve$arm), function(cv) {
    prev <- c(1, cv$surv[-nrow(cv)])
    drop <- cv$surv < prev
    t <- c(cv$time[drop], cv$time[drop], max(cv$time))
    s <- c(prev[drop], cv$surv[drop], cv$surv[nrow(cv)])
    data.frame(arm = cv$arm[1L],
               time = round((t + stats::rnorm(length(t), sd = 0.5 * px)) / px) * px,
               surv = round((s + stats::rnorm(length(s), sd = 0.5 * py)) / py) * py)
  })
  do.call(rbind, out)
}

# Largest vertical distance between two sets of per-arm Kaplan-Meier curves (sup over time).
ipd_sup_diff <- function(a, b) {
  max(vapply(levels(a$arm), function(l) {
    fa <- survfit(Surv(time, status) ~ 1, data = a[a$arm == l, ])
    fb <- survfit(Surv(time, status) ~ 1, data = b[b$arm == l, ])
    tt <- sort(unique(c(0, fa$time, fb$time)))
    max(abs(summary(fa, times = tt, extend = TRUE)$surv -
              summary(fb, times = tt, extend = TRUE)$surv))
  }, numeric(1)))
}
ipd_loghr <- function(d) unname(coef(cox_fit(Surv(time, status) ~ arm, data = d)))
ipd_rmst <- function(d, tau) {
  rmst(Surv(time / 30.4375, status) ~ arm, data = d, tau = tau, extend = TRUE)$groups$rmst
}
suppress_unreliable <- function(expr) {
  withCallingHandlers(expr, rwe_ipd_unreliable = function(w) invokeRestart("muffleWarning"))
}
quiet_inconsistent <- function(expr) {
  withCallingHandlers(expr, rwe_ipd_inconsistent = function(w) invokeRestart("muffleWarning"))
}

for (nm in names(ipd_cases)) {
  test_that(paste("exact coordinates of", nm, "reproduce the patients"), {
    d <- ipd_cases[[nm]]
    pub <- ipd_publish(d, ipd_steps[[nm]])
    ipd <- reconstruct_ipd(pub$curve, pub$at_risk)
    rep <- ipd_report(ipd)
    expect_s3_class(ipd, "rwe_ipd")
    expect_equal(as.vector(table(ipd$arm)), as.vector(table(d$arm)))
    expect_lte(max(rep$summary$max_abs_dn), 1)
    expect_true(all(abs(rep$at_risk$n.risk_reconstructed - rep$at_risk$n.risk_given) <= 1))
    expect_lte(max(rep$summary$max_abs_dS), 0.02)
    expect_lte(max(abs(rep$summary$events - pub$events)), 2)
    expect_lte(abs(ipd_loghr(ipd) - ipd_loghr(d)), 0.025)
    expect_identical(reconstruct_ipd(pub$curve, pub$at_risk), ipd)
    with_events <- quiet_inconsistent(reconstruct_ipd(pub$curve, pub$at_risk,
                                                      total_events = pub$events))
    expect_lte(max(abs(ipd_report(with_events)$summary$events - pub$events)), 1)
    expect_lte(abs(ipd_loghr(with_events) - ipd_loghr(d)), 0.025)
  })
}

test_that("exact lung reconstruction: numbers measured", {
  pub <- ipd_publish(ipd_cases$lung, ipd_steps[["lung"]])
  rep <- ipd_report(reconstruct_ipd(pub$curve, pub$at_risk))
  # Male: one event more than the truth (112), from one half-to-even rounding.
  expect_equal(rep$summary$events, c(113, 53))
  expect_equal(rep$summary$median, c(270, 426))
  expect_equal(rep$at_risk$n.risk_reconstructed, rep$at_risk$n.risk_given)
})

# Medians over 20 seeded digitisations (measured 2026-12-04: |dS| vs clicks 0.009 / 0.008 /
# 0.006, vs truth 0.044 / 0.072 / 0.024, |d log HR| 0.007 / 0.008 / 0.004, RMST 0.06 / 0.05 /
# 0.13 months for lung / veteran / colon). |dS| vs the clicks is the distance of each click to
# the reconstructed curve as drawn (0 on the vertical segment of a drop at its time).
ipd_repeats <- c(lung = 20L, veteran = 20L, colon = 20L)
for (nm in names(ipd_cases)) {
  test_that(paste("digitised", nm, "curves: medians over seeded repeats within tolerance"), {
    d <- ipd_cases[[nm]]
    pub <- ipd_publish(d, ipd_steps[[nm]])
    xmax <- max(pretty(c(0, max(d$time))))
    tau <- min(tapply(d$time, d$arm, max)) / 30.4375
    truth_rmst <- ipd_rmst(d, tau)
    res <- vapply(seq_len(ipd_repeats[[nm]]), function(seed) {
      dig <- ipd_digitise(pub$curve, seed, xmax)
      rec <- quiet_inconsistent(reconstruct_ipd(dig, pub$at_risk))
      c(ds_input = max(ipd_report(rec)$summary$max_abs_dS),
        ds_truth = ipd_sup_diff(rec, d),
        dloghr = abs(ipd_loghr(rec) - ipd_loghr(d)),
        drmst = max(abs(ipd_rmst(rec, tau) - truth_rmst)))
    }, numeric(4))
    med <- apply(res, 1L, stats::median)
    expect_lte(med[["ds_input"]], 0.02)
    expect_lte(med[["ds_truth"]], 0.08)
    expect_lte(med[["dloghr"]], 0.05)
    expect_lte(med[["drmst"]], 0.25)
  })
}

test_that("a closed form: rounding is half to even and censoring spreads evenly", {
  # 5 patients, the curve halves at t = 1: 5 * (1 - 0.5) = 2.5 events, rounded to 2.
  curve <- data.frame(time = c(0, 1, 2), surv = c(1, 0.5, 0.5))
  expect_warning(ipd <- reconstruct_ipd(curve, n = 5), class = "rwe_ipd_unreliable")
  expect_equal(ipd$status, c(1, 1, 0, 0, 0))
  expect_equal(ipd$time, c(1, 1, 2, 2, 2))
  # 10 at risk; 6 at t = 10 after 2 events at t = 4 (S 0.8): 2 censored, at 10/3 and 20/3.
  curve <- data.frame(time = c(4, 12), surv = c(0.8, 0.8))
  ipd <- reconstruct_ipd(curve, data.frame(time = c(0, 10), n.risk = c(10, 6)))
  expect_equal(ipd$time[ipd$status == 1], c(4, 4))
  expect_equal(ipd$time[ipd$status == 0 & ipd$time < 10], c(10 / 3, 20 / 3))
  expect_equal(ipd_report(ipd)$at_risk$n.risk_reconstructed, c(10, 6))
})

test_that("every patient is counted once when the table ends before the curve", {
  # Regression: the tail after the last at-risk time could censor more patients than were
  # left, adding a patient (139 men instead of 138).
  d <- ipd_cases$lung
  pub <- ipd_publish(d, ipd_steps[["lung"]])
  short <- pub$at_risk[pub$at_risk$time < 850, ]
  ipd <- reconstruct_ipd(pub$curve, short)
  expect_equal(as.vector(table(ipd$arm)), c(138, 90))
  expect_equal(ipd_report(ipd)$at_risk$n.risk_reconstructed, short$n.risk)
  expect_true(all(ipd$time <= max(d$time)))
})

test_that("the iteration cap is reported", {
  pub <- ipd_publish(ipd_cases$lung, ipd_steps[["lung"]])
  expect_warning(reconstruct_ipd(pub$curve, pub$at_risk, max_iter = 1),
                 class = "rwe_ipd_inconsistent", regexp = "max_iter")
  expect_error(reconstruct_ipd(pub$curve, pub$at_risk, max_iter = 0), class = "rwe_bad_input")
})

test_that("cleaning: order, clamping and monotonicity do not depend on the clicks' order", {
  curve <- data.frame(time = c(-0.2, 3, 1, 2, 2, 5), surv = c(1.01, 0.6, 0.9, 0.75, 0.8, 0.6))
  ipd <- reconstruct_ipd(curve, n = 20) |> suppressWarnings()
  shuffled <- reconstruct_ipd(curve[c(6, 2, 4, 1, 5, 3), ], n = 20) |> suppressWarnings()
  expect_identical(shuffled, ipd)
  pts <- attr(ipd, "curve")
  expect_equal(pts$time, c(0, 0, 1, 2, 2, 3, 5))
  expect_equal(pts$surv, c(1, 1, 0.9, 0.8, 0.75, 0.6, 0.6))
  # A click above an earlier one is lowered to it (running minimum).
  bump <- data.frame(time = c(1, 2, 3), surv = c(0.8, 0.85, 0.7))
  pts <- attr(suppressWarnings(reconstruct_ipd(bump, n = 10)), "curve")
  expect_equal(pts$surv, c(1, 0.8, 0.8, 0.7))
})

test_that("contradictory or bad inputs are refused or flagged", {
  curve <- data.frame(time = c(1, 5, 10), surv = c(0.5, 0.4, 0.4))
  # The curve halves by t = 1 but the table says 9 of 10 are at risk at t = 2.
  expect_warning(reconstruct_ipd(curve, data.frame(time = c(0, 2), n.risk = c(10, 9))),
                 class = "rwe_ipd_inconsistent", regexp = "more event")
  expect_error(reconstruct_ipd(curve, data.frame(time = c(0, 2, 4), n.risk = c(10, 5, 6))),
               class = "rwe_bad_input", regexp = "increase")
  expect_error(reconstruct_ipd(curve, data.frame(time = 2, n.risk = 10)),
               class = "rwe_bad_input", regexp = "time 0")
  expect_error(reconstruct_ipd(transform(curve, surv = surv * 100), n = 10),
               class = "rwe_bad_input", regexp = "percent")
  expect_error(reconstruct_ipd(curve), class = "rwe_bad_input", regexp = "at_risk")
  expect_error(reconstruct_ipd(curve, n = 10, total_events = 11), class = "rwe_bad_input",
               regexp = "total_events")
  expect_error(reconstruct_ipd(transform(curve, time = c(1, NA, 10)), n = 10),
               class = "rwe_bad_input", regexp = "Offending row: 2")
  two <- rbind(transform(curve, arm = "A"), transform(curve, arm = "B"))
  expect_error(reconstruct_ipd(two, n = 10), class = "rwe_bad_input", regexp = "named by arm")
  expect_warning(suppress_unreliable(reconstruct_ipd(curve, n = 10, total_events = 9)),
                 class = "rwe_ipd_inconsistent", regexp = "cannot be matched")
})

test_that("without a table, total events are matched and a warning says HRs are unreliable", {
  pub <- ipd_publish(ipd_cases$colon, ipd_steps[["colon"]])
  n <- c(Obs = 315, `Lev+5FU` = 304)
  expect_warning(ipd <- reconstruct_ipd(pub$curve, n = n, total_events = pub$events),
                 class = "rwe_ipd_unreliable")
  expect_equal(ipd_report(ipd)$summary$events, as.vector(pub$events))
  expect_equal(as.vector(table(ipd$arm)), as.vector(n))
})

test_that("report prints and the overlay plot builds", {
  skip_if_not_installed("ggplot2")
  pub <- ipd_publish(ipd_cases$veteran, ipd_steps[["veteran"]])
  ipd <- reconstruct_ipd(pub$curve, pub$at_risk)
  expect_output(print(ipd), "Reconstructed IPD: 137 patients")
  expect_output(print(ipd_report(ipd)), "Numbers at risk")
  p <- ipd_plot(ipd, xlab = "Days")
  expect_s3_class(p, "ggplot")
  expect_silent(ggplot2::ggplot_build(p))
  expect_error(ipd_report(data.frame()), class = "rwe_bad_input")
  part <- ipd[ipd$arm == "Test", ]
  expect_identical(class(part), "data.frame")
  expect_null(attr(part, "report"))
  expect_error(ipd_report(part), class = "rwe_bad_input", regexp = "subset")
})
