# Predicted survival curves of a Cox model: survfit() for `rwe_cox` fits, predict(type =
# "survival"), and direct-adjusted (g-formula) marginal curves with a bootstrap interval.
#
# The arithmetic follows survival's survfit.coxph() (agsurv): per stratum, one pass over the
# distinct follow-up times gives the hazard increments at the fitted linear predictor 0
# (Breslow, or Efron's for Efron fits), their variance terms and the hazard-weighted risk-set
# means; each predicted curve is then the baseline scaled by exp(lp) with the Tsiatis
# variance, var log S(t) = r^2 [sum d / S0^2 + dt' V dt], dt = H(t) x - sum xbar h. All
# vectorised over times x curves: O(n p) for the baseline, O(times x curves x p) for the
# curves, so no C++ kernel is needed.

# Fits whose curves survfit.coxph would give: not Firth-penalised ones (no survival twin).
# Returns the fit with its per-row fields rebuilt (see check_rwe_cox()).
check_curve_fit <- function(object, call = rlang::caller_env()) {
  object <- check_rwe_cox(object, call = call)
  if (inherits(object, "rwe_cox_firth")) {
    cli::cli_abort("Predicted survival curves are not available for Firth-penalised fits ({.code firth = TRUE}).",
                   call = call, class = "rwe_bad_input")
  }
  invisible(object)
}

# ---- baseline ----------------------------------------------------------------------------

# Sum of the rows of `v` (vector or matrix) within groups g in 1..m, zero for empty groups.
bin_sums <- function(v, g, m) {
  v <- as.matrix(v)
  out <- matrix(0, m, ncol(v))
  keep <- g > 0L
  if (all(keep)) {
    out[sort(unique(g)), ] <- rowsum(v, g, reorder = TRUE)
  } else if (any(keep)) {
    gk <- g[keep]
    out[sort(unique(gk)), ] <- rowsum(v[keep, , drop = FALSE], gk, reorder = TRUE)
  }
  out
}

# Column-wise cumulative sums, from the top or (rev_cumsum) from the bottom; always a matrix.
col_cumsum <- function(v) {
  v <- as.matrix(v)
  for (j in seq_len(ncol(v))) v[, j] <- cumsum(v[, j])
  v
}

rev_cumsum <- function(v) {
  v <- as.matrix(v)
  for (j in seq_len(ncol(v))) v[, j] <- rev(cumsum(rev(v[, j])))
  v
}

# The fit's weighted mean offset: survfit.coxph's curves are relative to it.
cox_offset_mean <- function(object) {
  w <- object$weights
  if (all(object$offset == 0)) 0 else sum(object$offset * w) / sum(w)
}

# Linear predictor of the fitted rows as survfit.coxph centres it (means and mean offset).
cox_curve_lp <- function(object) {
  x <- cox_design(object)
  coef <- cox_coef0(object)
  lp <- object$offset - cox_offset_mean(object)
  if (length(coef)) lp <- lp + drop(sweep(x, 2L, object$means) %*% coef)
  lp
}

# Baseline pieces of one stratum at every distinct stop time: counts, hazard increment,
# its variance term and the hazard-weighted mean of the centred covariates, cumulated.
# `xc` are the centred covariates and `risk` = exp(lp) of the stratum's rows.
stratum_baseline <- function(resp, rows, w, risk, xc, efron) {
  stop <- resp$stop[rows]
  status <- resp$status[rows]
  w <- w[rows]
  wr <- w * risk[rows]
  xc <- xc[rows, , drop = FALSE]
  times <- sort(unique(stop))
  m <- length(times)
  at <- match(stop, times)
  death <- status == 1
  s0 <- rev_cumsum(bin_sums(wr, at, m))[, 1L]
  s1 <- rev_cumsum(bin_sums(wr * xc, at, m))
  irisk <- rev_cumsum(bin_sums(w, at, m))[, 1L]
  if (resp$counting) {
    # Rows whose interval starts at or after t are not at risk at t.
    after <- findInterval(resp$start[rows], times)
    s0 <- s0 - rev_cumsum(bin_sums(wr, after, m))[, 1L]
    s1 <- s1 - rev_cumsum(bin_sums(wr * xc, after, m))
    irisk <- irisk - rev_cumsum(bin_sums(w, after, m))[, 1L]
  }
  nevent <- bin_sums(w * death, at, m)[, 1L]
  inc <- curve_hazard_increments(nevent, s0, s1, at, death & w > 0, wr, xc, efron)
  list(time = times, n = length(rows), n.risk = irisk, n.event = nevent,
       n.censor = bin_sums(w * !death, at, m)[, 1L],
       cumhaz = cumsum(inc$haz), cumvar = cumsum(inc$varhaz),
       xbar = col_cumsum(inc$xbar))
}

# Hazard increments at every distinct time, their variance terms and hazard-weighted means
# of the centred covariates, with the fit's tie handling (src/ties.h through
# cox_tie_table_cpp): Efron's k-th of d tied deaths (k = 0..d-1) sees the denominator
# S0 - (k/d) D0, D0 the weighted risk of the deaths, and carries 1/d of the weighted deaths.
# `dead` marks the deaths with positive weight (a zero-weight death is no tied death).
curve_hazard_increments <- function(nevent, s0, s1, at, dead, wr, xc, efron) {
  m <- length(s0)
  tab <- cox_tie_table_cpp(s0, bin_sums(wr * dead, at, m)[, 1L], s1,
                           bin_sums(wr * dead * xc, at, m), bin_sums(as.double(dead), at, m)[, 1L],
                           nevent, efron, matrix(0, m, 0L), matrix(0, m, 0L))
  list(haz = tab$hazard, varhaz = tab$hazard_var, xbar = tab$hazard_mean)
}

# One baseline per stratum (list indexed by stratum code), plus what the curves need.
cox_curve_baseline <- function(object) {
  resp <- cox_response(object)
  x <- cox_design(object)
  coef <- cox_coef0(object)
  xc <- if (length(coef)) sweep(x, 2L, object$means) else matrix(0, nrow(x), 0L)
  lp <- cox_curve_lp(object)
  # exp() must not overflow; a common shift moves to the curves (see cox_curve_values()).
  shift <- if (max(lp) > 500) max(lp) else 0
  risk <- exp(lp - shift)
  codes <- as.integer(object$strata)
  n_strata <- max(codes, length(object$strata_levels))
  base <- lapply(seq_len(n_strata), function(s) {
    rows <- which(codes == s)
    if (!length(rows)) return(NULL)
    stratum_baseline(resp, rows, object$weights, risk, xc, object$method == "efron")
  })
  list(strata = base, shift = shift, vfactor = cox_var_factor(object),
       offset_mean = cox_offset_mean(object))
}

# A factor L of the variance of the non-aliased coefficients (V = L L'), so that dt' V dt is
# a sum of squares: no cancellation, and a singular V is fine.
cox_var_factor <- function(object) {
  coef <- object$coefficients
  p <- length(coef)
  if (!p) return(matrix(0, 0L, 0L))
  keep <- !is.na(coef)
  out <- matrix(0, p, sum(keep))
  if (any(keep)) {
    e <- eigen(as.matrix(object$var)[keep, keep, drop = FALSE], symmetric = TRUE)
    out[keep, ] <- e$vectors %*% diag(sqrt(pmax(e$values, 0)), sum(keep))
  }
  out
}

# Cumulative hazard and variance of log S for `k` curves (centred covariate rows `xc`,
# linear predictors `lp`) at positions `pos` of one stratum's baseline (0 = before its first
# time). Returns two length(pos) x k matrices.
cox_curve_values <- function(b, pos, xc, lp, shift, vfactor, se = TRUE) {
  r <- exp(lp - shift)
  h <- c(0, b$cumhaz)[pos + 1L]
  cumhaz <- outer(h, r)
  if (!se) return(list(cumhaz = cumhaz, var = NULL))
  quad <- matrix(0, length(pos), length(r))
  if (ncol(vfactor)) {
    a <- xc %*% vfactor
    bx <- rbind(0, b$xbar)[pos + 1L, , drop = FALSE] %*% vfactor
    for (v in seq_len(ncol(vfactor))) quad <- quad + (outer(h, a[, v]) - bx[, v])^2
  }
  var <- (c(0, b$cumvar)[pos + 1L] + quad) * rep(r^2, each = length(pos))
  list(cumhaz = cumhaz, var = var)
}

# ---- newdata -----------------------------------------------------------------------------

# The rows to predict for: centred covariates, linear predictors (survfit's centring), the
# stratum of each row (NULL = every stratum) and the covariate values to report.
cox_curve_targets <- function(object, newdata, call = rlang::caller_env()) {
  coef <- cox_coef0(object)
  p <- length(coef)
  stratified <- cox_has_strata(object)
  if (is.null(newdata)) {
    if (any(attr(object$terms, "order") > 1L)) {
      cli::cli_warn("The model has interactions: a curve at the covariate means is rarely useful; give {.arg newdata}.",
                    class = "rwe_cox_curve_at_means")
    }
    info <- as.data.frame(as.list(if (p) object$means else c(`(baseline)` = 0)),
                          optional = TRUE)
    return(list(xc = matrix(0, 1L, p), lp = 0, strata = NULL, info = info))
  }
  if (is.null(object$terms)) return(matrix_fit_targets(object, newdata, call))
  if (!is.data.frame(newdata) || nrow(newdata) == 0L) {
    cli::cli_abort("{.arg newdata} must be a data frame with at least one row.",
                   call = call, class = "rwe_bad_input")
  }
  found <- stratified && all(all.vars(as.call(c(quote(list), strata_expressions(object)))) %in%
                               names(newdata))
  design <- newdata_design(object, newdata, stats::na.pass, need_strata = found, call = call)
  bad <- which(!stats::complete.cases(design$x) | !is.finite(design$offset))
  if (length(bad)) abort_rows("newdata", "has missing covariate values", bad, call)
  xc <- if (p) sweep(design$x, 2L, object$means) else matrix(0, nrow(design$x), 0L)
  lp <- drop(xc %*% coef) + design$offset - cox_offset_mean(object)
  vars <- intersect(all.vars(stats::delete.response(covariate_terms(object))), names(newdata))
  info <- newdata[vars]
  rownames(info) <- NULL
  list(xc = xc, lp = lp, strata = design$strata, info = info)
}

# A fit from cox_fit_matrix() has no formula: newdata is a matrix (or data frame) holding
# the coefficients' columns; it cannot give strata or offsets.
matrix_fit_targets <- function(object, newdata, call) {
  coef <- cox_coef0(object)
  if (is.data.frame(newdata)) newdata <- as.matrix(newdata)
  absent <- setdiff(names(coef), colnames(newdata))
  if (!is.matrix(newdata) || !is.numeric(newdata) || !nrow(newdata) || length(absent)) {
    cli::cli_abort(c("{.arg newdata} must be a numeric matrix with the columns {.val {names(coef)}} of the fit.",
                     "x" = if (length(absent)) "Missing: {.val {absent}}."),
                   call = call, class = "rwe_bad_input")
  }
  x <- newdata[, names(coef), drop = FALSE]
  bad <- which(!stats::complete.cases(x))
  if (length(bad)) abort_rows("newdata", "has missing covariate values", bad, call)
  xc <- sweep(x, 2L, object$means)
  list(xc = xc, lp = drop(xc %*% coef) - cox_offset_mean(object), strata = NULL,
       info = as.data.frame(x))
}

# ---- survfit -----------------------------------------------------------------------------

#' Predicted survival curves from a Cox model
#'
#' The survival curve, cumulative hazard, standard error and pointwise confidence limits
#' predicted by an `rwe_cox` fit for each row of `newdata`, equal to
#' `survival::survfit(coxph_fit, newdata)` (survival 3.x defaults: the curve is
#' `exp(-cumulative hazard)`, with the Breslow baseline hazard for Breslow fits and Efron's
#' for Efron fits; the Tsiatis variance, which includes the uncertainty of the
#' coefficients). Strata, counting-process data, offsets and case weights are handled as
#' survfit does; the numbers at risk and events are weighted counts.
#'
#' Without `newdata` there is one curve at the covariate means stored with the fit
#' (`fit$means`, where 0/1 covariates are not centred, as in `coxph`). In a stratified model,
#' a `newdata` that holds the strata variables gives each row the curve of its own stratum;
#' otherwise every row gets one curve per stratum.
#'
#' @param formula An `rwe_cox` fit from [cox_fit()] or [cox_fit_matrix()] (the argument is
#'   called `formula` because [survival::survfit()] is the generic).
#' @param newdata Optional data frame of covariate values, one curve per row (for a
#'   [cox_fit_matrix()] fit: a numeric matrix with the fit's columns). Rows with missing
#'   covariates are refused.
#' @param conf.level Confidence level of the pointwise limits.
#' @param conf.int Deprecated name of `conf.level` (`survival::survfit.coxph()`'s name; a
#'   warning of class `rwe_deprecated`).
#' @param conf.type Scale of the limits: `"log"` (default), `"log-log"`, `"plain"` or
#'   `"none"`.
#' @param se.fit Compute standard errors (and limits)?
#' @param ... Not used; survfit.coxph arguments that change the estimator (`stype`, `ctype`,
#'   `individual`, `id`, `start.time`, `censor`, `influence`, `type`, ...) are refused.
#' @return An object of class `rwe_cox_curves`: a list with `curves` (one row per curve and
#'   distinct follow-up time: `curve`, `time`, `n.risk`, `n.event`, `n.censor`, `surv`,
#'   `cumhaz`, `std.err` (the standard error of the cumulative hazard, i.e. of log S, as
#'   survfit stores it), `lower`, `upper`), `targets` (one row per curve: `curve`, the
#'   strata columns, the covariate values), `n` and `events` per curve, `conf.level`,
#'   `conf.type`, `method`. Methods: `print()`, `summary(times = )`, [tidy()],
#'   `quantile()`, `median()`, `plot()`.
#' @seealso [cox_marginal_curve()] for curves averaged over a population.
#' @examples
#' fit <- cox_fit(survival::Surv(time, status) ~ age + sex, data = survival::lung)
#' curves <- survival::survfit(fit, newdata = data.frame(age = c(50, 70), sex = c(1, 2)))
#' curves
#' summary(curves, times = c(180, 365))
#' head(generics::tidy(curves))
#' @method survfit rwe_cox
#' @export
survfit.rwe_cox <- function(formula, newdata, conf.level = 0.95,
                            conf.type = c("log", "log-log", "plain", "none"),
                            se.fit = TRUE, ..., conf.int = NULL) {
  object <- formula
  check_dots_refused(list(...), "survfit")
  object <- check_curve_fit(object)
  conf.type <- match_choice(conf.type, c("log", "log-log", "plain", "none"), "conf.type")
  conf.level <- deprecated_conf_int(conf.int, conf.level, !missing(conf.level))
  check_flag(se.fit)
  if (!se.fit) conf.type <- "none"
  base <- cox_curve_baseline(object)
  targets <- cox_curve_targets(object, if (missing(newdata)) NULL else newdata)
  plan <- cox_curve_plan(object, base, targets)
  curves <- cox_curve_table(base, targets, plan, se.fit)
  limits <- if (conf.type == "none") list(lower = NA_real_, upper = NA_real_) else
    km_conf_limits(curves$surv, curves$std.err, conf.type, conf.level)
  curves$lower <- limits$lower
  curves$upper <- limits$upper
  new_rwe_cox_curves(curves, plan, object, base, targets$info, conf.level, conf.type)
}

# All curves in long form, ordered by curve then time: one block of m times x k curves per
# stratum, built column-wise (no per-curve data frames: newdata may have many rows).
cox_curve_table <- function(base, targets, plan, se.fit) {
  blocks <- lapply(unique(plan$stratum), function(s) {
    which_curves <- which(plan$stratum == s)
    b <- base$strata[[s]]
    rows <- plan$row[which_curves]
    vals <- cox_curve_values(b, seq_along(b$time), targets$xc[rows, , drop = FALSE],
                             targets$lp[rows], base$shift, base$vfactor, se = se.fit)
    k <- length(which_curves)
    list(curve = rep(which_curves, each = length(b$time)), time = rep(b$time, k),
         n.risk = rep(b$n.risk, k), n.event = rep(b$n.event, k),
         n.censor = rep(b$n.censor, k), surv = exp(-c(vals$cumhaz)), cumhaz = c(vals$cumhaz),
         std.err = if (se.fit) sqrt(c(vals$var)) else rep(NA_real_, length(vals$cumhaz)))
  })
  cols <- names(blocks[[1L]])
  curves <- as.data.frame(stats::setNames(lapply(cols, function(v) {
    unlist(lapply(blocks, `[[`, v), use.names = FALSE)
  }), cols))
  ord <- order(curves$curve, method = "radix")  # stable: times stay sorted within a curve
  if (is.unsorted(ord)) curves <- curves[ord, , drop = FALSE]
  curves
}

#' @importFrom survival survfit
#' @export
survival::survfit

# Which curves to draw: one per (stratum, row) pair, in survfit's order (stratum-major when
# newdata does not give the strata; row order when it does).
cox_curve_plan <- function(object, base, targets) {
  k <- nrow(targets$xc)
  present <- which(!vapply(base$strata, is.null, logical(1)))
  if (!is.null(targets$strata)) {
    return(data.frame(curve = seq_len(k), stratum = targets$strata, row = seq_len(k)))
  }
  if (!cox_has_strata(object)) present <- present[1L]
  plan <- expand.grid(row = seq_len(k), stratum = present)
  data.frame(curve = seq_len(nrow(plan)), stratum = plan$stratum, row = plan$row)
}

new_rwe_cox_curves <- function(curves, plan, object, base, info, conf.level, conf.type) {
  targets <- data.frame(curve = plan$curve)
  if (cox_has_strata(object)) targets <- cbind(targets, cox_strata_columns(object, plan$stratum))
  targets <- cbind(targets, info[plan$row, , drop = FALSE])
  rownames(targets) <- NULL
  rownames(curves) <- NULL
  structure(list(curves = curves, targets = targets,
                 n = vapply(plan$stratum, function(s) base$strata[[s]]$n, numeric(1)),
                 events = vapply(plan$stratum, function(s) sum(base$strata[[s]]$n.event),
                                 numeric(1)),
                 conf.level = conf.level, conf.type = conf.type, method = object$method),
            class = "rwe_cox_curves")
}

# The strata of the fit as real columns, one row per stratum code in `codes`.
cox_strata_columns <- function(object, codes) {
  table <- object$strata_table
  if (is.null(table)) {
    labels <- object$strata_levels %||% as.character(seq_len(max(codes)))
    table <- data.frame(strata = labels)
  }
  out <- table[codes, , drop = FALSE]
  rownames(out) <- NULL
  out
}

refused_survfit_args <- c("stype", "ctype", "individual", "id", "start.time", "censor",
                          "influence", "type", "na.action", "se.type", "vartype")

check_dots_refused <- function(dots, fn, call = rlang::caller_env()) {
  if (!length(dots)) return(invisible(TRUE))
  nm <- names(dots)
  if (is.null(nm)) nm <- rep("", length(dots))
  nm[nm == ""] <- "<unnamed>"
  cli::cli_abort(c("{.fn {fn}} for {.cls rwe_cox} fits does not support the argument{?s} {.arg {nm}}.",
                   "i" = "The curves are survfit.coxph's defaults (stype = 2, ctype by the ties method)."),
                 call = call, class = "rwe_bad_input")
}

# ---- methods -----------------------------------------------------------------------------

curve_rows <- function(x) split(seq_len(nrow(x$curves)), factor(x$curves$curve,
                                                                 seq_len(nrow(x$targets))))

#' @export
print.rwe_cox_curves <- function(x, digits = 3, ...) {
  cat("Predicted survival from a Cox model (", x$method, " baseline, ",
      format(100 * x$conf.level), "% CI, ", x$conf.type, " scale)\n", sep = "")
  med <- median.rwe_cox_curves(x)
  shown <- function(v) ifelse(is.na(v), "NR", format(signif(v, digits)))
  tab <- cbind(x$targets, n = x$n, events = signif(x$events, digits),
               median = shown(med$median), lower = shown(med$conf.low),
               upper = shown(med$conf.high))
  names(tab)[ncol(tab) - 1:0] <- paste0(format(100 * x$conf.level), "% CI ", c("lower", "upper"))
  print(tab, row.names = FALSE)
  if (anyNA(med$median) || anyNA(med$conf.high)) {
    cat("NR: not reached (the curve or its limit never falls below 0.5).\n")
  }
  invisible(x)
}

#' Medians and quantiles of predicted Cox curves
#'
#' By the rules of `quantile.survfit()` / `print.survfit()`: the `p` quantile is the first
#' time the curve falls to `1 - p` (the midpoint to the next drop when it sits exactly at
#' `1 - p`); the limits are read off the confidence curves.
#'
#' @param x An `rwe_cox_curves` object from [survfit.rwe_cox()].
#' @param probs Probabilities in \[0, 1\].
#' @param na.rm Unused (for the generic).
#' @param ... Must be empty.
#' @return A data frame: the columns of `x$targets` (curve, strata, covariates), `prob`
#'   (quantile only), `quantile` / `median`, `conf.low`, `conf.high`; `NA` = not reached.
#' @examples
#' fit <- cox_fit(survival::Surv(time, status) ~ age + sex, data = survival::lung)
#' curves <- survival::survfit(fit, newdata = data.frame(age = 60, sex = 1:2))
#' quantile(curves)
#' median(curves)
#' @export
quantile.rwe_cox_curves <- function(x, probs = c(0.25, 0.5, 0.75), ...) {
  check_dots_empty_bad(...)
  out <- curve_quantiles(x$curves, curve_rows(x), probs)
  cbind(x$targets[out$curve, , drop = FALSE], out[-1L], row.names = NULL)
}

#' @rdname quantile.rwe_cox_curves
#' @importFrom stats median
#' @export
median.rwe_cox_curves <- function(x, na.rm = FALSE, ...) {
  check_dots_empty_bad(...)
  cv <- x$curves
  rows <- curve_rows(x)
  one <- function(r) c(median = km_first_below_half(cv$surv[r], cv$time[r]),
                       conf.low = km_first_below_half(cv$lower[r], cv$time[r]),
                       conf.high = km_first_below_half(cv$upper[r], cv$time[r]))
  stats <- as.data.frame(do.call(rbind, lapply(rows, one)))
  cbind(x$targets, stats, row.names = NULL)
}

#' Summarise predicted Cox curves at chosen times
#'
#' As `summary.survfit(times = )`: each curve's value at the last time not after each
#' requested time, the number at risk then, and the events and censorings since the previous
#' requested time. Times after a curve's last follow-up time are dropped unless
#' `extend = TRUE`.
#'
#' @param object An `rwe_cox_curves` object from [survfit.rwe_cox()].
#' @param times Times at which to report; missing = every time of the curves.
#' @param extend Report times after a curve's last time too.
#' @param ... Must be empty.
#' @return A data frame: the `targets` columns, `time`, `n.risk`, `n.event`, `n.censor`,
#'   `surv`, `std.err` (standard error of S, as summary.survfit reports it), `lower`,
#'   `upper`.
#' @examples
#' fit <- cox_fit(survival::Surv(time, status) ~ age + sex, data = survival::lung)
#' summary(survival::survfit(fit), times = c(0, 180, 365))
#' @export
summary.rwe_cox_curves <- function(object, times, extend = FALSE, ...) {
  check_dots_empty_bad(...)
  cv <- object$curves
  cv$std.err.surv <- cv$surv * cv$std.err
  if (missing(times)) {
    out <- cv[c("curve", "time", "n.risk", "n.event", "n.censor", "surv", "std.err.surv",
                "lower", "upper")]
    names(out)[names(out) == "std.err.surv"] <- "std.err"
    names(out)[1L] <- "stratum"
  } else {
    if (!is.numeric(times) || anyNA(times)) {
      cli::cli_abort("{.arg times} must be numbers.", class = "rwe_bad_input")
    }
    times <- sort(times[is.finite(times)])
    rows <- curve_rows(object)
    out <- do.call(rbind, lapply(seq_along(rows), function(i) {
      km_at_times(cv[rows[[i]], , drop = FALSE], i, times, extend)
    }))
  }
  curve <- out$stratum
  out$stratum <- NULL
  out <- cbind(object$targets[curve, , drop = FALSE], out, row.names = NULL)
  class(out) <- c("summary.rwe_cox_curves", "data.frame")
  out
}

#' @export
print.summary.rwe_cox_curves <- function(x, ...) {
  print(as.data.frame(unclass(x))[names(x)], row.names = FALSE, ...)
  invisible(x)
}

#' Tidy predicted Cox curves
#'
#' @param x An `rwe_cox_curves` object from [survfit.rwe_cox()].
#' @param ... Must be empty.
#' @return A data frame in the layout of `broom::tidy.survfit()`, one row per curve and time:
#'   `curve`, the strata columns, the covariate columns of `newdata`, `time`, `n.risk`,
#'   `n.event`, `n.censor`, `estimate` (S), `std.error` (the standard error of the
#'   cumulative hazard, i.e. of log S, as broom reports survfit's `std.err`), `conf.low`,
#'   `conf.high`, and `cumhaz`.
#' @examples
#' fit <- cox_fit(survival::Surv(time, status) ~ age + strata(sex), data = survival::lung)
#' head(generics::tidy(survival::survfit(fit, newdata = data.frame(age = 60))))
#' @export
tidy.rwe_cox_curves <- function(x, ...) {
  check_dots_empty_bad(...)
  cv <- x$curves
  out <- data.frame(time = cv$time, n.risk = cv$n.risk, n.event = cv$n.event,
                    n.censor = cv$n.censor, estimate = cv$surv, std.error = cv$std.err,
                    conf.low = cv$lower, conf.high = cv$upper, cumhaz = cv$cumhaz)
  cbind(x$targets[cv$curve, , drop = FALSE], out, row.names = NULL)
}

# ---- predict(type = "survival") ------------------------------------------------------------

# Survival probabilities of each row at `times` (rows x times), read off the row's curve;
# NA after the last follow-up time of its stratum. Without `times`, exp(-expected) over each
# row's own follow-up, as predict.coxph(type = "survival").
predict_cox_survival <- function(object, newdata, times, se.fit = FALSE, ...,
                                 call = rlang::caller_env()) {
  object <- check_curve_fit(object, call = call)
  check_dots_refused(list(...), "predict", call = call)
  if (missing(times)) {
    if (se.fit) {
      cli::cli_abort("{.arg se.fit} needs {.arg times} for {.code type = \"survival\"}.",
                     call = call, class = "rwe_bad_input")
    }
    return(exp(-predict_expected(object, if (missing(newdata)) NULL else newdata,
                                 stats::na.pass, call = call)))
  }
  check_curve_times(times, call)
  targets <- if (missing(newdata)) cox_fitted_targets(object) else
    cox_curve_targets(object, newdata, call = call)
  if (cox_has_strata(object) && is.null(targets$strata)) {
    cli::cli_abort("{.arg newdata} must hold the strata variables of the model to predict survival per row.",
                   call = call, class = "rwe_bad_input")
  }
  values <- cox_survival_at(object, cox_curve_baseline(object), targets, times, se.fit)
  dimnames(values$surv) <- list(NULL, format(times, trim = TRUE))
  if (!se.fit) return(values$surv)
  dimnames(values$se) <- dimnames(values$surv)
  list(fit = values$surv, se.fit = values$se)
}

check_curve_times <- function(times, call) {
  if (!is.numeric(times) || !length(times) || anyNA(times) || any(!is.finite(times)) ||
      any(times < 0)) {
    cli::cli_abort("{.arg times} must be finite non-negative numbers.", call = call,
                   class = "rwe_bad_input")
  }
  invisible(times)
}

# The fitted rows as prediction targets.
cox_fitted_targets <- function(object) {
  coef <- cox_coef0(object)
  x <- cox_design(object)
  list(xc = if (length(coef)) sweep(x, 2L, object$means) else matrix(0, nrow(x), 0L),
       lp = cox_curve_lp(object), strata = as.integer(object$strata), info = NULL)
}

# S (and its standard error) of each target row at `times`: rows x times matrices.
cox_survival_at <- function(object, base, targets, times, se.fit = FALSE) {
  k <- length(targets$lp)
  strata <- if (is.null(targets$strata)) rep(1L, k) else targets$strata
  surv <- matrix(NA_real_, k, length(times))
  se <- if (se.fit) surv else NULL
  for (s in unique(strata)) {
    rows <- which(strata == s)
    b <- base$strata[[s]]
    if (is.null(b)) next  # a stratum absent from a bootstrap sample
    pos <- findInterval(times, b$time)
    vals <- cox_curve_values(b, pos, targets$xc[rows, , drop = FALSE], targets$lp[rows],
                             base$shift, base$vfactor, se = se.fit)
    beyond <- times > b$time[length(b$time)]
    sv <- exp(-vals$cumhaz)
    sv[beyond, ] <- NA_real_
    surv[rows, ] <- t(sv)
    if (se.fit) se[rows, ] <- t(sv * sqrt(vals$var))
  }
  list(surv = surv, se = se)
}

# ---- marginal (direct-adjusted) curves -------------------------------------------------------

#' Marginal (direct-adjusted) survival curves from a Cox model
#'
#' The g-formula estimate of the survival curve of a population: the mean, over the rows of
#' `data`, of each row's predicted survival curve (as [survfit.rwe_cox()] gives it). With
#' `by`, one curve per level of that model variable with *every* row set to that level: the
#' counterfactual curves "had everyone received treatment A / B", whose difference is an
#' adjusted treatment contrast.
#'
#' The confidence interval is a nonparametric bootstrap: `bootstrap` times, the rows of the
#' fitting data are resampled with replacement (with their weights, offsets and strata), the
#' model is refitted with the same ties method and control settings, and the curves of
#' `data` are re-averaged; the limits are the percentiles of the replicates and `std.error`
#' is their standard deviation. Resampling rows assumes independent rows, so it is refused
#' for counting-process (`Surv(start, stop, event)`) fits, where a subject spans several
#' rows. Set `seed` for reproducible intervals (the global random-number state is restored
#' afterwards). By default (`population = "fixed"`) `data` is a fixed target population and
#' only the model is resampled; when `data` is itself a sample (e.g. the fitting data),
#' `population = "resample"` also resamples its rows in each replicate (independently of the
#' fitting rows), adding the uncertainty of the covariate distribution.
#'
#' With `by`, the differences of each level's curve from the first level's (the reference)
#' are attached as attribute `differences`, with bootstrap limits from the same replicates.
#'
#' @param fit An `rwe_cox` fit from [cox_fit()] (the model matrix must be kept, `x = TRUE`).
#' @param data A data frame of the population to average over (often the fitting data),
#'   holding every covariate of the model (and the strata variables of a stratified model);
#'   rows with missing covariates are refused.
#' @param by Optional name of a model variable (e.g. the treatment): one curve per level,
#'   with all rows of `data` set to it.
#' @param times Times at which to evaluate; `NULL` = every distinct follow-up time of the
#'   fit. A curve is `NA` after the last follow-up time of a row's stratum.
#' @param conf.level Confidence level of the percentile bootstrap interval.
#' @param bootstrap Number of bootstrap replicates (0 for none).
#' @param seed Optional random seed for the bootstrap.
#' @param population `"fixed"` (default) or `"resample"`: whether the bootstrap also
#'   resamples the rows of `data`.
#' @return A data frame of class `rwe_cox_marginal`: the `by` column (when given), `time`,
#'   `estimate`, `std.error`, `conf.low`, `conf.high`; attributes `bootstrap`, `seed`,
#'   `conf.level`, `population`, `failed` (replicates whose refit did not converge, kept)
#'   and `differences` (with `by`: the same columns for each level minus the first level,
#'   `NULL` otherwise). `tidy()` drops the attributes.
#' @examples
#' colon_os <- na.omit(subset(survival::colon, etype == 2,
#'                           c(time, status, rx, age, nodes)))
#' fit <- cox_fit(survival::Surv(time, status) ~ rx + age + nodes, data = colon_os)
#' adj <- cox_marginal_curve(fit, colon_os, by = "rx", times = c(365, 730, 1825),
#'                           bootstrap = 20, seed = 1)
#' adj
#' attr(adj, "differences")
#' @export
cox_marginal_curve <- function(fit, data, by = NULL, times = NULL, conf.level = 0.95,
                               bootstrap = 200, seed = NULL,
                               population = c("fixed", "resample")) {
  fit <- check_curve_fit(fit)
  if (is.null(fit$terms)) {
    cli::cli_abort("{.arg fit} must come from {.fn cox_fit} (a formula fit): {.arg data} is read through its terms.",
                   class = "rwe_bad_input")
  }
  population <- match_choice(population, c("fixed", "resample"), "population")
  if (!is.data.frame(data) || !nrow(data)) {
    cli::cli_abort("{.arg data} must be a data frame with at least one row.",
                   class = "rwe_bad_input")
  }
  check_conf_level(conf.level)
  check_bootstrap_args(bootstrap, seed)
  if (is.null(times)) times <- sort(unique(cox_response(fit)$stop))
  check_curve_times(times, environment())
  call <- rlang::current_env()
  scenarios <- marginal_scenarios(fit, data, by, call = call)
  designs <- lapply(scenarios$data, function(d) marginal_design(fit, d, call = call))
  estimate <- c(marginal_means(fit, designs, times))
  boot <- marginal_bootstrap(fit, designs, times, bootstrap, seed, population == "resample",
                             call = call)
  key <- data.frame(time = rep(times, length(designs)))
  if (!is.null(by)) {
    key <- cbind(stats::setNames(data.frame(rep(scenarios$levels, each = length(times))), by),
                 key)
  }
  out <- cbind(key, marginal_summary(estimate, boot$values, conf.level))
  differences <- NULL
  if (length(designs) > 1L) {
    # Each level minus the first (reference) level, time by time, replicate by replicate.
    ref <- rep(seq_along(times), length(designs))
    diffs <- function(v) v - v[ref]
    keep <- key[[by]] != scenarios$levels[1L]
    differences <- cbind(key[keep, , drop = FALSE], marginal_summary(
      diffs(estimate)[keep], if (bootstrap) t(apply(boot$values, 1L, diffs))[, keep, drop = FALSE],
      conf.level))
    rownames(differences) <- NULL
  }
  structure(out, class = c("rwe_cox_marginal", "data.frame"), bootstrap = bootstrap,
            seed = seed, conf.level = conf.level, population = population,
            failed = boot$failed, differences = differences)
}

# Estimate with the bootstrap standard deviation and percentile limits (NA without replicates).
marginal_summary <- function(estimate, values, conf.level) {
  a <- (1 - conf.level) / 2
  if (is.null(values)) {
    return(data.frame(estimate = estimate, std.error = NA_real_, conf.low = NA_real_,
                      conf.high = NA_real_))
  }
  q <- function(p) apply(values, 2L, stats::quantile, p, na.rm = TRUE, names = FALSE)
  data.frame(estimate = estimate, std.error = apply(values, 2L, stats::sd, na.rm = TRUE),
             conf.low = q(a), conf.high = q(1 - a))
}

# The data sets to average over: `data` itself, or one copy per level of `by` with every row
# set to that level (keeping the column's type and factor levels).
marginal_scenarios <- function(fit, data, by, call = rlang::caller_env()) {
  if (is.null(by)) return(list(data = list(data), levels = NULL))
  model_vars <- all.vars(stats::delete.response(fit$terms))
  if (!is.character(by) || length(by) != 1L || is.na(by) || !by %in% model_vars) {
    cli::cli_abort("{.arg by} must name one variable of the model ({.val {model_vars}}).",
                   call = call, class = "rwe_bad_input")
  }
  if (!by %in% names(data)) {
    cli::cli_abort("{.arg data} lacks the {.arg by} column {.val {by}}.", call = call,
                   class = "rwe_bad_input")
  }
  col <- data[[by]]
  levels <- if (!is.null(fit$xlevels[[by]])) fit$xlevels[[by]] else
    if (is.factor(col)) levels(col) else sort(unique(col[!is.na(col)]))
  sets <- lapply(levels, function(l) {
    d <- data
    d[[by]] <- if (is.factor(col)) factor(rep(l, nrow(d)), levels = levels(col)) else
      rep(l, nrow(d))
    d
  })
  list(data = sets, levels = levels)
}

# Raw (uncentred) design of one scenario: each bootstrap refit centres it with its own means.
marginal_design <- function(fit, d, call = rlang::caller_env()) {
  design <- newdata_design(fit, d, stats::na.pass, need_strata = cox_has_strata(fit),
                           call = call)
  bad <- which(!stats::complete.cases(design$x) | !is.finite(design$offset))
  if (length(bad)) abort_rows("data", "has missing covariate values", bad, call)
  design
}

# Mean predicted survival of each design at `times`: a times x designs matrix. `strata_map`
# turns the fit's stratum codes into those of `object` (a bootstrap refit).
marginal_means <- function(object, designs, times, strata_map = NULL) {
  base <- cox_curve_baseline(object)
  coef <- cox_coef0(object)
  vapply(designs, function(design) {
    xc <- if (length(coef)) sweep(design$x, 2L, object$means) else matrix(0, nrow(design$x), 0L)
    strata <- design$strata
    if (!is.null(strata) && !is.null(strata_map)) strata <- strata_map[strata]
    targets <- list(xc = xc, lp = drop(xc %*% coef) + design$offset - cox_offset_mean(object),
                    strata = strata)
    if (anyNA(strata)) return(rep(NA_real_, length(times)))
    colMeans(cox_survival_at(object, base, targets, times)$surv)
  }, numeric(length(times)))
}

marginal_bootstrap <- function(fit, designs, times, bootstrap, seed, resample_population,
                               call = rlang::caller_env()) {
  if (!bootstrap) return(list(values = NULL, failed = 0L))
  if (cox_response(fit)$counting) {
    cli::cli_abort(c("The bootstrap resamples rows, which is not valid for counting-process data (a subject spans several rows).",
                     "i" = "Use {.code bootstrap = 0} for the point estimate."),
                   call = call, class = "rwe_bad_input")
  }
  x <- cox_design(fit)
  stratified <- cox_has_strata(fit)
  failed <- 0L
  one <- function() {
    idx <- sample.int(nrow(x), nrow(x), replace = TRUE)
    refit <- withCallingHandlers(
      cox_fit_matrix(x[idx, , drop = FALSE], fit$y[idx, ],
                     strata = if (stratified) fit$strata[idx], weights = fit$weights[idx],
                     offset = fit$offset[idx], ties = fit$method, control = fit$control,
                     concordance = FALSE),
      rwe_cox_not_converged = function(w) {
        failed <<- failed + 1L
        invokeRestart("muffleWarning")
      },
      rwe_cox_diverged = function(w) invokeRestart("muffleWarning"))
    map <- if (stratified) match(as.character(seq_len(max(fit$strata))), refit$strata_levels)
    used <- designs
    if (resample_population) {
      # The same resampled rows of `data` in every scenario, so contrasts stay paired.
      rows <- sample.int(nrow(designs[[1L]]$x), nrow(designs[[1L]]$x), replace = TRUE)
      used <- lapply(designs, function(d) list(x = d$x[rows, , drop = FALSE],
                                               offset = d$offset[rows],
                                               strata = d$strata[rows]))
    }
    c(marginal_means(refit, used, times, strata_map = map))
  }
  width <- length(times) * length(designs)
  values <- with_seed(seed, matrix(vapply(seq_len(bootstrap), function(b) one(),
                                          numeric(width)),
                                   nrow = bootstrap, ncol = width, byrow = TRUE))
  list(values = values, failed = failed)
}

# Evaluates `code` with the random seed set, restoring the caller's random state afterwards.
with_seed <- function(seed, code) {
  if (is.null(seed)) return(code)
  env <- globalenv()
  old <- if (exists(".Random.seed", envir = env, inherits = FALSE)) get(".Random.seed", envir = env)
  on.exit(if (is.null(old)) rm(".Random.seed", envir = env) else assign(".Random.seed", old, envir = env))
  set.seed(seed)
  code
}

#' @export
print.rwe_cox_marginal <- function(x, digits = 3, ...) {
  b <- attr(x, "bootstrap")
  cat("Marginal (direct-adjusted) survival from a Cox model",
      if (b) paste0(" (", format(100 * attr(x, "conf.level")), "% percentile bootstrap CI, B = ",
                    b, ")") else "", "\n", sep = "")
  df <- as.data.frame(unclass(x))[names(x)]
  print_rounded(df, digits)
  diffs <- attr(x, "differences")
  if (!is.null(diffs)) {
    cat("\nDifferences from ", names(diffs)[1L], " = ", format(x[[1L]][1L]), ":\n", sep = "")
    print_rounded(diffs, digits)
  }
  invisible(x)
}

print_rounded <- function(df, digits) {
  num <- vapply(df, is.double, logical(1)) & names(df) != "time"
  df[num] <- lapply(df[num], signif, digits)
  print(utils::head(df, 20L), row.names = FALSE)
  if (nrow(df) > 20L) cat("... ", nrow(df) - 20L, " more rows\n", sep = "")
}

#' @export
tidy.rwe_cox_marginal <- function(x, ...) {
  out <- as.data.frame(unclass(x))[names(x)]
  attributes(out) <- attributes(out)[c("names", "row.names", "class")]
  out
}

# ---- plots -------------------------------------------------------------------------------

#' Plot predicted or marginal Cox survival curves
#'
#' Step curves (one colour per curve) with an optional pointwise confidence band, drawn with
#' the pieces of [km_plot()]. Requires the suggested package ggplot2.
#'
#' @param x An `rwe_cox_curves` object ([survfit.rwe_cox()]) or an `rwe_cox_marginal` object
#'   ([cox_marginal_curve()]).
#' @param conf.band Draw the pointwise confidence band (the bootstrap band for marginal
#'   curves)?
#' @param xlab,ylab Axis titles.
#' @param breaks x-axis breaks; `NULL` chooses [pretty()] breaks from 0 to the largest time.
#' @param palette Optional vector of colours, one per curve (recycled).
#' @param title Optional plot title.
#' @param ... Must be empty.
#' @return A ggplot object.
#' @examples
#' if (requireNamespace("ggplot2", quietly = TRUE)) {
#'   fit <- cox_fit(survival::Surv(time, status) ~ age + sex, data = survival::lung)
#'   plot(survival::survfit(fit, newdata = data.frame(age = 65, sex = 1:2)), xlab = "Days")
#' }
#' @export
plot.rwe_cox_curves <- function(x, conf.band = TRUE, xlab = "Time", ylab = "Survival",
                                breaks = NULL, palette = NULL, title = NULL, ...) {
  check_dots_empty_bad(...)
  labels <- curve_labels(x$targets)
  cv <- x$curves
  curves <- data.frame(curve = factor(labels[cv$curve], levels = unique(labels)),
                       time = cv$time, surv = cv$surv, lower = cv$lower, upper = cv$upper)
  cox_curves_ggplot(curves, conf.band && x$conf.type != "none", xlab, ylab, breaks, palette,
                    title)
}

#' @rdname plot.rwe_cox_curves
#' @export
plot.rwe_cox_marginal <- function(x, conf.band = TRUE, xlab = "Time", ylab = "Survival",
                                  breaks = NULL, palette = NULL, title = NULL, ...) {
  by <- setdiff(names(x), c("time", "estimate", "std.error", "conf.low", "conf.high"))
  labels <- if (length(by)) paste0(by, "=", x[[by]]) else rep("Marginal", nrow(x))
  curves <- data.frame(curve = factor(labels, levels = unique(labels)), time = x$time,
                       surv = x$estimate, lower = x$conf.low, upper = x$conf.high)
  cox_curves_ggplot(curves, conf.band && attr(x, "bootstrap") > 0, xlab, ylab, breaks,
                    palette, title)
}

# "var=value, ..." per curve from the targets table (strata and covariates).
curve_labels <- function(targets) {
  cols <- setdiff(names(targets), "curve")
  if (!length(cols)) return(as.character(targets$curve))
  do.call(paste, c(lapply(cols, function(v) paste0(v, "=", format(targets[[v]], trim = TRUE))),
                   sep = ", "))
}

# Each curve starts at (0, 1); then km_plot()'s main panel without risk table or medians.
cox_curves_ggplot <- function(curves, conf.band, xlab, ylab, breaks, palette, title,
                              call = rlang::caller_env()) {
  rlang::check_installed("ggplot2", reason = "to plot survival curves.")
  curves <- curves[!is.na(curves$surv), , drop = FALSE]
  starts <- data.frame(curve = factor(levels(curves$curve), levels(curves$curve)), time = 0,
                       surv = 1, lower = 1, upper = 1)
  curves <- rbind(starts, curves[curves$time > 0, names(starts), drop = FALSE])
  curves <- curves[order(curves$curve, curves$time), , drop = FALSE]
  curves$n.censor <- 0
  breaks <- km_plot_breaks(breaks, curves$time, call)
  colours <- km_plot_palette(palette, nlevels(curves$curve), call)
  km_plot_main(NULL, curves, colours, breaks, conf.band, median_line = FALSE,
               censor_marks = FALSE, p_value = NULL, xlab = xlab, ylab = ylab, title = title,
               grouped = nlevels(curves$curve) > 1L) +
    ggplot2::labs(colour = NULL)
}
