// Objective of the survival search (data-raw/search-survival.R), in C++ for speed: about
// 20 microseconds per state instead of 1 ms in R. Compiled at run time by
// Rcpp::sourceCpp(); not part of the package. Same definitions as km_group_summaries() in
// data-raw/helpers.R: SPSS KM mean = area under the KM curve up to the group's largest observed
// time; two-sample log-rank test (group vs the rest of the universe).
#include <Rcpp.h>
#include <vector>
#include <algorithm>
#include <cmath>
using namespace Rcpp;

// Two-sample log-rank p-value from per-time counts already cumulated into numbers at risk:
// universe at risk / events (nru, neu) and group at risk / events (nrg, neg), m times.
static double logrank_p(const std::vector<double>& nru, const std::vector<double>& neu,
                        const std::vector<double>& nrg, const std::vector<double>& neg, int m) {
  double obs = 0, expd = 0, var = 0;
  for (int k = 0; k < m; k++) {
    obs += neg[k];
    double frac = nrg[k] / std::max(nru[k], 1.0);
    expd += neu[k] * frac;
    if (nru[k] > 1) var += neu[k] * (nru[k] - neu[k]) / (nru[k] - 1) * frac * (1 - frac);
  }
  return R::pchisq(var > 0 ? (obs - expd) * (obs - expd) / var : 0, 1, false, false);
}

// KM means of the 30 Table 4 groups (each column of `first` and its complement) and the 16
// log-rank p-values (the 15 columns in the 26, then `bone` within `distant`).
// [[Rcpp::export]]
List fit_summaries_cpp(NumericVector time, LogicalMatrix first, IntegerVector event,
                       LogicalVector distant, LogicalVector bone) {
  const int n = time.size(), nf = first.ncol();
  std::vector<double> ut(time.begin(), time.end());
  std::sort(ut.begin(), ut.end());
  ut.erase(std::unique(ut.begin(), ut.end()), ut.end());
  const int m = ut.size();
  std::vector<int> idx(n);  // index of each patient's time in ut
  for (int i = 0; i < n; i++)
    idx[i] = std::lower_bound(ut.begin(), ut.end(), time[i]) - ut.begin();
  NumericVector mean(2 * nf), p(nf + 1);
  std::vector<double> nr(m), ne(m), nru(m), neu(m), nrg(m), neg(m);
  // overall (universe = everyone) risk sets
  std::fill(nru.begin(), nru.end(), 0.0); std::fill(neu.begin(), neu.end(), 0.0);
  for (int i = 0; i < n; i++) { nru[idx[i]] += 1; if (event[i]) neu[idx[i]] += 1; }
  for (int k = m - 2; k >= 0; k--) nru[k] += nru[k + 1];
  for (int g = 0; g < 2 * nf; g++) {
    const int col = g / 2; const bool lev = (g % 2 == 0);
    std::fill(nrg.begin(), nrg.end(), 0.0); std::fill(neg.begin(), neg.end(), 0.0);
    for (int i = 0; i < n; i++) if ((bool)first(i, col) == lev) {
      nrg[idx[i]] += 1; if (event[i]) neg[idx[i]] += 1; }
    for (int k = m - 2; k >= 0; k--) nrg[k] += nrg[k + 1];
    double s = 1, prev = 0, area = 0;
    for (int k = 0; k < m; k++) {
      if (nrg[k] > 0) area += s * (ut[k] - prev);
      prev = ut[k];
      if (nrg[k] > 0) s *= 1 - neg[k] / nrg[k];
    }
    mean[g] = area;
    if (lev) {
      p[col] = logrank_p(nru, neu, nrg, neg, m);
    }
  }
  // bone within distant
  std::fill(nru.begin(), nru.end(), 0.0); std::fill(neu.begin(), neu.end(), 0.0);
  std::fill(nrg.begin(), nrg.end(), 0.0); std::fill(neg.begin(), neg.end(), 0.0);
  for (int i = 0; i < n; i++) if (distant[i]) {
    nru[idx[i]] += 1; if (event[i]) neu[idx[i]] += 1;
    if (bone[i]) { nrg[idx[i]] += 1; if (event[i]) neg[idx[i]] += 1; }
  }
  for (int k = m - 2; k >= 0; k--) { nru[k] += nru[k + 1]; nrg[k] += nrg[k + 1]; }
  p[nf] = logrank_p(nru, neu, nrg, neg, m);
  // SPSS median of everyone: first event time with S(t) <= 0.5
  double s = 1, median = NA_REAL;
  {
    std::vector<double> r(m, 0.0), d(m, 0.0);
    for (int i = 0; i < n; i++) { r[idx[i]] += 1; if (event[i]) d[idx[i]] += 1; }
    for (int k = m - 2; k >= 0; k--) r[k] += r[k + 1];
    for (int k = 0; k < m; k++) if (d[k] > 0) {
      s *= 1 - d[k] / r[k];
      if (s <= 0.5 + 1e-12) { median = ut[k]; break; }
    }
  }
  return List::create(Named("mean") = mean, Named("p") = p, Named("median") = median);
}

// The search objective (lower is better); see the header of search-survival.R. An SPSS
// median other than 16.5 returns Inf. w (SEARCH_WEIGHTS in search-survival.R, in this order):
//  [0] p_log2      weight of the squared log-ratios of the log-rank p-values
//  [1] worst       weight of the squared excess of the worst KM-mean error over [2]
//  [2] worst_from  months
//  [3] tie         penalty per tied pair of progression times (the forced 5.0 trio excepted)
//  [4] near        penalty per pair of progression times 0.5 months apart
//  [5] abs         weight of the sum of absolute KM-mean errors
//  [6] p_far       weight of the squared excess of |log p-ratio| over log([7])
//  [7] p_far_from  factor
//  [8] gap         weight of the squared excess over [9] of each gap between consecutive
//                  distinct progression times (the 5.0 trio included): a plausibility term
//                  that spreads progressions into the empty 5-13 months stretch
//  [9] gap_from    months
// [[Rcpp::export]]
double objective_cpp(NumericVector time, LogicalMatrix first, IntegerVector event,
                     LogicalVector distant, LogicalVector bone, NumericVector target_mean,
                     NumericVector target_p, NumericVector w) {
  List s = fit_summaries_cpp(time, first, event, distant, bone);
  double median = as<double>(s["median"]);
  if (ISNAN(median) || median != 16.5) return R_PosInf;
  NumericVector mean = s["mean"], p = s["p"];
  double sq = 0, worst = 0, tot = 0;
  for (int g = 0; g < mean.size(); g++) if (!ISNAN(target_mean[g])) {
    double e = mean[g] - target_mean[g];
    sq += e * e; worst = std::max(worst, std::fabs(e)); tot += std::fabs(e);
  }
  double rsq = 0, ex_p = 0; int calls = 0;
  for (int j = 0; j < p.size(); j++) {
    double floor_p = std::max(target_p[j], 0.0005);
    double ratio = std::log(std::max(p[j], 1e-12) / floor_p);
    if (target_p[j] == 0 && p[j] < 0.0005) ratio = 0;
    rsq += ratio * ratio;
    if (target_p[j] > 0) {
      double ex = std::max(0.0, std::fabs(ratio) - std::log(w[7]));
      ex_p += ex * ex;
    }
    calls += ((p[j] < 0.05) != (target_p[j] < 0.05));
    calls += (target_p[j] == 0 && p[j] >= 0.0005);
  }
  double hfs_p = p[10];
  double hfs_pen = 0;
  if (std::floor(hfs_p * 1000 + 0.5) != 7) hfs_pen = 20 + 20 * std::fabs(std::log(hfs_p / 0.007));
  std::vector<double> pd;
  for (int i = 0; i < time.size(); i++) if (event[i] && time[i] != 5) pd.push_back(time[i]);
  double bunch = 0;
  for (size_t a = 0; a < pd.size(); a++) for (size_t b = a + 1; b < pd.size(); b++) {
    double gap = std::fabs(pd[a] - pd[b]);
    if (gap == 0) bunch += w[3]; else if (gap < 1) bunch += w[4];
  }
  pd.push_back(5.0);  // the trio, once
  std::sort(pd.begin(), pd.end());
  double gap_pen = 0;
  for (size_t a = 1; a < pd.size(); a++) {
    double ex = std::max(0.0, pd[a] - pd[a - 1] - w[9]);
    gap_pen += ex * ex;
  }
  double ex_worst = std::max(0.0, worst - w[2]);
  return sq + w[0] * rsq + 20 * calls + hfs_pen + bunch + w[1] * ex_worst * ex_worst +
    w[5] * tot + w[6] * ex_p + w[8] * gap_pen;
}
