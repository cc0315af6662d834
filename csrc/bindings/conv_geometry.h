// Convolution geometry at the binding boundary: the caller's shapes, strides, padding and
// dilation turned into a checked ConvShape / Conv3dShape once (see [Note: conv geometry at the
// boundary]). Shared by the conv entries (conv.cpp) and the convolutional LSTM (rnn.cpp).
#pragma once

#include <string>
#include <vector>

#include "bindings/array_arg.h"
#include "bindings/conv_args.h"
#include "conv.h"

namespace dc {

struct ConvArgs {
  ConvShape s;
  int nsp;
  bool requested_reference;  // algo='reference'
  bool reference;            // requested, or the fast kernels' buffers would not fit
  ConvAlgo algo;
  int64_t D = 1, KD = 1, O = 1, sd = 1, pd = 0, dd = 1;  // the depth axis (conv3d)
  Conv3dShape v() const { return Conv3dShape{s, D, KD, O, sd, pd, dd}; }
};

inline ConvAlgo parse_algo(const std::string& algo, bool& reference) {
  static constexpr Choice<ConvAlgo> kAlgos[] = {{"auto", ConvAlgo::automatic},
                                                {"direct", ConvAlgo::direct},
                                                {"im2col", ConvAlgo::im2col},
                                                {"implicit", ConvAlgo::implicit},
                                                {"reference", ConvAlgo::automatic}};
  reference = algo == "reference";  // the naive kernels (the algo itself is then unused)
  return parse_choice(algo, "algo", kAlgos);
}

inline const char* x_layout(int nsp) {
  return nsp == 3 ? "(N, C, D, H, W)" : nsp == 2 ? "(N, C, H, W)" : "(N, C, L)";
}
inline const char* w_layout(int nsp) {
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
inline bool fast_kernels_fit(const ConvShape& s) {
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
inline bool fast3d_fits(const ConvArgs& a) {
  const ConvShape& s = a.s;
  int64_t row, xg, yg, wg;
  if (!numel_fits({s.Cg(), a.KD, s.R, s.S, s.Q}, &row) ||
      !numel_fits({s.Cg(), a.D, s.H, s.W}, &xg) || !numel_fits({s.Kg(), a.O, s.P, s.Q}, &yg) ||
      !numel_fits({s.Kg(), s.Cg(), a.KD, s.R, s.S}, &wg))
    return false;
  return row <= kMinCopyBudget || row / kMaxCopyPerDatum <= xg / 3 + yg / 3 + wg / 3;
}

// Geometry from the input and weight shapes (x: N, C, spatial...; w: K, C/G, kernel...).
inline ConvArgs conv_args(const std::vector<int64_t>& xs, const std::vector<int64_t>& ws,
                          const py::handle& stride_obj, const py::handle& padding_obj,
                          const py::handle& dilation_obj, const py::handle& groups_obj,
                          const std::string& algo, int nsp) {
  ConvArgs a{};
  a.nsp = nsp;
  a.algo = parse_algo(algo, a.requested_reference);
  a.reference = a.requested_reference;
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

inline std::vector<int64_t> y_shape(const ConvArgs& a) {
  if (a.nsp == 3) return {a.s.N, a.s.K, a.O, a.s.P, a.s.Q};
  if (a.nsp == 2) return {a.s.N, a.s.K, a.s.P, a.s.Q};
  return {a.s.N, a.s.K, a.s.Q};
}

}  // namespace dc
