# Formula terms and arguments that survival::coxph() handles in its own way are refused by
# name (never fitted as something else), and malformed arguments get classed errors.

suppressPackageStartupMessages(library(survival))

test_that("penalised, frailty and tt() terms are refused by name in every formula verb", {
  terms <- c("frailty(inst)", "frailty.gamma(inst)", "frailty.gaussian(inst)",
             "frailty.t(inst)", "pspline(age)", "ridge(age, ph.ecog)", "tt(age)",
             "survival::pspline(age, df = 3)")
  for (term in terms) {
    f <- as.formula(paste("Surv(time, status) ~ sex +", term))
    pattern <- gsub("([().:])", "\\\\\\1", term)
    expect_error(cox_fit(f, data = lung), pattern, class = "rwe_bad_input")
    expect_error(cox_fit(f, data = lung, firth = TRUE), pattern, class = "rwe_bad_input")
    expect_error(concordance_index(f, data = lung), pattern, class = "rwe_bad_input")
  }
  expect_error(km_fit(Surv(time, status) ~ pspline(age), data = lung), "pspline",
               class = "rwe_bad_input")
  expect_error(logrank_test(Surv(time, status) ~ frailty(inst), data = lung), "frailty",
               class = "rwe_bad_input")
  # the message says what to use instead
  expect_error(cox_fit(Surv(time, status) ~ age + frailty(inst), data = lung), "cluster",
               class = "rwe_bad_input")
  expect_error(cox_fit(Surv(time, status) ~ pspline(age), data = lung), "nsk",
               class = "rwe_bad_input")
  expect_error(cox_fit(Surv(time, status) ~ tt(age), data = lung), "survSplit",
               class = "rwe_bad_input")
})

test_that("strata() inside an interaction is refused, naming the equivalent formula", {
  for (f in list(Surv(time, status) ~ ph.ecog + age:strata(sex),
                 Surv(time, status) ~ ph.ecog + strata(sex):age,
                 Surv(time, status) ~ ph.ecog + age * strata(sex))) {
    expect_error(cox_fit(f, data = lung), "age:factor\\(sex\\) \\+ strata\\(sex\\)|factor\\(sex\\):age \\+ strata\\(sex\\)",
                 class = "rwe_bad_input")
  }
  expect_error(cox_fit(Surv(time, status) ~ age:strata(sex, ph.ecog), data = lung),
               "interaction\\(sex, ph.ecog\\)", class = "rwe_bad_input")
  # the suggested formula is what coxph fits for age:strata(sex)
  ref <- coxph(Surv(time, status) ~ ph.ecog + age:strata(sex), data = lung)
  fit <- cox_fit(Surv(time, status) ~ ph.ecog + age:factor(sex) + strata(sex), data = lung)
  expect_length(coef(ref), 3L)
  expect_equal(unname(coef(fit)), unname(coef(ref)), tolerance = 1e-8)
  expect_equal(unname(fit$var), unname(ref$var), tolerance = 1e-8)
  expect_equal(fit$loglik, ref$loglik, tolerance = 1e-8)
})

test_that("terms coxph treats as ordinary functions still agree with coxph", {
  ref <- coxph(Surv(time, status) ~ nsk(age, df = 3) + sex + offset(0.1 * ph.ecog), data = lung)
  fit <- cox_fit(Surv(time, status) ~ nsk(age, df = 3) + sex + offset(0.1 * ph.ecog), data = lung)
  expect_equal(unname(coef(fit)), unname(coef(ref)), tolerance = 1e-8)
  expect_identical(names(coef(fit)), names(coef(ref)))
})

test_that("ties = 'exact' and unknown ties are refused with a classed error", {
  expect_error(cox_fit(Surv(time, status) ~ age, data = lung, ties = "exact"),
               "exact", class = "rwe_bad_input")
  y <- Surv(lung$time, lung$status)
  expect_error(cox_fit_matrix(cbind(age = lung$age), y, ties = "exact"), "exact",
               class = "rwe_bad_input")
  expect_error(cox_fit(Surv(time, status) ~ age, data = lung, ties = "peto"), "ties",
               class = "rwe_bad_input")
  # partial matching, as coxph's match.arg()
  expect_equal(cox_fit(Surv(time, status) ~ age, data = lung, ties = "bres")$method, "breslow")
})

test_that("malformed control lists get a classed error naming control", {
  y <- Surv(lung$time, lung$status)
  x <- cbind(age = lung$age)
  expect_error(cox_fit(Surv(time, status) ~ age, data = lung, control = 0L), "control",
               class = "rwe_bad_input")
  expect_error(cox_fit_matrix(x, y, control = matrix(1:4, 2)), "control",
               class = "rwe_bad_input")
  expect_error(cox_firth_matrix(x, y, control = as.raw(1)), "control",
               class = "rwe_bad_input")
  expect_error(cox_fit(Surv(time, status) ~ age, data = lung, control = list(eps = 1e-9)),
               "toler.chol", class = "rwe_bad_input")
  bad <- cox_control()
  bad$iter.max <- "20"
  expect_error(cox_fit_matrix(x, y, control = bad), "iter.max", class = "rwe_bad_input")
  expect_error(cox_fit(Surv(time, status) ~ age, data = lung, firth = TRUE,
                       control = as.raw(1)), "control", class = "rwe_bad_input")
  # both control kinds are accepted with firth = TRUE
  expect_s3_class(cox_fit(Surv(time, status) ~ age, data = lung, firth = TRUE,
                          control = firth_control(iter.max = 50)), "rwe_cox_firth")
})

test_that("a factor status is explained (0/1, 1/2 or TRUE/FALSE), not 'mright'", {
  d <- lung
  d$dead <- factor(d$status, labels = c("alive", "dead"))
  expect_error(cox_fit(Surv(time, dead) ~ age, data = d), "0/1, 1/2 or TRUE/FALSE",
               class = "rwe_bad_input")
  expect_error(km_fit(Surv(time, dead) ~ sex, data = d), "0/1, 1/2 or TRUE/FALSE",
               class = "rwe_bad_input")
  expect_error(logrank_test(Surv(time, dead) ~ sex, data = d), "0/1, 1/2 or TRUE/FALSE",
               class = "rwe_bad_input")
  expect_error(cox_fit_matrix(cbind(age = d$age), Surv(d$time, d$dead)),
               "0/1, 1/2 or TRUE/FALSE", class = "rwe_bad_input")
})

test_that("robust: bad values, counting data without cluster, cluster with robust = FALSE", {
  expect_error(cox_fit(Surv(time, status) ~ age, data = lung, robust = "yes"), "robust",
               class = "rwe_bad_input")
  expect_error(cox_fit(Surv(start, stop, event) ~ age + transplant, data = jasa1,
                       robust = TRUE), "cluster", class = "rwe_bad_input")
  expect_warning(fit <- cox_fit(Surv(time, status) ~ age + sex, data = lung,
                                cluster = inst, robust = FALSE),
                 class = "rwe_cox_cluster_ignored")
  ref <- suppressWarnings(coxph(Surv(time, status) ~ age + sex, data = lung,
                                cluster = inst, robust = FALSE))
  expect_false(fit$robust)
  expect_equal(unname(fit$var), unname(ref$var), tolerance = 1e-8)
  expect_null(fit$robust.score.test)
  expect_error(cox_fit(Surv(time, status) ~ age, data = lung, firth = TRUE, robust = TRUE),
               "robust", class = "rwe_bad_input")
})
