// im2col / col2im for one group of one image and a tile of output rows (see csrc/conv.h).
// One source, three ISAs: see [Note: one source, three ISAs] in csrc/core/dispatch.h.
// With stride 1 the inner loops are contiguous copies / adds that the compiler vectorises with
// the ISA flags of each copy; the zero-padding ranges are computed once per (c, r, s) row
// instead of testing every element.
#include "conv.h"

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

}  // namespace

DC_REGISTER_DISPATCH(im2col_f32, &im2col<float>);
DC_REGISTER_DISPATCH(im2col_f64, &im2col<double>);
DC_REGISTER_DISPATCH(col2im_f32, &col2im<float>);
DC_REGISTER_DISPATCH(col2im_f64, &col2im<double>);

}  // namespace DC_ISA_NS
}  // namespace dc
