# Bootstrap engine vs a loop of survival calls on the same resamples.
#   Rscript bench/resample.R [--B=1000] [--n=200] [--lib=PATH]
# Cox: cox_bootstrap() (B refits, C++) vs a loop of coxph() on data[idx[, b], ] with the very
# indices the engine drew (resample_indices()); KM: km_bootstrap() vs a loop of survfit() +
# summary(rmean =) on the same indices; permutation log-rank: logrank_test(method =
# "permutation") vs a loop of survdiff() on random relabelings. Prints elapsed times, the
# ratio and whether the answers agree (replicates to 1e-6; for the permutation test, the same
# chi-square and p-values within Monte Carlo error).
args <- commandArgs(trailingOnly = TRUE)
opt <- function(name, default) {
  hit <- grep(paste0("^--", name, "="), args, value = TRUE)
  if (length(hit)) sub(paste0("^--", name, "="), "", hit[1L]) else default
}
B <- as.integer(opt("B", 1000))
n <- as.integer(opt("n", 200))
lib <- opt("lib", NA)
if (!is.na(lib)) .libPaths(c(lib, .libPaths()))
suppressPackageStartupMessages({ library(rwecohort); library(survival) })
set.seed(1)
d <- data.frame(time = ceiling(rexp(n, 1 / 300)), status = rbinom(n, 1, 0.65),
                x1 = rnorm(n), x2 = rnorm(n), g = factor(sample(c("a", "b", "c"), n, TRUE)))
f <- Surv(time, status) ~ x1 + x2 + g
fit <- cox_fit(f, data = d)
idx <- resample_indices(n, B, seed = 42)
time_of <- function(expr) unname(system.time(expr)[["elapsed"]])
# relative difference below 1e-6 (NA replicates must be NA in both)
agree <- function(a, b) {
  a <- as.vector(a)
  b <- as.vector(b)
  same_na <- length(a) == length(b) && all(is.na(a) == is.na(b))
  same_na && max(c(0, abs(a - b)[!is.na(a)] / pmax(abs(b[!is.na(b)]), 1e-12))) < 1e-6
}
row <- function(label, ours, theirs, what, ok, note = "") {
  cat(sprintf("%-44s %9.3f s %9.3f s %7.0fx %6s  %s%s\n", label, ours, theirs, theirs / ours, ok,
              what, note))
}
cat(sprintf("%-44s %11s %11s %8s %6s\n", "resampling case", "rwecohort", "survival", "ratio",
            "agree"))
for (threads in c(1L, 2L)) {
  t_boot <- time_of(bt <- cox_bootstrap(fit, B = B, seed = 42, threads = threads))
  if (threads == 1L) {
    t_loop <- time_of(ref <- vapply(seq_len(B), function(b)
      coef(coxph(f, data = d[idx[, b], ])), numeric(4)))
  }
  row(sprintf("cox_bootstrap n=%d B=%d threads=%d", n, B, threads), t_boot, t_loop,
      "vs a coxph() loop on the same resamples", agree(t(bt$replicates), ref),
      sprintf(" (max |diff| %.1e)", max(abs(t(bt$replicates) - ref), na.rm = TRUE)))
}
t_km <- time_of(kb <- km_bootstrap(Surv(time, status) ~ g, data = d, B = B, seed = 42, tau = 300,
                                   threads = 1L))
t_km_loop <- time_of(km_ref <- vapply(seq_len(B), function(b) {
  tab <- summary(survfit(Surv(time, status) ~ g, data = d[idx[, b], ]), rmean = 300)$table
  c(tab[, "median"], tab[, "rmean"])
}, numeric(6)))
row(sprintf("km_bootstrap n=%d B=%d threads=1", n, B), t_km, t_km_loop,
    "median + RMST of 3 groups vs a survfit() loop", agree(kb$replicates, t(unname(km_ref))))
# Permutation log-rank: the engine's relabelings are drawn in C++ (not exposed), so the loop
# draws its own; the chi-square must be equal and the p-values equal within Monte Carlo error.
t_perm <- time_of(lp <- logrank_test(Surv(time, status) ~ g, data = d, method = "permutation",
                                     B = B, seed = 42))
set.seed(42)
t_perm_loop <- time_of(perm_ref <- vapply(seq_len(B), function(b)
  survdiff(Surv(time, status) ~ sample(g), data = d)$chisq, numeric(1)))
observed <- survdiff(Surv(time, status) ~ g, data = d)$chisq
p_loop <- (1 + sum(perm_ref >= observed - 1e-8 * observed)) / (1 + B)
mc_error <- 4 * sqrt(p_loop * (1 - p_loop) / B) + 2 / B
row(sprintf("logrank permutation n=%d B=%d", n, B), t_perm, t_perm_loop,
    "vs a survdiff() loop of relabelings",
    abs(lp$chisq - observed) < 1e-8 * observed && abs(lp$p.value - p_loop) <= mc_error,
    sprintf(" (p %.4f vs %.4f)", lp$p.value, p_loop))
