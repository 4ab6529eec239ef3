# Variable and value labels of SAS (.xpt, .sas7bdat) and SPSS (.sav) data read by haven.
# haven stores a variable label in attr(x, "label") and value labels in a haven_labelled
# vector. The column-name verbs (baseline_table(), survival_by(), cox_table(), km_plot(),
# response_rates(), ae_table()) call prepare_labelled() on the columns they use, and take
# their default row names, legend titles and axis titles from column_labels().

#' Variable labels of data frame columns
#'
#' Returns the variable label (`attr(x, "label")`, as set by haven when reading SAS or SPSS
#' files, or by hand) of each column, `NA` where a column has none. The table and plot
#' verbs use these labels as row names, legend titles and axis titles unless `labels`,
#' `xlab`, ... are given.
#'
#' @param data A data frame.
#' @param cols Column names (default: all).
#' @return A character vector named by `cols`.
#' @examples
#' d <- data.frame(AGE = c(61, 70))
#' attr(d$AGE, "label") <- "Age (years)"
#' column_labels(d)
#' @export
column_labels <- function(data, cols = names(data)) {
  check_data_frame(data)
  check_columns(data, cols)
  out <- vapply(cols, function(col) {
    lab <- attr(data[[col]], "label", exact = TRUE)
    if (is.character(lab) && length(lab) == 1L && !is.na(lab) && nzchar(lab)) lab else
      NA_character_
  }, character(1))
  stats::setNames(out, cols)
}

# User labels take precedence over the data's own labels; columns without either keep their
# name (check_labels() fills those in). A malformed `labels` is passed through untouched so
# that check_labels() reports it.
with_data_labels <- function(labels, data, vars) {
  if (!is.null(labels) && (!is.character(labels) || is.null(names(labels)))) return(labels)
  auto <- column_labels(data, intersect(vars, names(data)))
  auto <- auto[!is.na(auto) & !names(auto) %in% names(labels)]
  out <- c(auto, labels)
  if (length(out)) out else NULL
}

# The label of one column, or `default` when it has none.
column_label <- function(data, col, default = col) {
  if (is.null(col) || !is.character(col) || length(col) != 1L || !col %in% names(data)) {
    return(default)
  }
  lab <- column_labels(data, col)[[1L]]
  if (is.na(lab)) default else lab
}

# haven_labelled columns (SPSS/Stata value labels) as the verbs need them: a factor (levels
# in the order of the value labels, unused ones kept) when every known value has a label, a
# plain number otherwise. The variable label is kept on the result.
prepare_labelled <- function(data, cols = names(data)) {
  for (col in intersect(cols, names(data))) {
    x <- data[[col]]
    if (!inherits(x, "haven_labelled")) next
    label <- attr(x, "label", exact = TRUE)
    values <- attr(x, "labels", exact = TRUE)
    plain <- strip_labelled(x)
    data[[col]] <- if (length(values) && all(plain[!is.na(plain)] %in% values)) {
      factor(names(values)[match(plain, values)], levels = unique(names(values)))
    } else plain
    attr(data[[col]], "label") <- label
  }
  data
}

# The numbers of a haven_labelled vector without its class and labels.
strip_labelled <- function(x) {
  out <- as.vector(unclass(x))
  attributes(out) <- NULL
  out
}
