// Copyright 2026 The lfn2_ros Authors
// SPDX-License-Identifier: Apache-2.0
//
// NCHW forward kernel of lfn2::correlation, vectorised over output pixels instead of channels.
//
// With dilation_patch == stride (every LiteFlowNet2 level: 1/1 and 2/2) the displacements fall on the stride
// grid, so the op is a stride-1, dilation-1 correlation of the subsampled images f1[:, :, ::s, ::s] and
// W[:, :, ::s, ::s]: output row oh, displacement (j, i) reads subsampled row oh + j - md, column m + i - md.
// For one output row, 8 output pixels and one displacement row j, the 7 horizontal displacements are 7
// accumulators of 8 lanes fed by one f1 vector and 7 shifted W vectors per channel: a register-blocked loop
// without horizontal sums or transposes, reading the NCHW tensors the network produces as they are.
// W rows are built once per thread into a ring of P zero-padded (C, Wp) rows (copied, or warped with the
// bilinear taps of correlation_index.h when a flow is given), so the warp runs once per sampled pixel and no
// warped tensor is written. Parallel over output rows; results do not depend on the number of threads.
#include "correlation_rows.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#define LFN2_ROWS_AVX2 1
#endif

#include "../correlation.h"
#include "../correlation_index.h"
#include "cpu_isa.h"

namespace lfn2 {
namespace cpu {
namespace {

using index::leaky;

constexpr int64_t kLanes = 8;  // output pixels per block (one AVX2 register of float)
constexpr int kMaxShifts = 7;  // horizontal displacements per block: 7 accumulators + f1 + a W load <= 16 ymm

// The problem shape (correlation_index.h) and the row buffer widths. The stride subsamples rows and columns
// (oH x oW is the subsampled image size), and dil == stride (with md = 0, dil is never read).
struct RowGeometry : index::ProblemShape<int64_t> {
  int64_t Wa;  // f1 row buffer width: oW rounded up to kLanes
  int64_t Wp;  // W row buffer width: md zero columns, Wa columns (zeros past oW), md zero columns
};

RowGeometry make_row_geometry(const at::Tensor& f1, int64_t md, int64_t stride) {
  RowGeometry g{problem_shape_of<int64_t>(f1, md, stride, /*dilation_patch=*/stride)};
  g.Wa = (g.oW + kLanes - 1) / kLanes * kLanes;
  // A channel stride (2 Wa floats for f1, Wp for W) of a multiple of 128 bytes maps the C rows of a block onto
  // a few L1 sets, which then evict each other between the passes over them (measured 2x slower at 1024 px).
  if (g.Wa % 16 == 0) g.Wa += kLanes;
  g.Wp = g.Wa + 2 * md;
  if (g.Wp % 32 == 0) g.Wp += kLanes;
  return g;
}

// Calls fn(std::integral_constant<int, N>{}) with N = ni in [1, kMaxShifts]: each register block is compiled
// for a fixed number of shifts so that its accumulators stay in registers.
template <typename Fn>
inline void with_shift_count(int ni, Fn&& fn) {
  switch (ni) {
    case 1: fn(std::integral_constant<int, 1>{}); break;
    case 2: fn(std::integral_constant<int, 2>{}); break;
    case 3: fn(std::integral_constant<int, 3>{}); break;
    case 4: fn(std::integral_constant<int, 4>{}); break;
    case 5: fn(std::integral_constant<int, 5>{}); break;
    case 6: fn(std::integral_constant<int, 6>{}); break;
    default: fn(std::integral_constant<int, kMaxShifts>{}); break;
  }
}

// One register block: for shifts i < ni and lanes l < valid,
// out[i * plane + l] = leaky(sum_c a[c * a_cs + l] * b[c * b_cs + i + l]), channels summed in order.
template <typename T>
void block_plain(const T* a, int64_t a_cs, const T* b, int64_t b_cs, int64_t C, int ni, T slope, T* out,
                 int64_t plane, int64_t valid) {
  T acc[kMaxShifts][kLanes] = {};
  for (int64_t c = 0; c < C; ++c, a += a_cs, b += b_cs) {
    for (int i = 0; i < ni; ++i)
      for (int64_t l = 0; l < kLanes; ++l) acc[i][l] += a[l] * b[i + l];
  }
  for (int i = 0; i < ni; ++i)
    for (int64_t l = 0; l < valid; ++l) out[i * plane + l] = leaky(acc[i][l], slope);
}

#if defined(__GNUC__)
#define LFN2_ROWS_VEC 1
// Portable SIMD (GCC/Clang vector extensions: SSE on a baseline x86-64, NEON on aarch64) for CPUs without
// AVX2 + FMA; multiply and add round separately (-ffp-contract=off), as in block_plain.
typedef float Vec8 __attribute__((vector_size(32)));

inline Vec8 load8(const float* p) {
  Vec8 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

template <int NI>
void block_vec_n(const float* a, int64_t a_cs, const float* b, int64_t b_cs, int64_t C, float slope, float* out,
                 int64_t plane, int64_t valid) {
  Vec8 acc[NI];
  for (int i = 0; i < NI; ++i) acc[i] = Vec8{};
  for (int64_t c = 0; c < C; ++c, a += a_cs, b += b_cs) {
    const Vec8 va = load8(a);
    for (int i = 0; i < NI; ++i) acc[i] += va * load8(b + i);
  }
  for (int i = 0; i < NI; ++i)
    for (int64_t l = 0; l < valid; ++l) out[i * plane + l] = leaky(acc[i][l], slope);
}

void block_vec(const float* a, int64_t a_cs, const float* b, int64_t b_cs, int64_t C, int ni, float slope,
               float* out, int64_t plane, int64_t valid) {
  with_shift_count(ni, [&](auto n) {
    block_vec_n<decltype(n)::value>(a, a_cs, b, b_cs, C, slope, out, plane, valid);
  });
}
#endif

#ifdef LFN2_ROWS_AVX2
// out[i * plane + l] = leaky(acc[i][l]) for l < valid; leaky ReLU as torch computes it: v > 0 ? v : v * slope
// (NaN stays NaN).
template <int NI>
__attribute__((target("avx2,fma"))) inline void store_leaky_avx2(const __m256* acc, float slope, float* out,
                                                                  int64_t plane, int64_t valid) {
  const __m256 vslope = _mm256_set1_ps(slope);
  const __m256 zero = _mm256_setzero_ps();
  for (int i = 0; i < NI; ++i) {
    const __m256 positive = _mm256_cmp_ps(acc[i], zero, _CMP_GT_OQ);
    const __m256 r = _mm256_blendv_ps(_mm256_mul_ps(acc[i], vslope), acc[i], positive);
    if (valid == kLanes) {
      _mm256_storeu_ps(out + i * plane, r);
    } else {
      alignas(32) float tmp[kLanes];
      _mm256_store_ps(tmp, r);
      std::memcpy(out + i * plane, tmp, static_cast<size_t>(valid) * sizeof(float));
    }
  }
}

template <int NI>
__attribute__((target("avx2,fma"))) inline void block_avx2_n(const float* a, int64_t a_cs, const float* b,
                                                              int64_t b_cs, int64_t C, float slope, float* out,
                                                              int64_t plane, int64_t valid) {
  __m256 acc[NI];
  for (int i = 0; i < NI; ++i) acc[i] = _mm256_setzero_ps();
  for (int64_t c = 0; c < C; ++c, a += a_cs, b += b_cs) {
    const __m256 va = _mm256_loadu_ps(a);
    for (int i = 0; i < NI; ++i) acc[i] = _mm256_fmadd_ps(va, _mm256_loadu_ps(b + i), acc[i]);
  }
  store_leaky_avx2<NI>(acc, slope, out, plane, valid);
}

// Two output rows that read the same W row (rows oh and oh + 1 at displacement rows j and j - 1): every W
// vector feeds two accumulators, halving the W traffic per multiply-add.
template <int NI>
__attribute__((target("avx2,fma"))) inline void dual_avx2_n(const float* a0, const float* a1, int64_t a_cs,
                                                             const float* b, int64_t b_cs, int64_t C, float slope,
                                                             float* out0, float* out1, int64_t plane,
                                                             int64_t valid) {
  __m256 acc0[NI], acc1[NI];
  for (int i = 0; i < NI; ++i) acc0[i] = acc1[i] = _mm256_setzero_ps();
  for (int64_t c = 0; c < C; ++c, a0 += a_cs, a1 += a_cs, b += b_cs) {
    const __m256 va0 = _mm256_loadu_ps(a0);
    const __m256 va1 = _mm256_loadu_ps(a1);
    for (int i = 0; i < NI; ++i) {
      const __m256 vb = _mm256_loadu_ps(b + i);
      acc0[i] = _mm256_fmadd_ps(va0, vb, acc0[i]);
      acc1[i] = _mm256_fmadd_ps(va1, vb, acc1[i]);
    }
  }
  store_leaky_avx2<NI>(acc0, slope, out0, plane, valid);
  store_leaky_avx2<NI>(acc1, slope, out1, plane, valid);
}

__attribute__((target("avx2,fma"))) void dual_avx2(const float* a0, const float* a1, int64_t a_cs, const float* b,
                                                   int64_t b_cs, int64_t C, int ni, float slope, float* out0,
                                                   float* out1, int64_t plane, int64_t valid) {
  with_shift_count(ni, [&](auto n) {
    dual_avx2_n<decltype(n)::value>(a0, a1, a_cs, b, b_cs, C, slope, out0, out1, plane, valid);
  });
}

__attribute__((target("avx2,fma"))) void block_avx2(const float* a, int64_t a_cs, const float* b, int64_t b_cs,
                                                    int64_t C, int ni, float slope, float* out, int64_t plane,
                                                    int64_t valid) {
  with_shift_count(ni, [&](auto n) {
    block_avx2_n<decltype(n)::value>(a, a_cs, b, b_cs, C, slope, out, plane, valid);
  });
}
#endif

template <typename T>
using BlockFn = void (*)(const T*, int64_t, const T*, int64_t, int64_t, int, T, T*, int64_t, int64_t);

template <typename T>
BlockFn<T> block_fn() {
  return &block_plain<T>;
}
template <>
BlockFn<float> block_fn<float>() {
#ifdef LFN2_ROWS_AVX2
  if (cpu_isa() >= Isa::kAvx2) return &block_avx2;
#endif
#ifdef LFN2_ROWS_VEC
  if (cpu_isa() >= Isa::kBase) return &block_vec;
#endif
  return &block_plain<float>;
}

// One channel of a warped row: out[m] = ((w0 p[o0] + w1 p[o1]) + w2 p[o2]) + w3 p[o3] with ok = off[k * n + m],
// wk = w[k * n + m]; products and sums rounded separately, as grid_sample computes them.
template <typename T>
void warp_plain(const T* plane, const int32_t* off, const T* w, int64_t n, T* out) {
  for (int64_t m = 0; m < n; ++m) {
    T v = w[m] * plane[off[m]];
    for (int k = 1; k < 4; ++k) v = v + w[k * n + m] * plane[off[k * n + m]];
    out[m] = v;
  }
}

#ifdef LFN2_ROWS_AVX2
__attribute__((target("avx2,fma"))) void warp_avx2(const float* plane, const int32_t* off, const float* w,
                                                   int64_t n, float* out) {
  int64_t m = 0;
  for (; m + kLanes <= n; m += kLanes) {
    const __m256i o0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(off + m));
    __m256 v = _mm256_mul_ps(_mm256_loadu_ps(w + m), _mm256_i32gather_ps(plane, o0, 4));
    for (int k = 1; k < 4; ++k) {
      const __m256i o = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(off + k * n + m));
      v = _mm256_add_ps(v, _mm256_mul_ps(_mm256_loadu_ps(w + k * n + m), _mm256_i32gather_ps(plane, o, 4)));
    }
    _mm256_storeu_ps(out + m, v);
  }
  for (; m < n; ++m) {
    float v = w[m] * plane[off[m]];
    for (int k = 1; k < 4; ++k) v = v + w[k * n + m] * plane[off[k * n + m]];
    out[m] = v;
  }
}
#endif

template <typename T>
using WarpFn = void (*)(const T*, const int32_t*, const T*, int64_t, T*);

template <typename T>
WarpFn<T> warp_fn() {
  return &warp_plain<T>;
}
template <>
WarpFn<float> warp_fn<float>() {
#ifdef LFN2_ROWS_AVX2
  if (cpu_isa() >= Isa::kAvx2) return &warp_avx2;
#endif
  return &warp_plain<float>;
}

template <typename T>
using DualFn = void (*)(const T*, const T*, int64_t, const T*, int64_t, int64_t, int, T, T*, T*, int64_t, int64_t);

// The two-row block where one exists (AVX2); nullptr: run two single blocks.
template <typename T>
DualFn<T> dual_fn() {
  return nullptr;
}
template <>
DualFn<float> dual_fn<float>() {
#ifdef LFN2_ROWS_AVX2
  if (cpu_isa() >= Isa::kAvx2) return &dual_avx2;
#endif
  return nullptr;
}

// Per-thread ring of the subsampled W rows the current pair of output rows reads: P + 1 consecutive row
// indices, so slot r % (P + 1) never evicts a row still in use; each new pair of output rows builds two rows.
template <typename T>
class PaddedRowRing {
 public:
  PaddedRowRing(const RowGeometry& g, const T* f2, const T* flow)
      : g_(g), f2_(f2), flow_(flow), buf_(static_cast<size_t>((g.P + 1) * g.C * g.Wp)), tag_(g.P + 1, -1) {
    if (flow_ != nullptr) {
      off_.resize(4 * g.oW);
      w_.resize(4 * g.oW);
    }
  }

  // Subsampled row r (0 <= r < oH) of batch item n as a (C, Wp) block: W[n, c, s*r, s*m] at column md + m.
  const T* row(int64_t n, int64_t r) {
    const int64_t slot = r % (g_.P + 1);
    T* dst = buf_.data() + slot * g_.C * g_.Wp;
    const int64_t tag = n * g_.oH + r;
    if (tag_[slot] != tag) {
      if (flow_ == nullptr) {
        copy_row(n, r, dst);
      } else {
        warp_row(n, r, dst);
      }
      tag_[slot] = tag;
    }
    return dst;
  }

 private:
  void zero_margins(T* d) const {
    std::fill(d, d + g_.md, T(0));
    std::fill(d + g_.md + g_.oW, d + g_.Wp, T(0));
  }

  void copy_row(int64_t n, int64_t r, T* dst) const {
    for (int64_t c = 0; c < g_.C; ++c) {
      const T* src = f2_ + ((n * g_.C + c) * g_.H + g_.stride * r) * g_.W;
      T* d = dst + c * g_.Wp;
      zero_margins(d);
      if (g_.stride == 1) {
        std::memcpy(d + g_.md, src, static_cast<size_t>(g_.oW) * sizeof(T));
      } else {
        for (int64_t m = 0; m < g_.oW; ++m) d[g_.md + m] = src[g_.stride * m];
      }
    }
  }

  // d[md + m] = mmflow Warp(f2, flow)[n, c, s*r, s*m] = ((w_nw v_nw + w_ne v_ne) + w_sw v_sw) + w_se v_se as
  // grid_sample sums it. A tap outside the image (or every tap of a sample the mask rejects) gets weight 0
  // and reads an in-image pixel instead, so the channel loop has no branches (for finite features this
  // adds exactly +0, which is what the reference adds).
  void warp_row(int64_t n, int64_t r, T* dst) {
    const int64_t HW = g_.H * g_.W, oW = g_.oW, qy = g_.stride * r;
    const T* fl = flow_ + n * 2 * HW + qy * g_.W;
    for (int64_t m = 0; m < oW; ++m) {
      const int64_t qx = g_.stride * m;
      const index::Taps<T> t = index::bilinear_taps<T>(qx, qy, fl[qx], fl[HW + qx], g_.H, g_.W);
      for (int k = 0; k < 4; ++k) {
        const bool in = t.valid && t.tap_in(k);
        const int64_t ty = std::clamp<int64_t>(t.tap_y(k), 0, g_.H - 1);
        const int64_t tx = std::clamp<int64_t>(t.tap_x(k), 0, g_.W - 1);
        off_[k * oW + m] = static_cast<int32_t>(ty * g_.W + tx);
        w_[k * oW + m] = in ? t.w[k] : T(0);
      }
    }
    const WarpFn<T> blend = warp_fn<T>();
    for (int64_t c = 0; c < g_.C; ++c) {
      T* d = dst + c * g_.Wp;
      zero_margins(d);
      blend(f2_ + (n * g_.C + c) * HW, off_.data(), w_.data(), oW, d + g_.md);
    }
  }

  const RowGeometry& g_;
  const T* f2_;
  const T* flow_;
  std::vector<T> buf_;
  std::vector<int64_t> tag_;
  std::vector<int32_t> off_;
  std::vector<T> w_;
};

template <typename T>
void forward_rows(const RowGeometry& g, const T* f1, const T* f2, const T* flow, T slope, T* out) {
  const int64_t P = g.P, C = g.C, plane = g.oH * g.oW;
  const BlockFn<T> block = block_fn<T>();
  const DualFn<T> dual = dual_fn<T>();
  const int64_t a_cs = 2 * g.Wa;  // f1 rows oh and oh + 1 interleaved per channel: (C, 2, Wa)
  at::parallel_for(0, g.N * g.oH, 1, [&](int64_t r0, int64_t r1) {
    PaddedRowRing<T> ring(g, f2, flow);
    std::vector<T> a(static_cast<size_t>(C * a_cs), T(0));  // columns past oW stay 0
    std::vector<const T*> rows(P + 1);
    for (int64_t rr = r0; rr < r1;) {
      const int64_t n = rr / g.oH, oh = rr % g.oH;
      // Output rows oh and oh + 1 together when both belong to this thread and batch item.
      const int64_t count = (rr + 1 < r1 && oh + 1 < g.oH) ? 2 : 1;
      for (int64_t t = 0; t < count; ++t) {
        for (int64_t c = 0; c < C; ++c) {
          const T* src = f1 + ((n * C + c) * g.H + g.stride * (oh + t)) * g.W;
          T* d = a.data() + c * a_cs + t * g.Wa;
          if (g.stride == 1) {
            std::memcpy(d, src, static_cast<size_t>(g.oW) * sizeof(T));
          } else {
            for (int64_t m = 0; m < g.oW; ++m) d[m] = src[g.stride * m];
          }
        }
      }
      // W row k (image row oh - md + k) is displacement row j = k - t of output row oh + t.
      for (int64_t k = 0; k < P + count - 1; ++k) {
        const int64_t r = oh - g.md + k;
        rows[k] = index::inside(r, g.oH) ? ring.row(n, r) : nullptr;
      }
      T* out_row = out + n * P * P * plane + oh * g.oW;  // output row oh + t starts at out_row + t * oW
      for (int64_t x0 = 0; x0 < g.oW; x0 += kLanes) {
        const int64_t valid = std::min(kLanes, g.oW - x0);
        for (int64_t k = 0; k < P + count - 1; ++k) {
          const int64_t t_first = std::max<int64_t>(0, k - (P - 1)), t_last = std::min<int64_t>(count - 1, k);
          T* o[2];
          for (int64_t t = t_first; t <= t_last; ++t)
            o[t - t_first] = out_row + t * g.oW + (k - t) * P * plane + x0;
          const int64_t outputs = t_last - t_first + 1;
          if (rows[k] == nullptr) {
            for (int64_t u = 0; u < outputs; ++u)
              for (int64_t i = 0; i < P; ++i) std::fill(o[u] + i * plane, o[u] + i * plane + valid, T(0));
            continue;
          }
          const T* a0 = a.data() + t_first * g.Wa + x0;
          for (int64_t i0 = 0; i0 < P; i0 += kMaxShifts) {
            const int ni = static_cast<int>(std::min<int64_t>(kMaxShifts, P - i0));
            const T* b = rows[k] + x0 + i0;
            if (outputs == 2 && dual != nullptr) {
              dual(a0, a0 + g.Wa, a_cs, b, g.Wp, C, ni, slope, o[0] + i0 * plane, o[1] + i0 * plane, plane, valid);
            } else {
              for (int64_t u = 0; u < outputs; ++u)
                block(a0 + u * g.Wa, a_cs, b, g.Wp, C, ni, slope, o[u] + i0 * plane, plane, valid);
            }
          }
        }
      }
      rr += count;
    }
  });
}

}  // namespace

bool rows_supported(const at::Tensor& f1, int64_t max_displacement, int64_t stride, int64_t dilation_patch) {
  const bool on_stride_grid = dilation_patch == stride || max_displacement == 0;
  const bool nchw = f1.is_contiguous() || !f1.is_contiguous(at::MemoryFormat::ChannelsLast);
  const bool int32_offsets = f1.size(2) * f1.size(3) < (int64_t{1} << 31);
  return on_stride_grid && nchw && int32_offsets;
}

void correlation_rows_forward(const at::Tensor& f1, const at::Tensor& f2, const at::Tensor* flow,
                              int64_t max_displacement, int64_t stride, double negative_slope, at::Tensor& out) {
  TORCH_INTERNAL_ASSERT(f1.is_contiguous() && f2.is_contiguous() && out.is_contiguous());
  TORCH_INTERNAL_ASSERT(flow == nullptr || (flow->is_contiguous() && flow->scalar_type() == f1.scalar_type()));
  const RowGeometry g = make_row_geometry(f1, max_displacement, stride);
  AT_DISPATCH_FLOATING_TYPES(f1.scalar_type(), "lfn2_correlation_rows", [&] {
    forward_rows<scalar_t>(g, f1.data_ptr<scalar_t>(), f2.data_ptr<scalar_t>(),
                           flow != nullptr ? flow->data_ptr<scalar_t>() : nullptr,
                           static_cast<scalar_t>(negative_slope), out.data_ptr<scalar_t>());
  });
}

}  // namespace cpu
}  // namespace lfn2
