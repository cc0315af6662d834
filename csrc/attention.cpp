// Fused attention driver: blocking, packing, threads and the GEMM micro-kernel calls around the
// per-ISA tile kernels (csrc/cpu/attention_kernels.cpp). See [Note: online softmax] and
// [Note: attention backward] in attention.h; the GEMM pieces are those of [Note: GEMM
// blocking] in cpu/gemm_kernels.h, called directly on tiles small enough to stay in L1/L2.
#include "attention.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <limits>
#include <memory>
#include <type_traits>

#include "core/counter_rng.h"
#include "core/scratch.h"
#include "cpu/gemm_kernels.h"

namespace dc {
namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

template <typename T>
const AttentionKernels<T>& tile_kernels() {
  return *attention_stub<T>();
}

template <typename T>
const GemmKernel<T>& gemm_kernels() {
  return *gemm_kernel_stub<T>();
}

// [Note: attention blocks] Query blocks of bm rows, key blocks of bn columns, whole register
// tiles of the micro-kernel. bm = 64 keeps the packed Q panel (64 x D), the score tile
// (64 x bn) and the output accumulator (64 x Dv) in L2 next to the packed K and V blocks
// (bn x D each, 64 KiB at bn = 256, D = 64 in float32); short sequences take one block of the
// whole length so no tile is mostly padding. Measured (one thread, CPU time, D = 64, L 256 and
// 1024): forward bm 32..128 x bn 128..512 all within 5% of each other; in backward bn only
// matters under a causal mask, where finer key blocks skip more of the upper triangle (bn 64:
// 0.77x the time of bn 256 at L = 256, 0.91x at L = 1024).
struct Blocks {
  int64_t bm, bn;
};

template <typename T>
Blocks choose_blocks(const GemmKernel<T>& g, int64_t Lq, int64_t Lk, bool causal, bool backward) {
  // backward owns key blocks and walks the query blocks below each: under a causal mask,
  // 64-key blocks skip 10 of 16 tiles at L = 256 instead of none with one 256-key block
  const int64_t bn = backward ? (causal ? 64 : 128) : 256;
  return {round_up(std::min<int64_t>(Lq, 64), g.mr), round_up(std::min<int64_t>(Lk, bn), g.nr)};
}

// Carves 64-byte-aligned sub-buffers out of one per-thread scratch block (so the packed B
// panels the micro-kernel loads with aligned loads stay aligned).
template <typename T>
class Carver {
 public:
  explicit Carver(T* base) : p_(base) {}
  T* take(int64_t n) {
    T* r = p_;
    p_ += round_up(std::max<int64_t>(n, 1), 64 / static_cast<int64_t>(sizeof(T)));
    return r;
  }
  static int64_t size(std::initializer_list<int64_t> ns) {
    int64_t s = 0;
    for (int64_t n : ns)
      s += round_up(std::max<int64_t>(n, 1), 64 / static_cast<int64_t>(sizeof(T)));
    return s;
  }

 private:
  T* p_;
};

// C (m x n, row stride ldc) = alpha * packed A (m x kb panels) @ packed B (kb x n panels)
// + beta * C: the two loops around the micro-kernel.
template <typename T>
void tile_gemm(const GemmKernel<T>& g, int64_t m, int64_t n, int64_t kb, const T* pa, const T* pb,
               T* C, int64_t ldc, T alpha, T beta) {
  for (int64_t i = 0; i < m; i += g.mr) {
    const int mi = static_cast<int>(std::min<int64_t>(g.mr, m - i));
    for (int64_t j = 0; j < n; j += g.nr)
      g.micro(kb, pa + i * kb, pb + j * kb, C + i * ldc + j, ldc, alpha, beta, mi,
              static_cast<int>(std::min<int64_t>(g.nr, n - j)));
  }
}

// Run f(task) for task in [0, n) on OpenMP threads, dynamically scheduled (causal tasks differ
// in cost); an exception (a failed scratch allocation) is carried out and rethrown. Each extra
// thread needs ~64^3 multiply-adds of work: a thread team costs microseconds on a quiet machine
// and milliseconds when another process holds the core a team member waits for.
int team_size(double flops) {
  return std::max(1, static_cast<int>(std::min<double>(omp_get_max_threads(), flops / 262144.0)));
}

template <typename F>
void parallel_tasks(int64_t n, double flops_per_task, const F& f) {
  const int nt = team_size(double(n) * flops_per_task);
  std::exception_ptr err;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (nt > 1)
  for (int64_t t = 0; t < n; ++t) {
    try {
      f(t);
    } catch (...) {
#pragma omp critical(dc_attention_error)
      if (!err) err = std::current_exception();
    }
  }
  if (err) std::rethrow_exception(err);
}

// The tile description of query rows [i0, i0 + m) x keys [j0, j0 + n) of head (b, h).
template <typename T>
AttnTile<T> make_tile(const AttnProblem& p, const AttnMask<T>& mask, int64_t b, int64_t h,
                      int64_t i0, int64_t m, int64_t j0, int64_t n) {
  AttnTile<T> t;
  t.m = static_cast<int>(m);
  t.n = static_cast<int>(n);
  t.i0 = i0;
  t.j0 = j0;
  const int64_t off = b * mask.sb + h * mask.sh;
  t.keep = mask.keep ? mask.keep + off : nullptr;
  t.bias = mask.bias ? mask.bias + off : nullptr;
  t.si = mask.si;
  t.sj = mask.sj;
  t.causal = p.causal && j0 + n - 1 > i0;  // only tiles crossing the diagonal need masking
  if (p.dropout_p > 0.0) {
    t.threshold = dropout_threshold(p.dropout_p);
    t.seed = p.seed;
    t.counter0 = static_cast<uint64_t>((b * p.H + h) * p.Lq) * static_cast<uint64_t>(p.Lk);
    t.Lk = p.Lk;
  }
  return t;
}

}  // namespace

template <typename T>
void attention_forward(const AttnProblem& p, const AttnMask<T>& mask, Strided4<const T*> q,
                       Strided4<const T*> k, Strided4<const T*> v, Strided4<T*> o, T* lse) {
  const GemmKernel<T>& g = gemm_kernels<T>();
  const AttentionKernels<T>& ak = tile_kernels<T>();
  const int64_t BH = p.B * p.H, D = p.D, Dv = p.Dv, Lq = p.Lq, Lk = p.Lk;
  if (BH == 0 || Lq == 0) return;
  const Blocks bl = choose_blocks(g, Lq, std::max<int64_t>(Lk, 1), p.causal, false);
  const int64_t bm = bl.bm, bn = bl.bn, nqb = ceil_div(Lq, bm);
  const int64_t lds = round_up(bn, 16), ldacc = round_up(std::max<int64_t>(Dv, 1), 16);
  const T scale = static_cast<T>(p.scale);
  const T keep_scale = static_cast<T>(1.0 / (1.0 - p.dropout_p));
  const int64_t scratch_n = Carver<T>::size(
      {bm * D, D * bn, bm * lds, bm * bn, bn * round_up(Dv, g.nr), bm * ldacc, bm, bm});

  const double flops = double(bm) * double(Lk) * double(D + Dv) * (p.causal ? 0.5 : 1.0);
  parallel_tasks(BH * nqb, flops, [&](int64_t task) {
    // Later query blocks see more keys under a causal mask: hand them out first.
    const int64_t bh = task / nqb, qb = nqb - 1 - task % nqb;
    const int64_t b = bh / p.H, h = bh % p.H, i0 = qb * bm, m = std::min(bm, Lq - i0);
    Carver<T> c(thread_scratch<T>(ScratchSlot::attention, scratch_n));
    T* pq = c.take(bm * D);
    T* pkt = c.take(D * bn);
    T* s = c.take(bm * lds);
    T* pp = c.take(bm * bn);
    T* pv = c.take(bn * round_up(Dv, g.nr));
    T* acc = c.take(bm * ldacc);
    T* mrow = c.take(bm);
    T* lrow = c.take(bm);
    std::fill(acc, acc + m * ldacc, T(0));
    std::fill(mrow, mrow + m, -std::numeric_limits<T>::infinity());
    std::fill(lrow, lrow + m, T(0));
    g.pack_a(false, m, D, q.row(b, h, i0), q.sl, pq);
    const int64_t jend = p.causal ? std::min(Lk, i0 + m) : Lk;  // keys past the last row: masked
    for (int64_t j0 = 0; j0 < jend; j0 += bn) {
      const int64_t n = std::min(bn, jend - j0);
      g.pack_b(true, D, n, k.row(b, h, j0), k.sl, pkt);
      tile_gemm(g, m, n, D, pq, pkt, s, lds, scale, T(0));  // S = scale Q K^T
      const AttnTile<T> t = make_tile(p, mask, b, h, i0, m, j0, n);
      ak.forward_tile(t, s, lds, mrow, lrow, acc, ldacc, Dv);
      if (Dv == 0) continue;
      g.pack_a(false, m, n, s, lds, pp);
      g.pack_b(false, n, Dv, v.row(b, h, j0), v.sl, pv);
      tile_gemm(g, m, Dv, n, pp, pv, acc, ldacc, T(1), T(1));  // acc += P V
    }
    ak.forward_finish(static_cast<int>(m), mrow, lrow, keep_scale, acc, ldacc, o.row(b, h, i0),
                      o.sl, Dv, lse + bh * Lq + i0);
  });
}

template <typename T>
void attention_backward(const AttnProblem& p, const AttnMask<T>& mask, Strided4<const T*> q,
                        Strided4<const T*> k, Strided4<const T*> v, Strided4<const T*> o,
                        const T* lse, Strided4<const T*> go, Strided4<T*> gq, Strided4<T*> gk,
                        Strided4<T*> gv) {
  const GemmKernel<T>& g = gemm_kernels<T>();
  const AttentionKernels<T>& ak = tile_kernels<T>();
  const int64_t BH = p.B * p.H, D = p.D, Dv = p.Dv, Lq = p.Lq, Lk = p.Lk;
  if (BH == 0) return;
  auto zero_rows = [](T* base, int64_t rows, int64_t ld, int64_t width) {
    for (int64_t r = 0; r < rows; ++r) std::fill(base + r * ld, base + r * ld + width, T(0));
  };
  if (Lq == 0 || Lk == 0) {  // no scores: every gradient is zero
    for (int64_t bh = 0; bh < BH; ++bh) {
      const int64_t b = bh / p.H, h = bh % p.H;
      zero_rows(gq.row(b, h, 0), Lq, gq.sl, D);
      zero_rows(gk.row(b, h, 0), Lk, gk.sl, D);
      zero_rows(gv.row(b, h, 0), Lk, gv.sl, Dv);
    }
    return;
  }
  const Blocks bl = choose_blocks(g, Lq, Lk, p.causal, true);
  const int64_t bm = bl.bm, bn = bl.bn, nkb = ceil_div(Lk, bn);
  const int64_t lds = round_up(bn, 16);
  const T scale = static_cast<T>(p.scale);
  const T keep_scale = static_cast<T>(1.0 / (1.0 - p.dropout_p));
  const bool dropout = p.dropout_p > 0.0;

  // delta = rowsum(dO * O) per query row (see [Note: attention backward]).
  std::unique_ptr<T[]> delta(new T[BH * Lq]);
  parallel_tasks(BH, double(Lq) * double(Dv), [&](int64_t bh) {
    const int64_t b = bh / p.H, h = bh % p.H;
    ak.row_dot(Lq, Dv, go.row(b, h, 0), go.sl, o.row(b, h, 0), o.sl, delta.get() + bh * Lq);
  });

  // Tasks own ranges of key blocks of one head. With at least as many heads as threads (and
  // a whole number per thread, or many) one task per head writes dQ directly; otherwise the
  // keys are split into chunks whose dQ partials are summed afterwards.
  const int nt = team_size(double(BH) * double(Lq) * double(Lk) * double(3 * D + 2 * Dv));
  const bool split = nt > 1 && BH % nt != 0 && BH < 4 * nt;
  const int64_t nchunks = split ? std::min(nkb, ceil_div(4 * nt, BH)) : 1;
  std::unique_ptr<T[]> partial(split ? new T[BH * nchunks * Lq * D] : nullptr);

  const int64_t dmax = std::max(D, Dv);
  const int64_t scratch_n =
      Carver<T>::size({D * bn, Dv * bn, bn * round_up(D, g.nr),
                       round_up(std::max(bm, bn), g.mr) * std::max(dmax, std::max(bm, bn)),
                       bm * round_up(dmax, g.nr), bm * lds, dropout ? bm * lds : 1, bm * lds});

  const double flops =
      double(Lq) * double(Lk) / double(nchunks) * double(3 * D + 2 * Dv) * (p.causal ? 0.5 : 1.0);
  parallel_tasks(BH * nchunks, flops, [&](int64_t task) {
    const int64_t bh = task / nchunks, chunk = task % nchunks;
    const int64_t b = bh / p.H, h = bh % p.H;
    const int64_t kb0 = nkb * chunk / nchunks, kb1 = nkb * (chunk + 1) / nchunks;
    Carver<T> c(thread_scratch<T>(ScratchSlot::attention, scratch_n));
    T* pkt = c.take(D * bn);                 // K_j^T packed as B (D x n)
    T* pvt = c.take(Dv * bn);                // V_j^T packed as B (Dv x n)
    T* pk = c.take(bn * round_up(D, g.nr));  // K_j packed as B (n x D)
    T* pa = c.take(round_up(std::max(bm, bn), g.mr) * std::max(dmax, std::max(bm, bn)));
    T* pb = c.take(bm * round_up(dmax, g.nr));  // dO_i or Q_i packed as B
    T* s = c.take(bm * lds);                    // scores, then P
    T* pd = dropout ? c.take(bm * lds) : s;     // P * Z / (1 - p)
    T* dp = c.take(bm * lds);                   // dO V^T, then dS
    T* dq;
    int64_t ldq;
    if (split) {
      dq = partial.get() + task * Lq * D;
      ldq = D;
      std::fill(dq, dq + Lq * D, T(0));
    } else {
      dq = gq.row(b, h, 0);
      ldq = gq.sl;
      zero_rows(dq, Lq, ldq, D);
    }
    const T* dl = delta.get() + bh * Lq;
    for (int64_t kb = kb0; kb < kb1; ++kb) {
      const int64_t j0 = kb * bn, n = std::min(bn, Lk - j0);
      T* gkj = gk.row(b, h, j0);
      T* gvj = gv.row(b, h, j0);
      zero_rows(gkj, n, gk.sl, D);
      zero_rows(gvj, n, gv.sl, Dv);
      g.pack_b(true, D, n, k.row(b, h, j0), k.sl, pkt);
      g.pack_b(true, Dv, n, v.row(b, h, j0), v.sl, pvt);
      g.pack_b(false, n, D, k.row(b, h, j0), k.sl, pk);
      // causal: query blocks ending before key j0 see none of these keys
      for (int64_t i0 = p.causal ? j0 / bm * bm : 0; i0 < Lq; i0 += bm) {
        const int64_t m = std::min(bm, Lq - i0);
        g.pack_a(false, m, D, q.row(b, h, i0), q.sl, pa);
        tile_gemm(g, m, n, D, pa, pkt, s, lds, scale, T(0));  // S = scale Q_i K_j^T
        const AttnTile<T> t = make_tile(p, mask, b, h, i0, m, j0, n);
        ak.backward_probs(t, s, lds, lse + bh * Lq + i0, pd, lds, keep_scale);
        if (Dv > 0) {
          // dV_j += Pd^T dO_i
          g.pack_a(true, n, m, pd, lds, pa);
          g.pack_b(false, m, Dv, go.row(b, h, i0), go.sl, pb);
          tile_gemm(g, n, Dv, m, pa, pb, gvj, gv.sl, T(1), T(1));
          // dPd = dO_i V_j^T
          g.pack_a(false, m, Dv, go.row(b, h, i0), go.sl, pa);
          tile_gemm(g, m, n, Dv, pa, pvt, dp, lds, T(1), T(0));
        } else {
          zero_rows(dp, m, lds, n);
        }
        ak.backward_ds(static_cast<int>(m), static_cast<int>(n), s, lds, pd, lds, dp, lds, dl + i0);
        // dQ_i += scale dS K_j
        g.pack_a(false, m, n, dp, lds, pa);
        tile_gemm(g, m, D, n, pa, pk, dq + i0 * ldq, ldq, scale, T(1));
        // dK_j += scale dS^T Q_i
        g.pack_a(true, n, m, dp, lds, pa);
        g.pack_b(false, m, D, q.row(b, h, i0), q.sl, pb);
        tile_gemm(g, n, D, m, pa, pb, gkj, gk.sl, scale, T(1));
      }
    }
  });

  if (split) {  // gq = the sum of the chunks' partials, in chunk order (deterministic)
    parallel_tasks(BH, double(Lq) * double(D) * double(nchunks), [&](int64_t bh) {
      const int64_t b = bh / p.H, h = bh % p.H;
      const T* base = partial.get() + bh * nchunks * Lq * D;
      for (int64_t i = 0; i < Lq; ++i) {
        T* dst = gq.row(b, h, i);
        std::memcpy(dst, base + i * D, sizeof(T) * D);
        for (int64_t ch = 1; ch < nchunks; ++ch) {
          const T* src = base + (ch * Lq + i) * D;
          for (int64_t x = 0; x < D; ++x) dst[x] += src[x];
        }
      }
    });
  }
}

#define DC_INSTANTIATE(T)                                                                         \
  template void attention_forward<T>(const AttnProblem&, const AttnMask<T>&, Strided4<const T*>,  \
                                     Strided4<const T*>, Strided4<const T*>, Strided4<T*>, T*);   \
  template void attention_backward<T>(const AttnProblem&, const AttnMask<T>&, Strided4<const T*>, \
                                      Strided4<const T*>, Strided4<const T*>, Strided4<const T*>, \
                                      const T*, Strided4<const T*>, Strided4<T*>, Strided4<T*>,   \
                                      Strided4<T*>);
DC_INSTANTIATE(float)
DC_INSTANTIATE(double)
#undef DC_INSTANTIATE

}  // namespace dc
