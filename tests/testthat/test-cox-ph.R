# ph_test() against survival::cox.zph (survival >= 3.0: the score test for adding beta * g(t)
# terms), on survival's datasets: both ties, strata, factor terms, weights, counting process.

library(survival)

# Fits the same model with coxph and cox_fit and compares every number cox.zph reports.
expect_matches_zph <- function(formula, data, ties = "efron", transform = "km", terms = TRUE,
                               weights = NULL) {
  ref <- eval(bquote(coxph(.(formula), data = .(data), ties = .(ties), weights = .(weights))))
  zph <- cox.zph(ref, transform = transform, terms = terms)
  fit <- eval(bquote(cox_fit(.(formula), data = .(data), ties = .(ties), weights = .(weights))))
  res <- ph_test(fit, transform = transform, terms = terms)
  expect_s3_class(res, "rwe_ph_test")
  expect_equal(res$table$term, rownames(zph$table))
  expect_equal(res$table$statistic, unname(zph$table[, "chisq"]), tolerance = 1e-8)
  expect_equal(res$table$df, as.integer(zph$table[, "df"]))
  expect_equal(res$table$p.value, unname(zph$table[, "p"]), tolerance = 1e-8)
  expect_equal(res$x, zph$x, tolerance = 1e-10)
  expect_equal(res$time, zph$time, tolerance = 1e-10)
  expect_equal(unname(res$y), unname(zph$y), tolerance = 1e-8)
  expect_equal(colnames(res$y), colnames(zph$y))
  expect_equal(unname(res$var), unname(zph$var), tolerance = 1e-8)
  if (!is.null(zph$strata)) expect_equal(as.character(res$strata), as.character(zph$strata))
  invisible(res)
}

test_that("lung: Efron and Breslow, all three transforms", {
  f <- Surv(time, status) ~ age + sex + ph.ecog
  for (ties in c("efron", "breslow")) {
    for (tr in c("km", "rank", "identity")) expect_matches_zph(f, lung, ties, tr)
  }
})

test_that("veteran: a factor term tested as a whole (terms = TRUE) and per column", {
  f <- Surv(time, status) ~ trt + celltype + karno
  res <- expect_matches_zph(f, veteran)
  expect_equal(res$table$df, c(1L, 3L, 1L, 5L))
  expect_matches_zph(f, veteran, terms = FALSE)
  expect_matches_zph(f, veteran, ties = "breslow", transform = "rank")
})

test_that("colon: strata, heavy ties", {
  expect_matches_zph(Surv(time, status) ~ rx + nodes + sex + strata(etype), colon)
  expect_matches_zph(Surv(time, status) ~ rx + nodes + strata(etype), colon, ties = "breslow",
                     transform = "identity")
})

test_that("ovarian, case weights and counting-process data", {
  expect_matches_zph(Surv(futime, fustat) ~ age + ecog.ps + rx, ovarian)
  lungw <- stats::na.omit(lung[, c("time", "status", "age", "sex", "meal.cal")])
  lungw$w <- lungw$meal.cal / 1000
  expect_matches_zph(Surv(time, status) ~ age + sex, lungw, weights = quote(w))
  expect_matches_zph(Surv(time, status) ~ age + sex, lungw, ties = "breslow",
                     weights = quote(w), transform = "rank")
  expect_matches_zph(Surv(start, stop, event) ~ age + surgery + transplant, heart)
})

test_that("simulated data with heavy ties, strata and an interaction", {
  set.seed(42)
  n <- 300
  d <- data.frame(time = sample(1:25, n, TRUE), status = rbinom(n, 1, 0.6),
                  x = rnorm(n), g = factor(sample(c("a", "b", "c"), n, TRUE)),
                  s = sample(1:3, n, TRUE))
  expect_matches_zph(Surv(time, status) ~ x * g + strata(s), d)
  expect_matches_zph(Surv(time, status) ~ x + g, d, ties = "breslow", terms = FALSE)
})

test_that("aliased columns are dropped as cox.zph does; the matrix twin works", {
  d <- stats::na.omit(lung[, c("time", "status", "age", "sex")])
  d$age2 <- 2 * d$age
  suppressWarnings(expect_matches_zph(Surv(time, status) ~ age + sex + age2, d))
  fm <- cox_fit_matrix(as.matrix(d[, c("age", "sex")]), Surv(d$time, d$status))
  zph <- cox.zph(coxph(Surv(time, status) ~ age + sex, d))
  expect_equal(ph_test(fm)$table$statistic, unname(zph$table[, "chisq"]), tolerance = 1e-8)
})

test_that("tidy, print and plot", {
  fit <- cox_fit(Surv(time, status) ~ age + sex, data = lung)
  res <- ph_test(fit)
  td <- generics::tidy(res)
  expect_named(td, c("term", "statistic", "df", "p.value"))
  expect_equal(td$term, c("age", "sex", "GLOBAL"))
  expect_output(print(res), "GLOBAL")
  grDevices::pdf(NULL)
  on.exit(grDevices::dev.off())
  expect_invisible(plot(res))
  expect_invisible(plot(res, which = "sex"))
})

test_that("bad input is refused", {
  expect_error(ph_test(lm(time ~ age, lung)), class = "rwe_bad_input", regexp = "fit")
  fit <- cox_fit(Surv(time, status) ~ age, data = lung)
  expect_error(ph_test(fit, transform = "log"), regexp = "must be one of",
               class = "rwe_bad_input")
  expect_error(ph_test(fit, terms = NA), class = "rwe_bad_input", regexp = "terms")
  gone <- local({
    d <- lung
    fit <- cox_fit(Surv(time, status) ~ age, data = d)
    rm(d)
    fit
  })
  expect_error(ph_test(gone), class = "rwe_bad_input", regexp = "x = TRUE")
  ff <- cox_fit(Surv(time, status) ~ age, data = lung, ties = "breslow", firth = TRUE)
  expect_error(ph_test(ff), class = "rwe_bad_input", regexp = "fit")
})

test_that("ph_test methods refuse arguments they would ignore", {
  res <- ph_test(cox_fit(Surv(time, status) ~ age + sex, data = lung))
  expect_error(print(res, foo = 1), "foo", class = "rwe_bad_input")
  expect_error(tidy(res, conf.int = TRUE), "conf.int", class = "rwe_bad_input")
})

test_that("a singular test information (diverged fit) is refused with rwe_bad_input, as cox.zph fails", {
  # two events, x1 separates them: the coefficient diverges and the 2p x 2p information of the
  # augmented model is singular (was an unclassed "system is computationally singular")
  d <- data.frame(time = c(16.3, 8.5, 7.6, 8.8), status = c(0, 1, 1, 0),
                  x1 = c(-0.57478659, -0.24290705, 0.46398585, -0.39771349),
                  x3 = c(2.3, 8.5, 3.9, 4))
  fit <- suppressWarnings(cox_fit(Surv(time, status) ~ x3 + x1, d,
                                  control = cox_control(eps = 1e-12, iter.max = 100)))
  expect_error(ph_test(fit, transform = "rank"), class = "rwe_bad_input", regexp = "singular")
  ref <- suppressWarnings(coxph(Surv(time, status) ~ x3 + x1, d,
                                control = coxph.control(eps = 1e-12, iter.max = 100)))
  expect_error(suppressWarnings(cox.zph(ref, transform = "rank")), "singular")
})

test_that("tie passes to 1e-10: jasa1 counting process; heavy ties with weights and strata", {
  expect_matches_zph_tight <- function(formula, data, ties, weights = NULL) {
    ref <- eval(bquote(coxph(.(formula), data = .(data), ties = .(ties), weights = .(weights))))
    zph <- cox.zph(ref)
    res <- ph_test(eval(bquote(cox_fit(.(formula), data = .(data), ties = .(ties),
                                       weights = .(weights)))))
    expect_equal(res$table$statistic, unname(zph$table[, "chisq"]), tolerance = 1e-10)
    expect_equal(unname(res$y), unname(zph$y), tolerance = 1e-10)
    expect_equal(unname(res$var), unname(zph$var), tolerance = 1e-10)
  }
  for (ties in c("efron", "breslow")) {
    expect_matches_zph_tight(Surv(start, stop, event) ~ transplant + age, jasa1, ties)
    set.seed(7)
    n <- 300
    d <- data.frame(time = sample(1:10, n, TRUE), status = rbinom(n, 1, 0.7), x = rnorm(n),
                    z = rbinom(n, 1, 0.5), s = sample(1:3, n, TRUE), w = runif(n, 0.5, 3))
    expect_matches_zph_tight(Surv(time, status) ~ x + z + strata(s), d, ties, quote(w))
  }
})

test_that("a zero-weight tied death is no tied death: ph_test equals cox.zph without the row", {
  d <- survival::ovarian
  d <- rbind(d, d[d$fustat == 1, ][1, ])
  w <- c(rep(1, nrow(d) - 1L), 0)
  # identity transform: the km transform's curve is unweighted (the row would count there)
  res <- ph_test(cox_fit(Surv(futime, fustat) ~ age + rx, data = d, weights = w),
                 transform = "identity")
  zph <- cox.zph(coxph(Surv(futime, fustat) ~ age + rx, data = d[-nrow(d), ]),
                 transform = "identity")
  expect_equal(res$table$statistic, unname(zph$table[, "chisq"]), tolerance = 1e-8)
})
