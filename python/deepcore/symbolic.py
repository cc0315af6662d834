"""The functional API's symbolic graph: placeholders (``KerasTensor``), the record of one layer
call on them (``Node``), and ``symbolic_call``, what ``Module.__call__`` does when it is given
placeholders instead of tensors.

Calling a layer on :class:`KerasTensor` placeholders computes nothing: it builds the layer for the
placeholder's shape, infers the output shape (``compute_output_shape``, which layers may answer
with a dry run) and records a :class:`Node` (layer, input placeholders, output placeholders).
``deepcore.models.Model(inputs, outputs)`` walks the nodes back from the outputs (``toposort``)
and runs them in that order on real tensors. This module sits below the layers (nn/module.py
imports it) and knows layers only by the methods it calls, so nn never imports models.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .autograd import no_grad
from .tensor import Tensor

__all__ = ["KerasTensor", "Node", "is_symbolic", "symbolic_call", "toposort"]


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
        self.dtype = np.dtype(dtype).name
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


class Node:
    """One call of a layer in a graph: ``outputs = layer(*args)`` with placeholders in args."""

    def __init__(self, layer: Any, args: list, kwargs: dict, outputs: list[KerasTensor]) -> None:
        self.layer = layer
        self.args = args  # positional call arguments; KerasTensors nested in lists allowed
        self.kwargs = kwargs
        self.outputs = outputs

    @property
    def inbound(self) -> list[KerasTensor]:
        return [t for t in _flatten(self.args) if isinstance(t, KerasTensor)]

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
    kwargs = {k: v for k, v in kwargs.items() if k != "training"}
    if any(is_symbolic(v) for v in kwargs.values()):
        raise NotImplementedError("placeholders are supported as positional layer arguments only")
    x = args[0]
    shape = _map(x, lambda t: t.shape if isinstance(t, KerasTensor) else t)
    if isinstance(shape, tuple) and not isinstance(x, KerasTensor):
        shape = list(shape)
    shape = layer._notional_shape_any(shape) if hasattr(layer, "_notional_shape_any") else shape
    try:
        layer._maybe_build(shape)
        if len(args) > 1 or kwargs:
            out_shape = _dry_run_shape(layer, args, kwargs)
        else:
            out_shape = layer.compute_output_shape(shape)
    except (ValueError, TypeError) as e:
        raise type(e)(
            f"layer '{layer.name}' ({type(layer).__name__}) cannot take input of shape {shape}: {e}"
        ) from e
    # a layer computes in its own dtype (Module.__call__ converts its input to it), so an
    # Embedding of integer ids gives float32 placeholders, as it gives float32 Tensors
    dtype = getattr(layer, "_np_dtype", None) or next(
        t.dtype for t in _flatten(x) if isinstance(t, KerasTensor)
    )
    multi = isinstance(out_shape, list) and (
        not out_shape or isinstance(out_shape[0], (tuple, list))
    )
    shapes = out_shape if multi else [out_shape]
    outputs = [
        KerasTensor(s, dtype, index=i, name=f"{layer.name}/{i}") for i, s in enumerate(shapes)
    ]
    node = Node(layer, list(args), kwargs, outputs)
    for t in outputs:
        t.node = node
    return outputs if multi else outputs[0]


def _dry_run_shape(layer: Any, args: tuple, kwargs: dict) -> Any:
    """Output shape by running the layer on zeros with batch 1 (several positional inputs)."""

    def zeros(t: Any) -> Any:
        if not isinstance(t, KerasTensor):
            return t
        if any(d is None for d in t.shape[1:]):
            raise ValueError(f"cannot infer shapes through unknown sizes {t.shape}")
        return Tensor(np.zeros((1, *t.shape[1:]), t.dtype))

    with no_grad():
        out = layer(*[_map(a, zeros) for a in args], training=False, **kwargs)
    if isinstance(out, (list, tuple)):
        return [(None, *o.shape[1:]) for o in out]
    return (None, *out.shape[1:])


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
