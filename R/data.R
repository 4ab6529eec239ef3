# Documentation of the bundled data sets. Built by data-raw/build-all.R.

#' Reconstructed RR-DTC sorafenib cohort: one row per patient
#'
#' A **reconstructed** (synthetic) cohort of 31 patients with radioactive-iodine-refractory
#' differentiated thyroid cancer (RR-DTC) treated with sorafenib, built so that it reproduces
#' the published tables of Ling et al. (2023). **These are not real patients**: the study's
#' patient-level data were never published. Every count and percentage of Tables 1, 2, 3 and
#' 5, the N column of Table 4, the overall median PFS (16.5 months, SPSS rule) and the text's
#' facts are reproduced exactly; the Table 4 Kaplan-Meier means and log-rank p-values only
#' approximately (see `data-raw/README.md` in the package sources).
#'
#' The paper's internal inconsistencies are resolved by documented readings: "lung-only" in
#' Tables 3/4 means lung with or without pleura (R1); Tables 3/4 "RAI uptake: yes" is RR
#' definition 2 (R2); target-lesion rows of Table 1 are per-patient site flags, several per
#' patient allowed (I-4); both FTC+PTC patients are among the 5 excluded (H1).
#'
#' **Invented values** (not constrained by the paper): the exact ages within their band, the
#' cumulative RAI doses (only median and range are published), the baseline thyroglobulin,
#' most thyroglobulin changes, the waterfall values (except their sign/threshold class), the
#' exact PFS and follow-up times (constrained only through the published summaries), the
#' post-progression follow-up, the dose-modification details, which progressions were by new
#' lesions, which patients died, and which individual patient carries which combination of
#' characteristics.
#'
#' @format A data frame with 31 rows and 36 columns:
#' \describe{
#'   \item{patient_id}{chr. `"R01"`..`"R31"` (R = reconstructed).}
#'   \item{evaluable}{lgl. Evaluable for response and PFS (26 `TRUE`).}
#'   \item{exclusion_reason}{chr. `"single_imaging"` (3), `"no_measurable_target"` (1),
#'     `"surgery_during_treatment"` (1); `NA` if evaluable.}
#'   \item{age_years}{int. Age at start of sorafenib (exact value invented within the
#'     published >= 55 / < 55 split, median 58, range 18-79).}
#'   \item{sex}{chr. `"male"` or `"female"`.}
#'   \item{histology}{chr. `"FTC"`, `"PTC"` or `"FTC+PTC"`.}
#'   \item{rai_uptake}{lgl. Any RAI uptake (Table 1 row).}
#'   \item{rr_definition}{chr. Definition of RAI refractoriness: `"no_uptake_lesion"`,
#'     `"uptake_but_progressive"`, `"progression_or_dose_ge_22.3GBq"`.}
#'   \item{cum_rai_dose_gbq}{dbl. Cumulative RAI dose, GBq (invented; median 11.7, range
#'     0.1-58.8 as published).}
#'   \item{met_lung, met_bone, met_pleura}{lgl. Distant metastasis in lung, bone, pleura.}
#'   \item{met_other}{lgl. A distant site Table 1 does not list (needed for consistency).}
#'   \item{target_lung, target_bone, target_lymph_node, target_neck}{lgl. Target lesions in
#'     that site (several sites per patient allowed).}
#'   \item{recist_measurable}{lgl. Has RECIST 1.1-measurable target lesions (`FALSE` for the
#'     Figure 1 "#" patient and the excluded patient without a measurable lesion).}
#'   \item{prior_therapy}{chr. `"RAI_only"` or `"RAI_plus_other"` (Tables 3/4).}
#'   \item{residual_lesion}{lgl. Residual lesion (Tables 3/4).}
#'   \item{tg_baseline_ng_ml}{dbl. Baseline thyroglobulin, ng/mL (**invented**).}
#'   \item{tg_best_pct_change}{dbl. Best % change of thyroglobulin from baseline (negative =
#'     fall; a fall >= 60% defines the Tg response of Tables 3/4); `NA` if not evaluable.}
#'   \item{target_best_pct_change}{dbl. Best % change of the sum of target-lesion diameters
#'     (the Figure 1 bar, computed from [rrdtc_lesions]); a placeholder (-50) for the
#'     non-measurable "#" PR; `NA` if not evaluable.}
#'   \item{best_response}{chr. `"CR"`, `"PR"`, `"SD"`, `"PD"` (RECIST 1.1); `NA` if not
#'     evaluable.}
#'   \item{progression_type}{chr. `"target_enlargement"` or `"new_lesion"` for PD; else `NA`.}
#'   \item{pfs_months}{dbl. Progression-free survival, months from start of sorafenib (0.5
#'     grid); `NA` if not evaluable.}
#'   \item{pfs_event}{int. 1 = progression or death, 0 = censored; `NA` if not evaluable.}
#'   \item{followup_months}{dbl. Months of follow-up (>= `pfs_months`).}
#'   \item{dose_modified}{lgl. Dose reduction or temporary discontinuation because of AEs.}
#'   \item{dose_interrupted}{lgl. Temporary discontinuation (5 patients).}
#'   \item{interruption_max_months}{dbl. Longest interruption (at most 6); `NA` if none.}
#'   \item{min_daily_dose_mg}{int. Lowest maintenance dose (800 = never reduced).}
#'   \item{died}{lgl. Died (Figure 1 dots).}
#'   \item{death_cause}{chr. `"pulmonary infection"`, `"bone-related event"` or `NA`.}
#'   \item{typical_case}{int. Typical case 1, 2 or 3 of Figure 4; `NA` otherwise.}
#'   \item{fig1_marker}{chr. Figure 1 marker: `"hash"`, `"star"`, `"dot"` or `NA`.}
#' }
#'
#' Derived variables of the paper's analyses are not stored; for example Tables 3/4
#' "lung-only" is `met_lung & !met_bone & !met_other`, "RAI uptake" is
#' `rr_definition == "uptake_but_progressive"`, HFS is having a `"Hand-foot skin syndrome"`
#' row in [rrdtc_adverse_events], and Tg response is `tg_best_pct_change <= -60`.
#'
#' @source Reconstructed from Ling Y, Xiong X, Luo J, et al. (2023) The efficacy and safety in
#'   radioactive iodine refractory thyroid cancer patients treated with sorafenib. Front.
#'   Endocrinol. 14:1200932. \doi{10.3389/fendo.2023.1200932} (CC BY 4.0). Built by
#'   `data-raw/build-all.R`.
#' @seealso [rrdtc_adverse_events], [rrdtc_lesions], [published_table1]
#' @examples
#' head(rrdtc_patients)
#' table(rrdtc_patients$best_response, useNA = "ifany")
"rrdtc_patients"

#' Reconstructed RR-DTC sorafenib cohort: adverse events
#'
#' One row per patient and adverse-event term ever experienced, at the highest grade
#' reached, for the 31 **reconstructed** (not real) patients of [rrdtc_patients]. Counts by
#' term and grade group reproduce Table 5 of Ling et al. (2023) exactly, and the durations
#' reproduce the printed medians and ranges (hand-foot skin syndrome 18 (0.5-44) months,
#' diarrhea 16.5 (1-44), alopecia 12.0 (2-44); grade 3-4 hand-foot skin syndrome, diarrhea
#' and liver AEs at most 38 months) and the reasons of the 19 dose reductions. **Invented:**
#' grade 1 versus 2 (the paper gives only grade groups), every individual duration, and which
#' patient had which AE.
#'
#' @format A data frame with one row per patient x AE term and 6 columns:
#' \describe{
#'   \item{patient_id}{chr. Key to [rrdtc_patients].}
#'   \item{ae_term}{chr. One of the 13 Table 5 terms, spelled as in the paper.}
#'   \item{grade_group}{chr. `"1-2"` or `"3-4"` (the resolution the paper publishes).}
#'   \item{max_grade}{int. Highest CTCAE v5.0 grade, 1-3 (1 versus 2 invented; severe = 3).}
#'   \item{duration_months}{dbl. Total duration, months (0.5 grid), at most the patient's
#'     follow-up.}
#'   \item{dose_reduction_cause}{lgl. This AE was a reason for a dose reduction (hand-foot
#'     skin syndrome 19, diarrhea 5, abnormal liver function 1, proteinuria 1).}
#' }
#' @source Reconstructed from Ling Y, Xiong X, Luo J, et al. (2023) The efficacy and safety in
#'   radioactive iodine refractory thyroid cancer patients treated with sorafenib. Front.
#'   Endocrinol. 14:1200932. \doi{10.3389/fendo.2023.1200932} (CC BY 4.0).
#' @seealso [rrdtc_patients], [published_table5]
#' @examples
#' head(rrdtc_adverse_events)
#' table(rrdtc_adverse_events$ae_term, rrdtc_adverse_events$grade_group)
"rrdtc_adverse_events"

#' Reconstructed RR-DTC sorafenib cohort: target-lesion measurements
#'
#' Target-lesion diameters per visit (long format) for the **reconstructed** (not real)
#' patients of [rrdtc_patients] with RECIST-measurable disease. **All measurements are
#' invented**; they are consistent under RECIST 1.1 with each evaluable patient's
#' `best_response`, `target_best_pct_change` (best % change of the sum of diameters from
#' baseline, the Figure 1 bar) and `progression_type`. PR and SD patients are measured at
#' baseline, every 3 months and at their last assessment (their censored PFS time). A PD
#' patient has a baseline and one assessment, at progression: RECIST 1.1 gives a best response
#' of PD only when the first assessment already progresses. Excluded patients have a
#' baseline only; patients with `recist_measurable = FALSE` have no rows.
#'
#' @format A data frame with 6 columns:
#' \describe{
#'   \item{patient_id}{chr. Key to [rrdtc_patients].}
#'   \item{lesion_id}{chr. Lesion identifier, e.g. `"R01-L1"`.}
#'   \item{site}{chr. `"lung"`, `"bone"`, `"lymph_node"` or `"neck"`, consistent with the
#'     patient's `target_*` flags (at most 2 lesions per organ, 5 in all).}
#'   \item{visit_month}{dbl. Months since the start of sorafenib; 0 = baseline.}
#'   \item{diameter_mm}{dbl. Longest diameter in mm (short axis for lymph nodes).}
#'   \item{new_lesion}{lgl. `TRUE` on all rows of the visit at which a new lesion appeared.}
#' }
#' @source Invented to be consistent with the responses reported by Ling Y, Xiong X, Luo J,
#'   et al. (2023) Front. Endocrinol. 14:1200932. \doi{10.3389/fendo.2023.1200932}
#'   (CC BY 4.0).
#' @seealso [rrdtc_patients]
#' @examples
#' head(rrdtc_lesions)
#' # sum of diameters per patient and visit
#' head(aggregate(diameter_mm ~ patient_id + visit_month, data = rrdtc_lesions, FUN = sum))
"rrdtc_lesions"

#' Published tables of Ling et al. (2023)
#'
#' Tables 1-5 of the driving study, transcribed as printed (these are the published numbers,
#' not computed from the reconstructed cohort), including the printed inconsistencies: Table 1
#' prints 6.4 for 2/31 (6.45), Table 2 prints 30.7 for 8/26 (30.77), Table 4 prints 65.3 for
#' 17/26 in the age row (65.4 in the histology row), and Table 4 prints p "0.000" (read as
#' p < 0.0005). The Table 4 "PFS, months" column holds SPSS Kaplan-Meier *means* (area under
#' the curve up to the group's largest observed time), not medians; the disease-control and
#' objective-response rows print an en dash. Level labels write the printed
#' greater-or-equal and less-or-equal signs as ASCII `">="` and `"<="`.
#'
#' @format
#' `published_table1` (Table 1, baseline characteristics, n = 31): `variable`, `level`,
#' `n` (int), `percent` (dbl, as printed), `denominator` (31, or 24 for the metastasis sites),
#' `statistic` (`"n (%)"` or `"median (range)"`), `median`, `min`, `max` (dbl, for age and
#' cumulative RAI dose), `printed` (chr, the cell as printed).
#'
#' `published_table2` (Table 2, efficacy, n = 26): `section`, `level`, `n` (int),
#' `percent` (dbl, as printed), `printed` (chr), `denominator` (26).
#'
#' `published_table3` (Table 3, DCR and ORR by subgroup, n = 26): `variable`, `level`,
#' `dcr_percent`, `orr_percent` (dbl, as printed), `dcr_p_value`, `orr_p_value` (dbl, two-sided
#' Fisher exact test, on the first row of each variable, `NA` on the second), `dcr_printed`,
#' `orr_printed` (chr).
#'
#' `published_table4` (Table 4, PFS by subgroup, n = 26, plus the Results text's comparison of
#' bone vs no bone metastasis among the 19 with distant metastases): `variable`, `level`,
#' `n` (int), `percent` (dbl, as printed), `pfs_mean_months` (dbl, SPSS KM mean; `NA` where
#' a dash is printed), `pfs_printed` (chr), `p_value` (dbl, log-rank; on the first row of each
#' variable; 0 where "0.000" is printed), `p_value_printed` (chr), `source` (`"Table 4"` or
#' `"Results text"`), `denominator` (26, or 19 for the text row).
#'
#' `published_table5` (Table 5, adverse events, n = 31, highest grade per patient):
#' `ae_term`, `grade_1_2_n`, `grade_1_2_percent`, `grade_3_4_n`, `grade_3_4_percent`,
#' `any_grade_n`, `any_grade_percent`, `denominator` (31).
#' @source Ling Y, Xiong X, Luo J, et al. (2023) The efficacy and safety in radioactive iodine
#'   refractory thyroid cancer patients treated with sorafenib. Front. Endocrinol.
#'   14:1200932. \doi{10.3389/fendo.2023.1200932} (CC BY 4.0).
#' @seealso [rrdtc_patients], [sorafenib_literature]
#' @name published_tables
#' @examples
#' published_table1
#' published_table4[, c("variable", "level", "n", "pfs_printed", "p_value_printed")]
NULL

#' @rdname published_tables
"published_table1"

#' @rdname published_tables
"published_table2"

#' @rdname published_tables
"published_table3"

#' @rdname published_tables
"published_table4"

#' @rdname published_tables
"published_table5"

#' Sorafenib in RR-DTC: published real-world studies and the DECISION trial (Table 6)
#'
#' Table 6 of Ling et al. (2023), transcribed as printed: literature values, not patient
#' data. "NM" (not mentioned) is `NA`. The `note` column records the inconsistencies between
#' Table 6 and the paper's text and references.
#'
#' @format A data frame with 5 rows and 12 columns:
#' \describe{
#'   \item{study}{chr. First author.}
#'   \item{year}{int. Year as printed in Table 6.}
#'   \item{study_design}{chr. As printed.}
#'   \item{patients_included}{chr. As printed.}
#'   \item{sample_size}{int. Number of patients.}
#'   \item{followup_months}{dbl. Median follow-up, months (`NA` = NM).}
#'   \item{dcr_percent}{dbl. Disease control rate, %.}
#'   \item{dcr_definition}{chr. Qualifier printed with the DCR (DECISION: ">= 6 months").}
#'   \item{orr_percent}{dbl. Objective response rate, %.}
#'   \item{pfs_months}{dbl. Median PFS, months.}
#'   \item{ae_percent}{dbl. Patients with any AE, % (`NA` = NM).}
#'   \item{note}{chr. Inconsistencies: Benekli's and Cheng's follow-up equal their PFS
#'     (probably copied); the Discussion gives Cheng's follow-up as 25.1 months; "Kim 2019"
#'     is cited as a 2018 reference; Benekli is dated 2014 but its reference is 2015.}
#' }
#' @source Ling Y, Xiong X, Luo J, et al. (2023) Front. Endocrinol. 14:1200932, Table 6.
#'   \doi{10.3389/fendo.2023.1200932} (CC BY 4.0).
#' @examples
#' sorafenib_literature[, c("study", "year", "sample_size", "orr_percent", "pfs_months")]
"sorafenib_literature"
