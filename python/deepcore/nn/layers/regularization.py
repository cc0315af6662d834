"""Keras's regularization layers beyond Dropout: SpatialDropout1D/2D/3D, GaussianNoise,
GaussianDropout, AlphaDropout, ActivityRegularization. Each is the identity at inference."""

from __future__ import annotations

from typing import Any

from ..._checks import is_real, unit_rate
from ...tensor import Tensor, get_rng
from .. import functional as F
from ..module import InputSpec, Module
from .core import Dropout
from .reshaping import _data_format

__all__ = [
    "ActivityRegularization",
    "AlphaDropout",
    "GaussianDropout",
    "GaussianNoise",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
]


class _SpatialDropout(Dropout):
    """Dropout of whole feature maps: one keep/drop draw per (sample, channel), shared by every
    time step or pixel (Tompson et al. 2015), scaled by 1/(1-rate) as Dropout."""

    _rank = 1

    def __init__(self, rate: float, data_format: str | None = None, **kwargs: Any) -> None:
        kwargs.pop("noise_shape", None)  # fixed by the layer (Keras's get_config writes it)
        super().__init__(rate, **kwargs)
        self.data_format = _data_format(type(self).__name__, data_format)
        self._layout_elementwise = False
        self.input_spec = InputSpec(ndim=self._rank + 2)

    def call(self, x: Tensor, training: bool | None = None) -> Tensor:
        if not training or self.rate == 0.0:
            return x
        ones = (1,) * self._rank
        n, c = (x.shape[0], x.shape[-1]) if self.data_format == "channels_last" else x.shape[:2]
        shape = (n, *ones, c) if self.data_format == "channels_last" else (n, c, *ones)
        return F.dropout(x, self.rate, training=True, noise_shape=shape)

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.pop("noise_shape", None)
        if self._rank >= 2:
            cfg["data_format"] = self.data_format
        return cfg


class SpatialDropout1D(_SpatialDropout):
    """Drops entire channels of (batch, steps, channels) inputs."""

    _rank = 1

    def __init__(self, rate: float, **kwargs: Any) -> None:
        super().__init__(rate, **kwargs)


class SpatialDropout2D(_SpatialDropout):
    """Drops entire feature maps of (batch, rows, cols, channels) images (or channels-first)."""

    _rank = 2


class GaussianNoise(Module):
    """Adds zero-centred Gaussian noise of standard deviation ``stddev`` in training (a
    regulariser against overfitting); the identity at inference."""

    supports_masking = True
    _layout_elementwise = True

    def __init__(self, stddev: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not is_real(stddev) or stddev < 0:
            raise ValueError(f"GaussianNoise: stddev must be a number >= 0, got {stddev!r}")
        self.stddev = float(stddev)
        self.seed = seed

    def call(self, x: Tensor, training: bool | None = None) -> Tensor:
        if not training or self.stddev == 0.0:
            return x
        noise = get_rng().standard_normal(x.shape) * self.stddev
        return x + Tensor(noise.astype(x.dtype))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


class SpatialDropout3D(_SpatialDropout):
    """Drops entire feature volumes of (batch, dim1, dim2, dim3, channels) inputs (or
    channels-first)."""

    _rank = 3


class GaussianDropout(Module):
    """Multiplies by Gaussian noise of mean 1 and standard deviation sqrt(rate / (1 - rate))
    in training (Srivastava et al., 2014); the identity at inference."""

    supports_masking = True

    def __init__(self, rate: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rate, self.seed = unit_rate("GaussianDropout: rate", rate), seed

    def call(self, x: Tensor, training: bool | None = None) -> Tensor:
        if not training or self.rate == 0.0:
            return x
        std = (self.rate / (1.0 - self.rate)) ** 0.5
        noise = get_rng().standard_normal(x.shape) * std + 1.0
        return x * Tensor(noise.astype(x.dtype))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class AlphaDropout(Module):
    """Dropout that keeps SELU's self-normalisation (Klambauer et al., 2017): dropped units are
    set to SELU's negative saturation -λα, then an affine map a·x + b restores the mean and
    variance. ``noise_shape`` shares draws along its size-1 axes. Identity at inference."""

    supports_masking = True
    _ALPHA = 1.6732632423543772848170429916717
    _SCALE = 1.0507009873554804934193349852946

    def __init__(
        self, rate: float, noise_shape: Any = None, seed: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.rate, self.seed = unit_rate("AlphaDropout: rate", rate), seed
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)

    def call(self, x: Tensor, training: bool | None = None) -> Tensor:
        if not training or self.rate == 0.0:
            return x
        shape = x.shape
        if self.noise_shape is not None:
            shape = tuple(s if d is None else d for s, d in zip(x.shape, self.noise_shape))
        keep = get_rng().random(shape) >= self.rate
        p, alpha_p = self.rate, -self._ALPHA * self._SCALE
        a = ((1 - p) * (1 + p * alpha_p**2)) ** -0.5
        b = -a * alpha_p * p
        kept = Tensor((a * keep).astype(x.dtype))
        shift = Tensor((a * alpha_p * (1.0 - keep) + b).astype(x.dtype))
        return x * kept + shift

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict:
        ns = None if self.noise_shape is None else list(self.noise_shape)
        return {**super().get_config(), "rate": self.rate, "noise_shape": ns, "seed": self.seed}


class ActivityRegularization(Module):
    """The identity that adds ``(l1·Σ|x| + l2·Σx²) / batch`` to the model's loss (Keras's
    activity regulariser, made batch-size independent as Keras does)."""

    supports_masking = True

    def __init__(self, l1: float = 0.0, l2: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for name, v in (("l1", l1), ("l2", l2)):
            if not is_real(v) or not v >= 0:
                raise ValueError(f"ActivityRegularization: {name} must be a number >= 0, got {v!r}")
        self.l1, self.l2 = float(l1), float(l2)

    def call(self, x: Tensor) -> Tensor:
        if self.l1 or self.l2:
            loss: Any = 0.0
            if self.l1:
                loss = abs(x).sum() * self.l1
            if self.l2:
                loss = (x * x).sum() * self.l2 + loss
            self.add_loss(loss * (1.0 / max(1, x.shape[0])) if x.ndim else loss)
        return x

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "l1": self.l1, "l2": self.l2}
