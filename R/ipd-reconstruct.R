# reconstruct_ipd(): individual patient data (IPD) rebuilt from a published Kaplan-Meier curve
# (digitised (time, survival) clicks) and its numbers-at-risk table, after Guyot, Ades, Ouwens
# & Welton (BMC Med Res Methodol 2012;12:9). Within each interval between two at-risk times
# the number of censorings is unknown; it is found by iteration: censorings are spread evenly
# over the interval, the drops of the curve are turned into whole numbers of events given the
# current number at risk, and the censoring count is corrected by the difference between the
# reconstructed and the published number at risk at the end of the interval, until they agree.
# Everything here is plain R: an arm has a few hundred clicks and each pass is linear in them.

#' Reconstruct individual patient data from a published Kaplan-Meier curve
#'
#' Rebuilds one row per patient (time, status, arm) from digitised coordinates of a
#' Kaplan-Meier curve and, ideally, the numbers at risk printed under it, with the iterative
#' algorithm of Guyot et al. (2012). The result reproduces the published curve and numbers at
#' risk as closely as whole patients allow; its accuracy report ([ipd_report()]) shows how
#' closely.
#'
#' **Cleaning** (per arm, in this order): times below 0 are set to 0 and survival values are
#' clamped to \[0, 1\]; the points are sorted by time (ties: higher survival first, so the top
#' of a drop comes before its bottom); points at time 0 are set to 1 and the start point
#' (0, 1) is added; the curve is made non-increasing by replacing each value by the running
#' minimum of the values up to it (a click above an earlier one is read as noise and lowered
#' to it). At each time of the at-risk table a flat point is inserted at the value of the
#' curve just before that time, so that every number at risk is a constraint of the
#' iteration even where no click falls in an interval.
#'
#' **Iteration**: within each interval between two at-risk times, `c` censorings are placed
#' at equal spacing; the events at each click are `round(n * (1 - S / S_last))` (R's
#' [round()], half to even), with `n` the reconstructed number at risk and `S_last` the
#' reconstructed survival after the last event; `c` is then corrected by the difference
#' between the reconstructed and the published number at risk at the end of the interval,
#' until they agree (at most `max_iter` passes; a cycle stops at the best count seen). After
#' the last at-risk time, `c` is matched to `total_events` when given, and otherwise set from
#' the average censoring rate of the earlier intervals. Patients still at risk after the last
#' click are censored at its time. The output is deterministic.
#'
#' Without an at-risk table (`at_risk = NULL`), give the initial numbers `n`; the whole curve
#' is then one interval, with `total_events` matched if given and no censoring before the
#' last click otherwise. A warning (class `rwe_ipd_unreliable`) says that hazard ratios from
#' such data are unreliable: the censoring pattern is guessed.
#'
#' Inputs that contradict each other (the curve drops by more patients than the numbers at
#' risk allow; `total_events` that cannot be matched) give one warning of class
#' `rwe_ipd_inconsistent` naming the arms and times; the reconstruction then keeps the
#' events the curve implies, so its numbers at risk fall below the published ones there.
#'
#' @param curve A data frame of digitised points with numeric columns `time` and `surv`
#'   (survival as a proportion, 0-1), and the arm column when there are several arms.
#' @param at_risk Optional data frame of the numbers-at-risk table in long form: columns
#'   `time`, `n.risk` (and the arm column). Each arm's first time must be 0; counts must not
#'   increase with time.
#' @param total_events Optional total number of events: one number (one arm) or a vector
#'   named by arm.
#' @param arm Name of the arm column of `curve` and `at_risk`. `NULL` (default) uses a column
#'   named `arm` when `curve` has one, and a single arm otherwise.
#' @param n Initial numbers of patients (one number or a vector named by arm); only, and
#'   then required, when `at_risk` is `NULL`.
#' @param max_iter Maximum number of passes of the iteration per interval.
#' @return A data frame of class `rwe_ipd`, one row per patient, with columns `time`, `status`
#'   (1 = event, 0 = censored) and `arm` (a factor), sorted by arm and time. Its attribute
#'   `"report"` holds the accuracy report (see [ipd_report()]) and attribute `"curve"` the
#'   cleaned input points.
#' @references Guyot P, Ades AE, Ouwens MJ, Welton NJ (2012). Enhanced secondary analysis of
#'   survival data: reconstructing the data from published Kaplan-Meier survival curves. BMC
#'   Medical Research Methodology 12:9.
#' @seealso [ipd_report()], [ipd_plot()]
#' @examples
#' # A "published" curve: the Kaplan-Meier steps of survival::lung by sex, with the numbers
#' # at risk every 3 months (91.3 days).
#' fit <- survival::survfit(survival::Surv(time, status) ~ sex, data = survival::lung)
#' arm <- rep(c("Male", "Female"), fit$strata)
#' curve <- data.frame(arm = arm, time = fit$time, surv = fit$surv)
#' at <- summary(fit, times = seq(0, 900, by = 91.3), extend = TRUE)
#' at_risk <- data.frame(arm = rep(c("Male", "Female"), table(at$strata)),
#'                       time = at$time, n.risk = at$n.risk)
#' ipd <- reconstruct_ipd(curve, at_risk)
#' head(ipd)
#' ipd_report(ipd)
#' @export
reconstruct_ipd <- function(curve, at_risk = NULL, total_events = NULL, arm = NULL, n = NULL,
                            max_iter = 100L) {
  call <- rlang::current_env()
  arm <- ipd_arm_column(curve, arm, call)
  curve <- ipd_check_curve(curve, arm, call)
  arms <- levels(curve$arm)
  check_number(max_iter, min = 1, call = call)
  if (is.null(at_risk)) {
    if (is.null(n)) {
      cli::cli_abort(c("Give {.arg at_risk} (the numbers-at-risk table) or, failing that, the initial numbers {.arg n}."),
                     call = call, class = "rwe_bad_input")
    }
    n <- ipd_per_arm(n, "n", arms, call)
    at_risk <- data.frame(arm = factor(arms, levels = arms), time = 0, n.risk = n)
  } else {
    if (!is.null(n)) {
      cli::cli_abort("Give {.arg n} only when {.arg at_risk} is {.code NULL}; {.arg at_risk} already holds the numbers at time 0.",
                     call = call, class = "rwe_bad_input")
    }
    at_risk <- ipd_check_at_risk(at_risk, arm, arms, call)
  }
  events <- if (!is.null(total_events)) ipd_per_arm(total_events, "total_events", arms, call)
  n_start <- at_risk$n.risk[at_risk$time == 0]
  if (!is.null(events) && any(events > n_start)) {
    bad <- arms[events > n_start]
    cli::cli_abort(c("{.arg total_events} exceeds the number of patients at time 0.",
                     "x" = "Arm{?s}: {bad}."), call = call, class = "rwe_bad_input")
  }
  if (all(table(at_risk$arm) == 1L)) {
    cli::cli_warn(c("No numbers at risk after time 0: the censoring pattern is guessed.",
                    "!" = "Hazard ratios and other between-arm comparisons from this reconstruction are unreliable."),
                  class = "rwe_ipd_unreliable")
  }
  problems <- character()
  pieces <- vector("list", length(arms))
  points <- vector("list", length(arms))
  for (a in seq_along(arms)) {
    pts <- ipd_clean_curve(curve[curve$arm == arms[a], , drop = FALSE])
    risk <- at_risk[at_risk$arm == arms[a], , drop = FALSE]
    res <- ipd_reconstruct_arm(pts, risk, events[a], as.integer(max_iter))
    problems <- c(problems, if (length(res$problems)) paste0(arms[a], ": ", res$problems))
    pieces[[a]] <- data.frame(time = res$time, status = res$status,
                              arm = factor(rep(arms[a], length(res$time)), levels = arms))
    points[[a]] <- data.frame(arm = factor(arms[a], levels = arms), pts$clicks)
  }
  if (length(problems)) {
    cli::cli_warn(c("The inputs contradict each other; the reconstruction follows the curve where they do.",
                    stats::setNames(problems, rep("!", length(problems)))),
                  class = "rwe_ipd_inconsistent")
  }
  out <- do.call(rbind, pieces)
  out <- out[order(out$arm, out$time, -out$status), , drop = FALSE]
  rownames(out) <- NULL
  points <- do.call(rbind, points)
  class(out) <- c("rwe_ipd", "data.frame")
  attr(out, "curve") <- points
  attr(out, "report") <- ipd_accuracy(out, points, at_risk, events)
  out
}

# The arm column: the one named, or "arm" when curve has it, or none (a single arm).
ipd_arm_column <- function(curve, arm, call) {
  if (!is.data.frame(curve)) {
    cli::cli_abort("{.arg curve} must be a data frame with columns {.field time} and {.field surv}, not {.obj_type_friendly {curve}}.",
                   call = call, class = "rwe_bad_input")
  }
  if (is.null(arm)) return(if ("arm" %in% names(curve)) "arm")
  if (!is.character(arm) || length(arm) != 1L || !arm %in% names(curve)) {
    cli::cli_abort("{.arg arm} must name a column of {.arg curve}.", call = call,
                   class = "rwe_bad_input")
  }
  arm
}

# Checks curve's columns; returns a data frame (arm factor, time, surv), arms in order of
# appearance (or factor levels).
ipd_check_curve <- function(curve, arm, call) {
  missing_cols <- setdiff(c("time", "surv"), names(curve))
  if (length(missing_cols)) {
    cli::cli_abort("{.arg curve} lacks column{?s} {.field {missing_cols}}.", call = call,
                   class = "rwe_bad_input")
  }
  if (nrow(curve) == 0L) {
    cli::cli_abort("{.arg curve} has zero rows.", call = call, class = "rwe_bad_input")
  }
  for (col in c("time", "surv")) {
    x <- curve[[col]]
    if (!is.numeric(x)) {
      cli::cli_abort("{.arg curve}${col} must be numeric, not {.obj_type_friendly {x}}.",
                     call = call, class = "rwe_bad_input")
    }
    bad <- which(!is.finite(x))
    if (length(bad)) abort_rows(paste0("curve$", col), "must be finite numbers", bad, call)
  }
  if (max(curve$surv) > 1.5) {
    cli::cli_abort(c("{.arg curve}$surv must be proportions (0-1); values up to {max(curve$surv)} look like percentages.",
                     "i" = "Divide them by 100."), call = call, class = "rwe_bad_input")
  }
  group <- if (is.null(arm)) factor(rep("1", nrow(curve))) else ipd_arm_factor(curve[[arm]])
  if (anyNA(group)) abort_rows(paste0("curve$", arm), "has missing values", which(is.na(group)),
                               call)
  data.frame(arm = group, time = as.double(curve$time), surv = as.double(curve$surv))
}

ipd_arm_factor <- function(x) {
  if (is.factor(x)) return(droplevels(x))
  factor(as.character(x), levels = unique(as.character(x[!is.na(x)])))
}

# A per-arm count (n, total_events): one number for one arm, or named by arm.
ipd_per_arm <- function(x, arg, arms, call) {
  if (!is.numeric(x) || anyNA(x) || any(x < 0) || any(x != round(x))) {
    cli::cli_abort("{.arg {arg}} must be non-negative whole numbers.", call = call,
                   class = "rwe_bad_input")
  }
  if (length(x) == 1L && length(arms) == 1L) return(as.double(x))
  if (is.null(names(x)) || !setequal(names(x), arms) || length(x) != length(arms)) {
    cli::cli_abort(c("{.arg {arg}} must be named by arm, one number per arm.",
                     "i" = "Arms: {arms}."), call = call, class = "rwe_bad_input")
  }
  as.double(x[arms])
}

# Checks the at-risk table: per arm, starts at time 0, distinct times, non-increasing counts.
ipd_check_at_risk <- function(at_risk, arm, arms, call) {
  if (!is.data.frame(at_risk) || !all(c("time", "n.risk") %in% names(at_risk)) ||
      (!is.null(arm) && !arm %in% names(at_risk))) {
    need <- c("time", "n.risk", arm)
    cli::cli_abort("{.arg at_risk} must be a data frame with columns {.field {need}}.",
                   call = call, class = "rwe_bad_input")
  }
  for (col in c("time", "n.risk")) {
    x <- at_risk[[col]]
    bad <- if (is.numeric(x)) which(!is.finite(x) | x < 0) else seq_along(x)
    if (length(bad)) abort_rows(paste0("at_risk$", col), "must be finite non-negative numbers",
                                bad, call)
  }
  bad <- which(at_risk$n.risk != round(at_risk$n.risk))
  if (length(bad)) abort_rows("at_risk$n.risk", "must be whole numbers", bad, call)
  group <- if (is.null(arm)) rep("1", nrow(at_risk)) else as.character(at_risk[[arm]])
  bad <- which(!group %in% arms)
  if (length(bad)) abort_rows(if (is.null(arm)) "at_risk" else paste0("at_risk$", arm),
                              "names arms that are not in `curve`", bad, call)
  out <- data.frame(arm = factor(group, levels = arms), time = as.double(at_risk$time),
                    n.risk = as.double(at_risk$n.risk), row = seq_len(nrow(at_risk)))
  out <- out[order(out$arm, out$time), , drop = FALSE]
  for (a in arms) ipd_check_arm_risk(out[out$arm == a, , drop = FALSE], a, call)
  out$row <- NULL
  rownames(out) <- NULL
  out
}

ipd_check_arm_risk <- function(r, a, call) {
  if (!nrow(r) || r$time[1L] != 0) {
    cli::cli_abort(c("{.arg at_risk} must give each arm's number at risk at time 0.",
                     "x" = "Arm {a} has none."), call = call, class = "rwe_bad_input")
  }
  dup <- r$row[duplicated(r$time)]
  if (length(dup)) abort_rows("at_risk", paste0("repeats a time of arm ", a), dup, call)
  up <- r$row[c(FALSE, diff(r$n.risk) > 0)]
  if (length(up)) {
    abort_rows("at_risk$n.risk", paste0("must not increase with time (arm ", a, ")"), up, call)
  }
}

# Cleans one arm's points (see the roxygen "Cleaning" paragraph): returns the sorted,
# clamped, non-increasing clicks starting at (0, 1).
ipd_clean_curve <- function(pts) {
  time <- pmax(pts$time, 0)
  surv <- pmin(pmax(pts$surv, 0), 1)
  surv[time == 0] <- 1
  ord <- order(time, -surv)
  time <- c(0, time[ord])
  surv <- cummin(c(1, surv[ord]))
  list(clicks = data.frame(time = time, surv = surv))
}

# Inserts a flat point at each at-risk time, at the curve's value just before it, and
# returns the points with the index of each interval's first point.
ipd_with_risk_points <- function(clicks, risk_times) {
  before <- findInterval(risk_times, clicks$time, left.open = TRUE)
  s_before <- c(1, clicks$surv)[before + 1L]
  time <- c(risk_times, clicks$time)
  surv <- c(s_before, clicks$surv)
  inserted <- c(rep(TRUE, length(risk_times)), rep(FALSE, nrow(clicks)))
  # The inserted point comes first among equal times: it is the curve before any drop there.
  ord <- order(time, !inserted, -surv)
  list(time = time[ord], surv = surv[ord], lower = which(inserted[ord]))
}

# One pass over an interval with n_cens censorings spread evenly over [from, t_end):
# events at each point from the drop of the curve, given the reconstructed number at risk.
ipd_pass <- function(time, surv, idx, t_end, n_start, km_last, n_cens) {
  from <- time[idx[1L]]
  cens_t <- if (n_cens > 0) from + seq_len(n_cens) * (t_end - from) / (n_cens + 1) else
    numeric()
  owner <- findInterval(cens_t, time[idx])
  cen <- tabulate(owner, nbins = length(idx))
  d <- numeric(length(idx))
  n <- n_start
  for (j in seq_along(idx)) {
    dj <- if (km_last > 0 && n > 0) round(n * (1 - surv[idx[j]] / km_last)) else 0
    dj <- min(max(dj, 0), max(n, 0))
    if (dj > 0) km_last <- km_last * (1 - dj / n)
    d[j] <- dj
    # No more censorings than patients left: every patient is counted exactly once.
    cen[j] <- min(cen[j], max(n - dj, 0))
    n <- n - dj - cen[j]
  }
  used <- unlist(lapply(seq_along(idx), function(j) which(owner == j)[seq_len(cen[j])]))
  list(d = d, cens_t = cens_t[sort(used)], n_end = n, km_last = km_last, n_cens = n_cens)
}

# Iterates the censoring count c in [0, c_max]: c <- c + gap(pass), until the gap is 0, c is
# stuck at a bound, a count repeats (then the best count seen is used) or max_iter passes.
ipd_iterate <- function(run, gap, c0, c_max, max_iter) {
  c_max <- max(c_max, 0)
  cc <- min(max(c0, 0), c_max)
  seen <- numeric()
  gaps <- numeric()
  for (it in seq_len(max_iter)) {
    res <- run(cc)
    g <- gap(res)
    seen <- c(seen, cc)
    gaps <- c(gaps, g)
    if (g == 0) return(c(res, list(gap = 0, converged = TRUE)))
    nxt <- min(max(cc + g, 0), c_max)
    if (nxt == cc) return(c(res, list(gap = g, converged = TRUE)))
    if (nxt %in% seen) break
    cc <- nxt
  }
  best <- order(abs(gaps), seen)[1L]
  res <- run(seen[best])
  c(res, list(gap = gaps[best], converged = nxt %in% seen))
}

# Reconstructs one arm: the intervals between at-risk times in turn, then the tail after the
# last at-risk time. Returns times, statuses and the contradictions found.
ipd_reconstruct_arm <- function(pts, risk, total_events, max_iter) {
  risk_times <- risk$time
  pp <- ipd_with_risk_points(pts$clicks, risk_times)
  time <- pp$time
  surv <- pp$surv
  lower <- c(pp$lower, length(time) + 1L)
  k <- length(risk_times)
  n_now <- risk$n.risk[1L]
  km_last <- 1
  ev_t <- numeric()
  ev_n <- numeric()
  cens <- numeric()
  problems <- character()
  keep <- function(res, idx) {
    ev_t <<- c(ev_t, time[idx][res$d > 0])
    ev_n <<- c(ev_n, res$d[res$d > 0])
    cens <<- c(cens, res$cens_t)
    n_now <<- res$n_end
    km_last <<- res$km_last
  }
  for (i in seq_len(k - 1L)) {
    idx <- lower[i]:(lower[i + 1L] - 1L)
    target <- risk$n.risk[i + 1L]
    t_end <- time[lower[i + 1L]]
    run <- function(cc) ipd_pass(time, surv, idx, t_end, n_now, km_last, cc)
    c0 <- round(n_now * ipd_ratio(surv[lower[i + 1L]], surv[lower[i]]) - target)
    res <- ipd_iterate(run, function(r) r$n_end - target, c0, n_now - target, max_iter)
    problems <- c(problems, ipd_interval_problem(res, risk_times[i], risk_times[i + 1L],
                                                 target))
    keep(res, idx)
  }
  idx <- lower[k]:length(time)
  t_last <- time[length(time)]
  run <- function(cc) ipd_pass(time, surv, idx, t_last, n_now, km_last, cc)
  if (is.null(total_events)) {
    # No count to match: the censoring rate (per unit time) of the earlier intervals.
    rate <- if (k > 1L && risk_times[k] > 0) length(cens) / risk_times[k] else 0
    res <- run(min(round(rate * (t_last - risk_times[k])), n_now))
  } else {
    left <- total_events - sum(ev_n)
    res <- ipd_iterate(run, function(r) sum(r$d) - left, 0, n_now, max_iter)
    if (res$gap != 0) {
      problems <- c(problems, sprintf(
        "total_events = %s cannot be matched: the curve gives %s.", total_events,
        sum(ev_n) + sum(res$d)))
    }
  }
  keep(res, idx)
  tail <- rep(t_last, max(n_now, 0))
  list(time = c(rep(ev_t, ev_n), cens, tail),
       status = c(rep(1, sum(ev_n)), rep(0, length(cens) + length(tail))),
       problems = problems)
}

# Ratio of two survival values, 0 once the curve has reached 0.
ipd_ratio <- function(s1, s0) if (s0 > 0) s1 / s0 else 0

ipd_interval_problem <- function(res, from, to, target) {
  if (res$gap < 0) {
    return(sprintf(paste("between times %s and %s the curve implies %s more event(s) than",
                         "the numbers at risk allow (%s reconstructed at risk at %s, %s given)."),
                   format(from), format(to), -res$gap, res$n_end, format(to), target))
  }
  if (res$gap > 0) {
    why <- if (res$converged) "a cycle" else "`max_iter`"
    return(sprintf(paste("between times %s and %s the iteration stopped (%s) with %s patient(s)",
                         "more at risk than given."), format(from), format(to), why, res$gap))
  }
  character()
}
