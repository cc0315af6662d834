"""DepthwiseConv1D/2D and SeparableConv1D/2D (Keras's) on the grouped convolution kernels.

A depthwise convolution is a grouped convolution with one group per input channel: channel c
gives ``depth_multiplier`` output channels c·dm … c·dm + dm - 1. The kernel is stored as
(channels, depth_multiplier, *kernel_size), which is the grouped kernels' (channels·dm, 1,
*kernel_size) by a free reshape, and Keras's (*kernel_size, channels, depth_multiplier) by the
axis permutation of [Note: Keras weight layouts]. A separable convolution is that depthwise
step (no bias) followed by a 1×1 convolution with the bias and activation (pointwise kernel
(filters, channels·dm, 1…) stored, (1…, channels·dm, filters) in Keras).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable

from ..._checks import positive_int
from ...tensor import Tensor
from .. import functional as F
from .. import initializers, regularizers
from ..module import InputSpec
from .conv import _Conv

__all__ = ["DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D"]


class _GroupedConv(_Conv):
    """What the depthwise and separable layers share: the grouped convolution call of their
    rank, the build-time checks of the input and the depthwise weight as the grouped kernels
    read it."""

    def _fconv(
        self,
        x: Tensor,
        w: Tensor,
        b: Tensor | None,
        stride: Sequence[int],
        padding: Any,
        dilation: Sequence[int],
        groups: int,
        activation: str | None,
    ) -> Tensor:
        if self._rank == 1:
            return F.conv1d(x, w, b, stride[0], padding, dilation[0], groups, activation=activation)
        return F.conv2d(x, w, b, stride, padding, dilation, groups, activation=activation)

    def _channels(self, input_shape: tuple) -> int:
        cls = type(self).__name__
        nd = self._rank + 2
        if len(input_shape) != nd:
            raise ValueError(
                f"{cls} '{self.name}' expects inputs of rank {nd}, got shape {tuple(input_shape)}"
            )
        c = input_shape[self._channel_axis]
        if c is None:
            raise ValueError(f"{cls} '{self.name}': the channel dimension must be known")
        self.input_spec = InputSpec(ndim=nd, axes={self._channel_axis: int(c)})
        return int(c)

    _depthwise_name = "kernel"

    def _depthwise_weight(self) -> Tensor:
        c, dm = self.depthwise_kernel_shape[:2]
        return self._weights[self._depthwise_name].reshape(c * dm, 1, *self.kernel_size)


class _DepthwiseConv(_GroupedConv):
    def __init__(
        self,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] = 1,
        padding: str = "valid",
        depth_multiplier: int = 1,
        data_format: str | None = None,
        dilation_rate: int | Sequence[int] = 1,
        activation: str | Callable | None = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            1, kernel_size, strides, padding, data_format, dilation_rate, 1, activation,
            use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer,
            bias_regularizer, **kwargs,
        )  # fmt: skip
        self.depth_multiplier = positive_int(
            f"{type(self).__name__}: depth_multiplier", depth_multiplier
        )

    def build(self, input_shape: tuple) -> None:
        c = self._channels(input_shape)
        dm = self.depth_multiplier
        self.filters, self.groups = c * dm, c
        self.depthwise_kernel_shape = (c, dm, *self.kernel_size)
        self.kernel = self.add_weight(
            "kernel", self.depthwise_kernel_shape, self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )  # fmt: skip
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                "bias", (c * dm,), self.bias_initializer, regularizer=self.bias_regularizer
            )

    def _conv(self, x: Tensor, padding: Any, activation: str | None = None) -> Tensor:
        return self._fconv(
            x, self._depthwise_weight(), self.bias, self.strides, padding, self.dilation_rate,
            self.groups, activation,
        )  # fmt: skip

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        c = input_shape[self._channel_axis]
        self.filters = None if c is None else c * self.depth_multiplier
        return super().compute_output_shape(input_shape)

    def get_config(self) -> dict:
        cfg = super().get_config()
        for k in ("filters", "groups"):
            cfg.pop(k)
        cfg["depth_multiplier"] = self.depth_multiplier
        cfg["depthwise_initializer"] = cfg.pop("kernel_initializer")
        cfg["depthwise_regularizer"] = cfg.pop("kernel_regularizer")
        return cfg


class DepthwiseConv2D(_DepthwiseConv):
    """Depthwise 2-D convolution: each input channel convolved with its own
    ``depth_multiplier`` filters (Keras's kernel layout (kh, kw, channels, depth_multiplier))."""

    _rank = 2
    _keras_layouts = {"kernel": (2, 3, 0, 1)}


class DepthwiseConv1D(_DepthwiseConv):
    """Depthwise 1-D convolution over (batch, steps, channels) (or channels-first)."""

    _rank = 1
    _keras_layouts = {"kernel": (2, 0, 1)}


class _SeparableConv(_GroupedConv):
    _depthwise_name = "depthwise_kernel"

    def __init__(
        self,
        filters: int,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: int | Sequence[int] = 1,
        depth_multiplier: int = 1,
        activation: str | Callable | None = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        pointwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        pointwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            filters, kernel_size, strides, padding, data_format, dilation_rate, 1, activation,
            use_bias, pointwise_initializer, bias_initializer, pointwise_regularizer,
            bias_regularizer, **kwargs,
        )  # fmt: skip
        self.depth_multiplier = positive_int(
            f"{type(self).__name__}: depth_multiplier", depth_multiplier
        )
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)

    def build(self, input_shape: tuple) -> None:
        c = self._channels(input_shape)
        dm = self.depth_multiplier
        self.depthwise_kernel_shape = (c, dm, *self.kernel_size)
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel", self.depthwise_kernel_shape, self.depthwise_initializer,
            regularizer=self.depthwise_regularizer,
        )  # fmt: skip
        self.pointwise_kernel = self.add_weight(
            "pointwise_kernel", (self.filters, c * dm) + (1,) * self._rank,
            self.kernel_initializer, regularizer=self.kernel_regularizer,
        )  # fmt: skip
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                "bias", (self.filters,), self.bias_initializer, regularizer=self.bias_regularizer
            )

    def _conv(self, x: Tensor, padding: Any, activation: str | None = None) -> Tensor:
        c = self.depthwise_kernel_shape[0]
        h = self._fconv(
            x, self._depthwise_weight(), None, self.strides, padding, self.dilation_rate, c, None
        )
        ones = (1,) * self._rank
        return self._fconv(h, self.pointwise_kernel, self.bias, ones, "valid", ones, 1, activation)

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.pop("groups")
        cfg["depth_multiplier"] = self.depth_multiplier
        cfg["pointwise_initializer"] = cfg.pop("kernel_initializer")
        cfg["pointwise_regularizer"] = cfg.pop("kernel_regularizer")
        cfg["depthwise_initializer"] = initializers.serialize(self.depthwise_initializer)
        cfg["depthwise_regularizer"] = regularizers.serialize(self.depthwise_regularizer)
        return cfg


class SeparableConv2D(_SeparableConv):
    """Depthwise-separable 2-D convolution: a depthwise convolution, then a 1×1 convolution
    to ``filters`` channels with the bias and activation."""

    _rank = 2
    _keras_layouts = {"depthwise_kernel": (2, 3, 0, 1), "pointwise_kernel": (2, 3, 1, 0)}


class SeparableConv1D(_SeparableConv):
    """Depthwise-separable 1-D convolution over (batch, steps, channels)."""

    _rank = 1
    _keras_layouts = {"depthwise_kernel": (2, 0, 1), "pointwise_kernel": (2, 1, 0)}
