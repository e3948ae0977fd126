// Copyright 2026 The lfn2_ros Authors
// SPDX-License-Identifier: Apache-2.0
//
// Runs the threads of one emulated CUDA block as fibers (ucontext) on the calling OS thread, with
// __syncthreads as a real barrier: a fiber that reaches it is suspended until every thread of the block has
// arrived. Between barriers the fibers run one after another, in ascending thread order in even phases and
// descending in odd ones, so a missing barrier makes some thread read what another has not yet written (the
// poisoned shared memory) or has already overwritten, whichever way the data flows. Fibers rather than OS
// threads: a barrier costs a few microseconds instead of milliseconds, which keeps the tests fast.
// AddressSanitizer is told about every stack switch, so it checks the fibers' stacks too.
#pragma once

#include <sys/mman.h>
#include <ucontext.h>

#include <c10/util/Exception.h>

#include <cstddef>
#include <exception>
#include <functional>
#include <stdexcept>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define LFN2_EMU_ASAN 1
#endif

namespace lfn2 {
namespace emu {

// Raised in the threads of a block whose threads did not all arrive at the same barrier.
struct DivergentBarrier : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class BlockScheduler {
 public:
  static constexpr size_t kGuardBytes = 4096;

  // `threads` fibers of `stack_bytes` stack each, reused for every block run with this scheduler.
  BlockScheduler(unsigned threads, size_t stack_bytes) : fibers_(threads), stack_bytes_(stack_bytes) {
    for (Fiber& f : fibers_) {
      void* stack = mmap(nullptr, stack_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      TORCH_CHECK(stack != MAP_FAILED, "emulated CUDA: cannot map a fiber stack");
      // Guard page: a stack overflow faults instead of running into the neighbouring fiber's stack.
      TORCH_CHECK(mprotect(stack, kGuardBytes, PROT_NONE) == 0, "emulated CUDA: cannot protect a fiber stack");
      f.stack = stack;
    }
  }
  ~BlockScheduler() {
    for (Fiber& f : fibers_) munmap(f.stack, stack_bytes_);
  }
  BlockScheduler(const BlockScheduler&) = delete;
  BlockScheduler& operator=(const BlockScheduler&) = delete;

  // Runs body(tid) for every thread tid of one block. Returns the first exception a thread raised (a
  // divergent barrier if that was the only problem), or null.
  std::exception_ptr run_block(const std::function<void(unsigned)>& body, unsigned block_parity) {
    body_ = &body;
    for (unsigned tid = 0; tid < fibers_.size(); ++tid) start(tid);
    std::exception_ptr divergence;
    for (unsigned phase = block_parity;; ++phase) {
      const unsigned n = static_cast<unsigned>(fibers_.size());
      for (unsigned k = 0; k < n; ++k) resume(phase % 2 == 0 ? k : n - 1 - k);
      unsigned exited = 0;
      for (const Fiber& f : fibers_) exited += f.state == State::kExited;
      if (exited == n) break;
      if (exited > 0) {
        // Some threads wait at a __syncthreads that the exited ones never reach: unwind the waiting ones.
        divergence = std::make_exception_ptr(DivergentBarrier(
            "emulated CUDA: __syncthreads() not reached by every thread of the block (some threads "
            "returned from the kernel)"));
        unwinding_ = true;
        for (unsigned tid = 0; tid < n; ++tid) resume(tid);
        unwinding_ = false;
        break;
      }
      for (Fiber& f : fibers_) f.state = State::kRunnable;
    }
    for (const Fiber& f : fibers_) {
      if (f.error) return f.error;
    }
    return divergence;
  }

  unsigned threads() const { return static_cast<unsigned>(fibers_.size()); }

  // Thread index of the running fiber.
  unsigned current() const { return current_; }

  // Called by the running fiber at a __syncthreads: suspends it until every thread of the block arrives.
  void barrier() {
    Fiber& f = fibers_[current_];
    f.state = State::kWaiting;
    switch_to_scheduler(f, /*final=*/false);
    if (unwinding_) throw DivergentBarrier("emulated CUDA: unwinding a block after a divergent __syncthreads()");
  }

 private:
  enum class State { kRunnable, kWaiting, kExited };

  struct Fiber {
    ucontext_t context;
    void* stack = nullptr;
    State state = State::kExited;
    std::exception_ptr error;
    void* fake_stack = nullptr;  // ASan's bookkeeping while suspended
  };

  void start(unsigned tid) {
    Fiber& f = fibers_[tid];
    f.state = State::kRunnable;
    f.error = nullptr;
    getcontext(&f.context);
    f.context.uc_stack.ss_sp = f.stack;
    f.context.uc_stack.ss_size = stack_bytes_;
    f.context.uc_link = nullptr;
    // makecontext passes int arguments only: the scheduler pointer goes through `entering_`.
    makecontext(&f.context, &BlockScheduler::entry, 0);
  }

  void resume(unsigned tid) {
    Fiber& f = fibers_[tid];
    if (f.state != State::kRunnable && !(unwinding_ && f.state == State::kWaiting)) return;
    if (f.state == State::kWaiting) f.state = State::kRunnable;
    current_ = tid;
    entering_ = this;
#ifdef LFN2_EMU_ASAN
    void* fake = nullptr;
    __sanitizer_start_switch_fiber(&fake, f.stack, stack_bytes_);
    swapcontext(&scheduler_, &f.context);
    __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#else
    swapcontext(&scheduler_, &f.context);
#endif
  }

  void switch_to_scheduler(Fiber& f, bool final) {
#ifdef LFN2_EMU_ASAN
    __sanitizer_start_switch_fiber(final ? nullptr : &f.fake_stack, scheduler_bottom_, scheduler_size_);
    swapcontext(&f.context, &scheduler_);
    __sanitizer_finish_switch_fiber(f.fake_stack, &scheduler_bottom_, &scheduler_size_);
#else
    (void)final;
    swapcontext(&f.context, &scheduler_);
#endif
  }

  static void entry() {
    BlockScheduler* self = entering_;
#ifdef LFN2_EMU_ASAN
    __sanitizer_finish_switch_fiber(nullptr, &self->scheduler_bottom_, &self->scheduler_size_);
#endif
    const unsigned tid = self->current_;
    Fiber& f = self->fibers_[tid];
    try {
      (*self->body_)(tid);
    } catch (const DivergentBarrier&) {
      // reported once by run_block
    } catch (...) {
      f.error = std::current_exception();
    }
    f.state = State::kExited;
    self->switch_to_scheduler(f, /*final=*/true);  // never resumed
  }

  static inline thread_local BlockScheduler* entering_ = nullptr;
  std::vector<Fiber> fibers_;
  const size_t stack_bytes_;
  const std::function<void(unsigned)>* body_ = nullptr;
  ucontext_t scheduler_;
  unsigned current_ = 0;
  bool unwinding_ = false;
  const void* scheduler_bottom_ = nullptr;
  size_t scheduler_size_ = 0;
};

}  // namespace emu
}  // namespace lfn2
