// Copyright 2026 The lfn2_ros Authors
// SPDX-License-Identifier: Apache-2.0
//
// Run-time choice of the CPU instruction set of the kernels. LFN2_CPU_ISA=plain|base|avx2 caps it, so the
// tests can run the portable loops (what an aarch64 Jetson executes) on an x86 machine.
#pragma once

#include <cstdlib>
#include <string>

namespace lfn2 {
namespace cpu {

enum class Isa { kPlain = 0, kBase = 1, kAvx2 = 2, kAvx512 = 3 };

// The highest instruction set this CPU has, capped by LFN2_CPU_ISA; read once per process.
inline Isa cpu_isa() {
  static const Isa isa = [] {
    const char* env = std::getenv("LFN2_CPU_ISA");
    const std::string want = env ? env : "";
    if (want == "plain") return Isa::kPlain;
#if !defined(__GNUC__)
    return Isa::kPlain;
#else
    if (want == "base") return Isa::kBase;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) return Isa::kBase;
    if (want == "avx2" || !__builtin_cpu_supports("avx512f")) return Isa::kAvx2;
    return Isa::kAvx512;
#else
    return Isa::kBase;
#endif
#endif
  }();
  return isa;
}

}  // namespace cpu
}  // namespace lfn2
