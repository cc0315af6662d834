// Binding helpers shared by the nn kernels (activation, softmax, norm, scan, ...): axis handling
// and output allocation, on ArrayArgs ([Note: device dispatch]). Validation only; the kernels
// trust what these pass on.
#pragma once

#include <string>
#include <vector>

#include "bindings/array_arg.h"
#include "bindings/checks.h"

namespace dc {

// Normalise a possibly negative axis of an ndim-dimensional argument, or raise ValueError.
inline int64_t normalize_axis(int64_t axis, py::ssize_t ndim, const char* name) {
  if (axis < -ndim || axis >= ndim)
    throw py::value_error("axis " + std::to_string(axis) + " is out of range for " + name +
                          " with " + std::to_string(ndim) + " dimension" + (ndim == 1 ? "" : "s"));
  return axis < 0 ? axis + ndim : axis;
}

// View a C-contiguous array as (outer, n_axis, inner) around `axis` (already normalised).
struct AxisView {
  int64_t outer = 1, n = 1, inner = 1;
};
template <typename A>
AxisView axis_view(const A& a, int64_t axis) {
  AxisView v;
  for (int64_t d = 0; d < a.ndim(); ++d) {
    if (d < axis)
      v.outer *= a.shape(d);
    else if (d == axis)
      v.n = a.shape(d);
    else
      v.inner *= a.shape(d);
  }
  return v;
}

inline std::vector<py::ssize_t> shape_of(const py::array& a) {
  return std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim());
}

// An array of exactly dtype T, C-contiguous (else TypeError / ValueError naming it).
template <typename T>
py::array_t<T> contiguous_input(const py::handle& obj, const char* name) {
  auto a = as_array<T>(obj, name);
  check_c_contiguous(a, name);
  return a;
}

template <typename A, typename B>
void check_same_shape(const A& a, const B& ref, const char* name, const char* ref_name) {
  bool ok = a.ndim() == ref.ndim();
  for (int64_t d = 0; ok && d < a.ndim(); ++d) ok = a.shape(d) == ref.shape(d);
  if (!ok)
    throw py::value_error(std::string(name) + " has shape " + shape_str(a) + " but " + ref_name +
                          " has shape " + shape_str(ref) + "; they must match");
}

// out= if given (dtype T, the shape and device of `like`, C-contiguous, writeable), else a new
// array on like's device. Look the kernel up before calling this (an empty slot raises first).
template <typename T>
ArrayArg output_arg(const py::object& out_obj, const ArrayArg& like, const char* name) {
  if (out_obj.is_none())
    return empty_on(like.device, like.shape_.data(), like.shape_.size(), dtype_of<T>());
  ArrayArg out = array_arg<T>(out_obj, name);
  same_device({&like, &out}, {"the input", name});
  check_same_shape(out, like, name, "the input");
  check_c_contiguous(out, name);
  check_writeable(out, name);
  return out;
}

}  // namespace dc
