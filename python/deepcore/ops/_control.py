"""Keras's control-flow ops on eager deepcore: ``cond``, ``switch``, ``while_loop``,
``fori_loop``, ``scan``, ``associative_scan``, ``map``, ``vectorized_map`` and
``custom_gradient``. In ``deepcore.ops`` (keras.ops) only.

[Note: eager control flow] Keras's graph backends trace these into loops of the compiled
graph; deepcore runs eagerly, so each is the Python control flow it describes, calling the
user's function once per iteration (``while_loop``, ``scan``, ``map``) or per branch. The
results are ordinary Tensors on the autograd graph: gradients flow through every iteration.
Structures of tensors (tuples, lists, dicts, nested) are accepted wherever Keras accepts a
pytree: ``scan``'s carry and ``xs``, ``map``'s inputs and outputs, ``while_loop``'s
variables. ``associative_scan`` calls ``f`` on whole slices, O(log n) times (the odd/even
recursion of Blelloch's parallel prefix), never once per element.
"""

from __future__ import annotations

import builtins
import inspect
import operator
from typing import Any, Callable

import numpy as np

from .._array import array_module
from ..autograd import Context, Function, no_grad
from ..tensor import Tensor
from ._indexing import getitem, take
from ._keras import convert_to_tensor
from ._rearrange import flip
from ._shape import concat, stack

__all__ = [
    "cond",
    "switch",
    "while_loop",
    "fori_loop",
    "scan",
    "associative_scan",
    "map",
    "vectorized_map",
    "custom_gradient",
]


# ---------------------------------------------------------------------- structures
def _flatten(tree: Any) -> tuple[list, Any]:
    """(leaves, spec): the leaves of nested tuples / lists / dicts (dicts by sorted key), and
    what ``_unflatten`` needs to rebuild the structure; None is a structure with no leaves."""
    if tree is None:
        return [], None
    if isinstance(tree, (tuple, list)):
        leaves, specs = [], []
        for t in tree:
            lv, sp = _flatten(t)
            leaves += lv
            specs.append((len(lv), sp))
        return leaves, (type(tree), specs)
    if isinstance(tree, dict):
        keys = sorted(tree)
        leaves, specs = [], []
        for k in keys:
            lv, sp = _flatten(tree[k])
            leaves += lv
            specs.append((len(lv), sp))
        return leaves, (dict, (keys, specs))
    return [tree], "leaf"


def _unflatten(spec: Any, leaves: list) -> Any:
    if spec is None:
        return None
    if spec == "leaf":
        return leaves[0]
    kind, rest = spec
    if kind is dict:
        keys, specs = rest
        out, i = {}, 0
        for k, (n, sp) in zip(keys, specs):
            out[k] = _unflatten(sp, leaves[i : i + n])
            i += n
        return out
    items, i = [], 0
    for n, sp in rest:
        items.append(_unflatten(sp, leaves[i : i + n]))
        i += n
    return kind(items) if kind in (tuple, list) else kind(*items)


def _tensor(x: Any) -> Any:
    return x if isinstance(x, Tensor) else convert_to_tensor(x)


def _truth(fn: str, pred: Any) -> bool:
    if isinstance(pred, Tensor) or hasattr(pred, "shape"):
        data = pred.data if isinstance(pred, Tensor) else pred
        if data.size != 1:
            raise ValueError(f"{fn}: the predicate must be a scalar, got shape {data.shape}")
        return bool(data.reshape(()))
    return bool(pred)


# ---------------------------------------------------------------------- branches
def cond(pred: Any, true_fn: Callable, false_fn: Callable) -> Any:
    """``true_fn()`` if ``pred`` (a bool or scalar tensor) holds, else ``false_fn()``."""
    if not callable(true_fn) or not callable(false_fn):
        raise TypeError("cond: true_fn and false_fn must be callables taking no arguments")
    return true_fn() if _truth("cond", pred) else false_fn()


def switch(index: Any, branches: list, *operands: Any) -> Any:
    """``branches[index](*operands)``, ``index`` clamped to [0, len(branches) - 1] as Keras
    does."""
    if not isinstance(branches, (list, tuple)) or not branches:
        raise ValueError("switch: branches must be a non-empty list of callables")
    if not all(callable(b) for b in branches):
        raise TypeError("switch: every branch must be callable")
    i = index.data.reshape(()) if isinstance(index, Tensor) else index
    try:
        i = operator.index(i)
    except TypeError:
        raise TypeError(f"switch: index must be an integer, got {index!r}") from None
    return branches[builtins.min(builtins.max(i, 0), len(branches) - 1)](*operands)


# ---------------------------------------------------------------------- loops
def while_loop(
    cond: Callable, body: Callable, loop_vars: Any, maximum_iterations: int | None = None
) -> Any:
    """Keras's ``while_loop``: while ``cond(*loop_vars)`` (and fewer than
    ``maximum_iterations`` iterations ran), ``loop_vars = body(*loop_vars)``. A tuple or
    list of variables is passed unpacked and returned as a tuple; a single variable is
    passed and returned as it is."""
    if not callable(cond) or not callable(body):
        raise TypeError("while_loop: cond and body must be callables")
    if maximum_iterations is not None:
        maximum_iterations = operator.index(maximum_iterations)
        if maximum_iterations < 0:
            raise ValueError(
                f"while_loop: maximum_iterations must be >= 0, got {maximum_iterations}"
            )
    is_tuple = isinstance(loop_vars, (tuple, list))
    vars_ = tuple(loop_vars) if is_tuple else (loop_vars,)
    leaves, spec = _flatten(vars_)
    vars_ = _unflatten(spec, [_tensor(v) for v in leaves])
    i = 0
    while (maximum_iterations is None or i < maximum_iterations) and _truth(
        "while_loop", cond(*vars_)
    ):
        out = body(*vars_)
        out = tuple(out) if isinstance(out, (tuple, list)) else (out,)
        if len(out) != len(vars_):
            raise ValueError(
                f"while_loop: body returned {len(out)} values for {len(vars_)} loop variables"
            )
        vars_ = out
        i += 1
    return vars_ if is_tuple else vars_[0]


def fori_loop(lower: int, upper: int, body_fun: Callable, init_val: Any) -> Any:
    """``val = body_fun(i, val)`` for i in range(lower, upper), starting from ``init_val``."""
    if not callable(body_fun):
        raise TypeError("fori_loop: body_fun must be callable")
    lo = operator.index(lower.data.reshape(()) if isinstance(lower, Tensor) else lower)
    hi = operator.index(upper.data.reshape(()) if isinstance(upper, Tensor) else upper)
    val = init_val
    for i in range(lo, hi):
        val = body_fun(i, val)
    return val


def _leading(fn: str, leaves: list, length: int | None) -> int:
    sizes = {int(t.shape[0]) for t in leaves if t.ndim > 0}
    if any(t.ndim == 0 for t in leaves):
        raise ValueError(f"{fn}: every input must have a leading axis to iterate over")
    if len(sizes) > 1:
        raise ValueError(f"{fn}: the inputs' leading axes differ in size: {sorted(sizes)}")
    if sizes:
        n = sizes.pop()
        if length is not None and length != n:
            raise ValueError(f"{fn}: length={length} but the inputs have {n} entries")
        return n
    if length is None:
        raise ValueError(f"{fn}: give xs or length")
    return length


def _stack_outputs(fn: str, outs: list) -> Any:
    """Per-iteration outputs (one structure each) stacked leaf by leaf along a new axis 0."""
    if not outs:
        return None
    flat = [_flatten(o) for o in outs]
    spec = flat[0][1]
    if any(f[1] != spec for f in flat):
        raise ValueError(f"{fn}: the function returned differently structured outputs")
    if spec is None:
        return None
    leaves = [stack([_tensor(f[0][j]) for f in flat], 0) for j in range(len(flat[0][0]))]
    return _unflatten(spec, leaves)


def scan(
    f: Callable,
    init: Any,
    xs: Any = None,
    length: int | None = None,
    reverse: bool = False,
    unroll: Any = 1,
) -> tuple[Any, Any]:
    """Keras's (JAX's) ``scan``: ``carry, y = f(carry, x)`` for each slice x of ``xs`` along
    axis 0 (or ``length`` times with x None), starting from ``init``; returns (the last
    carry, the ys stacked along a new axis 0). ``reverse`` runs from the last slice, the ys
    still stacked in the order of xs. ``unroll`` is accepted and has no effect (eager)."""
    if not callable(f):
        raise TypeError("scan: f must be callable")
    x_leaves, x_spec = _flatten(xs)
    x_leaves = [_tensor(t) for t in x_leaves]
    n = _leading("scan", x_leaves, None if length is None else operator.index(length))
    carry = init
    ys = []
    order = range(n - 1, -1, -1) if reverse else range(n)
    for i in order:
        x = _unflatten(x_spec, [getitem(t, i) for t in x_leaves]) if x_leaves else None
        out = f(carry, x)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise ValueError("scan: f must return a pair (carry, y)")
        carry, y = out
        ys.append(y)
    if reverse:
        ys.reverse()
    return carry, _stack_outputs("scan", ys)


def map(f: Callable, xs: Any) -> Any:  # noqa: A001
    """``f`` applied to each slice of ``xs`` (a tensor or a structure of tensors) along axis
    0, the results stacked along a new axis 0."""
    if not callable(f):
        raise TypeError("map: f must be callable")
    leaves, spec = _flatten(xs)
    leaves = [_tensor(t) for t in leaves]
    n = _leading("map", leaves, None)
    outs = [f(_unflatten(spec, [getitem(t, i) for t in leaves])) for i in range(n)]
    if not outs:
        raise ValueError("map: xs is empty (nothing to infer the output from)")
    return _stack_outputs("map", outs)


def vectorized_map(function: Callable, elements: Any) -> Any:
    """Keras's ``vectorized_map``: the same results as ``map(function, elements)`` (deepcore
    has no vectorising transform; the function runs once per slice)."""
    return map(function, elements)


# ---------------------------------------------------------------------- associative scan
def _slice(t: Tensor, axis: int, start: int, stop: int | None, step: int = 1) -> Tensor:
    return getitem(t, (slice(None),) * axis + (slice(start, stop, step),))


def _interleave(even: list, odd: list, axis: int) -> list:
    """Entries even[0], odd[0], even[1], odd[1], ... along ``axis``."""
    out = []
    for e, o in zip(even, odd):
        ne, no = e.shape[axis], o.shape[axis]
        xp = array_module(e.data)
        perm = xp.empty(ne + no, np.int64)
        perm[0::2] = xp.arange(ne)
        perm[1::2] = ne + xp.arange(no)
        out.append(take(concat([e, o], axis), Tensor._wrap(perm), axis=axis))
    return out


def associative_scan(f: Callable, elems: Any, reverse: bool = False, axis: int = 0) -> Any:
    """The inclusive scan of ``elems`` along ``axis`` under the associative ``f(a, b)`` (which
    combines slices element-wise: ``f(a, b)`` of (k, ...) slices is (k, ...)):
    result[i] = f(result[i - 1], elems[i]). ``elems`` may be a structure of tensors with one
    length along ``axis``, ``f`` then takes and returns such structures. ``f`` runs
    O(log n) times on whole slices ([Note: eager control flow])."""
    if not callable(f):
        raise TypeError("associative_scan: f must be callable")
    leaves, spec = _flatten(elems)
    leaves = [_tensor(t) for t in leaves]
    if not leaves:
        raise ValueError("associative_scan: elems has no tensors")
    ndim = leaves[0].ndim
    ax = operator.index(axis)
    ax = ax + ndim if ax < 0 else ax
    if not all(0 <= ax < t.ndim for t in leaves):
        raise ValueError(f"associative_scan: axis {axis} is out of range for the inputs")
    sizes = {t.shape[ax] for t in leaves}
    if len(sizes) != 1:
        raise ValueError(f"associative_scan: the inputs differ in length along axis {axis}")
    if reverse:
        leaves = [flip(t, ax) for t in leaves]

    def combine(a: list, b: list) -> list:
        out = f(_unflatten(spec, a), _unflatten(spec, b))
        res, out_spec = _flatten(out)
        if out_spec != spec:
            raise ValueError("associative_scan: f must return the structure of its inputs")
        return [_tensor(r) for r in res]

    def rec(es: list) -> list:
        n = es[0].shape[ax]
        if n < 2:
            return es
        reduced = combine(
            [_slice(e, ax, 0, -1, 2) for e in es], [_slice(e, ax, 1, None, 2) for e in es]
        )
        odd = rec(reduced)  # the prefixes ending at 1, 3, 5, ...
        if n % 2 == 0:
            even = combine(
                [_slice(o, ax, 0, -1) for o in odd], [_slice(e, ax, 2, None, 2) for e in es]
            )
        else:
            even = combine(odd, [_slice(e, ax, 2, None, 2) for e in es])
        even = [concat([_slice(e, ax, 0, 1), v], ax) for e, v in zip(es, even)]
        return _interleave(even, odd, ax)

    out = rec(leaves)
    if reverse:
        out = [flip(t, ax) for t in out]
    return _unflatten(spec, out)


# ---------------------------------------------------------------------- custom gradient
def custom_gradient(f: Callable) -> Callable:
    """Keras's decorator: ``f(*args)`` returns ``(y, grad_fn)`` and ``grad_fn(upstream)``
    (or ``grad_fn(*args, upstream=...)``) returns the gradient of each tensor argument (one,
    or a tuple of them). The decorated function computes ``y`` with ``f`` (no graph inside)
    and records one node whose backward is ``grad_fn``."""
    if not callable(f):
        raise TypeError("custom_gradient: f must be callable")

    class _Custom(Function):
        @staticmethod
        def forward(ctx: Context, *arrays: Any) -> Any:
            with no_grad():
                y, grad_fn = f(*[Tensor._wrap(a) if _is_array(a) else a for a in arrays])
            if not callable(grad_fn):
                raise TypeError("custom_gradient: f must return (output, grad_fn)")
            ctx.grad_fn = grad_fn
            ctx.arrays = [_is_array(a) for a in arrays]
            return _tensor(y).data

        @staticmethod
        def backward(ctx: Context, g: Any) -> Any:
            up = Tensor._wrap(g)
            fn = ctx.grad_fn
            try:
                takes_upstream = "upstream" in inspect.signature(fn).parameters
            except (TypeError, ValueError):
                takes_upstream = False
            grads = fn(upstream=up) if takes_upstream else fn(up)
            grads = list(grads) if isinstance(grads, (tuple, list)) else [grads]
            n = sum(ctx.arrays)
            if len(grads) != n:
                raise ValueError(
                    f"custom_gradient: grad_fn returned {len(grads)} gradients for {n} tensor "
                    "arguments"
                )
            it = iter(grads)
            out = []
            for is_arr in ctx.arrays:
                gr = next(it) if is_arr else None
                out.append(None if gr is None else _tensor(gr).data)
            return tuple(out)

    def wrapper(*args: Any) -> Tensor:
        return _Custom.apply(*[convert_to_tensor(a) if _is_arraylike(a) else a for a in args])

    wrapper.__name__ = getattr(f, "__name__", "custom_gradient")
    wrapper.__doc__ = f.__doc__
    return wrapper


def _is_array(a: Any) -> bool:
    return hasattr(a, "shape") and hasattr(a, "dtype")


def _is_arraylike(a: Any) -> bool:
    return isinstance(a, (Tensor, list, float, int)) or _is_array(a)
