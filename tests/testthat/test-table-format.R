test_that("format_percent uses fixed decimals and rounds the published cells correctly", {
  expect_equal(format_percent(2 / 31), "6.5")    # printed 6.4 in Table 1 (I-17)
  expect_equal(format_percent(8 / 26), "30.8")   # printed 30.7 in Table 2 (I-17)
  expect_equal(format_percent(0.5, digits = 2), "50.00")
  expect_equal(format_percent(c(0.25, NA)), c("25.0", ""))
  expect_equal(format_percent(12.345, percent = FALSE), "12.3")
})

test_that("format_n_percent prints N (%) and a bare 0", {
  expect_equal(format_n_percent(c(12, 19, 0), 31), c("12 (38.7)", "19 (61.3)", "0"))
  expect_equal(format_n_percent(15, 26), "15 (57.7)")
  expect_equal(format_n_percent(1, 0), "")
})

test_that("format_median_range follows the data's precision", {
  ages <- c(18, 40, 58, 60, 79)
  expect_equal(format_median_range(ages), "58 (18\u201379)")
  expect_equal(format_median_range(c(0.1, 11.7, 58.8)), "11.7 (0.1\u201358.8)")
  expect_equal(format_median_range(c(17, 18)), "17.5 (17.0\u201318.0)")
  expect_equal(format_median_range(c(1, NA, 3)), "2 (1\u20133)")
  expect_equal(format_median_range(c(1.234, 2), digits = 1), "1.6 (1.2\u20132.0)")
  expect_equal(format_median_range(numeric(0)), "")
})

test_that("format_pvalue, format_ci and format_nr", {
  expect_equal(format_pvalue(c(0.4231, 0.0004, 1, NA)), c("0.423", "<0.001", "1.000", ""))
  expect_equal(format_pvalue(0.04, digits = 1), "<0.1")
  expect_equal(format_ci(0.3, 0.5), "30.0\u201350.0")
  expect_equal(format_ci(NA, 0.5), "")
  expect_equal(format_nr(c(16.5, NA, Inf)), c("16.5", "NR", "NR"))
  expect_equal(format_nr(c(5, NA, NA, 16.54), not_estimable = c(TRUE, TRUE, FALSE, FALSE)),
               c("5.0", "NE", "NR", "16.5"))
  expect_equal(format_nr(c(NA, 2), digits = 2, not_estimable = TRUE), c("NE", "2.00"))
  expect_error(format_nr(c(NA, 2), not_estimable = c(TRUE, NA, FALSE)), "not_estimable")
})

test_that("decimals_needed caps at max_digits", {
  expect_equal(decimals_needed(c(1, 2)), 0)
  expect_equal(decimals_needed(c(1.25, 2)), 2)
  expect_equal(decimals_needed(1 / 3, 2), 2)
})

test_that("rwe_table print, knit_print and tidy", {
  tab <- new_rwe_table(data.frame(a = c(1.23456, NA), b = c("x", "y")), "rwe_test",
                       title = "A title", footnotes = "A note.")
  expect_s3_class(tab, c("rwe_test", "rwe_table", "data.frame"), exact = TRUE)
  out <- capture.output(print(tab))
  expect_equal(out[1], "A title")
  expect_match(out[length(out)], "Note: A note.", fixed = TRUE)
  expect_true(any(grepl("1.235", out, fixed = TRUE)))
  capture.output(expect_invisible(print(tab)))
  expect_false(any(grepl("NA", out)))
  tidied <- tidy(tab)
  expect_identical(class(tidied), "data.frame")
  expect_null(attr(tidied, "title"))
  expect_equal(tidied$a, c(1.23456, NA))
  skip_if_not_installed("knitr")
  knitted <- knitr::knit_print(tab)
  expect_s3_class(knitted, "knit_asis")
  expect_match(knitted, "|a     |b  |", fixed = TRUE)
  expect_match(knitted, "*A note.*", fixed = TRUE)
})

test_that("validators raise rlang errors naming the argument", {
  f <- function(data, col) check_column_name(col, data)
  expect_error(f(data.frame(a = 1), "b"), class = "rlang_error")
  expect_error(f(data.frame(a = 1), "b"), "Column \"b\" is missing from `data`")
  expect_error(f(data.frame(a = 1), 1), "must be a single column name")
  expect_error(check_numeric_column(data.frame(a = "x"), "a"), "must be numeric")
})
