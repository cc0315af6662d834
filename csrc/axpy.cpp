#include "axpy.h"

namespace dc {

template <typename T>
void axpy(int64_t n, T a, const T* x, T* y) {
#pragma omp parallel for simd schedule(static) if (n >= (int64_t(1) << 16))
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

template void axpy<float>(int64_t, float, const float*, float*);
template void axpy<double>(int64_t, double, const double*, double*);

}  // namespace dc
