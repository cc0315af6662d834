// Convolution on the GPU: the CUDA slots of the conv2d / conv3d stubs of csrc/conv.h (conv1d runs
// as conv2d), same contract (NCHW / NCDHW, weights (K, C/G, [KD,] R, S), stride, zero padding,
// dilation, groups; dx assigned, dw and db accumulated). conv2d runs as conv3d with unit depth
// (unit3d), as the CPU reference does. The `algo` argument of conv2d is a CPU choice: the GPU has
// one algorithm.
//
// [Note: implicit GEMM convolution]
// Each pass is one GEMM per group whose operands are gathered from the tensors on the fly, so no
// column matrix is ever stored (nothing to allocate: kernels take no workspace):
//   forward          y_g (Kg x N*O*P*Q)   = w_g (Kg x Cg*KD*R*S)  @ col(x_g)
//   backward input   dx_g (Cg x N*D*H*W)  = w_g^T (Cg x Kg*KD*R*S) @ gathered dy_g, where the
//                    element for input pixel h and tap r is dy at p = (h + ph - r*dh) / sh when
//                    that division is exact and p in [0, P) (zero otherwise): a gather, so dx is
//                    written once, without atomics
//   backward weight  dw_g (Kg x Cg*KD*R*S) += dy_g (Kg x N*O*P*Q) @ col(x_g)^T; the reduction over
//                    N*O*P*Q is split over blockIdx.z when the tile grid alone would leave
//                    multiprocessors idle, the splits adding into dw with atomicAdd (so, unlike
//                    the CPU's ([Note: deterministic weight gradients]), the summation order of
//                    dw varies between runs, at rounding level); db by a separate reduction per
//                    channel, deterministic.
// The GEMM is a plain shared-memory tiled one (64 x 64 tiles, 16-deep k slices, 4 x 4 outputs
// per thread, 256 threads), fp32 (or fp64) on the CUDA cores whatever the matmul precision.
// Every thread loads one fixed column of the B operand at four depths per slice, so a column's
// index decomposition (image, output pixel; or channel and tap) is done once per thread, and
// only the depth is decomposed per element. Index arithmetic is 32-bit where the host has
// checked that the sizes fit (conv_fits), addresses 64-bit.
#include <cuda_runtime.h>

#include <climits>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "check.cuh"
#include "conv.h"
#include "core/device_dispatch.h"
#include "gemm_common.cuh"

namespace dc::cuda {

namespace {

// 3-D geometry in 32-bit integers (host-checked), with the products the kernels divide by.
struct Geo {
  int N, C, D, H, W, K, KD, R, S, O, P, Q;
  int sd, sh, sw, pd, ph, pw, dd, dh, dw;
  int G, Cg, Kg;
  int HW, DHW, PQ, OPQ, RS, KRS;  // KRS = KD*R*S
};

Geo make_geo(const Conv3dShape& v) {
  const ConvShape& s = v.s;
  const int64_t big[] = {s.N * v.O * s.P * s.Q,
                         s.N * v.D * s.H * s.W,
                         s.C * v.KD * s.R * s.S,
                         s.K * v.KD * s.R * s.S,
                         s.C,
                         s.K,
                         v.sd * v.D + v.pd + v.dd * v.KD,
                         s.sh * s.H + s.ph + s.dh * s.R,
                         s.sw * s.W + s.pw + s.dw * s.S};
  for (int64_t b : big)
    if (b >= INT_MAX)
      throw std::runtime_error(
          "convolution on CUDA: a size of this convolution (a product of the batch and "
          "spatial extents, or of channels and taps) does not fit in 31 bits");
  auto i = [](int64_t x) { return static_cast<int>(x); };
  Geo g{i(s.N),  i(s.C), i(v.D),    i(s.H),    i(s.W),  i(s.K),  i(v.KD), i(s.R),  i(s.S),  i(v.O),
        i(s.P),  i(s.Q), i(v.sd),   i(s.sh),   i(s.sw), i(v.pd), i(s.ph), i(s.pw), i(v.dd), i(s.dh),
        i(s.dw), i(s.G), i(s.Cg()), i(s.Kg()), 0,       0,       0,       0,       0,       0};
  g.HW = g.H * g.W;
  g.DHW = g.D * g.HW;
  g.PQ = g.P * g.Q;
  g.OPQ = g.O * g.PQ;
  g.RS = g.R * g.S;
  g.KRS = g.KD * g.RS;
  return g;
}

constexpr int kTile = 64, kDepth = 16, kThreads = 256;

// forward: A = w_g (Kg x Cg*KRS), B = col(x_g) (Cg*KRS x N*OPQ), C = y.
template <typename T>
struct FwdOp {
  Geo g;
  const T* x;
  const T* w;
  const T* b;
  T* y;
  bool relu;
  __host__ __device__ int M() const { return g.Kg; }
  __host__ __device__ int N() const { return g.N * g.OPQ; }
  __host__ __device__ int K() const { return g.Cg * g.KRS; }
  struct Col {
    const T* base;
    int d0, h0, w0;
    bool valid;
  };
  __device__ T a(int grp, int m, int k) const {
    return w[(int64_t(grp) * g.Kg + m) * (int64_t(g.Cg) * g.KRS) + k];
  }
  __device__ Col col(int grp, int n) const {
    Col c{};
    c.valid = n < N();
    if (!c.valid) return c;
    const int img = n / g.OPQ, opq = n % g.OPQ;
    const int o = opq / g.PQ, pq = opq % g.PQ, p = pq / g.Q, q = pq % g.Q;
    c.base = x + (int64_t(img) * g.C + int64_t(grp) * g.Cg) * g.DHW;
    c.d0 = o * g.sd - g.pd;
    c.h0 = p * g.sh - g.ph;
    c.w0 = q * g.sw - g.pw;
    return c;
  }
  __device__ T bval(const Col& c, int k) const {
    if (!c.valid) return T(0);
    const int ch = k / g.KRS, trs = k % g.KRS;
    const int t = trs / g.RS, rs = trs % g.RS, r = rs / g.S, s = rs % g.S;
    const int d = c.d0 + t * g.dd, h = c.h0 + r * g.dh, ww = c.w0 + s * g.dw;
    if (d < 0 || d >= g.D || h < 0 || h >= g.H || ww < 0 || ww >= g.W) return T(0);
    return c.base[int64_t(ch) * g.DHW + int64_t(d) * g.HW + h * g.W + ww];
  }
  __device__ void store(int grp, int m, int n, T v, bool) const {
    const int img = n / g.OPQ, opq = n % g.OPQ, k = grp * g.Kg + m;
    if (b) v += b[k];
    if (relu) v = v > T(0) ? v : T(0);
    y[(int64_t(img) * g.K + k) * g.OPQ + opq] = v;
  }
};

// backward input: A = w_g^T (Cg x Kg*KRS), B = gathered dy_g (Kg*KRS x N*DHW), C = dx (assigned).
template <typename T>
struct BwdDataOp {
  Geo g;
  const T* dy;
  const T* w;
  T* dx;
  __host__ __device__ int M() const { return g.Cg; }
  __host__ __device__ int N() const { return g.N * g.DHW; }
  __host__ __device__ int K() const { return g.Kg * g.KRS; }
  struct Col {
    const T* base;
    int dpad, hpad, wpad;
    bool valid;
  };
  __device__ T a(int grp, int m, int k) const {
    const int kk = k / g.KRS, trs = k % g.KRS;
    return w[((int64_t(grp) * g.Kg + kk) * g.Cg + m) * g.KRS + trs];
  }
  __device__ Col col(int grp, int n) const {
    Col c{};
    c.valid = n < N();
    if (!c.valid) return c;
    const int img = n / g.DHW, dhw = n % g.DHW;
    const int d = dhw / g.HW, hw = dhw % g.HW, h = hw / g.W, ww = hw % g.W;
    c.base = dy + (int64_t(img) * g.K + int64_t(grp) * g.Kg) * g.OPQ;
    c.dpad = d + g.pd;
    c.hpad = h + g.ph;
    c.wpad = ww + g.pw;
    return c;
  }
  // the output index along one axis that tap t of a window reads pixel `pad` from, or -1
  __device__ static int out_index(int pad, int t, int dil, int stride, int extent) {
    const int num = pad - t * dil;
    if (num < 0 || num % stride) return -1;
    const int o = num / stride;
    return o < extent ? o : -1;
  }
  __device__ T bval(const Col& c, int k) const {
    if (!c.valid) return T(0);
    const int kk = k / g.KRS, trs = k % g.KRS;
    const int t = trs / g.RS, rs = trs % g.RS, r = rs / g.S, s = rs % g.S;
    const int o = out_index(c.dpad, t, g.dd, g.sd, g.O);
    const int p = out_index(c.hpad, r, g.dh, g.sh, g.P);
    const int q = out_index(c.wpad, s, g.dw, g.sw, g.Q);
    if (o < 0 || p < 0 || q < 0) return T(0);
    return c.base[int64_t(kk) * g.OPQ + int64_t(o) * g.PQ + p * g.Q + q];
  }
  __device__ void store(int grp, int m, int n, T v, bool) const {
    const int img = n / g.DHW, dhw = n % g.DHW;
    dx[(int64_t(img) * g.C + int64_t(grp) * g.Cg + m) * g.DHW + dhw] = v;
  }
};

// backward weight: A = dy_g (Kg x N*OPQ), B = col(x_g)^T (N*OPQ x Cg*KRS), C = dw (+=).
template <typename T>
struct BwdWeightOp {
  Geo g;
  const T* x;
  const T* dy;
  T* dw;
  __host__ __device__ int M() const { return g.Kg; }
  __host__ __device__ int N() const { return g.Cg * g.KRS; }
  __host__ __device__ int K() const { return g.N * g.OPQ; }
  struct Col {
    const T* base;
    int td, rh, sw;
    bool valid;
  };
  __device__ T a(int grp, int m, int k) const {
    const int img = k / g.OPQ, opq = k % g.OPQ;
    return dy[(int64_t(img) * g.K + int64_t(grp) * g.Kg + m) * g.OPQ + opq];
  }
  __device__ Col col(int grp, int n) const {
    Col c{};
    c.valid = n < N();
    if (!c.valid) return c;
    const int ch = n / g.KRS, trs = n % g.KRS;
    const int t = trs / g.RS, rs = trs % g.RS, r = rs / g.S, s = rs % g.S;
    c.base = x + (int64_t(grp) * g.Cg + ch) * g.DHW;
    c.td = t * g.dd - g.pd;
    c.rh = r * g.dh - g.ph;
    c.sw = s * g.dw - g.pw;
    return c;
  }
  __device__ T bval(const Col& c, int k) const {
    if (!c.valid) return T(0);
    const int img = k / g.OPQ, opq = k % g.OPQ;
    const int o = opq / g.PQ, pq = opq % g.PQ, p = pq / g.Q, q = pq % g.Q;
    const int d = o * g.sd + c.td, h = p * g.sh + c.rh, ww = q * g.sw + c.sw;
    if (d < 0 || d >= g.D || h < 0 || h >= g.H || ww < 0 || ww >= g.W) return T(0);
    return c.base[int64_t(img) * g.C * g.DHW + int64_t(d) * g.HW + h * g.W + ww];
  }
  __device__ void store(int grp, int m, int n, T v, bool split) const {
    T* out = dw + (int64_t(grp) * g.Kg + m) * (int64_t(g.Cg) * g.KRS) + n;
    if (split)
      atomicAdd(out, v);
    else
      *out += v;
  }
};

// One 64 x 64 tile of group blockIdx.z / splits over k in [split * k_per_split, +k_per_split).
template <typename T, class Op>
__global__ void __launch_bounds__(kThreads)
    conv_gemm_kernel(const Op op, int splits, int k_per_split) {
  __shared__ T As[kDepth][kTile + 1];  // [k][m]
  __shared__ T Bs[kDepth][kTile + 1];  // [k][n]
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const int grp = blockIdx.z / splits, split = blockIdx.z % splits;
  const int m0 = blockIdx.y * kTile, n0 = blockIdx.x * kTile;
  const int M = op.M(), K = op.K();
  const int kbeg = split * k_per_split;
  const int kend = K - kbeg < k_per_split ? K : kbeg + k_per_split;
  // B: column bn of the tile at depths tid / 64 + 4 q; A: rows tid / 16 + 16 q at depth tid % 16
  const int bn = tid % kTile, bk0 = tid / kTile, ak = tid % kDepth, am0 = tid / kDepth;
  const auto col = op.col(grp, n0 + bn);
  T acc[4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) acc[i][j] = T(0);

  for (int k0 = kbeg; k0 < kend; k0 += kDepth) {
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const int am = am0 + 16 * q, k = k0 + ak;
      As[ak][am] = m0 + am < M && k < kend ? op.a(grp, m0 + am, k) : T(0);
      const int bk = bk0 + 4 * q, kb = k0 + bk;
      Bs[bk][bn] = kb < kend ? op.bval(col, kb) : T(0);
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kDepth; ++k) {
      T a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) a[i] = As[k][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; ++j) b[j] = Bs[k][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fma(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
  const int Ncols = op.N();
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int m = m0 + ty + 16 * i;
    if (m >= M) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int n = n0 + tx + 16 * j;
      if (n < Ncols) op.store(grp, m, n, acc[i][j], splits > 1);
    }
  }
}

// split_k: the reduction split over blockIdx.z as far as it takes to fill the GPU.
template <typename T, class Op>
void launch_conv_gemm(const Op& op, bool split_k) {
  const int M = op.M(), N = op.N(), K = op.K(), G = op.g.G;
  if (M == 0 || N == 0) return;
  const int64_t gx = (int64_t(N) + kTile - 1) / kTile, gy = (int64_t(M) + kTile - 1) / kTile;
  int splits = 1, k_per_split = K;
  if (split_k && K > 0) {
    const int64_t blocks = gx * gy * G, target = 2 * int64_t(multiprocessors());
    // at least 8 slices of k per split, so the atomics stay a small part of the work
    const int64_t max_splits = (int64_t(K) + 8 * kDepth - 1) / (8 * kDepth);
    int64_t want = blocks >= target ? 1 : (target + blocks - 1) / blocks;
    want = want < max_splits ? want : max_splits;
    want = want < kMaxGridYZ / G ? want : kMaxGridYZ / G;
    if (want < 1) want = 1;
    const int64_t per = ((int64_t(K) + want - 1) / want + kDepth - 1) / kDepth * kDepth;
    k_per_split = static_cast<int>(per);
    splits = static_cast<int>((int64_t(K) + per - 1) / per);
  }
  if (gy > kMaxGridYZ || int64_t(G) * splits > kMaxGridYZ)
    throw std::runtime_error("convolution on CUDA: too many output channels or groups (" +
                             std::to_string(M) + " per group, " + std::to_string(G) +
                             " groups) for one launch");
  const auto stream = reinterpret_cast<cudaStream_t>(dc::cuda_call_stream());
  const dim3 grid(static_cast<unsigned>(gx), static_cast<unsigned>(gy),
                  static_cast<unsigned>(G * splits));
  conv_gemm_kernel<T, Op><<<grid, kThreads, 0, stream>>>(op, splits, k_per_split);
  DC_CUDA_CHECK_LAUNCH("conv_gemm_kernel");
}

// db[k] += sum over images and output pixels of dy[n, k, :]; one block per channel.
template <typename T>
__global__ void __launch_bounds__(256)
    conv_bias_grad_kernel(const T* dy, T* db, int N, int K, int64_t OPQ) {
  __shared__ double part[256];
  const int k = blockIdx.x;
  double acc = 0.0;
  for (int n = 0; n < N; ++n) {
    const T* row = dy + (int64_t(n) * K + k) * OPQ;
    for (int64_t i = threadIdx.x; i < OPQ; i += blockDim.x) acc += double(row[i]);
  }
  part[threadIdx.x] = acc;
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) part[threadIdx.x] += part[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) db[k] += static_cast<T>(part[0]);
}

}  // namespace

template <typename T>
void conv3d_forward(const Conv3dShape& v, const T* x, const T* w, const T* b, T* y, ConvAlgo,
                    bool relu) {
  const Geo g = make_geo(v);
  launch_conv_gemm<T>(FwdOp<T>{g, x, w, b, y, relu}, false);
}

template <typename T>
void conv3d_backward_input(const Conv3dShape& v, const T* dy, const T* w, T* dx, ConvAlgo) {
  const Geo g = make_geo(v);
  launch_conv_gemm<T>(BwdDataOp<T>{g, dy, w, dx}, false);
}

template <typename T>
void conv3d_backward_weight(const Conv3dShape& v, const T* x, const T* dy, T* dw, T* db, ConvAlgo) {
  const Geo g = make_geo(v);
  launch_conv_gemm<T>(BwdWeightOp<T>{g, x, dy, dw}, true);
  if (db && g.K > 0 && g.N > 0) {
    const auto stream = reinterpret_cast<cudaStream_t>(dc::cuda_call_stream());
    conv_bias_grad_kernel<T><<<g.K, 256, 0, stream>>>(dy, db, g.N, g.K, g.OPQ);
    DC_CUDA_CHECK_LAUNCH("conv_bias_grad_kernel");
  }
}

template <typename T>
void conv2d_forward(const ConvShape& s, const T* x, const T* w, const T* b, T* y, ConvAlgo,
                    bool relu) {
  cuda::conv3d_forward<T>(unit3d(s), x, w, b, y, ConvAlgo::automatic, relu);
}
template <typename T>
void conv2d_backward_input(const ConvShape& s, const T* dy, const T* w, T* dx, ConvAlgo) {
  cuda::conv3d_backward_input<T>(unit3d(s), dy, w, dx, ConvAlgo::automatic);
}
template <typename T>
void conv2d_backward_weight(const ConvShape& s, const T* x, const T* dy, T* dw, T* db, ConvAlgo) {
  cuda::conv3d_backward_weight<T>(unit3d(s), x, dy, dw, db, ConvAlgo::automatic);
}

#define DC_INSTANTIATE_CUDA_CONV(T)                                                               \
  template void conv3d_forward<T>(const Conv3dShape&, const T*, const T*, const T*, T*, ConvAlgo, \
                                  bool);                                                          \
  template void conv3d_backward_input<T>(const Conv3dShape&, const T*, const T*, T*, ConvAlgo);   \
  template void conv3d_backward_weight<T>(const Conv3dShape&, const T*, const T*, T*, T*,         \
                                          ConvAlgo);                                              \
  template void conv2d_forward<T>(const ConvShape&, const T*, const T*, const T*, T*, ConvAlgo,   \
                                  bool);                                                          \
  template void conv2d_backward_input<T>(const ConvShape&, const T*, const T*, T*, ConvAlgo);     \
  template void conv2d_backward_weight<T>(const ConvShape&, const T*, const T*, T*, T*, ConvAlgo);
DC_INSTANTIATE_CUDA_CONV(float)
DC_INSTANTIATE_CUDA_CONV(double)
#undef DC_INSTANTIATE_CUDA_CONV

}  // namespace dc::cuda

DC_REGISTER_CUDA(dc::conv2d_forward_device_stub<float>, &dc::cuda::conv2d_forward<float>);
DC_REGISTER_CUDA(dc::conv2d_forward_device_stub<double>, &dc::cuda::conv2d_forward<double>);
DC_REGISTER_CUDA(dc::conv2d_backward_input_device_stub<float>,
                 &dc::cuda::conv2d_backward_input<float>);
DC_REGISTER_CUDA(dc::conv2d_backward_input_device_stub<double>,
                 &dc::cuda::conv2d_backward_input<double>);
DC_REGISTER_CUDA(dc::conv2d_backward_weight_device_stub<float>,
                 &dc::cuda::conv2d_backward_weight<float>);
DC_REGISTER_CUDA(dc::conv2d_backward_weight_device_stub<double>,
                 &dc::cuda::conv2d_backward_weight<double>);
DC_REGISTER_CUDA(dc::conv3d_forward_device_stub<float>, &dc::cuda::conv3d_forward<float>);
DC_REGISTER_CUDA(dc::conv3d_forward_device_stub<double>, &dc::cuda::conv3d_forward<double>);
DC_REGISTER_CUDA(dc::conv3d_backward_input_device_stub<float>,
                 &dc::cuda::conv3d_backward_input<float>);
DC_REGISTER_CUDA(dc::conv3d_backward_input_device_stub<double>,
                 &dc::cuda::conv3d_backward_input<double>);
DC_REGISTER_CUDA(dc::conv3d_backward_weight_device_stub<float>,
                 &dc::cuda::conv3d_backward_weight<float>);
DC_REGISTER_CUDA(dc::conv3d_backward_weight_device_stub<double>,
                 &dc::cuda::conv3d_backward_weight<double>);
