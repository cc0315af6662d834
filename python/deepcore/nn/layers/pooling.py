"""Max / average pooling 1D, 2D and 3D, global average / max pooling, with Keras's arguments.

'same' padding follows Keras/TensorFlow: output = ceil(input / stride), the odd padding row at
the bottom/right; padded positions never win a max, and an average counts only the real inputs
under its window (Keras's behaviour, unlike PyTorch's count_include_pad default).

GlobalAveragePooling1D consumes a Keras mask (batch, steps): the mean is over the unmasked
steps only, and no mask leaves the layer (a step sequence whose steps are all masked averages to
zeros, where Keras divides 0 by 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...tensor import Tensor
from .. import functional as F
from ..module import InputSpec, Module
from .conv import _tuple, conv_output_length
from .layout import LayoutMixin
from .reshaping import _data_format

__all__ = [
    "MaxPooling1D",
    "MaxPooling2D",
    "AveragePooling1D",
    "AveragePooling2D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "MaxPooling3D",
    "AveragePooling3D",
    "GlobalAveragePooling3D",
    "GlobalMaxPooling3D",
]


class _Pooling(LayoutMixin, Module):
    _rank = 2
    _kind = "max"

    def __init__(
        self,
        pool_size: int | Sequence[int] = 2,
        strides: int | Sequence[int] | None = None,
        padding: str = "valid",
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        cls = type(self).__name__
        self.pool_size = _tuple(cls, "pool_size", pool_size, self._rank)
        self.strides = (
            self.pool_size if strides is None else _tuple(cls, "strides", strides, self._rank)
        )
        if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
            raise ValueError(f"{cls}: padding must be 'valid' or 'same', got {padding!r}")
        self.padding = padding.lower()
        self.data_format = _data_format(cls, data_format)
        self.input_spec = InputSpec(ndim=self._rank + 2)

    def call(self, x: Tensor) -> Tensor:
        x = self._to_internal(x)
        fn = getattr(F, f"{self._kind}_pool{self._rank}d")
        k, s = self.pool_size, self.strides
        if self._rank == 1:
            k, s = k[0], s[0]
        if self._kind == "max":
            y = fn(x, k, s, self.padding)
        else:  # Keras averages over the real inputs only (padding='same' at the borders)
            y = fn(x, k, s, self.padding, count_include_pad=False)
        return self._from_internal(y)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        last = self.data_format == "channels_last"
        spatial = input_shape[1:-1] if last else input_shape[2:]
        out = tuple(
            conv_output_length(n, k, self.padding, s)
            for n, k, s in zip(spatial, self.pool_size, self.strides)
        )
        if last:
            return (input_shape[0], *out, input_shape[-1])
        return (input_shape[0], input_shape[1], *out)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "pool_size": list(self.pool_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "data_format": self.data_format,
        }


class MaxPooling2D(_Pooling):
    _rank, _kind = 2, "max"


class AveragePooling2D(_Pooling):
    _rank, _kind = 2, "avg"


class MaxPooling3D(_Pooling):
    """Max pooling over volumes (batch, depth, rows, cols, channels)."""

    _rank, _kind = 3, "max"


class AveragePooling3D(_Pooling):
    """Average pooling over volumes (batch, depth, rows, cols, channels)."""

    _rank, _kind = 3, "avg"


class MaxPooling1D(_Pooling):
    _rank, _kind = 1, "max"


class AveragePooling1D(_Pooling):
    _rank, _kind = 1, "avg"


class _GlobalPooling(LayoutMixin, Module):
    _rank = 2
    _kind = "avg"

    def __init__(self, data_format: str | None = None, keepdims: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _data_format(type(self).__name__, data_format)
        self.keepdims = bool(keepdims)
        self.input_spec = InputSpec(ndim=self._rank + 2)

    def _layout_role(self) -> str | None:
        return "sink" if self._is_channels_last() and not self.keepdims else None

    def call(self, x: Tensor) -> Tensor:
        nchw = self.data_format == "channels_first" or self._nchw_in
        axes = tuple(range(2, 2 + self._rank)) if nchw else tuple(range(1, 1 + self._rank))
        if self._kind == "avg":
            if nchw:  # the native global-average kernel
                native = getattr(F, f"global_avg_pool{self._rank}d")
                return native(x, keepdims=self.keepdims)
            return x.mean(axis=axes, keepdims=self.keepdims)
        return x.max(axis=axes, keepdims=self.keepdims)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        last = self.data_format == "channels_last"
        c = input_shape[-1] if last else input_shape[1]
        if not self.keepdims:
            return (input_shape[0], c)
        ones = (1,) * self._rank
        return (input_shape[0], *ones, c) if last else (input_shape[0], c, *ones)

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalAveragePooling2D(_GlobalPooling):
    _rank, _kind = 2, "avg"


class GlobalAveragePooling1D(_GlobalPooling):
    _rank, _kind = 1, "avg"
    supports_masking = True

    def call(self, x: Tensor, mask: Any = None) -> Tensor:
        if mask is None:
            return super().call(x)
        nchw = self.data_format == "channels_first" or self._nchw_in
        m = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
        steps = 2 if nchw else 1
        if m.shape != (x.shape[0], x.shape[steps]):
            raise ValueError(
                f"GlobalAveragePooling1D '{self.name}': mask of shape {m.shape} does not match "
                f"inputs of shape {tuple(x.shape)} (batch, steps)"
            )
        m = m.astype(x.dtype)
        count = np.maximum(m.sum(axis=1), 1.0)  # (batch,)
        m = m[:, None, :] if nchw else m[:, :, None]
        cshape = (-1, 1, 1) if self.keepdims else (-1, 1)
        total = (x * Tensor(m)).sum(axis=steps, keepdims=self.keepdims)
        return total * Tensor((1.0 / count).reshape(cshape))

    def compute_mask(self, inputs: Any, mask: Any = None) -> None:
        return None  # the steps are gone


class GlobalMaxPooling2D(_GlobalPooling):
    _rank, _kind = 2, "max"


class GlobalMaxPooling1D(_GlobalPooling):
    _rank, _kind = 1, "max"


class GlobalAveragePooling3D(_GlobalPooling):
    _rank, _kind = 3, "avg"


class GlobalMaxPooling3D(_GlobalPooling):
    _rank, _kind = 3, "max"
