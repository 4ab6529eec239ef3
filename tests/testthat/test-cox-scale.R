# Scale invariance of the Cox engine: covariates and weights far from unit scale give the
# exactly rescaled answer (coefficients / s, variance / s^2, ...), as survival::coxph does
# for covariates (it rescales columns internally).

lung_cc <- na.omit(survival::lung[, c("time", "status", "age", "sex", "ph.ecog")])
lung_f <- survival::Surv(time, status) ~ age + sex + ph.ecog
rel <- function(a, b) max(abs(a - b) / pmax(abs(b), .Machine$double.xmin))

test_that("a covariate times 1e160 or 1e-200 gives exactly rescaled coefficients (lung)", {
  base <- cox_fit(lung_f, data = lung_cc)
  for (s in c(1e160, 1e-200)) {
    d <- lung_cc
    d$age <- d$age * s
    fit <- suppressWarnings(cox_fit(lung_f, data = d))
    expect_false(anyNA(coef(fit)))
    expect_lt(rel(coef(fit), coef(base) * c(1 / s, 1, 1)), 1e-10)
    expect_lt(rel(fit$loglik, base$loglik), 1e-10)
    expect_lt(rel(fit$score.test[["statistic"]], base$score.test[["statistic"]]), 1e-10)
    expect_lt(rel(fit$linear.predictors, base$linear.predictors), 1e-9)
    expect_lt(rel(sqrt(diag(vcov(fit)))[-1], sqrt(diag(vcov(base)))[-1]), 1e-10)
    expect_false(any(fit$diverged))
  }
})

test_that("x 1e160 agrees with coxph, which manages it; out-of-range variances are flagged", {
  d <- lung_cc
  d$age <- d$age * 1e160
  expect_warning(fit <- cox_fit(lung_f, data = d), class = "rwe_cox_scale")
  ref <- suppressWarnings(survival::coxph(lung_f, data = d))
  expect_lt(rel(coef(fit), coef(ref)), 1e-8)
  expect_lt(rel(fit$loglik, ref$loglik), 1e-10)
  expect_lt(rel(fit$score.test[["statistic"]], ref$score), 1e-8)
  # var(age) = 8.6e-5 / 1e320 is below the double range: no silent Wald test from it
  d$age <- lung_cc$age * 1e-200
  expect_warning(fit <- cox_fit(lung_f, data = d), class = "rwe_cox_scale")
  expect_true(is.na(fit$wald.test[["statistic"]]))
})

test_that("a covariate times 2^-300 or 1e100 rescales every reported number (veteran)", {
  vet_f <- survival::Surv(time, status) ~ karno + age + diagtime
  base <- cox_fit(vet_f, data = survival::veteran, ties = "breslow")
  for (s in c(2^-300, 1e100)) {
    d <- survival::veteran
    d$karno <- d$karno * s
    fit <- cox_fit(vet_f, data = d, ties = "breslow")
    k <- c(s, 1, 1)
    expect_lt(rel(coef(fit), coef(base) / k), 1e-10)
    expect_lt(rel(vcov(fit), vcov(base) / outer(k, k)), 1e-10)
    expect_lt(rel(fit$wald.test[["statistic"]], base$wald.test[["statistic"]]), 1e-10)
    expect_lt(rel(fit$lr.test[["statistic"]], base$lr.test[["statistic"]]), 1e-10)
    expect_lt(rel(fit$score.test[["statistic"]], base$score.test[["statistic"]]), 1e-10)
    ref <- survival::coxph(vet_f, data = d, ties = "breslow")
    expect_lt(rel(coef(fit), coef(ref)), 1e-8)
    expect_lt(rel(vcov(fit), vcov(ref)), 1e-8)
  }
  # a power of two is exact: the same fit bit for bit, up to the factor
  d <- survival::veteran
  d$karno <- d$karno * 2^-300
  fit <- cox_fit(vet_f, data = d, ties = "breslow")
  expect_identical(unname(coef(fit)) * c(2^-300, 1, 1), unname(coef(base)))
})

test_that("cox_fit_matrix and counting-process data are scale-invariant too", {
  x <- as.matrix(lung_cc[, c("age", "sex", "ph.ecog")])
  y <- survival::Surv(lung_cc$time, lung_cc$status)
  base <- cox_fit_matrix(x, y)
  xs <- x
  xs[, "ph.ecog"] <- xs[, "ph.ecog"] * 1e150
  fit <- suppressWarnings(cox_fit_matrix(xs, y))
  expect_lt(rel(coef(fit), coef(base) * c(1, 1, 1e-150)), 1e-10)
  expect_lt(rel(fit$loglik, base$loglik), 1e-10)
  hf <- survival::Surv(start, stop, event) ~ age + surgery
  hb <- cox_fit(hf, data = survival::heart)
  h <- survival::heart
  h$age <- h$age * 1e-180
  hs <- suppressWarnings(cox_fit(hf, data = h))
  expect_lt(rel(coef(hs), coef(hb) * c(1e180, 1)), 1e-10)
  expect_lt(rel(hs$loglik, hb$loglik), 1e-10)
})

test_that("weights times 1e160 or 1e-160 give the exactly rescaled fit", {
  base <- cox_fit(lung_f, data = lung_cc)
  d0 <- sum(lung_cc$status == 2)
  for (s in c(1e160, 1e-160)) {
    d <- lung_cc
    d$w <- s
    fit <- cox_fit(lung_f, data = d, weights = w)
    expect_lt(rel(coef(fit), coef(base)), 1e-10)
    expect_lt(rel(vcov(fit), vcov(base) / s), 1e-10)
    # loglik with weights s: s * (l - log(s) * events)
    expect_lt(rel(fit$loglik, s * (base$loglik - log(s) * d0)), 1e-10)
    expect_lt(rel(fit$score.test[["statistic"]], s * base$score.test[["statistic"]]), 1e-10)
    expect_lt(rel(fit$wald.test[["statistic"]], s * base$wald.test[["statistic"]]), 1e-10)
    expect_lt(rel(fit$lr.test[["statistic"]], s * base$lr.test[["statistic"]]), 1e-8)
    expect_lt(rel(fit$concordance[c("concordance", "std")],
                  base$concordance[c("concordance", "std")]), 1e-10)
  }
  # unequal weights (colon), scaled by 2^-700: coefficients and variance exactly rescaled
  col <- survival::colon[survival::colon$etype == 2, ]
  cf <- survival::Surv(time, status) ~ rx + age + nodes
  col <- na.omit(col[, c("time", "status", "rx", "age", "nodes")])
  col$w <- 1 + (seq_len(nrow(col)) %% 3)
  cb <- cox_fit(cf, data = col, weights = w)
  col$w2 <- col$w * 2^-700
  cs <- cox_fit(cf, data = col, weights = w2)
  expect_lt(rel(coef(cs), coef(cb)), 1e-10)
  expect_lt(rel(vcov(cs), vcov(cb) * 2^700), 1e-10)
  expect_lt(rel(cs$score.test[["statistic"]], cb$score.test[["statistic"]] * 2^-700), 1e-10)
})

test_that("Firth: a covariate times 1e160 or 1e-200 rescales the penalised estimate", {
  base <- cox_fit(lung_f, data = lung_cc, firth = TRUE)
  for (s in c(1e160, 1e-200)) {
    d <- lung_cc
    d$age <- d$age * s
    fit <- cox_fit(lung_f, data = d, firth = TRUE)
    expect_lt(rel(coef(fit), coef(base) * c(1 / s, 1, 1)), 1e-8)
  }
})

test_that("km_fit with weights times 1e-300 or 1e160 matches the unscaled curves and survfit", {
  d <- survival::lung
  d$w <- 1 + (seq_len(nrow(d)) %% 2) * 0.5  # fractional: robust (IJ) standard errors
  base <- km_fit(survival::Surv(time, status) ~ sex, data = d, weights = w)$curves
  d$w <- d$w * 1e-300
  small <- km_fit(survival::Surv(time, status) ~ sex, data = d, weights = w)$curves
  expect_lt(rel(small$surv, base$surv), 1e-12)
  expect_lt(rel(small$std.err.surv, base$std.err.surv), 1e-12)
  expect_lt(rel(small$n.risk, base$n.risk * 1e-300), 1e-12)
  # whole-number weights 1e160: Greenwood, whose variance scales with 1 / weight (as survfit)
  d$w <- 1e160
  big <- km_fit(survival::Surv(time, status) ~ sex, data = d, weights = w)$curves
  ref <- survival::survfit(survival::Surv(time, status) ~ sex, data = d, weights = w)
  expect_lt(rel(big$surv, ref$surv), 1e-12)
  expect_lt(rel(big$n.risk, ref$n.risk), 1e-12)
  # survfit's Greenwood sum overflows here (n^2 = 1e320); the closed form: unweighted / 1e80
  unweighted <- km_fit(survival::Surv(time, status) ~ sex, data = d)$curves
  ok <- is.finite(unweighted$std.err.log)
  expect_lt(rel(big$std.err.log[ok], unweighted$std.err.log[ok] * 1e-80), 1e-12)
})

test_that("Firth with weights 2^500: the fit of weights 1 with the penalty divided by 2^500", {
  x <- as.matrix(lung_cc[, c("age", "sex")])
  y <- survival::Surv(lung_cc$time, lung_cc$status)
  # l*(b; c w) = c (l(b; w) + (penalty / c) log|I(b; w)|) + constants: same maximiser
  a <- cox_firth_matrix(x, y, weights = rep(2^500, nrow(x)), profile = FALSE)
  b <- cox_firth_matrix(x, y, penalty = 0.5 * 2^-500, profile = FALSE)
  expect_true(a$converged)
  expect_lt(rel(a$coefficients, b$coefficients), 1e-8)
  d0 <- sum(lung_cc$status == 2)
  expect_lt(rel(a$loglik_unpenalised, 2^500 * (b$loglik_unpenalised - 500 * log(2) * d0)), 1e-10)
  expect_lt(rel(a$var, b$var * 2^-500), 1e-8)
})
