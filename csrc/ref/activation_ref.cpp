// Reference activation / softmax / cross-entropy / layer-norm kernels: the obvious loops in
// double with <cmath>, always built. Tests compare the optimised per-ISA kernels against them
// (tests/test_activation.py, test_loss.py, test_norm.py). See the contracts in activation.h,
// softmax.h and norm.h.
#include <cmath>

// a kind of the activation list without a branch below is a compile error
#pragma GCC diagnostic error "-Wswitch"

#include "activation.h"
#include "norm.h"
#include "softmax.h"

namespace dc::ref {

namespace {

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

double fwd(Act k, double x, double p0, double p1) {
  switch (k) {
    case Act::sigmoid:
      return sigmoid(x);
    case Act::tanh:
      return std::tanh(x);
    case Act::relu:
      return x > 0 ? x : 0.0;
    case Act::leaky_relu:
      return x > 0 ? x : p0 * x;
    case Act::elu:
      return x > 0 ? x : p0 * std::expm1(x);
    case Act::softplus:
      return p0 * x > p1 ? x : std::log1p(std::exp(p0 * x)) / p0;
    case Act::swish:
      return x * sigmoid(p0 * x);
    case Act::gelu:
      return 0.5 * x * std::erfc(-x / std::sqrt(2.0));
    case Act::gelu_tanh:
      return 0.5 * x * (1 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    case Act::selu:
      return p1 * (x > 0 ? x : p0 * std::expm1(x));
    case Act::hard_sigmoid:
      return std::fmin(std::fmax(p0 * x + p1, 0.0), 1.0);
    case Act::hard_swish:
      return x * std::fmin(std::fmax(x + 3, 0.0), 6.0) / 6;
    case Act::count:
      break;
  }
  return NAN;
}

// d f / d x by the textbook formula of each kind (from x, never from y).
double dfdx(Act k, double x, double p0, double p1) {
  switch (k) {
    case Act::sigmoid:
      return sigmoid(x) * (1 - sigmoid(x));
    case Act::tanh:
      return 1 - std::tanh(x) * std::tanh(x);
    case Act::relu:
      return x > 0 ? 1.0 : 0.0;
    case Act::leaky_relu:
      return x > 0 ? 1.0 : p0;
    case Act::elu:
      return x > 0 ? 1.0 : p0 * std::exp(x);
    case Act::softplus:
      return p0 * x > p1 ? 1.0 : sigmoid(p0 * x);
    case Act::swish: {
      const double s = sigmoid(p0 * x);
      return s + p0 * x * s * (1 - s);
    }
    case Act::gelu:
      return 0.5 * std::erfc(-x / std::sqrt(2.0)) +
             x * std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI);
    case Act::gelu_tanh: {
      const double c = std::sqrt(2.0 / M_PI), t = std::tanh(c * (x + 0.044715 * x * x * x));
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x);
    }
    case Act::selu:
      return p1 * (x > 0 ? 1.0 : p0 * std::exp(x));
    case Act::hard_sigmoid: {
      const double z = p0 * x + p1;
      return z > 0 && z < 1 ? p0 : 0.0;
    }
    case Act::hard_swish:
      return x < -3 ? 0.0 : x > 3 ? 1.0 : (2 * x + 3) / 6;
    case Act::count:
      break;
  }
  return NAN;
}

}  // namespace

template <typename T>
void act_forward(Act kind, const T* x, T* y, int64_t n, T p0, T p1) {
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<T>(fwd(kind, x[i], p0, p1));
}

template <typename T>
void act_backward(Act kind, const T* x, const T* gy, T* gx, int64_t n, T p0, T p1) {
  for (int64_t i = 0; i < n; ++i) gx[i] = static_cast<T>(gy[i] * dfdx(kind, x[i], p0, p1));
}

template <typename T>
void softmax_forward(const T* x, T* y, int64_t outer, int64_t L, int64_t inner, bool log) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < inner; ++j) {
      const T* xs = x + o * L * inner + j;
      T* ys = y + o * L * inner + j;
      double m = -INFINITY, s = 0;
      for (int64_t l = 0; l < L; ++l) m = std::fmax(m, xs[l * inner]);
      for (int64_t l = 0; l < L; ++l) s += std::exp(xs[l * inner] - m);
      for (int64_t l = 0; l < L; ++l)
        ys[l * inner] =
            static_cast<T>(log ? xs[l * inner] - m - std::log(s) : std::exp(xs[l * inner] - m) / s);
    }
}

template <typename T>
void cross_entropy_forward(const T* x, const int64_t* target, T* loss, int64_t N, int64_t C) {
  for (int64_t i = 0; i < N; ++i) {
    const T* xr = x + i * C;
    double m = -INFINITY, s = 0;
    for (int64_t c = 0; c < C; ++c) m = std::fmax(m, xr[c]);
    for (int64_t c = 0; c < C; ++c) s += std::exp(xr[c] - m);
    loss[i] = static_cast<T>(m + std::log(s) - xr[target[i]]);
  }
}

template <typename T>
void layer_norm_forward(const T* x, const T* w, const T* b, T* y, int64_t M, int64_t N, T eps) {
  for (int64_t r = 0; r < M; ++r) {
    const T* xr = x + r * N;
    double m = 0, v = 0;
    for (int64_t i = 0; i < N; ++i) m += xr[i];
    m /= N;
    for (int64_t i = 0; i < N; ++i) v += (xr[i] - m) * (xr[i] - m);
    const double rs = 1.0 / std::sqrt(v / N + eps);
    for (int64_t i = 0; i < N; ++i)
      y[r * N + i] = static_cast<T>((xr[i] - m) * rs * (w ? w[i] : 1.0) + (b ? b[i] : 0.0));
  }
}

#define DC_INSTANTIATE(T)                                                                 \
  template void act_forward<T>(Act, const T*, T*, int64_t, T, T);                         \
  template void act_backward<T>(Act, const T*, const T*, T*, int64_t, T, T);              \
  template void softmax_forward<T>(const T*, T*, int64_t, int64_t, int64_t, bool);        \
  template void cross_entropy_forward<T>(const T*, const int64_t*, T*, int64_t, int64_t); \
  template void layer_norm_forward<T>(const T*, const T*, const T*, T*, int64_t, int64_t, T);
DC_INSTANTIATE(float)
DC_INSTANTIATE(double)
#undef DC_INSTANTIATE

}  // namespace dc::ref
