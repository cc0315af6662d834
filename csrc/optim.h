// Optimizer updates: one fused pass per parameter tensor (read p, g, state; write p, state).
//
// [Note: fused optimizer step]
// Every update is  g' = clamp(g * grad_scale, -clip_value, clip_value) + l2 * p   (gradient
// clipping and coupled L2 weight decay, torch's `weight_decay`), then  p *= p_scale  (decoupled
// weight decay, AdamW's 1 - lr*wd), then the optimizer's own rule on g'. All of it happens
// element by element in one loop, so a step costs one read of p, g and the state arrays and one
// write of p and the state, whatever options are on: no temporaries, no extra passes.
// Scalars that depend only on the step count (bias corrections, Nadam's momentum schedule,
// Adagrad's lr decay) are computed once per tensor in double by the driver (optim.cpp).
//
// State arrays, in the order the Python layer passes them (python/deepcore/optim/):
//   sgd      [momentum_buffer]                          (present iff momentum != 0)
//   adagrad  [sum]
//   rmsprop  [square_avg, momentum_buffer?, grad_avg?]  (momentum != 0, centered)
//   adadelta [square_avg, acc_delta]
//   adam     [exp_avg, exp_avg_sq, max_exp_avg_sq?]     (amsgrad)
//   nadam    [exp_avg, exp_avg_sq]  + one double per tensor: mu_product
#pragma once

#include <cstdint>

#include "core/dispatch.h"
#ifndef DC_ISA_LEVEL
#include "core/device_dispatch.h"
#endif

namespace dc {

// Below this many elements a tensor is updated by one thread: forking a team costs more than
// streaming a few hundred KB through one core. Many such tensors are spread across threads.
constexpr int64_t kOptimParallelMin = 1 << 15;

enum class OptimKind : int { sgd = 0, adagrad, rmsprop, adadelta, adam, nadam };

// Hyperparameters of one step, shared by every tensor of a parameter group.
struct OptimHyper {
  double lr = 1e-3;
  double weight_decay = 0.0;  // L2 coefficient (coupled) or decoupled decay rate
  bool decoupled_weight_decay = false;
  double clip_value = 0.0;  // 0: no value clipping
  // sgd / rmsprop
  double momentum = 0.0, dampening = 0.0;
  bool nesterov = false;
  // adam / nadam (beta1, beta2); rmsprop / adadelta use beta2 as rho (alpha in torch)
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-7;
  bool amsgrad = false, centered = false;
  bool eps_inside_sqrt = false;  // rmsprop / adagrad: sqrt(v + eps) (Keras) vs sqrt(v) + eps
  double lr_decay = 0.0;         // adagrad (torch)
  double momentum_decay = 4e-3;  // nadam (psi)
};

// Per-tensor coefficients of one step (the driver fills them from OptimHyper and the step count).
struct OptimCoeffs {
  double grad_scale = 1.0;  // clip-by-norm factor (1: none)
  double clip = 0.0;        // clip-by-value bound (0: none)
  double l2 = 0.0;          // coupled weight decay
  double p_scale = 1.0;     // decoupled weight decay
  double lr = 0.0;          // effective step size (adam: lr / (1 - beta1^t); adagrad: decayed)
  double momentum = 0.0, dampening = 0.0;
  bool nesterov = false, first_step = false;
  double beta1 = 0.0, beta2 = 0.0, eps = 0.0;
  double inv_sqrt_bc2 = 1.0;          // adam / nadam: 1 / sqrt(1 - beta2^t)
  double coef_g = 0.0, coef_m = 0.0;  // nadam: p -= (coef_g g + coef_m m) / denom
  bool amsgrad = false, centered = false, eps_inside_sqrt = false;
};

// One tensor of a fused multi-tensor step.
template <typename T>
struct OptimTensor {
  T* p;
  const T* g;
  T* s[3];
  int64_t n;
  int64_t* step;       // incremented by the step
  double grad_scale;   // 1: none
  double* mu_product;  // nadam only
};

// One tensor's coefficients for its next step: increments *step, advances *mu_product (nadam).
OptimCoeffs optim_begin_step(OptimKind kind, const OptimHyper& h, int64_t* step, double grad_scale,
                             double* mu_product);

// Step every tensor: increments *step, computes the coefficients, runs the fused kernel (or,
// with reference=true, the naive one below, for tests).
template <typename T>
void optim_step(OptimKind kind, const OptimHyper& h, OptimTensor<T>* tensors, int64_t count,
                bool reference = false);

template <typename T>
double sum_squares(const T* x, int64_t n);
template <typename T>
double abs_max(const T* x, int64_t n);
template <typename T>
void scale_clamp(T* x, int64_t n, double scale, double clip);

#ifndef DC_ISA_LEVEL
// Device stubs of the drivers above ([Note: device dispatch] in core/device_dispatch.h).
// optim_step's OptimTensor table, step counts and nadam products are in host memory.
DC_DEVICE_STUB(optim_step, "optim_step");
DC_DEVICE_STUB(sum_squares, "grad_norms");
DC_DEVICE_STUB(abs_max, "grad_norms");
DC_DEVICE_STUB(scale_clamp, "scale_clamp_");
#endif

namespace ref {
// csrc/ref/optim_ref.cpp: one update in double, the obvious loop; tests compare against it.
template <typename T>
void optim_update(OptimKind kind, const OptimCoeffs& c, int64_t n, T* p, const T* g, T* s0, T* s1,
                  T* s2);
}  // namespace ref

}  // namespace dc

// Dispatch stubs live at global scope (DC_REGISTER_DISPATCH_T names them as ::stub<T>).
// p, g: n elements; s0..s2: the kind's state arrays (nullptr where absent). Kernels trust inputs.
DC_DECLARE_DISPATCH_T(optim_update_stub, void(dc::OptimKind, const dc::OptimCoeffs&, int64_t, T*,
                                              const T*, T*, T*, T*));

// Reductions for gradient clipping, accumulated in double: sum of squares (ord 2) or max |x|.
DC_DECLARE_DISPATCH_T(sum_squares_stub, double(const T*, int64_t));
DC_DECLARE_DISPATCH_T(abs_max_stub, double(const T*, int64_t));
// In place: x = clamp(x * scale, -clip, clip) (clip 0: no clamp).
DC_DECLARE_DISPATCH_T(scale_clamp_stub, void(T*, int64_t, double, double));
