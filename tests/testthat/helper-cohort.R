# Small fixtures with the column names of the bundled data (constraints.md section 4), and
# builders that reproduce published counts by construction.

# Six patients with the schema of `rrdtc_patients` (only the columns the verbs use plus a
# few more); P5 is not evaluable, P6 is the "#" patient without measurable lesions.
fixture_patients <- function() {
  data.frame(
    patient_id = paste0("P", 1:6),
    evaluable = c(TRUE, TRUE, TRUE, TRUE, FALSE, TRUE),
    age_years = c(58L, 18L, 79L, 60L, 40L, 45L),
    sex = c("male", "female", "female", "male", "female", "female"),
    histology = c("FTC", "PTC", "PTC", "PTC", "FTC+PTC", "FTC"),
    rai_uptake = c(TRUE, TRUE, FALSE, TRUE, FALSE, TRUE),
    cum_rai_dose_gbq = c(11.7, 0.1, 58.8, 7.4, 22.3, 3.7),
    met_lung = c(TRUE, TRUE, FALSE, FALSE, TRUE, FALSE),
    met_bone = c(FALSE, TRUE, FALSE, TRUE, FALSE, FALSE),
    met_pleura = c(FALSE, FALSE, FALSE, FALSE, FALSE, FALSE),
    met_other = c(FALSE, FALSE, FALSE, FALSE, FALSE, TRUE),
    best_response = c("PR", "SD", "PD", "PD", NA, "PR"),
    target_best_pct_change = c(-45, -10, 25, 5, NA, -30),
    pfs_months = c(28, 13.5, 5, 3, NA, 17),
    pfs_event = c(0L, 0L, 1L, 1L, NA, 0L),
    fig1_marker = c(NA, NA, "dot", "star+dot", NA, "hash"),
    stringsAsFactors = FALSE
  )
}

# Target lesions of the evaluable measurable patients, as in `rrdtc_lesions`:
# P1 PR (30 -> 20 -> 16.5 mm), P2 SD (40 -> 36 -> 38), P3 PD at the first scan (20 -> 25),
# P4 PD by a new lesion (50 -> 52.5), P5 baseline only (not evaluable).
fixture_lesions <- function() {
  rows <- list(
    c("P1", 1, 0, 20), c("P1", 2, 0, 10), c("P1", 1, 3, 14), c("P1", 2, 3, 6),
    c("P1", 1, 6, 12), c("P1", 2, 6, 4.5),
    c("P2", 1, 0, 40), c("P2", 1, 3, 36), c("P2", 1, 6, 38),
    c("P3", 1, 0, 20), c("P3", 1, 3, 25),
    c("P4", 1, 0, 30), c("P4", 2, 0, 20), c("P4", 1, 3, 31), c("P4", 2, 3, 21.5),
    c("P5", 1, 0, 15)
  )
  m <- do.call(rbind, rows)
  out <- data.frame(patient_id = m[, 1], lesion_id = as.integer(m[, 2]), site = "lung",
                    visit_month = as.numeric(m[, 3]), diameter_mm = as.numeric(m[, 4]),
                    stringsAsFactors = FALSE)
  out$new_lesion <- out$patient_id == "P4" & out$visit_month == 3
  out
}

fixture_adverse_events <- function() {
  data.frame(
    patient_id = c("P1", "P2", "P3", "P4", "P5", "P1", "P2", "P3"),
    ae_term = c(rep("Hand-foot skin syndrome", 5), "Diarrhea", "Diarrhea", "Alopecia"),
    grade_group = c("3-4", "1-2", "1-2", "1-2", "1-2", "1-2", "3-4", "1-2"),
    max_grade = c(3L, 1L, 2L, 2L, 1L, 2L, 4L, 1L),
    duration_months = c(18, 0.5, 44, 12, 20, 16.5, 1, 2),
    dose_reduction_cause = c(TRUE, FALSE, FALSE, TRUE, FALSE, FALSE, TRUE, FALSE),
    stringsAsFactors = FALSE
  )
}

# The published Table 2 responses: 26 evaluable (PR 7, SD 8, PD 11, no CR) and 5 not
# evaluable, with disease-control durations giving bands 1 / 0 / 5 / 9, three >= 24 and
# all seven PR >= 12 months. 12 and 18 sit on band edges on purpose.
table2_cohort <- function() {
  data.frame(
    best_response = c(rep("PR", 7), rep("SD", 8), rep("PD", 11), rep(NA, 5)),
    pfs_months = c(28, 46, 17, 20, 13, 19, 22,              # PR
                   4.5, 12, 14, 15.5, 18, 24, 21, 19,       # SD
                   5, 3, 8, 10, 11, 12, 14, 15, 16, 16.5, 6, # PD (not counted)
                   rep(NA, 5)),
    stringsAsFactors = FALSE
  )
}

# Table 3 subgroup counts (constraints.md 1.4): for each factor the (PR, SD, PD) counts of
# its first level and the published Fisher p-values for DCR and ORR.
table3_published <- list(
  age_ge55 = list(first = c(4, 6, 7), p = c(1.000, 0.661)),
  sex_male = list(first = c(3, 2, 7), p = c(0.233, 1.000)),
  histology_ftc = list(first = c(3, 2, 4), p = c(1.000, 0.661)),
  rai_t34 = list(first = c(3, 5, 6), p = c(1.000, 0.665)),
  distant = list(first = c(7, 4, 8), p = c(1.000, 0.134)),
  met_lung = list(first = c(7, 2, 6), p = c(1.000, 0.010)),
  lung_only_t34 = list(first = c(6, 1, 1), p = c(0.084, 0.001)),
  met_bone = list(first = c(1, 3, 6), p = c(0.228, 0.190)),
  prior_rai_only = list(first = c(3, 4, 5), p = c(1.000, 1.000)),
  residual_lesion = list(first = c(1, 3, 3), p = c(1.000, 0.629)),
  hfs = list(first = c(7, 8, 10), p = c(0.423, 1.000)),
  tg_response_ge60 = list(first = c(6, 6, 2), p = c(0.004, 0.081)),
  dose_modified = list(first = c(4, 7, 7), p = c(0.683, 0.635))
)

# 26 evaluable patients (PR 7, SD 8, PD 11) with one logical column per Table 3 factor,
# TRUE for the first level's patients within each response class.
table3_cohort <- function() {
  response <- c(rep("PR", 7), rep("SD", 8), rep("PD", 11))
  out <- data.frame(best_response = response, stringsAsFactors = FALSE)
  class_size <- c(PR = 7, SD = 8, PD = 11)
  for (f in names(table3_published)) {
    first <- table3_published[[f]]$first
    out[[f]] <- unlist(lapply(1:3, function(k) {
      rep(c(TRUE, FALSE), c(first[k], class_size[[k]] - first[k]))
    }))
  }
  out
}

# The published Table 5 (grade 1-2 and grade 3-4 patients per term) over 31 patients.
table5_published <- data.frame(
  term = c("Hand-foot skin syndrome", "Diarrhea", "Alopecia", "Abnormal liver function",
           "Generalized weakness", "Hypertension", "Proteinuria", "Hypocalcemia",
           "Mucositis", "Nausea and vomiting", "Thrombocytopenia", "Myodynia",
           "Weight loss"),
  g12 = c(26, 21, 23, 15, 17, 13, 10, 9, 8, 6, 4, 4, 1),
  g34 = c(3, 5, 0, 2, 0, 2, 2, 1, 0, 1, 0, 0, 0),
  any = c("29 (93.5)", "26 (83.9)", "23 (74.2)", "17 (54.8)", "17 (54.8)", "15 (48.4)",
          "12 (38.7)", "10 (32.3)", "8 (25.8)", "7 (22.6)", "4 (12.9)", "4 (12.9)",
          "1 (3.2)"),
  stringsAsFactors = FALSE
)

# AE rows reproducing Table 5 (terms listed in reverse so sorting is exercised). Patients
# 1..g12 have grade 1 or 2, the next g34 grade 3 or 4. Patient R01 also has an extra
# grade-1 row of each term they have, so the worst grade must be taken per patient.
table5_cohort <- function() {
  ids <- sprintf("R%02d", 1:31)
  rows <- lapply(rev(seq_len(nrow(table5_published))), function(i) {
    t <- table5_published[i, ]
    grades <- c(rep_len(1:2, t$g12), rep_len(3:4, t$g34))
    data.frame(patient_id = ids[seq_along(grades)], ae_term = t$term,
               max_grade = grades, stringsAsFactors = FALSE)
  })
  ae <- do.call(rbind, rows)
  extra <- ae[ae$max_grade >= 3, ]
  extra$max_grade <- 1L
  list(ae = rbind(ae, extra), patients = data.frame(patient_id = ids))
}
