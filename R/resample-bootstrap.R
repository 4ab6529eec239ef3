# Bootstrap verbs over the resampling engine (src/resample.cpp): the data are sorted once, each
# replicate is a vector of integer case counts drawn in C++ from (seed, replicate number), and
# all replicates are refitted in C++ on `threads` threads, with no R work per replicate.

#' Bootstrap resample indices
#'
#' The row indices that [cox_bootstrap()] and [km_bootstrap()] draw for their replicates, so
#' that any replicate can be refitted independently (e.g. with [survival::coxph()] on
#' `data[idx[, b], ]`).
#'
#' Random numbers: replicate `b` uses its own 64-bit Mersenne Twister (`std::mt19937_64`),
#' seeded by splitmix64 mixing of `seed` and `b`; each of its `n` indices is an unbiased
#' multiply-shift draw (Lemire's method) on `1..n`. A replicate depends only on `(seed, b, n)`,
#' so results are identical whatever the number of threads and whichever replicates are
#' computed. This is not R's random number generator: `set.seed()` has no effect on it.
#'
#' @param n Number of rows of the data.
#' @param B Number of replicates.
#' @param seed A whole number in `[0, 2^53)`, as stored in a bootstrap result.
#' @param first Number of the first replicate (1-based); replicates `first:(first + B - 1)`
#'   are returned.
#' @return An `n` x `B` integer matrix of row indices (1-based), one column per replicate.
#' @examples
#' idx <- resample_indices(10, B = 3, seed = 42)
#' idx
#' identical(idx[, 3], resample_indices(10, B = 1, seed = 42, first = 3)[, 1])
#' @export
resample_indices <- function(n, B, seed, first = 1) {
  check_count(n, min = 1)
  check_count(B, min = 1)
  check_resample_seed(seed)
  check_count(first, min = 1)
  resample_indices_cpp(as.integer(n), as.integer(B), as.double(seed), as.integer(first))
}

check_resample_seed <- function(seed, call = rlang::caller_env()) {
  if (!is.numeric(seed) || length(seed) != 1L || !is.finite(seed) || seed < 0 ||
      seed >= 2^53 || seed != round(seed)) {
    cli::cli_abort("{.arg seed} must be a single whole number in [0, 2^53), not {.val {seed}}.",
                   call = call, class = "rwe_bad_input")
  }
  invisible(seed)
}

# B, threads and seed of a bootstrap verb; a NULL seed is drawn from R's generator (so that
# set.seed() makes the call reproducible) and returned, to be stored in the result.
resample_args <- function(B, seed, threads, call = rlang::caller_env()) {
  check_count(B, min = 2, call = call)
  check_count(threads, min = 1, call = call)
  if (is.null(seed)) seed <- floor(stats::runif(1L) * 2^31)
  check_resample_seed(seed, call = call)
  list(B = as.integer(B), seed = as.double(seed), threads = as.integer(threads))
}

#' Bootstrap confidence intervals for the hazard ratios of a Cox model
#'
#' Refits the Cox model of `fit` on `B` bootstrap resamples of its rows (case resampling) and
#' returns percentile and normal confidence intervals for the coefficients and hazard ratios.
#' The data are sorted once; each replicate is a vector of integer case counts, and the
#' replicate fit with counts is exactly the fit to the resampled data set (Breslow and Efron:
#' a row drawn `k` times counts as `k` tied rows), so a replicate agrees with
#' `survival::coxph()` on `data[resample_indices(n, B, seed)[, b], ]` to rounding error. All
#' replicates are computed in C++ on `threads` threads.
#'
#' Supported: right-censored responses, `strata()`, offsets, Efron or Breslow ties, fits without
#' case weights. Refused (with an error): counting-process responses, case weights, a
#' `cluster` (a cluster bootstrap would resample clusters), Firth fits, and fits made with
#' `x = FALSE`.
#'
#' Intervals: `percentile` uses [stats::quantile()] (type 7) of the replicate coefficients;
#' `normal` is the bias-corrected normal interval `2 * estimate - mean(replicates) +/- z * sd`.
#' Replicates in which a coefficient is not estimable (`NA`, e.g. a factor level not drawn)
#' or that did not converge are left out of that coefficient's summaries and counted in
#' `n_failed`.
#'
#' @param fit An `rwe_cox` object from [cox_fit()].
#' @param B Number of bootstrap replicates.
#' @param seed A whole number in `[0, 2^53)` seeding the replicates (see
#'   [resample_indices()]); `NULL` draws one from R's generator (so `set.seed()` makes the call
#'   reproducible). The seed used is stored in the result.
#' @param conf.level Confidence level of the intervals.
#' @param threads Number of threads; the results do not depend on it.
#' @return An object of class `rwe_bootstrap`: a list with `table` (one row per coefficient:
#'   `term`, `estimate`, `boot.se`, `bias`, percentile and normal limits on the coefficient
#'   scale, and `hr`, `hr.low`, `hr.high`, `hr.normal.low`, `hr.normal.high`), `replicates`
#'   (a `B` x p matrix of coefficients), `converged`, `n_failed`, `B`, `seed`, `n`,
#'   `conf.level`.
#' @examples
#' lung <- na.omit(survival::lung[, c("time", "status", "age", "sex")])
#' fit <- cox_fit(survival::Surv(time, status) ~ age + sex, data = lung)
#' cox_bootstrap(fit, B = 200, seed = 1)
#' @export
cox_bootstrap <- function(fit, B = 1000, seed = NULL, conf.level = 0.95,
                          threads = getOption("rwecohort.threads", 2L)) {
  args <- resample_args(B, seed, threads)
  check_conf_level(conf.level)
  data <- cox_resample_data(fit)
  raw <- cox_resample_fit(data, fit, args$B, args$seed, first = 1L, threads = args$threads)
  reps <- t(raw$coef)
  colnames(reps) <- names(fit$coefficients)
  reps[!raw$converged, ] <- NA
  if (!all(raw$converged)) {
    warn_not_converged(c("{sum(!raw$converged)} of {args$B} bootstrap refit{?s} did not converge.",
                         "i" = "They are left out of the summaries (see {.field n_failed})."),
                       class = "rwe_bootstrap_not_converged")
  }
  table <- bootstrap_table(fit$coefficients, reps, conf.level)
  table$hr <- exp(table$estimate)
  for (col in c("conf.low", "conf.high", "normal.low", "normal.high")) {
    table[[paste0("hr.", sub("conf.", "", col, fixed = TRUE))]] <- exp(table[[col]])
  }
  structure(list(table = table, replicates = reps, converged = raw$converged,
                 n_failed = colSums(is.na(reps)), B = args$B, seed = args$seed,
                 n = length(fit$linear.predictors), conf.level = conf.level,
                 what = "Cox coefficients"),
            class = "rwe_bootstrap")
}

# The fit's data in the engine's order (stratum, time descending) after refusing what the
# engine does not resample correctly.
cox_resample_data <- function(fit, call = rlang::caller_env()) {
  check_inherits(fit, "rwe_cox", "fit", what = "an {.cls rwe_cox} object from {.fn cox_fit}",
                 call = call)
  refuse <- function(why) cli::cli_abort(c("{.arg fit} cannot be bootstrapped here.", "x" = why),
                                         call = call, class = "rwe_bad_input")
  refuse_partitioned(fit, "{.fn cox_bootstrap} (resamples the rows)", call)
  if (inherits(fit, "rwe_cox_firth")) refuse("Firth-penalised fits are not supported.")
  fit <- cox_complete(fit, call = call)  # model matrix and response rebuilt if not kept
  if (attr(fit$y, "type") != "right") refuse("Counting-process {.code Surv(start, stop, event)} responses are not supported.")
  if (!is.null(fit$weights) && any(fit$weights != 1)) refuse("It has case weights.")
  if (isTRUE(fit$robust)) refuse("It has a robust (cluster) variance; a cluster bootstrap would resample clusters.")
  y <- unclass(fit$y)
  n <- nrow(y)
  strata <- if (is.null(fit$strata)) rep(1L, n) else as.integer(fit$strata)
  offset <- if (is.null(fit$offset)) rep(0, n) else as.double(fit$offset)
  ord <- order(strata, -y[, 1L], method = "radix")
  pos <- integer(n)
  pos[ord] <- seq_len(n) - 1L
  x <- fit$x
  storage.mode(x) <- "double"
  list(x = x[ord, , drop = FALSE], time = as.double(y[ord, 1L]),
       status = as.integer(y[ord, 2L]), offset = offset[ord], strata = strata[ord], pos = pos)
}

# Replicates first .. first + B - 1 (replicate 0 = the original data, all counts 1).
cox_resample_fit <- function(data, fit, B, seed, first, threads) {
  ctl <- fit$control
  cox_bootstrap_cpp(data$x, data$time, data$status, data$offset, data$strata, data$pos,
                    as.integer(B), as.double(seed), as.integer(first), fit$method == "efron",
                    as.integer(ctl$iter.max), ctl$eps, ctl$toler.chol, as.integer(threads))
}

# Percentile and bias-corrected normal intervals from a B x k matrix of replicates.
bootstrap_table <- function(estimate, reps, conf.level) {
  alpha <- (1 - conf.level) / 2
  z <- stats::qnorm(1 - alpha)
  one <- function(j) {
    v <- reps[, j]
    v <- v[!is.na(v)]
    if (length(v) < 2L) return(rep(NA_real_, 6L))
    q <- stats::quantile(v, c(alpha, 1 - alpha), names = FALSE, type = 7)
    se <- stats::sd(v)
    bias <- mean(v) - estimate[j]
    c(se, bias, q, estimate[j] - bias - z * se, estimate[j] - bias + z * se)
  }
  stats <- vapply(seq_along(estimate), one, numeric(6))
  data.frame(term = names(estimate), estimate = unname(estimate), boot.se = stats[1L, ],
             bias = stats[2L, ], conf.low = stats[3L, ], conf.high = stats[4L, ],
             normal.low = stats[5L, ], normal.high = stats[6L, ], row.names = NULL)
}

#' Bootstrap confidence intervals for Kaplan-Meier medians and restricted means
#'
#' Resamples the rows `B` times (case resampling over all rows, so the group sizes vary as in
#' the sampling) and recomputes, in C++ over the data sorted once, each group's median survival
#' time (survival's rule, as [km_median()]) and restricted mean survival time up to `tau` (as
#' [km_rmean()]). A replicate in which a group's curve does not reach 0.5 has an `NA` median,
#' left out of the summaries and counted in `n_failed`.
#'
#' @param formula A formula `Surv(time, status) ~ groups` (right-censored data; `~ 1` for one
#'   curve), as in [km_fit()].
#' @param data A data frame.
#' @param tau Horizon of the restricted mean; `NULL` (default) takes the smallest of the groups'
#'   largest observed times. Beyond a replicate's last time its curve is extended flat.
#' @inheritParams cox_bootstrap
#' @return An object of class `rwe_bootstrap` (see [cox_bootstrap()]) whose `table` has one
#'   row per group and statistic (`term` is `"median: <group>"` or `"rmst: <group>"`), with
#'   `tau` added.
#' @examples
#' km_bootstrap(survival::Surv(time, status) ~ sex, data = survival::lung, B = 200, seed = 1)
#' @export
km_bootstrap <- function(formula, data, tau = NULL, B = 1000, seed = NULL, conf.level = 0.95,
                         threads = getOption("rwecohort.threads", 2L)) {
  args <- resample_args(B, seed, threads)
  check_conf_level(conf.level)
  mc <- match.call()
  mf <- surv_model_frame(mc, parent.frame())
  parts <- surv_parts(mf)
  refuse_cluster_offset(mf, "km_bootstrap")
  if (parts$counting) {
    cli::cli_abort("{.arg formula}: counting-process {.code Surv(start, stop, event)} responses are not supported.",
                   class = "rwe_bad_input")
  }
  groups <- rhs_groups(mf, include_strata = TRUE)
  k <- nrow(groups$table)
  time <- merge_near_ties(parts$time)$time
  last <- vapply(seq_len(k), function(g) max(time[groups$codes == g]), numeric(1))
  if (is.null(tau)) tau <- min(last)
  check_number(tau, min = 0, exclusive = TRUE)
  ord <- order(groups$codes, time, method = "radix")
  pos <- integer(length(time))
  pos[ord] <- seq_along(time) - 1L
  run <- function(B, first) {
    km_bootstrap_cpp(time[ord], as.integer(parts$status[ord]), groups$codes[ord], k, pos,
                     as.double(tau), B, args$seed, first, args$threads)
  }
  reps <- run(args$B, 1L)
  est <- run(1L, 0L)
  labels <- km_group_labels(groups)
  terms <- c(paste0("median: ", labels), paste0("rmst: ", labels))
  all_reps <- cbind(t(reps$median), t(reps$rmst))
  colnames(all_reps) <- terms
  table <- bootstrap_table(stats::setNames(c(est$median, est$rmst), terms), all_reps, conf.level)
  table$tau <- ifelse(seq_len(2L * k) > k, tau, NA_real_)
  structure(list(table = table, replicates = all_reps, converged = rep(TRUE, args$B),
                 n_failed = colSums(is.na(all_reps)), B = args$B, seed = args$seed,
                 n = length(time), conf.level = conf.level,
                 what = "Kaplan-Meier medians and restricted means"),
            class = "rwe_bootstrap")
}

km_group_labels <- function(groups) {
  tab <- groups$table
  if (!ncol(tab) || nrow(tab) == 1L) return(rep("all", nrow(tab)))
  do.call(paste, c(lapply(names(tab), function(v) paste0(v, "=", tab[[v]])), sep = ", "))
}

#' @export
print.rwe_bootstrap <- function(x, digits = 4, ...) {
  cli::cat_line("Bootstrap of ", x$what, ": ", x$B, " replicates of ", x$n, " rows (seed ",
                format(x$seed, scientific = FALSE), ")")
  tab <- x$table
  num <- vapply(tab, is.numeric, logical(1))
  tab[num] <- lapply(tab[num], signif, digits = digits)
  print(tab, row.names = FALSE)
  if (any(x$n_failed > 0)) {
    cli::cat_line("Replicates left out (not estimable or not converged): ",
                  paste(names(x$n_failed), x$n_failed, sep = " ", collapse = "; "))
  }
  cli::cat_line(format(100 * x$conf.level), "% intervals: percentile (conf.*) and ",
                "bias-corrected normal (normal.*).")
  invisible(x)
}

#' Optimism-corrected discrimination and calibration of a Cox model (bootstrap validation)
#'
#' Harrell's bootstrap validation, as `rms::validate.cph()` does it for Somers' `Dxy` and the
#' calibration slope: the model of `fit` is refitted on each of `B` bootstrap resamples; the
#' refitted linear predictor is scored on the resample (training) and on the original rows
#' (test); the mean difference training - test is the optimism, subtracted from the apparent
#' index. All refits and concordances are computed in C++ over the data sorted once
#' (see [cox_bootstrap()] for the resampling, the supported fits and [resample_indices()]).
#'
#' `Dxy` is `2 * (C - 0.5)`, `C` Harrell's concordance in [survival::concordance()]'s
#' conventions (within strata; a censoring tied with an event time counts as the longer time;
#' ties in the linear predictor count one half), positive when a higher risk score goes with
#' shorter survival (the sign opposite to rms's `Dxy` for `cph`, which correlates the linear
#' predictor with survival time). The calibration `Slope` is the coefficient of the refitted
#' linear predictor in a Cox model on the original rows (1 on the training rows by
#' construction). Replicates whose refit has a non-estimable coefficient or does not converge
#' are left out (`n` counts those used).
#'
#' @inheritParams cox_bootstrap
#' @return A data frame with one row per index (`Dxy`, `C`, `Slope`) and columns `index`,
#'   `index.orig`, `training`, `test`, `optimism`, `index.corrected`, `n`; attributes `B`,
#'   `seed` and `replicates` (a `B` x 3 matrix: training Dxy, test Dxy, test slope).
#' @examples
#' lung <- na.omit(survival::lung[, c("time", "status", "age", "sex", "ph.ecog")])
#' fit <- cox_fit(survival::Surv(time, status) ~ age + sex + ph.ecog, data = lung)
#' cox_validate(fit, B = 200, seed = 1)
#' @export
cox_validate <- function(fit, B = 1000, seed = NULL,
                         threads = getOption("rwecohort.threads", 2L)) {
  args <- resample_args(B, seed, threads)
  data <- cox_resample_data(fit)
  if (all(is.na(fit$coefficients))) {
    cli::cli_abort("{.arg fit} has no estimable coefficient to validate.", class = "rwe_bad_input")
  }
  run <- function(B, first) {
    ctl <- fit$control
    cox_validate_cpp(data$x, data$time, data$status, data$offset, data$strata, data$pos,
                     as.integer(B), args$seed, as.integer(first), fit$method == "efron",
                     as.integer(ctl$iter.max), ctl$eps, ctl$toler.chol, args$threads)
  }
  apparent <- run(1L, 0L)[, 1L]
  reps <- t(run(args$B, 1L))
  colnames(reps) <- c("dxy.training", "dxy.test", "slope.test")
  ok <- stats::complete.cases(reps)
  train <- c(mean(reps[ok, 1L]), 1)
  test <- c(mean(reps[ok, 2L]), mean(reps[ok, 3L]))
  orig <- c(apparent[1L], 1)
  table <- data.frame(index = c("Dxy", "Slope"), index.orig = orig, training = train,
                      test = test, optimism = train - test,
                      index.corrected = orig - (train - test), n = sum(ok))
  c_row <- table[1L, ]
  c_row$index <- "C"
  c_row[2:6] <- lapply(c_row[2:6], function(v) v / 2)
  c_row[c(2L, 3L, 4L, 6L)] <- lapply(c_row[c(2L, 3L, 4L, 6L)], function(v) v + 0.5)
  table <- rbind(table[1L, ], c_row, table[2L, ])
  rownames(table) <- NULL
  structure(table, B = args$B, seed = args$seed, replicates = reps)
}
