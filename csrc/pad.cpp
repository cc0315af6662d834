// Padding drivers (see csrc/pad.h): memory traffic with no arithmetic but the backward's adds,
// so one loop nest per direction and no per-ISA kernel (a row's long run is a memcpy / a
// contiguous add loop the compiler vectorises).
#include "pad.h"

#include <algorithm>
#include <cstring>

#include "core/threads.h"

namespace dc {

namespace {

// Rows per task of the row loops: enough work per task that tiny calls stay on one thread.
constexpr int64_t kParallelElements = 1 << 15;

int64_t floor_mod(int64_t a, int64_t p) {
  const int64_t m = a % p;
  return m < 0 ? m + p : m;
}

}  // namespace

int64_t pad_source(int64_t i, int64_t n, PadMode mode) {
  if (i >= 0 && i < n) return i;
  if (n <= 0 || mode == PadMode::constant) return -1;
  switch (mode) {
    case PadMode::edge:
      return i < 0 ? 0 : n - 1;
    case PadMode::wrap:
      return floor_mod(i, n);
    case PadMode::reflect: {
      if (n == 1) return 0;
      const int64_t m = floor_mod(i, 2 * (n - 1));
      return m < n ? m : 2 * (n - 1) - m;
    }
    case PadMode::symmetric: {
      const int64_t m = floor_mod(i, 2 * n);
      return m < n ? m : 2 * n - 1 - m;
    }
    default:
      return -1;
  }
}

PadGeometry pad_geometry(const std::vector<int64_t>& in_shape, const std::vector<int64_t>& widths,
                         PadMode mode, bool inverse) {
  PadGeometry g;
  g.in_shape = in_shape;
  g.widths = widths;
  g.mode = mode;
  const int64_t nd = g.ndim();
  g.src_off.push_back(0);
  g.inv_off.push_back(0);
  for (int64_t d = 0; d < nd; ++d) {
    const int64_t n = in_shape[d], b = widths[2 * d], a = widths[2 * d + 1];
    const int64_t c0 = std::max<int64_t>(-b, 0);
    const int64_t nc = n - c0 - std::max<int64_t>(-a, 0);  // the cropped length (>= 0)
    const int64_t pb = std::max<int64_t>(b, 0), no = nc + pb + std::max<int64_t>(a, 0);
    g.out_shape.push_back(no);
    for (int64_t o = 0; o < no; ++o) {
      const int64_t s = pad_source(o - pb, nc, mode);
      g.src.push_back(s < 0 ? -1 : c0 + s);
    }
    g.src_off.push_back(static_cast<int64_t>(g.src.size()));
    if (!inverse || d + 1 == nd) continue;  // (the last axis is walked by its map)
    // inverse map: counting sort of the outputs by their source
    const int64_t* s = g.src.data() + g.src_off[d];
    std::vector<int64_t> start(static_cast<size_t>(n + 1), 0);
    for (int64_t o = 0; o < no; ++o)
      if (s[o] >= 0) ++start[s[o] + 1];
    for (int64_t i = 0; i < n; ++i) start[i + 1] += start[i];
    const int64_t base = static_cast<int64_t>(g.inv.size());
    g.inv.resize(static_cast<size_t>(base + start[n]));
    std::vector<int64_t> fill(start.begin(), start.end() - 1);
    for (int64_t o = 0; o < no; ++o)
      if (s[o] >= 0) g.inv[base + fill[s[o]]++] = o;
    for (int64_t& v : start) v += base;
    g.inv_start.insert(g.inv_start.end(), start.begin(), start.end());
    g.inv_off.push_back(static_cast<int64_t>(g.inv_start.size()));
  }
  if (nd > 0) {  // the last axis's longest run of consecutive sources
    const int64_t* s = g.src.data() + g.src_off[nd - 1];
    const int64_t no = g.out_shape[nd - 1];
    for (int64_t o = 0; o < no;) {
      int64_t e = o + 1;
      if (s[o] >= 0)
        while (e < no && s[e] == s[o] + (e - o)) ++e;
      if (s[o] >= 0 && e - o > g.mid.len) g.mid = {o, s[o], e - o};
      o = e;
    }
  }
  return g;
}

namespace {

// Row-major strides (in elements) of a shape.
std::vector<int64_t> strides_of(const std::vector<int64_t>& shape) {
  std::vector<int64_t> st(shape.size(), 1);
  for (int64_t d = static_cast<int64_t>(shape.size()) - 2; d >= 0; --d)
    st[d] = st[d + 1] * shape[d + 1];
  return st;
}

int64_t rows_of(const std::vector<int64_t>& shape) {
  int64_t r = 1;
  for (size_t d = 0; d + 1 < shape.size(); ++d) r *= shape[d];
  return r;
}

// Row loop over a shape's leading axes in chunks of consecutive rows: f(chunk's first row,
// row count, coord) with coord the first row's leading coordinates; the body steps them with
// next_row (an odometer: no division per row).
template <typename F>
void for_row_chunks(const std::vector<int64_t>& shape, int64_t row_len, const F& f) {
  const int64_t lead = static_cast<int64_t>(shape.size()) - 1;
  const int64_t rows = rows_of(shape);
  const int64_t per = std::max<int64_t>(1, kParallelElements / std::max<int64_t>(row_len, 1));
  const int64_t chunks = (rows + per - 1) / per;
  parallel_for(chunks, chunks > 1, [&](int64_t c) {
    const int64_t r0 = c * per, nr = std::min(per, rows - r0);
    int64_t coord[64];
    for (int64_t d = lead - 1, rem = r0; d >= 0; --d) {
      coord[d] = rem % shape[d];
      rem /= shape[d];
    }
    f(r0, nr, coord);
  });
}

inline void next_row(const std::vector<int64_t>& shape, int64_t* coord) {
  for (int64_t d = static_cast<int64_t>(shape.size()) - 2; d >= 0; --d) {
    if (++coord[d] < shape[d]) return;
    coord[d] = 0;
  }
}

// dst[0 .. n) = src[0 .. n) (separate arrays): fixed-size block copies the compiler inlines (a
// row is often a few dozen elements, where a memcpy call costs more than the copy; the C
// library's copy was also no faster on 900-byte rows). The last block overlaps the one before
// it instead of an element-by-element tail; under one block, two overlapping copies of the
// largest power of two that fits.
template <int kBytes>
inline void move_bytes(char* d, const char* s) {
  __builtin_memcpy(d, s, kBytes);
}

template <typename E>
inline void copy_elems(E* dst, const E* src, int64_t n) {
  char* d = reinterpret_cast<char*>(dst);
  const char* s = reinterpret_cast<const char*>(src);
  const int64_t bytes = n * static_cast<int64_t>(sizeof(E));
  if (bytes >= 32) {
    for (int64_t k = 0; k + 32 < bytes; k += 32) move_bytes<32>(d + k, s + k);
    move_bytes<32>(d + bytes - 32, s + bytes - 32);
  } else if (bytes >= 16) {
    move_bytes<16>(d, s);
    move_bytes<16>(d + bytes - 16, s + bytes - 16);
  } else if (bytes >= 8) {
    move_bytes<8>(d, s);
    move_bytes<8>(d + bytes - 8, s + bytes - 8);
  } else if (bytes >= 4) {
    move_bytes<4>(d, s);
    move_bytes<4>(d + bytes - 4, s + bytes - 4);
  } else {
    for (int64_t k = 0; k < bytes; ++k) d[k] = s[k];
  }
}

}  // namespace

// [Note: pad rows in three passes] The forward walks the output rows in blocks of at most
// kRowBlock rows and kBlockBytes of output (so a block stays in L1; a long row goes alone):
// (1) each row's source row in x; a row of fill (a padded leading axis in 'constant' mode)
// reads a row of fill values instead; (2) each row's longest run (g.mid) as one block copy;
// (3) the other elements column by column, one source index per column for the whole block,
// so an element is a load and a store (row by row where a block has fewer rows than padded
// columns). A row of a small pad (14 elements, 5 of them padding) took ~130 instructions with
// two short element loops per row; ~108 now. The lambda works on its own copies of the sizes:
// the block copies write through char pointers, which may alias anything, so values read
// through the closure were reloaded after each copy.
constexpr int64_t kRowBlock = 64, kBlockBytes = 16384;

template <typename E>
void pad_forward(const PadGeometry& g, const E* x, E* y, const E* fill) {
  const int64_t nd = g.ndim();
  const E v = fill ? *fill : E(0);
  if (nd == 0) {
    *y = *x;
    return;
  }
  const int64_t lo = g.out_shape[nd - 1];
  if (lo == 0) return;
  const std::vector<int64_t> ist = strides_of(g.in_shape);
  // the rows of fill read this row (only when a leading axis has positions with no source)
  std::vector<E> fill_row;
  for (int64_t i = 0; i < g.src_off[nd - 1] && fill_row.empty(); ++i)
    if (g.src[i] < 0) fill_row.assign(static_cast<size_t>(g.in_shape[nd - 1]), v);
  for_row_chunks(g.out_shape, lo, [&](int64_t r0, int64_t nr, int64_t* coord) {
    const int64_t L = lo, m_o0 = g.mid.o0, m_i0 = g.mid.i0, m_len = g.mid.len;
    const int64_t m_end = m_o0 + m_len;
    const int64_t* const s = g.src.data() + g.src_off[nd - 1];  // the last axis's map
    // the row axis (nd - 2; a single row when nd == 1) and the planes before it
    const int64_t* const s2 = nd >= 2 ? g.src.data() + g.src_off[nd - 2] : nullptr;
    const int64_t n2 = nd >= 2 ? g.out_shape[nd - 2] : 1, st2 = nd >= 2 ? ist[nd - 2] : 0;
    const E* const frow = fill_row.data();
    const E fv = v;
    int64_t c2 = nd >= 2 ? coord[nd - 2] : 0;
    int64_t base = -1;  // the input offset of the plane's axes (-1: they fill); set below
    bool new_plane = true;
    const E* src[kRowBlock];  // (1): the block's source rows
    // a block's output stays in L1 while (3) walks it column by column: long rows go one by one
    const int64_t rows_per_block = std::max<int64_t>(
        1, std::min<int64_t>(kRowBlock, kBlockBytes / (L * static_cast<int64_t>(sizeof(E)))));
    for (int64_t b0 = 0; b0 < nr; b0 += rows_per_block) {
      const int64_t nb = std::min(rows_per_block, nr - b0);
      E* const yb = y + (r0 + b0) * L;
      for (int64_t r = 0; r < nb; ++r) {
        if (new_plane) {
          base = 0;
          for (int64_t d = 0; d + 2 < nd && base >= 0; ++d) {
            const int64_t sd = g.src[g.src_off[d] + coord[d]];
            base = sd < 0 ? -1 : base + sd * ist[d];
          }
          new_plane = false;
        }
        const int64_t sr = s2 ? s2[c2] : 0;
        if (++c2 == n2) {  // the next row starts a new plane
          c2 = 0;
          if (nd >= 2) coord[nd - 2] = n2 - 1;
          next_row(g.out_shape, coord);
          new_plane = true;
        }
        src[r] = base < 0 || sr < 0 ? frow : x + base + sr * st2;
      }
      for (int64_t r = 0; r < nb; ++r)  // (2): the runs
        copy_elems(yb + r * L + m_o0, src[r] + m_i0, m_len);
      // (3): the other columns, the longer of the two loops inside
      if (nb >= L - m_len) {
        for (int64_t o = 0; o < L; ++o) {  // column by column
          if (o == m_o0) o = m_end;
          if (o >= L) break;
          const int64_t so = s[o];
          E* const yc = yb + o;
          if (so < 0) {
            for (int64_t r = 0; r < nb; ++r) yc[r * L] = fv;
          } else {
            for (int64_t r = 0; r < nb; ++r) yc[r * L] = src[r][so];
          }
        }
      } else {
        for (int64_t r = 0; r < nb; ++r) {  // row by row (many padded columns)
          E* const yr = yb + r * L;
          const E* const xr = src[r];
          for (int64_t o = 0; o < m_o0; ++o) yr[o] = s[o] >= 0 ? xr[s[o]] : fv;
          for (int64_t o = m_end; o < L; ++o) yr[o] = s[o] >= 0 ? xr[s[o]] : fv;
        }
      }
    }
  });
}

template <typename T>
void pad_backward(const PadGeometry& g, const T* dy, T* dx) {
  const int64_t nd = g.ndim();
  if (nd == 0) {
    *dx = *dy;
    return;
  }
  const int64_t li = g.in_shape[nd - 1], lo = g.out_shape[nd - 1];
  if (li == 0) return;
  const std::vector<int64_t> ost = strides_of(g.out_shape);
  const int64_t lead = nd - 1;
  const int64_t* s = g.src.data() + g.src_off[nd - 1];
  const PadRun m = g.mid;
  for_row_chunks(g.in_shape, std::max(li, lo), [&](int64_t r0, int64_t nr, int64_t* coord) {
    for (int64_t r = r0; r < r0 + nr; ++r, next_row(g.in_shape, coord)) {
      T* xr = dx + r * li;
      std::fill(xr, xr + li, T(0));
      // the inverse lists of this input row's leading coordinates: [first[d], last[d])
      int64_t first[64], last[64], cur[64];
      bool read = true;
      for (int64_t d = 0; d < lead; ++d) {
        const int64_t* st = g.inv_start.data() + g.inv_off[d];
        first[d] = cur[d] = st[coord[d]];
        last[d] = st[coord[d] + 1];
        read = read && first[d] < last[d];  // else cropped away: no output reads this row
      }
      while (read) {  // every combination of the leading lists, the last axis fastest
        int64_t off = 0;
        for (int64_t d = 0; d < lead; ++d) off += g.inv[cur[d]] * ost[d];
        const T* yr = dy + off;
        for (int64_t o = 0; o < m.o0; ++o)
          if (s[o] >= 0) xr[s[o]] += yr[o];
        for (int64_t k = 0; k < m.len; ++k) xr[m.i0 + k] += yr[m.o0 + k];
        for (int64_t o = m.o0 + m.len; o < lo; ++o)
          if (s[o] >= 0) xr[s[o]] += yr[o];
        int64_t d = lead - 1;
        for (; d >= 0; --d) {
          if (++cur[d] < last[d]) break;
          cur[d] = first[d];
        }
        read = d >= 0;
      }
    }
  });
}

DC_PAD_INSTANTIATIONS

}  // namespace dc
