// Summaries of one Kaplan-Meier step curve: the product-limit step, the median by survival's
// rule and the restricted mean (area up to tau) with its variance. The one implementation,
// used by km.cpp (km_fit()'s curves; km_median(), km_rmean() and the Cox-curve medians call
// the exports below) and by resample.cpp (every bootstrap replicate of km_bootstrap()).
//
// Contract (the callers guarantee it): times ascending; `y` may hold NaN (a confidence limit
// that is not estimable), which is skipped; n_risk >= n_event >= 0.
#ifndef RWECOHORT_KM_SUMMARY_H
#define RWECOHORT_KM_SUMMARY_H

#include "types.h"
#include <cmath>
#include <limits>

namespace kmsummary {

// survfit's tolerance for "the curve is at 0.5": sqrt(double epsilon).
constexpr double kHalfTol = 1.4901161193847656e-08;

// One product-limit step: S(t) = S(t-) (n - d) / n. A time with nobody at risk, or no event,
// leaves the curve unchanged; everyone at risk having the event drops it to 0.
inline double km_step(double surv, double n_risk, double n_event) {
  return (n_event > 0.0 && n_risk > 0.0) ? surv * ((n_risk - n_event) / n_risk) : surv;
}

// survival's rule for the printed median (and its limits, applied to the limit curves): the
// first time the curve is below 0.5; if it sits exactly at 0.5 (within kHalfTol), the
// midpoint between that time and the next time it is lower. NaN (R's NA) when never reached.
template <class Time, class Y>
double first_below_half(const Time& time, const Y& y, Index n) {
  Index first = -1;
  for (Index i = 0; i < n && first < 0; ++i) {
    if (!std::isnan(y[i]) && y[i] < 0.5 + kHalfTol) first = i;
  }
  if (first < 0) return std::numeric_limits<double>::quiet_NaN();
  if (std::fabs(y[first] - 0.5) < kHalfTol) {
    for (Index j = first + 1; j < n; ++j) {
      if (!std::isnan(y[j]) && y[j] < y[first]) return (time[first] + time[j]) / 2;
    }
  }
  return time[first];
}

struct Area {
  double rmean, se;
};

// Area under the step curve from 0 to tau and its standard error from the Greenwood-type
// variance sum_j A_j^2 d_j / (n_j (n_j - d_j)), A_j the area from the j-th time to tau (terms
// with n_j = d_j, where the area after is 0, add 0 * A_j^2): survival's rmean. The times are
// divided by a power of two near tau (exact), so the variance, a squared area, neither
// overflows nor underflows for times at 1e+-160: the result is the exactly rescaled one. With
// `with_se` false n_risk / n_event are not read and se is 0.
template <class Time, class Surv, class Risk, class Event>
Area km_area(const Time& time, const Surv& surv, const Risk& n_risk, const Event& n_event,
             Index n, double tau, bool with_se) {
  const double scale = (tau > 0 && std::isfinite(tau)) ? std::ldexp(1.0, std::ilogb(tau)) : 1.0;
  const double end = tau / scale;
  Index m = 0;  // the times <= tau (ascending, so a prefix)
  while (m < n && time[m] <= tau) ++m;
  double rmean = 0.0, prev_t = 0.0, prev_s = 1.0;
  for (Index j = 0; j < m; ++j) {
    const double t = time[j] / scale;
    rmean += (t - prev_t) * prev_s;
    prev_t = t;
    prev_s = surv[j];
  }
  rmean += (end - prev_t) * prev_s;
  Area out{rmean * scale, 0.0};
  if (!with_se) return out;
  double var = 0.0;
  double after = (end - prev_t) * prev_s;  // area from time j to tau, j walking back
  for (Index j = m - 1; j >= 0; --j) {
    // hh = 0 where everyone left has the event; the term is still added, as survival does
    const double left = n_risk[j] - n_event[j];
    const double hh = left == 0.0 ? 0.0 : n_event[j] / (n_risk[j] * left);
    var += after * after * hh;
    if (j > 0) after += (time[j] / scale - time[j - 1] / scale) * surv[j - 1];
  }
  out.se = std::sqrt(var) * scale;
  return out;
}

}  // namespace kmsummary

#endif
