# spider_plot(): the % change from baseline in the sum of target-lesion diameters at every
# assessment, one line per patient, from recist_response()'s visit table (the same numbers as
# the waterfall plot's best change and the RECIST responses).

#' Spider plot of tumour burden over time
#'
#' One line per patient: the % change from baseline in the sum of target-lesion diameters
#' at each assessment (RECIST 1.1, as computed by [recist_response()]), coloured by the
#' patient's best overall response, with dashed reference lines at -30% (partial response)
#' and +20% (progression).
#'
#' Requires the suggested package ggplot2.
#'
#' @param x An `rwe_recist` object from [recist_response()], or a lesion data frame such as
#'   [rrdtc_lesions] (passed to [recist_response()] with `...`).
#' @param xlab,ylab Axis titles.
#' @param ... Passed to [recist_response()] when `x` is a data frame of lesions.
#' @return A ggplot object.
#' @examples
#' if (requireNamespace("ggplot2", quietly = TRUE)) {
#'   spider_plot(rrdtc_lesions)
#' }
#' @export
spider_plot <- function(x, xlab = "Months since baseline",
                        ylab = "Change in sum of target diameters from baseline (%)", ...) {
  rlang::check_installed("ggplot2", reason = "to draw spider plots.")
  if (!inherits(x, "rwe_recist")) {
    if (!is.data.frame(x)) {
      cli::cli_abort("{.arg x} must be an {.cls rwe_recist} object or a data frame of
                      lesions, not {.obj_type_friendly {x}}.", class = "rwe_bad_input")
    }
    x <- recist_response(x, ...)
  } else {
    check_dots_empty_bad(...)
  }
  visits <- tidy(x, what = "visits")
  patients <- tidy(x)
  best <- patients$best_response[match(visits$patient_id, patients$patient_id)]
  lines <- data.frame(patient = visits$patient_id, visit = visits$visit,
                      pct_change = visits$pct_change_baseline,
                      response = factor(best, levels = response_levels))
  lines <- lines[!is.na(lines$pct_change), , drop = FALSE]
  ggplot2::ggplot(lines, ggplot2::aes(x = .data$visit, y = .data$pct_change,
                                      group = .data$patient, colour = .data$response)) +
    ggplot2::geom_hline(yintercept = c(-30, 20), linetype = "dashed", colour = "grey40") +
    ggplot2::geom_line() +
    ggplot2::geom_point(size = 1) +
    ggplot2::scale_colour_manual(values = response_colours, drop = FALSE,
                                 na.value = "grey70", name = "Best response") +
    ggplot2::labs(x = xlab, y = ylab) +
    ggplot2::theme_minimal()
}
