# Weighted survival comparison of the two arms of an rwe_ps object in one verb: weighted
# Kaplan-Meier (robust SE), weighted Cox (robust sandwich SE), adjusted RMST difference, and
# adjusted curves by IPW (weighted KM) and by the g-formula (cox_marginal_curve() of an
# outcome Cox model). Every estimate uses the package's own engines; the confidence intervals
# come from a bootstrap of the whole pipeline, propensity model included, because the
# analytic robust SEs treat the estimated weights as known.

#' Propensity-score weighted survival analysis
#'
#' From an `rwe_ps` object and the follow-up columns, estimates in one call:
#' * weighted Kaplan-Meier curves per arm ([km_fit_matrix()] with the weights and the robust
#'   (infinitesimal-jackknife) standard error, as `survfit(..., weights =, robust = TRUE)`);
#' * a weighted log-rank test (see below);
#' * the hazard ratio, treated versus untreated, of a Cox model of the arm alone with the
#'   weights and the robust sandwich variance ([cox_fit()] with `robust = TRUE`, as
#'   `coxph(..., weights =, robust = TRUE)`), with the crude (unweighted) hazard ratio for
#'   comparison;
#' * the restricted mean survival time of each weighted curve up to `tau` and their
#'   difference;
#' * adjusted survival at `times`: by IPW (the weighted Kaplan-Meier curves) and by the
#'   g-formula ([cox_marginal_curve()]: an unweighted Cox model of the arm and the score
#'   model's covariates, averaged over the analysed patients with everyone set to each arm),
#'   with treated-minus-untreated differences. The g-formula averages over all analysed
#'   patients for the ATE and the ATO, over the treated ones for the ATT; for the ATO it
#'   therefore targets the whole analysed cohort, not the overlap population of the
#'   weighted estimates, and the two sets of curves answer different questions.
#'
#' **Confidence intervals.** The robust Wald interval of the hazard ratio is reported as
#' `coxph()` would, but it treats the weights as known. The honest default is the
#' nonparametric bootstrap of the whole pipeline: `bootstrap` times, the rows of the
#' original data are resampled with replacement, the propensity model is refitted with the
#' same settings (estimand, stabilisation, trimming, truncation), and every estimate is
#' recomputed; intervals are bootstrap percentiles and `std.error` the bootstrap SD
#' (`tau` and `times` are kept fixed). Replicates in which the score model fails (e.g.
#' separation in a small resample) are dropped and counted in `failed`. Set `seed` for
#' reproducible intervals (the global random state is restored afterwards).
#'
#' The weighted log-rank test is the score test of the weighted Cox model at a hazard ratio
#' of 1 with the robust (sandwich) variance of the score, the robust score test that
#' `summary(coxph(..., weights = , robust = TRUE))` reports (`survival::survdiff()` takes no
#' weights); like the robust Wald interval it treats the weights as known.
#'
#' @param ps An `rwe_ps` object from [ps_weights()].
#' @param time,status Names of the follow-up time and event (0/1, logical, or 1/2) columns
#'   of the data given to [ps_weights()].
#' @param times Times for the adjusted survival curves; default `tau * (1:4) / 4`.
#' @param tau RMST truncation time; default the smaller of the two arms' largest follow-up
#'   times.
#' @param gformula Whether to fit the outcome model and give g-formula curves.
#' @param bootstrap Number of bootstrap replicates (0 for none).
#' @param seed Optional random seed for the bootstrap.
#' @param conf.level Confidence level of all intervals.
#' @return An object of class `rwe_ps_survival`, a list with
#'   * `hr`: data frame with rows `crude` and `weighted`: `estimate` (hazard ratio),
#'     `log_hr`, `std.error` (model-based for crude, robust for weighted, of the log HR),
#'     `conf.low`, `conf.high` (Wald), `p.value`, `boot.conf.low`, `boot.conf.high`,
#'     `boot.std.error` (bootstrap, weighted row only);
#'   * `logrank`: the weighted log-rank test: `test`, `statistic` (chi-square), `df`,
#'     `p.value`;
#'   * `rmst`: rows for each arm and the difference (treated minus untreated): `estimate`,
#'     `std.error`, `conf.low`, `conf.high` (bootstrap);
#'   * `curves`: `method` (`"IPW"`, `"g-formula"`), `arm`, `time`, `estimate`, `std.error`,
#'     `conf.low`, `conf.high` (bootstrap); `differences`: the same by method and time for
#'     treated minus untreated;
#'   * `km` (the weighted `rwe_km`), `cox` (the weighted `rwe_cox`), `crude` (the unweighted
#'     `rwe_cox`), `outcome_model` (the g-formula `rwe_cox`, or `NULL`), `tau`, `times`,
#'     `bootstrap`, `seed`, `failed`, `conf.level`, `replicates` (the bootstrap matrix), `ps`.
#' @examples
#' rott <- survival::rotterdam
#' rott$rfs <- pmax(rott$recur, rott$death)
#' rott$rfstime <- ifelse(rott$recur == 1, rott$rtime, rott$dtime)
#' ps <- ps_weights(rott, "chemo", ~ age + meno + size + grade + nodes + pgr + er)
#' res <- ps_survival(ps, "rfstime", "rfs", times = c(1826, 3652), bootstrap = 20, seed = 1)
#' res
#' @export
ps_survival <- function(ps, time, status, times = NULL, tau = NULL, gformula = TRUE,
                        bootstrap = 200, seed = NULL, conf.level = 0.95) {
  check_rwe_ps(ps)
  check_column_name(time, ps$input)
  check_column_name(status, ps$input)
  check_flag(gformula)
  check_conf_level(conf.level)
  check_bootstrap_args(bootstrap, seed)
  outcome <- ps_outcome(ps$input, time, status)
  d <- ps_analysis_data(ps, outcome$time[ps$rows], outcome$status[ps$rows])
  tau <- ps_tau(tau, d)
  times <- times %||% (tau * (1:4) / 4)
  check_curve_times(times, rlang::current_env())
  est <- ps_estimates(ps, d, times, tau, gformula, robust = TRUE)
  boot <- ps_bootstrap(ps, outcome, times, tau, gformula, bootstrap, seed)
  ps_survival_result(est, boot, ps, times, tau, bootstrap, seed, conf.level)
}

# Time and 0/1 status of every row of the input data, validated once.
ps_outcome <- function(data, time, status, call = rlang::caller_env()) {
  t <- check_numeric_vector(data[[time]], "time", finite = FALSE, call = call)
  check_times(t, NULL, arg = "time", call = call)
  list(time = t, status = check_status(data[[status]], length(t), call = call))
}

# The analysed rows with the outcome, the arm, the weights and the score-model covariates
# under their own names (for the outcome model's formula).
ps_analysis_data <- function(ps, time, status) {
  d <- ps$data[ps$covariates]
  d$.time <- time
  d$.status <- status
  d$.arm <- ps$arm
  d$.w <- ps$weights
  d
}

ps_tau <- function(tau, d, call = rlang::caller_env()) {
  last <- vapply(split(d$.time, d$.arm), max, numeric(1))
  if (is.null(tau)) return(min(last))
  check_number(tau, min = 0, exclusive = TRUE, call = call)
  if (tau > min(last)) {
    cli::cli_abort("{.arg tau} = {tau} is beyond the largest follow-up time of an arm ({min(last)}).",
                   call = call, class = "rwe_bad_input")
  }
  tau
}

# Every estimate of one data set: the fits and a named vector of the statistics that the
# bootstrap resamples.
ps_estimates <- function(ps, d, times, tau, gformula, robust) {
  km <- km_fit_matrix(d$.time, d$.status, group = d$.arm, weights = d$.w, robust = robust)
  cox <- cox_fit(survival::Surv(.time, .status) ~ .arm, data = d, weights = d$.w,
                 robust = robust, x = FALSE)
  rm <- km_rmean(km, tau = tau)$rmean
  ipw <- km_surv_at(km, times)
  stats <- c(log_hr = unname(cox$coefficients), rmst_0 = rm[1L], rmst_1 = rm[2L],
             rmst_diff = rm[2L] - rm[1L], curve_stats("ipw", ipw, times))
  outcome_model <- NULL
  if (gformula) {
    rhs <- paste(deparse(ps$formula[[2L]], width.cutoff = 500L), collapse = " ")
    f <- stats::as.formula(paste("survival::Surv(.time, .status) ~ .arm +", rhs),
                           env = environment(ps$formula))
    # f lives in the user's environment, d here: keep the model frame, from which methods
    # rebuild the model matrix (re-evaluating `data = d` in f's environment would fail).
    outcome_model <- cox_fit(f, data = d, model = TRUE)
    # The g-formula standardises to the estimand's population where it is a set of
    # patients: everyone for the ATE, the treated for the ATT (see the documentation, ATO).
    target <- if (ps$settings$estimand == "ATT") d[d$.arm == ps$levels[2L], , drop = FALSE] else d
    g <- cox_marginal_curve(outcome_model, target, by = ".arm", times = times, bootstrap = 0)
    stats <- c(stats, curve_stats("gf", matrix(g$estimate, ncol = 2L), times))
  }
  crude <- if (robust) cox_fit(survival::Surv(.time, .status) ~ .arm, data = d, x = FALSE)
  logrank <- if (robust) weighted_logrank(d)
  list(km = km, cox = cox, crude = crude, logrank = logrank, outcome_model = outcome_model,
       stats = stats)
}

# Weighted log-rank test: the score test of the weighted Cox model at beta = 0 with the
# sandwich variance of the score, B = I V I (V the robust variance, I the information), as
# coxph(..., robust = TRUE) reports it (`rscore`). The naive score test would treat the
# weights as frequencies.
weighted_logrank <- function(d) {
  f0 <- cox_fit(survival::Surv(.time, .status) ~ .arm, data = d, weights = d$.w, robust = TRUE,
                init = 0, control = cox_control(iter.max = 0), x = FALSE)
  info <- solve(f0$naive.var)
  u <- f0$score
  statistic <- drop(u %*% solve(info %*% f0$var %*% info) %*% u)
  data.frame(test = "weighted log-rank (robust score)", statistic = statistic, df = 1,
             p.value = stats::pchisq(statistic, 1, lower.tail = FALSE))
}

# A times x 2 matrix of curves (untreated, treated) and their difference as named statistics.
curve_stats <- function(prefix, m, times) {
  c(stats::setNames(c(m), curve_names(prefix, times)),
    stats::setNames(m[, 2L] - m[, 1L], paste(prefix, "d", seq_along(times), sep = "_")))
}

# Names "<prefix>_<arm>_<time index>" of a times x arms block, arm-major as the curves.
curve_names <- function(prefix, times) {
  paste(prefix, rep(0:1, each = length(times)), seq_along(times), sep = "_")
}

# Kaplan-Meier survival of each curve at `times` (right-continuous step, 1 before the first
# time): a times x curves matrix.
km_surv_at <- function(km, times) {
  rows <- km_strata_rows(km)
  matrix(vapply(rows, function(r) {
    at <- findInterval(times, km$curves$time[r])
    c(1, km$curves$surv[r])[at + 1L]
  }, numeric(length(times))), nrow = length(times))
}

ps_bootstrap <- function(ps, outcome, times, tau, gformula, bootstrap, seed) {
  if (!bootstrap) return(list(values = NULL, failed = 0L))
  n <- nrow(ps$input)
  failed <- 0L
  one <- function() {
    idx <- sample.int(n, n, replace = TRUE)
    # A resample the pipeline refuses (separation in the score model, an arm without events)
    # is a failed replicate. A refit on a monotone likelihood is kept, as in
    # cox_marginal_curve(), and its warning, repeated per replicate, muffled.
    tryCatch(withCallingHandlers({
      rep_ps <- ps_estimate(ps$input[idx, , drop = FALSE], ps$settings)
      rows <- idx[rep_ps$rows]
      d <- ps_analysis_data(rep_ps, outcome$time[rows], outcome$status[rows])
      ps_estimates(rep_ps, d, times, tau, gformula, robust = FALSE)$stats
    }, rwe_cox_not_converged = function(w) invokeRestart("muffleWarning"),
       rwe_cox_diverged = function(w) invokeRestart("muffleWarning")),
    rwe_bad_input = function(e) {
      failed <<- failed + 1L
      NULL
    })
  }
  values <- with_seed(seed, lapply(seq_len(bootstrap), function(b) one()))
  list(values = do.call(rbind, values), failed = failed)
}

ps_survival_result <- function(est, boot, ps, times, tau, bootstrap, seed, conf.level) {
  v <- boot$values
  a <- (1 - conf.level) / 2
  boot_summary <- function(names) {
    one <- function(f) vapply(names, function(nm) if (is.null(v)) NA_real_ else f(v[, nm]),
                              numeric(1), USE.NAMES = FALSE)
    data.frame(estimate = unname(est$stats[names]),
               std.error = one(function(x) stats::sd(x, na.rm = TRUE)),
               conf.low = one(function(x) stats::quantile(x, a, na.rm = TRUE, names = FALSE)),
               conf.high = one(function(x) stats::quantile(x, 1 - a, na.rm = TRUE,
                                                           names = FALSE)))
  }
  lev <- ps$levels
  log_hr <- boot_summary("log_hr")
  hr <- rbind(hr_row("crude", est$crude, conf.level, NULL),
              hr_row("weighted", est$cox, conf.level, log_hr))
  rmst <- cbind(term = c(paste0("rmst_", lev), "difference"), tau = tau,
                boot_summary(c("rmst_0", "rmst_1", "rmst_diff")))
  methods <- c(ipw = "IPW", gf = "g-formula")[c(TRUE, !is.null(est$outcome_model))]
  curves <- do.call(rbind, lapply(names(methods), function(m) {
    cbind(method = methods[[m]], arm = factor(rep(lev, each = length(times)), levels = lev),
          time = rep(times, 2L), boot_summary(curve_names(m, times)))
  }))
  differences <- do.call(rbind, lapply(names(methods), function(m) {
    cbind(method = methods[[m]], time = times,
          boot_summary(paste(m, "d", seq_along(times), sep = "_")))
  }))
  rownames(curves) <- rownames(differences) <- NULL
  structure(list(hr = hr, rmst = rmst, curves = curves, differences = differences,
                 logrank = est$logrank, km = est$km, cox = est$cox, crude = est$crude,
                 outcome_model = est$outcome_model, tau = tau, times = times,
                 bootstrap = bootstrap, seed = seed, failed = boot$failed,
                 conf.level = conf.level, replicates = v, ps = ps),
            class = "rwe_ps_survival")
}

# One row of the hazard-ratio table: Wald limits from the fit's variance (robust when the
# fit has it), bootstrap limits of the log HR when given.
hr_row <- function(term, fit, conf.level, boot) {
  b <- unname(fit$coefficients)
  se <- sqrt(fit$var[1L, 1L])
  z <- stats::qnorm(1 - (1 - conf.level) / 2)
  data.frame(term = term, estimate = exp(b), log_hr = b, std.error = se,
             conf.low = exp(b - z * se), conf.high = exp(b + z * se),
             p.value = 2 * stats::pnorm(-abs(b / se)),
             boot.conf.low = if (is.null(boot)) NA_real_ else exp(boot$conf.low),
             boot.conf.high = if (is.null(boot)) NA_real_ else exp(boot$conf.high),
             boot.std.error = if (is.null(boot)) NA_real_ else boot$std.error)
}

#' @export
print.rwe_ps_survival <- function(x, digits = 3, ...) {
  lev <- x$ps$levels
  cat("Propensity-score weighted survival (", x$ps$settings$estimand, "): ", lev[2L],
      " vs ", lev[1L], "\n", sep = "")
  cat("Bootstrap: ", x$bootstrap, " replicates of the whole pipeline",
      if (x$failed) paste0(" (", x$failed, " failed, dropped)"),
      if (!is.null(x$seed)) paste0(", seed ", x$seed), "\n\nHazard ratio:\n", sep = "")
  print_rounded(x$hr, digits)
  cat("\n")
  print_rounded(x$logrank, digits)
  cat("\nRMST up to ", format(x$tau), ":\n", sep = "")
  print_rounded(x$rmst, digits)
  cat("\nAdjusted survival differences (", lev[2L], " - ", lev[1L], "):\n", sep = "")
  print_rounded(x$differences, digits)
  invisible(x)
}

#' @export
tidy.rwe_ps_survival <- function(x, what = c("hr", "logrank", "rmst", "curves", "differences"),
                                ...) {
  what <- match_choice(what, c("hr", "logrank", "rmst", "curves", "differences"), "what")
  x[[what]]
}

#' Plot adjusted survival curves
#'
#' The weighted (IPW) Kaplan-Meier curve of each arm as a step line with its robust
#' pointwise band, and the g-formula survival at the requested `times` as points with their
#' bootstrap intervals.
#'
#' @param x An `rwe_ps_survival` object from [ps_survival()].
#' @param conf.band Whether to draw the weighted curves' confidence bands.
#' @param xlab,ylab Axis labels.
#' @param ... Unused.
#' @return A ggplot object.
#' @examples
#' rott <- survival::rotterdam
#' rott$rfs <- pmax(rott$recur, rott$death)
#' rott$rfstime <- ifelse(rott$recur == 1, rott$rtime, rott$dtime)
#' ps <- ps_weights(rott, "chemo", ~ age + meno + size + grade + nodes + pgr + er)
#' res <- ps_survival(ps, "rfstime", "rfs", bootstrap = 0)
#' if (requireNamespace("ggplot2", quietly = TRUE)) plot(res)
#' @export
plot.rwe_ps_survival <- function(x, conf.band = TRUE, xlab = "Time", ylab = "Survival", ...) {
  rlang::check_installed("ggplot2", reason = "to plot adjusted curves.")
  lev <- x$ps$levels
  cv <- x$km$curves
  arm <- factor(lev[cv$stratum], levels = lev)
  # Start every curve at (0, 1) so the steps begin at the origin.
  km <- rbind(data.frame(arm = factor(lev, levels = lev), time = 0, surv = 1, lower = 1,
                         upper = 1),
              data.frame(arm = arm, time = cv$time, surv = cv$surv, lower = cv$lower,
                         upper = cv$upper))
  km <- km[order(km$arm, km$time), ]
  aes <- ggplot2::aes
  p <- ggplot2::ggplot(km, aes(x = .data$time, y = .data$surv, colour = .data$arm))
  if (conf.band) {
    band <- km_step_ribbon(data.frame(curve = km$arm, time = km$time, lower = km$lower,
                                      upper = km$upper))
    p <- p + ggplot2::geom_ribbon(data = band, aes(x = .data$time, ymin = .data$lower,
                                                   ymax = .data$upper, fill = .data$curve),
                                  inherit.aes = FALSE, alpha = 0.15) +
      ggplot2::guides(fill = "none")
  }
  p <- p + ggplot2::geom_step(direction = "hv", linewidth = 0.7)
  gf <- x$curves[x$curves$method == "g-formula", ]
  if (nrow(gf)) {
    p <- p + ggplot2::geom_pointrange(
      data = gf, aes(x = .data$time, y = .data$estimate, ymin = .data$conf.low,
                     ymax = .data$conf.high, colour = .data$arm),
      position = ggplot2::position_dodge(width = diff(range(km$time)) / 50), shape = 1)
  }
  p + ggplot2::coord_cartesian(ylim = c(0, 1)) +
    ggplot2::labs(x = xlab, y = ylab, colour = x$ps$treatment,
                  title = "Adjusted survival: IPW Kaplan-Meier (lines), g-formula (points)") +
    ggplot2::theme_minimal()
}
