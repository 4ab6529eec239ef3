// Concordance (Harrell's C / Somers' D) kernel with its infinitesimal-jackknife variance.
//
// Contract (the R caller, R/concordance.R, guarantees all of it; nothing is re-checked here):
//   * n rows, sorted by stratum, then stop time DESCENDING, then status ascending (censored
//     rows before deaths at the same stop time), then predictor rank ascending.
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

// Weighted counts by rank 1..size, with prefix sums in O(log size).
class RankFenwick {
 public:
  explicit RankFenwick(Index capacity) : tree_(capacity + 1, 0.0), at_(capacity + 1, 0.0) {}

  // Empties the first `size` ranks (cost O(size), so per-stratum resets stay O(n) overall).
  void reset(Index size) {
    size_ = size;
    total_ = 0.0;
    std::fill(tree_.begin(), tree_.begin() + size + 1, 0.0);
    std::fill(at_.begin(), at_.begin() + size + 1, 0.0);
  }

  void add(Index rank, double w) {
    total_ += w;
    at_[rank] += w;
    for (Index r = rank; r <= size_; r += r & (-r)) tree_[r] += w;
  }

  // Weight strictly below, equal to and strictly above `rank`.
  void split(Index rank, double& below, double& equal, double& above) const {
    double s = 0.0;
    for (Index r = rank - 1; r > 0; r -= r & (-r)) s += tree_[r];
    below = s;
    equal = at_[rank];
    above = total_ - s - equal;
    // Removals (counting-process data) can leave rounding residue; never report < 0.
    if (above < 0.0) above = 0.0;
  }

 private:
  std::vector<double> tree_;
  std::vector<double> at_;
  Index size_ = 0;
  double total_ = 0.0;
};

struct PairCounts {
  double concordant = 0.0, discordant = 0.0, tied_x = 0.0, tied_y = 0.0, tied_xy = 0.0;
};

// Per-row influence pieces: (dC - dD) and (dC + dD + dT), derivatives with respect to w_j.
struct Influence {
  std::vector<double> diff, total;
  explicit Influence(Index n) : diff(n, 0.0), total(n, 0.0) {}
  // Row j as the longer survivor of deaths in B: deaths with smaller rank are concordant.
  void add_partner(const RankFenwick& deaths, Index j, Index rank, double sign) {
    double below, equal, above;
    deaths.split(rank, below, equal, above);
    diff[j] += sign * (below - above);
    total[j] += sign * (below + equal + above);
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

// Deaths in rows [first, last) (all at one time, sorted by rank): compare each with the risk
// set in A, count the tied-time pairs among them, then move them into B and A.
void sweep_deaths(const SweepData& d, Index first, Index last, RankFenwick& at_risk,
                  RankFenwick& deaths, Influence& infl, PairCounts& pc) {
  double cum_all = 0.0, cum_group = 0.0;
  Index group_rank = -1;
  for (Index k = first; k < last; ++k) {
    const double w = d.weights[k];
    const Index r = d.rank[k];
    double below, equal, above;
    at_risk.split(r, below, equal, above);
    pc.concordant += w * above;
    pc.discordant += w * below;
    pc.tied_x += w * equal;
    infl.diff[k] += above - below;
    infl.total[k] += above + below + equal;
    if (r != group_rank) {  // a new run of equal predictor values among these deaths
      group_rank = r;
      cum_group = 0.0;
    }
    pc.tied_y += w * (cum_all - cum_group);
    pc.tied_xy += w * cum_group;
    cum_all += w;
    cum_group += w;
  }
  // Tied-time pairs only count toward tied.y / tied.xy, which the variance does not use.
  for (Index k = first; k < last; ++k) deaths.add(d.rank[k], d.weights[k]);
  // Subtracting B now (it includes these deaths) excludes them from this row's later credit.
  for (Index k = first; k < last; ++k) {
    infl.add_partner(deaths, k, d.rank[k], -1.0);
    at_risk.add(d.rank[k], d.weights[k]);
  }
}

// One stratum, rows [lo, hi). `next_start` walks start_order; `removed` marks rows that left.
void sweep_stratum(const SweepData& d, Index lo, Index hi, RankFenwick& at_risk,
                   RankFenwick& deaths, Influence& infl, PairCounts& pc,
                   std::vector<unsigned char>& removed) {
  Index n_rank = 0;
  for (Index k = lo; k < hi; ++k) n_rank = std::max<Index>(n_rank, d.rank[k]);
  at_risk.reset(n_rank);
  deaths.reset(n_rank);
  Index next_start = lo;
  Index i = lo;
  while (i < hi) {
    const double t = d.stop[i];
    if (d.counting) {  // rows whose interval starts at or after t are no longer at risk
      while (next_start < hi && d.start[d.start_order[next_start]] >= t) {
        const Index j = d.start_order[next_start++];
        at_risk.add(d.rank[j], -d.weights[j]);
        infl.add_partner(deaths, j, d.rank[j], +1.0);
        removed[j] = 1;
      }
    }
    Index k = i;
    for (; k < hi && d.stop[k] == t && d.status[k] == 0.0; ++k) {
      infl.add_partner(deaths, k, d.rank[k], -1.0);
      at_risk.add(d.rank[k], d.weights[k]);
    }
    Index last = k;
    while (last < hi && d.stop[last] == t) ++last;
    if (last > k) sweep_deaths(d, k, last, at_risk, deaths, infl, pc);
    i = last;
  }
  // Rows still at risk at the earliest time were compared with every death swept.
  for (Index k = lo; k < hi; ++k) {
    if (!d.counting || !removed[k]) infl.add_partner(deaths, k, d.rank[k], +1.0);
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
  RankFenwick at_risk(max_rank), deaths(max_rank);
  Influence infl(n);
  std::vector<unsigned char> removed(counting ? n : 0, 0);
  Rcpp::NumericMatrix by_stratum(n_strata, 5);
  PairCounts total;

  for (Index s = 0; s < n_strata; ++s) {
    Rcpp::checkUserInterrupt();
    PairCounts pc;
    sweep_stratum(d, stratum_bounds[s], stratum_bounds[s + 1], at_risk, deaths, infl, pc,
                  removed);
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
  double var = NA_REAL;
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
