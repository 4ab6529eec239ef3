# Post-fit part of the Cox engine: residuals, robust (sandwich) variance, predictions and the
# baseline cumulative hazard of an `rwe_cox` fit. All the per-row arithmetic happens in one
# C++ pass (src/cox_residuals.cpp); this file validates, sorts and shapes the results the way
# survival's residuals.coxph(), predict.coxph() and basehaz() do.

residual_types <- c("martingale", "deviance", "score", "schoenfeld", "dfbeta", "dfbetas",
                    "scaledsch")

# match.arg() with an rwe_bad_input error that names the argument.
match_choice <- function(value, choices, arg, call = rlang::caller_env()) {
  if (identical(value, choices)) return(choices[1L])
  if (!is.character(value) || length(value) != 1L || is.na(value) || !value %in% choices) {
    cli::cli_abort(c("{.arg {arg}} must be one of {.or {.val {choices}}}.",
                     "x" = "Got {.val {format(value)}}."),
                   call = call, class = "rwe_bad_input")
  }
  value
}

check_rwe_cox <- function(object, call = rlang::caller_env()) {
  if (!inherits(object, "rwe_cox")) {
    cli::cli_abort("{.arg object} must be an {.cls rwe_cox} fit, not {.obj_type_friendly {object}}.",
                   call = call, class = "rwe_bad_input")
  }
  needed <- c("coefficients", "var", "linear.predictors", "means", "method", "y", "x",
              "strata", "weights", "offset")
  absent <- needed[!vapply(needed, function(nm) !is.null(object[[nm]]), logical(1))]
  if (length(absent)) {
    cli::cli_abort("{.arg object} lacks the component{?s} {.field {absent}}.",
                   call = call, class = "rwe_bad_input")
  }
  if (!object$method %in% c("efron", "breslow")) {
    cli::cli_abort("Residuals need ties {.val efron} or {.val breslow}, not {.val {object$method}}.",
                   call = call, class = "rwe_bad_input")
  }
  invisible(object)
}

cox_design <- function(object) {
  x <- object[["x"]]
  if (is.null(dim(x))) x <- matrix(as.double(x), ncol = length(object$coefficients))
  storage.mode(x) <- "double"
  x
}

cox_coef0 <- function(object) {
  coef <- object$coefficients
  coef[is.na(coef)] <- 0
  coef
}

# The variance that dfbeta and scaled Schoenfeld residuals use: the model-based one, also when
# the fit stored a robust variance in `var` (then the model-based one is `naive.var`).
cox_naive_var <- function(object) {
  vv <- if (!is.null(object$naive.var)) object$naive.var else object$var
  as.matrix(vv)
}

cox_has_strata <- function(object) {
  length(object$strata_vars) > 0L || length(object$strata_levels) > 1L ||
    any(object$strata != object$strata[1L])
}

cox_response <- function(object) {
  y <- object$y
  counting <- ncol(y) == 3L
  list(stop = as.double(y[, if (counting) 2L else 1L]),
       start = if (counting) as.double(y[, 1L]) else double(),
       status = as.double(y[, ncol(y)]), counting = counting)
}

# Runs the C++ kernel on a fit: martingale residuals, score residuals (when asked), the
# event-time grid with its hazard increments and Schoenfeld means.
cox_post_kernel <- function(object, want_score = FALSE) {
  resp <- cox_response(object)
  strata <- as.integer(object$strata)
  lp <- as.double(object$linear.predictors)
  # A common shift of the linear predictor leaves every residual unchanged; use it only
  # where exp() would overflow.
  if (any(lp > log(.Machine$double.xmax))) lp <- lp - max(lp)
  ord_stop <- engine_order(strata, resp$stop, resp$status) - 1L
  ord_start <- if (resp$counting) order(strata, resp$start, method = "radix") - 1L else integer()
  out <- cox_residuals_cpp(resp$stop, resp$start, resp$status, strata,
                           as.double(object$weights), exp(lp), cox_design(object),
                           ord_stop, ord_start, object$method == "efron", want_score)
  out$ord_stop <- ord_stop + 1L
  out$response <- resp
  out
}

#' Residuals of a Cox model fit
#'
#' Martingale, deviance, score, Schoenfeld, dfbeta, dfbetas and scaled Schoenfeld residuals of
#' an `rwe_cox` fit, computed in one pass over the data sorted by stratum and time and equal
#' to those of `survival::residuals.coxph()` (Efron or Breslow ties, strata, case weights,
#' offsets and counting-process data).
#'
#' @param object An `rwe_cox` fit.
#' @param type The type of residual: `"martingale"`, `"deviance"`, `"score"`, `"schoenfeld"`,
#'   `"dfbeta"`, `"dfbetas"` or `"scaledsch"` (scaled Schoenfeld).
#' @param collapse Optional vector, one value per row of the data, of cluster identifiers:
#'   the residuals are then summed within each cluster (not for Schoenfeld residuals).
#' @param weighted Whether to multiply the residuals by the case weights. `TRUE` by default
#'   for `"dfbeta"` and `"dfbetas"`, `FALSE` otherwise, as in survival.
#' @param ... Unused.
#' @return A vector (one covariate, or martingale/deviance residuals) or a matrix with one row
#'   per observation (one per event for Schoenfeld residuals, named by the event times, in
#'   order of stratum and time) and one column per coefficient. Rows removed by `na.exclude`
#'   come back as `NA`.
#' @examples
#' if (exists("cox_fit")) {
#'   fit <- cox_fit(survival::Surv(time, status) ~ age + sex, data = survival::lung)
#'   head(residuals(fit, type = "deviance"))
#' }
#' @export
residuals.rwe_cox <- function(object, type = c("martingale", "deviance", "score", "schoenfeld",
                                               "dfbeta", "dfbetas", "scaledsch"),
                              collapse = NULL,
                              weighted = type %in% c("dfbeta", "dfbetas"), ...) {
  type <- match_choice(type, residual_types, "type")
  check_rwe_cox(object)
  if (!is.logical(weighted) || length(weighted) != 1L || is.na(weighted)) {
    cli::cli_abort("{.arg weighted} must be TRUE or FALSE.", class = "rwe_bad_input")
  }
  if (type %in% c("schoenfeld", "scaledsch")) {
    if (!is.null(collapse)) {
      cli::cli_abort("{.arg collapse} does not apply to Schoenfeld residuals (one row per event).",
                     class = "rwe_bad_input")
    }
    return(schoenfeld_residuals(object, scaled = type == "scaledsch", weighted = weighted))
  }
  kern <- cox_post_kernel(object, want_score = type %in% c("score", "dfbeta", "dfbetas"))
  rr <- if (type %in% c("martingale", "deviance")) kern$martingale else
    score_like_residuals(object, kern$score, type)
  if (is.null(dim(rr))) names(rr) <- rownames(object[["x"]])
  if (weighted) rr <- rr * object$weights
  status <- kern$response$status
  if (!is.null(object$na.action)) {
    rr <- stats::naresid(object$na.action, rr)
    status <- stats::naresid(object$na.action, status)
  }
  if (!is.null(collapse)) {
    n <- NROW(rr)
    if (length(collapse) != n) {
      cli::cli_abort("{.arg collapse} has length {length(collapse)}, but the residuals have {n} rows.",
                     class = "rwe_bad_input")
    }
    rr <- drop(rowsum(rr, collapse))
    status <- drop(rowsum(status, collapse))
  }
  if (type == "deviance") rr <- deviance_from_martingale(rr, status)
  rr
}

deviance_from_martingale <- function(mart, status) {
  # status * log(status - mart) is 0 when status is 0 (a censored row or cluster).
  loglik_part <- ifelse(status == 0, 0, status * log(status - mart))
  sign(mart) * sqrt(-2 * (mart + loglik_part))
}

# Score residuals and their one-step influence transforms (dfbeta = U V, dfbetas = dfbeta / se),
# with V the model-based variance. A single covariate gives a named vector, as survival does.
score_like_residuals <- function(object, score, type) {
  vv <- cox_naive_var(object)
  rr <- switch(type,
    score = score,
    dfbeta = score %*% vv,
    dfbetas = sweep(score %*% vv, 2L, sqrt(diag(vv)), "/"))
  dimnames(rr) <- list(rownames(object[["x"]]), names(object$coefficients))
  if (ncol(rr) == 1L) rr <- stats::setNames(rr[, 1L], rownames(object[["x"]]))
  rr
}

# One row per event, ordered by stratum, time and (among tied events) original row order:
# the covariates minus the risk-set mean at that time (Efron: the mean over the tied deaths'
# successive risk sets). Scaled: V r * (number of events) + beta, Grambsch and Therneau.
schoenfeld_residuals <- function(object, scaled, weighted) {
  kern <- cox_post_kernel(object, want_score = FALSE)
  ord <- kern$ord_stop
  deaths <- ord[kern$response$status[ord] == 1]
  x <- cox_design(object)
  rr <- x[deaths, , drop = FALSE] - kern$xbar[kern$event_index[deaths], , drop = FALSE]
  if (weighted) rr <- rr * object$weights[deaths]
  dimnames(rr) <- list(kern$response$stop[deaths], names(object$coefficients))
  if (scaled) {
    rr <- rr %*% cox_naive_var(object) * length(deaths) +
      rep(cox_coef0(object), each = nrow(rr))
    dimnames(rr) <- list(kern$response$stop[deaths], names(object$coefficients))
  }
  strata_count <- NULL
  if (cox_has_strata(object)) {
    codes <- as.integer(object$strata)
    labels <- object$strata_levels
    if (is.null(labels)) labels <- as.character(seq_len(max(codes)))
    strata_count <- table(factor(codes[deaths], levels = seq_along(labels), labels = labels))
  }
  if (ncol(rr) == 1L) rr <- stats::setNames(rr[, 1L], rownames(rr))
  if (!is.null(strata_count) && !scaled) attr(rr, "strata") <- strata_count
  rr
}

# dfbeta residuals times the case weights, one row per model row: the influence of each row
# on the coefficients, whose cross-product is the sandwich variance.
cox_weighted_dfbeta <- function(fit) {
  kern <- cox_post_kernel(fit, want_score = TRUE)
  (kern$score * fit$weights) %*% cox_naive_var(fit)
}

#' Robust (sandwich) variance of a Cox fit
#'
#' `t(D) %*% D` with `D` the weighted dfbeta residuals, summed within clusters when `cluster`
#' is given: the variance `survival::coxph(robust = TRUE)` or `coxph(cluster = )` reports.
#' Called by `cox_fit(robust = TRUE, cluster = )`.
#'
#' @param fit An `rwe_cox` fit (its `var`, or `naive.var` when present, is the model-based
#'   variance).
#' @param cluster `NULL` (each row its own cluster) or one cluster identifier per row of the
#'   model data (after removal of missing values).
#' @return The p x p robust variance matrix, with the coefficient names as dimnames.
#' @keywords internal
#' @noRd
cox_robust_var <- function(fit, cluster = NULL, call = rlang::caller_env()) {
  check_rwe_cox(fit, call = call)
  d <- cox_weighted_dfbeta(fit)
  if (!is.null(cluster)) {
    if (length(cluster) != nrow(d)) {
      cli::cli_abort("{.arg cluster} has length {length(cluster)}, but the model has {nrow(d)} rows.",
                     call = call, class = "rwe_bad_input")
    }
    bad <- which(is.na(cluster))
    if (length(bad)) abort_rows("cluster", "must not be missing", bad, call)
    d <- rowsum(d, cluster, reorder = FALSE)
  }
  out <- crossprod(d)
  dimnames(out) <- list(names(fit$coefficients), names(fit$coefficients))
  out
}
