// Input validation for the binding layer. Kernels trust their inputs; every check happens here,
// with a message that names the argument and what was wrong.
//   auto a = as_array<float>(a_obj, "a");           // dtype float32, else TypeError
//   check_ndim(a, 2, "a"); check_c_contiguous(a, "a"); check_shape(out, {m, n}, "out");
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

namespace dc {
namespace py = pybind11;

template <typename T>
const char* dtype_name() {
  if constexpr (std::is_same_v<T, float>) return "float32";
  if constexpr (std::is_same_v<T, double>) return "float64";
  if constexpr (std::is_same_v<T, int64_t>) return "int64";
  if constexpr (std::is_same_v<T, int32_t>) return "int32";
  if constexpr (std::is_same_v<T, uint8_t>) return "uint8";
  return "?";
}

inline std::string shape_str(const py::array& a) {
  std::ostringstream s;
  s << "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s << (i ? ", " : "") << a.shape(i);
  if (a.ndim() == 1) s << ",";
  s << ")";
  return s.str();
}

inline std::string shape_str(const std::vector<int64_t>& shape) {
  std::ostringstream s;
  s << "(";
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  if (shape.size() == 1) s << ",";
  s << ")";
  return s.str();
}

// Require a NumPy array of exactly dtype T (no silent conversion: a float64 array passed to a
// float32 kernel is a bug at the call site, not something to copy behind the user's back).
template <typename T>
py::array_t<T> as_array(const py::handle& obj, const char* name) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(std::string(name) + " must be a numpy array of " + dtype_name<T>() +
                         ", got " + std::string(py::str(py::type::of(obj).attr("__name__"))));
  py::array a = py::reinterpret_borrow<py::array>(obj);
  if (!a.dtype().is(py::dtype::of<T>()))
    throw py::type_error(std::string(name) + " must have dtype " + dtype_name<T>() + ", got " +
                         std::string(py::str(a.dtype())));
  return py::reinterpret_borrow<py::array_t<T>>(a);
}

inline void check_ndim(const py::array& a, py::ssize_t ndim, const char* name) {
  if (a.ndim() != ndim)
    throw py::value_error(std::string(name) + " must be " + std::to_string(ndim) +
                          "-dimensional, got shape " + shape_str(a));
}

inline void check_c_contiguous(const py::array& a, const char* name) {
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(std::string(name) +
                          " must be C-contiguous (use np.ascontiguousarray); got strides that "
                          "are not row-major contiguous");
}

inline void check_writeable(const py::array& a, const char* name) {
  if (!a.writeable()) throw py::value_error(std::string(name) + " must be writeable");
}

inline void check_shape(const py::array& a, std::initializer_list<int64_t> shape,
                        const char* name) {
  std::vector<int64_t> want(shape);
  bool ok = a.ndim() == static_cast<py::ssize_t>(want.size());
  for (size_t i = 0; ok && i < want.size(); ++i) ok = a.shape(i) == want[i];
  if (!ok)
    throw py::value_error(std::string(name) + " must have shape " + shape_str(want) + ", got " +
                          shape_str(a));
}

// Two arrays overlap in memory (a kernel writing one while reading the other would be wrong).
inline bool may_share_memory(const py::array& a, const py::array& b) {
  auto lo_a = reinterpret_cast<uintptr_t>(a.data());
  auto lo_b = reinterpret_cast<uintptr_t>(b.data());
  auto hi_a = lo_a + static_cast<uintptr_t>(a.nbytes());
  auto hi_b = lo_b + static_cast<uintptr_t>(b.nbytes());
  return a.nbytes() > 0 && b.nbytes() > 0 && lo_a < hi_b && lo_b < hi_a;
}

}  // namespace dc

namespace dc {

// [Note: dtype dispatch] Turn a runtime dtype into a template instantiation once, at the
// boundary:   return dispatch_float(x, "x", [&](auto tag) { using T = decltype(tag); ... });
template <typename F>
auto dispatch_float(const py::array& a, const char* name, F&& f) {
  if (a.dtype().is(py::dtype::of<float>())) return f(float{});
  if (a.dtype().is(py::dtype::of<double>())) return f(double{});
  throw py::type_error(std::string(name) + " must have dtype float32 or float64, got " +
                       std::string(py::str(a.dtype())));
}

// Same dtype as a reference array (all operands of a kernel share one dtype).
inline void check_same_dtype(const py::array& a, const py::array& ref, const char* name,
                             const char* ref_name) {
  if (!a.dtype().is(ref.dtype()))
    throw py::type_error(std::string(name) + " has dtype " + std::string(py::str(a.dtype())) +
                         " but " + ref_name + " has " + std::string(py::str(ref.dtype())));
}

}  // namespace dc
