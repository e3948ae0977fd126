// Copyright 2026 The lfn2_ros Authors
// SPDX-License-Identifier: Apache-2.0
//
// CUDA kernels of lfn2::correlation (fused warp + local correlation + leaky ReLU) and its backward, with the
// device helpers and the shared-memory layout they and the host launch code share.
//
// Included by two builds: nvcc (correlation_kernel.cu, the GPU) and a plain C++ build that runs the same code
// on the CPU emulation of the CUDA execution model in ../emu/cuda_emulation.h (the `cuda_emulated` test
// backend). The including file provides the CUDA builtins first: the CUDA runtime, or that header.
//
// Forward and grad-f1 use the same tiling: a block owns TW consecutive output pixels of one output row. Per
// chunk of CC channels it stages in shared memory the f1 values of its pixels and the (warped) f2 window those
// pixels read: P rows x ((TW - 1) * stride + 2 * md * dil + 1) columns. With a flow, the bilinear taps of the
// window are computed once per block (correlation_index.h, with torch's CUDA grid_sample arithmetic) and the
// warp is evaluated once per window pixel and channel, not once per displacement. Accumulation is in acc_t
// (fp32 for half/bf16). The gradient of the warped f2 is gathered per pixel q; with a flow it is scattered to
// f2 through the bilinear taps with atomics (so that gradient is not bit-deterministic).
#pragma once

#include <cstddef>
#include <cstdint>

#include "../correlation_index.h"

#if defined(__CUDACC__)
#define LFN2_DEVICE __device__ __forceinline__
#else
#define LFN2_DEVICE inline
#endif

namespace lfn2 {
namespace cuda_kernels {

constexpr int kThreads = 256;           // threads per block of every kernel (their __launch_bounds__)
constexpr int kMaxPairsPerThread = 8;   // forward accumulators per thread: a block covers <= 8 * 256 pairs
constexpr size_t kSmemBudget = 44 * 1024;  // below the 48 KiB a block gets without an opt-in
constexpr auto kTaps = index::Unnormalize::kCuda;

// The problem shape (32-bit per-displacement fields) and the tiling the host chose for it (make_geometry).
struct Geometry : index::ProblemShape<int> {
  int TW;      // output pixels per block
  int RW;      // window columns: (TW - 1) * stride + 2 * md * dil + 1
  int CC;      // channels per shared-memory chunk
  bool flow;
};

// Dynamic shared-memory layout of the tile kernels (byte offsets, 16-byte aligned sections): bilinear tap
// weights and plane offsets of the window (with a flow only), the lead tile (f1 in the forward: CC x TW;
// grad_out in grad-f1: P*P x TW), then the CC-channel window. The host sizes the launch with `total` of the
// same function the kernels carve the memory with.
struct TileLayout {
  size_t taps_w, taps_off, lead, window, total;
};

LFN2_HOST_DEVICE size_t align16(size_t bytes) { return (bytes + 15) / 16 * 16; }

LFN2_HOST_DEVICE TileLayout tile_layout(const Geometry& g, bool grad_f1, size_t acc_size) {
  const size_t win = static_cast<size_t>(g.P) * g.RW;
  const size_t lead_elems = grad_f1 ? static_cast<size_t>(g.P) * g.P * g.TW : static_cast<size_t>(g.CC) * g.TW;
  TileLayout l;
  l.taps_w = 0;
  l.taps_off = l.taps_w + (g.flow ? win * 4 * acc_size : 0);
  l.lead = align16(l.taps_off + (g.flow ? win * 4 * sizeof(int) : 0));
  l.window = l.lead + align16(lead_elems * acc_size);
  l.total = l.window + static_cast<size_t>(g.CC) * win * acc_size;
  return l;
}

#if defined(__CUDACC__)
extern __shared__ __align__(16) unsigned char lfn2_smem[];
LFN2_DEVICE unsigned char* dynamic_smem() { return lfn2_smem; }
#else
LFN2_DEVICE unsigned char* dynamic_smem() { return emu::dynamic_smem(); }
#endif

// The dynamic shared memory of a tile kernel, carved by tile_layout: the window's tap weights and plane
// offsets (with a flow only), the lead tile and the CC-channel window.
template <typename acc_t>
struct TileMemory {
  acc_t* taps_w;
  int* taps_off;
  acc_t* lead;    // f1 (forward, CC x TW) or grad_out (grad f1, P*P x TW)
  acc_t* window;  // win_s[c][r][col]
};

template <typename acc_t>
LFN2_DEVICE TileMemory<acc_t> tile_memory(const Geometry& g, bool grad_f1) {
  const TileLayout lay = tile_layout(g, grad_f1, sizeof(acc_t));
  unsigned char* smem = dynamic_smem();
  return {reinterpret_cast<acc_t*>(smem + lay.taps_w), reinterpret_cast<int*>(smem + lay.taps_off),
          reinterpret_cast<acc_t*>(smem + lay.lead), reinterpret_cast<acc_t*>(smem + lay.window)};
}

// Bilinear taps of the window of output row `oh`, tile starting at output column ow0: per window pixel four
// (plane offset or -1, weight); a masked or outside sample has all offsets -1, i.e. reads 0.
template <typename scalar_t, typename acc_t>
LFN2_DEVICE void window_taps(const Geometry& g, const scalar_t* __restrict__ flow, int64_t n, int64_t oh,
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
    const index::Taps<acc_t> t = index::bilinear_taps<acc_t, kTaps>(
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
LFN2_DEVICE void load_window(const Geometry& g, const scalar_t* __restrict__ f2, int64_t n, int64_t oh,
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

// grid (ceil(oW / TW), oH, N), kThreads threads. Pair m of the block = (displacement k, tile pixel t), t
// fastest; thread i owns pairs i + m * blockDim.x, m < kMaxPairsPerThread (the host checks that this covers
// the P*P*TW pairs).
template <typename scalar_t, typename acc_t>
__global__ void __launch_bounds__(kThreads) forward_kernel(
    Geometry g, const scalar_t* __restrict__ f1, const scalar_t* __restrict__ f2,
    const scalar_t* __restrict__ flow, acc_t slope, scalar_t* __restrict__ out) {
  const int64_t n = blockIdx.z, oh = blockIdx.y, ow0 = static_cast<int64_t>(blockIdx.x) * g.TW;
  const int P2 = g.P * g.P, pairs = P2 * g.TW, win = g.P * g.RW;
  const TileMemory<acc_t> sm = tile_memory<acc_t>(g, /*grad_f1=*/false);
  acc_t* f1_s = sm.lead;
  acc_t* win_s = sm.window;
  if (g.flow) window_taps<scalar_t, acc_t>(g, flow, n, oh, ow0, sm.taps_w, sm.taps_off);

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
    load_window<scalar_t, acc_t>(g, f2, n, oh, ow0, c0, cc, sm.taps_w, sm.taps_off, win_s);
    __syncthreads();
#pragma unroll
    for (int m = 0; m < kMaxPairsPerThread; ++m) {
      const int pidx = threadIdx.x + m * blockDim.x;
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
    const int pidx = threadIdx.x + m * blockDim.x;
    if (pidx >= pairs) break;
    const int t = pidx % g.TW, k = pidx / g.TW;
    const int64_t ow = ow0 + t;
    if (ow < g.oW) {
      out[((n * P2 + k) * g.oH + oh) * g.oW + ow] = static_cast<scalar_t>(index::leaky(acc[m], slope));
    }
  }
}

// grad f1 at (y, x) = (oh*s, (ow0 + t)*s): sum_k gp[k] * W[q_k]. Same grid and tiling as the forward.
template <typename scalar_t, typename acc_t>
__global__ void __launch_bounds__(kThreads) grad_f1_kernel(
    Geometry g, const acc_t* __restrict__ gp, const scalar_t* __restrict__ f2, const scalar_t* __restrict__ flow,
    acc_t* __restrict__ gf1) {
  const int64_t n = blockIdx.z, oh = blockIdx.y, ow0 = static_cast<int64_t>(blockIdx.x) * g.TW;
  const int P2 = g.P * g.P, win = g.P * g.RW;
  const TileMemory<acc_t> sm = tile_memory<acc_t>(g, /*grad_f1=*/true);
  acc_t* gp_s = sm.lead;
  acc_t* win_s = sm.window;
  if (g.flow) window_taps<scalar_t, acc_t>(g, flow, n, oh, ow0, sm.taps_w, sm.taps_off);
  for (int idx = threadIdx.x; idx < P2 * g.TW; idx += blockDim.x) {
    const int k = idx / g.TW, t = idx % g.TW;
    const int64_t ow = ow0 + t;
    gp_s[idx] = ow < g.oW ? gp[((n * P2 + k) * g.oH + oh) * g.oW + ow] : acc_t(0);
  }
  const int64_t plane = g.H * g.W, y = oh * g.stride;
  for (int64_t c0 = 0; c0 < g.C; c0 += g.CC) {
    const int cc = static_cast<int>(g.C - c0 < g.CC ? g.C - c0 : g.CC);
    __syncthreads();
    load_window<scalar_t, acc_t>(g, f2, n, oh, ow0, c0, cc, sm.taps_w, sm.taps_off, win_s);
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

// Gradient of the (warped) f2 sample W[n, c, q], gathered over the P*P outputs that read q.
template <typename scalar_t, typename acc_t>
LFN2_DEVICE acc_t grad_w_at(const Geometry& g, const acc_t* __restrict__ gp, const scalar_t* f1c, int64_t n,
                            int64_t qy, int64_t qx) {
  const int P2 = g.P * g.P;
  acc_t gw = 0;
  for (int k = 0; k < P2; ++k) {
    const int64_t y = qy - index::displacement(k / g.P, g.md, g.dil);
    const int64_t x = qx - index::displacement(k % g.P, g.md, g.dil);
    if (!index::inside(y, g.H) || !index::inside(x, g.W) || y % g.stride != 0 || x % g.stride != 0) continue;
    gw += gp[((n * P2 + k) * g.oH + y / g.stride) * g.oW + x / g.stride] * static_cast<acc_t>(f1c[y * g.W + x]);
  }
  return gw;
}

// One thread per (n, qy, qx): gradient of W at q gathered over the outputs reading q, then either written as
// grad f2 (no flow) or scattered through the bilinear taps (atomics), plus the flow gradient at q.
template <typename scalar_t, typename acc_t>
__global__ void __launch_bounds__(kThreads) grad_w_kernel(
    Geometry g, const acc_t* __restrict__ gp, const scalar_t* __restrict__ f1, const scalar_t* __restrict__ f2,
    const scalar_t* __restrict__ flow, acc_t* __restrict__ gf2, acc_t* __restrict__ gflow) {
  const int64_t plane = g.H * g.W;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < g.N * plane;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t n = idx / plane, qy = (idx % plane) / g.W, qx = idx % g.W;
    index::Taps<acc_t> t;
    if (g.flow) {
      const scalar_t* fl = flow + n * 2 * plane + qy * g.W + qx;
      t = index::bilinear_taps<acc_t, kTaps>(qx, qy, static_cast<acc_t>(fl[0]), static_cast<acc_t>(fl[plane]),
                                             g.H, g.W);
      if (!t.valid) continue;  // masked: W[q] = 0, no gradient
    }
    acc_t d_fx = 0, d_fy = 0;
    for (int64_t c = 0; c < g.C; ++c) {
      const acc_t gw = grad_w_at<scalar_t, acc_t>(g, gp, f1 + (n * g.C + c) * plane, n, qy, qx);
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
      index::sample_grad(t, g.H, g.W, v[0], v[1], v[2], v[3], &dx, &dy);
      d_fx += gw * dx;
      d_fy += gw * dy;
    }
    if (g.flow) {
      gflow[n * 2 * plane + qy * g.W + qx] = d_fx;
      gflow[n * 2 * plane + plane + qy * g.W + qx] = d_fy;
    }
  }
}

}  // namespace cuda_kernels
}  // namespace lfn2
