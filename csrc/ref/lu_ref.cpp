// Reference lu_factor: csrc/lu.h's definition with the textbook loops (scan for the pivot,
// swap, then for every row below: multiplier, then every column right of the pivot), one
// matrix at a time, single-threaded. Always built; tests compare the driver against it.
#include <cmath>
#include <utility>

#include "lu.h"

namespace dc::ref {

template <typename T>
int64_t lu_factor(const T* x, T* lu, int32_t* piv, int64_t* perm, int64_t batch, int64_t m,
                  int64_t n) {
  const int64_t k = m < n ? m : n;
  int64_t zero = 0;
  for (int64_t b = 0; b < batch; ++b) {
    T* a = lu + b * m * n;
    for (int64_t e = 0; e < m * n; ++e) a[e] = x[b * m * n + e];
    int64_t* pm = perm + b * m;
    for (int64_t i = 0; i < m; ++i) pm[i] = i;
    for (int64_t j = 0; j < k; ++j) {
      int64_t p = j;
      for (int64_t i = j + 1; i < m; ++i)
        if (std::abs(a[i * n + j]) > std::abs(a[p * n + j])) p = i;
      piv[b * k + j] = static_cast<int32_t>(p);
      if (a[p * n + j] == T(0)) {
        ++zero;
        continue;
      }
      for (int64_t c = 0; c < n; ++c) std::swap(a[j * n + c], a[p * n + c]);
      std::swap(pm[j], pm[p]);
      for (int64_t i = j + 1; i < m; ++i) {
        a[i * n + j] /= a[j * n + j];
        for (int64_t c = j + 1; c < n; ++c) a[i * n + c] -= a[i * n + j] * a[j * n + c];
      }
    }
  }
  return zero;
}

template int64_t lu_factor<float>(const float*, float*, int32_t*, int64_t*, int64_t, int64_t,
                                  int64_t);
template int64_t lu_factor<double>(const double*, double*, int32_t*, int64_t*, int64_t, int64_t,
                                   int64_t);

}  // namespace dc::ref
