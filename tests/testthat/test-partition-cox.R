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
  ctl <- suppressWarnings(survival::coxph.control(eps = 1e-12, iter.max = 60))  # toler.chol > eps
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


# ---- issue 13: one result shape; every rwe_cox method equals the pooled fit ---------------

own_tight <- cox_control(eps = 1e-12, iter.max = 50, toler.chol = 1e-13)

# The same method suite on the partitioned and the pooled fit: equal to 1e-10 (concordance,
# which needs the rows, is NA for the partitioned fit).
expect_same_methods <- function(fit, pooled, newdata) {
  expect_s3_class(fit, c("rwe_partitioned_cox", "rwe_cox"), exact = TRUE)
  for (field in c("method", "n", "nevent", "iter", "converged", "rank")) {
    expect_identical(fit[[field]], pooled[[field]], label = field)
  }
  expect_identical(fit$control, pooled$control)
  for (field in c("loglik", "means", "score.test", "wald.test", "lr.test")) {
    expect_equal(fit[[field]], pooled[[field]], tolerance = 1e-10, label = field)
  }
  expect_equal(coef(fit), coef(pooled), tolerance = 1e-10)
  expect_equal(vcov(fit), vcov(pooled), tolerance = 1e-10)
  expect_equal(confint(fit, level = 0.9), confint(pooled, level = 0.9), tolerance = 1e-10)
  expect_equal(logLik(fit), logLik(pooled), tolerance = 1e-10)
  expect_equal(AIC(fit), AIC(pooled), tolerance = 1e-10)
  expect_equal(BIC(fit), BIC(pooled), tolerance = 1e-10)
  expect_equal(extractAIC(fit), extractAIC(pooled), tolerance = 1e-10)
  expect_identical(nobs(fit), nobs(pooled))
  expect_equal(tidy(fit, conf.int = TRUE, exponentiate = TRUE),
               tidy(pooled, conf.int = TRUE, exponentiate = TRUE), tolerance = 1e-10)
  g <- glance(fit)
  gp <- glance(pooled)
  expect_true(is.na(g$concordance))
  keep <- setdiff(names(gp), c("concordance", "std.error.concordance"))
  expect_equal(g[keep], gp[keep], tolerance = 1e-10)
  s <- summary(fit, conf.level = 0.9)
  sp <- summary(pooled, conf.level = 0.9)
  for (part in c("coefficients", "conf.int", "tests", "rsq", "loglik")) {
    expect_equal(s[[part]], sp[[part]], tolerance = 1e-10, label = part)
  }
  expect_output(print(s), "Likelihood ratio test")
  expect_output(print(fit), "Partitioned over")
  for (type in c("lp", "risk", "terms")) {
    for (reference in c("strata", "sample", "zero")) {
      expect_equal(predict(fit, newdata = newdata, type = type, se.fit = TRUE, reference = reference),
                   predict(pooled, newdata = newdata, type = type, se.fit = TRUE, reference = reference),
                   tolerance = 1e-10, label = paste(type, reference))
    }
  }
}

test_that("a partitioned fit passes the rwe_cox method suite of the pooled cox_fit() (lung)", {
  sites <- lung_hospitals()
  pooled_data <- do.call(rbind, sites)
  parts <- cohort_partitions(sites)
  f <- Surv(time, status) ~ age + sex + ph.ecog
  newdata <- data.frame(age = c(50, 70, 61), sex = factor(c("male", "female", "female")),
                        ph.ecog = c(0, 2, 1))
  for (ties in c("efron", "breslow")) {
    fit <- partitioned_cox_fit(f, parts, ties = ties, control = own_tight)
    pooled <- cox_fit(f, data = pooled_data, ties = ties, control = own_tight)
    expect_same_methods(fit, pooled, newdata)
    # and coxph
    ref <- coxph(f, data = pooled_data, ties = ties, control = tight)
    expect_equal(unname(coef(fit)), unname(coef(ref)), tolerance = 1e-10)
    expect_equal(unname(predict(fit, newdata = newdata, type = "risk")),
                 unname(predict(ref, newdata = newdata, type = "risk")), tolerance = 1e-10)
  }
  # anova() of nested partitioned fits equals that of the pooled fits
  small <- partitioned_cox_fit(Surv(time, status) ~ age, parts, control = own_tight)
  big <- partitioned_cox_fit(Surv(time, status) ~ age + sex, parts, control = own_tight)
  na_free <- pooled_data[!is.na(pooled_data$ph.ecog), ]
  expect_equal(anova(small, big),
               anova(cox_fit(Surv(time, status) ~ age, data = pooled_data, control = own_tight),
                     cox_fit(Surv(time, status) ~ age + sex, data = pooled_data, control = own_tight)),
               tolerance = 1e-10)
})

test_that("stratified, weighted and counting-process partitioned fits pass the method suite", {
  lung <- survival::lung
  lung$sex <- factor(lung$sex, levels = 1:2, labels = c("male", "female"))
  lung$w <- rep(1:3, length.out = nrow(lung))
  sites <- split(lung, rep(1:3, length.out = nrow(lung)))
  pooled_data <- do.call(rbind, sites)
  fs <- Surv(time, status) ~ age + ph.ecog + strata(sex)
  newdata <- data.frame(age = c(50, 70), ph.ecog = c(0, 2), sex = factor(c("female", "male")))
  fit <- partitioned_cox_fit(fs, cohort_partitions(sites), weights = "w", control = own_tight)
  pooled <- cox_fit(fs, data = pooled_data, weights = w, control = own_tight)
  expect_same_methods(fit, pooled, newdata)
  heart <- survival::heart
  hsites <- split(heart, heart$id %% 3)
  fh <- Surv(start, stop, event) ~ age + year + surgery + transplant
  hnew <- data.frame(age = c(-10, 5), year = c(1, 4), surgery = c(0, 1), transplant = factor(c(0, 1)))
  expect_same_methods(partitioned_cox_fit(fh, cohort_partitions(hsites), control = own_tight),
                      cox_fit(fh, data = do.call(rbind, hsites), control = own_tight), hnew)
})

test_that("singular columns, step halving and iter.max hit behave as the pooled cox_fit()", {
  sites <- lung_hospitals()
  pooled_data <- do.call(rbind, sites)
  parts <- cohort_partitions(sites)
  # an aliased column: NA coefficient and variance, rank 2, as pooled
  sites_alias <- lapply(sites, function(d) { d$age2 <- 2 * d$age; d })
  fa <- Surv(time, status) ~ age + age2 + ph.ecog
  fit <- partitioned_cox_fit(fa, cohort_partitions(sites_alias), control = own_tight)
  pooled <- cox_fit(fa, data = do.call(rbind, sites_alias), control = own_tight)
  expect_true(is.na(coef(fit)[["age2"]]))
  expect_identical(fit$rank, 2L)
  expect_equal(coef(fit), coef(pooled), tolerance = 1e-10)
  expect_equal(vcov(fit), vcov(pooled), tolerance = 1e-10)
  expect_equal(fit$wald.test, pooled$wald.test, tolerance = 1e-10)
  # heavy-tailed x: the first Newton steps overshoot and are halved (three halvings, coxph
  # needs 8 iterations); the partitioned path must be the pooled one, halvings included
  set.seed(1)
  x <- rexp(30)^3
  d <- data.frame(time = rexp(30, exp(1.5 * x)), status = rbinom(30, 1, 0.8), x = x)
  halving_sites <- split(d, rep(1:2, 15))
  fh <- Surv(time, status) ~ x
  fit_h <- partitioned_cox_fit(fh, cohort_partitions(halving_sites), control = own_tight)
  pooled_h <- cox_fit(fh, data = d, control = own_tight)
  ref_h <- coxph(fh, data = d, control = tight)
  expect_equal(fit_h$iter, pooled_h$iter)
  expect_equal(fit_h$iter, ref_h$iter)
  expect_equal(coef(fit_h), coef(pooled_h), tolerance = 1e-10)
  expect_equal(vcov(fit_h), vcov(pooled_h), tolerance = 1e-10)
  expect_equal(fit_h$loglik, pooled_h$loglik, tolerance = 1e-10)
  # iter.max hit: the pooled fit's warning class and the same (unconverged) numbers
  short <- cox_control(iter.max = 2)
  f <- Surv(time, status) ~ age + sex + ph.ecog
  w_part <- expect_warning(fit2 <- partitioned_cox_fit(f, parts, control = short), "did not converge")
  w_pool <- expect_warning(pooled2 <- cox_fit(f, data = pooled_data, control = short), "did not converge")
  expect_identical(class(w_part), class(w_pool))
  expect_s3_class(w_part, "rwe_not_converged")
  expect_false(fit2$converged)
  expect_equal(fit2$iter, 2L)
  expect_equal(coef(fit2), coef(pooled2), tolerance = 1e-10)
  expect_equal(vcov(fit2), vcov(pooled2), tolerance = 1e-10)
  # iter.max = 0: the score test at init and the variance there, as pooled
  fit0 <- partitioned_cox_fit(f, parts, control = cox_control(iter.max = 0))
  pooled0 <- cox_fit(f, data = pooled_data, control = cox_control(iter.max = 0))
  expect_equal(fit0$score.test, pooled0$score.test, tolerance = 1e-10)
  expect_equal(vcov(fit0), vcov(pooled0), tolerance = 1e-10)
})

test_that("methods that need the rows refuse a partitioned fit (rwe_not_available), never NULL", {
  sites <- lung_hospitals()
  fit <- partitioned_cox_fit(Surv(time, status) ~ age + sex, cohort_partitions(sites))
  refused <- list(
    residuals = function() residuals(fit),
    residuals_schoenfeld = function() residuals(fit, type = "schoenfeld"),
    predict_fitted = function() predict(fit),
    predict_expected = function() predict(fit, newdata = sites$north, type = "expected"),
    predict_survival = function() predict(fit, newdata = sites$north, type = "survival", times = 100),
    survfit = function() survival::survfit(fit),
    concordance = function() concordance_index(fit),
    ph_test = function() ph_test(fit),
    bootstrap = function() cox_bootstrap(fit, B = 2),
    model_frame = function() model.frame(fit),
    model_matrix = function() model.matrix(fit),
    augment = function() augment(fit),
    anova_sequential = function() anova(fit)
  )
  for (what in names(refused)) {
    err <- expect_error(refused[[what]](), class = "rwe_not_available", label = what)
    expect_s3_class(err, "rwe_bad_input")
    expect_match(conditionMessage(err), "data stay at the sites", label = what)
  }
  expect_null(fit$concordance)
  # a stratified-by-site fit has no stratum means to centre newdata on
  by_site <- partitioned_cox_fit(Surv(time, status) ~ age, cohort_partitions(sites), stratify_by_site = TRUE)
  expect_error(predict(by_site, newdata = data.frame(age = 60)), class = "rwe_not_available")
  expect_equal(predict(by_site, newdata = data.frame(age = 60), reference = "zero"),
               60 * coef(by_site)[["age"]], ignore_attr = TRUE)
})
