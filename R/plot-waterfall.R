#' Waterfall plot of the best change in target lesions (Figure 1)
#'
#' One bar per patient with the best % change from baseline in the sum of target-lesion
#' diameters, sorted from the largest increase to the largest decrease, coloured by best
#' overall response, with dashed reference lines at -30% (partial response) and +20%
#' (progression). Optional markers (e.g. the published `#`, `*` and bullet annotations)
#' are drawn above the bars.
#'
#' Requires the suggested package ggplot2.
#'
#' @param data A data frame, one row per patient. Rows with a missing `pct_change` (not
#'   evaluable) are left out.
#' @param id Name of the patient-id column.
#' @param pct_change Name of the numeric best-%-change column.
#' @param response Name of the best-response column (`"CR"`, `"PR"`, `"SD"`, `"PD"`).
#' @param marker Optional name of a character column of annotation codes: `"hash"` (drawn
#'   as `#`), `"star"` (`*`), `"dot"` (a filled dot, drawn as a point so that it renders on
#'   every device), combinations joined by `+` (e.g. `"star+dot"`: the dot above the star),
#'   or `NA` for none.
#' @param ... Passed to [ggplot2::geom_col()] (e.g. `width`).
#' @return A ggplot object (add layers or themes to it as usual).
#' @importFrom rlang .data
#' @examples
#' if (requireNamespace("ggplot2", quietly = TRUE)) {
#'   waterfall_plot(rrdtc_patients, marker = "fig1_marker")
#' }
#' @export
waterfall_plot <- function(data, id = "patient_id", pct_change = "target_best_pct_change",
                           response = "best_response", marker = NULL, ...) {
  rlang::check_installed("ggplot2", reason = "to draw waterfall plots.")
  check_data_frame(data)
  check_column_name(id, data)
  check_column_name(pct_change, data)
  check_numeric_column(data, pct_change)
  check_response_column(data, response)
  if (!is.null(marker)) check_column_name(marker, data)
  bars <- data[!is.na(data[[pct_change]]), , drop = FALSE]
  if (nrow(bars) == 0) cli::cli_abort("Column {.val {pct_change}} has no non-missing value.",
                                        class = "rwe_bad_input")
  bars <- bars[order(-bars[[pct_change]]), , drop = FALSE]
  plot_data <- data.frame(
    id = factor(as.character(bars[[id]]), levels = unique(as.character(bars[[id]]))),
    pct_change = bars[[pct_change]],
    response = factor(bars[[response]], levels = response_levels)
  )
  plot <- ggplot2::ggplot(plot_data, ggplot2::aes(x = .data$id, y = .data$pct_change,
                                                  fill = .data$response)) +
    ggplot2::geom_col(...) +
    ggplot2::geom_hline(yintercept = c(-30, 20), linetype = "dashed") +
    ggplot2::scale_fill_manual(values = response_colours, drop = FALSE, name = "Best response") +
    ggplot2::labs(x = NULL, y = "Best change from baseline (%)") +
    ggplot2::theme_minimal() +
    ggplot2::theme(axis.text.x = ggplot2::element_blank(),
                   panel.grid.major.x = ggplot2::element_blank())
  if (is.null(marker)) return(plot)
  add_markers(plot, plot_data, marker_symbols(bars[[marker]], marker))
}

# Adds the annotation layers: `#` and `*` as text; the dot as a point (a filled circle
# renders on every graphics device, whereas a Unicode bullet fails on pdf()), stacked above
# a text symbol when a bar has both.
add_markers <- function(plot, plot_data, symbols) {
  # Above the bar top for growth, just above zero for shrinkage, as in the publication;
  # offsets scale with the plotted range so the symbols sit close to the bars.
  step <- 0.04 * diff(range(c(plot_data$pct_change, -30, 20)))
  base <- pmax(plot_data$pct_change, 0) + step
  has_dot <- grepl("\u2022", symbols)
  text <- gsub("\u2022", "", symbols)
  texts <- data.frame(id = plot_data$id, y = base, label = text)[text != "", , drop = FALSE]
  dots <- data.frame(id = plot_data$id, y = base + ifelse(text != "", 2.5, 0.5) * step)[has_dot, ,
                                                                            drop = FALSE]
  if (nrow(texts) > 0) {
    plot <- plot + ggplot2::geom_text(
      data = texts, ggplot2::aes(x = .data$id, y = .data$y, label = .data$label),
      inherit.aes = FALSE, vjust = 0, size = 5)
  }
  if (nrow(dots) > 0) {
    plot <- plot + ggplot2::geom_point(data = dots, ggplot2::aes(x = .data$id, y = .data$y),
                                       inherit.aes = FALSE, shape = 16, size = 2)
  }
  plot
}

response_colours <- c(CR = "#1b7837", PR = "#5aae61", SD = "#f6b26b", PD = "#c0392b")

# Converts codes such as "star+dot" to the symbols drawn above the bars ("*\u2022").
marker_symbols <- function(codes, column, call = rlang::caller_env()) {
  symbols <- c(hash = "#", star = "*", dot = "\u2022")
  codes <- as.character(codes)
  parts <- strsplit(ifelse(is.na(codes), "", codes), "+", fixed = TRUE)
  unknown <- setdiff(unlist(parts), names(symbols))
  if (length(unknown) > 0) {
    cli::cli_abort(c("{cli::qty(length(unknown))}Unknown marker code{?s} {.val {unknown}}
                      in column {.val {column}}.",
                     i = "Use {.val {names(symbols)}}, joined by {.val +}."), call = call,
                   class = "rwe_bad_input")
  }
  vapply(parts, function(p) paste(symbols[p], collapse = ""), character(1))
}
