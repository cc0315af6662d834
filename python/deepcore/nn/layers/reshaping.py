"""Flatten, Reshape, Permute, RepeatVector, ZeroPadding1D/2D, Cropping1D/2D, UpSampling1D/2D,
and the zero/constant pad op they share."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..._checks import is_int, positive_int
from ...ops._shape import pad as _pad
from ...tensor import Tensor
from .. import functional as F
from ..module import InputSpec, Module
from .layout import LayoutMixin, to_channels_first, to_channels_last

__all__ = [
    "Flatten",
    "Reshape",
    "Permute",
    "RepeatVector",
    "ZeroPadding1D",
    "ZeroPadding2D",
    "ZeroPadding3D",
    "Cropping1D",
    "Cropping2D",
    "Cropping3D",
    "UpSampling1D",
    "UpSampling2D",
    "UpSampling3D",
    "pad",
]


def _data_format(layer: str, value: str | None) -> str:
    value = "channels_last" if value is None else value
    if value not in ("channels_last", "channels_first"):
        raise ValueError(
            f"{layer}: data_format must be 'channels_last' or 'channels_first', got {value!r}"
        )
    return value


def pad(x: Tensor, pads: Sequence[tuple[int, int]], value: float = 0.0) -> Tensor:
    """Pad every axis i by ``pads[i] = (before, after)`` elements equal to ``value``."""
    pads = tuple((int(b), int(a)) for b, a in pads)
    if len(pads) != x.ndim:
        raise ValueError(f"pad: need one (before, after) pair per axis ({x.ndim}), got {pads}")
    if any(b < 0 or a < 0 for b, a in pads):
        raise ValueError(f"pad: padding must be >= 0, got {pads}")
    if not any(b or a for b, a in pads):
        return x
    return _pad(x, pads, constant_values=value)


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
        self.n = positive_int("RepeatVector: n", n)
        self.input_spec = InputSpec(ndim=2)

    def call(self, x: Tensor) -> Tensor:
        return x.unsqueeze(1).expand(x.shape[0], self.n, x.shape[1])

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0], self.n, input_shape[1])

    def get_config(self) -> dict:
        return {**super().get_config(), "n": self.n}


def _pad_pairs(layer: str, padding: Any, rank: int) -> tuple[tuple[int, int], ...]:
    """Keras's padding (and cropping) argument: int, (a, b) symmetric per axis, or
    ((t, b), (l, r)); for rank 1, (left, right)."""
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


class _SpatialEdges(LayoutMixin, Module):
    """Shared by ZeroPadding and Cropping: a (before, after) pair per spatial axis, a
    data_format, and the channels-last plan's "follower" role (they work in either layout)."""

    _rank = 2

    def __init__(self, pairs: Any, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        name = type(self).__name__
        self._pairs = _pad_pairs(name, pairs, self._rank)
        self.data_format = _data_format(name, data_format)
        self.input_spec = InputSpec(ndim=self._rank + 2)

    def _layout_role(self) -> str | None:
        return "follower" if self._is_channels_last() and self._rank == 2 else None

    def _spatial_axes(self, nchw: bool) -> range:
        return range(2, 2 + self._rank) if nchw else range(1, 1 + self._rank)

    def _nchw(self) -> bool:
        return self.data_format == "channels_first" or self._nchw_in


class _ZeroPadding(_SpatialEdges):
    def __init__(
        self, padding: int | Sequence[Any] = 1, data_format: str | None = None, **kwargs
    ) -> None:
        super().__init__(padding, data_format, **kwargs)
        self.padding = self._pairs

    def call(self, x: Tensor) -> Tensor:
        pads = [(0, 0)] * x.ndim
        for ax, p in zip(self._spatial_axes(self._nchw()), self.padding):
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


class ZeroPadding2D(_ZeroPadding):
    """Pad rows and columns of images with zeros: ``padding=1 | (h, w) | ((t, b), (l, r))``."""

    _rank = 2


class ZeroPadding3D(_ZeroPadding):
    """Pad the three spatial axes of volumes with zeros: ``padding=1 | (d, h, w) |
    ((front, back), (top, bottom), (left, right))``."""

    _rank = 3


class _Cropping(_SpatialEdges):
    def __init__(self, cropping: Any, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(cropping, data_format, **kwargs)
        self.cropping = self._pairs

    def _check(self, spatial: Sequence[int | None]) -> None:
        for n, (b, a) in zip(spatial, self.cropping):
            if n is not None and b + a > n:
                raise ValueError(
                    f"{type(self).__name__} '{self.name}': cropping {self.cropping} removes more "
                    f"than the input's spatial size {tuple(spatial)}"
                )

    def call(self, x: Tensor) -> Tensor:
        axes = self._spatial_axes(self._nchw())
        self._check([x.shape[ax] for ax in axes])
        idx = [slice(None)] * x.ndim
        for ax, (b, a) in zip(axes, self.cropping):
            idx[ax] = slice(b, x.shape[ax] - a)
        return x[tuple(idx)]

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        out = list(input_shape)
        axes = self._spatial_axes(self.data_format == "channels_first")
        self._check([out[ax] for ax in axes])
        for ax, (b, a) in zip(axes, self.cropping):
            out[ax] = None if out[ax] is None else out[ax] - b - a
        return tuple(out)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "cropping": [list(p) for p in self.cropping],
            "data_format": self.data_format,
        }


class Cropping1D(_Cropping):
    """Crop the time axis of (batch, steps, features): ``cropping=(left, right)`` or one int
    for both ends."""

    _rank = 1

    def __init__(self, cropping: int | Sequence[int] = (1, 1), **kwargs: Any) -> None:
        super().__init__(cropping, **kwargs)

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg["cropping"] = list(self.cropping[0])
        return cfg


class Cropping2D(_Cropping):
    """Crop rows and columns of images: ``cropping=((top, bottom), (left, right))``, (h, w)
    symmetric, or one int for all four edges."""

    _rank = 2

    def __init__(self, cropping: Any = ((0, 0), (0, 0)), **kwargs: Any) -> None:
        super().__init__(cropping, **kwargs)


class Cropping3D(_Cropping):
    """Crop the three spatial axes of volumes: ``cropping=((front, back), (top, bottom),
    (left, right))``, (d, h, w) symmetric, or one int for every edge."""

    _rank = 3

    def __init__(self, cropping: Any = ((1, 1), (1, 1), (1, 1)), **kwargs: Any) -> None:
        super().__init__(cropping, **kwargs)


def _repeat_axes(x: Tensor, axes: Sequence[int], sizes: Sequence[int]) -> Tensor:
    """Nearest-neighbour upsampling: each index along ``axes[i]`` repeated ``sizes[i]`` times,
    as one broadcast (a view) and one reshape (a copy); the gradient sums the copies."""
    shape, expanded, out = [], [], []
    for ax, n in enumerate(x.shape):
        k = sizes[list(axes).index(ax)] if ax in axes else 1
        shape += [n, 1] if k > 1 else [n]
        expanded += [n, k] if k > 1 else [n]
        out.append(n * k)
    if len(shape) == x.ndim:
        return x
    return x.reshape(*shape).expand(*expanded).reshape(*out)


class UpSampling1D(Module):
    """Repeat each time step of (batch, steps, features) ``size`` times."""

    supports_masking = False

    def __init__(self, size: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.size = positive_int("UpSampling1D: size", size)
        self.input_spec = InputSpec(ndim=3)

    def call(self, x: Tensor) -> Tensor:
        return _repeat_axes(x, [1], [self.size])

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        n = input_shape[1]
        return (input_shape[0], None if n is None else n * self.size, input_shape[2])

    def get_config(self) -> dict:
        return {**super().get_config(), "size": self.size}


class UpSampling2D(LayoutMixin, Module):
    """Upsample images ``size = (rows, cols)`` times: each pixel repeated
    (``interpolation='nearest'``) or bilinear interpolation with half-pixel centres
    (``'bilinear'``, Keras's image resize, through ``F.interpolate``)."""

    def __init__(
        self,
        size: int | Sequence[int] = (2, 2),
        data_format: str | None = None,
        interpolation: str = "nearest",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if is_int(size):
            size = (int(size), int(size))
        size = tuple(size)
        if len(size) != 2 or any(not is_int(s) or s < 1 for s in size):
            raise ValueError(f"UpSampling2D: size must be 2 positive integers, got {size!r}")
        self.size = (int(size[0]), int(size[1]))
        self.data_format = _data_format("UpSampling2D", data_format)
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(
                f"UpSampling2D: interpolation must be 'nearest' or 'bilinear', got "
                f"{interpolation!r}"
            )
        self.interpolation = interpolation
        self.input_spec = InputSpec(ndim=4)

    def _layout_role(self) -> str | None:
        return "follower" if self._is_channels_last() else None

    def _axes(self, nchw: bool) -> list[int]:
        return [2, 3] if nchw else [1, 2]

    def call(self, x: Tensor) -> Tensor:
        nchw = self.data_format == "channels_first" or self._nchw_in
        if self.interpolation == "nearest":
            return _repeat_axes(x, self._axes(nchw), self.size)
        y = x if nchw else to_channels_first(x)
        h, w = y.shape[2] * self.size[0], y.shape[3] * self.size[1]
        y = F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False)
        return y if nchw else to_channels_last(y)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        out = list(input_shape)
        for ax, k in zip(self._axes(self.data_format == "channels_first"), self.size):
            out[ax] = None if out[ax] is None else out[ax] * k
        return tuple(out)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "size": list(self.size),
            "data_format": self.data_format,
            "interpolation": self.interpolation,
        }


class UpSampling3D(LayoutMixin, Module):
    """Repeat each voxel of volumes ``size = (depth, rows, cols)`` times (nearest)."""

    def __init__(
        self, size: int | Sequence[int] = (2, 2, 2), data_format: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if is_int(size):
            size = (int(size),) * 3
        size = tuple(size) if isinstance(size, (tuple, list)) else (size,)
        if len(size) != 3 or any(not is_int(s) or s < 1 for s in size):
            raise ValueError(f"UpSampling3D: size must be 3 positive integers, got {size!r}")
        self.size = tuple(int(s) for s in size)
        self.data_format = _data_format("UpSampling3D", data_format)
        self.input_spec = InputSpec(ndim=5)

    def _layout_role(self) -> str | None:
        return "follower" if self._is_channels_last() else None

    def _axes(self, nchw: bool) -> list[int]:
        return [2, 3, 4] if nchw else [1, 2, 3]

    def call(self, x: Tensor) -> Tensor:
        nchw = self.data_format == "channels_first" or self._nchw_in
        if math.prod(x.shape) * math.prod(self.size) * np.dtype(x.dtype).itemsize >= 2**63:
            raise ValueError(
                f"UpSampling3D '{self.name}': size {self.size} on inputs of shape "
                f"{tuple(x.shape)} gives an output too large for 64-bit sizes"
            )
        return _repeat_axes(x, self._axes(nchw), self.size)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        out = list(input_shape)
        for ax, k in zip(self._axes(self.data_format == "channels_first"), self.size):
            out[ax] = None if out[ax] is None else out[ax] * k
        return tuple(out)

    def get_config(self) -> dict:
        return {**super().get_config(), "size": list(self.size), "data_format": self.data_format}
