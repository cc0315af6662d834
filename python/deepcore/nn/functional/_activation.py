"""Activations, softmax and log-softmax as autograd Functions over fused native kernels.

Every activation is one pass of one native kernel family (csrc/activation.h) forward and one
backward, OpenMP-parallel and SIMD on float32 (float64 supported for gradient checks).
[Note: what backward reads] sigmoid, tanh and relu differentiate from their saved output
(y(1-y), 1-y², y>0); the others from their saved input.
"""

from __future__ import annotations

from typing import Any, Callable, Union

import numpy as np

from ... import _C
from ...autograd import Function
from ...tensor import Tensor

__all__ = [
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "elu",
    "selu",
    "softplus",
    "swish",
    "silu",
    "gelu",
    "hard_sigmoid",
    "identity",
    "prelu",
    "softmax",
    "log_softmax",
    "get_activation",
]

ArrayOrTensor = Union[Tensor, np.ndarray]

_READS_OUTPUT = {k: _C.activation_reads_output(k) for k in _C.activation_kinds()}


def _contig(a: np.ndarray) -> np.ndarray:
    # not np.ascontiguousarray: it turns a 0-d array into shape (1,)
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


class _Activation(Function):
    """y = f(x) for a native activation kind with scalar parameters p0, p1."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, kind: str, p0: float, p1: float) -> np.ndarray:
        y = _C.activation_forward(_contig(x), kind, p0, p1)
        ctx.kind, ctx.p0, ctx.p1 = kind, p0, p1
        ctx.save_for_backward(y if _READS_OUTPUT[kind] else x)
        return y

    @staticmethod
    def backward(ctx: Any, gy: np.ndarray) -> np.ndarray:
        (saved,) = ctx.saved
        io = {"y": saved} if _READS_OUTPUT[ctx.kind] else {"x": _contig(saved)}
        return _C.activation_backward(ctx.kind, _contig(gy), p0=ctx.p0, p1=ctx.p1, **io)


class _SwishLearnable(Function):
    """x * sigmoid(beta * x) with beta a (1-element) Tensor that receives a gradient."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, beta: np.ndarray) -> np.ndarray:
        b = float(beta.reshape(-1)[0])
        x = _contig(x)
        ctx.save_for_backward(x, beta)
        ctx.b = b
        return _C.activation_forward(x, "swish", b, 0.0)

    @staticmethod
    def backward(ctx: Any, gy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, beta = ctx.saved
        gx, gb = _C.activation_backward("swish", _contig(gy), x=x, p0=ctx.b, want_dp0=True)
        return gx, np.full(beta.shape, gb, dtype=beta.dtype)


def _act(x: ArrayOrTensor, kind: str, p0: float = 0.0, p1: float = 0.0) -> Tensor:
    return _Activation.apply(x, kind, float(p0), float(p1))


def sigmoid(x: ArrayOrTensor) -> Tensor:
    """Logistic sigmoid 1 / (1 + exp(-x)), stable for large |x|."""
    return _act(x, "sigmoid")


def tanh(x: ArrayOrTensor) -> Tensor:
    return _act(x, "tanh")


def relu(x: ArrayOrTensor) -> Tensor:
    """max(x, 0); the gradient at 0 is 0 (as PyTorch)."""
    return _act(x, "relu")


def leaky_relu(x: ArrayOrTensor, negative_slope: float = 0.01) -> Tensor:
    """x if x > 0 else negative_slope * x (PyTorch's default slope; Keras' LeakyReLU uses 0.3)."""
    return _act(x, "leaky_relu", negative_slope)


def elu(x: ArrayOrTensor, alpha: float = 1.0) -> Tensor:
    """x if x > 0 else alpha * (exp(x) - 1)."""
    return _act(x, "elu", alpha)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(x: ArrayOrTensor) -> Tensor:
    """scale * elu(x, alpha) with Klambauer et al.'s self-normalising constants
    (alpha ≈ 1.6733, scale ≈ 1.0507)."""
    return _act(x, "selu", _SELU_ALPHA, _SELU_SCALE)


def softplus(x: ArrayOrTensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """(1/beta) * log(1 + exp(beta * x)), and x itself where beta * x > threshold (PyTorch)."""
    if beta <= 0:
        raise ValueError(f"softplus: beta must be > 0, got {beta}")
    return _act(x, "softplus", beta, threshold)


def swish(x: ArrayOrTensor, beta: float | Tensor = 1.0) -> Tensor:
    """x * sigmoid(beta * x). ``beta`` a float (fixed) or a one-element Tensor (learnable: it
    receives the gradient sum(gy * x² σ(βx)(1-σ(βx))))."""
    if isinstance(beta, Tensor):
        if beta.size != 1:
            raise ValueError(f"swish: beta must have exactly one element, got shape {beta.shape}")
        xd = x.dtype if isinstance(x, (Tensor, np.ndarray)) else None
        if beta.dtype != xd:
            raise TypeError(f"swish: beta has dtype {beta.dtype} but x has {xd}")
        return _SwishLearnable.apply(x, beta)
    return _act(x, "swish", beta)


def silu(x: ArrayOrTensor) -> Tensor:
    """x * sigmoid(x) (swish with beta = 1)."""
    return _act(x, "swish", 1.0)


_GELU_SIGMOID_BETA = 1.702


def gelu(x: ArrayOrTensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit.

    approximate="none":    x * Phi(x), the exact form (Phi the standard normal CDF)
    approximate="tanh":    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x³)))
    approximate="sigmoid": x * sigmoid(1.702 x)
    """
    if approximate == "none":
        return _act(x, "gelu")
    if approximate == "tanh":
        return _act(x, "gelu_tanh")
    if approximate == "sigmoid":
        return _act(x, "swish", _GELU_SIGMOID_BETA)
    raise ValueError(f"gelu: approximate must be 'none', 'tanh' or 'sigmoid', got {approximate!r}")


def hard_sigmoid(x: ArrayOrTensor, slope: float = 0.2, offset: float = 0.5) -> Tensor:
    """clip(slope * x + offset, 0, 1).

    The defaults are Keras 2's definition (tf.keras.activations.hard_sigmoid: 0.2x + 0.5).
    Keras 3 and PyTorch's hardsigmoid use relu6(x + 3) / 6, which is slope=1/6, offset=0.5.
    """
    return _act(x, "hard_sigmoid", slope, offset)


def identity(x: ArrayOrTensor) -> Tensor:
    """The "linear" activation: x unchanged."""
    return x if isinstance(x, Tensor) else Tensor(x)


class _PReLU(Function):
    @staticmethod
    def forward(ctx: Any, x: np.ndarray, weight: np.ndarray, axis: int) -> np.ndarray:
        x, weight = _contig(x), _contig(weight)
        ctx.save_for_backward(x, weight)
        ctx.axis = axis
        return _C.prelu_forward(x, weight, axis)

    @staticmethod
    def backward(ctx: Any, gy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, weight = ctx.saved
        gx, gw = _C.prelu_backward(x, weight, _contig(gy), ctx.axis)
        return gx, gw


def prelu(x: ArrayOrTensor, weight: ArrayOrTensor, axis: int = 1) -> Tensor:
    """x if x > 0 else weight[c] * x, with c the index along ``axis`` (1 for NCHW, -1 for
    channels-last); a one-element weight is shared by every channel. The weight's gradient is
    reduced over the other axes in the kernel."""
    return _PReLU.apply(x, weight, int(axis))


class _Softmax(Function):
    @staticmethod
    def forward(ctx: Any, x: np.ndarray, axis: int, log: bool) -> np.ndarray:
        y = _C.softmax_forward(_contig(x), axis, log)
        ctx.save_for_backward(y)
        ctx.axis, ctx.log = axis, log
        return y

    @staticmethod
    def backward(ctx: Any, gy: np.ndarray) -> np.ndarray:
        (y,) = ctx.saved
        return _C.softmax_backward(y, _contig(gy), ctx.axis, ctx.log)


def softmax(x: ArrayOrTensor, axis: int = -1) -> Tensor:
    """exp(x - max) / sum(exp(x - max)) along ``axis`` (any axis; stable for huge inputs)."""
    return _Softmax.apply(x, int(axis), False)


def log_softmax(x: ArrayOrTensor, axis: int = -1) -> Tensor:
    """x - max - log(sum(exp(x - max))) along ``axis``: never takes log of 0."""
    return _Softmax.apply(x, int(axis), True)


_BY_NAME: dict[str, Callable[..., Tensor]] = {
    "sigmoid": sigmoid,
    "logistic": sigmoid,
    "tanh": tanh,
    "relu": relu,
    "leaky_relu": leaky_relu,
    "elu": elu,
    "selu": selu,
    "softplus": softplus,
    "swish": swish,
    "silu": silu,
    "gelu": gelu,
    "hard_sigmoid": hard_sigmoid,
    "linear": identity,
    "softmax": softmax,
    "log_softmax": log_softmax,
}


def get_activation(name: str | Callable[..., Tensor] | None) -> Callable[..., Tensor]:
    """The activation function for a Keras-style name ("relu", "softmax", "linear", ...);
    None means "linear" (identity); a callable is returned unchanged."""
    if name is None:
        return identity
    if callable(name):
        return name
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown activation {name!r} (known: {', '.join(sorted(_BY_NAME))})"
        ) from None
