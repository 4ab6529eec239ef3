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
#include "ties.h"
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
// Schoenfeld residual of a death subtracts (xbar). The tie handling is the fit's
// (rwe::TieStages, ties.h): Efron's k-th of d tied deaths sees the denominator S0 - (k/d) D0
// and each death is at risk with weight 1 - k/d.
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
  for (idx_t j = 0; j < m; ++j) {
    const auto s1 = es.s1.col(j);
    const auto d1 = es.d1.col(j);
    const rwe::TieStages ties = rwe::tie_stages(es.s0[j], es.d0[j], es.ndeath[j], es.wdeath[j], efron);
    inc.haz[j] = ties.hazard();
    inc.haz_death[j] = ties.hazard_death();
    auto xhaz = inc.xhaz.col(j);
    auto xhaz_death = inc.xhaz_death.col(j);
    auto xbar = inc.xbar.col(j);
    ties.set_hazard_mean(xhaz, s1, d1);
    ties.set_hazard_mean_death(xhaz_death, s1, d1);
    ties.set_mean(xbar, s1, d1);
  }
  return inc;
}

}  // namespace

// [[Rcpp::export(rng = false)]]
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

namespace {

// Row t of a K x p^2 table read as the column-major p x p matrix it holds.
struct RowAsMatrix {
  const Eigen::Map<Eigen::MatrixXd>& table;
  idx_t t, p;
  double operator()(idx_t j, idx_t k) const { return table(t, k * p + j); }
};

}  // namespace

// The tie passes of every event time as a table (one row per event time), for the R code that
// builds its own risk-set sums: the baseline hazard of the survival curves (R/cox-curves.R)
// and the proportional-hazards test (R/cox-ph.R). Per event time: s0, d0, the rows of s1, d1
// (K x p), the number of positive-weight deaths and their weight sum; s2, d2 (K x p^2, each
// row a column-major p x p matrix) or 0 columns. Returns the hazard increment and its
// variance term (sum of squared increments), the stage mean of x (K x p), the hazard-weighted
// mean sum_k h_k a_k (K x p) and, with s2, the information w sum_k V_k (K x p^2). A time
// without positive-weight deaths contributes zeros (its mean is S1 / S0).
// [[Rcpp::export(rng = false)]]
Rcpp::List cox_tie_table_cpp(const Eigen::Map<Eigen::VectorXd> s0, const Eigen::Map<Eigen::VectorXd> d0,
                             const Eigen::Map<Eigen::MatrixXd> s1, const Eigen::Map<Eigen::MatrixXd> d1,
                             const Eigen::Map<Eigen::VectorXd> ndeath,
                             const Eigen::Map<Eigen::VectorXd> dead_weight, bool efron,
                             const Eigen::Map<Eigen::MatrixXd> s2, const Eigen::Map<Eigen::MatrixXd> d2) {
  const idx_t k = s0.size(), p = s1.cols();
  const bool second = s2.cols() > 0;
  if (d0.size() != k || s1.rows() != k || d1.rows() != k || d1.cols() != p ||
      ndeath.size() != k || dead_weight.size() != k ||
      (second && (s2.rows() != k || s2.cols() != p * p || d2.rows() != k || d2.cols() != p * p))) {
    Rcpp::stop("event-time sums must have one row per event time and matching columns");
  }
  Eigen::VectorXd hazard = Eigen::VectorXd::Zero(k), hazard_var = Eigen::VectorXd::Zero(k);
  Eigen::MatrixXd mean(k, p), hazard_mean = Eigen::MatrixXd::Zero(k, p);
  Eigen::MatrixXd info = Eigen::MatrixXd::Zero(second ? k : 0, second ? p * p : 0);
  Eigen::MatrixXd v(p, p);
  for (idx_t t = 0; t < k; ++t) {
    rwe::poll_at(t);
    const auto s1t = s1.row(t);
    const auto d1t = d1.row(t);
    if (!(ndeath[t] > 0)) {
      mean.row(t) = s1t / s0[t];
      continue;
    }
    const rwe::TieStages ties = rwe::tie_stages(s0[t], d0[t], ndeath[t], dead_weight[t], efron);
    hazard[t] = ties.hazard();
    hazard_var[t] = ties.hazard_var();
    auto mean_t = mean.row(t);
    auto hazard_mean_t = hazard_mean.row(t);
    ties.set_mean(mean_t, s1t, d1t);
    ties.set_hazard_mean(hazard_mean_t, s1t, d1t);
    if (!second) continue;
    v.setZero();
    ties.add_information(v, s0[t], d0[t], s1t, d1t, RowAsMatrix{s2, t, p}, RowAsMatrix{d2, t, p});
    v.triangularView<Eigen::StrictlyUpper>() = v.transpose();
    info.row(t) = Eigen::Map<const Eigen::RowVectorXd>(v.data(), p * p);
  }
  return Rcpp::List::create(Rcpp::Named("hazard") = hazard, Rcpp::Named("hazard_var") = hazard_var,
                            Rcpp::Named("mean") = mean, Rcpp::Named("hazard_mean") = hazard_mean,
                            Rcpp::Named("info") = info);
}
