// The fused pointwise passes of the recurrent cells, one ISA copy (see [Note: one source, three
// ISAs]). Each call handles one time step of a block of rows x units (RnnRows in rnn.h):
// all the gate math of the step in one pass over the block, vectorised along the units
// (see [Note: one formula, every width]). Single-threaded: csrc/rnn.cpp owns the threads.
#include "cpu/activation_math.h"
#include "cpu/gemm_kernels.h"  // fma_vec
#include "rnn.h"

namespace dc {
namespace DC_ISA_NS {
namespace {

// ------------------------------------------------------------------------------ activations

template <RnnAct K, typename V>
inline V act_k(V x, V s0, V s1) {
  const V zero = bc<V>(0.0);
  if constexpr (K == RnnAct::tanh) return vtanh(x);
  if constexpr (K == RnnAct::sigmoid) return vsigmoid(x);
  if constexpr (K == RnnAct::relu) return x < zero ? zero : x;
  if constexpr (K == RnnAct::hard_sigmoid) return vmin(vmax(s0 * x + s1, zero), bc<V>(1.0));
  if constexpr (K == RnnAct::linear) return x;
}

// Derivative from the output y (see RnnAct in rnn.h).
template <RnnAct K, typename V>
inline V dact_k(V y, V s0) {
  const V zero = bc<V>(0.0), one = bc<V>(1.0);
  if constexpr (K == RnnAct::tanh) return one - y * y;
  if constexpr (K == RnnAct::sigmoid) return y * (one - y);
  if constexpr (K == RnnAct::relu) return y > zero ? one : zero;
  if constexpr (K == RnnAct::hard_sigmoid) return y > zero ? (y < one ? s0 : zero) : zero;
  if constexpr (K == RnnAct::linear) return one;
}

#define DC_RNN_ACT_SWITCH(kind, EXPR)            \
  switch (kind) {                                \
    case RnnAct::tanh: {                         \
      constexpr RnnAct K = RnnAct::tanh;         \
      return EXPR;                               \
    }                                            \
    case RnnAct::sigmoid: {                      \
      constexpr RnnAct K = RnnAct::sigmoid;      \
      return EXPR;                               \
    }                                            \
    case RnnAct::relu: {                         \
      constexpr RnnAct K = RnnAct::relu;         \
      return EXPR;                               \
    }                                            \
    case RnnAct::hard_sigmoid: {                 \
      constexpr RnnAct K = RnnAct::hard_sigmoid; \
      return EXPR;                               \
    }                                            \
    default: {                                   \
      constexpr RnnAct K = RnnAct::linear;       \
      return EXPR;                               \
    }                                            \
  }

// The activations of a call: fixed at compile time for the common pairs (no branch in the
// loop), else chosen per vector at run time (a perfectly predicted branch).
template <typename V, RnnAct A, RnnAct GA>
struct FixedActs {
  V s0, s1;
  V act(V x) const { return act_k<A>(x, s0, s1); }
  V gate(V x) const { return act_k<GA>(x, s0, s1); }
  V dact(V y) const { return dact_k<A>(y, s0); }
  V dgate(V y) const { return dact_k<GA>(y, s0); }
};

template <typename V>
struct RuntimeActs {
  V s0, s1;
  RnnAct a, ga;
  V act(V x) const {DC_RNN_ACT_SWITCH(a, (act_k<K>(x, s0, s1)))} V
      gate(V x) const {DC_RNN_ACT_SWITCH(ga, (act_k<K>(x, s0, s1)))} V
      dact(V y) const {DC_RNN_ACT_SWITCH(a, (dact_k<K>(y, s0)))} V dgate(V y) const {
    DC_RNN_ACT_SWITCH(ga, (dact_k<K>(y, s0)))
  }
};
#undef DC_RNN_ACT_SWITCH

template <typename T, typename Fn>
void with_acts(const RnnConfig& c, Fn&& fn) {
  using V = typename Lanes<T>::V;
  const V s0 = bc<V>(c.hs_slope), s1 = bc<V>(c.hs_offset);
  if (c.act == RnnAct::tanh && c.gate_act == RnnAct::sigmoid)
    fn(FixedActs<V, RnnAct::tanh, RnnAct::sigmoid>{s0, s1});
  else if (c.act == RnnAct::relu && c.gate_act == RnnAct::sigmoid)
    fn(FixedActs<V, RnnAct::relu, RnnAct::sigmoid>{s0, s1});
  else
    fn(RuntimeActs<V>{s0, s1, c.act, c.gate_act});
}

// ------------------------------------------------------------------------------ vector loops

// [Note: RNN vector loops] The loop bodies below are too large for the compiler to inline into
// for_each_vec, where the vector width would become a constant; a runtime width turns every
// loadn/storen into a call to memcpy (9% of an LSTM forward). So full vectors are passed a
// compile-time width, Full<W>, whose loads and stores are plain vector moves; only the tail
// goes through the variable-size loadn/storen.
template <int W>
struct Full {};
template <typename T, int W>
inline auto ld(const T* p, Full<W>) {
  return load(p);
}
template <typename T>
inline auto ld(const T* p, int m) {
  return loadn(p, m);
}
template <typename T, typename V, int W>
inline void st(T* p, V v, Full<W>) {
  store(p, v);
}
template <typename T, typename V>
inline void st(T* p, V v, int m) {
  storen(p, v, m);
}
template <int W, typename F>
inline void each_vec(int64_t n, F&& f) {
  int64_t i = 0;
  for (; i + W <= n; i += W) f(i, Full<W>{});
  if (i < n) f(i, static_cast<int>(n - i));
}

// ------------------------------------------------------------------------------ shared pieces

template <typename T>
inline void copy_n(T* dst, const T* src, int64_t n) {
  for (int64_t j = 0; j < n; ++j) dst[j] = src[j];
}
template <typename T>
inline void zero_n(T* dst, int64_t n) {
  for (int64_t j = 0; j < n; ++j) dst[j] = T(0);
}

template <typename T>
inline bool row_masked(const RnnRows<T>& a, int64_t r) {
  return a.mask && !a.mask[r * a.ldm];
}

// Forward on a masked row: the state carries over, the output is zero or the previous one.
template <typename T>
void carry_row(const RnnConfig& c, const RnnRows<T>& a, int64_t r) {
  copy_n(a.h + r * a.ldh, a.hp + r * a.ldhp, a.n);
  if (a.c) copy_n(a.c + r * a.ldc, a.cp + r * a.ldcp, a.n);
  if (a.out) {
    T* o = a.out + r * a.ldo;
    if (c.zero_output || !a.oprev)
      zero_n(o, a.n);
    else
      copy_n(o, a.oprev + r * a.ldop, a.n);
  }
}

// Backward on a masked row: no gate gradient, dh and dc pass through to the previous step; in
// carry mode the output gradient waits for the last real step (whose output it was).
template <typename T>
void carry_row_bwd(const RnnRows<T>& a, int64_t r, int slots) {
  T* dg = a.dg + r * a.lddg;
  for (int k = 0; k < slots; ++k) zero_n(dg + k * a.H, a.n);
  copy_n(a.dhp + r * a.lddhp, a.dh + r * a.lddh, a.n);
  if (a.dcarry && a.dout) {
    T* d = a.dcarry + r * a.lddca;
    const T* o = a.dout + r * a.lddo;
    for (int64_t j = 0; j < a.n; ++j) d[j] += o[j];
  }
}

// dL/dh_t of a real step at units [j, j+m): from the later steps, this step's output, and
// (carry mode) the outputs of the masked steps after it, which were copies of this one.
template <typename T, typename M, typename V = typename Lanes<T>::V>
inline V dh_total(const RnnRows<T>& a, int64_t r, int64_t j, M m) {
  V d = ld(a.dh + r * a.lddh + j, m);
  if (a.dout) d += ld(a.dout + r * a.lddo + j, m);
  if (a.dcarry) {
    T* ca = a.dcarry + r * a.lddca + j;
    d += ld(ca, m);
    st(ca, bc<V>(0.0), m);
  }
  return d;
}

// fn(r) for every real row of the block; masked rows carry the state (carry_row).
template <typename T, typename Fn>
void each_real_row(const RnnConfig& c, const RnnRows<T>& a, Fn&& fn) {
  for (int64_t r = 0; r < a.rows; ++r) {
    if (row_masked(a, r))
      carry_row(c, a, r);
    else
      fn(r);
  }
}
// Backward: masked rows pass the gradients through (carry_row_bwd, `slots` gate blocks zeroed).
template <typename T, typename Fn>
void each_real_row_bwd(const RnnRows<T>& a, int slots, Fn&& fn) {
  for (int64_t r = 0; r < a.rows; ++r) {
    if (row_masked(a, r))
      carry_row_bwd(a, r, slots);
    else
      fn(r);
  }
}

// Pre-activation of gate k: x-projection (workspace) + recurrent part + bias.
template <typename T, typename M, typename V = typename Lanes<T>::V>
inline V pre(const RnnRows<T>& a, const T* gx, const T* gh, int k, int64_t j, M m) {
  V v = ld(gx + k * a.H + j, m) + ld(gh + k * a.sgh + j, m);
  if (a.bias) v += ld(a.bias + k * a.H + j, m);
  return v;
}

// ------------------------------------------------------------------------------ simple RNN

template <typename T, typename F>
void rnn_fwd_k(const RnnConfig& c, const RnnRows<T>& a, const F& f) {
  constexpr int W = Lanes<T>::W;
  each_real_row(c, a, [&](int64_t r) {
    const T* gx = a.g + r * a.ldg;
    const T* gh = a.gh + r * a.ldgh;
    T* h = a.h + r * a.ldh;
    T* o = a.out ? a.out + r * a.ldo : nullptr;
    each_vec<W>(a.n, [&](int64_t j, auto m) {
      const auto hv = f.act(pre(a, gx, gh, 0, j, m));
      st(h + j, hv, m);
      if (o) st(o + j, hv, m);
    });
  });
}

template <typename T, typename F>
void rnn_bwd_k(const RnnConfig&, const RnnRows<T>& a, const F& f) {
  using V = typename Lanes<T>::V;
  constexpr int W = Lanes<T>::W;
  each_real_row_bwd(a, 1, [&](int64_t r) {
    const T* h = a.h + r * a.ldh;
    T* dg = a.dg + r * a.lddg;
    T* dhp = a.dhp + r * a.lddhp;
    each_vec<W>(a.n, [&](int64_t j, auto m) {
      const V dh = dh_total(a, r, j, m);
      st(dg + j, dh * f.dact(ld(h + j, m)), m);
      st(dhp + j, bc<V>(0.0), m);
    });
  });
}

// ------------------------------------------------------------------------------ LSTM

// Gate slots of the variants (PyTorch's i, f, g, o with the absent gate left out) and of the
// peephole blocks (i, f, o with the same rule); -1: absent.
struct LstmSlots {
  int i, f, g, o, pi, pf, po;
  explicit LstmSlots(LstmVariant v) {
    const bool std_ = v == LstmVariant::standard, cpl = v == LstmVariant::coupled;
    i = cpl ? -1 : 0;
    f = std_ ? 1 : cpl ? 0 : -1;
    g = std_ ? 2 : 1;
    o = std_ ? 3 : 2;
    pi = cpl ? -1 : 0;
    pf = std_ ? 1 : cpl ? 0 : -1;
    po = std_ ? 2 : 1;
  }
};

template <typename T, typename F>
void lstm_fwd_k(const RnnConfig& c, const RnnRows<T>& a, const F& f) {
  using V = typename Lanes<T>::V;
  constexpr int W = Lanes<T>::W;
  const LstmSlots s(c.lstm);
  const LstmVariant var = c.lstm;
  const int64_t H = a.H;
  const T* p = a.peep;
  each_real_row(c, a, [&](int64_t r) {
    T* g = a.g + r * a.ldg;
    const T* gh = a.gh + r * a.ldgh;
    const T* cp = a.cp + r * a.ldcp;
    T* cr = a.c + r * a.ldc;
    T* h = a.h + r * a.ldh;
    T* o = a.out ? a.out + r * a.ldo : nullptr;
    each_vec<W>(a.n, [&](int64_t j, auto m) {
      const V cpv = ld(cp + j, m);
      const V gv = f.act(pre(a, g, gh, s.g, j, m));
      V cv;
      if (var == LstmVariant::standard) {
        V ai = pre(a, g, gh, s.i, j, m), af = pre(a, g, gh, s.f, j, m);
        if (p) {
          ai += ld(p + s.pi * H + j, m) * cpv;
          af += ld(p + s.pf * H + j, m) * cpv;
        }
        const V iv = f.gate(ai), fv = f.gate(af);
        cv = fv * cpv + iv * gv;
        st(g + s.i * H + j, iv, m);
        st(g + s.f * H + j, fv, m);
      } else if (var == LstmVariant::no_forget) {
        V ai = pre(a, g, gh, s.i, j, m);
        if (p) ai += ld(p + s.pi * H + j, m) * cpv;
        const V iv = f.gate(ai);
        cv = cpv + iv * gv;
        st(g + s.i * H + j, iv, m);
      } else {
        V af = pre(a, g, gh, s.f, j, m);
        if (p) af += ld(p + s.pf * H + j, m) * cpv;
        const V fv = f.gate(af);
        cv = fv * cpv + (bc<V>(1.0) - fv) * gv;
        st(g + s.f * H + j, fv, m);
      }
      V ao = pre(a, g, gh, s.o, j, m);
      if (p) ao += ld(p + s.po * H + j, m) * cv;
      const V ov = f.gate(ao);
      const V hv = ov * f.act(cv);
      st(g + s.g * H + j, gv, m);
      st(g + s.o * H + j, ov, m);
      st(cr + j, cv, m);
      st(h + j, hv, m);
      if (o) st(o + j, hv, m);
    });
  });
}

template <typename T, typename F>
void lstm_bwd_k(const RnnConfig& c, const RnnRows<T>& a, const F& f) {
  using V = typename Lanes<T>::V;
  constexpr int W = Lanes<T>::W;
  const LstmSlots s(c.lstm);
  const LstmVariant var = c.lstm;
  const int64_t H = a.H;
  const T* p = a.peep;
  const int slots = static_cast<int>(c.gates());
  each_real_row_bwd(a, slots, [&](int64_t r) {
    const T* g = a.g + r * a.ldg;
    const T* cp = a.cp + r * a.ldcp;
    const T* cr = a.c + r * a.ldc;
    T* dg = a.dg + r * a.lddg;
    T* dc = a.dc + r * a.lddc;
    T* dhp = a.dhp + r * a.lddhp;
    each_vec<W>(a.n, [&](int64_t j, auto m) {
      const V one = bc<V>(1.0);
      const V dh = dh_total(a, r, j, m);
      const V cv = ld(cr + j, m), cpv = ld(cp + j, m);
      const V gv = ld(g + s.g * H + j, m), ov = ld(g + s.o * H + j, m);
      const V tc = f.act(cv);
      const V dao = dh * tc * f.dgate(ov);
      V dcv = ld(dc + j, m) + dh * ov * f.dact(tc);
      if (p) dcv += dao * ld(p + s.po * H + j, m);
      V dcp;
      if (var == LstmVariant::standard) {
        const V iv = ld(g + s.i * H + j, m), fv = ld(g + s.f * H + j, m);
        const V dai = dcv * gv * f.dgate(iv), daf = dcv * cpv * f.dgate(fv);
        st(dg + s.i * H + j, dai, m);
        st(dg + s.f * H + j, daf, m);
        st(dg + s.g * H + j, dcv * iv * f.dact(gv), m);
        dcp = dcv * fv;
        if (p) dcp += dai * ld(p + s.pi * H + j, m) + daf * ld(p + s.pf * H + j, m);
      } else if (var == LstmVariant::no_forget) {
        const V iv = ld(g + s.i * H + j, m);
        const V dai = dcv * gv * f.dgate(iv);
        st(dg + s.i * H + j, dai, m);
        st(dg + s.g * H + j, dcv * iv * f.dact(gv), m);
        dcp = dcv;
        if (p) dcp += dai * ld(p + s.pi * H + j, m);
      } else {  // coupled: i = 1 - f, so dL/df gets -dL/di
        const V fv = ld(g + s.f * H + j, m);
        const V daf = dcv * (cpv - gv) * f.dgate(fv);
        st(dg + s.f * H + j, daf, m);
        st(dg + s.g * H + j, dcv * (one - fv) * f.dact(gv), m);
        dcp = dcv * fv;
        if (p) dcp += daf * ld(p + s.pf * H + j, m);
      }
      st(dg + s.o * H + j, dao, m);
      st(dc + j, dcp, m);
      st(dhp + j, bc<V>(0.0), m);
    });
  });
}

// ------------------------------------------------------------------------------ GRU
// Workspace slots: 0 aux (U_n h + b_hn with reset_after, r*h_{t-1} without), 1 r, 2 z, 3 n.
// The x-projection of r, z, n is in slots 1..3 before the pass; gh holds r, z, n at 0..2.

template <typename T, typename V = typename Lanes<T>::V>
inline V gru_mix(const RnnConfig& c, V z, V hp, V n) {
  // z_keeps_state: h = z*hp + (1-z)*n, else (1-z)*hp + z*n
  return c.z_keeps_state ? n + z * (hp - n) : hp + z * (n - hp);
}

// One GRU step. kAfter (reset_after): r, z, n = act(x_n + r*(U_n h + b_hn)) all here;
// else r and z came from gru_fwd_rz_k and gh slot 2 holds U_n (r*h_{t-1}).
template <bool kAfter, typename T, typename F>
void gru_fwd_k(const RnnConfig& c, const RnnRows<T>& a, const F& f) {
  using V = typename Lanes<T>::V;
  constexpr int W = Lanes<T>::W;
  const int64_t H = a.H;
  each_real_row(c, a, [&](int64_t r) {
    T* g = a.g + r * a.ldg;
    const T* gx = g + H;
    const T* gh = a.gh + r * a.ldgh;
    const T* hp = a.hp + r * a.ldhp;
    T* h = a.h + r * a.ldh;
    T* o = a.out ? a.out + r * a.ldo : nullptr;
    each_vec<W>(a.n, [&](int64_t j, auto m) {
      V zv, an;
      if constexpr (kAfter) {
        const V rv = f.gate(pre(a, gx, gh, 0, j, m));
        zv = f.gate(pre(a, gx, gh, 1, j, m));
        V ghn = ld(gh + 2 * a.sgh + j, m);
        if (a.bias_hn) ghn += ld(a.bias_hn + j, m);
        an = ld(gx + 2 * H + j, m) + rv * ghn;
        if (a.bias) an += ld(a.bias + 2 * H + j, m);
        st(g + j, ghn, m);
        st(g + H + j, rv, m);
        st(g + 2 * H + j, zv, m);
      } else {
        zv = ld(g + 2 * H + j, m);
        an = pre(a, gx, gh, 2, j, m);
      }
      const V nv = f.act(an);
      const V hv = gru_mix<T>(c, zv, ld(hp + j, m), nv);
      st(g + 3 * H + j, nv, m);
      st(h + j, hv, m);
      if (o) st(o + j, hv, m);
    });
  });
}

// reset_after=False, first half: r, z, and r*h_{t-1} (the next GEMM's input) into slot 0.
template <typename T, typename F>
void gru_fwd_rz_k(const RnnConfig&, const RnnRows<T>& a, const F& f) {
  using V = typename Lanes<T>::V;
  constexpr int W = Lanes<T>::W;
  const int64_t H = a.H;
  for (int64_t r = 0; r < a.rows; ++r) {
    T* g = a.g + r * a.ldg;
    if (row_masked(a, r)) {  // finite values: backward multiplies them by zero gradients
      zero_n(g, a.n);
      continue;
    }
    const T* gx = g + H;
    const T* gh = a.gh + r * a.ldgh;
    const T* hp = a.hp + r * a.ldhp;
    const T* hm = a.hm ? a.hm + r * a.H : nullptr;
    each_vec<W>(a.n, [&](int64_t j, auto m) {
      const V rv = f.gate(pre(a, gx, gh, 0, j, m)), zv = f.gate(pre(a, gx, gh, 1, j, m));
      V hpm = ld(hp + j, m);
      if (hm) hpm *= ld(hm + j, m);
      st(g + j, rv * hpm, m);
      st(g + H + j, rv, m);
      st(g + 2 * H + j, zv, m);
    });
  }
}

// dz and dn of the update h = mix(z, hp, n); the direct part of dh_{t-1} into dhp.
template <typename T, typename V = typename Lanes<T>::V>
inline void gru_mix_bwd(const RnnConfig& c, V dh, V z, V hp, V n, V& dz, V& dn, V& dhp) {
  const V one = bc<V>(1.0);
  if (c.z_keeps_state) {
    dz = dh * (hp - n);
    dn = dh * (one - z);
    dhp = dh * z;
  } else {
    dz = dh * (n - hp);
    dn = dh * z;
    dhp = dh * (one - z);
  }
}

// kAfter (reset_after): every gate gradient of the step; else dz, dn only (dr needs the GEMM
// for d(r*h_{t-1}) first: gru_bwd_rz_k).
template <bool kAfter, typename T, typename F>
void gru_bwd_k(const RnnConfig& c, const RnnRows<T>& a, const F& f) {
  using V = typename Lanes<T>::V;
  constexpr int W = Lanes<T>::W;
  const int64_t H = a.H;
  each_real_row_bwd(a, 4, [&](int64_t r) {
    const T* g = a.g + r * a.ldg;
    const T* hp = a.hp + r * a.ldhp;
    T* dg = a.dg + r * a.lddg;
    T* dhp = a.dhp + r * a.lddhp;
    each_vec<W>(a.n, [&](int64_t j, auto m) {
      const V dh = dh_total(a, r, j, m);
      const V zv = ld(g + 2 * H + j, m), nv = ld(g + 3 * H + j, m);
      V dz, dn, dd;
      gru_mix_bwd<T>(c, dh, zv, ld(hp + j, m), nv, dz, dn, dd);
      const V dan = dn * f.dact(nv);
      if constexpr (kAfter) {
        const V ghn = ld(g + j, m), rv = ld(g + H + j, m);
        st(dg + j, dan * rv, m);
        st(dg + H + j, dan * ghn * f.dgate(rv), m);
      }
      st(dg + 2 * H + j, dz * f.dgate(zv), m);
      st(dg + 3 * H + j, dan, m);
      st(dhp + j, dd, m);
    });
  });
}

// drh = d(r*h_{t-1}) (from the GEMM with U_n): dr = drh*h_{t-1}, dh_{t-1} += drh*r (times the
// recurrent dropout mask, see [Note: recurrent dropout] in rnn.h).
template <typename T, typename F>
void gru_bwd_rz_k(const RnnConfig&, const RnnRows<T>& a, const F& f) {
  using V = typename Lanes<T>::V;
  constexpr int W = Lanes<T>::W;
  const int64_t H = a.H;
  for (int64_t r = 0; r < a.rows; ++r) {
    if (row_masked(a, r)) continue;  // gru_bwd_k<false> handled it
    const T* g = a.g + r * a.ldg;
    const T* hp = a.hp + r * a.ldhp;
    const T* drh = a.drh + r * a.lddrh;
    const T* hm = a.hm ? a.hm + r * a.H : nullptr;
    T* dg = a.dg + r * a.lddg;
    T* dhp = a.dhp + r * a.lddhp;
    each_vec<W>(a.n, [&](int64_t j, auto m) {
      const V d = ld(drh + j, m), rv = ld(g + H + j, m);
      V hpm = ld(hp + j, m), drm = d * rv;  // r*h_{t-1}*mask: d/dh = d*r*mask
      if (hm) {
        const V mv = ld(hm + j, m);
        hpm *= mv;
        drm *= mv;
      }
      st(dg + H + j, d * hpm * f.dgate(rv), m);
      st(dhp + j, ld(dhp + j, m) + drm, m);
    });
  }
}

// ------------------------------------------------------------------------------ GEMV

// a * b + c: fused for float vectors where the ISA has FMA (as the GEMM's micro-kernels are);
// the float64 path stays scalar and unfused (see [Note: one formula, every width]).
inline vf mul_add(vf a, vf b, vf c) { return fma_vec<float>(a, b, c); }
inline double mul_add(double a, double b, double c) { return a * b + c; }

// gemv_n: columns [n0, n0 + NV*W) of x @ B for B (K, N) read along its rows, the sums in
// vectors; with kTail the chunk is one vector of `cnt` < W lanes.
template <typename T, int R, int NV, bool kTail = false>
void gemv_n_cols(int64_t K, int64_t n0, int cnt, const T* x, int64_t ldx, const T* B, int64_t ldb,
                 bool accumulate, T* y, int64_t ldy) {
  using V = typename Lanes<T>::V;
  constexpr int L = Lanes<T>::W;
  V acc[R][NV];
#pragma GCC unroll 16
  for (int i = 0; i < R * NV; ++i) acc[i / NV][i % NV] = bc<V>(0.0);
  for (int64_t k = 0; k < K; ++k) {
    const T* row = B + k * ldb + n0;
    V xv[R];
#pragma GCC unroll 2
    for (int r = 0; r < R; ++r) xv[r] = bc<V>(x[r * ldx + k]);
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      const V w = kTail ? loadn(row, cnt) : load(row + v * L);
#pragma GCC unroll 2
      for (int r = 0; r < R; ++r) acc[r][v] = mul_add(xv[r], w, acc[r][v]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) {
      T* yr = y + r * ldy + n0 + v * L;
      const int n = kTail ? cnt : L;
      V out = acc[r][v];
      if (accumulate) out += loadn(yr, n);
      storen(yr, out, n);
    }
}

template <typename T, int R>
void gemv_n_rows(int64_t K, int64_t N, const T* x, int64_t ldx, const T* B, int64_t ldb,
                 bool accumulate, T* y, int64_t ldy) {
  constexpr int L = Lanes<T>::W, kChunk = 8 / R;  // 8 vectors of sums in flight
  const int64_t full = N / L;
  int64_t v = 0;
  for (; v + kChunk <= full; v += kChunk)
    gemv_n_cols<T, R, kChunk>(K, v * L, L, x, ldx, B, ldb, accumulate, y, ldy);
  if constexpr (kChunk > 2)
    if (v + 4 <= full) {
      gemv_n_cols<T, R, 4>(K, v * L, L, x, ldx, B, ldb, accumulate, y, ldy);
      v += 4;
    }
  if (v + 2 <= full) {
    gemv_n_cols<T, R, 2>(K, v * L, L, x, ldx, B, ldb, accumulate, y, ldy);
    v += 2;
  }
  if (v < full) gemv_n_cols<T, R, 1>(K, v++ * L, L, x, ldx, B, ldb, accumulate, y, ldy);
  if (v * L < N)
    gemv_n_cols<T, R, 1, true>(K, v * L, static_cast<int>(N - v * L), x, ldx, B, ldb, accumulate, y,
                               ldy);
}

// The sum of a vector's lanes by halving through shuffles, which keep it in a register (hsum's
// copies of halves go through memory, and would keep gemv_t's sums there for the whole loop).
inline float lane_sum(vf v) {
#if DC_ISA_LEVEL == 2
  v += __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
  v += __builtin_shufflevector(v, v, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11);
  v += __builtin_shufflevector(v, v, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
  v += __builtin_shufflevector(v, v, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
#elif DC_ISA_LEVEL == 1
  v += __builtin_shufflevector(v, v, 4, 5, 6, 7, 0, 1, 2, 3);
  v += __builtin_shufflevector(v, v, 2, 3, 0, 1, 6, 7, 4, 5);
  v += __builtin_shufflevector(v, v, 1, 0, 3, 2, 5, 4, 7, 6);
#else
  v += __builtin_shufflevector(v, v, 2, 3, 0, 1);
  v += __builtin_shufflevector(v, v, 1, 0, 3, 2);
#endif
  return v[0];
}
inline double lane_sum(double v) { return v; }

// gemv_t: outputs [n0, n0 + NB) of x @ B^T for B (N, K): NB dot products along B's rows, each
// summed in one vector and then across its lanes.
template <typename T, int R, int NB>
void gemv_t_rows(int64_t K, int64_t n0, const T* x, int64_t ldx, const T* B, int64_t ldb,
                 bool accumulate, T* y, int64_t ldy) {
  using V = typename Lanes<T>::V;
  constexpr int L = Lanes<T>::W;
  V acc[R][NB];
#pragma GCC unroll 16
  for (int i = 0; i < R * NB; ++i) acc[i / NB][i % NB] = bc<V>(0.0);
  const int64_t kv = K / L * L;
  for (int64_t k = 0; k < kv; k += L) {
    V xv[R];
#pragma GCC unroll 2
    for (int r = 0; r < R; ++r) xv[r] = load(x + r * ldx + k);
#pragma GCC unroll 8
    for (int j = 0; j < NB; ++j) {
      const V w = load(B + (n0 + j) * ldb + k);
#pragma GCC unroll 2
      for (int r = 0; r < R; ++r) acc[r][j] = mul_add(xv[r], w, acc[r][j]);
    }
  }
  // the last partial vector, the other lanes zero: the loop body again with loadn (one lambda
  // for both took the sums' addresses, and GCC then kept them in memory for the whole loop)
  if (kv < K) {
    const int cnt = static_cast<int>(K - kv);
    V xv[R];
#pragma GCC unroll 2
    for (int r = 0; r < R; ++r) xv[r] = loadn(x + r * ldx + kv, cnt);
#pragma GCC unroll 8
    for (int j = 0; j < NB; ++j) {
      const V w = loadn(B + (n0 + j) * ldb + kv, cnt);
#pragma GCC unroll 2
      for (int r = 0; r < R; ++r) acc[r][j] = mul_add(xv[r], w, acc[r][j]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < NB; ++j) {
      T* yr = y + r * ldy + n0 + j;
      const T sum = lane_sum(acc[r][j]);
      *yr = accumulate ? *yr + sum : sum;
    }
}

template <typename T, int R>
void gemv_t_all(int64_t K, int64_t N, const T* x, int64_t ldx, const T* B, int64_t ldb,
                bool accumulate, T* y, int64_t ldy) {
  constexpr int kBlock = 8 / R;  // 8 vectors of sums in flight
  int64_t n = 0;
  for (; n + kBlock <= N; n += kBlock)
    gemv_t_rows<T, R, kBlock>(K, n, x, ldx, B, ldb, accumulate, y, ldy);
  for (; n < N; ++n) gemv_t_rows<T, R, 1>(K, n, x, ldx, B, ldb, accumulate, y, ldy);
}

template <typename T>
void gemv_n(int64_t rows, int64_t K, int64_t N, const T* x, int64_t ldx, const T* B, int64_t ldb,
            bool accumulate, T* y, int64_t ldy) {
  if (rows == 2) return gemv_n_rows<T, 2>(K, N, x, ldx, B, ldb, accumulate, y, ldy);
  if (rows == 1) gemv_n_rows<T, 1>(K, N, x, ldx, B, ldb, accumulate, y, ldy);
}

template <typename T>
void gemv_t(int64_t rows, int64_t K, int64_t N, const T* x, int64_t ldx, const T* B, int64_t ldb,
            bool accumulate, T* y, int64_t ldy) {
  if (rows == 2) return gemv_t_all<T, 2>(K, N, x, ldx, B, ldb, accumulate, y, ldy);
  if (rows == 1) gemv_t_all<T, 1>(K, N, x, ldx, B, ldb, accumulate, y, ldy);
}

// ------------------------------------------------------------------------------ table

#define DC_RNN_ENTRY(name)                                         \
  template <typename T>                                            \
  void name(const RnnConfig& c, const RnnRows<T>& a) {             \
    with_acts<T>(c, [&](const auto& f) { name##_k<T>(c, a, f); }); \
  }
DC_RNN_ENTRY(rnn_fwd)
DC_RNN_ENTRY(rnn_bwd)
DC_RNN_ENTRY(lstm_fwd)
DC_RNN_ENTRY(lstm_bwd)
DC_RNN_ENTRY(gru_fwd_rz)
DC_RNN_ENTRY(gru_bwd_rz)
#undef DC_RNN_ENTRY

template <bool kAfter, typename T>
void gru_fwd(const RnnConfig& c, const RnnRows<T>& a) {
  with_acts<T>(c, [&](const auto& f) { gru_fwd_k<kAfter, T>(c, a, f); });
}
template <bool kAfter, typename T>
void gru_bwd(const RnnConfig& c, const RnnRows<T>& a) {
  with_acts<T>(c, [&](const auto& f) { gru_bwd_k<kAfter, T>(c, a, f); });
}

template <typename T>
const RnnKernels<T>* kernels() {
  static const RnnKernels<T> k = {&gemv_n<T>,         &gemv_t<T>,         &rnn_fwd<T>,
                                  &rnn_bwd<T>,        &lstm_fwd<T>,       &lstm_bwd<T>,
                                  &gru_fwd<true, T>,  &gru_bwd<true, T>,  &gru_fwd_rz<T>,
                                  &gru_fwd<false, T>, &gru_bwd<false, T>, &gru_bwd_rz<T>};
  return &k;
}

}  // namespace

DC_REGISTER_DISPATCH_T(rnn_stub, float, &kernels<float>);
DC_REGISTER_DISPATCH_T(rnn_stub, double, &kernels<double>);

}  // namespace DC_ISA_NS
}  // namespace dc
