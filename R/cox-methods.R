# Model-comparison and model-frame methods of `rwe_cox` fits: anova() (nested models and the
# sequential table), extractAIC() (so that stats::drop1(), add1() and step() work through
# update()), terms(), model.frame(), model.matrix() and broom's augment(). The numbers follow
# survival's anova.coxph() and stats' extractAIC.coxph(); the refits use our own engine.

# The log partial likelihood is the thing compared; a penalised (Firth) one or a fit whose
# variance was replaced by a robust one is not what these methods test (coxph refuses the
# robust case too).
check_lrt_fit <- function(object, arg = "object", call = rlang::caller_env()) {
  check_inherits(object, "rwe_cox", arg, what = "an {.cls rwe_cox} fit", call = call)
  if (inherits(object, "rwe_cox_firth")) {
    cli::cli_abort(c("{.arg {arg}} is a Firth-penalised fit.",
                     "x" = "Likelihood-ratio tables and AIC need the unpenalised partial likelihood."),
                   call = call, class = "rwe_bad_input")
  }
  if (isTRUE(object$robust)) {
    cli::cli_abort(c("{.arg {arg}} has a robust variance.",
                     "x" = "Likelihood-ratio tables are not valid with robust variances (as in {.fn survival::anova.coxph})."),
                   call = call, class = "rwe_bad_input")
  }
  invisible(object)
}

cox_df <- function(object) sum(!is.na(object$coefficients))

#' The terms of a Cox model fit
#'
#' Unlike `x$terms` (the covariate terms only), the terms of the whole model formula,
#' including `strata()`, `cluster()` and `offset()` terms, as `terms(coxph)` returns. This
#' is what [stats::step()] writes back into the call, so that refits keep the strata.
#'
#' @param x An `rwe_cox` fit from [cox_fit()].
#' @param ... Must be empty.
#' @return A [stats::terms.object].
#' @examples
#' fit <- cox_fit(survival::Surv(time, status) ~ age + strata(sex), data = survival::lung)
#' attr(terms(fit), "term.labels")
#' @export
terms.rwe_cox <- function(x, ...) {
  check_dots_empty_bad(...)
  if (is.null(x$formula)) return(x$terms)
  tt <- stats::terms(x$formula, specials = c("strata", "cluster", "offset"))
  cl <- attr(tt, "specials")$cluster
  if (!length(cl)) return(tt)
  # As for coxph, a cluster() term is no model term (drop1() must not offer to drop it);
  # its variable is kept as an attribute so that update() can pass it as `cluster`.
  cluster_expr <- attr(tt, "variables")[[cl + 1L]][[2L]]
  out <- drop_special_terms(tt, cl)
  attr(out, "rwe_cluster") <- cluster_expr
  out
}

#' Update and refit a Cox model
#'
#' [stats::update()] for [cox_fit()] models: edits the stored call (e.g.
#' `update(fit, . ~ . - age)`) and evaluates it again. A `cluster()` term of the formula is
#' carried over as the `cluster` argument when [stats::step()] or [stats::drop1()] rewrite
#' the formula from [terms()], so that the refits keep the robust variance, as with `coxph`.
#'
#' @param object An `rwe_cox` fit from [cox_fit()].
#' @param formula. Changes to the formula, as in [stats::update.formula()].
#' @param ... Further arguments of [cox_fit()] to change.
#' @param evaluate If `FALSE`, return the call instead of evaluating it.
#' @return The refitted model, or the call.
#' @examples
#' fit <- cox_fit(survival::Surv(time, status) ~ age + sex, data = survival::lung)
#' update(fit, . ~ . - age)
#' @export
update.rwe_cox <- function(object, formula., ..., evaluate = TRUE) {
  cluster_expr <- attr(object$formula, "rwe_cluster") %||%
    attr(object$call$formula, "rwe_cluster")
  if (!is.null(cluster_expr) && is.null(object$call$cluster)) {
    object$call$cluster <- cluster_expr
  }
  NextMethod()
}

#' @export
formula.rwe_cox <- function(x, ...) {
  # `...` stays open: as.formula() calls formula(x, env = baseenv()), an environment that
  # only matters for formulas built from character strings
  # step() stores a terms object in `formula`; hand back a plain formula as coxph does
  if (!is.null(x$formula)) return(stats::formula(x$formula))
  if (!is.null(x$terms)) return(stats::formula(x$terms))
  NULL
}


#' AIC of a Cox model fit, for `step()`
#'
#' `c(edf, -2 * loglik + k * edf)` with `edf` the number of estimated (non-aliased)
#' coefficients, as [stats::extractAIC()] does for `coxph`. With [stats::update()] this lets
#' [stats::drop1()], [stats::add1()] and [stats::step()] work on [cox_fit()] models. As with
#' `coxph`, a `strata()` term is a term of the formula that `step()` may drop; give
#' `scope = list(lower = ~ strata(x))` to keep it.
#'
#' @param fit An `rwe_cox` fit.
#' @param scale Unused (must be 0, as for `coxph`).
#' @param k Penalty per degree of freedom (2 for AIC, `log(nobs)` for BIC).
#' @param ... Must be empty.
#' @return A numeric vector of length 2: equivalent degrees of freedom and the criterion.
#' @examples
#' lung <- na.omit(survival::lung[, c("time", "status", "age", "sex", "ph.ecog")])
#' fit <- cox_fit(survival::Surv(time, status) ~ age + sex + ph.ecog, data = lung)
#' extractAIC(fit)
#' drop1(fit, test = "Chisq")
#' step(fit, trace = 0)
#' @export
extractAIC.rwe_cox <- function(fit, scale = 0, k = 2, ...) {
  check_dots_empty_bad(...)
  # the partial likelihood does not depend on the variance: robust fits are fine here
  if (inherits(fit, "rwe_cox_firth")) check_lrt_fit(fit, "fit")
  if (!identical(scale, 0) && !identical(scale, 0L)) {
    cli::cli_abort("{.arg scale} has no meaning for a Cox model; leave it at 0.",
                   class = "rwe_bad_input")
  }
  if (!is.numeric(k) || length(k) != 1L || !is.finite(k) || k < 0) {
    cli::cli_abort("{.arg k} must be a single non-negative number.", class = "rwe_bad_input")
  }
  edf <- cox_df(fit)
  c(edf, -2 * fit$loglik[2L] + k * edf)
}

#' Likelihood-ratio tables for Cox models
#'
#' With one model, the sequential table: the model is refitted adding its terms one at a time
#' (in formula order, on the same rows, strata, weights and offset) and each row tests the
#' added term. With several nested models, each row tests a model against the one before it.
#' Equal to [survival::anova.coxph()], except that the sequential refits keep the case
#' weights and offset of the model (survival 3.5 refits those without weights, which gives
#' meaningless rows such as negative chi-squares for weighted models).
#'
#' @param object An `rwe_cox` fit.
#' @param ... Further `rwe_cox` fits (unnamed), fitted to the same rows and response.
#' @param test `"Chisq"` (default) adds the p-value column `Pr(>|Chi|)`; `NULL` omits it.
#' @return A data frame of class `"anova"` with columns `loglik`, `Chisq`, `Df` and
#'   `Pr(>|Chi|)`.
#' @examples
#' lung <- na.omit(survival::lung[, c("time", "status", "age", "sex", "ph.ecog")])
#' m1 <- cox_fit(survival::Surv(time, status) ~ age, data = lung)
#' m2 <- cox_fit(survival::Surv(time, status) ~ age + sex + ph.ecog, data = lung)
#' anova(m1, m2)
#' anova(m2)
#' @export
anova.rwe_cox <- function(object, ..., test = "Chisq") {
  dots <- list(...)
  named <- names(dots) %||% rep("", length(dots))
  if (any(named != "")) {
    cli::cli_abort("Unknown argument{?s} {.arg {named[named != '']}}: further models must be unnamed.",
                   class = "rwe_bad_input")
  }
  if (!is.null(test) && !identical(test, "Chisq")) {
    cli::cli_abort("{.arg test} must be {.val Chisq} or NULL, not {.val {test}}.",
                   class = "rwe_bad_input")
  }
  if (length(dots)) return(cox_anova_list(c(list(object), dots), test))
  cox_anova_sequential(object, test)
}

cox_response_label <- function(object) {
  if (is.null(object$formula)) return("y")
  paste(deparse(object$formula[[2L]]), collapse = "")
}

cox_rhs_label <- function(object) {
  if (is.null(object$formula)) return(paste("~", paste(names(object$coefficients), collapse = " + ")))
  paste(as.character(stats::delete.response(stats::terms(object$formula))), collapse = " ")
}

cox_anova_list <- function(models, test, call = rlang::caller_env()) {
  for (i in seq_along(models)) check_lrt_fit(models[[i]], paste0("model ", i), call)
  ties <- vapply(models, function(m) m$method, character(1))
  if (any(ties != ties[1L])) {
    cli::cli_abort("All models must use the same {.arg ties} method; got {.val {unique(ties)}}.",
                   call = call, class = "rwe_bad_input")
  }
  responses <- vapply(models, cox_response_label, character(1))
  if (any(responses != responses[1L])) {
    cli::cli_abort("All models must have the same response; got {.code {unique(responses)}}.",
                   call = call, class = "rwe_bad_input")
  }
  ns <- vapply(models, function(m) m$n, numeric(1))
  if (any(ns != ns[1L])) {
    cli::cli_abort(c("The models were not fitted to the same number of rows ({.val {ns}}).",
                     "i" = "Remove missing values of all covariates first, e.g. with {.fn na.omit}."),
                   call = call, class = "rwe_bad_input")
  }
  loglik <- vapply(models, function(m) m$loglik[2L], numeric(1))
  df <- vapply(models, cox_df, numeric(1))
  table <- data.frame(loglik = loglik, Chisq = c(NA, abs(2 * diff(loglik))),
                      Df = abs(c(NA, diff(df))))
  rownames(table) <- as.character(seq_along(models))
  if (!is.null(test)) table[["Pr(>|Chi|)"]] <- stats::pchisq(table$Chisq, table$Df, lower.tail = FALSE)
  rhs <- vapply(models, cox_rhs_label, character(1))
  heading <- c(paste("Analysis of Deviance Table\n Cox model: response is ", responses[1L]),
               paste0(" Model ", format(seq_along(models)), ": ", rhs, collapse = "\n"))
  structure(table, heading = heading, class = c("anova", "data.frame"))
}

# Sequential table: refit on the model matrix's leading terms (the same rows, response,
# strata, weights, offset and ties), as anova.coxph() does.
cox_anova_sequential <- function(object, test, call = rlang::caller_env()) {
  check_lrt_fit(object, call = call)
  refuse_partitioned(object, "The sequential {.fn anova} table (refits on the rows)", call)
  object <- cox_complete(object, call = call)
  x <- object[["x"]]
  assign <- object$assign %||% as.list(seq_len(ncol(x)))
  nterm <- length(assign)
  loglik <- c(object$loglik[1L], double(nterm))
  df <- c(0, double(nterm))
  for (i in seq_len(nterm - 1L)) {
    cols <- sort(unlist(assign[seq_len(i)], use.names = FALSE))
    refit <- cox_fit_matrix(x[, cols, drop = FALSE], object$y, strata = object$strata,
                            weights = object$weights, offset = object$offset,
                            ties = object$method, control = object$control, concordance = FALSE)
    loglik[i + 1L] <- refit$loglik[2L]
    df[i + 1L] <- cox_df(refit)
  }
  if (nterm > 0L) {
    loglik[nterm + 1L] <- object$loglik[2L]
    df[nterm + 1L] <- cox_df(object)
  }
  table <- data.frame(loglik = loglik, Chisq = c(NA, 2 * diff(loglik)), Df = c(NA, diff(df)))
  if (!is.null(test)) table[["Pr(>|Chi|)"]] <- stats::pchisq(table$Chisq, table$Df, lower.tail = FALSE)
  labels <- names(assign) %||% colnames(x)
  rownames(table) <- c("NULL", labels)
  title <- paste0("Analysis of Deviance Table\n Cox model: response is ", cox_response_label(object),
                  "\nTerms added sequentially (first to last)\n")
  structure(table, heading = title, class = c("anova", "data.frame"))
}

#' Model frame and model matrix of a Cox model fit
#'
#' `model.frame()` re-evaluates the model frame of a [cox_fit()] call (formula, data, subset,
#' weights, na.action, cluster) in the environment of its formula, as `coxph` does.
#' `model.matrix()` returns the covariate matrix the model was fitted to (no intercept
#' column, with its `assign` attribute), rebuilding it from the model frame when the fit was
#' made with `x = FALSE` (the default). A fit made with `model = TRUE` returns its stored
#' frame. The methods that need the model matrix or response of the fitted rows
#' ([residuals()][residuals.rwe_cox], [predict()][predict.rwe_cox], [survival::survfit()],
#' [ph_test()], [anova()][anova.rwe_cox], [cox_bootstrap()], ...) rebuild them this way and
#' check them against the fit (same rows, same response, same linear predictors); when the
#' data can no longer be found or have changed, they stop with an error of class
#' `rwe_bad_input` asking to refit with `x = TRUE`.
#'
#' @param formula,object An `rwe_cox` fit.
#' @param ... Must be empty.
#' @return A data frame (`model.frame`) or a numeric matrix (`model.matrix`).
#' @examples
#' fit <- cox_fit(survival::Surv(time, status) ~ age + factor(ph.ecog), data = survival::lung,
#'                x = FALSE)
#' dim(model.frame(fit))
#' head(model.matrix(fit))
#' @name cox_model_frame
NULL

#' @rdname cox_model_frame
#' @export
model.frame.rwe_cox <- function(formula, ...) {
  check_dots_empty_bad(...)
  refuse_partitioned(formula)
  cox_model_frame(formula)
}

#' @rdname cox_model_frame
#' @export
model.matrix.rwe_cox <- function(object, ...) {
  check_dots_empty_bad(...)
  refuse_partitioned(object)
  cox_model_matrix(object)
}

# ---- rebuilding the per-row fields a fit does not keep ------------------------------------
# A cox_fit() result keeps x, the model frame, and weights/strata/offset that are all 1/1/0
# only on request (see cox_slim()). The methods that need them call cox_complete() first,
# which rebuilds them exactly as the fit built them, so that they give identical results
# with x = FALSE and x = TRUE.

# The model frame: the stored one (model = TRUE), else the call re-evaluated in the
# environment of its formula, as model.frame.coxph() does; it must have the fit's rows.
cox_model_frame <- function(fit, call = rlang::caller_env()) {
  if (!is.null(fit$model)) return(fit$model)
  if (is.null(fit$formula) || is.null(fit$call)) {
    cli::cli_abort("A fit from {.fn cox_fit_matrix} has no model frame.", call = call,
                   class = "rwe_bad_input")
  }
  mc <- fit$call
  mc$formula <- fit$formula
  mf <- tryCatch(
    surv_model_frame(mc, environment(fit$formula) %||% parent.frame(), extra = "cluster"),
    error = function(e) {
      abort_refit_x(c("x" = "Rebuilding its model frame from the data failed: {conditionMessage(e)}"),
                    call)
    })
  if (nrow(mf) != fit$n) {
    abort_refit_x(c("x" = "The rebuilt model frame has {nrow(mf)} row{?s}, but the model was fitted to {fit$n}: have the data changed since the fit?"),
                  call)
  }
  mf
}

# The model matrix: the stored one (x = TRUE), else rebuilt from the model frame.
cox_model_matrix <- function(fit, mf = NULL, call = rlang::caller_env()) {
  if (!is.null(fit[["x"]])) return(fit[["x"]])
  mf <- mf %||% cox_model_frame(fit, call)
  parts <- surv_parts(mf, call = call)
  cox_design_matrix(parts$terms, mf, parts$weights, call = call)$x
}

# The response as the fit used it (near-tied times merged as its control says).
cox_model_response <- function(fit, mf, call = rlang::caller_env()) {
  parts <- surv_parts(mf, call = call)
  timefix <- fit$control$timefix %||% fit$timefix %||% TRUE
  fix_near_ties(mf[[1L]], parts$time, parts$start, list(timefix = timefix), call = call)$y
}

# The fit with every per-row field present: y, x (if `need_x`), weights, strata and offset.
# The data a method reads through the formula environment may have been modified since the
# fit: the rebuilt response must equal the stored one (up to the merging of near-tied times).
cox_complete <- function(fit, need_x = TRUE, call = rlang::caller_env()) {
  rebuild_x <- need_x && is.null(fit[["x"]])
  if (rebuild_x || is.null(fit$y)) {
    mf <- cox_model_frame(fit, call)
    y <- cox_model_response(fit, mf, call)
    if (is.null(fit$y)) fit$y <- y else if (!same_response(y, fit$y)) {
      abort_refit_x(c("x" = "The response rebuilt from the data differs from the one the model was fitted to: have the data changed since the fit?"),
                    call)
    }
  }
  n <- NROW(fit$y)
  if (is.null(fit$weights)) fit$weights <- rep(1, n)
  if (is.null(fit$strata)) fit$strata <- rep(1L, n)
  if (is.null(fit$offset)) fit$offset <- rep(0, n)
  if (rebuild_x) {
    fit$x <- cox_model_matrix(fit, mf, call)
    check_rebuilt_x(fit, call)
  }
  fit
}

# A covariate changed in the data since the fit (same rows, same response) would silently
# change every result: the rebuilt matrix must reproduce the stored linear predictors,
# (x - means) beta + offset - mean(offset) (a Firth fit does not centre its offset).
# O(n p), as building the matrix is.
check_rebuilt_x <- function(fit, call) {
  coef <- cox_coef0(fit)
  if (!length(coef)) return(invisible(TRUE))
  if (!identical(colnames(fit$x), names(coef))) {
    abort_refit_x(c("x" = "The model matrix rebuilt from the data has other columns than the model: have the data changed since the fit?"),
                  call)
  }
  # The kernel's linear predictors of a fit with aliased (NA) coefficients may include the
  # aliased columns' last iterate; only the response check applies then.
  if (anyNA(fit$coefficients)) return(invisible(TRUE))
  stored <- fit$linear.predictors
  mean_offset <- mean(fit$offset)
  diff <- drop(fit$x %*% coef) - sum(fit$means * coef) + fit$offset - mean_offset - stored
  tol <- 1e-7 * (1 + max(abs(stored)) + max(abs(fit$offset)))
  same <- all(is.finite(diff)) &&
    (max(abs(diff)) <= tol || max(abs(diff + mean_offset)) <= tol)
  if (!same) {
    abort_refit_x(c("x" = "The covariates rebuilt from the data do not give the fitted linear predictors: have the data changed since the fit?"),
                  call)
  }
  invisible(TRUE)
}

same_response <- function(a, b) {
  a <- unclass(a)
  b <- unclass(b)
  if (!identical(dim(a), dim(b))) return(FALSE)
  k <- ncol(a)
  all(a[, k] == b[, k]) && all(abs(a[, -k] - b[, -k]) <= 1e-6 * pmax(1, abs(b[, -k])))
}

abort_refit_x <- function(details, call) {
  cli::cli_abort(c("This method needs the data the Cox model was fitted to, which the fit does not keep.",
                   details,
                   "i" = "Refit with {.code cox_fit(..., x = TRUE)} (or {.code model = TRUE}) to keep them in the fit."),
                 call = call, class = "rwe_bad_input", .envir = parent.frame())
}

#' Augment data with a Cox model's predictions and residuals
#'
#' Adds broom's columns to the data: `.fitted` (from [predict.rwe_cox()] with `type =
#' type.predict`), `.se.fit` (where the prediction type has one) and, for the fitted data,
#' `.resid` (from [residuals.rwe_cox()] with `type = type.residuals`). Rows dropped from the
#' fit by `na.omit` are dropped from `data` too; with `na.exclude` they are kept, with `NA`.
#'
#' @param x An `rwe_cox` fit from [cox_fit()].
#' @param data The data the model was fitted to; default its [model.frame()].
#' @param newdata Optional new data to predict for (no residuals then).
#' @param type.predict `"lp"`, `"risk"`, `"expected"` or `"terms"`, as in
#'   [predict.rwe_cox()].
#' @param type.residuals Residual type, as in [residuals.rwe_cox()].
#' @param ... Must be empty.
#' @return A data frame: `data` (or `newdata`) with the added columns (and, as in broom, a
#'   first column `.rownames` when its row names are not just `1..n`).
#' @examples
#' fit <- cox_fit(survival::Surv(time, status) ~ age + sex, data = survival::lung)
#' head(augment(fit, data = survival::lung))
#' augment(fit, newdata = data.frame(age = c(50, 70), sex = c(1, 2)), type.predict = "risk")
#' @method augment rwe_cox
#' @export
augment.rwe_cox <- function(x, data = NULL, newdata = NULL, type.predict = "lp",
                            type.residuals = "martingale", ...) {
  check_dots_empty_bad(...)
  refuse_partitioned(x)
  x <- cox_complete(x)
  has_se <- type.predict %in% c("lp", "risk")
  if (!is.null(newdata)) {
    pred <- stats::predict(x, newdata = newdata, type = type.predict, se.fit = has_se)
    return(augment_bind(augment_rownames(newdata), pred, has_se, NULL))
  }
  if (is.null(data)) data <- model.frame.rwe_cox(x)
  pred <- stats::predict(x, type = type.predict, se.fit = has_se)
  resid <- stats::residuals(x, type = type.residuals)
  n_out <- length(resid)
  data <- augment_rownames(data)
  if (!is.null(x$na.action) && nrow(data) != n_out && !inherits(x$na.action, "exclude")) {
    data <- data[-as.integer(x$na.action), , drop = FALSE]
  }
  if (nrow(data) != n_out) {
    cli::cli_abort("{.arg data} has {nrow(data)} rows, but the model was fitted to {n_out}.",
                   class = "rwe_bad_input")
  }
  augment_bind(data, pred, has_se, unname(resid))
}

# broom keeps row names that are not just 1..n as a first column `.rownames`.
augment_rownames <- function(data) {
  data <- as.data.frame(data)
  rn <- rownames(data)
  if (!identical(rn, as.character(seq_len(nrow(data))))) {
    data <- cbind(.rownames = rn, data, stringsAsFactors = FALSE)
  }
  data
}

augment_bind <- function(data, pred, has_se, resid) {
  out <- data
  rownames(out) <- NULL
  fit <- if (has_se) pred$fit else pred
  out$.fitted <- if (is.null(dim(fit))) unname(fit) else I(unname(fit))
  if (has_se) out$.se.fit <- unname(pred$se.fit)
  if (!is.null(resid)) out$.resid <- resid
  out
}

#' @importFrom generics augment
#' @export
generics::augment

#' @importFrom stats anova extractAIC formula median model.frame model.matrix terms update
NULL
