// Pooling forward kernels over consecutive (H,W) planes (see csrc/pool.h).
// One source, three ISAs: see [Note: one source, three ISAs] in csrc/core/dispatch.h.
//
// [Note: vector pooling]
// Output columns whose windows lie entirely inside the input row range are computed VB at a
// time with GCC vector extensions: one (possibly strided) vector load per window tap, a
// vector max (with a select for the argmax and NaN propagation) or add. Stride 2, the common
// case, loads two overlapping contiguous vectors and de-interleaves them with one shuffle
// instead of a gather. The last partial block is handled by shifting it back to overlap the
// previous one (recomputing a few outputs with identical results), so only columns whose
// windows touch the left/right padding take the scalar path.
#include <cmath>
#include <cstring>
#include <type_traits>

#include "pool.h"

namespace dc {
namespace DC_ISA_NS {
namespace {

constexpr int64_t VB = 16;
constexpr int64_t kNarrowBuf = 256;  // elements; see [Note: narrow planes]

template <typename T>
struct VecOf {
  typedef T type __attribute__((vector_size(VB * sizeof(T))));
};
template <typename T>
using Vec = typename VecOf<T>::type;
typedef int32_t VecI __attribute__((vector_size(VB * sizeof(int32_t))));

// Lanes p[0], p[stride], ..., p[(VB-1)*stride]; reads nothing past p[(VB-1)*stride].
// (Vectors go through references, not by value: no vector ABI question at any boundary.)
template <typename T>
inline void load_strided(const T* p, int64_t stride, Vec<T>& v) {
  if (stride == 1) {
    std::memcpy(&v, p, sizeof(v));
  } else if (stride == 2) {
    Vec<T> a, b;  // a = p[0..15], b = p[15..30]
    std::memcpy(&a, p, sizeof(a));
    std::memcpy(&b, p + VB - 1, sizeof(b));
    typedef typename std::conditional<sizeof(T) == 4, int32_t, int64_t>::type I;  // mask lane type
    typedef I VecM __attribute__((vector_size(VB * sizeof(T))));
    const VecM even = {0, 2, 4, 6, 8, 10, 12, 14, 17, 19, 21, 23, 25, 27, 29, 31};
#if defined(__clang__)
    (void)even;
    v = __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 17, 19, 21, 23, 25, 27, 29, 31);
#else
    v = __builtin_shuffle(a, b, even);
#endif
  } else {
    for (int64_t j = 0; j < VB; ++j) v[j] = p[j * stride];
  }
}

// Output columns [lo, hi) whose windows lie inside [0, W).
inline void interior(const PoolShape& s, int64_t& lo, int64_t& hi) {
  lo = s.pw <= 0 ? 0 : (s.pw + s.sw - 1) / s.sw;
  const int64_t last = s.W - s.S + s.pw;  // q*sw <= last
  hi = last < 0 ? 0 : last / s.sw + 1;
  if (hi > s.Q) hi = s.Q;
  if (lo > hi) lo = hi;
}

template <typename T>
inline bool better(T v, T best) {
  return (v > best) | ((v != v) & (best == best));  // NaN wins (and stays), as in PyTorch
}

template <typename T>
void max_plane(const PoolShape& s, const T* __restrict x, T* __restrict y,
               int32_t* __restrict idx) {
  int64_t qlo, qhi;
  interior(s, qlo, qhi);
  T buf[kNarrowBuf];  // see [Note: narrow planes]
  bool buf_zeroed = false;
  for (int64_t p = 0; p < s.P; ++p) {
    const int64_t h0 = p * s.sh - s.ph;
    const int64_t rlo = h0 < 0 ? -h0 : 0, rhi = h0 + s.R > s.H ? s.H - h0 : s.R;
    T* yr = y + p * s.Q;
    int32_t* ir = idx ? idx + p * s.Q : nullptr;
    auto scalar = [&](int64_t q) {
      const int64_t w0 = q * s.sw - s.pw;
      const int64_t slo = w0 < 0 ? -w0 : 0, shi = w0 + s.S > s.W ? s.W - w0 : s.S;
      T best = -INFINITY;
      int64_t bi = (h0 + rlo) * s.W + w0 + slo;
      for (int64_t r = rlo; r < rhi; ++r)
        for (int64_t t = slo; t < shi; ++t) {
          // Branch-free select: which tap wins is data-dependent and mispredicts about half
          // the time (narrow planes, e.g. 26x26 -> 13x13, run entirely on this path).
          const int64_t off = (h0 + r) * s.W + w0 + t;
          const T v = x[off];
          const bool m = better(v, best);
          best = m ? v : best;
          bi = m ? off : bi;
        }
      yr[q] = best;
      if (ir) ir[q] = static_cast<int32_t>(bi);
    };
    for (int64_t q = 0; q < qlo; ++q) scalar(q);
    if (qhi - qlo >= VB && rhi > rlo) {
      VecI lane;
      for (int64_t j = 0; j < VB; ++j) lane[j] = static_cast<int32_t>(j * s.sw);
      for (int64_t q0 = qlo; q0 < qhi; q0 += VB) {
        if (q0 + VB > qhi) q0 = qhi - VB;  // overlap the previous block (same results)
        const int64_t w0 = q0 * s.sw - s.pw;
        Vec<T> best, v;
        load_strided(x + (h0 + rlo) * s.W + w0, s.sw, best);
        VecI bi = lane + static_cast<int32_t>((h0 + rlo) * s.W + w0);
        for (int64_t r = rlo; r < rhi; ++r)
          for (int64_t t = (r == rlo ? 1 : 0); t < s.S; ++t) {
            const int64_t off = (h0 + r) * s.W + w0 + t;
            load_strided(x + off, s.sw, v);
            const auto m = (v > best) | ((v != v) & (best == best));
            best = m ? v : best;
            bi = __builtin_convertvector(m, VecI) ? lane + static_cast<int32_t>(off) : bi;
          }
        std::memcpy(yr + q0, &best, sizeof(best));
        if (ir) std::memcpy(ir + q0, &bi, sizeof(bi));
        if (q0 + VB >= qhi) break;
      }
    } else if (qhi > qlo && rhi > rlo && (VB - 1) * s.sw + s.S + VB <= kNarrowBuf) {
      // [Note: narrow planes] Fewer than VB interior outputs per row (28x28 -> 14x14): copy
      // each window row's span into a zero-padded stack buffer so the vector path can load
      // full vectors without reading past the input; only the n valid lanes are stored. The
      // scalar path (a data-dependent argmax, compiled to branches) measured ~10x slower.
      const int64_t n = qhi - qlo, w0 = qlo * s.sw - s.pw;
      const int64_t avail = s.W - w0, need = (n - 1) * s.sw + s.S;
      const int64_t copy = need < avail ? need : avail;
      if (!buf_zeroed) {  // lanes past `copy` read zeros (never stored); set once per plane
        std::memset(buf, 0, sizeof(buf));
        buf_zeroed = true;
      }
      VecI lane;
      for (int64_t j = 0; j < VB; ++j) lane[j] = static_cast<int32_t>(j * s.sw);
      Vec<T> best, v;
      VecI bi;
      for (int64_t r = rlo; r < rhi; ++r) {
        const int64_t row = (h0 + r) * s.W + w0;
        std::memcpy(buf, x + row, static_cast<size_t>(copy) * sizeof(T));
        for (int64_t t = 0; t < s.S; ++t) {
          load_strided(buf + t, s.sw, v);
          if (r == rlo && t == 0) {
            best = v;
            bi = lane + static_cast<int32_t>(row);
            continue;
          }
          const auto m = (v > best) | ((v != v) & (best == best));
          best = m ? v : best;
          bi = __builtin_convertvector(m, VecI) ? lane + static_cast<int32_t>(row + t) : bi;
        }
      }
      std::memcpy(yr + qlo, &best, static_cast<size_t>(n) * sizeof(T));
      if (ir) std::memcpy(ir + qlo, &bi, static_cast<size_t>(n) * sizeof(int32_t));
    } else {
      for (int64_t q = qlo; q < qhi; ++q) scalar(q);
    }
    for (int64_t q = qhi; q < s.Q; ++q) scalar(q);
  }
}

template <typename T>
void avg_plane(const PoolShape& s, const T* __restrict x, T* __restrict y, bool inc_pad) {
  int64_t qlo, qhi;
  interior(s, qlo, qhi);
  for (int64_t p = 0; p < s.P; ++p) {
    const int64_t h0 = p * s.sh - s.ph;
    const int64_t rlo = h0 < 0 ? -h0 : 0, rhi = h0 + s.R > s.H ? s.H - h0 : s.R;
    T* yr = y + p * s.Q;
    auto scalar = [&](int64_t q) {
      const int64_t w0 = q * s.sw - s.pw;
      const int64_t slo = w0 < 0 ? -w0 : 0, shi = w0 + s.S > s.W ? s.W - w0 : s.S;
      T acc = 0;
      for (int64_t r = rlo; r < rhi; ++r)
        for (int64_t t = slo; t < shi; ++t) acc += x[(h0 + r) * s.W + w0 + t];
      const int64_t cnt = inc_pad ? s.R * s.S : (rhi - rlo) * (shi - slo);
      yr[q] = cnt > 0 ? acc / T(cnt) : T(0);
    };
    for (int64_t q = 0; q < qlo; ++q) scalar(q);
    if (qhi - qlo >= VB && rhi > rlo) {
      const T inv = T(1) / T(inc_pad ? s.R * s.S : (rhi - rlo) * s.S);
      for (int64_t q0 = qlo; q0 < qhi; q0 += VB) {
        if (q0 + VB > qhi) q0 = qhi - VB;
        const int64_t w0 = q0 * s.sw - s.pw;
        Vec<T> acc = {}, v;
        for (int64_t r = rlo; r < rhi; ++r)
          for (int64_t t = 0; t < s.S; ++t) {
            load_strided(x + (h0 + r) * s.W + w0 + t, s.sw, v);
            acc += v;
          }
        acc *= inv;
        std::memcpy(yr + q0, &acc, sizeof(acc));
        if (q0 + VB >= qhi) break;
      }
    } else {
      for (int64_t q = qlo; q < qhi; ++q) scalar(q);
    }
    for (int64_t q = qhi; q < s.Q; ++q) scalar(q);
  }
}

template <typename T>
void max_fwd(const PoolShape& s, int64_t planes, const T* x, T* y, int32_t* idx) {
  const int64_t HW = s.H * s.W, PQ = s.P * s.Q;
  for (int64_t i = 0; i < planes; ++i)
    max_plane(s, x + i * HW, y + i * PQ, idx ? idx + i * PQ : nullptr);
}

template <typename T>
void avg_fwd(const PoolShape& s, int64_t planes, const T* x, T* y, bool inc_pad) {
  const int64_t HW = s.H * s.W, PQ = s.P * s.Q;
  for (int64_t i = 0; i < planes; ++i) avg_plane(s, x + i * HW, y + i * PQ, inc_pad);
}

}  // namespace

DC_REGISTER_DISPATCH(max_pool_fwd_f32, &max_fwd<float>);
DC_REGISTER_DISPATCH(max_pool_fwd_f64, &max_fwd<double>);
DC_REGISTER_DISPATCH(avg_pool_fwd_f32, &avg_fwd<float>);
DC_REGISTER_DISPATCH(avg_pool_fwd_f64, &avg_fwd<double>);

}  // namespace DC_ISA_NS
}  // namespace dc
