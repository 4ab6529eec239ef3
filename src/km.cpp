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
//  (a) km_counts_cpp(): one pass over the rows -> per (group, distinct time) the weighted and
//      unweighted numbers at risk, of events and of censorings. These are plain sums over
//      rows, so per-site grids can be added together on a common time grid.
//  (b) km_estimate_cpp(): the product-limit estimate and the Greenwood sum from those counts;
//      km_ij_se_cpp(): the infinitesimal-jackknife (robust) SE of S from the same counts plus
//      sums of squared weights (right-censored data).
#include <Rcpp.h>
#include "interrupt.h"
#include <RcppEigen.h>
#include "types.h"
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

}  // namespace

// [[Rcpp::export]]
Rcpp::List km_counts_cpp(const Eigen::Map<Eigen::VectorXd> time,
                         const Eigen::Map<Eigen::VectorXd> status,
                         const Eigen::Map<Eigen::VectorXd> weight,
                         const Eigen::Map<Eigen::VectorXi> group,
                         const Eigen::Map<Eigen::VectorXi> ord,
                         const Eigen::Map<Eigen::VectorXd> entry_time,
                         const Eigen::Map<Eigen::VectorXi> entry_ord) {
  const std::ptrdiff_t n = ord.size();
  const bool counting = entry_ord.size() > 0;
  // Per distinct (group, time), collected last-first in one backward pass and reversed at
  // the end: group, time, then the nine sums of CountSum.
  std::vector<int> rev_group;
  std::vector<double> rev_time, rev_sums;

  // Walk backwards: the number at risk at t is everything with stop time >= t (minus, for
  // counting-process data, everything that has not yet entered, i.e. start time >= t).
  std::ptrdiff_t j = entry_ord.size() - 1;
  double cum_w = 0.0, cum_n = 0.0, late_w = 0.0, late_n = 0.0, cum_w2 = 0.0;
  std::ptrdiff_t i = n - 1;
  while (i >= 0) {
    const int g = group[ord[i]];
    if (i == n - 1 || g != group[ord[i + 1]]) {
      cum_w = cum_n = late_w = late_n = cum_w2 = 0.0;  // a new group starts (from its end)
    }
    const double t = time[ord[i]];
    double ev_w = 0.0, ev_n = 0.0, ce_w = 0.0, ce_n = 0.0, ev_w2 = 0.0, ce_w2 = 0.0;
    for (; i >= 0 && group[ord[i]] == g && time[ord[i]] == t; --i) {
      rwe::poll_at(i);
      const std::ptrdiff_t r = ord[i];
      const double w = weight[r];
      if (status[r] > 0) { ev_w += w; ev_n += 1.0; ev_w2 += w * w; }
      else { ce_w += w; ce_n += 1.0; ce_w2 += w * w; }
    }
    cum_w += ev_w + ce_w;
    cum_n += ev_n + ce_n;
    cum_w2 += ev_w2 + ce_w2;
    if (counting) {
      while (j >= 0 && group[entry_ord[j]] > g) --j;  // cannot happen; be safe
      for (; j >= 0 && group[entry_ord[j]] == g && entry_time[entry_ord[j]] >= t; --j) {
        late_w += weight[entry_ord[j]];
        late_n += 1.0;
      }
    }
    rev_group.push_back(g);
    rev_time.push_back(t);
    // the squared-weight sums serve the robust variance, right-censored data only
    const double sums[NSUMS] = {cum_w - late_w, ev_w, ce_w, cum_n - late_n, ev_n, ce_n,
                                cum_w2, ev_w2, ce_w2};
    rev_sums.insert(rev_sums.end(), sums, sums + NSUMS);
  }

  const std::ptrdiff_t m = static_cast<std::ptrdiff_t>(rev_time.size());
  Rcpp::IntegerVector out_group(m);
  Rcpp::NumericVector out_time(m);
  std::vector<Rcpp::NumericVector> out(NSUMS);
  for (int c = 0; c < NSUMS; ++c) out[c] = Rcpp::NumericVector(m);
  for (std::ptrdiff_t k = 0; k < m; ++k) {
    const std::ptrdiff_t from = m - 1 - k;
    out_group[k] = rev_group[from];
    out_time[k] = rev_time[from];
    for (int c = 0; c < NSUMS; ++c) out[c][k] = rev_sums[from * NSUMS + c];
  }
  return counts_list(out_group, out_time, out);
}

// Product-limit estimate and Greenwood sum sum(d / (n (n - d))) per group, from the counts
// of km_counts_cpp() (rows of one group contiguous, times ascending). Where everyone left at
// risk has the event the curve drops to 0 and the Greenwood sum becomes infinite, as in
// survival::survfit. A time with nobody (weight 0) at risk leaves the curve unchanged.
// [[Rcpp::export]]
Rcpp::List km_estimate_cpp(const Eigen::Map<Eigen::VectorXi> group,
                           const Eigen::Map<Eigen::VectorXd> n_risk,
                           const Eigen::Map<Eigen::VectorXd> n_event) {
  const std::ptrdiff_t m = group.size();
  Rcpp::NumericVector surv(m), greenwood(m);
  double s = 1.0, gw = 0.0;
  for (std::ptrdiff_t k = 0; k < m; ++k) {
    if (k == 0 || group[k] != group[k - 1]) { s = 1.0; gw = 0.0; }
    const double n = n_risk[k], d = n_event[k];
    if (d > 0.0 && n > 0.0) {
      const double left = n - d;
      s *= left / n;
      gw += (left > 0.0) ? d / (n * left) : R_PosInf;
    }
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
// [[Rcpp::export]]
Rcpp::NumericVector km_ij_se_cpp(const Eigen::Map<Eigen::VectorXi> group,
                                 const Eigen::Map<Eigen::VectorXd> surv,
                                 const Eigen::Map<Eigen::VectorXd> n_risk,
                                 const Eigen::Map<Eigen::VectorXd> n_event,
                                 const Eigen::Map<Eigen::VectorXd> risk_w2,
                                 const Eigen::Map<Eigen::VectorXd> event_w2,
                                 const Eigen::Map<Eigen::VectorXd> censor_w2) {
  const std::ptrdiff_t m = group.size();
  Rcpp::NumericVector se(m);
  double h_cum = 0.0, left = 0.0;
  for (std::ptrdiff_t k = 0; k < m; ++k) {
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

// 1-based row of the first occurrence of each code 1..k (NA if absent): match(seq_len(k),
// codes) without hashing the n codes. Contract: `codes` integer, NA allowed (skipped).
// [[Rcpp::export]]
Rcpp::IntegerVector first_rows_cpp(const Eigen::Map<Eigen::VectorXi> codes, const int k) {
  Rcpp::IntegerVector first(k, NA_INTEGER);
  const std::ptrdiff_t n = codes.size();
  int missing = k;
  for (std::ptrdiff_t r = 0; r < n && missing > 0; ++r) {
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
// (group, time) cell replaces the sort by (group, time) and the random reads through it.
// [[Rcpp::export]]
Rcpp::List km_counts_dense_cpp(const Eigen::Map<Eigen::VectorXi> time_rank,
                               const Eigen::Map<Eigen::VectorXd> time_value,
                               const Eigen::Map<Eigen::VectorXd> status,
                               const Eigen::Map<Eigen::VectorXd> weight,
                               const Eigen::Map<Eigen::VectorXi> group, const int ngroup) {
  const std::ptrdiff_t n = time_rank.size(), n_time = time_value.size();
  enum { EV_W, EV_N, CE_W, CE_N, EV_W2, CE_W2, NCELL };
  std::vector<double> cell(static_cast<std::size_t>(ngroup) * n_time * NCELL, 0.0);
  // Rows are added last-first, the order in which km_counts_cpp() adds them, so that the two
  // kernels' floating-point sums agree to the last bit.
  for (std::ptrdiff_t k = n - 1; k >= 0; --k) {
    rwe::poll_at(k);
    double* c = &cell[(static_cast<std::ptrdiff_t>(group[k] - 1) * n_time + time_rank[k] - 1) *
                      NCELL];
    const double w = weight[k];
    if (status[k] > 0) { c[EV_W] += w; c[EV_N] += 1.0; c[EV_W2] += w * w; }
    else { c[CE_W] += w; c[CE_N] += 1.0; c[CE_W2] += w * w; }
  }
  std::ptrdiff_t m = 0;
  for (std::ptrdiff_t i = 0; i < ngroup * n_time; ++i) {
    m += cell[i * NCELL + EV_N] + cell[i * NCELL + CE_N] > 0.0;
  }
  Rcpp::IntegerVector out_group(m);
  Rcpp::NumericVector out_time(m);
  std::vector<Rcpp::NumericVector> out(NSUMS);
  for (int s = 0; s < NSUMS; ++s) out[s] = Rcpp::NumericVector(m);
  std::ptrdiff_t row = m;  // filled from the end: the at-risk sums run from the last time
  for (int g = ngroup - 1; g >= 0; --g) {
    double cum_w = 0.0, cum_n = 0.0, cum_w2 = 0.0;
    for (std::ptrdiff_t t = n_time - 1; t >= 0; --t) {
      const double* c = &cell[(static_cast<std::ptrdiff_t>(g) * n_time + t) * NCELL];
      if (c[EV_N] + c[CE_N] == 0.0) continue;
      cum_w += c[EV_W] + c[CE_W];
      cum_n += c[EV_N] + c[CE_N];
      cum_w2 += c[EV_W2] + c[CE_W2];
      --row;
      out_group[row] = g + 1;
      out_time[row] = time_value[t];
      const double sums[NSUMS] = {cum_w, c[EV_W], c[CE_W], cum_n, c[EV_N], c[CE_N],
                                  cum_w2, c[EV_W2], c[CE_W2]};
      for (int s = 0; s < NSUMS; ++s) out[s][row] = sums[s];
    }
  }
  return counts_list(out_group, out_time, out);
}
