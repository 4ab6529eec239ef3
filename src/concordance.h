// Harrell's concordance pair counts for other kernels: the sweep by predictor of
// concordance.cpp (conc_counts_by_predictor_cpp(), which concordance_index() and the Cox fit
// use), without the jackknife variance. The bootstrap validation (resample.cpp) counts every
// replicate's pairs here, so the package has one implementation of the pair counting for
// right-censored data.
//
// Contract (as conc_counts_by_predictor_cpp(); the caller guarantees it): n rows in any
// order; `time_rank` (1..n_time) orders them exactly as the times; `status` 0/1; `predictor`
// finite; `weights` finite >= 0 (length 0: unit weights); `strata` codes 1..n_strata (length 0
// when n_strata is 1). Counts are in the "larger predictor = longer survival" orientation.
// Safe on a worker thread marked with rwe::on_worker_thread() = true (no R API then).
#ifndef RWECOHORT_CONCORDANCE_H
#define RWECOHORT_CONCORDANCE_H

#include "types.h"

namespace concordance {

struct PairTotals {
  double concordant, discordant, tied_x, tied_y, tied_xy;
};

PairTotals pair_totals_by_predictor(const ConstMapIVec& time_rank, int n_time,
                                    const ConstMapVec& status, const ConstMapVec& predictor,
                                    const ConstMapVec& weights, const ConstMapIVec& strata,
                                    int n_strata);

}  // namespace concordance

#endif
