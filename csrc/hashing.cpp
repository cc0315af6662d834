// Fingerprint64 (FarmHash "na" Hash64) and SipHash-2-4; see hashing.h.
#include "hashing.h"

#include <cstring>
#include <utility>

namespace dc {

namespace {

using u64 = uint64_t;
using u32 = uint32_t;

inline u64 load64(const char* p) {  // little-endian whatever the host order
  unsigned char b[8];
  std::memcpy(b, p, 8);
  u64 v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | b[i];
  return v;
}

inline u32 load32(const char* p) {
  unsigned char b[4];
  std::memcpy(b, p, 4);
  return static_cast<u32>(b[0]) | (static_cast<u32>(b[1]) << 8) | (static_cast<u32>(b[2]) << 16) |
         (static_cast<u32>(b[3]) << 24);
}

inline u64 rotr(u64 v, int s) { return s == 0 ? v : (v >> s) | (v << (64 - s)); }
inline u64 rotl(u64 v, int s) { return (v << s) | (v >> (64 - s)); }

// ------------------------------------------------------------------ FarmHash Fingerprint64
// The "na" variant of FarmHash (Fingerprint64 of farmhash.h): strings of up to 64 bytes in
// one of three closed forms, longer ones in 64-byte rounds over a 56-byte state.
constexpr u64 k0 = 0xc3a5c85c97cb3127ULL;
constexpr u64 k1 = 0xb492b66fbe98f273ULL;
constexpr u64 k2 = 0x9ae16a3b2f90404fULL;

inline u64 shift_mix(u64 v) { return v ^ (v >> 47); }

inline u64 hash16(u64 u, u64 v, u64 mul) {
  u64 a = (u ^ v) * mul;
  a ^= a >> 47;
  u64 b = (v ^ a) * mul;
  b ^= b >> 47;
  return b * mul;
}

u64 hash_0_to_16(const char* s, size_t n) {
  if (n >= 8) {
    const u64 mul = k2 + n * 2;
    const u64 a = load64(s) + k2;
    const u64 b = load64(s + n - 8);
    const u64 c = rotr(b, 37) * mul + a;
    const u64 d = (rotr(a, 25) + b) * mul;
    return hash16(c, d, mul);
  }
  if (n >= 4) {
    const u64 mul = k2 + n * 2;
    const u64 a = load32(s);
    return hash16(n + (a << 3), load32(s + n - 4), mul);
  }
  if (n > 0) {
    const u32 a = static_cast<unsigned char>(s[0]);
    const u32 b = static_cast<unsigned char>(s[n >> 1]);
    const u32 c = static_cast<unsigned char>(s[n - 1]);
    const u32 y = a + (b << 8);
    const u32 z = static_cast<u32>(n) + (c << 2);
    return shift_mix(y * k2 ^ z * k0) * k2;
  }
  return k2;
}

u64 hash_17_to_32(const char* s, size_t n) {
  const u64 mul = k2 + n * 2;
  const u64 a = load64(s) * k1;
  const u64 b = load64(s + 8);
  const u64 c = load64(s + n - 8) * mul;
  const u64 d = load64(s + n - 16) * k2;
  return hash16(rotr(a + b, 43) + rotr(c, 30) + d, a + rotr(b + k2, 18) + c, mul);
}

u64 hash_33_to_64(const char* s, size_t n) {
  const u64 mul = k2 + n * 2;
  const u64 a = load64(s) * k2;
  const u64 b = load64(s + 8);
  const u64 c = load64(s + n - 8) * mul;
  const u64 d = load64(s + n - 16) * k2;
  const u64 y = rotr(a + b, 43) + rotr(c, 30) + d;
  const u64 z = hash16(y, a + rotr(b + k2, 18) + c, mul);
  const u64 e = load64(s + 16) * mul;
  const u64 f = load64(s + 24);
  const u64 g = (y + load64(s + n - 32)) * mul;
  const u64 h = (z + load64(s + n - 24)) * mul;
  return hash16(rotr(e + f, 43) + rotr(g, 30) + h, e + rotr(f + a, 18) + g, mul);
}

// (a + z, b + c) after mixing the 32 bytes w, x, y, z into the seeds a, b
inline std::pair<u64, u64> weak32(const char* s, u64 a, u64 b) {
  const u64 w = load64(s), x = load64(s + 8), y = load64(s + 16), z = load64(s + 24);
  a += w;
  b = rotr(b + a + z, 21);
  const u64 c = a;
  a += x;
  a += y;
  b += rotr(a, 44);
  return {a + z, b + c};
}

}  // namespace

uint64_t fingerprint64(const char* s, size_t n) {
  if (n <= 16) return hash_0_to_16(s, n);
  if (n <= 32) return hash_17_to_32(s, n);
  if (n <= 64) return hash_33_to_64(s, n);
  constexpr u64 seed = 81;
  u64 x = seed;
  u64 y = seed * k1 + 113;
  u64 z = shift_mix(y * k2 + 113) * k2;
  std::pair<u64, u64> v{0, 0}, w{0, 0};
  x = x * k2 + load64(s);
  // whole 64-byte rounds, leaving 1 to 64 bytes; the last round reads the final 64 bytes
  const char* end = s + ((n - 1) / 64) * 64;
  const char* last64 = s + n - 64;
  do {
    x = rotr(x + y + v.first + load64(s + 8), 37) * k1;
    y = rotr(y + v.second + load64(s + 48), 42) * k1;
    x ^= w.second;
    y += v.first + load64(s + 40);
    z = rotr(z + w.first, 33) * k1;
    v = weak32(s, v.second * k1, x + w.first);
    w = weak32(s + 32, z + w.second, y + load64(s + 16));
    std::swap(z, x);
    s += 64;
  } while (s != end);
  const u64 mul = k1 + ((z & 0xff) << 1);
  s = last64;
  w.first += (n - 1) & 63;
  v.first += w.first;
  w.first += v.first;
  x = rotr(x + y + v.first + load64(s + 8), 37) * mul;
  y = rotr(y + v.second + load64(s + 48), 42) * mul;
  x ^= w.second * 9;
  y += v.first * 9 + load64(s + 40);
  z = rotr(z + w.first, 33) * mul;
  v = weak32(s, v.second * mul, x + w.first);
  w = weak32(s + 32, z + w.second, y + load64(s + 16));
  std::swap(z, x);
  return hash16(hash16(v.first, w.first, mul) + shift_mix(y) * k0 + z,
                hash16(v.second, w.second, mul) + x, mul);
}

// ------------------------------------------------------------------ SipHash-2-4
// Aumasson & Bernstein (2012): 2 compression rounds per 8-byte word, 4 finalisation rounds;
// the last word carries the message length in its top byte.
uint64_t siphash24(uint64_t key0, uint64_t key1, const char* s, size_t n) {
  u64 v0 = key0 ^ 0x736f6d6570736575ULL;
  u64 v1 = key1 ^ 0x646f72616e646f6dULL;
  u64 v2 = key0 ^ 0x6c7967656e657261ULL;
  u64 v3 = key1 ^ 0x7465646279746573ULL;
  auto round = [&] {
    v0 += v1;
    v1 = rotl(v1, 13);
    v1 ^= v0;
    v0 = rotl(v0, 32);
    v2 += v3;
    v3 = rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = rotl(v1, 17);
    v1 ^= v2;
    v2 = rotl(v2, 32);
  };
  auto absorb = [&](u64 m) {
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  };
  const size_t whole = n / 8 * 8;
  for (size_t i = 0; i < whole; i += 8) absorb(load64(s + i));
  u64 last = static_cast<u64>(n & 0xff) << 56;
  for (size_t i = whole; i < n; ++i)
    last |= static_cast<u64>(static_cast<unsigned char>(s[i])) << (8 * (i - whole));
  absorb(last);
  v2 ^= 0xff;
  round();
  round();
  round();
  round();
  return v0 ^ v1 ^ v2 ^ v3;
}

void hash_to_bins(const char* data, int64_t count, int64_t width, int64_t num_bins, bool strong,
                  uint64_t key0, uint64_t key1, int64_t* out) {
  const u64 bins = static_cast<u64>(num_bins);
#pragma omp parallel for schedule(static) if (count * (width + 16) > 65536)
  for (int64_t i = 0; i < count; ++i) {
    const char* s = data + i * width;
    const size_t n = strnlen(s, static_cast<size_t>(width));  // NUL padding is not part of it
    const u64 h = strong ? siphash24(key0, key1, s, n) : fingerprint64(s, n);
    out[i] = static_cast<int64_t>(h % bins);
  }
}

}  // namespace dc
