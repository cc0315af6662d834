// Per-thread scratch buffers, reused across calls.
//
// [Note: scratch memory] Kernels that need temporary buffers (GEMM packing panels, conv column
// matrices) take them from here instead of allocating per call: a fresh multi-megabyte
// allocation is zero-filled or page-faulted on every call (about 0.25 us per 4 KiB page), which
// costs as much as the arithmetic for the small convolutions of a training step. Each thread
// (the caller and OpenMP's pool threads, which persist) keeps one 64-byte-aligned buffer per
// slot, grown on demand and never shrunk; contents are unspecified (not zeroed). Different
// users on the same thread must use different slots: a GEMM called inside a conv task uses
// the gemm_* slots while the conv's column block lives in conv_*.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace dc {

enum class ScratchSlot : int {
  gemm_a,
  gemm_b,
  gemm_bt,
  gemm_small,
  gemm_ct,
  conv_col,
  conv_out,
  conv_pad,
  conv_dy,
  rnn_dgates,
  rnn_step0,  // rnn.cpp: a thread's per-step weight products (packed or aligned copies)
  rnn_step1,
  rnn_step2,
  rnn_gather,
  attention,
  count
};

class ScratchBuffer {
 public:
  ScratchBuffer() = default;
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  ~ScratchBuffer() { std::free(ptr_); }
  void* get(size_t bytes) {
    if (bytes > cap_) {
      std::free(ptr_);
      cap_ = (bytes + 4095) & ~size_t(4095);
      ptr_ = std::aligned_alloc(64, cap_);
      if (!ptr_) {
        cap_ = 0;
        throw std::bad_alloc();
      }
    }
    return ptr_;
  }

 private:
  void* ptr_ = nullptr;
  size_t cap_ = 0;
};

// The calling thread's buffer for `slot`, holding at least `count` elements of T.
template <typename T>
T* thread_scratch(ScratchSlot slot, int64_t count) {
  thread_local ScratchBuffer buffers[static_cast<int>(ScratchSlot::count)];
  return static_cast<T*>(
      buffers[static_cast<int>(slot)].get(static_cast<size_t>(count > 0 ? count : 1) * sizeof(T)));
}

}  // namespace dc
