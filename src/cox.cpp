// Cox proportional-hazards kernel: Newton-Raphson on the log partial likelihood.
//
// Contract (the R callers in R/cox.R guarantee it; nothing here re-validates):
// * `x` is n x p (double, finite, no NA) in the ORIGINAL row order; `ord` (0-based) is the
//   permutation that sorts the rows by stratum, then time (the stop time for counting-process
//   data) ascending, events before censorings at equal times. The kernel applies it once,
//   building its only n x p working copy (sorted, centred, row-major).
// * `time`, `status` (0/1), `weights` (finite, >= 0), `offset` (finite) are already sorted.
// * `stratum_end` holds the (exclusive, 0-based) end row of each stratum block, ascending.
// * Counting process only: `start` (< time, sorted like time) and `start_order`, a 0-based
//   permutation of the sorted rows ordering them by stratum, then start time ascending (ties in any order).
//   Risk set at an event time t: start < t <= time (a row starting at t is not at risk at t).
// * `means` are the centring constants (0 for columns that are not centred); `doscale` marks
//   the centred columns, which are also scaled by (sum w) / (sum w |x - mean|) for the rank
//   decisions of the Cholesky decomposition only (so that they do not depend on units).
//
// Structure (multi-site design): everything a Newton step needs is a sum over the rows at one
// event time of one stratum (`EventTimeSums`). `accumulate_event_time()` turns those sums into
// that time's contribution to the log partial likelihood, score and information. The sweeps
// below are the single-partition producers of those sums and consume them immediately.
// Rows with zero weight contribute nothing, and do not count as tied deaths for Efron.

#include <RcppEigen.h>
#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

// [[Rcpp::depends(RcppEigen)]]

using Eigen::Index;
using Eigen::MatrixXd;
using Eigen::VectorXd;
typedef Eigen::Map<const Eigen::MatrixXd> ConstMapMat;
typedef Eigen::Map<const Eigen::VectorXd> ConstMapVec;
typedef Eigen::Map<const Eigen::VectorXi> ConstMapIVec;

namespace {

// Sums over one event time of one stratum. The risk-set sums include the deaths at that time;
// only the lower triangles of the p x p matrices are maintained.
struct EventTimeSums {
  double s0 = 0;      // sum over the risk set of w exp(eta)
  VectorXd s1;        // ... of w exp(eta) x
  MatrixXd s2;        // ... of w exp(eta) x x'
  double d0 = 0;      // sum over the deaths of w exp(eta)
  VectorXd d1;        // ... of w exp(eta) x
  MatrixXd d2;        // ... of w exp(eta) x x'
  double dw = 0;      // sum over the deaths of w
  VectorXd dwx;       // ... of w x
  double dweta = 0;   // ... of w eta
  double ndeath = 0;  // number of deaths with positive weight
  explicit EventTimeSums(Index p)
      : s1(VectorXd::Zero(p)), s2(MatrixXd::Zero(p, p)), d1(VectorXd::Zero(p)),
        d2(MatrixXd::Zero(p, p)), dwx(VectorXd::Zero(p)) {}
  void clear_risk_set() { s0 = 0; s1.setZero(); s2.setZero(); }
  void clear_deaths() {
    d0 = 0; d1.setZero(); d2.setZero(); dw = 0; dwx.setZero(); dweta = 0; ndeath = 0;
  }
};

struct Accumulated {
  double loglik = 0;
  VectorXd u;         // score
  MatrixXd imat;      // information (lower triangle while accumulating)
  explicit Accumulated(Index p) : u(VectorXd::Zero(p)), imat(MatrixXd::Zero(p, p)) {}
  void clear() { loglik = 0; u.setZero(); imat.setZero(); }
};

// Adds r * z z' to the lower triangle of m.
inline void add_outer_lower(MatrixXd& m, const double* z, double r, Index p) {
  for (Index k = 0; k < p; ++k) {
    const double rz = r * z[k];
    double* col = m.data() + k * p;
    for (Index j = k; j < p; ++j) col[j] += rz * z[j];
  }
}

// Contribution of one event time. Breslow treats the d tied deaths as one stage with the
// whole risk set; Efron averages over d stages in which the deaths' share of the risk set
// goes from 1 to 1/d, each stage carrying the mean death weight. The stage sums collapse to
// five scalars, so the cost is O(d + p^2) rather than O(d p^2).
void accumulate_event_time(const EventTimeSums& s, bool efron, Accumulated& acc) {
  if (s.ndeath <= 0) return;
  const Index p = s.s1.size();
  const double nstage = efron ? s.ndeath : 1.0;
  const double wt = s.dw / nstage;
  double logsum = 0, a0 = 0, a1 = 0, b0 = 0, b1 = 0, b2 = 0;
  const Index nst = static_cast<Index>(nstage);
  for (Index k = 0; k < nst; ++k) {
    const double f = static_cast<double>(k) / nstage;
    const double denom = s.s0 - f * s.d0;
    const double inv = 1.0 / denom;
    logsum += std::log(denom);
    a0 += inv; a1 += f * inv;
    b0 += inv * inv; b1 += f * inv * inv; b2 += f * f * inv * inv;
  }
  acc.loglik += s.dweta - wt * logsum;
  acc.u.noalias() += s.dwx - wt * (a0 * s.s1 - a1 * s.d1);
  for (Index k = 0; k < p; ++k) {
    for (Index j = k; j < p; ++j) {
      const double second = a0 * s.s2(j, k) - a1 * s.d2(j, k);
      const double product = b0 * s.s1(j) * s.s1(k) - b1 * (s.s1(j) * s.d1(k) + s.d1(j) * s.s1(k)) +
        b2 * s.d1(j) * s.d1(k);
      acc.imat(j, k) += wt * (second - product);
    }
  }
}

// Read-only view of the sorted data. `xc` is the working copy of the covariates: sorted,
// centred and row-major (the p values of a row are contiguous for the sweeps).
struct CoxData {
  const double* xc;
  Index nrow, ncol;
  ConstMapVec time, status, weights, offset;
  const int* stratum_end;
  Index nstrata;
  bool counting;
  const double* start;
  const int* start_order;
  Index n() const { return nrow; }
  Index p() const { return ncol; }
  const double* row(Index i) const { return xc + i * ncol; }
};

typedef Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> RowMatrix;
typedef Eigen::Map<const RowMatrix> ConstMapRows;

// Rows are processed in chunks so that eta and s1 are one matrix-vector product per chunk.
// s2 takes one rank-one update per row: at small p (the usual case) that is about twice as
// fast as a blocked matrix product, whose packing overhead dominates for p x p blocks.
constexpr Index kChunk = 64;

// Working buffers of a Newton pass, allocated once per fit.
struct PassBuffers {
  std::vector<double> risk;  // w exp(eta) of every sorted row (counting process: reused on exit)
  VectorXd eta;              // linear predictors of one chunk
  explicit PassBuffers(Index n) : risk(n), eta(kChunk) {}
};

// Adds the sorted rows [first, first + m) to the sums (s0, s1, s2): s2's lower triangle is
// exact (only the lower triangle is ever read). Stores
// w exp(eta) in buf.risk. With `deaths`, the rows are deaths and their weight sums are added too.
void add_rows(const CoxData& d, const VectorXd& beta, Index first, Index m, double& s0,
              VectorXd& s1, MatrixXd& s2, PassBuffers& buf, EventTimeSums* deaths) {
  const Index p = d.p();
  for (Index c0 = first; c0 < first + m; c0 += kChunk) {
    const Index mc = std::min(kChunk, first + m - c0);
    ConstMapRows z(d.row(c0), mc, p);
    auto eta = buf.eta.head(mc);
    eta.noalias() = z * beta;
    eta += d.offset.segment(c0, mc);
    double* r = buf.risk.data() + c0;
    for (Index i = 0; i < mc; ++i) r[i] = d.weights[c0 + i] * std::exp(eta[i]);
    const Eigen::Map<const VectorXd> rv(r, mc);
    s0 += rv.sum();
    s1.noalias() += z.transpose() * rv;
    for (Index i = 0; i < mc; ++i) add_outer_lower(s2, d.row(c0 + i), r[i], p);
    if (deaths == nullptr) continue;
    const auto w = d.weights.segment(c0, mc);
    deaths->dw += w.sum();
    deaths->dwx.noalias() += z.transpose() * w;
    deaths->dweta += w.dot(eta);
    for (Index i = 0; i < mc; ++i) deaths->ndeath += (w[i] > 0) ? 1.0 : 0.0;
  }
}

// Adds one distinct time [first, last] of a stratum. Events sort before censorings at equal
// times, so the deaths are the rows [first, mid). Efron keeps the deaths' risk sums apart (they
// are scaled per stage) and merges them into the risk set afterwards; Breslow adds them
// directly. Zero-weight deaths have r = 0 and are not counted as deaths.
void add_time(const CoxData& d, const VectorXd& beta, bool efron, Index first, Index last,
              EventTimeSums& s, PassBuffers& buf) {
  Index mid = first;
  while (mid <= last && d.status[mid] > 0) ++mid;
  s.clear_deaths();
  add_rows(d, beta, mid, last + 1 - mid, s.s0, s.s1, s.s2, buf, nullptr);
  if (efron) {
    add_rows(d, beta, first, mid - first, s.d0, s.d1, s.d2, buf, &s);
    if (s.ndeath > 0) {
      s.s0 += s.d0;
      s.s1 += s.d1;
      s.s2.triangularView<Eigen::Lower>() += s.d2;
    }
  } else {
    add_rows(d, beta, first, mid - first, s.s0, s.s1, s.s2, buf, &s);
  }
}

// First row of the run of equal times ending at row `last` (within the stratum from `lo`).
inline Index first_of_time(const CoxData& d, Index lo, Index last) {
  const double t = d.time[last];
  Index first = last;
  while (first > lo && d.time[first - 1] == t) --first;
  return first;
}

// Right-censored data: within each stratum, walk from the largest time down, growing the risk
// set, and close each distinct time.
void sweep_right(const CoxData& d, const VectorXd& beta, bool efron, EventTimeSums& s,
                 Accumulated& acc, PassBuffers& buf) {
  Index lo = 0;
  for (Index h = 0; h < d.nstrata; ++h) {
    const Index hi = d.stratum_end[h];
    s.clear_risk_set();
    for (Index last = hi - 1; last >= lo;) {
      const Index first = first_of_time(d, lo, last);
      add_time(d, beta, efron, first, last, s, buf);
      accumulate_event_time(s, efron, acc);
      last = first - 1;
    }
    lo = hi;
  }
}

// Counting-process data: rows enter the risk set in decreasing stop time and leave it once
// the current event time is at or below their start time. buf.risk keeps w exp(eta) of each
// row from its entry, so that leaving costs no second exp().
void sweep_counting(const CoxData& d, const VectorXd& beta, bool efron, EventTimeSums& s,
                    Accumulated& acc, PassBuffers& buf) {
  const Index p = d.p();
  Index lo = 0;
  for (Index h = 0; h < d.nstrata; ++h) {
    const Index hi = d.stratum_end[h];
    s.clear_risk_set();
    Index at_risk = 0, k = hi - 1;
    for (Index last = hi - 1; last >= lo;) {
      const Index first = first_of_time(d, lo, last);
      const double t = d.time[last];
      add_time(d, beta, efron, first, last, s, buf);
      at_risk += last + 1 - first;
      last = first - 1;
      if (s.ndeath <= 0) continue;
      for (; k >= lo && d.start[d.start_order[k]] >= t; --k) {
        const Index j = d.start_order[k];
        const double r = buf.risk[j];
        const double* z = d.row(j);
        s.s0 -= r;
        for (Index c = 0; c < p; ++c) s.s1[c] -= r * z[c];
        add_outer_lower(s.s2, z, -r, p);
        // An empty risk set is exactly zero: drop the rounding residue of the subtractions.
        if (--at_risk == 0) s.clear_risk_set();
      }
      accumulate_event_time(s, efron, acc);
    }
    lo = hi;
  }
}

void newton_pass(const CoxData& d, const VectorXd& beta, bool efron, EventTimeSums& s,
                 Accumulated& acc, PassBuffers& buf) {
  acc.clear();
  if (d.counting) sweep_counting(d, beta, efron, s, acc, buf);
  else sweep_right(d, beta, efron, s, acc, buf);
  acc.imat.triangularView<Eigen::StrictlyUpper>() = acc.imat.transpose();
}

// Generalised LDL' decomposition of a symmetric non-negative definite matrix. A pivot below
// toler times the largest diagonal element marks its column as aliased (a linear combination
// of the earlier ones): its D entry and L column are set to zero, so solves and the inverse
// give 0 for it, as a generalised inverse.
struct Ldl {
  MatrixXd l;   // unit lower triangular factor
  VectorXd dg;  // diagonal; 0 for aliased columns
  std::vector<bool> aliased;
  Index rank = 0;

  Ldl(const MatrixXd& a, double toler) : l(a), dg(a.rows()), aliased(a.rows(), false) {
    const Index p = a.rows();
    double largest = 0;
    for (Index i = 0; i < p; ++i) largest = std::max(largest, a(i, i));
    const double threshold = (largest > 0 ? largest : 1.0) * toler;
    for (Index i = 0; i < p; ++i) {
      const double pivot = l(i, i);
      if (!std::isfinite(pivot) || pivot < threshold) {
        aliased[i] = true;
        dg[i] = 0;
        for (Index j = i; j < p; ++j) l(j, i) = 0;
        continue;
      }
      ++rank;
      dg[i] = pivot;
      for (Index j = i + 1; j < p; ++j) {
        const double lji = l(j, i) / pivot;
        for (Index k = j; k < p; ++k) l(k, j) -= lji * l(k, i);
        l(j, i) = lji;
      }
    }
    for (Index i = 0; i < p; ++i) {
      l(i, i) = 1;
      for (Index j = i + 1; j < p; ++j) l(i, j) = 0;
    }
  }

  VectorXd solve(const VectorXd& b) const {
    VectorXd y = l.triangularView<Eigen::UnitLower>().solve(b);
    for (Index i = 0; i < y.size(); ++i) y[i] = aliased[i] ? 0.0 : y[i] / dg[i];
    y = l.transpose().triangularView<Eigen::UnitUpper>().solve(y);
    for (Index i = 0; i < y.size(); ++i) if (aliased[i]) y[i] = 0;
    return y;
  }

  MatrixXd inverse() const {
    const Index p = l.rows();
    MatrixXd linv = l.triangularView<Eigen::UnitLower>().solve(MatrixXd::Identity(p, p));
    VectorXd dinv(p);
    for (Index i = 0; i < p; ++i) dinv[i] = aliased[i] ? 0.0 : 1.0 / dg[i];
    MatrixXd v = linv.transpose() * dinv.asDiagonal() * linv;
    for (Index i = 0; i < p; ++i) {
      if (!aliased[i]) continue;
      v.row(i).setZero();
      v.col(i).setZero();
    }
    return v;
  }
};

// The rank decisions are made on the information matrix of the scaled covariates x * scale,
// so that they do not depend on the units of the covariates.
Ldl factor_scaled(const MatrixXd& imat, const VectorXd& scale, double toler) {
  return Ldl(scale.asDiagonal() * imat * scale.asDiagonal(), toler);
}

// Newton step for the unscaled coefficients from the factor of the scaled information.
VectorXd newton_step(const Ldl& f, const VectorXd& u, const VectorXd& scale) {
  return scale.cwiseProduct(f.solve(scale.cwiseProduct(u)));
}

MatrixXd unscaled_inverse(const Ldl& f, const VectorXd& scale) {
  return scale.asDiagonal() * f.inverse() * scale.asDiagonal();
}

// One row-wise sweep over the row-major copy: a column at a time would stride through all
// of it p times.
VectorXd column_scales(const CoxData& d, const Rcpp::LogicalVector& doscale) {
  const Index p = d.p();
  VectorXd scale = VectorXd::Ones(p);
  VectorXd dev = VectorXd::Zero(p);
  for (Index i = 0; i < d.n(); ++i) {
    const double w = d.weights[i];
    const double* z = d.row(i);
    for (Index j = 0; j < p; ++j) dev[j] += w * std::fabs(z[j]);
  }
  const double wsum = d.weights.sum();
  for (Index j = 0; j < p; ++j) {
    if (doscale[j] && dev[j] > 0) scale[j] = wsum / dev[j];
  }
  return scale;
}

// The working copy of the covariates: rows in the order `ord`, centred, row-major. Built by
// scattering each original row to its sorted position: the reads are sequential per column
// and each row lands in one or two cache lines, far fewer cache misses than gathering.
// (Left uninitialised before the scatter, which writes every entry: no extra 8np-byte pass.)
std::unique_ptr<double[]> sorted_centred_rows(const Eigen::Map<Eigen::MatrixXd>& x,
                                              const Rcpp::IntegerVector& ord,
                                              const VectorXd& means) {
  const Index n = x.rows(), p = x.cols();
  std::vector<int> position(n);
  for (Index i = 0; i < n; ++i) position[ord[i]] = static_cast<int>(i);
  std::unique_ptr<double[]> xc(new double[static_cast<std::size_t>(n * (p > 0 ? p : 1))]);
  // The destinations are random: prefetching a few rows ahead overlaps their cache misses.
  constexpr Index ahead = 16;
  for (Index src = 0; src < n; ++src) {
    if (src + ahead < n) {
      const double* next = xc.get() + static_cast<Index>(position[src + ahead]) * p;
      __builtin_prefetch(next, 1);
      __builtin_prefetch(next + p - 1, 1);
    }
    double* dst = xc.get() + static_cast<Index>(position[src]) * p;
    for (Index j = 0; j < p; ++j) dst[j] = x(src, j) - means[j];
  }
  return xc;
}

}  // namespace

namespace {

struct NewtonResult {
  VectorXd beta;       // final coefficients (where loglik, score and factor were evaluated)
  VectorXd score;
  Ldl factor;          // of the scaled information at beta
  double loglik_init, loglik, score_test;
  int iter;
  bool converged;
};

// Newton-Raphson with step halving, following survival's control flow: a pass at `init`
// (initial log-likelihood and score test), then up to iter_max passes; convergence when
// |1 - loglik / previous| <= eps outside a halving; a decrease halves the last step.
NewtonResult newton_raphson(const CoxData& d, const VectorXd& init, const VectorXd& scale,
                            bool efron, int iter_max, double eps, double toler_chol) {
  const Index p = d.p();
  EventTimeSums sums(p);
  Accumulated acc(p);
  PassBuffers buf(d.n());
  VectorXd beta = init;
  newton_pass(d, beta, efron, sums, acc, buf);
  const double loglik_init = acc.loglik;
  Ldl factor = factor_scaled(acc.imat, scale, toler_chol);
  const VectorXd step = newton_step(factor, acc.u, scale);
  const double score_test = acc.u.dot(step);
  int iter = 0;
  bool converged = false;
  double loglik = loglik_init;
  VectorXd newbeta = beta;
  if (iter_max > 0) {
    newbeta = beta + step;
    double loglik_accepted = loglik_init;
    bool halving = false;
    for (iter = 1; iter <= iter_max; ++iter) {
      Rcpp::checkUserInterrupt();
      newton_pass(d, newbeta, efron, sums, acc, buf);
      factor = factor_scaled(acc.imat, scale, toler_chol);
      loglik = acc.loglik;
      if (!halving && std::fabs(1.0 - loglik_accepted / loglik) <= eps) {
        converged = true;
        break;
      }
      if (iter == iter_max) break;
      if (loglik < loglik_accepted) {
        // The step overshot: retry half of it from the last accepted point.
        halving = true;
        newbeta = 0.5 * (newbeta + beta);
      } else {
        halving = false;
        loglik_accepted = loglik;
        beta = newbeta;
        newbeta = beta + newton_step(factor, acc.u, scale);
      }
    }
  }
  return NewtonResult{newbeta, acc.u, factor, loglik_init, loglik, score_test, iter, converged};
}

// Linear predictors (x - means) beta + offset, in the original row order.
Rcpp::NumericVector linear_predictors(const CoxData& d, const VectorXd& beta,
                                      const Rcpp::IntegerVector& ord) {
  Rcpp::NumericVector lp(d.n());
  for (Index i = 0; i < d.n(); ++i) {
    const double* z = d.row(i);
    double eta = d.offset[i];
    for (Index j = 0; j < d.p(); ++j) eta += beta[j] * z[j];
    lp[ord[i]] = eta;
  }
  return lp;
}

}  // namespace

// Fits the Cox model. Returns the coefficients (on the scale of the covariates), the inverse
// information at them (0 rows/columns for aliased columns), the log partial likelihood at
// `init` and at the end, the score test at `init`, the score at the end, the iteration count,
// convergence, the rank, the aliased columns and the linear predictors (original order).
// The caller decides what to warn about.
// [[Rcpp::export]]
Rcpp::List cox_newton_cpp(const Eigen::Map<Eigen::MatrixXd> x, const Rcpp::IntegerVector ord,
                          const Eigen::Map<Eigen::VectorXd> time,
                          const Eigen::Map<Eigen::VectorXd> status,
                          const Eigen::Map<Eigen::VectorXd> weights,
                          const Eigen::Map<Eigen::VectorXd> offset,
                          const Rcpp::IntegerVector stratum_end,
                          const Rcpp::Nullable<Rcpp::NumericVector> start,
                          const Rcpp::Nullable<Rcpp::IntegerVector> start_order,
                          const Eigen::Map<Eigen::VectorXd> means,
                          const Rcpp::LogicalVector doscale,
                          const Eigen::Map<Eigen::VectorXd> init, bool efron, int iter_max,
                          double eps, double toler_chol) {
  const bool counting = start.isNotNull();
  Rcpp::NumericVector start_v = counting ? Rcpp::NumericVector(start) : Rcpp::NumericVector(0);
  Rcpp::IntegerVector start_o = counting ? Rcpp::IntegerVector(start_order) : Rcpp::IntegerVector(0);
  const std::unique_ptr<double[]> xc = sorted_centred_rows(x, ord, means);
  const CoxData d{xc.get(), x.rows(), x.cols(),
                  ConstMapVec(time.data(), time.size()), ConstMapVec(status.data(), status.size()),
                  ConstMapVec(weights.data(), weights.size()),
                  ConstMapVec(offset.data(), offset.size()), stratum_end.begin(),
                  stratum_end.size(), counting, counting ? start_v.begin() : nullptr,
                  counting ? start_o.begin() : nullptr};
  const VectorXd scale = column_scales(d, doscale);
  const NewtonResult fit = newton_raphson(d, init, scale, efron, iter_max, eps, toler_chol);
  Rcpp::LogicalVector aliased(d.p());
  for (Index j = 0; j < d.p(); ++j) aliased[j] = fit.factor.aliased[j];
  return Rcpp::List::create(
    Rcpp::Named("coefficients") = fit.beta,
    Rcpp::Named("var") = unscaled_inverse(fit.factor, scale),
    Rcpp::Named("loglik") = Rcpp::NumericVector::create(fit.loglik_init, fit.loglik),
    Rcpp::Named("score_test") = fit.score_test,
    Rcpp::Named("score") = fit.score,
    Rcpp::Named("iter") = fit.iter,
    Rcpp::Named("converged") = fit.converged,
    Rcpp::Named("rank") = static_cast<int>(fit.factor.rank),
    Rcpp::Named("aliased") = aliased,
    Rcpp::Named("linear_predictors") = linear_predictors(d, fit.beta, ord));
}

// Quadratic form b' V^- b with the same generalised LDL' decomposition (Wald test); also
// returns the rank of V.
// [[Rcpp::export]]
Rcpp::List cox_wald_cpp(const Eigen::Map<Eigen::MatrixXd> v, const Eigen::Map<Eigen::VectorXd> b,
                        double toler_chol) {
  const Ldl f(v, toler_chol);
  const VectorXd sol = f.solve(b);
  return Rcpp::List::create(Rcpp::Named("test") = b.dot(sol),
                            Rcpp::Named("rank") = static_cast<int>(f.rank));
}

// Column summaries for the R callers: the first non-finite entry (1-based row and column, 0
// if none), the columns coded only -1/0/1 (survival::coxph does not centre those indicators),
// and the weighted and unweighted column means. The sums run first (vectorisable); a
// non-finite sum sends the column through a scan for the offending entry.
// [[Rcpp::export]]
Rcpp::List cox_column_summary_cpp(const Eigen::Map<Eigen::MatrixXd> x,
                                  const Eigen::Map<Eigen::VectorXd> weights) {
  const Index n = x.rows(), p = x.cols();
  Rcpp::LogicalVector zero_one(p);
  Rcpp::NumericVector wmeans(p), means(p);
  int bad_row = 0, bad_col = 0;
  const double wsum = weights.sum();
  for (Index j = 0; j < p; ++j) {
    const double sum = x.col(j).sum();
    const double wsum_x = x.col(j).dot(weights);
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
  }
  return Rcpp::List::create(Rcpp::Named("bad_row") = bad_row, Rcpp::Named("bad_col") = bad_col,
                            Rcpp::Named("zero_one") = zero_one,
                            Rcpp::Named("weighted_means") = wmeans,
                            Rcpp::Named("means") = means);
}
