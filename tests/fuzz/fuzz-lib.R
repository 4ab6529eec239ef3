# Differential fuzzer of the rwecohort engines against `survival` (and coxphf): the case
# generator, one runner per engine and the outcome classifier. Sourced by the driver
# (tests/fuzz/fuzz.R, long runs in child processes) and by tests/testthat/test-fuzz.R (a small
# seeded slice). Needs rwecohort loaded (library() or pkgload::load_all()) and survival.
#
# A case is fully determined by (seed, id): fuzz_case(seed, id) rebuilds it, so a failure is
# reproduced by `fuzz_case(seed, id)` + `fuzz_run(case)`, or by the self-contained code of
# fuzz_reproducer(case) (the data as dput() and the two calls).

fuzz_engines <- c("cox", "cox_matrix", "firth", "km", "km_matrix", "logrank", "logrank_matrix",
                  "concordance", "concordance_matrix", "rmst", "ph_test", "residuals",
                  "partitioned_cox", "partitioned_km", "partitioned_logrank", "table_verbs",
                  "report_verbs")

# Adversarial transformations of the base data; a case applies 0 to 3 of them.
fuzz_perturbations <- c("heavy_ties", "near_ties", "all_censored", "one_event", "single_row",
                        "tiny_n", "zero_weights", "nonint_weights", "huge_x", "tiny_x",
                        "huge_time", "tiny_time", "strata_singleton", "counting",
                        "counting_zero_length", "counting_negative_start", "na", "inf",
                        "unused_levels", "character_cov", "collinear", "p_gt_n",
                        "constant_col", "offset", "factor_cov", "big_n", "special_term",
                        "factor_status")

# Model terms survival fits specially (penalised, time-transformed, interactions with strata):
# a verb must fit them as survival does or refuse them, never fit them as plain covariates.
special_terms <- c("x1:strata(s)", "frailty(s)", "pspline(x3)", "ridge(x1, x2)", "tt(x1)",
                   "cluster(s)")

# Tight Newton settings on both sides: we compare converged answers, not iteration paths.
fuzz_eps <- 1e-12
fuzz_tol <- 1e-8

# ---- case generation --------------------------------------------------------------------------

fuzz_case <- function(seed, id, engine = NULL) {
  old <- if (exists(".Random.seed", globalenv())) get(".Random.seed", globalenv())
  on.exit(if (!is.null(old)) assign(".Random.seed", old, globalenv()))
  set.seed((seed * 100003 + id) %% .Machine$integer.max, kind = "Mersenne-Twister", normal.kind = "Inversion",
           sample.kind = "Rejection")
  if (is.null(engine)) engine <- fuzz_engines[(id - 1L) %% length(fuzz_engines) + 1L]
  n_pert <- sample(0:3, 1L, prob = c(0.2, 0.4, 0.25, 0.15))
  pert <- sort(sample(fuzz_perturbations, n_pert))
  n <- if ("big_n" %in% pert) sample(200:600, 1L) else sample(c(3:12, 15, 20, 30, 50, 80), 1L)
  if ("tiny_n" %in% pert) n <- sample(2:4, 1L)
  if ("single_row" %in% pert) n <- 1L
  spec <- list(
    engine = engine, seed = seed, id = id, perturbations = pert,
    ties = sample(c("efron", "breslow"), 1L),
    weights = "zero_weights" %in% pert || "nonint_weights" %in% pert || runif(1) < 0.2,
    strata = runif(1) < 0.3 || "strata_singleton" %in% pert,
    counting = any(c("counting", "counting_zero_length", "counting_negative_start") %in% pert),
    offset = "offset" %in% pert,
    covariates = fuzz_pick_covariates(pert),
    rho = sample(c(0, 0, 1, 0.5), 1L),
    reverse = runif(1) < 0.5,
    transform = sample(c("km", "rank", "identity"), 1L),
    n_parts = sample(1:4, 1L),
    group_rhs = sample(c("g", "1"), 1L, prob = c(0.7, 0.3)),
    tau_frac = sample(c(0.5, 0.9, 1), 1L)
  )
  spec$data <- if (engine == "report_verbs") fuzz_report_data() else fuzz_data(n, pert)
  spec
}

# The bundled study tables with 1-3 random defects (NA, Inf, sign flips, huge values, type
# changes, no rows, duplicated rows) in random columns, for the report verbs.
fuzz_report_data <- function() {
  d <- list(p = rwecohort::rrdtc_patients, a = rwecohort::rrdtc_adverse_events)
  for (k in seq_len(sample(1:3, 1L))) {
    which <- sample(c("p", "a"), 1L)
    x <- d[[which]]
    col <- sample(names(x), 1L)
    rows <- sample.int(nrow(x), min(nrow(x), sample(1:3, 1L)))
    v <- x[[col]]
    kind <- sample(c("na", "inf", "neg", "huge", "factor", "char", "empty", "dup"), 1L)
    if (kind == "na") v[rows] <- NA
    if (is.numeric(v) && kind == "inf") v[rows] <- Inf
    if (is.numeric(v) && kind == "neg") v[rows] <- -v[rows]
    if (is.numeric(v) && kind == "huge") v[rows] <- v[rows] * 1e300
    if (kind == "factor") v <- factor(v)
    if (kind == "char") v <- as.character(v)
    x[[col]] <- v
    if (kind == "empty") x <- x[0, ]
    if (kind == "dup") x <- rbind(x, x[rows, ])
    d[[which]] <- x
  }
  d
}

fuzz_pick_covariates <- function(pert) {
  covs <- sample(c("x1", "x2", "x3"), sample(1:3, 1L))
  if ("factor_cov" %in% pert || "unused_levels" %in% pert) covs <- c(covs, "f")
  if ("character_cov" %in% pert) covs <- c(covs, "ch")
  if ("collinear" %in% pert) covs <- c(covs, "xc")
  if ("constant_col" %in% pert) covs <- c(covs, "k")
  if ("p_gt_n" %in% pert) covs <- c(covs, paste0("z", 1:8))
  if ("special_term" %in% pert) covs <- c(covs, sample(special_terms, 1L))
  unique(covs)
}

fuzz_data <- function(n, pert) {
  d <- data.frame(time = round(rexp(n, 0.1), sample(0:3, 1L)) + 0.5,
                  status = stats::rbinom(n, 1, stats::runif(1, 0.3, 0.95)),
                  x1 = stats::rnorm(n), x2 = stats::rbinom(n, 1, 0.5),
                  x3 = round(stats::runif(n, 0, 10), 1),
                  f = factor(sample(c("a", "b", "c"), n, replace = TRUE)),
                  ch = sample(c("lo", "mid", "hi"), n, replace = TRUE),
                  g = sample(c("A", "B", "C")[seq_len(sample(2:3, 1L))], n, replace = TRUE),
                  s = sample(c("s1", "s2"), n, replace = TRUE),
                  w = as.double(sample(1:3, n, replace = TRUE)),
                  off = round(stats::rnorm(n, 0, 0.3), 2),
                  stringsAsFactors = FALSE)
  d$xc <- 2 * d$x1 - d$x2
  d$k <- 3
  for (j in 1:8) d[[paste0("z", j)]] <- stats::rnorm(n)
  d$start <- round(d$time * stats::runif(n, 0, 0.6), 2)
  for (p in pert) d <- fuzz_perturb(d, p)
  d
}

fuzz_perturb <- function(d, p) {
  n <- nrow(d)
  some <- function(k = max(1L, n %/% 5L)) sample.int(n, min(n, k))
  switch(p,
    heavy_ties = { d$time <- as.double(sample(1:3, n, replace = TRUE)); d$start <- d$start * 0 },
    near_ties = {
      near <- c(0.1 + 0.2, 0.3, 0.3 + 1e-12, 0.7 - 0.4, 1 - 0.7)
      d$time <- sample(near, n, replace = TRUE); d$start <- 0 * d$start
    },
    all_censored = d$status <- 0L,
    one_event = { d$status <- 0L; d$status[sample.int(n, 1L)] <- 1L },
    zero_weights = d$w[some()] <- 0,
    nonint_weights = d$w <- round(stats::runif(n, 0.05, 3), 3),
    huge_x = d$x1 <- d$x1 * 1e150,
    tiny_x = d$x3 <- d$x3 * 1e-150,
    huge_time = { d$time <- d$time * 1e160; d$start <- d$start * 1e160 },
    tiny_time = { d$time <- d$time * 1e-160; d$start <- d$start * 1e-160 },
    strata_singleton = d$s[sample.int(n, 1L)] <- "lonely",
    counting_zero_length = { i <- some(2L); d$start[i] <- d$time[i] },
    counting_negative_start = d$start[some()] <- -stats::runif(1, 0.5, 5),
    na = {
      col <- sample(c("time", "status", "x1", "x2", "f", "ch", "g", "s", "w", "off", "start"), 1L)
      d[[col]][some(1L)] <- NA
    },
    inf = {
      col <- sample(c("time", "x1", "x3", "w", "off", "start"), 1L)
      d[[col]][some(1L)] <- sample(c(Inf, -Inf), 1L)
    },
    unused_levels = d$f <- factor(d$f, levels = c("a", "b", "c", "never")),
    factor_status = d$status <- factor(d$status, levels = 0:1, labels = c("censored", "dead")),
    NULL)
  d  # the switch() branches modified the local copy
}

# ---- per-engine calls -------------------------------------------------------------------------

# Right-hand sides and response of the case, as text.
fuzz_rhs <- function(spec, covariates = spec$covariates) {
  terms <- covariates
  if (spec$strata) terms <- c(terms, "strata(s)")
  if (spec$offset) terms <- c(terms, "offset(off)")
  paste(terms, collapse = " + ")
}
fuzz_surv <- function(spec, counting = spec$counting) {
  if (counting) "Surv(start, time, status)" else "Surv(time, status)"
}
fuzz_formula_text <- function(spec, rhs = fuzz_rhs(spec), counting = spec$counting) {
  paste(fuzz_surv(spec, counting), "~", rhs)
}

# Returns list(ours = <call text>, ref = <call text> or NULL, compare = function(o, r)).
# The calls are evaluated with `d` (the case data) in scope, survival attached.
fuzz_calls <- function(spec) {
  f <- get(paste0("fuzz_calls_", spec$engine))
  f(spec)
}

wt_arg <- function(spec) if (spec$weights) ", weights = w" else ""
ctrl_ours <- sprintf("control = cox_control(eps = %g, iter.max = 100)", fuzz_eps)
ctrl_ref <- sprintf("control = coxph.control(eps = %g, iter.max = 100)", fuzz_eps)

fuzz_calls_cox <- function(spec) {
  fm <- fuzz_formula_text(spec)
  list(ours = sprintf('cox_fit(%s, data = d, ties = "%s"%s, %s)', fm, spec$ties, wt_arg(spec), ctrl_ours),
       ref = sprintf('coxph(%s, data = d, ties = "%s"%s, %s)', fm, spec$ties, wt_arg(spec), ctrl_ref),
       compare = compare_cox)
}

fuzz_calls_cox_matrix <- function(spec) {
  cols <- intersect(spec$covariates, c("x1", "x2", "x3", "xc", "k", paste0("z", 1:8)))
  if (!length(cols)) cols <- "x1"
  xs <- sprintf("as.matrix(d[, c(%s), drop = FALSE])", paste0('"', cols, '"', collapse = ", "))
  y <- sub("^Surv", "Surv", fuzz_surv(spec))
  y <- gsub("(start|time|status)", "d$\\1", y)
  extra <- paste0("", if (spec$strata) ", strata = d$s", if (spec$weights) ", weights = d$w",
                  if (spec$offset) ", offset = d$off")
  rhs <- paste0("X", if (spec$strata) " + strata(d$s)", if (spec$offset) " + offset(d$off)")
  list(ours = sprintf('cox_fit_matrix(%s, %s%s, ties = "%s", %s)', xs, y, extra, spec$ties, ctrl_ours),
       # cox_fit_matrix() is coxph.fit's twin: the model-based variance whatever the weights
       ref = sprintf('{X <- %s; coxph(%s ~ %s%s, ties = "%s", robust = FALSE, %s)}', xs, y, rhs,
                     if (spec$weights) ", weights = d$w" else "", spec$ties, ctrl_ref),
       compare = compare_cox)
}

fuzz_calls_firth <- function(spec) {
  fm <- fuzz_formula_text(spec)
  plain <- !spec$strata && !spec$offset && !spec$weights && !spec$counting &&
    requireNamespace("coxphf", quietly = TRUE)
  list(ours = sprintf('cox_fit(%s, data = d, ties = "breslow"%s, firth = TRUE)', fm, wt_arg(spec)),
       ref = if (plain) sprintf("coxphf::coxphf(%s, data = fuzz_timefix(d), epsilon = 1e-10, gconv = 1e-10, maxit = 200)", fm),
       compare = compare_firth)
}

# Counting-process data with non-integer weights: km_fit() refuses survfit's default (a robust
# SE it does not implement) and is compared with robust = FALSE on both sides.
km_robust_arg <- function(spec) {
  if (spec$counting && spec$weights && "nonint_weights" %in% spec$perturbations) {
    ", robust = FALSE"
  } else ""
}

fuzz_calls_km <- function(spec) {
  fm <- fuzz_formula_text(spec, rhs = if (spec$strata) "g + strata(s)" else spec$group_rhs)
  list(ours = sprintf("km_fit(%s, data = d%s%s)", fm, wt_arg(spec), km_robust_arg(spec)),
       ref = sprintf("survfit(%s, data = d%s%s)", fm, wt_arg(spec), km_robust_arg(spec)),
       compare = compare_km)
}

fuzz_calls_km_matrix <- function(spec) {
  st <- if (spec$counting) ", start = d$start" else ""
  list(ours = sprintf("km_fit_matrix(d$time, d$status, group = d$g%s%s%s)",
                      if (spec$weights) ", weights = d$w" else "", st, km_robust_arg(spec)),
       ref = sprintf("survfit(Surv(%sd$time, d$status) ~ d$g%s%s)",
                     if (spec$counting) "d$start, " else "", if (spec$weights) ", weights = d$w" else "",
                     km_robust_arg(spec)),
       compare = compare_km)
}

fuzz_calls_logrank <- function(spec) {
  fm <- fuzz_formula_text(spec, rhs = paste0("g", if (spec$strata) " + strata(s)"), counting = FALSE)
  list(ours = sprintf("logrank_test(%s, data = d, rho = %g)", fm, spec$rho),
       ref = sprintf("survdiff(%s, data = d, rho = %g)", fm, spec$rho), compare = compare_logrank)
}

fuzz_calls_logrank_matrix <- function(spec) {
  list(ours = sprintf("logrank_test_matrix(d$time, d$status, group = d$g%s, rho = %g)",
                      if (spec$strata) ", strata = d$s" else "", spec$rho),
       ref = sprintf("survdiff(Surv(d$time, d$status) ~ d$g%s, rho = %g)",
                     if (spec$strata) " + strata(d$s)" else "", spec$rho),
       compare = compare_logrank)
}

fuzz_calls_concordance <- function(spec) {
  fm <- fuzz_formula_text(spec, rhs = paste0(spec$covariates[1L], if (spec$strata) " + strata(s)"))
  list(ours = sprintf("concordance_index(%s, data = d%s, reverse = %s)", fm, wt_arg(spec), spec$reverse),
       ref = sprintf("concordance(%s, data = d%s, reverse = %s)", fm, wt_arg(spec), spec$reverse),
       compare = compare_concordance)
}

fuzz_calls_concordance_matrix <- function(spec) {
  pred <- paste0("d$", spec$covariates[1L])
  list(ours = sprintf("rwecohort:::concordance_index_matrix(d$time, d$status, %s%s%s%s, reverse = %s)",
                      pred, if (spec$strata) ", strata = d$s" else "",
                      if (spec$weights) ", weights = d$w" else "",
                      if (spec$counting) ", start = d$start" else "", spec$reverse),
       ref = sprintf("concordancefit(Surv(%sd$time, d$status), %s%s%s, reverse = %s, timefix = FALSE)",
                     if (spec$counting) "d$start, " else "", pred,
                     if (spec$strata) ", strata = d$s" else "",
                     if (spec$weights) ", weights = d$w" else "", spec$reverse),
       compare = compare_concordance)
}

fuzz_calls_rmst <- function(spec) {
  fm <- sprintf("Surv(time, status) ~ %s", spec$group_rhs)
  tau <- sprintf("fuzz_tau(d, %g)", spec$tau_frac)
  list(ours = sprintf("rmst(%s, data = d, tau = %s)", fm, tau),
       ref = sprintf("fuzz_rmst_ref(%s, d, %s)", fm, tau),
       compare = compare_rmst)
}

# coxphf has no `timefix`: give it the times survival's aeqSurv() (which our fits follow)
# makes of near ties, so that a difference is not just 0.1 + 0.2 != 0.3.
fuzz_timefix <- function(d) {
  ok <- !is.na(d$time) & is.finite(d$time) & !is.na(d$status)
  fixed <- tryCatch(survival::aeqSurv(survival::Surv(d$time[ok], d$status[ok])),
                    error = function(e) NULL)
  if (!is.null(fixed)) d$time[ok] <- fixed[, 1L]
  d
}

# tau: a fraction of the smallest per-group largest time (known for every curve).
fuzz_tau <- function(d, frac) {
  ok <- stats::complete.cases(d[c("time", "status", "g")]) & is.finite(d$time)
  frac * min(tapply(d$time[ok], d$g[ok], max))
}

# survfit's restricted-mean table; for times above 1e100 it is computed on the times divided
# by a power of two (exact) and scaled back, because survfit's squared areas overflow there
# (NaN standard errors) while rmst() gives the exactly rescaled answer. Near-tie merging is
# relative at that scale, so the division changes no tie.
fuzz_rmst_ref <- function(formula, d, tau) {
  top <- suppressWarnings(max(abs(d$time[is.finite(d$time)])))
  s <- if (is.finite(top) && top > 1e100) 2^floor(log2(top)) else 1
  d$time <- d$time / s
  tab <- summary(survfit(formula, data = d), rmean = tau / s)$table
  if (!is.matrix(tab)) tab <- t(as.matrix(tab))
  tab[, c("rmean", "se(rmean)")] <- tab[, c("rmean", "se(rmean)")] * s
  tab
}

fuzz_calls_ph_test <- function(spec) {
  fm <- fuzz_formula_text(spec)
  list(ours = sprintf('ph_test(cox_fit(%s, data = d, ties = "%s"%s, %s), transform = "%s")',
                      fm, spec$ties, wt_arg(spec), ctrl_ours, spec$transform),
       ref = sprintf('cox.zph(coxph(%s, data = d, ties = "%s"%s, %s), transform = "%s")',
                     fm, spec$ties, wt_arg(spec), ctrl_ref, spec$transform),
       ref_fit = sprintf('coxph(%s, data = d, ties = "%s"%s, %s)', fm, spec$ties, wt_arg(spec), ctrl_ref),
       compare = compare_ph)
}

residual_types <- c("martingale", "deviance", "score", "schoenfeld", "dfbeta", "dfbetas", "scaledsch")

fuzz_calls_residuals <- function(spec) {
  fm <- fuzz_formula_text(spec)
  type <- residual_types[(spec$id %/% length(fuzz_engines)) %% length(residual_types) + 1L]
  list(ours = sprintf('residuals(cox_fit(%s, data = d, ties = "%s"%s, %s), type = "%s")',
                      fm, spec$ties, wt_arg(spec), ctrl_ours, type),
       ref = sprintf('residuals(coxph(%s, data = d, ties = "%s"%s, %s), type = "%s")',
                     fm, spec$ties, wt_arg(spec), ctrl_ref, type),
       ref_fit = sprintf('coxph(%s, data = d, ties = "%s"%s, %s)', fm, spec$ties, wt_arg(spec), ctrl_ref),
       compare = compare_numeric_all)
}

# Partitions are split in this process; `parts_of()` keeps at least one row per partition.
fuzz_parts <- function(d, k, seed) {
  old <- if (exists(".Random.seed", globalenv())) get(".Random.seed", globalenv())
  on.exit(if (!is.null(old)) assign(".Random.seed", old, globalenv()))
  set.seed(seed)
  k <- min(k, nrow(d))
  lab <- if (k == 1L) rep(1L, nrow(d)) else c(seq_len(k), sample.int(k, nrow(d) - k, replace = TRUE))
  cohort_partitions(unname(split(d, lab)))
}

fuzz_calls_partitioned_cox <- function(spec) {
  fm <- fuzz_formula_text(spec, rhs = fuzz_rhs(modifyList(spec, list(offset = FALSE))))
  list(ours = sprintf('partitioned_cox_fit(%s, fuzz_parts(d, %d, %d), ties = "%s"%s, control = coxph.control(eps = %g, iter.max = 100))',
                      fm, spec$n_parts, spec$id, spec$ties,
                      if (spec$weights) ', weights = "w"' else "", fuzz_eps),
       ref = sprintf('coxph(%s, data = d, ties = "%s"%s, %s)', fm, spec$ties, wt_arg(spec), ctrl_ref),
       compare = compare_cox)
}

fuzz_calls_partitioned_km <- function(spec) {
  fm <- fuzz_formula_text(spec, rhs = spec$group_rhs)
  list(ours = sprintf('partitioned_km_fit(%s, fuzz_parts(d, %d, %d)%s)', fm, spec$n_parts,
                      spec$id, if (spec$weights) ', weights = "w"' else ""),
       ref = sprintf("survfit(%s, data = d%s)", fm, wt_arg(spec)), compare = compare_km)
}

fuzz_calls_partitioned_logrank <- function(spec) {
  fm <- fuzz_formula_text(spec, rhs = paste0("g", if (spec$strata) " + strata(s)"), counting = FALSE)
  list(ours = sprintf("partitioned_logrank_test(%s, fuzz_parts(d, %d, %d))", fm, spec$n_parts, spec$id),
       ref = sprintf("survdiff(%s, data = d)", fm), compare = compare_logrank)
}

# The report-table verbs have no survival twin: they must answer or refuse with a classed
# error (outcome no_reference or both_refused), never fail inside.
table_verb_calls <- c(
  'survival_by(d, "time", "status", c("g", "f"))',
  'survival_overall(d, "time", "status")',
  'followup_summary(d, "time", "status")',
  'cox_table(d, "time", "status", c("g", "ch"))',
  'cox_table(d, "time", "status", c("g", "f", "s"), multivariable = c("g", "f"))',
  'baseline_table(d, c("x1", "f", "ch", "time", "status"), by = "g")',
  'baseline_table(d, c("x3", "w", "off"), by = "s")'
)

report_verb_calls <- c(
  'response_rates(d$p, duration = "pfs_months")',
  'response_by(d$p[d$p$evaluable %in% TRUE, ], c("sex", "histology", "met_bone"))',
  'ae_table(d$a, d$p)',
  'ae_duration(d$a)',
  'survival_by(d$p[d$p$evaluable %in% TRUE, ], "pfs_months", "pfs_event", c("sex", "met_bone"))',
  'cox_table(d$p[d$p$evaluable %in% TRUE, ], "pfs_months", "pfs_event", c("sex", "met_bone"))',
  'baseline_table(d$p, c("age_years", "sex", "histology", "cum_rai_dose_gbq"), by = "sex")'
)

fuzz_calls_report_verbs <- function(spec) {
  list(ours = report_verb_calls[(spec$id %/% length(fuzz_engines)) %% length(report_verb_calls) + 1L],
       ref = NULL, compare = NULL)
}

fuzz_calls_table_verbs <- function(spec) {
  list(ours = table_verb_calls[(spec$id %/% length(fuzz_engines)) %% length(table_verb_calls) + 1L],
       ref = NULL, compare = NULL)
}

# Self-tests of the driver's crash and hang detection (not in fuzz_engines): the child
# process kills itself (SIGKILL), or sleeps past the timeout, on every third case.
fuzz_calls_selftest_crash <- function(spec) {
  list(ours = if (spec$id %% 3L == 0L) "tools::pskill(Sys.getpid(), tools::SIGKILL)" else "1",
       ref = "1", compare = function(o, r) NULL)
}
fuzz_calls_selftest_hang <- function(spec) {
  list(ours = if (spec$id %% 3L == 0L) "Sys.sleep(1e4)" else "1", ref = "1",
       compare = function(o, r) NULL)
}

# ---- comparisons: each returns NULL (agree) or a short description of the difference --------

near <- function(what, ours, ref, tol = fuzz_tol) {
  ours <- unname(as.double(ours)); ref <- unname(as.double(ref))
  if (length(ours) != length(ref)) {
    return(sprintf("%s: length %d vs survival %d", what, length(ours), length(ref)))
  }
  # NA, NaN and +-Inf all mean "not available" (survival gives NaN where we give Inf for an
  # overflowed standard error, say); the pattern of non-finite values must agree.
  if (!identical(is.finite(ours), is.finite(ref))) {
    return(paste0(what, ": pattern of non-finite values differs"))
  }
  ok <- is.finite(ref)
  if (!any(ok)) return(NULL)
  res <- all.equal(ref[ok], ours[ok], tolerance = tol)
  if (isTRUE(res)) NULL else paste0(what, ": ", paste(res, collapse = "; "))
}

first_diff <- function(...) {
  for (x in list(...)) if (!is.null(x)) return(x)
  NULL
}

compare_cox <- function(o, r) {
  rc <- stats::coef(r)
  first_diff(
    near("coefficients", o$coefficients, rc),
    near("loglik", o$loglik, r$loglik),
    near("var", o$var[!is.na(rc), !is.na(rc)], r$var[!is.na(rc), !is.na(rc)]),
    if (!is.null(r$score) && !is.null(o$score.test)) near("score test", o$score.test[[1L]], r$score),
    if (!is.null(o$concordance) && !is.null(r$concordance)) {
      compare_stored_concordance(o, r)
    }
  )
}

# The stored concordance counts pairs by whether their linear predictors tie. When both fits
# sit at beta = 0 up to rounding (a score that is analytically zero, computed as +-1e-16 by one
# engine and as exactly 0 by the other: seed 1 case 1872), the counts split the same pairs into
# tied.y vs tied.xy on rounding alone; only the concordance itself (NaN or not) is compared then.
compare_stored_concordance <- function(o, r) {
  noise <- 64 * .Machine$double.eps
  at_zero <- all(abs(c(o$linear.predictors, r$linear.predictors)) <= noise, na.rm = TRUE)
  if (!at_zero) return(near("concordance", o$concordance, r$concordance))
  near("concordance (fits at beta = 0 up to rounding)", o$concordance[["concordance"]],
       r$concordance[["concordance"]])
}

compare_firth <- function(o, r) {
  first_diff(near("coefficients", o$coefficients, r$coefficients, 1e-6),
             near("var", o$var, r$var, 1e-6))
}

survfit_table <- function(r) {
  data.frame(time = r$time, n.risk = r$n.risk, n.event = r$n.event, n.censor = r$n.censor,
             surv = r$surv, std.err = r$std.err, lower = r$lower, upper = r$upper)
}

compare_km <- function(o, r) {
  ref <- survfit_table(r)
  # pooled and partitioned fits alike (rwe_partitioned_km is an rwe_km)
  cv <- o$curves
  ours <- data.frame(time = cv$time, n.risk = cv$n.risk, n.event = cv$n.event,
                     n.censor = cv$n.censor, surv = cv$surv,
                     # survfit's std.err is the SE of log S, except with its robust variance,
                     # where it stores the SE of S and says so with logse = FALSE
                     std.err = if (isFALSE(r$logse)) cv$std.err.surv else cv$std.err.log,
                     lower = cv$lower, upper = cv$upper)
  if (nrow(ours) != nrow(ref)) return(sprintf("rows: %d vs survival %d", nrow(ours), nrow(ref)))
  # survfit leaves the SE and limits NA/NaN where S = 0 or at undefined points; compare the rest
  defined <- !is.na(ref$std.err) & !is.na(ours$std.err) & is.finite(ref$std.err)
  first_diff(near("time", ours$time, ref$time), near("n.risk", ours$n.risk, ref$n.risk),
             near("n.event", ours$n.event, ref$n.event),
             near("n.censor", ours$n.censor, ref$n.censor), near("surv", ours$surv, ref$surv),
             near("std.err", ours$std.err[defined], ref$std.err[defined]),
             near("lower", ours$lower[defined], ref$lower[defined]),
             near("upper", ours$upper[defined], ref$upper[defined]))
}

compare_logrank <- function(o, r) {
  obs <- if (is.matrix(r$obs)) rowSums(r$obs) else r$obs
  exp <- if (is.matrix(r$exp)) rowSums(r$exp) else r$exp
  first_diff(near("observed", o$observed, obs), near("expected", o$expected, exp),
             near("var", o$var, r$var), near("chisq", o$chisq, r$chisq))
}

compare_concordance <- function(o, r) {
  rcount <- if (is.matrix(r$count)) colSums(r$count) else r$count
  first_diff(near("concordance", o$concordance, r$concordance),
             near("count", o$count, rcount[1:5]), near("var", o$var, r$var))
}

compare_rmst <- function(o, r) {
  tab <- r
  first_diff(near("rmst", o$groups$rmst, tab[, "rmean"]),
             near("std.error", o$groups$std.error, tab[, "se(rmean)"]))
}

compare_ph <- function(o, r) {
  first_diff(near("statistic", o$table$statistic, r$table[, "chisq"]),
             near("df", o$table$df, r$table[, "df"]),
             near("scaled residuals", o$y, r$y), near("x", o$x, r$x))
}

compare_numeric_all <- function(o, r) near("values", o, r)

# ---- running one case ------------------------------------------------------------------------

fuzz_eval <- function(text, d) {
  warnings <- character()
  value <- withCallingHandlers(
    tryCatch(eval(parse(text = text)[[1L]], list(d = d), environment(fuzz_eval)),
             error = function(e) e),
    warning = function(w) {
      warnings <<- c(warnings, conditionMessage(w))
      invokeRestart("muffleWarning")
    })
  list(value = value, warnings = warnings, error = inherits(value, "error"))
}

# Outcome: agree, both_refused, refused_by_us (classed), ref_refused (we answer, survival
# errors), disagreement, unstable (disagreement where survival warned of non-convergence or
# infinite coefficients), unclassed_error, no_reference (no comparator: ran without error).
fuzz_run <- function(spec) {
  calls <- fuzz_calls(spec)
  ours <- fuzz_eval(calls$ours, spec$data)
  ref <- if (is.null(calls$ref)) NULL else fuzz_eval(calls$ref, spec$data)
  out <- function(outcome, detail = "") list(outcome = outcome, detail = detail)
  if (ours$error) {
    e <- ours$value
    classed <- inherits(e, "rwe_bad_input") || inherits(e, "rwe_min_cell")
    msg <- gsub("\\s+", " ", conditionMessage(e))
    if (!classed) {
      survival_says <- if (is.null(ref)) "" else if (ref$error) " [survival refuses too]" else
        " [survival answers]"
      return(out("unclassed_error", paste0(class(e)[1L], ": ", msg, survival_says)))
    }
    if (is.null(ref) || ref$error) return(out("both_refused", msg))
    return(out("refused_by_us", msg))
  }
  if (is.null(ref)) return(out("no_reference"))
  if (ref$error) return(out("ref_refused", gsub("\\s+", " ", conditionMessage(ref$value))))
  diff <- tryCatch(calls$compare(ours$value, ref$value),
                   error = function(e) paste("comparison failed:", conditionMessage(e)))
  if (is.null(diff)) return(out("agree"))
  # Monotone likelihood: coefficients drifting to infinity stop wherever the convergence
  # test happens to fire, so they are not comparable even when survival does not warn.
  # (ph_test, residuals: the reference value is not a fit; refit to look.)
  fit <- if (is.null(calls$ref_fit)) ref else fuzz_eval(calls$ref_fit, spec$data)
  # A coefficient heading to infinity also shows as 20+ Newton iterations (a regular fit needs
  # fewer than 10), after which coxph may declare it aliased (NA) at our tight eps.
  diverging <- !fit$error && isTRUE(tryCatch(
    any(abs(stats::coef(fit$value)) > 10, na.rm = TRUE) || isTRUE(fit$value$iter >= 20),
    error = function(e) FALSE))
  unstable <- diverging || any(grepl("converge|infinite|singular|Ran out", fit$warnings))
  out(if (unstable) "unstable" else "disagreement", diff)
}

fuzz_reproducer <- function(spec) {
  calls <- fuzz_calls(spec)
  paste0("library(survival); library(rwecohort)  # or pkgload::load_all()\n",
         "source(\"tests/fuzz/fuzz-lib.R\")  # fuzz_parts(), fuzz_tau(), fuzz_rmst_ref()\n",
         "d <- ", paste(deparse(spec$data, control = c("all", "digits17")), collapse = "\n"), "\n",
         "ours <- ", calls$ours, "\n",
         if (!is.null(calls$ref)) paste0("ref <- ", calls$ref, "\n"))
}
