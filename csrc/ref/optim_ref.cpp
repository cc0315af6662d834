// Reference optimizer update: the obvious loop in double, one formula per kind, always built.
// Tests compare the per-ISA fused kernels (csrc/cpu/optim_kernels.cpp) against it through
// _C.optim_step(..., reference=True). Same contract as the kernels: see csrc/optim.h.
#include <cmath>

#include "optim.h"

namespace dc::ref {

template <typename T>
void optim_update(OptimKind kind, const OptimCoeffs& c, int64_t n, T* p, const T* g, T* s0, T* s1,
                  T* s2) {
  const double rho = c.beta2;
  for (int64_t i = 0; i < n; ++i) {
    double w = p[i];
    double d = double(g[i]) * c.grad_scale;
    if (c.clip > 0 && d > c.clip) d = c.clip;
    if (c.clip > 0 && d < -c.clip) d = -c.clip;
    d += c.l2 * w;
    w *= c.p_scale;
    switch (kind) {
      case OptimKind::sgd:
        if (c.momentum != 0.0) {
          const double b = c.first_step ? d : c.momentum * s0[i] + (1.0 - c.dampening) * d;
          s0[i] = T(b);
          d = c.nesterov ? d + c.momentum * b : b;
        }
        w -= c.lr * d;
        break;
      case OptimKind::adagrad: {
        const double s = double(s0[i]) + d * d;
        s0[i] = T(s);
        w -= c.lr * d / (c.eps_inside_sqrt ? std::sqrt(s + c.eps) : std::sqrt(s) + c.eps);
        break;
      }
      case OptimKind::rmsprop: {
        const bool mom = c.momentum != 0.0;
        T* avg = mom ? s2 : s1;
        const double v = rho * s0[i] + (1.0 - rho) * d * d;
        s0[i] = T(v);
        double var = v;
        if (c.centered) {
          const double a = rho * avg[i] + (1.0 - rho) * d;
          avg[i] = T(a);
          var -= a * a;
        }
        double step = d / (c.eps_inside_sqrt ? std::sqrt(var + c.eps) : std::sqrt(var) + c.eps);
        if (mom) {
          step += c.momentum * s1[i];
          s1[i] = T(step);
        }
        w -= c.lr * step;
        break;
      }
      case OptimKind::adadelta: {
        const double v = rho * s0[i] + (1.0 - rho) * d * d;
        const double delta = std::sqrt(s1[i] + c.eps) / std::sqrt(v + c.eps) * d;
        s0[i] = T(v);
        s1[i] = T(rho * s1[i] + (1.0 - rho) * delta * delta);
        w -= c.lr * delta;
        break;
      }
      case OptimKind::adam:
      case OptimKind::nadam: {
        const double m = c.beta1 * s0[i] + (1.0 - c.beta1) * d;
        double v = c.beta2 * s1[i] + (1.0 - c.beta2) * d * d;
        s0[i] = T(m);
        s1[i] = T(v);
        if (kind == OptimKind::adam && c.amsgrad) {
          v = std::fmax(double(s2[i]), v);
          s2[i] = T(v);
        }
        const double denom = std::sqrt(v) * c.inv_sqrt_bc2 + c.eps;
        w -= kind == OptimKind::adam ? c.lr * m / denom : (c.coef_g * d + c.coef_m * m) / denom;
        break;
      }
    }
    p[i] = T(w);
  }
}

template void optim_update<float>(OptimKind, const OptimCoeffs&, int64_t, float*, const float*,
                                  float*, float*, float*);
template void optim_update<double>(OptimKind, const OptimCoeffs&, int64_t, double*, const double*,
                                   double*, double*, double*);

}  // namespace dc::ref
