"""``keras.random``: random tensors with Keras's seeding rules.

``seed`` is None (deepcore's global generator, seeded by ``deepcore.manual_seed`` /
``keras.utils.set_random_seed``: a new draw every call), an int (a fixed draw: the same
values every call, as Keras's stateless integer seeds) or a :class:`SeedGenerator` (its own
stream, advancing with every draw). Floating outputs default to float32.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from .. import ops as _ops
from .._checks import unit_rate
from ..nn import functional as _F
from ..nn.initializers import _shape
from ..tensor import Tensor, get_rng

__all__ = [
    "SeedGenerator",
    "categorical",
    "dropout",
    "normal",
    "randint",
    "shuffle",
    "truncated_normal",
    "uniform",
]


class SeedGenerator:
    """A random stream of its own: every draw that takes it advances it (Keras's
    ``keras.random.SeedGenerator``); ``seed=None`` starts from fresh entropy."""

    def __init__(self, seed: int | None = None) -> None:
        if seed is not None:
            seed = _int_seed(seed)
        self.seed = seed
        self._rng = np.random.default_rng(seed)

    @property
    def generator(self) -> np.random.Generator:
        return self._rng

    def get_config(self) -> dict:
        return {"seed": self.seed}


def _int_seed(seed: Any) -> int:
    try:
        s = operator.index(seed)
    except TypeError:
        raise TypeError(f"seed must be None, an int or a SeedGenerator, got {seed!r}") from None
    if s < 0:
        raise ValueError(f"seed must be non-negative, got {s}")
    return s


def _rng(seed: Any) -> np.random.Generator:
    if seed is None:
        return get_rng()
    if isinstance(seed, SeedGenerator):
        return seed.generator
    return np.random.default_rng(_int_seed(seed))


def _float(dtype: Any) -> np.dtype:
    dt = np.dtype("float32" if dtype is None else dtype)
    if dt not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    return dt


def normal(
    shape: Any, mean: float = 0.0, stddev: float = 1.0, dtype: Any = None, seed: Any = None
) -> Tensor:
    """Samples of N(mean, stddev**2)."""
    dt = _float(dtype)
    return Tensor(_rng(seed).normal(mean, stddev, _shape(shape)).astype(dt, copy=False))


def uniform(
    shape: Any, minval: float = 0.0, maxval: float = 1.0, dtype: Any = None, seed: Any = None
) -> Tensor:
    """Samples of U[minval, maxval)."""
    if not maxval > minval:
        raise ValueError(f"uniform: maxval ({maxval}) must be greater than minval ({minval})")
    dt = _float(dtype)
    return Tensor(_rng(seed).uniform(minval, maxval, _shape(shape)).astype(dt, copy=False))


def truncated_normal(
    shape: Any, mean: float = 0.0, stddev: float = 1.0, dtype: Any = None, seed: Any = None
) -> Tensor:
    """N(mean, stddev**2) samples redrawn until within two standard deviations of the mean
    (Keras's rule), drawn in vectorised rounds."""
    dt = _float(dtype)
    rng, dims = _rng(seed), _shape(shape)
    out = rng.standard_normal(dims)
    bad = np.abs(out) > 2.0
    while bad.any():  # each round redraws only the rejected ~4.6 %
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2.0
    return Tensor((out * stddev + mean).astype(dt, copy=False))


def randint(shape: Any, minval: int, maxval: int, dtype: Any = "int32", seed: Any = None) -> Tensor:
    """Integers in [minval, maxval)."""
    dt = np.dtype(dtype)
    if dt.kind not in "iu":
        raise TypeError(f"randint: dtype must be an integer type, got {dt}")
    lo, hi = operator.index(minval), operator.index(maxval)
    if hi <= lo:
        raise ValueError(f"randint: maxval ({hi}) must be greater than minval ({lo})")
    info = np.iinfo(dt)
    if lo < info.min or hi - 1 > info.max:
        raise ValueError(f"randint: [{lo}, {hi}) does not fit in {dt}")
    return Tensor(_rng(seed).integers(lo, hi, _shape(shape), dtype=dt))


def categorical(logits: Any, num_samples: int, dtype: Any = "int32", seed: Any = None) -> Tensor:
    """``num_samples`` class indices per row of ``logits`` (batch, classes), drawn from
    softmax(logits) by the Gumbel-max trick: (batch, num_samples)."""
    lg = np.asarray(logits.numpy() if isinstance(logits, Tensor) else logits, dtype=np.float64)
    if lg.ndim != 2 or lg.shape[1] == 0:
        raise ValueError(f"categorical: logits must be (batch, classes>0), got {lg.shape}")
    n = operator.index(num_samples)
    if n < 0:
        raise ValueError(f"categorical: num_samples must be >= 0, got {n}")
    g = _rng(seed).gumbel(size=(lg.shape[0], n, lg.shape[1]))
    return Tensor(np.argmax(lg[:, None, :] + g, axis=-1).astype(np.dtype(dtype)))


def dropout(inputs: Any, rate: float, noise_shape: Any = None, seed: Any = None) -> Tensor:
    """Zero each element with probability ``rate`` and scale the rest by 1/(1 - rate);
    ``noise_shape`` (broadcastable to the input) shares one draw across the axes where it
    is 1. Differentiable in ``inputs``."""
    x = inputs if isinstance(inputs, Tensor) else Tensor(np.asarray(inputs))
    if x.dtype.kind != "f":
        x = Tensor(x.data.astype(np.float32))
    rate = unit_rate("dropout: rate", rate)
    dims = None if noise_shape is None else _shape(noise_shape)
    return _F.dropout(x, rate, training=True, noise_shape=dims, rng=_rng(seed))


def shuffle(x: Any, axis: int = 0, seed: Any = None) -> Tensor:
    """``x`` with its slices along ``axis`` in a random order."""
    t = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
    if t.ndim == 0:
        raise ValueError("shuffle: x must have at least one dimension")
    ax = operator.index(axis)
    if not -t.ndim <= ax < t.ndim:
        raise ValueError(f"shuffle: axis {ax} is out of range for {t.ndim} dimensions")
    perm = _rng(seed).permutation(t.shape[ax])
    return _ops.take(t, Tensor(perm), axis=ax)
