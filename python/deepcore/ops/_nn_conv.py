"""Keras's ``keras.ops`` convolution and pooling in Keras's layouts (``conv``,
``conv_transpose``, ``depthwise_conv``, ``separable_conv``, ``max_pool``, ``average_pool``)
over deepcore.nn.functional's kernels ([Note: keras.ops.nn over F] in _nn.py): ``data_format``
None is "channels_last", kernels (*k, in/groups, out), transposed kernels (*k, out, in),
depthwise kernels (*k, in, multiplier); 'same' padding splits as TensorFlow does."""

from __future__ import annotations

from typing import Any

from .._checks import is_int
from ..tensor import Tensor
from ._nn import _F, _float
from ._shape import moveaxis, permute, reshape

__all__ = [
    "conv",
    "conv_transpose",
    "depthwise_conv",
    "separable_conv",
    "max_pool",
    "average_pool",
]


def _spatial(fn: str, x: Tensor, data_format: Any) -> tuple[int, bool]:
    """(number of spatial axes, channels_last?) after checking rank and ``data_format``."""
    fmt = "channels_last" if data_format is None else data_format
    if fmt not in ("channels_last", "channels_first"):
        raise ValueError(
            f"{fn}: data_format must be 'channels_last' or 'channels_first', got {data_format!r}"
        )
    nsp = x.ndim - 2
    if nsp not in (1, 2):
        raise ValueError(
            f"{fn}: inputs must be 3-D (batch, length, channels) or 4-D (batch, height, width, "
            f"channels), got shape {x.shape} (3-D convolution and pooling are not supported)"
        )
    return nsp, fmt == "channels_last"


def _padding(fn: str, padding: Any) -> str:
    p = padding.lower() if isinstance(padding, str) else padding
    if p not in ("valid", "same"):
        raise ValueError(f"{fn}: padding must be 'valid' or 'same', got {padding!r}")
    return p


def _to_first(x: Tensor, last: bool) -> Tensor:
    return moveaxis(x, -1, 1) if last else x


def _to_last(y: Tensor, last: bool) -> Tensor:
    return moveaxis(y, 1, -1) if last else y


def _torch_kernel(k: Tensor, nsp: int) -> Tensor:
    """A Keras kernel (*k, in, out) as a PyTorch weight (out, in, *k)."""
    return permute(k, nsp + 1, nsp, *range(nsp))


def _conv_prepare(
    fn: str, inputs: Any, kernel: Any, data_format: Any
) -> tuple[Tensor, Tensor, int, bool, int]:
    """(inputs, kernel in the inputs' dtype, spatial rank, channels last?, input channels)."""
    x = _float(inputs, fn, "inputs")
    k = _float(kernel, fn, "kernel")
    nsp, last = _spatial(fn, x, data_format)
    if k.ndim != nsp + 2:
        raise ValueError(
            f"{fn}: kernel must have {nsp + 2} dimensions (*kernel_size, in, out) for "
            f"{nsp}-D inputs, got shape {k.shape}"
        )
    if k.dtype != x.dtype:
        k = k.astype(x.dtype)
    return x, k, nsp, last, x.shape[-1] if last else x.shape[1]


def _run_conv(
    x: Tensor,
    w: Tensor,
    nsp: int,
    last: bool,
    strides: Any,
    padding: str,
    dilation: Any,
    groups: int,
) -> Tensor:
    conv = _F().conv1d if nsp == 1 else _F().conv2d
    y = conv(_to_first(x, last), _torch_kernel(w, nsp), None, strides, padding, dilation, groups)
    return _to_last(y, last)


def conv(
    inputs: Any,
    kernel: Any,
    strides: Any = 1,
    padding: str = "valid",
    data_format: str | None = None,
    dilation_rate: Any = 1,
) -> Tensor:
    """N-D convolution (N = 1, 2): inputs (batch, *spatial, in) (channels_last) or (batch, in,
    *spatial), kernel (*kernel_size, in / groups, out); groups = in / kernel.shape[-2]."""
    fn = "conv"
    x, k, nsp, last, cin = _conv_prepare(fn, inputs, kernel, data_format)
    kin = k.shape[-2]
    if kin == 0 or cin % kin:
        raise ValueError(
            f"{fn}: the kernel's input channels ({kin}) must divide the inputs' channels ({cin})"
        )
    groups = cin // kin
    if k.shape[-1] % groups:
        raise ValueError(
            f"{fn}: the kernel's output channels ({k.shape[-1]}) must be a multiple of the "
            f"number of groups ({groups})"
        )
    return _run_conv(x, k, nsp, last, strides, _padding(fn, padding), dilation_rate, groups)


def _ints(fn: str, name: str, v: Any, n: int, minimum: int) -> tuple[int, ...]:
    t = (v,) * n if is_int(v) else tuple(v)
    if len(t) != n or any(not is_int(i) or i < minimum for i in t):
        raise ValueError(f"{fn}: {name} must be an int >= {minimum} or {n} of them, got {v!r}")
    return tuple(int(i) for i in t)


def conv_transpose(
    inputs: Any,
    kernel: Any,
    strides: Any = 1,
    padding: str = "valid",
    output_padding: Any = None,
    data_format: str | None = None,
    dilation_rate: Any = 1,
) -> Tensor:
    """Keras's N-D transposed convolution (N = 1, 2): inputs (batch, *spatial, in)
    (channels_last) or (batch, in, *spatial), kernel (*kernel_size, out, in); Keras's output
    sizes (``output_padding`` None: 'valid' n * stride + max(k - stride, 0), 'same'
    n * stride), the layers' kernels (keras_conv_transpose in nn/functional/_conv.py)."""
    fn = "conv_transpose"
    x, k, nsp, last, cin = _conv_prepare(fn, inputs, kernel, data_format)
    if k.shape[-1] != cin:
        raise ValueError(
            f"{fn}: the kernel's last axis ({k.shape[-1]}) must be the inputs' channels ({cin})"
        )
    st = _ints(fn, "strides", strides, nsp, 1)
    dil = _ints(fn, "dilation_rate", dilation_rate, nsp, 1)
    op = None if output_padding is None else _ints(fn, "output_padding", output_padding, nsp, 0)
    if op is not None and any(o >= max(s, d) for o, s, d in zip(op, st, dil)):
        raise ValueError(f"{fn}: output_padding {op} must be smaller than the strides {st}")
    from ..nn.functional._conv import keras_conv_transpose

    w = _torch_kernel(k, nsp)  # (*k, out, in) -> (in, out, *k): PyTorch's transposed layout
    y = keras_conv_transpose(_to_first(x, last), w, st, _padding(fn, padding), op, dil)
    return _to_last(y, last)


def depthwise_conv(
    inputs: Any,
    kernel: Any,
    strides: Any = 1,
    padding: str = "valid",
    data_format: str | None = None,
    dilation_rate: Any = 1,
) -> Tensor:
    """Depthwise convolution: kernel (*kernel_size, in, multiplier); output channel
    c · multiplier + m is input channel c convolved with kernel[..., c, m]."""
    fn = "depthwise_conv"
    x, k, nsp, last, cin = _conv_prepare(fn, inputs, kernel, data_format)
    if k.shape[-2] != cin:
        raise ValueError(
            f"{fn}: the kernel's input channels ({k.shape[-2]}) must equal the inputs' channels "
            f"({cin})"
        )
    w = reshape(k, (*k.shape[:nsp], 1, cin * k.shape[-1]))
    return _run_conv(x, w, nsp, last, strides, _padding(fn, padding), dilation_rate, cin)


def separable_conv(
    inputs: Any,
    depthwise_kernel: Any,
    pointwise_kernel: Any,
    strides: Any = 1,
    padding: str = "valid",
    data_format: str | None = None,
    dilation_rate: Any = 1,
) -> Tensor:
    """``depthwise_conv`` then a 1x1 ``conv`` with ``pointwise_kernel`` (*1, in · multiplier,
    out)."""
    fn = "separable_conv"
    y = depthwise_conv(inputs, depthwise_kernel, strides, padding, data_format, dilation_rate)
    pk = _float(pointwise_kernel, fn, "pointwise_kernel")
    nsp = y.ndim - 2
    if pk.ndim != nsp + 2 or any(n != 1 for n in pk.shape[:nsp]):
        raise ValueError(
            f"{fn}: pointwise_kernel must have shape (*[1] * {nsp}, in, out), got {pk.shape}"
        )
    return conv(y, pk, 1, "valid", data_format, 1)


def _pool(
    fn: str, inputs: Any, pool_size: Any, strides: Any, padding: Any, data_format: Any
) -> tuple:
    x = _float(inputs, fn, "inputs")
    nsp, last = _spatial(fn, x, data_format)
    return x, nsp, last, pool_size, pool_size if strides is None else strides, _padding(fn, padding)


def max_pool(
    inputs: Any,
    pool_size: Any,
    strides: Any = None,
    padding: str = "valid",
    data_format: str | None = None,
) -> Tensor:
    """Max pooling over 1 or 2 spatial axes (``strides`` default to ``pool_size``)."""
    x, nsp, last, k, s, p = _pool("max_pool", inputs, pool_size, strides, padding, data_format)
    pool = _F().max_pool1d if nsp == 1 else _F().max_pool2d
    return _to_last(pool(_to_first(x, last), k, s, p), last)


def average_pool(
    inputs: Any,
    pool_size: Any,
    strides: Any = None,
    padding: str = "valid",
    data_format: str | None = None,
) -> Tensor:
    """Average pooling over 1 or 2 spatial axes; a 'same' window at the border is divided by
    the number of input elements it covers (Keras's rule)."""
    x, nsp, last, k, s, p = _pool("average_pool", inputs, pool_size, strides, padding, data_format)
    pool = _F().avg_pool1d if nsp == 1 else _F().avg_pool2d
    return _to_last(pool(_to_first(x, last), k, s, p, count_include_pad=False), last)
