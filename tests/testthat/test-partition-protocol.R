# The partition protocol (R/partition-protocol.R): descriptions and spec, grids, the near-tie
# merge, min_cell.
library(survival)

test_that("empty partitions and partitions without events are allowed", {
  sites <- lung_hospitals()
  lung <- do.call(rbind, sites)
  censored_only <- lung[lung$status == 1, ][1:20, ]   # all 1s: censored under 1/2 coding
  all_sites <- c(sites, list(empty = lung[0, ], censored = censored_only))
  f <- Surv(time, status) ~ age + sex
  fit <- partitioned_cox_fit(f, cohort_partitions(all_sites), control = tight)
  expect_cox_equal(fit, coxph(f, data = do.call(rbind, all_sites), control = tight))
})

test_that("bad input is refused naming the partition and column", {
  sites <- lung_hospitals()
  f <- Surv(time, status) ~ age + sex + ph.ecog
  no_col <- sites
  no_col$centre$ph.ecog <- NULL
  expect_error(partitioned_cox_fit(f, cohort_partitions(no_col)),
               class = "rwe_bad_input", regexp = "centre.*ph.ecog")
  odd_kind <- sites
  odd_kind$south$sex <- as.numeric(odd_kind$south$sex)
  expect_error(partitioned_cox_fit(f, cohort_partitions(odd_kind)),
               class = "rwe_bad_input", regexp = "sex.*south")
  ordered_sites <- lapply(sites, function(d) { d$grade <- factor(d$ph.ecog, ordered = TRUE); d })
  ordered_sites$south$grade <- factor(ordered_sites$south$ph.ecog, levels = c(3, 2, 1, 0), ordered = TRUE)
  expect_error(partitioned_cox_fit(Surv(time, status) ~ grade, cohort_partitions(ordered_sites)),
               class = "rwe_bad_input", regexp = "grade.*south")
  expect_error(partitioned_cox_fit(f, sites), class = "rwe_bad_input", regexp = "partitions")
  expect_error(cohort_partitions(list(a = 1:3)), class = "rwe_bad_input", regexp = "sources")
  expect_error(cohort_partitions(sites$north), class = "rwe_bad_input", regexp = "sources")
  expect_error(partitioned_cox_fit(f, cohort_partitions(sites), min_cell = -1),
               class = "rwe_bad_input", regexp = "min_cell")
  none <- lapply(sites, function(d) { d$status <- 0; d })
  expect_error(partitioned_cox_fit(Surv(time, status) ~ age, cohort_partitions(none)),
               class = "rwe_bad_input", regexp = "no partition has an event")
  spec <- partition_spec(lapply(sites, site_describe, formula = f), f)
  grid <- cox_grid(lapply(sites, cox_site_setup, spec = spec), spec)
  expect_error(cox_site_stats(sites$north, f, c(0, 0), grid), class = "rwe_bad_input", regexp = "beta")
  expect_error(cox_site_stats(sites$north, Surv(time, status) ~ age, c(0, 0, 0), grid),
               class = "rwe_bad_input", regexp = "formula")
  other_spec <- partition_spec(lapply(sites, site_describe, formula = Surv(time, status) ~ age), Surv(time, status) ~ age)
  setups <- list(a = cox_site_setup(sites$north, spec), b = cox_site_setup(sites$south, other_spec))
  expect_error(cox_grid(setups, spec), class = "rwe_bad_input", regexp = "Partition.*b.*sex")
})

test_that("min_cell makes a site refuse to release sums at sparse risk sets", {
  parts <- cohort_partitions(lung_hospitals())
  f <- Surv(time, status) ~ age
  expect_error(partitioned_cox_fit(f, parts, min_cell = 3), class = "rwe_min_cell",
               regexp = "refuses.*grid time")
  # site-stratified fits release no per-time sums: min_cell does not apply
  expect_s3_class(partitioned_cox_fit(f, parts, stratify_by_site = TRUE, min_cell = 3), "rwe_partitioned_cox")
})


test_that("near-tied times are merged on the union grid: partitioned Cox == pooled", {
  sites <- near_tie_sites()
  pooled <- do.call(rbind, sites)
  expect_gt(sum(duplicated(pooled$time)), sum(duplicated(signif(pooled$time, 12))) - 200)
  expect_false(identical(length(unique(pooled$time)), length(unique(signif(pooled$time, 12)))))
  parts <- cohort_partitions(sites)
  f <- Surv(time, status) ~ age + sex + ph.ecog
  for (ties in c("efron", "breslow")) {
    fit <- partitioned_cox_fit(f, parts, ties = ties, control = tight)
    expect_cox_equal(fit, coxph(f, data = pooled, ties = ties, control = tight))
    own <- cox_fit(f, data = pooled, ties = ties, control = cox_control(eps = 1e-12, iter.max = 50, toler.chol = 1e-13))
    expect_equal(unname(fit$coefficients), unname(coef(own)), tolerance = 1e-10)
  }
  # timefix = FALSE keeps the times apart, as coxph(control = coxph.control(timefix = FALSE))
  loose <- coxph.control(eps = 1e-12, iter.max = 50, toler.chol = 1e-13, timefix = FALSE)
  expect_cox_equal(partitioned_cox_fit(f, parts, control = loose), coxph(f, data = pooled, control = loose))
  by_site <- partitioned_cox_fit(f, parts, control = tight, stratify_by_site = TRUE)
  pooled$site <- rep(names(sites), vapply(sites, nrow, integer(1)))
  expect_cox_equal(by_site, coxph(update(f, . ~ . + strata(site)), data = pooled, control = tight))
  # the by-hand protocol carries the merge in the grid
  spec <- partition_spec(lapply(sites, site_describe, formula = f), f)
  grid <- cox_grid(lapply(sites, cox_site_setup, spec = spec), spec)
  expect_gt(length(grid$timefix$from), 0)
  beta <- unname(coef(coxph(f, data = pooled, control = tight)))
  r1 <- cox_combine(lapply(sites, cox_site_stats, formula = f, beta = beta, grid = grid), grid)
  expect_equal(r1$loglik, coxph(f, data = pooled, control = tight)$loglik[2], tolerance = 1e-12)
})

test_that("a censoring at another site chains near-tied event times, as in the pooled fit", {
  sites <- chained_near_tie_sites()
  pooled <- do.call(rbind, sites)
  f <- Surv(time, status) ~ age + sex
  fit <- partitioned_cox_fit(f, cohort_partitions(sites), control = tight)
  expect_cox_equal(fit, coxph(f, data = pooled, control = tight))
})

test_that("counting-process near ties that empty an interval are refused, as pooled", {
  heart <- survival::heart
  heart$start <- heart$start / 10
  heart$stop <- heart$stop / 10
  sites <- split(heart, heart$id %% 2)
  f <- Surv(start, stop, event) ~ age + surgery
  expect_cox_equal(partitioned_cox_fit(f, cohort_partitions(sites), control = tight),
                   coxph(f, data = do.call(rbind, sites), control = tight))
  bad <- sites
  bad[[1]]$stop[1] <- bad[[1]]$start[1] + 1e-12
  expect_error(partitioned_cox_fit(f, cohort_partitions(bad)), class = "rwe_bad_input",
               regexp = "shorter than the time tolerance")
})

test_that("a site whose earliest time is a censoring before any event time fits like pooled", {
  lung <- survival::lung
  sites <- split(lung, lung$inst %% 2 == 0 & !is.na(lung$inst))
  early <- which(lung$status == 1)[1]
  sites[[2]] <- rbind(transform(lung[early, ], time = 1), sites[[2]])  # first event: day 5
  pooled <- do.call(rbind, sites)
  f <- Surv(time, status) ~ age + sex
  expect_cox_equal(partitioned_cox_fit(f, cohort_partitions(sites), control = tight),
                   coxph(f, data = pooled, control = tight))
  fs <- Surv(time, status) ~ age + strata(sex)
  expect_cox_equal(partitioned_cox_fit(fs, cohort_partitions(sites), control = tight),
                   coxph(fs, data = pooled, control = tight))
  spec <- partition_spec(lapply(sites, site_describe, formula = f), f)
  grid <- cox_grid(lapply(sites, cox_site_setup, spec = spec), spec)
  r1 <- cox_combine(lapply(sites, cox_site_stats, formula = f, beta = c(0, 0), grid = grid), grid)
  expect_equal(r1$loglik, coxph(f, data = pooled)$loglik[1], tolerance = 1e-12)
})

test_that("a character covariate with one value over all partitions is refused, as cox_fit", {
  lung <- na.omit(survival::lung[, c("time", "status", "age", "inst")])
  lung$ch <- "lo"
  parts <- cohort_partitions(split(lung, lung$inst %% 2))
  # was the sites' unclassed "contrasts can be applied only to factors with 2 or more levels"
  expect_error(partitioned_cox_fit(Surv(time, status) ~ age + ch, parts),
               class = "rwe_bad_input", regexp = "single level")
  expect_error(cox_fit(Surv(time, status) ~ age + ch, lung), class = "rwe_bad_input")
  # a single-level stratum is fine
  expect_cox_equal(partitioned_cox_fit(Surv(time, status) ~ age + strata(ch), parts, control = tight),
                   coxph(Surv(time, status) ~ age + strata(ch), data = lung, control = tight))
})

