# Small constructors for the per-call path: at the small n of most cohorts the fixed cost of a
# call dominates, and data.frame() / as.data.frame() spend most of theirs deparsing argument
# expressions for column names and checking row names.

# A data frame from a named list of equal-length columns, without data.frame()'s
# per-column deparse/make.names/recycling work. Columns are kept as they are (no
# stringsAsFactors, no name mangling).
new_df <- function(cols) {
  n <- if (length(cols)) length(cols[[1L]]) else 0L
  # attr<- rather than structure(), whose argument handling costs more than the data frame
  attr(cols, "row.names") <- .set_row_names(n)
  class(cols) <- "data.frame"
  cols
}
