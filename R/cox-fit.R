# Cox proportional-hazards model: formula verb `cox_fit()`, matrix twin `cox_fit_matrix()`,
# the shared engine that places the rows and calls the C++ kernel (src/cox.cpp), the `rwe_cox` result
# and its methods. The arithmetic follows survival::coxph (centring, convergence rule, step
# halving, aliasing tolerance) so that the two agree to rounding error.

#' Control settings for [cox_fit()]
#'
#' @param eps Convergence tolerance: iteration stops when the relative change of the log
#'   partial likelihood, `abs(1 - loglik / previous_loglik)`, is at most `eps`.
#' @param toler.chol Tolerance of the Cholesky decomposition below which a covariate is
#'   treated as a linear combination of the others (its coefficient is then `NA`).
#' @param iter.max Maximum number of Newton-Raphson iterations.
#' @param toler.inf Tolerance of the check for coefficients that may be infinite.
#' @param timefix If `TRUE` (default, as in `survival::coxph.control()`), times that differ
#'   only by floating-point rounding (relative or absolute difference at most
#'   `sqrt(.Machine$double.eps)`) are treated as tied.
#' @param threads Number of threads the Cox kernel may use (rows are split into contiguous
#'   ranges whose sums are added, as partitions are in [partitioned_cox_fit()]); only data
#'   with at least 50,000 rows per thread use more than one. Defaults to the option
#'   `rwecohort.threads`, else 2. Results agree to rounding error whatever the number.
#' @return A list with elements `eps`, `toler.chol`, `iter.max`, `toler.inf`, `timefix` and
#'   `threads`.
#' @examples
#' cox_control(iter.max = 50)
#' @export
cox_control <- function(eps = 1e-9, toler.chol = .Machine$double.eps^0.75, iter.max = 20,
                        toler.inf = sqrt(eps), timefix = TRUE,
                        threads = getOption("rwecohort.threads", 2L)) {
  # cox_control() is every cox_fit() call's default: its result is kept per threads option
  defaults <- nargs() == 0L
  if (defaults) {
    kept <- checked_controls$default
    if (!is.null(kept) && identical(kept$threads_option, threads)) return(kept$control)
  }
  check_tolerance(eps)
  check_tolerance(toler.chol)
  check_tolerance(toler.inf)
  check_number(iter.max, min = 0)
  check_flag(timefix)
  check_count(threads, min = 1)
  if (eps <= toler.chol) {
    cli::cli_warn("For numerical accuracy, {.arg toler.chol} should be smaller than {.arg eps}.",
                  class = "rwe_control_tolerance")
  }
  control <- list(eps = eps, toler.chol = toler.chol, iter.max = as.integer(iter.max),
                  toler.inf = toler.inf, timefix = timefix, threads = as.integer(threads))
  if (defaults) checked_controls$default <- list(threads_option = threads, control = control)
  control
}

# Floating-point ties (e.g. 0.1 + 0.2 and 0.3) are one time, as survival::coxph does by
# default (its timefix): merge_near_ties() adjusts the times; the response is rebuilt with them.
fix_near_ties <- function(y, time, start, control, call = rlang::caller_env()) {
  if (isFALSE(control$timefix)) return(list(y = y, time = time, start = start))
  merged <- merge_near_ties(time, start, call = call)
  keep_y <- identical(merged$time, time) && identical(merged$start, start)
  if (keep_y) {
    return(list(y = y, time = time, start = start, time_rank = merged$time_rank,
                start_rank = merged$start_rank))
  }
  ym <- unclass(y)
  ym[, if (is.null(start)) 1L else 2L] <- merged$time
  if (!is.null(start)) ym[, 1L] <- merged$start
  attributes(ym) <- attributes(y)
  list(y = ym, time = merged$time, start = merged$start, time_rank = merged$time_rank,
       start_rank = merged$start_rank)
}

#' Fit a Cox proportional-hazards model
#'
#' Fits the Cox model by Newton-Raphson on the log partial likelihood with Efron or Breslow
#' handling of tied event times. Supports right-censored `Surv(time, event)` and
#' counting-process `Surv(start, stop, event)` responses, `strata()` terms, `offset()` terms,
#' case weights, factors and interactions. Results agree with [survival::coxph()].
#'
#' Terms that `coxph()` fits in its own way are refused with an error naming them rather
#' than fitted as plain covariates: penalised and random-effect terms (`pspline()`,
#' `ridge()`, `frailty()` and its variants), `tt()`, and `strata()` inside an interaction
#' (write `x:factor(g) + strata(g)` instead, which `coxph()` fits identically).
#'
#' @param formula A formula with a [survival::Surv()] response, for example
#'   `Surv(time, status) ~ age + sex + strata(inst)`.
#' @param data A data frame holding the variables of `formula`.
#' @param ties Handling of tied event times: `"efron"` (default) or `"breslow"`
#'   (`"exact"` is refused: use [survival::coxph()]).
#' @param weights Optional non-negative case weights (a column of `data` or a vector).
#' @param subset Optional expression selecting the rows of `data` to use.
#' @param na.action Missing-value handling, as in [stats::model.frame()]; default
#'   `getOption("na.action")`.
#' @param init Optional starting values of the coefficients (one per model-matrix column).
#' @param robust If `TRUE`, a robust (sandwich) variance replaces the model-based one (kept
#'   as `naive.var`), and the robust score test is added. `NULL` (default) decides as
#'   [survival::coxph()] does: robust when `cluster` is given or some case weight is not an
#'   integer (e.g. inverse-probability weights), as [km_fit()] does. `FALSE` opts out (a
#'   `cluster` is then used for the concordance only, with a warning, as in coxph).
#' @param cluster Optional cluster identifier for the robust variance.
#' @param control Settings from [cox_control()].
#' @param x If `TRUE`, keep the model matrix in the result (`fit$x`). The default `FALSE`, as
#'   in [survival::coxph()], keeps the fit small (the model matrix of 10^7 rows and 10
#'   covariates is 0.8 GB): the methods that need it ([residuals()][residuals.rwe_cox],
#'   [predict()][predict.rwe_cox] for the fitted rows, [survival::survfit()], [ph_test()],
#'   [anova()][anova.rwe_cox], [cox_bootstrap()], ...) rebuild it from the data with
#'   [model.matrix()][cox_model_frame], re-evaluating the call in the formula's environment as
#'   `coxph` does. If the data can no longer be found there, or have changed, they stop with
#'   an error asking to refit with `x = TRUE`.
#' @param y If `TRUE` (default, as in `coxph`), keep the response (`fit$y`, after merging
#'   near-tied times); `FALSE` drops it, and methods rebuild it from the data as for `x`.
#' @param model If `TRUE`, keep the model frame (`fit$model`); methods then rebuild the model
#'   matrix from it rather than from the data. Default `FALSE`, as in `coxph`.
#' @param firth If `TRUE`, fit the Firth-penalised model instead (finite estimates under
#'   monotone likelihood, e.g. a small subgroup with no or only events) on the same design
#'   matrix, response, strata, weights and offset, with profile penalised-likelihood
#'   intervals and tests; the result has class `c("rwe_cox_firth", "rwe_cox")`, see
#'   [new_rwe_cox_firth()]. `control` may then be a [firth_control()] list. Not combinable
#'   with `robust` or `cluster`.
#' @return An object of class `rwe_cox`; see [new_rwe_cox()] for its elements.
#' @examples
#' fit <- cox_fit(survival::Surv(time, status) ~ age + sex + ph.ecog, data = survival::lung)
#' fit
#' summary(fit)
#' generics::tidy(fit, exponentiate = TRUE, conf.int = TRUE)
#' cox_fit(survival::Surv(time, status) ~ age + sex, data = survival::lung, ties = "breslow",
#'         firth = TRUE)
#' @export
cox_fit <- function(formula, data, ties = c("efron", "breslow"), weights, subset, na.action,
                    init, robust = NULL, cluster, control = cox_control(), x = FALSE,
                    y = TRUE, model = FALSE, firth = FALSE) {
  ties <- check_ties(ties)
  if (!is.logical(x) || !is.logical(y) || !is.logical(model) ||
      length(x) + length(y) + length(model) != 3L || anyNA(c(x, y, model))) {
    check_keep_flags(x = x, y = y, model = model)  # names the offending flag
  }
  call <- match.call()
  env <- parent.frame()
  check_cox_control(control, firth_ok = isTRUE(firth))
  # A covariate missing on every row surfaces as some other error ("no rows left", missing
  # values); only then is the data scanned for it, so that the error can name it.
  here <- environment()
  # The lean path (R/surv-frame-lean.R) builds what this full path builds for the default
  # x = FALSE, firth = FALSE: the covariates as columns, no filled-in weights/offset/strata.
  lean_ok <- !isTRUE(x) && !isTRUE(firth)
  full_frame <- function() {
    tryCatch({
      mf <- surv_model_frame(call, env, extra = "cluster", call = here)
      # No n ones, zeros and stratum codes for absent weights, offset and strata (the Firth
      # fit takes them filled in).
      parts <- surv_parts(mf, call = here, fill = isTRUE(firth))
      # Without x = TRUE (or Firth), plain numeric covariates stay columns of the model frame.
      list(mf = mf, parts = parts,
           design = cox_design_matrix(parts$terms, mf, parts$weights, call = here,
                                      columns = lean_ok))
    }, error = function(e) {
      check_entirely_missing(call, env, error_call = here)
      stop(e)
    })
  }
  frame <- if (lean_ok) surv_frame_cached(call, env, "cox", full_frame) else full_frame()
  mf <- frame$mf
  parts <- frame$parts
  design <- frame$design
  check_has_events(parts$status, parts$weights)
  init <- if (missing(init)) NULL else init
  if (isTRUE(firth)) {
    fit <- cox_fit_firth(design, parts, mf, ties, robust, control, call, env,
                         keep_x = isTRUE(x), init = init)
    return(cox_slim(fit, keep_y = y, keep_model = model, mf = mf, parts = parts))
  }
  # The response column itself: model.response() would add n character row names.
  fixed <- fix_near_ties(.subset2(mf, 1L), parts$time, parts$start, control)
  raw <- cox_engine(design$x, fixed$time, fixed$start, parts$status, parts$strata,
                    parts$weights, parts$offset, ties, init, control, design$summary,
                    time_rank = fixed$time_rank, start_rank = fixed$start_rank)
  robust <- cox_use_robust(robust, parts$weights, parts$cluster, parts$counting)
  fit <- new_rwe_cox(
    raw, y = fixed$y, x = if (isTRUE(x)) design$x else NULL,
    strata = parts$strata, strata_levels = parts$strata_levels,
    strata_vars = parts$strata_vars, strata_table = parts$strata_table,
    weights = parts$weights, offset = parts$offset, terms = parts$terms,
    formula = eval(call$formula, env), call = call,
    na.action = parts$na.action, xlevels = design$xlevels, assign = design$assign,
    control = control, ties = ties, init = init
  )
  fit <- cox_finish(fit, robust = robust, cluster = parts$cluster,
                    design_x = if (isTRUE(robust)) design_as_matrix(design$x),
                    row_order = raw$row_order, time_rank = fixed$time_rank,
                    status = parts$status)
  cox_slim(fit, keep_y = y, keep_model = model, mf = mf, parts = parts)
}

check_keep_flags <- function(..., call = rlang::caller_env()) {
  flags <- list(...)
  for (arg in names(flags)) check_flag(flags[[arg]], arg = arg, call = call)
  invisible(TRUE)
}

# What a cox_fit() result keeps per row, decided field by field (the fit of 10^7 rows must
# stay smaller than its data; see ?new_rwe_cox):
#   linear.predictors  always (n doubles, as coxph);
#   y                  by default (`y = TRUE`, as coxph), else rebuilt from the data;
#   x                  on request (`x = TRUE`), else rebuilt from the data (cox_model_matrix());
#   model              on request (`model = TRUE`); when kept, x and y are rebuilt from it;
#   weights            only when `weights` were given; else all 1 (cox_complete());
#   strata             only when the formula has strata(); else all 1;
#   offset             only when the formula has offset(); else all 0.
# Everything computed from the per-row data at fit time (concordance, robust variance and its
# score test) is done before this by cox_finish() on the full fields.
cox_slim <- function(fit, keep_y, keep_model, mf, parts) {
  drop <- c(if (!keep_y) "y", if (is.null(fit$call$weights)) "weights",
            if (!length(parts$strata_vars)) "strata",
            if (is.null(attr(attr(mf, "terms"), "offset"))) "offset")
  if (length(drop)) fit[drop] <- list(NULL)  # one copy of the list, not one per field
  if (keep_model) fit$model <- mf
  fit
}

# "exact" (the exact partial likelihood, coxph's third option) is refused by name rather than
# by match.arg()'s generic message; partial matching is kept as in coxph.
check_ties <- function(ties, call = rlang::caller_env()) {
  choices <- c("efron", "breslow")
  if (identical(ties, choices)) return("efron")
  hit <- if (is.character(ties) && length(ties) == 1L && !is.na(ties)) pmatch(ties, choices)
  if (length(hit) && !is.na(hit)) return(choices[hit])
  if (identical(ties, "exact")) {
    cli::cli_abort(c("{.arg ties} = {.val exact} (the exact partial likelihood) is not supported.",
                     "i" = "Use {.val efron} (the default, closest to exact) or {.code survival::coxph(ties = \"exact\")}."),
                   call = call, class = "rwe_bad_input")
  }
  cli::cli_abort(c("{.arg ties} must be {.val efron} or {.val breslow}.",
                   "x" = "Got {.val {format(ties)}}."), call = call, class = "rwe_bad_input")
}

cox_control_fields <- c("eps", "toler.chol", "iter.max", "toler.inf", "timefix")
firth_control_fields <- c("eps", "gconv", "iter.max", "max.halving", "max.step")

# cox_fit(firth = TRUE) takes either a firth_control() or a cox_control() list.
check_cox_control <- function(control, firth_ok = FALSE, call = rlang::caller_env()) {
  # the list that passed last time (usually cox_control()'s defaults) passes again
  if (identical(control, checked_controls$cox)) return(invisible(control))
  if (firth_ok && is.list(control) && all(c("gconv", "max.halving") %in% names(control))) {
    return(check_control(control, firth_control_fields, "firth_control", call = call))
  }
  check_control(control, cox_control_fields, "cox_control", call = call)
  checked_controls$cox <- control
  invisible(control)
}

checked_controls <- new.env(parent = emptyenv())

# coxph's default: a robust variance when there is a cluster() or some case weight is not an
# integer (weights are then sampling weights, not counts), as km_fit() does for its SE.
cox_use_robust <- function(robust, weights, cluster, counting, call = rlang::caller_env()) {
  explicit <- !is.null(robust)
  if (explicit && (!is.logical(robust) || length(robust) != 1L || is.na(robust))) {
    cli::cli_abort("{.arg robust} must be {.code TRUE}, {.code FALSE} or {.code NULL}.",
                   call = call, class = "rwe_bad_input")
  }
  if (!explicit) robust <- !is.null(cluster) || !all_whole_cpp(as.double(weights))
  if (!robust && !is.null(cluster)) {
    cli::cli_warn(c("{.arg cluster} is given with {.code robust = FALSE}: the model-based variance is reported.",
                    "i" = "The cluster is used for the concordance only, as in {.fn survival::coxph}."),
                  class = "rwe_cox_cluster_ignored", call = call)
  }
  # Rows of Surv(start, stop, event) data are pieces of subjects: as coxph, ask who is who.
  if (robust && explicit && counting && is.null(cluster)) {
    cli::cli_abort(c("{.arg robust} = TRUE with {.code Surv(start, stop, event)} data needs {.arg cluster} (the subject identifier).",
                     "i" = "Several rows may belong to one subject; give e.g. {.code cluster = id}."),
                   call = call, class = "rwe_bad_input")
  }
  robust
}

# A covariate that is missing on every row would otherwise surface as "no rows left"; name it.
check_entirely_missing <- function(call, env, error_call = rlang::caller_env()) {
  formula <- tryCatch(eval(call$formula, env), error = function(e) NULL)
  data <- if (is.null(call$data)) NULL else tryCatch(eval(call$data, env), error = function(e) NULL)
  if (!inherits(formula, "formula") || length(formula) != 3L || !is.data.frame(data) ||
      nrow(data) == 0L) {
    return(invisible(TRUE))
  }
  vars <- intersect(all.vars(formula[[3L]]), names(data))
  # anyNA() first: it allocates nothing, and a column without NA cannot be all missing.
  empty <- vars[vapply(vars, function(v) anyNA(data[[v]]) && all(is.na(data[[v]])), logical(1))]
  if (length(empty)) {
    cli::cli_abort(c("{.arg formula}: covariate{?s} {.var {empty}} {?is/are} missing on every row.",
                     "x" = "There is nothing to estimate."),
                   call = error_call, class = "rwe_bad_input")
  }
  invisible(TRUE)
}

# Model matrix without the intercept (the baseline hazard absorbs it), after refusing factors
# with a single level, which model.matrix() cannot code. With `columns = TRUE` and only plain
# numeric terms, `x` is instead a data frame of those columns as they are in the model frame
# (no copy; what the Cox kernel reads when the fit keeps no `x`): the model matrix of 10^7 rows
# x 10 covariates would be 0.8 GB. design_as_matrix() turns it into the model matrix.
cox_design_matrix <- function(terms, mf, weights, call = rlang::caller_env(), columns = FALSE) {
  check_single_level_factors(terms, mf, call)
  x <- numeric_design_columns(terms, mf)
  # plain numeric terms have no levels: what .getXlevels() returns for them, without its work
  xlevels <- if (!is.null(x)) stats::setNames(list(), character(0))
  if (!is.null(x) && !columns) x <- design_as_matrix(x)
  if (is.null(x)) {
    attr(terms, "intercept") <- 1L
    x <- stats::model.matrix(terms, mf)
    keep <- attr(x, "assign") != 0L
    assign_cols <- attr(x, "assign")[keep]
    x <- x[, keep, drop = FALSE]
    attr(x, "assign") <- assign_cols
  }
  assign_cols <- attr(x, "assign") %||% seq_len(ncol(x))
  if (is.matrix(x)) {
    if (!is.null(rownames(x))) rownames(x) <- NULL
    if (!is.double(x)) storage.mode(x) <- "double"
  }
  summary <- cox_column_summary_cpp(x, weights %||% double())  # length 0: unit weights
  bad_col <- summary$bad_col
  if (bad_col > 0L) {
    rows <- which(!is.finite(x[, bad_col]))
    cli::cli_abort(c("{.arg formula}: covariate {.var {colnames(x)[bad_col]}} has missing or infinite values.",
                     "x" = "Offending rows: {format_offenders(rows)}."),
                   call = call, class = "rwe_bad_input")
  }
  labels <- attr(terms, "term.labels")
  assign <- split(seq_along(assign_cols), factor(labels[assign_cols], levels = unique(labels[assign_cols])))
  list(x = x, assign = assign, xlevels = xlevels %||% stats::.getXlevels(terms, mf),
       summary = summary)
}

# When every term is a plain numeric variable the model matrix is just those columns: a data
# frame of them (double columns are the model frame's own, not copied), or NULL when some
# term is not such a variable. Building the matrix from it directly (design_as_matrix())
# avoids model.matrix()'s intercept column and the copy that drops it (large n).
numeric_design_columns <- function(terms, mf) {
  labels <- attr(terms, "term.labels")
  if (!length(labels) || any(attr(terms, "order") != 1L)) return(NULL)
  cols <- lapply(labels, function(l) mf[[l]])
  plain <- vapply(cols, function(v) {
    !is.null(v) && is.numeric(v) && !is.factor(v) && is.null(dim(v))
  }, logical(1))
  if (!all(plain)) return(NULL)
  cols <- lapply(cols, function(v) if (is.double(v) && is.null(attributes(v))) v else as.double(v))
  # compact row names: a data frame without an n-long attribute
  structure(stats::setNames(cols, labels), class = "data.frame",
            row.names = c(NA_integer_, -length(cols[[1L]])))
}

# The model matrix of a design whose `x` may be a data frame of its columns (see
# cox_design_matrix()): one allocation, no row names, `assign` one column per term.
design_as_matrix <- function(x) {
  if (is.null(x) || is.matrix(x)) return(x)
  out <- do.call(cbind, unname(as.list(x)))
  dimnames(out) <- list(NULL, names(x))
  attr(out, "assign") <- seq_along(x)
  out
}

check_single_level_factors <- function(terms, mf, call) {
  factors <- attr(terms, "factors")
  if (!length(factors)) return(invisible(TRUE))
  for (v in rownames(factors)[rowSums(factors) > 0]) {
    col <- mf[[v]]
    if (is.null(col)) next
    n_levels <- if (is.factor(col)) nlevels(droplevels(col)) else
      if (is.character(col) || is.logical(col)) length(unique(col)) else Inf
    if (n_levels < 2L) {
      cli::cli_abort(c("{.arg formula}: factor {.var {v}} has a single level, so it has no contrast to estimate.",
                       "i" = "Remove it from the model or check the data and {.arg subset}."),
                     call = call, class = "rwe_bad_input")
    }
  }
  invisible(TRUE)
}

#' Fit a Cox model from a covariate matrix
#'
#' The matrix-level twin of [cox_fit()]: validates its inputs, sorts them and calls the C++
#' kernel. No formula processing: `x` is used as given (no intercept column should be present).
#' The variance is the model-based one, as `survival::coxph.fit()` returns, whatever the
#' weights; for the robust variance coxph reports with non-integer weights use [cox_fit()].
#'
#' @param x A numeric matrix of covariates, one row per observation.
#' @param y A [survival::Surv()] object, right-censored or counting-process (`start`, `stop`,
#'   `event`), with one row per row of `x`.
#' @param strata Optional stratum of each row (vector or factor).
#' @param weights Optional non-negative case weights.
#' @param offset Optional offset, added to the linear predictor.
#' @param ties `"efron"` (default) or `"breslow"`.
#' @param init Optional starting values of the coefficients.
#' @param control Settings from [cox_control()].
#' @param concordance If `TRUE` (default), Harrell's concordance of the linear predictor is
#'   computed and stored, as `coxph()` does; `FALSE` skips it (as `survival::coxph.fit()`).
#' @return An object of class `rwe_cox` (without formula-related elements).
#' @examples
#' lung <- na.omit(survival::lung[, c("time", "status", "age", "sex")])
#' cox_fit_matrix(as.matrix(lung[, c("age", "sex")]),
#'                survival::Surv(lung$time, lung$status))
#' @export
cox_fit_matrix <- function(x, y, strata = NULL, weights = NULL, offset = NULL,
                           ties = c("efron", "breslow"), init = NULL, control = cox_control(),
                           concordance = TRUE) {
  ties <- check_ties(ties)
  call <- match.call()
  check_cox_control(control)
  y_parts <- check_surv_response(y)
  n <- length(y_parts$time)
  strata_info <- check_matrix_strata(strata, n)
  weights <- check_weights(weights, n)
  checked <- check_covariate_matrix(x, n, weights)
  x <- checked$x
  offset <- check_matrix_offset(offset, n)
  check_has_events(y_parts$status, weights)
  fixed <- fix_near_ties(y, y_parts$time, y_parts$start, control)
  raw <- cox_engine(x, fixed$time, fixed$start, y_parts$status, strata_info$codes,
                    weights, offset, ties, init, control, checked$summary,
                    time_rank = fixed$time_rank, start_rank = fixed$start_rank,
                    keep_order = concordance)
  fit <- new_rwe_cox(raw, y = fixed$y, x = x, strata = strata_info$codes,
                     strata_levels = strata_info$levels, weights = weights, offset = offset,
                     call = call, assign = as.list(stats::setNames(seq_len(ncol(x)), colnames(x))),
                     control = control, ties = ties, init = init)
  cox_finish(fit, robust = FALSE, cluster = NULL, design_x = x, concordance = concordance,
             row_order = raw$row_order, time_rank = fixed$time_rank, status = y_parts$status)
}

# Orders the rows for the kernel's grid (x itself is never sorted or copied), centres as
# survival::coxph does (weighted means for right-censored data, plain means for
# counting-process data, no centring of columns coded -1/0/1) and calls the C++ kernel.
# Returns the kernel's list; its linear predictors are in the original row order.
cox_engine <- function(x, time, start, status, strata, weights, offset, ties, init, control,
                       summary, time_rank = NULL, start_rank = NULL, keep_order = TRUE,
                       call = rlang::caller_env()) {
  p <- ncol(x)
  init <- check_init(init, x, offset, call)
  counting <- !is.null(start)
  # A constant shift of the offset cancels from the partial likelihood; coxph removes it.
  if (!is.null(offset) && (min(offset) != 0 || max(offset) != 0)) offset <- offset - mean(offset)
  zero_one <- summary$zero_one
  means <- if (counting) summary$means else summary$weighted_means
  means[zero_one] <- 0
  # NULL strata, weights, offset (absent): sent as length 0, nothing materialised
  strata <- as.integer(strata)
  n_strata <- if (length(strata)) max(strata) else 1L
  placement <- cox_placement(strata, time, status, start, time_rank, start_rank)
  iter_max <- if (p == 0L) 0L else control$iter.max
  wscale <- if (is.null(weights)) 1 else weight_scale(weights)
  raw <- cox_newton_cpp(x, time, status,
                        if (is.null(weights)) double() else if (wscale == 1) weights else weights / wscale,
                        offset %||% double(), strata, n_strata, start,
                        placement, as.double(means), !zero_one, as.double(init),
                        ties == "efron", iter_max, control$eps, control$toler.chol,
                        control$threads %||% 1L)
  if (wscale != 1) raw <- cox_unscale_weights(raw, wscale, weights / wscale, status)
  warn_variance_range(raw$var, raw$aliased, colnames(x))
  raw$linear.predictors <- raw$linear_predictors
  raw$linear_predictors <- NULL
  raw$means <- stats::setNames(means, colnames(x))
  raw$counting <- counting
  # Reversed, the row order is the concordance kernel's order for counting-process data (it
  # saves that a second sort); right-censored concordance needs no order.
  if (keep_order && counting) {
    raw$row_order <- if (is.null(placement$ord)) cox_row_order(strata, time, status, time_rank)
                     else placement$ord + 1L
  }
  if (p == 0L) raw$converged <- TRUE  # nothing to iterate on
  raw
}

# Weights far from 1 (all of them multiplied by 1e160, say) would overflow or underflow the
# kernel's sums of squares; they are divided by an exact power of two near their largest
# value (the NULL case costs one pass of max(), no copy). Returns 1 when no rescaling is needed.
weight_scale <- function(weights) {
  top <- max(weights)
  if (!(top > 0) || (top >= 2^-64 && top <= 2^64)) return(1)
  2^floor(log2(top))
}

# The kernel's results for weights `w` = weights / wscale, mapped to the original weights:
# the coefficients are unchanged; the score, information and the tests scale with the
# weights; each log partial likelihood gains log(wscale) per unit of event weight.
cox_unscale_weights <- function(raw, wscale, w, status) {
  event_weight <- sum(w[status > 0])
  raw$loglik <- wscale * (raw$loglik - log(wscale) * event_weight)
  raw$score <- raw$score * wscale
  raw$score_test <- raw$score_test * wscale
  raw$var <- raw$var / wscale
  raw
}

# Coefficients are exact at any covariate scale, but a variance is a squared scale: for a
# covariate multiplied by 1e-200 it overflows, by 1e160 it underflows (as in coxph). Say so
# rather than report infinite or zero standard errors silently.
warn_variance_range <- function(var, aliased, names) {
  v <- diag(var)[!aliased]
  bad <- names[!aliased][!is.finite(v) | v < .Machine$double.xmin]
  if (length(bad)) {
    cli::cli_warn(c("The variance of {.var {bad}} is outside the double-precision range.",
                    "i" = "Coefficients are exact, but standard errors and the Wald test are not; rescale {.var {bad}} (e.g. to units near 1)."),
                  class = "rwe_cox_scale")
  }
  invisible(TRUE)
}

# How the kernel places the rows on its event-time grid (see src/cox.cpp). With integer time
# ranks and at most a few times n (stratum, time) keys, the kernel builds the grid by counting
# over keys, with no sort at all; otherwise it walks the rows in sorted order.
cox_placement <- function(strata, time, status, start, time_rank, start_rank) {
  n_strata <- if (length(strata)) max(strata) else 1L
  n_times <- if (is.null(time_rank)) Inf else max(time_rank, start_rank)
  n_keys <- as.double(n_strata) * n_times
  counting <- !is.null(start)
  if (n_keys <= max(4 * length(time), 1e6) && (!counting || !is.null(start_rank))) {
    return(list(time_rank = time_rank, start_rank = start_rank, ntimes = as.integer(n_times)))
  }
  if (!length(strata)) strata <- rep(1L, length(time))  # one stratum; the sort needs codes
  list(ord = engine_order(strata, time, status) - 1L,
       start_order = if (counting) order(strata, start, method = "radix") - 1L)
}

# The order of engine_order() (stratum, time ascending, events first; ties kept in row
# order), computed from one integer key when the integer time ranks are known: radix-sorting
# one integer vector is several times faster than three keys with a double among them.
cox_row_order <- function(strata, time, status, time_rank = NULL) {
  if (!length(strata)) strata <- rep(1L, length(time))
  n_times <- if (is.null(time_rank)) 0 else max(time_rank)
  n_strata <- max(strata)
  if (is.null(time_rank) || 2 * n_times * n_strata >= .Machine$integer.max) {
    return(engine_order(strata, time, status))
  }
  key <- ((strata - 1L) * n_times + (time_rank - 1L)) * 2L + (status == 0)
  order(as.integer(key), method = "radix")
}

check_init <- function(init, x, offset, call) {
  p <- ncol(x)
  if (is.null(init)) return(rep(0, p))
  if (!is.numeric(init) || length(init) != p || any(!is.finite(init))) {
    cli::cli_abort("{.arg init} must be {p} finite number{?s}, one per coefficient; got {length(init)}.",
                   call = call, class = "rwe_bad_input")
  }
  # x may be the data frame of cox_design_matrix(columns = TRUE): no matrix is built for this
  eta <- if (is.matrix(x)) drop(x %*% init) - sum(colMeans(x) * init)
         else Reduce(`+`, Map(function(v, b) (v - mean(v)) * b, x, init))
  if (!is.null(offset)) eta <- eta + offset
  if (any(!is.finite(exp(eta))) || all(exp(eta) == 0)) {
    cli::cli_abort("{.arg init} makes the risk scores overflow or underflow.", call = call,
                   class = "rwe_bad_input")
  }
  as.double(init)
}

#' Constructor of `rwe_cox` results
#'
#' Assembles the result of [cox_fit()] / [cox_fit_matrix()] from the kernel's output. Not
#' usually called directly.
#'
#' @param raw The list returned by the internal engine (kernel output plus linear predictors;
#'   `raw$n`, when given, is the number of rows, for fits without per-row results such as
#'   [partitioned_cox_fit()]).
#' @param y The [survival::Surv()] response, original row order.
#' @param x The model matrix (original order) or `NULL`.
#' @param strata,strata_levels Integer stratum codes (original order) and their labels.
#' @param strata_vars,strata_table Names of the strata variables and one row per stratum.
#' @param weights,offset Case weights and offsets (original order).
#' @param terms,formula,call,na.action,xlevels,assign Model description, as in `coxph`.
#' @param control Settings from [cox_control()].
#' @param ties Tie handling, `"efron"` or `"breslow"`.
#' @param init Starting values, or `NULL` for zeros.
#' @return An object of class `rwe_cox`: a list with `coefficients` (named, `NA` when aliased),
#'   `var` (`NA` rows and columns when aliased), `loglik` (initial, final), `score.test`,
#'   `wald.test`, `lr.test` (each `c(statistic, df, p.value)`), `n`, `nevent`, `iter`,
#'   `converged`, `diverged`, `linear.predictors`, `means`, `method`, `score` (score vector at
#'   the estimate), `rank`, `y`, `x`, `strata`, `strata_levels`, `strata_vars`,
#'   `strata_table`, `weights`, `offset`, `terms`, `formula`, `call`, `na.action`, `xlevels`,
#'   `assign`, `control`, `init`, `robust`, `naive.var`, `robust.score.test` (with a robust
#'   variance: coxph's `rscore` as `c(statistic, df, p.value)`), `concordance`, and with
#'   `cox_fit(model = TRUE)` the model frame `model`.
#'
#'   Per-row fields of a [cox_fit()] result, as `coxph` keeps them: `linear.predictors`
#'   always; `y` unless `y = FALSE`; `x` only with `x = TRUE`; `weights` only when weights
#'   were given, `strata` only with a `strata()` term, `offset` only with an `offset()` term
#'   (otherwise `NULL`: all 1, one stratum, all 0). No residuals are stored. Methods that
#'   need a dropped field rebuild it from the data (see [model.matrix()][cox_model_frame]).
#'   A [cox_fit_matrix()] result has no data to rebuild from and keeps them all.
#' @examples
#' fit <- cox_fit(survival::Surv(time, status) ~ age, data = survival::lung)
#' class(fit)
#' @export
new_rwe_cox <- function(raw, y, x = NULL, strata = NULL, strata_levels = NULL,
                        strata_vars = character(), strata_table = NULL, weights = NULL,
                        offset = NULL, terms = NULL, formula = NULL, call = NULL,
                        na.action = NULL, xlevels = NULL, assign = NULL,
                        control = cox_control(), ties = "efron", init = NULL) {
  names_coef <- names(raw$means)
  aliased <- raw$aliased
  coef <- stats::setNames(raw$coefficients, names_coef)
  var <- raw$var
  dimnames(var) <- list(names_coef, names_coef)
  diverged <- cox_diverged(raw, coef, var, control)
  coef[aliased] <- NA
  var[aliased, ] <- NA
  var[, aliased] <- NA
  df <- sum(!aliased)
  lr <- 2 * (raw$loglik[2L] - raw$loglik[1L])
  fit <- list(
    coefficients = coef, var = var, loglik = raw$loglik,
    score.test = test_vector(raw$score_test, df), wald.test = NULL,
    lr.test = test_vector(lr, df), n = raw$n %||% length(raw$linear.predictors),
    nevent = raw$nevent %||% sum(unclass(y)[, ncol(y)]), iter = raw$iter, converged = raw$converged,
    diverged = stats::setNames(diverged, names_coef),
    linear.predictors = raw$linear.predictors, means = raw$means, method = ties,
    score = stats::setNames(raw$score, names_coef), rank = raw$rank, y = y, x = x,
    strata = strata, strata_levels = strata_levels, strata_vars = strata_vars,
    strata_table = strata_table, weights = weights, offset = offset, terms = terms,
    formula = formula, call = call, na.action = na.action, xlevels = xlevels,
    assign = assign, control = control, init = init, robust = FALSE, naive.var = NULL,
    robust.score.test = NULL,
    concordance = NULL
  )
  fit$wald.test <- cox_wald_test(fit)
  class(fit) <- "rwe_cox"
  fit
}

test_vector <- function(statistic, df) {
  c(statistic = statistic, df = df,
    p.value = if (df > 0) stats::pchisq(statistic, df, lower.tail = FALSE) else NA_real_)
}

# Wald test of coef = init over the non-aliased coefficients, with the generalised Cholesky
# (so that a singular robust variance is handled as coxph does); src/cox.cpp.
cox_wald_test <- function(fit) {
  w <- cox_wald_test_cpp(fit$var, fit$coefficients, as.double(fit$init),
                         fit$control$toler.chol)
  test_vector(w$statistic, w$df)
}

# "Coefficient may be infinite": the next Newton step, abs(u %*% var), is large relative to the
# coefficient although the log-likelihood has converged (coxph's rule; its counting-process
# variant compares with 1 + abs(coef)).
cox_diverged <- function(raw, coef, var, control) {
  p <- length(coef)
  if (p == 0L) return(logical())
  # The kernel's step is computed in its internal units (var may leave the double range).
  step <- abs(raw$newton_step %||% drop(raw$score %*% var))
  if (control$iter.max <= 1L) return(rep(FALSE, p))
  if (!raw$converged) return(!is.finite(step))
  big <- if (raw$counting) step > control$toler.inf * (1 + abs(coef)) else
    step > control$eps & step > control$toler.inf * abs(coef)
  !is.finite(raw$score) | big
}

# Robust variance, concordance and warnings: the steps that depend on other engines.
# `row_order`, if given, is the order the Cox kernel used (stratum, time ascending, events
# first); `time_rank` and `status`, if given, are what the engine read for fit$y (ranks among
# the distinct near-tie-merged times, 0/1 as doubles), reused rather than rebuilt.
cox_finish <- function(fit, robust, cluster, design_x, concordance = TRUE, row_order = NULL,
                       time_rank = NULL, status = NULL) {
  # as coxph: no robust variance when nothing was estimated
  if (isTRUE(robust) && !all(is.na(fit$coefficients))) {
    fit <- cox_add_robust(fit, cluster, design_x)
  }
  if (isTRUE(concordance)) {
    concordance <- compute_cox_concordance(fit, cluster, row_order, time_rank, status)
    fit["concordance"] <- list(concordance)  # keeps the slot when NULL
  }
  # Like coxph, a deliberately tiny iter.max (0 or 1: one step at a time) is not warned about.
  if (!fit$converged && fit$control$iter.max > 1L) {
    warn_not_converged(c("Ran out of iterations ({fit$iter}) and did not converge.",
                         "i" = "Increase {.arg iter.max} in {.fn cox_control}; the result is returned as is."),
                       class = "rwe_cox_not_converged", call = NULL)
  }
  cox_warn_singular(fit)
  if (any(fit$diverged)) {
    vars <- names(fit$coefficients)[fit$diverged]
    cli::cli_warn(c("Loglik converged before variable{?s} {.var {vars}}; coefficient{?s} may be infinite.",
                    "i" = "A Firth-penalised fit, {.code cox_fit(..., firth = TRUE)}, gives finite estimates."),
                  class = "rwe_cox_diverged")
  }
  fit
}

# More coefficients than rows or events, or nothing estimable: coxph returns NA coefficients
# without a word (its "X matrix deemed to be singular" is an error only with singular.ok =
# FALSE); an all-NA or p > n fit is worth a warning.
cox_warn_singular <- function(fit) {
  coef <- fit$coefficients
  p <- length(coef)
  aliased <- is.na(coef)
  if (!any(aliased) || !(all(aliased) || p > fit$n || p > fit$nevent)) return(invisible())
  vars <- names(coef)[aliased]
  cli::cli_warn(c("X matrix deemed to be singular: coefficient{?s} {.var {vars}} {?is/are} {.val NA}.",
                  "i" = "The model has {p} coefficient{?s} for {fit$n} row{?s} and {fit$nevent} event{?s}."),
                class = "rwe_cox_singular")
}

cox_add_robust <- function(fit, cluster, design_x) {
  # the residuals read every per-row field: x, and weights, strata, offset if left NULL
  full <- fit
  if (is.null(full$x)) full$x <- design_x
  n <- length(fit$linear.predictors)
  if (is.null(full$weights)) full$weights <- rep(1, n)
  if (is.null(full$strata)) full$strata <- rep(1L, n)
  if (is.null(full$offset)) full$offset <- rep(0, n)
  v <- cox_robust_var(full, cluster)
  # coxph's robust score test: score residuals at init, summed within clusters (each row
  # its own cluster when none is given)
  rscore <- cox_robust_score_test(full, cluster, init = fit$init)
  rm(full)
  fit$robust.score.test <- test_vector(rscore, sum(!is.na(fit$coefficients)))
  fit$naive.var <- fit$var
  keep <- !is.na(fit$coefficients)
  fit$var[keep, keep] <- v[keep, keep]
  fit$robust <- TRUE
  fit$wald.test <- cox_wald_test(fit)
  fit
}

# Harrell's concordance of the linear predictor, in coxph's layout, on the (time-fixed)
# response the model was fitted to; clusters enter its variance as they do in coxph.
# Right-censored data need only the ranks of the times: given `time_rank` (and `status`), no
# column of the response is copied (each is n doubles).
compute_cox_concordance <- function(fit, cluster = NULL, row_order = NULL, time_rank = NULL,
                                    status = NULL) {
  if (length(fit$coefficients) == 0L) return(NULL)
  counting <- attr(fit$y, "type") == "counting"
  y <- fit$y
  if (counting || is.null(time_rank)) {
    time <- as.double(surv_column(y, if (counting) 2L else 1L))
    time_rank <- NULL
  }
  cox_concordance_validated(time = if (is.null(time_rank)) time,
                            status = status %||% as.double(surv_column(y, ncol(y))),
                            lp = fit$linear.predictors, strata = fit$strata,
                            weights = fit$weights,
                            start = if (counting) as.double(surv_column(y, 1L)),
                            cluster = cluster, row_order = row_order, time_rank = time_rank)
}

# ---- methods ------------------------------------------------------------------------------
# Every method refuses arguments it does not know: a misspelt `conf.levl = 0.9` must not
# silently give 95% intervals.

cox_se <- function(object) sqrt(diag(object$var))

# coxph's layout: with a robust variance `se(coef)` is the model-based SE and `robust se`
# the one z and p use.
cox_coef_table <- function(object) {
  coef <- object$coefficients
  se <- cox_se(object)
  z <- coef / se
  out <- cbind(coef = coef, `exp(coef)` = exp(coef), `se(coef)` = se)
  if (isTRUE(object$robust)) {
    out[, "se(coef)"] <- sqrt(diag(object$naive.var))
    out <- cbind(out, `robust se` = se)
  }
  cbind(out, z = z, p = 2 * stats::pnorm(-abs(z)))
}

cox_variance_note <- "Robust (sandwich) variance: z and p use `robust se`; `se(coef)` is model-based."

#' @export
print.rwe_cox <- function(x, digits = max(1L, getOption("digits") - 3L), signif.stars = FALSE,
                          ...) {
  check_dots_empty_bad(...)
  if (!is.null(x$call)) cat("Call:\n", paste(deparse(x$call), collapse = "\n"), "\n\n", sep = "")
  if (length(x$coefficients)) {
    stats::printCoefmat(cox_coef_table(x), digits = digits, P.values = TRUE, has.Pvalue = TRUE,
                        signif.stars = signif.stars, na.print = "NA")
    if (isTRUE(x$robust)) cat(cox_variance_note, "\n", sep = "")
    lr <- x$lr.test
    cat("\nLikelihood ratio test=", format(round(lr[["statistic"]], 2)), " on ", lr[["df"]],
        " df, p=", format.pval(lr[["p.value"]], digits = digits), "\n", sep = "")
  } else {
    cat("Null model: log likelihood=", format(x$loglik[2L]), "\n", sep = "")
  }
  cat("n= ", x$n, ", number of events= ", x$nevent, "\n", sep = "")
  if (length(x$na.action)) cat("   (", stats::naprint(x$na.action), ")\n", sep = "")
  if (!x$converged) cat("Did not converge in ", x$iter, " iterations.\n", sep = "")
  if (any(x$diverged)) {
    cat("Note: ", paste(names(x$coefficients)[x$diverged], collapse = ", "), ": ",
        cox_diverged_note, "\n", sep = "")
  }
  invisible(x)
}

#' Summarise a Cox model fit
#'
#' @param object An `rwe_cox` fit from [cox_fit()] or [cox_fit_matrix()].
#' @param conf.level Confidence level of the hazard-ratio intervals (`summary.coxph()`'s
#'   `conf.int`); `FALSE` leaves them out.
#' @param ... Must be empty.
#' @param conf.int Deprecated name of `conf.level` (a warning of class `rwe_deprecated`);
#'   `conf.int = FALSE` still leaves the intervals out, as in `summary.coxph()`.
#' @return An object of class `summary.rwe_cox`: the coefficient table, hazard ratios with
#'   confidence intervals, concordance (when computed), the likelihood-ratio, Wald and score
#'   tests, the robust score test `robscore` (with a robust variance), `rsq` (coxph's
#'   `c(rsq, maxrsq)`: `1 - exp(-LR / n)` and its maximum `1 - exp(2 loglik0 / n)`) and
#'   `used.robust`.
#' @examples
#' summary(cox_fit(survival::Surv(time, status) ~ age + sex, data = survival::lung),
#'         conf.level = 0.9)
#' @export
summary.rwe_cox <- function(object, conf.level = 0.95, ..., conf.int = NULL) {
  check_dots_empty_bad(...)
  if (isFALSE(conf.int)) conf.level <- FALSE else if (!isFALSE(conf.level)) {
    conf.level <- deprecated_conf_int(conf.int, conf.level, !missing(conf.level))
  }
  coef <- object$coefficients
  conf <- NULL
  if (!isFALSE(conf.level)) {
    level <- conf.level
    se <- cox_se(object)
    q <- stats::qnorm(1 - (1 - level) / 2)
    conf <- cbind(`exp(coef)` = exp(coef), `exp(-coef)` = exp(-coef),
                  lower = exp(coef - q * se), upper = exp(coef + q * se))
    colnames(conf)[3:4] <- paste0(c("lower .", "upper ."), round(100 * level, 2))
  }
  tests <- rbind(`Likelihood ratio test` = object$lr.test, `Wald test` = object$wald.test,
                 `Score (logrank) test` = object$score.test)
  lr <- object$lr.test[["statistic"]]
  rsq <- c(rsq = 1 - exp(-lr / object$n), maxrsq = 1 - exp(2 * object$loglik[1L] / object$n))
  structure(list(call = object$call, n = object$n, nevent = object$nevent,
                 coefficients = cox_coef_table(object), conf.int = conf,
                 concordance = object$concordance, tests = tests,
                 robscore = object$robust.score.test, rsq = rsq,
                 used.robust = isTRUE(object$robust), loglik = object$loglik,
                 na.action = object$na.action, converged = object$converged,
                 method = object$method),
            class = "summary.rwe_cox")
}

#' @export
print.summary.rwe_cox <- function(x, digits = max(1L, getOption("digits") - 3L),
                                  signif.stars = getOption("show.signif.stars"), ...) {
  check_dots_empty_bad(...)
  if (!is.null(x$call)) cat("Call:\n", paste(deparse(x$call), collapse = "\n"), "\n\n", sep = "")
  cat("  n= ", x$n, ", number of events= ", x$nevent, "\n", sep = "")
  if (length(x$na.action)) cat("   (", stats::naprint(x$na.action), ")\n", sep = "")
  cat("\n")
  if (nrow(x$coefficients)) {
    stats::printCoefmat(x$coefficients, digits = digits, P.values = TRUE, has.Pvalue = TRUE,
                        signif.stars = signif.stars, na.print = "NA")
    if (isTRUE(x$used.robust)) cat(cox_variance_note, "\n", sep = "")
    cat("\n")
    if (!is.null(x$conf.int)) {
      print(signif(x$conf.int, digits), na.print = "NA")
      cat("\n")
    }
  }
  if (!is.null(x$concordance) && length(x$concordance) >= 7L) {
    cat("Concordance= ", format(round(x$concordance[["concordance"]], 3)), "  (se = ",
        format(round(x$concordance[["std"]], 3)), " )\n", sep = "")
  }
  tests <- rbind(x$tests, `Robust score test` = x$robscore)
  for (i in seq_len(nrow(tests))) {
    cat(format(rownames(tests)[i], width = 22), "= ", format(round(tests[i, 1L], 2)),
        "  on ", tests[i, 2L], " df,   p=",
        format.pval(tests[i, 3L], digits = digits), "\n", sep = "")
  }
  if (isTRUE(x$used.robust)) {
    cat("  (Note: the likelihood ratio and score tests assume independence of observations\n",
        "   within a cluster, the Wald and robust score tests do not.)\n", sep = "")
  }
  invisible(x)
}

#' @export
coef.rwe_cox <- function(object, ...) {
  check_dots_empty_bad(...)
  object$coefficients
}

#' @export
vcov.rwe_cox <- function(object, ...) {
  check_dots_empty_bad(...)
  object$var
}

#' @export
nobs.rwe_cox <- function(object, use.fallback = FALSE, ...) {
  # stats::step() and drop1() call nobs(object, use.fallback = TRUE): the one argument we accept.
  check_dots_empty_bad(...)
  object$nevent
}

#' @export
logLik.rwe_cox <- function(object, ...) {
  check_dots_empty_bad(...)
  structure(object$loglik[2L], df = sum(!is.na(object$coefficients)), nobs = object$nevent,
            class = "logLik")
}

#' @export
confint.rwe_cox <- function(object, parm, level = 0.95, ...) {
  check_dots_empty_bad(...)
  check_conf_level(level, arg = "level")
  coef <- object$coefficients
  if (missing(parm)) parm <- names(coef)
  q <- stats::qnorm(1 - (1 - level) / 2)
  se <- cox_se(object)
  out <- cbind(coef - q * se, coef + q * se)
  pct <- paste(format(100 * c((1 - level) / 2, 1 - (1 - level) / 2), trim = TRUE,
                      scientific = FALSE, digits = 3), "%")
  dimnames(out) <- list(names(coef), pct)
  out[parm, , drop = FALSE]
}

#' Tidy a Cox model fit
#'
#' @param x An `rwe_cox` fit.
#' @param exponentiate If `TRUE`, report hazard ratios (estimate and interval exponentiated).
#' @param conf.int If `TRUE`, add `conf.low` and `conf.high`.
#' @param conf.level Confidence level of the interval.
#' @param ... Must be empty.
#' @return A data frame with columns `term`, `estimate`, `std.error`, `statistic`, `p.value`
#'   and, with `conf.int = TRUE`, `conf.low`, `conf.high`. With a robust variance, as
#'   broom's `tidy.coxph()`: `std.error` is the model-based SE, a column `robust.se` follows
#'   it, and `statistic`, `p.value` and the interval use the robust SE. When a coefficient
#'   may be infinite (monotone likelihood, `x$diverged`), a column `flag` says so for that
#'   term (`NA` for the others).
#' @examples
#' fit <- cox_fit(survival::Surv(time, status) ~ age + sex, data = survival::lung)
#' generics::tidy(fit, exponentiate = TRUE, conf.int = TRUE)
#' @export
tidy.rwe_cox <- function(x, exponentiate = FALSE, conf.int = FALSE, conf.level = 0.95, ...) {
  check_dots_empty_bad(...)
  table <- cox_coef_table(x)
  out <- data.frame(term = rownames(table), estimate = unname(table[, "coef"]),
                    std.error = unname(table[, "se(coef)"]), stringsAsFactors = FALSE)
  if (isTRUE(x$robust)) out$robust.se <- unname(table[, "robust se"])
  out$statistic <- unname(table[, "z"])
  out$p.value <- unname(table[, "p"])
  if (conf.int) {
    ci <- confint.rwe_cox(x, level = conf.level)
    out$conf.low <- unname(ci[, 1L])
    out$conf.high <- unname(ci[, 2L])
  }
  if (exponentiate) {
    out$estimate <- exp(out$estimate)
    if (conf.int) {
      out$conf.low <- exp(out$conf.low)
      out$conf.high <- exp(out$conf.high)
    }
  }
  if (any(x$diverged)) out$flag <- ifelse(unname(x$diverged), cox_diverged_note, NA_character_)
  out
}

cox_diverged_note <- "monotone likelihood: HR may be infinite; consider firth = TRUE"


#' Glance at a Cox model fit
#'
#' @param x An `rwe_cox` fit.
#' @param ... Must be empty.
#' @return A one-row data frame with broom's `glance.coxph` columns: `n`, `nevent`,
#'   `statistic.log`, `p.value.log`, `statistic.sc`, `p.value.sc`, `statistic.wald`,
#'   `p.value.wald`, `statistic.robust`, `p.value.robust` (the robust score test; `NA`
#'   without a robust variance), `r.squared`, `r.squared.max` (summary's `rsq`),
#'   `concordance`, `std.error.concordance`, `logLik`, `AIC`, `BIC`, `nobs`.
#' @examples
#' generics::glance(cox_fit(survival::Surv(time, status) ~ age + sex, data = survival::lung))
#' @export
glance.rwe_cox <- function(x, ...) {
  check_dots_empty_bad(...)
  s <- summary.rwe_cox(x, conf.int = FALSE)
  ll <- logLik.rwe_cox(x)
  conc <- x$concordance
  robust <- x$robust.score.test %||% c(statistic = NA_real_, df = NA_real_, p.value = NA_real_)
  data.frame(
    n = x$n, nevent = x$nevent,
    statistic.log = x$lr.test[["statistic"]], p.value.log = x$lr.test[["p.value"]],
    statistic.sc = x$score.test[["statistic"]], p.value.sc = x$score.test[["p.value"]],
    statistic.wald = x$wald.test[["statistic"]], p.value.wald = x$wald.test[["p.value"]],
    statistic.robust = robust[["statistic"]], p.value.robust = robust[["p.value"]],
    r.squared = s$rsq[["rsq"]], r.squared.max = s$rsq[["maxrsq"]],
    concordance = if (is.null(conc)) NA_real_ else unname(conc["concordance"]),
    std.error.concordance = if (is.null(conc)) NA_real_ else unname(conc["std"]),
    logLik = as.numeric(ll), AIC = stats::AIC(ll), BIC = stats::BIC(ll), nobs = x$nevent
  )
}
