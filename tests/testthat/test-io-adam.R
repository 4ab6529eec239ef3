# ADaM adapters: an .xpt round trip of the bundled cohort through every study verb, the
# CNSR trap, and a two-arm ADTTE built from survival::colon checked against survfit/coxph.

adam <- rrdtc_as_adam()
pts <- rrdtc_derive(rrdtc_patients, rrdtc_adverse_events)
ev26 <- subset(pts, evaluable)

xpt_round_trip <- function(data) {
  skip_if_not_installed("haven")
  file <- tempfile(fileext = ".xpt")
  on.exit(unlink(file))
  haven::write_xpt(data, file)
  haven::read_xpt(file)
}

test_that("ADTTE/ADSL through .xpt give the study's PFS, Table 4 rows and plot labels", {
  adtte <- xpt_round_trip(adam$adtte)
  adsl <- xpt_round_trip(adam$adsl)
  expect_s3_class(adtte$ADT, "Date")
  pfs <- adtte_surv(adtte, "PFS", adsl = adsl, unit = "months")
  expect_equal(c(pfs$time), ev26$pfs_months, tolerance = 1e-12, ignore_attr = TRUE)
  expect_identical(as.vector(pfs$event), as.integer(ev26$pfs_event))
  expect_identical(attr(pfs$time, "label"), "Progression-free survival (months)")
  ours <- survival_by(pfs, "time", "event", "SEX")
  ref <- survival_by(ev26, "pfs_months", "pfs_event", "sex")
  expect_equal(ours$median, ref$median)
  expect_equal(ours$p_value, ref$p_value)
  expect_identical(ours$label[1], "Sex")          # haven's variable label is the row name
  skip_if_not_installed("ggplot2")
  skip_if_not_installed("patchwork")
  p <- km_plot(pfs, "time", "event", group = "SEX", risk_table = FALSE)
  expect_identical(p$labels$colour, "Sex")
  expect_identical(p$labels$x, "Progression-free survival (months)")
  expect_identical(p$labels$y, "Survival probability")
})

test_that("time from STARTDT/ADT: days between the dates", {
  pfs <- adtte_surv(adam$adtte, "PFS", from_dates = TRUE)
  expect_equal(pfs$time, as.numeric(adam$adtte$ADT - adam$adtte$STARTDT), ignore_attr = TRUE)
  expect_equal(pfs$time, round(adam$adtte$AVAL), ignore_attr = TRUE)
})

test_that("ADRS best response and ADAE give response_rates() and ae_table() of the study", {
  adrs <- xpt_round_trip(adam$adrs)
  adae <- xpt_round_trip(adam$adae)
  adsl <- xpt_round_trip(adam$adsl)
  ours <- response_rates(adrs_best_response(adrs, adsl = adsl))
  ref <- response_rates(rrdtc_patients)
  expect_identical(ours$n, ref$n)
  expect_equal(ours$conf.low, ref$conf.low)
  ae <- adae_table(adae, adsl)
  ref_ae <- ae_table(rrdtc_adverse_events, rrdtc_patients)
  expect_identical(ae$term, ref_ae$term)
  expect_identical(ae$n_grade_3_4, ref_ae$n_grade_3_4)
  expect_identical(ae$n_any, ref_ae$n_any)
  # non-treatment-emergent records are left out; the safety population is the denominator
  adae$TRTEMFL[adae$AEDECOD == "Diarrhea"] <- "N"
  adsl$SAFFL[1:11] <- "N"
  ae2 <- adae_table(adae, adsl)
  expect_false("Diarrhea" %in% ae2$term)
  expect_identical(ae2$N[1], 20L)
})

colon_adtte <- function() {
  os <- survival::colon[survival::colon$etype == 2, ]
  data.frame(USUBJID = as.character(os$id), PARAMCD = "OS", PARAM = "Overall survival",
             AVAL = os$time, AVALU = "DAYS", CNSR = 1L - os$status,
             TRT01P = as.character(os$rx), AGE = os$age, stringsAsFactors = FALSE)
}

test_that("colon as ADTTE: event = 1 - CNSR matches survfit and coxph on status", {
  os <- survival::colon[survival::colon$etype == 2, ]
  adtte <- rbind(colon_adtte(), transform(colon_adtte(), PARAMCD = "PFS"))
  tte <- adtte_surv(adtte, "OS")
  fit <- km_fit(Surv(time, event) ~ TRT01P, tte)
  sf <- survival::survfit(survival::Surv(time, status) ~ as.character(rx), data = os)
  expect_equal(fit$curves$surv, sf$surv, tolerance = 1e-10)
  tab <- cox_table(tte, "time", "event", c("TRT01P", "AGE"), multivariable = c("TRT01P", "AGE"))
  cx <- survival::coxph(survival::Surv(time, status) ~ as.character(rx) + age, data = os)
  expect_equal(tab$hr_multi[!tab$reference], unname(exp(coef(cx))), tolerance = 1e-8)
  expect_identical(tab$level[tab$variable == "AGE"], "per unit")
  expect_error(adtte_surv(adtte), class = "rwe_bad_input", regexp = "paramcd")
  expect_error(adtte_surv(adtte, "EFS"), class = "rwe_bad_input", regexp = "OS")
  dup <- adtte[adtte$PARAMCD == "OS", ][c(1, 1, 2), ]
  expect_error(adtte_surv(dup, "OS"), class = "rwe_bad_input", regexp = "one record")
})

test_that("CNSR as an event indicator is refused in formulas and in column verbs", {
  tte <- colon_adtte()
  for (f in list(Surv(AVAL, CNSR) ~ TRT01P, Surv(AVAL, cnsr) ~ 1,
                 survival::Surv(AVAL, event = CNSR) ~ TRT01P)) {
    d <- tte
    names(d)[names(d) == "CNSR"] <- if (identical(f[[2]][[3]], quote(cnsr))) "cnsr" else "CNSR"
    expect_error(km_fit(f, d), class = "rwe_bad_input", regexp = "1 - ")
  }
  expect_error(cox_fit(Surv(AVAL, CNSR) ~ TRT01P, tte), class = "rwe_bad_input",
               regexp = "CNSR")
  expect_error(logrank_test(Surv(AVAL, CNSR) ~ TRT01P, tte), class = "rwe_bad_input")
  expect_error(survival_by(tte, "AVAL", "CNSR", "TRT01P"), class = "rwe_bad_input",
               regexp = "CNSR")
  # the explicit conversion is accepted and equals coxph on status
  ok <- cox_fit(Surv(AVAL, 1 - CNSR) ~ TRT01P, tte)
  os <- survival::colon[survival::colon$etype == 2, ]
  cx <- survival::coxph(survival::Surv(time, status) ~ as.character(rx), data = os)
  expect_equal(unname(coef(ok)), unname(coef(cx)), tolerance = 1e-8)
})

test_that("bad ADaM input is refused with the rows named", {
  bad <- adam$adtte
  bad$CNSR[3] <- -1L
  expect_error(adtte_surv(bad, "PFS"), class = "rwe_bad_input", regexp = "CNSR")
  adrs <- adam$adrs
  adrs$AVALC[2] <- "NON-CR/NON-PD"
  expect_error(adrs_best_response(adrs), class = "rwe_bad_input", regexp = "NON-CR")
  expect_error(adtte_surv(adam$adtte, "PFS", unit = "fortnights"), class = "rwe_bad_input")
  adae <- adam$adae
  adae$ATOXGR[5] <- "severe"
  expect_error(adae_table(adae, adam$adsl), class = "rwe_bad_input", regexp = "severe")
  expect_error(adtte_surv(adam$adtte, "PFS", adsl = adam$adsl[-1, ]), class = "rwe_bad_input",
               regexp = "RRDTC-R01")
})
