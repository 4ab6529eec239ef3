# anova / extractAIC / drop1 / step / update / model.frame / model.matrix / augment of rwe_cox
# fits against survival::coxph on lung, colon and veteran.

suppressPackageStartupMessages(library(survival))

tol <- 1e-8
lung_cc <- na.omit(lung[, c("time", "status", "age", "sex", "ph.ecog", "wt.loss", "inst")])
colon_d <- na.omit(colon[colon$etype == 2, c("time", "status", "rx", "age", "sex", "nodes",
                                            "differ")])

expect_same_anova <- function(ours, ref) {
  expect_s3_class(ours, c("anova", "data.frame"), exact = TRUE)
  expect_identical(names(ours), names(ref))
  expect_identical(rownames(ours), rownames(ref))
  for (col in names(ref)) expect_equal(ours[[col]], ref[[col]], tolerance = tol, info = col)
  expect_identical(attr(ours, "heading"), attr(ref, "heading"))
}

test_that("anova(m1, m2, m3) equals anova.coxph on lung and colon", {
  f <- list(Surv(time, status) ~ age, Surv(time, status) ~ age + sex,
            Surv(time, status) ~ age + sex + ph.ecog)
  ours <- lapply(f, cox_fit, data = lung_cc)
  ref <- lapply(f, coxph, data = lung_cc)
  expect_same_anova(anova(ours[[1]], ours[[2]], ours[[3]]), anova(ref[[1]], ref[[2]], ref[[3]]))
  # a factor with 3 levels: Df 2
  c1 <- cox_fit(Surv(time, status) ~ age + nodes, data = colon_d)
  c2 <- cox_fit(Surv(time, status) ~ age + nodes + rx, data = colon_d)
  r1 <- coxph(Surv(time, status) ~ age + nodes, data = colon_d)
  r2 <- coxph(Surv(time, status) ~ age + nodes + rx, data = colon_d)
  a <- anova(c1, c2)
  expect_same_anova(a, anova(r1, r2))
  expect_equal(a$Df[2], 2)
  expect_same_anova(anova(c1, c2, test = NULL), anova(r1, r2, test = NULL))
})

test_that("sequential anova(m) equals anova.coxph, with factors, strata and x = FALSE", {
  m <- cox_fit(Surv(time, status) ~ age + sex + ph.ecog, data = lung_cc)
  expect_same_anova(anova(m), anova(coxph(Surv(time, status) ~ age + sex + ph.ecog, data = lung_cc)))
  m <- cox_fit(Surv(time, status) ~ age + factor(ph.ecog) + strata(inst), data = lung_cc, x = FALSE)
  r <- coxph(Surv(time, status) ~ age + factor(ph.ecog) + strata(inst), data = lung_cc)
  expect_same_anova(anova(m), anova(r))
  m <- cox_fit(Surv(time, status) ~ trt + celltype + karno, data = veteran, ties = "breslow")
  r <- coxph(Surv(time, status) ~ trt + celltype + karno, data = veteran, ties = "breslow")
  expect_same_anova(anova(m), anova(r))
})

test_that("sequential anova of a weighted model refits with the weights", {
  lw <- lung_cc
  lw$w <- rep(1:3, length.out = nrow(lw))
  m <- cox_fit(Surv(time, status) ~ age + sex + ph.ecog, data = lw, weights = w)
  steps <- list(Surv(time, status) ~ age, Surv(time, status) ~ age + sex,
                Surv(time, status) ~ age + sex + ph.ecog)
  ref <- lapply(steps, function(f) coxph(f, data = lw, weights = w))
  a <- anova(m)
  expect_equal(a$loglik, c(ref[[1]]$loglik[1], vapply(ref, function(r) r$loglik[2], 1)),
               tolerance = tol)
  expect_true(all(a$Chisq[-1] > 0))
  expect_same_anova(anova(cox_fit(steps[[2]], data = lw, weights = w), m),
                    anova(ref[[2]], ref[[3]]))
})

test_that("anova refuses what anova.coxph cannot compare", {
  m1 <- cox_fit(Surv(time, status) ~ age, data = lung)
  m2 <- cox_fit(Surv(time, status) ~ age + ph.ecog, data = lung)  # one row fewer
  expect_error(anova(m1, m2), "same number of rows", class = "rwe_bad_input")
  m3 <- cox_fit(Surv(time, status) ~ age, data = lung, ties = "breslow")
  expect_error(anova(m1, m3), "ties", class = "rwe_bad_input")
  expect_error(anova(m1, model = m1), "model", class = "rwe_bad_input")
  rob <- cox_fit(Surv(time, status) ~ age, data = lung, robust = TRUE)
  expect_error(anova(rob), "robust", class = "rwe_bad_input")
  expect_error(anova(m1, lm(time ~ age, lung)), "rwe_cox", class = "rwe_bad_input")
  expect_error(anova(m1, test = "F"), "Chisq", class = "rwe_bad_input")
})

test_that("extractAIC, drop1 and step agree with coxph on lung", {
  f <- Surv(time, status) ~ age + sex + ph.ecog + wt.loss
  m <- cox_fit(f, data = lung_cc)
  r <- coxph(f, data = lung_cc)
  expect_equal(extractAIC(m), extractAIC(r), tolerance = tol)
  expect_equal(extractAIC(m, k = log(nobs(r))), extractAIC(r, k = log(nobs(r))), tolerance = tol)
  expect_equal(extractAIC(m)[2], AIC(r), tolerance = tol)
  d_ours <- drop1(m, test = "Chisq")
  d_ref <- drop1(r, test = "Chisq")
  expect_equal(as.data.frame(d_ours), as.data.frame(d_ref), tolerance = tol)
  s_ours <- step(m, trace = 0)
  s_ref <- step(r, trace = 0)
  expect_identical(attr(terms(s_ours), "term.labels"), attr(terms(s_ref), "term.labels"))
  expect_identical(attr(terms(s_ours), "term.labels"), c("age", "sex", "ph.ecog"))
  expect_equal(unname(coef(s_ours)), unname(coef(s_ref)), tolerance = tol)
  expect_equal(s_ours$anova$AIC, s_ref$anova$AIC, tolerance = tol)
  expect_s3_class(s_ours, "rwe_cox")
  expect_identical(format(formula(s_ours)), format(formula(s_ref)))
})

test_that("extractAIC/step work on robust fits as on coxph; Firth fits are refused", {
  f <- Surv(time, status) ~ age + sex + ph.ecog + wt.loss + cluster(inst)
  m <- cox_fit(f, data = lung_cc)
  r <- coxph(f, data = lung_cc)
  expect_equal(extractAIC(m), extractAIC(r), tolerance = tol)
  s_ours <- step(m, trace = 0)
  s_ref <- step(r, trace = 0)
  expect_identical(attr(terms(s_ours), "term.labels"), attr(terms(s_ref), "term.labels"))
  expect_equal(unname(coef(s_ours)), unname(coef(s_ref)), tolerance = tol)
  expect_true(s_ours$robust)
  expect_equal(unname(vcov(s_ours)), unname(vcov(s_ref)), tolerance = tol)
  d_ours <- drop1(m, test = "Chisq")
  expect_identical(rownames(d_ours), rownames(drop1(r)))  # no "cluster(inst)" row
  expect_equal(as.data.frame(d_ours), as.data.frame(drop1(r, test = "Chisq")), tolerance = tol,
               ignore_attr = "heading")  # coxph moves cluster() out of its formula
  firth <- cox_fit(Surv(time, status) ~ age + sex, data = lung_cc, firth = TRUE)
  expect_error(extractAIC(firth), "Firth", class = "rwe_bad_input")
  expect_error(anova(firth), "Firth", class = "rwe_bad_input")
})

test_that("step() on a stratified model follows coxph; a lower scope keeps the strata", {
  f <- Surv(time, status) ~ age + wt.loss + ph.ecog + strata(sex)
  # strata() is a term of the formula, so step() may drop it, exactly as with coxph
  s_ours <- step(cox_fit(f, data = lung_cc), trace = 0)
  s_ref <- step(coxph(f, data = lung_cc), trace = 0)
  expect_identical(attr(terms(s_ours), "term.labels"), attr(terms(s_ref), "term.labels"))
  expect_equal(s_ours$loglik, s_ref$loglik, tolerance = tol)
  lower <- list(lower = ~ strata(sex))
  s_ours <- step(cox_fit(f, data = lung_cc), scope = lower, trace = 0)
  s_ref <- step(coxph(f, data = lung_cc), scope = lower, trace = 0)
  expect_identical(attr(terms(s_ours), "term.labels"), attr(terms(s_ref), "term.labels"))
  expect_true("strata(sex)" %in% attr(terms(s_ours), "term.labels"))
  expect_identical(s_ours$strata_vars, "sex")
  expect_equal(s_ours$loglik, s_ref$loglik, tolerance = tol)
  expect_equal(extractAIC(s_ours), extractAIC(s_ref), tolerance = tol)
})

test_that("update() and model.matrix() work inside a function and without x", {
  fit_in_function <- function(d) {
    m <- cox_fit(Surv(time, status) ~ age + sex + rx, data = d, x = FALSE)
    list(m = m, small = update(m, . ~ . - age), mm = model.matrix(m), mf = model.frame(m))
  }
  res <- fit_in_function(colon_d)
  ref <- coxph(Surv(time, status) ~ sex + rx, data = colon_d)
  expect_equal(unname(coef(res$small)), unname(coef(ref)), tolerance = tol)
  ref_full <- coxph(Surv(time, status) ~ age + sex + rx, data = colon_d)
  expect_equal(unname(res$mm), unname(model.matrix(ref_full)), tolerance = 0, ignore_attr = TRUE)
  expect_identical(colnames(res$mm), colnames(model.matrix(ref_full)))
  expect_identical(attr(res$mm, "assign"), attr(model.matrix(ref_full), "assign"))
  expect_identical(nrow(res$mf), nrow(model.frame(ref_full)))
  # with x kept, model.matrix() is the stored matrix
  m <- cox_fit(Surv(time, status) ~ age + sex, data = lung, x = TRUE)
  expect_identical(model.matrix(m), m$x)
  expect_error(model.matrix(m, data = lung), "Unused argument", class = "rwe_bad_input")
})

test_that("model.frame() applies subset, weights and na.action as the fit did", {
  m <- cox_fit(Surv(time, status) ~ age + ph.ecog, data = lung, subset = sex == 1,
               weights = rep(1:2, length.out = nrow(lung)))
  r <- coxph(Surv(time, status) ~ age + ph.ecog, data = lung, subset = sex == 1,
             weights = rep(1:2, length.out = nrow(lung)))
  mf <- model.frame(m)
  expect_identical(nrow(mf), as.integer(r$n))
  expect_equal(unname(mf[["(weights)"]]), unname(model.frame(r)[["(weights)"]]))
  expect_identical(as.integer(stats::na.action(mf)), as.integer(r$na.action))
})

test_that("augment() equals predict.coxph / residuals.coxph, with broom's columns", {
  m <- cox_fit(Surv(time, status) ~ age + sex + ph.ecog, data = lung)
  r <- coxph(Surv(time, status) ~ age + sex + ph.ecog, data = lung)
  au <- augment(m, data = lung)
  expect_identical(names(au), c(names(lung), ".fitted", ".se.fit", ".resid"))
  expect_identical(nrow(au), nrow(lung) - 1L)  # the row with missing ph.ecog is dropped
  p <- predict(r, se.fit = TRUE)
  expect_equal(au$.fitted, unname(p$fit), tolerance = tol)
  expect_equal(au$.se.fit, unname(p$se.fit), tolerance = tol)
  expect_equal(au$.resid, unname(residuals(r)), tolerance = tol)
  au <- augment(m, data = lung, type.predict = "risk", type.residuals = "deviance")
  expect_equal(au$.fitted, unname(predict(r, type = "risk")), tolerance = tol)
  expect_equal(au$.resid, unname(residuals(r, type = "deviance")), tolerance = tol)
  au <- augment(m, type.predict = "expected")
  expect_false(".se.fit" %in% names(au))
  expect_equal(au$.fitted, unname(predict(r, type = "expected")), tolerance = tol)
  nd <- data.frame(age = c(50, 70), sex = c(1, 2), ph.ecog = c(0, 2))
  au <- augment(m, newdata = nd)
  expect_identical(names(au), c(names(nd), ".fitted", ".se.fit"))
  p <- predict(r, newdata = nd, se.fit = TRUE)
  expect_equal(au$.fitted, unname(p$fit), tolerance = tol)
  expect_equal(au$.se.fit, unname(p$se.fit), tolerance = tol)
  expect_error(augment(m, typo = 1), "typo", class = "rwe_bad_input")
  # row names that are not 1..n are kept as `.rownames`, as broom does
  au <- augment(cox_fit(Surv(time, status) ~ age + sex + ph.ecog, data = lung_cc), data = lung_cc)
  expect_identical(names(au)[1], ".rownames")
  expect_identical(au$.rownames, rownames(lung_cc))
})

test_that("augment() with na.exclude keeps every row and works without x", {
  m <- cox_fit(Surv(time, status) ~ age + ph.ecog, data = lung, na.action = na.exclude, x = FALSE)
  r <- coxph(Surv(time, status) ~ age + ph.ecog, data = lung, na.action = na.exclude)
  au <- augment(m, data = lung)
  expect_identical(nrow(au), nrow(lung))
  expect_equal(au$.resid, unname(residuals(r)), tolerance = tol)
  expect_equal(au$.fitted, unname(predict(r)), tolerance = tol)
  expect_error(augment(m, data = lung[1:10, ]), "228", class = "rwe_bad_input")
})

# ---- the slim fit: x = FALSE (default) vs x = TRUE -----------------------------------------
# Every method that reads per-row data must rebuild from the data exactly what x = TRUE keeps.

every_method <- function(fit, data, resample = TRUE, lrt = TRUE) {
  out <- list(
    mart = residuals(fit), deviance = residuals(fit, type = "deviance"),
    score = residuals(fit, type = "score"), schoenfeld = residuals(fit, type = "schoenfeld"),
    scaledsch = residuals(fit, type = "scaledsch"), dfbeta = residuals(fit, type = "dfbeta"),
    dfbetas = residuals(fit, type = "dfbetas"),
    lp = predict(fit), risk = predict(fit, type = "risk", se.fit = TRUE),
    expected = predict(fit, type = "expected"), terms = predict(fit, type = "terms", se.fit = TRUE),
    sample = predict(fit, reference = "sample", se.fit = TRUE),
    newdata = predict(fit, newdata = data[1:5, ], se.fit = TRUE),
    surv = predict(fit, type = "survival", times = c(100, 300), se.fit = TRUE),
    survfit = survfit(fit)$curves, survfit_new = survfit(fit, newdata = data[1:3, ])$curves,
    basehaz = cox_basehaz(fit), zph = ph_test(fit)$table,
    concordance = unclass(concordance_index(fit))[c("concordance", "var", "count")],
    augment = augment(fit, data = data), mm = model.matrix(fit), mf = model.frame(fit)
  )
  if (lrt) out$anova <- anova(fit)
  if (resample) {
    out$bootstrap <- cox_bootstrap(fit, B = 4, seed = 3)
    out$validate <- cox_validate(fit, B = 4, seed = 3)
    out$marginal <- cox_marginal_curve(fit, stats::na.omit(data), times = c(100, 300), bootstrap = 3, seed = 2)
  }
  out
}

expect_slim_identical <- function(slim, full, data, ...) {
  expect_null(slim$x)
  expect_false(is.null(full$x))
  ours <- every_method(slim, data, ...)
  ref <- every_method(full, data, ...)
  for (m in names(ref)) expect_identical(ours[[m]], ref[[m]], info = m)
}

test_that("x = FALSE gives identical results to x = TRUE: lung (missing values)", {
  d <- lung
  f <- Surv(time, status) ~ age + sex + ph.ecog
  expect_slim_identical(cox_fit(f, data = d), cox_fit(f, data = d, x = TRUE), d)
  # and the same as coxph, so that the rebuilt pieces are the right ones
  ref <- coxph(f, data = d)
  expect_equal(unname(residuals(cox_fit(f, data = d), type = "dfbeta")),
               unname(residuals(ref, type = "dfbeta")), tolerance = tol)
  expect_equal(unname(predict(cox_fit(f, data = d), type = "expected")),
               unname(predict(ref, type = "expected")), tolerance = tol)
})

test_that("x = FALSE gives identical results to x = TRUE: colon (factors, strata)", {
  d <- colon_d
  f <- Surv(time, status) ~ rx + age + nodes + differ + strata(sex)
  expect_slim_identical(cox_fit(f, data = d), cox_fit(f, data = d, x = TRUE), d)
  slim <- cox_fit(f, data = d)
  expect_equal(unname(residuals(slim, type = "score")),
               unname(residuals(coxph(f, data = d), type = "score")), tolerance = tol)
})

test_that("x = FALSE gives identical results to x = TRUE: counting process (heart)", {
  d <- heart
  f <- Surv(start, stop, event) ~ age + surgery + transplant
  expect_slim_identical(cox_fit(f, data = d), cox_fit(f, data = d, x = TRUE), d,
                        resample = FALSE)
  expect_equal(unname(residuals(cox_fit(f, data = d), type = "schoenfeld")),
               unname(residuals(coxph(f, data = d), type = "schoenfeld")), tolerance = tol)
})

test_that("x = FALSE gives identical results to x = TRUE: case weights and an offset", {
  d <- lung_cc
  d$w <- rep(1:3, length.out = nrow(d))
  f <- Surv(time, status) ~ age + sex + offset(wt.loss / 100)
  slim <- cox_fit(f, data = d, weights = w)
  full <- cox_fit(f, data = d, weights = w, x = TRUE)
  expect_identical(slim$weights, as.double(d$w))  # given: kept
  expect_false(is.null(slim$offset))  # an offset() term: kept
  expect_slim_identical(slim, full, d, resample = FALSE)
  expect_equal(unname(residuals(slim, type = "dfbeta")),
               unname(residuals(coxph(f, data = d, weights = w), type = "dfbeta")),
               tolerance = tol)
})

test_that("x = FALSE gives identical results to x = TRUE: Firth fit with an offset", {
  d <- lung_cc
  f <- Surv(time, status) ~ age + sex + offset(wt.loss / 100)
  slim <- cox_fit(f, data = d, ties = "breslow", firth = TRUE)
  full <- cox_fit(f, data = d, ties = "breslow", firth = TRUE, x = TRUE)
  expect_null(slim$x)
  for (type in c("martingale", "score", "schoenfeld", "dfbeta")) {
    expect_identical(residuals(slim, type = type), residuals(full, type = type), info = type)
  }
  expect_identical(predict(slim, type = "expected"), predict(full, type = "expected"))
})

test_that("per-row fields kept by default are coxph's: y and linear predictors", {
  d <- colon_d
  fit <- cox_fit(Surv(time, status) ~ rx + age, data = d)
  expect_s3_class(fit$y, "Surv")
  expect_length(fit$linear.predictors, nrow(d))
  per_row <- vapply(fit, function(v) NROW(v) == nrow(d) && !is.function(v), logical(1))
  expect_setequal(names(fit)[per_row], c("y", "linear.predictors"))
  lean <- cox_fit(Surv(time, status) ~ rx + age, data = d, y = FALSE)
  expect_null(lean$y)
  expect_identical(residuals(lean, type = "score"), residuals(fit, type = "score"))
  expect_identical(predict(lean, type = "expected"), predict(fit, type = "expected"))
  kept <- cox_fit(Surv(time, status) ~ rx + age, data = d, model = TRUE)
  expect_identical(nrow(kept$model), nrow(d))
  expect_error(cox_fit(Surv(time, status) ~ age, data = d, x = NA), class = "rwe_bad_input",
               regexp = "`x` must be TRUE or FALSE")
})

test_that("the default fit of 10^5 rows is smaller than its data", {
  set.seed(16)
  n <- 1e5
  d <- as.data.frame(matrix(rnorm(n * 10), n, 10))
  d$time <- rexp(n)
  d$status <- rbinom(n, 1, 0.7)
  fit <- cox_fit(Surv(time, status) ~ ., data = d)
  expect_lt(as.numeric(object.size(fit)), 0.5 * as.numeric(object.size(d)))
  expect_gt(as.numeric(object.size(cox_fit(Surv(time, status) ~ ., data = d, x = TRUE))),
            as.numeric(object.size(d)))
})

test_that("data gone or changed since the fit: a classed error asking for x = TRUE", {
  gone <- local({
    d <- lung_cc
    fit <- cox_fit(Surv(time, status) ~ age + sex, data = d)
    rm(d)
    fit
  })
  expect_error(residuals(gone), class = "rwe_bad_input", regexp = "x = TRUE")
  expect_error(survfit(gone), class = "rwe_bad_input", regexp = "x = TRUE")
  expect_error(anova(gone), class = "rwe_bad_input", regexp = "x = TRUE")
  # what needs no data still works
  expect_length(predict(gone, newdata = lung_cc[1:2, ], reference = "sample"), 2L)
  d <- lung_cc
  fit <- cox_fit(Surv(time, status) ~ age + sex, data = d)
  kept <- cox_fit(Surv(time, status) ~ age + sex, data = d, model = TRUE)
  ref <- residuals(fit, type = "score")
  d <- d[-1, ]  # fewer rows
  expect_error(residuals(fit), class = "rwe_bad_input", regexp = "changed")
  expect_identical(residuals(kept, type = "score"), ref)  # model = TRUE: its own frame
  d <- lung_cc
  d$age <- d$age + 1  # same rows and response, other covariate values
  expect_error(predict(fit, se.fit = TRUE), class = "rwe_bad_input", regexp = "changed")
  expect_error(model.matrix(fit), NA)  # model.matrix() itself only rebuilds, as for coxph
  d <- lung_cc
  d$time[1] <- d$time[1] + 5
  expect_error(ph_test(fit), class = "rwe_bad_input", regexp = "changed")
})

test_that("the Cox fits returned by ps_survival() rebuild their data outside the verb", {
  d <- rotterdam[seq(1, 2982, by = 3), ]
  d$rfs <- pmax(d$recur, d$death)
  d$rfstime <- ifelse(d$recur == 1, d$rtime, d$dtime)
  d$chemo <- factor(d$chemo, 0:1, c("no", "yes"))
  ps <- ps_weights(d, "chemo", ~ age + nodes)
  res <- ps_survival(ps, "rfstime", "rfs", times = 2000, bootstrap = 0)
  # the weighted fit (x = FALSE): its data live in the verb's frame, kept by its formula
  w <- ps$weights
  ref <- coxph(Surv(rfstime, rfs) ~ chemo, data = d, weights = w, robust = TRUE)
  expect_equal(unname(residuals(res$cox, type = "dfbeta")),
               unname(residuals(ref, type = "dfbeta")), tolerance = tol)
  # the g-formula model (model = TRUE): its formula lives in the caller's environment
  cf <- coxph(Surv(rfstime, rfs) ~ chemo + age + nodes, data = d)
  expect_equal(unname(residuals(res$outcome_model, type = "score")),
               unname(residuals(cf, type = "score")), tolerance = tol)
})
