# The lean formula path (R/surv-frame-lean.R) must give exactly what the full model-frame
# path gives, and must decline (full path) for anything outside its grammar.

without_lean <- function(expr) {
  old <- options(rwecohort.lean_frame = FALSE)
  on.exit(options(old))
  expr
}

lean_reset <- function() assign("plans", list(), envir = rwecohort:::lean_frame_cache)
lean_plans <- function() get("plans", envir = rwecohort:::lean_frame_cache)

# The terms of a fit carry a per-call environment (Surv/strata/cluster for re-evaluation):
# equal in content, never identical() across calls.
strip_terms_env <- function(x) {
  if (!is.null(x$terms)) attr(x$terms, ".Environment") <- NULL
  x
}

# fit_twice(): the second call of a verb (through a plan when one is kept) and the full path
# with the lean path off, for the same call.
lean_and_full <- function(expr) {
  expr <- substitute(expr)
  env <- parent.frame()
  lean_reset()
  eval(expr, env)                   # first call: full path, plan learnt and checked
  lean <- eval(expr, env)           # second call: lean path when the plan was kept
  full <- without_lean(eval(expr, env))
  list(lean = strip_terms_env(lean), full = strip_terms_env(full), plans = lean_plans())
}

lung01 <- local({
  d <- survival::lung[c("time", "status", "age", "sex", "ph.karno", "wt.loss", "ph.ecog")]
  d$status <- d$status - 1L
  d$sex_f <- factor(d$sex, labels = c("male", "female"))
  d$sex_c <- as.character(d$sex_f)
  d$old <- d$age > 65
  d
})
lung_complete <- stats::na.omit(lung01[c("time", "status", "age", "sex", "sex_f", "sex_c",
                                         "old")])
attr(lung_complete, "na.action") <- NULL

test_that("lean cox_fit is identical to the full path and to coxph on complete data", {
  r <- lean_and_full(cox_fit(survival::Surv(time, status) ~ age + sex, data = lung_complete))
  r <- lean_and_full(cox_fit(Surv(time, status) ~ age + sex, data = lung_complete))
  expect_true(r$plans[[1L]]$ok)
  expect_identical(r$lean, r$full)
  ref <- survival::coxph(survival::Surv(time, status) ~ age + sex, data = lung_complete)
  expect_equal(unname(coef(r$lean)), unname(coef(ref)), tolerance = 1e-8)
  expect_equal(unname(vcov(r$lean)), unname(vcov(ref)), tolerance = 1e-8)
  expect_equal(r$lean$concordance[["concordance"]], ref$concordance[["concordance"]],
               tolerance = 1e-10)
})

test_that("lean path agrees on veteran, colon and ovarian, with strata", {
  vet <- survival::veteran
  r <- lean_and_full(cox_fit(Surv(time, status) ~ karno + age + strata(celltype), data = vet))
  expect_true(r$plans[[1L]]$ok)
  expect_identical(r$lean, r$full)
  ref <- survival::coxph(survival::Surv(time, status) ~ karno + age + strata(celltype), vet)
  expect_equal(unname(coef(r$lean)), unname(coef(ref)), tolerance = 1e-8)

  colon <- survival::colon[survival::colon$etype == 2, ]
  r <- lean_and_full(km_fit(Surv(time, status) ~ rx + strata(sex), data = colon))
  expect_true(r$plans[[1L]]$ok)
  expect_identical(r$lean, r$full)
  r <- lean_and_full(logrank_test(Surv(time, status) ~ rx + strata(sex), data = colon))
  expect_true(r$plans[[1L]]$ok)
  expect_identical(r$lean, r$full)
  ref <- survival::survdiff(survival::Surv(time, status) ~ rx + strata(sex), data = colon)
  expect_equal(r$lean$chisq, ref$chisq, tolerance = 1e-8)

  ov <- survival::ovarian
  r <- lean_and_full(km_fit(Surv(futime, fustat) ~ rx + resid.ds, data = ov))
  expect_identical(r$lean, r$full)
  ref <- survival::survfit(survival::Surv(futime, fustat) ~ rx + resid.ds, data = ov)
  expect_equal(r$lean$curves$surv, ref$surv, tolerance = 1e-12)
  r <- lean_and_full(cox_fit(Surv(futime, fustat) ~ age + ecog.ps, data = ov,
                             ties = "breslow"))
  expect_true(r$plans[[1L]]$ok)
  expect_identical(r$lean, r$full)
})

test_that("groups of every column type: factor with unused levels, character, logical, ordered", {
  d <- lung_complete
  d$f_unused <- factor(d$sex_c, levels = c("female", "male", "other"))
  d$ord <- factor(d$sex_c, levels = c("male", "female"), ordered = TRUE)
  for (rhs in c("sex_f", "sex_c", "old", "f_unused", "ord", "sex", "sex_f + old",
                "old + strata(sex_f)", "1")) {
    f <- stats::as.formula(paste("Surv(time, status) ~", rhs))
    r <- lean_and_full(km_fit(f, data = d))
    expect_true(r$plans[[1L]]$ok, label = rhs)
    expect_identical(r$lean, r$full, label = rhs)
    if (rhs != "1") {
      r <- lean_and_full(logrank_test(f, data = d))
      expect_identical(r$lean, r$full, label = rhs)
    }
  }
  ref <- survival::survfit(survival::Surv(time, status) ~ f_unused, data = d)
  expect_equal(km_fit(Surv(time, status) ~ f_unused, data = d)$curves$surv, ref$surv,
               tolerance = 1e-12)
})

test_that("kept group tables follow the data: values, levels and combinations that change", {
  # the plan's memo keeps a group table per (sorted values, attributes, combinations used);
  # data that differ in any of them must get their own table, as the full path gives
  d <- lung_complete
  d$grp <- ifelse(d$age > 65, "old", ifelse(d$age > 55, "mid", "young"))
  d$num <- round(d$age / 10)
  variants <- list(d, d[d$grp != "mid", ], transform(d, grp = toupper(grp)),
                   transform(d, num = num + 0.5), d[d$sex == 1 | d$grp == "old", ], d)
  for (rhs in c("grp", "num", "grp + sex", "grp + strata(sex_c)")) {
    f <- stats::as.formula(paste("Surv(time, status) ~", rhs))
    lean_reset()
    for (v in variants) {
      for (verb in list(km_fit, logrank_test)) {
        lean <- strip_terms_env(verb(f, data = v))
        full <- strip_terms_env(without_lean(verb(f, data = v)))
        expect_identical(lean, full, label = rhs)
      }
    }
  }
})

test_that("NA rows, weights, subset, offset, cluster and other terms take the full path", {
  # missing values in used columns: the lean build declines on every call (na.omit applies)
  r <- lean_and_full(cox_fit(Surv(time, status) ~ age + ph.karno, data = lung01))
  expect_identical(r$lean, r$full)
  expect_length(r$lean$na.action, 1L)
  calls <- list(
    quote(cox_fit(Surv(time, status) ~ age, data = lung_complete, weights = age / 50)),
    quote(cox_fit(Surv(time, status) ~ age, data = lung_complete, subset = sex == 1)),
    quote(cox_fit(Surv(time, status) ~ age + offset(sex / 10), data = lung_complete)),
    quote(cox_fit(Surv(time, status) ~ age + cluster(sex), data = lung_complete)),
    quote(cox_fit(Surv(time, status) ~ age * sex, data = lung_complete)),
    quote(cox_fit(Surv(time, status) ~ I(age / 10) + sex, data = lung_complete)),
    quote(cox_fit(Surv(time, status) ~ poly(age, 2) + sex, data = lung_complete)),
    quote(cox_fit(Surv(time, status) ~ splines::ns(age, 3), data = lung_complete)),
    quote(cox_fit(Surv(time, status) ~ sex_f + age, data = lung_complete)),
    quote(km_fit(Surv(time, status) ~ sex, data = lung_complete, weights = age / 50)),
    quote(logrank_test(Surv(time, status) ~ sex, data = lung_complete, subset = age > 50))
  )
  for (cl in calls) {
    r <- eval(bquote(lean_and_full(.(cl))))
    expect_identical(r$lean, r$full, label = deparse1(cl))
    kept <- vapply(r$plans, function(p) p$ok, TRUE)
    expect_false(any(kept), label = deparse1(cl))
  }
  # a factor covariate in cox: the plan is learnt but declined (model.matrix path)
  r <- lean_and_full(cox_fit(Surv(time, status) ~ sex_f + age, data = lung_complete))
  expect_identical(r$lean, r$full)
})

test_that("status coded 1/2 and bad data after a plan is kept go to the full path", {
  # survival::lung codes status 1/2: Surv() converts it; the lean path declines
  lung <- survival::lung
  r <- lean_and_full(km_fit(Surv(time, status) ~ sex, data = lung))
  expect_identical(r$lean, r$full)
  lean_reset()
  d <- lung_complete
  cox_fit(Surv(time, status) ~ age, data = d)
  expect_true(lean_plans()[[1L]]$ok)
  bad <- d
  bad$time[3] <- -1
  expect_error(cox_fit(Surv(time, status) ~ age, data = bad), class = "rwe_bad_input")
  bad <- d
  bad$status[2] <- 3L
  expect_error(cox_fit(Surv(time, status) ~ age, data = bad), class = "rwe_bad_input")
  bad <- d
  bad$age[5] <- Inf
  expect_error(cox_fit(Surv(time, status) ~ age, data = bad), class = "rwe_bad_input")
  none <- d
  none$status <- 0L
  expect_error(km_fit(Surv(time, status) ~ sex, data = none), NA)
  expect_error(logrank_test(Surv(time, status) ~ sex, data = none), class = "rwe_bad_input")
})

test_that("a change of column class makes a new plan; the option turns the path off", {
  lean_reset()
  d <- lung_complete
  km_fit(Surv(time, status) ~ sex, data = d)
  d2 <- d
  d2$sex <- factor(d2$sex)
  fit <- km_fit(Surv(time, status) ~ sex, data = d2)
  expect_length(lean_plans(), 2L)
  full <- without_lean(km_fit(Surv(time, status) ~ sex, data = d2))
  expect_identical(fit, full)
  lean_reset()
  without_lean(km_fit(Surv(time, status) ~ sex, data = d2))
  expect_length(lean_plans(), 0L)
})

test_that("the formula's environment is the one the fit keeps", {
  lean_reset()
  make_formula <- function() {
    scale <- 10
    Surv(time, status) ~ age
  }
  f <- make_formula()
  cox_fit(f, data = lung_complete)
  fit <- cox_fit(f, data = lung_complete)
  expect_identical(parent.env(environment(fit$terms)), environment(f))
  expect_equal(predict(fit, newdata = lung_complete[1:3, ]),
               predict(cox_fit(f, data = lung_complete, x = TRUE), newdata = lung_complete[1:3, ]))
})

test_that("data with character row names or another data frame class get their own plan", {
  lean_reset()
  d <- lung_complete
  rownames(d) <- NULL  # automatic (integer) row names
  km_fit(Surv(time, status) ~ sex, data = d)
  expect_identical(km_fit(Surv(time, status) ~ sex, data = d),
                   without_lean(km_fit(Surv(time, status) ~ sex, data = d)))
  d_names <- d
  rownames(d_names) <- paste0("id", seq_len(nrow(d)))
  fit <- km_fit(Surv(time, status) ~ sex, data = d_names)
  expect_length(lean_plans(), 2L)
  expect_identical(fit, without_lean(km_fit(Surv(time, status) ~ sex, data = d_names)))
  d_class <- d
  class(d_class) <- c("my_frame", "data.frame")
  km_fit(Surv(time, status) ~ sex, data = d_class)
  expect_length(lean_plans(), 3L)
})

test_that("large data take the full path (no plan, no second model frame)", {
  lean_reset()
  n <- rwecohort:::lean_max_rows + 1
  d <- data.frame(time = rep(c(1, 2, 3), length.out = n), status = rep(c(0L, 1L), length.out = n))
  km_fit(Surv(time, status) ~ 1, data = d)
  expect_length(lean_plans(), 0L)
})

test_that("a plan is learnt from later data when the first data had missing values", {
  lean_reset()
  cox_fit(Surv(time, status) ~ age + ph.karno, data = lung01)  # NA rows: nothing kept
  expect_length(lean_plans(), 0L)
  complete <- stats::na.omit(lung01[c("time", "status", "age", "ph.karno")])
  cox_fit(Surv(time, status) ~ age + ph.karno, data = complete)
  expect_true(lean_plans()[[1L]]$ok)
  # a factor covariate: kept as a plan that sends the formula to the full path
  lean_reset()
  cox_fit(Surv(time, status) ~ sex_f + age, data = lung_complete)
  expect_false(lean_plans()[[1L]]$ok)
})
