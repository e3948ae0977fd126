// Copyright 2026 The lfn2_ros Authors
// SPDX-License-Identifier: Apache-2.0
//
// The channel loops of the channels-last CPU kernels (correlation_kernel.cpp): dot products of one f1 vector
// with up to 8 W vectors, and weighted sums of rows (the bilinear blend and the backward's gathers). float
// runs SIMD code chosen once per process by cpu_isa(); other types run plain loops. Included by
// correlation_kernel.cpp only, so these functions inline into its passes as before.
#pragma once

#include <cstdint>
#include <cstring>

#include "cpu_isa.h"

namespace lfn2 {
namespace cpu {

// Channel loops. `dots`: out[j] = sum_c a[c] * b[j][c]. `wsum`: out[c] = sum_j g[j] * b[j][c] (summed in j
// order, so for the four bilinear taps it equals grid_sample's ((nw + ne) + sw) + se).
// float gets explicit SIMD through GCC/Clang vector extensions, compiled for AVX-512 / AVX2 / the baseline and
// chosen at run time; other types use the plain loops.

template <typename T>
void dots_plain(const T* a, const T* const* b, int nb, int64_t C, T* out) {
  for (int j = 0; j < nb; ++j) {
    T s = 0;
    for (int64_t c = 0; c < C; ++c) s += a[c] * b[j][c];
    out[j] = s;
  }
}

template <typename T>
void wsum_plain(const T* g, const T* const* b, int nb, int64_t C, T* out) {
  for (int64_t c = 0; c < C; ++c) out[c] = T(0);
  for (int j = 0; j < nb; ++j) {
    const T gj = g[j];
    const T* bj = b[j];
    for (int64_t c = 0; c < C; ++c) out[c] += gj * bj[c];
  }
}

#if defined(__GNUC__)
#define LFN2_SIMD 1
#define LFN2_ALWAYS_INLINE inline __attribute__((always_inline))

struct Lanes4 {
  typedef float V __attribute__((vector_size(16)));
  static constexpr int L = 4;
};
struct Lanes8 {
  typedef float V __attribute__((vector_size(32)));
  static constexpr int L = 8;
};
struct Lanes16 {
  typedef float V __attribute__((vector_size(64)));
  static constexpr int L = 16;
};

template <typename V>
LFN2_ALWAYS_INLINE V loadu(const float* p) {
  V v;
  std::memcpy(&v, p, sizeof(V));
  return v;
}
template <typename V>
LFN2_ALWAYS_INLINE void storeu(float* p, V v) {
  std::memcpy(p, &v, sizeof(V));
}

// Horizontal sum by halving (vector adds of the two halves), not lane by lane: with C = 64..192 the final
// reductions would otherwise cost as much as the dot products themselves.
LFN2_ALWAYS_INLINE float hsum(Lanes4::V v) {
  return (v[0] + v[1]) + (v[2] + v[3]);
}
LFN2_ALWAYS_INLINE float hsum(Lanes8::V v) {
  Lanes4::V lo, hi;
  std::memcpy(&lo, &v, sizeof(lo));
  std::memcpy(&hi, reinterpret_cast<const char*>(&v) + sizeof(lo), sizeof(hi));
  return hsum(lo + hi);
}
LFN2_ALWAYS_INLINE float hsum(Lanes16::V v) {
  Lanes8::V lo, hi;
  std::memcpy(&lo, &v, sizeof(lo));
  std::memcpy(&hi, reinterpret_cast<const char*>(&v) + sizeof(lo), sizeof(hi));
  return hsum(lo + hi);
}

// NB dot products sharing the vector a: a is loaded once per chunk (register blocking over displacements).
template <class Lanes, int NB>
LFN2_ALWAYS_INLINE void dots_block(const float* a, const float* const* b, int64_t C, float* out) {
  using V = typename Lanes::V;
  constexpr int L = Lanes::L;
  V acc[NB];
  for (int j = 0; j < NB; ++j) acc[j] = V{};
  int64_t c = 0;
  for (; c + L <= C; c += L) {
    const V va = loadu<V>(a + c);
    for (int j = 0; j < NB; ++j) acc[j] += va * loadu<V>(b[j] + c);
  }
  for (int j = 0; j < NB; ++j) {
    float s = hsum(acc[j]);
    for (int64_t cc = c; cc < C; ++cc) s += a[cc] * b[j][cc];
    out[j] = s;
  }
}

template <class Lanes>
LFN2_ALWAYS_INLINE void dots_simd(const float* a, const float* const* b, int nb, int64_t C, float* out) {
  while (nb > 0) {
    const int k = nb < 8 ? nb : 8;
    switch (k) {
      case 1: dots_block<Lanes, 1>(a, b, C, out); break;
      case 2: dots_block<Lanes, 2>(a, b, C, out); break;
      case 3: dots_block<Lanes, 3>(a, b, C, out); break;
      case 4: dots_block<Lanes, 4>(a, b, C, out); break;
      case 5: dots_block<Lanes, 5>(a, b, C, out); break;
      case 6: dots_block<Lanes, 6>(a, b, C, out); break;
      case 7: dots_block<Lanes, 7>(a, b, C, out); break;
      default: dots_block<Lanes, 8>(a, b, C, out); break;
    }
    b += k;
    out += k;
    nb -= k;
  }
}

template <class Lanes>
LFN2_ALWAYS_INLINE void wsum_simd(const float* g, const float* const* b, int nb, int64_t C, float* out) {
  using V = typename Lanes::V;
  constexpr int L = Lanes::L;
  int64_t c = 0;
  for (; c + L <= C; c += L) {
    V acc = V{};
    for (int j = 0; j < nb; ++j) acc += g[j] * loadu<V>(b[j] + c);
    storeu<V>(out + c, acc);
  }
  for (; c < C; ++c) {
    float s = 0.f;
    for (int j = 0; j < nb; ++j) s += g[j] * b[j][c];
    out[c] = s;
  }
}

inline void dots_base(const float* a, const float* const* b, int nb, int64_t C, float* out) {
  dots_simd<Lanes8>(a, b, nb, C, out);
}
inline void wsum_base(const float* g, const float* const* b, int nb, int64_t C, float* out) {
  wsum_simd<Lanes8>(g, b, nb, C, out);
}
#if defined(__x86_64__) || defined(__i386__)
#define LFN2_X86_DISPATCH 1
__attribute__((target("avx2"))) inline void dots_avx2(const float* a, const float* const* b, int nb, int64_t C,
                                                      float* out) {
  dots_simd<Lanes8>(a, b, nb, C, out);
}
__attribute__((target("avx2"))) inline void wsum_avx2(const float* g, const float* const* b, int nb, int64_t C,
                                                      float* out) {
  wsum_simd<Lanes8>(g, b, nb, C, out);
}
__attribute__((target("avx512f"))) inline void dots_avx512(const float* a, const float* const* b,
                                                           int nb, int64_t C, float* out) {
  dots_simd<Lanes16>(a, b, nb, C, out);
}
__attribute__((target("avx512f"))) inline void wsum_avx512(const float* g, const float* const* b,
                                                           int nb, int64_t C, float* out) {
  wsum_simd<Lanes16>(g, b, nb, C, out);
}
#endif
#endif  // __GNUC__

struct FloatLoops {
  void (*dots)(const float*, const float* const*, int, int64_t, float*);
  void (*wsum)(const float*, const float* const*, int, int64_t, float*);
};

// Chosen once per process from cpu_isa() (LFN2_CPU_ISA caps it; tests of the portable paths).
inline const FloatLoops& float_loops() {
  static const FloatLoops loops = [] {
    FloatLoops l{&dots_plain<float>, &wsum_plain<float>};
    const Isa isa = cpu_isa();
    if (isa == Isa::kPlain) return l;
#ifdef LFN2_SIMD
    l = {&dots_base, &wsum_base};
#ifdef LFN2_X86_DISPATCH
    if (isa == Isa::kAvx2) l = {&dots_avx2, &wsum_avx2};
    if (isa == Isa::kAvx512) l = {&dots_avx512, &wsum_avx512};
#endif
#endif
    return l;
  }();
  return loops;
}

template <typename T>
struct Loops {
  static void dots(const T* a, const T* const* b, int nb, int64_t C, T* out) { dots_plain(a, b, nb, C, out); }
  static void wsum(const T* g, const T* const* b, int nb, int64_t C, T* out) { wsum_plain(g, b, nb, C, out); }
};
template <>
struct Loops<float> {
  static void dots(const float* a, const float* const* b, int nb, int64_t C, float* out) {
    float_loops().dots(a, b, nb, C, out);
  }
  static void wsum(const float* g, const float* const* b, int nb, int64_t C, float* out) {
    float_loops().wsum(g, b, nb, C, out);
  }
};

}  // namespace cpu
}  // namespace lfn2
