"""Keras's image augmentation layers: RandomFlip, RandomRotation, RandomTranslation,
RandomZoom, RandomContrast, RandomBrightness, RandomCrop and CenterCrop.

They transform images (batch, rows, cols, channels) (or one image without the batch axis;
``data_format="channels_first"`` for (batch, channels, rows, cols)) while training and are
the identity at inference (``RandomCrop`` and ``CenterCrop`` resize instead, as Keras). Each
image of a batch draws its own factors from the layer's generator: its own stream when a
``seed`` is given, deepcore's global one (``deepcore.manual_seed``) otherwise.

[Note: affine warps] Rotation, translation and zoom are one affine warp: output pixel (x, y)
reads the input at (a0 x + a1 y + a2, b0 x + b1 y + b2) (Keras's transform rows), bilinearly
or at the nearest pixel; a tap outside the image reads by ``fill_mode`` — "reflect"
(d c b a | a b c d | d c b a), "wrap", "nearest" (the edge pixel) or "constant"
(``fill_value``). The warp is four gathers of whole batches with per-pixel weights (``take``
and a multiply: differentiable in the images), never a loop over pixels.
"""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np

from ... import ops
from ..._checks import is_real, positive_int
from ...tensor import Tensor, get_rng
from ..module import Module
from .preprocessing import Resizing, image_batch
from .reshaping import _data_format

__all__ = [
    "CenterCrop",
    "RandomBrightness",
    "RandomContrast",
    "RandomCrop",
    "RandomFlip",
    "RandomRotation",
    "RandomTranslation",
    "RandomZoom",
]

_FILL_MODES = ("reflect", "wrap", "constant", "nearest")


def _range(layer: str, name: str, factor: Any, symmetric_min: float | None = None) -> tuple:
    """A factor as (lower, upper): a number f is (-f, f), a pair is itself."""
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2:
            raise ValueError(f"{layer}: {name} must be a number or a (lower, upper) pair")
        lo, hi = (float(v) for v in factor)
    elif is_real(factor):
        lo, hi = -abs(float(factor)), abs(float(factor))
    else:
        raise TypeError(f"{layer}: {name} must be a number or a pair, got {factor!r}")
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        raise ValueError(f"{layer}: {name} must be finite with lower <= upper, got {factor!r}")
    if symmetric_min is not None and lo < symmetric_min:
        raise ValueError(f"{layer}: {name} must be >= {symmetric_min}, got {factor!r}")
    return lo, hi


def _as_config(v: Any) -> Any:
    """A factor as get_config writes it (pairs as JSON lists, so configs round-trip)."""
    return [float(u) for u in v] if isinstance(v, (tuple, list)) else v


class _Augmentation(Module):
    """Shared: the generator, the batch/layout handling, and the training switch."""

    def __init__(self, seed: int | None = None, data_format: str | None = None, **kw: Any):
        super().__init__(**kw)
        if seed is not None:
            try:
                seed = operator.index(seed)
            except TypeError:
                raise TypeError(f"{type(self).__name__}: seed must be an int or None") from None
        self.seed = seed
        self._rng = None if seed is None else np.random.default_rng(seed)
        self.data_format = _data_format(type(self).__name__, data_format)

    def _gen(self) -> np.random.Generator:
        return self._rng if self._rng is not None else get_rng()

    def call(self, x: Any, training: bool | None = None) -> Tensor:
        y, single = image_batch(self, x)
        if self.data_format == "channels_first":
            y = y.transpose(0, 2, 3, 1)
        y = self._augment(y) if training else self._infer(y)
        if self.data_format == "channels_first":
            y = y.transpose(0, 3, 1, 2)
        return y.reshape(*y.shape[1:]) if single else y

    def _augment(self, x: Tensor) -> Tensor:  # NHWC in, NHWC out
        raise NotImplementedError

    def _infer(self, x: Tensor) -> Tensor:
        return x

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "seed": self.seed, "data_format": self.data_format}


class RandomFlip(_Augmentation):
    """Flip each image left-right ("horizontal"), top-bottom ("vertical") or both
    ("horizontal_and_vertical"), each with probability 1/2, independently per image."""

    _MODES = ("horizontal", "vertical", "horizontal_and_vertical")

    def __init__(self, mode: str = "horizontal_and_vertical", seed: int | None = None, **kw: Any):
        super().__init__(seed, **kw)
        if mode not in self._MODES:
            raise ValueError(f"RandomFlip: mode must be one of {self._MODES}, got {mode!r}")
        self.mode = mode

    def _augment(self, x: Tensor) -> Tensor:
        n = x.shape[0]
        for axis, on in ((2, "horizontal"), (1, "vertical")):
            if on in self.mode:
                pick = (self._gen().random(n) < 0.5).reshape(n, 1, 1, 1)
                x = ops.where(Tensor(pick), ops.flip(x, axis=axis), x)
        return x

    def get_config(self) -> dict:
        return {**super().get_config(), "mode": self.mode}


def _fix(idx: np.ndarray, size: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """(in-range index, valid) for integer tap indices by the fill mode (see the Note)."""
    if mode == "nearest":
        return np.clip(idx, 0, size - 1), np.ones(idx.shape, bool)
    if mode == "wrap":
        return np.mod(idx, size), np.ones(idx.shape, bool)
    if mode == "reflect":
        m = np.mod(idx, 2 * size)
        return np.where(m >= size, 2 * size - 1 - m, m), np.ones(idx.shape, bool)
    valid = (idx >= 0) & (idx < size)
    return np.clip(idx, 0, size - 1), valid


def affine_warp(
    x: Tensor, rows: np.ndarray, interpolation: str, fill_mode: str, fill_value: float
) -> Tensor:
    """Warp NHWC images by per-image transform rows (N, 6) (see [Note: affine warps])."""
    n, h, w, c = x.shape
    if n * h * w == 0:
        return x
    gy, gx = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64),
                         indexing="ij")  # fmt: skip
    r = rows[:, :, None, None]
    sx = r[:, 0] * gx + r[:, 1] * gy + r[:, 2]
    sy = r[:, 3] * gx + r[:, 4] * gy + r[:, 5]
    if interpolation == "nearest":
        taps = [(np.rint(sy), np.rint(sx), np.ones_like(sx))]
    else:
        y0, x0 = np.floor(sy), np.floor(sx)
        fy, fx = sy - y0, sx - x0
        taps = [
            (y0, x0, (1 - fy) * (1 - fx)),
            (y0, x0 + 1, (1 - fy) * fx),
            (y0 + 1, x0, fy * (1 - fx)),
            (y0 + 1, x0 + 1, fy * fx),
        ]
    flat = x.reshape(n * h * w, c)
    base = (np.arange(n) * (h * w))[:, None, None]
    out, fill = None, np.zeros(sx.shape)
    for ty, tx, wt in taps:  # at most four gathers of the whole batch
        iy, vy = _fix(ty.astype(np.int64), h, fill_mode)
        ix, vx = _fix(tx.astype(np.int64), w, fill_mode)
        valid = vy & vx
        fill += np.where(valid, 0.0, wt)
        weight = Tensor(np.where(valid, wt, 0.0).reshape(-1, 1).astype(x.dtype))
        term = ops.take(flat, Tensor((base + iy * w + ix).reshape(-1)), axis=0) * weight
        out = term if out is None else out + term
    if fill_mode == "constant" and fill_value != 0.0:
        out = out + Tensor((fill * fill_value).reshape(-1, 1).astype(x.dtype))
    return out.reshape(n, h, w, c)


class _Affine(_Augmentation):
    def __init__(
        self,
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: int | None = None,
        fill_value: float = 0.0,
        **kw: Any,
    ) -> None:
        super().__init__(seed, **kw)
        cls = type(self).__name__
        if fill_mode not in _FILL_MODES:
            raise ValueError(f"{cls}: fill_mode must be one of {_FILL_MODES}, got {fill_mode!r}")
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(
                f"{cls}: interpolation must be 'bilinear' or 'nearest', got {interpolation!r}"
            )
        self.fill_mode, self.interpolation = fill_mode, interpolation
        self.fill_value = float(fill_value)

    def _rows(self, n: int, h: int, w: int) -> np.ndarray:
        raise NotImplementedError

    def _augment(self, x: Tensor) -> Tensor:
        n, h, w, _ = x.shape
        rows = self._rows(n, h, w)
        return affine_warp(x, rows, self.interpolation, self.fill_mode, self.fill_value)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "fill_mode": self.fill_mode,
            "interpolation": self.interpolation,
            "fill_value": self.fill_value,
        }


class RandomRotation(_Affine):
    """Rotate each image by a random angle of ``factor`` · 2π (a number f: in [-f, f]; a
    pair: in [lower, upper]) about its centre; positive angles turn counter-clockwise."""

    def __init__(self, factor: Any, fill_mode: str = "reflect", interpolation: str = "bilinear",
                 seed: int | None = None, fill_value: float = 0.0, **kw: Any) -> None:  # fmt: skip
        super().__init__(fill_mode, interpolation, seed, fill_value, **kw)
        self.factor = factor
        self._lo, self._hi = _range("RandomRotation", "factor", factor)

    def _rows(self, n: int, h: int, w: int) -> np.ndarray:
        a = self._gen().uniform(self._lo, self._hi, n) * 2.0 * math.pi
        cos, sin = np.cos(a), np.sin(a)
        xo = ((w - 1) - (cos * (w - 1) - sin * (h - 1))) / 2.0
        yo = ((h - 1) - (sin * (w - 1) + cos * (h - 1))) / 2.0
        return np.stack([cos, -sin, xo, sin, cos, yo], axis=1)

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": _as_config(self.factor)}


class RandomTranslation(_Affine):
    """Shift each image by a random fraction of its height and width (a number f: in
    [-f, f]; a pair: in [lower, upper])."""

    def __init__(self, height_factor: Any, width_factor: Any, fill_mode: str = "reflect",
                 interpolation: str = "bilinear", seed: int | None = None,
                 fill_value: float = 0.0, **kw: Any) -> None:  # fmt: skip
        super().__init__(fill_mode, interpolation, seed, fill_value, **kw)
        self.height_factor, self.width_factor = height_factor, width_factor
        self._h = _range("RandomTranslation", "height_factor", height_factor)
        self._w = _range("RandomTranslation", "width_factor", width_factor)

    def _rows(self, n: int, h: int, w: int) -> np.ndarray:
        g = self._gen()
        dy = g.uniform(*self._h, n) * h
        dx = g.uniform(*self._w, n) * w
        one, zero = np.ones(n), np.zeros(n)
        return np.stack([one, zero, -dx, zero, one, -dy], axis=1)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "height_factor": _as_config(self.height_factor),
            "width_factor": _as_config(self.width_factor),
        }


class RandomZoom(_Affine):
    """Zoom each image about its centre by 1 + a random factor (positive: out, negative:
    in; a number f: in [-f, f]); ``width_factor=None`` zooms both axes alike."""

    def __init__(self, height_factor: Any, width_factor: Any = None, fill_mode: str = "reflect",
                 interpolation: str = "bilinear", seed: int | None = None,
                 fill_value: float = 0.0, **kw: Any) -> None:  # fmt: skip
        super().__init__(fill_mode, interpolation, seed, fill_value, **kw)
        self.height_factor, self.width_factor = height_factor, width_factor
        self._h = _range("RandomZoom", "height_factor", height_factor, symmetric_min=-1.0)
        self._w = None
        if width_factor is not None:
            self._w = _range("RandomZoom", "width_factor", width_factor, symmetric_min=-1.0)

    def _rows(self, n: int, h: int, w: int) -> np.ndarray:
        g = self._gen()
        zy = 1.0 + g.uniform(*self._h, n)
        zx = zy if self._w is None else 1.0 + g.uniform(*self._w, n)
        zero = np.zeros(n)
        xo = (w - 1) / 2.0 * (1.0 - zx)
        yo = (h - 1) / 2.0 * (1.0 - zy)
        return np.stack([zx, zero, xo, zero, zy, yo], axis=1)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "height_factor": _as_config(self.height_factor),
            "width_factor": _as_config(self.width_factor),
        }


def _value_range(layer: str, value_range: Any) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise TypeError(f"{layer}: value_range must be a (low, high) pair") from None
    if not lo < hi:
        raise ValueError(f"{layer}: value_range must have low < high, got {value_range!r}")
    return lo, hi


class RandomContrast(_Augmentation):
    """Scale each image's deviation from its per-channel mean by a random factor in
    [1 - lower, 1 + upper] (a number f: lower = upper = f), clipped to ``value_range``."""

    def __init__(self, factor: Any, value_range: Any = (0, 255), seed: int | None = None,
                 **kw: Any) -> None:  # fmt: skip
        super().__init__(seed, **kw)
        if isinstance(factor, (tuple, list)):
            lo, hi = _range("RandomContrast", "factor", factor)
        else:
            lo, hi = _range("RandomContrast", "factor", factor)
            lo = hi
        if not 0.0 <= lo <= 1.0 or hi < 0.0:
            raise ValueError(f"RandomContrast: factor must be in [0, 1], got {factor!r}")
        self.factor, self._lo, self._hi = factor, abs(lo), hi
        self.value_range = _value_range("RandomContrast", value_range)

    def _augment(self, x: Tensor) -> Tensor:
        n = x.shape[0]
        f = self._gen().uniform(1.0 - self._lo, 1.0 + self._hi, n).reshape(n, 1, 1, 1)
        mean = x.mean(axis=(1, 2), keepdims=True)
        y = (x - mean) * Tensor(f.astype(x.dtype)) + mean
        return ops.clip(y, *self.value_range)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "factor": _as_config(self.factor),
            "value_range": list(self.value_range),
        }


class RandomBrightness(_Augmentation):
    """Add a random offset of ``factor`` times the width of ``value_range`` to each image (a
    number f: in [-f, f]; a pair: in [lower, upper], each within [-1, 1]), clipped to it."""

    def __init__(self, factor: Any, value_range: Any = (0, 255), seed: int | None = None,
                 **kw: Any) -> None:  # fmt: skip
        super().__init__(seed, **kw)
        self._lo, self._hi = _range("RandomBrightness", "factor", factor, symmetric_min=-1.0)
        if self._hi > 1.0:
            raise ValueError(f"RandomBrightness: factor must be within [-1, 1], got {factor!r}")
        self.factor = factor
        self.value_range = _value_range("RandomBrightness", value_range)

    def _augment(self, x: Tensor) -> Tensor:
        n = x.shape[0]
        span = self.value_range[1] - self.value_range[0]
        d = self._gen().uniform(self._lo, self._hi, n).reshape(n, 1, 1, 1) * span
        return ops.clip(x + Tensor(d.astype(x.dtype)), *self.value_range)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "factor": _as_config(self.factor),
            "value_range": list(self.value_range),
        }


class _Crop(_Augmentation):
    def __init__(self, height: int, width: int, seed: int | None = None, **kw: Any) -> None:
        super().__init__(seed, **kw)
        cls = type(self).__name__
        self.height, self.width = (
            positive_int(f"{cls}: height", height),
            positive_int(f"{cls}: width", width),
        )
        # smaller images: the largest centred window of the target ratio, resized (Keras)
        self._resize = Resizing(self.height, self.width, crop_to_aspect_ratio=True)

    def _crop_at(self, x: Tensor, h0: int, w0: int) -> Tensor:
        return x[:, h0 : h0 + self.height, w0 : w0 + self.width, :]

    def _fits(self, x: Tensor) -> bool:
        return x.shape[1] >= self.height and x.shape[2] >= self.width

    def _centre(self, x: Tensor) -> Tensor:
        if not self._fits(x):
            return self._resize(x)
        return self._crop_at(x, (x.shape[1] - self.height) // 2, (x.shape[2] - self.width) // 2)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        s = list(input_shape)
        rows = len(s) - (3 if self.data_format == "channels_last" else 2)
        s[rows], s[rows + 1] = self.height, self.width
        return tuple(s)

    def get_config(self) -> dict:
        return {**super().get_config(), "height": self.height, "width": self.width}


class CenterCrop(_Crop):
    """The centred ``height`` x ``width`` window of each image (training and inference); an
    image smaller than that is cropped to the target aspect ratio and resized."""

    def _augment(self, x: Tensor) -> Tensor:
        return self._centre(x)

    _infer = _augment


class RandomCrop(_Crop):
    """In training, one random ``height`` x ``width`` window of the batch; at inference (and
    for images smaller than the window) the image cropped to the target aspect ratio and
    resized, as Keras."""

    def _augment(self, x: Tensor) -> Tensor:
        if not self._fits(x):
            return self._resize(x)
        g = self._gen()
        h0 = int(g.integers(0, x.shape[1] - self.height + 1))
        w0 = int(g.integers(0, x.shape[2] - self.width + 1))
        return self._crop_at(x, h0, w0)

    def _infer(self, x: Tensor) -> Tensor:
        return self._resize(x) if (x.shape[1], x.shape[2]) != (self.height, self.width) else x
