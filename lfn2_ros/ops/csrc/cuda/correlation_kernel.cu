// Copyright 2026 The lfn2_ros Authors
// SPDX-License-Identifier: Apache-2.0
//
// CUDA kernels of lfn2::correlation (fused warp + local correlation + leaky ReLU) and its backward.
//
// Forward and grad-f1 use the same tiling: a block owns TW consecutive output pixels of one output row. Per
// chunk of CC channels it stages in shared memory the f1 values of its pixels and the (warped) f2 window those
// pixels read: P rows x ((TW - 1) * stride + 2 * md * dil + 1) columns. With a flow, the bilinear taps of the
// window are computed once per block (correlation_index.h, the same maths as the CPU kernel) and the warp is
// evaluated once per window pixel and channel, not once per displacement. Accumulation is in
// at::opmath_type (fp32 for half/bf16). The gradient of the warped f2 is gathered per pixel q; with a flow it
// is scattered to f2 through the bilinear taps with atomics (so that gradient is not bit-deterministic).
#include <ATen/ATen.h>
#include <ATen/OpMathType.h>
// c10/cuda only (not ATen/cuda/CUDAContext.h, which pulls cuBLAS/cuSPARSE headers a minimal toolkit lacks).
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>
#include <climits>

#include "../correlation.h"
#include "../correlation_index.h"

namespace lfn2 {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxPairsPerThread = 8;
constexpr size_t kSmemBudget = 44 * 1024;  // below the 48 KiB available without opt-in

struct Geometry {
  int64_t N, C, H, W, oH, oW;
  int md, P, stride, dil;
  int TW;      // output pixels per block
  int RW;      // window columns: (TW - 1) * stride + 2 * md * dil + 1
  int CC;      // channels per shared-memory chunk
  bool flow;
};

// Shared-memory layout of the tile kernels (units: bytes). `lead` holds f1 (forward) or gp (grad f1).
template <typename acc_t>
struct TileSmem {
  size_t taps_w, taps_off, lead, window, total;
  __host__ __device__ TileSmem(const Geometry& g, int lead_elems) {
    const size_t win = static_cast<size_t>(g.P) * g.RW;
    taps_w = 0;
    taps_off = taps_w + (g.flow ? win * 4 * sizeof(acc_t) : 0);
    lead = taps_off + (g.flow ? win * 4 * sizeof(int) : 0);
    lead = (lead + 15) / 16 * 16;
    window = lead + (static_cast<size_t>(lead_elems) * sizeof(acc_t) + 15) / 16 * 16;
    total = window + static_cast<size_t>(g.CC) * win * sizeof(acc_t);
  }
};

extern __shared__ __align__(16) unsigned char lfn2_smem[];

template <typename T>
__device__ __forceinline__ T leaky(T v, T slope) {
  return v > T(0) ? v : v * slope;
}

// Bilinear taps of the window of output row `oh`, tile starting at output column ow0: per window pixel four
// (plane offset or -1, weight); a masked or outside sample has all offsets -1, i.e. reads 0.
template <typename scalar_t, typename acc_t>
__device__ void window_taps(const Geometry& g, const scalar_t* __restrict__ flow, int64_t n, int64_t oh,
                            int64_t ow0, acc_t* tw, int* toff) {
  const int win = g.P * g.RW;
  const int64_t y = oh * g.stride, xs = ow0 * g.stride - static_cast<int64_t>(g.md) * g.dil;
  const int64_t plane = g.H * g.W;
  for (int idx = threadIdx.x; idx < win; idx += blockDim.x) {
    const int r = idx / g.RW, col = idx % g.RW;
    const int64_t qy = y + index::displacement(r, g.md, g.dil), qx = xs + col;
    for (int k = 0; k < 4; ++k) {
      toff[idx * 4 + k] = -1;
      tw[idx * 4 + k] = acc_t(0);
    }
    if (!index::inside(qy, g.H) || !index::inside(qx, g.W)) continue;
    const scalar_t* fl = flow + n * 2 * plane + qy * g.W + qx;
    const index::Taps<acc_t> t = index::bilinear_taps<acc_t>(
        qx, qy, static_cast<acc_t>(fl[0]), static_cast<acc_t>(fl[plane]), g.H, g.W);
    if (!t.valid) continue;
    for (int k = 0; k < 4; ++k) {
      if (t.tap_in(k)) {
        toff[idx * 4 + k] = static_cast<int>(t.tap_y(k) * g.W + t.tap_x(k));
        tw[idx * 4 + k] = t.w[k];
      }
    }
  }
}

// Stages channels [c0, c0 + cc) of the (warped) f2 window: win_s[c][r][col].
template <typename scalar_t, typename acc_t>
__device__ void load_window(const Geometry& g, const scalar_t* __restrict__ f2, int64_t n, int64_t oh,
                            int64_t ow0, int64_t c0, int cc, const acc_t* tw, const int* toff, acc_t* win_s) {
  const int win = g.P * g.RW;
  const int64_t y = oh * g.stride, xs = ow0 * g.stride - static_cast<int64_t>(g.md) * g.dil;
  const int64_t plane = g.H * g.W;
  for (int idx = threadIdx.x; idx < cc * win; idx += blockDim.x) {
    const int c = idx / win, p = idx % win;
    const scalar_t* src = f2 + (n * g.C + c0 + c) * plane;
    acc_t v = acc_t(0);
    if (g.flow) {
      // grid_sample's order: ((nw + ne) + sw) + se.
      for (int k = 0; k < 4; ++k) {
        const int off = toff[p * 4 + k];
        if (off >= 0) v = index::add_rn(v, index::mul_rn(static_cast<acc_t>(src[off]), tw[p * 4 + k]));
      }
    } else {
      const int r = p / g.RW, col = p % g.RW;
      const int64_t qy = y + index::displacement(r, g.md, g.dil), qx = xs + col;
      if (index::inside(qy, g.H) && index::inside(qx, g.W)) v = static_cast<acc_t>(src[qy * g.W + qx]);
    }
    win_s[idx] = v;
  }
}

// grid (ceil(oW / TW), oH, N), kThreads threads. Pair m of the block = (displacement k, tile pixel t), t fastest.
template <typename scalar_t, typename acc_t>
__global__ void __launch_bounds__(kThreads) forward_kernel(
    Geometry g, const scalar_t* __restrict__ f1, const scalar_t* __restrict__ f2,
    const scalar_t* __restrict__ flow, acc_t slope, scalar_t* __restrict__ out) {
  const int64_t n = blockIdx.z, oh = blockIdx.y, ow0 = static_cast<int64_t>(blockIdx.x) * g.TW;
  const int P2 = g.P * g.P, pairs = P2 * g.TW, win = g.P * g.RW;
  const TileSmem<acc_t> lay(g, g.CC * g.TW);
  acc_t* tw = reinterpret_cast<acc_t*>(lfn2_smem + lay.taps_w);
  int* toff = reinterpret_cast<int*>(lfn2_smem + lay.taps_off);
  acc_t* f1_s = reinterpret_cast<acc_t*>(lfn2_smem + lay.lead);
  acc_t* win_s = reinterpret_cast<acc_t*>(lfn2_smem + lay.window);
  if (g.flow) window_taps<scalar_t, acc_t>(g, flow, n, oh, ow0, tw, toff);

  acc_t acc[kMaxPairsPerThread];
#pragma unroll
  for (int m = 0; m < kMaxPairsPerThread; ++m) acc[m] = acc_t(0);
  const int64_t plane = g.H * g.W, y = oh * g.stride;

  for (int64_t c0 = 0; c0 < g.C; c0 += g.CC) {
    const int cc = static_cast<int>(g.C - c0 < g.CC ? g.C - c0 : g.CC);
    __syncthreads();  // taps ready / previous chunk consumed
    for (int idx = threadIdx.x; idx < cc * g.TW; idx += blockDim.x) {
      const int c = idx / g.TW, t = idx % g.TW;
      const int64_t ow = ow0 + t;
      f1_s[idx] = ow < g.oW ? static_cast<acc_t>(f1[(n * g.C + c0 + c) * plane + y * g.W + ow * g.stride])
                            : acc_t(0);
    }
    load_window<scalar_t, acc_t>(g, f2, n, oh, ow0, c0, cc, tw, toff, win_s);
    __syncthreads();
#pragma unroll
    for (int m = 0; m < kMaxPairsPerThread; ++m) {
      const int pidx = threadIdx.x + m * kThreads;
      if (pidx >= pairs) break;
      const int t = pidx % g.TW, k = pidx / g.TW;
      const int j = k / g.P, i = k % g.P;
      const int col = t * g.stride + i * g.dil;
      acc_t s = acc[m];
      for (int c = 0; c < cc; ++c) s += f1_s[c * g.TW + t] * win_s[c * win + j * g.RW + col];
      acc[m] = s;
    }
  }
#pragma unroll
  for (int m = 0; m < kMaxPairsPerThread; ++m) {
    const int pidx = threadIdx.x + m * kThreads;
    if (pidx >= pairs) break;
    const int t = pidx % g.TW, k = pidx / g.TW;
    const int64_t ow = ow0 + t;
    if (ow < g.oW) out[((n * P2 + k) * g.oH + oh) * g.oW + ow] = static_cast<scalar_t>(leaky(acc[m], slope));
  }
}

// grad f1 at (y, x) = (oh*s, (ow0 + t)*s): sum_k gp[k] * W[q_k]. Same grid and tiling as the forward.
template <typename scalar_t, typename acc_t>
__global__ void __launch_bounds__(kThreads) grad_f1_kernel(
    Geometry g, const acc_t* __restrict__ gp, const scalar_t* __restrict__ f2, const scalar_t* __restrict__ flow,
    acc_t* __restrict__ gf1) {
  const int64_t n = blockIdx.z, oh = blockIdx.y, ow0 = static_cast<int64_t>(blockIdx.x) * g.TW;
  const int P2 = g.P * g.P, win = g.P * g.RW;
  const TileSmem<acc_t> lay(g, P2 * g.TW);
  acc_t* tw = reinterpret_cast<acc_t*>(lfn2_smem + lay.taps_w);
  int* toff = reinterpret_cast<int*>(lfn2_smem + lay.taps_off);
  acc_t* gp_s = reinterpret_cast<acc_t*>(lfn2_smem + lay.lead);
  acc_t* win_s = reinterpret_cast<acc_t*>(lfn2_smem + lay.window);
  if (g.flow) window_taps<scalar_t, acc_t>(g, flow, n, oh, ow0, tw, toff);
  for (int idx = threadIdx.x; idx < P2 * g.TW; idx += blockDim.x) {
    const int k = idx / g.TW, t = idx % g.TW;
    const int64_t ow = ow0 + t;
    gp_s[idx] = ow < g.oW ? gp[((n * P2 + k) * g.oH + oh) * g.oW + ow] : acc_t(0);
  }
  const int64_t plane = g.H * g.W, y = oh * g.stride;
  for (int64_t c0 = 0; c0 < g.C; c0 += g.CC) {
    const int cc = static_cast<int>(g.C - c0 < g.CC ? g.C - c0 : g.CC);
    __syncthreads();
    load_window<scalar_t, acc_t>(g, f2, n, oh, ow0, c0, cc, tw, toff, win_s);
    __syncthreads();
    for (int idx = threadIdx.x; idx < cc * g.TW; idx += blockDim.x) {
      const int c = idx / g.TW, t = idx % g.TW;
      const int64_t ow = ow0 + t;
      if (ow >= g.oW) continue;
      acc_t s = acc_t(0);
      for (int k = 0; k < P2; ++k) {
        const int j = k / g.P, i = k % g.P;
        s += gp_s[k * g.TW + t] * win_s[c * win + j * g.RW + t * g.stride + i * g.dil];
      }
      gf1[(n * g.C + c0 + c) * plane + y * g.W + ow * g.stride] = s;
    }
  }
}

// One thread per (n, qy, qx): gradient of W at q gathered over the outputs reading q, then either written as
// grad f2 (no flow) or scattered through the bilinear taps (atomics), plus the flow gradient at q.
template <typename scalar_t, typename acc_t>
__global__ void __launch_bounds__(kThreads) grad_w_kernel(
    Geometry g, const acc_t* __restrict__ gp, const scalar_t* __restrict__ f1, const scalar_t* __restrict__ f2,
    const scalar_t* __restrict__ flow, acc_t* __restrict__ gf2, acc_t* __restrict__ gflow) {
  const int64_t plane = g.H * g.W;
  const int P2 = g.P * g.P;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < g.N * plane;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t n = idx / plane, qy = (idx % plane) / g.W, qx = idx % g.W;
    index::Taps<acc_t> t;
    if (g.flow) {
      const scalar_t* fl = flow + n * 2 * plane + qy * g.W + qx;
      t = index::bilinear_taps<acc_t>(qx, qy, static_cast<acc_t>(fl[0]), static_cast<acc_t>(fl[plane]), g.H,
                                      g.W);
      if (!t.valid) continue;  // masked: W[q] = 0, no gradient
    }
    acc_t d_ix = 0, d_iy = 0;
    for (int64_t c = 0; c < g.C; ++c) {
      const scalar_t* f1c = f1 + (n * g.C + c) * plane;
      acc_t gw = 0;
      for (int k = 0; k < P2; ++k) {
        const int64_t y = qy - index::displacement(k / g.P, g.md, g.dil);
        const int64_t x = qx - index::displacement(k % g.P, g.md, g.dil);
        if (!index::inside(y, g.H) || !index::inside(x, g.W) || y % g.stride != 0 || x % g.stride != 0) continue;
        gw += gp[((n * P2 + k) * g.oH + y / g.stride) * g.oW + x / g.stride] *
              static_cast<acc_t>(f1c[y * g.W + x]);
      }
      acc_t* gf2c = gf2 + (n * g.C + c) * plane;
      if (!g.flow) {
        gf2c[qy * g.W + qx] = gw;
        continue;
      }
      const scalar_t* f2c = f2 + (n * g.C + c) * plane;
      acc_t v[4];
      for (int k = 0; k < 4; ++k) {
        const bool in = t.tap_in(k);
        const int64_t off = t.tap_y(k) * g.W + t.tap_x(k);
        v[k] = in ? static_cast<acc_t>(f2c[off]) : acc_t(0);
        if (in && gw != acc_t(0)) atomicAdd(gf2c + off, t.w[k] * gw);
      }
      acc_t dx, dy;
      index::sample_grad(t, v[0], v[1], v[2], v[3], &dx, &dy);
      d_ix += gw * dx;
      d_iy += gw * dy;
    }
    if (g.flow) {
      gflow[n * 2 * plane + qy * g.W + qx] = d_ix;
      gflow[n * 2 * plane + plane + qy * g.W + qx] = d_iy;
    }
  }
}

// Dynamic shared memory of the tile kernels; the same layout as TileSmem<acc_t>.
size_t smem_bytes(const Geometry& g, size_t acc_size, bool grad_f1) {
  const int lead = grad_f1 ? g.P * g.P * g.TW : g.CC * g.TW;
  const size_t win = static_cast<size_t>(g.P) * g.RW;
  size_t off = g.flow ? win * 4 * acc_size + win * 4 * sizeof(int) : 0;
  off = (off + 15) / 16 * 16;
  off += (static_cast<size_t>(lead) * acc_size + 15) / 16 * 16;
  return off + static_cast<size_t>(g.CC) * win * acc_size;
}

Geometry make_geometry(const at::Tensor& f1, int64_t md, int64_t stride, int64_t dil, bool flow,
                       size_t acc_size, bool grad_f1) {
  Geometry g;
  g.N = f1.size(0);
  g.C = f1.size(1);
  g.H = f1.size(2);
  g.W = f1.size(3);
  g.oH = index::out_size(g.H, stride);
  g.oW = index::out_size(g.W, stride);
  TORCH_CHECK(md <= 16 && stride <= 64 && dil <= 64, "lfn2::correlation (CUDA): max_displacement <= 16, "
              "stride <= 64 and dilation_patch <= 64 are supported, got ", md, ", ", stride, ", ", dil);
  TORCH_CHECK(g.H * g.W < INT_MAX, "lfn2::correlation (CUDA): H * W must be < 2^31, got ", g.H, " x ", g.W);
  g.md = static_cast<int>(md);
  g.P = 2 * g.md + 1;
  g.stride = static_cast<int>(stride);
  g.dil = static_cast<int>(dil);
  g.flow = flow;
  const int P2 = g.P * g.P;
  // The forward keeps up to kMaxPairsPerThread (pixel, displacement) accumulators per thread.
  g.TW = static_cast<int>(std::max<int64_t>(
      1, std::min<int64_t>({16, static_cast<int64_t>(kMaxPairsPerThread * kThreads / P2), g.oW})));
  for (;;) {
    g.RW = (g.TW - 1) * g.stride + 2 * g.md * g.dil + 1;
    g.CC = 1;
    if (smem_bytes(g, acc_size, grad_f1) <= kSmemBudget) {
      for (;;) {
        Geometry h = g;
        h.CC = g.CC * 2;
        if (g.CC >= 32 || g.CC >= g.C || smem_bytes(h, acc_size, grad_f1) > kSmemBudget) break;
        g.CC = h.CC;
      }
      return g;
    }
    TORCH_CHECK(g.TW > 1, "lfn2::correlation (CUDA): search window too large for shared memory");
    g.TW /= 2;
  }
}

dim3 tile_grid(const Geometry& g) {
  return dim3(static_cast<unsigned>((g.oW + g.TW - 1) / g.TW), static_cast<unsigned>(g.oH),
              static_cast<unsigned>(g.N));
}

at::Tensor correlation_cuda(const at::Tensor& f1_in, const at::Tensor& f2_in,
                            const std::optional<at::Tensor>& flow_in, int64_t max_displacement, int64_t stride,
                            int64_t dilation_patch, double negative_slope) {
  check_correlation_args(f1_in, f2_in, flow_in, max_displacement, stride, dilation_patch, negative_slope);
  TORCH_INTERNAL_ASSERT(f1_in.device().is_cuda());
  const c10::cuda::CUDAGuard device_guard(f1_in.device());
  const at::Tensor f1 = f1_in.contiguous(), f2 = f2_in.contiguous();
  const at::Tensor flow = flow_in.has_value() ? flow_in->contiguous() : at::Tensor();
  const int64_t P = 2 * max_displacement + 1;
  at::Tensor out = at::empty({f1.size(0), P * P, index::out_size(f1.size(2), stride),
                              index::out_size(f1.size(3), stride)}, f1.options());
  if (out.numel() == 0) return out;
  if (f1.size(1) == 0) return out.zero_();
  TORCH_CHECK(f1.size(2) <= 65535 && f1.size(0) <= 65535, "lfn2::correlation (CUDA): N and H must be <= 65535");
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, f1.scalar_type(), "lfn2_correlation_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const Geometry g = make_geometry(f1, max_displacement, stride, dilation_patch, flow.defined(),
                                     sizeof(acc_t), /*grad_f1=*/false);
    forward_kernel<scalar_t, acc_t><<<tile_grid(g), kThreads, smem_bytes(g, sizeof(acc_t), false), stream>>>(
        g, f1.data_ptr<scalar_t>(), f2.data_ptr<scalar_t>(), flow.defined() ? flow.data_ptr<scalar_t>() : nullptr,
        static_cast<acc_t>(negative_slope), out.data_ptr<scalar_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> correlation_backward_cuda(
    const at::Tensor& grad_out, const at::Tensor& out, const at::Tensor& f1_in, const at::Tensor& f2_in,
    const std::optional<at::Tensor>& flow_in, int64_t max_displacement, int64_t stride, int64_t dilation_patch,
    double negative_slope) {
  check_correlation_args(f1_in, f2_in, flow_in, max_displacement, stride, dilation_patch, negative_slope);
  check_correlation_grad(grad_out, out, f1_in, max_displacement, stride);
  TORCH_INTERNAL_ASSERT(f1_in.device().is_cuda());
  const c10::cuda::CUDAGuard device_guard(f1_in.device());
  const at::Tensor f1 = f1_in.contiguous(), f2 = f2_in.contiguous();
  const at::Tensor flow = flow_in.has_value() ? flow_in->contiguous() : at::Tensor();
  const at::ScalarType acc_type = f1.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  const auto acc_opts = f1.options().dtype(acc_type);
  at::Tensor gf1 = at::zeros(f1.sizes(), acc_opts);
  at::Tensor gf2 = at::zeros(f2.sizes(), acc_opts);
  at::Tensor gflow = flow.defined() ? at::zeros(flow.sizes(), acc_opts) : at::empty({0}, acc_opts);
  if (grad_out.numel() > 0 && f1.size(1) > 0) {
    TORCH_CHECK(f1.size(2) <= 65535 && f1.size(0) <= 65535, "lfn2::correlation (CUDA): N and H must be <= 65535");
    const at::Tensor go = grad_out.to(acc_type);
    const at::Tensor gp = at::where(out.gt(0), go, go * negative_slope).contiguous();
    cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, f1.scalar_type(), "lfn2_correlation_backward_cuda",
                                    [&] {
      using acc_t = at::opmath_type<scalar_t>;
      const scalar_t* flp = flow.defined() ? flow.data_ptr<scalar_t>() : nullptr;
      const Geometry g1 = make_geometry(f1, max_displacement, stride, dilation_patch, flow.defined(),
                                        sizeof(acc_t), /*grad_f1=*/true);
      grad_f1_kernel<scalar_t, acc_t><<<tile_grid(g1), kThreads, smem_bytes(g1, sizeof(acc_t), true), stream>>>(
          g1, gp.data_ptr<acc_t>(), f2.data_ptr<scalar_t>(), flp, gf1.data_ptr<acc_t>());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      const int64_t total = f1.size(0) * f1.size(2) * f1.size(3);
      const unsigned blocks = static_cast<unsigned>(std::min<int64_t>((total + kThreads - 1) / kThreads, 65535));
      grad_w_kernel<scalar_t, acc_t><<<blocks, kThreads, 0, stream>>>(
          g1, gp.data_ptr<acc_t>(), f1.data_ptr<scalar_t>(), f2.data_ptr<scalar_t>(), flp, gf2.data_ptr<acc_t>(),
          flow.defined() ? gflow.data_ptr<acc_t>() : nullptr);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  }
  return {gf1.to(f1.scalar_type()), gf2.to(f1.scalar_type()), gflow.to(f1.scalar_type())};
}

}  // namespace

TORCH_LIBRARY_IMPL(lfn2, CUDA, m) {
  m.impl("correlation", &correlation_cuda);
  m.impl("correlation_backward", &correlation_backward_cuda);
}

}  // namespace lfn2
