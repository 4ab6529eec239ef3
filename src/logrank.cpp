// Log-rank / Fleming-Harrington G-rho kernel.
//
// Interrupts: every loop over rows polls for Ctrl-C every rwe::kPollEvery rows (interrupt.h).
//
// Contract (checked by R before the call; nothing is re-checked here):
//  * `ord` (0-based row indices, a permutation) visits the rows by stratum code, then time
//    ascending; the order among rows with the same stratum and time does not matter (they
//    are counted together). Reading through `ord` avoids sorted copies of the inputs;
//  * `group` holds integer codes 1..ngroup, `stratum` integer codes 1..nstrata, `time` finite
//    doubles, `status` 0 (censored) or 1 (event); no NA; no case weights (survdiff has none).
//
// Split in two, as the multi-site design asks:
//  (a) logrank_grid_cpp(): one pass -> per (stratum, distinct event time) the number at risk
//      and the number of events in each group. These are sums over rows: grids from several
//      sites on a common time grid add up to the pooled grid.
//  (b) logrank_stat_cpp(): observed, expected and the hypergeometric variance matrix, with the
//      G-rho weight S(t-)^rho from the pooled (within stratum) left-continuous Kaplan-Meier,
//      summed over strata.
#include <Rcpp.h>
#include "interrupt.h"
#include <RcppEigen.h>
#include "types.h"
#include <cmath>
#include <cstddef>
#include <vector>

// [[Rcpp::export]]
Rcpp::List logrank_grid_cpp(const Eigen::Map<Eigen::VectorXd> time,
                            const Eigen::Map<Eigen::VectorXd> status,
                            const Eigen::Map<Eigen::VectorXi> group,
                            const Eigen::Map<Eigen::VectorXi> stratum,
                            const Eigen::Map<Eigen::VectorXi> ord,
                            const int ngroup) {
  const std::ptrdiff_t n = ord.size();
  // One backward pass; the grid rows are collected last-first and reversed at the end.
  // At t, the number at risk in group j is the count of rows of the stratum with time >= t.
  std::vector<int> rev_stratum;
  std::vector<double> rev_time, rev_risk, rev_event;  // row-major, ngroup values per row
  std::vector<double> cum(ngroup, 0.0), dead(ngroup, 0.0);
  std::ptrdiff_t i = n - 1;
  while (i >= 0) {
    const int s = stratum[ord[i]];
    if (i == n - 1 || s != stratum[ord[i + 1]]) {
      std::fill(cum.begin(), cum.end(), 0.0);
    }
    const double t = time[ord[i]];
    bool any_event = false;
    std::fill(dead.begin(), dead.end(), 0.0);
    for (; i >= 0 && stratum[ord[i]] == s && time[ord[i]] == t; --i) {
      rwe::poll_at(i);
      const std::ptrdiff_t r = ord[i];
      const int g = group[r] - 1;
      cum[g] += 1.0;
      if (status[r] > 0) { dead[g] += 1.0; any_event = true; }
    }
    if (!any_event) continue;
    rev_stratum.push_back(s);
    rev_time.push_back(t);
    rev_risk.insert(rev_risk.end(), cum.begin(), cum.end());
    rev_event.insert(rev_event.end(), dead.begin(), dead.end());
  }
  const std::ptrdiff_t m = static_cast<std::ptrdiff_t>(rev_time.size());
  Rcpp::IntegerVector out_stratum(m);
  Rcpp::NumericVector out_time(m);
  Rcpp::NumericMatrix at_risk(m, ngroup), events(m, ngroup);
  for (std::ptrdiff_t k = 0; k < m; ++k) {
    const std::ptrdiff_t from = m - 1 - k;
    out_stratum[k] = rev_stratum[from];
    out_time[k] = rev_time[from];
    for (int g = 0; g < ngroup; ++g) {
      at_risk(k, g) = rev_risk[from * ngroup + g];
      events(k, g) = rev_event[from * ngroup + g];
    }
  }
  return Rcpp::List::create(Rcpp::Named("stratum") = out_stratum,
                            Rcpp::Named("time") = out_time,
                            Rcpp::Named("n.risk") = at_risk,
                            Rcpp::Named("n.event") = events);
}

// Observed, expected (per group and stratum) and the variance matrix (summed over strata)
// from a grid as produced by logrank_grid_cpp(): rows of one stratum contiguous, event times
// ascending.
// [[Rcpp::export]]
Rcpp::List logrank_stat_cpp(const Eigen::Map<Eigen::VectorXi> stratum,
                            const Eigen::Map<Eigen::MatrixXd> n_risk,
                            const Eigen::Map<Eigen::MatrixXd> n_event,
                            const int nstrata, const double rho) {
  const std::ptrdiff_t m = n_risk.rows();
  const int ngroup = static_cast<int>(n_risk.cols());
  Eigen::MatrixXd observed = Eigen::MatrixXd::Zero(ngroup, nstrata);
  Eigen::MatrixXd expected = Eigen::MatrixXd::Zero(ngroup, nstrata);
  Eigen::MatrixXd variance = Eigen::MatrixXd::Zero(ngroup, ngroup);
  double km = 1.0;  // pooled left-continuous KM within the current stratum
  for (std::ptrdiff_t k = 0; k < m; ++k) {
    if (k == 0 || stratum[k] != stratum[k - 1]) km = 1.0;
    const int s = stratum[k] - 1;
    const double n = n_risk.row(k).sum();
    const double d = n_event.row(k).sum();
    const double w = (rho == 0.0) ? 1.0 : std::pow(km, rho);
    for (int g = 0; g < ngroup; ++g) {
      observed(g, s) += w * n_event(k, g);
      expected(g, s) += w * d * n_risk(k, g) / n;
    }
    if (n > 1.0) {
      // hypergeometric covariance of the event counts, scaled by the squared weight
      const double scale = w * w * d * (n - d) / (n - 1.0);
      for (int g = 0; g < ngroup; ++g) {
        const double pg = n_risk(k, g) / n;
        if (pg == 0.0) continue;
        for (int h = 0; h < ngroup; ++h) {
          const double ph = n_risk(k, h) / n;
          variance(g, h) += scale * pg * ((g == h ? 1.0 : 0.0) - ph);
        }
      }
    }
    km *= (n - d) / n;
  }
  return Rcpp::List::create(Rcpp::Named("observed") = observed,
                            Rcpp::Named("expected") = expected,
                            Rcpp::Named("var") = variance);
}

// The grid of logrank_grid_cpp() without sorting, for times given as ranks.
//
// Contract (checked by R before the call; nothing is re-checked here):
//  * `time_rank` holds integer ranks 1..n_time of the (tie-merged) times, `time_value` the
//    time of each rank (increasing); `group` codes 1..ngroup, `stratum` codes 1..nstrata,
//    `status` 0 (censored) or 1 (event); no NA;
//  * nstrata * n_time * ngroup cells fit in memory (R uses this kernel only when that is at
//    most a few times n).
// Output: as logrank_grid_cpp().
//
// Why: with day-resolution times there are few distinct times, so counting every row into
// its (stratum, time, group) cell in one sequential pass replaces the sort by (stratum, time)
// and the reads through it; the numbers at risk are then cumulative sums over the cells.
// [[Rcpp::export]]
Rcpp::List logrank_grid_dense_cpp(const Eigen::Map<Eigen::VectorXi> time_rank,
                                  const Eigen::Map<Eigen::VectorXd> time_value,
                                  const Eigen::Map<Eigen::VectorXd> status,
                                  const Eigen::Map<Eigen::VectorXi> group,
                                  const Eigen::Map<Eigen::VectorXi> stratum,
                                  const int ngroup, const int nstrata) {
  const std::ptrdiff_t n = time_rank.size(), n_time = time_value.size();
  const std::ptrdiff_t cells = static_cast<std::ptrdiff_t>(nstrata) * n_time * ngroup;
  // Cell of (stratum s, time rank t, group g), all 0-based: (s * n_time + t) * ngroup + g.
  std::vector<double> rows(cells, 0.0), deaths(cells, 0.0);
  std::vector<unsigned char> any_death(static_cast<std::size_t>(nstrata) * n_time, 0);
  for (std::ptrdiff_t k = 0; k < n; ++k) {
    rwe::poll_at(k);
    const std::ptrdiff_t st = static_cast<std::ptrdiff_t>(stratum[k] - 1) * n_time +
                              (time_rank[k] - 1);
    const std::ptrdiff_t cell = st * ngroup + (group[k] - 1);
    rows[cell] += 1.0;
    if (status[k] > 0) {
      deaths[cell] += 1.0;
      any_death[st] = 1;
    }
  }
  std::ptrdiff_t m = 0;
  for (unsigned char d : any_death) m += d;
  Rcpp::IntegerVector out_stratum(m);
  Rcpp::NumericVector out_time(m);
  Rcpp::NumericMatrix at_risk(m, ngroup), events(m, ngroup);
  std::vector<double> cum(ngroup);
  std::ptrdiff_t out = m;  // filled from the end: the at-risk sums run from the last time
  for (int s = nstrata - 1; s >= 0; --s) {
    std::fill(cum.begin(), cum.end(), 0.0);
    for (std::ptrdiff_t t = n_time - 1; t >= 0; --t) {
      const std::ptrdiff_t st = static_cast<std::ptrdiff_t>(s) * n_time + t;
      for (int g = 0; g < ngroup; ++g) cum[g] += rows[st * ngroup + g];
      if (!any_death[st]) continue;
      --out;
      out_stratum[out] = s + 1;
      out_time[out] = time_value[t];
      for (int g = 0; g < ngroup; ++g) {
        at_risk(out, g) = cum[g];
        events(out, g) = deaths[st * ngroup + g];
      }
    }
  }
  return Rcpp::List::create(Rcpp::Named("stratum") = out_stratum,
                            Rcpp::Named("time") = out_time,
                            Rcpp::Named("n.risk") = at_risk,
                            Rcpp::Named("n.event") = events);
}
