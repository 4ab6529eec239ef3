# Sensitivity of a hazard ratio to unmeasured confounding: the E-value of VanderWeele and
# Ding (2017), with the hazard ratio taken as a risk ratio for a rare outcome or converted by
# their square-root approximation for a common one; ps_sensitivity() adds the count of
# patients whose weights are extreme, the other usual fragility of a weighted analysis.

#' E-value for a hazard ratio
#'
#' The E-value is the minimum strength of association, on the risk-ratio scale, that an
#' unmeasured confounder would need to have with both the treatment and the outcome to
#' explain away the observed association (VanderWeele & Ding 2017). For a risk ratio
#' \eqn{RR > 1}, \eqn{E = RR + \sqrt{RR (RR - 1)}}; a ratio below 1 is inverted first.
#'
#' A hazard ratio is converted to a risk ratio first:
#' * `rare = TRUE` (outcome rare, below about 15% by the end of follow-up): \eqn{RR = HR};
#' * `rare = FALSE` (common outcome): \eqn{RR = (1 - 0.5^{\sqrt{HR}}) / (1 - 0.5^{\sqrt{1/HR}})}.
#'
#' The E-value of the confidence interval is that of the limit closest to 1 (1 when the
#' interval contains 1): the confounding needed to move the interval to include the null.
#'
#' @param estimate Hazard ratio (positive).
#' @param conf.low,conf.high Optional confidence limits of the hazard ratio.
#' @param rare Whether the outcome is rare (see above).
#' @return A data frame with one row: `hr`, `rr` (the risk ratio used), `e_value`,
#'   `conf.low`, `conf.high` (the hazard-ratio limits), `e_value_ci` (`NA` without limits),
#'   `rare`.
#' @references VanderWeele TJ, Ding P (2017). Sensitivity analysis in observational
#'   research: introducing the E-value. Ann Intern Med 167:268-274.
#' @examples
#' e_value(0.8, 0.68, 0.94)
#' e_value(0.8, 0.68, 0.94, rare = FALSE)
#' @export
e_value <- function(estimate, conf.low = NA, conf.high = NA, rare = TRUE) {
  for (arg in c("estimate", "conf.low", "conf.high")) {
    v <- get(arg)
    if (!is.numeric(v) && !(is.logical(v) && is.na(v)) || length(v) != 1L ||
        (arg == "estimate" && is.na(v)) || (!is.na(v) && (!is.finite(v) || v <= 0))) {
      cli::cli_abort("{.arg {arg}} must be a single positive hazard ratio.",
                     class = "rwe_bad_input")
    }
  }
  check_flag(rare)
  if (!is.na(conf.low) && !is.na(conf.high) &&
      !(conf.low <= estimate && estimate <= conf.high)) {
    cli::cli_abort("The limits must satisfy {.arg conf.low} <= {.arg estimate} <= {.arg conf.high}.",
                   class = "rwe_bad_input")
  }
  to_rr <- function(hr) if (rare) hr else (1 - 0.5^sqrt(hr)) / (1 - 0.5^sqrt(1 / hr))
  rr <- to_rr(estimate)
  # The limit nearest the null: the lower one above 1, the upper one below 1.
  limit <- if (estimate >= 1) conf.low else conf.high
  e_ci <- if (is.na(limit)) NA_real_ else
    if ((estimate >= 1 && limit <= 1) || (estimate < 1 && limit >= 1)) 1 else
      e_value_rr(to_rr(limit))
  data.frame(hr = estimate, rr = rr, e_value = e_value_rr(rr), conf.low = conf.low,
             conf.high = conf.high, e_value_ci = e_ci, rare = rare)
}

e_value_rr <- function(rr) {
  if (rr < 1) rr <- 1 / rr
  rr + sqrt(rr * (rr - 1))
}

#' Sensitivity summary of a weighted survival comparison
#'
#' The E-values of the weighted hazard ratio of [ps_survival()] (point estimate and the
#' bootstrap interval, or the robust Wald interval without bootstrap), see [e_value()], and
#' the number of patients per arm whose weights exceed the `extreme` threshold of
#' [ps_weights()].
#'
#' @param x An `rwe_ps_survival` object.
#' @param rare Whether the outcome is rare (see [e_value()]).
#' @return A list of class `rwe_ps_sensitivity`: `e_value` (the [e_value()] row, with
#'   `interval` naming the interval used), `extreme` (per arm: `arm`, `n`, `n_extreme`,
#'   `max_weight`), `threshold`.
#' @examples
#' rott <- survival::rotterdam
#' rott$rfs <- pmax(rott$recur, rott$death)
#' rott$rfstime <- ifelse(rott$recur == 1, rott$rtime, rott$dtime)
#' ps <- ps_weights(rott, "chemo", ~ age + meno + size + grade + nodes + pgr + er)
#' res <- ps_survival(ps, "rfstime", "rfs", bootstrap = 20, seed = 1, gformula = FALSE)
#' ps_sensitivity(res, rare = FALSE)
#' @export
ps_sensitivity <- function(x, rare = TRUE) {
  check_inherits(x, "rwe_ps_survival", what = "an {.cls rwe_ps_survival} object from {.fn ps_survival}")
  w <- x$hr[x$hr$term == "weighted", ]
  boot <- !is.na(w$boot.conf.low)
  ev <- e_value(w$estimate, if (boot) w$boot.conf.low else w$conf.low,
                if (boot) w$boot.conf.high else w$conf.high, rare = rare)
  ev$interval <- if (boot) "bootstrap" else "robust Wald"
  diag <- x$ps$diagnostics
  structure(list(e_value = ev,
                 extreme = data.frame(arm = diag$arm, n = diag$n, n_extreme = diag$n_extreme,
                                      max_weight = diag$max),
                 threshold = x$ps$settings$extreme),
            class = "rwe_ps_sensitivity")
}

#' @export
print.rwe_ps_sensitivity <- function(x, digits = 3, ...) {
  ev <- x$e_value
  cat("E-value (", if (ev$rare) "rare outcome: RR = HR" else "common outcome: HR converted to RR",
      ")\n", sep = "")
  cat("  HR ", format(signif(ev$hr, digits)), " (", ev$interval, " CI ",
      format(signif(ev$conf.low, digits)), "-", format(signif(ev$conf.high, digits)), ")\n",
      sep = "")
  cat("  E-value: ", format(signif(ev$e_value, digits)), "; for the CI limit closest to 1: ",
      format(signif(ev$e_value_ci, digits)), "\n", sep = "")
  cat("Patients with weights above ", x$threshold, ":\n", sep = "")
  print_rounded(x$extreme, digits)
  invisible(x)
}
