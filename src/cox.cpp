// Cox proportional-hazards kernel: Newton-Raphson on the log partial likelihood, computed on
// an event-time grid (the design shared with the multi-site kernels of partition.cpp).
//
// Contract (the R callers in R/cox.R guarantee it; nothing here re-validates):
// * `x` is n x p (double, finite, no NA) in the ORIGINAL row order and is never copied: each
//   pass reads it in blocks of rows, centred on the fly into a small cache-resident buffer.
//   It is a double matrix or a list of p double vectors of length n, its columns (cox_fit()
//   sends a data frame's numeric columns as they are, rather than a model matrix built from
//   them: the kernels only ever read x a column at a time).
// * `weights`, `offset` and `strata` have length n, or length 0 for unit weights, no offset
//   and one stratum (so that R does not materialise n ones, zeros and stratum codes).
// * `time`, `status` (0/1), `weights` (finite, >= 0), `offset` (finite), `strata` (codes
//   1..S) and, for counting-process data, `start` (< time) are in the original row order;
//   near-equal times are already merged, so equal times compare equal.
// * `placement` says where each row sits in time, used once to place the rows on the grid:
//   either `time_rank`, `start_rank` (counting process; 1-based ranks among the distinct
//   times and start times together) and `ntimes`, for a counting pass over a table of
//   nstrata * ntimes (stratum, rank) keys (R sends ranks only when that is a small multiple
//   of n); or `ord` (0-based, rows sorted by stratum, then time ascending,
//   events before censorings at equal times) and, for counting-process data, `start_order`
//   (sorted by stratum, then start ascending).
// * `means` are the centring constants (0 for columns that are not centred); `doscale` marks
//   the centred columns, which are also scaled by (sum w) / (sum w |x - mean|) for the rank
//   decisions of the Cholesky decomposition only (so that they do not depend on units).
// * Any scale is accepted: a centred column whose spread is outside 2^-64 .. 2^64 is refitted
//   multiplied by an exact power of two (applied as the rows are read; x is still not copied),
//   so the results are those of the original units exactly (column_rescaling()). Weights far
//   from 1 are divided by a power of two in R (weight_scale()) and the results mapped back.
// * Interrupts: every row pass polls for Ctrl-C about every 2^21 multiply-adds, on the
//   calling thread only (interrupt.h); worker threads see a shared flag and stop early.
//
// The grid holds the distinct event times of each stratum, stratum after stratum. A row is at
// risk at the grid positions entry+1 .. last (start < t <= time): `last` is the largest grid
// time <= its time in its stratum, `entry` the largest <= its start (-1 if none). One Newton
// step is two passes over the rows:
//   1. risk-set sums: each row's w exp(eta) (and times x) is added to the bucket of its `last`
//      position (subtracted at `entry`), deaths also to death buckets; a reverse cumulative sum
//      per stratum turns buckets into risk-set sums S0, S1 at every event time. From those
//      come the log partial likelihood, the score, and two coefficients per event time.
//   2. information: sum_t c_t S2(t) = sum_i w_i exp(eta_i) A_i x_i x_i', where A_i sums the
//      coefficients over the times row i is at risk: one weighted cross-product of x (done
//      a cache-resident block of rows at a time), minus O(p^2) terms per event time.
// Neither pass sorts or copies x; the cost is O(n p^2) multiply-adds in dense blocks. The
// row-level code of both passes is in cox_grid.h, shared with the multi-site kernels. With
// `threads` > 1 (and enough rows) contiguous row ranges are summed on separate threads, as
// sites are, and added.
// Rows with zero weight contribute nothing, and do not count as tied deaths for Efron.

#include <RcppEigen.h>
#include "types.h"
#include "cox_grid.h"
#include "ldl.h"
#include "ties.h"
#include <algorithm>
#include <cmath>
#include <exception>
#include <thread>
#include <vector>

// [[Rcpp::depends(RcppEigen)]]

namespace {

using namespace coxgrid;
using rwe::Ldl;
using rwe::factor_scaled;
using rwe::newton_step;
using rwe::unscaled_inverse;

// From integer keys: a table over all (stratum, time rank) keys marks the keys of events; one
// scan in key order numbers the grid positions and carries the latest one forward, so that the
// table maps every key to the largest grid position at or before it in its stratum. O(n + nkeys)
// with sequential or cache-resident memory traffic only.
Grid grid_from_keys(const CoxRows& rows, const double* time, const int* strata,
                    const int* time_rank, const int* start_rank, Index ntimes, Index nstrata) {
  const Index n = rows.n();
  const Index nkeys = ntimes * nstrata;
  // strata null: one stratum
  auto key = [&](Index i, const int* rank) {
    return (strata != nullptr ? (strata[i] - 1) * ntimes : 0) + rank[i] - 1;
  };
  std::vector<int> table(nkeys, -1);  // first event row of each key, then its grid position
  for (Index i = 0; i < n; ++i) {
    rwe::poll_at(i);
    const Index k = key(i, time_rank);
    if (rows.status[i] > 0 && table[k] < 0) table[k] = static_cast<int>(i);
  }
  Grid g;
  g.bounds.assign(nstrata + 1, 0);
  int cur = -1;
  for (Index k = 0; k < nkeys; ++k) {
    rwe::poll_at(k);
    if (k % ntimes == 0) {
      g.bounds[k / ntimes] = static_cast<Index>(g.time.size());
      cur = -1;
    }
    if (table[k] >= 0) {
      g.time.push_back(time[table[k]]);
      cur = static_cast<int>(static_cast<Index>(g.time.size()) - 1);
    }
    table[k] = cur;
  }
  g.bounds[nstrata] = static_cast<Index>(g.time.size());
  g.last.resize(n);
  for (Index i = 0; i < n; ++i) {
    rwe::poll_at(i);
    g.last[i] = table[key(i, time_rank)];
  }
  if (start_rank == nullptr) return g;
  g.counting = true;
  g.entry.resize(n);
  for (Index i = 0; i < n; ++i) {
    rwe::poll_at(i);
    g.entry[i] = table[key(i, start_rank)];
  }
  return g;
}

// One walk over the rows in `ord` order makes the grid and every row's `last`; a second walk
// in `start_order` order finds `entry` by advancing a pointer through the stratum's grid.
Grid build_grid(const CoxRows& rows, const double* time, const int* strata, const int* ord,
                Index nstrata, const double* start, const int* start_order) {
  const Index n = rows.n();
  Grid g;
  g.last.assign(n, -1);
  g.bounds.assign(nstrata + 1, 0);
  Index stratum = 0, cur = -1;  // stratum of the previous row (1-based), its last grid position
  for (Index k = 0; k < n; ++k) {
    rwe::poll_at(k);
    const Index i = ord[k];
    const Index h = strata != nullptr ? strata[i] : 1;
    if (h != stratum) {
      for (Index s = stratum; s < h; ++s) g.bounds[s] = static_cast<Index>(g.time.size());  // blocks up to h start here
      stratum = h;
      cur = -1;
    }
    if (rows.status[i] > 0 && (cur < 0 || g.time[cur] != time[i])) {
      g.time.push_back(time[i]);
      cur = static_cast<Index>(g.time.size()) - 1;
    }
    g.last[i] = static_cast<int>(cur);
  }
  for (Index s = stratum; s <= nstrata; ++s) g.bounds[s] = static_cast<Index>(g.time.size());
  if (start == nullptr) return g;
  g.counting = true;
  g.entry.assign(n, -1);
  stratum = 0;
  Index q = -1;
  for (Index k = 0; k < n; ++k) {
    rwe::poll_at(k);
    const Index i = start_order[k];
    const Index h = strata != nullptr ? strata[i] : 1;
    if (h != stratum) {
      stratum = h;
      q = g.bounds[h - 1] - 1;
    }
    while (q + 1 < g.bounds[h] && g.time[q + 1] <= start[i]) ++q;
    g.entry[i] = q >= g.bounds[h - 1] ? static_cast<int>(q) : -1;
  }
  return g;
}

// The grid from whichever placement R sent (see the header comment).
Grid place_rows(const CoxRows& rows, const double* time, const int* strata, Index nstrata,
                const double* start, const Rcpp::List& placement) {
  if (placement.containsElementNamed("time_rank")) {
    const Rcpp::IntegerVector time_rank = placement["time_rank"];
    const Rcpp::IntegerVector start_rank = start != nullptr
      ? Rcpp::as<Rcpp::IntegerVector>(placement["start_rank"]) : Rcpp::IntegerVector(0);
    const Index ntimes = Rcpp::as<int>(placement["ntimes"]);
    return grid_from_keys(rows, time, strata, time_rank.begin(),
                          start != nullptr ? start_rank.begin() : nullptr, ntimes, nstrata);
  }
  const Rcpp::IntegerVector ord = placement["ord"];
  const Rcpp::IntegerVector start_order = start != nullptr
    ? Rcpp::as<Rcpp::IntegerVector>(placement["start_order"]) : Rcpp::IntegerVector(0);
  return build_grid(rows, time, strata, ord.begin(), nstrata, start,
                    start != nullptr ? start_order.begin() : nullptr);
}

// Rows are split into contiguous ranges, one per thread: each thread is a partition with its
// own buckets (pass 1) or its own p x p sum (pass 2), added up afterwards, exactly as the
// multi-site fit adds sites. No R API is touched off the main thread.
struct ThreadState {
  CentredBlocks blocks;
  GridSums sums;
  MatrixXd first;      // pass 2 partial sum
  VectorXd deviation;  // first pass: sum w |x - mean|
  Index begin, end;
  ThreadState(const CoxRows& d, const Grid& g, Index b, Index e)
      : blocks(d), sums(d.p(), g.size(), g.counting), first(d.p(), d.p()),
        deviation(VectorXd::Zero(d.p())), begin(b), end(e) {}
};

// Runs work(state, stop, main_thread) for every thread state, states[0] on the calling
// thread; rethrows the first exception after all threads have joined, then a user interrupt
// (which only the calling thread polls, through `stop`; the others see the flag and return).
template <typename Work>
void run_threads(std::vector<ThreadState>& states, Work work) {
  std::vector<std::exception_ptr> errors(states.size());
  std::vector<std::thread> threads;
  rwe::StopFlag stop;
  for (std::size_t t = 1; t < states.size(); ++t) {
    threads.emplace_back([&, t]() {
      try { work(states[t], &stop, false); } catch (...) { errors[t] = std::current_exception(); }
    });
  }
  try { work(states[0], &stop, true); } catch (...) { errors[0] = std::current_exception(); }
  for (auto& th : threads) th.join();
  for (auto& e : errors) if (e) std::rethrow_exception(e);
  stop.rethrow();
}

std::vector<ThreadState> make_thread_states(const CoxRows& d, const Grid& g, int nthreads) {
  // Below ~50,000 rows per thread, starting threads costs more than it saves.
  const Index useful = std::max<Index>(1, d.n() / 50000);
  const Index k = std::max<Index>(1, std::min<Index>(nthreads, useful));
  std::vector<ThreadState> states;
  states.reserve(k);
  for (Index t = 0; t < k; ++t) states.emplace_back(d, g, d.n() * t / k, d.n() * (t + 1) / k);
  return states;
}

void add_sums(GridSums& to, const GridSums& from) {
  to.risk += from.risk; to.leave += from.leave; to.dead += from.dead;
  for (std::size_t t = 0; t < to.nrisk.size(); ++t) {
    to.nrisk[t] += from.nrisk[t];
    to.nleave[t] += from.nleave[t];
  }
  to.dead_weight += from.dead_weight; to.dead_count += from.dead_count;
  to.dead_wx += from.dead_wx; to.dead_weta += from.dead_weta;
}

struct PassResult {
  double loglik = 0;
  VectorXd u;          // score
  MatrixXd imat;       // information (after pass 2)
  VectorXd alpha, bterm;  // per grid position: coefficients of S2(t) and of the deaths' D2(t)
  PassResult(Index p, Index ngrid)
      : u(VectorXd::Zero(p)), imat(MatrixXd::Zero(p, p)), alpha(ngrid), bterm(ngrid) {}
};

// Contribution of the event time at grid position t (tie handling: rwe::TieStages, ties.h).
// The S2 and D2 terms are left to pass 2 as the coefficients alpha_t and bterm_t.
void accumulate_event_time(const GridSums& s, Index t, bool efron, PassResult& res) {
  res.alpha[t] = res.bterm[t] = 0;
  const double ndeath = s.dead_count[t];
  if (ndeath <= 0) return;
  const Index p = res.u.size();
  const auto s1 = s.risk.col(t).head(p);
  const auto d1 = s.dead.col(t).head(p);
  const rwe::TieStages ties = rwe::tie_stages(s.risk(p, t), s.dead(p, t), ndeath,
                                              s.dead_weight[t], efron);
  res.loglik += ties.loglik();
  ties.subtract_score(res.u, s1, d1);
  res.alpha[t] = ties.alpha();
  res.bterm[t] = ties.efron_b();
  ties.subtract_outer(res.imat, s1, d1);
}

// Pass 1: log partial likelihood, score, the per-time coefficients and the product terms of
// the information (lower triangle).
void risk_set_pass(const CoxRows& d, const Grid& g, const VectorXd& beta, bool efron,
                   std::vector<ThreadState>& states, Eigen::Map<VectorXd> eta, std::vector<double>& risk,
                   PassResult& res, bool deviation) {
  run_threads(states, [&](ThreadState& st, rwe::StopFlag* stop, bool main_thread) {
    st.sums.clear();
    bucket_rows(d, g, beta, st.begin, st.end, st.blocks, st.sums, eta, risk,
                deviation ? &st.deviation : nullptr, stop, main_thread);
  });
  GridSums& s = states[0].sums;
  for (std::size_t t = 1; t < states.size(); ++t) add_sums(s, states[t].sums);
  cumulate_risk_sets(g, s);
  res.loglik = s.dead_weta;
  res.u = s.dead_wx;
  res.imat.setZero();
  for (Index t = 0; t < g.size(); ++t) accumulate_event_time(s, t, efron, res);
}

// Pass 2: adds sum_i w_i exp(eta_i) (A_i - [death] bterm) x_i x_i' to the information, where
// A_i sums alpha over the positions at which row i is at risk (prefix sums per stratum).
void information_pass(const CoxRows& d, const Grid& g, std::vector<ThreadState>& states,
                      const std::vector<double>& risk, PassResult& res) {
  std::vector<double> hi, lo;
  alpha_prefix_sums(g, res.alpha, hi, lo);
  run_threads(states, [&](ThreadState& st, rwe::StopFlag* stop, bool main_thread) {
    add_weighted_crossprod(d, g, risk, hi, lo, res.bterm, st.begin, st.end, st.blocks, st.first,
                           stop, main_thread);
  });
  VectorXd gross = VectorXd::Zero(res.imat.rows());
  for (const ThreadState& st : states) {
    res.imat.triangularView<Eigen::Lower>() += st.first;
    gross += st.first.diagonal();
  }
  res.imat.triangularView<Eigen::StrictlyUpper>() = res.imat.transpose();
  rwe::drop_rounding_information(res.imat, gross);
}

// Scales from the column deviations sum w |x - mean| (accumulated by the first pass).
VectorXd column_scales(const CoxRows& d, const VectorXd& deviation,
                       const Rcpp::LogicalVector& doscale) {
  VectorXd scale = VectorXd::Ones(d.p());
  const double wsum = d.weight_sum();
  for (Index j = 0; j < d.p(); ++j) {
    if (doscale[j] && deviation[j] > 0) scale[j] = wsum / deviation[j];
  }
  return scale;
}

// Columns far from unit scale (mean absolute deviation outside 2^-64 .. 2^64, e.g. a
// covariate recorded 1e160 times too large) would overflow or underflow the information
// (a sum of squares); survival rescales every column internally for the same reason. Such
// columns get an exact power-of-two factor that brings their spread to [1, 2): multiplying
// by 2^k is exact, so the fit of the rescaled columns is the fit of the original ones with
// coefficients divided by 2^k. Returns the factors, or an empty vector when no column needs
// one (the usual case, in which x is read as it is).
VectorXd column_rescaling(const CoxRows& d, const VectorXd& deviation,
                          const Rcpp::LogicalVector& doscale) {
  const double wsum = d.weight_sum();
  const double lo = std::ldexp(1.0, -64), hi = std::ldexp(1.0, 64);
  VectorXd factor = VectorXd::Ones(d.p());
  bool any = false;
  for (Index j = 0; j < d.p(); ++j) {
    if (!doscale[j] || !(wsum > 0)) continue;
    double spread = deviation[j] / wsum;
    if (!std::isfinite(spread)) {  // the sum itself overflowed: the largest deviation will do
      spread = (d.x.col(j).array() - d.means[j]).abs().maxCoeff();
    }
    if (!std::isfinite(spread) || !(spread > 0) || (spread >= lo && spread <= hi)) continue;
    factor[j] = std::ldexp(1.0, -std::ilogb(spread));
    any = true;
  }
  return any ? factor : VectorXd();
}

// Everything a Newton evaluation needs, allocated once per fit.
struct Workspace {
  std::vector<ThreadState> states;
  Eigen::Map<VectorXd> eta;  // linear predictor of every row at the current beta (R's memory)
  std::vector<double> risk;  // w exp(eta) of every row at the current beta
  PassResult res;
  Workspace(const CoxRows& d, const Grid& g, int nthreads, double* eta_out)
      : states(make_thread_states(d, g, nthreads)), eta(eta_out, d.n()), risk(d.n()),
        res(d.p(), g.size()) {}
};

struct NewtonResult {
  VectorXd beta;       // final coefficients (where loglik, score and factor were evaluated)
  VectorXd score;
  VectorXd scale;      // column scales of the rank decisions
  Ldl factor;          // of the scaled information at beta
  double loglik_init, loglik, score_test;
  int iter;
  bool converged;
  VectorXd rescale;    // non-empty: refit with these column factors (see column_rescaling())
};

// Newton-Raphson with step halving (rwe::NewtonHalving, ldl.h: survival's control flow): a
// pass at `init` (initial log-likelihood and score test), then up to iter_max passes. The
// information (pass 2) is computed only where a step or the final variance needs it.
NewtonResult newton_raphson(const CoxRows& d, const Grid& g, const VectorXd& init,
                            const Rcpp::LogicalVector& doscale, bool efron, int iter_max,
                            double eps, double toler_chol, int nthreads, double* eta_out,
                            bool may_rescale) {
  Workspace ws(d, g, nthreads, eta_out);
  PassResult& res = ws.res;
  auto evaluate = [&](const VectorXd& beta, bool information, bool deviation) {
    risk_set_pass(d, g, beta, efron, ws.states, ws.eta, ws.risk, res, deviation);
    if (information) information_pass(d, g, ws.states, ws.risk, res);
  };
  VectorXd beta = init;
  evaluate(beta, true, true);
  VectorXd deviation = VectorXd::Zero(d.p());
  for (const ThreadState& st : ws.states) deviation += st.deviation;
  const VectorXd scale = column_scales(d, deviation, doscale);
  const double loglik_init = res.loglik;
  Ldl factor = factor_scaled(res.imat, scale, toler_chol);
  const VectorXd step = newton_step(factor, res.u, scale);
  const double score_test = res.u.dot(step);
  VectorXd rescale = may_rescale ? column_rescaling(d, deviation, doscale) : VectorXd();
  if (rescale.size() > 0) iter_max = 0;  // the caller refits with rescaled columns
  rwe::NewtonHalving nr(beta, loglik_init, step, iter_max, eps);
  while (!nr.done()) {
    Rcpp::checkUserInterrupt();
    evaluate(nr.proposal, false, false);
    nr.observe(res.loglik);
    VectorXd next;
    if (nr.needs_information()) {
      information_pass(d, g, ws.states, ws.risk, res);
      factor = factor_scaled(res.imat, scale, toler_chol);
      if (!nr.done()) next = newton_step(factor, res.u, scale);
    }
    nr.advance(next);
  }
  return NewtonResult{nr.proposal, res.u, scale, factor, loglik_init, nr.loglik, score_test,
                      nr.iter, nr.converged, rescale};
}

}  // namespace

// x as R sends it (see the header comment): a double matrix, or a list of double vectors,
// its columns. Only the shape is checked (R has checked the values); n is the row count
// (negative: taken from x).
static Columns columns_from_r(SEXP x, Index n) {
  if (n < 0) {
    n = TYPEOF(x) == VECSXP ? (XLENGTH(x) > 0 ? XLENGTH(VECTOR_ELT(x, 0)) : 0)
                            : (Rf_isMatrix(x) ? Rf_nrows(x) : -1);
  }
  if (TYPEOF(x) == REALSXP && Rf_isMatrix(x) && Rf_nrows(x) == n) {
    return Columns(REAL(x), n, Rf_ncols(x));
  }
  if (TYPEOF(x) != VECSXP) Rcpp::stop("x must be a double matrix or a list of double columns");
  std::vector<const double*> ptr(static_cast<std::size_t>(XLENGTH(x)));
  for (std::size_t j = 0; j < ptr.size(); ++j) {
    SEXP col = VECTOR_ELT(x, static_cast<R_xlen_t>(j));
    if (TYPEOF(col) != REALSXP || XLENGTH(col) != n) {
      Rcpp::stop("x must be a double matrix or a list of double columns of length %d",
                 static_cast<int>(n));
    }
    ptr[j] = REAL(col);
  }
  return Columns(std::move(ptr), n);
}

// Fits the Cox model. Returns the coefficients (on the scale of the covariates), the inverse
// information at them (0 rows/columns for aliased columns), the log partial likelihood at
// `init` and at the end, the score test at `init`, the score at the end, the iteration count,
// convergence, the rank, the aliased columns, the linear predictors (original order) and
// the number of events.
// The caller decides what to warn about.
// [[Rcpp::export(rng = false)]]
Rcpp::List cox_newton_cpp(SEXP x, const Eigen::Map<Eigen::VectorXd> time,
                          const Eigen::Map<Eigen::VectorXd> status,
                          const Eigen::Map<Eigen::VectorXd> weights,
                          const Eigen::Map<Eigen::VectorXd> offset,
                          const Rcpp::IntegerVector strata, int nstrata,
                          const Rcpp::Nullable<Rcpp::NumericVector> start,
                          const Rcpp::List placement,
                          const Eigen::Map<Eigen::VectorXd> means,
                          const Rcpp::LogicalVector doscale,
                          const Eigen::Map<Eigen::VectorXd> init, bool efron, int iter_max,
                          double eps, double toler_chol, int threads) {
  const bool counting = start.isNotNull();
  Rcpp::NumericVector start_v = counting ? Rcpp::NumericVector(start) : Rcpp::NumericVector(0);
  const CoxRows d{columns_from_r(x, time.size()),
                  ConstMapVec(status.data(), status.size()),
                  ConstMapVec(weights.data(), weights.size()),
                  ConstMapVec(offset.data(), offset.size()),
                  ConstMapVec(means.data(), means.size()), nullptr};
  const Grid g = place_rows(d, time.data(), strata.size() > 0 ? strata.begin() : nullptr, nstrata,
                            counting ? start_v.begin() : nullptr, placement);
  // The linear predictors are written straight into the R vector that is returned.
  Rcpp::NumericVector lp(d.n());
  NewtonResult fit = newton_raphson(d, g, init, doscale, efron, iter_max, eps, toler_chol,
                                    threads, lp.begin(), true);
  // Rescaled columns: the same fit in units of x * factor (exact), coefficients mapped back.
  VectorXd factor = VectorXd::Ones(d.p());
  VectorXd rescaled_means;
  if (fit.rescale.size() > 0) {
    factor = fit.rescale;
    rescaled_means = means.cwiseProduct(factor);
    const CoxRows scaled{d.x, d.status, d.weights, d.offset,
                         ConstMapVec(rescaled_means.data(), rescaled_means.size()), factor.data()};
    fit = newton_raphson(scaled, g, init.cwiseQuotient(factor), doscale, efron, iter_max, eps,
                         toler_chol, threads, lp.begin(), false);
  }
  Rcpp::LogicalVector aliased(d.p());
  for (Index j = 0; j < d.p(); ++j) aliased[j] = fit.factor.aliased[j];
  // The next Newton step var %*% score, in coefficient units: R's test for coefficients that
  // may be infinite uses it (var itself can leave the double range when a covariate's scale is
  // extreme).
  const VectorXd step = newton_step(fit.factor, fit.score, fit.scale).cwiseProduct(factor);
  return Rcpp::List::create(
    Rcpp::Named("coefficients") = fit.beta.cwiseProduct(factor),
    Rcpp::Named("var") = factor.asDiagonal() * unscaled_inverse(fit.factor, fit.scale) *
                         factor.asDiagonal(),
    Rcpp::Named("loglik") = Rcpp::NumericVector::create(fit.loglik_init, fit.loglik),
    Rcpp::Named("score_test") = fit.score_test,
    Rcpp::Named("score") = fit.score.cwiseQuotient(factor),
    Rcpp::Named("newton_step") = step,
    Rcpp::Named("iter") = fit.iter,
    Rcpp::Named("converged") = fit.converged,
    Rcpp::Named("rank") = static_cast<int>(fit.factor.rank),
    Rcpp::Named("aliased") = aliased,
    Rcpp::Named("linear_predictors") = lp,
    Rcpp::Named("nevent") = static_cast<double>((status.array() > 0).count()));
}

// Quadratic form b' V^- b with the same generalised LDL' decomposition (Wald test); also
// returns the rank of V.
// [[Rcpp::export(rng = false)]]
Rcpp::List cox_wald_cpp(const Eigen::Map<Eigen::MatrixXd> v, const Eigen::Map<Eigen::VectorXd> b,
                        double toler_chol) {
  const Ldl f(v, toler_chol);
  const VectorXd sol = f.solve(b);
  return Rcpp::List::create(Rcpp::Named("test") = b.dot(sol),
                            Rcpp::Named("rank") = static_cast<int>(f.rank));
}

// The Wald test of coef = init over the coefficients that are not NA (aliased), as
// cox_wald_test() reports it: b' V^- b with the generalised LDL' of V, after scaling each
// coordinate by an exact power of two near 1 / sd (so that the rank decisions do not depend on
// the covariates' units; the statistic itself does not change). A variance with a value
// outside the double range has no test (NA). `init` of length 0: zeros. Returns the statistic
// and its degrees of freedom (the number of coefficients kept).
// [[Rcpp::export(rng = false)]]
Rcpp::List cox_wald_test_cpp(const Eigen::Map<Eigen::MatrixXd> var,
                             const Eigen::Map<Eigen::VectorXd> coef,
                             const Eigen::Map<Eigen::VectorXd> init, double toler_chol) {
  std::vector<Index> keep;
  for (Index j = 0; j < coef.size(); ++j) if (!std::isnan(coef[j])) keep.push_back(j);
  const Index m = static_cast<Index>(keep.size());
  if (m == 0) {
    return Rcpp::List::create(Rcpp::Named("statistic") = 0.0, Rcpp::Named("df") = 0);
  }
  MatrixXd v(m, m);
  VectorXd b(m), d(m);
  bool finite = true;
  for (Index a = 0; a < m; ++a) {
    b[a] = coef[keep[a]] - (init.size() > 0 ? init[keep[a]] : 0.0);
    for (Index c = 0; c < m; ++c) {
      v(a, c) = var(keep[a], keep[c]);
      finite &= std::isfinite(v(a, c));
    }
  }
  if (!finite) {
    return Rcpp::List::create(Rcpp::Named("statistic") = NA_REAL,
                              Rcpp::Named("df") = static_cast<int>(m));
  }
  for (Index a = 0; a < m; ++a) {
    const double sd = std::sqrt(v(a, a));
    d[a] = sd > 0 && std::isfinite(sd) ? std::exp2(-std::nearbyint(std::log2(sd))) : 1.0;
  }
  v = d.asDiagonal() * v * d.asDiagonal();  // exact: the d are powers of two
  const VectorXd bd = b.cwiseProduct(d);
  const Ldl f(v, toler_chol);
  return Rcpp::List::create(Rcpp::Named("statistic") = bd.dot(f.solve(bd)),
                            Rcpp::Named("df") = static_cast<int>(m));
}

namespace {

// An exact power of two at or below |v| (v finite, non-zero).
double pow2_floor(double v) { return std::ldexp(1.0, std::ilogb(v)); }

// Plain and weighted means of a column whose sums overflow: the column and the weights are
// divided by exact powers of two near their largest values first, so that no sum overflows.
template <typename Col, typename Weights>
void scaled_means(const Col& col, const Weights& weights, double& mean, double& wmean) {
  const double top = col.cwiseAbs().maxCoeff(), wtop = weights.maxCoeff();
  if (!std::isfinite(top) || !(top > 0) || !(wtop > 0)) return;
  const double cx = pow2_floor(top), cw = pow2_floor(wtop);
  const VectorXd z = col / cx, w = weights / cw;
  mean = z.sum() / static_cast<double>(z.size()) * cx;
  wmean = z.dot(w) / w.sum() * cx;
}

}  // namespace

// Column summaries for the R callers: the first non-finite entry (1-based row and column, 0
// if none), the columns coded only -1/0/1 (survival::coxph does not centre those indicators),
// and the weighted and unweighted column means. The sums run first (vectorisable); a
// non-finite sum sends the column through a scan for the offending entry.
// [[Rcpp::export(rng = false)]]
Rcpp::List cox_column_summary_cpp(SEXP x_r, const Eigen::Map<Eigen::VectorXd> weights) {
  const Columns x = columns_from_r(x_r, weights.size() > 0 ? weights.size() : -1);
  const Index n = x.rows(), p = x.cols();
  Rcpp::LogicalVector zero_one(p);
  Rcpp::NumericVector wmeans(p), means(p);
  int bad_row = 0, bad_col = 0;
  const bool weighted = weights.size() > 0;  // length 0: unit weights (the sum of the ones)
  const double wsum = weighted ? weights.sum() : static_cast<double>(n);
  for (Index j = 0; j < p; ++j) {
    const double sum = x.col(j).sum();
    const double wsum_x = weighted ? x.col(j).dot(weights) : x.col(j).dot(VectorXd::Ones(n));
    if (!std::isfinite(sum) || !std::isfinite(wsum_x)) {
      for (Index i = 0; i < n; ++i) {
        if (std::isfinite(x(i, j))) continue;
        bad_row = static_cast<int>(i + 1);
        bad_col = static_cast<int>(j + 1);
        break;
      }
      if (bad_row > 0) break;
    }
    bool coded = true;
    for (Index i = 0; i < n && coded; ++i) {
      const double v = x(i, j);
      coded = (v == 0.0 || v == 1.0 || v == -1.0);
    }
    zero_one[j] = coded;
    means[j] = sum / static_cast<double>(n);
    wmeans[j] = wsum_x / wsum;
    if (!std::isfinite(means[j]) || !std::isfinite(wmeans[j])) {
      // finite entries whose sums overflow (|x| or weights near the double range)
      if (weighted) scaled_means(x.col(j), weights, means[j], wmeans[j]);
      else scaled_means(x.col(j), VectorXd::Ones(n), means[j], wmeans[j]);
    }
    rwe::poll_interrupt();
  }
  return Rcpp::List::create(Rcpp::Named("bad_row") = bad_row, Rcpp::Named("bad_col") = bad_col,
                            Rcpp::Named("zero_one") = zero_one,
                            Rcpp::Named("weighted_means") = wmeans,
                            Rcpp::Named("means") = means);
}
