# Kaplan-Meier estimation: formula verb km_fit(), matrix twin km_fit_matrix(), the rwe_km
# class and its methods. The C++ kernel (src/km.cpp) only counts and multiplies; everything
# here validates, sorts, and turns the per-time counts into the quantities survival reports.

#' Kaplan-Meier survival curves
#'
#' Fits one Kaplan-Meier curve per combination of the right-hand-side variables of `formula`
#' (`~ 1` for a single curve; `strata()` terms are treated as grouping variables too).
#' Times closer than `sqrt(.Machine$double.eps)` are treated as tied, as survfit's default
#' `timefix = TRUE` does. The
#' estimates, standard errors and confidence limits agree with [survival::survfit()]:
#' Greenwood standard errors, or, as survfit does by default when case weights are not
#' integers (e.g. inverse-probability weights), the infinitesimal-jackknife ("robust")
#' standard error.
#'
#' @param formula A formula with a [survival::Surv()] response: `Surv(time, status)` or
#'   counting-process `Surv(start, stop, status)`.
#' @param data A data frame holding the variables of `formula`.
#' @param weights Optional non-negative case weights (evaluated in `data`).
#' @param subset Optional expression selecting rows of `data`.
#' @param na.action Function handling missing values (default: `getOption("na.action")`).
#' @param conf.type Scale of the pointwise confidence limits: `"log"` (default, as
#'   survfit), `"log-log"` or `"plain"`.
#' @param conf.level Confidence level of the limits, between 0 and 1.
#' @param conf.int Deprecated name of `conf.level` (a warning of class `rwe_deprecated`).
#' @param robust Standard error: `FALSE` for Greenwood, `TRUE` for the
#'   infinitesimal-jackknife SE (right-censored data only). `NULL` (default) follows
#'   survfit: robust when some case weight is not an integer; with counting-process data
#'   and non-integer weights it is an error (survfit's robust SE is not implemented there):
#'   give `robust = FALSE` for Greenwood SEs.
#' @param id Optional subject identifier (evaluated in `data`), as survfit's `id`, for
#'   data with several rows per subject (counting-process `Surv(start, stop, event)`
#'   records). The curves do not change; a censored row that the subject's next row in the
#'   same curve continues is not counted in `n.censor` (survfit's rule; with several
#'   curves survival 3.5 applies its flags to the wrong rows, so only `n.censor` can differ
#'   there); the number of subjects per curve is stored as `n.id` and printed. A robust SE, which would have to be summed by subject, is refused
#'   when some subject has several rows.
#' @return An object of class `rwe_km`: a list with
#'   * `curves`: a data frame with one row per stratum and distinct time: `stratum` (row of
#'     `strata`), `time`, `n.risk`, `n.event`, `n.censor` (weighted when weights are given,
#'     as survfit), `surv`, `std.err.surv` (SE of S), `std.err.log` (SE of log S: what
#'     survfit stores as `std.err` for Greenwood SEs), `lower`, `upper`; with weights also
#'     the unweighted `n.risk.rows`, `n.event.rows`;
#'   * `strata`: a data frame, one row per curve, one column per grouping variable (no
#'     columns for `~ 1`);
#'   * `strata_label`: labels such as `"sex=1"`; `n`: records per curve;
#'   * `conf.type`, `conf.level`, `variance` (`"greenwood"` or `"robust"`), `weighted`,
#'     `counting`, `call`, `na.action`; with `id`, `n.id` (subjects per curve).
#' @examples
#' fit <- km_fit(survival::Surv(time, status) ~ sex, data = survival::lung)
#' fit
#' quantile(fit)
#' km_rmean(fit, "individual")
#' summary(fit, times = c(180, 365))
#' @export
km_fit <- function(formula, data, weights, subset, na.action,
                   conf.type = c("log", "log-log", "plain"), conf.level = 0.95, robust = NULL,
                   id, conf.int = NULL) {
  # defaults are valid: checked only when given (a small call's fixed cost matters)
  conf.type <- if (missing(conf.type)) "log" else {
    match_choice(conf.type, c("log", "log-log", "plain"))
  }
  if (!missing(conf.level) || !is.null(conf.int)) {
    conf.level <- deprecated_conf_int(conf.int, conf.level, !missing(conf.level))
  }
  mc <- match.call()
  env <- parent.frame()
  here <- environment()
  frame <- surv_frame_cached(mc, env, "km", function() {
    mf <- surv_model_frame(mc, env, extra = "id", call = here)
    parts <- surv_parts(mf, call = here)
    refuse_cluster_offset(mf, "km_fit", call = here)
    list(mf = mf, parts = parts, groups = rhs_groups(mf, include_strata = TRUE))
  })
  mf <- frame$mf
  parts <- frame$parts
  groups <- frame$groups
  weighted <- !is.null(.subset2(mf, "(weights)"))
  id <- km_check_id(.subset2(mf, "(id)"), parts, robust, weighted)
  fit <- km_engine(parts$time, parts$status, parts$weights, parts$start, groups,
                   conf.type = conf.type, conf.level = conf.level, robust = robust,
                   weighted = weighted, call = mc, na.action = parts$na.action)
  if (!is.null(id)) fit <- km_apply_id(fit, id, parts, groups$codes)
  fit
}

# With `id`, a censored row whose subject continues in the same curve from its stop time (the
# next row of that id starts there) is no censoring: the subject is still at risk. survfit
# flags such rows the same way (its survflag()); `n.id` counts the subjects of each curve.
km_apply_id <- function(fit, id, parts, codes) {
  k <- nrow(fit$strata)
  fit$n.id <- vapply(split(id, factor(codes, seq_len(k))), function(v) length(unique(v)),
                     integer(1), USE.NAMES = FALSE)
  if (!parts$counting) return(fit)
  n <- length(id)
  ord <- order(codes, id, parts$time)
  same <- codes[ord][-n] == codes[ord][-1L] & id[ord][-n] == id[ord][-1L] &
    parts$start[ord][-1L] <= parts$time[ord][-n]
  continued <- logical(n)
  continued[ord] <- c(same, FALSE)
  carried <- which(parts$status == 0 & continued)
  if (!length(carried)) return(fit)
  cv <- fit$curves
  rows <- km_strata_rows(fit)
  tol <- sqrt(.Machine$double.eps)
  for (s in unique(codes[carried])) {
    r <- carried[codes[carried] == s]
    ct <- rows[[s]]
    # the curve time each row was counted at (times within `tol` were merged)
    at <- ct[findInterval(parts$time[r] + tol * pmax(1, abs(parts$time[r])), cv$time[ct])]
    drop <- rowsum(parts$weights[r], at)
    idx <- as.integer(rownames(drop))
    cv$n.censor[idx] <- cv$n.censor[idx] - drop[, 1L]
  }
  fit$curves <- cv
  fit
}

# survfit's `id`: which rows belong to one subject. For single-state curves it changes only
# the robust variance (the infinitesimal-jackknife terms of a subject's rows are added before
# squaring); that collapsed variance is not implemented, so a robust SE with repeated ids is
# refused rather than computed per row.
km_check_id <- function(id, parts, robust, weighted, call = rlang::caller_env()) {
  if (is.null(id)) return(NULL)
  bad <- which(is.na(id))
  if (length(bad)) abort_rows("id", "has missing values", bad, call)
  fractional <- weighted && any(parts$weights != floor(parts$weights))
  # survfit's default turns robust when a subject has several events
  several_events <- anyDuplicated(id[parts$status == 1]) > 0L
  wants_robust <- isTRUE(robust) ||
    (is.null(robust) && ((fractional && !parts$counting) || several_events))
  if (wants_robust && anyDuplicated(id)) {
    cli::cli_abort(c("{.arg id}: a robust standard error with several rows per subject is not implemented.",
                     "i" = "{.fn survival::survfit} would add each subject's jackknife terms first; use {.code robust = FALSE} for Greenwood standard errors."),
                   call = call, class = "rwe_bad_input")
  }
  id
}

#' Kaplan-Meier curves from vectors
#'
#' Matrix-level twin of [km_fit()]: validates and sorts the inputs, then runs the same
#' kernel.
#'
#' @param time Follow-up (stop) times: finite, non-negative numbers.
#' @param status Event indicator: 0/1, `FALSE`/`TRUE`, or 1/2 (1 = censored) as in `Surv()`.
#' @param group Optional grouping: a vector, or a data frame/list of vectors whose
#'   combinations define the curves. `NULL` for one curve.
#' @param weights Optional non-negative case weights.
#' @param start Optional entry times for counting-process (left-truncated) data; each must be
#'   smaller than its `time`.
#' @inheritParams km_fit
#' @return An `rwe_km` object, as [km_fit()].
#' @examples
#' lung <- survival::lung
#' km_fit_matrix(lung$time, lung$status, group = lung$sex)
#' @export
km_fit_matrix <- function(time, status, group = NULL, weights = NULL, start = NULL,
                          conf.type = c("log", "log-log", "plain"), conf.level = 0.95,
                          robust = NULL, conf.int = NULL) {
  conf.type <- match_choice(conf.type, c("log", "log-log", "plain"))
  conf.level <- deprecated_conf_int(conf.int, conf.level, !missing(conf.level))
  time <- check_numeric_vector(time, finite = FALSE)
  n <- length(time)
  if (n == 0L) {
    cli::cli_abort("{.arg time} has zero length.", class = "rwe_bad_input")
  }
  if (!is.null(start)) start <- check_numeric_vector(start, n = n, finite = FALSE)
  check_times(time, start)
  status <- check_status(status, n)
  weighted <- !is.null(weights)
  weights <- check_weights(weights, n)
  groups <- vector_groups(group, n)
  km_engine(time, status, weights, start, groups, conf.type = conf.type,
            conf.level = conf.level, robust = robust, weighted = weighted, call = match.call(),
            na.action = NULL)
}

# Sorts once, calls the counting kernel and the estimator, and builds the rwe_km object.
km_engine <- function(time, status, weights, start, groups, conf.type, conf.level, robust,
                      weighted, call, na.action) {
  robust <- km_use_robust(robust, if (weighted) weights, counting = !is.null(start),
                          call = rlang::caller_env())  # errors name the verb
  fixed <- merge_near_ties(time, start)
  time <- fixed$time
  start <- fixed$start
  codes <- groups$codes
  # Weights far from 1 (x 1e-160, say) would underflow or overflow the squared-weight sums
  # of the robust variance: they are divided by an exact power of two (weight_scale(),
  # R/cox-fit.R); S and the robust SE do not depend on it, Greenwood's sum scales with 1 / wscale.
  wscale <- weight_scale(weights)
  counts <- km_counts(fixed, status, if (wscale == 1) weights else weights / wscale, codes,
                      nrow(groups$table))
  curves <- km_curves(counts, robust, conf.type, conf.level, weighted, wscale)
  new_rwe_km(curves = curves, strata = groups$table, strata_label = groups$label,
             n = tabulate(codes, nbins = nrow(groups$table)), conf.type = conf.type,
             conf.level = conf.level, variance = if (robust) "robust" else "greenwood",
             weighted = weighted, counting = !is.null(start), call = call,
             na.action = na.action)
}

# The curves from per (group, distinct time) counts: the one counts -> estimate step of every
# Kaplan-Meier verb (km_fit() from its rows, partitioned_km_fit() from the partitions' summed
# counts). `counts` has km_counts_cpp()'s elements (the unweighted `*.rows` ones with
# weights, the `*.w2` sums for the robust SE); counts made with weights / wscale are mapped
# back: S and the robust SE do not depend on wscale, Greenwood's sum scales with 1 / wscale.
km_curves <- function(counts, robust, conf.type, conf.level, weighted, wscale = 1) {
  est <- km_estimate_cpp(counts$group, counts$n.risk, counts$n.event)
  if (wscale != 1) est$greenwood <- est$greenwood / wscale
  se <- km_standard_errors(est, counts, robust)
  if (wscale != 1) {
    for (k in c("n.risk", "n.event", "n.censor")) counts[[k]] <- counts[[k]] * wscale
  }
  limits <- km_conf_limits(est$surv, se$log, conf.type, conf.level)
  curves <- new_df(list(stratum = counts$group, time = counts$time, n.risk = counts$n.risk,
                       n.event = counts$n.event, n.censor = counts$n.censor,
                       surv = est$surv, std.err.surv = se$surv, std.err.log = se$log,
                       lower = limits$lower, upper = limits$upper))
  if (weighted) {
    curves$n.risk.rows <- counts$n.risk.rows
    curves$n.event.rows <- counts$n.event.rows
  }
  curves
}

# Per (group, distinct time) sums of km_counts_cpp(). Right-censored data with few distinct
# times (day resolution): counted straight into a dense grid, no sort. Otherwise sorted by
# group and time (and by group and start time for counting-process data) first.
km_counts <- function(fixed, status, weights, codes, n_groups) {
  if (is.null(fixed$start) &&
      as.double(n_groups) * length(fixed$values) <= 4 * length(status) + 1e5) {
    return(km_counts_dense_cpp(fixed$time_rank, fixed$values, status, weights, codes,
                               n_groups))
  }
  ord <- km_order(codes, fixed$time_rank)
  if (is.null(fixed$start)) {
    entry_time <- numeric()
    entry_ord <- integer()
  } else {
    entry_time <- fixed$start
    entry_ord <- km_order(codes, fixed$start_rank)
  }
  km_counts_cpp(fixed$time, status, weights, codes, ord, entry_time, entry_ord)
}

# survfit's default: the robust (infinitesimal-jackknife) SE when weights are not integers.
km_use_robust <- function(robust, weights, counting, call = rlang::caller_env()) {
  fractional <- !is.null(weights) && any(weights != floor(weights))
  if (is.null(robust)) {
    if (fractional && counting) {
      # survfit would use the robust variance here, which we do not implement for
      # counting-process data: refuse rather than give other standard errors silently
      cli::cli_abort(c("{.arg robust}: non-integer weights with {.code Surv(start, stop, event)} data need a choice of standard error.",
                       "i" = "{.fn survival::survfit} uses a robust variance here; it is not implemented for counting-process data.",
                       "i" = "Set {.code robust = FALSE} for Greenwood standard errors (as {.code survfit(robust = FALSE)})."),
                     call = call, class = "rwe_bad_input")
    }
    return(fractional)
  }
  check_flag(robust, allow_null = TRUE, call = call)
  if (robust && counting) {
    cli::cli_abort("{.arg robust}: the robust standard error is implemented for right-censored data only.",
                   call = call, class = "rwe_bad_input")
  }
  robust
}

# SE of S and of log S. Greenwood: SE(log S) = sqrt(Greenwood sum), infinite where S = 0
# (where SE(S) is left NA: survfit's Inf * 0). Robust: SE(S) from the kernel, SE(log S) =
# SE(S) / S, taken as 0 where SE(S) = 0 (survfit's convention).
km_standard_errors <- function(est, counts, robust) {
  if (!robust) {
    se_log <- sqrt(est$greenwood)
    return(list(surv = km_se_surv(est$surv, se_log), log = se_log))
  }
  se_surv <- km_ij_se_cpp(counts$group, est$surv, counts$n.risk, counts$n.event,
                          counts$n.risk.w2, counts$n.event.w2, counts$n.censor.w2)
  list(surv = se_surv, log = ifelse(se_surv == 0, 0, se_surv / est$surv))
}

# 0-based row order by group, then time (given as integer ranks: radix-sorting integers is
# several times faster than doubles). Unlike engine_order() the event/censoring order at
# tied times is not needed: the kernels count all rows of a (group, time) together.
km_order <- function(codes, time_rank) {
  ord <- if (codes[length(codes)] == 1L && all(codes == 1L)) {
    order(time_rank, method = "radix")
  } else {
    order(codes, time_rank, method = "radix")
  }
  ord - 1L
}

#' @noRd
new_rwe_km <- function(curves, strata, strata_label, n, conf.type, conf.level, variance,
                       weighted, counting, call, na.action) {
  # an internal constructor: a plain check is cheaper than stopifnot() on every small call
  if (!is.data.frame(curves) || !is.data.frame(strata) || length(n) != .row_names_info(strata, 2L)) {
    abort_internal("Kaplan-Meier curves and strata do not match")
  }
  fit <- list(curves = curves, strata = strata, strata_label = strata_label, n = n,
              conf.type = conf.type, conf.level = conf.level, variance = variance,
              weighted = weighted, counting = counting, call = call, na.action = na.action)
  class(fit) <- "rwe_km"  # not structure(): its argument handling is a cost on small calls
  fit
}

# Greenwood SE of S = S * SE(log S); undefined (NA) where the curve has reached 0, where
# survfit's own product Inf * 0 gives NaN.
km_se_surv <- function(surv, se_log) {
  out <- surv * se_log
  out[surv == 0] <- NA_real_
  out
}

# Pointwise limits with survfit's conventions: none (NA) where S = 0 on the log and log-log
# scales, and none where S = 1 on the log-log scale; log and plain upper limits capped at 1,
# plain lower limit floored at 0 (at S = 0 the plain limits are NA with Greenwood SEs,
# survfit's Inf * 0, and 0 with robust SEs).
km_conf_limits <- function(surv, se_log, conf.type, conf.level) {
  z <- stats::qnorm(1 - (1 - conf.level) / 2)
  # (indexing rather than ifelse() / pmin(): this runs on every small call)
  s <- surv
  s[surv == 0] <- NA_real_
  if (conf.type == "log") {
    lower <- exp(log(s) - z * se_log)
    upper <- exp(log(s) + z * se_log)
    upper[which(upper > 1)] <- 1
  } else if (conf.type == "log-log") {
    s[!is.na(s) & s == 1] <- NA_real_
    half <- z * se_log / log(s)
    lower <- exp(-exp(log(-log(s)) - half))
    upper <- exp(-exp(log(-log(s)) + half))
  } else {
    half <- z * se_log * surv
    half[is.nan(half)] <- NA_real_
    lower <- pmax(surv - half, 0)
    upper <- pmin(surv + half, 1)
  }
  list(lower = lower, upper = upper)
}

# ---- Grouping shared by km_fit() and logrank_test() -------------------------------------

# cluster() and offset() terms mean something in survival (a robust variance; survdiff's
# one-sample test) that these verbs do not compute: refuse them instead of dropping them.
refuse_cluster_offset <- function(mf, verb, call = rlang::caller_env()) {
  qty <- cli::qty
  tt <- stats::terms(mf)
  specials <- attr(tt, "specials")
  found <- c(if (length(specials$cluster)) "cluster()",
             if (length(specials$offset) || length(attr(tt, "offset"))) "offset()")
  if (length(found)) {
    cli::cli_abort(c("{.arg formula}: {.fn {verb}} does not support {.code {found}} term{?s}.",
                     "i" = "{qty(length(found))}{?It is/They are} given a meaning in {.pkg survival} (robust variance, one-sample test) that is not implemented here."),
                   call = call, class = "rwe_bad_input")
  }
  invisible(TRUE)
}

# Groups from the right-hand side of a survival model frame. `include_strata = TRUE` makes
# strata() terms grouping variables too (KM); otherwise they are left out (log-rank, where
# they stratify; `strata_only = TRUE` returns just those strata). Returns integer codes
# 1..k per row, a data frame with one row per group and one real column per variable, and
# survfit-style labels ("sex=1, ph.ecog=0").
rhs_groups <- function(mf, include_strata, strata_only = FALSE) {
  tt <- stats::terms(mf)
  vars <- as.list(attr(tt, "variables"))[-1L]
  specials <- attr(tt, "specials")
  drop <- c(attr(tt, "response"), specials$cluster, specials$offset)
  if (!include_strata) drop <- c(drop, specials$strata)
  cols <- setdiff(seq_along(vars), drop)
  if (strata_only) cols <- intersect(cols, specials$strata)
  values <- lapply(cols, function(j) {
    x <- mf[[j]]
    if (j %in% specials$strata) strata_values(x, strata_name(vars[[j]])) else x
  })
  names(values) <- vapply(cols, function(j) variable_name(vars[[j]]), character(1))
  combine_groups(values, nrow(mf))
}

# The column name a grouping variable gets: its variable for a call like factor(x) or
# strata(x), otherwise the deparsed expression.
variable_name <- function(expr) {
  v <- all.vars(expr)
  if (length(v) == 1L) v else paste(deparse(expr), collapse = "")
}

strata_name <- function(expr) paste(deparse(expr[[2L]]), collapse = "")

# strata(x) codes its levels as "x=value"; recover the values (numeric when every level
# is a number, otherwise a factor keeping strata()'s level order).
# Numeric levels in increasing order (the usual case) stay a factor whose codes sort like the
# values, with the values kept in attribute "numeric_levels": coding it is then free, where
# expanding n values and re-coding them costs two passes over the rows; group_table_column()
# turns it into numbers for the result.
strata_values <- function(x, name) {
  lev <- levels(x)
  prefix <- paste0(name, "=")
  if (all(startsWith(lev, prefix))) lev <- substring(lev, nchar(prefix) + 1L)
  num <- suppressWarnings(as.numeric(lev))
  if (!anyNA(num) && !is.unsorted(num, strictly = TRUE)) {
    return(structure(x, numeric_levels = num))
  }
  if (!anyNA(num)) return(num[as.integer(x)])
  factor(lev[as.integer(x)], levels = unique(lev))
}

# The values of a grouping column at `rows`, as the result reports them.
group_table_column <- function(x, rows) {
  num <- attr(x, "numeric_levels")
  if (is.null(num)) x[rows] else num[.subset(x, rows)]
}

# Groups from the `group` argument of the matrix twins: NULL, a vector, or a data frame /
# list of vectors.
vector_groups <- function(group, n, arg = "group", call = rlang::caller_env()) {
  if (is.null(group)) return(combine_groups(list(), n))
  values <- if (is.data.frame(group) || is.list(group)) as.list(group) else list(group = group)
  if (is.null(names(values)) || any(names(values) == "")) {
    names(values) <- paste0(arg, seq_along(values))
  }
  for (v in names(values)) {
    if (length(values[[v]]) != n) {
      cli::cli_abort("{.arg {arg}} has length {length(values[[v]])}, but {.arg time} has length {n}.",
                     call = call, class = "rwe_bad_input")
    }
    bad <- which(is.na(values[[v]]))
    if (length(bad)) abort_rows(arg, "has missing values", bad, call)
  }
  combine_groups(values, n)
}

# = data.frame(row.names = 1L): the one row of "all" when there is no grouping variable
no_groups_table <- structure(list(), names = character(0), row.names = 1L, class = "data.frame")

# Integer codes for the observed combinations of `values` (first variable varying slowest,
# factor levels in their order, other values sorted), without building strings per row.
combine_groups <- function(values, n) {
  if (!length(values)) {
    # = data.frame(row.names = 1L), without its argument matching and checks
    return(list(codes = rep(1L, n), table = no_groups_table, label = "all"))
  }
  coded <- group_codes(values)
  table <- group_table(values, coded)
  list(codes = coded$codes, table = table, label = group_labels(table))
}

# Per-row codes 1..k of the columns' value combinations (in sorted order of the values), with
# each column's sorted values and the combination keys in use (what the table depends on).
group_codes <- function(values) {
  coded <- lapply(values, value_codes)
  sorted <- lapply(coded, `[[`, "sorted")
  sizes <- lengths(sorted)
  key <- coded[[1L]]$codes
  if (length(coded) > 1L) {
    key <- as.double(key)
    for (j in seq_along(coded)[-1L]) key <- (key - 1) * sizes[j] + coded[[j]]$codes
  }
  dense <- dense_codes(key, prod(as.double(sizes)))
  list(codes = dense$codes, k = dense$k, used = dense$used, sorted = sorted)
}

# One row per group code: the columns' values at the group's first row.
group_table <- function(values, coded) {
  first <- first_rows_cpp(coded$codes, coded$k)
  new_df(stats::setNames(lapply(values, function(v) {
    v <- group_table_column(v, first)
    names(v) <- NULL  # as.data.frame() would have made them row names, then dropped
    v
  }), names(values)))
}

# survfit-style labels of the rows of a group table ("sex=1, ph.ecog=0"); "all" without
# variables.
group_labels <- function(table) {
  if (!ncol(table)) return(rep("all", nrow(table)))
  do.call(paste, c(lapply(names(table), function(v) {
    paste0(v, "=", format_group_value(table[[v]]))
  }), sep = ", "))
}

# Codes 1..k of x's values in sorted order (levels, for a factor) and those values. Whole
# numbers in a compact range (the usual group and stratum codes) are coded by counting, which
# is several times faster at large n than sorting and hashing doubles.
value_codes <- function(x) {
  if (is.factor(x)) return(list(codes = as.integer(x), sorted = levels(x)))
  if (is.numeric(x) && length(x) && !anyNA(x)) {
    low <- min(x)
    span <- max(x) - low + 1
    if (is.finite(span) && span <= max(1e6, length(x)) && all(x == trunc(x))) {
      offset <- as.integer(x - low) + 1L
      present <- which(tabulate(offset, nbins = span) > 0L)
      lookup <- integer(span)
      lookup[present] <- seq_along(present)
      sorted <- present - 1L + low  # exact: whole numbers in a small range
      return(list(codes = lookup[offset], sorted = if (is.integer(x)) as.integer(sorted) else sorted))
    }
  }
  sorted <- sort(unique(x))
  list(codes = match(x, sorted), sorted = sorted)
}

# Renumbers positive whole-number keys (at most `max_key`) as 1..k in increasing key order:
# list(codes, k, used = the keys present, increasing).
dense_codes <- function(key, max_key) {
  if (max_key > max(1e6, length(key))) {
    used <- sort(unique(key))
    return(list(codes = match(key, used), k = length(used), used = used))
  }
  key <- as.integer(key)
  present <- which(tabulate(key, nbins = max_key) > 0L)
  if (length(present) == max_key) return(list(codes = key, k = max_key, used = present))
  lookup <- integer(max_key)
  lookup[present] <- seq_along(present)
  list(codes = lookup[key], k = length(present), used = present)
}

format_group_value <- function(x) {
  if (is.numeric(x)) format(x, trim = TRUE, digits = 15) else as.character(x)
}

# ---- Medians, quantiles and restricted means ---------------------------------------------

# Rows of `curves` belonging to each stratum, in order.
km_strata_rows <- function(x) split(seq_len(nrow(x$curves)), factor(x$curves$stratum,
                                                                     seq_len(nrow(x$strata))))

# survival's rule for the printed median (and its limits): the first time the curve is
# below 0.5; if it sits exactly at 0.5 over a flat stretch, the midpoint between the start
# of that stretch and the next drop. NA when never reached. One implementation
# (src/km_summary.h), shared with km_bootstrap().
km_first_below_half <- function(y, time) {
  km_first_below_half_cpp(as.double(y), as.double(time))
}

#' Median survival table of a Kaplan-Meier fit
#'
#' One row per curve: records, events, the median survival time and its confidence limits
#' by the rule `print.survfit()` uses (the first time the curve, or its lower / upper
#' limit, falls below 0.5; the midpoint of a flat stretch lying exactly at 0.5). `NA` means
#' "not reached"; `print()` shows it as `NR`.
#'
#' @param x An `rwe_km` object.
#' @return A data frame: the strata columns, `records`, `n.max`, `n.start`, `events`,
#'   `median`, `conf.low`, `conf.high`.
#' @examples
#' km_median(km_fit(survival::Surv(time, status) ~ sex, data = survival::lung))
#' @export
km_median <- function(x) {
  check_inherits(x, "rwe_km", what = "a Kaplan-Meier fit from {.fn km_fit}")
  rows <- km_strata_rows(x)
  cv <- x$curves
  one <- function(r) {
    c(n.max = if (length(r)) max(cv$n.risk[r]) else 0,
      n.start = if (length(r)) cv$n.risk[r[1L]] else 0,
      events = sum(cv$n.event[r]),
      median = km_first_below_half(cv$surv[r], cv$time[r]),
      conf.low = km_first_below_half(cv$lower[r], cv$time[r]),
      conf.high = km_first_below_half(cv$upper[r], cv$time[r]))
  }
  stats <- as.data.frame(do.call(rbind, lapply(rows, one)))
  cbind(x$strata, records = x$n, stats, row.names = NULL)
}

# survival's quantile rule (quantile.survfit): on the curve 1 - S with time 0 prepended,
# the first time it reaches p; the midpoint to the next drop when it sits exactly at p.
km_find_quantile <- function(time, y, p, tol) {
  if (all(is.na(y)) || max(y, na.rm = TRUE) < min(p)) return(rep(NA_real_, length(p)))
  last_time <- time[length(time)]
  dup <- duplicated(y)
  time <- time[!dup]
  y <- y[!dup]
  ok <- which(!is.na(y))
  # The confidence curves need not be monotone: like a step interpolation over the sorted
  # levels, take the smallest level >= p (and NA outside the range of levels).
  first_at_least <- function(knots) {
    o <- order(knots)
    knots <- knots[o]
    pos <- ok[o]
    vapply(p, function(pp) {
      if (pp < knots[1L] || pp > knots[length(knots)]) return(NA_real_)
      pos[which(knots >= pp)[1L]]
    }, numeric(1))
  }
  i1 <- first_at_least(y[ok] + tol)
  i2 <- first_at_least(y[ok] - tol)
  q <- (time[i1] + time[i2]) / 2
  q[p == 0] <- time[1L]
  yn <- y[length(y)]
  if (!is.na(yn)) {
    at_end <- abs(p - yn) < tol
    q[at_end] <- (time[i1[at_end]] + last_time) / 2
  }
  q
}

# Quantiles of step curves and of their confidence limits, by the rule of quantile.survfit():
# `rows` lists each curve's rows of `curves` (time, surv, lower, upper). One row per curve and
# probability, the curve numbered by its position in `rows`.
curve_quantiles <- function(curves, rows, probs) {
  if (!is.numeric(probs) || anyNA(probs) || any(probs < 0 | probs > 1)) {
    cli::cli_abort("{.arg probs} must be numbers between 0 and 1.", call = rlang::caller_env(),
                   class = "rwe_bad_input")
  }
  tol <- sqrt(.Machine$double.eps)
  out <- lapply(seq_along(rows), function(i) {
    r <- rows[[i]]
    tt <- c(0, curves$time[r])
    q <- function(v) km_find_quantile(tt, c(0, 1 - v[r]), probs, tol)
    data.frame(curve = i, prob = probs, quantile = q(curves$surv), conf.low = q(curves$lower),
               conf.high = q(curves$upper))
  })
  do.call(rbind, out)
}

#' Quantiles of Kaplan-Meier curves
#'
#' Survival-time quantiles with confidence limits, by the rule of
#' `quantile.survfit()`: the `p` quantile is the first time the curve falls to `1 - p`
#' (the midpoint to the next drop when the curve sits exactly at `1 - p`); the limits are the
#' same quantity read off the lower and upper confidence curves.
#'
#' @param x An `rwe_km` object.
#' @param probs Probabilities in \[0, 1\].
#' @param ... Must be empty (the limits are always computed).
#' @return A data frame with the strata columns, `prob`, `quantile`, `conf.low`,
#'   `conf.high` (`NA` = not reached).
#' @examples
#' quantile(km_fit(survival::Surv(time, status) ~ sex, data = survival::lung))
#' @export
quantile.rwe_km <- function(x, probs = c(0.25, 0.5, 0.75), ...) {
  check_dots_empty_bad(...)
  out <- curve_quantiles(x$curves, km_strata_rows(x), probs)
  names(out)[1L] <- "stratum"
  km_with_strata(x, out)
}

# Adds the strata columns (by the `stratum` column) and drops `stratum`.
km_with_strata <- function(x, df) {
  strata <- x$strata[df$stratum, , drop = FALSE]
  df$stratum <- NULL
  out <- cbind(strata, df)
  rownames(out) <- NULL
  out
}

# Area under one curve from time 0 to `tau` and its standard error from the Greenwood-type
# variance (survival's rmean), by src/km_summary.h, shared with km_bootstrap(); exactly
# rescaled for times at 1e+-160 (the squared areas are formed on times divided by a power of
# two).
km_area <- function(time, surv, n.risk, n.event, tau) {
  km_area_cpp(as.double(time), as.double(surv), as.double(n.risk), as.double(n.event),
              as.double(tau))
}

#' Restricted mean survival time of Kaplan-Meier curves
#'
#' The area under each curve up to `tau`, with its standard error, as
#' `print(survfit, rmean = )` computes it.
#'
#' * `tau = "common"`: the largest time of all curves (survival's default);
#' * `tau = "individual"`: each curve's own largest time (event or censoring);
#' * `tau = "spss"`: SPSS's "mean survival time" — the area under the curve up to each
#'   group's largest observed time (event or censored), with the variance
#'   \eqn{\sum_j A_j^2 d_j / (n_j (n_j - d_j))}, \eqn{A_j} the area after the j-th event
#'   time. It is the same number as `"individual"`; the confidence limits are
#'   `mean +/- z SE`.
#' * a number: a common truncation time.
#'
#' @param x An `rwe_km` object.
#' @param tau `"common"`, `"individual"`, `"spss"` or a non-negative number.
#' @param conf.level Confidence level for the normal-theory limits (default: that of `x`).
#' @param conf.int Deprecated name of `conf.level`.
#' @return A data frame with the strata columns, `tau`, `rmean`, `std.error`, `conf.low`,
#'   `conf.high`.
#' @examples
#' fit <- km_fit(survival::Surv(time, status) ~ sex, data = survival::lung)
#' km_rmean(fit)
#' km_rmean(fit, "spss")
#' km_rmean(fit, 365)
#' @export
km_rmean <- function(x, tau = "common", conf.level = x$conf.level, conf.int = NULL) {
  check_inherits(x, "rwe_km", what = "a Kaplan-Meier fit from {.fn km_fit}")
  conf.level <- deprecated_conf_int(conf.int, conf.level, !missing(conf.level))
  rows <- km_strata_rows(x)
  cv <- x$curves
  last <- vapply(rows, function(r) if (length(r)) max(cv$time[r]) else NA_real_, 1)
  if (is.numeric(tau)) {
    if (length(tau) != 1L || is.na(tau) || !is.finite(tau) || tau < 0) {
      cli::cli_abort("{.arg tau} must be one finite non-negative number.",
                     class = "rwe_bad_input")
    }
    ends <- rep(tau, length(rows))
  } else if (identical(tau, "common")) {
    ends <- rep(max(last, na.rm = TRUE), length(rows))
  } else if (identical(tau, "individual") || identical(tau, "spss")) {
    ends <- last
  } else {
    cli::cli_abort("{.arg tau} must be {.val common}, {.val individual}, {.val spss} or a number.",
                   class = "rwe_bad_input")
  }
  res <- t(vapply(seq_along(rows), function(s) {
    r <- rows[[s]]
    km_area(cv$time[r], cv$surv[r], cv$n.risk[r], cv$n.event[r], ends[s])
  }, numeric(2)))
  z <- stats::qnorm(1 - (1 - conf.level) / 2)
  se <- res[, "se"]
  cbind(x$strata, tau = ends, rmean = res[, "rmean"], std.error = se,
        conf.low = res[, "rmean"] - z * se, conf.high = res[, "rmean"] + z * se,
        row.names = NULL)
}

# ---- Methods ----------------------------------------------------------------------------

#' Print Kaplan-Meier curves
#'
#' One line per curve, with the columns and the number formatting of `print.survfit()`:
#' `records`, `n.max`, `n.start` (shown as one column `n` when they agree; `records` is
#' left out when it equals `n`), `events`, the median and its confidence limits, each column
#' formatted to `digits` significant digits (whole numbers are never rounded). Weighted fits
#' show the weighted `n` and events beside the records; rows deleted for missing values are
#' reported; with `id`, the number of subjects `n.id`.
#'
#' @param x An `rwe_km` object.
#' @param digits Significant digits, as in `print.survfit()`.
#' @param ... Must be empty.
#' @return `x`, invisibly.
#' @examples
#' km_fit(survival::Surv(time, status) ~ ph.ecog, data = survival::lung)
#' @export
print.rwe_km <- function(x, digits = max(getOption("digits") - 4L, 3L), ...) {
  check_dots_empty_bad(...)
  med <- km_median(x)
  cat("Kaplan-Meier estimate (", format(100 * x$conf.level), "% CI, ", x$conf.type,
      " scale", if (x$weighted) ", weighted counts" else "",
      if (identical(x$variance, "robust")) ", robust SE" else "", ")\n", sep = "")
  if (length(x$na.action)) cat("  ", stats::naprint(x$na.action), "\n")
  tab <- km_print_table(x, med, digits)
  if (ncol(x$strata)) tab <- cbind(x$strata, tab)
  print(tab, row.names = FALSE)
  if (any(is.na(med$median) | is.na(med$conf.high))) {
    cat("NR: not reached (the curve or its limit never falls below 0.5).\n")
  }
  invisible(x)
}

# print.survfit's columns: n.max and n.start merge into `n` when equal, `records` is dropped
# when it equals that `n`; each column is formatted as print() formats a matrix column.
km_print_table <- function(x, med, digits) {
  cols <- list(records = med$records, n.max = med$n.max, n.start = med$n.start)
  if (all(cols$n.max == cols$n.start)) cols <- list(records = cols$records, n = cols$n.start)
  if (all(cols[[1L]] == cols[[2L]])) cols <- cols[-1L]
  if (!is.null(x$n.id)) cols$n.id <- x$n.id
  cols$events <- med$events
  shown <- function(v) {
    out <- rep("NR", length(v))
    if (any(!is.na(v))) out[!is.na(v)] <- format(v[!is.na(v)], digits = digits)
    out
  }
  tab <- data.frame(lapply(cols, format, digits = digits), median = shown(med$median),
                    lower = shown(med$conf.low), upper = shown(med$conf.high),
                    check.names = FALSE, stringsAsFactors = FALSE)
  names(tab)[ncol(tab) - 1:0] <- paste0(format(100 * x$conf.level), "% CI ", c("lower", "upper"))
  tab
}

#' Median survival of Kaplan-Meier curves
#'
#' The median survival time of each curve, as `median()` of a `survfit` object (the
#' `quantile()` rule at 0.5); `NA` when the curve does not fall to 0.5. For the limits use
#' [km_median()] or [quantile.rwe_km()].
#'
#' @param x An `rwe_km` object.
#' @param na.rm Not used (must be `FALSE`): an unreached median stays `NA`.
#' @param ... Must be empty.
#' @return A numeric vector, one median per curve, named by the curve labels
#'   (such as `"sex=1"`) when there are several curves.
#' @examples
#' median(km_fit(survival::Surv(time, status) ~ sex, data = survival::lung))
#' @export
median.rwe_km <- function(x, na.rm = FALSE, ...) {
  check_dots_empty_bad(...)
  if (!isFALSE(na.rm)) {
    cli::cli_abort("{.arg na.rm} must be FALSE: an unreached median is reported as NA.",
                   class = "rwe_bad_input")
  }
  q <- quantile.rwe_km(x, probs = 0.5)$quantile
  if (nrow(x$strata) > 1L || ncol(x$strata)) names(q) <- x$strata_label
  q
}

#' Plot Kaplan-Meier curves
#'
#' Base-graphics step curves of an `rwe_km` object, with `+` marks at censoring times and
#' optionally the pointwise confidence limits (dashed), one colour per curve and a legend.
#' For the publication figure with a risk table see [km_plot()].
#'
#' @param x An `rwe_km` object.
#' @param conf.int Draw the confidence limits? Default: only when there is one curve (as
#'   `plot.survfit()`).
#' @param mark.time Mark censoring times?
#' @param col,lty Colours and line types, recycled over the curves.
#' @param xlab,ylab,xlim,ylim,main Passed to [graphics::plot()].
#' @param legend Where to put the legend (a [graphics::legend()] keyword such as
#'   `"bottomleft"`), or `NULL` for none; default one when there are several curves.
#' @param ... Further graphical parameters for [graphics::plot.default()].
#' @return `x`, invisibly.
#' @examples
#' plot(km_fit(survival::Surv(time, status) ~ sex, data = survival::lung))
#' @export
plot.rwe_km <- function(x, conf.int = nrow(x$strata) == 1L, mark.time = TRUE,
                        col = seq_len(nrow(x$strata)), lty = 1, xlab = "Time",
                        ylab = "Survival probability", xlim = NULL, ylim = c(0, 1),
                        main = NULL, legend = if (nrow(x$strata) > 1L) "bottomleft",
                        ...) {
  check_flag(conf.int)
  check_flag(mark.time)
  rows <- km_strata_rows(x)
  cv <- x$curves
  k <- length(rows)
  col <- rep_len(col, k)
  lty <- rep_len(lty, k)
  if (is.null(xlim)) xlim <- c(0, max(cv$time, 0))
  graphics::plot(NA, xlim = xlim, ylim = ylim, xlab = xlab, ylab = ylab, main = main, ...)
  for (s in seq_len(k)) {
    r <- rows[[s]]
    tt <- c(0, cv$time[r])
    graphics::lines(tt, c(1, cv$surv[r]), type = "s", col = col[s], lty = lty[s])
    if (conf.int) {
      graphics::lines(tt, c(1, cv$lower[r]), type = "s", col = col[s], lty = 2)
      graphics::lines(tt, c(1, cv$upper[r]), type = "s", col = col[s], lty = 2)
    }
    cens <- r[cv$n.censor[r] > 0]
    if (mark.time && length(cens)) {
      graphics::points(cv$time[cens], cv$surv[cens], pch = 3, col = col[s])
    }
  }
  if (!is.null(legend) && k > 1L) {
    graphics::legend(legend, legend = x$strata_label, col = col, lty = lty, bty = "n")
  }
  invisible(x)
}

#' Summarise Kaplan-Meier curves at chosen times
#'
#' As `summary.survfit(times = )`: for each requested time the curve's value at the last
#' time not after it (carried forward), the number at risk at that time, and the events and
#' censorings since the previous requested time. Times after a curve's last time are dropped
#' unless `extend = TRUE`.
#'
#' @param object An `rwe_km` object.
#' @param times Times at which to report; missing = every time of the curves.
#' @param extend Report times after a curve's last time too.
#' @param ... Must be empty (an unknown argument is an error, not ignored).
#' @return A data frame of class `summary.rwe_km` with the strata columns, `time`, `n.risk`,
#'   `n.event`, `n.censor`, `surv`, `std.err` (Greenwood SE of S), `lower`, `upper`; the
#'   median table ([km_median()]) is attached as attribute `table`.
#' @examples
#' fit <- km_fit(survival::Surv(time, status) ~ sex, data = survival::lung)
#' summary(fit, times = c(0, 180, 365, 730))
#' @export
summary.rwe_km <- function(object, times, extend = FALSE, ...) {
  check_dots_empty_bad(...)
  cv <- object$curves
  if (missing(times)) {
    out <- cv[c("stratum", "time", "n.risk", "n.event", "n.censor", "surv", "std.err.surv",
                "lower", "upper")]
    names(out)[names(out) == "std.err.surv"] <- "std.err"
  } else {
    if (!is.numeric(times) || anyNA(times)) {
      cli::cli_abort("{.arg times} must be numbers.", class = "rwe_bad_input")
    }
    times <- sort(times[is.finite(times)])
    rows <- km_strata_rows(object)
    out <- do.call(rbind, lapply(seq_along(rows), function(s) {
      km_at_times(cv[rows[[s]], , drop = FALSE], s, times, extend)
    }))
  }
  out <- km_with_strata(object, out)
  structure(out, table = km_median(object), class = c("summary.rwe_km", "data.frame"))
}

# Values of one curve at `times` (summary.survfit's rule), with time 0 prepended (S = 1).
km_at_times <- function(cv, stratum, times, extend) {
  if (!extend) times <- times[times <= max(cv$time)]
  if (!length(times)) return(NULL)
  prepend <- cv$time[1L] != 0
  pad <- function(v, first) if (prepend) c(first, v) else v
  tt <- pad(cv$time, 0)
  at <- findInterval(times, tt)
  idx <- pmax(at, 1L)
  since <- function(v) diff(c(0, c(0, cumsum(pad(v, 0)))[at + 1L]))
  data.frame(stratum = stratum, time = times,
             n.risk = c(pad(cv$n.risk, cv$n.risk[1L]), 0)[1L + findInterval(times, tt, left.open = TRUE)],
             n.event = since(cv$n.event), n.censor = since(cv$n.censor),
             surv = pad(cv$surv, 1)[idx], std.err = pad(cv$std.err.surv, 0)[idx],
             lower = pad(cv$lower, 1)[idx], upper = pad(cv$upper, 1)[idx])
}

#' @export
print.summary.rwe_km <- function(x, ...) {
  print(as.data.frame(unclass(x))[names(x)], row.names = FALSE, ...)
  invisible(x)
}

#' Tidy a Kaplan-Meier fit
#'
#' @param x An `rwe_km` object.
#' @param ... Must be empty (an unknown argument is an error, not ignored).
#' @return A data frame, one row per curve and time: the strata columns, `time`, `n.risk`,
#'   `n.event`, `n.censor`, `estimate` (S), `std.error` (Greenwood SE of S; note that
#'   `broom::tidy.survfit()` reports the SE of log S here), `conf.low`, `conf.high`.
#' @examples
#' generics::tidy(km_fit(survival::Surv(time, status) ~ sex, data = survival::lung))
#' @export
tidy.rwe_km <- function(x, ...) {
  check_dots_empty_bad(...)
  cv <- x$curves
  km_with_strata(x, data.frame(stratum = cv$stratum, time = cv$time, n.risk = cv$n.risk,
                               n.event = cv$n.event, n.censor = cv$n.censor,
                               estimate = cv$surv, std.error = cv$std.err.surv,
                               conf.low = cv$lower, conf.high = cv$upper))
}

#' One-row-per-curve summary of a Kaplan-Meier fit
#'
#' @param x An `rwe_km` object.
#' @param ... Must be empty (an unknown argument is an error, not ignored).
#' @return A data frame: strata columns, `records`, `events`, `median`, `conf.low`,
#'   `conf.high` (as [km_median()]), `rmean` and `rmean.std.error` (common truncation time,
#'   as [km_rmean()]).
#' @examples
#' generics::glance(km_fit(survival::Surv(time, status) ~ sex, data = survival::lung))
#' @export
glance.rwe_km <- function(x, ...) {
  check_dots_empty_bad(...)
  med <- km_median(x)
  rm <- km_rmean(x, "common")
  cbind(med[c(names(x$strata), "records", "events", "median", "conf.low", "conf.high")],
        rmean = rm$rmean, rmean.std.error = rm$std.error)
}
