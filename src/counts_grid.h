// Per-time counting on a grid: the one place where rows become numbers at risk, of events and
// of censorings per (grid position, group). Shared by the Kaplan-Meier kernel (km.cpp), the
// log-rank kernel (logrank.cpp) and the multi-site counts (partition.cpp).
//
// Contract (the callers' R code checks it; nothing is re-checked here):
//  * the grid is a vector of positions 0..npos-1 cut into blocks (a curve, a stratum) that are
//    contiguous ranges of positions, times ascending within a block;
//  * a row is added at `last`, the position of its (stop) time in its block, and for
//    counting-process data entered at `entry`, the position of the largest grid time <= its
//    start (no entry = -1 or a position before its block): it is at risk at the positions
//    entry+1 .. last of the block;
//  * group codes are 0..ngroup-1, weights finite >= 0, positions inside 0..npos-1.
// The number at risk at a position is the reverse cumulative sum of the rows that leave
// there, minus (counting process) that of the rows entering after it; walk_block() runs that
// sum from the last position of a block down, as survfit and survdiff count, and hands each
// position's running sums to the caller, so no npos x ngroup at-risk array is stored.
//
// Unweighted cells (the log-rank test, survdiff has no weights) keep only row counts: the
// weighted sums read as the counts (w = w^2 = 1), which keeps the memory at two doubles per
// cell.
#ifndef RWECOHORT_COUNTS_GRID_H
#define RWECOHORT_COUNTS_GRID_H

#include "interrupt.h"
#include "types.h"
#include <algorithm>
#include <cstddef>
#include <vector>

namespace countsgrid {

// The per-cell sums; LEAVE_* are the entry buckets of counting-process data.
enum Sum { EVENT_W, CENSOR_W, EVENT_N, CENSOR_N, EVENT_W2, CENSOR_W2, LEAVE_W, LEAVE_N,
           LEAVE_W2, NSUM };

class CountCells {
 public:
  CountCells(Index npos, int ngroup, bool weighted, bool counting)
      : npos_(npos), ngroup_(ngroup), weighted_(weighted), counting_(counting) {
    int next = 0;
    for (int s = 0; s < NSUM; ++s) slot_[s] = -1;
    const Sum kept_weighted[] = {EVENT_W, CENSOR_W, EVENT_N, CENSOR_N, EVENT_W2, CENSOR_W2};
    if (weighted) {
      for (Sum s : kept_weighted) slot_[s] = next++;
      if (counting) { slot_[LEAVE_W] = next++; slot_[LEAVE_N] = next++; slot_[LEAVE_W2] = next++; }
    } else {
      slot_[EVENT_N] = next++;
      slot_[CENSOR_N] = next++;
      if (counting) slot_[LEAVE_N] = next++;
      // with unit weights the weighted sums are the counts
      slot_[EVENT_W] = slot_[EVENT_W2] = slot_[EVENT_N];
      slot_[CENSOR_W] = slot_[CENSOR_W2] = slot_[CENSOR_N];
      slot_[LEAVE_W] = slot_[LEAVE_W2] = slot_[LEAVE_N];
    }
    nslot_ = next;
    cell_.assign(static_cast<std::size_t>(npos) * ngroup * nslot_, 0.0);
  }

  Index npos() const { return npos_; }
  // Back to no rows (the Monte Carlo relabelings reuse one set of cells).
  void clear() { std::fill(cell_.begin(), cell_.end(), 0.0); }
  int ngroup() const { return ngroup_; }

  // A row whose (stop) time is at `pos`: an event or a censoring there.
  void add(Index pos, int group, double w, bool event) {
    double* c = at(pos, group);
    if (weighted_) {
      if (event) { c[slot_[EVENT_W]] += w; c[slot_[EVENT_N]] += 1.0; c[slot_[EVENT_W2]] += w * w; }
      else { c[slot_[CENSOR_W]] += w; c[slot_[CENSOR_N]] += 1.0; c[slot_[CENSOR_W2]] += w * w; }
    } else {
      c[slot_[event ? EVENT_N : CENSOR_N]] += 1.0;
    }
  }

  // A counting-process row that enters after `pos` (not at risk there nor before).
  void enter(Index pos, int group, double w) {
    double* c = at(pos, group);
    if (weighted_) { c[slot_[LEAVE_W]] += w; c[slot_[LEAVE_N]] += 1.0; c[slot_[LEAVE_W2]] += w * w; }
    else c[slot_[LEAVE_N]] += 1.0;
  }

  double get(Index pos, int group, Sum s) const {
    return slot_[s] < 0 ? 0.0 : cell_[index(pos, group) + slot_[s]];
  }

  // Any row (event or censoring) at this position, in any group / with an event.
  bool any_row(Index pos) const {
    for (int g = 0; g < ngroup_; ++g) {
      if (get(pos, g, EVENT_N) + get(pos, g, CENSOR_N) > 0.0) return true;
    }
    return false;
  }
  bool any_event(Index pos) const {
    for (int g = 0; g < ngroup_; ++g) {
      if (get(pos, g, EVENT_N) > 0.0) return true;
    }
    return false;
  }

  // Running at-risk sums of one block while walk_block() moves down its positions.
  class AtRisk {
   public:
    explicit AtRisk(int ngroup) : sum_(3 * ngroup, 0.0), left_(3 * ngroup, 0.0), ngroup_(ngroup) {}
    double w(int g) const { return sum_[g] - left_[g]; }
    double n(int g) const { return sum_[ngroup_ + g] - left_[ngroup_ + g]; }
    double w2(int g) const { return sum_[2 * ngroup_ + g] - left_[2 * ngroup_ + g]; }

   private:
    friend class CountCells;
    std::vector<double> sum_, left_;  // rows with stop time >= t; rows entering at or after t
    int ngroup_;
  };

  // Visits the positions last-1 .. first of a block, calling visit(pos, at_risk) with the
  // numbers at risk there (rows with entry < pos <= last).
  template <class Visit>
  void walk_block(Index first, Index end, Visit visit) const {
    AtRisk r(ngroup_);
    for (Index p = end - 1; p >= first; --p) {
      for (int g = 0; g < ngroup_; ++g) {
        r.sum_[g] += get(p, g, EVENT_W) + get(p, g, CENSOR_W);
        r.sum_[ngroup_ + g] += get(p, g, EVENT_N) + get(p, g, CENSOR_N);
        r.sum_[2 * ngroup_ + g] += get(p, g, EVENT_W2) + get(p, g, CENSOR_W2);
        if (counting_) {
          r.left_[g] += get(p, g, LEAVE_W);
          r.left_[ngroup_ + g] += get(p, g, LEAVE_N);
          r.left_[2 * ngroup_ + g] += get(p, g, LEAVE_W2);
        }
      }
      visit(p, static_cast<const AtRisk&>(r));
    }
  }

 private:
  std::size_t index(Index pos, int group) const {
    return (static_cast<std::size_t>(pos) * ngroup_ + group) * nslot_;
  }
  double* at(Index pos, int group) { return &cell_[index(pos, group)]; }

  Index npos_;
  int ngroup_;
  bool weighted_, counting_;
  int slot_[NSUM];
  int nslot_;
  std::vector<double> cell_;
};

// The grid of sorted rows: `ord` (0-based row indices) visits the rows by block code, then
// time ascending; every distinct (block, time) becomes a position, in that order. `bounds`
// holds the first position of each block (npos at the end), `block` and `time` those of each
// position. Used by the kernels' sorted paths, where a dense (block x every time) grid would
// be much larger than the data. No per-row array: for_each_row() walks `ord` again.
struct SortedGrid {
  std::vector<Index> bounds;
  std::vector<int> block;
  std::vector<double> time;
};

template <class Ord, class Code, class Time>
SortedGrid sorted_grid(const Ord& ord, const Code& code, const Time& time) {
  SortedGrid g;
  const Index n = ord.size();
  int last_code = 0;
  double last_time = 0.0;
  for (Index i = 0; i < n; ++i) {
    rwe::poll_at(i);
    const Index r = ord[i];
    const int c = code[r];
    const double t = time[r];
    const bool new_block = i == 0 || c != last_code;
    if (new_block) g.bounds.push_back(static_cast<Index>(g.time.size()));
    if (new_block || t != last_time) {
      g.block.push_back(c);
      g.time.push_back(t);
    }
    last_code = c;
    last_time = t;
  }
  g.bounds.push_back(static_cast<Index>(g.time.size()));
  return g;
}

// Visits the rows of `ord` last-first with their grid positions: visit(row, position).
template <class Ord, class Code, class Time, class Visit>
void for_each_row(const SortedGrid& g, const Ord& ord, const Code& code, const Time& time,
                  Visit visit) {
  Index p = static_cast<Index>(g.time.size()) - 1;
  for (Index i = static_cast<Index>(ord.size()) - 1; i >= 0; --i) {
    rwe::poll_at(i);
    const Index r = ord[i];
    while (code[r] != g.block[p] || time[r] != g.time[p]) --p;
    visit(r, p);
  }
}

// The grid position of each row of `ord` (indexed by row number), for callers that count the
// same rows many times (the resampling replicates recount them on every replicate).
template <class Ord, class Code, class Time>
std::vector<Index> row_positions(const SortedGrid& g, const Ord& ord, const Code& code,
                                 const Time& time) {
  std::vector<Index> pos(ord.size());
  for_each_row(g, ord, code, time, [&](Index r, Index p) { pos[r] = p; });
  return pos;
}

// Counting-process entries on a sorted grid: `entry_ord` visits the rows by block code, then
// start time ascending; each row is entered at the last position of its block whose time is
// <= its start (none: it is at risk from the block's first position on).
template <class Ord, class Code, class Time, class Weight>
void enter_sorted(CountCells& cells, const SortedGrid& g, const Ord& entry_ord, const Code& code,
                  const Time& start, const Weight& weight) {
  Index b = 0, p = -1;
  for (Index j = 0; j < static_cast<Index>(entry_ord.size()); ++j) {
    rwe::poll_at(j);
    const Index r = entry_ord[j];
    if (j == 0 || code[r] != code[entry_ord[j - 1]]) {
      while (g.block[g.bounds[b]] != code[r]) ++b;  // every code of entry_ord is on the grid
      p = g.bounds[b] - 1;
    }
    while (p + 1 < g.bounds[b + 1] && g.time[p + 1] <= start[r]) ++p;
    if (p >= g.bounds[b]) cells.enter(p, 0, weight[r]);
  }
}

}  // namespace countsgrid

#endif
