# Residuals, robust variance, predictions and baseline hazard of rwe_cox fits, against survival.

# ---- test helper: an rwe_cox object built from a survival::coxph(x = TRUE, y = TRUE) fit ----
# Stands in for cox_fit() until the fit engine is merged; the model frame goes through the
# package's own surv_model_frame()/surv_parts(), as cox_fit() does.
as_rwe_cox_from_coxph <- function(fit, data) {
  mc <- fit$call
  mc$data <- data
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

check_all_residuals <- function(cfit, data) {
  rfit <- as_rwe_cox_from_coxph(cfit, data)
  for (type in c("martingale", "deviance", "score", "schoenfeld", "dfbeta", "dfbetas",
                 "scaledsch")) {
    ours <- residuals(rfit, type = type)
    theirs <- residuals(cfit, type = type)
    expect_equal(unname(ours), unname(theirs), tolerance = tol, ignore_attr = TRUE,
                 label = paste(type, "residuals"))
    if (type %in% c("schoenfeld", "scaledsch")) {
      expect_identical(rownames(as.matrix(ours)), rownames(as.matrix(theirs)))
    } else {
      expect_identical(rownames(as.matrix(ours)), rownames(as.matrix(theirs)))
    }
  }
  invisible(rfit)
}

test_that("lung: every residual type equals survival (Efron and Breslow)", {
  for (ties in c("efron", "breslow")) {
    cfit <- coxph(Surv(time, status) ~ age + sex + ph.ecog, data = lung, ties = ties,
                  x = TRUE, y = TRUE)
    check_all_residuals(cfit, lung)
  }
})
