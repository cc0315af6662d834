"""The functional API's symbolic graph: placeholders (``KerasTensor``), the record of one layer
call on them (``Node``), and ``symbolic_call``, what ``Module.__call__`` does when it is given
placeholders instead of tensors.

Calling a layer on :class:`KerasTensor` placeholders computes nothing: it builds the layer for the
placeholder's shape, infers the output shape (``compute_output_shape``, which layers may answer
with a dry run) and records a :class:`Node` (layer, input placeholders, output placeholders).
``deepcore.models.Model(inputs, outputs)`` walks the nodes back from the outputs (``toposort``)
and runs them in that order on real tensors. This module sits below the layers (nn/module.py
imports it) and knows layers only by the methods it calls, so nn never imports models.

Placeholders may also be keyword arguments of a layer call (``lstm(x, initial_state=[h, c])``,
``mha(query=q, value=v)``), and they support arithmetic and indexing (``x + inputs``,
``x * 2``, ``x[:, -1]``): each such expression is recorded as a call of an ``OpLambda`` layer
(nn/layers/core.py, which registers itself here as ``_op_layer``) that applies the operation
by name, so the graph saves and reloads. ``symbolic_op(name, *args, **kwargs)`` records any
``deepcore.ops`` function the same way, and every ``deepcore.ops`` function calls it when given
placeholders (``y = ops.maximum(ops.matmul(x, w), 0)`` on ``x = Input((8,))``): see
[Note: ops on placeholders]. Tensors and arrays among the arguments (``w`` above) are constants
of the graph: kept by reference in memory (the same Tensor), saved by value.

[Note: ops on placeholders] ``route_symbolic`` wraps each function of the ``deepcore.ops``
namespace (deepcore/ops/__init__.py) in a function whose fast path is one ``isinstance`` of the
first argument: a Tensor there goes straight to the op. Only calls whose first argument is
something else (a number, a list, a placeholder) look through the arguments for placeholders
and, finding one, record the call as a node instead of computing. That wrapper costs one
Python call, about 0.15 us (6-8 % of a 2 us op on a 2-element tensor, measured on a loaded
machine), so only ``deepcore.ops`` (Keras's audience, whose graphs need it) has it: Tensor
methods and operators (a method's ``self`` is never a placeholder) and ``deepcore.<name>``
(PyTorch's audience) use the functions as defined (``ops.raw``).

A layer remembers the nodes of its calls (``layer._inbound_nodes``), so ``layer.input`` /
``layer.output`` are the placeholders of its first call, as in Keras.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from .autograd import no_grad
from .tensor import Tensor

__all__ = [
    "KerasTensor",
    "Node",
    "is_string_dtype",
    "is_symbolic",
    "route_symbolic",
    "symbolic_call",
    "symbolic_op",
    "toposort",
]

#: the layer class that records operations on placeholders (set by deepcore.nn.layers.core)
_op_layer: Any = None


def is_string_dtype(dtype: Any) -> bool:
    """Keras's "string" dtype (also ``str``, and NumPy's object, str and bytes dtypes).

    [Note: string inputs] A model may take text: ``Input(shape=(1,), dtype="string")`` feeding
    TextVectorization, StringLookup or Hashing, as in Keras's end-to-end text models. Strings
    are never Tensors (Tensors hold numbers): a string input carries the NumPy array it was
    given (``dtype=object`` or ``str``) from the data adapter to those layers, which take raw
    arrays; every other layer refuses it. The placeholder's dtype is "string"."""
    if isinstance(dtype, str):
        return dtype in ("string", "str")
    if dtype is str or dtype is bytes or dtype is object:
        return True
    return isinstance(dtype, np.dtype) and dtype.kind in "OUS"


class KerasTensor:
    """A symbolic tensor: a shape (batch dim None), a dtype and the node that produces it."""

    def __init__(
        self,
        shape: Sequence[int | None],
        dtype: Any = "float32",
        node: Node | None = None,
        index: int = 0,
        name: str | None = None,
    ) -> None:
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = "string" if is_string_dtype(dtype) else np.dtype(dtype).name
        self.node = node
        self.index = index
        self.name = name

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            "a KerasTensor is a symbolic placeholder of the functional API: it has no values. "
            "Build a Model(inputs, outputs) and call it on data"
        )

    __array_ufunc__ = None  # ndarray (op) KerasTensor: NumPy defers to the reflected operator

    def __iter__(self) -> Any:  # not by __getitem__ (it would record ops forever)
        raise TypeError("a KerasTensor is not iterable: index it (x[:, 0]) or split it with ops")

    @property
    def _keras_mask(self) -> KerasTensor | None:
        """Keras's symbolic mask of this placeholder (``x._keras_mask`` in the masking guide):
        a boolean KerasTensor when the layers that produce it make or pass on a mask, else
        None. Found by running the graph's ``compute_mask`` rules on zeros of batch 1 (see
        [Note: dry runs]); the model itself hands masks over at run time (nn/masking.py)."""
        unknown = _has_unknown(self.shape)
        masks = [_mask_of(self, k) for k in (_STAND_INS if unknown else _STAND_INS[:1])]
        if masks[0] is None:
            return None
        shape = _merge([tuple(np.shape(_host(m))) for m in masks], None)
        return KerasTensor(shape, "bool", name=f"{self.name}/mask")


def _op(name: str, reflected: bool = False) -> Any:
    def method(self: KerasTensor, *args: Any) -> Any:
        if reflected:
            return symbolic_op(name, args[0], self)
        return symbolic_op(name, self, *args)

    method.__name__ = f"__{'r' if reflected else ''}{name}__"
    return method


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul"):
    setattr(KerasTensor, f"__{_name}__", _op(_name))
    setattr(KerasTensor, f"__r{_name}__", _op(_name, reflected=True))
for _name in ("neg", "pos", "abs", "getitem", "lt", "le", "gt", "ge"):
    setattr(KerasTensor, f"__{_name}__", _op(_name))
del _name


def symbolic_op(name: str, *args: Any, **kwargs: Any) -> Any:
    """Record ``name(*args, **kwargs)`` on placeholders (an operator such as "add" or
    "getitem", or a ``deepcore.ops`` function name) as a node of the graph; returns the output
    placeholder(s). The arguments other than placeholders must be JSON-able constants (numbers,
    strings, None, lists, tuples, slices) so the graph can be saved."""
    if _op_layer is None:  # pragma: no cover - deepcore.nn sets it on import
        raise RuntimeError("deepcore.nn is not imported")
    tensors: list[KerasTensor] = []

    def encode(v: Any) -> Any:
        if isinstance(v, KerasTensor):
            tensors.append(v)
            return {"__tensor__": len(tensors) - 1}
        if isinstance(v, slice):
            return {"__slice__": [encode(v.start), encode(v.stop), encode(v.step)]}
        if v is Ellipsis:
            return {"__ellipsis__": True}
        if isinstance(v, tuple):
            return {"__tuple__": [encode(u) for u in v]}
        if isinstance(v, list):
            return [encode(u) for u in v]
        if isinstance(v, dict):
            return {"__dict__": {str(k): encode(u) for k, u in v.items()}}
        if isinstance(v, (np.integer, np.floating, np.bool_)):
            return v.item()
        if isinstance(v, Tensor):
            return {"__const__": v}
        if isinstance(v, np.ndarray) and v.dtype.kind in "fiub":
            return {"__const__": Tensor(v)}
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        raise TypeError(
            f"{name} on a KerasTensor: argument {v!r} of type {type(v).__name__} cannot be "
            "recorded in a graph (use numbers, strings, lists, tuples, slices, arrays, Tensors "
            "or KerasTensors)"
        )

    layer = _op_layer(name, [encode(a) for a in args], {k: encode(v) for k, v in kwargs.items()})
    return layer(tensors)


def decode_op_args(template: Any, tensors: Sequence[Any]) -> Any:
    """The inverse of ``symbolic_op``'s encoding, with real tensors in the placeholders' places."""
    if isinstance(template, list):
        return [decode_op_args(v, tensors) for v in template]
    if isinstance(template, dict):
        if "__tensor__" in template:
            return tensors[template["__tensor__"]]
        if "__slice__" in template:
            return slice(*(decode_op_args(v, tensors) for v in template["__slice__"]))
        if "__ellipsis__" in template:
            return Ellipsis
        if "__tuple__" in template:
            return tuple(decode_op_args(v, tensors) for v in template["__tuple__"])
        if "__dict__" in template:
            return {k: decode_op_args(v, tensors) for k, v in template["__dict__"].items()}
        if "__const__" in template:
            c = template["__const__"]
            return c if isinstance(c, Tensor) else _const_from_json(c)
    return template


_CONST_DTYPES = ("float32", "float64", "int32", "int64", "uint8", "int8", "bool")


def op_args_to_json(template: Any) -> Any:
    """``symbolic_op``'s encoding with the constant Tensors as JSON (values, dtype, shape)."""
    if isinstance(template, list):
        return [op_args_to_json(v) for v in template]
    if isinstance(template, dict):
        c = template.get("__const__")
        if isinstance(c, Tensor):
            arr = np.asarray(c.detach().numpy())
            return {
                "__const__": {
                    "data": arr.tolist(),
                    "dtype": arr.dtype.name,
                    "shape": list(arr.shape),
                }
            }
        return {k: op_args_to_json(v) for k, v in template.items()}
    return template


def op_args_from_json(template: Any) -> Any:
    """The inverse of ``op_args_to_json``: saved constants checked and made Tensors (once, when
    the graph is loaded)."""
    if isinstance(template, list):
        return [op_args_from_json(v) for v in template]
    if isinstance(template, dict):
        c = template.get("__const__")
        if c is not None and not isinstance(c, Tensor):
            return {"__const__": _const_from_json(c)}
        return {k: op_args_from_json(v) for k, v in template.items()}
    return template


def _const_from_json(c: Any) -> Tensor:
    """A constant saved by ``op_args_to_json``, checked (a model file may be crafted)."""
    if not isinstance(c, dict) or c.get("dtype") not in _CONST_DTYPES:
        raise ValueError(
            f"a graph constant must be {{data, dtype, shape}} with dtype in {_CONST_DTYPES}"
        )
    shape = c.get("shape")
    if not isinstance(shape, (list, tuple)) or not all(
        isinstance(n, int) and n >= 0 for n in shape
    ):
        raise ValueError(f"a graph constant has a bad shape {shape!r}")
    try:
        arr = np.asarray(c.get("data"), dtype=c["dtype"])
    except (TypeError, ValueError) as e:
        raise ValueError(f"a graph constant has bad data: {e}") from None
    if arr.shape != tuple(shape):
        raise ValueError(
            f"a graph constant's data has shape {arr.shape}, its config says {tuple(shape)}"
        )
    return Tensor(arr)


def _has_placeholder(values: Any) -> bool:
    for v in values:
        if isinstance(v, KerasTensor) or (isinstance(v, (list, tuple)) and _has_placeholder(v)):
            return True
    return False


def route_symbolic(fn: Any, name: str) -> Any:
    """``fn`` (the ``deepcore.ops`` function ``name``) recording a graph node when given
    placeholders ([Note: ops on placeholders])."""

    def op(*args: Any, **kwargs: Any) -> Any:
        if args and isinstance(args[0], Tensor):  # the eager fast path
            return fn(*args, **kwargs)
        if _has_placeholder(args) or _has_placeholder(kwargs.values()):
            return symbolic_op(name, *args, **kwargs)
        return fn(*args, **kwargs)

    functools.update_wrapper(op, fn)
    return op


class Node:
    """One call of a layer in a graph: ``outputs = layer(*args, **kwargs)`` with placeholders
    in args and kwargs (nested in lists too)."""

    def __init__(self, layer: Any, args: list, kwargs: dict, outputs: list[KerasTensor]) -> None:
        self.layer = layer
        self.args = args  # positional call arguments; KerasTensors nested in lists allowed
        self.kwargs = kwargs
        self.outputs = outputs

    @property
    def inbound(self) -> list[KerasTensor]:
        flat = _flatten(self.args) + _flatten(list(self.kwargs.values()))
        return [t for t in flat if isinstance(t, KerasTensor)]

    @property
    def input_tensors(self) -> Any:
        """The placeholder(s) of the call's first argument (Keras's node input)."""
        if self.args:
            return self.args[0]
        first = next((v for v in self.kwargs.values() if is_symbolic(v)), None)
        return first

    @property
    def is_input(self) -> bool:
        """Is this the node of a model input (the layer an ``InputLayer``)?"""
        return getattr(self.layer, "is_input_layer", False)


def _flatten(x: Any) -> list:
    if isinstance(x, (list, tuple)):
        out = []
        for v in x:
            out.extend(_flatten(v))
        return out
    return [x]


def _map(x: Any, fn: Any) -> Any:
    if isinstance(x, list):
        return [_map(v, fn) for v in x]
    if isinstance(x, tuple):
        return tuple(_map(v, fn) for v in x)
    return fn(x)


def is_symbolic(x: Any) -> bool:
    if isinstance(x, KerasTensor):
        return True
    return isinstance(x, (list, tuple)) and any(is_symbolic(v) for v in x)


def symbolic_call(layer: Any, args: tuple, kwargs: dict) -> Any:
    """``layer(placeholders)``: build the layer, infer its output shape, record a Node."""
    node_kwargs = kwargs  # an explicit training= stays with the node (replayed on data)
    kwargs = {k: v for k, v in kwargs.items() if k != "training"}
    if args:
        x = args[0]
    else:  # keyword arguments only: the first placeholder stands for the input
        x = next(v for v in kwargs.values() if is_symbolic(v))
    shape = _map(x, lambda t: t.shape if isinstance(t, KerasTensor) else t)
    if isinstance(shape, tuple) and not isinstance(x, KerasTensor):
        shape = list(shape)
    try:
        layer._maybe_build(shape)
        out_dtypes = None
        if (
            len(args) > 1
            or kwargs
            or getattr(layer, "_is_operation", False)
            or (  # a custom layer that reads the mask in call: run it with the mask
                getattr(layer, "_call_takes_mask", False)
                and type(layer).compute_output_shape.__qualname__ == "Module.compute_output_shape"
            )
        ):
            # an operation runs on zeros of its placeholders' dtypes and gives its own
            # (argsort's int64 indices, a comparison's bools)
            out_shape, out_dtypes = _dry_run(layer, args, kwargs)
        else:
            out_shape = layer.compute_output_shape(shape)
    except (ValueError, TypeError) as e:
        raise type(e)(
            f"layer '{layer.name}' ({type(layer).__name__}) cannot take input of shape {shape}: {e}"
        ) from e
    # a layer computes in its own dtype (Module.__call__ converts its input to it), so an
    # Embedding of integer ids gives float32 placeholders, as it gives float32 Tensors
    # (a preprocessing layer says what it gives: TextVectorization's int64 ids from strings)
    dtype = (
        getattr(layer, "_output_dtype", None)
        or getattr(layer, "_np_dtype", None)
        or next(t.dtype for t in _flatten(x) if isinstance(t, KerasTensor))
    )
    multi = isinstance(out_shape, list) and (
        not out_shape or isinstance(out_shape[0], (tuple, list))
    )
    shapes = out_shape if multi else [out_shape]
    if getattr(layer, "_is_operation", False) and out_dtypes:
        dtypes = out_dtypes
    else:
        dtypes = [dtype] * len(shapes)
    outputs = [
        KerasTensor(s, d, index=i, name=f"{layer.name}/{i}")
        for i, (s, d) in enumerate(zip(shapes, dtypes))
    ]
    node = Node(layer, list(args), node_kwargs, outputs)
    for t in outputs:
        t.node = node
    nodes = layer.__dict__.get("_inbound_nodes")
    if nodes is None:
        nodes = []
        object.__setattr__(layer, "_inbound_nodes", nodes)
    nodes.append(node)
    return outputs if multi else outputs[0]


# [Note: dry runs] A layer without a shape formula (a custom layer, an operation on
# placeholders) gets its output shape by running it on zeros with batch 1 in inference mode.
# Unknown non-batch sizes (a sequence of any length: ``Input(shape=(None,))``) are stood in
# for twice, by two different sizes; an output size that differs between the two runs is
# unknown (None), one that does not is fixed. A layer that cannot run on a stand-in raises
# as before, naming the unknown sizes.
_STAND_INS = (16, 23)


def _has_unknown(shape: Any) -> bool:
    if isinstance(shape, list):
        return any(_has_unknown(s) for s in shape)
    return any(d is None for d in shape[1:])


def _runs(run: Any, unknown: bool) -> list:
    """``run(stand_in)`` once (every size known) or once per stand-in."""
    return [run(k) for k in (_STAND_INS if unknown else _STAND_INS[:1])]


def _merge(shapes: list[tuple], batch: Any) -> tuple:
    """One output shape from the runs' shapes: sizes that moved with the stand-in are None."""
    first = shapes[0]
    if any(len(s) != len(first) for s in shapes):
        raise ValueError("the output rank depends on an unknown input size")
    return (
        batch,
        *(d if all(s[i] == d for s in shapes) else None for i, d in enumerate(first) if i > 0),
    )


def _zeros_like_placeholders(x: Any, k: int) -> Any:
    """Zeros of batch 1 for the placeholders in ``x`` (unknown sizes stood in for by ``k``)."""

    def zeros(t: Any) -> Any:
        if not isinstance(t, KerasTensor):
            return t
        shape = (1, *(k if d is None else d for d in t.shape[1:]))
        return Tensor(np.zeros(shape, t.dtype))

    return _map(x, zeros)


def _host(m: Any) -> Any:
    return m.data if isinstance(m, Tensor) else m


def _mask_of(t: KerasTensor, k: int) -> Any:
    """The mask a run of the graph on zeros (unknown sizes = ``k``) gives placeholder ``t``."""
    node = t.node
    if node is None or node.is_input:
        return None
    layer = node.layer
    first = node.input_tensors
    mask = _map(first, lambda u: _mask_of(u, k) if isinstance(u, KerasTensor) else None)
    live = any(m is not None for m in _flatten(mask))
    with no_grad(), np.errstate(all="ignore"):  # zeros may divide by zero
        x = _zeros_like_placeholders(first, k)
        if getattr(layer, "_returns_masks", False):  # a nested model
            _, m = layer(x, mask=mask if live else None, return_masks=True, training=False)
        elif getattr(layer, "supports_masking", False):
            m = layer.compute_mask(x, mask if live else None)
        else:
            return None
    if isinstance(m, (list, tuple)):
        return m[t.index] if t.index < len(m) else None
    return m


def _dry_run(layer: Any, args: tuple, kwargs: dict) -> tuple[Any, list]:
    """Output shape(s) and dtypes by running the layer on zeros with batch 1 (several
    positional inputs, keyword tensors, operations); see [Note: dry runs]."""
    unknown = any(
        isinstance(t, KerasTensor) and _has_unknown(t.shape)
        for t in _flatten([*args, *kwargs.values()])
    )

    def run(k: int) -> Any:
        extra = {}
        if getattr(layer, "_call_takes_mask", False) and args and "mask" not in kwargs:
            mask = _map(args[0], lambda u: _mask_of(u, k) if isinstance(u, KerasTensor) else None)
            if any(m is not None for m in _flatten(mask)):
                extra["mask"] = mask  # the mask the model will hand over at run time
        with no_grad(), np.errstate(all="ignore"):  # zeros may divide by zero
            return layer(
                *[_zeros_like_placeholders(a, k) for a in args],
                training=False,
                **{kk: _zeros_like_placeholders(v, k) for kk, v in kwargs.items()},
                **extra,
            )

    outs = _runs(run, unknown)
    if isinstance(outs[0], (list, tuple)):
        shapes = [_merge([tuple(o[i].shape) for o in outs], None) for i in range(len(outs[0]))]
        return shapes, [o.dtype for o in outs[0]]
    return _merge([tuple(o.shape) for o in outs], None), [outs[0].dtype]


def shape_by_dry_run(layer: Any, input_shape: Any) -> Any:
    """``Module.compute_output_shape``'s default: the output shape for ``input_shape`` (one
    shape or a list) from running ``layer`` on zeros with batch 1 in inference mode; see
    [Note: dry runs]."""

    def run(k: int) -> Any:
        def batch1(s: Any) -> Any:
            if isinstance(s, list):
                return [batch1(v) for v in s]
            return Tensor(np.zeros((1, *(k if d is None else d for d in s[1:])), layer.dtype))

        with no_grad(), np.errstate(all="ignore"):  # zeros may divide by zero
            return layer(batch1(input_shape), training=False)

    try:
        outs = _runs(run, _has_unknown(input_shape))
    except (ValueError, TypeError) as e:
        if not _has_unknown(input_shape):
            raise
        raise ValueError(
            f"{type(layer).__name__} '{layer.name}': cannot infer the output shape for "
            f"{input_shape} with unknown non-batch sizes ({e})"
        ) from e
    input_batch = input_shape[0][0] if isinstance(input_shape, list) else input_shape[0]

    def merge(os: list) -> Any:
        if isinstance(os[0], (list, tuple)):
            return [merge([o[i] for o in os]) for i in range(len(os[0]))]
        return _merge([tuple(o.shape) for o in os], input_batch)

    return merge(outs)


def toposort(outputs: list[KerasTensor]) -> list[Node]:
    """The nodes that produce ``outputs``, each after the nodes it takes inputs from."""
    order: list[Node] = []
    state: dict[int, int] = {}  # id(node) -> 1 visiting, 2 done
    for out in outputs:
        stack = [(out.node, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                state[id(node)] = 2
                order.append(node)
                continue
            if state.get(id(node)) == 2:
                continue
            if state.get(id(node)) == 1:
                raise ValueError("the layer graph has a cycle")
            state[id(node)] = 1
            stack.append((node, True))
            for t in reversed(node.inbound):
                if t.node is None:
                    raise ValueError(f"{t} was not produced by a layer or Input()")
                if state.get(id(t.node)) != 2:
                    stack.append((t.node, False))
    return order


class _NodeAttribute:
    """``layer.input`` / ``layer.output`` (Keras): the placeholders of the layer's first call
    on placeholders. A non-data descriptor, so a module may still assign
    an attribute of that name (PyTorch code's ``self.output = nn.Dense(...)``)."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self
        nodes = obj.__dict__.get("_inbound_nodes")
        if not nodes:
            raise AttributeError(
                f"layer '{obj.name}' has never been called on placeholders (Input() or a "
                f"built model's inputs), so it has no defined {self.what}"
            )
        node = nodes[0]
        if self.what == "output":
            return node.outputs[0] if len(node.outputs) == 1 else list(node.outputs)
        return node.input_tensors


def _with_training(kwargs: dict, training: bool | None) -> dict:
    """A graph node keeps an explicit ``training=`` of its call (Keras's
    ``base_model(x, training=False)`` keeps the base in inference mode during fit)."""
    return kwargs if training is None else {**kwargs, "training": bool(training)}
