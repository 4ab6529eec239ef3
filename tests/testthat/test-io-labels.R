# Variable and value labels: SPSS .sav (haven_labelled) and SAS (label attribute) columns in
# the table and plot verbs, checked against the same data without labels.

pts <- subset(rrdtc_derive(rrdtc_patients, rrdtc_adverse_events), evaluable)

labelled_cohort <- function() {
  skip_if_not_installed("haven")
  d <- data.frame(pfs = pts$pfs_months, age = as.double(pts$age_years))
  # SPSS habits: status 1 = censored, 2 = progressed; sex coded 1/2 with value labels
  d$status <- haven::labelled(pts$pfs_event + 1, c(Censored = 1, Progressed = 2),
                              label = "PFS status")
  d$sex <- haven::labelled(ifelse(pts$sex == "male", 1, 2), c(Male = 1, Female = 2),
                           label = "Sex")
  # a numeric score with one labelled special value stays numeric
  d$tg <- haven::labelled(round(pts$tg_baseline_ng_ml), c(`Not done` = -9),
                          label = "Thyroglobulin (ng/mL)")
  attr(d$age, "label") <- "Age (years)"
  attr(d$pfs, "label") <- "PFS (months)"
  file <- tempfile(fileext = ".sav")
  on.exit(unlink(file))
  haven::write_sav(d, file)
  haven::read_sav(file)
}

test_that("column_labels() and prepare_labelled() read haven's labels", {
  sav <- labelled_cohort()
  expect_s3_class(sav$sex, "haven_labelled")
  expect_identical(column_labels(sav, c("age", "sex", "pfs")),
                   c(age = "Age (years)", sex = "Sex", pfs = "PFS (months)"))
  prep <- prepare_labelled(sav)
  expect_identical(levels(prep$sex), c("Male", "Female"))
  expect_identical(as.character(prep$sex), ifelse(pts$sex == "male", "Male", "Female"))
  expect_true(is.double(prep$tg) && !inherits(prep$tg, "haven_labelled"))
  expect_identical(attr(prep$sex, "label"), "Sex")
  expect_true(is.na(column_labels(data.frame(x = 1))[["x"]]))
})

test_that("baseline_table() uses variable labels and value labels from a .sav file", {
  sav <- labelled_cohort()
  tab <- baseline_table(sav, c("age", "sex", "tg"))
  ref <- baseline_table(data.frame(age = as.double(pts$age_years),
                                   sex = factor(ifelse(pts$sex == "male", "Male", "Female"),
                                                c("Male", "Female"))), c("age", "sex"))
  expect_identical(tab$label[1:3], c("Age (years)", "Sex", "Sex"))
  expect_identical(tab$level[2:3], c("Male", "Female"))
  expect_identical(tab$summary[1:3], ref$summary)
  expect_identical(tab$type[4], "continuous")
  out <- capture.output(print(tab))
  expect_true(any(grepl("Age (years)", out, fixed = TRUE)))
  # an explicit label still wins
  expect_identical(baseline_table(sav, "age", labels = c(age = "Age"))$label, "Age")
})

test_that("survival_by, cox_table and km_plot take SPSS 1/2 status and labelled factors", {
  sav <- labelled_cohort()
  ref_data <- data.frame(pfs = pts$pfs_months, event = pts$pfs_event,
                         sex = factor(ifelse(pts$sex == "male", "Male", "Female"),
                                      c("Male", "Female")))
  tab <- survival_by(sav, "pfs", "status", "sex")
  ref <- survival_by(ref_data, "pfs", "event", "sex")
  expect_identical(tab$label[1], "Sex")
  expect_identical(tab$level, c("Male", "Female"))
  expect_equal(tab$median, ref$median)
  expect_equal(tab$p_value, ref$p_value)
  fit <- survival::survfit(survival::Surv(pfs, event) ~ sex, data = ref_data)
  expect_equal(tab$events, unname(summary(fit)$table[, "events"]))
  ct <- cox_table(sav, "pfs", "status", c("sex", "age"))
  cx <- survival::coxph(survival::Surv(pfs, event) ~ sex, data = ref_data)
  expect_equal(ct$hr_uni[ct$level == "Female"], unname(exp(coef(cx))), tolerance = 1e-8)
  skip_if_not_installed("ggplot2")
  skip_if_not_installed("patchwork")
  p <- km_plot(sav, "pfs", "status", group = "sex", risk_table = FALSE)
  expect_identical(p$labels$colour, "Sex")
  expect_identical(p$labels$x, "PFS (months)")
  q <- km_plot(sav, "pfs", "status", group = "sex", risk_table = FALSE, xlab = "Months",
               ylab = "PFS", legend_title = "Gender")
  expect_identical(unlist(q$labels[c("x", "y", "colour")], use.names = FALSE),
                   c("Months", "PFS", "Gender"))
  steps <- ggplot2::layer_data(p, 1)
  ref_plot <- km_plot(ref_data, "pfs", "event", group = "sex", risk_table = FALSE)
  expect_equal(steps$y, ggplot2::layer_data(ref_plot, 1)$y)
})

test_that("status codes: 1/2 accepted as Surv() reads them, 0/1/2 mixed refused", {
  d <- data.frame(t = pts$pfs_months, e = pts$pfs_event + 1, g = pts$sex)
  ref <- survival_by(transform(d, e = e - 1), "t", "e", "g")
  expect_equal(survival_by(d, "t", "e", "g")$median, ref$median)
  d$e[1] <- 0
  expect_error(survival_by(d, "t", "e", "g"), class = "rwe_bad_input", regexp = "1/2")
  d$e <- pts$pfs_event == 1
  expect_equal(survival_by(d, "t", "e", "g")$median, ref$median)
})

test_that("response_rates, response_by and ae_table read SPSS value-labelled columns", {
  skip_if_not_installed("haven")
  codes <- c(CR = 1, PR = 2, SD = 3, PD = 4)
  d <- data.frame(id = rrdtc_patients$patient_id)
  d$bor <- haven::labelled(unname(codes[rrdtc_patients$best_response]), codes,
                           label = "Best overall response")
  d$male <- haven::labelled(as.double(rrdtc_patients$sex == "male"), c(No = 0, Yes = 1),
                            label = "Male sex")
  file <- tempfile(fileext = ".sav")
  on.exit(unlink(file))
  haven::write_sav(d, file)
  sav <- haven::read_sav(file)
  ref <- response_rates(rrdtc_patients)
  expect_identical(response_rates(sav, "bor")$n, ref$n)
  by <- response_by(sav, "male", response = "bor")
  ref_by <- response_by(transform(rrdtc_patients, male = factor(ifelse(sex == "male", "Yes", "No"),
                                                                 c("No", "Yes"))), "male")
  expect_identical(by$label[1], "Male sex")
  expect_equal(tidy(by)[setdiff(names(tidy(by)), "label")],
               tidy(ref_by)[setdiff(names(tidy(ref_by)), "label")])
  ae <- rrdtc_adverse_events
  terms <- unique(ae$ae_term)
  ae$ae_term <- haven::labelled(as.double(match(ae$ae_term, terms)),
                                stats::setNames(seq_along(terms), terms))
  expect_identical(ae_table(ae, rrdtc_patients)$term,
                   ae_table(rrdtc_adverse_events, rrdtc_patients)$term)
})

test_that("formula verbs: value-labelled covariates are factors, labelled status stays numeric", {
  sav <- labelled_cohort()
  ref_data <- data.frame(pfs = pts$pfs_months, event = pts$pfs_event,
                         sex = factor(ifelse(pts$sex == "male", "Male", "Female"),
                                      c("Male", "Female")), tg = round(pts$tg_baseline_ng_ml))
  ours <- cox_fit(Surv(pfs, status) ~ sex + tg, sav)
  cx <- survival::coxph(survival::Surv(pfs, event) ~ sex + tg, data = ref_data)
  expect_equal(unname(coef(ours)), unname(coef(cx)), tolerance = 1e-8)
  expect_identical(names(coef(ours)), names(coef(cx)))
  km <- km_fit(Surv(pfs, status) ~ sex, sav)
  sf <- survival::survfit(survival::Surv(pfs, event) ~ sex, data = ref_data)
  expect_equal(km$curves$surv, sf$surv, tolerance = 1e-12)
  expect_identical(as.character(km$strata[[1]]), c("Male", "Female"))
  lr <- logrank_test(Surv(pfs, status) ~ sex, sav)
  expect_equal(lr$chisq, survival::survdiff(survival::Surv(pfs, event) ~ sex,
                                                data = ref_data)$chisq, ignore_attr = TRUE)
})
