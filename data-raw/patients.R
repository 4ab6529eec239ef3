# rrdtc_patients: the 31 reconstructed patients (constraints section 4.1).
# Inputs: the categorical skeleton (cohort-design.R) and the survival search's result
# (data-raw/survival-fit.csv). Everything the paper does not pin down is drawn here with a
# fixed seed and is invented: ages within their band, RAI doses, Tg values, waterfall values,
# post-progression follow-up, dose details, which patients died or had new lesions.

PATIENTS_SEED <- 31
MET_FLAGS <- list(none = c(FALSE, FALSE, FALSE), lung = c(TRUE, FALSE, FALSE),
                  lung_bone = c(TRUE, TRUE, FALSE), lung_oth = c(TRUE, FALSE, TRUE),
                  bone = c(FALSE, TRUE, FALSE), oth = c(FALSE, FALSE, TRUE))

# Ages: Table 1 median 58 (18-79) with 19 >= 55. The 16th sorted age is the 4th of the >= 55
# band, so exactly three ages lie in 55-57.
AGES_GE55 <- c(55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 71, 73, 76, 79)
AGES_LT55 <- c(18, 29, 33, 36, 39, 41, 44, 45, 47, 49, 51, 53)

draw_without <- function(pool, used, n) {
  pool <- pool[!pool %in% used]
  pool[sample.int(length(pool), n)]
}

evaluable_patients <- function(fit, sk) {
  n <- nrow(fit)
  ex <- excluded_skeleton()
  p <- data.frame(slot = fit$slot, evaluable = TRUE, exclusion_reason = NA_character_,
                  stringsAsFactors = FALSE)
  p$age_years <- numeric(n)
  p$age_years[fit$age_ge55] <- draw_without(AGES_GE55, ex$age_years, sum(fit$age_ge55))
  p$age_years[!fit$age_ge55] <- draw_without(AGES_LT55, ex$age_years, sum(!fit$age_ge55))
  p$sex <- ifelse(fit$male, "male", "female")
  p$histology <- ifelse(fit$ftc, "FTC", "PTC")
  # Reading R2: Tables 3/4 "RAI uptake: yes" is RR definition 2. The other 12 evaluable are
  # 9 of definition 1 (no uptake) and 3 of definition 3 (2 with uptake, 1 without; I-11).
  p$rr_definition <- "uptake_but_progressive"
  others <- which(!fit$rai_t34)
  def3 <- others[sample.int(length(others), 3)]
  p$rr_definition[setdiff(others, def3)] <- "no_uptake_lesion"
  p$rr_definition[def3] <- "progression_or_dose_ge_22.3GBq"
  p$rai_uptake <- p$rr_definition == "uptake_but_progressive"
  p$rai_uptake[def3[1:2]] <- TRUE
  p$met_pattern <- fit$met_pattern
  p$prior_therapy <- ifelse(fit$prior_rai_only, "RAI_only", "RAI_plus_other")
  p$residual_lesion <- fit$residual
  p$best_response <- fit$best_response
  p$pfs_months <- fit$pfs_months
  p$pfs_event <- as.integer(fit$best_response == "PD")
  p$dose_modified <- fit$dose_modified
  p$hfs <- fit$hfs
  p$tg_ge60 <- fit$tg_ge60
  p$typical_case <- sk$typical_case
  p$hash_patient <- sk$hash_patient
  p
}

excluded_patients <- function() {
  ex <- excluded_skeleton()
  data.frame(slot = 27:31, evaluable = FALSE, exclusion_reason = ex$exclusion_reason,
             age_years = ex$age_years, sex = "female", histology = ex$histology,
             rr_definition = ex$rr_definition, rai_uptake = ex$rai_uptake,
             met_pattern = ex$met_pattern,
             prior_therapy = c("RAI_only", "RAI_plus_other", "RAI_only", "RAI_only",
                               "RAI_plus_other"),
             residual_lesion = c(FALSE, TRUE, FALSE, FALSE, TRUE),
             best_response = NA_character_, pfs_months = NA_real_, pfs_event = NA_integer_,
             dose_modified = ex$dose_modified, hfs = ex$hfs, tg_ge60 = NA,
             typical_case = NA_integer_, hash_patient = FALSE, stringsAsFactors = FALSE)
}

# Target-lesion sites (reading I-4: per-patient flags, several allowed): neck for patients
# without distant metastases, lung and/or bone for distant ones, one distant lymph node.
# Counts: lung 14, bone 9, lymph node 1, neck 7 over 31.
assign_target_sites <- function(p) {
  pat <- p$met_pattern
  measurable <- !(p$hash_patient | p$exclusion_reason %in% "no_measurable_target")
  p$target_neck <- pat == "none"
  p$target_lung <- measurable & pat %in% c("lung", "lung_bone", "lung_oth")
  p$target_bone <- measurable & pat == "bone"
  p$target_lymph_node <- measurable & pat == "oth"
  # Of the six evaluable lung+bone patients, three also carry bone targets, one of them
  # without a lung target (slots fixed for determinism: the SD and two PDs).
  lung_bone <- which(pat == "lung_bone" & p$evaluable)
  bone_too <- lung_bone[lung_bone > 7][1:3]
  p$target_bone[bone_too] <- TRUE
  p$target_lung[bone_too[3]] <- FALSE
  p$recist_measurable <- measurable
  p
}

# Cumulative RAI dose [F]: median 11.7 (0.1-58.8) GBq; definition-3 patients >= 22.3 GBq.
assign_rai_dose <- function(p) {
  def3 <- p$rr_definition == "progression_or_dose_ge_22.3GBq"
  low <- c(0.1, 1.1, 3.7, 3.7, 5.5, 5.6, 7.4, 7.4, 7.5, 9.3, 9.3, 11.1, 11.1, 11.2, 11.5)
  high <- c(11.7, 12.9, 13.0, 14.8, 14.8, 15.5, 16.7, 18.5, 18.5, 20.4, 20.4, 22.2)
  dose <- numeric(nrow(p))
  dose[!def3] <- sample(c(low, high))
  dose[def3] <- c(24.1, 29.6, 37.0, 58.8)
  p$cum_rai_dose_gbq <- dose
  p
}

# Tg [F except the printed facts]: the "#" PR fell 91.4%, five other PRs > 90%, one PR 58.2%;
# otherwise a fall >= 60% iff the Tables 3/4 Tg-response flag is set.
assign_tg <- function(p) {
  n <- nrow(p)
  p$tg_baseline_ng_ml <- round(exp(stats::rnorm(n, log(250), 1.4)), 1)
  change <- ifelse(p$tg_ge60, round(stats::runif(n, -97, -61), 1),
                   round(stats::runif(n, -55, 140), 1))
  pr <- which(p$best_response %in% "PR")
  change[pr] <- round(stats::runif(length(pr), -99.5, -90.5), 1)
  change[p$hash_patient] <- -91.4
  change[pr[!p$tg_ge60[pr]]] <- -58.2
  change[!p$evaluable] <- NA
  p$tg_best_pct_change <- change
  p
}

# Best response detail [F]: the 3 new-lesion progressions, the waterfall values (PR <= -30,
# SD in (-30, 20), target PD >= 20, new-lesion PD below 20) and the "#" placeholder bar.
assign_response_detail <- function(p) {
  pd <- which(p$best_response %in% "PD")
  new_lesion <- pd[sample.int(length(pd), 3)]
  p$progression_type <- NA_character_
  p$progression_type[pd] <- "target_enlargement"
  p$progression_type[new_lesion] <- "new_lesion"
  bar <- rep(NA_real_, nrow(p))
  resp <- p$best_response
  draw <- function(idx, lo, hi) round(stats::runif(length(idx), lo, hi), 1)
  bar[which(resp == "PR")] <- draw(which(resp == "PR"), -78, -33)
  bar[which(resp == "SD")] <- draw(which(resp == "SD"), -27, 16)
  bar[pd] <- draw(pd, 22, 65)
  bar[new_lesion] <- draw(new_lesion, -12, 14)
  bar[p$hash_patient] <- -50  # placeholder: not RECIST-measurable (I-21)
  p$target_best_pct_change <- bar
  p
}

# Follow-up [F within printed bounds]: censored patients end follow-up at their PFS time;
# progressions are followed on for an invented time. Chosen so that the 26 evaluable have a
# median of 17.5 (4.0-51.0) and all 31 a median of 18 (2.0-51.0), as printed.
assign_followup <- function(p, excluded_fu) {
  fu <- p$pfs_months
  fu[!p$evaluable] <- excluded_fu
  pd <- which(p$best_response %in% "PD")
  movable <- pd[p$hfs[pd]]  # the HFS-free progression stays short (section 2.7)
  for (n_up in 1:8) for (first_up in seq(17.5, 22, by = 0.5)) {
    trial <- fu
    up <- movable[order(-p$pfs_months[movable])][seq_len(n_up)]
    trial[up] <- c(first_up, sort(round(stats::runif(n_up - 1, first_up, 40)) + 0.5))
    if (max(trial, na.rm = TRUE) < 51) trial[up[length(up)]] <- 51
    low <- setdiff(pd, up)
    trial[low] <- pmin(p$pfs_months[low] + sample(c(0, 0.5, 1, 2, 3), length(low), TRUE),
                       pmax(p$pfs_months[low], 16))
    if (median(trial[p$evaluable]) == 17.5 && median(trial) == 18 &&
        min(trial[p$evaluable]) == 4 && max(trial) == 51) {
      p$followup_months <- trial
      return(p)
    }
  }
  stop("no follow-up assignment meets the printed medians")
}

# Dose modification detail [F]: 5 of the 19 modified patients interrupted sorafenib (longest
# gap 6 months); the lowest maintenance dose of the others was 200 mg/day.
assign_dose_detail <- function(p) {
  modified <- which(p$dose_modified)
  interrupted <- modified[sample.int(length(modified), 5)]
  p$dose_interrupted <- seq_len(nrow(p)) %in% interrupted
  p$interruption_max_months <- NA_real_
  p$interruption_max_months[interrupted] <- c(6, sample(c(1, 1.5, 2, 3), 4, TRUE))
  p$min_daily_dose_mg <- 800L
  p$min_daily_dose_mg[modified] <- sample(c(200L, 400L, 400L, 600L), length(modified), TRUE)
  others <- setdiff(modified, interrupted)
  p$min_daily_dose_mg[others[1]] <- 200L
  p
}

# Deaths (Figure 1 dots) [R: both among the progressions]: one lung patient of pulmonary
# infection, one bone patient of a bone-related event; markers for Figure 1.
assign_deaths_and_markers <- function(p) {
  pd_plain <- p$best_response %in% "PD" & p$progression_type %in% "target_enlargement"
  lung_pd <- which(pd_plain & p$met_lung)
  lung_pd <- lung_pd[order(p$met_bone[lung_pd])][1]  # prefer a patient without bone mets
  bone_pd <- setdiff(which(pd_plain & p$met_bone), lung_pd)
  dead <- c(lung_pd, bone_pd[which.min(p$followup_months[bone_pd])])
  p$died <- seq_len(nrow(p)) %in% dead
  p$death_cause <- NA_character_
  p$death_cause[dead] <- c("pulmonary infection", "bone-related event")
  p$fig1_marker <- NA_character_
  p$fig1_marker[p$progression_type %in% "new_lesion"] <- "star"
  p$fig1_marker[dead] <- "dot"
  p$fig1_marker[p$hash_patient] <- "hash"
  p
}

PATIENT_COLUMNS <- c(
  "patient_id", "evaluable", "exclusion_reason", "age_years", "sex", "histology",
  "rai_uptake", "rr_definition", "cum_rai_dose_gbq", "met_lung", "met_bone", "met_pleura",
  "met_other", "target_lung", "target_bone", "target_lymph_node", "target_neck",
  "recist_measurable", "prior_therapy", "residual_lesion", "tg_baseline_ng_ml",
  "tg_best_pct_change", "target_best_pct_change", "best_response", "progression_type",
  "pfs_months", "pfs_event", "followup_months", "dose_modified", "dose_interrupted",
  "interruption_max_months", "min_daily_dose_mg", "died", "death_cause", "typical_case",
  "fig1_marker")

# Returns list(patients = the shipped table, hfs = HFS flag per patient for the AE builder).
build_patients <- function(fit_file = "data-raw/survival-fit.csv") {
  set.seed(PATIENTS_SEED)
  fit <- utils::read.csv(fit_file, stringsAsFactors = FALSE)
  p <- rbind(evaluable_patients(fit, evaluable_skeleton()), excluded_patients())
  flags <- do.call(rbind, MET_FLAGS[p$met_pattern])
  p$met_lung <- flags[, 1]; p$met_bone <- flags[, 2]; p$met_other <- flags[, 3]
  # Reading R1: the one pleural metastasis is an evaluable lung-only SD ("intrathoracic only").
  p$met_pleura <- p$slot == which(evaluable_skeleton()$met_pattern == "lung" &
                                    evaluable_skeleton()$best_response == "SD")
  p <- assign_target_sites(p)
  p <- assign_rai_dose(p)
  p <- assign_tg(p)
  p <- assign_response_detail(p)
  p <- assign_followup(p, excluded_skeleton()$followup_months)
  p <- assign_dose_detail(p)
  p <- assign_deaths_and_markers(p)
  # Shuffle so that row order carries no information, then number R01..R31.
  p <- p[sample.int(nrow(p)), ]
  p$patient_id <- sprintf("R%02d", seq_len(nrow(p)))
  p$age_years <- as.integer(p$age_years)
  hfs <- stats::setNames(p$hfs, p$patient_id)
  out <- p[, PATIENT_COLUMNS]
  rownames(out) <- NULL
  list(patients = out, hfs = hfs)
}
