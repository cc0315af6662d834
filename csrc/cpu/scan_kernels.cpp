// Scan kernels, one ISA copy (see [Note: one source, three ISAs] and csrc/scan.h).
//
// Forward: blocks of lines (see csrc/scan.h) keep one running value per line (in double for
// sums and products of float32, as PyTorch's CPU scans).
// Backward: line by line (a column of the block at stride inner), except the cumulative
// product's across columns ([Note: cumprod backward across columns]).
#include <cmath>
#include <cstdint>

#include "scan.h"

namespace dc {
namespace DC_ISA_NS {
namespace {

// log(exp(a) + exp(b)) without overflow; NaN propagates, -inf is the identity.
inline double log_add_exp(double a, double b) {
  if (a != a || b != b) return a + b;
  const double mx = a > b ? a : b, mn = a > b ? b : a;
  if (mx == -INFINITY || mx == INFINITY) return mx;
  return mx + std::log1p(std::exp(mn - mx));
}

// The running value acc = f(acc, x) of each of B lines (element i of line b at
// x[i*ss + b*cs]), written after every step. Columns (cs == 1): one pass over the block per
// step, vectorised across it. Rows (cs != 1): R rows at a time in registers, R independent
// dependency chains (one row alone is bound by the latency of one add per element), skewed
// ([Note: skewed rows]).
//
// [Note: skewed rows] Rows whose length is a multiple of 1024 floats lie a multiple of 4 KiB
// apart. Walked in step, R rows load and store addresses equal in their low 12 bits, which
// the core takes for a store-to-load dependency until the store's full address resolves
// ("4K aliasing"), and they all fall in the same L1 set (8 ways for 2R streams): cumprod
// along the rows of (256, 4096) ran 15x slower than along (256, 4160). So row r runs r cache
// lines behind row 0 (element s - r * kSkew at step s): the rows' current addresses differ
// by whole lines. Each row still gets the same operations in the same order.
template <int R, typename T, typename F>
inline void running_rows(int64_t n, int64_t cs, const T* __restrict x, T* __restrict y,
                         bool reverse, double init, F&& f) {
  constexpr int64_t kSkew = 64 / sizeof(T);
  double acc[R];
  for (int r = 0; r < R; ++r) acc[r] = init;
  // step s of row r is its element j = s - r * kSkew, at x[r * rs + i0 + dir * s]: the rows
  // are rs elements apart (cs less or more the skew)
  const int64_t dir = reverse ? -1 : 1, i0 = reverse ? n - 1 : 0;
  const int64_t rs = cs - dir * kSkew;
  auto step = [&](int r, int64_t s) {
    const int64_t e = r * rs + i0 + dir * s;
    acc[r] = f(acc[r], static_cast<double>(x[e]));
    y[e] = static_cast<T>(acc[r]);
  };
  auto some = [&](int64_t s) {  // the rows whose element s - r * kSkew exists
    for (int r = 0; r < R; ++r) {
      const int64_t j = s - r * kSkew;
      if (j >= 0 && j < n) step(r, s);
    }
  };
  const int64_t lag = (R - 1) * kSkew;
  int64_t s = 0;
  for (; s < lag; ++s) some(s);  // the ramp (every step of a row shorter than lag)
  for (; s < n; ++s)             // every row in range: no checks
    for (int r = 0; r < R; ++r) step(r, s);
  for (; s < n + lag; ++s) some(s);  // the tail
}

template <typename T, typename F>
inline void running(int64_t n, int64_t ss, int64_t cs, int64_t B, const T* __restrict x,
                    T* __restrict y, bool reverse, double init, F&& f) {
  if (cs != 1) {
    int64_t b = 0;
    for (; b + 8 <= B; b += 8) running_rows<8>(n, cs, x + b * cs, y + b * cs, reverse, init, f);
    for (; b < B; ++b) running_rows<1>(n, cs, x + b * cs, y + b * cs, reverse, init, f);
    return;
  }
  double acc[kScanBlock];
  for (int64_t b = 0; b < B; ++b) acc[b] = init;
  for (int64_t step = 0; step < n; ++step) {
    const int64_t off = (reverse ? n - 1 - step : step) * ss;
    const T* __restrict xr = x + off;
    T* __restrict yr = y + off;
    for (int64_t b = 0; b < B; ++b) {
      acc[b] = f(acc[b], static_cast<double>(xr[b]));
      yr[b] = static_cast<T>(acc[b]);
    }
  }
}

// [Note: vector row scan] Along the last axis a sum of R rows at a time still costs a
// convert, a dependent add and a convert per element (the running_rows loop above), so it runs
// eight elements at a time instead: widen to double, scan inside the vector (three shifted
// adds: log2 8 steps), add the row's running value held in every lane, narrow and store; the
// running value is the last lane, broadcast (one permute and one add of latency per eight
// elements, and four rows in flight hide it). The double partial sums are associated
// differently from the element-by-element loop: far below the float32 rounding of the output
// (float64 inputs: a few ulps of the sum). Products stay element by element, so that a
// cumprod's gradient is bitwise the same along any axis ([Note: cumprod backward across
// columns]).
typedef double ScanVd __attribute__((vector_size(64)));

template <typename T>
inline void load8(const T* p, ScanVd& out) {
  T v[8];
  __builtin_memcpy(v, p, sizeof(v));
  for (int k = 0; k < 8; ++k) out[k] = static_cast<double>(v[k]);
}

template <typename T>
inline void store8(T* p, const ScanVd& v) {
  T o[8];
  for (int k = 0; k < 8; ++k) o[k] = static_cast<T>(v[k]);
  __builtin_memcpy(p, o, sizeof(o));
}

// The inclusive sums of the eight lanes of v: forward (lane k sums lanes 0..k) or backward
// (lanes k..7).
template <bool kBackward>
inline void scan8(ScanVd& v) {
  const ScanVd z = {};
  if constexpr (!kBackward) {
    v += __builtin_shufflevector(z, v, 0, 8, 9, 10, 11, 12, 13, 14);
    v += __builtin_shufflevector(z, v, 0, 1, 8, 9, 10, 11, 12, 13);
    v += __builtin_shufflevector(z, v, 0, 1, 2, 3, 8, 9, 10, 11);
  } else {
    v += __builtin_shufflevector(v, z, 1, 2, 3, 4, 5, 6, 7, 8);
    v += __builtin_shufflevector(v, z, 2, 3, 4, 5, 6, 7, 8, 9);
    v += __builtin_shufflevector(v, z, 4, 5, 6, 7, 8, 9, 10, 11);
  }
}

// R rows (row r at x + r * cs) of n elements, summed forward or backward (reverse).
template <int R, bool kBackward, typename T>
inline void vector_rows(int64_t n, int64_t cs, const T* __restrict x, T* __restrict y) {
  ScanVd carry[R];
  for (int r = 0; r < R; ++r) carry[r] = ScanVd{};
  const int64_t full = n / 8 * 8, head = n - full;  // backward: the blocks end at n
  for (int64_t blk = 0; blk < full; blk += 8) {
    const int64_t i = kBackward ? n - 8 - blk : blk;
    for (int r = 0; r < R; ++r) {
      ScanVd v;
      load8(x + r * cs + i, v);
      scan8<kBackward>(v);
      v += carry[r];
      store8(y + r * cs + i, v);
      carry[r] = kBackward ? __builtin_shufflevector(v, v, 0, 0, 0, 0, 0, 0, 0, 0)
                           : __builtin_shufflevector(v, v, 7, 7, 7, 7, 7, 7, 7, 7);
    }
  }
  for (int r = 0; r < R; ++r) {  // the last n % 8 elements (backward: the first ones)
    double acc = carry[r][0];
    for (int64_t k = 0; k < head; ++k) {
      const int64_t i = kBackward ? head - 1 - k : full + k;
      const double v = static_cast<double>(x[r * cs + i]);
      acc += v;
      y[r * cs + i] = static_cast<T>(acc);
    }
  }
}

template <bool kBackward, typename T>
inline void vector_row_block(int64_t n, int64_t cs, int64_t B, const T* x, T* y) {
  int64_t b = 0;
  for (; b + 4 <= B; b += 4) vector_rows<4, kBackward>(n, cs, x + b * cs, y + b * cs);
  for (; b < B; ++b) vector_rows<1, kBackward>(n, cs, x + b * cs, y + b * cs);
}

template <typename T>
inline void vector_row_sums(int64_t n, int64_t cs, int64_t B, const T* x, T* y, bool reverse) {
  if (reverse)
    vector_row_block<true>(n, cs, B, x, y);
  else
    vector_row_block<false>(n, cs, B, x, y);
}

// cummax (mx) / cummin over B <= R lines as above: ties take the later index; a NaN wins and
// is never replaced.
template <typename T, bool mx, int R>
inline void extreme_lines(int64_t n, int64_t ss, int64_t cs, const T* __restrict x, T* __restrict y,
                          int64_t* __restrict idx, int64_t B) {
  T ext[R];
  int64_t at[R];
  for (int64_t b = 0; b < B; ++b) {
    ext[b] = x[b * cs];
    at[b] = 0;
  }
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t b = 0; b < B; ++b) {
      const int64_t e = i * ss + b * cs;
      const T v = x[e], c = ext[b];
      const bool take = c == c && (v != v || (mx ? v >= c : v <= c));
      ext[b] = take ? v : c;
      at[b] = take ? i : at[b];
      y[e] = ext[b];
      idx[e] = at[b];
    }
  }
}

// [Note: running extremum of a row] Along a contiguous row (the last axis) the running max is
// one compare and a rarely taken branch per element, as PyTorch's loop: on most data the
// extremum changes O(log n) times, so the branch predicts and nothing chains one element to
// the next, while a branch-free select puts a compare + blend latency on every element.
// Rows go one at a time so the loop streams one input and two outputs; interleaving eight
// rows (n apart: 4096 floats = 16 KB) put 24 streams in the same L1 sets and ran 1.6x slower
// than PyTorch. !(v < c) takes v >= c (ties: the later index) and a NaN, after which the row
// is NaN with that index to its end.
template <typename T, bool mx>
inline void extreme_row(int64_t n, const T* __restrict x, T* __restrict y,
                        int64_t* __restrict idx) {
  T c = x[0];
  int64_t at = 0;
  for (int64_t i = 0; i < n; ++i) {
    const T v = x[i];
    if (__builtin_expect(mx ? !(v < c) : !(v > c), 0)) {
      c = v;
      at = i;
      if (v != v) {
        for (; i < n; ++i) {
          y[i] = c;
          idx[i] = at;
        }
        return;
      }
    }
    y[i] = c;
    idx[i] = at;
  }
}

template <typename T, bool mx>
inline void running_extreme(int64_t n, int64_t ss, int64_t cs, int64_t B, const T* x, T* y,
                            int64_t* idx) {
  if (cs == 1) {
    extreme_lines<T, mx, kScanBlock>(n, ss, 1, x, y, idx, B);
    return;
  }
  for (int64_t b = 0; b < B; ++b) extreme_row<T, mx>(n, x + b * cs, y + b * cs, idx + b * cs);
}

template <typename T>
void forward_block(ScanOp op, int64_t n, int64_t ss, int64_t cs, int64_t B, const T* x, T* y,
                   int64_t* idx, bool reverse) {
  switch (op) {
    case ScanOp::sum:  // rows: [Note: vector row scan]
      if (cs != 1)
        vector_row_sums(n, cs, B, x, y, reverse);
      else
        running(n, ss, cs, B, x, y, reverse, 0.0, [](double a, double v) { return a + v; });
      break;
    case ScanOp::prod:  // (element by element: [Note: cumprod backward across columns])
      running(n, ss, cs, B, x, y, reverse, 1.0, [](double a, double v) { return a * v; });
      break;
    case ScanOp::logsumexp:
      running(n, ss, cs, B, x, y, reverse, -INFINITY, log_add_exp);
      break;
    case ScanOp::max:
      running_extreme<T, true>(n, ss, cs, B, x, y, idx);
      break;
    case ScanOp::min:
      running_extreme<T, false>(n, ss, cs, B, x, y, idx);
      break;
  }
}

// The cumulative product's gradient along one line (element i at at(i)): before the line's
// first zero z, dx[i] = (sum_{j >= i, j < z} dy[j] y[j]) / x[i]; at z, the sum over j >= z of
// dy[j] times the product of x[0..j] without x[z]; after z, 0.
template <typename T, typename At>
inline void prod_line(int64_t n, const T* __restrict x, const T* __restrict y,
                      const T* __restrict dy, T* __restrict dx, At&& at) {
  int64_t z = n;  // the first zero of the line
  for (int64_t i = 0; i < n; ++i)
    if (x[at(i)] == T(0)) {
      z = i;
      break;
    }
  double acc = 0;
  for (int64_t i = z - 1; i >= 0; --i) {
    acc += static_cast<double>(dy[at(i)]) * static_cast<double>(y[at(i)]);
    dx[at(i)] = static_cast<T>(acc / static_cast<double>(x[at(i)]));
  }
  if (z < n) {
    // d y[j] / d x[z] = prod_{k <= j, k != z} x[k] for j >= z; nothing after z
    double q = z > 0 ? static_cast<double>(y[at(z - 1)]) : 1.0, s = 0;
    for (int64_t j = z; j < n; ++j) {
      if (j > z) q *= static_cast<double>(x[at(j)]);
      s += static_cast<double>(dy[at(j)]) * q;
    }
    dx[at(z)] = static_cast<T>(s);
    for (int64_t i = z + 1; i < n; ++i) dx[at(i)] = T(0);
  }
}

// [Note: cumprod backward across columns] Along an axis other than the last (inner > 1), the
// columns [k0, k1) of a block go down their rows together: one reverse pass reads each row of
// x, y, dy and writes dx contiguously, vectorised across the columns, instead of walking each
// column at a stride of `inner` elements (a cache line per element; 12x slower on (256, 4096)
// along axis 0). The pass assumes no zero; a column that has one (noted on the way) is redone
// by prod_line, so every column gets the same operations in the same order as the line by line
// loop, zeros or not.
template <typename T>
void prod_columns(int64_t n, int64_t inner, const T* __restrict x, const T* __restrict y,
                  const T* __restrict dy, T* __restrict dx, int64_t k0, int64_t k1) {
  const int64_t B = k1 - k0;
  double acc[kScanBlock];
  bool zero[kScanBlock];
  for (int64_t b = 0; b < B; ++b) {
    acc[b] = 0;
    zero[b] = false;
  }
  for (int64_t i = n - 1; i >= 0; --i) {
    const int64_t off = i * inner + k0;
    const T* __restrict xr = x + off, * __restrict yr = y + off, * __restrict gr = dy + off;
    T* __restrict dr = dx + off;
    for (int64_t b = 0; b < B; ++b) {
      acc[b] += static_cast<double>(gr[b]) * static_cast<double>(yr[b]);
      dr[b] = static_cast<T>(acc[b] / static_cast<double>(xr[b]));
      zero[b] |= xr[b] == T(0);
    }
  }
  for (int64_t b = 0; b < B; ++b)
    if (zero[b]) {
      const int64_t k = k0 + b;
      prod_line(n, x, y, dy, dx, [&](int64_t i) { return i * inner + k; });
    }
}

template <typename T>
bool backward_lines(ScanOp op, int64_t n, int64_t inner, const T* __restrict x,
                    const T* __restrict y, const int64_t* __restrict idx, const T* __restrict dy,
                    T* __restrict dx, int64_t k0, int64_t k1, int64_t* bad) {
  if (op == ScanOp::prod && inner > 1 && k1 - k0 <= kScanBlock) {
    prod_columns(n, inner, x, y, dy, dx, k0, k1);
    return true;
  }
  for (int64_t k = k0; k < k1; ++k) {
    auto at = [&](int64_t i) { return i * inner + k; };
    switch (op) {
      case ScanOp::sum: {  // (the driver runs a reverse forward scan instead)
        double acc = 0;
        for (int64_t i = n - 1; i >= 0; --i) {
          acc += static_cast<double>(dy[at(i)]);
          dx[at(i)] = static_cast<T>(acc);
        }
        break;
      }
      case ScanOp::prod:
        prod_line(n, x, y, dy, dx, at);
        break;
      case ScanOp::max:
      case ScanOp::min: {
        // dx[idx[i]] += dy[i]. A running extremum's index only moves forward, so it is a few
        // runs of equal j: each run is summed in a register (in the same order) and added
        // once, instead of a load-add-store per element chained through memory.
        for (int64_t i = 0; i < n; ++i) dx[at(i)] = T(0);
        int64_t cur = -1;
        T acc = T(0);
        for (int64_t i = 0; i < n; ++i) {
          const int64_t j = idx[at(i)];
          if (static_cast<uint64_t>(j) >= static_cast<uint64_t>(n)) {  // (j < 0 included)
            *bad = j;
            return false;
          }
          if (j != cur) {
            if (cur >= 0) dx[at(cur)] += acc;
            cur = j;
            acc = T(0);
          }
          acc += dy[at(i)];
        }
        if (cur >= 0) dx[at(cur)] += acc;
        break;
      }
      case ScanOp::logsumexp: {
        // dx[i] = exp(x[i]) * sum_{j >= i} dy[j] exp(-y[j]), the sum split by the sign of dy
        // and kept as logs: lp = log sum of dy[j] exp(-y[j]) over dy > 0, ln over dy < 0
        double lp = -INFINITY, ln = -INFINITY;
        for (int64_t i = n - 1; i >= 0; --i) {
          const double g = static_cast<double>(dy[at(i)]), yi = static_cast<double>(y[at(i)]);
          if (g > 0)
            lp = log_add_exp(lp, std::log(g) - yi);
          else if (g < 0)
            ln = log_add_exp(ln, std::log(-g) - yi);
          else if (g != g)
            lp = g;
          const double xi = static_cast<double>(x[at(i)]);
          dx[at(i)] = static_cast<T>(std::exp(xi + lp) - std::exp(xi + ln));
        }
        break;
      }
    }
  }
  return true;
}

template <typename T>
const ScanKernels<T>* kernels() {
  static const ScanKernels<T> k = {&forward_block<T>, &backward_lines<T>};
  return &k;
}

}  // namespace

DC_REGISTER_DISPATCH_T(scan_stub, float, &kernels<float>);
DC_REGISTER_DISPATCH_T(scan_stub, double, &kernels<double>);

}  // namespace DC_ISA_NS
}  // namespace dc
