# rwecohort vs survival, side by side: times (median of several runs), ratio, peak memory.
# Usage (from the package root, with rwecohort installed: `make install`):
#   Rscript bench/run.R                 # the standard case table (about 10 minutes)
#   Rscript bench/run.R --quick         # n = 1e4 and 1e5 only (about a minute)
#   Rscript bench/run.R --with-1e7      # adds Cox Efron p = 10 at n = 1e7 (rwecohort only)
#   Rscript bench/run.R --reps=5 --only=km,logrank
#   Rscript bench/run.R --small         # only the small-cohort cases (n = 200 and 31): both
#                                       # engines interleaved in one process, CPU seconds per
#                                       # call, median of >= 7 rounds of 200 calls
#   Rscript bench/run.R --memory        # only the 10^7-row memory case (bench/memory.R)
#   Rscript bench/run.R --only=resample # only the resampling rows (bench/resample.R)
# After the case table the default run prints the resampling rows (B = 1000 at n = 200; 100
# with --quick) and the memory row (10^7 x 10, cox_fit vs coxph; 10^5 with --quick;
# --memory-n=N to change, --no-survival to skip coxph there).
# Each engine runs in its own R process (bench/child.R) on the same simulated data set, so
# its peak memory is its own. A line per case; the last line summarises the ratios.
args <- commandArgs(TRUE)
flag <- function(name) any(args == paste0("--", name))
option <- function(name, default) {
  hit <- grep(paste0("^--", name, "="), args, value = TRUE)
  if (length(hit)) sub(paste0("^--", name, "="), "", hit[1]) else default
}
bench_dir <- dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])))
source(file.path(bench_dir, "sim.R"))
reps <- as.integer(option("reps", "3"))
only <- strsplit(option("only", ""), ",")[[1]]

case <- function(kind, n, p = 10, ties = "efron", strata = 0, groups = 0, counting = FALSE,
                 robust = FALSE, threads = NULL, engines = c("rwecohort", "survival")) {
  list(kind = kind, n = n, p = p, ties = ties, strata = strata, groups = groups,
       counting = counting, robust = robust, threads = threads, engines = engines)
}
standard_cases <- function() {
  list(
    case("cox", 1e4), case("cox", 1e5), case("cox", 1e6),
    case("cox_kernel", 1e6), case("cox", 1e6, threads = 1), case("cox_kernel", 1e6, threads = 1),
    case("cox", 1e6, p = 1), case("cox", 1e5, p = 50),
    case("cox", 1e6, ties = "breslow"), case("cox_kernel", 1e6, ties = "breslow"),
    case("cox", 1e6, strata = 20), case("cox", 1e5, counting = TRUE),
    case("cox_kernel", 1e6, counting = TRUE), case("cox", 1e5, robust = TRUE),
    case("km", 1e6, p = 0), case("km", 1e6, p = 0, groups = 5),
    case("logrank", 1e6, p = 0, groups = 2), case("logrank", 1e6, p = 0, groups = 5),
    case("logrank", 1e6, p = 0, groups = 5, strata = 20),
    case("cox_sites", 1e6),
    # small cohorts, where the fixed cost of a call dominates (each timing repeats the call)
    case("cox", 200, p = 3), case("km", 200, p = 0, groups = 3),
    case("logrank", 200, p = 0, groups = 3),
    case("cox", 31, p = 3), case("km", 31, p = 0, groups = 3), case("logrank", 31, p = 0, groups = 3)
  )
}
cases <- standard_cases()
if (flag("quick")) cases <- Filter(function(k) k$n <= 1e5, lapply(cases, function(k) { k$n <- min(k$n, 1e5); k }))
if (flag("with-1e7")) cases <- c(cases, list(case("cox", 1e7, engines = "rwecohort")))
if (flag("small")) cases <- Filter(function(k) k$n <= 1000, cases)
if (length(only)) cases <- Filter(function(k) k$kind %in% only, cases)
if (flag("memory")) cases <- list()

# Small cohorts: both engines in one process, interleaved, CPU time, at least 7 rounds of 200
# calls each (bench/child.R, time_small_case()).
small_case <- function(k) k$n <= 1000 && k$kind %in% c("cox", "km", "logrank")

describe <- function(k) {
  extra <- c(if (k$kind %in% c("cox", "cox_kernel", "cox_sites")) c(k$ties, sprintf("p=%d", k$p)),
             if (k$groups > 0) sprintf("groups=%d", k$groups),
             if (k$strata > 0) sprintf("strata=%d", k$strata),
             if (k$counting) "counting", if (k$robust) "robust",
             if (!is.null(k$threads)) sprintf("threads=%d", k$threads))
  sprintf("%-10s n=%-8s %s", k$kind, format(k$n, scientific = TRUE), paste(extra, collapse = " "))
}

data_path <- function(k, dir) {
  key <- sprintf("n%g_p%d_g%d_s%d_c%d", k$n, k$p, k$groups, k$strata, k$counting)
  path <- file.path(dir, paste0(key, ".rds"))
  if (!file.exists(path)) {
    d <- simulate_cohort(k$n, p = k$p, groups = k$groups, strata = k$strata, counting = k$counting)
    saveRDS(d, path, compress = FALSE)
  }
  path
}

run_engine <- function(k, engine, path, dir) {
  job <- list(case = k, engine = engine, data_path = path,
              reps = if (engine == "both") max(reps, 7L) else reps,
              out = tempfile(tmpdir = dir, fileext = ".rds"))
  job_file <- tempfile(tmpdir = dir, fileext = ".rds")
  saveRDS(job, job_file)
  status <- system2(file.path(R.home("bin"), "Rscript"), c(file.path(bench_dir, "child.R"), job_file))
  if (status != 0 || !file.exists(job$out)) return(NULL)
  readRDS(job$out)
}

agree <- function(a, b) {
  if (is.null(a) || is.null(b)) return(NA)
  if (length(a$answer) != length(b$answer)) return(FALSE)
  max(abs(a$answer - b$answer) / pmax(abs(b$answer), 1e-12)) < 1e-6
}

dir <- tempfile("rwecohort-bench-"); dir.create(dir)
cat(sprintf("rwecohort %s vs survival %s | R %s | %d cores | %s | median of %d runs\n",
            utils::packageVersion("rwecohort"), utils::packageVersion("survival"),
            getRversion(), parallel::detectCores(), Sys.time(), reps))
load <- tryCatch(readLines("/proc/loadavg", n = 1L), error = function(e) "unknown")
cat(sprintf("load average at start: %s (small cases: CPU s per call, median of >= 7 rounds)\n", load))
cat(sprintf("%-48s %10s %10s %8s %10s %10s %6s\n", "case", "rwe (s)", "surv (s)", "ratio",
            "rwe MB", "surv MB", "agree"))
ratios <- numeric()
for (k in cases) {
  path <- data_path(k, dir)
  res <- if (small_case(k)) run_engine(k, "both", path, dir)
         else lapply(stats::setNames(k$engines, k$engines), run_engine, k = k, path = path, dir = dir)
  med <- function(r) if (is.null(r)) NA else stats::median(r$seconds)
  mb <- function(r) if (is.null(r)) NA else r$peak_mb
  ratio <- med(res$survival) / med(res$rwecohort)
  if (!is.na(ratio)) ratios[describe(k)] <- ratio
  cat(sprintf("%-48s %10.4g %10.4g %8.1f %10.0f %10.0f %6s   (data %.0f MB)\n", describe(k),
              med(res$rwecohort), med(res$survival), ratio, mb(res$rwecohort), mb(res$survival),
              agree(res$rwecohort, res$survival), file.size(path) / 2^20))
}
if (length(ratios)) cat(sprintf("summary: %d cases, speed-up over survival: geometric mean %.1fx, min %.1fx (%s), max %.1fx\n",
            length(ratios), exp(mean(log(ratios))), min(ratios), names(which.min(ratios)), max(ratios)))
unlink(dir, recursive = TRUE)

# ---- resampling and memory sections (issue 16), each in its own R process -------------------
sections <- c("resample", "memory")
if (length(only)) sections <- intersect(sections, only)
if (flag("small")) sections <- character()
if (flag("memory")) sections <- "memory"
rscript <- file.path(R.home("bin"), "Rscript")
if ("resample" %in% sections) {
  cat("\n")
  system2(rscript, c(file.path(bench_dir, "resample.R"),
                     paste0("--B=", if (flag("quick")) 100 else 1000)))
}
if ("memory" %in% sections) {
  cat("\n")
  system2(rscript, c(file.path(bench_dir, "memory.R"),
                     paste0("--n=", option("memory-n", if (flag("quick")) "1e5" else "1e7")),
                     if (flag("no-survival")) "--no-survival"))
}
