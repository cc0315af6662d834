// Convolutional LSTM (Shi et al. 2015; Keras's ConvLSTM1D/2D/3D): whole-sequence forward and
// backward through time of one layer, one direction per call.
//
//   x (B, T, C, *S) channels-first frames; w_x (4F, C, *k) the input kernel, w_h (4F, F, *kh)
//   the recurrent kernel, b (4F,) or null, in the conv kernels' (PyTorch) layout; gate blocks
//   i, f, g, o (Keras's i, f, c, o). h0, c0 (B, F, *P) or null (zeros), *P the spatial size of
//   the input convolution's output. out (B, T, F, *P); h_n, c_n (B, F, *P).
//     a_t = conv(x_t, w_x; strides, padding, dilation) + b + conv(h_{t-1}, w_h; stride 1, 'same')
//     i, f, o = gate_act(a_{i,f,o}), g = act(a_g), c_t = f*c_{t-1} + i*g, h_t = o*act(c_t)
//
// [Note: ConvLSTM plan] In channels-first layout one image's 4F x P gate pre-activations are an
// LSTM row of 4 gate blocks of H = F*P "units" each (unit = channel x position), and its state
// (F, P) is a row of H units: so the gate math is csrc/cpu/rnn_kernels.cpp's LSTM pointwise pass
// unchanged, with rows = images and the bias already inside the input convolution. Forward: the
// input convolution of all B*T frames is ONE conv call into the gate workspace (B, T, 4H); then
// per step the recurrent convolution of h_{t-1} (B images, contiguous) into a step buffer and
// the fused pointwise pass (gate activations and c_t saved for BPTT). Backward, per step: the
// fused pointwise pass gives the step's gate gradients, and the recurrent convolution's
// input-gradient adds their path into dh_{t-1}; after the loop the weight gradients of w_x and
// w_h are one conv-weight-gradient call each over all B*T frames (the h_{t-1} frames gathered
// once), and dx one conv-input-gradient call. The convolutions are conv.h's drivers (conv2d for
// 1-D and 2-D, conv3d for 3-D), which own their threads; the pointwise pass is threaded here.
// Masks, reverse and recurrent dropout mean what they mean for the LSTM ([Note: RNN masks],
// [Note: recurrent dropout] in rnn.h; h_mask is (B, F, *P)).
#pragma once

#include <cstdint>

#include "conv.h"
#include "rnn.h"

namespace dc {

struct ConvLstmConfig {
  RnnConfig rnn;  // cell lstm; B, T; H = F * (output positions); activations, mask, reverse
  int64_t F = 0;  // filters
  // The input convolution over N = B*T frames (K = 4F), and the recurrent one over N = B states
  // (C = F, K = 4F, stride 1, 'same'); depth fields all 1 for 1-D and 2-D.
  Conv3dShape xconv{}, hconv{};
};

template <typename T>
struct ConvLstmWeights {
  const T *w_x = nullptr, *w_h = nullptr, *b = nullptr;
  const T* h_mask = nullptr;  // (B, H) recurrent dropout multipliers of h_{t-1}, or null
};

// All assigned (=); any pointer may be null (that gradient is not computed, except that dw_h
// and db need the pass that dw_x makes).
template <typename T>
struct ConvLstmGrads {
  T *dx = nullptr, *dh0 = nullptr, *dc0 = nullptr, *dw_x = nullptr, *dw_h = nullptr, *db = nullptr;
};

// ws: gates (B, T, 4H) activated, cells (B, T, H), states (B, T, H) (may be `out` itself when
// there is no mask), as RnnWorkspace.
template <typename T>
void conv_lstm_forward(const ConvLstmConfig& cfg, const T* x, const T* h0, const T* c0,
                       const ConvLstmWeights<T>& w, T* out, T* h_n, T* c_n,
                       const RnnWorkspace<T>& ws);

// dout (B, T, H), dh_n, dc_n (B, H), each may be null (zero).
template <typename T>
void conv_lstm_backward(const ConvLstmConfig& cfg, const T* x, const T* h0, const T* c0,
                        const ConvLstmWeights<T>& w, const RnnWorkspace<T>& ws, const T* dout,
                        const T* dh_n, const T* dc_n, const ConvLstmGrads<T>& g);

#ifndef DC_ISA_LEVEL
// Device stubs ([Note: device dispatch] in core/device_dispatch.h); the CUDA slots are empty.
DC_DEVICE_STUB(conv_lstm_forward, "conv_lstm_forward");
DC_DEVICE_STUB(conv_lstm_backward, "conv_lstm_backward");
#endif

}  // namespace dc
