#' rwecohort: real-world oncology cohort studies with fast exact survival engines
#'
#' Cohort-level verbs for retrospective oncology studies, backed by C++ engines for the
#' Cox model, Kaplan-Meier estimator and log-rank test that agree with the `survival`
#' package to numerical precision.
#'
#' @section Conditions:
#' Every error and warning the package raises has a class, so that code (and tests) can
#' catch it with `tryCatch(..., rwe_bad_input = )` or `expect_error(..., class = )`:
#'
#' * `rwe_bad_input` (error): an argument or data value the verbs refuse, named in the
#'   message with the offending rows or values; raised by the validator family
#'   `check_*(x, arg, call)` and by every refusal of something `survival` would do
#'   differently. Subclasses: `rwe_not_available` (a method not defined for a fit, e.g.
#'   residuals of a partitioned Cox fit), `rwe_min_cell` (a partition with fewer subjects at
#'   risk than `min_cell`).
#' * `rwe_worker_error` (error): a multi-site worker failed; `rwe_worker_timeout` (also an
#'   `rwe_worker_error`) when it did not answer within `timeout`; `rwe_site_failure` marks
#'   an error raised at a site and passed on by the coordinator.
#' * `rwe_internal_error` (error): an invariant of a result constructor failed (a bug; please
#'   report it).
#' * `rwe_not_converged` (warning): an iterative fit ran out of iterations; the result is
#'   returned as is. Subclasses name the engine: `rwe_cox_not_converged` ([cox_fit()],
#'   [cox_fit_matrix()], [partitioned_cox_fit()]), `rwe_firth_not_converged` (Firth fits and
#'   their profile intervals), `rwe_bootstrap_not_converged` ([cox_bootstrap()]).
#' * `rwe_deprecated` (warning): a deprecated argument, such as a numeric `conf.int` where
#'   the confidence level is now `conf.level`.
#' * Other warnings, each of its own class: `rwe_cox_diverged` (a coefficient may be
#'   infinite), `rwe_cox_singular` (coefficients aliased), `rwe_cox_scale` (a variance
#'   outside the double range), `rwe_cox_cluster_ignored`, `rwe_cox_curve_at_means`,
#'   `rwe_control_tolerance` ([cox_control()]),
#'   `rwe_ipd_unreliable`, `rwe_ipd_inconsistent`.
#'
#' @keywords internal
#' @useDynLib rwecohort, .registration = TRUE
#' @importFrom Rcpp sourceCpp
#' @importFrom generics tidy glance
#' @importFrom survival Surv strata cluster
#' @importFrom rlang %||%
#' @importFrom stats coef confint logLik nobs predict quantile residuals vcov
"_PACKAGE"
