# Firth-penalised Cox engine: against coxphf (Breslow ties, no strata/weights: all that coxphf
# supports), against survival::coxph with the penalty switched off, and against numerical
# derivatives of our own penalised log-likelihood (Efron ties, strata, weights, offsets,
# counting process), which coxphf cannot check.

library(survival)

tight_coxphf <- function(formula, data) {
  coxphf::coxphf(formula, data = data, epsilon = 1e-10, gconv = 1e-10, maxit = 200)
}

# Compares every reported number with coxphf. coxphf's log-likelihood is that of the model
# on covariates scaled to unit SD, which shifts log|I| by -2 sum(log sd).
expect_matches_coxphf <- function(res, ref, x, tol = 1e-6) {
  expect_true(res$converged)
  expect_equal(unname(res$coefficients), unname(ref$coefficients), tolerance = tol)
  expect_equal(unname(res$var), unname(ref$var), tolerance = tol)
  shift <- sum(log(apply(x, 2, stats::sd)))
  expect_equal(unname(res$loglik), ref$loglik + shift, tolerance = tol)
  expect_equal(res$lr_test$statistic, 2 * diff(ref$loglik), tolerance = tol)
  expect_equal(res$lr_test$df, ref$df)
  expect_equal(exp(res$profile$conf.low), unname(ref$ci.lower), tolerance = tol)
  expect_equal(exp(res$profile$conf.high), unname(ref$ci.upper), tolerance = tol)
  expect_equal(res$profile$p.value, unname(ref$prob), tolerance = tol)
  expect_true(all(res$profile$conf.low.converged & res$profile$conf.high.converged &
                    res$profile$test.converged))
}

lung_cc <- stats::na.omit(survival::lung[, c("time", "status", "age", "sex", "ph.ecog",
                                             "wt.loss", "inst")])
lung_x <- as.matrix(lung_cc[, c("age", "sex", "ph.ecog", "wt.loss")])
lung_y <- Surv(lung_cc$time, lung_cc$status)

# A small cohort in which no patient with x1 = 1 has an event: monotone likelihood.
sim_monotone <- function() {
  set.seed(20240601)
  n <- 40
  d <- data.frame(x1 = rep(0:1, c(32, 8)), x2 = round(rnorm(n), 1))
  d$time <- round(rexp(n, 0.1 * exp(0.5 * d$x2)), 0) + 1
  d$status <- as.numeric(runif(n) < 0.6)
  d$status[d$x1 == 1] <- 0
  d
}

test_that("coxphf's monotone 3-subject example", {
  skip_if_not_installed("coxphf")
  d <- data.frame(time = c(1, 2, 3), cens = c(1, 1, 1), x = c(1, 1, 0))
  ref <- tight_coxphf(Surv(time, cens) ~ x, d)
  x <- cbind(x = d$x)
  res <- cox_firth_matrix(x, Surv(d$time, d$cens))
  expect_matches_coxphf(res, ref, x)
  expect_equal(res$profile$term, "x")
  # with one coefficient the profile test is the global test
  expect_equal(res$profile$statistic, res$lr_test$statistic, tolerance = 1e-10)
})

test_that("coxphf's counting-process examples (test2, and test3 with monotone x)", {
  skip_if_not_installed("coxphf")
  test2 <- data.frame(start = c(1, 2, 5, 2, 1, 7, 3, 4, 8, 8),
                      stop = c(2, 3, 6, 7, 8, 9, 9, 9, 14, 17),
                      event = c(1, 1, 1, 1, 1, 1, 1, 0, 0, 0),
                      x = c(1, 0, 0, 1, 0, 1, 1, 1, 0, 0))
  ref <- tight_coxphf(Surv(start, stop, event) ~ x, test2)
  x <- cbind(x = test2$x)
  res <- cox_firth_matrix(x, Surv(test2$start, test2$stop, test2$event))
  expect_matches_coxphf(res, ref, x)
  test3 <- test2
  test3$event <- c(1, 0, 0, 1, 0, 1, 1, 0, 0, 0)
  ref3 <- tight_coxphf(Surv(start, stop, event) ~ x, test3)
  res3 <- cox_firth_matrix(x, Surv(test3$start, test3$stop, test3$event))
  expect_matches_coxphf(res3, ref3, x)
})

test_that("coxphf's breast data", {
  skip_if_not_installed("coxphf")
  breast <- get(utils::data("breast", package = "coxphf", envir = environment()))
  ref <- tight_coxphf(Surv(TIME, CENS) ~ T + N + G + CD, breast)
  x <- as.matrix(breast[, c("T", "N", "G", "CD")])
  res <- cox_firth_matrix(x, Surv(breast$TIME, breast$CENS))
  expect_matches_coxphf(res, ref, x)
})

test_that("survival::lung (tied times), four covariates", {
  skip_if_not_installed("coxphf")
  ref <- tight_coxphf(Surv(time, status) ~ age + sex + ph.ecog + wt.loss, lung_cc)
  res <- cox_firth_matrix(lung_x, lung_y)
  expect_matches_coxphf(res, ref, lung_x)
  expect_equal(res$profile$term, colnames(lung_x))
  expect_equal(res$n, nrow(lung_x))
  # `which` profiles a subset, by name or position, with the same numbers
  sub <- cox_firth_matrix(lung_x, lung_y, which = c("ph.ecog", "sex"))
  expect_equal(sub$profile$term, c("ph.ecog", "sex"))
  expect_equal(sub$profile$conf.low, res$profile$conf.low[c(3, 2)], tolerance = 1e-9)
  expect_equal(cox_firth_matrix(lung_x, lung_y, which = 3)$profile$p.value,
               res$profile$p.value[3], tolerance = 1e-9)
})

test_that("simulated cohort with a monotone-likelihood covariate", {
  skip_if_not_installed("coxphf")
  d <- sim_monotone()
  ref <- tight_coxphf(Surv(time, status) ~ x1 + x2, d)
  x <- as.matrix(d[, c("x1", "x2")])
  res <- cox_firth_matrix(x, Surv(d$time, d$status))
  expect_matches_coxphf(res, ref, x)
  expect_true(res$coefficients[["x1"]] < -1)
  expect_true(is.finite(res$profile$conf.low[1]))
  # the ordinary likelihood is monotone: coxph's estimate runs away
  plain <- suppressWarnings(coxph(Surv(time, status) ~ x1 + x2, d))
  expect_true(coef(plain)[["x1"]] < -10)
})

test_that("driving-study shape: 26 patients, a one-patient subgroup with an early event", {
  skip_if_not_installed("coxphf")
  set.seed(1)
  d <- data.frame(time = round(runif(26, 1, 30), 1), status = rbinom(26, 1, 0.42), hfs = 1,
                  age = 0)
  d$hfs[1] <- 0
  d$time[1] <- 5.0
  d$status[1] <- 1
  early <- d$time < 5.0 & d$status == 1
  d$time[early] <- d$time[early] + 5
  d$age <- round(rnorm(26, 60, 8))
  x <- as.matrix(d[, c("hfs", "age")])
  # the Fisher-scoring iteration of coxphf crawls here; give it room
  ref <- coxphf::coxphf(Surv(time, status) ~ hfs + age, d, epsilon = 1e-10, gconv = 1e-10,
                        maxit = 2000)
  res <- cox_firth_matrix(x, Surv(d$time, d$status))
  expect_matches_coxphf(res, ref, x)
  expect_lt(res$iter, 20)
})

test_that("penalty = 0 is the ordinary Cox fit: Breslow and Efron against coxph", {
  ctl <- coxph.control(eps = 1e-14, iter.max = 100, toler.chol = 1e-15)
  for (ties in c("breslow", "efron")) {
    ref <- coxph(Surv(time, status) ~ age + sex + ph.ecog + wt.loss, lung_cc, ties = ties,
                 control = ctl)
    res <- cox_firth_matrix(lung_x, lung_y, ties = ties, penalty = 0, profile = FALSE)
    expect_equal(unname(res$coefficients), unname(coef(ref)), tolerance = 1e-8)
    expect_equal(unname(res$var), unname(ref$var), tolerance = 1e-8)
    expect_equal(unname(res$loglik), ref$loglik, tolerance = 1e-10)
    expect_equal(unname(res$loglik_unpenalised), ref$loglik, tolerance = 1e-10)
  }
})

test_that("penalty = 0 with strata, weights, offset and counting process equals coxph", {
  ctl <- coxph.control(eps = 1e-14, iter.max = 100, toler.chol = 1e-15)
  set.seed(11)
  w <- runif(nrow(lung_cc), 0.2, 3)
  off <- 0.01 * lung_cc$age
  for (ties in c("breslow", "efron")) {
    ref <- coxph(Surv(time, status) ~ sex + ph.ecog + wt.loss + strata(inst > 10) +
                   offset(off), lung_cc, weights = w, ties = ties, control = ctl)
    res <- cox_firth_matrix(lung_x[, -1], lung_y, strata = lung_cc$inst > 10, weights = w,
                            offset = off, ties = ties, penalty = 0, profile = FALSE)
    expect_equal(unname(res$coefficients), unname(coef(ref)), tolerance = 1e-8)
    # with case weights coxph's `var` is the robust one; ours is the model-based one
    expect_equal(unname(res$var), unname(ref$naive.var), tolerance = 1e-8)
    expect_equal(unname(res$loglik), ref$loglik, tolerance = 1e-10)
  }
  cgd <- survival::cgd
  xc <- cbind(treat = as.numeric(cgd$treat == "rIFN-g"), age = cgd$age,
              steroids = cgd$steroids)
  yc <- Surv(cgd$tstart, cgd$tstop, cgd$status)
  for (ties in c("breslow", "efron")) {
    ref <- coxph(yc ~ xc + strata(cgd$hos.cat), ties = ties, control = ctl)
    res <- cox_firth_matrix(xc, yc, strata = cgd$hos.cat, ties = ties, penalty = 0,
                            profile = FALSE)
    expect_equal(unname(res$coefficients), unname(coef(ref)), tolerance = 1e-8)
    expect_equal(unname(res$var), unname(ref$var), tolerance = 1e-8)
    expect_equal(unname(res$loglik), ref$loglik, tolerance = 1e-10)
  }
})

# Central differences of a scalar function.
num_grad <- function(f, b, h = 1e-5) {
  vapply(seq_along(b), function(j) {
    e <- replace(numeric(length(b)), j, h)
    (f(b + e) - f(b - e)) / (2 * h)
  }, numeric(1))
}

# Checks score = d loglik, info = -d score, dinfo = d info, penalised score = d penalised
# loglik (numerically), at a point away from the optimum.
expect_consistent_derivatives <- function(x, y, beta, ...) {
  at <- function(b) firth_eval_matrix(x, y, b, ...)
  e <- at(beta)
  expect_true(e$ok)
  scale <- max(1, abs(e$pen_score))
  expect_equal(e$score, num_grad(function(b) at(b)$loglik, beta), tolerance = 1e-6)
  expect_equal(e$pen_score, num_grad(function(b) at(b)$pen_loglik, beta), tolerance = 1e-6)
  expect_equal(e$pen_loglik, e$loglik + 0.5 * as.numeric(determinant(e$info)$modulus),
               tolerance = 1e-12)
  for (k in seq_along(beta)) {
    h <- replace(numeric(length(beta)), k, 1e-5)
    d_info <- (at(beta + h)$info - at(beta - h)$info) / 2e-5
    expect_equal(e$dinfo[, , k], d_info, tolerance = 1e-6)
    d_score <- (at(beta + h)$score - at(beta - h)$score) / 2e-5
    expect_equal(-e$info[, k], d_score, tolerance = 1e-6)
  }
}

test_that("Efron (and Breslow) derivatives equal numerical derivatives", {
  # months: heavy ties
  y <- Surv(ceiling(lung_cc$time / 30.5), lung_cc$status)
  x <- lung_x
  x[, "age"] <- x[, "age"] / 10
  x[, "wt.loss"] <- x[, "wt.loss"] / 10
  beta <- c(0.1, -0.4, 0.3, -0.05)
  expect_consistent_derivatives(x, y, beta, ties = "efron")
  expect_consistent_derivatives(x, y, beta, ties = "breslow")
  set.seed(3)
  w <- runif(nrow(x), 0.5, 2)
  expect_consistent_derivatives(x, y, beta, ties = "efron", weights = w,
                                strata = lung_cc$inst %% 3, offset = rnorm(nrow(x), 0, 0.2))
})

test_that("counting process with strata: derivatives equal numerical derivatives", {
  cgd <- survival::cgd
  xc <- cbind(treat = as.numeric(cgd$treat == "rIFN-g"), age = cgd$age / 10,
              steroids = cgd$steroids)
  yc <- Surv(ceiling(cgd$tstart / 30), ceiling(cgd$tstop / 30) + 1, cgd$status)
  expect_consistent_derivatives(xc, yc, c(-0.8, -0.2, 0.5), ties = "efron",
                                strata = cgd$hos.cat)
  expect_consistent_derivatives(xc, yc, c(-0.8, -0.2, 0.5), ties = "breslow",
                                strata = cgd$hos.cat, weights = rep(c(1, 2), length.out = nrow(cgd)))
})

# Maximises the penalised log-likelihood over all coefficients but j (held at b), with
# stats::optim and our analytic gradient: an independent check of the profile.
profile_by_optim <- function(x, y, j, b, start, ...) {
  f <- function(o) -firth_eval_matrix(x, y, append(o, b, j - 1), ...)$pen_loglik
  g <- function(o) -firth_eval_matrix(x, y, append(o, b, j - 1), ...)$pen_score[-j]
  fit <- stats::optim(start[-j], f, g, method = "BFGS",
                      control = list(reltol = 1e-15, maxit = 500))
  -fit$value
}

test_that("Efron with strata and weights: fit, intervals and tests against the oracle", {
  d <- sim_monotone()
  set.seed(5)
  w <- runif(nrow(d), 0.5, 2)
  s <- rep(1:2, 20)
  x <- as.matrix(d[, c("x1", "x2")])
  y <- Surv(d$time, d$status)
  res <- cox_firth_matrix(x, y, strata = s, weights = w, ties = "efron")
  expect_true(res$converged)
  at_hat <- firth_eval_matrix(x, y, res$coefficients, strata = s, weights = w, ties = "efron")
  expect_lt(max(abs(at_hat$pen_score)), 1e-7)
  expect_equal(res$var, solve(at_hat$info), tolerance = 1e-8, ignore_attr = TRUE)
  expect_equal(unname(res$loglik[["final"]]), at_hat$pen_loglik, tolerance = 1e-10)
  crit <- stats::qchisq(0.95, 1)
  for (j in 1:2) {
    for (end in c("conf.low", "conf.high")) {
      b <- res$profile[[end]][j]
      l_p <- profile_by_optim(x, y, j, b, res$coefficients, strata = s, weights = w,
                              ties = "efron")
      expect_equal(2 * (res$loglik[["final"]] - l_p), crit, tolerance = 1e-6)
    }
    l_0 <- profile_by_optim(x, y, j, 0, res$coefficients, strata = s, weights = w,
                            ties = "efron")
    expect_equal(res$profile$statistic[j], 2 * (res$loglik[["final"]] - l_0),
                 tolerance = 1e-6)
  }
  at0 <- firth_eval_matrix(x, y, c(0, 0), strata = s, weights = w, ties = "efron")
  expect_equal(unname(res$loglik[["init"]]), at0$pen_loglik, tolerance = 1e-12)
})

test_that("Breslow case weights equal replicated rows", {
  d <- sim_monotone()
  w <- rep(1:2, 20)
  x <- as.matrix(d[, c("x1", "x2")])
  res_w <- cox_firth_matrix(x, Surv(d$time, d$status), weights = w)
  rep_rows <- rep(seq_len(nrow(d)), w)
  res_r <- cox_firth_matrix(x[rep_rows, ], Surv(d$time, d$status)[rep_rows])
  expect_equal(res_w$coefficients, res_r$coefficients, tolerance = 1e-8)
  expect_equal(res_w$var, res_r$var, tolerance = 1e-8)
  expect_equal(res_w$profile$conf.low, res_r$profile$conf.low, tolerance = 1e-7)
  expect_equal(res_w$profile$p.value, res_r$profile$p.value, tolerance = 1e-7)
})

test_that("zero case weights are dropped rows (Efron ties included)", {
  y <- Surv(ceiling(lung_cc$time / 60), lung_cc$status)
  set.seed(4)
  w <- sample(c(0, 1, 2.5), nrow(lung_x), replace = TRUE)
  keep <- w > 0
  res_w <- cox_firth_matrix(lung_x, y, weights = w, ties = "efron", which = 2)
  res_d <- cox_firth_matrix(lung_x[keep, ], y[keep], weights = w[keep], ties = "efron",
                            which = 2)
  expect_equal(res_w$coefficients, res_d$coefficients, tolerance = 1e-9)
  expect_equal(res_w$var, res_d$var, tolerance = 1e-9)
  expect_equal(res_w$loglik, res_d$loglik, tolerance = 1e-10)
  expect_equal(res_w$profile$conf.low, res_d$profile$conf.low, tolerance = 1e-8)
})

test_that("non-convergence is reported, not silent; profile = FALSE skips the profile", {
  expect_warning(res <- cox_firth_matrix(lung_x, lung_y, control = firth_control(iter.max = 1),
                                         profile = FALSE),
                 class = "rwe_not_converged", regexp = "did not converge")
  expect_false(res$converged)
  expect_null(res$profile)
  expect_warning(
    expect_warning(cox_firth_matrix(lung_x, lung_y, which = "sex",
                                    control = firth_control(iter.max = 2)),
                   class = "rwe_not_converged", regexp = "fit did not converge"),
    class = "rwe_not_converged", regexp = "Profile .* \"sex\""
  )
})

test_that("bad input is refused with the argument named", {
  y <- Surv(c(1, 2, 3), c(1, 1, 0))
  x <- cbind(a = c(1, 0, 1))
  expect_error(cox_firth_matrix(x[1:2, , drop = FALSE], y), class = "rwe_bad_input",
               regexp = "x")
  expect_error(cox_firth_matrix(x, y, weights = c(1, -1, 1)), class = "rwe_bad_input",
               regexp = "weights")
  expect_error(cox_firth_matrix(x, y, weights = c(1, 1)), class = "rwe_bad_input",
               regexp = "weights")
  expect_error(cox_firth_matrix(x, Surv(c(1, 2, 3), c(0, 0, 0))), class = "rwe_bad_input",
               regexp = "no events")
  expect_error(cox_firth_matrix(cbind(a = c(1, NA, 1)), y), class = "rwe_bad_input",
               regexp = "x")
  expect_error(cox_firth_matrix(x, y, strata = c(1, NA, 2)), class = "rwe_bad_input",
               regexp = "strata")
  expect_error(cox_firth_matrix(x, y, strata = 1:2), class = "rwe_bad_input",
               regexp = "strata")
  expect_error(cox_firth_matrix(x, y, offset = c(0, Inf, 0)), class = "rwe_bad_input",
               regexp = "offset")
  expect_error(cox_firth_matrix(x, c(1, 2, 3)), class = "rwe_bad_input", regexp = "y")
  expect_error(cox_firth_matrix(x, Surv(c(1, NA, 3), c(1, 1, 0))), class = "rwe_bad_input",
               regexp = "y")
  expect_error(cox_firth_matrix(cbind(a = 1, b = c(1, 0, 1)), y), class = "rwe_bad_input",
               regexp = "constant")
  expect_error(cox_firth_matrix(cbind(a = c(1, 0, 1), b = c(2, 0, 2)), y),
               class = "rwe_bad_input", regexp = "collinear")
  expect_error(cox_firth_matrix(x, y, which = "zz"), class = "rwe_bad_input", regexp = "which")
  expect_error(cox_firth_matrix(x, y, conf.level = 2), class = "rwe_bad_input",
               regexp = "conf.level")
  expect_error(cox_firth_matrix(x, y, penalty = -1), class = "rwe_bad_input",
               regexp = "penalty")
  expect_error(firth_control(eps = 0), class = "rwe_bad_input", regexp = "eps")
})

# ---- cox_fit(..., firth = TRUE): the formula-level wiring and the rwe_cox_firth methods ----

expect_fit_matches_coxphf <- function(fit, ref, tol = 1e-6) {
  expect_s3_class(fit, c("rwe_cox_firth", "rwe_cox"), exact = TRUE)
  expect_true(fit$converged)
  expect_equal(unname(coef(fit)), unname(ref$coefficients), tolerance = tol)
  expect_equal(unname(vcov(fit)), unname(ref$var), tolerance = tol)
  expect_equal(fit$lr.test[["statistic"]], 2 * diff(ref$loglik), tolerance = tol)
  td <- generics::tidy(fit, exponentiate = TRUE)
  expect_equal(td$estimate, unname(exp(ref$coefficients)), tolerance = tol)
  expect_equal(td$conf.low, unname(ref$ci.lower), tolerance = tol)
  expect_equal(td$conf.high, unname(ref$ci.upper), tolerance = tol)
  expect_equal(td$p.value, unname(ref$prob), tolerance = tol)
  expect_equal(exp(unname(confint(fit))), unname(cbind(ref$ci.lower, ref$ci.upper)),
               tolerance = tol)
}

test_that("cox_fit(firth = TRUE) equals coxphf on its examples and on lung (Breslow)", {
  skip_if_not_installed("coxphf")
  breast <- get(utils::data("breast", package = "coxphf", envir = environment()))
  f <- Surv(TIME, CENS) ~ T + N + G + CD
  expect_fit_matches_coxphf(cox_fit(f, breast, ties = "breslow", firth = TRUE),
                            tight_coxphf(f, breast))
  test2 <- data.frame(start = c(1, 2, 5, 2, 1, 7, 3, 4, 8, 8),
                      stop = c(2, 3, 6, 7, 8, 9, 9, 9, 14, 17),
                      event = c(1, 0, 0, 1, 0, 1, 1, 0, 0, 0),
                      x = c(1, 0, 0, 1, 0, 1, 1, 1, 0, 0))
  f2 <- Surv(start, stop, event) ~ x
  expect_fit_matches_coxphf(cox_fit(f2, test2, ties = "breslow", firth = TRUE),
                            tight_coxphf(f2, test2))
  f3 <- Surv(time, status) ~ age + ph.ecog
  fit <- cox_fit(f3, lung_cc, ties = "breslow", firth = TRUE)
  expect_fit_matches_coxphf(fit, tight_coxphf(f3, lung_cc))
  expect_equal(fit$n, nrow(lung_cc))
  expect_equal(fit$nevent, sum(lung_cc$status == 2))
})

test_that("firth = TRUE uses the same design, strata, weights and offset as the matrix engine", {
  d <- lung_cc[1:80, ]
  d$w <- rep(c(1, 2, 0.5), length.out = nrow(d))
  d$off <- 0.01 * d$age
  d$ecog <- factor(pmin(d$ph.ecog, 2))
  fit <- cox_fit(Surv(time, status) ~ age + ecog + strata(sex) + offset(off), data = d,
                 weights = w, ties = "efron", firth = TRUE)
  x <- stats::model.matrix(~ age + ecog, d)[, -1]
  ref <- cox_firth_matrix(x, Surv(d$time, d$status), strata = d$sex, weights = d$w,
                          offset = d$off, ties = "efron")
  expect_equal(coef(fit), ref$coefficients, tolerance = 1e-12)
  expect_equal(vcov(fit), ref$var, tolerance = 1e-12)
  expect_equal(unname(fit$loglik), unname(ref$loglik), tolerance = 1e-12)
  expect_equal(generics::tidy(fit)$conf.low, ref$profile$conf.low, tolerance = 1e-12)
  expect_equal(generics::tidy(fit)$statistic, ref$profile$statistic, tolerance = 1e-12)
  expect_equal(fit$method, "efron")
  expect_equal(names(fit$assign), c("age", "ecog"))
})

test_that("Efron via cox_fit: the penalised score is zero and the profile ends are at the cut", {
  fit <- cox_fit(Surv(time, status) ~ age + sex, data = lung_cc, firth = TRUE)
  x <- as.matrix(lung_cc[, c("age", "sex")])
  ev <- firth_eval_matrix(x, lung_y, coef(fit), ties = "efron")
  expect_lt(max(abs(ev$pen_score)), 1e-6)
  # at a profile interval end, 2 (l*(b) - l*_profile(end)) = qchisq(0.95, 1)
  prof <- cox_firth_matrix(x, lung_y, ties = "efron", which = "sex")$profile
  expect_equal(prof$conf.low, generics::tidy(fit)$conf.low[2], tolerance = 1e-8)
})

test_that("print, summary, glance and the refusal of robust / cluster", {
  fit <- cox_fit(Surv(time, status) ~ age + sex, data = lung, ties = "breslow", firth = TRUE)
  expect_output(print(fit), "Firth-penalised; CIs and p-values by profile penalised likelihood",
                fixed = TRUE)
  expect_output(print(summary(fit)), "Penalised log-likelihood")
  gl <- generics::glance(fit)
  expect_equal(gl$statistic.log, fit$lr.test[["statistic"]])
  expect_equal(gl$df.log, 2)
  expect_named(generics::tidy(fit), c("term", "estimate", "std.error", "statistic", "p.value",
                                      "conf.low", "conf.high"))
  expect_error(confint(fit, level = 0.9), class = "rwe_bad_input", regexp = "level")
  expect_error(cox_fit(Surv(time, status) ~ age, data = lung, firth = TRUE, robust = TRUE),
               class = "rwe_bad_input", regexp = "robust")
  expect_error(cox_fit(Surv(time, status) ~ age + cluster(inst), data = lung, firth = TRUE),
               class = "rwe_bad_input", regexp = "cluster")
  expect_error(cox_fit(Surv(time, status) ~ age, data = lung, firth = TRUE, init = 0.1),
               class = "rwe_bad_input", regexp = "init")
  expect_error(cox_fit(Surv(time, status) ~ 1, data = lung, firth = TRUE),
               class = "rwe_bad_input", regexp = "formula")
})

test_that("an ordinary fit with monotone likelihood is flagged in tidy and print", {
  d <- sim_monotone()
  fit <- suppressWarnings(cox_fit(Surv(time, status) ~ x1 + x2, data = d))
  td <- generics::tidy(fit)
  expect_equal(td$flag[1], "monotone likelihood: HR may be infinite; consider firth = TRUE")
  expect_true(is.na(td$flag[2]))
  expect_output(print(fit), "consider firth = TRUE")
  ok <- generics::tidy(cox_fit(Surv(time, status) ~ age, data = lung))
  expect_false("flag" %in% names(ok))
})
