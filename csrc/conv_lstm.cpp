// Convolutional LSTM driver: conv.h's convolutions around the LSTM pointwise pass of
// csrc/cpu/rnn_kernels.cpp. See [Note: ConvLSTM plan] in conv_lstm.h.
#include "conv_lstm.h"

#include <omp.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "core/threads.h"

namespace dc {
namespace {

// A buffer of n elements left uninitialised (every element is written before it is read).
template <typename T>
std::unique_ptr<T[]> buffer(int64_t n) {
  return std::unique_ptr<T[]>(new T[static_cast<size_t>(std::max<int64_t>(n, 1))]);
}

// One convolution shape, run through conv2d's drivers (their algorithm choice: [Note: conv
// algorithm choice]) when it has no depth axis, else conv3d's. N replaced by `n` (the recurrent
// convolution runs over B states per step and over B*T frames for its weight gradient).
bool flat(const Conv3dShape& v) { return v.D == 1 && v.KD == 1 && v.O == 1; }
Conv3dShape with_n(Conv3dShape v, int64_t n) {
  v.s.N = n;
  return v;
}

template <typename T>
void conv_fwd(const Conv3dShape& v, const T* x, const T* w, const T* b, T* y) {
  if (flat(v))
    conv2d_forward<T>(v.s, x, w, b, y, ConvAlgo::automatic, false);
  else
    conv3d_forward<T>(v, x, w, b, y, ConvAlgo::automatic, false);
}
template <typename T>
void conv_bwd_input(const Conv3dShape& v, const T* dy, const T* w, T* dx) {
  if (flat(v))
    conv2d_backward_input<T>(v.s, dy, w, dx, ConvAlgo::automatic);
  else
    conv3d_backward_input<T>(v, dy, w, dx, ConvAlgo::automatic);
}
// dw (and db when non-null) are assigned here (the conv drivers accumulate).
template <typename T>
void conv_bwd_weight(const Conv3dShape& v, const T* x, const T* dy, T* dw, T* db) {
  const ConvShape& s = v.s;
  std::fill(dw, dw + s.K * s.Cg() * v.KD * s.R * s.S, T(0));
  if (db) std::fill(db, db + s.K, T(0));
  if (flat(v))
    conv2d_backward_weight<T>(s, x, dy, dw, db, ConvAlgo::automatic);
  else
    conv3d_backward_weight<T>(v, x, dy, dw, db, ConvAlgo::automatic);
}

// The pointwise pass of one step over B rows of H units, split into (row, unit chunk) tasks.
// set(a, b, u0, nu) points the RnnRows at row b, units [u0, u0 + nu).
constexpr int64_t kUnitChunk = 2048;
template <typename T, typename Set>
void each_chunk(int64_t B, int64_t H, Set&& run) {
  const int64_t nc = (H + kUnitChunk - 1) / kUnitChunk;
  const int nt = threads_for(double(B) * double(H) * 64.0, kMacsPerThread);
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1 && B * nc > 1)
  for (int64_t i = 0; i < B * nc; ++i) {
    const int64_t b = i / nc, u0 = (i % nc) * kUnitChunk;
    run(b, u0, std::min(kUnitChunk, H - u0));
  }
}

inline int64_t step_pos(const RnnConfig& c, int64_t s) { return c.reverse ? c.T - 1 - s : s; }

// dst (rows x H, contiguous) = src (row stride ld) [* m (rows x H)]
template <typename T>
void gather_rows(int64_t rows, int64_t H, const T* src, int64_t ld, const T* m, T* dst) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* s = src + r * ld;
    T* d = dst + r * H;
    if (m)
      for (int64_t j = 0; j < H; ++j) d[j] = s[j] * m[r * H + j];
    else
      std::copy(s, s + H, d);
  }
}

}  // namespace

template <typename T>
void conv_lstm_forward(const ConvLstmConfig& cfg, const T* x, const T* h0, const T* c0,
                       const ConvLstmWeights<T>& w, T* out, T* h_n, T* c_n,
                       const RnnWorkspace<T>& ws) {
  const RnnConfig& c = cfg.rnn;
  const int64_t B = c.B, Tn = c.T, H = c.H, WC = 4 * H;
  std::vector<T> zeros;
  if (!h0 || !c0) zeros.assign(static_cast<size_t>(B * H), T(0));
  if (!h0) h0 = zeros.data();
  if (!c0) c0 = zeros.data();
  if (Tn == 0 || B == 0 || H == 0) {
    if (h_n) std::copy(h0, h0 + B * H, h_n);
    if (c_n) std::copy(c0, c0 + B * H, c_n);
    return;
  }
  T* Gw = ws.gates;
  T* S = ws.states;
  T* Cs = ws.cells;
  T* y = out == S ? nullptr : out;

  // the input convolution of every frame, bias included: (B*T, 4F, P) = (B, T, 4H)
  conv_fwd<T>(cfg.xconv, x, w.w_x, w.b, Gw);

  const RnnKernels<T>& k = *rnn_stub<T>();
  const Conv3dShape hconv = with_n(cfg.hconv, B);
  auto hin = buffer<T>(B * H);  // h_{t-1} of every image, contiguous (times the dropout mask)
  auto gh = buffer<T>(B * WC);  // the recurrent convolution of the step
  for (int64_t s = 0; s < Tn; ++s) {
    const int64_t t = step_pos(c, s), tp = s ? step_pos(c, s - 1) : 0;
    const T* hp = s ? S + tp * H : h0;  // row b at + b * ldp
    const T* cp = s ? Cs + tp * H : c0;
    const int64_t ldp = s ? Tn * H : H;
    gather_rows(B, H, hp, ldp, w.h_mask, hin.get());
    conv_fwd<T>(hconv, hin.get(), w.w_h, static_cast<const T*>(nullptr), gh.get());
    each_chunk<T>(B, H, [&](int64_t b, int64_t u0, int64_t nu) {
      RnnRows<T> a;
      a.rows = 1;
      a.n = nu;
      a.H = H;
      a.sgh = H;
      const int64_t at = b * Tn + t;
      a.g = Gw + at * WC + u0;
      a.gh = gh.get() + b * WC + u0;
      a.hp = hp + b * ldp + u0;
      a.cp = cp + b * ldp + u0;
      a.h = S + at * H + u0;
      a.c = Cs + at * H + u0;
      a.out = y ? y + at * H + u0 : nullptr;
      a.oprev = y && s ? y + (b * Tn + tp) * H + u0 : nullptr;
      a.mask = c.mask ? c.mask + at : nullptr;
      k.lstm_fwd(c, a);
    });
  }
  const int64_t last = step_pos(c, Tn - 1);
  for (int64_t b = 0; b < B; ++b) {
    if (h_n) std::copy(S + (b * Tn + last) * H, S + (b * Tn + last + 1) * H, h_n + b * H);
    if (c_n) std::copy(Cs + (b * Tn + last) * H, Cs + (b * Tn + last + 1) * H, c_n + b * H);
  }
}

template <typename T>
void conv_lstm_backward(const ConvLstmConfig& cfg, const T* x, const T* h0, const T* c0,
                        const ConvLstmWeights<T>& w, const RnnWorkspace<T>& ws, const T* dout,
                        const T* dh_n, const T* dc_n, const ConvLstmGrads<T>& g) {
  const RnnConfig& c = cfg.rnn;
  const int64_t B = c.B, Tn = c.T, H = c.H, WC = 4 * H, BT = B * Tn;
  std::vector<T> zeros(static_cast<size_t>(B * H), T(0));
  if (!h0) h0 = zeros.data();
  if (!c0) c0 = zeros.data();
  // dh: this step's and the previous step's; dc in place; carry mode's pending output gradients
  std::vector<T> dh_a(static_cast<size_t>(B * H), T(0)), dh_b(dh_a.size(), T(0)),
      dc(dh_a.size(), T(0)), dcarry;
  if (dh_n) std::copy(dh_n, dh_n + B * H, dh_a.begin());
  if (dc_n) std::copy(dc_n, dc_n + B * H, dc.begin());
  const bool carry = c.mask && !c.zero_output && dout;
  if (carry) dcarry.assign(static_cast<size_t>(B * H), T(0));
  const ConvShape& xs = cfg.xconv.s;
  const int64_t xsize = BT * xs.C * cfg.xconv.D * xs.H * xs.W;

  if (Tn == 0 || B == 0 || H == 0) {  // nothing depends on x or the weights
    if (g.dx) std::fill(g.dx, g.dx + xsize, T(0));
    const Conv3dShape& v = cfg.xconv;
    if (g.dw_x) std::fill(g.dw_x, g.dw_x + xs.K * xs.C * v.KD * xs.R * xs.S, T(0));
    const Conv3dShape& u = cfg.hconv;
    if (g.dw_h) std::fill(g.dw_h, g.dw_h + u.s.K * u.s.C * u.KD * u.s.R * u.s.S, T(0));
    if (g.db) std::fill(g.db, g.db + xs.K, T(0));
    if (g.dh0) std::copy(dh_a.begin(), dh_a.end(), g.dh0);
    if (g.dc0) std::copy(dc.begin(), dc.end(), g.dc0);
    return;
  }
  const T* Gw = ws.gates;
  const T* S = ws.states;
  const T* Cs = ws.cells;
  const RnnKernels<T>& k = *rnn_stub<T>();
  const Conv3dShape hconv = with_n(cfg.hconv, B);
  auto dG = buffer<T>(BT * WC);  // every step's gate gradients, (B*T, 4F, P)
  auto dgs = buffer<T>(B * WC);  // this step's, contiguous for the recurrent convolution
  auto dhr = buffer<T>(B * H);   // the recurrent convolution's input gradient
  T* dh_cur = dh_a.data();
  T* dh_nxt = dh_b.data();
  for (int64_t s = Tn - 1; s >= 0; --s) {
    const int64_t t = step_pos(c, s), tp = s ? step_pos(c, s - 1) : 0;
    const T* hp = s ? S + tp * H : h0;
    const T* cp = s ? Cs + tp * H : c0;
    const int64_t ldp = s ? Tn * H : H;
    each_chunk<T>(B, H, [&](int64_t b, int64_t u0, int64_t nu) {
      RnnRows<T> a;
      a.rows = 1;
      a.n = nu;
      a.H = H;
      const int64_t at = b * Tn + t;
      a.g = const_cast<T*>(Gw) + at * WC + u0;
      a.hp = hp + b * ldp + u0;
      a.cp = cp + b * ldp + u0;
      a.h = const_cast<T*>(S) + at * H + u0;
      a.c = const_cast<T*>(Cs) + at * H + u0;
      a.dg = dgs.get() + b * WC + u0;
      a.dout = dout ? dout + at * H + u0 : nullptr;
      a.dh = dh_cur + b * H + u0;
      a.dhp = dh_nxt + b * H + u0;
      a.dc = dc.data() + b * H + u0;
      a.dcarry = carry ? dcarry.data() + b * H + u0 : nullptr;
      a.mask = c.mask ? c.mask + at : nullptr;
      k.lstm_bwd(c, a);
    });
    // dh_{t-1} += conv_h^T(dG_t) (times the recurrent dropout mask); dG_t kept for the weights
    conv_bwd_input<T>(hconv, dgs.get(), w.w_h, dhr.get());
    for (int64_t b = 0; b < B; ++b) {
      std::copy(dgs.get() + b * WC, dgs.get() + (b + 1) * WC, dG.get() + (b * Tn + t) * WC);
      T* d = dh_nxt + b * H;
      const T* r = dhr.get() + b * H;
      const T* m = w.h_mask ? w.h_mask + b * H : nullptr;
      if (m)
        for (int64_t j = 0; j < H; ++j) d[j] += r[j] * m[j];
      else
        for (int64_t j = 0; j < H; ++j) d[j] += r[j];
    }
    std::swap(dh_cur, dh_nxt);
  }
  if (g.dh0) std::copy(dh_cur, dh_cur + B * H, g.dh0);
  if (g.dc0) std::copy(dc.begin(), dc.end(), g.dc0);

  // after the loop: one call each over all B*T frames
  if (g.dw_x || g.db) {
    std::vector<T> dw_tmp;
    T* dwx = g.dw_x;
    if (!dwx) {
      dw_tmp.resize(static_cast<size_t>(xs.K * xs.C * cfg.xconv.KD * xs.R * xs.S));
      dwx = dw_tmp.data();
    }
    conv_bwd_weight<T>(cfg.xconv, x, dG.get(), dwx, g.db);
  }
  if (g.dx) conv_bwd_input<T>(cfg.xconv, dG.get(), w.w_x, g.dx);
  if (g.dw_h) {
    // h_{t-1} of every frame (times the dropout mask), in the frames' order
    auto hprev = buffer<T>(BT * H);
#pragma omp parallel for schedule(static) if (BT * H > 65536)
    for (int64_t r = 0; r < BT; ++r) {
      const int64_t b = r / Tn, t = r % Tn;
      const bool first = t == (c.reverse ? Tn - 1 : 0);
      const T* src = first ? h0 + b * H : S + (r + (c.reverse ? 1 : -1)) * H;
      gather_rows<T>(1, H, src, H, w.h_mask ? w.h_mask + b * H : nullptr, hprev.get() + r * H);
    }
    conv_bwd_weight<T>(with_n(cfg.hconv, BT), hprev.get(), dG.get(), g.dw_h,
                       static_cast<T*>(nullptr));
  }
}

#define DC_INSTANTIATE(T)                                                                          \
  template void conv_lstm_forward<T>(const ConvLstmConfig&, const T*, const T*, const T*,          \
                                     const ConvLstmWeights<T>&, T*, T*, T*,                        \
                                     const RnnWorkspace<T>&);                                      \
  template void conv_lstm_backward<T>(const ConvLstmConfig&, const T*, const T*, const T*,         \
                                      const ConvLstmWeights<T>&, const RnnWorkspace<T>&, const T*, \
                                      const T*, const T*, const ConvLstmGrads<T>&);
DC_INSTANTIATE(float)
DC_INSTANTIATE(double)
#undef DC_INSTANTIATE

}  // namespace dc
