// Tensor-core GEMM: float32 products in TF32 or BF16 with fp32 accumulation, through mma.sync
// (sm_80+). Reached from gemm.cu's float32 run_products when the matmul precision is "high"
// (TF32) or "medium" (BF16) ([Note: matmul precision] in gemm.h); same contract as the SIMT
// kernel: row-major, any transposes, any M, N, K and leading dimensions, batched runs at
// constant strides (blockIdx.z), alpha / beta with beta == 0 never reading C.
//
// [Note: tensor-core GEMM]
// A block computes a BM x BN tile of C with WARPS_M x WARPS_N warps, each warp a
// (BM/WARPS_M) x (BN/WARPS_N) patch as MI x NI mma tiles of 16 x 8 (m16n8k8 for TF32,
// m16n8k16 for BF16). The K loop steps through BK-deep slices (64 bytes of k per row: 16 TF32
// or 32 BF16 elements) held in two shared-memory buffers (double buffering, as [Note: SIMT
// SGEMM]): the next slice's global loads (16-byte vectors where the operand allows, else
// predicated scalars zero-filled outside the matrix) are in flight in registers while the
// warps multiply the current one, then converted (fp32 -> TF32 with round-to-nearest, or ->
// BF16 round-to-nearest-even) and stored into the other buffer. Each operand's slice keeps the
// layout its global memory has, so the stores are vectors: an operand contiguous along k
// (A as stored, B transposed) is stored [row][k], one contiguous along its rows (A transposed,
// B as stored) [k][row]. Padding of each shared row is chosen so the fragment loads of a warp
// (8 rows x 4 k-lanes) hit 32 distinct banks in both layouts: rows of BK + 4 floats (20 words)
// or BK + 8 bf16 (20 words) for [row][k]; rows of R + 8 elements (R a multiple of 32) for
// [k][row]. A BF16 fragment register holds two k-consecutive elements: one 32-bit load in
// [row][k], two 16-bit loads packed in [k][row]. The epilogue writes alpha * acc + beta * C,
// two columns at a time where C allows 8-byte stores. Nothing here allocates or synchronises;
// launches go on the stream of the call and are checked.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "check.cuh"
#include "core/device_dispatch.h"
#include "gemm_common.cuh"

namespace dc::cuda {

namespace {

struct Tf32 {
  using E = float;                 // TF32 bit patterns: fp32 with the low 13 mantissa bits zero
  static constexpr int BK = 16;    // k per shared slice
  static constexpr int KSTEP = 8;  // k per mma.m16n8k8
};
struct Bf16 {
  using E = __nv_bfloat16;
  static constexpr int BK = 32;
  static constexpr int KSTEP = 16;  // mma.m16n8k16
};

template <int BM_, int BN_, int WARPS_M_, int WARPS_N_, int MIN_BLOCKS_>
struct TcTile {
  static constexpr int BM = BM_, BN = BN_, WARPS_M = WARPS_M_, WARPS_N = WARPS_N_;
  static constexpr int MIN_BLOCKS = MIN_BLOCKS_;
  static constexpr int THREADS = 32 * WARPS_M * WARPS_N;
  static constexpr int WM = BM / WARPS_M, WN = BN / WARPS_N;  // one warp's patch of C
  static constexpr int MI = WM / 16, NI = WN / 8;             // its mma tiles
  static_assert(WM % 16 == 0 && WN % 8 == 0, "whole mma tiles");
  static_assert(BM % 32 == 0 && BN % 32 == 0, "the [k][row] padding assumes rows of 32s");
};
using TcLarge = TcTile<128, 128, 2, 4, 1>;
using TcSmall = TcTile<64, 64, 2, 2, 2>;

// One operand's slice in shared memory: [R][BK + pad] when KCONTIG, else [BK][R + 8].
template <class Prec, bool KCONTIG, int R>
struct TcSlice {
  using E = typename Prec::E;
  static constexpr int BK = Prec::BK;
  static constexpr int ROWS = KCONTIG ? R : BK;
  static constexpr int COLS = KCONTIG ? BK + 16 / int(sizeof(E)) : R + 8;
  __align__(16) E d[ROWS][COLS];
};

__device__ __forceinline__ float to_tf32(float x) {
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
  return __uint_as_float(r);
}

// Four fp32 values into four consecutive elements of shared memory (aligned to 4 elements).
__device__ __forceinline__ void store4(float* dst, float4 v) {
  *reinterpret_cast<float4*>(dst) =
      make_float4(to_tf32(v.x), to_tf32(v.y), to_tf32(v.z), to_tf32(v.w));
}
__device__ __forceinline__ void store4(__nv_bfloat16* dst, float4 v) {
  const __nv_bfloat162 lo = __floats2bfloat162_rn(v.x, v.y);
  const __nv_bfloat162 hi = __floats2bfloat162_rn(v.z, v.w);
  uint2 u;
  u.x = *reinterpret_cast<const uint32_t*>(&lo);
  u.y = *reinterpret_cast<const uint32_t*>(&hi);
  *reinterpret_cast<uint2*>(dst) = u;
}

// One operand's slice (GlobalSlice of gemm_common.cuh) and its store, converted, into a
// TcSlice.
template <class Prec, bool KCONTIG, int R, int THREADS>
struct TcLoader : GlobalSlice<KCONTIG, R, Prec::BK, THREADS> {
  static constexpr int BK = Prec::BK;
  using GlobalSlice<KCONTIG, R, Prec::BK, THREADS>::VECS;
  using GlobalSlice<KCONTIG, R, Prec::BK, THREADS>::v;

  __device__ __forceinline__ void store(TcSlice<Prec, KCONTIG, R>& s, int tid) const {
#pragma unroll
    for (int i = 0; i < VECS; ++i) {
      const int g = tid + i * THREADS;
      if (KCONTIG)
        store4(&s.d[g / (BK / 4)][(g % (BK / 4)) * 4], v[i]);
      else
        store4(&s.d[g / (R / 4)][(g % (R / 4)) * 4], v[i]);
    }
  }
};

// Fragment registers from a slice: the TF32 element (r, k), or the BF16 pair (r, k), (r, k + 1)
// (k even) with the lower k in the low half, as mma.sync expects.
template <bool KCONTIG, int R>
__device__ __forceinline__ uint32_t frag(const TcSlice<Tf32, KCONTIG, R>& s, int r, int k) {
  return __float_as_uint(KCONTIG ? s.d[r][k] : s.d[k][r]);
}
template <bool KCONTIG, int R>
__device__ __forceinline__ uint32_t frag(const TcSlice<Bf16, KCONTIG, R>& s, int r, int k) {
  if (KCONTIG) return *reinterpret_cast<const uint32_t*>(&s.d[r][k]);
  return uint32_t(__bfloat16_as_ushort(s.d[k][r])) |
         (uint32_t(__bfloat16_as_ushort(s.d[k + 1][r])) << 16);
}

__device__ __forceinline__ void mma(Tf32, float (&c)[4], const uint32_t (&a)[4],
                                    const uint32_t (&b)[2]) {
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
__device__ __forceinline__ void mma(Bf16, float (&c)[4], const uint32_t (&a)[4],
                                    const uint32_t (&b)[2]) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

template <class Prec, class S, bool TRANS_A, bool TRANS_B>
__global__ void __launch_bounds__(S::THREADS, S::MIN_BLOCKS)
    tc_gemm_kernel(const GemmParams<float> p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
  __trap();  // never launched: the host checks the compute capability
#else
  constexpr int BM = S::BM, BN = S::BN, BK = Prec::BK, MI = S::MI, NI = S::NI;
  constexpr bool KA = !TRANS_A;  // A's slice contiguous along k
  constexpr bool KB = TRANS_B;   // B's slice contiguous along k
  // A k-step of m16n8k8 (TF32) covers k, k + 4 per lane; of m16n8k16 (BF16) 2k, 2k + 1, +8.
  constexpr int KLANE = Prec::KSTEP == 8 ? 1 : 2, KHALF = Prec::KSTEP / 2;
  __shared__ TcSlice<Prec, KA, BM> As[2];
  __shared__ TcSlice<Prec, KB, BN> Bs[2];

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int wm = warp / S::WARPS_N, wn = warp % S::WARPS_N;
  const int g = lane / 4, t = lane % 4;  // mma "groupID" and "threadID_in_group"
  const int64_t m0 = int64_t(blockIdx.y) * BM, n0 = int64_t(blockIdx.x) * BN;
  const int64_t bz = blockIdx.z;
  const float* A = p.A + bz * p.stride_a;
  const float* B = p.B + bz * p.stride_b;
  float* C = p.C + bz * p.stride_c;
  TcLoader<Prec, KA, BM, S::THREADS> la;
  TcLoader<Prec, KB, BN, S::THREADS> lb;

  float acc[MI][NI][4];
#pragma unroll
  for (int i = 0; i < MI; ++i)
#pragma unroll
    for (int j = 0; j < NI; ++j)
#pragma unroll
      for (int q = 0; q < 4; ++q) acc[i][j][q] = 0.f;

  double_buffered_slices<BK, TRANS_A, TRANS_B>(p, A, B, m0, n0, la, lb, As, Bs, tid, [&](int cur) {
#pragma unroll
    for (int kk = 0; kk < BK; kk += Prec::KSTEP) {
      const int k = kk + KLANE * t;
      uint32_t af[MI][4], bf[NI][2];
#pragma unroll
      for (int i = 0; i < MI; ++i) {
        const int r = wm * S::WM + i * 16 + g;
        af[i][0] = frag(As[cur], r, k);
        af[i][1] = frag(As[cur], r + 8, k);
        af[i][2] = frag(As[cur], r, k + KHALF);
        af[i][3] = frag(As[cur], r + 8, k + KHALF);
      }
#pragma unroll
      for (int j = 0; j < NI; ++j) {
        const int c = wn * S::WN + j * 8 + g;
        bf[j][0] = frag(Bs[cur], c, k);
        bf[j][1] = frag(Bs[cur], c, k + KHALF);
      }
#pragma unroll
      for (int i = 0; i < MI; ++i)
#pragma unroll
        for (int j = 0; j < NI; ++j) mma(Prec{}, acc[i][j], af[i], bf[j]);
    }
  });

  // Epilogue: acc[i][j] = {(g, 2t), (g, 2t + 1), (g + 8, 2t), (g + 8, 2t + 1)} of its 16 x 8 tile.
  const bool read_c = p.beta != 0.f;
#pragma unroll
  for (int i = 0; i < MI; ++i)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int64_t m = m0 + wm * S::WM + i * 16 + g + 8 * h;
      if (m >= p.M) continue;
#pragma unroll
      for (int j = 0; j < NI; ++j) {
        const int64_t n = n0 + wn * S::WN + j * 8 + 2 * t;
        float* c = C + m * p.ldc + n;
        float v0 = p.alpha * acc[i][j][2 * h], v1 = p.alpha * acc[i][j][2 * h + 1];
        if (p.vec_c && n + 1 < p.N) {  // n even, ldc and base 16-byte aligned: 8-byte access
          if (read_c) {
            const float2 old = *reinterpret_cast<const float2*>(c);
            v0 = fmaf(p.beta, old.x, v0);
            v1 = fmaf(p.beta, old.y, v1);
          }
          *reinterpret_cast<float2*>(c) = make_float2(v0, v1);
        } else {
          if (n < p.N) c[0] = read_c ? fmaf(p.beta, c[0], v0) : v0;
          if (n + 1 < p.N) c[1] = read_c ? fmaf(p.beta, c[1], v1) : v1;
        }
      }
    }
#endif
}

template <class Prec, class S>
void launch_tc(bool trans_a, bool trans_b, const GemmParams<float>& p, dim3 grid,
               cudaStream_t stream) {
  const dim3 block(S::THREADS);
  if (trans_a) {
    if (trans_b)
      tc_gemm_kernel<Prec, S, true, true><<<grid, block, 0, stream>>>(p);
    else
      tc_gemm_kernel<Prec, S, true, false><<<grid, block, 0, stream>>>(p);
  } else {
    if (trans_b)
      tc_gemm_kernel<Prec, S, false, true><<<grid, block, 0, stream>>>(p);
    else
      tc_gemm_kernel<Prec, S, false, false><<<grid, block, 0, stream>>>(p);
  }
  DC_CUDA_CHECK_LAUNCH("tc_gemm_kernel");
}

template <class Prec>
void tc_products_in(bool trans_a, bool trans_b, const GemmParams<float>& p, int64_t count) {
  const auto stream = reinterpret_cast<cudaStream_t>(dc::cuda_call_stream());
  const int64_t large_blocks =
      ((p.M + TcLarge::BM - 1) / TcLarge::BM) * ((p.N + TcLarge::BN - 1) / TcLarge::BN) * count;
  if (large_blocks < multiprocessors())
    for_each_launch(trans_a, p, count, TcSmall::BM, TcSmall::BN, [&](auto& q, dim3 grid) {
      launch_tc<Prec, TcSmall>(trans_a, trans_b, q, grid, stream);
    });
  else
    for_each_launch(trans_a, p, count, TcLarge::BM, TcLarge::BN, [&](auto& q, dim3 grid) {
      launch_tc<Prec, TcLarge>(trans_a, trans_b, q, grid, stream);
    });
}

}  // namespace

void tc_products(bool bf16, bool trans_a, bool trans_b, GemmParams<float> p, int64_t count) {
  if (p.M == 0 || p.N == 0 || count == 0) return;
  if (bf16)
    tc_products_in<Bf16>(trans_a, trans_b, p, count);
  else
    tc_products_in<Tf32>(trans_a, trans_b, p, count);
}

}  // namespace dc::cuda
