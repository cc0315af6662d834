// N-d padding (NumPy's np.pad modes, PyTorch's F.pad with crops) as one gather and its adjoint.
//
//   Axis d of the input (length n) is first cropped to [c0, c1) by negative widths, then padded
//   by (before, after) >= 0 elements; output position o of the axis reads the cropped input at
//   source(o - before), where source(i) for i outside [0, n') (n' = c1 - c0) is
//     constant   none: the element is the fill value
//     edge       the nearest end                       (PyTorch 'replicate')
//     reflect    mirrored about the end elements, repeating with period 2 (n' - 1)
//     symmetric  mirrored including the end elements, period 2 n'
//     wrap       periodic, period n'                    (PyTorch 'circular')
//   which is NumPy's np.pad for every width (repeated reflection included) and PyTorch's F.pad
//   where PyTorch allows the width.
//   pad_forward:  y (out_shape) = x gathered through the per-axis source maps (fill where any
//                 axis has none)
//   pad_backward: dx (in_shape)  = the sum of dy over every output element that reads x's
//                 element (zero where none does): the adjoint of the gather.
// Both are row loops over the leading axes; along the last axis the longest run of consecutive
// sources is one memcpy / one vector add per row and the few padded elements go one by one
// through the axis's source map. Threaded over rows: forward over output rows, backward
// over INPUT rows through the per-axis inverse maps, so no two tasks write one element and the
// sum order is fixed whatever the thread count.
#pragma once

#include <cstdint>
#include <vector>

#include "core/device_dispatch.h"

namespace dc {

enum class PadMode : int { constant = 0, edge = 1, reflect = 2, symmetric = 3, wrap = 4 };

// The source of position i (relative to the cropped start) on an axis of cropped length n > 0
// (n == 0: every position has none), or -1 for none.
int64_t pad_source(int64_t i, int64_t n, PadMode mode);

// A run of the last axis: out[o0 .. o0 + len) reads in[i0 .. i0 + len).
struct PadRun {
  int64_t o0, i0, len;
};

// The maps of one call (host memory), built once by the binding from the validated arguments.
struct PadGeometry {
  std::vector<int64_t> in_shape, out_shape;
  std::vector<int64_t> widths;  // the call's (before, after) pairs, crops negative
  PadMode mode = PadMode::constant;
  // axis d's source map: src[src_off[d] + o] for o < out_shape[d]
  std::vector<int64_t> src, src_off;
  // axis d's inverse map (leading axes only): the output positions reading input index i are
  // inv[inv_start[inv_off[d] + i] .. inv_start[inv_off[d] + i + 1]), ascending
  std::vector<int64_t> inv, inv_start, inv_off;
  PadRun mid{0, 0, 0};  // the last axis's longest run (one memcpy per row; the rest one by one)
  int64_t ndim() const { return static_cast<int64_t>(in_shape.size()); }
};

// widths: one (before, after) per axis, negative = crop (the caller checked the cropped lengths
// are >= 0 and the output's size fits). The inverse maps only with `inverse` (pad_backward
// reads them; the forward does not).
PadGeometry pad_geometry(const std::vector<int64_t>& in_shape, const std::vector<int64_t>& widths,
                         PadMode mode, bool inverse);

// E is a storage type of the element's width (uint8_t ... uint64_t): the gather copies bits.
// fill: one element, or nullptr for all-zero bits.
template <typename E>
void pad_forward(const PadGeometry& g, const E* x, E* y, const E* fill);
template <typename T>  // float, double
void pad_backward(const PadGeometry& g, const T* dy, T* dx);

// The instantiations, in the namespace of the definitions (dc, dc::ref): the forward per
// element width, the backward per float type.
#define DC_PAD_INSTANTIATIONS                                                         \
  template void pad_forward<uint8_t>(const PadGeometry&, const uint8_t*, uint8_t*,    \
                                     const uint8_t*);                                 \
  template void pad_forward<uint16_t>(const PadGeometry&, const uint16_t*, uint16_t*, \
                                      const uint16_t*);                               \
  template void pad_forward<uint32_t>(const PadGeometry&, const uint32_t*, uint32_t*, \
                                      const uint32_t*);                               \
  template void pad_forward<uint64_t>(const PadGeometry&, const uint64_t*, uint64_t*, \
                                      const uint64_t*);                               \
  template void pad_backward<float>(const PadGeometry&, const float*, float*);        \
  template void pad_backward<double>(const PadGeometry&, const double*, double*);

DC_DEVICE_STUB(pad_forward, "pad");
DC_DEVICE_STUB(pad_backward, "pad_backward");

namespace ref {
// csrc/ref/pad_ref.cpp: one output element at a time, each source found by stepping the
// reflection / wrap (not by pad_source's closed form), single-threaded.
template <typename E>
void pad_forward(const PadGeometry& g, const E* x, E* y, const E* fill);
template <typename T>
void pad_backward(const PadGeometry& g, const T* dy, T* dx);
}  // namespace ref

}  // namespace dc
