// Connectionist temporal classification loss (Graves et al., 2006), forward and backward, in
// log space, with PyTorch's conventions (F.ctc_loss).
//
//   log_probs is (T, N, C): log-probabilities of C classes (one of them the blank) at T time
//   steps for N samples; targets is (N, S) int64, sample n's labels in targets[n, :L_n]
//   (L_n = target_lengths[n] <= S, none of them the blank); input_lengths[n] <= T is the
//   number of time steps of sample n. nll[n] = -log p(targets[n] | log_probs[:T_n, n]), the
//   sum over every alignment (a path of T_n classes that collapses, repeats merged then blanks
//   removed, to the target) of the product of its probabilities: +inf when none exists
//   (T_n too short for the labels and their repeats).
//
// [Note: CTC recursion] The extended target l' = (blank, l1, blank, l2, ..., lL, blank) has
// S' = 2L + 1 positions. alpha_t(s) = log p(prefix l'[:s+1] emitted by steps 0..t, ending at
// s): alpha_0(0) = lp_0(blank), alpha_0(1) = lp_0(l1), and
//   alpha_t(s) = lse(alpha_{t-1}(s), alpha_{t-1}(s-1), [alpha_{t-1}(s-2)]) + lp_t(l'(s)),
// the skip from s-2 allowed when l'(s) is a label different from l'(s-2) (a repeated label
// needs the blank between its copies). nll = -lse(alpha_{T-1}(S'-1), alpha_{T-1}(S'-2)).
// beta is the same recursion run backwards (beta_t(s) includes lp_t(l'(s))), and
//   d nll / d lp_t(c) = -exp(lse_{s: l'(s) = c}(alpha_t(s) + beta_t(s)) + nll - lp_t(c))
// for t < T_n, 0 for later steps. This is the exact gradient with respect to log_probs as
// given; PyTorch's kernel adds exp(lp_t(c)), which is the same after a log_softmax (its
// backward removes any term whose sum over c is constant) but not for unnormalised inputs.
// Sums run in double whatever the storage type. A sample whose nll is infinite gets NaN
// gradients (as PyTorch), or zeros with zero_infinity.
//
// Parallel over samples (OpenMP); forward keeps two rows of alpha per sample, backward every
// ceil(sqrt(T_n))-th row of alpha, one block of rows recomputed from it, and two rows of beta.
#pragma once

#include <cmath>
#include <cstdint>

#include "core/device_dispatch.h"

namespace dc {

struct CtcShape {
  int64_t T, N, C, S;  // time steps, samples, classes, target width
  int64_t blank;
};

// nll (N,) assigned.
template <typename T>
void ctc_loss_forward(const CtcShape& s, const T* log_probs, const int64_t* targets,
                      const int64_t* input_lengths, const int64_t* target_lengths, T* nll);

// grad (T, N, C) assigned: grad_nll[n] * d nll[n] / d log_probs[:, n, :] ([Note: CTC recursion]);
// nll is the forward's output.
template <typename T>
void ctc_loss_backward(const CtcShape& s, const T* grad_nll, const T* log_probs,
                       const int64_t* targets, const int64_t* input_lengths,
                       const int64_t* target_lengths, const T* nll, bool zero_infinity, T* grad);

template <typename T>
using ctc_forward_fn = void(const CtcShape&, const T*, const int64_t*, const int64_t*,
                            const int64_t*, T*);
template <typename T>
inline DeviceStub<ctc_forward_fn<T>> ctc_forward_device_stub{"ctc_loss_forward",
                                                             &ctc_loss_forward<T>};
template <typename T>
using ctc_backward_fn = void(const CtcShape&, const T*, const T*, const int64_t*, const int64_t*,
                             const int64_t*, const T*, bool, T*);
template <typename T>
inline DeviceStub<ctc_backward_fn<T>> ctc_backward_device_stub{"ctc_loss_backward",
                                                               &ctc_loss_backward<T>};

namespace ref {
// csrc/ref/ctc_ref.cpp: the definitions above with full alpha and beta tables, one sample after
// another (no threads).
template <typename T>
void ctc_loss_forward(const CtcShape& s, const T* log_probs, const int64_t* targets,
                      const int64_t* input_lengths, const int64_t* target_lengths, T* nll);
template <typename T>
void ctc_loss_backward(const CtcShape& s, const T* grad_nll, const T* log_probs,
                       const int64_t* targets, const int64_t* input_lengths,
                       const int64_t* target_lengths, const T* nll, bool zero_infinity, T* grad);
}  // namespace ref

// log(exp(a) + exp(b)) without overflow; -inf is log 0 and leaves the other term.
inline double ctc_lse(double a, double b) {
  if (a == -INFINITY) return b;
  if (b == -INFINITY) return a;
  return a > b ? a + std::log1p(std::exp(b - a)) : b + std::log1p(std::exp(a - b));
}

// The extended target of [Note: CTC recursion]: l'(s) and whether s may be reached from s - 2.
inline int64_t ctc_label(const int64_t* target, int64_t s, int64_t blank) {
  return (s & 1) ? target[s >> 1] : blank;
}
inline bool ctc_can_skip(const int64_t* target, int64_t s) {
  return (s & 1) && s >= 3 && target[s >> 1] != target[(s >> 1) - 1];
}

}  // namespace dc
