// Reference scans: csrc/scan.h's forward definitions as plain loops over (outer, inner) lines,
// accumulating in double. Always built; tests compare the kernels against them.
#include <cmath>

#include "scan.h"

namespace dc::ref {

template <typename T>
void scan_forward(ScanOp op, const ScanShape& s, const T* x, T* y, int64_t* idx, bool reverse) {
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t k = 0; k < s.inner; ++k) {
      double acc = op == ScanOp::prod ? 1.0 : op == ScanOp::logsumexp ? -INFINITY : 0.0;
      T best = T(0);
      int64_t best_i = 0;
      for (int64_t step = 0; step < s.n; ++step) {
        const int64_t i = reverse ? s.n - 1 - step : step;
        const int64_t e = (o * s.n + i) * s.inner + k;
        const double v = static_cast<double>(x[e]);
        switch (op) {
          case ScanOp::sum:
            acc += v;
            break;
          case ScanOp::prod:
            acc *= v;
            break;
          case ScanOp::logsumexp: {
            // the definition, log(exp(acc) + exp(v)), shifted by the larger term
            const double m = std::fmax(acc, v);
            if (std::isnan(acc) || std::isnan(v))
              acc = NAN;
            else if (std::isinf(m))
              acc = m;
            else
              acc = m + std::log(std::exp(acc - m) + std::exp(v - m));
            break;
          }
          case ScanOp::max:
          case ScanOp::min: {
            const bool better =
                op == ScanOp::max ? x[e] >= best : x[e] <= best;  // ties: the later index
            if (step == 0 || (!std::isnan(best) && (std::isnan(x[e]) || better))) {
              best = x[e];
              best_i = i;
            }
            y[e] = best;
            idx[e] = best_i;
            continue;
          }
        }
        y[e] = static_cast<T>(acc);
      }
    }
}

template void scan_forward<float>(ScanOp, const ScanShape&, const float*, float*, int64_t*, bool);
template void scan_forward<double>(ScanOp, const ScanShape&, const double*, double*, int64_t*,
                                   bool);

}  // namespace dc::ref
