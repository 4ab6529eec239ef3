// The one generalised Cholesky (LDL') decomposition and the one Newton-Raphson step-halving
// rule of the package, shared by the Cox kernel (cox.cpp), the multi-site coordinator
// (partition.cpp, through newton_*_cpp), the bootstrap (resample.cpp) and Firth (firth.cpp).
//
// Contract: matrices are p x p, symmetric (only the lower triangle is read), non-negative
// definite up to rounding; vectors have length p. No R API here (usable off the main thread).
//
// Ldl: a pivot below toler times the largest diagonal element (or not finite) marks its
// column as aliased (a linear combination of the earlier ones): its D entry and L column are
// zero, so that solves and the inverse give 0 for it, a generalised inverse as in
// survival's cholesky2 / chsolve2 / chinv2. With toler = 0 only non-positive pivots are
// aliased, which makes `positive_definite()` the test an LLT decomposition would make.
//
// NewtonHalving: survival's control flow for maximising a log partial likelihood. Start at
// init with the step I^- U there; then per evaluation at the proposed point: converged when
// |1 - loglik / accepted| <= eps outside a halving; a decrease (loglik < accepted) halves the
// step back towards the last accepted point; otherwise the point is accepted and the next
// step is taken from its information. The information is needed only where a step is taken
// or the fit ends (`needs_information()`), which saves a pass per halving.

#ifndef RWECOHORT_LDL_H
#define RWECOHORT_LDL_H

#include <RcppEigen.h>
#include "types.h"
#include <algorithm>
#include <cmath>
#include <vector>

namespace rwe {

struct Ldl {
  MatrixXd l;   // unit lower triangular factor
  VectorXd dg;  // diagonal; 0 for aliased columns
  std::vector<bool> aliased;
  Index rank = 0;

  Ldl() = default;
  Ldl(const Eigen::Ref<const MatrixXd>& a, double toler) { factor(a, toler); }

  // Factors `a` again, reusing the storage when the size is unchanged.
  void factor(const Eigen::Ref<const MatrixXd>& a, double toler) {
    const Index p = a.rows();
    l = a;
    dg.resize(p);
    aliased.assign(p, false);
    rank = 0;
    double largest = 0;
    for (Index i = 0; i < p; ++i) largest = std::max(largest, a(i, i));
    const double threshold = (largest > 0 ? largest : 1.0) * toler;
    for (Index i = 0; i < p; ++i) {
      const double pivot = l(i, i);
      if (!std::isfinite(pivot) || pivot < threshold || (toler == 0 && !(pivot > 0))) {
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

  bool positive_definite() const { return rank == dg.size(); }

  // log det of the matrix (meaningful when positive definite).
  double logdet() const { return dg.array().log().sum(); }

  // y <- A^- y, in place (no allocation: usable in per-replicate loops).
  void solve_in_place(Eigen::Ref<VectorXd> y) const {
    l.triangularView<Eigen::UnitLower>().solveInPlace(y);
    for (Index i = 0; i < y.size(); ++i) y[i] = aliased[i] ? 0.0 : y[i] / dg[i];
    l.transpose().triangularView<Eigen::UnitUpper>().solveInPlace(y);
    for (Index i = 0; i < y.size(); ++i) if (aliased[i]) y[i] = 0;
  }

  VectorXd solve(const VectorXd& b) const {
    VectorXd y = b;
    solve_in_place(y);
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

// The rank decisions are made on the information of the scaled covariates x * scale, so that
// they do not depend on the units of the covariates (as coxph's internal scaling).
inline Ldl factor_scaled(const MatrixXd& imat, const VectorXd& scale, double toler) {
  return Ldl(scale.asDiagonal() * imat * scale.asDiagonal(), toler);
}

// Newton step for the unscaled coefficients from the factor of the scaled information.
inline VectorXd newton_step(const Ldl& f, const VectorXd& u, const VectorXd& scale) {
  return scale.cwiseProduct(f.solve(scale.cwiseProduct(u)));
}

inline MatrixXd unscaled_inverse(const Ldl& f, const VectorXd& scale) {
  return scale.asDiagonal() * f.inverse() * scale.asDiagonal();
}

// The information is formed as a difference, gross - (mean products), gross_jj being the
// uncentred (risk-weighted second moment) part of its diagonal. A diagonal left below the
// rounding error of that difference carries no information (a covariate constant in every
// risk set with an event, e.g. one-row risk sets, where w x x / w != x rounds by an ulp): its
// row and column are set to zero, so the generalised Cholesky marks the coefficient aliased,
// as survival's exact zero does, instead of inverting rounding noise.
inline void drop_rounding_information(MatrixXd& imat, const VectorXd& gross) {
  const double tol = 64 * 2.220446049250313e-16;
  for (Index j = 0; j < imat.rows(); ++j) {
    if (gross[j] > 0 && imat(j, j) <= tol * gross[j]) {
      imat.row(j).setZero();
      imat.col(j).setZero();
    }
  }
}

// The state of one Newton-Raphson run with step halving (see the header comment). The
// caller evaluates the log-likelihood at `proposal`, calls observe(); when
// needs_information() it evaluates score and information there and calls advance() with
// them; it stops when done().
struct NewtonHalving {
  VectorXd beta;      // last accepted point
  VectorXd proposal;  // the point to evaluate next (the final coefficients once done)
  double accepted = 0;   // log-likelihood at beta
  double loglik = 0;     // log-likelihood at proposal (after observe())
  int iter = 0, iter_max = 0;
  double eps = 0;
  bool halving = false, converged = false, overshot = false, finished = false;

  // At init: its log-likelihood and Newton step (from its score and information).
  NewtonHalving(const VectorXd& init, double loglik_init, const VectorXd& step, int iter_max_,
                double eps_)
      : beta(init), proposal(init), accepted(loglik_init), loglik(loglik_init),
        iter_max(iter_max_), eps(eps_) {
    if (iter_max > 0) proposal = init + step;
    finished = iter_max <= 0;
  }

  bool done() const { return finished; }

  // The log-likelihood at `proposal`. A 0 / 0 (log-likelihood exactly 0, perfect separation)
  // or a NaN compares false both ways: not converged and not worse, as in survival's C code.
  void observe(double value) {
    ++iter;
    loglik = value;
    converged = !halving && std::fabs(1.0 - accepted / loglik) <= eps;
    overshot = loglik < accepted;
    finished = converged || iter >= iter_max;
  }

  // Score and information are wanted at `proposal` when the fit ends there or a step is
  // taken from it; not when the step is only halved.
  bool needs_information() const { return finished || !overshot; }

  // After observe() (and, if needed, with the Newton step at `proposal` from its information).
  void advance(const VectorXd& step) {
    if (finished) return;
    if (overshot) {
      // the step overshot: retry half of it from the last accepted point
      halving = true;
      proposal = 0.5 * (proposal + beta);
    } else {
      halving = false;
      accepted = loglik;
      beta = proposal;
      proposal = beta + step;
    }
  }
};

}  // namespace rwe

#endif
