# Post-fit part of the Cox engine: residuals, robust (sandwich) variance, predictions and the
# baseline cumulative hazard of an `rwe_cox` fit. All the per-row arithmetic happens in one
# C++ pass (src/cox_residuals.cpp); this file validates, sorts and shapes the results the way
# survival's residuals.coxph(), predict.coxph() and basehaz() do.

residual_types <- c("martingale", "deviance", "score", "schoenfeld", "dfbeta", "dfbetas",
                    "scaledsch")

# Returns the fit with the per-row fields it does not keep rebuilt (cox_complete()): callers
# use the returned object. `need_x = FALSE` when the model matrix of the fitted rows is not
# used (predictions for newdata), so that it is not rebuilt for nothing.
check_rwe_cox <- function(object, need_x = TRUE, call = rlang::caller_env()) {
  check_inherits(object, "rwe_cox", "object", what = "an {.cls rwe_cox} fit", call = call)
  refuse_partitioned(object, call = call)  # no rows: the data stay at the sites
  object <- cox_complete(object, need_x = need_x, call = call)
  # coefficients, var and means are NULL in a model without covariates
  needed <- c("method", "y", if (need_x) "x", "strata", "weights", "offset")
  absent <- needed[!vapply(needed, function(nm) !is.null(object[[nm]]), logical(1))]
  if (length(absent)) {
    cli::cli_abort("{.arg object} lacks the component{?s} {.field {absent}}.",
                   call = call, class = "rwe_bad_input")
  }
  n <- NROW(object$y)
  sizes <- c(x = if (need_x) NROW(object[["x"]]) else n, strata = length(object$strata),
             weights = length(object$weights), offset = length(object$offset))
  if (any(sizes != n)) {
    wrong <- names(sizes)[sizes != n]
    cli::cli_abort("{.arg object}: {.field {wrong}} do{?es/} not have one entry per row of {.field y} ({n}).",
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
  if (is.null(dim(x))) x <- matrix(as.double(x), nrow = NROW(object$y))
  storage.mode(x) <- "double"
  x
}

cox_coef0 <- function(object) {
  coef <- object$coefficients %||% numeric()
  coef[is.na(coef)] <- 0
  coef
}

# The variance that dfbeta and scaled Schoenfeld residuals use: the model-based one, also when
# the fit stored a robust variance in `var` (then the model-based one is `naive.var`).
cox_naive_var <- function(object) {
  vv <- as.matrix(if (!is.null(object$naive.var)) object$naive.var else object$var)
  # aliased coefficients: NA rows and columns here, zeros in coxph (no contribution)
  vv[is.na(vv)] <- 0
  vv
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

# The linear predictor as survival reports it: centred covariates times the coefficients plus
# the offset minus its mean. Recomputed here (O(n p)) so that nothing depends on how a fit
# centred its stored `linear.predictors`; residuals do not depend on a common shift, but the
# baseline hazard and expected counts do.
coxph_linear_predictor <- function(object) {
  coef <- cox_coef0(object)
  drop(cox_design(object) %*% coef) - sum((object$means %||% 0) * coef) +
    object$offset - mean(object$offset)
}

# Runs the C++ kernel on a fit: martingale residuals, score residuals (when asked), the
# event-time grid with its hazard increments and Schoenfeld means.
cox_post_kernel <- function(object, want_score = FALSE, lp_shift = 0) {
  resp <- cox_response(object)
  strata <- as.integer(object$strata)
  lp <- coxph_linear_predictor(object) + lp_shift
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
  object <- check_rwe_cox(object)
  check_flag(weighted)
  if (!type %in% c("martingale", "deviance") && length(object$coefficients) == 0L) {
    cli::cli_abort("{.val {type}} residuals need a model with covariates.",
                   class = "rwe_bad_input")
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
  fit <- check_rwe_cox(fit, call = call)
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

#' Predictions from a Cox model fit
#'
#' Linear predictor, relative risk, expected number of events or per-term contributions of an
#' `rwe_cox` fit, for the fitted data or for `newdata`, equal to `survival::predict.coxph()`.
#'
#' @param object An `rwe_cox` fit.
#' @param newdata Optional data frame holding every covariate of the model (and the strata
#'   variables when `reference = "strata"` in a stratified model; the survival response for
#'   `type = "expected"`).
#' @param type `"lp"` (linear predictor), `"risk"` (`exp(lp)`), `"expected"` (expected number
#'   of events given the covariates and follow-up), `"terms"` (one column per model term) or
#'   `"survival"` (the predicted survival probability at `times`, as read off
#'   `survfit(fit, newdata)`: a matrix with one row per row of `newdata` and one column per
#'   time, `NA` after the last follow-up time of the row's stratum; without `times`,
#'   `exp(-expected)` for each row's own follow-up, as `predict.coxph()`).
#' @param se.fit Whether to return standard errors as well (not for `"expected"`).
#' @param na.action What to do with missing values in `newdata` (default: keep them, giving
#'   `NA` predictions).
#' @param reference Centring of the covariates: `"strata"` (the mean of each stratum, the
#'   default, as in survival), `"sample"` (the overall means) or `"zero"` (no centring).
#'   `type = "terms"` uses `"sample"` unless told otherwise.
#' @param ... For `type = "survival"`: `times`, the times at which to predict. With
#'   `se.fit = TRUE` the standard errors are those of the survival probabilities (S times
#'   the Tsiatis standard error of log S).
#' @return A vector of predictions (a matrix for `"terms"`, and for `"survival"` with
#'   `times`), or with `se.fit = TRUE` a list with elements `fit` and `se.fit`.
#' @examples
#' if (exists("cox_fit")) {
#'   fit <- cox_fit(survival::Surv(time, status) ~ age + sex, data = survival::lung)
#'   predict(fit, newdata = data.frame(age = c(50, 70), sex = c(1, 2)), type = "risk")
#'   predict(fit, newdata = data.frame(age = c(50, 70), sex = c(1, 2)), type = "survival",
#'           times = c(180, 365))
#' }
#' @export
predict.rwe_cox <- function(object, newdata, type = c("lp", "risk", "expected", "terms",
                                                     "survival"),
                            se.fit = FALSE, na.action = stats::na.pass,
                            reference = c("strata", "sample", "zero"), ...) {
  if (identical(type, "survival")) {
    return(predict_cox_survival(object, newdata, se.fit = se.fit, ...))
  }
  type <- match_choice(type, c("lp", "risk", "expected", "terms", "survival"), "type")
  reference <- if (missing(reference) && type == "terms") "sample" else
    match_choice(reference, c("strata", "sample", "zero"), "reference")
  # The fitted rows' model matrix is needed for them, for expected counts (the baseline
  # hazard) and for centring newdata within strata.
  need_x <- missing(newdata) || type == "expected" ||
    (reference == "strata" && cox_has_strata(object))
  object <- check_rwe_cox(object, need_x = need_x)
  check_flag(se.fit)
  if (!missing(newdata) && !is.data.frame(newdata)) {
    cli::cli_abort("{.arg newdata} must be a data frame, not {.obj_type_friendly {newdata}}.",
                   class = "rwe_bad_input")
  }
  if (type == "expected") {
    if (se.fit) {
      cli::cli_abort("{.arg se.fit} is not available for {.code type = \"expected\"}.",
                     class = "rwe_bad_input")
    }
    return(predict_expected(object, if (missing(newdata)) NULL else newdata, na.action))
  }
  by_strata <- reference == "strata" && cox_has_strata(object)
  if (missing(newdata)) {
    use_x <- se.fit || type == "terms" || by_strata ||
      (reference == "zero" && any(object$means != 0))
    if (!use_x) {
      lp <- unname(coxph_linear_predictor(object))  # as survival's linear.predictors
      return(stats::napredict(object$na.action, if (type == "risk") exp(lp) else lp))
    }
    design <- list(x = cox_design(object), offset = object$offset, strata = object$strata,
                   na.action = object$na.action)
  } else {
    design <- newdata_design(object, newdata, na.action, need_strata = by_strata)
  }
  newx <- centre_design(object, design, reference, by_strata)
  pred <- if (type == "terms") predict_terms(object, newx, se.fit) else
    predict_lp(object, newx, design$offset - mean(object$offset), type, se.fit)
  if (!se.fit) return(stats::napredict(design$na.action, pred))
  list(fit = stats::napredict(design$na.action, pred$fit),
       se.fit = stats::napredict(design$na.action, pred$se.fit))
}

# Covariates minus their reference: the (weighted) mean of the row's stratum in the fitted
# data, the overall means stored with the fit, or nothing.
centre_design <- function(object, design, reference, by_strata) {
  x <- design$x
  if (by_strata) {
    w <- object$weights
    fit_x <- cox_design(object)
    means <- rowsum(fit_x * w, object$strata) / c(rowsum(w, object$strata))
    return(x - means[match(design$strata, as.integer(rownames(means))), , drop = FALSE])
  }
  if (reference == "zero") return(x)
  x - rep(object$means, each = nrow(x))
}

predict_lp <- function(object, newx, offset, type, se.fit) {
  fit <- drop(newx %*% cox_coef0(object)) + offset
  names(fit) <- rownames(newx)
  se <- if (se.fit) sqrt(rowSums((newx %*% as.matrix(object$var)) * newx)) else NULL
  if (type == "risk") {
    fit <- exp(fit)
    # survival scales the standard error of the linear predictor by sqrt(risk).
    if (se.fit) se <- se * sqrt(fit)
  }
  if (se.fit) list(fit = fit, se.fit = stats::setNames(se, names(fit))) else fit
}

# The columns of the design matrix belonging to each model term, as a named list.
cox_assign <- function(object) {
  asgn <- object$assign
  if (is.list(asgn)) return(asgn)
  if (is.null(asgn)) asgn <- attr(object[["x"]], "assign")
  labels <- attr(object$terms, "term.labels")
  out <- split(seq_along(asgn), factor(asgn, levels = sort(unique(asgn))))
  stats::setNames(out, labels[as.integer(names(out))])
}

predict_terms <- function(object, newx, se.fit) {
  asgn <- cox_assign(object)
  coef <- object$coefficients
  vv <- as.matrix(object$var)
  pred <- matrix(NA_real_, nrow(newx), length(asgn),
                 dimnames = list(rownames(newx), names(asgn)))
  se <- pred
  for (i in seq_along(asgn)) {
    cols <- asgn[[i]][!is.na(coef[asgn[[i]]])]
    xt <- newx[, cols, drop = FALSE]
    pred[, i] <- xt %*% coef[cols]
    if (se.fit) se[, i] <- sqrt(rowSums((xt %*% vv[cols, cols, drop = FALSE]) * xt))
  }
  attr(pred, "constant") <- sum(coef * object$means, na.rm = TRUE)
  if (se.fit) list(fit = pred, se.fit = se) else pred
}

# The model's terms without strata() and cluster() terms (which define groups, not columns).
covariate_terms <- function(object) {
  tt <- object$terms
  vars <- vapply(as.list(attr(tt, "variables"))[-1L], deparse1, character(1))
  special <- which(grepl("^(strata|cluster)\\(", vars))
  if (length(special) && length(attr(tt, "factors"))) tt <- drop_special_terms(tt, special)
  tt
}

# Model matrix (columns aligned with the coefficients), offset, strata and response of
# `newdata`, built from the fit's terms, factor levels and contrasts.
newdata_design <- function(object, newdata, na.action, need_strata, response = FALSE,
                           call = rlang::caller_env()) {
  tt <- covariate_terms(object)
  if (!response) tt <- stats::delete.response(tt)
  check_newdata_vars(tt, newdata, call)
  vars <- vapply(as.list(attr(tt, "variables"))[-1L], deparse1, character(1))
  xlev <- object$xlevels[names(object$xlevels) %in% vars]
  mf <- stats::model.frame(tt, newdata, na.action = na.action, xlev = xlev)
  x <- stats::model.matrix(stats::delete.response(tt), mf, contrasts.arg = object$contrasts)
  coef_names <- names(object$coefficients)
  absent <- setdiff(coef_names, colnames(x))
  if (length(absent)) {
    cli::cli_abort("{.arg newdata} does not give the model columns {.val {absent}}.",
                   call = call, class = "rwe_bad_input")
  }
  x <- x[, coef_names, drop = FALSE]
  storage.mode(x) <- "double"
  offset <- stats::model.offset(mf)
  if (is.null(offset)) offset <- rep(0, nrow(x))
  strata <- NULL
  if (need_strata) {
    strata <- newdata_strata(object, newdata, call)
    omitted <- attr(mf, "na.action")
    if (length(omitted)) strata <- strata[-omitted]
  }
  list(x = x, offset = as.double(offset), strata = strata, na.action = attr(mf, "na.action"),
       y = if (response) stats::model.response(mf) else NULL)
}

check_newdata_vars <- function(tt, newdata, call) {
  vars <- all.vars(attr(tt, "variables"))
  env <- environment(tt)
  absent <- vars[!vars %in% names(newdata) &
                   !vapply(vars, exists, logical(1), envir = env %||% globalenv())]
  if (length(absent)) {
    cli::cli_abort("{.arg newdata} lacks the variable{?s} {.val {absent}} used by the model.",
                   call = call, class = "rwe_bad_input")
  }
}

# The strata() calls of the model formula, one per strata variable (as checks.R splits them).
strata_expressions <- function(object) {
  formula <- object$formula
  if (is.null(formula)) formula <- eval(object$call$formula, environment(object$terms))
  formula <- split_strata_terms(stats::as.formula(formula))
  tt <- stats::terms(formula, specials = "strata")
  as.list(attr(tt, "variables"))[-1L][attr(tt, "specials")$strata]
}

# Stratum code (as in the fit) of each row of newdata, labelled exactly as surv_parts() does.
newdata_strata <- function(object, newdata, call) {
  if (is.null(object$strata_levels)) {
    cli::cli_abort("The fit does not store its strata levels; cannot place {.arg newdata} in strata.",
                   call = call, class = "rwe_bad_input")
  }
  exprs <- strata_expressions(object)
  absent <- setdiff(all.vars(as.call(c(quote(list), exprs))), names(newdata))
  if (length(absent)) {
    cli::cli_abort("{.arg newdata} lacks the strata variable{?s} {.val {absent}} of the model.",
                   call = call, class = "rwe_bad_input")
  }
  env <- list2env(list(strata = survival::strata), parent = environment(object$terms) %||% globalenv())
  values <- lapply(exprs, function(e) eval(e, newdata, env))
  labels <- as.character(interaction(values, sep = ", ", lex.order = TRUE))
  codes <- match(labels, object$strata_levels)
  bad <- which(is.na(codes))
  if (length(bad)) abort_rows("newdata", "has strata that are not in the fitted model", bad, call)
  codes
}

# Cumulative baseline hazard of the fit (at the fitted linear predictor 0) as a step function:
# for each row of `stratum`/`time`, the cumulative hazard up to and including `time`.
cumhaz_lookup <- function(kern, stratum, time) {
  cum <- stats::ave(kern$hazard, kern$stratum, FUN = cumsum)
  out <- numeric(length(time))
  for (s in unique(stratum)) {
    rows <- which(stratum == s)
    grid <- which(kern$stratum == s)
    pos <- findInterval(time[rows], kern$time[grid])
    out[rows] <- c(0, cum[grid])[pos + 1L]
  }
  out
}

# Expected number of events: status - martingale residual for the fitted rows; for newdata,
# the fit's cumulative baseline hazard over each row's follow-up times its relative risk.
predict_expected <- function(object, newdata, na.action, call = rlang::caller_env()) {
  kern <- cox_post_kernel(object)
  if (is.null(newdata)) {
    pred <- stats::setNames(kern$response$status - kern$martingale, rownames(object[["x"]]))
    return(stats::napredict(object$na.action, pred))
  }
  design <- newdata_design(object, newdata, na.action, need_strata = cox_has_strata(object),
                           response = TRUE, call = call)
  y <- design$y
  if (!inherits(y, "Surv") || ncol(y) != ncol(object$y)) {
    cli::cli_abort("{.arg newdata} must give the same kind of survival response as the fit.",
                   call = call, class = "rwe_bad_input")
  }
  stratum <- if (is.null(design$strata)) rep(1L, nrow(y)) else design$strata
  counting <- ncol(y) == 3L
  chaz <- cumhaz_lookup(kern, stratum, y[, if (counting) 2L else 1L])
  if (counting) chaz <- chaz - cumhaz_lookup(kern, stratum, y[, 1L])
  newx <- design$x - rep(object$means, each = nrow(design$x))
  # Relative to the fit's linear predictor 0 (covariates at their means, mean offset).
  # survival adds the offset outside exp() here; we do not (see the tests).
  risk <- exp(drop(newx %*% cox_coef0(object)) + design$offset - mean(object$offset))
  stats::napredict(design$na.action, stats::setNames(chaz * risk, rownames(design$x)))
}

#' Cumulative baseline hazard of a Cox fit
#'
#' The Breslow (or, for Efron ties, Efron-adjusted) cumulative baseline hazard of an
#' `rwe_cox` fit at every distinct follow-up time of each stratum, equal to
#' `survival::basehaz()`, with the strata as real columns.
#'
#' @param fit An `rwe_cox` fit.
#' @param centered If `TRUE`, the hazard of a subject at the mean covariate values (and mean
#'   offset); if `FALSE`, of a subject with all covariates zero.
#' @return A data frame with columns `hazard` and `time` and, for a stratified model, one
#'   column per strata variable.
#' @examples
#' if (exists("cox_fit")) {
#'   fit <- cox_fit(survival::Surv(time, status) ~ age + strata(sex), data = survival::lung)
#'   head(cox_basehaz(fit))
#' }
#' @export
cox_basehaz <- function(fit, centered = TRUE) {
  fit <- check_rwe_cox(fit)
  # survival's curve is for covariates at their means and the (case-weighted) mean offset.
  w <- fit$weights
  kern <- cox_post_kernel(fit, lp_shift = mean(fit$offset) - sum(fit$offset * w) / sum(w))
  resp <- kern$response
  strata <- as.integer(fit$strata)
  keys <- unique(data.frame(stratum = strata, time = resp$stop))
  keys <- keys[order(keys$stratum, keys$time, method = "radix"), , drop = FALSE]
  hazard <- cumhaz_lookup(kern, keys$stratum, keys$time)
  if (!centered) hazard <- hazard * exp(-sum(fit$means * cox_coef0(fit)))
  out <- data.frame(hazard = hazard, time = keys$time)
  if (cox_has_strata(fit)) {
    table <- fit$strata_table
    if (is.null(table)) table <- data.frame(strata = fit$strata_levels %||% seq_len(max(strata)))
    strata_cols <- table[keys$stratum, , drop = FALSE]
    rownames(strata_cols) <- NULL
    out <- cbind(out, strata_cols)
  }
  out
}

#' Robust score test of a Cox fit
#'
#' The robust (sandwich) score test of all coefficients being equal to `init` (zero by
#' default) that `survival::coxph(robust = TRUE)` reports as `rscore`: the weighted score
#' residuals at `init`, summed within clusters, give `u` (their column sums) and `B` (their
#' cross-product); the statistic is `u' B^- u` on the non-aliased coefficients.
#'
#' @param fit An `rwe_cox` fit.
#' @param cluster `NULL` or one cluster identifier per row of the model data.
#' @param init `NULL` (all zero) or the coefficient values under the null hypothesis.
#' @return The test statistic, on as many degrees of freedom as non-aliased coefficients.
#' @keywords internal
#' @noRd
cox_robust_score_test <- function(fit, cluster = NULL, init = NULL, call = rlang::caller_env()) {
  fit <- check_rwe_cox(fit, call = call)
  null_fit <- fit
  p <- length(fit$coefficients)
  # survival evaluates this score at linear predictor X init, without the offset.
  null_fit$coefficients[] <- if (is.null(init)) 0 else init
  null_fit$means <- rep(0, p)
  null_fit$offset <- rep(0, length(fit$offset))
  kern <- cox_post_kernel(null_fit, want_score = TRUE)
  s <- kern$score * fit$weights
  if (!is.null(cluster)) {
    if (length(cluster) != nrow(s)) {
      cli::cli_abort("{.arg cluster} has length {length(cluster)}, but the model has {nrow(s)} rows.",
                     call = call, class = "rwe_bad_input")
    }
    s <- rowsum(s, cluster, reorder = FALSE)
  }
  keep <- !is.na(fit$coefficients)
  u <- colSums(s)[keep]
  b <- crossprod(s)[keep, keep, drop = FALSE]
  # generalised inverse, as coxph (its coxph.wtest), for fewer clusters than coefficients
  cox_wald_cpp(b, as.double(u), fit$control$toler.chol %||% .Machine$double.eps^0.75)$test
}
