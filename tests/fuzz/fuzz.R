# Long-running differential fuzzer driver (NOT run by R CMD check: only tests/*.R at the top
# level of tests/ are run; tests/testthat/test-fuzz.R runs a small slice instead).
#
#   Rscript tests/fuzz/fuzz.R --cases 2000 --seed 1 [--from 1] [--engine cox] [--batch 40]
#                             [--timeout 30] [--out tests/fuzz/out] [--installed]
#
# Cases run in forked child processes (parallel::mcparallel), a batch of cases per child. The
# child appends "start" and "done" lines to a progress file; when a child dies (segfault,
# abort) the case that started but did not finish is recorded as a crash, and when no
# progress is seen for --timeout seconds the child is killed and the case recorded as a hang.
# Either way the next batch resumes after that case. See tests/fuzz/README.md.

fuzz_args <- function(argv) {
  opts <- list(cases = 2000L, from = 1L, seed = 1L, engine = NULL, batch = 40L, timeout = 30,
               out = NULL, installed = FALSE)
  i <- 1L
  while (i <= length(argv)) {
    key <- sub("^--", "", argv[i])
    if (key == "installed") { opts$installed <- TRUE; i <- i + 1L; next }
    if (!key %in% names(opts) || i == length(argv)) stop("unknown or incomplete option: ", argv[i])
    val <- argv[i + 1L]
    opts[[key]] <- switch(key, engine = , out = val, timeout = as.numeric(val), as.integer(val))
    i <- i + 2L
  }
  opts
}

script_dir <- function() {
  file_arg <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  if (length(file_arg)) dirname(normalizePath(sub("^--file=", "", file_arg[1L]))) else getwd()
}

one_line <- function(x) gsub("[\t\r\n]+", " ", x)

# Runs ids[from..] in one forked child; returns the ids finished and what stopped the child.
run_batch <- function(ids, seed, engine, timeout, progress) {
  unlink(progress)
  job <- parallel::mcparallel({
    for (id in ids) {
      cat(id, "\tstart\n", file = progress, append = TRUE, sep = "")
      t0 <- proc.time()[["elapsed"]]
      res <- fuzz_run(fuzz_case(seed, id, engine))
      cat(id, "\tdone\t", res$outcome, "\t", round(proc.time()[["elapsed"]] - t0, 3), "\t",
          substr(one_line(res$detail), 1L, 400L), "\n", file = progress, append = TRUE, sep = "")
    }
    TRUE
  }, silent = TRUE)
  last_change <- Sys.time()
  last_size <- -1
  status <- "finished"
  repeat {
    res <- suppressWarnings(parallel::mccollect(job, wait = FALSE, timeout = 0.5))
    if (!is.null(res)) {
      if (!isTRUE(res[[1L]])) status <- "died"
      break
    }
    size <- if (file.exists(progress)) file.size(progress) else 0
    if (size != last_size) { last_size <- size; last_change <- Sys.time() }
    if (difftime(Sys.time(), last_change, units = "secs") > timeout) {
      tools::pskill(job$pid, tools::SIGKILL)
      suppressWarnings(parallel::mccollect(job, wait = TRUE))
      status <- "hung"
      break
    }
  }
  lines <- if (file.exists(progress)) readLines(progress, warn = FALSE) else character()
  fields <- strsplit(lines, "\t", fixed = TRUE)
  done <- do.call(rbind, lapply(Filter(function(f) length(f) >= 4L && f[2L] == "done", fields),
                                function(f) data.frame(id = as.integer(f[1L]), outcome = f[3L],
                                                       seconds = as.numeric(f[4L]),
                                                       detail = if (length(f) >= 5L) f[5L] else "")))
  started <- as.integer(vapply(Filter(function(f) f[2L] == "start", fields), `[`, "", 1L))
  stuck <- setdiff(started, if (is.null(done)) integer() else done$id)
  if (status != "finished" && length(stuck)) {
    bad <- data.frame(id = stuck[1L], outcome = if (status == "hung") "hang" else "crash",
                      seconds = NA_real_, detail = paste("child", status, "during this case"))
    done <- rbind(done, bad)
  } else if (status == "died" && !length(stuck)) {
    # died between cases (should not happen): skip the next case to make progress
    nxt <- ids[!ids %in% done$id][1L]
    done <- rbind(done, data.frame(id = nxt, outcome = "crash", seconds = NA_real_,
                                   detail = "child died between cases"))
  }
  done
}

main <- function() {
  opts <- fuzz_args(commandArgs(TRUE))
  here <- script_dir()
  pkg <- normalizePath(file.path(here, "..", ".."))
  if (opts$installed || !file.exists(file.path(pkg, "DESCRIPTION"))) {
    suppressPackageStartupMessages(library(rwecohort))
  } else {
    suppressMessages(pkgload::load_all(pkg, quiet = TRUE, helpers = FALSE,
                                       attach_testthat = FALSE))
  }
  suppressPackageStartupMessages(library(survival))
  sys.source(file.path(here, "fuzz-lib.R"), envir = globalenv())
  options(width = 200)
  selftests <- c("selftest_crash", "selftest_hang")
  if (!is.null(opts$engine) && !opts$engine %in% c(fuzz_engines, selftests)) {
    stop("--engine must be one of: ", paste(fuzz_engines, collapse = ", "))
  }
  out_dir <- if (is.null(opts$out)) file.path(here, "out") else opts$out
  dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
  tag <- paste0("seed", opts$seed, if (!is.null(opts$engine)) paste0("-", opts$engine))
  progress <- file.path(out_dir, paste0("progress-", tag, ".tsv"))
  results <- NULL
  remaining <- opts$from - 1L + seq_len(opts$cases)
  t_start <- Sys.time()
  while (length(remaining)) {
    batch <- utils::head(remaining, opts$batch)
    done <- run_batch(batch, opts$seed, opts$engine, opts$timeout, progress)
    results <- rbind(results, done)
    remaining <- setdiff(remaining, results$id)
    cat(sprintf("\r%d/%d cases, %.0f s", nrow(results), opts$cases,
                as.numeric(difftime(Sys.time(), t_start, units = "secs"))))
  }
  cat("\n")
  unlink(progress)
  results <- results[order(results$id), ]
  specs <- lapply(results$id, fuzz_case, seed = opts$seed, engine = opts$engine)
  results$engine <- vapply(specs, `[[`, "", "engine")
  results$perturbations <- vapply(specs, function(s) paste(s$perturbations, collapse = ","), "")
  results$seed <- opts$seed
  utils::write.table(results[c("seed", "id", "engine", "perturbations", "outcome", "seconds", "detail")],
                     file.path(out_dir, paste0("results-", tag, ".tsv")), sep = "\t",
                     row.names = FALSE, quote = FALSE)
  failing <- c("crash", "hang", "disagreement", "unclassed_error", "refused_by_us", "unstable")
  bad <- which(results$outcome %in% failing)
  failures <- file.path(out_dir, paste0("failures-", tag, ".md"))
  writeLines(as.character(unlist(lapply(bad, function(i) {
    c(sprintf("## seed %d case %d: %s / %s [%s]", opts$seed, results$id[i], results$engine[i],
              results$outcome[i], results$perturbations[i]),
      "", one_line(results$detail[i]), "",
      sprintf("Regenerate: `fuzz_run(fuzz_case(%d, %d%s))`", opts$seed, results$id[i],
              if (is.null(opts$engine)) "" else sprintf(', "%s"', opts$engine)),
      "", "```r", fuzz_reproducer(specs[[i]]), "```", "")
  }))), failures)
  tab <- table(engine = results$engine, outcome = results$outcome)
  print(stats::addmargins(tab))
  cat(sprintf("\n%d cases in %.0f s; %d failing cases written to %s\n", nrow(results),
              as.numeric(difftime(Sys.time(), t_start, units = "secs")), length(bad), failures))
  invisible(results)
}

if (sys.nframe() == 0L) main()
