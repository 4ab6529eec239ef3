# Partitioned Cox: site-side design and sums, coordinator-side pooling and Newton, the verb.

# ---------------------------------------------------------------------------------------------
# Cox: site side
# ---------------------------------------------------------------------------------------------

# Model frame + design matrix (no intercept) of a site; NULL for an empty partition.
cox_site_frame <- function(data, spec) {
  if (inherits(spec, "rwe_partition_spec")) check_partition_single_levels(spec$formula, spec$levels)
  parts <- site_frame(data, spec)
  if (is.null(parts)) return(NULL)
  x <- stats::model.matrix(parts$terms, parts$frame)
  keep <- colnames(x) != "(Intercept)"
  # column -> term map and factor levels: metadata the coordinator needs for the result's
  # `assign` and `xlevels` (predict(newdata = ...)), as cox_fit() keeps them
  parts$assign <- attr(x, "assign")[keep]
  parts$xlevels <- stats::.getXlevels(parts$terms, parts$frame)
  x <- x[, keep, drop = FALSE]
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
  by_stratum <- factor(keys[parts$strata], levels = keys)
  structure(list(n = parts$n, nevent = sum(dead), columns = colnames(parts$x), zero_one = zero_one,
                 sum_wx = colSums(parts$weights * parts$x), sum_w = sum(parts$weights),
                 sum_x = colSums(parts$x), sum_offset = sum(parts$offset),
                 counting = parts$counting, assign = parts$assign, xlevels = parts$xlevels,
                 strata_sum_wx = rowsum(parts$weights * parts$x, by_stratum, reorder = FALSE),
                 strata_sum_w = rowsum(parts$weights, by_stratum, reorder = FALSE)[, 1L],
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
  check_flag(timefix)
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
  grid$sum_w <- sum_w
  grid$doscale <- !Reduce(`&`, lapply(setups[used], function(s) s$zero_one %||% rep(FALSE, length(columns))))
  grid$columns <- columns
  grid$spec <- spec
  grid$n <- sum(vapply(setups, function(s) as.double(s$n), numeric(1)))
  grid$nevent <- sum(vapply(setups, `[[`, numeric(1), "nevent"))
  grid$counting <- any(vapply(setups[used], function(s) isTRUE(s$counting), logical(1)))
  grid$centre <- pooled_centre(setups[used], grid)
  grid$offset_mean <- sum(vapply(setups[used], function(s) s$sum_offset %||% 0, numeric(1))) / grid$n
  structure(grid, class = "rwe_cox_grid")
}

# The centre of the pooled fit (cox_engine()): weighted means for right-censored data, plain
# means for counting-process data, 0 for columns coded -1/0/1 (those are not centred).
pooled_centre <- function(setups, grid) {
  centre <- if (grid$counting) {
    Reduce(`+`, lapply(setups, function(s) s$sum_x %||% s$sum_wx)) / grid$n
  } else {
    Reduce(`+`, lapply(setups, `[[`, "sum_wx")) / grid$sum_w
  }
  centre[!grid$doscale] <- 0
  centre
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
  check_string(site)
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
  ties <- check_ties(ties)
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
    first$imat <- partition_information_cpp(Reduce(`+`, lapply(stats, `[[`, "info")), first$aat)
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

# Log partial likelihood, score, the round-2 request and the sum of m a a' from pooled sums,
# with the single-machine kernel's tie handling (src/ties.h, through partition_cox_terms_cpp).
cox_pooled_terms <- function(pooled, ties) {
  p <- length(pooled$dead_wx)
  ngrid <- length(pooled$s0)
  terms <- partition_cox_terms_cpp(as.double(pooled$s0), matrix(as.double(pooled$s1), ngrid, p),
                                   as.double(pooled$d0), matrix(as.double(pooled$d1), ngrid, p),
                                   as.double(pooled$dead_weight), as.double(pooled$dead_count),
                                   as.double(pooled$dead_wx), as.double(pooled$dead_weta),
                                   ties == "efron")
  list(loglik = terms$loglik, score = terms$score,
       request = list(alpha = terms$alpha, efron_b = terms$efron_b), aat = terms$aat)
}

# Newton-Raphson on the pooled sums with the single-machine kernel's own code: the
# generalised Cholesky, the Newton step and the step-halving rule are rwe::Ldl and
# rwe::NewtonHalving (src/ldl.h), reached through newton_*_cpp (src/partition.cpp).
# `sums(beta)` returns a round-1 result, `info(beta, r1)` its round-2 completion; the
# information is asked for only where a step is taken or the fit ends, as in src/cox.cpp.
partitioned_newton <- function(sums, info, init, control, scale) {
  first <- info(init, sums(init))
  state <- newton_start_cpp(init, first$loglik, first$score, first$imat, scale,
                            as.integer(control$iter.max), control$eps, control$toler.chol)
  current <- first
  while (!state$done) {
    r1 <- sums(state$proposal)
    state <- newton_observe_cpp(state, r1$loglik)
    current <- if (state$needs_information) info(state$proposal, r1) else
      list(score = numeric(0), imat = matrix(0, 0, 0))
    state <- newton_advance_cpp(state, current$score, current$imat, scale, control$toler.chol)
  }
  list(coefficients = state$proposal, var = state$var, aliased = state$aliased,
       rank = state$rank, loglik = c(first$loglik, state$loglik), score_test = state$score_test,
       score = current$score %||% first$score, iter = state$iter, converged = state$converged,
       score_init = first$score)
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
#' @param control Settings from [cox_control()] (or `survival::coxph.control()`): `eps`,
#'   `iter.max`, `toler.chol`, `toler.inf` and `timefix` are used; the result stores them as
#'   a [cox_control()] list, as [cox_fit()] does.
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
#' @return An object of class `c("rwe_partitioned_cox", "rwe_cox")` built by [new_rwe_cox()]
#'   as the pooled [cox_fit()] result, with the same elements (`coefficients`, `var`,
#'   `loglik`, `score.test`, `wald.test`, `lr.test`, `n`, `nevent`, `iter`, `converged`,
#'   `means`, `method`, `rank`, `control`, ...) so that `print()`, `summary()`, `tidy()`,
#'   `glance()`, `coef()`, `vcov()`, `confint()`, `logLik()`, `AIC()`, `nobs()`, `anova()`
#'   of nested fits and `predict(newdata = ...)` (types `"lp"`, `"risk"`, `"terms"`) equal
#'   those of the pooled fit. The per-row elements (`y`, `x`, `linear.predictors`, `weights`,
#'   ...) are absent because the data stay at the sites: methods that need them
#'   (`residuals()`, `predict()` without `newdata` or of the survival curve, `survfit()`,
#'   [concordance_index()], [ph_test()], [cox_bootstrap()]) refuse with an error of class
#'   `rwe_not_available` (and `rwe_bad_input`); `concordance` is `NULL`. Extras:
#'   `partitions` (labels), `stratify_by_site`, `n_event_times`, `traffic` (a data frame of
#'   bytes per round) and `traffic_per_iteration`.
#' @examples
#' lung <- survival::lung
#' parts <- cohort_partitions(split(lung, lung$inst %% 3))
#' fit <- partitioned_cox_fit(survival::Surv(time, status) ~ age + sex, parts)
#' fit
#' @export
partitioned_cox_fit <- function(formula, partitions, ties = c("efron", "breslow"), weights = NULL,
                                control = cox_control(), robust = NULL,
                                stratify_by_site = FALSE, min_cell = NULL,
                                timeout = getOption("rwecohort.worker_timeout", 600)) {
  ties <- check_ties(ties)
  check_partitions(partitions)
  partitions$timeout <- check_timeout(timeout)
  check_min_cell_arg(min_cell)
  check_flag(stratify_by_site)
  control <- check_partition_control(control)
  call <- match.call()
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
  setups <- ex$results
  check_partition_robust(robust, setups, weights)
  grid <- cox_grid(stats::setNames(setups, partitions$labels), spec, timefix)
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
  nr <- partitioned_newton(sums, checked, rep(0, length(grid$columns)), control, scale)
  fit <- new_rwe_partitioned_cox(nr, grid, traffic$table(), ties, partitions, call,
                                 stratify_by_site, formula, setups, control)
  cox_finish(fit, robust = FALSE, cluster = NULL, design_x = NULL, concordance = FALSE)
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
  for (v in c("eps", "toler.chol")) check_tolerance(control[[v]], paste0("control$", v), call)
  check_number(control$iter.max, "control$iter.max", min = 0, call = call)
  check_flag(control$timefix, "control$timefix", call = call)
  # the result stores a cox_control(), as cox_fit()'s does
  cox_control(eps = control$eps, toler.chol = control$toler.chol, iter.max = control$iter.max,
              toler.inf = control$toler.inf %||% sqrt(control$eps), timefix = control$timefix)
}

check_counts_site_args <- function(spec, grid, min_cell, site, call = rlang::caller_env()) {
  check_inherits(spec, "rwe_partition_spec", what = "a specification from {.fn partition_spec}",
                 call = call)
  if (!is.null(grid)) check_grid_shape(grid, "rwe_counts_grid", call)
  check_min_cell_arg(min_cell, call)
  check_string(site, "site", call = call)
}

check_min_cell_arg <- function(min_cell, call = rlang::caller_env()) {
  check_count(min_cell, min = 1, allow_null = TRUE, call = call)
}

# The result: built by new_rwe_cox(), as cox_fit()'s, from the coordinator's Newton run, plus
# what only a partitioned fit has (partitions, traffic). No per-row element exists (y, x,
# linear predictors, weights, offset, strata): methods that need them refuse (see below).
new_rwe_partitioned_cox <- function(nr, grid, traffic, ties, partitions, call, by_site, formula,
                                    setups, control) {
  columns <- grid$columns
  raw <- list(coefficients = nr$coefficients, var = nr$var, aliased = nr$aliased,
              loglik = nr$loglik, score_test = nr$score_test, score = nr$score,
              newton_step = drop(nr$var %*% nr$score), iter = nr$iter, converged = nr$converged,
              rank = nr$rank, means = stats::setNames(grid$centre, columns),
              counting = grid$counting, nevent = grid$nevent,
              n = if (grid$n <= .Machine$integer.max) as.integer(grid$n) else grid$n)
  meta <- partitioned_cox_metadata(formula, grid, setups, by_site, partitions$labels)
  fit <- new_rwe_cox(raw, y = NULL, strata_levels = meta$strata_levels,
                     strata_vars = meta$strata_vars, strata_table = meta$strata_table,
                     terms = meta$terms, formula = formula, call = call, xlevels = meta$xlevels,
                     assign = meta$assign, control = control, ties = ties)
  per_iteration <- stats::aggregate(cbind(bytes_sent, bytes_received) ~ evaluation,
                                    data = traffic[traffic$evaluation > 0L, ], FUN = sum)
  fit[c("stratify_by_site", "n_event_times", "partitions", "traffic", "traffic_per_iteration",
        "offset_mean", "strata_means")] <-
    list(by_site, length(grid$time), partitions$labels, traffic, per_iteration,
         grid$offset_mean, meta$strata_means)
  class(fit) <- c("rwe_partitioned_cox", class(fit))
  fit
}

# Terms, factor levels, column -> term map and strata of the pooled model, from the formula and
# the sites' metadata (no row crosses): what predict(newdata = ...) and anova() read.
partitioned_cox_metadata <- function(formula, grid, setups, by_site, labels) {
  tt <- stats::terms(with_survival_specials(split_strata_terms(grid$spec$formula)),
                     specials = c("strata", "cluster", "offset"))
  strata_cols <- attr(tt, "specials")$strata
  terms <- if (length(strata_cols)) drop_special_terms(tt, strata_cols) else tt
  used <- setups[vapply(setups, function(s) s$n > 0L, logical(1))]
  term_labels <- attr(terms, "term.labels")
  asg <- used[[1L]]$assign
  assign <- if (!is.null(asg)) split(seq_along(asg), factor(term_labels[asg], levels = unique(term_labels[asg])))
  xlevels <- partitioned_xlevels(lapply(used, `[[`, "xlevels"), grid$spec)
  table <- grid$strata
  out <- list(terms = terms, assign = assign, xlevels = xlevels, strata_vars = character(),
              strata_table = NULL, strata_levels = NULL, strata_means = NULL)
  if (by_site) {
    out$strata_levels <- labels
  } else if (!is.null(table) && ncol(table)) {
    out$strata_vars <- names(table)
    out$strata_table <- table
    out$strata_levels <- do.call(paste, c(lapply(table, as.character), sep = ", "))
    out$strata_means <- partitioned_strata_means(used, grid)
  }
  out
}

# Union of the sites' factor levels per model variable: the spec's unified levels where it has
# them (as the sites used), otherwise sorted as the pooled factor() would sort them.
partitioned_xlevels <- function(site_levels, spec) {
  vars <- unique(unlist(lapply(site_levels, names)))
  if (!length(vars)) return(stats::setNames(list(), character()))
  stats::setNames(lapply(vars, function(v) {
    if (!is.null(spec$levels[[v]])) return(spec$levels[[v]]$levels)
    sort_labels(unique(unlist(lapply(site_levels, `[[`, v))))
  }), vars)
}

# Weighted covariate means per stratum (rows in the order of grid$keys), from the sites' sums.
partitioned_strata_means <- function(setups, grid) {
  p <- length(grid$columns)
  sum_wx <- matrix(0, length(grid$keys), p)
  sum_w <- numeric(length(grid$keys))
  for (s in setups) {
    if (is.null(s$strata_sum_wx)) return(NULL)
    k <- match(rownames(s$strata_sum_wx), grid$keys)
    sum_wx[k, ] <- sum_wx[k, ] + s$strata_sum_wx
    sum_w[k] <- sum_w[k] + s$strata_sum_w
  }
  sum_wx / sum_w
}

#' @export
print.rwe_partitioned_cox <- function(x, ...) {
  NextMethod()
  per <- x$traffic_per_iteration
  k <- length(x$partitions)
  cat("Partitioned over ", k, if (k == 1L) " partition" else " partitions", if (isTRUE(x$stratify_by_site)) " (stratified by partition)",
      "; traffic per iteration: ", format(mean(per$bytes_sent), big.mark = ","), " bytes sent, ",
      format(mean(per$bytes_received), big.mark = ","), " received (mean)\n", sep = "")
  invisible(x)
}


# ---------------------------------------------------------------------------------------------
# Cox: what a partitioned fit cannot do
# ---------------------------------------------------------------------------------------------

# A partitioned fit holds no row of data: whatever needs the rows (residuals, fitted linear
# predictors, the baseline hazard, concordance, diagnostics, resampling) is refused with a
# classed error, never approximated nor returned as NULL.
refuse_partitioned <- function(object, what = NULL, call = rlang::caller_env()) {
  if (!inherits(object, "rwe_partitioned_cox")) return(invisible(object))
  if (is.null(what)) {
    fn <- tryCatch(rlang::call_name(rlang::frame_call(call)), error = function(e) NULL)
    what <- if (is.null(fn)) "This method" else paste0("{.fn ", sub("\\.rwe_cox$", "", fn), "}")
  }
  # `what` is cli markup of our own (no user text): pasted so that it is formatted
  cli::cli_abort(c(paste0(what, " is not available for a partitioned Cox fit."),
                   "x" = "It needs the individual rows (or the baseline hazard built from them), and the data stay at the sites.",
                   "i" = "Coefficients, variance, tests, {.fn summary}, {.fn tidy}, {.fn glance} and {.code predict(newdata = )} of {.val lp}, {.val risk} or {.val terms} are available."),
                 call = call, class = c("rwe_not_available", "rwe_bad_input"))
}

#' Predictions of a partitioned Cox fit for new data
#'
#' As [predict.rwe_cox()] for `newdata`: the linear predictor (`"lp"`), relative risk
#' (`"risk"`) or per-term contributions (`"terms"`), with standard errors, centred as the
#' pooled fit centres them (`reference`), equal to the pooled fit's predictions. Predictions
#' for the fitted rows (no `newdata`) and the types `"expected"` and `"survival"` (which need
#' the baseline hazard, built from the rows) are refused (`rwe_not_available`): the data
#' stay at the sites.
#'
#' @inheritParams predict.rwe_cox
#' @param object A [partitioned_cox_fit()] result.
#' @param ... Must be empty.
#' @return As [predict.rwe_cox()].
#' @examples
#' lung <- survival::lung
#' parts <- cohort_partitions(split(lung, lung$inst %% 3))
#' fit <- partitioned_cox_fit(survival::Surv(time, status) ~ age + sex, parts)
#' predict(fit, newdata = data.frame(age = c(50, 70), sex = c(1, 2)), type = "risk")
#' @export
predict.rwe_partitioned_cox <- function(object, newdata, type = c("lp", "risk", "expected", "terms",
                                                                 "survival"),
                                        se.fit = FALSE, na.action = stats::na.pass,
                                        reference = c("strata", "sample", "zero"), ...) {
  type <- match_choice(type, c("lp", "risk", "expected", "terms", "survival"), "type")
  if (missing(newdata)) refuse_partitioned(object, "{.fn predict} without {.arg newdata} (the fitted rows)")
  if (type %in% c("expected", "survival")) {
    refuse_partitioned(object, paste0("{.code predict(type = \"", type, "\")}"))
  }
  check_dots_empty_bad(...)
  reference <- if (missing(reference) && type == "terms") "sample" else
    match_choice(reference, c("strata", "sample", "zero"), "reference")
  check_flag(se.fit)
  if (!is.data.frame(newdata)) {
    cli::cli_abort("{.arg newdata} must be a data frame, not {.obj_type_friendly {newdata}}.",
                   class = "rwe_bad_input")
  }
  by_strata <- reference == "strata" && length(object$strata_levels) > 0L
  if (by_strata && is.null(object$strata_means)) {
    refuse_partitioned(object, "{.code reference = \"strata\"} of a fit stratified by site")
  }
  design <- newdata_design(object, newdata, na.action, need_strata = by_strata)
  newx <- if (by_strata) design$x - object$strata_means[design$strata, , drop = FALSE] else
    centre_design(object, design, reference, FALSE)
  pred <- if (type == "terms") predict_terms(object, newx, se.fit) else
    predict_lp(object, newx, design$offset - object$offset_mean, type, se.fit)
  if (!se.fit) return(stats::napredict(design$na.action, pred))
  list(fit = stats::napredict(design$na.action, pred$fit),
       se.fit = stats::napredict(design$na.action, pred$se.fit))
}
