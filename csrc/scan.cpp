// Scan drivers: threading over (outer slice, block of inner columns) tasks; the kernels are in
// csrc/cpu/scan_kernels.cpp (see csrc/scan.h for the definitions).
#include "scan.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <type_traits>

#include "core/threads.h"

namespace dc {

namespace {

template <typename T>
const ScanKernels<T>* scan_kernels() {
  return scan_stub<T>();
}

// f(o, k0, k1) for every outer slice o and block [k0, k1) of at most kScanBlock inner columns,
// in parallel when there is enough work. Tasks never share an output element.
template <typename F>
void for_tasks(const ScanShape& s, F&& f) {
  const int64_t blocks = (s.inner + kScanBlock - 1) / kScanBlock;
  const int64_t tasks = s.outer * blocks;
  const int64_t work = s.outer * s.n * s.inner;
  parallel_for(tasks, work > 32768, [&](int64_t t) {
    const int64_t o = t / blocks, k0 = (t % blocks) * kScanBlock;
    f(o, k0, std::min(k0 + kScanBlock, s.inner));
  });
}

}  // namespace

template <typename T>
void scan_forward(ScanOp op, const ScanShape& s, const T* x, T* y, int64_t* idx, bool reverse) {
  if (s.outer * s.n * s.inner == 0) return;
  const auto* k = scan_kernels<T>();
  const int64_t slice = s.n * s.inner;
  if (s.inner == 1) {  // along the last axis: blocks of rows (see csrc/scan.h)
    const int64_t tasks = (s.outer + kScanBlock - 1) / kScanBlock;
    parallel_for(tasks, s.outer * s.n > 32768, [&](int64_t t) {
      const int64_t r0 = t * kScanBlock, off = r0 * s.n;
      k->forward(op, s.n, 1, s.n, std::min(kScanBlock, s.outer - r0), x + off, y + off,
                 idx ? idx + off : nullptr, reverse);
    });
    return;
  }
  for_tasks(s, [&](int64_t o, int64_t k0, int64_t k1) {
    const int64_t off = o * slice + k0;
    k->forward(op, s.n, s.inner, 1, k1 - k0, x + off, y + off, idx ? idx + off : nullptr, reverse);
  });
}

template <typename T>
bool scan_backward(ScanOp op, const ScanShape& s, const T* x, const T* y, const int64_t* idx,
                   const T* dy, T* dx, int64_t* bad) {
  if (s.outer * s.n * s.inner == 0) return true;
  if (op == ScanOp::sum) {  // the reverse cumulative sum of dy
    scan_forward<T>(ScanOp::sum, s, dy, dx, nullptr, true);
    return true;
  }
  const auto* k = scan_kernels<T>();
  const int64_t slice = s.n * s.inner;
  std::atomic<bool> ok{true};
  for_tasks(s, [&](int64_t o, int64_t k0, int64_t k1) {
    const int64_t off = o * slice;
    int64_t b = 0;
    if (!k->backward(op, s.n, s.inner, x ? x + off : nullptr, y ? y + off : nullptr,
                     idx ? idx + off : nullptr, dy + off, dx + off, k0, k1, &b) &&
        ok.exchange(false))
      *bad = b;
  });
  return ok.load();
}

#define DC_INSTANTIATE_SCAN(T)                                                                 \
  template void scan_forward<T>(ScanOp, const ScanShape&, const T*, T*, int64_t*, bool);       \
  template bool scan_backward<T>(ScanOp, const ScanShape&, const T*, const T*, const int64_t*, \
                                 const T*, T*, int64_t*);
DC_INSTANTIATE_SCAN(float)
DC_INSTANTIATE_SCAN(double)
#undef DC_INSTANTIATE_SCAN

}  // namespace dc
