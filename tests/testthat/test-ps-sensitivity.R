test_that("e_value() follows VanderWeele & Ding's closed forms", {
  # RR = 2: E = 2 + sqrt(2)
  ev <- e_value(2, 1.5, 2.8)
  expect_equal(ev$e_value, 2 + sqrt(2))
  expect_equal(ev$e_value_ci, 1.5 + sqrt(1.5 * 0.5))
  # protective: invert, and the CI limit nearest 1 is the upper one
  ev <- e_value(0.8, 0.68, 0.94)
  expect_equal(ev$e_value, 1.25 + sqrt(1.25 * 0.25))
  expect_equal(ev$e_value_ci, 1 / 0.94 + sqrt(1 / 0.94 * (1 / 0.94 - 1)))
  # a CI containing 1 needs no confounding to include the null
  expect_equal(e_value(1.3, 0.9, 1.8)$e_value_ci, 1)
  expect_equal(e_value(0.7, 0.4, 1.1)$e_value_ci, 1)
  expect_true(is.na(e_value(1.3)$e_value_ci))
})

test_that("common outcomes convert HR to RR by the square-root transform", {
  hr <- 0.8
  rr <- (1 - 0.5^sqrt(0.8)) / (1 - 0.5^sqrt(1.25))
  ev <- e_value(hr, 0.68, 0.94, rare = FALSE)
  expect_equal(ev$rr, rr)
  expect_equal(ev$e_value, 1 / rr + sqrt(1 / rr * (1 / rr - 1)))
  up <- (1 - 0.5^sqrt(0.94)) / (1 - 0.5^sqrt(1 / 0.94))
  expect_equal(ev$e_value_ci, 1 / up + sqrt(1 / up * (1 / up - 1)))
  # HR = 1 maps to RR = 1 and E = 1
  expect_equal(e_value(1, rare = FALSE)$e_value, 1)
})

test_that("e_value() refuses bad input", {
  expect_error(e_value(-1), class = "rwe_bad_input")
  expect_error(e_value(NA), class = "rwe_bad_input")
  expect_error(e_value(c(1, 2)), class = "rwe_bad_input")
  expect_error(e_value(2, 2.5, 3), class = "rwe_bad_input")
  expect_error(e_value(2, rare = NA), class = "rwe_bad_input")
  expect_error(ps_sensitivity(list()), class = "rwe_bad_input")
})

test_that("ps_sensitivity() uses the weighted HR and counts extreme weights", {
  d <- survival::rotterdam
  d$rfs <- pmax(d$recur, d$death)
  d$rfstime <- ifelse(d$recur == 1, d$rtime, d$dtime)
  ps <- ps_weights(d, "chemo", ~ age + nodes + er, extreme = 8)
  res <- ps_survival(ps, "rfstime", "rfs", gformula = FALSE, bootstrap = 0)
  s <- ps_sensitivity(res, rare = FALSE)
  hr <- res$hr[2, ]
  expect_equal(s$e_value$e_value, e_value(hr$estimate, rare = FALSE)$e_value)
  expect_equal(s$e_value$interval, "robust Wald")
  expect_equal(s$extreme$n_extreme,
               c(sum(ps$weights[ps$treated == 0] > 8), sum(ps$weights[ps$treated == 1] > 8)))
  expect_output(print(s), "E-value")
})
