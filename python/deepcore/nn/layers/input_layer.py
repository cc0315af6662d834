"""InputLayer and ``Input()``: the placeholders a functional model starts from (Keras's
``keras.Input`` / ``keras.layers.InputLayer``; also ``deepcore.models.Input``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..._checks import is_int
from ...symbolic import KerasTensor, Node, is_string_dtype
from ..module import Module

__all__ = ["Input", "InputLayer"]


class InputLayer(Module):
    """The source of an ``Input()`` placeholder: no weights; listed first in a functional
    model's ``layers`` as in Keras; calling it on a tensor returns the tensor."""

    is_input_layer = True  # what Node.is_input looks for

    def __init__(
        self,
        shape: Sequence[int | None] | None = None,
        batch_size: int | None = None,
        dtype: Any = None,
        batch_shape: Sequence[int | None] | None = None,
        name: str | None = None,
        sparse: bool | None = None,
        **kwargs: Any,
    ) -> None:
        if sparse:
            raise NotImplementedError("sparse inputs are not supported")
        string = is_string_dtype(dtype)
        # an Input is float32 unless told (Keras: floatx, whatever the global dtype policy)
        super().__init__(name=name, dtype=None if string else (dtype or "float32"), **kwargs)
        if string:  # [Note: string inputs] in symbolic.py
            self.dtype, self._np_dtype = "string", np.dtype(object)
        if batch_shape is None:
            if shape is None:
                raise ValueError("Input() needs shape= (the shape of one sample, e.g. (28, 28, 1))")
            if isinstance(shape, (int, np.integer)):
                shape = (int(shape),)
            batch_shape = (batch_size, *shape)
        batch_shape = tuple(batch_shape)
        for d in batch_shape:
            if d is not None and (not is_int(d) or d < 0):
                raise ValueError(
                    f"Input shape must hold non-negative ints or None, got {tuple(batch_shape)}"
                )
        self.batch_shape = tuple(None if d is None else int(d) for d in batch_shape)
        tensor = KerasTensor(self.batch_shape, self.dtype, node=None, name=self.name)
        tensor.node = Node(self, [], {}, [tensor])
        object.__setattr__(self, "_inbound_nodes", [tensor.node])
        self.built = True

    @property
    def input(self) -> KerasTensor:  # Keras: an InputLayer's input is its output
        return self.output

    def call(self, x: Any) -> Any:
        return x

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict:
        return {"batch_shape": list(self.batch_shape), "dtype": self.dtype, "name": self.name}


def Input(  # noqa: N802 - Keras's name
    shape: Sequence[int | None] | None = None,
    batch_size: int | None = None,
    name: str | None = None,
    dtype: Any = None,
    batch_shape: Sequence[int | None] | None = None,
    sparse: bool | None = None,
) -> KerasTensor:
    """A placeholder for a model input of ``shape`` (without the batch dim)."""
    layer = InputLayer(shape, batch_size, dtype, batch_shape, name=name, sparse=sparse)
    return layer.output
