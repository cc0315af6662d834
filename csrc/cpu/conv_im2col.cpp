// im2col / col2im for one group of one image and a tile of output rows (see csrc/conv.h).
// One source, three ISAs: see [Note: one source, three ISAs] in csrc/core/dispatch.h.
// With stride 1 the inner loops are contiguous copies / adds that the compiler vectorises with
// the ISA flags of each copy; the zero-padding ranges are computed once per (c, r, s) row
// instead of testing every element.
#include "conv.h"

#if DC_ISA_LEVEL >= 2
#include <immintrin.h>
#endif

// Rows of small images are short (3 floats for a 5x5 layer): GCC would turn every row copy
// into a memcpy call, which cost 5-10x the copy itself (perf: memmove was the top symbol of a
// 5x5 conv's forward). Plain loops are vectorised where rows are long.
#pragma GCC optimize("no-tree-loop-distribute-patterns")

namespace dc {
namespace DC_ISA_NS {
namespace {

// Output columns q whose input column q*stride + off lies in [0, W): [lo, hi).
inline void valid_range(int64_t Q, int64_t W, int64_t stride, int64_t off, int64_t& lo,
                        int64_t& hi) {
  lo = off >= 0 ? 0 : (-off + stride - 1) / stride;
  hi = (W - 1 - off) < 0 ? 0 : (W - 1 - off) / stride + 1;
  if (hi > Q) hi = Q;
  if (lo > hi) lo = hi;
}

template <typename T>
void im2col(const ConvShape& s, const T* __restrict x, int64_t p0, int64_t p1, T* __restrict col,
            int64_t ld) {
  const int64_t Q = s.Q, Cg = s.Cg();
  for (int64_t c = 0; c < Cg; ++c)
    for (int64_t r = 0; r < s.R; ++r)
      for (int64_t t = 0; t < s.S; ++t) {
        T* crow = col + ((c * s.R + r) * s.S + t) * ld;
        const int64_t off = t * s.dw - s.pw;
        int64_t lo, hi;
        valid_range(Q, s.W, s.sw, off, lo, hi);
        for (int64_t p = p0; p < p1; ++p) {
          T* dst = crow + (p - p0) * Q;
          const int64_t h = p * s.sh - s.ph + r * s.dh;
          if (h < 0 || h >= s.H) {
            for (int64_t q = 0; q < Q; ++q) dst[q] = T(0);
            continue;
          }
          const T* src = x + (c * s.H + h) * s.W + off;
          for (int64_t q = 0; q < lo; ++q) dst[q] = T(0);
          if (s.sw == 1) {
            for (int64_t q = lo; q < hi; ++q) dst[q] = src[q];
          } else {
            for (int64_t q = lo; q < hi; ++q) dst[q] = src[q * s.sw];
          }
          for (int64_t q = hi; q < Q; ++q) dst[q] = T(0);
        }
      }
}

template <typename T>
void col2im(const ConvShape& s, const T* __restrict col, int64_t p0, int64_t p1, T* __restrict dx,
            int64_t ld) {
  const int64_t Q = s.Q, Cg = s.Cg();
  for (int64_t c = 0; c < Cg; ++c)
    for (int64_t r = 0; r < s.R; ++r)
      for (int64_t t = 0; t < s.S; ++t) {
        const T* crow = col + ((c * s.R + r) * s.S + t) * ld;
        const int64_t off = t * s.dw - s.pw;
        int64_t lo, hi;
        valid_range(Q, s.W, s.sw, off, lo, hi);
        for (int64_t p = p0; p < p1; ++p) {
          const int64_t h = p * s.sh - s.ph + r * s.dh;
          if (h < 0 || h >= s.H) continue;
          const T* src = crow + (p - p0) * Q;
          T* dst = dx + (c * s.H + h) * s.W + off;
          if (s.sw == 1) {
            for (int64_t q = lo; q < hi; ++q) dst[q] += src[q];
          } else {
            for (int64_t q = lo; q < hi; ++q) dst[q * s.sw] += src[q];
          }
        }
      }
}

// ---- padded variants (whole images, no bounds logic) -----------------------------------------
//
// The input was zero-padded by the driver, so row (c, r, t) of the column matrix is P strided
// runs of Q elements: a 2-D copy without branches. Small images have short runs (Q = 3 for a
// 5x5 layer with a 3x3 kernel), so the per-run cost is what matters: under AVX-512 a run of up
// to 16 floats is one masked load and one masked store.

template <typename T>
inline void copy_run(T* __restrict dst, const T* __restrict src, int64_t n) {
#if DC_ISA_LEVEL >= 2
  if constexpr (sizeof(T) == 4) {
    for (; n >= 16; n -= 16, src += 16, dst += 16) _mm512_storeu_ps(dst, _mm512_loadu_ps(src));
    const __mmask16 m = static_cast<__mmask16>((1u << n) - 1);
    _mm512_mask_storeu_ps(dst, m, _mm512_maskz_loadu_ps(m, src));
    return;
  }
#endif
  for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
}

template <typename T>
inline void add_run(T* __restrict dst, const T* __restrict src, int64_t n) {
#if DC_ISA_LEVEL >= 2
  if constexpr (sizeof(T) == 4) {
    for (; n >= 16; n -= 16, src += 16, dst += 16)
      _mm512_storeu_ps(dst, _mm512_add_ps(_mm512_loadu_ps(dst), _mm512_loadu_ps(src)));
    const __mmask16 m = static_cast<__mmask16>((1u << n) - 1);
    _mm512_mask_storeu_ps(
        dst, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, dst), _mm512_maskz_loadu_ps(m, src)));
    return;
  }
#endif
  for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
}

template <typename T>
void im2col_padded(const ConvShape& s, const T* __restrict xp, int64_t Hp, int64_t Wp,
                   T* __restrict col, int64_t ld) {
  const int64_t P = s.P, Q = s.Q, Cg = s.Cg();
  for (int64_t c = 0; c < Cg; ++c)
    for (int64_t r = 0; r < s.R; ++r)
      for (int64_t t = 0; t < s.S; ++t) {
        T* dst = col + ((c * s.R + r) * s.S + t) * ld;
        const T* src = xp + (c * Hp + r * s.dh) * Wp + t * s.dw;
        if (s.sw == 1) {
          for (int64_t p = 0; p < P; ++p) copy_run(dst + p * Q, src + p * s.sh * Wp, Q);
        } else {
          for (int64_t p = 0; p < P; ++p)
            for (int64_t q = 0; q < Q; ++q) dst[p * Q + q] = src[p * s.sh * Wp + q * s.sw];
        }
      }
}

// Rows of up to 64 floats (Wp <= 64, unit column stride and dilation) under AVX-512: each row
// of dxp is gathered once, as the sum of the column-matrix runs that land on it (shifted into
// place by masked loads), and stored once. The scatter form (add each run into dxp) re-reads
// rows it has just stored at a shifted address, which defeats store-to-load forwarding: it
// measured 3x slower on a 5x5 layer.
#if DC_ISA_LEVEL >= 2
constexpr int64_t kMaxRunS = 16;  // kernel widths up to this take the gather form
// Lanes [lo, hi) of a 16-lane vector (clipped to [0, 16)).
inline __mmask16 lane_range(int64_t lo, int64_t hi) {
  lo = lo < 0 ? 0 : lo;
  hi = hi > 16 ? 16 : hi;
  if (hi <= lo) return 0;
  return static_cast<__mmask16>(((1u << (hi - lo)) - 1) << lo);
}

template <int NV>
void col2im_rows_nv(const ConvShape& s, const float* __restrict col, int64_t ld,
                    float* __restrict dxp, int64_t Hp, int64_t Wp) {
  const int64_t P = s.P, Q = s.Q, R = s.R, S = s.S;
  __mmask16 store[NV], run[kMaxRunS][NV];  // run[t][v]: lanes of vector v fed by run t
  for (int v = 0; v < NV; ++v) store[v] = lane_range(0, Wp - 16 * v);
  for (int64_t t = 0; t < S; ++t)
    for (int v = 0; v < NV; ++v) run[t][v] = lane_range(t - 16 * v, t + Q - 16 * v);
  for (int64_t c = 0; c < s.Cg(); ++c)
    for (int64_t h = 0; h < Hp; ++h) {
      __m512 acc[NV];
      for (int v = 0; v < NV; ++v) acc[v] = _mm512_setzero_ps();
      for (int64_t r = 0; r < R; ++r) {
        const int64_t num = h - r * s.dh;
        if (num < 0 || num % s.sh) continue;
        const int64_t p = num / s.sh;
        if (p >= P) continue;
        const float* src = col + (c * R + r) * S * ld + p * Q;
        for (int64_t t = 0; t < S; ++t)  // output column j gets src[j - t] for j in [t, t+Q)
          for (int v = 0; v < NV; ++v)
            acc[v] =
                _mm512_add_ps(acc[v], _mm512_maskz_loadu_ps(run[t][v], src + t * ld + 16 * v - t));
      }
      float* d = dxp + (c * Hp + h) * Wp;
      for (int v = 0; v < NV; ++v) _mm512_mask_storeu_ps(d + 16 * v, store[v], acc[v]);
    }
}
#endif

template <typename T>
bool col2im_rows(const ConvShape& s, const T* __restrict col, int64_t ld, T* __restrict dxp,
                 int64_t Hp, int64_t Wp) {
#if DC_ISA_LEVEL >= 2
  if constexpr (sizeof(T) == 4) {
    if (s.sw != 1 || s.dw != 1 || Wp > 64 || s.Q + s.S - 1 > Wp || s.S > kMaxRunS) return false;
    switch ((Wp + 15) / 16) {
      case 1:
        col2im_rows_nv<1>(s, col, ld, dxp, Hp, Wp);
        return true;
      case 2:
        col2im_rows_nv<2>(s, col, ld, dxp, Hp, Wp);
        return true;
      case 3:
        col2im_rows_nv<3>(s, col, ld, dxp, Hp, Wp);
        return true;
      default:
        col2im_rows_nv<4>(s, col, ld, dxp, Hp, Wp);
        return true;
    }
  }
#endif
  return false;
}

template <typename T>
void col2im_padded(const ConvShape& s, const T* __restrict col, int64_t ld, T* __restrict dxp,
                   int64_t Hp, int64_t Wp) {
  if (col2im_rows(s, col, ld, dxp, Hp, Wp)) return;
  const int64_t P = s.P, Q = s.Q, Cg = s.Cg();
  for (int64_t i = 0; i < Cg * Hp * Wp; ++i) dxp[i] = T(0);
  for (int64_t c = 0; c < Cg; ++c)
    for (int64_t r = 0; r < s.R; ++r)
      for (int64_t t = 0; t < s.S; ++t) {
        const T* src = col + ((c * s.R + r) * s.S + t) * ld;
        T* dst = dxp + (c * Hp + r * s.dh) * Wp + t * s.dw;
        if (s.sw == 1) {
          for (int64_t p = 0; p < P; ++p) add_run(dst + p * s.sh * Wp, src + p * Q, Q);
        } else {
          for (int64_t p = 0; p < P; ++p)
            for (int64_t q = 0; q < Q; ++q) dst[p * s.sh * Wp + q * s.sw] += src[p * Q + q];
        }
      }
}

}  // namespace

DC_REGISTER_DISPATCH_T(im2col_stub, float, &im2col<float>);
DC_REGISTER_DISPATCH_T(im2col_stub, double, &im2col<double>);
DC_REGISTER_DISPATCH_T(col2im_stub, float, &col2im<float>);
DC_REGISTER_DISPATCH_T(col2im_stub, double, &col2im<double>);
DC_REGISTER_DISPATCH_T(im2col_padded_stub, float, &im2col_padded<float>);
DC_REGISTER_DISPATCH_T(im2col_padded_stub, double, &im2col_padded<double>);
DC_REGISTER_DISPATCH_T(col2im_padded_stub, float, &col2im_padded<float>);
DC_REGISTER_DISPATCH_T(col2im_padded_stub, double, &col2im_padded<double>);

}  // namespace DC_ISA_NS
}  // namespace dc
