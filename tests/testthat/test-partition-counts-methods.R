# Partitioned Kaplan-Meier and log-rank results are rwe_km / rwe_logrank objects: every method
# of the pooled verbs must give, on them, what it gives on km_fit() / logrank_test() of the
# stacked data, and both must equal survfit() / survdiff().
library(survival)

# Everything but the call and the partitioned extras, then each method.
expect_km_methods_equal <- function(part, pooled, times) {
  expect_s3_class(part, c("rwe_partitioned_km", "rwe_km"), exact = TRUE)
  drop <- c("call", "partitions", "traffic", "na.action")
  expect_equal(unclass(part)[setdiff(names(part), drop)], unclass(pooled)[setdiff(names(pooled), drop)],
               tolerance = 1e-12)
  expect_equal(length(part$na.action), length(pooled$na.action))
  expect_equal(summary(part), summary(pooled), tolerance = 1e-12)
  expect_equal(summary(part, times = times), summary(pooled, times = times), tolerance = 1e-12)
  expect_equal(summary(part, times = times, extend = TRUE),
               summary(pooled, times = times, extend = TRUE), tolerance = 1e-12)
  expect_equal(quantile(part, c(0.1, 0.5, 0.9)), quantile(pooled, c(0.1, 0.5, 0.9)), tolerance = 1e-12)
  expect_equal(median(part), median(pooled), tolerance = 1e-12)
  expect_equal(km_median(part), km_median(pooled), tolerance = 1e-12)
  for (tau in list("common", "individual", max(times))) {
    expect_equal(km_rmean(part, tau), km_rmean(pooled, tau), tolerance = 1e-12)
  }
  expect_equal(generics::tidy(part), generics::tidy(pooled), tolerance = 1e-12)
  expect_equal(generics::glance(part), generics::glance(pooled), tolerance = 1e-12)
  printed <- utils::capture.output(print(part))
  expect_equal(printed[-length(printed)], utils::capture.output(print(pooled)))
  expect_match(printed[length(printed)], "^Partitioned over [0-9]+ partitions")
  if (!is.null(part$traffic)) expect_match(printed[length(printed)], "; traffic: [0-9,]+ bytes sent")
  grDevices::pdf(NULL)
  on.exit(grDevices::dev.off(), add = TRUE)
  expect_identical(plot(part), part)
}

expect_logrank_methods_equal <- function(part, pooled, ref) {
  expect_s3_class(part, c("rwe_partitioned_logrank", "rwe_logrank"), exact = TRUE)
  drop <- c("call", "partitions", "traffic", "na.action")
  expect_equal(unclass(part)[setdiff(names(part), drop)], unclass(pooled)[setdiff(names(pooled), drop)],
               tolerance = 1e-10)
  expect_equal(generics::tidy(part), generics::tidy(pooled), tolerance = 1e-10)
  expect_equal(generics::glance(part), generics::glance(pooled), tolerance = 1e-10)
  printed <- utils::capture.output(print(part))
  expect_equal(printed[-length(printed)], utils::capture.output(print(pooled)))
  obs <- if (is.matrix(ref$obs)) rowSums(ref$obs) else ref$obs
  exp <- if (is.matrix(ref$exp)) rowSums(ref$exp) else ref$exp
  expect_equal(part$observed, unname(obs), tolerance = 1e-12)
  expect_equal(part$expected, unname(exp), tolerance = 1e-10)
  expect_equal(unname(part$var), unname(ref$var), tolerance = 1e-10)
  expect_equal(part$chisq, ref$chisq, tolerance = 1e-10)
}

test_that("lung: KM (curves by sex and ECOG, NA rows) and stratified log-rank equal the pooled fits", {
  sites <- lung_hospitals()
  pooled <- do.call(rbind, sites)
  parts <- cohort_partitions(sites)
  for (f in list(Surv(time, status) ~ 1, Surv(time, status) ~ sex,
                 Surv(time, status) ~ sex + strata(ph.ecog))) {
    km <- partitioned_km_fit(f, parts)
    expect_km_methods_equal(km, km_fit(f, data = pooled), times = c(0, 100, 365, 2000))
    expect_km_equal(km, survfit(f, data = pooled))
  }
  expect_equal(length(km$na.action), 1L)  # ph.ecog is missing once
  f <- Surv(time, status) ~ sex + strata(ph.ecog)
  expect_logrank_methods_equal(partitioned_logrank_test(f, parts), logrank_test(f, data = pooled),
                               survdiff(f, data = pooled))
  f <- Surv(time, status) ~ factor(ph.ecog)
  expect_logrank_methods_equal(partitioned_logrank_test(f, parts), logrank_test(f, data = pooled),
                               survdiff(f, data = pooled))
})

test_that("conf.type and rho reach the shared code: log-log limits and the Peto-Peto test", {
  sites <- lung_hospitals()
  pooled <- do.call(rbind, sites)
  parts <- cohort_partitions(sites)
  f <- Surv(time, status) ~ sex
  for (type in c("log-log", "plain")) {
    km <- partitioned_km_fit(f, parts, conf.level = 0.9, conf.type = type)
    expect_km_methods_equal(km, km_fit(f, data = pooled, conf.level = 0.9, conf.type = type), c(200, 400))
    ref <- survfit(f, data = pooled, conf.int = 0.9, conf.type = type)
    expect_equal(km$curves$lower, ref$lower, tolerance = 1e-10)
  }
  fs <- Surv(time, status) ~ sex + strata(ph.ecog)
  expect_logrank_methods_equal(partitioned_logrank_test(fs, parts, rho = 1),
                               logrank_test(fs, data = pooled, rho = 1),
                               survdiff(fs, data = pooled, rho = 1))
})

test_that("veteran and ovarian: KM and log-rank equal the pooled fits", {
  vet <- survival::veteran
  vsites <- split(vet, rep(1:3, length.out = nrow(vet)))
  vpooled <- do.call(rbind, vsites)
  vparts <- cohort_partitions(vsites)
  f <- Surv(time, status) ~ trt + celltype
  expect_km_methods_equal(partitioned_km_fit(f, vparts), km_fit(f, data = vpooled), c(30, 90, 365))
  f <- Surv(time, status) ~ celltype + strata(trt)
  expect_logrank_methods_equal(partitioned_logrank_test(f, vparts), logrank_test(f, data = vpooled),
                               survdiff(f, data = vpooled))
  ov <- survival::ovarian
  osites <- split(ov, ov$resid.ds)
  opooled <- do.call(rbind, osites)
  f <- Surv(futime, fustat) ~ rx
  oparts <- cohort_partitions(osites)
  km <- partitioned_km_fit(f, oparts)
  expect_km_methods_equal(km, km_fit(f, data = opooled), c(100, 500, 1000))
  expect_km_equal(km, survfit(f, data = opooled))
  expect_logrank_methods_equal(partitioned_logrank_test(f, oparts), logrank_test(f, data = opooled),
                               survdiff(f, data = opooled))
})

test_that("simulated heavy ties with integer and fractional weights: Greenwood and robust SE", {
  sites <- simulate_sites(n = 3000, seed = 7)
  pooled <- do.call(rbind, sites)
  parts <- cohort_partitions(sites)
  f <- Surv(time, status) ~ g
  km <- partitioned_km_fit(f, parts, weights = "w")
  own <- km_fit(f, data = pooled, weights = w)
  expect_equal(km$variance, "robust")
  expect_km_methods_equal(km, own, c(10, 50, 100))
  ref <- survfit(f, data = pooled, weights = w)
  expect_equal(km$curves$surv, ref$surv, tolerance = 1e-12)
  expect_equal(km$curves$std.err.surv, ref$std.err, tolerance = 1e-10)  # robust: survfit's SE of S
  # weights at 1e-200 (still fractional: robust SE): the squared-weight sums would underflow
  # to 0 without km_fit()'s power-of-two rescaling
  xsites <- lapply(sites, function(d) { d$w <- d$w * 1e-200; d })
  xkm <- partitioned_km_fit(f, cohort_partitions(xsites), weights = "w")
  expect_equal(xkm$variance, "robust")
  expect_equal(xkm$curves$std.err.surv, km$curves$std.err.surv, tolerance = 1e-10)
  expect_km_methods_equal(xkm, km_fit(f, data = do.call(rbind, xsites), weights = w), c(10, 50))
  expect_equal(xkm$curves$surv, km$curves$surv, tolerance = 1e-12)
  isites <- lapply(sites, function(d) { d$w <- round(2 * d$w); d })
  ipooled <- do.call(rbind, isites)
  km <- partitioned_km_fit(f, cohort_partitions(isites), weights = "w")
  expect_equal(km$variance, "greenwood")
  expect_km_methods_equal(km, km_fit(f, data = ipooled, weights = w), c(10, 50, 100))
  expect_km_equal(km, survfit(f, data = ipooled, weights = w))
  fl <- Surv(time, status) ~ g + strata(s)
  expect_logrank_methods_equal(partitioned_logrank_test(fl, parts), logrank_test(fl, data = pooled),
                               survdiff(fl, data = pooled))
})

test_that("near ties (0.3 vs 0.1 + 0.2), censored first rows and a site lacking a group", {
  d <- data.frame(time = c(0.3, 0.5, 0.1 + 0.2, 0.7, 0.2, 0.9, 0.3, 1.1, 0.4, 0.6, 0.8, 1.0),
                  status = c(0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 0, 1),
                  g = c("a", "b", "a", "b", "a", "b", "c", "a", "c", "b", "a", "c"))
  sites <- list(one = d[1:4, ], two = d[5:8, ], three = d[9:12, ])
  expect_equal(sites$two$status[1], 0)  # first rows censored
  expect_false("c" %in% sites$one$g)    # a site lacking a group
  pooled <- do.call(rbind, sites)
  parts <- cohort_partitions(sites)
  for (f in list(Surv(time, status) ~ 1, Surv(time, status) ~ g)) {
    km <- partitioned_km_fit(f, parts)
    expect_km_methods_equal(km, km_fit(f, data = pooled), c(0.3, 0.6, 1))
    expect_km_equal(km, survfit(f, data = pooled))
  }
  # 0.3 and 0.1 + 0.2 are one time, as survfit's timefix makes them
  expect_equal(sum(abs(km_fit(Surv(time, status) ~ 1, data = pooled)$curves$time - 0.3) < 1e-9), 1L)
  f <- Surv(time, status) ~ g
  expect_logrank_methods_equal(partitioned_logrank_test(f, parts), logrank_test(f, data = pooled),
                               survdiff(f, data = pooled))
})

test_that("a curve variable with one value over all partitions gives one curve, as km_fit", {
  lung <- survival::lung
  lung$arm <- "A"
  sites <- split(lung, lung$inst %% 2)
  km <- partitioned_km_fit(Surv(time, status) ~ arm, cohort_partitions(sites))
  pooled <- do.call(rbind, sites)
  expect_km_methods_equal(km, km_fit(Surv(time, status) ~ arm, data = pooled), c(100, 500))
  expect_equal(km$strata_label, "arm=A")
})

test_that("a singular variance gives the pooled test's degrees of freedom", {
  d <- data.frame(time = 1:7, status = c(1, 1, 1, 0, 1, 1, 1),
                  g = c("a", "b", "a", "b", "a", "b", "c"), s = c(1, 1, 1, 1, 1, 1, 2))
  f <- Surv(time, status) ~ g + strata(s)
  part <- partitioned_logrank_test(f, cohort_partitions(split(d, rep(1:2, length.out = 7))))
  pooled <- logrank_test(f, d)
  expect_equal(part$df, pooled$df)
  expect_equal(part$df, 1L)
  expect_equal(part$p.value, pooled$p.value, tolerance = 1e-12)
})

test_that("by-hand combine gives the same classes; interactions, cluster() and no events are refused", {
  sites <- lung_hospitals()
  pooled <- do.call(rbind, sites)
  f <- Surv(time, status) ~ sex
  by_hand <- function(site_stats, combine) {
    spec <- partition_spec(lapply(sites, site_describe, formula = f), f)
    grid <- counts_grid(lapply(sites, site_stats, spec = spec))
    combine(lapply(sites, site_stats, spec = spec, grid = grid), grid)
  }
  expect_km_methods_equal(by_hand(km_site_stats, km_combine), km_fit(f, data = pooled), c(100, 300))
  lr <- by_hand(logrank_site_stats, logrank_combine)
  expect_s3_class(lr, "rwe_logrank")
  expect_equal(lr$chisq, logrank_test(f, data = pooled)$chisq, tolerance = 1e-10)
  parts <- cohort_partitions(sites)
  expect_error(partitioned_km_fit(Surv(time, status) ~ sex:ph.ecog, parts), class = "rwe_bad_input",
               regexp = "interactions")
  expect_error(partitioned_logrank_test(Surv(time, status) ~ sex + cluster(inst), parts),
               class = "rwe_bad_input", regexp = "cluster")
  censored <- lapply(sites, function(d) { d$status <- 0; d })
  expect_error(partitioned_logrank_test(f, cohort_partitions(censored)), class = "rwe_bad_input",
               regexp = "no events")
})
