// deepcore._C gather / scatter entries: validation, then csrc/scatter.h.
//
//   gather(x, axis, index) -> y                          (index's shape)
//   scatter(x, axis, index, src, reduce="assign", include_self=True) -> out
//       out = a copy of x with src scattered into it along axis; reduce 'assign', 'sum',
//       'prod', 'amax' or 'amin'; src has x's dtype and is 0-d (one value for every index)
//       or has index's rank with index.shape[d] <= src.shape[d] on every axis.
// x is float32, float64, int32 or int64 with at least one dimension; index is int64 with x's
// rank and index.shape[d] <= x.shape[d] on every axis but `axis` (PyTorch's rule). An index
// value outside [0, x.shape[axis]) is an IndexError naming it.
// `reference=True` runs the single-threaded kernels of csrc/ref/scatter_ref.cpp (for tests).
#include "scatter.h"

#include <algorithm>
#include <vector>

#include "bindings/checks.h"
#include "bindings/nn_checks.h"
#include "bindings/registry.h"

namespace dc {

namespace {

// Dispatch over the element types gather / scatter support.
template <typename F>
auto dispatch_gather_type(const ArrayArg& a, const char* name, F&& f) {
  if (dtype_is(a.dtype(), dtype_of<float>())) return f(float{});
  if (dtype_is(a.dtype(), dtype_of<double>())) return f(double{});
  if (dtype_is(a.dtype(), dtype_of<int64_t>())) return f(int64_t{});
  if (dtype_is(a.dtype(), dtype_of<int32_t>())) return f(int32_t{});
  throw py::type_error(std::string(name) +
                       " must have dtype float32, float64, int32 or int64, got " +
                       std::string(py::str(a.dtype())));
}

ScatterOp parse_reduce(const std::string& r) {
  static constexpr Choice<ScatterOp> kReduce[] = {{"assign", ScatterOp::assign},
                                                  {"sum", ScatterOp::sum},
                                                  {"prod", ScatterOp::prod},
                                                  {"amax", ScatterOp::max},
                                                  {"amin", ScatterOp::min}};
  return parse_choice(r, "reduce", kReduce);
}

// Offset tables of a C-contiguous array of shape `shape` (empty: a 0-d array broadcast to
// every element) along the index's (outer, m, inner) view around `axis`.
struct Table {
  std::vector<int64_t> base, off;
  Slices slices() const { return Slices{base.data(), off.data(), axis_stride}; }
  int64_t axis_stride = 0;
};

Table make_table(const std::vector<int64_t>& ishape, int64_t axis,
                 const std::vector<int64_t>& shape) {
  const int64_t nd = static_cast<int64_t>(ishape.size());
  std::vector<int64_t> st(nd, 0);
  if (!shape.empty()) {
    int64_t s = 1;
    for (int64_t d = nd - 1; d >= 0; --d) {
      st[d] = s;
      s *= shape[d];
    }
  }
  Table t;
  t.axis_stride = st[axis];
  // mixed-radix counters over ishape[lo:hi), the offset of each combination
  auto walk = [&](int64_t lo, int64_t hi, std::vector<int64_t>& out) {
    int64_t n = 1;
    for (int64_t d = lo; d < hi; ++d) n *= ishape[d];
    out.resize(n);
    std::vector<int64_t> c(hi - lo, 0);
    int64_t cur = 0;
    for (int64_t e = 0; e < n; ++e) {
      out[e] = cur;
      for (int64_t d = hi - 1; d >= lo; --d) {  // increment the counter, last axis fastest
        cur += st[d];
        if (++c[d - lo] < ishape[d]) break;
        cur -= st[d] * ishape[d];
        c[d - lo] = 0;
      }
    }
  };
  walk(0, axis, t.base);
  walk(axis + 1, nd, t.off);
  return t;
}

struct IndexArg {
  ArrayArg arr;
  std::vector<int64_t> shape;
  int64_t axis;
  GatherShape g;
};

// index: int64, C-contiguous, x's rank, no larger than x on the axes other than `axis`, on x's
// device.
IndexArg index_arg(const ArrayArg& x, int64_t axis_in, const py::handle& index_obj) {
  if (x.ndim() == 0) throw py::value_error("x must have at least 1 dimension");
  IndexArg a;
  a.axis = normalize_axis(axis_in, x.ndim(), "x");
  a.arr = input_arg<int64_t>(index_obj, "index");
  if (a.arr.ndim() != x.ndim())
    throw py::value_error("index must have x's number of dimensions (" + std::to_string(x.ndim()) +
                          "), got shape " + shape_str(a.arr));
  a.shape = a.arr.shape_;
  for (int64_t d = 0; d < x.ndim(); ++d)
    if (d != a.axis && a.shape[d] > x.shape(d))
      throw py::value_error("index " + shape_str(a.arr) + " is larger than x " + shape_str(x) +
                            " along axis " + std::to_string(d) + " (only axis " +
                            std::to_string(a.axis) + " may differ)");
  const AxisView v = axis_view(a.arr, a.axis);
  a.g = GatherShape{v.outer, v.n, v.inner, x.shape(a.axis)};
  return a;
}

[[noreturn]] void bad_index(int64_t bad, const IndexArg& a) {
  throw py::index_error("index " + std::to_string(bad) + " is out of bounds for axis " +
                        std::to_string(a.axis) + " with size " + std::to_string(a.g.len));
}

py::object gather_entry(const py::handle& x_obj, int64_t axis, const py::handle& index_obj,
                        bool reference) {
  const ArrayArg x = any_array_arg(x_obj, "x", "float32, float64, int32 or int64");
  return dispatch_gather_type(x, "x", [&](auto tag) -> py::object {
    using T = decltype(tag);
    check_c_contiguous(x, "x");
    const IndexArg a = index_arg(x, axis, index_obj);
    const Device dev = same_device({&x, &a.arr}, {"x", "index"});
    auto* kernel = kernel_or_reference(gather_device_stub<T>, dev, reference, &ref::gather<T>);
    const Table xt = make_table(a.shape, a.axis, shape_of(x));
    const ArrayArg y = empty_on<T>(dev, a.shape);
    const int64_t* ip = a.arr.data<int64_t>();
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    int64_t bad = 0;
    bool ok;
    {
      KernelScope nogil;
      ok = kernel(a.g, ip, xp, xt.slices(), yp, &bad);
    }
    if (!ok) bad_index(bad, a);
    return y.owner;
  });
}

// A copy of x on its device, by its library (NumPy, or CuPy).
template <typename T>
ArrayArg copy_of(const ArrayArg& x) {
  if (x.device == Device::cpu) {
    ArrayArg out = empty_on<T>(x.device, x.shape_);
    std::copy(x.data<T>(), x.data<T>() + x.size(), out.data<T>());
    return out;
  }
  ArrayArg out = empty_on<T>(x.device, x.shape_);  // (raises if CuPy is missing)
  out.owner.attr("__setitem__")(py::ellipsis(),
                                py::module_::import("cupy").attr("asarray")(x.owner));
  return out;
}

py::object scatter_entry(const py::handle& x_obj, int64_t axis, const py::handle& index_obj,
                         const py::handle& src_obj, const std::string& reduce, bool include_self,
                         bool reference) {
  const ScatterOp op = parse_reduce(reduce);
  const ArrayArg x = any_array_arg(x_obj, "x", "float32, float64, int32 or int64");
  return dispatch_gather_type(x, "x", [&](auto tag) -> py::object {
    using T = decltype(tag);
    check_c_contiguous(x, "x");
    const IndexArg a = index_arg(x, axis, index_obj);
    const ArrayArg src = input_arg<T>(src_obj, "src");
    if (src.ndim() != 0) {
      if (src.ndim() != x.ndim())
        throw py::value_error("src must be 0-d or have index's number of dimensions (" +
                              std::to_string(x.ndim()) + "), got shape " + shape_str(src));
      for (int64_t d = 0; d < src.ndim(); ++d)
        if (a.shape[d] > src.shape(d))
          throw py::value_error("index " + shape_str(a.arr) + " is larger than src " +
                                shape_str(src) + " along axis " + std::to_string(d));
    }
    const Device dev = same_device({&x, &a.arr, &src}, {"x", "index", "src"});
    auto* kernel = kernel_or_reference(scatter_device_stub<T>, dev, reference, &ref::scatter<T>);
    const Table st = make_table(a.shape, a.axis, shape_of(src));
    const Table ot = make_table(a.shape, a.axis, shape_of(x));
    const ArrayArg out = copy_of<T>(x);
    const int64_t* ip = a.arr.data<int64_t>();
    const T* sp = src.data<T>();
    T* op_ = out.data<T>();
    int64_t bad = 0;
    bool ok;
    {
      KernelScope nogil;
      ok = kernel(a.g, op, include_self, ip, sp, st.slices(), op_, ot.slices(), &bad);
    }
    if (!ok) bad_index(bad, a);
    return out.owner;
  });
}

// gather's backward: dx (input_shape) = zeros with dy scatter-added at index (one zero fill
// instead of a zero array copied into a new one).
py::object gather_backward_entry(const py::handle& dy_obj, int64_t axis,
                                 const py::handle& index_obj, const py::object& input_shape) {
  const ArrayArg dy = any_array_arg(dy_obj, "dy", "float32 or float64");
  return dispatch_float(dy, "dy", [&](auto tag) -> py::object {
    using T = decltype(tag);
    check_c_contiguous(dy, "dy");
    if (!py::isinstance<py::sequence>(input_shape) || py::isinstance<py::str>(input_shape))
      throw py::type_error("input_shape must be a tuple of ints");
    const auto seq = py::reinterpret_borrow<py::sequence>(input_shape);
    if (static_cast<int64_t>(seq.size()) != dy.ndim())
      throw py::value_error("input_shape must have dy's number of dimensions (" +
                            std::to_string(dy.ndim()) + ")");
    std::vector<int64_t> xs;
    int64_t bytes = 8;
    for (size_t d = 0; d < seq.size(); ++d) {
      const int64_t n = py_int64(seq[d], "input_shape[" + std::to_string(d) + "]");
      if (n < 0 || (n > 0 && mul_overflow(bytes, n, &bytes)))
        throw py::value_error("input_shape " + std::string(py::str(input_shape)) +
                              " is not the shape of an array that can exist");
      xs.push_back(n);
    }
    auto* kernel = gather_backward_device_stub<T>.get(dy.device);
    const ArrayArg dx = zeros_on<T>(dy.device, xs);
    const IndexArg a = index_arg(dx, axis, index_obj);
    same_device({&dy, &a.arr}, {"dy", "index"});
    if (shape_of(dy) != a.shape)
      throw py::value_error("dy must have index's shape " + shape_str(a.arr) + ", got " +
                            shape_str(dy));
    const Table st = make_table(a.shape, a.axis, shape_of(dy));
    const Table ot = make_table(a.shape, a.axis, shape_of(dx));
    const int64_t* ip = a.arr.data<int64_t>();
    const T* sp = dy.data<T>();
    T* op_ = dx.data<T>();
    int64_t bad = 0;
    bool ok;
    {
      KernelScope nogil;
      ok = kernel(a.g, ScatterOp::sum, true, ip, sp, st.slices(), op_, ot.slices(), &bad);
    }
    if (!ok) bad_index(bad, a);
    return dx.owner;
  });
}

}  // namespace

DC_BINDINGS(scatter) {
  m.def("gather_backward", &gather_backward_entry, py::arg("dy"), py::arg("axis"), py::arg("index"),
        py::arg("input_shape"),
        "dx of gather: zeros of input_shape with dy summed in at index along axis.");
  m.def("gather", &gather_entry, py::arg("x"), py::arg("axis"), py::arg("index"),
        py::arg("reference") = false,
        "y[..., i, ...] = x[..., index[..., i, ...], ...] along axis (PyTorch's gather).");
  m.def("scatter", &scatter_entry, py::arg("x"), py::arg("axis"), py::arg("index"), py::arg("src"),
        py::arg("reduce") = "assign", py::arg("include_self") = true, py::arg("reference") = false,
        "A copy of x with src scattered into it along axis at index, combined by reduce "
        "('assign', 'sum', 'prod', 'amax', 'amin'); PyTorch's scatter / scatter_reduce.");
}

}  // namespace dc
