# Shared table infrastructure for every cohort verb:
#   * number formatters (one implementation, used by all tables),
#   * the `rwe_table` class with its print(), knit_print() and tidy() methods,
#   * input validators with a `check_` prefix that raise classed `cli` errors.

# ---- formatters -------------------------------------------------------------------------

#' Format numbers for cohort tables
#'
#' Small, vectorised formatters shared by every table in the package, so that the same
#' quantity always prints the same way:
#' * `format_percent()`: a percentage with a fixed number of decimals (`38.7`).
#' * `format_n_percent()`: "N (%)" (`12 (38.7)`); a zero count prints as `0`, as in the
#'   published tables.
#' * `format_median_range()`: "median (min-max)" (with an en dash) of a numeric vector.
#' * `format_pvalue()`: a p-value with fixed decimals, or `<0.001` below the smallest
#'   printable value.
#' * `format_ci()`: a confidence interval "lower-upper" (en dash) (in percent when given
#'   proportions and `percent = TRUE`).
#' * `format_nr()`: a survival time such as a median or one of its confidence limits: the
#'   number, `NR` ("not reached": the curve, or the limit's confidence curve, never falls to
#'   0.5 during follow-up) when it is missing or infinite, and `NE` ("not estimable") where
#'   `not_estimable` is `TRUE` (e.g. a limit whose confidence curve is undefined because the
#'   curve dropped to 0, as in a group of one patient).
#'
#' @param x A numeric vector (proportions for `format_percent()` and `format_ci()` when
#'   `percent = TRUE`; raw values otherwise).
#' @param n,N Integer vectors of counts and denominators.
#' @param digits Number of decimals. For `format_median_range()` `NULL` (the default)
#'   uses the precision of the data themselves (at most `max_digits` decimals), so that
#'   integer ages print as `58 (18-79)` and doses as `11.7 (0.1-58.8)`.
#' @param max_digits Upper bound on the decimals chosen when `digits = NULL`.
#' @param lower,upper Numeric vectors of interval limits.
#' @param percent Whether `x` (or `lower`/`upper`) are proportions to print as percent.
#' @param na Text used for missing values.
#' @param not_estimable For `format_nr()`: `NULL` or a logical vector as long as `x`
#'   (recycled) marking the missing values that are not estimable rather than not reached;
#'   they print `NE`.
#' @return A character vector as long as the input (a single string for
#'   `format_median_range()`).
#' @examples
#' format_percent(2 / 31)
#' format_n_percent(c(12, 0), 31)
#' format_median_range(c(18, 58, 79))
#' format_pvalue(c(0.4231, 0.0004, NA))
#' format_ci(0.3, 0.5)
#' format_nr(c(16.5, NA))
#' format_nr(c(5, NA, NA), not_estimable = c(FALSE, TRUE, FALSE))
#' @name format_helpers
NULL

#' @rdname format_helpers
#' @export
format_percent <- function(x, digits = 1, percent = TRUE, na = "") {
  value <- if (percent) 100 * x else x
  out <- sprintf(paste0("%.", digits, "f"), value)
  out[is.na(x)] <- na
  out
}

#' @rdname format_helpers
#' @export
format_n_percent <- function(n, N, digits = 1, na = "") {
  if (!length(n)) return(character())  # paste0() would turn no counts into one " ()"
  n <- as.numeric(n)
  out <- paste0(n, " (", format_percent(n / N, digits), ")")
  out[!is.na(n) & n == 0] <- "0"
  out[is.na(n) | is.na(N) | N == 0] <- na
  out
}

#' @rdname format_helpers
#' @export
format_median_range <- function(x, digits = NULL, max_digits = 2, na = "") {
  x <- x[!is.na(x)]
  if (length(x) == 0) return(na)
  stats_ <- c(stats::median(x), min(x), max(x))
  if (is.null(digits)) digits <- decimals_needed(stats_, max_digits)
  txt <- sprintf(paste0("%.", digits, "f"), stats_)
  paste0(txt[1], " (", txt[2], "\u2013", txt[3], ")")
}

#' @rdname format_helpers
#' @export
format_pvalue <- function(x, digits = 3, na = "") {
  smallest <- 10^-digits
  out <- sprintf(paste0("%.", digits, "f"), x)
  out[!is.na(x) & x < smallest] <- paste0("<", format(smallest, scientific = FALSE))
  out[is.na(x)] <- na
  out
}

#' @rdname format_helpers
#' @export
format_ci <- function(lower, upper, digits = 1, percent = TRUE, na = "") {
  out <- paste0(format_percent(lower, digits, percent), "\u2013",
                format_percent(upper, digits, percent))
  out[is.na(lower) | is.na(upper)] <- na
  out
}

#' @rdname format_helpers
#' @export
format_nr <- function(x, digits = 1, not_estimable = NULL) {
  out <- sprintf(paste0("%.", digits, "f"), x)
  out[is.na(x) | is.infinite(x)] <- "NR"
  if (!is.null(not_estimable)) {
    if (!is.logical(not_estimable) || anyNA(not_estimable) ||
        !length(not_estimable) %in% c(1L, length(x))) {
      cli::cli_abort("{.arg not_estimable} must be {.code NULL} or a logical vector of length 1
                      or {length(x)} without missing values.", class = "rwe_bad_input")
    }
    # Only a missing value can be "not estimable": a number that was estimated prints as such.
    out[rep_len(not_estimable, length(x)) & is.na(x)] <- "NE"
  }
  out
}

# The fewest decimals (up to `max_digits`) that represent every value exactly, so a table
# prints data at their own precision (integer ages, one-decimal doses, a median of 17.5).
decimals_needed <- function(x, max_digits = 2) {
  for (d in 0:max_digits) {
    if (all(abs(round(x, d) - x) < 1e-8)) return(d)
  }
  max_digits
}

# ---- the rwe_table class ----------------------------------------------------------------

# Constructor used by every verb: a plain data frame plus a subclass, a title, footnotes.
new_rwe_table <- function(x, subclass, title = NULL, footnotes = character(), ...) {
  x <- as.data.frame(x, stringsAsFactors = FALSE)
  rownames(x) <- NULL
  attrs <- list(...)
  for (name in names(attrs)) attr(x, name) <- attrs[[name]]
  attr(x, "title") <- title
  attr(x, "footnotes") <- footnotes
  class(x) <- c(subclass, "rwe_table", "data.frame")
  x
}

# The character data frame that print() and knit_print() show. Subclasses override it to
# show their formatted text columns; the default formats every column.
display_table <- function(x, ...) UseMethod("display_table")

#' @export
display_table.rwe_table <- function(x, ...) {
  out <- strip_rwe_table(x)
  for (col in names(out)) {
    value <- out[[col]]
    text <- rep("", length(value))
    shown <- !is.na(value)
    text[shown] <- if (is.double(value)) format(round(value[shown], 3)) else
      as.character(value[shown])
    out[[col]] <- text
  }
  out
}

# Blank the repeated values of a grouping column so a variable's name prints once.
blank_repeats <- function(x) {
  x <- as.character(x)
  x[c(FALSE, x[-1] == x[-length(x)])] <- ""
  x
}

strip_rwe_table <- function(x) {
  keep <- names(x)
  x <- as.data.frame(unclass(x)[keep], stringsAsFactors = FALSE, optional = TRUE)
  rownames(x) <- NULL
  x
}

#' Print, knit and tidy cohort tables
#'
#' Every table verb of the package returns a data frame with class
#' `c("rwe_<name>", "rwe_table", "data.frame")`. `print()` shows the formatted table
#' (title, the text columns, footnotes); `knit_print()` renders the same table with
#' [knitr::kable()] in R Markdown documents (in Word output, as a flextable: see
#' [as_flextable.rwe_table()]); `tidy()` returns the underlying numbers as a
#' plain data frame.
#'
#' @param x An `rwe_table`.
#' @param ... Passed on to [knitr::kable()] by `knit_print()`; ignored otherwise.
#' @return `print()` returns `x` invisibly; `knit_print()` a `knit_asis` object;
#'   `tidy()` a plain `data.frame` with the numeric columns of the table.
#' @examples
#' tab <- response_rates(rrdtc_patients)
#' print(tab)
#' tidy(tab)
#' @name rwe_table
NULL

#' @rdname rwe_table
#' @export
print.rwe_table <- function(x, ...) {
  title <- attr(x, "title")
  if (!is.null(title)) cat(title, "\n", sep = "")
  shown <- display_table(x)
  if (nrow(shown) == 0) {
    cat("<empty table>\n")
  } else {
    print.data.frame(shown, row.names = FALSE, right = FALSE)
  }
  footnotes <- attr(x, "footnotes")
  if (length(footnotes) > 0) cat(paste0("Note: ", footnotes), sep = "\n")
  invisible(x)
}

#' @rdname rwe_table
#' @exportS3Method knitr::knit_print
knit_print.rwe_table <- function(x, ...) {
  rlang::check_installed("knitr")
  # Word output gets a real table with its caption and footnotes (R/table-flextable.R).
  if (knitting_to_word()) return(knitr::knit_print(as_flextable.rwe_table(x), ...))
  shown <- display_table(x)
  footnotes <- attr(x, "footnotes")
  table <- knitr::kable(shown, caption = attr(x, "title"), row.names = FALSE, ...)
  text <- paste(c(table, "", if (length(footnotes)) paste0("*", footnotes, "*  ")),
                collapse = "\n")
  knitr::asis_output(paste0("\n", text, "\n"))
}

#' @rdname rwe_table
#' @export
tidy.rwe_table <- function(x, ...) {
  strip_rwe_table(x)
}

# ---- validators of table columns (the general ones are in R/check.R) -------------------------

# A single column name (string) that must exist in `data`.
check_column_name <- function(x, data, arg = rlang::caller_arg(x),
                              data_arg = "data", call = rlang::caller_env()) {
  if (!is.character(x) || length(x) != 1 || is.na(x)) {
    cli::cli_abort("{.arg {arg}} must be a single column name (a string).", call = call,
                   class = "rwe_bad_input")
  }
  check_columns(data, x, arg = data_arg, call = call)
}

# Every element of `cols` must be a column of `data`.
check_columns <- function(data, cols, arg = "data", call = rlang::caller_env()) {
  if (!is.character(cols) || anyNA(cols)) {
    cli::cli_abort("Column names for {.arg {arg}} must be strings.", call = call,
                   class = "rwe_bad_input")
  }
  missing <- setdiff(cols, names(data))
  if (length(missing) > 0) {
    cli::cli_abort(c("{cli::qty(length(missing))}Column{?s} {.val {missing}} {?is/are}
                      missing from {.arg {arg}}.",
                     i = "Available columns: {.val {names(data)}}."), call = call,
                   class = "rwe_bad_input")
  }
  invisible(cols)
}

# A column that must be numeric; names the offending type.
check_numeric_column <- function(data, col, arg = "data", call = rlang::caller_env()) {
  if (!is.numeric(data[[col]])) {
    cli::cli_abort("Column {.val {col}} of {.arg {arg}} must be numeric, not
                    {.obj_type_friendly {data[[col]]}}.", call = call, class = "rwe_bad_input")
  }
  invisible(col)
}

# Display labels: a character vector named by (a subset of) `allowed` column names.
# Returns one label per `allowed` entry, the column name where no label is given.
check_labels <- function(labels, allowed, arg = rlang::caller_arg(labels),
                         call = rlang::caller_env()) {
  if (is.null(labels)) return(stats::setNames(allowed, allowed))
  unknown <- setdiff(names(labels), allowed)
  if (!is.character(labels) || is.null(names(labels)) || length(unknown) > 0) {
    cli::cli_abort("{.arg {arg}} must be a character vector named by the summarised
                    columns; unknown name{?s}: {.val {unknown}}.", call = call,
                   class = "rwe_bad_input")
  }
  out <- stats::setNames(allowed, allowed)
  out[names(labels)] <- labels
  out
}

#' @importFrom generics tidy
#' @export
generics::tidy

#' @importFrom generics glance
#' @export
generics::glance

#' @importFrom survival Surv
#' @export
survival::Surv
