// What the GEMM kernels of this folder share (gemm.cu: SIMT fp32 / fp64, gemm_tc.cu: tensor
// cores, conv.cu: implicit GEMM): the parameters of a run of products, the walk over grid
// limits, the alignment test of 16-byte accesses and cached device attributes. Host code and
// plain structs only; each kernel file keeps its own kernels.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "check.cuh"

namespace dc::cuda {

template <typename T>
struct GemmParams {
  int64_t M, N, K;
  T alpha, beta;
  const T* A;
  int64_t lda;
  const T* B;
  int64_t ldb;
  T* C;
  int64_t ldc;
  int64_t stride_a, stride_b, stride_c;  // element strides between the products of blockIdx.z
  bool vec_a, vec_b, vec_c;              // 16-byte accesses allowed (alignment checked on host)
};

// An attribute of the current device, read once per device (multiprocessor count, compute
// capability): kernels choose tile shapes and paths by them on every call.
template <cudaDeviceAttr Attr>
inline int device_attribute() {
  constexpr int kMaxDevices = 64;
  static std::atomic<int> cache[kMaxDevices];  // zero-initialised (static storage)
  int dev = 0;
  DC_CUDA_CHECK(cudaGetDevice(&dev));
  if (dev < 0 || dev >= kMaxDevices) dev = 0;
  int n = cache[dev].load(std::memory_order_relaxed);
  if (n == 0) {
    DC_CUDA_CHECK(cudaDeviceGetAttribute(&n, Attr, dev));
    cache[dev].store(n, std::memory_order_relaxed);
  }
  return n;
}
inline int multiprocessors() { return device_attribute<cudaDevAttrMultiProcessorCount>(); }
inline int compute_capability_major() {
  return device_attribute<cudaDevAttrComputeCapabilityMajor>();
}

// The global loads of one operand's BK-deep slice of R rows (R = BM of A or BN of B) into
// registers, VECS 4-float vectors per thread, for the double-buffered GEMM kernels (gemm.cu's
// SliceLoader, gemm_tc.cu's TcLoader add the store into their shared layouts). KCONTIG: element
// (r, k) of the slice is at p[r * ld + k] (A as stored, B transposed); else at p[k * ld + r]
// (A transposed, B as stored). `p` points at the slice's (0, 0); rows_left and k_left are how
// many rows and k lie inside the matrix from there. A vector is one 16-byte load where `vec`
// (the operand's alignment, checked on the host) allows and it lies inside the matrix, else
// predicated scalar loads, zero outside. Vector g of the slice goes to thread g % THREADS.
template <bool KCONTIG, int R, int BK, int THREADS>
struct GlobalSlice {
  static constexpr int VECS = R * BK / 4 / THREADS;
  static_assert(VECS >= 1 && (R * BK / 4) % THREADS == 0, "every thread loads whole vectors");
  float4 v[VECS];

  __device__ __forceinline__ void load(const float* __restrict__ p, int64_t ld, int64_t rows_left,
                                       int64_t k_left, bool vec, int tid) {
#pragma unroll
    for (int i = 0; i < VECS; ++i) {
      const int g = tid + i * THREADS;
      // KCONTIG: vector along k at row r; else: vector along r at depth k
      const int outer = KCONTIG ? g / (BK / 4) : g / (R / 4);
      const int inner = KCONTIG ? (g % (BK / 4)) * 4 : (g % (R / 4)) * 4;
      const int64_t outer_left = KCONTIG ? rows_left : k_left;
      const int64_t inner_left = KCONTIG ? k_left : rows_left;
      const float* src = p + outer * ld + inner;
      if (outer < outer_left && inner + 3 < inner_left && vec) {
        v[i] = __ldg(reinterpret_cast<const float4*>(src));
      } else {
        const bool row_ok = outer < outer_left;
        v[i].x = row_ok && inner + 0 < inner_left ? __ldg(src + 0) : 0.f;
        v[i].y = row_ok && inner + 1 < inner_left ? __ldg(src + 1) : 0.f;
        v[i].z = row_ok && inner + 2 < inner_left ? __ldg(src + 2) : 0.f;
        v[i].w = row_ok && inner + 3 < inner_left ? __ldg(src + 3) : 0.f;
      }
    }
  }
};

// The K loop of the double-buffered kernels (gemm.cu, gemm_tc.cu; [Note: SIMT SGEMM]) for the
// tile at (m0, n0) of the product of A and B (already offset to blockIdx.z's): slice 0 loaded
// and stored into buffer 0; then for every slice s the next slice's global loads are issued
// before compute(s & 1) multiplies buffer s & 1, and stored into the other buffer after it.
// One barrier per slice suffices: a buffer is written only after the barrier that ended every
// read of it. la / lb: GlobalSlice loaders with store(buffer, tid); As / Bs: two buffers each.
template <int BK, bool TRANS_A, bool TRANS_B, class LA, class LB, class SA, class SB, class Compute>
__device__ __forceinline__ void double_buffered_slices(const GemmParams<float>& p, const float* A,
                                                       const float* B, int64_t m0, int64_t n0,
                                                       LA& la, LB& lb, SA* As, SB* Bs, int tid,
                                                       const Compute& compute) {
  // A is (M, K) at A[m * lda + k], or stored (K, M) at A[k * lda + m] when TRANS_A;
  // B is (K, N) at B[k * ldb + n], or stored (N, K) at B[n * ldb + k] when TRANS_B.
  const float* a_slice = TRANS_A ? A + m0 : A + m0 * p.lda;
  const float* b_slice = TRANS_B ? B + n0 * p.ldb : B + n0;
  const int64_t a_step = TRANS_A ? BK * p.lda : BK;  // advance of one K slice
  const int64_t b_step = TRANS_B ? BK : BK * p.ldb;
  const int64_t rows_a = p.M - m0, rows_b = p.N - n0;
  const int64_t slices = (p.K + BK - 1) / BK;
  if (slices > 0) {
    la.load(a_slice, p.lda, rows_a, p.K, p.vec_a, tid);
    lb.load(b_slice, p.ldb, rows_b, p.K, p.vec_b, tid);
    la.store(As[0], tid);
    lb.store(Bs[0], tid);
  }
  __syncthreads();
  for (int64_t s = 0; s < slices; ++s) {
    const int cur = static_cast<int>(s & 1);
    const bool more = s + 1 < slices;
    if (more) {  // the next slice's global loads overlap this slice's arithmetic
      a_slice += a_step;
      b_slice += b_step;
      const int64_t k_left = p.K - (s + 1) * BK;
      la.load(a_slice, p.lda, rows_a, k_left, p.vec_a, tid);
      lb.load(b_slice, p.ldb, rows_b, k_left, p.vec_b, tid);
    }
    compute(cur);
    if (more) {
      la.store(As[cur ^ 1], tid);
      lb.store(Bs[cur ^ 1], tid);
    }
    __syncthreads();
  }
}

inline bool aligned16(const void* ptr) { return (reinterpret_cast<uintptr_t>(ptr) & 15) == 0; }

constexpr int64_t kMaxGridYZ = 65535;

// Every product of a run, through launch(q, grid) with bm x bn tiles: p.M rows may exceed what
// grid.y can hold and `count` what grid.z can hold, so both are walked in chunks.
template <typename T, typename Launch>
void for_each_launch(bool trans_a, const GemmParams<T>& p, int64_t count, int64_t bm, int64_t bn,
                     const Launch& launch) {
  const int64_t rows_per_launch = kMaxGridYZ * bm;
  for (int64_t z0 = 0; z0 < count; z0 += kMaxGridYZ) {
    const int64_t nz = std::min(kMaxGridYZ, count - z0);
    for (int64_t r0 = 0; r0 < p.M; r0 += rows_per_launch) {
      GemmParams<T> q = p;
      q.M = std::min(rows_per_launch, p.M - r0);
      q.A = p.A + z0 * p.stride_a + (trans_a ? r0 : r0 * p.lda);
      q.B = p.B + z0 * p.stride_b;
      q.C = p.C + z0 * p.stride_c + r0 * p.ldc;
      launch(q, dim3(static_cast<unsigned>((p.N + bn - 1) / bn),
                     static_cast<unsigned>((q.M + bm - 1) / bm), static_cast<unsigned>(nz)));
    }
  }
}

// 16-byte loads of an operand: aligned base, and every row and product start a multiple of 4
// floats away from it (row chunks of for_each_launch move by multiples of 64 rows).
inline bool vec_ok(const float* base, int64_t ld, int64_t stride) {
  return aligned16(base) && ld % 4 == 0 && stride % 4 == 0;
}

// Tensor-core products (gemm_tc.cu, [Note: tensor-core GEMM]): the run `p` of `count` products
// in TF32 (bf16 == false) or BF16 (bf16 == true) with fp32 accumulation, on the stream of the
// call. Needs compute capability 8.0 or later (the caller checks).
void tc_products(bool bf16, bool trans_a, bool trans_b, GemmParams<float> p, int64_t count);

}  // namespace dc::cuda
