// Reference recurrent layers: one sequence, one step and one element at a time, in double with
// <cmath>, always built. Tests compare csrc/rnn.cpp against these (tests/test_rnn.py). Same
// contract as rnn_forward / rnn_backward in rnn.h; backward recomputes the forward.
#include <cmath>
#include <vector>

#include "rnn.h"

namespace dc::ref {

namespace {

using Vec = std::vector<double>;

double act(RnnAct k, double x, const RnnConfig& c) {
  switch (k) {
    case RnnAct::tanh:
      return std::tanh(x);
    case RnnAct::sigmoid:
      return 1.0 / (1.0 + std::exp(-x));
    case RnnAct::relu:
      return x > 0 ? x : 0.0;
    case RnnAct::hard_sigmoid:
      return std::fmin(1.0, std::fmax(0.0, c.hs_slope * x + c.hs_offset));
    default:
      return x;
  }
}

// derivative as a function of the output y = act(x)
double dact(RnnAct k, double y, const RnnConfig& c) {
  switch (k) {
    case RnnAct::tanh:
      return 1 - y * y;
    case RnnAct::sigmoid:
      return y * (1 - y);
    case RnnAct::relu:
      return y > 0 ? 1.0 : 0.0;
    case RnnAct::hard_sigmoid:
      return y > 0 && y < 1 ? c.hs_slope : 0.0;
    default:
      return 1.0;
  }
}

// What one step of one sequence computed, for backward.
struct Rec {
  bool real = true;
  Vec hp, cp, h, c;
  Vec i, f, g, o;       // LSTM (i = 1 - f when coupled, f = 1 without a forget gate)
  Vec r, z, n, gn, rh;  // GRU: gn = U_n h + b_hn (reset_after) or U_n (r*h) + b_hn; rh = r*h
};

template <typename T>
struct Seq {
  const RnnConfig& c;
  const T *x, *h0, *c0;
  const RnnWeights<T>& w;
  int64_t H, I, G;

  Seq(const RnnConfig& cfg, const T* x_, const T* h0_, const T* c0_, const RnnWeights<T>& w_)
      : c(cfg), x(x_), h0(h0_), c0(c0_), w(w_), H(cfg.H), I(cfg.I), G(cfg.gates()) {}

  int64_t pos(int64_t s) const { return c.reverse ? c.T - 1 - s : s; }
  bool real(int64_t b, int64_t t) const { return !c.mask || c.mask[b * c.T + t]; }
  const T* xt(int64_t b, int64_t t) const { return x + (b * c.T + t) * I; }

  // W_ih x + b_ih for weight row `row`
  double wx(int64_t row, const T* xv) const {
    double s = w.b_ih ? double(w.b_ih[row]) : 0.0;
    for (int64_t k = 0; k < I; ++k) s += double(w.w_ih[row * I + k]) * double(xv[k]);
    return s;
  }
  // W_hh v + b_hh for weight row `row`
  double uh(int64_t row, const Vec& v) const {
    double s = w.b_hh ? double(w.b_hh[row]) : 0.0;
    for (int64_t k = 0; k < H; ++k) s += double(w.w_hh[row * H + k]) * v[k];
    return s;
  }
  // h_{t-1} as U sees it: times the recurrent dropout mask of sequence b
  Vec masked(int64_t b, const Vec& h) const {
    Vec v = h;
    if (w.h_mask)
      for (int64_t k = 0; k < H; ++k) v[k] *= double(w.h_mask[b * H + k]);
    return v;
  }
  double peep(int64_t blk, int64_t j) const { return w.w_peep ? double(w.w_peep[blk * H + j]) : 0; }

  // LSTM gate rows (PyTorch's i, f, g, o with the absent gate left out) and peephole blocks
  bool has_i() const { return c.lstm != LstmVariant::coupled; }
  bool has_f() const { return c.lstm != LstmVariant::no_forget; }
  int64_t row_i() const { return 0; }
  int64_t row_f() const { return c.lstm == LstmVariant::standard ? 1 : 0; }
  int64_t row_g() const { return c.lstm == LstmVariant::standard ? 2 : 1; }
  int64_t row_o() const { return c.lstm == LstmVariant::standard ? 3 : 2; }
  int64_t peep_i() const { return 0; }
  int64_t peep_f() const { return c.lstm == LstmVariant::standard ? 1 : 0; }
  int64_t peep_o() const { return c.lstm == LstmVariant::standard ? 2 : 1; }

  void step(Rec& rc, const T* xv, int64_t b) const {
    const RnnAct A = c.act, GA = c.gate_act;
    const Vec hm = masked(b, rc.hp);  // what U multiplies
    rc.h.assign(H, 0.0);
    if (c.cell == RnnCell::rnn) {
      for (int64_t j = 0; j < H; ++j) rc.h[j] = act(A, wx(j, xv) + uh(j, hm), c);
    } else if (c.cell == RnnCell::lstm) {
      rc.c.assign(H, 0.0);
      rc.i.assign(H, 0.0);
      rc.f.assign(H, 0.0);
      rc.g.assign(H, 0.0);
      rc.o.assign(H, 0.0);
      for (int64_t j = 0; j < H; ++j) {
        auto a = [&](int64_t blk) { return wx(blk * H + j, xv) + uh(blk * H + j, hm); };
        const double cp = rc.cp[j];
        if (has_f()) rc.f[j] = act(GA, a(row_f()) + peep(peep_f(), j) * cp, c);
        if (has_i())
          rc.i[j] = act(GA, a(row_i()) + peep(peep_i(), j) * cp, c);
        else
          rc.i[j] = 1 - rc.f[j];
        if (!has_f()) rc.f[j] = 1;
        rc.g[j] = act(A, a(row_g()), c);
        rc.c[j] = rc.f[j] * cp + rc.i[j] * rc.g[j];
        rc.o[j] = act(GA, a(row_o()) + peep(peep_o(), j) * rc.c[j], c);
        rc.h[j] = rc.o[j] * act(A, rc.c[j], c);
      }
    } else {
      rc.r.assign(H, 0.0);
      rc.z.assign(H, 0.0);
      rc.n.assign(H, 0.0);
      rc.gn.assign(H, 0.0);
      rc.rh.assign(H, 0.0);
      for (int64_t j = 0; j < H; ++j) {
        rc.r[j] = act(GA, wx(j, xv) + uh(j, hm), c);
        rc.z[j] = act(GA, wx(H + j, xv) + uh(H + j, hm), c);
        rc.rh[j] = rc.r[j] * hm[j];
      }
      for (int64_t j = 0; j < H; ++j) {
        double an;
        if (c.reset_after) {
          rc.gn[j] = uh(2 * H + j, hm);
          an = wx(2 * H + j, xv) + rc.r[j] * rc.gn[j];
        } else {
          rc.gn[j] = uh(2 * H + j, rc.rh);
          an = wx(2 * H + j, xv) + rc.gn[j];
        }
        rc.n[j] = act(A, an, c);
        const double z = rc.z[j];
        rc.h[j] =
            c.z_keeps_state ? z * rc.hp[j] + (1 - z) * rc.n[j] : (1 - z) * rc.hp[j] + z * rc.n[j];
      }
    }
  }

  // Forward of sequence b: per step records and outputs (T x H, in time positions).
  void forward(int64_t b, std::vector<Rec>& recs, Vec& out) const {
    const int64_t Tn = c.T;
    recs.assign(Tn, Rec());
    out.assign(Tn * H, 0.0);
    Vec h(H), cc(H, 0.0), prev_out(H, 0.0);
    for (int64_t j = 0; j < H; ++j) {
      h[j] = h0 ? double(h0[b * H + j]) : 0.0;
      if (c0) cc[j] = double(c0[b * H + j]);
    }
    for (int64_t s = 0; s < Tn; ++s) {
      const int64_t t = pos(s);
      Rec& rc = recs[s];
      rc.hp = h;
      rc.cp = cc;
      rc.real = real(b, t);
      Vec y(H);
      if (rc.real) {
        step(rc, xt(b, t), b);
        h = rc.h;
        if (c.cell == RnnCell::lstm) cc = rc.c;
        y = h;
      } else {
        rc.h = h;
        rc.c = cc;
        y = c.zero_output ? Vec(H, 0.0) : prev_out;
      }
      prev_out = y;
      for (int64_t j = 0; j < H; ++j) out[t * H + j] = y[j];
    }
  }
};

}  // namespace

template <typename T>
void rnn_forward(const RnnConfig& c, const T* x, const T* h0, const T* c0, const RnnWeights<T>& w,
                 T* out, T* h_n, T* c_n) {
  Seq<T> q(c, x, h0, c0, w);
  const int64_t H = c.H, Tn = c.T;
  std::vector<Rec> recs;
  Vec y;
  for (int64_t b = 0; b < c.B; ++b) {
    q.forward(b, recs, y);
    for (int64_t k = 0; k < Tn * H; ++k) out[b * Tn * H + k] = static_cast<T>(y[k]);
    for (int64_t j = 0; j < H; ++j) {
      const double hl = Tn ? recs[Tn - 1].h[j] : (h0 ? double(h0[b * H + j]) : 0.0);
      if (h_n) h_n[b * H + j] = static_cast<T>(hl);
      if (c.cell == RnnCell::lstm && c_n) {
        const double cl = Tn ? recs[Tn - 1].c[j] : (c0 ? double(c0[b * H + j]) : 0.0);
        c_n[b * H + j] = static_cast<T>(cl);
      }
    }
  }
}

template <typename T>
void rnn_backward(const RnnConfig& c, const T* x, const T* h0, const T* c0, const RnnWeights<T>& w,
                  const T* dout, const T* dh_n, const T* dc_n, const RnnGrads<T>& g) {
  Seq<T> q(c, x, h0, c0, w);
  const int64_t H = c.H, I = c.I, Tn = c.T, G = c.gates();
  const RnnAct A = c.act, GA = c.gate_act;
  const bool lstm = c.cell == RnnCell::lstm;
  Vec dwi(G * H * I, 0.0), dwh(G * H * H, 0.0), dbi(G * H, 0.0), dbh(G * H, 0.0),
      dp(c.peep_gates() * H, 0.0);
  std::vector<Rec> recs;
  Vec y;
  for (int64_t b = 0; b < c.B; ++b) {
    q.forward(b, recs, y);
    Vec dh(H, 0.0), dc(H, 0.0), carry(H, 0.0);
    for (int64_t j = 0; j < H; ++j) {
      if (dh_n) dh[j] = double(dh_n[b * H + j]);
      if (lstm && dc_n) dc[j] = double(dc_n[b * H + j]);
    }
    Vec dx_rows(Tn * I, 0.0);
    for (int64_t s = Tn - 1; s >= 0; --s) {
      const int64_t t = q.pos(s);
      const Rec& rc = recs[s];
      auto dy = [&](int64_t j) { return dout ? double(dout[(b * Tn + t) * H + j]) : 0.0; };
      if (!rc.real) {  // state carried: dh, dc pass through; carry mode defers dy
        if (!c.zero_output)
          for (int64_t j = 0; j < H; ++j) carry[j] += dy(j);
        continue;
      }
      for (int64_t j = 0; j < H; ++j) {
        dh[j] += dy(j) + carry[j];
        carry[j] = 0;
      }
      // da_x: gradient of the pre-activation rows of W_ih x; da_h: of W_hh (.) rows, with
      // the vector each W_hh row multiplied (h_{t-1}, or r*h_{t-1} for GRU's n row).
      Vec dax(G * H, 0.0), dah(G * H, 0.0), dhp(H, 0.0);
      if (c.cell == RnnCell::rnn) {
        for (int64_t j = 0; j < H; ++j) dax[j] = dah[j] = dh[j] * dact(A, rc.h[j], c);
      } else if (lstm) {
        for (int64_t j = 0; j < H; ++j) {
          const double tc = act(A, rc.c[j], c);
          const double dao = dh[j] * tc * dact(GA, rc.o[j], c);
          double dcv = dc[j] + dh[j] * rc.o[j] * dact(A, tc, c) + dao * q.peep(q.peep_o(), j);
          const double di = dcv * rc.g[j], df = dcv * rc.cp[j];
          const double dgg = dcv * rc.i[j] * dact(A, rc.g[j], c);
          double dai = 0, daf = 0;
          if (q.has_i()) dai = di * dact(GA, rc.i[j], c);
          if (c.lstm == LstmVariant::standard) daf = df * dact(GA, rc.f[j], c);
          if (c.lstm == LstmVariant::coupled) daf = (df - di) * dact(GA, rc.f[j], c);
          double dcp = dcv * rc.f[j];
          if (w.w_peep) {
            if (q.has_i()) {
              dcp += dai * q.peep(q.peep_i(), j);
              dp[q.peep_i() * H + j] += dai * rc.cp[j];
            }
            if (q.has_f()) {
              dcp += daf * q.peep(q.peep_f(), j);
              dp[q.peep_f() * H + j] += daf * rc.cp[j];
            }
            dp[q.peep_o() * H + j] += dao * rc.c[j];
          }
          dc[j] = dcp;
          if (q.has_i()) dax[q.row_i() * H + j] = dai;
          if (q.has_f()) dax[q.row_f() * H + j] = daf;
          dax[q.row_g() * H + j] = dgg;
          dax[q.row_o() * H + j] = dao;
        }
        dah = dax;
      } else {
        Vec dan(H);
        for (int64_t j = 0; j < H; ++j) {
          const double z = rc.z[j], n = rc.n[j], hp = rc.hp[j];
          const double dz = c.z_keeps_state ? dh[j] * (hp - n) : dh[j] * (n - hp);
          const double dn = c.z_keeps_state ? dh[j] * (1 - z) : dh[j] * z;
          dhp[j] = c.z_keeps_state ? dh[j] * z : dh[j] * (1 - z);
          dan[j] = dn * dact(A, n, c);
          dax[H + j] = dah[H + j] = dz * dact(GA, z, c);
          dax[2 * H + j] = dan[j];
        }
        for (int64_t j = 0; j < H; ++j) {
          double dr;
          if (c.reset_after) {
            dr = dan[j] * rc.gn[j];
            dah[2 * H + j] = dan[j] * rc.r[j];
          } else {
            double drh = 0;  // d(r*h)_j = sum_k U_n[k, j] dan_k
            for (int64_t k = 0; k < H; ++k) drh += double(w.w_hh[(2 * H + k) * H + j]) * dan[k];
            const double m = w.h_mask ? double(w.h_mask[b * H + j]) : 1.0;
            dr = drh * rc.hp[j] * m;
            dhp[j] += drh * rc.r[j] * m;
            dah[2 * H + j] = dan[j];
          }
          dax[j] = dah[j] = dr * dact(GA, rc.r[j], c);
        }
      }
      // parameters and inputs
      const T* xv = q.xt(b, t);
      const Vec hm = q.masked(b, rc.hp);
      for (int64_t row = 0; row < G * H; ++row) {
        dbi[row] += dax[row];
        dbh[row] += dah[row];
        for (int64_t k = 0; k < I; ++k) {
          dwi[row * I + k] += dax[row] * double(xv[k]);
          dx_rows[t * I + k] += dax[row] * double(w.w_ih[row * I + k]);
        }
        const bool through_rh = c.cell == RnnCell::gru && !c.reset_after && row >= 2 * H;
        const Vec& hv = through_rh ? rc.rh : hm;
        for (int64_t k = 0; k < H; ++k) {
          dwh[row * H + k] += dah[row] * hv[k];
          const double m = w.h_mask ? double(w.h_mask[b * H + k]) : 1.0;
          if (!through_rh) dhp[k] += dah[row] * double(w.w_hh[row * H + k]) * m;
        }
      }
      dh = dhp;
    }
    if (g.dx)
      for (int64_t k = 0; k < Tn * I; ++k) g.dx[b * Tn * I + k] = static_cast<T>(dx_rows[k]);
    for (int64_t j = 0; j < H; ++j) {
      if (g.dh0) g.dh0[b * H + j] = static_cast<T>(dh[j]);
      if (lstm && g.dc0) g.dc0[b * H + j] = static_cast<T>(dc[j]);
    }
  }
  auto put = [](T* dst, const Vec& v) {
    if (dst)
      for (size_t k = 0; k < v.size(); ++k) dst[k] = static_cast<T>(v[k]);
  };
  put(g.dw_ih, dwi);
  put(g.dw_hh, dwh);
  put(g.db_ih, dbi);
  put(g.db_hh, dbh);
  if (lstm) put(g.dw_peep, dp);
}

#define DC_INSTANTIATE(T)                                                           \
  template void rnn_forward<T>(const RnnConfig&, const T*, const T*, const T*,      \
                               const RnnWeights<T>&, T*, T*, T*);                   \
  template void rnn_backward<T>(const RnnConfig&, const T*, const T*, const T*,     \
                                const RnnWeights<T>&, const T*, const T*, const T*, \
                                const RnnGrads<T>&);
DC_INSTANTIATE(float)
DC_INSTANTIATE(double)
#undef DC_INSTANTIATE

}  // namespace dc::ref
