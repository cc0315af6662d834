// Convolution drivers: algorithm choice, threading, scratch memory. See csrc/conv.h.
//
// [Note: conv algorithm choice]
// im2col lowers the convolution to GEMMs of shape (M, N, K) = (K/G, output columns of a tile,
// C/G*R*S). A register-tiled GEMM only pays off when both M and K are large enough to fill its
// micro-tile and amortise packing; with few input channels (LeNet's first layer: C*R*S = 25)
// or few output channels per group (depthwise convolution: K/G = 1) most of its time goes to
// packing and edge tiles, and the im2col copy (R*S times the input) costs more than the
// arithmetic. The direct kernel has no copy beyond one padded image and keeps KB x 16 outputs
// in registers. So `automatic` picks
//   direct  when C/G*R*S <= 64 or K/G < 8  (few input or output channels per group),
//   im2col  otherwise (and always for 1x1 stride-1 unpadded convs, where the "column matrix" is
//           the input itself and no copy is made).
// The same rule serves the three passes (their GEMMs have the same three sizes in another
// order). Measured figures per shape are in bench/RESULTS.md.
//
// [Note: conv threading]
// Work is split into independent tasks (image x group x tile of output rows where outputs are
// disjoint); with at least as many tasks as threads, one OpenMP loop runs them and every GEMM
// runs single-threaded on its thread. With fewer tasks (batch 1), the tasks run in order and
// each GEMM uses all threads itself. Weight gradients go to per-thread partial buffers that
// are summed at the end, so no two threads ever add into the same element.
#include "conv.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "gemm.h"

DC_DEFINE_DISPATCH(conv_direct_fwd_f32);
DC_DEFINE_DISPATCH(conv_direct_fwd_f64);
DC_DEFINE_DISPATCH(conv_direct_bwd_in_f32);
DC_DEFINE_DISPATCH(conv_direct_bwd_in_f64);
DC_DEFINE_DISPATCH(conv_direct_bwd_w_f32);
DC_DEFINE_DISPATCH(conv_direct_bwd_w_f64);
DC_DEFINE_DISPATCH(im2col_f32);
DC_DEFINE_DISPATCH(im2col_f64);
DC_DEFINE_DISPATCH(col2im_f32);
DC_DEFINE_DISPATCH(col2im_f64);

namespace dc {

namespace {

// The ISA stubs for T.
template <typename T>
struct ConvStubs;
template <>
struct ConvStubs<float> {
  static auto& fwd() { return conv_direct_fwd_f32; }
  static auto& bwd_in() { return conv_direct_bwd_in_f32; }
  static auto& bwd_w() { return conv_direct_bwd_w_f32; }
  static auto& im2col() { return im2col_f32; }
  static auto& col2im() { return col2im_f32; }
};
template <>
struct ConvStubs<double> {
  static auto& fwd() { return conv_direct_fwd_f64; }
  static auto& bwd_in() { return conv_direct_bwd_in_f64; }
  static auto& bwd_w() { return conv_direct_bwd_w_f64; }
  static auto& im2col() { return im2col_f64; }
  static auto& col2im() { return col2im_f64; }
};

// Scratch budget of one im2col tile (per thread). 1 MiB keeps the column block within L2
// while the GEMM streams it; at least one output row is always taken.
constexpr int64_t kColBudgetBytes = int64_t(1) << 20;

bool is_pointwise(const ConvShape& s) {
  return s.R == 1 && s.S == 1 && s.sh == 1 && s.sw == 1 && s.ph == 0 && s.pw == 0 && s.P == s.H &&
         s.Q == s.W;
}

template <typename T>
int64_t tile_rows(const ConvShape& s) {
  const int64_t row_bytes = s.Cg() * s.R * s.S * s.Q * int64_t(sizeof(T));
  return std::clamp<int64_t>(kColBudgetBytes / std::max<int64_t>(row_bytes, 1), 1,
                             std::max<int64_t>(s.P, 1));
}

int max_threads() { return omp_in_parallel() ? 1 : omp_get_max_threads(); }

// Run f(task, thread) for every task; see [Note: conv threading].
template <typename F>
void for_tasks(int64_t ntasks, int nthreads, F&& f) {
  if (nthreads > 1 && ntasks >= nthreads) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads)
    for (int64_t i = 0; i < ntasks; ++i) f(i, omp_get_thread_num());
  } else {
    for (int64_t i = 0; i < ntasks; ++i) f(i, 0);
  }
}

// dst[i] += sum_t parts[t][i] over nparts partial buffers of n elements each.
template <typename T>
void reduce_partials(const T* parts, int nparts, int64_t n, T* dst, int nthreads) {
#pragma omp parallel for schedule(static) num_threads(nthreads) if (n * nparts > 32768)
  for (int64_t i = 0; i < n; ++i) {
    T acc = 0;
    for (int t = 0; t < nparts; ++t) acc += parts[t * n + i];
    dst[i] += acc;
  }
}

// db[k] += sum over n, p, q of dy[n,k,p,q] (accumulated in double: up to N*P*Q terms).
template <typename T>
void bias_grad(const ConvShape& s, const T* dy, T* db, int nthreads) {
  const int64_t PQ = s.P * s.Q;
#pragma omp parallel for schedule(static) num_threads(nthreads) if (s.N * s.K * PQ > 65536)
  for (int64_t k = 0; k < s.K; ++k) {
    double acc = 0;
    for (int64_t n = 0; n < s.N; ++n) {
      const T* d = dy + (n * s.K + k) * PQ;
      T part = 0;
      for (int64_t i = 0; i < PQ; ++i) part += d[i];
      acc += part;
    }
    db[k] += static_cast<T>(acc);
  }
}

// ---- direct ----------------------------------------------------------------------------------

struct PaddedExtent {
  int64_t Hp, Wp;
};
PaddedExtent direct_extent(const ConvShape& s) {
  return {conv_direct_padded_extent(s.P, s.sh, s.R, s.dh, 1),
          conv_direct_padded_extent(s.Q, s.sw, s.S, s.dw, kConvDirectQB)};
}

// xp (Cg,Hp,Wp) = x (Cg,H,W) shifted by (ph, pw), zero elsewhere (cropped where Hp/Wp end).
template <typename T>
void pad_copy(const ConvShape& s, const T* x, const PaddedExtent& e, T* xp) {
  std::fill(xp, xp + s.Cg() * e.Hp * e.Wp, T(0));
  const int64_t w_lo = std::max<int64_t>(0, -s.pw), w_hi = std::min(s.W, e.Wp - s.pw);
  if (w_hi <= w_lo) return;
  for (int64_t c = 0; c < s.Cg(); ++c)
    for (int64_t h = std::max<int64_t>(0, -s.ph); h < std::min(s.H, e.Hp - s.ph); ++h)
      std::memcpy(xp + (c * e.Hp + h + s.ph) * e.Wp + w_lo + s.pw, x + (c * s.H + h) * s.W + w_lo,
                  (w_hi - w_lo) * sizeof(T));
}

// dx (Cg,H,W) = the (ph, pw)-shifted window of dxp; elements outside dxp get 0.
template <typename T>
void unpad_copy(const ConvShape& s, const T* dxp, const PaddedExtent& e, T* dx) {
  std::fill(dx, dx + s.Cg() * s.H * s.W, T(0));
  const int64_t w_lo = std::max<int64_t>(0, -s.pw), w_hi = std::min(s.W, e.Wp - s.pw);
  if (w_hi <= w_lo) return;
  for (int64_t c = 0; c < s.Cg(); ++c)
    for (int64_t h = std::max<int64_t>(0, -s.ph); h < std::min(s.H, e.Hp - s.ph); ++h)
      std::memcpy(dx + (c * s.H + h) * s.W + w_lo, dxp + (c * e.Hp + h + s.ph) * e.Wp + w_lo + s.pw,
                  (w_hi - w_lo) * sizeof(T));
}

template <typename T>
void direct_forward(const ConvShape& s, const T* x, const T* w, const T* b, T* y) {
  const auto e = direct_extent(s);
  const int64_t CRS = s.Cg() * s.R * s.S, HW = s.H * s.W, PQ = s.P * s.Q, Kg = s.Kg();
  const int nt = max_threads();
  std::vector<T> scratch(size_t(nt) * s.Cg() * e.Hp * e.Wp);
  for_tasks(s.N * s.G, nt, [&](int64_t task, int tid) {
    const int64_t n = task / s.G, g = task % s.G;
    T* xp = scratch.data() + size_t(tid) * s.Cg() * e.Hp * e.Wp;
    pad_copy(s, x + (n * s.C + g * s.Cg()) * HW, e, xp);
    ConvStubs<T>::fwd()(s, xp, e.Hp, e.Wp, w + g * Kg * CRS, b ? b + g * Kg : b,
                        y + (n * s.K + g * Kg) * PQ);
  });
}

template <typename T>
void direct_backward_input(const ConvShape& s, const T* dy, const T* w, T* dx) {
  const auto e = direct_extent(s);
  const int64_t CRS = s.Cg() * s.R * s.S, HW = s.H * s.W, PQ = s.P * s.Q, Kg = s.Kg();
  const int nt = max_threads();
  std::vector<T> scratch(size_t(nt) * s.Cg() * e.Hp * e.Wp);
  for_tasks(s.N * s.G, nt, [&](int64_t task, int tid) {
    const int64_t n = task / s.G, g = task % s.G;
    T* dxp = scratch.data() + size_t(tid) * s.Cg() * e.Hp * e.Wp;
    std::fill(dxp, dxp + s.Cg() * e.Hp * e.Wp, T(0));
    ConvStubs<T>::bwd_in()(s, dy + (n * s.K + g * Kg) * PQ, w + g * Kg * CRS, dxp, e.Hp, e.Wp);
    unpad_copy(s, dxp, e, dx + (n * s.C + g * s.Cg()) * HW);
  });
}

template <typename T>
void direct_backward_weight(const ConvShape& s, const T* x, const T* dy, T* dw) {
  const auto e = direct_extent(s);
  const int64_t CRS = s.Cg() * s.R * s.S, HW = s.H * s.W, PQ = s.P * s.Q, Kg = s.Kg();
  const int nt = max_threads();
  const int64_t wsize = s.K * CRS;
  std::vector<T> scratch(size_t(nt) * s.Cg() * e.Hp * e.Wp);
  std::vector<T> parts(size_t(nt) * wsize, T(0));
  for_tasks(s.N * s.G, nt, [&](int64_t task, int tid) {
    const int64_t n = task / s.G, g = task % s.G;
    T* xp = scratch.data() + size_t(tid) * s.Cg() * e.Hp * e.Wp;
    pad_copy(s, x + (n * s.C + g * s.Cg()) * HW, e, xp);
    ConvStubs<T>::bwd_w()(s, xp, e.Hp, e.Wp, dy + (n * s.K + g * Kg) * PQ,
                          parts.data() + tid * wsize + g * Kg * CRS);
  });
  reduce_partials(parts.data(), nt, wsize, dw, nt);
}

// ---- im2col + GEMM -----------------------------------------------------------------------------

template <typename T>
void im2col_forward(const ConvShape& s, const T* x, const T* w, const T* b, T* y) {
  const int64_t CRS = s.Cg() * s.R * s.S, HW = s.H * s.W, PQ = s.P * s.Q, Kg = s.Kg();
  const bool pw = is_pointwise(s);
  const int64_t rows = tile_rows<T>(s), ntiles = (s.P + rows - 1) / rows;
  const int nt = max_threads();
  std::vector<T> scratch(pw ? 0 : size_t(nt) * CRS * rows * s.Q);
  for_tasks(s.N * s.G * ntiles, nt, [&](int64_t task, int tid) {
    const int64_t n = task / (s.G * ntiles), g = (task / ntiles) % s.G, t = task % ntiles;
    const int64_t p0 = t * rows, p1 = std::min(s.P, p0 + rows), ncols = (p1 - p0) * s.Q;
    const T* xg = x + (n * s.C + g * s.Cg()) * HW;
    T* yg = y + (n * s.K + g * Kg) * PQ + p0 * s.Q;
    const T* B = xg + p0 * s.Q;
    int64_t ldb = PQ;
    if (!pw) {
      T* col = scratch.data() + size_t(tid) * CRS * rows * s.Q;
      ConvStubs<T>::im2col()(s, xg, p0, p1, col);
      B = col;
      ldb = ncols;
    }
    gemm<T>(false, false, Kg, ncols, CRS, T(1), w + g * Kg * CRS, CRS, B, ldb, T(0), yg, PQ);
    if (b)
      for (int64_t k = 0; k < Kg; ++k) {
        const T bk = b[g * Kg + k];
        T* yr = yg + k * PQ;
        for (int64_t j = 0; j < ncols; ++j) yr[j] += bk;
      }
  });
}

template <typename T>
void im2col_backward_input(const ConvShape& s, const T* dy, const T* w, T* dx) {
  const int64_t CRS = s.Cg() * s.R * s.S, HW = s.H * s.W, PQ = s.P * s.Q, Kg = s.Kg();
  const bool pw = is_pointwise(s);
  const int64_t rows = tile_rows<T>(s), ntiles = (s.P + rows - 1) / rows;
  const int nt = max_threads();
  std::vector<T> scratch(pw ? 0 : size_t(nt) * CRS * rows * s.Q);
  // col2im of neighbouring row tiles overlap in dx: a task is a whole (image, group).
  for_tasks(s.N * s.G, nt, [&](int64_t task, int tid) {
    const int64_t n = task / s.G, g = task % s.G;
    T* dxg = dx + (n * s.C + g * s.Cg()) * HW;
    const T* wg = w + g * Kg * CRS;
    const T* dyg = dy + (n * s.K + g * Kg) * PQ;
    if (pw) {  // dx_g (Cg, HW) = w_g^T (Cg, Kg) @ dy_g (Kg, PQ)
      gemm<T>(true, false, CRS, PQ, Kg, T(1), wg, CRS, dyg, PQ, T(0), dxg, HW);
      return;
    }
    std::fill(dxg, dxg + s.Cg() * HW, T(0));
    T* col = scratch.data() + size_t(tid) * CRS * rows * s.Q;
    for (int64_t t = 0; t < ntiles; ++t) {
      const int64_t p0 = t * rows, p1 = std::min(s.P, p0 + rows), ncols = (p1 - p0) * s.Q;
      gemm<T>(true, false, CRS, ncols, Kg, T(1), wg, CRS, dyg + p0 * s.Q, PQ, T(0), col, ncols);
      ConvStubs<T>::col2im()(s, col, p0, p1, dxg);
    }
  });
}

template <typename T>
void im2col_backward_weight(const ConvShape& s, const T* x, const T* dy, T* dw) {
  const int64_t CRS = s.Cg() * s.R * s.S, HW = s.H * s.W, PQ = s.P * s.Q, Kg = s.Kg();
  const bool pw = is_pointwise(s);
  const int64_t rows = tile_rows<T>(s), ntiles = (s.P + rows - 1) / rows;
  const int nt = max_threads();
  const int64_t wsize = s.K * CRS;
  const bool serial = !(nt > 1 && s.N * s.G * ntiles >= nt);
  std::vector<T> scratch(pw ? 0 : size_t(nt) * CRS * rows * s.Q);
  // Serial task order: GEMMs accumulate straight into dw (beta = 1), multithreaded inside.
  std::vector<T> parts(serial ? 0 : size_t(nt) * wsize, T(0));
  for_tasks(s.N * s.G * ntiles, nt, [&](int64_t task, int tid) {
    const int64_t n = task / (s.G * ntiles), g = (task / ntiles) % s.G, t = task % ntiles;
    const int64_t p0 = t * rows, p1 = std::min(s.P, p0 + rows), ncols = (p1 - p0) * s.Q;
    const T* xg = x + (n * s.C + g * s.Cg()) * HW;
    const T* B = xg + p0 * s.Q;
    int64_t ldb = PQ;
    if (!pw) {
      T* col = scratch.data() + size_t(tid) * CRS * rows * s.Q;
      ConvStubs<T>::im2col()(s, xg, p0, p1, col);
      B = col;
      ldb = ncols;
    }
    T* dst = (serial ? dw : parts.data() + tid * wsize) + g * Kg * CRS;
    // dw_g (Kg, CRS) += dy_g (Kg, ncols) @ col^T (ncols, CRS)
    gemm<T>(false, true, Kg, CRS, ncols, T(1), dy + (n * s.K + g * Kg) * PQ + p0 * s.Q, PQ, B, ldb,
            T(1), dst, CRS);
  });
  if (!serial) reduce_partials(parts.data(), nt, wsize, dw, nt);
}

}  // namespace

ConvAlgo conv_resolve_algo(const ConvShape& s, ConvPass pass, ConvAlgo algo) {
  if (algo != ConvAlgo::automatic) return algo;
  if (is_pointwise(s)) return ConvAlgo::im2col;  // a plain GEMM on the input, no copy
  // See [Note: conv algorithm choice].
  if (s.Cg() * s.R * s.S <= 64 || s.Kg() < 8) return ConvAlgo::direct;
  return ConvAlgo::im2col;
}

const char* conv_algo_name(ConvAlgo algo) {
  switch (algo) {
    case ConvAlgo::direct:
      return "direct";
    case ConvAlgo::im2col:
      return "im2col";
    default:
      return "auto";
  }
}

template <typename T>
void conv2d_forward(const ConvShape& s, const T* x, const T* w, const T* b, T* y, ConvAlgo algo) {
  if (s.N * s.K * s.P * s.Q == 0) return;
  if (s.C == 0 || s.R * s.S == 0) {  // empty reduction: y = b
    for (int64_t n = 0; n < s.N; ++n)
      for (int64_t k = 0; k < s.K; ++k)
        std::fill(y + (n * s.K + k) * s.P * s.Q, y + (n * s.K + k + 1) * s.P * s.Q,
                  b ? b[k] : T(0));
    return;
  }
  if (conv_resolve_algo(s, ConvPass::forward, algo) == ConvAlgo::direct)
    direct_forward(s, x, w, b, y);
  else
    im2col_forward(s, x, w, b, y);
}

template <typename T>
void conv2d_backward_input(const ConvShape& s, const T* dy, const T* w, T* dx, ConvAlgo algo) {
  if (s.N * s.C * s.H * s.W == 0) return;
  if (s.K * s.P * s.Q == 0) {
    std::fill(dx, dx + s.N * s.C * s.H * s.W, T(0));
    return;
  }
  if (conv_resolve_algo(s, ConvPass::backward_input, algo) == ConvAlgo::direct)
    direct_backward_input(s, dy, w, dx);
  else
    im2col_backward_input(s, dy, w, dx);
}

template <typename T>
void conv2d_backward_weight(const ConvShape& s, const T* x, const T* dy, T* dw, T* db,
                            ConvAlgo algo) {
  if (db) bias_grad(s, dy, db, max_threads());
  if (s.N * s.P * s.Q == 0 || s.K * s.C * s.R * s.S == 0) return;
  if (conv_resolve_algo(s, ConvPass::backward_weight, algo) == ConvAlgo::direct)
    direct_backward_weight(s, x, dy, dw);
  else
    im2col_backward_weight(s, x, dy, dw);
}

#define DC_INSTANTIATE_CONV(T)                                                                   \
  template void conv2d_forward<T>(const ConvShape&, const T*, const T*, const T*, T*, ConvAlgo); \
  template void conv2d_backward_input<T>(const ConvShape&, const T*, const T*, T*, ConvAlgo);    \
  template void conv2d_backward_weight<T>(const ConvShape&, const T*, const T*, T*, T*, ConvAlgo);
DC_INSTANTIATE_CONV(float)
DC_INSTANTIATE_CONV(double)
#undef DC_INSTANTIATE_CONV

}  // namespace dc
