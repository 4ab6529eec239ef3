// User interrupts (Ctrl-C) in long kernels.
//
// Contract: R's API is touched from the thread that called into C++ (R's main thread) only.
// Single-threaded loops count their work units and call poll_interrupt() every few hundred
// thousand units (about every 0.01-0.1 s of work): it throws Rcpp's interrupt exception, which
// unwinds the C++ frames (freeing their memory) and becomes R's "interrupted" condition in
// the generated wrapper. Multi-threaded code uses a StopFlag: the main thread asks R without
// throwing and raises the flag, the other threads only read it; everyone returns early and
// the caller throws after joining the threads. Worker threads that run single-threaded
// kernels mark themselves (on_worker_thread() = true), which turns those kernels' polls into
// no-ops.
#ifndef RWECOHORT_INTERRUPT_H
#define RWECOHORT_INTERRUPT_H

#include <Rcpp.h>
#include <R_ext/Utils.h>
#include <atomic>
#include <cstdint>

namespace rwe {

// Work units between two polls in simple loops (a unit is one row or one pair of cheap
// operations); a poll costs about a microsecond.
constexpr std::uint64_t kPollEvery = std::uint64_t(1) << 18;

// TRUE on a worker thread of a multi-threaded computation (the thread sets it first thing,
// as resample.cpp's for_replicates() does): the polls below are then no-ops, so that a
// single-threaded kernel can run inside a thread pool (the bootstrap validation's
// concordance) while the main thread keeps polling.
inline bool& on_worker_thread() {
  static thread_local bool worker = false;
  return worker;
}

// Throws if the user interrupted (main thread only; a no-op on a worker thread).
inline void poll_interrupt() {
  if (!on_worker_thread()) Rcpp::checkUserInterrupt();
}

// In a loop over work units 0, 1, 2, ...: polls at every kPollEvery-th unit.
inline void poll_at(std::uint64_t unit) {
  if ((unit & (kPollEvery - 1)) == 0) poll_interrupt();
}

inline void check_interrupt_fn(void*) { R_CheckUserInterrupt(); }

// TRUE if the user interrupted (R's pending interrupt is consumed); does not throw. Main
// thread only.
inline bool interrupt_pending() { return R_ToplevelExec(check_interrupt_fn, nullptr) == FALSE; }

// Shared by the threads of one computation (see the header comment).
class StopFlag {
 public:
  // Main thread: asks R and raises the flag; other threads: read the flag.
  bool poll(bool main_thread) {
    if (main_thread && !raised_.load(std::memory_order_relaxed) && interrupt_pending()) {
      raised_.store(true, std::memory_order_relaxed);
    }
    return raised_.load(std::memory_order_relaxed);
  }
  bool raised() const { return raised_.load(std::memory_order_relaxed); }
  // After the threads have joined: turn a raised flag into R's interrupt.
  void rethrow() const {
    if (raised()) throw Rcpp::internal::InterruptedException();
  }

 private:
  std::atomic<bool> raised_{false};
};

}  // namespace rwe

#endif
