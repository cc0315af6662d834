// Argument parsing of the windowed ops (conv.cpp, pool.cpp; interpolate.cpp's sizes): per-axis
// ints (an int or one int per spatial axis), padding specs (ints, pairs, or the strings
// 'valid', 'same', 'full'), the dilated kernel extent, and dy against the output's shape.
// Every error names the argument; integers go through py_int64 and sizes derived from them are
// overflow-checked ([Note: checked integers]). Array arguments are ArrayArgs
// (bindings/array_arg.h); shapes given as tuples go through shape_arg (bindings/checks.h).
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "bindings/checks.h"

namespace dc {

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
    for (int i = 0; i < nsp; ++i) v.push_back(py_int64_at(seq[i], name, i));
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

// A gradient of the output must have the output's shape.
template <typename A>
void check_dy(const A& dy, const std::vector<int64_t>& want) {
  if (shape_of(dy) != want)
    throw py::value_error("dy must have the output's shape " + shape_str(want) + ", got " +
                          shape_str(dy));
}

}  // namespace dc
