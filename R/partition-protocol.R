# Multi-site (partitioned) Cox, Kaplan-Meier and log-rank fits.
#
# The data stay where they are (on the workers of a socket cluster, or at sites that exchange
# files); only column descriptions, distinct event times, per-grid-time sums and the
# coefficients travel. The coordinator pools the sums, so every statistic is the one of the
# pooled single-machine fit up to floating-point summation order.
#
# Protocol (one "round" = coordinator -> every site -> coordinator):
#   1. describe   site -> columns used by the formula: class, factor levels, status codes.
#                 coordinator -> spec: unified factor levels (union in order of first
#                 appearance across partitions), the event coding of Surv().
#   2. setup      site -> n, events, sum w x, sum w, distinct event times per stratum and
#                 all distinct times (for the near-tie merge, survival's timefix).
#                 coordinator -> grid: distinct event times per stratum, centre vector, and
#                 the near-tied times every site moves onto the merged time.
#   3. per Newton iteration, at the current beta:
#        sums     site -> per grid time S0, S1, D0, D1, weighted / unweighted deaths,
#                 and sum w x, sum w eta over its deaths (O(T p) numbers).
#        info     coordinator -> alpha_t, B_t (O(T)); site -> one p x p matrix.
#   Site-stratified fits replace 3 by: site -> loglik, score, information.
#   The coordinator's Newton-Raphson (step halving, generalised Cholesky) is the C++ code of
#   the single-machine kernel (src/ldl.h via newton_*_cpp); the result is an rwe_cox.
# Kaplan-Meier / log-rank: describe, setup (distinct times), counts per grid time and group.

# Per-process store of resident partitions (on a worker: the data loaded onto it).
site_store <- new.env(parent = emptyenv())

# ---------------------------------------------------------------------------------------------
# Site side: describing and framing a partition's data
# ---------------------------------------------------------------------------------------------

#' Describe a site's data for a partitioned fit (site side)
#'
#' First step of the file-exchange protocol: a site reports, for every variable the formula
#' (and `weights`) uses, its class, its factor levels (or the distinct values of a character
#' column) and, for the event variable of `Surv()`, the distinct event codes. No row-level
#' data leave the site. The coordinator passes the descriptions of all sites to
#' [partition_spec()].
#'
#' @param data The site's data frame (zero rows allowed).
#' @param formula A formula with a `Surv()` response, the same at every site.
#' @param weights `NULL` or the name of a column of case weights.
#' @return A list of class `rwe_site_description`.
#' @examples
#' d <- site_describe(survival::lung, survival::Surv(time, status) ~ age + sex)
#' names(d$columns)
#' @export
site_describe <- function(data, formula, weights = NULL) {
  check_site_data(data)
  vars <- formula_variables(formula, weights)
  status_var <- surv_status_variable(formula)
  columns <- lapply(stats::setNames(nm = intersect(vars, names(data))), function(v) {
    col <- data[[v]]
    out <- list(kind = column_kind(col))
    if (out$kind %in% c("factor", "ordered")) out$levels <- levels(col)
    if (out$kind == "character") out$levels <- sort(unique(col[!is.na(col)]))
    if (identical(v, status_var) && is.numeric(col)) out$codes <- sort(unique(col[!is.na(col)]))
    out
  })
  structure(list(n = nrow(data), variables = vars, columns = columns),
            class = "rwe_site_description")
}

check_site_data <- function(data, call = rlang::caller_env()) {
  if (!is.data.frame(data)) {
    cli::cli_abort("{.arg data} must be a data frame, not {.obj_type_friendly {data}}.",
                   call = call, class = "rwe_bad_input")
  }
}

formula_variables <- function(formula, weights = NULL, call = rlang::caller_env()) {
  if (!inherits(formula, "formula") || length(formula) != 3L || !is_surv_call(formula[[2L]])) {
    cli::cli_abort("{.arg formula} must be a formula with a {.fn Surv} response.",
                   call = call, class = "rwe_bad_input")
  }
  if (!is.null(weights) && !(is.character(weights) && length(weights) == 1L)) {
    cli::cli_abort("{.arg weights} must be the name of a column (a single string).",
                   call = call, class = "rwe_bad_input")
  }
  unique(c(all.vars(formula), weights))
}

column_kind <- function(col) {
  if (is.ordered(col)) return("ordered")
  if (is.factor(col)) return("factor")
  if (is.character(col)) return("character")
  if (is.logical(col)) return("logical")
  if (is.numeric(col)) return("numeric")
  class(col)[1L]
}

# The event variable of Surv(time, event) / Surv(start, stop, event) when it is a plain column.
surv_status_variable <- function(formula) {
  surv <- formula[[2L]]
  last <- surv[[length(surv)]]
  if (is.name(last)) as.character(last) else NULL
}

#' Unify the sites' descriptions into a common specification (coordinator side)
#'
#' Checks that every partition has every variable with the same kind of column, unifies
#' factor levels (the union, in order of first appearance over the partitions, as `rbind()`
#' of the pooled data would) and decides the event coding of `Surv()` from all partitions
#' together (a site whose event column holds only 1s would otherwise be read as "all events"
#' under 1/2 coding).
#'
#' @param descriptions A list of [site_describe()] results, one per partition (named or not).
#' @param formula,weights As given to [site_describe()].
#' @return A list of class `rwe_partition_spec`, sent to every site.
#' @examples
#' lung <- survival::lung
#' sites <- split(lung, lung$inst > 10)
#' f <- survival::Surv(time, status) ~ age
#' spec <- partition_spec(lapply(sites, site_describe, formula = f), f)
#' spec$status_shift
#' @export
partition_spec <- function(descriptions, formula, weights = NULL) {
  vars <- formula_variables(formula, weights)
  if (!is.list(descriptions) || is.data.frame(descriptions) || !length(descriptions) ||
      !all(vapply(descriptions, inherits, logical(1), "rwe_site_description"))) {
    abort_part_arg("descriptions", "must be a non-empty list of site_describe() results", rlang::current_env())
  }
  labels <- partition_labels(descriptions)
  levels <- list()
  for (v in vars) {
    kinds <- vapply(seq_along(descriptions), function(k) {
      col <- descriptions[[k]]$columns[[v]]
      if (is.null(col)) {
        cli::cli_abort(c("Partition {.val {labels[k]}} has no column {.field {v}}.",
                         "i" = "Every partition needs every variable of {.arg formula}."),
                       class = "rwe_bad_input", call = rlang::caller_env(4))
      }
      col$kind
    }, character(1))
    levels[[v]] <- unify_column(v, kinds, descriptions, labels)
  }
  levels <- levels[!vapply(levels, is.null, logical(1))]
  codes <- unlist(lapply(descriptions, function(d) d$columns[[surv_status_variable(formula) %||% ""]]$codes))
  status_shift <- length(codes) > 0L && all(codes %in% c(1, 2)) && any(codes == 2) &&
    !all(codes %in% c(0, 1))
  environment(formula) <- asNamespace("rwecohort")
  structure(list(formula = formula, weights = weights, levels = levels,
                 status_var = surv_status_variable(formula), status_shift = status_shift),
            class = "rwe_partition_spec")
}

# A categorical covariate with one value over all partitions has no contrast: the sites'
# model.matrix() would fail with an unclassed error (the pooled cox_fit() refuses it too).
# strata() variables may have a single level. Cox only (cox_site_frame()): Kaplan-Meier curves
# and log-rank groups build no design matrix, and one curve is fine there.
check_partition_single_levels <- function(formula, levels, call = rlang::caller_env()) {
  rhs <- formula[[3L]]
  strata_vars <- unlist(lapply(find_calls(rhs, "strata"), all.vars))
  for (v in setdiff(intersect(all.vars(rhs), names(levels)), strata_vars)) {
    if (length(levels[[v]]$levels) < 2L) {
      cli::cli_abort(c("{.arg formula}: factor {.var {v}} has a single level over all partitions, so it has no contrast to estimate.",
                       "i" = "Remove it from the model or check the partitions' data."),
                     call = call, class = "rwe_bad_input")
    }
  }
  invisible(TRUE)
}

partition_labels <- function(x) {
  labels <- names(x)
  if (is.null(labels)) labels <- rep("", length(x))
  ifelse(labels == "", paste0("#", seq_along(x)), labels)
}

# Kinds must agree; categorical columns get the union of their levels.
unify_column <- function(v, kinds, descriptions, labels) {
  numeric_like <- kinds %in% c("numeric", "logical")
  # a factor at one site may arrive as character at another (read from a .csv file)
  categorical <- kinds %in% c("factor", "character")
  if (all(categorical) && any(kinds == "factor")) kinds[] <- "factor"
  if (!(all(kinds == kinds[1L]) || all(numeric_like))) {
    odd <- which(kinds != kinds[1L])[1L]
    cli::cli_abort(c("Column {.field {v}} differs between partitions.",
                     "x" = "It is {.cls {kinds[1L]}} in partition {.val {labels[1L]}} but {.cls {kinds[odd]}} in partition {.val {labels[odd]}}."),
                   class = "rwe_bad_input", call = rlang::caller_env(3))
  }
  if (!kinds[1L] %in% c("factor", "ordered", "character")) return(NULL)
  all_levels <- lapply(descriptions, function(d) d$columns[[v]]$levels)
  union_levels <- unique(unlist(all_levels))
  if (kinds[1L] == "character") union_levels <- sort(union_levels)
  if (kinds[1L] == "ordered") {
    for (k in seq_along(all_levels)) {
      if (!identical(all_levels[[k]], union_levels[union_levels %in% all_levels[[k]]])) {
        cli::cli_abort(c("Ordered factor {.field {v}} has its levels in a different order in partition {.val {labels[k]}}.",
                         "x" = "Got {.val {all_levels[[k]]}}; the union so far is {.val {union_levels}}."),
                       class = "rwe_bad_input", call = rlang::caller_env(3))
      }
    }
  }
  # character columns become factors at the sites; the pooled verbs report some as character
  list(levels = union_levels, ordered = kinds[1L] == "ordered", character = kinds[1L] == "character")
}

# Applies the spec to a site's data and builds the model frame and its parts with the shared
# parser. Returns NULL for a partition with no usable rows.
site_frame <- function(data, spec) {
  check_site_data(data)
  check_inherits(spec, "rwe_partition_spec", what = "a specification from {.fn partition_spec}")
  if (nrow(data) == 0L) return(NULL)
  for (v in names(spec$levels)) {
    lev <- spec$levels[[v]]
    data[[v]] <- factor(as.character(data[[v]]), levels = lev$levels, ordered = lev$ordered)
  }
  if (spec$status_shift) data[[spec$status_var]] <- data[[spec$status_var]] - 1
  env <- new.env(parent = asNamespace("rwecohort"))
  env$formula <- spec$formula
  env$data <- data
  mc <- call("site", formula = quote(formula), data = quote(data))
  if (!is.null(spec$weights)) mc$weights <- as.name(spec$weights)
  mf <- tryCatch(surv_model_frame(mc, env),
                 rwe_bad_input = function(e) if (grepl("No rows left", conditionMessage(e))) NULL else stop(e))
  if (is.null(mf)) return(NULL)
  parts <- surv_parts(mf)
  parts$frame <- mf
  parts$strata_table <- spec_strata_levels(parts$strata_table, spec)
  parts
}

# strata() keeps only the levels present at the site; a strata variable with unified levels
# gets them all back, so that the coordinator orders the strata as the pooled fit does.
spec_strata_levels <- function(table, spec) {
  for (v in intersect(names(table), names(spec$levels))) {
    if (is.factor(table[[v]])) {
      table[[v]] <- factor(as.character(table[[v]]), levels = spec$levels[[v]]$levels)
    }
  }
  table
}

# One string per row identifying its value combination in a table of categorical values.
value_keys <- function(table, rows = NULL) {
  if (is.null(table) || !ncol(table)) return(rep("all", if (is.null(rows)) 1L else length(rows)))
  cols <- lapply(table, as.character)
  keys <- do.call(paste, c(cols, sep = "\r"))
  if (is.null(rows)) keys else keys[rows]
}

sort_labels <- function(labels) {
  num <- suppressWarnings(as.numeric(labels))
  if (!anyNA(num)) return(labels[order(num)])
  if (all(labels %in% c("FALSE", "TRUE"))) return(intersect(c("FALSE", "TRUE"), labels))
  sort(labels)
}

# Coordinator: union of the sites' value tables, in the order of the (unified) values.
union_table <- function(tables) {
  tables <- tables[!vapply(tables, is.null, logical(1))]
  if (!length(tables)) return(NULL)
  all <- do.call(rbind, tables)
  # factor columns whose levels differ between sites hold only each site's values (a numeric
  # strata variable, factor(x) of a number): order their union as the pooled factor would
  for (v in names(all)) {
    levs <- lapply(tables, function(t) levels(t[[v]]))
    if (is.factor(all[[v]]) && !all(vapply(levs, identical, logical(1), levs[[1L]]))) {
      all[[v]] <- factor(as.character(all[[v]]), levels = sort_labels(unique(unlist(levs))))
    }
  }
  all <- all[!duplicated(value_keys(all)), , drop = FALSE]
  all <- all[do.call(order, unname(as.list(all))), , drop = FALSE]
  rownames(all) <- NULL
  all
}

# Grid positions of each row (see src/partition.cpp): `last` = largest grid time <= time in
# the row's stratum, `entry` = largest grid time <= start; -1 for none (0-based).
grid_positions <- function(stratum, time, start, grid) {
  last <- entry <- rep(-1L, length(time))
  rows_by <- split(seq_along(stratum), stratum)
  for (s in names(rows_by)) {
    s_int <- as.integer(s)
    first <- grid$bounds[s_int]
    times <- grid$time[first + seq_len(grid$bounds[s_int + 1L] - first)]
    if (!length(times)) next
    rows <- rows_by[[s]]
    k <- findInterval(time[rows], times)
    last[rows] <- ifelse(k > 0L, first + k - 1L, -1L)
    if (!is.null(start)) {
      k <- findInterval(start[rows], times)
      entry[rows] <- ifelse(k > 0L, first + k - 1L, -1L)
    }
  }
  list(last = as.integer(last), entry = as.integer(entry))
}

# A global grid from per-site lists of distinct times per stratum key; `timefix` (from
# near_tie_map()) moves the sites' near-tied times to the merged time first.
build_grid <- function(strata_tables, times_by_key, timefix = NULL) {
  strata <- union_table(strata_tables)
  keys <- value_keys(strata)
  times <- lapply(keys, function(k) {
    sort(unique(apply_time_map(unlist(lapply(times_by_key, `[[`, k)) %||% numeric(), timefix)))
  })
  bounds <- as.integer(c(0L, cumsum(lengths(times))))
  list(strata = strata, keys = keys, time = unlist(times) %||% numeric(),
       stratum = rep(seq_along(keys), lengths(times)), bounds = bounds, timefix = timefix)
}

# survival's timefix over the pooled data (as cox_fit / km_fit / logrank_test apply it through
# merge_near_ties()): the merge depends on every distinct time of every site (a run of gaps
# below the tolerance can chain across sites, and the relative test uses the mean of all
# distinct times), so the coordinator runs it on the union of the sites' distinct times. Only
# the times that move are sent back: `from` (exact values as the sites hold them) -> `to`.
near_tie_map <- function(distinct_by_site) {
  y <- sort(unique(unlist(distinct_by_site)))
  if (length(y) < 2L) return(NULL)
  merged <- merge_near_ties(y)$time
  moved <- merged != y
  if (!any(moved)) return(NULL)
  list(from = y[moved], to = merged[moved])
}

apply_time_map <- function(time, timefix) {
  if (is.null(timefix) || is.null(time)) return(time)
  k <- match(time, timefix$from)
  hit <- which(!is.na(k))
  time[hit] <- timefix$to[k[hit]]
  time
}

# A site moves its times onto the merged ones; counting-process intervals that the merge
# empties are refused, as the pooled fit refuses them.
site_apply_timefix <- function(parts, timefix, site = "") {
  if (is.null(parts) || is.null(timefix)) return(parts)
  parts$time <- apply_time_map(parts$time, timefix)
  if (!is.null(parts$start)) {
    parts$start <- apply_time_map(parts$start, timefix)
    bad <- which(parts$start >= parts$time)
    if (length(bad)) {
      abort_rows("formula", paste0("has (start, stop] intervals shorter than the time tolerance (site ", site, ")"), bad)
    }
  }
  parts
}

# Every distinct time of a site (stop and start times): the input of near_tie_map().
site_distinct_times <- function(parts) sort(unique(c(parts$time, parts$start)))

site_strata_codes <- function(parts, grid, site = NULL) {
  keys <- value_keys(parts$strata_table)
  code <- match(keys, grid$keys)[parts$strata]
  if (anyNA(code)) {
    cli::cli_abort("Site {site %||% ''}: a stratum of the data is not in {.arg grid}; the grid was not built from these data.",
                   class = "rwe_bad_input")
  }
  code
}

# min_cell: a site refuses to release sums at grid times with 1..k-1 of its subjects at risk.
check_min_cell <- function(n_subjects, min_cell, site) {
  if (is.null(min_cell)) return(invisible(TRUE))
  small <- n_subjects > 0 & n_subjects < min_cell
  if (any(small)) {
    cli::cli_abort(c("Site {.val {site}} refuses to release its sums (min_cell = {min_cell}).",
                     "x" = "At {sum(small)} grid time{?s} fewer than {min_cell} of its subjects are at risk."),
                   class = "rwe_min_cell")
  }
  invisible(TRUE)
}

