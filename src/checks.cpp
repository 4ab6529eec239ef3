// Validation helpers for R/checks.R: single passes over long vectors that answer "is every
// value acceptable?" without allocating. When the answer is no, the R code finds and reports
// the offending rows (the slow path runs only on bad input). The hashing and ranking loops
// poll for Ctrl-C every rwe::kPollEvery rows (interrupt.h) and the sort of distinct values
// runs in chunks with a poll between them; the plain vectorised scans run at memory speed
// (milliseconds per 1e7 rows) and are left without polls.
#include <Rcpp.h>
#include "interrupt.h"
#include "types.h"
// [[Rcpp::depends(RcppEigen)]]
#include <RcppEigen.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

// TRUE if any value of a double vector is NA or NaN. Attributes (a Surv or matrix class) are
// ignored: anyNA() on a classed object would call its is.na() method, which allocates.
// [[Rcpp::export(rng = false)]]
bool any_na_double_cpp(const Eigen::Map<Eigen::VectorXd> x) {
  const Index n = x.size();
  bool any = false;
  for (Index k = 0; k < n; ++k) any |= std::isnan(x[k]);
  return any;
}

// TRUE if the survival times pass every check of check_times(): stop times finite and >= 0;
// start times (if `start` has length > 0) finite, >= 0 and below their stop time.
// [[Rcpp::export(rng = false)]]
bool times_valid_cpp(const Eigen::Map<Eigen::VectorXd> time,
                     const Eigen::Map<Eigen::VectorXd> start) {
  const Index n = time.size();
  bool ok = true;
  for (Index k = 0; k < n; ++k) ok &= std::isfinite(time[k]) && time[k] >= 0.0;
  if (start.size() > 0) {
    for (Index k = 0; k < n; ++k) {
      ok &= std::isfinite(start[k]) && start[k] >= 0.0 && start[k] < time[k];
    }
  }
  return ok;
}

// Sorted distinct values of `time` and `start` together (start may have length 0) and the rank
// of each value among them (1-based), as sort(unique(c(time, start))) and match() would give,
// in O(n) hash lookups plus a sort of the distinct values only (registry times have few).
// Contract: finite doubles (no NA/NaN); -0 and +0 are one value, as in unique().
namespace {

class DistinctDoubles {
 public:
  DistinctDoubles() : slot_(1024, -1), mask_(1023) {}
  // Index (in first-seen order) of value v, adding it if new.
  int id(double v) {
    if (v == 0.0) v = 0.0;
    std::uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    std::size_t h = hash(bits) & mask_;
    while (slot_[h] >= 0) {
      if (values_[slot_[h]] == v) return slot_[h];
      h = (h + 1) & mask_;
    }
    slot_[h] = static_cast<int>(values_.size());
    values_.push_back(v);
    if (2 * values_.size() > slot_.size()) grow();
    return static_cast<int>(values_.size()) - 1;
  }
  const std::vector<double>& values() const { return values_; }

 private:
  // splitmix64's finaliser: whole-number doubles differ only in their high bits, so every
  // bit must reach the low bits that index the table.
  static std::size_t hash(std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return static_cast<std::size_t>(z ^ (z >> 31));
  }
  void grow() {
    slot_.assign(slot_.size() * 2, -1);
    mask_ = slot_.size() - 1;
    for (std::size_t i = 0; i < values_.size(); ++i) {
      std::uint64_t bits;
      std::memcpy(&bits, &values_[i], sizeof bits);
      std::size_t h = hash(bits) & mask_;
      while (slot_[h] >= 0) h = (h + 1) & mask_;
      slot_[h] = static_cast<int>(i);
    }
  }
  std::vector<int> slot_;
  std::size_t mask_;
  std::vector<double> values_;
};

// std::sort in interruptible steps: chunks of rwe::kPollEvery elements are sorted, then
// merged pairwise level by level, with a poll after each chunk and each merge (a merge of
// the last level is O(m) moves, a few tens of milliseconds at m = 5e6).
template <typename T, typename Less>
void sort_polling(std::vector<T>& v, Less less) {
  const std::size_t m = v.size(), chunk = static_cast<std::size_t>(rwe::kPollEvery);
  for (std::size_t b = 0; b < m; b += chunk) {
    std::sort(v.begin() + b, v.begin() + std::min(m, b + chunk), less);
    rwe::poll_interrupt();
  }
  for (std::size_t width = chunk; width < m; width *= 2) {
    for (std::size_t b = 0; b + width < m; b += 2 * width) {
      std::inplace_merge(v.begin() + b, v.begin() + b + width,
                         v.begin() + std::min(m, b + 2 * width), less);
      rwe::poll_interrupt();
    }
  }
}

}  // namespace

// [[Rcpp::export(rng = false)]]
Rcpp::List distinct_rank_cpp(const Eigen::Map<Eigen::VectorXd> time,
                             const Eigen::Map<Eigen::VectorXd> start) {
  const Index n = time.size(), n_start = start.size();
  DistinctDoubles distinct;
  Rcpp::IntegerVector time_rank(n), start_rank(n_start);
  for (Index k = 0; k < n; ++k) {
    rwe::poll_at(k);
    time_rank[k] = distinct.id(time[k]);
  }
  for (Index k = 0; k < n_start; ++k) {
    rwe::poll_at(k);
    start_rank[k] = distinct.id(start[k]);
  }
  const std::vector<double>& values = distinct.values();
  const std::size_t m = values.size();
  std::vector<int> by_value(m);
  for (std::size_t i = 0; i < m; ++i) by_value[i] = static_cast<int>(i);
  sort_polling(by_value, [&values](int a, int b) { return values[a] < values[b]; });
  Rcpp::NumericVector sorted(m);
  std::vector<int> rank_of(m);
  for (std::size_t i = 0; i < m; ++i) {
    sorted[i] = values[by_value[i]];
    rank_of[by_value[i]] = static_cast<int>(i) + 1;
  }
  for (Index k = 0; k < n; ++k) {
    rwe::poll_at(k);
    time_rank[k] = rank_of[time_rank[k]];
  }
  for (Index k = 0; k < n_start; ++k) start_rank[k] = rank_of[start_rank[k]];
  return Rcpp::List::create(Rcpp::Named("values") = sorted,
                            Rcpp::Named("time_rank") = time_rank,
                            Rcpp::Named("start_rank") = start_rank);
}

namespace {

// mean(x) exactly as R computes it for doubles (long double sum, then one correction pass):
// the near-tie rule compares gaps with it, so it must be R's number to the last bit.
double r_mean(const double* x, std::size_t m) {
  long double s = 0.0;
  for (std::size_t i = 0; i < m; ++i) s += x[i];
  if (std::isfinite(static_cast<double>(s))) {
    s /= static_cast<long double>(m);
  } else {
    long double t = 0.0;
    for (std::size_t i = 0; i < m; ++i) t += x[i] / static_cast<long double>(m);
    s = t;
  }
  if (std::isfinite(static_cast<double>(s))) {
    long double t = 0.0;
    for (std::size_t i = 0; i < m; ++i) t += (x[i] - s);
    s += t / static_cast<long double>(m);
  }
  return static_cast<double>(s);
}

}  // namespace

// survival's timefix in one call: distinct_rank_cpp()'s sorted distinct times `y`, then runs
// of them whose gaps are at most sqrt(eps), absolutely or relative to mean(abs(y)), merged
// into the run's first time. Returns the merged times (the inputs themselves when nothing
// merges), their 1-based ranks among the merged distinct times, those times (`values`) and
// `bad_start`: the 1-based rows whose start rank is not below their stop rank (intervals
// shorter than the tolerance; R reports them).
// Contract: finite doubles, no NA; `start` of length 0 or of time's length.
// [[Rcpp::export(rng = false)]]
Rcpp::List merge_near_ties_cpp(const Rcpp::NumericVector time, const Rcpp::NumericVector start) {
  const Eigen::Map<Eigen::VectorXd> time_map(const_cast<double*>(time.begin()), time.size());
  const Eigen::Map<Eigen::VectorXd> start_map(const_cast<double*>(start.begin()), start.size());
  Rcpp::List distinct = distinct_rank_cpp(time_map, start_map);
  const Rcpp::NumericVector y = distinct["values"];
  Rcpp::IntegerVector time_rank = distinct["time_rank"], start_rank = distinct["start_rank"];
  const std::size_t m = y.size();
  const double tol = std::sqrt(std::numeric_limits<double>::epsilon());
  std::vector<double> abs_y(m);
  for (std::size_t i = 0; i < m; ++i) abs_y[i] = std::fabs(y[i]);
  const double scale = m > 1 ? r_mean(abs_y.data(), m) : 1.0;
  std::vector<int> merged(m);  // merged rank (1-based) of each distinct time
  std::vector<double> cuts;
  cuts.reserve(m);
  for (std::size_t i = 0; i < m; ++i) {
    const double dy = i ? y[i] - y[i - 1] : 0.0;
    const bool tied = i > 0 && (dy <= tol || dy / scale <= tol);
    if (!tied) cuts.push_back(y[i]);
    merged[i] = static_cast<int>(cuts.size());
  }
  const Index n = time.size(), n_start = start.size();
  if (cuts.size() == m) {
    return Rcpp::List::create(Rcpp::Named("time") = time, Rcpp::Named("start") = start,
                              Rcpp::Named("time_rank") = time_rank,
                              Rcpp::Named("start_rank") = start_rank,
                              Rcpp::Named("values") = y,
                              Rcpp::Named("bad_start") = Rcpp::IntegerVector(0));
  }
  Rcpp::NumericVector new_time(n), new_start(n_start);
  for (Index k = 0; k < n; ++k) {
    rwe::poll_at(k);
    time_rank[k] = merged[time_rank[k] - 1];
    new_time[k] = cuts[time_rank[k] - 1];
  }
  std::vector<int> bad;
  for (Index k = 0; k < n_start; ++k) {
    rwe::poll_at(k);
    start_rank[k] = merged[start_rank[k] - 1];
    new_start[k] = cuts[start_rank[k] - 1];
    if (start_rank[k] >= time_rank[k]) bad.push_back(static_cast<int>(k) + 1);
  }
  return Rcpp::List::create(Rcpp::Named("time") = new_time, Rcpp::Named("start") = new_start,
                            Rcpp::Named("time_rank") = time_rank,
                            Rcpp::Named("start_rank") = start_rank,
                            Rcpp::Named("values") = Rcpp::NumericVector(cuts.begin(), cuts.end()),
                            Rcpp::Named("bad_start") = Rcpp::IntegerVector(bad.begin(), bad.end()));
}

// TRUE if every value is exactly 0 or 1 (so no NA): the event codes Surv() keeps unchanged.
// [[Rcpp::export(rng = false)]]
bool all_zero_one_cpp(const Eigen::Map<Eigen::VectorXd> x) {
  const Index n = x.size();
  bool ok = true;
  for (Index k = 0; k < n; ++k) ok &= (x[k] == 0.0) | (x[k] == 1.0);
  return ok;
}

// TRUE if every value is a whole number (x == floor(x)), scanned without R's two n-long
// temporaries of all(x == floor(x)). Contract: no NA (weights are checked first).
// [[Rcpp::export(rng = false)]]
bool all_whole_cpp(const Eigen::Map<Eigen::VectorXd> x) {
  const Index n = x.size();
  bool ok = true;
  for (Index k = 0; k < n; ++k) ok &= x[k] == std::floor(x[k]);
  return ok;
}

// TRUE if some row has an event (status > 0) with a positive weight (weights of length 0:
// all 1). Contract: `status` and `weights` (if given) of equal length, no NA.
// [[Rcpp::export(rng = false)]]
bool any_weighted_event_cpp(const Eigen::Map<Eigen::VectorXd> status,
                            const Eigen::Map<Eigen::VectorXd> weights) {
  const Index n = status.size();
  const bool weighted = weights.size() > 0;
  for (Index k = 0; k < n; ++k) {
    if (status[k] > 0.0 && (!weighted || weights[k] > 0.0)) return true;
  }
  return false;
}

// The n x 2 matrix of Surv(time, event) for right-censored data whose event codes are all 0/1
// (R has checked that): time in column 1, the codes as doubles in column 2, built without
// the temporaries of c(as.double(time), as.double(event)). Contract: equal lengths.
// [[Rcpp::export(rng = false)]]
Rcpp::NumericMatrix surv_matrix_cpp(const Eigen::Map<Eigen::VectorXd> time,
                                    const Eigen::Map<Eigen::VectorXd> event) {
  const Index n = time.size();
  Rcpp::NumericMatrix out(n, 2);
  std::copy(time.data(), time.data() + n, out.begin());
  std::copy(event.data(), event.data() + n, out.begin() + n);
  return out;
}

// As surv_matrix_cpp() for integer event codes (0/1, checked by R).
// [[Rcpp::export(rng = false)]]
Rcpp::NumericMatrix surv_matrix_int_cpp(const Eigen::Map<Eigen::VectorXd> time,
                                        const Eigen::Map<Eigen::VectorXi> event) {
  const Index n = time.size();
  Rcpp::NumericMatrix out(n, 2);
  std::copy(time.data(), time.data() + n, out.begin());
  for (Index k = 0; k < n; ++k) out[n + k] = event[k];
  return out;
}

// Column j (1-based) of a numeric matrix (a Surv response) as a plain vector: one copy of the
// column, where `[.Surv` first copies the whole matrix. Contract: 1 <= j <= ncol(y).
// [[Rcpp::export(rng = false)]]
Rcpp::NumericVector matrix_column_cpp(const Eigen::Map<Eigen::MatrixXd> y, const int j) {
  const Index n = y.rows();
  Rcpp::NumericVector out(n);
  std::copy(y.col(j - 1).data(), y.col(j - 1).data() + n, out.begin());
  return out;
}
