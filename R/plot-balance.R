# Love plot: the absolute standardised mean differences of balance_table() before and after
# weighting, one line per covariate (or categorical level), with the balance threshold.

#' Love plot of covariate balance
#'
#' Dot plot of the absolute standardised mean differences before and after weighting, one
#' line per row of [balance_table()], sorted by the unweighted imbalance, with a dashed line
#' at the table's threshold (0.1 by default).
#'
#' @param x An `rwe_balance` table from [balance_table()], or an `rwe_ps` object (its
#'   balance table is computed with the defaults).
#' @param absolute Plot absolute SMDs (default) or signed ones.
#' @return A ggplot object.
#' @examples
#' rott <- survival::rotterdam
#' ps <- ps_weights(rott, "chemo", ~ age + meno + size + grade + nodes + pgr + er)
#' if (requireNamespace("ggplot2", quietly = TRUE)) love_plot(balance_table(ps))
#' @export
love_plot <- function(x, absolute = TRUE) {
  rlang::check_installed("ggplot2", reason = "to draw the love plot.")
  if (inherits(x, "rwe_ps")) x <- balance_table(x)
  if (!inherits(x, "rwe_balance")) {
    cli::cli_abort("{.arg x} must be a {.fn balance_table} result or an {.cls rwe_ps} object.",
                   class = "rwe_bad_input")
  }
  check_flag(absolute)
  name <- ifelse(is.na(x$level), x$label, paste0(x$label, ": ", x$level))
  f <- if (absolute) abs else identity
  order <- name[order(f(x$smd_before))]
  d <- data.frame(name = factor(rep(name, 2L), levels = unique(order)),
                  sample = factor(rep(c("Unweighted", "Weighted"), each = nrow(x)),
                                  levels = c("Unweighted", "Weighted")),
                  smd = f(c(x$smd_before, x$smd_after)))
  threshold <- attr(x, "threshold")
  lines <- if (absolute) threshold else c(-threshold, threshold)
  ggplot2::ggplot(d, ggplot2::aes(x = .data$smd, y = .data$name, colour = .data$sample,
                                  shape = .data$sample)) +
    ggplot2::geom_vline(xintercept = 0, colour = "grey60") +
    ggplot2::geom_vline(xintercept = lines, linetype = "dashed", colour = "grey40") +
    ggplot2::geom_point(size = 2.5) +
    ggplot2::labs(x = if (absolute) "Absolute standardised mean difference" else
                    "Standardised mean difference", y = NULL, colour = NULL, shape = NULL,
                  title = "Covariate balance") +
    ggplot2::theme_minimal() +
    ggplot2::theme(legend.position = "bottom")
}
