// Recurrent drivers: the GEMMs, the time loop and its threads around the fused pointwise
// passes of csrc/cpu/rnn_kernels.cpp. See [Note: RNN plan] and [Note: RNN masks] in rnn.h.
#include "rnn.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <exception>
#include <memory>
#include <type_traits>
#include <vector>

#include "core/scratch.h"
#include "gemm.h"

namespace dc {
namespace {

template <typename T>
const RnnKernels<T>& kernels() {
  return *rnn_stub<T>();
}

// ---------------------------------------------------------------------------- the thread plan

// A step's recurrent GEMM below this many multiply-adds runs on one thread: a barrier or a
// thread hand-off costs about a microsecond on a quiet machine, more on a busy one.
constexpr double kMinStepWork = 48.0 * 1024;
// Rows per thread for the batch split: the GEMM's register tile is 8 rows (AVX-512 / generic
// float64), so fewer rows per thread waste most of each tile.
constexpr int64_t kMinRowsPerThread = 8;
// Units per thread for the unit split (a whole number of float vectors each).
constexpr int64_t kUnitAlign = 16;

struct Plan {
  int nt = 1;
  bool by_units = false;  // else by batch rows
};

Plan make_plan(const RnnConfig& c) {
  Plan p;
  const int max_nt = omp_in_parallel() ? 1 : omp_get_max_threads();
  const double step_work = double(c.B) * double(c.gates() * c.H) * double(c.H);
  if (max_nt <= 1 || step_work < kMinStepWork) return p;
  if (c.B >= 2 * kMinRowsPerThread) {
    p.nt = static_cast<int>(std::min<int64_t>(max_nt, c.B / kMinRowsPerThread));
    return p;
  }
  const int64_t by_units = std::min<int64_t>(c.H / kUnitAlign, int64_t(step_work / kMinStepWork));
  p.nt = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(max_nt, by_units)));
  p.by_units = p.nt > 1;
  return p;
}

// [Note: RNN step products] The products with W_ih (forward: the input projection x_t W_ih^T
// into the workspace; backward: dx_t = dG_t W_ih) can run as one GEMM over all B*T rows, or
// per step on each thread's rows inside the time loop (W_ih packed once, as for the recurrent
// GEMM). Per step, the forward's pointwise pass reads the projection the step just wrote
// (in L2) instead of rows the big GEMM wrote long before (from L3 or memory, the pass's main
// stall), and backward's dx product reads dG_t while it is still in cache (the big GEMM
// streams all of dG from memory again). With few rows per thread the per-step products lose
// (each step re-reads the packed W_ih, a GEMV at B <= 2), so that needs kStepProductRows rows
// on every thread, and threads that split the units keep the big GEMMs. The sums are the same
// either way (the K loop of every output runs in the same order).
constexpr int64_t kStepProductRows = 32;

bool step_products(const Plan& p, int64_t B) { return !p.by_units && B / p.nt >= kStepProductRows; }

// The block of thread `tid` of `nt`: rows [b0, b1) x units [u0, u1).
struct Block {
  int64_t b0, b1, u0, u1;
  int64_t rows() const { return b1 - b0; }
  int64_t units() const { return u1 - u0; }
};

Block block_of(const Plan& p, int tid, int nt, int64_t B, int64_t H) {
  if (!p.by_units) return {B * tid / nt, B * (tid + 1) / nt, 0, H};
  auto cut = [&](int k) {
    const int64_t u = H * k / nt;
    return k == nt ? H : std::min(H, (u + kUnitAlign / 2) / kUnitAlign * kUnitAlign);
  };
  return {0, B, cut(tid), cut(tid + 1)};
}

// Run body(block, sync) on every thread of the plan; sync() is a barrier of the team when the
// plan splits units (a no-op otherwise). An exception (a failed scratch allocation inside a
// GEMM) is kept, the remaining steps are skipped but every barrier is still met, and it is
// rethrown after the region.
template <typename Body>
void run_plan(const Plan& p, int64_t B, int64_t H, Body&& body) {
  std::exception_ptr err;
  std::atomic<bool> failed{false};
#pragma omp parallel num_threads(p.nt) if (p.nt > 1)
  {
    const int nt = omp_get_num_threads(), tid = omp_get_thread_num();
    const Block blk = block_of(p, tid, nt, B, H);
    auto sync = [&] {
      if (p.by_units && nt > 1) {
#pragma omp barrier
      }
    };
    auto guarded = [&](auto&& f) {
      if (failed.load(std::memory_order_relaxed)) return;
      try {
        f();
      } catch (...) {
#pragma omp critical(dc_rnn_error)
        if (!err) err = std::current_exception();
        failed.store(true);
      }
    };
    body(blk, sync, guarded);
  }
  if (err) std::rethrow_exception(err);
}

// A copy of `rows` rows of `cols` elements, row r from src_row(r), in the calling thread's
// scratch `slot` ([Note: scratch memory]), each row starting on a 64-byte boundary (the row
// stride padded to whole cache lines): what the GEMV reads when the weights themselves are not
// on such rows ([Note: RNN GEMV alignment]), or rows gathered from several places.
template <typename T>
struct LineRows {
  static constexpr int64_t kLine = 64 / sizeof(T);
  template <typename SrcRow>
  LineRows(ScratchSlot slot, int64_t rows, int64_t cols, SrcRow&& src_row)
      : ld((cols + kLine - 1) / kLine * kLine), p(thread_scratch<T>(slot, rows * ld)) {
    for (int64_t r = 0; r < rows; ++r) {
      const T* src = src_row(r);
      std::copy(src, src + cols, p + r * ld);
    }
  }
  static bool aligned(const T* q, int64_t ldq) {
    return reinterpret_cast<uintptr_t>(q) % 64 == 0 && ldq % kLine == 0;
  }
  int64_t ld;
  T* p;
};

// [Note: RNN GEMV alignment] The GEMV streams the whole weight matrix at every step, from L2
// (2 threads) or L3 (1 thread), and a vector load that straddles two cache lines costs two of
// the L1's accesses. NumPy's buffers (user weights, our outputs) start 16 bytes past a cache
// line, so every load of an in-place read straddled. Measured on Zen 4 (B = 1 LSTM, H = 256,
// per step): 1 thread forward 14.0 -> 11.0 us and backward 13.3 -> 10.4 us on an aligned copy;
// 2 threads 6.3 -> 5.0 / 5.1 us. So a matrix read at kGemvCopySteps steps or more that is not
// on 64-byte rows is copied once per call into a scratch buffer that persists across calls
// (a fresh 1 MB allocation would page-fault on every call and cost more than the copy).
constexpr int64_t kGemvCopySteps = 16;

// [Note: RNN step GEMM] The per-step recurrent product of one thread's block,
// C (rows x N) = A (rows x K) @ op(B) + beta*C, with the same B at every step: packed once per
// call (gemm_pack_b), so a step does not repack 4H*H weights for a product of only B*4H*H
// multiply-adds. Blocks of one or two rows read B in place through the GEMV instead ([Note:
// RNN GEMV] in rnn.h), or an aligned copy of it when `steps` repay one ([Note: RNN GEMV
// alignment]). The packing or the copy lives in the constructing thread's scratch `slot`: a
// StepGemm runs on the thread that made it, and two alive on one thread use different slots.
template <typename T>
class StepGemm {
 public:
  // op(B) is (K x N): B (K, N) with row stride ldb, or (N, K) when tb. rows: the most rows of
  // a call; steps: how many calls will read B.
  StepGemm(int64_t rows, bool tb, int64_t K, int64_t N, const T* B, int64_t ldb, int64_t steps,
           ScratchSlot slot)
      : tb_(tb), K_(K), N_(N), B_(B), ldb_(ldb) {
    if (K <= 0 || N <= 0) return;
    if (rows > 2) {
      packed_ = thread_scratch<T>(slot, gemm_packed_b_size<T>(K, N));
      gemm_pack_b<T>(tb, K, N, B, ldb, packed_);
    } else if (steps >= kGemvCopySteps && !LineRows<T>::aligned(B, ldb)) {
      const LineRows<T> copy(slot, tb ? N : K, tb ? K : N, [&](int64_t r) { return B + r * ldb; });
      B_ = copy.p;
      ldb_ = copy.ld;
    }
  }
  // beta is 0 or 1
  void operator()(int64_t rows, const T* A, int64_t lda, T beta, T* C, int64_t ldc) const {
    if (packed_)
      gemm_prepacked<T>(rows, N_, K_, T(1), A, lda, packed_, beta, C, ldc);
    else if (K_ > 0 && rows <= 2)
      (tb_ ? kernels<T>().gemv_t : kernels<T>().gemv_n)(rows, K_, N_, A, lda, B_, ldb_,
                                                        beta != T(0), C, ldc);
    else
      gemm<T>(false, tb_, rows, N_, K_, T(1), A, lda, B_, ldb_, beta, C, ldc);
  }

 private:
  bool tb_;
  int64_t K_, N_;
  const T* B_;
  int64_t ldb_;
  T* packed_ = nullptr;
};

// The step GEMM of forward for gate blocks [k0, k0 + nblk) of W (rows of H weights each) and
// units [u0, u0 + nu): C (rows x nblk*nu, gate stride nu) = h @ those rows of W^T. The rows
// are gathered into one aligned matrix first (scratch slot rnn_gather) when the block holds only
// some of the units (the packing copies them anyway; the GEMV then reads the gathered rows).
template <typename T>
std::unique_ptr<StepGemm<T>> gate_gemm(int64_t rows, const T* W, int64_t H, int64_t k0,
                                       int64_t nblk, int64_t u0, int64_t nu, int64_t steps,
                                       ScratchSlot slot) {
  if (nu == H || nblk == 1)
    return std::make_unique<StepGemm<T>>(rows, true, H, nblk * nu, W + (k0 * H + u0) * H, H, steps,
                                         slot);
  const LineRows<T> g(ScratchSlot::rnn_gather, nblk * nu, H,  // row r: unit r % nu of block r / nu
                      [&](int64_t r) { return W + ((k0 + r / nu) * H + u0 + r % nu) * H; });
  return std::make_unique<StepGemm<T>>(rows, true, H, nblk * nu, g.p, g.ld, steps, slot);
}

// [Note: RNN masked rows] A masked step computes nothing: its state is carried, its gate
// gradients are zero. So with a mask, each step's recurrent GEMM runs over the block's real
// rows only (gathered into a contiguous matrix, the result scattered back), and after the loop
// the weight-gradient and dx GEMMs run over the real (b, t) rows only: a variable-length batch
// pays for its real steps, not for its padding. Without a mask nothing is gathered.
template <typename T>
class RealRows {
 public:
  // the real rows r < rows of a block whose mask at this step is m[r * ldm]
  void find(const uint8_t* m, int64_t ldm, int64_t rows) {
    idx_.clear();
    for (int64_t r = 0; r < rows; ++r)
      if (!m || m[r * ldm]) idx_.push_back(r);
    all_ = static_cast<int64_t>(idx_.size()) == rows;
  }
  bool all() const { return all_; }
  // C (real rows, row stride ldc, N columns) = [C +] A (real rows, K columns) @ B through g;
  // `out` gets each real row's result: out(r, row of the product) (accumulate / scatter).
  template <typename Out>
  void gemm(const StepGemm<T>& g, int64_t rows, const T* A, int64_t lda, int64_t K, int64_t N,
            Out&& out) {
    const int64_t n = static_cast<int64_t>(idx_.size());
    if (n == 0) return;
    const T* Ac = A;
    int64_t ldac = lda;
    if (!all_) {
      a_.resize(static_cast<size_t>(n * K));
      for (int64_t i = 0; i < n; ++i)
        std::copy(A + idx_[i] * lda, A + idx_[i] * lda + K, a_.data() + i * K);
      Ac = a_.data();
      ldac = K;
    }
    c_.resize(static_cast<size_t>(n * N));
    g(n, Ac, ldac, T(0), c_.data(), N);
    for (int64_t i = 0; i < n; ++i) out(idx_[i], c_.data() + i * N);
    (void)rows;
  }

 private:
  std::vector<int64_t> idx_;
  std::vector<T> a_, c_;
  bool all_ = true;
};

// [Note: RNN bias sums] The bias gradients are column sums of dG over every real (b, t) row.
// They are summed inside the backward time loop while a step's gate gradients are still in
// cache: each thread adds its block of the step (its rows, its units of every gate block) to
// a (B, ws_cols) buffer of per-sequence sums, and after the loop the B rows are added in
// order. Each sequence's sum runs over its steps in processing order, so the result does not
// depend on the thread count. A column-sum pass over the B*T x ws_cols matrix after the loop
// read it back from memory: 2.0 ms of LSTM B64 T100's backward at 2 threads (26 MB), 0.55-0.73
// ms of SimpleRNN's.
//
// acc (rows x, row stride ldacc) += gate blocks [k0, k1) of dg (row stride lddg), nu units of
// each block of H columns; rows whose mask entry (stride ldm) is 0 are skipped.
template <typename T>
void add_gate_rows(int64_t rows, int64_t k0, int64_t k1, int64_t H, int64_t nu, const T* dg,
                   int64_t lddg, const uint8_t* mask, int64_t ldm, T* acc, int64_t ldacc) {
  for (int64_t r = 0; r < rows; ++r) {
    if (mask && !mask[r * ldm]) continue;
    for (int64_t k = k0; k < k1; ++k) {
      const T* src = dg + r * lddg + k * H;
      T* dst = acc + r * ldacc + k * H;
      for (int64_t j = 0; j < nu; ++j) dst[j] += src[j];
    }
  }
}

template <typename T>
void copy_rows(T* dst, const T* src, int64_t n) {
  std::copy(src, src + n, dst);
}

// out (rows x H, contiguous) = h (row stride ldh) * m (row stride H): h_{t-1} with the
// recurrent dropout mask applied (see [Note: recurrent dropout] in rnn.h).
template <typename T>
void masked_rows(int64_t rows, int64_t H, const T* h, int64_t ldh, const T* m, T* out) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < H; ++j) out[r * H + j] = h[r * ldh + j] * m[r * H + j];
}

// Position in time of the s-th step processed.
inline int64_t step_pos(const RnnConfig& c, int64_t s) { return c.reverse ? c.T - 1 - s : s; }

// [Note: RNN dW_hh from the states] dW_hh = dG^T @ H_prev over the B*T rows (b, t), where row
// (b, t) of H_prev is h_{t-1} of sequence b: the previous row of the states S (the next one
// when reverse), except at each sequence's first step, where it is h0[b]. Without a mask or a
// recurrent dropout mask the product reads S itself, shifted by one row, instead of a B*T*H
// copy: the B rows of dG at first steps are set aside (copied, then zeroed), so in the shifted
// product they pair their zero gradient with the neighbouring sequence's state; one small
// product over those B rows with h0 then adds their true terms (skipped when h0 is zeros and
// those rows are finite: a 4H x H read and write for nothing at B = 1). The zeros add exact zeros
// unless the state they meet is inf or NaN, so those B states are checked (else the copy is
// made, as with masks). The rows are restored when the product object goes away.
template <typename T>
class HprevProduct {
 public:
  // dG (B*T, ws_cols) is the gradient scratch (changed and restored here); real: the rows of
  // a compacted masked batch ([Note: RNN masked rows]) whose gradients are gathered in dGr
  // (row stride ws_cols), or null (dGr is dG)
  // h0_zero: h0 holds zeros (none was given)
  HprevProduct(const RnnConfig& c, T* dG, const T* dGr, const T* S, const T* h0, bool h0_zero,
               const T* h_mask, const std::vector<int64_t>* real)
      : c_(c), dG_(dG), dGr_(dGr), S_(S), h0_(h0), WC_(c.ws_cols()) {
    const int64_t B = c.B, Tn = c.T, H = c.H;
    const int64_t first = c.reverse ? Tn - 1 : 0, step = c.reverse ? 1 : -1;
    shifted_ = !real && !h_mask && Tn >= 2;
    // the states the zeroed rows meet: row b*T + first + step for every b but the edge one
    for (int64_t b = 0; shifted_ && b < B; ++b) {
      const int64_t r = b * Tn + first + step;
      if (r < 0 || r >= B * Tn) continue;
      for (int64_t j = 0; j < H; ++j)
        if (!std::isfinite(static_cast<double>(S[r * H + j]))) shifted_ = false;
    }
    if (shifted_) {
      saved_.resize(static_cast<size_t>(B * WC_));
      for (int64_t b = 0; b < B; ++b) {
        T* row = dG + (b * Tn + first) * WC_;
        std::copy(row, row + WC_, saved_.data() + b * WC_);
        std::fill(row, row + WC_, T(0));
      }
      first_terms_ = !h0_zero || !std::all_of(saved_.begin(), saved_.end(), [](T v) {
        return std::isfinite(static_cast<double>(v));
      });
      return;
    }
    // the copy: h_{t-1} of every (real) row, times the recurrent dropout mask
    const int64_t R = real ? static_cast<int64_t>(real->size()) : B * Tn;
    rows_ = R;
    hprev_.resize(static_cast<size_t>(R * H));
#pragma omp parallel for schedule(static) if (R * H > 65536)
    for (int64_t i = 0; i < R; ++i) {
      const int64_t r = real ? (*real)[i] : i, b = r / Tn, t = r % Tn;
      const T* src = t == first ? h0 + b * H : S + (r + step) * H;
      T* dst = hprev_.data() + i * H;
      if (h_mask)
        masked_rows(1, H, src, H, h_mask + b * H, dst);
      else
        std::copy(src, src + H, dst);
    }
  }
  HprevProduct(const HprevProduct&) = delete;
  HprevProduct& operator=(const HprevProduct&) = delete;
  ~HprevProduct() {
    if (!shifted_) return;
    const int64_t first = c_.reverse ? c_.T - 1 : 0;
    for (int64_t b = 0; b < c_.B; ++b)
      std::copy(saved_.data() + b * WC_, saved_.data() + (b + 1) * WC_,
                dG_ + (b * c_.T + first) * WC_);
  }

  // dst (M x H) = columns [col, col + M) of the rows' gradients, transposed, @ H_prev
  void operator()(int64_t col, int64_t M, T* dst) const {
    const int64_t B = c_.B, Tn = c_.T, H = c_.H;
    if (!shifted_) {
      gemm<T>(true, false, M, H, rows_, T(1), dGr_ + col, WC_, hprev_.data(), H, T(0), dst, H);
      return;
    }
    const int64_t lo = c_.reverse ? 0 : 1, step = c_.reverse ? 1 : -1;
    gemm<T>(true, false, M, H, B * Tn - 1, T(1), dG_ + lo * WC_ + col, WC_, S_ + (lo + step) * H, H,
            T(0), dst, H);
    if (first_terms_)
      gemm<T>(true, false, M, H, B, T(1), saved_.data() + col, WC_, h0_, H, T(1), dst, H);
  }

 private:
  const RnnConfig& c_;
  T* dG_;
  const T* dGr_;
  const T* S_;
  const T* h0_;
  int64_t WC_, rows_ = 0;
  bool shifted_ = false, first_terms_ = true;
  std::vector<T> saved_, hprev_;
};

}  // namespace

template <typename T>
void rnn_forward(const RnnConfig& c, const T* x, const T* h0, const T* c0, const RnnWeights<T>& w,
                 T* out, T* h_n, T* c_n, const RnnWorkspace<T>& ws) {
  const int64_t B = c.B, Tn = c.T, I = c.I, H = c.H, G = c.gates(), WC = c.ws_cols();
  const bool lstm = c.cell == RnnCell::lstm, gru = c.cell == RnnCell::gru;
  std::vector<T> zeros;
  if (!h0 || (lstm && !c0)) zeros.assign(static_cast<size_t>(B * H), T(0));
  if (!h0) h0 = zeros.data();
  if (lstm && !c0) c0 = zeros.data();
  if (Tn == 0 || B == 0 || H == 0) {
    if (h_n) copy_rows(h_n, h0, B * H);
    if (lstm && c_n) copy_rows(c_n, c0, B * H);
    return;
  }
  T* Gw = ws.gates;
  T* S = ws.states;
  T* Cs = ws.cells;
  T* y = out == S ? nullptr : out;

  // The input projection of every step into the workspace: one GEMM over B*T rows, or per
  // step inside the time loop ([Note: RNN step products]).
  const Plan plan = make_plan(c);
  const int64_t xo = c.x_offset();
  const bool step_proj = step_products(plan, B);
  if (!step_proj) gemm<T>(false, true, B * Tn, G * H, I, T(1), x, I, w.w_ih, I, T(0), Gw + xo, WC);

  // Biases added in the pointwise pass: b_ih + b_hh, except GRU reset_after's n gate, whose
  // recurrent bias sits inside r * (U_n h + b_hn).
  std::vector<T> bias(static_cast<size_t>(G * H), T(0)), bias_hn(static_cast<size_t>(H), T(0));
  const bool split_n = gru && c.reset_after;
  for (int64_t k = 0; k < G * H; ++k) {
    if (w.b_ih) bias[k] += w.b_ih[k];
    if (w.b_hh && !(split_n && k >= 2 * H)) bias[k] += w.b_hh[k];
  }
  if (split_n && w.b_hh) copy_rows(bias_hn.data(), w.b_hh + 2 * H, H);

  const RnnKernels<T>& k = kernels<T>();
  std::vector<T> gh_buf(static_cast<size_t>(B * G * H));

  run_plan(plan, B, H, [&](const Block& blk, auto&& sync, auto&& guarded) {
    const int64_t rows = blk.rows(), nu = blk.units(), b0 = blk.b0, u0 = blk.u0;
    if (rows == 0 || nu == 0) {  // an idle thread still meets every barrier
      for (int64_t s = 0; s < Tn; ++s) {
        sync();
        if (gru && !c.reset_after) sync();
      }
      return;
    }
    T* gh = gh_buf.data() + b0 * G * H + B * G * u0;  // disjoint: b0 = 0 or u0 = 0
    RnnRows<T> a;
    a.rows = rows;
    a.n = nu;
    a.H = H;
    a.sgh = nu;
    a.gh = gh;
    a.ldgh = G * nu;
    a.bias = bias.data() + u0;
    a.bias_hn = bias_hn.data() + u0;
    a.peep = w.w_peep ? w.w_peep + u0 : nullptr;
    a.ldg = Tn * WC;
    a.ldh = a.ldc = a.ldo = a.ldop = Tn * H;
    a.ldm = Tn;
    const bool two = gru && !c.reset_after;  // r, z first; then n from r*h_{t-1}
    std::unique_ptr<StepGemm<T>> gemm1, gemm2, proj;
    guarded([&] {
      gemm1 = gate_gemm<T>(rows, w.w_hh, H, 0, two ? 2 : G, u0, nu, Tn, ScratchSlot::rnn_step0);
      if (two) gemm2 = gate_gemm<T>(rows, w.w_hh, H, 2, 1, u0, nu, Tn, ScratchSlot::rnn_step1);
      if (step_proj)
        proj = std::make_unique<StepGemm<T>>(rows, true, I, G * H, w.w_ih, I, Tn,
                                             ScratchSlot::rnn_step2);
    });
    // recurrent dropout: the GEMM reads h_{t-1} * mask, this thread's rows, every unit
    std::vector<T> hm_buf(w.h_mask ? static_cast<size_t>(rows * H) : 0);
    a.hm = w.h_mask ? w.h_mask + b0 * H + u0 : nullptr;
    RealRows<T> real;  // see [Note: RNN masked rows]
    for (int64_t s = 0; s < Tn; ++s) {
      const int64_t t = step_pos(c, s), tp = s ? step_pos(c, s - 1) : 0;
      const T* hp = s ? S + (b0 * Tn + tp) * H : h0 + b0 * H;  // unit 0 of the block's rows
      a.ldhp = a.ldcp = s ? Tn * H : H;
      a.hp = hp + u0;
      const T* hin = hp;  // the GEMM's h_{t-1}
      int64_t ldin = a.ldhp;
      if (w.h_mask) {
        masked_rows(rows, H, hp, a.ldhp, w.h_mask + b0 * H, hm_buf.data());
        hin = hm_buf.data();
        ldin = H;
      }
      if (lstm) a.cp = (s ? Cs + (b0 * Tn + tp) * H : c0 + b0 * H) + u0;
      const int64_t at = (b0 * Tn + t);
      a.g = Gw + at * WC + u0;
      a.h = S + at * H + u0;
      a.c = lstm ? Cs + at * H + u0 : nullptr;
      a.out = y ? y + at * H + u0 : nullptr;
      a.oprev = y && s ? y + (b0 * Tn + tp) * H + u0 : nullptr;
      a.mask = c.mask ? c.mask + b0 * Tn + t : nullptr;
      // the step's recurrent product into gh: every row, or the real rows only (masks)
      auto step_gemm = [&](const StepGemm<T>& g, const T* A, int64_t lda, int64_t N, T* C) {
        if (real.all()) {
          g(rows, A, lda, T(0), C, G * nu);
          return;
        }
        real.gemm(g, rows, A, lda, H, N,
                  [&](int64_t r, const T* v) { std::copy(v, v + N, C + r * G * nu); });
      };
      real.find(a.mask, Tn, rows);  // every row when there is no mask
      if (proj)  // this step's x-projection of the block's rows (every row: as one GEMM would)
        guarded([&] { (*proj)(rows, x + at * I, Tn * I, T(0), Gw + at * WC + xo, Tn * WC); });
      if (two) {
        guarded([&] {
          step_gemm(*gemm1, hin, ldin, 2 * nu, gh);
          k.gru_fwd_rz(c, a);
        });
        sync();  // every unit of r*h_{t-1} is ready
        guarded([&] {
          step_gemm(*gemm2, Gw + at * WC, Tn * WC, nu, gh + 2 * nu);
          k.gru_fwd_n(c, a);
        });
      } else {
        guarded([&] {
          step_gemm(*gemm1, hin, ldin, G * nu, gh);
          (c.cell == RnnCell::rnn ? k.rnn_fwd : lstm ? k.lstm_fwd : k.gru_fwd)(c, a);
        });
      }
      sync();  // h_t complete before the next step's GEMM reads it
    }
  });

  const int64_t last = step_pos(c, Tn - 1);
  for (int64_t b = 0; b < B; ++b) {
    if (h_n) copy_rows(h_n + b * H, S + (b * Tn + last) * H, H);
    if (lstm && c_n) copy_rows(c_n + b * H, Cs + (b * Tn + last) * H, H);
  }
}

template <typename T>
void rnn_backward(const RnnConfig& c, const T* x, const T* h0, const T* c0, const RnnWeights<T>& w,
                  const RnnWorkspace<T>& ws, const T* dout, const T* dh_n, const T* dc_n,
                  const RnnGrads<T>& g) {
  const int64_t B = c.B, Tn = c.T, I = c.I, H = c.H, G = c.gates(), WC = c.ws_cols();
  const int64_t BT = B * Tn, xo = c.x_offset();
  const bool lstm = c.cell == RnnCell::lstm, gru = c.cell == RnnCell::gru;
  std::vector<T> zeros(static_cast<size_t>(B * H), T(0));
  const bool h0_zero = !h0;
  if (!h0) h0 = zeros.data();
  if (lstm && !c0) c0 = zeros.data();

  // state gradients flowing backwards: dh (two buffers: this step's and the previous step's),
  // dc (in place), and carry mode's pending output gradients
  std::vector<T> dh_a(static_cast<size_t>(B * H), T(0)), dh_b(dh_a.size()), dc(dh_a.size(), T(0));
  std::vector<T> dcarry;
  if (dh_n) copy_rows(dh_a.data(), dh_n, B * H);
  if (lstm && dc_n) copy_rows(dc.data(), dc_n, B * H);
  const bool carry = c.mask && !c.zero_output && dout;
  if (carry) dcarry.assign(static_cast<size_t>(B * H), T(0));

  if (Tn > 0 && B > 0 && H > 0) {
    T* dG = thread_scratch<T>(ScratchSlot::rnn_dgates, BT * WC);
    const T* Gw = ws.gates;
    const T* S = ws.states;
    const T* Cs = ws.cells;
    // GRU reset_after: gradient slots [d(U_n h), dr, dz] go through U's rows in the order
    // (n, r, z): one GEMM per step needs U with its rows in that order.
    // (the calling thread's rnn_gather slot: forward's gate_gemm is its only other user)
    const T* w_rec = w.w_hh;
    int64_t ld_rec = H;
    if (gru && c.reset_after) {
      const LineRows<T> w_nrz(ScratchSlot::rnn_gather, 3 * H, H,
                              [&](int64_t r) { return w.w_hh + ((r + 2 * H) % (3 * H)) * H; });
      w_rec = w_nrz.p;
      ld_rec = w_nrz.ld;
    }
    const int64_t K_rec = gru ? 3 * H : G * H;  // columns of dG that go through U each step
    const Plan plan = make_plan(c);
    const RnnKernels<T>& k = kernels<T>();
    std::vector<T> drh_buf(gru && !c.reset_after ? static_cast<size_t>(B * H) : 0);
    // dx_t = dG_t W_ih per step ([Note: RNN step products]); masks keep the compacted GEMM
    const bool step_dx = g.dx && !c.mask && step_products(plan, B);
    // per-sequence sums of dG for the bias gradients ([Note: RNN bias sums]); GRU without
    // reset_after has no bias in workspace slot 0
    std::vector<T> db_rows(g.db_ih || g.db_hh ? static_cast<size_t>(B * WC) : 0, T(0));
    const int64_t db_k0 = gru && !c.reset_after ? 1 : 0;

    run_plan(plan, B, H, [&](const Block& blk, auto&& sync, auto&& guarded) {
      const int64_t rows = blk.rows(), nu = blk.units(), b0 = blk.b0, u0 = blk.u0;
      const bool two = gru && !c.reset_after;
      if (rows == 0 || nu == 0) {
        for (int64_t s = 0; s < Tn; ++s) {
          sync();
          if (two) sync();
        }
        return;
      }
      RnnRows<T> a;
      a.rows = rows;
      a.n = nu;
      a.H = H;
      a.peep = w.w_peep ? w.w_peep + u0 : nullptr;
      a.ldg = a.lddg = Tn * WC;
      a.ldh = a.ldc = a.lddo = Tn * H;
      a.lddh = a.lddhp = a.lddc = a.lddca = H;
      a.ldm = Tn;
      // dh_{t-1} through U: d(U_n h) (GRU reset_after=False: d(r*h) first), then the rest
      std::unique_ptr<StepGemm<T>> gemm_rec, gemm_n, gemm_dx;
      guarded([&] {
        if (two) {
          gemm_n = std::make_unique<StepGemm<T>>(rows, false, H, nu, w.w_hh + 2 * H * H + u0, H, Tn,
                                                 ScratchSlot::rnn_step1);
          gemm_rec = std::make_unique<StepGemm<T>>(rows, false, 2 * H, nu, w.w_hh + u0, H, Tn,
                                                   ScratchSlot::rnn_step0);
        } else {
          gemm_rec = std::make_unique<StepGemm<T>>(rows, false, K_rec, nu, w_rec + u0, ld_rec, Tn,
                                                   ScratchSlot::rnn_step0);
        }
        if (step_dx)
          gemm_dx = std::make_unique<StepGemm<T>>(rows, false, G * H, I, w.w_ih, I, Tn,
                                                  ScratchSlot::rnn_step2);
      });
      // dh_{t-1} += dG_t @ U (times the recurrent dropout mask): every row straight into dhp,
      // or through a buffer (the real rows only, see [Note: RNN masked rows]; a dropout mask)
      a.hm = w.h_mask ? w.h_mask + b0 * H + u0 : nullptr;
      RealRows<T> real;
      auto rec_gemm = [&](const StepGemm<T>& g, const T* A, int64_t lda, int64_t K, T* dhp_row) {
        if (real.all() && !a.hm) {
          g(rows, A, lda, T(1), dhp_row, H);
          return;
        }
        real.gemm(g, rows, A, lda, K, nu, [&](int64_t r, const T* v) {
          T* d = dhp_row + r * H;
          const T* m = a.hm ? a.hm + r * H : nullptr;
          for (int64_t j = 0; j < nu; ++j) d[j] += m ? v[j] * m[j] : v[j];
        });
      };
      T* dh_cur = dh_a.data();  // this thread's view; every thread swaps at every step
      T* dh_nxt = dh_b.data();
      T* drh = drh_buf.empty() ? nullptr : drh_buf.data() + b0 * H + u0;
      a.drh = drh;
      a.lddrh = H;
      for (int64_t s = Tn - 1; s >= 0; --s) {
        const int64_t t = step_pos(c, s), tp = s ? step_pos(c, s - 1) : 0;
        const int64_t at = b0 * Tn + t;
        a.ldhp = a.ldcp = s ? Tn * H : H;
        a.hp = (s ? S + (b0 * Tn + tp) * H : h0 + b0 * H) + u0;
        if (lstm) a.cp = (s ? Cs + (b0 * Tn + tp) * H : c0 + b0 * H) + u0;
        a.g = const_cast<T*>(Gw) + at * WC + u0;
        a.h = const_cast<T*>(S) + at * H + u0;
        a.c = lstm ? const_cast<T*>(Cs) + at * H + u0 : nullptr;
        a.dg = dG + at * WC + u0;
        a.dout = dout ? dout + at * H + u0 : nullptr;
        a.dh = dh_cur + b0 * H + u0;
        a.dhp = dh_nxt + b0 * H + u0;
        a.dc = dc.data() + b0 * H + u0;
        a.dcarry = carry ? dcarry.data() + b0 * H + u0 : nullptr;
        a.mask = c.mask ? c.mask + b0 * Tn + t : nullptr;
        T* dhp_row = dh_nxt + b0 * H + u0;
        real.find(a.mask, Tn, rows);  // every row when there is no mask
        if (two) {
          guarded([&] { k.gru_bwd_n(c, a); });
          sync();  // dn of every unit is ready
          guarded([&] {
            if (real.all())
              (*gemm_n)(rows, dG + at * WC + 3 * H, Tn * WC, T(0), drh, H);
            else  // masked rows' drh is never read
              real.gemm(*gemm_n, rows, dG + at * WC + 3 * H, Tn * WC, H, nu,
                        [&](int64_t r, const T* v) { std::copy(v, v + nu, drh + r * H); });
            k.gru_bwd_rz(c, a);
          });
          sync();  // dr of every unit is ready
          guarded([&] { rec_gemm(*gemm_rec, dG + at * WC + H, Tn * WC, 2 * H, dhp_row); });
        } else {
          guarded([&] {
            (c.cell == RnnCell::rnn ? k.rnn_bwd : lstm ? k.lstm_bwd : k.gru_bwd)(c, a);
          });
          sync();  // every gate gradient of the step is ready
          guarded([&] { rec_gemm(*gemm_rec, dG + at * WC, Tn * WC, K_rec, dhp_row); });
        }
        // this step's gate gradients of the block are complete
        if (!db_rows.empty())
          add_gate_rows(rows, db_k0, WC / H, H, nu, dG + at * WC + u0, Tn * WC, a.mask, Tn,
                        db_rows.data() + b0 * WC + u0, WC);
        if (gemm_dx)
          guarded(
              [&] { (*gemm_dx)(rows, dG + at * WC + xo, Tn * WC, T(0), g.dx + at * I, Tn * I); });
        std::swap(dh_cur, dh_nxt);
      }
    });

    // The rows of the after-loop GEMMs: every (b, t), or the real ones gathered into
    // contiguous matrices ([Note: RNN masked rows]).
    std::vector<int64_t> real;
    if (c.mask)
      for (int64_t r = 0; r < BT; ++r)
        if (c.mask[r]) real.push_back(r);
    const bool compact = c.mask && static_cast<int64_t>(real.size()) < BT;
    const int64_t R = compact ? static_cast<int64_t>(real.size()) : BT;
    auto gather = [&](const T* src, int64_t ld, int64_t n, std::vector<T>& dst) {
      dst.resize(static_cast<size_t>(R * n));
#pragma omp parallel for schedule(static) if (R * n > 65536)
      for (int64_t i = 0; i < R; ++i)
        std::copy(src + real[i] * ld, src + real[i] * ld + n, dst.data() + i * n);
      return dst.data();
    };
    std::vector<T> dG_c, x_c, rh_c;
    const T* dGr = compact ? gather(dG, WC, WC, dG_c) : dG;
    const T* xr = compact ? gather(x, I, I, x_c) : x;
    // weight gradients and dx: one GEMM each over the rows
    const T* dGx = dGr + xo;  // the columns that go through W_ih, in W_ih's row order
    if (g.dw_ih) gemm<T>(true, false, G * H, I, R, T(1), dGx, WC, xr, I, T(0), g.dw_ih, I);
    if (g.dx && !compact && !step_dx)
      gemm<T>(false, false, R, I, G * H, T(1), dGx, WC, w.w_ih, I, T(0), g.dx, I);
    if (g.dx && compact) {  // masked steps' dx is zero
      std::vector<T> dx_c(static_cast<size_t>(R * I));
      gemm<T>(false, false, R, I, G * H, T(1), dGx, WC, w.w_ih, I, T(0), dx_c.data(), I);
      std::fill(g.dx, g.dx + BT * I, T(0));
      for (int64_t i = 0; i < R; ++i)
        std::copy(dx_c.data() + i * I, dx_c.data() + (i + 1) * I, g.dx + real[i] * I);
    }
    if (g.dw_hh) {
      if (gru && !c.reset_after) {  // n through r*h_{t-1} (workspace slot 0)
        const T* rh = compact ? gather(Gw, WC, H, rh_c) : Gw;
        gemm<T>(true, false, H, H, R, T(1), dGr + 3 * H, WC, rh, compact ? H : WC, T(0),
                g.dw_hh + 2 * H * H, H);
      }
      // the rest through h_{t-1}: see [Note: RNN dW_hh from the states]. Scoped: it changes
      // rows of dG and restores them when it goes, before the column sums below.
      const HprevProduct<T> hprev_product(c, dG, dGr, S, h0, h0_zero, w.h_mask,
                                          compact ? &real : nullptr);
      if (!gru) {
        hprev_product(0, G * H, g.dw_hh);
      } else if (c.reset_after) {  // rows come out in the order n, r, z
        std::vector<T> tmp(static_cast<size_t>(3 * H * H));
        hprev_product(0, 3 * H, tmp.data());
        copy_rows(g.dw_hh, tmp.data() + H * H, 2 * H * H);
        copy_rows(g.dw_hh + 2 * H * H, tmp.data(), H * H);
      } else {  // r, z
        hprev_product(H, 2 * H, g.dw_hh);
      }
    }
    if (!db_rows.empty()) {
      std::vector<T> cs(db_rows.begin(), db_rows.begin() + WC);
      for (int64_t b = 1; b < B; ++b)
        for (int64_t j = 0; j < WC; ++j) cs[j] += db_rows[b * WC + j];
      if (g.db_ih) copy_rows(g.db_ih, cs.data() + xo, G * H);
      if (g.db_hh) {
        if (gru && c.reset_after) {
          copy_rows(g.db_hh, cs.data() + H, 2 * H);
          copy_rows(g.db_hh + 2 * H, cs.data(), H);
        } else {
          copy_rows(g.db_hh, cs.data() + xo, G * H);
        }
      }
    }
    if (lstm && g.dw_peep) {
      // dp_i, dp_f = sum of da_{i,f} * c_{t-1}; dp_o = sum of da_o * c_t
      const int64_t P = c.peep_gates();
      // dG slots of the peephole blocks: standard i 0, f 1, o 3; the variants (i or f) 0, o 2
      const int64_t nslot[3] = {0, P == 3 ? 1 : 2, 3};
      std::vector<double> acc(static_cast<size_t>(P * H), 0.0);
      for (int64_t b = 0; b < B; ++b)
        for (int64_t s = 0; s < Tn; ++s) {
          const int64_t t = step_pos(c, s), at = b * Tn + t;
          const T* cp = s ? Cs + (b * Tn + step_pos(c, s - 1)) * H : c0 + b * H;
          const T* ct = Cs + at * H;
          const T* d = dG + at * WC;
          for (int64_t p = 0; p < P; ++p) {
            const bool is_o = p == P - 1;
            const T* cc = is_o ? ct : cp;
            const T* dp = d + nslot[p] * H;
            double* o = acc.data() + p * H;
            for (int64_t j = 0; j < H; ++j) o[j] += double(dp[j]) * double(cc[j]);
          }
        }
      for (int64_t j = 0; j < P * H; ++j) g.dw_peep[j] = static_cast<T>(acc[j]);
    }
  } else {
    if (g.dw_ih) std::fill(g.dw_ih, g.dw_ih + G * H * I, T(0));
    if (g.dw_hh) std::fill(g.dw_hh, g.dw_hh + G * H * H, T(0));
    if (g.db_ih) std::fill(g.db_ih, g.db_ih + G * H, T(0));
    if (g.db_hh) std::fill(g.db_hh, g.db_hh + G * H, T(0));
    if (g.dw_peep) std::fill(g.dw_peep, g.dw_peep + c.peep_gates() * H, T(0));
    if (g.dx) std::fill(g.dx, g.dx + BT * I, T(0));
  }
  // after T swaps, dh_0 is in dh_a when T is even
  if (g.dh0) copy_rows(g.dh0, Tn % 2 == 0 ? dh_a.data() : dh_b.data(), B * H);
  if (lstm && g.dc0) copy_rows(g.dc0, dc.data(), B * H);
}

#define DC_INSTANTIATE(T)                                                                         \
  template void rnn_forward<T>(const RnnConfig&, const T*, const T*, const T*,                    \
                               const RnnWeights<T>&, T*, T*, T*, const RnnWorkspace<T>&);         \
  template void rnn_backward<T>(const RnnConfig&, const T*, const T*, const T*,                   \
                                const RnnWeights<T>&, const RnnWorkspace<T>&, const T*, const T*, \
                                const T*, const RnnGrads<T>&);
DC_INSTANTIATE(float)
DC_INSTANTIATE(double)
#undef DC_INSTANTIATE

}  // namespace dc
