// Optimizer step driver: per-tensor coefficients from the hyperparameters and the step count,
// then the ISA-dispatched fused kernel (csrc/cpu/optim_kernels.cpp). See csrc/optim.h.
#include "optim.h"

#include <cmath>
#include <type_traits>

namespace dc {

namespace {

// Nadam's momentum schedule mu_t = beta1 (1 - 0.5 * 0.96^(t psi)) (Dozat 2016; torch, Keras).
double nadam_mu(double beta1, double psi, double t) {
  return beta1 * (1.0 - 0.5 * std::pow(0.96, t * psi));
}

}  // namespace

// The per-tensor coefficients of one step from the hyperparameters (advances *step and, for
// nadam, *mu_product). Shared with the CUDA slot (csrc/cuda/optim.cu).
OptimCoeffs optim_begin_step(OptimKind kind, const OptimHyper& h, int64_t* step_count,
                             double grad_scale, double* mu_product) {
  OptimCoeffs c;
  c.clip = h.clip_value;
  if (h.decoupled_weight_decay)
    c.p_scale = 1.0 - h.lr * h.weight_decay;  // AdamW: p <- p - lr*wd*p, before the update
  else
    c.l2 = h.weight_decay;  // torch weight_decay: g <- g + wd*p
  c.lr = h.lr;
  c.momentum = h.momentum;
  c.dampening = h.dampening;
  c.nesterov = h.nesterov;
  c.beta1 = h.beta1;
  c.beta2 = h.beta2;
  c.eps = h.eps;
  c.amsgrad = h.amsgrad;
  c.centered = h.centered;
  c.eps_inside_sqrt = h.eps_inside_sqrt;
  const int64_t step = ++*step_count;
  const double t = static_cast<double>(step);
  c.grad_scale = grad_scale;
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
      const double prod = *mu_product * mu;
      *mu_product = prod;
      c.coef_g = h.lr * (1.0 - mu) / (1.0 - prod);
      c.coef_m = h.lr * mu_next / (1.0 - prod * mu_next);
      c.inv_sqrt_bc2 = 1.0 / std::sqrt(1.0 - std::pow(h.beta2, t));
      break;
    }
  }
  return c;
}

template <typename T>
void optim_step(OptimKind kind, const OptimHyper& h, OptimTensor<T>* tensors, int64_t count,
                bool reference) {
  auto step_one = [&](OptimTensor<T>& x) {
    const OptimCoeffs c = optim_begin_step(kind, h, x.step, x.grad_scale, x.mu_product);
    if (reference)
      ref::optim_update<T>(kind, c, x.n, x.p, x.g, x.s[0], x.s[1], x.s[2]);
    else
      optim_update_stub<T>(kind, c, x.n, x.p, x.g, x.s[0], x.s[1], x.s[2]);
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

template <typename T>
double sum_squares(const T* x, int64_t n) {
  return sum_squares_stub<T>(x, n);
}
template <typename T>
double abs_max(const T* x, int64_t n) {
  return abs_max_stub<T>(x, n);
}
template <typename T>
void scale_clamp(T* x, int64_t n, double scale, double clip) {
  scale_clamp_stub<T>(x, n, scale, clip);
}
#define DC_INSTANTIATE(T)                            \
  template double sum_squares<T>(const T*, int64_t); \
  template double abs_max<T>(const T*, int64_t);     \
  template void scale_clamp<T>(T*, int64_t, double, double);
DC_INSTANTIATE(float)
DC_INSTANTIATE(double)
#undef DC_INSTANTIATE

}  // namespace dc
