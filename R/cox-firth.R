# Firth-penalised Cox regression, matrix level (Heinze & Schemper 2002; Firth 1993).
# cox_fit(..., firth = TRUE) builds the model matrix and calls cox_firth_matrix(); the
# arithmetic is in src/firth.cpp.

#' Control settings for the Firth-penalised Cox fit
#'
#' Convergence settings of the Newton-Raphson iteration used by [cox_firth_matrix()], both for
#' the main fit and for every constrained fit inside the profile-likelihood intervals and
#' tests. The iteration runs on centred covariates scaled to unit standard deviation (as
#' `coxphf` does), so `eps` and `max.step` are on that scale.
#'
#' The defaults are tighter than those of [coxphf::coxphf()] (`epsilon = 1e-6`,
#' `gconv = 1e-4`, `maxit = 50`, `maxhs = 5`, `maxstep = 0.5`), so that estimates and
#' intervals are accurate well beyond their printed digits.
#'
#' @param eps Convergence when the largest absolute Newton step is at most `eps` ...
#' @param gconv ... and the largest absolute penalised score is at most `gconv`.
#' @param iter.max Maximum number of Newton-Raphson iterations per fit.
#' @param max.halving Maximum number of step halvings when the penalised log-likelihood
#'   decreases (after which the step is taken anyway, as `coxphf` does).
#' @param max.step Largest absolute change of any coefficient in one step; longer steps are
#'   shrunk proportionally.
#' @return A list with the five settings.
#' @examples
#' firth_control(iter.max = 200)
#' @export
firth_control <- function(eps = 1e-8, gconv = 1e-8, iter.max = 100L, max.halving = 25L,
                          max.step = 0.5) {
  check_tolerance(eps)
  check_tolerance(gconv)
  check_tolerance(iter.max)
  check_tolerance(max.step)
  check_number(max.halving, min = 0)
  list(eps = as.double(eps), gconv = as.double(gconv), iter.max = as.integer(iter.max),
       max.halving = as.integer(max.halving), max.step = as.double(max.step))
}

#' Firth-penalised Cox regression on a model matrix
#'
#' Maximises the penalised log partial likelihood
#' \eqn{l^*(\beta) = l(\beta) + \frac12 \log|I(\beta)|}{l*(b) = l(b) + 1/2 log det I(b)}
#' (Firth 1993; Heinze and Schemper 2002), which has a finite maximum even when the ordinary
#' Cox likelihood is monotone (a covariate level with no events, or only events). Intervals and
#' tests use the profile penalised likelihood, as `coxphf::coxphf()` does. With Breslow ties
#' and no strata or weights the results are those of `coxphf`; strata, case weights, offsets,
#' counting-process data and Efron ties are supported beyond it.
#'
#' @param x Numeric model matrix without intercept (a vector is one column).
#' @param y A [survival::Surv()] object, right-censored or counting-process
#'   (`Surv(start, stop, event)`), with `nrow(x)` rows.
#' @param strata Optional vector (one value per row) defining strata, each with its own
#'   baseline hazard.
#' @param weights Optional case weights (finite, >= 0).
#' @param offset Optional offset added to the linear predictor.
#' @param ties `"breslow"` (the default: the only method of `coxphf::coxphf()`, the reference
#'   for penalised fits, so that its numbers can be compared) or `"efron"` (the default of
#'   [cox_fit()], which passes its own `ties` when `firth = TRUE`).
#' @param control Settings from [firth_control()].
#' @param profile Compute profile penalised-likelihood intervals and tests?
#' @param conf.level Confidence level of the profile intervals.
#' @param which Coefficients (names or positions) to profile; `NULL` for all.
#' @param penalty Weight of \eqn{\log|I(\beta)|}{log det I}: 0.5 is Firth's penalty, 0 gives
#'   the ordinary (unpenalised) Cox fit.
#' @return A list:
#'   * `coefficients`: named penalised estimates.
#'   * `var`: inverse of the information \eqn{I(\hat\beta)}{I(b)} (of the unpenalised
#'     likelihood) at the penalised estimate, as `coxphf` reports it.
#'   * `loglik`: penalised log partial likelihood `c(init = , final = )` at 0 and at the
#'     estimate; `loglik_unpenalised`: the ordinary log partial likelihood at the same points;
#'     `logdet_info`: \eqn{\log|I|}{log det I} at the same points.
#'   * `score`: penalised score at the estimate (zero at convergence); `score_unpenalised`.
#'   * `iter`, `converged`.
#'   * `lr_test`: global penalised likelihood-ratio test, `statistic` =
#'     \eqn{2(l^*(\hat\beta) - l^*(0))}{2 (l*(b) - l*(0))}, `df` = number of coefficients,
#'     `p.value` (as `coxphf` prints it).
#'   * `profile` (when `profile = TRUE`): a data frame with one row per profiled coefficient:
#'     `term`, `estimate`, `conf.low`, `conf.high` (profile penalised-likelihood interval),
#'     `statistic` (penalised likelihood-ratio chi-square for \eqn{\beta_j = 0}{b_j = 0}, the
#'     other coefficients re-estimated), `p.value` (1 df), and the flags `conf.low.converged`,
#'     `conf.high.converged`, `test.converged` (`FALSE` means the number is unreliable; an
#'     interval end that could not be bracketed is `-Inf`/`Inf`).
#'   * `conf.level`, `penalty`, `ties`, `n`, `nevent` (number of event rows, unweighted),
#'     `control`.
#'
#'   A fit or profile that does not converge gives a warning of class `rwe_not_converged`.
#' @references Firth D (1993). Bias reduction of maximum likelihood estimates. Biometrika
#'   80:27-38. Heinze G, Schemper M (2001). A solution to the problem of monotone likelihood
#'   in Cox regression. Biometrics 57:114-119.
#' @keywords internal
#' @examples
#' lung <- stats::na.omit(survival::lung[, c("time", "status", "age", "sex", "ph.ecog")])
#' x <- as.matrix(lung[, c("age", "sex", "ph.ecog")])
#' fit <- cox_firth_matrix(x, survival::Surv(lung$time, lung$status))
#' fit$coefficients
#' fit$profile
#' @export
cox_firth_matrix <- function(x, y, strata = NULL, weights = NULL, offset = NULL,
                             ties = c("breslow", "efron"), control = firth_control(),
                             profile = TRUE, conf.level = 0.95, which = NULL, penalty = 0.5) {
  call <- rlang::current_env()
  ties <- match_choice(ties, c("breslow", "efron"))
  check_control(control, firth_control_fields, "firth_control", call = call)
  check_firth_scalars(conf.level, penalty, profile, call)
  prep <- firth_prepare(x, y, strata, weights, offset, scale = TRUE, call = call)
  which_idx <- firth_which(which, prep$names, call)
  crit <- stats::qchisq(conf.level, 1)
  # Weights far from 1 are divided by a power of two (weight_scale(), R/cox-fit.R); the same
  # maximiser needs the penalty and the profile criterion divided by it too (see
  # firth_unscale_weights()).
  wscale <- weight_scale(prep$weights)
  if (wscale != 1) prep$weights <- prep$weights / wscale
  raw <- firth_fit_cpp(prep$xt, prep$time, prep$status, prep$weights, prep$offset,
                       prep$strata, prep$start, prep$start_order, ties == "efron",
                       penalty / wscale, control, isTRUE(profile), which_idx - 1L,
                       crit / wscale)
  if (raw$ok && wscale != 1) raw <- firth_unscale_weights(raw, wscale, prep, penalty)
  if (!raw$ok) {
    cli::cli_abort(c("{.arg x}: the penalised Cox model cannot be fitted.",
                     "x" = "{raw$problem}; are some columns of {.arg x} collinear?"),
                   call = call, class = "rwe_bad_input")
  }
  res <- firth_unscale(raw, prep, penalty)
  lr <- 2 * (res$loglik[["final"]] - res$loglik[["init"]])
  df <- length(prep$names)
  res$lr_test <- list(statistic = lr, df = df,
                      p.value = stats::pchisq(lr, df, lower.tail = FALSE))
  if (isTRUE(profile)) res$profile <- firth_profile_table(raw$profile, res, prep, which_idx)
  firth_warn_convergence(res, call)
  c(res, list(conf.level = conf.level, penalty = penalty, ties = ties, n = prep$n,
              nevent = sum(prep$status), control = control))
}

# Non-convergence is reported (never silent); the numbers are still returned, flagged.
firth_warn_convergence <- function(res, call) {
  if (!res$converged) {
    warn_not_converged(c("The penalised Cox fit did not converge in {res$iter} iteration{?s}.",
                         "i" = "Increase {.arg iter.max} in {.fn firth_control}."),
                       class = "rwe_firth_not_converged", call = call)
  }
  prof <- res$profile
  if (is.null(prof)) return(invisible())
  bad <- !(prof$conf.low.converged & prof$conf.high.converged & prof$test.converged)
  if (any(bad)) {
    warn_not_converged(c("Profile penalised-likelihood intervals or tests did not converge for {.val {prof$term[bad]}}.",
                         "i" = "See the {.field *.converged} columns of {.field profile}."),
                       class = "rwe_firth_not_converged", call = call)
  }
  invisible()
}

check_firth_scalars <- function(conf.level, penalty, profile, call) {
  check_conf_level(conf.level, call = call)
  check_number(penalty, min = 0, call = call)
  check_flag(profile, call = call)
}

# The kernel ran with weights w / c and penalty / c: l(b) = c l'(b) - c log(c) D' (D' the
# kernel's event weight), log|I| = log|I'| + p log(c), so l* = c l*' - c log(c) D' +
# penalty p log(c); scores scale with c, the variance with 1 / c, profile chi-squares with c.
firth_unscale_weights <- function(raw, c, prep, penalty) {
  events <- sum(prep$weights[prep$status > 0])
  p <- length(prep$names)
  raw$pen_loglik <- c * raw$pen_loglik - c * log(c) * events + penalty * p * log(c)
  raw$loglik <- c * (raw$loglik - log(c) * events)
  raw$logdet <- raw$logdet + p * log(c)
  raw$pen_score <- raw$pen_score * c
  raw$score <- raw$score * c
  raw$var <- raw$var / c
  raw$info <- raw$info * c
  if (!is.null(raw$profile)) raw$profile$chisq <- raw$profile$chisq * c
  raw
}

# Back to the user's scale: the kernel worked on x_s = (x - mean) / sd, i.e. beta_s = beta * sd,
# I_s = D^-1 I D^-1 with D = diag(sd), so log|I| = log|I_s| + 2 sum(log sd).
firth_unscale <- function(raw, prep, penalty) {
  sd <- prep$scale
  nm <- prep$names
  shift <- 2 * sum(log(sd))
  named <- function(v) stats::setNames(as.vector(v), nm)
  var <- raw$var / outer(sd, sd)
  dimnames(var) <- list(nm, nm)
  two <- function(v) c(init = v[1L], final = v[2L])
  list(coefficients = named(raw$coefficients / sd), var = var,
       loglik = two(raw$pen_loglik + penalty * shift),
       loglik_unpenalised = two(raw$loglik), logdet_info = two(raw$logdet + shift),
       score = named(raw$pen_score * sd), score_unpenalised = named(raw$score * sd),
       iter = raw$iter, converged = raw$converged)
}

firth_profile_table <- function(prof, res, prep, which_idx) {
  sd <- prep$scale[which_idx]
  statistic <- pmax(prof$chisq, 0)
  data.frame(term = prep$names[which_idx],
             estimate = unname(res$coefficients[which_idx]),
             conf.low = prof$lower / sd, conf.high = prof$upper / sd,
             statistic = statistic,
             p.value = stats::pchisq(statistic, 1, lower.tail = FALSE),
             conf.low.converged = prof$lower_converged,
             conf.high.converged = prof$upper_converged,
             test.converged = prof$test_converged,
             stringsAsFactors = FALSE)
}

firth_which <- function(which, names, call) {
  p <- length(names)
  if (is.null(which)) return(seq_len(p))
  idx <- if (is.character(which)) match(which, names) else
    if (is.numeric(which) && all(which == round(which))) as.integer(which) else NA_integer_
  bad <- is.na(idx) | idx < 1L | idx > p
  if (!length(idx) || any(bad)) {
    cli::cli_abort(c("{.arg which} must name or number columns of {.arg x}.",
                     "x" = "Not found: {.val {format_offenders(which[bad])}}."),
                   call = call, class = "rwe_bad_input")
  }
  unique(idx)
}

# Validates the inputs, sorts the rows once (stratum, time, events first) and centres (and,
# with scale = TRUE, scales) the columns of x; returns what the kernel needs, x transposed so
# that each row's covariates are contiguous.
firth_prepare <- function(x, y, strata, weights, offset, scale, call) {
  parts <- check_surv_response(y, call)
  n <- length(parts$time)
  weights <- check_weights(weights, n, call = call)
  x <- check_covariate_matrix(x, n, weights, call)$x
  if (ncol(x) == 0L) {
    cli::cli_abort("{.arg x} has no columns; there is nothing to estimate.", call = call,
                   class = "rwe_bad_input")
  }
  offset <- check_matrix_offset(offset, n, call)
  strata <- check_matrix_strata(strata, n, call)$codes
  check_has_events(parts$status, weights, call = call)
  centre <- colMeans(x)
  sds <- if (scale) apply(x, 2L, scale_free_sd) else rep(1, ncol(x))
  if (scale && n > 1L) {
    const <- which(!(sds > 0))
    if (length(const)) {
      cli::cli_abort(c("{.arg x} has constant columns; their coefficients are not defined.",
                       "x" = "Constant: {.val {colnames(x)[const]}}."),
                     call = call, class = "rwe_bad_input")
    }
  }
  if (n == 1L) sds <- rep(1, ncol(x))
  ord <- engine_order(strata, parts$time, parts$status)
  xt <- t(x[ord, , drop = FALSE])
  xt <- (xt - centre) / sds
  start <- if (is.null(parts$start)) double() else parts$start[ord]
  s_strata <- strata[ord]
  start_order <- if (length(start)) order(s_strata, -start, method = "radix") - 1L else integer()
  list(xt = xt, time = parts$time[ord], status = parts$status[ord], weights = weights[ord],
       offset = offset[ord], strata = s_strata, start = start, start_order = start_order,
       scale = sds, names = colnames(x), n = n)
}

# sd() of a column of any magnitude: its squares would overflow (x * 1e160) or underflow
# (x * 1e-200), so the column is first divided by an exact power of two near its largest
# value and the sd multiplied back.
scale_free_sd <- function(col) {
  top <- max(abs(col))
  if (!is.finite(top) || top == 0) return(stats::sd(col))
  k <- 2^floor(log2(top))
  stats::sd(col / k) * k
}

# Log partial likelihood, score, information, d information / d beta and their penalised
# versions at `beta` (user scale), without fitting: the oracle for numerical differentiation
# in the tests.
firth_eval_matrix <- function(x, y, beta, strata = NULL, weights = NULL, offset = NULL,
                              ties = c("breslow", "efron"), penalty = 0.5) {
  call <- rlang::current_env()
  ties <- match_choice(ties, c("breslow", "efron"))
  prep <- firth_prepare(x, y, strata, weights, offset, scale = FALSE, call = call)
  firth_eval_cpp(prep$xt, prep$time, prep$status, prep$weights, prep$offset, prep$strata,
                 prep$start, prep$start_order, ties == "efron", as.double(beta), penalty)
}

# ---- cox_fit(..., firth = TRUE): the rwe_cox_firth result and its methods ------------------

# Called by cox_fit() once the design matrix is built: the penalised fit on exactly the rows,
# columns, strata, weights and offset of the ordinary fit.
cox_fit_firth <- function(design, parts, mf, ties, robust, control, call, env, keep_x,
                          init = NULL) {
  if (!is.null(init)) {
    cli::cli_abort("{.arg init} is not used by the Firth-penalised fit (it always starts at 0).",
                   call = env, class = "rwe_bad_input")
  }
  if (isTRUE(robust) || !is.null(parts$cluster)) {
    cli::cli_abort(c("{.arg firth} = TRUE cannot be combined with {.arg robust} or {.arg cluster}.",
                     "i" = "Firth intervals and tests come from the profile penalised likelihood, not from a (robust) variance."),
                   call = env, class = "rwe_bad_input")
  }
  is_firth_control <- is.list(control) && all(c("gconv", "max.halving") %in% names(control))
  fcontrol <- if (is_firth_control) control else firth_control()
  timefix <- if (is_firth_control) cox_control() else control
  fixed <- fix_near_ties(stats::model.response(mf), parts$time, parts$start, timefix)
  x <- design$x
  if (!ncol(x)) {
    cli::cli_abort("{.arg formula} has no covariates; there is nothing to penalise.",
                   call = env, class = "rwe_bad_input")
  }
  res <- cox_firth_matrix(x, fixed$y, strata = parts$strata, weights = parts$weights,
                          offset = parts$offset, ties = ties, control = fcontrol)
  new_rwe_cox_firth(res, x = x, y = fixed$y, keep_x = keep_x, parts = parts,
                    formula = eval(call$formula, env), call = call, xlevels = design$xlevels,
                    assign = design$assign)
}

#' Constructor of Firth-penalised Cox results
#'
#' Assembles the result of `cox_fit(..., firth = TRUE)` from [cox_firth_matrix()]'s output.
#' Not usually called directly.
#'
#' @param res The list returned by [cox_firth_matrix()] (with `profile = TRUE`).
#' @param x The model matrix (original row order).
#' @param y The [survival::Surv()] response.
#' @param keep_x Keep `x` in the result?
#' @param parts The `surv_parts()`-style list (strata, weights, offset, terms, na.action, ...).
#' @param formula,call,xlevels,assign Model description, as for [new_rwe_cox()].
#' @return An object of class `c("rwe_cox_firth", "rwe_cox")`: `coefficients`, `var`
#'   (inverse information at the penalised estimate), `loglik` (penalised, `init`/`final`),
#'   `loglik_unpenalised`, `profile` (per coefficient: profile penalised-likelihood interval
#'   `conf.low`/`conf.high` and penalised likelihood-ratio test `statistic`, `p.value`),
#'   `lr.test` (global penalised likelihood-ratio test, `c(statistic, df, p.value)`),
#'   `conf.level`, `n`, `nevent`, `iter`, `converged`, `diverged` (all `FALSE`), `method`,
#'   `linear.predictors`, `means`, `y`, `x`, `strata`, `weights`, `offset`, `terms`,
#'   `formula`, `call`, `na.action`, `xlevels`, `assign`, `firth_control`.
#' @examples
#' fit <- cox_fit(survival::Surv(time, status) ~ age + sex, data = survival::lung,
#'                ties = "breslow", firth = TRUE)
#' class(fit)
#' @export
new_rwe_cox_firth <- function(res, x, y, keep_x = TRUE, parts = list(), formula = NULL,
                              call = NULL, xlevels = NULL, assign = NULL) {
  coef <- res$coefficients
  means <- colMeans(x)
  lp <- drop(x %*% coef) - sum(means * coef) + if (is.null(parts$offset)) 0 else parts$offset
  lr <- res$lr_test
  fit <- list(
    coefficients = coef, var = res$var, loglik = res$loglik,
    loglik_unpenalised = res$loglik_unpenalised, profile = res$profile,
    lr.test = c(statistic = lr$statistic, df = lr$df, p.value = lr$p.value),
    conf.level = res$conf.level, n = res$n, nevent = res$nevent, iter = res$iter,
    converged = res$converged, diverged = stats::setNames(rep(FALSE, length(coef)), names(coef)),
    method = res$ties, linear.predictors = lp, means = means, y = y,
    x = if (keep_x) x else NULL, strata = parts$strata, strata_levels = parts$strata_levels,
    strata_vars = parts$strata_vars, strata_table = parts$strata_table,
    weights = parts$weights, offset = parts$offset, terms = parts$terms, formula = formula,
    call = call, na.action = parts$na.action, xlevels = xlevels, assign = assign,
    firth_control = res$control, robust = FALSE, naive.var = NULL, concordance = NULL
  )
  structure(fit, class = c("rwe_cox_firth", "rwe_cox"))
}

# Coefficient table of the penalised fit: SE from the variance, chi-square and p from the
# profile penalised likelihood.
firth_coef_table <- function(object) {
  prof <- object$profile
  coef <- object$coefficients
  cbind(coef = coef, `exp(coef)` = exp(coef), `se(coef)` = sqrt(diag(object$var)),
        `lower` = exp(prof$conf.low), `upper` = exp(prof$conf.high),
        Chisq = prof$statistic, p = prof$p.value)
}

#' @export
print.rwe_cox_firth <- function(x, digits = max(1L, getOption("digits") - 3L), ...) {
  check_dots_empty_bad(...)
  if (!is.null(x$call)) cat("Call:\n", paste(deparse(x$call), collapse = "\n"), "\n\n", sep = "")
  cat("Cox model (", x$method, " ties), Firth-penalised; CIs and p-values by profile ",
      "penalised likelihood\n\n", sep = "")
  tab <- firth_coef_table(x)
  level <- format(100 * x$conf.level, digits = 3)
  colnames(tab)[4:5] <- paste0(c("lower ", "upper "), level, "%")
  stats::printCoefmat(tab, digits = digits, P.values = TRUE, has.Pvalue = TRUE,
                      signif.stars = FALSE, na.print = "NA")
  lr <- x$lr.test
  cat("\nPenalised likelihood ratio test=", format(round(lr[["statistic"]], 2)), " on ",
      lr[["df"]], " df, p=", format.pval(lr[["p.value"]], digits = digits), "\n", sep = "")
  cat("n= ", x$n, ", number of events= ", x$nevent, "\n", sep = "")
  if (length(x$na.action)) cat("   (", stats::naprint(x$na.action), ")\n", sep = "")
  if (!x$converged) cat("Did not converge in ", x$iter, " iterations.\n", sep = "")
  invisible(x)
}

#' @export
summary.rwe_cox_firth <- function(object, ...) {
  check_dots_empty_bad(...)
  structure(list(fit = object, coefficients = firth_coef_table(object)),
            class = "summary.rwe_cox_firth")
}

#' @export
print.summary.rwe_cox_firth <- function(x, digits = max(1L, getOption("digits") - 3L), ...) {
  check_dots_empty_bad(...)
  print.rwe_cox_firth(x$fit, digits = digits)
  fit <- x$fit
  cat("Penalised log-likelihood (init, final): ", paste(format(fit$loglik), collapse = ", "),
      "\nIterations: ", fit$iter, "\n", sep = "")
  invisible(x)
}

#' @export
confint.rwe_cox_firth <- function(object, parm, level = object$conf.level, ...) {
  check_dots_empty_bad(...)
  check_firth_level(object, level)
  out <- cbind(object$profile$conf.low, object$profile$conf.high)
  pct <- paste(format(100 * c((1 - level) / 2, 1 - (1 - level) / 2), trim = TRUE,
                      scientific = FALSE, digits = 3), "%")
  dimnames(out) <- list(names(object$coefficients), pct)
  if (missing(parm)) out else out[parm, , drop = FALSE]
}

#' Tidy a Firth-penalised Cox fit
#'
#' @param x An `rwe_cox_firth` fit from `cox_fit(..., firth = TRUE)`.
#' @param exponentiate If `TRUE`, report hazard ratios (estimate and interval exponentiated).
#' @param conf.int If `TRUE` (default), include the profile interval.
#' @param conf.level Must be the level the profile intervals were computed at (default).
#' @param ... Must be empty.
#' @return A data frame: `term`, `estimate`, `std.error` (from the inverse information),
#'   `statistic` (penalised likelihood-ratio chi-square, 1 df), `p.value`, `conf.low`,
#'   `conf.high` (profile penalised-likelihood interval).
#' @examples
#' fit <- cox_fit(survival::Surv(time, status) ~ age + sex, data = survival::lung,
#'                ties = "breslow", firth = TRUE)
#' generics::tidy(fit, exponentiate = TRUE)
#' @export
tidy.rwe_cox_firth <- function(x, exponentiate = FALSE, conf.int = TRUE,
                               conf.level = x$conf.level, ...) {
  check_dots_empty_bad(...)
  check_firth_level(x, conf.level, "conf.level")
  prof <- x$profile
  out <- data.frame(term = names(x$coefficients), estimate = unname(x$coefficients),
                    std.error = unname(sqrt(diag(x$var))), statistic = prof$statistic,
                    p.value = prof$p.value, conf.low = prof$conf.low,
                    conf.high = prof$conf.high, stringsAsFactors = FALSE)
  if (exponentiate) out[c("estimate", "conf.low", "conf.high")] <-
    exp(out[c("estimate", "conf.low", "conf.high")])
  if (!isTRUE(conf.int)) out[c("conf.low", "conf.high")] <- NULL
  out
}

# Profile intervals exist at one level only (computed with the fit): another is an error.
check_firth_level <- function(object, level, arg = "level", call = rlang::caller_env()) {
  if (!isTRUE(all.equal(level, object$conf.level))) {
    cli::cli_abort(c("{.arg {arg}} must be the level the profile intervals were computed at ({object$conf.level}).",
                     "i" = "Refit with {.fn cox_firth_matrix} and {.arg conf.level} = {level}."),
                   call = call, class = "rwe_bad_input")
  }
}

#' Glance at a Firth-penalised Cox fit
#'
#' @param x An `rwe_cox_firth` fit.
#' @param ... Must be empty.
#' @return A one-row data frame: `n`, `nevent`, `statistic.log`, `df.log`, `p.value.log`
#'   (global penalised likelihood-ratio test), `logLik` (penalised), `iter`, `converged`.
#' @examples
#' generics::glance(cox_fit(survival::Surv(time, status) ~ age + sex, data = survival::lung,
#'                          ties = "breslow", firth = TRUE))
#' @export
glance.rwe_cox_firth <- function(x, ...) {
  check_dots_empty_bad(...)
  data.frame(n = x$n, nevent = x$nevent, statistic.log = x$lr.test[["statistic"]],
             df.log = x$lr.test[["df"]], p.value.log = x$lr.test[["p.value"]],
             logLik = x$loglik[["final"]], iter = x$iter, converged = x$converged)
}
