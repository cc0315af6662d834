// Attention tile kernels, one ISA copy: the element-wise work between the GEMM micro-kernel
// calls of csrc/attention.cpp (masking, the online-softmax update, probability recompute and
// dS). See [Note: online softmax] and [Note: attention backward] in attention.h.
#include <cmath>
#include <limits>

#include "attention.h"
#include "core/counter_rng.h"
#include "cpu/activation_math.h"

namespace dc {
namespace DC_ISA_NS {
namespace {

template <typename T>
constexpr T kNegInf = -std::numeric_limits<T>::infinity();

// Row r of a tile's scores: add the float mask, drop the entries the boolean mask or causality
// excludes (-inf).
template <typename T>
inline void mask_row(const AttnTile<T>& t, int r, T* s) {
  const int64_t i = t.i0 + r;
  const int n = t.n;
  if (t.bias) {
    const T* b = t.bias + i * t.si + t.j0 * t.sj;
    if (t.sj == 1)
      for_each_vec<Lanes<T>::W>(
          n, [&](int64_t j, int c) { storen(s + j, loadn(s + j, c) + loadn(b + j, c), c); });
    else
      for (int j = 0; j < n; ++j) s[j] += b[j * t.sj];
  }
  if (t.keep) {
    const uint8_t* k = t.keep + i * t.si + t.j0 * t.sj;
    const int64_t sj = t.sj;
#pragma omp simd
    for (int j = 0; j < n; ++j) s[j] = k[j * sj] ? s[j] : kNegInf<T>;
  }
  if (t.causal)  // keys j0 + j with j0 + j > i are in the future
    for (int64_t j = i - t.j0 + 1 < 0 ? 0 : i - t.j0 + 1; j < n; ++j) s[j] = kNegInf<T>;
}

// x[j] = 0 where the dropout hash of (row's counter + j) drops it, else x[j] * scale.
template <typename T>
inline void dropout_row(const AttnTile<T>& t, int r, const T* x, T* y, T scale) {
  const uint64_t c0 = t.counter0 + static_cast<uint64_t>((t.i0 + r) * t.Lk + t.j0);
  const uint64_t seed = t.seed;
  const uint32_t thr = t.threshold;
#pragma omp simd
  for (int j = 0; j < t.n; ++j)
    y[j] = counter_bits(seed, c0 + static_cast<uint64_t>(j)) >= thr ? x[j] * scale : T(0);
}

template <typename T>
void forward_tile(const AttnTile<T>& t, T* s, int64_t lds, T* mrow, T* lrow, T* acc, int64_t ldacc,
                  int64_t dv) {
  using V = VecT<T>;
  for (int r = 0; r < t.m; ++r) {
    T* sr = s + r * lds;
    mask_row(t, r, sr);
    const T mold = mrow[r];
    const T mx = row_max(sr, t.n);
    const T mnew = mx > mold ? mx : mold;
    if (mnew == kNegInf<T>) {  // nothing attendable yet: no probability mass in this tile
      for (int j = 0; j < t.n; ++j) sr[j] = T(0);
      continue;
    }
    const T corr = mold == kNegInf<T> ? T(0) : static_cast<T>(std::exp(mold - mnew));
    const T sum = row_sum_exp(sr, mnew, sr, t.n);
    lrow[r] = lrow[r] * corr + sum;
    mrow[r] = mnew;
    if (corr != T(1)) {
      T* a = acc + r * ldacc;
      const V vc = bc<V>(corr);
      for_each_vec<Lanes<T>::W>(dv,
                                [&](int64_t j, int c) { storen(a + j, loadn(a + j, c) * vc, c); });
    }
    if (t.threshold) dropout_row(t, r, sr, sr, T(1));
  }
}

template <typename T>
void forward_finish(int m, const T* mrow, const T* lrow, T keep_scale, const T* acc, int64_t ldacc,
                    T* o, int64_t ldo, int64_t dv, T* lse) {
  using V = VecT<T>;
  for (int r = 0; r < m; ++r) {
    T* orow = o + r * ldo;
    const T l = lrow[r];
    if (l == T(0)) {  // see [Note: fully masked rows]
      for (int64_t j = 0; j < dv; ++j) orow[j] = T(0);
      lse[r] = std::numeric_limits<T>::infinity();
      continue;
    }
    const T* a = acc + r * ldacc;
    const V inv = bc<V>(keep_scale / l);
    for_each_vec<Lanes<T>::W>(
        dv, [&](int64_t j, int c) { storen(orow + j, loadn(a + j, c) * inv, c); });
    lse[r] = mrow[r] + static_cast<T>(std::log(l));
  }
}

template <typename T>
void backward_probs(const AttnTile<T>& t, T* s, int64_t lds, const T* lse, T* pd, int64_t ldpd,
                    T keep_scale) {
  using V = VecT<T>;
  for (int r = 0; r < t.m; ++r) {
    T* sr = s + r * lds;
    mask_row(t, r, sr);
    // lse = +inf for a fully masked row: every probability is exp(-inf) = 0
    const V vl = bc<V>(lse[r]);
    for_each_vec<Lanes<T>::W>(
        t.n, [&](int64_t j, int c) { storen(sr + j, vexp(loadn(sr + j, c) - vl), c); });
    if (t.threshold) dropout_row(t, r, sr, pd + r * ldpd, keep_scale);
  }
}

template <typename T>
void backward_ds(int m, int n, const T* p, int64_t ldp, const T* pd, int64_t ldpd, T* dp,
                 int64_t lddp, const T* delta) {
  using V = VecT<T>;
  for (int r = 0; r < m; ++r) {
    const T* pr = p + r * ldp;
    const T* pdr = pd + r * ldpd;
    T* dr = dp + r * lddp;
    const V vd = bc<V>(delta[r]);
    if (pd == p)
      for_each_vec<Lanes<T>::W>(n, [&](int64_t j, int c) {
        storen(dr + j, loadn(pr + j, c) * (loadn(dr + j, c) - vd), c);
      });
    else
      for_each_vec<Lanes<T>::W>(n, [&](int64_t j, int c) {
        storen(dr + j, loadn(pdr + j, c) * loadn(dr + j, c) - loadn(pr + j, c) * vd, c);
      });
  }
}

template <typename T>
void row_dots(int64_t m, int64_t n, const T* a, int64_t lda, const T* b, int64_t ldb, T* out) {
  for (int64_t r = 0; r < m; ++r) out[r] = row_dot(a + r * lda, b + r * ldb, n);
}

template <typename T>
const AttentionKernels<T>* kernels() {
  static const AttentionKernels<T> k = {&forward_tile<T>, &forward_finish<T>, &backward_probs<T>,
                                        &backward_ds<T>, &row_dots<T>};
  return &k;
}

}  // namespace

DC_REGISTER_DISPATCH_T(attention_stub, float, &kernels<float>);
DC_REGISTER_DISPATCH_T(attention_stub, double, &kernels<double>);

}  // namespace DC_ISA_NS
}  // namespace dc
