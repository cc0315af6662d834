// deepcore._C.sgemm / dgemm / matmul: validation, then the device stubs of csrc/gemm.h
// ([Note: device dispatch]): NumPy arrays on the CPU, __cuda_array_interface__ arrays on CUDA.
#include "gemm.h"

#include <algorithm>
#include <vector>

#include "bindings/array_arg.h"
#include "bindings/checks.h"
#include "bindings/registry.h"

namespace dc {

namespace {

// The leading dimension of the matrix held in the last two axes of `a`: unit stride along its
// last axis, any row stride >= the number of columns (a row-major matrix, possibly with padded
// rows). Anything else (a transposed or column-strided view) is rejected with a hint rather
// than silently copied.
int64_t leading_dim(const ArrayArg& a, const char* name) {
  const int64_t nd = a.ndim();
  const int64_t item = a.itemsize();
  const int64_t rows = a.shape(nd - 2), cols = a.shape(nd - 1);
  if (a.size() == 0) return std::max<int64_t>(cols, 1);  // strides of an empty array are moot
  if (cols > 1 && a.strides(nd - 1) != item)
    throw py::value_error(std::string(name) +
                          " must have unit stride along its last axis (a row-major matrix, "
                          "possibly with padded rows); for a transposed view pass the original "
                          "array with trans_a/trans_b=True, or use np.ascontiguousarray");
  if (rows > 1 && (a.strides(nd - 2) % item != 0 || a.strides(nd - 2) / item < cols))
    throw py::value_error(std::string(name) +
                          " must have a row stride (second-to-last axis) >= its number of "
                          "columns; got strides " +
                          std::to_string(a.strides(nd - 2)) + " bytes for " + std::to_string(cols) +
                          " columns");
  return std::max<int64_t>(rows > 1 ? a.strides(nd - 2) / item : cols, 1);
}

std::string dims_str(int64_t r, int64_t c) {
  return "(" + std::to_string(r) + ", " + std::to_string(c) + ")";
}

template <typename T>
py::object gemm_entry(const py::handle& a_obj, const py::handle& b_obj, bool trans_a, bool trans_b,
                      double alpha, double beta, const py::object& out_obj) {
  const ArrayArg a = array_arg<T>(a_obj, "a");
  const ArrayArg b = array_arg<T>(b_obj, "b");
  const Device dev = same_device({&a, &b}, {"a", "b"});
  check_ndim(a, 2, "a");
  check_ndim(b, 2, "b");
  const int64_t lda = leading_dim(a, "a"), ldb = leading_dim(b, "b");
  const int64_t M = trans_a ? a.shape(1) : a.shape(0);
  const int64_t K = trans_a ? a.shape(0) : a.shape(1);
  const int64_t Kb = trans_b ? b.shape(1) : b.shape(0);
  const int64_t N = trans_b ? b.shape(0) : b.shape(1);
  if (K != Kb)
    throw py::value_error("inner dimensions of a and b do not match: op(a) is " + dims_str(M, K) +
                          " and op(b) is " + dims_str(Kb, N));
  ArrayArg out;
  if (out_obj.is_none()) {
    if (beta != 0.0) throw py::value_error("beta != 0 needs out= (the C being accumulated into)");
  } else {
    out = array_arg<T>(out_obj, "out");
    same_device({&a, &out}, {"a", "out"});
    check_shape(out, {M, N}, "out");
    check_writeable(out, "out");
    check_no_overlap(out, a, "out", "a");  // see [Note: out= aliasing]
    check_no_overlap(out, b, "out", "b");
  }
  auto* kernel = gemm_device_stub<T>.get(dev);  // an empty slot raises before any allocation
  if (out_obj.is_none()) out = empty_on(dev, {M, N}, a.dtype());
  const int64_t ldc = leading_dim(out, "out");
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  T* pc = out.data<T>();
  {
    KernelScope nogil;
    kernel(trans_a, trans_b, M, N, K, static_cast<T>(alpha), pa, lda, pb, ldb, static_cast<T>(beta),
           pc, ldc);
  }
  return out.owner;
}

// matmul over (..., M, K) @ (..., K, N) with NumPy broadcasting of the batch axes. Each
// operand's batch axes may have any stride (0 for a broadcast view); only the matrix itself
// needs a unit-stride last axis.
template <typename T>
py::object matmul_typed(const ArrayArg& a, const py::handle& b_obj, bool trans_a, bool trans_b,
                        const py::object& out_obj) {
  const ArrayArg b = any_array_arg(b_obj, "b", dtype_name<T>());
  check_same_dtype(b, a, "b", "a");
  const Device dev = same_device({&a, &b}, {"a", "b"});
  if (a.ndim() < 2)
    throw py::value_error("a must have at least 2 dimensions (..., rows, cols), got shape " +
                          shape_str(a));
  if (b.ndim() < 2)
    throw py::value_error("b must have at least 2 dimensions (..., rows, cols), got shape " +
                          shape_str(b));
  const int64_t nda = a.ndim(), ndb = b.ndim();
  const int64_t lda = leading_dim(a, "a"), ldb = leading_dim(b, "b");
  const int64_t M = trans_a ? a.shape(nda - 1) : a.shape(nda - 2);
  const int64_t K = trans_a ? a.shape(nda - 2) : a.shape(nda - 1);
  const int64_t Kb = trans_b ? b.shape(ndb - 1) : b.shape(ndb - 2);
  const int64_t N = trans_b ? b.shape(ndb - 2) : b.shape(ndb - 1);
  if (K != Kb)
    throw py::value_error("matmul: inner dimensions do not match: op(a) is " + dims_str(M, K) +
                          " (a has shape " + shape_str(a) + (trans_a ? ", trans_a" : "") +
                          ") and op(b) is " + dims_str(Kb, N) + " (b has shape " + shape_str(b) +
                          (trans_b ? ", trans_b" : "") + ")");

  // Broadcast the batch axes (right-aligned, NumPy rules) into element strides.
  const int64_t nbatch = std::max(nda, ndb) - 2;
  std::vector<int64_t> shape(nbatch + 2), sa(nbatch, 0), sb(nbatch, 0);
  for (int64_t d = 0; d < nbatch; ++d) {
    const int64_t da = d - (nbatch - (nda - 2)), db = d - (nbatch - (ndb - 2));
    const int64_t na = da >= 0 ? a.shape(da) : 1, nb = db >= 0 ? b.shape(db) : 1;
    if (na != nb && na != 1 && nb != 1)
      throw py::value_error("matmul: batch dimensions of a " + shape_str(a) + " and b " +
                            shape_str(b) + " cannot be broadcast together");
    shape[d] = na == 1 ? nb : na;
    if (na != 1) sa[d] = a.strides(da) / static_cast<int64_t>(sizeof(T));
    if (nb != 1) sb[d] = b.strides(db) / static_cast<int64_t>(sizeof(T));
    const auto item = static_cast<int64_t>(sizeof(T));
    if ((na != 1 && a.strides(da) % item) || (nb != 1 && b.strides(db) % item))
      throw py::value_error("matmul: a and b must have strides that are whole elements");
  }
  shape[nbatch] = M;
  shape[nbatch + 1] = N;
  int64_t batch = 1;
  for (int64_t d = 0; d < nbatch; ++d) batch *= shape[d];

  ArrayArg out;
  if (!out_obj.is_none()) {
    out = any_array_arg(out_obj, "out", dtype_name<T>());
    check_same_dtype(out, a, "out", "a");
    same_device({&a, &out}, {"a", "out"});
    bool ok = out.ndim() == static_cast<int64_t>(shape.size());
    for (size_t d = 0; ok && d < shape.size(); ++d) ok = out.shape(d) == shape[d];
    if (!ok)
      throw py::value_error("out must have shape " + shape_str(shape) + ", got " + shape_str(out));
    check_c_contiguous(out, "out");
    check_writeable(out, "out");
    check_no_overlap(out, a, "out", "a");  // see [Note: out= aliasing]
    check_no_overlap(out, b, "out", "b");
  }
  auto* kernel = gemm_batched_device_stub<T>.get(dev);  // an empty slot raises before allocating
  if (out_obj.is_none()) out = empty_on(dev, shape, a.dtype());
  if (out.size() == 0) return out.owner;

  // Element offsets of every batch entry of a and b (odometer over the broadcast batch shape).
  std::vector<int64_t> off_a(batch), off_b(batch), idx(nbatch, 0);
  int64_t oa = 0, ob = 0;
  for (int64_t i = 0; i < batch; ++i) {
    off_a[i] = oa;
    off_b[i] = ob;
    for (int64_t d = nbatch - 1; d >= 0; --d) {
      oa += sa[d];
      ob += sb[d];
      if (++idx[d] < shape[d]) break;
      oa -= sa[d] * shape[d];
      ob -= sb[d] * shape[d];
      idx[d] = 0;
    }
  }
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  T* pc = out.data<T>();
  {
    KernelScope nogil;
    kernel(trans_a, trans_b, M, N, K, pa, lda, off_a.data(), pb, ldb, off_b.data(), batch, pc);
  }
  return out.owner;
}

py::object matmul_entry(const py::handle& a_obj, const py::handle& b_obj, bool trans_a,
                        bool trans_b, const py::object& out_obj) {
  const ArrayArg a = any_array_arg(a_obj, "a", "float32 or float64");
  return dispatch_float(a, "a", [&](auto tag) -> py::object {
    using T = decltype(tag);
    return matmul_typed<T>(a, b_obj, trans_a, trans_b, out_obj);
  });
}

const char* const kPrecisionNames[] = {"highest", "high", "medium"};

// deepcore.set_matmul_precision: PyTorch's names, anything else a ValueError naming the argument
// ([Note: matmul precision] in gemm.h).
void set_precision_entry(const py::handle& value) {
  if (!py::isinstance<py::str>(value))
    throw py::type_error(std::string("precision must be a str ('highest', 'high' or 'medium'), "
                                     "got ") +
                         std::string(py::str(py::type::of(value).attr("__name__"))));
  const std::string name = value.cast<std::string>();
  for (int i = 0; i < 3; ++i)
    if (name == kPrecisionNames[i]) return set_matmul_precision(static_cast<MatmulPrecision>(i));
  throw py::value_error("precision must be 'highest', 'high' or 'medium', got '" + name + "'");
}

}  // namespace

DC_BINDINGS(gemm) {
  m.def("set_matmul_precision", &set_precision_entry, py::arg("precision"),
        "The internal precision of float32 matrix products on CUDA, process-wide, with "
        "PyTorch's names (torch.set_float32_matmul_precision): 'highest' fp32 (the default), "
        "'high' TF32 tensor cores, 'medium' BF16 tensor cores (both with fp32 accumulation, "
        "sm_80 or later). Products on the CPU always compute in fp32.");
  m.def(
      "get_matmul_precision",
      []() { return std::string(kPrecisionNames[static_cast<int>(matmul_precision())]); },
      "The current float32 matmul precision: 'highest', 'high' or 'medium'.");
  m.def("sgemm", &gemm_entry<float>, py::arg("a"), py::arg("b"), py::arg("trans_a") = false,
        py::arg("trans_b") = false, py::arg("alpha") = 1.0, py::arg("beta") = 0.0,
        py::arg("out") = py::none(),
        "C = alpha*op(a)@op(b) + beta*C in float32 (C is out=, or a new array when beta == 0).");
  m.def("dgemm", &gemm_entry<double>, py::arg("a"), py::arg("b"), py::arg("trans_a") = false,
        py::arg("trans_b") = false, py::arg("alpha") = 1.0, py::arg("beta") = 0.0,
        py::arg("out") = py::none(), "float64 twin of sgemm (portable kernel).");
  m.def("matmul", &matmul_entry, py::arg("a"), py::arg("b"), py::arg("trans_a") = false,
        py::arg("trans_b") = false, py::arg("out") = py::none(),
        "op(a) @ op(b) over the last two axes, NumPy broadcasting over the leading (batch) "
        "axes; a (..., M, K) or (..., K, M) with trans_a, b (..., K, N) or (..., N, K) with "
        "trans_b; float32 or float64 (both the same). Returns a new C-contiguous array, or "
        "writes into out= (C-contiguous, the broadcast shape).");
}

}  // namespace dc
