// matmul's batch loop over gemm (declared in gemm.h).
#include <omp.h>

#include <exception>

#include "gemm.h"

namespace dc {

template <typename T>
void gemm_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* A,
                  int64_t lda, const int64_t* off_a, const T* B, int64_t ldb, const int64_t* off_b,
                  int64_t batch, T* C) {
  // Many small matrices: one thread per matrix (gemm runs single-threaded inside the region).
  // Few or large ones: loop here and let gemm thread each product internally.
  const int threads = omp_get_max_threads();
  const double work = double(M) * double(N) * double(K);
  const bool over_batch =
      threads > 1 && !omp_in_parallel() && batch >= threads &&
      (work <= 256.0 * 256.0 * 256.0 || batch % threads == 0 || batch >= 4 * threads);
  const int64_t mn = M * N;
  std::exception_ptr err;  // (a failed scratch allocation must not escape the region)
#pragma omp parallel for schedule(static) if (over_batch)
  for (int64_t i = 0; i < batch; ++i) {
    try {
      gemm<T>(trans_a, trans_b, M, N, K, T(1), A + off_a[i], lda, B + off_b[i], ldb, T(0),
              C + i * mn, N);
    } catch (...) {
#pragma omp critical(dc_matmul_error)
      if (!err) err = std::current_exception();
    }
  }
  if (err) std::rethrow_exception(err);
}

template void gemm_batched<float>(bool, bool, int64_t, int64_t, int64_t, const float*, int64_t,
                                  const int64_t*, const float*, int64_t, const int64_t*, int64_t,
                                  float*);
template void gemm_batched<double>(bool, bool, int64_t, int64_t, int64_t, const double*, int64_t,
                                   const int64_t*, const double*, int64_t, const int64_t*, int64_t,
                                   double*);

}  // namespace dc
