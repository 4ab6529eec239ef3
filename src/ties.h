// Tied deaths at one event time of the Cox partial likelihood, Breslow or Efron: the one
// implementation used by the fit (cox.cpp), the partitioned coordinator (partition.cpp), the
// bootstrap refits (resample.cpp), the residuals and baseline hazards (cox_residuals.cpp) and
// the proportional-hazards test (through cox_residuals.cpp's event-time table).
//
// Contract: the caller passes, at one event time, the risk-set sums S0 = sum w e^eta, S1 =
// sum w e^eta x (and S2 = sum w e^eta x x' where the information is wanted), the same sums
// D0, D1 (D2) over the tied deaths, the number d of deaths with positive weight and their
// weight sum W. Nothing is checked here; d is a whole number >= 0.
//
// Efron averages over d stages k = 0..d-1 in which the deaths' share of the risk set goes
// from 1 to 1/d: stage k has the denominator den_k = S0 - f_k D0 with f_k = k/d and carries
// the mean death weight W/d. Breslow is one stage with f = 0 carrying W. Every quantity any
// caller needs is a stage sum of f^i / den^j, so the stage loop collapses to six scalars
// (O(d) work) and the vector/matrix terms are then O(p) / O(p^2) whatever d is:
//   loglik      -(W/stages) sum log den_k
//   score       -(W/stages) sum (S1 - f_k D1) / den_k           = -w (a0 S1 - a1 D1)
//   information  (W/stages) sum [(S2 - f_k D2) / den_k - a_k a_k'],  a_k = (S1 - f_k D1)/den_k
//                = w (a0 S2 - a1 D2) - w (b0 S1 S1' - b1 (S1 D1' + D1 S1') + b2 D1 D1')
//                (the second line for kernels that hand S2 to a second pass; the first,
//                stage by stage, where S2 is at hand: add_information())
//   hazard increment seen by a row at risk w a0, by one of the deaths w (a0 - a1)
//   d information / d beta: the same expansion with S3, D3 and the sums over den^3 (c0..c3)
// where w = W / stages. The information's S2/D2 part is also what the two-pass kernels hand to
// their second pass as per-time coefficients (alpha = w a0, efron_b = w a1).
// A time whose deaths all have zero weight (d = 0) is one stage of weight 0 (defined means,
// no contribution). (TieStages keeps a_i, b_i, c_i multiplied by S0, S0^2, S0^3: see below.)

#ifndef RWECOHORT_TIES_H
#define RWECOHORT_TIES_H

#include <cmath>

namespace rwe {

// The stage sums are kept free of the scale of the weights (q_k = den_k / S0, so that a0 =
// sum 1/q_k means S0 * sum 1/den_k, and so on) and the terms are formed from S / S0 ratios:
// no power of S0 is ever taken, so weights near 1e+-160 (which the residuals and curves see
// unscaled) neither overflow nor underflow.
struct TieStages {
  double stages = 1;  // Efron: d; Breslow (or d = 0): 1
  double weight = 0;  // of each stage: W / stages
  double inv_s0 = 0;  // 1 / S0
  double logsum = 0;  // sum_k log den_k
  double a0 = 0, a1 = 0;                  // sum_k f_k^i / q_k, i = 0, 1
  double b0 = 0, b1 = 0, b2 = 0;          // sum_k f_k^i / q_k^2, i = 0, 1, 2
  double c0 = 0, c1 = 0, c2 = 0, c3 = 0;  // sum_k f_k^i / q_k^3 (only with `third`)

  double loglik() const { return -weight * logsum; }
  // Coefficients of S2 and D2 in the information; alpha is also the hazard increment.
  double alpha() const { return weight * inv_s0 * a0; }
  double efron_b() const { return weight * inv_s0 * a1; }
  double hazard() const { return alpha(); }
  double hazard_death() const { return weight * inv_s0 * (a0 - a1); }  // at risk (1 - f_k)
  double hazard_var() const { return weight * inv_s0 * inv_s0 * b0; }  // sum w / den_k^2

  // out += c0 * S1 - c1 * D1 (any Eigen vectors): the building block of the vector terms.
  template <typename Out, typename V1, typename V2>
  static void add_combination(Out& out, double c0, double c1, const V1& s1, const V2& d1) {
    for (long j = 0; j < static_cast<long>(out.size()); ++j) out[j] += c0 * s1[j] - c1 * d1[j];
  }
  template <typename Out>
  static void set_zero(Out& out) {
    for (long j = 0; j < static_cast<long>(out.size()); ++j) out[j] = 0;
  }
  // score -= w sum_k a_k
  template <typename Out, typename V1, typename V2>
  void subtract_score(Out& score, const V1& s1, const V2& d1) const {
    add_combination(score, -alpha(), -efron_b(), s1, d1);
  }
  // The mean of x over the stages, sum_k a_k / stages (Schoenfeld residuals, cox.zph).
  template <typename Out, typename V1, typename V2>
  void set_mean(Out& mean, const V1& s1, const V2& d1) const {
    set_zero(mean);
    add_combination(mean, inv_s0 * a0 / stages, inv_s0 * a1 / stages, s1, d1);
  }
  // Hazard-weighted means sum_k h_k a_k, h_k = w / den_k, for a row at risk and for a death
  // (whose increments are (1 - f_k) h_k).
  template <typename Out, typename V1, typename V2>
  void set_hazard_mean(Out& out, const V1& s1, const V2& d1) const {
    const double h = weight * inv_s0;
    set_zero(out);
    add_combination(out, h * b0 * inv_s0, h * b1 * inv_s0, s1, d1);
  }
  template <typename Out, typename V1, typename V2>
  void set_hazard_mean_death(Out& out, const V1& s1, const V2& d1) const {
    const double h = weight * inv_s0;
    set_zero(out);
    add_combination(out, h * (b0 - b1) * inv_s0, h * (b1 - b2) * inv_s0, s1, d1);
  }
  // Lower triangle (j >= k) of m -= w sum_k a_k a_k' (m indexable as m(j, k)).
  template <typename M, typename V1, typename V2>
  void subtract_outer(M& m, const V1& s1, const V2& d1) const {
    const long p = static_cast<long>(s1.size());
    for (long k = 0; k < p; ++k) {
      const double sk = s1[k] * inv_s0, dk = d1[k] * inv_s0;
      for (long j = k; j < p; ++j) {
        const double sj = s1[j] * inv_s0, dj = d1[j] * inv_s0;
        m(j, k) -= weight * (b0 * sj * sk - b1 * (sj * dk + dj * sk) + b2 * dj * dk);
      }
    }
  }

  // Lower triangle of m += w sum_k [(S2 - f_k D2) / den_k - a_k a_k'] (S2, D2 indexable
  // (j, k); s0, d0 as given to tie_stages()), stage by stage in this centred form, as a
  // division per term. O(stages p^2); the two-pass kernels, which never
  // form S2, use alpha(), efron_b() and subtract_outer() instead.
  static constexpr long kStackP = 64;
  template <typename M, typename V1, typename V2, typename M2, typename N2>
  void add_information(M& m, double s0, double d0, const V1& s1, const V2& d1, const M2& s2,
                       const N2& d2) const {
    const long p = static_cast<long>(s1.size());
    const long nst = static_cast<long>(stages);
    for (long st = 0; st < nst; ++st) {
      const double f = nst > 1 ? static_cast<double>(st) / stages : 0.0;
      const double den = s0 - f * d0;
      // the stage's a_j, each one division as before, computed once rather than per (j, k)
      // pair (up to kStackP covariates on the stack; more: per pair, the same values)
      double a_stack[kStackP];
      const bool stacked = p <= kStackP;
      if (stacked) for (long j = 0; j < p; ++j) a_stack[j] = (s1[j] - f * d1[j]) / den;
      for (long k = 0; k < p; ++k) {
        const double ak = stacked ? a_stack[k] : (s1[k] - f * d1[k]) / den;
        for (long j = k; j < p; ++j) {
          const double aj = stacked ? a_stack[j] : (s1[j] - f * d1[j]) / den;
          const double second = (s2(j, k) - f * d2(j, k)) / den;
          const double v = second - aj * ak;
          // a difference below its own rounding error is zero (a risk set dominated by one
          // row, e.g. at a diverged fit, then gives an exactly singular information as in
          // survival, not rounding noise that looks regular)
          if (std::fabs(v) > 16 * 2.220446049250313e-16 * (std::fabs(second) + std::fabs(aj * ak))) {
            m(j, k) += weight * v;
          }
        }
      }
    }
  }
  // Packed entries j >= l >= k (at (j * p + l) * p + k) of the derivative of the information,
  // dI_jl / d beta_k, added to `dinfo`: w sum_k [S3/den - (S2 (x) S1 over the three index
  // pairs)/den^2 + 2 S1 (x) S1 (x) S1/den^3] at stage k, with S = S - f_k D. Needs `third`
  // sums; s2, d2 are read at (j, l) with j >= l only, s3, d3 packed as dinfo.
  template <typename V1, typename V2, typename M2, typename N2>
  void add_information_derivative(double* dinfo, const V1& s1, const V2& d1, const M2& s2,
                                  const N2& d2, const double* s3, const double* d3) const {
    const long p = static_cast<long>(s1.size());
    const double r = inv_s0;
    struct Ratio {  // S1 / S0 (or D1 / S0) read by index
      const V1* s; const V2* d; double r;
      double operator[](long j) const { return (s != nullptr ? (*s)[j] : (*d)[j]) * r; }
    };
    const Ratio n1{&s1, nullptr, r}, e1{nullptr, &d1, r};
    // sum over the three (pair, single) splits of {j, l, k} of A(pair) * B(single)
    auto splits = [&](const auto& a, const auto& b, long j, long l, long k) {
      return a(j, l) * b[k] + a(j, k) * b[l] + a(l, k) * b[j];
    };
    for (long j = 0; j < p; ++j) {
      for (long l = 0; l <= j; ++l) {
        for (long k = 0; k <= l; ++k) {
          const long idx = (j * p + l) * p + k;
          // every term in units of S / S0 (see the struct's comment)
          const double sj = s1[j] * r, sl = s1[l] * r, sk = s1[k] * r;
          const double dj = d1[j] * r, dl = d1[l] * r, dk = d1[k] * r;
          const double first = (a0 * s3[idx] - a1 * d3[idx]) * r;
          const double second = (b0 * splits(s2, n1, j, l, k) -
                                 b1 * (splits(s2, e1, j, l, k) + splits(d2, n1, j, l, k)) +
                                 b2 * splits(d2, e1, j, l, k)) * r;
          const double third = c0 * sj * sl * sk -
                               c1 * (dj * sl * sk + sj * dl * sk + sj * sl * dk) +
                               c2 * (dj * dl * sk + dj * sl * dk + sj * dl * dk) -
                               c3 * dj * dl * dk;
          dinfo[idx] += weight * (first - second + 2.0 * third);
        }
      }
    }
  }
};

// The stage sums of one event time: s0, d0 risk-set and death sums of w e^eta, `ndeath` the
// number of positive-weight deaths, `dead_weight` their weight sum. `third` adds the sums over
// den^3 that the derivative of the information needs (Firth's penalty, firth.cpp).
inline TieStages tie_stages(double s0, double d0, double ndeath, double dead_weight, bool efron,
                            bool third = false) {
  TieStages t;
  t.stages = (efron && ndeath > 1) ? ndeath : 1.0;
  t.weight = ndeath > 0 ? dead_weight / t.stages : 0.0;
  t.inv_s0 = 1.0 / s0;
  const double share = d0 / s0;  // the deaths' share of the risk set
  const long nst = static_cast<long>(t.stages);
  for (long k = 0; k < nst; ++k) {
    const double f = static_cast<double>(k) / t.stages;
    t.logsum += std::log(s0 - f * d0);
    const double inv = 1.0 / (1.0 - f * share);  // S0 / den_k
    t.a0 += inv; t.a1 += f * inv;
    t.b0 += inv * inv; t.b1 += f * inv * inv; t.b2 += f * f * inv * inv;
    if (!third) continue;
    const double inv3 = inv * inv * inv;
    t.c0 += inv3; t.c1 += f * inv3; t.c2 += f * f * inv3; t.c3 += f * f * f * inv3;
  }
  return t;
}

}  // namespace rwe

#endif
