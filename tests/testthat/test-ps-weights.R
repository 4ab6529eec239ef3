rott_ps_data <- function() {
  d <- survival::rotterdam
  d$chemo <- factor(d$chemo, 0:1, c("no", "yes"))
  d$grade <- factor(d$grade)
  d
}

test_that("ps_weights() scores are glm's and weights follow each estimand's formula", {
  d <- rott_ps_data()
  g <- stats::glm(I(chemo == "yes") ~ age + nodes + grade + er, family = binomial, data = d)
  e <- unname(fitted(g))
  z <- d$chemo == "yes"
  ate <- ps_weights(d, "chemo", c("age", "nodes", "grade", "er"))
  expect_equal(ate$ps, e, tolerance = 1e-12)
  expect_equal(ate$weights, ifelse(z, 1 / e, 1 / (1 - e)), tolerance = 1e-12)
  att <- ps_weights(d, "chemo", ~ age + nodes + grade + er, estimand = "ATT")
  expect_equal(att$weights, ifelse(z, 1, e / (1 - e)), tolerance = 1e-12)
  ato <- ps_weights(d, "chemo", ~ age + nodes + grade + er, estimand = "ATO")
  expect_equal(ato$weights, ifelse(z, 1 - e, e), tolerance = 1e-12)
  p <- mean(z)
  st <- ps_weights(d, "chemo", ~ age + nodes + grade + er, stabilize = TRUE)
  expect_equal(st$weights, ifelse(z, p / e, (1 - p) / (1 - e)), tolerance = 1e-12)
  st_att <- ps_weights(d, "chemo", ~ age + nodes + grade + er, estimand = "ATT",
                       stabilize = TRUE)
  expect_equal(st_att$weights, ifelse(z, 1, e / (1 - e) * (1 - p) / p), tolerance = 1e-12)
  expect_identical(levels(ate$arm), c("no", "yes"))
})

test_that("trimming drops rows by score, truncation caps weights at quantiles", {
  d <- rott_ps_data()
  base <- ps_weights(d, "chemo", ~ age + nodes)
  tr <- ps_weights(d, "chemo", ~ age + nodes, trim = 0.05)
  keep <- base$ps >= 0.05 & base$ps <= 0.95
  expect_equal(tr$rows, which(keep))
  expect_equal(tr$trimmed, which(!keep))
  expect_equal(tr$weights, base$weights[keep])
  expect_equal(nrow(tr$data), sum(keep))
  cu <- ps_weights(d, "chemo", ~ age + nodes, truncate = c(0.01, 0.99))
  q <- quantile(base$weights, c(0.01, 0.99), names = FALSE)
  expect_equal(cu$weights, pmin(pmax(base$weights, q[1]), q[2]))
  expect_equal(max(cu$weights), q[2])
  expect_output(print(tr), "Trimmed .*0.05, 0.95.*: [0-9]+ patients")
  expect_output(print(cu), "truncated at quantiles 0.01 and 0.99")
})

test_that("diagnostics: Kish ESS, weight quantiles and extreme counts per arm", {
  d <- rott_ps_data()
  ps <- ps_weights(d, "chemo", ~ age + nodes + er, extreme = 5)
  w1 <- ps$weights[ps$treated == 1]
  dg <- summary(ps)
  expect_equal(dg$arm, c("no", "yes"))
  expect_equal(dg$n, c(sum(d$chemo == "no"), sum(d$chemo == "yes")))
  expect_equal(dg$ess[2], sum(w1)^2 / sum(w1^2))
  expect_equal(dg$max[2], max(w1))
  expect_equal(dg$n_extreme[2], sum(w1 > 5))
  expect_output(print(ps), "Propensity-score weights \\(ATE\\)")
  td <- generics::tidy(ps)
  expect_equal(td$weight, ps$weights)
  expect_s3_class(plot(ps), "ggplot")
})

test_that("logical and 0/1 treatments: the second value is treated", {
  d <- survival::rotterdam
  a <- ps_weights(d, "chemo", ~ age + nodes)
  d$chemo_l <- d$chemo == 1
  b <- ps_weights(d, "chemo_l", ~ age + nodes)
  expect_equal(a$weights, b$weights)
  expect_identical(b$levels, c("FALSE", "TRUE"))
})

test_that("bad input is refused with rwe_bad_input naming the problem", {
  d <- rott_ps_data()
  expect_error(ps_weights(d, "size", ~ age), class = "rwe_bad_input", regexp = "exactly two")
  d1 <- d[d$chemo == "no", ]
  expect_error(ps_weights(d1, "chemo", ~ age), class = "rwe_bad_input", regexp = "It has 1")
  dn <- d
  dn$age[c(4, 9)] <- NA
  expect_error(ps_weights(dn, "chemo", ~ age + nodes), class = "rwe_bad_input",
               regexp = "age.*\n.*4, 9")
  dn$chemo[2] <- NA
  expect_error(ps_weights(dn, "chemo", ~ nodes), class = "rwe_bad_input", regexp = "chemo.*\n.*row: 2")
  ds <- d
  ds$perfect <- as.integer(ds$chemo == "yes")
  expect_error(ps_weights(ds, "chemo", ~ age + perfect), class = "rwe_bad_input",
               regexp = "separation")
  # quasi-complete separation: every patient over 70 untreated
  dq <- d
  dq$old <- as.integer(dq$age > 70 & dq$chemo == "no")
  expect_error(ps_weights(dq, "chemo", ~ age + old), class = "rwe_bad_input",
               regexp = "separation")
  expect_error(ps_weights(d, "chemo", ~ age, estimand = "ATX"), class = "rwe_bad_input")
  expect_error(ps_weights(d, "chemo", ~ age, estimand = "ATO", stabilize = TRUE),
               class = "rwe_bad_input")
  expect_error(ps_weights(d, "chemo", ~ age, trim = 0.7), class = "rwe_bad_input")
  expect_error(ps_weights(d, "chemo", ~ nope), class = "rwe_bad_input", regexp = "nope")
  expect_error(ps_weights(d, "nope", ~ age), class = "rwe_bad_input", regexp = "nope")
  expect_error(ps_weights(as.list(d), "chemo", ~ age), class = "rwe_bad_input")
  top <- max(ps_weights(d, "chemo", ~ age)$ps)
  expect_error(ps_weights(d, "chemo", ~ age, trim = c(top - 1e-12, 1)),
               class = "rwe_bad_input", regexp = "without patients")
})
