// Each csrc/bindings/<area>.cpp binds one area of kernels to Python:
//
//   DC_BINDINGS(gemm) { m.def("sgemm", ...); }
//
// and module.cpp calls every registered area on import (in name order). Adding an area is
// adding a file; no central list to edit.
#pragma once

#include <pybind11/pybind11.h>

#include <map>
#include <string>

#include "core/threads.h"

namespace dc {

using BindFn = void (*)(pybind11::module_&);
std::map<std::string, BindFn>& binding_registry();

struct BindingRegistrar {
  BindingRegistrar(const char* area, BindFn fn) { binding_registry()[area] = fn; }
};

// Every binding runs its kernel inside one of these: the GIL is released, and the process-wide
// thread count is applied to the calling thread ([Note: process-wide thread count]).
//   { KernelScope nogil; conv2d_forward<T>(...); }
struct KernelScope {
  KernelScope() { apply_num_threads(); }
  pybind11::gil_scoped_release release;
};

}  // namespace dc

#define DC_BINDINGS(area)                                                                 \
  static void dc_bind_##area(pybind11::module_& m);                                       \
  static const ::dc::BindingRegistrar dc_binding_registrar_##area(#area, dc_bind_##area); \
  static void dc_bind_##area(pybind11::module_& m)
