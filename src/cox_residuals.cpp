// cox_residuals.cpp -- post-fit kernel of the Cox engine: hazard increments at each distinct
// event time (Breslow or Efron), martingale residuals, score residuals and the event-time means
// that Schoenfeld residuals subtract.
//
// Contract (the R caller, R/cox-residuals.R, guarantees all of it; nothing is re-checked here):
//  * n rows. stop, status, weights, risk: double vectors of length n, finite, no NA;
//    status is 0 or 1; weights >= 0; risk = exp(linear predictor) > 0.
//  * start: double vector of length n with start < stop (counting process data), or length 0
//    for right-censored data (every row is then at risk from time -infinity).
//  * strata: integer codes, length n (any integers; only equality and order matter).
//  * x: n x p double matrix (p may be 0) in original row order; it is mapped, never copied.
//  * ord_stop: 0-based permutation sorting rows by stratum, stop ascending, events before
//    censorings at equal stop times. ord_start: 0-based permutation sorting rows by stratum,
//    start ascending (length 0 for right-censored data).
//  * efron: true for Efron's handling of tied event times, false for Breslow's.
// Risk set at an event time t of stratum s: the rows of s with start < t <= stop.
// Work: O(n p + m p) for m distinct (stratum, event time) pairs; memory O(m p) besides the
// n x p score output. No n x n structure; inside the loops, R's API only to poll for Ctrl-C
// every rwe::kPollEvery rows (interrupt.h), on the calling thread.
//
// Layout follows the multi-site design of the engines: (a) per-event-time sums
// (S0, S1, deaths, weighted deaths, D0, D1), (b) a pure function turning those sums into
// hazard increments and mean vectors, (c) per-row assembly of the residuals from cumulative
// sums of (b) over each row's window of event times.

#include <RcppEigen.h>
#include "interrupt.h"
#include <vector>
#include "types.h"

// [[Rcpp::depends(RcppEigen)]]

namespace {

using idx_t = Index;  // the package's one index type (types.h)

// Distinct (stratum, event time) pairs in ascending order.
struct EventGrid {
  std::vector<double> time;
  std::vector<int> stratum;
  idx_t size() const { return static_cast<idx_t>(time.size()); }
};

EventGrid build_event_grid(const Eigen::Map<Eigen::VectorXd>& stop,
                           const Eigen::Map<Eigen::VectorXd>& status,
                           const Rcpp::IntegerVector& strata,
                           const Rcpp::IntegerVector& ord_stop) {
  EventGrid grid;
  const idx_t n = ord_stop.size();
  for (idx_t k = 0; k < n; ++k) {
    rwe::poll_at(k);
    const idx_t i = ord_stop[k];
    if (status[i] <= 0) continue;
    const idx_t m = grid.size();
    if (m == 0 || grid.stratum[m - 1] != strata[i] || grid.time[m - 1] != stop[i]) {
      grid.time.push_back(stop[i]);
      grid.stratum.push_back(strata[i]);
    }
  }
  return grid;
}

// For each row (visited in `ord`, sorted by stratum then `t`), the position of the last event
// time of its stratum that is <= t, or -1 when there is none.
std::vector<int> locate_on_grid(const EventGrid& grid, const double* t,
                                const Rcpp::IntegerVector& strata,
                                const Rcpp::IntegerVector& ord, idx_t n) {
  std::vector<int> pos(n, -1);
  const idx_t m = grid.size();
  idx_t p = 0;
  for (idx_t k = 0; k < static_cast<idx_t>(ord.size()); ++k) {
    rwe::poll_at(k);
    const idx_t i = ord[k];
    const int s = strata[i];
    while (p < m && (grid.stratum[p] < s || (grid.stratum[p] == s && grid.time[p] <= t[i]))) ++p;
    pos[i] = (p > 0 && grid.stratum[p - 1] == s) ? static_cast<int>(p - 1) : -1;
  }
  return pos;
}

// (a) Per-event-time sums: S0 = sum w r and S1 = sum w r x over the risk set, and over the
// deaths: count, sum w, D0 = sum w r, D1 = sum w r x. Each row adds its contribution at its
// last event time and removes it just below its window; a suffix sum per stratum then gives
// the risk-set totals (rows whose window holds no event time are skipped).
struct EventSums {
  Eigen::VectorXd s0, d0, wdeath;
  Eigen::MatrixXd s1, d1;  // p x m: one column per event time
  std::vector<int> ndeath;
};

EventSums event_time_sums(const EventGrid& grid, const std::vector<int>& at_stop,
                          const std::vector<int>& at_start,
                          const Eigen::Map<Eigen::VectorXd>& status,
                          const Eigen::Map<Eigen::VectorXd>& weights,
                          const Eigen::Map<Eigen::VectorXd>& risk,
                          const Eigen::Map<Eigen::MatrixXd>& x) {
  const idx_t m = grid.size(), p = x.cols(), n = x.rows();
  EventSums es;
  es.s0 = Eigen::VectorXd::Zero(m);
  es.d0 = Eigen::VectorXd::Zero(m);
  es.wdeath = Eigen::VectorXd::Zero(m);
  es.s1 = Eigen::MatrixXd::Zero(p, m);
  es.d1 = Eigen::MatrixXd::Zero(p, m);
  es.ndeath.assign(m, 0);
  for (idx_t i = 0; i < n; ++i) {
    rwe::poll_at(i);
    const int b = at_stop[i], a = at_start[i];
    if (b < 0 || a == b) continue;
    const double c = weights[i] * risk[i];
    es.s0[b] += c;
    es.s1.col(b) += c * x.row(i).transpose();
    if (a >= 0) {
      es.s0[a] -= c;
      es.s1.col(a) -= c * x.row(i).transpose();
    }
    if (status[i] > 0) {
      // a zero-weight death is no tied death for Efron, as in the fit kernel (src/cox.cpp):
      // the fit and its residuals then equal those without that row
      if (weights[i] > 0) es.ndeath[b] += 1;
      es.wdeath[b] += weights[i];
      es.d0[b] += c;
      es.d1.col(b) += c * x.row(i).transpose();
    }
  }
  for (idx_t j = m - 2; j >= 0; --j) {
    if (grid.stratum[j] != grid.stratum[j + 1]) continue;
    es.s0[j] += es.s0[j + 1];
    es.s1.col(j) += es.s1.col(j + 1);
  }
  return es;
}

// (b) From the sums at one event time to the hazard increment seen by a row at risk that does
// not die there (haz), the one seen by a row that dies there (haz_death), the matching
// hazard-weighted means (xhaz = sum_k xbar_k inc_k, xhaz_death) and the mean that the
// Schoenfeld residual of a death subtracts (xbar). Efron: the k-th of d tied deaths sees the
// denominator S0 - (k/d) D0 and each death is at risk with weight 1 - k/d.
struct Increments {
  Eigen::VectorXd haz, haz_death;
  Eigen::MatrixXd xhaz, xhaz_death, xbar;  // p x m
};

Increments hazard_increments(const EventSums& es, bool efron) {
  const idx_t m = es.s0.size(), p = es.s1.rows();
  Increments inc;
  inc.haz = Eigen::VectorXd::Zero(m);
  inc.haz_death = Eigen::VectorXd::Zero(m);
  inc.xhaz = Eigen::MatrixXd::Zero(p, m);
  inc.xhaz_death = Eigen::MatrixXd::Zero(p, m);
  inc.xbar = Eigen::MatrixXd::Zero(p, m);
  Eigen::VectorXd xk(p);
  for (idx_t j = 0; j < m; ++j) {
    const int d = es.ndeath[j];
    if (!efron || d <= 1) {
      const double h = es.wdeath[j] / es.s0[j];
      inc.xbar.col(j) = es.s1.col(j) / es.s0[j];
      inc.haz[j] = inc.haz_death[j] = h;
      inc.xhaz.col(j) = inc.xhaz_death.col(j) = inc.xbar.col(j) * h;
      continue;
    }
    const double share = es.wdeath[j] / d;
    for (int k = 0; k < d; ++k) {
      const double frac = static_cast<double>(k) / d;
      const double denom = es.s0[j] - frac * es.d0[j];
      const double h = share / denom;
      xk = (es.s1.col(j) - frac * es.d1.col(j)) / denom;
      inc.haz[j] += h;
      inc.haz_death[j] += (1.0 - frac) * h;
      inc.xhaz.col(j) += h * xk;
      inc.xhaz_death.col(j) += ((1.0 - frac) * h) * xk;
      inc.xbar.col(j) += xk / d;
    }
  }
  return inc;
}

}  // namespace

// [[Rcpp::export]]
Rcpp::List cox_residuals_cpp(const Eigen::Map<Eigen::VectorXd> stop,
                             const Eigen::Map<Eigen::VectorXd> start,
                             const Eigen::Map<Eigen::VectorXd> status,
                             const Rcpp::IntegerVector strata,
                             const Eigen::Map<Eigen::VectorXd> weights,
                             const Eigen::Map<Eigen::VectorXd> risk,
                             const Eigen::Map<Eigen::MatrixXd> x,
                             const Rcpp::IntegerVector ord_stop,
                             const Rcpp::IntegerVector ord_start,
                             bool efron, bool want_score) {
  const idx_t n = stop.size(), p = x.cols();
  const bool counting = start.size() > 0;
  const EventGrid grid = build_event_grid(stop, status, strata, ord_stop);
  const idx_t m = grid.size();
  const std::vector<int> at_stop = locate_on_grid(grid, stop.data(), strata, ord_stop, n);
  const std::vector<int> at_start = counting
    ? locate_on_grid(grid, start.data(), strata, ord_start, n) : std::vector<int>(n, -1);
  Rcpp::checkUserInterrupt();
  const EventSums es = event_time_sums(grid, at_stop, at_start, status, weights, risk, x);
  const Increments inc = hazard_increments(es, efron);
  Rcpp::checkUserInterrupt();

  // (c) Cumulative hazard and cumulative hazard-weighted means within each stratum.
  Eigen::VectorXd cumhaz = inc.haz;
  Eigen::MatrixXd cumxhaz = inc.xhaz;
  for (idx_t j = 1; j < m; ++j) {
    if (grid.stratum[j] != grid.stratum[j - 1]) continue;
    cumhaz[j] += cumhaz[j - 1];
    cumxhaz.col(j) += cumxhaz.col(j - 1);
  }
  Rcpp::NumericVector martingale(n);
  Rcpp::NumericMatrix score(want_score ? n : 0, want_score ? p : 0);
  Eigen::VectorXd xh(p);
  for (idx_t i = 0; i < n; ++i) {
    rwe::poll_at(i);
    const int b = at_stop[i], a = at_start[i];
    const bool death = status[i] > 0;
    if (b < 0 || a == b) {
      martingale[i] = status[i];
      continue;
    }
    double h = cumhaz[b] - (a >= 0 ? cumhaz[a] : 0.0);
    if (death) h += inc.haz_death[b] - inc.haz[b];
    martingale[i] = status[i] - risk[i] * h;
    if (!want_score) continue;
    xh = cumxhaz.col(b);
    if (a >= 0) xh -= cumxhaz.col(a);
    if (death) xh += inc.xhaz_death.col(b) - inc.xhaz.col(b);
    for (idx_t v = 0; v < p; ++v) {
      double u = -risk[i] * (x(i, v) * h - xh[v]);
      if (death) u += x(i, v) - inc.xbar(v, b);
      score(i, v) = u;
    }
  }
  Rcpp::IntegerVector event_index(n);
  for (idx_t i = 0; i < n; ++i) event_index[i] = at_stop[i] + 1;
  Rcpp::NumericMatrix xbar(m, p);
  for (idx_t j = 0; j < m; ++j)
    for (idx_t v = 0; v < p; ++v) xbar(j, v) = inc.xbar(v, j);
  return Rcpp::List::create(
    Rcpp::Named("martingale") = martingale,
    Rcpp::Named("score") = score,
    Rcpp::Named("event_index") = event_index,
    Rcpp::Named("time") = Rcpp::wrap(grid.time),
    Rcpp::Named("stratum") = Rcpp::wrap(grid.stratum),
    Rcpp::Named("n_event") = Rcpp::wrap(es.ndeath),
    Rcpp::Named("hazard") = Rcpp::wrap(inc.haz),
    Rcpp::Named("xbar") = xbar);
}
