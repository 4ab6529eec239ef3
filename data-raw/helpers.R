# Shared helpers for the data-raw scripts (sourced by build-all.R and search-survival.R).
# Nothing here reads ../shared: every published number lives in data-raw/published-targets.R.

#' Save one object as data/<name>.rda (xz, version 2) so the package ships it lazily.
save_dataset <- function(object, name, dir = "data") {
  dir.create(dir, showWarnings = FALSE)
  env <- new.env()
  assign(name, object, envir = env)
  save(list = name, envir = env, file = file.path(dir, paste0(name, ".rda")),
       compress = "xz", version = 2)
  invisible(object)
}

#' Kaplan-Meier summaries for many groups at once, fast enough for a stochastic search.
#'
#' `groups` is a logical matrix (patients x groups). Returns, per group, the SPSS-style KM
#' mean (area under the curve up to the group's largest observed time) and, per group, the
#' two-sample log-rank statistic of group vs the rest of `universe` (a logical vector; patients
#' outside the universe are ignored in the test but may still be in a group for the mean).
km_group_summaries <- function(time, event, groups, universe = rep(TRUE, length(time))) {
  unique_t <- sort.int(unique.default(time), method = "radix")
  # Matrix products instead of loops: rows = distinct times, columns = groups.
  at_risk <- outer(unique_t, time, "<=") * 1
  events_at <- outer(unique_t, time, "==") * rep(event, each = length(unique_t))
  n_risk <- at_risk %*% groups
  n_event <- events_at %*% groups
  hazard <- n_event / pmax(n_risk, 1)
  surv <- exp(cumulative_sum_matrix(length(unique_t)) %*% pmax(log(1 - hazard), -1e6))
  surv_before <- rbind(1, surv[-nrow(surv), , drop = FALSE])
  width <- diff(c(0, unique_t))
  km_mean <- colSums(surv_before * width * (n_risk > 0))

  in_test <- groups & universe
  risk_u <- as.vector(at_risk %*% universe)
  event_u <- as.vector(events_at %*% universe)
  frac <- (at_risk %*% in_test) / pmax(risk_u, 1)  # numerator is 0 wherever risk_u is
  obs <- colSums(in_test * event)
  expected <- colSums(event_u * frac)
  var_w <- ifelse(risk_u > 1, event_u * (risk_u - event_u) / pmax(risk_u - 1, 1), 0)
  variance <- colSums(var_w * frac * (1 - frac))
  chisq <- ifelse(variance > 0, (obs - expected)^2 / variance, 0)
  list(mean = km_mean, p = stats::pchisq(chisq, df = 1, lower.tail = FALSE))
}

# Lower-triangular ones (cumulative sums by matrix product), cached by size for the search.
triangle_cache <- new.env()
cumulative_sum_matrix <- function(n) {
  key <- as.character(n)
  if (is.null(triangle_cache[[key]])) {
    triangle_cache[[key]] <- lower.tri(diag(n), diag = TRUE) * 1
  }
  triangle_cache[[key]]
}

#' SPSS-style Kaplan-Meier mean of one sample (area under the curve to the largest time).
km_mean_spss <- function(time, event) {
  unname(km_group_summaries(time, event, matrix(TRUE, length(time), 1))$mean)
}

#' SPSS median: first time at which the KM estimate is <= 0.5 (no midpoint rule).
km_median_spss <- function(time, event) {
  fit <- survival::survfit(survival::Surv(time, event) ~ 1)
  fit$time[which(fit$surv <= 0.5 + 1e-12)[1]]
}

#' Analysis variables derived from the patient table, as the constraints' contract defines them
#' (readings R1 for lung-only in Tables 3/4 and R2 for "RAI uptake" in Tables 3/4).
derive_analysis_vars <- function(patients, adverse_events) {
  p <- patients
  hfs_ids <- adverse_events$patient_id[adverse_events$ae_term == "Hand-foot skin syndrome"]
  p$distant <- p$met_lung | p$met_bone | p$met_pleura | p$met_other
  p$lung_only_t1 <- p$met_lung & !p$met_bone & !p$met_pleura & !p$met_other
  p$lung_only_t34 <- p$met_lung & !p$met_bone & !p$met_other
  p$rai_t34 <- p$rr_definition == "uptake_but_progressive"
  p$hfs <- p$patient_id %in% hfs_ids
  p$tg_response_ge60 <- !is.na(p$tg_best_pct_change) & p$tg_best_pct_change <= -60
  p$disease_control <- p$best_response %in% c("CR", "PR", "SD")
  p$objective_response <- p$best_response %in% c("CR", "PR")
  p$age_ge55 <- p$age_years >= 55
  p
}

#' Logical patients x 30 matrix of the Table 4 rows, in published_table4 order (each
#' variable's first level, then its complement). `first` holds the 15 first-level flags in
#' Table 4's variable order: age >= 55, male, FTC, RAI uptake (R2), distant, lung, lung-only
#' (R1), bone, RAI-only therapy, residual lesion, HFS, disease control, objective response,
#' Tg response, dose modified. Shared by the search and the fit report.
table4_group_matrix <- function(first) {
  first <- as.matrix(first)
  g <- matrix(FALSE, nrow(first), 2 * ncol(first))
  g[, c(TRUE, FALSE)] <- first
  g[, c(FALSE, TRUE)] <- !first
  g
}

#' RECIST 1.1 best overall response from a patient's per-visit sums of target diameters.
#' `sums` are ordered by visit (baseline first); `new_lesion` flags visits with a new lesion.
#' Each visit is PD (new lesion, or sum >= 120% of the nadir so far and >= 5 mm above it),
#' PR (<= -30% from baseline) or SD; the best response is the best visit response before the
#' first PD, and PD when the first assessment already progresses. Returns it with the best
#' (lowest) % change from baseline, which is the waterfall bar.
recist_from_sums <- function(sums, new_lesion) {
  pct <- 100 * (sums - sums[1]) / sums[1]
  visit_response <- character(0)
  for (k in seq_along(sums)[-1]) {
    nadir <- min(sums[seq_len(k - 1)])
    progressed <- new_lesion[k] || (sums[k] >= 1.2 * nadir && sums[k] - nadir >= 5)
    if (progressed) {
      visit_response <- c(visit_response, "PD")
      break
    }
    visit_response <- c(visit_response, if (pct[k] <= -30) "PR" else "SD")
  }
  best <- if (visit_response[1] == "PD") "PD" else if ("PR" %in% visit_response) "PR" else "SD"
  list(response = best, best_pct = min(pct[-1]))
}
