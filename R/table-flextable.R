# Word (and HTML/PDF) tables through flextable: every rwe_table becomes a flextable of the same
# text that print() shows (display_table()), with the title as caption and the footnotes as
# footer lines. knit_print.rwe_table() (R/table-format.R) uses it for Word output, where a
# markdown table would lose the footnotes' placement and the column alignment.

#' Cohort tables as flextables (Word reports)
#'
#' Converts any table of the package (class `rwe_table`) into a [flextable::flextable()]:
#' the printed columns of [print()][rwe_table] as a real table, the title as its first header
#' line and the
#' footnotes below it. Save with [flextable::save_as_docx()] or place in an officer
#' document. In R Markdown documents rendered to Word, tables are converted automatically.
#'
#' Requires the suggested package flextable.
#'
#' @param x An `rwe_table` (from [baseline_table()], [survival_by()], [cox_table()],
#'   [response_rates()], [ae_table()], ...).
#' @param ... Must be empty.
#' @return A `flextable` object.
#' @examples
#' if (requireNamespace("flextable", quietly = TRUE)) {
#'   ft <- flextable::as_flextable(response_rates(rrdtc_patients))
#'   ft
#' }
#' @exportS3Method flextable::as_flextable
as_flextable.rwe_table <- function(x, ...) {
  check_dots_empty_bad(...)
  rlang::check_installed("flextable", reason = "to build Word tables.")
  shown <- display_table(x)
  ft <- flextable::flextable(shown)
  title <- attr(x, "title")
  # The title is the table's first header line rather than a caption: a Word caption needs
  # officer's auto-numbering, whose arguments differ across officer/flextable versions.
  if (!is.null(title)) ft <- flextable::add_header_lines(ft, values = title)
  footnotes <- attr(x, "footnotes")
  if (length(footnotes)) {
    ft <- flextable::add_footer_lines(ft, values = paste("Note:", footnotes))
    ft <- flextable::fontsize(ft, size = 8, part = "footer")
  }
  ft <- flextable::theme_booktabs(ft)
  ft <- flextable::fontsize(ft, size = 9, part = "all")
  if (!is.null(title)) ft <- flextable::bold(ft, i = 1L, part = "header")
  flextable::autofit(ft)
}

# TRUE when knitr is rendering to Word and flextable can build the table.
knitting_to_word <- function() {
  isTRUE(getOption("knitr.in.progress")) && requireNamespace("flextable", quietly = TRUE) &&
    identical(knitr::pandoc_to(), "docx")
}
