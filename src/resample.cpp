// Resampling engine: bootstrap replicates of a Cox fit (coefficients; Harrell's validation of
// Dxy and the calibration slope) and of Kaplan-Meier summaries, and Monte Carlo relabelings
// of the log-rank test, all in C++ over ONE sorted copy of the data, with the resample of each
// replicate expressed as integer case counts (how often each row was drawn).
//
// Contract (R/resample.R guarantees it; nothing here re-validates):
// * Cox: `x` is n x p (finite doubles), `time`, `status` (0/1), `offset` (finite) and
//   `strata` (codes 1..S) are ALREADY SORTED by stratum, then time descending; `pos[i]` is
//   the 0-based sorted position of original row i (so that drawn indices, which name original
//   rows, become counts on the sorted rows). Near-equal times are already merged.
// * KM: `time` (finite), `status` (0/1) and `group` (codes 1..k) are sorted by group, then time
//   ascending; `pos` as above; `tau` > 0 is the RMST horizon of every group.
// * Log-rank: `time`, `status`, `group` (codes 1..k) and `strata` (codes 1..S) sorted by
//   stratum, then time descending; no weights.
// * `seed` is a whole number in [0, 2^53); `B` >= 1; `threads` >= 1.
//
// Random numbers (documented in ?resample_indices): replicate b (1-based) draws its n row
// indices with its own std::mt19937_64, seeded with splitmix64 mixing of (seed, b); an index
// is a Lemire multiply-shift draw on [0, n) with rejection (unbiased). A replicate therefore
// depends on (seed, b, n) only, never on the thread that computes it or on the others: the
// results are bitwise identical for any number of threads, and resample_indices_cpp()
// regenerates the very same indices for checks.
//
// Cox with integer counts c_i is the fit to the data set with row i repeated c_i times: the
// risk sets and Breslow terms are weighted sums, and the Efron correction treats the m = sum c
// deaths at a time as m tied deaths (m stages, each of weight 1), which is what coxph does on
// the repeated rows. (coxph's own case weights differ for Efron: it uses d = number of distinct
// death ROWS with their mean weight; integer counts are not case weights in that sense.)
// Newton-Raphson follows survival's control flow (as src/cox.cpp): covariates other than
// -1/0/1 columns centred and scaled by sum c / sum c |x - mean| of the replicate, start at 0,
// convergence when |1 - loglik / previous| <= eps outside a halving, a decrease halves the
// step, generalised LDL' with tolerance toler_chol (aliased columns give NA).
//
// Threads: replicates are handed out through an atomic counter to std::threads that touch no
// R API; the calling thread computes replicates too and checks for interrupts between them
// (about every 0.1 s); on an interrupt the workers stop at their next replicate.

#include <RcppEigen.h>
#include "types.h"
#include "ldl.h"
#include "ties.h"
#include "counts_grid.h"
#include "logrank_stat.h"
#include "km_summary.h"
#include "concordance.h"
#include "interrupt.h"
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <exception>
#include <random>
#include <thread>
#include <vector>

namespace {

// ---- random indices --------------------------------------------------------------------

std::uint64_t splitmix64(std::uint64_t z) {
  z += 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

std::uint64_t replicate_seed(std::uint64_t seed, std::uint64_t b) {
  return splitmix64(splitmix64(seed) ^ splitmix64(b + 0x632BE59BD9B4E019ULL));
}

__extension__ typedef unsigned __int128 u128;  // GCC/Clang extension: 64 x 64 -> 128 bits

// Unbiased draw on [0, n): Lemire's multiply-shift with rejection of the biased low range.
std::uint64_t draw_below(std::mt19937_64& eng, std::uint64_t n) {
  u128 m = static_cast<u128>(eng()) * n;
  std::uint64_t low = static_cast<std::uint64_t>(m);
  if (low < n) {
    const std::uint64_t threshold = (0 - n) % n;
    while (low < threshold) {
      m = static_cast<u128>(eng()) * n;
      low = static_cast<std::uint64_t>(m);
    }
  }
  return static_cast<std::uint64_t>(m >> 64);
}

// Counts on the sorted rows of replicate b (1-based): how often each row was drawn.
void draw_counts(std::uint64_t seed, std::uint64_t b, const int* pos, Index n,
                 std::vector<double>& counts) {
  std::mt19937_64 eng(replicate_seed(seed, b));
  std::fill(counts.begin(), counts.end(), 0.0);
  for (Index k = 0; k < n; ++k) counts[pos[draw_below(eng, static_cast<std::uint64_t>(n))]] += 1;
}

// ---- threads ---------------------------------------------------------------------------

// Runs work(b, state) for b = 0 .. B-1, each replicate exactly once, on `threads` threads with
// one State each; the calling thread takes part and checks for interrupts about every 0.1 s.
template <typename State, typename Make, typename Work>
void for_replicates(Index B, int threads, Make make_state, Work work) {
  std::atomic<Index> next(0);
  std::atomic<bool> stop(false);
  const int k = static_cast<int>(std::max<Index>(1, std::min<Index>(threads, B)));
  std::vector<std::exception_ptr> errors(k);
  auto loop = [&](int t, bool main_thread) {
    if (!main_thread) rwe::on_worker_thread() = true;  // kernels' own polls: no-ops here
    try {
      State st = make_state();
      auto last = std::chrono::steady_clock::now();
      for (Index b = next++; b < B && !stop; b = next++) {
        work(b, st);
        if (!main_thread) continue;
        const auto now = std::chrono::steady_clock::now();
        if (now - last > std::chrono::milliseconds(100)) {
          last = now;
          Rcpp::checkUserInterrupt();  // throws a C++ exception, caught below
        }
      }
    } catch (...) {
      errors[t] = std::current_exception();
      stop = true;
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < k; ++t) pool.emplace_back(loop, t, false);
  loop(0, true);
  for (auto& th : pool) th.join();
  for (auto& e : errors) if (e) std::rethrow_exception(e);
}

// ---- Cox ---------------------------------------------------------------------------------

struct CoxData {
  Index n, p;
  const double* x;  // sorted, column-major n x p
  const double* time;
  const int* status;
  const double* offset;
  const int* strata;
};

// Work space of one thread: the replicate's centred and scaled covariates and sums.
struct CoxWork {
  Index n, p;
  std::vector<double> counts, z, mean, scale, beta, newbeta, u, imat, s1, s2, d1, d2;
  rwe::Ldl ldl;  // the package's one generalised Cholesky (ldl.h)
  Eigen::VectorXd step;
  CoxWork(Index n_, Index p_)
      : n(n_), p(p_), counts(n_), z(n_ * p_), mean(p_), scale(p_), beta(p_), newbeta(p_),
        u(p_), imat(p_ * p_), s1(p_), s2(p_ * p_), d1(p_), d2(p_ * p_), step(p_) {}
  // imat is symmetric (both triangles filled), so its row-major storage reads as column-major
  void factor(double toler) { ldl.factor(Eigen::Map<const Eigen::MatrixXd>(imat.data(), p, p), toler); }
  const Eigen::VectorXd& newton_step() {  // I^- u, in place (no allocation per replicate)
    step = Eigen::Map<const Eigen::VectorXd>(u.data(), p);
    ldl.solve_in_place(step);
    return step;
  }
};

// Centres (weighted by the counts) and scales every column that is not coded -1/0/1 among the
// drawn rows, as coxph does on the repeated data.
void standardise(const CoxData& d, CoxWork& w) {
  double total = 0;
  for (Index i = 0; i < d.n; ++i) total += w.counts[i];
  for (Index j = 0; j < d.p; ++j) {
    const double* xj = d.x + j * d.n;
    double* zj = w.z.data() + j * d.n;
    bool zero_one = true;
    double sum = 0;
    for (Index i = 0; i < d.n; ++i) {
      if (w.counts[i] == 0) continue;
      sum += w.counts[i] * xj[i];
      if (xj[i] != 0 && xj[i] != 1 && xj[i] != -1) zero_one = false;
    }
    double m = zero_one ? 0.0 : sum / total, dev = 0;
    for (Index i = 0; i < d.n; ++i) dev += w.counts[i] * std::fabs(xj[i] - m);
    const double s = (zero_one || dev <= 0) ? 1.0 : total / dev;
    w.mean[j] = m;
    w.scale[j] = s;
    for (Index i = 0; i < d.n; ++i) zj[i] = (xj[i] - m) * s;
  }
}

// Contribution of one event time with m (a whole number of) deaths: m tied deaths of weight 1
// each (rwe::TieStages, ties.h; Breslow: one stage with weight m).
void event_time_terms(CoxWork& w, double s0, double d0, double m, bool efron, double& loglik,
                      bool information) {
  typedef Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> RowMajorMat;
  const rwe::TieStages ties = rwe::tie_stages(s0, d0, m, m, efron);
  loglik += ties.loglik();
  ties.subtract_score(w.u, w.s1, w.d1);
  if (!information) return;
  // the packed lower triangles (j >= l at j * p + l) read as row-major matrices
  Eigen::Map<RowMajorMat> imat(w.imat.data(), w.p, w.p);
  const Eigen::Map<const RowMajorMat> s2(w.s2.data(), w.p, w.p), d2(w.d2.data(), w.p, w.p);
  ties.add_information(imat, s0, d0, w.s1, w.d1, s2, d2);
}

// Log partial likelihood at `beta` (scaled units); fills u and, if asked, the information.
double cox_evaluate(const CoxData& d, const std::vector<double>& off, CoxWork& w,
                    const std::vector<double>& beta, bool efron, bool information) {
  const Index n = d.n, p = d.p;
  const double* z = w.z.data();
  double loglik = 0;
  std::fill(w.u.begin(), w.u.end(), 0.0);
  std::fill(w.imat.begin(), w.imat.end(), 0.0);
  double s0 = 0;
  Index i = 0;
  while (i < n) {
    if (i == 0 || d.strata[i] != d.strata[i - 1]) {
      s0 = 0;
      std::fill(w.s1.begin(), w.s1.end(), 0.0);
      std::fill(w.s2.begin(), w.s2.end(), 0.0);
    }
    double m = 0, d0 = 0;
    std::fill(w.d1.begin(), w.d1.end(), 0.0);
    std::fill(w.d2.begin(), w.d2.end(), 0.0);
    Index end = i;
    for (; end < n && d.strata[end] == d.strata[i] && d.time[end] == d.time[i]; ++end) {
      const double c = w.counts[end];
      if (c == 0) continue;
      double eta = off[end];
      for (Index j = 0; j < p; ++j) eta += z[j * n + end] * beta[j];
      const double r = c * std::exp(eta);
      s0 += r;
      const bool dead = d.status[end] != 0;
      if (dead) { m += c; d0 += r; loglik += c * eta; }
      for (Index j = 0; j < p; ++j) {
        const double zj = z[j * n + end];
        w.s1[j] += r * zj;
        if (dead) { w.d1[j] += r * zj; w.u[j] += c * zj; }
        if (!information) continue;
        for (Index k = 0; k <= j; ++k) {
          const double rzz = r * zj * z[k * n + end];
          w.s2[j * p + k] += rzz;
          if (dead) w.d2[j * p + k] += rzz;
        }
      }
    }
    if (m > 0) event_time_terms(w, s0, d0, m, efron, loglik, information);
    i = end;
  }
  for (Index j = 0; j < p; ++j)
    for (Index l = j + 1; l < p; ++l) w.imat[j * p + l] = w.imat[l * p + j];
  return loglik;
}

struct CoxControl { bool efron; int iter_max; double eps, toler; };

struct CoxReplicate { int iter; bool converged; };

// Newton-Raphson on the replicate's counts (already in w.counts); the coefficients, in the
// original units and NA where aliased, go to `coef` (p values).
CoxReplicate cox_counts_fit(const CoxData& d, CoxWork& w, const CoxControl& ctl,
                            std::vector<double>& off, double* coef) {
  const Index p = d.p;
  standardise(d, w);
  double total = 0, osum = 0;
  for (Index i = 0; i < d.n; ++i) { total += w.counts[i]; osum += w.counts[i] * d.offset[i]; }
  for (Index i = 0; i < d.n; ++i) off[i] = d.offset[i] - osum / total;
  std::fill(w.beta.begin(), w.beta.end(), 0.0);
  const double loglik_init = cox_evaluate(d, off, w, w.beta, ctl.efron, true);
  w.factor(ctl.toler);
  // survival's step-halving Newton-Raphson, the one of src/cox.cpp (rwe::NewtonHalving)
  rwe::NewtonHalving nr(Eigen::VectorXd::Zero(p), loglik_init, w.newton_step(), ctl.iter_max,
                        ctl.eps);
  while (!nr.done()) {
    Eigen::Map<Eigen::VectorXd>(w.newbeta.data(), p) = nr.proposal;
    nr.observe(cox_evaluate(d, off, w, w.newbeta, ctl.efron, true));
    w.factor(ctl.toler);  // the information comes with every evaluation here
    if (nr.done() || nr.overshot) nr.advance(w.step); else nr.advance(w.newton_step());
  }
  const int iter = nr.iter;
  const bool converged = nr.converged;
  for (Index j = 0; j < p; ++j) w.newbeta[j] = nr.proposal[j];
  for (Index j = 0; j < p; ++j)
    coef[j] = w.ldl.aliased[j] ? NA_REAL : w.newbeta[j] * w.scale[j];
  return CoxReplicate{iter, converged};
}

// ---- Harrell's bootstrap validation ------------------------------------------------------

// What Harrell's concordance needs of the sorted data, built once per validation and shared
// read-only by the threads: time ranks (1..n_time, equal times share one), status as
// doubles, stratum codes (none when there is one stratum).
struct ConcData {
  std::vector<int> time_rank, strata;
  std::vector<double> status;
  int n_time = 0, n_strata = 1;
};

ConcData conc_prepare(const CoxData& d) {
  ConcData c;
  std::vector<double> times(d.time, d.time + d.n);
  std::sort(times.begin(), times.end());
  times.erase(std::unique(times.begin(), times.end()), times.end());
  c.n_time = static_cast<int>(times.size());
  c.time_rank.resize(d.n);
  c.status.resize(d.n);
  for (Index i = 0; i < d.n; ++i) {
    c.time_rank[i] = static_cast<int>(
      std::lower_bound(times.begin(), times.end(), d.time[i]) - times.begin()) + 1;
    c.status[i] = d.status[i];
    c.n_strata = std::max(c.n_strata, d.strata[i]);
  }
  if (c.n_strata > 1) c.strata.assign(d.strata, d.strata + d.n);
  return c;
}

// Somers' Dxy = 2 C - 1 of `lp` (C > 0.5 when a higher lp goes with a shorter time), pairs
// weighted by the product of the rows' counts (= the data set with rows repeated), within
// strata, from the package's one pair-counting sweep (concordance.h), as concordance_index()
// and survival::concordance() count them.
double concordance_dxy(const ConcData& c, const double* counts, const double* lp, Index n) {
  const concordance::PairTotals t = concordance::pair_totals_by_predictor(
    ConstMapIVec(c.time_rank.data(), n), c.n_time, ConstMapVec(c.status.data(), n),
    ConstMapVec(lp, n), ConstMapVec(counts, n),
    ConstMapIVec(c.strata.data(), static_cast<Index>(c.strata.size())), c.n_strata);
  const double pairs = t.concordant + t.discordant + t.tied_x;
  // the sweep counts "larger predictor = longer survival"; a Cox lp predicts the opposite
  return pairs > 0 ? (t.discordant - t.concordant) / pairs : NA_REAL;
}

struct ValidateWork {
  CoxWork fit, slope;
  std::vector<double> off, coef, lp, ones;
  ValidateWork(Index n, Index p)
      : fit(n, p), slope(n, 1), off(n), coef(p), lp(n), ones(n, 1.0) {}
};

// One replicate: the model refitted on the counts, its lp's Dxy on the resample (training)
// and on the original rows (test), and the test calibration slope (Cox fit of the lp on the
// original rows; the training slope is 1 by construction). out = {dxy_train, dxy_test,
// slope_test}, NA when the refit has a non-estimable coefficient or did not converge.
void validate_replicate(const CoxData& d, const ConcData& c, ValidateWork& w,
                        const CoxControl& ctl, double* out) {
  const CoxReplicate r = cox_counts_fit(d, w.fit, ctl, w.off, w.coef.data());
  bool ok = r.converged || ctl.iter_max <= 1;
  for (Index j = 0; j < d.p; ++j) ok = ok && !std::isnan(w.coef[j]);
  if (!ok) { out[0] = out[1] = out[2] = NA_REAL; return; }
  std::fill(w.lp.begin(), w.lp.end(), 0.0);
  for (Index j = 0; j < d.p; ++j)
    for (Index i = 0; i < d.n; ++i) w.lp[i] += d.x[j * d.n + i] * w.coef[j];
  out[0] = concordance_dxy(c, w.fit.counts.data(), w.lp.data(), d.n);
  out[1] = concordance_dxy(c, w.ones.data(), w.lp.data(), d.n);
  const CoxData lp_data{d.n, 1, w.lp.data(), d.time, d.status, d.offset, d.strata};
  std::fill(w.slope.counts.begin(), w.slope.counts.end(), 1.0);
  double slope = NA_REAL;
  cox_counts_fit(lp_data, w.slope, ctl, w.off, &slope);
  out[2] = slope;
}

// ---- Kaplan-Meier ------------------------------------------------------------------------

// Rows sorted by group, then time ascending. The counting grid (one block per group, one
// position per distinct time) and each row's position on it are built once; a replicate
// counts its rows there (counts_grid.h, the replicate's counts as case weights) and takes the
// product-limit curve, the median and the restricted mean from km_summary.h, as km_fit(),
// km_median() and km_rmean() do.
struct KmData {
  Index n;
  const int* status;
  int k;
  double tau;
  countsgrid::SortedGrid grid;
  std::vector<Index> row_pos;
};

void km_prepare(KmData& d, const double* time, const int* group) {
  std::vector<Index> ord(d.n);
  for (Index i = 0; i < d.n; ++i) ord[i] = i;
  d.grid = countsgrid::sorted_grid(ord, group, time);
  d.row_pos = countsgrid::row_positions(d.grid, ord, group, time);
}

struct KmWork {
  std::vector<double> counts;
  countsgrid::CountCells cells;
  std::vector<double> n_risk, surv;  // per position of the current block
  explicit KmWork(const KmData& d)
      : counts(d.n), cells(static_cast<Index>(d.grid.time.size()), 1, true, false),
        n_risk(d.grid.time.size()), surv(d.grid.time.size()) {}
};

// Median and RMST up to tau of each group from the counts in w.counts (NA for a group drawn
// no row; groups are the blocks of the grid, codes 1..k).
void km_counts_summary(const KmData& d, KmWork& w, double* median, double* rmst) {
  using countsgrid::CountCells;
  w.cells.clear();
  for (Index r = 0; r < d.n; ++r) {
    if (w.counts[r] > 0) w.cells.add(d.row_pos[r], 0, w.counts[r], d.status[r] > 0);
  }
  for (int g = 0; g < d.k; ++g) { median[g] = NA_REAL; rmst[g] = NA_REAL; }
  for (std::size_t b = 0; b + 1 < d.grid.bounds.size(); ++b) {
    const Index first = d.grid.bounds[b], end = d.grid.bounds[b + 1];
    w.cells.walk_block(first, end, [&](Index p, const CountCells::AtRisk& r) {
      w.n_risk[p] = r.w(0);
    });
    if (!(w.n_risk[first] > 0)) continue;
    double s = 1.0;
    for (Index p = first; p < end; ++p) {
      s = kmsummary::km_step(s, w.n_risk[p], w.cells.get(p, 0, countsgrid::EVENT_W));
      w.surv[p] = s;
    }
    const double* time = d.grid.time.data() + first;
    const double* surv = w.surv.data() + first;
    const int g = d.grid.block[first] - 1;
    const double med = kmsummary::first_below_half(time, surv, end - first);
    median[g] = std::isnan(med) ? NA_REAL : med;
    rmst[g] = kmsummary::km_area(time, surv, time, time, end - first, d.tau, false).rmean;
  }
}

// ---- Monte Carlo permutation log-rank -------------------------------------------------

// Rows sorted by stratum, then time descending (the order the relabelings shuffle in). The
// counting grid and each row's position on it do not depend on the labels, so they are built
// once; a relabeling recounts the rows on the shared counting grid (counts_grid.h) and takes
// the statistic from the one log-rank implementation (logrank_stat.h).
struct LogrankData {
  Index n;
  const int* status;
  const int* group;  // codes 1..k, in the sorted order
  int k, nstrata;
  double rho;
  countsgrid::SortedGrid grid;       // one position per distinct (stratum, time), ascending
  std::vector<Index> row_pos;        // grid position of each sorted row
  std::vector<Index> stratum_begin;  // row ranges of the strata, plus n at the end
  std::vector<int> event_stratum;    // stratum of each grid position with an event, ascending
};

// The rows of a stratum visited time ascending: each stratum's block read backwards.
std::vector<Index> ascending_order(const int* strata, Index n) {
  std::vector<Index> ord(n);
  Index from = 0;
  for (Index i = 0; i <= n; ++i) {
    if (i < n && strata[i] == strata[from]) continue;
    for (Index j = from; j < i; ++j) ord[j] = i - 1 - (j - from);
    from = i;
  }
  return ord;
}

// Everything that does not depend on the labels: the grid, the rows' positions on it, the
// strata's row ranges and which positions have an event (the statuses are not relabeled).
void logrank_prepare(LogrankData& d, const double* time, const int* strata) {
  const std::vector<Index> ord = ascending_order(strata, d.n);
  d.grid = countsgrid::sorted_grid(ord, strata, time);
  d.row_pos = countsgrid::row_positions(d.grid, ord, strata, time);
  d.nstrata = 0;
  std::vector<unsigned char> has_event(d.grid.time.size(), 0);
  for (Index i = 0; i < d.n; ++i) {
    if (i == 0 || strata[i] != strata[i - 1]) d.stratum_begin.push_back(i);
    d.nstrata = std::max(d.nstrata, strata[i]);
    if (d.status[i] > 0) has_event[d.row_pos[i]] = 1;
  }
  d.stratum_begin.push_back(d.n);
  for (std::size_t p = 0; p < has_event.size(); ++p) {
    if (has_event[p]) d.event_stratum.push_back(d.grid.block[p]);
  }
}

struct LogrankWork {
  std::vector<int> label;
  countsgrid::CountCells cells;
  MatrixXd n_risk, n_event;  // per event position and group
  logrankstat::Sums sums;
  explicit LogrankWork(const LogrankData& d)
      : label(d.n), cells(static_cast<Index>(d.grid.time.size()), d.k, false, false),
        n_risk(d.event_stratum.size(), d.k), n_event(d.event_stratum.size(), d.k),
        sums(d.k, d.nstrata) {}
};

// Chi-square of the labeling in w.label (sorted order).
double logrank_chisq_labels(const LogrankData& d, LogrankWork& w) {
  w.cells.clear();
  for (Index r = 0; r < d.n; ++r) w.cells.add(d.row_pos[r], w.label[r] - 1, 1.0, d.status[r] > 0);
  const Index m = static_cast<Index>(d.event_stratum.size());
  logrankstat::event_positions(w.cells, d.grid.bounds, m,
                               [&](Index k, Index p, const countsgrid::CountCells::AtRisk& r) {
    for (int g = 0; g < d.k; ++g) {
      w.n_risk(k, g) = r.n(g);
      w.n_event(k, g) = w.cells.get(p, g, countsgrid::EVENT_N);
    }
  });
  logrankstat::logrank_sums(d.event_stratum, w.n_risk, w.n_event, d.rho, w.sums);
  return logrankstat::logrank_chisq(w.sums).chisq;
}

}  // namespace

// [[Rcpp::export(rng = false)]]
Rcpp::IntegerMatrix resample_indices_cpp(int n, int B, double seed, int first) {
  Rcpp::IntegerMatrix out(n, B);
  for (Index b = 0; b < B; ++b) {
    std::mt19937_64 eng(replicate_seed(static_cast<std::uint64_t>(seed),
                                       static_cast<std::uint64_t>(first + b)));
    for (Index k = 0; k < n; ++k)
      out(k, b) = static_cast<int>(draw_below(eng, static_cast<std::uint64_t>(n))) + 1;
  }
  return out;
}

// Replicates first .. first + B - 1 (1-based); a replicate number of 0 means "all counts 1"
// (the original data), which lets R check the engine against the ordinary fit.
// [[Rcpp::export(rng = false)]]
Rcpp::List cox_bootstrap_cpp(Rcpp::NumericMatrix x, Rcpp::NumericVector time,
                             Rcpp::IntegerVector status, Rcpp::NumericVector offset,
                             Rcpp::IntegerVector strata, Rcpp::IntegerVector pos, int B,
                             double seed, int first, bool efron, int iter_max, double eps,
                             double toler, int threads) {
  const Index n = x.nrow(), p = x.ncol();
  const CoxData d{n, p, x.begin(), time.begin(), status.begin(), offset.begin(), strata.begin()};
  const CoxControl ctl{efron, iter_max, eps, toler};
  Rcpp::NumericMatrix coef(p, B);
  Rcpp::IntegerVector iter(B);
  Rcpp::LogicalVector converged(B);
  double* coef_ptr = coef.begin();
  int* iter_ptr = iter.begin();
  int* conv_ptr = converged.begin();
  const int* pos_ptr = pos.begin();
  const std::uint64_t s = static_cast<std::uint64_t>(seed);
  struct State { CoxWork w; std::vector<double> off; };
  for_replicates<State>(B, threads, [&]() { return State{CoxWork(n, p), std::vector<double>(n)}; },
    [&](Index b, State& st) {
      const Index rep = first + b;
      if (rep == 0) std::fill(st.w.counts.begin(), st.w.counts.end(), 1.0);
      else draw_counts(s, static_cast<std::uint64_t>(rep), pos_ptr, n, st.w.counts);
      const CoxReplicate r = cox_counts_fit(d, st.w, ctl, st.off, coef_ptr + b * p);
      iter_ptr[b] = r.iter;
      conv_ptr[b] = r.converged;
    });
  return Rcpp::List::create(Rcpp::Named("coef") = coef, Rcpp::Named("iter") = iter,
                            Rcpp::Named("converged") = converged);
}

// [[Rcpp::export(rng = false)]]
Rcpp::List km_bootstrap_cpp(Rcpp::NumericVector time, Rcpp::IntegerVector status,
                            Rcpp::IntegerVector group, int k, Rcpp::IntegerVector pos,
                            double tau, int B, double seed, int first, int threads) {
  KmData d{time.size(), status.begin(), k, tau, {}, {}};
  km_prepare(d, time.begin(), group.begin());
  Rcpp::NumericMatrix median(k, B), rmst(k, B);
  double* med_ptr = median.begin();
  double* rmst_ptr = rmst.begin();
  const int* pos_ptr = pos.begin();
  const std::uint64_t s = static_cast<std::uint64_t>(seed);
  for_replicates<KmWork>(B, threads, [&]() { return KmWork(d); },
    [&](Index b, KmWork& w) {
      const Index rep = first + b;
      if (rep == 0) std::fill(w.counts.begin(), w.counts.end(), 1.0);
      else draw_counts(s, static_cast<std::uint64_t>(rep), pos_ptr, d.n, w.counts);
      km_counts_summary(d, w, med_ptr + b * k, rmst_ptr + b * k);
    });
  return Rcpp::List::create(Rcpp::Named("median") = median, Rcpp::Named("rmst") = rmst);
}

// Replicates first .. first + B - 1 of Harrell's bootstrap validation (0 = the original data:
// its training and test indexes are the apparent ones). Returns a 3 x B matrix.
// [[Rcpp::export(rng = false)]]
Rcpp::NumericMatrix cox_validate_cpp(Rcpp::NumericMatrix x, Rcpp::NumericVector time,
                                     Rcpp::IntegerVector status, Rcpp::NumericVector offset,
                                     Rcpp::IntegerVector strata, Rcpp::IntegerVector pos, int B,
                                     double seed, int first, bool efron, int iter_max,
                                     double eps, double toler, int threads) {
  const Index n = x.nrow(), p = x.ncol();
  const CoxData d{n, p, x.begin(), time.begin(), status.begin(), offset.begin(), strata.begin()};
  const CoxControl ctl{efron, iter_max, eps, toler};
  const ConcData conc = conc_prepare(d);
  Rcpp::NumericMatrix out(3, B);
  double* out_ptr = out.begin();
  const int* pos_ptr = pos.begin();
  const std::uint64_t s = static_cast<std::uint64_t>(seed);
  for_replicates<ValidateWork>(B, threads, [&]() { return ValidateWork(n, p); },
    [&](Index b, ValidateWork& w) {
      const Index rep = first + b;
      if (rep == 0) std::fill(w.fit.counts.begin(), w.fit.counts.end(), 1.0);
      else draw_counts(s, static_cast<std::uint64_t>(rep), pos_ptr, n, w.fit.counts);
      validate_replicate(d, conc, w, ctl, out_ptr + 3 * b);
    });
  return out;
}

// Monte Carlo permutation log-rank: relabelings first .. first + B - 1, each a Fisher-Yates
// shuffle of the group codes within every stratum driven by its own generator seeded from
// (seed, relabeling) as the bootstrap replicates are; relabeling 0 is the observed labeling
// (R's tests check it against logrank_test()). Returns the B chi-squares.
// [[Rcpp::export(rng = false)]]
Rcpp::NumericVector logrank_permutation_cpp(Rcpp::NumericVector time, Rcpp::IntegerVector status,
                                            Rcpp::IntegerVector group, Rcpp::IntegerVector strata,
                                            int k, double rho, int B, double seed, int first,
                                            int threads) {
  LogrankData d{time.size(), status.begin(), group.begin(), k, 0, rho, {}, {}, {}, {}};
  logrank_prepare(d, time.begin(), strata.begin());
  Rcpp::NumericVector out(B);
  double* out_ptr = out.begin();
  const std::uint64_t s = static_cast<std::uint64_t>(seed);
  for_replicates<LogrankWork>(B, threads, [&]() { return LogrankWork(d); },
    [&](Index b, LogrankWork& w) {
      std::copy(d.group, d.group + d.n, w.label.begin());
      const Index rep = first + b;
      if (rep != 0) {
        std::mt19937_64 eng(replicate_seed(s, static_cast<std::uint64_t>(rep)));
        for (std::size_t h = 0; h + 1 < d.stratum_begin.size(); ++h) {
          const Index from = d.stratum_begin[h], to = d.stratum_begin[h + 1];
          for (Index i = to - 1; i > from; --i) {
            const Index j = from + static_cast<Index>(
              draw_below(eng, static_cast<std::uint64_t>(i - from + 1)));
            std::swap(w.label[i], w.label[j]);
          }
        }
      }
      out_ptr[b] = logrank_chisq_labels(d, w);
    });
  return out;
}
