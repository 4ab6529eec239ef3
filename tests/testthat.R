# Runs the testthat suite and ends with one line of totals ("N passed, N failed[, N skipped]")
# so that a run which executed no test is visible in CI logs.
library(testthat)
library(rwecohort)

results <- as.data.frame(test_check("rwecohort", stop_on_failure = FALSE,
                                    reporter = ProgressReporter$new(show_praise = FALSE)))
n_failed <- sum(results$failed) + sum(results$error)
n_skipped <- sum(results$skipped)
totals <- sprintf("%d passed, %d failed%s", sum(results$passed), n_failed,
                  if (n_skipped > 0) sprintf(", %d skipped", n_skipped) else "")
writeLines(totals, "testthat-totals.txt")
cat("\n", totals, "\n", sep = "")
if (n_failed > 0 || nrow(results) == 0) stop("testthat: ", totals)
