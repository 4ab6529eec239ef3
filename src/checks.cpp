// Validation helpers for R/checks.R: single passes over long vectors that answer "is every
// value acceptable?" without allocating. When the answer is no, the R code finds and reports
// the offending rows (the slow path runs only on bad input).
#include <Rcpp.h>
// [[Rcpp::depends(RcppEigen)]]
#include <RcppEigen.h>

#include <cmath>
#include <cstddef>

// TRUE if any value of a double vector is NA or NaN. Attributes (a Surv or matrix class) are
// ignored: anyNA() on a classed object would call its is.na() method, which allocates.
// [[Rcpp::export]]
bool any_na_double_cpp(const Eigen::Map<Eigen::VectorXd> x) {
  const std::ptrdiff_t n = x.size();
  bool any = false;
  for (std::ptrdiff_t k = 0; k < n; ++k) any |= std::isnan(x[k]);
  return any;
}

// TRUE if the survival times pass every check of check_times(): stop times finite and >= 0;
// start times (if `start` has length > 0) finite, >= 0 and below their stop time.
// [[Rcpp::export]]
bool times_valid_cpp(const Eigen::Map<Eigen::VectorXd> time,
                     const Eigen::Map<Eigen::VectorXd> start) {
  const std::ptrdiff_t n = time.size();
  bool ok = true;
  for (std::ptrdiff_t k = 0; k < n; ++k) ok &= std::isfinite(time[k]) && time[k] >= 0.0;
  if (start.size() > 0) {
    for (std::ptrdiff_t k = 0; k < n; ++k) {
      ok &= std::isfinite(start[k]) && start[k] >= 0.0 && start[k] < time[k];
    }
  }
  return ok;
}
