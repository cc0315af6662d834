// The one extension module, deepcore._C. Each area binds itself (csrc/bindings/*.cpp).
#include <pybind11/pybind11.h>

#include "bindings/registry.h"
#include "core/device_dispatch.h"
#include "core/dispatch.h"
#include "core/memory.h"

namespace py = pybind11;

namespace dc {
std::map<std::string, BindFn>& binding_registry() {
  static std::map<std::string, BindFn> registry;
  return registry;
}
}  // namespace dc

PYBIND11_MODULE(_C, m) {
  m.doc() = "deepcore native kernels (C++/OpenMP, optional CUDA)";
  dc::cpu_capability();  // surface a bad DEEPCORE_CPU_CAPABILITY as an ImportError
  dc::tune_malloc();     // [Note: malloc tuning] in core/memory.h
  // [Note: device dispatch]: an empty CUDA/CPU slot of a DeviceStub is a NotImplementedError.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const dc::NoKernelError& e) {
      PyErr_SetString(PyExc_NotImplementedError, e.what());
    }
  });
  for (auto& [area, bind] : dc::binding_registry()) bind(m);
}
