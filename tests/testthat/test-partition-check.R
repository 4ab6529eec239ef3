# Argument checks of the exported partition functions (R/partition-check.R).
library(survival)

test_that("the site functions refuse grids, requests and codes that do not fit (no C++ overrun)", {
  sites <- lung_hospitals()
  f <- Surv(time, status) ~ age + sex
  spec <- partition_spec(lapply(sites, site_describe, formula = f), f)
  grid <- cox_grid(lapply(sites, cox_site_setup, spec = spec), spec)
  r1 <- cox_combine(lapply(sites, cox_site_stats, formula = f, beta = c(0, 0), grid = grid), grid)
  short <- lapply(r1$request, head, -5)
  expect_error(cox_site_stats(sites$north, f, c(0, 0), grid, request = short),
               class = "rwe_bad_input", regexp = "request\\$alpha")
  expect_error(cox_site_stats(sites$north, f, c(0, 0), grid, request = list(alpha = 1)),
               class = "rwe_bad_input", regexp = "request")
  expect_error(cox_site_stats(sites$north, f, c(0, 0), grid, centre = NA),
               class = "rwe_bad_input", regexp = "centre")
  expect_error(cox_site_stats(sites$north, f, c(0, 0), grid, centre = c(1, NA)),
               class = "rwe_bad_input", regexp = "centre.*position 2")
  damaged <- grid
  damaged$bounds <- damaged$bounds + 1L
  expect_error(cox_site_stats(sites$north, f, c(0, 0), damaged), class = "rwe_bad_input", regexp = "grid")
  expect_error(cox_site_stats(sites$north, f, c(0, 0), grid, site = 1), class = "rwe_bad_input",
               regexp = "site")
  s <- lapply(sites, cox_site_stats, formula = f, beta = c(0, 0), grid = grid)
  s[[2]]$s0 <- s[[2]]$s0[-1]
  expect_error(cox_combine(s, grid), class = "rwe_bad_input", regexp = "stats.*element 2")
  # log-rank: a grid built without one of the site's groups
  fl <- Surv(time, status) ~ ph.ecog
  spec <- partition_spec(lapply(sites, site_describe, formula = fl), fl)
  without_3 <- lapply(sites, function(d) d[is.na(d$ph.ecog) | d$ph.ecog != 3, ])
  grid <- counts_grid(lapply(without_3, logrank_site_stats, spec = spec))
  has_3 <- names(sites)[vapply(sites, function(d) any(d$ph.ecog == 3, na.rm = TRUE), logical(1))]
  expect_error(logrank_site_stats(sites[[has_3]], spec, grid = grid), class = "rwe_bad_input",
               regexp = "lacks group.*3")
  expect_error(km_site_stats(sites$north, spec, grid = list(time = 1)), class = "rwe_bad_input",
               regexp = "grid")
  counts <- lapply(without_3, logrank_site_stats, spec = spec, grid = grid)
  counts[[1]]$n_risk <- counts[[1]]$n_risk[-1, , drop = FALSE]
  expect_error(logrank_combine(counts, grid), class = "rwe_bad_input", regexp = "stats.*element 1")
  counts <- lapply(without_3, logrank_site_stats, spec = spec, grid = grid)
  counts[[1]]$n_rows <- counts[[1]]$n_rows[-1, , drop = FALSE]
  expect_error(logrank_combine(counts, grid), class = "rwe_bad_input", regexp = "stats.*element 1")
  zero_scale <- grid
  zero_scale$wscale <- 0  # the sites would divide their weights by it
  expect_error(logrank_site_stats(sites$north, spec, grid = zero_scale), class = "rwe_bad_input",
               regexp = "weight scale")
  expect_error(counts_grid(list(1, 2)), class = "rwe_bad_input", regexp = "setups")
  spec <- partition_spec(lapply(sites, site_describe, formula = f), f)
  setups <- lapply(sites, cox_site_setup, spec = spec)
  expect_error(cox_grid(setups, spec, timefix = NA), class = "rwe_bad_input", regexp = "timefix")
  expect_error(cox_grid(list(sites$north), spec), class = "rwe_bad_input", regexp = "setups")
})

test_that("bad arguments of the partitioned verbs are refused with rwe_bad_input naming them", {
  sites <- lung_hospitals()
  parts <- cohort_partitions(sites)
  f <- Surv(time, status) ~ age + sex
  expect_error(partitioned_cox_fit(f, parts, stratify_by_site = data.frame()),
               class = "rwe_bad_input", regexp = "stratify_by_site")
  expect_error(partitioned_cox_fit(f, parts, stratify_by_site = NA),
               class = "rwe_bad_input", regexp = "stratify_by_site")
  expect_error(partitioned_cox_fit(f, parts, control = list(timefix = NA)),
               class = "rwe_bad_input", regexp = "control\\$timefix")
  expect_error(partitioned_cox_fit(f, parts, control = list(eps = -1)),
               class = "rwe_bad_input", regexp = "control\\$eps")
  expect_error(partitioned_cox_fit(f, parts, control = "tight"), class = "rwe_bad_input", regexp = "control")
  expect_error(partitioned_cox_fit(f, parts, timeout = 0), class = "rwe_bad_input", regexp = "timeout")
  expect_error(partitioned_cox_fit(f, parts, ties = "exact"), class = "rwe_bad_input", regexp = "ties")
  expect_error(partitioned_cox_fit(f, parts, min_cell = 2.5), class = "rwe_bad_input", regexp = "min_cell")
  expect_error(partitioned_km_fit(Surv(time, status) ~ 1, parts, conf.level = NULL),
               class = "rwe_bad_input", regexp = "conf.level")
  expect_error(partitioned_km_fit(Surv(time, status) ~ 1, parts, conf.level = 95),
               class = "rwe_bad_input", regexp = "conf.level")
  expect_error(partitioned_logrank_test(Surv(time, status) ~ sex, parts, timeout = "a"),
               class = "rwe_bad_input", regexp = "timeout")
  expect_error(cohort_partitions(sites, timeout = NA), class = "rwe_bad_input", regexp = "timeout")
  # infinite or huge values: named, never "missing value where TRUE/FALSE needed"
  inf_cov <- sites
  inf_cov$south$age[3] <- Inf
  expect_error(partitioned_cox_fit(f, cohort_partitions(inf_cov)), class = "rwe_bad_input",
               regexp = "age.*infinite.*row: 3")
  inf_time <- sites
  inf_time$centre$time[2] <- Inf
  expect_error(partitioned_cox_fit(f, cohort_partitions(inf_time)), class = "rwe_bad_input",
               regexp = "infinite survival times")
  expect_error(partitioned_km_fit(Surv(time, status) ~ 1, cohort_partitions(inf_time)),
               class = "rwe_bad_input", regexp = "infinite survival times")
  for (huge in c(1e300, 1e160)) {
    big <- sites
    big$north$age[1:3] <- huge
    expect_error(partitioned_cox_fit(f, cohort_partitions(big)), class = "rwe_bad_input",
                 regexp = "overflow.*age")
  }
  # covariates in very different units are scaled as coxph scales them (rank decisions of
  # the Cholesky factor): no column is dropped
  for (unit in c(1e-8, 1e12)) {
    scaled <- lapply(sites, function(d) { d$age <- d$age * unit; d })
    fs <- Surv(time, status) ~ age + sex + ph.ecog
    fit <- partitioned_cox_fit(fs, cohort_partitions(scaled), control = tight)
    ref <- coxph(fs, data = do.call(rbind, scaled), control = tight)
    expect_equal(unname(fit$coefficients), unname(coef(ref)), tolerance = 1e-10)
    expect_equal(unname(fit$var), unname(vcov(ref)), tolerance = 1e-10)
  }
  many <- lapply(sites, function(d) { d$age <- d$age * 1e306; d })
  expect_error(partitioned_cox_fit(f, cohort_partitions(many)), class = "rwe_bad_input",
               regexp = "overflow")
  # a large but harmless time is fine (as pooled)
  far <- sites
  far$north$time[1] <- 1e300
  expect_cox_equal(partitioned_cox_fit(f, cohort_partitions(far), control = tight),
                   coxph(f, data = do.call(rbind, far), control = tight))
  spec <- partition_spec(lapply(sites, site_describe, formula = f), f)
  grid <- counts_grid(lapply(sites, km_site_stats, spec = spec))
  km_counts <- lapply(sites, km_site_stats, spec = spec, grid = grid)
  expect_error(km_combine(km_counts, grid, conf.level = NULL), class = "rwe_bad_input", regexp = "conf.level")
})

test_that("the C++ kernels stop on out-of-range positions and codes instead of overrunning", {
  expect_error(partition_counts_cpp(c(1, 1), c(1, 0), c(0L, 1L), c(-1L, -1L), c(0L, NA), 1L, c(0L, 2L)),
               "group code")
  expect_error(partition_counts_cpp(c(1, 1), c(1, 0), c(0L, 5L), c(-1L, -1L), c(0L, 0L), 1L, c(0L, 2L)),
               "grid position")
  expect_error(partition_cox_info_cpp(matrix(1, 2, 1), 0, c(0, 0), c(1, 1), c(1, 0), c(0L, 1L),
                                      c(-1L, -1L), c(0L, 2L), 1, 1), "alpha")
  expect_error(partition_cox_sums_cpp(matrix(1, 2, 1), 0, c(0, 0), c(1, 1), c(1, 0), c(0L, 1L),
                                      c(-1L, -1L), c(0L, 2L, 1L)), "bounds")
  lung <- survival::lung
  f <- Surv(time, status) ~ age
  expect_error(partition_spec(list(1), f), class = "rwe_bad_input", regexp = "descriptions")
  expect_error(km_site_stats(lung, list(formula = f)), class = "rwe_bad_input", regexp = "spec")
  fit <- partitioned_cox_fit(f, cohort_partitions(list(lung)))
  expect_error(tidy(fit, conf.int = TRUE, conf.level = NA), class = "rwe_bad_input", regexp = "level")
})
