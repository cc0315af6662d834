// gather / scatter drivers (see csrc/scatter.h). These are address arithmetic and memory
// traffic with no arithmetic to vectorise (a gather instruction is no faster than the scalar
// loads here), so there is no per-ISA kernel: one loop nest per op, threaded over
// (outer slice, block of inner columns) tasks that never share a destination.
#include "scatter.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "core/threads.h"

namespace dc {

namespace {

constexpr int64_t kBlock = 256;  // inner columns per task

// f(o, k0, k1) over every outer slice and block of inner columns; false (with the first bad
// index seen in *bad) if any call reported one.
template <typename F>
bool for_tasks(const GatherShape& s, int64_t* bad, F&& f) {
  const int64_t blocks = (s.inner + kBlock - 1) / kBlock;
  const int64_t tasks = s.outer * blocks;
  std::atomic<bool> ok{true};
  parallel_for(tasks, s.outer * s.m * s.inner > 32768, [&](int64_t t) {
    const int64_t o = t / blocks, k0 = (t % blocks) * kBlock;
    int64_t b = 0;
    if (!f(o, k0, std::min(k0 + kBlock, s.inner), &b) && ok.exchange(false)) *bad = b;
  });
  return ok.load();
}

template <typename T>
T identity(ScatterOp op) {
  switch (op) {
    case ScatterOp::prod:
      return T(1);
    case ScatterOp::max:
      return std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity()
                                                  : std::numeric_limits<T>::lowest();
    case ScatterOp::min:
      return std::numeric_limits<T>::has_infinity ? std::numeric_limits<T>::infinity()
                                                  : std::numeric_limits<T>::max();
    default:
      return T(0);
  }
}

template <typename T>
inline bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>)
    return v != v;
  else
    return false;
}

template <ScatterOp OP, typename T>
inline void combine(T& d, T v) {
  if constexpr (OP == ScatterOp::assign)
    d = v;
  else if constexpr (OP == ScatterOp::sum)
    d += v;
  else if constexpr (OP == ScatterOp::prod)
    d *= v;
  else if constexpr (OP == ScatterOp::max)
    d = (is_nan(v) || v > d) ? v : d;  // a NaN on either side stays
  else
    d = (is_nan(v) || v < d) ? v : d;
}

// [Note: one-line loops] Along the last axis (inner == 1) each task is one line of m
// elements. Its loop keeps the length and strides in registers (read through the shape
// structs they were reloaded per element) and checks an index with one unsigned compare
// (negative values wrap above len); a line of the last axis of a contiguous array has stride 1,
// so the common case indexes without a multiply.
template <typename F>
inline bool line_loop(int64_t m, const int64_t* __restrict ix, int64_t len, int64_t stride,
                      int64_t* bad, F&& f) {
  const uint64_t ulen = static_cast<uint64_t>(len);
  auto run = [&](auto st) {
    for (int64_t i = 0; i < m; ++i) {
      const int64_t j = ix[i];
      if (static_cast<uint64_t>(j) >= ulen) {
        *bad = j;
        return false;
      }
      f(i, j * st);
    }
    return true;
  };
  return stride == 1 ? run(std::integral_constant<int64_t, 1>{}) : run(stride);
}

template <ScatterOp OP, typename T>
bool scatter_task(const GatherShape& s, bool include_self, const int64_t* index, const T* src,
                  const Slices& ss, T* out, const Slices& os, int64_t o, int64_t k0, int64_t k1,
                  int64_t* bad) {
  const int64_t* ix = index + o * s.m * s.inner;
  const int64_t ob = os.base[o], sb = ss.base[o];
  // every index is checked where it is first used; a bad one is reported, never written
  // through (the caller then discards out)
  auto ok = [&](int64_t j) {
    if (j >= 0 && j < s.len) return true;
    *bad = j;
    return false;
  };
  if (!include_self && OP != ScatterOp::assign) {
    const T id = identity<T>(OP);
    for (int64_t i = 0; i < s.m; ++i)
      for (int64_t k = k0; k < k1; ++k) {
        const int64_t j = ix[i * s.inner + k];
        if (!ok(j)) return false;
        out[ob + j * os.axis_stride + os.off[k]] = id;
      }
  }
  if (s.inner == 1) {  // one line: [Note: one-line loops]
    T* __restrict ol = out + ob + os.off[0];
    const T* __restrict sl = src + sb + ss.off[0];
    const int64_t sst = ss.axis_stride;
    return line_loop(s.m, ix, s.len, os.axis_stride, bad,
                     [&](int64_t i, int64_t at) { combine<OP>(ol[at], sl[i * sst]); });
  }
  for (int64_t i = 0; i < s.m; ++i) {
    const int64_t* ir = ix + i * s.inner;
    const T* sr = src + sb + i * ss.axis_stride;
    for (int64_t k = k0; k < k1; ++k) {
      if (!ok(ir[k])) return false;
      combine<OP>(out[ob + ir[k] * os.axis_stride + os.off[k]], sr[ss.off[k]]);
    }
  }
  return true;
}

}  // namespace

template <typename T>
bool gather(const GatherShape& s, const int64_t* index, const T* x, const Slices& xs, T* y,
            int64_t* bad) {
  if (s.outer * s.m * s.inner == 0) return true;
  return for_tasks(s, bad, [&](int64_t o, int64_t k0, int64_t k1, int64_t* b) {
    const int64_t* ix = index + o * s.m * s.inner;
    T* yo = y + o * s.m * s.inner;
    const T* xo = x + xs.base[o];
    if (s.inner == 1) {  // along the last axis of index: [Note: one-line loops]
      const T* __restrict xl = xo + xs.off[0];
      T* __restrict yl = yo;
      return line_loop(s.m, ix, s.len, xs.axis_stride, b,
                       [&](int64_t i, int64_t at) { yl[i] = xl[at]; });
    }
    for (int64_t i = 0; i < s.m; ++i)
      for (int64_t k = k0; k < k1; ++k) {
        const int64_t j = ix[i * s.inner + k];
        if (j < 0 || j >= s.len) {
          *b = j;
          return false;
        }
        yo[i * s.inner + k] = xo[j * xs.axis_stride + xs.off[k]];
      }
    return true;
  });
}

template <typename T>
bool scatter(const GatherShape& s, ScatterOp op, bool include_self, const int64_t* index,
             const T* src, const Slices& ss, T* out, const Slices& os, int64_t* bad) {
  if (s.outer * s.m * s.inner == 0) return true;
  return for_tasks(s, bad, [&](int64_t o, int64_t k0, int64_t k1, int64_t* b) {
    switch (op) {
      case ScatterOp::assign:
        return scatter_task<ScatterOp::assign>(s, include_self, index, src, ss, out, os, o, k0, k1,
                                               b);
      case ScatterOp::sum:
        return scatter_task<ScatterOp::sum>(s, include_self, index, src, ss, out, os, o, k0, k1, b);
      case ScatterOp::prod:
        return scatter_task<ScatterOp::prod>(s, include_self, index, src, ss, out, os, o, k0, k1,
                                             b);
      case ScatterOp::max:
        return scatter_task<ScatterOp::max>(s, include_self, index, src, ss, out, os, o, k0, k1, b);
      default:
        return scatter_task<ScatterOp::min>(s, include_self, index, src, ss, out, os, o, k0, k1, b);
    }
  });
}

#define DC_INSTANTIATE_SCATTER(T)                                                          \
  template bool gather<T>(const GatherShape&, const int64_t*, const T*, const Slices&, T*, \
                          int64_t*);                                                       \
  template bool scatter<T>(const GatherShape&, ScatterOp, bool, const int64_t*, const T*,  \
                           const Slices&, T*, const Slices&, int64_t*);
DC_INSTANTIATE_SCATTER(float)
DC_INSTANTIATE_SCATTER(double)
DC_INSTANTIATE_SCATTER(int32_t)
DC_INSTANTIATE_SCATTER(int64_t)
#undef DC_INSTANTIATE_SCATTER

}  // namespace dc
