// GEMM driver: cache blocking, packing buffers and threads around the per-ISA micro-kernel
// (csrc/cpu/gemm_kernels.cpp). See [Note: GEMM blocking] in csrc/cpu/gemm_kernels.h.
#include "gemm.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <memory>
#include <thread>
#include <type_traits>

#include "core/scratch.h"
#include "core/threads.h"
#include "cpu/gemm_kernels.h"

namespace dc {
namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Packing buffers: per-thread and reused, see [Note: scratch memory] in core/scratch.h.
template <typename T>
T* scratch(ScratchSlot slot, int64_t count) {
  return thread_scratch<T>(slot, count);
}
constexpr ScratchSlot kSlotA = ScratchSlot::gemm_a, kSlotB = ScratchSlot::gemm_b,
                      kSlotBT = ScratchSlot::gemm_bt, kSlotSmall = ScratchSlot::gemm_small,
                      kSlotCT = ScratchSlot::gemm_ct;

// Run f(0..n-1) on up to n threads. Blocks are dealt out by thread number, so a team smaller
// than asked for (nested regions, thread limits) still runs every block; an exception (a
// failed scratch allocation) is carried out of the parallel region and rethrown.
template <typename F>
void parallel_blocks(int n, F&& f) {
  if (n <= 1) {
    f(0);
    return;
  }
  std::exception_ptr err;
#pragma omp parallel num_threads(n)
  for (int b = omp_get_thread_num(); b < n; b += omp_get_num_threads()) {
    try {
      f(b);
    } catch (...) {
#pragma omp critical(dc_gemm_error)
      if (!err) err = std::current_exception();
    }
  }
  if (err) std::rethrow_exception(err);
}

// C = beta * C (beta == 0 writes zeros, ignoring whatever C held).
template <typename T>
void scale_c(int64_t M, int64_t N, T beta, T* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    T* c = C + i * ldc;
    if (beta == T(0))
      std::fill(c, c + N, T(0));
    else if (beta != T(1))
      for (int64_t j = 0; j < N; ++j) c[j] *= beta;
  }
}

// C (mb x nb) = alpha * packed A block @ packed B block + beta * C: the two loops around the
// micro-kernel (the A micro-panel stays in L1 while B micro-panels stream from L2).
template <typename T>
void macro_kernel(const GemmKernel<T>& k, int64_t mb, int64_t nb, int64_t kb, const T* pa,
                  const T* pb, T* C, int64_t ldc, T alpha, T beta) {
  const int64_t mr = k.mr, nr = k.nr;
  for (int64_t i = 0; i < mb; i += mr) {
    const int m = static_cast<int>(std::min(mr, mb - i));
    for (int64_t j = 0; j < nb; j += nr)
      k.micro(kb, pa + i * kb, pb + j * kb, C + i * ldc + j, ldc, alpha, beta, m,
              static_cast<int>(std::min(nr, nb - j)));
  }
}

// One thread's share: the blocked loop nest of [Note: GEMM blocking] on an M x N block of C.
// b_block(k0, kb, n0, nb) gives the packed kb x nb block of op(B) at (k0, n0): packed into this
// thread's scratch here, or a slice of a matrix packed once ([Note: GEMM prepacked B]).
template <typename T, typename BBlock>
void gemm_blocked_with(const GemmKernel<T>& k, bool ta, int64_t M, int64_t N, int64_t K, T alpha,
                       const T* A, int64_t lda, T beta, T* C, int64_t ldc, BBlock&& b_block) {
  const int64_t mr = k.mr, nr = k.nr;
  const int64_t mc = std::min(k.mc, ceil_div(M, mr) * mr);
  const int64_t kc = std::min(k.kc, K);
  const int64_t nc = std::min(k.nc, ceil_div(N, nr) * nr);
  T* pa = scratch<T>(kSlotA, mc * kc);
  for (int64_t m0 = 0; m0 < M; m0 += mc) {
    const int64_t mb = std::min(mc, M - m0);
    for (int64_t k0 = 0; k0 < K; k0 += kc) {
      const int64_t kb = std::min(kc, K - k0);
      k.pack_a(ta, mb, kb, ta ? A + k0 * lda + m0 : A + m0 * lda + k0, lda, pa);
      const T beta_k = k0 == 0 ? beta : T(1);  // later k blocks accumulate into C
      for (int64_t n0 = 0; n0 < N; n0 += nc) {
        const int64_t nb = std::min(nc, N - n0);
        macro_kernel(k, mb, nb, kb, pa, b_block(k0, kb, n0, nb), C + m0 * ldc + n0, ldc, alpha,
                     beta_k);
      }
    }
  }
}

template <typename T>
void gemm_blocked(const GemmKernel<T>& k, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                  T alpha, const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C,
                  int64_t ldc) {
  T* pb = scratch<T>(kSlotB, std::min(k.kc, K) * std::min(k.nc, ceil_div(N, k.nr) * k.nr));
  gemm_blocked_with(k, ta, M, N, K, alpha, A, lda, beta, C, ldc,
                    [&](int64_t k0, int64_t kb, int64_t n0, int64_t nb) -> const T* {
                      k.pack_b(tb, kb, nb, tb ? B + n0 * ldb + k0 : B + k0 * ldb + n0, ldb, pb);
                      return pb;
                    });
}

// [Note: GEMM shared A] The threaded path for wide C. A is packed once, into one shared buffer
// (all of it: (M rounded up to MR) x K), lazily and without barriers: each MR-row panel of
// each (m0, k0) block has a state (0 unpacked, 1 being packed, 2 ready); the first thread
// that needs a panel claims and packs it, one that finds a panel being packed packs the next
// unclaimed panels of the block meanwhile (or yields). Column strips of C (~8 per thread, so
// the threads that are running take the work of one the OS preempted) are dealt out
// dynamically; each packs its own B block into the thread's private buffer. The only barrier
// is the end of the loop. (A cooperative "pack the A block, barrier, compute" scheme measured
// ~2x slower on this shared machine: every barrier waits for whichever thread the OS
// preempted.) A strip narrower than a B block (nc columns) reuses each A micro-panel, read
// from L3, over fewer B micro-panels than the static grid of gemm_driver does, so the shared
// path is taken only where C is wide enough for two full-width strips per thread
// (kSharedAMinStrips); narrower C goes to the grid. Measured at 2 threads on Zen 4 (same
// process, alternating, median time ratio shared/grid): weight-gradient shapes A^T B with
// K = 6400 and M x N = 1024 x 256, 768 x 256, 1024 x 1024: 1.26-1.36, 1.24-1.26, 1.15-1.16;
// 6400 x 1024 x 128 1.15-1.18; 1024 x 256 x 100 1.13-1.17; squares 512-2048 0.97-1.07; on the
// RNN benchmarks' forward+backward (B 64) 3-10 % faster, conv2d and Dense within 1 %.
constexpr int64_t kSharedAMaxBytes = int64_t(64) << 20;
constexpr int64_t kSharedAMinStrips = 2;  // full-width (nc) strips per thread

template <typename T>
void gemm_parallel_shared_a(const GemmKernel<T>& k, int nt, bool ta, bool tb, int64_t M, int64_t N,
                            int64_t K, T alpha, const T* A, int64_t lda, const T* B, int64_t ldb,
                            T beta, T* C, int64_t ldc) {
  const int64_t mr = k.mr, nr = k.nr;
  const int64_t mc = std::min(k.mc, ceil_div(M, mr) * mr);
  const int64_t kc = std::min(k.kc, K);
  const int64_t mblocks = ceil_div(M, mc), kblocks = ceil_div(K, kc), ppb = mc / mr;
  const int64_t ncw = std::min(k.nc, std::max(2 * nr, ceil_div(ceil_div(N, 8 * nt), nr) * nr));
  const int64_t strips = ceil_div(N, ncw);
  T* pa = scratch<T>(kSlotA, ceil_div(M, mr) * mr * K);  // the calling thread's, shared
  const int64_t units = mblocks * kblocks * ppb;
  std::unique_ptr<std::atomic<int>[]> state(new std::atomic<int>[units]);
  for (int64_t u = 0; u < units; ++u) state[u].store(0, std::memory_order_relaxed);

  // Packed panel r of block (b, kblk); blocks before b are full (mc rows), so they hold mc*K.
  auto panel_ptr = [&](int64_t b, int64_t kblk, int64_t r) {
    const int64_t m0 = b * mc, mbp = ceil_div(std::min(mc, M - m0), mr) * mr;
    const int64_t k0 = kblk * kc, kb = std::min(kc, K - k0);
    return pa + m0 * K + mbp * k0 + r * mr * kb;
  };
  auto try_pack = [&](int64_t b, int64_t kblk, int64_t r) {
    std::atomic<int>& st = state[(b * kblocks + kblk) * ppb + r];
    int expected = 0;
    if (st.load(std::memory_order_relaxed) != 0 ||
        !st.compare_exchange_strong(expected, 1, std::memory_order_acquire))
      return false;
    const int64_t m0 = b * mc, k0 = kblk * kc;
    const int64_t rows = std::min(mr, M - m0 - r * mr), kb = std::min(kc, K - k0);
    const T* a = ta ? A + k0 * lda + m0 + r * mr : A + (m0 + r * mr) * lda + k0;
    k.pack_a(ta, rows, kb, a, lda, panel_ptr(b, kblk, r));
    st.store(2, std::memory_order_release);
    return true;
  };
  auto panel = [&](int64_t b, int64_t kblk, int64_t r, int64_t panels) -> const T* {
    std::atomic<int>& st = state[(b * kblocks + kblk) * ppb + r];
    if (st.load(std::memory_order_acquire) != 2 && !try_pack(b, kblk, r)) {
      int64_t next = r + 1;
      while (st.load(std::memory_order_acquire) != 2) {
        while (next < panels && !try_pack(b, kblk, next)) ++next;
        if (next >= panels) std::this_thread::yield();
      }
    }
    return panel_ptr(b, kblk, r);
  };

  std::exception_ptr err;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
  for (int64_t s = 0; s < strips; ++s) {
    T* pb = nullptr;
    try {
      pb = scratch<T>(kSlotB, kc * ncw);
    } catch (...) {
#pragma omp critical(dc_gemm_error)
      if (!err) err = std::current_exception();
      continue;
    }
    const int64_t n0 = s * ncw, nb = std::min(ncw, N - n0);
    for (int64_t b = 0; b < mblocks; ++b) {
      const int64_t m0 = b * mc, mb = std::min(mc, M - m0), panels = ceil_div(mb, mr);
      for (int64_t kblk = 0; kblk < kblocks; ++kblk) {
        const int64_t k0 = kblk * kc, kb = std::min(kc, K - k0);
        k.pack_b(tb, kb, nb, tb ? B + n0 * ldb + k0 : B + k0 * ldb + n0, ldb, pb);
        const T beta_k = k0 == 0 ? beta : T(1);
        for (int64_t r = 0; r < panels; ++r)
          macro_kernel(k, std::min(mr, mb - r * mr), nb, kb, panel(b, kblk, r, panels), pb,
                       C + (m0 + r * mr) * ldc + n0, ldc, alpha, beta_k);
      }
    }
  }
  if (err) std::rethrow_exception(err);
}

// Split C into tm x tn thread blocks (tm * tn == nt, whole MR/NR tiles each), choosing the
// shape that minimises one thread's time: its multiply-adds plus its packing, weighted ~8x
// per element because a thread packs all of A's rows for its block and all of B's columns.
void thread_grid(int nt, int64_t M, int64_t N, int64_t mr, int64_t nr, int& tm, int& tn) {
  const int64_t tiles_m = ceil_div(M, mr), tiles_n = ceil_div(N, nr);
  double best = -1;
  for (int a = 1; a <= nt; ++a) {
    if (nt % a) continue;
    const int b = nt / a;
    if (a > tiles_m || b > tiles_n) continue;
    const double rows = double(ceil_div(tiles_m, a) * mr), cols = double(ceil_div(tiles_n, b) * nr);
    const double cost = rows * cols + 8.0 * (rows + cols);  // per unit of K
    if (best < 0 || cost < best) {
      best = cost;
      tm = a;
      tn = b;
    }
  }
  if (best < 0) tm = tn = 1;
}

template <typename T>
void gemm_driver(const GemmKernel<T>& k, bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha,
                 const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == T(0)) {
    scale_c(M, N, beta, C, ldc);
    return;
  }
  const int nt = threads_for(double(M) * double(N) * double(K), kMacsPerThread);

  // [Note: GEMM skinny shapes] Packing wins for every small square-ish product we measured
  // (down to 4x4x4 with our per-call overhead), so the unpacked kernel is kept for the shapes
  // where packing loses (measured with bench-style timings on the AVX-512 kernel):
  //  - narrow outputs, N < NR: an NR-wide register tile would waste most of its lanes. Solve
  //    C^T = op(B)^T op(A)^T instead (M and N swap roles, the broadcast side is now the narrow
  //    one) into scratch and transpose back; 2-3x faster for N in 5..31;
  //  - row vectors (M <= 2, memory-bound: packing B only adds traffic) and N <= 4 with A's
  //    rows contiguous: the unpacked kernel (axpys, or dot products of contiguous rows).
  if (N < k.nr && M > 2 * N && (ta || N > 4)) {
    T* ct = scratch<T>(kSlotCT, N * M);
    gemm_driver(k, !tb, !ta, N, M, K, alpha, B, ldb, A, lda, T(0), ct, M);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j)
        C[i * ldc + j] = beta == T(0) ? ct[j * M + i] : ct[j * M + i] + beta * C[i * ldc + j];
    return;
  }
  if (M <= 2 || (!ta && N <= 4)) {
    const T* b = B;
    int64_t ld = ldb;
    bool t = tb;
    if (M > 2 && !tb) {  // narrow B (K x N): transpose it once so each column is contiguous
      T* bt = scratch<T>(kSlotBT, N * K);
      for (int64_t p = 0; p < K; ++p)
        for (int64_t j = 0; j < N; ++j) bt[j * K + p] = B[p * ldb + j];
      b = bt;
      ld = K;
      t = true;
    }
    // threads split the longer side: columns for row vectors, rows for narrow outputs
    const bool by_cols = M <= 2;
    const int64_t len = by_cols ? N : M;
    const int chunks = static_cast<int>(std::min<int64_t>(nt, ceil_div(len, 64)));
    parallel_blocks(chunks, [&](int c) {
      const int64_t s0 = len * c / chunks, s1 = len * (c + 1) / chunks;
      T* tmp = scratch<T>(kSlotSmall, K);
      if (by_cols)
        k.small(ta, t, M, s1 - s0, K, alpha, A, lda, t ? b + s0 * ld : b + s0, ld, beta, C + s0,
                ldc, tmp);
      else
        k.small(ta, t, s1 - s0, N, K, alpha, ta ? A + s0 : A + s0 * lda, lda, b, ld, beta,
                C + s0 * ldc, ldc, tmp);
    });
    return;
  }
  if (nt <= 1) {
    gemm_blocked(k, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  if (N >= kSharedAMinStrips * nt * k.nc &&
      ceil_div(M, k.mr) * k.mr * K * int64_t(sizeof(T)) <= kSharedAMaxBytes) {
    gemm_parallel_shared_a(k, nt, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  // Narrow C (few NR tiles across) or a huge A: a static grid of independent blocks, each
  // packing its own A and B (mostly split by rows for narrow C).
  int tm = 1, tn = 1;
  thread_grid(nt, M, N, k.mr, k.nr, tm, tn);
  const int64_t tiles_m = ceil_div(M, k.mr), tiles_n = ceil_div(N, k.nr);
  parallel_blocks(tm * tn, [&](int t) {
    const int64_t bi = t / tn, bj = t % tn;
    const int64_t i0 = std::min(M, tiles_m * bi / tm * k.mr);
    const int64_t i1 = std::min(M, tiles_m * (bi + 1) / tm * k.mr);
    const int64_t j0 = std::min(N, tiles_n * bj / tn * k.nr);
    const int64_t j1 = std::min(N, tiles_n * (bj + 1) / tn * k.nr);
    if (i1 > i0 && j1 > j0)
      gemm_blocked(k, ta, tb, i1 - i0, j1 - j0, K, alpha, ta ? A + i0 : A + i0 * lda, lda,
                   tb ? B + j0 * ldb : B + j0, ldb, beta, C + i0 * ldc + j0, ldc);
  });
}

}  // namespace

template <typename T>
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  gemm_driver(*gemm_kernel_stub<T>(), ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                          const float*, int64_t, float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                           const double*, int64_t, double, double*, int64_t);

// [Note: GEMM prepacked B] op(B) packed whole, k block after k block: block k0 holds the
// ceil(N/NR) panels of (kb x NR), zero-padded, as pack_b writes them, so the n0 column slice of
// a k block (n0 a multiple of NR) starts at packed + k0 * Npad + n0 * kb.
namespace {
template <typename T>
const GemmKernel<T>& kernel_of() {
  return *gemm_kernel_stub<T>();
}
}  // namespace

template <typename T>
int64_t gemm_packed_b_size(int64_t K, int64_t N) {
  const GemmKernel<T>& k = kernel_of<T>();
  return std::max<int64_t>(K, 1) * ceil_div(std::max<int64_t>(N, 1), k.nr) * k.nr;
}

template <typename T>
void gemm_pack_b(bool trans_b, int64_t K, int64_t N, const T* B, int64_t ldb, T* packed) {
  const GemmKernel<T>& k = kernel_of<T>();
  const int64_t npad = ceil_div(N, k.nr) * k.nr;
  for (int64_t k0 = 0; k0 < K; k0 += k.kc) {
    const int64_t kb = std::min(k.kc, K - k0);
    k.pack_b(trans_b, kb, N, trans_b ? B + k0 : B + k0 * ldb, ldb, packed + k0 * npad);
  }
}

template <typename T>
void gemm_prepacked(int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                    const T* packed, T beta, T* C, int64_t ldc) {
  const GemmKernel<T>& k = kernel_of<T>();
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == T(0)) {
    scale_c(M, N, beta, C, ldc);
    return;
  }
  const int64_t npad = ceil_div(N, k.nr) * k.nr;
  gemm_blocked_with(k, false, M, N, K, alpha, A, lda, beta, C, ldc,
                    [&](int64_t k0, int64_t kb, int64_t n0, int64_t) -> const T* {
                      return packed + k0 * npad + n0 * kb;
                    });
}

#define DC_INSTANTIATE(T)                                                                       \
  template int64_t gemm_packed_b_size<T>(int64_t, int64_t);                                     \
  template void gemm_pack_b<T>(bool, int64_t, int64_t, const T*, int64_t, T*);                  \
  template void gemm_prepacked<T>(int64_t, int64_t, int64_t, T, const T*, int64_t, const T*, T, \
                                  T*, int64_t);
DC_INSTANTIATE(float)
DC_INSTANTIATE(double)
#undef DC_INSTANTIATE

}  // namespace dc
