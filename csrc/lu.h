// LU factorisation with partial pivoting (LAPACK's getrf), batched.
//
//   x is (batch, m, n) row-major, C-contiguous; lu (same shape) receives L and U of
//   P x = L U: U on and above the diagonal, L's multipliers below it (L's unit diagonal is not
//   stored); piv is (batch, k), k = min(m, n): at step j row j was swapped with row
//   piv[j] >= j (0-based, LAPACK's ipiv - 1: Keras / SciPy's convention); perm is
//   (batch, m): row i of P x is row perm[i] of x (the swaps applied in order), for the
//   gradient.
//   The pivot of column j is the first entry of largest magnitude at or below the diagonal
//   (LAPACK's idamax). A column that is zero there is left as it is (no swap, no scaling, no
//   update: what getrf does before reporting info > 0), so a singular matrix factors
//   completely with U[j, j] = 0; the count of such columns over the batch is returned.
#pragma once

#include <cstdint>

#include "core/device_dispatch.h"

namespace dc {

template <typename T>
int64_t lu_factor(const T* x, T* lu, int32_t* piv, int64_t* perm, int64_t batch, int64_t m,
                  int64_t n);

DC_DEVICE_STUB(lu_factor, "lu_factor");

namespace ref {
// csrc/ref/lu_ref.cpp: the same factorisation one matrix and one element at a time,
// single-threaded (tests compare the driver against it).
template <typename T>
int64_t lu_factor(const T* x, T* lu, int32_t* piv, int64_t* perm, int64_t batch, int64_t m,
                  int64_t n);
}  // namespace ref

}  // namespace dc
