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
  check_partition_single_levels(formula, levels)
  codes <- unlist(lapply(descriptions, function(d) d$columns[[surv_status_variable(formula) %||% ""]]$codes))
  status_shift <- length(codes) > 0L && all(codes %in% c(1, 2)) && any(codes == 2) &&
    !all(codes %in% c(0, 1))
  environment(formula) <- asNamespace("rwecohort")
  structure(list(formula = formula, weights = weights, levels = levels,
                 status_var = surv_status_variable(formula), status_shift = status_shift),
            class = "rwe_partition_spec")
}

`%||%` <- function(a, b) if (is.null(a)) b else a

# A categorical covariate with one value over all partitions has no contrast: the sites'
# model.matrix() would fail with an unclassed error (the pooled cox_fit() refuses it too).
# strata() variables may have a single level.
check_partition_single_levels <- function(formula, levels) {
  rhs <- formula[[3L]]
  strata_vars <- unlist(lapply(find_calls(rhs, "strata"), all.vars))
  for (v in setdiff(intersect(all.vars(rhs), names(levels)), strata_vars)) {
    if (length(levels[[v]]$levels) < 2L) {
      cli::cli_abort(c("{.arg formula}: factor {.var {v}} has a single level over all partitions, so it has no contrast to estimate.",
                       "i" = "Remove it from the model or check the partitions' data."),
                     call = rlang::caller_env(3), class = "rwe_bad_input")
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
  list(levels = union_levels, ordered = kinds[1L] == "ordered")
}

# Applies the spec to a site's data and builds the model frame and its parts with the shared
# parser. Returns NULL for a partition with no usable rows.
site_frame <- function(data, spec) {
  check_site_data(data)
  if (!inherits(spec, "rwe_partition_spec")) {
    cli::cli_abort("{.arg spec} must come from {.fn partition_spec}.", class = "rwe_bad_input")
  }
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

# ---------------------------------------------------------------------------------------------
# Cox: site side
# ---------------------------------------------------------------------------------------------

# Model frame + design matrix (no intercept) of a site; NULL for an empty partition.
cox_site_frame <- function(data, spec) {
  parts <- site_frame(data, spec)
  if (is.null(parts)) return(NULL)
  x <- stats::model.matrix(parts$terms, parts$frame)
  x <- x[, colnames(x) != "(Intercept)", drop = FALSE]
  storage.mode(x) <- "double"
  bad <- which(!is.finite(x), arr.ind = TRUE)
  if (length(bad)) {
    col <- colnames(x)[bad[1L, 2L]]
    abort_rows("formula", paste0("covariate `", col, "` has infinite values"),
               bad[bad[, 2L] == bad[1L, 2L], 1L])
  }
  parts$frame <- NULL
  parts$x <- x
  parts
}

#' Site summary for a partitioned Cox fit (site side)
#'
#' Second step of the file-exchange protocol: with the common [partition_spec()], a site
#' reports its number of rows and events, the weighted column sums of its design matrix (for
#' the common centre), the design's column names, the distinct event times per stratum and
#' all its distinct (stop and start) times, which the coordinator needs to merge near-tied
#' times exactly as the pooled fit does (survival's `timefix`).
#'
#' @param data The site's data frame.
#' @param spec The [partition_spec()] from the coordinator.
#' @return A list of class `rwe_cox_setup`, sent to the coordinator for [cox_grid()].
#' @examples
#' lung <- survival::lung
#' f <- survival::Surv(time, status) ~ age + sex
#' spec <- partition_spec(list(site_describe(lung, f)), f)
#' cox_site_setup(lung, spec)$nevent
#' @export
cox_site_setup <- function(data, spec) {
  cox_setup_from_frame(cox_site_frame(data, spec))
}

# `distinct`: also send every distinct time (for the coordinator's near-tie merge).
cox_setup_from_frame <- function(parts, distinct = TRUE) {
  if (is.null(parts)) {
    return(structure(list(n = 0L, nevent = 0, columns = NULL, sum_wx = NULL, sum_w = 0,
                          strata = NULL, event_times = list(), distinct = NULL),
                     class = "rwe_cox_setup"))
  }
  keys <- value_keys(parts$strata_table)
  dead <- parts$status > 0
  event_times <- lapply(split(parts$time[dead], factor(keys[parts$strata][dead], levels = keys)),
                        function(t) sort(unique(t)))
  # columns coded -1/0/1 are not scaled by the pooled fit (nor centred): the coordinator
  # needs to know which columns are so coded at every site
  zero_one <- vapply(seq_len(ncol(parts$x)), function(j) all(parts$x[, j] %in% c(-1, 0, 1)), logical(1))
  structure(list(n = parts$n, nevent = sum(dead), columns = colnames(parts$x), zero_one = zero_one,
                 sum_wx = colSums(parts$weights * parts$x), sum_w = sum(parts$weights),
                 strata = parts$strata_table, event_times = event_times,
                 distinct = if (distinct) site_distinct_times(parts),
                 fractional = any(parts$weights != floor(parts$weights))),
            class = "rwe_cox_setup")
}

#' Global event-time grid and centre of a partitioned Cox fit (coordinator side)
#'
#' Pools the sites' [cox_site_setup()] summaries: checks that every site built the same
#' design columns, computes the common centre (the pooled weighted column means) and the
#' grid of distinct event times per stratum over all sites.
#'
#' @param setups A list of [cox_site_setup()] results (named by site, or not).
#' @param spec The [partition_spec()] used by the sites.
#' @param timefix If `TRUE` (default, as `survival::coxph.control()` and [cox_control()]),
#'   times that differ only by floating-point rounding are one time: the merge is run on the
#'   union of the sites' distinct times, and the grid carries the times that move (`timefix`,
#'   applied by every site), so that the result equals the pooled fit's.
#' @return A list of class `rwe_cox_grid`, sent to every site.
#' @examples
#' lung <- survival::lung
#' f <- survival::Surv(time, status) ~ age + sex
#' spec <- partition_spec(list(site_describe(lung, f)), f)
#' grid <- cox_grid(list(cox_site_setup(lung, spec)), spec)
#' length(grid$time)
#' @export
cox_grid <- function(setups, spec, timefix = TRUE) {
  check_part_flag(timefix)
  check_setups(setups, "rwe_cox_setup")
  labels <- partition_labels(setups)
  used <- which(vapply(setups, function(s) s$n > 0L, logical(1)))
  if (!length(used) || sum(vapply(setups, `[[`, numeric(1), "nevent")) == 0) {
    cli::cli_abort("{.arg formula}: no partition has an event; there is nothing to estimate.",
                   class = "rwe_bad_input")
  }
  columns <- setups[[used[1L]]]$columns
  for (k in used) {
    if (!identical(setups[[k]]$columns, columns)) {
      odd <- c(setdiff(setups[[k]]$columns, columns), setdiff(columns, setups[[k]]$columns))[1L]
      cli::cli_abort(c("Partition {.val {labels[k]}} builds different model columns.",
                       "x" = "Column {.field {odd %||% '(order)'}} does not match partition {.val {labels[used[1L]]}}."),
                     class = "rwe_bad_input")
    }
  }
  if (!length(columns)) {
    cli::cli_abort("{.arg formula} must have at least one covariate.", class = "rwe_bad_input")
  }
  sum_wx <- Reduce(`+`, lapply(setups[used], `[[`, "sum_wx"))
  sum_w <- sum(vapply(setups[used], `[[`, numeric(1), "sum_w"))
  if (!all(is.finite(sum_wx))) {
    cli::cli_abort(c("{.arg formula}: the sums of covariate{?s} {.field {columns[!is.finite(sum_wx)]}} overflow.",
                     "i" = "Rescale the covariates (e.g. to other units)."), class = "rwe_bad_input")
  }
  map <- if (timefix) near_tie_map(lapply(setups, `[[`, "distinct"))
  grid <- build_grid(lapply(setups, `[[`, "strata"), lapply(setups, `[[`, "event_times"), map)
  grid$centre <- sum_wx / sum_w
  grid$sum_w <- sum_w
  grid$doscale <- !Reduce(`&`, lapply(setups[used], function(s) s$zero_one %||% rep(FALSE, length(columns))))
  grid$columns <- columns
  grid$spec <- spec
  grid$n <- sum(vapply(setups, function(s) as.double(s$n), numeric(1)))
  grid$nevent <- sum(vapply(setups, `[[`, numeric(1), "nevent"))
  structure(grid, class = "rwe_cox_grid")
}

# Centred, sorted design with grid positions: what a site keeps between rounds.
cox_site_design <- function(parts, grid, min_cell = NULL, site = "") {
  if (is.null(parts)) return(NULL)
  parts <- site_apply_timefix(parts, grid$timefix, site)
  code <- site_strata_codes(parts, grid, site)
  ord <- engine_order(code, parts$time, parts$status)
  x <- sweep(parts$x[ord, , drop = FALSE], 2L, grid$centre)
  time <- parts$time[ord]
  status <- parts$status[ord]
  pos <- grid_positions(code[ord], time, if (parts$counting) parts$start[ord], grid)
  dead <- status > 0
  # rows before the first grid time have last = -1 (a censoring there is fine)
  on_grid <- pos$last >= 0L
  on_grid[on_grid] <- grid$time[pos$last[on_grid] + 1L] == time[on_grid]
  if (any(dead & !on_grid)) {
    cli::cli_abort("Site {site}: an event time is not on {.arg grid}; the grid was not built from these data.",
                   class = "rwe_bad_input")
  }
  design <- list(x = x, offset = parts$offset[ord], weights = parts$weights[ord],
                 status = status, last = pos$last, entry = pos$entry,
                 bounds = as.integer(grid$bounds))
  if (!is.null(min_cell)) {
    counts <- partition_counts_cpp(design$weights, design$status, design$last, design$entry,
                                   rep(0L, length(status)), 1L, design$bounds)
    check_min_cell(counts$n_subjects, min_cell, site)
  }
  design
}

cox_design_round1 <- function(design, beta, ngrid, p) {
  if (is.null(design)) {
    zeros <- numeric(ngrid)
    out <- list(s0 = zeros, s1 = matrix(0, ngrid, p), d0 = zeros, d1 = matrix(0, ngrid, p),
                dead_weight = zeros, dead_count = zeros, dead_wx = numeric(p), dead_weta = 0)
  } else {
    out <- partition_cox_sums_cpp(design$x, as.double(beta), design$offset, design$weights,
                                  design$status, design$last, design$entry, design$bounds)
  }
  structure(out, class = "rwe_cox_sums")
}

cox_design_round2 <- function(design, beta, request, p) {
  info <- if (is.null(design)) matrix(0, p, p) else
    partition_cox_info_cpp(design$x, as.double(beta), design$offset, design$weights,
                           design$status, design$last, design$entry, design$bounds,
                           as.double(request$alpha), as.double(request$efron_b))
  structure(list(info = info), class = "rwe_cox_info")
}

#' A site's sums for one Newton iteration of a partitioned Cox fit (site side)
#'
#' Third step of the file-exchange protocol, repeated every iteration. Without `request`
#' (round 1) the site returns, per grid time, the risk-set sums S0 = sum w e^eta and
#' S1 = sum w e^eta x, the sums D0, D1 over its deaths there, its weighted and unweighted death
#' counts, and the totals sum w x and sum w eta over its deaths. With the `request` of
#' [cox_combine()] (round 2) it returns one p x p matrix, its share of the information.
#'
#' @param data The site's data frame.
#' @param formula The model formula; must be the one in `grid` (it is checked).
#' @param beta Current coefficients (length p), from the coordinator.
#' @param grid The [cox_grid()] from the coordinator.
#' @param centre The common centre; `grid$centre`.
#' @param request `NULL` for round 1, or the `request` element of a round-1 [cox_combine()].
#' @param min_cell `NULL` (exact; default) or an integer k: refuse (error of class
#'   `rwe_min_cell`) when at some grid time 1 to k - 1 of the site's subjects are at risk.
#' @param site A label used in messages.
#' @return Round 1: a list of class `rwe_cox_sums`; round 2: a list of class `rwe_cox_info`.
#' @examples
#' lung <- survival::lung
#' f <- survival::Surv(time, status) ~ age + sex
#' spec <- partition_spec(list(site_describe(lung, f)), f)
#' grid <- cox_grid(list(cox_site_setup(lung, spec)), spec)
#' s <- cox_site_stats(lung, f, c(0, 0), grid)
#' cox_combine(list(s), grid)$loglik
#' @export
cox_site_stats <- function(data, formula, beta, grid, centre = grid$centre, request = NULL,
                           min_cell = NULL, site = "") {
  call <- rlang::current_env()
  check_grid_shape(grid, "rwe_cox_grid", call)
  check_min_cell_arg(min_cell)
  check_site_label(site)
  if (!identical(deparse(formula), deparse(grid$spec$formula))) {
    cli::cli_abort("{.arg formula} is not the formula the grid was built for.", class = "rwe_bad_input")
  }
  p <- length(grid$columns)
  if (!is.numeric(beta) || length(beta) != p || any(!is.finite(beta))) {
    cli::cli_abort("{.arg beta} must be {p} finite number{?s}.", class = "rwe_bad_input")
  }
  check_finite_vector(centre, p, "centre", call)
  check_cox_request(request, length(grid$time), call)
  grid$centre <- as.double(centre)
  design <- cox_site_design(cox_site_frame(data, grid$spec), grid, min_cell, site)
  if (is.null(request)) cox_design_round1(design, beta, length(grid$time), p)
  else cox_design_round2(design, beta, request, p)
}

# ---------------------------------------------------------------------------------------------
# Cox: coordinator side
# ---------------------------------------------------------------------------------------------

#' Pool the sites' sums of one Newton iteration (coordinator side)
#'
#' Round 1 (`stats` are [cox_site_stats()] sums): adds them over sites and returns the log
#' partial likelihood, the score and the `request` (per grid time alpha_t and B_t) to send
#' back to the sites. Round 2 (`stats` are the sites' p x p matrices, with `first` the
#' round-1 result): returns the information matrix as well.
#'
#' With d tied deaths at a time, weighted death count W and k = 0..d-1, Efron's approximation
#' uses denominators S0 - (k/d) D0, numerators S1 - (k/d) D1 and the mean weight W/d per term
#' (as `survival::coxph()` does for case weights); Breslow uses S0, S1 and W.
#'
#' @param stats A list with one element per site.
#' @param grid The [cox_grid()].
#' @param ties `"efron"` (default) or `"breslow"`.
#' @param first For round 2, the round-1 result at the same `beta`.
#' @return A list of class `rwe_cox_round`: `loglik`, `score`, `request` (round 1) and `imat`
#'   (round 2).
#' @examples
#' lung <- survival::lung
#' f <- survival::Surv(time, status) ~ age + sex
#' spec <- partition_spec(list(site_describe(lung, f)), f)
#' grid <- cox_grid(list(cox_site_setup(lung, spec)), spec)
#' r1 <- cox_combine(list(cox_site_stats(lung, f, c(0, 0), grid)), grid)
#' r2 <- cox_combine(list(cox_site_stats(lung, f, c(0, 0), grid, request = r1$request)),
#'                   grid, first = r1)
#' r2$imat
#' @export
cox_combine <- function(stats, grid, ties = c("efron", "breslow"), first = NULL) {
  ties <- as_bad_input(rlang::arg_match(ties))
  call <- rlang::current_env()
  if (!is.list(stats) || !length(stats)) cli::cli_abort("{.arg stats} is empty.", class = "rwe_bad_input")
  check_grid_shape(grid, "rwe_cox_grid", call)
  p <- length(grid$columns)
  if (all(vapply(stats, inherits, logical(1), "rwe_cox_info"))) {
    if (!inherits(first, "rwe_cox_round")) {
      cli::cli_abort("{.arg first} must be the round-1 result of {.fn cox_combine}.", class = "rwe_bad_input")
    }
    for (k in seq_along(stats)) {
      m <- stats[[k]]$info
      if (!is.matrix(m) || !is.numeric(m) || !all(dim(m) == p)) {
        abort_part_arg("stats", paste0("element ", k, " is not a ", p, " x ", p, " information share"), call)
      }
    }
    first$imat <- Reduce(`+`, lapply(stats, `[[`, "info")) - first$aat
    dimnames(first$imat) <- list(grid$columns, grid$columns)
    return(first)
  }
  if (!all(vapply(stats, inherits, logical(1), "rwe_cox_sums"))) {
    cli::cli_abort("{.arg stats} must all come from {.fn cox_site_stats}, of the same round.",
                   class = "rwe_bad_input")
  }
  check_cox_sums(stats, length(grid$time), p, call)
  pooled <- Reduce(function(a, b) Map(`+`, a, b), lapply(stats, unclass))
  structure(cox_pooled_terms(pooled, ties), class = "rwe_cox_round")
}

# Log partial likelihood, score, the round-2 request and the sum of m a a' from pooled sums.
cox_pooled_terms <- function(pooled, ties) {
  ngrid <- length(pooled$s0)
  at <- which(pooled$dead_count > 0)
  d <- pooled$dead_count[at]
  if (ties == "breslow") {
    pos <- at
    frac <- 0
    m <- pooled$dead_weight[at]
  } else {
    pos <- rep(at, d)
    frac <- (sequence(d) - 1) / rep(d, d)
    m <- rep(pooled$dead_weight[at] / d, d)
  }
  den <- pooled$s0[pos] - frac * pooled$d0[pos]
  a <- (pooled$s1[pos, , drop = FALSE] - frac * pooled$d1[pos, , drop = FALSE]) / den
  alpha <- efron_b <- numeric(ngrid)
  alpha[at] <- rowsum(m / den, pos, reorder = TRUE)[, 1L]
  efron_b[at] <- rowsum(m * frac / den, pos, reorder = TRUE)[, 1L]
  list(loglik = pooled$dead_weta - sum(m * log(den)),
       score = pooled$dead_wx - colSums(m * a),
       request = list(alpha = alpha, efron_b = efron_b),
       aat = crossprod(a * sqrt(m)))
}

# Generalised Cholesky (LDL') of a symmetric non-negative definite matrix: a pivot below
# toler times the largest diagonal marks a redundant column, whose step and variance are 0.
gchol <- function(m, toler = .Machine$double.eps^0.75) {
  p <- nrow(m)
  l <- diag(p)
  d <- numeric(p)
  eps <- toler * max(c(diag(m), 0))
  for (j in seq_len(p)) {
    k <- seq_len(j - 1L)
    d[j] <- m[j, j] - sum(l[j, k]^2 * d[k])
    if (!is.finite(d[j]) || d[j] < eps) {
      d[j] <- 0
      next
    }
    if (j < p) {
      i <- (j + 1L):p
      l[i, j] <- (m[i, j] - l[i, k, drop = FALSE] %*% (l[j, k] * d[k])) / d[j]
    }
  }
  list(l = l, d = d)
}

gchol_solve <- function(ch, b) {
  y <- forwardsolve(ch$l, b)
  y <- ifelse(ch$d > 0, y / ch$d, 0)
  backsolve(t(ch$l), y) * (ch$d > 0)
}

gchol_inverse <- function(ch) {
  p <- length(ch$d)
  inv <- vapply(seq_len(p), function(j) gchol_solve(ch, diag(p)[, j]), numeric(p))
  matrix(inv, p, p)
}

# The Cholesky factor of the information of the scaled covariates x * scale (coxph's scaling:
# its rank decisions then do not depend on the covariates' units) and the Newton step and
# variance in the original units.
scaled_chol <- function(imat, scale, toler) gchol(imat * outer(scale, scale), toler)
scaled_step <- function(ch, score, scale) scale * gchol_solve(ch, score * scale)

# Newton-Raphson as coxph: start at init, halve the step while the log-likelihood drops,
# stop on |1 - loglik / oldloglik| <= eps; information only where the step is taken.
# `sums(beta)` returns a round-1 result, `info(beta, r1)` its round-2 completion.
cox_newton <- function(sums, info, init, control, scale = rep(1, length(init))) {
  beta <- init
  current <- info(beta, sums(beta))
  first <- current
  ch <- scaled_chol(current$imat, scale, control$toler.chol)
  newbeta <- beta + scaled_step(ch, current$score, scale)
  oldlk <- current$loglik
  halving <- FALSE
  iter <- 0L
  converged <- FALSE
  if (control$iter.max == 0L) newbeta <- beta
  while (iter < control$iter.max) {
    iter <- iter + 1L
    r1 <- sums(newbeta)
    # isTRUE(): a log-likelihood of exactly 0 (perfect separation) makes 0 / 0 = NaN, which
    # coxph's C comparisons read as "not converged" and "not worse"; so do these
    converged <- isTRUE(abs(1 - oldlk / r1$loglik) <= control$eps) && !halving
    if (converged || iter == control$iter.max) {
      current <- info(newbeta, r1)
      break
    }
    if (isTRUE(r1$loglik < oldlk)) {
      halving <- TRUE
      newbeta <- (newbeta + beta) / 2
    } else {
      halving <- FALSE
      oldlk <- r1$loglik
      current <- info(newbeta, r1)
      ch <- scaled_chol(current$imat, scale, control$toler.chol)
      beta <- newbeta
      newbeta <- beta + scaled_step(ch, current$score, scale)
    }
  }
  ch <- scaled_chol(current$imat, scale, control$toler.chol)
  score0 <- scaled_step(scaled_chol(first$imat, scale, control$toler.chol), first$score, scale)
  list(coefficients = newbeta, var = gchol_inverse(ch) * outer(scale, scale), singular = ch$d == 0,
       loglik = c(first$loglik, current$loglik), score = sum(first$score * score0),
       iter = iter, converged = converged)
}

# ---------------------------------------------------------------------------------------------
# Partitions: resident data on cluster workers (or in this process) and the message exchange
# ---------------------------------------------------------------------------------------------

#' Load data partitions onto the workers of a cluster
#'
#' Each source (a data frame, or the path of an `.rds` or `.csv` file that is read ON the
#' worker) is loaded once onto a worker of `cl` (round robin) and stays resident there in a
#' per-worker store; the partitioned fits then send only sums and coefficients. With
#' `cl = NULL` the partitions stay in this R process (same protocol, no cluster), which is
#' what a site exchanging files would do by hand.
#'
#' @param sources A list of data frames and/or file paths, one per partition; its names label
#'   the partitions in messages and results.
#' @param cl A cluster from `parallel::makeCluster()` or `parallelly::makeClusterPSOCK()`, or
#'   `NULL`.
#' @param timeout Seconds to wait for the workers' answers (loading rwecohort and the data)
#'   before giving up with an error of class `rwe_worker_timeout` that names the worker;
#'   default the option `rwecohort.worker_timeout`, else 600. The partitioned verbs take their
#'   own `timeout`.
#' @return An object of class `rwe_partitions`.
#' @examples
#' lung <- survival::lung
#' parts <- cohort_partitions(split(lung, lung$inst %% 3))
#' parts
#' @export
cohort_partitions <- function(sources, cl = NULL,
                              timeout = getOption("rwecohort.worker_timeout", 600)) {
  timeout <- check_timeout(timeout)
  if (is.data.frame(sources) || !is.list(sources) || !length(sources)) {
    cli::cli_abort("{.arg sources} must be a non-empty list of data frames or file paths.",
                   class = "rwe_bad_input")
  }
  ok <- vapply(sources, function(s) is.data.frame(s) || (is.character(s) && length(s) == 1L), logical(1))
  labels <- partition_labels(sources)
  if (!all(ok)) {
    cli::cli_abort("{.arg sources}: partition {.val {labels[!ok][1L]}} is neither a data frame nor a file path.",
                   class = "rwe_bad_input")
  }
  if (!is.null(cl) && !inherits(cl, "cluster")) {
    cli::cli_abort("{.arg cl} must be a cluster from {.fn parallel::makeCluster} or {.fn parallelly::makeClusterPSOCK}, or NULL.",
                   class = "rwe_bad_input")
  }
  keys <- paste0(new_id("part"), "_", seq_along(sources))
  parts <- structure(list(cluster = cl, labels = labels, keys = keys,
                          node = if (is.null(cl)) rep(0L, length(sources)) else (seq_along(sources) - 1L) %% length(cl) + 1L,
                          pids = NULL, store = if (is.null(cl)) new.env(parent = emptyenv()),
                          timeout = timeout, health = new.env(parent = emptyenv())),
                     class = "rwe_partitions")
  if (!is.null(cl)) parts$pids <- worker_setup(cl, timeout)
  loaded <- partition_exchange(parts, "load", lapply(sources, function(s) list(source = s)))
  parts$nrow <- vapply(loaded$results, `[[`, integer(1), "nrow")
  parts$load_bytes <- sum(loaded$sent)
  parts
}

#' @export
print.rwe_partitions <- function(x, ...) {
  where <- if (is.null(x$cluster)) "this R process" else
    paste0(length(x$cluster), " cluster worker", if (length(x$cluster) > 1L) "s")
  cat("<rwe_partitions> ", length(x$keys), " partitions resident on ", where, "\n", sep = "")
  print(data.frame(partition = x$labels, worker = x$node, rows = x$nrow), row.names = FALSE)
  invisible(x)
}

# Loads rwecohort on the workers (the installed package, or this source tree when it was
# loaded with pkgload) and returns their process ids for error messages.
worker_setup <- function(cl, timeout) {
  path <- getNamespaceInfo(asNamespace("rwecohort"), "path")
  dev <- file.exists(file.path(path, "R", "partition.R"))
  setup <- remote_function(function(a) {
    path <- a$path
    dev <- a$dev
    libs <- a$libs
    .libPaths(unique(c(libs, .libPaths())))
    # loaded already (an earlier cohort_partitions()): reloading would drop resident data
    if (isNamespaceLoaded("rwecohort")) return(Sys.getpid())
    if (dev) {
      load_all <- getExportedValue("pkgload", "load_all")
      suppressMessages(load_all(path, compile = FALSE, quiet = TRUE, helpers = FALSE,
                                attach_testthat = FALSE))
    } else {
      loadNamespace("rwecohort", lib.loc = dirname(path))
    }
    Sys.getpid()
  })
  nodes <- seq_along(cl)
  round <- cluster_round(cl, nodes, setup, rep(list(list(path = path, dev = dev, libs = .libPaths())),
                                               length(cl)), timeout)
  if (length(round$errors)) {
    cli::cli_abort(c("Could not load rwecohort on cluster worker{?s} {names(round$errors)}.",
                     "x" = paste(unique(unlist(round$errors)), collapse = "; ")),
                   class = "rwe_worker_error", call = NULL)
  }
  if (length(round$late)) {
    cli::cli_abort("Cluster worker{?s} {round$late} did not answer within {timeout} second{?s} (loading rwecohort).",
                   class = c("rwe_worker_timeout", "rwe_worker_error"), call = NULL)
  }
  unlist(round$values)
}

# Unique labels for partitions and fits without touching the user's random-number stream.
id_counter <- new.env(parent = emptyenv())
new_id <- function(prefix) {
  id_counter$n <- (id_counter$n %||% 0) + 1
  paste0(prefix, Sys.getpid(), "_", format(Sys.time(), "%H%M%OS6"), "_", id_counter$n)
}

# Functions sent to workers must not drag this frame's variables along.
remote_function <- function(f) {
  environment(f) <- globalenv()
  f
}

# Sends `what` with args[[k]] to every partition k and collects one result per partition.
# Bytes are the serialized sizes of exactly what crosses (arguments out, results back).
partition_exchange <- function(parts, what, args) {
  sent <- vapply(args, function(a) as.double(length(serialize(a, NULL))), numeric(1))
  results <- if (is.null(parts$cluster)) {
    lapply(seq_along(args), function(k) {
      msg <- unserialize(serialize(list(keys = parts$keys[k], what = what, args = args[k]), NULL))
      unserialize(serialize(site_dispatch(msg, parts$store), NULL))[[1L]]
    })
  } else {
    cluster_exchange(parts, what, args)
  }
  for (k in seq_along(results)) {
    if (inherits(results[[k]], "rwe_site_error")) {
      cli::cli_abort(c("Partition {.val {parts$labels[k]}} refused or failed ({what}).",
                       "x" = results[[k]]$message),
                     class = c(results[[k]]$class, "rwe_site_failure"), call = NULL)
    }
  }
  received <- vapply(results, function(r) as.double(length(serialize(r, NULL))), numeric(1))
  list(results = results, sent = sent, received = received)
}

# One message per worker with the requests for its partitions; all workers compute at once.
# A worker that does not answer (dead process, broken connection) is named in the error; one
# that does not answer within `parts$timeout` seconds (frozen, swapping, unreachable) too.
cluster_exchange <- function(parts, what, args) {
  cl <- parts$cluster
  entry <- remote_function(function(msg) asNamespace("rwecohort")$site_dispatch(msg))
  jobs <- split(seq_along(args), factor(parts$node, levels = seq_along(cl)))
  active <- which(lengths(jobs) > 0L)
  # cleaning up after a fit must not wait again for a worker that has just timed out
  if (identical(what, "drop")) active <- setdiff(active, unresponsive_nodes(parts))
  node_args <- lapply(seq_along(cl), function(j) {
    list(keys = parts$keys[jobs[[j]]], what = what, args = args[jobs[[j]]])
  })
  timeout <- parts$timeout %||% getOption("rwecohort.worker_timeout", 600)
  round <- cluster_round(cl, active, entry, node_args, timeout)
  set_unresponsive(parts, round$late, active)
  if (length(round$errors)) abort_worker(parts, as.integer(names(round$errors)), unlist(round$errors))
  if (length(round$late)) abort_worker_timeout(parts, round$late, timeout, what)
  results <- vector("list", length(args))
  for (j in active) results[jobs[[j]]] <- round$values[[j]]
  results
}

# Sends fun(node_args[[j]]) to every node j of `nodes` and waits, at most `timeout` seconds in
# all, for the replies. Replies carry the round's id: a late reply to an earlier round that
# timed out (a worker that was frozen and resumed) is recognised and dropped, so the
# connection stays usable. Returns the values (by node), error messages and the late nodes.
cluster_round <- function(cl, nodes, fun, node_args, timeout) {
  send_call <- utils::getFromNamespace("sendCall", "parallel")
  recv_result <- utils::getFromNamespace("recvResult", "parallel")
  id <- new_id("round")
  tagged <- remote_function(function(id, fun, arg) list(id = id, value = fun(arg)))
  errors <- list()
  for (j in nodes) {
    err <- tryCatch({ send_call(cl[[j]], tagged, list(id, fun, node_args[[j]])); NULL },
                    error = function(e) conditionMessage(e))
    if (!is.null(err)) errors[[as.character(j)]] <- err
  }
  values <- vector("list", length(cl))
  pending <- setdiff(nodes, as.integer(names(errors)))
  deadline <- elapsed_seconds() + timeout
  while (length(pending)) {
    left <- deadline - elapsed_seconds()
    ready <- ready_nodes(cl, pending, max(0, left))
    if (!length(ready) && left <= 0) break
    for (j in ready) {
      reply <- tryCatch(recv_result(cl[[j]]), error = function(e) e)
      if (inherits(reply, "error") || inherits(reply, "try-error")) {
        errors[[as.character(j)]] <- if (inherits(reply, "error")) conditionMessage(reply) else as.character(reply)
      } else if (!identical(reply$id, id)) {
        next  # stale reply of an earlier round
      } else {
        values[[j]] <- reply$value
      }
      pending <- setdiff(pending, j)
    }
  }
  list(values = values, errors = errors, late = pending)
}

elapsed_seconds <- function() proc.time()[["elapsed"]]

# The nodes whose reply can be read now, waiting at most `wait` seconds (in slices of at most
# a second, so that an interrupt is honoured). A node without a socket connection cannot be
# watched: it is read (blocking) as parallel would.
ready_nodes <- function(cl, nodes, wait) {
  cons <- lapply(nodes, function(j) cl[[j]]$con)
  if (!all(vapply(cons, inherits, logical(1), "sockconn"))) return(nodes)
  nodes[socketSelect(cons, write = FALSE, timeout = min(wait, 1))]
}

unresponsive_nodes <- function(parts) {
  if (is.null(parts$health)) integer() else as.integer(parts$health$late %||% integer())
}

set_unresponsive <- function(parts, late, asked) {
  if (is.null(parts$health)) return(invisible())
  parts$health$late <- union(setdiff(unresponsive_nodes(parts), asked), late)
  invisible()
}

worker_label <- function(parts, nodes) {
  paste0("worker ", nodes, if (!is.null(parts$pids)) paste0(" (pid ", parts$pids[nodes], ")"),
         " holding partition", ifelse(lengths(split(parts$node, parts$node)[as.character(nodes)]) > 1L, "s ", " "),
         vapply(nodes, function(j) paste(parts$labels[parts$node == j], collapse = ", "), character(1)))
}

abort_worker <- function(parts, nodes, messages) {
  who <- worker_label(parts, nodes)
  cli::cli_abort(c("Cluster {who} did not answer: it has died or lost its connection.",
                   "x" = paste(unique(messages), collapse = "; "),
                   "i" = "The data on that worker are lost; start a new cluster and call {.fn cohort_partitions} again."),
                 class = "rwe_worker_error", call = NULL)
}

abort_worker_timeout <- function(parts, nodes, timeout, what) {
  who <- worker_label(parts, nodes)
  cli::cli_abort(c("Cluster {who} did not answer within {timeout} second{?s} ({what}).",
                   "x" = "It may be frozen (stopped, swapping) or unreachable.",
                   "i" = "Raise {.arg timeout} (option {.code rwecohort.worker_timeout}) for slow workers, or restart the cluster and call {.fn cohort_partitions} again."),
                 class = c("rwe_worker_timeout", "rwe_worker_error"), call = NULL)
}

# Runs on the site (worker or this process): one handler call per partition of the message;
# failures come back as data (with their condition class), never as a remote crash.
site_dispatch <- function(msg, store = site_store) {
  lapply(seq_along(msg$keys), function(i) {
    key <- msg$keys[i]
    tryCatch({
      if (msg$what == "load") {
        store[[key]] <- site_load(msg$args[[i]]$source)
        return(list(nrow = nrow(store[[key]]$data)))
      }
      entry <- store[[key]]
      if (is.null(entry)) stop("partition ", key, " is not loaded on this worker")
      site_handlers[[msg$what]](entry, msg$args[[i]])
    }, error = function(e) {
      structure(list(message = conditionMessage(e),
                     class = setdiff(class(e), c("error", "condition", "rlang_error"))),
                class = "rwe_site_error")
    })
  })
}

site_load <- function(source) {
  data <- if (is.data.frame(source)) source else if (grepl("\\.rds$", source, ignore.case = TRUE)) {
    readRDS(source)
  } else if (grepl("\\.csv$", source, ignore.case = TRUE)) {
    utils::read.csv(source, stringsAsFactors = FALSE)
  } else {
    stop("source ", source, " is neither an .rds nor a .csv file")
  }
  if (!is.data.frame(data)) stop("source did not hold a data frame")
  entry <- new.env(parent = emptyenv())
  entry$data <- data
  entry$fits <- list()
  entry
}

# What a site can be asked to do. Each handler gets the partition's entry (its data and the
# state of running fits) and the request's arguments; it returns aggregates only.
site_handlers <- list(
  describe = function(entry, args) site_describe(entry$data, args$formula, args$weights),
  cox_setup = function(entry, args) {
    parts <- cox_site_frame(entry$data, args$spec)
    entry$fits[[args$fit]] <- list(parts = parts)
    cox_setup_from_frame(parts, distinct = !isFALSE(args$timefix))
  },
  cox_design = function(entry, args) {
    grid <- args$grid
    parts <- site_apply_timefix(entry$fits[[args$fit]]$parts, grid$timefix, args$label)
    if (args$by_site && !is.null(parts)) {
      own <- cox_setup_from_frame(parts)
      local <- build_grid(list(own$strata), list(own$event_times))
      grid[names(local)] <- local
    }
    design <- cox_site_design(parts, grid, if (!args$by_site) args$min_cell, args$label)
    entry$fits[[args$fit]] <- list(design = design, ngrid = length(grid$time),
                                   p = length(grid$columns))
    # sum w |x - centre| per column: the coordinator's scales (as coxph's)
    list(ngrid = length(grid$time),
         deviation = if (is.null(design)) numeric(length(grid$columns)) else
           colSums(abs(design$x) * design$weights))
  },
  cox_sums = function(entry, args) {
    fit <- entry$fits[[args$fit]]
    cox_design_round1(fit$design, args$beta, fit$ngrid, fit$p)
  },
  cox_info = function(entry, args) {
    fit <- entry$fits[[args$fit]]
    cox_design_round2(fit$design, args$beta, args$request, fit$p)
  },
  cox_local = function(entry, args) {
    fit <- entry$fits[[args$fit]]
    p <- fit$p
    if (is.null(fit$design) || !any(fit$design$status > 0)) {
      return(list(loglik = 0, score = numeric(p), imat = matrix(0, p, p)))
    }
    r1 <- cox_pooled_terms(unclass(cox_design_round1(fit$design, args$beta, fit$ngrid, p)), args$ties)
    info <- cox_design_round2(fit$design, args$beta, r1$request, p)$info
    list(loglik = r1$loglik, score = r1$score, imat = info - r1$aat)
  },
  km_setup = function(entry, args) {
    parts <- site_frame(entry$data, args$spec)
    entry$fits[[args$fit]] <- list(parts = parts)
    counts_setup(parts, args$groups, args$all_times)
  },
  counts = function(entry, args) {
    counts_site(entry$fits[[args$fit]]$parts, args$grid, args$group_keys, args$groups,
                args$min_cell, args$label)
  },
  drop = function(entry, args) {
    entry$fits[[args$fit]] <- NULL
    TRUE
  }
)

# Traffic bookkeeping of one fit: bytes out and back per round.
traffic_recorder <- function() {
  rows <- list()
  evaluation <- 0L
  list(
    add = function(round, exchange) {
      if (round %in% c("sums", "local")) evaluation <<- evaluation + 1L
      rows[[length(rows) + 1L]] <<- data.frame(
        evaluation = if (round %in% c("sums", "local", "information")) evaluation else 0L,
        round = round, bytes_sent = sum(exchange$sent), bytes_received = sum(exchange$received))
    },
    table = function() do.call(rbind, rows)
  )
}

check_partitions <- function(partitions, call = rlang::caller_env()) {
  if (!inherits(partitions, "rwe_partitions")) {
    cli::cli_abort("{.arg partitions} must come from {.fn cohort_partitions}.",
                   call = call, class = "rwe_bad_input")
  }
}

# describe -> spec, shared by the three partitioned verbs.
partitioned_spec <- function(formula, partitions, weights, traffic) {
  formula_variables(formula, weights, call = rlang::caller_env())
  environment(formula) <- asNamespace("rwecohort")
  k <- length(partitions$keys)
  ex <- partition_exchange(partitions, "describe",
                           rep(list(list(formula = formula, weights = weights)), k))
  traffic$add("describe", ex)
  spec <- partition_spec(stats::setNames(ex$results, partitions$labels), formula, weights)
  spec
}

drop_fit <- function(partitions, fit) {
  try(partition_exchange(partitions, "drop", rep(list(list(fit = fit)), length(partitions$keys))),
      silent = TRUE)
}

# ---------------------------------------------------------------------------------------------
# Cox: the partitioned verb
# ---------------------------------------------------------------------------------------------

#' Cox model over partitioned data, equal to the pooled fit
#'
#' Fits the Cox proportional-hazards model to data that stay partitioned (on cluster workers,
#' see [cohort_partitions()]). Only column descriptions, distinct event times, per-event-time
#' sums and the coefficients cross; the result is the fit of the pooled data up to
#' floating-point summation order: Newton-Raphson as `survival::coxph()` (start at 0, step
#' halving, convergence on the relative change of the log partial likelihood, covariates
#' scaled by their mean absolute deviation for the rank decisions of the Cholesky factor).
#' Covariate values so large that the sums overflow are refused (`rwe_bad_input`).
#'
#' Per iteration, round 1 sends beta (p numbers) to every partition and receives O(T p) sums
#' (T = number of distinct event times); round 2 sends 2T numbers and receives one p x p
#' matrix. `traffic` records the serialized bytes of every round.
#'
#' Privacy: with `min_cell = NULL` (default) the fit is exact, and a partition whose risk set
#' at some event time holds a single subject discloses that subject's covariates through its
#' sums. With `control$timefix` (default) every partition also sends its distinct times
#' (censoring and start times too): the near-tie merge of the pooled fit depends on all of
#' them. With `min_cell = k`, a partition refuses (error of class `rwe_min_cell`) when at any
#' grid time 1 to k - 1 of its subjects are at risk: the fit is then refused, not approximated.
#' `stratify_by_site = TRUE` fits `strata(site)`: each partition sends only its log-likelihood,
#' score and information (no per-time sums); `min_cell` does not apply there.
#'
#' @param formula A formula with a `Surv()` response (right-censored or counting process) and
#'   optional `strata()` terms; every variable must be a column of every partition.
#' @param partitions An [cohort_partitions()] object.
#' @param ties `"efron"` (default) or `"breslow"`.
#' @param weights `NULL` or the name of a column of case weights.
#' @param control `survival::coxph.control()` settings (`eps`, `iter.max`, `toler.chol`).
#' @param robust `NULL` (default) or `FALSE`: the variance is the model-based one. With
#'   non-integer case weights `survival::coxph()` reports a robust (sandwich) variance, which
#'   is not computed over partitions: `NULL` then refuses the fit (`rwe_bad_input`), and
#'   `robust = FALSE` asks for the model-based variance (as `coxph(..., robust = FALSE)`).
#'   `TRUE` is refused.
#' @param stratify_by_site Stratify the baseline hazard by partition.
#' @param min_cell `NULL` or a minimum number of subjects at risk (see Privacy).
#' @param timeout Seconds to wait for each exchange with the cluster workers before giving up
#'   with an error of class `rwe_worker_timeout` naming the worker that did not answer (a
#'   frozen or unreachable worker would otherwise hang the fit forever). Default: the option
#'   `rwecohort.worker_timeout`, else 600. Not used for partitions in this R process.
#' @return An object of class `rwe_partitioned_cox`: `coefficients`, `var`, `loglik` (at 0 and
#'   at the estimate), `score` (score test), `iter`, `n`, `nevent`, `means` (the centre),
#'   `traffic` (a data frame of bytes per round) and `traffic_per_iteration`.
#' @examples
#' lung <- survival::lung
#' parts <- cohort_partitions(split(lung, lung$inst %% 3))
#' fit <- partitioned_cox_fit(survival::Surv(time, status) ~ age + sex, parts)
#' fit
#' @export
partitioned_cox_fit <- function(formula, partitions, ties = c("efron", "breslow"), weights = NULL,
                                control = survival::coxph.control(), robust = NULL,
                                stratify_by_site = FALSE, min_cell = NULL,
                                timeout = getOption("rwecohort.worker_timeout", 600)) {
  ties <- as_bad_input(rlang::arg_match(ties))
  check_partitions(partitions)
  partitions$timeout <- check_timeout(timeout)
  check_min_cell_arg(min_cell)
  check_part_flag(stratify_by_site)
  control <- check_partition_control(control)
  check_partition_robust(robust, list(), weights)  # the value; fractional weights: below
  traffic <- traffic_recorder()
  spec <- partitioned_spec(formula, partitions, weights, traffic)
  fit_id <- new_id("fit")
  on.exit(drop_fit(partitions, fit_id), add = TRUE)
  k <- length(partitions$keys)
  timefix <- !isFALSE(control$timefix)
  ex <- partition_exchange(partitions, "cox_setup",
                           rep(list(list(spec = spec, fit = fit_id, timefix = timefix)), k))
  traffic$add("setup", ex)
  check_partition_robust(robust, ex$results, weights)
  grid <- cox_grid(stats::setNames(ex$results, partitions$labels), spec, timefix)
  sent_grid <- grid
  if (stratify_by_site) sent_grid[c("time", "stratum")] <- list(numeric(), integer())
  ex <- partition_exchange(partitions, "cox_design", lapply(seq_len(k), function(j) {
    list(grid = sent_grid, fit = fit_id, min_cell = min_cell, label = partitions$labels[j],
         by_site = stratify_by_site)
  }))
  traffic$add("grid", ex)
  deviation <- Reduce(`+`, lapply(ex$results, `[[`, "deviation"))
  scale <- ifelse(grid$doscale & deviation > 0, grid$sum_w / deviation, 1)
  ask <- function(what, args, round) {
    ex <- partition_exchange(partitions, what, rep(list(c(list(fit = fit_id), args)), k))
    traffic$add(round, ex)
    ex$results
  }
  if (stratify_by_site) {
    sums <- function(beta) {
      res <- ask("cox_local", list(beta = beta, ties = ties), "local")
      structure(list(loglik = sum(vapply(res, `[[`, numeric(1), "loglik")),
                     score = Reduce(`+`, lapply(res, `[[`, "score")),
                     imat = Reduce(`+`, lapply(res, `[[`, "imat"))), class = "rwe_cox_round")
    }
    info <- function(beta, r1) r1
  } else {
    sums <- function(beta) cox_combine(ask("cox_sums", list(beta = beta), "sums"), grid, ties)
    info <- function(beta, r1) {
      cox_combine(ask("cox_info", list(beta = beta, request = r1$request), "information"),
                  grid, ties, first = r1)
    }
  }
  checked <- function(beta, r1) check_cox_round(info(beta, r1), grid$columns)
  nr <- cox_newton(sums, checked, rep(0, length(grid$columns)), control, scale)
  new_rwe_partitioned_cox(nr, grid, traffic$table(), ties, partitions, match.call(), stratify_by_site)
}

# coxph.control() or cox_control() settings; only eps, iter.max, toler.chol and timefix are used.
# Sums that overflow (covariates near the largest double) would give NaN: refuse, naming them.
check_cox_round <- function(round, columns) {
  d <- diag(round$imat)
  if (!is.finite(round$loglik) || !all(is.finite(round$score)) || !all(is.finite(round$imat))) {
    bad <- columns[!is.finite(d) | !is.finite(round$score)]
    cli::cli_abort(c("{.arg formula}: the partitioned sums overflow{if (length(bad)) ' for covariate'}{?s} {.field {bad}}.",
                     "i" = "Rescale the covariates (e.g. to other units) or check them for huge values."),
                   class = "rwe_bad_input", call = NULL)
  }
  round
}

check_partition_control <- function(control, call = rlang::caller_env()) {
  if (!is.list(control)) abort_part_arg("control", paste0("must be a list from coxph.control() or cox_control(), not ", obj_label(control)), call)
  control <- utils::modifyList(survival::coxph.control(), control)
  for (v in c("eps", "toler.chol")) check_control_number(control[[v]], paste0("control$", v), call)
  it <- control$iter.max
  if (!is.numeric(it) || length(it) != 1L || is.na(it) || it < 0) {
    abort_part_arg("control$iter.max", paste0("must be a single non-negative number, not ", obj_label(it)), call)
  }
  check_part_flag(control$timefix, "control$timefix", call)
  control
}

check_counts_site_args <- function(spec, grid, min_cell, site, call = rlang::caller_env()) {
  if (!inherits(spec, "rwe_partition_spec")) abort_part_arg("spec", "must come from partition_spec()", call)
  if (!is.null(grid)) check_grid_shape(grid, "rwe_counts_grid", call)
  check_min_cell_arg(min_cell, call)
  check_site_label(site, "site", call)
}

check_min_cell_arg <- function(min_cell, call = rlang::caller_env()) {
  if (!is.null(min_cell) && !(is.numeric(min_cell) && length(min_cell) == 1L &&
                              is.finite(min_cell) && min_cell >= 1 && min_cell == round(min_cell))) {
    cli::cli_abort("{.arg min_cell} must be NULL or a single integer >= 1.", call = call,
                   class = "rwe_bad_input")
  }
}

new_rwe_partitioned_cox <- function(nr, grid, traffic, ties, partitions, call, by_site) {
  columns <- grid$columns
  coefficients <- stats::setNames(nr$coefficients, columns)
  coefficients[nr$singular] <- NA
  var <- matrix(nr$var, length(columns), length(columns), dimnames = list(columns, columns))
  if (!nr$converged && nr$iter > 0L) {
    cli::cli_warn("Ran out of iterations ({nr$iter}) without convergence.")
  }
  per_iteration <- stats::aggregate(cbind(bytes_sent, bytes_received) ~ evaluation,
                                    data = traffic[traffic$evaluation > 0L, ], FUN = sum)
  structure(list(coefficients = coefficients, var = var, loglik = nr$loglik, score = nr$score,
                 iter = nr$iter, converged = nr$converged, n = grid$n, nevent = grid$nevent,
                 means = stats::setNames(grid$centre, columns), ties = ties,
                 stratify_by_site = by_site, n_event_times = length(grid$time),
                 partitions = partitions$labels, traffic = traffic,
                 traffic_per_iteration = per_iteration, call = call),
            class = "rwe_partitioned_cox")
}

#' @export
print.rwe_partitioned_cox <- function(x, digits = 4, ...) {
  cat("<rwe_partitioned_cox> ", length(x$partitions), " partitions, n = ", x$n, ", events = ",
      x$nevent, ", ", x$ties, " ties, ", x$iter, " iterations\n", sep = "")
  print(tidy(x), digits = digits, row.names = FALSE)
  per <- x$traffic_per_iteration
  cat("log partial likelihood: ", format(x$loglik[2L], digits = 10), "\n", sep = "")
  cat("traffic per iteration: ", format(mean(per$bytes_sent), big.mark = ","), " bytes sent, ",
      format(mean(per$bytes_received), big.mark = ","), " received (mean)\n", sep = "")
  invisible(x)
}

#' @method tidy rwe_partitioned_cox
#' @export
tidy.rwe_partitioned_cox <- function(x, conf.level = 0.95, exponentiate = FALSE, ...) {
  check_conf_level(conf.level)
  check_part_flag(exponentiate)
  se <- sqrt(diag(x$var))
  z <- stats::qnorm(1 - (1 - conf.level) / 2)
  est <- x$coefficients
  out <- data.frame(term = names(est), estimate = est, std.error = se, statistic = est / se,
                    p.value = 2 * stats::pnorm(-abs(est / se)), conf.low = est - z * se,
                    conf.high = est + z * se, row.names = NULL)
  if (exponentiate) out[c("estimate", "conf.low", "conf.high")] <- exp(out[c("estimate", "conf.low", "conf.high")])
  out
}

#' @method glance rwe_partitioned_cox
#' @export
glance.rwe_partitioned_cox <- function(x, ...) {
  data.frame(n = x$n, nevent = x$nevent, partitions = length(x$partitions),
             logLik = x$loglik[2L], statistic.log = 2 * diff(x$loglik),
             statistic.sc = x$score, iter = x$iter, converged = x$converged)
}

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

# ---------------------------------------------------------------------------------------------
# Argument checks of the exported partition functions: whatever a user (or a file exchanged
# by hand) hands over is checked here, so that the C++ kernels only ever see consistent
# lengths, positions and codes.
# ---------------------------------------------------------------------------------------------

abort_part_arg <- function(arg, problem, call) {
  cli::cli_abort("{.arg {arg}} {problem}.", call = call, class = "rwe_bad_input")
}

# coxph turns to the robust variance when some case weight is not an integer; over partitions
# only the model-based variance is computed, so that case needs an explicit robust = FALSE.
check_partition_robust <- function(robust, setups, weights, call = rlang::caller_env()) {
  if (isTRUE(robust)) {
    abort_part_arg("robust", "= TRUE: the robust variance is not implemented over partitions; use `robust = FALSE` (model-based)", call)
  }
  if (!is.null(robust) && !isFALSE(robust)) abort_part_arg("robust", "must be NULL or FALSE", call)
  fractional <- any(vapply(setups, function(s) isTRUE(s$fractional), logical(1)))
  if (is.null(robust) && fractional) {
    cli::cli_abort(c("{.arg weights}: some case weights in column {.val {weights}} are not integers.",
                     "x" = "{.fn survival::coxph} would then report a robust (sandwich) variance, which {.fn partitioned_cox_fit} does not compute.",
                     "i" = "Use {.code robust = FALSE} for the model-based variance ({.code coxph(..., robust = FALSE)})."),
                   call = call, class = "rwe_bad_input")
  }
  invisible(TRUE)
}

check_part_flag <- function(x, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  if (!is.logical(x) || length(x) != 1L || is.na(x)) {
    abort_part_arg(arg, paste0("must be TRUE or FALSE, not ", obj_label(x)), call)
  }
  invisible(x)
}

check_timeout <- function(x, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  if (!is.numeric(x) || length(x) != 1L || is.na(x) || x <= 0) {
    abort_part_arg(arg, paste0("must be a single positive number of seconds, not ", obj_label(x)), call)
  }
  invisible(as.double(x))
}

check_site_label <- function(x, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  if (!is.character(x) || length(x) != 1L || is.na(x)) {
    abort_part_arg(arg, paste0("must be a single string, not ", obj_label(x)), call)
  }
  invisible(x)
}

# A short description of a bad value for messages: NULL, a type, or the (first) values.
obj_label <- function(x) {
  if (is.null(x)) return("NULL")
  if (!is.atomic(x)) return(paste0("a ", class(x)[1L]))
  if (!length(x)) return(paste0("an empty ", typeof(x), " vector"))
  paste0(typeof(x), " ", format_offenders(format(x, digits = 4)))
}

check_setups <- function(setups, class, call = rlang::caller_env()) {
  ok <- is.list(setups) && !is.data.frame(setups) && length(setups) > 0L &&
    all(vapply(setups, inherits, logical(1), class))
  if (!ok) abort_part_arg("setups", paste0("must be a non-empty list of the sites' <", class, "> answers"), call)
}

# The parts of a grid that decide memory positions: finite sorted times in stratum blocks
# whose bounds run from 0 to the number of grid times.
check_grid_shape <- function(grid, class, call) {
  if (!inherits(grid, class)) {
    abort_part_arg("grid", paste0("must be the <", class, "> object from the coordinator"), call)
  }
  time <- grid$time
  bounds <- grid$bounds
  ok <- is.double(time) && all(is.finite(time)) && is.integer(bounds) && length(bounds) >= 1L &&
    !anyNA(bounds) && bounds[1L] == 0L && bounds[length(bounds)] == length(time) &&
    all(diff(bounds) >= 0L) && length(grid$keys) == length(bounds) - 1L &&
    identical(grid$stratum, rep(seq_along(grid$keys), diff(bounds)))
  if (ok && length(time) > 1L) {
    same_block <- diff(grid$stratum) == 0L
    ok <- all(diff(time)[same_block] > 0)
  }
  if (!ok) abort_part_arg("grid", "is damaged: its times and stratum bounds do not agree", call)
  map <- grid$timefix
  if (!is.null(map) && !(is.double(map$from) && is.double(map$to) &&
                         length(map$from) == length(map$to) && all(is.finite(c(map$from, map$to))))) {
    abort_part_arg("grid", "is damaged: its near-tie map is not two finite vectors of one length", call)
  }
  invisible(grid)
}

check_finite_vector <- function(x, len, arg, call) {
  if (!is.numeric(x) || length(x) != len || !all(is.finite(x))) {
    bad <- if (is.numeric(x) && length(x) == len) paste0(" (not finite at position ", format_offenders(which(!is.finite(x))), ")") else ""
    abort_part_arg(arg, paste0("must be ", len, " finite number", if (len != 1L) "s", ", not ", obj_label(x), bad), call)
  }
  invisible(x)
}

check_cox_request <- function(request, ngrid, call) {
  if (is.null(request)) return(invisible(NULL))
  if (!is.list(request) || is.null(request$alpha) || is.null(request$efron_b)) {
    abort_part_arg("request", "must be the `request` element of a round-1 cox_combine()", call)
  }
  check_finite_vector(request$alpha, ngrid, "request$alpha", call)
  check_finite_vector(request$efron_b, ngrid, "request$efron_b", call)
}

# Each site's round-1 sums must have the grid's shape (T grid times, p columns).
check_cox_sums <- function(stats, ngrid, p, call) {
  for (k in seq_along(stats)) {
    s <- stats[[k]]
    shape <- c(s0 = ngrid, d0 = ngrid, dead_weight = ngrid, dead_count = ngrid,
               dead_wx = p, dead_weta = 1L)
    ok <- all(vapply(names(shape), function(v) is.numeric(s[[v]]) && length(s[[v]]) == shape[[v]],
                     logical(1))) &&
      all(vapply(c("s1", "d1"), function(v) is.matrix(s[[v]]) && identical(dim(s[[v]]), c(as.integer(ngrid), as.integer(p))),
                 logical(1)))
    if (!ok) abort_part_arg("stats", paste0("element ", k, " does not have the grid's shape (", ngrid, " times, ", p, " columns)"), call)
  }
}

check_counts_stats <- function(stats, grid, call) {
  shape <- c(length(grid$time), max(1L, length(grid$group_keys)))
  if (!is.list(stats) || !length(stats)) abort_part_arg("stats", "must be a non-empty list of the sites' counts", call)
  needed <- c("n_risk", "n_event", "n_censor")
  if (isTRUE(grid$robust)) needed <- c(needed, paste0(needed, "_w2"))
  for (k in seq_along(stats)) {
    ok <- all(vapply(needed, function(v) {
      m <- stats[[k]][[v]]
      is.matrix(m) && is.numeric(m) && all(dim(m) == shape) && all(is.finite(m))
    }, logical(1)))
    if (!ok) abort_part_arg("stats", paste0("element ", k, " does not hold counts of the grid's shape (", shape[1L], " x ", shape[2L], ")"), call)
  }
}
