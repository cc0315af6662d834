// Direct convolution inner kernels, one group of one image at a time (see csrc/conv.h).
// One source, three ISAs: see [Note: one source, three ISAs] in csrc/core/dispatch.h.
//
// [Note: direct conv register blocking]
// The forward kernel computes a block of KB output channels x kConvDirectQB output columns of
// one output row in KB vector accumulators (GCC vector extensions: one zmm per channel under
// AVX-512, two ymm under AVX2, four xmm in the generic build), looping over (c, r, s) with one
// input-vector load and KB broadcast-FMAs per step. The input is a zero-padded copy (the
// driver makes it), so the block reads past the last output column without bounds checks and
// padding costs nothing in the inner loop.
#include <algorithm>
#include <cstring>

#include "conv.h"

#if DC_ISA_LEVEL >= 2
#include <immintrin.h>
#endif

namespace dc {
namespace DC_ISA_NS {
namespace {

constexpr int64_t QB = kConvDirectQB;

template <typename T>
struct VecOf {
  typedef T type __attribute__((vector_size(QB * sizeof(T))));
};
template <typename T>
using Vec = typename VecOf<T>::type;

// (Vectors go through references, not by value: no vector ABI question at any boundary.)
template <typename T, bool kUnit>
inline void load_row(const T* p, int64_t stride, Vec<T>& v) {
  if constexpr (kUnit) {
    std::memcpy(&v, p, sizeof(v));
  } else {
    for (int64_t j = 0; j < QB; ++j) v[j] = p[j * stride];
  }
}

template <typename T>
inline T hsum(const Vec<T>& v) {
  T s = 0;
  for (int64_t j = 0; j < QB; ++j) s += v[j];
  return s;
}

// y rows for output channels [0, KB) (pointers already offset to k0), output row p, all Q.
template <typename T, int KB, bool kUnit>
void fwd_rows(const ConvShape& s, const T* __restrict xp, int64_t Hp, int64_t Wp,
              const T* __restrict w, const T* __restrict b, T* __restrict y, int64_t p) {
  const int64_t Cg = s.Cg(), R = s.R, S = s.S, RS = R * S, CRS = Cg * RS, PQ = s.P * s.Q;
  for (int64_t q0 = 0; q0 < s.Q; q0 += QB) {
    Vec<T> acc[KB];
    for (int kk = 0; kk < KB; ++kk) acc[kk] = Vec<T>{} + (b ? b[kk] : T(0));
    const T* xq = xp + p * s.sh * Wp + q0 * s.sw;
    for (int64_t c = 0; c < Cg; ++c) {
      for (int64_t r = 0; r < R; ++r) {
        const T* xr = xq + c * Hp * Wp + r * s.dh * Wp;
        const T* wr = w + c * RS + r * S;
        for (int64_t t = 0; t < S; ++t) {
          Vec<T> xv;
          load_row<T, kUnit>(xr + t * s.dw, s.sw, xv);
          for (int kk = 0; kk < KB; ++kk) acc[kk] += wr[kk * CRS + t] * xv;
        }
      }
    }
    const int64_t qn = s.Q - q0 < QB ? s.Q - q0 : QB;
    for (int kk = 0; kk < KB; ++kk) {
      T* yr = y + kk * PQ + p * s.Q + q0;
      if (qn == QB) {
        std::memcpy(yr, &acc[kk], sizeof(Vec<T>));
      } else {
        for (int64_t j = 0; j < qn; ++j) yr[j] = acc[kk][j];
      }
    }
  }
}

template <typename T, int KB>
void fwd_channels(const ConvShape& s, const T* xp, int64_t Hp, int64_t Wp, const T* w, const T* b,
                  T* y) {
  for (int64_t p = 0; p < s.P; ++p) {
    if (s.sw == 1)
      fwd_rows<T, KB, true>(s, xp, Hp, Wp, w, b, y, p);
    else
      fwd_rows<T, KB, false>(s, xp, Hp, Wp, w, b, y, p);
  }
}

template <typename T>
void direct_fwd(const ConvShape& s, const T* xp, int64_t Hp, int64_t Wp, const T* w, const T* b,
                T* y) {
  const int64_t Kg = s.Kg(), CRS = s.Cg() * s.R * s.S, PQ = s.P * s.Q;
  int64_t k = 0;
  // blocks of 4 output channels, then 2, then 1 (K = 6 for LeNet's first layer is 4 + 2)
  for (; k + 4 <= Kg; k += 4)
    fwd_channels<T, 4>(s, xp, Hp, Wp, w + k * CRS, b ? b + k : b, y + k * PQ);
  for (; k + 2 <= Kg; k += 2)
    fwd_channels<T, 2>(s, xp, Hp, Wp, w + k * CRS, b ? b + k : b, y + k * PQ);
  for (; k < Kg; ++k) fwd_channels<T, 1>(s, xp, Hp, Wp, w + k * CRS, b ? b + k : b, y + k * PQ);
}

// dxp[c, p*sh + r*dh, q*sw + s*dw] += w[k,c,r,s] * dy[k,p,q]: a scatter (axpy along q), which
// handles every stride; each call owns its dxp, so there are no races.
template <typename T>
void direct_bwd_in(const ConvShape& s, const T* __restrict dy, const T* __restrict w,
                   T* __restrict dxp, int64_t Hp, int64_t Wp) {
  const int64_t Cg = s.Cg(), Kg = s.Kg(), R = s.R, S = s.S, RS = R * S, Q = s.Q;
  for (int64_t c = 0; c < Cg; ++c) {
    for (int64_t p = 0; p < s.P; ++p) {
      for (int64_t r = 0; r < R; ++r) {
        T* dxr = dxp + c * Hp * Wp + (p * s.sh + r * s.dh) * Wp;
        for (int64_t k = 0; k < Kg; ++k) {
          const T* dyr = dy + (k * s.P + p) * Q;
          const T* wr = w + (k * Cg + c) * RS + r * S;
          for (int64_t t = 0; t < S; ++t) {
            const T wv = wr[t];
            T* d = dxr + t * s.dw;
            if (s.sw == 1) {
              for (int64_t q = 0; q < Q; ++q) d[q] += wv * dyr[q];
            } else {
              for (int64_t q = 0; q < Q; ++q) d[q * s.sw] += wv * dyr[q];
            }
          }
        }
      }
    }
  }
}

// [Note: direct weight gradient]
// dw[k,c,r,t] += sum_{p,q} dy[k,p,q] * xp[c, p*sh + r*dh, q*sw + t*dw]. For each (c, r) and a
// block of KB output channels x ST kernel columns, KB*ST vector accumulators sum products
// along q over every output row p; each input vector loaded serves KB channels and each dy
// vector ST columns, and the horizontal sums happen once per weight. dy comes as a copy whose
// rows are zero-padded to a whole number of vectors (Qr), so the q loop has no tail, and
// the padded xp makes full-vector reads past Q safe.
template <typename T, int KB, int ST, bool kUnit>
void bwd_w_block(const ConvShape& s, const T* __restrict xp, int64_t Hp, int64_t Wp,
                 const T* __restrict dyp, int64_t Qr, T* __restrict dw, int64_t k0, int64_t t0) {
  const int64_t Cg = s.Cg(), R = s.R, S = s.S, RS = R * S, P = s.P;
  for (int64_t c = 0; c < Cg; ++c)
    for (int64_t r = 0; r < R; ++r) {
      Vec<T> acc[KB][ST];
      for (int kb = 0; kb < KB; ++kb)
        for (int j = 0; j < ST; ++j) acc[kb][j] = Vec<T>{};
      for (int64_t p = 0; p < P; ++p) {
        const T* xr = xp + c * Hp * Wp + (p * s.sh + r * s.dh) * Wp + t0 * s.dw;
        const T* dr = dyp + (k0 * P + p) * Qr;
        for (int64_t q0 = 0; q0 < Qr; q0 += QB) {
          Vec<T> dv[KB], xv;
          for (int kb = 0; kb < KB; ++kb) load_row<T, true>(dr + kb * P * Qr + q0, 1, dv[kb]);
          for (int j = 0; j < ST; ++j) {
            load_row<T, kUnit>(xr + q0 * s.sw + j * s.dw, s.sw, xv);
            for (int kb = 0; kb < KB; ++kb) acc[kb][j] += dv[kb] * xv;
          }
        }
      }
      for (int kb = 0; kb < KB; ++kb)
        for (int j = 0; j < ST; ++j)
          dw[((k0 + kb) * Cg + c) * RS + r * S + t0 + j] += hsum<T>(acc[kb][j]);
    }
}

// Kernel columns [t0, S) for output channels [k0, k0 + KB), in blocks of up to 7 columns.
template <typename T, int KB, bool kUnit>
void bwd_w_channels(const ConvShape& s, const T* xp, int64_t Hp, int64_t Wp, const T* dyp,
                    int64_t Qr, T* dw, int64_t k0) {
  for (int64_t t0 = 0; t0 < s.S;) {
    switch (std::min<int64_t>(s.S - t0, 7)) {
#define DC_BWD_W_CASE(n)                                              \
  case n:                                                             \
    bwd_w_block<T, KB, n, kUnit>(s, xp, Hp, Wp, dyp, Qr, dw, k0, t0); \
    t0 += n;                                                          \
    break;
      DC_BWD_W_CASE(1)
      DC_BWD_W_CASE(2)
      DC_BWD_W_CASE(3)
      DC_BWD_W_CASE(4)
      DC_BWD_W_CASE(5)
      DC_BWD_W_CASE(6)
      DC_BWD_W_CASE(7)
#undef DC_BWD_W_CASE
    }
  }
}

template <typename T, bool kUnit>
void bwd_w_impl(const ConvShape& s, const T* xp, int64_t Hp, int64_t Wp, const T* dyp, int64_t Qr,
                T* dw) {
  constexpr int KB = DC_ISA_LEVEL >= 2 ? 4 : 2;  // 4*7 + 4 + 1 zmm at most; ymm/xmm pairs spill
  int64_t k = 0;
  for (; k + KB <= s.Kg(); k += KB) bwd_w_channels<T, KB, kUnit>(s, xp, Hp, Wp, dyp, Qr, dw, k);
  for (; k < s.Kg(); ++k) bwd_w_channels<T, 1, kUnit>(s, xp, Hp, Wp, dyp, Qr, dw, k);
}

// dyp rows = dy rows (Q) zero-padded to Qr; under AVX-512 a row of up to 16 floats is one
// masked load and store (a memcpy call per 26-float row cost ~40 % of the first layer's dW).
template <typename T>
void pad_rows(const T* __restrict dy, int64_t rows, int64_t Q, int64_t Qr, T* __restrict dyp) {
  for (int64_t i = 0; i < rows; ++i) {
    const T* src = dy + i * Q;
    T* dst = dyp + i * Qr;
    int64_t q = 0;
#if DC_ISA_LEVEL >= 2
    if constexpr (sizeof(T) == 4) {
      for (; q < Qr; q += 16) {
        const int64_t n = Q - q < 0 ? 0 : (Q - q > 16 ? 16 : Q - q);
        const __mmask16 m = static_cast<__mmask16>((1u << n) - 1);
        _mm512_storeu_ps(dst + q, _mm512_maskz_loadu_ps(m, src + q));
      }
      continue;
    }
#endif
    for (; q < Q; ++q) dst[q] = src[q];
    for (; q < Qr; ++q) dst[q] = T(0);
  }
}

template <typename T>
void direct_bwd_w(const ConvShape& s, const T* xp, int64_t Hp, int64_t Wp, const T* dy, T* dyp,
                  T* dw, T* db) {
  const int64_t Qr = (s.Q + QB - 1) / QB * QB, rows = s.P * Qr / QB;
  pad_rows(dy, s.Kg() * s.P, s.Q, Qr, dyp);
  if (db)  // the bias gradient from the padded copy while it is in cache (tails are zero)
    for (int64_t k = 0; k < s.Kg(); ++k) {
      Vec<T> acc = {};
      for (int64_t v = 0; v < rows; ++v) {
        Vec<T> d;
        load_row<T, true>(dyp + k * s.P * Qr + v * QB, 1, d);
        acc += d;
      }
      db[k] += hsum<T>(acc);
    }
  if (s.sw == 1)
    bwd_w_impl<T, true>(s, xp, Hp, Wp, dyp, Qr, dw);
  else
    bwd_w_impl<T, false>(s, xp, Hp, Wp, dyp, Qr, dw);
}

}  // namespace

DC_REGISTER_DISPATCH_T(conv_direct_fwd_stub, float, &direct_fwd<float>);
DC_REGISTER_DISPATCH_T(conv_direct_fwd_stub, double, &direct_fwd<double>);
DC_REGISTER_DISPATCH_T(conv_direct_bwd_in_stub, float, &direct_bwd_in<float>);
DC_REGISTER_DISPATCH_T(conv_direct_bwd_in_stub, double, &direct_bwd_in<double>);
DC_REGISTER_DISPATCH_T(conv_direct_bwd_w_stub, float, &direct_bwd_w<float>);
DC_REGISTER_DISPATCH_T(conv_direct_bwd_w_stub, double, &direct_bwd_w<double>);

}  // namespace DC_ISA_NS
}  // namespace dc
