// Fused optimizer updates and the clipping reductions, compiled once per ISA.
// See [Note: fused optimizer step] in csrc/optim.h and [Note: one source, three ISAs] in
// csrc/core/dispatch.h. Each loop is elementwise and memory-bound; the compiler vectorises it
// (omp simd) at the width of the ISA this copy is built for, and OpenMP splits large tensors.
#include <cmath>
#include <cstdint>

#include "optim.h"

namespace dc::DC_ISA_NS {
namespace {

constexpr int64_t kParallelMin = kOptimParallelMin;

// body(i) for i in [0, n): vectorised, and split across threads when n is large. Small tensors
// skip OpenMP entirely (even an if(false) parallel region costs a team setup per call).
template <typename F>
inline void for_each_element(int64_t n, F&& body) {
  if (n > kParallelMin) {
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; ++i) body(i);
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) body(i);
  }
}

template <typename T>
inline T clampv(T x, T lo, T hi) {
  // NaN passes through (as torch.clamp), so a broken gradient stays visible.
  return x < lo ? lo : (x > hi ? hi : x);
}

// Gradient preparation shared by every kind (clip by norm factor, clip by value, coupled L2)
// and the decoupled weight-decay factor on p.
template <typename T>
struct Prep {
  T scale, lo, hi, l2, ps;
  explicit Prep(const OptimCoeffs& c)
      : scale(T(c.grad_scale)),
        lo(c.clip > 0 ? T(-c.clip) : -INFINITY),
        hi(c.clip > 0 ? T(c.clip) : INFINITY),
        l2(T(c.l2)),
        ps(T(c.p_scale)) {}
  inline T grad(T g, T p) const { return clampv(g * scale, lo, hi) + l2 * p; }
};

template <typename T, bool kMomentum, bool kNesterov>
void sgd(const OptimCoeffs& c, int64_t n, T* __restrict p, const T* __restrict g,
         T* __restrict buf) {
  const Prep<T> pr(c);
  // torch: the buffer starts as the first gradient, then b = mom*b + (1-dampening)*g. Step 1
  // is the same expression with (0, 1) as coefficients (the fresh buffer is zeros), which keeps
  // the loop free of data-independent branches the vectoriser would otherwise have to keep.
  const T lr = T(c.lr), mom = T(c.momentum);
  const T b_decay = c.first_step ? T(0) : mom, g_coef = c.first_step ? T(1) : T(1 - c.dampening);
  for_each_element(n, [&](int64_t i) {
    T pi = p[i];
    T gi = pr.grad(g[i], pi);
    pi *= pr.ps;
    if constexpr (kMomentum) {
      const T b = b_decay * buf[i] + g_coef * gi;
      buf[i] = b;
      gi = kNesterov ? gi + mom * b : b;
    }
    p[i] = pi - lr * gi;
  });
}

// Compile-time flag (see [Note: fused optimizer step]): a runtime choice inside the loop stops
// GCC from vectorising it, so each option that changes the arithmetic is a template parameter.
template <bool B>
struct Flag {
  static constexpr bool value = B;
};
template <typename F>
inline void with_flag(bool b, F&& f) {
  if (b)
    f(Flag<true>{});
  else
    f(Flag<false>{});
}

template <bool kInside, typename T>
inline T rms_denom(T v, T eps) {
  if constexpr (kInside)
    return std::sqrt(v + eps);
  else
    return std::sqrt(v) + eps;
}

template <typename T, bool kInside>
void adagrad(const OptimCoeffs& c, int64_t n, T* __restrict p, const T* __restrict g,
             T* __restrict sum) {
  const Prep<T> pr(c);
  const T lr = T(c.lr), eps = T(c.eps);
  for_each_element(n, [&](int64_t i) {
    T pi = p[i];
    const T gi = pr.grad(g[i], pi);
    pi *= pr.ps;
    const T s = sum[i] + gi * gi;
    sum[i] = s;
    p[i] = pi - lr * gi / rms_denom<kInside>(s, eps);
  });
}

template <typename T, bool kMomentum, bool kCentered, bool kInside>
void rmsprop(const OptimCoeffs& c, int64_t n, T* __restrict p, const T* __restrict g,
             T* __restrict sq, T* __restrict buf, T* __restrict gavg) {
  const Prep<T> pr(c);
  const T lr = T(c.lr), rho = T(c.beta2), rho1 = T(1.0 - c.beta2), eps = T(c.eps),
          mom = T(c.momentum);
  for_each_element(n, [&](int64_t i) {
    T pi = p[i];
    const T gi = pr.grad(g[i], pi);
    pi *= pr.ps;
    const T s = rho * sq[i] + rho1 * gi * gi;
    sq[i] = s;
    T var = s;
    if constexpr (kCentered) {
      const T a = rho * gavg[i] + rho1 * gi;
      gavg[i] = a;
      var = s - a * a;
    }
    T step = gi / rms_denom<kInside>(var, eps);
    if constexpr (kMomentum) {
      step = mom * buf[i] + step;
      buf[i] = step;
    }
    p[i] = pi - lr * step;
  });
}

template <typename T>
void adadelta(const OptimCoeffs& c, int64_t n, T* __restrict p, const T* __restrict g,
              T* __restrict sq, T* __restrict acc_delta) {
  const Prep<T> pr(c);
  const T lr = T(c.lr), rho = T(c.beta2), rho1 = T(1.0 - c.beta2), eps = T(c.eps);
  for_each_element(n, [&](int64_t i) {
    T pi = p[i];
    const T gi = pr.grad(g[i], pi);
    pi *= pr.ps;
    const T s = rho * sq[i] + rho1 * gi * gi;
    sq[i] = s;
    const T ad = acc_delta[i];
    const T d = std::sqrt(ad + eps) / std::sqrt(s + eps) * gi;
    acc_delta[i] = rho * ad + rho1 * d * d;
    p[i] = pi - lr * d;
  });
}

// Adam (Kingma & Ba, Algorithm 1, as torch): lr here is lr / (1 - beta1^t) and the denominator
// is sqrt(v) / sqrt(1 - beta2^t) + eps. amsgrad keeps the running max of v in vmax.
template <typename T, bool kAmsgrad>
void adam(const OptimCoeffs& c, int64_t n, T* __restrict p, const T* __restrict g, T* __restrict m,
          T* __restrict v, T* __restrict vmax) {
  const Prep<T> pr(c);
  const T lr = T(c.lr), b1 = T(c.beta1), b11 = T(1.0 - c.beta1), b2 = T(c.beta2),
          b21 = T(1.0 - c.beta2), eps = T(c.eps), isb = T(c.inv_sqrt_bc2);
  for_each_element(n, [&](int64_t i) {
    T pi = p[i];
    const T gi = pr.grad(g[i], pi);
    pi *= pr.ps;
    const T mi = b1 * m[i] + b11 * gi;
    T vi = b2 * v[i] + b21 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    if constexpr (kAmsgrad) {
      vi = vmax[i] > vi ? vmax[i] : vi;
      vmax[i] = vi;
    }
    p[i] = pi - lr * mi / (std::sqrt(vi) * isb + eps);
  });
}

// Nadam (Dozat 2016, as torch NAdam and Keras): p -= (coef_g g + coef_m m) / denom.
template <typename T>
void nadam(const OptimCoeffs& c, int64_t n, T* __restrict p, const T* __restrict g, T* __restrict m,
           T* __restrict v) {
  const Prep<T> pr(c);
  const T b1 = T(c.beta1), b11 = T(1.0 - c.beta1), b2 = T(c.beta2), b21 = T(1.0 - c.beta2),
          eps = T(c.eps), isb = T(c.inv_sqrt_bc2), cg = T(c.coef_g), cm = T(c.coef_m);
  for_each_element(n, [&](int64_t i) {
    T pi = p[i];
    const T gi = pr.grad(g[i], pi);
    pi *= pr.ps;
    const T mi = b1 * m[i] + b11 * gi;
    const T vi = b2 * v[i] + b21 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - (cg * gi + cm * mi) / (std::sqrt(vi) * isb + eps);
  });
}

// The switch on kind and options happens once per tensor, so each loop above is branch-free
// in the options that change its memory traffic (momentum buffer, centered, amsgrad).
template <typename T>
void optim_update(OptimKind kind, const OptimCoeffs& c, int64_t n, T* p, const T* g, T* s0, T* s1,
                  T* s2) {
  switch (kind) {
    case OptimKind::sgd:
      with_flag(c.momentum != 0.0, [&](auto mom) {
        with_flag(c.nesterov, [&](auto nest) {
          sgd<T, decltype(mom)::value, decltype(mom)::value&& decltype(nest)::value>(c, n, p, g,
                                                                                     s0);
        });
      });
      return;
    case OptimKind::adagrad:
      with_flag(c.eps_inside_sqrt,
                [&](auto ins) { adagrad<T, decltype(ins)::value>(c, n, p, g, s0); });
      return;
    case OptimKind::rmsprop: {
      // state order: square_avg, [momentum_buffer], [grad_avg]
      T* buf = c.momentum != 0.0 ? s1 : nullptr;
      T* gavg = c.momentum != 0.0 ? s2 : s1;
      with_flag(c.momentum != 0.0, [&](auto mom) {
        with_flag(c.centered, [&](auto cen) {
          with_flag(c.eps_inside_sqrt, [&](auto ins) {
            rmsprop<T, decltype(mom)::value, decltype(cen)::value, decltype(ins)::value>(
                c, n, p, g, s0, buf, gavg);
          });
        });
      });
      return;
    }
    case OptimKind::adadelta:
      adadelta<T>(c, n, p, g, s0, s1);
      return;
    case OptimKind::adam:
      with_flag(c.amsgrad,
                [&](auto ams) { adam<T, decltype(ams)::value>(c, n, p, g, s0, s1, s2); });
      return;
    case OptimKind::nadam:
      nadam<T>(c, n, p, g, s0, s1);
      return;
  }
}

template <typename T>
double sum_squares(const T* __restrict x, int64_t n) {
  double acc = 0.0;
  if (n > kParallelMin) {
#pragma omp parallel for simd schedule(static) reduction(+ : acc)
    for (int64_t i = 0; i < n; ++i) acc += double(x[i]) * double(x[i]);
  } else {
#pragma omp simd reduction(+ : acc)
    for (int64_t i = 0; i < n; ++i) acc += double(x[i]) * double(x[i]);
  }
  return acc;
}

// max |x|, except that a NaN anywhere gives NaN (as torch's inf-norm), which max() would drop.
template <typename T>
double abs_max(const T* __restrict x, int64_t n) {
  double acc = 0.0;
  int64_t nans = 0;
  if (n > kParallelMin) {
#pragma omp parallel for simd schedule(static) reduction(max : acc) reduction(+ : nans)
    for (int64_t i = 0; i < n; ++i) {
      const double v = std::fabs(double(x[i]));
      nans += v != v;
      acc = v > acc ? v : acc;
    }
  } else {
#pragma omp simd reduction(max : acc) reduction(+ : nans)
    for (int64_t i = 0; i < n; ++i) {
      const double v = std::fabs(double(x[i]));
      nans += v != v;
      acc = v > acc ? v : acc;
    }
  }
  return nans ? NAN : acc;
}

template <typename T>
void scale_clamp(T* __restrict x, int64_t n, double scale, double clip) {
  const T s = T(scale), lo = clip > 0 ? T(-clip) : -INFINITY, hi = clip > 0 ? T(clip) : INFINITY;
  for_each_element(n, [&](int64_t i) { x[i] = clampv(x[i] * s, lo, hi); });
}

}  // namespace

DC_REGISTER_DISPATCH_T(optim_update_stub, float, &optim_update<float>);
DC_REGISTER_DISPATCH_T(optim_update_stub, double, &optim_update<double>);
DC_REGISTER_DISPATCH_T(sum_squares_stub, float, &sum_squares<float>);
DC_REGISTER_DISPATCH_T(sum_squares_stub, double, &sum_squares<double>);
DC_REGISTER_DISPATCH_T(abs_max_stub, float, &abs_max<float>);
DC_REGISTER_DISPATCH_T(abs_max_stub, double, &abs_max<double>);
DC_REGISTER_DISPATCH_T(scale_clamp_stub, float, &scale_clamp<float>);
DC_REGISTER_DISPATCH_T(scale_clamp_stub, double, &scale_clamp<double>);

}  // namespace dc::DC_ISA_NS
