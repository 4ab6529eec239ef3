# rrdtc_derive() and compare_published(): the helpers of the study vignettes and report.

test_that("rrdtc_derive() follows the derived-variable rules", {
  pts <- data.frame(
    patient_id = c("A", "B", "C", "D", "E"),
    met_lung = c(TRUE, TRUE, TRUE, FALSE, FALSE),
    met_bone = c(FALSE, FALSE, TRUE, TRUE, FALSE),
    met_pleura = c(FALSE, TRUE, FALSE, FALSE, FALSE),
    met_other = c(FALSE, FALSE, FALSE, FALSE, FALSE),
    rr_definition = c("uptake_but_progressive", "no_uptake_lesion",
                      "progression_or_dose_ge_22.3GBq", "uptake_but_progressive", NA),
    tg_best_pct_change = c(-60, -59.9, -95, NA, 10),
    best_response = c("PR", "SD", "PD", NA, "CR"),
    age_years = c(55L, 54L, 79L, 18L, 60L),
    stringsAsFactors = FALSE
  )
  ae <- data.frame(patient_id = c("A", "A", "C"),
                   ae_term = c("Hand-foot skin syndrome", "Diarrhea", "Alopecia"))
  out <- rrdtc_derive(pts, ae)
  expect_identical(out$distant, c(TRUE, TRUE, TRUE, TRUE, FALSE))
  expect_identical(out$lung_only_t1, c(TRUE, FALSE, FALSE, FALSE, FALSE))
  expect_identical(out$lung_only_t34, c(TRUE, TRUE, FALSE, FALSE, FALSE))
  expect_identical(out$rai_t34, c(TRUE, FALSE, FALSE, TRUE, NA))
  expect_identical(out$hfs, c(TRUE, FALSE, FALSE, FALSE, FALSE))
  expect_identical(out$tg_response_ge60, c(TRUE, FALSE, TRUE, NA, FALSE))
  expect_identical(out$disease_control, c(TRUE, TRUE, FALSE, NA, TRUE))
  expect_identical(out$objective_response, c(TRUE, FALSE, FALSE, NA, TRUE))
  expect_identical(out$age_ge55, c(TRUE, FALSE, TRUE, FALSE, TRUE))
  # original columns untouched, rows kept
  expect_identical(out[names(pts)], pts)
})

test_that("rrdtc_derive() skips rules whose inputs are absent", {
  out <- rrdtc_derive(data.frame(age_years = c(40, 70)))
  expect_identical(names(out), c("age_years", "age_ge55"))
  expect_error(rrdtc_derive(list(a = 1)), class = "rlang_error")
  expect_error(rrdtc_derive(data.frame(patient_id = "A"), data.frame(id = "A")),
               class = "rlang_error")
})

test_that("rrdtc_derive() gives the published counts on the bundled cohort", {
  d <- rrdtc_derive(rrdtc_patients, rrdtc_adverse_events)
  ev <- d[d$evaluable, ]
  expect_equal(sum(d$distant), 24)                 # Table 1
  expect_equal(sum(d$lung_only_t1), 7)             # Table 1 (strict)
  expect_equal(sum(ev$lung_only_t34), 8)           # Tables 3/4 (R1)
  expect_equal(sum(d$rai_uptake), 20)              # Table 1
  expect_equal(sum(ev$rai_t34), 14)                # Tables 3/4 (R2)
  expect_equal(sum(d$hfs), 29)                     # Table 5
  expect_equal(sum(ev$hfs), 25)                    # Tables 3/4
  expect_equal(sum(ev$tg_response_ge60), 14)
  expect_equal(sum(ev$disease_control), 15)
  expect_equal(sum(ev$objective_response), 7)
  expect_equal(sum(d$age_ge55), 19)
  expect_equal(sum(ev$age_ge55), 17)
  expect_true(all(is.na(d$disease_control[!d$evaluable])))
})

test_that("compare_published() lines up keys and reports differences", {
  pub <- data.frame(g = c("a", "b", "c"), n = c(1, 2, 3), pct = c(10, 20.1, NA))
  rep <- data.frame(grp = c("c", "a", "b", "z"), n = c(3, 1, 2, 9), pct = c(NA, 10, 20.2, 1))
  cmp <- compare_published(rep, pub, by = c(grp = "g"), values = c("n", "pct"))
  expect_s3_class(cmp, "rwe_comparison")
  expect_s3_class(cmp, "data.frame")
  expect_identical(names(cmp), c("g", "quantity", "published", "reproduced", "difference",
                                 "match"))
  # published row order, value columns interleaved
  expect_identical(cmp$g, rep(c("a", "b", "c"), each = 2))
  expect_identical(cmp$quantity, rep(c("n", "pct"), 3))
  expect_equal(cmp$reproduced, c(1, 10, 2, 20.2, 3, NA))
  expect_equal(cmp$difference, c(0, 0, 0, 0.1, 0, NA))
  expect_identical(cmp$match, c(TRUE, TRUE, TRUE, FALSE, TRUE, TRUE))
  # tolerance, scalar and per column
  expect_true(all(compare_published(rep, pub, by = c(grp = "g"), values = c("n", "pct"),
                                    tolerance = 0.1)$match))
  tol <- compare_published(rep, pub, by = c(grp = "g"), values = c("n", "pct"),
                           tolerance = c(pct = 0.2))
  expect_true(all(tol$match))
})

test_that("compare_published() handles missing keys, NA mismatches, text and renamed values", {
  pub <- data.frame(k = c("a", "b"), v = c(1, NA))
  rep <- data.frame(k = c("b"), w = 5)
  cmp <- compare_published(rep, pub, by = "k", values = c(w = "v"))
  expect_identical(cmp$quantity, c("v", "v"))
  expect_equal(cmp$reproduced, c(NA, 5))
  expect_identical(cmp$match, c(FALSE, FALSE))
  txt <- compare_published(data.frame(k = "a", s = "x"), data.frame(k = "a", s = "y"),
                           by = "k", values = "s")
  expect_identical(txt$published, "y")
  expect_identical(txt$match, FALSE)
  expect_true(is.na(txt$difference))
  # two keys
  pub2 <- data.frame(a = c(1, 1), b = c("x", "y"), v = 1:2)
  rep2 <- data.frame(a = c(1, 1), b = c("y", "x"), v = 2:1)
  expect_true(all(compare_published(rep2, pub2, by = c("a", "b"), values = "v")$match))
})

test_that("compare_published() validates its input", {
  pub <- data.frame(k = "a", v = 1)
  expect_error(compare_published(pub, pub, by = "nope", values = "v"), class = "rlang_error")
  expect_error(compare_published(pub, pub, by = "k", values = "v", tolerance = -1),
               class = "rlang_error")
  expect_error(compare_published(pub, pub, by = "k", values = "v", tolerance = c(x = 1)),
               class = "rlang_error")
  dup <- data.frame(k = c("a", "a"), v = 1:2)
  expect_error(compare_published(dup, pub, by = "k", values = "v"), "duplicated")
  clash <- data.frame(quantity = "a", v = 1)
  expect_error(compare_published(clash, clash, by = "quantity", values = "v"), "clash")
})

test_that("compare_published() prints mismatches in bold and knits to a table", {
  pub <- data.frame(k = c("a", "b"), v = c(1, 2))
  rep <- data.frame(k = c("a", "b"), v = c(1, 3))
  cmp <- compare_published(rep, pub, by = "k", values = "v")
  out <- capture.output(print(cmp))
  expect_true(any(grepl("**no**", out, fixed = TRUE)))
  expect_true(any(grepl("1 of 2 published values reproduced exactly", out)))
  skip_if_not_installed("knitr")
  knitted <- knitr::knit_print(cmp)
  expect_match(as.character(knitted), "|", fixed = TRUE)
  expect_match(as.character(knitted), "**3**", fixed = TRUE)
})

test_that("compare_published() reproduces Table 5 from the bundled cohort", {
  tab <- tidy(ae_table(rrdtc_adverse_events, rrdtc_patients))
  any_grade <- tab[tab$grade_band == "any", ]
  any_grade$percent <- round(any_grade$percent, 1)
  cmp <- compare_published(any_grade, published_table5, by = c(term = "ae_term"),
                           values = c(n = "any_grade_n", percent = "any_grade_percent"))
  expect_equal(nrow(cmp), 26)
  expect_true(all(cmp$match))
})
