#' Adverse events by worst grade (Table 5)
#'
#' Counts, for each adverse-event term, the patients whose worst (highest) CTCAE grade of
#' that event was 1-2, 3-4 or 5, and the patients with the event at any grade. Each
#' patient counts once per term, at the highest grade reached; every percentage is over the
#' safety population, `nrow(patients)`.
#'
#' @param ae A data frame of adverse events, one or more rows per patient and term.
#' @param patients A data frame of the safety population, one row per patient.
#' @param id Name of the patient-id column, present in both `ae` and `patients`.
#' @param term Name of the adverse-event term column of `ae`.
#' @param grade Name of the numeric CTCAE grade column of `ae` (whole numbers 1-5).
#' @param sort If `TRUE`, terms are sorted by decreasing any-grade count (ties by
#'   decreasing grade 3-4 count, then order of first appearance in `ae`); otherwise they
#'   keep their order of
#'   first appearance in `ae`.
#' @return A data frame of class `c("rwe_ae", "rwe_table", "data.frame")`, one row per
#'   term, with columns `term`, `n_grade_1_2`, `pct_grade_1_2`, `n_grade_3_4`,
#'   `pct_grade_3_4`, `n_grade_5` and `pct_grade_5` (only when some grade 5 occurs),
#'   `n_any`, `pct_any` and `N` (the safety population). `tidy()` returns the long form
#'   with a `grade_band` column.
#' @examples
#' ae_table(rrdtc_adverse_events, rrdtc_patients)
#' @export
ae_table <- function(ae, patients, id = "patient_id", term = "ae_term",
                     grade = "max_grade", sort = TRUE) {
  # SPSS value-labelled columns (haven) become their labels before any check.
  if (is.data.frame(ae) && is.character(c(id, term, grade))) {
    ae <- prepare_labelled(ae, c(id, term, grade))
  }
  check_ae_input(ae, patients, id, term, grade)
  check_flag(sort)
  N <- nrow(patients)
  # Worst grade per patient and term: each patient counts once per term.
  key <- paste(ae[[id]], ae[[term]], sep = "\r")
  worst <- tapply(ae[[grade]], key, max)
  first <- !duplicated(key)
  per_patient <- data.frame(term = as.character(ae[[term]][first]),
                            worst = as.vector(worst[key[first]]))
  terms <- unique(per_patient$term)
  bands <- list(grade_1_2 = 1:2, grade_3_4 = 3:4, grade_5 = 5)
  if (!any(per_patient$worst == 5)) bands$grade_5 <- NULL
  out <- data.frame(term = terms)
  for (band in names(bands)) {
    in_band <- per_patient$worst %in% bands[[band]]
    n <- vapply(terms, function(t) sum(in_band[per_patient$term == t]), numeric(1))
    out[[paste0("n_", band)]] <- as.integer(n)
    out[[paste0("pct_", band)]] <- 100 * n / N
  }
  out$n_any <- as.integer(table(factor(per_patient$term, levels = terms)))
  out$pct_any <- 100 * out$n_any / N
  out$N <- rep(N, nrow(out))  # rep(): an empty `ae` gives a table without rows
  if (sort) out <- out[order(-out$n_any, -out$n_grade_3_4, seq_len(nrow(out))), ]
  new_rwe_table(out, "rwe_ae",
                title = sprintf("Adverse events by worst grade (N = %d)", N),
                bands = names(bands))
}

# Shared input checks of the AE verbs: columns, ids known, grades whole numbers in 1-5.
check_ae_input <- function(ae, patients, id, term, grade, call = rlang::caller_env()) {
  check_data_frame(ae, call = call)
  check_data_frame(patients, call = call)
  check_column_name(id, ae, data_arg = "ae", call = call)
  check_column_name(id, patients, data_arg = "patients", call = call)
  check_column_name(term, ae, data_arg = "ae", call = call)
  check_column_name(grade, ae, data_arg = "ae", call = call)
  check_numeric_column(ae, grade, arg = "ae", call = call)
  duplicated_ids <- unique(patients[[id]][duplicated(patients[[id]])])
  if (length(duplicated_ids) > 0) {
    cli::cli_abort("{.arg patients} must have one row per patient; duplicated
                    {format_offenders(duplicated_ids, quote = TRUE)}.", call = call, class = "rwe_bad_input")
  }
  unknown <- setdiff(unique(ae[[id]]), patients[[id]])
  if (length(unknown) > 0) {
    cli::cli_abort("{.arg ae} has {cli::qty(length(unknown))}patient id{?s}
                    {format_offenders(unknown, quote = TRUE)} not in
                    {.arg patients}.", call = call, class = "rwe_bad_input")
  }
  g <- ae[[grade]]
  bad <- which(is.na(g) | !g %in% 1:5)
  if (length(bad) > 0) {
    cli::cli_abort(c("Column {.val {grade}} of {.arg ae} must hold whole grades 1-5.",
                     x = "{cli::qty(length(bad))}Row{?s} {format_offenders(bad)}:
                          {format_offenders(g[bad], quote = TRUE)}."),
                   call = call, class = "rwe_bad_input")
  }
  missing_term <- which(is.na(ae[[term]]) | ae[[term]] == "")
  if (length(missing_term) > 0) {
    cli::cli_abort("Term column {.val {term}} of {.arg ae} is missing in
                    {cli::qty(length(missing_term))}row{?s} {format_offenders(missing_term)}.",
                   call = call, class = "rwe_bad_input")
  }
}

#' @export
display_table.rwe_ae <- function(x, ...) {
  check_dots_empty_bad(...)
  shown <- data.frame(`adverse event` = x$term, check.names = FALSE)
  labels <- c(grade_1_2 = "grades 1-2", grade_3_4 = "grades 3-4", grade_5 = "grade 5")
  for (band in attr(x, "bands")) {
    shown[[labels[[band]]]] <- format_n_percent(x[[paste0("n_", band)]], x$N)
  }
  shown[["any grade"]] <- format_n_percent(x$n_any, x$N)
  shown
}

#' @rdname ae_table
#' @param x An `rwe_ae` table.
#' @param ... Must be empty (an unknown argument is an error, not ignored).
#' @export
tidy.rwe_ae <- function(x, ...) {
  check_dots_empty_bad(...)
  bands <- c(attr(x, "bands"), "any")
  long <- lapply(bands, function(band) {
    data.frame(term = x$term, grade_band = rep(band, nrow(x)), n = x[[paste0("n_", band)]], N = x$N,
               percent = x[[paste0("pct_", band)]])
  })
  do.call(rbind, long)
}

#' Duration of adverse events
#'
#' Median (range) of the duration of selected adverse events, over the rows of `ae` that
#' report them (one row per patient and term, as in `rrdtc_adverse_events`).
#'
#' @param ae A data frame of adverse events.
#' @param terms Character vector of terms to summarise, in display order; `NULL` for every
#'   term, in order of first appearance.
#' @param duration Name of the numeric duration column (e.g. months).
#' @param term Name of the adverse-event term column.
#' @return A data frame of class `c("rwe_ae_duration", "rwe_table", "data.frame")` with
#'   columns `term`, `n` (rows with a non-missing duration), `median`, `min`, `max` and
#'   `summary` ("median (range)").
#' @examples
#' ae_duration(rrdtc_adverse_events,
#'             c("Hand-foot skin syndrome", "Diarrhea", "Alopecia"))
#' @export
ae_duration <- function(ae, terms = NULL, duration = "duration_months", term = "ae_term") {
  check_data_frame(ae)
  check_column_name(term, ae, data_arg = "ae")
  check_column_name(duration, ae, data_arg = "ae")
  check_numeric_column(ae, duration, arg = "ae")
  infinite <- which(is.infinite(ae[[duration]]))  # median (range) needs finite durations
  if (length(infinite)) {
    abort_rows("ae", paste0("has infinite values of `", duration, "`"), infinite)
  }
  if (is.null(terms)) terms <- unique(as.character(ae[[term]]))
  if (!is.character(terms)) cli::cli_abort("{.arg terms} must be a character vector.",
    class = "rwe_bad_input")
  unknown <- setdiff(terms, ae[[term]])
  if (length(unknown) > 0) {
    cli::cli_abort("{.arg terms} {cli::qty(length(unknown))}{.val {unknown}} {?does/do} not
                    occur in column
                    {.val {term}} of {.arg ae}.", class = "rwe_bad_input")
  }
  rows <- lapply(terms, function(t) {
    x <- ae[[duration]][ae[[term]] %in% t]
    x <- x[!is.na(x)]
    empty <- length(x) == 0
    data.frame(term = t, n = length(x),
               median = if (empty) NA_real_ else stats::median(x),
               min = if (empty) NA_real_ else min(x),
               max = if (empty) NA_real_ else max(x),
               summary = format_median_range(x))
  })
  new_rwe_table(do.call(rbind, rows), "rwe_ae_duration",
                title = "Duration of adverse events, median (range)")
}

#' @export
display_table.rwe_ae_duration <- function(x, ...) {
  check_dots_empty_bad(...)
  data.frame(`adverse event` = x$term, n = x$n, `median (range)` = x$summary,
             check.names = FALSE)
}
