"""Creation: zeros, ones, full, empty, *_like, arange, eye, Keras's identity / tri /
linspace / logspace and window functions (bartlett, blackman, hamming, hanning, kaiser:
NumPy's symmetric windows, float32), and the random tensors (from
``deepcore.get_rng()``). Tensors are made on the CPU (NumPy storage)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._checks import is_int
from ..tensor import Tensor, _resolve_dtype, get_rng
from ._common import Scalar, _shape_args

__all__ = [
    "zeros",
    "ones",
    "full",
    "empty",
    "zeros_like",
    "ones_like",
    "full_like",
    "arange",
    "eye",
    "identity",
    "tri",
    "linspace",
    "logspace",
    "randn",
    "rand",
    "randint",
    "bartlett",
    "blackman",
    "hamming",
    "hanning",
    "kaiser",
]


def _shape_of(args: tuple, shape: Any, name: str) -> tuple[int, ...]:
    """``zeros(2, 3)``, ``zeros((2, 3))`` and Keras's ``zeros(shape=(2, 3))`` alike."""
    if shape is not None:
        if args:
            raise TypeError(f"{name}: shape given both positionally and as shape=")
        args = (shape,)
    return _shape_args(args)


def _creation_dtype(dtype: Any) -> Any:
    return np.float32 if dtype is None else _resolve_dtype(dtype)


def zeros(*args: Any, shape: Any = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros (float32 unless ``dtype`` says otherwise)."""
    shape = _shape_of(args, shape, "zeros")
    return Tensor(np.zeros(shape, _creation_dtype(dtype)), requires_grad)


def ones(*args: Any, shape: Any = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones."""
    shape = _shape_of(args, shape, "ones")
    return Tensor(np.ones(shape, _creation_dtype(dtype)), requires_grad)


def empty(*args: Any, shape: Any = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor (its values are whatever the memory held)."""
    shape = _shape_of(args, shape, "empty")
    return Tensor(np.empty(shape, _creation_dtype(dtype)), requires_grad)


def full(shape: Any, fill_value: Scalar, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor filled with ``fill_value``."""
    shape = _shape_args((shape,) if isinstance(shape, (int, np.integer)) else (shape,))
    return Tensor(np.full(shape, fill_value, _creation_dtype(dtype)), requires_grad)


def _like_dtype(x: Tensor, dtype: Any) -> Any:
    return x.dtype if dtype is None else _resolve_dtype(dtype)


def zeros_like(x: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return Tensor(np.zeros(x.shape, _like_dtype(x, dtype)), requires_grad)


def ones_like(x: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return Tensor(np.ones(x.shape, _like_dtype(x, dtype)), requires_grad)


def full_like(
    x: Tensor, fill_value: Scalar, dtype: Any = None, requires_grad: bool = False
) -> Tensor:
    return Tensor(np.full(x.shape, fill_value, _like_dtype(x, dtype)), requires_grad)


def arange(
    start: Scalar,
    stop: Scalar | None = None,
    step: Scalar = 1,
    dtype: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """``arange(stop)`` / ``arange(start, stop, step)``: int64 for integer arguments, else
    float32 (``dtype`` overrides)."""
    if stop is None:
        start, stop = 0, start
    if dtype is None:
        ints = all(isinstance(v, (int, np.integer)) for v in (start, stop, step))
        dt = np.int64 if ints else np.float32
    else:
        dt = _resolve_dtype(dtype)
    if step == 0:
        raise ValueError("arange: step must not be zero")
    return Tensor(np.arange(start, stop, step).astype(dt), requires_grad)


def eye(
    n: int, m: int | None = None, k: int = 0, dtype: Any = None, requires_grad: bool = False
) -> Tensor:
    """The n x m matrix with ones on diagonal ``k`` (Keras's ``eye(N, M, k)``)."""
    return Tensor(np.eye(n, m, k, dtype=_creation_dtype(dtype)), requires_grad)


# ------------------------------------------------------------- Keras's NumPy-style creation
def identity(n: int, dtype: Any = None) -> Tensor:
    """The n x n identity matrix (float32 by default)."""
    if not is_int(n) or n < 0:
        raise ValueError(f"identity: n must be a non-negative int, got {n!r}")
    return Tensor(np.eye(int(n), dtype=_creation_dtype(dtype)))


def tri(N: int, M: int | None = None, k: int = 0, dtype: Any = None) -> Tensor:  # noqa: N803
    """Ones at and below the k-th diagonal of an N x M matrix (float32 by default)."""
    for name, v in (("N", N), ("M", N if M is None else M)):
        if not is_int(v) or v < 0:
            raise ValueError(f"tri: {name} must be a non-negative int, got {v!r}")
    return Tensor(
        np.tri(int(N), None if M is None else int(M), int(k), dtype=_creation_dtype(dtype))
    )


def _endpoints(fn: str, start: Any, stop: Any, num: Any) -> tuple:
    if not is_int(num) or num < 0:
        raise ValueError(f"{fn}: num must be a non-negative int, got {num!r}")
    s = start.numpy() if isinstance(start, Tensor) else np.asarray(start)
    e = stop.numpy() if isinstance(stop, Tensor) else np.asarray(stop)
    return s, e


def linspace(
    start: Any,
    stop: Any,
    num: int = 50,
    endpoint: bool = True,
    retstep: bool = False,
    dtype: Any = None,
    axis: int = 0,
) -> Any:
    """``num`` evenly spaced values from start to stop (NumPy's; float32 by default)."""
    s, e = _endpoints("linspace", start, stop, num)
    out = np.linspace(s, e, int(num), endpoint=endpoint, retstep=retstep, axis=axis)
    vals, step = out if retstep else (out, None)
    t = Tensor(vals.astype(_creation_dtype(dtype)))
    return (t, step) if retstep else t


def logspace(
    start: Any,
    stop: Any,
    num: int = 50,
    endpoint: bool = True,
    base: float = 10,
    dtype: Any = None,
    axis: int = 0,
) -> Tensor:
    """base ** linspace(start, stop, num) (NumPy's; float32 by default)."""
    s, e = _endpoints("logspace", start, stop, num)
    vals = np.logspace(s, e, int(num), endpoint=endpoint, base=base, axis=axis)
    return Tensor(vals.astype(_creation_dtype(dtype)))


def _float_dtype(dtype: Any, name: str) -> Any:
    dt = _creation_dtype(dtype)
    if np.dtype(dt).kind != "f":
        raise TypeError(f"{name}: dtype must be float16, float32 or float64, got {np.dtype(dt)}")
    return dt


def _sample(draw: Any, shape: tuple[int, ...], dt: Any) -> np.ndarray:
    """draw(shape, dtype=...) in dt; float16 is drawn in float32 and rounded (NumPy's
    generators have no float16)."""
    if np.dtype(dt) == np.float16:
        return draw(shape, dtype=np.float32).astype(np.float16)
    return draw(shape, dtype=dt)


def randn(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from ``deepcore.get_rng()`` (seeded by ``manual_seed``)."""
    dt = _float_dtype(dtype, "randn")
    return Tensor(_sample(get_rng().standard_normal, _shape_args(shape), dt), requires_grad)


def rand(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) from ``deepcore.get_rng()``."""
    dt = _float_dtype(dtype, "rand")
    return Tensor(_sample(get_rng().random, _shape_args(shape), dt), requires_grad)


def randint(low: int, high: int | None = None, size: Any = (), dtype: Any = None) -> Tensor:
    """Integers in [low, high) (or [0, low)) from ``deepcore.get_rng()``; int64 by default."""
    if high is None:
        low, high = 0, low
    dt = np.int64 if dtype is None else _resolve_dtype(dtype)
    size = _shape_args((size,) if isinstance(size, (int, np.integer)) else (size,))
    return Tensor(get_rng().integers(low, high, size=size).astype(dt))


def _window_length(fn: str, x: Any) -> int:
    n = x.item() if isinstance(x, Tensor) else x
    if not is_int(n):
        raise TypeError(f"{fn}: x (the window length) must be an int, got {x!r}")
    if n < 0:
        raise ValueError(f"{fn}: x (the window length) must be >= 0, got {n}")
    return int(n)


def bartlett(x: int) -> Tensor:
    """The Bartlett (triangular) window of ``x`` points, as ``np.bartlett``."""
    return Tensor(np.bartlett(_window_length("bartlett", x)).astype(np.float32))


def blackman(x: int) -> Tensor:
    """The Blackman window of ``x`` points, as ``np.blackman``."""
    return Tensor(np.blackman(_window_length("blackman", x)).astype(np.float32))


def hamming(x: int) -> Tensor:
    """The Hamming window of ``x`` points, as ``np.hamming``."""
    return Tensor(np.hamming(_window_length("hamming", x)).astype(np.float32))


def hanning(x: int) -> Tensor:
    """The Hann window of ``x`` points, as ``np.hanning``."""
    return Tensor(np.hanning(_window_length("hanning", x)).astype(np.float32))


def kaiser(x: int, beta: float) -> Tensor:
    """The Kaiser window of ``x`` points and shape ``beta``, as ``np.kaiser``."""
    if isinstance(beta, bool) or not isinstance(beta, (int, float, np.number)):
        raise TypeError(f"kaiser: beta must be a number, got {beta!r}")
    return Tensor(np.kaiser(_window_length("kaiser", x), float(beta)).astype(np.float32))
