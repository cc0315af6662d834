"""Keras 3's ``keras.ops`` neural-network family (``keras.ops.nn``): activations, softmax,
normalisations, the per-sample cross-entropies, dot-product attention, psnr (convolution and
pooling: _nn_conv.py; CTC: _nn_ctc.py); with Keras's names, argument names and defaults.

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
from .._checks import is_int, is_real
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
    "dot_product_attention",
    "psnr",
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
    if not is_real(v):
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
    if not is_int(num_classes):
        raise TypeError(f"{fn}: num_classes must be an int, got {num_classes!r}")
    x = _t(inputs, fn)
    if x.dtype.kind not in "iu":
        raise TypeError(f"{fn}: inputs must hold integer class indices, got {x.dtype}")
    reduce_axis = 1 if x.ndim > 1 else 0
    oh = one_hot(x, int(num_classes), axis=axis, dtype="int32")
    # a count > 0, not a max: a row of no indices (or an empty batch) gives zeros
    return cast(_sum(oh, reduce_axis) > 0, dtype or "float32")


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
