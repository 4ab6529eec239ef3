# The validator family of R/check.R, the shared warnings, and snapshots of the messages users
# read (tests/testthat/_snaps/check.md).

test_that("scalar validators accept good values and return them", {
  expect_identical(check_flag(TRUE), TRUE)
  expect_identical(check_string("a"), "a")
  expect_null(check_string(NULL, allow_null = TRUE))
  expect_identical(check_number(0.5, min = 0, max = 1), 0.5)
  expect_identical(check_number(Inf, finite = FALSE), Inf)
  expect_identical(check_count(3), 3L)
  expect_identical(check_conf_level(0.9), 0.9)
  expect_identical(match_choice(c("a", "b"), c("a", "b")), "a")
  expect_identical(match_choice("b", c("a", "b")), "b")
  expect_identical(check_inherits(lm(dist ~ speed, cars), "lm")$rank, 2L)
})

test_that("every validator raises rwe_bad_input naming the argument as written", {
  my_level <- 1
  expect_error(check_conf_level(my_level), "`my_level`", class = "rwe_bad_input")
  expect_error(check_flag(NA), class = "rwe_bad_input")
  expect_error(check_flag(c(TRUE, FALSE)), class = "rwe_bad_input")
  expect_error(check_string(1), class = "rwe_bad_input")
  expect_error(check_number("1"), class = "rwe_bad_input")
  expect_error(check_number(NA_real_), class = "rwe_bad_input")
  expect_error(check_number(Inf), class = "rwe_bad_input")
  expect_error(check_number(1.5, whole = TRUE), class = "rwe_bad_input")
  expect_error(check_number(0, min = 0, exclusive = TRUE), class = "rwe_bad_input")
  expect_error(check_count(-1), class = "rwe_bad_input")
  expect_error(check_count(2^40), class = "rwe_bad_input")
  expect_error(match_choice("c", c("a", "b")), class = "rwe_bad_input")
  expect_error(check_inherits(1, "lm"), class = "rwe_bad_input")
  expect_error(check_data_frame(1:3), "must be a data frame", class = "rwe_bad_input")
  expect_error(check_dots_empty_bad(1), class = "rwe_bad_input")
})

test_that("vector validators coerce, check lengths and name offending rows", {
  expect_identical(check_numeric_vector(1:3, n = 3), c(1, 2, 3))
  expect_error(check_numeric_vector(c(1, NA, Inf, 4), n = 4), "Offending rows: 2, 3",
               class = "rwe_bad_input")
  expect_identical(check_numeric_vector(c(1, Inf), finite = FALSE), c(1, Inf))
  expect_error(check_numeric_vector(c(1, NA), finite = FALSE), "missing",
               class = "rwe_bad_input")
  expect_identical(check_numeric_vector(c(1, NA), finite = FALSE, allow_na = TRUE), c(1, NA))
  expect_error(check_numeric_vector(1:2, n = 3), "length 2", class = "rwe_bad_input")
  expect_error(check_numeric_vector(matrix(1:4, 2)), class = "rwe_bad_input")
  expect_identical(check_status(c(TRUE, FALSE), 2), c(1, 0))
  expect_identical(check_status(c(1, 2, 2), 3), c(0, 1, 1))  # Surv()'s 1/2 coding
  expect_error(check_status(c(0, 3), 2), "Offending row: 2", class = "rwe_bad_input")
  expect_identical(check_grouping(c("b", "a", "b"), 3), c(1L, 2L, 1L))
  expect_identical(check_grouping(factor(c("b", "a")), 2), c(2L, 1L))
  expect_error(check_grouping(c("a", NA), 2), "Offending row: 2", class = "rwe_bad_input")
  expect_identical(format_offenders(1:7), "1, 2, 3, 4, 5, ... (7 in all)")
  expect_identical(format_offenders(c("a", "b"), quote = TRUE), "\"a\", \"b\"")
})

test_that("non-convergence warnings share one class across engines", {
  expect_warning(cox_fit(Surv(time, status) ~ age + sex + ph.ecog, data = survival::lung,
                         control = cox_control(iter.max = 2)),
                 class = "rwe_not_converged")
  classes <- list()
  withCallingHandlers(
    cox_fit(Surv(time, status) ~ age + sex, data = survival::lung, firth = TRUE,
            ties = "breslow", control = firth_control(iter.max = 1)),
    warning = function(w) {
      classes[[length(classes) + 1L]] <<- class(w)
      invokeRestart("muffleWarning")
    })
  expect_length(classes, 2L)  # the fit and its profile intervals
  for (cl in classes) expect_true(all(c("rwe_firth_not_converged", "rwe_not_converged") %in% cl))
  expect_warning(warn_not_converged("x", class = "rwe_test"), class = "rwe_test")
})

test_that("a numeric conf.int is deprecated in favour of conf.level, with the same result", {
  lung <- survival::lung
  expect_warning(old <- km_fit(Surv(time, status) ~ sex, data = lung, conf.int = 0.9),
                 class = "rwe_deprecated")
  new <- km_fit(Surv(time, status) ~ sex, data = lung, conf.level = 0.9)
  expect_equal(old$curves, new$curves)
  ref <- summary(survival::survfit(Surv(time, status) ~ sex, data = lung, conf.int = 0.9))
  expect_equal(new$curves$lower[new$curves$n.event > 0], ref$lower, tolerance = 1e-10)
  expect_error(km_fit(Surv(time, status) ~ 1, data = lung, conf.int = 0.9, conf.level = 0.8),
               class = "rwe_bad_input")
  expect_warning(r <- rmst(Surv(time, status) ~ sex, data = lung, tau = 365, conf.int = 0.9),
                 class = "rwe_deprecated")
  expect_identical(r$conf.level, 0.9)
})

# ---- the messages users read ------------------------------------------------------------

test_that("bad-input messages of the exported verbs", {
  lung <- survival::lung
  expect_snapshot(error = TRUE, {
    cox_fit(Surv(time, status) ~ age, data = lung, ties = "exact")
    cox_fit(Surv(time, status) ~ age, data = lung, ties = "foo")
    cox_control(eps = -1)
    cox_control(threads = 1.5)
    cox_fit_matrix(matrix(c(1, NA, 3, Inf), ncol = 1), Surv(1:4, c(1, 1, 0, 1)))
    cox_fit_matrix(matrix(1:3, ncol = 1), Surv(1:3, c(1, 1, 0)), strata = c("a", NA, "b"))
    km_fit(Surv(time, status) ~ 1, data = lung, conf.level = 95)
    km_fit(Surv(time, status) ~ 1, data = lung, conf.type = "logit")
    km_fit_matrix(c(1, NA, 3), c(1, 0, 1))
    km_fit_matrix(c(1, 2, 3), c(1, 0, 3))
    km_fit_matrix(c(1, 2), c(1, 0), weights = c(1, -1))
    km_rmean(lm(dist ~ speed, data = cars))
    logrank_test(Surv(time, status) ~ sex, data = lung, method = "exakt")
    logrank_test_matrix(c(1, 2, 3), c(1, 1, 0), group = c(1, 2, 1), B = 0,
                        method = "permutation")
    rmst(Surv(time, status) ~ sex, data = lung, extend = NA)
    summary(cox_fit(Surv(time, status) ~ age, data = lung), level = 0.9)
    response_rates(data.frame(best_response = c("PR", "NE", "CR ")))
  })
})

test_that("validator messages", {
  my_flag <- "yes"
  expect_snapshot(error = TRUE, {
    check_flag(my_flag)
    check_number(1.5, whole = TRUE)
    check_number(2, min = 0, max = 1)
    check_count(-1)
    check_conf_level(c(0.9, 0.95))
    match_choice("z", c("a", "b"))
    check_string(NA_character_)
  })
})

test_that("non-convergence and deprecation warnings", {
  lung <- survival::lung
  expect_snapshot({
    fit <- cox_fit(Surv(time, status) ~ age + sex + ph.ecog, data = lung,
                   control = cox_control(iter.max = 2))
    fit <- km_fit(Surv(time, status) ~ 1, data = lung, conf.int = 0.9)
  })
})
