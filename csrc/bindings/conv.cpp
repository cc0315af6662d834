// deepcore._C convolution entries: validation, then csrc/conv.h.
//
//   conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1, groups=1, algo="auto",
//                  relu=False) -> y          (relu: max(y, 0) fused into the bias pass)
//   conv2d_backward_input(dy, w, input_shape, stride, padding, dilation, groups, algo) -> dx
//   conv2d_backward_weight(x, dy, weight_shape, stride, padding, dilation, groups, algo,
//                          bias=True) -> (dw, db or None)
//   conv2d_algorithm(input_shape, weight_shape, ..., pass_="forward") -> "direct" | "im2col"
//   conv2d_output_shape(input_shape, weight_shape, stride, padding, dilation, groups)
//   spatial_ints(value, n, name, minimum=1) -> tuple: the per-axis argument rule, for layers
// and the conv1d_* twins on (N, C, L) / (K, C/groups, R), run as conv2d with H = R = 1, and
// the conv3d_* twins on (N, C, D, H, W) / (K, C/groups, KD, R, S) (vol2col + GEMM only: algo
// 'auto' / 'im2col' / 'reference').
// algo="reference" runs the naive kernels of csrc/ref/conv_ref.cpp (for tests).
#include "conv.h"

#include "bindings/array_arg.h"
#include "bindings/conv_args.h"
#include "bindings/registry.h"

namespace dc {

namespace {

struct ConvArgs {
  ConvShape s;
  int nsp;
  bool requested_reference;  // algo='reference'
  bool reference;            // requested, or the fast kernels' buffers would not fit
  ConvAlgo algo;
  int64_t D = 1, KD = 1, O = 1, sd = 1, pd = 0, dd = 1;  // the depth axis (conv3d)
  Conv3dShape v() const { return Conv3dShape{s, D, KD, O, sd, pd, dd}; }
};

ConvAlgo parse_algo(const std::string& algo, bool& reference) {
  reference = false;
  if (algo == "auto") return ConvAlgo::automatic;
  if (algo == "direct") return ConvAlgo::direct;
  if (algo == "im2col") return ConvAlgo::im2col;
  if (algo == "reference") {
    reference = true;
    return ConvAlgo::automatic;
  }
  throw py::value_error("algo must be 'auto', 'direct', 'im2col' or 'reference', got '" + algo +
                        "'");
}

const char* x_layout(int nsp) {
  return nsp == 3 ? "(N, C, D, H, W)" : nsp == 2 ? "(N, C, H, W)" : "(N, C, L)";
}
const char* w_layout(int nsp) {
  return nsp == 3   ? "(K, C/groups, KD, R, S)"
         : nsp == 2 ? "(K, C/groups, R, S)"
                    : "(K, C/groups, R)";
}

// [Note: conv geometry at the boundary]
// conv_args turns the caller's integers into a ConvShape once, and every size derived from
// them is overflow-checked here ([Note: checked integers] in checks.h), so the kernels' own
// index and size arithmetic never wraps:
//  - kernel extents dil*(k-1)+1 and padded sizes in+lo+hi are checked (ValueError naming
//    dilation / padding), and so is the output's size;
//  - along an axis with one output position the stride multiplies only index 0, so it is set
//    to 1, and a kernel of size 1 gets dilation 1: the same convolution, but the direct
//    kernel's padded copy (it rounds the output up to 16 columns, so it spans 15 strides past
//    the first window) no longer grows with a stride that is never taken (a 1x1 output with
//    stride 2**31 asked for 32 GiB);
//  - the direct and im2col kernels work on a zero-padded copy of each image, (P-1)*sh + ext
//    rows by (roundup(Q, 16)-1)*sw + ext columns per channel, and on column matrices of
//    C/G*R*S x N*P*Q. When these do not fit in 64 bits, or the copy would be far larger than
//    the data it holds (padding and dilation far beyond the input, so that windows read
//    almost only zeros), the call runs the reference kernel, whose loops need no buffer and
//    index only positions below the padded size, instead of allocating it.
constexpr int64_t kMaxCopyPerDatum = 64;     // padded copy vs input + output + weight
constexpr int64_t kMinCopyBudget = 1 << 24;  // elements: always allowed (64 MiB of float32)

// The padded copy and column matrix of the fast kernels fit, and the copy is not absurdly
// larger than the data (see the note above).
bool fast_kernels_fit(const ConvShape& s) {
  int64_t Hp, Wp, copy, cols, data;
  if (!conv_direct_padded_extent_fits(s.P, s.sh, s.R, s.dh, 1, &Hp) ||
      !conv_direct_padded_extent_fits(s.Q, s.sw, s.S, s.dw, kConvDirectQB, &Wp) ||
      mul_overflow(s.Cg(), Hp, &copy) || mul_overflow(copy, Wp, &copy) ||
      mul_overflow(copy, 8, &data))
    return false;
  if (!numel_fits({s.Cg(), s.R, s.S, s.N, s.P, s.Q}, &cols)) return false;
  // each term is an element count of an existing (or checked) array, so the sum fits
  data = s.Cg() * s.H * s.W + s.Kg() * s.P * s.Q + s.Kg() * s.Cg() * s.R * s.S;
  return copy <= kMinCopyBudget || copy / kMaxCopyPerDatum <= data;
}

// The 3-D kernels' only buffer is a band's column block, at least one output row of it
// (C/G*KD*R*S x Q); the same rule as above for when it is too large to make.
bool fast3d_fits(const ConvArgs& a) {
  const ConvShape& s = a.s;
  int64_t row, xg, yg, wg;
  if (!numel_fits({s.Cg(), a.KD, s.R, s.S, s.Q}, &row) ||
      !numel_fits({s.Cg(), a.D, s.H, s.W}, &xg) || !numel_fits({s.Kg(), a.O, s.P, s.Q}, &yg) ||
      !numel_fits({s.Kg(), s.Cg(), a.KD, s.R, s.S}, &wg))
    return false;
  return row <= kMinCopyBudget || row / kMaxCopyPerDatum <= xg / 3 + yg / 3 + wg / 3;
}

// Geometry from the input and weight shapes (x: N, C, spatial...; w: K, C/G, kernel...).
ConvArgs conv_args(const std::vector<int64_t>& xs, const std::vector<int64_t>& ws,
                   const py::handle& stride_obj, const py::handle& padding_obj,
                   const py::handle& dilation_obj, const py::handle& groups_obj,
                   const std::string& algo, int nsp) {
  ConvArgs a{};
  a.nsp = nsp;
  a.algo = parse_algo(algo, a.requested_reference);
  a.reference = a.requested_reference;
  if (nsp == 3 && a.algo == ConvAlgo::direct)
    throw py::value_error("algo must be 'auto', 'im2col' or 'reference' for conv3d, got 'direct'");
  const int64_t groups = py_int64(groups_obj, "groups");
  if (groups < 1) throw py::value_error("groups must be positive, got " + std::to_string(groups));
  const int64_t N = xs[0], C = xs[1], K = ws[0], Cw = ws[1];
  if (C % groups != 0)
    throw py::value_error("groups=" + std::to_string(groups) +
                          " must divide the input channels, got C=" + std::to_string(C));
  if (K % groups != 0)
    throw py::value_error("groups=" + std::to_string(groups) +
                          " must divide the output channels, got K=" + std::to_string(K) +
                          " (w.shape[0])");
  if (Cw != C / groups)
    throw py::value_error("channel mismatch: x has C=" + std::to_string(C) +
                          " channels, but w expects C/groups=" + std::to_string(Cw) +
                          " with groups=" + std::to_string(groups) +
                          " (w.shape[1] * groups must equal C)");
  const std::vector<int64_t> in(xs.begin() + 2, xs.end()), k(ws.begin() + 2, ws.end());
  for (int i = 0; i < nsp; ++i)
    if (k[i] < 1)
      throw py::value_error(std::string("w must have a non-empty kernel, got shape ") +
                            shape_str(ws));
  auto stride = spatial_ints(stride_obj, nsp, "stride", 1, "positive");
  auto dil = spatial_ints(dilation_obj, nsp, "dilation", 1, "positive");
  const auto pads = parse_padding(padding_obj, in, k, stride, dil, /*allow_full=*/true);
  std::vector<int64_t> out(nsp);
  for (int i = 0; i < nsp; ++i) {
    const int64_t ext = kernel_extent(k[i], dil[i], i);
    int64_t padded;
    if (add_overflow(in[i], pads[i].lo, &padded) || add_overflow(padded, pads[i].hi, &padded))
      throw py::value_error("padding " + repr_str(padding_obj) +
                            " is too large: the padded input " + "size along spatial axis " +
                            std::to_string(i) + " does not fit in a 64-bit integer");
    if (ext > padded)
      throw py::value_error("kernel is larger than the padded input: kernel extent " +
                            std::to_string(ext) + " (size " + std::to_string(k[i]) + ", dilation " +
                            std::to_string(dil[i]) + ") > input " + std::to_string(in[i]) +
                            " + padding " + std::to_string(pads[i].lo + pads[i].hi) +
                            " along spatial axis " + std::to_string(i));
    out[i] = (padded - ext) / stride[i] + 1;
    if (out[i] == 1) stride[i] = 1;  // canonical form: see the note above
    if (k[i] == 1) dil[i] = 1;
  }
  std::vector<int64_t> yshape{N, K};
  yshape.insert(yshape.end(), out.begin(), out.end());
  int64_t ysize;
  if (!numel_fits(yshape, &ysize))
    throw py::value_error("padding " + repr_str(padding_obj) + " is too large: the output would " +
                          "have shape " + shape_str(yshape) +
                          ", whose size in bytes does not fit in a 64-bit integer");
  // conv1d is conv2d with a unit H axis; conv3d adds a leading depth axis.
  const int o = nsp - 2;  // index of the H-axis values in the per-axis vectors
  auto ax = [&](const auto& v, int i, int64_t unit) { return i + o < 0 ? unit : v[i + o]; };
  a.s = ConvShape{N,
                  C,
                  ax(in, 0, 1),
                  in[nsp - 1],
                  K,
                  ax(k, 0, 1),
                  k[nsp - 1],
                  ax(out, 0, 1),
                  out[nsp - 1],
                  ax(stride, 0, 1),
                  stride[nsp - 1],
                  nsp >= 2 ? pads[o].lo : 0,
                  pads[nsp - 1].lo,
                  ax(dil, 0, 1),
                  dil[nsp - 1],
                  groups};
  if (nsp == 3) {
    a.D = in[0], a.KD = k[0], a.O = out[0], a.sd = stride[0], a.pd = pads[0].lo, a.dd = dil[0];
    if (!fast3d_fits(a)) a.reference = true;
  } else if (!fast_kernels_fit(a.s)) {
    a.reference = true;
  }
  return a;
}

std::vector<int64_t> y_shape(const ConvArgs& a) {
  if (a.nsp == 3) return {a.s.N, a.s.K, a.O, a.s.P, a.s.Q};
  if (a.nsp == 2) return {a.s.N, a.s.K, a.s.P, a.s.Q};
  return {a.s.N, a.s.K, a.s.Q};
}

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
        kernel(a.v(), xp, wp, bp, yp, relu);
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
        kernel(a.v(), dyp, wp, dxp);
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
        kernel(a.v(), xp, dyp, dwp, dbp);
      else
        kernel(a.s, xp, dyp, dwp, dbp, a.algo);
    }
    return py::make_tuple(dw.owner, bias ? db.owner : py::none());
  });
}

template <int NSP>
std::string conv_algorithm(const py::object& input_shape, const py::object& weight_shape,
                           const py::object& stride, const py::object& padding,
                           const py::object& dilation, const py::object& groups,
                           const std::string& pass, const std::string& algo) {
  const auto a = conv_args(shape_arg(input_shape, 2 + NSP, "input_shape"),
                           shape_arg(weight_shape, 2 + NSP, "weight_shape"), stride, padding,
                           dilation, groups, algo, NSP);
  ConvPass p;
  if (pass == "forward")
    p = ConvPass::forward;
  else if (pass == "backward_input")
    p = ConvPass::backward_input;
  else if (pass == "backward_weight")
    p = ConvPass::backward_weight;
  else
    throw py::value_error("pass_ must be 'forward', 'backward_input' or 'backward_weight'");
  if (a.reference) return "reference";
  if (NSP == 3) return "im2col";  // vol2col + GEMM, every pass
  return conv_algo_name(conv_resolve_algo(a.s, p, a.algo));
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
        "'same' or 'full'; algo: 'auto', 'direct', 'im2col' or 'reference'; relu: y = max(y, 0) "
        "fused into the bias pass.");
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
        py::arg("algo") = "auto", "The algorithm algo='auto' runs for this shape and pass.");
  m.def((name + "_output_shape").c_str(), &conv_output_shape<NSP>, py::arg("input_shape"),
        py::arg("weight_shape"), py::arg("stride") = 1, py::arg("padding") = 0,
        py::arg("dilation") = 1, py::arg("groups") = 1, "Output shape, validating the arguments.");
}

}  // namespace

DC_BINDINGS(conv) {
  bind_conv<2>(m, "conv2d");
  bind_conv<1>(m, "conv1d");
  bind_conv<3>(m, "conv3d");
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
