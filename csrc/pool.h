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
// scatter runs). Returns false, with one offending index in *bad, if some index lies outside its
// plane [0, H*W) (dx is then unspecified).
template <typename T>
bool max_pool2d_backward(const PoolShape& s, const T* dy, const int32_t* idx, T* dx,
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

namespace ref {
template <typename T>
void max_pool2d_forward(const PoolShape& s, const T* x, T* y, int32_t* idx);
template <typename T>
void avg_pool2d_forward(const PoolShape& s, const T* x, T* y, bool count_include_pad);
template <typename T>
void avg_pool2d_backward(const PoolShape& s, const T* dy, T* dx, bool count_include_pad);
}  // namespace ref

}  // namespace dc

// ISA kernels (csrc/cpu/pool_kernels.cpp) over `planes` consecutive (H,W) planes.
#define DC_MAX_POOL_FWD(T) \
  void(const dc::PoolShape&, int64_t planes, const T* x, T* y, int32_t* idx)
DC_DECLARE_DISPATCH(max_pool_fwd_f32, DC_MAX_POOL_FWD(float));
DC_DECLARE_DISPATCH(max_pool_fwd_f64, DC_MAX_POOL_FWD(double));
#define DC_AVG_POOL_FWD(T) \
  void(const dc::PoolShape&, int64_t planes, const T* x, T* y, bool inc_pad)
DC_DECLARE_DISPATCH(avg_pool_fwd_f32, DC_AVG_POOL_FWD(float));
DC_DECLARE_DISPATCH(avg_pool_fwd_f64, DC_AVG_POOL_FWD(double));
// Write-once max-pooling backward for S == sw == 2, sh >= R, no padding ([Note: write-once max
// pooling backward]); false if some window's index lies outside it.
#define DC_MAX_POOL_BWD_W2(T) \
  bool(const dc::PoolShape&, int64_t planes, const T* dy, const int32_t* idx, T* dx)
DC_DECLARE_DISPATCH(max_pool_bwd_w2_f32, DC_MAX_POOL_BWD_W2(float));
DC_DECLARE_DISPATCH(max_pool_bwd_w2_f64, DC_MAX_POOL_BWD_W2(double));
