// Concordance (Harrell's C / Somers' D) kernel with its infinitesimal-jackknife variance.
//
// Contract (the R caller, R/concordance.R, guarantees all of it; nothing is re-checked here):
//   * n rows, sorted by stratum, then stop time DESCENDING, then status ascending (censored
//     rows before deaths at the same stop time); order within those ties does not matter.
//   * `stop`, `weights` finite doubles, weights >= 0; `status` 0/1 doubles; no NA anywhere.
//   * `rank` is the dense rank (1..K_s) of the predictor WITHIN its stratum: equal predictor
//     values share a rank, so predictor ties are exact ties of the doubles.
//   * `stratum_bounds` has length (number of strata + 1): rows of stratum s are
//     [stratum_bounds[s], stratum_bounds[s+1]) (0-based).
//   * Counting-process data: `start` (same row order as `stop`, start < stop) and
//     `start_order`, the 0-based row positions sorted by stratum then start DESCENDING.
//     Both have length 0 for right-censored data (every row is at risk from -infinity).
//   * `cluster`: 0-based cluster codes (same row order) with `n_cluster` distinct codes, or
//     length 0 for none (each row is its own cluster).
//
// Pairs are counted in the "larger predictor = longer survival" orientation (the caller swaps
// concordant/discordant for Cox linear predictors). A death i at time t is compared with every
// row j at risk at t (start_j < t <= stop_j) that is not itself a death at t: concordant if
// x_j > x_i, discordant if x_j < x_i, tied.x if equal; the pair weighs w_i * w_j. Two deaths at
// the same time form a tied.y pair (tied.xy if their predictors are also equal), counted once.
//
// Algorithm: O(n log n). Times are swept from the largest down. Fenwick tree A holds the
// weights (by predictor rank) of the rows currently at risk excluding the deaths being
// processed; querying it at a death's rank gives that death's concordant / discordant / tied
// weights. Fenwick tree B accumulates (by rank) the weights of all deaths swept so far; the
// weight of deaths a row j was compared with as the longer survivor is a difference of two
// queries of B: one when j enters the risk set (subtracted) and one when it leaves (added).
// These per-row sums are the derivatives of the pair counts with respect to w_j, from which
// the infinitesimal-jackknife variance of Somers' D follows:
//   dfbeta_j = w_j * [ (dC_j - dD_j) - D * (dC_j + dD_j + dT_j) ] / m,  m = C + D + T_x,
//   var(C-index) = sum over clusters of (sum of dfbeta in the cluster)^2 / 4.

#include <Rcpp.h>
// [[Rcpp::depends(RcppEigen)]]
#include <RcppEigen.h>

#include <cstddef>
#include <vector>

namespace {

using Index = std::ptrdiff_t;

// Two Fenwick trees over predictor ranks 1..size, stored interleaved (with the per-rank
// weights) so that the walks for A (rows at risk) and B (deaths swept so far) at one rank
// share cache lines. For large n the walks' low levels miss the cache; prefetch() issues
// those loads for a row that will be processed a little later.
class PairedFenwick {
 public:
  explicit PairedFenwick(Index capacity) : node_(capacity + 1) {}

  // Empties the first `size` ranks (cost O(size), so per-stratum resets stay O(n) overall).
  void reset(Index size) {
    size_ = size;
    total_a_ = total_b_ = 0.0;
    std::fill(node_.begin(), node_.begin() + size + 1, Node());
  }

  void add_a(Index rank, double w) {
    total_a_ += w;
    node_[rank].at_a += w;
    for (Index r = rank; r <= size_; r += r & (-r)) node_[r].a += w;
  }

  void add_b(Index rank, double w) {
    total_b_ += w;
    node_[rank].at_b += w;
    for (Index r = rank; r <= size_; r += r & (-r)) node_[r].b += w;
  }

  // Weights of A and B strictly below rank; one walk serves both trees.
  void below(Index rank, double& below_a, double& below_b) const {
    double sa = 0.0, sb = 0.0;
    for (Index r = rank - 1; r > 0; r -= r & (-r)) {
      sa += node_[r].a;
      sb += node_[r].b;
    }
    below_a = sa;
    below_b = sb;
  }

  // Starts loading the nodes that add_*() and below() will touch for `rank` (the first few
  // steps of each walk; the higher levels are few and stay cached).
  void prefetch(Index rank) const {
    Index r = rank;
    for (int step = 0; step < 10 && r <= size_; ++step, r += r & (-r)) {
      __builtin_prefetch(&node_[r], 1);
    }
    r = rank - 1;
    for (int step = 0; step < 10 && r > 0; ++step, r -= r & (-r)) {
      __builtin_prefetch(&node_[r], 0);
    }
  }

  double at_a(Index rank) const { return node_[rank].at_a; }
  double at_b(Index rank) const { return node_[rank].at_b; }
  const double& at_b_ref(Index rank) const { return node_[rank].at_b; }
  double total_a() const { return total_a_; }
  double total_b() const { return total_b_; }

  // Cumulative B weights by rank (B is final once a stratum is swept): cum[r] = B(<= r).
  void cumulative_b(std::vector<double>& cum) const {
    double s = 0.0;
    cum[0] = 0.0;
    for (Index r = 1; r <= size_; ++r) {
      s += node_[r].at_b;
      cum[r] = s;
    }
  }

 private:
  struct alignas(32) Node {
    double a = 0.0, b = 0.0, at_a = 0.0, at_b = 0.0;
  };
  std::vector<Node> node_;
  Index size_ = 0;
  double total_a_ = 0.0, total_b_ = 0.0;
};

// Rows are visited in order; loads for the row this far ahead are started early.
constexpr Index kPrefetchDistance = 16;
constexpr Index kRowsPerInterruptCheck = Index(1) << 17;

struct PairCounts {
  double concordant = 0.0, discordant = 0.0, tied_x = 0.0, tied_y = 0.0, tied_xy = 0.0;
};

// Per-row influence pieces: (dC - dD) and (dC + dD + dT), derivatives with respect to w_j.
struct Influence {
  std::vector<double> diff, total;
  explicit Influence(Index n) : diff(n, 0.0), total(n, 0.0) {}
  // Row j as the longer survivor of the deaths in B with weight `below` under its rank,
  // `equal` at it and `total_b` in all: smaller-rank deaths are concordant pairs.
  void add_partner(Index j, double sign, double below, double equal, double total_b) {
    const double above = total_b - below - equal;
    diff[j] += sign * (below - above);
    total[j] += sign * total_b;
  }
};

struct SweepData {
  const Eigen::Map<Eigen::VectorXd>& stop;
  const Eigen::Map<Eigen::VectorXd>& status;
  const Eigen::Map<Eigen::VectorXi>& rank;
  const Eigen::Map<Eigen::VectorXd>& weights;
  const Eigen::Map<Eigen::VectorXd>& start;
  const Eigen::Map<Eigen::VectorXi>& start_order;
  bool counting;
};

inline void prefetch_row(const SweepData& d, const PairedFenwick& trees, Index k, Index hi) {
  if (k + kPrefetchDistance < hi) trees.prefetch(d.rank[k + kPrefetchDistance]);
}

// Row j enters the risk set: it will be credited with the deaths added to B from now on, so
// subtract what B holds now (the difference is taken when it leaves).
inline void enter(const SweepData& d, Index j, PairedFenwick& trees, Influence& infl,
                  double below_b) {
  const Index r = d.rank[j];
  infl.add_partner(j, -1.0, below_b, trees.at_b(r), trees.total_b());
  trees.add_a(r, d.weights[j]);
}

// Deaths in rows [first, last), all at one time: count their pairs with the risk set (A),
// the tied-time pairs among them, then add them to B and A. `tie_scratch` is all zeros on
// entry and on exit.
void sweep_deaths(const SweepData& d, Index first, Index last, PairedFenwick& trees,
                  Influence& infl, PairCounts& pc, std::vector<double>& tie_scratch) {
  double cum = 0.0, pairs_all = 0.0, pairs_xy = 0.0;
  for (Index k = first; k < last; ++k) {
    prefetch_row(d, trees, k, d.stop.size());
    const double w = d.weights[k];
    const Index r = d.rank[k];
    pairs_all += w * cum;
    pairs_xy += w * tie_scratch[r];
    cum += w;
    tie_scratch[r] += w;
    trees.add_b(r, w);
  }
  pc.tied_y += pairs_all - pairs_xy;
  pc.tied_xy += pairs_xy;
  for (Index k = first; k < last; ++k) tie_scratch[d.rank[k]] = 0.0;
  // A excludes every death at this time; B includes them all, so their later credit as
  // longer survivors excludes the deaths they are tied with in time.
  for (Index k = first; k < last; ++k) {
    const double w = d.weights[k];
    const Index r = d.rank[k];
    double below_a, below_b;
    trees.below(r, below_a, below_b);
    const double equal_a = trees.at_a(r);
    const double above_a = trees.total_a() - below_a - equal_a;
    pc.concordant += w * above_a;
    pc.discordant += w * below_a;
    pc.tied_x += w * equal_a;
    infl.diff[k] += above_a - below_a;
    infl.total[k] += above_a + below_a + equal_a;
    infl.add_partner(k, -1.0, below_b, trees.at_b(r), trees.total_b());
  }
  for (Index k = first; k < last; ++k) trees.add_a(d.rank[k], d.weights[k]);
}

// Rows whose (start, stop] interval begins at or after time t leave the risk set before the
// deaths at t are compared; they are credited with the deaths swept while they were at risk.
void leave_before(const SweepData& d, double t, Index hi, Index& next_start,
                  PairedFenwick& trees, Influence& infl, std::vector<unsigned char>& removed) {
  while (next_start < hi && d.start[d.start_order[next_start]] >= t) {
    if (next_start + kPrefetchDistance < hi) {
      trees.prefetch(d.rank[d.start_order[next_start + kPrefetchDistance]]);
    }
    const Index j = d.start_order[next_start++];
    const Index r = d.rank[j];
    double below_a, below_b;
    trees.below(r, below_a, below_b);
    infl.add_partner(j, +1.0, below_b, trees.at_b(r), trees.total_b());
    trees.add_a(r, -d.weights[j]);
    removed[j] = 1;
  }
}

// One stratum, rows [lo, hi).
void sweep_stratum(const SweepData& d, Index lo, Index hi, PairedFenwick& trees,
                   Influence& infl, PairCounts& pc, std::vector<unsigned char>& removed,
                   std::vector<double>& scratch) {
  Index n_rank = 0;
  for (Index k = lo; k < hi; ++k) n_rank = std::max<Index>(n_rank, d.rank[k]);
  trees.reset(n_rank);
  Index next_start = lo;
  Index i = lo;
  Index next_interrupt_check = lo + kRowsPerInterruptCheck;
  while (i < hi) {
    if (i >= next_interrupt_check) {  // large strata: stay responsive to Ctrl-C
      Rcpp::checkUserInterrupt();
      next_interrupt_check = i + kRowsPerInterruptCheck;
    }
    const double t = d.stop[i];
    if (d.counting) leave_before(d, t, hi, next_start, trees, infl, removed);
    Index k = i;
    for (; k < hi && d.stop[k] == t && d.status[k] == 0.0; ++k) {
      prefetch_row(d, trees, k, hi);
      double below_a, below_b;
      trees.below(d.rank[k], below_a, below_b);
      enter(d, k, trees, infl, below_b);
    }
    Index last = k;
    while (last < hi && d.stop[last] == t) ++last;
    if (last > k) sweep_deaths(d, k, last, trees, infl, pc, scratch);
    i = last;
  }
  // Rows still at risk at the earliest time were compared with every death of the stratum.
  trees.cumulative_b(scratch);
  for (Index k = lo; k < hi; ++k) {
    if (k + kPrefetchDistance < hi) {
      __builtin_prefetch(&scratch[d.rank[k + kPrefetchDistance] - 1]);
      __builtin_prefetch(&trees.at_b_ref(d.rank[k + kPrefetchDistance]));
    }
    if (d.counting && removed[k]) continue;
    const Index r = d.rank[k];
    infl.add_partner(k, +1.0, scratch[r - 1], trees.at_b(r), trees.total_b());
  }
  std::fill(scratch.begin(), scratch.begin() + n_rank + 1, 0.0);
}

}  // namespace

// Weighted pair counts (per stratum and in total) and the infinitesimal-jackknife variance of
// the concordance, for data prepared as described at the top of this file.
// [[Rcpp::export]]
Rcpp::List conc_counts_cpp(const Eigen::Map<Eigen::VectorXd> stop,
                           const Eigen::Map<Eigen::VectorXd> status,
                           const Eigen::Map<Eigen::VectorXi> rank,
                           const Eigen::Map<Eigen::VectorXd> weights,
                           const Eigen::Map<Eigen::VectorXi> stratum_bounds,
                           const Eigen::Map<Eigen::VectorXd> start,
                           const Eigen::Map<Eigen::VectorXi> start_order,
                           const Eigen::Map<Eigen::VectorXi> cluster, int n_cluster) {
  const Index n = stop.size();
  const Index n_strata = stratum_bounds.size() - 1;
  const bool counting = start.size() > 0;
  SweepData d{stop, status, rank, weights, start, start_order, counting};

  Index max_rank = 0;
  for (Index k = 0; k < n; ++k) max_rank = std::max<Index>(max_rank, rank[k]);
  PairedFenwick trees(max_rank);
  Influence infl(n);
  std::vector<double> scratch(max_rank + 1, 0.0);
  std::vector<unsigned char> removed(counting ? n : 0, 0);
  Rcpp::NumericMatrix by_stratum(n_strata, 5);
  PairCounts total;

  for (Index s = 0; s < n_strata; ++s) {
    Rcpp::checkUserInterrupt();
    PairCounts pc;
    sweep_stratum(d, stratum_bounds[s], stratum_bounds[s + 1], trees, infl, pc, removed,
                  scratch);
    by_stratum(s, 0) = pc.concordant;
    by_stratum(s, 1) = pc.discordant;
    by_stratum(s, 2) = pc.tied_x;
    by_stratum(s, 3) = pc.tied_y;
    by_stratum(s, 4) = pc.tied_xy;
    total.concordant += pc.concordant;
    total.discordant += pc.discordant;
    total.tied_x += pc.tied_x;
    total.tied_y += pc.tied_y;
    total.tied_xy += pc.tied_xy;
  }

  // Infinitesimal jackknife: dfbeta of Somers' D per row, summed within clusters.
  const double pairs = total.concordant + total.discordant + total.tied_x;
  double var = R_NaN;  // no comparable pair: C is undefined, as in survival
  if (pairs > 0.0) {
    const double somers_d = (total.concordant - total.discordant) / pairs;
    double sum_sq = 0.0;
    if (cluster.size() > 0) {
      std::vector<double> by_cluster(n_cluster, 0.0);
      for (Index k = 0; k < n; ++k) {
        by_cluster[cluster[k]] +=
            weights[k] * (infl.diff[k] - somers_d * infl.total[k]) / pairs;
      }
      for (double v : by_cluster) sum_sq += v * v;
    } else {
      for (Index k = 0; k < n; ++k) {
        const double dfbeta = weights[k] * (infl.diff[k] - somers_d * infl.total[k]) / pairs;
        sum_sq += dfbeta * dfbeta;
      }
    }
    var = sum_sq / 4.0;
  }

  return Rcpp::List::create(
      Rcpp::Named("count") = Rcpp::NumericVector::create(total.concordant, total.discordant,
                                                         total.tied_x, total.tied_y,
                                                         total.tied_xy),
      Rcpp::Named("by_stratum") = by_stratum, Rcpp::Named("var") = var);
}
