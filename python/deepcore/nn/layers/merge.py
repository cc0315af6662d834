"""Merge layers for residual and Inception-style graphs: Add, Subtract, Multiply, Average,
Maximum, Minimum, Concatenate. They take a list of Tensors: ``Add()([a, b])``."""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import ops
from ...tensor import Tensor
from ..module import Module

__all__ = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"]


def _mask_array(m: Any) -> np.ndarray:
    return np.asarray(m.data if isinstance(m, Tensor) else m, dtype=bool)


class _Merge(Module):
    _min_inputs = 2
    _max_inputs = None
    supports_masking = True

    def compute_mask(self, inputs: Any, mask: Any = None) -> Tensor | None:
        """Keras: a position is valid where every masked input is valid."""
        if mask is None or all(m is None for m in mask):
            return None
        ms = [_mask_array(m) for m in mask if m is not None]
        return Tensor(np.logical_and.reduce(np.broadcast_arrays(*ms)))

    def _check_shapes(self, shapes: Any) -> list[tuple]:
        cls = type(self).__name__
        if not isinstance(shapes, list) or not all(isinstance(s, tuple) for s in shapes):
            raise ValueError(f"{cls} '{self.name}' must be called on a list of tensors")
        n = len(shapes)
        if n < self._min_inputs or (self._max_inputs is not None and n > self._max_inputs):
            want = (
                f"exactly {self._min_inputs}" if self._max_inputs == self._min_inputs
                else f"at least {self._min_inputs}"
            )  # fmt: skip
            raise ValueError(f"{cls} '{self.name}' needs {want} inputs, got {n}")
        return shapes

    def build(self, input_shape: Any) -> None:
        shapes = self._check_shapes(input_shape)
        self._merged_shape(shapes)

    def _merged_shape(self, shapes: list[tuple]) -> tuple:
        """Elementwise merges: equal non-batch shapes (size-1 axes broadcast, as Keras)."""
        rank = len(shapes[0])
        if any(len(s) != rank for s in shapes):
            raise ValueError(
                f"{type(self).__name__} '{self.name}': inputs must have the same rank, got "
                f"shapes {shapes}"
            )
        out = list(shapes[0])
        for s in shapes[1:]:
            for i in range(1, rank):
                a, b = out[i], s[i]
                if a is None or b is None:
                    out[i] = a if b is None else b
                elif a == 1 or b == 1 or a == b:
                    out[i] = max(a, b)
                else:
                    raise ValueError(
                        f"{type(self).__name__} '{self.name}': inputs with incompatible shapes "
                        f"{shapes}"
                    )
        return tuple(out)

    def call(self, inputs: list) -> Tensor:
        shapes = self._check_shapes([tuple(x.shape) for x in inputs])
        self._merged_shape(shapes)
        return self._merge(list(inputs))

    def _merge(self, xs: list[Tensor]) -> Tensor:
        raise NotImplementedError

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return self._merged_shape(self._check_shapes(list(input_shape)))


class Add(_Merge):
    def _merge(self, xs: list[Tensor]) -> Tensor:
        y = xs[0]
        for x in xs[1:]:
            y = y + x
        return y


class Subtract(_Merge):
    _max_inputs = 2

    def _merge(self, xs: list[Tensor]) -> Tensor:
        return xs[0] - xs[1]


class Multiply(_Merge):
    def _merge(self, xs: list[Tensor]) -> Tensor:
        y = xs[0]
        for x in xs[1:]:
            y = y * x
        return y


class Average(_Merge):
    def _merge(self, xs: list[Tensor]) -> Tensor:
        y = xs[0]
        for x in xs[1:]:
            y = y + x
        return y * (1.0 / len(xs))


class Maximum(_Merge):
    def _merge(self, xs: list[Tensor]) -> Tensor:
        y = xs[0]
        for x in xs[1:]:
            y = ops.maximum(y, x)
        return y


class Minimum(_Merge):
    def _merge(self, xs: list[Tensor]) -> Tensor:
        y = xs[0]
        for x in xs[1:]:
            y = ops.minimum(y, x)
        return y


class Concatenate(_Merge):
    """Join along ``axis`` (default -1: channels of channels-last images)."""

    _min_inputs = 1

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = int(axis)

    def _merged_shape(self, shapes: list[tuple]) -> tuple:
        rank = len(shapes[0])
        ax = self.axis + rank if self.axis < 0 else self.axis
        bad = any(len(s) != rank for s in shapes) or not 1 <= ax < rank
        if not bad:
            for i in range(1, rank):
                if i == ax:
                    continue
                sizes = {s[i] for s in shapes if s[i] is not None}
                bad = bad or len(sizes) > 1
        if bad:
            raise ValueError(
                f"Concatenate '{self.name}' (axis={self.axis}) needs inputs that match except "
                f"along the concat axis (which must not be the batch axis), got shapes {shapes}"
            )
        out = list(shapes[0])
        sizes = [s[ax] for s in shapes]
        out[ax] = None if any(s is None for s in sizes) else sum(sizes)
        for i in range(1, rank):
            if i != ax and out[i] is None:
                out[i] = next((s[i] for s in shapes if s[i] is not None), None)
        return tuple(out)

    def _merge(self, xs: list[Tensor]) -> Tensor:
        if len(xs) == 1:
            return xs[0]
        return ops.concat(xs, axis=self.axis)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Tensor | None:
        """Keras 3: each input's mask (all-true for an unmasked input) widened to the input's
        shape, joined along ``axis``; a position is valid where any of its features is."""
        if mask is None or all(m is None for m in mask):
            return None
        if len(mask) != len(inputs):
            raise ValueError(
                f"Concatenate '{self.name}': {len(mask)} masks for {len(inputs)} inputs"
            )
        full = []
        for x, m in zip(inputs, mask):
            shape = tuple(x.shape)
            if m is None:
                full.append(np.ones(shape, bool))
                continue
            a = _mask_array(m)
            if a.ndim < len(shape):
                a = np.broadcast_to(a.reshape(a.shape + (1,) * (len(shape) - a.ndim)), shape)
            full.append(a)
        return Tensor(np.concatenate(full, axis=self.axis).any(axis=-1))

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}
