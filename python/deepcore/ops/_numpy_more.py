"""More of Keras's NumPy-style ``keras.ops`` names (issue 13): ``argpartition``,
``array_split``, ``bincount``, ``correlate``, ``cross``, ``diagflat``, ``digitize``,
``histogram``, ``searchsorted``, ``select``, ``vdot``. In ``deepcore.ops`` only (PyTorch's
``select``, ``cross``, ``histogram`` mean other things). The differentiable ones
(``array_split``, ``correlate``, ``cross``, ``diagflat``, ``select``, ``vdot``) are
compositions of differentiable ops; the others return integers and have no gradient."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._array import array_module
from .._checks import is_int
from ..tensor import Tensor
from ._common import _norm_axis
from ._elementwise import mul, sub, where
from ._indexing import getitem
from ._keras import convert_to_tensor
from ._matmul import matmul
from ._numpy_extra import _axis_slice, _const, _float, _t
from ._rearrange import diag
from ._shape import expand, moveaxis, pad, reshape, stack

__all__ = [
    "argpartition",
    "array_split",
    "bincount",
    "correlate",
    "cross",
    "diagflat",
    "digitize",
    "histogram",
    "searchsorted",
    "select",
    "vdot",
]


def argpartition(x: Any, kth: int, axis: int = -1) -> Tensor:
    """Indices that partition ``x`` along ``axis`` around its ``kth`` smallest value (NumPy's
    ``argpartition``: smaller values before, larger after, each side in no set order)."""
    t = _t(x, "argpartition")
    if t.ndim == 0:
        raise ValueError("argpartition: x must have at least 1 dimension")
    ax = _norm_axis(axis, t.ndim)
    n = t.shape[ax]
    if not is_int(kth) or not -n <= kth < n:
        raise ValueError(f"argpartition: kth must be an int in [-{n}, {n}), got {kth!r}")
    xp = array_module(t.data)
    return _const(xp.argpartition(t.data, int(kth), axis=ax).astype("int32"))


def array_split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[Tensor]:
    """NumPy's ``array_split``: ``x`` cut along ``axis`` into that many nearly equal parts
    (the first ``len % n`` one longer), or at the given indices. Differentiable."""
    t = _t(x, "array_split")
    if t.ndim == 0:
        raise ValueError("array_split: x must have at least 1 dimension")
    ax = _norm_axis(axis, t.ndim)
    length = t.shape[ax]
    if is_int(indices_or_sections):
        n = int(indices_or_sections)
        if n < 1:
            raise ValueError(f"array_split: the number of sections must be >= 1, got {n}")
        q, r = divmod(length, n)
        sizes = [q + 1] * r + [q] * (n - r)
        bounds = [0]
        for sz in sizes:
            bounds.append(bounds[-1] + sz)
    else:
        cuts = [int(i) for i in indices_or_sections]
        bounds = [0, *cuts, length]
    return [
        getitem(t, _axis_slice(t.ndim, ax, builtins.slice(a, b)))
        for a, b in zip(bounds[:-1], bounds[1:])
    ]


def bincount(x: Any, weights: Any = None, minlength: int = 0, sparse: bool = False) -> Tensor:
    """How often each value 0, 1, ... occurs in the non-negative integers ``x`` (1-D, or 2-D:
    one count per row), at least ``minlength`` bins; with ``weights`` (x's shape) the sum of
    the weights per value instead (in the weights' dtype), else int32 counts."""
    if sparse:
        raise ValueError("bincount: sparse outputs are not supported (deepcore is dense)")
    t = _t(x, "bincount")
    if t.dtype.kind not in "iu":
        raise TypeError(f"bincount: x must be integers, got {t.dtype}")
    if t.ndim not in (1, 2):
        raise ValueError(f"bincount: x must be 1-D or 2-D, got shape {t.shape}")
    if not is_int(minlength) or minlength < 0:
        raise ValueError(f"bincount: minlength must be a non-negative int, got {minlength!r}")
    xp = array_module(t.data)
    v = t.data.astype(np.int64)
    if v.size and int(v.min()) < 0:
        raise ValueError("bincount: x must be non-negative")
    w = None
    if weights is not None:
        wt = _t(weights, "bincount", "weights")
        if wt.shape != t.shape:
            raise ValueError(f"bincount: weights must have x's shape {t.shape}, got {wt.shape}")
        w = wt.data
    depth = builtins.max(int(v.max()) + 1 if v.size else 0, int(minlength))
    rows = v.reshape(1, -1) if t.ndim == 1 else v
    flat = (rows + xp.arange(rows.shape[0])[:, None] * depth).reshape(-1)
    wf = None if w is None else w.reshape(-1).astype(np.float64)
    c = xp.bincount(flat, weights=wf, minlength=rows.shape[0] * depth).reshape(rows.shape[0], depth)
    c = c[0] if t.ndim == 1 else c
    return _const(c.astype("int32" if w is None else w.dtype))


def correlate(x1: Any, x2: Any, mode: str = "valid") -> Tensor:
    """NumPy's ``correlate`` of two 1-D tensors: c[k] = sum_n x1[n + k] · x2[n] over the
    overlaps ("valid"), centred to the longer length ("same") or all of them ("full").
    Differentiable in both (frames of the zero-padded x1 times x2)."""
    a, v = _float(x1, "correlate", "x1"), _float(x2, "correlate", "x2")
    if a.ndim != 1 or v.ndim != 1 or a.shape[0] == 0 or v.shape[0] == 0:
        raise ValueError(
            f"correlate: x1 and x2 must be non-empty 1-D tensors, got {a.shape} and {v.shape}"
        )
    if mode not in ("valid", "same", "full"):
        raise ValueError(f"correlate: mode must be 'valid', 'same' or 'full', got {mode!r}")
    if a.dtype != v.dtype:
        dt = np.result_type(a.dtype, v.dtype)
        a, v = a.astype(dt), v.astype(dt)
    m, n = a.shape[0], v.shape[0]
    xp = array_module(a.data)
    # full[j] = sum_i ap[j + i] v[i], ap = x1 with n - 1 zeros on each side, j in [0, m + n - 1)
    ap = pad(a, [(n - 1, n - 1)])
    frames = getitem(ap, (xp.arange(m + n - 1)[:, None] + xp.arange(n),))
    full = matmul(frames, v)
    lo, hi = builtins.min(m, n), builtins.max(m, n)
    if mode == "full":
        return full
    start = lo - 1 if mode == "valid" else (lo - 1) // 2 if m >= n else lo // 2
    count = hi - lo + 1 if mode == "valid" else hi
    return getitem(full, builtins.slice(start, start + count))


def cross(
    x1: Any, x2: Any, axisa: int = -1, axisb: int = -1, axisc: int = -1, axis: int | None = None
) -> Tensor:
    """NumPy's ``cross`` of 3-vectors (or 2-vectors, read with a zero z; two 2-vectors give
    the z component alone) along ``axisa`` / ``axisb``, the result's vector axis at ``axisc``
    (``axis`` sets all three). Broadcasts the other axes; differentiable."""
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = _float(x1, "cross", "x1"), _float(x2, "cross", "x2")
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("cross: x1 and x2 must have at least 1 dimension")
    a = moveaxis(a, _norm_axis(axisa, a.ndim), -1)
    b = moveaxis(b, _norm_axis(axisb, b.ndim), -1)
    if a.shape[-1] not in (2, 3) or b.shape[-1] not in (2, 3):
        raise ValueError(
            f"cross: the vector axes must have size 2 or 3, got {a.shape[-1]} and {b.shape[-1]}"
        )

    def comp(t: Tensor, i: int) -> Tensor | None:
        return getitem(t, (Ellipsis, i)) if i < t.shape[-1] else None

    a0, a1, a2 = comp(a, 0), comp(a, 1), comp(a, 2)
    b0, b1, b2 = comp(b, 0), comp(b, 1), comp(b, 2)
    z = sub(mul(a0, b1), mul(a1, b0))
    if a2 is None and b2 is None:
        return z

    def term(p: Tensor | None, q: Tensor | None) -> Tensor | None:
        return None if p is None or q is None else mul(p, q)

    def diff_(p: Tensor | None, q: Tensor | None) -> Tensor:
        if p is None:
            return mul(q, -1.0)
        return p if q is None else sub(p, q)

    x = diff_(term(a1, b2), term(a2, b1))
    y = diff_(term(a2, b0), term(a0, b2))
    shape = np.broadcast_shapes(x.shape, y.shape, z.shape)
    out = stack([expand(t, shape) for t in (x, y, z)], -1)
    return moveaxis(out, -1, _norm_axis(axisc, out.ndim))


def diagflat(x: Any, k: int = 0) -> Tensor:
    """A 2-D tensor with the flattened ``x`` on its ``k``-th diagonal. Differentiable."""
    return diag(reshape(_t(x, "diagflat"), (-1,)), k)


def digitize(x: Any, bins: Any) -> Tensor:
    """For each value of ``x``, the index i of the bin with bins[i-1] <= x < bins[i]
    (``bins`` increasing; NumPy's ``digitize``), int32."""
    t, b = _t(x, "digitize"), _t(bins, "digitize", "bins")
    if b.ndim != 1:
        raise ValueError(f"digitize: bins must be 1-D, got shape {b.shape}")
    xp = array_module(t.data)
    if b.shape[0] > 1 and not bool(xp.all(xp.diff(b.data) >= 0)):
        raise ValueError("digitize: bins must be monotonically increasing")
    return _const(xp.digitize(t.data, b.data).astype("int32"))


def histogram(x: Any, bins: int = 10, range: Any = None) -> tuple[Tensor, Tensor]:  # noqa: A002
    """(counts, bin_edges) of the 1-D ``x`` in ``bins`` equal bins over ``range`` (default
    the data's min to max), NumPy's ``histogram``: int32 counts, edges in x's float dtype."""
    t = _float(x, "histogram")
    if t.ndim != 1:
        raise ValueError(f"histogram: x must be 1-D, got shape {t.shape}")
    if not is_int(bins) or bins < 1:
        raise ValueError(f"histogram: bins must be a positive int, got {bins!r}")
    xp = array_module(t.data)
    if range is not None and (len(range) != 2 or not range[0] <= range[1]):
        raise ValueError(f"histogram: range must be (min, max) with min <= max, got {range!r}")
    if not bool(xp.all(xp.isfinite(t.data))):
        raise ValueError("histogram: x must be finite")
    counts, edges = xp.histogram(t.data, bins=int(bins), range=range)
    return _const(counts.astype("int32")), _const(edges.astype(t.dtype))


def searchsorted(sorted_sequence: Any, values: Any, side: str = "left") -> Tensor:
    """Where each of ``values`` would go in the 1-D increasing ``sorted_sequence`` to keep it
    sorted (the first such place for side="left", the last for "right"), int32."""
    s, v = (
        _t(sorted_sequence, "searchsorted", "sorted_sequence"),
        _t(values, "searchsorted", "values"),
    )
    if s.ndim != 1:
        raise ValueError(f"searchsorted: sorted_sequence must be 1-D, got shape {s.shape}")
    if side not in ("left", "right"):
        raise ValueError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
    xp = array_module(s.data)
    return _const(xp.searchsorted(s.data, v.data, side=side).astype("int32"))


def select(condlist: Sequence[Any], choicelist: Sequence[Any], default: Any = 0) -> Tensor:
    """NumPy's ``select``: where condlist[0] holds, choicelist[0]; else where condlist[1]
    holds, choicelist[1]; ... else ``default`` (all broadcast together). Differentiable in
    the choices and the default."""
    if not isinstance(condlist, (list, tuple)) or not isinstance(choicelist, (list, tuple)):
        raise TypeError("select: condlist and choicelist must be lists of tensors")
    if len(condlist) != len(choicelist) or not condlist:
        raise ValueError(
            f"select: condlist and choicelist must have one (and the same) number of entries, "
            f"got {len(condlist)} and {len(choicelist)}"
        )
    conds = [_t(c, "select", "condlist") for c in condlist]
    if builtins.any(c.dtype.kind != "b" for c in conds):
        raise TypeError("select: every condition must be a bool tensor")
    choices = [_t(c, "select", "choicelist") for c in choicelist]
    out = default if isinstance(default, Tensor) else convert_to_tensor(default)
    if out.dtype != choices[0].dtype:
        out = out.astype(choices[0].dtype)
    for c, v in zip(reversed(conds), reversed(choices)):
        out = where(c, v, out)
    return out


def vdot(x1: Any, x2: Any) -> Tensor:
    """The dot product of the flattened ``x1`` and ``x2`` (real tensors: no conjugation)."""
    a, b = _float(x1, "vdot", "x1"), _float(x2, "vdot", "x2")
    if a.size != b.size:
        raise ValueError(f"vdot: x1 and x2 must have one size, got {a.size} and {b.size}")
    return matmul(reshape(a, (-1,)), reshape(b, (-1,)))
