# Partitioned Kaplan-Meier and log-rank: counts per grid time and group, pooled by the coordinator.

# ---------------------------------------------------------------------------------------------
# Kaplan-Meier and log-rank: counts per grid time
# ---------------------------------------------------------------------------------------------

# KM curves are defined by every right-hand-side term: ~ a + b becomes ~ strata(a) + strata(b).
km_formula <- function(formula) {
  labels <- attr(stats::terms(formula), "term.labels")
  if (!length(labels)) return(formula)
  if (any(grepl(":", labels, fixed = TRUE))) {
    cli::cli_abort("{.arg formula}: use {.code ~ a + b} (not interactions) to define the curves.",
                   class = "rwe_bad_input")
  }
  wrapped <- ifelse(grepl("^strata\\(", labels), labels, paste0("strata(", labels, ")"))
  rhs <- str2lang(paste(wrapped, collapse = " + "))
  formula[[3L]] <- rhs
  formula
}

# Group values (log-rank): the model-frame columns of the non-strata terms.
group_table <- function(parts) {
  labels <- attr(parts$terms, "term.labels")
  if (!length(labels)) return(NULL)
  tab <- as.data.frame(lapply(stats::setNames(nm = labels), function(l) parts$frame[[l]]),
                       check.names = FALSE)
  tab
}

counts_setup <- function(parts, groups, all_times) {
  if (is.null(parts)) return(list(n = 0L, strata = NULL, groups = NULL, times = list(), distinct = NULL))
  if (parts$counting) {
    cli::cli_abort("{.arg formula}: partitioned Kaplan-Meier and log-rank take right-censored {.code Surv(time, event)} data.",
                   class = "rwe_bad_input")
  }
  keys <- value_keys(parts$strata_table)
  keep <- if (all_times) rep(TRUE, parts$n) else parts$status > 0
  times <- lapply(split(parts$time[keep], factor(keys[parts$strata][keep], levels = keys)),
                  function(t) sort(unique(t)))
  tab <- if (groups) group_table(parts)
  if (!is.null(tab)) tab <- tab[!duplicated(value_keys(tab)), , drop = FALSE]
  # the near-tie merge needs every distinct time; with all_times, `times` holds them already
  # fractional weights make the pooled Kaplan-Meier use the robust (IJ) SE, as survfit
  list(n = parts$n, strata = parts$strata_table, groups = tab, times = times,
       distinct = if (!all_times) site_distinct_times(parts),
       fractional = any(parts$weights != floor(parts$weights)))
}

counts_site <- function(parts, grid, group_keys, groups, min_cell, label) {
  ngroups <- max(1L, length(group_keys))
  ngrid <- length(grid$time)
  keep <- c("n_risk", "n_event", "n_censor")
  if (is.null(parts)) {
    zero <- matrix(0, ngrid, ngroups)
    out <- list(n_risk = zero, n_event = zero, n_censor = zero)
    if (isTRUE(grid$robust)) out[paste0(keep, "_w2")] <- list(zero, zero, zero)
    return(out)
  }
  parts <- site_apply_timefix(parts, grid$timefix, label)
  code <- site_strata_codes(parts, grid, label)
  pos <- grid_positions(code, parts$time, NULL, grid)
  group <- if (groups && length(group_keys)) match(value_keys(group_table(parts)), group_keys) - 1L else
    rep(0L, parts$n)
  if (anyNA(group)) {
    odd <- unique(value_keys(group_table(parts))[is.na(group)])
    cli::cli_abort(c("Site {label}: {.arg grid} lacks group{?s} {.val {gsub('\r', ', ', odd)}} of the data; the grid was not built from these data.",
                     "x" = "Offending rows: {format_offenders(which(is.na(group)))}."),
                   class = "rwe_bad_input")
  }
  counts <- partition_counts_cpp(parts$weights, parts$status, pos$last, pos$entry,
                                 as.integer(group), ngroups, as.integer(grid$bounds))
  check_min_cell(counts$n_subjects, min_cell, label)
  out <- counts[keep]
  if (isTRUE(grid$robust)) {
    # sums of squared weights: what the robust Kaplan-Meier SE needs besides the counts
    w2 <- partition_counts_cpp(parts$weights^2, parts$status, pos$last, pos$entry,
                               as.integer(group), ngroups, as.integer(grid$bounds))
    out[paste0(keep, "_w2")] <- w2[keep]
  }
  out
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
  list(grid = grid, groups = grid$groups, counts = pool_counts(ex$results),
       traffic = traffic$table(), n = sum(vapply(setups, function(s) as.double(s$n), numeric(1))))
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
#' head(km)
#' grid <- counts_grid(lapply(sites, logrank_site_stats, spec = spec))
#' logrank_combine(lapply(sites, logrank_site_stats, spec = spec, grid = grid), grid)$chisq
#' @name partitioned_counts_by_hand
NULL

#' @rdname partitioned_counts_by_hand
#' @export
km_site_stats <- function(data, spec, grid = NULL, min_cell = NULL, site = "") {
  check_counts_site_args(spec, grid, min_cell, site)
  spec$formula <- km_formula(spec$formula)
  parts <- site_frame(data, spec)
  if (is.null(grid)) return(counts_setup(parts, groups = FALSE, all_times = TRUE))
  counts_site(parts, grid, character(), FALSE, min_cell, site)
}

#' @rdname partitioned_counts_by_hand
#' @export
logrank_site_stats <- function(data, spec, grid = NULL, min_cell = NULL, site = "") {
  check_counts_site_args(spec, grid, min_cell, site)
  parts <- site_frame(data, spec)
  if (is.null(grid)) return(counts_setup(parts, groups = TRUE, all_times = FALSE))
  counts_site(parts, grid, grid$group_keys, TRUE, min_cell, site)
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
  grid$robust <- any(vapply(setups, function(s) isTRUE(s$fractional), logical(1)))
  structure(grid, class = "rwe_counts_grid")
}

#' @rdname partitioned_counts_by_hand
#' @export
km_combine <- function(stats, grid, conf.level = 0.95) {
  check_conf_level(conf.level)
  check_grid_shape(grid, "rwe_counts_grid", rlang::current_env())
  check_counts_stats(stats, grid, rlang::current_env())
  new_rwe_partitioned_km(km_from_counts(grid, pool_counts(stats), conf.level), NULL)
}

#' @rdname partitioned_counts_by_hand
#' @export
logrank_combine <- function(stats, grid) {
  check_grid_shape(grid, "rwe_counts_grid", rlang::current_env())
  check_counts_stats(stats, grid, rlang::current_env())
  if (is.null(grid$groups) || nrow(grid$groups) < 2L) {
    cli::cli_abort("{.arg grid}: the formula must define at least two groups.", class = "rwe_bad_input")
  }
  new_rwe_partitioned_logrank(logrank_from_counts(pool_counts(stats)), grid$groups, NULL)
}

#' Kaplan-Meier curves over partitioned data, equal to the pooled fit
#'
#' Each partition sends, per curve and distinct time (over all partitions), its weighted
#' numbers at risk, of events and of censorings; the coordinator adds them and computes the
#' survival, Greenwood standard error (of the cumulative hazard, as `survival::survfit()`)
#' and log-type confidence limits. With non-integer case weights the standard error is the
#' robust (infinitesimal-jackknife) one, as [km_fit()] uses then; the partitions also send
#' their sums of squared weights. Times that differ only by rounding are one time, as in
#' [km_fit()]: the merge runs on the union of the partitions' times.
#'
#' @param formula `Surv(time, status) ~ 1` or `~ a + b` (one curve per combination).
#' @inheritParams partitioned_cox_fit
#' @param conf.level Confidence level of the limits.
#' @return A data frame of class `rwe_partitioned_km` with the curve variables as columns,
#'   `time`, `n.risk`, `n.event`, `n.censor`, `surv`, `std.err`, `lower`, `upper`; attribute
#'   `traffic`.
#' @examples
#' lung <- survival::lung
#' parts <- cohort_partitions(split(lung, lung$inst %% 3))
#' head(partitioned_km_fit(survival::Surv(time, status) ~ sex, parts))
#' @export
partitioned_km_fit <- function(formula, partitions, weights = NULL, conf.level = 0.95,
                               min_cell = NULL, timeout = getOption("rwecohort.worker_timeout", 600)) {
  formula_variables(formula, weights)
  check_conf_level(conf.level)
  res <- partitioned_counts(km_formula(formula), partitions, weights, groups = FALSE,
                            all_times = TRUE, min_cell = min_cell, timeout = timeout)
  km <- km_from_counts(res$grid, res$counts, conf.level)
  new_rwe_partitioned_km(km, res$traffic)
}

km_from_counts <- function(grid, counts, conf.level) {
  n_risk <- counts$n_risk[, 1L]
  n_event <- counts$n_event[, 1L]
  hazard <- ifelse(n_risk > 0, n_event / n_risk, 0)
  greenwood <- ifelse(n_risk > n_event, n_event / (n_risk * (n_risk - n_event)), Inf)
  greenwood[n_event == 0] <- 0
  block <- grid$stratum
  surv <- stats::ave(1 - hazard, block, FUN = cumprod)
  std_err <- sqrt(stats::ave(greenwood, block, FUN = cumsum))
  if (isTRUE(grid$robust)) {
    se_surv <- km_ij_se_cpp(as.integer(block), surv, n_risk, n_event, counts$n_risk_w2[, 1L],
                            counts$n_event_w2[, 1L], counts$n_censor_w2[, 1L])
    std_err <- ifelse(se_surv == 0, 0, se_surv / surv)
  }
  z <- stats::qnorm(1 - (1 - conf.level) / 2)
  lower <- ifelse(surv > 0, surv * exp(-z * std_err), NA_real_)
  upper <- ifelse(surv > 0, pmin(surv * exp(z * std_err), 1), NA_real_)
  out <- data.frame(time = grid$time, n.risk = n_risk, n.event = n_event,
                    n.censor = counts$n_censor[, 1L], surv = surv, std.err = std_err,
                    lower = lower, upper = upper)
  if (!is.null(grid$strata)) {
    strata <- grid$strata[block, , drop = FALSE]
    rownames(strata) <- NULL
    out <- cbind(strata, out)
  }
  out
}

new_rwe_partitioned_km <- function(km, traffic) {
  structure(km, traffic = traffic, class = c("rwe_partitioned_km", "data.frame"))
}

#' @export
print.rwe_partitioned_km <- function(x, ...) {
  cat("<rwe_partitioned_km> ", nrow(x), " time points\n", sep = "")
  print(utils::head(as.data.frame(x), 10L), row.names = FALSE)
  invisible(x)
}

#' Log-rank test over partitioned data, equal to the pooled test
#'
#' Each partition sends, per stratum, distinct event time (over all partitions) and group, its
#' numbers at risk and of events; the coordinator computes observed and expected events, their
#' variance matrix and the chi-squared statistic as `survival::survdiff()` (rho = 0).
#'
#' @param formula `Surv(time, status) ~ group`, optionally `+ strata(s)`.
#' @inheritParams partitioned_cox_fit
#' @return A list of class `rwe_partitioned_logrank`: `groups` (data frame with `n`, `obs`,
#'   `exp`), `var`, `chisq`, `df`, `p.value`, `traffic`.
#' @examples
#' lung <- survival::lung
#' parts <- cohort_partitions(split(lung, lung$inst %% 3))
#' partitioned_logrank_test(survival::Surv(time, status) ~ sex, parts)
#' @export
partitioned_logrank_test <- function(formula, partitions, min_cell = NULL,
                                     timeout = getOption("rwecohort.worker_timeout", 600)) {
  formula_variables(formula)
  res <- partitioned_counts(formula, partitions, NULL, groups = TRUE, all_times = FALSE,
                            min_cell = min_cell, timeout = timeout)
  if (is.null(res$groups) || nrow(res$groups) < 2L) {
    cli::cli_abort("{.arg formula} must define at least two groups.", class = "rwe_bad_input")
  }
  new_rwe_partitioned_logrank(logrank_from_counts(res$counts), res$groups, res$traffic)
}

logrank_from_counts <- function(counts) {
  n_risk <- counts$n_risk
  n_event <- counts$n_event
  total_n <- rowSums(n_risk)
  total_d <- rowSums(n_event)
  use <- total_d > 0 & total_n > 0
  share <- n_risk[use, , drop = FALSE] / total_n[use]
  d <- total_d[use]
  expected <- colSums(d * share)
  factor_v <- ifelse(total_n[use] > 1, d * (total_n[use] - d) / (total_n[use] - 1), 0)
  var <- diag(colSums(factor_v * share), ncol(share)) - crossprod(share * sqrt(factor_v))
  list(obs = colSums(n_event), exp = expected, var = var)
}

new_rwe_partitioned_logrank <- function(lr, groups, traffic) {
  # the pooled test's generalised inverse: a singular variance (a group whose only subject
  # is alone in its stratum) lowers df instead of failing in solve()
  test <- logrank_chisq(lr$obs, lr$exp, lr$var)
  chisq <- test$chisq
  df <- test$df
  tab <- cbind(groups, obs = lr$obs, exp = lr$exp)
  rownames(tab) <- NULL
  structure(list(groups = tab, var = lr$var, chisq = chisq, df = df,
                 p.value = stats::pchisq(chisq, df, lower.tail = FALSE), traffic = traffic),
            class = "rwe_partitioned_logrank")
}

#' @export
print.rwe_partitioned_logrank <- function(x, ...) {
  cat("<rwe_partitioned_logrank>\n")
  print(x$groups, row.names = FALSE)
  cat("Chisq = ", format(x$chisq, digits = 6), " on ", x$df, " df, p = ",
      format.pval(x$p.value, digits = 4), "\n", sep = "")
  invisible(x)
}

