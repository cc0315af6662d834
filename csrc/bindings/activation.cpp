// deepcore._C activation / prelu / bias_add kernels: validation, then csrc/activation.h.
#include "activation.h"

#include <algorithm>

#include "bindings/nn_checks.h"
#include "bindings/registry.h"
#include "core/counter_rng.h"

namespace dc {

namespace {

Act parse_act(const std::string& name) {
  const auto& names = kActNames;
  for (int i = 0; i < static_cast<int>(Act::count); ++i)
    if (name == names[i]) return static_cast<Act>(i);
  std::string all;
  for (const char* n : names) all += std::string(all.empty() ? "" : ", ") + n;
  throw py::value_error("unknown activation kind '" + name + "' (expected one of: " + all + ")");
}

py::object activation_forward(const py::handle& x_obj, const std::string& kind, double p0,
                              double p1, const py::object& out) {
  const Act k = parse_act(kind);
  const ArrayArg x = any_array_arg(x_obj, "x", "float32 or float64");
  return dispatch_float(x, "x", [&](auto tag) -> py::object {
    using T = decltype(tag);
    check_c_contiguous(x, "x");
    auto* kernel = act_forward_device_stub<T>.get(x.device);
    const ArrayArg y = output_arg<T>(out, x, "out");
    check_no_overlap(y, x, "out", "x", Alias::exact_ok);  // element-wise: out may be x
    const T* px = x.data<T>();
    T* py_ = y.data<T>();
    const int64_t n = x.size();
    {
      KernelScope nogil;
      kernel(k, px, py_, n, static_cast<T>(p0), static_cast<T>(p1));
    }
    return y.owner;
  });
}

// Returns gx, or (gx, dp0) when want_dp0 (swish: the gradient w.r.t. beta, summed).
py::object activation_backward(const std::string& kind, const py::handle& gy_obj,
                               const py::object& x_obj, const py::object& y_obj, double p0,
                               double p1, bool want_dp0, const py::object& out) {
  const Act k = parse_act(kind);
  const bool reads_y = act_reads_output(k);
  const py::object& in_obj = reads_y ? y_obj : x_obj;
  const char* in_name = reads_y ? "y" : "x";
  if (in_obj.is_none())
    throw py::value_error("activation_backward('" + kind + "') needs " + in_name +
                          " (the saved forward " + (reads_y ? "output" : "input") + ")");
  if (want_dp0 && k != Act::swish)
    throw py::value_error("want_dp0 is only defined for 'swish' (the gradient w.r.t. beta)");
  const ArrayArg gy = any_array_arg(gy_obj, "gy", "float32 or float64");
  return dispatch_float(gy, "gy", [&](auto tag) -> py::object {
    using T = decltype(tag);
    check_c_contiguous(gy, "gy");
    const ArrayArg in = input_arg<T>(in_obj, in_name);
    const Device dev = same_device({&gy, &in}, {"gy", in_name});
    check_same_shape(in, gy, in_name, "gy");
    auto* kernel = act_backward_device_stub<T>.get(dev);
    const ArrayArg gx = output_arg<T>(out, gy, "out");
    check_no_overlap(gx, gy, "out", "gy", Alias::exact_ok);  // element-wise: out may be gy
    check_no_overlap(gx, in, "out", in_name, Alias::exact_ok);
    const T* pin = in.data<T>();
    const T* pg = gy.data<T>();
    T* pgx = gx.data<T>();
    T dp0 = 0;  // a host scalar: the CPU driver returns the sum through it
    {
      KernelScope nogil;
      kernel(k, reads_y ? nullptr : pin, reads_y ? pin : nullptr, pg, pgx, gy.size(),
             static_cast<T>(p0), static_cast<T>(p1), want_dp0 ? &dp0 : nullptr);
    }
    if (want_dp0) return py::make_tuple(gx.owner, static_cast<double>(dp0));
    return gx.owner;
  });
}

// Reference kernels (csrc/ref/): y = f(x), gx = gy * f'(x) from x, in double loops.
py::array activation_forward_ref(const py::array& x_obj, const std::string& kind, double p0,
                                 double p1) {
  const Act k = parse_act(kind);
  return dispatch_float(x_obj, "x", [&](auto tag) -> py::array {
    using T = decltype(tag);
    auto x = contiguous_input<T>(x_obj, "x");
    py::array_t<T> y(shape_of(x));
    ref::act_forward<T>(k, x.data(), y.mutable_data(), x.size(), T(p0), T(p1));
    return y;
  });
}

py::array activation_backward_ref(const std::string& kind, const py::array& gy_obj,
                                  const py::array& x_obj, double p0, double p1) {
  const Act k = parse_act(kind);
  return dispatch_float(gy_obj, "gy", [&](auto tag) -> py::array {
    using T = decltype(tag);
    auto gy = contiguous_input<T>(gy_obj, "gy");
    auto x = contiguous_input<T>(x_obj, "x");
    check_same_shape(x, gy, "x", "gy");
    py::array_t<T> gx(shape_of(x));
    ref::act_backward<T>(k, x.data(), gy.data(), gx.mutable_data(), x.size(), T(p0), T(p1));
    return gx;
  });
}

// The channel axis of x for a per-channel parameter of `size` entries (1 means shared).
AxisView channel_view(const ArrayArg& x, int64_t axis, int64_t size, const char* pname) {
  if (x.ndim() == 0) throw py::value_error("x must have at least one dimension");
  const int64_t ax = normalize_axis(axis, x.ndim(), "x");
  AxisView v = axis_view(x, ax);
  if (size == 1 && v.n != 1) return AxisView{x.size(), 1, 1};  // one shared parameter
  if (size != v.n)
    throw py::value_error(std::string(pname) + " has " + std::to_string(size) +
                          " entries but x has " + std::to_string(v.n) + " channels along axis " +
                          std::to_string(axis) + " (shape " + shape_str(x) + ")");
  return v;
}

py::object prelu_fwd(const py::handle& x_obj, const py::handle& w_obj, int64_t axis) {
  const ArrayArg x = any_array_arg(x_obj, "x", "float32 or float64");
  return dispatch_float(x, "x", [&](auto tag) -> py::object {
    using T = decltype(tag);
    check_c_contiguous(x, "x");
    const ArrayArg w = input_arg<T>(w_obj, "weight");
    const Device dev = same_device({&x, &w}, {"x", "weight"});
    check_ndim(w, 1, "weight");
    const AxisView v = channel_view(x, axis, w.size(), "weight");
    auto* kernel = prelu_forward_device_stub<T>.get(dev);
    const ArrayArg y = empty_on<T>(dev, shape_of(x));
    const T* px = x.data<T>();
    const T* pw = w.data<T>();
    T* py_ = y.data<T>();
    {
      KernelScope nogil;
      kernel(px, pw, py_, v.outer, v.n, v.inner);
    }
    return y.owner;
  });
}

py::tuple prelu_bwd(const py::handle& x_obj, const py::handle& w_obj, const py::handle& gy_obj,
                    int64_t axis) {
  const ArrayArg x = any_array_arg(x_obj, "x", "float32 or float64");
  return dispatch_float(x, "x", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    check_c_contiguous(x, "x");
    const ArrayArg w = input_arg<T>(w_obj, "weight");
    const ArrayArg gy = input_arg<T>(gy_obj, "gy");
    const Device dev = same_device({&x, &w, &gy}, {"x", "weight", "gy"});
    check_ndim(w, 1, "weight");
    check_same_shape(gy, x, "gy", "x");
    const AxisView v = channel_view(x, axis, w.size(), "weight");
    auto* kernel = prelu_backward_device_stub<T>.get(dev);
    const ArrayArg gx = empty_on<T>(dev, shape_of(x));
    const ArrayArg gw = zeros_on<T>(dev, shape_of(w));  // the kernel accumulates into it
    const T* px = x.data<T>();
    const T* pw = w.data<T>();
    const T* pg = gy.data<T>();
    T* pgx = gx.data<T>();
    T* pgw = gw.data<T>();
    {
      KernelScope nogil;
      kernel(px, pw, pg, pgx, pgw, v.outer, v.n, v.inner);
    }
    return py::make_tuple(gx.owner, gw.owner);
  });
}

py::object bias_add_fwd(const py::handle& x_obj, const py::handle& b_obj, int64_t axis,
                        const py::object& out) {
  const ArrayArg x = any_array_arg(x_obj, "x", "float32 or float64");
  return dispatch_float(x, "x", [&](auto tag) -> py::object {
    using T = decltype(tag);
    check_c_contiguous(x, "x");
    const ArrayArg b = input_arg<T>(b_obj, "bias");
    const Device dev = same_device({&x, &b}, {"x", "bias"});
    check_ndim(b, 1, "bias");
    if (x.ndim() == 0) throw py::value_error("x must have at least one dimension");
    const AxisView v = axis_view(x, normalize_axis(axis, x.ndim(), "x"));
    if (b.size() != v.n)
      throw py::value_error("bias has " + std::to_string(b.size()) + " entries but x has " +
                            std::to_string(v.n) + " along axis " + std::to_string(axis) +
                            " (shape " + shape_str(x) + ")");
    auto* kernel = bias_add_forward_device_stub<T>.get(dev);
    const ArrayArg y = output_arg<T>(out, x, "out");
    check_no_overlap(y, x, "out", "x", Alias::exact_ok);  // element-wise: out may be x
    check_no_overlap(y, b, "out", "bias");
    const T* px = x.data<T>();
    const T* pb = b.data<T>();
    T* py_ = y.data<T>();
    {
      KernelScope nogil;
      kernel(px, pb, py_, v.outer, v.n, v.inner);
    }
    return y.owner;
  });
}

py::object bias_grad(const py::handle& gy_obj, int64_t axis) {
  const ArrayArg gy = any_array_arg(gy_obj, "gy", "float32 or float64");
  return dispatch_float(gy, "gy", [&](auto tag) -> py::object {
    using T = decltype(tag);
    check_c_contiguous(gy, "gy");
    if (gy.ndim() == 0) throw py::value_error("gy must have at least one dimension");
    const AxisView v = axis_view(gy, normalize_axis(axis, gy.ndim(), "gy"));
    auto* kernel = bias_add_backward_device_stub<T>.get(gy.device);
    const ArrayArg gb = zeros_on<T>(gy.device, {v.n});  // the kernel accumulates into it
    const T* pg = gy.data<T>();
    T* pgb = gb.data<T>();
    {
      KernelScope nogil;
      kernel(pg, pgb, v.outer, v.n, v.inner);
    }
    return gb.owner;
  });
}

// Dropout's p, forward and backward alike: in [0, 1) (p = 1 would scale by 1/0; NaN refused).
void check_dropout_p(double p) {
  if (!(p >= 0.0 && p < 1.0))
    throw py::value_error("dropout probability p must be in [0, 1), got " + std::to_string(p));
}

// Returns (y, mask) with mask a uint8 array of x's shape (1 = kept).
py::tuple dropout_fwd(const py::handle& x_obj, double p, uint64_t seed) {
  check_dropout_p(p);
  const ArrayArg x = any_array_arg(x_obj, "x", "float32 or float64");
  return dispatch_float(x, "x", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    check_c_contiguous(x, "x");
    auto* kernel = dropout_forward_device_stub<T>.get(x.device);
    const ArrayArg y = empty_on<T>(x.device, shape_of(x));
    const ArrayArg mask = empty_on<uint8_t>(x.device, shape_of(x));
    // keep with probability 1 - p (to 2^-32), see [Note: dropout RNG]
    const uint32_t threshold = dropout_threshold(p);
    const T scale = static_cast<T>(1.0 / (1.0 - p));
    const T* px = x.data<T>();
    T* py_ = y.data<T>();
    uint8_t* pm = mask.data<uint8_t>();
    {
      KernelScope nogil;
      kernel(px, py_, pm, x.size(), seed, threshold, scale);
    }
    return py::make_tuple(y.owner, mask.owner);
  });
}

py::object dropout_bwd(const py::handle& gy_obj, const py::handle& mask_obj, double p) {
  check_dropout_p(p);
  const ArrayArg gy = any_array_arg(gy_obj, "gy", "float32 or float64");
  return dispatch_float(gy, "gy", [&](auto tag) -> py::object {
    using T = decltype(tag);
    check_c_contiguous(gy, "gy");
    const ArrayArg mask = input_arg<uint8_t>(mask_obj, "mask");
    const Device dev = same_device({&gy, &mask}, {"gy", "mask"});
    check_same_shape(mask, gy, "mask", "gy");
    auto* kernel = dropout_backward_device_stub<T>.get(dev);
    const ArrayArg gx = empty_on<T>(dev, shape_of(gy));
    const T* pg = gy.data<T>();
    const uint8_t* pm = mask.data<uint8_t>();
    T* pgx = gx.data<T>();
    {
      KernelScope nogil;
      kernel(pg, pm, pgx, gy.size(), static_cast<T>(1.0 / (1.0 - p)));
    }
    return gx.owner;
  });
}

}  // namespace

DC_BINDINGS(activation) {
  m.def("dropout_forward", &dropout_fwd, py::arg("x"), py::arg("p"), py::arg("seed"),
        "Inverted dropout with a counter-based RNG keyed by seed: (y, mask uint8).");
  m.def("dropout_backward", &dropout_bwd, py::arg("gy"), py::arg("mask"), py::arg("p"),
        "gx = gy * mask / (1 - p).");
  m.def(
      "activation_kinds",
      []() {
        py::list l;
        for (const char* n : kActNames) l.append(n);
        return l;
      },
      "Names of the native activation kinds.");
  m.def(
      "activation_reads_output",
      [](const std::string& kind) { return act_reads_output(parse_act(kind)); },
      "Whether activation_backward of this kind reads the saved output y (else the input x).");
  m.def("activation_forward", &activation_forward, py::arg("x"), py::arg("kind"),
        py::arg("p0") = 0.0, py::arg("p1") = 0.0, py::arg("out") = py::none(),
        "y = f(x) for an activation kind (see csrc/activation.h for p0/p1), float32/float64; "
        "out may be x (in place).");
  m.def("activation_backward", &activation_backward, py::arg("kind"), py::arg("gy"),
        py::arg("x") = py::none(), py::arg("y") = py::none(), py::arg("p0") = 0.0,
        py::arg("p1") = 0.0, py::arg("want_dp0") = false, py::arg("out") = py::none(),
        "gx = gy * f'(x). sigmoid/tanh/relu read the saved output y, the others the input x. "
        "With want_dp0 (swish) returns (gx, dL/dbeta). out may be gy, x or y (in place).");
  m.def("activation_forward_ref", &activation_forward_ref, py::arg("x"), py::arg("kind"),
        py::arg("p0") = 0.0, py::arg("p1") = 0.0, "Reference (naive, double) activation_forward.");
  m.def("activation_backward_ref", &activation_backward_ref, py::arg("kind"), py::arg("gy"),
        py::arg("x"), py::arg("p0") = 0.0, py::arg("p1") = 0.0,
        "Reference (naive, double) activation_backward, always from the input x.");
  m.def("prelu_forward", &prelu_fwd, py::arg("x"), py::arg("weight"), py::arg("axis") = 1,
        "y = x > 0 ? x : weight[c] * x, c the index along axis (weight of size 1: shared).");
  m.def("prelu_backward", &prelu_bwd, py::arg("x"), py::arg("weight"), py::arg("gy"),
        py::arg("axis") = 1, "(gx, gweight) of prelu; gweight reduced over the other axes.");
  m.def("bias_add", &bias_add_fwd, py::arg("x"), py::arg("bias"), py::arg("axis") = -1,
        py::arg("out") = py::none(), "y = x + bias broadcast along axis (out may be x).");
  m.def("bias_grad", &bias_grad, py::arg("gy"), py::arg("axis") = -1,
        "gbias[c] = sum of gy over every axis but `axis`.");
}

}  // namespace dc
