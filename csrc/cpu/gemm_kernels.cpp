// GEMM micro-kernels, packing and the small-problem path, one copy per ISA
// (see [Note: one source, three ISAs] in core/dispatch.h and [Note: GEMM blocking] in
// gemm_kernels.h).
//   AVX-512: float MR x NR = 8 x 32 (16 zmm accumulators; 2 loads + 8 broadcasts per 16 FMAs)
//   AVX2:    float 6 x 16  (12 ymm accumulators; 2 loads + 6 broadcasts per 12 FMAs)
//   generic: float 4 x 8, and every float64 kernel: a plain C++ template the compiler
//            vectorises with whatever this copy's flags allow.
#include "cpu/gemm_kernels.h"

#if DC_ISA_LEVEL >= 1
#include <immintrin.h>
#endif

namespace dc {
namespace DC_ISA_NS {
namespace {

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// ------------------------------------------------------------------------------------ packing

// (transpose8x8, the 8 x 8 block transpose of the transposing packs, is in gemm_kernels.h.)

// [Note: transposed A packing] op(A) = A^T: a panel takes MR values from each of kb rows of A,
// a row stride apart. Packed panel after panel (or 8 panels side by side, as it was), every
// read jumps a row stride: a new page when A's rows are long, all in one L1 set at a 4 KiB
// stride, a pattern the hardware prefetchers do not follow. For a long K (a weight gradient
// dY^T X over a whole batch: A is tens of MB, read from memory by the pack) that pack took ~15%
// of a 1024 x 6400 x 128 product (perf, 1 thread). So the pack runs along A's rows instead:
// kRows rows at a time, each read start to end across all of the block's panels (kRows
// sequential streams), each panel receiving kRows contiguous k-steps (~10% of that product).
template <typename T, int MR>
void pack_a_trans(int64_t mb, int64_t kb, const T* A, int64_t lda, T* dst) {
  constexpr int64_t kRows = 8;
  const int64_t full = mb / MR;  // panels with MR rows
  for (int64_t p0 = 0; p0 < kb; p0 += kRows) {
    const T* src = A + p0 * lda;
    T* d = dst + p0 * MR;
    if (p0 + kRows <= kb) {
      for (int64_t r = 0; r < full; ++r, src += MR, d += kb * MR)
#pragma GCC unroll 8
        for (int u = 0; u < kRows; ++u)
#pragma GCC unroll 16
          for (int i = 0; i < MR; ++i) d[u * MR + i] = src[u * lda + i];
    } else {
      for (int64_t r = 0; r < full; ++r, src += MR, d += kb * MR)
        for (int64_t u = 0; u < kb - p0; ++u)
#pragma GCC unroll 16
          for (int i = 0; i < MR; ++i) d[u * MR + i] = src[u * lda + i];
    }
  }
  const int rows = static_cast<int>(mb - full * MR);  // the last, partial panel (zero-padded)
  if (rows > 0) {
    const T* src = A + full * MR;
    T* d = dst + full * kb * MR;
    for (int64_t p = 0; p < kb; ++p)
      for (int i = 0; i < MR; ++i) d[p * MR + i] = i < rows ? src[p * lda + i] : T(0);
  }
}

template <typename T, int MR>
void pack_a(bool trans, int64_t mb, int64_t kb, const T* A, int64_t lda, T* dst) {
  if (trans) {  // op(A)[r + i, p] = A[p, r + i]
    pack_a_trans<T, MR>(mb, kb, A, lda, dst);
    return;
  }
  for (int64_t r = 0; r < mb; r += MR, dst += kb * MR) {
    const int rows = static_cast<int>(min64(MR, mb - r));
    const T* src = A + r * lda;
    if (rows == MR) {
      int64_t p = 0;
      if constexpr (MR == 8)
        for (; p + 8 <= kb; p += 8)
          if (!transpose8x8(src + p, lda, dst + p * MR, MR)) break;
      for (; p < kb; ++p)
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) dst[p * MR + i] = src[i * lda + p];
    } else {
      for (int64_t p = 0; p < kb; ++p)
        for (int i = 0; i < MR; ++i) dst[p * MR + i] = i < rows ? src[i * lda + p] : T(0);
    }
  }
}

template <typename T, int NR>
void pack_b(bool trans, int64_t kb, int64_t nb, const T* B, int64_t ldb, T* dst) {
  for (int64_t s = 0; s < nb; s += NR, dst += kb * NR) {
    const int cols = static_cast<int>(min64(NR, nb - s));
    if (!trans) {
      const T* src = B + s;
      if (cols == NR) {
        for (int64_t p = 0; p < kb; ++p)
#pragma GCC unroll 32
          for (int j = 0; j < NR; ++j) dst[p * NR + j] = src[p * ldb + j];
      } else {
        for (int64_t p = 0; p < kb; ++p)
          for (int j = 0; j < NR; ++j) dst[p * NR + j] = j < cols ? src[p * ldb + j] : T(0);
      }
    } else {  // op(B)[p, s + j] = B[s + j, p]: transpose, blocks of 8 k-steps at a time
      const T* src = B + s * ldb;
      int64_t p = 0;
      if constexpr (NR % 8 == 0)
        if (cols == NR)
          for (; p + 8 <= kb; p += 8) {
            bool fast = true;
            for (int j = 0; fast && j < NR; j += 8)
              fast = transpose8x8(src + j * ldb + p, ldb, dst + p * NR + j, NR);
            if (!fast) break;  // no vector transpose in this copy: p is unchanged
          }
      for (; p + 8 <= kb; p += 8) {
        for (int j = 0; j < cols; ++j)
#pragma GCC unroll 8
          for (int u = 0; u < 8; ++u) dst[(p + u) * NR + j] = src[j * ldb + p + u];
        for (int j = cols; j < NR; ++j)
          for (int u = 0; u < 8; ++u) dst[(p + u) * NR + j] = T(0);
      }
      for (; p < kb; ++p)
        for (int j = 0; j < NR; ++j) dst[p * NR + j] = j < cols ? src[j * ldb + p] : T(0);
    }
  }
}

// ------------------------------------------------------------------------------ micro-kernels

// Portable micro-kernel on GCC/Clang vector extensions: a tile of MR x (NR / lanes) native
// vectors (16, 32 or 64 bytes, whatever this copy's ISA has) that the compiler keeps in
// registers (Vec and fma_vec in gemm_kernels.h). (A plain T acc[MR][NR] array spilled most of
// its accumulators at 8 x 16 doubles.)

template <typename T, int MR, int NR>
void micro_generic(int64_t kb, const T* a, const T* b, T* C, int64_t ldc, T alpha, T beta, int m,
                   int n) {
  using V = Vec<T>;
  constexpr int L = kVecBytes / sizeof(T), NV = NR / L;
  static_assert(NR % L == 0, "NR must be a whole number of vectors");
  V acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[i][v] = V{};
  for (int64_t p = 0; p < kb; ++p, a += MR, b += NR) {
    V bv[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) bv[v] = *reinterpret_cast<const V*>(b + v * L);  // aligned
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const V ai = V{} + a[i];  // broadcast
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[i][v] = fma_vec<T>(ai, bv[v], acc[i][v]);
    }
  }
  // Compile-time row/column indices (guarded by m, n) keep acc out of memory.
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    if (i >= m) break;
    T* c = C + i * ldc;
#pragma GCC unroll 64
    for (int j = 0; j < NR; ++j) {
      if (j >= n) break;
      const T x = acc[i][j / L][j % L];
      c[j] = beta == T(0) ? alpha * x : alpha * x + beta * c[j];
    }
  }
}

#if DC_ISA_LEVEL == 2
// MR x (16*NV) float tile: NV zmm per row of C (8 x 48: 24 accumulators, 3 B loads and 8
// broadcasts per k step). The edge path indexes rows with compile-time indices (i < MR,
// guarded by i < m) so the accumulators stay in registers.
template <int MR, int NV>
void micro_avx512(int64_t kb, const float* a, const float* b, float* C, int64_t ldc, float alpha,
                  float beta, int m, int n) {
  constexpr int NR = 16 * NV;
  __m512 c[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) c[i][v] = _mm512_setzero_ps();
#pragma GCC unroll 4
  for (int64_t p = 0; p < kb; ++p, a += MR, b += NR) {
    __m512 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_load_ps(b + 16 * v);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) c[i][v] = _mm512_fmadd_ps(ai, bv[v], c[i][v]);
    }
  }
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  __mmask16 k[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) {
    const int left = n - 16 * v;
    k[v] = left >= 16 ? __mmask16(0xFFFF) : left > 0 ? __mmask16((1u << left) - 1) : 0;
  }
  const bool full = m == MR && n == NR;
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    if (i >= m) break;
    float* cr = C + i * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      __m512 r = _mm512_mul_ps(va, c[i][v]);
      if (full) {
        if (beta != 0.0f) r = _mm512_fmadd_ps(vb, _mm512_loadu_ps(cr + 16 * v), r);
        _mm512_storeu_ps(cr + 16 * v, r);
      } else {  // masked loads never touch (or fault on) the masked-off lanes
        if (beta != 0.0f) r = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(k[v], cr + 16 * v), r);
        _mm512_mask_storeu_ps(cr + 16 * v, k[v], r);
      }
    }
  }
}
#endif

#if DC_ISA_LEVEL == 1
// 6 x 16 float tile: two ymm per row of C.
template <int MR>
void micro_avx2(int64_t kb, const float* a, const float* b, float* C, int64_t ldc, float alpha,
                float beta, int m, int n) {
  __m256 c0[MR], c1[MR];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) c0[i] = c1[i] = _mm256_setzero_ps();
#pragma GCC unroll 4
  for (int64_t p = 0; p < kb; ++p, a += MR, b += 16) {
    const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + i);
      c0[i] = _mm256_fmadd_ps(ai, b0, c0[i]);
      c1[i] = _mm256_fmadd_ps(ai, b1, c1[i]);
    }
  }
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i k0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), iota);
  const __m256i k1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(n - 8), iota);
  const bool full = m == MR && n == 16;
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    if (i >= m) break;
    float* c = C + i * ldc;
    __m256 r0 = _mm256_mul_ps(va, c0[i]), r1 = _mm256_mul_ps(va, c1[i]);
    if (full) {
      if (beta != 0.0f) {
        r0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c), r0);
        r1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c + 8), r1);
      }
      _mm256_storeu_ps(c, r0);
      _mm256_storeu_ps(c + 8, r1);
    } else {
      if (beta != 0.0f) {  // maskload never touches (or faults on) the masked-off lanes
        r0 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(c, k0), r0);
        r1 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(c + 8, k1), r1);
      }
      _mm256_maskstore_ps(c, k0, r0);
      _mm256_maskstore_ps(c + 8, k1, r1);
    }
  }
}
#endif

// ------------------------------------------------------------------------ small (unpacked) path

// C = alpha*op(A)@op(B) + beta*C without packing, for problems too small to repay it (and for
// row-vector products, which are memory-bound anyway). Inner loops are unit-stride so the
// compiler vectorises them for this copy's ISA.
template <typename T>
void small_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                const T* B, int64_t ldb, T beta, T* C, int64_t ldc, T* scratch) {
  for (int64_t i = 0; i < M; ++i) {
    T* c = C + i * ldc;
    if (!tb) {  // row i of C accumulates scaled rows of B (axpy over contiguous N)
      if (beta == T(0)) {
        for (int64_t j = 0; j < N; ++j) c[j] = T(0);
      } else if (beta != T(1)) {
        for (int64_t j = 0; j < N; ++j) c[j] *= beta;
      }
      for (int64_t p = 0; p < K; ++p) {
        const T s = alpha * (ta ? A[p * lda + i] : A[i * lda + p]);
        const T* br = B + p * ldb;
        for (int64_t j = 0; j < N; ++j) c[j] += s * br[j];
      }
    } else {  // C[i, j] is a dot product of two contiguous rows
      const T* ar = A + i * lda;
      if (ta) {
        for (int64_t p = 0; p < K; ++p) scratch[p] = A[p * lda + i];
        ar = scratch;
      }
      for (int64_t j = 0; j < N; ++j) {
        const T* br = B + j * ldb;
        constexpr int U = 16;  // independent partial sums: vectorisable without -ffast-math
        T part[U] = {};
        int64_t p = 0;
        for (; p + U <= K; p += U)
#pragma GCC unroll 16
          for (int u = 0; u < U; ++u) part[u] += ar[p + u] * br[p + u];
        T acc = T(0);
        for (; p < K; ++p) acc += ar[p] * br[p];
        for (int u = 0; u < U; ++u) acc += part[u];
        c[j] = beta == T(0) ? alpha * acc : alpha * acc + beta * c[j];
      }
    }
  }
}

// ---------------------------------------------------------------------- per-ISA kernel tables

// Cache blocks (Zen 4 / Skylake-class: 32 KiB L1d, 1-2 MiB L2): the A micro-panel MR x kc
// (8 KiB at 8 x 256 floats) sits in L1, the packed B block kc x nc (512 KiB) in L2, and the
// packed A block mc x kc in L3. Fields: {mr, nr, mc, kc, nc, pack_a, pack_b, micro, small}.
#if DC_ISA_LEVEL == 2
constexpr GemmKernel<float> kSgemm = {8,
                                      32,
                                      1024,
                                      256,
                                      512,
                                      &pack_a<float, 8>,
                                      &pack_b<float, 32>,
                                      &micro_avx512<8, 2>,
                                      &small_gemm<float>};
constexpr GemmKernel<double> kDgemm = {8,
                                       16,
                                       512,
                                       256,
                                       256,
                                       &pack_a<double, 8>,
                                       &pack_b<double, 16>,
                                       &micro_generic<double, 8, 16>,
                                       &small_gemm<double>};
#elif DC_ISA_LEVEL == 1
constexpr GemmKernel<float> kSgemm = {6,
                                      16,
                                      1020,
                                      256,
                                      512,
                                      &pack_a<float, 6>,
                                      &pack_b<float, 16>,
                                      &micro_avx2<6>,
                                      &small_gemm<float>};
constexpr GemmKernel<double> kDgemm = {4,
                                       8,
                                       512,
                                       256,
                                       256,
                                       &pack_a<double, 4>,
                                       &pack_b<double, 8>,
                                       &micro_generic<double, 4, 8>,
                                       &small_gemm<double>};
#else
constexpr GemmKernel<float> kSgemm = {4,
                                      8,
                                      512,
                                      256,
                                      256,
                                      &pack_a<float, 4>,
                                      &pack_b<float, 8>,
                                      &micro_generic<float, 4, 8>,
                                      &small_gemm<float>};
constexpr GemmKernel<double> kDgemm = {4,
                                       4,
                                       512,
                                       256,
                                       256,
                                       &pack_a<double, 4>,
                                       &pack_b<double, 4>,
                                       &micro_generic<double, 4, 4>,
                                       &small_gemm<double>};
#endif

}  // namespace

const GemmKernel<float>* sgemm_kernel() { return &kSgemm; }
const GemmKernel<double>* dgemm_kernel() { return &kDgemm; }

}  // namespace DC_ISA_NS
}  // namespace dc

DC_REGISTER_DISPATCH_T(gemm_kernel_stub, float, &dc::DC_ISA_NS::sgemm_kernel);
DC_REGISTER_DISPATCH_T(gemm_kernel_stub, double, &dc::DC_ISA_NS::dgemm_kernel);
