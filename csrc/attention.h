// Scaled dot-product attention, fused (flash-style) on the CPU.
//
//   q (B, H, Lq, D), k (B, H, Lk, D), v (B, H, Lk, Dv); o (B, H, Lq, Dv):
//   S = scale * q k^T + bias (masked entries -inf), P = softmax(S) along keys,
//   o = (P * Z / (1 - p)) v with Z the dropout keep mask (all ones when p == 0).
//
// [Note: online softmax] The Lq x Lk matrices S and P are never materialised. Forward takes a
// block of BM queries and walks the keys in blocks of BN: S_tile = scale * Q_blk K_blk^T (our
// GEMM micro-kernel on packed panels), then per row the running max m and running sum l are
// updated (m' = max(m, max_j s_j), l' = l exp(m - m') + sum_j exp(s_j - m')) and the output
// accumulator is rescaled by exp(m - m') before P_tile V_blk is added (the micro-kernel again,
// with beta = 1). At the end o = acc / l and the log-sum-exp lse = m + log l is saved (one
// value per query row), so backward recomputes each probability as exp(s - lse) exactly.
// Scratch is a few tiles per thread (O(threads * block^2)), independent of L.
//
// [Note: attention backward] With dO given and D_i = rowsum(dO_i * O_i) (which equals
// rowsum(P_i * dP_i) even with dropout, see attention.cpp), per (key block j, query block i):
//   P = exp(S - lse), Pd = P * Z / (1 - p)        (recomputed; Z regenerated from the seed)
//   dV_j += Pd^T dO_i,  dPd = dO_i V_j^T,  dS = Pd * dPd - P * D_i,
//   dQ_i += scale dS K_j,  dK_j += scale dS^T Q_i.
// Tasks own key blocks (so dK, dV need no reduction); dQ is accumulated straight into the
// output when one task owns a whole (b, h), else into per-task partials summed at the end.
//
// [Note: fully masked rows] A query row with no attendable key (every key masked out by a
// boolean or -inf mask, or Lk = 0; never by causal alone, which always keeps key 0)
// gets o = 0 and zero gradients, never NaN (PyTorch returns NaN). Its lse is stored as +inf,
// so exp(s - lse) = 0 for every key in backward without a special case.
//
// Masks (PyTorch's conventions): a boolean mask keeps (b, h, i, j) where it is true; a float
// mask is added to the scaled scores; either broadcasts over (B, H, Lq, Lk) through strides
// (0 along a broadcast axis). causal keeps j <= i (top-left aligned, as PyTorch's is_causal);
// key blocks entirely above the diagonal are skipped, so causal costs about half. Dropout
// keeps (b, h, i, j) iff counter_bits(seed, ((b H + h) Lq + i) Lk + j) >= threshold
// ([Note: dropout RNG] in core/counter_rng.h), so backward regenerates the mask.
#pragma once

#include <cstdint>

#include "core/dispatch.h"
#ifndef DC_ISA_LEVEL
#include "core/device_dispatch.h"
#endif

namespace dc {

// A (B, H, L, d) operand with unit stride along d: element (b, h, l, x) at
// ptr[b * sb + h * sh + l * sl + x]. Strides let multi-head attention read its heads straight
// out of a (B, L, H, d) projection without a transposed copy.
template <typename P>
struct Strided4 {
  P ptr = nullptr;
  int64_t sb = 0, sh = 0, sl = 0;
  P row(int64_t b, int64_t h, int64_t l) const { return ptr + b * sb + h * sh + l * sl; }
};

// The mask, broadcast to (B, H, Lq, Lk): element (b, h, i, j) at base[b*sb + h*sh + i*si +
// j*sj]. At most one of keep (boolean, nonzero = attend) and bias (additive) is set.
template <typename T>
struct AttnMask {
  const uint8_t* keep = nullptr;
  const T* bias = nullptr;
  int64_t sb = 0, sh = 0, si = 0, sj = 0;
};

struct AttnProblem {
  int64_t B = 0, H = 0, Lq = 0, Lk = 0, D = 0, Dv = 0;
  double scale = 1.0;
  bool causal = false;
  double dropout_p = 0.0;  // in [0, 1)
  uint64_t seed = 0;
};

// Forward: o (B, H, Lq, Dv) and lse (B, H, Lq) contiguous (the log-sum-exp of each row of the
// masked, scaled scores; +inf for a fully masked row).
template <typename T>
void attention_forward(const AttnProblem& p, const AttnMask<T>& mask, Strided4<const T*> q,
                       Strided4<const T*> k, Strided4<const T*> v, Strided4<T*> o, T* lse);

// Backward from go (B, H, Lq, Dv) and the forward's o and lse: gq, gk, gv assigned (shapes of
// q, k, v). The mask itself gets no gradient.
template <typename T>
void attention_backward(const AttnProblem& p, const AttnMask<T>& mask, Strided4<const T*> q,
                        Strided4<const T*> k, Strided4<const T*> v, Strided4<const T*> o,
                        const T* lse, Strided4<const T*> go, Strided4<T*> gq, Strided4<T*> gk,
                        Strided4<T*> gv);

// ------------------------------------------------------------------ per-ISA tile kernels

// One tile of scores for one (b, h): query rows [i0, i0 + m), key columns [j0, j0 + n).
template <typename T>
struct AttnTile {
  int m = 0, n = 0;
  int64_t i0 = 0, j0 = 0;
  // the mask offset to this (b, h): element (i, j) at keep/bias[i * si + j * sj]
  const uint8_t* keep = nullptr;
  const T* bias = nullptr;
  int64_t si = 0, sj = 0;
  bool causal = false;
  // dropout (threshold 0: none): counter of (i, j) = counter0 + i * Lk + j
  uint32_t threshold = 0;
  uint64_t seed = 0, counter0 = 0;
  int64_t Lk = 0;
};

template <typename T>
struct AttentionKernels {
  // Forward step on scores s (m x n, row stride lds, already scaled): mask, update the running
  // max mrow and sum lrow, rescale the accumulator rows acc (m x dv, stride ldacc), and leave
  // the (dropped-out, unnormalised) probabilities exp(s - max) in s.
  void (*forward_tile)(const AttnTile<T>& t, T* s, int64_t lds, T* mrow, T* lrow, T* acc,
                       int64_t ldacc, int64_t dv);
  // o row r = acc row r * keep_scale / lrow[r] (zeros if lrow[r] == 0); lse[r] = m + log l
  // (+inf if fully masked).
  void (*forward_finish)(int m, const T* mrow, const T* lrow, T keep_scale, const T* acc,
                         int64_t ldacc, T* o, int64_t ldo, int64_t dv, T* lse);
  // Backward: s (scores, scaled) -> P = exp(masked s - lse) in place; with dropout also
  // pd = P * Z * keep_scale (else pd is unused).
  void (*backward_probs)(const AttnTile<T>& t, T* s, int64_t lds, const T* lse, T* pd, int64_t ldpd,
                         T keep_scale);
  // dp (m x n) = dO V^T -> dS = pd * dp - p * delta[r] in place (pd == p without dropout).
  void (*backward_ds)(int m, int n, const T* p, int64_t ldp, const T* pd, int64_t ldpd, T* dp,
                      int64_t lddp, const T* delta);
  // delta[r] = sum_x a[r, x] * b[r, x] for m rows of length n.
  void (*row_dot)(int64_t m, int64_t n, const T* a, int64_t lda, const T* b, int64_t ldb, T* delta);
};

#ifndef DC_ISA_LEVEL
// Device stubs of the drivers above ([Note: device dispatch] in core/device_dispatch.h).
DC_DEVICE_STUB(attention_forward, "attention_forward");
DC_DEVICE_STUB(attention_backward, "attention_backward");
#endif

namespace ref {
// csrc/ref/attention_ref.cpp: the materialised Lq x Lk computation in double for each (b, h),
// contiguous operands; same masks, dropout mask and fully-masked-row rule as the fast path.
template <typename T>
void attention_forward(const AttnProblem& p, const AttnMask<T>& mask, const T* q, const T* k,
                       const T* v, T* o);
template <typename T>
void attention_backward(const AttnProblem& p, const AttnMask<T>& mask, const T* q, const T* k,
                        const T* v, const T* go, T* gq, T* gk, T* gv);
}  // namespace ref

}  // namespace dc

// Each ISA copy returns its table of tile kernels (global scope: see core/dispatch.h).
DC_DECLARE_DISPATCH_T(attention_stub, const dc::AttentionKernels<T>*());
