# The categorical skeleton of the reconstructed cohort: what the paper's counts pin down.
#
# Evaluable patients (26) are "slots" with a fixed best response and metastatic pattern. The
# per-response counts of every Table 3 factor are certain (each printed % pins one integer and
# every Fisher p-value reproduces), so the survival search only permutes factor values *within*
# a response class, which keeps Tables 2-3 and Table 4's N column exact by construction.
# Metastatic patterns (constraints section 2.4, readings R1 and I-4):
#   none      no distant metastases
#   lung      lung only (Tables 3/4 "lung-only"; one of them also has pleural metastasis)
#   lung_bone lung + bone
#   lung_oth  lung + a distant site Table 1 does not list (met_other)
#   bone      bone without lung

evaluable_skeleton <- function() {
  data.frame(
    slot = 1:26,
    best_response = rep(c("PR", "SD", "PD"), c(7, 8, 11)),
    met_pattern = c(rep("lung", 6), "lung_bone",
                    rep("none", 4), "lung", "lung_bone", "bone", "bone",
                    rep("none", 3), "lung", rep("lung_bone", 4), "lung_oth", "bone", "bone"),
    # Typical cases 1-3 (strict lung-only PRs, censored at 28, 46 and 17 months on sorafenib)
    # and the "#" PR without RECIST-measurable lesions.
    typical_case = c(1L, 2L, 3L, rep(NA_integer_, 23)),
    fixed_pfs = c(28, 46, 17, rep(NA, 23)),
    hash_patient = c(FALSE, FALSE, FALSE, TRUE, rep(FALSE, 22)),
    stringsAsFactors = FALSE)
}

# Per-response-class counts (PR, SD, PD) of each binary factor among the 26 (constraints 1.4).
factor_counts_by_response <- function() {
  list(age_ge55 = c(PR = 4, SD = 6, PD = 7),
       male = c(PR = 3, SD = 2, PD = 7),
       ftc = c(PR = 3, SD = 2, PD = 4),
       rai_t34 = c(PR = 3, SD = 5, PD = 6),
       prior_rai_only = c(PR = 3, SD = 4, PD = 5),
       residual = c(PR = 1, SD = 3, PD = 3),
       tg_ge60 = c(PR = 6, SD = 6, PD = 2),
       dose_modified = c(PR = 4, SD = 7, PD = 7),
       hfs = c(PR = 7, SD = 8, PD = 10))
}

# Disease-control (censored) duration bins of Table 2 under reading I-3, for the 12 PR/SD
# patients whose time is not fixed by a typical case: [4,6] (the one <= 6, an SD), four more
# in [12,18) besides case 3, six in [18,24), and one more >= 24 besides cases 1 and 2.
dc_time_bins <- function() {
  data.frame(lower = c(4, 12, 18, 24), upper = c(6, 17.5, 23.5, 51), n = c(1, 4, 6, 1))
}

# Excluded patients (5): all female with distant metastases (constraints 2.1-2.3, 2.5, H1).
excluded_skeleton <- function() {
  data.frame(
    exclusion_reason = c("single_imaging", "single_imaging", "single_imaging",
                         "no_measurable_target", "surgery_during_treatment"),
    met_pattern = c("lung_oth", "bone", "bone", "oth", "oth"),
    age_years = c(62L, 47L, 39L, 66L, 44L),
    histology = c("FTC+PTC", "PTC", "FTC+PTC", "PTC", "FTC"),
    rr_definition = c("uptake_but_progressive", "uptake_but_progressive", "no_uptake_lesion",
                      "uptake_but_progressive", "progression_or_dose_ge_22.3GBq"),
    rai_uptake = c(TRUE, TRUE, FALSE, TRUE, TRUE),
    hfs = c(TRUE, TRUE, FALSE, TRUE, TRUE),
    dose_modified = c(FALSE, FALSE, FALSE, FALSE, TRUE),
    followup_months = c(2.0, 19.5, 8.0, 24.0, 21.0),
    stringsAsFactors = FALSE)
}
