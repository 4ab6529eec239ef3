# Accuracy report of reconstruct_ipd(): the reconstructed Kaplan-Meier curve (km_fit_matrix())
# against the input curve, numbers at risk, events and medians, and a ggplot overlay.

# Builds the report stored in attr(ipd, "report").
ipd_accuracy <- function(ipd, points, at_risk, events) {
  arms <- levels(ipd$arm)
  fit <- km_fit_matrix(ipd$time, ipd$status, group = ipd$arm)
  rows <- km_strata_rows(fit)
  per_arm <- lapply(seq_along(arms), function(a) {
    cv <- fit$curves[rows[[a]], , drop = FALSE]
    pts <- points[points$arm == arms[a], , drop = FALSE]
    risk <- at_risk[at_risk$arm == arms[a], , drop = FALSE]
    list(summary = data.frame(
           arm = arms[a], n = sum(ipd$arm == arms[a]),
           events = sum(ipd$status[ipd$arm == arms[a]]),
           events_given = if (is.null(events)) NA_real_ else events[a],
           max_abs_dS = max(ipd_step_distance(cv$time, cv$surv, pts$time, pts$surv)),
           median = ipd_median(cv$time, cv$surv),
           median_input = ipd_median(pts$time, pts$surv),
           max_abs_dn = max(abs(ipd_n_risk(ipd$time[ipd$arm == arms[a]], risk$time) -
                                  risk$n.risk))),
         risk = data.frame(arm = arms[a], time = risk$time, n.risk_given = risk$n.risk,
                           n.risk_reconstructed = ipd_n_risk(ipd$time[ipd$arm == arms[a]],
                                                             risk$time)))
  })
  structure(list(summary = do.call(rbind, lapply(per_arm, `[[`, "summary")),
                 at_risk = do.call(rbind, lapply(per_arm, `[[`, "risk")),
                 fit = fit),
            class = "rwe_ipd_report")
}

# Vertical distance of each input point (t, s) to the reconstructed step curve as drawn: 0
# when s lies on the curve's vertical segment at t, between S(t) and S(t-) (clicks along a
# drop, top and bottom included), else the distance to the nearer end.
ipd_step_distance <- function(km_time, km_surv, t, s) {
  at <- c(1, km_surv)[findInterval(t, km_time) + 1L]
  before <- c(1, km_surv)[findInterval(t, km_time, left.open = TRUE) + 1L]
  pmax(at - s, s - before, 0)
}

# Number at risk (time >= t) at each t.
ipd_n_risk <- function(time, t) length(time) - findInterval(t, sort(time), left.open = TRUE)

# The first time the step curve is at or below 0.5 (NA if never), as km_median().
ipd_median <- function(time, surv) {
  hit <- which(surv <= 0.5 + sqrt(.Machine$double.eps))
  if (length(hit)) time[hit[1L]] else NA_real_
}

#' Accuracy report of a reconstruction
#'
#' The report [reconstruct_ipd()] stores with its result: per arm, the number of patients and
#' events (and the `total_events` given), the largest distance between the reconstructed
#' Kaplan-Meier curve ([km_fit()]) and the cleaned input points (`max_abs_dS`: at each input
#' time, the distance to the nearer end of the curve's step there), the reconstructed and
#' the input median, and the largest difference between reconstructed and published
#' numbers at risk; and the numbers at risk side by side.
#'
#' @param x The result of [reconstruct_ipd()].
#' @return An object of class `rwe_ipd_report`: a list with `summary` (one row per arm),
#'   `at_risk` (given and reconstructed numbers at risk) and `fit` (the reconstructed
#'   [km_fit()] curves). It prints.
#' @examples
#' fit <- survival::survfit(survival::Surv(futime, fustat) ~ 1, data = survival::ovarian)
#' ipd <- reconstruct_ipd(data.frame(time = fit$time, surv = fit$surv),
#'                        data.frame(time = c(0, 365, 730), n.risk = c(26, 18, 10)))
#' ipd_report(ipd)
#' @export
ipd_report <- function(x) {
  if (!inherits(x, "rwe_ipd") || is.null(attr(x, "report"))) {
    cli::cli_abort("{.arg x} must be the result of {.fn reconstruct_ipd} (not a subset of it).",
                   class = "rwe_bad_input")
  }
  attr(x, "report")
}

#' @export
print.rwe_ipd_report <- function(x, ...) {
  cat("Reconstructed IPD: accuracy against the input\n")
  s <- x$summary
  s$max_abs_dS <- signif(s$max_abs_dS, 3)
  print(s, row.names = FALSE)
  cat("\nNumbers at risk (given vs reconstructed):\n")
  print(x$at_risk, row.names = FALSE)
  invisible(x)
}

#' @export
print.rwe_ipd <- function(x, ...) {
  rep <- attr(x, "report")
  if (is.null(rep)) return(print(unclass_ipd(x), ...))
  cat(sprintf("Reconstructed IPD: %d patients, %d events, %d arm(s)\n", nrow(x),
              as.integer(sum(x$status)), nlevels(x$arm)))
  print(utils::head(as.data.frame(unclass_ipd(x))), row.names = FALSE)
  if (nrow(x) > 6L) cat("...\n")
  cat("\n")
  print(rep$summary, row.names = FALSE)
  invisible(x)
}

# A subset of a reconstruction is plain data: its report would describe other patients.
#' @export
`[.rwe_ipd` <- function(x, ...) {
  out <- NextMethod()
  if (is.data.frame(out)) unclass_ipd(out) else out
}

unclass_ipd <- function(x) {
  attr(x, "report") <- NULL
  attr(x, "curve") <- NULL
  class(x) <- "data.frame"
  x
}

#' Plot a reconstruction over its input curve
#'
#' Overlays the Kaplan-Meier curves of the reconstructed patients (steps, as [km_plot()]
#' draws them) on the cleaned input points, one colour per arm.
#'
#' Requires the suggested package ggplot2.
#'
#' @param x The result of [reconstruct_ipd()].
#' @param xlab,ylab Axis titles.
#' @param title Optional plot title.
#' @return A ggplot object.
#' @examples
#' if (requireNamespace("ggplot2", quietly = TRUE)) {
#'   fit <- survival::survfit(survival::Surv(futime, fustat) ~ 1, data = survival::ovarian)
#'   ipd <- reconstruct_ipd(data.frame(time = fit$time, surv = fit$surv),
#'                          data.frame(time = c(0, 365, 730), n.risk = c(26, 18, 10)))
#'   ipd_plot(ipd)
#' }
#' @export
ipd_plot <- function(x, xlab = "Time", ylab = "Survival", title = NULL) {
  rlang::check_installed("ggplot2", reason = "to plot reconstructions.")
  rep <- ipd_report(x)
  arms <- levels(x$arm)
  curves <- km_plot_curves(rep$fit, if (length(arms) > 1L) "arm")
  if (length(arms) == 1L) curves$curve <- factor(arms, levels = arms)
  pts <- attr(x, "curve")
  colours <- km_plot_palette(NULL, max(length(arms), 2L))[seq_along(arms)]
  aes <- ggplot2::aes
  ggplot2::ggplot(curves, aes(x = .data$time, y = .data$surv, colour = .data$curve)) +
    ggplot2::geom_step(direction = "hv", linewidth = 0.6) +
    ggplot2::geom_point(data = data.frame(curve = pts$arm, time = pts$time, surv = pts$surv),
                        shape = 1, size = 1.2, alpha = 0.6) +
    ggplot2::scale_colour_manual(values = colours, name = "Arm") +
    ggplot2::coord_cartesian(ylim = c(0, 1)) +
    ggplot2::labs(x = xlab, y = ylab, title = title,
                  caption = "Lines: reconstructed IPD (Kaplan-Meier); points: input curve") +
    ggplot2::theme_classic() + ggplot2::theme(legend.position = "top")
}

#' @export
plot.rwe_ipd <- function(x, ...) ipd_plot(x, ...)
