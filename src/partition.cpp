// Multi-site (partitioned) survival kernels: the per-site sums of the exact pooled fit.
//
// Contract (checked and prepared in R/partition.R, never here):
//   * rows sorted by stratum, time ascending, events first; x centred by the common
//     (pooled) centre vector; no NA anywhere; weights >= 0; status is 0/1.
//   * The global grid is one vector of positions 0..T-1: the grid times of stratum 1
//     (ascending), then those of stratum 2, ... `bounds` (length nstrata + 1) holds the first
//     position of each stratum block and T at the end.
//   * Each row carries two grid positions computed in R:
//       last  = position of the largest grid time <= its (stop) time in its stratum,
//               -1 when there is none (the row is at risk at no grid time);
//       entry = position of the largest grid time <= its start time in its stratum
//               (counting process), -1 when there is none or the data are right-censored.
//     The row is at risk at the positions entry+1 .. last (start < t <= stop). An event row's
//     time equals the grid time at `last` (the grid holds every event time).
//   * Sums are accumulated by bucketing each row at `last` (and subtracting at `entry`)
//     followed by one reverse cumulative sum per stratum block, so the result holds at every
//     grid position the sum over the rows at risk there. Sorting only buys memory locality.
//   * Group codes (counts) are 0..ngroups-1; alpha / efron_b have one value per grid position.
//     R checks all of this before the call (R/partition.R: check_grid_shape(),
//     check_cox_request(), counts_site()); check_site_arrays() below re-checks the sizes and
//     positions once per call (O(n), outside the loops) so that a bad call stops with an error
//     instead of writing outside a buffer.
// Everything returned is an aggregate over rows; R decides what may leave the site.
// Interrupts: the row loops poll for Ctrl-C about every 0.01-0.1 s of work (interrupt.h).

#include <RcppEigen.h>
#include "cox_grid.h"
#include <memory>
#include <cmath>
#include <vector>

// [[Rcpp::depends(RcppEigen)]]

using Eigen::Index;

namespace {

// Turns per-position buckets (columns = grid positions) into "sum over positions >= g in
// the same stratum block": the risk-set sums, accumulated from the largest time down as in
// the pooled fit, so right-censored data never subtract.
void reverse_cumsum_blocks(Eigen::MatrixXd& m, const Eigen::Map<Eigen::VectorXi>& bounds) {
  const Index nblocks = bounds.size() - 1;
  for (Index b = 0; b < nblocks; ++b) {
    for (Index g = static_cast<Index>(bounds[b + 1]) - 2; g >= bounds[b]; --g) {
      m.col(g) += m.col(g + 1);
    }
  }
}

// Sizes and grid positions, checked once per call before any buffer is indexed by them.
void check_site_arrays(Index n, Index nx, Index nweights, Index nstatus, const Eigen::Map<Eigen::VectorXi>& last,
                       const Eigen::Map<Eigen::VectorXi>& entry, const Eigen::Map<Eigen::VectorXi>& bounds) {
  if (bounds.size() < 1 || bounds[0] != 0) Rcpp::stop("grid bounds must start at 0");
  for (Index b = 1; b < bounds.size(); ++b) {
    if (bounds[b] < bounds[b - 1]) Rcpp::stop("grid bounds must not decrease");
  }
  const Index ngrid = bounds[bounds.size() - 1];
  if (nx != n || nweights != n || nstatus != n || last.size() != n || entry.size() != n) {
    Rcpp::stop("site arrays must all have one value per row");
  }
  for (Index i = 0; i < n; ++i) {
    if (last[i] < -1 || last[i] >= ngrid || entry[i] < -1 || entry[i] >= ngrid) {
      Rcpp::stop("row %d has a grid position outside 0..%d", static_cast<int>(i + 1), static_cast<int>(ngrid - 1));
    }
  }
}

// A site's rows as the shared grid code sees them: x is already centred (zero centre) and
// the grid positions come from R.
struct SiteRows {
  Eigen::VectorXd zero_centre;  // declared first: `rows` maps it
  coxgrid::CoxRows rows;
  coxgrid::Grid grid;
  SiteRows(const Eigen::Map<Eigen::MatrixXd>& x, const Eigen::Map<Eigen::VectorXd>& offset,
           const Eigen::Map<Eigen::VectorXd>& weights, const Eigen::Map<Eigen::VectorXd>& status,
           const Eigen::Map<Eigen::VectorXi>& last, const Eigen::Map<Eigen::VectorXi>& entry,
           const Eigen::Map<Eigen::VectorXi>& bounds)
      : zero_centre(Eigen::VectorXd::Zero(x.cols())),
        rows{coxgrid::ConstMapMat(x.data(), x.rows(), x.cols()),
             coxgrid::ConstMapVec(status.data(), status.size()),
             coxgrid::ConstMapVec(weights.data(), weights.size()),
             coxgrid::ConstMapVec(offset.data(), offset.size()),
             coxgrid::ConstMapVec(zero_centre.data(), zero_centre.size())} {
    grid.bounds.assign(bounds.data(), bounds.data() + bounds.size());
    grid.last.assign(last.data(), last.data() + last.size());
    grid.entry.assign(entry.data(), entry.data() + entry.size());
    grid.counting = (entry.array() >= 0).any();
  }
};

}  // namespace

// Round 1 of a Newton iteration: per grid position the risk-set sums S0, S1 (p), the sums
// over the deaths there D0, D1 (p), the weighted and unweighted death counts, and two
// totals over the site's deaths: sum w x and sum w eta. The same code as the single-machine
// kernel's first pass (cox_grid.h).
// [[Rcpp::export]]
Rcpp::List partition_cox_sums_cpp(const Eigen::Map<Eigen::MatrixXd> x, const Eigen::Map<Eigen::VectorXd> beta, const Eigen::Map<Eigen::VectorXd> offset,
                                  const Eigen::Map<Eigen::VectorXd> weights, const Eigen::Map<Eigen::VectorXd> status,
                                  const Eigen::Map<Eigen::VectorXi> last, const Eigen::Map<Eigen::VectorXi> entry,
                                  const Eigen::Map<Eigen::VectorXi> bounds) {
  const Index n = x.rows(), p = x.cols();
  check_site_arrays(n, offset.size(), weights.size(), status.size(), last, entry, bounds);
  if (beta.size() != p) Rcpp::stop("beta must have one value per column of x");
  const std::unique_ptr<SiteRows> site(new SiteRows(x, offset, weights, status, last, entry, bounds));
  coxgrid::CentredBlocks blocks(site->rows);
  coxgrid::GridSums sums(p, site->grid.size(), site->grid.counting);
  sums.clear();
  Eigen::VectorXd eta(n);
  std::vector<double> risk(n);
  rwe::StopFlag stop;
  coxgrid::bucket_rows(site->rows, site->grid, beta, 0, n, blocks, sums,
                       Eigen::Map<Eigen::VectorXd>(eta.data(), n), risk, nullptr, &stop, true);
  stop.rethrow();
  coxgrid::cumulate_risk_sets(site->grid, sums);
  return Rcpp::List::create(
      Rcpp::Named("s0") = Eigen::VectorXd(sums.risk.row(p).transpose()),
      Rcpp::Named("s1") = Eigen::MatrixXd(sums.risk.topRows(p).transpose()),
      Rcpp::Named("d0") = Eigen::VectorXd(sums.dead.row(p).transpose()),
      Rcpp::Named("d1") = Eigen::MatrixXd(sums.dead.topRows(p).transpose()),
      Rcpp::Named("dead_weight") = sums.dead_weight,
      Rcpp::Named("dead_count") = sums.dead_count, Rcpp::Named("dead_wx") = sums.dead_wx,
      Rcpp::Named("dead_weta") = sums.dead_weta);
}

// Round 2: the site's share of the information's first part,
//   sum_i w_i e^eta_i x_i x_i' A(i) - sum_{deaths i} w_i e^eta_i x_i x_i' B(t_i),
// where A(i) sums alpha over the grid positions at which row i is at risk (the
// single-machine kernel's second pass, cox_grid.h).
// [[Rcpp::export]]
Eigen::MatrixXd partition_cox_info_cpp(const Eigen::Map<Eigen::MatrixXd> x, const Eigen::Map<Eigen::VectorXd> beta, const Eigen::Map<Eigen::VectorXd> offset,
                                       const Eigen::Map<Eigen::VectorXd> weights, const Eigen::Map<Eigen::VectorXd> status,
                                       const Eigen::Map<Eigen::VectorXi> last, const Eigen::Map<Eigen::VectorXi> entry,
                                       const Eigen::Map<Eigen::VectorXi> bounds, const Eigen::Map<Eigen::VectorXd> alpha,
                                       const Eigen::Map<Eigen::VectorXd> efron_b) {
  const Index n = x.rows(), p = x.cols();
  check_site_arrays(n, offset.size(), weights.size(), status.size(), last, entry, bounds);
  if (beta.size() != p) Rcpp::stop("beta must have one value per column of x");
  if (alpha.size() != bounds[bounds.size() - 1] || efron_b.size() != alpha.size()) {
    Rcpp::stop("alpha and efron_b must have one value per grid position");
  }
  const std::unique_ptr<SiteRows> site(new SiteRows(x, offset, weights, status, last, entry, bounds));
  std::vector<double> risk(n);
  Eigen::VectorXd eta = offset;
  if (p > 0) eta.noalias() += x * beta;
  for (Index i = 0; i < n; ++i) risk[i] = weights[i] * std::exp(eta[i]);
  std::vector<double> hi, lo;
  coxgrid::alpha_prefix_sums(site->grid, alpha, hi, lo);
  coxgrid::CentredBlocks blocks(site->rows);
  Eigen::MatrixXd info(p, p);
  rwe::StopFlag stop;
  coxgrid::add_weighted_crossprod(site->rows, site->grid, risk, hi, lo, efron_b, 0, n, blocks, info,
                                  &stop, true);
  stop.rethrow();
  info.triangularView<Eigen::StrictlyUpper>() = info.transpose();
  return info;
}

// Kaplan-Meier / log-rank counts per grid position and group: weighted number at risk,
// events and censorings, and the unweighted number at risk (for the min_cell rule).
// Censorings are counted at `last`, which is their own time when the grid holds all times.
// [[Rcpp::export]]
Rcpp::List partition_counts_cpp(const Eigen::Map<Eigen::VectorXd> weights, const Eigen::Map<Eigen::VectorXd> status,
                                const Eigen::Map<Eigen::VectorXi> last, const Eigen::Map<Eigen::VectorXi> entry, const Eigen::Map<Eigen::VectorXi> group,
                                const int ngroups, const Eigen::Map<Eigen::VectorXi> bounds) {
  const Index n = weights.size();
  check_site_arrays(n, n, n, status.size(), last, entry, bounds);
  if (group.size() != n || ngroups < 1) Rcpp::stop("one group code per row and ngroups >= 1 are needed");
  for (Index i = 0; i < n; ++i) {
    if (group[i] < 0 || group[i] >= ngroups) {
      Rcpp::stop("row %d has group code %d outside 0..%d", static_cast<int>(i + 1), group[i], ngroups - 1);
    }
  }
  const Index ngrid = bounds[bounds.size() - 1];
  // rows: weighted at risk, unweighted at risk (each with its leave counterpart)
  Eigen::MatrixXd risk = Eigen::MatrixXd::Zero(2 * ngroups, ngrid);
  Eigen::MatrixXd leave = Eigen::MatrixXd::Zero(2 * ngroups, ngrid);
  Eigen::MatrixXd event = Eigen::MatrixXd::Zero(ngrid, ngroups);
  Eigen::MatrixXd censor = Eigen::MatrixXd::Zero(ngrid, ngroups);
  for (Index i = 0; i < n; ++i) {
    rwe::poll_at(i);
    const Index g = last[i], e = entry[i], k = group[i];
    if (g < 0 || e >= g) continue;
    risk(k, g) += weights[i];
    risk(ngroups + k, g) += 1.0;
    if (e >= 0) {
      leave(k, e) += weights[i];
      leave(ngroups + k, e) += 1.0;
    }
    if (status[i] > 0) event(g, k) += weights[i]; else censor(g, k) += weights[i];
  }
  reverse_cumsum_blocks(risk, bounds);
  reverse_cumsum_blocks(leave, bounds);
  risk -= leave;
  Eigen::MatrixXd n_risk = risk.topRows(ngroups).transpose();
  Eigen::MatrixXd n_subjects = risk.bottomRows(ngroups).transpose();
  return Rcpp::List::create(
      Rcpp::Named("n_risk") = n_risk, Rcpp::Named("n_event") = event,
      Rcpp::Named("n_censor") = censor, Rcpp::Named("n_subjects") = n_subjects);
}
