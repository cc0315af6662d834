// deepcore._C padding entries: validation, then csrc/pad.h.
//
//   pad(x, widths, mode="constant", fill=None) -> y
//   pad_backward(dy, input_shape, widths, mode="constant") -> dx
// widths: (before_0, after_0, before_1, after_1, ...), one pair per axis of x, each an int
// (negative: crop that many elements first); mode 'constant', 'edge', 'reflect', 'symmetric'
// or 'wrap' (NumPy's names; any width, as np.pad); fill: None (zero) or a one-element array of
// x's dtype, for 'constant'. x: C-contiguous, a boolean, integer or float dtype (its bits are
// copied); dy: float32 or float64 with the padded shape of input_shape.
// `reference=True` runs the naive kernels of csrc/ref/pad_ref.cpp (for tests).
#include "pad.h"

#include <string>

#include "bindings/array_arg.h"
#include "bindings/checks.h"
#include "bindings/registry.h"

namespace dc {

namespace {

constexpr Choice<PadMode> kModes[] = {{"constant", PadMode::constant},
                                      {"edge", PadMode::edge},
                                      {"reflect", PadMode::reflect},
                                      {"symmetric", PadMode::symmetric},
                                      {"wrap", PadMode::wrap}};

PadMode parse_mode(const std::string& mode) { return parse_choice(mode, "mode", kModes); }

const char* mode_name(PadMode m) {
  for (const auto& c : kModes)
    if (c.value == m) return c.name;
  return "?";
}

// The checked geometry of padding `shape` by `widths_obj` in `mode` (with the inverse maps for
// the backward).
PadGeometry geometry_arg(const std::vector<int64_t>& shape, const py::handle& widths_obj,
                         PadMode mode, bool inverse) {
  if (!py::isinstance<py::sequence>(widths_obj) || py::isinstance<py::str>(widths_obj))
    throw py::type_error("widths must be a tuple of ints, got " + type_name(widths_obj));
  const auto seq = py::reinterpret_borrow<py::sequence>(widths_obj);
  const size_t nd = shape.size();
  if (nd > 64) throw py::value_error("pad supports at most 64 dimensions");
  if (seq.size() != 2 * nd)
    throw py::value_error("widths must have two ints (before, after) per axis of x (" +
                          std::to_string(2 * nd) + "), got " + repr_str(widths_obj));
  std::vector<int64_t> w(2 * nd), out(nd);
  for (size_t i = 0; i < 2 * nd; ++i) w[i] = py_int64_at(seq[i], "widths", i);
  for (size_t d = 0; d < nd; ++d) {
    const int64_t b = w[2 * d], a = w[2 * d + 1];
    int64_t nc, no;
    const auto axis = [&] {
      return "(" + std::to_string(b) + ", " + std::to_string(a) + ") for axis " +
             std::to_string(d) + " of size " + std::to_string(shape[d]);
    };
    if (add_overflow(shape[d], std::min<int64_t>(b, 0), &nc) ||
        add_overflow(nc, std::min<int64_t>(a, 0), &nc) || nc < 0)
      throw py::value_error("widths " + axis() + " would give it a negative size");
    if (nc == 0 && mode != PadMode::constant && (b > 0 || a > 0))
      throw py::value_error(std::string("mode '") + mode_name(mode) +
                            "' cannot pad the empty axis " + std::to_string(d) + " (widths " +
                            axis() + ")");
    if (add_overflow(nc, std::max<int64_t>(b, 0), &no) ||
        add_overflow(no, std::max<int64_t>(a, 0), &no))
      throw py::value_error("widths " + axis() + " give a size that does not fit in 64 bits");
    out[d] = no;
  }
  int64_t n;
  if (!numel_fits(out, &n))
    throw py::value_error("the padded array " + shape_str(out) +
                          " is too large: its size in bytes does not fit in a 64-bit integer");
  return pad_geometry(shape, w, mode, inverse);
}

// Dispatch over element widths: the forward copies bits.
template <typename F>
auto dispatch_width(const ArrayArg& x, F&& f) {
  const char kind = x.dtype().kind();
  if (kind != 'b' && kind != 'i' && kind != 'u' && kind != 'f')
    throw py::type_error("x must have a boolean, integer or float dtype, got " +
                         std::string(py::str(x.dtype())));
  switch (x.itemsize()) {
    case 1:
      return f(uint8_t{});
    case 2:
      return f(uint16_t{});
    case 4:
      return f(uint32_t{});
    case 8:
      return f(uint64_t{});
    default:
      throw py::type_error("x must have an element of 1, 2, 4 or 8 bytes, got " +
                           std::string(py::str(x.dtype())));
  }
}

py::object pad_entry(const py::handle& x_obj, const py::handle& widths, const std::string& mode_s,
                     const py::handle& fill_obj, bool reference) {
  const PadMode mode = parse_mode(mode_s);
  const ArrayArg x = any_array_arg(x_obj, "x");
  return dispatch_width(x, [&](auto tag) -> py::object {
    using E = decltype(tag);
    check_c_contiguous(x, "x");
    ArrayArg fill;
    if (!fill_obj.is_none()) {
      if (mode != PadMode::constant)
        throw py::value_error("fill is only for mode 'constant', not '" + mode_s + "'");
      fill = any_array_arg(fill_obj, "fill");
      check_same_dtype(fill, x, "fill", "x");
      if (fill.size() != 1 || fill.device != Device::cpu)
        throw py::value_error("fill must be a one-element NumPy array, got shape " +
                              shape_str(fill));
    }
    auto* kernel =
        kernel_or_reference(pad_forward_device_stub<E>, x.device, reference, &ref::pad_forward<E>);
    const PadGeometry g = geometry_arg(shape_of(x), widths, mode, false);
    const ArrayArg y = empty_on(x.device, g.out_shape, x.dtype());
    const E* fp = fill.present() ? fill.data<E>() : nullptr;
    {
      KernelScope nogil;
      if (y.size() > 0) kernel(g, x.data<E>(), y.data<E>(), fp);
    }
    return y.owner;
  });
}

py::object pad_backward_entry(const py::handle& dy_obj, const py::handle& input_shape,
                              const py::handle& widths, const std::string& mode_s, bool reference) {
  const PadMode mode = parse_mode(mode_s);
  const ArrayArg dy = any_array_arg(dy_obj, "dy", "float32 or float64");
  return dispatch_float(dy, "dy", [&](auto tag) -> py::object {
    using T = decltype(tag);
    check_c_contiguous(dy, "dy");
    const std::vector<int64_t> xs = shape_arg(input_shape, dy.ndim(), "input_shape");
    auto* kernel = kernel_or_reference(pad_backward_device_stub<T>, dy.device, reference,
                                       &ref::pad_backward<T>);
    const PadGeometry g = geometry_arg(xs, widths, mode, true);
    if (shape_of(dy) != g.out_shape)
      throw py::value_error("dy must have the padded shape " + shape_str(g.out_shape) + ", got " +
                            shape_str(dy));
    const ArrayArg dx = empty_on<T>(dy.device, xs);
    {
      KernelScope nogil;
      if (dx.size() > 0) kernel(g, dy.data<T>(), dx.data<T>());
    }
    return dx.owner;
  });
}

}  // namespace

DC_BINDINGS(pad) {
  m.def("pad", &pad_entry, py::arg("x"), py::arg("widths"), py::arg("mode") = "constant",
        py::arg("fill") = py::none(), py::arg("reference") = false,
        "x padded by widths (before_0, after_0, before_1, ...; negative crops) in NumPy's "
        "modes 'constant' (fill, default zero), 'edge', 'reflect', 'symmetric', 'wrap'.");
  m.def("pad_backward", &pad_backward_entry, py::arg("dy"), py::arg("input_shape"),
        py::arg("widths"), py::arg("mode") = "constant", py::arg("reference") = false,
        "dx of pad: each input element's sum of dy over the outputs that read it.");
}

}  // namespace dc
