# Partitioned (multi-site) fits must equal the pooled single-machine fits of `survival`.
library(survival)

tight <- coxph.control(eps = 1e-12, iter.max = 50, toler.chol = 1e-13)

lung_hospitals <- function() {
  lung <- survival::lung
  lung$sex <- factor(lung$sex, levels = 1:2, labels = c("male", "female"))
  hospital <- cut(ifelse(is.na(lung$inst), 1, lung$inst), c(0, 5, 12, Inf),
                  labels = c("north", "centre", "south"))
  split(lung, hospital)
}

colon_sites <- function() {
  colon <- survival::colon
  # site 3 has no "Lev+5FU" patients: factor levels must be unified across sites
  colon$site <- ifelse(colon$rx == "Lev+5FU", colon$id %% 2 + 1, colon$id %% 3 + 1)
  lapply(split(colon, colon$site), function(d) { d$rx <- droplevels(d$rx); d })
}

simulate_sites <- function(n = 1e5, seed = 42) {
  set.seed(seed)
  x1 <- rnorm(n)
  x2 <- rbinom(n, 1, 0.4)
  g <- factor(sample(c("a", "b", "c"), n, replace = TRUE))
  s <- factor(sample(c("s1", "s2"), n, replace = TRUE))
  lp <- 0.3 * x1 - 0.5 * x2 + 0.2 * (g == "b") - 0.1 * (g == "c")
  event <- rexp(n, exp(lp) / 300)
  censor <- rexp(n, 1 / 500)
  d <- data.frame(time = pmax(1, round(pmin(event, censor) / 7)),  # weeks: heavy ties
                  status = as.integer(event <= censor), x1 = x1, x2 = x2, g = g, s = s,
                  w = runif(n, 0.5, 2))
  split(d, rep(1:3, c(0.5 * n, 0.3 * n, 0.2 * n)))
}

expect_cox_equal <- function(fit, ref, tolerance = 1e-10) {
  expect_equal(unname(fit$coefficients), unname(coef(ref)), tolerance = tolerance)
  # model-based variance (the references use robust = FALSE with weights)
  expect_equal(unname(fit$var), unname(vcov(ref)), tolerance = tolerance)
  expect_equal(fit$loglik, ref$loglik, tolerance = tolerance)
  expect_equal(fit$score, ref$score, tolerance = 1e-8)
  expect_equal(fit$iter, ref$iter)
  expect_equal(fit$n, ref$n)
  expect_equal(fit$nevent, ref$nevent)
}

expect_km_equal <- function(km, ref) {
  expect_equal(km$time, ref$time)
  for (col in c("n.risk", "n.event", "n.censor", "surv", "std.err", "lower", "upper")) {
    expect_equal(km[[col]], ref[[col]], tolerance = 1e-10, label = col)
  }
}

# ---- without a cluster: the protocol by hand and in-process partitions --------------------

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
  expect_named(tidy(fit), c("term", "estimate", "std.error", "statistic", "p.value", "conf.low", "conf.high"))
  expect_equal(glance(fit)$nevent, 164)
})

test_that("partitioned fits equal rwecohort's own pooled engines (cox_fit, km_fit, logrank_test)", {
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
  km <- partitioned_km_fit(Surv(time, status) ~ sex, parts)
  own_km <- km_fit(Surv(time, status) ~ sex, data = pooled)
  expect_equal(km$surv, own_km$curves$surv, tolerance = 1e-10)
  expect_equal(km$n.risk, own_km$curves$n.risk, tolerance = 1e-10)
  lr <- partitioned_logrank_test(Surv(time, status) ~ sex, parts)
  expect_equal(lr$chisq, logrank_test(Surv(time, status) ~ sex, data = pooled)$chisq,
               tolerance = 1e-10)
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

test_that("empty partitions and partitions without events are allowed", {
  sites <- lung_hospitals()
  lung <- do.call(rbind, sites)
  censored_only <- lung[lung$status == 1, ][1:20, ]   # all 1s: censored under 1/2 coding
  all_sites <- c(sites, list(empty = lung[0, ], censored = censored_only))
  f <- Surv(time, status) ~ age + sex
  fit <- partitioned_cox_fit(f, cohort_partitions(all_sites), control = tight)
  expect_cox_equal(fit, coxph(f, data = do.call(rbind, all_sites), control = tight))
  km <- partitioned_km_fit(Surv(time, status) ~ sex, cohort_partitions(all_sites))
  expect_km_equal(km, survfit(Surv(time, status) ~ sex, data = do.call(rbind, all_sites)))
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
  expect_error(partitioned_km_fit(Surv(time, status) ~ 1, parts, min_cell = 3), class = "rwe_min_cell")
  # site-stratified fits release no per-time sums: min_cell does not apply
  expect_s3_class(partitioned_cox_fit(f, parts, stratify_by_site = TRUE, min_cell = 3), "rwe_partitioned_cox")
})

# ---- issue 11: near ties, early censorings, validation before C++ ------------------------

# lung in tenths of months, computed two ways at different sites: t * 0.1 and t / 10 differ
# by an ulp for many t, which the pooled verbs (survival's timefix) treat as one time.
near_tie_sites <- function() {
  lung <- survival::lung
  lung$sex <- factor(lung$sex, levels = 1:2, labels = c("male", "female"))
  site <- rep(1:3, length.out = nrow(lung))
  lung$time <- ifelse(site == 2, lung$time * 0.1, lung$time / 10)
  split(lung, site)
}

test_that("near-tied times are merged on the union grid: partitioned == pooled (cox, km, log-rank)", {
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
  km <- partitioned_km_fit(Surv(time, status) ~ sex, parts)
  expect_km_equal(km, survfit(Surv(time, status) ~ sex, data = pooled))
  # the by-hand protocol carries the merge in the grid
  spec <- partition_spec(lapply(sites, site_describe, formula = f), f)
  grid <- cox_grid(lapply(sites, cox_site_setup, spec = spec), spec)
  expect_gt(length(grid$timefix$from), 0)
  beta <- unname(coef(coxph(f, data = pooled, control = tight)))
  r1 <- cox_combine(lapply(sites, cox_site_stats, formula = f, beta = beta, grid = grid), grid)
  expect_equal(r1$loglik, coxph(f, data = pooled, control = tight)$loglik[2], tolerance = 1e-12)
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

test_that("a censoring at another site chains near-tied event times, as in the pooled fit", {
  # events at 100 and 100 + 2.4e-6 are 2.4e-8 apart relative to the mean time (above the
  # tolerance) but a censoring at 100 + 1.2e-6 in between links them: one time when pooled
  lung <- survival::lung
  lung$time <- lung$time / 3
  keys <- which(lung$status == 2)[1:3]
  lung$time[keys] <- 100 + c(0, 1.2e-6, 2.4e-6)
  lung$status[keys[2]] <- 1
  site <- rep(1:2, length.out = nrow(lung))
  site[keys] <- c(1, 2, 1)
  sites <- split(lung, site)
  pooled <- do.call(rbind, sites)
  f <- Surv(time, status) ~ age + sex
  fit <- partitioned_cox_fit(f, cohort_partitions(sites), control = tight)
  expect_cox_equal(fit, coxph(f, data = pooled, control = tight))
  lr <- partitioned_logrank_test(Surv(time, status) ~ sex, cohort_partitions(sites))
  expect_equal(lr$chisq, survdiff(Surv(time, status) ~ sex, data = pooled)$chisq, tolerance = 1e-10)
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
  expect_equal(lr$groups$obs, unname(ref$obs), tolerance = 1e-12)
  expect_equal(lr$groups$exp, unname(ref$exp), tolerance = 1e-10)
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
    expect_equal(km$surv, ref$surv, tolerance = 1e-12)
    expect_equal(km$n.risk, ref$n.risk, tolerance = 1e-12)
    expect_equal(km$std.err, own$curves$std.err.log, tolerance = 1e-10)
    expect_equal(km$lower, own$curves$lower, tolerance = 1e-10)
    expect_equal(km$upper, own$curves$upper, tolerance = 1e-10)
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

# ---- on a cluster of two localhost workers -----------------------------------------------

test_that("cluster: lung hospitals, colon sites and 10^5 simulated rows equal the pooled fits", {
  skip_on_cran()
  skip_if_not_installed("parallelly")
  cl <- parallelly::makeClusterPSOCK(2, autoStop = TRUE)
  on.exit(try(parallel::stopCluster(cl), silent = TRUE), add = TRUE)

  # lung: three hospitals on two workers
  sites <- lung_hospitals()
  pooled <- do.call(rbind, sites)
  parts <- cohort_partitions(sites, cl)
  expect_equal(parts$node, c(1L, 2L, 1L))
  f <- Surv(time, status) ~ age + sex + ph.ecog
  fit <- partitioned_cox_fit(f, parts, control = tight)
  expect_cox_equal(fit, coxph(f, data = pooled, control = tight))
  # traffic per iteration: O(T p) up, O(T) down, one p x p up per partition
  p <- 3
  n_times <- fit$n_event_times
  per <- fit$traffic[fit$traffic$round == "sums", ]
  floor_sums <- 8 * 3 * ((2 * p + 4) * n_times + p + 1)
  expect_true(all(per$bytes_received >= floor_sums & per$bytes_received <= floor_sums + 3 * 1500))
  info <- fit$traffic[fit$traffic$round == "information", ]
  expect_true(all(info$bytes_received >= 3 * 8 * p^2 & info$bytes_received <= 3 * (8 * p^2 + 1500)))
  expect_true(all(info$bytes_sent >= 3 * 16 * n_times & info$bytes_sent <= 3 * (16 * n_times + 1500)))
  expect_true(all(per$bytes_sent <= 3 * (8 * p + 1500)))
  # site-stratified Cox: each site sends loglik, score and information only
  by_site <- partitioned_cox_fit(f, parts, control = tight, stratify_by_site = TRUE)
  pooled$site <- rep(names(sites), vapply(sites, nrow, integer(1)))
  expect_cox_equal(by_site, coxph(update(f, . ~ . + strata(site)), data = pooled, control = tight))
  expect_true(all(by_site$traffic_per_iteration$bytes_received <= 3 * (8 * (1 + p + p^2) + 1500)))
  # weights (a column name) and strata
  pooled_w <- pooled
  set.seed(1)
  wt <- runif(nrow(pooled), 0.2, 3)
  w_sites <- split(transform(pooled_w, w = wt), rep(seq_along(sites), vapply(sites, nrow, integer(1))))
  fw <- Surv(time, status) ~ age + ph.ecog + strata(sex)
  fit_w <- partitioned_cox_fit(fw, cohort_partitions(w_sites, cl), weights = "w", robust = FALSE,
                               control = tight)
  expect_cox_equal(fit_w, coxph(fw, data = transform(pooled_w, w = wt), weights = w, robust = FALSE,
                                  control = tight))
  # KM and log-rank
  km <- partitioned_km_fit(Surv(time, status) ~ sex, parts)
  expect_km_equal(km, survfit(Surv(time, status) ~ sex, data = pooled))
  lr <- partitioned_logrank_test(Surv(time, status) ~ sex + strata(ph.ecog), parts)
  ref_lr <- survdiff(Surv(time, status) ~ sex + strata(ph.ecog), data = pooled)
  expect_equal(lr$chisq, ref_lr$chisq, tolerance = 1e-10)
  expect_equal(lr$groups$obs, unname(rowSums(ref_lr$obs)), tolerance = 1e-12)
  expect_equal(lr$groups$exp, unname(rowSums(ref_lr$exp)), tolerance = 1e-10)
  expect_equal(unname(lr$var), unname(ref_lr$var), tolerance = 1e-10)

  # colon: three sites, one lacking a treatment level, files read on the workers
  colon <- colon_sites()
  files <- c(tempfile(fileext = ".rds"), tempfile(fileext = ".rds"), tempfile(fileext = ".csv"))
  saveRDS(colon[[1]], files[1]); saveRDS(colon[[2]], files[2])
  utils::write.csv(colon[[3]], files[3], row.names = FALSE)
  on.exit(unlink(files), add = TRUE)
  colon_parts <- cohort_partitions(as.list(files), cl)
  colon_pooled <- do.call(rbind, colon)
  fc <- Surv(time, status) ~ rx + age + nodes + differ + strata(etype)
  fit_c <- partitioned_cox_fit(fc, colon_parts, control = tight)
  expect_cox_equal(fit_c, coxph(fc, data = colon_pooled, control = tight))
  km_c <- partitioned_km_fit(Surv(time, status) ~ rx, colon_parts)
  expect_km_equal(km_c, survfit(Surv(time, status) ~ rx, data = colon_pooled))
  lr_c <- partitioned_logrank_test(Surv(time, status) ~ rx + strata(etype), colon_parts)
  expect_equal(lr_c$chisq, survdiff(Surv(time, status) ~ rx + strata(etype), data = colon_pooled)$chisq,
               tolerance = 1e-10)

  # 10^5 simulated rows, weekly times (heavy ties), weights and strata
  sim <- simulate_sites()
  sim_parts <- cohort_partitions(sim, cl)
  sim_pooled <- do.call(rbind, sim)
  fs <- Surv(time, status) ~ x1 + x2 + g + strata(s)
  fit_s <- partitioned_cox_fit(fs, sim_parts, weights = "w", robust = FALSE, control = tight)
  expect_cox_equal(fit_s, coxph(fs, data = sim_pooled, weights = w, robust = FALSE, control = tight))
  fit_b <- partitioned_cox_fit(Surv(time, status) ~ x1 + x2 + g, sim_parts, ties = "breslow", control = tight)
  expect_cox_equal(fit_b, coxph(Surv(time, status) ~ x1 + x2 + g, data = sim_pooled, ties = "breslow",
                                control = tight))
  km_s <- partitioned_km_fit(Surv(time, status) ~ g, sim_parts)
  expect_km_equal(km_s, survfit(Surv(time, status) ~ g, data = sim_pooled))
  lr_s <- partitioned_logrank_test(Surv(time, status) ~ g + strata(s), sim_parts)
  expect_equal(lr_s$chisq, survdiff(Surv(time, status) ~ g + strata(s), data = sim_pooled)$chisq,
               tolerance = 1e-10)

  # a worker that dies: a clear error naming it, no hang
  pids <- unlist(parallel::clusterCall(cl, Sys.getpid))
  tools::pskill(pids[2])
  expect_error(partitioned_cox_fit(f, parts), class = "rwe_worker_error",
               regexp = paste0("worker 2 \\(pid ", pids[2], "\\).*centre"))
})

test_that("cluster: a frozen worker ends in rwe_worker_timeout naming it, within the timeout", {
  skip_on_cran()
  skip_on_os("windows")
  cl <- parallel::makePSOCKcluster(2)
  on.exit(try(parallel::stopCluster(cl), silent = TRUE), add = TRUE)
  sites <- lung_hospitals()
  pooled <- do.call(rbind, sites)
  parts <- cohort_partitions(sites, cl)
  f <- Surv(time, status) ~ age + sex
  ref <- coxph(f, data = pooled, control = tight)
  frozen <- parts$pids[2]
  tools::pskill(frozen, tools::SIGSTOP)
  on.exit(tools::pskill(frozen, tools::SIGCONT), add = TRUE, after = FALSE)
  started <- proc.time()[["elapsed"]]
  expect_error(partitioned_cox_fit(f, parts, timeout = 2), class = "rwe_worker_timeout",
               regexp = paste0("worker 2 \\(pid ", frozen, "\\).*centre.*within 2 seconds"))
  waited <- proc.time()[["elapsed"]] - started
  expect_gte(waited, 2)
  expect_lt(waited, 30)
  expect_error(partitioned_km_fit(Surv(time, status) ~ sex, parts, timeout = 1),
               class = "rwe_worker_timeout")
  # once resumed, the late replies of the timed-out rounds are dropped: fits are right again
  tools::pskill(frozen, tools::SIGCONT)
  expect_cox_equal(partitioned_cox_fit(f, parts, control = tight, timeout = 60), ref)
  expect_km_equal(partitioned_km_fit(Surv(time, status) ~ sex, parts, timeout = 60),
                  survfit(Surv(time, status) ~ sex, data = pooled))
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
  expect_error(tidy(fit, conf.level = NA), class = "rwe_bad_input", regexp = "conf.level")
})

test_that("cluster: a message larger than the socket buffers is not sent to a frozen worker", {
  skip_on_cran()
  skip_on_os("windows")
  cl <- parallel::makePSOCKcluster(2)
  on.exit(try(parallel::stopCluster(cl), silent = TRUE), add = TRUE)
  frozen <- unlist(parallel::clusterCall(cl, Sys.getpid))[2]
  tools::pskill(frozen, tools::SIGSTOP)
  on.exit(tools::pskill(frozen, tools::SIGCONT), add = TRUE, after = FALSE)
  big <- rep(list(as.raw(seq_len(16e6) %% 256L)), 2)  # 16 MB each: beyond the socket buffers
  size <- function(a) length(a)
  environment(size) <- globalenv()  # as the verbs send their site functions: without this env
  started <- proc.time()[["elapsed"]]
  round <- cluster_round(cl, 1:2, size, big, timeout = 10)
  expect_lt(proc.time()[["elapsed"]] - started, 30)
  expect_identical(round$late, 2L)
  expect_equal(round$values[[1]], 16e6)
  # resumed: the stale ping reply is dropped, the next round gets the right answers
  tools::pskill(frozen, tools::SIGCONT)
  again <- cluster_round(cl, 1:2, size, list(1:3, 1:5), timeout = 60)
  expect_identical(again$values, list(3L, 5L))
})
