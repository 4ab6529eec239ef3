# The comparative-effectiveness pipeline at n = 10^4 with 200 bootstrap replicates:
# ps_weights() (glm), then ps_survival() (weighted KM and Cox with robust SEs, RMST,
# IPW and g-formula curves), with every replicate re-estimating the propensity model.
# Usage (from the package root): Rscript bench/ps.R [--n=10000] [--B=200]
# Uses the installed package, or the source tree through pkgload when run inside it.
args <- commandArgs(TRUE)
option <- function(name, default) {
  hit <- grep(paste0("^--", name, "="), args, value = TRUE)
  if (length(hit)) as.numeric(sub(paste0("^--", name, "="), "", hit[1])) else default
}
n <- option("n", 1e4)
B <- option("B", 200)
if (file.exists("DESCRIPTION") && requireNamespace("pkgload", quietly = TRUE)) {
  pkgload::load_all(quiet = TRUE)
} else {
  library(rwecohort)
}

# Registry-like cohort: treatment more likely for the young and node-positive, a confounded
# exponential outcome with about 50% events, day-resolution times.
set.seed(20261204)
d <- data.frame(age = round(stats::rnorm(n, 60, 10)), nodes = stats::rpois(n, 2),
                grade = factor(sample(1:3, n, TRUE)), er = stats::rexp(n, 1 / 100))
lp <- -1 - 0.05 * (d$age - 60) + 0.3 * d$nodes - 0.003 * d$er
d$treated <- stats::rbinom(n, 1, stats::plogis(lp))
haz <- 1e-4 * exp(0.03 * (d$age - 60) + 0.15 * d$nodes - 0.3 * d$treated)
event <- stats::rexp(n, haz)
censor <- stats::runif(n, 1000, 8000)
d$time <- pmax(1, round(pmin(event, censor)))
d$status <- as.integer(event <= censor)

t0 <- proc.time()[["elapsed"]]
ps <- ps_weights(d, "treated", ~ age + nodes + grade + er, estimand = "ATE",
                 stabilize = TRUE)
res <- ps_survival(ps, "time", "status", times = c(1000, 2000, 3000), bootstrap = B,
                   seed = 1)
elapsed <- proc.time()[["elapsed"]] - t0
cat(sprintf("n = %d, bootstrap B = %d: %.1f s (%.3f s per replicate), %d failed replicates\n",
            as.integer(n), as.integer(B), elapsed, elapsed / max(B, 1), res$failed))
print(res$hr)
