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
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "cpu/activation_math.h"  // kLaneTerms
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
typedef double VecD __attribute__((vector_size(VB * sizeof(double))));

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

// KR, KS, SW: the window (R, S) and column stride when known at compile time (0: from s). The
// 2x2 / stride-2 instance unrolls the taps; the data-dependent selects then form two short
// chains instead of one long one (26x26 -> 13x13: 2.4x faster, with whole-vector narrow rows).
template <typename T, int KR = 0, int KS = 0, int SW = 0>
void max_plane(const PoolShape& s, const T* __restrict x, T* __restrict y, int32_t* __restrict idx,
               const T* x_end, const T* y_end) {
  const int64_t R_ = KR ? KR : s.R, S_ = KS ? KS : s.S, SW_ = SW ? SW : s.sw;
  int64_t qlo, qhi;
  interior(s, qlo, qhi);
  T buf[kNarrowBuf];  // see [Note: narrow planes]
  bool buf_zeroed = false;
  for (int64_t p = 0; p < s.P; ++p) {
    const int64_t h0 = p * s.sh - s.ph;
    const int64_t rlo = h0 < 0 ? -h0 : 0, rhi = h0 + R_ > s.H ? s.H - h0 : R_;
    T* yr = y + p * s.Q;
    int32_t* ir = idx ? idx + p * s.Q : nullptr;
    auto scalar = [&](int64_t q) {
      const int64_t w0 = q * SW_ - s.pw;
      const int64_t slo = w0 < 0 ? -w0 : 0, shi = w0 + S_ > s.W ? s.W - w0 : S_;
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
      for (int64_t j = 0; j < VB; ++j) lane[j] = static_cast<int32_t>(j * SW_);
      for (int64_t q0 = qlo; q0 < qhi; q0 += VB) {
        if (q0 + VB > qhi) q0 = qhi - VB;  // overlap the previous block (same results)
        const int64_t w0 = q0 * SW_ - s.pw;
        Vec<T> best, v;
        load_strided(x + (h0 + rlo) * s.W + w0, SW_, best);
        VecI bi = lane + static_cast<int32_t>((h0 + rlo) * s.W + w0);
        for (int64_t r = rlo; r < rhi; ++r)
          for (int64_t t = (r == rlo ? 1 : 0); t < S_; ++t) {
            const int64_t off = (h0 + r) * s.W + w0 + t;
            load_strided(x + off, SW_, v);
            const auto m = (v > best) | ((v != v) & (best == best));
            best = m ? v : best;
            bi = __builtin_convertvector(m, VecI) ? lane + static_cast<int32_t>(off) : bi;
          }
        std::memcpy(yr + q0, &best, sizeof(best));
        if (ir) std::memcpy(ir + q0, &bi, sizeof(bi));
        if (q0 + VB >= qhi) break;
      }
    } else if (qhi > qlo && rhi > rlo && (VB - 1) * SW_ + S_ + VB <= kNarrowBuf) {
      // [Note: narrow planes] Fewer than VB interior outputs per row (28x28 -> 14x14): full
      // vectors are loaded from each window row anyway, the lanes past n reading the rows
      // after it, and stored whole: the garbage past this row's n outputs is overwritten by
      // the outputs computed after it (the rest of this row, the next rows). Only where a load
      // or store would run past the end of this call's planes (x_end, y_end) does a row go
      // through a zero-padded stack buffer and store its n lanes alone. The scalar path (a
      // data-dependent argmax, compiled to branches) measured ~10x slower, and copying every
      // row through the buffer (memcpy calls of a few elements) ~2x slower.
      const int64_t n = qhi - qlo, w0 = qlo * SW_ - s.pw;
      const int64_t avail = s.W - w0, need = (n - 1) * SW_ + S_;
      const int64_t copy = need < avail ? need : avail;
      const int64_t span = (VB - 1) * SW_ + S_;  // what the loads of a window row read
      VecI lane;
      for (int64_t j = 0; j < VB; ++j) lane[j] = static_cast<int32_t>(j * SW_);
      Vec<T> best, v;
      VecI bi;
      for (int64_t r = rlo; r < rhi; ++r) {
        const int64_t row = (h0 + r) * s.W + w0;
        const T* src = x + row;
        if (src + span > x_end) {
          if (!buf_zeroed) {  // lanes past `copy` read zeros (never stored)
            std::memset(buf, 0, sizeof(buf));
            buf_zeroed = true;
          }
          std::memcpy(buf, src, static_cast<size_t>(copy) * sizeof(T));
          src = buf;
        }
        for (int64_t t = 0; t < S_; ++t) {
          load_strided(src + t, SW_, v);
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
      if (yr + qlo + VB <= y_end) {  // (idx has y's layout)
        std::memcpy(yr + qlo, &best, sizeof(best));
        if (ir) std::memcpy(ir + qlo, &bi, sizeof(bi));
      } else {
        std::memcpy(yr + qlo, &best, static_cast<size_t>(n) * sizeof(T));
        if (ir) std::memcpy(ir + qlo, &bi, static_cast<size_t>(n) * sizeof(int32_t));
      }
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
      double acc = 0;  // (a window may be the whole plane: [Note: blocked sums])
      for (int64_t r = rlo; r < rhi; ++r)
        for (int64_t t = slo; t < shi; ++t) acc += x[(h0 + r) * s.W + w0 + t];
      const int64_t cnt = inc_pad ? s.R * s.S : (rhi - rlo) * (shi - slo);
      yr[q] = cnt > 0 ? static_cast<T>(acc / double(cnt)) : T(0);
    };
    for (int64_t q = 0; q < qlo; ++q) scalar(q);
    if (qhi - qlo >= VB && rhi > rlo) {
      const int64_t cnt = inc_pad ? s.R * s.S : (rhi - rlo) * s.S;
      const T inv = T(1) / T(cnt);
      const bool small = (rhi - rlo) * s.S <= kLaneTerms;  // (the common case: no folds)
      for (int64_t q0 = qlo; q0 < qhi; q0 += VB) {
        if (q0 + VB > qhi) q0 = qhi - VB;
        const int64_t w0 = q0 * s.sw - s.pw;
        Vec<T> acc = {}, v;
        auto add_taps = [&](int64_t r, int64_t t0, int64_t t1) {
          for (int64_t t = t0; t < t1; ++t) {
            load_strided(x + (h0 + r) * s.W + w0 + t, s.sw, v);
            acc += v;
          }
        };
        if (small) {
          for (int64_t r = rlo; r < rhi; ++r) add_taps(r, 0, s.S);
          acc *= inv;
        } else {
          // float lanes sum at most kLaneTerms taps, then fold into double lanes ([Note:
          // blocked sums]); a window row's taps go in runs that end where a fold is due
          VecD wide = {};
          int64_t since = 0;
          for (int64_t r = rlo; r < rhi; ++r)
            for (int64_t t0 = 0; t0 < s.S;) {
              const int64_t t1 = s.S - t0 < kLaneTerms - since ? s.S : t0 + (kLaneTerms - since);
              add_taps(r, t0, t1);
              since += t1 - t0;
              t0 = t1;
              if (since == kLaneTerms) {
                wide += __builtin_convertvector(acc, VecD);
                acc = Vec<T>{};
                since = 0;
              }
            }
          wide += __builtin_convertvector(acc, VecD);
          acc = __builtin_convertvector(wide / double(cnt), Vec<T>);
        }
        std::memcpy(yr + q0, &acc, sizeof(acc));
        if (q0 + VB >= qhi) break;
      }
    } else {
      for (int64_t q = qlo; q < qhi; ++q) scalar(q);
    }
    for (int64_t q = qhi; q < s.Q; ++q) scalar(q);
  }
}

// Vector lanes of T-sized integers: the select mask for Vec<T>.
template <typename T>
struct MaskOf {
  typedef typename std::conditional<sizeof(T) == 4, int32_t, int64_t>::type I;
  typedef I type __attribute__((vector_size(VB * sizeof(T))));
};

// lo = a0 b0 a1 b1 ... a7 b7, hi = a8 b8 ... a15 b15.
template <typename T>
inline void interleave(const Vec<T>& a, const Vec<T>& b, Vec<T>& lo, Vec<T>& hi) {
#if defined(__clang__)
  lo = __builtin_shufflevector(a, b, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  hi = __builtin_shufflevector(a, b, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
#else
  typedef typename MaskOf<T>::type M;
  const M ml = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23};
  const M mh = {8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  lo = __builtin_shuffle(a, b, ml);
  hi = __builtin_shuffle(a, b, mh);
#endif
}

// [Note: write-once max pooling backward]
// For windows of width 2 and column stride 2 that do not overlap vertically (sh >= R) and no
// padding, every dx element lies in at most one window, so dx is written exactly once, in
// order, row by row: for VB windows at a time, one vector of dy and one of argmax indices; two
// index compares give the values of the windows' left and right columns in this row (dy or 0),
// which one interleave turns into 2*VB contiguous dx elements. Rows and columns outside every
// window get zeros. No zero-fill pass, no scatter. Each window must find its argmax among its
// own elements: the windows' compares are counted (each window matches at most once), and a
// count below the number of windows returns false (some index lies elsewhere or outside the
// plane; the caller then redoes these planes with the general, validating scatter). Row
// order matters: writing each dx row start to end measured 1.5x faster than writing the R rows
// of a block of windows together; building dx in a cache buffer and streaming it out with
// non-temporal stores measured slower still (1.4x), so ordinary stores are used. With a mask
// (a ReLU input's, from the pooled values), each vector of dy is zeroed where mask <= 0 (or
// NaN) as it is loaded.
template <typename T>
bool max_bwd_w2(const PoolShape& s, int64_t planes, const T* dy, const int32_t* idx, const T* mask,
                T* dx) {
  typedef typename MaskOf<T>::type M;
  const int64_t H = s.H, W = s.W, P = s.P, Q = s.Q, R = s.R, PQ = P * Q, HW = H * W;
  const int64_t wq = 2 * Q;  // covered columns [0, 2Q)
  VecI lane2, lane;
  for (int64_t j = 0; j < VB; ++j) {
    lane2[j] = static_cast<int32_t>(2 * j);
    lane[j] = static_cast<int32_t>(j);
  }
  const Vec<T> zero = {};
  VecI count = {};  // per lane: matched (window, element) pairs
  T gbuf[VB] = {};
  T mbuf[VB] = {};
  int32_t ibuf[VB] = {};
  T obuf[2 * VB];
  // VB windows from column q0 of output row p into dx row h; lanes below `skip` were done by
  // the previous block (written again, same values, not counted). n < VB (narrow rows): lanes
  // past n load the next row's dy and indices and store garbage past this row's 2n columns,
  // which the rows after it, written later, overwrite; only the chunk's last rows, where that
  // would run past the end of dy / idx / dx, go through small buffers. (Copying every narrow
  // row through buffers measured ~4x slower: memcpy calls of a few elements.)
  const T* dy_end = dy + planes * PQ;
  T* dx_end = dx + planes * HW;
  auto block = [&](const T* g, const T* mk, const int32_t* ix, T* d, int64_t h, int64_t q0,
                   int64_t n, int32_t skip) {
    Vec<T> gv, mv;
    VecI iv;
    if (n == VB || g + q0 + VB <= dy_end) {
      std::memcpy(&gv, g + q0, sizeof(gv));
      std::memcpy(&iv, ix + q0, sizeof(iv));
      if (mk) std::memcpy(&mv, mk + q0, sizeof(mv));
    } else {
      std::memcpy(gbuf, g + q0, static_cast<size_t>(n) * sizeof(T));
      std::memcpy(ibuf, ix + q0, static_cast<size_t>(n) * sizeof(int32_t));
      std::memcpy(&gv, gbuf, sizeof(gv));
      std::memcpy(&iv, ibuf, sizeof(iv));
      if (mk) {
        std::memcpy(mbuf, mk + q0, static_cast<size_t>(n) * sizeof(T));
        std::memcpy(&mv, mbuf, sizeof(mv));
      }
    }
    if (mk) gv = mv > zero ? gv : zero;
    const VecI t0 = lane2 + static_cast<int32_t>(h * W + 2 * q0);
    const VecI m0 = iv == t0, m1 = iv == t0 + 1;
    count -= (m0 | m1) & (lane >= skip) & (lane < static_cast<int32_t>(n));
    const Vec<T> a = __builtin_convertvector(m0, M) ? gv : zero;
    const Vec<T> b = __builtin_convertvector(m1, M) ? gv : zero;
    Vec<T> lo, hi;
    interleave<T>(a, b, lo, hi);
    T* o = d + h * W + 2 * q0;
    if (n == VB || o + 2 * VB <= dx_end) {
      std::memcpy(o, &lo, sizeof(lo));
      std::memcpy(o + VB, &hi, sizeof(hi));
    } else {
      std::memcpy(obuf, &lo, sizeof(lo));
      std::memcpy(obuf + VB, &hi, sizeof(hi));
      std::memcpy(o, obuf, static_cast<size_t>(2 * n) * sizeof(T));
    }
  };
  // n zeros at p; a short run is two vector stores, zeros past n landing where later rows are
  // written (as in block: no libc memset call for a column or two)
  auto zeros = [&](T* p, int64_t n) {
    if (n <= 0) return;
    if (n <= 2 * VB && p + 2 * VB <= dx_end) {
      std::memcpy(p, &zero, sizeof(zero));
      std::memcpy(p + VB, &zero, sizeof(zero));
    } else {
      for (int64_t j = 0; j < n; ++j) p[j] = T(0);
    }
  };
  for (int64_t i = 0; i < planes; ++i) {
    const T* g = dy + i * PQ;
    const T* mk = mask ? mask + i * PQ : nullptr;
    const int32_t* ix = idx + i * PQ;
    T* d = dx + i * HW;
    int64_t h = 0;
    for (int64_t p = 0; p < P; ++p) {
      const int64_t h0 = p * s.sh;
      zeros(d + h * W, (h0 - h) * W);  // rows between windows (sh > R)
      for (h = h0; h < h0 + R; ++h) {
        if (Q >= VB) {
          for (int64_t q0 = 0; q0 < Q; q0 += VB) {
            int32_t skip = 0;
            if (q0 + VB > Q) {  // overlap the previous block
              skip = static_cast<int32_t>(q0 + VB - Q);
              q0 = Q - VB;
            }
            block(g + p * Q, mk ? mk + p * Q : nullptr, ix + p * Q, d, h, q0, VB, skip);
            if (q0 + VB >= Q) break;
          }
        } else if (Q > 0) {
          block(g + p * Q, mk ? mk + p * Q : nullptr, ix + p * Q, d, h, 0, Q, 0);
        }
        zeros(d + h * W + wq, W - wq);
      }
    }
    zeros(d + h * W, (H - h) * W);
  }
  int64_t matched = 0;
  for (int64_t j = 0; j < VB; ++j) matched += count[j];
  return matched == planes * PQ;
}

template <typename T>
void max_fwd(const PoolShape& s, int64_t planes, const T* x, T* y, int32_t* idx) {
  const int64_t HW = s.H * s.W, PQ = s.P * s.Q;
  const bool k2 = s.R == 2 && s.S == 2 && s.sw == 2;
  for (int64_t i = 0; i < planes; ++i) {
    int32_t* ip = idx ? idx + i * PQ : nullptr;
    if (k2)
      max_plane<T, 2, 2, 2>(s, x + i * HW, y + i * PQ, ip, x + planes * HW, y + planes * PQ);
    else
      max_plane<T>(s, x + i * HW, y + i * PQ, ip, x + planes * HW, y + planes * PQ);
  }
}

template <typename T>
void avg_fwd(const PoolShape& s, int64_t planes, const T* x, T* y, bool inc_pad) {
  const int64_t HW = s.H * s.W, PQ = s.P * s.Q;
  for (int64_t i = 0; i < planes; ++i) avg_plane(s, x + i * HW, y + i * PQ, inc_pad);
}

}  // namespace

DC_REGISTER_DISPATCH_T(max_pool_fwd_stub, float, &max_fwd<float>);
DC_REGISTER_DISPATCH_T(max_pool_fwd_stub, double, &max_fwd<double>);
DC_REGISTER_DISPATCH_T(avg_pool_fwd_stub, float, &avg_fwd<float>);
DC_REGISTER_DISPATCH_T(avg_pool_fwd_stub, double, &avg_fwd<double>);
DC_REGISTER_DISPATCH_T(max_pool_bwd_w2_stub, float, &max_bwd_w2<float>);
DC_REGISTER_DISPATCH_T(max_pool_bwd_w2_stub, double, &max_bwd_w2<double>);

}  // namespace DC_ISA_NS
}  // namespace dc
