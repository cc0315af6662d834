"""Reverse-mode automatic differentiation over a dynamic graph.

Every differentiable op is a :class:`Function` with a ``forward`` and a ``backward`` on raw
arrays (NumPy today, CuPy on the GPU). ``Function.apply`` runs ``forward`` on the inputs'
arrays, wraps the results in Tensors and, when any input requires a gradient and grad mode is
on, records a graph node (the ``Context``) on each output. ``Tensor.backward`` walks the nodes
in reverse topological order, calls each ``backward`` once with the summed gradients of its
outputs, and accumulates into the ``.grad`` of leaf tensors.

Writing an op::

    class Exp(Function):
        @staticmethod
        def forward(ctx, x):
            y = np.exp(x)
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, gy):
            (y,) = ctx.saved
            return gy * y

``forward`` receives arrays for Tensor arguments and other arguments unchanged; ``backward``
returns one gradient (array or None) per positional argument of ``forward``; gradients for
non-Tensor arguments are ignored. [Note: graph lifetime] After a backward the saved arrays and
parent links of every node it visited are dropped (unless ``retain_graph=True``), so no
activation outlives the step; a second backward through such a node raises.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Callable

import numpy as np

__all__ = [
    "Context",
    "Function",
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "is_grad_enabled",
    "backward",
]

_state = threading.local()


def is_grad_enabled() -> bool:
    return getattr(_state, "enabled", True)


class set_grad_enabled:
    """Context manager (and decorator) that turns graph recording on or off."""

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self.prev = True

    def __enter__(self) -> None:
        self.prev = is_grad_enabled()
        _state.enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        _state.enabled = self.prev

    def __call__(self, fn: Callable) -> Callable:
        mode = self.mode

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        wrapper.__name__ = getattr(fn, "__name__", "wrapper")
        wrapper.__doc__ = getattr(fn, "__doc__", None)
        return wrapper


class no_grad(set_grad_enabled):
    """``with dc.no_grad():`` ops inside record no graph (inference, optimizer updates)."""

    def __init__(self) -> None:
        super().__init__(False)


class enable_grad(set_grad_enabled):
    def __init__(self) -> None:
        super().__init__(True)


class Context:
    """A graph node: what backward needs, and the edges to the inputs that need gradients."""

    __slots__ = ("fn", "parents", "saved", "needs_input_grad", "n_outputs", "freed", "__dict__")

    def __init__(self, fn: type[Function], parents: tuple, needs: tuple[bool, ...]) -> None:
        self.fn = fn
        self.parents = parents  # one entry per forward positional arg: Tensor or None
        self.needs_input_grad = needs
        self.saved: tuple = ()
        self.n_outputs = 1
        self.freed = False

    def save_for_backward(self, *arrays: Any) -> None:
        self.saved = arrays

    def free(self) -> None:
        self.saved = ()
        self.parents = ()
        self.__dict__.clear()
        self.freed = True


class Function:
    """Base class of differentiable ops (see the module docstring)."""

    @staticmethod
    def forward(ctx: Context, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, *grad_outputs: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        from .tensor import Tensor

        raw = [a.data if isinstance(a, Tensor) else a for a in args]
        needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        record = any(needs) and is_grad_enabled()
        ctx = Context(cls, tuple(a if n else None for a, n in zip(args, needs)), needs)
        out = cls.forward(ctx, *raw, **kwargs)
        if isinstance(out, tuple):
            ctx.n_outputs = len(out)
            ctx.out_shapes = [o.shape for o in out]
            ctx.out_dtypes = [o.dtype for o in out]
            results = tuple(Tensor._wrap(o) for o in out)
        else:
            results = (Tensor._wrap(out),)
        if record:
            for i, r in enumerate(results):
                r.requires_grad = True
                r._ctx = ctx
                r._out_index = i
        return results if isinstance(out, tuple) else results[0]


def _toposort(roots: Sequence[Context]) -> list[Context]:
    """Nodes reachable from roots, each after every node that consumes its outputs."""
    order: list[Context] = []
    seen: set[int] = set()
    for root in roots:
        if id(root) in seen:
            continue
        seen.add(id(root))
        stack: list[tuple[Context, int]] = [(root, 0)]
        while stack:
            node, i = stack.pop()
            if node.freed:
                raise RuntimeError(
                    "Trying to backward through the graph a second time (or directly access "
                    "saved tensors after they have already been freed). Saved intermediate "
                    "values of the graph are freed when you call .backward(). Specify "
                    "retain_graph=True if you need to backward through the graph a second time."
                )
            parents = node.parents
            while i < len(parents):
                p = parents[i]
                i += 1
                if p is not None and p._ctx is not None and id(p._ctx) not in seen:
                    seen.add(id(p._ctx))
                    stack.append((node, i))
                    stack.append((p._ctx, 0))
                    break
            else:
                order.append(node)
    order.reverse()
    return order


def backward(
    tensors: Any, grad_tensors: Any = None, retain_graph: bool = False
) -> None:
    """Accumulate d(sum_i <tensors_i, grad_tensors_i>)/d(leaf) into every leaf's ``.grad``."""
    from .tensor import Tensor

    if isinstance(tensors, Tensor):
        tensors = [tensors]
        grad_tensors = [grad_tensors]
    elif grad_tensors is None:
        grad_tensors = [None] * len(tensors)

    grads: dict[int, list] = {}  # id(ctx) -> per-output gradient arrays
    roots: list[Context] = []
    for t, g in zip(tensors, grad_tensors):
        if not t.requires_grad:
            raise RuntimeError(
                "element 0 of tensors does not require grad and does not have a grad_fn"
            )
        if g is None:
            if t.size != 1:
                raise RuntimeError(
                    f"grad can be implicitly created only for scalar outputs; got shape {t.shape}"
                )
            g = np.ones(t.shape, dtype=t.dtype)
        else:
            g = g.data if isinstance(g, Tensor) else np.asarray(g, dtype=t.dtype)
            if g.shape != t.shape:
                raise ValueError(f"gradient has shape {g.shape}, expected {t.shape}")
        if t._ctx is None:  # a leaf
            _accumulate_leaf(t, g)
            continue
        slot = grads.setdefault(id(t._ctx), [None] * t._ctx.n_outputs)
        slot[t._out_index] = g if slot[t._out_index] is None else slot[t._out_index] + g
        roots.append(t._ctx)

    with no_grad():
        for node in _toposort(roots):
            outs = grads.pop(id(node), None)
            if outs is None:
                continue
            if node.n_outputs > 1 and any(o is None for o in outs):
                outs = _fill_missing(node, outs)
            in_grads = node.fn.backward(node, *outs)
            if not isinstance(in_grads, tuple):
                in_grads = (in_grads,)
            for parent, g in zip(node.parents, in_grads):
                if parent is None or g is None:
                    continue
                if g.shape != parent.shape:
                    raise RuntimeError(
                        f"{node.fn.__name__}.backward returned a gradient of shape {g.shape} "
                        f"for an input of shape {parent.shape}"
                    )
                if parent._ctx is None:
                    _accumulate_leaf(parent, g)
                else:
                    if parent._retain_grad:
                        _accumulate_leaf(parent, g)
                    slot = grads.setdefault(id(parent._ctx), [None] * parent._ctx.n_outputs)
                    i = parent._out_index
                    slot[i] = g if slot[i] is None else slot[i] + g
            if not retain_graph:
                node.free()


def _fill_missing(node: Context, outs: list) -> list:
    shapes = getattr(node, "out_shapes", None)
    dtypes = getattr(node, "out_dtypes", None)
    if shapes is None:
        raise RuntimeError(
            f"{node.fn.__name__}: a multi-output op must set ctx.out_shapes/out_dtypes so unused "
            "outputs can get zero gradients"
        )
    return [np.zeros(s, d) if o is None else o for o, s, d in zip(outs, shapes, dtypes)]


def _accumulate_leaf(t: Any, g: Any) -> None:
    from .tensor import Tensor

    if g.dtype != t.dtype:
        g = g.astype(t.dtype)
    if t.grad is None:
        # own the buffer: g may alias an array another node still holds
        t.grad = Tensor._wrap(np.array(g, copy=True))
    else:
        t.grad.data += g
