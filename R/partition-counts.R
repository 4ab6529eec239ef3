# Partitioned Kaplan-Meier and log-rank: counts per grid time and group, pooled by the coordinator.
# The sites code their curves / groups with the pooled verbs' rhs_groups() and count on the shared
# C++ grid (partition_counts_cpp(), src/counts_grid.h); the coordinator turns the summed counts
# into the result with km_fit()'s km_curves() and logrank_test()'s logrank_from_grid(), so the
# objects are rwe_km / rwe_logrank built by the same constructors.

# ---------------------------------------------------------------------------------------------
# Kaplan-Meier and log-rank: counts per grid time
# ---------------------------------------------------------------------------------------------

# A site's curves (Kaplan-Meier: every right-hand-side variable) or groups and strata (log-rank),
# coded by the pooled verbs' own rhs_groups() so that the tables have the pooled columns.
site_groups <- function(parts, groups, spec) {
  mf <- parts$frame
  chars <- names(Filter(function(l) isTRUE(l$character), spec$levels))
  coded <- if (groups) {
    list(strata = rhs_groups(mf, include_strata = TRUE, strata_only = TRUE),
         groups = rhs_groups(mf, include_strata = FALSE))
  } else {
    list(strata = rhs_groups(mf, include_strata = TRUE), groups = combine_groups(list(), parts$n))
  }
  coded$strata$table <- restore_character(coded$strata$table, mf, chars)
  coded$groups$table <- restore_character(coded$groups$table, mf, chars)
  coded
}

# site_frame() made character columns factors (with the unified levels); the pooled verbs
# report a character variable as character unless it sits in strata(): turn those back.
restore_character <- function(table, mf, character_vars) {
  if (!length(character_vars) || !ncol(table)) return(table)
  tt <- stats::terms(mf)
  vars <- as.list(attr(tt, "variables"))[-1L]
  in_strata <- vapply(vars[attr(tt, "specials")$strata], variable_name, character(1))
  for (v in setdiff(intersect(names(table), character_vars), in_strata)) {
    table[[v]] <- as.character(table[[v]])
  }
  table
}

# A table without columns (one curve, no strata) travels as NULL, as build_grid() expects.
table_or_null <- function(table) if (ncol(table)) table

counts_setup <- function(parts, spec, groups, all_times) {
  if (is.null(parts)) return(list(n = 0L, strata = NULL, groups = NULL, times = list(), distinct = NULL))
  if (parts$counting) {
    cli::cli_abort("{.arg formula}: partitioned Kaplan-Meier and log-rank take right-censored {.code Surv(time, event)} data.",
                   class = "rwe_bad_input")
  }
  coded <- site_groups(parts, groups, spec)
  keys <- value_keys(table_or_null(coded$strata$table))
  keep <- if (all_times) rep(TRUE, parts$n) else parts$status > 0
  times <- lapply(split(parts$time[keep], factor(keys[coded$strata$codes][keep], levels = keys)),
                  function(t) sort(unique(t)))
  # the near-tie merge needs every distinct time; with all_times, `times` holds them already
  # fractional weights make the pooled Kaplan-Meier use the robust (IJ) SE, as survfit
  list(n = parts$n, strata = table_or_null(coded$strata$table),
       groups = table_or_null(coded$groups$table), times = times,
       distinct = if (!all_times) site_distinct_times(parts),
       weighted = !is.null(stats::model.weights(parts$frame)),
       fractional = any(parts$weights != floor(parts$weights)),
       # km_fit()'s power-of-two weight scale (not the largest weight: a patient's value)
       wscale = if (max(parts$weights) > 0) weight_scale(parts$weights),
       deleted = length(parts$na.action))
}

# The sums a site sends: what the pooled verb's curves need (unweighted counts beside the
# weighted ones with weights, squared-weight sums for the robust SE) and the rows per
# (stratum, group) cell for `n`.
counts_fields <- function(grid) {
  c("n_risk", "n_event", "n_censor",
    if (isTRUE(grid$weighted)) c("n_risk_rows", "n_event_rows"),
    if (isTRUE(grid$robust)) c("n_risk_w2", "n_event_w2", "n_censor_w2"))
}

counts_site <- function(parts, spec, grid, group_keys, groups, min_cell, label) {
  ngroups <- max(1L, length(group_keys))
  fields <- counts_fields(grid)
  if (is.null(parts)) {
    zero <- matrix(0, length(grid$time), ngroups)
    return(c(stats::setNames(rep(list(zero), length(fields)), fields),
             list(n_rows = matrix(0, length(grid$keys), ngroups))))
  }
  parts <- site_apply_timefix(parts, grid$timefix, label)
  coded <- site_groups(parts, groups, spec)
  stratum <- match(value_keys(table_or_null(coded$strata$table)), grid$keys)[coded$strata$codes]
  if (anyNA(stratum)) {
    cli::cli_abort("Site {label}: a stratum of the data is not in {.arg grid}; the grid was not built from these data.",
                   class = "rwe_bad_input")
  }
  pos <- grid_positions(stratum, parts$time, NULL, grid)
  group <- if (groups && length(group_keys)) {
    match(value_keys(table_or_null(coded$groups$table)), group_keys)[coded$groups$codes]
  } else rep(1L, parts$n)
  if (anyNA(group)) {
    odd <- unique(value_keys(table_or_null(coded$groups$table))[coded$groups$codes][is.na(group)])
    cli::cli_abort(c("Site {label}: {.arg grid} lacks group{?s} {.val {gsub('\r', ', ', odd)}} of the data; the grid was not built from these data.",
                     "x" = "Offending rows: {format_offenders(which(is.na(group)))}."),
                   class = "rwe_bad_input")
  }
  wscale <- grid$wscale %||% 1
  weights <- if (wscale == 1) parts$weights else parts$weights / wscale
  counts <- partition_counts_cpp(weights, parts$status, pos$last, pos$entry, group - 1L,
                                 ngroups, as.integer(grid$bounds))
  counts$n_risk_rows <- counts$n_subjects
  n_rows <- matrix(tabulate((group - 1L) * length(grid$keys) + stratum,
                            nbins = length(grid$keys) * ngroups), length(grid$keys), ngroups)
  check_min_cell(c(counts$n_subjects, n_rows), min_cell, label)
  c(counts[fields], list(n_rows = n_rows))
}

# describe -> setup -> grid -> counts, shared by the KM and log-rank verbs.
partitioned_counts <- function(formula, partitions, weights, groups, all_times, min_cell, timeout) {
  check_partitions(partitions, call = rlang::caller_env())
  check_min_cell_arg(min_cell, call = rlang::caller_env())
  partitions$timeout <- check_timeout(timeout, "timeout", call = rlang::caller_env())
  traffic <- traffic_recorder()
  spec <- partitioned_spec(formula, partitions, weights, traffic)
  fit_id <- new_id("fit")
  on.exit(drop_fit(partitions, fit_id), add = TRUE)
  k <- length(partitions$keys)
  ex <- partition_exchange(partitions, "km_setup",
                           rep(list(list(spec = spec, fit = fit_id, groups = groups, all_times = all_times)), k))
  traffic$add("setup", ex)
  setups <- ex$results
  grid <- counts_grid(setups)
  ex <- partition_exchange(partitions, "counts", lapply(seq_len(k), function(j) {
    list(fit = fit_id, grid = grid, group_keys = grid$group_keys, groups = groups,
         min_cell = min_cell, label = partitions$labels[j])
  }))
  traffic$add("counts", ex)
  list(grid = grid, counts = pool_counts(ex$results), traffic = traffic$table(),
       partitions = partitions$labels)
}

pool_counts <- function(stats) Reduce(function(a, b) Map(`+`, a, b), lapply(stats, unclass))

#' Kaplan-Meier and log-rank by file exchange (site and coordinator sides)
#'
#' The steps of [partitioned_km_fit()] and [partitioned_logrank_test()] for sites that exchange
#' files. A site first calls `km_site_stats(data, spec)` (or `logrank_site_stats()`), which
#' returns its distinct times per curve / stratum and its group values; the coordinator pools
#' these with `counts_grid()` and sends the grid back; each site then calls the same function
#' with `grid` and returns its counts per grid time and group, which the coordinator turns into
#' the curves / test with `km_combine()` / `logrank_combine()`.
#'
#' @param data The site's data frame.
#' @param spec The [partition_spec()] of the formula (for Kaplan-Meier, `~ a + b` defines the
#'   curves; for log-rank, `~ group + strata(s)`).
#' @param grid `NULL` (first call) or the [counts_grid()] from the coordinator.
#' @param min_cell,site As for [cox_site_stats()].
#' @param setups,stats Lists of the sites' first and second answers.
#' @param conf.level Confidence level of the Kaplan-Meier limits.
#' @return Site side: a list (setup or counts). `counts_grid()`: a list of class
#'   `rwe_counts_grid`. `km_combine()`: as [partitioned_km_fit()]; `logrank_combine()`: as
#'   [partitioned_logrank_test()].
#' @examples
#' lung <- survival::lung
#' sites <- split(lung, lung$inst %% 2)
#' f <- survival::Surv(time, status) ~ sex
#' spec <- partition_spec(lapply(sites, site_describe, formula = f), f)
#' grid <- counts_grid(lapply(sites, km_site_stats, spec = spec))
#' km <- km_combine(lapply(sites, km_site_stats, spec = spec, grid = grid), grid)
#' km
#' grid <- counts_grid(lapply(sites, logrank_site_stats, spec = spec))
#' logrank_combine(lapply(sites, logrank_site_stats, spec = spec, grid = grid), grid)$chisq
#' @name partitioned_counts_by_hand
NULL

#' @rdname partitioned_counts_by_hand
#' @export
km_site_stats <- function(data, spec, grid = NULL, min_cell = NULL, site = "") {
  check_counts_site_args(spec, grid, min_cell, site)
  parts <- site_frame(data, spec)
  if (is.null(grid)) return(counts_setup(parts, spec, groups = FALSE, all_times = TRUE))
  counts_site(parts, spec, grid, character(), FALSE, min_cell, site)
}

#' @rdname partitioned_counts_by_hand
#' @export
logrank_site_stats <- function(data, spec, grid = NULL, min_cell = NULL, site = "") {
  check_counts_site_args(spec, grid, min_cell, site)
  parts <- site_frame(data, spec)
  if (is.null(grid)) return(counts_setup(parts, spec, groups = TRUE, all_times = FALSE))
  counts_site(parts, spec, grid, grid$group_keys, TRUE, min_cell, site)
}

#' @rdname partitioned_counts_by_hand
#' @export
counts_grid <- function(setups) {
  ok <- is.list(setups) && !is.data.frame(setups) && length(setups) > 0L &&
    all(vapply(setups, function(s) is.list(s) && is.numeric(s$n) && length(s$n) == 1L &&
                 is.list(s$times), logical(1)))
  if (!ok) abort_part_arg("setups", "must be a non-empty list of the sites' first answers", rlang::current_env())
  if (!any(vapply(setups, function(s) s$n > 0L, logical(1)))) {
    cli::cli_abort("{.arg setups}: every partition is empty.", class = "rwe_bad_input")
  }
  # km_fit() and logrank_test() always merge near ties (survfit / survdiff's timefix)
  map <- near_tie_map(lapply(setups, function(s) s$distinct %||% unlist(s$times)))
  grid <- build_grid(lapply(setups, `[[`, "strata"), lapply(setups, `[[`, "times"), map)
  grid$groups <- union_table(lapply(setups, `[[`, "groups"))
  grid$group_keys <- if (is.null(grid$groups)) character() else value_keys(grid$groups)
  flag <- function(v) any(vapply(setups, function(s) isTRUE(s[[v]]), logical(1)))
  grid$weighted <- flag("weighted")
  grid$robust <- flag("fractional")
  # km_fit()'s exact power-of-two rescaling of weights far from 1: weight_scale() of the
  # pooled weights is the largest of the sites' scales; every site divides by it
  scales <- unlist(lapply(setups, `[[`, "wscale"))
  grid$wscale <- if (length(scales)) max(scales) else 1
  grid$deleted <- sum(vapply(setups, function(s) as.double(s$deleted %||% 0), numeric(1)))
  structure(grid, class = "rwe_counts_grid")
}

#' @rdname partitioned_counts_by_hand
#' @export
km_combine <- function(stats, grid, conf.level = 0.95) {
  check_conf_level(conf.level)
  check_grid_shape(grid, "rwe_counts_grid", rlang::current_env())
  check_counts_stats(stats, grid, rlang::current_env())
  partitioned_km(grid, pool_counts(stats), "log", conf.level, match.call(), NULL,
                 partition_labels(stats))
}

#' @rdname partitioned_counts_by_hand
#' @export
logrank_combine <- function(stats, grid) {
  check_grid_shape(grid, "rwe_counts_grid", rlang::current_env())
  check_counts_stats(stats, grid, rlang::current_env())
  check_partitioned_groups(grid, "grid", rlang::current_env())
  partitioned_logrank(grid, pool_counts(stats), 0, match.call(), NULL, partition_labels(stats))
}

#' Kaplan-Meier curves over partitioned data, equal to the pooled fit
#'
#' Each partition sends, per curve and distinct time (over all partitions), its weighted
#' numbers at risk, of events and of censorings (with weights also the unweighted ones) and
#' its number of records per curve; the coordinator adds them and computes the curves with
#' the code of [km_fit()]: survival, Greenwood standard errors and confidence limits as
#' `survival::survfit()`. With non-integer case weights the standard error is the robust
#' (infinitesimal-jackknife) one, as [km_fit()] uses then; the partitions also send their
#' sums of squared weights. Times that differ only by rounding are one time, as in
#' [km_fit()]: the merge runs on the union of the partitions' times.
#'
#' @param formula `Surv(time, status) ~ 1` or `~ a + b` (one curve per combination).
#' @inheritParams partitioned_cox_fit
#' @param conf.level Confidence level of the limits (stored as `conf.int`, as [km_fit()]).
#' @param conf.type Scale of the confidence limits, as in [km_fit()].
#' @return An object of class `c("rwe_partitioned_km", "rwe_km")` with the elements of a
#'   [km_fit()] result on the pooled data (`curves` with `std.err.surv` = SE of S and
#'   `std.err.log` = SE of log S, `strata`, `strata_label`, `n`, ...), so that `print()`,
#'   `summary()` (also at chosen `times`), `quantile()`, `median()`, [km_median()],
#'   [km_rmean()], `tidy()`, `glance()` and `plot()` give the pooled results.
#'   `na.action` holds one `NA` per row that a partition deleted for missing values (the row
#'   numbers stay at the sites). Extras: `partitions` (labels) and `traffic` (bytes per round).
#' @examples
#' lung <- survival::lung
#' parts <- cohort_partitions(split(lung, lung$inst %% 3))
#' km <- partitioned_km_fit(survival::Surv(time, status) ~ sex, parts)
#' km
#' summary(km, times = c(180, 365))
#' @export
partitioned_km_fit <- function(formula, partitions, weights = NULL, conf.level = 0.95,
                               conf.type = c("log", "log-log", "plain"), min_cell = NULL,
                               timeout = getOption("rwecohort.worker_timeout", 600)) {
  formula_variables(formula, weights)
  check_conf_level(conf.level)
  conf.type <- match_choice(conf.type, c("log", "log-log", "plain"), "conf.type")
  check_counts_formula(formula, "partitioned_km_fit")
  res <- partitioned_counts(formula, partitions, weights, groups = FALSE,
                            all_times = TRUE, min_cell = min_cell, timeout = timeout)
  partitioned_km(res$grid, res$counts, conf.type, conf.level, match.call(), res$traffic,
                 res$partitions)
}

# The curves from the pooled counts, by km_fit()'s own counts -> curves step.
partitioned_km <- function(grid, counts, conf.type, conf.level, call, traffic, partitions) {
  robust <- isTRUE(grid$robust)
  km_counts <- list(group = grid$stratum, time = grid$time, n.risk = counts$n_risk[, 1L],
                    n.event = counts$n_event[, 1L], n.censor = counts$n_censor[, 1L])
  if (isTRUE(grid$weighted)) {
    km_counts[c("n.risk.rows", "n.event.rows")] <- list(counts$n_risk_rows[, 1L], counts$n_event_rows[, 1L])
  }
  if (robust) {
    km_counts[c("n.risk.w2", "n.event.w2", "n.censor.w2")] <-
      list(counts$n_risk_w2[, 1L], counts$n_event_w2[, 1L], counts$n_censor_w2[, 1L])
  }
  curves <- km_curves(km_counts, robust, conf.type, conf.level, isTRUE(grid$weighted),
                      grid$wscale %||% 1)
  strata <- partitioned_table(grid$strata)
  fit <- new_rwe_km(curves = curves, strata = strata, strata_label = group_labels(strata),
                    n = as.integer(rowSums(counts$n_rows)), conf.type = conf.type,
                    conf.level = conf.level, variance = if (robust) "robust" else "greenwood",
                    weighted = isTRUE(grid$weighted), counting = FALSE, call = call,
                    na.action = partitioned_na_action(grid))
  fit[c("partitions", "traffic")] <- list(partitions, traffic)
  class(fit) <- c("rwe_partitioned_km", class(fit))
  fit
}

# The grid's value table as the pooled verb reports it: a data frame without columns (one
# row) when there is no variable.
partitioned_table <- function(table) {
  if (is.null(table)) return(combine_groups(list(), 0L)$table)
  table
}

# Rows deleted for missing values stay at the sites: one NA per row keeps their number (what
# print() reports) without row numbers.
partitioned_na_action <- function(grid) {
  if (!isTRUE(grid$deleted > 0)) return(NULL)
  structure(rep(NA_integer_, grid$deleted), class = "omit")
}

#' @export
print.rwe_partitioned_km <- function(x, ...) {
  NextMethod()
  partitioned_traffic_line(x)
  invisible(x)
}

# One line under print(): the partitions and (when the package carried them) the bytes
# exchanged.
partitioned_traffic_line <- function(x) {
  k <- length(x$partitions)
  cat("Partitioned over ", k, if (k == 1L) " partition" else " partitions", sep = "")
  if (!is.null(x$traffic)) {
    cat("; traffic: ", format(sum(x$traffic$bytes_sent), big.mark = ","), " bytes sent, ",
        format(sum(x$traffic$bytes_received), big.mark = ","), " received", sep = "")
  }
  cat("\n")
  invisible()
}

# cluster() / offset() terms are refused as the pooled verbs refuse them; interactions have
# no meaning for curves or groups.
check_counts_formula <- function(formula, verb, call = rlang::caller_env()) {
  tt <- stats::terms(formula, specials = c("strata", "cluster", "offset"))
  refuse_cluster_offset(tt, verb, call = call)
  if (any(grepl(":", attr(tt, "term.labels"), fixed = TRUE))) {
    cli::cli_abort("{.arg formula}: use {.code ~ a + b} (not interactions) to define the curves or groups.",
                   call = call, class = "rwe_bad_input")
  }
  invisible(formula)
}

check_partitioned_groups <- function(grid, arg, call) {
  if (is.null(grid$groups) || nrow(grid$groups) < 2L) {
    cli::cli_abort("{.arg {arg}} must define at least two groups.", call = call,
                   class = "rwe_bad_input")
  }
}

#' Log-rank test over partitioned data, equal to the pooled test
#'
#' Each partition sends, per stratum, distinct event time (over all partitions) and group, its
#' numbers at risk and of events, and its number of records per stratum and group; the
#' coordinator computes observed and expected events, their variance matrix and the
#' chi-square statistic with the code of [logrank_test()], as `survival::survdiff()`.
#'
#' @param formula `Surv(time, status) ~ group`, optionally `+ strata(s)`.
#' @param rho The G-rho exponent, as in [logrank_test()] (0 = log-rank).
#' @inheritParams partitioned_cox_fit
#' @return An object of class `c("rwe_partitioned_logrank", "rwe_logrank")` with the elements
#'   of a [logrank_test()] result on the pooled data (`groups`, `n`, `observed`, `expected`,
#'   `var`, `chisq`, `df`, `p.value`, ...), so that `print()`, `tidy()` and `glance()` give
#'   the pooled results; `na.action` as in [partitioned_km_fit()]. Extras: `partitions` and
#'   `traffic`. Exact and permutation p-values need the rows and are not offered.
#' @examples
#' lung <- survival::lung
#' parts <- cohort_partitions(split(lung, lung$inst %% 3))
#' partitioned_logrank_test(survival::Surv(time, status) ~ sex, parts)
#' @export
partitioned_logrank_test <- function(formula, partitions, rho = 0, min_cell = NULL,
                                     timeout = getOption("rwecohort.worker_timeout", 600)) {
  formula_variables(formula)
  check_rho(rho)
  check_counts_formula(formula, "partitioned_logrank_test")
  res <- partitioned_counts(formula, partitions, NULL, groups = TRUE, all_times = FALSE,
                            min_cell = min_cell, timeout = timeout)
  check_partitioned_groups(res$grid, "formula", rlang::current_env())
  if (!any(res$counts$n_event > 0)) {
    cli::cli_abort("{.arg formula}: there are no events in any partition.", class = "rwe_bad_input")
  }
  partitioned_logrank(res$grid, res$counts, rho, match.call(), res$traffic, res$partitions)
}

# The test from the pooled counts, by logrank_test()'s own grid -> test step.
partitioned_logrank <- function(grid, counts, rho, call, traffic, partitions) {
  lr_grid <- list(stratum = grid$stratum, n.risk = counts$n_risk, n.event = counts$n_event)
  strata <- partitioned_table(grid$strata)
  fit <- logrank_from_grid(lr_grid, grid$groups, strata, rho, n = as.integer(colSums(counts$n_rows)),
                           strata_n = as.integer(rowSums(counts$n_rows)), call = call,
                           na.action = partitioned_na_action(grid))
  fit[c("partitions", "traffic")] <- list(partitions, traffic)
  class(fit) <- c("rwe_partitioned_logrank", class(fit))
  fit
}

#' @export
print.rwe_partitioned_logrank <- function(x, ...) {
  NextMethod()
  partitioned_traffic_line(x)
  invisible(x)
}
