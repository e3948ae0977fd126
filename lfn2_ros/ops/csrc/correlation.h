// Copyright 2026 The lfn2_ros Authors
// SPDX-License-Identifier: Apache-2.0
//
// Host-side declarations shared by the schema file and the CPU/CUDA kernels of lfn2::correlation.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Optional.h>

#include <cstdint>

namespace lfn2 {

// Validates the arguments of lfn2::correlation / correlation_backward (caller errors: TORCH_CHECK with the
// expected shapes). Defined in correlation.cpp.
void check_correlation_args(
    const at::Tensor& f1, const at::Tensor& f2, const std::optional<at::Tensor>& flow,
    int64_t max_displacement, int64_t stride, int64_t dilation_patch, double negative_slope);

// Validates grad_out / out of the backward against the forward arguments.
void check_correlation_grad(
    const at::Tensor& grad_out, const at::Tensor& out, const at::Tensor& f1, int64_t max_displacement,
    int64_t stride);

}  // namespace lfn2
