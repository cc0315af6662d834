// ArrayArg: the one argument type of a device-aware binding ([Note: device dispatch] in
// core/device_dispatch.h). It accepts a NumPy array (device cpu) or any object exposing
// `__cuda_array_interface__` (CuPy, PyTorch CUDA tensors, Numba; device cuda) and carries what a
// kernel needs: pointer, shape, byte strides, dtype, device. Outputs are allocated with the
// library of the inputs (empty_on): NumPy for cpu, CuPy (imported only then) for cuda.
//   ArrayArg x = array_arg<float>(x_obj, "x");     // same TypeErrors as checks.h's as_array
//   same_device({&x, &y}, {"x", "y"});             // mixed devices: ValueError
//   auto* fn = axpy_device_stub<float>.get(x.device);  // NotImplementedError for an empty slot
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "bindings/checks.h"
#include "core/device_dispatch.h"

namespace dc {

// A shape or strides: up to kInline extents stored inline (no allocation for the usual ranks:
// an ArrayArg is made for every array of every call, and a heap vector per extent list cost
// ~100 ns a call), more on the heap.
class Dims {
 public:
  static constexpr size_t kInline = 8;
  Dims() = default;
  Dims(std::initializer_list<int64_t> v) { assign(v.begin(), v.end()); }
  Dims(const std::vector<int64_t>& v) { assign(v.begin(), v.end()); }  // NOLINT: implicit
  template <typename It>
  void assign(It b, It e) {
    clear();
    for (; b != e; ++b) push_back(static_cast<int64_t>(*b));
  }
  void assign(size_t n, int64_t v) {
    clear();
    for (size_t i = 0; i < n; ++i) push_back(v);
  }
  void push_back(int64_t v) {
    if (n_ < kInline) {
      inline_[n_] = v;
    } else {
      if (n_ == kInline) heap_.assign(inline_, inline_ + kInline);
      heap_.push_back(v);
    }
    ++n_;
  }
  void clear() {
    n_ = 0;
    heap_.clear();
  }
  size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  const int64_t* data() const { return n_ > kInline ? heap_.data() : inline_; }
  int64_t* data() { return n_ > kInline ? heap_.data() : inline_; }
  int64_t operator[](size_t i) const { return data()[i]; }
  int64_t& operator[](size_t i) { return data()[i]; }
  const int64_t* begin() const { return data(); }
  const int64_t* end() const { return data() + n_; }
  operator std::vector<int64_t>() const { return std::vector<int64_t>(begin(), end()); }
  bool operator==(const Dims& o) const {
    return n_ == o.n_ && std::equal(begin(), end(), o.begin());
  }
  bool operator!=(const Dims& o) const { return !(*this == o); }

 private:
  size_t n_ = 0;
  int64_t inline_[kInline] = {};
  std::vector<int64_t> heap_;
};

inline std::string shape_str(const Dims& d) { return shape_str(std::vector<int64_t>(d)); }

struct ArrayArg {
  py::object owner;  // keeps the array alive while the kernel runs; returned for outputs
  void* ptr = nullptr;
  // strides in bytes. A default ArrayArg (an optional argument left out) is absent: no owner,
  // size 0; same_device skips it and it overlaps nothing.
  Dims shape_, strides_;
  py::dtype dtype_;
  Device device = Device::cpu;
  bool readonly = false;
  uintptr_t stream = 0;  // a CUDA array's __cuda_array_interface__ 'stream' (0: none named)

  int64_t ndim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t shape(int64_t d) const { return shape_[d]; }
  int64_t strides(int64_t d) const { return strides_[d]; }
  const py::dtype& dtype() const { return dtype_; }
  int64_t itemsize() const { return dtype_.itemsize(); }
  int64_t size() const {
    if (!owner) return 0;  // absent
    int64_t n = 1;
    for (int64_t s : shape_) n *= s;
    return n;
  }
  bool writeable() const { return !readonly; }
  bool present() const { return static_cast<bool>(owner); }
  void* data() const { return ptr; }  // (as py::array: the checks of checks.h take either)
  template <typename T>
  T* data() const {
    return static_cast<T*>(ptr);
  }
  bool c_contiguous() const {  // as NumPy's flag: an empty array is contiguous
    if (size() == 0) return true;
    int64_t expect = itemsize();
    for (int64_t d = ndim() - 1; d >= 0; --d) {
      if (shape_[d] != 1 && strides_[d] != expect) return false;
      expect *= shape_[d];
    }
    return true;
  }
};

inline std::string shape_str(const ArrayArg& a) { return shape_str(a.shape_); }
inline bool is_c_contiguous(const ArrayArg& a) { return a.c_contiguous(); }
inline std::vector<int64_t> shape_of(const ArrayArg& a) { return a.shape_; }

inline std::string type_name(const py::handle& obj) {
  return std::string(py::str(py::type::of(obj).attr("__name__")));
}

inline ArrayArg from_numpy(const py::array& a) {
  ArrayArg r;
  r.owner = a;
  r.ptr = const_cast<void*>(a.data());
  r.shape_.assign(a.shape(), a.shape() + a.ndim());
  r.strides_.assign(a.strides(), a.strides() + a.ndim());
  r.dtype_ = a.dtype();
  r.readonly = !a.writeable();
  return r;
}

// The __cuda_array_interface__ (version 2 or 3) of obj, validated: every error names `name`.
inline ArrayArg from_cuda_interface(const py::handle& obj, const py::object& cai,
                                    const char* name) {
  const std::string bad = std::string(name) + " has an invalid __cuda_array_interface__: ";
  if (!py::isinstance<py::dict>(cai)) throw py::value_error(bad + "not a dict");
  const auto d = py::reinterpret_borrow<py::dict>(cai);
  for (const char* key : {"shape", "typestr", "data"})
    if (!d.contains(key)) throw py::value_error(bad + "no '" + key + "'");
  if (d.contains("mask") && !d["mask"].is_none())
    throw py::value_error(std::string(name) + ": masked CUDA arrays are not supported");
  ArrayArg r;
  r.owner = py::reinterpret_borrow<py::object>(obj);
  r.device = Device::cuda;
  r.shape_.clear();
  r.strides_.clear();
  try {
    r.dtype_ = py::dtype(py::cast<std::string>(d["typestr"]));
    for (const auto& s : py::cast<py::tuple>(d["shape"])) r.shape_.push_back(py::cast<int64_t>(s));
    const auto data = py::cast<py::tuple>(d["data"]);
    if (data.size() != 2) throw py::value_error(bad + "'data' must be (pointer, read_only)");
    r.ptr = reinterpret_cast<void*>(py::cast<uintptr_t>(data[0]));
    r.readonly = py::cast<bool>(data[1]);
    if (d.contains("stream") && !d["stream"].is_none()) {
      // [Note: CUDA stream of a call] in core/device_dispatch.h; 0 is disallowed by the
      // interface (ambiguous between the legacy and the per-thread default stream)
      r.stream = py::cast<uintptr_t>(d["stream"]);
      if (r.stream == 0) throw py::value_error(bad + "'stream' must not be 0");
    }
    if (d.contains("strides") && !d["strides"].is_none())
      for (const auto& s : py::cast<py::tuple>(d["strides"]))
        r.strides_.push_back(py::cast<int64_t>(s));
  } catch (const py::error_already_set& e) {
    throw py::value_error(bad + e.what());
  } catch (const py::cast_error& e) {
    throw py::value_error(bad + e.what());
  }
  int64_t elems = 1;
  for (int64_t s : r.shape_) {
    if (s < 0) throw py::value_error(bad + "negative extent in shape " + shape_str(r.shape_));
    if (s > 0 && elems > (int64_t(1) << 48) / s)
      throw py::value_error(bad + "shape " + shape_str(r.shape_) + " is too large");
    elems *= s;
  }
  if (r.strides_.empty()) {  // None: C-contiguous
    r.strides_.assign(r.shape_.size(), 0);
    int64_t step = r.itemsize();
    for (int64_t i = r.ndim() - 1; i >= 0; --i) {
      r.strides_[i] = step;
      step *= r.shape_[i];
    }
  } else if (r.strides_.size() != r.shape_.size()) {
    throw py::value_error(bad + "strides and shape have different lengths");
  }
  if (r.ptr == nullptr && r.size() > 0) throw py::value_error(bad + "null data pointer");
  set_cuda_call_stream(r.stream);
  return r;
}

// Any array argument: a NumPy array, else an object with __cuda_array_interface__, else the
// TypeError of checks.h ("<name> must be a numpy array of <what>, got <type>").
inline ArrayArg any_array_arg(const py::handle& obj, const char* name, const char* what) {
  if (py::isinstance<py::array>(obj)) return from_numpy(py::reinterpret_borrow<py::array>(obj));
  if (!obj.is_none() && py::hasattr(obj, "__cuda_array_interface__"))
    return from_cuda_interface(obj, obj.attr("__cuda_array_interface__"), name);
  throw py::type_error(std::string(name) + " must be a numpy array of " + what + ", got " +
                       type_name(obj));
}

// Any array argument, any dtype (the op's dtype dispatch checks it): "<name> must be a numpy
// array, got <type>" otherwise (checks.h's wording for such arguments).
inline ArrayArg any_array_arg(const py::handle& obj, const char* name) {
  if (py::isinstance<py::array>(obj)) return from_numpy(py::reinterpret_borrow<py::array>(obj));
  if (!obj.is_none() && py::hasattr(obj, "__cuda_array_interface__"))
    return from_cuda_interface(obj, obj.attr("__cuda_array_interface__"), name);
  throw py::type_error(std::string(name) + " must be a numpy array, got " + type_name(obj));
}

// An array argument of exactly dtype T (as checks.h's as_array, on either device).
template <typename T>
ArrayArg array_arg(const py::handle& obj, const char* name) {
  ArrayArg a = any_array_arg(obj, name, dtype_name<T>());
  if (!dtype_is(a.dtype(), dtype_of<T>()))
    throw py::type_error(std::string(name) + " must have dtype " + dtype_name<T>() + ", got " +
                         std::string(py::str(a.dtype())));
  return a;
}

// An array argument of exactly dtype T, C-contiguous: the ArrayArg twin of nn_checks.h's
// contiguous_input (which the NumPy-only reference entries use), with the same messages.
template <typename T>
ArrayArg input_arg(const py::handle& obj, const char* name) {
  ArrayArg a = array_arg<T>(obj, name);
  check_c_contiguous(a, name);
  return a;
}

// All of an op's arrays on one device; returns it (the first's). Mixed devices: ValueError
// naming both. Optional arguments left out (default ArrayArgs) are skipped.
inline Device same_device(std::initializer_list<const ArrayArg*> args,
                          std::initializer_list<const char*> names) {
  const ArrayArg* first = *args.begin();
  const char* first_name = *names.begin();
  auto name = names.begin();
  for (const ArrayArg* a : args) {
    if (a->present() && a->device != first->device)
      throw py::value_error(std::string(*name) + " is on " + device_name(a->device) + " but " +
                            first_name + " is on " + device_name(first->device) +
                            " (all arrays of one call must be on the same device)");
    ++name;
  }
  return first->device;
}

// A new C-contiguous array on `device` from the library of the inputs (NumPy, or CuPy), of
// shape shape[0..ndim). A NumPy array is made by one PyArray_NewFromDescr call that lets NumPy
// compute the strides: no shape or strides vectors to allocate (py::array's constructor copies
// both into new vectors: two allocations per output of every small call).
inline ArrayArg empty_on(Device device, const int64_t* shape, size_t ndim, const py::dtype& dtype) {
  if (device == Device::cpu) {
    const auto& api = py::detail::npy_api::get();
    PyObject* a = api.PyArray_NewFromDescr_(api.PyArray_Type_, dtype.inc_ref().ptr(),
                                            static_cast<int>(ndim), shape, nullptr, nullptr, 0,
                                            nullptr);  // steals the dtype reference
    if (!a) throw py::error_already_set();
    return from_numpy(py::reinterpret_steal<py::array>(a));
  }
  py::module_ cupy;
  try {
    cupy = py::module_::import("cupy");
  } catch (const py::error_already_set&) {
    throw py::type_error(
        "allocating a CUDA output needs CuPy (pip install deepcore[cuda]), which is not "
        "importable");
  }
  py::tuple shp(ndim);
  for (size_t i = 0; i < ndim; ++i) shp[i] = shape[i];
  py::object out = cupy.attr("empty")(shp, py::arg("dtype") = dtype);
  return from_cuda_interface(out, out.attr("__cuda_array_interface__"), "out");
}
inline ArrayArg empty_on(Device device, const std::vector<int64_t>& shape, const py::dtype& dtype) {
  return empty_on(device, shape.data(), shape.size(), dtype);
}
template <typename T>
ArrayArg empty_on(Device device, const std::vector<int64_t>& shape) {
  return empty_on(device, shape, dtype_of<T>());
}

// As empty_on, filled with zeros (for outputs a kernel accumulates into).
template <typename T>
ArrayArg zeros_on(Device device, const std::vector<int64_t>& shape) {
  ArrayArg a = empty_on<T>(device, shape);
  if (device == Device::cpu)
    std::fill_n(a.data<T>(), a.size(), T(0));
  else
    a.owner.attr("fill")(0);
  return a;
}

// The result array on the device of `in` (an input of the call, named in_name): a new one, or
// `out` (dtype T, the exact shape, C-contiguous, writeable, on in's device). Look the kernel up
// before calling this (an empty slot raises first).
template <typename T>
ArrayArg result_arg(const py::handle& out, const std::vector<int64_t>& shape, const char* name,
                    const ArrayArg& in, const char* in_name) {
  if (out.is_none()) return empty_on<T>(in.device, shape);
  ArrayArg a = array_arg<T>(out, name);
  same_device({&in, &a}, {in_name, name});
  if (shape_of(a) != shape)
    throw py::value_error(std::string(name) + " must have shape " + shape_str(shape) + ", got " +
                          shape_str(a));
  check_c_contiguous(a, name);
  check_writeable(a, name);
  return a;
}

}  // namespace dc
