# Partitioned Kaplan-Meier and log-rank (R/partition-counts.R) must equal survfit / survdiff
# and the pooled km_fit / logrank_test.
library(survival)

test_that("by-hand Kaplan-Meier and log-rank (km_site_stats / logrank_site_stats) equal survfit / survdiff", {
  sites <- lung_hospitals()
  pooled <- do.call(rbind, sites)
  f <- Surv(time, status) ~ sex
  spec <- partition_spec(lapply(sites, site_describe, formula = f), f)
  grid <- counts_grid(lapply(sites, km_site_stats, spec = spec))
  km <- km_combine(lapply(sites, km_site_stats, spec = spec, grid = grid), grid)
  expect_km_equal(km, survfit(f, data = pooled))
  fl <- Surv(time, status) ~ sex + strata(ph.ecog)
  spec <- partition_spec(lapply(sites, site_describe, formula = fl), fl)
  grid <- counts_grid(lapply(sites, logrank_site_stats, spec = spec))
  lr <- logrank_combine(lapply(sites, logrank_site_stats, spec = spec, grid = grid), grid)
  expect_equal(lr$chisq, survdiff(fl, data = pooled)$chisq, tolerance = 1e-10)
})

test_that("log-rank with a group alone in its stratum: singular variance lowers df, as the pooled test", {
  # group c is a single subject alone in stratum 2: the variance of (b, c) is singular
  # (survdiff stops in solve(); this used to fail with the same unclassed LAPACK error)
  d <- data.frame(time = 1:7, status = c(1, 1, 1, 0, 1, 1, 1),
                  g = c("a", "b", "a", "b", "a", "b", "c"), s = c(1, 1, 1, 1, 1, 1, 2))
  parts <- cohort_partitions(split(d, rep(1:2, length.out = 7)))
  f <- Surv(time, status) ~ g + strata(s)
  lr <- partitioned_logrank_test(f, parts)
  pooled <- logrank_test(f, d)
  expect_equal(lr$df, 1L)
  expect_equal(lr$chisq, pooled$chisq, tolerance = 1e-12)
  expect_equal(lr$chisq, 11 / 9, tolerance = 1e-12)
})

test_that("curves and groups come out in the pooled order when the first site lacks a value", {
  lung <- survival::lung
  sites <- list(a = lung[lung$sex == 2, ], b = lung[lung$sex == 1 | lung$inst %% 2 == 0, ])
  sites$b <- sites$b[!rownames(sites$b) %in% rownames(sites$a), ]
  pooled <- do.call(rbind, sites)
  parts <- cohort_partitions(sites)
  expect_km_equal(partitioned_km_fit(Surv(time, status) ~ sex, parts),
                  survfit(Surv(time, status) ~ sex, data = pooled))
  lr <- partitioned_logrank_test(Surv(time, status) ~ factor(ph.ecog), parts)
  ref <- survdiff(Surv(time, status) ~ factor(ph.ecog), data = pooled)
  expect_equal(lr$observed, unname(ref$obs), tolerance = 1e-12)
  expect_equal(lr$expected, unname(ref$exp), tolerance = 1e-10)
  fsites <- lapply(sites, function(d) { d$sex <- factor(d$sex, 1:2, c("male", "female")); d })
  fpooled <- do.call(rbind, fsites)
  expect_km_equal(partitioned_km_fit(Surv(time, status) ~ sex, cohort_partitions(fsites)),
                  survfit(Surv(time, status) ~ sex, data = fpooled))
  lr <- partitioned_logrank_test(Surv(time, status) ~ ph.ecog + strata(sex), cohort_partitions(fsites))
  expect_equal(lr$chisq, survdiff(Surv(time, status) ~ ph.ecog + strata(sex), data = fpooled)$chisq,
               tolerance = 1e-10)
})

test_that("Kaplan-Meier with fractional weights uses the robust SE, as the pooled fit", {
  lung <- survival::lung
  set.seed(11)
  lung$w <- round(runif(nrow(lung), 0.5, 2), 2)
  sites <- split(lung, rep(1:3, length.out = nrow(lung)))
  pooled <- do.call(rbind, sites)
  parts <- cohort_partitions(sites)
  expect_km_like_own <- function(km, f) {
    ref <- survfit(f, data = pooled, weights = w)
    own <- km_fit(f, data = pooled, weights = w)
    expect_equal(own$variance, "robust")
    expect_equal(km$variance, "robust")
    expect_equal(km$curves$surv, ref$surv, tolerance = 1e-12)
    expect_equal(km$curves$n.risk, ref$n.risk, tolerance = 1e-12)
    for (col in c("std.err.surv", "std.err.log", "lower", "upper", "n.risk.rows", "n.event.rows")) {
      expect_equal(km$curves[[col]], own$curves[[col]], tolerance = 1e-10, label = col)
    }
  }
  expect_km_like_own(partitioned_km_fit(Surv(time, status) ~ 1, parts, weights = "w"),
                     Surv(time, status) ~ 1)
  expect_km_like_own(partitioned_km_fit(Surv(time, status) ~ sex, parts, weights = "w"),
                     Surv(time, status) ~ sex)
  # by hand: the grid tells the sites to send sums of squared weights
  f <- Surv(time, status) ~ 1
  spec <- partition_spec(lapply(sites, site_describe, formula = f, weights = "w"), f, weights = "w")
  grid <- counts_grid(lapply(sites, km_site_stats, spec = spec))
  expect_true(grid$robust)
  expect_km_like_own(km_combine(lapply(sites, km_site_stats, spec = spec, grid = grid), grid), f)
})


test_that("partitioned KM and log-rank equal rwecohort's own km_fit and logrank_test", {
  sites <- lung_hospitals()
  pooled <- do.call(rbind, sites)
  parts <- cohort_partitions(sites)
  km <- partitioned_km_fit(Surv(time, status) ~ sex, parts)
  own_km <- km_fit(Surv(time, status) ~ sex, data = pooled)
  expect_equal(km$curves$surv, own_km$curves$surv, tolerance = 1e-10)
  expect_equal(km$curves$n.risk, own_km$curves$n.risk, tolerance = 1e-10)
  lr <- partitioned_logrank_test(Surv(time, status) ~ sex, parts)
  expect_equal(lr$chisq, logrank_test(Surv(time, status) ~ sex, data = pooled)$chisq,
               tolerance = 1e-10)
})

test_that("KM with empty partitions and partitions without events equals the pooled survfit", {
  sites <- lung_hospitals()
  lung <- do.call(rbind, sites)
  censored_only <- lung[lung$status == 1, ][1:20, ]
  all_sites <- c(sites, list(empty = lung[0, ], censored = censored_only))
  km <- partitioned_km_fit(Surv(time, status) ~ sex, cohort_partitions(all_sites))
  expect_km_equal(km, survfit(Surv(time, status) ~ sex, data = do.call(rbind, all_sites)))
})

test_that("min_cell makes a site refuse to release its counts", {
  parts <- cohort_partitions(lung_hospitals())
  expect_error(partitioned_km_fit(Surv(time, status) ~ 1, parts, min_cell = 3), class = "rwe_min_cell")
})

test_that("near-tied times are merged on the union grid: KM and log-rank equal the pooled ones", {
  sites <- near_tie_sites()
  pooled <- do.call(rbind, sites)
  parts <- cohort_partitions(sites)
  km <- partitioned_km_fit(Surv(time, status) ~ sex, parts)
  expect_km_equal(km, survfit(Surv(time, status) ~ sex, data = pooled))
  fk <- Surv(time, status) ~ sex
  spec <- partition_spec(lapply(sites, site_describe, formula = fk), fk)
  grid <- counts_grid(lapply(sites, km_site_stats, spec = spec))
  expect_km_equal(km_combine(lapply(sites, km_site_stats, spec = spec, grid = grid), grid),
                  survfit(fk, data = pooled))
  lr <- partitioned_logrank_test(Surv(time, status) ~ sex + strata(ph.ecog), parts)
  expect_equal(lr$chisq, survdiff(Surv(time, status) ~ sex + strata(ph.ecog), data = pooled)$chisq,
               tolerance = 1e-10)
  expect_equal(lr$chisq, logrank_test(Surv(time, status) ~ sex + strata(ph.ecog), data = pooled)$chisq,
               tolerance = 1e-10)
})

test_that("a censoring at another site chains near-tied event times in the log-rank test", {
  sites <- chained_near_tie_sites()
  pooled <- do.call(rbind, sites)
  lr <- partitioned_logrank_test(Surv(time, status) ~ sex, cohort_partitions(sites))
  expect_equal(lr$chisq, survdiff(Surv(time, status) ~ sex, data = pooled)$chisq, tolerance = 1e-10)
})
