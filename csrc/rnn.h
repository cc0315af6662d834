// Recurrent layers: whole-sequence forward and backward (BPTT) of a simple RNN, an LSTM and a
// GRU, one layer and one direction per call. Weight layouts follow PyTorch, x is batch-first.
//
//   x (B,T,I); w_ih (G*H, I); w_hh (G*H, H); b_ih, b_hh (G*H,) or null; h0, c0 (B,H) or null
//   (zeros); out (B,T,H); h_n, c_n (B,H). G gate blocks of H rows each:
//     rnn   G = 1                 h = act(W x + b_ih + U h_{t-1} + b_hh)
//     lstm  G = 4 (i, f, g, o)    i,f,o = gate_act(.), g = act(.), c = f*c_{t-1} + i*g,
//                                 h = o * act(c). Variants (PyTorch's order with the absent
//                                 gate left out, G = 3): no_forget (i, g, o): c = c_{t-1} + i*g;
//                                 coupled (f, g, o): i = 1 - f. peephole: w_peep holds one H
//                                 block per sigmoid gate present (i, f, o order): i and f see
//                                 c_{t-1}, o sees c_t (a_o += p_o * c_t).
//     gru   G = 3 (r, z, n)       r,z = gate_act(W x + b_ih + U h + b_hh),
//                                 reset_after: n = act(W_n x + b_in + r*(U_n h + b_hn))
//                                 else:        n = act(W_n x + b_in + U_n (r*h) + b_hn)
//                                 h = z*h_{t-1} + (1-z)*n (z_keeps_state, PyTorch/Keras/SPEC)
//                                 or (1-z)*h_{t-1} + z*n.
//
// [Note: RNN plan] The input projection of all T steps goes into the gate workspace: one GEMM
// over B*T rows, or per step on each thread's rows when it has enough of them ([Note: RNN
// step products] in rnn.cpp). The time loop runs inside ONE OpenMP region: each thread owns a
// block of (batch rows x hidden units) and, per step, runs the recurrent GEMM for its block
// (our GEMM runs single-threaded inside a parallel region) and the fused pointwise pass for
// the same block. With enough rows per thread the block is a slice of the batch: threads
// never wait for each other (no barrier in the whole sequence). With few rows (B = 1 is a
// GEMV) the block is a slice of the hidden units and threads meet at one barrier per step
// (two for GRU with reset_after=False).
// Backward runs the same plan in reverse (dx per step like the projection, or after the
// loop); the weight gradients are then one GEMM each over all B*T rows ([Note: RNN dW_hh
// from the states] in rnn.cpp).
//
// [Note: RNN masks] mask (B,T), nonzero = real step. A masked step carries the state (h, c)
// over unchanged; its output is zero (zero_output) or the previous output (Keras's default,
// zero_output_for_mask=False: the last real output, zeros before the first). reverse runs the
// steps from T-1 down to 0 (go_backwards; with right-padded masks a backward direction starts
// at each sequence's own last step, as PyTorch's packed sequences do); outputs stay at their
// time positions.
#pragma once

#include <cstdint>

#include "core/dispatch.h"
#ifndef DC_ISA_LEVEL
#include "core/device_dispatch.h"
#endif

namespace dc {

enum class RnnCell : int { rnn = 0, lstm, gru };
// The activations the recurrent kernels fuse. Each derivative is a function of the output, so
// BPTT only needs the saved activations. hard_sigmoid = clip(slope*x + offset, 0, 1).
enum class RnnAct : int { tanh = 0, sigmoid, relu, hard_sigmoid, linear };
enum class LstmVariant : int { standard = 0, no_forget, coupled };

struct RnnConfig {
  RnnCell cell = RnnCell::lstm;
  int64_t B = 0, T = 0, I = 0, H = 0;
  RnnAct act = RnnAct::tanh;               // simple RNN; LSTM g and act(c); GRU n
  RnnAct gate_act = RnnAct::sigmoid;       // LSTM i, f, o; GRU r, z
  double hs_slope = 0.2, hs_offset = 0.5;  // hard_sigmoid, in either role
  LstmVariant lstm = LstmVariant::standard;
  bool peephole = false;
  bool reset_after = true;
  bool z_keeps_state = true;
  bool reverse = false;
  bool zero_output = false;
  const uint8_t* mask = nullptr;  // (B, T) or null (every step real)

  int64_t gates() const {
    return cell == RnnCell::rnn            ? 1
           : cell == RnnCell::gru          ? 3
           : lstm == LstmVariant::standard ? 4
                                           : 3;
  }
  // peephole weight blocks (sigmoid gates present)
  int64_t peep_gates() const { return lstm == LstmVariant::standard ? 3 : 2; }
  // columns of one row of the gate workspace: GRU keeps an extra block in front (U_n h + b_hn
  // with reset_after, r*h_{t-1} without), then r, z, n.
  int64_t ws_cols() const { return (cell == RnnCell::gru ? 4 : gates()) * H; }
  // first workspace column of the input projection
  int64_t x_offset() const { return cell == RnnCell::gru ? H : 0; }
};

template <typename T>
struct RnnWeights {
  const T *w_ih = nullptr, *w_hh = nullptr, *b_ih = nullptr, *b_hh = nullptr;
  const T* w_peep = nullptr;  // lstm with peephole: (peep_gates*H,)
  // [Note: recurrent dropout] (B, H) multipliers of h_{t-1} where it enters U (variational
  // dropout, Gal & Ghahramani 2016; Keras's recurrent_dropout: one mask per sequence), or
  // null. GRU: r*h_{t-1} uses the masked state too; the update z*h_{t-1} + ... does not.
  const T* h_mask = nullptr;
};

// Saved by forward for backward. gates (B, T, ws_cols): LSTM the activated gates, GRU
// [aux, r, z, n], simple RNN the pre-activations (overwritten); cells (B, T, H): LSTM c_t;
// states (B, T, H): h_t (with no mask this may be `out` itself).
template <typename T>
struct RnnWorkspace {
  T *gates = nullptr, *cells = nullptr, *states = nullptr;
};

// All assigned (=). Any pointer may be null: that gradient is not computed (c0's for non-LSTM).
template <typename T>
struct RnnGrads {
  T *dx = nullptr, *dh0 = nullptr, *dc0 = nullptr, *dw_ih = nullptr, *dw_hh = nullptr,
    *db_ih = nullptr, *db_hh = nullptr, *dw_peep = nullptr;
};

// out may be ws.states when cfg.mask is null; h_n, c_n may be null.
template <typename T>
void rnn_forward(const RnnConfig& cfg, const T* x, const T* h0, const T* c0, const RnnWeights<T>& w,
                 T* out, T* h_n, T* c_n, const RnnWorkspace<T>& ws);

// dout (B,T,H), dh_n, dc_n (B,H): gradients of the outputs, each may be null (zero).
template <typename T>
void rnn_backward(const RnnConfig& cfg, const T* x, const T* h0, const T* c0,
                  const RnnWeights<T>& w, const RnnWorkspace<T>& ws, const T* dout, const T* dh_n,
                  const T* dc_n, const RnnGrads<T>& g);

#ifndef DC_ISA_LEVEL
// Device stubs of the drivers above ([Note: device dispatch] in core/device_dispatch.h). The
// config (its mask included), weight / workspace / gradient tables are host structs.
DC_DEVICE_STUB(rnn_forward, "rnn_forward");
DC_DEVICE_STUB(rnn_backward, "rnn_backward");
#endif

namespace ref {
// csrc/ref/rnn_ref.cpp: the textbook loops in double, one step and one element at a time.
// Same contract as above (no workspace: backward recomputes the forward).
template <typename T>
void rnn_forward(const RnnConfig& cfg, const T* x, const T* h0, const T* c0, const RnnWeights<T>& w,
                 T* out, T* h_n, T* c_n);
template <typename T>
void rnn_backward(const RnnConfig& cfg, const T* x, const T* h0, const T* c0,
                  const RnnWeights<T>& w, const T* dout, const T* dh_n, const T* dc_n,
                  const RnnGrads<T>& g);
}  // namespace ref

// One step of the fused pointwise pass on a block of rows x units (csrc/cpu/rnn_kernels.cpp).
// Every pointer is at the block's first row and first unit; ld* are row strides. Gate k of a
// workspace row (g, dg, x-projection) is at +k*H; gate k of the recurrent pre-activations gh at
// +k*sgh. Fields a kernel does not use are ignored.
template <typename T>
struct RnnRows {
  int64_t rows = 0, n = 0, H = 0, sgh = 0;
  T* g = nullptr;  // workspace row (GRU: the aux block; x-projection at +x_offset)
  int64_t ldg = 0;
  const T* gh = nullptr;  // recurrent pre-activations (forward)
  int64_t ldgh = 0;
  const T* bias = nullptr;     // combined bias, gate k at +k*H (GRU reset_after: n is b_in only)
  const T* bias_hn = nullptr;  // GRU reset_after: b_hn
  const T* peep = nullptr;     // peephole weights, block k at +k*H
  const T* hp = nullptr;       // h_{t-1}
  int64_t ldhp = 0;
  const T* hm = nullptr;  // recurrent dropout multipliers of these rows (row stride H), or null
  const T* cp = nullptr;  // c_{t-1}
  int64_t ldcp = 0;
  T* h = nullptr;  // h_t
  int64_t ldh = 0;
  T* c = nullptr;  // c_t (forward: written; backward: read)
  int64_t ldc = 0;
  T* out = nullptr;  // y_t when it is not h_t (masks), else null
  int64_t ldo = 0;
  const T* oprev = nullptr;  // previous output (carry mode), null: zeros
  int64_t ldop = 0;
  const uint8_t* mask = nullptr;  // this step's mask of the block's first row, or null
  int64_t ldm = 0;
  // backward
  T* dg = nullptr;  // gate gradients (same layout as g)
  int64_t lddg = 0;
  const T* dout = nullptr;  // dy_t, or null
  int64_t lddo = 0;
  const T* dh = nullptr;  // dh_t from the later steps
  int64_t lddh = 0;
  T* dhp = nullptr;  // dh_{t-1}: the part that does not go through U (the GEMM adds that)
  int64_t lddhp = 0;
  T* dc = nullptr;  // dc_t in, dc_{t-1} out (in place)
  int64_t lddc = 0;
  T* dcarry = nullptr;  // carry mode: output gradients waiting for the last real step
  int64_t lddca = 0;
  const T* drh = nullptr;  // GRU reset_after=False: d(r*h_{t-1}) from the GEMM
  int64_t lddrh = 0;
};

// [Note: RNN GEMV] With one or two rows (B = 1: latency) a step's recurrent product is a
// matrix-vector product, memory-bound on the weights. GEMM's register tile would compute 8 rows
// for the one that exists, and any packing of the weights (once per call) costs as much as
// twenty-odd steps: perf put the earlier copy into 64-column panels at 11 % of an LSTM's
// forward+backward at B = 1, T = 100, H = 256 (1 thread), ~0.3 ms per 1 MB of weights read
// from L3 in a strided pattern. So the GEMV reads the weights where they are (or a plain copy
// of their rows on cache-line boundaries, [Note: RNN GEMV alignment] in rnn.cpp), in whichever
// of two forms their layout allows:
//   - B (K, N) along its rows (backward's dG @ W): y[cols] += x[p] * B[p, cols] over p, the sums
//     in 8 vectors of columns at a time: one broadcast and one FMA per vector of weights;
//   - B (N, K) (forward's h @ W^T): 8 dot products along B's rows at a time, each summed in one
//     vector and then across its lanes.
// Each output's order of summation is fixed (it does not depend on the thread count). Same
// shape, 1 thread, CPU time, alternating processes: forward 1.68-2.26 -> 1.50-1.67 ms,
// forward+backward 4.78-6.00 -> 3.96-4.78 ms. Reading the blocks in reverse order on every
// other step (for L2 hits on a 1 MB matrix) did not help.
template <typename T>
struct RnnKernels {
  // y (rows x N, row stride ldy) = [y +] x (rows x K, row stride ldx) @ op(B), B read in place
  // with row stride ldb: gemv_n op(B) = B (K, N), gemv_t op(B) = B^T for B (N, K); rows is 1 or
  // 2 ([Note: RNN GEMV]).
  using Gemv = void (*)(int64_t rows, int64_t K, int64_t N, const T* x, int64_t ldx, const T* B,
                        int64_t ldb, bool accumulate, T* y, int64_t ldy);
  Gemv gemv_n, gemv_t;
  using Fn = void (*)(const RnnConfig&, const RnnRows<T>&);
  Fn rnn_fwd, rnn_bwd, lstm_fwd, lstm_bwd;
  Fn gru_fwd, gru_bwd;       // reset_after
  Fn gru_fwd_rz, gru_fwd_n;  // reset_after=False: r, z and r*h; then n and h
  Fn gru_bwd_n, gru_bwd_rz;  // reset_after=False: dz, dn; then dr (after the GEMM for d(r*h))
};

}  // namespace dc

DC_DECLARE_DISPATCH_T(rnn_stub, const dc::RnnKernels<T>*());
