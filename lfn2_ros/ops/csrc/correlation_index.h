// Copyright 2026 The lfn2_ros Authors
// SPDX-License-Identifier: Apache-2.0
//
// Index and bilinear-tap arithmetic of the fused warp + correlation, shared by the CPU and CUDA kernels so
// that the CPU tests exercise the same maths the GPU runs (docs/extension.md#shared-index-maths).
//
// Semantics (docs/extension.md#definition, docs/extension.md#fused-warp):
//   out[n, ph*P + pw, oh, ow] = lrelu(sum_c f1[n, c, y, x] * W[n, c, qy, qx]),
//   y = oh*stride, x = ow*stride, qy = y + (ph - md)*dil, qx = x + (pw - md)*dil, P = 2*md + 1;
//   q outside the image contributes 0 (mmcv zero padding).
//   W = f2 without a flow, else f2 warped as mmflow's Warp does: sampled at q + flow(q) with
//   grid_sample(bilinear, zeros, align_corners=True) and zeroed where the ones-mask is <= 0.9999.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__) || defined(__HIPCC__)
#define LFN2_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define LFN2_HOST_DEVICE inline
#endif

namespace lfn2 {
namespace index {

// Output extent of a strided correlation: ceil(size / stride) (mmcv with kernel 1, pad 0).
LFN2_HOST_DEVICE int64_t out_size(int64_t size, int64_t stride) { return (size + stride - 1) / stride; }

// Displacement of patch index i in [0, P): (i - md) * dilation_patch, in level pixels.
LFN2_HOST_DEVICE int64_t displacement(int64_t i, int64_t max_displacement, int64_t dilation_patch) {
  return (i - max_displacement) * dilation_patch;
}

LFN2_HOST_DEVICE bool inside(int64_t v, int64_t size) { return v >= 0 && v < size; }

// CorrBlock's LeakyReLU as torch computes it: v > 0 ? v : v * slope (slope >= 0, so the backward reads the
// sign of the pre-activation from the output).
template <typename T>
LFN2_HOST_DEVICE T leaky(T v, T slope) {
  return v > T(0) ? v : v * slope;
}

// The shape of one call, which every kernel of both backends derives from f1's sizes and the op's arguments
// (docs/extension.md#shared-index-maths). `Small` is the type of the per-displacement quantities: int64_t in
// the CPU kernels; int in the CUDA kernels, whose inner loops divide by P, and 32-bit integer division is
// several times cheaper than 64-bit on a GPU (the host checks md, stride and dil against small limits).
template <typename Small>
struct ProblemShape {
  int64_t N, C, H, W;  // f1's sizes (N, C, H, W)
  int64_t oH, oW;      // output rows and columns: out_size(H, stride), out_size(W, stride)
  Small md, P;         // max displacement and P = 2 * md + 1 displacements per axis
  Small stride, dil;   // output stride and patch dilation, level px
};

template <typename Small>
LFN2_HOST_DEVICE ProblemShape<Small> problem_shape(int64_t N, int64_t C, int64_t H, int64_t W,
                                                   int64_t max_displacement, int64_t stride,
                                                   int64_t dilation_patch) {
  ProblemShape<Small> s;
  s.N = N;
  s.C = C;
  s.H = H;
  s.W = W;
  s.oH = out_size(H, stride);
  s.oW = out_size(W, stride);
  s.md = static_cast<Small>(max_displacement);
  s.P = static_cast<Small>(2 * max_displacement + 1);
  s.stride = static_cast<Small>(stride);
  s.dil = static_cast<Small>(dilation_patch);
  return s;
}

// Rounded arithmetic. On the device, nvcc contracts a*b+c into an FMA by default, which would round the
// grid_sample weights and mask differently from PyTorch's kernels; the _rn intrinsics are never contracted.
// Host code is compiled with -ffp-contract=off (see _build.py) for the same reason.
LFN2_HOST_DEVICE float mul_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
LFN2_HOST_DEVICE double mul_rn(double a, double b) {
#ifdef __CUDA_ARCH__
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}
LFN2_HOST_DEVICE float add_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
LFN2_HOST_DEVICE double add_rn(double a, double b) {
#ifdef __CUDA_ARCH__
  return __dadd_rn(a, b);
#else
  return a + b;
#endif
}
LFN2_HOST_DEVICE float floor_t(float v) { return ::floorf(v); }
LFN2_HOST_DEVICE double floor_t(double v) { return ::floor(v); }

// Which PyTorch grid_sample kernel's unnormalisation source_coordinate reproduces. The CPU kernel is tested
// against torch's CPU reference and uses kCpu; the CUDA kernels (correlation_cuda_kernels.h) use kCuda in
// both of their builds (nvcc, and the CPU emulation the tests run), so the tests exercise the GPU's arithmetic.
enum class Unnormalize { kCpu, kCuda };

// Source coordinate (in pixels) that grid_sample(align_corners=True) samples for output position `pos`
// displaced by `flow` level pixels, reproducing the float arithmetic of mmflow's Warp
// (grid = (pos + flow) * 2 / max(size - 1, 1) - 1) followed by PyTorch's unnormalisation
// (CPU vectorised kernel: (g + 1) * ((size - 1) / 2); CUDA: ((g + 1) / 2) * (size - 1), and torch's CUDA
// division by a scalar multiplies by its reciprocal). Mathematically this is pos + flow (a constant 0 on a
// 1-px side); the rounding matters only for samples within float epsilon of the 0.9999 mask threshold.
template <Unnormalize kind, typename T>
LFN2_HOST_DEVICE T source_coordinate(int64_t pos, T flow, int64_t size) {
  const T den = static_cast<T>(size > 1 ? size - 1 : 1);
  const T p = mul_rn(add_rn(static_cast<T>(pos), flow), T(2));
  if (kind == Unnormalize::kCuda) {
    const T g = add_rn(mul_rn(p, T(1) / den), T(-1));
    return mul_rn(add_rn(g, T(1)) / T(2), static_cast<T>(size - 1));
  }
  const T g = add_rn(p / den, T(-1));
  return mul_rn(add_rn(g, T(1)), static_cast<T>(size - 1) / T(2));
}

// The four bilinear taps of one warped sample. Tap order nw, ne, sw, se (north = smaller y) as in
// grid_sample. `in` has bit t set when tap t lies inside the image; taps outside read as 0.
template <typename T>
struct Taps {
  int64_t x0 = 0, y0 = 0;  // north-west tap
  T wx = 0, wy = 0;        // fractional offsets from the nw tap: ix - x0, iy - y0
  T w[4] = {0, 0, 0, 0};   // bilinear weights nw, ne, sw, se
  unsigned in = 0;         // in-image bits
  bool valid = false;      // mmflow mask: sum of in-image weights > 0.9999

  LFN2_HOST_DEVICE bool tap_in(int t) const { return (in >> t) & 1u; }
  LFN2_HOST_DEVICE int64_t tap_x(int t) const { return x0 + (t & 1); }
  LFN2_HOST_DEVICE int64_t tap_y(int t) const { return y0 + (t >> 1); }
};

// Taps of the sample of f2 taken for position (qx, qy) with flow (fx, fy) level px, on an H x W image.
template <typename T, Unnormalize kind = Unnormalize::kCpu>
LFN2_HOST_DEVICE Taps<T> bilinear_taps(int64_t qx, int64_t qy, T fx, T fy, int64_t H, int64_t W) {
  Taps<T> t;
  const T ix = source_coordinate<kind>(qx, fx, W);
  const T iy = source_coordinate<kind>(qy, fy, H);
  // Every tap is outside (mask 0) unless -1 < ix < W and -1 < iy < H; also rejects NaN and keeps the
  // integer conversion below in range.
  if (!(ix > T(-1) && ix < static_cast<T>(W) && iy > T(-1) && iy < static_cast<T>(H))) return t;
  const T fx0 = floor_t(ix);
  const T fy0 = floor_t(iy);
  t.x0 = static_cast<int64_t>(fx0);
  t.y0 = static_cast<int64_t>(fy0);
  const T w = ix - fx0;  // exact
  const T n = iy - fy0;
  const T e = T(1) - w;
  const T s = T(1) - n;
  t.wx = w;
  t.wy = n;
  t.w[0] = mul_rn(s, e);
  t.w[1] = mul_rn(s, w);
  t.w[2] = mul_rn(n, e);
  t.w[3] = mul_rn(n, w);
  // grid_sample of a ones tensor: in-image weights summed in tap order.
  T mask = T(0);
  for (int k = 0; k < 4; ++k) {
    if (inside(t.tap_x(k), W) && inside(t.tap_y(k), H)) {
      t.in |= 1u << k;
      mask = add_rn(mask, t.w[k]);
    }
  }
  t.valid = mask > T(0.9999);
  return t;
}

// d(source coordinate)/d(flow) along an axis of `size` pixels: 1, except on a 1-px side, where
// grid_sample's unnormalisation multiplies by size - 1 = 0 and the coordinate is the constant 0.
LFN2_HOST_DEVICE int coordinate_per_flow(int64_t size) { return size > 1 ? 1 : 0; }

// Derivatives of a sample value V = sum_t w_t v_t with respect to the flow (fx, fy) of the sample, given the
// four tap values (0 outside): dV/dix = (1 - wy)(v_ne - v_nw) + wy (v_se - v_sw),
// dV/diy = (1 - wx)(v_sw - v_nw) + wx (v_se - v_ne), times d(ix)/d(fx) and d(iy)/d(fy) (coordinate_per_flow).
template <typename T, typename A>
LFN2_HOST_DEVICE void sample_grad(const Taps<T>& t, int64_t H, int64_t W, A v_nw, A v_ne, A v_sw, A v_se,
                                  A* d_fx, A* d_fy) {
  const A wx = static_cast<A>(t.wx);
  const A wy = static_cast<A>(t.wy);
  *d_fx = coordinate_per_flow(W) ? (A(1) - wy) * (v_ne - v_nw) + wy * (v_se - v_sw) : A(0);
  *d_fy = coordinate_per_flow(H) ? (A(1) - wx) * (v_sw - v_nw) + wx * (v_se - v_ne) : A(0);
}

}  // namespace index
}  // namespace lfn2
