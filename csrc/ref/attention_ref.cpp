// Reference attention: the Lq x Lk score matrix of each (b, h) materialised in double, the
// textbook formulas, no blocking. Same conventions as the fused kernel (attention.h): boolean
// masks keep where true, float masks add, causal keeps j <= i, a fully masked row gives zeros,
// and the dropout mask comes from the same counter hash, so tests compare the two exactly.
#include <cmath>
#include <limits>
#include <vector>

#include "attention.h"
#include "core/counter_rng.h"

namespace dc {
namespace ref {
namespace {

// P (Lq x Lk, softmax of the masked scaled scores; rows with nothing attendable all zero) and
// Z (the dropout keep mask times 1 / (1 - p)) for head (b, h).
template <typename T>
void probabilities(const AttnProblem& p, const AttnMask<T>& mask, const T* q, const T* k, int64_t b,
                   int64_t h, std::vector<double>& P, std::vector<double>& Z) {
  const int64_t Lq = p.Lq, Lk = p.Lk, D = p.D;
  const double ninf = -std::numeric_limits<double>::infinity();
  const uint32_t threshold = dropout_threshold(p.dropout_p);
  P.assign(Lq * Lk, 0.0);
  Z.assign(Lq * Lk, 1.0);
  for (int64_t i = 0; i < Lq; ++i) {
    double* row = P.data() + i * Lk;
    double mx = ninf;
    for (int64_t j = 0; j < Lk; ++j) {
      double s = 0.0;
      for (int64_t x = 0; x < D; ++x) s += double(q[i * D + x]) * double(k[j * D + x]);
      s *= p.scale;
      const int64_t mi = b * mask.sb + h * mask.sh + i * mask.si + j * mask.sj;
      if (mask.bias) s += double(mask.bias[mi]);
      if (mask.keep && !mask.keep[mi]) s = ninf;
      if (p.causal && j > i) s = ninf;
      row[j] = s;
      mx = std::max(mx, s);
    }
    if (mx == ninf) {  // fully masked: zeros
      for (int64_t j = 0; j < Lk; ++j) row[j] = 0.0;
      continue;
    }
    double sum = 0.0;
    for (int64_t j = 0; j < Lk; ++j) sum += (row[j] = std::exp(row[j] - mx));
    for (int64_t j = 0; j < Lk; ++j) row[j] /= sum;
    if (p.dropout_p > 0.0)
      for (int64_t j = 0; j < Lk; ++j) {
        const uint64_t counter = static_cast<uint64_t>(((b * p.H + h) * Lq + i) * Lk + j);
        Z[i * Lk + j] =
            counter_bits(p.seed, counter) >= threshold ? 1.0 / (1.0 - p.dropout_p) : 0.0;
      }
  }
}

}  // namespace

template <typename T>
void attention_forward(const AttnProblem& p, const AttnMask<T>& mask, const T* q, const T* k,
                       const T* v, T* o) {
  const int64_t Lq = p.Lq, Lk = p.Lk, D = p.D, Dv = p.Dv;
  std::vector<double> P, Z;
  for (int64_t b = 0; b < p.B; ++b)
    for (int64_t h = 0; h < p.H; ++h) {
      const int64_t bh = b * p.H + h;
      probabilities(p, mask, q + bh * Lq * D, k + bh * Lk * D, b, h, P, Z);
      const T* vh = v + bh * Lk * Dv;
      for (int64_t i = 0; i < Lq; ++i)
        for (int64_t x = 0; x < Dv; ++x) {
          double acc = 0.0;
          for (int64_t j = 0; j < Lk; ++j)
            acc += P[i * Lk + j] * Z[i * Lk + j] * double(vh[j * Dv + x]);
          o[(bh * Lq + i) * Dv + x] = static_cast<T>(acc);
        }
    }
}

// dPd = dO V^T, dP = dPd * Z, dS = P * (dP - rowsum(P * dP)) (the softmax Jacobian written
// out, not the kernel's delta = rowsum(dO * O) shortcut), dQ = scale dS K, dK = scale dS^T Q,
// dV = (P * Z)^T dO.
template <typename T>
void attention_backward(const AttnProblem& p, const AttnMask<T>& mask, const T* q, const T* k,
                        const T* v, const T* go, T* gq, T* gk, T* gv) {
  const int64_t Lq = p.Lq, Lk = p.Lk, D = p.D, Dv = p.Dv;
  std::vector<double> P, Z, dS(Lq * Lk);
  for (int64_t b = 0; b < p.B; ++b)
    for (int64_t h = 0; h < p.H; ++h) {
      const int64_t bh = b * p.H + h;
      const T* qh = q + bh * Lq * D;
      const T* kh = k + bh * Lk * D;
      const T* vh = v + bh * Lk * Dv;
      const T* gh = go + bh * Lq * Dv;
      probabilities(p, mask, qh, kh, b, h, P, Z);
      for (int64_t i = 0; i < Lq; ++i) {
        double rowsum = 0.0;
        for (int64_t j = 0; j < Lk; ++j) {
          double dpd = 0.0;
          for (int64_t x = 0; x < Dv; ++x) dpd += double(gh[i * Dv + x]) * double(vh[j * Dv + x]);
          dS[i * Lk + j] = dpd * Z[i * Lk + j];
          rowsum += P[i * Lk + j] * dS[i * Lk + j];
        }
        for (int64_t j = 0; j < Lk; ++j) dS[i * Lk + j] = P[i * Lk + j] * (dS[i * Lk + j] - rowsum);
      }
      for (int64_t i = 0; i < Lq; ++i)
        for (int64_t x = 0; x < D; ++x) {
          double acc = 0.0;
          for (int64_t j = 0; j < Lk; ++j) acc += dS[i * Lk + j] * double(kh[j * D + x]);
          gq[(bh * Lq + i) * D + x] = static_cast<T>(p.scale * acc);
        }
      for (int64_t j = 0; j < Lk; ++j) {
        for (int64_t x = 0; x < D; ++x) {
          double acc = 0.0;
          for (int64_t i = 0; i < Lq; ++i) acc += dS[i * Lk + j] * double(qh[i * D + x]);
          gk[(bh * Lk + j) * D + x] = static_cast<T>(p.scale * acc);
        }
        for (int64_t x = 0; x < Dv; ++x) {
          double acc = 0.0;
          for (int64_t i = 0; i < Lq; ++i)
            acc += P[i * Lk + j] * Z[i * Lk + j] * double(gh[i * Dv + x]);
          gv[(bh * Lk + j) * Dv + x] = static_cast<T>(acc);
        }
      }
    }
}

#define DC_INSTANTIATE(T)                                                                         \
  template void attention_forward<T>(const AttnProblem&, const AttnMask<T>&, const T*, const T*,  \
                                     const T*, T*);                                               \
  template void attention_backward<T>(const AttnProblem&, const AttnMask<T>&, const T*, const T*, \
                                      const T*, const T*, T*, T*, T*);
DC_INSTANTIATE(float)
DC_INSTANTIATE(double)
#undef DC_INSTANTIATE

}  // namespace ref
}  // namespace dc
