# A small seeded slice of the differential fuzzer (tests/fuzz/): random and adversarial inputs
# for every engine, each compared with survival (or coxphf). The long run is
# `Rscript tests/fuzz/fuzz.R --cases 2000 --seed 1` (see tests/fuzz/README.md); here the cases
# run in this process, so a crash would fail the whole test run.
library(survival)

fuzz_lib <- testthat::test_path("..", "fuzz", "fuzz-lib.R")

# Inputs left out of the slice: big_n only costs time. Drop an entry once it is cheap, so the
# slice covers it again. (Engines can be listed too, for bugs being fixed elsewhere.)
fuzz_known <- list(perturbations = "big_n", engines = character())

fuzz_slice <- function(env, seed, n_cases) {
  specs <- list()
  id <- 0L
  while (length(specs) < n_cases) {
    id <- id + 1L
    spec <- env$fuzz_case(seed, id)
    if (spec$engine %in% fuzz_known$engines ||
        any(spec$perturbations %in% fuzz_known$perturbations)) next
    specs[[length(specs) + 1L]] <- spec
  }
  specs
}

test_that("a seeded fuzz slice has no disagreement, crash or unclassed error", {
  skip_if_not(file.exists(fuzz_lib), "tests/fuzz is not available")
  env <- new.env(parent = environment())
  sys.source(fuzz_lib, envir = env)
  specs <- fuzz_slice(env, seed = 7L, n_cases = 60L)
  outcomes <- vapply(specs, function(s) env$fuzz_run(s)$outcome, character(1))
  engines <- vapply(specs, `[[`, character(1), "engine")
  # Every engine is exercised, and many cases give an answer compared with survival's (the
  # adversarial inputs make the rest refusals, non-reference runs or unstable fits).
  expect_setequal(unique(engines), setdiff(env$fuzz_engines, fuzz_known$engines))
  expect_gt(mean(outcomes == "agree"), 0.4)
  bad <- which(outcomes %in% c("disagreement", "unclassed_error"))
  expect_equal(vapply(specs[bad], function(s) sprintf("case %d (%s)", s$id, s$engine), ""),
               character(0))
})

test_that("the fuzz comparisons can fail", {
  skip_if_not(file.exists(fuzz_lib), "tests/fuzz is not available")
  env <- new.env(parent = environment())
  sys.source(fuzz_lib, envir = env)
  expect_null(env$near("x", c(1, 2, NA), c(1 + 1e-12, 2, NA)))
  expect_match(env$near("x", c(1, 2), c(1, 2.001)), "Mean relative difference")
  expect_match(env$near("x", c(1, NA), c(1, 2)), "non-finite")
  expect_null(env$near("x", c(1, Inf), c(1, NaN)))
  # A wrong answer is a disagreement, an unclassed error is reported as such.
  spec <- env$fuzz_case(1L, 1L, "cox")
  spec$data <- survival::lung[, c("time", "status", "age", "sex")]
  names(spec$data) <- c("time", "status", "x1", "x2")
  spec$data$status <- spec$data$status - 1
  spec[c("covariates", "strata", "weights", "offset", "counting")] <-
    list(c("x1", "x2"), FALSE, FALSE, FALSE, FALSE)
  expect_equal(env$fuzz_run(spec)$outcome, "agree")
  wrong <- spec
  wrong$engine <- "wrong"
  env$fuzz_calls_wrong <- function(spec) {
    calls <- env$fuzz_calls_cox(spec)
    calls$ours <- sub("x1 + x2", "x1 + I(x2 + 0.01 * x1)", calls$ours, fixed = TRUE)
    calls
  }
  expect_equal(env$fuzz_run(wrong)$outcome, "disagreement")
  env$fuzz_calls_wrong <- function(spec) list(ours = "stop('boom')", ref = "1", compare = NULL)
  expect_equal(env$fuzz_run(wrong)$outcome, "unclassed_error")
})
