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
// Everything returned is an aggregate over rows; R decides what may leave the site.

#include <RcppEigen.h>
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

// eta = x beta + offset for every row (x centred).
Eigen::VectorXd linear_predictor(const Eigen::Map<Eigen::MatrixXd>& x, const Eigen::Map<Eigen::VectorXd>& beta, const Eigen::Map<Eigen::VectorXd>& offset) {
  Eigen::VectorXd eta = offset;
  if (x.cols() > 0) eta.noalias() += x * beta;
  return eta;
}

}  // namespace

// Round 1 of a Newton iteration: per grid position the risk-set sums S0, S1 (p), the sums
// over the deaths there D0, D1 (p), the weighted and unweighted death counts, and two
// totals over the site's deaths: sum w x (p) and sum w eta.
// [[Rcpp::export]]
Rcpp::List partition_cox_sums_cpp(const Eigen::Map<Eigen::MatrixXd> x, const Eigen::Map<Eigen::VectorXd> beta, const Eigen::Map<Eigen::VectorXd> offset,
                                  const Eigen::Map<Eigen::VectorXd> weights, const Eigen::Map<Eigen::VectorXd> status,
                                  const Eigen::Map<Eigen::VectorXi> last, const Eigen::Map<Eigen::VectorXi> entry,
                                  const Eigen::Map<Eigen::VectorXi> bounds) {
  const Index n = x.rows(), p = x.cols();
  const Index ngrid = bounds[bounds.size() - 1];
  const Eigen::VectorXd eta = linear_predictor(x, beta, offset);
  // rows 0 .. p-1: sum w e^eta x ; row p: sum w e^eta  (columns = grid positions)
  Eigen::MatrixXd risk = Eigen::MatrixXd::Zero(p + 1, ngrid);
  Eigen::MatrixXd leave = Eigen::MatrixXd::Zero(p + 1, ngrid);
  Eigen::MatrixXd dead = Eigen::MatrixXd::Zero(p + 1, ngrid);
  Eigen::VectorXd dead_weight = Eigen::VectorXd::Zero(ngrid);
  Eigen::VectorXd dead_count = Eigen::VectorXd::Zero(ngrid);
  Eigen::VectorXd dead_wx = Eigen::VectorXd::Zero(p);
  double dead_weta = 0.0;
  for (Index i = 0; i < n; ++i) {
    const Index g = last[i], e = entry[i];
    if (g < 0 || e >= g) continue;  // at risk at no grid time, and not a death (grid holds deaths)
    const double v = weights[i] * std::exp(eta[i]);
    for (Index j = 0; j < p; ++j) risk(j, g) += v * x(i, j);
    risk(p, g) += v;
    if (e >= 0) {
      for (Index j = 0; j < p; ++j) leave(j, e) += v * x(i, j);
      leave(p, e) += v;
    }
    if (status[i] > 0) {
      for (Index j = 0; j < p; ++j) {
        dead(j, g) += v * x(i, j);
        dead_wx[j] += weights[i] * x(i, j);
      }
      dead(p, g) += v;
      dead_weight[g] += weights[i];
      dead_count[g] += 1.0;
      dead_weta += weights[i] * eta[i];
    }
  }
  reverse_cumsum_blocks(risk, bounds);
  reverse_cumsum_blocks(leave, bounds);
  risk -= leave;
  Eigen::MatrixXd s1 = risk.topRows(p).transpose();
  Eigen::VectorXd s0 = risk.row(p).transpose();
  Eigen::MatrixXd d1 = dead.topRows(p).transpose();
  Eigen::VectorXd d0 = dead.row(p).transpose();
  return Rcpp::List::create(
      Rcpp::Named("s0") = s0, Rcpp::Named("s1") = s1, Rcpp::Named("d0") = d0,
      Rcpp::Named("d1") = d1, Rcpp::Named("dead_weight") = dead_weight,
      Rcpp::Named("dead_count") = dead_count, Rcpp::Named("dead_wx") = dead_wx,
      Rcpp::Named("dead_weta") = dead_weta);
}

// Round 2: the site's share of the information's first part,
//   sum_i w_i e^eta_i x_i x_i' A(i) - sum_{deaths i} w_i e^eta_i x_i x_i' B(t_i),
// where A(i) sums alpha over the grid positions at which row i is at risk.
// [[Rcpp::export]]
Eigen::MatrixXd partition_cox_info_cpp(const Eigen::Map<Eigen::MatrixXd> x, const Eigen::Map<Eigen::VectorXd> beta, const Eigen::Map<Eigen::VectorXd> offset,
                                       const Eigen::Map<Eigen::VectorXd> weights, const Eigen::Map<Eigen::VectorXd> status,
                                       const Eigen::Map<Eigen::VectorXi> last, const Eigen::Map<Eigen::VectorXi> entry,
                                       const Eigen::Map<Eigen::VectorXi> bounds, const Eigen::Map<Eigen::VectorXd> alpha,
                                       const Eigen::Map<Eigen::VectorXd> efron_b) {
  const Index n = x.rows(), p = x.cols();
  const Index nblocks = bounds.size() - 1;
  // cumulative alpha within each stratum block: A(i) = cum[last] - cum[entry]
  Eigen::VectorXd cum = alpha;
  for (Index b = 0; b < nblocks; ++b) {
    for (Index g = static_cast<Index>(bounds[b]) + 1; g < bounds[b + 1]; ++g) cum[g] += cum[g - 1];
  }
  // coef_i = w_i e^eta_i (A(i) - [death] B(t_i)); computed in place over eta
  Eigen::VectorXd coef = linear_predictor(x, beta, offset);
  for (Index i = 0; i < n; ++i) {
    const Index g = last[i], e = entry[i];
    if (g < 0 || e >= g) {
      coef[i] = 0.0;
      continue;
    }
    double a = cum[g] - (e >= 0 ? cum[e] : 0.0);
    if (status[i] > 0) a -= efron_b[g];
    coef[i] = weights[i] * std::exp(coef[i]) * a;
  }
  // x' diag(coef) x in row blocks: matrix-product speed without an n x p temporary.
  Eigen::MatrixXd info = Eigen::MatrixXd::Zero(p, p);
  const Index chunk = 4096;
  for (Index start = 0; start < n; start += chunk) {
    const Index len = std::min(chunk, n - start);
    Eigen::MatrixXd scaled = coef.segment(start, len).asDiagonal() * x.middleRows(start, len);
    info.noalias() += x.middleRows(start, len).transpose() * scaled;
  }
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
  const Index ngrid = bounds[bounds.size() - 1];
  // rows: weighted at risk, unweighted at risk (each with its leave counterpart)
  Eigen::MatrixXd risk = Eigen::MatrixXd::Zero(2 * ngroups, ngrid);
  Eigen::MatrixXd leave = Eigen::MatrixXd::Zero(2 * ngroups, ngrid);
  Eigen::MatrixXd event = Eigen::MatrixXd::Zero(ngrid, ngroups);
  Eigen::MatrixXd censor = Eigen::MatrixXd::Zero(ngrid, ngroups);
  for (Index i = 0; i < n; ++i) {
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
