// deepcore._C pooling entries: validation, then csrc/pool.h.
//
//   max_pool2d_forward(x, kernel_size, stride=None, padding=0, return_indices=True, ...,
//                      dilation=1) -> (y, idx) (idx int32, plane-local h*W + w) or y
//   max_pool2d_backward(dy, idx, input_shape, ..., mask=None) -> dx (mask: dy's shape and
//                       dtype; dy routed only where mask > 0, the mask of a ReLU input)
//   avg_pool2d_forward(x, kernel_size, stride=None, padding=0, count_include_pad=True) -> y
//   avg_pool2d_backward(dy, input_shape, kernel_size, stride=None, padding=0,
//                       count_include_pad=True) -> dx
//   pool2d_output_shape(input_shape, kernel_size, stride=None, padding=0)
//   global_avg_pool_forward(x) -> (N, C): the mean over every axis after the second
//   global_avg_pool_backward(dy, input_shape) -> dx
// and the *1d twins on (N, C, L), run as 2-D pooling with H = R = 1. stride None means the
// kernel size; padding is an int, a tuple, 'valid' or 'same' (TensorFlow/Keras split).
// out= (optional) receives y / dx instead of a new array; it must not overlap any input (see
// [Note: out= aliasing] in bindings/checks.h).
// `reference=True` runs the naive kernels of csrc/ref/pool_ref.cpp (for tests; CPU only).
// Arrays are ArrayArgs: device dispatch as in every area ([Note: device dispatch]); 1-D pooling
// looks up the 2-D stubs.
#include "pool.h"

#include "bindings/array_arg.h"
#include "bindings/conv_args.h"
#include "bindings/registry.h"

namespace dc {

namespace {

const char* layout(int nsp) { return nsp == 2 ? "(N, C, H, W)" : "(N, C, L)"; }

// A dilated window can fall between the inputs: its taps (start + j*dil, j < k) all in the
// padding or past the input (k = 2, dilation 3 on an input of 2 with padding 1). Max pooling
// would have no element to take (PyTorch returns -inf with an index outside the plane), so
// such geometry is refused. Only windows starting in the left padding can be empty: the others
// start inside the input (pads are at most half the extent, and a ceil_mode window starts
// inside the input or its left padding), and their first tap is read.
void check_dilated_windows(int64_t n, int64_t k, int64_t stride, int64_t lo, int64_t dil,
                           int64_t out, int axis) {
  for (int64_t o = 0; o < out; ++o) {
    const int64_t start = o * stride - lo;  // in [-lo, n): no overflow
    if (start >= 0) break;
    const int64_t j = -start / dil + (-start % dil != 0);  // the first tap at or after 0
    if (j < k && start + j * dil < n) continue;
    throw py::value_error("dilation " + std::to_string(dil) + ": the window of output " +
                          std::to_string(o) + " along spatial axis " + std::to_string(axis) +
                          " reads no input element (all its taps fall in the padding)");
  }
}

// ceil_mode: the output size rounds up (PyTorch's rule: a last window must start inside the
// input or its left padding); *overhang (when given) says whether some window then reaches
// past the padded input.
PoolShape pool_args(const std::vector<int64_t>& xs, const py::handle& kernel_obj,
                    const py::handle& stride_obj, const py::handle& padding_obj, int nsp,
                    bool ceil_mode = false, bool* overhang = nullptr,
                    const py::handle& dilation_obj = py::int_(1)) {
  if (overhang) *overhang = false;
  const auto k = spatial_ints(kernel_obj, nsp, "kernel_size", 1, "positive");
  const auto stride =
      stride_obj.is_none() ? k : spatial_ints(stride_obj, nsp, "stride", 1, "positive");
  const auto dil = spatial_ints(dilation_obj, nsp, "dilation", 1, "positive");
  const std::vector<int64_t> in(xs.begin() + 2, xs.end());
  const auto pads = parse_padding(padding_obj, in, k, stride, dil, /*allow_full=*/false);
  std::vector<int64_t> out(nsp);
  for (int i = 0; i < nsp; ++i) {
    const int64_t ext = kernel_extent(k[i], dil[i], i);
    if (pads[i].lo > ext / 2 || pads[i].hi > ext / 2)
      throw py::value_error("padding must be at most half the kernel size, got padding " +
                            std::to_string(std::max(pads[i].lo, pads[i].hi)) + " for kernel size " +
                            std::to_string(k[i]) +
                            (dil[i] > 1 ? " (dilated extent " + std::to_string(ext) + ")" : ""));
    int64_t padded;
    if (add_overflow(in[i], pads[i].lo, &padded) || add_overflow(padded, pads[i].hi, &padded))
      throw py::value_error("padding " + repr_str(padding_obj) + " is too large: the padded " +
                            "input does not fit in a 64-bit integer");
    if (ext > padded)
      throw py::value_error("kernel_size " + std::to_string(k[i]) +
                            (dil[i] > 1 ? " (dilated extent " + std::to_string(ext) + ")" : "") +
                            " is larger than the padded input (" + std::to_string(padded) +
                            ") along spatial axis " + std::to_string(i));
    out[i] = (padded - ext) / stride[i] + 1;
    if (ceil_mode && (padded - ext) % stride[i] != 0 && out[i] * stride[i] < in[i] + pads[i].lo)
      ++out[i];  // one more window, starting inside the input or its left padding
    if (overhang && (out[i] - 1) * stride[i] + ext > padded) *overhang = true;
    if (dil[i] > 1) check_dilated_windows(in[i], k[i], stride[i], pads[i].lo, dil[i], out[i], i);
  }
  const bool two = nsp == 2;
  return PoolShape{xs[0],
                   xs[1],
                   two ? in[0] : 1,
                   in[nsp - 1],
                   two ? k[0] : 1,
                   k[nsp - 1],
                   two ? out[0] : 1,
                   out[nsp - 1],
                   two ? stride[0] : 1,
                   stride[nsp - 1],
                   two ? pads[0].lo : 0,
                   pads[nsp - 1].lo,
                   two ? dil[0] : 1,
                   dil[nsp - 1]};
}

// Average pooling divides by the full window with count_include_pad, which is PyTorch's
// divisor only while windows stay inside the padded input; ceil_mode windows that reach past
// it (PyTorch divides them by their part inside the padded input) are refused.
PoolShape avg_args(const std::vector<int64_t>& xs, const py::handle& kernel,
                   const py::handle& stride, const py::handle& padding, int nsp, bool ceil_mode,
                   bool count_include_pad) {
  bool overhang = false;
  const auto s = pool_args(xs, kernel, stride, padding, nsp, ceil_mode, &overhang);
  if (overhang && count_include_pad)
    throw py::value_error(
        "ceil_mode=True with count_include_pad=True is not supported when a window reaches "
        "past the padded input (pass count_include_pad=False, or more padding)");
  return s;
}

std::vector<int64_t> out_shape(const PoolShape& s, int nsp) {
  if (nsp == 2) return {s.N, s.C, s.P, s.Q};
  return {s.N, s.C, s.Q};
}

// Max pooling's argmax indices are int32 offsets within a plane (half the bytes of int64 on
// the training forward and backward, which are bandwidth-bound), so a plane must have at most
// 2^31 - 1 elements wherever indices are made or read; inference (return_indices=False) has no
// such limit.
void check_index_range(int64_t H, int64_t W, const char* what) {
  int64_t plane;
  if (mul_overflow(H, W, &plane) || plane > INT32_MAX)
    throw py::value_error(std::string(what) + " has planes of " + std::to_string(H) + " x " +
                          std::to_string(W) +
                          " elements; max pooling's int32 argmax indices address at most "
                          "2**31 - 1 per plane (return_indices=False has no limit)");
}

ArrayArg input_array(const py::handle& obj, int nsp, const char* name) {
  ArrayArg a = any_array_arg(obj, name);
  check_rank(a, 2 + nsp, name, layout(nsp));
  check_c_contiguous(a, name);
  return a;
}

template <int NSP>
py::object max_forward(const py::handle& x_obj, const py::object& kernel, const py::object& stride,
                       const py::object& padding, bool return_indices, bool reference,
                       const py::object& out, bool ceil_mode, const py::object& dilation) {
  const ArrayArg x = input_array(x_obj, NSP, "x");
  const auto s = pool_args(shape_of(x), kernel, stride, padding, NSP, ceil_mode, nullptr, dilation);
  if (return_indices) check_index_range(s.H, s.W, "x");
  return dispatch_float(x, "x", [&](auto tag) -> py::object {
    using T = decltype(tag);
    auto* fn = kernel_or_reference(max_pool2d_forward_device_stub<T>, x.device, reference,
                                   &ref::max_pool2d_forward<T>);
    const ArrayArg y = result_arg<T>(out, out_shape(s, NSP), "out", x, "x");
    check_no_overlap(y, x, "out", "x");  // windows read across the plane: never in place
    const ArrayArg idx =
        return_indices ? empty_on<int32_t>(x.device, out_shape(s, NSP)) : ArrayArg{};
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    int32_t* ip = return_indices ? idx.data<int32_t>() : nullptr;
    {
      KernelScope nogil;
      fn(s, xp, yp, ip);
    }
    if (return_indices) return py::make_tuple(y.owner, idx.owner);
    return y.owner;
  });
}

template <int NSP>
py::object max_backward(const py::handle& dy_obj, const py::handle& idx_obj,
                        const py::object& input_shape, const py::object& out,
                        const py::object& kernel, const py::object& stride,
                        const py::object& padding, bool ceil_mode, const py::object& dilation,
                        const py::object& mask_obj) {
  const ArrayArg dy = input_array(dy_obj, NSP, "dy");
  const ArrayArg idx = input_arg<int32_t>(idx_obj, "idx");
  const ArrayArg mask = mask_obj.is_none() ? ArrayArg{} : input_array(mask_obj, NSP, "mask");
  if (!mask_obj.is_none()) {
    check_same_dtype(mask, dy, "mask", "dy");
    if (shape_of(mask) != shape_of(dy))
      throw py::value_error("mask must have dy's shape " + shape_str(dy) + ", got " +
                            shape_str(mask));
  }
  const auto xs = shape_arg(input_shape, 2 + NSP, "input_shape");
  if (shape_of(idx) != shape_of(dy))
    throw py::value_error("idx must have dy's shape " + shape_str(dy) + ", got " + shape_str(idx));
  if (xs[0] != dy.shape(0) || xs[1] != dy.shape(1))
    throw py::value_error("dy " + shape_str(dy) + " does not match input_shape " + shape_str(xs) +
                          " in its first two axes");
  check_index_range(NSP == 2 ? xs[2] : 1, xs[NSP + 1], "input_shape");
  const int64_t HW = NSP == 2 ? xs[2] * xs[3] : xs[2];
  // The window (optional) lets dy's shape be checked against it; the kernel itself needs only
  // the output size.
  PoolShape s{xs[0],
              xs[1],
              NSP == 2 ? xs[2] : 1,
              xs[NSP + 1],
              1,
              1,
              NSP == 2 ? dy.shape(2) : 1,
              dy.shape(NSP + 1),
              1,
              1,
              0,
              0};
  if (!kernel.is_none()) {
    s = pool_args(xs, kernel, stride, padding, NSP, ceil_mode, nullptr, dilation);
    check_dy(dy, out_shape(s, NSP));
  }
  return dispatch_float(dy, "dy", [&](auto tag) -> py::object {
    using T = decltype(tag);
    const Device dev = same_device({&dy, &idx, &mask}, {"dy", "idx", "mask"});
    auto* fn = max_pool2d_backward_device_stub<T>.get(dev);
    const ArrayArg dx = result_arg<T>(out, xs, "out", dy, "dy");
    check_no_overlap(dx, dy, "out", "dy");
    check_no_overlap(dx, idx, "out", "idx");
    check_no_overlap(dx, mask, "out", "mask");
    const T* dyp = dy.data<T>();
    const int32_t* ip = idx.data<int32_t>();
    const T* mp = mask_obj.is_none() ? nullptr : mask.data<T>();
    T* dxp = dx.data<T>();
    int32_t bad = 0;
    bool ok;
    {
      KernelScope nogil;
      ok = fn(s, dyp, ip, mp, dxp, !kernel.is_none(), &bad);
    }
    // (the kernel checks every index and never writes through a bad one)
    if (!ok)
      throw py::value_error("idx holds " + std::to_string(bad) + ", outside the input plane of " +
                            std::to_string(HW) + " elements");
    return dx.owner;
  });
}

template <int NSP>
py::object avg_forward(const py::handle& x_obj, const py::object& kernel, const py::object& stride,
                       const py::object& padding, bool count_include_pad, bool reference,
                       const py::object& out, bool ceil_mode) {
  const ArrayArg x = input_array(x_obj, NSP, "x");
  const auto s = avg_args(shape_of(x), kernel, stride, padding, NSP, ceil_mode, count_include_pad);
  return dispatch_float(x, "x", [&](auto tag) -> py::object {
    using T = decltype(tag);
    auto* fn = kernel_or_reference(avg_pool2d_forward_device_stub<T>, x.device, reference,
                                   &ref::avg_pool2d_forward<T>);
    const ArrayArg y = result_arg<T>(out, out_shape(s, NSP), "out", x, "x");
    check_no_overlap(y, x, "out", "x");
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    {
      KernelScope nogil;
      fn(s, xp, yp, count_include_pad);
    }
    return y.owner;
  });
}

template <int NSP>
py::object avg_backward(const py::handle& dy_obj, const py::object& input_shape,
                        const py::object& kernel, const py::object& stride,
                        const py::object& padding, bool count_include_pad, bool reference,
                        const py::object& out, bool ceil_mode) {
  const ArrayArg dy = input_array(dy_obj, NSP, "dy");
  const auto xs = shape_arg(input_shape, 2 + NSP, "input_shape");
  const auto s = avg_args(xs, kernel, stride, padding, NSP, ceil_mode, count_include_pad);
  check_dy(dy, out_shape(s, NSP));
  return dispatch_float(dy, "dy", [&](auto tag) -> py::object {
    using T = decltype(tag);
    auto* fn = kernel_or_reference(avg_pool2d_backward_device_stub<T>, dy.device, reference,
                                   &ref::avg_pool2d_backward<T>);
    const ArrayArg dx = result_arg<T>(out, xs, "out", dy, "dy");
    check_no_overlap(dx, dy, "out", "dy");
    const T* dyp = dy.data<T>();
    T* dxp = dx.data<T>();
    {
      KernelScope nogil;
      fn(s, dyp, dxp, count_include_pad);
    }
    return dx.owner;
  });
}

template <int NSP>
py::tuple output_shape(const py::object& input_shape, const py::object& kernel,
                       const py::object& stride, const py::object& padding, bool ceil_mode,
                       const py::object& dilation) {
  return to_tuple(out_shape(pool_args(shape_arg(input_shape, 2 + NSP, "input_shape"), kernel,
                                      stride, padding, NSP, ceil_mode, nullptr, dilation),
                            NSP));
}

// Adaptive pooling's geometry: (planes, H, W, P, Q) from x's shape and output_size.
struct AdaptiveShape {
  int64_t planes, H, W, P, Q;
};

template <int NSP>
AdaptiveShape adaptive_args(const std::vector<int64_t>& xs, const py::handle& output_size) {
  const auto out = spatial_ints(output_size, NSP, "output_size", 1, "positive");
  for (int i = 0; i < NSP; ++i) {
    int64_t span;
    if (xs[2 + i] < 1)
      throw py::value_error("adaptive pooling needs non-empty spatial axes, got shape " +
                            shape_str(xs));
    if (mul_overflow(out[i] + 1, xs[2 + i], &span))  // the window bounds (o+1)*in
      throw py::value_error("output_size " + repr_str(output_size) + " is too large");
  }
  std::vector<int64_t> ys{xs[0], xs[1]};
  ys.insert(ys.end(), out.begin(), out.end());
  int64_t n;
  if (!numel_fits(ys, &n))
    throw py::value_error("output_size " + repr_str(output_size) + " is too large");
  return AdaptiveShape{xs[0] * xs[1], NSP == 2 ? xs[2] : 1, xs[NSP + 1], NSP == 2 ? out[0] : 1,
                       out[NSP - 1]};
}

template <int NSP>
std::vector<int64_t> adaptive_out(const std::vector<int64_t>& xs, const AdaptiveShape& a) {
  if (NSP == 2) return {xs[0], xs[1], a.P, a.Q};
  return {xs[0], xs[1], a.Q};
}

template <int NSP>
py::object adaptive_forward(const py::handle& x_obj, const py::handle& output_size, bool max,
                            bool return_indices) {
  const ArrayArg x = input_array(x_obj, NSP, "x");
  const auto xs = shape_of(x);
  const auto a = adaptive_args<NSP>(xs, output_size);
  const bool want_idx = max && return_indices;
  if (want_idx) check_index_range(a.H, a.W, "x");
  return dispatch_float(x, "x", [&](auto tag) -> py::object {
    using T = decltype(tag);
    auto* fmax = max ? adaptive_max_pool2d_forward_device_stub<T>.get(x.device) : nullptr;
    auto* favg = max ? nullptr : adaptive_avg_pool2d_forward_device_stub<T>.get(x.device);
    const ArrayArg y = empty_on<T>(x.device, adaptive_out<NSP>(xs, a));
    const ArrayArg idx =
        want_idx ? empty_on<int32_t>(x.device, adaptive_out<NSP>(xs, a)) : ArrayArg{};
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    int32_t* ip = want_idx ? idx.data<int32_t>() : nullptr;
    {
      KernelScope nogil;
      if (max)
        fmax(a.planes, a.H, a.W, a.P, a.Q, xp, yp, ip);
      else
        favg(a.planes, a.H, a.W, a.P, a.Q, xp, yp);
    }
    if (want_idx) return py::make_tuple(y.owner, idx.owner);
    return y.owner;
  });
}

template <int NSP>
py::object adaptive_avg_backward(const py::handle& dy_obj, const py::object& input_shape) {
  const ArrayArg dy = input_array(dy_obj, NSP, "dy");
  const auto xs = shape_arg(input_shape, 2 + NSP, "input_shape");
  const auto ds = shape_of(dy);
  if (xs[0] != ds[0] || xs[1] != ds[1])
    throw py::value_error("dy " + shape_str(ds) + " does not match input_shape " + shape_str(xs) +
                          " in its first two axes");
  const std::vector<int64_t> osz(ds.begin() + 2, ds.end());
  const auto a = adaptive_args<NSP>(xs, to_tuple(osz));
  return dispatch_float(dy, "dy", [&](auto tag) -> py::object {
    using T = decltype(tag);
    auto* fn = adaptive_avg_pool2d_backward_device_stub<T>.get(dy.device);
    const ArrayArg dx = empty_on<T>(dy.device, xs);
    const T* dyp = dy.data<T>();
    T* dxp = dx.data<T>();
    {
      KernelScope nogil;
      fn(a.planes, a.H, a.W, a.P, a.Q, dyp, dxp);
    }
    return dx.owner;
  });
}

py::object global_forward(const py::handle& x_obj) {
  const ArrayArg x = any_array_arg(x_obj, "x");
  if (x.ndim() < 3)
    throw py::value_error("x must have at least 3 dimensions (N, C, spatial...), got shape " +
                          shape_str(x));
  check_c_contiguous(x, "x");
  const int64_t planes = x.shape(0) * x.shape(1), HW = x.size() / std::max<int64_t>(planes, 1);
  return dispatch_float(x, "x", [&](auto tag) -> py::object {
    using T = decltype(tag);
    auto* fn = global_avg_pool_forward_device_stub<T>.get(x.device);
    const ArrayArg y = empty_on<T>(x.device, {x.shape(0), x.shape(1)});
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    {
      KernelScope nogil;
      fn(planes, planes ? HW : 0, xp, yp);
    }
    return y.owner;
  });
}

py::object global_backward(const py::handle& dy_obj, const py::object& input_shape) {
  const ArrayArg dy = any_array_arg(dy_obj, "dy");
  check_c_contiguous(dy, "dy");
  if (!py::isinstance<py::sequence>(input_shape) || py::isinstance<py::str>(input_shape))
    throw py::type_error("input_shape must be a tuple of ints, got " + type_name(input_shape));
  const auto xs = shape_arg(input_shape, py::len(input_shape), "input_shape");
  if (xs.size() < 3 || shape_of(dy) != std::vector<int64_t>{xs[0], xs[1]})
    throw py::value_error("dy must have shape (N, C) of input_shape " + shape_str(xs) + ", got " +
                          shape_str(dy));
  int64_t HW = 1;
  for (size_t i = 2; i < xs.size(); ++i) HW *= xs[i];  // (shape_arg: the product fits)
  return dispatch_float(dy, "dy", [&](auto tag) -> py::object {
    using T = decltype(tag);
    auto* fn = global_avg_pool_backward_device_stub<T>.get(dy.device);
    const ArrayArg dx = empty_on<T>(dy.device, xs);
    const T* dyp = dy.data<T>();
    T* dxp = dx.data<T>();
    {
      KernelScope nogil;
      fn(xs[0] * xs[1], HW, dyp, dxp);
    }
    return dx.owner;
  });
}

template <int NSP>
void bind_pool(py::module_& m, const std::string& d) {
  m.def(("adaptive_avg_pool" + d + "_forward").c_str(),
        [](const py::handle& x, const py::handle& output_size) {
          return adaptive_forward<NSP>(x, output_size, false, false);
        },
        py::arg("x"), py::arg("output_size"),
        "Adaptive average pooling to output_size (PyTorch's windows).");
  m.def(("adaptive_avg_pool" + d + "_backward").c_str(), &adaptive_avg_backward<NSP>, py::arg("dy"),
        py::arg("input_shape"), "dx of adaptive average pooling (assigned).");
  m.def(("adaptive_max_pool" + d + "_forward").c_str(),
        [](const py::handle& x, const py::handle& output_size, bool return_indices) {
          return adaptive_forward<NSP>(x, output_size, true, return_indices);
        },
        py::arg("x"), py::arg("output_size"), py::arg("return_indices") = true,
        "Adaptive max pooling; (y, int32 plane-local argmax indices) or y. Its backward is "
        "max_pool*_backward(dy, idx, input_shape).");
  m.def(("max_pool" + d + "_forward").c_str(), &max_forward<NSP>, py::arg("x"),
        py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0,
        py::arg("return_indices") = true, py::arg("reference") = false, py::arg("out") = py::none(),
        py::arg("ceil_mode") = false, py::arg("dilation") = 1,
        "Max pooling; returns (y, idx) with int32 plane-local argmax indices, or y.");
  m.def(("max_pool" + d + "_backward").c_str(), &max_backward<NSP>, py::arg("dy"), py::arg("idx"),
        py::arg("input_shape"), py::arg("out") = py::none(), py::arg("kernel_size") = py::none(),
        py::arg("stride") = py::none(), py::arg("padding") = 0, py::arg("ceil_mode") = false,
        py::arg("dilation") = 1, py::arg("mask") = py::none(),
        "dx: dy routed to the argmax of each window (kernel_size/stride/padding optional: "
        "given, dy's shape is checked against them); with mask (dy's shape), only where "
        "mask > 0.");
  m.def(("avg_pool" + d + "_forward").c_str(), &avg_forward<NSP>, py::arg("x"),
        py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0,
        py::arg("count_include_pad") = true, py::arg("reference") = false,
        py::arg("out") = py::none(), py::arg("ceil_mode") = false, "Average pooling.");
  m.def(("avg_pool" + d + "_backward").c_str(), &avg_backward<NSP>, py::arg("dy"),
        py::arg("input_shape"), py::arg("kernel_size"), py::arg("stride") = py::none(),
        py::arg("padding") = 0, py::arg("count_include_pad") = true, py::arg("reference") = false,
        py::arg("out") = py::none(), py::arg("ceil_mode") = false,
        "dx: dy / divisor spread over each window.");
  m.def(("pool" + d + "_output_shape").c_str(), &output_shape<NSP>, py::arg("input_shape"),
        py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0,
        py::arg("ceil_mode") = false, py::arg("dilation") = 1,
        "Output shape of pooling, validating the arguments (dilation: max pooling's).");
}

}  // namespace

DC_BINDINGS(pool) {
  bind_pool<2>(m, "2d");
  bind_pool<1>(m, "1d");
  m.def("global_avg_pool_forward", &global_forward, py::arg("x"),
        "(N, C): the mean of x over every axis after the second.");
  m.def("global_avg_pool_backward", &global_backward, py::arg("dy"), py::arg("input_shape"),
        "dx = dy / (number of spatial elements), broadcast.");
}

}  // namespace dc
