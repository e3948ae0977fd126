// Copyright 2026 The lfn2_ros Authors
// SPDX-License-Identifier: Apache-2.0
//
// Kernels that check the CUDA emulation itself (test/test_cuda_emulation.py): the barrier, atomics, the launch
// limits, divergence detection, poisoned shared memory, and (under AddressSanitizer) an out-of-bounds
// shared-memory access. lfn2_emu::emulation_selftest(name) runs one and returns what it wrote.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <string>

#include "cuda_emulation.h"

namespace lfn2 {
namespace {

constexpr int kBlock = 64;

// out[b * n + t] = the value thread t + 1 of block b stored in shared memory before the barrier.
__global__ void __launch_bounds__(kBlock) rotate_kernel(float* out) {
  float* s = reinterpret_cast<float*>(emu::dynamic_smem());
  const unsigned n = blockDim.x, t = threadIdx.x;
  // Without a real barrier, some thread would read a neighbour's slot before it is written (0xFF: NaN).
  s[t] = static_cast<float>(blockIdx.x * 1000 + t);
  __syncthreads();
  out[blockIdx.x * n + t] = s[(t + 1) % n];
}

__global__ void __launch_bounds__(kBlock) count_kernel(float* out, int repeats) {
  for (int i = 0; i < repeats; ++i) atomicAdd(out, 1.0f);
}

__global__ void __launch_bounds__(kBlock) divergent_kernel(float* out) {
  if (threadIdx.x == 3) return;
  __syncthreads();
  out[threadIdx.x] = 1.0f;
}

// Reads shared memory no thread wrote (poisoned: NaN) or, with `oob`, one float past the launch's request.
__global__ void __launch_bounds__(kBlock) smem_read_kernel(float* out, int index) {
  const float* s = reinterpret_cast<const float*>(emu::dynamic_smem());
  if (threadIdx.x == 0) out[0] = s[index];
}

at::Tensor emulation_selftest(const std::string& name) {
  at::Tensor out = at::zeros({4 * kBlock}, at::kFloat);
  float* o = out.data_ptr<float>();
  const size_t smem = kBlock * sizeof(float);
  if (name == "barrier") {
    emu::launch<kBlock>(rotate_kernel, dim3(4), dim3(kBlock), smem, o);
  } else if (name == "atomic") {
    emu::launch<kBlock>(count_kernel, dim3(3), dim3(kBlock), 0, o, 10);
  } else if (name == "divergent") {
    emu::launch<kBlock>(divergent_kernel, dim3(1), dim3(kBlock), 0, o);
  } else if (name == "over_bound") {
    emu::launch<kBlock>(count_kernel, dim3(1), dim3(2 * kBlock), 0, o, 1);
  } else if (name == "smem_limit") {
    emu::launch<kBlock>(smem_read_kernel, dim3(1), dim3(kBlock), 48 * 1024 + 16, o, 0);
  } else if (name == "uninitialised") {
    emu::launch<kBlock>(smem_read_kernel, dim3(1), dim3(kBlock), smem, o, 0);
  } else if (name == "smem_oob") {
    emu::launch<kBlock>(smem_read_kernel, dim3(1), dim3(kBlock), smem, o, kBlock);
  } else {
    TORCH_CHECK(false, "emulation_selftest: unknown case '", name, "'");
  }
  return out;
}

}  // namespace
}  // namespace lfn2

TORCH_LIBRARY_FRAGMENT(lfn2_emu, m) {
  m.def("emulation_selftest(str name) -> Tensor", &lfn2::emulation_selftest);
}
