// Max and average pooling (1D/2D) and global average pooling, NCHW.
//
//   x is (N,C,H,W); y is (N,C,P,Q); window (R,S), stride (sh,sw), top/left padding (ph,pw);
//   the bottom/right padding is implied by P and Q (computed by the binding).
//   max: y[n,c,p,q] = max over the window's elements inside the input (padding never wins);
//        with dilation (dh, dw) the window's taps are r*dh, t*dw apart (PyTorch's max pooling
//        dilation; average pooling has none);
//        idx[n,c,p,q] = h*W + w of the winner within its (H,W) plane (int32), as PyTorch's
//        return_indices does; NaN propagates.
//   avg: y = sum over the window's elements inside the input / divisor, where divisor = R*S
//        (count_include_pad, PyTorch's default) or the number of elements inside the input.
// pool1d is pool2d with H = R = 1. Gradients of the input are assigned (=).
#pragma once

#include <cstdint>

#include "core/dispatch.h"
#ifndef DC_ISA_LEVEL
#include "core/device_dispatch.h"
#endif

namespace dc {

struct PoolShape {
  int64_t N, C, H, W;
  int64_t R, S;            // window
  int64_t P, Q;            // output
  int64_t sh, sw;          // stride
  int64_t ph, pw;          // top / left padding
  int64_t dh = 1, dw = 1;  // dilation (max pooling only)
};

template <typename T>
void max_pool2d_forward(const PoolShape& s, const T* x, T* y, int32_t* idx);  // idx may be null
// The window of s is known (window_known) or only N, C, H, W, P, Q are (then the general
// scatter runs). mask (dy's shape, may be null): dy is routed only where mask > 0, zero
// elsewhere (a ReLU input's mask from the pooled values: [Note: ReLU masks handed down] in
// python/deepcore/_relu_handoff.py). Returns false, with one offending index in *bad, if some
// index lies outside its plane [0, H*W) (dx is then unspecified).
template <typename T>
bool max_pool2d_backward(const PoolShape& s, const T* dy, const int32_t* idx, const T* mask, T* dx,
                         bool window_known, int32_t* bad);
template <typename T>
void avg_pool2d_forward(const PoolShape& s, const T* x, T* y, bool count_include_pad);
template <typename T>
void avg_pool2d_backward(const PoolShape& s, const T* dy, T* dx, bool count_include_pad);
// x is (N*C planes of HW elements); y (N*C) = the mean of each plane; dx = dy / HW broadcast.
template <typename T>
void global_avg_pool_forward(int64_t planes, int64_t HW, const T* x, T* y);
template <typename T>
void global_avg_pool_backward(int64_t planes, int64_t HW, const T* dy, T* dx);

// Adaptive pooling of `planes` (H,W) planes to (P,Q): output (p, q) pools the rows
// [floor(p*H/P), ceil((p+1)*H/P)) and the columns [floor(q*W/Q), ceil((q+1)*W/Q)) (PyTorch's
// windows; P, Q >= 1, H, W >= 1). avg: the window's mean; max: its maximum and, when idx is
// non-null, the plane-local h*W + w of the first maximum (a NaN wins, the last NaN stays, as
// PyTorch). Max pooling's backward is max_pool2d_backward with window_known = false.
template <typename T>
void adaptive_avg_pool2d_forward(int64_t planes, int64_t H, int64_t W, int64_t P, int64_t Q,
                                 const T* x, T* y);
template <typename T>
void adaptive_avg_pool2d_backward(int64_t planes, int64_t H, int64_t W, int64_t P, int64_t Q,
                                  const T* dy, T* dx);  // dx assigned
template <typename T>
void adaptive_max_pool2d_forward(int64_t planes, int64_t H, int64_t W, int64_t P, int64_t Q,
                                 const T* x, T* y, int32_t* idx);

// The explicit instantiations of the drivers above for one T: the CPU drivers (pool.cpp, in
// dc) and their CUDA twins (cuda/pool.cu, in dc::cuda) expand the same list.
#define DC_POOL_INSTANTIATIONS(T)                                                                \
  template void max_pool2d_forward<T>(const PoolShape&, const T*, T*, int32_t*);                 \
  template bool max_pool2d_backward<T>(const PoolShape&, const T*, const int32_t*, const T*, T*, \
                                       bool, int32_t*);                                          \
  template void avg_pool2d_forward<T>(const PoolShape&, const T*, T*, bool);                     \
  template void avg_pool2d_backward<T>(const PoolShape&, const T*, T*, bool);                    \
  template void global_avg_pool_forward<T>(int64_t, int64_t, const T*, T*);                      \
  template void global_avg_pool_backward<T>(int64_t, int64_t, const T*, T*);                     \
  template void adaptive_avg_pool2d_forward<T>(int64_t, int64_t, int64_t, int64_t, int64_t,      \
                                               const T*, T*);                                    \
  template void adaptive_avg_pool2d_backward<T>(int64_t, int64_t, int64_t, int64_t, int64_t,     \
                                                const T*, T*);                                   \
  template void adaptive_max_pool2d_forward<T>(int64_t, int64_t, int64_t, int64_t, int64_t,      \
                                               const T*, T*, int32_t*);

#ifndef DC_ISA_LEVEL
// Device stubs of the drivers above ([Note: device dispatch] in core/device_dispatch.h). 1-D
// pooling runs as 2-D (H = R = 1), so its calls look up the 2-D stubs.
DC_DEVICE_STUB(max_pool2d_forward, "max_pool2d_forward");
DC_DEVICE_STUB(max_pool2d_backward, "max_pool2d_backward");
DC_DEVICE_STUB(avg_pool2d_forward, "avg_pool2d_forward");
DC_DEVICE_STUB(avg_pool2d_backward, "avg_pool2d_backward");
DC_DEVICE_STUB(global_avg_pool_forward, "global_avg_pool_forward");
DC_DEVICE_STUB(global_avg_pool_backward, "global_avg_pool_backward");
DC_DEVICE_STUB(adaptive_avg_pool2d_forward, "adaptive_avg_pool2d_forward");
DC_DEVICE_STUB(adaptive_avg_pool2d_backward, "adaptive_avg_pool2d_backward");
DC_DEVICE_STUB(adaptive_max_pool2d_forward, "adaptive_max_pool2d_forward");
#endif

// Naive loops (csrc/ref/pool_ref.cpp) for tests, with the drivers' signatures; CPU only.
namespace ref {
template <typename T>
void max_pool2d_forward(const PoolShape& s, const T* x, T* y, int32_t* idx);
template <typename T>
void avg_pool2d_forward(const PoolShape& s, const T* x, T* y, bool count_include_pad);
template <typename T>
void avg_pool2d_backward(const PoolShape& s, const T* dy, T* dx, bool count_include_pad);
}  // namespace ref

}  // namespace dc

// ISA kernels (csrc/cpu/pool_kernels.cpp) over `planes` consecutive (H,W) planes; stubs at
// global scope, one per element type T ([Note: one source, three ISAs]).
DC_DECLARE_DISPATCH_T(max_pool_fwd_stub,
                      void(const dc::PoolShape&, int64_t planes, const T* x, T* y, int32_t* idx));
DC_DECLARE_DISPATCH_T(avg_pool_fwd_stub,
                      void(const dc::PoolShape&, int64_t planes, const T* x, T* y, bool inc_pad));
// Write-once max-pooling backward for S == sw == 2, sh >= R, no padding ([Note: write-once max
// pooling backward]); false if some window's index lies outside it. mask as in
// max_pool2d_backward (null: none).
DC_DECLARE_DISPATCH_T(max_pool_bwd_w2_stub, bool(const dc::PoolShape&, int64_t planes, const T* dy,
                                                 const int32_t* idx, const T* mask, T* dx));
