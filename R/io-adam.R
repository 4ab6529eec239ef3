# Adapters from CDISC ADaM data sets (ADSL, ADTTE, ADRS, ADAE; as haven reads them from .xpt
# or .sas7bdat) to the column conventions of the study verbs. They only select records,
# rename and recode; every number is computed by the verbs themselves. The one convention
# that silently inverts an analysis is ADTTE's CNSR (0 = event, > 0 = censored, the reason
# coded by the integer): adtte_surv() derives `event = CNSR == 0` in one place, and the
# verbs refuse CNSR itself as an event indicator (check_cnsr_event() in R/surv-frame.R).

#' Analysis-ready data from CDISC ADaM data sets
#'
#' * `adtte_surv()`: one parameter of an ADTTE data set (e.g. `PARAMCD == "OS"`) with a
#'   `time` column (`AVAL`, optionally converted from days to weeks, months or years by
#'   [time_between()]'s convention, or derived from `STARTDT` and `ADT`) and an `event`
#'   column, `1` where `CNSR == 0` (ADaM: 0 = event; 1, 2, ... = censored for a coded
#'   reason) and `0` otherwise; ADSL columns are joined by `USUBJID` when `adsl` is given.
#' * `adsl_population()`: the subjects of an analysis population (`SAFFL`, `ITTFL`, ... equal
#'   to `"Y"`), with `Y`/`N` flag columns turned into logicals (blank is `FALSE`).
#' * `adrs_best_response()`: one `best_response` per subject (`"CR"`, `"PR"`, `"SD"`, `"PD"`,
#'   or `NA` for `"NE"`/missing) from `AVALC` of the best-overall-response parameter, ready
#'   for [response_rates()].
#' * `adae_table()`: [ae_table()] from ADAE: treatment-emergent records (`TRTEMFL == "Y"`),
#'   term `AEDECOD`, grade `ATOXGR` (else `AETOXGR`), over the safety population of `adsl`.
#'
#' Variable labels (haven's `label` attribute) are kept, so tables and plots show them.
#'
#' @param adtte,adsl,adrs,adae ADaM data sets (data frames), one record per subject for
#'   ADSL, per subject and parameter for ADTTE, per subject, parameter and visit for ADRS.
#' @param paramcd The parameter to analyse (`PARAMCD` value). May be `NULL` only when the
#'   data set holds a single parameter.
#' @param unit `NULL` keeps `AVAL` as it is; `"days"`, `"weeks"`, `"months"` or `"years"`
#'   converts it from days (`AVALU`, when present, must then say days).
#' @param from_dates If `TRUE`, the time is `ADT - STARTDT` in `unit` (days by default)
#'   instead of `AVAL`. (Some sponsors derive `AVAL = ADT - STARTDT + 1`; check which
#'   convention your AVAL follows before comparing.)
#' @param population Name of an ADSL population flag (`"SAFFL"`, `"ITTFL"`, ...), or `NULL`
#'   for every subject.
#' @param id Subject identifier column.
#' @return `adtte_surv()`: the selected ADTTE records (joined with ADSL) with `time` and
#'   `event` added. `adsl_population()`: the ADSL rows. `adrs_best_response()`: one row per
#'   subject (joined with ADSL when given) with `best_response`. `adae_table()`: an `rwe_ae`
#'   table (see [ae_table()]).
#' @examples
#' adam <- rrdtc_as_adam()
#' pfs <- adtte_surv(adam$adtte, "PFS", adsl = adam$adsl)
#' km_fit(Surv(time, event) ~ 1, pfs)
#' response_rates(adrs_best_response(adam$adrs))
#' adae_table(adam$adae, adam$adsl)
#' @name adam
NULL

#' @rdname adam
#' @export
adtte_surv <- function(adtte, paramcd = NULL, adsl = NULL, unit = NULL, from_dates = FALSE,
                       id = "USUBJID") {
  call <- rlang::current_env()
  recs <- adam_parameter(adtte, paramcd, "adtte", call)
  check_flag(from_dates, call = call)
  needed <- c(id, "CNSR", if (from_dates) c("STARTDT", "ADT") else "AVAL")
  check_columns(recs, needed, arg = "adtte", call = call)
  adam_unique_ids(recs, id, "adtte", call)
  cnsr <- as.vector(unclass(recs$CNSR))
  bad <- which(!is.na(cnsr) & (!is.numeric(cnsr) | cnsr < 0 | cnsr != round(cnsr)))
  if (!is.numeric(cnsr) || length(bad)) {
    abort_rows("adtte", "column CNSR must hold whole numbers >= 0 (0 = event)",
               if (is.numeric(cnsr)) bad else seq_along(cnsr), call)
  }
  if (from_dates) {
    time <- time_between(recs$STARTDT, recs$ADT, unit %||% "days")
  } else {
    time <- adam_aval_time(recs, unit, call)
  }
  attributes(time) <- NULL
  param <- if ("PARAM" %in% names(recs)) as.character(recs$PARAM[1L]) else
    as.character(paramcd %||% "Time")
  attr(time, "label") <- sprintf("%s (%s)", param, unit %||% adam_unit_name(recs))
  recs$time <- time
  recs$event <- as.integer(cnsr == 0)
  attr(recs$event, "label") <- "Event (CNSR = 0)"
  adam_join_adsl(recs, adsl, id, call)
}

# AVAL as the time, converted from days when `unit` is given.
adam_aval_time <- function(recs, unit, call) {
  aval <- as.vector(unclass(recs$AVAL))
  if (!is.numeric(aval)) {
    cli::cli_abort("{.arg adtte}: column AVAL must be numeric, not {.obj_type_friendly {aval}}.",
                   call = call, class = "rwe_bad_input")
  }
  if (is.null(unit)) return(as.double(aval))
  unit <- match_unit(unit, call)
  units <- if ("AVALU" %in% names(recs)) unique(toupper(as.character(recs$AVALU))) else "DAYS"
  if (!all(units %in% c("DAYS", "DAY", NA))) {
    cli::cli_abort("{.arg unit} converts AVAL from days, but AVALU is {.val {units}}.",
                   call = call, class = "rwe_bad_input")
  }
  as.double(aval) / days_per_unit[[unit]]
}

adam_unit_name <- function(recs) {
  if (!"AVALU" %in% names(recs)) return("AVAL units")
  tolower(as.character(recs$AVALU[!is.na(recs$AVALU)][1L]))
}

# The records of one PARAMCD; NULL is allowed only for a single-parameter data set.
adam_parameter <- function(data, paramcd, arg, call) {
  check_data_frame(data, arg = arg, call = call)
  if (!"PARAMCD" %in% names(data)) {
    if (is.null(paramcd)) return(data)
    cli::cli_abort("{.arg {arg}} has no PARAMCD column to select {.val {paramcd}} from.",
                   call = call, class = "rwe_bad_input")
  }
  params <- unique(as.character(data$PARAMCD))
  if (is.null(paramcd)) {
    if (length(params) == 1L) return(data)
    cli::cli_abort(c("{.arg {arg}} holds several parameters; choose one with
                      {.arg paramcd}.", "i" = "PARAMCD values: {.val {params}}."),
                   call = call, class = "rwe_bad_input")
  }
  if (!is.character(paramcd) || length(paramcd) != 1L || !paramcd %in% params) {
    cli::cli_abort(c("{.arg paramcd} must be one PARAMCD value of {.arg {arg}}.",
                     "i" = "PARAMCD values: {.val {params}}."),
                   call = call, class = "rwe_bad_input")
  }
  rows_keep_labels(data, as.character(data$PARAMCD) %in% paramcd)
}

# data[rows, ] keeping the columns' variable labels, which `[` drops from plain vectors.
rows_keep_labels <- function(data, rows) {
  out <- data[rows, , drop = FALSE]
  for (col in names(out)) attr(out[[col]], "label") <- attr(data[[col]], "label", exact = TRUE)
  rownames(out) <- NULL
  out
}

adam_unique_ids <- function(data, id, arg, call) {
  dup <- which(duplicated(as.character(data[[id]])))
  if (length(dup)) {
    abort_rows(arg, sprintf("must have one record per subject (%s) for the parameter; %s repeats",
                            id, format_offenders(as.character(data[[id]][dup]))), dup, call)
  }
}

# Joins the ADSL columns that the records lack, by subject; every subject must be in ADSL.
adam_join_adsl <- function(recs, adsl, id, call) {
  if (is.null(adsl)) return(recs)
  check_data_frame(adsl, call = call)
  check_columns(adsl, id, arg = "adsl", call = call)
  at <- match(as.character(recs[[id]]), as.character(adsl[[id]]))
  if (anyNA(at)) {
    abort_rows("adsl", sprintf("lacks subjects (%s) of the records: %s", id,
                               format_offenders(as.character(recs[[id]][is.na(at)]))),
               which(is.na(at)), call)
  }
  for (col in setdiff(names(adsl), names(recs))) recs[[col]] <- keep_label(adsl[[col]], at)
  recs
}

# x[i] keeping the variable label (subsetting drops attributes of plain vectors).
keep_label <- function(x, i) {
  out <- x[i]
  attr(out, "label") <- attr(x, "label", exact = TRUE)
  out
}

#' @rdname adam
#' @export
adsl_population <- function(adsl, population = NULL, id = "USUBJID") {
  call <- rlang::current_env()
  check_data_frame(adsl, call = call)
  check_columns(adsl, c(id, population), arg = "adsl", call = call)
  adam_unique_ids(adsl, id, "adsl", call)
  if (!is.null(population)) {
    adsl <- rows_keep_labels(adsl, as.character(adsl[[population]]) %in% "Y")
    if (!nrow(adsl)) {
      cli::cli_abort("{.arg adsl}: no subject has {population} = \"Y\".", call = call,
                     class = "rwe_bad_input")
    }
  }
  for (col in names(adsl)) {
    v <- as.character(adsl[[col]])
    if (is.character(adsl[[col]]) && all(v %in% c("Y", "N", "", NA)) && any(v %in% "Y")) {
      label <- attr(adsl[[col]], "label", exact = TRUE)
      adsl[[col]] <- v %in% "Y"
      attr(adsl[[col]], "label") <- label
    }
  }
  adsl
}

#' @rdname adam
#' @export
adrs_best_response <- function(adrs, paramcd = "BOR", adsl = NULL, id = "USUBJID") {
  call <- rlang::current_env()
  recs <- adam_parameter(adrs, paramcd, "adrs", call)
  check_columns(recs, c(id, "AVALC"), arg = "adrs", call = call)
  adam_unique_ids(recs, id, "adrs", call)
  value <- toupper(trimws(as.character(recs$AVALC)))
  value[value %in% c("NE", "MISSING", "")] <- NA
  bad <- which(!is.na(value) & !value %in% response_levels)
  if (length(bad)) {
    abort_rows("adrs", sprintf("AVALC must be CR, PR, SD, PD or NE; found %s (recode e.g. NON-CR/NON-PD explicitly)",
                               format_offenders(value[bad])), bad, call)
  }
  out <- data.frame(recs[id], best_response = value, stringsAsFactors = FALSE)
  attr(out$best_response, "label") <- "Best overall response"
  adam_join_adsl(out, adsl, id, call)
}

#' @rdname adam
#' @param trtemfl Keep only treatment-emergent events (`TRTEMFL == "Y"`)?
#' @param term,grade Columns of ADAE: the term and the CTCAE grade (`NULL`: `ATOXGR` if
#'   present, else `AETOXGR`; character grades such as `"3"` are read as numbers).
#' @param ... Passed to [ae_table()] (`sort`).
#' @export
adae_table <- function(adae, adsl, population = "SAFFL", trtemfl = TRUE, term = "AEDECOD",
                       grade = NULL, id = "USUBJID", ...) {
  call <- rlang::current_env()
  check_data_frame(adae, call = call)
  grade <- grade %||% intersect(c("ATOXGR", "AETOXGR"), names(adae))[1L]
  if (is.na(grade)) {
    cli::cli_abort("{.arg adae} has neither ATOXGR nor AETOXGR; name the grade column with
                    {.arg grade}.", call = call, class = "rwe_bad_input")
  }
  check_columns(adae, c(id, term, grade), arg = "adae", call = call)
  if (!population %in% names(adsl)) population <- NULL
  patients <- adsl_population(adsl, population, id)
  if (isTRUE(trtemfl)) {
    check_columns(adae, "TRTEMFL", arg = "adae", call = call)
    adae <- adae[as.character(adae$TRTEMFL) %in% "Y", , drop = FALSE]
  }
  adae <- adae[as.character(adae[[id]]) %in% as.character(patients[[id]]), , drop = FALSE]
  g <- as.vector(unclass(adae[[grade]]))
  num <- suppressWarnings(as.numeric(g))
  bad <- which(!is.na(g) & is.na(num))
  if (length(bad)) {
    abort_rows("adae", sprintf("grade column %s must hold 1-5; found %s", grade,
                               format_offenders(g[bad])), bad, call)
  }
  ae <- data.frame(id = as.character(adae[[id]]), term = as.character(adae[[term]]),
                   grade = num, stringsAsFactors = FALSE)
  pts <- data.frame(id = as.character(patients[[id]]), stringsAsFactors = FALSE)
  ae_table(ae, pts, id = "id", term = "term", grade = "grade", ...)
}

#' The bundled cohort as CDISC ADaM-like data sets
#'
#' Rewrites [rrdtc_patients] and [rrdtc_adverse_events] with ADaM variable names, codes and
#' labels, to try the ADaM adapters (and to write .xpt files with `haven::write_xpt()`):
#' ADSL (`USUBJID`, `AGE`, `SEX`, `HISTOL`, `BONEMET`, `SAFFL`, `EFFFL`, `TRTSDT`), ADTTE
#' (`PARAMCD = "PFS"`, `AVAL` in days = months x 30.4375, `AVALU`, `CNSR` = 1 - event,
#' `STARTDT`, `ADT`), ADRS (`PARAMCD = "BOR"`, `AVALC`) and ADAE (`AEDECOD`, `ATOXGR`,
#' `TRTEMFL`). Treatment start dates are made up (2015 onwards).
#'
#' @return A list of four data frames: `adsl`, `adtte`, `adrs`, `adae`.
#' @examples
#' adam <- rrdtc_as_adam()
#' str(adam$adtte)
#' @export
rrdtc_as_adam <- function() {
  p <- rwecohort::rrdtc_patients
  ids <- paste0("RRDTC-", p$patient_id)
  start <- as.Date("2015-01-05") + 14L * (seq_len(nrow(p)) - 1L)
  yn <- function(x) ifelse(x %in% TRUE, "Y", "N")
  adsl <- data.frame(STUDYID = "RRDTC", USUBJID = ids, AGE = as.double(p$age_years),
                     SEX = ifelse(p$sex == "male", "M", "F"), HISTOL = p$histology,
                     BONEMET = yn(p$met_bone), SAFFL = "Y", EFFFL = yn(p$evaluable),
                     TRTSDT = start, stringsAsFactors = FALSE)
  adsl <- set_labels(adsl, c(USUBJID = "Unique Subject Identifier", AGE = "Age (years)",
                             SEX = "Sex", HISTOL = "Histologic type",
                             BONEMET = "Bone metastasis", SAFFL = "Safety Population Flag",
                             EFFFL = "Efficacy Population Flag",
                             TRTSDT = "Date of First Exposure to Treatment"))
  ev <- !is.na(p$pfs_months)
  aval <- p$pfs_months[ev] * days_per_unit[["months"]]
  adtte <- data.frame(STUDYID = "RRDTC", USUBJID = ids[ev], PARAMCD = "PFS",
                      PARAM = "Progression-free survival", AVAL = aval, AVALU = "DAYS",
                      CNSR = 1L - as.integer(p$pfs_event[ev]), STARTDT = start[ev],
                      ADT = start[ev] + round(aval), stringsAsFactors = FALSE)
  adtte <- set_labels(adtte, c(PARAMCD = "Parameter Code", PARAM = "Parameter",
                               AVAL = "Analysis Value", AVALU = "Analysis Value Unit",
                               CNSR = "Censor", STARTDT = "Time-to-Event Origin Date",
                               ADT = "Analysis Date"))
  adrs <- data.frame(STUDYID = "RRDTC", USUBJID = ids, PARAMCD = "BOR",
                     PARAM = "Best Overall Response",
                     AVALC = ifelse(is.na(p$best_response), "NE", p$best_response),
                     stringsAsFactors = FALSE)
  adrs <- set_labels(adrs, c(AVALC = "Analysis Value (C)"))
  ae <- rwecohort::rrdtc_adverse_events
  adae <- data.frame(STUDYID = "RRDTC", USUBJID = paste0("RRDTC-", ae$patient_id),
                     AEDECOD = ae$ae_term, ATOXGR = as.character(ae$max_grade),
                     TRTEMFL = "Y", stringsAsFactors = FALSE)
  adae <- set_labels(adae, c(AEDECOD = "Dictionary-Derived Term",
                             ATOXGR = "Analysis Toxicity Grade",
                             TRTEMFL = "Treatment Emergent Analysis Flag"))
  list(adsl = adsl, adtte = adtte, adrs = adrs, adae = adae)
}

set_labels <- function(data, labels) {
  for (col in names(labels)) attr(data[[col]], "label") <- labels[[col]]
  data
}
