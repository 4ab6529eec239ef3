// The log-rank / G-rho statistic from counts: the one implementation, used by logrank.cpp
// (logrank_test(), logrank_test_matrix(), partitioned_logrank_test() through
// logrank_stat_cpp()) and by resample.cpp (every Monte Carlo relabeling).
//
// Contract (the callers guarantee it; nothing is re-checked here):
//  * an event grid: one row per (stratum, event time) with at least one event, rows of a
//    stratum contiguous, times ascending within it; `stratum` codes 1..nstrata; per group the
//    number at risk and the number of events (finite, >= 0);
//  * the grid comes from the shared counting grid (counts_grid.h) through event_positions().
//
// logrank_sums() gives observed and expected events per (group, stratum) and the
// hypergeometric variance matrix summed over strata, with the G-rho weight S(t-)^rho of the
// pooled left-continuous Kaplan-Meier of the stratum. logrank_chisq() turns them into the
// chi-square: groups with expected > 0, the first left out, u' V^- u with a generalised
// inverse (eigenvalues above 1e-10 of the largest), df its rank, as survdiff. Two and three
// groups take closed forms equal to the eigen computation (exactly for two; to 1e-12 for
// three, used only when V is far from singular).
#ifndef RWECOHORT_LOGRANK_STAT_H
#define RWECOHORT_LOGRANK_STAT_H

#include "types.h"
#include "counts_grid.h"
#include <cmath>
#include <vector>

namespace logrankstat {

// Number of grid positions with an event.
inline Index count_event_positions(const countsgrid::CountCells& cells) {
  Index m = 0;
  for (Index p = 0; p < cells.npos(); ++p) m += cells.any_event(p);
  return m;
}

// Visits the m grid positions with an event (m = count_event_positions()), last to first,
// with their running numbers at risk: visit(k, p, at_risk) with k counting down from m - 1,
// so that a caller fills rows k of an output in ascending order.
template <class Visit>
void event_positions(const countsgrid::CountCells& cells, const std::vector<Index>& bounds,
                     Index m, Visit visit) {
  Index k = m;
  for (Index b = static_cast<Index>(bounds.size()) - 2; b >= 0; --b) {
    cells.walk_block(bounds[b], bounds[b + 1],
                     [&](Index p, const countsgrid::CountCells::AtRisk& r) {
                       if (cells.any_event(p)) visit(--k, p, r);
                     });
  }
}

struct Sums {
  MatrixXd observed, expected;  // ngroup x nstrata
  MatrixXd var;                 // ngroup x ngroup, summed over strata
  Sums(int ngroup, int nstrata)
      : observed(MatrixXd::Zero(ngroup, nstrata)), expected(MatrixXd::Zero(ngroup, nstrata)),
        var(MatrixXd::Zero(ngroup, ngroup)) {}
};

template <class Strata, class Risk, class Events>
void logrank_sums(const Strata& stratum, const Risk& n_risk, const Events& n_event, double rho,
                  Sums& out) {
  out.observed.setZero();
  out.expected.setZero();
  out.var.setZero();
  const Index m = n_risk.rows();
  const int ngroup = static_cast<int>(n_risk.cols());
  double km = 1.0;  // pooled left-continuous KM within the current stratum
  for (Index k = 0; k < m; ++k) {
    if (k == 0 || stratum[k] != stratum[k - 1]) km = 1.0;
    const int s = stratum[k] - 1;
    const double n = n_risk.row(k).sum();
    const double d = n_event.row(k).sum();
    const double w = (rho == 0.0) ? 1.0 : std::pow(km, rho);
    for (int g = 0; g < ngroup; ++g) {
      out.observed(g, s) += w * n_event(k, g);
      out.expected(g, s) += w * d * n_risk(k, g) / n;
    }
    if (n > 1.0) {
      // hypergeometric covariance of the event counts, scaled by the squared weight
      const double scale = w * w * d * (n - d) / (n - 1.0);
      for (int g = 0; g < ngroup; ++g) {
        const double pg = n_risk(k, g) / n;
        if (pg == 0.0) continue;
        for (int h = 0; h < ngroup; ++h) {
          const double ph = n_risk(k, h) / n;
          out.var(g, h) += scale * pg * ((g == h ? 1.0 : 0.0) - ph);
        }
      }
    }
    km *= (n - d) / n;
  }
}

struct Chisq {
  double chisq;
  int df;
};

// u' V^- u over the eigenvalues above 1e-10 of the largest.
inline Chisq eigen_chisq(const VectorXd& u, const MatrixXd& v) {
  Eigen::SelfAdjointEigenSolver<MatrixXd> eig(v);
  const VectorXd& lambda = eig.eigenvalues();
  const double top = lambda.maxCoeff();
  const VectorXd proj = eig.eigenvectors().transpose() * u;
  Chisq out{0.0, 0};
  for (Index a = 0; a < lambda.size(); ++a) {
    if (lambda[a] > top * 1e-10) {
      out.chisq += proj[a] * proj[a] / lambda[a];
      ++out.df;
    }
  }
  return out;
}

// `observed`, `expected`: per group, summed over strata.
inline Chisq logrank_chisq(const VectorXd& observed, const VectorXd& expected, const MatrixXd& var) {
  std::vector<Index> idx;  // groups with expected > 0, the first left out
  bool first = true;
  for (Index g = 0; g < expected.size(); ++g) {
    if (!(expected[g] > 0)) continue;
    if (!first) idx.push_back(g);
    first = false;
  }
  const Index m = static_cast<Index>(idx.size());
  if (m == 0) return Chisq{0.0, 0};
  VectorXd u(m);
  MatrixXd v(m, m);
  for (Index a = 0; a < m; ++a) {
    u[a] = observed[idx[a]] - expected[idx[a]];
    for (Index b = 0; b < m; ++b) v(a, b) = var(idx[a], idx[b]);
  }
  if (m == 1) {
    // two groups: what the eigen computation gives for a 1 x 1 variance, exactly
    const bool pos = v(0, 0) > v(0, 0) * 1e-10;
    return Chisq{pos ? u[0] * u[0] / v(0, 0) : 0.0, pos ? 1 : 0};
  }
  if (m == 2) {
    // three groups: the closed form when V is far from singular (eigenvalue ratio above
    // 1e-3, so that the determinant is accurate to ~1e-13: the eigen result to 1e-12)
    const double a = v(0, 0), b = v(0, 1), d = v(1, 1);
    const double half = std::sqrt(((a - d) / 2) * ((a - d) / 2) + b * b);
    if ((a + d) / 2 - half > 1e-3 * ((a + d) / 2 + half)) {
      const double num = d * (u[0] * u[0]) - 2 * b * u[0] * u[1] + a * (u[1] * u[1]);
      return Chisq{num / (a * d - b * b), 2};
    }
  }
  return eigen_chisq(u, v);
}

inline Chisq logrank_chisq(const Sums& s) {
  return logrank_chisq(s.observed.rowwise().sum(), s.expected.rowwise().sum(), s.var);
}

}  // namespace logrankstat

#endif
