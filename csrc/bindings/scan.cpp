// deepcore._C cumulative-scan entries: validation, then csrc/scan.h.
//
//   scan_forward(x, axis, op, reverse=False) -> y, or (y, idx) for op 'max' / 'min'
//   scan_backward(op, dy, axis, x=None, y=None, idx=None) -> dx
// op is 'sum', 'prod', 'max', 'min' or 'logsumexp'; x is float32 / float64, C-contiguous, with
// at least one dimension. Backward reads x and y ('prod', 'logsumexp') or idx ('max', 'min':
// int64, every value a position along the axis); each must have dy's shape (and dtype).
// `reference=True` runs the naive forward of csrc/ref/scan_ref.cpp (for tests).
#include "scan.h"

#include "bindings/checks.h"
#include "bindings/nn_checks.h"
#include "bindings/registry.h"

namespace dc {

namespace {

ScanOp parse_op(const std::string& op) {
  static constexpr Choice<ScanOp> kOps[] = {{"sum", ScanOp::sum},
                                            {"prod", ScanOp::prod},
                                            {"max", ScanOp::max},
                                            {"min", ScanOp::min},
                                            {"logsumexp", ScanOp::logsumexp}};
  return parse_choice(op, "op", kOps);
}

bool has_indices(ScanOp op) { return op == ScanOp::max || op == ScanOp::min; }

ScanShape scan_shape(const ArrayArg& a, int64_t axis, const char* name) {
  if (a.ndim() == 0) throw py::value_error(std::string(name) + " must have at least 1 dimension");
  const AxisView v = axis_view(a, normalize_axis(axis, a.ndim(), name));
  return ScanShape{v.outer, v.n, v.inner};
}

py::object forward(const py::handle& x_obj, int64_t axis, const std::string& op_name, bool reverse,
                   bool reference) {
  const ScanOp op = parse_op(op_name);
  if (reverse && has_indices(op))
    throw py::value_error("reverse is not supported for op '" + op_name + "'");
  const ArrayArg x = any_array_arg(x_obj, "x", "float32 or float64");
  return dispatch_float(x, "x", [&](auto tag) -> py::object {
    using T = decltype(tag);
    check_c_contiguous(x, "x");
    const ScanShape s = scan_shape(x, axis, "x");
    auto* kernel = kernel_or_reference(scan_forward_device_stub<T>, x.device, reference,
                                       &ref::scan_forward<T>);
    const ArrayArg y = empty_on<T>(x.device, shape_of(x));
    const ArrayArg idx =
        empty_on<int64_t>(x.device, has_indices(op) ? shape_of(x) : std::vector<int64_t>{0});
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    int64_t* ip = has_indices(op) ? idx.data<int64_t>() : nullptr;
    {
      KernelScope nogil;
      kernel(op, s, xp, yp, ip, reverse);
    }
    if (has_indices(op)) return py::make_tuple(y.owner, idx.owner);
    return y.owner;
  });
}

py::object backward(const std::string& op_name, const py::handle& dy_obj, int64_t axis,
                    const py::object& x_obj, const py::object& y_obj, const py::object& idx_obj) {
  const ScanOp op = parse_op(op_name);
  const ArrayArg dy = any_array_arg(dy_obj, "dy", "float32 or float64");
  return dispatch_float(dy, "dy", [&](auto tag) -> py::object {
    using T = decltype(tag);
    check_c_contiguous(dy, "dy");
    const ScanShape s = scan_shape(dy, axis, "dy");
    const T *xp = nullptr, *yp = nullptr;
    const int64_t* ip = nullptr;
    ArrayArg x, y, idx;  // absent unless the op reads them
    if (op == ScanOp::prod || op == ScanOp::logsumexp) {
      if (x_obj.is_none() || y_obj.is_none())
        throw py::value_error("scan_backward of '" + op_name + "' needs x and y");
      x = input_arg<T>(x_obj, "x");
      y = input_arg<T>(y_obj, "y");
      check_same_shape(x, dy, "x", "dy");
      check_same_shape(y, dy, "y", "dy");
      xp = x.data<T>();
      yp = y.data<T>();
    } else if (has_indices(op)) {
      if (idx_obj.is_none()) throw py::value_error("scan_backward of '" + op_name + "' needs idx");
      idx = input_arg<int64_t>(idx_obj, "idx");
      check_same_shape(idx, dy, "idx", "dy");
      ip = idx.data<int64_t>();  // (checked by the kernel as it reads it)
    }
    const Device dev = same_device({&dy, &x, &y, &idx}, {"dy", "x", "y", "idx"});
    auto* kernel = scan_backward_device_stub<T>.get(dev);
    const ArrayArg dx = empty_on<T>(dev, shape_of(dy));
    const T* dyp = dy.data<T>();
    T* dxp = dx.data<T>();
    int64_t bad = 0;
    bool ok;
    {
      KernelScope nogil;
      ok = kernel(op, s, xp, yp, ip, dyp, dxp, &bad);
    }
    if (!ok)
      throw py::value_error("idx holds " + std::to_string(bad) + ", outside the axis of length " +
                            std::to_string(s.n));
    return dx.owner;
  });
}

}  // namespace

DC_BINDINGS(scan) {
  m.def("scan_forward", &forward, py::arg("x"), py::arg("axis"), py::arg("op"),
        py::arg("reverse") = false, py::arg("reference") = false,
        "Cumulative scan of x along axis (op 'sum', 'prod', 'max', 'min', 'logsumexp'); 'max' "
        "and 'min' return (y, int64 indices). reverse: from the end (not for 'max' / 'min').");
  m.def("scan_backward", &backward, py::arg("op"), py::arg("dy"), py::arg("axis"),
        py::arg("x") = py::none(), py::arg("y") = py::none(), py::arg("idx") = py::none(),
        "dx of a cumulative scan from dy (and the forward's x, y for 'prod' / 'logsumexp', its "
        "indices for 'max' / 'min').");
}

}  // namespace dc
