// Firth-penalised Cox regression (Heinze & Schemper 2002; Firth 1993): the penalised
// log partial likelihood l*(b) = l(b) + penalty * log det I(b) (penalty = 1/2 is Firth's
// choice, 0 gives the ordinary Cox fit), its Newton-Raphson maximisation with step-halving
// and a maximum step (as coxphf does), and profile penalised-likelihood intervals and tests.
//
// Contract (validated and prepared in R/firth.R, never here):
//  * rows sorted by stratum, then time (stop time) ascending, events before censorings at
//    equal times; `strata` holds consecutive integer codes constant within blocks;
//  * `xt` is the p x n TRANSPOSED model matrix of the sorted rows (a row's covariates are
//    contiguous), finite, no intercept, typically centred and scaled (the fit is equivariant);
//  * `status` is 0/1, `weights` finite >= 0, `offset` finite, `time` finite;
//  * counting process: `start` < `time` row-wise, and `start_order` (0-based) orders the
//    sorted rows by stratum, then start descending; for right-censored data both are empty;
//  * ties are Breslow (efron = false) or Efron (efron = true), as survival::coxph computes them
//    (survival refuses zero weights; here a zero-weight row is exactly a dropped row, so an
//    Efron tie group's d counts only deaths with positive weight).
// Cost: every evaluation with the penalty needs third-order risk-set sums S3 = sum w e^eta
// x (x) x (x) x, i.e. O(n p^3) flops and p^3 doubles of state; this engine is meant for the
// small p (say p <= 20) at which monotone likelihood arises, not for wide models. With
// penalty = 0 the third-order sums are skipped (O(n p^2)).
//
// Layout: (a) `evaluate()` makes one backward pass over the sorted rows, building per
// event-time sums (risk set and tied deaths: S0..S3, E0..E3, death counts, sum w x and sum
// w eta over deaths) and consumes each immediately through (b) `consume_event_time()`, which
// turns one event time's sums into loglik, score, information and information derivative
// through the Efron/Breslow stage sums shared by every Cox kernel (ties.h): O(p^3) per event
// time whatever the number of tied deaths.
// A multi-site fit would ship the per-event-time sums instead of consuming them locally.
// Interrupts: evaluate() polls for Ctrl-C about every 2^22 multiply-adds of row work
// (interrupt.h), besides once per Newton iteration.
#include <RcppEigen.h>
#include "interrupt.h"
#include "types.h"
#include "ldl.h"
#include "ties.h"
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <vector>

// [[Rcpp::depends(RcppEigen)]]

namespace {

struct CoxData {
  Eigen::Map<Eigen::MatrixXd> xt;
  Eigen::Map<Eigen::VectorXd> time, status, weights, offset, start;
  Eigen::Map<Eigen::VectorXi> start_order;
  std::vector<Index> block_begin, block_end;  // stratum blocks [begin, end)
  bool counting, efron;
  Index n, p;
};

// Sums of w e^eta x^k (k = 0..3) over a set of rows (a risk set or a tie group).
struct MomentSums {
  double s0 = 0.0;
  VectorXd s1;
  MatrixXd s2;
  std::vector<double> s3;  // p^3, index (j * p + l) * p + k
  bool third = false;
  void init(Index p, bool with_third) {
    third = with_third;
    s1.resize(p);
    s2.resize(p, p);
    s3.assign(with_third ? p * p * p : 0, 0.0);
    reset();
  }
  void reset() {
    s0 = 0.0;
    s1.setZero();
    s2.setZero();
    std::fill(s3.begin(), s3.end(), 0.0);
  }
  // Adds one row with weight wr = w * exp(eta); a negative wr removes it (counting process).
  void add(const double* x, Index p, double wr) {
    s0 += wr;
    for (Index j = 0; j < p; ++j) {
      const double wxj = wr * x[j];
      s1[j] += wxj;
      for (Index l = 0; l <= j; ++l) s2(j, l) += wxj * x[l];
    }
    if (!third) return;
    // only j >= l >= k is accumulated; `symmetrise()` fills the rest when needed
    for (Index j = 0; j < p; ++j) {
      const double wxj = wr * x[j];
      for (Index l = 0; l <= j; ++l) {
        const double wxjl = wxj * x[l];
        double* row = &s3[(j * p + l) * p];
        for (Index k = 0; k <= l; ++k) row[k] += wxjl * x[k];
      }
    }
  }
};

// Copies the packed entries (j >= l >= k) of a symmetric p^3 array to all permutations.
void symmetrise3(std::vector<double>& t, Index p) {
  for (Index j = 0; j < p; ++j)
    for (Index l = 0; l <= j; ++l)
      for (Index k = 0; k <= l; ++k) {
        const double v = t[(j * p + l) * p + k];
        t[(j * p + k) * p + l] = v;
        t[(l * p + j) * p + k] = v;
        t[(l * p + k) * p + j] = v;
        t[(k * p + j) * p + l] = v;
        t[(k * p + l) * p + j] = v;
      }
}

// Log partial likelihood, score, information and d information / d beta_k.
struct Derivs {
  double loglik = 0.0;
  VectorXd score;
  MatrixXd info;
  std::vector<double> dinfo;  // p^3: dI_{jl} / d beta_k at (j * p + l) * p + k
  bool third = false;
  void init(Index p, bool with_third) {
    third = with_third;
    loglik = 0.0;
    score = VectorXd::Zero(p);
    info = MatrixXd::Zero(p, p);
    dinfo.assign(with_third ? p * p * p : 0, 0.0);
  }
};

// Per event-time sums, the unit a multi-site fit would exchange.
struct EventTimeSums {
  MomentSums risk, dead;
  double n_dead = 0.0, dead_w = 0.0, dead_weta = 0.0;
  VectorXd dead_wx;
};

struct Workspace {
  VectorXd eta, wr;
  EventTimeSums ev;
  void init(Index n, Index p, bool third) {
    eta.resize(n);
    wr.resize(n);
    ev.risk.init(p, third);
    ev.dead.init(p, third);
    ev.dead_wx.resize(p);
  }
};

// Turns one event time's sums into its contribution, with the tie handling of every Cox
// kernel (rwe::TieStages, ties.h): Breslow one denominator weighted by the total death weight,
// Efron d denominators S - (r/d) E, r = 0..d-1, each weighted by the mean death weight. The
// derivatives of S - f E follow those of S and E, so the information derivative is the same
// stage expansion with the third-order sums. Only the lower triangle of `info` is updated
// (evaluate() fills the rest).
void consume_event_time(const EventTimeSums& ev, bool efron, Derivs& out) {
  out.loglik += ev.dead_weta;
  out.score += ev.dead_wx;
  if (ev.dead_w <= 0.0) return;
  const rwe::TieStages ties = rwe::tie_stages(ev.risk.s0, ev.dead.s0, ev.n_dead, ev.dead_w,
                                              efron, out.third);
  out.loglik += ties.loglik();
  ties.subtract_score(out.score, ev.risk.s1, ev.dead.s1);
  ties.add_information(out.info, ev.risk.s0, ev.dead.s0, ev.risk.s1, ev.dead.s1, ev.risk.s2,
                       ev.dead.s2);
  if (out.third) {
    ties.add_information_derivative(out.dinfo.data(), ev.risk.s1, ev.dead.s1, ev.risk.s2,
                                    ev.dead.s2, ev.risk.s3.data(), ev.dead.s3.data());
  }
}

// One backward pass per stratum over the sorted rows at coefficients beta.
void evaluate(const CoxData& D, const VectorXd& beta, bool third, Workspace& w, Derivs& out) {
  const Index p = D.p;
  out.init(p, third);
  w.eta.noalias() = D.xt.transpose() * beta;
  w.eta += D.offset;
  // The partial likelihood is invariant to a common shift of eta; centring the range keeps
  // exp() finite for large coefficients.
  const double shift = 0.5 * (w.eta.maxCoeff() + w.eta.minCoeff());
  w.eta.array() -= shift;
  w.wr = D.weights.array() * w.eta.array().exp();
  EventTimeSums& ev = w.ev;
  // rows between interrupt polls: a row costs about p^3 multiply-adds (p^2 without S3)
  const Index poll_rows = std::max<Index>(64, (Index(1) << 22) / ((p + 1) * (p + 1) * (p + 1)));
  Index since_poll = 0;
  for (std::size_t b = 0; b < D.block_begin.size(); ++b) {
    const Index begin = D.block_begin[b], end = D.block_end[b];
    ev.risk.reset();
    Index ptr = begin;  // next row (in start-descending order) to leave the risk set
    Index i = end - 1;
    while (i >= begin) {
      const double t = D.time[i];
      Index g = i;
      while (g - 1 >= begin && D.time[g - 1] == t) --g;
      ev.dead.reset();
      ev.n_dead = ev.dead_w = ev.dead_weta = 0.0;
      ev.dead_wx.setZero();
      for (Index r = g; r <= i; ++r) {
        if (++since_poll >= poll_rows) {
          since_poll = 0;
          rwe::poll_interrupt();
        }
        const double* x = &D.xt(0, r);
        ev.risk.add(x, p, w.wr[r]);
        if (D.status[r] > 0.0 && D.weights[r] > 0.0) {
          ev.dead.add(x, p, w.wr[r]);
          ev.n_dead += 1.0;
          ev.dead_w += D.weights[r];
          ev.dead_weta += D.weights[r] * w.eta[r];
          for (Index j = 0; j < p; ++j) ev.dead_wx[j] += D.weights[r] * x[j];
        }
      }
      if (D.counting) {
        while (ptr < end && D.start[D.start_order[ptr]] >= t) {
          const Index r = D.start_order[ptr];
          ev.risk.add(&D.xt(0, r), p, -w.wr[r]);
          ++ptr;
        }
      }
      if (ev.n_dead > 0.0) consume_event_time(ev, D.efron, out);
      i = g - 1;
    }
  }
  out.info.triangularView<Eigen::StrictlyUpper>() = out.info.transpose();
  if (third) symmetrise3(out.dinfo, p);
}

// The penalised quantities at one point.
struct PenEval {
  Derivs d;
  bool ok = false;
  double logdet = 0.0, pen_loglik = 0.0;
  VectorXd pen_score;
  MatrixXd inv_info;
};

struct Control {
  double eps, gconv, max_step;
  int iter_max, max_halving;
};

class FirthFit {
 public:
  FirthFit(const CoxData& D, double penalty) : D_(D), penalty_(penalty) {
    work_.init(D.n, D.p, penalty != 0.0);
  }

  void eval(const VectorXd& beta, PenEval& e) {
    const Index p = D_.p;
    evaluate(D_, beta, penalty_ != 0.0, work_, e.d);
    // the package's generalised Cholesky (ldl.h) with tolerance 0: positive definite exactly
    // when an LLT decomposition would succeed; log det I = sum log D
    const rwe::Ldl ldl(e.d.info, 0.0);
    e.ok = ldl.positive_definite() && std::isfinite(e.d.loglik);
    if (!e.ok) return;
    e.logdet = ldl.logdet();
    e.inv_info = ldl.inverse();
    e.pen_loglik = e.d.loglik + penalty_ * e.logdet;
    e.pen_score = e.d.score;
    if (penalty_ != 0.0) {
      for (Index k = 0; k < p; ++k) {
        double tr = 0.0;
        for (Index j = 0; j < p; ++j)
          for (Index l = 0; l < p; ++l) tr += e.inv_info(j, l) * e.d.dinfo[(j * p + l) * p + k];
        e.pen_score[k] += penalty_ * tr;
      }
    }
    e.ok = std::isfinite(e.pen_loglik) && e.pen_score.allFinite();
  }

  // Maximises l* over the coordinates with free[j] true, the others held at beta's values.
  // Steps solve M delta = U* on the free block. M starts as the information I (Fisher
  // scoring on the penalised score, as coxphf does); when that converges slowly (the score
  // shrinks by less than 10x in a step, typical of monotone directions where I vanishes but
  // the penalty's curvature does not), M becomes the full Hessian of -l*, obtained by central
  // differences of the analytic penalised score. Either way the fixed point is U* = 0.
  struct Result {
    VectorXd beta;
    PenEval at;
    int iter = 0;
    bool converged = false, failed = false;
  };
  Result newton(VectorXd beta, const std::vector<bool>& free, const Control& ctl) {
    Result res;
    std::vector<Index> F;
    for (Index j = 0; j < D_.p; ++j)
      if (free[j]) F.push_back(j);
    const Index q = static_cast<Index>(F.size());
    eval(beta, res.at);
    res.beta = beta;
    res.failed = !res.at.ok;
    if (res.failed || q == 0) {
      res.converged = !res.failed;
      return res;
    }
    bool use_hessian = false;
    double gmax_prev = free_max_abs(res.at.pen_score, F);
    PenEval cand;
    for (int it = 1; it <= ctl.iter_max; ++it) {
      Rcpp::checkUserInterrupt();
      res.iter = it;
      VectorXd delta = newton_direction(res.beta, res.at, F, use_hessian);
      const double biggest = delta.cwiseAbs().maxCoeff();
      if (!std::isfinite(biggest)) {
        res.failed = true;
        break;
      }
      if (biggest > ctl.max_step) delta *= ctl.max_step / biggest;
      VectorXd next = res.beta;
      // halve while l* decreases; as coxphf, after max_halving halvings the step is taken
      for (int h = 0; h <= ctl.max_halving; ++h) {
        next = res.beta;
        for (Index a = 0; a < q; ++a) next[F[a]] += delta[a];
        eval(next, cand);
        const double slack = 1e-12 * (1.0 + std::fabs(res.at.pen_loglik));
        if (cand.ok && cand.pen_loglik >= res.at.pen_loglik - slack) break;
        if (h < ctl.max_halving) delta *= 0.5;
      }
      if (!cand.ok) {
        res.failed = true;
        break;
      }
      res.beta = next;
      std::swap(res.at, cand);
      const double gmax = free_max_abs(res.at.pen_score, F);
      if (delta.cwiseAbs().maxCoeff() <= ctl.eps && gmax <= ctl.gconv) {
        res.converged = true;
        break;
      }
      if (gmax > 0.1 * gmax_prev) use_hessian = true;
      gmax_prev = gmax;
    }
    return res;
  }

 private:
  static double free_max_abs(const VectorXd& v, const std::vector<Index>& F) {
    double m = 0.0;
    for (Index j : F) m = std::max(m, std::fabs(v[j]));
    return m;
  }

  // Solves M delta = U*_F with M = I_FF, or the numerical Hessian of -l* when asked and
  // positive definite (else I_FF).
  VectorXd newton_direction(const VectorXd& beta, const PenEval& at,
                            const std::vector<Index>& F, bool use_hessian) {
    const Index q = static_cast<Index>(F.size());
    MatrixXd M(q, q);
    VectorXd U(q);
    for (Index a = 0; a < q; ++a) {
      U[a] = at.pen_score[F[a]];
      for (Index b = 0; b < q; ++b) M(a, b) = at.d.info(F[a], F[b]);
    }
    if (use_hessian && penalty_ != 0.0) {
      MatrixXd H(q, q);
      PenEval plus, minus;
      bool ok = true;
      for (Index b = 0; b < q && ok; ++b) {
        const double h = 1e-5 * std::max(1.0, std::fabs(beta[F[b]]));
        VectorXd bp = beta, bm = beta;
        bp[F[b]] += h;
        bm[F[b]] -= h;
        eval(bp, plus);
        eval(bm, minus);
        ok = plus.ok && minus.ok;
        for (Index a = 0; a < q && ok; ++a)
          H(a, b) = -(plus.pen_score[F[a]] - minus.pen_score[F[a]]) / (2.0 * h);
      }
      if (ok) {
        const MatrixXd Hs = 0.5 * (H + H.transpose());
        const rwe::Ldl ldl(Hs, 0.0);
        if (ldl.positive_definite()) return ldl.solve(U);
      }
    }
    return rwe::Ldl(M, 0.0).solve(U);
  }

  const CoxData& D_;
  double penalty_;
  Workspace work_;
};

CoxData make_data(const Eigen::Map<Eigen::MatrixXd>& xt, const Eigen::Map<Eigen::VectorXd>& time,
                  const Eigen::Map<Eigen::VectorXd>& status, const Eigen::Map<Eigen::VectorXd>& weights,
                  const Eigen::Map<Eigen::VectorXd>& offset, const Rcpp::IntegerVector& strata,
                  const Eigen::Map<Eigen::VectorXd>& start,
                  const Eigen::Map<Eigen::VectorXi>& start_order, bool efron) {
  CoxData D{xt, time, status, weights, offset, start, start_order, {}, {},
            start.size() > 0, efron, xt.cols(), xt.rows()};
  const Index n = D.n;
  Index b = 0;
  while (b < n) {
    Index e = b + 1;
    while (e < n && strata[e] == strata[b]) ++e;
    D.block_begin.push_back(b);
    D.block_end.push_back(e);
    b = e;
  }
  return D;
}

Control make_control(const Rcpp::List& control) {
  Control c;
  c.eps = Rcpp::as<double>(control["eps"]);
  c.gconv = Rcpp::as<double>(control["gconv"]);
  c.max_step = Rcpp::as<double>(control["max.step"]);
  c.iter_max = Rcpp::as<int>(control["iter.max"]);
  c.max_halving = Rcpp::as<int>(control["max.halving"]);
  return c;
}

// Brent's root finder on [a, b] with f(a), f(b) of opposite signs.
double brent_root(const std::function<double(double)>& f, double a, double b, double fa,
                  double fb, double tol, int max_iter, int& iters) {
  double c = a, fc = fa, d = b - a, e = d;
  for (iters = 1; iters <= max_iter; ++iters) {
    if ((fb > 0 && fc > 0) || (fb < 0 && fc < 0)) {
      c = a;
      fc = fa;
      d = e = b - a;
    }
    if (std::fabs(fc) < std::fabs(fb)) {
      a = b; b = c; c = a;
      fa = fb; fb = fc; fc = fa;
    }
    const double tol1 = 2.0 * std::numeric_limits<double>::epsilon() * std::fabs(b) + 0.5 * tol;
    const double xm = 0.5 * (c - b);
    if (std::fabs(xm) <= tol1 || fb == 0.0) return b;
    if (std::fabs(e) >= tol1 && std::fabs(fa) > std::fabs(fb)) {
      double s = fb / fa, pp, qq;
      if (a == c) {
        pp = 2.0 * xm * s;
        qq = 1.0 - s;
      } else {
        const double q0 = fa / fc, r = fb / fc;
        pp = s * (2.0 * xm * q0 * (q0 - r) - (b - a) * (r - 1.0));
        qq = (q0 - 1.0) * (r - 1.0) * (s - 1.0);
      }
      if (pp > 0) qq = -qq;
      pp = std::fabs(pp);
      if (2.0 * pp < std::min(3.0 * xm * qq - std::fabs(tol1 * qq), std::fabs(e * qq))) {
        e = d;
        d = pp / qq;
      } else {
        d = xm;
        e = d;
      }
    } else {
      d = xm;
      e = d;
    }
    a = b;
    fa = fb;
    b += (std::fabs(d) > tol1) ? d : (xm > 0 ? tol1 : -tol1);
    fb = f(b);
  }
  return b;
}

// Profile penalised likelihood of coefficient j: max over the others with beta_j = b.
struct Profiler {
  FirthFit& fit;
  const Control& ctl;
  Index j;
  VectorXd warm;
  std::vector<bool> free;
  bool all_converged = true;
  int evals = 0;
  double at(double b) {
    VectorXd start = warm;
    start[j] = b;
    FirthFit::Result r = fit.newton(start, free, ctl);
    ++evals;
    if (r.failed || !r.converged) all_converged = false;
    // a failed fit (far out in the tail) counts as "far below the target", kept finite so
    // that Brent's interpolation stays defined
    if (r.failed) return -1e10;
    warm = r.beta;
    return r.at.pen_loglik;
  }
};

// One end of the profile interval: steps away from the estimate (doubling the step) until the
// profile drops below the target, then Brent between the last point above and the first below.
double profile_limit(Profiler& prof, const VectorXd& beta_hat, double se, double target,
                     double g_hat, double side, bool& ok, int& evals) {
  const Index j = prof.j;
  prof.warm = beta_hat;
  prof.all_converged = true;
  prof.evals = 0;
  // at the estimate the profile equals l*(beta_hat), so g there is crit / 2 (= g_hat)
  double lo = beta_hat[j], glo = g_hat, step = std::max(se, 1e-3);
  double hi = lo, ghi = glo;
  bool bracketed = false;
  for (int k = 0; k < 40; ++k) {
    hi = beta_hat[j] + side * step;
    ghi = prof.at(hi) - target;
    if (ghi <= 0.0) {
      bracketed = true;
      break;
    }
    lo = hi;
    glo = ghi;
    step *= 2.0;
  }
  ok = false;
  if (!bracketed) {
    evals = prof.evals;
    return side * std::numeric_limits<double>::infinity();
  }
  if (ghi == 0.0) {
    ok = prof.all_converged;
    evals = prof.evals;
    return hi;
  }
  int iters = 0;
  const double tol = 1e-10 * std::max(1.0, std::fabs(lo));
  const double root = brent_root([&](double b) { return prof.at(b) - target; }, lo, hi, glo,
                                 ghi, tol, 200, iters);
  ok = prof.all_converged && iters <= 200;
  evals = prof.evals;
  return root;
}

// Profile intervals (both ends) and penalised LR tests of beta_j = 0 for the coefficients
// in `which` (0-based), around the fitted `res`.
Rcpp::List profile_all(FirthFit& fit, const FirthFit::Result& res,
                       const Rcpp::IntegerVector& which, double crit, const Control& ctl) {
  const Index p = res.beta.size();
  const Index m = which.size();
  Rcpp::NumericVector lower(m), upper(m), chisq(m);
  Rcpp::LogicalVector lower_ok(m), upper_ok(m), test_ok(m);
  Rcpp::IntegerVector lower_evals(m), upper_evals(m), test_iter(m);
  const double target = res.at.pen_loglik - 0.5 * crit;
  for (Index a = 0; a < m; ++a) {
    const Index j = which[a];
    std::vector<bool> free(p, true);
    free[j] = false;
    Profiler prof{fit, ctl, j, res.beta, free};
    const double se = std::sqrt(res.at.inv_info(j, j));
    bool ok = false;
    int evals = 0;
    lower[a] = profile_limit(prof, res.beta, se, target, 0.5 * crit, -1.0, ok, evals);
    lower_ok[a] = ok;
    lower_evals[a] = evals;
    upper[a] = profile_limit(prof, res.beta, se, target, 0.5 * crit, 1.0, ok, evals);
    upper_ok[a] = ok;
    upper_evals[a] = evals;
    VectorXd init = res.beta;
    init[j] = 0.0;
    FirthFit::Result r0 = fit.newton(init, free, ctl);
    chisq[a] = r0.failed ? NA_REAL : 2.0 * (res.at.pen_loglik - r0.at.pen_loglik);
    test_ok[a] = !r0.failed && r0.converged;
    test_iter[a] = r0.iter;
  }
  return Rcpp::List::create(
      Rcpp::Named("lower") = lower, Rcpp::Named("upper") = upper,
      Rcpp::Named("chisq") = chisq, Rcpp::Named("lower_converged") = lower_ok,
      Rcpp::Named("upper_converged") = upper_ok, Rcpp::Named("test_converged") = test_ok,
      Rcpp::Named("lower_evals") = lower_evals, Rcpp::Named("upper_evals") = upper_evals,
      Rcpp::Named("test_iter") = test_iter);
}

}  // namespace

// Fits the (Firth-)penalised Cox model and, on request, profile intervals and tests.
// [[Rcpp::export(rng = false)]]
Rcpp::List firth_fit_cpp(const Eigen::Map<Eigen::MatrixXd> xt, const Eigen::Map<Eigen::VectorXd> time,
                         const Eigen::Map<Eigen::VectorXd> status, const Eigen::Map<Eigen::VectorXd> weights,
                         const Eigen::Map<Eigen::VectorXd> offset, const Rcpp::IntegerVector strata,
                         const Eigen::Map<Eigen::VectorXd> start,
                         const Eigen::Map<Eigen::VectorXi> start_order, bool efron,
                         double penalty, Rcpp::List control, bool profile,
                         Rcpp::IntegerVector which, double crit) {
  const CoxData D = make_data(xt, time, status, weights, offset, strata, start, start_order,
                              efron);
  const Index p = D.p;
  const Control ctl = make_control(control);
  FirthFit fit(D, penalty);
  PenEval at_zero;
  const VectorXd zero = VectorXd::Zero(p);
  fit.eval(zero, at_zero);
  if (!at_zero.ok) {
    return Rcpp::List::create(Rcpp::Named("ok") = false,
                              Rcpp::Named("problem") = "information not positive definite at 0");
  }
  const std::vector<bool> all_free(p, true);
  FirthFit::Result res = fit.newton(zero, all_free, ctl);
  if (res.failed) {
    return Rcpp::List::create(Rcpp::Named("ok") = false,
                              Rcpp::Named("problem") = "numerical failure in Newton-Raphson");
  }
  Rcpp::List out = Rcpp::List::create(
      Rcpp::Named("ok") = true, Rcpp::Named("coefficients") = res.beta,
      Rcpp::Named("var") = res.at.inv_info, Rcpp::Named("info") = res.at.d.info,
      Rcpp::Named("pen_loglik") = Rcpp::NumericVector::create(at_zero.pen_loglik,
                                                              res.at.pen_loglik),
      Rcpp::Named("loglik") = Rcpp::NumericVector::create(at_zero.d.loglik, res.at.d.loglik),
      Rcpp::Named("logdet") = Rcpp::NumericVector::create(at_zero.logdet, res.at.logdet),
      Rcpp::Named("pen_score") = res.at.pen_score, Rcpp::Named("score") = res.at.d.score,
      Rcpp::Named("iter") = res.iter, Rcpp::Named("converged") = res.converged);
  if (profile) out["profile"] = profile_all(fit, res, which, crit, ctl);
  return out;
}

// Log partial likelihood, score, information, its derivative and the penalised versions at
// a given beta (no fitting): the oracle the tests differentiate numerically.
// [[Rcpp::export(rng = false)]]
Rcpp::List firth_eval_cpp(const Eigen::Map<Eigen::MatrixXd> xt, const Eigen::Map<Eigen::VectorXd> time,
                          const Eigen::Map<Eigen::VectorXd> status, const Eigen::Map<Eigen::VectorXd> weights,
                          const Eigen::Map<Eigen::VectorXd> offset, const Rcpp::IntegerVector strata,
                          const Eigen::Map<Eigen::VectorXd> start,
                          const Eigen::Map<Eigen::VectorXi> start_order, bool efron,
                          const Eigen::Map<Eigen::VectorXd> beta, double penalty) {
  const CoxData D = make_data(xt, time, status, weights, offset, strata, start, start_order,
                              efron);
  FirthFit fit(D, penalty);
  PenEval e;
  fit.eval(beta, e);
  const Index p = D.p;
  Rcpp::NumericVector dinfo(e.d.dinfo.size());
  // R array [j, l, k] (column-major) = dI_{jl} / d beta_k
  for (Index j = 0; j < p && e.d.third; ++j)
    for (Index l = 0; l < p; ++l)
      for (Index k = 0; k < p; ++k) dinfo[j + p * (l + p * k)] = e.d.dinfo[(j * p + l) * p + k];
  if (e.d.third) dinfo.attr("dim") = Rcpp::IntegerVector::create(p, p, p);
  return Rcpp::List::create(
      Rcpp::Named("ok") = e.ok, Rcpp::Named("loglik") = e.d.loglik,
      Rcpp::Named("score") = e.d.score, Rcpp::Named("info") = e.d.info,
      Rcpp::Named("dinfo") = dinfo, Rcpp::Named("logdet") = e.logdet,
      Rcpp::Named("pen_loglik") = e.pen_loglik, Rcpp::Named("pen_score") = e.pen_score);
}
