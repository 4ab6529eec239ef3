rott_rfs <- function() {
  d <- survival::rotterdam
  d$rfs <- pmax(d$recur, d$death)
  d$rfstime <- ifelse(d$recur == 1, d$rtime, d$dtime)
  d$chemo <- factor(d$chemo, 0:1, c("no", "yes"))
  d
}

# Independent g-formula: survival's Efron baseline hazard (basehaz, uncentred) and each row's
# linear predictor from the model terms, S_i(t) = exp(-H0(t) exp(lp_i)), averaged per arm.
gformula_by_hand <- function(cf, data, times) {
  h0 <- survival::basehaz(cf, centered = FALSE)
  H <- c(0, h0$hazard)[findInterval(times, h0$time) + 1L]
  tt <- stats::delete.response(stats::terms(cf))
  out <- vapply(c("no", "yes"), function(a) {
    nd <- data
    nd$chemo <- factor(a, levels = c("no", "yes"))
    x <- stats::model.matrix(tt, stats::model.frame(tt, nd))[, -1L, drop = FALSE]
    lp <- drop(x %*% coef(cf))
    vapply(H, function(h) mean(exp(-h * exp(lp))), numeric(1))
  }, numeric(length(times)))
  matrix(out, nrow = length(times), dimnames = list(NULL, c("no", "yes")))
}

test_that("weighted KM, Cox and RMST equal survfit/coxph with the same weights", {
  d <- rott_rfs()
  ps <- ps_weights(d, "chemo", ~ age + meno + size + nodes + er, estimand = "ATE")
  res <- ps_survival(ps, "rfstime", "rfs", times = c(1826, 3652), gformula = FALSE,
                     bootstrap = 0)
  w <- ps$weights
  cf <- survival::coxph(survival::Surv(rfstime, rfs) ~ chemo, data = d, weights = w,
                        robust = TRUE)
  hr <- res$hr[res$hr$term == "weighted", ]
  expect_equal(hr$log_hr, unname(coef(cf)), tolerance = 1e-8)
  expect_equal(hr$std.error, sqrt(cf$var[1, 1]), tolerance = 1e-8)
  expect_equal(hr$p.value, unname(summary(cf)$coefficients[, "Pr(>|z|)"]), tolerance = 1e-8)
  # weighted log-rank: coxph's robust score test
  expect_equal(res$logrank$statistic, c(cf$rscore), tolerance = 1e-8)
  expect_equal(res$logrank$p.value, unname(summary(cf)$robscore["pvalue"]), tolerance = 1e-8)
  crude <- survival::coxph(survival::Surv(rfstime, rfs) ~ chemo, data = d)
  expect_equal(res$hr$log_hr[1], unname(coef(crude)), tolerance = 1e-8)
  sf <- survival::survfit(survival::Surv(rfstime, rfs) ~ chemo, data = d, weights = w,
                          robust = TRUE)
  expect_equal(res$km$curves$surv, sf$surv, tolerance = 1e-8)
  # survfit's robust std.err is the SE of S itself
  expect_equal(res$km$curves$std.err.surv, sf$std.err, tolerance = 1e-8)
  at <- summary(sf, times = c(1826, 3652))
  ipw <- res$curves[res$curves$method == "IPW", ]
  expect_equal(ipw$estimate, at$surv, tolerance = 1e-8)
  tab <- summary(sf, rmean = res$tau)$table
  expect_equal(res$rmst$estimate[1:2], unname(tab[, "rmean"]), tolerance = 1e-8)
  expect_equal(res$rmst$estimate[3], unname(diff(tab[, "rmean"])), tolerance = 1e-8)
  expect_equal(res$tau, min(tapply(d$rfstime, d$chemo, max)))
})

test_that("g-formula curves equal the mean of coxph's predicted curves", {
  d <- rott_rfs()
  ps <- ps_weights(d, "chemo", ~ age + nodes + er)
  res <- ps_survival(ps, "rfstime", "rfs", times = c(1000, 3000), bootstrap = 0)
  cf <- survival::coxph(survival::Surv(rfstime, rfs) ~ chemo + age + nodes + er, data = d)
  by_arm <- gformula_by_hand(cf, d, c(1000, 3000))
  # spot check of the hand formula against survfit(newdata) for a few rows
  nd <- d[1:5, ]
  nd$chemo <- factor("yes", levels = c("no", "yes"))
  sf <- summary(survival::survfit(cf, newdata = nd), times = 3000)$surv
  expect_equal(mean(sf), unname(gformula_by_hand(cf, d[1:5, ], 3000)[, "yes"]), tolerance = 1e-8)
  gf <- res$curves[res$curves$method == "g-formula", ]
  expect_equal(gf$estimate, c(by_arm), tolerance = 1e-8)
  gd <- res$differences[res$differences$method == "g-formula", ]
  expect_equal(gd$estimate, by_arm[, 2] - by_arm[, 1], tolerance = 1e-8)
})

test_that("the bootstrap re-estimates the score model, is seeded and reproducible", {
  d <- rott_rfs()[seq(1, 2982, by = 3), ]
  ps <- ps_weights(d, "chemo", ~ age + nodes)
  a <- ps_survival(ps, "rfstime", "rfs", times = 2000, bootstrap = 4, seed = 3)
  b <- ps_survival(ps, "rfstime", "rfs", times = 2000, bootstrap = 4, seed = 3)
  expect_identical(a$replicates, b$replicates)
  expect_equal(nrow(a$replicates), 4)
  # replicate 1 by hand: resample rows, refit glm, refit the weighted Cox
  set.seed(3)
  idx <- sample.int(nrow(d), nrow(d), replace = TRUE)
  db <- d[idx, ]
  e <- fitted(glm(chemo ~ age + nodes, family = binomial, data = db))
  wb <- ifelse(db$chemo == "yes", 1 / e, 1 / (1 - e))
  cb <- survival::coxph(survival::Surv(rfstime, rfs) ~ chemo, data = db, weights = wb)
  expect_equal(unname(a$replicates[1, "log_hr"]), unname(coef(cb)), tolerance = 1e-8)
  hr <- a$hr[2, ]
  expect_equal(hr$boot.conf.low, exp(quantile(a$replicates[, "log_hr"], 0.025, names = FALSE)))
  expect_equal(hr$boot.std.error, sd(a$replicates[, "log_hr"]))
  expect_output(print(a), "Hazard ratio")
  expect_output(print(a), "weighted log-rank")
  expect_s3_class(plot(a), "ggplot")
  expect_s3_class(generics::tidy(a, "curves"), "data.frame")
})

test_that("ps_survival() refuses bad input", {
  d <- rott_rfs()
  ps <- ps_weights(d, "chemo", ~ age)
  expect_error(ps_survival(list(), "rfstime", "rfs"), class = "rwe_bad_input")
  expect_error(ps_survival(ps, "nope", "rfs"), class = "rwe_bad_input")
  expect_error(ps_survival(ps, "rfstime", "rfs", bootstrap = -1), class = "rwe_bad_input")
  expect_error(ps_survival(ps, "rfstime", "rfs", tau = 1e6), class = "rwe_bad_input")
  d$rfs[5] <- NA
  ps2 <- ps_weights(d, "chemo", ~ age)
  expect_error(ps_survival(ps2, "rfstime", "rfs", bootstrap = 0), class = "rwe_bad_input",
               regexp = "row: 5")
})

test_that("vignette numbers: the comparative-effectiveness analysis against survival", {
  rott <- rott_rfs()
  rott$meno <- factor(rott$meno, 0:1, c("pre", "post"))
  rott$grade <- factor(rott$grade)
  f <- ~ splines::ns(age, 3) + meno + size + grade + nodes + log1p(nodes) + pgr + er
  expect_error(ps_weights(rott, "chemo", f, estimand = "ATE"), class = "rwe_bad_input",
               regexp = "separation")
  ps <- ps_weights(rott, "chemo", f, estimand = "ATO")
  g <- glm(chemo ~ splines::ns(age, 3) + meno + size + grade + nodes + log1p(nodes) + pgr +
             er, family = binomial, data = rott)
  e <- unname(fitted(g))
  w <- ifelse(rott$chemo == "yes", 1 - e, e)
  expect_equal(ps$weights, w, tolerance = 1e-10)
  # overlap weights with a logistic model balance the model's covariates exactly
  bal <- balance_table(ps)
  expect_equal(bal$smd_after, rep(0, nrow(bal)), tolerance = 1e-6)
  t1 <- rott$chemo == "yes"
  expect_equal(bal$smd_before[1], (mean(rott$age[t1]) - mean(rott$age[!t1])) /
                 sqrt((var(rott$age[t1]) + var(rott$age[!t1])) / 2))
  times <- round(c(5, 10) * 365.25)
  res <- ps_survival(ps, "rfstime", "rfs", times = times, bootstrap = 0)
  crude <- survival::coxph(survival::Surv(rfstime, rfs) ~ chemo, data = rott)
  expect_equal(res$hr$estimate[1], unname(exp(coef(crude))), tolerance = 1e-8)
  cw <- survival::coxph(survival::Surv(rfstime, rfs) ~ chemo, data = rott, weights = w,
                        robust = TRUE)
  expect_equal(res$hr$estimate[2], unname(exp(coef(cw))), tolerance = 1e-8)
  expect_equal(res$hr$std.error[2], sqrt(cw$var[1, 1]), tolerance = 1e-8)
  expect_equal(res$logrank$statistic, c(cw$rscore), tolerance = 1e-8)
  sf <- survival::survfit(survival::Surv(rfstime, rfs) ~ chemo, data = rott, weights = w)
  ipw <- res$curves[res$curves$method == "IPW", ]
  expect_equal(ipw$estimate, summary(sf, times = times)$surv, tolerance = 1e-8)
  tab <- summary(sf, rmean = res$tau)$table
  expect_equal(res$rmst$estimate, c(tab[, "rmean"], diff(tab[, "rmean"])),
               tolerance = 1e-8, ignore_attr = TRUE)
  co <- survival::coxph(survival::Surv(rfstime, rfs) ~ chemo + splines::ns(age, 3) + meno +
                          size + grade + nodes + log1p(nodes) + pgr + er, data = rott)
  gf <- gformula_by_hand(co, rott, times)
  expect_equal(res$curves$estimate[res$curves$method == "g-formula"], c(gf), tolerance = 1e-8)
  # the trimmed ATE sensitivity analysis
  tr <- ps_weights(rott, "chemo", f, estimand = "ATE", trim = 0.05)
  keep <- e >= 0.05 & e <= 0.95
  wt <- ifelse(rott$chemo == "yes", 1 / e, 1 / (1 - e))[keep]
  ct <- survival::coxph(survival::Surv(rfstime, rfs) ~ chemo, data = rott[keep, ],
                        weights = wt, robust = TRUE)
  rt <- ps_survival(tr, "rfstime", "rfs", gformula = FALSE, bootstrap = 0)
  expect_equal(rt$hr$estimate[2], unname(exp(coef(ct))), tolerance = 1e-8)
  # E-value, common outcome, from the closed form
  s <- ps_sensitivity(res, rare = FALSE)
  hr <- res$hr$estimate[2]
  rr <- (1 - 0.5^sqrt(hr)) / (1 - 0.5^sqrt(1 / hr))
  expect_equal(s$e_value$e_value, 1 / rr + sqrt(1 / rr * (1 / rr - 1)))
})

test_that("replicates the pipeline refuses are counted as failed and dropped", {
  # 32 patients, 2 treated: some resamples have a single arm
  d <- rott_rfs()
  d <- d[c(which(d$chemo == "no")[seq(1, 2400, by = 80)],
           which(d$chemo == "yes" & d$rfs == 1)[1:2]), ]
  ps <- ps_weights(d, "chemo", ~ age)
  res <- suppressWarnings(ps_survival(ps, "rfstime", "rfs", times = 1000, gformula = FALSE,
                                      bootstrap = 30, seed = 1))
  expect_gt(res$failed, 0)
  expect_equal(nrow(res$replicates) + res$failed, 30)
  expect_output(print(res), "failed, dropped")
})

test_that("for the ATT the g-formula averages over the treated patients", {
  d <- rott_rfs()
  ps <- ps_weights(d, "chemo", ~ age + nodes, estimand = "ATT")
  res <- ps_survival(ps, "rfstime", "rfs", times = c(1000, 3000), bootstrap = 0)
  cf <- survival::coxph(survival::Surv(rfstime, rfs) ~ chemo + age + nodes, data = d)
  by_arm <- gformula_by_hand(cf, d[d$chemo == "yes", ], c(1000, 3000))
  gf <- res$curves[res$curves$method == "g-formula", ]
  expect_equal(gf$estimate, c(by_arm), tolerance = 1e-8)
  e <- fitted(glm(chemo ~ age + nodes, family = binomial, data = d))
  w <- ifelse(d$chemo == "yes", 1, e / (1 - e))
  cw <- survival::coxph(survival::Surv(rfstime, rfs) ~ chemo, data = d, weights = w,
                        robust = TRUE)
  expect_equal(res$hr$log_hr[2], unname(coef(cw)), tolerance = 1e-8)
  expect_equal(res$hr$std.error[2], sqrt(cw$var[1, 1]), tolerance = 1e-8)
})
