// Counter-based random bits: a pure function of (seed, counter), for dropout masks that every
// thread computes independently and that backward regenerates instead of storing.
//
// [Note: dropout RNG] Element i's uniform 32-bit word is a hash of (seed, i): two rounds of the
// murmur3 finaliser, keyed by both halves of the 64-bit seed. Every thread computes its own
// elements independently, the mask does not depend on the thread count or chunking, and loops
// over i vectorise (32-bit multiplies only). Python draws a fresh seed from deepcore.get_rng()
// for every call, so masks differ between calls and follow deepcore.manual_seed. Used by
// F.dropout (counter = flat element index) and by attention's dropout on the probabilities
// (counter = flat index of (b, h, i, j) in the (B, H, Lq, Lk) matrix it never materialises).
//
// Functions here are `static inline`: each translation unit (including each ISA copy of a
// csrc/cpu/ file) keeps its own copy, so no AVX-512 code can be shared with the generic path
// (see [Note: one source, three ISAs] in core/dispatch.h).
#pragma once

#include <cstdint>

// Callable from CUDA kernels too (csrc/cuda/activation.cu): the GPU draws the same masks.
#ifdef __CUDACC__
#define DC_HOST_DEVICE __host__ __device__
#else
#define DC_HOST_DEVICE
#endif

namespace dc {

DC_HOST_DEVICE static inline uint32_t fmix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

// The uniform 32-bit word for `counter` under `seed`.
DC_HOST_DEVICE static inline uint32_t counter_bits(uint64_t seed, uint64_t counter) {
  const uint32_t s0 = static_cast<uint32_t>(seed), s1 = static_cast<uint32_t>(seed >> 32);
  const uint32_t lo = static_cast<uint32_t>(counter), hi = static_cast<uint32_t>(counter >> 32);
  return fmix32(fmix32(lo ^ s0) + (hi ^ s1) * 0x9e3779b9u);
}

// Keep an element with probability 1 - p: keep iff counter_bits >= threshold = p * 2^32
// (rounded down; p in [0, 1)).
static inline uint32_t dropout_threshold(double p) {
  const double t = p * 4294967296.0;
  return t >= 4294967295.0 ? 4294967295u : static_cast<uint32_t>(t);
}

}  // namespace dc
