// See [Note: malloc tuning] in memory.h.
#include "core/memory.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace dc {
namespace {
int64_t g_threshold = 0;
constexpr int64_t kDefaultThreshold = int64_t(256) << 20;
}  // namespace

int64_t tune_malloc() {
#if defined(__GLIBC__)
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") || std::getenv("GLIBC_TUNABLES")) return 0;
  int64_t want = kDefaultThreshold;
  if (const char* v = std::getenv("DEEPCORE_MALLOC_MMAP_THRESHOLD")) {
    try {
      want = std::stoll(v);
    } catch (...) {
      want = kDefaultThreshold;  // unparsable: keep the default rather than fail the import
    }
  }
  // glibc caps M_MMAP_THRESHOLD at HEAP_MAX_SIZE / 2 (32 MiB per non-main arena); the main
  // arena, where Python allocates, accepts larger values.
  if (want > 0 && want <= (int64_t(1) << 30) && mallopt(M_MMAP_THRESHOLD, int(want)) == 1) {
    g_threshold = want;
    // Setting the mmap threshold stops glibc's dynamic rule that also raises the trim
    // threshold to twice it, leaving the 128 KiB default: every free of a block at the heap
    // top (a big array freed right after use) then gave its pages back to the kernel and the
    // next allocation faulted them in again, zeroed (gather / scatter fwd+bwd on 4 MB arrays
    // spent ~20 % of their time in page faults). Restore the dynamic rule's 2x.
    if (!std::getenv("MALLOC_TRIM_THRESHOLD_"))
      mallopt(M_TRIM_THRESHOLD, int(std::min<int64_t>(2 * want, INT32_MAX)));
  }
#endif
  return g_threshold;
}

int64_t malloc_mmap_threshold() { return g_threshold; }

}  // namespace dc
