# Residuals, robust variance, predictions and baseline hazard of rwe_cox fits, against survival.

# ---- test helper: an rwe_cox object built from a survival::coxph(x = TRUE, y = TRUE) fit ----
# Stands in for cox_fit() until the fit engine is merged; the model frame goes through the
# package's own surv_model_frame()/surv_parts(), as cox_fit() does.
as_rwe_cox_from_coxph <- function(fit, data) {
  mc <- fit$call
  mc$data <- data
  mc$formula <- fit$formula
  mf <- surv_model_frame(mc, environment(), extra = "cluster")
  parts <- surv_parts(mf)
  structure(list(
    coefficients = fit$coefficients, var = fit$var, naive.var = fit$naive.var,
    linear.predictors = fit$linear.predictors, means = fit$means, method = fit$method,
    y = fit$y, x = fit$x, strata = parts$strata, strata_levels = parts$strata_levels,
    strata_vars = parts$strata_vars, strata_table = parts$strata_table,
    weights = parts$weights, offset = parts$offset, n = fit$n, nevent = fit$nevent,
    terms = parts$terms, formula = fit$formula, xlevels = fit$xlevels, assign = fit$assign,
    contrasts = fit$contrasts, call = fit$call, na.action = fit$na.action
  ), class = "rwe_cox")
}
# -----------------------------------------------------------------------------------------

suppressPackageStartupMessages(library(survival))
tol <- 1e-8

residual_type_names <- c("martingale", "deviance", "score", "schoenfeld", "dfbeta", "dfbetas",
                         "scaledsch")

# Every residual type equals survival's; row names (observation names, or event times for
# Schoenfeld residuals) and column names agree where survival sets them.
check_all_residuals <- function(cfit, data) {
  rfit <- as_rwe_cox_from_coxph(cfit, data)
  for (type in residual_type_names) {
    ours <- residuals(rfit, type = type)
    theirs <- residuals(cfit, type = type)
    expect_equal(ours, theirs, tolerance = tol, ignore_attr = TRUE,
                 label = paste(type, "residuals"))
    expect_identical(rownames(as.matrix(ours)), rownames(as.matrix(theirs)),
                     label = paste(type, "row names"))
    if (type %in% c("score", "schoenfeld") && is.matrix(theirs)) {
      expect_identical(colnames(ours), colnames(theirs))
    }
  }
  if (!is.null(attr(residuals(cfit, type = "schoenfeld"), "strata"))) {
    expect_equal(as.vector(attr(residuals(rfit, type = "schoenfeld"), "strata")),
                 as.vector(attr(residuals(cfit, type = "schoenfeld"), "strata")))
  }
  invisible(rfit)
}

check_predictions <- function(cfit, rfit) {
  for (type in c("lp", "risk", "expected", "terms")) {
    refs <- if (type %in% c("lp", "risk")) c("strata", "sample", "zero") else "default"
    for (ref in refs) {
      args <- list(type = type)
      if (ref != "default") args$reference <- ref
      expect_equal(do.call(predict, c(list(rfit), args)), do.call(predict, c(list(cfit), args)),
                   tolerance = tol, ignore_attr = TRUE, label = paste("predict", type, ref))
      if (type != "expected") {
        args$se.fit <- TRUE
        expect_equal(do.call(predict, c(list(rfit), args)), do.call(predict, c(list(cfit), args)),
                     tolerance = tol, ignore_attr = TRUE, label = paste("se.fit", type, ref))
      }
    }
  }
}

test_that("lung: residuals, predictions, robust variance and basehaz (Efron and Breslow)", {
  for (ties in c("efron", "breslow")) {
    cfit <- coxph(Surv(time, status) ~ age + sex + ph.ecog, data = lung, ties = ties,
                  x = TRUE, y = TRUE)
    rfit <- check_all_residuals(cfit, lung)
    check_predictions(cfit, rfit)
    robust <- coxph(Surv(time, status) ~ age + sex + ph.ecog, data = lung, ties = ties,
                    robust = TRUE)
    expect_equal(cox_robust_var(rfit), robust$var, tolerance = tol, ignore_attr = TRUE)
    expect_equal(rfit$var, robust$naive.var, tolerance = tol)
    expect_equal(cox_basehaz(rfit), basehaz(cfit), tolerance = tol)
    expect_equal(cox_basehaz(rfit, centered = FALSE), basehaz(cfit, centered = FALSE),
                 tolerance = tol)
    expect_named(residuals(rfit, type = "martingale"), names(residuals(cfit)))
  }
})

test_that("lung: collapse and weighted residuals equal survival", {
  cfit <- coxph(Surv(time, status) ~ age + sex, data = lung, x = TRUE)
  rfit <- as_rwe_cox_from_coxph(cfit, lung)
  clusters <- rep(1:46, length.out = nrow(lung))
  for (type in c("martingale", "deviance", "score", "dfbeta", "dfbetas")) {
    # collapsed deviance residuals can be NaN (in survival too)
    expect_equal(suppressWarnings(residuals(rfit, type = type, collapse = clusters)),
                 suppressWarnings(residuals(cfit, type = type, collapse = clusters)),
                 tolerance = tol, ignore_attr = TRUE, label = paste("collapsed", type))
  }
})

test_that("veteran (factor covariate): residuals and predictions with newdata", {
  for (ties in c("efron", "breslow")) {
    cfit <- coxph(Surv(time, status) ~ trt + celltype + karno, data = veteran, ties = ties,
                  x = TRUE)
    rfit <- check_all_residuals(cfit, veteran)
    check_predictions(cfit, rfit)
    nd <- veteran[c(3, 40, 90, 120), ]
    for (type in c("lp", "risk", "terms", "expected")) {
      expect_equal(predict(rfit, newdata = nd, type = type),
                   predict(cfit, newdata = nd, type = type),
                   tolerance = tol, ignore_attr = TRUE, label = paste("newdata", type))
    }
    expect_equal(predict(rfit, newdata = nd, se.fit = TRUE),
                 predict(cfit, newdata = nd, se.fit = TRUE), tolerance = tol, ignore_attr = TRUE)
    expect_equal(predict(rfit, newdata = nd[, c("celltype", "trt", "karno")], type = "risk"),
                 predict(cfit, newdata = nd, type = "risk"), tolerance = tol, ignore_attr = TRUE)
  }
})

test_that("ovarian and pbc residuals equal survival", {
  cfit <- coxph(Surv(futime, fustat) ~ age + ecog.ps + rx, data = ovarian, x = TRUE)
  rfit <- check_all_residuals(cfit, ovarian)
  check_predictions(cfit, rfit)
  cfit <- coxph(Surv(time, status == 2) ~ age + log(bili) + albumin + edema, data = pbc,
                x = TRUE)
  rfit <- check_all_residuals(cfit, pbc)
  check_predictions(cfit, rfit)
  expect_equal(cox_basehaz(rfit), basehaz(cfit), tolerance = tol)
})

test_that("colon (strata, clusters): residuals, robust variance, strata predictions", {
  for (ties in c("efron", "breslow")) {
    cfit <- coxph(Surv(time, status) ~ rx + sex + age + nodes + strata(etype), data = colon,
                  ties = ties, x = TRUE)
    rfit <- check_all_residuals(cfit, colon)
    check_predictions(cfit, rfit)
    robust <- coxph(Surv(time, status) ~ rx + sex + age + nodes + strata(etype),
                    data = colon, ties = ties, cluster = id)
    expect_equal(cox_robust_var(rfit, cluster = colon$id[-cfit$na.action]), robust$var,
                 tolerance = tol, ignore_attr = TRUE)
    base <- cox_basehaz(rfit)
    theirs <- basehaz(cfit)
    expect_equal(base[c("hazard", "time")], theirs[c("hazard", "time")], tolerance = tol)
    expect_identical(as.character(base$etype), sub("^etype=", "", as.character(theirs$strata)))
    nd <- colon[c(1, 2, 500, 1001), ]
    for (ref in c("strata", "sample", "zero")) {
      expect_equal(predict(rfit, newdata = nd, reference = ref, se.fit = TRUE),
                   predict(cfit, newdata = nd, reference = ref, se.fit = TRUE),
                   tolerance = tol, ignore_attr = TRUE, label = paste("newdata", ref))
    }
    expect_equal(predict(rfit, newdata = nd, type = "expected"),
                 predict(cfit, newdata = nd, type = "expected"), tolerance = tol,
                 ignore_attr = TRUE)
  }
})

test_that("heart (counting process) residuals, robust variance and predictions", {
  for (ties in c("efron", "breslow")) {
    cfit <- coxph(Surv(start, stop, event) ~ age + year + surgery + transplant, data = heart,
                  ties = ties, x = TRUE)
    rfit <- check_all_residuals(cfit, heart)
    check_predictions(cfit, rfit)
    robust <- coxph(Surv(start, stop, event) ~ age + year + surgery + transplant,
                    data = heart, ties = ties, cluster = id)
    expect_equal(cox_robust_var(rfit, cluster = heart$id), robust$var, tolerance = tol,
                 ignore_attr = TRUE)
    expect_equal(cox_basehaz(rfit), basehaz(cfit), tolerance = tol)
    nd <- heart[c(1, 2, 50, 100), ]
    expect_equal(predict(rfit, newdata = nd, type = "expected"),
                 predict(cfit, newdata = nd, type = "expected"), tolerance = tol,
                 ignore_attr = TRUE)
  }
  cfit <- coxph(Surv(start, stop, event) ~ age + surgery + transplant, data = jasa1, x = TRUE)
  check_all_residuals(cfit, jasa1)
})

test_that("cgd (counting process, strata, cluster id): residuals and robust variance", {
  for (ties in c("efron", "breslow")) {
    cfit <- coxph(Surv(tstart, tstop, status) ~ treat + sex + age + inherit + strata(hos.cat),
                  data = cgd, ties = ties, x = TRUE)
    rfit <- check_all_residuals(cfit, cgd)
    check_predictions(cfit, rfit)
    robust <- coxph(Surv(tstart, tstop, status) ~ treat + sex + age + inherit +
                      strata(hos.cat) + cluster(id), data = cgd, ties = ties)
    expect_equal(cox_robust_var(rfit, cluster = cgd$id), robust$var, tolerance = tol,
                 ignore_attr = TRUE)
    expect_equal(residuals(rfit, type = "dfbeta", collapse = cgd$id),
                 residuals(cfit, type = "dfbeta", collapse = cgd$id), tolerance = tol,
                 ignore_attr = TRUE)
  }
})

simulate_cohort <- function(n = 400, seed = 20240611) {
  set.seed(seed)
  d <- data.frame(x1 = rnorm(n), x2 = rbinom(n, 1, 0.4), grp = sample(c("a", "b", "c"), n, TRUE),
                  w = runif(n, 0.3, 2.5), off = rnorm(n, sd = 0.3), id = sample(1:120, n, TRUE))
  rate <- exp(0.5 * d$x1 - 0.7 * d$x2 + d$off)
  # day-like integer times on a short range: many tied event times
  d$time <- pmax(1, ceiling(rexp(n, rate) * 10))
  d$status <- rbinom(n, 1, 0.7)
  d$start <- ifelse(runif(n) < 0.3, pmax(0, d$time - sample(1:5, n, TRUE)), 0)
  d
}

test_that("simulated heavy ties + weights + strata + offset equal survival", {
  d <- simulate_cohort()
  for (ties in c("efron", "breslow")) {
    cfit <- coxph(Surv(time, status) ~ x1 + x2 + strata(grp) + offset(off), data = d,
                  weights = w, ties = ties, x = TRUE)
    rfit <- check_all_residuals(cfit, d)
    expect_false(is.null(rfit$naive.var))  # non-integer weights: coxph is robust by default
    check_predictions(cfit, rfit)
    expect_equal(cox_robust_var(rfit), cfit$var, tolerance = tol, ignore_attr = TRUE)
    expect_equal(cox_robust_var(rfit, cluster = d$id),
                 coxph(Surv(time, status) ~ x1 + x2 + strata(grp) + offset(off), data = d,
                       weights = w, ties = ties, cluster = id)$var,
                 tolerance = tol, ignore_attr = TRUE)
    base <- cox_basehaz(rfit)
    expect_equal(base[c("hazard", "time")], basehaz(cfit)[c("hazard", "time")], tolerance = tol)
    for (ref in c("strata", "sample", "zero")) {
      for (type in c("lp", "risk")) {
        expect_equal(predict(rfit, newdata = d[1:25, ], type = type, reference = ref, se.fit = TRUE),
                     predict(cfit, newdata = d[1:25, ], type = type, reference = ref, se.fit = TRUE),
                     tolerance = tol, ignore_attr = TRUE, label = paste("newdata", type, ref))
      }
    }
    for (type in c("martingale", "score", "deviance")) {
      # weighted deviance residuals can be NaN (in survival too): compare those as NaN
      expect_equal(suppressWarnings(residuals(rfit, type = type, weighted = TRUE)),
                   suppressWarnings(residuals(cfit, type = type, weighted = TRUE)), tolerance = tol,
                   ignore_attr = TRUE, label = paste("weighted", type))
    }
    cfit <- coxph(Surv(start, time, status) ~ x1 + x2 + strata(grp) + offset(off), data = d,
                  weights = w, ties = ties, x = TRUE)
    rfit <- check_all_residuals(cfit, d)
    check_predictions(cfit, rfit)
    expect_equal(cox_robust_var(rfit, cluster = d$id),
                 coxph(Surv(start, time, status) ~ x1 + x2 + strata(grp) + offset(off),
                       data = d, weights = w, ties = ties, cluster = id)$var,
                 tolerance = tol, ignore_attr = TRUE)
  }
})

test_that("weighted Schoenfeld residuals are the unweighted ones times each event's weight", {
  d <- simulate_cohort(200)
  cfit <- coxph(Surv(time, status) ~ x1 + x2, data = d, weights = w, x = TRUE)
  rfit <- as_rwe_cox_from_coxph(cfit, d)
  sch <- residuals(rfit, type = "schoenfeld")
  ord <- order(d$time, -d$status)
  event_weights <- d$w[ord][d$status[ord] == 1]
  expect_equal(residuals(rfit, type = "schoenfeld", weighted = TRUE), sch * event_weights)
  # weighted Schoenfeld residuals sum to the score, which is zero at the estimate
  expect_equal(unname(colSums(sch * event_weights)), c(0, 0), tolerance = 1e-6)
})

test_that("a single covariate gives vectors, as survival does", {
  cfit <- coxph(Surv(time, status) ~ age, data = lung, x = TRUE)
  rfit <- as_rwe_cox_from_coxph(cfit, lung)
  for (type in residual_type_names) {
    ours <- residuals(rfit, type = type)
    expect_null(dim(ours))
    expect_equal(ours, residuals(cfit, type = type), tolerance = tol, ignore_attr = TRUE)
    expect_identical(names(ours), names(residuals(cfit, type = type)))
  }
})

test_that("na.exclude pads residuals and predictions with NA", {
  cfit <- coxph(Surv(time, status) ~ age + ph.ecog, data = lung, x = TRUE,
                na.action = na.exclude)
  rfit <- as_rwe_cox_from_coxph(cfit, lung)
  expect_length(residuals(rfit), nrow(lung))
  expect_equal(residuals(rfit, type = "deviance"), residuals(cfit, type = "deviance"),
               tolerance = tol)
  expect_equal(residuals(rfit, type = "dfbeta"), residuals(cfit, type = "dfbeta"),
               tolerance = tol, ignore_attr = TRUE)
  expect_equal(predict(rfit, type = "risk"), predict(cfit, type = "risk"), tolerance = tol)
})

test_that("bad input is refused with errors naming the argument", {
  cfit <- coxph(Surv(time, status) ~ age + sex + strata(ph.ecog), data = lung, x = TRUE)
  rfit <- as_rwe_cox_from_coxph(cfit, lung)
  expect_error(residuals(rfit, type = "pearson"), class = "rwe_bad_input", regexp = "type")
  expect_error(residuals(rfit, collapse = 1:3), class = "rwe_bad_input", regexp = "collapse")
  expect_error(residuals(rfit, type = "schoenfeld", collapse = rfit$strata),
               class = "rwe_bad_input", regexp = "collapse")
  expect_error(residuals(rfit, weighted = NA), class = "rwe_bad_input", regexp = "weighted")
  expect_error(predict(rfit, type = "quantile"), class = "rwe_bad_input", regexp = "type")
  expect_error(predict(rfit, reference = "mean"), class = "rwe_bad_input", regexp = "reference")
  expect_error(predict(rfit, newdata = lung[1:3, c("age", "ph.ecog")]),
               class = "rwe_bad_input", regexp = "sex")
  expect_error(predict(rfit, newdata = lung[1:3, c("age", "sex")]),
               class = "rwe_bad_input", regexp = "ph.ecog")
  expect_error(predict(rfit, newdata = data.frame(age = 50, sex = 1, ph.ecog = 7)),
               class = "rwe_bad_input", regexp = "strata")
  expect_error(predict(rfit, newdata = as.matrix(lung)), class = "rwe_bad_input",
               regexp = "newdata")
  expect_error(predict(rfit, type = "expected", se.fit = TRUE), class = "rwe_bad_input",
               regexp = "se.fit")
  expect_error(cox_robust_var(unclass(rfit)), class = "rwe_bad_input", regexp = "rwe_cox")
  expect_error(cox_robust_var(rfit, cluster = 1:5), class = "rwe_bad_input", regexp = "cluster")
  expect_error(cox_robust_var(rfit, cluster = replace(rfit$strata, 2, NA)),
               class = "rwe_bad_input", regexp = "cluster")
  expect_error(cox_basehaz(list()), class = "rwe_bad_input", regexp = "fit|object")
})

test_that("aliased coefficients and models without covariates match survival", {
  lung2 <- transform(lung, age2 = 2 * age)
  cfit <- coxph(Surv(time, status) ~ age + sex + age2, data = lung2, x = TRUE)
  expect_true(is.na(coef(cfit)[["age2"]]))
  rfit <- check_all_residuals(cfit, lung2)
  check_predictions(cfit, rfit)
  cfit <- coxph(Surv(time, status) ~ strata(sex), data = lung, x = TRUE)
  rfit <- as_rwe_cox_from_coxph(cfit, lung)
  expect_equal(residuals(rfit), residuals(cfit), tolerance = tol)
  expect_equal(residuals(rfit, type = "deviance"), residuals(cfit, type = "deviance"),
               tolerance = tol)
  expect_equal(cox_basehaz(rfit)$hazard, basehaz(cfit)$hazard, tolerance = tol)
  expect_error(residuals(rfit, type = "score"), class = "rwe_bad_input", regexp = "covariates")
  bad <- rfit
  bad$weights <- bad$weights[-1]
  expect_error(residuals(bad), class = "rwe_bad_input", regexp = "weights")
})

test_that("robust score test equals coxph's rscore", {
  robust <- coxph(Surv(time, status) ~ age + sex + ph.ecog, data = lung, robust = TRUE,
                  x = TRUE)
  rfit <- as_rwe_cox_from_coxph(robust, lung)
  expect_equal(cox_robust_score_test(rfit), robust$rscore, tolerance = tol)
  robust <- coxph(Surv(tstart, tstop, status) ~ treat + sex + age + strata(hos.cat) +
                    cluster(id), data = cgd, x = TRUE, ties = "breslow")
  rfit <- as_rwe_cox_from_coxph(robust, cgd)
  expect_equal(cox_robust_score_test(rfit, cluster = cgd$id), robust$rscore, tolerance = tol)
  d <- simulate_cohort()
  robust <- coxph(Surv(time, status) ~ x1 + x2 + strata(grp) + offset(off), data = d,
                  weights = w, cluster = id, x = TRUE)
  rfit <- as_rwe_cox_from_coxph(robust, d)
  expect_equal(cox_robust_score_test(rfit, cluster = d$id), robust$rscore, tolerance = tol)
  expect_equal(cox_robust_var(rfit, cluster = d$id), robust$var, tolerance = tol,
               ignore_attr = TRUE)
})

test_that("expected counts for newdata = the fitted data equal status - martingale", {
  # With an offset, survival's predict.coxph(type = "expected", newdata) computes
  # exp(lp) + offset instead of exp(lp + offset); ours is checked for self-consistency.
  # Breslow ties: with Efron's, a death's own expected count uses the Efron-weighted
  # increment, which newdata predictions (like survival's) do not.
  d <- simulate_cohort(300)
  for (surv in c("Surv(time, status)", "Surv(start, time, status)")) {
    f <- stats::as.formula(paste(surv, "~ x1 + x2 + strata(grp) + offset(off)"))
    cfit <- coxph(f, data = d, weights = w, x = TRUE, ties = "breslow")
    rfit <- as_rwe_cox_from_coxph(cfit, d)
    expect_equal(predict(rfit, newdata = d, type = "expected"),
                 predict(rfit, type = "expected"), tolerance = tol, ignore_attr = TRUE)
    expect_equal(predict(rfit, type = "expected"), predict(cfit, type = "expected"),
                 tolerance = tol, ignore_attr = TRUE)
  }
})
