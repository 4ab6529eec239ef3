# Survival tables of a cohort (Table 4, the overall PFS text, follow-up): survival_by(),
# survival_overall(), followup_summary(). They only validate columns, split patients by the
# factors and call the package's engines (km_fit_matrix(), km_median(), km_rmean(),
# logrank_test_matrix()); the numbers are those engines'.

# ---- shared input handling (also used by cox_table() and km_plot()) ----------------------

# Validates `data`, the `time` and `event` column names and their values; returns the time
# and event vectors (event as 0/1 doubles), with `keep` marking rows where both are known.
# Rows with a missing time or event (e.g. patients not evaluable) are left out, never
# silently imputed; their number is reported by the verbs.
surv_columns <- function(data, time, event, call = rlang::caller_env()) {
  check_data_frame(data, arg = "data", call = call)
  check_column_name(time, data, arg = "time", call = call)
  check_column_name(event, data, arg = "event", call = call)
  tt <- data[[time]]
  ev <- data[[event]]
  if (!is.numeric(tt)) {
    cli::cli_abort("{.arg time}: column {.val {time}} must be numeric, not
                    {.obj_type_friendly {tt}}.", call = call, class = "rwe_bad_input")
  }
  if (!(is.numeric(ev) || is.logical(ev))) {
    cli::cli_abort("{.arg event}: column {.val {event}} must be 0/1 or logical, not
                    {.obj_type_friendly {ev}}.", call = call, class = "rwe_bad_input")
  }
  if (is_cnsr_name(event)) abort_cnsr(event, call)
  ev <- event_codes(as.double(ev), event, call)
  bad <- which(!is.na(tt) & (!is.finite(tt) | tt < 0))
  if (length(bad)) {
    abort_rows("time", sprintf("(column \"%s\") must be finite and non-negative; found %s",
                               time, format_offenders(tt[bad])), bad, call)
  }
  keep <- !is.na(tt) & !is.na(ev)
  if (!any(keep)) {
    cli::cli_abort("{.arg time}/{.arg event}: no row has both {.val {time}} and
                    {.val {event}} known.", call = call, class = "rwe_bad_input")
  }
  list(time = as.double(tt), event = ev, keep = keep, n_dropped = sum(!keep))
}

# Event codes as Surv() reads them: 0/1 (or FALSE/TRUE), or 1/2 (1 = censored, 2 = event)
# when every known code is 1 or 2. Returned as 0/1 doubles; any other code is an error.
event_codes <- function(ev, event, call) {
  known <- ev[!is.na(ev)]
  if (length(known) && all(known %in% c(1, 2)) && any(known == 2)) return(ev - 1)
  bad <- which(!is.na(ev) & !ev %in% c(0, 1))
  if (length(bad)) {
    abort_rows("event", sprintf("(column \"%s\") must be 0/1, 1/2 or TRUE/FALSE; found %s",
                                event, format_offenders(ev[bad])), bad, call)
  }
  ev
}

# Validates `factors` (column names of logical, character or factor columns).
check_factor_columns <- function(data, factors, exclude, call = rlang::caller_env(),
                                 numeric_ok = FALSE) {
  if (!is.character(factors) || length(factors) == 0L || anyNA(factors)) {
    cli::cli_abort("{.arg factors} must be a non-empty character vector of column names.",
                   call = call, class = "rwe_bad_input")
  }
  check_columns(data, factors, arg = "data", call = call)
  clash <- intersect(factors, exclude)
  if (length(clash)) {
    cli::cli_abort("{.arg factors} cannot include the time or event column ({.val {clash}}).",
                   call = call, class = "rwe_bad_input")
  }
  for (f in factors) {
    x <- data[[f]]
    if (!(is.logical(x) || is.character(x) || is.factor(x) || (numeric_ok && is.numeric(x)))) {
      cli::cli_abort(c("{.arg factors}: column {.val {f}} is {.obj_type_friendly {x}}; use a
                        logical, character or factor column.",
                       "i" = "Cut numeric variables into groups first (e.g.
                              {.code age_ge55 <- age_years >= 55})."),
                     call = call, class = "rwe_bad_input")
    }
  }
  invisible(factors)
}

# The levels of one factor among the analysed rows, in display order (logical: Yes, No;
# factor: its level order; character: sorted), the displayed level names, and the declared
# levels that have no patient (dropped, and flagged). A factor with fewer than two
# non-empty levels cannot be compared: error naming it.
factor_levels <- function(x, name, call = rlang::caller_env()) {
  declared <- if (is.factor(x)) levels(x) else if (is.logical(x)) c("TRUE", "FALSE") else NULL
  present <- group_levels(x[!is.na(x)])
  empty <- setdiff(declared, present)
  if (length(present) < 2L) {
    shown <- display_levels(present, is.logical(x))
    cli::cli_abort("{.arg factors}: {.val {name}} has {length(present)} level{?s} among the
                    analysed patients ({.val {shown}}); it needs at least two.",
                   call = call, class = "rwe_bad_input")
  }
  list(levels = present, shown = display_levels(present, is.logical(x)), empty = empty)
}

display_levels <- function(levels, logical) {
  if (!logical) return(levels)
  unname(c("TRUE" = "Yes", "FALSE" = "No")[levels])
}

# Joins the non-missing flags of each row with "; " (NA when none applies).
join_flags <- function(...) {
  parts <- list(...)
  out <- vapply(seq_along(parts[[1L]]), function(i) {
    f <- vapply(parts, function(p) as.character(p[[i]]), character(1))
    f <- f[!is.na(f) & nzchar(f)]
    if (length(f)) paste(f, collapse = "; ") else NA_character_
  }, character(1))
  out
}

# ---- Table 4 --------------------------------------------------------------------------------

#' Survival by subgroup (Table 4)
#'
#' For each factor and each of its levels: the number of patients, the events, the
#' Kaplan-Meier median with its confidence interval (by [km_median()], i.e. the rule of
#' `print.survfit()`), the SPSS-style Kaplan-Meier mean (the area under the curve up to the
#' group's largest observed time, [km_rmean()] with `tau = "spss"`) with its standard error,
#' and the log-rank test over the factor's levels ([logrank_test_matrix()]).
#'
#' The "PFS, months" column of the published Table 4 holds these SPSS means, not medians.
#' Groups without events print "–" for the mean and the median (the mean of a curve that
#' never drops is only the group's largest time), as the published table does.
#'
#' In the printed median (95% CI), `NR` ("not reached") marks a median, or a confidence
#' limit, whose curve stays above 0.5 up to the group's last observed time: follow-up was too
#' short to reach it. `NE` ("not estimable") marks a confidence limit that cannot be
#' computed: its (log-scale) confidence curve is undefined once the survival estimate drops
#' to 0, so when the curve falls from above 0.5 straight to 0 (e.g. a group of one patient,
#' who has an event) the lower and upper limits print `NE`. The table's footnote says so.
#'
#' @param data A data frame, one row per patient.
#' @param time Name of the numeric time column (finite, non-negative).
#' @param event Name of the event column, coded as [survival::Surv()] reads it: 0/1,
#'   `FALSE`/`TRUE`, or 1/2 (1 = censored, 2 = event, SPSS's habit). Rows where `time` or
#'   `event` is missing (e.g. patients not evaluable) are left out and counted in the
#'   footnote. A column named `CNSR` (CDISC ADaM: 0 = event) is refused; use [adtte_surv()]
#'   or a column `1 - CNSR`.
#' @param factors Character vector of column names (logical, character or factor; haven
#'   value-labelled columns count as factors when every value has a label). Logical
#'   columns give the levels `"Yes"` (`TRUE`) and `"No"`; factors keep their level order;
#'   character values are sorted. Patients with a missing value are left out of that factor.
#' @param labels Optional named character vector of display labels for the factors, e.g.
#'   `c(age_ge55 = "Age >= 55 years")`. Factors without one are shown by their variable label
#'   (`attr(x, "label")`, as haven reads SAS/SPSS files; see [column_labels()]), else by name.
#' @param conf.level Confidence level of the median's interval (log scale, as survfit).
#' @param conf.int Deprecated name of `conf.level` (a warning of class `rwe_deprecated`).
#' @param min_n Levels with fewer patients are flagged `"n < min_n"`.
#' @param mean Show the SPSS-style mean (restricted to each group's largest time) as a
#'   printed column? The numbers are always in `mean_spss` and `mean_spss_se`; the column is
#'   printed only when asked for (e.g. to match a published SPSS table), because its
#'   restriction differs between groups and it is easily misread.
#' @return A data frame of class `c("rwe_survival_by", "rwe_table", "data.frame")`, one row
#'   per factor level, with columns `variable` (column name), `label`, `level`, `n`,
#'   `percent` (of the patients with a known value of the factor), `events`, `median`,
#'   `median_low`, `median_high` (`NA` = not reached or not estimable; `summary` tells
#'   which), `mean_spss`, `mean_spss_se`,
#'   `p_value` (log-rank, on the first row of each factor, `NA` on the others), `flag`
#'   (`"n < 5"`, `"no events"`, `"median not reached"`, `"empty level(s) dropped: ..."`,
#'   joined by `"; "`; `NA` when none) and `summary` (the printed median and CI, `"NR"` where
#'   not reached, `"NE"` for a limit that is not estimable and `"–"` for a group without
#'   events).
#' @seealso [survival_overall()], [cox_table()], [km_plot()].
#' @examples
#' pts <- subset(rrdtc_patients, evaluable)
#' pts$age_ge55 <- pts$age_years >= 55
#' pts$sex <- factor(pts$sex, levels = c("male", "female"))
#' tab <- survival_by(pts, "pfs_months", "pfs_event", c("sex", "age_ge55", "met_bone"),
#'                    labels = c(sex = "Gender", age_ge55 = "Age >= 55",
#'                               met_bone = "Bone metastasis"))
#' tab
#' tidy(tab)
#' @export
survival_by <- function(data, time, event, factors, labels = NULL, conf.level = 0.95,
                        min_n = 5, mean = FALSE, conf.int = NULL) {
  call <- rlang::current_env()
  cols <- surv_columns(data, time, event, call = call)
  data <- prepare_labelled(data, factors)
  check_factor_columns(data, factors, exclude = c(time, event), call = call)
  labels <- check_labels(with_data_labels(labels, data, factors), factors,
                         arg = "labels", call = call)
  conf.level <- deprecated_conf_int(conf.int, conf.level, !missing(conf.level), call = call)
  check_number(min_n, arg = "min_n", min = 0, call = call)
  check_flag(mean, call = call)
  digits <- time_digits(cols$time[cols$keep])
  rows <- lapply(factors, function(f) {
    survival_by_factor(data[[f]][cols$keep], cols$time[cols$keep], cols$event[cols$keep],
                       f, labels[[f]], conf.level, min_n, call, digits)
  })
  out <- do.call(rbind, rows)
  n_missing <- vapply(factors, function(f) sum(is.na(data[[f]][cols$keep])), numeric(1))
  notes <- c(sprintf("Median (%s%% CI) by the rule of survival::survfit; NR = not reached (the curve, or the confidence limit's curve, stays above 0.5 until the group's last time); NE = not estimable (the limit's confidence curve is undefined once survival drops to 0, e.g. a group of one patient); \u2013 = no events.",
                     format(100 * conf.level)),
             if (mean) "Mean: Kaplan-Meier mean restricted to each group's largest time (as SPSS).",
             "p: log-rank test over the levels of each factor.",
             if (cols$n_dropped > 0) sprintf("%d row(s) with missing time or event left out.",
                                              cols$n_dropped),
             if (any(n_missing > 0)) sprintf("Missing values left out: %s.",
                                             paste0(names(n_missing)[n_missing > 0], " ",
                                                    n_missing[n_missing > 0], collapse = ", ")))
  new_rwe_table(out, "rwe_survival_by",
                title = sprintf("Survival by subgroup (N = %d)", sum(cols$keep)),
                footnotes = notes, n_missing = n_missing, conf.level = conf.level,
                show_mean = mean)
}

# Decimals of printed medians: times on a day scale (largest time above 100, as follow-up in
# days is) print as whole numbers; weeks, months or years with one decimal.
time_digits <- function(time) if (length(time) && max(time) > 100) 0 else 1

# Rows of one factor: per-level Kaplan-Meier summaries and the log-rank p.
survival_by_factor <- function(x, time, event, name, label, conf.level, min_n, call,
                               digits = 1) {
  lev <- factor_levels(x, name, call)
  known <- !is.na(x)
  group <- factor(as.character(x[known]), levels = lev$levels)
  time <- time[known]
  event <- event[known]
  fit <- km_fit_matrix(time, event, group = group, conf.level = conf.level)
  med <- km_median(fit)
  mean <- km_rmean(fit, "spss")
  events <- med$events
  p <- if (sum(event) > 0) logrank_test_matrix(time, event, group)$p.value else NA_real_
  n <- as.vector(table(group))
  flag <- join_flags(
    ifelse(n < min_n, paste("n <", format(min_n)), NA),
    ifelse(events == 0, "no events", NA),
    ifelse(events > 0 & is.na(med$median), "median not reached", NA),
    c(if (length(lev$empty)) paste0("empty level(s) dropped: ",
                                    paste(lev$empty, collapse = ", ")) else NA,
      rep(NA, length(n) - 1L)))
  out <- data.frame(variable = name, label = label, level = lev$shown, n = n,
                    percent = 100 * n / sum(n), events = events, median = med$median,
                    median_low = med$conf.low, median_high = med$conf.high,
                    mean_spss = mean$rmean, mean_spss_se = mean$std.error,
                    p_value = c(p, rep(NA_real_, length(n) - 1L)), flag = flag,
                    stringsAsFactors = FALSE)
  ne <- median_limits_ne(fit, med)
  out$summary <- median_text(out$median, out$median_low, out$median_high, events,
                             digits = digits, low_ne = ne$low, high_ne = ne$high)
  out
}

# km_median() returns NA both for a limit that is not reached and for one that cannot be
# estimated, and the table must tell them apart (NR vs NE). On the log scale the confidence
# curves are undefined where S = 0, so a limit is not estimable when its curve is undefined
# at the group's last time without having fallen to 0.5 before (e.g. one patient, who has an
# event: S drops from 1 to 0). A limit whose curve is defined to the end is "not reached".
median_limits_ne <- function(fit, med) {
  rows <- km_strata_rows(fit)
  undefined_at_end <- function(v) {
    vapply(rows, function(r) length(r) > 0L && is.na(v[r[length(r)]]), logical(1))
  }
  list(low = is.na(med$conf.low) & undefined_at_end(fit$curves$lower),
       high = is.na(med$conf.high) & undefined_at_end(fit$curves$upper))
}

# Flags as printed: "median not reached" is left out, the median column already says NR.
display_flag <- function(flag) {
  out <- gsub("(; )?median not reached", "", ifelse(is.na(flag), "", flag))
  sub("^; ", "", out)
}

# "16.5 (14.0–NR)", "5.0 (NE–NE)"; "–" for a group without events. `low_ne`, `high_ne`
# (from median_limits_ne()) mark the missing limits that are not estimable.
median_text <- function(median, low, high, events, digits = 1, ci_digits = digits,
                        low_ne = FALSE, high_ne = FALSE) {
  out <- paste0(format_nr(median, digits), " (", format_nr(low, ci_digits, low_ne), "\u2013",
                format_nr(high, ci_digits, high_ne), ")")
  out[events == 0] <- "\u2013"
  out
}

#' @export
display_table.rwe_survival_by <- function(x, ...) {
  check_dots_empty_bad(...)
  first <- !duplicated(x$variable)
  mean <- sprintf("%.3f", x$mean_spss)
  mean[x$events == 0] <- "\u2013"
  shown <- data.frame(variable = ifelse(first, x$label, ""), level = x$level,
             `N (%)` = format_n_percent(x$n, stats::ave(x$n, x$variable, FUN = sum)),
             events = x$events, `mean (SPSS)` = mean,
             median = x$summary,
             p = ifelse(first, format_pvalue(x$p_value), ""),
             note = display_flag(x$flag), check.names = FALSE)
  if (!isTRUE(attr(x, "show_mean"))) shown$`mean (SPSS)` <- NULL
  level <- attr(x, "conf.level")
  names(shown)[names(shown) == "median"] <-
    sprintf("median (%s%% CI)", format(100 * if (is.null(level)) 0.95 else level))
  shown
}

# ---- overall survival and follow-up -------------------------------------------------------

#' Overall survival summary (median with two confidence intervals, SPSS mean)
#'
#' One row for the whole cohort: patients, events, the Kaplan-Meier median with the
#' confidence interval of `print.survfit()` (the times where the pointwise log-scale limits
#' cross 0.5), the median as SPSS prints it (the first event time where S(t) <= 0.5, no
#' midpoint rule) with a symmetric interval, and the SPSS mean with its standard error.
#'
#' The SPSS-style median interval is `median +/- z * SE`. SPSS's exact standard-error formula
#' is not documented in a form we could verify; this function uses the density-based
#' formula of Collett (*Modelling Survival Data in Medical Research*, eq. 2.20), which
#' constraints on the published numbers describe: SE = SE(S(t50)) / f, with SE(S(t50)) the
#' Greenwood standard error of S at the median and the density
#' f = (S(u) - S(l)) / (l - u), where u is the largest event time with S >= 0.55 (0 when
#' none) and l the smallest event time with S <= 0.45. It is `NA` when l does not exist.
#'
#' @inheritParams survival_by
#' @return A one-row data frame of class `c("rwe_survival_overall", "rwe_table",
#'   "data.frame")`: `n`, `events`, `median`, `median_low`, `median_high` (survfit's rule;
#'   `NA` = not reached or not estimable), `median_spss`, `median_spss_se`, `median_spss_low`,
#'   `median_spss_high`, `mean_spss`, `mean_spss_se`, `mean_spss_low`, `mean_spss_high`
#'   (restricted to the largest observed time, symmetric normal limits), `tau` (that time),
#'   `summary` (the printed survfit median and CI: `NR` = not reached, `NE` = not estimable,
#'   as in [survival_by()]).
#' @examples
#' pts <- subset(rrdtc_patients, evaluable)
#' survival_overall(pts, "pfs_months", "pfs_event")
#' @export
survival_overall <- function(data, time, event, conf.level = 0.95, conf.int = NULL) {
  call <- rlang::current_env()
  cols <- surv_columns(data, time, event, call = call)
  conf.level <- deprecated_conf_int(conf.int, conf.level, !missing(conf.level), call = call)
  tt <- cols$time[cols$keep]
  ev <- cols$event[cols$keep]
  fit <- km_fit_matrix(tt, ev, conf.level = conf.level)
  med <- km_median(fit)
  mean <- km_rmean(fit, "spss", conf.level = conf.level)
  spss <- spss_median(fit$curves)
  z <- stats::qnorm(1 - (1 - conf.level) / 2)
  out <- data.frame(n = length(tt), events = sum(ev), median = med$median,
                    median_low = med$conf.low, median_high = med$conf.high,
                    median_spss = spss[["median"]], median_spss_se = spss[["se"]],
                    median_spss_low = spss[["median"]] - z * spss[["se"]],
                    median_spss_high = spss[["median"]] + z * spss[["se"]],
                    mean_spss = mean$rmean, mean_spss_se = mean$std.error,
                    mean_spss_low = mean$conf.low, mean_spss_high = mean$conf.high,
                    tau = mean$tau)
  ne <- median_limits_ne(fit, med)
  day_scale <- time_digits(tt) == 0
  out$summary <- paste0(format_nr(out$median, if (day_scale) 0 else 1), " (",
                        format_nr(out$median_low, if (day_scale) 0 else 2, ne$low), "\u2013",
                        format_nr(out$median_high, if (day_scale) 0 else 2, ne$high), ")")
  notes <- c("Median (survfit): CI where the log-scale pointwise limits cross 0.5; NR = not reached (the curve or the limit's curve stays above 0.5 until the last time); NE = not estimable (the limit's curve is undefined once survival drops to 0).",
             "Median (SPSS): first time with S(t) <= 0.5; CI median +/- z SE, SE by Collett's density formula (0.45/0.55 survival points).",
             "Mean: restricted to the largest observed time (SPSS).",
             if (!is.na(spss[["median"]]) && is.na(spss[["se"]]))
               "SPSS-style median CI not estimable: the curve never falls to 0.45.",
             if (cols$n_dropped > 0) sprintf("%d row(s) with missing time or event left out.",
                                              cols$n_dropped))
  new_rwe_table(out, "rwe_survival_overall", title = "Overall survival",
                footnotes = notes, conf.level = conf.level, day_scale = day_scale)
}

# SPSS's median (the first time S <= 0.5) and Collett's density-based standard error.
spss_median <- function(cv) {
  ev <- cv[cv$n.event > 0, , drop = FALSE]
  tol <- sqrt(.Machine$double.eps)
  at <- which(ev$surv <= 0.5 + tol)
  if (!length(at)) return(c(median = NA_real_, se = NA_real_))
  median <- ev$time[at[1L]]
  se_s <- ev$std.err.surv[at[1L]]
  upper_pts <- which(ev$surv >= 0.55 - tol)
  u_time <- if (length(upper_pts)) ev$time[max(upper_pts)] else 0
  u_surv <- if (length(upper_pts)) ev$surv[max(upper_pts)] else 1
  lower_pts <- which(ev$surv <= 0.45 + tol)
  if (!length(lower_pts)) return(c(median = median, se = NA_real_))
  l <- min(lower_pts)
  density <- (u_surv - ev$surv[l]) / (ev$time[l] - u_time)
  c(median = median, se = se_s / density)
}

#' @export
display_table.rwe_survival_overall <- function(x, ...) {
  check_dots_empty_bad(...)
  # Day-scale times (see time_digits()) print as whole days, month-scale ones with decimals.
  d <- if (isTRUE(attr(x, "day_scale"))) c(0, 0, 1) else c(1, 2, 3)
  ci <- function(lo, hi) paste0(format_nr(lo, d[2]), "\u2013", format_nr(hi, d[2]))
  data.frame(N = x$n, events = x$events,
             `median (survfit CI)` = x$summary,
             `median (SPSS CI)` = paste0(format_nr(x$median_spss, d[1]), " (",
                                         ifelse(is.na(x$median_spss_se), "CI not estimable",
                                                ci(x$median_spss_low, x$median_spss_high)),
                                         ")"),
             `mean (SE)` = sprintf(sprintf("%%.%df (%%.%df)", d[3], d[3]), x$mean_spss,
                                   x$mean_spss_se),
             check.names = FALSE)
}

#' Median follow-up (reverse Kaplan-Meier and simple median)
#'
#' The median follow-up by the reverse Kaplan-Meier method (the event indicator flipped, so
#' that censoring is the "event"), with its confidence interval by the rule of
#' [km_median()], and the simple median (range) of the follow-up times that papers often
#' report (e.g. "17.5 (4.0–51.0) months").
#'
#' @inheritParams survival_by
#' @param followup Optional name of a numeric column of follow-up times for the simple
#'   median (range); `NULL` uses `time`.
#' @return A one-row data frame of class `c("rwe_followup", "rwe_table", "data.frame")`:
#'   `n`, `median_reverse_km`, `median_reverse_km_low`, `median_reverse_km_high` (`NA` = not
#'   reached or not estimable), `median_simple`, `min`, `max` (of `followup`, or `time`),
#'   `summary` (the printed "median (min–max)"), `summary_reverse_km` (the printed reverse
#'   Kaplan-Meier median and CI; `NR` = not reached, `NE` = not estimable).
#' @examples
#' pts <- subset(rrdtc_patients, evaluable)
#' followup_summary(pts, "pfs_months", "pfs_event", followup = "followup_months")
#' @export
followup_summary <- function(data, time, event, followup = NULL, conf.level = 0.95,
                             conf.int = NULL) {
  call <- rlang::current_env()
  cols <- surv_columns(data, time, event, call = call)
  conf.level <- deprecated_conf_int(conf.int, conf.level, !missing(conf.level), call = call)
  fu <- cols$time
  if (!is.null(followup)) {
    check_column_name(followup, data, arg = "followup", call = call)
    fu <- data[[followup]]
    if (!is.numeric(fu)) {
      cli::cli_abort("{.arg followup}: column {.val {followup}} must be numeric, not
                      {.obj_type_friendly {fu}}.", call = call, class = "rwe_bad_input")
    }
  }
  fu <- fu[cols$keep & !is.na(fu)]
  tt <- cols$time[cols$keep]
  rev_fit <- km_fit_matrix(tt, 1 - cols$event[cols$keep], conf.level = conf.level)
  reverse <- km_median(rev_fit)
  ne <- median_limits_ne(rev_fit, reverse)
  out <- data.frame(n = length(tt), median_reverse_km = reverse$median,
                    median_reverse_km_low = reverse$conf.low,
                    median_reverse_km_high = reverse$conf.high,
                    median_simple = stats::median(fu), min = min(fu), max = max(fu),
                    summary = format_median_range(fu, digits = 1),
                    summary_reverse_km = median_text(reverse$median, reverse$conf.low,
                                                     reverse$conf.high, 1,
                                                     low_ne = ne$low, high_ne = ne$high))
  new_rwe_table(out, "rwe_followup", title = "Follow-up",
                footnotes = c("Reverse Kaplan-Meier: censoring as the event; NR = not reached, NE = not estimable.",
                              sprintf("Simple median (range) of %s.",
                                      if (is.null(followup)) time else followup),
                              if (cols$n_dropped > 0)
                                sprintf("%d row(s) with missing time or event left out.",
                                        cols$n_dropped)),
                conf.level = conf.level)
}

#' @export
display_table.rwe_followup <- function(x, ...) {
  check_dots_empty_bad(...)
  data.frame(N = x$n,
             `reverse KM median (95% CI)` = x$summary_reverse_km,
             `median (range)` = x$summary, check.names = FALSE)
}
