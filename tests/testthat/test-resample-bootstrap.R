lung_cc <- function() {
  na.omit(survival::lung[, c("time", "status", "age", "sex", "ph.ecog", "inst")])
}

test_that("resample_indices is reproducible, replicate by replicate, and in range", {
  a <- resample_indices(50, B = 4, seed = 11)
  expect_equal(dim(a), c(50L, 4L))
  expect_true(all(a >= 1L & a <= 50L))
  expect_identical(a, resample_indices(50, B = 4, seed = 11))
  expect_identical(a[, 3], resample_indices(50, B = 1, seed = 11, first = 3)[, 1])
  expect_false(identical(a, resample_indices(50, B = 4, seed = 12)))
  # roughly uniform: each row drawn about B times over B * n draws
  big <- tabulate(resample_indices(20, B = 2000, seed = 1), nbins = 20)
  expect_lt(max(abs(big / 2000 - 1)), 0.1)
  expect_error(resample_indices(10, 2, seed = -1), class = "rwe_bad_input")
  expect_error(resample_indices(10, 2, seed = 1.5), class = "rwe_bad_input")
})

test_that("the engine with all counts 1 is cox_fit", {
  d <- lung_cc()
  for (ties in c("efron", "breslow")) {
    fit <- cox_fit(survival::Surv(time, status) ~ age + sex + ph.ecog + strata(inst > 10),
                   data = d, ties = ties)
    raw <- cox_resample_fit(cox_resample_data(fit), fit, 1L, 1, first = 0L, threads = 1L)
    expect_equal(drop(raw$coef), unname(coef(fit)), tolerance = 1e-10)
  }
})

test_that("bootstrap replicates equal coxph on the resampled data (Efron, Breslow, strata, offset)", {
  d <- lung_cc()
  idx <- resample_indices(nrow(d), B = 4, seed = 2024)
  cases <- list(
    list(f = survival::Surv(time, status) ~ age + sex + ph.ecog, ties = "efron"),
    list(f = survival::Surv(time, status) ~ age + sex + ph.ecog, ties = "breslow"),
    list(f = survival::Surv(time, status) ~ age + factor(ph.ecog) + strata(sex), ties = "efron"),
    list(f = survival::Surv(time, status) ~ sex + offset(age / 50), ties = "efron")
  )
  for (cs in cases) {
    fit <- cox_fit(cs$f, data = d, ties = cs$ties)
    raw <- cox_resample_fit(cox_resample_data(fit), fit, 4L, 2024, first = 1L, threads = 2L)
    for (b in 1:4) {
      ref <- coef(survival::coxph(cs$f, data = d[idx[, b], ], ties = cs$ties))
      ours <- stats::setNames(raw$coef[, b], names(coef(fit)))
      # a factor level absent from the resample: coxph drops its column, the engine gives NA
      expect_equal(ours[names(ref)], ref, tolerance = 1e-8)
      expect_true(all(is.na(ours[setdiff(names(ours), names(ref))])))
    }
  }
})

test_that("an undrawn factor level gives NA, as coxph on the resample", {
  d <- lung_cc()
  d$rare <- factor(ifelse(seq_len(nrow(d)) %in% c(5, 9), "b", "a"))
  fit <- cox_fit(survival::Surv(time, status) ~ age + rare, data = d)
  idx <- resample_indices(nrow(d), B = 30, seed = 5)
  b <- which(!apply(idx, 2, function(i) any(i %in% c(5, 9))))[1L]
  expect_false(is.na(b))
  raw <- cox_resample_fit(cox_resample_data(fit), fit, 1L, 5, first = b, threads = 1L)
  ref <- suppressWarnings(survival::coxph(survival::Surv(time, status) ~ age + rare,
                                          data = d[idx[, b], ]))
  expect_true(is.na(raw$coef[2L, 1L]))
  expect_equal(raw$coef[1L, 1L], unname(coef(ref)[1L]), tolerance = 1e-8)
})

test_that("cox_bootstrap: identical for any thread count, summaries from the replicates", {
  d <- lung_cc()
  fit <- cox_fit(survival::Surv(time, status) ~ age + sex, data = d)
  b1 <- cox_bootstrap(fit, B = 300, seed = 9, threads = 1)
  b3 <- cox_bootstrap(fit, B = 300, seed = 9, threads = 3)
  expect_identical(b1$replicates, b3$replicates)
  expect_equal(b1$seed, 9)
  v <- b1$replicates[, "sex"]
  row <- b1$table[b1$table$term == "sex", ]
  expect_equal(row$boot.se, sd(v))
  expect_equal(row$conf.low, unname(quantile(v, 0.025)))
  expect_equal(row$hr.high, exp(unname(quantile(v, 0.975))))
  expect_equal(row$normal.low, 2 * coef(fit)[["sex"]] - mean(v) - qnorm(0.975) * sd(v))
  expect_equal(row$estimate, coef(fit)[["sex"]])
  # the bootstrap SE is close to the model-based one here
  expect_equal(row$boot.se, sqrt(fit$var[2, 2]), tolerance = 0.25)
  set.seed(1)
  s1 <- cox_bootstrap(fit, B = 20)$seed
  set.seed(1)
  expect_identical(cox_bootstrap(fit, B = 20)$seed, s1)
  expect_output(print(b1), "300 replicates")
})

test_that("cox_bootstrap refuses what it does not resample correctly", {
  d <- lung_cc()
  f <- survival::Surv(time, status) ~ age + sex
  # x = FALSE (the default): the model matrix is rebuilt from `d`, with identical results
  expect_identical(cox_bootstrap(cox_fit(f, data = d), B = 10, seed = 1),
                   cox_bootstrap(cox_fit(f, data = d, x = TRUE), B = 10, seed = 1))
  expect_error(cox_bootstrap(cox_fit(f, data = d, weights = rep(2, nrow(d))), B = 10, seed = 1),
               "case weights", class = "rwe_bad_input")
  expect_error(cox_bootstrap(cox_fit(f, data = d, cluster = inst), B = 10, seed = 1),
               "cluster", class = "rwe_bad_input")
  h <- survival::heart
  fh <- cox_fit(survival::Surv(start, stop, event) ~ age + transplant, data = h)
  expect_error(cox_bootstrap(fh, B = 10, seed = 1), "Counting-process", class = "rwe_bad_input")
  expect_error(cox_bootstrap(lm(time ~ age, d), B = 10, seed = 1), class = "rwe_bad_input")
  expect_error(cox_bootstrap(cox_fit(f, data = d), B = 1, seed = 1), class = "rwe_bad_input")
  expect_error(cox_bootstrap(cox_fit(f, data = d), B = 10, seed = 1, threads = 0),
               class = "rwe_bad_input")
})

test_that("km_bootstrap: estimates are km_median/km_rmean, replicates are survfit on the resample", {
  d <- survival::lung
  kb <- km_bootstrap(survival::Surv(time, status) ~ sex, data = d, B = 5, seed = 3, tau = 500)
  km <- km_fit(survival::Surv(time, status) ~ sex, data = d)
  expect_equal(kb$table$estimate[1:2], km_median(km)$median)
  expect_equal(kb$table$estimate[3:4], km_rmean(km, 500)$rmean)
  idx <- resample_indices(nrow(d), B = 5, seed = 3)
  for (b in 1:5) {
    sf <- survival::survfit(survival::Surv(time, status) ~ sex, data = d[idx[, b], ])
    tab <- summary(sf, rmean = 500)$table
    expect_equal(unname(kb$replicates[b, 1:2]), unname(tab[, "median"]))
    expect_equal(unname(kb$replicates[b, 3:4]), unname(tab[, "rmean"]), tolerance = 1e-10)
  }
  # a median that is exactly 0.5 on a flat stretch: survival's midpoint rule
  tiny <- data.frame(time = c(1, 2, 3, 4), status = c(1, 1, 1, 1))
  kt <- km_bootstrap(survival::Surv(time, status) ~ 1, data = tiny, B = 2, seed = 1)
  expect_equal(kt$table$estimate[1], 2.5)
  expect_error(km_bootstrap(survival::Surv(time, status) ~ sex, data = d, B = 5, seed = 1,
                            tau = -1), class = "rwe_bad_input")
})

test_that("cox_validate: each replicate equals a refit + survival::concordance + coxph slope loop", {
  d <- lung_cc()
  f <- survival::Surv(time, status) ~ age + sex + ph.ecog + strata(inst > 10)
  fit <- cox_fit(f, data = d)
  v <- cox_validate(fit, B = 3, seed = 8, threads = 2)
  expect_equal(v$index.orig[v$index == "C"], fit$concordance[["concordance"]], tolerance = 1e-12)
  idx <- resample_indices(nrow(d), 3, 8)
  reps <- attr(v, "replicates")
  x <- model.matrix(fit)
  dxy <- function(data) {
    2 * survival::concordance(survival::Surv(time, status) ~ lp + strata(inst > 10),
                              data = data, reverse = TRUE)$concordance - 1
  }
  for (b in 1:3) {
    db <- d[idx[, b], ]
    beta <- coef(survival::coxph(f, data = db))
    db$lp <- drop(x[idx[, b], ] %*% beta)
    d$lp <- drop(x %*% beta)
    slope <- coef(survival::coxph(survival::Surv(time, status) ~ lp + strata(inst > 10), data = d))
    expect_equal(unname(reps[b, ]), unname(c(dxy(db), dxy(d), slope)), tolerance = 1e-8)
  }
  tr <- mean(reps[, 1])
  te <- mean(reps[, 2])
  dxy_row <- v[v$index == "Dxy", ]
  expect_equal(dxy_row$optimism, tr - te)
  expect_equal(dxy_row$index.corrected, dxy_row$index.orig - (tr - te))
  expect_equal(v$index.corrected[v$index == "Slope"], 1 - (1 - mean(reps[, 3])))
  expect_identical(reps, attr(cox_validate(fit, B = 3, seed = 8, threads = 1), "replicates"))
})

test_that("permutation log-rank kernel: every relabeling's chi-square is survdiff's for some within-stratum relabeling", {
  d <- data.frame(time = c(3, 5, 5, 9, 2, 7, 8), status = c(1, 1, 0, 1, 1, 0, 1),
                  g = c(1, 2, 3, 1, 2, 1, 3), s = c(1, 1, 1, 1, 2, 2, 2))
  perms <- function(v) {
    if (length(v) <= 1L) return(list(v))
    unlist(lapply(seq_along(v), function(i) lapply(perms(v[-i]), function(r) c(v[i], r))),
           recursive = FALSE)
  }
  rows <- split(seq_len(nrow(d)), d$s)
  for (rho in c(0, 1)) {
    all_chisq <- unlist(lapply(perms(d$g[rows[[1]]]), function(a) {
      vapply(perms(d$g[rows[[2]]]), function(b) {
        lab <- c(a, b)
        survival::survdiff(survival::Surv(time, status) ~ lab + strata(s), data = d, rho = rho)$chisq
      }, numeric(1))
    }))
    ord <- order(d$s, -d$time)
    got <- logrank_permutation_cpp(d$time[ord], as.integer(d$status[ord]), as.integer(d$g[ord]),
                                   as.integer(d$s[ord]), 3L, rho, 200L, 4, 1L, 2L)
    nearest <- vapply(got, function(v) min(abs(all_chisq - v)), numeric(1))
    expect_lt(max(nearest), 1e-8)
    # the relabelings are spread over the distinct chi-squares, not stuck on one
    expect_gt(length(unique(round(got, 8))), 5)
    expect_identical(got, logrank_permutation_cpp(d$time[ord], as.integer(d$status[ord]),
                                                  as.integer(d$g[ord]), as.integer(d$s[ord]),
                                                  3L, rho, 200L, 4, 1L, 1L))
  }
})

test_that("refits that do not converge are left out with an rwe_not_converged warning", {
  lung <- survival::lung
  fit <- suppressWarnings(cox_fit(Surv(time, status) ~ age + sex + ph.ecog, data = lung,
                                  control = cox_control(iter.max = 2)))
  expect_warning(b <- cox_bootstrap(fit, B = 20, seed = 1), class = "rwe_not_converged")
  expect_false(any(b$converged))
  expect_equal(unname(b$n_failed), rep(20, 3))
  ok <- cox_bootstrap(cox_fit(Surv(time, status) ~ age + sex, data = lung), B = 20, seed = 1)
  expect_true(all(ok$converged))
})

test_that("bootstrap summaries use km_fit()'s median rule and restricted mean", {
  # replicate 0 is the data: S = 0.75, 0.5 (flat until 3), 0.25, 0 -> median (2 + 3) / 2,
  # as survfit; the second group never reaches 0.5
  d <- data.frame(time = c(1, 2, 3, 4, 1, 2, 5, 6), status = c(1, 1, 1, 1, 0, 1, 0, 0),
                  g = rep(1:2, each = 4))
  out <- km_bootstrap_cpp(as.double(d$time), d$status, d$g, 2L, 0:7, 3.5, 1L, 1, 0L, 1L)
  km <- km_fit(survival::Surv(time, status) ~ g, data = d)
  ref <- summary(survival::survfit(survival::Surv(time, status) ~ g, data = d), rmean = 3.5)$table
  expect_equal(out$median[, 1], unname(ref[, "median"]))
  expect_equal(out$median[1, 1], 2.5)
  expect_equal(out$rmst[, 1], unname(ref[, "rmean"]), tolerance = 1e-14)
  expect_equal(out$rmst[, 1], km_rmean(km, 3.5)$rmean, tolerance = 1e-14)
})
