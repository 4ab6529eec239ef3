# Bootstrap engine vs a loop of survival calls on the same resamples.
#   Rscript bench/resample.R [--B=1000] [--n=200] [--lib=PATH]
# Cox: cox_bootstrap() (B refits, C++) vs a loop of coxph() on data[idx[, b], ] with the very
# indices the engine drew (resample_indices()); KM: km_bootstrap() vs a loop of survfit() +
# summary(rmean =). Prints elapsed times, the ratio and the largest coefficient difference.
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
for (threads in c(1L, 2L)) {
  t_boot <- time_of(bt <- cox_bootstrap(fit, B = B, seed = 42, threads = threads))
  if (threads == 1L) {
    t_loop <- time_of(ref <- vapply(seq_len(B), function(b)
      coef(coxph(f, data = d[idx[, b], ])), numeric(4)))
  }
  cat(sprintf("cox  n=%d B=%d threads=%d: cox_bootstrap %.3f s, coxph loop %.3f s, ratio %.0fx, max |diff| %.1e\n",
              n, B, threads, t_boot, t_loop, t_loop / t_boot,
              max(abs(t(bt$replicates) - ref), na.rm = TRUE)))
}
t_km <- time_of(kb <- km_bootstrap(Surv(time, status) ~ g, data = d, B = B, seed = 42, tau = 300,
                                   threads = 1L))
t_km_loop <- time_of(for (b in seq_len(B)) {
  summary(survfit(Surv(time, status) ~ g, data = d[idx[, b], ]), rmean = 300)$table
})
cat(sprintf("km   n=%d B=%d threads=1: km_bootstrap %.3f s, survfit loop %.3f s, ratio %.0fx\n",
            n, B, t_km, t_km_loop, t_km_loop / t_km))
