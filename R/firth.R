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
  positive <- function(v, arg) {
    if (!is.numeric(v) || length(v) != 1L || !is.finite(v) || v <= 0) {
      cli::cli_abort("{.arg {arg}} must be a single positive number.",
                     class = "rwe_bad_input", call = rlang::caller_env(2))
    }
  }
  positive(eps, "eps")
  positive(gconv, "gconv")
  positive(iter.max, "iter.max")
  positive(max.step, "max.step")
  if (!is.numeric(max.halving) || length(max.halving) != 1L || !is.finite(max.halving) ||
        max.halving < 0) {
    cli::cli_abort("{.arg max.halving} must be a single number >= 0.", class = "rwe_bad_input")
  }
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
#' @param ties `"breslow"` (the method of `coxphf`) or `"efron"`.
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
#'   A fit or profile that does not converge gives a warning of class `rwe_convergence`.
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
  ties <- match.arg(ties)
  check_firth_scalars(conf.level, penalty, profile, call)
  prep <- firth_prepare(x, y, strata, weights, offset, scale = TRUE, call = call)
  which_idx <- firth_which(which, prep$names, call)
  crit <- stats::qchisq(conf.level, 1)
  raw <- firth_fit_cpp(prep$xt, prep$time, prep$status, prep$weights, prep$offset,
                       prep$strata, prep$start, prep$start_order, ties == "efron", penalty,
                       control, isTRUE(profile), which_idx - 1L, crit)
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
    cli::cli_warn(c("The penalised Cox fit did not converge in {res$iter} iteration{?s}.",
                    "i" = "Increase {.arg iter.max} in {.fn firth_control}."),
                  call = call, class = "rwe_convergence")
  }
  prof <- res$profile
  if (is.null(prof)) return(invisible())
  bad <- !(prof$conf.low.converged & prof$conf.high.converged & prof$test.converged)
  if (any(bad)) {
    cli::cli_warn(c("Profile penalised-likelihood intervals or tests did not converge for {.val {prof$term[bad]}}.",
                    "i" = "See the {.field *.converged} columns of {.field profile}."),
                  call = call, class = "rwe_convergence")
  }
  invisible()
}

check_firth_scalars <- function(conf.level, penalty, profile, call) {
  if (!is.numeric(conf.level) || length(conf.level) != 1L || !is.finite(conf.level) ||
        conf.level <= 0 || conf.level >= 1) {
    cli::cli_abort("{.arg conf.level} must be a single number between 0 and 1.",
                   call = call, class = "rwe_bad_input")
  }
  if (!is.numeric(penalty) || length(penalty) != 1L || !is.finite(penalty) || penalty < 0) {
    cli::cli_abort("{.arg penalty} must be a single number >= 0.", call = call,
                   class = "rwe_bad_input")
  }
  if (!is.logical(profile) || length(profile) != 1L || is.na(profile)) {
    cli::cli_abort("{.arg profile} must be TRUE or FALSE.", call = call, class = "rwe_bad_input")
  }
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
  parts <- firth_check_y(y, call)
  n <- length(parts$time)
  x <- firth_check_x(x, n, call)
  weights <- check_weights(weights, n, call = call)
  offset <- firth_check_offset(offset, n, call)
  strata <- firth_check_strata(strata, n, call)
  check_has_events(parts$status, weights, call = call)
  centre <- colMeans(x)
  sds <- if (scale) apply(x, 2L, stats::sd) else rep(1, ncol(x))
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

firth_check_y <- function(y, call) {
  if (!inherits(y, "Surv")) {
    cli::cli_abort("{.arg y} must be a {.fn survival::Surv} object, not {.obj_type_friendly {y}}.",
                   call = call, class = "rwe_bad_input")
  }
  type <- attr(y, "type")
  if (!type %in% c("right", "counting")) {
    cli::cli_abort(c("{.arg y} must be right-censored or counting-process survival data.",
                     "x" = "Got {.val {type}} censoring."), call = call, class = "rwe_bad_input")
  }
  bad <- which(rowSums(is.na(unclass(y))) > 0)
  if (length(bad)) abort_rows("y", "has missing values", bad, call)
  counting <- type == "counting"
  time <- as.double(y[, if (counting) 2L else 1L])
  start <- if (counting) as.double(y[, 1L]) else NULL
  status <- as.double(y[, ncol(y)])
  check_times(time, start, call = call)
  list(time = time, start = start, status = status)
}

firth_check_x <- function(x, n, call) {
  if (is.data.frame(x) || !(is.numeric(x) || is.logical(x))) {
    cli::cli_abort("{.arg x} must be a numeric matrix, not {.obj_type_friendly {x}}.",
                   call = call, class = "rwe_bad_input")
  }
  if (is.null(dim(x))) x <- matrix(x, ncol = 1L)
  if (nrow(x) != n) {
    cli::cli_abort("{.arg x} has {nrow(x)} rows, but {.arg y} has {n}.", call = call,
                   class = "rwe_bad_input")
  }
  if (ncol(x) == 0L) {
    cli::cli_abort("{.arg x} has no columns; there is nothing to estimate.", call = call,
                   class = "rwe_bad_input")
  }
  storage.mode(x) <- "double"
  bad <- which(rowSums(!is.finite(x)) > 0)
  if (length(bad)) abort_rows("x", "has missing or infinite values", bad, call)
  if (is.null(colnames(x))) colnames(x) <- paste0("x", seq_len(ncol(x)))
  x
}

firth_check_offset <- function(offset, n, call) {
  if (is.null(offset)) return(rep(0, n))
  if (!is.numeric(offset) || length(offset) != n) {
    cli::cli_abort("{.arg offset} must be numeric with one value per row ({n}).",
                   call = call, class = "rwe_bad_input")
  }
  bad <- which(!is.finite(offset))
  if (length(bad)) abort_rows("offset", "must be finite", bad, call)
  as.double(offset)
}

firth_check_strata <- function(strata, n, call) {
  if (is.null(strata)) return(rep(1L, n))
  if (length(strata) != n) {
    cli::cli_abort("{.arg strata} has length {length(strata)}, but the data have {n} rows.",
                   call = call, class = "rwe_bad_input")
  }
  bad <- which(is.na(strata))
  if (length(bad)) abort_rows("strata", "has missing values", bad, call)
  as.integer(factor(strata, exclude = NULL))
}

# Log partial likelihood, score, information, d information / d beta and their penalised
# versions at `beta` (user scale), without fitting: the oracle for numerical differentiation
# in the tests.
firth_eval_matrix <- function(x, y, beta, strata = NULL, weights = NULL, offset = NULL,
                              ties = c("breslow", "efron"), penalty = 0.5) {
  call <- rlang::current_env()
  ties <- match.arg(ties)
  prep <- firth_prepare(x, y, strata, weights, offset, scale = FALSE, call = call)
  firth_eval_cpp(prep$xt, prep$time, prep$status, prep$weights, prep$offset, prep$strata,
                 prep$start, prep$start_order, ties == "efron", as.double(beta), penalty)
}
