"""Keras's numerical and image preprocessing layers: Rescaling, Normalization (with
``adapt``) and Resizing.

They run inside the model (so a saved model carries its preprocessing) and hold no trainable
weights: Normalization's adapted mean and variance are non-trainable state, saved with the
model like BatchNormalization's moving statistics.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ... import ops
from ..._checks import is_int, positive_int
from ...tensor import Tensor
from .. import functional as F
from ..module import Module

__all__ = ["Rescaling", "Normalization", "Resizing"]


def _number_or_list(layer: str, name: str, v: Any) -> Any:
    """A float, or a list of floats (per channel), as given (JSON-able)."""
    try:
        a = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        a = np.asarray(np.nan)
    if a.dtype.kind != "f" or not np.all(np.isfinite(a)):
        raise ValueError(f"{layer}: {name} must be a finite number or list of numbers, got {v!r}")
    return float(a) if a.ndim == 0 else a.tolist()


class Rescaling(Module):
    """``x * scale + offset``: ``Rescaling(1./255)`` maps [0, 255] pixels to [0, 1],
    ``Rescaling(1./127.5, offset=-1)`` to [-1, 1]. ``scale`` / ``offset`` may be per-channel
    lists (broadcast against the last axis)."""

    supports_masking = True
    _layout_elementwise = True

    def __init__(self, scale: Any, offset: Any = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scale = _number_or_list("Rescaling", "scale", scale)
        self.offset = _number_or_list("Rescaling", "offset", offset)
        if isinstance(self.scale, list) or isinstance(self.offset, list):
            self._layout_elementwise = False  # per-channel: the channel axis matters

    def call(self, x: Tensor) -> Tensor:
        if x.dtype.kind != "f":
            x = Tensor(x.data.astype(self._np_dtype))
        scale, offset = self.scale, self.offset
        if isinstance(scale, list):
            scale = Tensor(np.asarray(scale, x.dtype))
        if isinstance(offset, list):
            offset = Tensor(np.asarray(offset, x.dtype))
        y = x * scale
        return y + offset if isinstance(offset, Tensor) or offset != 0.0 else y

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


class Normalization(Module):
    """``(x - mean) / sqrt(variance)`` per index of the kept ``axis`` (default -1: per
    feature; None: one scalar mean and variance), with the statistics given or learned from
    data by ``adapt(data)`` before training; ``invert=True`` maps normalised values back.

    The adapted statistics are non-trainable weights ``mean`` and ``variance`` of the kept
    axes' shape; statistics given to the constructor are constants kept in the config."""

    supports_masking = True

    def __init__(
        self,
        axis: int | Iterable[int] | None = -1,
        mean: Any = None,
        variance: Any = None,
        invert: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if axis is None:
            self.axis: tuple[int, ...] = ()
        elif is_int(axis):
            self.axis = (int(axis),)
        else:
            try:
                self.axis = tuple(int(a) for a in axis)  # type: ignore[union-attr]
            except TypeError:
                raise TypeError(
                    f"Normalization: axis must be an int, a tuple of ints or None, got {axis!r}"
                ) from None
        if (mean is None) != (variance is None):
            raise ValueError(
                "Normalization: give both mean and variance, or neither (and call adapt())"
            )
        self.input_mean = None if mean is None else _number_or_list("Normalization", "mean", mean)
        self.input_variance = (
            None if variance is None else _number_or_list("Normalization", "variance", variance)
        )
        if self.input_variance is not None and np.any(np.asarray(self.input_variance) < 0):
            raise ValueError("Normalization: variance must be >= 0")
        self.invert = bool(invert)
        self.adapted = False

    def _kept_axes(self, ndim: int) -> tuple[int, ...]:
        axes = tuple(a + ndim if a < 0 else a for a in self.axis)
        if any(not 0 < a < ndim for a in axes):
            raise ValueError(
                f"Normalization '{self.name}': axis {self.axis} is out of range for inputs of "
                f"rank {ndim} (the batch axis cannot be kept)"
            )
        return tuple(sorted(set(axes)))

    def _stat_shape(self, input_shape: tuple) -> tuple[int, ...]:
        axes = self._kept_axes(len(input_shape))
        shape = tuple(input_shape[a] for a in axes)
        if any(d is None for d in shape):
            raise ValueError(
                f"Normalization '{self.name}': the kept axes {self.axis} of input shape "
                f"{tuple(input_shape)} must have known sizes"
            )
        return shape

    def build(self, input_shape: tuple) -> None:
        input_shape = tuple(input_shape)
        self._ndim = len(input_shape)
        shape = self._stat_shape(input_shape)
        if self.input_mean is None:
            self.mean = self.add_weight("mean", shape, "zeros", trainable=False)
            self.variance = self.add_weight("variance", shape, "ones", trainable=False)

    def adapt(self, data: Any, batch_size: int | None = None, steps: int | None = None) -> None:
        """Learn ``mean`` and ``variance`` from ``data``: an array or Tensor of samples, or an
        iterable of such batches (a generator, a DataLoader yielding arrays or (x, y) pairs)."""
        if self.input_mean is not None:
            raise ValueError(
                f"Normalization '{self.name}' was given mean and variance: adapt() has nothing "
                "to learn"
            )
        batches = _batches(data, steps)
        count, mean, m2 = 0, None, None
        for b in batches:
            if not self.built:
                self._maybe_build((None, *b.shape[1:]))
            axes = self._kept_axes(b.ndim)
            red = tuple(i for i in range(b.ndim) if i not in axes)
            n = int(np.prod([b.shape[i] for i in red], dtype=np.int64))
            if n == 0:
                continue
            bm = b.mean(axis=red)
            bv = b.var(axis=red)
            if mean is None:
                count, mean, m2 = n, bm, bv * n
                continue
            tot = count + n  # Chan et al.'s pairwise update: stable for any batch order
            delta = bm - mean
            mean = mean + delta * (n / tot)
            m2 = m2 + bv * n + delta * delta * (count * n / tot)
            count = tot
        if mean is None:
            raise ValueError(f"Normalization '{self.name}': adapt() got no data")
        self.mean.data[...] = mean.reshape(self.mean.shape)
        self.variance.data[...] = (m2 / count).reshape(self.variance.shape)
        self.adapted = True

    def _stats(self, x: Tensor) -> tuple[Tensor, Tensor]:
        ndim = x.ndim
        axes = self._kept_axes(ndim)
        bshape = [1] * ndim
        for a in axes:
            bshape[a] = x.shape[a]
        if self.input_mean is not None:
            mean = np.broadcast_to(np.asarray(self.input_mean, x.dtype), [x.shape[a] for a in axes])
            var = np.broadcast_to(
                np.asarray(self.input_variance, x.dtype), [x.shape[a] for a in axes]
            )
        else:
            mean, var = self.mean.data, self.variance.data
        mean = np.asarray(mean, x.dtype).reshape(bshape)
        std = np.maximum(np.sqrt(np.asarray(var, x.dtype)), 1e-7).reshape(bshape)  # Keras's eps
        return Tensor(mean), Tensor(std)

    def call(self, x: Tensor) -> Tensor:
        if x.dtype.kind != "f":
            x = Tensor(x.data.astype(self._np_dtype))
        mean, std = self._stats(x)
        if self.invert:
            return x * std + mean
        return (x - mean) / std

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "axis": _axis_config(self.axis),
            "mean": self.input_mean,
            "variance": self.input_variance,
            "invert": self.invert,
        }


def _axis_config(axis: tuple[int, ...]) -> Any:
    if not axis:
        return None
    return axis[0] if len(axis) == 1 else list(axis)


def _batches(data: Any, steps: int | None) -> Iterable[np.ndarray]:
    """float64 arrays from ``data`` (one array, or an iterable of batches / (x, y) pairs)."""

    def arr(v: Any) -> np.ndarray:
        if isinstance(v, (tuple, list)) and v and not np.isscalar(v[0]):
            v = v[0]  # (x, y) pairs
        a = np.asarray(v.data if isinstance(v, Tensor) else v, dtype=np.float64)
        if a.ndim == 0:
            raise ValueError("Normalization.adapt: data must have a batch axis")
        return a

    if isinstance(data, (np.ndarray, Tensor, list)):
        yield arr(data)
        return
    for i, b in enumerate(data):
        if steps is not None and i >= steps:
            break
        yield arr(b)


def image_batch(layer: Module, x: Any) -> tuple[Tensor, bool]:
    """(``x`` as a floating-point batch of images, whether it was one unbatched image): the
    input handling of the image layers (Resizing, the augmentation layers); ValueError for a
    rank other than 3 or 4."""
    if not isinstance(x, Tensor):
        x = Tensor(np.asarray(x))
    if x.ndim not in (3, 4):
        raise ValueError(
            f"{type(layer).__name__} '{layer.name}': expected images of rank 3 or 4, got "
            f"shape {x.shape}"
        )
    if x.dtype.kind != "f":
        x = Tensor(x.data.astype(layer.dtype or np.float32))
    return (x.reshape(1, *x.shape), True) if x.ndim == 3 else (x, False)


class Resizing(Module):
    """Keras's ``Resizing(height, width)``: images (batch, rows, cols, channels) (or one image
    without the batch axis; ``data_format="channels_first"`` for (batch, channels, rows, cols))
    resized to ``height`` x ``width`` by ``interpolation`` "bilinear" (half-pixel centres, no
    antialiasing) or "nearest" (half-pixel centres), through ``F.interpolate``.
    ``crop_to_aspect_ratio`` first takes the largest centred window of the target aspect ratio;
    ``pad_to_aspect_ratio`` instead pads the image (centred, with ``fill_value``) to that ratio.
    Differentiable. Keras's other interpolations and ``antialias=True`` raise a ValueError."""

    _MODES = {"bilinear": "bilinear", "nearest": "nearest-exact"}

    def __init__(
        self,
        height: int,
        width: int,
        interpolation: str = "bilinear",
        crop_to_aspect_ratio: bool = False,
        pad_to_aspect_ratio: bool = False,
        fill_mode: str = "constant",
        fill_value: float = 0.0,
        antialias: bool = False,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        height, width = (
            positive_int("Resizing: height", height),
            positive_int("Resizing: width", width),
        )
        if interpolation not in self._MODES:
            raise ValueError(
                f"Resizing: interpolation must be 'bilinear' or 'nearest' (the ones deepcore "
                f"implements), got {interpolation!r}"
            )
        if antialias:
            raise ValueError("Resizing: antialias=True is not supported (resizing without it)")
        if crop_to_aspect_ratio and pad_to_aspect_ratio:
            raise ValueError(
                "Resizing: crop_to_aspect_ratio and pad_to_aspect_ratio exclude each other"
            )
        if fill_mode != "constant":
            raise ValueError(f"Resizing: fill_mode must be 'constant', got {fill_mode!r}")
        if data_format not in (None, "channels_last", "channels_first"):
            raise ValueError(
                f"Resizing: data_format must be 'channels_last' or 'channels_first', got "
                f"{data_format!r}"
            )
        self.height, self.width = int(height), int(width)
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)
        self.pad_to_aspect_ratio = bool(pad_to_aspect_ratio)
        self.fill_mode = fill_mode
        self.fill_value = float(fill_value)
        self.antialias = False
        self.data_format = data_format or "channels_last"

    def _fit_ratio(self, y: Tensor) -> Tensor:
        """Centre-crop or centre-pad (N, C, H, W) to the target aspect ratio, Keras's sizes."""
        H, W, th, tw = y.shape[2], y.shape[3], self.height, self.width
        if self.crop_to_aspect_ratio:
            ch = max(min(H, int(float(W * th) / tw)), 1)
            cw = max(min(W, int(float(H * tw) / th)), 1)
            h0, w0 = int(float(H - ch) / 2), int(float(W - cw) / 2)
            return y[:, :, h0 : h0 + ch, w0 : w0 + cw]
        ph = max(H, int(float(W * th) / tw))
        pw = max(W, int(float(H * tw) / th))
        h0, w0 = int(float(ph - H) / 2), int(float(pw - W) / 2)
        widths = ((0, 0), (0, 0), (h0, ph - H - h0), (w0, pw - W - w0))
        return ops.pad(y, widths, constant_values=self.fill_value)

    def call(self, x: Tensor) -> Tensor:
        y, single = image_batch(self, x)
        if self.data_format == "channels_last":
            y = y.transpose(0, 3, 1, 2)
        if self.crop_to_aspect_ratio or self.pad_to_aspect_ratio:
            y = self._fit_ratio(y)
        if (y.shape[2], y.shape[3]) != (self.height, self.width):
            y = F.interpolate(
                y, size=(self.height, self.width), mode=self._MODES[self.interpolation]
            )
        if self.data_format == "channels_last":
            y = y.transpose(0, 2, 3, 1)
        return y.reshape(*y.shape[1:]) if single else y

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        s = list(input_shape)
        rows = len(s) - (3 if self.data_format == "channels_last" else 2)
        s[rows], s[rows + 1] = self.height, self.width
        return tuple(s)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "height": self.height,
            "width": self.width,
            "interpolation": self.interpolation,
            "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
            "pad_to_aspect_ratio": self.pad_to_aspect_ratio,
            "fill_mode": self.fill_mode,
            "fill_value": self.fill_value,
            "antialias": self.antialias,
            "data_format": self.data_format,
        }
