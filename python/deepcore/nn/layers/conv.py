"""Conv1D, Conv2D, Conv3D and their transposes with Keras's arguments on deepcore's NCHW kernels.

Weights are stored in PyTorch's layout — kernel (filters, channels/groups, *kernel_size), bias
(filters,) — whatever the data_format, the layout our kernels read, so the state_dict
interchanges with ``torch.nn.Conv2d``; ``get_weights`` / ``set_weights`` show Keras's
(*kernel_size, channels/groups, filters) (``kernel.transpose(2, 3, 1, 0)``), converted there
and never per step (see [Note: Keras weight layouts] in nn/state.py). Channels-last inputs
are converted as described in [Note: channels-last] (layers/layout.py).

Padding: 'valid' (none), 'same' (output = ceil(input / stride); when the total padding is odd
the extra row/column goes at the bottom/right, as TensorFlow/Keras do), 'full' ((k-1)·d on
both sides) — all three handled inside the F.conv kernels, no padded copy — or 'causal'
(Conv1D only: (k-1)·d zeros on the left).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable

from ... import _C
from ..._checks import positive_int
from ...tensor import Tensor
from .. import functional as F
from ..functional._conv import keras_conv_transpose, keras_deconv_geometry
from ..module import InputSpec, Module
from .activation import activation_name, get_activation, serialize_activation
from .core import kernel_and_bias, kernel_and_bias_config, set_kernel_args
from .layout import LayoutMixin
from .reshaping import _data_format, pad

__all__ = [
    "Conv1D",
    "Conv2D",
    "Conv3D",
    "Conv1DTranspose",
    "Conv2DTranspose",
    "Conv3DTranspose",
]

_PADDINGS = ("valid", "same", "full", "causal")


def _tuple(layer: str, name: str, v: Any, n: int, minimum: int = 1) -> tuple[int, ...]:
    """An int or n ints (kernel_size, strides, dilation_rate, pool_size) by the kernels' own
    rule: NumPy integers accepted; bools, floats and values outside int64 refused (TypeError /
    ValueError naming the layer and argument), each >= minimum."""
    return tuple(_C.spatial_ints(v, n, f"{layer}: {name}", minimum))


def conv_output_length(
    length: int | None, k: int, padding: str, stride: int, dilation: int = 1
) -> int | None:
    """Keras's conv_utils.conv_output_length."""
    if length is None:
        return None
    ke = (k - 1) * dilation + 1
    if padding in ("same", "causal"):
        out = length
    elif padding == "valid":
        out = length - ke + 1
    else:  # full
        out = length + ke - 1
    return max(0, (out + stride - 1) // stride)


class _Conv(LayoutMixin, Module):
    _rank = 2

    def __init__(
        self,
        filters: int,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: int | Sequence[int] = 1,
        groups: int = 1,
        activation: str | Callable | None = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        cls = type(self).__name__
        n = self._rank
        self.filters = positive_int(f"{cls}: filters", filters)
        self.kernel_size = _tuple(cls, "kernel_size", kernel_size, n)
        self.strides = _tuple(cls, "strides", strides, n)
        self.dilation_rate = _tuple(cls, "dilation_rate", dilation_rate, n)
        if not isinstance(padding, str) or padding.lower() not in _PADDINGS:
            raise ValueError(f"{cls}: padding must be 'valid', 'same' or 'full', got {padding!r}")
        self.padding = padding.lower()
        if self.padding == "causal" and n != 1:
            raise ValueError(f"{cls}: padding='causal' is only for Conv1D")
        self.data_format = _data_format(cls, data_format)
        self.groups = positive_int(f"{cls}: groups", groups)
        if self.filters % self.groups:
            raise ValueError(f"{cls}: filters ({filters}) must be divisible by groups ({groups})")
        self.activation = get_activation(activation)
        set_kernel_args(
            self, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
            bias_regularizer,
        )  # fmt: skip

    @property
    def _channel_axis(self) -> int:
        return -1 if self.data_format == "channels_last" else 1

    def _spatial(self, shape: Sequence) -> tuple:
        return tuple(shape[1:-1]) if self.data_format == "channels_last" else tuple(shape[2:])

    def build(self, input_shape: tuple) -> None:
        cls = type(self).__name__
        nd = self._rank + 2
        if len(input_shape) != nd:
            raise ValueError(
                f"{cls} '{self.name}' expects inputs of rank {nd} "
                f"({'(batch, *spatial, channels)' if self._channel_axis == -1 else '(batch, channels, *spatial)'}), "  # noqa: E501
                f"got shape {tuple(input_shape)}"
            )
        c = input_shape[self._channel_axis]
        if c is None:
            raise ValueError(f"{cls} '{self.name}': the channel dimension must be known")
        if c % self.groups:
            raise ValueError(
                f"{cls} '{self.name}': input channels ({c}) must be divisible by groups "
                f"({self.groups})"
            )
        kshape = (self.filters, c // self.groups, *self.kernel_size)
        self.kernel, self.bias = kernel_and_bias(self, kshape, self.filters)
        self.input_spec = InputSpec(ndim=nd, axes={self._channel_axis: int(c)})

    def _conv(self, x: Tensor, padding: Any, activation: str | None = None) -> Tensor:
        raise NotImplementedError

    def call(self, x: Tensor) -> Tensor:
        x = self._to_internal(x)  # NCHW from here on
        padding: Any = self.padding  # 'valid' / 'same' / 'full': the kernels pad (TF's split)
        if padding == "causal":  # only the past: (k-1)·d zeros on the left
            left = (self.kernel_size[0] - 1) * self.dilation_rate[0]
            x = pad(x, [(0, 0), (0, 0), (left, 0)])
            padding = "valid"
        if activation_name(self.activation) == "relu":  # fused into the conv kernel's epilogue
            return self._from_internal(self._conv(x, padding, "relu"))
        return self._from_internal(self.activation(self._conv(x, padding)))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        spatial = tuple(
            conv_output_length(n, k, self.padding, s, d)
            for n, k, s, d in zip(
                self._spatial(input_shape), self.kernel_size, self.strides, self.dilation_rate
            )
        )
        if self.data_format == "channels_last":
            return (input_shape[0], *spatial, self.filters)
        return (input_shape[0], self.filters, *spatial)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": list(self.dilation_rate),
            "groups": self.groups,
            "activation": serialize_activation(self.activation),
            **kernel_and_bias_config(self),
        }

    def extra_repr(self) -> str:
        return (
            f"filters={self.filters}, kernel_size={self.kernel_size}, strides={self.strides}, "
            f"padding={self.padding!r}, data_format={self.data_format!r}"
        )


class Conv2D(_Conv):
    """2-D convolution over images (batch, rows, cols, channels) — or (batch, channels, rows,
    cols) with data_format='channels_first'."""

    _rank = 2
    _keras_layouts = {"kernel": (2, 3, 1, 0)}

    def _conv(self, x: Tensor, padding: Any, activation: str | None = None) -> Tensor:
        return F.conv2d(
            x, self.kernel, self.bias, stride=self.strides, padding=padding,
            dilation=self.dilation_rate, groups=self.groups, activation=activation,
        )  # fmt: skip


class Conv3D(_Conv):
    """3-D convolution over volumes (batch, depth, rows, cols, channels) — or (batch, channels,
    depth, rows, cols) with data_format='channels_first'."""

    _rank = 3
    _keras_layouts = {"kernel": (2, 3, 4, 1, 0)}

    def _conv(self, x: Tensor, padding: Any, activation: str | None = None) -> Tensor:
        return F.conv3d(
            x, self.kernel, self.bias, stride=self.strides, padding=padding,
            dilation=self.dilation_rate, groups=self.groups, activation=activation,
        )  # fmt: skip


class Conv1D(_Conv):
    """1-D convolution over sequences (batch, steps, channels) — or (batch, channels, steps)
    with data_format='channels_first'. ``padding='causal'`` pads only the past."""

    _rank = 1
    _keras_layouts = {"kernel": (2, 1, 0)}

    def _conv(self, x: Tensor, padding: Any, activation: str | None = None) -> Tensor:
        return F.conv1d(
            x, self.kernel, self.bias, stride=self.strides[0], padding=padding,
            dilation=self.dilation_rate[0], groups=self.groups, activation=activation,
        )  # fmt: skip


class _ConvTranspose(_Conv):
    """Transposed convolution (the gradient of a convolution with respect to its input): Keras's
    Conv1DTranspose / Conv2DTranspose / Conv3DTranspose on ``F.conv_transpose1d/2d/3d``. The
    kernel is stored (in, filters, *kernel_size) (PyTorch's ConvTranspose layout) and shown as
    Keras's (*kernel_size, filters, in) by get_weights / set_weights. Output sizes follow Keras:
    with ``output_padding=None``, 'valid' gives input·stride + max(k - stride, 0) and 'same'
    input·stride (TensorFlow's split of an odd padding)."""

    def __init__(
        self,
        filters: int,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] = 1,
        padding: str = "valid",
        output_padding: int | Sequence[int] | None = None,
        data_format: str | None = None,
        dilation_rate: int | Sequence[int] = 1,
        activation: str | Callable | None = None,
        use_bias: bool = True,
        groups: int = 1,
        **kwargs: Any,
    ) -> None:
        cls = type(self).__name__
        if groups != 1:
            raise ValueError(f"{cls}: groups must be 1, got {groups!r}")
        super().__init__(
            filters, kernel_size, strides=strides, padding=padding, data_format=data_format,
            dilation_rate=dilation_rate, activation=activation, use_bias=use_bias, **kwargs,
        )  # fmt: skip
        if self.padding not in ("valid", "same"):
            raise ValueError(f"{cls}: padding must be 'valid' or 'same', got {padding!r}")
        self.output_padding = None
        if output_padding is not None:
            op = _tuple(cls, "output_padding", output_padding, self._rank, minimum=0)
            for o, st, d in zip(op, self.strides, self.dilation_rate):
                if o >= max(st, d):
                    raise ValueError(
                        f"{cls}: output_padding {op} must be smaller than the strides "
                        f"{self.strides} (or the dilation)"
                    )
            self.output_padding = op

    def build(self, input_shape: tuple) -> None:
        cls = type(self).__name__
        nd = self._rank + 2
        if len(input_shape) != nd:
            raise ValueError(
                f"{cls} '{self.name}' expects inputs of rank {nd}, got shape {tuple(input_shape)}"
            )
        c = input_shape[self._channel_axis]
        if c is None:
            raise ValueError(f"{cls} '{self.name}': the channel dimension must be known")
        kshape = (int(c), self.filters, *self.kernel_size)
        self.kernel, self.bias = kernel_and_bias(self, kshape, self.filters)
        self.input_spec = InputSpec(ndim=nd, axes={self._channel_axis: int(c)})

    def _geometry(self, spatial: Sequence[int | None]) -> list[tuple[int, int | None]]:
        return keras_deconv_geometry(
            spatial, self.kernel_size, self.padding, self.output_padding, self.strides,
            self.dilation_rate,
        )  # fmt: skip

    def _conv(self, x: Tensor, padding: Any, activation: str | None = None) -> Tensor:
        y = keras_conv_transpose(
            x, self.kernel, self.strides, self.padding, self.output_padding, self.dilation_rate
        )
        if self.bias is not None:
            y = F.bias_add(y, self.bias, 1)
        return F.relu(y) if activation == "relu" else y

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        spatial = tuple(length for _, length in self._geometry(self._spatial(input_shape)))
        if self.data_format == "channels_last":
            return (input_shape[0], *spatial, self.filters)
        return (input_shape[0], self.filters, *spatial)

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.pop("groups", None)
        op = self.output_padding
        cfg["output_padding"] = None if op is None else list(op)
        return cfg


class Conv2DTranspose(_ConvTranspose):
    """Transposed 2-D convolution (a "deconvolution"): upsamples images, e.g.
    ``Conv2DTranspose(32, 2, strides=2)`` doubles the height and width."""

    _rank = 2
    _keras_layouts = {"kernel": (2, 3, 1, 0)}


class Conv1DTranspose(_ConvTranspose):
    """Transposed 1-D convolution over sequences (batch, steps, channels)."""

    _rank = 1
    _keras_layouts = {"kernel": (2, 1, 0)}


class Conv3DTranspose(_ConvTranspose):
    """Transposed 3-D convolution over volumes (batch, depth, rows, cols, channels)."""

    _rank = 3
    _keras_layouts = {"kernel": (2, 3, 4, 1, 0)}
