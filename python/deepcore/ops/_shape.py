"""Shape ops: reshape/view/flatten/squeeze/unsqueeze, expand (broadcast_to), transpose/permute/
swapaxes/moveaxis, joining/splitting (concat, stack, split, chunk, unbind), flip/roll,
tile/repeat, diag/tril/triu and pad. ``transpose(i, j)`` with two axes on a
tensor of more than two dimensions swaps them (PyTorch's meaning); otherwise
``transpose(*axes)`` is NumPy's permutation."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import _C
from .._array import array_module, contiguous
from .._checks import is_int
from ..autograd import Context, Function
from ..tensor import Tensor, tensor
from ._common import Array, _float_of, _norm_axes, _norm_axis, _shape_args, _sum_to

__all__ = [
    "reshape",
    "view",
    "flatten",
    "squeeze",
    "unsqueeze",
    "expand",
    "broadcast_to",
    "transpose",
    "permute",
    "swapaxes",
    "concat",
    "concatenate",
    "stack",
    "split",
    "chunk",
    "unbind",
    "unstack",
    "expand_dims",
    "moveaxis",
    "pad",
]


class Reshape(Function):
    @staticmethod
    def forward(ctx: Context, x: Array, shape: tuple[int, ...]) -> Array:
        ctx.saved = (x.shape,)
        return x.reshape(shape)

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        return g.reshape(ctx.saved[0]), None


class Expand(Function):
    @staticmethod
    def forward(ctx: Context, x: Array, shape: tuple[int, ...]) -> Array:
        ctx.saved = (x.shape,)
        return array_module(x).broadcast_to(x, shape)  # a read-only view, as PyTorch's expand

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        return _sum_to(g, ctx.saved[0]), None


class Transpose(Function):
    @staticmethod
    def forward(ctx: Context, x: Array, axes: tuple[int, ...]) -> Array:
        ctx.saved = (axes,)
        return x.transpose(axes)

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        axes = ctx.saved[0]
        inv = [0] * len(axes)
        for i, a in enumerate(axes):
            inv[a] = i
        return g.transpose(inv), None


def reshape(x: Tensor, *shape: Any, newshape: Any = None) -> Tensor:
    """A tensor with the same data and a new shape (a view when the layout allows); Keras's
    ``reshape(x, newshape=...)`` too."""
    if newshape is not None:
        shape = (*shape, newshape)
    shape = _shape_args(shape)
    if shape == x.shape:
        return x
    out_shape = shape
    n_unknown = [n for n in shape if n < 0]
    if len(n_unknown) > 1 or (n_unknown and n_unknown[0] != -1):
        raise ValueError(f"reshape: invalid shape {shape} (at most one -1, no other negatives)")
    known = math.prod(n for n in shape if n >= 0)
    if n_unknown:
        if known == 0 or x.size % known:
            raise ValueError(f"cannot reshape a tensor of shape {x.shape} into {shape}")
        out_shape = tuple(x.size // known if n == -1 else n for n in shape)
    elif known != x.size:
        raise ValueError(f"cannot reshape a tensor of shape {x.shape} into {shape}")
    return Reshape.apply(x, out_shape)


def view(x: Tensor, *shape: Any) -> Tensor:
    """Like reshape, but never copies: raises when the layout needs a copy."""
    out = reshape(x, *shape)
    if out.size and out is not x and not array_module(x.data).may_share_memory(out.data, x.data):
        raise RuntimeError(
            f"view of shape {out.shape} is not possible on this non-contiguous tensor of shape "
            f"{x.shape}; use reshape() (which copies)"
        )
    return out


def flatten(x: Tensor, start_axis: int = 0, end_axis: int = -1) -> Tensor:
    """Merge axes ``start_axis..end_axis`` (all by default) into one."""
    if x.ndim == 0:
        return reshape(x, 1)
    s = _norm_axis(start_axis, x.ndim)
    e = _norm_axis(end_axis, x.ndim)
    if s > e:
        raise ValueError(f"flatten: start_axis {start_axis} comes after end_axis {end_axis}")
    shape = x.shape[:s] + (math.prod(x.shape[s : e + 1]),) + x.shape[e + 1 :]
    return reshape(x, shape)


def squeeze(x: Tensor, axis: Any = None) -> Tensor:
    """Remove axes of size 1 (all of them, or the given ones, which must have size 1)."""
    axes = _norm_axes(axis, x.ndim)
    if axes is None:
        axes = tuple(i for i, n in enumerate(x.shape) if n == 1)
    for a in axes:
        if x.shape[a] != 1:
            raise ValueError(f"squeeze: axis {a} has size {x.shape[a]}, not 1")
    return Reshape.apply(x, tuple(n for i, n in enumerate(x.shape) if i not in axes))


def unsqueeze(x: Tensor, axis: int) -> Tensor:
    """Insert an axis of size 1 at ``axis`` (an index of the result, may be negative)."""
    a = _norm_axis(axis, x.ndim + 1)
    return Reshape.apply(x, x.shape[:a] + (1,) + x.shape[a:])


def expand(x: Tensor, *shape: Any) -> Tensor:
    """Broadcast to ``shape`` without copying (-1 keeps an axis); the result is read-only."""
    shape = _shape_args(shape)
    lead = len(shape) - x.ndim
    if lead < 0:
        raise ValueError(f"expand: cannot expand shape {x.shape} to fewer axes {shape}")
    shape = tuple(x.shape[i - lead] if n == -1 and i >= lead else n for i, n in enumerate(shape))
    try:
        if np.broadcast_shapes(x.shape, shape) != shape:
            raise ValueError
    except ValueError:
        raise ValueError(f"expand: shape {x.shape} cannot be broadcast to {shape}") from None
    if shape == x.shape:
        return x
    return Expand.apply(x, shape)


broadcast_to = expand


def permute(x: Tensor, *axes: Any) -> Tensor:
    """Reorder the axes: the result's axis i is the input's axis ``axes[i]``."""
    axes = _shape_args(axes)
    if len(axes) != x.ndim:
        raise ValueError(f"permute: {len(axes)} axes given for a tensor of dimension {x.ndim}")
    norm = tuple(_norm_axis(a, x.ndim) for a in axes)
    if sorted(norm) != list(range(x.ndim)):
        raise ValueError(f"permute: {axes} is not a permutation of the {x.ndim} axes")
    if norm == tuple(range(x.ndim)):
        return x
    return Transpose.apply(x, norm)


def transpose(x: Tensor, *axes: Any, **kwargs: Any) -> Tensor:
    """No axes: reverse them (NumPy). Two axes on a tensor of more than two dimensions: swap
    them (PyTorch). Otherwise ``axes`` is a full permutation (NumPy; Keras's ``axes=``,
    PyTorch's ``dim0=`` / ``dim1=``)."""
    if kwargs:
        extra = set(kwargs) - {"axes", "dim0", "dim1"}
        if extra:
            raise TypeError(f"transpose: unexpected keyword arguments {sorted(extra)}")
        if "dim0" in kwargs or "dim1" in kwargs:
            return swapaxes(x, kwargs["dim0"], kwargs["dim1"])
        if kwargs["axes"] is not None:
            return permute(x, _shape_args((kwargs["axes"],)))
    axes = _shape_args(axes) if axes else ()
    if not axes:
        return Transpose.apply(x, tuple(range(x.ndim - 1, -1, -1))) if x.ndim > 1 else x
    if len(axes) == 2 and x.ndim != 2:
        return swapaxes(x, axes[0], axes[1])
    return permute(x, axes)


def swapaxes(x: Tensor, axis1: int, axis2: int) -> Tensor:
    """Exchange two axes."""
    a, b = _norm_axis(axis1, x.ndim), _norm_axis(axis2, x.ndim)
    if a == b:
        return x
    perm = list(range(x.ndim))
    perm[a], perm[b] = b, a
    return Transpose.apply(x, tuple(perm))


class Concat(Function):
    @staticmethod
    def forward(ctx: Context, *xs: Array, axis: int) -> Array:
        ctx.saved = (axis, [x.shape[axis] for x in xs])
        return array_module(xs[0]).concatenate(xs, axis=axis)

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        axis, sizes = ctx.saved
        return tuple(array_module(g).split(g, np.cumsum(sizes)[:-1].tolist(), axis=axis))


class Stack(Function):
    @staticmethod
    def forward(ctx: Context, *xs: Array, axis: int) -> Array:
        ctx.saved = (axis,)
        return array_module(xs[0]).stack(xs, axis=axis)

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        gm = array_module(g).moveaxis(g, ctx.saved[0], 0)
        return tuple(gm[i] for i in range(gm.shape[0]))


class Split(Function):
    @staticmethod
    def forward(ctx: Context, x: Array, points: list[int], axis: int) -> tuple:
        ctx.saved = (axis,)
        return tuple(array_module(x).split(x, points, axis=axis))

    @staticmethod
    def backward(ctx: Context, *gs: Array) -> tuple:
        return array_module(gs[0]).concatenate(gs, axis=ctx.saved[0]), None, None


def _tensors(xs: Any, name: str) -> list[Tensor]:
    if isinstance(xs, Tensor) or not isinstance(xs, Sequence):
        raise TypeError(f"{name} expects a sequence of tensors, got {type(xs).__name__}")
    if len(xs) == 0:
        raise ValueError(f"{name} needs at least one tensor")
    ts = [x if isinstance(x, Tensor) else tensor(x) for x in xs]
    dtypes = {t.dtype for t in ts}
    if len(dtypes) > 1:
        dt = _float_of(*dtypes)
        ts = [t if t.dtype == dt else t.astype(dt) for t in ts]
    return ts


def concat(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis (all other axes must match)."""
    ts = _tensors(tensors, "concat")
    nd = ts[0].ndim
    if nd == 0:
        raise ValueError("concat: zero-dimensional tensors cannot be concatenated; use stack")
    ax = _norm_axis(axis, nd)
    for i, t in enumerate(ts):
        if (
            t.ndim != nd
            or t.shape[:ax] + t.shape[ax + 1 :] != ts[0].shape[:ax] + ts[0].shape[ax + 1 :]
        ):
            raise ValueError(
                f"concat: tensor {i} has shape {t.shape}, incompatible with {ts[0].shape} "
                f"(all axes but {ax} must match)"
            )
    return Concat.apply(*ts, axis=ax)


concatenate = concat


def stack(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join same-shaped tensors along a new axis."""
    ts = _tensors(tensors, "stack")
    for i, t in enumerate(ts):
        if t.shape != ts[0].shape:
            raise ValueError(f"stack: tensor {i} has shape {t.shape}, tensor 0 has {ts[0].shape}")
    return Stack.apply(*ts, axis=_norm_axis(axis, ts[0].ndim + 1))


def split(x: Tensor, indices_or_sections: Any, axis: int = 0) -> tuple[Tensor, ...]:
    """NumPy's split: an int n gives n equal parts (it must divide the axis); a list gives the
    split points. Returns a tuple of views."""
    ax = _norm_axis(axis, x.ndim)
    n = x.shape[ax]
    if isinstance(indices_or_sections, (int, np.integer)):
        k = int(indices_or_sections)
        if k <= 0 or n % k:
            raise ValueError(f"split: axis {ax} of size {n} cannot be split into {k} equal parts")
        points = [n // k * i for i in range(1, k)]
    else:
        points = [int(p) for p in indices_or_sections]
    return Split.apply(x, points, ax)


def chunk(x: Tensor, chunks: int, axis: int = 0, *, dim: int | None = None) -> tuple[Tensor, ...]:
    """PyTorch's ``chunk``: split into ``chunks`` pieces of ceil(n / chunks) along ``axis`` (the
    last one smaller, and fewer pieces when n is not large enough)."""
    if dim is not None:
        axis = dim
    if not is_int(chunks) or chunks < 1:
        raise ValueError(f"chunk: chunks must be a positive int, got {chunks!r}")
    ax = _norm_axis(axis, x.ndim)
    n = x.shape[ax]
    size = -(-n // int(chunks))
    if size == 0:
        return (x,)
    return Split.apply(x, list(range(size, n, size)), ax)


class Unbind(Function):
    @staticmethod
    def forward(ctx: Context, x: Array, axis: int) -> tuple:
        ctx.saved = (axis,)
        return tuple(array_module(x).moveaxis(x, axis, 0))

    @staticmethod
    def backward(ctx: Context, *gs: Array) -> tuple:
        return array_module(gs[0]).stack(gs, axis=ctx.saved[0]), None


def unbind(x: Tensor, axis: int = 0, *, dim: int | None = None) -> tuple[Tensor, ...]:
    """The slices of ``x`` along ``axis``, as a tuple (PyTorch's ``unbind``)."""
    if dim is not None:
        axis = dim
    if x.ndim == 0:
        raise ValueError("unbind: a 0-d tensor has no axis to unbind")
    ax = _norm_axis(axis, x.ndim)
    if x.shape[ax] == 0:
        return ()
    return Unbind.apply(x, ax)


def unstack(x: Tensor, num: int | None = None, axis: int = 0) -> list[Tensor]:
    """Keras's ``unstack``: the slices along ``axis`` as a list (``num`` must match if given)."""
    out = list(unbind(x, axis))
    if num is not None and num != len(out):
        raise ValueError(f"unstack: num={num} but axis {axis} has size {len(out)}")
    return out


def expand_dims(x: Tensor, axis: Any) -> Tensor:
    """Insert size-1 axes at ``axis`` (an int or a tuple; positions in the result)."""
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    nd = x.ndim + len(axes)
    pos = sorted(_norm_axis(a, nd) for a in axes)
    if len(set(pos)) != len(pos):
        raise ValueError(f"expand_dims: repeated axis in {axis}")
    it = iter(x.shape)
    return Reshape.apply(x, tuple(1 if i in pos else next(it) for i in range(nd)))


def moveaxis(x: Tensor, source: Any, destination: Any) -> Tensor:
    """Move axes to new positions (NumPy's ``moveaxis``; the others keep their order)."""
    src = source if isinstance(source, (tuple, list)) else (source,)
    dst = destination if isinstance(destination, (tuple, list)) else (destination,)
    if len(src) != len(dst):
        raise ValueError("moveaxis: source and destination must have the same number of axes")
    src = [_norm_axis(a, x.ndim) for a in src]
    dst = [_norm_axis(a, x.ndim) for a in dst]
    order = [a for a in range(x.ndim) if a not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return permute(x, order)


class Pad(Function):
    """x padded by flat ``widths`` (before, after per axis; negative crops first) in one of
    NumPy's modes: a native gather forward and its adjoint backward (csrc/pad.h), so a pad is
    one call whatever the number of axes. ``fill``: None (zero) or a one-element array of x's
    dtype. Arrays of another library (CuPy: no pad kernel there yet) are padded by indexing."""

    fresh_grads = True  # pad_backward's new array ([Note: fresh gradients])

    @staticmethod
    def forward(ctx: Context, x: Array, widths: tuple, mode: str, fill: Any) -> Array:
        if ctx.recording:
            ctx.shape, ctx.widths, ctx.mode = x.shape, widths, mode
        if array_module(x) is not np:
            return _pad_by_indexing(x, widths, mode, fill)
        return _C.pad(contiguous(x), widths, mode, fill)

    @staticmethod
    def backward(ctx: Context, g: Array) -> tuple:
        if array_module(g) is not np:
            return _unpad_by_indexing(g, ctx.shape, ctx.widths, ctx.mode), None, None, None
        # g is float32 / float64: a float16 pad runs in float32 ([Note: float16 storage])
        gx = _C.pad_backward(contiguous(g), ctx.shape, ctx.widths, ctx.mode)
        return gx, None, None, None


def _sources(xp: Any, n: int, b: int, a: int, mode: str) -> Any:
    """The source index of every output position of one axis (csrc/pad.h's maps; -1: fill)."""
    c0, c1 = max(-b, 0), n - max(-a, 0)
    pb, pa = max(b, 0), max(a, 0)
    if mode == "constant":
        src = xp.full(c1 - c0 + pb + pa, -1, dtype=np.int64)
        src[pb : pb + c1 - c0] = xp.arange(c0, c1)
        return src
    return c0 + xp.pad(xp.arange(c1 - c0), (pb, pa), mode=mode)


def _pad_by_indexing(x: Array, widths: tuple, mode: str, fill: Any) -> Array:
    xp = array_module(x)
    out = x
    for ax in range(x.ndim):
        b, a = widths[2 * ax], widths[2 * ax + 1]
        if b or a:
            src = _sources(xp, out.shape[ax], b, a, mode)
            taken = xp.take(out, xp.maximum(src, 0), axis=ax)
            if mode == "constant":
                shape = [1] * x.ndim
                shape[ax] = -1
                value = 0 if fill is None else fill.reshape(())
                taken = xp.where((src >= 0).reshape(shape), taken, value).astype(x.dtype)
            out = taken
    return out


def _unpad_by_indexing(g: Array, shape: tuple, widths: tuple, mode: str) -> Array:
    xp = array_module(g)
    for ax in reversed(range(len(shape))):
        b, a = widths[2 * ax], widths[2 * ax + 1]
        if b or a:
            src = _sources(np, shape[ax], b, a, mode)
            keep = src >= 0
            moved = xp.moveaxis(g, ax, 0)[xp.asarray(keep)]
            acc = xp.zeros((shape[ax],) + moved.shape[1:], g.dtype)
            xp.add.at(acc, xp.asarray(src[keep]), moved)
            g = xp.moveaxis(acc, 0, ax)
    return g


def _fill_of(value: Any, dtype: Any) -> Any:
    """The constant-mode fill argument of Pad: None for a zero of positive sign (all-zero
    bits), else a one-element array of the dtype (NumPy's casting, as np.pad)."""
    if isinstance(value, Tensor):
        value = value.item()
    if value == 0 and not (isinstance(value, float) and math.copysign(1.0, value) < 0):
        return None
    if (
        np.dtype(dtype).kind in "biu"
        and isinstance(value, (float, np.floating))
        and not math.isfinite(value)
    ):
        raise ValueError(f"pad: cannot fill an array of dtype {np.dtype(dtype)} with {value!r}")
    return np.asarray(value).astype(dtype).reshape(1)


_PAD_MODES = ("constant", "edge", "reflect", "symmetric", "wrap")


def _pad_widths(pad_width: Any, ndim: int) -> tuple[tuple[int, int], ...]:
    """NumPy's pad_width forms: n, (n,), (before, after), or one (before, after) per axis."""

    def ints(v: Any) -> tuple[int, ...]:
        if is_int(v):
            return (int(v),)
        if isinstance(v, (tuple, list)) and all(is_int(a) for a in v):
            return tuple(int(a) for a in v)
        raise TypeError(f"pad: pad_width must be ints or pairs of ints, got {pad_width!r}")

    if (
        isinstance(pad_width, (tuple, list))
        and pad_width
        and isinstance(pad_width[0], (tuple, list))
    ):
        pairs = [ints(p) for p in pad_width]
        if len(pairs) == 1:
            pairs = pairs * ndim
    else:
        pairs = [ints(pad_width)] * ndim
    if len(pairs) != ndim or any(len(p) not in (1, 2) for p in pairs):
        raise ValueError(f"pad: pad_width {pad_width!r} does not fit a tensor of dimension {ndim}")
    out = tuple((p[0], p[-1]) for p in pairs)
    if any(v < 0 for p in out for v in p):
        raise ValueError(f"pad: pad widths must be non-negative, got {pad_width!r}")
    return out


def pad(x: Tensor, pad_width: Any, mode: str = "constant", constant_values: Any = None) -> Tensor:
    """NumPy's / Keras's ``pad``: ``pad_width`` per axis as (before, after) (or one pair / one
    int for all axes); ``mode`` "constant" (``constant_values``, default 0), "edge",
    "reflect", "symmetric" or "wrap". Differentiable (the gradient of a copied element
    accumulates)."""
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: mode must be one of {_PAD_MODES}, got {mode!r}")
    widths = _pad_widths(pad_width, x.ndim)
    flat = tuple(v for pair in widths for v in pair)
    if mode == "constant":
        value = 0 if constant_values is None else constant_values
        return Pad.apply(x, flat, mode, _fill_of(value, x.dtype))
    if constant_values is not None:
        raise ValueError(f"pad: constant_values is only for mode='constant', not {mode!r}")
    for ax, (b, a) in enumerate(widths):
        if (b or a) and x.shape[ax] == 0:
            raise ValueError(f"pad: mode {mode!r} cannot pad the empty axis {ax}")
    return Pad.apply(x, flat, mode, None)
