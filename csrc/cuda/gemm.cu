// GEMM on the GPU: the CUDA slots of gemm_device_stub (sgemm, dgemm) and
// gemm_batched_device_stub (matmul), same contract as csrc/gemm.h (row-major, any transposes,
// any leading dimensions, beta == 0 never reads C). float32 is the tuned SIMT kernel below;
// float64 a plain tiled kernel (gradient checks and float64 tensors), correct, not tuned.
//
// [Note: SIMT SGEMM]
// One thread block computes a BM x BN tile of C; its THREADS = (BM/TM) * (BN/TN) threads each
// own a TM x TN register tile, held as (TM/4) x (TN/4) sub-tiles of 4 x 4 spaced BM/(TM/4)
// rows and BN/(TN/4) columns apart, so that the fragments a thread reads from shared memory
// are 16-byte vectors, and the 4 x 8 lanes of a warp (warp tiling) read 4 and 8 consecutive
// vectors, each shared by the lanes of its row or column (broadcast, conflict-free). The K loop
// steps BK at a time through two shared-memory buffers (double buffering): while the block
// multiplies the tile in one buffer, the next tile's global loads are already in flight into
// registers, and are stored into the other buffer after the math; one barrier per step suffices
// because a buffer is written only after the barrier that ended every read of it. Shared tiles are
// stored k-major (As[k][m], Bs[k][n]) whatever the operand's layout: an operand contiguous along
// its long axis (A transposed, B as stored) is copied with 16-byte stores, one contiguous along k
// (A as stored, B transposed) is transposed on the way in (rows padded by 4 floats, so those scalar
// stores do not collide on a bank). Global loads are 16-byte vectors when the operand allows it
// (base 16-byte aligned, leading dimension and batch stride multiples of 4) and the vector lies
// inside the matrix; anything else (edge tiles, odd leading dimensions) takes per-element
// predicated loads, zero-filled outside the matrix, so any M, N, K is correct. The epilogue writes
// alpha * acc + beta * C with the same vector / predicated choice. Two tile shapes: 128 x 128 (256
// threads, 8 x 8 per thread) and 64 x 64 (64 threads), the smaller one when the large tiles would
// leave multiprocessors idle. Batches: blockIdx.z walks a run of products whose operands sit at
// constant strides (contiguous or broadcast batches: one launch); matmul's offsets are split into
// such runs. Launches go on the stream of the call ([Note: CUDA stream of a call]) and are checked
// ([Note: every launch is checked]); nothing here allocates or synchronises. With the matmul
// precision "high" or "medium" ([Note: matmul precision] in gemm.h) float32 products run on the
// tensor cores instead (gemm_tc.cu).
#include <cuda_runtime.h>

#include <cstdint>

#include "check.cuh"
#include "core/device_dispatch.h"
#include "gemm.h"
#include "gemm_common.cuh"

namespace dc::cuda {

namespace {

template <int BM_, int BN_, int BK_, int TM_, int TN_, int MIN_BLOCKS_>
struct TileShape {
  static constexpr int BM = BM_, BN = BN_, BK = BK_, TM = TM_, TN = TN_;
  static constexpr int MIN_BLOCKS = MIN_BLOCKS_;  // resident blocks per SM the registers allow
  static constexpr int TX = BN / TN;              // threads along n
  static constexpr int TY = BM / TM;              // threads along m
  static constexpr int THREADS = TX * TY;
  static constexpr int PAD = 4;  // floats added to each shared row (16 bytes: keeps alignment)
  // a warp is 4 (m) x 8 (n) threads; warps tile the block WX wide
  static constexpr int LX = 8, LY = 4, WX = TX / LX;
  static_assert(TM % 4 == 0 && TN % 4 == 0 && BK % 4 == 0, "4-wide vectors");
  static_assert(TX % LX == 0 && TY % LY == 0, "whole warps");
  static_assert((BM * BK / 4) % THREADS == 0 && (BN * BK / 4) % THREADS == 0,
                "every thread loads whole vectors");
};
// 128 x 128: registers capped at 128 per thread so that two blocks (16 warps) share an SM
using LargeTile = TileShape<128, 128, 8, 8, 8, 2>;
using SmallTile = TileShape<64, 64, 8, 8, 8, 1>;

// One operand's BK-deep slice (GlobalSlice of gemm_common.cuh), stored k-major in shared memory.
template <bool KCONTIG, int R, int BK, int THREADS>
struct SliceLoader : GlobalSlice<KCONTIG, R, BK, THREADS> {
  using GlobalSlice<KCONTIG, R, BK, THREADS>::VECS;
  using GlobalSlice<KCONTIG, R, BK, THREADS>::v;

  // s: the [BK][R + PAD] shared buffer
  template <int LD>
  __device__ __forceinline__ void store(float (*s)[LD], int tid) const {
#pragma unroll
    for (int i = 0; i < VECS; ++i) {
      const int g = tid + i * THREADS;
      if (KCONTIG) {
        const int r = g / (BK / 4), k = (g % (BK / 4)) * 4;
        s[k + 0][r] = v[i].x;
        s[k + 1][r] = v[i].y;
        s[k + 2][r] = v[i].z;
        s[k + 3][r] = v[i].w;
      } else {
        const int k = g / (R / 4), r = (g % (R / 4)) * 4;
        *reinterpret_cast<float4*>(&s[k][r]) = v[i];
      }
    }
  }
};

// Four consecutive floats of shared memory (16-byte aligned) into registers, one vector load.
__device__ __forceinline__ void fragment4(float* dst, const float* src) {
  const float4 v = *reinterpret_cast<const float4*>(src);
  dst[0] = v.x;
  dst[1] = v.y;
  dst[2] = v.z;
  dst[3] = v.w;
}

template <class S, bool TRANS_A, bool TRANS_B>
__global__ void __launch_bounds__(S::THREADS, S::MIN_BLOCKS)
    sgemm_kernel(const GemmParams<float> p) {
  constexpr int BM = S::BM, BN = S::BN, BK = S::BK, TM = S::TM, TN = S::TN;
  constexpr int LDA_S = BM + S::PAD, LDB_S = BN + S::PAD;
  __shared__ __align__(16) float As[2][BK][LDA_S];
  __shared__ __align__(16) float Bs[2][BK][LDB_S];

  const int tid = threadIdx.x;
  // Each warp owns a (4 * TM) x (8 * TN) patch of C: per k it reads 4 + 8 distinct vectors of
  // each sub-tile from shared memory (the other lanes get broadcasts).
  const int warp = tid / 32, lane = tid % 32;
  const int tx = (warp % S::WX) * S::LX + lane % S::LX;
  const int ty = (warp / S::WX) * S::LY + lane / S::LX;
  const int64_t m0 = int64_t(blockIdx.y) * BM, n0 = int64_t(blockIdx.x) * BN;
  const int64_t bz = blockIdx.z;
  const float* A = p.A + bz * p.stride_a;
  const float* B = p.B + bz * p.stride_b;
  float* C = p.C + bz * p.stride_c;

  SliceLoader<!TRANS_A, BM, BK, S::THREADS> la;
  SliceLoader<TRANS_B, BN, BK, S::THREADS> lb;

  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.f;

  // The K loop of double_buffered_slices (gemm_common.cuh), written out: through that helper
  // nvcc 13 spilled 20 bytes in the 128-register NN variant of this kernel.
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
#pragma unroll
    for (int k = 0; k < BK; ++k) {
      float a[TM], b[TN];
#pragma unroll
      for (int i = 0; i < TM / 4; ++i) fragment4(a + i * 4, &As[cur][k][i * S::TY * 4 + ty * 4]);
#pragma unroll
      for (int j = 0; j < TN / 4; ++j) fragment4(b + j * 4, &Bs[cur][k][j * S::TX * 4 + tx * 4]);
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    if (more) {
      la.store(As[cur ^ 1], tid);
      lb.store(Bs[cur ^ 1], tid);
    }
    __syncthreads();
  }

  // Epilogue: C = alpha * acc + beta * C (C not read when beta == 0).
  const bool read_c = p.beta != 0.f;
#pragma unroll
  for (int i = 0; i < TM / 4; ++i)
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      const int64_t m = m0 + i * S::TY * 4 + ty * 4 + r;
      if (m >= p.M) continue;
#pragma unroll
      for (int j = 0; j < TN / 4; ++j) {
        const int64_t n = n0 + j * S::TX * 4 + tx * 4;
        float* c = C + m * p.ldc + n;
        float v[4];
#pragma unroll
        for (int q = 0; q < 4; ++q) v[q] = p.alpha * acc[i * 4 + r][j * 4 + q];
        if (p.vec_c && n + 3 < p.N) {
          float4 out = make_float4(v[0], v[1], v[2], v[3]);
          if (read_c) {
            const float4 old = *reinterpret_cast<const float4*>(c);
            out.x = fmaf(p.beta, old.x, out.x);
            out.y = fmaf(p.beta, old.y, out.y);
            out.z = fmaf(p.beta, old.z, out.z);
            out.w = fmaf(p.beta, old.w, out.w);
          }
          *reinterpret_cast<float4*>(c) = out;
        } else {
#pragma unroll
          for (int q = 0; q < 4; ++q)
            if (n + q < p.N) c[q] = read_c ? fmaf(p.beta, c[q], v[q]) : v[q];
        }
      }
    }
}

template <class S>
void launch_shape(bool trans_a, bool trans_b, const GemmParams<float>& p, dim3 grid,
                  cudaStream_t stream) {
  const dim3 block(S::THREADS);
  if (trans_a) {
    if (trans_b)
      sgemm_kernel<S, true, true><<<grid, block, 0, stream>>>(p);
    else
      sgemm_kernel<S, true, false><<<grid, block, 0, stream>>>(p);
  } else {
    if (trans_b)
      sgemm_kernel<S, false, true><<<grid, block, 0, stream>>>(p);
    else
      sgemm_kernel<S, false, false><<<grid, block, 0, stream>>>(p);
  }
  DC_CUDA_CHECK_LAUNCH("sgemm_kernel");
}

// float64: a plain shared-memory tiled kernel (64 x 64 tiles, 16-deep K slices, 4 x 4 outputs
// per thread, scalar predicated loads): the products of float64 tensors and gradient checks on
// the GPU, correct for any shape and layout, not tuned for speed.
constexpr int kDTile = 64, kDDepth = 16, kDThreads = 256;

template <bool TRANS_A, bool TRANS_B>
__global__ void __launch_bounds__(kDThreads) dgemm_kernel(const GemmParams<double> p) {
  __shared__ double As[kDDepth][kDTile + 1];
  __shared__ double Bs[kDDepth][kDTile + 1];
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const int64_t m0 = int64_t(blockIdx.y) * kDTile, n0 = int64_t(blockIdx.x) * kDTile;
  const int64_t bz = blockIdx.z;
  const double* A = p.A + bz * p.stride_a;
  const double* B = p.B + bz * p.stride_b;
  double* C = p.C + bz * p.stride_c;
  double acc[4][4] = {};
  for (int64_t k0 = 0; k0 < p.K; k0 += kDDepth) {
    // element e of a (kDTile x kDDepth) slice: consecutive threads on the operand's unit-stride
    // axis (m or n when transposed-in-memory, else k)
#pragma unroll
    for (int q = 0; q < kDTile * kDDepth / kDThreads; ++q) {
      const int e = tid + q * kDThreads;
      const int am = TRANS_A ? e % kDTile : e / kDDepth, ak = TRANS_A ? e / kDTile : e % kDDepth;
      const int64_t gm = m0 + am, gk = k0 + ak;
      As[ak][am] = gm < p.M && gk < p.K ? A[TRANS_A ? gk * p.lda + gm : gm * p.lda + gk] : 0.0;
      const int bn = TRANS_B ? e / kDDepth : e % kDTile, bk = TRANS_B ? e % kDDepth : e / kDTile;
      const int64_t gn = n0 + bn, gkb = k0 + bk;
      Bs[bk][bn] = gn < p.N && gkb < p.K ? B[TRANS_B ? gn * p.ldb + gkb : gkb * p.ldb + gn] : 0.0;
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kDDepth; ++k) {
      double a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) a[i] = As[k][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; ++j) b[j] = Bs[k][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fma(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int64_t m = m0 + ty + 16 * i;
    if (m >= p.M) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t n = n0 + tx + 16 * j;
      if (n >= p.N) continue;
      double* c = C + m * p.ldc + n;
      *c = p.beta != 0.0 ? fma(p.beta, *c, p.alpha * acc[i][j]) : p.alpha * acc[i][j];
    }
  }
}

void launch_dgemm(bool trans_a, bool trans_b, const GemmParams<double>& p, dim3 grid,
                  cudaStream_t stream) {
  if (trans_a) {
    if (trans_b)
      dgemm_kernel<true, true><<<grid, kDThreads, 0, stream>>>(p);
    else
      dgemm_kernel<true, false><<<grid, kDThreads, 0, stream>>>(p);
  } else {
    if (trans_b)
      dgemm_kernel<false, true><<<grid, kDThreads, 0, stream>>>(p);
    else
      dgemm_kernel<false, false><<<grid, kDThreads, 0, stream>>>(p);
  }
  DC_CUDA_CHECK_LAUNCH("dgemm_kernel");
}

// `count` products at constant strides (p.stride_*), on the stream of the call.
void run_products(bool trans_a, bool trans_b, GemmParams<float> p, int64_t count) {
  if (p.M == 0 || p.N == 0 || count == 0) return;
  const auto stream = reinterpret_cast<cudaStream_t>(dc::cuda_call_stream());
  p.vec_a = vec_ok(p.A, p.lda, p.stride_a);
  p.vec_b = vec_ok(p.B, p.ldb, p.stride_b);
  p.vec_c = vec_ok(p.C, p.ldc, p.stride_c);
  // [Note: matmul precision] in gemm.h: "high" and "medium" run on tensor cores (sm_80+)
  const MatmulPrecision precision = matmul_precision();
  if (precision != MatmulPrecision::highest && compute_capability_major() >= 8) {
    tc_products(precision == MatmulPrecision::medium, trans_a, trans_b, p, count);
    return;
  }
  const int64_t large_blocks = ((p.M + 127) / 128) * ((p.N + 127) / 128) * count;
  if (large_blocks < multiprocessors())
    for_each_launch(trans_a, p, count, SmallTile::BM, SmallTile::BN, [&](auto& q, dim3 grid) {
      launch_shape<SmallTile>(trans_a, trans_b, q, grid, stream);
    });
  else
    for_each_launch(trans_a, p, count, LargeTile::BM, LargeTile::BN, [&](auto& q, dim3 grid) {
      launch_shape<LargeTile>(trans_a, trans_b, q, grid, stream);
    });
}

void run_products(bool trans_a, bool trans_b, GemmParams<double> p, int64_t count) {
  if (p.M == 0 || p.N == 0 || count == 0) return;
  const auto stream = reinterpret_cast<cudaStream_t>(dc::cuda_call_stream());
  for_each_launch(trans_a, p, count, kDTile, kDTile,
                  [&](auto& q, dim3 grid) { launch_dgemm(trans_a, trans_b, q, grid, stream); });
}

}  // namespace

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  run_products(
      trans_a, trans_b,
      GemmParams<T>{M, N, K, alpha, beta, A, lda, B, ldb, C, ldc, 0, 0, 0, false, false, false}, 1);
}

// matmul: C[i] = op(A + off_a[i]) @ op(B + off_b[i]), C[i] the i-th dense (M, N) block. The
// batch is split into maximal runs in which both offsets advance by constant strides (a
// contiguous or broadcast batch is one run, a doubly broadcast one a run per outer index), each
// run one launch (or a few, past grid limits).
template <typename T>
void gemm_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* A,
                  int64_t lda, const int64_t* off_a, const T* B, int64_t ldb, const int64_t* off_b,
                  int64_t batch, T* C) {
  const int64_t mn = M * N;
  int64_t i = 0;
  while (i < batch) {
    int64_t len = 1, sa = 0, sb = 0;
    if (i + 1 < batch) {
      sa = off_a[i + 1] - off_a[i];
      sb = off_b[i + 1] - off_b[i];
      len = 2;
      while (i + len < batch && off_a[i + len] - off_a[i + len - 1] == sa &&
             off_b[i + len] - off_b[i + len - 1] == sb)
        ++len;
    }
    run_products(trans_a, trans_b,
                 GemmParams<T>{M, N, K, T(1), T(0), A + off_a[i], lda, B + off_b[i], ldb,
                               C + i * mn, N, sa, sb, mn, false, false, false},
                 len);
    i += len;
  }
}

}  // namespace dc::cuda

DC_REGISTER_CUDA(dc::gemm_device_stub<float>, &dc::cuda::gemm<float>);
DC_REGISTER_CUDA(dc::gemm_device_stub<double>, &dc::cuda::gemm<double>);
DC_REGISTER_CUDA(dc::gemm_batched_device_stub<float>, &dc::cuda::gemm_batched<float>);
DC_REGISTER_CUDA(dc::gemm_batched_device_stub<double>, &dc::cuda::gemm_batched<double>);
