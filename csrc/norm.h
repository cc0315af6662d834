// Layer normalisation and batch normalisation: fused forward and backward kernels.
//
// Both save the per-group mean and reciprocal standard deviation rstd = 1/sqrt(var + eps)
// (biased variance) from the forward, as llm.c's layernorm does, so backward needs no second
// statistics pass:  xhat = (x - mean) * rstd,  y = xhat * w + b,
//   gx = rstd * (gy*w - mean(gy*w) - xhat * mean(gy*w * xhat))   (means over the group)
//   gw += sum(gy * xhat),  gb += sum(gy)                            (sums over the other axes)
#pragma once

#include <cstdint>

#include "core/dispatch.h"
#ifndef DC_ISA_LEVEL
#include "core/device_dispatch.h"
#endif

namespace dc {

// Layer norm over rows: x, y are (M, N); w, b are (N,) or null (no affine); mean, rstd (M,).
template <typename T>
void layer_norm_forward(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, int64_t M,
                        int64_t N, T eps);
// gx (M, N) assigned; gw, gb (N,) accumulated (+=) when non-null.
template <typename T>
void layer_norm_backward(const T* gy, const T* x, const T* w, const T* mean, const T* rstd, T* gx,
                         T* gw, T* gb, int64_t M, int64_t N);

// Batch norm of x viewed as (outer, C, inner), statistics per channel c over (outer, inner)
// (axis 1 of NCHW: outer = N, inner = H*W; channels-last: outer = N*H*W, inner = 1).
// training: mean/rstd (C,) are computed from the batch and, when running_mean/var are
// non-null, folded into them: r = (1 - momentum) * r + momentum * stat, with the unbiased
// variance (n / (n - 1)) as PyTorch when unbiased_var, the biased one as Keras otherwise.
// Otherwise mean/rstd are taken from running_mean/var
// (which must be non-null). w, b (C,) or null.
template <typename T>
void batch_norm_forward(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, T* running_mean,
                        T* running_var, bool training, T momentum, T eps, bool unbiased_var,
                        int64_t outer, int64_t C, int64_t inner);
// gx assigned (training: through the batch statistics; eval: gy * w * rstd); gw, gb (C,)
// accumulated (+=) when non-null.
template <typename T>
void batch_norm_backward(const T* gy, const T* x, const T* w, const T* mean, const T* rstd, T* gx,
                         T* gw, T* gb, bool training, int64_t outer, int64_t C, int64_t inner);

#ifndef DC_ISA_LEVEL
// Device stubs of the drivers above ([Note: device dispatch] in core/device_dispatch.h).
DC_DEVICE_STUB(layer_norm_forward, "layer_norm_forward");
DC_DEVICE_STUB(layer_norm_backward, "layer_norm_backward");
DC_DEVICE_STUB(batch_norm_forward, "batch_norm_forward");
DC_DEVICE_STUB(batch_norm_backward, "batch_norm_backward");
#endif

namespace ref {
// csrc/ref/activation_ref.cpp: the obvious loops in double, for tests.
template <typename T>
void layer_norm_forward(const T* x, const T* w, const T* b, T* y, int64_t M, int64_t N, T eps);
}  // namespace ref

// Per-ISA row kernels of layer norm (csrc/cpu/norm_kernels.cpp), single-threaded.
template <typename T>
struct LayerNormKernels {
  void (*forward_rows)(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, int64_t rows,
                       int64_t N, T eps);
  // gw_part, gb_part (N,): this thread's partial sums, accumulated (+=); may be null.
  void (*backward_rows)(const T* gy, const T* x, const T* w, const T* mean, const T* rstd, T* gx,
                        T* gw_part, T* gb_part, int64_t rows, int64_t N);
};

}  // namespace dc

DC_DECLARE_DISPATCH_T(layer_norm_stub, const dc::LayerNormKernels<T>*());
