// Reference convolution: the formula of csrc/conv.h as nested loops, accumulating in double.
// Always built; tests compare the direct, im2col and vol2col kernels against it. One 3-D
// implementation: conv1d/conv2d run it with unit depth (unit3d).
#include <vector>

#include "conv.h"

namespace dc::ref {

namespace {
// Input index of output index o and kernel tap k, or -1 when it falls in the padding.
inline int64_t in_index(int64_t o, int64_t k, int64_t stride, int64_t pad, int64_t dil,
                        int64_t extent) {
  const int64_t i = o * stride - pad + k * dil;
  return (i >= 0 && i < extent) ? i : -1;
}

// Calls f(x_index, w_index) for every tap of output (n, k, o, p, q) that reads the input
// (taps in the padding are skipped); x is (N,C,D,H,W), w (K,C/G,KD,R,S), flat indices.
template <typename F>
inline void for_taps(const Conv3dShape& v, int64_t n, int64_t k, int64_t o, int64_t p, int64_t q,
                     F&& f) {
  const ConvShape& s = v.s;
  const int64_t Cg = s.Cg(), g = k / s.Kg();
  for (int64_t c = 0; c < Cg; ++c)
    for (int64_t t = 0; t < v.KD; ++t) {
      const int64_t d = in_index(o, t, v.sd, v.pd, v.dd, v.D);
      if (d < 0) continue;
      for (int64_t r = 0; r < s.R; ++r) {
        const int64_t h = in_index(p, r, s.sh, s.ph, s.dh, s.H);
        if (h < 0) continue;
        for (int64_t u = 0; u < s.S; ++u) {
          const int64_t wi = in_index(q, u, s.sw, s.pw, s.dw, s.W);
          if (wi < 0) continue;
          f((((n * s.C + g * Cg + c) * v.D + d) * s.H + h) * s.W + wi,
            (((k * Cg + c) * v.KD + t) * s.R + r) * s.S + u);
        }
      }
    }
}

// Calls f(n, k, o, p, q, flat output index) for every output position.
template <typename F>
inline void for_outputs(const Conv3dShape& v, F&& f) {
  const ConvShape& s = v.s;
  int64_t i = 0;
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t k = 0; k < s.K; ++k)
      for (int64_t o = 0; o < v.O; ++o)
        for (int64_t p = 0; p < s.P; ++p)
          for (int64_t q = 0; q < s.Q; ++q, ++i) f(n, k, o, p, q, i);
}
}  // namespace

// y (N,K,O,P,Q) is assigned; relu: then y = max(y, 0) (NaN stays NaN).
template <typename T>
void conv3d_forward(const Conv3dShape& v, const T* x, const T* w, const T* b, T* y, bool relu) {
  for_outputs(v, [&](int64_t n, int64_t k, int64_t o, int64_t p, int64_t q, int64_t i) {
    double acc = b ? double(b[k]) : 0.0;
    for_taps(v, n, k, o, p, q, [&](int64_t xi, int64_t wi) { acc += double(w[wi]) * x[xi]; });
    const T yi = static_cast<T>(acc);
    y[i] = relu && yi < T(0) ? T(0) : yi;
  });
}

// dx (N,C,D,H,W) is assigned: dx = sum over every (output, tap) that read it of dy * w.
template <typename T>
void conv3d_backward_input(const Conv3dShape& v, const T* dy, const T* w, T* dx) {
  const ConvShape& s = v.s;
  for (int64_t i = 0; i < s.N * s.C * v.D * s.H * s.W; ++i) dx[i] = T(0);
  for_outputs(v, [&](int64_t n, int64_t k, int64_t o, int64_t p, int64_t q, int64_t i) {
    const double d = dy[i];
    for_taps(v, n, k, o, p, q,
             [&](int64_t xi, int64_t wi) { dx[xi] = static_cast<T>(dx[xi] + d * double(w[wi])); });
  });
}

// dw (K,C/G,KD,R,S) += ..., db (K,) += ... (db may be null). Sums in double per weight.
template <typename T>
void conv3d_backward_weight(const Conv3dShape& v, const T* x, const T* dy, T* dw, T* db) {
  const ConvShape& s = v.s;
  const int64_t wsize = s.K * s.Cg() * v.KD * s.R * s.S;
  std::vector<double> acc(wsize, 0.0), bacc(s.K, 0.0);
  for_outputs(v, [&](int64_t n, int64_t k, int64_t o, int64_t p, int64_t q, int64_t i) {
    const double d = dy[i];
    bacc[k] += d;
    for_taps(v, n, k, o, p, q, [&](int64_t xi, int64_t wi) { acc[wi] += d * double(x[xi]); });
  });
  for (int64_t i = 0; i < wsize; ++i) dw[i] += static_cast<T>(acc[i]);
  if (db)
    for (int64_t k = 0; k < s.K; ++k) db[k] += static_cast<T>(bacc[k]);
}

#define DC_INSTANTIATE_CONV_REF(T)                                                             \
  template void conv3d_forward<T>(const Conv3dShape&, const T*, const T*, const T*, T*, bool); \
  template void conv3d_backward_input<T>(const Conv3dShape&, const T*, const T*, T*);          \
  template void conv3d_backward_weight<T>(const Conv3dShape&, const T*, const T*, T*, T*);
DC_INSTANTIATE_CONV_REF(float)
DC_INSTANTIATE_CONV_REF(double)
#undef DC_INSTANTIATE_CONV_REF

}  // namespace dc::ref
