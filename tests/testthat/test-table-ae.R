test_that("ae_table reproduces Table 5 from the published counts", {
  cohort <- table5_cohort()
  tab <- ae_table(cohort$ae, cohort$patients)
  expect_s3_class(tab, c("rwe_ae", "rwe_table", "data.frame"), exact = TRUE)
  expect_equal(names(tab), c("term", "n_grade_1_2", "pct_grade_1_2", "n_grade_3_4",
                             "pct_grade_3_4", "n_any", "pct_any", "N"))
  # Published order, except that the 4/4 tie (no grade 3-4 either) keeps the order of
  # first appearance in the input, which lists the terms in reverse.
  expected <- table5_published[c(1:10, 12, 11, 13), ]
  expect_equal(tab$term, expected$term)
  expect_equal(tab$n_grade_1_2, expected$g12)
  expect_equal(tab$n_grade_3_4, expected$g34)
  expect_equal(tab$N, rep(31, 13))
  shown <- display_table(tab)
  expect_equal(shown[["any grade"]], expected$any)
  expect_equal(shown[["grades 1-2"]][1:4], c("26 (83.9)", "21 (67.7)", "23 (74.2)", "15 (48.4)"))
  expect_equal(shown[["grades 3-4"]][1:4], c("3 (9.7)", "5 (16.1)", "0", "2 (6.5)"))
  expect_equal(tab$pct_any[1], 100 * 29 / 31)
})

test_that("ae_table on the fixture: worst grade, grade 5 band, unsorted order, tidy", {
  ae <- fixture_adverse_events()
  patients <- fixture_patients()
  tab <- ae_table(ae, patients, sort = FALSE)
  expect_equal(tab$term, c("Hand-foot skin syndrome", "Diarrhea", "Alopecia"))
  expect_equal(tab$n_any, c(5, 2, 1))
  expect_equal(tab$pct_any, 100 * c(5, 2, 1) / 6)
  expect_false("n_grade_5" %in% names(tab))
  ae$max_grade[2] <- 5L
  ae <- rbind(ae, data.frame(patient_id = "P2", ae_term = "Diarrhea", grade_group = "1-2",
                             max_grade = 1L, duration_months = 1,
                             dose_reduction_cause = FALSE))
  tab5 <- ae_table(ae, patients)
  expect_equal(tab5$n_grade_5, c(1, 0, 0))
  expect_equal(tab5$n_grade_3_4, c(1, 1, 0))   # P2's diarrhea counts once, at grade 4
  expect_equal(tab5$n_any, c(5, 2, 1))
  long <- tidy(tab5)
  expect_equal(unique(long$grade_band), c("grade_1_2", "grade_3_4", "grade_5", "any"))
  expect_equal(long$n[long$grade_band == "grade_5"], c(1, 0, 0))
  out <- capture.output(print(tab5))
  expect_match(out[1], "N = 6")
  expect_true(any(grepl("grade 5", out)))
})

test_that("ae_table errors name ids, rows and columns", {
  ae <- fixture_adverse_events()
  patients <- fixture_patients()
  expect_error(ae_table(ae, patients[-1, ]), "P1.*not in", class = "rlang_error")
  bad <- ae
  bad$max_grade[c(2, 5)] <- c(0L, 6L)
  expect_error(ae_table(bad, patients), "Rows 2, 5")
  bad$max_grade[2] <- 2.5
  expect_error(ae_table(bad, patients), "whole grades")
  bad <- ae
  bad$max_grade[3] <- NA
  expect_error(ae_table(bad, patients), "Row 3")
  bad <- ae
  bad$ae_term[4] <- NA
  expect_error(ae_table(bad, patients), "missing in row 4")
  expect_error(ae_table(ae, rbind(patients, patients[1, ])), "duplicated.*P1")
  expect_error(ae_table(ae, patients, grade = "grade_group"), "must be numeric")
  expect_error(ae_table(ae, patients, term = "term"), "term")
  expect_error(ae_table(ae, patients, sort = "yes"), "sort")
})

test_that("ae_duration gives median (range) per term", {
  ae <- fixture_adverse_events()
  tab <- ae_duration(ae, c("Hand-foot skin syndrome", "Diarrhea"))
  expect_s3_class(tab, c("rwe_ae_duration", "rwe_table", "data.frame"), exact = TRUE)
  hfs <- c(18, 0.5, 44, 12, 20)
  expect_equal(tab$median, c(median(hfs), median(c(16.5, 1))))
  expect_equal(tab$min, c(0.5, 1))
  expect_equal(tab$max, c(44, 16.5))
  expect_equal(tab$summary, c("18.0 (0.5\u201344.0)", "8.75 (1.00\u201316.50)"))
  expect_equal(ae_duration(ae)$term, c("Hand-foot skin syndrome", "Diarrhea", "Alopecia"))
  expect_error(ae_duration(ae, "Rash"), "Rash", class = "rlang_error")
  expect_error(ae_duration(ae, "Diarrhea", duration = "months"), "months")
})

test_that("ae methods refuse arguments they would ignore", {
  cohort <- table5_cohort()
  tab <- ae_table(cohort$ae, cohort$patients)
  expect_error(tidy(tab, foo = 1), "foo", class = "rwe_bad_input")
  expect_error(display_table(tab, foo = 1), "foo", class = "rwe_bad_input")
})

test_that("ae_table of a safety population without adverse events has no rows", {
  patients <- fixture_patients()
  ae <- fixture_adverse_events()[0, ]
  # Used to fail with "replacement has 1 row, data has 0".
  tab <- ae_table(ae, patients)
  expect_equal(nrow(tab), 0L)
  expect_equal(names(tab), c("term", "n_grade_1_2", "pct_grade_1_2", "n_grade_3_4",
                             "pct_grade_3_4", "n_any", "pct_any", "N"))
  expect_equal(nrow(display_table(tab)), 0L)
  expect_equal(nrow(generics::tidy(tab)), 0L)
  expect_identical(format_n_percent(integer(0), 10), character(0))
  expect_equal(nrow(ae_duration(ae)), 0L)
})

test_that("ae_table and ae_duration input errors are classed", {
  patients <- fixture_patients()
  ae <- fixture_adverse_events()
  expect_error(ae_table(ae, rbind(patients, patients[1, ])), class = "rwe_bad_input")
  ae_chr <- ae
  ae_chr$max_grade <- as.character(ae_chr$max_grade)
  expect_error(ae_table(ae_chr, patients), "must be numeric", class = "rwe_bad_input")
  expect_error(ae_table(transform(ae, max_grade = 7), patients), "grades 1-5",
               class = "rwe_bad_input")
  ae_fct <- ae
  ae_fct$duration_months <- factor(ae_fct$duration_months)
  expect_error(ae_duration(ae_fct), "must be numeric", class = "rwe_bad_input")
  expect_error(ae_duration(ae, "Rash"), "Rash", class = "rwe_bad_input")
})

test_that("ae_duration refuses infinite durations naming the column and rows", {
  ae <- fixture_adverse_events()
  ae$duration_months[c(2, 7)] <- c(Inf, -Inf)
  # Used to fail with "missing value where TRUE/FALSE needed" in the formatting code.
  expect_error(ae_duration(ae), "infinite values of .*duration_months.*rows: 2, 7",
               class = "rwe_bad_input")
})
