// Process memory settings applied when deepcore._C is imported.
//
// [Note: malloc tuning] NumPy takes array memory from malloc. glibc serves blocks above its
// mmap threshold (dynamic, at most 32 MiB) with fresh mmap()s and gives them back with
// munmap() on free, and trims the heap top past 2x that. A training step allocates and frees
// dozens of multi-megabyte arrays (activations, gradients), so every step paid the kernel
// for mapping, zeroing and unmapping them: on the seed convnet (8k MNIST, 1 thread) a
// profiled epoch took 2.13 s, of which ~1.2 ms per step appeared in whatever Python line
// dropped the last reference, and page faults inflated every kernel writing a fresh output.
// With the threshold raised to 256 MiB the same epoch took 1.18 s: freed blocks go back to
// malloc's free lists and the next step reuses them, already mapped. The trim threshold goes
// up with it (to 2x, glibc's own dynamic rule), or a block freed at the heap top is unmapped
// anyway. (PyTorch's CPU docs
// recommend jemalloc/tcmalloc for the same reason.) It is a process-wide glibc setting, so it
// is opt-out: DEEPCORE_MALLOC_MMAP_THRESHOLD=<bytes> picks another value, 0 keeps glibc's
// defaults, and a MALLOC_MMAP_THRESHOLD_ (or GLIBC_TUNABLES) already in the environment wins.
#pragma once

#include <cstdint>

namespace dc {

// Applies the setting above once; returns the threshold set in bytes (0: left alone).
int64_t tune_malloc();
// What tune_malloc() did (for kernels.info()).
int64_t malloc_mmap_threshold();

}  // namespace dc
