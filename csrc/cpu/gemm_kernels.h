// The ISA-specific half of GEMM (see csrc/gemm.cpp for the blocked driver that calls it).
//
// [Note: GEMM blocking]
// C (row-major) is computed in MR x NR register tiles, vectorised along N (a row of C is
// contiguous). The driver loops, outermost first:
//   m0 over M in steps of mc:  (A block, mc x kc, packed once per (m0, k0); lives in L3)
//   k0 over K in steps of kc:
//     n0 over N in steps of nc:  pack B block kc x nc (lives in L2)
//       i over the A block in steps of MR:   the A micro-panel (MR x kc) stays in L1 ...
//         j over the B block in steps of NR: ... while B micro-panels (kc x NR) stream from L2
//           micro(kc, A micro-panel, B micro-panel, C tile)
// This is BLIS's loop nest applied to C^T = B^T A^T (row-major C is column-major C^T), so A and
// B swap the roles they have in the BLIS papers. Packed panels are zero-padded to whole MR/NR
// tiles, so the micro-kernel never reads outside them; it writes only the m x n valid part of
// its tile (masked loads/stores), so no edge tile reads or writes outside C either.
#pragma once

#include <cstdint>

#include "core/dispatch.h"

namespace dc {

template <typename T>
struct GemmKernel {
  int mr, nr;          // register tile
  int64_t mc, kc, nc;  // cache blocks (multiples of mr / nr)
  // dst holds ceil(mb/mr) panels of (kb x mr), zero-padded: dst[(r*kb + p)*mr + i]
  //   = op(A)[r*mr + i, p] where op(A) = A (mb x kb, row stride lda) or A^T when trans.
  void (*pack_a)(bool trans, int64_t mb, int64_t kb, const T* A, int64_t lda, T* dst);
  // dst holds ceil(nb/nr) panels of (kb x nr), zero-padded: dst[(s*kb + p)*nr + j]
  //   = op(B)[p, s*nr + j]. dst is 64-byte aligned.
  void (*pack_b)(bool trans, int64_t kb, int64_t nb, const T* B, int64_t ldb, T* dst);
  // C[0:m, 0:n] = alpha * a_panel @ b_panel + beta * C (beta == 0: C is not read).
  void (*micro)(int64_t kb, const T* a, const T* b, T* C, int64_t ldc, T alpha, T beta, int m,
                int n);
  // Unpacked path for small problems: C = alpha*op(A)@op(B) + beta*C read straight from A, B.
  // scratch holds at least K elements.
  void (*small)(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                const T* B, int64_t ldb, T beta, T* C, int64_t ldc, T* scratch);
};

}  // namespace dc

#ifdef DC_ISA_LEVEL
#if DC_ISA_LEVEL >= 1
#include <immintrin.h>
#endif
namespace dc {
namespace DC_ISA_NS {
// One native vector of T for this ISA copy (GCC/Clang vector extensions), shared by the
// portable micro-kernels (csrc/cpu/gemm_kernels.cpp, conv_implicit.cpp).
template <typename T>
using Vec [[gnu::vector_size(kVecBytes)]] = T;

// a * b + c, fused where this ISA has FMA (ISO C++ mode does not contract a * b + c itself).
template <typename T>
inline Vec<T> fma_vec(Vec<T> a, Vec<T> b, Vec<T> c) {
#if DC_ISA_LEVEL == 2
  if constexpr (sizeof(T) == 4) return Vec<T>(_mm512_fmadd_ps(__m512(a), __m512(b), __m512(c)));
  if constexpr (sizeof(T) == 8) return Vec<T>(_mm512_fmadd_pd(__m512d(a), __m512d(b), __m512d(c)));
#elif DC_ISA_LEVEL == 1
  if constexpr (sizeof(T) == 4) return Vec<T>(_mm256_fmadd_ps(__m256(a), __m256(b), __m256(c)));
  if constexpr (sizeof(T) == 8) return Vec<T>(_mm256_fmadd_pd(__m256d(a), __m256d(b), __m256d(c)));
#endif
  return a * b + c;
}

// dst[u * ldd + i] = src[i * lds + u] for an 8 x 8 block: the transposing packs (A by rows
// into 8-row panels, B^T into NR-column panels). With AVX the block goes through registers
// (8 loads, 24 shuffles, 8 stores) instead of 64 scalar strided stores. Returns false when this
// copy has no fast version for T (the caller then uses its scalar loop).
template <typename T>
inline bool transpose8x8(const T* src, int64_t lds, T* dst, int64_t ldd) {
#if DC_ISA_LEVEL >= 1
  if constexpr (sizeof(T) == 4) {
    const float* s = reinterpret_cast<const float*>(src);
    float* d = reinterpret_cast<float*>(dst);
    __m256 r[8], t[8], u[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(s + i * lds);
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
      t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);      // rows 2i, 2i+1: cols 0,1 | 4,5
      t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);  // cols 2,3 | 6,7
    }
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {  // h = 0: rows 0-3, h = 1: rows 4-7
      const __m256 a = t[4 * h], b = t[4 * h + 1], c = t[4 * h + 2], e = t[4 * h + 3];
      u[4 * h + 0] = _mm256_shuffle_ps(a, c, _MM_SHUFFLE(1, 0, 1, 0));  // col 0 | 4
      u[4 * h + 1] = _mm256_shuffle_ps(a, c, _MM_SHUFFLE(3, 2, 3, 2));  // col 1 | 5
      u[4 * h + 2] = _mm256_shuffle_ps(b, e, _MM_SHUFFLE(1, 0, 1, 0));  // col 2 | 6
      u[4 * h + 3] = _mm256_shuffle_ps(b, e, _MM_SHUFFLE(3, 2, 3, 2));  // col 3 | 7
    }
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) {
      _mm256_storeu_ps(d + c * ldd, _mm256_permute2f128_ps(u[c], u[4 + c], 0x20));
      _mm256_storeu_ps(d + (c + 4) * ldd, _mm256_permute2f128_ps(u[c], u[4 + c], 0x31));
    }
    return true;
  }
#endif
  (void)src, (void)lds, (void)dst, (void)ldd;
  return false;
}

}  // namespace DC_ISA_NS
}  // namespace dc
#endif

// Global scope: DC_REGISTER_DISPATCH_T refers to stubs as ::name<T>.
DC_DECLARE_DISPATCH_T(gemm_kernel_stub, const dc::GemmKernel<T>*());
