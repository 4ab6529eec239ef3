# Restricted mean survival time (RMST) per group and, for two groups, its difference and
# ratio (Uno et al. 2014; Royston & Parmar 2013). The per-group areas and Greenwood-type
# variances come from km_rmean() (the numbers of print(survfit, rmean = tau)); the contrasts
# treat the groups as independent: var(difference) = var1 + var0, and the ratio by the delta
# method on the log scale, as survRM2::rmst2() does.

#' Restricted mean survival time
#'
#' The area under the Kaplan-Meier curve of each group up to `tau`: the expected survival time
#' restricted to `tau`, with its standard error (the Greenwood-type variance of
#' `print(survival::survfit(...), rmean = tau)`) and normal confidence limits. With exactly
#' two groups, also the difference (second group minus first) and the ratio (second over first)
#' with confidence limits and Wald p-values, as [survRM2::rmst2()] reports them (the ratio's
#' interval and test on the log scale).
#'
#' @param formula A formula `Surv(time, status) ~ group` (or `~ 1` for one group).
#' @param data A data frame holding the variables of `formula`.
#' @param tau Truncation time. Default: the smallest, over groups, of the largest observed
#'   time (event or censoring) of the group.
#' @param conf.level Confidence level of the intervals.
#' @param extend If `FALSE` (default), a `tau` beyond the largest observed time of a group
#'   whose curve has not dropped to zero is an error (the curve is unknown there); `TRUE`
#'   carries the last value of the curve forward to `tau`.
#' @param subset Optional expression selecting rows of `data`.
#' @param na.action Function handling missing values (default: `getOption("na.action")`).
#' @param weights Optional non-negative case weights (evaluated in `data`): the areas and
#'   their variances are those of the weighted Kaplan-Meier curves, as
#'   `print(survfit(..., weights = ), rmean = tau)` reports them.
#' @param conf.int Deprecated name of `conf.level` (a warning of class `rwe_deprecated`).
#' @return An object of class `rwe_rmst`: `groups` (data frame, one row per group: the
#'   grouping columns, `n` (records), `nevent` (events, weighted with `weights`), `tau`, `rmst`, `std.error`, `conf.low`, `conf.high`),
#'   `contrasts` (two groups only, else `NULL`: a data frame with rows `difference` and
#'   `ratio`, columns `contrast`, `estimate`, `std.error` (of the difference; of the log
#'   ratio), `conf.low`, `conf.high`, `statistic` (z), `p.value`), `tau`, `conf.level`,
#'   `group_label`, `call`.
#' @references Uno H, Claggett B, Tian L, et al. (2014). Moving beyond the hazard ratio in
#'   quantifying the between-group difference in survival analysis. J Clin Oncol
#'   32:2380-2385.
#' @examples
#' library(survival)
#' rmst(Surv(time, status) ~ sex, data = lung, tau = 365)
#' generics::tidy(rmst(Surv(futime, fustat) ~ rx, data = ovarian))
#' @export
rmst <- function(formula, data, tau = NULL, conf.level = 0.95, extend = FALSE, subset,
                 na.action, weights, conf.int = NULL) {
  conf.level <- deprecated_conf_int(conf.int, conf.level, !missing(conf.level))
  check_flag(extend)
  mc <- match.call()
  mf <- surv_model_frame(mc, parent.frame())
  parts <- surv_parts(mf)
  refuse_cluster_offset(mf, "rmst")
  if (parts$counting) {
    cli::cli_abort("{.arg formula}: {.fn rmst} takes right-censored {.code Surv(time, status)} data only.",
                   class = "rwe_bad_input")
  }
  if (length(attr(stats::terms(mf), "specials")$strata)) {
    cli::cli_abort("{.arg formula}: {.fn strata} terms are not supported by {.fn rmst}; use the grouping variables directly.",
                   class = "rwe_bad_input")
  }
  groups <- rhs_groups(mf, include_strata = FALSE)
  weighted <- !is.null(stats::model.weights(mf))
  km <- km_fit_matrix(parts$time, parts$status,
                      group = if (ncol(groups$table)) groups$table[groups$codes, , drop = FALSE],
                      weights = if (weighted) parts$weights)
  tau <- rmst_tau(tau, km, extend)
  per_group <- km_rmean(km, tau = tau, conf.level = conf.level)
  per_group <- cbind(per_group[names(km$strata)],
                     n = tabulate(groups$codes, nbins = nrow(groups$table)),
                     nevent = as.numeric(rowsum(parts$status * parts$weights, groups$codes)[, 1L]),
                     per_group[c("tau", "rmean", "std.error", "conf.low", "conf.high")])
  names(per_group)[names(per_group) == "rmean"] <- "rmst"
  new_rwe_rmst(per_group, tau = tau, conf.level = conf.level, group_label = groups$label,
               call = mc)
}

# The default and the check of tau: a curve is known up to its group's largest time, and
# beyond it only when it has reached zero.
rmst_tau <- function(tau, km, extend, call = rlang::caller_env()) {
  rows <- km_strata_rows(km)
  cv <- km$curves
  last <- vapply(rows, function(r) max(cv$time[r]), numeric(1))
  at_zero <- vapply(rows, function(r) min(cv$surv[r]) == 0, logical(1))
  if (is.null(tau)) return(min(last))
  check_number(tau, min = 0, exclusive = TRUE, call = call)
  beyond <- tau > last & !at_zero
  if (any(beyond) && !extend) {
    cli::cli_abort(c("{.arg tau} = {tau} is beyond the largest observed time of {sum(beyond)} group{?s} whose curve{?s} {?has/have} not reached zero.",
                     "i" = "Largest times: {format(last[beyond])}. Choose {.arg tau} <= {format(min(last[beyond]))}, or set {.code extend = TRUE}."),
                   call = call, class = "rwe_bad_input")
  }
  tau
}

new_rwe_rmst <- function(groups, tau, conf.level, group_label, call) {
  contrasts <- if (nrow(groups) == 2L) rmst_contrasts(groups, conf.level) else NULL
  structure(list(groups = groups, contrasts = contrasts, tau = tau, conf.level = conf.level,
                 group_label = group_label, call = call),
            class = "rwe_rmst")
}

# sqrt(a^2 + b^2) without overflow or underflow of the squares.
root_sum_squares <- function(a, b) {
  top <- max(abs(a), abs(b))
  if (!is.finite(top) || top == 0) return(sqrt(a^2 + b^2))
  top * sqrt((a / top)^2 + (b / top)^2)
}

# Second group against the first: difference and ratio (log scale), independent groups.
rmst_contrasts <- function(groups, conf.level) {
  z <- stats::qnorm(1 - (1 - conf.level) / 2)
  m <- groups$rmst
  se <- groups$std.error
  diff_est <- m[2L] - m[1L]
  diff_se <- root_sum_squares(se[1L], se[2L])  # no overflow for times at 1e160
  log_ratio <- log(m[2L] / m[1L])
  ratio_se <- root_sum_squares(se[2L] / m[2L], se[1L] / m[1L])
  zd <- diff_est / diff_se
  zr <- log_ratio / ratio_se
  data.frame(contrast = c("difference", "ratio"),
             estimate = c(diff_est, exp(log_ratio)), std.error = c(diff_se, ratio_se),
             conf.low = c(diff_est - z * diff_se, exp(log_ratio - z * ratio_se)),
             conf.high = c(diff_est + z * diff_se, exp(log_ratio + z * ratio_se)),
             statistic = c(zd, zr), p.value = 2 * stats::pnorm(-abs(c(zd, zr))),
             stringsAsFactors = FALSE)
}

#' @export
print.rwe_rmst <- function(x, digits = 4, ...) {
  check_dots_empty_bad(...)
  cat("Restricted mean survival time up to tau = ", format(x$tau), "\n\n", sep = "")
  g <- x$groups
  num <- c("rmst", "std.error", "conf.low", "conf.high")
  g[num] <- lapply(g[num], signif, digits = digits)
  print(g, row.names = FALSE)
  if (!is.null(x$contrasts)) {
    cat("\n", x$group_label[2L], " vs ", x$group_label[1L], " (", format(100 * x$conf.level),
        "% CI; ratio's SE on the log scale):\n", sep = "")
    ct <- x$contrasts
    ct[-1L] <- lapply(ct[-1L], signif, digits = digits)
    print(ct, row.names = FALSE)
  }
  invisible(x)
}

#' Tidy a restricted mean survival time result
#'
#' @param x An `rwe_rmst` object from [rmst()].
#' @param what `"groups"` (one row per group, the grouping variables as columns: `n`,
#'   `nevent`, `tau`, `rmst` as `estimate`, `std.error`, `conf.low`, `conf.high`) or
#'   `"contrasts"` (difference and ratio, two groups only).
#' @param ... Must be empty (an unknown argument is an error, not ignored).
#' @return A data frame.
#' @examples
#' fit <- rmst(survival::Surv(time, status) ~ sex, data = survival::lung, tau = 365)
#' generics::tidy(fit)
#' generics::tidy(fit, what = "contrasts")
#' @export
tidy.rwe_rmst <- function(x, what = c("groups", "contrasts"), ...) {
  check_dots_empty_bad(...)
  what <- match_choice(what, c("groups", "contrasts"))
  if (what == "contrasts") return(x$contrasts)
  out <- x$groups
  names(out)[names(out) == "rmst"] <- "estimate"
  out
}

#' Glance at a restricted mean survival time result
#'
#' @param x An `rwe_rmst` object from [rmst()].
#' @param ... Must be empty (an unknown argument is an error, not ignored).
#' @return A one-row data frame: `tau`, `n_groups`, `n`, `nevent`, and for two groups the
#'   `difference` with its `p.value.difference`, and the `ratio` with `p.value.ratio`
#'   (otherwise `NA`).
#' @examples
#' generics::glance(rmst(survival::Surv(time, status) ~ sex, data = survival::lung, tau = 365))
#' @export
glance.rwe_rmst <- function(x, ...) {
  check_dots_empty_bad(...)
  ct <- x$contrasts
  pick <- function(row, col) if (is.null(ct)) NA_real_ else ct[[col]][row]
  data.frame(tau = x$tau, n_groups = nrow(x$groups), n = sum(x$groups$n),
             nevent = sum(x$groups$nevent), difference = pick(1L, "estimate"),
             p.value.difference = pick(1L, "p.value"), ratio = pick(2L, "estimate"),
             p.value.ratio = pick(2L, "p.value"))
}
