// Reference convolution: the formula of csrc/conv.h as nested loops, accumulating in double.
// Always built; tests compare the direct and im2col kernels against it.
#include "conv.h"

namespace dc::ref {

namespace {
// Input row/column of output index o and kernel tap k, or -1 when it falls in the padding.
inline int64_t in_index(int64_t o, int64_t k, int64_t stride, int64_t pad, int64_t dil,
                        int64_t extent) {
  const int64_t i = o * stride - pad + k * dil;
  return (i >= 0 && i < extent) ? i : -1;
}
}  // namespace

// x is (N,C,H,W), w is (K,C/G,R,S), b is (K,) or null; y (N,K,P,Q) is assigned.
template <typename T>
void conv2d_forward(const ConvShape& s, const T* x, const T* w, const T* b, T* y) {
  const int64_t Cg = s.Cg(), Kg = s.Kg();
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t k = 0; k < s.K; ++k)
      for (int64_t p = 0; p < s.P; ++p)
        for (int64_t q = 0; q < s.Q; ++q) {
          double acc = b ? double(b[k]) : 0.0;
          const int64_t g = k / Kg;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t r = 0; r < s.R; ++r) {
              const int64_t h = in_index(p, r, s.sh, s.ph, s.dh, s.H);
              if (h < 0) continue;
              for (int64_t t = 0; t < s.S; ++t) {
                const int64_t v = in_index(q, t, s.sw, s.pw, s.dw, s.W);
                if (v < 0) continue;
                acc += double(w[((k * Cg + c) * s.R + r) * s.S + t]) *
                       double(x[((n * s.C + g * Cg + c) * s.H + h) * s.W + v]);
              }
            }
          y[((n * s.K + k) * s.P + p) * s.Q + q] = static_cast<T>(acc);
        }
}

// dx (N,C,H,W) is assigned: dx = sum over every (output, tap) that read it of dy * w.
template <typename T>
void conv2d_backward_input(const ConvShape& s, const T* dy, const T* w, T* dx) {
  const int64_t Cg = s.Cg(), Kg = s.Kg();
  for (int64_t i = 0; i < s.N * s.C * s.H * s.W; ++i) dx[i] = T(0);
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t k = 0; k < s.K; ++k)
      for (int64_t p = 0; p < s.P; ++p)
        for (int64_t q = 0; q < s.Q; ++q) {
          const double d = dy[((n * s.K + k) * s.P + p) * s.Q + q];
          const int64_t g = k / Kg;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t r = 0; r < s.R; ++r) {
              const int64_t h = in_index(p, r, s.sh, s.ph, s.dh, s.H);
              if (h < 0) continue;
              for (int64_t t = 0; t < s.S; ++t) {
                const int64_t v = in_index(q, t, s.sw, s.pw, s.dw, s.W);
                if (v < 0) continue;
                T& out = dx[((n * s.C + g * Cg + c) * s.H + h) * s.W + v];
                out = static_cast<T>(out + d * double(w[((k * Cg + c) * s.R + r) * s.S + t]));
              }
            }
        }
}

// dw (K,C/G,R,S) += ..., db (K,) += ... (db may be null).
template <typename T>
void conv2d_backward_weight(const ConvShape& s, const T* x, const T* dy, T* dw, T* db) {
  const int64_t Cg = s.Cg(), Kg = s.Kg();
  for (int64_t k = 0; k < s.K; ++k) {
    const int64_t g = k / Kg;
    if (db) {
      double acc = 0.0;
      for (int64_t n = 0; n < s.N; ++n)
        for (int64_t i = 0; i < s.P * s.Q; ++i) acc += dy[(n * s.K + k) * s.P * s.Q + i];
      db[k] += static_cast<T>(acc);
    }
    for (int64_t c = 0; c < Cg; ++c)
      for (int64_t r = 0; r < s.R; ++r)
        for (int64_t t = 0; t < s.S; ++t) {
          double acc = 0.0;
          for (int64_t n = 0; n < s.N; ++n)
            for (int64_t p = 0; p < s.P; ++p) {
              const int64_t h = in_index(p, r, s.sh, s.ph, s.dh, s.H);
              if (h < 0) continue;
              for (int64_t q = 0; q < s.Q; ++q) {
                const int64_t v = in_index(q, t, s.sw, s.pw, s.dw, s.W);
                if (v < 0) continue;
                acc += double(dy[((n * s.K + k) * s.P + p) * s.Q + q]) *
                       double(x[((n * s.C + g * Cg + c) * s.H + h) * s.W + v]);
              }
            }
          dw[((k * Cg + c) * s.R + r) * s.S + t] += static_cast<T>(acc);
        }
  }
}

#define DC_INSTANTIATE_CONV_REF(T)                                                     \
  template void conv2d_forward<T>(const ConvShape&, const T*, const T*, const T*, T*); \
  template void conv2d_backward_input<T>(const ConvShape&, const T*, const T*, T*);    \
  template void conv2d_backward_weight<T>(const ConvShape&, const T*, const T*, T*, T*);
DC_INSTANTIATE_CONV_REF(float)
DC_INSTANTIATE_CONV_REF(double)
#undef DC_INSTANTIATE_CONV_REF

}  // namespace dc::ref
