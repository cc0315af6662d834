// Cumulative scans along one axis: cumsum, cumprod, cummax, cummin (with indices) and
// logcumsumexp, forward and backward.
//
//   x, y are C-contiguous and viewed as (outer, n, inner) around the axis; idx (same shape,
//   int64) is the position along the axis of the running extremum (cummax / cummin).
//   sum:        y[i] = x[0] + ... + x[i]          (float32 accumulates in double, as PyTorch)
//   prod:       y[i] = x[0] * ... * x[i]          (likewise)
//   max / min:  y[i] = max / min of x[0..i]; idx[i] = the last position where it occurs (ties
//               take the later index, as PyTorch); a NaN wins and stays, with its index
//   logsumexp:  y[i] = log(exp(x[0]) + ... + exp(x[i])), accumulated stably (log-add-exp)
//   reverse:    the scan runs from the end (y[i] over x[i..n-1]): cumsum's backward.
// Backward (dx assigned):
//   sum:        dx[i] = sum_{j >= i} dy[j]
//   prod:       dx[i] = sum_{j >= i} dy[j] * prod_{k <= j, k != i} x[k], computed in O(n) from
//               y and the first zero z of the line: (sum_{i <= j < z} dy[j] y[j]) / x[i]
//               before z, an explicit running product at z, 0 after it
//   max / min:  dx[idx[i]] += dy[i]; an idx outside [0, n) is reported (false, with it in *bad;
//               dx is then unspecified), never followed: the binding cannot trust idx, and
//               checking it in the loop that reads it saves a separate pass over it
//   logsumexp:  dx[i] = sum_{j >= i} dy[j] exp(x[i] - y[j]), with the positive and negative
//               parts of dy accumulated as reverse log-sum-exps (no overflow)
#pragma once

#include <cstdint>

#include "core/dispatch.h"
#ifndef DC_ISA_LEVEL
#include "core/device_dispatch.h"
#endif

namespace dc {

enum class ScanOp : int { sum = 0, prod = 1, max = 2, min = 3, logsumexp = 4 };

struct ScanShape {
  int64_t outer, n, inner;
};

template <typename T>
void scan_forward(ScanOp op, const ScanShape& s, const T* x, T* y, int64_t* idx, bool reverse);
// x, y: the forward's input and output (prod, logsumexp); idx (max, min); unused ones may be
// null. Returns false (with the bad value in *bad) for an idx outside the axis.
template <typename T>
bool scan_backward(ScanOp op, const ScanShape& s, const T* x, const T* y, const int64_t* idx,
                   const T* dy, T* dx, int64_t* bad);

#ifndef DC_ISA_LEVEL
// Device stubs of the drivers above ([Note: device dispatch] in core/device_dispatch.h).
DC_DEVICE_STUB(scan_forward, "scan_forward");
DC_DEVICE_STUB(scan_backward, "scan_backward");
#endif

namespace ref {
// csrc/ref/scan_ref.cpp: the definitions above as plain loops (double accumulation).
template <typename T>
void scan_forward(ScanOp op, const ScanShape& s, const T* x, T* y, int64_t* idx, bool reverse);
}  // namespace ref

// Per-ISA kernels (csrc/cpu/scan_kernels.cpp), single-threaded.
// forward: B independent lines of n elements, element i of line b at x[i*ss + b*cs]: blocks
// of up to kScanBlock inner columns of one outer slice (ss = inner, cs = 1: every column's
// running value updated per step, vectorised across columns), or, along the last axis
// (inner == 1), blocks of up to kScanBlock rows (ss = 1, cs = n: sums eight elements at a
// time within a vector, four rows in flight, [Note: vector row scan]; products and
// log-sum-exps eight rows at a time, eight independent dependency chains instead of one;
// max / min one row at a time, [Note: running extremum of a row]);
// backward: the lines (columns) [k0, k1) of one outer slice, one by one (the cumulative
// product across them, [Note: cumprod backward across columns]).
constexpr int64_t kScanBlock = 64;
template <typename T>
struct ScanKernels {
  void (*forward)(ScanOp op, int64_t n, int64_t ss, int64_t cs, int64_t B, const T* x, T* y,
                  int64_t* idx, bool reverse);
  bool (*backward)(ScanOp op, int64_t n, int64_t inner, const T* x, const T* y, const int64_t* idx,
                   const T* dy, T* dx, int64_t k0, int64_t k1, int64_t* bad);
};

}  // namespace dc

DC_DECLARE_DISPATCH_T(scan_stub, const dc::ScanKernels<T>*());
