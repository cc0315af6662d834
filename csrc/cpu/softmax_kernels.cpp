// Softmax / log-softmax / softmax cross-entropy inner kernels, one ISA copy.
// See [Note: stable softmax] in softmax.h and [Note: one formula, every width].
#include <cmath>
#include <limits>

#include "cpu/activation_math.h"
#include "softmax.h"

namespace dc {
namespace DC_ISA_NS {
namespace {

// Column sums of a strided (L, inner) slice fold their float partials every kLaneTerms rows
// ([Note: blocked sums]).
template <typename T>
inline void fold_partials(T* part, double* wide, int64_t n) {
  for (int64_t j = 0; j < n; ++j) wide[j] += static_cast<double>(part[j]), part[j] = 0;
}

template <typename T>
void forward_rows(const T* x, T* y, int64_t rows, int64_t L, bool log) {
  using V = VecT<T>;
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * L;
    T* yr = y + r * L;
    const T m = row_max(xr, L);
    if (log) {  // (x - m) - log s: x - m is exact near the max, m + log s would round
      const V vm = bc<V>(m), vls = bc<V>(std::log(row_sum_exp<T>(xr, m, nullptr, L)));
      for_each_vec<Lanes<T>::W>(
          L, [&](int64_t i, int c) { storen(yr + i, (loadn(xr + i, c) - vm) - vls, c); });
    } else {
      const V inv = bc<V>(1.0 / row_sum_exp(xr, m, yr, L));
      for_each_vec<Lanes<T>::W>(
          L, [&](int64_t i, int c) { storen(yr + i, loadn(yr + i, c) * inv, c); });
    }
  }
}

template <typename T>
void backward_rows(const T* y, const T* gy, T* gx, int64_t rows, int64_t L, bool log) {
  using V = VecT<T>;
  for (int64_t r = 0; r < rows; ++r) {
    const T* yr = y + r * L;
    const T* gr = gy + r * L;
    T* gxr = gx + r * L;
    if (log) {
      const V s = bc<V>(blocked_sum<T>(L, [&](int64_t i, int c) { return loadn(gr + i, c); }));
      for_each_vec<Lanes<T>::W>(L, [&](int64_t i, int c) {
        storen(gxr + i, loadn(gr + i, c) - vexp(loadn(yr + i, c)) * s, c);
      });
    } else {
      const V d = bc<V>(row_dot(gr, yr, L));
      for_each_vec<Lanes<T>::W>(L, [&](int64_t i, int c) {
        storen(gxr + i, loadn(yr + i, c) * (loadn(gr + i, c) - d), c);
      });
    }
  }
}

// Strided softmax: element (l, j) at x[l * inner + j], lanes j in [0, n), n <= kSoftmaxBlock.
template <typename T>
void forward_cols(const T* x, T* y, int64_t L, int64_t inner, int64_t n, bool log) {
  using V = VecT<T>;
  constexpr int W = Lanes<T>::W;
  T m[kSoftmaxBlock], s[kSoftmaxBlock];
  double sw[kSoftmaxBlock];
  for (int64_t j = 0; j < n; ++j) m[j] = -std::numeric_limits<T>::infinity(), s[j] = 0, sw[j] = 0;
  for (int64_t l = 0; l < L; ++l)
    for_each_vec<W>(n, [&](int64_t j, int c) {
      storen(m + j, vmax(loadn(m + j, c), loadn(x + l * inner + j, c)), c);
    });
  for (int64_t l = 0; l < L; ++l) {
    for_each_vec<W>(n, [&](int64_t j, int c) {
      const V e = vexp(loadn(x + l * inner + j, c) - loadn(m + j, c));
      if (!log) storen(y + l * inner + j, e, c);
      storen(s + j, loadn(s + j, c) + e, c);
    });
    if ((l + 1) % kLaneTerms == 0) fold_partials(s, sw, n);
  }
  fold_partials(s, sw, n);
  if (log) {
    for (int64_t j = 0; j < n; ++j) s[j] = static_cast<T>(std::log(sw[j]));
    for (int64_t l = 0; l < L; ++l)
      for_each_vec<W>(n, [&](int64_t j, int c) {
        const V z = loadn(x + l * inner + j, c) - loadn(m + j, c);
        storen(y + l * inner + j, z - loadn(s + j, c), c);
      });
  } else {
    for (int64_t j = 0; j < n; ++j) s[j] = static_cast<T>(1.0 / sw[j]);
    for (int64_t l = 0; l < L; ++l)
      for_each_vec<W>(n, [&](int64_t j, int c) {
        storen(y + l * inner + j, loadn(y + l * inner + j, c) * loadn(s + j, c), c);
      });
  }
}

template <typename T>
void backward_cols(const T* y, const T* gy, T* gx, int64_t L, int64_t inner, int64_t n, bool log) {
  using V = VecT<T>;
  constexpr int W = Lanes<T>::W;
  T d[kSoftmaxBlock];
  double dw[kSoftmaxBlock];
  for (int64_t j = 0; j < n; ++j) d[j] = 0, dw[j] = 0;
  for (int64_t l = 0; l < L; ++l) {
    for_each_vec<W>(n, [&](int64_t j, int c) {
      const V g = loadn(gy + l * inner + j, c);
      storen(d + j, loadn(d + j, c) + (log ? g : g * loadn(y + l * inner + j, c)), c);
    });
    if ((l + 1) % kLaneTerms == 0) fold_partials(d, dw, n);
  }
  fold_partials(d, dw, n);
  for (int64_t j = 0; j < n; ++j) d[j] = static_cast<T>(dw[j]);
  for (int64_t l = 0; l < L; ++l)
    for_each_vec<W>(n, [&](int64_t j, int c) {
      const V yv = loadn(y + l * inner + j, c), g = loadn(gy + l * inner + j, c);
      const V dv = loadn(d + j, c);
      storen(gx + l * inner + j, log ? g - vexp(yv) * dv : yv * (g - dv), c);
    });
}

// stats[2r] = row max m, stats[2r+1] = log sum exp(x - m); lse = m + log s is never formed
// (see [Note: stable softmax]: at |x| ~ 1e4 its rounding alone would be 5e-4).
template <typename T>
void ce_forward_rows(const T* x, const int64_t* t, const T* tp, T* loss, T* stats, int64_t rows,
                     int64_t C) {
  using V = VecT<T>;
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * C;
    const T m = row_max(xr, C);
    const T ls = static_cast<T>(std::log(row_sum_exp<T>(xr, m, nullptr, C)));
    stats[2 * r] = m;
    stats[2 * r + 1] = ls;
    if (t) {
      loss[r] = (m - xr[t[r]]) + ls;
    } else {
      // sum_c tp (m - x + ls) = sum(tp * (m - x)) + ls * sum(tp)
      const T* pr = tp + r * C;
      const V vm = bc<V>(m);
      double sums[2];  // sum(tp), sum(tp * (m - x))
      blocked_sums<T, 2>(C, sums, [&](int64_t i, int c, V* acc) {
        const V p = loadn(pr + i, c);
        acc[0] += p;
        acc[1] += p * (vm - loadn(xr + i, c));
      });
      loss[r] = static_cast<T>(sums[1] + double(ls) * sums[0]);
    }
  }
}

template <typename T>
void ce_backward_rows(const T* x, const int64_t* t, const T* tp, const T* stats, const T* g,
                      int64_t g_stride, T scale, T* gx, int64_t rows, int64_t C) {
  using V = VecT<T>;
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * C;
    T* gr = gx + r * C;
    const T gs = g[r * g_stride] * scale;
    const V vm = bc<V>(stats[2 * r]), vls = bc<V>(stats[2 * r + 1]), vg = bc<V>(gs);
    if (t) {
      for_each_vec<Lanes<T>::W>(C, [&](int64_t i, int c) {
        storen(gr + i, vexp((loadn(xr + i, c) - vm) - vls) * vg, c);
      });
      gr[t[r]] -= gs;
    } else {
      const T* pr = tp + r * C;
      const V vs = bc<V>(blocked_sum<T>(C, [&](int64_t i, int c) { return loadn(pr + i, c); }));
      for_each_vec<Lanes<T>::W>(C, [&](int64_t i, int c) {
        const V p = vexp((loadn(xr + i, c) - vm) - vls);
        storen(gr + i, (p * vs - loadn(pr + i, c)) * vg, c);
      });
    }
  }
}

template <typename T>
const SoftmaxKernels<T>* kernels() {
  static const SoftmaxKernels<T> k = {&forward_rows<T>,  &backward_rows<T>,   &forward_cols<T>,
                                      &backward_cols<T>, &ce_forward_rows<T>, &ce_backward_rows<T>};
  return &k;
}

}  // namespace

DC_REGISTER_DISPATCH_T(softmax_stub, float, &kernels<float>);
DC_REGISTER_DISPATCH_T(softmax_stub, double, &kernels<double>);

}  // namespace DC_ISA_NS
}  // namespace dc
