// deepcore._C softmax / log_softmax / softmax cross-entropy: validation, then csrc/softmax.h.
#include "softmax.h"

#include "bindings/nn_checks.h"
#include "bindings/registry.h"

namespace dc {

namespace {

py::object softmax_fwd(const py::handle& x_obj, int64_t axis, bool log, const py::object& out) {
  const ArrayArg x = any_array_arg(x_obj, "x", "float32 or float64");
  return dispatch_float(x, "x", [&](auto tag) -> py::object {
    using T = decltype(tag);
    check_c_contiguous(x, "x");
    if (x.ndim() == 0) throw py::value_error("softmax needs x with at least one dimension");
    const AxisView v = axis_view(x, normalize_axis(axis, x.ndim(), "x"));
    auto* kernel = softmax_forward_device_stub<T>.get(x.device);
    const ArrayArg y = output_arg<T>(out, x, "out");
    check_no_overlap(y, x, "out", "x", Alias::exact_ok);  // rows reduced before written
    const T* px = x.data<T>();
    T* py_ = y.data<T>();
    {
      KernelScope nogil;
      if (x.size() > 0) kernel(px, py_, v.outer, v.n, v.inner, log);
    }
    return y.owner;
  });
}

py::object softmax_bwd(const py::handle& y_obj, const py::handle& gy_obj, int64_t axis, bool log,
                       const py::object& out) {
  const ArrayArg y = any_array_arg(y_obj, "y", "float32 or float64");
  return dispatch_float(y, "y", [&](auto tag) -> py::object {
    using T = decltype(tag);
    check_c_contiguous(y, "y");
    const ArrayArg gy = input_arg<T>(gy_obj, "gy");
    const Device dev = same_device({&y, &gy}, {"y", "gy"});
    check_same_shape(gy, y, "gy", "y");
    if (y.ndim() == 0) throw py::value_error("softmax needs y with at least one dimension");
    const AxisView v = axis_view(y, normalize_axis(axis, y.ndim(), "y"));
    auto* kernel = softmax_backward_device_stub<T>.get(dev);
    const ArrayArg gx = output_arg<T>(out, y, "out");
    check_no_overlap(gx, y, "out", "y", Alias::exact_ok);  // rows reduced before written
    check_no_overlap(gx, gy, "out", "gy", Alias::exact_ok);
    const T* py_ = y.data<T>();
    const T* pg = gy.data<T>();
    T* pgx = gx.data<T>();
    {
      KernelScope nogil;
      if (y.size() > 0) kernel(py_, pg, pgx, v.outer, v.n, v.inner, log);
    }
    return gx.owner;
  });
}

// Logits: C-contiguous (N, C) of dtype T with at least one class.
template <typename T>
ArrayArg logits_input(const ArrayArg& x) {
  check_c_contiguous(x, "logits");
  check_ndim(x, 2, "logits");
  if (x.shape(1) == 0) throw py::value_error("logits must have at least one class");
  return x;
}

// Class targets: int64 (N,) in [0, C). Probability targets: dtype of logits, (N, C).
struct Targets {
  ArrayArg arr;
  bool is_index = false;
};

template <typename T>
Targets check_targets(const ArrayArg& logits, const py::handle& t_obj) {
  if (!py::isinstance<py::array>(t_obj) &&
      (t_obj.is_none() || !py::hasattr(t_obj, "__cuda_array_interface__")))
    throw py::type_error(
        "target must be a numpy array (int64 class indices or float "
        "probabilities), got " +
        std::string(py::str(py::type::of(t_obj).attr("__name__"))));
  const ArrayArg t = any_array_arg(t_obj, "target", "");
  same_device({&logits, &t}, {"logits", "target"});
  const int64_t N = logits.shape(0), C = logits.shape(1);
  Targets r;
  if (dtype_is(t.dtype(), dtype_of<int64_t>())) {
    check_c_contiguous(t, "target");
    if (t.ndim() != 1 || t.shape(0) != N)
      throw py::value_error("target of class indices must have shape (" + std::to_string(N) +
                            ",) to match logits " + shape_str(logits) + ", got " + shape_str(t));
    // the labels are read here, on the host; a CUDA kernel checks its own (device memory)
    if (t.device == Device::cpu) {
      const int64_t* pt = t.data<int64_t>();
      for (int64_t i = 0; i < N; ++i)
        if (pt[i] < 0 || pt[i] >= C)
          throw py::index_error("target label " + std::to_string(pt[i]) + " at position " +
                                std::to_string(i) + " is out of range for " + std::to_string(C) +
                                " classes (labels must be in [0, " + std::to_string(C) + "))");
    }
    r.is_index = true;
  } else if (dtype_is(t.dtype(), dtype_of<T>())) {
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

py::tuple ce_fwd(const py::handle& x_obj, const py::object& t_obj) {
  const ArrayArg x0 = any_array_arg(x_obj, "logits", "float32 or float64");
  return dispatch_float(x0, "logits", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    const ArrayArg x = logits_input<T>(x0);
    const Targets t = check_targets<T>(x, t_obj);
    const int64_t N = x.shape(0), C = x.shape(1);
    auto* kernel = cross_entropy_forward_device_stub<T>.get(x.device);
    const ArrayArg loss = empty_on<T>(x.device, {N});
    const ArrayArg stats = empty_on<T>(x.device, {N, int64_t(2)});
    const T* px = x.data<T>();
    const int64_t* ti = t.is_index ? t.arr.data<int64_t>() : nullptr;
    const T* tp = t.is_index ? nullptr : t.arr.data<T>();
    T* pl = loss.data<T>();
    T* pz = stats.data<T>();
    {
      KernelScope nogil;
      kernel(px, ti, tp, pl, pz, N, C);
    }
    return py::make_tuple(loss.owner, stats.owner);
  });
}

py::object ce_bwd(const py::handle& x_obj, const py::object& t_obj, const py::handle& stats_obj,
                  const py::handle& g_obj, double scale, const py::object& out) {
  const ArrayArg x0 = any_array_arg(x_obj, "logits", "float32 or float64");
  return dispatch_float(x0, "logits", [&](auto tag) -> py::object {
    using T = decltype(tag);
    const ArrayArg x = logits_input<T>(x0);
    const Targets t = check_targets<T>(x, t_obj);
    const int64_t N = x.shape(0), C = x.shape(1);
    const ArrayArg stats = input_arg<T>(stats_obj, "stats");
    check_shape(stats, {N, 2}, "stats");
    const ArrayArg g = input_arg<T>(g_obj, "g");
    const Device dev = same_device({&x, &stats, &g}, {"logits", "stats", "g"});
    int64_t g_stride;
    if (g.size() == 1)
      g_stride = 0;
    else if (g.ndim() == 1 && g.shape(0) == N)
      g_stride = 1;
    else
      throw py::value_error("g must have one element or shape (" + std::to_string(N) + ",), got " +
                            shape_str(g));
    auto* kernel = cross_entropy_backward_device_stub<T>.get(dev);
    const ArrayArg gx = output_arg<T>(out, x, "out");
    // each row of logits / probabilities is read whole before its gradient row is written
    check_no_overlap(gx, x, "out", "logits", Alias::exact_ok);
    check_no_overlap(gx, t.arr, "out", "target", t.is_index ? Alias::refuse : Alias::exact_ok);
    check_no_overlap(gx, stats, "out", "stats");
    check_no_overlap(gx, g, "out", "g");
    const T* px = x.data<T>();
    const int64_t* ti = t.is_index ? t.arr.data<int64_t>() : nullptr;
    const T* tp = t.is_index ? nullptr : t.arr.data<T>();
    const T* pz = stats.data<T>();
    const T* pg = g.data<T>();
    T* pgx = gx.data<T>();
    {
      KernelScope nogil;
      if (N > 0) kernel(px, ti, tp, pz, pg, g_stride, static_cast<T>(scale), pgx, N, C);
    }
    return gx.owner;
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
    const ArrayArg x = logits_input<T>(from_numpy(x_obj));
    const Targets t = check_targets<T>(x, t_obj);  // on the CPU, as x
    if (!t.is_index) throw py::type_error("the reference takes int64 class targets only");
    py::array_t<T> loss(x.shape(0));
    ref::cross_entropy_forward<T>(x.data<T>(), t.arr.data<int64_t>(), loss.mutable_data(),
                                  x.shape(0), x.shape(1));
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
