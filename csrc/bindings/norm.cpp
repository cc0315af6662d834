// deepcore._C layer_norm / batch_norm: validation, then csrc/norm.h.
#include "norm.h"

#include "bindings/nn_checks.h"
#include "bindings/registry.h"

namespace dc {

namespace {

// An optional per-feature parameter: None (a default, absent ArrayArg), or a C-contiguous (n,)
// array of dtype T.
template <typename T>
ArrayArg optional_param(const py::handle& obj, int64_t n, const char* name, bool required = false) {
  if (obj.is_none() && !required) return ArrayArg{};
  ArrayArg a = input_arg<T>(obj, name);
  if (a.size() != n)
    throw py::value_error(std::string(name) + " must have " + std::to_string(n) +
                          " elements, got shape " + shape_str(a));
  return a;
}

template <typename T>
const T* ptr_or_null(const ArrayArg& a) {
  return a.present() ? a.data<T>() : nullptr;
}

py::tuple ln_fwd(const py::handle& x_obj, const py::object& w_obj, const py::object& b_obj,
                 int64_t N, double eps) {
  const ArrayArg x = any_array_arg(x_obj, "x", "float32 or float64");
  return dispatch_float(x, "x", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    check_c_contiguous(x, "x");
    if (N <= 0 || x.size() % N != 0)
      throw py::value_error("normalized size " + std::to_string(N) +
                            " does not divide x of shape " + shape_str(x));
    if (!(eps >= 0)) throw py::value_error("eps must be >= 0");
    const int64_t M = x.size() / N;
    const ArrayArg wk = optional_param<T>(w_obj, N, "weight");
    const ArrayArg bk = optional_param<T>(b_obj, N, "bias");
    const Device dev = same_device({&x, &wk, &bk}, {"x", "weight", "bias"});
    auto* kernel = layer_norm_forward_device_stub<T>.get(dev);
    const ArrayArg y = empty_on<T>(dev, shape_of(x));
    const ArrayArg mean = empty_on<T>(dev, {M});
    const ArrayArg rstd = empty_on<T>(dev, {M});
    const T *px = x.data<T>(), *w = ptr_or_null<T>(wk), *b = ptr_or_null<T>(bk);
    T *py_ = y.data<T>(), *pm = mean.data<T>(), *pr = rstd.data<T>();
    {
      KernelScope nogil;
      kernel(px, w, b, py_, pm, pr, M, N, static_cast<T>(eps));
    }
    return py::make_tuple(y.owner, mean.owner, rstd.owner);
  });
}

py::tuple ln_bwd(const py::handle& gy_obj, const py::handle& x_obj, const py::object& w_obj,
                 const py::handle& mean_obj, const py::handle& rstd_obj, int64_t N, bool need_w,
                 bool need_b) {
  const ArrayArg x = any_array_arg(x_obj, "x", "float32 or float64");
  return dispatch_float(x, "x", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    check_c_contiguous(x, "x");
    const ArrayArg gy = input_arg<T>(gy_obj, "gy");
    check_same_shape(gy, x, "gy", "x");
    const ArrayArg mean = input_arg<T>(mean_obj, "mean");
    const ArrayArg rstd = input_arg<T>(rstd_obj, "rstd");
    if (N <= 0 || x.size() % N != 0)
      throw py::value_error("normalized size " + std::to_string(N) +
                            " does not divide x of shape " + shape_str(x));
    const int64_t M = x.size() / N;
    check_shape(mean, {M}, "mean");
    check_shape(rstd, {M}, "rstd");
    const ArrayArg wk = optional_param<T>(w_obj, N, "weight");
    const Device dev =
        same_device({&x, &gy, &mean, &rstd, &wk}, {"x", "gy", "mean", "rstd", "weight"});
    auto* kernel = layer_norm_backward_device_stub<T>.get(dev);
    const ArrayArg gx = empty_on<T>(dev, shape_of(x));
    // gweight, gbias: accumulated by the kernel
    const ArrayArg gw = need_w ? zeros_on<T>(dev, {N}) : ArrayArg{};
    const ArrayArg gb = need_b ? zeros_on<T>(dev, {N}) : ArrayArg{};
    T *pgw = need_w ? gw.data<T>() : nullptr, *pgb = need_b ? gb.data<T>() : nullptr;
    const T *pg = gy.data<T>(), *px = x.data<T>(), *pm = mean.data<T>(), *pr = rstd.data<T>();
    const T* w = ptr_or_null<T>(wk);
    T* pgx = gx.data<T>();
    {
      KernelScope nogil;
      if (M) kernel(pg, px, w, pm, pr, pgx, pgw, pgb, M, N);
    }
    return py::make_tuple(gx.owner, need_w ? gw.owner : py::none(), need_b ? gb.owner : py::none());
  });
}

AxisView bn_view(const ArrayArg& x, int64_t axis) {
  if (x.ndim() < 2)
    throw py::value_error("batch_norm needs x with a batch and a channel axis, got shape " +
                          shape_str(x));
  return axis_view(x, normalize_axis(axis, x.ndim(), "x"));
}

py::tuple bn_fwd(const py::handle& x_obj, const py::object& w_obj, const py::object& b_obj,
                 const py::object& rm_obj, const py::object& rv_obj, bool training, double momentum,
                 double eps, int64_t axis, bool unbiased_var) {
  const ArrayArg x = any_array_arg(x_obj, "x", "float32 or float64");
  return dispatch_float(x, "x", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    check_c_contiguous(x, "x");
    const AxisView v = bn_view(x, axis);
    if (!(eps >= 0)) throw py::value_error("eps must be >= 0");
    const ArrayArg wk = optional_param<T>(w_obj, v.n, "weight");
    const ArrayArg bk = optional_param<T>(b_obj, v.n, "bias");
    const ArrayArg rmk = optional_param<T>(rm_obj, v.n, "running_mean");
    const ArrayArg rvk = optional_param<T>(rv_obj, v.n, "running_var");
    const bool rm = rmk.present(), rv = rvk.present();
    if (rm) check_writeable(rmk, "running_mean");
    if (rv) check_writeable(rvk, "running_var");
    // the running statistics are updated in place before y is computed from x, weight and
    // bias: they must not share memory with those or each other ([Note: out= aliasing])
    if (rm && rv) check_no_overlap(rvk, rmk, "running_var", "running_mean");
    const auto check_stat = [&](const ArrayArg& stat, const char* sname) {
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
    const Device dev = same_device({&x, &wk, &bk, &rmk, &rvk},
                                   {"x", "weight", "bias", "running_mean", "running_var"});
    auto* kernel = batch_norm_forward_device_stub<T>.get(dev);
    const ArrayArg y = empty_on<T>(dev, shape_of(x));
    const ArrayArg mean = empty_on<T>(dev, {v.n});
    const ArrayArg rstd = empty_on<T>(dev, {v.n});
    const T *px = x.data<T>(), *w = ptr_or_null<T>(wk), *b = ptr_or_null<T>(bk);
    T* prm = const_cast<T*>(ptr_or_null<T>(rmk));
    T* prv = const_cast<T*>(ptr_or_null<T>(rvk));
    T *py_ = y.data<T>(), *pm = mean.data<T>(), *pr = rstd.data<T>();
    {
      KernelScope nogil;
      kernel(px, w, b, py_, pm, pr, prm, prv, training, static_cast<T>(momentum),
             static_cast<T>(eps), unbiased_var, v.outer, v.n, v.inner);
    }
    return py::make_tuple(y.owner, mean.owner, rstd.owner);
  });
}

py::tuple bn_bwd(const py::handle& gy_obj, const py::handle& x_obj, const py::object& w_obj,
                 const py::handle& mean_obj, const py::handle& rstd_obj, bool training,
                 int64_t axis, bool need_w, bool need_b) {
  const ArrayArg x = any_array_arg(x_obj, "x", "float32 or float64");
  return dispatch_float(x, "x", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    check_c_contiguous(x, "x");
    const ArrayArg gy = input_arg<T>(gy_obj, "gy");
    check_same_shape(gy, x, "gy", "x");
    const AxisView v = bn_view(x, axis);
    const ArrayArg wk = optional_param<T>(w_obj, v.n, "weight");
    const ArrayArg mk = optional_param<T>(mean_obj, v.n, "mean", true);
    const ArrayArg rk = optional_param<T>(rstd_obj, v.n, "rstd", true);
    const Device dev = same_device({&x, &gy, &wk, &mk, &rk}, {"x", "gy", "weight", "mean", "rstd"});
    auto* kernel = batch_norm_backward_device_stub<T>.get(dev);
    const ArrayArg gx = empty_on<T>(dev, shape_of(x));
    // gweight, gbias: accumulated by the kernel
    const ArrayArg gwa = need_w ? zeros_on<T>(dev, {v.n}) : ArrayArg{};
    const ArrayArg gba = need_b ? zeros_on<T>(dev, {v.n}) : ArrayArg{};
    T *pgw = need_w ? gwa.data<T>() : nullptr, *pgb = need_b ? gba.data<T>() : nullptr;
    const T *pg = gy.data<T>(), *px = x.data<T>(), *w = ptr_or_null<T>(wk);
    const T *pm = ptr_or_null<T>(mk), *pr = ptr_or_null<T>(rk);
    T* pgx = gx.data<T>();
    {
      KernelScope nogil;
      kernel(pg, px, w, pm, pr, pgx, pgw, pgb, training, v.outer, v.n, v.inner);
    }
    return py::make_tuple(gx.owner, need_w ? gwa.owner : py::none(),
                          need_b ? gba.owner : py::none());
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
    const ArrayArg wk = optional_param<T>(w_obj, N, "weight");
    const ArrayArg bk = optional_param<T>(b_obj, N, "bias");
    const ArrayArg xa = from_numpy(x);
    same_device({&xa, &wk, &bk}, {"x", "weight", "bias"});  // the reference runs on the CPU
    py::array_t<T> y(shape_of(x));
    ref::layer_norm_forward<T>(x.data(), ptr_or_null<T>(wk), ptr_or_null<T>(bk), y.mutable_data(),
                               x.size() / N, N, T(eps));
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
