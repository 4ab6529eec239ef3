// Event-time grid sums of the Cox partial likelihood, shared by the single-machine kernel
// (cox.cpp, where threads are the partitions) and the multi-site kernels (partition.cpp).
//
// Contract: `x` n x p double, no NA (a matrix or p separate columns, see Columns); rows in
// any order (each carries its grid positions); `means` centre x on the fly (zeros when x is
// already centred); weights >= 0 (length 0: all 1); offset (length 0: none); status 0/1.
// The grid holds the distinct event times of each stratum, stratum block after stratum
// block (`bounds`). A row is at risk at the grid positions entry+1 .. last (start < t <=
// time): `last` is the largest grid time <= its time in its stratum, `entry` the largest
// <= its start, -1 if none (always -1 for right-censored data). Event rows sit exactly on
// their `last` position.

#ifndef RWECOHORT_COX_GRID_H
#define RWECOHORT_COX_GRID_H

#include <RcppEigen.h>
#include "interrupt.h"
#include "types.h"
#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

namespace coxgrid {

// The package's types (types.h), also reachable as coxgrid::Index, coxgrid::ConstMapVec ...
using ::Index;
using ::MatrixXd;
using ::VectorXd;
using ::ConstMapMat;
using ::ConstMapVec;

// The columns of x, read-only, wherever they are in R memory: the columns of one matrix, or
// separate vectors of equal length (a data frame's numeric columns, so that the model matrix
// of plain numeric covariates is never assembled: at 10^7 rows x 10 that is 0.8 GB). The
// kernels read x only column by column (col(j), a view), never as one matrix.
class Columns {
 public:
  Columns(const double* data, Index n, Index p) : n_(n), ptr_(static_cast<std::size_t>(p)) {
    for (Index j = 0; j < p; ++j) ptr_[j] = data + j * n;
  }
  Columns(std::vector<const double*> ptr, Index n) : n_(n), ptr_(std::move(ptr)) {}
  Index rows() const { return n_; }
  Index cols() const { return static_cast<Index>(ptr_.size()); }
  ConstMapVec col(Index j) const { return ConstMapVec(ptr_[j], n_); }
  double operator()(Index i, Index j) const { return ptr_[j][i]; }

 private:
  Index n_;
  std::vector<const double*> ptr_;
};

// The rows as the kernel sees them: read-only views of R memory plus the centring constants.
// `colscale`, when not null, holds exact powers of two that multiply the columns of x as they
// are read (x is never copied); `means` are then the centres of the scaled columns. Left null
// (value-initialised) by callers that do not rescale.
struct CoxRows {
  Columns x;
  ConstMapVec status, weights, offset, means;
  const double* colscale;
  Index n() const { return x.rows(); }
  Index p() const { return x.cols(); }
  // `weights` and `offset` may have length 0: unit weights, no offset (nothing materialised).
  bool weighted() const { return weights.size() > 0; }
  double weight(Index i) const { return weighted() ? weights[i] : 1.0; }
  double weight_sum() const { return weighted() ? weights.sum() : static_cast<double>(n()); }
};

// Rows between two interrupt polls in the row passes: about 2^21 multiply-adds of work.
inline Index rows_per_poll(Index p) {
  return std::max<Index>(256, (Index(1) << 21) / ((p + 1) * (p + 1)));
}

// Event-time grid and each row's place on it (see the header comment).
struct Grid {
  std::vector<double> time;   // grid times, stratum blocks in stratum order (may be unknown)
  std::vector<Index> bounds;  // first position of each stratum block; size() at the end
  std::vector<int> last, entry;  // `entry` is left empty for right-censored data
  bool counting = false;
  Index size() const { return bounds.empty() ? 0 : bounds.back(); }
  // A row contributes to some risk set (an event row always does).
  bool at_risk(Index i) const { return last[i] >= 0 && entry_of(i) < last[i]; }
  Index entry_of(Index i) const { return counting ? entry[i] : -1; }
};

// Blocks of rows centred into a buffer that stays in the first-level cache (column-major,
// `rows` x p, about 16 kB), so that the passes run as small dense loops over memory they read
// once.
class CentredBlocks {
 public:
  explicit CentredBlocks(const CoxRows& d)
      : d_(d), rows_(std::max<Index>(32, std::min<Index>(512, 2048 / std::max<Index>(1, d.p())))),
        buf_(rows_, d.p()) {}
  Index rows() const { return rows_; }
  // Centred rows [first, first + len), len <= rows().
  Eigen::Block<MatrixXd> load(Index first, Index len) {
    if (d_.colscale != nullptr) {  // rare: a column far outside unit scale (see cox.cpp)
      for (Index j = 0; j < d_.p(); ++j) {
        buf_.col(j).head(len) =
          d_.x.col(j).segment(first, len).array() * d_.colscale[j] - d_.means[j];
      }
      return buf_.topRows(len);
    }
    for (Index j = 0; j < d_.p(); ++j) {
      buf_.col(j).head(len) = d_.x.col(j).segment(first, len).array() - d_.means[j];
    }
    return buf_.topRows(len);
  }

 private:
  const CoxRows& d_;
  Index rows_;
  MatrixXd buf_;
};

// Per grid position: bucket sums that become risk-set sums, and the deaths' sums.
// Rows 0..p-1 of `risk`/`dead` are sums of w exp(eta) x, row p the sum of w exp(eta).
struct GridSums {
  MatrixXd risk, leave, dead;     // (p + 1) x G; `leave` only for counting-process data
  std::vector<Index> nrisk, nleave;  // row counts, to make an emptied risk set exactly zero
  VectorXd dead_weight, dead_count;  // sum of w and count of positive-weight deaths
  VectorXd dead_wx;                  // over all deaths: sum of w x (centred)
  double dead_weta = 0;              // ... and of w eta
  GridSums(Index p, Index ngrid, bool counting)
      : risk(p + 1, ngrid), leave(counting ? p + 1 : 0, counting ? ngrid : 0), dead(p + 1, ngrid),
        nrisk(counting ? ngrid : 0), nleave(counting ? ngrid : 0), dead_weight(ngrid),
        dead_count(ngrid), dead_wx(p) {}
  void clear() {
    risk.setZero(); leave.setZero(); dead.setZero();
    std::fill(nrisk.begin(), nrisk.end(), 0);
    std::fill(nleave.begin(), nleave.end(), 0);
    dead_weight.setZero(); dead_count.setZero(); dead_wx.setZero(); dead_weta = 0;
  }
};

inline void add_to_column(MatrixXd& m, Index col, const Eigen::Block<MatrixXd>& z, Index i,
                          double r) {
  double* c = m.data() + col * m.rows();
  const Index p = z.cols();
  for (Index j = 0; j < p; ++j) c[j] += r * z(i, j);
  c[p] += r;
}

// Pass 1, rows: buckets of w exp(eta) (x) at `last` (and `entry`), death buckets and totals.
// Stores eta and w exp(eta) of every row (`eta`, `risk`) for pass 2 and the linear predictors.
// With `deviation`, also adds sum w |x - mean| per column (the scales; first pass only, so
// that x is not read once more for them).
// With `stop`, polls for a user interrupt every rows_per_poll() rows and returns early when it
// is raised (the sums are then incomplete; the caller throws).
inline void bucket_rows(const CoxRows& d, const Grid& g, const VectorXd& beta, Index begin, Index end,
                 CentredBlocks& blocks, GridSums& s, Eigen::Map<VectorXd> eta, std::vector<double>& risk,
                 VectorXd* deviation, rwe::StopFlag* stop = nullptr, bool main_thread = true) {
  const Index poll_rows = rows_per_poll(d.p());
  Index since_poll = 0;
  for (Index first = begin; first < end; first += blocks.rows()) {
    const Index len = std::min(blocks.rows(), end - first);
    if (stop != nullptr && (since_poll += len) >= poll_rows) {
      since_poll = 0;
      if (stop->poll(main_thread)) return;
    }
    const auto z = blocks.load(first, len);
    eta.segment(first, len).noalias() = z * beta;
    if (d.offset.size() > 0) eta.segment(first, len) += d.offset.segment(first, len);
    if (deviation != nullptr) {
      if (d.weighted()) {
        deviation->noalias() += z.cwiseAbs().transpose() * d.weights.segment(first, len);
      } else {
        deviation->noalias() += z.cwiseAbs().transpose() * VectorXd::Ones(len);
      }
    }
    // Eigen's vectorised exp (accurate to an ulp or two), a block at a time.
    Eigen::Map<VectorXd> risk_block(risk.data() + first, len);
    if (d.weighted()) {
      risk_block =
        d.weights.segment(first, len).cwiseProduct(eta.segment(first, len).array().exp().matrix());
    } else {
      risk_block = eta.segment(first, len).array().exp().matrix();
    }
    for (Index k = 0; k < len; ++k) {
      const Index i = first + k;
      const double w = d.weight(i);
      const double r = risk[i];
      if (!g.at_risk(i)) continue;
      const Index last = g.last[i], entry = g.entry_of(i);
      add_to_column(s.risk, last, z, k, r);
      if (g.counting) {
        ++s.nrisk[last];
        if (entry >= 0) {
          add_to_column(s.leave, entry, z, k, r);
          ++s.nleave[entry];
        }
      }
      if (d.status[i] > 0) {
        add_to_column(s.dead, last, z, k, r);
        s.dead_weight[last] += w;
        s.dead_count[last] += (w > 0) ? 1.0 : 0.0;
      }
    }
    // The deaths' totals of w x and w eta, as block products.
    const auto dead = d.status.segment(first, len).unaryExpr([](double v) { return v > 0 ? 1.0 : 0.0; });
    const VectorXd dead_w = d.weighted() ? VectorXd(d.weights.segment(first, len).cwiseProduct(dead))
                                         : VectorXd(dead);
    s.dead_wx.noalias() += z.transpose() * dead_w;
    s.dead_weta += dead_w.dot(eta.segment(first, len));
  }
}

// Buckets -> risk-set sums: within each stratum block, the sum over positions >= t. Counting-
// process data subtract the rows that left; the running sums are kept in long double and a
// risk set with no rows left is set to exactly zero, so no rounding residue survives.
inline void cumulate_risk_sets(const Grid& g, GridSums& s) {
  const Index nblocks = static_cast<Index>(g.bounds.size()) - 1;
  const Index m = s.risk.rows();
  std::vector<long double> in(m), out(m);
  for (Index b = 0; b < nblocks; ++b) {
    std::fill(in.begin(), in.end(), 0.0L);
    std::fill(out.begin(), out.end(), 0.0L);
    Index count = 0;
    for (Index t = g.bounds[b + 1] - 1; t >= g.bounds[b]; --t) {
      double* col = s.risk.data() + t * m;
      if (!g.counting) {
        for (Index j = 0; j < m; ++j) col[j] = static_cast<double>(in[j] += col[j]);
        continue;
      }
      const double* gone = s.leave.data() + t * m;
      count += s.nrisk[t] - s.nleave[t];
      for (Index j = 0; j < m; ++j) {
        in[j] += col[j];
        out[j] += gone[j];
        col[j] = count > 0 ? static_cast<double>(in[j] - out[j]) : 0.0;
      }
    }
  }
}

// Prefix sums of alpha per stratum block, kept as double-double pairs (hi + lo) so that the
// counting-process differences cum[last] - cum[entry] lose nothing to cancellation.
inline void alpha_prefix_sums(const Grid& g, const VectorXd& alpha, std::vector<double>& hi,
                              std::vector<double>& lo) {
  hi.assign(g.size(), 0.0);
  lo.assign(g.size(), 0.0);
  for (Index b = 0; b + 1 < static_cast<Index>(g.bounds.size()); ++b) {
    long double run = 0;
    for (Index t = g.bounds[b]; t < g.bounds[b + 1]; ++t) {
      run += alpha[t];
      hi[t] = static_cast<double>(run);
      lo[t] = static_cast<double>(run - hi[t]);
    }
  }
}

// Pass 2, rows [begin, end): sets `first` (lower triangle) to sum_i coef_i x_i x_i' with
// coef_i = w_i exp(eta_i) (A_i - [death] bterm_t), where A_i = cum[last] - cum[entry] sums
// alpha over the positions at which row i is at risk (`cum` as double-double hi + lo, from
// alpha_prefix_sums()). `stop` as in bucket_rows().
inline void add_weighted_crossprod(const CoxRows& d, const Grid& g, const std::vector<double>& risk,
                                   const std::vector<double>& hi, const std::vector<double>& lo,
                                   const VectorXd& bterm, Index begin, Index end,
                                   CentredBlocks& blocks, MatrixXd& first,
                                   rwe::StopFlag* stop = nullptr, bool main_thread = true) {
  const Index p = d.p();
  MatrixXd weighted(blocks.rows(), p);
  VectorXd coef(blocks.rows());
  first.setZero();
  const Index poll_rows = rows_per_poll(p);
  Index since_poll = 0;
  for (Index start = begin; start < end; start += blocks.rows()) {
    const Index len = std::min(blocks.rows(), end - start);
    if (stop != nullptr && (since_poll += len) >= poll_rows) {
      since_poll = 0;
      if (stop->poll(main_thread)) return;
    }
    for (Index k = 0; k < len; ++k) {
      const Index i = start + k;
      if (!g.at_risk(i)) { coef[k] = 0; continue; }
      const Index last = g.last[i], entry = g.entry_of(i);
      double a = entry >= 0 ? (hi[last] - hi[entry]) + (lo[last] - lo[entry]) : hi[last] + lo[last];
      if (d.status[i] > 0) a -= bterm[last];
      coef[k] = risk[i] * a;
    }
    const auto z = blocks.load(start, len);
    // Lower triangle as dot products of the block's columns: contiguous, vectorisable, and
    // half the work of a general product (which also pays packing costs at small p).
    for (Index k = 0; k < p; ++k) {
      weighted.col(k).head(len) = coef.head(len).cwiseProduct(z.col(k));
      for (Index j = k; j < p; ++j) first(j, k) += z.col(j).dot(weighted.col(k).head(len));
    }
  }
}

}  // namespace coxgrid

#endif
