// Copyright 2026 The lfn2_ros Authors
// SPDX-License-Identifier: Apache-2.0
//
// The CUDA kernels of lfn2::correlation (../cuda/correlation_cuda_kernels.h), with their host launch code
// (../cuda/correlation_cuda_host.h), compiled for the CPU on the execution-model emulation of
// cuda_emulation.h. Registered as lfn2_emu::correlation / correlation_backward for CPU tensors: a test
// backend (`cuda_emulated`), built by lfn2_ros/ops/_build_emulated.py, optionally with AddressSanitizer.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <limits>

#include "cuda_emulation.h"
// The CUDA builtins above must precede the kernels.
#include "../correlation.h"
#include "../cuda/correlation_cuda_host.h"

namespace lfn2 {
namespace {

struct EmulatedRuntime {
  static constexpr const char* kName = "emulated CUDA";

  // NaN-filled rather than uninitialised, so that an output no kernel thread writes fails the comparisons.
  static at::Tensor new_output(at::IntArrayRef sizes, const at::TensorOptions& options) {
    return at::full(sizes, std::numeric_limits<double>::quiet_NaN(), options);
  }

  template <int kBound, typename... Params, typename... Args>
  static void launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem_bytes, Args&&... args) {
    emu::launch<kBound>(kernel, grid, block, smem_bytes, std::forward<Args>(args)...);
  }
};

at::Tensor correlation_emulated(const at::Tensor& f1, const at::Tensor& f2, const std::optional<at::Tensor>& flow,
                                int64_t max_displacement, int64_t stride, int64_t dilation_patch,
                                double negative_slope) {
  TORCH_CHECK(f1.device().is_cpu(), "lfn2_emu::correlation runs the CUDA kernels on CPU tensors, got ",
              f1.device());
  return cuda_kernels::correlation_forward<EmulatedRuntime>(f1, f2, flow, max_displacement, stride,
                                                            dilation_patch, negative_slope);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> correlation_backward_emulated(
    const at::Tensor& grad_out, const at::Tensor& out, const at::Tensor& f1, const at::Tensor& f2,
    const std::optional<at::Tensor>& flow, int64_t max_displacement, int64_t stride, int64_t dilation_patch,
    double negative_slope) {
  TORCH_CHECK(f1.device().is_cpu(), "lfn2_emu::correlation_backward runs the CUDA kernels on CPU tensors, got ",
              f1.device());
  return cuda_kernels::correlation_backward<EmulatedRuntime>(grad_out, out, f1, f2, flow, max_displacement,
                                                             stride, dilation_patch, negative_slope);
}

}  // namespace
}  // namespace lfn2

TORCH_LIBRARY(lfn2_emu, m) {
  m.def(lfn2::kCorrelationSchema);
  m.def(lfn2::kCorrelationBackwardSchema);
}

TORCH_LIBRARY_IMPL(lfn2_emu, CPU, m) {
  m.impl("correlation", &lfn2::correlation_emulated);
  m.impl("correlation_backward", &lfn2::correlation_backward_emulated);
}
