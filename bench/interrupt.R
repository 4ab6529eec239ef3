# Interrupt latency of cox_fit(): how long after Ctrl-C (SIGINT) a long fit gives control back.
# Not a unit test (timings). Usage, from the package root (uses the source tree via pkgload):
#   Rscript bench/interrupt.R                          # n = 5e6, p = 10, SIGINT 1 s into the fit
#   Rscript bench/interrupt.R --n=5e6 --delays=0.5,1,2,4,8 --resolution=exact --reps=1
#   Rscript bench/interrupt.R --pkg=/path/to/other/checkout   # e.g. the code before a change
#   Rscript bench/interrupt.R --full     # also times one uninterrupted fit first
# For each delay, a forked child (parallel::mcparallel) runs cox_fit() inside
# tryCatch(interrupt = ); the parent sends SIGINT `delay` seconds after the child starts the
# fit (tools::pskill) and the child records when the interrupt condition arrived. Latency =
# arrival - sending. Also reports the uninterrupted fit time (first line). The delays probe the
# phases of a fit: model frame and tie merging first, then the kernel, then the concordance.
args <- commandArgs(TRUE)
option <- function(name, default) {
  hit <- grep(paste0("^--", name, "="), args, value = TRUE)
  if (length(hit)) sub(paste0("^--", name, "="), "", hit[1]) else default
}
n <- as.numeric(option("n", "5e6"))
p <- as.integer(option("p", "10"))
delays <- as.numeric(strsplit(option("delays", "1"), ",")[[1]])
reps <- as.integer(option("reps", "1"))
resolution <- option("resolution", "day")
bench_dir <- dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])))
source(file.path(bench_dir, "sim.R"))
pkg_dir <- option("pkg", file.path(bench_dir, ".."))
suppressMessages(pkgload::load_all(pkg_dir, quiet = TRUE))

data <- simulate_cohort(n, p = p, resolution = resolution)
f <- stats::as.formula(paste("survival::Surv(time, status) ~", paste0("x", seq_len(p), collapse = " + ")))
dir <- tempfile("interrupt-"); dir.create(dir)

# One child: writes `started` (wall clock) just before the fit, `caught` when interrupted.
run_child <- function(delay) {
  started <- file.path(dir, "started")
  unlink(file.path(dir, c("started", "caught", "finished")))
  job <- parallel::mcparallel({
    writeLines(format(as.numeric(Sys.time()), digits = 15), started)
    out <- tryCatch({
      cox_fit(f, data = data)
      "finished"
    }, interrupt = function(e) "caught")
    writeLines(format(as.numeric(Sys.time()), digits = 15), file.path(dir, out))
    out
  }, silent = TRUE)
  while (!file.exists(started) || length(readLines(started)) == 0L) Sys.sleep(0.01)
  t0 <- as.numeric(readLines(started))
  sent <- NA
  if (is.finite(delay)) {
    Sys.sleep(max(0, t0 + delay - as.numeric(Sys.time())))
    sent <- as.numeric(Sys.time())
    tools::pskill(job$pid, tools::SIGINT)
  }
  parallel::mccollect(job, wait = TRUE)
  if (file.exists(file.path(dir, "caught"))) {
    return(c(delay = delay, latency = as.numeric(readLines(file.path(dir, "caught"))) - sent))
  }
  done <- as.numeric(readLines(file.path(dir, "finished")))
  c(delay = delay, latency = NA, fit_seconds = done - t0)
}

cat(sprintf("cox_fit interrupt latency | n = %g, p = %d, %s times | %d cores\n", n, p,
            resolution, parallel::detectCores()))
if (any(args == "--full")) {  # the uninterrupted fit time, for reference (slow)
  full <- run_child(Inf)
  cat(sprintf("uninterrupted fit: %.2f s\n", full[["fit_seconds"]]))
}
for (d in delays) {
  for (r in seq_len(reps)) {
    res <- run_child(d)
    if (is.na(res[["latency"]])) {
      cat(sprintf("SIGINT at %4.1f s: not caught (fit finished first)\n", d))
    } else {
      cat(sprintf("SIGINT at %4.1f s: interrupted after %.3f s\n", d, res[["latency"]]))
    }
  }
}
