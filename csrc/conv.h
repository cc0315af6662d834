// Convolution (cross-correlation, as every framework computes it), NCHW, weights as in PyTorch.
//
//   x is (N,C,H,W), w is (K,C/G,R,S), b is (K,) or null; y is (N,K,P,Q)
//   y[n,k,p,q] = b[k] + sum_{c,r,s} w[k,c,r,s] * x[n, g*C/G + c, p*sh - ph + r*dh, q*sw - pw +
//   s*dw] (g = k / (K/G); x outside [0,H)x[0,W) is zero).
//
// ph/pw are the top/left zero padding. The bottom/right padding is implied by P and Q, which
// the binding computes, so asymmetric padding (Keras/TF 'same' with an even total) needs no
// extra field. conv1d is conv2d with H = R = 1.
//
// Three algorithms behind one entry point (see [Note: conv algorithm choice] in conv.cpp):
//   direct   - loops over the window with register-blocked accumulators, no im2col buffer;
//   im2col   - lower each image (tile of output rows) to a column matrix and call dc::gemm;
//   implicit - conv3d's implicit GEMM on the unit-depth shape (unit3d): the GEMM's tiles read
//              the padded input in place ([Note: implicit GEMM convolution]); backward_input
//              only for unit strides (im2col for others, as in 3-D).
// Gradient rule: dx is assigned (=); dw and db ACCUMULATE (+=) into the caller's buffers (the
// Python layer passes zeroed ones), as parameter gradients do everywhere in deepcore.
#pragma once

#include <cstdint>

#include "core/dispatch.h"
#ifndef DC_ISA_LEVEL
#include "core/device_dispatch.h"
#endif

namespace dc {

struct ConvShape {
  int64_t N, C, H, W;  // input
  int64_t K, R, S;     // output channels, kernel height, width
  int64_t P, Q;        // output height, width
  int64_t sh, sw;      // stride
  int64_t ph, pw;      // top / left zero padding
  int64_t dh, dw;      // dilation
  int64_t G;           // groups
  int64_t Cg() const { return C / G; }
  int64_t Kg() const { return K / G; }
};

// 3-D convolution: x (N,C,D,H,W), w (K,C/G,KD,R,S), y (N,K,O,P,Q);
//   y[n,k,o,p,q] = b[k] + sum_{c,t,r,s} w[k,c,t,r,s] * x[n, g*C/G + c, o*sd - pd + t*dd,
//                                                      p*sh - ph + r*dh, q*sw - pw + s*dw].
// `s` holds the batch, channels, groups and the (H, W) plane geometry exactly as for conv2d;
// the depth axis adds its own. conv2d is the case D = KD = O = 1 (unit3d).
struct Conv3dShape {
  ConvShape s;
  int64_t D, KD, O;  // input depth, kernel depth, output depth
  int64_t sd, pd, dd;
};
inline Conv3dShape unit3d(const ConvShape& s) { return Conv3dShape{s, 1, 1, 1, 1, 0, 1}; }

// implicit is a 2-D algorithm; for conv3d it is a synonym of direct (the same kernels).
enum class ConvAlgo : int { automatic = 0, direct = 1, im2col = 2, implicit = 3 };
enum class ConvPass : int { forward = 0, backward_input = 1, backward_weight = 2 };

// The algorithm `algo` resolves to for this shape and pass of a 2-D convolution in T
// (automatic -> a concrete one; implicit -> im2col for a pass the implicit kernels do not
// cover).
template <typename T>
ConvAlgo conv_resolve_algo(const ConvShape& s, ConvPass pass, ConvAlgo algo);
const char* conv_algo_name(ConvAlgo algo);

// relu: y = max(y, 0) fused into the pass that adds the bias (Conv2D(activation="relu")).
template <typename T>
void conv2d_forward(const ConvShape& s, const T* x, const T* w, const T* b, T* y, ConvAlgo algo,
                    bool relu);
// dy is (N,K,P,Q), w is (K,C/G,R,S); dx (N,C,H,W) is assigned.
template <typename T>
void conv2d_backward_input(const ConvShape& s, const T* dy, const T* w, T* dx, ConvAlgo algo);
// x is (N,C,H,W), dy is (N,K,P,Q); dw (K,C/G,R,S) += ..., db (K,) += ... (db may be null).
template <typename T>
void conv2d_backward_weight(const ConvShape& s, const T* x, const T* dy, T* dw, T* db,
                            ConvAlgo algo);

// 3-D convolution. Two algorithms: im2col is vol2col + GEMM, the volume's column matrix built
// plane by plane with the 2-D im2col kernel ([Note: vol2col from im2col] in conv.cpp); direct
// is the implicit GEMM that reads the padded input in place ([Note: implicit GEMM
// convolution]), for the passes it covers (forward and backward_weight: any; backward_input:
// unit strides), im2col for the others. automatic picks direct where its
// tiles are mostly full (conv3d_resolve_algo). Same gradient rule and the same fused ReLU as
// conv2d_forward.
template <typename T>
void conv3d_forward(const Conv3dShape& v, const T* x, const T* w, const T* b, T* y, ConvAlgo algo,
                    bool relu);
template <typename T>
void conv3d_backward_input(const Conv3dShape& v, const T* dy, const T* w, T* dx, ConvAlgo algo);
template <typename T>
void conv3d_backward_weight(const Conv3dShape& v, const T* x, const T* dy, T* dw, T* db,
                            ConvAlgo algo);
// The algorithm `algo` resolves to for this shape and pass of a 3-D convolution in T (direct
// or im2col; implicit is read as direct).
template <typename T>
ConvAlgo conv3d_resolve_algo(const Conv3dShape& v, ConvPass pass, ConvAlgo algo);
// The tiles the direct algorithm runs this pass of a 3-D convolution in T with (for tests and
// benchmarks): "channels" ([Note: channel-vector tiles] in conv.cpp), "planes" ([Note: flat
// windows]) or "rows"; backward_input as the forward on dy it runs for unit strides ("none"
// for others: vol2col).
template <typename T>
const char* conv3d_direct_tiles(const Conv3dShape& v, ConvPass pass);

#ifndef DC_ISA_LEVEL
// Device stubs of the drivers above ([Note: device dispatch] in core/device_dispatch.h). conv1d
// runs as conv2d (H = R = 1), so its calls look up the conv2d stubs.
DC_DEVICE_STUB(conv2d_forward, "conv2d_forward");
DC_DEVICE_STUB(conv2d_backward_input, "conv2d_backward_input");
DC_DEVICE_STUB(conv2d_backward_weight, "conv2d_backward_weight");
DC_DEVICE_STUB(conv3d_forward, "conv3d_forward");
DC_DEVICE_STUB(conv3d_backward_input, "conv3d_backward_input");
DC_DEVICE_STUB(conv3d_backward_weight, "conv3d_backward_weight");
#endif

// Implicit-GEMM tiles (csrc/cpu/conv_implicit.cpp; [Note: implicit GEMM convolution] in
// conv.cpp). MR x NR is the register tile of this ISA and type.
template <typename T>
struct ConvTileKernels {
  int mr, nr;
  // C[i*ldc + j] = sum_p a[p*mr + i] * src[off[p] + j] over p in [seg[2k], seg[2k+1]) for
  // k < nseg (+ bias[i] when bias is non-null, then max(., 0) when relu) for i < m <= mr,
  // j < n <= nr: a is one packed panel of the weight (K x mr, zero rows past m); the segments
  // leave out the reduction indices that read only zero padding ([Note: taps in the padding]).
  void (*fwd)(const int64_t* seg, int nseg, const T* a, const int64_t* off, const T* src, T* C,
              int64_t ldc, int m, int n, const T* bias, bool relu);
  // C[i*ldc + j] += sum_{k<nrows, q<len} src[aoff[i] + abase[r] + q*sw] * b[(r*len + q)*ldb + j]
  // with r = rows[k], for i < m <= mr, j < n <= nr (b's rows are readable for nr elements).
  void (*wgrad)(const T* src, const int64_t* aoff, const int64_t* abase, const int64_t* rows,
                int64_t nrows, int64_t len, int64_t sw, const T* b, int64_t ldb, T* C, int64_t ldc,
                int m, int n);
  // The channel-vector forward tile ([Note: channel-vector tiles] in conv.cpp): output channels
  // as the nr vector lanes, mr output positions (any addresses) as the broadcast rows:
  // C[j*ldc + coff[i]] = sum_k sum_{p in [seg[3k], seg[3k+1])}
  //   src[pos[i] + seg[3k+2] + p - seg[3k]] * b[p*nr + j]   (+ bias[j], then max(., 0) when
  // relu) for i < m <= mr, j < n <= nr: b is one packed nr-column panel of the weight.
  void (*fwd_cv)(const int64_t* seg, int nseg, const T* b, const T* src, const int64_t* pos, T* C,
                 int64_t ldc, const int64_t* coff, int m, int n, const T* bias, bool relu);
  // dst[j*ldd + i] = src[i*lds + j] for i < rows, j < cols.
  void (*transpose)(int64_t rows, int64_t cols, const T* src, int64_t lds, T* dst, int64_t ldd);
};

namespace ref {
// Naive loops straight from the formula above (float64 accumulation); always built. One
// implementation, 3-D; conv2d runs it with unit depth. CPU only: the bindings run them for
// algo='reference' and for geometry whose fast-kernel buffers would not fit.
template <typename T>
void conv3d_forward(const Conv3dShape& v, const T* x, const T* w, const T* b, T* y, bool relu);
template <typename T>
void conv3d_backward_input(const Conv3dShape& v, const T* dy, const T* w, T* dx);
template <typename T>
void conv3d_backward_weight(const Conv3dShape& v, const T* x, const T* dy, T* dw, T* db);
}  // namespace ref

// ---------------------------------------------------------------------------------------------
// ISA kernels (csrc/cpu/conv_direct.cpp, csrc/cpu/conv_im2col.cpp). Per image (and group);
// the drivers in conv.cpp own threading and scratch memory.
//
// Direct kernels work on a zero-padded copy of the image's input (or input gradient):
//   xp is (C/G, Hp, Wp) for one group, with x[c, h, w] at xp[c, h + ph, w + pw], and Hp, Wp
// large enough for every window the kernel may touch (conv_direct_padded_extent).

// Padded extent along one axis: every index q*stride + s*dil, q < roundup(Q, kConvDirectQB).
// The checked form returns false when it does not fit in int64_t; the bindings run such
// shapes on the reference kernels (see [Note: conv geometry at the boundary] in
// csrc/bindings/conv.cpp), so the kernels' unchecked form never wraps.
constexpr int64_t kConvDirectQB = 16;
[[nodiscard]] inline bool conv_direct_padded_extent_fits(int64_t out, int64_t stride, int64_t k,
                                                         int64_t dil, int64_t block, int64_t* ext) {
  int64_t outr, span, kspan;
  return !(__builtin_add_overflow(out, block - 1, &outr) ||
           __builtin_mul_overflow(outr / block - 1, block, &outr) ||
           __builtin_add_overflow(outr, block - 1, &outr) ||
           __builtin_mul_overflow(outr, stride, &span) ||
           __builtin_mul_overflow(k - 1, dil, &kspan) ||
           __builtin_add_overflow(span, kspan, &span) || __builtin_add_overflow(span, 1, ext));
}
inline int64_t conv_direct_padded_extent(int64_t out, int64_t stride, int64_t k, int64_t dil,
                                         int64_t block) {
  int64_t ext = 0;
  (void)conv_direct_padded_extent_fits(out, stride, k, dil, block, &ext);
  return ext;
}

}  // namespace dc

// ISA stubs ([Note: one source, three ISAs]), at global scope (DC_REGISTER_DISPATCH_T names
// them as ::stub), one per element type T.
// y_g (Kg,P,Q) = b_g + w_g (Kg,Cg,R,S) (*) xp (Cg,Hp,Wp); assigned.
DC_DECLARE_DISPATCH_T(conv_direct_fwd_stub, void(const dc::ConvShape&, const T* xp, int64_t Hp,
                                                 int64_t Wp, const T* w, const T* b, T* y));
// dxp (Cg,Hp,Wp) += w_g^T (*) dy_g; dxp must be zeroed by the caller.
DC_DECLARE_DISPATCH_T(conv_direct_bwd_in_stub, void(const dc::ConvShape&, const T* dy, const T* w,
                                                    T* dxp, int64_t Hp, int64_t Wp));
// dw_g (Kg,Cg,R,S) += dy_g (*) xp and, when db is non-null, db_g (Kg) += sums of dy_g, for one
// image's group: dy (Kg,P,Q) as stored; dyp is scratch for Kg*P*Qr elements (Qr = Q rounded up
// to kConvDirectQB), where the kernel copies dy with zero-padded rows.
DC_DECLARE_DISPATCH_T(conv_direct_bwd_w_stub, void(const dc::ConvShape&, const T* xp, int64_t Hp,
                                                   int64_t Wp, const T* dy, T* dyp, T* dw, T* db));

// im2col for one group of one image and output rows [p0, p1):
//   col (Cg*R*S rows of row stride ld), col[(c*R + r)*S + s][(p-p0)*Q + q] =
//   x[c, p*sh-ph+r*dh, q*sw-pw+s*dw] where x points at the group's first channel (Cg,H,W).
// col2im is its adjoint (dx += ...). ld > (p1-p0)*Q puts several images side by side.
DC_DECLARE_DISPATCH_T(conv_tile_stub, const dc::ConvTileKernels<T>*());
DC_DECLARE_DISPATCH_T(im2col_stub, void(const dc::ConvShape&, const T* x, int64_t p0, int64_t p1,
                                        T* col, int64_t ld));
DC_DECLARE_DISPATCH_T(col2im_stub, void(const dc::ConvShape&, const T* col, int64_t p0, int64_t p1,
                                        T* dx, int64_t ld));

// Whole-image variants on a zero-padded copy xp (Cg,Hp,Wp) as for the direct kernels (block 1):
//   col[(c*R + r)*S + s][p*Q + q] = xp[c, p*sh + r*dh, q*sw + s*dw]   (all p < P; row stride ld)
// and its adjoint: dxp (Cg,Hp,Wp) is ASSIGNED the sum over the runs. No bounds logic inside.
DC_DECLARE_DISPATCH_T(im2col_padded_stub, void(const dc::ConvShape&, const T* xp, int64_t Hp,
                                               int64_t Wp, T* col, int64_t ld));
DC_DECLARE_DISPATCH_T(col2im_padded_stub, void(const dc::ConvShape&, const T* col, int64_t ld,
                                               T* dxp, int64_t Hp, int64_t Wp));
