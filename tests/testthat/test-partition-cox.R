# Partitioned Cox fits (R/partition-cox.R) must equal the pooled cox_fit() and coxph().
library(survival)

test_that("by-hand file exchange (cox_site_stats + cox_combine) gives coxph's loglik, score and information", {
  sites <- lung_hospitals()
  pooled <- do.call(rbind, sites)
  f <- Surv(time, status) ~ age + sex + ph.ecog
  ref <- coxph(f, data = pooled, control = tight)
  descriptions <- lapply(sites, site_describe, formula = f)          # site -> coordinator
  spec <- partition_spec(descriptions, f)                            # coordinator -> sites
  expect_true(spec$status_shift)                                      # lung codes 1/2
  setups <- lapply(sites, cox_site_setup, spec = spec)               # site -> coordinator
  grid <- cox_grid(setups, spec)                                     # coordinator -> sites
  evaluate <- function(beta) {
    r1 <- cox_combine(lapply(sites, cox_site_stats, formula = f, beta = beta, grid = grid), grid)
    r2 <- lapply(sites, cox_site_stats, formula = f, beta = beta, grid = grid, request = r1$request)
    cox_combine(r2, grid, first = r1)
  }
  at_zero <- evaluate(c(0, 0, 0))
  expect_equal(at_zero$loglik, ref$loglik[1], tolerance = 1e-12)
  expect_equal(sum(at_zero$score * solve(at_zero$imat, at_zero$score)), ref$score, tolerance = 1e-10)
  at_hat <- evaluate(unname(coef(ref)))
  expect_equal(at_hat$loglik, ref$loglik[2], tolerance = 1e-12)
  expect_lt(max(abs(at_hat$score)), 1e-6)
  expect_equal(unname(solve(at_hat$imat)), unname(vcov(ref)), tolerance = 1e-10)
  # Breslow too
  ref_b <- coxph(f, data = pooled, ties = "breslow", control = tight)
  r1 <- cox_combine(lapply(sites, cox_site_stats, formula = f, beta = unname(coef(ref_b)), grid = grid),
                    grid, ties = "breslow")
  expect_equal(r1$loglik, ref_b$loglik[2], tolerance = 1e-12)
})

test_that("in-process partitions (no cluster) fit lung like pooled coxph, Efron and Breslow", {
  sites <- lung_hospitals()
  pooled <- do.call(rbind, sites)
  parts <- cohort_partitions(sites)
  f <- Surv(time, status) ~ age + sex + ph.ecog
  for (ties in c("efron", "breslow")) {
    fit <- partitioned_cox_fit(f, parts, ties = ties, control = tight)
    expect_cox_equal(fit, coxph(f, data = pooled, ties = ties, control = tight))
  }
  fo <- Surv(time, status) ~ age + ph.ecog + offset(wt.loss / 100)
  expect_cox_equal(partitioned_cox_fit(fo, parts, control = tight), coxph(fo, data = pooled, control = tight))
  expect_s3_class(fit, "rwe_partitioned_cox")
  expect_named(tidy(fit, conf.int = TRUE), c("term", "estimate", "std.error", "statistic", "p.value", "conf.low", "conf.high"))
  expect_equal(glance(fit)$nevent, 164)
})

test_that("partitioned Cox fits equal rwecohort's own pooled cox_fit", {
  sites <- lung_hospitals()
  pooled <- do.call(rbind, sites)
  parts <- cohort_partitions(sites)
  own_tight <- cox_control(eps = 1e-12, iter.max = 50, toler.chol = 1e-13)
  for (f in list(Surv(time, status) ~ age + sex + ph.ecog,
                 Surv(time, status) ~ age + sex + strata(ph.ecog))) {
    for (ties in c("efron", "breslow")) {
      fit <- partitioned_cox_fit(f, parts, ties = ties, control = tight)
      own <- cox_fit(f, data = pooled, ties = ties, control = own_tight)
      expect_equal(unname(fit$coefficients), unname(coef(own)), tolerance = 1e-10)
      expect_equal(unname(fit$var), unname(vcov(own)), tolerance = 1e-10)
      expect_equal(fit$loglik, own$loglik, tolerance = 1e-10)
      expect_equal(fit$iter, own$iter)
    }
  }
})

test_that("counting-process data (heart) equal pooled coxph", {
  heart <- survival::heart
  sites <- split(heart, heart$id %% 3)
  parts <- cohort_partitions(sites)
  f <- Surv(start, stop, event) ~ age + year + surgery + transplant
  for (ties in c("efron", "breslow")) {
    fit <- partitioned_cox_fit(f, parts, ties = ties, control = tight)
    expect_cox_equal(fit, coxph(f, data = do.call(rbind, sites), ties = ties, control = tight))
  }
})

test_that("perfect separation (log-likelihood exactly 0) iterates on as coxph instead of failing", {
  # x orders the deaths completely: the partial likelihood tends to 1 and its log reaches 0.0
  # in floating point, where the relative convergence test is 0 / 0 (was an unclassed
  # "missing value where TRUE/FALSE needed")
  d <- data.frame(time = 1:6, status = 1, x = 6:1, s = rep(c("a", "b"), 3))
  parts <- cohort_partitions(split(d, c(1, 2, 1, 2, 1, 2)))
  ctl <- survival::coxph.control(eps = 1e-12, iter.max = 60)
  fit <- suppressWarnings(partitioned_cox_fit(Surv(time, status) ~ x + strata(s), parts,
                                              control = ctl))
  ref <- suppressWarnings(coxph(Surv(time, status) ~ x + strata(s), data = d, control = ctl))
  expect_equal(fit$loglik, ref$loglik, tolerance = 1e-8)
  expect_equal(fit$loglik[2], 0)
})

test_that("non-integer weights: no silent model-based variance where coxph is robust", {
  lung <- na.omit(survival::lung[, c("time", "status", "age", "sex", "inst")])
  lung$w <- round(seq(0.3, 2.7, length.out = nrow(lung)), 2)
  parts <- cohort_partitions(split(lung, lung$inst %% 2))
  f <- Surv(time, status) ~ age + sex
  # coxph's default here is the robust variance, which is not computed over partitions
  expect_error(partitioned_cox_fit(f, parts, weights = "w"), class = "rwe_bad_input",
               regexp = "robust = FALSE")
  expect_error(partitioned_cox_fit(f, parts, weights = "w", robust = TRUE),
               class = "rwe_bad_input", regexp = "robust")
  expect_error(partitioned_cox_fit(f, parts, robust = "no"), class = "rwe_bad_input",
               regexp = "robust")
  fit <- partitioned_cox_fit(f, parts, weights = "w", robust = FALSE, control = tight)
  expect_cox_equal(fit, coxph(f, data = lung, weights = w, robust = FALSE, control = tight))
  # integer weights: coxph's variance is model-based, no argument needed
  lung$w <- rep(1:3, length.out = nrow(lung))
  parts <- cohort_partitions(split(lung, lung$inst %% 2))
  expect_cox_equal(partitioned_cox_fit(f, parts, weights = "w", control = tight),
                   coxph(f, data = lung, weights = w, control = tight))
})

