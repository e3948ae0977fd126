// Copyright 2026 The lfn2_ros Authors
// SPDX-License-Identifier: Apache-2.0
//
// A small emulation of the CUDA execution model, so that the project's __global__ kernels run unchanged on
// the CPU in tests (the `cuda_emulated` backend): include it, instead of the CUDA runtime, before the kernels.
//
// What it models:
//  - grid and block indices: threadIdx, blockIdx, blockDim and gridDim, per emulated thread;
//  - the threads of a block as fibers with __syncthreads as a real barrier (block_scheduler.h), so that a
//    missing barrier shows up as wrong results. Blocks run one after another;
//  - dynamic shared memory of exactly the size the launch asks for (a heap block: under AddressSanitizer the
//    first byte past it is a redzone), filled with 0xFF bytes (NaN as float) before every block, so a read
//    of shared memory that no thread wrote shows up in the results;
//  - atomicAdd (std::atomic_ref; the fibers of a block never run at the same time, but it stays correct if
//    blocks are ever run on several OS threads);
//  - the launch limits a GPU enforces: threads per block vs the kernel's __launch_bounds__ and 1024, grid
//    extents, and 48 KiB of dynamic shared memory without an opt-in; a __syncthreads that not every thread
//    of the block reaches (some returned from the kernel) is reported instead of hanging or passing.
// Not modelled: warps and warp intrinsics, memory-model reorderings, streams (launches are synchronous).
#pragma once

#if defined(__CUDACC__)
#error "cuda_emulation.h is the CPU stand-in for the CUDA runtime; nvcc builds use the real one"
#endif

#include <c10/util/Exception.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <tuple>
#include <utility>

#include "block_scheduler.h"

struct uint3 {
  unsigned x, y, z;
};

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

namespace lfn2 {
namespace emu {

constexpr int kMaxThreadsPerBlock = 1024;
constexpr unsigned kMaxBlockZ = 64;
constexpr unsigned kMaxGridYZ = 65535;
constexpr unsigned kMaxGridX = 2147483647u;
constexpr size_t kMaxDynamicSmem = 48 * 1024;  // without cudaFuncSetAttribute(MaxDynamicSharedMemorySize)

// State of the running emulated launch (one per OS thread: launches are synchronous).
struct Launch {
  dim3 grid, block;
  uint3 block_idx{0, 0, 0};
  unsigned char* smem = nullptr;
  BlockScheduler* scheduler = nullptr;
};

inline Launch*& current_launch() {
  static thread_local Launch* launch = nullptr;
  return launch;
}

inline const Launch& launch_state() {
  const Launch* launch = current_launch();
  TORCH_CHECK(launch != nullptr, "emulated CUDA: a CUDA builtin was used outside an emulated kernel");
  return *launch;
}

inline uint3 thread_idx() {
  const Launch& l = launch_state();
  const unsigned tid = l.scheduler->current();
  return {tid % l.block.x, (tid / l.block.x) % l.block.y, tid / (l.block.x * l.block.y)};
}

inline unsigned char* dynamic_smem() { return launch_state().smem; }

inline void syncthreads() { launch_state().scheduler->barrier(); }

inline void check_launch(int bound, dim3 grid, dim3 block, size_t smem_bytes) {
  const int64_t threads = static_cast<int64_t>(block.x) * block.y * block.z;
  TORCH_CHECK(threads >= 1 && threads <= bound && threads <= kMaxThreadsPerBlock && block.z <= kMaxBlockZ,
              "emulated CUDA launch: a block of ", block.x, " x ", block.y, " x ", block.z, " threads exceeds the "
              "kernel's __launch_bounds__(", bound, ") or the device limits (1024 threads, z <= 64)");
  TORCH_CHECK(grid.x >= 1 && grid.y >= 1 && grid.z >= 1 && grid.x <= kMaxGridX && grid.y <= kMaxGridYZ &&
                  grid.z <= kMaxGridYZ,
              "emulated CUDA launch: grid ", grid.x, " x ", grid.y, " x ", grid.z, " outside the device limits");
  TORCH_CHECK(smem_bytes <= kMaxDynamicSmem, "emulated CUDA launch: ", smem_bytes, " bytes of dynamic shared "
              "memory exceed the ", kMaxDynamicSmem, " a block gets without an opt-in");
}

// Runs `body` as every thread of every block of the grid, blocks in order; rethrows the first exception a
// thread raised, after its block has stopped.
inline void run_grid(dim3 grid, dim3 block, size_t smem_bytes, const std::function<void()>& body) {
  // Small: AddressSanitizer clears the shadow of the whole target stack on every context switch.
  constexpr size_t kStackBytes = 64 * 1024;
  const unsigned threads = block.x * block.y * block.z;
  const uint64_t blocks = static_cast<uint64_t>(grid.x) * grid.y * grid.z;
  TORCH_CHECK(current_launch() == nullptr, "emulated CUDA: kernel launches from a kernel are not supported");
  // Fibers (and their mapped stacks) are reused across the launches of this OS thread.
  static thread_local std::unique_ptr<BlockScheduler> cached;
  if (!cached || cached->threads() != threads) cached = std::make_unique<BlockScheduler>(threads, kStackBytes);
  BlockScheduler& scheduler = *cached;
  // Exactly the requested size (new[] is 16-byte aligned on the supported hosts, as CUDA's dynamic smem).
  std::unique_ptr<unsigned char[]> smem(new unsigned char[smem_bytes]);
  Launch launch;
  launch.grid = grid;
  launch.block = block;
  launch.smem = smem.get();
  launch.scheduler = &scheduler;
  current_launch() = &launch;
  std::exception_ptr error;
  const std::function<void(unsigned)> thread_body = [&](unsigned) { body(); };
  for (uint64_t b = 0; b < blocks && !error; ++b) {
    if (smem_bytes > 0) std::memset(smem.get(), 0xFF, smem_bytes);
    launch.block_idx = {static_cast<unsigned>(b % grid.x), static_cast<unsigned>((b / grid.x) % grid.y),
                        static_cast<unsigned>(b / (static_cast<uint64_t>(grid.x) * grid.y))};
    error = scheduler.run_block(thread_body, static_cast<unsigned>(b % 2));
  }
  current_launch() = nullptr;
  if (error) std::rethrow_exception(error);
}

// kernel<<<grid, block, smem_bytes>>>(args...) for a kernel declared __launch_bounds__(kBound). The arguments
// are converted to the kernel's parameter types once, and every thread gets its own copy, as on a GPU.
template <int kBound, typename... Params, typename... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem_bytes, Args&&... args) {
  check_launch(kBound, grid, block, smem_bytes);
  const std::tuple<std::decay_t<Params>...> params(std::forward<Args>(args)...);
  run_grid(grid, block, smem_bytes, [&] { std::apply(kernel, params); });
}

}  // namespace emu
}  // namespace lfn2

template <typename T>
inline T atomicAdd(T* address, T value) {
  return std::atomic_ref<T>(*address).fetch_add(value);
}

#define __global__
#define __launch_bounds__(...)
#define __syncthreads() ::lfn2::emu::syncthreads()
#define threadIdx (::lfn2::emu::thread_idx())
#define blockIdx (::lfn2::emu::launch_state().block_idx)
#define blockDim (::lfn2::emu::launch_state().block)
#define gridDim (::lfn2::emu::launch_state().grid)
