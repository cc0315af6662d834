// deepcore._C.lu_factor: validation, then csrc/lu.h.
//
//   lu_factor(x, reference=False) -> (lu, piv, perm, zero_pivots)
//       x: float32 or float64, C-contiguous, (..., m, n) with at least 2 dimensions;
//       lu: x's shape and dtype; piv: int32 (..., min(m, n)), 0-based row swaps (LAPACK's
//       ipiv - 1); perm: int64 (..., m), row i of P x is row perm[i] of x; zero_pivots: how
//       many columns had no nonzero pivot (singular matrices), over the whole batch.
// m must fit an int32 pivot. `reference=True` runs csrc/ref/lu_ref.cpp (for tests).
#include "lu.h"

#include <limits>
#include <vector>

#include "bindings/array_arg.h"
#include "bindings/checks.h"
#include "bindings/registry.h"

namespace dc {

namespace {

py::tuple lu_factor_entry(const py::handle& x_obj, bool reference) {
  const ArrayArg x = any_array_arg(x_obj, "x");
  return dispatch_float(x, "x", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    check_c_contiguous(x, "x");
    if (x.ndim() < 2)
      throw py::value_error("x must have at least 2 dimensions (..., m, n), got shape " +
                            shape_str(x));
    const int64_t nd = x.ndim(), m = x.shape(nd - 2), n = x.shape(nd - 1);
    if (m > std::numeric_limits<int32_t>::max())
      throw py::value_error("x has " + std::to_string(m) +
                            " rows: more than int32 pivots can index");
    int64_t batch = 1;
    for (int64_t d = 0; d < nd - 2; ++d) batch *= x.shape(d);  // a product of real sizes
    auto* kernel =
        kernel_or_reference(lu_factor_device_stub<T>, x.device, reference, &ref::lu_factor<T>);
    std::vector<int64_t> lead(x.shape_.begin(), x.shape_.end() - 2);
    std::vector<int64_t> pshape = lead, mshape = lead;
    pshape.push_back(std::min(m, n));
    mshape.push_back(m);
    const ArrayArg lu = empty_on<T>(x.device, x.shape_);
    const ArrayArg piv = empty_on<int32_t>(x.device, pshape);
    const ArrayArg perm = empty_on<int64_t>(x.device, mshape);
    int64_t zero;
    {
      KernelScope nogil;
      zero =
          kernel(x.data<T>(), lu.data<T>(), piv.data<int32_t>(), perm.data<int64_t>(), batch, m, n);
    }
    return py::make_tuple(lu.owner, piv.owner, perm.owner, zero);
  });
}

}  // namespace

DC_BINDINGS(lu) {
  m.def("lu_factor", &lu_factor_entry, py::arg("x"), py::arg("reference") = false,
        "LU factorisation with partial pivoting of each (m, n) matrix of x (LAPACK's getrf): "
        "(lu, piv, perm, zero_pivots); see csrc/bindings/lu.cpp.");
}

}  // namespace dc
