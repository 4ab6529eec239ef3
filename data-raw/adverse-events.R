# rrdtc_adverse_events: one row per patient x AE term ever experienced (constraints 4.2).
# Who had which AE at which grade group reproduces Table 5 exactly (highest grade per
# patient); grade 1 vs 2, the durations and which patients are which are invented [F], with
# the printed duration facts met exactly: HFS median 18 (0.5-44) months, diarrhea 16.5
# (1-44), alopecia 12.0 (2-44), longest AE 44, grade 3-4 HFS/diarrhea/liver at most 38.

AE_SEED <- 5

# Durations on a 0.5 grid, each <= the patient's follow-up, with an exact median and range.
# The longer-followed half sits at or above the median, the other half at or below it.
durations_with_median <- function(fu, med, lo, hi) {
  n <- length(fu)
  ord <- order(fu)
  n_low <- floor(n / 2)
  low <- ord[seq_len(n_low)]
  up <- ord[(n_low + 1):n]
  cap_low <- if (n %% 2 == 1) med - 0.5 else med
  grid_between <- function(a, b) round(stats::runif(1, a, b) * 2) / 2
  d <- numeric(n)
  for (i in low) d[i] <- grid_between(lo, min(fu[i], cap_low))
  for (i in up) d[i] <- grid_between(med, min(fu[i], hi))
  d[low[1]] <- lo
  if (n %% 2 == 1) {
    d[up[1]] <- med
  } else {
    d[low[n_low]] <- min(fu[low[n_low]], med)
    d[up[1]] <- 2 * med - d[low[n_low]]
  }
  d[up[length(up)]] <- hi
  if (any(d > fu) || any(fu[up] < med)) stop("durations infeasible for these follow-ups")
  d
}

pick_patients <- function(ids, n, must = character(0)) {
  pool <- setdiff(ids, must)
  c(must, pool[sample.int(length(pool), n - length(must))])
}

# Patients per AE term: HFS = the HFS flags of build_patients(); diarrhea includes the two
# patients without HFS (every patient had at least one AE); others drawn at random.
assign_ae_patients <- function(patients, hfs, table5) {
  ids <- patients$patient_id
  no_hfs <- names(hfs)[!hfs]
  long_fu <- ids[patients$followup_months >= 18]
  lapply(stats::setNames(table5$ae_term, table5$ae_term), function(term) {
    n <- table5$any_grade_n[table5$ae_term == term]
    if (term == "Hand-foot skin syndrome") return(names(hfs)[hfs])
    if (term == "Diarrhea") return(pick_patients(ids, n, c(no_hfs, long_fu)))
    if (term == "Alopecia") return(pick_patients(ids, n, long_fu[seq_len(12)]))
    pick_patients(ids, n)
  })
}

ae_durations <- function(term, fu) {
  switch(term,
         "Hand-foot skin syndrome" = durations_with_median(fu, 18, 0.5, 44),
         "Diarrhea" = durations_with_median(fu, 16.5, 1, 44),
         "Alopecia" = durations_with_median(fu, 12, 2, 44),
         pmax(0.5, round(stats::runif(length(fu), 0.2, 0.9) * pmin(fu, 44) * 2) / 2))
}

# Grade group per row: the Table 5 number of grade 3-4 patients, drawn among rows whose
# duration respects the 38-month cap for HFS, diarrhea and liver AEs; one grade 3-4 diarrhea
# lasts exactly 38 months (the printed maximum).
assign_grades <- function(rows, table5) {
  rows$grade_group <- "1-2"
  capped <- c("Hand-foot skin syndrome", "Diarrhea", "Abnormal liver function")
  for (term in table5$ae_term) {
    n_severe <- table5$grade_3_4_n[table5$ae_term == term]
    if (n_severe == 0) next
    idx <- which(rows$ae_term == term)
    ok <- if (term %in% capped) idx[rows$duration_months[idx] <= 38] else idx
    if (term == "Diarrhea") {
      # a long-followed patient whose duration is neither the median-defining nor the max
      d <- rows$duration_months[idx]
      at38 <- idx[rows$followup_months[idx] >= 38 & d > 16.5 & d < 44][1]
      rows$duration_months[at38] <- 38
      ok <- c(at38, setdiff(ok, at38))
      others <- ok[-1]
      rows$grade_group[c(at38, others[sample.int(length(others), n_severe - 1)])] <- "3-4"
    } else {
      rows$grade_group[ok[sample.int(length(ok), n_severe)]] <- "3-4"
    }
  }
  rows$max_grade <- ifelse(rows$grade_group == "3-4", 3L,
                           sample(1:2, nrow(rows), replace = TRUE, prob = c(0.55, 0.45)))
  rows
}

# Reasons for the 19 dose reductions (I-19): HFS for all 19, diarrhea 5, liver 1, proteinuria 1.
assign_reduction_causes <- function(rows, modified_ids) {
  rows$dose_reduction_cause <- FALSE
  cause_n <- c("Hand-foot skin syndrome" = 19, "Diarrhea" = 5, "Abnormal liver function" = 1,
               "Proteinuria" = 1)
  for (term in names(cause_n)) {
    idx <- which(rows$ae_term == term & rows$patient_id %in% modified_ids)
    rows$dose_reduction_cause[idx[sample.int(length(idx), cause_n[[term]])]] <- TRUE
  }
  rows
}

build_adverse_events <- function(patients, hfs, table5) {
  set.seed(AE_SEED)
  who <- assign_ae_patients(patients, hfs, table5)
  fu_of <- stats::setNames(patients$followup_months, patients$patient_id)
  rows <- do.call(rbind, lapply(names(who), function(term) {
    ids <- who[[term]]
    data.frame(patient_id = ids, ae_term = term, followup_months = fu_of[ids],
               duration_months = ae_durations(term, fu_of[ids]), stringsAsFactors = FALSE)
  }))
  rows <- assign_grades(rows, table5)
  rows <- assign_reduction_causes(rows, patients$patient_id[patients$dose_modified])
  rows <- rows[order(rows$patient_id, match(rows$ae_term, table5$ae_term)),
               c("patient_id", "ae_term", "grade_group", "max_grade", "duration_months",
                 "dose_reduction_cause")]
  rownames(rows) <- NULL
  rows
}
