// deepcore._C softmax / log_softmax / softmax cross-entropy: validation, then csrc/softmax.h.
#include "softmax.h"

#include "bindings/nn_checks.h"
#include "bindings/registry.h"

namespace dc {

namespace {

py::array softmax_fwd(const py::array& x_obj, int64_t axis, bool log, const py::object& out) {
  return dispatch_float(x_obj, "x", [&](auto tag) -> py::array {
    using T = decltype(tag);
    auto x = contiguous_input<T>(x_obj, "x");
    if (x.ndim() == 0) throw py::value_error("softmax needs x with at least one dimension");
    const AxisView v = axis_view(x, normalize_axis(axis, x.ndim(), "x"));
    auto y = output_like<T>(out, x, "out");
    check_no_overlap(y, x, "out", "x", Alias::exact_ok);  // rows reduced before written
    const T* px = x.data();
    T* py_ = y.mutable_data();
    {
      KernelScope nogil;
      if (x.size() > 0) softmax_forward<T>(px, py_, v.outer, v.n, v.inner, log);
    }
    return y;
  });
}

py::array softmax_bwd(const py::array& y_obj, const py::array& gy_obj, int64_t axis, bool log,
                      const py::object& out) {
  return dispatch_float(y_obj, "y", [&](auto tag) -> py::array {
    using T = decltype(tag);
    auto y = contiguous_input<T>(y_obj, "y");
    auto gy = contiguous_input<T>(gy_obj, "gy");
    check_same_shape(gy, y, "gy", "y");
    if (y.ndim() == 0) throw py::value_error("softmax needs y with at least one dimension");
    const AxisView v = axis_view(y, normalize_axis(axis, y.ndim(), "y"));
    auto gx = output_like<T>(out, y, "out");
    check_no_overlap(gx, y, "out", "y", Alias::exact_ok);  // rows reduced before written
    check_no_overlap(gx, gy, "out", "gy", Alias::exact_ok);
    const T* py_ = y.data();
    const T* pg = gy.data();
    T* pgx = gx.mutable_data();
    {
      KernelScope nogil;
      if (y.size() > 0) softmax_backward<T>(py_, pg, pgx, v.outer, v.n, v.inner, log);
    }
    return gx;
  });
}

// Logits: C-contiguous (N, C) of dtype T with at least one class.
template <typename T>
py::array_t<T> logits_input(const py::array& x_obj) {
  auto x = contiguous_input<T>(x_obj, "logits");
  check_ndim(x, 2, "logits");
  if (x.shape(1) == 0) throw py::value_error("logits must have at least one class");
  return x;
}

// Class targets: int64 (N,) in [0, C). Probability targets: dtype of logits, (N, C).
struct Targets {
  py::array arr;
  bool is_index = false;
};

template <typename T>
Targets check_targets(const py::array& logits, const py::handle& t_obj) {
  if (!py::isinstance<py::array>(t_obj))
    throw py::type_error(
        "target must be a numpy array (int64 class indices or float "
        "probabilities), got " +
        std::string(py::str(py::type::of(t_obj).attr("__name__"))));
  py::array t = py::reinterpret_borrow<py::array>(t_obj);
  const int64_t N = logits.shape(0), C = logits.shape(1);
  Targets r;
  if (t.dtype().is(py::dtype::of<int64_t>())) {
    check_c_contiguous(t, "target");
    if (t.ndim() != 1 || t.shape(0) != N)
      throw py::value_error("target of class indices must have shape (" + std::to_string(N) +
                            ",) to match logits " + shape_str(logits) + ", got " + shape_str(t));
    const int64_t* pt = static_cast<const int64_t*>(t.data());
    for (int64_t i = 0; i < N; ++i)
      if (pt[i] < 0 || pt[i] >= C)
        throw py::value_error("target label " + std::to_string(pt[i]) + " at position " +
                              std::to_string(i) + " is out of range for " + std::to_string(C) +
                              " classes (labels must be in [0, " + std::to_string(C) + "))");
    r.is_index = true;
  } else if (t.dtype().is(py::dtype::of<T>())) {
    check_c_contiguous(t, "target");
    check_same_shape(t, logits, "target", "logits");
  } else {
    throw py::type_error(std::string("target must have dtype int64 (class indices) or ") +
                         dtype_name<T>() + " (probabilities, the dtype of logits), got " +
                         std::string(py::str(t.dtype())));
  }
  r.arr = t;
  return r;
}

py::tuple ce_fwd(const py::array& x_obj, const py::object& t_obj) {
  return dispatch_float(x_obj, "logits", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    auto x = logits_input<T>(x_obj);
    const Targets t = check_targets<T>(x, t_obj);
    const int64_t N = x.shape(0), C = x.shape(1);
    py::array_t<T> loss(N), stats({N, int64_t(2)});
    const T* px = x.data();
    const int64_t* ti = t.is_index ? static_cast<const int64_t*>(t.arr.data()) : nullptr;
    const T* tp = t.is_index ? nullptr : static_cast<const T*>(t.arr.data());
    T* pl = loss.mutable_data();
    T* pz = stats.mutable_data();
    {
      KernelScope nogil;
      cross_entropy_forward<T>(px, ti, tp, pl, pz, N, C);
    }
    return py::make_tuple(loss, stats);
  });
}

py::array ce_bwd(const py::array& x_obj, const py::object& t_obj, const py::array& stats_obj,
                 const py::array& g_obj, double scale, const py::object& out) {
  return dispatch_float(x_obj, "logits", [&](auto tag) -> py::array {
    using T = decltype(tag);
    auto x = logits_input<T>(x_obj);
    const Targets t = check_targets<T>(x, t_obj);
    const int64_t N = x.shape(0), C = x.shape(1);
    auto stats = contiguous_input<T>(stats_obj, "stats");
    check_shape(stats, {N, 2}, "stats");
    auto g = contiguous_input<T>(g_obj, "g");
    int64_t g_stride;
    if (g.size() == 1)
      g_stride = 0;
    else if (g.ndim() == 1 && g.shape(0) == N)
      g_stride = 1;
    else
      throw py::value_error("g must have one element or shape (" + std::to_string(N) + ",), got " +
                            shape_str(g));
    auto gx = output_like<T>(out, x, "out");
    // each row of logits / probabilities is read whole before its gradient row is written
    check_no_overlap(gx, x, "out", "logits", Alias::exact_ok);
    check_no_overlap(gx, t.arr, "out", "target", t.is_index ? Alias::refuse : Alias::exact_ok);
    check_no_overlap(gx, stats, "out", "stats");
    check_no_overlap(gx, g, "out", "g");
    const T* px = x.data();
    const int64_t* ti = t.is_index ? static_cast<const int64_t*>(t.arr.data()) : nullptr;
    const T* tp = t.is_index ? nullptr : static_cast<const T*>(t.arr.data());
    const T* pz = stats.data();
    const T* pg = g.data();
    T* pgx = gx.mutable_data();
    {
      KernelScope nogil;
      if (N > 0)
        cross_entropy_backward<T>(px, ti, tp, pz, pg, g_stride, static_cast<T>(scale), pgx, N, C);
    }
    return gx;
  });
}

py::array softmax_fwd_ref(const py::array& x_obj, int64_t axis, bool log) {
  return dispatch_float(x_obj, "x", [&](auto tag) -> py::array {
    using T = decltype(tag);
    auto x = contiguous_input<T>(x_obj, "x");
    if (x.ndim() == 0) throw py::value_error("softmax needs x with at least one dimension");
    const AxisView v = axis_view(x, normalize_axis(axis, x.ndim(), "x"));
    py::array_t<T> y(shape_of(x));
    ref::softmax_forward<T>(x.data(), y.mutable_data(), v.outer, v.n, v.inner, log);
    return y;
  });
}

py::array ce_fwd_ref(const py::array& x_obj, const py::object& t_obj) {
  return dispatch_float(x_obj, "logits", [&](auto tag) -> py::array {
    using T = decltype(tag);
    auto x = logits_input<T>(x_obj);
    const Targets t = check_targets<T>(x, t_obj);
    if (!t.is_index) throw py::type_error("the reference takes int64 class targets only");
    py::array_t<T> loss(x.shape(0));
    ref::cross_entropy_forward<T>(x.data(), static_cast<const int64_t*>(t.arr.data()),
                                  loss.mutable_data(), x.shape(0), x.shape(1));
    return loss;
  });
}

}  // namespace

DC_BINDINGS(softmax) {
  m.def("softmax_forward_ref", &softmax_fwd_ref, py::arg("x"), py::arg("axis") = -1,
        py::arg("log") = false, "Reference (naive, double) softmax / log_softmax.");
  m.def("cross_entropy_forward_ref", &ce_fwd_ref, py::arg("logits"), py::arg("target"),
        "Reference (naive, double) per-row cross-entropy with class targets.");
  m.def("softmax_forward", &softmax_fwd, py::arg("x"), py::arg("axis") = -1, py::arg("log") = false,
        py::arg("out") = py::none(),
        "Numerically stable softmax (log=True: log_softmax) along axis; out may be x.");
  m.def("softmax_backward", &softmax_bwd, py::arg("y"), py::arg("gy"), py::arg("axis") = -1,
        py::arg("log") = false, py::arg("out") = py::none(),
        "Input gradient of softmax / log_softmax from the saved output y; out may be y or gy.");
  m.def("cross_entropy_forward", &ce_fwd, py::arg("logits"), py::arg("target"),
        "Per-row softmax cross-entropy of logits (N, C) against int64 class indices (N,) or "
        "probabilities (N, C): returns (loss (N,), stats (N, 2)) with stats the per-row "
        "(max, log-sum-exp of x - max) that backward needs.");
  m.def("cross_entropy_backward", &ce_bwd, py::arg("logits"), py::arg("target"), py::arg("stats"),
        py::arg("g"), py::arg("scale") = 1.0, py::arg("out") = py::none(),
        "d(loss)/d(logits) * g * scale; g has one element (mean/sum) or one per row. out may be "
        "logits (or probability targets).");
}

}  // namespace dc
