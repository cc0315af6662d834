// Reference CTC loss: csrc/ctc.h's definitions ([Note: CTC recursion]) with the full alpha and
// beta tables of each sample, one sample after another. Always built; tests compare the
// driver against it.
#include <cmath>
#include <limits>
#include <vector>

#include "ctc.h"

namespace dc::ref {

namespace {

// alpha and beta of sample n, (Tn x S2) each, row-major; lp(t, c) = log_probs[t, n, c].
template <typename T>
void tables(const CtcShape& s, const T* log_probs, const int64_t* tgt, int64_t n, int64_t Tn,
            int64_t L, std::vector<double>& alpha, std::vector<double>& beta) {
  const int64_t S2 = 2 * L + 1;
  auto lp = [&](int64_t t, int64_t c) { return double(log_probs[(t * s.N + n) * s.C + c]); };
  alpha.assign(Tn * S2, -INFINITY);
  beta.assign(Tn * S2, -INFINITY);
  for (int64_t t = 0; t < Tn; ++t)
    for (int64_t p = 0; p < S2; ++p) {
      double v;
      if (t == 0) {
        v = p <= 1 ? 0.0 : -INFINITY;
      } else {
        const double* prev = &alpha[(t - 1) * S2];
        v = prev[p];
        if (p >= 1) v = ctc_lse(v, prev[p - 1]);
        if (ctc_can_skip(tgt, p)) v = ctc_lse(v, prev[p - 2]);
      }
      alpha[t * S2 + p] = v + lp(t, ctc_label(tgt, p, s.blank));
    }
  for (int64_t t = Tn - 1; t >= 0; --t)
    for (int64_t p = 0; p < S2; ++p) {
      double v;
      if (t == Tn - 1) {
        v = p >= S2 - 2 ? 0.0 : -INFINITY;
      } else {
        const double* next = &beta[(t + 1) * S2];
        v = next[p];
        if (p + 1 < S2) v = ctc_lse(v, next[p + 1]);
        if (p + 2 < S2 && ctc_can_skip(tgt, p + 2)) v = ctc_lse(v, next[p + 2]);
      }
      beta[t * S2 + p] = v + lp(t, ctc_label(tgt, p, s.blank));
    }
}

}  // namespace

template <typename T>
void ctc_loss_forward(const CtcShape& s, const T* log_probs, const int64_t* targets,
                      const int64_t* input_lengths, const int64_t* target_lengths, T* nll) {
  std::vector<double> alpha, beta;
  for (int64_t n = 0; n < s.N; ++n) {
    const int64_t Tn = input_lengths[n], L = target_lengths[n], S2 = 2 * L + 1;
    if (Tn == 0) {
      nll[n] = L == 0 ? T(0) : std::numeric_limits<T>::infinity();
      continue;
    }
    tables(s, log_probs, targets + n * s.S, n, Tn, L, alpha, beta);
    double ll = -INFINITY;
    for (int64_t p = S2 - 2 < 0 ? 0 : S2 - 2; p < S2; ++p)
      ll = ctc_lse(ll, alpha[(Tn - 1) * S2 + p]);
    nll[n] = static_cast<T>(-ll);
  }
}

template <typename T>
void ctc_loss_backward(const CtcShape& s, const T* grad_nll, const T* log_probs,
                       const int64_t* targets, const int64_t* input_lengths,
                       const int64_t* target_lengths, const T* nll, bool zero_infinity, T* grad) {
  std::vector<double> alpha, beta;
  for (int64_t n = 0; n < s.N; ++n) {
    const int64_t Tn = input_lengths[n], L = target_lengths[n], S2 = 2 * L + 1;
    const int64_t* tgt = targets + n * s.S;
    const double nl = double(nll[n]);
    if (Tn > 0) tables(s, log_probs, tgt, n, Tn, L, alpha, beta);
    for (int64_t t = 0; t < s.T; ++t)
      for (int64_t c = 0; c < s.C; ++c) {
        T& out = grad[(t * s.N + n) * s.C + c];
        if (t >= Tn) {
          out = T(0);
        } else if (!std::isfinite(nl)) {
          out = zero_infinity ? T(0) : std::numeric_limits<T>::quiet_NaN();
        } else {
          double lc = -INFINITY;  // log of the sum of alpha beta over the positions labelled c
          for (int64_t p = 0; p < S2; ++p)
            if (ctc_label(tgt, p, s.blank) == c)
              lc = ctc_lse(lc, alpha[t * S2 + p] + beta[t * S2 + p]);
          const double lp = double(log_probs[(t * s.N + n) * s.C + c]);
          out = lc == -INFINITY ? T(0)
                                : static_cast<T>(-std::exp(lc + nl - lp) * double(grad_nll[n]));
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

}  // namespace dc::ref
