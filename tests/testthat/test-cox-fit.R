# cox_fit() / cox_fit_matrix() against survival::coxph (same control) and closed forms.

suppressPackageStartupMessages(library(survival))

tol <- 1e-8

# Compares every number the two fits share. Aliased coefficients are NA in both; their var
# rows are NA in ours and 0 in coxph's, so only the estimable block is compared.
# With non-integer case weights coxph switches to the robust variance (keeping the
# model-based one as naive.var) and adds the robust score test; so does cox_fit() by default.
expect_same_as_coxph <- function(fit, ref) {
  keep <- !is.na(coef(ref))
  expect_identical(isTRUE(fit$robust), !is.null(ref$naive.var))
  if (!is.null(ref$naive.var)) {
    expect_equal(unname(fit$naive.var[keep, keep]), unname(ref$naive.var[keep, keep]),
                 tolerance = tol)
    expect_equal(fit$robust.score.test[["statistic"]], ref$rscore, tolerance = tol)
  }
  expect_equal(is.na(coef(fit)), is.na(coef(ref)), ignore_attr = TRUE)
  expect_equal(unname(coef(fit)), unname(coef(ref)), tolerance = tol)
  expect_equal(unname(fit$var[keep, keep]), unname(ref$var[keep, keep]), tolerance = tol)
  expect_equal(fit$loglik, ref$loglik, tolerance = tol)
  expect_equal(fit$score.test[["statistic"]], ref$score, tolerance = tol)
  expect_equal(fit$wald.test[["statistic"]], ref$wald.test, tolerance = tol, ignore_attr = TRUE)
  expect_equal(fit$lr.test[["statistic"]], 2 * diff(ref$loglik), tolerance = tol)
  expect_equal(fit$lr.test[["df"]], sum(keep))
  expect_equal(fit$linear.predictors, unname(ref$linear.predictors), tolerance = tol)
  expect_equal(unname(fit$means), unname(ref$means), tolerance = tol)
  expect_identical(as.integer(fit$iter), as.integer(ref$iter))
  expect_identical(as.integer(fit$n), as.integer(ref$n))
  expect_equal(fit$nevent, ref$nevent)
  expect_identical(names(coef(fit)), names(coef(ref)))
}

# Extra arguments (weights = w, init = ...) are passed unevaluated, as a user would write them.
both_ties <- function(formula, data, ...) {
  extra <- as.list(substitute(list(...)))[-1L]
  for (ties in c("efron", "breslow")) {
    args <- c(list(formula = formula, data = data, ties = ties), extra)
    fit <- eval(as.call(c(quote(cox_fit), args)))
    ref <- eval(as.call(c(quote(coxph), args)))
    expect_same_as_coxph(fit, ref)
  }
}

test_that("lung: continuous covariates, strata with missing values", {
  both_ties(Surv(time, status) ~ age + sex + ph.ecog, lung)
  both_ties(Surv(time, status) ~ age + sex + ph.ecog + strata(inst), lung)
  fit <- cox_fit(Surv(time, status) ~ age + sex + strata(inst), data = lung)
  expect_length(fit$na.action, 1L)
  expect_identical(fit$n, nrow(lung) - 1L)
})

test_that("veteran: factors and an interaction", {
  both_ties(Surv(time, status) ~ celltype * factor(trt) + karno, veteran)
})

test_that("ovarian, pbc and colon (strata, missing values)", {
  both_ties(Surv(futime, fustat) ~ age + resid.ds + rx + ecog.ps, ovarian)
  both_ties(Surv(time, status == 2) ~ age + log(bili) + edema + albumin + log(protime), pbc)
  both_ties(Surv(time, status) ~ rx + sex + age + obstruct + nodes + strata(etype), colon)
})

test_that("heart (jasa1) counting process", {
  both_ties(Surv(start, stop, event) ~ age + year + surgery + transplant, jasa1)
})

test_that("cgd counting process with strata and case weights", {
  set.seed(11)
  cgd_w <- cgd
  cgd_w$w <- runif(nrow(cgd_w), 0.2, 3)
  both_ties(Surv(tstart, tstop, status) ~ treat + sex + age + inherit + strata(center), cgd_w,
            weights = w)
})

simulate_ties <- function(n = 1500, seed = 1) {
  set.seed(seed)
  data.frame(
    time = round(rexp(n) * 4) + 1, status = rbinom(n, 1, 0.6), x1 = rnorm(n),
    x2 = rbinom(n, 1, 0.4), g = factor(sample(c("a", "b", "c"), n, TRUE)),
    s = sample(1:3, n, TRUE), w = runif(n, 0.1, 4), off = rnorm(n, sd = 0.3)
  )
}

test_that("simulated heavy ties with weights, offsets and strata", {
  d <- simulate_ties()
  both_ties(Surv(time, status) ~ x1 + x2 + g, d)
  both_ties(Surv(time, status) ~ x1 + x2 + g + offset(off) + strata(s), d, weights = w)
  both_ties(Surv(time, status) ~ x1 * x2 + strata(s, g), d, weights = w)
})

test_that("counting process with start times tied to event times", {
  d <- simulate_ties(seed = 2)
  set.seed(3)
  # Integer start times coincide with event times: a subject starting at t is not at risk at t.
  d$start <- pmax(0, d$time - sample(1:3, nrow(d), TRUE))
  both_ties(Surv(start, time, status) ~ x1 + x2 + g + offset(off), d, weights = w)
  both_ties(Surv(start, time, status) ~ x1 + x2 + strata(s), d)
})

test_that("init, iter.max = 0 and a null model", {
  both_ties(Surv(time, status) ~ age + sex, lung, init = c(0.01, -0.3))
  ctl <- cox_control(iter.max = 0)
  fit <- cox_fit(Surv(time, status) ~ age + sex, data = lung, control = ctl)
  ref <- coxph(Surv(time, status) ~ age + sex, data = lung,
               control = coxph.control(iter.max = 0))
  expect_equal(unname(fit$var), unname(ref$var), tolerance = tol)
  expect_equal(fit$loglik, ref$loglik, tolerance = tol)
  expect_equal(fit$score.test[["statistic"]], ref$score, tolerance = tol)
  null <- cox_fit(Surv(time, status) ~ strata(sex), data = lung)
  expect_length(coef(null), 0L)
  expect_true(null$converged)
  expect_equal(null$loglik[2L], coxph(Surv(time, status) ~ strata(sex), data = lung)$loglik,
               tolerance = tol)
})

test_that("cox_fit_matrix agrees with coxph.fit and agreg.fit", {
  d <- simulate_ties(seed = 4)
  x <- model.matrix(~ x1 + x2 + g, d)[, -1]
  y <- Surv(d$time, d$status)
  for (ties in c("efron", "breslow")) {
    fit <- cox_fit_matrix(x, y, strata = d$s, weights = d$w, offset = d$off, ties = ties)
    ref <- coxph.fit(x, y, strata = d$s, offset = d$off, init = NULL,
                     control = coxph.control(), weights = d$w, method = ties,
                     rownames = NULL, nocenter = c(-1, 0, 1))
    expect_equal(unname(coef(fit)), unname(ref$coefficients), tolerance = tol)
    expect_equal(unname(fit$var), unname(ref$var), tolerance = tol)
    expect_equal(fit$loglik, ref$loglik, tolerance = tol)
    expect_equal(fit$score.test[["statistic"]], ref$score, tolerance = tol)
    # coxph() (not coxph.fit) removes the mean offset; cox_fit_matrix() does as coxph().
    expect_equal(fit$linear.predictors, unname(ref$linear.predictors) - mean(d$off),
                 tolerance = tol)
  }
  y2 <- Surv(pmax(0, d$time - 2), d$time, d$status)
  fit <- cox_fit_matrix(x, y2, weights = d$w)
  ref <- agreg.fit(x, y2, strata = NULL, offset = NULL, init = NULL,
                   control = coxph.control(), weights = d$w, method = "efron",
                   rownames = NULL, nocenter = c(-1, 0, 1))
  expect_equal(unname(coef(fit)), unname(ref$coefficients), tolerance = tol)
  expect_equal(unname(fit$var), unname(ref$var), tolerance = tol)
  expect_equal(fit$loglik, ref$loglik, tolerance = tol)
})

# Closed forms (Therneau & Grambsch, appendix data sets 1 and 2, derived by hand): with a
# binary covariate every log partial likelihood here is k * beta - sum(log(a * r + b)),
# r = exp(beta), one (a, b) per event stage; score and information follow.
closed_form <- function(beta, k, a, b) {
  r <- exp(beta)
  list(loglik = k * beta - sum(log(a * r + b)),
       score = k - sum(a * r / (a * r + b)),
       info = sum(a * r * b / (a * r + b)^2))
}

check_closed_form <- function(fit, k, a, b) {
  bhat <- uniroot(function(x) closed_form(x, k, a, b)$score, c(-5, 5), tol = 1e-14)$root
  at0 <- closed_form(0, k, a, b)
  at_hat <- closed_form(bhat, k, a, b)
  expect_equal(unname(coef(fit)), bhat, tolerance = tol)
  expect_equal(fit$loglik, c(at0$loglik, at_hat$loglik), tolerance = tol)
  expect_equal(fit$score.test[["statistic"]], at0$score^2 / at0$info, tolerance = tol)
  expect_equal(unname(fit$var[1, 1]), 1 / at_hat$info, tolerance = tol)
}

test_that("closed forms: right-censored test data 1", {
  test1 <- data.frame(time = c(9, 3, 1, 1, 6, 6, 8), status = c(1, NA, 1, 0, 1, 1, 0),
                      x = c(0, 2, 1, 1, 1, 0, 0))
  breslow <- cox_fit(Surv(time, status) ~ x, test1, ties = "breslow")
  # deaths at 1 (x = 1 of 3r + 3), at 6 (x = 1 and 0 among r + 3), at 9 (alone)
  check_closed_form(breslow, 2, c(3, 1, 1), c(3, 3, 3))
  expect_equal(unname(coef(breslow)), log((3 + sqrt(33)) / 2), tolerance = tol)
  efron <- cox_fit(Surv(time, status) ~ x, test1, ties = "efron")
  # Efron's second stage at 6 keeps half of each death: (r + 5) / 2
  check_closed_form(efron, 2, c(3, 1, 0.5), c(3, 3, 2.5))
})

test_that("closed forms: counting-process test data 2", {
  test2 <- data.frame(start = c(1, 2, 5, 2, 1, 7, 3, 4, 8, 8),
                      stop = c(2, 3, 6, 7, 8, 9, 9, 9, 14, 17),
                      event = c(1, 1, 1, 1, 1, 1, 1, 0, 0, 0),
                      x = c(1, 0, 0, 1, 0, 1, 1, 1, 0, 0))
  breslow <- cox_fit(Surv(start, stop, event) ~ x, test2, ties = "breslow")
  # risk sets at 2, 3, 6, 7, 8 and (two deaths) 9; the subject starting at 7 is not at risk at 7
  check_closed_form(breslow, 4, c(1, 1, 3, 3, 3, 3, 3), c(1, 2, 2, 1, 1, 2, 2))
  efron <- cox_fit(Surv(start, stop, event) ~ x, test2, ties = "efron")
  check_closed_form(efron, 4, c(1, 1, 3, 3, 3, 3, 2), c(1, 2, 2, 1, 1, 2, 2))
})

test_that("aliased and constant covariates give NA like coxph", {
  d <- na.omit(lung[, c("time", "status", "age", "sex")])
  d$age2 <- 2 * d$age
  d$one <- 5
  fit <- cox_fit(Surv(time, status) ~ age + age2 + sex + one, data = d)
  ref <- coxph(Surv(time, status) ~ age + age2 + sex + one, data = d)
  expect_same_as_coxph(fit, ref)
  expect_true(all(is.na(fit$var["age2", ])))
  expect_true(is.na(coef(fit)[["one"]]))
  expect_equal(fit$wald.test[["df"]], 2)
})

test_that("monotone likelihood: warning naming the covariate, result returned", {
  set.seed(5)
  d <- data.frame(time = rexp(60), status = rbinom(60, 1, 0.7), z = rnorm(60))
  d$grp <- as.numeric(seq_len(60) %% 3 == 0)
  d$status[d$grp == 1] <- 0
  expect_warning(fit <- cox_fit(Surv(time, status) ~ z + grp, data = d),
                 "grp.*infinite", class = "rwe_cox_diverged")
  expect_true(fit$diverged[["grp"]])
  expect_false(fit$diverged[["z"]])
  ref <- suppressWarnings(coxph(Surv(time, status) ~ z + grp, data = d))
  expect_equal(unname(coef(fit)["z"]), unname(coef(ref)["z"]), tolerance = 1e-6)
  expect_equal(fit$loglik, ref$loglik, tolerance = tol)
})

test_that("non-convergence warns and returns the last iterate", {
  expect_warning(fit <- cox_fit(Surv(time, status) ~ age + sex, data = lung,
                                control = cox_control(iter.max = 2)),
                 class = "rwe_cox_not_converged")
  expect_false(fit$converged)
  ref <- suppressWarnings(coxph(Surv(time, status) ~ age + sex, data = lung, iter.max = 2))
  expect_equal(unname(coef(fit)), unname(coef(ref)), tolerance = tol)
})

test_that("methods: coef, vcov, logLik, AIC, confint, tidy, glance, print, summary", {
  fit <- cox_fit(Surv(time, status) ~ age + sex + ph.ecog, data = lung)
  ref <- coxph(Surv(time, status) ~ age + sex + ph.ecog, data = lung)
  expect_equal(as.numeric(logLik(fit)), as.numeric(logLik(ref)), tolerance = tol)
  expect_equal(attributes(logLik(fit))[c("df", "nobs")], attributes(logLik(ref))[c("df", "nobs")])
  expect_equal(AIC(fit), AIC(ref), tolerance = tol)
  expect_equal(BIC(fit), BIC(ref), tolerance = tol)
  expect_equal(nobs(fit), nobs(ref))
  expect_equal(confint(fit), confint(ref), tolerance = tol)
  expect_equal(unname(vcov(fit)), unname(vcov(ref)), tolerance = tol)
  td <- tidy(fit, exponentiate = TRUE, conf.int = TRUE)
  expect_named(td, c("term", "estimate", "std.error", "statistic", "p.value", "conf.low",
                     "conf.high"))
  expect_equal(td$estimate, unname(exp(coef(ref))), tolerance = tol)
  expect_equal(td$conf.low, unname(summary(ref)$conf.int[, 3]), tolerance = tol)
  gl <- glance(fit)
  expect_equal(nrow(gl), 1L)
  expect_equal(gl$statistic.wald, ref$wald.test, tolerance = tol)
  expect_equal(gl$p.value.sc, unname(summary(ref)$sctest[["pvalue"]]), tolerance = tol)
  expect_output(print(fit), "Likelihood ratio test")
  expect_output(print(summary(fit)), "Score \\(logrank\\) test")
  s <- summary(fit)
  expect_equal(unname(s$conf.int[, 4]), unname(summary(ref)$conf.int[, 4]), tolerance = tol)
})

test_that("the result carries what the post-fit engines need, in the original order", {
  fit <- cox_fit(Surv(time, status) ~ age + sex + strata(ph.ecog), data = lung, x = TRUE)
  keep <- !is.na(lung$ph.ecog)
  expect_s3_class(fit, "rwe_cox")
  expect_s3_class(fit$y, "Surv")
  expect_equal(unname(fit$y[, 1]), lung$time[keep])
  expect_equal(unname(fit$x[, "age"]), lung$age[keep])
  expect_equal(fit$strata, as.integer(factor(lung$ph.ecog[keep])))
  expect_identical(fit$strata_levels, as.character(0:3))
  expect_equal(as.character(fit$strata_table$ph.ecog), as.character(0:3))
  expect_null(fit$weights)  # none given: all 1, as coxph (which keeps no weights then)
  expect_named(fit$assign, c("age", "sex"))
  expect_null(cox_fit(Surv(time, status) ~ age, data = lung, x = FALSE)$x)
})

test_that("bad input is refused with errors naming the argument", {
  expect_error(cox_fit(time ~ age, data = lung), "formula", class = "rwe_bad_input")
  expect_error(cox_fit(Surv(time, status) ~ age, data = lung[0, ]), "data",
               class = "rwe_bad_input")
  d <- lung
  d$one_level <- factor("a")
  expect_error(cox_fit(Surv(time, status) ~ age + one_level, data = d), "one_level",
               class = "rwe_bad_input")
  d$all_na <- NA_real_
  expect_error(cox_fit(Surv(time, status) ~ age + all_na, data = d), "all_na",
               class = "rwe_bad_input")
  d$status0 <- 0
  expect_error(cox_fit(Surv(time, status0) ~ age, data = d), "no events",
               class = "rwe_bad_input")
  d$w <- 1
  d$w[3] <- -1
  expect_error(cox_fit(Surv(time, status) ~ age, data = d, weights = w), "weights",
               class = "rwe_bad_input")
  d$status_bad <- d$status
  d$status_bad[4] <- 7
  expect_error(cox_fit(Surv(time, status_bad) ~ age, data = d), "event codes",
               class = "rwe_bad_input")
  expect_error(cox_fit(Surv(start, stop, event) ~ age,
                       data = data.frame(start = c(1, 5), stop = c(2, 5), event = 1, age = 1:2)),
               "start", class = "rwe_bad_input")
  expect_error(cox_fit(Surv(time, status) ~ age, data = lung, init = 1:2), "init",
               class = "rwe_bad_input")
})

test_that("cox_fit_matrix validates its inputs", {
  y <- Surv(lung$time, lung$status)
  x <- cbind(age = lung$age)
  expect_error(cox_fit_matrix(x[-1, , drop = FALSE], y), "x", class = "rwe_bad_input")
  expect_error(cox_fit_matrix(x, lung$time), "y", class = "rwe_bad_input")
  expect_error(cox_fit_matrix(x, y, weights = rep(1, 3)), "weights", class = "rwe_bad_input")
  expect_error(cox_fit_matrix(x, y, strata = 1:3), "strata", class = "rwe_bad_input")
  expect_error(cox_fit_matrix(x, y, offset = 1:3), "offset", class = "rwe_bad_input")
  expect_error(cox_fit_matrix(cbind(age = lung$ph.ecog), y), "x", class = "rwe_bad_input")
  expect_error(cox_fit_matrix(x, Surv(lung$time, rep(0, nrow(lung)))), "no events",
               class = "rwe_bad_input")
})

test_that("zero-weight rows change nothing (as if dropped)", {
  d <- simulate_ties(n = 400, seed = 8)
  d$w[c(3, 10, 50)] <- 0
  d$status[c(3, 10)] <- 1
  for (ties in c("efron", "breslow")) {
    # model-based variance (coxph refuses zero weights, so there is no robust reference)
    with_zero <- cox_fit(Surv(time, status) ~ x1 + x2 + strata(s), data = d, weights = w,
                         ties = ties, robust = FALSE)
    dropped <- cox_fit(Surv(time, status) ~ x1 + x2 + strata(s), data = d[d$w > 0, ],
                       weights = w, ties = ties, robust = FALSE)
    expect_equal(coef(with_zero), coef(dropped), tolerance = tol)
    expect_equal(with_zero$var, dropped$var, tolerance = tol)
    expect_equal(with_zero$loglik, dropped$loglik, tolerance = tol)
    # the robust variance too (Efron: a zero-weight death is no tied death in the residuals)
    robust_zero <- cox_fit(Surv(time, status) ~ x1 + x2 + strata(s), data = d, weights = w,
                           ties = ties)
    robust_dropped <- cox_fit(Surv(time, status) ~ x1 + x2 + strata(s), data = d[d$w > 0, ],
                              weights = w, ties = ties)
    expect_true(robust_zero$robust)
    expect_equal(robust_zero$var, robust_dropped$var, tolerance = tol)
    expect_equal(robust_zero$robust.score.test, robust_dropped$robust.score.test,
                 tolerance = tol)
  }
})

test_that("robust variance and concordance equal coxph's, with and without clusters", {
  tol <- 1e-8
  for (ties in c("efron", "breslow")) {
    fit <- cox_fit(Surv(time, status) ~ age + sex + ph.ecog, data = lung, ties = ties,
                   robust = TRUE)
    ref <- coxph(Surv(time, status) ~ age + sex + ph.ecog, data = lung, ties = ties,
                 robust = TRUE)
    expect_true(fit$robust)
    expect_equal(fit$var, ref$var, tolerance = tol, ignore_attr = TRUE)
    expect_equal(fit$naive.var, ref$naive.var, tolerance = tol, ignore_attr = TRUE)
    expect_equal(unname(fit$wald.test[1]), unname(ref$wald.test), tolerance = tol)
    expect_equal(fit$concordance, ref$concordance[1:7], tolerance = tol, ignore_attr = TRUE)
    cgd <- survival::cgd
    fit <- cox_fit(Surv(tstart, tstop, status) ~ treat + age + strata(center), data = cgd,
                   cluster = id, ties = ties)
    ref <- coxph(Surv(tstart, tstop, status) ~ treat + age + strata(center), data = cgd,
                 cluster = id, ties = ties)
    expect_equal(fit$var, ref$var, tolerance = tol, ignore_attr = TRUE)
    expect_equal(fit$concordance, ref$concordance[1:7], tolerance = tol, ignore_attr = TRUE)
  }
})

test_that("print and summary cope with aliased coefficients and null models", {
  d <- na.omit(lung[, c("time", "status", "age", "sex")])
  d$age2 <- 2 * d$age
  fit <- cox_fit(Surv(time, status) ~ age + age2 + sex, data = d)
  expect_output(print(fit), "age2 +NA")
  expect_output(print(summary(fit)), "Wald test")
  expect_true(is.na(tidy(fit)$estimate[2]))
  expect_output(print(cox_fit(Surv(time, status) ~ strata(sex), data = d)), "Null model")
})

test_that("times equal up to rounding are tied, as coxph's timefix does", {
  tt <- c(0.1 + 0.2, 0.3, 0.5, 0.7, 1 / 3, 1 - 2 / 3)
  d <- data.frame(time = rep(tt, 6), status = rep(c(1, 1, 0, 1, 1, 0), 6),
                  x = seq(-1, 1, length.out = 36), g = rep(1:2, 18))
  both_ties(Surv(time, status) ~ x, d)
  both_ties(Surv(time, status) ~ x + strata(g), d)
  d$start <- d$time / 2 - 0.05 + 1e-17
  both_ties(Surv(start, time, status) ~ x, d)
  no_fix <- cox_fit(Surv(time, status) ~ x, d, control = cox_control(timefix = FALSE))
  ref <- coxph(Surv(time, status) ~ x, d, control = coxph.control(timefix = FALSE))
  expect_equal(unname(coef(no_fix)), unname(coef(ref)), tolerance = tol)
  fit <- cox_fit(Surv(time, status) ~ x, d)
  expect_equal(length(unique(fit$y[, 1])), 4L)
})

test_that("threads and both grid placements give coxph's answer", {
  # 120,000 rows: above the 50,000 rows per thread at which a second thread starts.
  d <- simulate_ties(n = 120000, seed = 7)
  set.seed(8)
  d$start <- pmax(0, d$time - sample(0:3, nrow(d), TRUE))
  d$start[d$start >= d$time] <- d$time[d$start >= d$time] - 0.5
  f_right <- Surv(time, status) ~ x1 + x2 + g + offset(off) + strata(s)
  f_count <- Surv(start, time, status) ~ x1 + x2 + g + strata(s)
  for (f in list(f_right, f_count)) {
    ref <- coxph(f, d, weights = w)
    # the kernel is under test: model-based variance (robust = FALSE) keeps this fast
    one <- cox_fit(f, d, weights = w, robust = FALSE, control = cox_control(threads = 1))
    two <- cox_fit(f, d, weights = w, robust = FALSE, control = cox_control(threads = 2))
    # timefix = FALSE sends the sorted-order placement instead of the (stratum, time) keys
    walk <- cox_fit(f, d, weights = w, robust = FALSE,
                    control = cox_control(threads = 2, timefix = FALSE))
    for (fit in list(one, two, walk)) {
      expect_equal(unname(coef(fit)), unname(coef(ref)), tolerance = tol)
      expect_equal(unname(fit$var), unname(ref$naive.var), tolerance = tol)
      expect_equal(fit$loglik, ref$loglik, tolerance = tol)
      expect_equal(fit$linear.predictors, unname(ref$linear.predictors), tolerance = tol)
    }
    expect_equal(coef(one), coef(two), tolerance = 1e-12)
  }
})

test_that("cox_control() refuses a bad thread count", {
  expect_error(cox_control(threads = 0), "threads", class = "rwe_bad_input")
  expect_error(cox_control(threads = 1.5), "threads", class = "rwe_bad_input")
  expect_equal(cox_control(threads = 3)$threads, 3L)
})

# Inverse-probability-of-treatment weights: not integers, so coxph reports the robust variance.
colon_ps_data <- function() {
  d <- colon[colon$etype == 2, c("time", "status", "rx", "age", "sex", "nodes", "id")]
  d <- d[complete.cases(d), ]
  d$treated <- as.numeric(d$rx == "Lev+5FU")
  ps <- fitted(glm(treated ~ age + sex + nodes, family = binomial, data = d))
  d$w <- ifelse(d$treated == 1, 1 / ps, 1 / (1 - ps))
  d
}

lung_ps_data <- function() {
  d <- lung[complete.cases(lung[, c("time", "status", "age", "sex", "ph.ecog", "inst")]), ]
  ps <- fitted(glm(I(sex == 2) ~ age + ph.ecog, family = binomial, data = d))
  d$w <- ifelse(d$sex == 2, 1 / ps, 1 / (1 - ps))
  d
}

expect_robust_methods_match <- function(fit, ref, concordance = TRUE) {
  sref <- summary(ref)
  s <- summary(fit)
  expect_equal(unname(s$coefficients), unname(sref$coefficients), tolerance = tol)
  expect_identical(colnames(s$coefficients)[1:5], colnames(sref$coefficients)[1:5])
  expect_equal(unname(s$robscore), unname(sref$robscore), tolerance = tol)
  expect_equal(unname(s$rsq), unname(sref$rsq), tolerance = tol)
  expect_true(s$used.robust)
  if (concordance) {
    expect_equal(fit$concordance, ref$concordance[1:7], tolerance = tol, ignore_attr = TRUE)
  }
  gl <- glance(fit)
  expect_equal(gl$statistic.robust, unname(sref$robscore[["test"]]), tolerance = tol)
  expect_equal(gl$p.value.robust, unname(sref$robscore[["pvalue"]]), tolerance = tol)
  expect_equal(gl$r.squared, unname(sref$rsq[["rsq"]]), tolerance = tol)
  expect_equal(gl$r.squared.max, unname(sref$rsq[["maxrsq"]]), tolerance = tol)
  td <- tidy(fit, conf.int = TRUE)
  # broom's tidy.coxph: model-based std.error, then robust.se; z, p and interval robust
  expect_named(td, c("term", "estimate", "std.error", "robust.se", "statistic", "p.value",
                     "conf.low", "conf.high"))
  expect_equal(td$std.error, unname(sqrt(diag(ref$naive.var))), tolerance = tol)
  expect_equal(td$robust.se, unname(sqrt(diag(ref$var))), tolerance = tol)
  expect_equal(td$statistic, unname(sref$coefficients[, "z"]), tolerance = tol)
  expect_equal(td$p.value, unname(sref$coefficients[, "Pr(>|z|)"]), tolerance = tol)
  expect_equal(td$conf.low, unname(log(sref$conf.int[, 3])), tolerance = tol)
  expect_output(print(fit), "robust se.*\n(.*\n)*Robust \\(sandwich\\) variance")
  expect_output(print(summary(fit)), "Robust score test")
}

test_that("non-integer weights: robust variance and robust score test by default, as coxph", {
  d <- colon_ps_data()
  for (ties in c("efron", "breslow")) {
    fit <- cox_fit(Surv(time, status) ~ rx + age + nodes, data = d, weights = w, ties = ties)
    ref <- coxph(Surv(time, status) ~ rx + age + nodes, data = d, weights = w, ties = ties)
    expect_true(fit$robust)
    expect_same_as_coxph(fit, ref)
    expect_equal(unname(fit$var), unname(ref$var), tolerance = tol)
    expect_equal(unname(sqrt(diag(fit$var))), unname(sqrt(diag(ref$var))), tolerance = tol)
    # Breslow on colon: linear predictors equal up to rounding count as tied or not
    # differently in coxph's concordance (with robust = FALSE as well); not a variance matter
    expect_robust_methods_match(fit, ref, concordance = ties == "efron")
    # with a cluster (one row per id here, so the same numbers)
    cl <- cox_fit(Surv(time, status) ~ rx + age + nodes, data = d, weights = w, ties = ties,
                  cluster = id)
    expect_equal(unname(cl$var), unname(ref$var), tolerance = tol)
  }
  # explicit opt-out: the model-based variance, no robust score test
  naive <- cox_fit(Surv(time, status) ~ rx + age + nodes, data = d, weights = w,
                   robust = FALSE)
  ref <- coxph(Surv(time, status) ~ rx + age + nodes, data = d, weights = w, robust = FALSE)
  expect_false(naive$robust)
  expect_equal(unname(naive$var), unname(ref$var), tolerance = tol)
  expect_null(summary(naive)$robscore)
  expect_true(is.na(glance(naive)$statistic.robust))
  expect_false("robust.se" %in% names(tidy(naive)))
  # km_fit follows the same rule for its standard errors
  expect_identical(km_fit(Surv(time, status) ~ rx, data = d, weights = w)$variance, "robust")
})

test_that("lung: robust score test with and without cluster(inst), as coxph", {
  d <- lung_ps_data()
  forms <- list(Surv(time, status) ~ sex + age + ph.ecog,
                Surv(time, status) ~ sex + age + ph.ecog + cluster(inst))
  for (f in forms) {
    fit <- cox_fit(f, data = d, weights = w)
    ref <- coxph(f, data = d, weights = w)
    expect_same_as_coxph(fit, ref)
    expect_equal(unname(fit$var), unname(ref$var), tolerance = tol)
    expect_robust_methods_match(fit, ref)
  }
  # unweighted with a cluster: robust by default too
  fit <- cox_fit(Surv(time, status) ~ sex + age + cluster(inst), data = lung)
  ref <- coxph(Surv(time, status) ~ sex + age + cluster(inst), data = lung)
  expect_equal(fit$robust.score.test[["statistic"]], ref$rscore, tolerance = tol)
  expect_robust_methods_match(fit, ref)
  # integer weights stay model-based, as in coxph
  fit <- cox_fit(Surv(time, status) ~ sex + age, data = lung, weights = rep(2, nrow(lung)))
  expect_false(fit$robust)
})

test_that("summary(conf.level = level) is coxph's conf.int; r.squared as summary.coxph", {
  fit <- cox_fit(Surv(time, status) ~ age + sex + ph.ecog, data = lung)
  ref <- coxph(Surv(time, status) ~ age + sex + ph.ecog, data = lung)
  s90 <- summary(fit, conf.level = 0.9)
  expect_equal(s90$conf.int, summary(ref, conf.int = 0.9)$conf.int, tolerance = tol)
  expect_warning(s_old <- summary(fit, conf.int = 0.9), class = "rwe_deprecated")
  expect_equal(s_old$conf.int, s90$conf.int)
  expect_equal(summary(fit, 0.8)$conf.int, summary(ref, conf.int = 0.8)$conf.int,
               tolerance = tol)
  expect_null(summary(fit, conf.int = FALSE)$conf.int)
  expect_equal(summary(fit)$rsq, summary(ref)$rsq, tolerance = tol)
  expect_error(summary(fit, conf.int = 0.9, conf.level = 0.8), class = "rwe_bad_input")
  expect_error(summary(fit, conf.level = 95), "conf.level", class = "rwe_bad_input")
  expect_named(glance(fit), c("n", "nevent", "statistic.log", "p.value.log", "statistic.sc",
                              "p.value.sc", "statistic.wald", "p.value.wald",
                              "statistic.robust", "p.value.robust", "r.squared",
                              "r.squared.max", "concordance", "std.error.concordance",
                              "logLik", "AIC", "BIC", "nobs"))
})

test_that("Cox methods refuse arguments they do not know", {
  fit <- cox_fit(Surv(time, status) ~ age + sex, data = lung)
  expect_error(summary(fit, conf.levl = 0.9), class = "rwe_bad_input")
  expect_error(print(fit, foo = 1), class = "rwe_bad_input")
  expect_error(tidy(fit, conf.levle = 0.9), class = "rwe_bad_input")
  expect_error(glance(fit, conf.int = TRUE), class = "rwe_bad_input")
  expect_error(confint(fit, lvl = 0.9), class = "rwe_bad_input")
  expect_error(print(summary(fit), foo = 1), class = "rwe_bad_input")
  firth <- cox_fit(Surv(time, status) ~ age + sex, data = lung, ties = "breslow", firth = TRUE)
  expect_error(tidy(firth, foo = 1), class = "rwe_bad_input")
  expect_error(glance(firth, foo = 1), class = "rwe_bad_input")
  expect_error(summary(firth, foo = 1), class = "rwe_bad_input")
  expect_error(tidy(firth, conf.level = 0.9), "conf.level", class = "rwe_bad_input")
  expect_named(tidy(firth, conf.int = FALSE),
               c("term", "estimate", "std.error", "statistic", "p.value"))
})

test_that("nothing estimable (all coefficients NA): a classed warning, coxph's numbers", {
  # constant covariates: no information at all, every coefficient aliased
  d <- data.frame(time = 1:4, status = c(1, 0, 1, 0), a = 1, b = 2)
  expect_warning(fit <- cox_fit(Surv(time, status) ~ a + b, data = d),
                 "singular", class = "rwe_cox_singular")
  ref <- coxph(Surv(time, status) ~ a + b, data = d)
  expect_true(all(is.na(coef(fit))))
  expect_equal(is.na(coef(fit)), is.na(coef(ref)))
  expect_equal(fit$loglik, ref$loglik, tolerance = tol)
  # a partly aliased model with enough data is not warned about (coxph is silent too)
  d <- na.omit(lung[, c("time", "status", "age")])
  d$age2 <- 2 * d$age
  expect_no_warning(cox_fit(Surv(time, status) ~ age + age2, data = d))
})

test_that("aliased covariates with a robust variance: coxph's robust SEs, not NA", {
  d <- lung_ps_data()
  d$age2 <- 2 * d$age
  fit <- cox_fit(Surv(time, status) ~ sex + age + age2 + ph.ecog, data = d, weights = w)
  ref <- coxph(Surv(time, status) ~ sex + age + age2 + ph.ecog, data = d, weights = w)
  expect_same_as_coxph(fit, ref)
  keep <- !is.na(coef(ref))
  expect_equal(unname(fit$var[keep, keep]), unname(ref$var[keep, keep]), tolerance = tol)
  expect_equal(tidy(fit)$robust.se[keep], unname(sqrt(diag(ref$var)))[keep], tolerance = tol)
  expect_equal(unname(residuals(fit, type = "dfbeta")[, keep]),
               unname(residuals(ref, type = "dfbeta")[, keep]), tolerance = tol)
})

test_that("plain numeric covariates are read as data-frame columns: the same fit as a model matrix", {
  # cox_fit() without x = TRUE hands the kernel the model frame's numeric columns (no model
  # matrix); with x = TRUE the kernel reads the model matrix. Same numbers in the same order,
  # so the results are identical, not just equal; and both are coxph's.
  d <- na.omit(lung[, c("time", "status", "age", "ph.karno", "wt.loss", "sex")])
  d$sex <- as.integer(d$sex)  # an integer column, converted to double on the way
  f <- Surv(time, status) ~ age + ph.karno + wt.loss + sex
  fields <- c("coefficients", "var", "loglik", "score.test", "wald.test", "linear.predictors",
              "means", "concordance", "iter")
  cols <- cox_fit(f, data = d)
  mat <- cox_fit(f, data = d, x = TRUE)
  expect_identical(unclass(cols)[fields], unclass(mat)[fields])
  expect_same_as_coxph(cols, coxph(f, data = d))
  # init (its overflow check reads the columns), robust variance (rebuilds the matrix),
  # weights and an offset
  d$w <- rep_len(c(1, 2, 3), nrow(d))
  d$off <- rep_len(c(0, 0.5), nrow(d))
  f2 <- Surv(time, status) ~ age + ph.karno + wt.loss + sex + offset(off)
  for (robust in c(FALSE, TRUE)) {
    cols <- cox_fit(f2, data = d, weights = w, init = c(0.01, -0.01, 0, -0.3), robust = robust)
    mat <- cox_fit(f2, data = d, weights = w, init = c(0.01, -0.01, 0, -0.3), robust = robust,
                   x = TRUE)
    expect_identical(unclass(cols)[c(fields, "naive.var", "robust.score.test")],
                     unclass(mat)[c(fields, "naive.var", "robust.score.test")])
    ref <- coxph(f2, data = d, weights = w, init = c(0.01, -0.01, 0, -0.3), robust = robust)
    expect_same_as_coxph(cols, ref)
  }
  # the design as columns turns into exactly the model matrix without its intercept
  mf <- model.frame(f, d)
  tt <- terms(f)
  design <- cox_design_matrix(tt, mf, rep(1, nrow(d)), columns = TRUE)
  expect_s3_class(design$x, "data.frame")
  expect_identical(design$x$age, mf$age)  # the model frame's own column, not a copy
  mm <- model.matrix(tt, mf)[, -1L]
  expect_equal(design_as_matrix(design$x), mm, ignore_attr = TRUE)
  expect_identical(design_as_matrix(design$x),
                   cox_design_matrix(tt, mf, rep(1, nrow(d)))$x)
  expect_identical(attr(design_as_matrix(design$x), "assign"), 1:4)
})

test_that("a non-finite value in a covariate column is refused with its rows", {
  d <- na.omit(lung[, c("time", "status", "age", "ph.karno")])
  d$ph.karno[c(3, 7)] <- Inf
  err <- expect_error(cox_fit(Surv(time, status) ~ age + ph.karno, data = d),
                      class = "rwe_bad_input")
  expect_match(conditionMessage(err), "ph.karno")
  expect_match(conditionMessage(err), "3, 7")
})

test_that("absent weights, offset and strata are not materialised: the fit of unit weights", {
  # cox_fit() sends the kernel and the concordance no weights, offset or stratum codes when
  # the model has none; the arithmetic is that of all-one weights and a zero offset exactly.
  d <- simulate_ties(n = 3000, seed = 11)
  d$one <- 1
  d$zero <- 0
  fields <- c("coefficients", "var", "loglik", "score.test", "wald.test", "linear.predictors",
              "means", "concordance", "iter", "nevent")
  for (ties in c("efron", "breslow")) {
    plain <- cox_fit(Surv(time, status) ~ x1 + x2, data = d, ties = ties)
    unit <- cox_fit(Surv(time, status) ~ x1 + x2 + offset(zero) + strata(one), data = d,
                    weights = one, ties = ties)
    expect_identical(unclass(plain)[fields], unclass(unit)[fields])
    expect_same_as_coxph(plain, coxph(Surv(time, status) ~ x1 + x2, data = d, ties = ties))
    expect_null(plain$weights)
    expect_null(plain$offset)
    expect_null(plain$strata)
  }
  # the robust variance and a counting-process response take the same path
  d$start <- pmax(0, d$time - 2)
  f <- Surv(start, time, status) ~ x1 + x2
  d$id <- seq_len(nrow(d))
  fit <- cox_fit(f, data = d, cluster = id)
  expect_same_as_coxph(fit, coxph(f, data = d, cluster = id))
  expect_equal(unname(fit$concordance), unname(coxph(f, data = d, cluster = id)$concordance),
               tolerance = tol)
})

test_that("information at the rounding error of its own difference is no information", {
  # fuzzer seed 8 case 897: the only event's risk set is its own row (weight 3), so the
  # information is exactly zero; w x x / w rounds by an ulp, which must not become a finite
  # coefficient with SE 2e7 where coxph reports every coefficient as aliased (NA)
  d <- data.frame(time = c(19.2, 0.7, 6.5, 6, 2.9, 21.3, 8.8), status = c(0, 0, 1, 0, 0, 0, 0),
                  x1 = c(-0.26714743, -1.82691227, -1.16296804, -0.04132577, -0.20915501,
                         1.23872717, 0.81395859),
                  x2 = c(0, 1, 0, 0, 0, 0, 0), x3 = c(3.7, 5.3, 2.9, 7.9, 1.4, 6, 7),
                  w = c(2, 1, 3, 1, 2, 3, 3), s = c("s1", "s1", "s2", "s1", "s2", "lonely", "s1"))
  f <- Surv(time, status) ~ x1 + x3 + x2 + strata(s)
  ref <- coxph(f, data = d, weights = w)
  fit <- suppressWarnings(cox_fit(f, data = d, weights = w))
  expect_true(all(is.na(coef(ref))))
  expect_identical(is.na(coef(fit)), is.na(coef(ref)))
  expect_equal(fit$loglik, ref$loglik, tolerance = 1e-12)
  parts <- cohort_partitions(split(d, c(1, 2, 1, 2, 1, 2, 1)))
  pf <- suppressWarnings(partitioned_cox_fit(f, parts, weights = "w"))
  expect_identical(is.na(coef(pf)), is.na(coef(ref)))
  # a well-determined fit is untouched by the rule (lung, all coefficients finite)
  lung <- survival::lung
  expect_equal(coef(cox_fit(Surv(time, status) ~ age + sex + ph.ecog, lung)),
               coef(coxph(Surv(time, status) ~ age + sex + ph.ecog, lung)), tolerance = 1e-9)
})
