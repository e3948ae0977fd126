// Copyright 2026 The lfn2_ros Authors
// SPDX-License-Identifier: Apache-2.0
//
// Forward CPU kernel of lfn2::correlation for NCHW features, vectorised over output pixels of a row.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace lfn2 {
namespace cpu {

// True when correlation_rows_forward handles the configuration: the displacement grid is the stride grid
// (dilation_patch == stride, as at every LiteFlowNet2 level, or a single displacement) and f1 is not
// channels-last (those inputs go to the channels-last kernel, for which they are free to read).
bool rows_supported(const at::Tensor& f1, int64_t max_displacement, int64_t stride, int64_t dilation_patch);

// Fused (flow given) or plain correlation + leaky ReLU. f1, f2: contiguous (N, C, H, W) float or double;
// flow: nullptr or contiguous (N, 2, H, W) of the same dtype, level px; out: contiguous
// (N, P*P, ceil(H/s), ceil(W/s)) of the same dtype, every element written.
void correlation_rows_forward(const at::Tensor& f1, const at::Tensor& f2, const at::Tensor* flow,
                              int64_t max_displacement, int64_t stride, double negative_slope, at::Tensor& out);

}  // namespace cpu
}  // namespace lfn2
