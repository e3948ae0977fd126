// Copyright 2026 The lfn2_ros Authors
// SPDX-License-Identifier: Apache-2.0
//
// Schema of the lfn2 ops (the one TORCH_LIBRARY block; the schemas are in correlation.h) and the Python module init. The kernels register
// themselves per backend in cpu/correlation_kernel.cpp and cuda/correlation_kernel.cu; autograd and the fake
// (meta) kernels are registered in Python (lfn2_ros/ops/correlation.py).
#include <Python.h>
#include <torch/library.h>

#include "correlation.h"

TORCH_LIBRARY(lfn2, m) {
  m.def(lfn2::kCorrelationSchema);
  m.def(lfn2::kCorrelationBackwardSchema);
}

// Importing the shared object as a Python module (`import lfn2_ros.ops._C`) registers the ops above.
extern "C" {
PyObject* PyInit__C(void) {
  static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, nullptr};
  return PyModule_Create(&module_def);
}
}

#ifdef LFN2_SOURCES_HASH
// setup.py passes the hash of the sources and flags this module is built from (lfn2_ros/ops/_build.py,
// sources_hash). The loader reads it from the file without importing it: importing a module built from other
// sources would register the lfn2 namespace, and a fresh JIT build of the current sources could not load.
#define LFN2_STRINGIFY_IMPL(x) #x
#define LFN2_STRINGIFY(x) LFN2_STRINGIFY_IMPL(x)
extern "C" __attribute__((used, visibility("default"))) const char lfn2_sources_hash[] =
    "LFN2_SOURCES_HASH:" LFN2_STRINGIFY(LFN2_SOURCES_HASH);
#endif
