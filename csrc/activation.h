// Element-wise activations, PReLU and bias add: fused one-pass forward and backward kernels.
//
// One kernel family for every activation: `Act` names the formula, dispatched once per call
// (csrc/cpu/activation_kernels.cpp instantiates one loop per kind and ISA). p0/p1 are the
// kind's scalar parameters:
//   sigmoid, tanh, relu, gelu (exact x*Phi(x)), gelu_tanh   no parameter
//   leaky_relu  p0 = negative slope          elu      p0 = alpha
//   softplus    p0 = beta, p1 = threshold    (1/beta)*log(1+exp(beta*x)); x where beta*x > p1
//   swish       p0 = beta                    x*sigmoid(beta*x); gelu "sigmoid" is beta = 1.702
//   hard_sigmoid p0 = slope, p1 = offset     clip(slope*x + offset, 0, 1); Keras 2: 0.2, 0.5
//   selu        p0 = alpha, p1 = scale       scale * (x > 0 ? x : alpha * (exp(x) - 1))
//   hard_swish  no parameter                 x * relu6(x + 3) / 6 (Keras; PyTorch hardswish)
//
// [Note: what backward reads]
// Backward reads the saved output y where that is cheaper than recomputing (sigmoid: y(1-y),
// tanh: 1-y^2, relu: y > 0), and the saved input x for every other kind. act_reads_output(kind)
// says which; the other pointer may be null.
#pragma once

#include <cstdint>

#include "core/dispatch.h"

#ifndef DC_ISA_LEVEL  // the helpers below use OpenMP and the STL: drivers only
#ifndef __CUDACC__    // (not csrc/cuda/: its kernels include this header for the stubs)
#include <omp.h>

#include <algorithm>
#include <vector>

#include "core/threads.h"
#endif

#include "core/device_dispatch.h"
#endif

namespace dc {

// [Note: the activation list] The one list of native activation kinds: X(name, reads_output).
// It generates the enum, the Python-facing names (kActNames), act_reads_output, and the
// per-kind switch of each ISA kernel (csrc/cpu/activation_kernels.cpp), so the order cannot
// drift between them, and a kind without its formula fails to compile there (static_assert)
// and in the reference (csrc/ref/activation_ref.cpp switches with -Werror=switch). Adding an
// activation: one line here, its forward and backward formula, its reference (the steps are
// in docs/adding_an_op.md).
#define DC_ACTIVATIONS(X) \
  X(sigmoid, true)        \
  X(tanh, true)           \
  X(relu, true)           \
  X(leaky_relu, false)    \
  X(elu, false)           \
  X(softplus, false)      \
  X(swish, false)         \
  X(gelu, false)          \
  X(gelu_tanh, false)     \
  X(hard_sigmoid, false)  \
  X(selu, false)          \
  X(hard_swish, false)

enum class Act : int {
#define DC_ACT_ENUM(name, reads_output) name,
  DC_ACTIVATIONS(DC_ACT_ENUM)
#undef DC_ACT_ENUM
      count
};

// Python-facing names, in enum order.
inline constexpr const char* kActNames[] = {
#define DC_ACT_NAME(name, reads_output) #name,
    DC_ACTIVATIONS(DC_ACT_NAME)
#undef DC_ACT_NAME
};
static_assert(sizeof(kActNames) / sizeof(kActNames[0]) == static_cast<size_t>(Act::count));

// Whether backward reads the saved output y (else the input x): [Note: what backward reads].
inline constexpr bool act_reads_output(Act k) {
  switch (k) {
#define DC_ACT_READS(name, reads_output) \
  case Act::name:                        \
    return reads_output;
    DC_ACTIVATIONS(DC_ACT_READS)
#undef DC_ACT_READS
    default:
      return false;
  }
}

// Drivers (OpenMP over chunks, then the ISA kernel). x, y, gy, gx are (n,).
template <typename T>
void act_forward(Act kind, const T* x, T* y, int64_t n, T p0, T p1);
// gx is assigned; when dp0 is non-null it receives sum(gy * dy/dp0) (swish's beta).
template <typename T>
void act_backward(Act kind, const T* x, const T* y, const T* gy, T* gx, int64_t n, T p0, T p1,
                  T* dp0);

// PReLU with one slope per channel. x, y are (outer, C, inner); a is (C,).
//   y = x > 0 ? x : a[c] * x
template <typename T>
void prelu_forward(const T* x, const T* a, T* y, int64_t outer, int64_t C, int64_t inner);
// gx = gy * (x > 0 ? 1 : a[c]) (assigned); ga[c] += sum over (outer, inner) of gy * min(x, 0)
template <typename T>
void prelu_backward(const T* x, const T* a, const T* gy, T* gx, T* ga, int64_t outer, int64_t C,
                    int64_t inner);

// Bias along a channel axis. x, y are (outer, C, inner); b is (C,). y = x + b[c] (y may be x).
template <typename T>
void bias_add_forward(const T* x, const T* b, T* y, int64_t outer, int64_t C, int64_t inner);
// gb[c] += sum over outer, inner of gy[o, c, i]. Also conv2d's bias gradient.
template <typename T>
void bias_add_backward(const T* gy, T* gb, int64_t outer, int64_t C, int64_t inner);

// Inverted dropout: keep[i] = hash(seed, i) >= threshold (threshold = p * 2^32), y = keep ? x *
// scale : 0 with scale = 1/(1-p); mask (n,) receives keep as 0/1 bytes. See [Note: dropout
// RNG]. Backward: gx = gy * mask * scale.
template <typename T>
void dropout_forward(const T* x, T* y, uint8_t* mask, int64_t n, uint64_t seed, uint32_t threshold,
                     T scale);
template <typename T>
void dropout_backward(const T* gy, const uint8_t* mask, T* gx, int64_t n, T scale);

#ifndef DC_ISA_LEVEL
// Device stubs of the drivers above ([Note: device dispatch] in core/device_dispatch.h).
DC_DEVICE_STUB(act_forward, "activation_forward");
DC_DEVICE_STUB(act_backward, "activation_backward");
DC_DEVICE_STUB(prelu_forward, "prelu_forward");
DC_DEVICE_STUB(prelu_backward, "prelu_backward");
DC_DEVICE_STUB(bias_add_forward, "bias_add");
DC_DEVICE_STUB(bias_add_backward, "bias_grad");
DC_DEVICE_STUB(dropout_forward, "dropout_forward");
DC_DEVICE_STUB(dropout_backward, "dropout_backward");
#endif

namespace ref {
// csrc/ref/activation_ref.cpp: the obvious loops in double, for tests. act_backward
// differentiates from x for every kind.
template <typename T>
void act_forward(Act kind, const T* x, T* y, int64_t n, T p0, T p1);
template <typename T>
void act_backward(Act kind, const T* x, const T* gy, T* gx, int64_t n, T p0, T p1);
}  // namespace ref

#if !defined(DC_ISA_LEVEL) && !defined(__CUDACC__)
// [Note: per-channel sums] Sums over (outer, inner) for each channel c of a tensor viewed as
// (outer, C, inner): out[c] = sum_{o,i} term(o*C*inner + c*inner + i, c), in double. Parallel over
// rows (o, c) when rows are long (NCHW) and over o when inner == 1 (channels-last), each thread
// into its own partial row, so no atomics and a deterministic result for a fixed thread count.
// Shared by PReLU, bias add and batch norm. row_sum(base, c) sums one row (o, c) of `inner`
// terms starting at flat index base; the default adds term() with 8 independent accumulators,
// and a caller with a plain array passes a vector kernel instead (bias add: sum_stub).
template <typename Term, typename RowSum>
void channel_sums(int64_t outer, int64_t C, int64_t inner, double* out, const Term& term,
                  const RowSum& row_sum) {
  const int nt = omp_get_max_threads();
  std::vector<double> part(static_cast<size_t>(nt) * C, 0.0);
  const int64_t total = outer * C * inner;
#pragma omp parallel if (total > 32768)
  {
    double* mine = part.data() + static_cast<int64_t>(omp_get_thread_num()) * C;
    if (inner > 1) {
#pragma omp for schedule(static)
      for (int64_t r = 0; r < outer * C; ++r) mine[r % C] += row_sum(r * inner, r % C);
    } else {
#pragma omp for schedule(static)
      for (int64_t o = 0; o < outer; ++o)
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) mine[c] += term(o * C + c, c);
    }
  }
  for (int64_t c = 0; c < C; ++c) {
    double s = 0.0;
    for (int t = 0; t < nt; ++t) s += part[static_cast<size_t>(t) * C + c];
    out[c] = s;
  }
}

template <typename Term>
void channel_sums(int64_t outer, int64_t C, int64_t inner, double* out, const Term& term) {
  channel_sums(outer, C, inner, out, term, [&](int64_t base, int64_t c) {
    // 8 independent accumulators: a single running sum is a chain of dependent adds (4
    // cycles each); these can issue every cycle and vectorise.
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= inner; i += 8)
      for (int k = 0; k < 8; ++k) acc[k] += term(base + i + k, c);
    for (; i < inner; ++i) acc[0] += term(base + i, c);
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  });
}

// Rows of length L per parallel task, so a task holds at least ~8K elements (the OpenMP
// fork/join costs a few microseconds).
inline int64_t rows_per_task(int64_t L) {
  return std::max<int64_t>(1, 8192 / std::max<int64_t>(L, 1));
}

// Run f(first_row, n_rows) over [0, rows) in parallel tasks of rows_per_task(L) rows.
template <typename F>
void for_row_tasks(int64_t rows, int64_t L, const F& f) {
  const int64_t per = rows_per_task(L);
  const int64_t tasks = (rows + per - 1) / per;
  parallel_for(tasks, tasks > 1, [&](int64_t t) { f(t * per, std::min(per, rows - t * per)); });
}

// Element-wise map over a tensor viewed as (outer, C, inner): f(flat_index, c) for every
// element, parallel and vectorisable along the contiguous axis.
template <typename F>
void channel_map(int64_t outer, int64_t C, int64_t inner, const F& f) {
  const bool parallel = outer * C * inner > 32768;  // [Note: serial small loops]
  if (inner > 1) {
    parallel_for(outer * C, parallel, [&](int64_t r) {
      const int64_t c = r % C, base = r * inner;
#pragma omp simd
      for (int64_t i = 0; i < inner; ++i) f(base + i, c);
    });
  } else {
    parallel_for(outer, parallel, [&](int64_t o) {
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) f(o * C + c, c);
    });
  }
}
#endif  // !DC_ISA_LEVEL && !__CUDACC__

}  // namespace dc

// The per-ISA inner loops (csrc/cpu/activation_kernels.cpp), single-threaded over one chunk.
// Stubs live at global scope (DC_REGISTER_DISPATCH_T names them as ::stub<T>).
// forward: y[i] = f(x[i]) for i < n.
DC_DECLARE_DISPATCH_T(act_forward_stub, void(dc::Act, const T*, T*, int64_t, T, T));
// backward(kind, x, y, gy, gx, n, p0, p1, want_dp0): gx[i] = gy[i] * f'(.); returns
// sum_i gy[i] * df/dp0 when want_dp0 (swish: the gradient w.r.t. beta), else 0.
DC_DECLARE_DISPATCH_T(act_backward_stub,
                      double(dc::Act, const T*, const T*, const T*, T*, int64_t, T, T, bool));
// sum of x[0, n) (returned in double; see [Note: blocked sums] in csrc/cpu/activation_math.h).
DC_DECLARE_DISPATCH_T(sum_stub, double(const T*, int64_t));
#ifndef DC_ISA_LEVEL
namespace dc {
template <typename T>
double row_sum(const T* x, int64_t n) {
  return sum_stub<T>(x, n);
}
}  // namespace dc
#endif
// dropout(x, y, mask, n, first_index, seed, threshold, scale) over one chunk whose first
// element has global index first_index (the random stream does not depend on the chunking).
DC_DECLARE_DISPATCH_T(dropout_stub,
                      void(const T*, T*, uint8_t*, int64_t, int64_t, uint64_t, uint32_t, T));
