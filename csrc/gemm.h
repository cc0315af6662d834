// GEMM: C = alpha * op(A) * op(B) + beta * C, row-major, arbitrary leading dimensions.
//   op(A) is (M, K): A is stored (M, K) with row stride lda, or (K, M) when trans_a.
//   op(B) is (K, N): B is stored (K, N) with row stride ldb, or (N, K) when trans_b.
//   C is (M, N) with row stride ldc. beta == 0 means C is write-only (NaNs in C are ignored).
// Threads: OpenMP inside; when called from inside a parallel region it runs on the calling
// thread only (conv2d's batch loop, RNN cells). Kernels trust their inputs: validation is in
// csrc/bindings/gemm.cpp.
#pragma once

#include <atomic>
#include <cstdint>

#include "core/device_dispatch.h"

namespace dc {

// [Note: matmul precision]
// PyTorch's float32 matmul precision (torch.set_float32_matmul_precision), process-wide, read by
// every float32 product on CUDA at the time of the call (sgemm, matmul, and what is built on the
// GEMM): "highest" computes in fp32 (the SIMT kernel of csrc/cuda/gemm.cu, the default), "high"
// on tensor cores in TF32 (10-bit mantissa inputs, fp32 accumulation), "medium" on tensor cores
// in BF16 (8-bit mantissa inputs, fp32 accumulation); csrc/cuda/gemm_tc.cu, sm_80 or later (an
// older GPU computes in fp32 whatever the setting). The CPU kernels always compute in fp32, and
// float64 is never lowered. Set from Python by deepcore.set_matmul_precision (bindings/gemm.cpp).
enum class MatmulPrecision : int { highest = 0, high = 1, medium = 2 };
inline std::atomic<int> g_matmul_precision{0};
inline MatmulPrecision matmul_precision() {
  return static_cast<MatmulPrecision>(g_matmul_precision.load(std::memory_order_relaxed));
}
inline void set_matmul_precision(MatmulPrecision p) {
  g_matmul_precision.store(static_cast<int>(p), std::memory_order_relaxed);
}

// float32: the ISA-dispatched blocked kernels; float64: the same driver (gradient checks and
// float64 tensors). One template for both element types (csrc/gemm.cpp instantiates them).
template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

// A right operand used by many products (an RNN's recurrent weights, at every time step),
// packed once: gemm_pack_b stores op(B) (K x N; B is (K, N), or (N, K) when trans_b) into
// `packed` (gemm_packed_b_size elements, 64-byte aligned), and gemm_prepacked computes
// C = alpha * A @ op(B) + beta * C with A (M, K) row-major, on the calling thread only, without
// repacking B. The packing belongs to the CPU kernel variant current when it was made: pack and
// multiply under the same capability. See [Note: GEMM prepacked B] in gemm.cpp.
template <typename T>
int64_t gemm_packed_b_size(int64_t K, int64_t N);
template <typename T>
void gemm_pack_b(bool trans_b, int64_t K, int64_t N, const T* B, int64_t ldb, T* packed);
template <typename T>
void gemm_prepacked(int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                    const T* packed, T beta, T* C, int64_t ldc);

namespace ref {
// Naive triple loop (float64 accumulation); always built; tests compare against it.
template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);
}  // namespace ref

// Batched products for matmul: C[i] = op(A + off_a[i]) @ op(B + off_b[i]) for i < batch, C[i]
// the i-th dense (M, N) block of C (alpha 1, beta 0). off_a/off_b are element offsets in host
// memory. Threads over the batch when it pays, else inside each gemm (csrc/gemm_batched.cpp).
template <typename T>
void gemm_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* A,
                  int64_t lda, const int64_t* off_a, const T* B, int64_t ldb, const int64_t* off_b,
                  int64_t batch, T* C);

// Device stubs ([Note: device dispatch] in core/device_dispatch.h): the CUDA backend fills the
// CUDA slots from csrc/cuda/gemm.cu.
template <typename T>
using gemm_fn = void(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const T*, int64_t,
                     T, T*, int64_t);
template <typename T>
inline DeviceStub<gemm_fn<T>> gemm_device_stub{"gemm", &gemm<T>};
template <typename T>
using gemm_batched_fn = void(bool, bool, int64_t, int64_t, int64_t, const T*, int64_t,
                             const int64_t*, const T*, int64_t, const int64_t*, int64_t, T*);
template <typename T>
inline DeviceStub<gemm_batched_fn<T>> gemm_batched_device_stub{"matmul", &gemm_batched<T>};

}  // namespace dc
