# Runs one engine on one benchmark case in a fresh R process, so that its peak memory is its
# own. Usage: Rscript bench/child.R JOB.rds   (JOB written by bench/run.R)
# Writes JOB$out: list(seconds = per-run times, peak_mb = peak resident memory above the
# resident size after loading the data, answer = the numbers compared across engines).
suppressPackageStartupMessages({
  library(survival)
  library(rwecohort)
})
job <- readRDS(commandArgs(TRUE)[1])
case <- job$case
data <- readRDS(job$data_path)

proc_kb <- function(field) {
  line <- grep(paste0("^", field, ":"), readLines("/proc/self/status"), value = TRUE)
  as.numeric(gsub("[^0-9]", "", line))
}
reset_peak <- function() {
  # Linux: writing 5 to clear_refs resets the peak resident set size (VmHWM) of this process.
  ok <- tryCatch({ writeLines("5", "/proc/self/clear_refs"); TRUE }, error = function(e) FALSE)
  if (!ok) warning("cannot reset VmHWM; peak memory includes data loading")
}

# rwecohort's Cox kernel uses cox_control()'s default thread count (2) unless the case sets one.
control <- if (is.null(case$threads)) cox_control() else cox_control(threads = case$threads)

cox_formula <- function(case) {
  lhs <- if (case$counting) "Surv(start, stop, status)" else "Surv(time, status)"
  rhs <- paste0("x", seq_len(case$p))
  if (case$strata > 0) rhs <- c(rhs, "strata(s)")
  stats::as.formula(paste(lhs, "~", paste(rhs, collapse = " + ")))
}
group_formula <- function(case) {
  rhs <- if (case$groups > 0) "g" else "1"
  if (case$strata > 0) rhs <- paste(rhs, "+ strata(s)")
  stats::as.formula(paste("Surv(time, status) ~", rhs))
}

# Each runner returns the numbers that must agree between the engines.
runners <- list(
  cox = function(engine) {
    f <- cox_formula(case)
    if (engine == "survival") {
      fit <- if (case$robust) coxph(f, data, ties = case$ties, robust = TRUE)
             else coxph(f, data, ties = case$ties)
      c(coef(fit), sqrt(diag(vcov(fit))), concordance = unname(fit$concordance["concordance"]))
    } else {
      fit <- cox_fit(f, data, ties = case$ties, robust = case$robust, control = control)
      c(coef(fit), sqrt(diag(vcov(fit))), concordance = unname(fit$concordance["concordance"]))
    }
  },
  cox_kernel = function(engine) {
    x <- prepared$x; y <- prepared$y; strata <- prepared$strata
    if (engine == "survival") {
      ctrl <- coxph.control()
      fit <- if (case$counting) {
        survival::agreg.fit(x, y, strata, offset = NULL, init = NULL, control = ctrl,
                            weights = NULL, method = case$ties, rownames = NULL)
      } else {
        survival::coxph.fit(x, y, strata, offset = NULL, init = NULL, control = ctrl,
                            weights = NULL, method = case$ties, rownames = NULL)
      }
      fit$coefficients
    } else {
      coef(cox_fit_matrix(x, y, strata = strata, ties = case$ties, concordance = FALSE,
                          control = control))
    }
  },
  # Data split over 3 partitions resident on 2 localhost workers (loaded before timing, as in
  # production where data stay on the workers); survival fits the pooled model matrix.
  cox_sites = function(engine) {
    if (engine == "survival") {
      survival::coxph.fit(prepared$x, prepared$y, NULL, offset = NULL, init = NULL,
                          control = coxph.control(), weights = NULL, method = case$ties,
                          rownames = NULL)$coefficients
    } else {
      coef(partitioned_cox_fit(cox_formula(case), prepared$partitions, ties = case$ties))
    }
  },
  km = function(engine) {
    f <- group_formula(case)
    if (engine == "survival") survfit(f, data)$surv else km_fit(f, data)$curves$surv
  },
  logrank = function(engine) {
    f <- group_formula(case)
    if (engine == "survival") survdiff(f, data)$chisq else logrank_test(f, data)$chisq
  }
)

# Small cohorts (the per-call cost, issue 16): one call takes well under the clock's
# resolution and the machine may be busy, so both engines run in this one process, interleaved
# (a round of `inner` calls of one, then of the other), timed in CPU seconds (user + system),
# after a warm-up of both (byte-code compilation, lazy loading, rwecohort's first call with a
# formula, which also checks its lean model-frame plan). Only the fitting call is timed: the
# numbers compared across engines are extracted once, afterwards. Returns per-call seconds
# of each round for each engine.
time_small_case <- function(case, reps, inner = 200L) {
  engines <- c("rwecohort", "survival")
  fits <- lapply(stats::setNames(engines, engines), function(e) small_case_call(case, e))
  for (w in 1:20) for (e in engines) fits[[e]]()
  cpu <- function() sum(proc.time()[c("user.self", "sys.self")])
  seconds <- matrix(NA_real_, reps, 2L, dimnames = list(NULL, engines))
  for (i in seq_len(reps)) {
    for (e in if (i %% 2L) engines else rev(engines)) {
      f <- fits[[e]]
      t0 <- cpu()
      for (j in seq_len(inner)) f()
      seconds[i, e] <- (cpu() - t0) / inner
    }
  }
  lapply(stats::setNames(engines, engines), function(e) {
    list(seconds = seconds[, e], peak_mb = NA_real_, answer = unname(run(e)))
  })
}

# The bare fitting call of a small case, as a function of no arguments.
small_case_call <- function(case, engine) {
  cox <- case$kind == "cox"
  f <- if (cox) cox_formula(case) else group_formula(case)
  d <- data
  switch(paste(case$kind, engine),
         "cox rwecohort" = function() cox_fit(f, d, ties = case$ties, control = control),
         "cox survival" = function() coxph(f, d, ties = case$ties),
         "km rwecohort" = function() km_fit(f, d),
         "km survival" = function() survfit(f, d),
         "logrank rwecohort" = function() logrank_test(f, d),
         "logrank survival" = function() survdiff(f, d))
}

prepared <- NULL
if (case$kind == "cox_kernel") {
  x <- as.matrix(data[paste0("x", seq_len(case$p))])
  y <- if (case$counting) Surv(data$start, data$stop, data$status) else Surv(data$time, data$status)
  prepared <- list(x = x, y = y, strata = if (case$strata > 0) data$s else NULL)
}
if (case$kind == "cox_sites") {
  prepared <- list(x = as.matrix(data[paste0("x", seq_len(case$p))]),
                   y = Surv(data$time, data$status))
  if (job$engine == "rwecohort") {
    cl <- parallelly::makeClusterPSOCK(2L, autoStop = TRUE)
    prepared$partitions <- cohort_partitions(split(data, rep_len(1:3, nrow(data))), cl)
  }
}
run <- runners[[case$kind]]
if (job$engine == "both") {
  saveRDS(time_small_case(case, job$reps), job$out)
  quit(save = "no")
}
invisible(gc(full = TRUE))
baseline_kb <- proc_kb("VmRSS")
reset_peak()
seconds <- numeric(job$reps)
answer <- NULL
for (i in seq_len(job$reps)) {
  t0 <- proc.time()[["elapsed"]]
  answer <- run(job$engine)
  seconds[i] <- proc.time()[["elapsed"]] - t0
}
peak_mb <- (proc_kb("VmHWM") - baseline_kb) / 1024
saveRDS(list(seconds = seconds, peak_mb = peak_mb, answer = unname(answer)), job$out)
