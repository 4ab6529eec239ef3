# time_between() / surv_from_dates(): closed forms of the stated convention
# (week = 7 days, month = 365.25 / 12 days, year = 365.25 days).

test_that("time_between converts days with the stated convention", {
  start <- as.Date("2020-01-01")
  end <- as.Date(c("2020-01-01", "2020-12-31", "2021-01-01", NA))
  expect_equal(c(time_between(start, end)), c(0, 365, 366, NA))
  expect_equal(c(time_between(start, end, "weeks")), c(0, 365, 366, NA) / 7)
  expect_equal(c(time_between(start, end, "months")), c(0, 365, 366, NA) / 30.4375)
  expect_equal(c(time_between(start, end, "years")), c(0, 365, 366, NA) / 365.25)
  expect_identical(attr(time_between(start, end, "years"), "unit"), "years")
  # POSIXct: fractions of a day count
  t0 <- as.POSIXct("2020-01-01 00:00", tz = "UTC")
  expect_equal(c(time_between(t0, t0 + 36 * 3600)), 1.5)
})

test_that("surv_from_dates: event date if any, else censoring date", {
  d <- data.frame(start = as.Date(c("2020-01-01", "2020-02-01", "2020-03-01")),
                  prog = as.Date(c("2020-07-01", NA, "2020-03-31")),
                  last = as.Date(c("2020-09-01", "2021-02-01", "2020-05-01")))
  out <- surv_from_dates(d, "start", "prog", "last", unit = "days")
  expect_equal(c(out$time), c(182, 366, 30), ignore_attr = TRUE)
  expect_identical(out$event, c(1L, 0L, 1L))
  expect_identical(attr(out$time, "label"), "Time (days)")
  fit <- km_fit(Surv(time, event) ~ 1, out)
  sf <- survival::survfit(survival::Surv(c(182, 366, 30), c(1, 0, 1)) ~ 1)
  expect_equal(fit$curves$surv, sf$surv)
})

test_that("bad dates are refused with rows named", {
  expect_error(time_between("2020-01-01", as.Date("2020-02-01")), class = "rwe_bad_input",
               regexp = "start")
  expect_error(time_between(as.Date("2020-03-01"), as.Date(c("2020-04-01", "2020-02-01"))),
               class = "rwe_bad_input", regexp = "Offending row: 2")
  expect_error(time_between(as.Date("2020-03-01"), as.Date("2020-04-01"), "fortnights"),
               class = "rwe_bad_input")
})
