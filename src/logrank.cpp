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
//  (b) logrank_stat_cpp(): observed, expected, the hypergeometric variance matrix and the
//      chi-square, by the one implementation of the statistic (logrank_stat.h), which the
//      Monte Carlo relabelings (resample.cpp) use too.
#include <Rcpp.h>
#include "interrupt.h"
#include "counts_grid.h"
#include "logrank_stat.h"
#include <RcppEigen.h>
#include "types.h"
#include <cmath>
#include <cstddef>
#include <vector>

namespace {

// The grid positions with an event, in stratum then time order: stratum code, time, and per
// group the number at risk and of events (logrank_stat.h walks the grid). `block_of(p)` and
// `time_of(p)` give a position's stratum code and time.
template <class BlockOf, class TimeOf>
Rcpp::List event_rows(const countsgrid::CountCells& cells, const std::vector<Index>& bounds,
                      BlockOf block_of, TimeOf time_of) {
  const int ngroup = cells.ngroup();
  const Index m = logrankstat::count_event_positions(cells);
  Rcpp::IntegerVector out_stratum(m);
  Rcpp::NumericVector out_time(m);
  Rcpp::NumericMatrix at_risk(m, ngroup), events(m, ngroup);
  logrankstat::event_positions(cells, bounds, m,
                               [&](Index k, Index p, const countsgrid::CountCells::AtRisk& r) {
    out_stratum[k] = block_of(p);
    out_time[k] = time_of(p);
    for (int g = 0; g < ngroup; ++g) {
      at_risk(k, g) = r.n(g);
      events(k, g) = cells.get(p, g, countsgrid::EVENT_N);
    }
  });
  return Rcpp::List::create(Rcpp::Named("stratum") = out_stratum,
                            Rcpp::Named("time") = out_time,
                            Rcpp::Named("n.risk") = at_risk,
                            Rcpp::Named("n.event") = events);
}

}  // namespace

// The rows of ord placed on the shared counting grid (counts_grid.h), one position per
// distinct (stratum, time); the event times are kept.
// [[Rcpp::export(rng = false)]]
Rcpp::List logrank_grid_cpp(const Eigen::Map<Eigen::VectorXd> time,
                            const Eigen::Map<Eigen::VectorXd> status,
                            const Eigen::Map<Eigen::VectorXi> group,
                            const Eigen::Map<Eigen::VectorXi> stratum,
                            const Eigen::Map<Eigen::VectorXi> ord,
                            const int ngroup) {
  using countsgrid::CountCells;
  const countsgrid::SortedGrid grid = countsgrid::sorted_grid(ord, stratum, time);
  CountCells cells(static_cast<Index>(grid.time.size()), ngroup, false, false);
  countsgrid::for_each_row(grid, ord, stratum, time, [&](Index r, Index p) {
    cells.add(p, group[r] - 1, 1.0, status[r] > 0);
  });
  return event_rows(cells, grid.bounds, [&](Index p) { return grid.block[p]; },
                    [&](Index p) { return grid.time[p]; });
}

// Observed, expected (per group and stratum, and summed over strata), the variance matrix
// (summed over strata) and the chi-square with its degrees of freedom (logrank_stat.h) from a
// grid as produced by logrank_grid_cpp(): rows of one stratum contiguous, event times
// ascending.
// [[Rcpp::export(rng = false)]]
Rcpp::List logrank_stat_cpp(const Eigen::Map<Eigen::VectorXi> stratum,
                            const Eigen::Map<Eigen::MatrixXd> n_risk,
                            const Eigen::Map<Eigen::MatrixXd> n_event,
                            const int nstrata, const double rho) {
  logrankstat::Sums sums(static_cast<int>(n_risk.cols()), nstrata);
  logrankstat::logrank_sums(stratum, n_risk, n_event, rho, sums);
  const Eigen::VectorXd observed = sums.observed.rowwise().sum();
  const Eigen::VectorXd expected = sums.expected.rowwise().sum();
  const logrankstat::Chisq test = logrankstat::logrank_chisq(observed, expected, sums.var);
  return Rcpp::List::create(Rcpp::Named("observed") = sums.observed,
                            Rcpp::Named("expected") = sums.expected,
                            Rcpp::Named("observed_total") = observed,
                            Rcpp::Named("expected_total") = expected,
                            Rcpp::Named("var") = sums.var,
                            Rcpp::Named("chisq") = test.chisq,
                            Rcpp::Named("df") = test.df);
}

// The chi-square of logrank_stat_cpp() from observed and expected per group (summed over
// strata) and the variance matrix; R's tests call it on constructed inputs.
// [[Rcpp::export(rng = false)]]
Rcpp::List logrank_chisq_cpp(const Eigen::Map<Eigen::VectorXd> observed,
                             const Eigen::Map<Eigen::VectorXd> expected,
                             const Eigen::Map<Eigen::MatrixXd> var) {
  const logrankstat::Chisq test = logrankstat::logrank_chisq(observed, expected, var);
  return Rcpp::List::create(Rcpp::Named("chisq") = test.chisq, Rcpp::Named("df") = test.df);
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
// [[Rcpp::export(rng = false)]]
Rcpp::List logrank_grid_dense_cpp(const Eigen::Map<Eigen::VectorXi> time_rank,
                                  const Eigen::Map<Eigen::VectorXd> time_value,
                                  const Eigen::Map<Eigen::VectorXd> status,
                                  const Eigen::Map<Eigen::VectorXi> group,
                                  const Eigen::Map<Eigen::VectorXi> stratum,
                                  const int ngroup, const int nstrata) {
  using countsgrid::CountCells;
  const Index n = time_rank.size(), n_time = time_value.size();
  CountCells cells(static_cast<Index>(nstrata) * n_time, ngroup, false, false);
  for (Index k = 0; k < n; ++k) {
    rwe::poll_at(k);
    cells.add(static_cast<Index>(stratum[k] - 1) * n_time + (time_rank[k] - 1),
              group[k] - 1, 1.0, status[k] > 0);
  }
  std::vector<Index> bounds(nstrata + 1);
  for (int st = 0; st <= nstrata; ++st) bounds[st] = static_cast<Index>(st) * n_time;
  return event_rows(cells, bounds, [&](Index p) { return static_cast<int>(p / n_time) + 1; },
                    [&](Index p) { return time_value[p % n_time]; });
}
