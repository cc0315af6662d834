// deepcore._C.sgemm / dgemm / matmul: validation, then csrc/gemm.h.
#include "bindings/checks.h"
#include "bindings/registry.h"
#include "gemm.h"

namespace dc {

namespace {

// A 2-D matrix view accepted by GEMM: unit stride along rows' elements, any row stride
// (the leading dimension). Anything else (a transposed or strided view) is rejected with a
// hint, rather than silently copied.
template <typename T>
int64_t leading_dim(const py::array& a, const char* name) {
  check_ndim(a, 2, name);
  const auto item = static_cast<py::ssize_t>(sizeof(T));
  if (a.shape(1) > 1 && a.strides(1) != item)
    throw py::value_error(std::string(name) +
                          " must have unit stride along its last axis (a row-major matrix, "
                          "possibly with padded rows); for a transposed view pass the original "
                          "array with trans_a/trans_b=True, or use np.ascontiguousarray");
  if (a.shape(0) > 1 && (a.strides(0) % item != 0 || a.strides(0) / item < a.shape(1)))
    throw py::value_error(std::string(name) + " must have a row stride >= its number of columns");
  return std::max<int64_t>(a.shape(0) > 1 ? a.strides(0) / item : a.shape(1), 1);
}

template <typename T>
py::array_t<T> gemm_entry(const py::handle& a_obj, const py::handle& b_obj, bool trans_a,
                          bool trans_b, double alpha, double beta, const py::object& out_obj) {
  auto a = as_array<T>(a_obj, "a");
  auto b = as_array<T>(b_obj, "b");
  const int64_t lda = leading_dim<T>(a, "a"), ldb = leading_dim<T>(b, "b");
  const int64_t M = trans_a ? a.shape(1) : a.shape(0);
  const int64_t K = trans_a ? a.shape(0) : a.shape(1);
  const int64_t Kb = trans_b ? b.shape(1) : b.shape(0);
  const int64_t N = trans_b ? b.shape(0) : b.shape(1);
  if (K != Kb)
    throw py::value_error("sgemm: inner dimensions do not match: op(a) is (" + std::to_string(M) +
                          ", " + std::to_string(K) + ") and op(b) is (" + std::to_string(Kb) +
                          ", " + std::to_string(N) + ")");
  py::array_t<T> out;
  if (out_obj.is_none()) {
    if (beta != 0.0) throw py::value_error("beta != 0 needs out= (the C being accumulated into)");
    out = py::array_t<T>({M, N});
  } else {
    out = as_array<T>(out_obj, "out");
    check_shape(out, {M, N}, "out");
    check_writeable(out, "out");
    if (may_share_memory(out, a) || may_share_memory(out, b))
      throw py::value_error("out must not overlap a or b");
  }
  const int64_t ldc = leading_dim<T>(out, "out");
  const T* pa = a.data();
  const T* pb = b.data();
  T* pc = out.mutable_data();
  {
    py::gil_scoped_release nogil;
    gemm<T>(trans_a, trans_b, M, N, K, static_cast<T>(alpha), pa, lda, pb, ldb,
            static_cast<T>(beta), pc, ldc);
  }
  return out;
}

}  // namespace

DC_BINDINGS(gemm) {
  m.def("sgemm", &gemm_entry<float>, py::arg("a"), py::arg("b"), py::arg("trans_a") = false,
        py::arg("trans_b") = false, py::arg("alpha") = 1.0, py::arg("beta") = 0.0,
        py::arg("out") = py::none(),
        "C = alpha*op(a)@op(b) + beta*C in float32 (C is out=, or a new array when beta == 0).");
  m.def("dgemm", &gemm_entry<double>, py::arg("a"), py::arg("b"), py::arg("trans_a") = false,
        py::arg("trans_b") = false, py::arg("alpha") = 1.0, py::arg("beta") = 0.0,
        py::arg("out") = py::none(), "float64 twin of sgemm (portable kernel).");
}

}  // namespace dc
