// deepcore._C layer_norm / batch_norm: validation, then csrc/norm.h.
#include "norm.h"

#include "bindings/nn_checks.h"
#include "bindings/registry.h"

namespace dc {

namespace {

// An optional per-feature parameter: None, or a C-contiguous (n,) array of dtype T.
template <typename T>
const T* optional_param(const py::object& obj, int64_t n, const char* name, py::array_t<T>& keep) {
  if (obj.is_none()) return nullptr;
  keep = contiguous_input<T>(obj, name);
  if (keep.size() != n)
    throw py::value_error(std::string(name) + " must have " + std::to_string(n) +
                          " elements, got shape " + shape_str(keep));
  return keep.data();
}

py::tuple ln_fwd(const py::array& x_obj, const py::object& w_obj, const py::object& b_obj,
                 int64_t N, double eps) {
  return dispatch_float(x_obj, "x", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    auto x = contiguous_input<T>(x_obj, "x");
    if (N <= 0 || x.size() % N != 0)
      throw py::value_error("normalized size " + std::to_string(N) +
                            " does not divide x of shape " + shape_str(x));
    if (!(eps >= 0)) throw py::value_error("eps must be >= 0");
    const int64_t M = x.size() / N;
    py::array_t<T> wk, bk;
    const T* w = optional_param<T>(w_obj, N, "weight", wk);
    const T* b = optional_param<T>(b_obj, N, "bias", bk);
    py::array_t<T> y(shape_of(x)), mean(M), rstd(M);
    const T* px = x.data();
    T *py_ = y.mutable_data(), *pm = mean.mutable_data(), *pr = rstd.mutable_data();
    {
      KernelScope nogil;
      layer_norm_forward<T>(px, w, b, py_, pm, pr, M, N, static_cast<T>(eps));
    }
    return py::make_tuple(y, mean, rstd);
  });
}

py::tuple ln_bwd(const py::array& gy_obj, const py::array& x_obj, const py::object& w_obj,
                 const py::array& mean_obj, const py::array& rstd_obj, int64_t N, bool need_w,
                 bool need_b) {
  return dispatch_float(x_obj, "x", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    auto x = contiguous_input<T>(x_obj, "x");
    auto gy = contiguous_input<T>(gy_obj, "gy");
    check_same_shape(gy, x, "gy", "x");
    auto mean = contiguous_input<T>(mean_obj, "mean");
    auto rstd = contiguous_input<T>(rstd_obj, "rstd");
    if (N <= 0 || x.size() % N != 0)
      throw py::value_error("normalized size " + std::to_string(N) +
                            " does not divide x of shape " + shape_str(x));
    const int64_t M = x.size() / N;
    check_shape(mean, {M}, "mean");
    check_shape(rstd, {M}, "rstd");
    py::array_t<T> wk;
    const T* w = optional_param<T>(w_obj, N, "weight", wk);
    py::array_t<T> gx(shape_of(x));
    py::object gw = py::none(), gb = py::none();
    T *pgw = nullptr, *pgb = nullptr;
    if (need_w) {
      py::array_t<T> a(N);
      pgw = a.mutable_data();
      gw = a;
    }
    if (need_b) {
      py::array_t<T> a(N);
      pgb = a.mutable_data();
      gb = a;
    }
    const T *pg = gy.data(), *px = x.data(), *pm = mean.data(), *pr = rstd.data();
    T* pgx = gx.mutable_data();
    {
      KernelScope nogil;
      for (int64_t i = 0; i < N; ++i) {
        if (pgw) pgw[i] = 0;
        if (pgb) pgb[i] = 0;
      }
      if (M) layer_norm_backward<T>(pg, px, w, pm, pr, pgx, pgw, pgb, M, N);
    }
    return py::make_tuple(gx, gw, gb);
  });
}

AxisView bn_view(const py::array& x, int64_t axis) {
  if (x.ndim() < 2)
    throw py::value_error("batch_norm needs x with a batch and a channel axis, got shape " +
                          shape_str(x));
  return axis_view(x, normalize_axis(axis, x.ndim(), "x"));
}

py::tuple bn_fwd(const py::array& x_obj, const py::object& w_obj, const py::object& b_obj,
                 const py::object& rm_obj, const py::object& rv_obj, bool training, double momentum,
                 double eps, int64_t axis, bool unbiased_var) {
  return dispatch_float(x_obj, "x", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    auto x = contiguous_input<T>(x_obj, "x");
    const AxisView v = bn_view(x, axis);
    if (!(eps >= 0)) throw py::value_error("eps must be >= 0");
    py::array_t<T> wk, bk, rmk, rvk;
    const T* w = optional_param<T>(w_obj, v.n, "weight", wk);
    const T* b = optional_param<T>(b_obj, v.n, "bias", bk);
    T* rm = const_cast<T*>(optional_param<T>(rm_obj, v.n, "running_mean", rmk));
    T* rv = const_cast<T*>(optional_param<T>(rv_obj, v.n, "running_var", rvk));
    if (rm) check_writeable(rmk, "running_mean");
    if (rv) check_writeable(rvk, "running_var");
    // the running statistics are updated in place before y is computed from x, weight and
    // bias: they must not share memory with those or each other ([Note: out= aliasing])
    if (rm && rv) check_no_overlap(rvk, rmk, "running_var", "running_mean");
    const auto check_stat = [&](const py::array& stat, const char* sname) {
      check_no_overlap(stat, x, sname, "x");
      check_no_overlap(stat, wk, sname, "weight");
      check_no_overlap(stat, bk, sname, "bias");
    };
    if (rm) check_stat(rmk, "running_mean");
    if (rv) check_stat(rvk, "running_var");
    if (!training && (!rm || !rv))
      throw py::value_error(
          "batch_norm in inference mode (training=False) needs running_mean "
          "and running_var");
    if (training && v.outer * v.inner <= 1)
      throw py::value_error(
          "batch_norm in training mode needs more than one value per channel, "
          "got x of shape " +
          shape_str(x));
    py::array_t<T> y(shape_of(x)), mean(v.n), rstd(v.n);
    const T* px = x.data();
    T *py_ = y.mutable_data(), *pm = mean.mutable_data(), *pr = rstd.mutable_data();
    {
      KernelScope nogil;
      batch_norm_forward<T>(px, w, b, py_, pm, pr, rm, rv, training, static_cast<T>(momentum),
                            static_cast<T>(eps), unbiased_var, v.outer, v.n, v.inner);
    }
    return py::make_tuple(y, mean, rstd);
  });
}

py::tuple bn_bwd(const py::array& gy_obj, const py::array& x_obj, const py::object& w_obj,
                 const py::array& mean_obj, const py::array& rstd_obj, bool training, int64_t axis,
                 bool need_w, bool need_b) {
  return dispatch_float(x_obj, "x", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    auto x = contiguous_input<T>(x_obj, "x");
    auto gy = contiguous_input<T>(gy_obj, "gy");
    check_same_shape(gy, x, "gy", "x");
    const AxisView v = bn_view(x, axis);
    py::array_t<T> wk, mk, rk;
    const T* w = optional_param<T>(w_obj, v.n, "weight", wk);
    const T* pm = optional_param<T>(mean_obj, v.n, "mean", mk);
    const T* pr = optional_param<T>(rstd_obj, v.n, "rstd", rk);
    py::array_t<T> gx(shape_of(x)), gwa(v.n), gba(v.n);
    T *pgw = gwa.mutable_data(), *pgb = gba.mutable_data();
    const T *pg = gy.data(), *px = x.data();
    T* pgx = gx.mutable_data();
    {
      KernelScope nogil;
      for (int64_t c = 0; c < v.n; ++c) pgw[c] = pgb[c] = 0;
      batch_norm_backward<T>(pg, px, w, pm, pr, pgx, need_w ? pgw : nullptr, need_b ? pgb : nullptr,
                             training, v.outer, v.n, v.inner);
    }
    return py::make_tuple(gx, need_w ? py::object(gwa) : py::none(),
                          need_b ? py::object(gba) : py::none());
  });
}

py::array ln_fwd_ref(const py::array& x_obj, const py::object& w_obj, const py::object& b_obj,
                     int64_t N, double eps) {
  return dispatch_float(x_obj, "x", [&](auto tag) -> py::array {
    using T = decltype(tag);
    auto x = contiguous_input<T>(x_obj, "x");
    if (N <= 0 || x.size() % N != 0)
      throw py::value_error("normalized size " + std::to_string(N) +
                            " does not divide x of shape " + shape_str(x));
    py::array_t<T> wk, bk;
    const T* w = optional_param<T>(w_obj, N, "weight", wk);
    const T* b = optional_param<T>(b_obj, N, "bias", bk);
    py::array_t<T> y(shape_of(x));
    ref::layer_norm_forward<T>(x.data(), w, b, y.mutable_data(), x.size() / N, N, T(eps));
    return y;
  });
}

}  // namespace

DC_BINDINGS(norm) {
  m.def("layer_norm_forward_ref", &ln_fwd_ref, py::arg("x"), py::arg("weight"), py::arg("bias"),
        py::arg("normalized_size"), py::arg("eps") = 1e-5,
        "Reference (naive, double) layer norm forward: y only.");
  m.def("layer_norm_forward", &ln_fwd, py::arg("x"), py::arg("weight"), py::arg("bias"),
        py::arg("normalized_size"), py::arg("eps") = 1e-5,
        "Layer norm over the last normalized_size elements of each row of x: (y, mean, rstd).");
  m.def("layer_norm_backward", &ln_bwd, py::arg("gy"), py::arg("x"), py::arg("weight"),
        py::arg("mean"), py::arg("rstd"), py::arg("normalized_size"), py::arg("need_weight") = true,
        py::arg("need_bias") = true, "(gx, gweight or None, gbias or None) of layer_norm.");
  m.def("batch_norm_forward", &bn_fwd, py::arg("x"), py::arg("weight"), py::arg("bias"),
        py::arg("running_mean"), py::arg("running_var"), py::arg("training"),
        py::arg("momentum") = 0.1, py::arg("eps") = 1e-5, py::arg("axis") = 1,
        py::arg("unbiased_running_var") = true,
        "Batch norm with per-channel statistics along axis (running stats updated in place "
        "when training): (y, mean, rstd).");
  m.def("batch_norm_backward", &bn_bwd, py::arg("gy"), py::arg("x"), py::arg("weight"),
        py::arg("mean"), py::arg("rstd"), py::arg("training"), py::arg("axis") = 1,
        py::arg("need_weight") = true, py::arg("need_bias") = true,
        "(gx, gweight or None, gbias or None) of batch_norm.");
}

}  // namespace dc
