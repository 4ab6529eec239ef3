// Cox proportional-hazards kernel: Newton-Raphson on the log partial likelihood.
//
// Contract (the R callers in R/cox.R guarantee it; nothing here re-validates):
// * `x` is n x p (double, finite, no NA), rows sorted by stratum, then time (the stop time for
//   counting-process data) ascending, events before censorings at equal times.
// * `time`, `status` (0/1), `weights` (finite, >= 0), `offset` (finite) are in that same order.
// * `stratum_end` holds the (exclusive, 0-based) end row of each stratum block, ascending.
// * Counting process only: `start` (< time, same order) and `start_order`, a 0-based
//   permutation of the rows sorted by stratum, then start time ascending (ties in any order).
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
#include <cmath>
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

// Read-only view of the sorted data plus the working buffers of one Newton step.
struct CoxData {
  ConstMapMat x;
  ConstMapVec time, status, weights, offset, means;
  const int* stratum_end;
  Index nstrata;
  bool counting;
  const double* start;
  const int* start_order;
  Index n() const { return x.rows(); }
  Index p() const { return x.cols(); }
};

// Centred covariates and w exp(eta) of row i; returns eta.
inline double row_risk(const CoxData& d, const VectorXd& beta, Index i, double* z, double& r) {
  const Index p = d.p();
  double eta = d.offset[i];
  for (Index j = 0; j < p; ++j) {
    z[j] = d.x(i, j) - d.means[j];
    eta += beta[j] * z[j];
  }
  r = d.weights[i] * std::exp(eta);
  return eta;
}

inline void add_row(EventTimeSums& s, const double* z, double r, Index p, bool keep_death_matrix,
                    bool death, double w, double eta) {
  s.s0 += r;
  for (Index j = 0; j < p; ++j) s.s1[j] += r * z[j];
  add_outer_lower(s.s2, z, r, p);
  if (death && w > 0) {
    s.d0 += r;
    for (Index j = 0; j < p; ++j) {
      s.d1[j] += r * z[j];
      s.dwx[j] += w * z[j];
    }
    if (keep_death_matrix) add_outer_lower(s.d2, z, r, p);
    s.dw += w;
    s.dweta += w * eta;
    s.ndeath += 1;
  }
}

// Right-censored data: within each stratum, walk from the largest time down, growing the risk
// set, and close each distinct time.
void sweep_right(const CoxData& d, const VectorXd& beta, bool efron, EventTimeSums& s,
                 Accumulated& acc, double* z) {
  const Index p = d.p();
  Index lo = 0;
  for (Index h = 0; h < d.nstrata; ++h) {
    const Index hi = d.stratum_end[h];
    s.clear_risk_set();
    Index i = hi - 1;
    while (i >= lo) {
      const double t = d.time[i];
      s.clear_deaths();
      for (; i >= lo && d.time[i] == t; --i) {
        double r;
        const double eta = row_risk(d, beta, i, z, r);
        add_row(s, z, r, p, efron, d.status[i] > 0, d.weights[i], eta);
      }
      accumulate_event_time(s, efron, acc);
    }
    lo = hi;
  }
}

// Counting-process data: rows enter the risk set in decreasing stop time and leave it once
// the current event time is at or below their start time. `risk` caches w exp(eta) per row
// (computed when the row enters) so that leaving costs no second exp().
void sweep_counting(const CoxData& d, const VectorXd& beta, bool efron, EventTimeSums& s,
                    Accumulated& acc, double* z, double* risk) {
  const Index p = d.p();
  Index lo = 0;
  for (Index h = 0; h < d.nstrata; ++h) {
    const Index hi = d.stratum_end[h];
    s.clear_risk_set();
    Index at_risk = 0;
    Index i = hi - 1, k = hi - 1;
    while (i >= lo) {
      const double t = d.time[i];
      s.clear_deaths();
      for (; i >= lo && d.time[i] == t; --i) {
        const double eta = row_risk(d, beta, i, z, risk[i]);
        add_row(s, z, risk[i], p, efron, d.status[i] > 0, d.weights[i], eta);
        ++at_risk;
      }
      if (s.ndeath <= 0) continue;
      for (; k >= lo && d.start[d.start_order[k]] >= t; --k) {
        const Index j = d.start_order[k];
        const double r = risk[j];
        for (Index c = 0; c < p; ++c) z[c] = d.x(j, c) - d.means[c];
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
                 Accumulated& acc, double* z, double* risk) {
  acc.clear();
  if (d.counting) sweep_counting(d, beta, efron, s, acc, z, risk);
  else sweep_right(d, beta, efron, s, acc, z);
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

VectorXd column_scales(const CoxData& d, const Rcpp::LogicalVector& doscale) {
  const Index p = d.p();
  VectorXd scale = VectorXd::Ones(p);
  const double wsum = d.weights.sum();
  for (Index j = 0; j < p; ++j) {
    if (!doscale[j]) continue;
    double dev = 0;
    for (Index i = 0; i < d.n(); ++i) dev += d.weights[i] * std::fabs(d.x(i, j) - d.means[j]);
    if (dev > 0) scale[j] = wsum / dev;
  }
  return scale;
}

}  // namespace

// Fits the Cox model by Newton-Raphson with step halving. Returns the coefficients (on the
// scale of the covariates), the inverse information at them, the log partial likelihood at
// `init` and at the end, the score test at `init`, the score at the end, the iteration count,
// the rank and the aliased columns. The caller decides what to warn about.
// [[Rcpp::export]]
Rcpp::List cox_newton_cpp(const Eigen::Map<Eigen::MatrixXd> x, const Eigen::Map<Eigen::VectorXd> time,
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
  CoxData d{ConstMapMat(x.data(), x.rows(), x.cols()),
            ConstMapVec(time.data(), time.size()), ConstMapVec(status.data(), status.size()),
            ConstMapVec(weights.data(), weights.size()), ConstMapVec(offset.data(), offset.size()),
            ConstMapVec(means.data(), means.size()), stratum_end.begin(), stratum_end.size(),
            counting, counting ? start_v.begin() : nullptr,
            counting ? start_o.begin() : nullptr};
  const Index p = d.p();
  const VectorXd scale = column_scales(d, doscale);
  EventTimeSums sums(p);
  Accumulated acc(p);
  std::vector<double> z(p > 0 ? p : 1);
  std::vector<double> risk(counting ? d.n() : 0);

  VectorXd beta = init;
  newton_pass(d, beta, efron, sums, acc, z.data(), risk.data());
  const double loglik_init = acc.loglik;
  Ldl factor = factor_scaled(acc.imat, scale, toler_chol);
  VectorXd step = newton_step(factor, acc.u, scale);
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
      newton_pass(d, newbeta, efron, sums, acc, z.data(), risk.data());
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
    if (iter > iter_max) iter = iter_max;
  }
  Rcpp::LogicalVector aliased(p);
  for (Index j = 0; j < p; ++j) aliased[j] = factor.aliased[j];
  return Rcpp::List::create(
    Rcpp::Named("coefficients") = newbeta,
    Rcpp::Named("var") = unscaled_inverse(factor, scale),
    Rcpp::Named("loglik") = Rcpp::NumericVector::create(loglik_init, loglik),
    Rcpp::Named("score_test") = score_test,
    Rcpp::Named("score") = acc.u,
    Rcpp::Named("iter") = iter,
    Rcpp::Named("converged") = converged,
    Rcpp::Named("rank") = static_cast<int>(factor.rank),
    Rcpp::Named("aliased") = aliased);
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
