// deepcore._C CTC loss entries: validation, one device for every array, then csrc/ctc.h.
//
//   ctc_loss_forward(log_probs, targets, input_lengths, target_lengths, blank,
//                    reference=False) -> nll (N,)
//   ctc_loss_backward(grad_nll, log_probs, targets, input_lengths, target_lengths, nll, blank,
//                     zero_infinity=False, reference=False) -> grad (T, N, C)
// log_probs: float32 / float64 (T, N, C), C-contiguous; targets: int64 (N, S), C-contiguous,
// labels padded to S; input_lengths, target_lengths: int64 (N,), 0 <= input_lengths[n] <= T,
// 0 <= target_lengths[n] <= S; 0 <= blank < C; every label targets[n, :target_lengths[n]] in
// [0, C) and not the blank. grad_nll and nll: (N,), log_probs's dtype. `reference=True` runs
// csrc/ref/ctc_ref.cpp (for tests).
#include "ctc.h"

#include <string>

#include "bindings/array_arg.h"
#include "bindings/registry.h"

namespace dc {

namespace {

struct CtcArgs {
  ArrayArg log_probs, targets, input_lengths, target_lengths;
  CtcShape shape{};
  Device dev = Device::cpu;
};

CtcArgs ctc_args(const py::handle& lp_obj, const py::handle& tg_obj, const py::handle& il_obj,
                 const py::handle& tl_obj, int64_t blank) {
  CtcArgs a{any_array_arg(lp_obj, "log_probs", "float32 or float64"),
            array_arg<int64_t>(tg_obj, "targets"), array_arg<int64_t>(il_obj, "input_lengths"),
            array_arg<int64_t>(tl_obj, "target_lengths")};
  a.dev = same_device({&a.log_probs, &a.targets, &a.input_lengths, &a.target_lengths},
                      {"log_probs", "targets", "input_lengths", "target_lengths"});
  check_ndim(a.log_probs, 3, "log_probs");
  check_ndim(a.targets, 2, "targets");
  check_c_contiguous(a.log_probs, "log_probs");
  check_c_contiguous(a.targets, "targets");
  const int64_t T = a.log_probs.shape(0), N = a.log_probs.shape(1), C = a.log_probs.shape(2);
  const int64_t S = a.targets.shape(1);
  if (a.targets.shape(0) != N)
    throw py::value_error("targets must have one row per sample (" + std::to_string(N) +
                          "), got shape " + shape_str(a.targets));
  check_shape(a.input_lengths, {N}, "input_lengths");
  check_shape(a.target_lengths, {N}, "target_lengths");
  if (blank < 0 || blank >= C)
    throw py::value_error("blank must be in [0, " + std::to_string(C) +
                          ") (the number of classes)" + ", got " + std::to_string(blank));
  a.shape = CtcShape{T, N, C, S, blank};
  return a;
}

// The reference loops and the value checks read host memory.
template <typename Fn>
Fn* kernel(Fn* ref_fn, const DeviceStub<Fn>& stub, Device dev, bool reference) {
  if (!reference) return stub.get(dev);
  if (dev != Device::cpu) throw py::value_error("reference=True runs on the CPU only");
  return ref_fn;
}

// The values of lengths and labels (read on the host: the CPU kernels are the only ones).
void check_values(const CtcArgs& a) {
  const CtcShape& s = a.shape;
  const int64_t* il = a.input_lengths.data<int64_t>();
  const int64_t* tl = a.target_lengths.data<int64_t>();
  const int64_t* tg = a.targets.data<int64_t>();
  for (int64_t n = 0; n < s.N; ++n) {
    if (il[n] < 0 || il[n] > s.T)
      throw py::value_error("input_lengths[" + std::to_string(n) + "] = " + std::to_string(il[n]) +
                            " is out of range [0, " + std::to_string(s.T) + "] (log_probs has " +
                            std::to_string(s.T) + " time steps)");
    if (tl[n] < 0 || tl[n] > s.S)
      throw py::value_error("target_lengths[" + std::to_string(n) + "] = " + std::to_string(tl[n]) +
                            " is out of range [0, " + std::to_string(s.S) + "] (targets has " +
                            std::to_string(s.S) + " columns)");
    for (int64_t i = 0; i < tl[n]; ++i) {
      const int64_t c = tg[n * s.S + i];
      if (c < 0 || c >= s.C || c == s.blank)
        throw py::value_error("targets[" + std::to_string(n) + ", " + std::to_string(i) +
                              "] = " + std::to_string(c) + " is not a label: labels are in [0, " +
                              std::to_string(s.C) + ") and not the blank (" +
                              std::to_string(s.blank) + ")");
    }
  }
}

py::object forward(const py::handle& lp_obj, const py::handle& tg_obj, const py::handle& il_obj,
                   const py::handle& tl_obj, int64_t blank, bool reference) {
  const CtcArgs a = ctc_args(lp_obj, tg_obj, il_obj, tl_obj, blank);
  return dispatch_float(a.log_probs, "log_probs", [&](auto tag) -> py::object {
    using T = decltype(tag);
    auto* fn = kernel(&ref::ctc_loss_forward<T>, ctc_forward_device_stub<T>, a.dev, reference);
    check_values(a);
    ArrayArg nll = empty_on(a.dev, {a.shape.N}, a.log_probs.dtype());
    {
      KernelScope nogil;
      fn(a.shape, a.log_probs.data<T>(), a.targets.data<int64_t>(), a.input_lengths.data<int64_t>(),
         a.target_lengths.data<int64_t>(), nll.data<T>());
    }
    return nll.owner;
  });
}

py::object backward(const py::handle& g_obj, const py::handle& lp_obj, const py::handle& tg_obj,
                    const py::handle& il_obj, const py::handle& tl_obj, const py::handle& nll_obj,
                    int64_t blank, bool zero_infinity, bool reference) {
  const CtcArgs a = ctc_args(lp_obj, tg_obj, il_obj, tl_obj, blank);
  ArrayArg g = any_array_arg(g_obj, "grad_nll", "float32 or float64");
  ArrayArg nll = any_array_arg(nll_obj, "nll", "float32 or float64");
  same_device({&a.log_probs, &g, &nll}, {"log_probs", "grad_nll", "nll"});
  check_same_dtype(g, a.log_probs, "grad_nll", "log_probs");
  check_same_dtype(nll, a.log_probs, "nll", "log_probs");
  check_shape(g, {a.shape.N}, "grad_nll");
  check_shape(nll, {a.shape.N}, "nll");
  return dispatch_float(a.log_probs, "log_probs", [&](auto tag) -> py::object {
    using T = decltype(tag);
    auto* fn = kernel(&ref::ctc_loss_backward<T>, ctc_backward_device_stub<T>, a.dev, reference);
    check_values(a);
    ArrayArg grad = empty_on(a.dev, a.log_probs.shape_, a.log_probs.dtype());
    {
      KernelScope nogil;
      fn(a.shape, g.data<T>(), a.log_probs.data<T>(), a.targets.data<int64_t>(),
         a.input_lengths.data<int64_t>(), a.target_lengths.data<int64_t>(), nll.data<T>(),
         zero_infinity, grad.data<T>());
    }
    return grad.owner;
  });
}

}  // namespace

DC_BINDINGS(ctc) {
  m.def("ctc_loss_forward", &forward, py::arg("log_probs"), py::arg("targets"),
        py::arg("input_lengths"), py::arg("target_lengths"), py::arg("blank"),
        py::arg("reference") = false,
        "CTC negative log-likelihood per sample (csrc/ctc.h): log_probs (T, N, C) float32 / "
        "float64, targets (N, S) int64, input_lengths and target_lengths (N,) int64 -> (N,); "
        "+inf where no alignment exists.");
  m.def("ctc_loss_backward", &backward, py::arg("grad_nll"), py::arg("log_probs"),
        py::arg("targets"), py::arg("input_lengths"), py::arg("target_lengths"), py::arg("nll"),
        py::arg("blank"), py::arg("zero_infinity") = false, py::arg("reference") = false,
        "grad_nll (N,) times d nll / d log_probs, (T, N, C) ([Note: CTC recursion]); samples with "
        "an infinite nll get NaN, or 0 with zero_infinity.");
}

}  // namespace dc
