// lu_factor driver (see csrc/lu.h). Small matrices: right-looking elimination one column at a
// time (swap two rows, divide the column below the pivot by it, subtract a rank-1 update from
// the trailing rows, each row one contiguous axpy). From kBlockedMin on, LAPACK getrf's
// blocked form ([Note: blocked LU]).
#include "lu.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/threads.h"
#include "gemm.h"

namespace dc {

namespace {

// Rows x columns of a trailing update below which one thread does it alone: a step then costs
// less than waking a team ([Note: serial small loops] in core/threads.h).
constexpr int64_t kUpdatePerThread = 16384;

// [Note: blocked LU]
// Unblocked elimination streams the whole trailing matrix through memory once per column (a
// rank-1 update each), so a 1024 x 1024 factorisation is bound by memory bandwidth. getrf's
// blocked form factors a panel of kPanel columns (the unblocked loop, its updates confined to
// the panel; each swap still moves whole rows, which is what LAPACK's laswp does in two
// halves), then computes the panel's rows of U to its right by a unit-lower triangular solve
// (trsm) and updates the trailing matrix by one GEMM (the one dc::gemm), where almost all of
// the arithmetic happens. The pivots are the same choices (the largest magnitude in the updated
// column); only the order of the floating-point sums differs.
constexpr int64_t kPanel = 64;
constexpr int64_t kBlockedMin = 128;  // min(m, n) from which the blocked form is used

// Columns [j0, j1) of pivoting and elimination, the updates confined to columns < c1 (c1 = n:
// plain unblocked elimination; c1 = j1: a panel). Returns the number of zero pivots.
template <typename T>
int64_t eliminate(T* a, int32_t* piv, int64_t* perm, int64_t m, int64_t n, int64_t j0, int64_t j1,
                  int64_t c1, bool threaded) {
  int64_t zero = 0;
  for (int64_t j = j0; j < j1; ++j) {
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
    const int64_t w = c1 - j - 1, rows = m - j - 1;
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

template <typename T>
int64_t factor_one(T* a, int32_t* piv, int64_t* perm, int64_t m, int64_t n, bool threaded) {
  const int64_t k = std::min(m, n);
  for (int64_t i = 0; i < m; ++i) perm[i] = i;
  if (k < kBlockedMin) return eliminate(a, piv, perm, m, n, 0, k, n, threaded);
  int64_t zero = 0;
  for (int64_t j0 = 0; j0 < k; j0 += kPanel) {
    const int64_t jb = std::min(kPanel, k - j0), c0 = j0 + jb, w = n - c0;
    zero += eliminate(a, piv, perm, m, n, j0, c0, c0, threaded);
    if (w == 0) continue;
    // U12 = L11^-1 A12 (rows j0..c0-1, columns c0..n-1), by columns blocks over threads
    constexpr int64_t kCols = 256;
    const int64_t blocks = (w + kCols - 1) / kCols;
    parallel_for(blocks, threaded && blocks > 1 && jb * jb * w > kUpdatePerThread, [&](int64_t b) {
      const int64_t lo = c0 + b * kCols, hi = std::min(n, lo + kCols);
      for (int64_t r = 1; r < jb; ++r) {
        T* __restrict__ dst = a + (j0 + r) * n;
        for (int64_t t = 0; t < r; ++t) {
          const T l = a[(j0 + r) * n + j0 + t];
          const T* src = a + (j0 + t) * n;
          for (int64_t c = lo; c < hi; ++c) dst[c] -= l * src[c];
        }
      }
    });
    // A22 -= L21 U12
    if (c0 < m)
      gemm<T>(false, false, m - c0, w, jb, T(-1), a + c0 * n + j0, n, a + j0 * n + c0, n, T(1),
              a + c0 * n + c0, n);
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
