// deepcore._C.axpy: the pilot of device dispatch ([Note: device dispatch]); validation, one
// device for all arrays, the stub's kernel for that device, then the call.
#include "axpy.h"

#include "bindings/array_arg.h"
#include "bindings/registry.h"

namespace dc {

namespace {

void axpy_entry(double a, const py::handle& x_obj, const py::handle& y_obj) {
  ArrayArg x = any_array_arg(x_obj, "x", "float32 or float64");
  ArrayArg y = any_array_arg(y_obj, "y", "float32 or float64");
  const Device dev = same_device({&x, &y}, {"x", "y"});
  check_same_dtype(y, x, "y", "x");
  if (x.shape_ != y.shape_)
    throw py::value_error("x and y must have the same shape, got " + shape_str(x) + " and " +
                          shape_str(y));
  check_c_contiguous(x, "x");
  check_c_contiguous(y, "y");
  check_writeable(y, "y");
  dispatch_float(x, "x", [&](auto tag) {
    using T = decltype(tag);
    auto* fn = axpy_device_stub<T>.get(dev);  // before any work: an empty slot raises here
    const int64_t n = x.size();
    const T* px = x.data<T>();
    T* py_ = y.data<T>();
    if (n > 0 && px != py_ && x.ptr < static_cast<void*>(py_ + n) &&
        static_cast<const void*>(py_) < static_cast<const void*>(px + n))
      throw py::value_error("y must not overlap x");
    KernelScope nogil;
    fn(n, static_cast<T>(a), px, py_);
  });
}

}  // namespace

DC_BINDINGS(axpy) {
  m.def("axpy", &axpy_entry, py::arg("a"), py::arg("x"), py::arg("y"),
        "y += a*x in place, on the device of x and y: NumPy arrays on the CPU, or arrays exposing "
        "__cuda_array_interface__ (CuPy) on the GPU when a CUDA kernel is built (float32). "
        "x and y: the same shape and dtype, C-contiguous; y may be x.");
}

}  // namespace dc
