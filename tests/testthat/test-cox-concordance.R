library(survival)

# Element-wise relative difference (absolute where the reference is 0), so that every entry
# of a result is held to the tolerance, not their mean.
expect_close <- function(object, expected, tol = 1e-8) {
  object <- unname(unlist(object))
  expected <- unname(unlist(expected))
  expect_equal(length(object), length(expected))
  scale <- ifelse(expected == 0, 1, abs(expected))
  rel <- abs(object - expected) / scale
  expect_true(all(rel <= tol),
              info = paste("largest relative difference", format(max(rel)), "at entry",
                           which.max(rel)))
}

coxph_concordance <- function(fit) fit$concordance[1:7]

survival_values <- function(s) {
  counts <- if (is.matrix(s$count)) colSums(s$count) else s$count
  c(counts, concordance = s$concordance, var = s$var)
}

rwe_values <- function(m) c(m$count, concordance = m$concordance, var = m$var)

# Independent O(n^2) oracle: every ordered pair (death i, row j at risk at t_i), in the
# "larger x = longer survival" orientation; pairs of deaths at one time counted once.
brute_counts <- function(time, status, x, weights = rep(1, length(time)),
                         strata = rep(1, length(time)), start = rep(-Inf, length(time))) {
  counts <- c(concordant = 0, discordant = 0, tied.x = 0, tied.y = 0, tied.xy = 0)
  n <- length(time)
  for (i in which(status == 1)) {
    for (j in seq_len(n)) {
      if (j == i || strata[j] != strata[i]) next
      if (!(start[j] < time[i] && time[j] >= time[i])) next
      w <- weights[i] * weights[j]
      if (time[j] == time[i] && status[j] == 1) {
        if (j < i) next
        key <- if (x[j] == x[i]) "tied.xy" else "tied.y"
      } else {
        key <- if (x[j] > x[i]) "concordant" else if (x[j] < x[i]) "discordant" else "tied.x"
      }
      counts[[key]] <- counts[[key]] + w
    }
  }
  counts
}

somers_d <- function(counts) {
  (counts[["concordant"]] - counts[["discordant"]]) / sum(counts[1:3])
}

# Infinitesimal-jackknife variance of C from the derivatives of the brute-force Somers' D
# with respect to each case weight: var(C) = sum_i (w_i dD/dw_i)^2 / 4. Every pair count is
# linear in a single weight w_i (no row pairs with itself), so D = N / M is a ratio of two
# linear functions of w_i and one unit step gives the exact slopes of N and M.
brute_ij_var <- function(time, status, x, weights = rep(1, length(time)), ...) {
  nm <- function(counts) c(counts[["concordant"]] - counts[["discordant"]], sum(counts[1:3]))
  base <- nm(brute_counts(time, status, x, weights, ...))
  dfbeta <- vapply(seq_along(time), function(i) {
    step <- weights
    step[i] <- step[i] + 1
    slope <- nm(brute_counts(time, status, x, step, ...)) - base
    weights[i] * (slope[1] * base[2] - base[1] * slope[2]) / base[2]^2
  }, numeric(1))
  sum(dfbeta^2) / 4
}

test_that("a five-row hand example gives its closed-form counts", {
  # deaths at 1 (x=1), 2 (x=3), 2 (x=3), 4 (x=3); censored at 3 (x=2) and 5 (x=4).
  # death t=1, x=1: later rows x = 3,3,2,3,4 -> 5 concordant
  # deaths t=2, x=3 (two of them): each vs x = 2,3,4 -> 1 discordant, 1 tied.x, 1 concordant;
  #   with each other -> 1 tied.xy
  # death t=4, x=3: vs x=4 -> 1 concordant
  d <- data.frame(time = c(1, 2, 3, 4, 5, 2), status = c(1, 1, 0, 1, 0, 1),
                  x = c(1, 3, 2, 3, 4, 3))
  m <- concordance_index(Surv(time, status) ~ x, data = d)
  expect_equal(unname(m$count), c(8, 2, 2, 0, 1))
  expect_equal(m$concordance, (8 + 2 / 2) / (8 + 2 + 2))
  expect_equal(m$count, brute_counts(d$time, d$status, d$x))
  expect_close(m$var, brute_ij_var(d$time, d$status, d$x))
  expect_close(rwe_values(m), survival_values(concordance(Surv(time, status) ~ x, data = d)))
})

test_that("counts and IJ variance equal a brute-force oracle (ties, weights, strata, (start, stop])", {
  set.seed(20240501)
  for (rep in 1:3) {
    n <- 40
    time <- sample(1:8, n, replace = TRUE)
    status <- rbinom(n, 1, 0.6)
    x <- sample(1:5, n, replace = TRUE)
    w <- round(runif(n, 0.2, 3), 2)
    w[1:3] <- 0
    s <- sample(1:2, n, replace = TRUE)
    start <- pmax(0, time - sample(1:6, n, replace = TRUE))
    res <- concordance_index_matrix(time, status, x, strata = s, weights = w)
    expect_close(res$count, brute_counts(time, status, x, w, s))
    expect_close(res$var, brute_ij_var(time, status, x, w, strata = s))
    res <- concordance_index_matrix(time, status, x, weights = w, start = start)
    expect_close(res$count, brute_counts(time, status, x, w, start = start))
    expect_close(res$var, brute_ij_var(time, status, x, w, start = start))
  }
})

test_that("cox_concordance() equals coxph()$concordance on survival's data sets", {
  fits <- list(
    lung = coxph(Surv(time, status) ~ age + sex + ph.ecog, data = lung),
    veteran = coxph(Surv(time, status) ~ karno + age + trt + celltype, data = veteran),
    ovarian = coxph(Surv(futime, fustat) ~ age + resid.ds + rx, data = ovarian),
    pbc = coxph(Surv(time, status == 2) ~ age + log(bili) + albumin + edema, data = pbc),
    heart = coxph(Surv(start, stop, event) ~ age + year + surgery + transplant,
                  data = heart)
  )
  for (name in names(fits)) {
    fit <- fits[[name]]
    y <- fit$y
    res <- if (ncol(y) == 3L) {
      cox_concordance(y[, 2], y[, 3], fit$linear.predictors, start = y[, 1])
    } else {
      cox_concordance(y[, 1], y[, 2], fit$linear.predictors)
    }
    expect_named(res, c(names(coxph_concordance(fit))))
    expect_close(res, coxph_concordance(fit))
  }
})

test_that("cox_concordance() matches coxph() with strata, weights and clusters", {
  # cgd: counting process, 4 and 13 strata (survival collapses > 10 strata differently)
  fit <- coxph(Surv(tstart, tstop, status) ~ treat + age + inherit + strata(hos.cat),
               data = cgd)
  res <- cox_concordance(cgd$tstop, cgd$status, fit$linear.predictors, strata = cgd$hos.cat,
                         start = cgd$tstart)
  expect_close(res, coxph_concordance(fit))
  fit <- coxph(Surv(tstart, tstop, status) ~ treat + age + strata(center) + cluster(id),
               data = cgd)
  res <- cox_concordance(cgd$tstop, cgd$status, fit$linear.predictors, strata = cgd$center,
                         start = cgd$tstart, cluster = cgd$id)
  expect_close(res, coxph_concordance(fit))
  # colon: two event types per patient as strata, clustered by patient
  fit <- coxph(Surv(time, status) ~ rx + age + nodes + strata(etype) + cluster(id),
               data = colon)
  keep <- !is.na(colon$nodes)
  res <- cox_concordance(colon$time[keep], colon$status[keep], fit$linear.predictors,
                         strata = colon$etype[keep], cluster = colon$id[keep])
  expect_close(res, coxph_concordance(fit))
  # case weights
  set.seed(7)
  d <- lung[!is.na(lung$ph.ecog), ]
  d$w <- runif(nrow(d), 0.1, 4)
  fit <- coxph(Surv(time, status) ~ age + ph.ecog + strata(sex), data = d, weights = w)
  res <- cox_concordance(d$time, d$status - 1, fit$linear.predictors, strata = d$sex,
                         weights = d$w)
  expect_close(res, coxph_concordance(fit))
})

test_that("heavy ties in time and predictor, weights and strata match coxph()", {
  set.seed(99)
  n <- 3000
  d <- data.frame(time = sample(1:40, n, replace = TRUE), status = rbinom(n, 1, 0.35),
                  x = sample(1:6, n, replace = TRUE), z = rbinom(n, 1, 0.5),
                  s = sample(letters[1:3], n, replace = TRUE),
                  w = sample(c(0.5, 1, 2), n, replace = TRUE))
  fit <- coxph(Surv(time, status) ~ x + z + strata(s), data = d, weights = w)
  res <- cox_concordance(d$time, d$status, fit$linear.predictors, strata = d$s,
                         weights = d$w)
  expect_close(res, coxph_concordance(fit))
  expect_true(res[["tied.x"]] > 0 && res[["tied.y"]] > 0 && res[["tied.xy"]] > 0)
  d$start <- pmax(0, d$time - sample(1:30, n, replace = TRUE))
  fit <- coxph(Surv(start, time, status) ~ x + z, data = d)
  res <- cox_concordance(d$time, d$status, fit$linear.predictors, start = d$start)
  expect_close(res, coxph_concordance(fit))
})

test_that("concordance_index() equals survival::concordance()", {
  cases <- list(
    list(Surv(time, status) ~ ph.karno, lung, FALSE),
    list(Surv(time, status) ~ age + strata(sex), lung, TRUE),
    list(Surv(time, status) ~ karno + strata(celltype), veteran, FALSE),
    list(Surv(futime, fustat) ~ age, ovarian, TRUE),
    list(Surv(time, status == 2) ~ bili, pbc, TRUE),
    list(Surv(start, stop, event) ~ age, heart, TRUE),
    list(Surv(tstart, tstop, status) ~ age + strata(center), cgd, TRUE),
    list(Surv(tstart, tstop, status) ~ height + strata(hos.cat) + cluster(id), cgd, FALSE)
  )
  for (case in cases) {
    m <- concordance_index(case[[1]], data = case[[2]], reverse = case[[3]])
    s <- concordance(case[[1]], data = case[[2]], reverse = case[[3]])
    expect_s3_class(m, "rwe_concordance")
    expect_close(rwe_values(m), survival_values(s))
    expect_equal(m$n, s$n)
  }
  m <- concordance_index(Surv(time, status) ~ age, data = colon, weights = nodes + 1,
                         subset = etype == 2)
  s <- concordance(Surv(time, status) ~ age, data = colon, weights = nodes + 1,
                   subset = etype == 2)
  expect_close(rwe_values(m), survival_values(s))
})

test_that("strata without events or without comparable pairs are handled like survival", {
  d <- data.frame(time = c(1, 2, 3, 4, 5, 6, 7, 8, 8), status = c(1, 0, 1, 1, 0, 0, 0, 1, 1),
                  x = c(2, 1, 3, 3, 5, 1, 2, 4, 6), s = c(1, 1, 1, 1, 1, 2, 2, 3, 3))
  m <- concordance_index(Surv(time, status) ~ x + strata(s), data = d, reverse = TRUE)
  expect_close(rwe_values(m), survival_values(
    concordance(Surv(time, status) ~ x + strata(s), data = d, reverse = TRUE)))
  expect_close(m$count_by_stratum[2, -1], rep(0, 5))
  # only tied-time pairs: no comparable pair, C undefined (NaN, as coxph stores it)
  res <- cox_concordance(c(2, 2, 1), c(1, 1, 0), c(0.3, 0.1, 0.2))
  expect_equal(unname(res[1:5]), c(0, 0, 0, 1, 0))
  expect_true(is.nan(res[["concordance"]]) && is.nan(res[["std"]]))
})

test_that("times equal up to rounding are tied, as in survival::concordance()", {
  d <- data.frame(t = c(1, 1 + 1e-10, 2, 3, 3, 4), s = c(1, 1, 1, 0, 1, 1),
                  x = c(3, 1, 2, 2, 5, 1))
  m <- concordance_index(Surv(t, s) ~ x, data = d)
  expect_equal(m$count[["tied.y"]], 1)
  expect_close(rwe_values(m), survival_values(concordance(Surv(t, s) ~ x, data = d)))
  # counting process: start times are merged on the same grid as stop times
  d$t0 <- c(0, 0.5, 1 + 2e-10, 0, 1, 2)
  m <- concordance_index(Surv(t0, t, s) ~ x, data = d)
  expect_close(rwe_values(m), survival_values(concordance(Surv(t0, t, s) ~ x, data = d)))
  expect_equal(merge_near_ties(c(1, 1 + 1e-12, 2), c(0, 0, 1 + 1e-12))$start, c(0, 0, 1))
  expect_error(merge_near_ties(c(1 + 1e-12, 2), c(1, 0)), "shorter than",
               class = "rwe_bad_input")
})

test_that("tidy(), glance(), print() and summary() report the result", {
  m <- concordance_index(Surv(time, status) ~ age + strata(sex), data = lung, reverse = TRUE)
  td <- tidy(m)
  expect_named(td, c("term", "estimate", "std.error", "conf.low", "conf.high"))
  expect_equal(td$term, "age")
  expect_equal(td$estimate, m$concordance)
  expect_equal(td$conf.high - td$estimate, qnorm(0.975) * m$std.err)
  gl <- glance(m)
  expect_equal(nrow(gl), 1L)
  expect_equal(gl$n_strata, 2L)
  expect_equal(gl$concordant, m$count[["concordant"]])
  expect_equal(names(m$count_by_stratum), c("sex", names(m$count)))
  expect_equal(colSums(m$count_by_stratum[, -1]), m$count)
  expect_output(print(m), "Harrell's C of `age`")
  expect_output(summary(m), "Pairs by stratum")
})

test_that("bad input is refused with a classed error naming the argument", {
  expect_error(concordance_index(time ~ age, data = lung), "Surv",
               class = "rwe_bad_input")
  expect_error(concordance_index(Surv(time, status) ~ sex_f, data = transform(lung,
               sex_f = factor(sex))), "numeric", class = "rwe_bad_input")
  expect_error(concordance_index(Surv(time, status) ~ name,
                                 data = data.frame(time = 1:3, status = 1,
                                                   name = c("a", "b", "c"))),
               "numeric", class = "rwe_bad_input")
  expect_error(concordance_index(Surv(time, status) ~ age, data = lung[0, ]),
               "zero rows", class = "rwe_bad_input")
  expect_error(concordance_index(Surv(time, status) ~ age + sex, data = lung),
               "exactly one predictor", class = "rwe_bad_input")
  expect_error(concordance_index(Surv(time, status) ~ age, data = lung, reverse = NA),
               "reverse", class = "rwe_bad_input")
  expect_error(concordance_index(Surv(time, status) ~ age, data = lung,
                                 weights = rep(-1, nrow(lung))),
               "weights", class = "rwe_bad_input")
  expect_error(concordance_index(Surv(time, status) ~ age, data = transform(lung, status = 0)),
               "no events", class = "rwe_bad_input")
  expect_error(cox_concordance(1:3, c(1, 0, 2), c(0.1, 0.2, 0.3)), "status",
               class = "rwe_bad_input")
  expect_error(cox_concordance(1:3, c(1, 0, 1), c(0.1, NA, 0.3)), "predictor",
               class = "rwe_bad_input")
  expect_error(cox_concordance(1:3, c(1, 0, 1), 1:2), "predictor",
               class = "rwe_bad_input")
  expect_error(cox_concordance(1:3, c(1, 0, 1), 1:3, strata = c(1, NA, 1)), "strata",
               class = "rwe_bad_input")
  expect_error(cox_concordance(numeric(), numeric(), numeric()), "zero rows",
               class = "rwe_bad_input")
  expect_error(cox_concordance(1:3, c(1, 0, 1), 1:3, start = c(0, 2, 0)), "start",
               class = "rwe_bad_input")
})

test_that("concordance_index(fit) of an rwe_cox equals survival::concordance(coxph)", {
  expect_same_cox_concordance <- function(m, r) {
    ours <- concordance_index(m)
    ref <- concordance(r)
    expect_s3_class(ours, "rwe_concordance")
    expect_equal(ours$concordance, unname(ref$concordance), tolerance = 1e-8)
    expect_equal(ours$var, unname(ref$var), tolerance = 1e-8)
    expect_equal(unname(ours$count), unname(colSums(rbind(ref$count))), tolerance = 1e-8)
    expect_equal(ours$n, ref$n)
    expect_true(ours$reverse)
    ours
  }
  res <- expect_same_cox_concordance(
    cox_fit(Surv(time, status) ~ age + sex + strata(ph.ecog), data = lung),
    coxph(Surv(time, status) ~ age + sex + strata(ph.ecog), data = lung))
  expect_equal(nrow(res$count_by_stratum), 4L)
  expect_same_cox_concordance(cox_fit(Surv(time, status) ~ trt + celltype + karno, data = veteran),
                              coxph(Surv(time, status) ~ trt + celltype + karno, data = veteran))
  lw <- lung
  lw$w <- rep(1:3, length.out = nrow(lung))
  expect_same_cox_concordance(cox_fit(Surv(time, status) ~ age + sex, data = lw, weights = w),
                              coxph(Surv(time, status) ~ age + sex, data = lw, weights = w))
  expect_same_cox_concordance(
    cox_fit(Surv(start, stop, event) ~ age + transplant, data = heart),
    coxph(Surv(start, stop, event) ~ age + transplant, data = heart))
  # clusters change the variance, as in concordance(coxph)
  clus <- expect_same_cox_concordance(
    cox_fit(Surv(time, status) ~ rx + nodes + cluster(id), data = colon),
    coxph(Surv(time, status) ~ rx + nodes + cluster(id), data = colon))
  plain <- concordance_index(cox_fit(Surv(time, status) ~ rx + nodes, data = colon))
  expect_false(isTRUE(all.equal(clus$var, plain$var)))
  expect_same_cox_concordance(
    cox_fit(Surv(time, status) ~ age + sex, data = lung, cluster = inst),
    coxph(Surv(time, status) ~ age + sex, data = lung, cluster = inst))
  m <- cox_fit(Surv(time, status) ~ age, data = lung)
  expect_error(concordance_index(m, data = lung), "data", class = "rwe_bad_input")
  expect_error(concordance_index(m, reverse = FALSE), "reverse", class = "rwe_bad_input")
})

test_that("concordance methods refuse arguments they would ignore", {
  cc <- concordance_index(Surv(time, status) ~ ph.karno, data = lung)
  expect_error(print(cc, foo = 1), "foo", class = "rwe_bad_input")
  expect_error(summary(cc, foo = 1), "foo", class = "rwe_bad_input")
  expect_error(tidy(cc, exponentiate = TRUE), "exponentiate", class = "rwe_bad_input")
  expect_error(glance(cc, foo = 1), "foo", class = "rwe_bad_input")
})
