// Kaplan-Meier kernel.
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
//  (b) km_estimate_cpp(): the product-limit estimate and the Greenwood sum from those counts.
#include <Rcpp.h>
#include <RcppEigen.h>
#include <cstddef>

typedef Eigen::Map<Eigen::VectorXd> MapVec;
typedef Eigen::Map<Eigen::VectorXi> MapIVec;

// Number of distinct (group, time) pairs in sorted data: the length of the output.
static std::ptrdiff_t count_distinct_times(const MapVec& time, const MapIVec& group,
                                           const MapIVec& ord) {
  const std::ptrdiff_t n = ord.size();
  std::ptrdiff_t m = 0;
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    if (i == 0 || group[ord[i]] != group[ord[i - 1]] || time[ord[i]] != time[ord[i - 1]]) ++m;
  }
  return m;
}

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
  const std::ptrdiff_t m = count_distinct_times(time, group, ord);

  Rcpp::IntegerVector out_group(m);
  Rcpp::NumericVector out_time(m), risk_w(m), event_w(m), censor_w(m);
  Rcpp::NumericVector risk_n(m), event_n(m), censor_n(m);

  // Walk backwards: the number at risk at t is everything with stop time >= t (minus, for
  // counting-process data, everything that has not yet entered, i.e. start time >= t).
  std::ptrdiff_t k = m;
  std::ptrdiff_t j = entry_ord.size() - 1;
  double cum_w = 0.0, cum_n = 0.0, late_w = 0.0, late_n = 0.0;
  std::ptrdiff_t i = n - 1;
  while (i >= 0) {
    const int g = group[ord[i]];
    if (i == n - 1 || g != group[ord[i + 1]]) {
      cum_w = cum_n = late_w = late_n = 0.0;  // a new group starts (seen from its end)
      Rcpp::checkUserInterrupt();
    }
    const double t = time[ord[i]];
    double ev_w = 0.0, ev_n = 0.0, ce_w = 0.0, ce_n = 0.0;
    for (; i >= 0 && group[ord[i]] == g && time[ord[i]] == t; --i) {
      const std::ptrdiff_t r = ord[i];
      if (status[r] > 0) { ev_w += weight[r]; ev_n += 1.0; }
      else { ce_w += weight[r]; ce_n += 1.0; }
    }
    cum_w += ev_w + ce_w;
    cum_n += ev_n + ce_n;
    if (counting) {
      while (j >= 0 && group[entry_ord[j]] > g) --j;  // cannot happen; be safe
      for (; j >= 0 && group[entry_ord[j]] == g && entry_time[entry_ord[j]] >= t; --j) {
        late_w += weight[entry_ord[j]];
        late_n += 1.0;
      }
    }
    --k;
    out_group[k] = g;
    out_time[k] = t;
    risk_w[k] = cum_w - late_w;
    risk_n[k] = cum_n - late_n;
    event_w[k] = ev_w;
    event_n[k] = ev_n;
    censor_w[k] = ce_w;
    censor_n[k] = ce_n;
  }
  return Rcpp::List::create(
    Rcpp::Named("group") = out_group, Rcpp::Named("time") = out_time,
    Rcpp::Named("n.risk") = risk_w, Rcpp::Named("n.event") = event_w,
    Rcpp::Named("n.censor") = censor_w, Rcpp::Named("n.risk.rows") = risk_n,
    Rcpp::Named("n.event.rows") = event_n, Rcpp::Named("n.censor.rows") = censor_n);
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
