// Kaplan-Meier kernel.
//
// Interrupts: every loop over rows polls for Ctrl-C every rwe::kPollEvery rows (interrupt.h).
//
// Contract (checked by R before the call; nothing is re-checked here):
//  * `ord` (0-based row indices, a permutation) visits the rows by group code, then time
//    ascending; the order among rows with the same group and time does not matter (they are
//    counted together), so R sorts on (group, time) only. Reading through `ord` avoids
//    copying the n-length inputs into sorted order;
//  * `group` holds integer codes 1..k, `time` and `weight` are finite doubles, weight >= 0,
//    `status` is 0 (censored) or 1 (event), no NA anywhere;
//  * for counting-process data, `entry_time` holds the start times and `entry_ord` visits
//    the rows by group, then start time ascending; for right-censored data both are empty.
//
// The work is split in two, as the multi-site design asks:
//  (a) km_counts_cpp() / km_counts_dense_cpp(): the rows counted on the shared counting grid
//      (counts_grid.h, also used by logrank.cpp and partition.cpp) -> per (group, distinct
//      time) the weighted and unweighted numbers at risk, of events and of censorings. These
//      are plain sums over rows, so per-site grids add up on a common time grid.
//  (b) km_estimate_cpp(): the product-limit estimate and the Greenwood sum from those counts
//      (the step, median rule and restricted mean are km_summary.h's, shared with the
//      bootstrap in resample.cpp);
//      km_ij_se_cpp(): the infinitesimal-jackknife (robust) SE of S from the same counts plus
//      sums of squared weights (right-censored data).
#include <Rcpp.h>
#include "interrupt.h"
#include "counts_grid.h"
#include "km_summary.h"
#include <RcppEigen.h>
#include "types.h"
#include <cmath>
#include <cstddef>
#include <vector>

namespace {

// The nine sums per distinct (group, time) that both counting kernels return.
enum CountSum { RISK_W, EVENT_W, CENSOR_W, RISK_N, EVENT_N, CENSOR_N, RISK_W2, EVENT_W2,
                CENSOR_W2, NSUMS };

Rcpp::List counts_list(const Rcpp::IntegerVector& group, const Rcpp::NumericVector& time,
                       const std::vector<Rcpp::NumericVector>& out) {
  return Rcpp::List::create(
    Rcpp::Named("group") = group, Rcpp::Named("time") = time,
    Rcpp::Named("n.risk") = out[RISK_W], Rcpp::Named("n.event") = out[EVENT_W],
    Rcpp::Named("n.censor") = out[CENSOR_W], Rcpp::Named("n.risk.rows") = out[RISK_N],
    Rcpp::Named("n.event.rows") = out[EVENT_N], Rcpp::Named("n.censor.rows") = out[CENSOR_N],
    Rcpp::Named("n.risk.w2") = out[RISK_W2], Rcpp::Named("n.event.w2") = out[EVENT_W2],
    Rcpp::Named("n.censor.w2") = out[CENSOR_W2]);
}

// Row `row` of the nine output sums from grid position `p` (one group) and its numbers at risk.
void put_sums(std::vector<Rcpp::NumericVector>& out, Index row,
              const countsgrid::CountCells& cells, Index p,
              const countsgrid::CountCells::AtRisk& r) {
  namespace cg = countsgrid;
  const double sums[NSUMS] = {r.w(0), cells.get(p, 0, cg::EVENT_W), cells.get(p, 0, cg::CENSOR_W),
                              r.n(0), cells.get(p, 0, cg::EVENT_N), cells.get(p, 0, cg::CENSOR_N),
                              r.w2(0), cells.get(p, 0, cg::EVENT_W2),
                              cells.get(p, 0, cg::CENSOR_W2)};
  for (int c = 0; c < NSUMS; ++c) out[c][row] = sums[c];
}

}  // namespace

// Per distinct (group, time): the rows of ord placed on the shared counting grid
// (counts_grid.h), then one walk per group from its last time down.
// [[Rcpp::export(rng = false)]]
Rcpp::List km_counts_cpp(const Eigen::Map<Eigen::VectorXd> time,
                         const Eigen::Map<Eigen::VectorXd> status,
                         const Eigen::Map<Eigen::VectorXd> weight,
                         const Eigen::Map<Eigen::VectorXi> group,
                         const Eigen::Map<Eigen::VectorXi> ord,
                         const Eigen::Map<Eigen::VectorXd> entry_time,
                         const Eigen::Map<Eigen::VectorXi> entry_ord) {
  using countsgrid::CountCells;
  const bool counting = entry_ord.size() > 0;
  const countsgrid::SortedGrid grid = countsgrid::sorted_grid(ord, group, time);
  const Index m = static_cast<Index>(grid.time.size());
  CountCells cells(m, 1, true, counting);
  // last-first, as km_counts_dense_cpp() adds them: the two kernels' sums agree to the bit
  countsgrid::for_each_row(grid, ord, group, time, [&](Index r, Index p) {
    cells.add(p, 0, weight[r], status[r] > 0);
  });
  if (counting) countsgrid::enter_sorted(cells, grid, entry_ord, group, entry_time, weight);
  Rcpp::IntegerVector out_group(grid.block.begin(), grid.block.end());
  Rcpp::NumericVector out_time(grid.time.begin(), grid.time.end());
  std::vector<Rcpp::NumericVector> out(NSUMS);
  for (int c = 0; c < NSUMS; ++c) out[c] = Rcpp::NumericVector(m);
  for (std::size_t b = 0; b + 1 < grid.bounds.size(); ++b) {
    cells.walk_block(grid.bounds[b], grid.bounds[b + 1],
                     [&](Index p, const CountCells::AtRisk& r) {
      put_sums(out, p, cells, p, r);
    });
  }
  return counts_list(out_group, out_time, out);
}

// Product-limit estimate and Greenwood sum sum(d / (n (n - d))) per group, from the counts
// of km_counts_cpp() (rows of one group contiguous, times ascending). Where everyone left at
// risk has the event the curve drops to 0 and the Greenwood sum becomes infinite, as in
// survival::survfit. A time with nobody (weight 0) at risk leaves the curve unchanged.
// [[Rcpp::export(rng = false)]]
Rcpp::List km_estimate_cpp(const Eigen::Map<Eigen::VectorXi> group,
                           const Eigen::Map<Eigen::VectorXd> n_risk,
                           const Eigen::Map<Eigen::VectorXd> n_event) {
  const Index m = group.size();
  Rcpp::NumericVector surv(m), greenwood(m);
  double s = 1.0, gw = 0.0;
  for (Index k = 0; k < m; ++k) {
    if (k == 0 || group[k] != group[k - 1]) { s = 1.0; gw = 0.0; }
    const double n = n_risk[k], d = n_event[k];
    s = kmsummary::km_step(s, n, d);
    if (d > 0.0 && n > 0.0) gw += (n - d > 0.0) ? d / (n * (n - d)) : R_PosInf;
    surv[k] = s;
    greenwood[k] = gw;
  }
  return Rcpp::List::create(Rcpp::Named("surv") = surv,
                            Rcpp::Named("greenwood") = greenwood);
}

// Infinitesimal-jackknife SE of S(t) for right-censored data (survfit's default when case
// weights are not integers). The influence of row i on log S(t) is
//   H(min(t, T_i)) - status_i [T_i <= t] / (Y(T_i) - d(T_i)),  H(t) = sum_{s<=t} d/(Y (Y-d)),
// so sum_i w_i^2 influence_i^2 splits into rows still at risk after t (weight^2 sum times
// H(t)^2) and rows that left at or before t (a running sum): O(number of times).
// [[Rcpp::export(rng = false)]]
Rcpp::NumericVector km_ij_se_cpp(const Eigen::Map<Eigen::VectorXi> group,
                                 const Eigen::Map<Eigen::VectorXd> surv,
                                 const Eigen::Map<Eigen::VectorXd> n_risk,
                                 const Eigen::Map<Eigen::VectorXd> n_event,
                                 const Eigen::Map<Eigen::VectorXd> risk_w2,
                                 const Eigen::Map<Eigen::VectorXd> event_w2,
                                 const Eigen::Map<Eigen::VectorXd> censor_w2) {
  const Index m = group.size();
  Rcpp::NumericVector se(m);
  double h_cum = 0.0, left = 0.0;
  for (Index k = 0; k < m; ++k) {
    if (k == 0 || group[k] != group[k - 1]) { h_cum = 0.0; left = 0.0; }
    const double y = n_risk[k], d = n_event[k], rest = y - d;
    if (d > 0.0 && rest > 0.0) h_cum += d / (y * rest);
    const double event_term = (rest > 0.0) ? h_cum - 1.0 / rest : 0.0;
    left += event_w2[k] * event_term * event_term + censor_w2[k] * h_cum * h_cum;
    const double still = risk_w2[k] - event_w2[k] - censor_w2[k];
    const double v = surv[k] * surv[k] * (still * h_cum * h_cum + left);
    se[k] = std::sqrt(v > 0.0 ? v : 0.0);
  }
  return se;
}

// The median rule of one curve (km_summary.h) for R's km_median(): `y` the curve or one of
// its limits (NA allowed), `time` ascending. NA when never below 0.5.
// [[Rcpp::export(rng = false)]]
double km_first_below_half_cpp(const Eigen::Map<Eigen::VectorXd> y,
                               const Eigen::Map<Eigen::VectorXd> time) {
  const double t = kmsummary::first_below_half(time, y, time.size());
  return std::isnan(t) ? NA_REAL : t;
}

// Restricted mean of one curve up to tau and its standard error (km_summary.h) for R's
// km_rmean().
// [[Rcpp::export(rng = false)]]
Rcpp::NumericVector km_area_cpp(const Eigen::Map<Eigen::VectorXd> time,
                                const Eigen::Map<Eigen::VectorXd> surv,
                                const Eigen::Map<Eigen::VectorXd> n_risk,
                                const Eigen::Map<Eigen::VectorXd> n_event, const double tau) {
  const kmsummary::Area a = kmsummary::km_area(time, surv, n_risk, n_event, time.size(), tau, true);
  return Rcpp::NumericVector::create(Rcpp::Named("rmean") = a.rmean, Rcpp::Named("se") = a.se);
}

// 1-based row of the first occurrence of each code 1..k (NA if absent): match(seq_len(k),
// codes) without hashing the n codes. Contract: `codes` integer, NA allowed (skipped).
// [[Rcpp::export(rng = false)]]
Rcpp::IntegerVector first_rows_cpp(const Eigen::Map<Eigen::VectorXi> codes, const int k) {
  Rcpp::IntegerVector first(k, NA_INTEGER);
  const Index n = codes.size();
  int missing = k;
  for (Index r = 0; r < n && missing > 0; ++r) {
    const int c = codes[r];
    if (c >= 1 && c <= k && first[c - 1] == NA_INTEGER) {
      first[c - 1] = static_cast<int>(r) + 1;
      --missing;
    }
  }
  return first;
}

// km_counts_cpp() for right-censored data with times given as ranks, without sorting.
//
// Contract (checked by R before the call; nothing is re-checked here): `time_rank` integer
// ranks 1..n_time of the (tie-merged) times, `time_value` the time of each rank (increasing);
// `group` codes 1..ngroup; `weight` finite >= 0; `status` 0/1; no NA; ngroup * n_time cells
// fit in memory (R uses this kernel only when that is at most a few times n).
// Output: as km_counts_cpp() (the same sums, added in the same row order).
//
// Why: with few distinct times (day resolution) one sequential pass adding each row into its
// (group, time) cell of the shared counting grid (counts_grid.h; one block of n_time
// positions per curve) replaces the sort by (group, time) and the random reads through it.
// [[Rcpp::export(rng = false)]]
Rcpp::List km_counts_dense_cpp(const Eigen::Map<Eigen::VectorXi> time_rank,
                               const Eigen::Map<Eigen::VectorXd> time_value,
                               const Eigen::Map<Eigen::VectorXd> status,
                               const Eigen::Map<Eigen::VectorXd> weight,
                               const Eigen::Map<Eigen::VectorXi> group, const int ngroup) {
  using countsgrid::CountCells;
  const Index n = time_rank.size(), n_time = time_value.size();
  CountCells cells(static_cast<Index>(ngroup) * n_time, 1, true, false);
  // Rows are added last-first, the order in which km_counts_cpp() adds them, so that the two
  // kernels' floating-point sums agree to the last bit.
  for (Index k = n - 1; k >= 0; --k) {
    rwe::poll_at(k);
    cells.add(static_cast<Index>(group[k] - 1) * n_time + time_rank[k] - 1, 0,
              weight[k], status[k] > 0);
  }
  Index m = 0;
  for (Index p = 0; p < cells.npos(); ++p) m += cells.any_row(p);
  Rcpp::IntegerVector out_group(m);
  Rcpp::NumericVector out_time(m);
  std::vector<Rcpp::NumericVector> out(NSUMS);
  for (int s = 0; s < NSUMS; ++s) out[s] = Rcpp::NumericVector(m);
  Index row = m;  // filled from the end: the at-risk sums run from the last time
  for (int g = ngroup - 1; g >= 0; --g) {
    const Index first = static_cast<Index>(g) * n_time;
    cells.walk_block(first, first + n_time, [&](Index p, const CountCells::AtRisk& r) {
      if (!cells.any_row(p)) return;
      --row;
      out_group[row] = g + 1;
      out_time[row] = time_value[p - first];
      put_sums(out, row, cells, p, r);
    });
  }
  return counts_list(out_group, out_time, out);
}
