// deepcore._C scaled dot-product attention: validation, then csrc/attention.h.
//
// q (B, H, Lq, D), k (B, H, Lk, D), v (B, H, Lk, Dv) of one float dtype, any strides with the
// last axis contiguous (so heads can be read from a (B, L, H, D) projection without a copy);
// attn_mask None, bool (True = attend) or of q's dtype (added), broadcastable to
// (B, H, Lq, Lk) (a broadcast axis is read with stride 0, never expanded).
#include "attention.h"

#include <cmath>
#include <string>

#include "bindings/nn_checks.h"
#include "bindings/registry.h"

namespace dc {

namespace {

std::string dims_str(const int64_t* d, int n) {
  std::vector<int64_t> v(d, d + n);
  return shape_str(v);
}

// A 4-d operand of dtype T with its last axis contiguous, as a Strided4 view.
template <typename T>
ArrayArg operand(const ArrayArg& a, const char* name) {
  if (a.ndim() != 4)
    throw py::value_error(std::string(name) +
                          " must be 4-dimensional (batch, heads, length, head_dim), got shape " +
                          shape_str(a));
  if (a.size() == 0) return a;  // no element is read or written: strides do not matter
  for (int d = 0; d < 4; ++d)
    if (a.strides(d) % static_cast<int64_t>(sizeof(T)) != 0)
      throw py::value_error(std::string(name) + " has strides that are not a whole number of " +
                            "elements (use np.ascontiguousarray)");
  if (a.shape(3) > 1 && a.strides(3) != static_cast<int64_t>(sizeof(T)))
    throw py::value_error(std::string(name) +
                          " must be contiguous along its last axis (use np.ascontiguousarray)");
  return a;
}
template <typename T>
ArrayArg operand(const py::handle& obj, const char* name) {
  return operand<T>(array_arg<T>(obj, name), name);
}

template <typename P>
Strided4<P> view(const ArrayArg& a, P data) {
  const auto e = static_cast<int64_t>(sizeof(*data));
  if (a.size() == 0) return {data, 0, 0, 0};
  return {data, a.strides(0) / e, a.strides(1) / e, a.strides(2) / e};
}

// An output on q's device: the given array (checked) or a new C-contiguous one of `shape`.
template <typename T>
ArrayArg output(const py::object& obj, const char* name, std::vector<int64_t> shape,
                const ArrayArg& q) {
  if (obj.is_none()) return empty_on<T>(q.device, shape);
  ArrayArg a = operand<T>(obj, name);
  same_device({&q, &a}, {"q", name});
  bool ok = true;
  for (int d = 0; d < 4; ++d) ok = ok && a.shape(d) == shape[d];
  if (!ok)
    throw py::value_error(std::string(name) + " must have shape " + shape_str(shape) + ", got " +
                          shape_str(a));
  check_writeable(a, name);
  return a;
}

// Everything the kernels need, validated, with the arrays kept alive.
template <typename T>
struct Call {
  AttnProblem p;
  AttnMask<T> mask;
  ArrayArg q, k, v;
  ArrayArg mask_arr;  // absent: no mask
  Device dev = Device::cpu;
};

template <typename T>
Call<T> check_call(const ArrayArg& q_arr, const py::object& k_obj, const py::object& v_obj,
                   const py::object& mask_obj, bool causal, const py::object& scale,
                   double dropout_p, uint64_t seed) {
  Call<T> c;
  c.q = operand<T>(q_arr, "q");
  ArrayArg kv[2];
  int i = 0;
  for (auto [obj, name] : {std::pair{k_obj, "k"}, std::pair{v_obj, "v"}}) {
    kv[i] = any_array_arg(obj, name);
    check_same_dtype(kv[i], c.q, name, "q");
    ++i;
  }
  c.k = operand<T>(kv[0], "k");
  c.v = operand<T>(kv[1], "v");
  const auto &q = c.q, &k = c.k, &v = c.v;
  AttnProblem& p = c.p;
  p.B = q.shape(0), p.H = q.shape(1), p.Lq = q.shape(2), p.D = q.shape(3);
  p.Lk = k.shape(2), p.Dv = v.shape(3);
  if (k.shape(0) != p.B || k.shape(1) != p.H || k.shape(3) != p.D)
    throw py::value_error("k has shape " + shape_str(k) + " but q has shape " + shape_str(q) +
                          "; k must be (B, H, Lk, D) with q's batch, heads and head_dim");
  if (v.shape(0) != p.B || v.shape(1) != p.H || v.shape(2) != p.Lk)
    throw py::value_error("v has shape " + shape_str(v) + " but k has shape " + shape_str(k) +
                          "; v must be (B, H, Lk, Dv) with k's batch, heads and length");
  if (p.D == 0) throw py::value_error("q and k must have a head_dim of at least 1, got 0");
  if (scale.is_none()) {
    p.scale = 1.0 / std::sqrt(static_cast<double>(p.D));
  } else {
    p.scale = scale.cast<double>();
    if (!std::isfinite(p.scale))
      throw py::value_error("scale must be finite, got " + std::to_string(p.scale));
  }
  if (!(dropout_p >= 0.0 && dropout_p < 1.0))
    throw py::value_error("dropout_p must be in [0, 1), got " + std::to_string(dropout_p));
  p.causal = causal;
  p.dropout_p = dropout_p;
  p.seed = seed;

  if (!mask_obj.is_none()) {
    if (!py::isinstance<py::array>(mask_obj) && !py::hasattr(mask_obj, "__cuda_array_interface__"))
      throw py::type_error("attn_mask must be a numpy array (bool or " +
                           std::string(dtype_name<T>()) + ") or None, got " +
                           std::string(py::str(py::type::of(mask_obj).attr("__name__"))));
    const ArrayArg m = any_array_arg(mask_obj, "attn_mask");
    const bool is_bool = dtype_is(m.dtype(), dtype_of<bool>());
    if (!is_bool && !dtype_is(m.dtype(), dtype_of<T>()))
      throw py::type_error(std::string("attn_mask must have dtype bool or ") + dtype_name<T>() +
                           " (the dtype of q), got " + std::string(py::str(m.dtype())));
    const int64_t target[4] = {p.B, p.H, p.Lq, p.Lk};
    if (m.ndim() > 4)
      throw py::value_error("attn_mask must have at most 4 dimensions, got shape " + shape_str(m));
    int64_t st[4] = {0, 0, 0, 0};
    const int off = 4 - static_cast<int>(m.ndim());
    for (int d = off; d < 4; ++d) {
      const int64_t n = m.shape(d - off);
      if (n != 1 && n != target[d])
        throw py::value_error("attn_mask of shape " + shape_str(m) +
                              " does not broadcast to (B, H, Lq, Lk) = " + dims_str(target, 4));
      if (m.strides(d - off) % m.itemsize() != 0)
        throw py::value_error("attn_mask has strides that are not a whole number of elements");
      st[d] = n == 1 ? 0 : m.strides(d - off) / m.itemsize();
    }
    c.mask.sb = st[0], c.mask.sh = st[1], c.mask.si = st[2], c.mask.sj = st[3];
    if (is_bool)
      c.mask.keep = m.data<uint8_t>();
    else
      c.mask.bias = m.data<T>();
    c.mask_arr = m;
  }
  c.dev = same_device({&c.q, &c.k, &c.v, &c.mask_arr}, {"q", "k", "v", "attn_mask"});
  return c;
}

void check_no_overlap(const ArrayArg& out, const char* name,
                      std::initializer_list<std::pair<const ArrayArg*, const char*>> others) {
  for (const auto& [a, n] : others)
    if (may_share_memory(out, *a))
      throw py::value_error(std::string(name) + " must not overlap " + n);
}

py::tuple attn_fwd(const py::handle& q_obj, const py::object& k_obj, const py::object& v_obj,
                   const py::object& mask_obj, bool causal, const py::object& scale,
                   double dropout_p, uint64_t seed, const py::object& out) {
  const ArrayArg q = any_array_arg(q_obj, "q", "float32 or float64");
  return dispatch_float(q, "q", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    Call<T> c = check_call<T>(q, k_obj, v_obj, mask_obj, causal, scale, dropout_p, seed);
    const AttnProblem& p = c.p;
    auto* kernel = attention_forward_device_stub<T>.get(c.dev);
    const ArrayArg o = output<T>(out, "out", {p.B, p.H, p.Lq, p.Dv}, c.q);
    check_no_overlap(o, "out", {{&c.q, "q"}, {&c.k, "k"}, {&c.v, "v"}});
    const ArrayArg lse = empty_on<T>(c.dev, {p.B, p.H, p.Lq});
    const auto sq = view<const T*>(c.q, c.q.template data<T>()),
               sk = view<const T*>(c.k, c.k.template data<T>());
    const auto sv = view<const T*>(c.v, c.v.template data<T>());
    const auto so = view<T*>(o, o.data<T>());
    T* pl = lse.data<T>();
    {
      KernelScope nogil;
      kernel(p, c.mask, sq, sk, sv, so, pl);
    }
    return py::make_tuple(o.owner, lse.owner);
  });
}

py::tuple attn_bwd(const py::handle& go_obj, const py::handle& q_obj, const py::object& k_obj,
                   const py::object& v_obj, const py::object& o_obj, const py::object& lse_obj,
                   const py::object& mask_obj, bool causal, const py::object& scale,
                   double dropout_p, uint64_t seed, const py::object& gq_obj,
                   const py::object& gk_obj, const py::object& gv_obj) {
  const ArrayArg q = any_array_arg(q_obj, "q", "float32 or float64");
  return dispatch_float(q, "q", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    Call<T> c = check_call<T>(q, k_obj, v_obj, mask_obj, causal, scale, dropout_p, seed);
    const AttnProblem& p = c.p;
    const ArrayArg go = operand<T>(go_obj, "go");
    const ArrayArg o = operand<T>(o_obj, "o");
    const int64_t oshape[4] = {p.B, p.H, p.Lq, p.Dv};
    for (auto [a, name] : {std::pair{&go, "go"}, std::pair{&o, "o"}})
      for (int d = 0; d < 4; ++d)
        if (a->shape(d) != oshape[d])
          throw py::value_error(std::string(name) + " must have the output's shape " +
                                dims_str(oshape, 4) + ", got " + shape_str(*a));
    const ArrayArg lse = input_arg<T>(lse_obj, "lse");
    check_shape(lse, {p.B, p.H, p.Lq}, "lse");
    same_device({&c.q, &go, &o, &lse}, {"q", "go", "o", "lse"});
    auto* kernel = attention_backward_device_stub<T>.get(c.dev);
    const ArrayArg gq = output<T>(gq_obj, "gq", {p.B, p.H, p.Lq, p.D}, c.q);
    const ArrayArg gk = output<T>(gk_obj, "gk", {p.B, p.H, p.Lk, p.D}, c.q);
    const ArrayArg gv = output<T>(gv_obj, "gv", {p.B, p.H, p.Lk, p.Dv}, c.q);
    const std::initializer_list<std::pair<const ArrayArg*, const char*>> ins = {
        {&c.q, "q"}, {&c.k, "k"}, {&c.v, "v"}, {&go, "go"}, {&o, "o"}, {&lse, "lse"}};
    check_no_overlap(gq, "gq", ins);
    check_no_overlap(gk, "gk", ins);
    check_no_overlap(gv, "gv", ins);
    check_no_overlap(gq, "gq", {{&gk, "gk"}, {&gv, "gv"}});
    check_no_overlap(gk, "gk", {{&gv, "gv"}});
    const auto sq = view<const T*>(c.q, c.q.template data<T>()),
               sk = view<const T*>(c.k, c.k.template data<T>());
    const auto sv = view<const T*>(c.v, c.v.template data<T>()),
               so = view<const T*>(o, o.data<T>());
    const auto sgo = view<const T*>(go, go.data<T>());
    const auto sgq = view<T*>(gq, gq.data<T>()), sgk = view<T*>(gk, gk.data<T>());
    const auto sgv = view<T*>(gv, gv.data<T>());
    const T* pl = lse.data<T>();
    {
      KernelScope nogil;
      kernel(p, c.mask, sq, sk, sv, so, pl, sgo, sgq, sgk, sgv);
    }
    return py::make_tuple(gq.owner, gk.owner, gv.owner);
  });
}

// The references take C-contiguous operands (tests pass np.ascontiguousarray).
template <typename T>
void check_contiguous(const Call<T>& c) {
  check_c_contiguous(c.q, "q");
  check_c_contiguous(c.k, "k");
  check_c_contiguous(c.v, "v");
}

py::array attn_fwd_ref(const py::array& q_obj, const py::object& k_obj, const py::object& v_obj,
                       const py::object& mask_obj, bool causal, const py::object& scale,
                       double dropout_p, uint64_t seed) {
  return dispatch_float(q_obj, "q", [&](auto tag) -> py::array {
    using T = decltype(tag);
    Call<T> c =
        check_call<T>(from_numpy(q_obj), k_obj, v_obj, mask_obj, causal, scale, dropout_p, seed);
    check_contiguous(c);
    attention_forward_device_stub<T>.get(c.dev);  // the reference runs where the CPU slot does
    const AttnProblem& p = c.p;
    py::array_t<T> o(std::vector<py::ssize_t>{p.B, p.H, p.Lq, p.Dv});
    ref::attention_forward<T>(p, c.mask, c.q.template data<T>(), c.k.template data<T>(),
                              c.v.template data<T>(), o.mutable_data());
    return o;
  });
}

py::tuple attn_bwd_ref(const py::array& go_obj, const py::array& q_obj, const py::object& k_obj,
                       const py::object& v_obj, const py::object& mask_obj, bool causal,
                       const py::object& scale, double dropout_p, uint64_t seed) {
  return dispatch_float(q_obj, "q", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    Call<T> c =
        check_call<T>(from_numpy(q_obj), k_obj, v_obj, mask_obj, causal, scale, dropout_p, seed);
    check_contiguous(c);
    attention_backward_device_stub<T>.get(c.dev);  // the reference runs where the CPU slot does
    const AttnProblem& p = c.p;
    auto go = contiguous_input<T>(go_obj, "go");
    check_shape(go, {p.B, p.H, p.Lq, p.Dv}, "go");
    py::array_t<T> gq(shape_of(c.q)), gk(shape_of(c.k)), gv(shape_of(c.v));
    ref::attention_backward<T>(p, c.mask, c.q.template data<T>(), c.k.template data<T>(),
                               c.v.template data<T>(), go.data(), gq.mutable_data(),
                               gk.mutable_data(), gv.mutable_data());
    return py::make_tuple(gq, gk, gv);
  });
}

}  // namespace

DC_BINDINGS(attention) {
  m.def("attention_forward", &attn_fwd, py::arg("q"), py::arg("k"), py::arg("v"),
        py::arg("attn_mask") = py::none(), py::arg("is_causal") = false,
        py::arg("scale") = py::none(), py::arg("dropout_p") = 0.0, py::arg("seed") = 0,
        py::arg("out") = py::none(),
        "Fused scaled dot-product attention on (B, H, L, D) arrays: returns (o (B, H, Lq, Dv), "
        "lse (B, H, Lq)), lse the per-row log-sum-exp backward needs (+inf for a fully masked "
        "row, whose output is zeros). Dropout on the probabilities is keyed by seed.");
  m.def("attention_backward", &attn_bwd, py::arg("go"), py::arg("q"), py::arg("k"), py::arg("v"),
        py::arg("o"), py::arg("lse"), py::arg("attn_mask") = py::none(),
        py::arg("is_causal") = false, py::arg("scale") = py::none(), py::arg("dropout_p") = 0.0,
        py::arg("seed") = 0, py::arg("gq") = py::none(), py::arg("gk") = py::none(),
        py::arg("gv") = py::none(),
        "(gq, gk, gv) of attention_forward from go, recomputing the probabilities tile by "
        "tile; pass the forward's arguments, o and lse unchanged.");
  m.def("attention_forward_ref", &attn_fwd_ref, py::arg("q"), py::arg("k"), py::arg("v"),
        py::arg("attn_mask") = py::none(), py::arg("is_causal") = false,
        py::arg("scale") = py::none(), py::arg("dropout_p") = 0.0, py::arg("seed") = 0,
        "Reference (materialised, double) attention forward.");
  m.def("attention_backward_ref", &attn_bwd_ref, py::arg("go"), py::arg("q"), py::arg("k"),
        py::arg("v"), py::arg("attn_mask") = py::none(), py::arg("is_causal") = false,
        py::arg("scale") = py::none(), py::arg("dropout_p") = 0.0, py::arg("seed") = 0,
        "Reference (materialised, double) attention backward: (gq, gk, gv).");
}

}  // namespace dc
