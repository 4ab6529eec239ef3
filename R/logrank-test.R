# Log-rank and Fleming-Harrington G-rho tests: formula verb logrank_test(), matrix twin
# logrank_test_matrix(), the rwe_logrank class and its methods. The C++ kernel
# (src/logrank.cpp) builds the per-event-time grid and sums the statistics; here we
# validate, sort and form the chi-square.

#' Log-rank test (Fleming-Harrington G-rho family)
#'
#' Compares survival between the groups formed by the right-hand-side variables of
#' `formula` (their combinations when there are several), stratified by any `strata()`
#' terms. Each event time is weighted by \eqn{S(t-)^\rho}, the pooled (within stratum)
#' left-continuous Kaplan-Meier estimate: `rho = 0` is the log-rank test, `rho = 1` the
#' Peto-Peto modification of the Gehan-Wilcoxon test. Observed, expected, variance and
#' chi-square agree with [survival::survdiff()] (times closer than `sqrt(.Machine$double.eps)`
#' are tied, as survdiff's default `timefix = TRUE`).
#'
#' Case weights are not supported (as in `survdiff()`), nor are counting-process
#' `Surv(start, stop, event)` responses.
#'
#' With few patients (e.g. a 25-versus-1 comparison) the chi-square approximation can be far
#' off. `method = "exact"` enumerates every distinct relabeling of the group labels (within
#' strata, keeping the group sizes of each stratum) and reports the proportion whose
#' chi-square is at least the observed one (a relative tolerance of 1e-10 counts ties as
#' "at least"); it refuses when there are more than 1e6 relabelings. `method =
#' "permutation"` draws `B` random relabelings and reports \eqn{(1 + b) / (1 + B)}{(1 + b)
#' / (1 + B)}, `b` the number at least the observed chi-square: counting the observed
#' labeling as one of the relabelings keeps the p-value valid (never 0). Both condition on
#' the observed times and censoring, so they assume censoring does not depend on group.
#'
#' @param formula A formula `Surv(time, status) ~ group`, optionally `+ strata(s)`.
#' @param data A data frame holding the variables of `formula`.
#' @param rho The G-rho exponent: a single finite number (0 = log-rank).
#' @param subset Optional expression selecting rows of `data`.
#' @param na.action Function handling missing values (default: `getOption("na.action")`).
#' @param method How the p-value is computed: `"asymptotic"` (chi-square distribution, as
#'   `survdiff()`), `"exact"` (complete enumeration of the relabelings of the groups, within
#'   strata) or `"permutation"` (Monte Carlo relabelings); see Details.
#' @param B Number of Monte Carlo relabelings for `method = "permutation"`.
#' @param seed Optional random seed for `method = "permutation"`: the relabelings are drawn in
#'   C++ from (seed, relabeling number) as in [resample_indices()] (a non-whole or negative
#'   seed is truncated and made positive), leaving R's random-number state untouched; `NULL`
#'   draws the seed from R's generator.
#' @return An object of class `rwe_logrank`: a list with `groups` (data frame, one row per
#'   group, one column per grouping variable), `n`, `observed`, `expected` (per group,
#'   summed over strata), `observed_by_stratum`, `expected_by_stratum` (group x stratum
#'   matrices), `var` (variance matrix of observed - expected), `chisq`, `df`, `p.value`,
#'   `rho`, `strata` (data frame of strata variables, or `NULL`), `strata_n`, `group_label`,
#'   `method`, `call`, `na.action`; with `method = "exact"` or `"permutation"` also
#'   `p.method`, `p.asymptotic` (the chi-square p-value), `B` and `n_relabelings`, and
#'   `p.value` is the exact or Monte Carlo p-value.
#' @examples
#' library(survival)
#' logrank_test(Surv(time, status) ~ sex, data = lung)
#' logrank_test(Surv(futime, fustat) ~ rx, data = ovarian[1:14, ], method = "exact")
#' logrank_test(Surv(time, status) ~ sex, data = lung, method = "permutation", B = 2000,
#'              seed = 1)
#' logrank_test(Surv(time, status) ~ sex + strata(ph.ecog), data = lung, rho = 1)
#' @export
logrank_test <- function(formula, data, rho = 0, subset, na.action,
                         method = c("asymptotic", "permutation", "exact"), B = 10000,
                         seed = NULL) {
  # defaults are valid: checked only when given (a small call's fixed cost matters)
  if (!missing(rho)) check_rho(rho)
  method <- if (missing(method)) "asymptotic" else {
    match_choice(method, c("asymptotic", "permutation", "exact"))
  }
  if (!missing(B) || !missing(seed)) check_permutation_args(B, seed)
  mc <- match.call()
  env <- parent.frame()
  here <- environment()
  frame <- surv_frame_cached(mc, env, "logrank", function() {
    mf <- surv_model_frame(mc, env, call = here)
    parts <- surv_parts(mf, call = here)
    refuse_cluster_offset(mf, "logrank_test", call = here)
    if (parts$counting) {
      cli::cli_abort("{.arg formula}: the log-rank test takes right-censored {.code Surv(time, status)} data only.",
                     call = here, class = "rwe_bad_input")
    }
    list(mf = mf, parts = parts, groups = rhs_groups(mf, include_strata = FALSE),
         strata = rhs_groups(mf, include_strata = TRUE, strata_only = TRUE))
  })
  parts <- frame$parts
  groups <- frame$groups
  if (!ncol(groups$table)) {
    cli::cli_abort(c("{.arg formula} has no grouping variable to compare.",
                     "x" = "Got {.code {format(formula)}}; use e.g. {.code Surv(time, status) ~ group}."),
                   class = "rwe_bad_input")
  }
  check_two_groups(groups, paste("formula", paste(format(formula), collapse = "")))
  strata <- frame$strata
  check_has_events(parts$status)
  res <- logrank_engine(parts$time, parts$status, groups, strata, rho, call = mc,
                        na.action = parts$na.action)
  logrank_add_resampling(res, parts$time, parts$status, groups, strata, rho, method, B, seed)
}

#' Log-rank test from vectors
#'
#' Matrix-level twin of [logrank_test()].
#'
#' @param time Follow-up times: finite, non-negative numbers.
#' @param status Event indicator: 0/1, `FALSE`/`TRUE`, or 1/2 (1 = censored).
#' @param group Groups to compare: a vector, or a data frame/list of vectors whose
#'   combinations define the groups.
#' @param strata Optional stratification: a vector, or a data frame/list of vectors.
#' @inheritParams logrank_test
#' @return An `rwe_logrank` object, as [logrank_test()].
#' @examples
#' lung <- survival::lung
#' logrank_test_matrix(lung$time, lung$status, group = lung$sex)
#' @export
logrank_test_matrix <- function(time, status, group, strata = NULL, rho = 0,
                                method = c("asymptotic", "permutation", "exact"), B = 10000,
                                seed = NULL) {
  check_rho(rho)
  method <- match_choice(method, c("asymptotic", "permutation", "exact"))
  check_permutation_args(B, seed)
  time <- check_numeric_vector(time, finite = FALSE)
  n <- length(time)
  if (n == 0L) cli::cli_abort("{.arg time} has zero length.", class = "rwe_bad_input")
  check_times(time, NULL)
  status <- check_status(status, n)
  if (missing(group) || is.null(group)) {
    cli::cli_abort("{.arg group} is required: the groups to compare.", class = "rwe_bad_input")
  }
  groups <- vector_groups(group, n)
  check_two_groups(groups, "group")
  strata <- vector_groups(strata, n, arg = "strata")
  check_has_events(status)
  res <- logrank_engine(time, status, groups, strata, rho, call = match.call(),
                        na.action = NULL)
  logrank_add_resampling(res, time, status, groups, strata, rho, method, B, seed)
}

check_rho <- function(rho, call = rlang::caller_env()) {
  check_number(rho, call = call)
}

check_two_groups <- function(groups, what, call = rlang::caller_env()) {
  if (nrow(groups$table) < 2L) {
    cli::cli_abort(c("The grouping ({what}) has a single group ({groups$label}); a log-rank test needs at least two.",
                     "i" = "Check the grouping variable and any {.arg subset} or missing values."),
                   call = call, class = "rwe_bad_input")
  }
  invisible(TRUE)
}

# Sorts once, builds the event-time grid, then the test from it.
logrank_engine <- function(time, status, groups, strata, rho, call, na.action) {
  k <- nrow(groups$table)
  nstrata <- nrow(strata$table)
  fixed <- merge_near_ties(time)
  grid <- logrank_grid(fixed, status, groups$codes, strata$codes, k, nstrata)
  logrank_from_grid(grid, groups$table, strata$table, rho, n = tabulate(groups$codes, nbins = k),
                    strata_n = tabulate(strata$codes, nbins = nstrata), call = call,
                    na.action = na.action, label = groups$label)
}

# The one grid -> test step of every log-rank verb (logrank_test() from its rows,
# partitioned_logrank_test() from the partitions' summed counts): observed, expected,
# variance and chi-square by logrank_stat_cpp() (src/logrank_stat.h, which the Monte Carlo
# relabelings use too). `grid` has the elements of logrank_grid_cpp() (stratum, n.risk,
# n.event); `groups` / `strata` are the value tables (strata without columns when
# unstratified); `n`, `strata_n` the records per group / stratum; `label` the groups' labels
# when the caller has them already.
logrank_from_grid <- function(grid, groups, strata, rho, n, strata_n, call, na.action,
                              label = NULL) {
  if (is.null(label)) label <- group_labels(groups)
  st <- logrank_stat_cpp(grid$stratum, grid$n.risk, grid$n.event, nrow(strata), as.double(rho))
  observed <- st$observed_total
  expected <- st$expected_total
  dimnames(st$var) <- list(label, label)
  has_strata <- ncol(strata) > 0L
  new_rwe_logrank(
    groups = groups, group_label = label, n = n, observed = observed, expected = expected,
    observed_by_stratum = st$observed, expected_by_stratum = st$expected, var = st$var,
    chisq = st$chisq, df = st$df, rho = rho, strata = if (has_strata) strata else NULL,
    strata_n = if (has_strata) strata_n else NULL, call = call, na.action = na.action)
}

# The (stratum, event time) grid of numbers at risk and events per group. Few distinct times
# (the usual day-resolution data): counted straight into a dense grid, no sort. Otherwise
# (the grid would be much larger than the data): sorted by stratum and time first.
logrank_grid <- function(fixed, status, group_codes, strata_codes, k, nstrata) {
  n_time <- length(fixed$values)
  if (as.double(nstrata) * n_time * k <= 4 * length(status) + 1e5) {
    return(logrank_grid_dense_cpp(fixed$time_rank, fixed$values, as.double(status),
                                  group_codes, strata_codes, k, nstrata))
  }
  ord <- km_order(strata_codes, fixed$time_rank)
  logrank_grid_cpp(fixed$time, as.double(status), group_codes, strata_codes, ord, k)
}

#' @noRd
new_rwe_logrank <- function(groups, group_label, n, observed, expected, observed_by_stratum,
                            expected_by_stratum, var, chisq, df, rho, strata, strata_n,
                            call, na.action) {
  if (!is.data.frame(groups) || length(observed) != .row_names_info(groups, 2L)) {
    abort_internal("log-rank groups and counts do not match")
  }
  method <- if (rho == 0) "Log-rank test" else if (rho == 1) {
    "Peto-Peto test (G-rho, rho = 1)"
  } else paste0("Fleming-Harrington G-rho test (rho = ", format(rho), ")")
  fit <- list(groups = groups, group_label = group_label, n = n, observed = observed,
              expected = expected, observed_by_stratum = observed_by_stratum,
              expected_by_stratum = expected_by_stratum, var = var, chisq = chisq,
              df = df, p.value = stats::pchisq(chisq, df, lower.tail = FALSE), rho = rho,
              strata = strata, strata_n = strata_n, method = method, call = call,
              na.action = na.action)
  class(fit) <- "rwe_logrank"  # not structure(): its argument handling costs on small calls
  fit
}

# Per-group table shared by print() and tidy().
logrank_group_table <- function(x) {
  oe <- x$observed - x$expected
  cbind(x$groups, n = x$n, observed = x$observed, expected = x$expected,
        chisq.e = oe^2 / x$expected, chisq.v = oe^2 / diag(x$var), row.names = NULL)
}

#' @export
print.rwe_logrank <- function(x, digits = 4, ...) {
  check_dots_empty_bad(...)
  cat(x$method, if (!is.null(x$strata)) {
    paste0(", stratified by ", paste(names(x$strata), collapse = ", "),
           " (", nrow(x$strata), " strata)")
  }, "\n", sep = "")
  tab <- logrank_group_table(x)
  names(tab)[names(tab) == "chisq.e"] <- "(O-E)^2/E"
  names(tab)[names(tab) == "chisq.v"] <- "(O-E)^2/V"
  num <- vapply(tab, is.double, logical(1)) & !names(tab) %in% names(x$groups)
  tab[num] <- lapply(tab[num], signif, digits = digits)
  print(tab, row.names = FALSE)
  cat("\nChisq = ", format(signif(x$chisq, digits)), " on ", x$df,
      " degrees of freedom, p = ", format.pval(x$p.value, digits = digits),
      if (!is.null(x$p.method)) paste0(" (", logrank_p_label(x), ")"), "\n", sep = "")
  invisible(x)
}

#' Tidy a log-rank test
#'
#' @param x An `rwe_logrank` object.
#' @param ... Must be empty (an unknown argument is an error, not ignored).
#' @return A data frame with one row per group: the grouping columns, `n`, `observed`,
#'   `expected`, `chisq.e` = (O-E)^2/E and `chisq.v` = (O-E)^2/V.
#' @examples
#' generics::tidy(logrank_test(survival::Surv(time, status) ~ sex, data = survival::lung))
#' @export
tidy.rwe_logrank <- function(x, ...) {
  check_dots_empty_bad(...)
  logrank_group_table(x)
}

#' Glance at a log-rank test
#'
#' @param x An `rwe_logrank` object.
#' @param ... Must be empty (an unknown argument is an error, not ignored).
#' @return A one-row data frame: `statistic` (chi-square), `df`, `p.value`, `method`,
#'   `p.method` (`"asymptotic"`, `"exact"` or `"permutation"`).
#' @examples
#' generics::glance(logrank_test(survival::Surv(time, status) ~ sex, data = survival::lung))
#' @export
glance.rwe_logrank <- function(x, ...) {
  check_dots_empty_bad(...)
  data.frame(statistic = x$chisq, df = x$df, p.value = x$p.value, method = x$method,
             p.method = if (is.null(x$p.method)) "asymptotic" else x$p.method)
}

# ---- Exact and permutation p-values ------------------------------------------------------
# Under H0 (same survival in every group, censoring independent of group) every relabeling
# of the subjects that keeps the group sizes within each stratum is equally likely. The
# times are sorted once; each relabeling only changes the group codes fed to the kernel.

check_permutation_args <- function(B, seed, call = rlang::caller_env()) {
  check_count(B, min = 1, call = call)
  check_number(seed, allow_null = TRUE, call = call)
  invisible(TRUE)
}

logrank_add_resampling <- function(res, time, status, groups, strata, rho, method, B, seed) {
  if (method == "asymptotic") return(res)
  chisq_of <- logrank_chisq_function(time, status, groups, strata, rho)
  res$p.asymptotic <- res$p.value
  res$p.method <- method
  if (method == "exact") {
    ex <- logrank_exact_p(chisq_of, groups$codes, strata$codes, res$chisq)
    res$p.value <- ex$p.value
    res$n_relabelings <- ex$count
    res$B <- NA_integer_
  } else {
    res$p.value <- logrank_monte_carlo_p(time, status, groups, strata, rho, res$chisq,
                                         as.integer(B), seed)
    res$B <- as.integer(B)
    res$n_relabelings <- logrank_count_relabelings(groups$codes, strata$codes)
  }
  res
}

# A closure computing the chi-square for a vector of group codes; the sort is done once.
logrank_chisq_function <- function(time, status, groups, strata, rho) {
  k <- nrow(groups$table)
  nstrata <- nrow(strata$table)
  fixed <- merge_near_ties(time)
  time <- fixed$time
  ord <- km_order(strata$codes, fixed$time_rank)
  status <- as.double(status)
  function(codes) {
    grid <- logrank_grid_cpp(time, status, codes, strata$codes, ord, k)
    logrank_stat_cpp(grid$stratum, grid$n.risk, grid$n.event, nstrata, as.double(rho))$chisq
  }
}

at_least <- function(values, observed) values >= observed - 1e-10 * max(1, abs(observed))

# Number of distinct relabelings: the product over strata of multinomial coefficients.
logrank_count_relabelings <- function(codes, strata_codes) {
  logn <- sum(vapply(split(codes, strata_codes), function(g) {
    lfactorial(length(g)) - sum(lfactorial(tabulate(g)))
  }, numeric(1)))
  round(exp(logn))
}

logrank_exact_p <- function(chisq_of, codes, strata_codes, observed, limit = 1e6) {
  count <- logrank_count_relabelings(codes, strata_codes)
  if (count > limit) {
    n_txt <- format(count, big.mark = ",", scientific = FALSE)
    limit_txt <- format(limit, big.mark = ",", scientific = FALSE)
    cli::cli_abort(c("{.arg method} = {.val exact} would enumerate {n_txt} relabelings (more than {limit_txt}).",
                     "i" = "Use {.code method = \"permutation\"} (Monte Carlo) instead."),
                   call = rlang::caller_env(2), class = "rwe_bad_input")
  }
  rows <- split(seq_along(codes), strata_codes)
  per_stratum <- lapply(rows, function(r) multiset_permutations(codes[r]))
  sizes <- vapply(per_stratum, ncol, integer(1))
  stats <- numeric(count)
  labels <- codes
  for (i in seq_len(count)) {
    # mixed-radix digits of i - 1 pick one labeling per stratum
    digit <- (i - 1) %/% cumprod(c(1, sizes[-length(sizes)])) %% sizes
    for (s in seq_along(rows)) labels[rows[[s]]] <- per_stratum[[s]][, digit[s] + 1L]
    stats[i] <- chisq_of(labels)
  }
  list(p.value = mean(at_least(stats, observed)), count = count, statistics = stats)
}

# All distinct orderings of a multiset of group codes, one per column: the groups are placed
# in turn, each in every subset of the slots still free (vectorised over the columns).
multiset_permutations <- function(codes) {
  n <- length(codes)
  counts <- tabulate(codes)
  out <- matrix(0L, n, 1L)
  free <- matrix(seq_len(n), n, 1L)  # free slots of each column, ascending
  for (g in which(counts > 0L)) {
    m <- nrow(free)
    size <- counts[g]
    picks <- if (size == m) matrix(seq_len(m), m, 1L) else matrix(utils::combn(m, size), size)
    J <- ncol(out)
    L <- ncol(picks)
    jj <- rep(seq_len(J), each = L)
    ll <- rep(seq_len(L), times = J)
    rows <- free[cbind(as.vector(picks[, ll, drop = FALSE]), rep(jj, each = size))]
    out <- out[, jj, drop = FALSE]
    out[cbind(rows, rep(seq_len(J * L), each = size))] <- g
    free <- matrix(row(out)[out == 0L], nrow = m - size)
  }
  out
}

# Monte Carlo relabelings in C++ (src/resample.cpp): the rows are sorted once, each relabeling
# is a within-stratum shuffle drawn from (seed, relabeling number) as the bootstrap replicates
# are, on `rwecohort.threads` threads; R's random-number stream is untouched unless `seed` is
# NULL (one number is then drawn from it to seed the relabelings).
logrank_monte_carlo_p <- function(time, status, groups, strata, rho, observed, B, seed) {
  seed <- if (is.null(seed)) floor(stats::runif(1L) * 2^31) else abs(trunc(seed)) %% 2^53
  time <- merge_near_ties(time)$time
  ord <- order(strata$codes, -time, method = "radix")
  chisq <- logrank_permutation_cpp(time[ord], as.integer(status[ord]), groups$codes[ord],
                                   strata$codes[ord], nrow(groups$table), as.double(rho),
                                   as.integer(B), as.double(seed), 1L,
                                   as.integer(getOption("rwecohort.threads", 2L)))
  (1 + sum(at_least(chisq, observed))) / (1 + B)
}

logrank_p_label <- function(x) {
  if (x$p.method == "exact") {
    paste0("exact, ", format(x$n_relabelings, big.mark = ","), " relabelings; asymptotic p = ",
           format.pval(x$p.asymptotic, digits = 4))
  } else {
    paste0("Monte Carlo, B = ", x$B, "; asymptotic p = ", format.pval(x$p.asymptotic, digits = 4))
  }
}
