test_that("baseline_table reproduces Table 1 cells built from the published counts", {
  n <- 31
  cohort <- data.frame(
    age_years = c(18, rep(40, 14), 58, rep(70, 14), 79),
    sex = rep(c("male", "female"), c(12, 19)),
    histology = factor(rep(c("FTC", "PTC", "FTC+PTC"), c(10, 19, 2)),
                       levels = c("FTC", "PTC", "FTC+PTC")),
    distant = rep(c(TRUE, FALSE), c(24, 7)),
    met_lung = c(rep(TRUE, 16), rep(FALSE, 15)),
    met_bone = c(rep(c(TRUE, FALSE), 12), rep(FALSE, 7)),
    cum_rai_dose_gbq = c(0.1, rep(5, 14), 11.7, rep(20, 14), 58.8)
  )
  tab <- baseline_table(cohort, c("age_years", "sex", "histology", "distant", "met_lung",
                                  "met_bone", "cum_rai_dose_gbq"),
                        denominators = list(met_lung = "distant", met_bone = "distant"))
  expect_s3_class(tab, c("rwe_baseline", "rwe_table", "data.frame"), exact = TRUE)
  get <- function(var, level = NA) {
    tab$summary[tab$variable == var & (is.na(level) | tab$level %in% level)]
  }
  expect_equal(get("age_years"), "58 (18\u201379)")
  expect_equal(get("sex", "male"), "12 (38.7)")
  expect_equal(get("sex", "female"), "19 (61.3)")
  expect_equal(tab$level[tab$variable == "histology"], c("FTC", "PTC", "FTC+PTC"))
  expect_equal(get("histology", "FTC+PTC"), "2 (6.5)")
  expect_equal(get("distant"), "24 (77.4)")
  expect_equal(get("met_lung"), "16 (66.7)")   # over the 24 with distant metastases
  expect_equal(get("met_bone"), "12 (50.0)")
  expect_equal(tab$N[tab$variable == "met_lung"], 24)
  expect_equal(tab$denominator[tab$variable == "met_bone"], "distant")
  expect_equal(get("cum_rai_dose_gbq"), "11.7 (0.1\u201358.8)")
  expect_equal(tab$percent[tab$variable == "sex"], 100 * c(19, 12) / 31)
  expect_true(is.na(tab$level[tab$variable == "distant"]))
  expect_equal(unique(tab$type[tab$variable %in% c("age_years", "sex", "distant")]),
               c("continuous", "categorical", "flag"))
})

test_that("missing values shrink N and are not counted", {
  d <- data.frame(flag = c(TRUE, FALSE, NA, TRUE), x = c(1, NA, 3, 5))
  tab <- baseline_table(d, c("flag", "x"))
  expect_equal(tab$n, c(2, 3))
  expect_equal(tab$N, c(3, 3))
  expect_equal(tab$summary, c("2 (66.7)", "3 (1\u20135)"))
})

test_that("by-group columns and tests equal fisher.test / wilcox.test / kruskal.test", {
  p <- fixture_patients()
  tab <- baseline_table(p, c("age_years", "histology", "met_lung"), by = "sex")
  expect_equal(attr(tab, "groups"), c("female", "male"))
  expect_true(all(c("n_female", "N_male", "percent_male", "summary_female", "p_value", "test")
                  %in% names(tab)))
  age <- tab[tab$variable == "age_years", ]
  # one precision for all columns of a variable, set by the overall median 51.5
  expect_equal(age$summary, "51.5 (18.0\u201379.0)")
  expect_equal(age$summary_male, "59.0 (58.0\u201360.0)")
  expect_equal(age$summary_female, "42.5 (18.0\u201379.0)")
  expect_equal(age$p_value,
               suppressWarnings(wilcox.test(age_years ~ sex, data = p)$p.value))
  expect_equal(age$test, "Wilcoxon rank-sum")
  hist <- tab[tab$variable == "histology", ]
  expect_equal(hist$p_value, rep(fisher.test(table(p$histology, p$sex))$p.value, 3))
  expect_equal(hist$n_male, c(1, 0, 1))
  lung <- tab[tab$variable == "met_lung", ]
  expect_equal(lung$p_value, fisher.test(table(p$met_lung, p$sex))$p.value)
  expect_equal(lung$summary_female, "2 (50.0)")
  three <- baseline_table(p, "age_years", by = "histology")
  expect_equal(three$p_value, kruskal.test(p$age_years, factor(p$histology))$p.value)
  expect_equal(three$test, "Kruskal-Wallis")
  untested <- baseline_table(p, "age_years", by = "sex", test = FALSE)
  expect_true(is.na(untested$p_value))
})

test_that("tidy() gives the long form with a group column; print shows headers", {
  p <- fixture_patients()
  tab <- baseline_table(p, c("age_years", "sex"), by = "evaluable")
  long <- tidy(tab)
  expect_equal(unique(long$group), c("overall", "TRUE", "FALSE"))
  expect_equal(nrow(long), 3 * nrow(tab))
  expect_equal(long$n[long$group == "FALSE" & long$level %in% "female"], 1)
  out <- capture.output(print(baseline_table(p, c("sex", "age_years"))))
  expect_true(any(grepl("^ sex", out)))
  expect_true(any(grepl("female +4 \\(66.7\\)", out)))
  labelled <- baseline_table(p, c("sex", "age_years"), labels = c(sex = "Gender"))
  expect_equal(unique(labelled$label), c("Gender", "age_years"))
  shown <- capture.output(print(labelled))
  expect_true(any(grepl("^ Gender", shown)))
  expect_error(baseline_table(p, "sex", labels = c(sexx = "Gender")), "labels.*sexx")
  skip_if_not_installed("knitr")
  knitted <- knitr::knit_print(tab)
  expect_match(knitted, "Baseline characteristics", fixed = TRUE)
  expect_match(knitted, "|sex", fixed = TRUE)
})

test_that("baseline_table errors name the argument and the offending values", {
  p <- fixture_patients()
  expect_error(baseline_table(p, c("age_years", "nope")), "nope", class = "rlang_error")
  expect_error(baseline_table(p, "age_years", by = "nope"), "nope")
  expect_error(baseline_table(p, "age_years", by = "age_years"), "cannot also be in")
  expect_error(baseline_table(p[p$sex == "male", ], "age_years", by = "sex"),
               "at least two groups")
  expect_error(baseline_table(p, "met_lung", denominators = list(met_lung = "sex")),
               "must be logical")
  expect_error(baseline_table(p, "met_lung", denominators = list(met_bone = "met_lung")),
               "met_bone.*not in")
  expect_error(baseline_table(p, "met_lung", denominators = list("met_lung")), "named list")
  expect_error(baseline_table(p, c("sex", "sex")), "duplicated")
  expect_error(baseline_table(transform(p, d = Sys.Date()), "d"), "unsupported type")
  expect_error(baseline_table(p, "sex", digits = -1), "digits")
})

test_that("baseline methods refuse arguments they would ignore", {
  d <- data.frame(x = c(1, 2, 3, 4), g = c("a", "b", "a", "b"))
  tab <- baseline_table(d, "x", by = "g", test = FALSE)
  expect_error(tidy(tab, foo = 1), "foo", class = "rwe_bad_input")
  expect_error(display_table(tab, foo = 1), "foo", class = "rwe_bad_input")
})

test_that("baseline_table refuses infinite values with a classed error naming variable and rows", {
  p <- fixture_patients()
  p$cum_rai_dose_gbq[c(2, 5)] <- c(Inf, -Inf)
  # Used to fail with "missing value where TRUE/FALSE needed" inside the formatting code.
  expect_error(baseline_table(p, c("age_years", "cum_rai_dose_gbq")),
               "infinite values of .*cum_rai_dose_gbq.*rows: 2, 5", class = "rwe_bad_input")
  expect_error(baseline_table(p, "cum_rai_dose_gbq", by = "sex"), class = "rwe_bad_input")
  # Huge but finite values are summarised; NaN counts as missing.
  p$cum_rai_dose_gbq <- c(1e300, -1e300, 2.5, NaN, 1, 3)
  tab <- baseline_table(p, "cum_rai_dose_gbq")
  expect_equal(tab$n, 5)
  expect_match(tab$summary, "^2\\.5 \\(-1")
  # The other argument errors are classed too.
  expect_error(baseline_table(p, c("sex", "sex")), class = "rwe_bad_input")
  expect_error(baseline_table(p, "age_years", by = "age_years"), class = "rwe_bad_input")
  expect_error(baseline_table(transform(p, d = Sys.Date()), "d"), class = "rwe_bad_input")
})

test_that("baseline_table tests large r x c tables by Monte Carlo when exact Fisher fails", {
  set.seed(11)
  d <- data.frame(histology = sample(c("FTC", "PTC", "other"), 600, replace = TRUE),
                  arm = sample(c("a", "b", "c"), 600, replace = TRUE))
  tab <- table(d$histology, d$arm)
  # The network algorithm's default workspace is too small for this table ...
  expect_error(stats::fisher.test(tab), "FEXACT")
  # ... which used to make baseline_table() fail with that unclassed error.
  rng <- .Random.seed
  out <- baseline_table(d, "histology", by = "arm")
  expect_identical(.Random.seed, rng)
  set.seed(20240101L)
  ref <- stats::fisher.test(tab, simulate.p.value = TRUE, B = 1e5)$p.value
  expect_equal(unique(out$p_value), ref)
  expect_equal(unique(out$test), "Fisher's exact (Monte Carlo, 1e5 tables)")
  # The Monte Carlo estimate is close to the chi-square p-value at this sample size.
  expect_equal(ref, suppressWarnings(stats::chisq.test(tab)$p.value), tolerance = 0.05)
  # Small tables keep the exact test.
  small <- baseline_table(d[1:40, ], "histology", by = "arm")
  expect_equal(unique(small$p_value), stats::fisher.test(table(d$histology[1:40], d$arm[1:40]))$p.value)
  expect_equal(unique(small$test), "Fisher's exact")
})
