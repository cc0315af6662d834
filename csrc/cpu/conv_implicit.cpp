// Implicit-GEMM convolution tiles (see [Note: implicit GEMM convolution] in csrc/conv.cpp).
// One source, three ISAs: see [Note: one source, three ISAs] in csrc/core/dispatch.h.
//
// fwd_tile: C (m x n, m <= MR, n <= NR) = sum_p a[p*MR + i] * src[off[p] + j] over the
//   reduction indices p of the given segments: the GEMM's micro-kernel with its B panel
//   replaced by rows of the (zero-padded) input itself, one offset per reduction index. Per
//   step: NV unaligned vector loads, MR broadcasts, MR*NV FMAs.
// wgrad_tile: C (m x n) += sum over positions of src[aoff[i] + abase[r] + q*sw] * b[pos][j]
//   for the listed rows r:
//   the weight gradient with input channels as rows (broadcast, any stride) and output
//   channels as the vector axis (b: dy transposed to positions x channels, NR-padded rows).
// Both read whole NR-wide vectors: the driver leaves NR - 1 readable elements after the last
// one either can touch; the lanes past n are computed and never stored.
#include <cstring>

#include "conv.h"
#include "cpu/gemm_kernels.h"  // Vec, fma_vec

namespace dc {
namespace DC_ISA_NS {
namespace {

template <typename T>
inline Vec<T> load_vec(const T* p) {  // unaligned
  Vec<T> v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// a in every lane, loaded straight from memory (vbroadcastss): the vector-extension idiom
// Vec<T>{} + a compiles to a scalar add and a register broadcast, on the FMA's ports.
template <typename T>
inline Vec<T> bcast_vec(const T* a) {
#if DC_ISA_LEVEL == 2
  if constexpr (sizeof(T) == 4) return Vec<T>(_mm512_set1_ps(*a));
  if constexpr (sizeof(T) == 8) return Vec<T>(_mm512_set1_pd(*a));
#elif DC_ISA_LEVEL == 1
  if constexpr (sizeof(T) == 4) return Vec<T>(_mm256_broadcast_ss(a));
  if constexpr (sizeof(T) == 8) return Vec<T>(_mm256_broadcast_sd(a));
#endif
  Vec<T> v;
  for (int j = 0; j < int(kVecBytes / sizeof(T)); ++j) v[j] = *a;
  return v;
}

template <typename T, int MR, int NV>
inline void zero_tile(Vec<T> (&acc)[MR][NV]) {
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = Vec<T>{};
}

// C[i*ldc + j] (= or +=) acc[i][j] (+ bias[i], then ReLU: x < 0 ? 0 : x, NaN stays NaN) for
// i < m, j < n; compile-time indices keep acc in registers.
template <typename T, int MR, int NV>
inline void store_tile(const Vec<T> (&acc)[MR][NV], T* C, int64_t ldc, int m, int n,
                       bool accumulate, const T* bias = nullptr, bool relu = false) {
  constexpr int L = kVecBytes / sizeof(T), NR = NV * L;
  if (m == MR && n == NR) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        Vec<T> r = acc[i][v];
        if (accumulate) r += load_vec(C + i * ldc + v * L);
        if (bias) r += bcast_vec(bias + i);
        if (relu) r = r < Vec<T>{} ? Vec<T>{} : r;
        std::memcpy(C + i * ldc + v * L, &r, sizeof(r));
      }
    return;
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    if (i >= m) break;
    T* c = C + i * ldc;
#pragma GCC unroll 64
    for (int j = 0; j < NR; ++j) {
      if (j >= n) break;
      T r = accumulate ? c[j] + acc[i][j / L][j % L] : acc[i][j / L][j % L];
      if (bias) r += bias[i];
      c[j] = relu && r < T(0) ? T(0) : r;
    }
  }
}

template <typename T, int MR, int NV>
void fwd_tile(const int64_t* __restrict seg, int nseg, const T* __restrict a,
              const int64_t* __restrict off, const T* __restrict src, T* __restrict C, int64_t ldc,
              int m, int n, const T* __restrict bias, bool relu) {
  constexpr int L = kVecBytes / sizeof(T);
  Vec<T> acc[MR][NV];
  zero_tile<T, MR, NV>(acc);
  for (int j = 0; j < nseg; ++j) {
    const T* ap = a + seg[2 * j] * MR;
#pragma GCC unroll 2
    for (int64_t p = seg[2 * j]; p < seg[2 * j + 1]; ++p, ap += MR) {
      const T* b = src + off[p];
      Vec<T> bv[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) bv[v] = load_vec(b + v * L);
#pragma GCC unroll 16
      for (int i = 0; i < MR; ++i) {
        const Vec<T> ai = bcast_vec(ap + i);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[i][v] = fma_vec<T>(ai, bv[v], acc[i][v]);
      }
    }
  }
  store_tile<T, MR, NV>(acc, C, ldc, m, n, false, bias, relu);
}

template <typename T, int MR, int NV>
void wgrad_tile(const T* __restrict src, const int64_t* __restrict aoff,
                const int64_t* __restrict abase, const int64_t* __restrict rows, int64_t nrows,
                int64_t len, int64_t sw, const T* __restrict b, int64_t ldb, T* __restrict C,
                int64_t ldc, int m, int n) {
  constexpr int L = kVecBytes / sizeof(T);
  Vec<T> acc[MR][NV];
  zero_tile<T, MR, NV>(acc);
  int64_t ao[MR];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) ao[i] = aoff[i < m ? i : 0];  // rows past m: any valid row
  for (int64_t k = 0; k < nrows; ++k) {
    const int64_t r = rows[k];
    const T* s0 = src + abase[r];
    const T* br = b + r * len * ldb;
#pragma GCC unroll 2
    for (int64_t q = 0; q < len; ++q, br += ldb) {
      Vec<T> bv[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) bv[v] = load_vec(br + v * L);
      const T* sq = s0 + q * sw;
#pragma GCC unroll 16
      for (int i = 0; i < MR; ++i) {
        const Vec<T> ai = bcast_vec(sq + ao[i]);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[i][v] = fma_vec<T>(ai, bv[v], acc[i][v]);
      }
    }
  }
  store_tile<T, MR, NV>(acc, C, ldc, m, n, true);
}

// The forward with the roles of fwd_tile swapped: output channels along the vectors (the packed
// weight panel b, nr columns a reduction index), mr output positions broadcast from anywhere in
// the channels-last window (one pointer each, advancing along the segment's contiguous run).
template <typename T, int MR, int NV>
void fwd_cv_tile(const int64_t* __restrict seg, int nseg, const T* __restrict b,
                 const T* __restrict src, const int64_t* __restrict pos, T* __restrict C,
                 int64_t ldc, const int64_t* __restrict coff, int m, int n,
                 const T* __restrict bias, bool relu) {
  constexpr int L = kVecBytes / sizeof(T), NR = NV * L;
  Vec<T> acc[MR][NV];
  zero_tile<T, MR, NV>(acc);
  for (int k = 0; k < nseg; ++k) {
    const int64_t p0 = seg[3 * k], len = seg[3 * k + 1] - p0;
    const T* bp = b + p0 * NR;
    const T* xs[MR];
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) xs[i] = src + pos[i < m ? i : 0] + seg[3 * k + 2];
#pragma GCC unroll 2
    for (int64_t p = 0; p < len; ++p, bp += NR) {
      Vec<T> bv[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) bv[v] = load_vec(bp + v * L);
#pragma GCC unroll 16
      for (int i = 0; i < MR; ++i) {
        const Vec<T> ai = bcast_vec(xs[i] + p);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[i][v] = fma_vec<T>(ai, bv[v], acc[i][v]);
      }
    }
  }
  // a tile's outputs are a column of C per channel: scalar stores (mr*nr of them against
  // mr*nr*len multiply-adds)
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    if (i >= m) break;
    T* c = C + coff[i];
#pragma GCC unroll 64
    for (int j = 0; j < NR; ++j) {
      if (j >= n) break;
      T r = acc[i][j / L][j % L];
      if (bias) r += bias[j];
      c[j * ldc] = relu && r < T(0) ? T(0) : r;
    }
  }
}

// dst[j*ldd + i] = src[i*lds + j] for i < rows, j < cols (the weight gradient's dy, transposed
// band by band): 8 x 8 blocks through registers where this copy has them.
template <typename T>
void transpose(int64_t rows, int64_t cols, const T* __restrict src, int64_t lds, T* __restrict dst,
               int64_t ldd) {
  int64_t i = 0;
  for (; i + 8 <= rows; i += 8) {
    int64_t j = 0;
    for (; j + 8 <= cols; j += 8)
      if (!transpose8x8(src + i * lds + j, lds, dst + j * ldd + i, ldd)) break;
    for (int64_t u = 0; u < 8; ++u)
      for (int64_t jj = j; jj < cols; ++jj) dst[jj * ldd + i + u] = src[(i + u) * lds + jj];
  }
  for (; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) dst[j * ldd + i] = src[i * lds + j];
}

// MR x NR per ISA and type: 16 accumulators of the widest vector (8 x 32 floats under
// AVX-512, as the SGEMM micro-kernel; 6 x 16 under AVX2; 4 x 8 in the generic build).
#if DC_ISA_LEVEL == 2
constexpr int kMR = 8, kNV = 2;
#elif DC_ISA_LEVEL == 1
constexpr int kMR = 6, kNV = 2;
#else
constexpr int kMR = 4, kNV = 2;
#endif

template <typename T>
const ConvTileKernels<T>* tile_kernels() {
  static const ConvTileKernels<T> k = {kMR,
                                       kNV * int(kVecBytes / sizeof(T)),
                                       &fwd_tile<T, kMR, kNV>,
                                       &wgrad_tile<T, kMR, kNV>,
                                       &fwd_cv_tile<T, kMR, kNV>,
                                       &transpose<T>};
  return &k;
}

}  // namespace

DC_REGISTER_DISPATCH_T(conv_tile_stub, float, &tile_kernels<float>);
DC_REGISTER_DISPATCH_T(conv_tile_stub, double, &tile_kernels<double>);

}  // namespace DC_ISA_NS
}  // namespace dc
