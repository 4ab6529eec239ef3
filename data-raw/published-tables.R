# Published Tables 1-6 of Ling et al. (2023), transcribed as printed (printed inconsistencies
# kept: 6.4, 30.7, 65.3, "0.000", the two dash footnotes). `printed` keeps each cell's text.

tbl <- function(...) data.frame(..., stringsAsFactors = FALSE)

build_published_table1 <- function() {
  counts <- tbl(
    variable = c(rep("Age (years)", 2), rep("Gender", 2), rep("Histologic types", 3),
                 rep("RAI uptake", 2), rep("Distant metastases", 2),
                 rep("Metastasis sites", 4), rep("Target lesions", 4),
                 rep("Definitions of RAI refractoriness", 3)),
    level = c(">= 55", "< 55", "Male", "Female", "FTC", "PTC", "FTC + PTC", "Yes", "No",
              "Yes", "No", "Lung", "Lung-only", "Bone", "Pleural", "Lung", "Bone",
              "Lymph node", "Neck",
              "At least one target lesion without RAI uptake",
              "RAI uptake, but progressive target lesions",
              "Disease progression even with RAI therapy or cumulative RAI dose >= 22.3GBq"),
    n = c(19, 12, 12, 19, 10, 19, 2, 20, 11, 24, 7, 16, 7, 12, 1, 14, 9, 1, 7, 10, 17, 4),
    percent = c(61.3, 38.7, 38.7, 61.3, 32.3, 61.3, 6.4, 64.5, 35.5, 77.4, 22.6, 66.7, 29.2,
                50.0, 4.2, 45.2, 29.0, 3.2, 22.6, 32.3, 54.8, 12.9))
  counts$denominator <- ifelse(counts$variable == "Metastasis sites", 24, 31)
  counts$statistic <- "n (%)"
  counts$median <- NA_real_; counts$min <- NA_real_; counts$max <- NA_real_
  counts$printed <- sprintf("%d (%.1f)", counts$n, counts$percent)
  continuous <- tbl(variable = c("Age (years)", "Cumulative RAI dose (GBq)"),
                    level = NA_character_, n = NA_real_, percent = NA_real_,
                    denominator = 31, statistic = "median (range)",
                    median = c(58, 11.7), min = c(18, 0.1), max = c(79, 58.8),
                    printed = c("58 (18\u201379)", "11.7 (0.1\u201358.8)"))
  out <- rbind(continuous[1, ], counts, continuous[2, ])
  out$n <- as.integer(out$n)
  rownames(out) <- NULL
  out
}

build_published_table2 <- function() {
  out <- tbl(
    section = c(rep("Disease response", 5), rep("Disease control duration", 4),
                "Objective response"),
    level = c("CR", "PR", "SD", "Disease control (CR+PR+SD)", "Disease progression",
              "<= 6 months", "6\u201312 months", "12\u201318 months", ">= 18 months",
              ">= 12 months"),
    n = as.integer(c(0, 7, 8, 15, 11, 1, 0, 5, 9, 7)),
    percent = c(0, 26.9, 30.7, 57.7, 42.3, 3.8, 0, 19.2, 34.6, 26.9),
    printed = c("0", "7 (26.9%)", "8 (30.7%)", "15 (57.7%)", "11 (42.3%)", "1 (3.8%)", "0",
                "5 (19.2%)", "9 (34.6%)", "7 (26.9%)"))
  out$denominator <- 26L
  out
}

# Rows shared by Tables 3 and 4 (same variables, levels and order; Table 4 adds more rows).
table34_levels <- function() {
  tbl(variable = rep(c("Age (years)", "Gender", "Histologic types", "RAI uptake",
                       "Distant metastases", "Lung metastasis", "Lung-only metastasis",
                       "Bone metastasis", "Previous therapies", "Residual lesions",
                       "Hand-foot skin syndrome"), each = 2),
      level = c(">= 55", "< 55", "Male", "Female", "FTC", "PTC", "Yes", "No", "Yes", "No",
                "Yes", "No", "Yes", "No", "Yes", "No", "RAI-only therapy", "Other therapy",
                "Yes", "No", "Yes", "No"))
}

build_published_table3 <- function() {
  rows <- rbind(table34_levels(),
                tbl(variable = rep(c("Thyroglobulin response", "Medication status"), each = 2),
                    level = c(">= 60%", "< 60%", "Reduction/discontinuation", "Standard dose")))
  rows$dcr_percent <- c(58.8, 55.6, 41.7, 71.4, 55.6, 58.8, 57.1, 58.3, 57.9, 57.1, 60.0, 54.5,
                        87.5, 44.4, 40.0, 68.8, 58.3, 57.1, 57.1, 57.9, 60.0, 0, 85.7, 25.0,
                        61.1, 50.0)
  rows$orr_percent <- c(23.5, 33.3, 25.0, 28.6, 33.3, 23.5, 21.4, 33.3, 36.8, 0, 46.7, 0,
                        75.0, 5.6, 10.0, 37.5, 25.0, 28.6, 14.3, 31.6, 28.0, 0, 42.9, 8.3,
                        22.2, 37.5)
  first <- rep(c(TRUE, FALSE), 13)
  dcr_p <- c(1.000, 0.233, 1.000, 1.000, 1.000, 1.000, 0.084, 0.228, 1.000, 1.000, 0.423,
             0.004, 0.683)
  orr_p <- c(0.661, 1.000, 0.661, 0.665, 0.134, 0.010, 0.001, 0.190, 1.000, 0.629, 1.000,
             0.081, 0.635)
  rows$dcr_p_value <- NA_real_; rows$dcr_p_value[first] <- dcr_p
  rows$orr_p_value <- NA_real_; rows$orr_p_value[first] <- orr_p
  rows$dcr_printed <- formatC(rows$dcr_percent, format = "f", digits = 1)
  rows$dcr_printed[rows$dcr_percent == 0] <- "0"
  rows$orr_printed <- formatC(rows$orr_percent, format = "f", digits = 1)
  rows$orr_printed[rows$orr_percent == 0] <- "0"
  rows
}

build_published_table4 <- function() {
  rows <- rbind(table34_levels(),
                tbl(variable = rep(c("Disease control", "Objective response",
                                     "Thyroglobulin response", "Medication status"), each = 2),
                    level = c("PR + SD", "Disease progression", "PR + CR",
                              "SD + disease progression", ">= 60%", "< 60%",
                              "Reduction/discontinuation", "Standard dose")))
  rows$level[rows$level == "RAI-only therapy"] <- "RAI therapy"
  rows$level[rows$level == "Other therapy"] <- "No-RAI therapy"
  rows$n <- as.integer(c(17, 9, 12, 14, 9, 17, 14, 12, 19, 7, 15, 11, 8, 18, 10, 16, 12, 14,
                         7, 19, 25, 1, 15, 11, 7, 19, 14, 12, 18, 8))
  rows$percent <- c(65.3, 34.6, 46.2, 53.8, 34.6, 65.4, 53.8, 46.2, 73.1, 26.9, 57.7, 42.3,
                    30.8, 69.2, 38.5, 61.5, 46.2, 53.8, 26.9, 73.1, 96.2, 3.8, 57.7, 42.3,
                    26.9, 73.1, 53.8, 46.2, 69.2, 30.8)
  rows$pfs_mean_months <- c(29.607, 30.130, 21.691, 34.286, 28.075, 28.995, 29.587, 28.483,
                            28.900, 31.000, 29.214, 29.156, 39.875, 23.045, 16.347, 35.201,
                            29.917, 28.573, 26.667, 30.080, 30.705, 5.000, NA, NA, NA, NA,
                            39.611, 13.727, 31.688, 18.406)
  rows$pfs_printed <- ifelse(is.na(rows$pfs_mean_months), "\u2013",
                             formatC(rows$pfs_mean_months, format = "f", digits = 3))
  first <- rep(c(TRUE, FALSE), 15)
  p <- c(0.744, 0.038, 0.776, 0.644, 0.621, 0.696, 0.045, 0.035, 0.655, 0.894, 0.007, 0.000,
         0.017, 0.000, 0.396)
  rows$p_value <- NA_real_; rows$p_value[first] <- p
  rows$p_value_printed <- NA_character_
  rows$p_value_printed[first] <- formatC(p, format = "f", digits = 3)
  rows$source <- "Table 4"
  text_row <- tbl(variable = "Bone metastasis (patients with distant metastases)",
                  level = c("Yes", "No"), n = c(10L, 9L), percent = NA_real_,
                  pfs_mean_months = NA_real_, pfs_printed = NA_character_,
                  p_value = c(0.062, NA), p_value_printed = c("0.062", NA),
                  source = "Results text")
  out <- rbind(rows, text_row)
  out$denominator <- ifelse(out$source == "Table 4", 26L, 19L)
  out
}

build_published_table5 <- function() {
  out <- tbl(
    ae_term = c("Hand-foot skin syndrome", "Diarrhea", "Alopecia", "Abnormal liver function",
                "Generalized weakness", "Hypertension", "Proteinuria", "Hypocalcemia",
                "Mucositis", "Nausea and vomiting", "Thrombocytopenia", "Myodynia",
                "Weight loss"),
    grade_1_2_n = as.integer(c(26, 21, 23, 15, 17, 13, 10, 9, 8, 6, 4, 4, 1)),
    grade_1_2_percent = c(83.9, 67.7, 74.2, 48.4, 54.8, 41.9, 32.3, 29.0, 25.8, 19.4, 12.9,
                          12.9, 3.2),
    grade_3_4_n = as.integer(c(3, 5, 0, 2, 0, 2, 2, 1, 0, 1, 0, 0, 0)),
    grade_3_4_percent = c(9.7, 16.1, 0, 6.5, 0, 6.5, 6.5, 3.2, 0, 3.2, 0, 0, 0),
    any_grade_n = as.integer(c(29, 26, 23, 17, 17, 15, 12, 10, 8, 7, 4, 4, 1)),
    any_grade_percent = c(93.5, 83.9, 74.2, 54.8, 54.8, 48.4, 38.7, 32.3, 25.8, 22.6, 12.9,
                          12.9, 3.2))
  out$denominator <- 31L
  out
}

build_sorafenib_literature <- function() {
  tbl(
    study = c("Brose et al.", "Benekli et al.", "Massicotte et al.", "Kim et al.",
              "Cheng et al."),
    year = as.integer(c(2014, 2014, 2014, 2019, 2020)),
    study_design = c("Phase III RCT multicenter", "single center prospective",
                     "single center prospective", "retrospective multicenter",
                     "single center prospective"),
    patients_included = c("96.4% metastatic or locally advanced RR-DTC", "RR-DTC",
                          "Metastatic or locally advanced RR-DTC", "RR-DTC", "RR-DTC"),
    sample_size = as.integer(c(207, 14, 39, 85, 72)),
    followup_months = c(16.2, 21.3, NA, 9.1, 17.6),
    dcr_percent = c(54.1, 56.9, 92.0, 67.0, 73.3),
    dcr_definition = c(">= 6 months", NA, NA, NA, NA),
    orr_percent = c(12.2, 14.0, 15.0, 10.3, 21.7),
    pfs_months = c(10.8, 21.3, 7.2, 9.7, 17.6),
    ae_percent = c(98.6, NA, 82.1, 95.0, 73.6),
    note = c(
      "DECISION trial.",
      paste("Follow-up printed equal to its PFS (21.3), probably copied from the PFS column;",
            "dated 2014 in Table 6 but the cited reference (19) is from 2015. AEs: NM."),
      "Follow-up: NM (not mentioned).",
      "Cited in the text as reference 14, which is a 2018 publication.",
      paste("Follow-up printed equal to its PFS (17.6), probably copied; the Discussion gives",
            "a median follow-up of 25.1 months.")))
}

published_table1 <- build_published_table1()
published_table2 <- build_published_table2()
published_table3 <- build_published_table3()
published_table4 <- build_published_table4()
published_table5 <- build_published_table5()
sorafenib_literature <- build_sorafenib_literature()
