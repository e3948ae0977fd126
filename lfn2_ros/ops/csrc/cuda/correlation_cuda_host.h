// Copyright 2026 The lfn2_ros Authors
// SPDX-License-Identifier: Apache-2.0
//
// Host side of the CUDA kernels: tiling plan, argument checks and the launch sequence of the forward and the
// backward, shared by the nvcc build (correlation_kernel.cu) and the CPU-emulated build
// (../emu/correlation_emulated.cpp). The two differ only in their `Runtime`:
//   Runtime::kName                       a name for error messages;
//   Runtime::new_output(sizes, options)  the forward's output (the emulation fills it with NaN so that an
//                                        output a kernel leaves unwritten fails the tests);
//   Runtime::launch<kBound>(kernel, grid, block, smem_bytes, args...)
//                                        a checked kernel launch; kBound = the kernel's __launch_bounds__.
// Dtypes: float64, float32, float16 and bfloat16, accumulated in at::opmath_type (fp32 for the half types).
// A float16 output saturates to +-inf where the leaky-ReLU'd channel sum exceeds the half range (65504).
#pragma once

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <ATen/OpMathType.h>

#include <algorithm>
#include <climits>
#include <tuple>

#include "../correlation.h"
#include "correlation_cuda_kernels.h"

namespace lfn2 {
namespace cuda_kernels {

// Tile width and channel chunk that fit kSmemBudget; TORCH_CHECKs the limits the kernels rely on.
inline Geometry make_geometry(const at::Tensor& f1, int64_t md, int64_t stride, int64_t dil, bool flow,
                              size_t acc_size, bool grad_f1, const char* name) {
  Geometry g{problem_shape_of<int>(f1, md, stride, dil)};
  TORCH_CHECK(md <= 16 && stride <= 64 && dil <= 64, "lfn2::correlation (", name, "): max_displacement <= 16, "
              "stride <= 64 and dilation_patch <= 64 are supported, got ", md, ", ", stride, ", ", dil);
  TORCH_CHECK(g.H * g.W < INT_MAX, "lfn2::correlation (", name, "): H * W must be < 2^31, got ", g.H, " x ", g.W);
  TORCH_CHECK(g.H <= 65535 && g.N <= 65535, "lfn2::correlation (", name, "): N and H must be <= 65535 (grid "
              "y and z), got ", g.N, " and ", g.H);
  g.flow = flow;
  const int P2 = g.P * g.P;
  g.TW = static_cast<int>(std::max<int64_t>(
      1, std::min<int64_t>({16, static_cast<int64_t>(kMaxPairsPerThread * kThreads / P2), g.oW})));
  // The forward keeps kMaxPairsPerThread (pixel, displacement) accumulators per thread; pairs beyond them
  // would leave outputs unwritten.
  TORCH_CHECK(static_cast<int64_t>(P2) * g.TW <= static_cast<int64_t>(kMaxPairsPerThread) * kThreads,
              "lfn2::correlation (", name, "): ", P2, " x ", g.TW, " (displacement, pixel) pairs per block exceed ",
              kMaxPairsPerThread, " x ", kThreads);
  for (;;) {
    g.RW = (g.TW - 1) * g.stride + 2 * g.md * g.dil + 1;
    g.CC = 1;
    if (tile_layout(g, grad_f1, acc_size).total <= kSmemBudget) {
      for (;;) {
        Geometry h = g;
        h.CC = g.CC * 2;
        if (g.CC >= 32 || g.CC >= g.C || tile_layout(h, grad_f1, acc_size).total > kSmemBudget) break;
        g.CC = h.CC;
      }
      return g;
    }
    TORCH_CHECK(g.TW > 1, "lfn2::correlation (", name, "): search window too large for shared memory");
    g.TW /= 2;
  }
}

inline dim3 tile_grid(const Geometry& g) {
  return dim3(static_cast<unsigned>((g.oW + g.TW - 1) / g.TW), static_cast<unsigned>(g.oH),
              static_cast<unsigned>(g.N));
}

template <typename Runtime>
at::Tensor correlation_forward(const at::Tensor& f1_in, const at::Tensor& f2_in,
                               const std::optional<at::Tensor>& flow_in, int64_t max_displacement, int64_t stride,
                               int64_t dilation_patch, double negative_slope) {
  check_correlation_args(f1_in, f2_in, flow_in, max_displacement, stride, dilation_patch, negative_slope);
  const at::Tensor f1 = f1_in.contiguous(), f2 = f2_in.contiguous();
  const at::Tensor flow = flow_in.has_value() ? flow_in->contiguous() : at::Tensor();
  const int64_t P = 2 * max_displacement + 1;
  at::Tensor out = Runtime::new_output({f1.size(0), P * P, index::out_size(f1.size(2), stride),
                                        index::out_size(f1.size(3), stride)}, f1.options());
  if (out.numel() == 0) return out;
  if (f1.size(1) == 0) return out.zero_();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, f1.scalar_type(), "lfn2_correlation_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const Geometry g = make_geometry(f1, max_displacement, stride, dilation_patch, flow.defined(), sizeof(acc_t),
                                     /*grad_f1=*/false, Runtime::kName);
    Runtime::template launch<kThreads>(
        forward_kernel<scalar_t, acc_t>, tile_grid(g), dim3(kThreads), tile_layout(g, false, sizeof(acc_t)).total,
        g, f1.data_ptr<scalar_t>(), f2.data_ptr<scalar_t>(), flow.defined() ? flow.data_ptr<scalar_t>() : nullptr,
        static_cast<acc_t>(negative_slope), out.data_ptr<scalar_t>());
  });
  return out;
}

template <typename Runtime>
std::tuple<at::Tensor, at::Tensor, at::Tensor> correlation_backward(
    const at::Tensor& grad_out, const at::Tensor& out, const at::Tensor& f1_in, const at::Tensor& f2_in,
    const std::optional<at::Tensor>& flow_in, int64_t max_displacement, int64_t stride, int64_t dilation_patch,
    double negative_slope) {
  check_correlation_args(f1_in, f2_in, flow_in, max_displacement, stride, dilation_patch, negative_slope);
  check_correlation_grad(grad_out, out, f1_in, max_displacement, stride);
  const at::Tensor f1 = f1_in.contiguous(), f2 = f2_in.contiguous();
  const at::Tensor flow = flow_in.has_value() ? flow_in->contiguous() : at::Tensor();
  const at::ScalarType acc_type = f1.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  const auto acc_opts = f1.options().dtype(acc_type);
  at::Tensor gf1 = at::zeros(f1.sizes(), acc_opts);
  at::Tensor gf2 = at::zeros(f2.sizes(), acc_opts);
  at::Tensor gflow = flow.defined() ? at::zeros(flow.sizes(), acc_opts) : at::empty({0}, acc_opts);
  if (grad_out.numel() > 0 && f1.size(1) > 0) {
    if (flow.defined()) {
      // grad_w_kernel scatters grad f2 through the bilinear taps with atomicAdd: the summation order varies.
      at::globalContext().alertNotDeterministic("lfn2::correlation_backward with a flow (CUDA kernels)");
    }
    const at::Tensor go = grad_out.to(acc_type);
    const at::Tensor gp = at::where(out.gt(0), go, go * negative_slope).contiguous();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, f1.scalar_type(), "lfn2_correlation_backward_cuda",
                                    [&] {
      using acc_t = at::opmath_type<scalar_t>;
      const scalar_t* flp = flow.defined() ? flow.data_ptr<scalar_t>() : nullptr;
      const Geometry g = make_geometry(f1, max_displacement, stride, dilation_patch, flow.defined(),
                                       sizeof(acc_t), /*grad_f1=*/true, Runtime::kName);
      Runtime::template launch<kThreads>(grad_f1_kernel<scalar_t, acc_t>, tile_grid(g), dim3(kThreads),
                                         tile_layout(g, true, sizeof(acc_t)).total, g, gp.data_ptr<acc_t>(),
                                         f2.data_ptr<scalar_t>(), flp, gf1.data_ptr<acc_t>());
      const int64_t total = g.N * g.H * g.W;
      const unsigned blocks = static_cast<unsigned>(std::min<int64_t>((total + kThreads - 1) / kThreads, 65535));
      Runtime::template launch<kThreads>(grad_w_kernel<scalar_t, acc_t>, dim3(blocks), dim3(kThreads), 0, g,
                                         gp.data_ptr<acc_t>(), f1.data_ptr<scalar_t>(), f2.data_ptr<scalar_t>(),
                                         flp, gf2.data_ptr<acc_t>(), flow.defined() ? gflow.data_ptr<acc_t>()
                                                                                     : nullptr);
    });
  }
  return {gf1.to(f1.scalar_type()), gf2.to(f1.scalar_type()), gflow.to(f1.scalar_type())};
}

}  // namespace cuda_kernels
}  // namespace lfn2
