"""Merge layers for residual and Inception-style graphs: Add, Subtract, Multiply, Average,
Maximum, Minimum, Concatenate, Dot. They take a list of Tensors: ``Add()([a, b])``; Keras's
lowercase helpers (``add([a, b])``, ``concatenate([a, b], axis=1)``, ``dot([a, b], axes=1)``)
make the layer and call it in one go."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ... import ops
from ..._checks import is_int
from ...tensor import Tensor
from ..module import Module

__all__ = [
    "Add",
    "Subtract",
    "Multiply",
    "Average",
    "Maximum",
    "Minimum",
    "Concatenate",
    "Dot",
    "add",
    "subtract",
    "multiply",
    "average",
    "maximum",
    "minimum",
    "concatenate",
    "dot",
]


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


class Dot(_Merge):
    """The dot product of two samples' tensors along ``axes`` (an int for both, or one axis
    per input; batch axis excluded), Keras's ``batch_dot``: (b, n) · (b, n) -> (b, 1);
    (b, n, k) · (b, m, k) with axes=2 -> (b, n, m). ``normalize=True`` L2-normalises both
    along the dot axes first, so the result is the cosine similarity."""

    _max_inputs = 2
    supports_masking = False

    def __init__(self, axes: int | Sequence[int], normalize: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if is_int(axes):
            self.axes: tuple[int, int] = (int(axes), int(axes))
        else:
            ax = tuple(int(a) for a in axes)
            if len(ax) != 2:
                raise ValueError(f"Dot: axes must be an int or a pair of ints, got {axes!r}")
            self.axes = (ax[0], ax[1])
        self.normalize = bool(normalize)

    def _resolved_axes(self, shapes: list[tuple]) -> tuple[int, int]:
        out = []
        for a, s in zip(self.axes, shapes):
            r = len(s)
            if r not in (2, 3):
                raise ValueError(
                    f"Dot '{self.name}' takes inputs of rank 2 or 3 (batch included), got shapes "
                    f"{shapes}"
                )
            a = a + r if a < 0 else a
            if not 1 <= a < r:
                raise ValueError(f"Dot '{self.name}': axes {self.axes} out of range for {shapes}")
            out.append(a)
        return out[0], out[1]

    def _merged_shape(self, shapes: list[tuple]) -> tuple:
        ax, ay = self._resolved_axes(shapes)
        sx, sy = shapes
        if sx[ax] is not None and sy[ay] is not None and sx[ax] != sy[ay]:
            raise ValueError(
                f"Dot '{self.name}': the dot axes differ in size: {sx} axis {ax} vs {sy} axis {ay}"
            )
        rest = [d for i, d in enumerate(sx) if i not in (0, ax)]
        rest += [d for i, d in enumerate(sy) if i not in (0, ay)]
        return (sx[0], *rest) if rest else (sx[0], 1)

    def _merge(self, xs: list[Tensor]) -> Tensor:
        x, y = xs
        ax, ay = self._resolved_axes([tuple(x.shape), tuple(y.shape)])
        if self.normalize:
            x = x / ops.maximum(ops.sqrt((x * x).sum(axis=ax, keepdims=True)), 1e-12)
            y = y / ops.maximum(ops.sqrt((y * y).sum(axis=ay, keepdims=True)), 1e-12)
        # x as (b, n, k) with the dot axis last, y as (b, k, m) with it second: one batched GEMM
        if x.ndim == 2:
            x3 = x.unsqueeze(1)
        else:
            x3 = x if ax == 2 else x.permute(0, 2, 1)
        if y.ndim == 2:
            y3 = y.unsqueeze(2)
        else:
            y3 = y if ay == 1 else y.permute(0, 2, 1)
        z = x3 @ y3  # (b, n, m)
        if x.ndim == 2 and y.ndim == 2:
            return z.reshape(z.shape[0], 1)
        if x.ndim == 2:
            return z.squeeze(1)
        if y.ndim == 2:
            return z.squeeze(2)
        return z

    def get_config(self) -> dict:
        return {**super().get_config(), "axes": list(self.axes), "normalize": self.normalize}


def _merge_fn(cls: type, doc: str) -> Any:
    def fn(inputs: list, **kwargs: Any) -> Any:
        return cls(**kwargs)(inputs)

    fn.__name__ = fn.__qualname__ = cls.__name__.lower()
    fn.__doc__ = doc
    return fn


add = _merge_fn(Add, "``Add(**kwargs)(inputs)``: the element-wise sum of the inputs.")
subtract = _merge_fn(Subtract, "``Subtract(**kwargs)(inputs)``: inputs[0] - inputs[1].")
multiply = _merge_fn(Multiply, "``Multiply(**kwargs)(inputs)``: the element-wise product.")
average = _merge_fn(Average, "``Average(**kwargs)(inputs)``: the element-wise mean.")
maximum = _merge_fn(Maximum, "``Maximum(**kwargs)(inputs)``: the element-wise maximum.")
minimum = _merge_fn(Minimum, "``Minimum(**kwargs)(inputs)``: the element-wise minimum.")


def concatenate(inputs: list, axis: int = -1, **kwargs: Any) -> Any:
    """``Concatenate(axis, **kwargs)(inputs)``."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs: list, axes: int | Sequence[int], normalize: bool = False, **kwargs: Any) -> Any:
    """``Dot(axes, normalize, **kwargs)(inputs)``."""
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)
