// Input validation for the binding layer. Kernels trust their inputs; every check happens here,
// with a message that names the argument and what was wrong.
//   auto a = as_array<float>(a_obj, "a");           // dtype float32, else TypeError
//   check_ndim(a, 2, "a"); check_c_contiguous(a, "a"); check_shape(out, {m, n}, "out");
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

namespace dc {
namespace py = pybind11;

template <typename T>
const char* dtype_name() {
  if constexpr (std::is_same_v<T, float>) return "float32";
  if constexpr (std::is_same_v<T, double>) return "float64";
  if constexpr (std::is_same_v<T, int64_t>) return "int64";
  if constexpr (std::is_same_v<T, int32_t>) return "int32";
  if constexpr (std::is_same_v<T, uint8_t>) return "uint8";
  return "?";
}

inline std::string shape_str(const py::array& a) {
  std::ostringstream s;
  s << "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s << (i ? ", " : "") << a.shape(i);
  if (a.ndim() == 1) s << ",";
  s << ")";
  return s.str();
}

inline std::string shape_str(const std::vector<int64_t>& shape) {
  std::ostringstream s;
  s << "(";
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  if (shape.size() == 1) s << ",";
  s << ")";
  return s.str();
}

// [Note: dtype identity] Two dtypes are the same when NumPy says they are equivalent, not
// only when they are the same object: an array that crossed a pickle (a multiprocessing
// worker's batch, a joblib cache) carries its own float32 descriptor, which is not NumPy's
// canonical one. The identity test is only the fast path. (Byte-swapped dtypes are not
// equivalent to native ones, so they are still refused.)
inline bool dtype_is(const py::dtype& a, const py::dtype& b) { return a.is(b) || a.equal(b); }

// NumPy's descriptor of T, looked up once per process: py::dtype::of<T>() is a C-API call and
// a new reference (an incref and a decref) each time, and the bindings compare or allocate
// with it for every array argument of every call. Kept for the life of the process on purpose
// (a static py::dtype would be released after the interpreter is gone).
template <typename T>
const py::dtype& dtype_of() {
  static const py::dtype* const d = new py::dtype(py::dtype::of<T>());
  return *d;
}

// Require a NumPy array of exactly dtype T (no silent conversion: a float64 array passed to a
// float32 kernel is a bug at the call site, not something to copy behind the user's back).
template <typename T>
py::array_t<T> as_array(const py::handle& obj, const char* name) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(std::string(name) + " must be a numpy array of " + dtype_name<T>() +
                         ", got " + std::string(py::str(py::type::of(obj).attr("__name__"))));
  py::array a = py::reinterpret_borrow<py::array>(obj);
  if (!dtype_is(a.dtype(), dtype_of<T>()))
    throw py::type_error(std::string(name) + " must have dtype " + dtype_name<T>() + ", got " +
                         std::string(py::str(a.dtype())));
  return py::reinterpret_borrow<py::array_t<T>>(a);
}

// The checks below take a py::array or an ArrayArg (bindings/array_arg.h).
template <typename A>
void check_ndim(const A& a, py::ssize_t ndim, const char* name) {
  if (a.ndim() != ndim)
    throw py::value_error(std::string(name) + " must be " + std::to_string(ndim) +
                          "-dimensional, got shape " + shape_str(a));
}

// "x must be 4-dimensional (N, C, H, W), got shape (3, 4)"
template <typename A>
void check_rank(const A& a, int ndim, const char* name, const char* layout) {
  if (a.ndim() != ndim)
    throw py::value_error(std::string(name) + " must be " + std::to_string(ndim) + "-dimensional " +
                          layout + ", got shape " + shape_str(a));
}

inline bool is_c_contiguous(const py::array& a) { return a.flags() & py::array::c_style; }

template <typename A>
void check_c_contiguous(const A& a, const char* name) {
  if (!is_c_contiguous(a))
    throw py::value_error(std::string(name) +
                          " must be C-contiguous (use np.ascontiguousarray); got strides that "
                          "are not row-major contiguous");
}

template <typename A>
void check_writeable(const A& a, const char* name) {
  if (!a.writeable()) throw py::value_error(std::string(name) + " must be writeable");
}

template <typename A>
void check_shape(const A& a, std::initializer_list<int64_t> shape, const char* name) {
  std::vector<int64_t> want(shape);
  bool ok = a.ndim() == static_cast<py::ssize_t>(want.size());
  for (size_t i = 0; ok && i < want.size(); ++i) ok = a.shape(i) == want[i];
  if (!ok)
    throw py::value_error(std::string(name) + " must have shape " + shape_str(want) + ", got " +
                          shape_str(a));
}

// A string argument naming one of a fixed set of choices, as its enum value; anything else is
// a ValueError listing them ("mode must be 'a', 'b' or 'c', got 'x'"). One table per argument:
//   constexpr Choice<ScanOp> kOps[] = {{"sum", ScanOp::sum}, ...};
//   const ScanOp op = parse_choice(op_s, "op", kOps);
template <typename E>
struct Choice {
  const char* name;
  E value;
};

template <typename E, size_t N>
E parse_choice(const std::string& s, const char* what, const Choice<E> (&choices)[N]) {
  for (const auto& c : choices)
    if (s == c.name) return c.value;
  std::string names;
  for (size_t i = 0; i < N; ++i)
    names += std::string(i == 0 ? "" : i + 1 == N ? " or " : ", ") + "'" + choices[i].name + "'";
  throw py::value_error(std::string(what) + " must be " + names + ", got '" + s + "'");
}

// [Note: checked integers]
// Integers from Python (sizes, strides, paddings, ...) become int64_t in one place, py_int64,
// and every size a binding derives from them is computed with mul_overflow / add_overflow, so
// the error is raised once, at the boundary, and a kernel never sees a value that wrapped.
// Messages name the argument and show the value as the caller gave it, never a wrapped one.

// The Python int of an int-like argument (operator.index); a bool or a non-integer (float,
// str, ...) is a TypeError naming it.
inline py::object py_index(const py::handle& obj, const std::string& name) {
  if (py::isinstance<py::bool_>(obj)) throw py::type_error(name + " must be an int, got bool");
  if (!PyIndex_Check(obj.ptr()))
    throw py::type_error(name + " must be an int, got " +
                         std::string(py::str(py::type::of(obj).attr("__name__"))));
  auto value = py::reinterpret_steal<py::object>(PyNumber_Index(obj.ptr()));
  if (!value) throw py::error_already_set();
  return value;
}

// The common case of py_int64: a plain int (not a bool, not a NumPy integer) in range, read
// without the operator.index call and checks; false (no Python error set) otherwise.
inline bool exact_int64(const py::handle& obj, int64_t* out) {
  if (!PyLong_CheckExact(obj.ptr())) return false;
  int overflow = 0;
  const long long v = PyLong_AsLongLongAndOverflow(obj.ptr(), &overflow);
  if (overflow != 0 || (v == -1 && PyErr_Occurred())) {
    PyErr_Clear();  // the general path raises the error with its message
    return false;
  }
  *out = static_cast<int64_t>(v);
  return true;
}

// A Python int or NumPy integer as int64_t: TypeError as py_index; an integer outside
// [-2**63, 2**63) a ValueError.
inline int64_t py_int64(const py::handle& obj, const std::string& name) {
  int64_t fast;
  if (exact_int64(obj, &fast)) return fast;
  const auto value = py_index(obj, name);
  int overflow = 0;
  const long long v = PyLong_AsLongLongAndOverflow(value.ptr(), &overflow);
  if (overflow != 0)
    throw py::value_error(name + " is out of range (it must fit in a signed 64-bit integer), got " +
                          std::string(py::str(value)));
  if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
  return static_cast<int64_t>(v);
}

// py_int64 of element i of the sequence argument `name`: "name[i]" is only spelled out for an
// error (arguments such as widths and strides are parsed on every call).
inline int64_t py_int64_at(const py::handle& obj, const std::string& name, size_t i) {
  int64_t v;
  if (exact_int64(obj, &v)) return v;
  return py_int64(obj, name + "[" + std::to_string(i) + "]");
}

// A Python int or NumPy integer as uint64_t (hash keys): TypeError as py_int64, an integer
// outside [0, 2**64) a ValueError.
inline uint64_t py_uint64(const py::handle& obj, const std::string& name) {
  const auto value = py_index(obj, name);
  const unsigned long long v = PyLong_AsUnsignedLongLong(value.ptr());
  if (PyErr_Occurred()) {
    PyErr_Clear();
    throw py::value_error(name + " must be an integer in [0, 2**64), got " +
                          std::string(py::str(value)));
  }
  return static_cast<uint64_t>(v);
}

// *out = a * b (a + b); true when the exact result does not fit in int64_t.
[[nodiscard]] inline bool mul_overflow(int64_t a, int64_t b, int64_t* out) {
  return __builtin_mul_overflow(a, b, out);
}
[[nodiscard]] inline bool add_overflow(int64_t a, int64_t b, int64_t* out) {
  return __builtin_add_overflow(a, b, out);
}

inline std::string repr_str(const py::handle& obj) { return std::string(py::str(py::repr(obj))); }

// *n = the element count of an array of this shape (dims >= 0); false when its size in bytes
// for the widest dtype (8 bytes) would not fit in 64 bits, which NumPy would refuse.
[[nodiscard]] inline bool numel_fits(const std::vector<int64_t>& shape, int64_t* n) {
  int64_t bytes = 8;
  bool empty = false;
  for (int64_t d : shape)
    if (d == 0)
      empty = true;
    else if (mul_overflow(bytes, d, &bytes))
      return false;
  *n = empty ? 0 : bytes / 8;
  return true;
}

// A shape given as a sequence of `ndim` non-negative ints, whose array could exist.
inline std::vector<int64_t> shape_arg(const py::handle& obj, size_t ndim, const char* name) {
  if (!py::isinstance<py::sequence>(obj) || py::isinstance<py::str>(obj))
    throw py::type_error(std::string(name) + " must be a tuple of ints, got " +
                         std::string(py::str(py::type::of(obj).attr("__name__"))));
  auto seq = py::reinterpret_borrow<py::sequence>(obj);
  if (seq.size() != ndim)
    throw py::value_error(std::string(name) + " must have " + std::to_string(ndim) +
                          " entries, got " + repr_str(obj));
  std::vector<int64_t> v;
  for (size_t i = 0; i < ndim; ++i) v.push_back(py_int64_at(seq[i], name, i));
  for (int64_t e : v)
    if (e < 0) throw py::value_error(std::string(name) + " must be non-negative: " + shape_str(v));
  int64_t n;
  if (!numel_fits(v, &n))
    throw py::value_error(std::string(name) + " " + shape_str(v) +
                          " is too large: its size in bytes does not fit in a 64-bit integer");
  return v;
}

inline py::tuple to_tuple(const std::vector<int64_t>& v) {
  py::tuple t(v.size());
  for (size_t i = 0; i < v.size(); ++i) t[i] = py::int_(v[i]);
  return t;
}

// [Note: out= aliasing]
// A kernel that writes an output while it still reads an input gives wrong values when the two
// share memory in any way other than the ones it was written for, and does so silently (a
// shifted view, out=x of another shape, one thread's writes landing in another's reads). So
// every binding that takes out= (or updates an array in place) checks its writes against its
// reads here, once, at the boundary. The rule:
//  - exact aliasing (out IS the input: same first byte, same shape and strides) is allowed
//    where the kernel reads element i of that input only before it writes element i of the
//    output, or reduces a whole row of it before writing that row: the element-wise maps
//    (activations, bias_add), softmax and its backward, cross-entropy backward's logits. Their
//    docstrings say "out may be x";
//  - any other overlap is a ValueError naming both arguments, and kernels whose output has a
//    different shape or whose reads span other elements (pooling, GEMM, the batch-norm running
//    statistics, optimizer states) refuse even exact aliasing.
// Overlap is judged on the byte ranges the two views can touch: conservative (two strided views
// whose elements interleave without meeting count as overlapping), never letting one through.
struct ByteRange {
  uintptr_t lo = 0, hi = 0;  // [lo, hi); empty when lo == hi
};
template <typename A>
ByteRange byte_range(const A& a) {
  ByteRange r;
  if (a.size() == 0) return r;
  intptr_t lo = 0, hi = 0;
  for (py::ssize_t d = 0; d < a.ndim(); ++d) {
    const intptr_t span = static_cast<intptr_t>(a.strides(d)) * (a.shape(d) - 1);
    (span < 0 ? lo : hi) += span;
  }
  const auto base = reinterpret_cast<uintptr_t>(a.data());
  r.lo = base + lo;
  r.hi = base + hi + static_cast<uintptr_t>(a.itemsize());
  return r;
}

inline bool ranges_overlap(const ByteRange& a, const ByteRange& b) {
  return a.lo < a.hi && b.lo < b.hi && a.lo < b.hi && b.lo < a.hi;
}

// Two arrays can touch a common byte.
template <typename A, typename B>
bool may_share_memory(const A& a, const B& b) {
  return ranges_overlap(byte_range(a), byte_range(b));
}

// a and b are the same view of the same memory (same start, dtype, shape and strides).
template <typename A, typename B>
bool same_view(const A& a, const B& b) {
  if (static_cast<const void*>(a.data()) != static_cast<const void*>(b.data()) ||
      a.ndim() != b.ndim() || !dtype_is(a.dtype(), b.dtype()))
    return false;
  for (py::ssize_t d = 0; d < a.ndim(); ++d)
    if (a.shape(d) != b.shape(d) || (a.shape(d) > 1 && a.strides(d) != b.strides(d))) return false;
  return true;
}

enum class Alias { refuse, exact_ok };

// The one overlap check of [Note: out= aliasing]: `out` (written) against `in` (read).
template <typename A, typename B>
void check_no_overlap(const A& out, const B& in, const char* out_name, const char* in_name,
                      Alias alias = Alias::refuse) {
  if (!may_share_memory(out, in)) return;
  if (alias == Alias::exact_ok) {
    if (same_view(out, in)) return;
    throw py::value_error(std::string(out_name) + " partially overlaps " + in_name +
                          "; pass a separate array, or " + in_name + " itself to compute in place");
  }
  throw py::value_error(std::string(out_name) + " must not overlap " + in_name);
}

}  // namespace dc

namespace dc {

// [Note: dtype dispatch] Turn a runtime dtype into a template instantiation once, at the
// boundary:   return dispatch_float(x, "x", [&](auto tag) { using T = decltype(tag); ... });
// A is py::array or ArrayArg (bindings/array_arg.h).
template <typename A, typename F>
auto dispatch_float(const A& a, const char* name, F&& f) {
  if (dtype_is(a.dtype(), dtype_of<float>())) return f(float{});
  if (dtype_is(a.dtype(), dtype_of<double>())) return f(double{});
  throw py::type_error(std::string(name) + " must have dtype float32 or float64, got " +
                       std::string(py::str(a.dtype())));
}

// Same dtype as a reference array (all operands of a kernel share one dtype).
template <typename A, typename B>
void check_same_dtype(const A& a, const B& ref, const char* name, const char* ref_name) {
  if (!dtype_is(a.dtype(), ref.dtype()))
    throw py::type_error(std::string(name) + " has dtype " + std::string(py::str(a.dtype())) +
                         " but " + ref_name + " has " + std::string(py::str(ref.dtype())));
}

}  // namespace dc
