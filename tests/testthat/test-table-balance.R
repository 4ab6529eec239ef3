toy_balance_data <- function() {
  data.frame(
    trt = c(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
    x   = c(3, 5, 2, 8, 6, 4, 7, 1, 6, 9, 4, 8, 10, 5, 7, 3),
    flag = c(TRUE, FALSE, FALSE, TRUE, FALSE, FALSE, TRUE, FALSE,
             TRUE, TRUE, FALSE, TRUE, TRUE, FALSE, TRUE, TRUE),
    cat = factor(c("a", "b", "c", "a", "a", "b", "c", "a",
                   "b", "b", "c", "a", "c", "b", "c", "b"), levels = c("a", "b", "c"))
  )
}

test_that("balance_table() SMDs equal the hand formula (ATE: pooled unweighted SD)", {
  d <- toy_balance_data()
  ps <- ps_weights(d, "trt", ~ x)
  bt <- balance_table(ps, vars = c("x", "flag", "cat"))
  w <- ps$weights
  t1 <- d$trt == 1
  # continuous: (weighted) mean difference over sqrt((var1 + var0) / 2), unweighted variances
  s_x <- sqrt((var(d$x[t1]) + var(d$x[!t1])) / 2)
  expect_equal(bt$smd_before[1], (mean(d$x[t1]) - mean(d$x[!t1])) / s_x)
  expect_equal(bt$smd_after[1],
               (weighted.mean(d$x[t1], w[t1]) - weighted.mean(d$x[!t1], w[!t1])) / s_x)
  # by hand: treated x mean 52/8 = 6.5, control 36/8 = 4.5
  expect_equal(bt$mean_1[1] - bt$mean_0[1], 2)
  # binary: proportions, sqrt of the mean of p(1 - p)
  p1 <- 6 / 8
  p0 <- 3 / 8
  s_f <- sqrt((p1 * (1 - p1) + p0 * (1 - p0)) / 2)
  expect_equal(bt$smd_before[2], (p1 - p0) / s_f)
  pw1 <- sum(w[t1] * d$flag[t1]) / sum(w[t1])
  pw0 <- sum(w[!t1] * d$flag[!t1]) / sum(w[!t1])
  expect_equal(bt$smd_after[2], (pw1 - pw0) / s_f)
  # categorical: one row per level, level "b": treated 4/8, control 2/8
  expect_equal(bt$level[3:5], c("a", "b", "c"))
  expect_equal(bt$smd_before[4], (4 / 8 - 2 / 8) / sqrt((0.5 * 0.5 + 0.25 * 0.75) / 2))
  expect_equal(bt$type, c("continuous", "binary", rep("categorical", 3)))
  expect_output(print(bt), "SMD")
  expect_output(print(bt), "cat")
})

test_that("ATT standardises by the treated arm's SD; the denominator is fixed", {
  d <- toy_balance_data()
  ps <- ps_weights(d, "trt", ~ x, estimand = "ATT")
  bt <- balance_table(ps, vars = c("x", "flag"))
  t1 <- d$trt == 1
  w <- ps$weights
  expect_equal(bt$sd_denom[1], sd(d$x[t1]))
  expect_equal(bt$sd_denom[2], sqrt(0.75 * 0.25))
  expect_equal(bt$smd_after[1],
               (mean(d$x[t1]) - weighted.mean(d$x[!t1], w[!t1])) / sd(d$x[t1]))
})

test_that("weighting balances the score covariates of rotterdam", {
  d <- survival::rotterdam
  ps <- ps_weights(d, "chemo", ~ age + nodes + er)
  bt <- balance_table(ps)
  expect_true(all(abs(bt$smd_after) < abs(bt$smd_before)))
  expect_s3_class(love_plot(bt), "ggplot")
  expect_s3_class(love_plot(ps), "ggplot")
  expect_error(balance_table(list()), class = "rwe_bad_input")
  expect_error(love_plot(data.frame()), class = "rwe_bad_input")
  expect_error(balance_table(ps, vars = "nope"), class = "rwe_bad_input")
})
