// deepcore._C convolution entries: validation, then csrc/conv.h.
//
//   conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1, groups=1, algo="auto",
//                  relu=False) -> y          (relu: max(y, 0) fused into the bias pass)
//   conv2d_backward_input(dy, w, input_shape, stride, padding, dilation, groups, algo) -> dx
//   conv2d_backward_weight(x, dy, weight_shape, stride, padding, dilation, groups, algo,
//                          bias=True) -> (dw, db or None)
//   conv2d_algorithm(input_shape, weight_shape, ..., pass_="forward", algo="auto",
//                    dtype="float32") -> "direct" | "im2col" | "implicit"
//   conv2d_output_shape(input_shape, weight_shape, stride, padding, dilation, groups)
//   conv3d_direct_tiles(input_shape, weight_shape, ..., pass_, dtype) -> "channels" | "planes"
//                       | "rows" (the implicit GEMM's tiles: csrc/conv.h)
//   spatial_ints(value, n, name, minimum=1) -> tuple: the per-axis argument rule, for layers
// and the conv1d_* twins on (N, C, L) / (K, C/groups, R), run as conv2d with H = R = 1, and
// the conv3d_* twins on (N, C, D, H, W) / (K, C/groups, KD, R, S) (algo 'direct' is the implicit
// GEMM for the passes it covers, 'im2col' vol2col + GEMM; see conv3d_resolve_algo; 'implicit'
// is accepted as a synonym of 'direct', and reported as 'direct').
// algo="reference" runs the naive kernels of csrc/ref/conv_ref.cpp (for tests).
#include "conv.h"

#include "bindings/array_arg.h"
#include "bindings/conv_geometry.h"
#include "bindings/registry.h"

namespace dc {

namespace {

template <typename A>
void check_input(const A& a, int nsp, const char* name, const char* layout) {
  check_rank(a, 2 + nsp, name, layout);
  check_c_contiguous(a, name);
}

// The kernel of one pass for arrays on `dev`: the device stub of the pass (conv2d_* for conv1d
// and conv2d, conv3d_*), looked up before anything is allocated. The reference kernels run
// instead on the CPU (run_reference); algo='reference' on CUDA arrays is the NotImplementedError
// of an empty slot (cpu_only).
template <typename Fn>
Fn* conv_kernel(const DeviceStub<Fn>& stub, const ConvArgs& a, Device dev) {
  Fn* fn = stub.get(dev);
  if (a.requested_reference) cpu_only(dev, "conv algo='reference'", fn);
  return fn;
}
// On CUDA, the geometry whose CPU buffers would not fit ([Note: conv geometry at the boundary])
// is the CUDA kernel's to handle.
bool run_reference(const ConvArgs& a, Device dev) { return a.reference && dev == Device::cpu; }

template <int NSP>
py::object conv_forward(const py::handle& x_obj, const py::handle& w_obj, const py::object& b_obj,
                        const py::object& stride, const py::object& padding,
                        const py::object& dilation, const py::object& groups,
                        const std::string& algo, bool relu) {
  const ArrayArg x = any_array_arg(x_obj, "x");
  return dispatch_float(x, "x", [&](auto tag) -> py::object {
    using T = decltype(tag);
    const ArrayArg w = array_arg<T>(w_obj, "w");
    check_input(x, NSP, "x", x_layout(NSP));
    check_input(w, NSP, "w", w_layout(NSP));
    const auto a =
        conv_args(shape_of(x), shape_of(w), stride, padding, dilation, groups, algo, NSP);
    ArrayArg b;
    if (!b_obj.is_none()) {
      b = array_arg<T>(b_obj, "b");
      check_shape(b, {a.s.K}, "b");
      check_c_contiguous(b, "b");
    }
    const Device dev = same_device({&x, &w, &b}, {"x", "w", "b"});
    auto* kernel = [&] {
      if constexpr (NSP == 3)
        return conv_kernel(conv3d_forward_device_stub<T>, a, dev);
      else
        return conv_kernel(conv2d_forward_device_stub<T>, a, dev);
    }();
    const bool reference = run_reference(a, dev);
    const ArrayArg y = empty_on<T>(dev, y_shape(a));
    const T *xp = x.data<T>(), *wp = w.data<T>(), *bp = b.present() ? b.data<T>() : nullptr;
    T* yp = y.data<T>();
    {
      KernelScope nogil;
      if (reference)
        ref::conv3d_forward<T>(a.v(), xp, wp, bp, yp, relu);
      else if constexpr (NSP == 3)
        kernel(a.v(), xp, wp, bp, yp, a.algo, relu);
      else
        kernel(a.s, xp, wp, bp, yp, a.algo, relu);
    }
    return y.owner;
  });
}

template <int NSP>
py::object conv_backward_input(const py::handle& dy_obj, const py::handle& w_obj,
                               const py::object& input_shape, const py::object& stride,
                               const py::object& padding, const py::object& dilation,
                               const py::object& groups, const std::string& algo) {
  const ArrayArg dy = any_array_arg(dy_obj, "dy");
  return dispatch_float(dy, "dy", [&](auto tag) -> py::object {
    using T = decltype(tag);
    const ArrayArg w = array_arg<T>(w_obj, "w");
    check_input(dy, NSP, "dy", "(N, K, spatial...)");
    check_input(w, NSP, "w", w_layout(NSP));
    const auto xs = shape_arg(input_shape, 2 + NSP, "input_shape");
    const auto a = conv_args(xs, shape_of(w), stride, padding, dilation, groups, algo, NSP);
    check_dy(dy, y_shape(a));
    const Device dev = same_device({&dy, &w}, {"dy", "w"});
    auto* kernel = [&] {
      if constexpr (NSP == 3)
        return conv_kernel(conv3d_backward_input_device_stub<T>, a, dev);
      else
        return conv_kernel(conv2d_backward_input_device_stub<T>, a, dev);
    }();
    const bool reference = run_reference(a, dev);
    const ArrayArg dx = empty_on<T>(dev, xs);
    const T *dyp = dy.data<T>(), *wp = w.data<T>();
    T* dxp = dx.data<T>();
    {
      KernelScope nogil;
      if (reference)
        ref::conv3d_backward_input<T>(a.v(), dyp, wp, dxp);
      else if constexpr (NSP == 3)
        kernel(a.v(), dyp, wp, dxp, a.algo);
      else
        kernel(a.s, dyp, wp, dxp, a.algo);
    }
    return dx.owner;
  });
}

template <int NSP>
py::tuple conv_backward_weight(const py::handle& x_obj, const py::handle& dy_obj,
                               const py::object& weight_shape, const py::object& stride,
                               const py::object& padding, const py::object& dilation,
                               const py::object& groups, const std::string& algo, bool bias) {
  const ArrayArg x = any_array_arg(x_obj, "x");
  return dispatch_float(x, "x", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    const ArrayArg dy = array_arg<T>(dy_obj, "dy");
    check_input(x, NSP, "x", x_layout(NSP));
    check_input(dy, NSP, "dy", "(N, K, spatial...)");
    const auto ws = shape_arg(weight_shape, 2 + NSP, "weight_shape");
    const auto a = conv_args(shape_of(x), ws, stride, padding, dilation, groups, algo, NSP);
    check_dy(dy, y_shape(a));
    const Device dev = same_device({&x, &dy}, {"x", "dy"});
    auto* kernel = [&] {
      if constexpr (NSP == 3)
        return conv_kernel(conv3d_backward_weight_device_stub<T>, a, dev);
      else
        return conv_kernel(conv2d_backward_weight_device_stub<T>, a, dev);
    }();
    const bool reference = run_reference(a, dev);
    // dw, db: accumulated by the kernel
    const ArrayArg dw = zeros_on<T>(dev, ws);
    const ArrayArg db = bias ? zeros_on<T>(dev, {a.s.K}) : ArrayArg{};
    const T *xp = x.data<T>(), *dyp = dy.data<T>();
    T *dwp = dw.data<T>(), *dbp = bias ? db.data<T>() : nullptr;
    {
      KernelScope nogil;
      if (reference)
        ref::conv3d_backward_weight<T>(a.v(), xp, dyp, dwp, dbp);
      else if constexpr (NSP == 3)
        kernel(a.v(), xp, dyp, dwp, dbp, a.algo);
      else
        kernel(a.s, xp, dyp, dwp, dbp, a.algo);
    }
    return py::make_tuple(dw.owner, bias ? db.owner : py::none());
  });
}

ConvPass parse_pass(const std::string& pass) {
  static constexpr Choice<ConvPass> kPasses[] = {{"forward", ConvPass::forward},
                                                 {"backward_input", ConvPass::backward_input},
                                                 {"backward_weight", ConvPass::backward_weight}};
  return parse_choice(pass, "pass_", kPasses);
}

// Whether a query's dtype argument names float64 (else float32): the implicit kernels' tiles,
// and so the choices that depend on them, differ between the two.
bool is_float64(const std::string& dtype) {
  static constexpr Choice<bool> kTypes[] = {{"float32", false}, {"float64", true}};
  return parse_choice(dtype, "dtype", kTypes);
}

template <typename T, int NSP>
const char* resolve_algo(const ConvArgs& a, ConvPass p) {
  return conv_algo_name(NSP == 3 ? conv3d_resolve_algo<T>(a.v(), p, a.algo)
                                 : conv_resolve_algo<T>(a.s, p, a.algo));
}

template <int NSP>
std::string conv_algorithm(const py::object& input_shape, const py::object& weight_shape,
                           const py::object& stride, const py::object& padding,
                           const py::object& dilation, const py::object& groups,
                           const std::string& pass, const std::string& algo,
                           const std::string& dtype) {
  const auto a = conv_args(shape_arg(input_shape, 2 + NSP, "input_shape"),
                           shape_arg(weight_shape, 2 + NSP, "weight_shape"), stride, padding,
                           dilation, groups, algo, NSP);
  const ConvPass p = parse_pass(pass);
  const bool f64 = is_float64(dtype);
  if (a.reference) return "reference";
  return f64 ? resolve_algo<double, NSP>(a, p) : resolve_algo<float, NSP>(a, p);
}

std::string conv3d_tiles(const py::object& input_shape, const py::object& weight_shape,
                         const py::object& stride, const py::object& padding,
                         const py::object& dilation, const py::object& groups,
                         const std::string& pass, const std::string& dtype) {
  const auto a = conv_args(shape_arg(input_shape, 5, "input_shape"),
                           shape_arg(weight_shape, 5, "weight_shape"), stride, padding, dilation,
                           groups, "auto", 3);
  const ConvPass p = parse_pass(pass);
  return is_float64(dtype) ? conv3d_direct_tiles<double>(a.v(), p)
                           : conv3d_direct_tiles<float>(a.v(), p);
}

template <int NSP>
py::tuple conv_output_shape(const py::object& input_shape, const py::object& weight_shape,
                            const py::object& stride, const py::object& padding,
                            const py::object& dilation, const py::object& groups) {
  const auto a = conv_args(shape_arg(input_shape, 2 + NSP, "input_shape"),
                           shape_arg(weight_shape, 2 + NSP, "weight_shape"), stride, padding,
                           dilation, groups, "auto", NSP);
  return to_tuple(y_shape(a));
}

template <int NSP>
void bind_conv(py::module_& m, const std::string& name) {
  m.def((name + "_forward").c_str(), &conv_forward<NSP>, py::arg("x"), py::arg("w"),
        py::arg("b") = py::none(), py::arg("stride") = 1, py::arg("padding") = 0,
        py::arg("dilation") = 1, py::arg("groups") = 1, py::arg("algo") = "auto",
        py::arg("relu") = false,
        "Cross-correlation y = conv(x, w) + b (see csrc/conv.h); padding: int, tuple, 'valid', "
        "'same' or 'full'; algo: 'auto', 'direct', 'im2col', 'implicit' or 'reference'; relu: "
        "y = max(y, 0) fused into the bias pass.");
  m.def((name + "_backward_input").c_str(), &conv_backward_input<NSP>, py::arg("dy"), py::arg("w"),
        py::arg("input_shape"), py::arg("stride") = 1, py::arg("padding") = 0,
        py::arg("dilation") = 1, py::arg("groups") = 1, py::arg("algo") = "auto",
        "Gradient of the input: dx (input_shape) from dy and w.");
  m.def((name + "_backward_weight").c_str(), &conv_backward_weight<NSP>, py::arg("x"),
        py::arg("dy"), py::arg("weight_shape"), py::arg("stride") = 1, py::arg("padding") = 0,
        py::arg("dilation") = 1, py::arg("groups") = 1, py::arg("algo") = "auto",
        py::arg("bias") = true,
        "Gradients of the weight and bias: (dw, db), db None when bias=False.");
  m.def((name + "_algorithm").c_str(), &conv_algorithm<NSP>, py::arg("input_shape"),
        py::arg("weight_shape"), py::arg("stride") = 1, py::arg("padding") = 0,
        py::arg("dilation") = 1, py::arg("groups") = 1, py::arg("pass_") = "forward",
        py::arg("algo") = "auto", py::arg("dtype") = "float32",
        "The algorithm `algo` runs for this shape, pass and dtype ('float32' or 'float64'): "
        "'direct', 'im2col', 'implicit' (conv1d/conv2d) or 'reference'.");
  m.def((name + "_output_shape").c_str(), &conv_output_shape<NSP>, py::arg("input_shape"),
        py::arg("weight_shape"), py::arg("stride") = 1, py::arg("padding") = 0,
        py::arg("dilation") = 1, py::arg("groups") = 1, "Output shape, validating the arguments.");
}

}  // namespace

DC_BINDINGS(conv) {
  bind_conv<2>(m, "conv2d");
  bind_conv<1>(m, "conv1d");
  bind_conv<3>(m, "conv3d");
  m.def("conv3d_direct_tiles", &conv3d_tiles, py::arg("input_shape"), py::arg("weight_shape"),
        py::arg("stride") = 1, py::arg("padding") = 0, py::arg("dilation") = 1,
        py::arg("groups") = 1, py::arg("pass_") = "forward", py::arg("dtype") = "float32",
        "The tiles algo='direct' runs this pass with: 'channels', 'planes' or 'rows'.");
  // The layers' constructors (Conv*D, *Pooling*D) check their per-axis arguments with the
  // same rule the kernels apply, instead of a second copy of it in Python.
  m.def(
      "spatial_ints",
      [](const py::handle& value, int n, const std::string& name, int64_t minimum) {
        if (n < 1) throw py::value_error("n must be positive, got " + std::to_string(n));
        const std::string what = minimum == 1   ? "positive"
                                 : minimum == 0 ? "non-negative"
                                                : ">= " + std::to_string(minimum);
        return to_tuple(spatial_ints(value, n, name, minimum, what.c_str()));
      },
      py::arg("value"), py::arg("n"), py::arg("name"), py::arg("minimum") = 1,
      "An int or a sequence of n ints (NumPy integers accepted; bool, float and values outside "
      "int64 refused) as a tuple of n ints, each >= minimum; errors name `name`.");
}

}  // namespace dc
