# Log-rank / G-rho engine vs survival::survdiff (relative tolerance 1e-8), closed form, errors.
library(survival)

tol <- 1e-8

expect_logrank_matches <- function(formula, data, rho = 0) {
  a <- logrank_test(formula, data = data, rho = rho)
  b <- survdiff(formula, data = data, rho = rho)
  obs <- if (is.matrix(b$obs)) rowSums(b$obs) else b$obs
  ex <- if (is.matrix(b$exp)) rowSums(b$exp) else b$exp
  expect_equal(a$observed, obs, tolerance = tol)
  expect_equal(a$expected, ex, tolerance = tol)
  expect_equal(unname(a$var), unname(b$var), tolerance = tol)
  expect_equal(a$chisq, b$chisq, tolerance = tol)
  expect_equal(a$df, sum(ex > 0) - 1L)
  expect_equal(a$p.value, b$pvalue, tolerance = tol)
  expect_equal(a$n, as.vector(b$n))
  if (is.matrix(b$obs)) {
    expect_equal(unname(a$observed_by_stratum), unname(b$obs), tolerance = tol)
    expect_equal(unname(a$expected_by_stratum), unname(b$exp), tolerance = tol)
  }
  invisible(a)
}

test_that("log-rank and G-rho match survdiff on the survival data sets", {
  colon2 <- colon[colon$etype == 2, ]
  for (rho in c(0, 0.5, 1)) {
    expect_logrank_matches(Surv(time, status) ~ sex, lung, rho)
    expect_logrank_matches(Surv(time, status) ~ sex + strata(ph.ecog), lung, rho)
    expect_logrank_matches(Surv(time, status) ~ celltype, veteran, rho)
    expect_logrank_matches(Surv(time, status) ~ celltype + strata(trt), veteran, rho)
    expect_logrank_matches(Surv(futime, fustat) ~ rx, ovarian, rho)
    expect_logrank_matches(Surv(time, status) ~ rx, colon2, rho)
    expect_logrank_matches(Surv(time, status) ~ rx + strata(sex, obstruct), colon2, rho)
  }
})

test_that("several grouping variables give their combinations; strata are real columns", {
  a <- expect_logrank_matches(Surv(time, status) ~ sex + ph.ecog, lung)
  expect_equal(names(a$groups), c("sex", "ph.ecog"))
  expect_equal(nrow(a$groups), 7L)
  b <- logrank_test(Surv(time, status) ~ sex + strata(ph.ecog), lung)
  expect_equal(b$strata$ph.ecog, c(0, 1, 2, 3))
  expect_equal(b$strata_n, as.vector(table(lung$ph.ecog)))
})

test_that("heavy ties match survdiff", {
  set.seed(5)
  n <- 5000
  d <- data.frame(time = round(rexp(n) * 20), status = rbinom(n, 1, 0.35),
                  g = sample(1:5, n, TRUE), s = sample(1:3, n, TRUE))
  for (rho in c(0, 0.5, 1)) {
    expect_logrank_matches(Surv(time, status) ~ g, d, rho)
    expect_logrank_matches(Surv(time, status) ~ g + strata(s), d, rho)
  }
})

test_that("closed-form two-group example", {
  # A: events at 1 and 3; B: event at 2, censored at 4.
  a <- logrank_test_matrix(time = c(1, 3, 2, 4), status = c(1, 1, 1, 0),
                           group = c("A", "A", "B", "B"))
  expect_equal(a$observed, c(2, 1))
  expect_equal(a$expected, c(4 / 3, 5 / 3), tolerance = 1e-12)
  expect_equal(a$var[1, 1], 13 / 18, tolerance = 1e-12)
  expect_equal(a$var[1, 2], -13 / 18, tolerance = 1e-12)
  expect_equal(a$chisq, 8 / 13, tolerance = 1e-12)
  expect_equal(a$df, 1L)
  # Peto-Peto: weights S(t-) = 1, 3/4, 1/2 at the three event times
  p <- logrank_test_matrix(c(1, 3, 2, 4), c(1, 1, 1, 0), c("A", "A", "B", "B"), rho = 1)
  expect_equal(p$observed[1], 1 + 1 / 2)
  expect_equal(p$expected[1], 1 / 2 + 3 / 4 * 1 / 3 + 1 / 2 * 1 / 2, tolerance = 1e-12)
  expect_equal(p$var[1, 1], 1 / 4 + (9 / 16) * (2 / 9) + (1 / 4) * (1 / 4), tolerance = 1e-12)
})

test_that("matrix twin equals the formula verb; tidy, glance, print", {
  a <- logrank_test(Surv(time, status) ~ celltype + strata(trt), veteran)
  b <- logrank_test_matrix(veteran$time, veteran$status,
                           group = data.frame(celltype = veteran$celltype),
                           strata = data.frame(trt = veteran$trt))
  expect_equal(a[c("observed", "expected", "var", "chisq", "df", "groups", "strata")],
               b[c("observed", "expected", "var", "chisq", "df", "groups", "strata")])
  td <- tidy(a)
  expect_equal(names(td), c("celltype", "n", "observed", "expected", "chisq.e", "chisq.v"))
  expect_s3_class(td$celltype, "factor")
  gl <- glance(a)
  expect_equal(gl$statistic, a$chisq)
  expect_equal(gl$method, "Log-rank test")
  expect_output(print(a), "degrees of freedom")
})

test_that("a group without expected events drops out of the chi-square as in survdiff", {
  d <- data.frame(time = c(1, 2, 3, 4, 5, 6, 0.5), status = c(1, 0, 1, 1, 0, 1, 0),
                  g = c(1, 1, 2, 2, 1, 2, 3))
  expect_logrank_matches(Surv(time, status) ~ g, d)
})

test_that("bad input gives rwe_bad_input errors naming the argument", {
  expect_error(logrank_test(time ~ sex, lung), class = "rwe_bad_input", regexp = "formula")
  expect_error(logrank_test(Surv(time, status) ~ 1, lung), class = "rwe_bad_input",
               regexp = "formula")
  expect_error(logrank_test(Surv(time, status) ~ sex, lung, subset = sex == 1),
               class = "rwe_bad_input", regexp = "single group")
  expect_error(logrank_test(Surv(time, status) ~ sex, lung[0, ]), class = "rwe_bad_input",
               regexp = "zero rows")
  none <- data.frame(time = 1:4, status = 0, g = c(1, 1, 2, 2))
  expect_error(logrank_test(Surv(time, status) ~ g, none), class = "rwe_bad_input",
               regexp = "no events")
  neg <- data.frame(time = c(1, -1, 2, 3), status = 1, g = c(1, 1, 2, 2))
  expect_error(logrank_test(Surv(time, status) ~ g, neg), class = "rwe_bad_input",
               regexp = "negative")
  expect_error(logrank_test(Surv(start, stop, event) ~ transplant, heart),
               class = "rwe_bad_input", regexp = "right-censored")
  expect_error(logrank_test(Surv(time, status) ~ sex, lung, rho = NA), class = "rwe_bad_input",
               regexp = "rho")
  expect_error(logrank_test_matrix(1:4, c(1, 0, 1, 1), group = rep(1, 4)),
               class = "rwe_bad_input", regexp = "single group")
  expect_error(logrank_test_matrix(1:4, c(1, 0, 1, 1)), class = "rwe_bad_input",
               regexp = "group")
  expect_error(logrank_test_matrix(1:4, c(1, 0, 1, 7), group = c(1, 1, 2, 2)),
               class = "rwe_bad_input", regexp = "status")
})

test_that("near-tied times are merged as survdiff's timefix does", {
  set.seed(2)
  base <- round(rexp(300) * 12, 1)
  d <- data.frame(time = base + sample(c(0, 1e-12), 300, TRUE),
                  status = rbinom(300, 1, 0.5), g = sample(1:2, 300, TRUE))
  expect_logrank_matches(Surv(time, status) ~ g, d)
})

test_that("logrank methods refuse arguments they would ignore; cluster/offset refused", {
  lr <- logrank_test(Surv(time, status) ~ sex, data = lung)
  expect_error(print(lr, foo = 1), "foo", class = "rwe_bad_input")
  expect_error(tidy(lr, conf.int = TRUE), "conf.int", class = "rwe_bad_input")
  expect_error(glance(lr, foo = 1), "foo", class = "rwe_bad_input")
  # survdiff's offset() is a one-sample test, which logrank_test() does not implement
  lung_off <- transform(lung, p = 0.5)
  expect_error(logrank_test(Surv(time, status) ~ sex + offset(p), data = lung_off), "offset",
               class = "rwe_bad_input")
  expect_error(logrank_test(Surv(time, status) ~ sex + cluster(inst), data = lung), "cluster",
               class = "rwe_bad_input")
  # survival::survdiff() has no case weights; neither has logrank_test()
  expect_false("weights" %in% names(formals(survdiff)))
  expect_error(logrank_test(Surv(time, status) ~ sex, data = lung, weights = age), "unused")
})

test_that("two-group chi-square shortcut equals the eigen computation exactly", {
  logrank_chisq <- function(o, e, v) logrank_chisq_cpp(as.double(o), as.double(e), v)
  eigen_chisq <- function(observed, expected, var) {
    idx <- which(expected > 0)[-1L]
    eig <- eigen(var[idx, idx, drop = FALSE], symmetric = TRUE)
    pos <- eig$values > max(eig$values) * 1e-10
    proj <- crossprod(eig$vectors[, pos, drop = FALSE], (observed - expected)[idx])
    list(chisq = sum(proj^2 / eig$values[pos]), df = sum(pos))
  }
  set.seed(3)
  for (i in 1:50) {
    o <- c(stats::rpois(1, 20), stats::rpois(1, 20))
    e <- c(stats::runif(1, 5, 30), stats::runif(1, 5, 30))
    v <- stats::runif(1, 0.1, 20) * matrix(c(1, -1, -1, 1), 2)
    expect_identical(logrank_chisq(o, e, v), eigen_chisq(o, e, v))
  }
  expect_identical(logrank_chisq(c(3, 0), c(2, 1), matrix(0, 2, 2)),
                   eigen_chisq(c(3, 0), c(2, 1), matrix(0, 2, 2)))
  # three groups: the closed form agrees with the eigen computation to 1e-12; near-singular
  # and singular variances take the eigen computation itself
  for (i in 1:200) {
    o <- stats::rpois(3, 20)
    e <- stats::runif(3, 5, 30)
    z <- matrix(stats::rnorm(9), 3)
    shrink <- 10^-stats::runif(1, 0, 8)
    v <- crossprod(z %*% diag(c(1, 1, shrink)))
    got <- logrank_chisq(o, e, v)
    ref <- eigen_chisq(o, e, v)
    expect_equal(got$chisq, ref$chisq, tolerance = 1e-12)
    expect_identical(got$df, ref$df)
  }
  v <- matrix(c(1, -1, 0, -1, 1, 0, 0, 0, 1), 3)  # the two compared groups collinear
  got <- logrank_chisq(c(5, 1, 2), c(2, 3, 3), v)
  ref <- eigen_chisq(c(5, 1, 2), c(2, 3, 3), v)
  expect_equal(got$chisq, ref$chisq, tolerance = 1e-12)
  expect_identical(got$df, ref$df)
  lr <- logrank_test(survival::Surv(time, status) ~ ph.ecog, data = survival::lung,
                     subset = ph.ecog < 3)
  ref <- survival::survdiff(survival::Surv(time, status) ~ ph.ecog, data = survival::lung,
                            subset = ph.ecog < 3)
  expect_equal(lr$chisq, ref$chisq, tolerance = 1e-10)
})
