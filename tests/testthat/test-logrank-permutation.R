# Exact (complete enumeration) and Monte Carlo permutation p-values of logrank_test(): the
# exact p against a brute-force enumeration with survival::survdiff in the test itself.

library(survival)

# Brute force: every assignment of the group labels to the subjects (within strata), the
# survdiff chi-square of each; returns the distinct relabelings' chi-squares.
brute_force_chisq <- function(time, status, group, strata = rep(1, length(time))) {
  rows <- split(seq_along(time), strata)
  # all distinct label vectors per stratum, via recursive placement
  distinct <- function(g) {
    if (length(g) == 1L) return(matrix(g, 1L))
    out <- NULL
    for (v in unique(g)) {
      rest <- g[-match(v, g)]
      out <- rbind(out, cbind(v, distinct(rest)))
    }
    unique(out)
  }
  per <- lapply(rows, function(r) distinct(group[r]))
  grid <- expand.grid(lapply(per, function(m) seq_len(nrow(m))))
  apply(grid, 1L, function(idx) {
    lab <- group
    for (s in seq_along(rows)) lab[rows[[s]]] <- per[[s]][idx[s], ]
    if (length(unique(strata)) > 1L) {
      survdiff(Surv(time, status) ~ lab + strata(strata))$chisq
    } else {
      survdiff(Surv(time, status) ~ lab)$chisq
    }
  })
}

tiny <- data.frame(time = c(3, 5, 5, 8, 10, 12, 15, 20), status = c(1, 1, 0, 1, 1, 0, 1, 0),
                   arm = c(1, 1, 2, 1, 2, 1, 2, 2))

test_that("exact p equals a brute-force enumeration (two groups, 70 relabelings)", {
  res <- logrank_test(Surv(time, status) ~ arm, data = tiny, method = "exact")
  all_chisq <- brute_force_chisq(tiny$time, tiny$status, tiny$arm)
  expect_equal(length(all_chisq), 70L)
  expect_equal(res$n_relabelings, 70)
  obs <- survdiff(Surv(time, status) ~ arm, data = tiny)$chisq
  expect_equal(res$chisq, obs, tolerance = 1e-10)
  expect_equal(res$p.value, mean(all_chisq >= obs - 1e-10))
  expect_equal(res$p.asymptotic, stats::pchisq(obs, 1, lower.tail = FALSE), tolerance = 1e-10)
  expect_equal(res$p.method, "exact")
  expect_output(print(res), "exact, 70 relabelings")
  expect_equal(generics::glance(res)$p.method, "exact")
})

test_that("exact p with strata and with three groups", {
  d <- data.frame(time = c(2, 4, 4, 7, 9, 1, 3, 6, 6, 11), status = c(1, 1, 1, 0, 1, 1, 0, 1, 1, 1),
                  g = c(1, 2, 1, 2, 2, 1, 1, 2, 2, 2), s = rep(1:2, each = 5))
  res <- logrank_test(Surv(time, status) ~ g + strata(s), data = d, method = "exact")
  all_chisq <- brute_force_chisq(d$time, d$status, d$g, d$s)
  expect_equal(res$n_relabelings, length(all_chisq))
  expect_equal(res$p.value, mean(all_chisq >= res$chisq - 1e-10))
  d3 <- data.frame(time = c(2, 3, 5, 6, 8, 9, 12), status = c(1, 1, 0, 1, 1, 1, 0),
                   g = c(1, 2, 3, 1, 3, 2, 3))
  res3 <- logrank_test(Surv(time, status) ~ g, data = d3, method = "exact")
  all3 <- brute_force_chisq(d3$time, d3$status, d3$g)
  expect_equal(res3$n_relabelings, 210)
  expect_equal(length(all3), 210L)
  expect_equal(res3$p.value, mean(all3 >= res3$chisq - 1e-10))
})

test_that("Monte Carlo p is within binomial error of the exact p, and reproducible", {
  ex <- logrank_test(Surv(futime, fustat) ~ rx, data = ovarian[1:14, ], method = "exact")
  B <- 2000
  mc <- logrank_test(Surv(futime, fustat) ~ rx, data = ovarian[1:14, ],
                     method = "permutation", B = B, seed = 11)
  p <- ex$p.value
  expect_lt(abs(mc$p.value - p), 4 * sqrt(p * (1 - p) / B) + 1 / B)
  again <- logrank_test(Surv(futime, fustat) ~ rx, data = ovarian[1:14, ],
                        method = "permutation", B = B, seed = 11)
  expect_identical(mc$p.value, again$p.value)
  expect_equal(mc$B, B)
  # (1 + hits) / (1 + B): never zero, a multiple of 1 / (B + 1)
  expect_equal(round(mc$p.value * (B + 1)), mc$p.value * (B + 1), tolerance = 1e-9)
  expect_output(print(mc), "Monte Carlo, B = 2000")
})

test_that("the seed does not disturb the caller's random-number stream", {
  set.seed(5)
  expected <- stats::runif(1)
  set.seed(5)
  logrank_test(Surv(time, status) ~ arm, data = tiny, method = "permutation", B = 50, seed = 1)
  expect_equal(stats::runif(1), expected)
})

test_that("within-strata Monte Carlo keeps the groups' sizes in each stratum", {
  mc <- logrank_test(Surv(time, status) ~ sex + strata(ph.ecog), data = lung,
                     method = "permutation", B = 200, seed = 3)
  expect_true(mc$p.value > 0 && mc$p.value <= 1)
  expect_equal(mc$chisq, survdiff(Surv(time, status) ~ sex + strata(ph.ecog), lung)$chisq,
               tolerance = 1e-8)
  mm <- logrank_test_matrix(lung$time, lung$status, group = lung$sex, method = "permutation",
                            B = 200, seed = 3)
  expect_equal(mm$p.method, "permutation")
})

test_that("study shape: 25 versus 1, the single patient progressing at 5 months", {
  set.seed(2023)
  time <- round(c(5, runif(25, 1, 40)), 1)
  status <- c(1, rep(0, 25))
  status[1 + sample(25, 10)] <- 1  # 11 events among 26
  d <- data.frame(time = time, status = status, group = c("one", rep("rest", 25)))
  res <- logrank_test(Surv(time, status) ~ group, data = d, method = "exact")
  expect_equal(res$n_relabelings, 26)
  all_chisq <- brute_force_chisq(d$time, d$status, d$group)
  expect_equal(res$p.value, mean(all_chisq >= res$chisq - 1e-10))
  # with one patient the exact p is a multiple of 1/26 and at least 1/26
  expect_equal(res$p.value * 26, round(res$p.value * 26), tolerance = 1e-9)
  expect_gte(res$p.value, 1 / 26)
  expect_true(res$p.value > res$p.asymptotic)
})

test_that("bad input is refused", {
  expect_error(logrank_test(Surv(time, status) ~ sex, data = lung, method = "exact"),
               class = "rwe_bad_input", regexp = "permutation")
  expect_error(logrank_test(Surv(time, status) ~ sex, data = lung, method = "permutation",
                            B = 0), class = "rwe_bad_input", regexp = "B")
  expect_error(logrank_test(Surv(time, status) ~ sex, data = lung, method = "permutation",
                            B = 10.5), class = "rwe_bad_input", regexp = "B")
  expect_error(logrank_test(Surv(time, status) ~ sex, data = lung, method = "permutation",
                            seed = "a"), class = "rwe_bad_input", regexp = "seed")
  expect_error(logrank_test(Surv(time, status) ~ sex, data = lung, method = "bootstrap"),
               regexp = "must be one of", class = "rwe_bad_input")
})

test_that("the relabeling engine is the log-rank statistic of logrank_test()", {
  # relabeling 0 is the observed labeling: the engine's statistic (counting grid and
  # logrank_stat.h) must be logrank_test()'s, also with strata, rho and near-tied times
  set.seed(17)
  n <- 300
  d <- data.frame(time = round(rexp(n, 0.1), 1), status = rbinom(n, 1, 0.7),
                  g = sample(1:3, n, TRUE), s = sample(1:4, n, TRUE))
  d$time[1:5] <- 0.1 + 0.2
  d$time[6:10] <- 0.3
  for (rho in c(0, 1, 0.5)) {
    for (f in list(Surv(time, status) ~ g, Surv(time, status) ~ g + strata(s))) {
      lr <- logrank_test(f, data = d, rho = rho)
      st <- if (length(all.vars(f)) == 4L) d$s else rep(1L, n)
      time <- merge_near_ties(d$time)$time
      ord <- order(st, -time, method = "radix")
      one <- logrank_permutation_cpp(time[ord], as.integer(d$status[ord]), as.integer(d$g)[ord],
                                     as.integer(st)[ord], 3L, rho, 1L, 1, 0L, 1L)
      expect_equal(one, lr$chisq, tolerance = 1e-13)
      ref <- survdiff(f, data = d, rho = rho)
      expect_equal(one, ref$chisq, tolerance = 1e-10)
    }
  }
  # relabelings are reproducible for any number of threads
  time <- merge_near_ties(d$time)$time
  ord <- order(d$s, -time, method = "radix")
  args <- list(time[ord], as.integer(d$status[ord]), as.integer(d$g)[ord], as.integer(d$s)[ord],
               3L, 0, 64L, 5, 1L)
  expect_identical(do.call(logrank_permutation_cpp, c(args, 1L)),
                   do.call(logrank_permutation_cpp, c(args, 2L)))
})
