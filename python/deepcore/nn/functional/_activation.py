"""Activations, softmax and log-softmax as autograd Functions over fused native kernels, and
the one registry of activations by name.

Every activation is one pass of one native kernel family (csrc/activation.h) forward and one
backward, OpenMP-parallel and SIMD on float32 (float64 supported for gradient checks).
[Note: what backward reads] sigmoid, tanh and relu differentiate from their saved output
(y(1-y), 1-y², y>0); the others from their saved input.

[Note: activation names and defaults] ``ACTIVATIONS`` is the one table of activations by name
(see [Note: one registry per concept] in deepcore/_registry.py): layers (``Dense(activation=
"relu")``), models (the fused softmax + cross-entropy path), the conv kernels' fused ReLU and
saving all resolve names here and ask it what a callable *is*. Names and default arguments are
Keras 3's (``keras.activations``), PyTorch's names are aliases:

- ``leaky_relu``: slope 0.2, the Keras ``leaky_relu`` activation function. Keras's
  ``LeakyReLU`` *layer* defaults to 0.3 (``nn.LeakyReLU`` does too) and PyTorch's
  ``F.leaky_relu`` to 0.01: pass ``negative_slope=0.01`` for PyTorch's.
- ``hard_sigmoid``: relu6(x + 3) / 6 (Keras 3, and PyTorch's ``hardsigmoid``, an alias);
  Keras 2's clip(0.2x + 0.5, 0, 1) is ``hard_sigmoid(x, slope=0.2)``.
- ``gelu``: the exact x·Φ(x) (``keras.activations.gelu``'s and PyTorch's default;
  ``keras.ops.gelu`` defaults to the tanh approximation: ``gelu(x, approximate="tanh")``).
- ``swish`` (alias ``silu``): x·σ(x); ``selu``: Klambauer et al.'s constants; ``linear``
  (alias ``identity``): x unchanged.
"""

from __future__ import annotations

from typing import Any, Callable, Union

import numpy as np

from ... import _C
from ..._array import array_module, contiguous
from ..._registry import Registry
from ..._relu_handoff import premasked
from ...autograd import Function
from ...ops import _elementwise, _shape
from ...tensor import Tensor
from ._args import checked

#: Keras name -> F function (see [Note: activation names and defaults]).
ACTIVATIONS: Registry[Callable[..., Tensor]] = Registry("activation")


def _register(name: str, aliases: tuple[str, ...] = ()) -> Callable:
    """Register the op in its checked form (see [Note: F argument types] in _args), so the
    registry, this module and ``F`` hold one and the same object."""

    def deco(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
        return ACTIVATIONS.register(name, checked(fn), aliases)

    return deco


ArrayOrTensor = Union[Tensor, np.ndarray]

_READS_OUTPUT = {k: _C.activation_reads_output(k) for k in _C.activation_kinds()}


_contig = contiguous  # NumPy or CuPy ([Note: array module] in deepcore/_array.py)


class _Activation(Function):
    """y = f(x) for a native activation kind with scalar parameters p0, p1."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, kind: str, p0: float, p1: float) -> np.ndarray:
        y = _C.activation_forward(_contig(x), kind, p0, p1)
        ctx.kind, ctx.p0, ctx.p1 = kind, p0, p1
        ctx.save_for_backward(y if _READS_OUTPUT[kind] else x)
        ctx.relu_output = kind == "relu"  # [Note: ReLU masks handed down] in _relu_handoff.py
        return y

    @staticmethod
    def backward(ctx: Any, gy: np.ndarray) -> np.ndarray:
        (saved,) = ctx.saved
        if ctx.relu_output and premasked(ctx, gy):
            return gy  # the consumer applied this mask already
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
        xp = array_module(x)
        gy = _contig(gy)
        if xp is np:
            gx, gb = _C.activation_backward("swish", gy, x=x, p0=ctx.b, want_dp0=True)
            return gx, np.full(beta.shape, gb, dtype=beta.dtype)
        # on the GPU the beta gradient is summed on the device (the kernel's want_dp0 would
        # return a host scalar: a synchronisation): sum(gy * x^2 * s(1 - s)), s = sigmoid(b x)
        gx = _C.activation_backward("swish", gy, x=x, p0=ctx.b)
        s = _C.activation_forward(contiguous(x * x.dtype.type(ctx.b)), "sigmoid")
        gb = (gy * x * x * s * (1 - s)).sum(dtype=x.dtype)
        return gx, xp.broadcast_to(gb, beta.shape).copy()


def _act(x: ArrayOrTensor, kind: str, p0: float = 0.0, p1: float = 0.0) -> Tensor:
    return _Activation.apply(x, kind, float(p0), float(p1))


@_register("sigmoid", aliases=("logistic",))
def sigmoid(x: ArrayOrTensor) -> Tensor:
    """Logistic sigmoid 1 / (1 + exp(-x)), stable for large |x|."""
    return _act(x, "sigmoid")


@_register("tanh")
def tanh(x: ArrayOrTensor) -> Tensor:
    return _act(x, "tanh")


@_register("relu")
def relu(x: ArrayOrTensor) -> Tensor:
    """max(x, 0); the gradient at 0 is 0 (as PyTorch)."""
    return _act(x, "relu")


@_register("leaky_relu")
def leaky_relu(x: ArrayOrTensor, negative_slope: float = 0.2) -> Tensor:
    """x if x > 0 else negative_slope * x. The default 0.2 is Keras's ``leaky_relu``; PyTorch's
    is 0.01 and Keras's LeakyReLU layer's 0.3 (see [Note: activation names and defaults])."""
    return _act(x, "leaky_relu", negative_slope)


@_register("elu")
def elu(x: ArrayOrTensor, alpha: float = 1.0) -> Tensor:
    """x if x > 0 else alpha * (exp(x) - 1)."""
    return _act(x, "elu", alpha)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


@_register("selu")
def selu(x: ArrayOrTensor) -> Tensor:
    """scale * elu(x, alpha) with Klambauer et al.'s self-normalising constants
    (alpha ≈ 1.6733, scale ≈ 1.0507)."""
    return _act(x, "selu", _SELU_ALPHA, _SELU_SCALE)


@_register("softplus")
def softplus(x: ArrayOrTensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """(1/beta) * log(1 + exp(beta * x)), and x itself where beta * x > threshold (PyTorch)."""
    if beta <= 0:
        raise ValueError(f"softplus: beta must be > 0, got {beta}")
    return _act(x, "softplus", beta, threshold)


@_register("swish", aliases=("silu",))
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


silu = swish  # PyTorch's name for x * sigmoid(x)


_GELU_SIGMOID_BETA = 1.702


@_register("gelu")
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


@_register("hard_sigmoid", aliases=("hardsigmoid",))
def hard_sigmoid(x: ArrayOrTensor, slope: float = 1.0 / 6.0, offset: float = 0.5) -> Tensor:
    """clip(slope * x + offset, 0, 1). The defaults give relu6(x + 3) / 6, Keras 3's and
    PyTorch's hard sigmoid; Keras 2's was slope=0.2."""
    return _act(x, "hard_sigmoid", slope, offset)


@_register("hard_swish", aliases=("hardswish", "hard_silu"))
def hard_swish(x: ArrayOrTensor) -> Tensor:
    """x * relu6(x + 3) / 6 (Keras's hard_swish / hard_silu, PyTorch's hardswish)."""
    return _act(x, "hard_swish")


@_register("linear", aliases=("identity",))
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


@_register("softmax")
def softmax(x: ArrayOrTensor, axis: int = -1) -> Tensor:
    """exp(x - max) / sum(exp(x - max)) along ``axis`` (any axis; stable for huge inputs)."""
    return _Softmax.apply(x, int(axis), False)


@_register("log_softmax")
def log_softmax(x: ArrayOrTensor, axis: int = -1) -> Tensor:
    """x - max - log(sum(exp(x - max))) along ``axis``: never takes log of 0."""
    return _Softmax.apply(x, int(axis), True)


# ----------------------------------------------------------------------------- composites
# [Note: composite activations] These have no kernel of their own: each is a few native
# activations and Tensor ops (so autograd differentiates it), or, for the piecewise-linear
# hard_tanh, one NumPy Function. Names are Keras 3's with PyTorch's as aliases, as above.
def _tensor(x: ArrayOrTensor) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


@_register("softsign")
def softsign(x: ArrayOrTensor) -> Tensor:
    """x / (1 + |x|)."""
    x = _tensor(x)
    return x / (_elementwise.abs(x) + 1.0)


@_register("mish")
def mish(x: ArrayOrTensor) -> Tensor:
    """x · tanh(softplus(x)) (Misra 2019)."""
    x = _tensor(x)
    return x * tanh(softplus(x))


@_register("celu")
def celu(x: ArrayOrTensor, alpha: float = 1.0) -> Tensor:
    """max(0, x) + min(0, alpha · (exp(x / alpha) - 1)), i.e. alpha · elu(x / alpha)."""
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0")
    return elu(_tensor(x) * (1.0 / alpha)) * float(alpha)


@_register("log_sigmoid", aliases=("logsigmoid",))
def log_sigmoid(x: ArrayOrTensor) -> Tensor:
    """log(sigmoid(x)) = -softplus(-x), stable for large |x|."""
    return -softplus(-_tensor(x), threshold=float("inf"))


@_register("softmin")
def softmin(x: ArrayOrTensor, axis: int = -1, *, dim: int | None = None) -> Tensor:
    """softmax(-x) along ``axis`` (PyTorch's ``dim=``)."""
    return softmax(-_tensor(x), axis if dim is None else dim)


class _HardTanh(Function):
    """clip(x, lo, hi); the gradient passes strictly inside (lo, hi), as PyTorch's."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, lo: float, hi: float) -> np.ndarray:
        ctx.save_for_backward(x)
        ctx.lo, ctx.hi = lo, hi
        return array_module(x).clip(x, lo, hi)

    @staticmethod
    def backward(ctx: Any, gy: np.ndarray) -> tuple:
        (x,) = ctx.saved
        return gy * ((x > ctx.lo) & (x < ctx.hi)), None, None


@_register("hard_tanh", aliases=("hardtanh",))
def hard_tanh(x: ArrayOrTensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """clip(x, min_val, max_val) (Keras's hard_tanh, PyTorch's hardtanh)."""
    if min_val > max_val:
        raise ValueError(f"hard_tanh: min_val {min_val} is above max_val {max_val}")
    return _HardTanh.apply(x, float(min_val), float(max_val))


hardtanh = hard_tanh  # PyTorch's names
hardswish = hard_swish
logsigmoid = log_sigmoid


@_register("relu6")
def relu6(x: ArrayOrTensor) -> Tensor:
    """min(max(x, 0), 6); gradient 0 at the kinks (PyTorch's)."""
    return _HardTanh.apply(x, 0.0, 6.0)


@_register("glu")
def glu(x: ArrayOrTensor, axis: int = -1, *, dim: int | None = None) -> Tensor:
    """Gated linear unit: a · sigmoid(b) for the two halves a, b of ``axis`` (even size)."""
    x = _tensor(x)
    ax = axis if dim is None else dim
    if x.ndim == 0:
        raise ValueError("glu: x must have at least one dimension")
    n = x.shape[ax]
    if n % 2:
        raise ValueError(f"glu: axis {ax} has odd size {n}; it must split in two halves")
    a, b = _shape.split(x, 2, axis=ax)
    return a * sigmoid(b)


@_register("threshold")
def threshold(
    x: ArrayOrTensor, threshold: float, value: float | None = None, *, default_value: Any = None
) -> Tensor:
    """x where x > threshold, else ``value`` (PyTorch's ``threshold(x, threshold, value)``,
    Keras's ``threshold(x, threshold, default_value)``)."""
    v = default_value if value is None else value
    if v is None:
        raise TypeError("threshold: missing the replacement value")
    x = _tensor(x)
    return _elementwise.where(x > threshold, x, float(v))


def get_activation(identifier: str | Callable[..., Tensor] | dict | None) -> Callable[..., Tensor]:
    """The activation for a name ("relu", "softmax", "silu", ...; see
    [Note: activation names and defaults]), a Keras config dict, or a callable (returned
    unchanged); None means "linear"."""
    if identifier is None:
        return identity
    if isinstance(identifier, str):
        return ACTIVATIONS.get(identifier)
    if isinstance(identifier, dict):  # Keras-style {"class_name": ..., "config": {"name": ...}}
        return get_activation(identifier.get("config", {}).get("name", identifier.get("name")))
    if callable(identifier):
        return identifier
    raise TypeError(f"activation must be a name or a callable, got {identifier!r}")


def activation_name(fn: Callable | None) -> str | None:
    """The registered name of an activation callable ("relu" for ``F.relu`` however it was
    given), "linear" for None, None for a callable that is not registered."""
    return "linear" if fn is None else ACTIVATIONS.name_of(fn)


def serialize_activation(fn: Callable | None) -> str:
    """The name a layer config stores for its activation; ValueError for an unregistered
    callable (code cannot be saved as JSON)."""
    name = activation_name(fn)
    if name is None:
        raise ValueError(
            f"cannot serialise activation {fn!r}: pass one of {ACTIVATIONS.names()} by name "
            "(or override get_config)"
        )
    return name


# F's names from this module: every registered activation under its function name, plus the
# rest. A new activation is one registered function above ([Note: adding an activation] in
# docs/adding_an_op.md): it reaches F, layers, models and saving through this table.
__all__ = sorted(
    {fn.__name__ for _, fn in ACTIVATIONS.items()}
    | {
        "silu",
        "hardtanh",
        "hardswish",
        "logsigmoid",
        "prelu",
        "get_activation",
        "serialize_activation",
        "activation_name",
    }
    | {"ACTIVATIONS"}
)
