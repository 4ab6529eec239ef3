# Concordance (Harrell's C) between a survival outcome and a predictor: the formula-level verb
# concordance_index(), its matrix-level twin concordance_index_matrix(), the Cox-fit helper
# cox_concordance(), and the rwe_concordance class. The pair counting and the infinitesimal-
# jackknife variance are computed by the C++ kernels (src/concordance.cpp):
# conc_counts_by_predictor_cpp() for right-censored data (a sweep over the predictor, with a
# tree over the few distinct times), conc_counts_cpp() for counting-process data (a sweep over
# time, with a tree over predictor ranks).

count_names <- c("concordant", "discordant", "tied.x", "tied.y", "tied.xy")

#' Concordance of a Cox model's linear predictor, as stored by a Cox fit
#'
#' Internal helper for the Cox fit. Larger `lp` means higher hazard (shorter survival), so
#' pairs are counted in reverse orientation, exactly as `survival::coxph()` does for
#' `fit$concordance` (time weights `n`, no time-tie correction: `time` is used as given).
#'
#' @param time Stop times (numeric).
#' @param status Event indicator, 0/1 or logical.
#' @param lp Linear predictor.
#' @param strata Optional stratum of each row (any atomic vector); pairs are only formed
#'   within a stratum.
#' @param weights Optional non-negative case weights.
#' @param start Optional start times for counting-process `(start, stop]` data.
#' @param cluster Optional cluster of each row; the variance then sums influence within
#'   clusters (as `coxph()` does when the model has `cluster()`).
#' @return Named numeric vector `c(concordant, discordant, tied.x, tied.y, tied.xy,
#'   concordance, std)`, the layout of `coxph()$concordance`.
#' @noRd
cox_concordance <- function(time, status, lp, strata = NULL, weights = NULL, start = NULL,
                            cluster = NULL) {
  res <- concordance_index_matrix(time, status, lp, strata = strata, weights = weights,
                                  start = start, cluster = cluster, reverse = TRUE)
  c(res$count, concordance = res$concordance, std = sqrt(res$var))
}

# cox_concordance() for a Cox fit's own data, which the fit has already validated (finite
# times and linear predictor, 0/1 status, integer stratum codes, weights >= 0): skips the
# checks, which cost as much as the sort at large n.
# `row_order`, if given, is the Cox kernel's row order (stratum, time ascending, events first):
# reversed, it is an order the concordance kernel accepts (strata need not ascend).
# `time_rank`, if given, is the ranks of the distinct times (right-censored data; `time` is
# then not needed). NULL strata or weights mean one stratum and unit weights; right-censored
# data then need no n-long vector besides the kernel's own (its memory is O(n) integers and
# a few doubles per row, the most a Cox fit of 10^7 rows needs after its Newton steps).
cox_concordance_validated <- function(time, status, lp, strata, weights, start = NULL,
                                      cluster = NULL, row_order = NULL, time_rank = NULL) {
  n <- length(status)
  single_stratum <- is.null(strata) || is_constant(strata)
  strata <- if (single_stratum) NULL else check_grouping(strata, n, "strata", call = NULL)
  # Pair counts are products of two weights: weights far from 1 are divided by a power of two
  # (weight_scale(), R/cox-fit.R) and the counts multiplied back; concordance and std are ratios.
  wscale <- if (is.null(weights)) 1 else weight_scale(weights)
  if (wscale != 1) {
    weights <- weights / wscale
    res <- cox_concordance_validated(time, status, lp, strata, weights, start, cluster, row_order,
                                     time_rank)
    counts <- setdiff(names(res), c("concordance", "std"))
    res[counts] <- res[counts] * wscale * wscale  # not wscale^2: 0 stays 0 if that overflows
    return(res)
  }
  cluster <- if (is.null(cluster)) NULL else check_grouping(cluster, n, "cluster", call = NULL)
  if (is.null(start)) {
    # Right-censored: the predictor sweep needs only time ranks, which one hashing pass gives
    # (no sort, so the Cox row order is not needed; no "+ 0" copies: C++ treats -0 as +0).
    input <- list(time = time, status = status, predictor = lp, strata = strata,
                  weights = weights, cluster = cluster, time_rank = time_rank)
    fit <- concordance_by_predictor(input, single_stratum)
    res <- orient_counts(fit, n, reverse = TRUE)
    return(c(res$count, concordance = res$concordance, std = sqrt(res$var)))
  }
  # "+ 0" turns -0 into +0, as check_concordance_input() does
  input <- list(time = time + 0, status = status, predictor = lp + 0,
                strata = strata %||% rep(1L, n), weights = weights %||% rep(1, n),
                start = start + 0, cluster = cluster)
  ord <- if (is.null(row_order)) NULL else rev(row_order)
  res <- concordance_from_input(input, single_stratum, reverse = TRUE, ord = ord)
  c(res$count, concordance = res$concordance, std = sqrt(res$var))
}

#' Matrix-level concordance: validates, ranks, sorts and calls the kernel.
#'
#' Returns list(count (named, in the requested orientation), by_stratum (matrix, one row per
#' stratum in order of first appearance of the sorted codes), concordance, var, n). No
#' time-tie correction is applied; the formula verb does that first.
#' @noRd
concordance_index_matrix <- function(time, status, predictor, strata = NULL, weights = NULL,
                                     start = NULL, cluster = NULL, reverse = FALSE,
                                     call = rlang::caller_env()) {
  input <- check_concordance_input(time, status, predictor, strata, weights, start, cluster,
                                   length(time), call)
  concordance_from_input(input, single_stratum = is.null(strata), reverse = reverse)
}

# Ranks, sorts and calls the kernel on validated input (the list of check_concordance_input()).
# `ord`, if given, is already a valid kernel order (strata contiguous, in any sequence).
concordance_from_input <- function(input, single_stratum, reverse, ord = NULL) {
  n <- length(input$time)
  if (is.null(input$start)) {
    return(orient_counts(concordance_by_predictor(input, single_stratum), n, reverse))
  }
  ranks <- rank_within_strata(input$strata, input$predictor, single_stratum)
  if (is.null(ord)) {
    ord <- concordance_row_order(input$strata, input$time, input$status, single_stratum)
  }
  # Position of each sorted row's stratum block, so that start_order follows the same blocks.
  block <- if (single_stratum) rep(1L, n) else {
    strata_sorted <- input$strata[ord]
    cumsum(c(TRUE, strata_sorted[-1L] != strata_sorted[-n]))
  }
  bounds <- if (single_stratum) c(0L, n) else c(which(c(TRUE, diff(block) != 0L)), n + 1L) - 1L
  start_sorted <- double()
  start_order <- integer()
  if (!is.null(input$start)) {
    start_sorted <- input$start[ord]
    start_order <- order(block, -start_sorted, method = "radix") - 1L
  }
  cluster_codes <- integer()
  n_cluster <- 0L
  if (!is.null(input$cluster)) {
    cluster_codes <- match(input$cluster, unique(input$cluster))[ord] - 1L
    n_cluster <- max(cluster_codes) + 1L
  }
  fit <- conc_counts_cpp(input$time[ord], input$status[ord], ranks[ord], input$weights[ord],
                         as.integer(bounds), start_sorted, as.integer(start_order),
                         as.integer(cluster_codes), as.integer(n_cluster))
  orient_counts(fit, n, reverse)
}

# Right-censored data: the kernel that sweeps the rows by predictor (sorted in C++) over a
# tree indexed by time rank.
concordance_by_predictor <- function(input, single_stratum) {
  # one stratum: no codes (the kernel reads them only for several strata)
  strata <- if (single_stratum) integer() else dense_sorted_codes(input$strata)
  time_rank <- input$time_rank %||%
    if (is.double(input$time)) distinct_rank_cpp(input$time, double())$time_rank
    else match(input$time, sort(unique(input$time)))
  cluster_codes <- integer()
  n_cluster <- 0L
  if (!is.null(input$cluster)) {
    cluster_codes <- match(input$cluster, unique(input$cluster)) - 1L
    n_cluster <- max(cluster_codes) + 1L
  }
  # NULL weights: unit weights, sent as a length-0 vector
  conc_counts_by_predictor_cpp(as.integer(time_rank), max(time_rank), as.double(input$status),
                               as.double(input$predictor), as.double(input$weights %||% double()),
                               strata, if (single_stratum) 1L else max(strata), cluster_codes,
                               n_cluster)
}

# All values equal; for numbers without the n-long logical vector of all(x == x[1L]).
is_constant <- function(x) {
  if (is.numeric(x) && !is.object(x) && length(x)) return(min(x) == max(x))
  all(x == x[1L])
}

# Integer codes renumbered 1..k in increasing order (the kernels report strata in code order).
dense_sorted_codes <- function(codes) {
  low <- min(codes)
  high <- max(codes)
  if (low >= 1L && high <= length(codes)) {
    present <- tabulate(codes, nbins = high) > 0L
    if (all(present)) return(codes)
    return(cumsum(present)[codes])
  }
  match(codes, sort(unique(codes)))
}

# The kernel's row order: stratum, time descending, censorings before deaths. Sorted as one
# integer key built from the ranks of the distinct times (radix-sorting one integer vector is
# much faster than a double and a second key); the key would overflow only with an enormous
# number of strata x distinct times, where the plain three-key order is used.
concordance_row_order <- function(strata, time, status, single_stratum) {
  distinct <- sort(unique(time))
  n_times <- length(distinct)
  lowest <- if (single_stratum) 1L else min(strata)
  n_strata <- if (single_stratum) 1 else max(strata) - as.double(lowest) + 1
  if (2 * n_times * n_strata >= .Machine$integer.max) {
    return(order(strata, -time, status, method = "radix"))
  }
  key <- 2L * (n_times - match(time, distinct)) + as.integer(status)
  if (!single_stratum) key <- key + (strata - lowest) * (2L * n_times)
  order(key, method = "radix")
}

# Names the kernel's counts and applies the orientation: reversing swaps concordant and
# discordant pairs and turns C into 1 - C; the variance does not change.
orient_counts <- function(fit, n, reverse) {
  count <- fit$count
  by_stratum <- fit$by_stratum
  if (reverse) {
    count <- count[c(2L, 1L, 3L, 4L, 5L)]
    by_stratum <- by_stratum[, c(2L, 1L, 3L, 4L, 5L), drop = FALSE]
  }
  names(count) <- count_names
  colnames(by_stratum) <- count_names
  pairs <- sum(count[1:3])
  concordance <- if (pairs > 0) (count[[1L]] + count[[3L]] / 2) / pairs else NaN
  list(count = count, by_stratum = by_stratum, concordance = concordance, var = fit$var,
       n = n)
}

# Within each stratum, the dense rank (1, 2, ...) of the predictor; equal doubles share a rank.
rank_within_strata <- function(strata, x, single_stratum) {
  n <- length(x)
  o <- if (single_stratum) order(x, method = "radix") else order(strata, x, method = "radix")
  xs <- x[o]
  new_value <- c(TRUE, xs[-1L] != xs[-n])
  if (!single_stratum) {
    ss <- strata[o]
    new_stratum <- c(TRUE, ss[-1L] != ss[-n])
    new_value <- new_value | new_stratum
  }
  dense <- cumsum(new_value)
  # ranks restart at 1 in each stratum: subtract the dense rank reached before the stratum
  if (!single_stratum) dense <- dense - cummax(dense * new_stratum) + 1L
  ranks <- integer(n)
  ranks[o] <- dense
  ranks
}

# Validates the matrix-level inputs and returns them as doubles / integer codes.
check_concordance_input <- function(time, status, predictor, strata, weights, start, cluster,
                                    n, call) {
  if (n == 0L) {
    cli::cli_abort("{.arg time} has zero rows.", call = call, class = "rwe_bad_input")
  }
  check_numeric_vector(time, n = n, call = call)
  check_numeric_vector(predictor, n = n, call = call)
  status <- check_status(status, n, call = call)
  if (!is.null(start)) check_numeric_vector(start, n = n, call = call)
  check_times(as.double(time), if (is.null(start)) NULL else as.double(start), call = call)
  strata <- if (is.null(strata)) rep(1L, n) else check_grouping(strata, n, "strata", call = call)
  if (!is.null(cluster)) cluster <- check_grouping(cluster, n, "cluster", call = call)
  # "+ 0" turns -0 into +0, so a time of zero sorts as one value whatever its sign bit
  list(time = as.double(time) + 0, status = as.double(status),
       predictor = as.double(predictor) + 0, strata = strata,
       weights = check_weights(weights, n, call = call),
       start = if (is.null(start)) NULL else as.double(start) + 0, cluster = cluster)
}

#' Concordance (Harrell's C) between a predictor and a survival outcome
#'
#' Counts, over all comparable pairs of rows, how often the row that fails first has the
#' predictor value that predicts shorter survival: by default a *smaller* value (as for a
#' predicted survival time); with `reverse = TRUE` a *larger* value (as for a risk score or a
#' Cox linear predictor). A pair is comparable when the earlier time is an event and the other
#' row is still at risk then (a censoring at the same time counts as later). Ties in the
#' predictor score 1/2; pairs tied in time are not comparable. With `strata()` in the formula
#' only pairs within a stratum are compared. Agrees with `survival::concordance()` (time
#' weights `"n"`), including its infinitesimal-jackknife standard error; times closer than
#' `sqrt(.Machine$double.eps)` are treated as tied, as there. The computation is
#' O(n log n).
#'
#' @param formula A formula `Surv(time, status) ~ predictor` or
#'   `Surv(start, stop, status) ~ predictor`, with one numeric predictor and optionally
#'   `strata()` and `cluster()` terms (clusters sum their influence in the variance). Or a
#'   fitted [cox_fit()] model: the concordance of its linear predictor (`reverse = TRUE`)
#'   on its rows, within its strata, with its weights and clusters, as
#'   `survival::concordance()` of a `coxph` fit; the other arguments must then be left out.
#' @param data A data frame holding the variables of `formula`.
#' @param weights Optional case weights (non-negative); a pair weighs the product of its
#'   two weights.
#' @param subset Optional expression selecting the rows to use.
#' @param na.action Missing-value handling, as in [stats::model.frame()].
#' @param reverse If `TRUE`, a larger predictor value predicts shorter survival.
#' @return An object of class `rwe_concordance`: a list with `concordance`, `std.err`, `var`,
#'   `count` (named: concordant, discordant, tied.x, tied.y, tied.xy; weighted pair counts),
#'   `count_by_stratum` (a data frame with the strata as columns, or `NULL`), `n`, `nevent`,
#'   `predictor`, `reverse`, `na.action` and `call`. Use [tidy()] and [glance()] for data
#'   frames.
#' @examples
#' library(survival)
#' fit <- concordance_index(Surv(time, status) ~ ph.karno, data = lung)
#' fit
#' generics::tidy(fit)
#' generics::glance(fit)
#' # A risk score: larger values mean shorter survival
#' concordance_index(Surv(time, status) ~ age + strata(sex), data = lung, reverse = TRUE)
#' # A fitted Cox model
#' concordance_index(cox_fit(Surv(time, status) ~ age + sex + ph.ecog, data = lung))
#' @export
concordance_index <- function(formula, data, weights, subset, na.action, reverse = FALSE) {
  call <- rlang::current_env()
  if (inherits(formula, "rwe_cox")) {
    refuse_partitioned(formula, "{.fn concordance_index} (of the fitted linear predictors)", call)
    given <- c(data = !missing(data), weights = !missing(weights), subset = !missing(subset),
               na.action = !missing(na.action), reverse = !missing(reverse))
    if (any(given)) {
      cli::cli_abort(c("With a fitted {.cls rwe_cox} model, {.arg {names(given)[given]}} cannot be given.",
                       "i" = "The concordance uses the fit's rows, weights, strata and clusters."),
                     call = call, class = "rwe_bad_input")
    }
    return(concordance_of_cox(formula, match.call(), call))
  }
  check_flag(reverse, call = call)
  mc <- match.call()
  mf <- surv_model_frame(mc, parent.frame(), call = call)
  parts <- surv_parts(mf, call = call)
  predictor <- concordance_predictor(mf, parts$terms, call)
  check_has_events(parts$status, parts$weights, call = call)
  times <- merge_near_ties(parts$time, parts$start, call = call)
  stratified <- length(parts$strata_vars) > 0L
  res <- concordance_index_matrix(times$time, parts$status, predictor$value,
                                  strata = if (stratified) parts$strata,
                                  weights = parts$weights, start = times$start,
                                  cluster = parts$cluster, reverse = reverse, call = call)
  by_stratum <- if (stratified) {
    cbind(parts$strata_table, as.data.frame(res$by_stratum))
  }
  new_rwe_concordance(concordance = res$concordance, var = res$var, count = res$count,
                      count_by_stratum = by_stratum, n = res$n,
                      nevent = sum(parts$status), predictor = predictor$label,
                      reverse = reverse, na.action = parts$na.action, call = mc)
}

# Concordance of a fitted Cox model's linear predictor (a larger risk score predicts shorter
# survival), within its strata, with its case weights and, for the variance, its clusters:
# survival::concordance() of a coxph fit.
concordance_of_cox <- function(fit, mc, call) {
  if (length(fit$coefficients) == 0L || all(is.na(fit$coefficients))) {
    cli::cli_abort("{.arg formula}: the model has no covariates, so there is no risk score to assess.",
                   call = call, class = "rwe_bad_input")
  }
  if (is.null(fit$y)) fit <- cox_complete(fit, need_x = FALSE, call = call)  # y = FALSE
  counting <- attr(fit$y, "type") == "counting"
  y <- unclass(fit$y)
  times <- merge_near_ties(as.double(y[, if (counting) 2L else 1L]),
                           if (counting) as.double(y[, 1L]), call = call)
  stratified <- length(unique(fit$strata)) > 1L || length(fit$strata_vars) > 0L
  res <- concordance_index_matrix(times$time, as.double(y[, ncol(y)]), fit$linear.predictors,
                                  strata = if (stratified) fit$strata,
                                  weights = fit$weights, start = times$start,
                                  cluster = cox_fit_cluster(fit), reverse = TRUE, call = call)
  by_stratum <- if (stratified) {
    table <- fit$strata_table %||% data.frame(stratum = fit$strata_levels)
    cbind(table, as.data.frame(res$by_stratum))
  }
  new_rwe_concordance(concordance = res$concordance, var = res$var, count = res$count,
                      count_by_stratum = by_stratum, n = res$n,
                      nevent = sum(y[, ncol(y)]), predictor = "linear predictor",
                      reverse = TRUE, na.action = fit$na.action, call = mc)
}

# The cluster of each row of a cox_fit() model (cluster argument or cluster() term), rebuilt
# from its model frame; NULL when there is none.
cox_fit_cluster <- function(fit) {
  has_arg <- !is.null(fit$call) && !is.null(fit$call$cluster)
  has_term <- !is.null(fit$formula) &&
    length(attr(stats::terms(fit$formula, specials = "cluster"), "specials")$cluster)
  if (!has_arg && !has_term) return(NULL)
  mf <- stats::model.frame(fit)
  if ("(cluster)" %in% names(mf)) return(mf[["(cluster)"]])
  mf[[attr(stats::terms(mf), "specials")$cluster]]
}

# The single numeric predictor on the right-hand side (specials already removed).
concordance_predictor <- function(mf, terms, call) {
  if (!is.null(attr(stats::terms(mf), "offset"))) {
    cli::cli_abort("{.arg formula}: {.fn offset} terms are not allowed in a concordance.",
                   call = call, class = "rwe_bad_input")
  }
  labels <- attr(terms, "term.labels")
  if (length(labels) != 1L) {
    cli::cli_abort(c("{.arg formula} must have exactly one predictor on its right-hand side.",
                     "x" = "Found {length(labels)}: {.code {labels}}."),
                   call = call, class = "rwe_bad_input")
  }
  value <- if (labels %in% names(mf)) mf[[labels]] else NULL
  if (is.logical(value)) value <- as.double(value)
  if (is.matrix(value) && ncol(value) == 1L) value <- drop(value)
  if (!is.numeric(value) || !is.null(dim(value))) {
    cli::cli_abort(c("{.arg formula}: the predictor {.code {labels}} must be a numeric vector.",
                     "x" = "It is {.obj_type_friendly {value}}."),
                   call = call, class = "rwe_bad_input")
  }
  bad <- which(!is.finite(value))
  if (length(bad)) abort_rows("formula", paste0("has non-finite values of `", labels, "`"),
                              bad, call)
  list(value = as.double(value), label = labels)
}

#' Constructor for concordance results
#' @noRd
new_rwe_concordance <- function(concordance, var, count, count_by_stratum, n, nevent,
                                predictor, reverse, na.action, call) {
  if (!is.numeric(concordance) || length(count) != 5L) abort_internal("malformed concordance counts")
  structure(
    list(concordance = concordance, std.err = sqrt(var), var = var, count = count,
         count_by_stratum = count_by_stratum, n = n, nevent = nevent,
         predictor = predictor, reverse = reverse, na.action = na.action, call = call),
    class = "rwe_concordance"
  )
}

#' @export
print.rwe_concordance <- function(x, digits = 4L, ...) {
  check_dots_empty_bad(...)
  direction <- if (x$reverse) "larger" else "smaller"
  cat("<rwe_concordance> Harrell's C of `", x$predictor, "` (", direction,
      " value = shorter survival)\n", sep = "")
  n_strata <- if (is.null(x$count_by_stratum)) 1L else nrow(x$count_by_stratum)
  cat("n = ", x$n, ", events = ", x$nevent,
      if (n_strata > 1L) paste0(", ", n_strata, " strata (pairs within strata)"),
      if (length(x$na.action)) {
        paste0(" (", length(x$na.action), if (length(x$na.action) == 1L) " row" else " rows",
               " dropped for missing values)")
      }, "\n",
      sep = "")
  ci <- x$concordance + c(-1, 1) * stats::qnorm(0.975) * x$std.err
  cat("C = ", format(x$concordance, digits = digits), ", SE = ",
      format(x$std.err, digits = digits), ", 95% CI ",
      paste(format(ci, digits = digits), collapse = " to "), "\n", sep = "")
  print(round(x$count, 2))
  invisible(x)
}

#' @export
summary.rwe_concordance <- function(object, ...) {
  check_dots_empty_bad(...)
  print(object)
  if (!is.null(object$count_by_stratum)) {
    cat("\nPairs by stratum:\n")
    print(object$count_by_stratum, row.names = FALSE)
  }
  invisible(object)
}

#' Tidy a concordance result
#'
#' @param x An `rwe_concordance` object from [concordance_index()].
#' @param conf.level Confidence level of the normal-approximation interval.
#' @param ... Must be empty (an unknown argument is an error, not ignored).
#' @return A one-row data frame: `term` (the predictor), `estimate` (C), `std.error`
#'   (infinitesimal jackknife), `conf.low`, `conf.high`.
#' @examples
#' library(survival)
#' generics::tidy(concordance_index(Surv(time, status) ~ ph.karno, data = lung))
#' @export
tidy.rwe_concordance <- function(x, conf.level = 0.95, ...) {
  check_dots_empty_bad(...)
  z <- stats::qnorm(1 - (1 - conf.level) / 2)
  data.frame(term = x$predictor, estimate = x$concordance, std.error = x$std.err,
             conf.low = x$concordance - z * x$std.err,
             conf.high = x$concordance + z * x$std.err)
}

#' Glance at a concordance result
#'
#' @param x An `rwe_concordance` object from [concordance_index()].
#' @param ... Must be empty (an unknown argument is an error, not ignored).
#' @return A one-row data frame: `concordance`, `std.error`, `n`, `nevent`, `n_strata` and
#'   the weighted pair counts `concordant`, `discordant`, `tied.x`, `tied.y`, `tied.xy`.
#' @examples
#' library(survival)
#' generics::glance(concordance_index(Surv(time, status) ~ ph.karno, data = lung))
#' @export
glance.rwe_concordance <- function(x, ...) {
  check_dots_empty_bad(...)
  n_strata <- if (is.null(x$count_by_stratum)) 1L else nrow(x$count_by_stratum)
  cbind(data.frame(concordance = x$concordance, std.error = x$std.err, n = x$n,
                   nevent = x$nevent, n_strata = n_strata),
        as.data.frame(as.list(x$count)))
}
