#' rwecohort: real-world oncology cohort studies with fast exact survival engines
#'
#' Cohort-level verbs for retrospective oncology studies, backed by C++ engines for the
#' Cox model, Kaplan-Meier estimator and log-rank test that agree with the `survival`
#' package to numerical precision.
#'
#' @keywords internal
#' @useDynLib rwecohort, .registration = TRUE
#' @importFrom Rcpp sourceCpp
#' @importFrom generics tidy glance
#' @importFrom survival Surv strata cluster
#' @importFrom stats coef confint logLik nobs predict quantile residuals vcov
"_PACKAGE"
