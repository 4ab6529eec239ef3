# swimmer_plot(): one horizontal bar per patient from 0 to the end of follow-up (or the
# event), coloured by best overall response, with a marker at the end saying whether the
# patient had the event or was censored (still on study). The numbers are the data's own.

#' Swimmer plot of time on study by patient
#'
#' One bar per patient from 0 to `time`, longest at the top, coloured by best overall
#' response; the bar ends in a cross where the patient had the event (`event` = 1, e.g.
#' progression) and in an arrow head where follow-up was censored.
#'
#' Requires the suggested package ggplot2.
#'
#' @inheritParams survival_by
#' @param id Name of the patient-id column.
#' @param response Optional name of a best-response column (`"CR"`, `"PR"`, `"SD"`, `"PD"`,
#'   `NA`); `NULL` draws grey bars.
#' @param xlab x-axis title; `NULL` takes the variable label of `time`, else its name.
#' @return A ggplot object.
#' @examples
#' if (requireNamespace("ggplot2", quietly = TRUE)) {
#'   swimmer_plot(subset(rrdtc_patients, evaluable), "pfs_months", "pfs_event",
#'                xlab = "Months since start of sorafenib")
#' }
#' @export
swimmer_plot <- function(data, time, event, id = "patient_id", response = "best_response",
                         xlab = NULL) {
  rlang::check_installed("ggplot2", reason = "to draw swimmer plots.")
  call <- rlang::current_env()
  cols <- surv_columns(data, time, event, call = call)
  check_column_name(id, data, arg = "id", call = call)
  resp <- if (is.null(response)) rep(NA_character_, nrow(data)) else
    check_response_column(data, response, call = call)
  xlab <- xlab %||% column_label(data, time)
  keep <- cols$keep
  ord <- order(cols$time[keep])
  ids <- as.character(data[[id]])[keep][ord]
  bars <- data.frame(id = factor(ids, levels = unique(ids)), time = cols$time[keep][ord],
                     end = ifelse(cols$event[keep][ord] == 1, "Event", "Censored"),
                     response = factor(resp[keep][ord], levels = response_levels))
  plot <- ggplot2::ggplot(bars, ggplot2::aes(y = .data$id)) +
    ggplot2::geom_segment(ggplot2::aes(x = 0, xend = .data$time, yend = .data$id,
                                       colour = .data$response), linewidth = 3) +
    ggplot2::geom_point(ggplot2::aes(x = .data$time, shape = .data$end), size = 2.5) +
    ggplot2::scale_shape_manual(values = c(Event = 4, Censored = 62), name = NULL,
                                labels = c(Event = paste0("Event (", event, ")"),
                                           Censored = "Censored")) +
    ggplot2::labs(x = xlab, y = NULL) +
    ggplot2::theme_minimal() +
    ggplot2::theme(panel.grid.major.y = ggplot2::element_blank())
  if (is.null(response)) {
    return(plot + ggplot2::scale_colour_manual(values = "grey50", na.value = "grey50",
                                               guide = "none"))
  }
  plot + ggplot2::scale_colour_manual(values = response_colours, drop = FALSE,
                                      na.value = "grey70",
                                      name = column_label(data, response, "Best response"))
}
