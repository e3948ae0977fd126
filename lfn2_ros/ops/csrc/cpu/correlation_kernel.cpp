// Copyright 2026 The lfn2_ros Authors
// SPDX-License-Identifier: Apache-2.0
//
// CPU kernels of lfn2::correlation (fused warp + local correlation + leaky ReLU) and its backward.
//
// The forward of NCHW inputs with dilation_patch == stride (every LiteFlowNet2 level) runs the row kernel of
// correlation_rows.cpp instead; this file serves channels-last inputs, the other configurations and the
// backward.
// Layout: features are read channels-last (N, H, W, C) so that every dot product and every bilinear blend is a
// contiguous, vectorisable loop over channels. The warped f2 is never materialised as a whole: each thread
// keeps a ring of the P warped rows its current output row needs (the next output row needs one new row), so
// the warp costs about one bilinear blend per f2 pixel. No C x P^2 x H x W temporary exists anywhere.
// Parallelism: at::parallel_for over output rows (forward, grad f1), over input rows (grad of the warped f2,
// grad flow) and over channel blocks (the scatter of the warp's transpose), so there are no atomics and the
// results do not depend on the number of threads.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/OpMathType.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "../correlation.h"
#include "../correlation_index.h"
#include "channel_loops.h"
#include "correlation_rows.h"

namespace lfn2 {
namespace {

using cpu::Loops;
using index::leaky;
using index::Taps;

// ------------------------------------------------------------------------------------------------------------
// The problem shape shared by the passes (correlation_index.h; 64-bit throughout on the CPU).
using Geometry = index::ProblemShape<int64_t>;

// Taps of the warped sample at q = (qx, qy) of batch item n; flow is (N, 2, H, W) contiguous.
template <typename T>
Taps<T> taps_at(const Geometry& g, const T* flow, int64_t n, int64_t qy, int64_t qx) {
  const T* fl = flow + n * 2 * g.H * g.W + qy * g.W + qx;
  return index::bilinear_taps<T>(qx, qy, fl[0], fl[g.H * g.W], g.H, g.W);
}

// Source of the rows of W (f2, or f2 warped by the flow) in channels-last layout. Without a flow these are
// rows of f2 itself; with one, a per-thread ring of `slots` warped rows (tagged by n * H + qy).
template <typename T>
class RowSource {
 public:
  RowSource(const Geometry& g, const T* f2n, const T* flow, int slots)
      : g_(g), f2n_(f2n), flow_(flow), zero_(g.C, T(0)) {
    if (flow_ != nullptr) {
      buf_.resize(static_cast<size_t>(slots) * g.W * g.C);
      tag_.assign(slots, -1);
      keep_.assign(slots, 0);
    }
  }

  const T* zero() const { return zero_.data(); }

  // Fills rows[j] with the row pointer of image row qy[j] of batch item n (nullptr when qy[j] is outside).
  void fetch(int64_t n, const int64_t* qy, int count, const T** rows) {
    if (flow_ == nullptr) {
      for (int j = 0; j < count; ++j)
        rows[j] = index::inside(qy[j], g_.H) ? f2n_ + (n * g_.H + qy[j]) * g_.W * g_.C : nullptr;
      return;
    }
    // Two phases, so that a miss never evicts a row this request still needs.
    std::fill(keep_.begin(), keep_.end(), 0);
    const int slots = static_cast<int>(tag_.size());
    for (int j = 0; j < count; ++j) {
      rows[j] = nullptr;
      if (!index::inside(qy[j], g_.H)) continue;
      for (int s = 0; s < slots; ++s) {
        if (tag_[s] == n * g_.H + qy[j]) {
          keep_[s] = 1;
          rows[j] = slot(s);
          break;
        }
      }
    }
    for (int j = 0; j < count; ++j) {
      if (rows[j] != nullptr || !index::inside(qy[j], g_.H)) continue;
      int s = 0;
      while (keep_[s]) ++s;  // at most `count` <= slots rows are kept
      keep_[s] = 1;
      tag_[s] = n * g_.H + qy[j];
      warp_row(n, qy[j], slot(s));
      rows[j] = slot(s);
    }
  }

 private:
  T* slot(int s) { return buf_.data() + static_cast<size_t>(s) * g_.W * g_.C; }

  // dst[x][c] = mmflow Warp(f2, flow)[n, c, qy, x].
  void warp_row(int64_t n, int64_t qy, T* dst) {
    const int64_t C = g_.C;
    for (int64_t x = 0; x < g_.W; ++x) {
      T* d = dst + x * C;
      const Taps<T> t = taps_at(g_, flow_, n, qy, x);
      if (!t.valid) {
        std::fill(d, d + C, T(0));
        continue;
      }
      const T* b[4];
      for (int k = 0; k < 4; ++k)
        b[k] = t.tap_in(k) ? f2n_ + ((n * g_.H + t.tap_y(k)) * g_.W + t.tap_x(k)) * C : zero_.data();
      Loops<T>::wsum(t.w, b, 4, C, d);
    }
  }

  const Geometry& g_;
  const T* f2n_;
  const T* flow_;
  std::vector<T> zero_;
  std::vector<T> buf_;
  std::vector<int64_t> tag_;
  std::vector<char> keep_;
};

// ------------------------------------------------------------------------------------------------------------
// Forward: out (N, P*P, oH, oW) contiguous.
template <typename T>
void forward_impl(const Geometry& g, const T* f1n, const T* f2n, const T* flow, T slope, T* out) {
  const int64_t P = g.P, P2 = P * P, C = g.C;
  at::parallel_for(0, g.N * g.oH, 1, [&](int64_t r0, int64_t r1) {
    RowSource<T> src(g, f2n, flow, static_cast<int>(P));
    std::vector<int64_t> qy(P);
    std::vector<const T*> rows(P), b(P2);
    std::vector<int64_t> k_of(P2);
    std::vector<T> res(P2);
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / g.oH, oh = r % g.oH, y = oh * g.stride;
      for (int64_t j = 0; j < P; ++j) qy[j] = y + index::displacement(j, g.md, g.dil);
      src.fetch(n, qy.data(), static_cast<int>(P), rows.data());
      T* out_row = out + n * P2 * g.oH * g.oW + oh * g.oW;
      for (int64_t ow = 0; ow < g.oW; ++ow) {
        const int64_t x = ow * g.stride;
        const T* a = f1n + ((n * g.H + y) * g.W + x) * C;
        int nb = 0;
        for (int64_t j = 0; j < P; ++j) {
          for (int64_t i = 0; i < P; ++i) {
            const int64_t qx = x + index::displacement(i, g.md, g.dil);
            if (rows[j] != nullptr && index::inside(qx, g.W)) {
              b[nb] = rows[j] + qx * C;
              k_of[nb++] = j * P + i;
            } else {
              out_row[(j * P + i) * g.oH * g.oW + ow] = T(0);
            }
          }
        }
        Loops<T>::dots(a, b.data(), nb, C, res.data());
        for (int m = 0; m < nb; ++m) out_row[k_of[m] * g.oH * g.oW + ow] = leaky(res[m], slope);
      }
    }
  });
}

// ------------------------------------------------------------------------------------------------------------
// Backward. gp = grad_out * lrelu'(pre-activation), (N, P*P, oH, oW) contiguous.
// grad f1 at (y, x) = (oh*s, ow*s): sum_k gp[k, oh, ow] * W[q_k]; zero off the stride grid.
template <typename T>
void grad_f1_impl(const Geometry& g, const T* gp, const T* f2n, const T* flow, T* gf1n) {
  const int64_t P = g.P, P2 = P * P, C = g.C;
  at::parallel_for(0, g.N * g.oH, 1, [&](int64_t r0, int64_t r1) {
    RowSource<T> src(g, f2n, flow, static_cast<int>(P));
    std::vector<int64_t> qy(P);
    std::vector<const T*> rows(P), b(P2);
    std::vector<T> coef(P2);
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / g.oH, oh = r % g.oH, y = oh * g.stride;
      for (int64_t j = 0; j < P; ++j) qy[j] = y + index::displacement(j, g.md, g.dil);
      src.fetch(n, qy.data(), static_cast<int>(P), rows.data());
      const T* gp_row = gp + n * P2 * g.oH * g.oW + oh * g.oW;
      for (int64_t ow = 0; ow < g.oW; ++ow) {
        const int64_t x = ow * g.stride;
        int nb = 0;
        for (int64_t j = 0; j < P; ++j) {
          if (rows[j] == nullptr) continue;
          for (int64_t i = 0; i < P; ++i) {
            const int64_t qx = x + index::displacement(i, g.md, g.dil);
            if (!index::inside(qx, g.W)) continue;
            b[nb] = rows[j] + qx * C;
            coef[nb++] = gp_row[(j * P + i) * g.oH * g.oW + ow];
          }
        }
        Loops<T>::wsum(coef.data(), b.data(), nb, C, gf1n + ((n * g.H + y) * g.W + x) * C);
      }
    }
  });
}

// Gradient of W at every q (gathered over the outputs that read q, so each q is written once), written to
// gwn (N, H, W, C). With a flow, also the flow gradient at q (the sample depends on flow(q) only).
template <typename T>
void grad_w_impl(const Geometry& g, const T* gp, const T* f1n, const T* f2n, const T* flow, T* gwn,
                 T* gflow) {
  const int64_t P = g.P, P2 = P * P, C = g.C;
  at::parallel_for(0, g.N * g.H, 1, [&](int64_t r0, int64_t r1) {
    std::vector<const T*> b(P2);
    std::vector<T> coef(P2);
    std::vector<T> zero(C, T(0));
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / g.H, qy = r % g.H;
      for (int64_t qx = 0; qx < g.W; ++qx) {
        Taps<T> t;
        if (flow != nullptr) {
          t = taps_at(g, flow, n, qy, qx);
          if (!t.valid) continue;  // masked: W[q] = 0 does not depend on f2 or the flow (gwn stays 0)
        }
        int nb = 0;
        for (int64_t j = 0; j < P; ++j) {
          const int64_t y = qy - index::displacement(j, g.md, g.dil);
          if (!index::inside(y, g.H) || y % g.stride != 0) continue;
          for (int64_t i = 0; i < P; ++i) {
            const int64_t x = qx - index::displacement(i, g.md, g.dil);
            if (!index::inside(x, g.W) || x % g.stride != 0) continue;
            b[nb] = f1n + ((n * g.H + y) * g.W + x) * C;
            coef[nb++] = gp[((n * P2 + j * P + i) * g.oH + y / g.stride) * g.oW + x / g.stride];
          }
        }
        T* gw = gwn + ((n * g.H + qy) * g.W + qx) * C;
        Loops<T>::wsum(coef.data(), b.data(), nb, C, gw);
        if (flow != nullptr && nb > 0) {
          const T* v[4];
          for (int k = 0; k < 4; ++k)
            v[k] = t.tap_in(k) ? f2n + ((n * g.H + t.tap_y(k)) * g.W + t.tap_x(k)) * C : zero.data();
          T d[4];
          Loops<T>::dots(gw, v, 4, C, d);  // gw . v_tap
          T d_fx, d_fy;
          index::sample_grad(t, g.H, g.W, d[0], d[1], d[2], d[3], &d_fx, &d_fy);
          T* gf = gflow + n * 2 * g.H * g.W + qy * g.W + qx;
          gf[0] = d_fx;
          gf[g.H * g.W] = d_fy;
        }
      }
    }
  });
}

// grad f2 = transpose of the warp applied to grad W: each valid q scatters w_t * gW[q] to its in-image taps.
// Parallel over (n, channel block): the taps of different channels never collide.
template <typename T>
void scatter_warp_impl(const Geometry& g, const T* gwn, const T* flow, T* gf2n) {
  const int64_t C = g.C;
  constexpr int64_t kBlock = 16;
  const int64_t nblk = (C + kBlock - 1) / kBlock;
  at::parallel_for(0, g.N * nblk, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t task = t0; task < t1; ++task) {
      const int64_t n = task / nblk, c0 = (task % nblk) * kBlock, c1 = std::min(C, c0 + kBlock);
      for (int64_t qy = 0; qy < g.H; ++qy) {
        for (int64_t qx = 0; qx < g.W; ++qx) {
          const Taps<T> t = taps_at(g, flow, n, qy, qx);
          if (!t.valid) continue;
          const T* src = gwn + ((n * g.H + qy) * g.W + qx) * C;
          for (int k = 0; k < 4; ++k) {
            if (!t.tap_in(k)) continue;
            T* dst = gf2n + ((n * g.H + t.tap_y(k)) * g.W + t.tap_x(k)) * C;
            const T w = t.w[k];
            for (int64_t c = c0; c < c1; ++c) dst[c] += w * src[c];
          }
        }
      }
    }
  });
}

// ------------------------------------------------------------------------------------------------------------
// Tensor plumbing.

at::ScalarType compute_type(at::ScalarType t) {
  return t == at::kDouble ? at::kDouble : at::kFloat;
}

// Blocked NCHW -> NHWC transpose with conversion to the compute type: tiles of 16 channels x 64 pixels stay in
// L1 (a permuted at::Tensor::copy_ measured 3-4x slower, as slow as the correlation itself).
template <typename S, typename T>
void nchw_to_nhwc(const S* src, T* dst, int64_t N, int64_t C, int64_t HW) {
  constexpr int64_t kPix = 64, kChan = 16;
  const int64_t nblk = (HW + kPix - 1) / kPix;
  at::parallel_for(0, N * nblk, 16, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t n = b / nblk, p0 = (b % nblk) * kPix, p1 = std::min(HW, p0 + kPix);
      for (int64_t c0 = 0; c0 < C; c0 += kChan) {
        const int64_t c1 = std::min(C, c0 + kChan);
        for (int64_t p = p0; p < p1; ++p) {
          T* d = dst + (n * HW + p) * C;
          for (int64_t c = c0; c < c1; ++c) d[c] = static_cast<T>(src[(n * C + c) * HW + p]);
        }
      }
    }
  });
}

// (N, C, H, W) -> contiguous (N, H, W, C) in dtype `ct`; free when the input is already channels-last.
at::Tensor to_nhwc(const at::Tensor& t, at::ScalarType ct) {
  at::Tensor p = t.permute({0, 2, 3, 1});
  if (p.is_contiguous() && t.scalar_type() == ct) return p;
  at::Tensor out = at::empty(p.sizes(), t.options().dtype(ct));
  if (!t.is_contiguous()) {
    out.copy_(p);
    return out;
  }
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, t.scalar_type(), "lfn2_to_nhwc", [&] {
    using src_t = scalar_t;
    AT_DISPATCH_FLOATING_TYPES(ct, "lfn2_to_nhwc_out", [&] {
      nchw_to_nhwc<src_t, scalar_t>(t.data_ptr<src_t>(), out.data_ptr<scalar_t>(), t.size(0), t.size(1),
                                    t.size(2) * t.size(3));
    });
  });
  return out;
}

at::Tensor nhwc_to_nchw(const at::Tensor& t, at::ScalarType dtype) {
  return t.permute({0, 3, 1, 2}).to(dtype, /*non_blocking=*/false, /*copy=*/false,
                                    at::MemoryFormat::Contiguous);
}

at::Tensor correlation_cpu(const at::Tensor& f1, const at::Tensor& f2, const std::optional<at::Tensor>& flow,
                           int64_t max_displacement, int64_t stride, int64_t dilation_patch,
                           double negative_slope) {
  check_correlation_args(f1, f2, flow, max_displacement, stride, dilation_patch, negative_slope);
  TORCH_INTERNAL_ASSERT(f1.device().is_cpu());
  const Geometry g = problem_shape_of<int64_t>(f1, max_displacement, stride, dilation_patch);
  const at::ScalarType ct = compute_type(f1.scalar_type());
  at::Tensor out = at::empty({g.N, g.P * g.P, g.oH, g.oW}, f1.options().dtype(ct));
  if (out.numel() == 0) return out.to(f1.scalar_type());
  if (g.C == 0) return out.zero_().to(f1.scalar_type());
  if (cpu::rows_supported(f1, max_displacement, stride, dilation_patch)) {
    const at::Tensor f1c = f1.to(ct).contiguous(), f2c = f2.to(ct).contiguous();
    const at::Tensor fl = flow.has_value() ? flow->to(ct).contiguous() : at::Tensor();
    cpu::correlation_rows_forward(f1c, f2c, fl.defined() ? &fl : nullptr, max_displacement, stride,
                                  negative_slope, out);
    return out.to(f1.scalar_type());
  }
  const at::Tensor f1n = to_nhwc(f1, ct), f2n = to_nhwc(f2, ct);
  const at::Tensor fl = flow.has_value() ? flow->to(ct).contiguous() : at::Tensor();
  AT_DISPATCH_FLOATING_TYPES(ct, "lfn2_correlation_cpu", [&] {
    forward_impl<scalar_t>(g, f1n.data_ptr<scalar_t>(), f2n.data_ptr<scalar_t>(),
                           fl.defined() ? fl.data_ptr<scalar_t>() : nullptr,
                           static_cast<scalar_t>(negative_slope), out.data_ptr<scalar_t>());
  });
  return out.to(f1.scalar_type());
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> correlation_backward_cpu(
    const at::Tensor& grad_out, const at::Tensor& out, const at::Tensor& f1, const at::Tensor& f2,
    const std::optional<at::Tensor>& flow, int64_t max_displacement, int64_t stride, int64_t dilation_patch,
    double negative_slope) {
  check_correlation_args(f1, f2, flow, max_displacement, stride, dilation_patch, negative_slope);
  check_correlation_grad(grad_out, out, f1, max_displacement, stride);
  TORCH_INTERNAL_ASSERT(f1.device().is_cpu());
  const Geometry g = problem_shape_of<int64_t>(f1, max_displacement, stride, dilation_patch);
  const at::ScalarType ct = compute_type(f1.scalar_type());
  const auto opts = f1.options().dtype(ct);
  at::Tensor gf1n = at::zeros({g.N, g.H, g.W, g.C}, opts);
  at::Tensor gf2n = at::zeros({g.N, g.H, g.W, g.C}, opts);
  at::Tensor gflow = flow.has_value() ? at::zeros({g.N, 2, g.H, g.W}, opts) : at::empty({0}, opts);
  if (grad_out.numel() > 0 && g.C > 0) {
    // lrelu'(pre) from the output: with negative_slope >= 0, pre > 0 iff out > 0 (as torch's leaky_relu).
    const at::Tensor go = grad_out.to(ct);
    const at::Tensor gp = at::where(out.gt(0), go, go * negative_slope).contiguous();
    const at::Tensor f1n = to_nhwc(f1, ct), f2n = to_nhwc(f2, ct);
    const at::Tensor fl = flow.has_value() ? flow->to(ct).contiguous() : at::Tensor();
    AT_DISPATCH_FLOATING_TYPES(ct, "lfn2_correlation_backward_cpu", [&] {
      const scalar_t* flp = fl.defined() ? fl.data_ptr<scalar_t>() : nullptr;
      grad_f1_impl<scalar_t>(g, gp.data_ptr<scalar_t>(), f2n.data_ptr<scalar_t>(), flp,
                             gf1n.data_ptr<scalar_t>());
      if (flp == nullptr) {
        grad_w_impl<scalar_t>(g, gp.data_ptr<scalar_t>(), f1n.data_ptr<scalar_t>(), f2n.data_ptr<scalar_t>(),
                              nullptr, gf2n.data_ptr<scalar_t>(), nullptr);
      } else {
        at::Tensor gwn = at::zeros({g.N, g.H, g.W, g.C}, opts);
        grad_w_impl<scalar_t>(g, gp.data_ptr<scalar_t>(), f1n.data_ptr<scalar_t>(), f2n.data_ptr<scalar_t>(),
                              flp, gwn.data_ptr<scalar_t>(), gflow.data_ptr<scalar_t>());
        scatter_warp_impl<scalar_t>(g, gwn.data_ptr<scalar_t>(), flp, gf2n.data_ptr<scalar_t>());
      }
    });
  }
  return {nhwc_to_nchw(gf1n, f1.scalar_type()), nhwc_to_nchw(gf2n, f1.scalar_type()),
          gflow.to(f1.scalar_type())};
}

}  // namespace

TORCH_LIBRARY_IMPL(lfn2, CPU, m) {
  m.impl("correlation", &correlation_cpu);
  m.impl("correlation_backward", &correlation_backward_cpu);
}

}  // namespace lfn2
