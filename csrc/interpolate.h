// Resampling of (N, C, H, W) planes by nearest-neighbour or (bi)linear interpolation, as
// PyTorch's F.interpolate (1-D inputs are planes with H = P = 1).
//
//   x is (N,C,H,W); y is (N,C,P,Q). Along each axis, output index o reads source indices
//   i0(o), i1(o) with weights (1 - l(o), l(o)):
//     y[n,c,p,q] = (1-lh)*((1-lw)*x[h0,w0] + lw*x[h0,w1]) + lh*((1-lw)*x[h1,w0] + lw*x[h1,w1])
//   nearest:        i0 = i1 = min(floor(o * scale), in - 1), l = 0, with the scale in float,
//                   PyTorch's legacy 'nearest'; on 2-D inputs (shortcuts) also PyTorch's
//                   out == in: i0 = o and out == 2 in: i0 = o / 2, whatever the scale factor
//                   (its 1-D kernel has no such shortcuts: scale_factor 1.2 on 2 elements
//                   reads 0, 0 in 1-D and 0, 1 in 2-D);
//   nearest-exact:  i0 = i1 = min(floor((o + 0.5) * scale), in - 1) (float);
//   linear:         an axis with out == in is copied (i0 = i1 = o, l = 0) whatever the scale
//                   factor, as PyTorch; otherwise
//                   src = align_corners ? o * (in-1)/(out-1) : max((o + 0.5) * scale - 0.5, 0)
//                   in T, i0 = floor(src), i1 = min(i0 + 1, in - 1), l = src - i0 in [0, 1];
//   scale = 1 / scale_factor when the caller gave one (> 0), else in / out.
// dx (N,C,H,W) is assigned: each dy spreads over the (up to 4) sources with the same weights.
#pragma once

#include <cstdint>

#include "core/dispatch.h"
#ifndef DC_ISA_LEVEL
#include "core/device_dispatch.h"
#endif

namespace dc {

enum class InterpMode : int { nearest = 0, nearest_exact = 1, linear = 2 };

struct InterpShape {
  int64_t planes, H, W, P, Q;
  InterpMode mode;
  bool align_corners;
  double scale_h, scale_w;  // the caller's scale factors (0: none, use in / out)
  bool shortcuts;           // nearest's out == in / out == 2 in index shortcuts (2-D only)
};

template <typename T>
void interpolate_forward(const InterpShape& s, const T* x, T* y);
template <typename T>
void interpolate_backward(const InterpShape& s, const T* dy, T* dx);

#ifndef DC_ISA_LEVEL
// Device stubs of the drivers above ([Note: device dispatch] in core/device_dispatch.h).
DC_DEVICE_STUB(interpolate_forward, "interpolate_forward");
DC_DEVICE_STUB(interpolate_backward, "interpolate_backward");
#endif

namespace ref {
// csrc/ref/interpolate_ref.cpp: the definition above per output element, in loops.
template <typename T>
void interpolate_forward(const InterpShape& s, const T* x, T* y);
template <typename T>
void interpolate_backward(const InterpShape& s, const T* dy, T* dx);
}  // namespace ref

// Per-ISA plane kernels (csrc/cpu/interpolate_kernels.cpp) over `planes` consecutive planes,
// single-threaded; h*/w* are the per-axis tables (h0, h1, lh: P entries; w0, w1, lw: Q).
template <typename T>
struct InterpTables {
  const int64_t *h0, *h1, *w0, *w1;
  const T *lh, *lw;
};
template <typename T>
struct InterpKernels {
  void (*forward)(const InterpShape& s, const InterpTables<T>& t, int64_t planes, const T* x, T* y);
  void (*backward)(const InterpShape& s, const InterpTables<T>& t, int64_t planes, const T* dy,
                   T* dx);
};

}  // namespace dc

DC_DECLARE_DISPATCH_T(interp_stub, const dc::InterpKernels<T>*());
