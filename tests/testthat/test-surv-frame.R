# The shared formula parser and validators that stand between user data and the C++ kernels.

parse_surv <- function(formula, data, weights, subset, na.action, cluster) {
  mc <- match.call()
  surv_parts(surv_model_frame(mc, parent.frame(), extra = "cluster"))
}

test_that("right-censored response, strata and offset are split out", {
  lung <- survival::lung
  p <- parse_surv(Surv(time, status) ~ age + strata(sex) + offset(log(age)), lung)
  expect_false(p$counting)
  expect_null(p$start)
  expect_equal(p$time, as.double(lung$time))
  expect_equal(p$status, lung$status - 1)
  expect_equal(p$strata, as.integer(factor(lung$sex)))
  expect_equal(as.character(p$strata_table$sex), c("1", "2"))
  expect_equal(p$offset, log(lung$age))
  expect_equal(attr(p$terms, "term.labels"), "age")
  expect_equal(p$weights, rep(1, nrow(lung)))
})

test_that("counting-process response, multi-variable strata and cluster", {
  cgd <- survival::cgd
  p <- parse_surv(Surv(tstart, tstop, status) ~ treat + strata(center, sex), cgd, cluster = id)
  expect_true(p$counting)
  expect_equal(p$start, as.double(cgd$tstart))
  expect_equal(p$cluster, cgd$id)
  expect_equal(names(p$strata_table), c("center", "sex"))
  # same partition of rows as survival's own strata()
  ref <- as.integer(survival::strata(cgd$center, cgd$sex))
  expect_equal(length(unique(paste(p$strata, ref))), length(unique(ref)))
  expect_equal(attr(p$terms, "term.labels"), "treat")
})

test_that("rows dropped by na.action are recorded", {
  lung <- survival::lung
  p <- parse_surv(Surv(time, status) ~ ph.ecog + wt.loss, lung)
  n_complete <- sum(stats::complete.cases(lung[c("ph.ecog", "wt.loss")]))
  expect_equal(p$n, n_complete)
  expect_equal(length(p$na.action), nrow(lung) - n_complete)
  expect_error(parse_surv(Surv(time, status) ~ ph.ecog, lung, na.action = na.fail),
               "missing values")
})

test_that("bad input gets an error naming the argument and rows", {
  lung <- survival::lung
  bad <- lung; bad$status[c(3, 7)] <- 5
  expect_error(parse_surv(Surv(time, status) ~ age, bad), class = "rwe_bad_input")
  expect_error(parse_surv(Surv(time, status) ~ age, bad), "rows: 3, 7")
  bad <- lung; bad$time[c(2, 9)] <- -1
  expect_error(parse_surv(Surv(time, status) ~ age, bad), "negative survival times.*2, 9")
  bad <- lung; bad$time[4] <- Inf
  expect_error(parse_surv(Surv(time, status) ~ age, bad), "infinite survival times.*4")
  expect_error(parse_surv(time ~ age, lung), "`formula` must have a `Surv\\(\\)` response")
  expect_error(parse_surv("Surv(time, status) ~ age", lung), "`formula` must be a formula")
  expect_error(parse_surv(Surv(time, status) ~ age, lung[0, ]), "`data` has zero rows")
  expect_error(parse_surv(Surv(time, status) ~ age, as.list(lung)), "`data` must be a data frame")
  expect_error(parse_surv(Surv(time, status) ~ age, lung, weights = rep(-1, nrow(lung))),
               "`weights` must not be negative")
  w <- rep(1, nrow(lung)); w[5] <- NaN
  expect_error(parse_surv(Surv(time, status) ~ age, lung, weights = w,
                          na.action = na.pass), "`weights` must be finite.*5")
  expect_error(parse_surv(Surv(time, status) ~ age, lung, subset = time < 0), "No rows left")
  heart <- survival::heart
  heart$start[10] <- heart$stop[10]
  expect_error(parse_surv(Surv(start, stop, event) ~ age, heart),
               class = "rwe_bad_input")
})

test_that("engine order sorts by stratum, time, events first", {
  strata <- c(2L, 1L, 1L, 1L, 2L)
  time <- c(1, 3, 3, 1, 1)
  status <- c(0, 0, 1, 1, 1)
  expect_equal(engine_order(strata, time, status), c(4L, 3L, 2L, 5L, 1L))
})

test_that("check_has_events refuses data without events", {
  expect_error(check_has_events(c(0, 0)), "no events")
  expect_error(check_has_events(c(1, 0), weights = c(0, 1)), "no events")
  expect_true(check_has_events(c(1, 0)))
})

test_that("the model-frame builder refuses survival-only terms before evaluating anything", {
  lung <- survival::lung
  expect_error(parse_surv(Surv(time, status) ~ age + ridge(sex, ph.ecog), lung), "ridge",
               class = "rwe_bad_input")
  expect_error(parse_surv(Surv(time, status) ~ survival::frailty.gaussian(inst), lung),
               "frailty.gaussian", class = "rwe_bad_input")
  expect_error(parse_surv(Surv(time, status) ~ age:strata(sex), lung), "strata",
               class = "rwe_bad_input")
  # a strata() term of its own, cluster() and offset() stay supported
  p <- parse_surv(Surv(time, status) ~ age + strata(sex) + cluster(inst) + offset(age), lung)
  expect_equal(attr(p$terms, "term.labels"), "age")
  expect_error(parse_surv(Surv(time, factor(status)) ~ age, lung), "multi-state",
               class = "rwe_bad_input")
})

test_that("check_control() names the argument, missing fields and bad settings", {
  fields <- c("eps", "iter.max")
  expect_silent(check_control(list(eps = 1e-9, iter.max = 20L), fields, "cox_control"))
  expect_error(check_control(NULL, fields, "cox_control"), "control", class = "rwe_bad_input")
  expect_error(check_control(data.frame(eps = 1), fields, "cox_control"), "control",
               class = "rwe_bad_input")
  expect_error(check_control(list(eps = 1), fields, "cox_control"), "iter.max",
               class = "rwe_bad_input")
  expect_error(check_control(list(eps = NA, iter.max = 1), fields, "cox_control"), "eps",
               class = "rwe_bad_input")
  expect_error(check_control(list(eps = 1:2, iter.max = 1), fields, "cox_control", arg = "ctl"),
               "ctl", class = "rwe_bad_input")
})

test_that("merge_near_ties() (C++) is survival's timefix rule, bit for bit", {
  # the rule written out in R: sorted distinct times whose gap is at most sqrt(eps),
  # absolutely or relative to mean(abs(distinct times)), join the run's first time
  timefix_reference <- function(time, start = NULL) {
    tol <- sqrt(.Machine$double.eps)
    y <- sort(unique(c(time, start)))
    dy <- diff(y)
    cuts <- y[c(TRUE, !(dy <= tol | dy / mean(abs(y)) <= tol))]
    rank <- findInterval(time, cuts)
    list(time = cuts[rank], time_rank = rank, values = cuts,
         start = if (!is.null(start)) cuts[findInterval(start, cuts)])
  }
  set.seed(20261205)
  merged_cases <- 0
  for (i in 1:400) {
    n <- sample(1:150, 1)
    t <- round(rexp(n) * 50) / sample(c(1, 30.44, 7), 1) * 10^runif(1, -10, 10)
    j <- sample(n, n %/% 3)
    # perturbations on both sides of the tolerance (sqrt(eps) = 6.7e7 eps)
    t[j] <- t[j] * (1 + sample(c(-1, 1, 0.5), length(j), TRUE) * .Machine$double.eps *
                      sample(c(1, 1e6, 6.7e7, 6.72e7, 1e8), 1))
    if (i %% 5 == 0) t[sample(n, 1)] <- 0
    start <- if (i %% 3 == 0) pmax(0, t * 0.5 - 1e-3 * max(t)) else NULL
    ours <- tryCatch(merge_near_ties(t, start), rwe_bad_input = function(e) NULL)
    ref <- timefix_reference(t, start)
    if (is.null(ours)) {  # refused: some interval is shorter than the tolerance
      expect_true(any(findInterval(start, ref$values) >= ref$time_rank))
      next
    }
    merged_cases <- merged_cases + (length(ref$values) < length(unique(c(t, start))))
    expect_identical(ours$time, ref$time)
    expect_identical(ours$time_rank, ref$time_rank)
    expect_identical(ours$values, ref$values)
    expect_identical(ours$start, ref$start)
  }
  expect_gt(merged_cases, 50)  # the cases do exercise the merge
  expect_identical(merge_near_ties(c(2, 1, 2))[c("time", "time_rank", "values")],
                   list(time = c(2, 1, 2), time_rank = c(2L, 1L, 2L), values = c(1, 2)))
  expect_identical(merge_near_ties(c(0.1 + 0.2, 0.3, 1))$time, c(0.3, 0.3, 1))
})
