// Pooling drivers: threading over (N*C) planes, backward passes, global average pooling.
// See csrc/pool.h; the vectorised forward kernels are in csrc/cpu/pool_kernels.cpp.
#include "pool.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <vector>

#include "activation.h"  // row_sum
#include "core/threads.h"

namespace dc {

namespace {

// Run f(first_plane, nplanes) over chunks of planes, in parallel when there is enough work.
// Chunks of ~64K input elements keep the per-chunk dispatch cost negligible while still giving
// every thread many chunks to balance.
template <typename F>
void for_planes(int64_t planes, int64_t plane_work, F&& f) {
  const int64_t per = std::max<int64_t>(1, 65536 / std::max<int64_t>(plane_work, 1));
  const int64_t chunks = (planes + per - 1) / per;
  parallel_for(chunks, planes * plane_work > 32768, [&](int64_t c) {  // [Note: serial small loops]
    const int64_t i0 = c * per;
    f(i0, std::min(per, planes - i0));
  });
}

// Window divisor of output (p, q) for average pooling (see csrc/pool.h).
inline int64_t avg_divisor(const PoolShape& s, int64_t p, int64_t q, bool inc_pad) {
  if (inc_pad) return s.R * s.S;
  const int64_t h0 = p * s.sh - s.ph, w0 = q * s.sw - s.pw;
  const int64_t hs = std::min(h0 + s.R, s.H) - std::max<int64_t>(h0, 0);
  const int64_t ws = std::min(w0 + s.S, s.W) - std::max<int64_t>(w0, 0);
  return std::max<int64_t>(hs, 0) * std::max<int64_t>(ws, 0);
}

// [Note: write-once pooling backward] When the windows tile the input exactly (stride ==
// window, no padding: the common 2x2/2), every dx element belongs to at most one window, so
// average pooling's dx is written once, row by row, instead of zero-filled and then scattered /
// accumulated into: one pass over dx instead of two. value(p, q, h, w) gives the element at (h, w)
// of window (p, q); rows and columns past the last window get zero.
bool tiles_exactly(const PoolShape& s) {
  // (window width 2, the common case, is what the compile-time-width loop below handles).
  // Every window's columns lie inside the row: 'same' padding of an odd width puts the last
  // window half into right padding, and writing its taps would go one past the row (past the
  // plane, on the last row)
  return s.S == 2 && s.sh == s.R && s.sw == s.S && s.ph == 0 && s.pw == 0 && s.Q * s.S <= s.W;
}

template <int S, typename T, typename F>
void write_once_plane(const PoolShape& s, T* __restrict d, F&& value) {
  for (int64_t h = 0; h < s.H; ++h) {
    T* __restrict row = d + h * s.W;
    const int64_t p = h / s.R;
    if (p >= s.P) {
      std::fill(row, row + s.W, T(0));
      continue;
    }
    for (int64_t q = 0; q < s.Q; ++q)
      for (int t = 0; t < S; ++t) row[q * S + t] = value(p, q, h, q * S + t);
    std::fill(row + s.Q * S, row + s.W, T(0));
  }
}

}  // namespace

template <typename T>
void max_pool2d_forward(const PoolShape& s, const T* x, T* y, int32_t* idx) {
  const int64_t HW = s.H * s.W, PQ = s.P * s.Q;
  if (s.N * s.C * PQ == 0) return;
  if (s.dh != 1 || s.dw != 1) {  // dilated windows: the reference loop, threaded over planes
    for_planes(s.N * s.C, HW, [&](int64_t i0, int64_t n) {
      PoolShape c = s;
      c.N = n, c.C = 1;
      ref::max_pool2d_forward(c, x + i0 * HW, y + i0 * PQ, idx ? idx + i0 * PQ : nullptr);
    });
    return;
  }
  for_planes(s.N * s.C, HW, [&](int64_t i0, int64_t n) {
    max_pool_fwd_stub<T>(s, n, x + i0 * HW, y + i0 * PQ, idx ? idx + i0 * PQ : nullptr);
  });
}

// dx (N,C,H,W) = dy routed to each window's argmax. Windows of width 2 / column stride 2 that
// do not overlap take the write-once kernel ([Note: write-once max pooling backward]); anything
// else (overlapping or unknown windows, or an index outside its window) zero-fills each plane
// and scatters dx[plane, idx] += dy into it while it is still in cache, checking every index
// (a bad one is reported, never written). Each chunk of planes is one task, so no races.
template <typename T>
bool max_pool2d_backward(const PoolShape& s, const T* dy, const int32_t* idx, const T* mask, T* dx,
                         bool window_known, int32_t* bad) {
  const int64_t HW = s.H * s.W, PQ = s.P * s.Q;
  // (no padding on any side: windows reaching into bottom / right padding, as 'same' padding
  // of odd sizes makes them, take the general path)
  const bool w2 = window_known && s.dh == 1 && s.dw == 1 && s.S == 2 && s.sw == 2 && s.sh >= s.R &&
                  s.ph == 0 && s.pw == 0 && (s.P - 1) * s.sh + s.R <= s.H && 2 * s.Q <= s.W;
  std::atomic<bool> ok{true};
  for_planes(s.N * s.C, HW, [&](int64_t i0, int64_t n) {
    const T* mk = mask ? mask + i0 * PQ : nullptr;
    if (w2 && max_pool_bwd_w2_stub<T>(s, n, dy + i0 * PQ, idx + i0 * PQ, mk, dx + i0 * HW)) return;
    for (int64_t i = i0; i < i0 + n; ++i) {
      T* d = dx + i * HW;
      const T* g = dy + i * PQ;
      const T* m = mask ? mask + i * PQ : nullptr;
      const int32_t* ix = idx + i * PQ;
      std::fill(d, d + HW, T(0));
      for (int64_t j = 0; j < PQ; ++j) {
        const int32_t k = ix[j];
        if (static_cast<uint64_t>(static_cast<int64_t>(k)) >= static_cast<uint64_t>(HW)) {
          if (ok.exchange(false, std::memory_order_relaxed)) *bad = k;
          continue;
        }
        if (!m || m[j] > T(0)) d[k] += g[j];  // a NaN mask blocks, as ReLU's y > 0 does
      }
    }
  });
  return ok.load();
}

template <typename T>
void avg_pool2d_forward(const PoolShape& s, const T* x, T* y, bool count_include_pad) {
  const int64_t HW = s.H * s.W, PQ = s.P * s.Q;
  if (s.N * s.C * PQ == 0) return;
  for_planes(s.N * s.C, HW, [&](int64_t i0, int64_t n) {
    avg_pool_fwd_stub<T>(s, n, x + i0 * HW, y + i0 * PQ, count_include_pad);
  });
}

// dx (N,C,H,W) is assigned: each output spreads dy / divisor over its window (within a plane).
// Loop order: per output row, the scaled dy row once, then one add per window tap (r, s) over
// the whole row, so the inner loop is a (strided) add the compiler can vectorise.
template <typename T>
void avg_pool2d_backward(const PoolShape& s, const T* dy, T* dx, bool count_include_pad) {
  const int64_t HW = s.H * s.W, PQ = s.P * s.Q;
  // see [Note: write-once pooling backward]; the divisor is R*S unless a last window reaches
  // into bottom padding with count_include_pad=False (then the general path runs)
  if (tiles_exactly(s) && (count_include_pad || s.P * s.R <= s.H)) {
    const T inv = T(1) / T(s.R * s.S);
    for_planes(s.N * s.C, HW, [&](int64_t i0, int64_t n) {
      for (int64_t i = i0; i < i0 + n; ++i) {
        const T* g = dy + i * PQ;
        write_once_plane<2>(s, dx + i * HW, [&](int64_t p, int64_t q, int64_t, int64_t) {
          return g[p * s.Q + q] * inv;
        });
      }
    });
    return;
  }
  for_planes(s.N * s.C, HW, [&](int64_t i0, int64_t n) {
    std::vector<T> g(s.Q);
    std::fill(dx + i0 * HW, dx + (i0 + n) * HW, T(0));
    for (int64_t i = i0; i < i0 + n; ++i)
      for (int64_t p = 0; p < s.P; ++p) {
        for (int64_t q = 0; q < s.Q; ++q) {
          const int64_t div = avg_divisor(s, p, q, count_include_pad);
          g[q] = div ? dy[i * PQ + p * s.Q + q] / T(div) : T(0);
        }
        const int64_t h0 = p * s.sh - s.ph;
        for (int64_t h = std::max<int64_t>(h0, 0); h < std::min(h0 + s.R, s.H); ++h) {
          T* d = dx + i * HW + h * s.W;
          for (int64_t t = 0; t < s.S; ++t) {
            // columns q with 0 <= q*sw - pw + t < W
            const int64_t off = t - s.pw;
            const int64_t qlo = off >= 0 ? 0 : (-off + s.sw - 1) / s.sw;
            const int64_t qhi = std::min(s.Q, s.W - 1 - off < 0 ? 0 : (s.W - 1 - off) / s.sw + 1);
            if (s.sw == 1) {
              for (int64_t q = qlo; q < qhi; ++q) d[q + off] += g[q];
            } else {
              for (int64_t q = qlo; q < qhi; ++q) d[q * s.sw + off] += g[q];
            }
          }
        }
      }
  });
}

template <typename T>
void global_avg_pool_forward(int64_t planes, int64_t HW, const T* x, T* y) {
  for_planes(planes, HW, [&](int64_t i0, int64_t n) {
    for (int64_t i = i0; i < i0 + n; ++i) {
      const T* p = x + i * HW;
      double acc = 0;
      if (HW > 8 * 256) {
        // the blocked vector row sum ([Note: blocked sums]): one float running sum saturated
        // (the mean of 2^28 ones came out 0.5)
        acc = row_sum(p, HW);
      } else {
        // short planes (7x7): 8 independent partial sums of at most 256 terms each, inline
        // (the dispatched row sum costs ~100 ns a call, 14x this loop at 7x7)
        T part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        int64_t j = 0;
        for (; j + 8 <= HW; j += 8)
          for (int k = 0; k < 8; ++k) part[k] += p[j + k];
        for (int k = 0; k < 8; ++k) acc += part[k];
        for (; j < HW; ++j) acc += p[j];
      }
      y[i] = HW ? static_cast<T>(acc / double(HW)) : T(0);
    }
  });
}

template <typename T>
void global_avg_pool_backward(int64_t planes, int64_t HW, const T* dy, T* dx) {
  for_planes(planes, HW, [&](int64_t i0, int64_t n) {
    for (int64_t i = i0; i < i0 + n; ++i) {
      const T g = dy[i] / T(HW);
      std::fill(dx + i * HW, dx + (i + 1) * HW, g);
    }
  });
}

namespace {

// The adaptive window along one axis for output o of n: [floor(o*in/n), ceil((o+1)*in/n)).
inline int64_t adaptive_start(int64_t o, int64_t in, int64_t n) { return (o * in) / n; }
inline int64_t adaptive_end(int64_t o, int64_t in, int64_t n) { return ((o + 1) * in + n - 1) / n; }

}  // namespace

// Separable sums in double: for each output row p the window's rows are added into one row of
// column sums (a contiguous, vectorisable pass over the input), then each output's columns are
// added from it. (One double accumulator per window, the former loop, ran at one add latency
// per input element: 4-5 GB/s.)
template <typename T>
void adaptive_avg_pool2d_forward(int64_t planes, int64_t H, int64_t W, int64_t P, int64_t Q,
                                 const T* x, T* y) {
  for_planes(planes, H * W, [&](int64_t i0, int64_t n) {
    std::vector<double> col(static_cast<size_t>(W));  // the column sums of one window row
    for (int64_t i = i0; i < i0 + n; ++i) {
      const T* xp = x + i * H * W;
      for (int64_t p = 0; p < P; ++p) {
        const int64_t h0 = adaptive_start(p, H, P), h1 = adaptive_end(p, H, P);
        std::fill(col.begin(), col.end(), 0.0);
        for (int64_t h = h0; h < h1; ++h) {
          const T* row = xp + h * W;
          for (int64_t w = 0; w < W; ++w) col[static_cast<size_t>(w)] += double(row[w]);
        }
        for (int64_t q = 0; q < Q; ++q) {
          const int64_t w0 = adaptive_start(q, W, Q), w1 = adaptive_end(q, W, Q);
          double acc = 0;
          for (int64_t w = w0; w < w1; ++w) acc += col[static_cast<size_t>(w)];
          y[(i * P + p) * Q + q] = static_cast<T>(acc / double((h1 - h0) * (w1 - w0)));
        }
      }
    }
  });
}

template <typename T>
void adaptive_avg_pool2d_backward(int64_t planes, int64_t H, int64_t W, int64_t P, int64_t Q,
                                  const T* dy, T* dx) {
  for_planes(planes, H * W, [&](int64_t i0, int64_t n) {
    std::fill(dx + i0 * H * W, dx + (i0 + n) * H * W, T(0));
    for (int64_t i = i0; i < i0 + n; ++i) {
      T* d = dx + i * H * W;
      for (int64_t p = 0; p < P; ++p) {
        const int64_t h0 = adaptive_start(p, H, P), h1 = adaptive_end(p, H, P);
        for (int64_t q = 0; q < Q; ++q) {
          const int64_t w0 = adaptive_start(q, W, Q), w1 = adaptive_end(q, W, Q);
          const T g = dy[(i * P + p) * Q + q] / T((h1 - h0) * (w1 - w0));
          for (int64_t h = h0; h < h1; ++h)
            for (int64_t w = w0; w < w1; ++w) d[h * W + w] += g;
        }
      }
    }
  });
}

template <typename T>
void adaptive_max_pool2d_forward(int64_t planes, int64_t H, int64_t W, int64_t P, int64_t Q,
                                 const T* x, T* y, int32_t* idx) {
  for_planes(planes, H * W, [&](int64_t i0, int64_t n) {
    for (int64_t i = i0; i < i0 + n; ++i) {
      const T* xp = x + i * H * W;
      for (int64_t p = 0; p < P; ++p) {
        const int64_t h0 = adaptive_start(p, H, P), h1 = adaptive_end(p, H, P);
        for (int64_t q = 0; q < Q; ++q) {
          const int64_t w0 = adaptive_start(q, W, Q), w1 = adaptive_end(q, W, Q);
          T best = xp[h0 * W + w0];
          int64_t at = h0 * W + w0;
          for (int64_t h = h0; h < h1; ++h)
            for (int64_t w = w0; w < w1; ++w) {
              const T v = xp[h * W + w];
              if (v > best || v != v) {
                best = v;
                at = h * W + w;
              }
            }
          y[(i * P + p) * Q + q] = best;
          if (idx) idx[(i * P + p) * Q + q] = static_cast<int32_t>(at);
        }
      }
    }
  });
}

DC_POOL_INSTANTIATIONS(float)
DC_POOL_INSTANTIATIONS(double)

}  // namespace dc
