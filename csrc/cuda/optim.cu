// The CUDA slots of the optim stubs of csrc/optim.h, float and double:
//   - optim_step: every kind ([Note: fused optimizer step]: sgd with momentum / dampening /
//     nesterov, adagrad, rmsprop (momentum, centered), adadelta, adam / adamw / amsgrad, nadam),
//     with value clipping, the clip-by-norm factor, coupled L2 and decoupled weight decay. The
//     per-tensor coefficients are the CPU driver's (optim_begin_step in csrc/optim.cpp: the
//     step counts and nadam products live in host memory), then one element-wise launch per
//     tensor applies the update in the element type, the formula of csrc/ref/optim_ref.cpp.
//     One launch per tensor, not a multi-tensor launch: a model of many small tensors pays a
//     launch each (correct, not tuned). reference=True (the naive CPU loop, for tests) has no
//     CUDA kernel;
//   - scale_clamp: x = clamp(x * scale, -clip, clip) in place;
//   - sum_squares / abs_max (grad_norms): the result is a host double by contract, so these
//     synchronise the stream once per array (the norm is needed on the host to scale by).
//     Partial sums per block go to a fixed device array of this file (no allocation), a second
//     one-block launch adds them in a fixed order (deterministic), and the total is copied back;
//     a mutex keeps concurrent callers off the shared partials.
// Launches on the stream of the call ([Note: CUDA stream of a call]), each checked.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <mutex>

#include "common.cuh"
#include "optim.h"

namespace dc::cuda {

namespace {

// OptimCoeffs in the element type, with the clip bounds as +-inf when off.
template <typename T>
struct Coeffs {
  T scale, lo, hi, l2, ps, lr, momentum, dampening, beta1, beta2, eps, inv_sqrt_bc2, coef_g, coef_m;
  bool nesterov, first_step, amsgrad, centered, eps_inside_sqrt;

  explicit Coeffs(const OptimCoeffs& c)
      : scale(T(c.grad_scale)),
        lo(c.clip > 0 ? T(-c.clip) : T(-INFINITY)),
        hi(c.clip > 0 ? T(c.clip) : T(INFINITY)),
        l2(T(c.l2)),
        ps(T(c.p_scale)),
        lr(T(c.lr)),
        momentum(T(c.momentum)),
        dampening(T(c.dampening)),
        beta1(T(c.beta1)),
        beta2(T(c.beta2)),
        eps(T(c.eps)),
        inv_sqrt_bc2(T(c.inv_sqrt_bc2)),
        coef_g(T(c.coef_g)),
        coef_m(T(c.coef_m)),
        nesterov(c.nesterov),
        first_step(c.first_step),
        amsgrad(c.amsgrad),
        centered(c.centered),
        eps_inside_sqrt(c.eps_inside_sqrt) {}
};

// NaN passes through (as torch.clamp and the CPU kernels), so a broken gradient stays visible.
template <typename T>
__device__ __forceinline__ T clampv(T x, T lo, T hi) {
  return x < lo ? lo : (x > hi ? hi : x);
}

template <typename T>
__device__ __forceinline__ T denom(T v, T eps, bool inside) {
  return inside ? m_sqrt(v + eps) : m_sqrt(v) + eps;
}

// s0..s2: the kind's state arrays (csrc/optim.h), null where absent.
template <typename T>
__global__ void optim_update_kernel(OptimKind kind, const Coeffs<T> c, int64_t n, T* p,
                                    const T* __restrict__ g, T* s0, T* s1, T* s2) {
  const T one(1);
  DC_GRID_LOOP(i, n) {
    T w = p[i];
    T d = clampv(g[i] * c.scale, c.lo, c.hi) + c.l2 * w;
    w *= c.ps;
    switch (kind) {
      case OptimKind::sgd:
        if (c.momentum != T(0)) {
          const T b = c.first_step ? d : c.momentum * s0[i] + (one - c.dampening) * d;
          s0[i] = b;
          d = c.nesterov ? d + c.momentum * b : b;
        }
        w -= c.lr * d;
        break;
      case OptimKind::adagrad: {
        const T s = s0[i] + d * d;
        s0[i] = s;
        w -= c.lr * d / denom(s, c.eps, c.eps_inside_sqrt);
        break;
      }
      case OptimKind::rmsprop: {
        const T rho = c.beta2;
        const bool mom = c.momentum != T(0);
        T* avg = mom ? s2 : s1;
        const T v = rho * s0[i] + (one - rho) * d * d;
        s0[i] = v;
        T var = v;
        if (c.centered) {
          const T a = rho * avg[i] + (one - rho) * d;
          avg[i] = a;
          var -= a * a;
        }
        T step = d / denom(var, c.eps, c.eps_inside_sqrt);
        if (mom) {
          step += c.momentum * s1[i];
          s1[i] = step;
        }
        w -= c.lr * step;
        break;
      }
      case OptimKind::adadelta: {
        const T rho = c.beta2;
        const T v = rho * s0[i] + (one - rho) * d * d;
        const T delta = m_sqrt(s1[i] + c.eps) / m_sqrt(v + c.eps) * d;
        s0[i] = v;
        s1[i] = rho * s1[i] + (one - rho) * delta * delta;
        w -= c.lr * delta;
        break;
      }
      case OptimKind::adam:
      case OptimKind::nadam: {
        const T m = c.beta1 * s0[i] + (one - c.beta1) * d;
        T v = c.beta2 * s1[i] + (one - c.beta2) * d * d;
        s0[i] = m;
        s1[i] = v;
        if (kind == OptimKind::adam && c.amsgrad) {
          v = fmax(s2[i], v);
          s2[i] = v;
        }
        const T den = m_sqrt(v) * c.inv_sqrt_bc2 + c.eps;
        w -= kind == OptimKind::adam ? c.lr * m / den : (c.coef_g * d + c.coef_m * m) / den;
        break;
      }
    }
    p[i] = w;
  }
}

template <typename T>
void optim_step_cuda(OptimKind kind, const OptimHyper& h, OptimTensor<T>* tensors, int64_t count,
                     bool reference) {
  if (reference)
    throw NoKernelError("no CUDA kernel for optim_step(reference=True) (the naive CPU loop)");
  const cudaStream_t stream = call_stream();
  for (int64_t k = 0; k < count; ++k) {
    OptimTensor<T>& x = tensors[k];
    const Coeffs<T> c(optim_begin_step(kind, h, x.step, x.grad_scale, x.mu_product));
    if (x.n <= 0) continue;
    optim_update_kernel<T>
        <<<blocks_for(x.n), kThreads, 0, stream>>>(kind, c, x.n, x.p, x.g, x.s[0], x.s[1], x.s[2]);
    DC_CUDA_CHECK_LAUNCH("optim_update_kernel");
  }
}

template <typename T>
__global__ void scale_clamp_kernel(T* x, int64_t n, T s, T lo, T hi) {
  DC_GRID_LOOP(i, n) x[i] = clampv(x[i] * s, lo, hi);
}

template <typename T>
void scale_clamp_cuda(T* x, int64_t n, double scale, double clip) {
  if (n <= 0) return;
  const T lo = clip > 0 ? T(-clip) : T(-INFINITY), hi = clip > 0 ? T(clip) : T(INFINITY);
  scale_clamp_kernel<T><<<blocks_for(n), kThreads, 0, call_stream()>>>(x, n, T(scale), lo, hi);
  DC_CUDA_CHECK_LAUNCH("scale_clamp_kernel");
}

// ---- norms for gradient clipping: a host double per array ----

constexpr int kNormBlocks = 256;
__device__ double g_norm_partial[kNormBlocks];
__device__ double g_norm_total;
std::mutex g_norm_mutex;

// max that keeps a NaN (as torch's inf-norm), which fmax would drop
__device__ __forceinline__ double nan_max(double a, double b) { return (b > a || b != b) ? b : a; }

template <bool kMax, typename T>
__global__ void norm_partial_kernel(const T* x, int64_t n) {
  __shared__ double red[kThreads];
  double acc = 0;
  DC_GRID_LOOP(i, n) {
    const double v = double(x[i]);
    acc = kMax ? nan_max(acc, fabs(v)) : acc + v * v;
  }
  red[threadIdx.x] = acc;
  __syncthreads();
  for (int h = kThreads / 2; h > 0; h /= 2) {
    if (threadIdx.x < h)
      red[threadIdx.x] = kMax ? nan_max(red[threadIdx.x], red[threadIdx.x + h])
                              : red[threadIdx.x] + red[threadIdx.x + h];
    __syncthreads();
  }
  if (threadIdx.x == 0) g_norm_partial[blockIdx.x] = red[0];
}

template <bool kMax>
__global__ void norm_total_kernel(int blocks) {
  if (threadIdx.x != 0) return;
  double acc = 0;
  for (int b = 0; b < blocks; ++b)
    acc = kMax ? nan_max(acc, g_norm_partial[b]) : acc + g_norm_partial[b];
  g_norm_total = acc;
}

template <bool kMax, typename T>
double norm_reduce(const T* x, int64_t n) {
  if (n <= 0) return 0.0;
  const cudaStream_t stream = call_stream();
  const unsigned blocks = std::min<unsigned>(blocks_for(n), kNormBlocks);
  std::lock_guard<std::mutex> lock(g_norm_mutex);
  norm_partial_kernel<kMax, T><<<blocks, kThreads, 0, stream>>>(x, n);
  DC_CUDA_CHECK_LAUNCH("norm_partial_kernel");
  norm_total_kernel<kMax><<<1, 32, 0, stream>>>(static_cast<int>(blocks));
  DC_CUDA_CHECK_LAUNCH("norm_total_kernel");
  double total = 0;
  DC_CUDA_CHECK(cudaMemcpyFromSymbolAsync(&total, g_norm_total, sizeof(double), 0,
                                          cudaMemcpyDeviceToHost, stream));
  DC_CUDA_CHECK(cudaStreamSynchronize(stream));
  return total;
}

template <typename T>
double sum_squares_cuda(const T* x, int64_t n) {
  return norm_reduce<false>(x, n);
}

template <typename T>
double abs_max_cuda(const T* x, int64_t n) {
  return norm_reduce<true>(x, n);
}

}  // namespace

}  // namespace dc::cuda

DC_REGISTER_CUDA_FLOATS(optim_step_device_stub, dc::cuda::optim_step_cuda);
DC_REGISTER_CUDA_FLOATS(scale_clamp_device_stub, dc::cuda::scale_clamp_cuda);
DC_REGISTER_CUDA_FLOATS(sum_squares_device_stub, dc::cuda::sum_squares_cuda);
DC_REGISTER_CUDA_FLOATS(abs_max_device_stub, dc::cuda::abs_max_cuda);
