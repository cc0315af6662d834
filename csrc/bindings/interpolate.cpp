// deepcore._C interpolation entries: validation, then csrc/interpolate.h.
//
//   interpolate_forward(x, size, mode, align_corners=False, scales=None) -> y
//   interpolate_backward(dy, input_shape, mode, align_corners=False, scales=None) -> dx
// x is (N, C, L) or (N, C, H, W); size one positive int per spatial axis (or one int for all);
// mode 'nearest' (PyTorch's legacy rule), 'nearest-exact' or 'linear' (bilinear on 4-D
// inputs); scales None or one positive finite float per spatial axis: the scale factors the
// caller derived the size from, used for the source coordinates as PyTorch does when
// recompute_scale_factor is not set (ignored with align_corners=True).
// out= (optional) receives y / dx; it must not overlap any input ([Note: out= aliasing]).
// `reference=True` runs the naive kernels of csrc/ref/interpolate_ref.cpp (for tests).
#include "interpolate.h"

#include <cmath>

#include "bindings/array_arg.h"
#include "bindings/checks.h"
#include "bindings/conv_args.h"
#include "bindings/registry.h"

namespace dc {

namespace {

InterpMode parse_mode(const std::string& mode) {
  static constexpr Choice<InterpMode> kModes[] = {{"nearest", InterpMode::nearest},
                                                  {"nearest-exact", InterpMode::nearest_exact},
                                                  {"linear", InterpMode::linear}};
  return parse_choice(mode, "mode", kModes);
}

int spatial_rank(const std::vector<int64_t>& shape, const char* name) {
  if (shape.size() != 3 && shape.size() != 4)
    throw py::value_error(std::string(name) +
                          " must be 3-dimensional (N, C, L) or 4-dimensional (N, C, H, W), got "
                          "shape " +
                          shape_str(shape));
  for (size_t i = 2; i < shape.size(); ++i)
    if (shape[i] < 1)
      throw py::value_error(std::string(name) + " must have non-empty spatial axes, got shape " +
                            shape_str(shape));
  return static_cast<int>(shape.size()) - 2;
}

std::vector<double> parse_scales(const py::handle& obj, int nsp) {
  std::vector<double> v(nsp, 0.0);
  if (obj.is_none()) return v;
  if (!py::isinstance<py::sequence>(obj) || py::isinstance<py::str>(obj))
    throw py::type_error("scales must be None or a tuple of floats, got " +
                         std::string(py::str(py::type::of(obj).attr("__name__"))));
  auto seq = py::reinterpret_borrow<py::sequence>(obj);
  if (static_cast<int>(seq.size()) != nsp)
    throw py::value_error("scales must have " + std::to_string(nsp) + " entries, got " +
                          repr_str(obj));
  for (int i = 0; i < nsp; ++i) {
    if (seq[i].is_none()) continue;
    if (py::isinstance<py::bool_>(seq[i]) || !PyNumber_Check(seq[i].ptr()))
      throw py::type_error("scales[" + std::to_string(i) + "] must be a float, got " +
                           repr_str(seq[i]));
    const double d = py::cast<double>(py::float_(py::reinterpret_borrow<py::object>(seq[i])));
    if (!(d > 0) || !std::isfinite(d))
      throw py::value_error("scales[" + std::to_string(i) + "] must be positive and finite, got " +
                            repr_str(seq[i]));
    v[i] = d;
  }
  return v;
}

// The geometry of one call from the input shape (N, C, spatial...) and the output's spatial
// sizes.
InterpShape interp_shape(const std::vector<int64_t>& xs, const std::vector<int64_t>& out,
                         const std::string& mode, bool align_corners, const py::handle& scales) {
  const int nsp = static_cast<int>(xs.size()) - 2;
  const auto sc = parse_scales(scales, nsp);
  InterpShape s{};
  s.planes = xs[0] * xs[1];
  s.H = nsp == 2 ? xs[2] : 1;
  s.W = xs[nsp + 1];
  s.P = nsp == 2 ? out[0] : 1;
  s.Q = out[nsp - 1];
  s.mode = parse_mode(mode);
  s.align_corners = align_corners;
  s.scale_h = nsp == 2 ? sc[0] : 0.0;
  s.scale_w = sc[nsp - 1];
  s.shortcuts = nsp == 2;  // PyTorch's 2-D nearest kernel has them, its 1-D one not
  return s;
}

std::vector<int64_t> y_shape(const std::vector<int64_t>& xs, const std::vector<int64_t>& out) {
  std::vector<int64_t> ys{xs[0], xs[1]};
  ys.insert(ys.end(), out.begin(), out.end());
  int64_t n;
  if (!numel_fits(ys, &n))
    throw py::value_error("size is too large: the output would have shape " + shape_str(ys) +
                          ", whose size in bytes does not fit in a 64-bit integer");
  return ys;
}

py::object forward(const py::handle& x_obj, const py::handle& size, const std::string& mode,
                   bool align_corners, const py::handle& scales, bool reference,
                   const py::object& out) {
  const ArrayArg x = any_array_arg(x_obj, "x");
  check_c_contiguous(x, "x");
  const auto xs = shape_of(x);
  const int nsp = spatial_rank(xs, "x");
  const auto osz = spatial_ints(size, nsp, "size", 1, "positive");
  const auto ys = y_shape(xs, osz);
  const auto s = interp_shape(xs, osz, mode, align_corners, scales);
  return dispatch_float(x, "x", [&](auto tag) -> py::object {
    using T = decltype(tag);
    auto* kernel = kernel_or_reference(interpolate_forward_device_stub<T>, x.device, reference,
                                       &ref::interpolate_forward<T>);
    const ArrayArg y = result_arg<T>(out, ys, "out", x, "x");
    check_no_overlap(y, x, "out", "x");
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    {
      KernelScope nogil;
      kernel(s, xp, yp);
    }
    return y.owner;
  });
}

py::object backward(const py::handle& dy_obj, const py::handle& input_shape,
                    const std::string& mode, bool align_corners, const py::handle& scales,
                    bool reference, const py::object& out) {
  const ArrayArg dy = any_array_arg(dy_obj, "dy");
  check_c_contiguous(dy, "dy");
  const auto ds = shape_of(dy);
  const int nsp = spatial_rank(ds, "dy");
  const auto xs = shape_arg(input_shape, 2 + nsp, "input_shape");
  spatial_rank(xs, "input_shape");
  if (xs[0] != ds[0] || xs[1] != ds[1])
    throw py::value_error("dy " + shape_str(ds) + " does not match input_shape " + shape_str(xs) +
                          " in its first two axes");
  const std::vector<int64_t> osz(ds.begin() + 2, ds.end());
  const auto s = interp_shape(xs, osz, mode, align_corners, scales);
  return dispatch_float(dy, "dy", [&](auto tag) -> py::object {
    using T = decltype(tag);
    auto* kernel = kernel_or_reference(interpolate_backward_device_stub<T>, dy.device, reference,
                                       &ref::interpolate_backward<T>);
    const ArrayArg dx = result_arg<T>(out, xs, "out", dy, "dy");
    check_no_overlap(dx, dy, "out", "dy");
    const T* dyp = dy.data<T>();
    T* dxp = dx.data<T>();
    {
      KernelScope nogil;
      kernel(s, dyp, dxp);
    }
    return dx.owner;
  });
}

}  // namespace

DC_BINDINGS(interpolate) {
  m.def("interpolate_forward", &forward, py::arg("x"), py::arg("size"), py::arg("mode"),
        py::arg("align_corners") = false, py::arg("scales") = py::none(),
        py::arg("reference") = false, py::arg("out") = py::none(),
        "Resample (N, C, L) / (N, C, H, W) to the spatial `size` by 'nearest', 'nearest-exact' "
        "or 'linear' interpolation (see csrc/interpolate.h).");
  m.def("interpolate_backward", &backward, py::arg("dy"), py::arg("input_shape"), py::arg("mode"),
        py::arg("align_corners") = false, py::arg("scales") = py::none(),
        py::arg("reference") = false, py::arg("out") = py::none(),
        "dx (input_shape): dy spread back over the sources of each output with its weights.");
}

}  // namespace dc
