// CTC loss driver: csrc/ctc.h ([Note: CTC recursion]), parallel over samples.
#include "ctc.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace dc {

namespace {

// Sample n's view of the batch: lp(t, c) = log_probs[t, n, c] in double.
template <typename T>
struct CtcSample {
  const CtcShape& s;
  const T* log_probs;
  const int64_t* target;  // targets[n, :]
  int64_t n, Tn, L, S2;   // S2 = 2 L + 1

  double lp(int64_t t, int64_t c) const {
    return static_cast<double>(log_probs[(t * s.N + n) * s.C + c]);
  }
  int64_t label(int64_t pos) const { return ctc_label(target, pos, s.blank); }

  // Row 0 of alpha into a[0 .. S2).
  void alpha_first(double* a) const {
    std::fill(a, a + S2, -INFINITY);
    a[0] = lp(0, s.blank);
    if (L > 0) a[1] = lp(0, target[0]);
  }
  // Row t of alpha (into a) from row t - 1 (prev).
  void alpha_step(int64_t t, const double* prev, double* a) const {
    for (int64_t p = 0; p < S2; ++p) {
      double v = prev[p];
      if (p >= 1) v = ctc_lse(v, prev[p - 1]);
      if (ctc_can_skip(target, p)) v = ctc_lse(v, prev[p - 2]);
      a[p] = v == -INFINITY ? -INFINITY : v + lp(t, label(p));
    }
  }
  // Row Tn - 1 of beta into b.
  void beta_last(double* b) const {
    std::fill(b, b + S2, -INFINITY);
    b[S2 - 1] = lp(Tn - 1, s.blank);
    if (L > 0) b[S2 - 2] = lp(Tn - 1, target[L - 1]);
  }
  // Row t of beta (into b) from row t + 1 (next).
  void beta_step(int64_t t, const double* next, double* b) const {
    for (int64_t p = 0; p < S2; ++p) {
      double v = next[p];
      if (p + 1 < S2) v = ctc_lse(v, next[p + 1]);
      if (p + 2 < S2 && ctc_can_skip(target, p + 2)) v = ctc_lse(v, next[p + 2]);
      b[p] = v == -INFINITY ? -INFINITY : v + lp(t, label(p));
    }
  }
  double log_likelihood(const double* a_last) const {
    return L > 0 ? ctc_lse(a_last[S2 - 1], a_last[S2 - 2]) : a_last[S2 - 1];
  }
};

template <typename T>
CtcSample<T> sample(const CtcShape& s, const T* log_probs, const int64_t* targets,
                    const int64_t* input_lengths, const int64_t* target_lengths, int64_t n) {
  const int64_t L = target_lengths[n];
  return CtcSample<T>{s, log_probs, targets + n * s.S, n, input_lengths[n], L, 2 * L + 1};
}

}  // namespace

template <typename T>
void ctc_loss_forward(const CtcShape& s, const T* log_probs, const int64_t* targets,
                      const int64_t* input_lengths, const int64_t* target_lengths, T* nll) {
#pragma omp parallel for schedule(dynamic, 1) if (s.N > 1)
  for (int64_t n = 0; n < s.N; ++n) {
    const CtcSample<T> x = sample(s, log_probs, targets, input_lengths, target_lengths, n);
    if (x.Tn == 0) {  // no step: only the empty target has an (empty) alignment
      nll[n] = x.L == 0 ? T(0) : std::numeric_limits<T>::infinity();
      continue;
    }
    std::vector<double> rows(2 * x.S2);
    double* a = rows.data();
    double* b = a + x.S2;
    x.alpha_first(a);
    for (int64_t t = 1; t < x.Tn; ++t) {
      x.alpha_step(t, a, b);
      std::swap(a, b);
    }
    nll[n] = static_cast<T>(-x.log_likelihood(a));
  }
}

template <typename T>
void ctc_loss_backward(const CtcShape& s, const T* grad_nll, const T* log_probs,
                       const int64_t* targets, const int64_t* input_lengths,
                       const int64_t* target_lengths, const T* nll, bool zero_infinity, T* grad) {
#pragma omp parallel for schedule(dynamic, 1) if (s.N > 1)
  for (int64_t n = 0; n < s.N; ++n) {
    const CtcSample<T> x = sample(s, log_probs, targets, input_lengths, target_lengths, n);
    auto row = [&](int64_t t) { return grad + (t * s.N + n) * s.C; };
    for (int64_t t = x.Tn; t < s.T; ++t) std::fill(row(t), row(t) + s.C, T(0));
    const double nl = static_cast<double>(nll[n]);
    if (x.Tn == 0) continue;
    if (!std::isfinite(nl)) {  // no alignment: zeros (zero_infinity) or NaN (as PyTorch)
      const T v = zero_infinity ? T(0) : std::numeric_limits<T>::quiet_NaN();
      for (int64_t t = 0; t < x.Tn; ++t) std::fill(row(t), row(t) + s.C, v);
      continue;
    }
    const double g = static_cast<double>(grad_nll[n]);
    // alpha rows kept every K steps and recomputed a block at a time on the way back:
    // O(sqrt(T_n) S') memory per sample instead of the T_n x S' table, for one more forward
    const int64_t K =
        std::max<int64_t>(1, static_cast<int64_t>(std::ceil(std::sqrt(double(x.Tn)))));
    const int64_t blocks = (x.Tn + K - 1) / K;
    std::vector<double> saved(blocks * x.S2), block(K * x.S2), beta(2 * x.S2), lc(s.C);
    x.alpha_first(saved.data());
    {
      std::vector<double> rows(2 * x.S2);
      double* a = rows.data();
      double* a_next = a + x.S2;
      std::copy(saved.begin(), saved.begin() + x.S2, a);
      for (int64_t t = 1; t < x.Tn; ++t) {
        x.alpha_step(t, a, a_next);
        std::swap(a, a_next);
        if (t % K == 0) std::copy(a, a + x.S2, saved.data() + (t / K) * x.S2);
      }
    }
    double* b = beta.data();
    double* b_next = b + x.S2;
    for (int64_t j = blocks - 1; j >= 0; --j) {
      const int64_t t0 = j * K, t1 = std::min(x.Tn, t0 + K);
      std::copy(saved.data() + j * x.S2, saved.data() + (j + 1) * x.S2, block.data());
      for (int64_t t = t0 + 1; t < t1; ++t)
        x.alpha_step(t, block.data() + (t - 1 - t0) * x.S2, block.data() + (t - t0) * x.S2);
      for (int64_t t = t1 - 1; t >= t0; --t) {
        if (t == x.Tn - 1)
          x.beta_last(b);
        else
          x.beta_step(t, b_next, b);
        std::fill(lc.begin(), lc.end(), -INFINITY);
        const double* a = block.data() + (t - t0) * x.S2;
        for (int64_t p = 0; p < x.S2; ++p) {
          double& v = lc[x.label(p)];
          v = ctc_lse(v, a[p] + b[p]);
        }
        T* out = row(t);
        for (int64_t c = 0; c < s.C; ++c)
          out[c] =
              lc[c] == -INFINITY ? T(0) : static_cast<T>(-std::exp(lc[c] + nl - x.lp(t, c)) * g);
        std::swap(b, b_next);
      }
    }
  }
}

template void ctc_loss_forward<float>(const CtcShape&, const float*, const int64_t*, const int64_t*,
                                      const int64_t*, float*);
template void ctc_loss_forward<double>(const CtcShape&, const double*, const int64_t*,
                                       const int64_t*, const int64_t*, double*);
template void ctc_loss_backward<float>(const CtcShape&, const float*, const float*, const int64_t*,
                                       const int64_t*, const int64_t*, const float*, bool, float*);
template void ctc_loss_backward<double>(const CtcShape&, const double*, const double*,
                                        const int64_t*, const int64_t*, const int64_t*,
                                        const double*, bool, double*);

}  // namespace dc
