// Argument parsing shared by the convolution and pooling bindings (conv.cpp, pool.cpp):
// per-axis ints (an int or one int per spatial axis) and padding specs (ints, pairs, or the
// strings 'valid', 'same', 'full'). Every error names the argument; integers go through
// py_int64 and sizes derived from them are overflow-checked ([Note: checked integers]).
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "bindings/checks.h"

namespace dc {

inline std::string repr_str(const py::handle& obj) { return std::string(py::str(py::repr(obj))); }

// An int, or a sequence of `nsp` ints, as nsp values; each must be >= min_value. NumPy
// integers are accepted; a bool, a float or an integer outside int64 is refused.
inline std::vector<int64_t> spatial_ints(const py::handle& obj, int nsp, const std::string& name,
                                         int64_t min_value, const char* what) {
  std::vector<int64_t> v;
  if (PyIndex_Check(obj.ptr())) {  // an int (or a NumPy integer, or a bool: refused there)
    v.assign(nsp, py_int64(obj, name));
  } else if (py::isinstance<py::sequence>(obj) && !py::isinstance<py::str>(obj)) {
    auto seq = py::reinterpret_borrow<py::sequence>(obj);
    if (static_cast<int>(seq.size()) != nsp)
      throw py::value_error(name + " must be an int or a tuple of " + std::to_string(nsp) +
                            " ints, got " + repr_str(obj));
    for (int i = 0; i < nsp; ++i)
      v.push_back(py_int64(seq[i], name + "[" + std::to_string(i) + "]"));
  } else {
    throw py::type_error(name + " must be an int or a tuple of ints, got " +
                         std::string(py::str(py::type::of(obj).attr("__name__"))));
  }
  for (int64_t e : v)
    if (e < min_value) throw py::value_error(name + " must be " + what + ", got " + repr_str(obj));
  return v;
}

// The extent a kernel of size k (>= 1) and dilation dil covers: dil*(k-1) + 1.
inline int64_t kernel_extent(int64_t k, int64_t dil, int axis) {
  int64_t ext;
  if (mul_overflow(dil, k - 1, &ext) || add_overflow(ext, 1, &ext))
    throw py::value_error("dilation " + std::to_string(dil) + " with kernel size " +
                          std::to_string(k) + " along spatial axis " + std::to_string(axis) +
                          ": the dilated kernel extent dilation*(size-1)+1 does not fit in a "
                          "64-bit integer");
  return ext;
}

struct AxisPad {
  int64_t lo, hi;
};

// Padding per spatial axis from an int, a tuple of ints (symmetric), or a mode string:
//   'valid' - none;  'full' - dil*(k-1) on both sides;
//   'same'  - output size ceil(in / stride), the total split as TensorFlow/Keras do it (the
//             extra element, when the total is odd, goes after: bottom / right).
// `allow_full`: pooling has no 'full'. in >= 0, k >= 1, stride >= 1, dil >= 1.
inline std::vector<AxisPad> parse_padding(const py::handle& obj, const std::vector<int64_t>& in,
                                          const std::vector<int64_t>& k,
                                          const std::vector<int64_t>& stride,
                                          const std::vector<int64_t>& dil, bool allow_full) {
  const int nsp = static_cast<int>(in.size());
  std::vector<AxisPad> pads(nsp);
  if (py::isinstance<py::str>(obj)) {
    const auto mode = obj.cast<std::string>();
    for (int i = 0; i < nsp; ++i) {
      const int64_t ext = kernel_extent(k[i], dil[i], i);
      if (mode == "valid") {
        pads[i] = {0, 0};
      } else if (mode == "same") {
        // out = ceil(in / stride); total = (out-1)*stride + ext - in, where
        // in - (out-1)*stride lies in [1, stride] (in > 0), so nothing here can overflow
        const int64_t out = in[i] / stride[i] + (in[i] % stride[i] != 0);
        const int64_t total = in[i] == 0 ? ext - stride[i] : ext - (in[i] - (out - 1) * stride[i]);
        const int64_t t = std::max<int64_t>(total, 0);
        pads[i] = {t / 2, t - t / 2};
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

// *n = the element count of an array of this shape (dims >= 0); false when its size in bytes
// for the widest dtype (8 bytes) would not fit in 64 bits, which NumPy would refuse.
[[nodiscard]] inline bool numel_fits(const std::vector<int64_t>& shape, int64_t* n) {
  int64_t bytes = 8;
  bool empty = false;
  for (int64_t d : shape)
    if (d == 0)
      empty = true;
    else if (mul_overflow(bytes, d, &bytes))
      return false;
  *n = empty ? 0 : bytes / 8;
  return true;
}

// A shape given as a sequence of `ndim` non-negative ints, whose array could exist.
inline std::vector<int64_t> shape_arg(const py::handle& obj, size_t ndim, const char* name) {
  if (!py::isinstance<py::sequence>(obj) || py::isinstance<py::str>(obj))
    throw py::type_error(std::string(name) + " must be a tuple of ints, got " +
                         std::string(py::str(py::type::of(obj).attr("__name__"))));
  auto seq = py::reinterpret_borrow<py::sequence>(obj);
  if (seq.size() != ndim)
    throw py::value_error(std::string(name) + " must have " + std::to_string(ndim) +
                          " entries, got " + repr_str(obj));
  std::vector<int64_t> v;
  for (size_t i = 0; i < ndim; ++i)
    v.push_back(py_int64(seq[i], std::string(name) + "[" + std::to_string(i) + "]"));
  for (int64_t e : v)
    if (e < 0) throw py::value_error(std::string(name) + " must be non-negative: " + shape_str(v));
  int64_t n;
  if (!numel_fits(v, &n))
    throw py::value_error(std::string(name) + " " + shape_str(v) +
                          " is too large: its size in bytes does not fit in a 64-bit integer");
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
