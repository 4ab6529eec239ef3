# Propensity scores and inverse-probability weights for a two-arm comparison: ps_weights(), the
# rwe_ps class and its diagnostics. The regression itself is stats::glm(binomial); this file
# only validates, turns fitted scores into weights (estimand, stabilisation, trimming,
# truncation) and summarises them. The stored settings let ps_survival() re-run the whole
# estimation in every bootstrap replicate.

#' Propensity scores and inverse-probability weights
#'
#' Fits a logistic propensity-score model of the treatment on the covariates with
#' [stats::glm()] (`family = binomial`) and turns the fitted scores \eqn{e} into weights for
#' the chosen estimand:
#' * `"ATE"` (average treatment effect in the whole cohort): \eqn{1/e} for treated,
#'   \eqn{1/(1-e)} for untreated patients;
#' * `"ATT"` (effect in the treated): 1 for treated, \eqn{e/(1-e)} for untreated patients;
#' * `"ATO"` (overlap weights, effect in the population with clinical equipoise):
#'   \eqn{1-e} for treated, \eqn{e} for untreated patients.
#'
#' `stabilize = TRUE` multiplies each arm's weights by a constant so that they sum, in
#' expectation, to the arm's size: \eqn{P(A=1)/e} and \eqn{P(A=0)/(1-e)} for the ATE (Robins'
#' stabilised weights), and the untreated weights times \eqn{P(A=0)/P(A=1)} for the ATT. It is
#' refused for `"ATO"` (overlap weights are bounded already).
#'
#' Then, in this order, `trim` drops the patients whose score lies outside the bounds (the
#' model is not refitted; the weights of the others are unchanged), and `truncate` caps the
#' weights of the remaining patients at the given quantiles of their weights (winsorising).
#'
#' Refused, with an error of class `rwe_bad_input`: a treatment with one or more than two
#' distinct values, missing values in the treatment or a covariate (the rows are named), and
#' a score model with (quasi-)complete separation (glm's "fitted probabilities numerically 0
#' or 1" or non-convergence, or fitted scores within 1e-6 of 0 or 1 for the ATE or ATT
#' without `trim`), whose weights would be meaningless.
#'
#' @param data A data frame, one row per patient.
#' @param treatment Name of the treatment column: two distinct values (logical, 0/1, a
#'   two-level factor or two strings). The second level (`TRUE`, `1`, the second factor
#'   level, the second value in sorted order) is "treated".
#' @param covariates The score model's right-hand side: a character vector of column names,
#'   or a one-sided formula such as `~ age + grade + nodes + log1p(nodes)`.
#' @param estimand `"ATE"`, `"ATT"` or `"ATO"`.
#' @param stabilize Whether to stabilise the weights (see Details).
#' @param trim `NULL`, or score bounds: one number `a` (keep \eqn{a \le e \le 1-a}) or two
#'   numbers `c(lower, upper)`.
#' @param truncate `NULL`, or weight quantiles: one number `q` (cap at the `q` quantile) or
#'   two numbers `c(lower, upper)` (e.g. `c(0.01, 0.99)`).
#' @param extreme Weights above this value are counted as extreme in the diagnostics.
#' @return An object of class `rwe_ps`, a list with `data` (the analysed rows of `data`),
#'   `treated` (0/1), `arm` (factor of the treatment levels), `ps`, `weights`, `rows` (their
#'   row numbers in `data`), `trimmed` (row numbers dropped by `trim`), `diagnostics` (one row
#'   per arm: `n`, `sum_weights`, `ess` (Kish's effective sample size
#'   \eqn{(\sum w)^2/\sum w^2}), weight quantiles, `n_extreme`), `model` (the glm fit),
#'   `formula`, `covariates` (the variables of the model), `treatment`, `levels`, `settings`
#'   and `input` (the whole of `data`, to re-estimate in a bootstrap).
#'   `summary()` gives the diagnostics, `tidy()` one row per patient, `plot()` the overlap of
#'   the scores by arm.
#' @examples
#' rott <- survival::rotterdam
#' rott$chemo <- factor(rott$chemo, 0:1, c("no", "yes"))
#' ps <- ps_weights(rott, "chemo", ~ age + meno + size + grade + nodes + pgr + er,
#'                  estimand = "ATE", stabilize = TRUE)
#' ps
#' summary(ps)
#' head(generics::tidy(ps))
#' @export
ps_weights <- function(data, treatment, covariates, estimand = c("ATE", "ATT", "ATO"),
                       stabilize = FALSE, trim = NULL, truncate = NULL, extreme = 10) {
  check_data_frame(data)
  estimand <- match_choice(estimand, c("ATE", "ATT", "ATO"), "estimand")
  check_flag(stabilize)
  if (stabilize && estimand == "ATO") {
    cli::cli_abort("{.arg stabilize} is not defined for overlap weights ({.code estimand = \"ATO\"}).",
                   class = "rwe_bad_input")
  }
  trim <- check_bounds(trim, "trim", two_sided = TRUE)
  truncate <- check_bounds(truncate, "truncate", two_sided = FALSE)
  check_number(extreme, min = 0)
  check_column_name(treatment, data)
  rhs <- ps_rhs(covariates, data)
  settings <- list(treatment = treatment, formula = rhs$formula, estimand = estimand,
                   stabilize = stabilize, trim = trim, truncate = truncate, extreme = extreme)
  ps_estimate(data, settings, call = rlang::current_env())
}

# The whole estimation for validated settings: also the body of each bootstrap replicate.
ps_estimate <- function(data, settings, call = rlang::caller_env()) {
  vars <- all.vars(settings$formula)
  treatment <- settings$treatment
  check_ps_missing(data, c(treatment, vars), call)
  levels <- treatment_levels(data[[treatment]], treatment, call)
  z <- as.integer(as.character(data[[treatment]]) == levels[2L])
  # Overlap weights stay bounded at scores near 0 or 1; trimming drops such patients.
  tolerate <- !is.null(settings$trim) || settings$estimand == "ATO"
  e <- ps_glm(data, z, settings$formula, tolerate_extreme = tolerate, call)
  w <- raw_weights(z, e$ps, settings$estimand)
  if (settings$stabilize) w <- stabilised(w, z, settings$estimand)
  keep <- rep(TRUE, length(z))
  if (!is.null(settings$trim)) {
    keep <- e$ps >= settings$trim[1L] & e$ps <= settings$trim[2L]
    if (any(tabulate(z[keep] + 1L, 2L) == 0L)) {
      cli::cli_abort("{.arg trim} = {.val {settings$trim}} leaves an arm without patients.",
                     call = call, class = "rwe_bad_input")
    }
  }
  w <- w[keep]
  if (!is.null(settings$truncate)) {
    caps <- stats::quantile(w, settings$truncate, names = FALSE, type = 7)
    w <- pmin(pmax(w, caps[1L]), caps[2L])
  }
  arm <- factor(levels[z[keep] + 1L], levels = levels)
  structure(list(
    data = data[keep, , drop = FALSE], treated = z[keep], arm = arm, ps = e$ps[keep],
    weights = w, rows = which(keep), trimmed = which(!keep),
    diagnostics = ps_diagnostics(w, arm, settings$extreme), model = e$model,
    formula = settings$formula, covariates = vars, treatment = treatment, levels = levels,
    settings = settings, input = data
  ), class = "rwe_ps")
}

# `trim` (score bounds, symmetric when one number) and `truncate` (weight quantiles, an upper
# cap when one number) as c(lower, upper) probabilities.
check_bounds <- function(x, arg, two_sided, call = rlang::caller_env()) {
  if (is.null(x)) return(NULL)
  ok <- is.numeric(x) && length(x) %in% 1:2 && all(is.finite(x)) && all(x >= 0 & x <= 1)
  if (ok && length(x) == 1L) x <- if (two_sided) c(x, 1 - x) else c(0, x)
  if (!ok || x[1L] >= x[2L]) {
    cli::cli_abort(c("{.arg {arg}} must be NULL, one number or two increasing numbers in [0, 1].",
                     "x" = "Got {.val {format(x)}}."), call = call, class = "rwe_bad_input")
  }
  as.double(x)
}

# The score model's right-hand side as a one-sided formula, with its variables checked.
ps_rhs <- function(covariates, data, call = rlang::caller_env()) {
  if (is.character(covariates) && length(covariates) && !anyNA(covariates)) {
    check_columns(data, covariates, call = call)
    formula <- stats::reformulate(sprintf("`%s`", covariates))
    environment(formula) <- globalenv()
  } else if (inherits(covariates, "formula") && length(covariates) == 2L) {
    formula <- covariates
    check_columns(data, all.vars(formula), call = call)
  } else {
    cli::cli_abort("{.arg covariates} must be column names or a one-sided formula such as {.code ~ age + grade}.",
                   call = call, class = "rwe_bad_input")
  }
  if (!length(all.vars(formula))) {
    cli::cli_abort("{.arg covariates} names no variable.", call = call, class = "rwe_bad_input")
  }
  list(formula = formula)
}

check_ps_missing <- function(data, cols, call) {
  bad <- which(!stats::complete.cases(data[cols]))
  if (!length(bad)) return(invisible())
  has_na <- cols[vapply(cols, function(v) anyNA(data[[v]]), logical(1))]
  abort_rows("data", paste0("has missing values in ", paste(has_na, collapse = ", "),
                            " (complete cases are needed for the score model)"), bad, call)
}

# The two treatment values in the order control, treated.
treatment_levels <- function(x, name, call) {
  levels <- if (is.factor(x)) levels(droplevels(x)) else
    if (is.logical(x)) c("FALSE", "TRUE")[c(any(!x), any(x))] else
    as.character(sort(unique(x)))
  if (length(levels) != 2L) {
    cli::cli_abort(c("The treatment column {.val {name}} must have exactly two distinct values.",
                     "x" = "It has {length(levels)}: {format_offenders(levels, quote = TRUE)}."),
                   call = call, class = "rwe_bad_input")
  }
  levels
}

# glm(binomial) of the treated indicator; separation (fitted scores at 0 or 1) is an error.
# Scores within 1e-6 of 0 or 1 are refused unless `tolerate_extreme`.
ps_glm <- function(data, z, formula, tolerate_extreme, call) {
  d <- data[all.vars(formula)]
  d$.rwe_treated <- z
  f <- stats::as.formula(call("~", quote(.rwe_treated), formula[[2L]]), env = environment(formula))
  separated <- function(why) {
    cli::cli_abort(c("The propensity-score model shows (quasi-)complete separation: {why}.",
                     "i" = "Some covariate pattern predicts the treatment (almost) perfectly, so weights are unbounded; remove or coarsen that covariate, or restrict the cohort."),
                   call = call, class = "rwe_bad_input")
  }
  model <- withCallingHandlers(
    stats::glm(f, family = stats::binomial(), data = d),
    warning = function(w) {
      msg <- conditionMessage(w)
      if (grepl("fitted probabilities numerically 0 or 1", msg, fixed = TRUE)) {
        separated("glm reports fitted probabilities of 0 or 1")
      }
      if (grepl("did not converge", msg, fixed = TRUE)) separated("glm did not converge")
    })
  ps <- unname(stats::fitted(model))
  extreme <- which(ps < 1e-6 | ps > 1 - 1e-6)
  if (length(extreme) && !tolerate_extreme) {
    separated(paste0("fitted scores within 1e-6 of 0 or 1 in rows ", format_offenders(extreme)))
  }
  list(ps = ps, model = model)
}

raw_weights <- function(z, e, estimand) {
  switch(estimand,
         ATE = ifelse(z == 1L, 1 / e, 1 / (1 - e)),
         ATT = ifelse(z == 1L, 1, e / (1 - e)),
         ATO = ifelse(z == 1L, 1 - e, e))
}

stabilised <- function(w, z, estimand) {
  p <- mean(z)
  if (estimand == "ATE") return(w * ifelse(z == 1L, p, 1 - p))
  ifelse(z == 1L, w, w * (1 - p) / p)
}

# Kish's effective sample size and the distribution of the weights, per arm.
ps_diagnostics <- function(w, arm, extreme) {
  rows <- split(seq_along(w), arm)
  out <- lapply(names(rows), function(a) {
    v <- w[rows[[a]]]
    q <- stats::quantile(v, c(0, 0.25, 0.5, 0.75, 1), names = FALSE)
    data.frame(arm = a, n = length(v), sum_weights = sum(v), ess = sum(v)^2 / sum(v^2),
               min = q[1L], q25 = q[2L], median = q[3L], q75 = q[4L], max = q[5L],
               n_extreme = sum(v > extreme))
  })
  do.call(rbind, out)
}

#' @export
print.rwe_ps <- function(x, digits = 3, ...) {
  s <- x$settings
  cat("Propensity-score weights (", s$estimand, if (s$stabilize) ", stabilised", ")\n", sep = "")
  cat("Treatment: ", x$treatment, " (", x$levels[2L], " vs ", x$levels[1L], ")\n", sep = "")
  cat("Score model: ", x$treatment, " ~ ", paste(trimws(deparse(x$formula[[2L]])), collapse = " "),
      " (logistic)\n", sep = "")
  if (!is.null(s$trim)) {
    cat("Trimmed (score outside [", s$trim[1L], ", ", s$trim[2L], "]): ",
        length(x$trimmed), " patients\n", sep = "")
  }
  if (!is.null(s$truncate)) {
    cat("Weights truncated at quantiles ", s$truncate[1L], " and ", s$truncate[2L], "\n",
        sep = "")
  }
  print_rounded(x$diagnostics, digits)
  cat("n_extreme: weights above ", s$extreme, "\n", sep = "")
  invisible(x)
}

#' @export
summary.rwe_ps <- function(object, ...) object$diagnostics

#' @export
tidy.rwe_ps <- function(x, ...) {
  data.frame(row = x$rows, arm = x$arm, treated = x$treated, ps = x$ps, weight = x$weights)
}

#' Overlap plot of propensity scores
#'
#' Histograms of the propensity score by arm, untreated mirrored below the axis, to judge
#' overlap (positivity) at a glance.
#'
#' @param x An `rwe_ps` object from [ps_weights()].
#' @param bins Number of histogram bins.
#' @param ... Unused.
#' @return A ggplot object.
#' @examples
#' rott <- survival::rotterdam
#' ps <- ps_weights(rott, "chemo", ~ age + meno + size + grade + nodes + pgr + er)
#' if (requireNamespace("ggplot2", quietly = TRUE)) plot(ps)
#' @export
plot.rwe_ps <- function(x, bins = 40, ...) {
  rlang::check_installed("ggplot2", reason = "to draw the overlap plot.")
  d <- data.frame(ps = x$ps, arm = x$arm)
  breaks <- seq(0, 1, length.out = bins + 1L)
  counts <- lapply(levels(d$arm), function(a) {
    h <- graphics::hist(d$ps[d$arm == a], breaks = breaks, plot = FALSE)
    sign <- if (a == x$levels[2L]) 1 else -1
    data.frame(arm = a, mid = h$mids, count = sign * h$counts)
  })
  counts <- do.call(rbind, counts)
  counts$arm <- factor(counts$arm, levels = x$levels)
  ggplot2::ggplot(counts, ggplot2::aes(x = .data$mid, y = .data$count, fill = .data$arm)) +
    ggplot2::geom_col(width = 1 / bins) +
    ggplot2::geom_hline(yintercept = 0, colour = "grey30") +
    ggplot2::scale_y_continuous(labels = abs) +
    ggplot2::labs(x = "Propensity score", y = "Patients", fill = x$treatment,
                  title = "Propensity-score overlap") +
    ggplot2::theme_minimal()
}
