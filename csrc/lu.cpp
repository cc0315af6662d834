// lu_factor driver (see csrc/lu.h): right-looking elimination, one column at a time. Each
// step swaps two rows, divides the column below the pivot by it and subtracts a rank-1
// update from the trailing rows; the rows of that update are independent (row-major: each is
// one contiguous axpy the compiler vectorises), so a large matrix splits them over threads,
// and a batch of small matrices runs one matrix per thread instead.
#include "lu.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/threads.h"

namespace dc {

namespace {

// Rows of the trailing update per thread below which one thread does a step alone: a step
// then costs less than waking a team ([Note: serial small loops] in core/threads.h).
constexpr int64_t kUpdatePerThread = 16384;

template <typename T>
int64_t factor_one(T* a, int32_t* piv, int64_t* perm, int64_t m, int64_t n, bool threaded) {
  const int64_t k = std::min(m, n);
  for (int64_t i = 0; i < m; ++i) perm[i] = i;
  int64_t zero = 0;
  for (int64_t j = 0; j < k; ++j) {
    int64_t p = j;
    T best = std::abs(a[j * n + j]);
    for (int64_t i = j + 1; i < m; ++i) {
      const T v = std::abs(a[i * n + j]);
      if (v > best) best = v, p = i;
    }
    piv[j] = static_cast<int32_t>(p);
    if (a[p * n + j] == T(0)) {  // nothing to eliminate with (getrf: info = j + 1)
      ++zero;
      continue;
    }
    if (p != j) {
      std::swap_ranges(a + j * n, a + (j + 1) * n, a + p * n);
      std::swap(perm[j], perm[p]);
    }
    const T d = a[j * n + j];
    const T* rj = a + j * n + j + 1;
    const int64_t w = n - j - 1, rows = m - j - 1;
    auto update = [&](int64_t r) {
      T* ri = a + (j + 1 + r) * n + j;
      const T l = ri[0] / d;
      ri[0] = l;
      T* __restrict__ dst = ri + 1;
      for (int64_t c = 0; c < w; ++c) dst[c] -= l * rj[c];
    };
    parallel_for(rows, threaded && rows * w > kUpdatePerThread, update);
  }
  return zero;
}

}  // namespace

template <typename T>
int64_t lu_factor(const T* x, T* lu, int32_t* piv, int64_t* perm, int64_t batch, int64_t m,
                  int64_t n) {
  const int64_t mn = m * n, k = std::min(m, n);
  int64_t zero = 0;
  auto one = [&](int64_t b, bool threaded) {
    if (mn) std::memcpy(lu + b * mn, x + b * mn, sizeof(T) * mn);
    return factor_one(lu + b * mn, piv + b * k, perm + b * m, m, n, threaded);
  };
  if (batch == 1) return one(0, true);
  // a batch: one matrix per thread (each factorisation is sequential in its columns)
#pragma omp parallel for schedule(dynamic) reduction(+ : zero) if (batch * mn * k > 65536)
  for (int64_t b = 0; b < batch; ++b) zero += one(b, false);
  return zero;
}

template int64_t lu_factor<float>(const float*, float*, int32_t*, int64_t*, int64_t, int64_t,
                                  int64_t);
template int64_t lu_factor<double>(const double*, double*, int32_t*, int64_t*, int64_t, int64_t,
                                   int64_t);

}  // namespace dc
