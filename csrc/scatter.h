// gather / scatter along one axis with PyTorch's semantics.
//
//   index is int64, C-contiguous, viewed as (outer, m, inner) around the axis (outer: the
//   axes before it, inner: after); every other array is addressed through per-slice offset
//   tables, so index may be smaller than x / src along the other axes (as PyTorch allows).
//   gather:   y[o, i, k] (index's shape, C-contiguous) = x[o, index[o, i, k], k]
//   scatter:  out[o, index[o, i, k], k] = op(out[o, index[o, i, k], k], src[o, i, k])
//             for op assign (the last write wins), sum, prod, max, min (NaN propagates);
//             without include_self, every destination written is first set to op's identity
//             (so it reduces over the scattered values only).
//   An index outside [0, len) (len: the target's length along the axis) is reported, never
//   followed: the call returns false with it in *bad (the output is then unspecified).
// Work is split over (o, block of k): two tasks never write one destination, so the result is
// the sequential one whatever the thread count (assign with duplicate indices included).
#pragma once

#include <cstdint>

#include "core/device_dispatch.h"

namespace dc {

enum class ScatterOp : int { assign = 0, sum = 1, prod = 2, max = 3, min = 4 };

// Addressing of one array along the index's (outer, m, inner) view: element (o, j, k) of the
// array is at base[o] + j * axis_stride + off[k] (base: outer entries, off: inner entries).
struct Slices {
  const int64_t* base;
  const int64_t* off;
  int64_t axis_stride;
};

struct GatherShape {
  int64_t outer, m, inner;
  int64_t len;  // the target's (x's / out's) length along the axis
};

template <typename T>
bool gather(const GatherShape& s, const int64_t* index, const T* x, const Slices& xs, T* y,
            int64_t* bad);
template <typename T>
bool scatter(const GatherShape& s, ScatterOp op, bool include_self, const int64_t* index,
             const T* src, const Slices& ss, T* out, const Slices& os, int64_t* bad);

// Device stubs ([Note: device dispatch] in core/device_dispatch.h). The Slices tables are in host
// memory (as gemm_batched's offsets). gather_backward scatter-adds into zeros.
DC_DEVICE_STUB(gather, "gather");
DC_DEVICE_STUB(scatter, "scatter");
template <typename T>
inline DeviceStub<scatter_fn<T>> gather_backward_device_stub{"gather_backward", &scatter<T>};

namespace ref {
// csrc/ref/scatter_ref.cpp: one element at a time in index order, single-threaded.
template <typename T>
bool gather(const GatherShape& s, const int64_t* index, const T* x, const Slices& xs, T* y,
            int64_t* bad);
template <typename T>
bool scatter(const GatherShape& s, ScatterOp op, bool include_self, const int64_t* index,
             const T* src, const Slices& ss, T* out, const Slices& os, int64_t* bad);
}  // namespace ref

}  // namespace dc
