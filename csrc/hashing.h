// Stable 64-bit string hashes for Keras's Hashing layer (keras.layers.Hashing), which bins
// values with TensorFlow's string ops:
//
//   fingerprint64(s, n)      FarmHash's Fingerprint64 (farmhash "na" Hash64), what
//                            tf.strings.to_hash_bucket_fast uses
//   siphash24(k0, k1, s, n)  SipHash-2-4 with the 128-bit key (k0, k1), what
//                            tf.strings.to_hash_bucket_strong uses with key=[k0, k1]
//
// Both read the bytes little-endian, so every platform gives the same hash; a bin is
// hash % num_bins.
//
//   hash_to_bins(data, count, width, num_bins, strong, k0, k1, out)
// data holds `count` fixed-width byte strings of `width` bytes each (NumPy's 'S' dtype: a
// string shorter than the width is padded with NUL bytes, which are not part of it);
// out[i] = hash(string i) % num_bins (num_bins >= 1). Parallel over strings (OpenMP).
#pragma once

#include <cstddef>
#include <cstdint>

namespace dc {

uint64_t fingerprint64(const char* s, size_t n);
uint64_t siphash24(uint64_t k0, uint64_t k1, const char* s, size_t n);

void hash_to_bins(const char* data, int64_t count, int64_t width, int64_t num_bins, bool strong,
                  uint64_t k0, uint64_t k1, int64_t* out);

}  // namespace dc
