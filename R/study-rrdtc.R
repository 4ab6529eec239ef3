# Small helpers of the study vignettes and report: the derived analysis variables of the
# reconstructed RR-DTC cohort, and a published-versus-reproduced comparison table.

#' Derived analysis variables of the RR-DTC study
#'
#' Adds the analysis variables of Ling et al. (2023) to the patient table of the
#' **reconstructed** cohort ([rrdtc_patients]). They are derived, never stored, by these
#' rules (the readings R1 and R2 resolve the paper's inconsistencies I-8 and I-9):
#'
#' * `distant` = `met_lung | met_bone | met_pleura | met_other` (any distant metastasis);
#' * `lung_only_t1` = `met_lung & !met_bone & !met_pleura & !met_other` (Table 1's strict
#'   "lung-only");
#' * `lung_only_t34` = `met_lung & !met_bone & !met_other` (Tables 3/4: lung with or without
#'   pleura, reading R1);
#' * `rai_t34` = `rr_definition == "uptake_but_progressive"` (Tables 3/4 "RAI uptake: yes" is
#'   RR definition 2, reading R2);
#' * `hfs` = the patient has a `"Hand-foot skin syndrome"` row in `adverse_events`;
#' * `tg_response_ge60` = `tg_best_pct_change <= -60` (`NA` when the change is missing);
#' * `disease_control` = `best_response %in% c("CR", "PR", "SD")` and
#'   `objective_response` = `best_response %in% c("CR", "PR")`, both `NA` for patients
#'   without a best response (not evaluable);
#' * `age_ge55` = `age_years >= 55`.
#'
#' @param patients A data frame with the columns of [rrdtc_patients] (only those used by the
#'   rules above are needed; a rule whose inputs are absent is skipped).
#' @param adverse_events A data frame with the columns `patient_id` and `ae_term` of
#'   [rrdtc_adverse_events], or `NULL` to skip `hfs`.
#' @param hfs_term The adverse-event term that defines `hfs`.
#' @return `patients` with the derived logical columns added (existing columns of the same
#'   names are overwritten).
#' @seealso [compare_published()], [baseline_table()], [response_by()]
#' @examples
#' rrdtc <- rrdtc_derive(rrdtc_patients, rrdtc_adverse_events)
#' # Table 1 uses the strict lung-only definition, Tables 3/4 lung +/- pleura (R1)
#' c(table1 = sum(rrdtc$lung_only_t1), tables34 = sum(rrdtc$lung_only_t34[rrdtc$evaluable]))
#' table(hfs = rrdtc$hfs, evaluable = rrdtc$evaluable)
#' @export
rrdtc_derive <- function(patients, adverse_events = NULL,
                         hfs_term = "Hand-foot skin syndrome") {
  check_data_frame(patients)
  has <- function(cols) all(cols %in% names(patients))
  met <- c("met_lung", "met_bone", "met_pleura", "met_other")
  if (has(met)) {
    p <- lapply(patients[met], function(x) x %in% TRUE)
    patients$distant <- p$met_lung | p$met_bone | p$met_pleura | p$met_other
    patients$lung_only_t1 <- p$met_lung & !p$met_bone & !p$met_pleura & !p$met_other
    patients$lung_only_t34 <- p$met_lung & !p$met_bone & !p$met_other
  }
  if (has("rr_definition")) {
    patients$rai_t34 <- patients$rr_definition %in% "uptake_but_progressive"
    patients$rai_t34[is.na(patients$rr_definition)] <- NA
  }
  if (!is.null(adverse_events)) {
    check_data_frame(adverse_events)
    check_columns(adverse_events, c("patient_id", "ae_term"), arg = "adverse_events")
    check_columns(patients, "patient_id", arg = "patients")
    with_hfs <- adverse_events$patient_id[adverse_events$ae_term %in% hfs_term]
    patients$hfs <- patients$patient_id %in% with_hfs
  }
  if (has("tg_best_pct_change")) {
    patients$tg_response_ge60 <- patients$tg_best_pct_change <= -60
  }
  if (has("best_response")) {
    missing <- is.na(patients$best_response)
    patients$disease_control <- patients$best_response %in% c("CR", "PR", "SD")
    patients$objective_response <- patients$best_response %in% c("CR", "PR")
    patients$disease_control[missing] <- NA
    patients$objective_response[missing] <- NA
  }
  if (has("age_years")) patients$age_ge55 <- patients$age_years >= 55
  patients
}

#' Compare reproduced numbers with published ones
#'
#' Lines up a table computed from data with the same table as published, key by key, and
#' reports each published value beside the reproduced one with their difference. Used by
#' the study vignettes to show which printed numbers of Ling et al. (2023) the
#' reconstructed cohort reproduces.
#'
#' @param reproduced,published Data frames, one row per key.
#' @param by Key columns. Unnamed entries name a column present in both; a named entry
#'   `c(rep_col = "pub_col")` matches column `rep_col` of `reproduced` with `pub_col` of
#'   `published` (as in a join). Keys are compared as text.
#' @param values Value columns to compare, named like `by`. A published value that is `NA`
#'   with a non-missing reproduced value (or the reverse) is a mismatch; both missing is a
#'   match.
#' @param tolerance Largest absolute difference that still counts as a match: one number,
#'   or a vector named by the (published) value columns.
#' @return A data frame of class `c("rwe_comparison", "rwe_table", "data.frame")` in the
#'   row order of `published`, one row per key and value column: the key columns (published
#'   names), `quantity` (the published value column), `published`, `reproduced` (numeric
#'   when every compared column is numeric, text otherwise), `difference` (reproduced minus
#'   published; `NA` for text) and `match` (logical). Published keys missing from
#'   `reproduced` get `reproduced = NA` and `match = FALSE`. `print()` and `knit_print()`
#'   mark mismatches in bold.
#' @seealso [rrdtc_derive()], [published_tables]
#' @examples
#' rrdtc <- rrdtc_derive(rrdtc_patients, rrdtc_adverse_events)
#' tab <- tidy(ae_table(rrdtc_adverse_events, rrdtc))
#' any_grade <- tab[tab$grade_band == "any", ]
#' any_grade$percent <- round(any_grade$percent, 1)
#' compare_published(any_grade, published_table5,
#'                   by = c(term = "ae_term"),
#'                   values = c(n = "any_grade_n", percent = "any_grade_percent"))
#' @export
compare_published <- function(reproduced, published, by, values, tolerance = 0) {
  check_data_frame(reproduced)
  check_data_frame(published)
  by_rep <- column_map_names(by)
  by_pub <- unname(by)
  val_rep <- column_map_names(values)
  val_pub <- unname(values)
  if (!is.character(by) || length(by) == 0 || !is.character(values) || length(values) == 0) {
    cli::cli_abort("{.arg by} and {.arg values} must be non-empty character vectors.",
                   class = "rwe_bad_input")
  }
  reserved <- intersect(by_pub, c("quantity", "published", "reproduced", "difference", "match"))
  if (length(reserved) > 0) {
    cli::cli_abort("Key column{?s} {.val {reserved}} clash{?es/} with the output columns;
                    rename {?it/them}.",
                   class = "rwe_bad_input")
  }
  check_columns(reproduced, c(by_rep, val_rep), arg = "reproduced")
  check_columns(published, c(by_pub, val_pub), arg = "published")
  if (!is.numeric(tolerance) || anyNA(tolerance) || any(tolerance < 0)) {
    cli::cli_abort("{.arg tolerance} must be non-negative numbers.",
                   class = "rwe_bad_input")
  }
  if (length(tolerance) > 1 || !is.null(names(tolerance))) {
    unknown <- setdiff(names(tolerance), val_pub)
    if (is.null(names(tolerance)) || length(unknown) > 0) {
      cli::cli_abort("A vector {.arg tolerance} must be named by the published value
                      columns ({.val {val_pub}}).",
                   class = "rwe_bad_input")
    }
    tol <- ifelse(val_pub %in% names(tolerance), tolerance[val_pub], 0)
  } else {
    tol <- rep(tolerance, length(val_pub))
  }
  names(tol) <- val_pub
  key <- function(df, cols) do.call(paste, c(lapply(df[cols], as.character), sep = "\r"))
  pub_key <- key(published, by_pub)
  rep_key <- key(reproduced, by_rep)
  dup <- unique(rep_key[duplicated(rep_key)])
  if (length(dup) > 0) {
    cli::cli_abort("{.arg reproduced} has duplicated keys: {format_offenders(gsub('\r', ' / ', dup), quote = TRUE)}.",
                   class = "rwe_bad_input")
  }
  at <- match(pub_key, rep_key)
  numeric_all <- all(vapply(c(published[val_pub], reproduced[val_rep]), is.numeric, TRUE))
  as_value <- function(x) if (numeric_all) as.numeric(x) else
    ifelse(is.na(x), NA_character_, as.character(if (is.numeric(x)) signif(x, 10) else x))
  pieces <- lapply(seq_along(val_pub), function(j) {
    pub <- published[[val_pub[j]]]
    repr <- reproduced[[val_rep[j]]][at]
    out <- published[by_pub]
    out$quantity <- val_pub[j]
    out$published <- as_value(pub)
    out$reproduced <- as_value(repr)
    if (numeric_all) {
      out$difference <- out$reproduced - out$published
      same <- abs(out$difference) <= tol[[j]] + 1e-9
    } else {
      out$difference <- NA_real_
      same <- out$reproduced == out$published
    }
    out$match <- ifelse(is.na(out$published) & is.na(out$reproduced), TRUE,
                        ifelse(is.na(out$published) | is.na(out$reproduced), FALSE, same))
    out$row <- seq_len(nrow(out))
    out
  })
  out <- do.call(rbind, pieces)
  out <- out[order(out$row, match(out$quantity, val_pub)), ]
  out$row <- NULL
  n_match <- sum(out$match)
  new_rwe_table(out, "rwe_comparison",
                title = "Published vs reproduced (reproduced from the reconstructed cohort)",
                footnotes = sprintf("%d of %d published values reproduced%s.", n_match,
                                    nrow(out),
                                    if (any(tol > 0)) " within tolerance" else " exactly"),
                by = by_pub)
}

# Names of the `reproduced` columns of a `by`/`values` map (unnamed = same name).
column_map_names <- function(x) {
  nm <- names(x)
  if (is.null(nm)) return(unname(x))
  ifelse(nm == "", unname(x), nm)
}

#' @export
display_table.rwe_comparison <- function(x, ...) {
  shown <- strip_rwe_table(x)
  fmt <- function(v) {
    if (is.numeric(v)) {
      txt <- rep("\u2013", length(v))
      txt[!is.na(v)] <- vapply(v[!is.na(v)], function(a) {
        format(round(a, 4), trim = TRUE, drop0trailing = TRUE, scientific = abs(a) < 1e-4 && a != 0)
      }, "")
      return(txt)
    }
    ifelse(is.na(v), "\u2013", as.character(v))
  }
  for (col in c("published", "reproduced", "difference")) shown[[col]] <- fmt(shown[[col]])
  if (all(is.na(x$difference))) shown$difference <- NULL
  for (col in setdiff(names(shown), c("published", "reproduced", "difference", "match"))) {
    shown[[col]] <- ifelse(is.na(shown[[col]]), "", as.character(shown[[col]]))
  }
  bold <- !x$match
  for (col in setdiff(names(shown), "match")) {
    shown[[col]] <- ifelse(bold & shown[[col]] != "", paste0("**", shown[[col]], "**"),
                           shown[[col]])
  }
  shown$match <- ifelse(x$match, "yes", "**no**")
  shown
}
