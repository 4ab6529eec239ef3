# Memory at 10^7 rows (issue 16, item 3): cox_fit(Surv(time, status) ~ ., d) on n rows x p
# covariates (default 10^7 x 10, a data frame of 0.88 GB) against coxph() on the same data.
#   Rscript bench/memory.R [--n=1e7] [--p=10] [--no-survival] [--lib=PATH]
# Each engine runs in its own R process (this script with --child=JOB.rds), which simulates
# the data (bench/sim.R, same seed for both), measures its resident size after loading them,
# resets the peak (VmHWM, through /proc/self/clear_refs) and fits. Reported per engine: the
# data frame's size, the fit's elapsed time, the peak resident memory above the loaded data
# (VmHWM minus VmRSS before the fit) and object.size() of the returned fit (coxph's default
# x = FALSE, y = TRUE; ours the same since the slim fit). Targets: peak above the data
# <= 1.5x the data frame, fit object <= the data frame.
args <- commandArgs(TRUE)
opt <- function(name, default) {
  hit <- grep(paste0("^--", name, "="), args, value = TRUE)
  if (length(hit)) sub(paste0("^--", name, "="), "", hit[1L]) else default
}
bench_dir <- dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE),
                                                            value = TRUE)[1L])))
lib <- opt("lib", NA)
if (!is.na(lib)) .libPaths(c(lib, .libPaths()))

proc_kb <- function(field) {
  line <- grep(paste0("^", field, ":"), readLines("/proc/self/status"), value = TRUE)
  as.numeric(gsub("[^0-9]", "", line))
}

# ---- child: one engine, one fit ---------------------------------------------------------------
memory_child <- function(job) {
  suppressPackageStartupMessages({ library(survival); library(rwecohort) })
  source(file.path(bench_dir, "sim.R"))
  d <- simulate_cohort(job$n, p = job$p)
  data_mb <- as.numeric(utils::object.size(d)) / 2^20
  f <- Surv(time, status) ~ .
  invisible(gc(full = TRUE))
  baseline_kb <- proc_kb("VmRSS")
  reset <- tryCatch({ writeLines("5", "/proc/self/clear_refs"); TRUE }, error = function(e) FALSE)
  t0 <- proc.time()[["elapsed"]]
  fit <- if (job$engine == "survival") coxph(f, data = d) else cox_fit(f, data = d)
  seconds <- proc.time()[["elapsed"]] - t0
  peak_mb <- (proc_kb("VmHWM") - baseline_kb) / 1024
  object_mb <- as.numeric(utils::object.size(fit)) / 2^20
  answer <- c(coef(fit), sqrt(diag(stats::vcov(fit))), unname(fit$concordance["concordance"]))
  saveRDS(list(seconds = seconds, peak_mb = peak_mb, object_mb = object_mb, data_mb = data_mb,
               answer = unname(answer), peak_reset = reset), job$out)
}

# ---- parent: both engines, one line each and the targets ---------------------------------------
run_memory_engine <- function(engine, n, p, dir) {
  job <- list(engine = engine, n = n, p = p, out = tempfile(tmpdir = dir, fileext = ".rds"))
  job_file <- tempfile(tmpdir = dir, fileext = ".rds")
  saveRDS(job, job_file)
  child_args <- c(file.path(bench_dir, "memory.R"), paste0("--child=", job_file),
                  if (!is.na(lib)) paste0("--lib=", lib))
  status <- system2(file.path(R.home("bin"), "Rscript"), child_args)
  if (status != 0 || !file.exists(job$out)) return(NULL)
  readRDS(job$out)
}

memory_report <- function(n, p, survival = TRUE) {
  dir <- tempfile("rwecohort-memory-")
  dir.create(dir)
  on.exit(unlink(dir, recursive = TRUE))
  engines <- c("rwecohort", if (survival) "survival")
  res <- lapply(stats::setNames(engines, engines), run_memory_engine, n = n, p = p, dir = dir)
  rwe <- res$rwecohort
  surv <- res$survival
  agree <- if (is.null(rwe) || is.null(surv)) NA else
    max(abs(rwe$answer - surv$answer) / pmax(abs(surv$answer), 1e-12)) < 1e-6
  cat(sprintf("%-28s %8s %10s %10s %9s %12s %12s %6s\n", "memory case", "engine", "data MB",
              "fit (s)", "ratio", "peak>data MB", "object MB", "agree"))
  label <- sprintf("memory cox n=%s p=%d", format(n, scientific = TRUE), p)
  line <- function(r, engine, ratio) {
    if (is.null(r)) return(cat(sprintf("%-28s %8s   failed\n", label, engine)))
    cat(sprintf("%-28s %8s %10.0f %10.2f %9s %8.0f (%.2fx) %7.0f (%.2fx) %6s\n", label, engine,
                r$data_mb, r$seconds, ratio, r$peak_mb, r$peak_mb / r$data_mb, r$object_mb,
                r$object_mb / r$data_mb, agree))
  }
  ratio <- if (!is.null(rwe) && !is.null(surv)) sprintf("%.1f", surv$seconds / rwe$seconds) else ""
  line(rwe, "rwe", ratio)
  if (survival) line(surv, "survival", "")
  if (!is.null(rwe)) {
    if (!isTRUE(rwe$peak_reset)) cat("  (VmHWM could not be reset: the peak includes the data loading)\n")
    verdict <- function(ok) if (ok) "met" else "NOT met"
    cat(sprintf("targets: peak above the data %.0f MB = %.2fx the data frame (target <= 1.5x: %s); fit object %.0f MB = %.2fx the data (target <= 1x: %s)\n",
                rwe$peak_mb, rwe$peak_mb / rwe$data_mb, verdict(rwe$peak_mb <= 1.5 * rwe$data_mb),
                rwe$object_mb, rwe$object_mb / rwe$data_mb,
                verdict(rwe$object_mb <= rwe$data_mb)))
  }
  invisible(res)
}

child_job <- opt("child", NA)
if (!is.na(child_job)) {
  memory_child(readRDS(child_job))
} else {
  memory_report(as.numeric(opt("n", "1e7")), as.integer(opt("p", "10")),
                survival = !any(args == "--no-survival"))
}
