// Copyright 2026 The lfn2_ros Authors
// SPDX-License-Identifier: Apache-2.0
//
// CUDA registration of lfn2::correlation and its backward. The kernels (correlation_cuda_kernels.h) and the
// launch sequence (correlation_cuda_host.h) are shared with the CPU-emulated build that the tests run
// (../emu/correlation_emulated.cpp); this file adds only the device guard, the stream and the <<<>>> launch.
#include <ATen/ATen.h>
// c10/cuda only (not ATen/cuda/CUDAContext.h, which pulls cuBLAS/cuSPARSE headers a minimal toolkit lacks).
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "../correlation.h"
#include "correlation_cuda_host.h"

namespace lfn2 {
namespace {

struct CudaRuntime {
  static constexpr const char* kName = "CUDA";

  static at::Tensor new_output(at::IntArrayRef sizes, const at::TensorOptions& options) {
    return at::empty(sizes, options);
  }

  // kBound is the kernel's __launch_bounds__, which nvcc enforces itself (a larger block fails to launch).
  template <int kBound, typename... Params, typename... Args>
  static void launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem_bytes, Args&&... args) {
    TORCH_CHECK(static_cast<int64_t>(block.x) * block.y * block.z <= kBound, "lfn2::correlation (CUDA): block of ",
                block.x * block.y * block.z, " threads exceeds the kernel's launch bound ", kBound);
    kernel<<<grid, block, smem_bytes, c10::cuda::getCurrentCUDAStream()>>>(std::forward<Args>(args)...);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
};

at::Tensor correlation_cuda(const at::Tensor& f1, const at::Tensor& f2, const std::optional<at::Tensor>& flow,
                            int64_t max_displacement, int64_t stride, int64_t dilation_patch,
                            double negative_slope) {
  TORCH_INTERNAL_ASSERT(f1.device().is_cuda());
  const c10::cuda::CUDAGuard device_guard(f1.device());
  return cuda_kernels::correlation_forward<CudaRuntime>(f1, f2, flow, max_displacement, stride, dilation_patch,
                                                        negative_slope);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> correlation_backward_cuda(
    const at::Tensor& grad_out, const at::Tensor& out, const at::Tensor& f1, const at::Tensor& f2,
    const std::optional<at::Tensor>& flow, int64_t max_displacement, int64_t stride, int64_t dilation_patch,
    double negative_slope) {
  TORCH_INTERNAL_ASSERT(f1.device().is_cuda());
  const c10::cuda::CUDAGuard device_guard(f1.device());
  return cuda_kernels::correlation_backward<CudaRuntime>(grad_out, out, f1, f2, flow, max_displacement, stride,
                                                         dilation_patch, negative_slope);
}

}  // namespace

TORCH_LIBRARY_IMPL(lfn2, CUDA, m) {
  m.impl("correlation", &correlation_cuda);
  m.impl("correlation_backward", &correlation_backward_cuda);
}

}  // namespace lfn2
