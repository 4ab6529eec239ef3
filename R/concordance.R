# Concordance (Harrell's C) between a survival outcome and a predictor: the formula-level verb
# concordance_index(), its matrix-level twin concordance_index_matrix(), the Cox-fit helper
# cox_concordance(), and the rwe_concordance class. The pair counting and the infinitesimal-
# jackknife variance are computed by the C++ kernel conc_counts_cpp() (src/concordance.cpp).

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

#' Matrix-level concordance: validates, ranks, sorts and calls the kernel.
#'
#' Returns list(count (named, in the requested orientation), by_stratum (matrix, one row per
#' stratum in order of first appearance of the sorted codes), concordance, var, n). No
#' time-tie correction is applied; the formula verb does that first.
#' @noRd
concordance_index_matrix <- function(time, status, predictor, strata = NULL, weights = NULL,
                                     start = NULL, cluster = NULL, reverse = FALSE,
                                     call = rlang::caller_env()) {
  n <- length(time)
  input <- check_concordance_input(time, status, predictor, strata, weights, start, cluster,
                                   n, call)
  ranks <- rank_within_strata(input$strata, input$predictor)
  ord <- order(input$strata, -input$time, input$status, ranks, method = "radix")
  strata_sorted <- input$strata[ord]
  bounds <- c(which(c(TRUE, strata_sorted[-1L] != strata_sorted[-n])), n + 1L) - 1L
  start_sorted <- double()
  start_order <- integer()
  if (!is.null(input$start)) {
    start_sorted <- input$start[ord]
    start_order <- order(strata_sorted, -start_sorted, method = "radix") - 1L
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
  concordance <- if (pairs > 0) (count[[1L]] + count[[3L]] / 2) / pairs else NA_real_
  list(count = count, by_stratum = by_stratum, concordance = concordance, var = fit$var,
       n = n)
}

# Within each stratum, the dense rank (1, 2, ...) of the predictor; equal doubles share a rank.
rank_within_strata <- function(strata, x) {
  n <- length(x)
  o <- order(strata, x, method = "radix")
  xs <- x[o]
  ss <- strata[o]
  new_stratum <- c(TRUE, ss[-1L] != ss[-n])
  new_value <- new_stratum | c(TRUE, xs[-1L] != xs[-n])
  dense <- cumsum(new_value)
  base <- cummax(ifelse(new_stratum, dense, 0L))
  ranks <- integer(n)
  ranks[o] <- as.integer(dense - base + 1L)
  ranks
}

# Validates the matrix-level inputs and returns them as doubles / integer codes.
check_concordance_input <- function(time, status, predictor, strata, weights, start, cluster,
                                    n, call) {
  if (n == 0L) {
    cli::cli_abort("{.arg time} has zero rows.", call = call, class = "rwe_bad_input")
  }
  check_numeric_vector(time, "time", n, call)
  check_numeric_vector(predictor, "predictor", n, call)
  if (is.logical(status)) status <- as.double(status)
  check_numeric_vector(status, "status", n, call)
  bad <- which(!status %in% c(0, 1))
  if (length(bad)) abort_rows("status", "must be 0 (censored) or 1 (event)", bad, call)
  if (!is.null(start)) check_numeric_vector(start, "start", n, call)
  check_times(as.double(time), if (is.null(start)) NULL else as.double(start), call = call)
  strata <- if (is.null(strata)) rep(1L, n) else group_codes(strata, "strata", n, call)
  if (!is.null(cluster)) cluster <- group_codes(cluster, "cluster", n, call)
  list(time = as.double(time), status = as.double(status), predictor = as.double(predictor),
       strata = strata, weights = check_weights(weights, n, call = call),
       start = if (is.null(start)) NULL else as.double(start), cluster = cluster)
}

check_numeric_vector <- function(x, arg, n, call) {
  if (!is.numeric(x)) {
    cli::cli_abort("{.arg {arg}} must be numeric, not {.obj_type_friendly {x}}.", call = call,
                   class = "rwe_bad_input")
  }
  if (length(x) != n) {
    cli::cli_abort("{.arg {arg}} has length {length(x)}, but {.arg time} has {n}.",
                   call = call, class = "rwe_bad_input")
  }
  bad <- which(!is.finite(x))
  if (length(bad)) abort_rows(arg, "must be finite (no NA, NaN or Inf)", bad, call)
  invisible(TRUE)
}

# Integer codes for a grouping vector (strata or cluster); NA is not a group.
group_codes <- function(g, arg, n, call) {
  if (length(g) != n) {
    cli::cli_abort("{.arg {arg}} has length {length(g)}, but {.arg time} has {n}.",
                   call = call, class = "rwe_bad_input")
  }
  bad <- which(is.na(g))
  if (length(bad)) abort_rows(arg, "must not be missing", bad, call)
  if (is.integer(g) && !is.object(g)) return(g)
  if (is.factor(g)) return(as.integer(g))
  match(g, unique(g))
}

# Times closer than sqrt(machine epsilon) (absolutely, or relative to their mean magnitude)
# are one time measured with rounding error, as survival::concordance() assumes by default.
# Each run of such near-equal sorted times is mapped to its smallest member.
merge_near_ties <- function(time, start = NULL, call = rlang::caller_env()) {
  tolerance <- sqrt(.Machine$double.eps)
  values <- sort(unique(c(time, start)))
  gaps <- diff(values)
  near <- gaps <= tolerance | gaps / mean(abs(values)) <= tolerance
  if (!any(near)) return(list(time = time, start = start))
  anchors <- values[c(TRUE, !near)]
  time <- anchors[findInterval(time, anchors)]
  if (!is.null(start)) {
    start <- anchors[findInterval(start, anchors)]
    bad <- which(start >= time)
    if (length(bad)) {
      abort_rows("formula", "has (start, stop] intervals shorter than the time tolerance",
                 bad, call)
    }
  }
  list(time = time, start = start)
}
