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
  if (op == "sum") return ScanOp::sum;
  if (op == "prod") return ScanOp::prod;
  if (op == "max") return ScanOp::max;
  if (op == "min") return ScanOp::min;
  if (op == "logsumexp") return ScanOp::logsumexp;
  throw py::value_error("op must be 'sum', 'prod', 'max', 'min' or 'logsumexp', got '" + op + "'");
}

bool has_indices(ScanOp op) { return op == ScanOp::max || op == ScanOp::min; }

ScanShape scan_shape(const py::array& a, int64_t axis, const char* name) {
  if (a.ndim() == 0) throw py::value_error(std::string(name) + " must have at least 1 dimension");
  const AxisView v = axis_view(a, normalize_axis(axis, a.ndim(), name));
  return ScanShape{v.outer, v.n, v.inner};
}

py::object forward(const py::array& x_obj, int64_t axis, const std::string& op_name, bool reverse,
                   bool reference) {
  const ScanOp op = parse_op(op_name);
  if (reverse && has_indices(op))
    throw py::value_error("reverse is not supported for op '" + op_name + "'");
  return dispatch_float(x_obj, "x", [&](auto tag) -> py::object {
    using T = decltype(tag);
    auto x = contiguous_input<T>(x_obj, "x");
    const ScanShape s = scan_shape(x, axis, "x");
    py::array_t<T> y(shape_of(x));
    py::array_t<int64_t> idx(has_indices(op) ? shape_of(x) : std::vector<py::ssize_t>{0});
    const T* xp = x.data();
    T* yp = y.mutable_data();
    int64_t* ip = has_indices(op) ? idx.mutable_data() : nullptr;
    {
      KernelScope nogil;
      if (reference)
        ref::scan_forward<T>(op, s, xp, yp, ip, reverse);
      else
        scan_forward<T>(op, s, xp, yp, ip, reverse);
    }
    if (has_indices(op)) return py::make_tuple(y, idx);
    return std::move(y);
  });
}

py::array backward(const std::string& op_name, const py::array& dy_obj, int64_t axis,
                   const py::object& x_obj, const py::object& y_obj, const py::object& idx_obj) {
  const ScanOp op = parse_op(op_name);
  return dispatch_float(dy_obj, "dy", [&](auto tag) -> py::array {
    using T = decltype(tag);
    auto dy = contiguous_input<T>(dy_obj, "dy");
    const ScanShape s = scan_shape(dy, axis, "dy");
    const T *xp = nullptr, *yp = nullptr;
    const int64_t* ip = nullptr;
    py::array_t<T> x, y;
    py::array_t<int64_t> idx;
    if (op == ScanOp::prod || op == ScanOp::logsumexp) {
      if (x_obj.is_none() || y_obj.is_none())
        throw py::value_error("scan_backward of '" + op_name + "' needs x and y");
      x = contiguous_input<T>(x_obj, "x");
      y = contiguous_input<T>(y_obj, "y");
      check_same_shape(x, dy, "x", "dy");
      check_same_shape(y, dy, "y", "dy");
      xp = x.data();
      yp = y.data();
    } else if (has_indices(op)) {
      if (idx_obj.is_none()) throw py::value_error("scan_backward of '" + op_name + "' needs idx");
      idx = contiguous_input<int64_t>(idx_obj, "idx");
      check_same_shape(idx, dy, "idx", "dy");
      ip = idx.data();
      for (int64_t i = 0; i < idx.size(); ++i)
        if (ip[i] < 0 || ip[i] >= s.n)
          throw py::value_error("idx holds " + std::to_string(ip[i]) +
                                ", outside the axis of length " + std::to_string(s.n));
    }
    py::array_t<T> dx(shape_of(dy));
    const T* dyp = dy.data();
    T* dxp = dx.mutable_data();
    {
      KernelScope nogil;
      scan_backward<T>(op, s, xp, yp, ip, dyp, dxp);
    }
    return dx;
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
