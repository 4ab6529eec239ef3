# Exploration behind the "PFS plausibility" section of data-raw/README.md (issue 17 item 5):
# can the progression times spread out without making Table 4's fit worse? Not part of the
# build; each run prints the search log, the fit and the plausibility metrics.
#   Rscript data-raw/explore-plausibility.R weighted GAP_WEIGHT ROUNDS OUT.csv [START.csv]
#     the search of search-survival.R with the gap term (plausibility.R's gap_excess) weighted
#   Rscript data-raw/explore-plausibility.R constrained GAP_WEIGHT ROUNDS OUT.csv [START.csv]
#     the same moves, but Table 4 enters only as hard limits at the committed fit's values
#     (average and worst KM-mean error, worst p-value log-ratio; a violation costs 1000 x
#     its size), so the search minimises the bunching + gap terms inside them
# START defaults to the committed fit, data-raw/survival-fit.csv. Run with nice -n 5.

source("data-raw/search-survival.R")
source("data-raw/plausibility.R")

fit_stats <- function(s, cx) {
  r <- fit_summaries_cpp(s$time, s$F, cx$event, cx$distant, cx$bone)
  ok <- !is.na(cx$target_mean)
  e <- abs(r$mean[ok] - cx$target_mean[ok])
  tp <- cx$target_p
  c(avg = mean(e), worst = max(e), lpf = max(abs(log(r$p[tp > 0] / tp[tp > 0]))))
}

# Cost with Table 4 as hard limits `lim`: the objective's call / HFS / median / bunching / gap
# terms (and its plain sum of squared mean errors, as a tie-breaker) plus the limit penalty.
constrained_cost <- function(lim) {
  function(s, cx) {
    w0 <- cx$w
    w0[c("p_log2", "worst", "abs", "p_far")] <- 0
    base <- objective_cpp(s$time, s$F, cx$event, cx$distant, cx$bone, cx$target_mean,
                          cx$target_p, w0)
    if (!is.finite(base)) return(base)
    f <- fit_stats(s, cx)
    base + 1000 * sum(pmax(0, f - lim - c(0, 1e-9, 0)))
  }
}

explore <- function(mode, gap_weight, rounds, out, start = "data-raw/survival-fit.csv") {
  SEARCH_WEIGHTS[["gap"]] <<- gap_weight
  N_ROUNDS <<- rounds
  START_FILE <<- start
  if (mode == "constrained") {
    Rcpp::sourceCpp("data-raw/search-objective.cpp", env = globalenv())
    cx <- search_context()
    lim <- fit_stats(state_from_frame(utils::read.csv("data-raw/survival-fit.csv"), cx$sk), cx)
    cost_of <<- constrained_cost(lim)
  }
  run_search(out)
  f <- utils::read.csv(out)
  cx <- search_context()
  print(round(fit_stats(state_from_frame(f, cx$sk), cx), 4))
  print(round(pfs_plausibility(f$pfs_months, as.integer(f$best_response == "PD")), 3))
}

if (sys.nframe() == 0L) {
  a <- commandArgs(TRUE)
  explore(a[1], as.numeric(a[2]), as.integer(a[3]), a[4],
          if (length(a) > 4) a[5] else "data-raw/survival-fit.csv")
}
