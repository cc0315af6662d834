// Interpolation plane kernels, one ISA copy (see [Note: one source, three ISAs]): forward
// gathers through the per-axis tables of csrc/interpolate.h, backward scatters into a zeroed
// plane (each call owns its planes, so no two threads write one element).
//
// Forward loop order: per output row p, the two source rows h0(p), h1(p) are fixed, so the
// inner loop over q is two (nearest: one) table-driven gathers per row and a blend, which the
// compiler vectorises with gathers where the ISA has them. Nearest with an exact integer
// upscale along W (Q = k W) writes each source value k times without reading the tables.
#include <cstdint>

#include "interpolate.h"

namespace dc {
namespace DC_ISA_NS {
namespace {

template <typename T>
void forward_planes(const InterpShape& s, const InterpTables<T>& t, int64_t planes,
                    const T* __restrict x, T* __restrict y) {
  const int64_t H = s.H, W = s.W, P = s.P, Q = s.Q;
  const int64_t* __restrict w0 = t.w0;
  const int64_t* __restrict w1 = t.w1;
  const T* __restrict lw = t.lw;
  const bool nearest = s.mode != InterpMode::linear;
  // nearest, W upscaled by an integer factor k with source column q / k (PyTorch's legacy
  // nearest at Q == 2W and Q == W, and nearest-exact at any integer factor)
  int64_t rep = 0;
  if (nearest && Q % W == 0) {
    rep = Q / W;
    for (int64_t q = 0; q < Q && rep; ++q)
      if (w0[q] != q / rep) rep = 0;
  }
  for (int64_t i = 0; i < planes; ++i) {
    const T* xp = x + i * H * W;
    T* yp = y + i * P * Q;
    for (int64_t p = 0; p < P; ++p) {
      const T* r0 = xp + t.h0[p] * W;
      T* yr = yp + p * Q;
      if (nearest) {
        if (rep == 1) {
          for (int64_t q = 0; q < Q; ++q) yr[q] = r0[q];
        } else if (rep == 2) {
          for (int64_t v = 0; v < W; ++v) yr[2 * v] = yr[2 * v + 1] = r0[v];
        } else if (rep > 2) {
          for (int64_t v = 0; v < W; ++v)
            for (int64_t k = 0; k < rep; ++k) yr[v * rep + k] = r0[v];
        } else {
          for (int64_t q = 0; q < Q; ++q) yr[q] = r0[w0[q]];
        }
        continue;
      }
      const T* r1 = xp + t.h1[p] * W;
      const T lh1 = t.lh[p], lh0 = T(1) - lh1;
      for (int64_t q = 0; q < Q; ++q) {
        const T b = lw[q], a = T(1) - b;
        yr[q] = lh0 * (a * r0[w0[q]] + b * r0[w1[q]]) + lh1 * (a * r1[w0[q]] + b * r1[w1[q]]);
      }
    }
  }
}

template <typename T>
void backward_planes(const InterpShape& s, const InterpTables<T>& t, int64_t planes,
                     const T* __restrict dy, T* __restrict dx) {
  const int64_t H = s.H, W = s.W, P = s.P, Q = s.Q;
  const bool nearest = s.mode != InterpMode::linear;
  for (int64_t i = 0; i < planes; ++i) {
    T* d = dx + i * H * W;
    const T* g = dy + i * P * Q;
    for (int64_t j = 0; j < H * W; ++j) d[j] = T(0);
    for (int64_t p = 0; p < P; ++p) {
      T* d0 = d + t.h0[p] * W;
      const T* gr = g + p * Q;
      if (nearest) {
        for (int64_t q = 0; q < Q; ++q) d0[t.w0[q]] += gr[q];
        continue;
      }
      T* d1 = d + t.h1[p] * W;
      const T lh1 = t.lh[p], lh0 = T(1) - lh1;
      for (int64_t q = 0; q < Q; ++q) {
        const T b = t.lw[q], a = T(1) - b;
        const T g0 = lh0 * gr[q], g1 = lh1 * gr[q];
        d0[t.w0[q]] += a * g0;
        d0[t.w1[q]] += b * g0;
        d1[t.w0[q]] += a * g1;
        d1[t.w1[q]] += b * g1;
      }
    }
  }
}

template <typename T>
const InterpKernels<T>* kernels() {
  static const InterpKernels<T> k = {&forward_planes<T>, &backward_planes<T>};
  return &k;
}

}  // namespace

DC_REGISTER_DISPATCH_T(interp_stub, float, &kernels<float>);
DC_REGISTER_DISPATCH_T(interp_stub, double, &kernels<double>);

}  // namespace DC_ISA_NS
}  // namespace dc
