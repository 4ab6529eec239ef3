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
// The coordinator's side: newton_start_cpp / newton_observe_cpp / newton_advance_cpp run the
// Newton-Raphson of the pooled fit with the single-machine kernel's own generalised Cholesky
// and step-halving rule (ldl.h); R carries their state between protocol rounds.
// Interrupts: the row loops poll for Ctrl-C about every 0.01-0.1 s of work (interrupt.h).

#include <RcppEigen.h>
#include "types.h"
#include "cox_grid.h"
#include "counts_grid.h"
#include "ldl.h"
#include "ties.h"
#include <memory>
#include <cmath>
#include <vector>

// [[Rcpp::depends(RcppEigen)]]

namespace {

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
        rows{coxgrid::Columns(x.data(), x.rows(), x.cols()),
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
// [[Rcpp::export(rng = false)]]
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
// [[Rcpp::export(rng = false)]]
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

// The coordinator's side of round 1: from the pooled sums (rows = grid positions) the log
// partial likelihood, the score, the round-2 request (alpha, efron_b per grid position) and
// aat = sum_t w_t sum_k a_k a_k', the part of the information the sites cannot form. The tie
// handling is the single-machine kernel's (rwe::TieStages, ties.h).
// [[Rcpp::export(rng = false)]]
Rcpp::List partition_cox_terms_cpp(const Eigen::Map<Eigen::VectorXd> s0, const Eigen::Map<Eigen::MatrixXd> s1,
                                   const Eigen::Map<Eigen::VectorXd> d0, const Eigen::Map<Eigen::MatrixXd> d1,
                                   const Eigen::Map<Eigen::VectorXd> dead_weight,
                                   const Eigen::Map<Eigen::VectorXd> dead_count,
                                   const Eigen::Map<Eigen::VectorXd> dead_wx, double dead_weta, bool efron) {
  const Index ngrid = s0.size(), p = s1.cols();
  if (s1.rows() != ngrid || d0.size() != ngrid || d1.rows() != ngrid || d1.cols() != p ||
      dead_weight.size() != ngrid || dead_count.size() != ngrid || dead_wx.size() != p) {
    Rcpp::stop("pooled sums must have one row per grid position and one column per coefficient");
  }
  double loglik = dead_weta;
  Eigen::VectorXd score = dead_wx;
  Eigen::VectorXd alpha = Eigen::VectorXd::Zero(ngrid), efron_b = Eigen::VectorXd::Zero(ngrid);
  Eigen::MatrixXd aat = Eigen::MatrixXd::Zero(p, p);
  for (Index t = 0; t < ngrid; ++t) {
    if (!(dead_count[t] > 0)) continue;
    const auto s1t = s1.row(t);
    const auto d1t = d1.row(t);
    const rwe::TieStages ties = rwe::tie_stages(s0[t], d0[t], dead_count[t], dead_weight[t], efron);
    loglik += ties.loglik();
    ties.subtract_score(score, s1t, d1t);
    alpha[t] = ties.alpha();
    efron_b[t] = ties.efron_b();
    ties.subtract_outer(aat, s1t, d1t);
    rwe::poll_at(t);
  }
  aat = -aat;
  aat.triangularView<Eigen::StrictlyUpper>() = aat.transpose();
  return Rcpp::List::create(Rcpp::Named("loglik") = loglik, Rcpp::Named("score") = score,
                            Rcpp::Named("alpha") = alpha, Rcpp::Named("efron_b") = efron_b,
                            Rcpp::Named("aat") = aat);
}

// The coordinator's information: the sites' summed shares `gross` minus `aat`, with the
// single-machine kernel's rule for a diagonal left at the rounding error of that difference
// (rwe::drop_rounding_information, ldl.h). Contract: both p x p, symmetric, finite.
// [[Rcpp::export(rng = false)]]
Eigen::MatrixXd partition_information_cpp(const Eigen::Map<Eigen::MatrixXd> gross,
                                          const Eigen::Map<Eigen::MatrixXd> aat) {
  Eigen::MatrixXd imat = gross - aat;
  rwe::drop_rounding_information(imat, gross.diagonal());
  return imat;
}

namespace {

// The coordinator's Newton state travels through R as a list (one round of the protocol
// between two calls); these two functions are its only readers and writers.
Rcpp::List newton_state(const rwe::NewtonHalving& nr, double score_test) {
  return Rcpp::List::create(
      Rcpp::Named("beta") = nr.beta, Rcpp::Named("proposal") = nr.proposal,
      Rcpp::Named("accepted") = nr.accepted, Rcpp::Named("loglik") = nr.loglik,
      Rcpp::Named("iter") = nr.iter, Rcpp::Named("iter_max") = nr.iter_max,
      Rcpp::Named("eps") = nr.eps, Rcpp::Named("halving") = nr.halving,
      Rcpp::Named("converged") = nr.converged, Rcpp::Named("overshot") = nr.overshot,
      Rcpp::Named("done") = nr.done(), Rcpp::Named("needs_information") = nr.needs_information(),
      Rcpp::Named("score_test") = score_test);
}

rwe::NewtonHalving newton_from_state(const Rcpp::List& st) {
  const Eigen::VectorXd beta = Rcpp::as<Eigen::VectorXd>(st["beta"]);
  rwe::NewtonHalving nr(beta, Rcpp::as<double>(st["accepted"]), Eigen::VectorXd::Zero(beta.size()),
                        Rcpp::as<int>(st["iter_max"]), Rcpp::as<double>(st["eps"]));
  nr.proposal = Rcpp::as<Eigen::VectorXd>(st["proposal"]);
  nr.loglik = Rcpp::as<double>(st["loglik"]);
  nr.iter = Rcpp::as<int>(st["iter"]);
  nr.halving = Rcpp::as<bool>(st["halving"]);
  nr.converged = Rcpp::as<bool>(st["converged"]);
  nr.overshot = Rcpp::as<bool>(st["overshot"]);
  nr.finished = Rcpp::as<bool>(st["done"]);
  return nr;
}

// At the end of a fit: the variance (inverse information, 0 for aliased columns) and rank.
void add_final(Rcpp::List& out, const rwe::Ldl& f, const Eigen::VectorXd& scale) {
  Rcpp::LogicalVector aliased(f.dg.size());
  for (Index j = 0; j < f.dg.size(); ++j) aliased[j] = f.aliased[j];
  out["var"] = rwe::unscaled_inverse(f, scale);
  out["aliased"] = aliased;
  out["rank"] = static_cast<int>(f.rank);
}

void check_newton_sizes(Index p, const Eigen::Map<Eigen::VectorXd>& score,
                        const Eigen::Map<Eigen::MatrixXd>& imat, const Eigen::Map<Eigen::VectorXd>& scale) {
  if (score.size() != p || imat.rows() != p || imat.cols() != p || scale.size() != p) {
    Rcpp::stop("score, information and scale must match the %d coefficients", static_cast<int>(p));
  }
}

}  // namespace

// The partitioned coordinator's Newton-Raphson, with the very code of the single-machine
// kernel (rwe::NewtonHalving and rwe::Ldl, ldl.h). Start: the pooled log-likelihood, score
// and information at `init` give the first step and the score test; the returned state's
// `proposal` is the next point to evaluate (with `var`, `aliased`, `rank` when iter_max = 0).
// [[Rcpp::export(rng = false)]]
Rcpp::List newton_start_cpp(const Eigen::Map<Eigen::VectorXd> init, double loglik,
                            const Eigen::Map<Eigen::VectorXd> score, const Eigen::Map<Eigen::MatrixXd> imat,
                            const Eigen::Map<Eigen::VectorXd> scale, int iter_max, double eps,
                            double toler_chol) {
  check_newton_sizes(init.size(), score, imat, scale);
  const rwe::Ldl f = rwe::factor_scaled(imat, scale, toler_chol);
  const Eigen::VectorXd step = rwe::newton_step(f, score, scale);
  const rwe::NewtonHalving nr(init, loglik, step, iter_max, eps);
  Rcpp::List out = newton_state(nr, score.dot(step));
  if (nr.done()) add_final(out, f, scale);
  return out;
}

// One evaluation: the pooled log-likelihood at state$proposal decides convergence or halving;
// `needs_information` then says whether newton_advance_cpp() wants score and information there.
// [[Rcpp::export(rng = false)]]
Rcpp::List newton_observe_cpp(const Rcpp::List state, double loglik) {
  rwe::NewtonHalving nr = newton_from_state(state);
  if (nr.done()) Rcpp::stop("the Newton iteration has ended");
  nr.observe(loglik);
  return newton_state(nr, Rcpp::as<double>(state["score_test"]));
}

// Moves to the next point: halves the step, or (with score and information at the proposal)
// accepts it and steps on; at the end adds `var`, `aliased` and `rank` from that information.
// [[Rcpp::export(rng = false)]]
Rcpp::List newton_advance_cpp(const Rcpp::List state, const Eigen::Map<Eigen::VectorXd> score,
                              const Eigen::Map<Eigen::MatrixXd> imat,
                              const Eigen::Map<Eigen::VectorXd> scale, double toler_chol) {
  rwe::NewtonHalving nr = newton_from_state(state);
  Eigen::VectorXd step;
  rwe::Ldl f;
  if (nr.needs_information()) {
    check_newton_sizes(nr.beta.size(), score, imat, scale);
    f = rwe::factor_scaled(imat, scale, toler_chol);
    if (!nr.done()) step = rwe::newton_step(f, score, scale);
  }
  nr.advance(step);
  Rcpp::List out = newton_state(nr, Rcpp::as<double>(state["score_test"]));
  if (nr.done()) add_final(out, f, scale);
  return out;
}

// Kaplan-Meier / log-rank counts per grid position and group, counted on the shared grid
// (counts_grid.h): weighted numbers at risk, of events and of censorings, the same unweighted
// (`n_subjects` = rows at risk, for the min_cell rule) and the sums of squared weights (the
// robust Kaplan-Meier SE). Censorings are counted at `last`, which is their own time when the
// grid holds all times.
// [[Rcpp::export(rng = false)]]
Rcpp::List partition_counts_cpp(const Eigen::Map<Eigen::VectorXd> weights, const Eigen::Map<Eigen::VectorXd> status,
                                const Eigen::Map<Eigen::VectorXi> last, const Eigen::Map<Eigen::VectorXi> entry, const Eigen::Map<Eigen::VectorXi> group,
                                const int ngroups, const Eigen::Map<Eigen::VectorXi> bounds) {
  using countsgrid::CountCells;
  const Index n = weights.size();
  check_site_arrays(n, n, n, status.size(), last, entry, bounds);
  if (group.size() != n || ngroups < 1) Rcpp::stop("one group code per row and ngroups >= 1 are needed");
  for (Index i = 0; i < n; ++i) {
    if (group[i] < 0 || group[i] >= ngroups) {
      Rcpp::stop("row %d has group code %d outside 0..%d", static_cast<int>(i + 1), group[i], ngroups - 1);
    }
  }
  const Index ngrid = bounds[bounds.size() - 1];
  CountCells cells(ngrid, ngroups, true, (entry.array() >= 0).any());
  for (Index i = 0; i < n; ++i) {
    rwe::poll_at(i);
    const Index g = last[i], e = entry[i];
    if (g < 0 || e >= g) continue;  // at risk at no grid time
    cells.add(g, group[i], weights[i], status[i] > 0);
    if (e >= 0) cells.enter(e, group[i], weights[i]);
  }
  enum { RISK, EVENT, CENSOR, RISK_N, EVENT_N, CENSOR_N, RISK_W2, EVENT_W2, CENSOR_W2, NOUT };
  std::vector<Eigen::MatrixXd> out(NOUT, Eigen::MatrixXd::Zero(ngrid, ngroups));
  for (Index b = 0; b + 1 < bounds.size(); ++b) {
    cells.walk_block(bounds[b], bounds[b + 1], [&](Index p, const CountCells::AtRisk& r) {
      for (int k = 0; k < ngroups; ++k) {
        out[RISK](p, k) = r.w(k);
        out[RISK_N](p, k) = r.n(k);
        out[RISK_W2](p, k) = r.w2(k);
        out[EVENT](p, k) = cells.get(p, k, countsgrid::EVENT_W);
        out[EVENT_N](p, k) = cells.get(p, k, countsgrid::EVENT_N);
        out[EVENT_W2](p, k) = cells.get(p, k, countsgrid::EVENT_W2);
        out[CENSOR](p, k) = cells.get(p, k, countsgrid::CENSOR_W);
        out[CENSOR_N](p, k) = cells.get(p, k, countsgrid::CENSOR_N);
        out[CENSOR_W2](p, k) = cells.get(p, k, countsgrid::CENSOR_W2);
      }
    });
  }
  return Rcpp::List::create(
      Rcpp::Named("n_risk") = out[RISK], Rcpp::Named("n_event") = out[EVENT],
      Rcpp::Named("n_censor") = out[CENSOR], Rcpp::Named("n_subjects") = out[RISK_N],
      Rcpp::Named("n_event_rows") = out[EVENT_N], Rcpp::Named("n_censor_rows") = out[CENSOR_N],
      Rcpp::Named("n_risk_w2") = out[RISK_W2], Rcpp::Named("n_event_w2") = out[EVENT_W2],
      Rcpp::Named("n_censor_w2") = out[CENSOR_W2]);
}
