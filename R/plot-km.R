# km_plot(): Kaplan-Meier figure (Figures 2-3) with censor marks, optional confidence band,
# median line, log-rank p and a risk table, drawn with ggplot2 and stacked with patchwork.
# All numbers come from km_fit_matrix(), summary.rwe_km() and logrank_test_matrix().

#' Kaplan-Meier plot with a risk table (Figures 2-3)
#'
#' Draws the Kaplan-Meier curves of [km_fit_matrix()] as step functions, with `+` marks at
#' censored times, optionally the pointwise confidence band (a step ribbon), a dashed line
#' at the median survival of each curve (where reached), the log-rank p-value
#' ([logrank_test_matrix()]) when there are groups, and a table of the numbers at risk at the
#' x-axis breaks ([summary.rwe_km()] with `times = breaks`) underneath.
#'
#' Requires the suggested packages ggplot2 and patchwork.
#'
#' @inheritParams survival_by
#' @param group Optional name of a grouping column (logical, character or factor; logical
#'   gives the curves "Yes" and "No"). Rows with a missing group are left out.
#' @param conf.band Draw the pointwise confidence band (log scale, 95%)?
#' @param risk_table Add the numbers-at-risk table under the plot?
#' @param median_line Draw dashed lines at S = 0.5 to each reached median?
#' @param pvalue Annotate the log-rank p-value (only with `group`)?
#' @param censor_marks Mark censored times with `+`?
#' @param xlab,ylab Axis titles. `NULL` (the default) takes the x title from the variable
#'   label of the `time` column (e.g. haven's label of an ADaM `AVAL`, or the one
#'   [surv_from_dates()] sets), else the column name, and the y title "Survival probability".
#' @param legend_title Title of the legend of the groups; `NULL` takes the variable label of
#'   the `group` column, else its name.
#' @param breaks x-axis breaks (also the times of the risk table); `NULL` chooses
#'   [pretty()] breaks from 0 to the largest time.
#' @param palette Optional vector of colours, one per curve (recycled in order).
#' @param title Optional plot title.
#' @return With `risk_table = TRUE` a patchwork object (the curves above, the risk table
#'   below); otherwise a ggplot object. Both print, and save with [ggplot2::ggsave()].
#' @examples
#' if (requireNamespace("ggplot2", quietly = TRUE) &&
#'     requireNamespace("patchwork", quietly = TRUE)) {
#'   pts <- subset(rrdtc_patients, evaluable)
#'   km_plot(pts, "pfs_months", "pfs_event", title = "Reconstructed cohort (n = 26)")
#'   km_plot(pts, "pfs_months", "pfs_event", group = "sex", breaks = seq(0, 48, 6))
#' }
#' @export
km_plot <- function(data, time, event, group = NULL, conf.band = FALSE, risk_table = TRUE,
                    median_line = TRUE, pvalue = TRUE, censor_marks = TRUE, xlab = NULL,
                    ylab = NULL, breaks = NULL, palette = NULL, title = NULL,
                    legend_title = NULL) {
  rlang::check_installed(c("ggplot2", "patchwork"), reason = "to draw Kaplan-Meier plots.")
  call <- rlang::current_env()
  cols <- surv_columns(data, time, event, call = call)
  xlab <- xlab %||% column_label(data, time)
  ylab <- ylab %||% "Survival probability"
  legend_title <- legend_title %||% column_label(data, group)
  if (!is.null(group)) data <- prepare_labelled(data, group)
  for (flag in c("conf.band", "risk_table", "median_line", "pvalue", "censor_marks")) {
    check_flag(get(flag), arg = flag, call = call)
  }
  keep <- cols$keep
  groups <- NULL
  if (!is.null(group)) {
    check_factor_columns(data, group, exclude = c(time, event), call = call)
    if (length(group) != 1L) {
      cli::cli_abort("{.arg group} must be a single column name.", call = call,
                     class = "rwe_bad_input")
    }
    keep <- keep & !is.na(data[[group]])
    lev <- factor_levels(data[[group]][keep], group, call)
    groups <- factor(display_levels(as.character(data[[group]][keep]),
                                    is.logical(data[[group]])), levels = lev$shown)
  }
  tt <- cols$time[keep]
  ev <- cols$event[keep]
  fit <- km_fit_matrix(tt, ev, group = groups)
  breaks <- km_plot_breaks(breaks, tt, call)
  curves <- km_plot_curves(fit, group)
  colours <- km_plot_palette(palette, nlevels(curves$curve), call)
  p_value <- if (!is.null(group) && pvalue && sum(ev) > 0) {
    logrank_test_matrix(tt, ev, groups)$p.value
  }
  main <- km_plot_main(fit, curves, colours, breaks, conf.band, median_line, censor_marks,
                       p_value, xlab, ylab, title, grouped = !is.null(group)) +
    ggplot2::labs(colour = legend_title)
  if (!risk_table) return(main)
  risk <- km_plot_risk(fit, curves, colours, breaks, xlab)
  main <- main + ggplot2::labs(x = NULL)
  patchwork::wrap_plots(main, risk, ncol = 1L,
                        heights = c(3, 0.45 + 0.3 * nlevels(curves$curve)))
}

km_plot_breaks <- function(breaks, time, call) {
  if (is.null(breaks)) return(pretty(c(0, max(time))))
  if (!is.numeric(breaks) || !length(breaks) || anyNA(breaks) || any(!is.finite(breaks)) ||
      any(breaks < 0)) {
    cli::cli_abort("{.arg breaks} must be finite non-negative numbers.", call = call,
                   class = "rwe_bad_input")
  }
  sort(unique(breaks))
}

km_plot_palette <- function(palette, k, call) {
  if (is.null(palette)) {
    if (k == 1L) return("black")
    return(c("#1b6ca8", "#d1495b", "#2e933c", "#edae49", "#6a4c93", "#00798c")[
      (seq_len(k) - 1L) %% 6L + 1L])
  }
  if (!is.character(palette) || !length(palette) || anyNA(palette)) {
    cli::cli_abort("{.arg palette} must be a character vector of colours.", call = call,
                   class = "rwe_bad_input")
  }
  rep_len(palette, k)
}

# The curves as plotted: each stratum starts at (0, 1), then km_fit()'s rows.
km_plot_curves <- function(fit, group) {
  labels <- if (is.null(group)) "All" else as.character(fit$strata[[1L]])
  cv <- fit$curves
  starts <- data.frame(stratum = seq_along(labels), time = 0, n.risk = fit$n, n.event = 0,
                       n.censor = 0, surv = 1, std.err.surv = 0, std.err.log = 0,
                       lower = 1, upper = 1, start = TRUE)
  cv$start <- FALSE
  all <- rbind(starts, cv[names(starts)])
  all <- all[order(all$stratum, all$time, !all$start), , drop = FALSE]
  all$curve <- factor(labels[all$stratum], levels = labels)
  rownames(all) <- NULL
  all
}

# Step ribbon: each interval [t_i, t_{i+1}) at the limits of t_i, as two points.
km_step_ribbon <- function(curves) {
  pieces <- lapply(split(curves, curves$curve), function(d) {
    if (!nrow(d)) return(NULL)
    nxt <- c(d$time[-1L], d$time[nrow(d)])
    data.frame(curve = d$curve[c(seq_len(nrow(d)), seq_len(nrow(d)))],
               time = c(d$time, nxt), lower = c(d$lower, d$lower),
               upper = c(d$upper, d$upper),
               ord = c(2 * seq_len(nrow(d)) - 1, 2 * seq_len(nrow(d))))
  })
  out <- do.call(rbind, pieces)
  out <- out[order(out$curve, out$ord), , drop = FALSE]
  out[!is.na(out$lower) & !is.na(out$upper), , drop = FALSE]
}

km_plot_main <- function(fit, curves, colours, breaks, conf.band, median_line, censor_marks,
                         p_value, xlab, ylab, title, grouped) {
  aes <- ggplot2::aes
  plot <- ggplot2::ggplot(curves, aes(x = .data$time, y = .data$surv, colour = .data$curve))
  if (conf.band) {
    plot <- plot + ggplot2::geom_ribbon(
      data = km_step_ribbon(curves),
      aes(x = .data$time, ymin = .data$lower, ymax = .data$upper, fill = .data$curve),
      inherit.aes = FALSE, alpha = 0.15) +
      ggplot2::scale_fill_manual(values = colours, guide = "none")
  }
  plot <- plot + ggplot2::geom_step(direction = "hv", linewidth = 0.7)
  if (censor_marks) {
    marks <- curves[curves$n.censor > 0, , drop = FALSE]
    plot <- plot + ggplot2::geom_point(data = marks, shape = 3, size = 2.5)
  }
  if (median_line) plot <- km_add_median_lines(plot, fit, curves)
  if (!is.null(p_value)) {
    text <- if (p_value < 0.001) "Log-rank p < 0.001" else
      paste("Log-rank p =", format_pvalue(p_value))
    plot <- plot + ggplot2::annotate("text", x = max(breaks), y = 0.95, label = text,
                                     hjust = 1, size = 3.5)
  }
  plot +
    ggplot2::scale_colour_manual(values = colours, name = ggplot2::waiver(),
                                 guide = if (grouped) "legend" else "none") +
    ggplot2::scale_x_continuous(breaks = breaks) +
    ggplot2::scale_y_continuous(breaks = seq(0, 1, 0.25)) +
    ggplot2::coord_cartesian(xlim = range(c(0, breaks)), ylim = c(0, 1)) +
    ggplot2::labs(x = xlab, y = ylab, title = title) +
    ggplot2::theme_classic() +
    ggplot2::theme(legend.position = if (grouped) "top" else "none")
}

# Dashed horizontal segments at 0.5 to each reached median, and a vertical one down to 0.
km_add_median_lines <- function(plot, fit, curves) {
  med <- km_median(fit)$median
  labels <- levels(curves$curve)
  reached <- !is.na(med)
  if (!any(reached)) return(plot)
  segs <- data.frame(curve = factor(labels[reached], levels = labels), median = med[reached])
  plot +
    ggplot2::geom_segment(data = segs, ggplot2::aes(x = 0, xend = .data$median, y = 0.5,
                                                    yend = 0.5),
                          inherit.aes = FALSE, linetype = "dashed", colour = "grey40") +
    ggplot2::geom_segment(data = segs, ggplot2::aes(x = .data$median, xend = .data$median,
                                                    y = 0, yend = 0.5,
                                                    colour = .data$curve),
                          inherit.aes = FALSE, linetype = "dashed")
}

# Numbers at risk at the breaks, one row of text per curve.
km_plot_risk <- function(fit, curves, colours, breaks, xlab) {
  labels <- levels(curves$curve)
  at <- summary(fit, times = breaks, extend = TRUE)
  stratum <- if (ncol(fit$strata)) match(as.character(at[[1L]]), labels) else 1L
  risk <- data.frame(curve = factor(labels[stratum], levels = rev(labels)),
                     time = at$time, n.risk = at$n.risk)
  ggplot2::ggplot(risk, ggplot2::aes(x = .data$time, y = .data$curve,
                                     label = .data$n.risk, colour = .data$curve)) +
    ggplot2::geom_text(size = 3.5) +
    ggplot2::scale_colour_manual(values = stats::setNames(colours, labels), guide = "none") +
    ggplot2::scale_x_continuous(breaks = breaks) +
    ggplot2::coord_cartesian(xlim = range(c(0, breaks))) +
    ggplot2::labs(x = xlab, y = NULL, title = "Number at risk") +
    ggplot2::theme_classic() +
    ggplot2::theme(plot.title = ggplot2::element_text(size = 10),
                   axis.line.y = ggplot2::element_blank(),
                   axis.ticks.y = ggplot2::element_blank())
}
