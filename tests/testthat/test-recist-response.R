lesion_rows <- function(visits, sums, new = FALSE, id = "X") {
  data.frame(patient_id = id, lesion_id = 1L, visit_month = visits, diameter_mm = sums,
             new_lesion = rep_len(new, length(visits)))
}

test_that("recist_response on the fixture: sums, % changes, nadir and responses", {
  r <- recist_response(fixture_lesions())
  expect_s3_class(r, c("rwe_recist", "rwe_table", "data.frame"), exact = TRUE)
  expect_equal(r$patient_id, paste0("P", 1:5))
  expect_equal(r$baseline_sum_mm, c(30, 40, 20, 50, 15))
  expect_equal(r$best_response, c("PR", "SD", "PD", "PD", NA))
  expect_equal(r$best_pct_change, c(100 * (16.5 - 30) / 30, -10, 25, 5, NA))
  expect_equal(r$progression_type, c(NA, NA, "target_enlargement", "new_lesion", NA))
  expect_equal(r$first_pd_visit, c(NA, NA, 3, 3, NA))
  expect_equal(r$n_assessments, c(2, 2, 1, 1, 0))
  v <- tidy(r, what = "visits")
  expect_identical(v, attr(r, "visits"))
  p2 <- v[v$patient_id == "P2", ]
  expect_equal(p2$sum_mm, c(40, 36, 38))
  expect_equal(p2$nadir_mm, c(40, 40, 36))
  expect_equal(p2$pct_change_nadir, c(0, -10, 100 * 2 / 36))
  expect_equal(p2$response, c(NA, "SD", "SD"))
  expect_equal(v$response[v$patient_id == "P1"], c(NA, "PR", "PR"))
})

test_that("PD needs both +20% over the nadir and +5 mm", {
  # 20 -> 24 is +20% but only +4 mm: not PD
  small <- recist_response(lesion_rows(c(0, 3), c(20, 24)))
  expect_equal(small$best_response, "SD")
  # 20 -> 25: +25% and +5 mm: PD
  expect_equal(recist_response(lesion_rows(c(0, 3), c(20, 25)))$best_response, "PD")
  # exactly +20% and +5 mm is PD; exactly -30% is PR
  expect_equal(recist_response(lesion_rows(c(0, 3), c(25, 30)))$best_response, "PD")
  expect_equal(recist_response(lesion_rows(c(0, 3), c(30, 21)))$best_response, "PR")
  expect_equal(recist_response(lesion_rows(c(0, 3), c(30, 21.1)))$best_response, "SD")
  # 100 -> 119: +19 mm but +19%: not PD
  expect_equal(recist_response(lesion_rows(c(0, 3), c(100, 119)))$best_response, "SD")
})

test_that("progression is measured from the nadir below baseline", {
  # 50 -> 30 (PR, -40%) -> 37 (+23% and +7 mm over the nadir 30, still -26% from baseline)
  r <- recist_response(lesion_rows(c(0, 3, 6), c(50, 30, 37)))
  v <- attr(r, "visits")
  expect_equal(v$nadir_mm, c(50, 50, 30))
  expect_equal(v$pct_change_nadir[3], 100 * 7 / 30)
  expect_equal(v$response, c(NA, "PR", "PD"))
  expect_equal(r$best_response, "PR")        # best response before the PD
  expect_equal(r$best_pct_change, -40)
  expect_equal(r$first_pd_visit, 6)
  expect_equal(r$nadir_sum_mm, 30)
})

test_that("a new lesion is PD whatever the sums; first-visit PD gives PD", {
  r <- recist_response(lesion_rows(c(0, 3, 6), c(40, 20, 10), new = c(FALSE, TRUE, FALSE)))
  expect_equal(attr(r, "visits")$response, c(NA, "PD", "PR"))
  expect_equal(r$best_response, "PD")        # later shrinkage does not undo a first PD
  expect_equal(r$best_pct_change, -75)       # the waterfall value still uses every visit
  expect_equal(r$progression_type, "new_lesion")
  no_new_col <- lesion_rows(c(0, 3), c(40, 60))[, 1:4]
  expect_equal(recist_response(no_new_col, new_lesion = NULL)$best_response, "PD")
})

test_that("CR is a zero sum; confirmation downgrades unconfirmed responses", {
  r <- recist_response(lesion_rows(c(0, 3, 6), c(20, 0, 0)))
  expect_equal(r$best_response, "CR")
  expect_equal(r$best_pct_change, -100)
  once <- lesion_rows(c(0, 3, 6), c(20, 10, 18))
  expect_equal(recist_response(once)$best_response, "PR")
  expect_equal(recist_response(once, confirm = TRUE)$best_response, "SD")
  cr_pr <- lesion_rows(c(0, 3, 6), c(20, 0, 4))   # +4 mm from a 0 nadir: not PD
  expect_equal(attr(recist_response(cr_pr), "visits")$response, c(NA, "CR", "PR"))
  expect_equal(recist_response(cr_pr, confirm = TRUE)$best_response, "PR")
  expect_equal(confirm_responses(c("PR", "PR", "CR", "CR", "SD")),
               c("PR", "PR", "CR", "SD", "SD"))
})

test_that("missing diameters make a visit NE; lesions are summed per visit", {
  d <- rbind(lesion_rows(c(0, 3, 6), c(20, NA, 12)), lesion_rows(c(0, 3, 6), c(10, 5, 2)))
  d$lesion_id <- rep(1:2, each = 3)
  r <- recist_response(d)
  expect_equal(attr(r, "visits")$sum_mm, c(30, NA, 14))
  expect_equal(attr(r, "visits")$response, c(NA, "NE", "PR"))
  expect_equal(r$best_pct_change, 100 * (14 - 30) / 30)
  expect_equal(r$best_response, "PR")
})

test_that("recist_response errors", {
  expect_error(recist_response(lesion_rows(3, 10)), "No baseline visit.*X", class = "rlang_error")
  expect_error(recist_response(lesion_rows(c(0, 3), c(0, 0))), "No measurable baseline.*X")
  expect_error(recist_response(lesion_rows(c(0, 3), c(10, -1))), "negative diameters in row 2")
  expect_error(recist_response(lesion_rows(c(-1, 0), c(10, 10))), "before")
  expect_error(recist_response(lesion_rows(0, 10), diameter = "size"), "size")
  bad <- lesion_rows(c(0, 3), c(10, 10))
  bad$new_lesion <- c("no", "yes")
  expect_error(recist_response(bad), "new_lesion.*logical")
  bad$diameter_mm <- c("1", "2")
  expect_error(recist_response(bad), "must be numeric")
  expect_error(recist_response(lesion_rows(0, 10), confirm = NA), "confirm")
})

test_that("response_rates reproduces Table 2 with exact CIs", {
  tab <- response_rates(table2_cohort(), duration = "pfs_months")
  expect_s3_class(tab, c("rwe_response_rates", "rwe_table", "data.frame"), exact = TRUE)
  expect_equal(attr(tab, "n_not_evaluable"), 5)
  expect_true(all(tab$N == 26))
  main <- tab[tab$section != "duration", ]
  expect_equal(main$category, c("CR", "PR", "SD", "PD", "DCR", "ORR"))
  expect_equal(main$n, c(0, 7, 8, 11, 15, 7))
  expect_equal(main$summary, c("0", "7 (26.9)", "8 (30.8)", "11 (42.3)", "15 (57.7)",
                               "7 (26.9)"))
  dcr <- binom.test(15, 26)$conf.int
  orr <- binom.test(7, 26)$conf.int
  expect_equal(c(main$conf.low[5], main$conf.high[5]), 100 * as.numeric(dcr))
  expect_equal(c(main$conf.low[6], main$conf.high[6]), 100 * as.numeric(orr))
  duration <- tab[tab$section == "duration", ]
  expect_equal(duration$n, c(1, 0, 5, 9, 3, 7))
  expect_equal(duration$summary, c("1 (3.8)", "0", "5 (19.2)", "9 (34.6)", "3 (11.5)",
                                   "7 (26.9)"))
  expect_equal(duration$closed, c("both", "neither", "left", "left", "left", "left"))
  expect_equal(duration$label[1:4], c("Disease control [0, 6] months",
                                      "Disease control (6, 12) months",
                                      "Disease control [12, 18) months",
                                      "Disease control \u226518 months"))
  expect_equal(duration$category, c(rep("DCR", 5), "ORR"))
})

test_that("Wilson intervals equal the closed form and prop.test without correction", {
  tab <- response_rates(table2_cohort(), method = "wilson", conf.level = 0.9)
  ref <- prop.test(15, 26, correct = FALSE, conf.level = 0.9)$conf.int
  expect_equal(c(tab$conf.low[5], tab$conf.high[5]) / 100, as.numeric(ref))
  z <- qnorm(0.95)
  centre <- (7 + z^2 / 2) / (26 + z^2)
  half <- z / (26 + z^2) * sqrt(7 * 19 / 26 + z^2 / 4)
  expect_equal(tab$conf.low[6] / 100, centre - half)
  expect_match(attr(tab, "footnotes"), "90% CI: Wilson")
  expect_equal(unname(binomial_ci(0, 10, method = "wilson")[1, 1]), 0)
})

test_that("duration bands are configurable and validated", {
  d <- data.frame(best_response = c("SD", "SD", "PR"), months = c(6, 12, 30))
  right <- response_rates(d, duration = "months", duration_breaks = c(0, 6, 12, Inf),
                          duration_closed = c("both", "right", "right"),
                          duration_at_least = NULL, response_at_least = NULL)
  expect_equal(right$n[right$section == "duration"], c(1, 1, 1))
  expect_error(response_rates(d, duration = "months", duration_breaks = c(0, 6, Inf),
                              duration_closed = c("left", "neither")), "gap or an overlap at break 6")
  expect_error(response_rates(d, duration = "months", duration_breaks = c(0, 6, Inf),
                              duration_closed = c("both", "both")), "overlap")
  expect_error(response_rates(d, duration = "months", duration_breaks = c(6, 0)),
               "strictly increasing")
  expect_error(response_rates(d, duration = "months", duration_closed = "both"),
               "one entry per band \\(4\\)")
  d$months[2] <- NA
  expect_error(response_rates(d, duration = "months"), "missing for disease-control.*row 2")
})

test_that("response_rates input errors", {
  d <- data.frame(best_response = c("PR", "NE", "SD", "CR "))
  expect_error(response_rates(d), "Rows 2, 4", class = "rlang_error")
  expect_error(response_rates(data.frame(best_response = c(NA, NA))), "no evaluable")
  expect_error(response_rates(d, response = "bor"), "bor")
  expect_error(response_rates(data.frame(best_response = "PR"), conf.level = 95), "conf.level")
  expect_error(response_rates(data.frame(best_response = "PR"), method = "exact"), "method")
})

test_that("response_rates accepts an rwe_recist object and prints", {
  tab <- response_rates(recist_response(fixture_lesions()))
  expect_equal(tab$n[tab$category %in% c("PR", "SD", "PD")], c(1, 1, 2))
  out <- capture.output(print(tab))
  expect_match(out[1], "N = 4 evaluable")
  expect_true(any(grepl("DCR \\(CR\\+PR\\+SD\\) +2 \\(50.0\\)", out)))
})

test_that("response_by reproduces every Table 3 Fisher p-value", {
  cohort <- table3_cohort()
  tab <- response_by(cohort, names(table3_published))
  expect_s3_class(tab, c("rwe_response_by", "rwe_table", "data.frame"), exact = TRUE)
  expect_equal(names(tab), c("variable", "label", "level", "n", "dcr_n", "dcr_pct", "orr_n",
                             "orr_pct", "dcr_p", "orr_p", "flag"))
  for (f in names(table3_published)) {
    rows <- tab[tab$variable == f, ]
    expect_equal(round(rows$dcr_p[1], 3), table3_published[[f]]$p[1], label = f)
    expect_equal(round(rows$orr_p[1], 3), table3_published[[f]]$p[2], label = f)
    first <- table3_published[[f]]$first
    expect_equal(rows$n[1], sum(first))
    expect_equal(rows$dcr_n[1], sum(first[1:2]))
    expect_equal(rows$orr_n[1], first[1])
    expect_equal(sum(rows$n), 26)
  }
  hfs <- tab[tab$variable == "hfs", ]
  expect_equal(hfs$level, c("Yes", "No"))
  expect_equal(hfs$n, c(25, 1))
  expect_equal(hfs$dcr_pct, c(60, 0))
  expect_equal(hfs$dcr_p, c(1, 1) * 11 / 26)   # closed form of the 2x2 Fisher test
  expect_equal(hfs$dcr_p[1], fisher.test(matrix(c(15, 0, 10, 1), 2))$p.value)
  expect_equal(hfs$flag, c(NA, "n < 5"))
  male <- tab[tab$variable == "sex_male" & tab$level == "Yes", ]
  expect_equal(round(c(male$dcr_pct, male$orr_pct), 1), c(41.7, 25.0))
})

test_that("response_by levels, labels, missing values and non-evaluable patients", {
  p <- fixture_patients()
  tab <- response_by(p, c("sex", "histology", "met_lung"),
                     labels = c(met_lung = "Lung metastasis"))
  # P5 (not evaluable, FTC+PTC) is left out, so histology has FTC and PTC only
  expect_equal(tab$level[tab$variable == "histology"], c("FTC", "PTC"))
  expect_equal(tab$label, c("sex", "sex", "histology", "histology", rep("Lung metastasis", 2)))
  sex <- tab[tab$variable == "sex", ]
  expect_equal(sex$n, c(3, 2))
  expect_equal(sex$orr_n, c(1, 1))
  tbl <- table(p$sex[p$evaluable], p$best_response[p$evaluable] %in% c("PR", "CR"))
  expect_equal(sex$orr_p, rep(fisher.test(tbl)$p.value, 2))
  p$sex[1] <- NA
  with_na <- response_by(p, "sex")
  expect_equal(with_na$n, c(3, 1))
  expect_equal(unname(attr(with_na, "n_missing")), 1)
  p$f <- factor(p$histology, levels = c("PTC", "FTC", "FTC+PTC"))
  expect_equal(response_by(p, "f")$level, c("PTC", "FTC"))
  out <- capture.output(print(tab))
  expect_true(any(grepl("Lung metastasis", out)))
  expect_true(any(grepl("n < 5", out)))
})

test_that("response_by errors", {
  p <- fixture_patients()
  expect_error(response_by(p, "met_pleura"), "met_pleura.*only 1 level", class = "rlang_error")
  expect_error(response_by(p, "age_years"), "age_years.*numeric")
  expect_error(response_by(p, "nope"), "nope")
  expect_error(response_by(p, "sex", labels = c(age = "Age")), "labels.*age")
  expect_error(response_by(p, "best_response"), "cannot include")
})

test_that("response verbs' input errors are classed rwe_bad_input", {
  p <- fixture_patients()
  expect_error(response_rates(p[0, ]), "no evaluable", class = "rwe_bad_input")
  expect_error(response_rates(transform(p, best_response = "XX")), class = "rwe_bad_input")
  expect_error(response_by(p, "best_response"), "cannot include", class = "rwe_bad_input")
  expect_error(response_by(p, "age_years"), "numeric", class = "rwe_bad_input")
})
