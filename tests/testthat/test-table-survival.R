# survival_by(), survival_overall(), followup_summary(): checked against survival::survfit /
# survdiff computed here, and against the shipped published_table4.

lung2 <- within(survival::lung, {
  event <- status - 1
  sex_f <- factor(sex, levels = 1:2, labels = c("male", "female"))
  ecog <- factor(ph.ecog)
})

surv_table <- function(fit) {
  tab <- summary(fit, rmean = "individual")$table
  if (is.null(dim(tab))) tab <- t(tab)
  tab
}

test_that("survival_by matches survfit and survdiff on lung (medians, CIs, means, p)", {
  tab <- survival_by(lung2, "time", "event", c("sex_f", "ecog"))
  expect_s3_class(tab, c("rwe_survival_by", "rwe_table", "data.frame"))
  expect_identical(names(tab), c("variable", "label", "level", "n", "percent", "events",
                                 "median", "median_low", "median_high", "mean_spss",
                                 "mean_spss_se", "p_value", "flag", "summary"))
  for (f in c("sex_f", "ecog")) {
    d <- lung2[!is.na(lung2[[f]]), ]
    sf <- surv_table(survival::survfit(survival::Surv(time, event) ~ d[[f]], data = d))
    rows <- tab[tab$variable == f, ]
    expect_identical(rows$level, levels(droplevels(d[[f]])))
    expect_equal(rows$n, unname(sf[, "records"]))
    expect_equal(rows$percent, 100 * unname(sf[, "records"]) / nrow(d))
    expect_equal(rows$events, unname(sf[, "events"]))
    expect_equal(rows$median, unname(sf[, "median"]), tolerance = 1e-8)
    expect_equal(rows$median_low, unname(sf[, "0.95LCL"]), tolerance = 1e-8)
    expect_equal(rows$median_high, unname(sf[, "0.95UCL"]), tolerance = 1e-8)
    expect_equal(rows$mean_spss, unname(sf[, "rmean"]), tolerance = 1e-8)
    expect_equal(rows$mean_spss_se, unname(sf[, "se(rmean)"]), tolerance = 1e-8)
    sd <- survival::survdiff(survival::Surv(time, event) ~ d[[f]], data = d)
    p <- stats::pchisq(sd$chisq, length(sd$n) - 1, lower.tail = FALSE)
    expect_equal(rows$p_value[1], p, tolerance = 1e-8)
    expect_true(all(is.na(rows$p_value[-1])))
  }
  # ecog 3 has a single patient: flagged, its median is its event time
  e3 <- tab[tab$variable == "ecog" & tab$level == "3", ]
  expect_match(e3$flag, "n < 5")
  expect_equal(attr(tab, "n_missing")[["ecog"]], 1)
})

test_that("the SPSS mean is the area under the curve up to the group's own largest time", {
  set.seed(11)
  d <- data.frame(t = round(rexp(40, 0.1), 1), e = rbinom(40, 1, 0.6),
                  g = rep(c("a", "b"), each = 20))
  d$t[d$g == "a"][which.max(d$t[d$g == "a"])] <- 80  # a long censored tail in group a
  d$e[d$g == "a" & d$t == 80] <- 0
  tab <- survival_by(d, "t", "e", "g")
  for (lev in c("a", "b")) {
    s <- d[d$g == lev, ]
    fit <- survival::survfit(survival::Surv(t, e) ~ 1, data = s)
    area <- sum(diff(c(0, fit$time)) * c(1, fit$surv)[seq_along(fit$time)])
    expect_equal(tab$mean_spss[tab$level == lev], area, tolerance = 1e-10)
    expect_equal(tab$mean_spss[tab$level == lev],
                 unname(surv_table(fit)[, "rmean"]), tolerance = 1e-10)
  }
})

# ---- the bundled cohort vs the published Table 4 -----------------------------------------

pts <- subset(rrdtc_patients, evaluable)
hfs_ids <- rrdtc_adverse_events$patient_id[rrdtc_adverse_events$ae_term ==
                                             "Hand-foot skin syndrome"]
# Each Table 4 factor as a logical whose TRUE is the first printed level (constraints §4.1).
table4_factors <- c(
  age_ge55 = "Age (years)", male = "Gender", ftc = "Histologic types", rai_t34 = "RAI uptake",
  distant = "Distant metastases", met_lung = "Lung metastasis",
  lung_only_t34 = "Lung-only metastasis", met_bone = "Bone metastasis",
  rai_only = "Previous therapies", residual_lesion = "Residual lesions",
  hfs = "Hand-foot skin syndrome", disease_control = "Disease control",
  objective_response = "Objective response", tg_response_ge60 = "Thyroglobulin response",
  dose_modified = "Medication status")
pts <- within(pts, {
  age_ge55 <- age_years >= 55
  male <- sex == "male"
  ftc <- histology == "FTC"
  rai_t34 <- rr_definition == "uptake_but_progressive"
  distant <- met_lung | met_bone | met_pleura | met_other
  lung_only_t34 <- met_lung & !met_bone & !met_other
  rai_only <- prior_therapy == "RAI_only"
  hfs <- patient_id %in% hfs_ids
  disease_control <- best_response %in% c("CR", "PR", "SD")
  objective_response <- best_response %in% c("CR", "PR")
  tg_response_ge60 <- tg_best_pct_change <= -60
})
t4 <- published_table4[published_table4$source == "Table 4", ]
tab4 <- survival_by(pts, "pfs_months", "pfs_event", names(table4_factors),
                    labels = table4_factors, mean = TRUE)

test_that("Table 4: N column reproduced exactly, rows in the published order", {
  expect_identical(tab4$label, t4$variable)
  expect_equal(tab4$n, t4$n)
  expect_true(all(abs(tab4$percent - t4$percent) <= 0.1))  # 65.3 for 17/26 is the paper's
})

test_that("Table 4: SPSS KM means and log-rank p within the tolerances of the data tests", {
  has_mean <- !is.na(t4$pfs_mean_months)
  err <- abs(tab4$mean_spss[has_mean] - t4$pfs_mean_months[has_mean])
  expect_lte(max(err), 1 + 1e-9)
  expect_lte(mean(err), 0.22)
  expect_equal(tab4$mean_spss[tab4$variable == "hfs" & tab4$level == "No"], 5)
  # the dashes: disease control / PR groups have no events, printed "–"
  dc <- tab4[tab4$variable == "disease_control" & tab4$level == "Yes", ]
  expect_equal(dc$events, 0)
  expect_identical(dc$summary, "\u2013")
  expect_match(dc$flag, "no events")
  first <- !is.na(t4$p_value)
  p <- tab4$p_value[first]
  printed <- t4$p_value[first]
  zero <- printed == 0
  expect_true(all(p[zero] < 0.0005))
  expect_lte(max(exp(abs(log(p[!zero] / printed[!zero])))), 1.19)
  expect_identical(p < 0.05, printed < 0.05)
  expect_equal(round(tab4$p_value[tab4$variable == "hfs"][1], 3), 0.007)
})

test_that("the text's bone comparison within the 19 with distant metastases (p = 0.062)", {
  text <- published_table4[published_table4$source == "Results text", ]
  res <- survival_by(pts[pts$distant, ], "pfs_months", "pfs_event", "met_bone")
  expect_equal(res$n, text$n)
  p <- res$p_value[1]
  expect_lte(exp(abs(log(p / text$p_value[1]))), 1.19)
  expect_false(p < 0.05)
})

test_that("survival_by prints mean, median (CI) and p; tidy gives the numbers", {
  out <- capture.output(print(tab4))
  expect_true(any(grepl("mean (SPSS)", out, fixed = TRUE)))
  expect_true(any(grepl("median (95% CI)", out, fixed = TRUE)))
  expect_true(any(grepl("NR", out, fixed = TRUE)))
  expect_true(any(grepl("\u2013", out, fixed = TRUE)))
  expect_true(any(grepl("<0.001", out, fixed = TRUE)))
  td <- tidy(tab4)
  expect_false(inherits(td, "rwe_table"))
  expect_equal(td$mean_spss, tab4$mean_spss)
  kp <- knitr::knit_print(tab4)
  expect_s3_class(kp, "knit_asis")
  # The SPSS mean column is printed only when asked for; the numbers are always there.
  plain <- survival_by(pts, "pfs_months", "pfs_event", names(table4_factors))
  expect_false(any(grepl("mean (SPSS)", capture.output(print(plain)), fixed = TRUE)))
  expect_false("mean (SPSS)" %in% names(display_table(plain)))
  expect_equal(plain$mean_spss, tab4$mean_spss)
})

test_that("printed median (95% CI): reached, NR (not reached), NE (not estimable)", {
  # median reached with both limits (lung, males: survfit gives 270 (212-310)); times in
  # days print without decimals
  lung_tab <- survival_by(lung2, "time", "event", "sex_f")
  expect_identical(lung_tab$summary[lung_tab$level == "male"], "270 (212\u2013310)")
  # HFS "Yes": the curve never falls to 0.5, nor does its upper limit: NR
  hfs <- tab4[tab4$variable == "hfs", ]
  expect_identical(hfs$summary[hfs$level == "Yes"], "NR (16.0\u2013NR)")
  age_no <- tab4[tab4$variable == "age_ge55" & tab4$level == "No", ]
  expect_identical(age_no$summary, "15.0 (14.5\u2013NR)")
  # HFS "No": one patient who progresses at 5 months, S drops from 1 to 0 and the log-scale
  # limits do not exist: the median is 5 and both limits are not estimable, not "not reached"
  no <- hfs[hfs$level == "No", ]
  expect_equal(c(no$n, no$events, no$median), c(1, 1, 5))
  expect_true(is.na(no$median_low) && is.na(no$median_high))
  expect_identical(no$summary, "5.0 (NE\u2013NE)")
  out <- capture.output(print(tab4))
  expect_true(any(grepl("5.0 (NE\u2013NE)", out, fixed = TRUE)))
  expect_false(any(grepl("NR", out[grepl("5.0 (NE", out, fixed = TRUE)], fixed = TRUE)))
  # all 11 without disease control progress: S ends at 0 before the upper limit reaches 0.5
  dc_no <- tab4[tab4$variable == "disease_control" & tab4$level == "No", ]
  expect_identical(dc_no$summary, "14.5 (13.5\u2013NE)")
  # lung-only T3/4: 1 event in 8, even the lower limit stays above 0.5 (not reached)
  lo <- tab4[tab4$variable == "lung_only_t34" & tab4$level == "Yes", ]
  expect_identical(lo$summary, "NR (NR\u2013NR)")
  notes <- attr(tab4, "footnotes")[1]
  expect_match(notes, "NR = not reached", fixed = TRUE)
  expect_match(notes, "NE = not estimable", fixed = TRUE)
  # a lower limit that is not reached (1 event in 10: the lower curve stays at 0.6) is NR;
  # an upper limit whose curve ends undefined at S = 0 (all 10 progress) is NE
  d <- data.frame(t = c(2, 4:12, 1:10), e = c(1, rep(0, 9), rep(1, 10)),
                  g = rep(c("a", "b"), each = 10))
  res <- survival_by(d, "t", "e", "g")
  expect_identical(res$summary, c("NR (NR\u2013NR)", "5.5 (3.0\u2013NE)"))
  fit <- survival::survfit(survival::Surv(t, e) ~ g, data = d)
  expect_equal(res$median_low, unname(surv_table(fit)[, "0.95LCL"]))
})

test_that("empty factor levels are dropped with a flag; missing factor values left out", {
  d <- pts
  d$hist <- factor(d$histology, levels = c("FTC", "PTC", "FTC+PTC"))
  d$hist[1] <- NA
  res <- survival_by(d, "pfs_months", "pfs_event", "hist")
  expect_identical(res$level, c("FTC", "PTC"))
  expect_match(res$flag[1], "empty level(s) dropped: FTC+PTC", fixed = TRUE)
  expect_equal(sum(res$n), 25)
  expect_equal(sum(res$percent), 100)
  # non-evaluable patients (missing PFS) are left out and counted
  all31 <- rrdtc_patients
  all31$male <- all31$sex == "male"
  res31 <- survival_by(all31, "pfs_months", "pfs_event", "male")
  expect_equal(sum(res31$n), 26)
  expect_true(any(grepl("5 row(s) with missing time or event", attr(res31, "footnotes"),
                        fixed = TRUE)))
})

# ---- overall PFS and follow-up ------------------------------------------------------------

test_that("overall PFS: median 16.5 (SPSS rule and survfit rule), mean as survfit", {
  res <- survival_overall(pts, "pfs_months", "pfs_event")
  expect_s3_class(res, c("rwe_survival_overall", "rwe_table"))
  expect_equal(nrow(res), 1)
  expect_equal(res$n, 26)
  expect_equal(res$events, 11)
  # the rule of tests/testthat/test-data.R: first event time with S(t) <= 0.5
  fit <- survival::survfit(survival::Surv(pfs_months, pfs_event) ~ 1, data = pts)
  expect_equal(res$median_spss, fit$time[which(fit$surv <= 0.5)[1]])
  expect_equal(res$median_spss, 16.5)
  tab <- surv_table(fit)
  expect_equal(res$median, unname(tab[, "median"]))
  expect_equal(res$median_low, unname(tab[, "0.95LCL"]))
  expect_equal(res$median_high, unname(tab[, "0.95UCL"]))
  expect_equal(res$mean_spss, unname(tab[, "rmean"]), tolerance = 1e-10)
  expect_equal(res$mean_spss_se, unname(tab[, "se(rmean)"]), tolerance = 1e-10)
  expect_equal(res$mean_spss_high - res$mean_spss, qnorm(0.975) * res$mean_spss_se)
  # the curve never falls to 0.45, so Collett's density (hence the SPSS-style SE) is undefined
  expect_true(is.na(res$median_spss_se))
  expect_output(print(res), "16.5")
  # the curve ends censored above 0.5 for the upper limit: not reached
  expect_identical(res$summary, "16.5 (15.50\u2013NR)")
  expect_output(print(res), "16.5 (15.50\u2013NR)", fixed = TRUE)
})

test_that("SPSS-style median SE follows Collett's density formula (checked by hand on lung)", {
  res <- survival_overall(lung2, "time", "event")
  fit <- survival::survfit(survival::Surv(time, event) ~ 1, data = lung2)
  ev <- fit$n.event > 0
  tt <- fit$time[ev]
  s <- fit$surv[ev]
  se <- fit$std.err[ev] * s  # survfit stores SE(log S)
  m <- which(s <= 0.5)[1]
  u <- max(which(s >= 0.55))
  l <- min(which(s <= 0.45))
  dens <- (s[u] - s[l]) / (tt[l] - tt[u])
  expect_equal(res$median_spss, tt[m])
  expect_equal(res$median_spss_se, se[m] / dens, tolerance = 1e-10)
  expect_equal(res$median_spss_low, tt[m] - qnorm(0.975) * se[m] / dens, tolerance = 1e-10)
})

test_that("follow-up: reverse KM median as survfit; simple median (range) as published", {
  res <- followup_summary(pts, "pfs_months", "pfs_event", followup = "followup_months")
  expect_s3_class(res, c("rwe_followup", "rwe_table"))
  rev <- survival::survfit(survival::Surv(pfs_months, 1 - pfs_event) ~ 1, data = pts)
  tab <- surv_table(rev)
  expect_equal(res$median_reverse_km, unname(tab[, "median"]))
  expect_equal(res$median_reverse_km_low, unname(tab[, "0.95LCL"]))
  expect_equal(res$median_reverse_km_high, unname(tab[, "0.95UCL"]))
  # the paper: 17.5 (4.0-51.0) months for the 26 evaluable patients
  expect_equal(c(res$median_simple, res$min, res$max), c(17.5, 4, 51))
  expect_identical(res$summary, "17.5 (4.0\u201351.0)")
  res2 <- followup_summary(pts, "pfs_months", "pfs_event")
  expect_equal(res2$median_simple, median(pts$pfs_months))
  expect_output(print(res), "17.5")
  # the reverse curve drops to 0 at the largest time (a censored patient) before its upper
  # limit reaches 0.5: that limit is not estimable
  expect_identical(res$summary_reverse_km, "22.0 (20.0\u2013NE)")
})

# ---- bad input ----------------------------------------------------------------------------

test_that("bad input gives rwe_bad_input errors naming the argument", {
  d <- pts
  expect_error(survival_by(d, "pfs", "pfs_event", "male"), class = "rwe_bad_input",
               regexp = "pfs")
  expect_error(survival_by(d, "pfs_months", "pfs_event", c("male", "nope")),
               class = "rwe_bad_input", regexp = "nope")
  expect_error(survival_by(as.list(d), "pfs_months", "pfs_event", "male"),
               class = "rwe_bad_input", regexp = "data")
  d$ev2 <- d$pfs_event + 2L
  expect_error(survival_by(d, "pfs_months", "ev2", "male"), class = "rwe_bad_input",
               regexp = "event")
  d$neg <- d$pfs_months
  d$neg[3] <- -1
  expect_error(survival_by(d, "neg", "pfs_event", "male"), class = "rwe_bad_input",
               regexp = "time.*-1")
  d$one <- "same"
  expect_error(survival_by(d, "pfs_months", "pfs_event", c("male", "one")),
               class = "rwe_bad_input", regexp = "one.*at least two")
  expect_error(survival_by(d, "pfs_months", "pfs_event", "age_years"),
               class = "rwe_bad_input", regexp = "age_years")
  expect_error(survival_by(d, "pfs_months", "pfs_event", "male", labels = c(x = "X")),
               class = "rwe_bad_input", regexp = "labels")
  expect_error(survival_by(d, "pfs_months", "pfs_event", "male", conf.level = 2),
               class = "rwe_bad_input", regexp = "conf.level")
  expect_error(survival_overall(d, "pfs_months", "ev2"), class = "rwe_bad_input",
               regexp = "event")
  expect_error(followup_summary(d, "pfs_months", "pfs_event", followup = "zz"),
               class = "rwe_bad_input", regexp = "zz")
})

test_that("survival-table display methods refuse arguments they would ignore", {
  tab <- survival_by(lung2, "time", "event", "sex_f")
  expect_error(display_table(tab, foo = 1), "foo", class = "rwe_bad_input")
  expect_error(display_table(survival_overall(lung2, "time", "event"), foo = 1), "foo",
               class = "rwe_bad_input")
  expect_error(display_table(followup_summary(lung2, "time", "event"), foo = 1), "foo",
               class = "rwe_bad_input")
})

test_that("day-scale times print as whole days (survival_overall on lung)", {
  lung <- survival::lung
  ov <- survival_overall(lung, "time", "status")
  sf <- summary(survival::survfit(survival::Surv(time, status) ~ 1, data = lung))$table
  expect_equal(ov$median, unname(sf["median"]))
  expect_identical(ov$summary, "310 (285\u2013363)")
  shown <- display_table(ov)
  expect_identical(shown$`median (SPSS CI)`, sprintf("310 (%.0f\u2013%.0f)",
                                                     ov$median_spss_low, ov$median_spss_high))
  expect_identical(shown$`mean (SE)`, sprintf("%.1f (%.1f)", ov$mean_spss, ov$mean_spss_se))
  # month-scale data keep their decimals
  pts <- subset(rrdtc_patients, evaluable)
  expect_match(display_table(survival_overall(pts, "pfs_months", "pfs_event"))$`mean (SE)`,
               "^[0-9]+\\.[0-9]{3} ")
})
