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

// Two weighted rank counters, A (rows at risk) and B (deaths swept so far), over predictor
// ranks 1..size, with O(log size) updates and "weight below rank" queries. Layout, for cache
// efficiency at large n: the weights per rank live in a flat array (A and B interleaved), and
// a Fenwick tree over blocks of kBlock consecutive ranks holds the block totals. The tree is
// kBlock times smaller than the rank space (about 1 MB at n = 10^6, so it stays in cache); a
// query adds the tree prefix to a short contiguous run inside one block, so each operation
// touches one uncached region, which prefetch() starts loading ahead of time.
class PairedFenwick {
 public:
  explicit PairedFenwick(Index capacity)
      : rank_(capacity + 1), block_(capacity / kBlock + 2) {}

  // Empties the first `size` ranks (cost O(size), so per-stratum resets stay O(n) overall).
  void reset(Index size) {
    size_ = size;
    n_block_ = (size + kBlock - 1) / kBlock;
    total_a_ = total_b_ = 0.0;
    std::fill(rank_.begin(), rank_.begin() + size + 1, Pair());
    std::fill(block_.begin(), block_.begin() + n_block_ + 1, Pair());
  }

  void add_a(Index rank, double w) {
    total_a_ += w;
    rank_[rank].a += w;
    for (Index b = block_of(rank) + 1; b <= n_block_; b += b & (-b)) block_[b].a += w;
  }

  void add_b(Index rank, double w) {
    total_b_ += w;
    rank_[rank].b += w;
    for (Index b = block_of(rank) + 1; b <= n_block_; b += b & (-b)) block_[b].b += w;
  }

  // Weights of A and B strictly below `rank`: whole blocks below from the tree, then the
  // ranks of its own block below it.
  void below(Index rank, double& below_a, double& below_b) const {
    double sa = 0.0, sb = 0.0;
    const Index blk = block_of(rank);
    for (Index b = blk; b > 0; b -= b & (-b)) {
      sa += block_[b].a;
      sb += block_[b].b;
    }
    for (Index r = blk * kBlock + 1; r < rank; ++r) {
      sa += rank_[r].a;
      sb += rank_[r].b;
    }
    below_a = sa;
    below_b = sb;
  }

  void prefetch(Index rank) const {
    const Index first = block_of(rank) * kBlock + 1;
    __builtin_prefetch(&rank_[first], 1);
    __builtin_prefetch(&rank_[rank], 1);
  }

  double at_a(Index rank) const { return rank_[rank].a; }
  double at_b(Index rank) const { return rank_[rank].b; }
  double total_a() const { return total_a_; }
  double total_b() const { return total_b_; }

  // Once a stratum is swept A is no longer needed and B is final: replaces A's per-rank
  // weights by the cumulative B weight up to and including each rank, so that a row's final
  // B query (below, equal) is one lookup: below = cum_b_through(r) - at_b(r).
  void accumulate_b_into_a() {
    double s = 0.0;
    for (Index r = 1; r <= size_; ++r) {
      s += rank_[r].b;
      rank_[r].a = s;
    }
  }
  double cum_b_through(Index rank) const { return rank_[rank].a; }

 private:
  static constexpr Index kBlock = 16;
  struct Pair {
    double a = 0.0, b = 0.0;
  };
  // 0-based block holding a rank (ranks 1..kBlock are block 0); the tree is 1-based.
  static Index block_of(Index rank) { return (rank - 1) / kBlock; }
  std::vector<Pair> rank_;
  std::vector<Pair> block_;
  Index size_ = 0, n_block_ = 0;
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
// the tied-time pairs among them, then add them to B and A. `b_before` is scratch space.
void sweep_deaths(const SweepData& d, Index first, Index last, PairedFenwick& trees,
                  Influence& infl, PairCounts& pc, std::vector<double>& b_before) {
  // B's weight at each death's rank before any death at this time is added: what B gains at
  // that rank during the loop below is the weight of earlier deaths tied on the predictor.
  b_before.resize(last - first);
  for (Index k = first; k < last; ++k) b_before[k - first] = trees.at_b(d.rank[k]);
  double cum = 0.0, pairs_all = 0.0, pairs_xy = 0.0;
  for (Index k = first; k < last; ++k) {
    prefetch_row(d, trees, k, d.stop.size());
    const double w = d.weights[k];
    const Index r = d.rank[k];
    pairs_all += w * cum;
    pairs_xy += w * (trees.at_b(r) - b_before[k - first]);
    cum += w;
    trees.add_b(r, w);
  }
  pc.tied_y += pairs_all - pairs_xy;
  pc.tied_xy += pairs_xy;
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
                   std::vector<double>& b_before) {
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
    if (last > k) sweep_deaths(d, k, last, trees, infl, pc, b_before);
    i = last;
  }
  // Rows still at risk at the earliest time were compared with every death of the stratum.
  trees.accumulate_b_into_a();
  for (Index k = lo; k < hi; ++k) {
    prefetch_row(d, trees, k, hi);
    if (d.counting && removed[k]) continue;
    const Index r = d.rank[k];
    const double equal = trees.at_b(r);
    infl.add_partner(k, +1.0, trees.cum_b_through(r) - equal, equal, trees.total_b());
  }
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
  std::vector<double> b_before;  // scratch for sweep_deaths()
  std::vector<unsigned char> removed(counting ? n : 0, 0);
  Rcpp::NumericMatrix by_stratum(n_strata, 5);
  PairCounts total;

  for (Index s = 0; s < n_strata; ++s) {
    Rcpp::checkUserInterrupt();
    PairCounts pc;
    sweep_stratum(d, stratum_bounds[s], stratum_bounds[s + 1], trees, infl, pc, removed,
                  b_before);
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
