// deepcore._C.optim_step / grad_norms / scale_clamp_: validation, then csrc/optim.h.
// One call steps every tensor of a parameter group with the GIL released once (the Python
// optimizer loops over groups, never over tensors' elements).
#include "optim.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "bindings/array_arg.h"
#include "bindings/checks.h"
#include "bindings/registry.h"

namespace dc {

namespace {

OptimKind parse_kind(const std::string& kind) {
  static constexpr Choice<OptimKind> kKinds[] = {
      {"sgd", OptimKind::sgd},         {"adagrad", OptimKind::adagrad},
      {"rmsprop", OptimKind::rmsprop}, {"adadelta", OptimKind::adadelta},
      {"adam", OptimKind::adam},       {"nadam", OptimKind::nadam}};
  return parse_choice(kind, "kind", kKinds);
}

double get_double(const py::dict& d, const char* key, double dflt) {
  if (!d.contains(key)) return dflt;
  py::object v = d[key];
  if (v.is_none()) return dflt;
  double x;
  try {
    x = v.cast<double>();
  } catch (const py::cast_error&) {
    throw py::type_error(std::string("hyperparameter '") + key + "' must be a number, got " +
                         std::string(py::str(py::type::of(v).attr("__name__"))));
  }
  if (!std::isfinite(x))
    throw py::value_error(std::string("hyperparameter '") + key + "' must be finite, got " +
                          std::to_string(x));
  return x;
}

bool get_bool(const py::dict& d, const char* key, bool dflt) {
  if (!d.contains(key)) return dflt;
  py::object v = d[key];
  return v.is_none() ? dflt : static_cast<bool>(py::bool_(v));
}

OptimHyper parse_hyper(const py::dict& d) {
  OptimHyper h;
  h.lr = get_double(d, "lr", h.lr);
  h.weight_decay = get_double(d, "weight_decay", h.weight_decay);
  h.decoupled_weight_decay = get_bool(d, "decoupled_weight_decay", h.decoupled_weight_decay);
  h.clip_value = get_double(d, "clipvalue", h.clip_value);
  h.momentum = get_double(d, "momentum", h.momentum);
  h.dampening = get_double(d, "dampening", h.dampening);
  h.nesterov = get_bool(d, "nesterov", h.nesterov);
  h.beta1 = get_double(d, "beta_1", h.beta1);
  h.beta2 = get_double(d, "beta_2", get_double(d, "rho", h.beta2));
  h.eps = get_double(d, "eps", h.eps);
  h.amsgrad = get_bool(d, "amsgrad", h.amsgrad);
  h.centered = get_bool(d, "centered", h.centered);
  h.eps_inside_sqrt = get_bool(d, "eps_inside_sqrt", h.eps_inside_sqrt);
  h.lr_decay = get_double(d, "lr_decay", h.lr_decay);
  h.momentum_decay = get_double(d, "momentum_decay", h.momentum_decay);
  if (h.lr < 0) throw py::value_error("lr must be >= 0, got " + std::to_string(h.lr));
  if (h.clip_value < 0)
    throw py::value_error("clipvalue must be > 0 (or None), got " + std::to_string(h.clip_value));
  return h;
}

// Number of state arrays the kernel of `kind` reads (see the table in csrc/optim.h).
size_t state_count(OptimKind kind, const OptimHyper& h) {
  switch (kind) {
    case OptimKind::sgd:
      return h.momentum != 0.0 ? 1 : 0;
    case OptimKind::adagrad:
      return 1;
    case OptimKind::rmsprop:
      return 1 + (h.momentum != 0.0) + h.centered;
    case OptimKind::adadelta:
      return 2;
    case OptimKind::adam:
      return 2 + h.amsgrad;
    case OptimKind::nadam:
      return 2;
  }
  return 0;
}

// Validate one tensor's parameter, gradient and state arrays. Argument names ("params[3]") are
// only formatted when a check fails: this runs for every tensor on every step.
// Whether obj is an array argument (NumPy, or __cuda_array_interface__).
bool is_array_like(const py::handle& obj) {
  return py::isinstance<py::array>(obj) ||
         (!obj.is_none() && py::hasattr(obj, "__cuda_array_interface__"));
}

// any_array_arg(obj, name()) with the name formatted only when it is needed (not for a NumPy
// array: this runs for every array on every step).
template <typename Name>
ArrayArg step_array(const py::handle& obj, const Name& name) {
  if (py::isinstance<py::array>(obj)) return from_numpy(py::reinterpret_borrow<py::array>(obj));
  return any_array_arg(obj, name().c_str());
}

// Validate one tensor's parameter, gradient and state arrays (g and st receive the latter two,
// on any device: the caller checks one device). Argument names ("params[3]") are only formatted
// when a check fails: this runs for every tensor on every step.
template <typename T>
OptimTensor<T> check_tensor(const ArrayArg& p, const py::handle& g_obj, const py::list& st_obj,
                            size_t nstate, size_t i, ArrayArg& g, ArrayArg* st) {
  const auto pn = [&] { return "params[" + std::to_string(i) + "]"; };
  const auto gn = [&] { return "grads[" + std::to_string(i) + "]"; };
  if (!p.c_contiguous()) check_c_contiguous(p, pn().c_str());
  if (!p.writeable()) check_writeable(p, pn().c_str());
  g = step_array(g_obj, gn);
  if (!dtype_is(g.dtype(), p.dtype())) check_same_dtype(g, p, gn().c_str(), pn().c_str());
  bool same = g.ndim() == p.ndim();
  for (int64_t d = 0; same && d < g.ndim(); ++d) same = g.shape(d) == p.shape(d);
  if (!same)
    throw py::value_error(gn() + " has shape " + shape_str(g) + " but " + pn() + " has shape " +
                          shape_str(p));
  if (!g.c_contiguous()) check_c_contiguous(g, gn().c_str());
  if (st_obj.size() != nstate)
    throw py::value_error("states[" + std::to_string(i) + "] must hold " + std::to_string(nstate) +
                          " arrays for these hyperparameters, got " +
                          std::to_string(st_obj.size()));
  OptimTensor<T> t{};
  t.p = p.data<T>();
  t.g = g.data<T>();
  t.n = p.size();
  for (size_t j = 0; j < nstate; ++j) {
    const auto sn = [&] { return "states[" + std::to_string(i) + "][" + std::to_string(j) + "]"; };
    if (!is_array_like(st_obj[j])) throw py::type_error(sn() + " must be a numpy array");
    const ArrayArg& s = st[j] = step_array(st_obj[j], sn);
    if (!dtype_is(s.dtype(), p.dtype())) check_same_dtype(s, p, sn().c_str(), pn().c_str());
    if (s.size() != p.size())
      throw py::value_error(sn() + " has shape " + shape_str(s) + " but " + pn() + " has shape " +
                            shape_str(p));
    if (!s.c_contiguous()) check_c_contiguous(s, sn().c_str());
    if (!s.writeable()) check_writeable(s, sn().c_str());
    t.s[j] = s.data<T>();
  }
  return t;
}

// One array of a step, by where it was passed: params[i], states[i][j] (j >= 0), grads[i].
struct StepArray {
  ByteRange r;
  enum Kind { param, state, grad, steps, grad_scales, mu_products } kind;
  size_t i = 0, j = 0;
  std::string name() const {
    switch (kind) {
      case param:
        return "params[" + std::to_string(i) + "]";
      case state:
        return "states[" + std::to_string(i) + "][" + std::to_string(j) + "]";
      case grad:
        return "grads[" + std::to_string(i) + "]";
      case steps:
        return "steps";
      case grad_scales:
        return "grad_scales";
      case mu_products:
        return "mu_products";
    }
    return "?";
  }
};

// [Note: out= aliasing] for a fused step: every array it writes (parameters, states, step
// counts, nadam's products) must own its memory (two parameters sharing a buffer would be
// updated twice, by two threads at once on the small-tensor path; one state array shared by two
// parameters would mix their moments), and no array it reads (gradients, grad_scales) may lie
// in one it writes. Sorting makes this O(n log n) per step, n the number of arrays.
void check_step_aliasing(std::vector<StepArray>& writes, const std::vector<StepArray>& reads) {
  std::sort(writes.begin(), writes.end(),
            [](const StepArray& a, const StepArray& b) { return a.r.lo < b.r.lo; });
  for (size_t k = 1; k < writes.size(); ++k)
    if (ranges_overlap(writes[k - 1].r, writes[k].r))
      throw py::value_error(writes[k - 1].name() + " and " + writes[k].name() +
                            " share memory; each parameter and optimizer state must own its "
                            "storage");
  for (const StepArray& rd : reads) {
    // the first written range ending after rd begins (ranges are disjoint and sorted)
    auto it = std::upper_bound(writes.begin(), writes.end(), rd.r.lo,
                               [](uintptr_t lo, const StepArray& w) { return lo < w.r.hi; });
    if (it != writes.end() && ranges_overlap(it->r, rd.r))
      throw py::value_error(rd.name() + " must not overlap " + it->name() +
                            ", which the step writes");
  }
}

py::array_t<double> optional_f64(const py::object& obj, const char* name, size_t n) {
  auto a = as_array<double>(obj, name);
  check_ndim(a, 1, name);
  check_c_contiguous(a, name);
  if (static_cast<size_t>(a.shape(0)) != n)
    throw py::value_error(std::string(name) + " must have one entry per parameter (" +
                          std::to_string(n) + "), got " + shape_str(a));
  return a;
}

void optim_step_entry(const std::string& kind_name, const py::dict& hyper, const py::list& params,
                      const py::list& grads, const py::list& states, const py::object& steps_obj,
                      const py::object& grad_scales_obj, const py::object& mu_obj, bool reference) {
  const OptimKind kind = parse_kind(kind_name);
  const OptimHyper h = parse_hyper(hyper);
  const size_t n = params.size();
  if (grads.size() != n || states.size() != n)
    throw py::value_error("params, grads and states must have the same length, got " +
                          std::to_string(n) + ", " + std::to_string(grads.size()) + ", " +
                          std::to_string(states.size()));
  auto steps = as_array<int64_t>(steps_obj, "steps");
  check_ndim(steps, 1, "steps");
  check_c_contiguous(steps, "steps");
  check_writeable(steps, "steps");
  if (static_cast<size_t>(steps.shape(0)) != n)
    throw py::value_error("steps must have one entry per parameter (" + std::to_string(n) +
                          "), got " + shape_str(steps));
  // (a default-constructed py::array_t is an empty array, not null: keep raw pointers)
  const double* scales = nullptr;
  double* mu = nullptr;
  py::array_t<double> scales_arr, mu_arr;
  if (!grad_scales_obj.is_none()) {
    scales_arr = optional_f64(grad_scales_obj, "grad_scales", n);
    scales = scales_arr.data();
  }
  if (kind == OptimKind::nadam) {
    if (mu_obj.is_none()) throw py::value_error("nadam needs mu_products (one per parameter)");
    mu_arr = optional_f64(mu_obj, "mu_products", n);
    check_writeable(mu_arr, "mu_products");
    mu = mu_arr.mutable_data();
  }
  const size_t nstate = state_count(kind, h);
  // params, grads and states: one device (the first parameter's); steps, grad_scales and
  // mu_products are the host's per-parameter bookkeeping (NumPy), read and written by the
  // driver on the host whatever the device.
  Device dev = Device::cpu;
  ArrayArg g, st_args[3];
  std::vector<OptimTensor<float>> f32;
  std::vector<OptimTensor<double>> f64;
  int64_t* step_ptr = steps.mutable_data();
  std::vector<StepArray> writes, reads;
  writes.reserve(n * (1 + nstate) + 2);
  reads.reserve(n + 1);
  const auto add = [](std::vector<StepArray>& v, const auto& a, StepArray::Kind kind, size_t i,
                      size_t j) {
    const ByteRange r = byte_range(a);
    if (r.lo < r.hi) v.push_back(StepArray{r, kind, i, j});
  };
  add(writes, steps, StepArray::steps, 0, 0);
  if (mu) add(writes, mu_arr, StepArray::mu_products, 0, 0);
  if (scales) add(reads, scales_arr, StepArray::grad_scales, 0, 0);
  for (size_t i = 0; i < n; ++i) {
    py::handle p_obj = params[i];
    const auto pn = [&] { return "params[" + std::to_string(i) + "]"; };
    const ArrayArg p = step_array(p_obj, pn);
    if (i == 0) dev = p.device;
    if (!py::isinstance<py::list>(states[i]))
      throw py::type_error("states[" + std::to_string(i) + "] must be a list of arrays");
    py::list st = py::reinterpret_borrow<py::list>(states[i]);
    const double gs = scales ? scales[i] : 1.0;
    double* mup = mu ? mu + i : nullptr;
    if (!dtype_is(p.dtype(), dtype_of<float>()) && !dtype_is(p.dtype(), dtype_of<double>()))
      dispatch_float(p, pn().c_str(), [](auto) {});  // raises, naming the argument
    dispatch_float(p, "params", [&](auto tag) {
      using T = decltype(tag);
      OptimTensor<T> t = check_tensor<T>(p, grads[i], st, nstate, i, g, st_args);
      t.step = step_ptr + i;
      t.grad_scale = gs;
      t.mu_product = mup;
      if constexpr (std::is_same_v<T, float>)
        f32.push_back(t);
      else
        f64.push_back(t);
    });
    bool one_device = p.device == dev && g.device == dev;
    for (size_t j = 0; j < nstate; ++j) one_device = one_device && st_args[j].device == dev;
    if (!one_device) {  // the message names the first array off the first parameter's device
      const ArrayArg first = step_array(params[0], [] { return std::string("params[0]"); });
      same_device({&first, &p, &g},
                  {"params[0]", pn().c_str(), ("grads[" + std::to_string(i) + "]").c_str()});
      for (size_t j = 0; j < nstate; ++j)
        same_device({&first, &st_args[j]},
                    {"params[0]",
                     ("states[" + std::to_string(i) + "][" + std::to_string(j) + "]").c_str()});
    }
    add(writes, p, StepArray::param, i, 0);
    add(reads, g, StepArray::grad, i, 0);
    for (size_t j = 0; j < nstate; ++j) add(writes, st_args[j], StepArray::state, i, j);
  }
  check_step_aliasing(writes, reads);
  auto* kernel_f32 = f32.empty() ? nullptr : optim_step_device_stub<float>.get(dev);
  auto* kernel_f64 = f64.empty() ? nullptr : optim_step_device_stub<double>.get(dev);
  KernelScope nogil;
  if (kernel_f32) kernel_f32(kind, h, f32.data(), static_cast<int64_t>(f32.size()), reference);
  if (kernel_f64) kernel_f64(kind, h, f64.data(), static_cast<int64_t>(f64.size()), reference);
}

// The arrays of grad_norms / scale_clamp_: each float32 or float64, C-contiguous, all on one
// device; which dtypes occur (only their kernels are looked up).
struct FloatArrays {
  std::vector<ArrayArg> arrs;
  Device dev = Device::cpu;
  bool f32 = false, f64 = false;
  std::vector<bool> is_f32;  // per array
};

FloatArrays float_arrays(const py::list& arrays, bool writeable) {
  FloatArrays r;
  std::vector<ArrayArg>& arrs = r.arrs;
  for (size_t i = 0; i < arrays.size(); ++i) {
    const std::string name = "arrays[" + std::to_string(i) + "]";
    if (!is_array_like(arrays[i])) throw py::type_error(name + " must be a numpy array");
    ArrayArg a = any_array_arg(arrays[i], name.c_str());
    dispatch_float(a, name.c_str(), [](auto) {});
    check_c_contiguous(a, name.c_str());
    if (writeable) check_writeable(a, name.c_str());
    if (i == 0) r.dev = a.device;
    if (!arrs.empty()) same_device({&arrs.front(), &a}, {"arrays[0]", name.c_str()});
    const bool f32 = dtype_is(a.dtype(), dtype_of<float>());
    (f32 ? r.f32 : r.f64) = true;
    r.is_f32.push_back(f32);  // read without the GIL below: no Python object then
    arrs.push_back(std::move(a));
  }
  return r;
}

// Per-array norms: ord 2 -> sqrt(sum x^2), ord inf -> max |x| (accumulated in double). The
// result is a host (NumPy) float64 array whatever the device: the caller scales on the host.
py::array_t<double> grad_norms_entry(const py::list& arrays, double ord) {
  const bool inf = std::isinf(ord) && ord > 0;
  if (!inf && ord != 2.0)
    throw py::value_error("norm_type must be 2 or inf, got " + std::to_string(ord));
  const size_t n = arrays.size();
  const FloatArrays fa = float_arrays(arrays, false);
  const std::vector<ArrayArg>& arrs = fa.arrs;
  auto* sq_f32 = fa.f32 ? sum_squares_device_stub<float>.get(fa.dev) : nullptr;
  auto* sq_f64 = fa.f64 ? sum_squares_device_stub<double>.get(fa.dev) : nullptr;
  auto* am_f32 = fa.f32 ? abs_max_device_stub<float>.get(fa.dev) : nullptr;
  auto* am_f64 = fa.f64 ? abs_max_device_stub<double>.get(fa.dev) : nullptr;
  py::array_t<double> out(static_cast<py::ssize_t>(n));
  double* o = out.mutable_data();
  KernelScope nogil;
  for (size_t i = 0; i < n; ++i) {
    const ArrayArg& a = arrs[i];
    const int64_t m = a.size();
    if (fa.is_f32[i]) {
      const float* x = a.data<float>();
      o[i] = inf ? am_f32(x, m) : std::sqrt(sq_f32(x, m));
    } else {
      const double* x = a.data<double>();
      o[i] = inf ? am_f64(x, m) : std::sqrt(sq_f64(x, m));
    }
  }
  return out;
}

void scale_clamp_entry(const py::list& arrays, double scale, double clip) {
  if (!std::isfinite(scale)) throw py::value_error("scale must be finite");
  if (!(clip >= 0)) throw py::value_error("clip must be >= 0 (0: no clamp)");
  const FloatArrays fa = float_arrays(arrays, true);
  auto* k_f32 = fa.f32 ? scale_clamp_device_stub<float>.get(fa.dev) : nullptr;
  auto* k_f64 = fa.f64 ? scale_clamp_device_stub<double>.get(fa.dev) : nullptr;
  KernelScope nogil;
  for (size_t i = 0; i < fa.arrs.size(); ++i) {
    const ArrayArg& a = fa.arrs[i];
    if (fa.is_f32[i])
      k_f32(a.data<float>(), a.size(), scale, clip);
    else
      k_f64(a.data<double>(), a.size(), scale, clip);
  }
}

}  // namespace

DC_BINDINGS(optim) {
  m.def("optim_step", &optim_step_entry, py::arg("kind"), py::arg("hyper"), py::arg("params"),
        py::arg("grads"), py::arg("states"), py::arg("steps"), py::arg("grad_scales") = py::none(),
        py::arg("mu_products") = py::none(), py::arg("reference") = false,
        "Fused in-place optimizer step over a list of parameter arrays (float32/float64, "
        "C-contiguous). kind: sgd|adagrad|rmsprop|adadelta|adam|nadam; hyper: dict of "
        "hyperparameters (lr, weight_decay, decoupled_weight_decay, clipvalue, momentum, "
        "dampening, nesterov, beta_1, beta_2 (or rho), eps, amsgrad, centered, eps_inside_sqrt, "
        "lr_decay, momentum_decay); states[i]: the kind's state arrays (see csrc/optim.h); "
        "steps: int64 per-parameter step counts, incremented; grad_scales: optional float64 "
        "per-parameter gradient factors (clip by norm); mu_products: nadam's running products; "
        "reference=True runs the naive double-precision loop of csrc/ref/ (tests).");
  m.def("grad_norms", &grad_norms_entry, py::arg("arrays"), py::arg("norm_type") = 2.0,
        "Per-array norms (float64): 2-norm or inf-norm (max |x|), native reduction.");
  m.def("scale_clamp_", &scale_clamp_entry, py::arg("arrays"), py::arg("scale") = 1.0,
        py::arg("clip") = 0.0, "In place: x = clamp(x * scale, -clip, clip) (clip 0: no clamp).");
}

}  // namespace dc
