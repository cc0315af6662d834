"""Flatten, Reshape, Permute, RepeatVector, ZeroPadding1D/2D, and the zero/constant pad op they
share."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...autograd import Context, Function
from ...tensor import Tensor
from ..module import InputSpec, Module
from .layout import LayoutMixin, to_channels_last

__all__ = ["Flatten", "Reshape", "Permute", "RepeatVector", "ZeroPadding1D", "ZeroPadding2D", "pad"]


def _data_format(layer: str, value: str | None) -> str:
    value = "channels_last" if value is None else value
    if value not in ("channels_last", "channels_first"):
        raise ValueError(
            f"{layer}: data_format must be 'channels_last' or 'channels_first', got {value!r}"
        )
    return value


class _Pad(Function):
    """Constant padding by (before, after) per axis; the gradient is the interior slice."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, pads: tuple, value: float) -> np.ndarray:
        ctx.slices = tuple(slice(b, b + n) for (b, _), n in zip(pads, x.shape))
        return np.pad(x, pads, mode="constant", constant_values=value)

    @staticmethod
    def backward(ctx: Context, gy: np.ndarray) -> tuple:
        return np.ascontiguousarray(gy[ctx.slices]), None, None


def pad(x: Tensor, pads: Sequence[tuple[int, int]], value: float = 0.0) -> Tensor:
    """Pad every axis i by ``pads[i] = (before, after)`` elements equal to ``value``."""
    pads = tuple((int(b), int(a)) for b, a in pads)
    if len(pads) != x.ndim:
        raise ValueError(f"pad: need one (before, after) pair per axis ({x.ndim}), got {pads}")
    if any(b < 0 or a < 0 for b, a in pads):
        raise ValueError(f"pad: padding must be >= 0, got {pads}")
    if not any(b or a for b, a in pads):
        return x
    return _Pad.apply(x, pads, float(value))


class Flatten(LayoutMixin, Module):
    """(batch, ...) -> (batch, prod(...)). Like Keras, ``data_format="channels_first"`` input
    is flattened in channels-last order, so Dense weights match the other layout's model."""

    def __init__(self, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = _data_format("Flatten", data_format)

    def _layout_role(self) -> str | None:
        return "sink" if self._is_channels_last() else None

    def call(self, x: Tensor) -> Tensor:
        if x.ndim > 2 and (self.data_format == "channels_first" or self._nchw_in):
            x = to_channels_last(x)
        # the size explicitly: a batch of 0 samples has no size to infer a -1 from
        return x.reshape(x.shape[0], math.prod(x.shape[1:]))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        rest = input_shape[1:]
        n = None if any(s is None for s in rest) else math.prod(rest)
        return (input_shape[0], n)

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": self.data_format}


def _resolve_target(layer: Module, target: tuple, n: int, shape: tuple) -> tuple:
    unknown = [i for i, s in enumerate(target) if s == -1]
    known = math.prod(s for s in target if s != -1)
    if len(unknown) > 1:
        raise ValueError(f"Reshape '{layer.name}': at most one -1 in target_shape {target}")
    if unknown:
        if known == 0 or n % known:
            raise ValueError(
                f"Reshape '{layer.name}': cannot reshape input of shape {shape} to {target}"
            )
        target = tuple(n // known if s == -1 else s for s in target)
    if math.prod(target) != n:
        raise ValueError(
            f"Reshape '{layer.name}': input of shape {shape} has {n} values per sample, "
            f"target_shape {target} has {math.prod(target)}"
        )
    return target


class Reshape(Module):
    """Reshape each sample to ``target_shape`` (one entry may be -1)."""

    def __init__(self, target_shape: Sequence[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target_shape = tuple(int(s) for s in target_shape)
        if any(s == 0 or s < -1 for s in self.target_shape):
            raise ValueError(f"Reshape: invalid target_shape {self.target_shape}")

    def call(self, x: Tensor) -> Tensor:
        n = math.prod(x.shape[1:])
        target = _resolve_target(self, self.target_shape, n, tuple(x.shape))
        return x.reshape(x.shape[0], *target)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        rest = input_shape[1:]
        if any(s is None for s in rest):
            return (input_shape[0],) + tuple(None if s == -1 else s for s in self.target_shape)
        return (input_shape[0],) + _resolve_target(
            self, self.target_shape, math.prod(rest), tuple(input_shape)
        )

    def get_config(self) -> dict:
        return {**super().get_config(), "target_shape": list(self.target_shape)}


class Permute(Module):
    """Permute the non-batch axes; ``dims`` are 1-based as in Keras: Permute((2, 1))."""

    def __init__(self, dims: Sequence[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dims = tuple(int(d) for d in dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(f"Permute: dims must be a permutation of 1..n, got {self.dims}")
        self.input_spec = InputSpec(ndim=len(self.dims) + 1)

    def call(self, x: Tensor) -> Tensor:
        return x.permute(0, *self.dims)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def get_config(self) -> dict:
        return {**super().get_config(), "dims": list(self.dims)}


class RepeatVector(Module):
    """(batch, features) -> (batch, n, features): the input repeated n times (the encoder's
    summary fed to every decoder step of an encoder-decoder model)."""

    def __init__(self, n: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
            raise ValueError(f"RepeatVector: n must be a positive integer, got {n!r}")
        self.n = int(n)
        self.input_spec = InputSpec(ndim=2)

    def call(self, x: Tensor) -> Tensor:
        return x.unsqueeze(1).expand(x.shape[0], self.n, x.shape[1])

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0], self.n, input_shape[1])

    def get_config(self) -> dict:
        return {**super().get_config(), "n": self.n}


def _pad_pairs(layer: str, padding: Any, rank: int) -> tuple[tuple[int, int], ...]:
    """Keras's padding argument: int, (a, b) symmetric per axis, or ((t, b), (l, r))."""
    if isinstance(padding, (int, np.integer)):
        pairs: Any = [(int(padding), int(padding))] * rank
    else:
        padding = list(padding)
        if len(padding) != rank and not (rank == 1 and len(padding) == 2):
            raise ValueError(f"{layer}: padding must have {rank} entries, got {padding}")
        if (
            rank == 1
            and len(padding) == 2
            and all(isinstance(p, (int, np.integer)) for p in padding)
        ):
            pairs = [tuple(padding)]
        else:
            pairs = [
                (int(p), int(p)) if isinstance(p, (int, np.integer)) else tuple(int(v) for v in p)
                for p in padding
            ]
    if any(len(p) != 2 or p[0] < 0 or p[1] < 0 for p in pairs):
        raise ValueError(f"{layer}: padding must be non-negative, got {padding}")
    return tuple(pairs)


class _ZeroPadding(LayoutMixin, Module):
    _rank = 2

    def __init__(
        self, padding: int | Sequence[Any] = 1, data_format: str | None = None, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        name = type(self).__name__
        self.padding = _pad_pairs(name, padding, self._rank)
        self.data_format = _data_format(name, data_format)
        self.input_spec = InputSpec(ndim=self._rank + 2)

    def _layout_role(self) -> str | None:
        return "follower" if self._is_channels_last() else None

    def _spatial_axes(self, nchw: bool) -> range:
        return range(2, 2 + self._rank) if nchw else range(1, 1 + self._rank)

    def call(self, x: Tensor) -> Tensor:
        nchw = self.data_format == "channels_first" or self._nchw_in
        pads = [(0, 0)] * x.ndim
        for ax, p in zip(self._spatial_axes(nchw), self.padding):
            pads[ax] = p
        return pad(x, pads)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        out = list(input_shape)
        for ax, (b, a) in zip(
            self._spatial_axes(self.data_format == "channels_first"), self.padding
        ):
            out[ax] = None if out[ax] is None else out[ax] + b + a
        return tuple(out)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "padding": [list(p) for p in self.padding],
            "data_format": self.data_format,
        }


class ZeroPadding1D(_ZeroPadding):
    """Pad the time axis of (batch, steps, features) with zeros: ``padding=1 | (left, right)``."""

    _rank = 1

    def __init__(self, padding: int | Sequence[int] = 1, **kwargs: Any) -> None:
        super().__init__(padding, **kwargs)

    def _layout_role(self) -> str | None:
        return None


class ZeroPadding2D(_ZeroPadding):
    """Pad rows and columns of images with zeros: ``padding=1 | (h, w) | ((t, b), (l, r))``."""

    _rank = 2
