# Shared fixtures of the partitioned-fit tests (test-partition-*.R).

tight <- survival::coxph.control(eps = 1e-12, iter.max = 50, toler.chol = 1e-13)

lung_hospitals <- function() {
  lung <- survival::lung
  lung$sex <- factor(lung$sex, levels = 1:2, labels = c("male", "female"))
  hospital <- cut(ifelse(is.na(lung$inst), 1, lung$inst), c(0, 5, 12, Inf),
                  labels = c("north", "centre", "south"))
  split(lung, hospital)
}

colon_sites <- function() {
  colon <- survival::colon
  # site 3 has no "Lev+5FU" patients: factor levels must be unified across sites
  colon$site <- ifelse(colon$rx == "Lev+5FU", colon$id %% 2 + 1, colon$id %% 3 + 1)
  lapply(split(colon, colon$site), function(d) { d$rx <- droplevels(d$rx); d })
}

simulate_sites <- function(n = 1e5, seed = 42) {
  set.seed(seed)
  x1 <- rnorm(n)
  x2 <- rbinom(n, 1, 0.4)
  g <- factor(sample(c("a", "b", "c"), n, replace = TRUE))
  s <- factor(sample(c("s1", "s2"), n, replace = TRUE))
  lp <- 0.3 * x1 - 0.5 * x2 + 0.2 * (g == "b") - 0.1 * (g == "c")
  event <- rexp(n, exp(lp) / 300)
  censor <- rexp(n, 1 / 500)
  d <- data.frame(time = pmax(1, round(pmin(event, censor) / 7)),  # weeks: heavy ties
                  status = as.integer(event <= censor), x1 = x1, x2 = x2, g = g, s = s,
                  w = runif(n, 0.5, 2))
  split(d, rep(1:3, c(0.5 * n, 0.3 * n, 0.2 * n)))
}

expect_cox_equal <- function(fit, ref, tolerance = 1e-10) {
  expect_equal(unname(fit$coefficients), unname(coef(ref)), tolerance = tolerance)
  # model-based variance (the references use robust = FALSE with weights)
  expect_equal(unname(fit$var), unname(vcov(ref)), tolerance = tolerance)
  expect_equal(fit$loglik, ref$loglik, tolerance = tolerance)
  expect_equal(unname(fit$score.test[["statistic"]]), ref$score, tolerance = 1e-8)
  expect_equal(fit$iter, ref$iter)
  expect_equal(fit$n, ref$n)
  expect_equal(fit$nevent, ref$nevent)
}

# A Kaplan-Meier fit (rwe_km: pooled or partitioned) against survfit: survfit's std.err is
# the SE of log S, our std.err.log.
expect_km_equal <- function(km, ref) {
  cv <- km$curves
  expect_equal(cv$time, ref$time)
  for (col in c("n.risk", "n.event", "n.censor", "surv", "lower", "upper")) {
    expect_equal(cv[[col]], ref[[col]], tolerance = 1e-10, label = col)
  }
  expect_equal(cv$std.err.log, ref$std.err, tolerance = 1e-10, label = "std.err.log")
}

# ---- issue 11: near ties, early censorings, validation before C++ ------------------------

# lung in tenths of months, computed two ways at different sites: t * 0.1 and t / 10 differ
# by an ulp for many t, which the pooled verbs (survival's timefix) treat as one time.
near_tie_sites <- function() {
  lung <- survival::lung
  lung$sex <- factor(lung$sex, levels = 1:2, labels = c("male", "female"))
  site <- rep(1:3, length.out = nrow(lung))
  lung$time <- ifelse(site == 2, lung$time * 0.1, lung$time / 10)
  split(lung, site)
}

# Events at 100 and 100 + 2.4e-6 are 2.4e-8 apart relative to the mean time (above the
# tolerance) but a censoring at 100 + 1.2e-6 at the other site links them: one time when pooled.
chained_near_tie_sites <- function() {
  lung <- survival::lung
  lung$time <- lung$time / 3
  keys <- which(lung$status == 2)[1:3]
  lung$time[keys] <- 100 + c(0, 1.2e-6, 2.4e-6)
  lung$status[keys[2]] <- 1
  site <- rep(1:2, length.out = nrow(lung))
  site[keys] <- c(1, 2, 1)
  split(lung, site)
}
