#' RECIST 1.1 response from target-lesion measurements
#'
#' Derives per-visit and best overall responses from long target-lesion data (one row per
#' lesion and visit), following RECIST 1.1 for target lesions:
#' * the sum of diameters per patient and visit, its % change from baseline and from the
#'   nadir (the smallest sum at any earlier visit, baseline included);
#' * the response at each post-baseline visit, in this order of precedence:
#'   **PD** if a new lesion appears, or if the sum rose by at least 20% over the nadir
#'   *and* by at least 5 mm in absolute terms; **CR** if the sum is 0 (all target lesions
#'   gone; lymph-node short-axis rules are not modelled); **PR** if the sum fell by at
#'   least 30% from baseline; **SD** otherwise. A visit with a missing diameter is `NE`
#'   (not evaluable) unless a new lesion makes it PD;
#' * the best overall response: PD if the first assessment is PD, otherwise the best of
#'   the visits before the first PD (CR > PR > SD);
#' * the best % change from baseline (the waterfall value): the minimum % change over all
#'   post-baseline visits.
#'
#' @param lesions A data frame of target-lesion measurements, one row per lesion and
#'   visit.
#' @param id,visit,diameter Names of the patient-id, visit-time (numeric, e.g. months)
#'   and lesion-diameter (mm) columns.
#' @param new_lesion Name of a logical column flagging a new lesion at that patient-visit
#'   (any `TRUE` in the patient-visit counts), or `NULL` if there is none.
#' @param baseline_visit Value of `visit` that marks the baseline assessment. Every
#'   patient needs one, with a positive sum of diameters.
#' @param confirm If `TRUE`, a CR or PR counts towards the best overall response only if
#'   the next assessment confirms it (CR then CR; PR then PR or CR); unconfirmed
#'   responses count as SD. RECIST 1.1 requires confirmation for non-randomised trials.
#' @return A data frame of class `c("rwe_recist", "rwe_table", "data.frame")`, one row per
#'   patient, with columns: the `id` column, `baseline_sum_mm`, `nadir_sum_mm` (smallest
#'   sum over all visits), `best_pct_change` (minimum % change from baseline after
#'   baseline, `NA` without follow-up), `best_response` (`"CR"`, `"PR"`, `"SD"`, `"PD"`,
#'   or `NA` without post-baseline assessment), `first_pd_visit`, `progression_type`
#'   (`"new_lesion"`, `"target_enlargement"` or `NA`) and `n_assessments`
#'   (post-baseline visits). The per-visit table is `attr(x, "visits")` (also
#'   `tidy(x, what = "visits")`), with columns `id`, `visit`, `sum_mm`, `nadir_mm`,
#'   `pct_change_baseline`, `pct_change_nadir`, `new_lesion` and `response`.
#' @examples
#' resp <- recist_response(rrdtc_lesions)
#' resp
#' head(tidy(resp, what = "visits"))
#' @export
recist_response <- function(lesions, id = "patient_id", visit = "visit_month",
                            diameter = "diameter_mm", new_lesion = "new_lesion",
                            baseline_visit = 0, confirm = FALSE) {
  check_data_frame(lesions)
  check_column_name(id, lesions, data_arg = "lesions")
  check_column_name(visit, lesions, data_arg = "lesions")
  check_column_name(diameter, lesions, data_arg = "lesions")
  check_numeric_column(lesions, visit, arg = "lesions")
  check_numeric_column(lesions, diameter, arg = "lesions")
  if (!is.null(new_lesion)) {
    check_column_name(new_lesion, lesions, data_arg = "lesions")
    if (!is.logical(lesions[[new_lesion]])) {
      cli::cli_abort("Column {.val {new_lesion}} of {.arg lesions} must be logical.",
        class = "rwe_bad_input")
    }
  }
  check_number(baseline_visit)
  check_flag(confirm)
  bad <- which(!is.na(lesions[[diameter]]) & lesions[[diameter]] < 0)
  if (length(bad) > 0) {
    cli::cli_abort("{.arg lesions} has negative diameters in
                    {cli::qty(length(bad))}row{?s} {format_offenders(bad)}.", class = "rwe_bad_input")
  }
  visits <- recist_visits(lesions, id, visit, diameter, new_lesion, baseline_visit)
  per_patient <- split(visits, factor(visits$id, levels = unique(visits$id)))
  patients <- do.call(rbind, lapply(per_patient, recist_patient, confirm = confirm))
  names(patients)[1] <- id
  names(visits)[1] <- id
  new_rwe_table(patients, "rwe_recist", title = "RECIST 1.1 best overall response",
                visits = visits, id = id)
}

# Sums of diameters per patient-visit, % changes and per-visit responses.
recist_visits <- function(lesions, id, visit, diameter, new_lesion, baseline_visit,
                          call = rlang::caller_env()) {
  ids <- as.character(lesions[[id]])
  key <- paste(ids, lesions[[visit]], sep = "\r")
  first <- !duplicated(key)
  sums <- tapply(lesions[[diameter]], key, sum)
  new <- if (is.null(new_lesion)) rep(FALSE, length(key)) else lesions[[new_lesion]] %in% TRUE
  visits <- data.frame(id = ids[first], visit = lesions[[visit]][first],
                       sum_mm = as.vector(sums[key[first]]),
                       new_lesion = as.vector(tapply(new, key, any)[key[first]]))
  visits <- visits[order(match(visits$id, unique(ids)), visits$visit), ]
  baseline <- visits[visits$visit == baseline_visit, ]
  no_baseline <- setdiff(unique(ids), baseline$id)
  if (length(no_baseline) > 0) {
    cli::cli_abort("No baseline visit ({.arg baseline_visit} = {baseline_visit}) in
                    {.arg lesions} for {cli::qty(length(no_baseline))}patient{?s}
                    {format_offenders(no_baseline, quote = TRUE)}.",
                   call = call, class = "rwe_bad_input")
  }
  bad <- baseline$id[is.na(baseline$sum_mm) | baseline$sum_mm <= 0]
  if (length(bad) > 0) {
    cli::cli_abort("No measurable baseline (sum of diameters missing or 0) in
                    {.arg lesions} for {cli::qty(length(bad))}patient{?s}
                    {format_offenders(bad, quote = TRUE)}.", call = call, class = "rwe_bad_input")
  }
  before <- visits$visit < baseline_visit
  if (any(before)) {
    early <- unique(visits$id[before])
    cli::cli_abort("Visits before {.arg baseline_visit} = {baseline_visit} for
                    {cli::qty(length(early))}patient{?s} {format_offenders(early, quote = TRUE)}.",
                   call = call, class = "rwe_bad_input")
  }
  per_patient <- split(visits, factor(visits$id, levels = unique(visits$id)))
  out <- do.call(rbind, lapply(per_patient, recist_visit_responses))
  rownames(out) <- NULL
  out
}

# Per-visit nadir, % changes and responses of one patient (rows sorted by visit, the
# first row being the baseline).
recist_visit_responses <- function(v) {
  base <- v$sum_mm[1]
  # Nadir = smallest sum at any earlier visit (baseline included); missing sums are
  # skipped so that one unreadable scan does not erase the reference.
  previous_min <- cummin(ifelse(is.na(v$sum_mm), Inf, v$sum_mm))
  v$nadir_mm <- c(base, previous_min[-nrow(v)])
  v$pct_change_baseline <- 100 * (v$sum_mm - base) / base
  increase <- v$sum_mm - v$nadir_mm
  v$pct_change_nadir <- ifelse(v$nadir_mm > 0, 100 * increase / v$nadir_mm, NA_real_)
  # The tolerance keeps exact thresholds (e.g. 25 -> 30 mm, 30 -> 21 mm) on the side the
  # criteria put them despite floating-point error in the ratios.
  tol <- 1e-8
  progression <- increase >= 0.2 * v$nadir_mm - tol & increase >= 5 - tol
  v$response <- ifelse(v$new_lesion, "PD",
                ifelse(is.na(v$sum_mm), "NE",
                ifelse(progression, "PD",
                ifelse(v$sum_mm == 0, "CR",
                ifelse(v$pct_change_baseline <= -30 + tol, "PR", "SD")))))
  v$response[1] <- NA_character_
  v[c("id", "visit", "sum_mm", "nadir_mm", "pct_change_baseline", "pct_change_nadir",
      "new_lesion", "response")]
}

# One patient's best overall response from the per-visit rows.
recist_patient <- function(v, confirm) {
  follow_up <- v[-1, , drop = FALSE]
  response <- follow_up$response
  if (confirm) response <- confirm_responses(response)
  first_pd <- match("PD", response)
  considered <- if (is.na(first_pd)) response else response[seq_len(first_pd)]
  ranked <- match(considered, c("CR", "PR", "SD", "PD"))
  # PD ranks last, so a first assessment of PD gives PD and an earlier SD/PR wins.
  best <- if (all(is.na(ranked))) NA_character_ else
    c("CR", "PR", "SD", "PD")[min(ranked, na.rm = TRUE)]
  type <- if (is.na(first_pd)) NA_character_ else
    if (follow_up$new_lesion[first_pd]) "new_lesion" else "target_enlargement"
  pct <- follow_up$pct_change_baseline
  data.frame(
    id = v$id[1], baseline_sum_mm = v$sum_mm[1],
    nadir_sum_mm = min(v$sum_mm, na.rm = TRUE),
    best_pct_change = if (all(is.na(pct))) NA_real_ else min(pct, na.rm = TRUE),
    best_response = best,
    first_pd_visit = if (is.na(first_pd)) NA_real_ else follow_up$visit[first_pd],
    progression_type = type, n_assessments = nrow(follow_up)
  )
}

# Unconfirmed responses (not followed by an equal or better one) are downgraded: a CR
# confirmed only by a PR counts as PR; a CR or PR not confirmed at all counts as SD.
confirm_responses <- function(response) {
  nxt <- c(response[-1], NA)
  confirmed_cr <- response %in% "CR" & nxt %in% "CR"
  confirmed_pr <- response %in% c("CR", "PR") & nxt %in% c("CR", "PR")
  out <- response
  out[response %in% "CR" & !confirmed_cr & confirmed_pr] <- "PR"
  out[response %in% c("CR", "PR") & !confirmed_pr] <- "SD"
  out
}

#' @rdname recist_response
#' @param x An `rwe_recist` object.
#' @param what `"patients"` (one row per patient) or `"visits"` (one row per visit).
#' @param ... Unused.
#' @export
tidy.rwe_recist <- function(x, what = c("patients", "visits"), ...) {
  what <- match_choice(what, c("patients", "visits"))
  if (what == "visits") return(attr(x, "visits"))
  strip_rwe_table(x)
}

#' @export
display_table.rwe_recist <- function(x, ...) {
  shown <- display_table.rwe_table(x)
  shown$best_pct_change <- format_percent(x$best_pct_change, 1, percent = FALSE)
  shown
}

# ---- response rates (Table 2) -------------------------------------------------------------

response_levels <- c("CR", "PR", "SD", "PD")

# Evaluable rows (non-missing response) after checking the response codes.
check_response_column <- function(data, response, call = rlang::caller_env()) {
  check_column_name(response, data, call = call)
  value <- as.character(data[[response]])
  bad <- which(!is.na(value) & !value %in% response_levels)
  if (length(bad) > 0) {
    cli::cli_abort(c("Column {.val {response}} must hold {.val {response_levels}} or NA.",
                     x = "{cli::qty(length(bad))}Row{?s} {format_offenders(bad)}:
                          {format_offenders(value[bad], quote = TRUE)}."),
                   call = call, class = "rwe_bad_input")
  }
  if (all(is.na(value))) {
    cli::cli_abort("Column {.val {response}} has no evaluable (non-missing) response.",
                   call = call, class = "rwe_bad_input")
  }
  value
}

#' Response rates with exact confidence intervals (Table 2)
#'
#' Counts best overall responses (CR, PR, SD, PD) over the evaluable patients (those with
#' a non-missing response), the disease-control rate (DCR = CR + PR + SD) and the
#' objective response rate (ORR = CR + PR), each with a confidence interval. With
#' `duration`, also counts how long disease control lasted, in bands.
#'
#' The default bands follow the reading of the published Table 2 (see the package's study
#' notes): \[0, 6\], (6, 12), \[12, 18), \[18, Inf), plus "disease control \eqn{\ge} 24
#' months" and "objective response \eqn{\ge} 12 months" rows. The bands must tile the
#' range without gap or overlap: at every inner break exactly one of the two neighbouring
#' bands must be closed.
#'
#' @param data A data frame with one row per patient, or an `rwe_recist` object.
#' @param response Name of the best-response column, with values `"CR"`, `"PR"`, `"SD"`,
#'   `"PD"`; `NA` marks a non-evaluable patient (left out of every denominator).
#' @param duration Optional name of a numeric column with the duration of disease control
#'   (e.g. the censored PFS months of the CR/PR/SD patients). Required for the
#'   disease-control patients; ignored for the others.
#' @param conf.level Confidence level of the intervals.
#' @param method `"clopper-pearson"` (exact, [stats::binom.test()]) or `"wilson"` (score
#'   interval without continuity correction).
#' @param duration_breaks Increasing break points of the duration bands (months).
#' @param duration_closed For each band, which ends are closed: `"both"`, `"left"`,
#'   `"right"` or `"neither"` (length `length(duration_breaks) - 1`).
#' @param duration_at_least Thresholds for extra "disease control lasting at least t"
#'   rows (`NULL` for none).
#' @param response_at_least Thresholds for "objective response lasting at least t" rows
#'   (`NULL` for none).
#' @param conf.int Deprecated name of `conf.level` (a warning of class `rwe_deprecated`).
#' @return A data frame of class `c("rwe_response_rates", "rwe_table", "data.frame")`
#'   with columns `section` (`"response"`, `"rate"`, `"duration"`), `category` (`"CR"`,
#'   `"PR"`, `"SD"`, `"PD"`, `"DCR"`, `"ORR"`, and for duration rows `"DCR"` or `"ORR"`),
#'   `label` (printed row label), `lower`, `upper`, `closed` (the duration band, `NA`
#'   otherwise), `n`, `N` (evaluable patients), `percent`, `conf.low`, `conf.high` (in
#'   percent) and `summary` ("n (%)"). `attr(x, "n_not_evaluable")` counts the rows with
#'   a missing response.
#' @examples
#' response_rates(rrdtc_patients)
#' response_rates(rrdtc_patients, duration = "pfs_months")
#' response_rates(rrdtc_patients, method = "wilson")
#' @export
response_rates <- function(data, response = "best_response", duration = NULL,
                           conf.level = 0.95, method = c("clopper-pearson", "wilson"),
                           duration_breaks = c(0, 6, 12, 18, Inf),
                           duration_closed = c("both", "neither", "left", "left"),
                           duration_at_least = 24, response_at_least = 12, conf.int = NULL) {
  check_data_frame(data)
  data <- prepare_labelled(data, response)
  value <- check_response_column(data, response)
  conf.level <- deprecated_conf_int(conf.int, conf.level, !missing(conf.level))
  method <- match_choice(method, c("clopper-pearson", "wilson"))
  evaluable <- !is.na(value)
  value <- value[evaluable]
  N <- length(value)
  counts <- c(vapply(response_levels, function(l) sum(value == l), numeric(1)),
              DCR = sum(value %in% c("CR", "PR", "SD")), ORR = sum(value %in% c("CR", "PR")))
  out <- data.frame(section = rep(c("response", "rate"), c(4, 2)), category = names(counts),
                    label = c(response_levels, "DCR (CR+PR+SD)", "ORR (CR+PR)"),
                    lower = NA_real_, upper = NA_real_, closed = NA_character_,
                    n = as.integer(counts))
  if (!is.null(duration)) {
    out <- rbind(out, duration_rows(data[evaluable, , drop = FALSE], value, duration,
                                    duration_breaks, duration_closed, duration_at_least,
                                    response_at_least))
  }
  out$N <- N
  out$percent <- 100 * out$n / N
  ci <- binomial_ci(out$n, N, conf.level, method)
  out$conf.low <- 100 * ci[, 1]
  out$conf.high <- 100 * ci[, 2]
  out$summary <- format_n_percent(out$n, N)
  new_rwe_table(out, "rwe_response_rates",
                title = sprintf("Best overall response (N = %d evaluable)", N),
                footnotes = sprintf("%g%% CI: %s.", 100 * conf.level,
                                    if (method == "wilson") "Wilson score" else
                                      "Clopper-Pearson exact"),
                n_not_evaluable = sum(!evaluable), conf.level = conf.level, method = method)
}

#' Binomial confidence intervals
#'
#' Clopper-Pearson (exact, as [stats::binom.test()]) or Wilson score intervals for
#' proportions `x / n`.
#'
#' @param x,n Counts of successes and trials (recycled).
#' @param conf.level Confidence level.
#' @param conf.int Deprecated name of `conf.level` (a warning of class `rwe_deprecated`).
#' @param method `"clopper-pearson"` or `"wilson"`.
#' @return A two-column matrix (`conf.low`, `conf.high`) of proportions.
#' @examples
#' binomial_ci(15, 26)
#' binomial_ci(7, 26, method = "wilson")
#' @export
binomial_ci <- function(x, n, conf.level = 0.95, method = c("clopper-pearson", "wilson"),
                        conf.int = NULL) {
  conf.level <- deprecated_conf_int(conf.int, conf.level, !missing(conf.level))
  method <- match_choice(method, c("clopper-pearson", "wilson"))
  size <- max(length(x), length(n))
  x <- rep_len(x, size)
  n <- rep_len(n, size)
  if (method == "clopper-pearson") {
    ci <- t(vapply(seq_len(size), function(i) {
      as.numeric(stats::binom.test(x[i], n[i], conf.level = conf.level)$conf.int)
    }, numeric(2)))
  } else {
    z <- stats::qnorm(1 - (1 - conf.level) / 2)
    centre <- (x + z^2 / 2) / (n + z^2)
    half <- z / (n + z^2) * sqrt(x * (n - x) / n + z^2 / 4)
    ci <- cbind(pmax(0, centre - half), pmin(1, centre + half))
  }
  dimnames(ci) <- list(NULL, c("conf.low", "conf.high"))
  ci
}

# Validates the duration bands (increasing breaks, one closedness per band, no gap or
# overlap at inner breaks).
check_duration_bands <- function(breaks, closed, call = rlang::caller_env()) {
  if (!is.numeric(breaks) || length(breaks) < 2 || anyNA(breaks) ||
      is.unsorted(breaks, strictly = TRUE)) {
    cli::cli_abort("{.arg duration_breaks} must be at least two strictly increasing numbers.",
                   call = call, class = "rwe_bad_input")
  }
  allowed <- c("both", "left", "right", "neither")
  if (!is.character(closed) || length(closed) != length(breaks) - 1 ||
      !all(closed %in% allowed)) {
    cli::cli_abort("{.arg duration_closed} must have one entry per band
                    ({length(breaks) - 1}), each one of {.val {allowed}}.", call = call,
                      class = "rwe_bad_input")
  }
  k <- seq_len(length(closed) - 1)
  right_closed <- closed[k] %in% c("both", "right")
  left_closed <- closed[k + 1] %in% c("both", "left")
  bad <- breaks[k + 1][right_closed == left_closed]
  if (length(bad) > 0) {
    cli::cli_abort("{.arg duration_closed} leaves a gap or an overlap at
                    {cli::qty(length(bad))}break{?s} {bad}:
                    exactly one of the two bands meeting there must be closed.", call = call,
                      class = "rwe_bad_input")
  }
}

in_band <- function(x, lower, upper, closed) {
  above <- if (closed %in% c("both", "left")) x >= lower else x > lower
  below <- if (closed %in% c("both", "right")) x <= upper else x < upper
  above & below
}

band_label <- function(lower, upper, closed) {
  if (is.infinite(upper)) {
    return(paste0(if (closed %in% c("both", "left")) "\u2265" else ">", lower))
  }
  paste0(if (closed %in% c("both", "left")) "[" else "(", lower, ", ", upper,
         if (closed %in% c("both", "right")) "]" else ")")
}

# Duration-of-disease-control rows: one per band plus the "at least" thresholds.
duration_rows <- function(data, value, duration, breaks, closed, dcr_at_least,
                          orr_at_least, call = rlang::caller_env()) {
  check_column_name(duration, data, call = call)
  check_numeric_column(data, duration, call = call)
  check_duration_bands(breaks, closed, call = call)
  controlled <- value %in% c("CR", "PR", "SD")
  months <- data[[duration]]
  missing <- which(controlled & is.na(months))
  if (length(missing) > 0) {
    cli::cli_abort("Duration column {.val {duration}} is missing for disease-control
                    patients in evaluable {cli::qty(length(missing))}row{?s}
                    {format_offenders(missing)}.", call = call, class = "rwe_bad_input")
  }
  lower <- breaks[-length(breaks)]
  upper <- breaks[-1]
  n <- vapply(seq_along(lower), function(i) {
    sum(in_band(months[controlled], lower[i], upper[i], closed[i]))
  }, numeric(1))
  bands <- data.frame(section = "duration", category = "DCR",
                      label = paste("Disease control",
                                    mapply(band_label, lower, upper, closed), "months"),
                      lower = lower, upper = upper, closed = closed, n = as.integer(n))
  objective <- value %in% c("CR", "PR")
  at_least <- function(t, who, what) {
    data.frame(section = "duration", category = what,
               label = paste(if (what == "DCR") "Disease control" else "Objective response",
                             paste0("\u2265", t), "months"),
               lower = t, upper = Inf, closed = "left",
               n = as.integer(sum(months[who] >= t)))
  }
  rbind(bands,
        do.call(rbind, lapply(dcr_at_least, at_least, who = controlled, what = "DCR")),
        do.call(rbind, lapply(orr_at_least, at_least, who = objective, what = "ORR")))
}

#' @export
display_table.rwe_response_rates <- function(x, ...) {
  data.frame(response = x$label, `n (%)` = x$summary,
             CI = format_ci(x$conf.low / 100, x$conf.high / 100),
             check.names = FALSE)
}

# ---- response by subgroup (Table 3) -------------------------------------------------------

#' Disease control and objective response by subgroup (Table 3)
#'
#' For each factor and each of its levels: the number of evaluable patients, the
#' disease-control rate (CR + PR + SD) and the objective response rate (CR + PR), with
#' two-sided Fisher's exact tests ([stats::fisher.test()]) of DCR and of ORR across the
#' levels of each factor.
#'
#' @param data A data frame, one row per patient.
#' @param factors Character vector of column names (logical, character or factor). Logical
#'   columns give the levels `"Yes"` (`TRUE`) and `"No"`; factors keep their level order;
#'   character values are sorted.
#' @param response Name of the best-response column (`"CR"`, `"PR"`, `"SD"`, `"PD"`, `NA`
#'   for non-evaluable patients, who are left out).
#' @param labels Optional named character vector of display labels for the factors, e.g.
#'   `c(age_ge55 = "Age >= 55 years")`.
#' @return A data frame of class `c("rwe_response_by", "rwe_table", "data.frame")`, one
#'   row per factor level, with columns `variable` (column name), `label`, `level`, `n`,
#'   `dcr_n`, `dcr_pct`, `orr_n`, `orr_pct`, `dcr_p`, `orr_p` (the Fisher p-values of the
#'   factor, repeated on each of its rows) and `flag` (`"n < 5"` for levels with fewer than
#'   5 patients, where percentages are unstable; `NA` otherwise). Patients with a missing
#'   factor value are left out of that factor (counted in `attr(x, "n_missing")`).
#' @examples
#' rrdtc <- rrdtc_patients[rrdtc_patients$evaluable, ]
#' rrdtc$age_ge55 <- rrdtc$age_years >= 55
#' response_by(rrdtc, c("age_ge55", "sex", "histology", "met_bone"),
#'             labels = c(age_ge55 = "Age >= 55", met_bone = "Bone metastasis"))
#' @export
response_by <- function(data, factors, response = "best_response", labels = NULL) {
  check_data_frame(data)
  check_columns(data, factors, arg = "data")
  data <- prepare_labelled(data, c(response, factors))
  value <- check_response_column(data, response)
  if (response %in% factors) cli::cli_abort("{.arg factors} cannot include {.arg response}.",
    class = "rwe_bad_input")
  labels <- check_labels(with_data_labels(labels, data, factors), factors)
  call <- rlang::current_env()   # errors about a factor are reported as response_by()'s
  evaluable <- data[!is.na(value), , drop = FALSE]
  value <- value[!is.na(value)]
  rows <- lapply(factors, function(f) {
    response_by_factor(evaluable[[f]], value, f, labels[[f]], call = call)
  })
  out <- do.call(rbind, rows)
  n_missing <- vapply(factors, function(f) sum(is.na(evaluable[[f]])), numeric(1))
  new_rwe_table(out, "rwe_response_by",
                title = sprintf("DCR and ORR by subgroup (N = %d evaluable)", length(value)),
                footnotes = "p: two-sided Fisher's exact test.", n_missing = n_missing)
}

# Rows of one factor: per-level counts and the two Fisher tests.
response_by_factor <- function(x, value, name, label, call = rlang::caller_env()) {
  type <- variable_type(x, name, call = call)
  if (type == "continuous") {
    cli::cli_abort("Factor {.val {name}} is numeric; cut it into groups first (e.g.
                    {.code age >= 55}).", call = call, class = "rwe_bad_input")
  }
  keep <- !is.na(x)
  x <- x[keep]
  value <- value[keep]
  levels <- group_levels(x)
  if (length(levels) < 2) {
    cli::cli_abort("Factor {.val {name}} has only
                    {cli::qty(length(levels))}{length(levels)} level{?s} among the
                    evaluable patients ({.val {levels}}); it needs at least two.", call = call,
                      class = "rwe_bad_input")
  }
  group <- factor(as.character(x), levels = levels)
  dcr <- factor(value %in% c("CR", "PR", "SD"), levels = c(TRUE, FALSE))
  orr <- factor(value %in% c("CR", "PR"), levels = c(TRUE, FALSE))
  n <- as.vector(table(group))
  dcr_n <- as.vector(table(group, dcr)[, "TRUE"])
  orr_n <- as.vector(table(group, orr)[, "TRUE"])
  shown_level <- if (is.logical(x)) c("TRUE" = "Yes", "FALSE" = "No")[levels] else levels
  data.frame(variable = name, label = label,
             level = unname(shown_level), n = n, dcr_n = dcr_n, dcr_pct = 100 * dcr_n / n,
             orr_n = orr_n, orr_pct = 100 * orr_n / n,
             dcr_p = fisher_p(group, dcr), orr_p = fisher_p(group, orr),
             flag = ifelse(n < 5, "n < 5", NA_character_))
}

# Two-sided Fisher's exact p; 1 when the outcome does not vary (nothing to test).
fisher_p <- function(group, outcome) {
  counts <- table(group, outcome)
  if (any(colSums(counts) == 0)) return(1)
  stats::fisher.test(counts)$p.value
}

#' @export
display_table.rwe_response_by <- function(x, ...) {
  first <- !duplicated(x$variable)
  data.frame(variable = ifelse(first, x$label, ""), level = x$level, N = x$n,
             `DCR n (%)` = format_n_percent(x$dcr_n, x$n),
             `p (DCR)` = ifelse(first, format_pvalue(x$dcr_p), ""),
             `ORR n (%)` = format_n_percent(x$orr_n, x$n),
             `p (ORR)` = ifelse(first, format_pvalue(x$orr_p), ""),
             note = ifelse(is.na(x$flag), "", x$flag), check.names = FALSE)
}
