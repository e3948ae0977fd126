// Copyright 2026 The lfn2_ros Authors
// SPDX-License-Identifier: Apache-2.0
//
// Schemas and argument checks shared by the schema file, the CPU/CUDA kernels of lfn2::correlation and the
// emulated CUDA build.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>
#include <c10/util/Exception.h>
#include <c10/util/Optional.h>

#include <cstdint>
#include <vector>

#include "correlation_index.h"

namespace lfn2 {

// Schemas of the ops (registered by correlation.cpp as lfn2::*, by the emulated CUDA build as lfn2_emu::*).
// f1, f2: (N, C, H, W); flow: optional (N, 2, H, W) level px; returns (N, P*P, ceil(H/s), ceil(W/s)),
// P = 2 * max_displacement + 1, leaky-ReLU'd (see correlation_index.h for the exact semantics).
inline constexpr const char* kCorrelationSchema =
    "correlation(Tensor f1, Tensor f2, Tensor? flow, int max_displacement, int stride, int dilation_patch, "
    "float negative_slope) -> Tensor";
// Returns (grad_f1, grad_f2, grad_flow); grad_flow has shape (0,) when flow is None.
inline constexpr const char* kCorrelationBackwardSchema =
    "correlation_backward(Tensor grad_out, Tensor out, Tensor f1, Tensor f2, Tensor? flow, "
    "int max_displacement, int stride, int dilation_patch, float negative_slope) -> (Tensor, Tensor, Tensor)";

// Validates the arguments of lfn2::correlation / correlation_backward (caller errors: TORCH_CHECK with the
// expected shapes).
inline void check_correlation_args(
    const at::Tensor& f1, const at::Tensor& f2, const std::optional<at::Tensor>& flow,
    int64_t max_displacement, int64_t stride, int64_t dilation_patch, double negative_slope) {
  TORCH_CHECK(f1.dim() == 4, "lfn2::correlation: f1 must be (N, C, H, W), got ", f1.sizes());
  TORCH_CHECK(f2.sizes() == f1.sizes(), "lfn2::correlation: f2 must have f1's shape ", f1.sizes(), ", got ",
              f2.sizes());
  TORCH_CHECK(f2.scalar_type() == f1.scalar_type() && f2.device() == f1.device(),
              "lfn2::correlation: f1 and f2 must share dtype and device, got ", f1.scalar_type(), "/",
              f1.device(), " and ", f2.scalar_type(), "/", f2.device());
  TORCH_CHECK(at::isFloatingType(f1.scalar_type()), "lfn2::correlation: expected floating-point features, got ",
              f1.scalar_type());
  if (flow.has_value()) {
    const at::Tensor& fl = *flow;
    TORCH_CHECK(fl.dim() == 4 && fl.size(0) == f1.size(0) && fl.size(1) == 2 && fl.size(2) == f1.size(2) &&
                    fl.size(3) == f1.size(3),
                "lfn2::correlation: flow must be (N, 2, H, W) = (", f1.size(0), ", 2, ", f1.size(2), ", ",
                f1.size(3), "), got ", fl.sizes());
    TORCH_CHECK(fl.scalar_type() == f1.scalar_type() && fl.device() == f1.device(),
                "lfn2::correlation: flow must have the features' dtype and device ", f1.scalar_type(), "/",
                f1.device(), ", got ", fl.scalar_type(), "/", fl.device());
  }
  TORCH_CHECK(max_displacement >= 0, "lfn2::correlation: max_displacement must be >= 0, got ", max_displacement);
  TORCH_CHECK(stride >= 1, "lfn2::correlation: stride must be >= 1, got ", stride);
  TORCH_CHECK(dilation_patch >= 1, "lfn2::correlation: dilation_patch must be >= 1, got ", dilation_patch);
  TORCH_CHECK(negative_slope >= 0, "lfn2::correlation: negative_slope must be >= 0 (the backward reads the "
              "sign of the output), got ", negative_slope);
}

// The problem shape of a call with features f1 (N, C, H, W) (index::ProblemShape, shared with the device).
template <typename Small>
index::ProblemShape<Small> problem_shape_of(const at::Tensor& f1, int64_t max_displacement, int64_t stride,
                                            int64_t dilation_patch) {
  return index::problem_shape<Small>(f1.size(0), f1.size(1), f1.size(2), f1.size(3), max_displacement, stride,
                                     dilation_patch);
}

inline void check_correlation_grad(
    const at::Tensor& grad_out, const at::Tensor& out, const at::Tensor& f1, int64_t max_displacement,
    int64_t stride) {
  const int64_t P = 2 * max_displacement + 1;
  const std::vector<int64_t> expected = {f1.size(0), P * P, index::out_size(f1.size(2), stride),
                                         index::out_size(f1.size(3), stride)};
  TORCH_CHECK(grad_out.sizes() == at::IntArrayRef(expected) && out.sizes() == at::IntArrayRef(expected),
              "lfn2::correlation_backward: grad_out and out must be ", at::IntArrayRef(expected), ", got ",
              grad_out.sizes(), " and ", out.sizes());
  TORCH_CHECK(grad_out.device() == f1.device() && out.device() == f1.device(),
              "lfn2::correlation_backward: grad_out and out must be on ", f1.device());
}

}  // namespace lfn2
