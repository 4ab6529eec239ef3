# cox_table(): univariable and multivariable rows against survival::coxph; Firth rows against
# cox_firth_matrix() called directly.

lung2 <- within(survival::lung, {
  event <- status - 1
  sex_f <- factor(sex, levels = 1:2, labels = c("male", "female"))
  ecog <- factor(ph.ecog)
})

# HR, CI and Wald p of a coxph fit, named by coefficient.
coxph_numbers <- function(fit) {
  s <- summary(fit)
  list(hr = s$coefficients[, "exp(coef)"], low = s$conf.int[, "lower .95"],
       high = s$conf.int[, "upper .95"], p = s$coefficients[, "Pr(>|z|)"])
}

expect_rows_equal <- function(rows, ref, suffix) {
  for (what in c("hr", "low", "high", "p")) {
    col <- c(hr = "hr_", low = "conf.low_", high = "conf.high_", p = "p_")[[what]]
    expect_equal(rows[[paste0(col, suffix)]], unname(ref[[what]]), tolerance = 1e-8,
                 label = paste(what, suffix))
  }
}

test_that("univariable and multivariable rows match coxph on lung", {
  tab <- cox_table(lung2, "time", "event", c("sex_f", "ecog"),
                   multivariable = c("sex_f", "ecog"), labels = c(ecog = "ECOG"))
  expect_s3_class(tab, c("rwe_cox_table", "rwe_table", "data.frame"))
  expect_identical(names(tab), c("variable", "label", "level", "reference", "n", "events",
                                 "hr_uni", "conf.low_uni", "conf.high_uni", "p_uni",
                                 "hr_multi", "conf.low_multi", "conf.high_multi", "p_multi",
                                 "method", "method_multi", "flag"))
  ref_row <- tab[tab$reference, ]
  expect_identical(ref_row$level, c("male", "0"))
  expect_equal(ref_row$hr_uni, c(1, 1))
  expect_true(all(is.na(ref_row$conf.low_uni) & is.na(ref_row$p_uni)))
  sex <- coxph_numbers(survival::coxph(survival::Surv(time, event) ~ sex_f, data = lung2))
  expect_rows_equal(tab[tab$variable == "sex_f" & !tab$reference, ], sex, "uni")
  d <- lung2[!is.na(lung2$ecog), ]
  ecog <- coxph_numbers(survival::coxph(survival::Surv(time, event) ~ ecog, data = d))
  expect_rows_equal(tab[tab$variable == "ecog" & !tab$reference, ], ecog, "uni")
  multi <- coxph_numbers(survival::coxph(survival::Surv(time, event) ~ sex_f + ecog, data = d))
  expect_rows_equal(tab[!tab$reference, ], multi, "multi")
  expect_equal(tab$n[tab$variable == "ecog"], as.vector(table(d$ecog)))
  expect_equal(tab$events[tab$variable == "sex_f"],
               as.vector(tapply(lung2$event, lung2$sex_f, sum)))
  expect_identical(unique(tab$method), "Cox")
  expect_identical(attr(tab, "multivariable"), c("sex_f", "ecog"))
  expect_equal(attr(tab, "n_multi"), nrow(d))
})

pts <- subset(rrdtc_patients, evaluable)
hfs_ids <- rrdtc_adverse_events$patient_id[rrdtc_adverse_events$ae_term ==
                                             "Hand-foot skin syndrome"]
pts <- within(pts, {
  age_ge55 <- age_years >= 55
  hfs <- patient_id %in% hfs_ids
  disease_control <- best_response %in% c("CR", "PR", "SD")
})
y <- survival::Surv(pts$pfs_months, pts$pfs_event)

test_that("bundled cohort: rows match coxph; default selection is univariable p < 0.1", {
  factors <- c("sex", "age_ge55", "met_bone", "hfs")
  tab <- cox_table(pts, "pfs_months", "pfs_event", factors)
  p_uni <- vapply(factors, function(f) {
    fit <- survival::coxph(stats::reformulate(f, "y"), data = pts)
    summary(fit)$waldtest[["pvalue"]]
  }, numeric(1))
  expect_identical(attr(tab, "multivariable"), factors[p_uni < 0.1])
  for (f in factors) {
    ref <- coxph_numbers(survival::coxph(stats::reformulate(f, "y"), data = pts))
    expect_rows_equal(tab[tab$variable == f & !tab$reference, ], ref, "uni")
  }
  sel <- factors[p_uni < 0.1]
  multi <- coxph_numbers(survival::coxph(stats::reformulate(sel, "y"), data = pts))
  expect_rows_equal(tab[tab$variable %in% sel & !tab$reference, ], multi, "multi")
  expect_true(all(is.na(tab$hr_multi[!tab$variable %in% sel])))
  # logical factors: reference "No"; character: first sorted level
  expect_identical(tab$level[tab$reference], c("female", "No", "No", "No"))
  # HFS "No" is a single patient, but three others progress by 5 months: the likelihood is
  # not monotone, so the ordinary Cox fit is kept
  expect_identical(tab$method[tab$variable == "hfs"], c("Cox", "Cox"))
  expect_output(print(tab), "1 \\(ref\\)")
  expect_s3_class(knitr::knit_print(tab), "knit_asis")
})

test_that("a monotone likelihood switches to Firth (auto) with cox_firth_matrix's numbers", {
  tab <- cox_table(pts, "pfs_months", "pfs_event", c("sex", "disease_control"),
                   multivariable = c("sex", "disease_control"))
  dc <- tab[tab$variable == "disease_control" & !tab$reference, ]
  expect_identical(dc$method, "Firth")
  expect_match(dc$flag, "monotone likelihood: Firth")
  expect_match(dc$flag, "no events")
  x <- matrix(as.double(pts$disease_control), dimnames = list(NULL, "dc"))
  ff <- cox_firth_matrix(x, y, ties = "efron")$profile
  expect_equal(dc$hr_uni, exp(ff$estimate), tolerance = 1e-8)
  expect_equal(dc$conf.low_uni, exp(ff$conf.low), tolerance = 1e-8)
  expect_equal(dc$conf.high_uni, exp(ff$conf.high), tolerance = 1e-8)
  expect_equal(dc$p_uni, ff$p.value, tolerance = 1e-8)
  # sex alone is not monotone: ordinary Cox
  expect_identical(tab$method[tab$variable == "sex"], c("Cox", "Cox"))
  # the multivariable model contains the monotone factor: Firth for all its rows
  expect_identical(unique(tab$method_multi), "Firth")
  xm <- cbind(male = as.double(pts$sex == "male"), dc = as.double(pts$disease_control))
  fm <- cox_firth_matrix(xm, y, ties = "efron")$profile
  rows <- tab[!tab$reference, ]
  expect_equal(rows$hr_multi, exp(fm$estimate), tolerance = 1e-8)
  expect_equal(rows$conf.low_multi, exp(fm$conf.low), tolerance = 1e-8)
  expect_equal(rows$p_multi, fm$p.value, tolerance = 1e-8)
})

test_that("firth = 'never' keeps Cox (flag, no warning); 'always' uses Firth everywhere", {
  # the engine's "coefficient may be infinite" warning is replaced by the row's flag
  expect_no_warning(
    never <- cox_table(pts, "pfs_months", "pfs_event", "disease_control", firth = "never"))
  dc <- never[!never$reference, ]
  expect_identical(dc$method, "Cox")
  expect_match(dc$flag, "HR not finite")
  expect_lt(dc$hr_uni, 1e-6)
  always <- cox_table(pts, "pfs_months", "pfs_event", c("sex", "met_bone"),
                      multivariable = character(), firth = "always", ties = "breslow")
  expect_identical(unique(always$method), "Firth")
  expect_true(all(is.na(always$hr_multi)))
  x <- matrix(as.double(pts$sex == "male"), dimnames = list(NULL, "male"))
  ff <- cox_firth_matrix(x, y, ties = "breslow")$profile
  row <- always[always$variable == "sex" & !always$reference, ]
  expect_equal(c(row$hr_uni, row$conf.low_uni, row$conf.high_uni, row$p_uni),
               c(exp(ff$estimate), exp(ff$conf.low), exp(ff$conf.high), ff$p.value),
               tolerance = 1e-8)
  expect_true(any(grepl("No factor entered", attr(always, "footnotes"))))
})

test_that("a multivariable model that does not converge is Firth-fitted and flagged, silently", {
  # pleural metastasis: one patient, no event. Alone the fit flags a diverging coefficient;
  # with HFS (whose "No" level is one patient with an event) the ordinary Newton iterations
  # run out (coefficient -17 after 20 steps) without the divergence flag.
  x <- cbind(pl = as.double(pts$met_pleura), hfs = as.double(pts$hfs))
  expect_warning(ord <- cox_fit_matrix(x, y), class = "rwe_cox_not_converged")
  expect_false(ord$converged)
  f <- c("met_pleura", "hfs")
  expect_no_warning(tab <- cox_table(pts, "pfs_months", "pfs_event", f, multivariable = f))
  rows <- tab[!tab$reference, ]
  expect_identical(rows$method_multi, c("Firth", "Firth"))
  expect_identical(rows$flag, c(
    "no events; monotone likelihood: Firth; multivariable: monotone likelihood: Firth",
    "multivariable: monotone likelihood: Firth"))
  fm <- cox_firth_matrix(x, y, ties = "efron")$profile
  expect_equal(rows$hr_multi, exp(fm$estimate), tolerance = 1e-8)
  expect_equal(rows$p_multi, fm$p.value, tolerance = 1e-8)
  # HFS univariable: an ordinary fit, unflagged, HR 0.054
  expect_identical(rows$method[2], "Cox")
  expect_equal(rows$hr_uni[2], 0.0536, tolerance = 1e-3)
  # firth = "never": the ordinary numbers are kept, flagged, and still no warning
  expect_no_warning(never <- cox_table(pts, "pfs_months", "pfs_event", f, multivariable = f,
                                       firth = "never"))
  nr <- never[!never$reference, ]
  expect_identical(nr$method_multi, c("Cox", "Cox"))
  expect_match(nr$flag, "multivariable: monotone likelihood$")
  expect_lt(nr$hr_multi[1], 1e-6)
  expect_output(print(never), "multivariable: monotone likelihood")
})

test_that("warnings other than the monotone-likelihood ones still reach the user", {
  # testthat 3.1.6 has no local_mocked_bindings(): trace() makes the engine warn on entry
  ns <- asNamespace("rwecohort")
  suppressMessages(trace("cox_fit_matrix", quote(warning("an unrelated engine warning")),
                         where = ns, print = FALSE))
  seen <- character()
  tab <- tryCatch(
    withCallingHandlers(
      cox_table(pts, "pfs_months", "pfs_event", c("sex", "disease_control"),
                multivariable = c("sex", "disease_control")),
      warning = function(w) {
        seen <<- c(seen, conditionMessage(w))
        invokeRestart("muffleWarning")
      }),
    finally = suppressMessages(untrace("cox_fit_matrix", where = ns)))
  # one per model (sex, disease control, multivariable); the monotone-likelihood warnings of
  # the last two are still dropped, and the table is the usual one
  expect_identical(seen, rep("an unrelated engine warning", 3))
  expect_identical(unique(tab$method_multi), "Firth")
  expect_match(tab$flag[tab$variable == "disease_control" & !tab$reference],
               "monotone likelihood: Firth")
})

test_that("bad input gives rwe_bad_input errors naming the argument", {
  d <- pts
  expect_error(cox_table(d, "pfs_months", "nope", "sex"), class = "rwe_bad_input",
               regexp = "nope")
  expect_error(cox_table(d, "pfs_months", "pfs_event", c("sex", "zz")),
               class = "rwe_bad_input", regexp = "zz")
  d$ev2 <- d$pfs_event * 2
  expect_error(cox_table(d, "pfs_months", "ev2", "sex"), class = "rwe_bad_input",
               regexp = "event")
  d$neg <- -d$pfs_months
  expect_error(cox_table(d, "neg", "pfs_event", "sex"), class = "rwe_bad_input",
               regexp = "time")
  d$one <- TRUE
  expect_error(cox_table(d, "pfs_months", "pfs_event", c("sex", "one")),
               class = "rwe_bad_input", regexp = "one.*at least two")
  expect_error(cox_table(d, "pfs_months", "pfs_event", "sex", multivariable = "hfs"),
               class = "rwe_bad_input", regexp = "multivariable")
  expect_error(cox_table(d, "pfs_months", "pfs_event", "sex", ties = "exact"),
               class = "rwe_bad_input", regexp = "ties")
  expect_error(cox_table(d, "pfs_months", "pfs_event", "sex", firth = "yes"),
               class = "rwe_bad_input", regexp = "firth")
  expect_error(cox_table(d, "pfs_months", "pfs_event", "sex", threshold = 2),
               class = "rwe_bad_input", regexp = "threshold")
  d$none <- 0L
  expect_error(cox_table(d, "pfs_months", "none", "sex"), class = "rwe_bad_input",
               regexp = "no event")
})

test_that("continuous covariates: one 'per unit' row, HR/CI/p as coxph (uni and multi)", {
  tab <- cox_table(lung2, "time", "status", c("sex_f", "age", "wt.loss"),
                   multivariable = c("sex_f", "age"))
  age <- tab[tab$variable == "age", ]
  expect_identical(nrow(age), 1L)
  expect_identical(age$level, "per unit")
  expect_false(age$reference)
  uni <- coxph_numbers(survival::coxph(survival::Surv(time, status) ~ age, data = lung2))
  expect_equal(age$hr_uni, unname(uni$hr), tolerance = 1e-8)
  expect_equal(c(age$conf.low_uni, age$conf.high_uni), unname(c(uni$low, uni$high)),
               tolerance = 1e-8)
  expect_equal(age$p_uni, unname(uni$p), tolerance = 1e-8)
  multi <- coxph_numbers(survival::coxph(survival::Surv(time, status) ~ sex_f + age,
                                         data = lung2))
  expect_equal(age$hr_multi, unname(multi$hr["age"]), tolerance = 1e-8)
  expect_equal(tab$hr_multi[tab$level == "female"], unname(multi$hr["sex_ffemale"]),
               tolerance = 1e-8)
  # wt.loss has missing values: its n counts the known ones, and it is not in the model
  wl <- tab[tab$variable == "wt.loss", ]
  expect_equal(wl$n, sum(!is.na(lung2$wt.loss)))
  expect_true(is.na(wl$hr_multi))
  expect_identical(display_table(tab)$level[display_table(tab)$variable == "age"], "per unit")
})
