// Argument parsing shared by the convolution and pooling bindings (conv.cpp, pool.cpp):
// per-axis ints (an int or one int per spatial axis) and padding specs (ints, pairs, or the
// strings 'valid', 'same', 'full'). Every error names the argument.
#pragma once

#include <string>
#include <vector>

#include "bindings/checks.h"

namespace dc {

// An int, or a sequence of `nsp` ints, as nsp values; each must be >= min_value.
inline std::vector<int64_t> spatial_ints(const py::handle& obj, int nsp, const char* name,
                                         int64_t min_value, const char* what) {
  std::vector<int64_t> v;
  if (py::isinstance<py::bool_>(obj))
    throw py::type_error(std::string(name) + " must be an int or a tuple of ints, got bool");
  if (py::isinstance<py::int_>(obj)) {
    v.assign(nsp, obj.cast<int64_t>());
  } else if (py::isinstance<py::sequence>(obj) && !py::isinstance<py::str>(obj)) {
    auto seq = py::reinterpret_borrow<py::sequence>(obj);
    if (static_cast<int>(seq.size()) != nsp)
      throw py::value_error(std::string(name) + " must be an int or a tuple of " +
                            std::to_string(nsp) + " ints, got " +
                            std::string(py::str(py::repr(obj))));
    for (auto item : seq) {
      if (!py::isinstance<py::int_>(item) || py::isinstance<py::bool_>(item))
        throw py::type_error(std::string(name) + " must contain ints, got " +
                             std::string(py::str(py::repr(obj))));
      v.push_back(item.cast<int64_t>());
    }
  } else {
    throw py::type_error(std::string(name) + " must be an int or a tuple of ints, got " +
                         std::string(py::str(py::type::of(obj).attr("__name__"))));
  }
  for (int64_t e : v)
    if (e < min_value)
      throw py::value_error(std::string(name) + " must be " + what + ", got " +
                            std::string(py::str(py::repr(obj))));
  return v;
}

struct AxisPad {
  int64_t lo, hi;
};

// Padding per spatial axis from an int, a tuple of ints (symmetric), or a mode string:
//   'valid' - none;  'full' - dil*(k-1) on both sides;
//   'same'  - output size ceil(in / stride), the total split as TensorFlow/Keras do it (the
//             extra element, when the total is odd, goes after: bottom / right).
// `modes` lists the strings this op accepts (pooling has no 'full').
inline std::vector<AxisPad> parse_padding(const py::handle& obj, const std::vector<int64_t>& in,
                                          const std::vector<int64_t>& k,
                                          const std::vector<int64_t>& stride,
                                          const std::vector<int64_t>& dil, bool allow_full) {
  const int nsp = static_cast<int>(in.size());
  std::vector<AxisPad> pads(nsp);
  if (py::isinstance<py::str>(obj)) {
    const auto mode = obj.cast<std::string>();
    for (int i = 0; i < nsp; ++i) {
      const int64_t ext = dil[i] * (k[i] - 1) + 1;
      if (mode == "valid") {
        pads[i] = {0, 0};
      } else if (mode == "same") {
        const int64_t out = (in[i] + stride[i] - 1) / stride[i];
        const int64_t total = std::max<int64_t>((out - 1) * stride[i] + ext - in[i], 0);
        pads[i] = {total / 2, total - total / 2};
      } else if (mode == "full" && allow_full) {
        pads[i] = {ext - 1, ext - 1};
      } else {
        throw py::value_error(
            "padding must be an int, a tuple of ints, " +
            std::string(allow_full ? "'valid', 'same' or 'full'" : "'valid' or 'same'") +
            ", got '" + mode + "'");
      }
    }
    return pads;
  }
  const auto p = spatial_ints(obj, nsp, "padding", 0, "non-negative");
  for (int i = 0; i < nsp; ++i) pads[i] = {p[i], p[i]};
  return pads;
}

// A NumPy array (any dtype; the kernel's dtype dispatch checks it), else TypeError.
inline py::array require_array(const py::handle& obj, const char* name) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(std::string(name) + " must be a numpy array, got " +
                         std::string(py::str(py::type::of(obj).attr("__name__"))));
  return py::reinterpret_borrow<py::array>(obj);
}

inline std::vector<int64_t> shape_of(const py::array& a) {
  return std::vector<int64_t>(a.shape(), a.shape() + a.ndim());
}

inline std::vector<int64_t> shape_arg(const py::handle& obj, size_t ndim, const char* name) {
  std::vector<int64_t> v;
  if (!py::isinstance<py::sequence>(obj) || py::isinstance<py::str>(obj))
    throw py::type_error(std::string(name) + " must be a tuple of ints");
  for (auto item : py::reinterpret_borrow<py::sequence>(obj)) v.push_back(item.cast<int64_t>());
  if (v.size() != ndim)
    throw py::value_error(std::string(name) + " must have " + std::to_string(ndim) +
                          " entries, got " + shape_str(v));
  for (int64_t e : v)
    if (e < 0) throw py::value_error(std::string(name) + " must be non-negative: " + shape_str(v));
  return v;
}

// The result array: a new one, or `out` (dtype T, the exact shape, C-contiguous, writeable).
// Passing `out` lets a caller reuse memory, skipping the page faults of a fresh allocation.
template <typename T>
py::array_t<T> result_array(const py::handle& out, const std::vector<int64_t>& shape,
                            const char* name) {
  if (out.is_none()) return py::array_t<T>(shape);
  auto a = as_array<T>(out, name);
  if (shape_of(a) != shape)
    throw py::value_error(std::string(name) + " must have shape " + shape_str(shape) + ", got " +
                          shape_str(a));
  check_c_contiguous(a, name);
  check_writeable(a, name);
  return a;
}

// A gradient of the output must have the output's shape.
inline void check_dy(const py::array& dy, const std::vector<int64_t>& want) {
  if (shape_of(dy) != want)
    throw py::value_error("dy must have the output's shape " + shape_str(want) + ", got " +
                          shape_str(dy));
}

inline py::tuple to_tuple(const std::vector<int64_t>& v) {
  py::tuple t(v.size());
  for (size_t i = 0; i < v.size(); ++i) t[i] = py::int_(v[i]);
  return t;
}

// "x must be 4-dimensional (N, C, H, W), got shape (3, 4)"
inline void check_rank(const py::array& a, int ndim, const char* name, const char* layout) {
  if (a.ndim() != ndim)
    throw py::value_error(std::string(name) + " must be " + std::to_string(ndim) + "-dimensional " +
                          layout + ", got shape " + shape_str(a));
}

}  // namespace dc
