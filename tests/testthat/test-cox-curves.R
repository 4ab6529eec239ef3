# Predicted survival curves (survfit.rwe_cox), predict(type = "survival") and marginal
# curves, against survival::survfit.coxph.

suppressPackageStartupMessages(library(survival))
tol <- 1e-8

# survfit's curves in long form, in survfit's order (stratum, then newdata row, then time).
survfit_long <- function(sf) {
  as_mat <- function(v) if (is.matrix(v)) v else matrix(v)
  sizes <- if (is.null(sf$strata)) length(sf$time) else sf$strata
  block <- rep(seq_along(sizes), sizes)
  k <- ncol(as_mat(sf$surv))
  out <- lapply(seq_along(sizes), function(s) lapply(seq_len(k), function(j) {
    r <- which(block == s)
    data.frame(time = sf$time[r], n.risk = sf$n.risk[r], n.event = sf$n.event[r],
               n.censor = sf$n.censor[r], surv = as_mat(sf$surv)[r, j],
               cumhaz = as_mat(sf$cumhaz)[r, j], std.err = as_mat(sf$std.err)[r, j],
               lower = if (is.null(sf$lower)) NA_real_ else as_mat(sf$lower)[r, j],
               upper = if (is.null(sf$upper)) NA_real_ else as_mat(sf$upper)[r, j])
  }))
  do.call(rbind, unlist(out, recursive = FALSE))
}

expect_same_curves <- function(ours, sf, label = "") {
  theirs <- survfit_long(sf)
  cols <- c("time", "n.risk", "n.event", "n.censor", "surv", "cumhaz", "std.err", "lower",
            "upper")
  expect_equal(nrow(ours$curves), nrow(theirs), label = paste(label, "rows"))
  for (v in cols) {
    expect_equal(ours$curves[[v]], theirs[[v]], tolerance = tol,
                 label = paste(label, v))
  }
}

lung_nd <- data.frame(age = c(50, 60, 70), sex = c(1, 2, 1), ph.ecog = c(0, 1, 2))

test_that("lung, 3-row newdata: Efron and Breslow, log / log-log / plain limits", {
  for (ties in c("efron", "breslow")) {
    ours_fit <- cox_fit(Surv(time, status) ~ age + sex + ph.ecog, data = lung, ties = ties)
    ref_fit <- coxph(Surv(time, status) ~ age + sex + ph.ecog, data = lung, ties = ties)
    for (ct in c("log", "log-log", "plain")) {
      ours <- survfit(ours_fit, newdata = lung_nd, conf.type = ct)
      expect_s3_class(ours, "rwe_cox_curves")
      expect_same_curves(ours, survfit(ref_fit, newdata = lung_nd, conf.type = ct),
                         paste(ties, ct))
    }
  }
})

test_that("the default curve is at fit$means, as survfit.coxph", {
  ours_fit <- cox_fit(Surv(time, status) ~ age + sex + ph.ecog, data = lung)
  ref_fit <- coxph(Surv(time, status) ~ age + sex + ph.ecog, data = lung)
  ours <- survfit(ours_fit, conf.level = 0.9)
  expect_same_curves(ours, survfit(ref_fit, conf.int = 0.9), "means")
  expect_equal(nrow(ours$targets), 1L)
  expect_equal(ours$targets$age, unname(ref_fit$means["age"]), tolerance = tol)
})

test_that("veteran with strata(celltype): curves per stratum x row, or the row's stratum", {
  f <- Surv(time, status) ~ karno + trt + strata(celltype)
  ours_fit <- cox_fit(f, data = veteran)
  ref_fit <- coxph(f, data = veteran)
  nd <- data.frame(karno = c(40, 80), trt = c(1, 2))
  ours <- survfit(ours_fit, newdata = nd)
  expect_same_curves(ours, survfit(ref_fit, newdata = nd), "strata x rows")
  expect_equal(nrow(ours$targets), 8L)
  expect_equal(as.character(ours$targets$celltype),
               rep(levels(veteran$celltype), each = 2L))
  nd3 <- data.frame(karno = c(40, 80, 60), trt = c(1, 2, 1),
                    celltype = c("adeno", "squamous", "adeno"))
  expect_same_curves(survfit(ours_fit, newdata = nd3), survfit(ref_fit, newdata = nd3),
                     "newdata strata")
  expect_same_curves(survfit(ours_fit), survfit(ref_fit), "strata at means")
  # A stratum with a single row (and time): ph.ecog = 3 in lung.
  g <- Surv(time, status) ~ age + sex + strata(ph.ecog)
  expect_same_curves(survfit(cox_fit(g, data = lung), newdata = data.frame(age = 65, sex = 1)),
                     survfit(coxph(g, data = lung), newdata = data.frame(age = 65, sex = 1)),
                     "one-row stratum")
})

test_that("colon with case weights (integer; non-integer with the robust variance)", {
  co <- subset(colon, etype == 2)
  co$w <- rep(1:3, length.out = nrow(co))
  nd <- data.frame(rx = c("Obs", "Lev", "Lev+5FU"), age = c(50, 60, 70), nodes = c(1, 4, 10))
  f <- Surv(time, status) ~ rx + age + nodes
  for (ties in c("efron", "breslow")) {
    expect_same_curves(survfit(cox_fit(f, data = co, weights = w, ties = ties), newdata = nd),
                       survfit(coxph(f, data = co, weights = w, ties = ties), newdata = nd),
                       paste("integer weights", ties))
  }
  co$w <- seq(0.5, 2, length.out = nrow(co))
  # coxph uses the robust variance for non-integer weights; cox_fit does when asked.
  expect_same_curves(survfit(cox_fit(f, data = co, weights = w, robust = TRUE), newdata = nd),
                     survfit(coxph(f, data = co, weights = w), newdata = nd),
                     "non-integer weights")
})

test_that("jasa1 counting-process data, Efron and Breslow", {
  f <- Surv(start, stop, event) ~ transplant + age
  nd <- data.frame(transplant = c(0, 1), age = c(-10, 5))
  for (ties in c("efron", "breslow")) {
    expect_same_curves(
      survfit(cox_fit(f, data = jasa1, ties = ties), newdata = nd, conf.type = "log-log"),
      survfit(coxph(f, data = jasa1, ties = ties), newdata = nd, conf.type = "log-log"),
      paste("jasa1", ties))
  }
})

test_that("cgd (counting process with strata), robust cluster variance, interactions", {
  f <- Surv(tstart, tstop, status) ~ treat + age + strata(hos.cat)
  nd <- data.frame(treat = c("placebo", "rIFN-g"), age = c(10, 30))
  expect_same_curves(survfit(cox_fit(f, data = cgd), newdata = nd),
                     survfit(coxph(f, data = cgd), newdata = nd), "cgd")
  d <- na.omit(lung[c("time", "status", "age", "sex", "inst")])
  nd2 <- data.frame(age = 60, sex = 1:2)
  expect_same_curves(
    survfit(cox_fit(Surv(time, status) ~ age + sex, data = d, cluster = inst), newdata = nd2),
    survfit(coxph(Surv(time, status) ~ age + sex, data = d, cluster = inst), newdata = nd2),
    "cluster")
  expect_same_curves(survfit(cox_fit(Surv(time, status) ~ age * sex, data = lung), newdata = nd2),
                     survfit(coxph(Surv(time, status) ~ age * sex, data = lung), newdata = nd2),
                     "interaction")
})

test_that("offsets: curves relative to the mean offset, newdata giving the offset", {
  d <- na.omit(lung[, c("time", "status", "age", "sex", "wt.loss")])
  f <- Surv(time, status) ~ age + sex + offset(wt.loss / 100)
  nd <- data.frame(age = c(55, 70), sex = c(2, 1), wt.loss = c(0, 20))
  expect_same_curves(survfit(cox_fit(f, data = d), newdata = nd),
                     survfit(coxph(f, data = d), newdata = nd), "offset")
})

test_that("models without covariates: the stratified baseline curves", {
  f <- Surv(time, status) ~ strata(sex)
  expect_same_curves(survfit(cox_fit(f, data = lung)), survfit(coxph(f, data = lung)),
                     "strata only")
  f1 <- Surv(time, status) ~ 1
  expect_same_curves(survfit(cox_fit(f1, data = lung, ties = "breslow")),
                     survfit(coxph(f1, data = lung, ties = "breslow")), "null model")
})

test_that("fits from cox_fit_matrix() take a matrix newdata", {
  d <- na.omit(lung[c("time", "status", "age", "sex")])
  mfit <- cox_fit_matrix(as.matrix(d[c("age", "sex")]), Surv(d$time, d$status))
  nd <- cbind(age = c(50, 70), sex = c(2, 1))
  expect_same_curves(survfit(mfit, newdata = nd),
                     survfit(coxph(Surv(time, status) ~ age + sex, data = d),
                             newdata = as.data.frame(nd)), "matrix fit")
  expect_error(survfit(mfit, newdata = cbind(age = 50)), "sex", class = "rwe_bad_input")
  expect_error(cox_marginal_curve(mfit, d, bootstrap = 0), "cox_fit", class = "rwe_bad_input")
})

test_that("se.fit = FALSE and conf.type = 'none' give no limits", {
  fit <- cox_fit(Surv(time, status) ~ age + sex, data = lung)
  a <- survfit(fit, newdata = lung_nd[1:2, ], se.fit = FALSE)
  expect_true(all(is.na(a$curves$std.err)) && all(is.na(a$curves$lower)))
  b <- survfit(fit, newdata = lung_nd[1:2, ], conf.type = "none")
  expect_true(all(is.na(b$curves$lower)))
  expect_equal(a$curves$surv, b$curves$surv)
})

test_that("print, summary, tidy, quantile and median agree with survfit", {
  fit <- cox_fit(Surv(time, status) ~ age + sex + ph.ecog, data = lung)
  ref <- survfit(coxph(Surv(time, status) ~ age + sex + ph.ecog, data = lung), newdata = lung_nd)
  ours <- survfit(fit, newdata = lung_nd)
  expect_output(print(ours), "efron baseline")
  q_ref <- quantile(ref, probs = c(0.25, 0.5))
  q <- quantile(ours, probs = c(0.25, 0.5))
  expect_equal(q$quantile, c(t(q_ref$quantile)), tolerance = tol)
  expect_equal(q$conf.low, c(t(q_ref$lower)), tolerance = tol)
  med <- median(ours)
  expect_equal(med$median, unname(summary(ref)$table[, "median"]), tolerance = tol)
  s <- summary(ours, times = c(100, 365, 700))
  s_ref <- summary(ref, times = c(100, 365, 700))
  expect_equal(s$surv, c(s_ref$surv), tolerance = tol)
  expect_equal(s$std.err, c(s_ref$std.err), tolerance = tol)
  expect_equal(s$n.risk, rep(s_ref$n.risk, 3L), tolerance = tol)
  expect_equal(s$n.event, rep(s_ref$n.event, 3L), tolerance = tol)
  td <- tidy(ours)
  expect_named(td, c("curve", "age", "sex", "ph.ecog", "time", "n.risk", "n.event",
                     "n.censor", "estimate", "std.error", "conf.low", "conf.high", "cumhaz"))
  expect_equal(td$estimate, c(ref$surv), tolerance = tol)
  expect_equal(td$std.error, c(ref$std.err), tolerance = tol)
  expect_equal(td$age, rep(lung_nd$age, each = length(ref$time)))
  strat <- tidy(survfit(cox_fit(Surv(time, status) ~ karno + strata(celltype), data = veteran),
                        newdata = data.frame(karno = 60)))
  expect_true(is.factor(strat$celltype))
})

test_that("predict(type = 'survival') reads the curves at given times", {
  d <- na.omit(lung[, c("time", "status", "age", "sex", "ph.ecog")])
  fit <- cox_fit(Surv(time, status) ~ age + sex + ph.ecog, data = d)
  ref <- coxph(Surv(time, status) ~ age + sex + ph.ecog, data = d)
  times <- c(0, 100, 200, 365)
  p <- predict(fit, lung_nd, type = "survival", times = times, se.fit = TRUE)
  s <- summary(survfit(ref, newdata = lung_nd), times = times)
  expect_equal(p$fit, t(s$surv), tolerance = tol, ignore_attr = TRUE)
  expect_equal(p$se.fit, t(s$std.err), tolerance = tol, ignore_attr = TRUE)
  expect_equal(colnames(p$fit), c("0", "100", "200", "365"))
  expect_true(all(is.na(predict(fit, lung_nd, type = "survival", times = 5000))))
  # Without times: exp(-expected), as predict.coxph.
  expect_equal(predict(fit, type = "survival"), predict(ref, type = "survival"),
               tolerance = tol, ignore_attr = TRUE)
  # The fitted rows: each row's own curve (here row 1 of d).
  own <- predict(fit, type = "survival", times = 365)[1L, ]
  expect_equal(own, predict(fit, d[1L, ], type = "survival", times = 365)[1L, ])
  # Strata: each row's stratum, which newdata must give.
  sfit <- cox_fit(Surv(time, status) ~ karno + strata(celltype), data = veteran)
  sref <- coxph(Surv(time, status) ~ karno + strata(celltype), data = veteran)
  nd <- data.frame(karno = c(40, 70), celltype = c("large", "smallcell"))
  ps <- predict(sfit, nd, type = "survival", times = c(30, 90))
  for (i in 1:2) {
    expect_equal(ps[i, ], summary(survfit(sref, newdata = nd[i, ]), times = c(30, 90))$surv,
                 tolerance = tol, ignore_attr = TRUE)
  }
  expect_error(predict(sfit, data.frame(karno = 50), type = "survival", times = 30),
               class = "rwe_bad_input")
})

test_that("marginal curve equals the mean of survfit's curves over the data", {
  d <- na.omit(lung[, c("time", "status", "age", "sex", "ph.ecog")])
  fit <- cox_fit(Surv(time, status) ~ age + sex + ph.ecog, data = d)
  ref <- coxph(Surv(time, status) ~ age + sex + ph.ecog, data = d)
  m <- cox_marginal_curve(fit, d, bootstrap = 0)
  sf <- survfit(ref, newdata = d)
  expect_equal(m$time, sf$time)
  expect_equal(m$estimate, rowMeans(sf$surv), tolerance = tol)
  mb <- cox_marginal_curve(fit, d, by = "sex", bootstrap = 0)
  for (s in 1:2) {
    ds <- d
    ds$sex <- s
    expect_equal(mb$estimate[mb$sex == s], rowMeans(survfit(ref, newdata = ds)$surv),
                 tolerance = tol)
  }
  co <- na.omit(subset(colon, etype == 2, c(time, status, rx, age, nodes, sex)))
  cfit <- cox_fit(Surv(time, status) ~ rx + age + nodes + strata(sex), data = co)
  mc <- cox_marginal_curve(cfit, co, by = "rx", times = c(365, 1825), bootstrap = 0)
  expect_equal(as.character(unique(mc$rx)), levels(co$rx))
  co_lev <- co  # not `co` itself: the fit rebuilds its model matrix from `co`
  co_lev$rx <- factor("Lev", levels = levels(co$rx))
  expect_equal(mc$estimate[mc$rx == "Lev"],
               colMeans(predict(cfit, co_lev, type = "survival", times = c(365, 1825))),
               tolerance = tol, ignore_attr = TRUE)
})

test_that("marginal bootstrap: reproducible with a seed, interval around the estimate", {
  d <- na.omit(lung[, c("time", "status", "age", "sex")])
  fit <- cox_fit(Surv(time, status) ~ age + sex, data = d)
  set.seed(99)
  before <- runif(1)
  set.seed(99)
  a <- cox_marginal_curve(fit, d, by = "sex", times = c(180, 365), bootstrap = 15, seed = 7)
  expect_equal(runif(1), before)  # the caller's random state is untouched
  b <- cox_marginal_curve(fit, d, by = "sex", times = c(180, 365), bootstrap = 15, seed = 7)
  expect_identical(a, b)
  expect_true(all(a$conf.low <= a$estimate & a$estimate <= a$conf.high))
  expect_true(all(a$std.error > 0 & a$std.error < 0.1))
  c2 <- cox_marginal_curve(fit, d, by = "sex", times = c(180, 365), bootstrap = 15, seed = 8)
  expect_false(identical(a$conf.low, c2$conf.low))
  expect_equal(attr(a, "bootstrap"), 15)
  expect_output(print(a), "percentile bootstrap")
  # Differences from the first level, from the same replicates.
  dd <- attr(a, "differences")
  expect_equal(dd$sex, c(2, 2))
  expect_equal(dd$estimate, a$estimate[a$sex == 2] - a$estimate[a$sex == 1], tolerance = tol)
  expect_true(all(dd$conf.low <= dd$estimate & dd$estimate <= dd$conf.high))
  expect_output(print(a), "Differences from sex = 1")
  # One time, no `by`: the replicate matrix keeps one column (was transposed).
  one <- cox_marginal_curve(fit, d, times = 365, bootstrap = 4, seed = 2)
  expect_equal(nrow(one), 1L)
  expect_true(one$conf.low <= one$estimate && one$estimate <= one$conf.high)
  # Resampling the population too widens the interval (same model replicates otherwise).
  wide <- cox_marginal_curve(fit, d, times = 365, bootstrap = 15, seed = 7,
                             population = "resample")
  expect_equal(wide$estimate, one$estimate)
  expect_null(attr(wide, "differences"))
  expect_named(tidy(a), c("sex", "time", "estimate", "std.error", "conf.low", "conf.high"))
})

test_that("bad input is refused with rwe_bad_input naming the problem", {
  fit <- cox_fit(Surv(time, status) ~ age + sex, data = lung)
  expect_error(survfit(fit, stype = 1), "stype", class = "rwe_bad_input")
  expect_error(survfit(fit, conf.type = "logit"), class = "rwe_bad_input")
  expect_error(survfit(fit, conf.level = 2), class = "rwe_bad_input")
  expect_error(survfit(fit, newdata = data.frame(age = c(50, NA), sex = 1)),
               "Offending row: 2", class = "rwe_bad_input")
  expect_error(survfit(fit, newdata = data.frame(age = 50)), "sex", class = "rwe_bad_input")
  expect_error(predict(fit, lung_nd, type = "survival", times = -1), class = "rwe_bad_input")
  expect_error(cox_marginal_curve(fit, lung, by = "ph.ecog", bootstrap = 0), "by",
               class = "rwe_bad_input")
  expect_error(cox_marginal_curve(fit, lung, bootstrap = 1.5), class = "rwe_bad_input")
  jfit <- cox_fit(Surv(start, stop, event) ~ transplant + age, data = jasa1)
  expect_error(cox_marginal_curve(jfit, jasa1, bootstrap = 2), "counting-process",
               class = "rwe_bad_input")
  expect_silent(cox_marginal_curve(jfit, jasa1, bootstrap = 0))
  ffit <- cox_fit(Surv(time, status) ~ age + sex, data = lung, firth = TRUE)
  expect_error(survfit(ffit), "Firth", class = "rwe_bad_input")
  expect_error(predict(ffit, type = "survival", times = 100), "Firth", class = "rwe_bad_input")
})

test_that("plot methods return ggplots", {
  skip_if_not_installed("ggplot2")
  fit <- cox_fit(Surv(time, status) ~ age + sex, data = lung)
  expect_s3_class(plot(survfit(fit, newdata = data.frame(age = 60, sex = 1:2))), "ggplot")
  m <- cox_marginal_curve(fit, lung, by = "sex", times = c(100, 300), bootstrap = 3, seed = 1)
  expect_s3_class(plot(m), "ggplot")
})

test_that("heavy ties, case weights and strata: curves and cox_basehaz equal survival to 1e-10", {
  set.seed(20261205)
  n <- 400
  d <- data.frame(time = sample(1:12, n, TRUE), status = rbinom(n, 1, 0.7), x = rnorm(n),
                  z = rbinom(n, 1, 0.4), s = sample(1:3, n, TRUE), w = sample(1:4, n, TRUE))
  f <- Surv(time, status) ~ x + z + strata(s)
  nd <- data.frame(x = c(-1, 0.5), z = c(0, 1))
  for (ties in c("efron", "breslow")) {
    ours <- cox_fit(f, data = d, ties = ties, weights = w)
    ref <- coxph(f, data = d, ties = ties, weights = w)
    sf_ours <- survfit(ours, newdata = nd)
    sf_ref <- survfit(ref, newdata = nd)
    expect_equal(sf_ours$curves$cumhaz, survfit_long(sf_ref)$cumhaz, tolerance = 1e-10,
                 label = paste(ties, "cumhaz"))
    expect_equal(sf_ours$curves$std.err, survfit_long(sf_ref)$std.err, tolerance = 1e-10,
                 label = paste(ties, "std.err"))
    bh <- cox_basehaz(ours)
    bh_ref <- basehaz(ref)
    expect_equal(bh$hazard, bh_ref$hazard, tolerance = 1e-10, label = paste(ties, "basehaz"))
    expect_equal(bh$time, bh_ref$time)
  }
})

test_that("a zero-weight tied death is no tied death: curves equal survival's without the row", {
  d <- survival::ovarian
  d <- rbind(d, d[d$fustat == 1, ][1, ])  # a second death at an event time, weight 0
  w <- c(rep(1, nrow(d) - 1L), 0)
  nd <- data.frame(age = c(50, 65))
  ours <- survfit(cox_fit(Surv(futime, fustat) ~ age, data = d, weights = w), newdata = nd)
  ref <- survfit(coxph(Surv(futime, fustat) ~ age, data = d[-nrow(d), ]), newdata = nd)
  expect_equal(ours$curves$cumhaz[ours$curves$n.event > 0],
               survfit_long(ref)$cumhaz[survfit_long(ref)$n.event > 0], tolerance = 1e-10)
})
