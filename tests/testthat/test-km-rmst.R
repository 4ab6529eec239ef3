# rmst(): per-group areas and standard errors against print(survfit, rmean = tau) (survival's
# summary table), two-group contrasts against survRM2::rmst2 (same Greenwood-type variance).

library(survival)

expect_matches_survfit <- function(res, formula, data, tau) {
  tab <- summary(survfit(formula, data = data), rmean = tau)$table
  if (is.null(dim(tab))) tab <- t(tab)
  expect_equal(res$groups$rmst, unname(tab[, "rmean"]), tolerance = 1e-8)
  expect_equal(res$groups$std.error, unname(tab[, "se(rmean)"]), tolerance = 1e-8)
  expect_equal(res$groups$n, unname(tab[, "n.max"]))
  expect_equal(res$groups$nevent, unname(tab[, "events"]))
}

expect_matches_rmst2 <- function(res, time, status, arm, tau) {
  skip_if_not_installed("survRM2")
  ref <- survRM2::rmst2(time, status, arm, tau = tau)
  ct <- res$contrasts
  un <- ref$unadjusted.result
  expect_equal(ct$estimate, unname(un[1:2, 1]), tolerance = 1e-8)
  expect_equal(ct$conf.low, unname(un[1:2, 2]), tolerance = 1e-8)
  expect_equal(ct$conf.high, unname(un[1:2, 3]), tolerance = 1e-8)
  expect_equal(ct$p.value, unname(un[1:2, 4]), tolerance = 1e-8)
  expect_equal(res$groups$rmst, unname(c(ref$RMST.arm0$rmst[1], ref$RMST.arm1$rmst[1])),
               tolerance = 1e-8)
  expect_equal(res$groups$std.error, unname(c(ref$RMST.arm0$rmst[2], ref$RMST.arm1$rmst[2])),
               tolerance = 1e-8)
  expect_equal(res$groups$conf.low,
               unname(c(ref$RMST.arm0$rmst[3], ref$RMST.arm1$rmst[3])), tolerance = 1e-8)
}

test_that("lung by sex: survfit's rmean and survRM2's contrasts", {
  for (tau in c(180, 365, 700)) {
    res <- rmst(Surv(time, status) ~ sex, data = lung, tau = tau)
    expect_matches_survfit(res, Surv(time, status) ~ sex, lung, tau)
    expect_matches_rmst2(res, lung$time, lung$status - 1, lung$sex - 1, tau)
    expect_equal(res$groups$sex, c(1, 2))
    expect_equal(res$groups$tau, c(tau, tau))
  }
})

test_that("veteran and ovarian (small, tied), default tau", {
  res <- rmst(Surv(time, status) ~ trt, data = veteran)
  expect_equal(res$tau, min(tapply(veteran$time, veteran$trt, max)))
  expect_matches_survfit(res, Surv(time, status) ~ trt, veteran, res$tau)
  expect_matches_rmst2(res, veteran$time, veteran$status, veteran$trt - 1, res$tau)
  ov <- rmst(Surv(futime, fustat) ~ rx, data = ovarian, tau = 800)
  expect_matches_survfit(ov, Surv(futime, fustat) ~ rx, ovarian, 800)
  expect_matches_rmst2(ov, ovarian$futime, ovarian$fustat, ovarian$rx - 1, 800)
})

test_that("one group and three groups (no contrasts)", {
  one <- rmst(Surv(time, status) ~ 1, data = lung, tau = 500)
  expect_matches_survfit(one, Surv(time, status) ~ 1, lung, 500)
  expect_null(one$contrasts)
  three <- rmst(Surv(time, status) ~ ph.ecog, data = subset(lung, ph.ecog < 3), tau = 400)
  expect_matches_survfit(three, Surv(time, status) ~ ph.ecog, subset(lung, ph.ecog < 3), 400)
  expect_null(three$contrasts)
  expect_true(is.na(generics::glance(three)$difference))
})

test_that("closed form: no censoring, tau beyond the last time of a curve at zero", {
  d <- data.frame(time = c(2, 4, 6, 1, 3), status = 1, g = c(1, 1, 1, 2, 2))
  res <- rmst(Surv(time, status) ~ g, data = d, tau = 10)
  # without censoring the RMST is the mean of min(T, tau)
  expect_equal(res$groups$rmst, c(4, 2))
  expect_equal(res$contrasts$estimate[1], -2)
})

test_that("tau beyond a group's follow-up: error unless extend = TRUE", {
  expect_error(rmst(Surv(futime, fustat) ~ rx, data = ovarian, tau = 1200),
               class = "rwe_bad_input", regexp = "tau")
  ext <- rmst(Surv(futime, fustat) ~ rx, data = ovarian, tau = 1200, extend = TRUE)
  expect_matches_survfit(ext, Surv(futime, fustat) ~ rx, ovarian, 1200)
})

test_that("print, tidy and glance", {
  res <- rmst(Surv(time, status) ~ sex, data = lung, tau = 365)
  expect_output(print(res), "Restricted mean survival time")
  expect_output(print(res), "difference")
  td <- generics::tidy(res)
  expect_named(td, c("sex", "n", "nevent", "tau", "estimate", "std.error", "conf.low",
                     "conf.high"))
  expect_equal(generics::tidy(res, what = "contrasts")$contrast, c("difference", "ratio"))
  gl <- generics::glance(res)
  expect_equal(gl$difference, res$contrasts$estimate[1])
  expect_equal(gl$n, 228)
  z <- stats::qnorm(0.95)
  r90 <- rmst(Surv(time, status) ~ sex, data = lung, tau = 365, conf.level = 0.9)
  expect_equal(r90$groups$conf.high, r90$groups$rmst + z * r90$groups$std.error)
})

test_that("bad input is refused with the argument named", {
  expect_error(rmst(Surv(time, status) ~ sex, data = lung, tau = -1),
               class = "rwe_bad_input", regexp = "tau")
  expect_error(rmst(Surv(time, status) ~ sex, data = lung, tau = c(1, 2)),
               class = "rwe_bad_input", regexp = "tau")
  expect_error(rmst(Surv(time, status) ~ sex, data = lung, conf.level = 2),
               class = "rwe_bad_input", regexp = "conf")
  expect_error(rmst(Surv(time, status) ~ sex, data = lung, extend = NA),
               class = "rwe_bad_input", regexp = "extend")
  expect_error(rmst(Surv(time, status) ~ sex + strata(ph.ecog), data = lung),
               class = "rwe_bad_input", regexp = "strata")
  expect_error(rmst(Surv(start, stop, event) ~ transplant, data = heart),
               class = "rwe_bad_input", regexp = "formula")
})

test_that("rmst(weights = ) equals the restricted mean of a weighted survfit", {
  lw <- lung
  lw$w <- rep(c(1.5, 0.5, 2, 1), length.out = nrow(lung))  # fractional: robust SE in survfit
  lw$w2 <- rep(1:3, length.out = nrow(lung))
  for (case in list(list(w = "w", tau = 365), list(w = "w2", tau = 500))) {
    r <- rmst(Surv(time, status) ~ sex, lw, tau = case$tau, weights = lw[[case$w]])
    tab <- summary(survfit(Surv(time, status) ~ sex, lw, weights = lw[[case$w]]),
                   rmean = case$tau)$table
    expect_equal(r$groups$rmst, unname(tab[, "rmean"]), tolerance = 1e-8)
    expect_equal(r$groups$std.error, unname(tab[, "se(rmean)"]), tolerance = 1e-8)
    expect_equal(r$groups$nevent, unname(tab[, "events"]), tolerance = 1e-8)
    expect_equal(r$groups$n, unname(tab[, "records"]))
  }
  # the weights change the answer (so they are not ignored)
  expect_false(isTRUE(all.equal(rmst(Surv(time, status) ~ sex, lw, tau = 365, weights = w)$groups$rmst,
                                rmst(Surv(time, status) ~ sex, lw, tau = 365)$groups$rmst)))
  lw$w[3] <- -1
  expect_error(rmst(Surv(time, status) ~ sex, lw, tau = 365, weights = w), "weights",
               class = "rwe_bad_input")
})

test_that("rmst methods refuse arguments they would ignore; cluster/offset refused", {
  r <- rmst(Surv(time, status) ~ sex, data = lung, tau = 365)
  expect_error(print(r, foo = 1), "foo", class = "rwe_bad_input")
  expect_error(tidy(r, conf.int = TRUE), "conf.int", class = "rwe_bad_input")
  expect_error(glance(r, foo = 1), "foo", class = "rwe_bad_input")
  expect_error(rmst(Surv(time, status) ~ sex + cluster(inst), data = lung, tau = 365),
               "cluster", class = "rwe_bad_input")
})

test_that("restricted means and their SEs rescale with times at 1e160", {
  # (times at 1e-160 are all within survfit's absolute tie tolerance: one tied time)
  lung <- survival::lung
  base <- rmst(Surv(time, status) ~ sex, data = lung, tau = 700)
  ref <- summary(survival::survfit(Surv(time, status) ~ sex, data = lung), rmean = 700)$table
  expect_equal(base$groups$std.error, unname(ref[, "se(rmean)"]), tolerance = 1e-12)
  for (k in c(1e160, 2^530, 2^-20)) {
    big <- transform(lung, time = time * k)
    got <- rmst(Surv(time, status) ~ sex, data = big, tau = 700 * k)
    expect_equal(got$groups$rmst / k, base$groups$rmst, tolerance = 1e-13)
    expect_equal(got$groups$std.error / k, base$groups$std.error, tolerance = 1e-13)
    expect_equal(got$contrasts$std.error / c(k, 1), base$contrasts$std.error, tolerance = 1e-13)
  }
  # survfit itself overflows there (NaN standard errors): the rescaled answer is the right one
  big <- transform(lung, time = time * 1e160)
  expect_true(all(is.finite(km_rmean(km_fit(Surv(time, status) ~ sex, big), 700e160)$std.error)))
})
