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
#include "interrupt.h"
#include "types.h"
#include "concordance.h"
// [[Rcpp::depends(RcppEigen)]]
#include <RcppEigen.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

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
  void add(const PairCounts& o) {
    concordant += o.concordant; discordant += o.discordant; tied_x += o.tied_x;
    tied_y += o.tied_y; tied_xy += o.tied_xy;
  }
  // Stored as row `s` of a strata x 5 matrix.
  void store(Rcpp::NumericMatrix& m, int s) const {
    m(s, 0) = concordant; m(s, 1) = discordant; m(s, 2) = tied_x; m(s, 3) = tied_y;
    m(s, 4) = tied_xy;
  }
};

// The kernels' common result: total counts, per-stratum counts and the variance.
Rcpp::List concordance_result(const PairCounts& total, const Rcpp::NumericMatrix& by_stratum,
                              double var) {
  return Rcpp::List::create(
      Rcpp::Named("count") = Rcpp::NumericVector::create(total.concordant, total.discordant,
                                                         total.tied_x, total.tied_y,
                                                         total.tied_xy),
      Rcpp::Named("by_stratum") = by_stratum, Rcpp::Named("var") = var);
}

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

// Infinitesimal jackknife variance of the concordance: the dfbeta of Somers' D of each row
// (influence pieces by row index k), summed within clusters when there are any. NaN when no
// pair is comparable (C undefined, as in survival). `weight(k)` and `cluster_of(k)` give row
// k's case weight and 0-based cluster.
template <typename Weight, typename ClusterOf>
double jackknife_var(const PairCounts& total, const Influence& infl, Index n, bool clustered,
                     int n_cluster, Weight weight, ClusterOf cluster_of) {
  const double pairs = total.concordant + total.discordant + total.tied_x;
  if (!(pairs > 0.0)) return R_NaN;
  const double somers_d = (total.concordant - total.discordant) / pairs;
  double sum_sq = 0.0;
  std::vector<double> by_cluster(clustered ? n_cluster : 0, 0.0);
  for (Index k = 0; k < n; ++k) {
    rwe::poll_at(k);
    const double dfbeta = weight(k) * (infl.diff[k] - somers_d * infl.total[k]) / pairs;
    if (clustered) by_cluster[cluster_of(k)] += dfbeta;
    else sum_sq += dfbeta * dfbeta;
  }
  for (double v : by_cluster) sum_sq += v * v;
  return sum_sq / 4.0;
}

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
      rwe::poll_interrupt();
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
    rwe::poll_at(k);
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
// [[Rcpp::export(rng = false)]]
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
    rwe::poll_interrupt();
    PairCounts pc;
    sweep_stratum(d, stratum_bounds[s], stratum_bounds[s + 1], trees, infl, pc, removed,
                  b_before);
    pc.store(by_stratum, static_cast<int>(s));
    total.add(pc);
  }

  const double var = jackknife_var(total, infl, n, cluster.size() > 0, n_cluster,
                                   [&](Index k) { return weights[k]; },
                                   [&](Index k) { return cluster[k]; });

  return concordance_result(total, by_stratum, var);
}

// ---------------------------------------------------------------------------------------------
// Right-censored data: the same counts and variance by a sweep over the PREDICTOR instead of
// over time.
//
// Contract (the R caller guarantees it; nothing is re-checked here):
//   * n rows in the caller's order; `time_rank` (1..n_time) is a rank of the stop times that
//     orders them exactly as the times (equal times share a rank); `status` 0/1 doubles;
//     `predictor` finite doubles (-0 and +0 are one value); `weights` finite, >= 0, or
//     length 0 for unit weights; `strata` integer codes 1..n_strata, or length 0 when
//     n_strata is 1 (so that a fit of 10^7 rows sends no n-long vector it does not need).
//   * `cluster`: 0-based codes with `n_cluster` distinct values, or length 0 (each row its
//     own cluster).
// Output: as conc_counts_cpp(); by_stratum has one row per stratum code 1..n_strata.
//
// Why: registry times have few distinct values (days), while a Cox linear predictor has
// about n. Sweeping the rows by predictor and keeping the weights in a Fenwick tree indexed
// by TIME keeps that tree small enough for the L1/L2 cache, where the time sweep's tree over
// ~n predictor ranks misses the cache on nearly every access. The order by predictor comes
// from a radix sort on the bits of the doubles (O(n), no comparisons).
//
// Pairs: with key = 2 * time_rank + (1 - status), row j is a comparison partner of a death i
// exactly when key_j > key_i (later time, or the same time and censored). Sweeping predictor
// groups upwards, the tree holds the rows of smaller predictor (A: all rows; B: deaths), so
// one prefix query gives each row's "below" weights, a second one after its group is added
// the "equal" weights, and a last pass over the complete tree the totals.
// ---------------------------------------------------------------------------------------------
namespace {

// Sorting by predictor is most of the cost, and memory traffic is most of a sort's cost. So the
// rows are radix-sorted on a 32-bit key, the predictor rounded to float (rounding is monotone:
// x < y implies float(x) <= float(y)), in three 11-bit passes over 8-byte (key, row) pairs;
// the rare runs of equal float keys are then put in exact order by the doubles themselves.
// A float maps to an unsigned integer of the same order by flipping the sign bit (positives)
// or all bits (negatives); both zeros map to +0, so -0 and +0 stay one predictor value.
inline std::uint32_t float_order_key(double x) {
  float f = static_cast<float>(x);
  if (f == 0.0f) f = 0.0f;
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return (u >> 31) ? ~u : (u | 0x80000000u);
}

// Stable LSD radix sort of the 0-based rows by (stratum, float key). Digits constant over all
// rows are skipped. Also returns where each stratum's rows start and end.
struct PredictorOrder {
  std::vector<int> rows;
  std::vector<std::uint32_t> keys;
  std::vector<Index> bounds;  // sorted positions of stratum s (1-based): [bounds[s-1], bounds[s])
};

PredictorOrder by_stratum_stable(PredictorOrder& out, const ConstMapIVec& strata,
                                 int n_strata);

PredictorOrder order_by_stratum_float_key(const ConstMapVec& x, const ConstMapIVec& strata,
                                          int n_strata) {
  const Index n = x.size();
  PredictorOrder out{std::vector<int>(n), std::vector<std::uint32_t>(n), {0, n}};
  std::vector<std::uint32_t>& key = out.keys;
  std::vector<int>& rows = out.rows;
  constexpr int kBits = 11, kBuckets = 1 << kBits, kDigits = 3;
  if (n < kBuckets) {
    // Few rows: a comparison sort by (key, row), the order the stable radix passes give,
    // without their 3 x 2^11 bucket counts (a fixed cost that dominates small cohorts).
    for (Index k = 0; k < n; ++k) {
      key[k] = float_order_key(x[k]);
      rows[k] = static_cast<int>(k);
    }
    std::sort(rows.begin(), rows.end(), [&key](int a, int b) {
      return key[a] < key[b] || (key[a] == key[b] && a < b);
    });
    std::vector<std::uint32_t> sorted_key(n);
    for (Index k = 0; k < n; ++k) sorted_key[k] = key[rows[k]];
    key.swap(sorted_key);
    return by_stratum_stable(out, strata, n_strata);
  }
  std::vector<Index> count(kDigits * kBuckets, 0);
  for (Index k = 0; k < n; ++k) {
    rwe::poll_at(k);
    const std::uint32_t u = float_order_key(x[k]);
    key[k] = u;
    rows[k] = static_cast<int>(k);
    for (int digit = 0; digit < kDigits; ++digit) {
      ++count[digit * kBuckets + ((u >> (kBits * digit)) & (kBuckets - 1))];
    }
  }
  std::vector<std::uint32_t> key_tmp(n);
  std::vector<int> rows_tmp(n);
  for (int digit = 0; digit < kDigits; ++digit) {
    Index* c = &count[digit * kBuckets];
    if (std::find(c, c + kBuckets, n) != c + kBuckets) continue;  // same digit everywhere
    Index sum = 0;
    for (int b = 0; b < kBuckets; ++b) {
      const Index here = c[b];
      c[b] = sum;
      sum += here;
    }
    const int shift = kBits * digit;
    for (Index k = 0; k < n; ++k) {
      rwe::poll_at(k);
      const Index to = c[(key[k] >> shift) & (kBuckets - 1)]++;
      key_tmp[to] = key[k];
      rows_tmp[to] = rows[k];
    }
    key.swap(key_tmp);
    rows.swap(rows_tmp);
  }
  return by_stratum_stable(out, strata, n_strata);
}

// The rows of a predictor order regrouped by stratum, keeping their order within each
// stratum (a stable counting sort), with the stratum bounds; one stratum: unchanged.
PredictorOrder by_stratum_stable(PredictorOrder& out, const ConstMapIVec& strata,
                                 int n_strata) {
  if (n_strata <= 1) return std::move(out);
  const Index n = static_cast<Index>(out.rows.size());
  std::vector<std::uint32_t>& key = out.keys;
  std::vector<int>& rows = out.rows;
  std::vector<std::uint32_t> key_tmp(n);
  std::vector<int> rows_tmp(n);
  std::vector<Index> start(n_strata + 2, 0);  // stable counting sort by stratum
  for (Index k = 0; k < n; ++k) ++start[strata[rows[k]] + 1];
  for (int s = 0; s <= n_strata; ++s) start[s + 1] += start[s];
  out.bounds.assign(start.begin() + 1, start.end());
  for (Index k = 0; k < n; ++k) {
    rwe::poll_at(k);
    const Index to = start[strata[rows[k]]]++;
    rows_tmp[to] = rows[k];
    key_tmp[to] = key[k];
  }
  key.swap(key_tmp);
  rows.swap(rows_tmp);
  return std::move(out);
}

// Fenwick tree over time keys 1..size holding (all rows, deaths) weight pairs, plus the
// plain per-key death weights. Small (2 x distinct times), so it stays in cache.
class TimeFenwick {
 public:
  explicit TimeFenwick(Index size) : size_(size), tree_(size + 1), death_at_(size + 1, 0.0) {}
  void add(Index key, double w_all, double w_death) {
    death_at_[key] += w_death;
    for (Index k = key; k <= size_; k += k & (-k)) {
      tree_[k].a += w_all;
      tree_[k].b += w_death;
    }
  }
  // Weights (all, deaths) at keys <= key.
  void prefix(Index key, double& a, double& b) const {
    double sa = 0.0, sb = 0.0;
    for (Index k = key; k > 0; k -= k & (-k)) {
      sa += tree_[k].a;
      sb += tree_[k].b;
    }
    a = sa;
    b = sb;
  }
  double death_at(Index key) const { return death_at_[key]; }
  // Once every row of a stratum is in: the prefix at each key, so that each row's final query
  // is one lookup (worth it when the stratum has many more rows than keys).
  void freeze() {
    frozen_.resize(size_ + 1);
    for (Index k = 0; k <= size_; ++k) prefix(k, frozen_[k].a, frozen_[k].b);
  }
  void frozen_prefix(Index key, double& a, double& b) const {
    a = frozen_[key].a;
    b = frozen_[key].b;
  }
  Index size() const { return size_; }
  void clear_all() {
    std::fill(tree_.begin(), tree_.end(), Pair());
    std::fill(death_at_.begin(), death_at_.end(), 0.0);
  }
  // Empties the entries a row at `key` touched: O(log size), so that resetting after a small
  // stratum costs O(its rows), not O(size).
  void clear(Index key) {
    death_at_[key] = 0.0;
    for (Index k = key; k <= size_; k += k & (-k)) tree_[k] = Pair();
  }

 private:
  struct Pair {
    double a = 0.0, b = 0.0;
  };
  Index size_;
  std::vector<Pair> tree_, frozen_;
  std::vector<double> death_at_;
};

// The rows' data gathered once into sorted order (by stratum, then predictor), 16 bytes per
// row, so that every later pass reads them sequentially. Runs of equal float keys are then
// sorted by the exact predictor (equal doubles end up adjacent): such runs are rare, so the
// predictor itself is read through `source` rather than stored.
struct RankSweepData {
  struct Row {
    double weight;
    std::int32_t key;     // 2 * time rank for a death, 2 * time rank + 1 for a censoring
    std::int32_t source;  // 0-based input row
  };
  std::vector<Row> row;
  std::vector<unsigned char> new_group;  // 1 where a run of equal predictors starts
  RankSweepData(const PredictorOrder& order, const ConstMapIVec& time_rank,
                const ConstMapVec& status, const ConstMapVec& x, const ConstMapVec& w)
      : row(order.rows.size()), new_group(order.rows.size(), 1) {
    const Index n = static_cast<Index>(row.size());
    const bool weighted = w.size() > 0;  // length 0: unit weights
    for (Index k = 0; k < n; ++k) {
      rwe::poll_at(k);
      if (k + kPrefetchDistance < n) {
        const Index ahead = order.rows[k + kPrefetchDistance];
        if (weighted) __builtin_prefetch(w.data() + ahead);
        __builtin_prefetch(time_rank.data() + ahead);
        __builtin_prefetch(status.data() + ahead);
      }
      const Index r = order.rows[k];
      row[k] = Row{weighted ? w[r] : 1.0,
                   static_cast<std::int32_t>(2 * time_rank[r] + (status[r] == 0.0)),
                   static_cast<std::int32_t>(r)};
    }
    const auto by_predictor = [&x](const Row& a, const Row& b) {
      return x[a.source] < x[b.source];
    };
    std::uint64_t sorted = 0;  // rows sorted since the last interrupt poll
    for (std::size_t s = 1; s < order.bounds.size(); ++s) {  // runs end at stratum ends
      const Index hi = order.bounds[s];
      for (Index k = order.bounds[s - 1]; k < hi;) {
        Index last = k + 1;
        while (last < hi && order.keys[last] == order.keys[k]) ++last;
        if (last - k > 1) {
          if ((sorted += last - k) >= rwe::kPollEvery) {
            sorted = 0;
            rwe::poll_interrupt();
          }
          std::sort(row.begin() + k, row.begin() + last, by_predictor);
          for (Index j = k + 1; j < last; ++j) {
            new_group[j] = x[row[j].source] != x[row[j - 1].source];
          }
        }
        k = last;
      }
    }
  }
  std::int32_t death_key(Index k) const { return row[k].key & ~std::int32_t(1); }
  bool death(Index k) const { return (row[k].key & 1) == 0; }
  double weight(Index k) const { return row[k].weight; }
};

// Per sorted position, while a stratum is swept: a death's weights of partners below and
// equal in predictor (kept in Influence's diff and total until the totals are known), and
// 2 * below + equal of the deaths each row was the longer survivor of.
struct RankScratch {
  std::vector<double> below_b2_equal_b, b_start;
  explicit RankScratch(Index n) : below_b2_equal_b(n) {}
};

// One group of rows with equal predictor, sorted positions [first, last): queries before
// and after the group joins the tree.
void sweep_predictor_group(const RankSweepData& d, Index first, Index last, TimeFenwick& tree,
                           double& total_a, RankScratch& s, Influence& infl, PairCounts& pc) {
  const bool single = last - first == 1;
  s.b_start.resize(last - first);
  for (Index k = first; k < last; ++k) {
    const Index q = d.death_key(k);
    double a, b;
    tree.prefix(q, a, b);
    const bool death = d.death(k);
    infl.diff[k] = death ? total_a - a : 0.0;  // smaller predictor, later key
    s.b_start[k - first] = tree.death_at(q);
    s.below_b2_equal_b[k] = death ? b - tree.death_at(q) : b;  // deaths at earlier keys
    infl.total[k] = 0.0;
  }
  double pairs_all = 0.0, pairs_xy = 0.0;
  for (Index k = first; k < last; ++k) {
    const double w = d.weight(k);
    total_a += w;
    if (d.death(k)) {
      const Index q = d.death_key(k);
      pairs_all += w * tree.death_at(q);  // earlier-swept deaths at the same time
      pairs_xy += w * (tree.death_at(q) - s.b_start[k - first]);
      tree.add(q, w, w);
    } else {
      tree.add(d.death_key(k) + 1, w, 0.0);
    }
  }
  pc.tied_y += pairs_all - pairs_xy;
  pc.tied_xy += pairs_xy;
  for (Index k = first; k < last; ++k) {
    const Index q = d.death_key(k);
    const bool death = d.death(k);
    double equal_b = 0.0;
    if (!single) {  // a single row is never its own partner: its "equal" weights are 0
      double a, b;
      tree.prefix(q, a, b);
      if (death) infl.total[k] = (total_a - a) - infl.diff[k];
      equal_b = (death ? b - tree.death_at(q) : b) - s.below_b2_equal_b[k];
    }
    s.below_b2_equal_b[k] = 2.0 * s.below_b2_equal_b[k] + equal_b;
    if (death) {
      const double w = d.weight(k);
      pc.discordant += w * infl.diff[k];
      pc.tied_x += w * infl.total[k];
    }
  }
}

// Sorted positions [lo, hi): one stratum. Leaves (dC - dD) and (dC + dD + dT) per position
// in infl and an empty tree.
void rank_sweep_stratum(const RankSweepData& d, Index lo, Index hi, TimeFenwick& tree,
                        RankScratch& s, Influence& infl, PairCounts& pc) {
  double total_a = 0.0;
  Index first = lo;
  Index next_interrupt_check = lo + kRowsPerInterruptCheck;
  while (first < hi) {
    if (first >= next_interrupt_check) {
      rwe::poll_interrupt();
      next_interrupt_check = first + kRowsPerInterruptCheck;
    }
    Index last = first + 1;
    while (last < hi && !d.new_group[last]) ++last;
    sweep_predictor_group(d, first, last, tree, total_a, s, infl, pc);
    first = last;
  }
  // Totals over the complete tree: above = total - below - equal.
  const bool frozen = hi - lo > 4 * tree.size();
  if (frozen) tree.freeze();
  for (Index k = lo; k < hi; ++k) {
    rwe::poll_at(k);
    const Index q = d.death_key(k);
    double a, b;
    if (frozen) tree.frozen_prefix(q, a, b);
    else tree.prefix(q, a, b);
    const bool death = d.death(k);
    const double total_b = death ? b - tree.death_at(q) : b;
    const double below_a = infl.diff[k], equal_a = infl.total[k];  // deaths only
    infl.diff[k] = s.below_b2_equal_b[k] - total_b;  // below_b - above_b
    infl.total[k] = total_b;
    if (death) {
      const double partners = total_a - a;
      const double above = partners - below_a - equal_a;
      pc.concordant += d.weight(k) * above;
      infl.diff[k] += above - below_a;
      infl.total[k] += partners;
    }
  }
  if (hi - lo >= tree.size()) {
    tree.clear_all();
  } else {
    for (Index k = lo; k < hi; ++k) {
      tree.clear(d.death_key(k));
      tree.clear(d.death_key(k) + 1);
    }
  }
}

// The sweep by predictor over every stratum: pair counts in total and per stratum, and the
// per-row influence pieces (by sorted position) for the jackknife variance.
struct PredictorSweep {
  PredictorOrder order;
  RankSweepData d;
  Influence infl;
  PairCounts total;
  std::vector<PairCounts> by_stratum;
  PredictorSweep(const ConstMapIVec& time_rank, int n_time, const ConstMapVec& status,
                 const ConstMapVec& predictor, const ConstMapVec& weights,
                 const ConstMapIVec& strata, int n_strata)
      : order(order_by_stratum_float_key(predictor, strata, n_strata)),
        d(order, time_rank, status, predictor, weights), infl(status.size()),
        by_stratum(std::max(n_strata, 1)) {
    // Only the stratum bounds are used from here on: the sort's rows and keys (8 bytes a
    // row) are released before the sweep's own memory is allocated.
    std::vector<int>().swap(order.rows);
    std::vector<std::uint32_t>().swap(order.keys);
    TimeFenwick tree(2 * static_cast<Index>(n_time) + 1);
    RankScratch scratch(status.size());
    for (int s = 1; s <= std::max(n_strata, 1); ++s) {
      const Index lo = order.bounds[s - 1], hi = order.bounds[s];
      if (lo == hi) continue;
      rwe::poll_interrupt();
      rank_sweep_stratum(d, lo, hi, tree, scratch, infl, by_stratum[s - 1]);
      total.add(by_stratum[s - 1]);
    }
  }
};

}  // namespace

namespace concordance {

PairTotals pair_totals_by_predictor(const ConstMapIVec& time_rank, int n_time,
                                    const ConstMapVec& status, const ConstMapVec& predictor,
                                    const ConstMapVec& weights, const ConstMapIVec& strata,
                                    int n_strata) {
  const PredictorSweep sweep(time_rank, n_time, status, predictor, weights, strata, n_strata);
  const PairCounts& t = sweep.total;
  return PairTotals{t.concordant, t.discordant, t.tied_x, t.tied_y, t.tied_xy};
}

}  // namespace concordance

// [[Rcpp::export(rng = false)]]
Rcpp::List conc_counts_by_predictor_cpp(const Eigen::Map<Eigen::VectorXi> time_rank,
                                        int n_time,
                                        const Eigen::Map<Eigen::VectorXd> status,
                                        const Eigen::Map<Eigen::VectorXd> predictor,
                                        const Eigen::Map<Eigen::VectorXd> weights,
                                        const Eigen::Map<Eigen::VectorXi> strata,
                                        int n_strata,
                                        const Eigen::Map<Eigen::VectorXi> cluster,
                                        int n_cluster) {
  const Index n = status.size();
  const PredictorSweep sweep(ConstMapIVec(time_rank.data(), time_rank.size()), n_time,
                             ConstMapVec(status.data(), n),
                             ConstMapVec(predictor.data(), predictor.size()),
                             ConstMapVec(weights.data(), weights.size()),
                             ConstMapIVec(strata.data(), strata.size()), n_strata);
  Rcpp::NumericMatrix by_stratum(n_strata, 5);
  for (int s = 0; s < n_strata; ++s) sweep.by_stratum[s].store(by_stratum, s);
  const RankSweepData& d = sweep.d;
  const double var = jackknife_var(sweep.total, sweep.infl, n, cluster.size() > 0, n_cluster,
                                   [&](Index k) { return d.weight(k); },
                                   [&](Index k) { return cluster[d.row[k].source]; });
  return concordance_result(sweep.total, by_stratum, var);
}
