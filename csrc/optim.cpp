// Optimizer step driver: per-tensor coefficients from the hyperparameters and the step count,
// then the ISA-dispatched fused kernel (csrc/cpu/optim_kernels.cpp). See csrc/optim.h.
#include "optim.h"

#include <cmath>
#include <type_traits>

DC_DEFINE_DISPATCH(optim_update_f32_stub);
DC_DEFINE_DISPATCH(optim_update_f64_stub);
DC_DEFINE_DISPATCH(sum_squares_f32_stub);
DC_DEFINE_DISPATCH(sum_squares_f64_stub);
DC_DEFINE_DISPATCH(abs_max_f32_stub);
DC_DEFINE_DISPATCH(abs_max_f64_stub);
DC_DEFINE_DISPATCH(scale_clamp_f32_stub);
DC_DEFINE_DISPATCH(scale_clamp_f64_stub);

namespace dc {

namespace {

template <typename T>
void update(OptimKind kind, const OptimCoeffs& c, int64_t n, T* p, const T* g, T* s0, T* s1,
            T* s2) {
  if constexpr (std::is_same_v<T, float>)
    optim_update_f32_stub(kind, c, n, p, g, s0, s1, s2);
  else
    optim_update_f64_stub(kind, c, n, p, g, s0, s1, s2);
}

// Nadam's momentum schedule mu_t = beta1 (1 - 0.5 * 0.96^(t psi)) (Dozat 2016; torch, Keras).
double nadam_mu(double beta1, double psi, double t) {
  return beta1 * (1.0 - 0.5 * std::pow(0.96, t * psi));
}

}  // namespace

template <typename T>
void optim_step(OptimKind kind, const OptimHyper& h, OptimTensor<T>* tensors, int64_t count,
                bool reference) {
  OptimCoeffs base;
  base.clip = h.clip_value;
  if (h.decoupled_weight_decay)
    base.p_scale = 1.0 - h.lr * h.weight_decay;  // AdamW: p <- p - lr*wd*p, before the update
  else
    base.l2 = h.weight_decay;  // torch weight_decay: g <- g + wd*p
  base.lr = h.lr;
  base.momentum = h.momentum;
  base.dampening = h.dampening;
  base.nesterov = h.nesterov;
  base.beta1 = h.beta1;
  base.beta2 = h.beta2;
  base.eps = h.eps;
  base.amsgrad = h.amsgrad;
  base.centered = h.centered;
  base.eps_inside_sqrt = h.eps_inside_sqrt;

  auto step_one = [&](OptimTensor<T>& x) {
    OptimCoeffs c = base;
    const int64_t step = ++*x.step;
    const double t = static_cast<double>(step);
    c.grad_scale = x.grad_scale;
    switch (kind) {
      case OptimKind::sgd:
        c.first_step = step == 1;
        break;
      case OptimKind::adagrad:
        c.lr = h.lr / (1.0 + (t - 1.0) * h.lr_decay);
        break;
      case OptimKind::rmsprop:
      case OptimKind::adadelta:
        break;
      case OptimKind::adam:
        c.lr = h.lr / (1.0 - std::pow(h.beta1, t));
        c.inv_sqrt_bc2 = 1.0 / std::sqrt(1.0 - std::pow(h.beta2, t));
        break;
      case OptimKind::nadam: {
        const double mu = nadam_mu(h.beta1, h.momentum_decay, t);
        const double mu_next = nadam_mu(h.beta1, h.momentum_decay, t + 1.0);
        const double prod = *x.mu_product * mu;
        *x.mu_product = prod;
        c.coef_g = h.lr * (1.0 - mu) / (1.0 - prod);
        c.coef_m = h.lr * mu_next / (1.0 - prod * mu_next);
        c.inv_sqrt_bc2 = 1.0 / std::sqrt(1.0 - std::pow(h.beta2, t));
        break;
      }
    }
    if (reference)
      ref::optim_update<T>(kind, c, x.n, x.p, x.g, x.s[0], x.s[1], x.s[2]);
    else
      update<T>(kind, c, x.n, x.p, x.g, x.s[0], x.s[1], x.s[2]);
  };

  // Large tensors one after another, each split across threads inside its kernel; small ones
  // (biases, a convnet's first filters) spread across threads one tensor per task, so a model
  // of many small tensors still uses every core.
  int64_t small = 0, small_elems = 0;
  for (int64_t k = 0; k < count; ++k) {
    if (tensors[k].n > kOptimParallelMin) {
      step_one(tensors[k]);
    } else {
      ++small;
      small_elems += tensors[k].n;
    }
  }
  if (small > 1 && small_elems > kOptimParallelMin) {
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t k = 0; k < count; ++k)
      if (tensors[k].n <= kOptimParallelMin) step_one(tensors[k]);
  } else {  // (not an if() clause: even an inactive parallel region costs a team setup)
    for (int64_t k = 0; k < count; ++k)
      if (tensors[k].n <= kOptimParallelMin) step_one(tensors[k]);
  }
}

template void optim_step<float>(OptimKind, const OptimHyper&, OptimTensor<float>*, int64_t, bool);
template void optim_step<double>(OptimKind, const OptimHyper&, OptimTensor<double>*, int64_t, bool);

template <>
double sum_squares<float>(const float* x, int64_t n) {
  return sum_squares_f32_stub(x, n);
}
template <>
double sum_squares<double>(const double* x, int64_t n) {
  return sum_squares_f64_stub(x, n);
}
template <>
double abs_max<float>(const float* x, int64_t n) {
  return abs_max_f32_stub(x, n);
}
template <>
double abs_max<double>(const double* x, int64_t n) {
  return abs_max_f64_stub(x, n);
}
template <>
void scale_clamp<float>(float* x, int64_t n, double scale, double clip) {
  scale_clamp_f32_stub(x, n, scale, clip);
}
template <>
void scale_clamp<double>(double* x, int64_t n, double scale, double clip) {
  scale_clamp_f64_stub(x, n, scale, clip);
}

}  // namespace dc
