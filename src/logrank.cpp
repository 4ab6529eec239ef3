// Log-rank / Fleming-Harrington G-rho kernel.
//
// Interrupts: every loop over rows polls for Ctrl-C every rwe::kPollEvery rows (interrupt.h).
//
// Contract (checked by R before the call; nothing is re-checked here):
//  * `ord` (0-based row indices, a permutation) visits the rows by stratum code, then time
//    ascending; the order among rows with the same stratum and time does not matter (they
//    are counted together). Reading through `ord` avoids sorted copies of the inputs;
//  * `group` holds integer codes 1..ngroup, `stratum` integer codes 1..nstrata, `time` finite
//    doubles, `status` 0 (censored) or 1 (event); no NA; no case weights (survdiff has none).
//
// Split in two, as the multi-site design asks:
//  (a) logrank_grid_cpp() / logrank_grid_dense_cpp(): the rows counted on the shared
//      counting grid (counts_grid.h) -> per (stratum, distinct event time) the number at risk
//      and the number of events in each group. These are sums over rows: grids from several
//      sites on a common time grid add up to the pooled grid.
//  (b) logrank_stat_cpp(): observed, expected and the hypergeometric variance matrix, with the
//      G-rho weight S(t-)^rho from the pooled (within stratum) left-continuous Kaplan-Meier,
//      summed over strata.
#include <Rcpp.h>
#include "interrupt.h"
#include "counts_grid.h"
#include <RcppEigen.h>
#include "types.h"
#include <cmath>
#include <cstddef>
#include <vector>

namespace {

// The grid positions with an event, in stratum then time order: stratum code, time, and per
// group the number at risk (walked down each stratum block) and of events. `block_of(p)` and
// `time_of(p)` give a position's stratum code and time.
template <class BlockOf, class TimeOf>
Rcpp::List event_rows(const countsgrid::CountCells& cells, const std::vector<std::ptrdiff_t>& bounds,
                      BlockOf block_of, TimeOf time_of) {
  using countsgrid::CountCells;
  const int ngroup = cells.ngroup();
  std::ptrdiff_t m = 0;
  for (std::ptrdiff_t p = 0; p < cells.npos(); ++p) m += cells.any_event(p);
  Rcpp::IntegerVector out_stratum(m);
  Rcpp::NumericVector out_time(m);
  Rcpp::NumericMatrix at_risk(m, ngroup), events(m, ngroup);
  std::ptrdiff_t out = m;  // filled from the end: the at-risk sums run from the last time
  for (std::ptrdiff_t b = static_cast<std::ptrdiff_t>(bounds.size()) - 2; b >= 0; --b) {
    cells.walk_block(bounds[b], bounds[b + 1], [&](std::ptrdiff_t p, const CountCells::AtRisk& r) {
      if (!cells.any_event(p)) return;
      --out;
      out_stratum[out] = block_of(p);
      out_time[out] = time_of(p);
      for (int g = 0; g < ngroup; ++g) {
        at_risk(out, g) = r.n(g);
        events(out, g) = cells.get(p, g, countsgrid::EVENT_N);
      }
    });
  }
  return Rcpp::List::create(Rcpp::Named("stratum") = out_stratum,
                            Rcpp::Named("time") = out_time,
                            Rcpp::Named("n.risk") = at_risk,
                            Rcpp::Named("n.event") = events);
}

}  // namespace

// The rows of ord placed on the shared counting grid (counts_grid.h), one position per
// distinct (stratum, time); the event times are kept.
// [[Rcpp::export]]
Rcpp::List logrank_grid_cpp(const Eigen::Map<Eigen::VectorXd> time,
                            const Eigen::Map<Eigen::VectorXd> status,
                            const Eigen::Map<Eigen::VectorXi> group,
                            const Eigen::Map<Eigen::VectorXi> stratum,
                            const Eigen::Map<Eigen::VectorXi> ord,
                            const int ngroup) {
  using countsgrid::CountCells;
  const countsgrid::SortedGrid grid = countsgrid::sorted_grid(ord, stratum, time);
  CountCells cells(static_cast<std::ptrdiff_t>(grid.time.size()), ngroup, false, false);
  countsgrid::for_each_row(grid, ord, stratum, time, [&](std::ptrdiff_t r, std::ptrdiff_t p) {
    cells.add(p, group[r] - 1, 1.0, status[r] > 0);
  });
  return event_rows(cells, grid.bounds, [&](std::ptrdiff_t p) { return grid.block[p]; },
                    [&](std::ptrdiff_t p) { return grid.time[p]; });
}

// Observed, expected (per group and stratum) and the variance matrix (summed over strata)
// from a grid as produced by logrank_grid_cpp(): rows of one stratum contiguous, event times
// ascending.
// [[Rcpp::export]]
Rcpp::List logrank_stat_cpp(const Eigen::Map<Eigen::VectorXi> stratum,
                            const Eigen::Map<Eigen::MatrixXd> n_risk,
                            const Eigen::Map<Eigen::MatrixXd> n_event,
                            const int nstrata, const double rho) {
  const std::ptrdiff_t m = n_risk.rows();
  const int ngroup = static_cast<int>(n_risk.cols());
  Eigen::MatrixXd observed = Eigen::MatrixXd::Zero(ngroup, nstrata);
  Eigen::MatrixXd expected = Eigen::MatrixXd::Zero(ngroup, nstrata);
  Eigen::MatrixXd variance = Eigen::MatrixXd::Zero(ngroup, ngroup);
  double km = 1.0;  // pooled left-continuous KM within the current stratum
  for (std::ptrdiff_t k = 0; k < m; ++k) {
    if (k == 0 || stratum[k] != stratum[k - 1]) km = 1.0;
    const int s = stratum[k] - 1;
    const double n = n_risk.row(k).sum();
    const double d = n_event.row(k).sum();
    const double w = (rho == 0.0) ? 1.0 : std::pow(km, rho);
    for (int g = 0; g < ngroup; ++g) {
      observed(g, s) += w * n_event(k, g);
      expected(g, s) += w * d * n_risk(k, g) / n;
    }
    if (n > 1.0) {
      // hypergeometric covariance of the event counts, scaled by the squared weight
      const double scale = w * w * d * (n - d) / (n - 1.0);
      for (int g = 0; g < ngroup; ++g) {
        const double pg = n_risk(k, g) / n;
        if (pg == 0.0) continue;
        for (int h = 0; h < ngroup; ++h) {
          const double ph = n_risk(k, h) / n;
          variance(g, h) += scale * pg * ((g == h ? 1.0 : 0.0) - ph);
        }
      }
    }
    km *= (n - d) / n;
  }
  return Rcpp::List::create(Rcpp::Named("observed") = observed,
                            Rcpp::Named("expected") = expected,
                            Rcpp::Named("var") = variance);
}

// The grid of logrank_grid_cpp() without sorting, for times given as ranks.
//
// Contract (checked by R before the call; nothing is re-checked here):
//  * `time_rank` holds integer ranks 1..n_time of the (tie-merged) times, `time_value` the
//    time of each rank (increasing); `group` codes 1..ngroup, `stratum` codes 1..nstrata,
//    `status` 0 (censored) or 1 (event); no NA;
//  * nstrata * n_time * ngroup cells fit in memory (R uses this kernel only when that is at
//    most a few times n).
// Output: as logrank_grid_cpp().
//
// Why: with day-resolution times there are few distinct times, so counting every row into
// its (stratum, time, group) cell of the shared counting grid (counts_grid.h; one block of
// n_time positions per stratum) in one sequential pass replaces the sort by (stratum, time)
// and the reads through it; the numbers at risk are then cumulative sums over the cells.
// [[Rcpp::export]]
Rcpp::List logrank_grid_dense_cpp(const Eigen::Map<Eigen::VectorXi> time_rank,
                                  const Eigen::Map<Eigen::VectorXd> time_value,
                                  const Eigen::Map<Eigen::VectorXd> status,
                                  const Eigen::Map<Eigen::VectorXi> group,
                                  const Eigen::Map<Eigen::VectorXi> stratum,
                                  const int ngroup, const int nstrata) {
  using countsgrid::CountCells;
  const std::ptrdiff_t n = time_rank.size(), n_time = time_value.size();
  CountCells cells(static_cast<std::ptrdiff_t>(nstrata) * n_time, ngroup, false, false);
  for (std::ptrdiff_t k = 0; k < n; ++k) {
    rwe::poll_at(k);
    cells.add(static_cast<std::ptrdiff_t>(stratum[k] - 1) * n_time + (time_rank[k] - 1),
              group[k] - 1, 1.0, status[k] > 0);
  }
  std::vector<std::ptrdiff_t> bounds(nstrata + 1);
  for (int st = 0; st <= nstrata; ++st) bounds[st] = static_cast<std::ptrdiff_t>(st) * n_time;
  return event_rows(cells, bounds, [&](std::ptrdiff_t p) { return static_cast<int>(p / n_time) + 1; },
                    [&](std::ptrdiff_t p) { return time_value[p % n_time]; });
}
