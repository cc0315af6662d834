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
            y = array_module(x).exp(x)  # numpy, or cupy on "cuda": [Note: array module]
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

[Note: post-accumulate hooks] ``Tensor.register_post_accumulate_grad_hook(hook)`` (PyTorch's
name) calls ``hook(tensor)`` on a leaf once per backward, right after the last of that
backward's gradients has been added to its ``.grad`` -- while backward goes on through the rest
of the graph (data-parallel training starts reducing a bucket of final gradients there). The
engine counts, before it runs, the graph's edges into each hooked leaf, and fires the hooks when
the last of them has been processed (a leaf that got no gradient in this backward is not
called). Without any hook registered nothing is counted.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from typing import Any, Callable

import numpy as np

from ._array import array_module

__all__ = [
    "Context",
    "Function",
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "is_grad_enabled",
    "backward",
    "RemovableHandle",
    "register_post_accumulate_grad_hook",
]


class _GradState(threading.local):
    enabled = True  # class default: every new thread starts with grad mode on


_state = _GradState()
_F16 = np.dtype(np.float16)


class _Autocast(threading.local):
    """The dtype float weights are read in inside a mixed-precision layer's call on this
    thread, or None: set by Module.__call__, read by Function.apply ([Note: mixed precision]
    in nn/dtype_policy.py)."""

    dtype: Any = None


_AUTOCAST = _Autocast()
_Tensor: Any = None  # deepcore.tensor.Tensor, set by tensor.py (the modules import each other)


def is_grad_enabled() -> bool:
    return _state.enabled


class set_grad_enabled:
    """Context manager (and decorator) that turns graph recording on or off.

    Like PyTorch, calling ``set_grad_enabled(False)`` as a plain function also sets the mode
    (until changed again); as a context manager the previous mode is restored on exit.
    """

    _sets_on_init = True

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self.prev = _state.enabled
        _state.enabled = self.mode

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        _state.enabled = self.prev

    def __call__(self, fn: Callable) -> Callable:
        mode = self.mode
        if self._sets_on_init:  # used as @set_grad_enabled(m): undo the mode set by __init__
            _state.enabled = self.prev

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        wrapper.__name__ = getattr(fn, "__name__", "wrapper")
        wrapper.__doc__ = getattr(fn, "__doc__", None)
        return wrapper


class no_grad(set_grad_enabled):
    """``with dc.no_grad():`` ops inside record no graph (inference, optimizer updates)."""

    _sets_on_init = False

    def __init__(self) -> None:  # the mode changes on __enter__, not at construction
        self.mode = False
        self.prev = True

    def __enter__(self) -> None:
        self.prev = _state.enabled
        _state.enabled = self.mode


class enable_grad(no_grad):
    """``with dc.enable_grad():`` record a graph again inside a no_grad block."""

    def __init__(self) -> None:
        self.mode = True
        self.prev = True


class Context:
    """A graph node: what backward needs, and the edges to the inputs that need gradients."""

    __slots__ = (
        "fn",
        "parents",
        "saved",
        "recording",
        "n_outputs",
        "freed",
        "__dict__",
        "__weakref__",
    )

    def __init__(self, fn: type[Function], parents: list, recording: bool) -> None:
        self.fn = fn
        # one entry per forward positional arg: the Tensor when it requires grad, else None
        self.parents = parents
        self.recording = recording  # False under no_grad or when no input requires grad
        self.saved: tuple = ()
        self.n_outputs = 1
        self.freed = False

    @property
    def needs_input_grad(self) -> tuple[bool, ...]:
        """Per positional forward argument: does backward need its gradient?"""
        return tuple([p is not None for p in self.parents])

    def save_for_backward(self, *arrays: Any) -> None:
        self.saved = arrays

    def free(self) -> None:
        """Drop what backward needed (see [Note: graph lifetime])."""
        self.saved = ()
        self.parents = ()
        self.__dict__.clear()  # attributes ops set on ctx may hold arrays too
        self.freed = True


class Function:
    """Base class of differentiable ops (see the module docstring)."""

    half_native = False  # True: forward/backward take float16 arrays ([Note: float16 storage])
    # [Note: fresh gradients] True (every input) or a tuple of bools (per positional input):
    # backward returns, for those inputs, arrays it allocated and keeps no reference to, so a
    # leaf's first .grad may be that array instead of a copy (PyTorch's AccumulateGrad steals
    # such a buffer too). Leave False when backward may return an incoming gradient, a saved
    # array or a view of one.
    fresh_grads: bool | tuple[bool, ...] = False

    @staticmethod
    def forward(ctx: Context, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, *grad_outputs: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        # [Note: apply fast path] This runs for every op of every training step, so it is kept
        # to one pass over the arguments and no per-call imports; profile before adding to it.
        T = _Tensor
        if _AUTOCAST.dtype is not None:
            args = _autocast_args(args)
        raw = []
        parents = []
        record = False
        half = False
        for a in args:
            if isinstance(a, T):
                d = a.data
                raw.append(d)
                if d.dtype is _F16:
                    half = True
                if a.requires_grad:
                    record = True
                    parents.append(a)
                    continue
            else:
                raw.append(a)
            parents.append(None)
        if kwargs:
            for k, v in kwargs.items():
                if isinstance(v, T):  # it would get no gradient: a silent wrong answer
                    raise TypeError(
                        f"{cls.__name__}.apply: Tensor passed as keyword argument {k!r}; pass "
                        "Tensors positionally so gradients can flow to them"
                    )
        record = record and _state.enabled
        if half and not cls.half_native:
            ctx, out = _forward_half(cls, raw, parents, record, kwargs)
        else:
            ctx = Context(cls, parents, record)
            out = cls.forward(ctx, *raw, **kwargs)
        wrap = T._wrap
        if type(out) is tuple:
            ctx.n_outputs = len(out)
            ctx.out_shapes = [o.shape for o in out]
            ctx.out_dtypes = [o.dtype for o in out]
            results = tuple([wrap(o) for o in out])
            if record:
                for i, r in enumerate(results):
                    r.requires_grad = True
                    r._ctx = ctx
                    r._out_index = i
            else:
                ctx.free()
            return results
        r = wrap(out)
        if record:
            r.requires_grad = True
            r._ctx = ctx
        return r


def _autocast_args(args: tuple) -> tuple:
    """``args`` with each float weight (a Tensor whose class sets ``_autocast_var``: a
    Parameter) not already in the autocast dtype replaced by a differentiable cast of it
    ([Note: mixed precision] in nn/dtype_policy.py)."""
    to = _AUTOCAST.dtype
    if not any([getattr(a, "_autocast_var", False) for a in args]):
        return args
    _AUTOCAST.dtype = None  # the casts themselves are plain ops
    try:
        return tuple([_autocast(a, to) for a in args])
    finally:
        _AUTOCAST.dtype = to


def _autocast(a: Any, to: np.dtype) -> Any:
    if getattr(a, "_autocast_var", False) and a.data.dtype != to and a.data.dtype.kind == "f":
        return a.to(dtype=to)
    return a


# The float16 path of Function.apply ([Note: float16 storage]).
_F32 = np.dtype(np.float32)
_half_fns: dict[type, type] = {}


def _half_fn(cls: type[Function]) -> type[Function]:
    """cls with a backward that upcasts float16 output gradients to float32 (one subclass per
    op, made once; it keeps cls's name for error messages and ``grad_fn``)."""
    h = _half_fns.get(cls)
    if h is None:

        def backward(ctx: Context, *grads: Any) -> Any:
            up = [g.astype(_F32) if g is not None and g.dtype is _F16 else g for g in grads]
            return cls.backward(ctx, *up)

        attrs = {"backward": staticmethod(backward), "__module__": cls.__module__}
        h = _half_fns[cls] = type(cls.__name__, (cls,), attrs)
        h.__qualname__ = cls.__qualname__
    return h


def _forward_half(
    cls: type[Function], raw: list, parents: list, record: bool, kwargs: dict
) -> tuple[Context, Any]:
    """Run cls.forward on float32 copies of the float16 arrays in ``raw``; round its float32
    outputs to float16 unless a float32 / float64 array was among the arguments."""
    wider = False
    for i, a in enumerate(raw):
        if type(a) is not np.ndarray and not hasattr(a, "__cuda_array_interface__"):
            continue  # scalars (NumPy ones included) are weak, as in _common._coerce
        dt = a.dtype
        if dt == _F16:
            raw[i] = a.astype(_F32)
        elif dt.kind == "f":
            wider = True
    ctx = Context(_half_fn(cls), parents, record)
    out = cls.forward(ctx, *raw, **kwargs)
    if wider:
        return ctx, out

    def down(o: Any) -> Any:
        return o.astype(_F16) if getattr(o, "dtype", None) == _F32 else o

    with np.errstate(over="ignore"):  # beyond float16's range is inf, as a float16 op gives
        return ctx, tuple([down(o) for o in out]) if type(out) is tuple else down(out)


# id(leaf) -> (weak reference to it, its hooks); see [Note: post-accumulate hooks]
_post_hooks: dict[int, tuple[weakref.ref, list[Callable[[Any], None]]]] = {}


class RemovableHandle:
    """``handle.remove()`` unregisters the hook it was returned for."""

    __slots__ = ("_key", "_hook")

    def __init__(self, key: int, hook: Callable[[Any], None]) -> None:
        self._key, self._hook = key, hook

    def remove(self) -> None:
        entry = _post_hooks.get(self._key)
        if entry is None:
            return
        hooks = entry[1]
        for i, h in enumerate(hooks):
            if h is self._hook:
                del hooks[i]
                break
        if not hooks:
            del _post_hooks[self._key]


def register_post_accumulate_grad_hook(t: Any, hook: Callable[[Any], None]) -> RemovableHandle:
    """Call ``hook(t)`` after each backward has accumulated its last gradient into the leaf
    ``t``'s ``.grad`` (see [Note: post-accumulate hooks]); returns a handle to remove it."""
    if not callable(hook):
        raise TypeError(f"hook must be callable, got {type(hook).__name__}")
    if t._ctx is not None:
        raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
    if not t.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    key = id(t)
    entry = _post_hooks.get(key)
    if entry is None or entry[0]() is not t:  # a dead tensor's id may have been reused
        # the dict is bound here: at interpreter exit the module's globals may already be None
        def forget(_ref: weakref.ref, key: int = key, hooks: dict = _post_hooks) -> None:
            e = hooks.get(key)
            if e is not None and e[0] is _ref:
                del hooks[key]

        entry = _post_hooks[key] = (weakref.ref(t, forget), [])
    entry[1].append(hook)
    return RemovableHandle(key, hook)


class _LeafCounts:
    """The edges still to process into each hooked leaf of one backward, and the leaves that
    got a gradient in it (see [Note: post-accumulate hooks])."""

    __slots__ = ("left", "got")

    def __init__(self, order: list[Context], root_leaves: list) -> None:
        left: dict[int, int] = {}
        for node in order:
            for p in node.parents:
                if p is not None and p._ctx is None and id(p) in _post_hooks:
                    left[id(p)] = left.get(id(p), 0) + 1
        for t in root_leaves:
            if id(t) in _post_hooks:
                left[id(t)] = left.get(id(t), 0) + 1
        self.left = left
        self.got: set[int] = {id(t) for t in root_leaves}

    def done(self, leaves: Sequence[Any]) -> None:
        """One edge into each of ``leaves`` (None and non-leaves skipped) has been processed."""
        left = self.left
        for p in leaves:
            if p is None or p._ctx is not None:
                continue
            k = id(p)
            c = left.get(k)
            if c is None:
                continue
            if c > 1:
                left[k] = c - 1
                continue
            del left[k]
            if k in self.got:
                entry = _post_hooks.get(k)
                if entry is not None:
                    for hook in list(entry[1]):
                        hook(p)


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


def backward(tensors: Any, grad_tensors: Any = None, retain_graph: bool = False) -> None:
    """Accumulate d(sum_i <tensors_i, grad_tensors_i>)/d(leaf) into every leaf's ``.grad``."""
    T = _Tensor
    if isinstance(tensors, T):
        tensors = [tensors]
        grad_tensors = [grad_tensors]
    elif grad_tensors is None:
        grad_tensors = [None] * len(tensors)
    if len(grad_tensors) != len(tensors):
        raise ValueError(f"got {len(grad_tensors)} gradients for {len(tensors)} tensors")

    grads: dict[int, list] = {}  # id(ctx) -> per-output gradient arrays
    roots: list[Context] = []
    root_leaves = []
    for k, (t, g) in enumerate(zip(tensors, grad_tensors)):
        if not t.requires_grad:
            raise RuntimeError(
                f"element {k} of tensors does not require grad and does not have a grad_fn"
            )
        if g is None:
            if t.size != 1:
                raise RuntimeError(
                    f"grad can be implicitly created only for scalar outputs; got shape {t.shape}"
                )
            g = array_module(t.data).ones(t.shape, dtype=t.dtype)
        else:
            g = g.data if isinstance(g, T) else array_module(t.data).asarray(g, dtype=t.dtype)
            if g.shape != t.shape:
                raise ValueError(f"gradient has shape {g.shape}, expected {t.shape}")
        if t._ctx is None or t._retain_grad:  # a leaf, or a non-leaf that keeps its .grad
            _accumulate_leaf(t, g)
        if t._ctx is None:
            root_leaves.append(t)
            continue
        slot = grads.setdefault(id(t._ctx), [None] * t._ctx.n_outputs)
        slot[t._out_index] = g if slot[t._out_index] is None else slot[t._out_index] + g
        roots.append(t._ctx)

    prev = _state.enabled
    _state.enabled = False  # backward functions compute on arrays; record nothing
    try:
        order = _toposort(roots)
        counts = None
        if _post_hooks:
            counts = _LeafCounts(order, root_leaves)
            counts.done(root_leaves)
        _run_backward(order, grads, retain_graph, counts)
    finally:
        _state.enabled = prev


def _run_backward(
    order: list[Context], grads: dict[int, list], retain_graph: bool, counts: _LeafCounts | None
) -> None:
    for node in order:
        outs = grads.pop(id(node), None)
        if outs is None:  # no gradient reached this node (an input's backward gave None)
            if counts is not None:
                counts.done(node.parents)
            if not retain_graph:
                node.free()
            continue
        if node.n_outputs > 1 and any(o is None for o in outs):
            outs = _fill_missing(node, outs)
        in_grads = node.fn.backward(node, *outs)
        if type(in_grads) is not tuple:
            in_grads = (in_grads,)
        fresh = node.fn.fresh_grads
        for k, (parent, g) in enumerate(zip(node.parents, in_grads)):
            if parent is None or g is None:
                continue
            pd = parent.data
            if g.shape != pd.shape:
                raise RuntimeError(
                    f"{node.fn.__name__}.backward returned a gradient of shape {g.shape} "
                    f"for an input of shape {pd.shape}"
                )
            gd, dd = g.dtype, pd.dtype
            if gd is not dd and gd != dd:  # float32 (op) float64: each input gets its dtype
                g = _cast(g, dd)
            pctx = parent._ctx
            if pctx is None:
                _accumulate_leaf(parent, g, fresh is True or (fresh and fresh[k]))
                if counts is not None:
                    counts.got.add(id(parent))
                continue
            if parent._retain_grad:
                _accumulate_leaf(parent, g)
            key = id(pctx)
            slot = grads.get(key)
            if slot is None:
                slot = grads[key] = [None] * pctx.n_outputs
            i = parent._out_index
            slot[i] = g if slot[i] is None else slot[i] + g
        if counts is not None:
            counts.done(node.parents)
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
    xp = array_module(next(o for o in outs if o is not None))
    # an integer or bool output (cummax's indices, pooling's argmax) has no gradient: None,
    # not a zero array as large as the output for backward to ignore
    return [
        xp.zeros(s, d) if o is None and d.kind == "f" else o
        for o, s, d in zip(outs, shapes, dtypes)
    ]


def _cast(g: Any, dt: Any) -> Any:
    """g in dtype dt (a new array); beyond float16's range is inf, without NumPy's warning."""
    if dt != _F16:
        return g.astype(dt)
    with np.errstate(over="ignore"):
        return g.astype(dt)


def _accumulate_leaf(t: Any, g: Any, fresh: bool = False) -> None:
    if g.dtype != t.dtype:
        g = _cast(g, t.dtype)
    if t.grad is None:
        # own the buffer: g may alias an array another node still holds (or be a read-only
        # broadcast view), and the optimizer updates .grad in place; a fresh one is already
        # ours ([Note: fresh gradients])
        own = fresh and g.flags.c_contiguous and g.flags.writeable
        t.grad = _Tensor._wrap(g if own else g.copy())
    else:
        t.grad.data += g
