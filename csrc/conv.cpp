// Convolution drivers: algorithm choice, threading, scratch memory. See csrc/conv.h.
//
// [Note: conv algorithm choice]
// im2col lowers the convolution to GEMMs of shape (M, N, K) = (K/G, output columns of a tile,
// C/G*R*S). A register-tiled GEMM only pays off when both M and K are large enough to fill its
// micro-tile and amortise packing; with few input channels (LeNet's first layer: C*R*S = 25)
// or few output channels per group (depthwise convolution: K/G = 1) most of its time goes to
// packing and edge tiles, and the im2col copy (R*S times the input) costs more than the
// arithmetic. The direct forward kernel has no copy beyond one padded image and keeps
// KB x 16 outputs in registers. The implicit GEMM is conv3d's ([Note: implicit GEMM
// convolution]) on the unit-depth shape (unit3d): no column matrix at all, the tiles read the
// padded input in place. Measured per pass (AVX-512, float32, 1 thread CPU time and 2 threads
// wall, paired runs, median ratio old / implicit; 2026-12-06; the direct-vs-im2col figures are
// of 2026-11-23, 1 thread), `automatic` picks, after the pointwise case below:
//   forward          implicit where its tiles are mostly full (implicit_forward_full), K/G fills
//                    at least half an MR-row panel (LeNet's 6 channels: 0.37 vs direct 0.47 ms)
//                    and the images x groups deal evenly over the threads (see below); but not
//                    channel-vector tiles on a reduction C/G*R*S < 512 at unit stride, whose
//                    transposing copy and scalar stores cost more there than im2col's copy
//                    ((16,32,56,56)->64 3x3: 0.93; (16,16,56,56)->32: 0.92; strided, they win:
//                    (16,32,56,56)->64 3x3/2 1.16 / 1.32). Wins elsewhere: (16,128,14,14)->128
//                    1.21 / 1.36, (8,256,7,7)->256 1.28 / 1.17, (32,16,32,32)->8 2.18 / 2.19,
//                    AlexNet's 11x11/4 1.18 / 1.14, (32,64,56,56)->64 1.04 / 1.02. Else direct
//                    when K/G < 8 (depthwise: implicit 0.48 of direct's speed; K/G = 2: 0.55),
//                    else im2col (the seed convnet's first layer, C*R*S = 9 but K = 32: im2col
//                    0.31 ms, direct 0.54 ms);
//   backward_input   implicit (the forward on dy: unit strides only) by the same rule on that
//                    forward, where also C/G >= 2*MR and the padding is at least half the
//                    kernel's extent: fewer output channels of the flipped conv lose to
//                    GEMM + col2im ((64,6,12,12)->16 5x5: 0.38; C = 4: 0.83 / 0.73; C = 16:
//                    1.2-2.9), and a 'valid' conv's dx is a 'full' one on dy (0.85-0.91 at
//                    (16,32..64,30,30)->64 3x3). Else direct only when K/G == 1 (depthwise: the
//                    scatter kernel beats a GEMM with an inner dimension of 1), else im2col;
//   backward_weight  direct when C/G*R*S <= 32 (few input channels: its dot products along q
//                    read dy once per kernel row; (64,1,28,6,5) 0.18 vs 0.43 ms, (64,3,32,16,3)
//                    0.67 vs 1.08 ms; implicit 0.10-0.58 of direct's speed there); implicit
//                    where K/G fills 3/4 of its NR-lane tiles and C/G 3/4 of its MR rows, a row
//                    of K/G channels is at most 256 bytes, and output rows are >= 16 long: its
//                    tile reduces over a band of dy transposed into 32 KiB, so wide K/G or
//                    short rows leave each register tile a short reduction ((8,256,7,7)->256:
//                    0.70 / 0.31; (16,128,14,14)->128: 0.93 / 0.94; Q = 7 at 64 channels:
//                    1.05 / 0.73). Wins: conv_transpose2d's (16,32,56,56)->64 3x3/2 1.25 /
//                    1.47, (32,64,56,56)->64 1.11 / 1.12, conv1d k4/2 1.44 / 1.48,
//                    (32,16,32,32)->32 1.63 / 1.77. Else im2col ((64,6,12,16,5): 0.26 vs
//                    0.60 ms against direct);
// and always im2col for a 1x1 stride-1 unpadded conv, whose "column matrix" is the input
// itself (no copy), and for any 1x1 kernel (implicit 0.58-0.82 of im2col's speed).
// A unit-depth conv's implicit tasks are its N*G (image, group) pairs (plan_runs has one plane
// to split), so with fewer than about one per thread, or an uneven last round (3 images on 2
// threads: 0.83 / 0.85), im2col's row bands share the work better (batch 1 on 2 threads:
// 0.56-0.68): implicit only where N*G fills 7/8 of whole rounds over conv_threads. The choice
// thus depends on the thread count, as the partial sums of [Note: deterministic weight
// gradients] already do. algo="implicit" forces the implicit kernels (im2col for a strided
// backward_input); conv3d reads it as its own direct.
// [Note: conv threading]
// Work is split into independent tasks (a chunk of whole images x group for small images, an
// image x group x band of output rows for large ones: [Note: im2col tiles]; outputs of tasks
// are disjoint); with at least as many tasks as threads, one OpenMP loop runs them and every GEMM
// runs single-threaded on its thread. With fewer tasks (batch 1), the tasks run in order and
// each GEMM uses all threads itself. Weight gradients go to partial buffers, one per slot of
// tasks, summed at the end in a fixed order: no two threads ever add into the same element,
// and the result does not depend on scheduling ([Note: deterministic weight gradients]).
#include "conv.h"

#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <exception>
#include <tuple>
#include <vector>

#include "activation.h"
#include "core/scratch.h"
#include "core/threads.h"
#include "gemm.h"

namespace dc {

namespace {

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

// The threads a pass of this convolution may use: every pass does the same multiply-adds, and
// a tiny one runs on the calling thread ([Note: minimum work per thread] in core/threads.h).
int conv_threads(const Conv3dShape& v) {
  const ConvShape& s = v.s;
  return threads_for(
      double(s.N) * double(s.K) * double(v.O * s.P * s.Q) * double(s.Cg() * v.KD * s.R * s.S),
      kMacsPerThread);
}
int conv_threads(const ConvShape& s) { return conv_threads(unit3d(s)); }

// Run f(task, thread) for every task; see [Note: conv threading]. An exception in a task (a
// failed scratch allocation) is carried out of the parallel region and rethrown, as GEMM's
// parallel_blocks does: escaping an OpenMP region would terminate the process.
template <typename F>
void for_tasks(int64_t ntasks, int nthreads, F&& f) {
  if (nthreads > 1 && ntasks >= nthreads) {
    std::exception_ptr err;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads)
    for (int64_t i = 0; i < ntasks; ++i) {
      try {
        f(i, omp_get_thread_num());
      } catch (...) {
#pragma omp critical(dc_conv_error)
        if (!err) err = std::current_exception();
      }
    }
    if (err) std::rethrow_exception(err);
  } else {
    for (int64_t i = 0; i < ntasks; ++i) f(i, 0);
  }
}

// dst[i] += sum_t parts[t * stride + i] over nparts partial buffers of n elements each.
template <typename T>
void reduce_partials(const T* parts, int nparts, int64_t n, T* dst, int nthreads,
                     int64_t stride = -1) {
  if (stride < 0) stride = n;
#pragma omp parallel for schedule(static) num_threads(nthreads) if (n * nparts > 32768)
  for (int64_t i = 0; i < n; ++i) {
    T acc = 0;
    for (int t = 0; t < nparts; ++t) acc += parts[t * stride + i];
    dst[i] += acc;
  }
}

// `count` chunks of N consecutive items (images, tasks), sizes differing by at most one (chunk i is
// images [N*i/count, N*(i+1)/count)): 64 images in 10 chunks are 4 x 7 + 6 x 6, not 9 x 7 + 1,
// which left one thread a fifth more work.
struct Chunks {
  int64_t N, count;
  int64_t first(int64_t i) const { return N * i / count; }
  int64_t size(int64_t i) const { return first(i + 1) - first(i); }
};

// [Note: deterministic weight gradients]
// A weight gradient is a sum over tasks (images, groups, bands of rows). A partial buffer per
// thread, filled with whichever tasks the thread happened to take, made the order of that sum
// (and so its last bits) depend on scheduling: repeated calls differed. Instead the tasks are
// dealt into a fixed number of slots (kSlotsPerThread per thread, contiguous runs of tasks:
// fixed by the task and thread counts); one thread runs a slot's tasks in order into the
// slot's partial buffer, and the partials are summed in slot order. Slots are still scheduled
// dynamically, so a core taken by another process costs only its share of them. With fewer
// tasks than threads, the tasks run in order, each GEMM multithreaded (an element of its
// output is always computed by one thread, in one order). Either way the result depends only
// on the thread count (the one the call uses: conv_threads), never on timing.
constexpr int64_t kSlotsPerThread = 2;

// Runs f(task, acc) for every task in [0, ntasks), the task adding its contribution (n
// elements) into acc, in the fixed order above; then reduce(parts, nparts) sums the nparts
// partial buffers (n elements each, in `slot` scratch) into the result. With fewer tasks than
// threads and `serial_dst` non-null, the tasks add straight into serial_dst instead.
template <typename T, typename F, typename R>
void sum_over_tasks(int64_t ntasks, int nt, int64_t n, ScratchSlot slot, T* serial_dst, F&& f,
                    R&& reduce) {
  const bool parallel = nt > 1 && ntasks >= nt;
  if (!parallel && serial_dst) {
    for (int64_t i = 0; i < ntasks; ++i) f(i, serial_dst);
    return;
  }
  const Chunks slots{ntasks, parallel ? std::min<int64_t>(ntasks, kSlotsPerThread * nt) : 1};
  T* parts = thread_scratch<T>(slot, slots.count * n);
  std::fill(parts, parts + slots.count * n, T(0));
  for_tasks(slots.count, nt, [&](int64_t sl, int) {
    for (int64_t i = slots.first(sl); i < slots.first(sl + 1); ++i) f(i, parts + sl * n);
  });
  reduce(static_cast<const T*>(parts), static_cast<int>(slots.count));
}

// dst[i] = src[i] + bias, then ReLU when `relu` (x < 0 ? 0 : x, so NaN stays NaN, as the
// activation kernels): the forward's epilogue, fused into the pass that adds the bias.
template <typename T>
void bias_epilogue(T* dst, const T* src, int64_t n, T bias, bool relu) {
  if (relu) {
    for (int64_t i = 0; i < n; ++i) {
      const T v = src[i] + bias;
      dst[i] = v < T(0) ? T(0) : v;
    }
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i] + bias;
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

// xp (Cg,Hp,Wp) = rows [row0, row0 + Hp) of x (Cg,H,W) shifted by (ph, pw), i.e. xp[c, i, j] =
// x[c, row0 + i - ph, j - pw], zero outside x (cropped where Wp ends). row0 > 0: a band.
template <typename T>
void pad_copy(const ConvShape& s, const T* x, const PaddedExtent& e, T* xp, int64_t row0 = 0) {
  std::fill(xp, xp + s.Cg() * e.Hp * e.Wp, T(0));
  const int64_t w_lo = std::max<int64_t>(0, -s.pw), w_hi = std::min(s.W, e.Wp - s.pw);
  if (w_hi <= w_lo) return;
  const int64_t h_lo = std::max<int64_t>(0, row0 - s.ph), h_hi = std::min(s.H, row0 + e.Hp - s.ph);
  for (int64_t c = 0; c < s.Cg(); ++c)
    for (int64_t h = h_lo; h < h_hi; ++h)
      std::memcpy(xp + (c * e.Hp + h + s.ph - row0) * e.Wp + w_lo + s.pw,
                  x + (c * s.H + h) * s.W + w_lo, (w_hi - w_lo) * sizeof(T));
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
void direct_forward(const ConvShape& s, const T* x, const T* w, const T* b, T* y, bool relu) {
  const auto e = direct_extent(s);
  const int64_t CRS = s.Cg() * s.R * s.S, HW = s.H * s.W, PQ = s.P * s.Q, Kg = s.Kg();
  const int nt = conv_threads(s);
  for_tasks(s.N * s.G, nt, [&](int64_t task, int) {
    const int64_t n = task / s.G, g = task % s.G;
    T* xp = thread_scratch<T>(ScratchSlot::conv_pad, s.Cg() * e.Hp * e.Wp);
    pad_copy(s, x + (n * s.C + g * s.Cg()) * HW, e, xp);
    T* yg = y + (n * s.K + g * Kg) * PQ;
    conv_direct_fwd_stub<T>(s, xp, e.Hp, e.Wp, w + g * Kg * CRS, b ? b + g * Kg : b, yg);
    if (relu) bias_epilogue(yg, yg, Kg * PQ, T(0), true);  // still in cache
  });
}

template <typename T>
void direct_backward_input(const ConvShape& s, const T* dy, const T* w, T* dx) {
  const auto e = direct_extent(s);
  const int64_t CRS = s.Cg() * s.R * s.S, HW = s.H * s.W, PQ = s.P * s.Q, Kg = s.Kg();
  const int nt = conv_threads(s);
  for_tasks(s.N * s.G, nt, [&](int64_t task, int) {
    const int64_t n = task / s.G, g = task % s.G;
    T* dxp = thread_scratch<T>(ScratchSlot::conv_pad, s.Cg() * e.Hp * e.Wp);
    std::fill(dxp, dxp + s.Cg() * e.Hp * e.Wp, T(0));
    conv_direct_bwd_in_stub<T>(s, dy + (n * s.K + g * Kg) * PQ, w + g * Kg * CRS, dxp, e.Hp, e.Wp);
    unpad_copy(s, dxp, e, dx + (n * s.C + g * s.Cg()) * HW);
  });
}

// dw += ..., and db += ... when db is non-null (computed by the kernel from its copy of dy).
template <typename T>
void direct_backward_weight(const ConvShape& s, const T* x, const T* dy, T* dw, T* db) {
  const auto e = direct_extent(s);
  const int64_t CRS = s.Cg() * s.R * s.S, HW = s.H * s.W, PQ = s.P * s.Q, Kg = s.Kg();
  const int nt = conv_threads(s);
  const int64_t wsize = s.K * CRS, psize = wsize + (db ? s.K : 0);  // per partial: dw, then db
  const int64_t Qr = (s.Q + kConvDirectQB - 1) / kConvDirectQB * kConvDirectQB;
  // see [Note: deterministic weight gradients]
  sum_over_tasks<T>(
      s.N * s.G, nt, psize, ScratchSlot::conv_out, nullptr,
      [&](int64_t task, T* acc) {
        const int64_t n = task / s.G, g = task % s.G;
        T* xp = thread_scratch<T>(ScratchSlot::conv_pad, s.Cg() * e.Hp * e.Wp);
        pad_copy(s, x + (n * s.C + g * s.Cg()) * HW, e, xp);
        T* dyp = thread_scratch<T>(ScratchSlot::conv_dy, Kg * s.P * Qr);
        conv_direct_bwd_w_stub<T>(s, xp, e.Hp, e.Wp, dy + (n * s.K + g * Kg) * PQ, dyp,
                                  acc + g * Kg * CRS, db ? acc + wsize + g * Kg : nullptr);
      },
      [&](const T* parts, int nparts) {
        reduce_partials(parts, nparts, wsize, dw, nt, psize);
        if (db)
          for (int64_t k = 0; k < s.K; ++k) {
            double acc = 0;
            for (int t = 0; t < nparts; ++t) acc += parts[t * psize + wsize + k];
            db[k] += static_cast<T>(acc);
          }
      });
}

// ---- im2col + GEMM -----------------------------------------------------------------------------
//
// [Note: im2col tiles]
// Two ways to cut the work, by image size; either way one OpenMP loop runs independent tasks
// and each task's GEMM runs single-threaded on its thread (see [Note: conv threading]): a
// training step makes dozens of conv calls, and a fork/join per stage (im2col, GEMM, scatter)
// measured up to 3x slower on this 2-core machine whenever another process took a core.
//  - small images (P*Q < kBatchedMaxPQ, e.g. every layer of an MNIST convnet): a task is a
//    chunk of images lowered side by side into one column matrix (C/G*R*S, imgs*P*Q) and ONE
//    GEMM over it. A GEMM per image would have N = P*Q columns (121 for a 13x13 layer, 9 for
//    5x5), mostly packing overhead and edge tiles. Output (gradient) columns of several images
//    are not a strided matrix, so they are staged in scratch and scattered / gathered per
//    image. Chunks are sized so the column block stays in the core's L2 (kBatchedColBytes)
//    and their number is a multiple of the thread count.
//  - large images: tasks of (image, group, band of output rows), the band's column block
//    bounded by kColBudgetBytes. Backward-input keeps whole images (the batched path, one
//    image per chunk) while one image's column block is at most kWholeImageDxBytes: its
//    gather-form col2im needs all of a row's contributions at once.

// Images of at most this many output pixels take the batched path.
constexpr int64_t kBatchedMaxPQ = 2048;
// Column block budget of one batched chunk (a chunk has at least one image): about one core's
// L2, so the GEMM reads what im2col has just written from cache. Measured on (64,32,13,64,3),
// 1 thread: 16 MiB chunks 1.98 / 2.37 ms forward / dW, 1-4 MiB 1.62-1.66 / 1.76.
constexpr int64_t kBatchedColBytes = int64_t(1) << 20;

bool batched(const ConvShape& s) { return s.P * s.Q < kBatchedMaxPQ; }
// Backward-input takes the batched path (one image per chunk) up to this column block.
constexpr int64_t kWholeImageDxBytes = int64_t(8) << 20;

template <typename T>
Chunks plan_chunks(const ConvShape& s, int nt) {
  const int64_t img_bytes = std::max<int64_t>(s.Cg() * s.R * s.S * s.P * s.Q * sizeof(T), 1);
  int64_t count = (s.N * img_bytes + kBatchedColBytes - 1) / kBatchedColBytes;
  count = std::max<int64_t>(1, std::min(s.N, (count + nt - 1) / nt * nt));  // whole rounds
  return {s.N, count};
}

// Whole-image lowering works on a zero-padded copy of each image (see im2col_padded in
// conv.h), except when no padding is needed: a 'valid' conv reads the image in place. The
// decision is made here, once, from the padding itself: the extent alone cannot tell, since a
// padded conv whose extent happens to equal (H, W) (stride > 2p and H - kernel extent a
// multiple of the stride) still needs its zeros.
PaddedExtent padded_extent(const ConvShape& s) {
  return {conv_direct_padded_extent(s.P, s.sh, s.R, s.dh, 1),
          conv_direct_padded_extent(s.Q, s.sw, s.S, s.dw, 1)};
}
bool in_place(const ConvShape& s) {
  const PaddedExtent e = padded_extent(s);
  return s.ph == 0 && s.pw == 0 && e.Hp <= s.H && e.Wp <= s.W;
}
PaddedExtent whole_image_extent(const ConvShape& s) {
  return in_place(s) ? PaddedExtent{s.H, s.W} : padded_extent(s);
}

// The extent and the calling thread's padded-image buffer (null when read in place).
template <typename T>
struct WholeImage {
  PaddedExtent e;
  T* buf;
  explicit WholeImage(const ConvShape& s)
      : e(whole_image_extent(s)),
        buf(in_place(s) ? nullptr
                        : thread_scratch<T>(ScratchSlot::conv_pad, s.Cg() * e.Hp * e.Wp)) {}
};

// col (CRS, nimg*PQ) = im2col of images [n0, n0+nimg), group g, side by side.
template <typename T>
void batch_columns(const ConvShape& s, const T* x, int64_t n0, int64_t nimg, int64_t g, T* col) {
  const int64_t HW = s.H * s.W, PQ = s.P * s.Q, ld = nimg * PQ;
  const WholeImage<T> img(s);
  for (int64_t j = 0; j < nimg; ++j) {
    const T* xi = x + ((n0 + j) * s.C + g * s.Cg()) * HW;
    if (img.buf) {
      pad_copy(s, xi, img.e, img.buf);
      xi = img.buf;
    }
    im2col_padded_stub<T>(s, xi, img.e.Hp, img.e.Wp, col + j * PQ, ld);
  }
}

// dx of images [n0, n0+nimg), group g = col2im of col (CRS, nimg*PQ).
template <typename T>
void batch_col2im(const ConvShape& s, const T* col, int64_t n0, int64_t nimg, int64_t g, T* dx) {
  const int64_t HW = s.H * s.W, PQ = s.P * s.Q, ld = nimg * PQ;
  const WholeImage<T> img(s);
  for (int64_t j = 0; j < nimg; ++j) {
    T* dxi = dx + ((n0 + j) * s.C + g * s.Cg()) * HW;
    col2im_padded_stub<T>(s, col + j * PQ, ld, img.buf ? img.buf : dxi, img.e.Hp, img.e.Wp);
    if (img.buf) unpad_copy(s, img.buf, img.e, dxi);
  }
}

// out (Kg, nimg*PQ) = the group's channels of dy for images [n0, n0+nimg).
template <typename T>
void batch_gather(const ConvShape& s, const T* dy, int64_t n0, int64_t nimg, int64_t g, T* out) {
  const int64_t PQ = s.P * s.Q, Kg = s.Kg();
  for (int64_t c = 0; c < Kg; ++c)
    for (int64_t j = 0; j < nimg; ++j)
      std::memcpy(out + (c * nimg + j) * PQ, dy + ((n0 + j) * s.K + g * Kg + c) * PQ,
                  PQ * sizeof(T));
}

// The chunk's column block (CRS, nimg*PQ) in the thread's scratch; for a pointwise conv of one
// image, the input itself (row stride P*Q = H*W).
template <typename T>
const T* chunk_columns(const ConvShape& s, const T* x, int64_t n0, int64_t nimg, int64_t g) {
  if (is_pointwise(s) && nimg == 1) return x + (n0 * s.C + g * s.Cg()) * s.P * s.Q;
  T* col = thread_scratch<T>(ScratchSlot::conv_col, s.Cg() * s.R * s.S * nimg * s.P * s.Q);
  batch_columns(s, x, n0, nimg, g, col);
  return col;
}

// The chunk's dy as one (Kg, nimg*PQ) matrix: dy itself for one image, else gathered into the
// thread's scratch.
template <typename T>
const T* chunk_dy(const ConvShape& s, const T* dy, int64_t n0, int64_t nimg, int64_t g) {
  if (nimg == 1) return dy + (n0 * s.K + g * s.Kg()) * s.P * s.Q;
  T* dys = thread_scratch<T>(ScratchSlot::conv_out, s.Kg() * nimg * s.P * s.Q);
  batch_gather(s, dy, n0, nimg, g, dys);
  return dys;
}

template <typename T>
void batched_forward(const ConvShape& s, const T* x, const T* w, const T* b, T* y, bool relu,
                     int nt) {
  const int64_t CRS = s.Cg() * s.R * s.S, PQ = s.P * s.Q, Kg = s.Kg();
  const Chunks ch = plan_chunks<T>(s, nt);
  for_tasks(ch.count * s.G, nt, [&](int64_t task, int) {
    const int64_t n0 = ch.first(task / s.G), nimg = ch.size(task / s.G), g = task % s.G;
    const int64_t ld = nimg * PQ;
    const T* B = chunk_columns(s, x, n0, nimg, g);
    // one image: straight into y (the scatter below then only adds the bias in place)
    T* ys = nimg == 1 ? y + (n0 * s.K + g * Kg) * PQ
                      : thread_scratch<T>(ScratchSlot::conv_out, Kg * ld);
    gemm<T>(false, false, Kg, ld, CRS, T(1), w + g * Kg * CRS, CRS, B, ld, T(0), ys, ld);
    // scatter (Kg, nimg*PQ) to each image's (Kg, PQ), adding the bias (and ReLU)
    for (int64_t j = 0; j < nimg; ++j)
      for (int64_t c = 0; c < Kg; ++c) {
        const T bk = b ? b[g * Kg + c] : T(0);
        const T* src = ys + c * ld + j * PQ;
        T* dst = y + ((n0 + j) * s.K + g * Kg + c) * PQ;
        bias_epilogue(dst, src, PQ, bk, relu);
      }
  });
}

template <typename T>
void batched_backward_input(const ConvShape& s, const T* dy, const T* w, T* dx, int nt) {
  const int64_t CRS = s.Cg() * s.R * s.S, HW = s.H * s.W, PQ = s.P * s.Q, Kg = s.Kg();
  const Chunks ch = plan_chunks<T>(s, nt);
  for_tasks(ch.count * s.G, nt, [&](int64_t task, int) {
    const int64_t n0 = ch.first(task / s.G), nimg = ch.size(task / s.G), g = task % s.G;
    const int64_t ld = nimg * PQ;
    const T* A = w + g * Kg * CRS;
    const T* B = chunk_dy(s, dy, n0, nimg, g);
    if (is_pointwise(s) && nimg == 1) {  // dx_g (Cg, HW) = w_g^T (Cg, Kg) @ dy_g (Kg, PQ)
      gemm<T>(true, false, CRS, ld, Kg, T(1), A, CRS, B, ld, T(0),
              dx + (n0 * s.C + g * s.Cg()) * HW, ld);
      return;
    }
    T* col = thread_scratch<T>(ScratchSlot::conv_col, CRS * ld);
    gemm<T>(true, false, CRS, ld, Kg, T(1), A, CRS, B, ld, T(0), col, ld);
    batch_col2im(s, col, n0, nimg, g, dx);
  });
}

template <typename T>
void batched_backward_weight(const ConvShape& s, const T* x, const T* dy, T* dw, int nt) {
  const int64_t CRS = s.Cg() * s.R * s.S, PQ = s.P * s.Q, Kg = s.Kg(), wsize = s.K * CRS;
  const Chunks ch = plan_chunks<T>(s, nt);
  // Serial task order: GEMMs accumulate straight into dw (beta = 1), multithreaded inside;
  // otherwise see [Note: deterministic weight gradients].
  sum_over_tasks<T>(
      ch.count * s.G, nt, wsize, ScratchSlot::conv_dy, dw,
      [&](int64_t task, T* acc) {
        const int64_t n0 = ch.first(task / s.G), nimg = ch.size(task / s.G), g = task % s.G;
        const int64_t ld = nimg * PQ;
        const T* A = chunk_dy(s, dy, n0, nimg, g);
        const T* B = chunk_columns(s, x, n0, nimg, g);
        // dw_g (Kg, CRS) += dy_g (Kg, ld) @ col^T (ld, CRS)
        gemm<T>(false, true, Kg, CRS, ld, T(1), A, ld, B, ld, T(1), acc + g * Kg * CRS, CRS);
      },
      [&](const T* parts, int nparts) { reduce_partials(parts, nparts, wsize, dw, nt); });
}

// Large images: tasks of (image, group, band of output rows).
struct Tiling {
  int64_t rows;    // output rows per tile
  int64_t ntiles;  // tiles per image
};

template <typename T>
Tiling plan_tiles(const ConvShape& s) {
  const int64_t rows = tile_rows<T>(s);
  return {rows, (s.P + rows - 1) / rows};
}

// One tile's work item: image n, group g, output rows [p0, p1).
struct TileTask {
  int64_t n, g, p0, p1;
};
TileTask tile_task(const ConvShape& s, const Tiling& t, int64_t task) {
  const int64_t n = task / (s.G * t.ntiles), g = (task / t.ntiles) % s.G, tile = task % t.ntiles;
  const int64_t p0 = tile * t.rows;
  return {n, g, p0, std::min(s.P, p0 + t.rows)};
}

// col (CRS, (p1-p0)*Q) = im2col of output rows [p0, p1) of one image group xi (Cg, H, W), by
// the padded whole-image kernel (no bounds logic) on the rows of the padded image the band
// reads: the image itself when it needs no padding, else a zero-padded copy of just those
// rows ((p1-p0-1)*sh + (R-1)*dh + 1 of them) in the thread's scratch.
template <typename T>
void band_columns(const ConvShape& s, const T* xi, int64_t p0, int64_t p1, T* col) {
  const PaddedExtent e = whole_image_extent(s);
  ConvShape band = s;
  band.P = p1 - p0;
  const int64_t ld = band.P * s.Q;
  if (in_place(s)) {
    im2col_padded_stub<T>(band, xi + p0 * s.sh * s.W, s.H, s.W, col, ld);
    return;
  }
  const PaddedExtent rows{(band.P - 1) * s.sh + (s.R - 1) * s.dh + 1, e.Wp};
  T* buf = thread_scratch<T>(ScratchSlot::conv_pad, s.Cg() * rows.Hp * rows.Wp);
  pad_copy(s, xi, rows, buf, p0 * s.sh);
  im2col_padded_stub<T>(band, buf, rows.Hp, rows.Wp, col, ld);
}

// Column block of a tile (row stride = its column count), or, for a pointwise conv, the input
// itself (row stride P*Q). Returns the block and its row stride.
template <typename T>
const T* tile_columns(const ConvShape& s, const TileTask& k, const T* x, T* col, int64_t& ld) {
  const int64_t HW = s.H * s.W;
  if (is_pointwise(s)) {
    ld = s.P * s.Q;
    return x + (k.n * s.C + k.g * s.Cg()) * HW + k.p0 * s.Q;
  }
  ld = (k.p1 - k.p0) * s.Q;
  const T* xi = x + (k.n * s.C + k.g * s.Cg()) * HW;
  if (s.sw == 1)  // 7 % faster at 2 threads on (32,64,56,64,3); strided rows gain nothing
    band_columns(s, xi, k.p0, k.p1, col);  // and pay the band copy (AlexNet's 11x11/4: -5 %)
  else
    im2col_stub<T>(s, xi, k.p0, k.p1, col, ld);
  return col;
}

template <typename T>
void im2col_forward(const ConvShape& s, const T* x, const T* w, const T* b, T* y, bool relu) {
  const int nt = conv_threads(s);
  if (batched(s)) return batched_forward(s, x, w, b, y, relu, nt);
  const int64_t CRS = s.Cg() * s.R * s.S, PQ = s.P * s.Q, Kg = s.Kg();
  const Tiling t = plan_tiles<T>(s);
  for_tasks(s.N * s.G * t.ntiles, nt, [&](int64_t task, int) {
    const TileTask k = tile_task(s, t, task);
    const int64_t cols = (k.p1 - k.p0) * s.Q;
    T* col = thread_scratch<T>(ScratchSlot::conv_col, CRS * t.rows * s.Q);
    int64_t ldb;
    const T* B = tile_columns(s, k, x, col, ldb);
    T* yg = y + (k.n * s.K + k.g * Kg) * PQ + k.p0 * s.Q;
    gemm<T>(false, false, Kg, cols, CRS, T(1), w + k.g * Kg * CRS, CRS, B, ldb, T(0), yg, PQ);
    if (b || relu)
      for (int64_t c = 0; c < Kg; ++c)
        bias_epilogue(yg + c * PQ, yg + c * PQ, cols, b ? b[k.g * Kg + c] : T(0), relu);
  });
}

template <typename T>
void im2col_backward_input(const ConvShape& s, const T* dy, const T* w, T* dx) {
  const int nt = conv_threads(s);
  // Whole images also for larger ones whose column block stays moderate: the gather-form
  // col2im needs every row's contributions at once, and measured faster than banded col2im
  // ((32,64,56,64,3): 20.9 vs 22.4 ms at 2 threads; AlexNet's 11x11/4: 33.4 vs 37.2 at 1).
  if (batched(s) || s.Cg() * s.R * s.S * s.P * s.Q * int64_t(sizeof(T)) <= kWholeImageDxBytes)
    return batched_backward_input(s, dy, w, dx, nt);
  const int64_t CRS = s.Cg() * s.R * s.S, HW = s.H * s.W, PQ = s.P * s.Q, Kg = s.Kg();
  const Tiling t = plan_tiles<T>(s);
  // col2im of neighbouring row tiles overlap in dx: a task is a whole image (all row tiles).
  for_tasks(s.N * s.G, nt, [&](int64_t task, int) {
    const int64_t n = task / s.G, g = task % s.G;
    const T* wg = w + g * Kg * CRS;
    T* dxg = dx + (n * s.C + g * s.Cg()) * HW;
    const T* dyg = dy + (n * s.K + g * Kg) * PQ;
    if (is_pointwise(s)) {  // dx_g (Cg, HW) = w_g^T (Cg, Kg) @ dy_g (Kg, PQ)
      gemm<T>(true, false, CRS, PQ, Kg, T(1), wg, CRS, dyg, PQ, T(0), dxg, HW);
      return;
    }
    T* col = thread_scratch<T>(ScratchSlot::conv_col, CRS * t.rows * s.Q);
    std::fill(dxg, dxg + s.Cg() * HW, T(0));
    for (int64_t tile = 0; tile < t.ntiles; ++tile) {
      const int64_t p0 = tile * t.rows, p1 = std::min(s.P, p0 + t.rows), cols = (p1 - p0) * s.Q;
      gemm<T>(true, false, CRS, cols, Kg, T(1), wg, CRS, dyg + p0 * s.Q, PQ, T(0), col, cols);
      col2im_stub<T>(s, col, p0, p1, dxg, cols);
    }
  });
}

template <typename T>
void im2col_backward_weight(const ConvShape& s, const T* x, const T* dy, T* dw) {
  const int nt = conv_threads(s);
  if (batched(s)) return batched_backward_weight(s, x, dy, dw, nt);
  const int64_t CRS = s.Cg() * s.R * s.S, PQ = s.P * s.Q, Kg = s.Kg();
  const Tiling t = plan_tiles<T>(s);
  const int64_t wsize = s.K * CRS;
  // Serial task order: GEMMs accumulate straight into dw (beta = 1), multithreaded inside;
  // otherwise see [Note: deterministic weight gradients].
  sum_over_tasks<T>(
      s.N * s.G * t.ntiles, nt, wsize, ScratchSlot::conv_out, dw,
      [&](int64_t task, T* acc) {
        const TileTask k = tile_task(s, t, task);
        T* col = thread_scratch<T>(ScratchSlot::conv_col, CRS * t.rows * s.Q);
        int64_t ldb;
        const T* B = tile_columns(s, k, x, col, ldb);
        const T* A = dy + (k.n * s.K + k.g * Kg) * PQ + k.p0 * s.Q;
        const int64_t cols = (k.p1 - k.p0) * s.Q;
        // dw_g (Kg, CRS) += dy_g (Kg, cols) @ col^T (cols, CRS)
        gemm<T>(false, true, Kg, CRS, cols, T(1), A, PQ, B, ldb, T(1), acc + k.g * Kg * CRS, CRS);
      },
      [&](const T* parts, int nparts) { reduce_partials(parts, nparts, wsize, dw, nt); });
}

// ---- 3-D: vol2col + GEMM -----------------------------------------------------------------------
//
// [Note: vol2col from im2col]
// A 3-D convolution lowers to GEMMs exactly as the 2-D im2col path does, with the column
// matrix of one image group (rows (c, kd, r, s), i.e. the weight's (C/G, KD, R, S) flattened;
// one column per output position) built from 2-D pieces: the rows (c, kd, *, *) of the output
// plane o are the 2-D im2col of input plane d = o*sd - pd + kd*dd of channel c (zeros when d
// falls in the depth padding). So the ISA im2col / col2im kernels above (one channel, a range
// of output rows, any row stride) do all of the spatial index math and vectorised copying;
// nothing here knows about H and W beyond passing them through. The output volume's rows
// (o, p) are numbered t = o*P + p as one axis of O*P rows, so a task is an (image, group, band
// of rows) with a column block bounded by kColBudgetBytes, as for large 2-D images (a band may
// span several planes or part of one). Backward-input keeps whole volumes (bands overlap in dx)
// and col2vol accumulates into a zeroed dx. A pointwise 3-D conv (1x1x1, stride 1, no padding)
// uses the input itself as its column matrix. Weight gradients go through sum_over_tasks, so
// they are deterministic as in 2-D ([Note: deterministic weight gradients]). This is the
// im2col algorithm: vol2col + GEMM, or, for depth dilation 1, the same GEMMs on a stack of 2-D
// blocks that lowers each input plane once ([Note: stacked planes]); the direct algorithm is
// the implicit GEMM below ([Note: implicit GEMM convolution]).

bool is_pointwise3d(const Conv3dShape& v) {
  return v.KD == 1 && v.sd == 1 && v.pd == 0 && v.O == v.D && is_pointwise(v.s);
}

// Rows (t0..t1 of the O*P output rows) per band, and bands per volume.
template <typename T>
Tiling plan_bands3d(const Conv3dShape& v) {
  const ConvShape& s = v.s;
  const int64_t rows_total = v.O * s.P;
  const int64_t row_bytes = s.Cg() * v.KD * s.R * s.S * s.Q * int64_t(sizeof(T));
  const int64_t rows = std::clamp<int64_t>(kColBudgetBytes / std::max<int64_t>(row_bytes, 1), 1,
                                           std::max<int64_t>(rows_total, 1));
  return {rows, (rows_total + rows - 1) / rows};
}

// f(c, kd, d, p0, p1, row, colo) for every (channel, kernel depth tap, output plane) piece of
// the band [t0, t1): its rows (c, kd, *, *) start at `row` = (c*KD + kd)*R*S, its columns at
// `colo` = (o*P + p0 - t0)*Q; it covers output rows [p0, p1) of plane o, reading input plane d
// (-1 in the depth padding).
template <typename F>
void for_band_pieces(const Conv3dShape& v, int64_t t0, int64_t t1, F&& f) {
  const ConvShape& s = v.s;
  const int64_t RS = s.R * s.S;
  for (int64_t c = 0; c < s.Cg(); ++c)
    for (int64_t kd = 0; kd < v.KD; ++kd)
      for (int64_t o = t0 / s.P; o * s.P < t1; ++o) {
        const int64_t p0 = std::max(t0, o * s.P) - o * s.P;
        const int64_t p1 = std::min(t1, (o + 1) * s.P) - o * s.P;
        int64_t d = o * v.sd - v.pd + kd * v.dd;
        if (d < 0 || d >= v.D) d = -1;
        f(c, kd, d, p0, p1, (c * v.KD + kd) * RS, (o * s.P + p0 - t0) * s.Q);
      }
}

// One channel's plane geometry, for the 2-D kernels.
ConvShape plane_shape(const Conv3dShape& v) {
  ConvShape s1 = v.s;
  s1.C = s1.G = 1;
  return s1;
}

// col (CKRS, (t1-t0)*Q; row stride ld) = vol2col of band [t0, t1) of the group's input
// xg (Cg, D, H, W).
template <typename T>
void vol2col(const Conv3dShape& v, const T* xg, int64_t t0, int64_t t1, T* col, int64_t ld) {
  const ConvShape s1 = plane_shape(v);
  const int64_t HW = s1.H * s1.W, RS = s1.R * s1.S;
  for_band_pieces(
      v, t0, t1,
      [&](int64_t c, int64_t, int64_t d, int64_t p0, int64_t p1, int64_t row, int64_t colo) {
        T* dst = col + row * ld + colo;
        if (d < 0) {
          for (int64_t i = 0; i < RS; ++i)
            std::fill(dst + i * ld, dst + i * ld + (p1 - p0) * s1.Q, T(0));
        } else {
          im2col_stub<T>(s1, xg + (c * v.D + d) * HW, p0, p1, dst, ld);
        }
      });
}

// dxg (Cg, D, H, W) += col2vol of col (the adjoint of vol2col).
template <typename T>
void col2vol(const Conv3dShape& v, const T* col, int64_t t0, int64_t t1, T* dxg, int64_t ld) {
  const ConvShape s1 = plane_shape(v);
  const int64_t HW = s1.H * s1.W;
  for_band_pieces(
      v, t0, t1,
      [&](int64_t c, int64_t, int64_t d, int64_t p0, int64_t p1, int64_t row, int64_t colo) {
        if (d >= 0) col2im_stub<T>(s1, col + row * ld + colo, p0, p1, dxg + (c * v.D + d) * HW, ld);
      });
}

// A band's task: image n, group g, rows [t0, t1) of the O*P output rows.
TileTask band_task(const Conv3dShape& v, const Tiling& t, int64_t task) {
  const int64_t n = task / (v.s.G * t.ntiles), g = (task / t.ntiles) % v.s.G,
                tile = task % t.ntiles;
  const int64_t t0 = tile * t.rows;
  return {n, g, t0, std::min(v.O * v.s.P, t0 + t.rows)};
}

// The band's column block and its row stride: the input itself for a pointwise conv.
template <typename T>
const T* band_columns3d(const Conv3dShape& v, const TileTask& k, const T* x, T* col, int64_t& ld) {
  const ConvShape& s = v.s;
  const int64_t DHW = v.D * s.H * s.W;
  const T* xg = x + (k.n * s.C + k.g * s.Cg()) * DHW;
  if (is_pointwise3d(v)) {
    ld = DHW;
    return xg + k.p0 * s.Q;
  }
  ld = (k.p1 - k.p0) * s.Q;
  vol2col(v, xg, k.p0, k.p1, col, ld);
  return col;
}

// [Note: stacked planes]
// vol2col copies every input plane KD times (once per kernel depth tap that reads it): for a
// 3x3x3 conv the column matrix is 27x the input, and building it cost about a fifth of the
// forward. With the column rows ordered (kd, c, r, s) instead of (c, kd, r, s) (the weight
// permuted to match, once per call), the column block of output plane o is KD consecutive 2-D
// im2col blocks of input planes d = o*sd - pd + kd: so a task lowers each input plane of a run
// of output planes ONCE into a stack of 2-D blocks (zeros for the depth padding), and output
// plane o's GEMM reads KD of them in place, (o - o0)*sd blocks down the stack (row stride =
// the band's column count). A task is (image, group, run of output planes, band of output rows
// of a plane): the band keeps the KD blocks one GEMM reads near the 2-D band budget, the run
// bounds the stack (kStackBytes); neighbouring runs lower their KD - sd shared planes twice.
// Used for depth dilation 1 and stride at most KD (otherwise planes between taps would be
// lowered for nothing); the GEMMs are the vol2col path's (same M, N and K).
constexpr int64_t kStackBytes = int64_t(4) << 20;

bool stacked3d(const Conv3dShape& v) {
  return v.dd == 1 && v.KD > 1 && v.sd <= v.KD && !is_pointwise3d(v);
}

// A task of the stacked forward / weight gradient: image n, group g, output planes [o0, o1),
// output rows [p0, p1) of each (cols = (p1 - p0) * Q columns).
struct StackTask {
  int64_t n, g, o0, o1, p0, p1, cols;
};

struct StackPlan {
  int64_t rows, bands;     // output rows per band, bands per plane
  int64_t planes, chunks;  // output planes per run, runs per volume
  // input planes a run of n_planes output planes reads
  int64_t span(int64_t n_planes, int64_t sd, int64_t KD) const { return (n_planes - 1) * sd + KD; }
  StackTask task(const Conv3dShape& v, int64_t t) const {
    const int64_t per_image = chunks * bands;
    const int64_t n = t / (v.s.G * per_image), g = (t / per_image) % v.s.G;
    const int64_t o0 = (t % per_image) / bands * planes, p0 = t % bands * rows;
    const int64_t p1 = std::min(v.s.P, p0 + rows);
    return {n, g, o0, std::min(v.O, o0 + planes), p0, p1, (p1 - p0) * v.s.Q};
  }
};

template <typename T>
StackPlan plan_stack(const Conv3dShape& v) {
  const ConvShape& s = v.s;
  const int64_t row_bytes = std::max<int64_t>(s.Cg() * s.R * s.S * s.Q * int64_t(sizeof(T)), 1);
  const int64_t rows = std::clamp<int64_t>(kColBudgetBytes / (v.KD * row_bytes), 1, s.P);
  const int64_t block = rows * row_bytes;
  const int64_t span = std::max<int64_t>(v.KD, kStackBytes / block);
  const int64_t planes = std::clamp<int64_t>((span - v.KD) / v.sd + 1, 1, v.O);
  return {rows, (s.P + rows - 1) / rows, planes, (v.O + planes - 1) / planes};
}

// wp (K, KD, C/G, R, S) = w (K, C/G, KD, R, S) with the depth tap outermost in each row.
template <typename T>
void depth_major_weight(const Conv3dShape& v, const T* w, T* wp) {
  const ConvShape& s = v.s;
  const int64_t RS = s.R * s.S;
  for (int64_t k = 0; k < s.K; ++k)
    for (int64_t c = 0; c < s.Cg(); ++c)
      for (int64_t kd = 0; kd < v.KD; ++kd)
        std::memcpy(wp + ((k * v.KD + kd) * s.Cg() + c) * RS,
                    w + ((k * s.Cg() + c) * v.KD + kd) * RS, RS * sizeof(T));
}

// The stack of a task: block j (rows (c, r, s), `cols` columns) = the 2-D im2col of input plane
// o0*sd - pd + j of the group's input xg (Cg, D, H, W), output rows [p0, p1); zeros outside
// the depth.
template <typename T>
void lower_stack(const Conv3dShape& v, const T* xg, int64_t o0, int64_t span, int64_t p0,
                 int64_t p1, T* buf) {
  const ConvShape s1 = plane_shape(v);
  const int64_t HW = s1.H * s1.W, RS = s1.R * s1.S, cols = (p1 - p0) * s1.Q;
  for (int64_t j = 0; j < span; ++j) {
    const int64_t d = o0 * v.sd - v.pd + j;
    for (int64_t c = 0; c < v.s.Cg(); ++c) {
      T* dst = buf + (j * v.s.Cg() + c) * RS * cols;
      if (d < 0 || d >= v.D)
        std::fill(dst, dst + RS * cols, T(0));
      else
        im2col_stub<T>(s1, xg + (c * v.D + d) * HW, p0, p1, dst, cols);
    }
  }
}

// The task's stack, lowered from x into the calling thread's scratch.
template <typename T>
const T* lowered_stack(const Conv3dShape& v, const StackPlan& pl, const StackTask& k, const T* x) {
  const ConvShape& s = v.s;
  const int64_t CRS = s.Cg() * s.R * s.S;
  T* buf = thread_scratch<T>(ScratchSlot::conv_col,
                             pl.span(pl.planes, v.sd, v.KD) * CRS * pl.rows * s.Q);
  lower_stack(v, x + (k.n * s.C + k.g * s.Cg()) * v.D * s.H * s.W, k.o0,
              pl.span(k.o1 - k.o0, v.sd, v.KD), k.p0, k.p1, buf);
  return buf;
}

template <typename T>
void stacked_forward(const Conv3dShape& v, const T* x, const T* w, const T* b, T* y, bool relu) {
  const ConvShape& s = v.s;
  const int64_t PQ = s.P * s.Q, OPQ = v.O * PQ, Kg = s.Kg();
  const int64_t CRS = s.Cg() * s.R * s.S, CKRS = v.KD * CRS;
  T* wp = thread_scratch<T>(ScratchSlot::conv_out, s.K * CKRS);
  depth_major_weight(v, w, wp);
  const StackPlan pl = plan_stack<T>(v);
  for_tasks(s.N * s.G * pl.chunks * pl.bands, conv_threads(v), [&](int64_t task, int) {
    const StackTask k = pl.task(v, task);
    const T* buf = lowered_stack(v, pl, k, x);
    for (int64_t o = k.o0; o < k.o1; ++o) {
      T* yo = y + (k.n * s.K + k.g * Kg) * OPQ + o * PQ + k.p0 * s.Q;
      gemm<T>(false, false, Kg, k.cols, CKRS, T(1), wp + k.g * Kg * CKRS, CKRS,
              buf + (o - k.o0) * v.sd * CRS * k.cols, k.cols, T(0), yo, OPQ);
      if (b || relu)  // still in cache
        for (int64_t c = 0; c < Kg; ++c)
          bias_epilogue(yo + c * OPQ, yo + c * OPQ, k.cols, b ? b[k.g * Kg + c] : T(0), relu);
    }
  });
}

// The transpose of the stacked forward: output plane o's GEMM adds its column block into the
// KD stack blocks it reads in the forward (a zeroed stack), then each input plane's block is
// scattered into dx once. A task is a whole volume of one group (runs and bands overlap in dx).
template <typename T>
void stacked_backward_input(const Conv3dShape& v, const T* dy, const T* w, T* dx) {
  const ConvShape& s = v.s;
  const int64_t DHW = v.D * s.H * s.W, HW = s.H * s.W, PQ = s.P * s.Q, OPQ = v.O * PQ;
  const int64_t Kg = s.Kg(), RS = s.R * s.S, CRS = s.Cg() * RS, CKRS = v.KD * CRS;
  T* wp = thread_scratch<T>(ScratchSlot::conv_out, s.K * CKRS);
  depth_major_weight(v, w, wp);
  const StackPlan pl = plan_stack<T>(v);
  const ConvShape s1 = plane_shape(v);
  for_tasks(s.N * s.G, conv_threads(v), [&](int64_t task, int) {
    const int64_t n = task / s.G, g = task % s.G;
    const T* wg = wp + g * Kg * CKRS;
    const T* dyg = dy + (n * s.K + g * Kg) * OPQ;
    T* dxg = dx + (n * s.C + g * s.Cg()) * DHW;
    std::fill(dxg, dxg + s.Cg() * DHW, T(0));
    T* buf = thread_scratch<T>(ScratchSlot::conv_col,
                               pl.span(pl.planes, v.sd, v.KD) * CRS * pl.rows * s.Q);
    for (int64_t o0 = 0; o0 < v.O; o0 += pl.planes) {
      const int64_t o1 = std::min(v.O, o0 + pl.planes), span = pl.span(o1 - o0, v.sd, v.KD);
      for (int64_t p0 = 0; p0 < s.P; p0 += pl.rows) {
        const int64_t p1 = std::min(s.P, p0 + pl.rows), cols = (p1 - p0) * s.Q;
        std::fill(buf, buf + span * CRS * cols, T(0));
        for (int64_t o = o0; o < o1; ++o)
          gemm<T>(true, false, CKRS, cols, Kg, T(1), wg, CKRS, dyg + o * PQ + p0 * s.Q, OPQ, T(1),
                  buf + (o - o0) * v.sd * CRS * cols, cols);
        for (int64_t j = 0; j < span; ++j) {
          const int64_t d = o0 * v.sd - v.pd + j;
          if (d < 0 || d >= v.D) continue;  // the depth padding's share is dropped
          for (int64_t c = 0; c < s.Cg(); ++c)
            col2im_stub<T>(s1, buf + (j * s.Cg() + c) * RS * cols, p0, p1, dxg + (c * v.D + d) * HW,
                           cols);
        }
      }
    }
  });
}

// dw += the stacked forward's weight gradient: each task's GEMMs add into a partial in the
// depth-major order of the permuted weight, and the partials are summed in slot order
// ([Note: deterministic weight gradients]) back into dw's (K, C/G, KD, R, S).
template <typename T>
void stacked_backward_weight(const Conv3dShape& v, const T* x, const T* dy, T* dw) {
  const ConvShape& s = v.s;
  const int64_t PQ = s.P * s.Q, OPQ = v.O * PQ, Kg = s.Kg();
  const int64_t RS = s.R * s.S, CRS = s.Cg() * RS, CKRS = v.KD * CRS, wsize = s.K * CKRS;
  const StackPlan pl = plan_stack<T>(v);
  const int nt = conv_threads(v);
  sum_over_tasks<T>(
      s.N * s.G * pl.chunks * pl.bands, nt, wsize, ScratchSlot::conv_dy, nullptr,
      [&](int64_t task, T* acc) {
        const StackTask k = pl.task(v, task);
        const T* buf = lowered_stack(v, pl, k, x);
        for (int64_t o = k.o0; o < k.o1; ++o)  // dw_g (Kg, CKRS) += dy_o (Kg, cols) @ B_o^T
          gemm<T>(false, true, Kg, CKRS, k.cols, T(1),
                  dy + (k.n * s.K + k.g * Kg) * OPQ + o * PQ + k.p0 * s.Q, OPQ,
                  buf + (o - k.o0) * v.sd * CRS * k.cols, k.cols, T(1), acc + k.g * Kg * CKRS,
                  CKRS);
      },
      [&](const T* parts, int nparts) {
        for (int64_t k = 0; k < s.K; ++k)
          for (int64_t kd = 0; kd < v.KD; ++kd)
            for (int64_t c = 0; c < s.Cg(); ++c) {
              const int64_t from = ((k * v.KD + kd) * s.Cg() + c) * RS;
              T* to = dw + ((k * s.Cg() + c) * v.KD + kd) * RS;
              for (int64_t i = 0; i < RS; ++i) {
                T a = 0;
                for (int t = 0; t < nparts; ++t) a += parts[t * wsize + from + i];
                to[i] += a;
              }
            }
      });
}

// ---- 3-D: implicit GEMM -------------------------------------------------------------------------
//
// [Note: implicit GEMM convolution]
// Row (c, kd, r, s) of the column matrix restricted to one output row (o, p) is a run of a
// zero-padded copy of the input, xp[c, o*sd + kd*dd, p*sh + r*dh, s*dw + q*sw] for q < Q:
// contiguous for unit W stride, and for sw > 1 once the copy stores each row as sw phase rows
// (column u at u % sw, u / sw: Window). So the GEMM's B micro-panel need not be built at all: the
// tile kernel (conv_tile_stub's fwd, csrc/cpu/conv_implicit.cpp) reads its NR-wide rows from
// the padded input at one offset per reduction index (a table of C/G*KD*R*S offsets), and only
// the weight is packed, once per call. Nothing is lowered (vol2col wrote 27x the input for a
// 3x3x3 conv and the GEMM then packed it again); a task (image, group, run of output planes)
// copies the input planes its run reads into a padded window (KD - 1 planes read twice by
// neighbouring runs), then sweeps its output rows in NR-wide tiles, each tile going through
// every MR-row panel of the weight while its input rows sit in L1. Backward-input with unit
// strides is the same forward on dy with the weight transposed and flipped (padding
// (k-1)*dil - pad, negative when more than the kernel's extent: the window then starts inside
// dy). The weight gradient runs the transposed tile: input channels as the MR broadcast rows
// (any stride, the scalar reads are strided), output channels as the NR vector lanes from a
// transposed band of dy, reduced over the band's positions in registers; partials in (tap,
// c, k) order are summed per slot ([Note: deterministic weight gradients]) and permuted back.
// Used where the tiles are mostly full (Q, or a plane's P*Q outputs with the flat windows of
// short rows ([Note: flat windows]); the forward may instead tile output channels x positions:
// [Note: channel-vector tiles]), and for the weight gradient C/G, at least 3/4 of a whole
// number of tiles; K/G at least half); otherwise the vol2col / stacked paths above. conv1d and
// conv2d reach these kernels through a unit depth axis (algorithm 'implicit' of [Note: conv
// algorithm choice]), and so do the transposed convolutions' gradient passes.

// The input window a task reads: planes [d0, d0 + Dw), rows [h0, h0 + Hp), columns
// [w0, w0 + Wp) of one group's volume (Cg, D, H, W) (zeros outside), then `slack` zeros. With
// `phases` > 1 (the forward's W stride) each row is stored as that many rows of Wl = Wp /
// phases columns (rounded up), column u in phase row u % phases at u / phases: a strided
// tap's reads along q are then contiguous.
struct Window {
  int64_t Dw, Hp, Wp, h0, w0, phases;
  int64_t Wl() const { return (Wp + phases - 1) / phases; }
  int64_t row() const { return phases * Wl(); }
  int64_t plane() const { return Hp * row(); }
  int64_t volume() const { return Dw * plane(); }
  // where padded column u of a row lies, from the row's start
  int64_t column(int64_t u) const { return u % phases * Wl() + u / phases; }
};

template <typename T>
void copy_window(const Conv3dShape& v, const Window& e, const T* xg, int64_t d0, T* xp,
                 int64_t slack) {
  const ConvShape& s = v.s;
  const int64_t lo = std::clamp<int64_t>(-e.w0, 0, e.Wp),
                hi = std::clamp<int64_t>(s.W - e.w0, lo, e.Wp);
  for (int64_t c = 0; c < s.Cg(); ++c)
    for (int64_t i = 0; i < e.Dw; ++i) {
      T* dst = xp + (c * e.Dw + i) * e.plane();
      const int64_t d = d0 + i;
      if (d < 0 || d >= v.D) {
        std::fill(dst, dst + e.plane(), T(0));
        continue;
      }
      for (int64_t j = 0; j < e.Hp; ++j, dst += e.row()) {
        const int64_t h = e.h0 + j;
        if (h < 0 || h >= s.H) {
          std::fill(dst, dst + e.row(), T(0));
          continue;
        }
        const T* src = xg + ((c * v.D + d) * s.H + h) * s.W + e.w0;
        if (e.phases == 1) {
          std::fill(dst, dst + lo, T(0));
          std::copy(src + lo, src + hi, dst + lo);
          std::fill(dst + hi, dst + e.Wp, T(0));
        } else {  // phase f holds columns u = f + l * phases, l < Wl
          const int64_t ph = e.phases, Wl = e.Wl();
          for (int64_t f = 0; f < ph; ++f) {
            T* d = dst + f * Wl;
            const int64_t l0 = std::min(Wl, std::max<int64_t>(0, (lo - f + ph - 1) / ph));
            const int64_t l1 = std::clamp<int64_t>((hi - f + ph - 1) / ph, l0, Wl);
            const T* sf = src + f;
            std::fill(d, d + l0, T(0));
            for (int64_t l = l0; l < l1; ++l) d[l] = sf[l * ph];
            std::fill(d + l1, d + Wl, T(0));
          }
        }
      }
    }
  std::fill(xp + s.Cg() * e.volume(), xp + s.Cg() * e.volume() + slack, T(0));
}

// Output planes per task: enough tasks for the threads, windows within kStackBytes.
struct PlaneRuns {
  int64_t planes, runs;
};
// `flat`: the window of [Note: flat windows] (S copies of Q columns per row).
template <typename T>
PlaneRuns plan_runs(const Conv3dShape& v, int nt, bool flat = false) {
  const ConvShape& s = v.s;
  const int64_t want = std::max<int64_t>(1, (4 * nt + s.N * s.G - 1) / (s.N * s.G));
  int64_t planes = std::max<int64_t>(1, (v.O + want - 1) / want);
  const int64_t cols = flat ? s.S * s.Q : (s.Q - 1) * s.sw + (s.S - 1) * s.dw + 1;
  const int64_t rows = (s.P - 1) * s.sh + (s.R - 1) * s.dh + 1 + (flat ? s.sh - 1 : 0);
  const int64_t plane_bytes = std::max<int64_t>(1, s.Cg() * rows * cols * int64_t(sizeof(T)));
  const int64_t cap = (kStackBytes / plane_bytes - (v.KD - 1) * v.dd - 1) / v.sd + 1;
  planes = std::clamp<int64_t>(planes, 1, std::max<int64_t>(cap, 1));
  return {planes, (v.O + planes - 1) / planes};
}

Window run_window(const Conv3dShape& v, int64_t planes, int64_t phases) {
  const ConvShape& s = v.s;
  return {(planes - 1) * v.sd + (v.KD - 1) * v.dd + 1,
          (s.P - 1) * s.sh + (s.R - 1) * s.dh + 1,
          (s.Q - 1) * s.sw + (s.S - 1) * s.dw + 1,
          -s.ph,
          -s.pw,
          phases};
}

// Whether n items in tiles of `tile` fill at least num/den of them.
bool tiles_full(int64_t n, int64_t tile, int64_t num = 3, int64_t den = 4) {
  return den * n >= num * ((n + tile - 1) / tile * tile);
}
// The fraction of tile columns n items in tiles of `tile` fill.
double tile_fill(int64_t n, int64_t tile) {
  return n > 0 ? double(n) / double((n + tile - 1) / tile * tile) : 1.0;
}

// [Note: flat windows]
// A tile per output row is mostly empty when rows are short (Q = 8 or 16 against NR = 32
// columns under AVX-512: half or a quarter of its lanes). Instead the forward can copy its
// window once per kernel column t, as rows of exactly Q elements: row h of copy t holds
// x[h, q*sw + t*dw - pw] for q < Q (zeros outside), and with an H stride the rows are stored
// in phase order (row j at (j % sh)*Hl + j / sh, Hl = ceil(rows / sh)). The input of tap
// (kd, r, t) for the outputs (p, q) of a plane is then at consecutive addresses in
// m = p*Q + q, so a tile is any NR consecutive outputs of the plane, across row ends: P*Q
// outputs fill the tiles where Q alone did not. It costs S copies of the window (vol2col writes
// KD*R*S) and the skipping of taps by row ([Note: taps in the padding]: a tile now spans
// rows), so it is taken only where it fills at least 15 % more tile columns: Q = 28 under
// AVX-512 (7/8 of a tile, 98 % flat) ran 6.1 ms by rows vs 6.2 flat ((16,32,56,56) 3x3/2,
// conv_transpose2d's dX), Q = 16 (half) 30.5 vs 17.6 ((8,32,16,16,16) 3x3x3). Backward-input,
// the forward on dy, takes it the same way.
bool flat_tiles(const Conv3dShape& v, int64_t nr) {
  return tile_fill(v.s.P * v.s.Q, nr) > 1.15 * tile_fill(v.s.Q, nr);
}
bool forward_tiles_full(const Conv3dShape& v, int64_t nr) {
  return tiles_full(v.s.Q, nr) || tiles_full(v.s.P * v.s.Q, nr);
}

bool implicit_backward_input_covers(const Conv3dShape& v) {
  return v.sd == 1 && v.s.sh == 1 && v.s.sw == 1;
}
template <typename T>
bool implicit_forward_full(const Conv3dShape& v) {
  return forward_tiles_full(v, conv_tile_stub<T>()->nr);
}
template <typename T>
bool implicit_backward_input_full(const Conv3dShape& v) {  // the forward's, on dy
  return tiles_full(v.s.W, conv_tile_stub<T>()->nr) ||
         tiles_full(v.s.H * v.s.W, conv_tile_stub<T>()->nr);
}

// The window of [Note: flat windows]: planes [d0, d0 + Dw), rows [h0, h0 + Hp) of one group's
// volume, S copies (one per kernel column) of Q columns per row, rows in sh phases.
struct FlatWindow {
  int64_t Dw, Hp, h0, sh, Q, Cg;
  int64_t Hl() const { return (Hp + sh - 1) / sh; }
  int64_t plane() const { return sh * Hl() * Q; }
  int64_t volume() const { return Dw * plane(); }
  int64_t copy() const { return Cg * volume(); }
  // where row j of a plane starts, from the plane's start
  int64_t row(int64_t j) const { return (j % sh * Hl() + j / sh) * Q; }
};

template <typename T>
void copy_flat_window(const Conv3dShape& v, const FlatWindow& e, const T* xg, int64_t d0, T* xp,
                      int64_t slack) {
  const ConvShape& s = v.s;
  for (int64_t t = 0; t < s.S; ++t) {
    // columns q in [lo, hi) read x[.., q*sw + c0]
    const int64_t c0 = t * s.dw - s.pw;
    const int64_t lo = std::clamp<int64_t>((-c0 + s.sw - 1) / s.sw * (c0 < 0), 0, e.Q);
    const int64_t hi = std::clamp<int64_t>(s.W - c0 <= 0 ? 0 : (s.W - 1 - c0) / s.sw + 1, lo, e.Q);
    for (int64_t c = 0; c < s.Cg(); ++c)
      for (int64_t i = 0; i < e.Dw; ++i) {
        T* dst = xp + t * e.copy() + (c * e.Dw + i) * e.plane();
        const int64_t d = d0 + i;
        if (d < 0 || d >= v.D) {
          std::fill(dst, dst + e.plane(), T(0));
          continue;
        }
        // stored row (f, l) is window row j = f + l*sh (zeros past the window); rows are short
        // (a few dozen elements), so plain loops rather than a library call per piece
        T* out = dst;
        for (int64_t f = 0; f < e.sh; ++f)
          for (int64_t l = 0, j = f; l < e.Hl(); ++l, j += e.sh, out += e.Q) {
            const int64_t h = e.h0 + j;
            if (j >= e.Hp || h < 0 || h >= s.H) {
              for (int64_t q = 0; q < e.Q; ++q) out[q] = T(0);
              continue;
            }
            const T* src = xg + ((c * v.D + d) * s.H + h) * s.W;
            for (int64_t q = 0; q < lo; ++q) out[q] = T(0);
            for (int64_t q = lo; q < hi; ++q) out[q] = src[q * s.sw + c0];
            for (int64_t q = hi; q < e.Q; ++q) out[q] = T(0);
          }
      }
  }
  std::fill(xp + s.S * e.copy(), xp + s.S * e.copy() + slack, T(0));
}
template <typename T>
bool implicit_backward_weight_full(const Conv3dShape& v) {
  const ConvTileKernels<T>& kt = *conv_tile_stub<T>();
  // half-empty vector lanes still beat vol2col + GEMM (conv_transpose3d 16->8 2x2x2/2's dw:
  // K/G = 16 of 32 lanes, 5.0 vs 5.6 ms)
  return tiles_full(v.s.Kg(), kt.nr, 1, 2) && tiles_full(v.s.Cg(), kt.mr);
}

// [Note: taps in the padding]
// A kernel tap (kd, r) whose input plane (row) lies in the zero padding for an output plane o
// (row p) contributes nothing to any output of that plane (row): with padding 1 and a 3x3x3
// kernel on 16 planes of 32 rows, 6 % of the multiply-adds read only padding. The taps that do
// read the input are a range per axis (tap_range); the forward orders its reduction
// (kd, r, c, s) so that for one output row they are at most KD segments (one when every r is
// in range), which its tile kernel runs through without leaving registers, and the weight
// gradient passes each tap only the band rows it reads. The W axis is not skipped: one tile
// spans a whole output row, so every tap reads input for some of its columns (the forward's
// channel-vector tiles below skip it: [Note: channel-vector tiles]).

// The taps t < k of an axis whose input coordinate start + t*dil lies in [0, n): [lo, hi).
struct TapRange {
  int64_t lo, hi;
};
TapRange tap_range(int64_t start, int64_t dil, int64_t k, int64_t n) {
  const int64_t lo = start >= 0 ? 0 : (-start + dil - 1) / dil;
  const int64_t hi = n - 1 - start < 0 ? 0 : (n - 1 - start) / dil + 1;
  return {std::min(lo, k), std::clamp<int64_t>(hi, std::min(lo, k), k)};
}

// [Note: channel-vector tiles]
// The tiles above put output positions along the vector lanes, so a tile spans a row (or, with
// flat windows, several rows) and cannot leave out a tap that reads only the W padding for
// some of its columns, nor (flat) one that reads only the H padding for some of its rows: on
// 8^3 outputs with a 3x3x3 kernel and padding 1, 23 % of the multiply-adds read zeros and the
// tiles skip only the depth's 8 %. oneDNN, vectorising over channels, skips them all. The
// channel-vector tile swaps the roles: output channels along the lanes (NR of them from a
// packed weight panel, one per reduction index), MR output positions broadcast from anywhere,
// so the MR positions of a tile need not be neighbours. The input window is copied channels
// last ((plane, row, column, c), zero padded as the Window), the reduction runs in (kd, r, t, c)
// order, and for any box of taps kd x r x t the reads of a position are (for unit W dilation)
// one contiguous run per (kd, r) in both the window and the weight. Output positions are
// classed by the tap box they read input for (tap_range per axis); a task lists its positions
// class by class (planes by depth class, then the 2-D classes), cuts the list into MR-position
// tiles, and each tile runs the union of its positions' boxes (a tile mixing classes reads some
// zeros). The 2-D classes go interior first, then round the plane's border by angle (top
// edge, top-left corner, left edge, ...), so that a tile straddling two classes mostly pairs
// an edge with its corner, whose box is inside the edge's: on 8^3 outputs of a 3x3x3 kernel
// with padding 1 and MR = 8, 80.7 % of the dense multiply-adds (exact: 77.0; by box size
// instead of the ring, 82.3; the position tiles, 91.7). Used, inside the direct forward (and so the
// unit-stride dX), where the estimate below says it does fewer multiply-add slots than the position
// tiles by a margin: it needs K/G to fill the lanes, and it pays a transposing copy and scalar
// stores.

// The multiply-add lane slots (per input channel) of the position tiles and of the
// channel-vector tiles for this forward; channel_tiles() picks the latter where it does fewer
// by 3 % (its copy and stores). The channel tiles' count is the exact one (every position its
// own box) plus a tile mixing two boxes at about every class boundary: a quarter of MR
// positions' slots per class (simulated: 8^3 outputs of a 3x3x3 kernel, padding 1, MR = 8:
// 27 classes, 7 % over the exact count; this estimate 10 %).
template <typename T>
bool channel_tiles(const Conv3dShape& v) {
  const ConvShape& s = v.s;
  const ConvTileKernels<T>& kt = *conv_tile_stub<T>();
  const int64_t MR = kt.mr, NR = kt.nr, Kg = s.Kg();
  const double outputs = double(v.O) * double(s.P) * double(s.Q);
  if (outputs < double(2 * MR)) return false;
  struct Taps {
    double sum = 0;       // over outputs, the taps that read input
    int64_t classes = 0;  // distinct tap ranges
  };
  auto taps = [](int64_t n_out, int64_t stride, int64_t pad, int64_t dil, int64_t k, int64_t n) {
    Taps a;
    TapRange last{-1, -1};
    for (int64_t i = 0; i < n_out; ++i) {  // ranges are monotone in i: classes are runs
      const TapRange t = tap_range(i * stride - pad, dil, k, n);
      a.sum += double(t.hi - t.lo);
      a.classes += t.lo != last.lo || t.hi != last.hi;
      last = t;
    }
    return a;
  };
  const Taps kd = taps(v.O, v.sd, v.pd, v.dd, v.KD, v.D);
  const Taps r = taps(s.P, s.sh, s.ph, s.dh, s.R, s.H);
  const Taps t = taps(s.Q, s.sw, s.pw, s.dw, s.S, s.W);
  const double panels = double((Kg + MR - 1) / MR * MR);
  const double by_pos =
      flat_tiles(v, NR)
          ? panels * kd.sum * double((s.P * s.Q + NR - 1) / NR * NR) * double(s.R * s.S)
          : panels * kd.sum * double((s.Q + NR - 1) / NR * NR) * r.sum * double(s.S);
  const double classes = double(kd.classes * r.classes * t.classes);
  const double by_chan = double((Kg + NR - 1) / NR * NR) * kd.sum * r.sum * t.sum *
                         (1 + classes * double(MR) / (4 * outputs));
  return by_chan < 0.97 * by_pos;
}

// y = the forward by channel-vector tiles (see the Note).
template <typename T>
void cv_forward(const Conv3dShape& v, const T* x, const T* w, const T* b, T* y, bool relu) {
  const ConvShape& s = v.s;
  const ConvTileKernels<T>& kt = *conv_tile_stub<T>();
  const int64_t MR = kt.mr, NR = kt.nr, Kg = s.Kg(), Cg = s.Cg();
  const int64_t KRS = v.KD * s.R * s.S, CKRS = Cg * KRS, PQ = s.P * s.Q, OPQ = v.O * PQ;
  const int64_t DHW = v.D * s.H * s.W, HW = s.H * s.W, ktiles = (Kg + NR - 1) / NR;
  // the weight in NR-column panels: bp[((g*ktiles + kt)*CKRS + red)*NR + j], red = (kd, r, t, c)
  T* bp = thread_scratch<T>(ScratchSlot::conv_out, s.G * ktiles * CKRS * NR);
  for (int64_t g = 0; g < s.G; ++g)
    for (int64_t j0 = 0; j0 < ktiles; ++j0)
      for (int64_t c = 0; c < Cg; ++c)
        for (int64_t tap = 0; tap < KRS; ++tap) {
          T* dst = bp + ((g * ktiles + j0) * CKRS + tap * Cg + c) * NR;
          for (int64_t j = 0; j < NR; ++j) {
            const int64_t k = j0 * NR + j;
            dst[j] = k < Kg ? w[((g * Kg + k) * Cg + c) * KRS + tap] : T(0);
          }
        }
  const int nt = conv_threads(v);
  // runs of planes as the position tiles', and their outputs (yt below) within kStackBytes
  PlaneRuns pr = plan_runs<T>(v, nt);
  const int64_t Kgp = ktiles * NR;
  pr.planes = std::clamp<int64_t>(kStackBytes / (PQ * Kgp * int64_t(sizeof(T))), 1, pr.planes);
  pr.runs = (v.O + pr.planes - 1) / pr.planes;
  const Window e = run_window(v, pr.planes, 1);
  // the 2-D classes of a plane's positions in ring order, and the window and output offsets
  // of their positions (pos2[begin .. end))
  struct Pos {
    int64_t x, y;
  };
  struct Cls {
    TapRange r, t;
    int64_t begin, end;
  };
  std::vector<Pos> pos2;
  std::vector<Cls> cls;
  {
    struct Key {
      int edge;             // 0: no tap missing on one side only (the interior)
      double angle, reach;  // of (ar, at) below
      std::array<int64_t, 4> ranges;
      bool operator<(const Key& o) const {
        return std::tie(edge, angle, reach, ranges) < std::tie(o.edge, o.angle, o.reach, o.ranges);
      }
      bool operator!=(const Key& o) const { return ranges != o.ranges; }
    };
    std::vector<std::pair<Key, Pos>> keyed;
    keyed.reserve(PQ);
    for (int64_t p = 0; p < s.P; ++p) {
      const TapRange r = tap_range(p * s.sh - s.ph, s.dh, s.R, s.H);
      const int64_t ar = r.lo - (s.R - r.hi);  // > 0 near the top, < 0 near the bottom
      for (int64_t q = 0; q < s.Q; ++q) {
        const TapRange t = tap_range(q * s.sw - s.pw, s.dw, s.S, s.W);
        const int64_t at = t.lo - (s.S - t.hi);
        keyed.push_back({{ar != 0 || at != 0,
                          std::atan2(double(ar), double(at)),
                          double(ar * ar + at * at),
                          {r.lo, r.hi, t.lo, t.hi}},
                         {(p * s.sh * e.Wp + q * s.sw) * Cg, p * s.Q + q}});
      }
    }
    std::stable_sort(keyed.begin(), keyed.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (int64_t i = 0; i < PQ; ++i) {
      const auto& k = keyed[i].first.ranges;
      if (i == 0 || keyed[i].first != keyed[i - 1].first) {
        if (!cls.empty()) cls.back().end = i;
        cls.push_back({{k[0], k[1]}, {k[2], k[3]}, i, PQ});
      }
      pos2.push_back(keyed[i].second);
    }
  }
  for_tasks(s.N * s.G * pr.runs, nt, [&](int64_t task, int) {
    const int64_t n = task / (s.G * pr.runs), g = task / pr.runs % s.G, run = task % pr.runs;
    const int64_t o0 = run * pr.planes, o1 = std::min(v.O, o0 + pr.planes);
    const int64_t d0 = o0 * v.sd - v.pd;
    // the channels-last window: xw[((i*Hp + j)*Wp + u)*Cg + c] = x[c, d0+i, h0+j, w0+u]
    T* xw = thread_scratch<T>(ScratchSlot::conv_pad, Cg * e.volume());
    const T* xg = x + (n * s.C + g * Cg) * DHW;
    const int64_t lo = std::clamp<int64_t>(-e.w0, 0, e.Wp),
                  hi = std::clamp<int64_t>(s.W - e.w0, lo, e.Wp);
    for (int64_t i = 0; i < e.Dw; ++i)
      for (int64_t j = 0; j < e.Hp; ++j) {
        T* dst = xw + (i * e.Hp + j) * e.Wp * Cg;
        const int64_t d = d0 + i, h = e.h0 + j;
        if (d < 0 || d >= v.D || h < 0 || h >= s.H || hi <= lo) {
          std::fill(dst, dst + e.Wp * Cg, T(0));
          continue;
        }
        std::fill(dst, dst + lo * Cg, T(0));
        kt.transpose(Cg, hi - lo, xg + d * HW + h * s.W + e.w0 + lo, DHW, dst + lo * Cg, Cg);
        std::fill(dst + hi * Cg, dst + e.Wp * Cg, T(0));
      }
    // planes by depth class (largest first), each class's positions 2-D class by class
    std::vector<int64_t> planes(o1 - o0);
    std::vector<TapRange> kdr(o1 - o0);
    for (int64_t o = o0; o < o1; ++o) {
      planes[o - o0] = o;
      kdr[o - o0] = tap_range(o * v.sd - v.pd, v.dd, v.KD, v.D);
    }
    auto depth_key = [&](int64_t o) {
      const TapRange k = kdr[o - o0];
      return std::array<int64_t, 2>{k.lo - k.hi, k.lo};
    };
    std::stable_sort(planes.begin(), planes.end(),
                     [&](int64_t a, int64_t c) { return depth_key(a) < depth_key(c); });
    struct Item {
      int64_t x, y;
      TapRange kd, r, t;
    };
    std::vector<Item> items;
    items.reserve((o1 - o0) * PQ);
    for (size_t a = 0; a < planes.size();) {
      size_t z = a;
      while (z < planes.size() && depth_key(planes[z]) == depth_key(planes[a])) ++z;
      for (const Cls& c : cls)
        for (size_t i = a; i < z; ++i) {
          const int64_t o = planes[i];
          const int64_t xo = (o - o0) * v.sd * e.Hp * e.Wp * Cg, yo = o * PQ;
          for (int64_t k = c.begin; k < c.end; ++k)
            items.push_back({xo + pos2[k].x, yo + pos2[k].y, kdr[o - o0], c.r, c.t});
        }
      a = z;
    }
    const T* bpg = bp + g * ktiles * CKRS * NR;
    // the tiles store into yt (positions, Kgp), transposed into y at the end: stored straight
    // into y, a tile's NR channels of a position lie OPQ elements apart, all in one L1 set
    // when that is a multiple of 4 KiB ((8, 32, 16^3) 3x3x3: 16 KiB apart, 18.3 ms, 5 % over
    // the position tiles on 8 % fewer multiply-adds; through yt 16.6)
    T* yt = thread_scratch<T>(ScratchSlot::conv_col, (o1 - o0) * PQ * Kgp);
    std::vector<int64_t> seg(3 * KRS);
    int64_t px[64], py[64];  // kt.mr <= 64
    for (size_t i0 = 0; i0 < items.size(); i0 += MR) {
      const int m = int(std::min<size_t>(MR, items.size() - i0));
      TapRange kd = items[i0].kd, r = items[i0].r, t = items[i0].t;
      for (int i = 0; i < m; ++i) {
        const Item& it = items[i0 + i];
        px[i] = it.x;
        py[i] = (it.y - o0 * PQ) * Kgp;
        kd = {std::min(kd.lo, it.kd.lo), std::max(kd.hi, it.kd.hi)};
        r = {std::min(r.lo, it.r.lo), std::max(r.hi, it.r.hi)};
        t = {std::min(t.lo, it.t.lo), std::max(t.hi, it.t.hi)};
      }
      // the segments of the box: a run of (t, c) per (kd, r) for unit W dilation, else of c
      int nseg = 0;
      const int64_t runs = s.dw == 1 ? 1 : t.hi - t.lo, per = s.dw == 1 ? t.hi - t.lo : 1;
      if (t.hi > t.lo)
        for (int64_t a = kd.lo; a < kd.hi; ++a)
          for (int64_t c = r.lo; c < r.hi; ++c)
            for (int64_t u = 0; u < runs; ++u, ++nseg) {
              const int64_t tap = (a * s.R + c) * s.S + t.lo + u;
              seg[3 * nseg] = tap * Cg;
              seg[3 * nseg + 1] = (tap + per) * Cg;
              seg[3 * nseg + 2] = ((a * v.dd * e.Hp + c * s.dh) * e.Wp + (t.lo + u) * s.dw) * Cg;
            }
      for (int64_t j0 = 0; j0 < ktiles; ++j0)
        kt.fwd_cv(seg.data(), nseg, bpg + j0 * CKRS * NR, xw, px, yt + j0 * NR, 1, py, m,
                  int(std::min(NR, Kg - j0 * NR)), b ? b + g * Kg + j0 * NR : nullptr, relu);
    }
    kt.transpose((o1 - o0) * PQ, Kg, yt, Kgp, y + (n * s.K + g * Kg) * OPQ + o0 * PQ, OPQ);
  });
}

template <typename T>
void implicit_forward(const Conv3dShape& v, const T* x, const T* w, const T* b, T* y, bool relu) {
  const ConvShape& s = v.s;
  if (channel_tiles<T>(v)) return cv_forward(v, x, w, b, y, relu);
  const ConvTileKernels<T>& kt = *conv_tile_stub<T>();
  const int64_t MR = kt.mr, NR = kt.nr, Kg = s.Kg(), Cg = s.Cg();
  const int64_t RS = s.R * s.S, CKRS = Cg * v.KD * RS, PQ = s.P * s.Q, OPQ = v.O * PQ;
  const int64_t DHW = v.D * s.H * s.W, panels = (Kg + MR - 1) / MR, CS = Cg * s.S;
  // reduction index of (c, kd, r, t) in the (kd, r, c, t) order ([Note: taps in the padding])
  auto red = [&](int64_t c, int64_t kd, int64_t r, int64_t t) {
    return (kd * s.R + r) * CS + c * s.S + t;
  };
  // the weight in MR-row panels (K x MR, zero rows past Kg), every group
  T* ap = thread_scratch<T>(ScratchSlot::conv_out, s.G * panels * CKRS * MR);
  for (int64_t g = 0; g < s.G; ++g)
    for (int64_t pn = 0; pn < panels; ++pn) {
      T* dst = ap + (g * panels + pn) * CKRS * MR;
      for (int64_t i = 0; i < MR; ++i) {
        const int64_t k = pn * MR + i;
        const T* wk = w + (g * Kg + k) * CKRS;
        for (int64_t c = 0, p = 0; c < Cg; ++c)
          for (int64_t kd = 0; kd < v.KD; ++kd)
            for (int64_t r = 0; r < s.R; ++r)
              for (int64_t t = 0; t < s.S; ++t, ++p)
                dst[red(c, kd, r, t) * MR + i] = k < Kg ? wk[p] : T(0);
      }
    }
  const int nt = conv_threads(v);
  // a line of outputs is swept in tiles: an output row, or a whole plane of a flat window
  const bool flat = flat_tiles(v, NR);
  const int64_t lines = flat ? 1 : s.P, Ln = flat ? PQ : s.Q;
  const PlaneRuns pr = plan_runs<T>(v, nt, flat);
  const Window e = run_window(v, pr.planes, s.sw);
  const FlatWindow f{e.Dw, e.Hp, e.h0, s.sh, s.Q, Cg};
  const int64_t plane = flat ? f.plane() : e.plane(),
                wsize = flat ? s.S * f.copy() : Cg * e.volume();
  std::vector<int64_t> off(CKRS);
  for (int64_t c = 0; c < Cg; ++c)
    for (int64_t kd = 0; kd < v.KD; ++kd)
      for (int64_t r = 0; r < s.R; ++r)
        for (int64_t t = 0; t < s.S; ++t)
          off[red(c, kd, r, t)] =
              flat ? t * f.copy() + c * f.volume() + kd * v.dd * f.plane() + f.row(r * s.dh)
                   : c * e.volume() + kd * v.dd * e.plane() + r * s.dh * e.row() +
                         e.column(t * s.dw);
  for_tasks(s.N * s.G * pr.runs, nt, [&](int64_t task, int) {
    const int64_t n = task / (s.G * pr.runs), g = task / pr.runs % s.G, run = task % pr.runs;
    const int64_t o0 = run * pr.planes, o1 = std::min(v.O, o0 + pr.planes);
    T* xp = thread_scratch<T>(ScratchSlot::conv_pad, wsize + NR);
    if (flat)
      copy_flat_window(v, f, x + (n * s.C + g * Cg) * DHW, o0 * v.sd - v.pd, xp, NR);
    else
      copy_window(v, e, x + (n * s.C + g * Cg) * DHW, o0 * v.sd - v.pd, xp, NR);
    const T* apg = ap + g * panels * CKRS * MR;
    T* yg = y + (n * s.K + g * Kg) * OPQ;
    std::vector<int64_t> seg(2 * v.KD);
    for (int64_t o = o0; o < o1; ++o) {
      const TapRange kd = tap_range(o * v.sd - v.pd, v.dd, v.KD, v.D);
      for (int64_t line = 0; line < lines; ++line) {
        const T* xl = xp + (o - o0) * v.sd * plane + (flat ? 0 : line * s.sh * e.row());
        T* yl = yg + o * PQ + line * Ln;
        for (int64_t j0 = 0; j0 < Ln; j0 += NR) {
          const int64_t nj = std::min(NR, Ln - j0);
          // the taps r any of the tile's rows reads input for (ranges shrink as p grows)
          const int64_t pa = (line * Ln + j0) / s.Q, pb = (line * Ln + j0 + nj - 1) / s.Q;
          const TapRange r{tap_range(pb * s.sh - s.ph, s.dh, s.R, s.H).lo,
                           tap_range(pa * s.sh - s.ph, s.dh, s.R, s.H).hi};
          int nseg = 0;  // the reduction indices of the taps that read the input
          if (r.hi > r.lo && kd.hi > kd.lo) {
            if (r.lo == 0 && r.hi == s.R) {  // whole planes: one segment
              seg[0] = kd.lo * s.R * CS;
              seg[1] = kd.hi * s.R * CS;
              nseg = 1;
            } else {
              for (int64_t d = kd.lo; d < kd.hi; ++d, ++nseg) {
                seg[2 * nseg] = (d * s.R + r.lo) * CS;
                seg[2 * nseg + 1] = (d * s.R + r.hi) * CS;
              }
            }
          }
          for (int64_t pn = 0; pn < panels; ++pn)  // bias and ReLU in the tile's store
            kt.fwd(seg.data(), nseg, apg + pn * CKRS * MR, off.data(), xl + j0,
                   yl + pn * MR * OPQ + j0, OPQ, int(std::min(MR, Kg - pn * MR)), int(nj),
                   b ? b + g * Kg + pn * MR : nullptr, relu);
        }
      }
    }
  });
}

// The unit-stride convolution whose forward on dy is v's dx: channels and sizes swapped,
// padding (k-1)*dil - pad (negative when wider than the kernel's reach).
Conv3dShape flipped(const Conv3dShape& v) {
  const ConvShape& s = v.s;
  Conv3dShape u = v;
  u.s.C = s.K;
  u.s.K = s.C;
  u.s.H = s.P;
  u.s.W = s.Q;
  u.s.P = s.H;
  u.s.Q = s.W;
  u.s.ph = (s.R - 1) * s.dh - s.ph;
  u.s.pw = (s.S - 1) * s.dw - s.pw;
  u.D = v.O;
  u.O = v.D;
  u.pd = (v.KD - 1) * v.dd - v.pd;
  return u;
}

// dx = the forward of dy with the transposed, flipped weight, for unit strides.
template <typename T>
void implicit_backward_input(const Conv3dShape& v, const T* dy, const T* w, T* dx) {
  const ConvShape& s = v.s;
  const int64_t Kg = s.Kg(), Cg = s.Cg(), KRS = v.KD * s.R * s.S;
  // wf (C, Kg, KD, R, S): wf[g*Cg + c][k][t'] = w[g*Kg + k][c][KRS - 1 - t']
  T* wf = thread_scratch<T>(ScratchSlot::conv_dy, s.C * Kg * KRS);
  for (int64_t g = 0; g < s.G; ++g)
    for (int64_t c = 0; c < Cg; ++c)
      for (int64_t k = 0; k < Kg; ++k) {
        const T* src = w + ((g * Kg + k) * Cg + c) * KRS;
        T* dst = wf + ((g * Cg + c) * Kg + k) * KRS;
        for (int64_t t = 0; t < KRS; ++t) dst[t] = src[KRS - 1 - t];
      }
  implicit_forward(flipped(v), dy, wf, static_cast<const T*>(nullptr), dx, false);
}

template <typename T>
void implicit_backward_weight(const Conv3dShape& v, const T* x, const T* dy, T* dw) {
  const ConvShape& s = v.s;
  const ConvTileKernels<T>& kt = *conv_tile_stub<T>();
  const int64_t MR = kt.mr, NR = kt.nr, Kg = s.Kg(), Cg = s.Cg();
  const int64_t KRS = v.KD * s.R * s.S, PQ = s.P * s.Q, OPQ = v.O * PQ;
  const int64_t DHW = v.D * s.H * s.W, Kgp = (Kg + NR - 1) / NR * NR;
  const int64_t psize = s.G * KRS * Cg * Kgp;  // a partial: (g, tap, c, k), k padded to Kgp
  const int nt = conv_threads(v);
  const PlaneRuns pr = plan_runs<T>(v, nt);
  const Window e = run_window(v, pr.planes, 1);
  // output rows per band: the band's transposed dy about 32 KiB (it is read once per tap and
  // block of input channels)
  const int64_t band = std::clamp<int64_t>((int64_t(32) << 10) / (s.Q * Kgp * int64_t(sizeof(T))),
                                           1, pr.planes * s.P);
  sum_over_tasks<T>(
      s.N * s.G * pr.runs, nt, psize, ScratchSlot::conv_out, static_cast<T*>(nullptr),
      [&](int64_t task, T* acc) {
        const int64_t n = task / (s.G * pr.runs), g = task / pr.runs % s.G, run = task % pr.runs;
        const int64_t o0 = run * pr.planes, o1 = std::min(v.O, o0 + pr.planes);
        T* xp = thread_scratch<T>(ScratchSlot::conv_pad, Cg * e.volume());
        copy_window(v, e, x + (n * s.C + g * Cg) * DHW, o0 * v.sd - v.pd, xp, 0);
        T* dyt = thread_scratch<T>(ScratchSlot::conv_col, band * s.Q * Kgp);
        const T* dyg = dy + (n * s.K + g * Kg) * OPQ;
        std::vector<int64_t> bases(band), plane(band), row(band), live(band);
        int64_t aoff[64];  // kt.mr <= 64
        const int64_t rows = (o1 - o0) * s.P;
        for (int64_t r0 = 0; r0 < rows; r0 += band) {
          const int64_t nb = std::min(band, rows - r0);
          // dyt (nb*Q, Kgp) = the band's dy transposed, zero columns past Kg
          for (int64_t r = 0; r < nb; ++r) {
            const int64_t o = o0 + (r0 + r) / s.P, p = (r0 + r) % s.P;
            bases[r] = ((o - o0) * v.sd * e.Hp + p * s.sh) * e.row();
            plane[r] = o * v.sd - v.pd;
            row[r] = p * s.sh - s.ph;
            T* dst = dyt + r * s.Q * Kgp;
            const T* src = dyg + o * PQ + p * s.Q;
            kt.transpose(Kg, s.Q, src, OPQ, dst, Kgp);
            for (int64_t q = 0; q < s.Q; ++q)
              std::fill(dst + q * Kgp + Kg, dst + (q + 1) * Kgp, T(0));
          }
          for (int64_t kd = 0; kd < v.KD; ++kd)
            for (int64_t r = 0; r < s.R; ++r) {
              // the band rows this tap reads input for ([Note: taps in the padding])
              int64_t nlive = 0;
              for (int64_t i = 0; i < nb; ++i) {
                const int64_t d = plane[i] + kd * v.dd, h = row[i] + r * s.dh;
                if (d >= 0 && d < v.D && h >= 0 && h < s.H) live[nlive++] = i;
              }
              if (nlive == 0) continue;
              for (int64_t t = 0; t < s.S; ++t) {
                const int64_t tap = (kd * s.R + r) * s.S + t;
                const int64_t off = kd * v.dd * e.plane() + r * s.dh * e.row() + t * s.dw;
                for (int64_t c0 = 0; c0 < Cg; c0 += MR) {
                  const int m = int(std::min(MR, Cg - c0));
                  for (int i = 0; i < m; ++i) aoff[i] = (c0 + i) * e.volume() + off;
                  T* cblk = acc + ((g * KRS + tap) * Cg + c0) * Kgp;
                  for (int64_t k0 = 0; k0 < Kg; k0 += NR)
                    kt.wgrad(xp, aoff, bases.data(), live.data(), nlive, s.Q, s.sw, dyt + k0, Kgp,
                             cblk + k0, Kgp, m, int(std::min(NR, Kg - k0)));
                }
              }
            }
        }
      },
      [&](const T* parts, int nparts) {
        for (int64_t g = 0; g < s.G; ++g)
          for (int64_t k = 0; k < Kg; ++k)
            for (int64_t c = 0; c < Cg; ++c)
              for (int64_t tap = 0; tap < KRS; ++tap) {
                const int64_t from = ((g * KRS + tap) * Cg + c) * Kgp + k;
                T a = 0;
                for (int t = 0; t < nparts; ++t) a += parts[t * psize + from];
                dw[((g * Kg + k) * Cg + c) * KRS + tap] += a;
              }
      });
}

// Whether the unit-depth forward u (a 2-D conv's forward, or the forward on dy that is its
// unit-stride dX) is better run on the implicit kernels than by im2col: its tiles are mostly
// full, and not channel-vector tiles on a short reduction at unit stride (whose transposing copy
// and scalar stores cost more there than im2col's copy); see [Note: conv algorithm choice].
template <typename T>
bool implicit2d_forward_pays(const Conv3dShape& u) {
  const ConvShape& s = u.s;
  return implicit_forward_full<T>(u) &&
         !(s.sh * s.sw == 1 && s.Cg() * s.R * s.S < 512 && channel_tiles<T>(u));
}

}  // namespace

template <typename T>
ConvAlgo conv3d_resolve_algo(const Conv3dShape& v, ConvPass pass, ConvAlgo algo) {
  if (algo == ConvAlgo::implicit) algo = ConvAlgo::direct;  // the same kernels
  bool covered, full;  // the implicit kernels cover the pass; their tiles are mostly full
  switch (pass) {
    case ConvPass::forward:
      covered = true;
      full = implicit_forward_full<T>(v);
      break;
    case ConvPass::backward_input:
      covered = implicit_backward_input_covers(v);
      full = implicit_backward_input_full<T>(v);
      break;
    default:
      covered = true;
      full = implicit_backward_weight_full<T>(v);
  }
  if (!covered || algo == ConvAlgo::im2col) return ConvAlgo::im2col;
  return algo == ConvAlgo::direct || (full && !is_pointwise3d(v)) ? ConvAlgo::direct
                                                                  : ConvAlgo::im2col;
}

template <typename T>
const char* conv3d_direct_tiles(const Conv3dShape& v, ConvPass pass) {
  if (pass == ConvPass::backward_weight) return "rows";
  if (pass == ConvPass::backward_input && !implicit_backward_input_covers(v)) return "none";
  const Conv3dShape u = pass == ConvPass::forward ? v : flipped(v);
  if (channel_tiles<T>(u)) return "channels";
  return flat_tiles(u, conv_tile_stub<T>()->nr) ? "planes" : "rows";
}

template <typename T>
void conv3d_forward(const Conv3dShape& v, const T* x, const T* w, const T* b, T* y, ConvAlgo algo,
                    bool relu) {
  const ConvShape& s = v.s;
  const int64_t OPQ = v.O * s.P * s.Q, Kg = s.Kg(), CKRS = s.Cg() * v.KD * s.R * s.S;
  if (s.N * s.K * OPQ == 0) return;
  if (CKRS == 0) {  // no input channels: y = b (then ReLU)
    for (int64_t i = 0; i < s.N * s.K; ++i) {
      const T bk = b ? b[i % s.K] : T(0);
      std::fill(y + i * OPQ, y + (i + 1) * OPQ, relu && bk < T(0) ? T(0) : bk);
    }
    return;
  }
  if (conv3d_resolve_algo<T>(v, ConvPass::forward, algo) == ConvAlgo::direct)
    return implicit_forward(v, x, w, b, y, relu);
  if (stacked3d(v)) return stacked_forward(v, x, w, b, y, relu);
  const Tiling t = plan_bands3d<T>(v);
  for_tasks(s.N * s.G * t.ntiles, conv_threads(v), [&](int64_t task, int) {
    const TileTask k = band_task(v, t, task);
    const int64_t cols = (k.p1 - k.p0) * s.Q;
    T* col = thread_scratch<T>(ScratchSlot::conv_col, CKRS * t.rows * s.Q);
    int64_t ldb;
    const T* B = band_columns3d(v, k, x, col, ldb);
    T* yg = y + (k.n * s.K + k.g * Kg) * OPQ + k.p0 * s.Q;
    gemm<T>(false, false, Kg, cols, CKRS, T(1), w + k.g * Kg * CKRS, CKRS, B, ldb, T(0), yg, OPQ);
    if (b || relu)  // the band's outputs are still in cache
      for (int64_t c = 0; c < Kg; ++c)
        bias_epilogue(yg + c * OPQ, yg + c * OPQ, cols, b ? b[k.g * Kg + c] : T(0), relu);
  });
}

template <typename T>
void conv3d_backward_input(const Conv3dShape& v, const T* dy, const T* w, T* dx, ConvAlgo algo) {
  const ConvShape& s = v.s;
  const int64_t DHW = v.D * s.H * s.W, OPQ = v.O * s.P * s.Q, Kg = s.Kg(),
                CKRS = s.Cg() * v.KD * s.R * s.S;
  if (s.N * s.C * DHW == 0) return;
  if (s.K * OPQ == 0) {
    std::fill(dx, dx + s.N * s.C * DHW, T(0));
    return;
  }
  if (conv3d_resolve_algo<T>(v, ConvPass::backward_input, algo) == ConvAlgo::direct)
    return implicit_backward_input(v, dy, w, dx);
  if (stacked3d(v)) return stacked_backward_input(v, dy, w, dx);
  const Tiling t = plan_bands3d<T>(v);
  const bool pw = is_pointwise3d(v);
  // bands of one volume overlap in dx: a task is a whole volume of one group
  for_tasks(s.N * s.G, conv_threads(v), [&](int64_t task, int) {
    const int64_t n = task / s.G, g = task % s.G;
    const T* wg = w + g * Kg * CKRS;
    const T* dyg = dy + (n * s.K + g * Kg) * OPQ;
    T* dxg = dx + (n * s.C + g * s.Cg()) * DHW;
    if (pw) {  // dx_g (Cg, DHW) = w_g^T (Cg, Kg) @ dy_g (Kg, OPQ)
      gemm<T>(true, false, CKRS, OPQ, Kg, T(1), wg, CKRS, dyg, OPQ, T(0), dxg, DHW);
      return;
    }
    T* col = thread_scratch<T>(ScratchSlot::conv_col, CKRS * t.rows * s.Q);
    std::fill(dxg, dxg + s.Cg() * DHW, T(0));
    for (int64_t tile = 0; tile < t.ntiles; ++tile) {
      const int64_t t0 = tile * t.rows, t1 = std::min(v.O * s.P, t0 + t.rows);
      const int64_t cols = (t1 - t0) * s.Q;
      gemm<T>(true, false, CKRS, cols, Kg, T(1), wg, CKRS, dyg + t0 * s.Q, OPQ, T(0), col, cols);
      col2vol(v, col, t0, t1, dxg, cols);
    }
  });
}

template <typename T>
void conv3d_backward_weight(const Conv3dShape& v, const T* x, const T* dy, T* dw, T* db,
                            ConvAlgo algo) {
  const ConvShape& s = v.s;
  const int64_t OPQ = v.O * s.P * s.Q, Kg = s.Kg(), CKRS = s.Cg() * v.KD * s.R * s.S;
  if (db) bias_add_backward(dy, db, s.N, s.K, OPQ);
  if (s.N * OPQ == 0 || s.K * CKRS == 0) return;
  if (conv3d_resolve_algo<T>(v, ConvPass::backward_weight, algo) == ConvAlgo::direct)
    return implicit_backward_weight(v, x, dy, dw);
  if (stacked3d(v)) return stacked_backward_weight(v, x, dy, dw);
  const int nt = conv_threads(v);
  const Tiling t = plan_bands3d<T>(v);
  const int64_t wsize = s.K * CKRS;
  sum_over_tasks<T>(
      s.N * s.G * t.ntiles, nt, wsize, ScratchSlot::conv_out, dw,
      [&](int64_t task, T* acc) {
        const TileTask k = band_task(v, t, task);
        T* col = thread_scratch<T>(ScratchSlot::conv_col, CKRS * t.rows * s.Q);
        int64_t ldb;
        const T* B = band_columns3d(v, k, x, col, ldb);
        const T* A = dy + (k.n * s.K + k.g * Kg) * OPQ + k.p0 * s.Q;
        const int64_t cols = (k.p1 - k.p0) * s.Q;
        // dw_g (Kg, CKRS) += dy_g (Kg, cols) @ col^T (cols, CKRS)
        gemm<T>(false, true, Kg, CKRS, cols, T(1), A, OPQ, B, ldb, T(1), acc + k.g * Kg * CKRS,
                CKRS);
      },
      [&](const T* parts, int nparts) { reduce_partials(parts, nparts, wsize, dw, nt); });
}

template <typename T>
ConvAlgo conv_resolve_algo(const ConvShape& s, ConvPass pass, ConvAlgo algo) {
  const Conv3dShape v = unit3d(s);
  const bool covered = pass != ConvPass::backward_input || implicit_backward_input_covers(v);
  if (algo == ConvAlgo::implicit) return covered ? ConvAlgo::implicit : ConvAlgo::im2col;
  if (algo != ConvAlgo::automatic) return algo;
  if (is_pointwise(s)) return ConvAlgo::im2col;  // a plain GEMM on the input, no copy
  // See [Note: conv algorithm choice].
  const ConvTileKernels<T>& kt = *conv_tile_stub<T>();
  const int64_t Kg = s.Kg(), Cg = s.Cg();
  // a unit-depth conv's implicit tasks are its N*G (image, group) pairs: dealt evenly enough
  const bool implicit = covered && s.R * s.S > 1 && tiles_full(s.N * s.G, conv_threads(v), 7, 8);
  switch (pass) {
    case ConvPass::forward:
      if (implicit && implicit2d_forward_pays<T>(v) && tiles_full(Kg, kt.mr, 1, 2))
        return ConvAlgo::implicit;
      return Kg < 8 ? ConvAlgo::direct : ConvAlgo::im2col;
    case ConvPass::backward_input:
      if (implicit && implicit2d_forward_pays<T>(flipped(v)) && Cg >= 2 * kt.mr &&
          2 * s.ph >= (s.R - 1) * s.dh && 2 * s.pw >= (s.S - 1) * s.dw)
        return ConvAlgo::implicit;
      return Kg == 1 ? ConvAlgo::direct : ConvAlgo::im2col;
    default:
      if (Cg * s.R * s.S <= 32) return ConvAlgo::direct;
      if (implicit && tiles_full(Kg, kt.nr) && tiles_full(Cg, kt.mr) &&
          Kg * int64_t(sizeof(T)) <= 256 && s.Q >= 16)
        return ConvAlgo::implicit;
      return ConvAlgo::im2col;
  }
}

const char* conv_algo_name(ConvAlgo algo) {
  switch (algo) {
    case ConvAlgo::direct:
      return "direct";
    case ConvAlgo::im2col:
      return "im2col";
    case ConvAlgo::implicit:
      return "implicit";
    default:
      return "auto";
  }
}

template <typename T>
void conv2d_forward(const ConvShape& s, const T* x, const T* w, const T* b, T* y, ConvAlgo algo,
                    bool relu) {
  if (s.N * s.K * s.P * s.Q == 0) return;
  if (s.C == 0 || s.R * s.S == 0) {  // empty reduction: y = b
    for (int64_t n = 0; n < s.N; ++n)
      for (int64_t k = 0; k < s.K; ++k) {
        const T v = b ? b[k] : T(0);
        std::fill(y + (n * s.K + k) * s.P * s.Q, y + (n * s.K + k + 1) * s.P * s.Q,
                  relu && v < T(0) ? T(0) : v);
      }
    return;
  }
  switch (conv_resolve_algo<T>(s, ConvPass::forward, algo)) {
    case ConvAlgo::direct:
      return direct_forward(s, x, w, b, y, relu);
    case ConvAlgo::implicit:
      return implicit_forward(unit3d(s), x, w, b, y, relu);
    default:
      return im2col_forward(s, x, w, b, y, relu);
  }
}

template <typename T>
void conv2d_backward_input(const ConvShape& s, const T* dy, const T* w, T* dx, ConvAlgo algo) {
  if (s.N * s.C * s.H * s.W == 0) return;
  if (s.K * s.P * s.Q == 0) {
    std::fill(dx, dx + s.N * s.C * s.H * s.W, T(0));
    return;
  }
  switch (conv_resolve_algo<T>(s, ConvPass::backward_input, algo)) {
    case ConvAlgo::direct:
      return direct_backward_input(s, dy, w, dx);
    case ConvAlgo::implicit:
      return implicit_backward_input(unit3d(s), dy, w, dx);
    default:
      return im2col_backward_input(s, dy, w, dx);
  }
}

template <typename T>
void conv2d_backward_weight(const ConvShape& s, const T* x, const T* dy, T* dw, T* db,
                            ConvAlgo algo) {
  const bool empty = s.N * s.P * s.Q == 0 || s.K * s.C * s.R * s.S == 0;
  const ConvAlgo a =
      empty ? ConvAlgo::im2col : conv_resolve_algo<T>(s, ConvPass::backward_weight, algo);
  if (a == ConvAlgo::direct) {
    direct_backward_weight(s, x, dy, dw, db);  // db from the kernel's pass over dy
    return;
  }
  if (db) bias_add_backward(dy, db, s.N, s.K, s.P * s.Q);
  if (empty) return;
  if (a == ConvAlgo::implicit)
    implicit_backward_weight(unit3d(s), x, dy, dw);
  else
    im2col_backward_weight(s, x, dy, dw);
}

#define DC_INSTANTIATE_CONV(T)                                                                     \
  template void conv2d_forward<T>(const ConvShape&, const T*, const T*, const T*, T*, ConvAlgo,    \
                                  bool);                                                           \
  template void conv2d_backward_input<T>(const ConvShape&, const T*, const T*, T*, ConvAlgo);      \
  template void conv2d_backward_weight<T>(const ConvShape&, const T*, const T*, T*, T*, ConvAlgo); \
  template void conv3d_forward<T>(const Conv3dShape&, const T*, const T*, const T*, T*, ConvAlgo,  \
                                  bool);                                                           \
  template void conv3d_backward_input<T>(const Conv3dShape&, const T*, const T*, T*, ConvAlgo);    \
  template void conv3d_backward_weight<T>(const Conv3dShape&, const T*, const T*, T*, T*,          \
                                          ConvAlgo);                                               \
  template ConvAlgo conv_resolve_algo<T>(const ConvShape&, ConvPass, ConvAlgo);                    \
  template ConvAlgo conv3d_resolve_algo<T>(const Conv3dShape&, ConvPass, ConvAlgo);                \
  template const char* conv3d_direct_tiles<T>(const Conv3dShape&, ConvPass);
DC_INSTANTIATE_CONV(float)
DC_INSTANTIATE_CONV(double)
#undef DC_INSTANTIATE_CONV

}  // namespace dc
