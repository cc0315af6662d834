// deepcore._C recurrent layers: validation, then csrc/rnn.h.
//
//   out, h_n, c_n, ws = rnn_forward(cell, x, h0, c0, w_ih, w_hh, b_ih, b_hh, **options)
//   dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dw_peephole = rnn_backward(
//       cell, x, h0, c0, w_ih, w_hh, b_ih, b_hh, ws, dout, dh_n, dc_n, **options)
//   rnn_forward_ref / rnn_backward_ref: the same through csrc/ref/rnn_ref.cpp (no ws).
//
// cell is 'rnn', 'lstm' or 'gru'; options (keywords, see RnnConfig in rnn.h): w_peephole,
// mask (B, T) bool/uint8 or lengths (B,) ints, activation, recurrent_activation ('tanh',
// 'sigmoid', 'relu', 'hard_sigmoid', 'linear' or None), hard_sigmoid_slope/offset,
// lstm_variant ('standard', 'no_forget', 'coupled'), reset_after, z_keeps_state, zero_output,
// reverse, h_mask (B, H): recurrent dropout multipliers ([Note: recurrent dropout] in rnn.h).
// ws = (gates, cells or None, states, mask or None) is what backward needs.
#include "rnn.h"

#include <cmath>
#include <cstring>
#include <set>
#include <string>

#include "bindings/conv_geometry.h"
#include "bindings/nn_checks.h"
#include "bindings/registry.h"
#include "conv_lstm.h"

namespace dc {

namespace {

RnnCell parse_cell(const std::string& s) {
  static constexpr Choice<RnnCell> kCells[] = {
      {"rnn", RnnCell::rnn}, {"lstm", RnnCell::lstm}, {"gru", RnnCell::gru}};
  return parse_choice(s, "cell", kCells);
}

const char* cell_layout(RnnCell c, LstmVariant v) {
  if (c == RnnCell::rnn) return "(H, .) for a simple RNN";
  if (c == RnnCell::gru) return "(3*H, .) for a GRU (gates r, z, n)";
  if (v == LstmVariant::standard) return "(4*H, .) for an LSTM (gates i, f, g, o)";
  if (v == LstmVariant::no_forget) return "(3*H, .) for an LSTM without forget gate (i, g, o)";
  return "(3*H, .) for a coupled-gate LSTM (f, g, o)";
}

RnnAct parse_act(const py::handle& obj, const char* name) {
  if (obj.is_none()) return RnnAct::linear;
  if (!py::isinstance<py::str>(obj))
    throw py::type_error(std::string(name) + " must be a string or None, got " +
                         std::string(py::str(py::type::of(obj).attr("__name__"))));
  const auto s = obj.cast<std::string>();
  if (s == "tanh") return RnnAct::tanh;
  if (s == "sigmoid") return RnnAct::sigmoid;
  if (s == "relu") return RnnAct::relu;
  if (s == "hard_sigmoid") return RnnAct::hard_sigmoid;
  if (s == "linear") return RnnAct::linear;
  throw py::value_error(std::string(name) +
                        " must be one of 'tanh', 'sigmoid', 'relu', 'hard_sigmoid', 'linear' "
                        "or None, got '" +
                        s + "'");
}

LstmVariant parse_variant(const std::string& s) {
  static constexpr Choice<LstmVariant> kVariants[] = {{"standard", LstmVariant::standard},
                                                      {"no_forget", LstmVariant::no_forget},
                                                      {"coupled", LstmVariant::coupled}};
  return parse_choice(s, "lstm_variant", kVariants);
}

const std::set<std::string>& option_names() {
  static const std::set<std::string> names = {"w_peephole",
                                              "h_mask",
                                              "mask",
                                              "lengths",
                                              "activation",
                                              "recurrent_activation",
                                              "hard_sigmoid_slope",
                                              "hard_sigmoid_offset",
                                              "lstm_variant",
                                              "reset_after",
                                              "z_keeps_state",
                                              "zero_output",
                                              "reverse"};
  return names;
}

py::object opt(const py::kwargs& kw, const char* name) {
  return kw.contains(name) ? py::reinterpret_borrow<py::object>(kw[name]) : py::object(py::none());
}

template <typename V>
V opt_value(const py::kwargs& kw, const char* name, V dflt) {
  if (!kw.contains(name) || kw[name].is_none()) return dflt;
  try {
    return kw[name].cast<V>();
  } catch (const py::cast_error&) {
    throw py::type_error(std::string(name) +
                         " has the wrong type: " + std::string(py::str(py::repr(kw[name]))));
  }
}

RnnConfig parse_options(const std::string& cell, const py::kwargs& kw) {
  for (auto item : kw) {
    const auto key = item.first.cast<std::string>();
    if (!option_names().count(key))
      throw py::type_error("unexpected keyword argument '" + key + "'");
  }
  RnnConfig c;
  c.cell = parse_cell(cell);
  if (kw.contains("activation")) c.act = parse_act(kw["activation"], "activation");
  if (c.cell != RnnCell::rnn && kw.contains("recurrent_activation"))
    c.gate_act = parse_act(kw["recurrent_activation"], "recurrent_activation");
  c.hs_slope = opt_value<double>(kw, "hard_sigmoid_slope", 0.2);
  c.hs_offset = opt_value<double>(kw, "hard_sigmoid_offset", 0.5);
  if (!std::isfinite(c.hs_slope) || !std::isfinite(c.hs_offset))
    throw py::value_error("hard_sigmoid_slope and hard_sigmoid_offset must be finite");
  c.lstm = parse_variant(opt_value<std::string>(kw, "lstm_variant", "standard"));
  if (c.cell != RnnCell::lstm && c.lstm != LstmVariant::standard)
    throw py::value_error("lstm_variant is for cell='lstm' only");
  c.reset_after = opt_value<bool>(kw, "reset_after", true);
  c.z_keeps_state = opt_value<bool>(kw, "z_keeps_state", true);
  c.zero_output = opt_value<bool>(kw, "zero_output", false);
  c.reverse = opt_value<bool>(kw, "reverse", false);
  return c;
}

// Inputs of one call, validated; arrays kept alive here, raw pointers in cfg / w.
template <typename T>
struct Inputs {
  using Scalar = T;
  RnnConfig cfg;
  ArrayArg x, h0, c0, w_ih, w_hh, b_ih, b_hh, peep, h_mask;  // absent: default ArrayArgs
  py::array_t<uint8_t> mask;  // host: built here from mask= or lengths=
  RnnWeights<T> w;
  const T* h0p = nullptr;
  const T* c0p = nullptr;
  Device dev = Device::cpu;
};

template <typename T>
ArrayArg same_dtype_input(const py::handle& obj, const ArrayArg& x, const char* name) {
  const ArrayArg a = any_array_arg(obj, name);
  check_same_dtype(a, x, name, "x");
  check_c_contiguous(a, name);
  return a;
}

template <typename T>
const T* optional_vector(const py::handle& obj, const ArrayArg& x, int64_t n, const char* name,
                         ArrayArg& keep) {
  if (obj.is_none()) return nullptr;
  keep = same_dtype_input<T>(obj, x, name);
  if (keep.ndim() != 1 || keep.shape(0) != n)
    throw py::value_error(std::string(name) + " must have shape (" + std::to_string(n) +
                          ",), got " + shape_str(keep));
  return keep.data<T>();
}

template <typename T>
const T* optional_state(const py::handle& obj, const ArrayArg& x, int64_t B, int64_t H,
                        const char* name, ArrayArg& keep) {
  if (obj.is_none()) return nullptr;
  keep = same_dtype_input<T>(obj, x, name);
  check_shape(keep, {B, H}, name);
  return keep.data<T>();
}

// mask (B, T) of bool / uint8, or lengths (B,) of integers in [0, T] -> a (B, T) uint8 mask
py::array_t<uint8_t> parse_mask(const py::object& mask_obj, const py::object& len_obj, int64_t B,
                                int64_t T) {
  if (!mask_obj.is_none() && !len_obj.is_none())
    throw py::value_error("give mask or lengths, not both");
  if (!mask_obj.is_none()) {
    if (!py::isinstance<py::array>(mask_obj))
      throw py::type_error("mask must be a numpy array of bool or uint8");
    py::array m = py::reinterpret_borrow<py::array>(mask_obj);
    if (!dtype_is(m.dtype(), dtype_of<bool>()) && !dtype_is(m.dtype(), dtype_of<uint8_t>()))
      throw py::type_error("mask must have dtype bool or uint8, got " +
                           std::string(py::str(m.dtype())));
    check_shape(m, {B, T}, "mask");
    check_c_contiguous(m, "mask");
    // bool is one byte holding 0 or 1: the same bytes as a uint8 0/1 mask
    py::array_t<uint8_t> out({B, T});
    std::memcpy(out.mutable_data(), m.data(), static_cast<size_t>(B * T));
    return out;
  }
  if (len_obj.is_none()) return py::array_t<uint8_t>();
  if (!py::isinstance<py::array>(len_obj))
    throw py::type_error("lengths must be a numpy array of integers");
  py::array l = py::reinterpret_borrow<py::array>(len_obj);
  const char kind = l.dtype().kind();
  if (kind != 'i' && kind != 'u')
    throw py::type_error("lengths must have an integer dtype, got " +
                         std::string(py::str(l.dtype())));
  check_shape(l, {B}, "lengths");
  auto li = l.attr("astype")("int64").cast<py::array_t<int64_t, py::array::c_style>>();
  py::array_t<uint8_t> out({B, T});
  uint8_t* m = out.mutable_data();
  for (int64_t b = 0; b < B; ++b) {
    const int64_t n = li.at(b);
    if (n < 0 || n > T)
      throw py::value_error("lengths[" + std::to_string(b) + "] = " + std::to_string(n) +
                            " is outside [0, T] with T = " + std::to_string(T));
    for (int64_t t = 0; t < T; ++t) m[b * T + t] = t < n;
  }
  return out;
}

template <typename T>
Inputs<T> gather(const std::string& cell, const ArrayArg& x_arr, const py::object& h0,
                 const py::object& c0, const py::object& w_ih, const py::object& w_hh,
                 const py::object& b_ih, const py::object& b_hh, const py::kwargs& kw) {
  Inputs<T> in;
  RnnConfig& c = in.cfg;
  c = parse_options(cell, kw);
  in.x = x_arr;
  check_c_contiguous(in.x, "x");
  if (in.x.ndim() != 3)
    throw py::value_error("x must be 3-dimensional (batch, time, features), got shape " +
                          shape_str(in.x));
  c.B = in.x.shape(0);
  c.T = in.x.shape(1);
  c.I = in.x.shape(2);
  const int64_t G = c.gates();
  in.w_hh = same_dtype_input<T>(w_hh, in.x, "w_hh");
  if (in.w_hh.ndim() != 2 || in.w_hh.shape(0) != G * in.w_hh.shape(1))
    throw py::value_error(std::string("w_hh must have shape (G*H, H): ") +
                          cell_layout(c.cell, c.lstm) + ", got " + shape_str(in.w_hh));
  c.H = in.w_hh.shape(1);
  in.w_ih = same_dtype_input<T>(w_ih, in.x, "w_ih");
  if (in.w_ih.ndim() != 2 || in.w_ih.shape(0) != G * c.H)
    throw py::value_error("w_ih must have shape (" + std::to_string(G * c.H) + ", I) to match " +
                          "w_hh " + shape_str(in.w_hh) + ": " + cell_layout(c.cell, c.lstm) +
                          ", got " + shape_str(in.w_ih));
  if (in.w_ih.shape(1) != c.I)
    throw py::value_error("x has " + std::to_string(c.I) + " features (shape " + shape_str(in.x) +
                          ") but w_ih expects " + std::to_string(in.w_ih.shape(1)) + " (shape " +
                          shape_str(in.w_ih) + ")");
  in.w.w_ih = in.w_ih.template data<T>();
  in.w.w_hh = in.w_hh.template data<T>();
  in.w.b_ih = optional_vector<T>(b_ih, in.x, G * c.H, "b_ih", in.b_ih);
  in.w.b_hh = optional_vector<T>(b_hh, in.x, G * c.H, "b_hh", in.b_hh);
  in.h0p = optional_state<T>(h0, in.x, c.B, c.H, "h0", in.h0);
  if (c.cell != RnnCell::lstm && !c0.is_none())
    throw py::value_error("c0 is an LSTM's initial cell state; this cell has none");
  in.c0p = optional_state<T>(c0, in.x, c.B, c.H, "c0", in.c0);
  const py::object peep = opt(kw, "w_peephole");
  if (!peep.is_none() && c.cell != RnnCell::lstm)
    throw py::value_error("w_peephole is for cell='lstm' only");
  in.w.w_peep = optional_vector<T>(peep, in.x, c.peep_gates() * c.H, "w_peephole", in.peep);
  c.peephole = in.w.w_peep != nullptr;
  in.w.h_mask = optional_state<T>(opt(kw, "h_mask"), in.x, c.B, c.H, "h_mask", in.h_mask);
  in.mask = parse_mask(opt(kw, "mask"), opt(kw, "lengths"), c.B, c.T);
  c.mask = in.mask.size() ? in.mask.data() : nullptr;
  in.dev = same_device(
      {&in.x, &in.w_ih, &in.w_hh, &in.b_ih, &in.b_hh, &in.h0, &in.c0, &in.peep, &in.h_mask},
      {"x", "w_ih", "w_hh", "b_ih", "b_hh", "h0", "c0", "w_peephole", "h_mask"});
  return in;
}

// Validate the inputs of a call and run fn(inputs) with T = their dtype.
template <typename Fn>
py::tuple with_inputs(const std::string& cell, const py::object& x_obj, const py::object& h0,
                      const py::object& c0, const py::object& w_ih, const py::object& w_hh,
                      const py::object& b_ih, const py::object& b_hh, const py::kwargs& kw,
                      Fn&& fn) {
  const ArrayArg x_arr = any_array_arg(x_obj, "x");
  return dispatch_float(x_arr, "x", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    Inputs<T> in = gather<T>(cell, x_arr, h0, c0, w_ih, w_hh, b_ih, b_hh, kw);
    return fn(in);
  });
}

py::tuple fwd(const std::string& cell, const py::object& x_obj, const py::object& h0,
              const py::object& c0, const py::object& w_ih, const py::object& w_hh,
              const py::object& b_ih, const py::object& b_hh, const py::kwargs& kw) {
  return with_inputs(cell, x_obj, h0, c0, w_ih, w_hh, b_ih, b_hh, kw, [&](auto& in) {
    using T = typename std::remove_reference_t<decltype(in)>::Scalar;
    const RnnConfig& c = in.cfg;
    const bool lstm = c.cell == RnnCell::lstm;
    const Device dev = in.dev;
    auto* kernel = rnn_forward_device_stub<T>.get(dev);
    const ArrayArg out = empty_on<T>(dev, {c.B, c.T, c.H}), h_n = empty_on<T>(dev, {c.B, c.H});
    const ArrayArg gates = empty_on<T>(dev, {c.B, c.T, c.ws_cols()});
    const ArrayArg c_n = lstm ? empty_on<T>(dev, {c.B, c.H}) : ArrayArg{};
    const ArrayArg cells = lstm ? empty_on<T>(dev, {c.B, c.T, c.H}) : ArrayArg{};
    const ArrayArg states = c.mask ? empty_on<T>(dev, {c.B, c.T, c.H}) : out;
    RnnWorkspace<T> ws{gates.data<T>(), lstm ? cells.data<T>() : nullptr, states.data<T>()};
    T* po = out.data<T>();
    T* phn = h_n.data<T>();
    T* pcn = lstm ? c_n.data<T>() : nullptr;
    {
      KernelScope nogil;
      kernel(c, in.x.template data<T>(), in.h0p, in.c0p, in.w, po, phn, pcn, ws);
    }
    py::object mask = c.mask ? py::object(in.mask) : py::object(py::none());
    py::tuple wst = py::make_tuple(gates.owner, lstm ? cells.owner : py::object(py::none()),
                                   states.owner, mask);
    return py::make_tuple(out.owner, h_n.owner, lstm ? c_n.owner : py::object(py::none()), wst);
  });
}

template <typename T>
const T* optional_grad(const py::object& obj, const ArrayArg& x, std::initializer_list<int64_t> s,
                       const char* name, ArrayArg& keep) {
  if (obj.is_none()) return nullptr;
  keep = same_dtype_input<T>(obj, x, name);
  check_shape(keep, s, name);
  return keep.data<T>();
}

// The gradients of the outputs given to backward (each may be None: zero).
template <typename T>
struct OutputGrads {
  ArrayArg keep_out, keep_hn, keep_cn;
  const T *dout, *dhn, *dcn;
  OutputGrads(const Inputs<T>& in, const py::object& dout_obj, const py::object& dhn_obj,
              const py::object& dcn_obj) {
    const RnnConfig& c = in.cfg;
    dout = optional_grad<T>(dout_obj, in.x, {c.B, c.T, c.H}, "dout", keep_out);
    dhn = optional_grad<T>(dhn_obj, in.x, {c.B, c.H}, "dh_n", keep_hn);
    if (c.cell != RnnCell::lstm && !dcn_obj.is_none())
      throw py::value_error("dc_n is for cell='lstm' only");
    dcn = optional_grad<T>(dcn_obj, in.x, {c.B, c.H}, "dc_n", keep_cn);
    same_device({&in.x, &keep_out, &keep_hn, &keep_cn}, {"x", "dout", "dh_n", "dc_n"});
  }
};

// The gradient arrays of a call (None where an input is absent) and the pointers to them, on
// the inputs' device.
template <typename T>
struct GradArrays {
  ArrayArg dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dpeep;
  RnnGrads<T> g;
  explicit GradArrays(const Inputs<T>& in) {
    const RnnConfig& c = in.cfg;
    const Device dev = in.dev;
    const int64_t GH = c.gates() * c.H;
    dx = empty_on<T>(dev, {c.B, c.T, c.I});
    dh0 = empty_on<T>(dev, {c.B, c.H});
    dw_ih = empty_on<T>(dev, {GH, c.I});
    dw_hh = empty_on<T>(dev, {GH, c.H});
    g.dx = dx.data<T>();
    g.dh0 = dh0.data<T>();
    g.dw_ih = dw_ih.data<T>();
    g.dw_hh = dw_hh.data<T>();
    if (c.cell == RnnCell::lstm) {
      dc0 = empty_on<T>(dev, {c.B, c.H});
      g.dc0 = dc0.data<T>();
    }
    if (in.w.b_ih) {
      db_ih = empty_on<T>(dev, {GH});
      g.db_ih = db_ih.data<T>();
    }
    if (in.w.b_hh) {
      db_hh = empty_on<T>(dev, {GH});
      g.db_hh = db_hh.data<T>();
    }
    if (in.w.w_peep) {
      dpeep = empty_on<T>(dev, {c.peep_gates() * c.H});
      g.dw_peep = dpeep.data<T>();
    }
  }
  py::tuple result() const {
    auto o = [](const ArrayArg& a, const T* p) { return p ? a.owner : py::object(py::none()); };
    return py::make_tuple(dx.owner, dh0.owner, o(dc0, g.dc0), dw_ih.owner, dw_hh.owner,
                          o(db_ih, g.db_ih), o(db_hh, g.db_hh), o(dpeep, g.dw_peep));
  }
};

py::tuple bwd(const std::string& cell, const py::object& x_obj, const py::object& h0,
              const py::object& c0, const py::object& w_ih, const py::object& w_hh,
              const py::object& b_ih, const py::object& b_hh, const py::tuple& ws_t,
              const py::object& dout_obj, const py::object& dhn_obj, const py::object& dcn_obj,
              const py::kwargs& kw) {
  if (kw.contains("mask") || kw.contains("lengths"))
    throw py::type_error("rnn_backward takes the mask from ws, not as mask= or lengths=");
  return with_inputs(cell, x_obj, h0, c0, w_ih, w_hh, b_ih, b_hh, kw, [&](auto& in) {
    using T = typename std::remove_reference_t<decltype(in)>::Scalar;
    RnnConfig& c = in.cfg;
    const bool lstm = c.cell == RnnCell::lstm;
    if (ws_t.size() != 4)
      throw py::value_error("ws must be the 4-tuple (gates, cells, states, mask) from forward");
    const ArrayArg gates = same_dtype_input<T>(ws_t[0], in.x, "ws[0] (gates)");
    check_shape(gates, {c.B, c.T, c.ws_cols()}, "ws[0] (gates)");
    ArrayArg cells;
    if (lstm) {
      cells = same_dtype_input<T>(ws_t[1], in.x, "ws[1] (cells)");
      check_shape(cells, {c.B, c.T, c.H}, "ws[1] (cells)");
    }
    const ArrayArg states = same_dtype_input<T>(ws_t[2], in.x, "ws[2] (states)");
    check_shape(states, {c.B, c.T, c.H}, "ws[2] (states)");
    same_device({&in.x, &gates, &cells, &states},
                {"x", "ws[0] (gates)", "ws[1] (cells)", "ws[2] (states)"});
    in.mask = parse_mask(py::reinterpret_borrow<py::object>(ws_t[3]), py::none(), c.B, c.T);
    c.mask = in.mask.size() ? in.mask.data() : nullptr;
    const OutputGrads<T> og(in, dout_obj, dhn_obj, dcn_obj);
    auto* kernel = rnn_backward_device_stub<T>.get(in.dev);
    GradArrays<T> ga(in);
    RnnWorkspace<T> ws{gates.data<T>(), lstm ? cells.data<T>() : nullptr, states.data<T>()};
    {
      KernelScope nogil;
      kernel(c, in.x.template data<T>(), in.h0p, in.c0p, in.w, ws, og.dout, og.dhn, og.dcn, ga.g);
    }
    return ga.result();
  });
}

py::tuple fwd_ref(const std::string& cell, const py::object& x_obj, const py::object& h0,
                  const py::object& c0, const py::object& w_ih, const py::object& w_hh,
                  const py::object& b_ih, const py::object& b_hh, const py::kwargs& kw) {
  return with_inputs(cell, x_obj, h0, c0, w_ih, w_hh, b_ih, b_hh, kw, [&](auto& in) {
    using T = typename std::remove_reference_t<decltype(in)>::Scalar;
    const RnnConfig& c = in.cfg;
    const bool lstm = c.cell == RnnCell::lstm;
    rnn_forward_device_stub<T>.get(in.dev);  // the reference runs where the CPU slot does
    py::array_t<T> out({c.B, c.T, c.H}), h_n({c.B, c.H}), c_n({c.B, c.H});
    ref::rnn_forward<T>(c, in.x.template data<T>(), in.h0p, in.c0p, in.w, out.mutable_data(),
                        h_n.mutable_data(), lstm ? c_n.mutable_data() : nullptr);
    return py::make_tuple(out, h_n, lstm ? py::object(c_n) : py::object(py::none()));
  });
}

py::tuple bwd_ref(const std::string& cell, const py::object& x_obj, const py::object& h0,
                  const py::object& c0, const py::object& w_ih, const py::object& w_hh,
                  const py::object& b_ih, const py::object& b_hh, const py::object& dout_obj,
                  const py::object& dhn_obj, const py::object& dcn_obj, const py::kwargs& kw) {
  return with_inputs(cell, x_obj, h0, c0, w_ih, w_hh, b_ih, b_hh, kw, [&](auto& in) {
    using T = typename std::remove_reference_t<decltype(in)>::Scalar;
    const RnnConfig& c = in.cfg;
    const OutputGrads<T> og(in, dout_obj, dhn_obj, dcn_obj);
    rnn_backward_device_stub<T>.get(in.dev);  // the reference runs where the CPU slot does
    GradArrays<T> ga(in);
    ref::rnn_backward<T>(c, in.x.template data<T>(), in.h0p, in.c0p, in.w, og.dout, og.dhn, og.dcn,
                         ga.g);
    return ga.result();
  });
}

// ---------------------------------------------------------------------------- convolutional LSTM
//   out, h_n, c_n, ws = conv_lstm_forward(x, h0, c0, w_x, w_h, b, strides, padding, dilation,
//                                         **options)
//   dx, dh0, dc0, dw_x, dw_h, db = conv_lstm_backward(x, h0, c0, w_x, w_h, b, ws, dout, dh_n,
//                                         dc_n, strides, padding, dilation, **options)
// See csrc/conv_lstm.h. The options are the LSTM's (mask / lengths, activation,
// recurrent_activation, hard_sigmoid_slope / offset, zero_output, reverse, h_mask); the input
// convolution's geometry is conv's (bindings/conv_geometry.h), the recurrent one's is stride 1,
// 'same'.

void check_dims(const ArrayArg& a, const std::vector<int64_t>& want, const char* name) {
  if (shape_of(a) != want)
    throw py::value_error(std::string(name) + " must have shape " + shape_str(want) + ", got " +
                          shape_str(a));
}

template <typename T>
struct ConvLstmInputs {
  using Scalar = T;
  ConvLstmConfig cfg;
  ArrayArg x, h0, c0, w_x, w_h, b, h_mask;
  py::array_t<uint8_t> mask;
  ConvLstmWeights<T> w;
  const T* h0p = nullptr;
  const T* c0p = nullptr;
  Device dev = Device::cpu;
  std::vector<int64_t> state;  // (B, F, *P)
  // (B, T, k, *P)
  std::vector<int64_t> seq(int64_t k) const {
    std::vector<int64_t> v{cfg.rnn.B, cfg.rnn.T, k};
    v.insert(v.end(), state.begin() + 2, state.end());
    return v;
  }
};

template <typename T>
ConvLstmInputs<T> gather_conv_lstm(const ArrayArg& x_arr, const py::object& h0,
                                   const py::object& c0, const py::object& w_x,
                                   const py::object& w_h, const py::object& b,
                                   const py::object& strides, const py::object& padding,
                                   const py::object& dilation, const py::kwargs& kw) {
  for (const char* k : {"w_peephole", "lstm_variant", "reset_after", "z_keeps_state"})
    if (kw.contains(k))
      throw py::type_error(std::string("unexpected keyword argument '") + k +
                           "' (a convolutional LSTM is the standard LSTM cell)");
  ConvLstmInputs<T> in;
  RnnConfig& c = in.cfg.rnn;
  c = parse_options("lstm", kw);
  in.x = x_arr;
  check_c_contiguous(in.x, "x");
  const int nsp = static_cast<int>(in.x.ndim()) - 3;
  if (nsp < 1 || nsp > 3)
    throw py::value_error(
        "x must be 4-, 5- or 6-dimensional (batch, time, channels, *spatial) with 1 to 3 "
        "spatial axes, got shape " +
        shape_str(in.x));
  const std::string kaxes = nsp == 1 ? "k" : nsp == 2 ? "kh, kw" : "kd, kh, kw";
  in.w_h = same_dtype_input<T>(w_h, in.x, "w_h");
  if (in.w_h.ndim() != nsp + 2 || in.w_h.shape(0) != 4 * in.w_h.shape(1) || in.w_h.shape(1) < 1)
    throw py::value_error("w_h must have shape (4*filters, filters, " + kaxes +
                          ") for gates i, f, g, o, got " + shape_str(in.w_h));
  const int64_t F = in.w_h.shape(1);
  in.w_x = same_dtype_input<T>(w_x, in.x, "w_x");
  if (in.w_x.ndim() != nsp + 2 || in.w_x.shape(0) != 4 * F)
    throw py::value_error("w_x must have shape (" + std::to_string(4 * F) + ", channels, " + kaxes +
                          ") to match w_h " + shape_str(in.w_h) + ", got " + shape_str(in.w_x));
  const int64_t B = in.x.shape(0), Tn = in.x.shape(1), C = in.x.shape(2);
  if (in.w_x.shape(1) != C)
    throw py::value_error("channel mismatch: x has " + std::to_string(C) +
                          " channels (axis 2 of shape " + shape_str(in.x) + ") but w_x expects " +
                          std::to_string(in.w_x.shape(1)) + " (shape " + shape_str(in.w_x) + ")");
  for (int i = 0; i < nsp; ++i) {
    if (in.w_x.shape(2 + i) < 1)
      throw py::value_error("w_x must have a non-empty kernel, got shape " + shape_str(in.w_x));
    if (in.w_h.shape(2 + i) < 1)
      throw py::value_error("w_h must have a non-empty kernel, got shape " + shape_str(in.w_h));
  }
  // the input convolution over the B*T frames
  std::vector<int64_t> frames = shape_of(in.x);
  frames.erase(frames.begin());
  frames[0] = B * Tn;
  const ConvArgs xa =
      conv_args(frames, shape_of(in.w_x), strides, padding, dilation, py::int_(1), "auto", nsp);
  std::vector<int64_t> ys = y_shape(xa);
  in.state = {B, F};
  in.state.insert(in.state.end(), ys.begin() + 2, ys.end());
  int64_t P = 1;
  for (size_t i = 2; i < in.state.size(); ++i) P *= in.state[i];
  if (P == 0)
    throw py::value_error("the input convolution's output is empty (x spatial shape " +
                          shape_str(std::vector<int64_t>(frames.begin() + 2, frames.end())) + ")");
  // the recurrent convolution over the states: stride 1, 'same', no dilation
  std::vector<int64_t> hs = in.state;
  const ConvArgs ha = conv_args(hs, shape_of(in.w_h), py::int_(1), py::str("same"), py::int_(1),
                                py::int_(1), "auto", nsp);
  if (xa.reference || ha.reference)
    throw py::value_error(
        "the convolution geometry (padding / dilation far beyond the input) is too large for "
        "the convolutional LSTM's kernels");
  int64_t H, seq_size;
  if (mul_overflow(F, P, &H) || mul_overflow(H, 4, &seq_size) ||
      !numel_fits(in.seq(4 * F), &seq_size))
    throw py::value_error("the gate workspace (batch, time, 4*filters, *output) is too large");
  in.cfg.F = F;
  in.cfg.xconv = xa.v();
  in.cfg.hconv = ha.v();
  c.B = B;
  c.T = Tn;
  c.H = H;
  c.I = C;
  in.w.w_x = in.w_x.template data<T>();
  in.w.w_h = in.w_h.template data<T>();
  in.w.b = optional_vector<T>(b, in.x, 4 * F, "b", in.b);
  auto state_arg = [&](const py::object& obj, const char* name, ArrayArg& keep) -> const T* {
    if (obj.is_none()) return nullptr;
    keep = same_dtype_input<T>(obj, in.x, name);
    check_dims(keep, in.state, name);
    return keep.template data<T>();
  };
  in.h0p = state_arg(h0, "h0", in.h0);
  in.c0p = state_arg(c0, "c0", in.c0);
  in.w.h_mask = state_arg(opt(kw, "h_mask"), "h_mask", in.h_mask);
  in.mask = parse_mask(opt(kw, "mask"), opt(kw, "lengths"), B, Tn);
  c.mask = in.mask.size() ? in.mask.data() : nullptr;
  in.dev = same_device({&in.x, &in.w_x, &in.w_h, &in.b, &in.h0, &in.c0, &in.h_mask},
                       {"x", "w_x", "w_h", "b", "h0", "c0", "h_mask"});
  return in;
}

py::tuple conv_lstm_fwd(const py::object& x_obj, const py::object& h0, const py::object& c0,
                        const py::object& w_x, const py::object& w_h, const py::object& b,
                        const py::object& strides, const py::object& padding,
                        const py::object& dilation, const py::kwargs& kw) {
  const ArrayArg x_arr = any_array_arg(x_obj, "x");
  return dispatch_float(x_arr, "x", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    ConvLstmInputs<T> in =
        gather_conv_lstm<T>(x_arr, h0, c0, w_x, w_h, b, strides, padding, dilation, kw);
    const RnnConfig& c = in.cfg.rnn;
    auto* kernel = conv_lstm_forward_device_stub<T>.get(in.dev);
    const ArrayArg out = empty_on<T>(in.dev, in.seq(in.cfg.F));
    const ArrayArg h_n = empty_on<T>(in.dev, in.state), c_n = empty_on<T>(in.dev, in.state);
    const ArrayArg gates = empty_on<T>(in.dev, in.seq(4 * in.cfg.F));
    const ArrayArg cells = empty_on<T>(in.dev, in.seq(in.cfg.F));
    const ArrayArg states = c.mask ? empty_on<T>(in.dev, in.seq(in.cfg.F)) : out;
    RnnWorkspace<T> ws{gates.data<T>(), cells.data<T>(), states.data<T>()};
    T *po = out.data<T>(), *phn = h_n.data<T>(), *pcn = c_n.data<T>();
    {
      KernelScope nogil;
      kernel(in.cfg, in.x.template data<T>(), in.h0p, in.c0p, in.w, po, phn, pcn, ws);
    }
    py::object mask = c.mask ? py::object(in.mask) : py::object(py::none());
    return py::make_tuple(out.owner, h_n.owner, c_n.owner,
                          py::make_tuple(gates.owner, cells.owner, states.owner, mask));
  });
}

py::tuple conv_lstm_bwd(const py::object& x_obj, const py::object& h0, const py::object& c0,
                        const py::object& w_x, const py::object& w_h, const py::object& b,
                        const py::tuple& ws_t, const py::object& dout_obj,
                        const py::object& dhn_obj, const py::object& dcn_obj,
                        const py::object& strides, const py::object& padding,
                        const py::object& dilation, const py::kwargs& kw) {
  if (kw.contains("mask") || kw.contains("lengths"))
    throw py::type_error("conv_lstm_backward takes the mask from ws, not as mask= or lengths=");
  const ArrayArg x_arr = any_array_arg(x_obj, "x");
  return dispatch_float(x_arr, "x", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    ConvLstmInputs<T> in =
        gather_conv_lstm<T>(x_arr, h0, c0, w_x, w_h, b, strides, padding, dilation, kw);
    RnnConfig& c = in.cfg.rnn;
    const int64_t F = in.cfg.F;
    if (ws_t.size() != 4)
      throw py::value_error("ws must be the 4-tuple (gates, cells, states, mask) from forward");
    auto ws_arg = [&](int i, const char* name, int64_t k) {
      const ArrayArg a = same_dtype_input<T>(ws_t[i], in.x, name);
      check_dims(a, in.seq(k), name);
      return a;
    };
    const ArrayArg gates = ws_arg(0, "ws[0] (gates)", 4 * F);
    const ArrayArg cells = ws_arg(1, "ws[1] (cells)", F);
    const ArrayArg states = ws_arg(2, "ws[2] (states)", F);
    same_device({&in.x, &gates, &cells, &states},
                {"x", "ws[0] (gates)", "ws[1] (cells)", "ws[2] (states)"});
    in.mask = parse_mask(py::reinterpret_borrow<py::object>(ws_t[3]), py::none(), c.B, c.T);
    c.mask = in.mask.size() ? in.mask.data() : nullptr;
    ArrayArg keep_out, keep_hn, keep_cn;
    auto grad_arg = [&](const py::object& obj, const std::vector<int64_t>& want, const char* name,
                        ArrayArg& keep) -> const T* {
      if (obj.is_none()) return nullptr;
      keep = same_dtype_input<T>(obj, in.x, name);
      check_dims(keep, want, name);
      return keep.template data<T>();
    };
    const T* dout = grad_arg(dout_obj, in.seq(F), "dout", keep_out);
    const T* dhn = grad_arg(dhn_obj, in.state, "dh_n", keep_hn);
    const T* dcn = grad_arg(dcn_obj, in.state, "dc_n", keep_cn);
    same_device({&in.x, &keep_out, &keep_hn, &keep_cn}, {"x", "dout", "dh_n", "dc_n"});
    auto* kernel = conv_lstm_backward_device_stub<T>.get(in.dev);
    const ArrayArg dx = empty_on<T>(in.dev, shape_of(in.x));
    const ArrayArg dh0 = empty_on<T>(in.dev, in.state), dc0 = empty_on<T>(in.dev, in.state);
    const ArrayArg dw_x = empty_on<T>(in.dev, shape_of(in.w_x));
    const ArrayArg dw_h = empty_on<T>(in.dev, shape_of(in.w_h));
    const ArrayArg db = in.w.b ? empty_on<T>(in.dev, {4 * F}) : ArrayArg{};
    ConvLstmGrads<T> g{dx.data<T>(),   dh0.data<T>(),  dc0.data<T>(),
                       dw_x.data<T>(), dw_h.data<T>(), in.w.b ? db.data<T>() : nullptr};
    RnnWorkspace<T> ws{gates.data<T>(), cells.data<T>(), states.data<T>()};
    {
      KernelScope nogil;
      kernel(in.cfg, in.x.template data<T>(), in.h0p, in.c0p, in.w, ws, dout, dhn, dcn, g);
    }
    return py::make_tuple(dx.owner, dh0.owner, dc0.owner, dw_x.owner, dw_h.owner,
                          in.w.b ? db.owner : py::object(py::none()));
  });
}

}  // namespace

DC_BINDINGS(rnn) {
  const char* fwd_doc =
      "Whole-sequence forward of one recurrent layer (csrc/rnn.h): (out, h_n, c_n or None, "
      "ws). x (B,T,I) batch-first; weights in PyTorch's layout.";
  m.def("rnn_forward", &fwd, py::arg("cell"), py::arg("x"), py::arg("h0"), py::arg("c0"),
        py::arg("w_ih"), py::arg("w_hh"), py::arg("b_ih"), py::arg("b_hh"), fwd_doc);
  m.def("rnn_backward", &bwd, py::arg("cell"), py::arg("x"), py::arg("h0"), py::arg("c0"),
        py::arg("w_ih"), py::arg("w_hh"), py::arg("b_ih"), py::arg("b_hh"), py::arg("ws"),
        py::arg("dout"), py::arg("dh_n"), py::arg("dc_n"),
        "BPTT of rnn_forward: (dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dw_peephole), None "
        "where the input is absent.");
  m.def("rnn_forward_ref", &fwd_ref, py::arg("cell"), py::arg("x"), py::arg("h0"), py::arg("c0"),
        py::arg("w_ih"), py::arg("w_hh"), py::arg("b_ih"), py::arg("b_hh"),
        "Reference (naive, double) rnn_forward: (out, h_n, c_n or None).");
  m.def("conv_lstm_forward", &conv_lstm_fwd, py::arg("x"), py::arg("h0"), py::arg("c0"),
        py::arg("w_x"), py::arg("w_h"), py::arg("b"), py::arg("strides") = 1,
        py::arg("padding") = "valid", py::arg("dilation") = 1,
        "Whole-sequence forward of a convolutional LSTM (csrc/conv_lstm.h): (out, h_n, c_n, ws). "
        "x (B,T,C,*S) channels-first frames; w_x (4F,C,*k), w_h (4F,F,*k), b (4F,), gates i, f, "
        "g, o; padding as conv's ('valid', 'same', ints).");
  m.def("conv_lstm_backward", &conv_lstm_bwd, py::arg("x"), py::arg("h0"), py::arg("c0"),
        py::arg("w_x"), py::arg("w_h"), py::arg("b"), py::arg("ws"), py::arg("dout"),
        py::arg("dh_n"), py::arg("dc_n"), py::arg("strides") = 1, py::arg("padding") = "valid",
        py::arg("dilation") = 1,
        "BPTT of conv_lstm_forward: (dx, dh0, dc0, dw_x, dw_h, db or None).");
  m.def("rnn_backward_ref", &bwd_ref, py::arg("cell"), py::arg("x"), py::arg("h0"), py::arg("c0"),
        py::arg("w_ih"), py::arg("w_hh"), py::arg("b_ih"), py::arg("b_hh"), py::arg("dout"),
        py::arg("dh_n"), py::arg("dc_n"), "Reference (naive, double) rnn_backward.");
}

}  // namespace dc
