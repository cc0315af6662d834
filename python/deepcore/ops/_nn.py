"""Keras 3's ``keras.ops`` neural-network family (``keras.ops.nn``): activations, softmax,
normalisations, the per-sample cross-entropies, convolution and pooling in Keras's layouts,
dot-product attention, psnr; with Keras's names, argument names and defaults.

[Note: keras.ops.nn over F] These run on the native kernels of ``deepcore.nn.functional``
(activations, softmax, conv, pool, layer norm, losses, attention) and on Tensor ops, so every
one is differentiable and none loops in Python. ``F`` is fetched on first use (``_F()``), not
at import: ``deepcore.nn`` imports ``deepcore.ops`` while it initialises, and the modules of
``deepcore.nn.functional`` import the concern modules of ``deepcore.ops``
(``ops._elementwise``, ...), never this package, so the import graph stays acyclic
(tests/test_structure.py). Where Keras's and PyTorch's conventions differ, these take Keras's:

* ``gelu(x, approximate=True)``: the tanh form by default (``F.gelu`` defaults to the exact);
* ``leaky_relu`` slope 0.2; ``hard_sigmoid`` relu6(x + 3) / 6; ``softplus`` exact for all x;
* ``conv`` / ``depthwise_conv`` / ``separable_conv`` / ``max_pool`` / ``average_pool``:
  ``data_format`` None is "channels_last" (Keras's default), kernels (*k, in/groups, out),
  depthwise kernels (*k, in, multiplier); 'same' padding splits as TensorFlow does (the odd
  element after); 'same' average pooling divides by the number of input elements in a window;
* cross-entropies take ``(target, output)`` and return the loss per sample (binary: per element),
  not a mean;
* ``dot_product_attention`` takes (batch, length, heads, head_dim) tensors.
"""

from __future__ import annotations

import functools
import math
from types import ModuleType
from typing import Any

import numpy as np

from .._array import array_module
from ..tensor import Tensor
from ._common import _norm_axes, _norm_axis
from ._elementwise import abs as _abs
from ._elementwise import cast, clip, maximum, sqrt, where
from ._indexing import one_hot
from ._math import log10, rsqrt
from ._numpy_extra import _t
from ._rearrange import repeat
from ._reductions import mean, norm, var
from ._reductions import sum as _sum
from ._shape import moveaxis, permute, reshape, squeeze

__all__ = [
    "relu",
    "relu6",
    "sigmoid",
    "tanh",
    "softplus",
    "softsign",
    "silu",
    "swish",
    "log_sigmoid",
    "leaky_relu",
    "hard_sigmoid",
    "hard_silu",
    "hard_swish",
    "sparse_sigmoid",
    "elu",
    "selu",
    "gelu",
    "celu",
    "glu",
    "hard_tanh",
    "soft_shrink",
    "hard_shrink",
    "tanh_shrink",
    "squareplus",
    "sparse_plus",
    "threshold",
    "softmax",
    "log_softmax",
    "moments",
    "normalize",
    "batch_normalization",
    "layer_normalization",
    "rms_normalization",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "binary_crossentropy",
    "multi_hot",
    "conv",
    "conv_transpose",
    "depthwise_conv",
    "separable_conv",
    "max_pool",
    "average_pool",
    "dot_product_attention",
    "psnr",
    "ctc_loss",
    "ctc_decode",
]

#: Keras's backend.epsilon(), the default of every ``epsilon=None`` here
_EPSILON = 1e-7


@functools.cache
def _F() -> ModuleType:
    """deepcore.nn.functional, imported on first use ([Note: keras.ops.nn over F])."""
    from ..nn import functional

    return functional


def _float(x: Any, fn: str, name: str = "x") -> Tensor:
    """``x`` as a floating Tensor (``_t``'s conversion; integers and bools to float32)."""
    t = _t(x, fn, name)
    if t.dtype.kind != "f":
        t = Tensor._wrap(t.data.astype(np.float32))
    return t


def _number(v: Any, fn: str, name: str) -> float:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{fn}: {name} must be a number, got {v!r}")
    return float(v)


# ------------------------------------------------------------------------------ activations
def _activation(name: str, f_name: str, doc: str, **fixed: Any) -> Any:
    """The Keras op ``name``: F.<f_name> (with ``fixed`` arguments) on ``x`` as a float
    tensor."""

    def op(x: Any) -> Tensor:
        return getattr(_F(), f_name)(_float(x, name), **fixed)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return op


relu = _activation("relu", "relu", "max(x, 0).")
relu6 = _activation("relu6", "relu6", "min(max(x, 0), 6).")
sigmoid = _activation("sigmoid", "sigmoid", "1 / (1 + exp(-x)).")
tanh = _activation("tanh", "tanh", "Hyperbolic tangent (native kernel; gradient 1 - y²).")
softplus = _activation(
    "softplus", "softplus", "log(1 + exp(x)), stable for every x (no cut-off).", threshold=math.inf
)
softsign = _activation("softsign", "softsign", "x / (1 + |x|).")
silu = _activation("silu", "swish", "x · sigmoid(x) (``swish`` is the same op).")
swish = silu
log_sigmoid = _activation("log_sigmoid", "log_sigmoid", "log(sigmoid(x)) = -softplus(-x).")
hard_sigmoid = _activation("hard_sigmoid", "hard_sigmoid", "relu6(x + 3) / 6.")
hard_silu = _activation(
    "hard_silu", "hard_swish", "x · relu6(x + 3) / 6 (``hard_swish`` is the same op)."
)
hard_swish = hard_silu
sparse_sigmoid = _activation(
    "sparse_sigmoid",
    "hard_sigmoid",
    "0 for x <= -1, 1 for x >= 1, (x + 1) / 2 between.",
    slope=0.5,
    offset=0.5,
)
selu = _activation("selu", "selu", "scale · elu(x, alpha) with the self-normalising constants.")
hard_tanh = _activation("hard_tanh", "hard_tanh", "clip(x, -1, 1).")


def leaky_relu(x: Any, negative_slope: float = 0.2) -> Tensor:
    """x if x >= 0 else negative_slope · x (Keras's default slope 0.2)."""
    return _F().leaky_relu(
        _float(x, "leaky_relu"), _number(negative_slope, "leaky_relu", "negative_slope")
    )


def elu(x: Any, alpha: float = 1.0) -> Tensor:
    """x if x > 0 else alpha · (exp(x) - 1)."""
    return _F().elu(_float(x, "elu"), _number(alpha, "elu", "alpha"))


def gelu(x: Any, approximate: bool = True) -> Tensor:
    """Gaussian error linear unit: the tanh approximation when ``approximate`` (Keras's
    default), else the exact x · Φ(x)."""
    if not isinstance(approximate, (bool, np.bool_)):
        raise TypeError(f"gelu: approximate must be a bool, got {approximate!r}")
    return _F().gelu(_float(x, "gelu"), "tanh" if approximate else "none")


def celu(x: Any, alpha: float = 1.0) -> Tensor:
    """max(0, x) + min(0, alpha · (exp(x / alpha) - 1))."""
    return _F().celu(_float(x, "celu"), _number(alpha, "celu", "alpha"))


def glu(x: Any, axis: int = -1) -> Tensor:
    """a · sigmoid(b) for the two halves a, b of ``axis`` (which must have an even size)."""
    return _F().glu(_float(x, "glu"), axis)


def _threshold_arg(fn: str, t: Any) -> float:
    t = _number(t, fn, "threshold")
    if t < 0:
        raise ValueError(f"{fn}: threshold must be >= 0, got {t}")
    return t


def soft_shrink(x: Any, threshold: float = 0.5) -> Tensor:
    """x - threshold above threshold, x + threshold below -threshold, 0 between."""
    t = _threshold_arg("soft_shrink", threshold)
    x = _float(x, "soft_shrink")
    return x - clip(x, -t, t)


def hard_shrink(x: Any, threshold: float = 0.5) -> Tensor:
    """x where |x| > threshold, else 0."""
    t = _threshold_arg("hard_shrink", threshold)
    x = _float(x, "hard_shrink")
    return where(_abs(x.detach()) > t, x, 0.0)


def tanh_shrink(x: Any) -> Tensor:
    """x - tanh(x)."""
    x = _float(x, "tanh_shrink")
    return x - _F().tanh(x)


def squareplus(x: Any, b: float = 4) -> Tensor:
    """(x + sqrt(x² + b)) / 2, a smooth relu; ``b`` >= 0."""
    b = _number(b, "squareplus", "b")
    if b < 0:
        raise ValueError(f"squareplus: b must be >= 0, got {b}")
    x = _float(x, "squareplus")
    return (x + sqrt(x * x + b)) * 0.5


def sparse_plus(x: Any) -> Tensor:
    """0 for x <= -1, x for x >= 1, (x + 1)² / 4 between (a once-differentiable relu)."""
    x = _float(x, "sparse_plus")
    xd = x.detach()
    mid = (x + 1.0) * (x + 1.0) * 0.25
    return where(xd <= -1.0, 0.0, where(xd >= 1.0, x, mid))


def threshold(x: Any, threshold: float, default_value: float) -> Tensor:
    """x where x > threshold, else ``default_value``."""
    t = _number(threshold, "threshold", "threshold")
    v = _number(default_value, "threshold", "default_value")
    return _F().threshold(_float(x, "threshold"), t, v)


def softmax(x: Any, axis: int | None = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along ``axis`` (None: over all elements)."""
    x = _float(x, "softmax")
    if axis is None:
        return reshape(_F().softmax(reshape(x, -1), -1), x.shape)
    return _F().softmax(x, _norm_axis(axis, max(x.ndim, 1)) if x.ndim else axis)


def log_softmax(x: Any, axis: int | None = -1) -> Tensor:
    """x - logsumexp(x) along ``axis`` (None: over all elements)."""
    x = _float(x, "log_softmax")
    if axis is None:
        return reshape(_F().log_softmax(reshape(x, -1), -1), x.shape)
    return _F().log_softmax(x, _norm_axis(axis, max(x.ndim, 1)) if x.ndim else axis)


# --------------------------------------------------------------------------- normalisation
def moments(x: Any, axes: Any, keepdims: bool = False, synchronized: bool = False) -> tuple:
    """(mean, variance) of ``x`` over ``axes`` (the biased variance). ``synchronized`` (a
    cross-replica reduction in Keras) changes nothing on one process."""
    x = _float(x, "moments")
    if axes is None:
        raise TypeError("moments: axes must be an int or a list of ints, got None")
    ax = _norm_axes(axes, x.ndim)
    return mean(x, ax, keepdims), var(x, ax, keepdims)


def _epsilon(fn: str, epsilon: Any) -> float:
    if epsilon is None:
        return _EPSILON
    e = _number(epsilon, fn, "epsilon")
    if e < 0:
        raise ValueError(f"{fn}: epsilon must be >= 0, got {e}")
    return e


def normalize(x: Any, axis: int = -1, order: int = 2, epsilon: float | None = None) -> Tensor:
    """x / max(‖x‖_order, epsilon) along ``axis`` (``order`` as ``norm``'s ``ord``)."""
    x = _float(x, "normalize")
    eps = _epsilon("normalize", epsilon)
    if x.ndim == 0:
        x = reshape(x, 1)
    ax = _norm_axes(axis, x.ndim)
    return x / maximum(norm(x, ord=order, axis=ax[0] if len(ax) == 1 else ax, keepdims=True), eps)


def _channel_param(p: Any, fn: str, name: str, x: Tensor, axis: int) -> Any:
    """A per-channel (C,) parameter as a tensor broadcasting along ``axis``; anything that
    already broadcasts against x is taken as it is."""
    if p is None or isinstance(p, (int, float)):
        return p
    t = _float(p, fn, name)
    if t.ndim == 1 and x.ndim > 1 and t.shape[0] == x.shape[axis]:
        shape = [1] * x.ndim
        shape[axis] = t.shape[0]
        return reshape(t, tuple(shape))
    try:
        np.broadcast_shapes(t.shape, x.shape)
    except ValueError:
        raise ValueError(
            f"{fn}: {name} of shape {t.shape} does not match x of shape {x.shape} along axis {axis}"
        ) from None
    return t


def batch_normalization(
    x: Any,
    mean: Any,
    variance: Any,
    axis: int,
    offset: Any = None,
    scale: Any = None,
    epsilon: float = 1e-3,
) -> Tensor:
    """(x - mean) / sqrt(variance + epsilon) · scale + offset, with ``mean``, ``variance``,
    ``offset``, ``scale`` of shape (x.shape[axis],) (Keras's: the statistics are given)."""
    fn = "batch_normalization"
    x = _float(x, fn)
    ax = _norm_axis(axis, x.ndim)
    eps = _epsilon(fn, epsilon)
    m = _channel_param(mean, fn, "mean", x, ax)
    v = _channel_param(variance, fn, "variance", x, ax)
    inv = rsqrt(v + eps)
    s = _channel_param(scale, fn, "scale", x, ax)
    if s is not None:
        inv = inv * s
    y = (x - m) * inv
    o = _channel_param(offset, fn, "offset", x, ax)
    return y if o is None else y + o


def layer_normalization(
    x: Any,
    gamma: Any = None,
    beta: Any = None,
    axis: Any = -1,
    epsilon: float | None = None,
    **kwargs: Any,
) -> Tensor:
    """(x - mean) / sqrt(var + epsilon) · gamma + beta over ``axis`` (int or list of ints);
    the last axis alone runs the fused layer-norm kernel."""
    fn = "layer_normalization"
    if kwargs.keys() - {"rms_scaling"}:
        raise TypeError(f"{fn}: unexpected arguments {sorted(kwargs.keys() - {'rms_scaling'})}")
    if kwargs.get("rms_scaling"):
        return rms_normalization(x, 1.0 if gamma is None else gamma, axis, epsilon)
    x = _float(x, fn)
    eps = _epsilon(fn, epsilon)
    if x.ndim == 0:
        raise ValueError(f"{fn}: x must have at least one dimension")
    ax = _norm_axes(axis, x.ndim)
    if ax == (x.ndim - 1,):
        g = None if gamma is None else _float(gamma, fn, "gamma")
        b = None if beta is None else _float(beta, fn, "beta")
        c = x.shape[-1]
        for name, p in (("gamma", g), ("beta", b)):
            if p is not None and p.shape != (c,):
                raise ValueError(f"{fn}: {name} must have shape ({c},), got {p.shape}")
        dt = x.dtype
        g = None if g is None else g.astype(dt) if g.dtype != dt else g
        b = None if b is None else b.astype(dt) if b.dtype != dt else b
        return _F().layer_norm(x, c, g, b, eps)
    m = mean(x, ax, True)
    y = (x - m) * rsqrt(var(x, ax, True) + eps)
    if gamma is not None:
        y = y * _channel_param(gamma, fn, "gamma", x, ax[-1])
    if beta is not None:
        y = y + _channel_param(beta, fn, "beta", x, ax[-1])
    return y


def rms_normalization(
    x: Any, scale: Any = 1, axis: Any = -1, epsilon: float | None = None
) -> Tensor:
    """x · rsqrt(mean(x², axis) + epsilon) · scale."""
    fn = "rms_normalization"
    x = _float(x, fn)
    if x.ndim == 0:
        raise ValueError(f"{fn}: x must have at least one dimension")
    ax = _norm_axes(axis, x.ndim)
    y = x * rsqrt(mean(x * x, ax, True) + _epsilon(fn, epsilon))
    if scale is None:
        return y
    return y * _channel_param(scale, fn, "scale", x, ax[-1])


# --------------------------------------------------------------------------- cross-entropy
def _class_last(t: Tensor, axis: int, fn: str) -> Tensor:
    a = _norm_axis(axis, t.ndim)
    return t if a == t.ndim - 1 else moveaxis(t, a, -1)


def categorical_crossentropy(
    target: Any, output: Any, from_logits: bool = False, axis: int = -1
) -> Tensor:
    """-sum(target · log(output)) over ``axis``, per sample (output rescaled to sum to 1 and
    clipped to [eps, 1 - eps] as Keras does; ``from_logits`` uses log_softmax)."""
    fn = "categorical_crossentropy"
    o, t = _float(output, fn, "output"), _float(target, fn, "target")
    if o.shape != t.shape:
        raise ValueError(f"{fn}: target shape {t.shape} must equal output shape {o.shape}")
    if o.ndim == 0:
        raise ValueError(f"{fn}: output must have a class axis")
    if t.dtype != o.dtype:
        t = t.astype(o.dtype)
    o, t = _class_last(o, axis, fn), _class_last(t, axis, fn)
    return _F().categorical_crossentropy(o, t, from_logits=bool(from_logits), reduction="none")


def sparse_categorical_crossentropy(
    target: Any, output: Any, from_logits: bool = False, axis: int = -1
) -> Tensor:
    """-log(output[target]) per sample, ``target`` integer class indices (a trailing axis of
    size 1 is dropped, as Keras does)."""
    fn = "sparse_categorical_crossentropy"
    o = _float(output, fn, "output")
    if o.ndim == 0:
        raise ValueError(f"{fn}: output must have a class axis")
    t = _t(target, fn)
    if t.ndim == o.ndim and t.ndim and t.shape[-1] == 1:
        t = squeeze(t, -1)
    o = _class_last(o, axis, fn)
    if t.shape != o.shape[:-1]:
        raise ValueError(
            f"{fn}: target shape {t.shape} must be output's shape without the class axis, "
            f"{o.shape[:-1]}"
        )
    return _F().sparse_categorical_crossentropy(
        o, t.detach().data, from_logits=bool(from_logits), reduction="none"
    )


def binary_crossentropy(target: Any, output: Any, from_logits: bool = False) -> Tensor:
    """-(target · log(output) + (1 - target) · log(1 - output)) element-wise (output clipped
    to [eps, 1 - eps]; ``from_logits`` computes it stably from logits)."""
    fn = "binary_crossentropy"
    o, t = _float(output, fn, "output"), _float(target, fn, "target")
    if o.shape != t.shape:
        raise ValueError(f"{fn}: target shape {t.shape} must equal output shape {o.shape}")
    if t.dtype != o.dtype:
        t = t.astype(o.dtype)
    if from_logits:
        return _F().binary_cross_entropy_with_logits(o, t, reduction="none")
    return _F().binary_cross_entropy(o, t, reduction="none")


def multi_hot(
    inputs: Any,
    num_classes: int | None = None,
    axis: int = -1,
    dtype: Any = None,
    sparse: bool = False,
    **kwargs: Any,
) -> Tensor:
    """1 at every class index that occurs in a row of ``inputs`` (integer indices, shape
    (batch, n) -> (batch, num_classes), or (n,) -> (num_classes,))."""
    fn = "multi_hot"
    if num_classes is None:
        num_classes = kwargs.pop("num_tokens", None)
    if kwargs:
        raise TypeError(f"{fn}: unexpected arguments {sorted(kwargs)}")
    if sparse:
        raise ValueError(f"{fn}: deepcore has no sparse tensors (sparse=True)")
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise TypeError(f"{fn}: num_classes must be an int, got {num_classes!r}")
    x = _t(inputs, fn)
    if x.dtype.kind not in "iu":
        raise TypeError(f"{fn}: inputs must hold integer class indices, got {x.dtype}")
    reduce_axis = 1 if x.ndim > 1 else 0
    oh = one_hot(x, int(num_classes), axis=axis, dtype="int32")
    # a count > 0, not a max: a row of no indices (or an empty batch) gives zeros
    return cast(_sum(oh, reduce_axis) > 0, dtype or "float32")


# ----------------------------------------------------------------------- conv and pooling
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
) -> tuple[Tensor, Tensor, int, bool]:
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
    return x, k, nsp, last


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
    x, k, nsp, last = _conv_prepare(fn, inputs, kernel, data_format)
    cin = x.shape[-1] if last else x.shape[1]
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
    t = (v,) * n if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else tuple(v)
    if len(t) != n or any(
        isinstance(i, bool) or not isinstance(i, (int, np.integer)) or i < minimum for i in t
    ):
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
    x, k, nsp, last = _conv_prepare(fn, inputs, kernel, data_format)
    cin = x.shape[-1] if last else x.shape[1]
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
    x, k, nsp, last = _conv_prepare(fn, inputs, kernel, data_format)
    cin = x.shape[-1] if last else x.shape[1]
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


# ------------------------------------------------------------------------------- attention
def dot_product_attention(
    query: Any,
    key: Any,
    value: Any,
    bias: Any = None,
    mask: Any = None,
    scale: float | None = None,
    is_causal: bool = False,
    flash_attention: bool | None = None,
    attn_logits_soft_cap: float | None = None,
) -> Tensor:
    """softmax(q k^T · scale + bias, masked) v with Keras's (B, T, N, H) layout: query (B, T,
    N, H), key and value (B, S, K, H) with N a multiple of K (grouped-query attention: query
    head n reads key/value head n // (N / K)). ``mask`` is boolean (True takes part),
    ``bias`` is added to the logits (both broadcast to (B, N, T, S)); ``scale`` defaults to
    1 / sqrt(H); ``is_causal`` lets query t see keys s <= t. ``attn_logits_soft_cap`` c maps
    the logits through c · tanh(logits / c). A query that no key may attend gives zeros.
    ``flash_attention`` is accepted and changes nothing: the fused kernel always runs."""
    fn = "dot_product_attention"
    q, k, v = (_float(a, fn, n) for a, n in ((query, "query"), (key, "key"), (value, "value")))
    for name, t in (("query", q), ("key", k), ("value", v)):
        if t.ndim != 4:
            raise ValueError(
                f"{fn}: {name} must be 4-D (batch, length, heads, head_dim), got {t.shape}"
            )
    if k.shape != v.shape[:3] + (k.shape[3],) or k.shape[:3] != v.shape[:3]:
        raise ValueError(f"{fn}: key {k.shape} and value {v.shape} must agree on (B, S, K)")
    n_heads, kv_heads = q.shape[2], k.shape[2]
    if q.shape[0] != k.shape[0] or q.shape[3] != k.shape[3]:
        raise ValueError(f"{fn}: query {q.shape} and key {k.shape} must agree on B and H")
    if kv_heads == 0 or n_heads % kv_heads:
        raise ValueError(
            f"{fn}: the query's heads ({n_heads}) must be a multiple of the key's ({kv_heads})"
        )
    if not isinstance(is_causal, (bool, np.bool_)):
        raise TypeError(f"{fn}: is_causal must be a bool, got {is_causal!r}")
    dt = q.dtype
    k, v = (t if t.dtype == dt else t.astype(dt) for t in (k, v))
    if kv_heads != n_heads:
        g = n_heads // kv_heads
        k, v = repeat(k, g, axis=2), repeat(v, g, axis=2)
    qh, kh, vh = (permute(t, 0, 2, 1, 3) for t in (q, k, v))
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[3]) if q.shape[3] else 1.0
    scale = _number(scale, fn, "scale")
    m = None if mask is None else _t(mask, fn)
    if m is not None and m.dtype.kind != "b":
        raise TypeError(f"{fn}: mask must be boolean (True takes part), got {m.dtype}")
    b = None if bias is None else _float(bias, fn, "bias")
    if attn_logits_soft_cap is not None:
        cap = _number(attn_logits_soft_cap, fn, "attn_logits_soft_cap")
        if cap <= 0:
            raise ValueError(f"{fn}: attn_logits_soft_cap must be > 0, got {cap}")
        logits = _F().tanh((qh @ permute(kh, 0, 1, 3, 2)) * (scale / cap)) * cap
        if b is not None:
            logits = logits + b
        keep = _keep_mask(m, is_causal, logits)
        if keep is not None:
            logits = where(keep, logits, -math.inf)
        p = _F().softmax(logits, -1)
        if keep is not None:  # rows with no key: zeros, not NaN
            p = where(keep, p, 0.0)
        return permute(p @ vh, 0, 2, 1, 3)
    attn = None
    if b is not None:
        attn = b if b.dtype == dt else b.astype(dt)
        if m is not None:
            attn = where(m, attn, -math.inf)
    elif m is not None:
        attn = m
    out = _F().scaled_dot_product_attention(
        qh, kh, vh, attn_mask=attn, is_causal=bool(is_causal), scale=scale
    )
    return permute(out, 0, 2, 1, 3)


def _keep_mask(m: Tensor | None, causal: bool, like: Tensor) -> Tensor | None:
    """The boolean (B, N, T, S) mask of logits that take part (``mask`` and causality)."""
    xp = array_module(like.data)
    keep = None if m is None else m.detach().data
    if causal:
        t, s = like.shape[-2], like.shape[-1]
        tri = xp.tril(xp.ones((t, s), dtype=bool))
        keep = tri if keep is None else keep & tri
    if keep is None:
        return None
    out = xp.empty(like.shape, dtype=bool)
    out[...] = keep
    return Tensor._wrap(out)


# ---------------------------------------------------------------------------------- metrics
def psnr(x1: Any, x2: Any, max_val: float) -> Tensor:
    """Peak signal-to-noise ratio 20 log10(max_val) - 10 log10(mean((x1 - x2)²)) over all
    elements (a scalar)."""
    fn = "psnr"
    a, b = _float(x1, fn, "x1"), _float(x2, fn, "x2")
    if a.shape != b.shape:
        raise ValueError(f"{fn}: x1 {a.shape} and x2 {b.shape} must have the same shape")
    mv = _number(max_val, fn, "max_val")
    if mv <= 0:
        raise ValueError(f"{fn}: max_val must be > 0, got {mv}")
    d = a - b
    return 20.0 * math.log10(mv) - 10.0 * log10(mean(d * d))


def ctc_loss(
    target: Any, output: Any, target_length: Any, output_length: Any, mask_index: int = 0
) -> Tensor:
    """Keras's ``ctc_loss``: the CTC negative log-likelihood per sample, (batch,), of the
    integer labels ``target`` (batch, max_label_length; sample n's first target_length[n])
    under the logits ``output`` (batch, max_length, classes; its first output_length[n]
    steps), class ``mask_index`` the blank. log_softmax, then the native recursion of
    ``F.ctc_loss`` (csrc/ctc.h); differentiable in ``output``."""
    out = _float(output, "ctc_loss", "output")
    if out.ndim != 3:
        raise ValueError(f"ctc_loss: output must be (batch, max_length, classes), got {out.shape}")
    tgt = _t(target, "ctc_loss", "target")
    if tgt.dtype.kind not in "iu":
        raise TypeError(f"ctc_loss: target must hold integer labels, got {tgt.dtype}")
    if isinstance(mask_index, bool) or not isinstance(mask_index, (int, np.integer)):
        raise TypeError(f"ctc_loss: mask_index must be an int, got {mask_index!r}")
    F = _F()
    log_probs = permute(F.log_softmax(out, axis=-1), (1, 0, 2))
    tl = _t(target_length, "ctc_loss", "target_length").data.astype(np.int64)
    ol = _t(output_length, "ctc_loss", "output_length").data.astype(np.int64)
    return F.ctc_loss(
        log_probs, tgt.data.astype(np.int64), ol, tl, blank=int(mask_index), reduction="none"
    )


def ctc_decode(
    inputs: Any,
    sequence_lengths: Any,
    strategy: str = "greedy",
    beam_width: int = 100,
    top_paths: int = 1,
    merge_repeated: bool = True,
    mask_index: int | None = 0,
) -> tuple[Tensor, Tensor]:
    """Keras's ``ctc_decode`` with the greedy strategy (what its PyTorch backend offers): the
    best class per step of ``inputs`` (batch, max_length, classes), steps past
    sequence_lengths[n] blank, repeats merged (``merge_repeated``), blanks (``mask_index``;
    None: the last class) dropped and the labels moved to the front, the rest -1. Returns
    (labels (1, batch, max_length) int32, scores (batch, 1): minus the sum of the chosen
    inputs). Vectorised over steps; no gradient. ``strategy="beam_search"`` is not
    implemented (NotImplementedError, as on Keras's PyTorch backend)."""
    if strategy == "beam_search":
        raise NotImplementedError("ctc_decode: the beam_search strategy is not implemented")
    if strategy != "greedy":
        raise ValueError(
            f"ctc_decode: strategy must be 'greedy' or 'beam_search', got {strategy!r}"
        )
    x = _float(inputs, "ctc_decode", "inputs")
    if x.ndim != 3 or x.shape[2] == 0:
        raise ValueError(f"ctc_decode: inputs must be (batch, max_length, classes), got {x.shape}")
    B, T, C = x.shape
    blank = C - 1 if mask_index is None else mask_index
    if isinstance(blank, bool) or not isinstance(blank, (int, np.integer)) or not 0 <= blank < C:
        raise ValueError(f"ctc_decode: mask_index must be an int in [0, {C}), got {mask_index!r}")
    lengths = _t(sequence_lengths, "ctc_decode", "sequence_lengths").data
    if lengths.shape != (B,) or lengths.dtype.kind not in "iu":
        raise ValueError(
            f"ctc_decode: sequence_lengths must be {B} integers, got {lengths.dtype} "
            f"{lengths.shape}"
        )
    xp = array_module(x.data)
    best = x.data.argmax(axis=-1)
    scores = x.data.max(axis=-1)
    past = xp.arange(T)[None, :] >= lengths[:, None]
    best = xp.where(past, blank, best)
    scores = xp.where(past, 0.0, scores)
    if merge_repeated and T > 1:
        repeat = xp.zeros((B, T), bool)
        repeat[:, 1:] = best[:, 1:] == best[:, :-1]
        best = xp.where(repeat, blank, best)
    dropped = best == blank
    best = xp.where(dropped, -1, best)
    order = xp.argsort(xp.where(dropped, T, xp.arange(T)[None, :]), axis=-1, kind="stable")
    labels = xp.take_along_axis(best, order, axis=-1).astype("int32")[None]
    return Tensor._wrap(labels), Tensor._wrap(-scores.sum(axis=1, keepdims=True))
