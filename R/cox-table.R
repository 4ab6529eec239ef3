# cox_table(): univariable and multivariable Cox models of subgroup factors in one table, with
# a switch to Firth's penalised likelihood when the ordinary likelihood is monotone (a level
# without events, common in small cohorts). The fits are cox_fit_matrix() and
# cox_firth_matrix(); this file only builds the indicator matrices and the table.

#' Univariable and multivariable Cox regression table
#'
#' For each factor, a univariable Cox model (hazard ratio, Wald 95% confidence interval and
#' Wald p-value per non-reference level, via [cox_fit_matrix()]); then one multivariable model
#' of the `multivariable` factors (by default those whose univariable p-value is below
#' `threshold`), fitted on the patients with all of them known.
#'
#' When a model's likelihood is monotone (some coefficient diverges, as [cox_fit()]'s
#' `diverged` flag reports, or the Newton iterations do not converge, e.g. a level without
#' events or a level of one patient who has the earliest event) and
#' `firth = "auto"`, that model is refitted by Firth's penalised likelihood with
#' [cox_firth_matrix()]: the hazard ratio is the penalised estimate, the interval the profile
#' penalised-likelihood interval and the p-value the penalised likelihood-ratio test; its
#' rows have `method = "Firth"`. `firth = "always"` uses Firth for every model, `"never"`
#' keeps the ordinary fit and flags the unreliable rows.
#'
#' The engine's warnings about such fits (classes `rwe_cox_diverged` and
#' `rwe_cox_not_converged`) are not passed on: the table records the case in its `flag`
#' column instead ("monotone likelihood: Firth" / "monotone likelihood: HR not finite" for a
#' univariable model, "multivariable: monotone likelihood" for the multivariable one). Any
#' other warning is passed on.
#'
#' @inheritParams survival_by
#' @param factors Character vector of column names: logical, character or factor columns
#'   (categorical; the reference level is `FALSE` ("No") for logical columns and the first
#'   level (factor order; sorted values for character columns) otherwise), or numeric columns
#'   (continuous, entered linearly: one row "per unit", the hazard ratio per unit increase).
#'   haven value-labelled columns are categorical when every value has a label; variable
#'   labels are the default row labels.
#' @param multivariable Factors of the multivariable model (a subset of `factors`); `NULL`
#'   selects those with a univariable p-value (Wald test of the factor; penalised LR test
#'   for Firth fits) below `threshold`; `character()` fits none.
#' @param threshold Selection threshold used when `multivariable = NULL`.
#' @param ties Handling of tied times: `"efron"` (default) or `"breslow"`.
#' @param firth `"auto"` (Firth only where the likelihood is monotone), `"never"` or
#'   `"always"`.
#' @return A data frame of class `c("rwe_cox_table", "rwe_table", "data.frame")`, one row per
#'   factor level: `variable`, `label`, `level`, `reference` (`TRUE` on the reference row),
#'   `n`, `events` (patients and events in the level, univariable data), `hr_uni`,
#'   `conf.low_uni`, `conf.high_uni`, `p_uni`, `hr_multi`, `conf.low_multi`,
#'   `conf.high_multi`, `p_multi` (`NA` when the factor is not in the multivariable model;
#'   the reference rows have HR 1 and `NA` limits and p), `method` (`"Cox"` or `"Firth"`, of
#'   the univariable model), `method_multi` (of the multivariable model), `flag`.
#'   Attributes: `multivariable` (the factors of the multivariable model) and `n_multi`,
#'   `events_multi`.
#' @examples
#' pts <- subset(rrdtc_patients, evaluable)
#' pts$age_ge55 <- pts$age_years >= 55
#' hfs_ids <- with(rrdtc_adverse_events, patient_id[ae_term == "Hand-foot skin syndrome"])
#' pts$hfs <- pts$patient_id %in% hfs_ids
#' cox_table(pts, "pfs_months", "pfs_event", c("sex", "age_ge55", "met_bone", "hfs"))
#' @export
cox_table <- function(data, time, event, factors, multivariable = NULL, threshold = 0.1,
                      labels = NULL, ties = "efron", firth = c("auto", "never", "always")) {
  call <- rlang::current_env()
  cols <- surv_columns(data, time, event, call = call)
  data <- prepare_labelled(data, factors)
  check_factor_columns(data, factors, exclude = c(time, event), call = call, numeric_ok = TRUE)
  labels <- check_labels(with_data_labels(labels, data, factors), factors,
                         arg = "labels", call = call)
  firth_choices <- c("auto", "never", "always")
  if (identical(firth, firth_choices)) firth <- "auto"
  if (!is.character(firth) || length(firth) != 1L || !firth %in% firth_choices) {
    cli::cli_abort("{.arg firth} must be one of {.val {firth_choices}}.", call = call,
                   class = "rwe_bad_input")
  }
  if (!is.character(ties) || length(ties) != 1L || !ties %in% c("efron", "breslow")) {
    cli::cli_abort("{.arg ties} must be {.val efron} or {.val breslow}.", call = call,
                   class = "rwe_bad_input")
  }
  check_number(threshold, arg = "threshold", min = 0, max = 1, call = call)
  if (!is.null(multivariable) && (!is.character(multivariable) ||
                                  !all(multivariable %in% factors))) {
    cli::cli_abort("{.arg multivariable} must name columns listed in {.arg factors}; not
                    there: {.val {setdiff(multivariable, factors)}}.",
                   call = call, class = "rwe_bad_input")
  }
  data <- data[cols$keep, , drop = FALSE]
  y <- survival::Surv(cols$time[cols$keep], cols$event[cols$keep])
  if (sum(y[, 2L]) == 0) {
    cli::cli_abort("{.arg event}: column {.val {event}} has no event; no Cox model can be
                    fitted.", call = call, class = "rwe_bad_input")
  }
  designs <- lapply(factors, function(f) cox_factor_design(data[[f]], f, call))
  names(designs) <- factors
  uni <- lapply(factors, function(f) {
    d <- designs[[f]]
    cox_table_fit(d$x[d$known, , drop = FALSE], y[d$known], ties, firth)
  })
  names(uni) <- factors
  if (is.null(multivariable)) {
    multivariable <- factors[vapply(uni, function(u) u$global_p < threshold, logical(1))]
  }
  multi <- cox_table_multi(designs[multivariable], y, ties, firth)
  rows <- lapply(factors, function(f) {
    cox_table_rows(designs[[f]], y, uni[[f]], if (f %in% multivariable) multi, f, labels[[f]])
  })
  out <- do.call(rbind, rows)
  new_rwe_table(out, "rwe_cox_table", title = sprintf("Cox regression (N = %d)", nrow(data)),
                footnotes = cox_table_notes(multivariable, threshold, multi, out),
                multivariable = multivariable,
                n_multi = if (!is.null(multi)) multi$n else NA_integer_,
                events_multi = if (!is.null(multi)) multi$events else NA_integer_)
}

# Indicator columns of one factor (one per non-reference level), the rows where it is known,
# its levels in display order and the reference level.
cox_factor_design <- function(x, name, call) {
  if (is.numeric(x)) {
    # A continuous covariate enters linearly: one coefficient, the HR per unit.
    known <- !is.na(x)
    mat <- matrix(as.double(x), ncol = 1L, dimnames = list(NULL, name))
    return(list(x = mat, known = known, levels = "", shown = "per unit", reference = NA,
                others = "", value = NULL, continuous = TRUE))
  }
  lev <- factor_levels(x, name, call)
  reference <- if (is.logical(x)) "FALSE" else lev$levels[1L]
  others <- setdiff(lev$levels, reference)
  known <- !is.na(x)
  value <- as.character(x)
  mat <- vapply(others, function(l) as.double(value == l), numeric(length(x)))
  mat <- matrix(mat, nrow = length(x), dimnames = list(NULL, paste0(name, "_", others)))
  list(x = mat, known = known, levels = lev$levels, shown = lev$shown,
       reference = reference, others = others, value = value, continuous = FALSE)
}

# One model: the ordinary Cox fit, or the Firth fit when asked or when the likelihood is
# monotone. Returns per-coefficient HR, limits, p and the factor's global p.
cox_table_fit <- function(x, y, ties, firth) {
  # The engine's warnings about a monotone likelihood (a diverging coefficient, or Newton
  # steps that run out of iterations while a coefficient drifts to infinity) are expected
  # here: the table handles the case (Firth, or a flag) and says so in its `flag` column, so
  # they are held back and dropped for flagged fits. Any other warning is not ours to judge
  # and propagates untouched.
  held <- list()
  fit <- withCallingHandlers(cox_fit_matrix(x, y, ties = ties), warning = function(w) {
    if (inherits(w, c("rwe_cox_not_converged", "rwe_cox_diverged"))) {
      held[[length(held) + 1L]] <<- w
      invokeRestart("muffleWarning")
    }
  })
  # With 0/1 indicators a finite maximum is reached in a few Newton steps; failing to
  # converge means a level without (or with only) events, as much as a flagged divergence.
  monotone <- any(fit$diverged) || !isTRUE(fit$converged)
  use_firth <- firth == "always" || (firth == "auto" && monotone)
  if (!monotone) for (w in held) warning(w)
  if (!use_firth) {
    td <- tidy(fit, exponentiate = TRUE, conf.int = TRUE)
    return(list(term = td$term, hr = td$estimate, low = td$conf.low, high = td$conf.high,
                p = td$p.value, global_p = fit$wald.test[["p.value"]], method = "Cox",
                monotone = monotone, n = fit$n, events = fit$nevent))
  }
  ff <- cox_firth_matrix(x, y, ties = ties)
  prof <- ff$profile
  list(term = prof$term, hr = exp(prof$estimate), low = exp(prof$conf.low),
       high = exp(prof$conf.high), p = prof$p.value, global_p = ff$lr_test$p.value,
       method = "Firth", monotone = monotone, n = ff$n, events = ff$nevent)
}

# The multivariable model on the patients with every selected factor known (NULL if none).
cox_table_multi <- function(designs, y, ties, firth) {
  if (!length(designs)) return(NULL)
  known <- Reduce(`&`, lapply(designs, function(d) d$known))
  x <- do.call(cbind, lapply(designs, function(d) d$x))
  cox_table_fit(x[known, , drop = FALSE], y[known], ties, firth)
}

# Rows of one factor: the reference row (HR 1) and one row per other level.
cox_table_rows <- function(d, y, uni, multi, name, label) {
  known <- d$known
  if (d$continuous) {
    n <- sum(known)
    events <- sum(y[known, 2L])
    term <- name
    is_ref <- FALSE
  } else {
    n <- vapply(d$levels, function(l) sum(d$value[known] == l), numeric(1))
    events <- vapply(d$levels, function(l) sum(y[known & d$value == l, 2L]), numeric(1))
    term <- paste0(name, "_", d$levels)
    is_ref <- d$levels == d$reference
  }
  pick <- function(res, field) {
    if (is.null(res)) return(rep(NA_real_, length(term)))
    v <- res[[field]][match(term, res$term)]
    if (field == "hr") v[is_ref] <- 1
    v
  }
  firth_flag <- if (uni$monotone && uni$method == "Firth") "monotone likelihood: Firth" else
    if (uni$monotone) "monotone likelihood: HR not finite" else NA
  multi_flag <- if (!is.null(multi) && multi$monotone) {
    paste0("multivariable: monotone likelihood", if (multi$method == "Firth") ": Firth" else "")
  } else NA
  flag <- join_flags(ifelse(events == 0, "no events", NA),
                     ifelse(!is_ref, firth_flag, NA),
                     ifelse(!is_ref, multi_flag, NA))
  data.frame(variable = name, label = label, level = d$shown, reference = is_ref,
             n = unname(n), events = unname(events),
             hr_uni = pick(uni, "hr"), conf.low_uni = pick(uni, "low"),
             conf.high_uni = pick(uni, "high"), p_uni = pick(uni, "p"),
             hr_multi = pick(multi, "hr"), conf.low_multi = pick(multi, "low"),
             conf.high_multi = pick(multi, "high"), p_multi = pick(multi, "p"),
             method = uni$method,
             method_multi = if (is.null(multi)) NA_character_ else multi$method,
             flag = flag, stringsAsFactors = FALSE, row.names = NULL)
}

cox_table_notes <- function(multivariable, threshold, multi, out) {
  c("HR (95% CI), p: Wald for Cox fits; Firth fits: profile penalised-likelihood CI and penalised likelihood-ratio p.",
    if (is.null(multi)) sprintf("No factor entered the multivariable model (univariable p < %s).",
                                format(threshold))
    else sprintf("Multivariable model: %s (n = %d, %d events).",
                 paste(unique(out$label[out$variable %in% multivariable]), collapse = ", "),
                 multi$n, multi$events))
}

#' @export
display_table.rwe_cox_table <- function(x, ...) {
  first <- !duplicated(x$variable)
  # "NR" (not reached) has no meaning for a hazard ratio: a missing limit (e.g. a profile
  # interval that could not be found) is not estimable, an infinite one prints as such.
  limit <- function(v) ifelse(is.na(v), "NE", sprintf("%.2f", v))
  hr <- function(est, lo, hi, ref) {
    out <- ifelse(is.na(est), "", sprintf("%.2f (%s\u2013%s)", est, limit(lo), limit(hi)))
    out[ref & !is.na(est)] <- "1 (ref)"
    out
  }
  data.frame(variable = ifelse(first, x$label, ""), level = x$level, n = x$n,
             events = x$events,
             `HR (95% CI)` = hr(x$hr_uni, x$conf.low_uni, x$conf.high_uni, x$reference),
             p = format_pvalue(x$p_uni),
             `adjusted HR (95% CI)` = hr(x$hr_multi, x$conf.low_multi, x$conf.high_multi,
                                         x$reference),
             `adjusted p` = format_pvalue(x$p_multi),
             method = ifelse(x$reference, "", x$method),
             note = ifelse(is.na(x$flag), "", x$flag), check.names = FALSE)
}
