# rrdtc_lesions: target-lesion diameters per visit (long format), all invented [F] but
# consistent under RECIST 1.1 with each measurable evaluable patient's best response,
# waterfall value and progression type. At most 2 target lesions per organ, 5 in all.
#
# Visit schedule: PR/SD patients are measured at baseline, every 3 months and at their last
# assessment (= censored PFS time). The paper's 11 progressions have best response PD, which
# under RECIST 1.1 means the first on-treatment assessment already showed progression, so a
# PD patient has a baseline and one assessment, at the progression time. Excluded patients
# with measurable disease have a baseline only.

LESIONS_SEED <- 11
SITE_SIZE_MM <- list(lung = c(10, 32), bone = c(15, 45), lymph_node = c(15, 30),
                     neck = c(12, 35))

baseline_lesions <- function(pt) {
  sites <- c(lung = pt$target_lung, bone = pt$target_bone,
             lymph_node = pt$target_lymph_node, neck = pt$target_neck)
  sites <- names(sites)[sites]
  per_site <- if (pt$target_lymph_node) rep(1L, length(sites)) else
    sample(1:2, length(sites), replace = TRUE)
  site <- rep(sites, per_site)
  size <- vapply(site, function(s) round(stats::runif(1, SITE_SIZE_MM[[s]][1],
                                                      SITE_SIZE_MM[[s]][2]), 1), 1)
  # A progression by target growth needs >= 5 mm absolute increase: keep the baseline sum
  # large enough for the drawn waterfall value.
  if (pt$best_response %in% "PD" && pt$progression_type == "target_enlargement") {
    need <- 6 / (pt$target_best_pct_change / 100)
    if (sum(size) < need) size <- round(size * need / sum(size), 1) + 0.1
  }
  data.frame(lesion_id = sprintf("%s-L%d", pt$patient_id, seq_along(site)), site = site,
             baseline = unname(size), stringsAsFactors = FALSE)
}

# Planned % change of the sum at each on-treatment visit; its minimum is the waterfall bar.
planned_changes <- function(pt, n_visits) {
  bar <- pt$target_best_pct_change
  if (pt$best_response == "PD") return(bar)
  if (bar >= 0 || n_visits == 1) {
    # growth (or a single assessment): the first assessment is the lowest
    return(c(bar, bar + stats::runif(n_visits - 1, 0, 4)))
  }
  k <- if (n_visits <= 2) n_visits else sample(2:n_visits, 1)
  path <- bar * seq_len(k) / k
  # after the nadir, regrowth stays below 10% of the nadir: never progression
  c(path, bar + stats::runif(n_visits - k, 0, 0.1 * (100 + bar) * 0.9))
}

visit_months <- function(pt) {
  if (!isTRUE(pt$evaluable)) return(0)
  if (pt$best_response == "PD") return(c(0, pt$pfs_months))
  sort(unique(c(seq(0, pt$pfs_months, by = 3), pt$pfs_months)))
}

patient_lesion_rows <- function(pt) {
  les <- baseline_lesions(pt)
  months <- visit_months(pt)
  change <- c(0, if (length(months) > 1) planned_changes(pt, length(months) - 1))
  rows <- lapply(seq_along(months), function(v) {
    # every lesion follows the planned change with a little heterogeneity
    factor <- (1 + change[v] / 100) * (if (v == 1) 1 else stats::runif(nrow(les), 0.97, 1.03))
    d <- les$baseline * factor
    d <- d * (1 + change[v] / 100) * sum(les$baseline) / sum(d)
    data.frame(patient_id = pt$patient_id, lesion_id = les$lesion_id, site = les$site,
               visit_month = months[v], diameter_mm = round(d, 1), stringsAsFactors = FALSE)
  })
  rows <- do.call(rbind, rows)
  new_visit <- if (pt$best_response %in% "PD" && pt$progression_type == "new_lesion") {
    max(months)
  } else NA
  rows$new_lesion <- rows$visit_month %in% new_visit
  rows
}

# Builds the lesion table and returns the patients with their waterfall value recomputed
# from the rounded diameters (so the two data sets agree to 0.1 percentage point).
build_lesions <- function(patients) {
  set.seed(LESIONS_SEED)
  measurable <- patients[patients$recist_measurable, ]
  lesions <- do.call(rbind, lapply(split(measurable, measurable$patient_id),
                                   patient_lesion_rows))
  rownames(lesions) <- NULL
  for (id in measurable$patient_id[measurable$evaluable]) {
    rows <- lesions[lesions$patient_id == id, ]
    sums <- tapply(rows$diameter_mm, rows$visit_month, sum)
    new_at <- tapply(rows$new_lesion, rows$visit_month, any)
    res <- recist_from_sums(as.numeric(sums), as.logical(new_at))
    i <- match(id, patients$patient_id)
    if (res$response != patients$best_response[i]) stop("RECIST mismatch for ", id)
    patients$target_best_pct_change[i] <- round(res$best_pct, 1)
  }
  list(lesions = lesions, patients = patients)
}
