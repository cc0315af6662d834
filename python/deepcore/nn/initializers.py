"""Weight initialisers with Keras names and arguments.

    init = initializers.get("glorot_uniform")
    w = init((64, 576))                 # np.ndarray, float32, drawn from deepcore.get_rng()

Every initialiser is a callable ``init(shape, dtype="float32") -> np.ndarray`` with
``get_config()`` so layers can serialise it (``serialize`` gives the Keras name when the
initialiser has its default configuration, else ``{"class_name": ..., "config": ...}``).

[Note: fans by weight layout] A 2-D weight is a Keras dense kernel (in, out) — Dense, Maxout
and recurrent kernels are stored that way, and so is what a Keras custom layer creates with
``add_weight(shape=(input_dim, units))`` — so ``compute_fans`` reads fan_in from axis 0 and
fan_out from axis 1, as Keras does. Convolution kernels are stored in PyTorch's layout (K,
C/groups, *kernel_size) (see deepcore.nn.layers.conv), so for rank >= 3 fan_out is axis 0 and
fan_in axis 1, each times the receptive field (the product of the trailing axes): the same
numbers Keras computes from its (*kernel_size, in, out) layout.

Random numbers come from ``deepcore.get_rng()`` at call time, so ``deepcore.manual_seed``
makes initialisation reproducible.
"""

from __future__ import annotations

import copy
import math
import operator
from typing import Any, Callable, Union

import numpy as np

from ..tensor import get_rng as _get_rng

__all__ = [
    "Initializer",
    "Zeros",
    "Ones",
    "Constant",
    "RandomNormal",
    "RandomUniform",
    "TruncatedNormal",
    "VarianceScaling",
    "GlorotUniform",
    "GlorotNormal",
    "HeUniform",
    "HeNormal",
    "LecunUniform",
    "LecunNormal",
    "Orthogonal",
    "Identity",
    "compute_fans",
    "transposed_draw",
    "keras_fans_draw",
    "get",
    "serialize",
    "deserialize",
]

Shape = Union[int, tuple, list]


def _shape(shape: Shape) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    try:
        out = tuple(operator.index(s) for s in shape)  # 2.5 is an error, not 2
    except TypeError:
        raise TypeError(f"shape must be a tuple of ints, got {shape!r}") from None
    if any(s < 0 for s in out):
        raise ValueError(f"shape must not have negative sizes, got {out}")
    return out


def _dtype(dtype: Any) -> np.dtype:
    d = np.dtype("float32" if dtype is None else dtype)
    if d.kind != "f":
        raise TypeError(f"initialisers make floating-point arrays, got dtype {d}")
    return d


def compute_fans(shape: Shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight, see [Note: fans by weight layout]."""
    shape = _shape(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def transposed_draw(init: Any) -> Callable[..., np.ndarray]:
    """``init`` for an (in, out) dense kernel, drawn as the transpose of an (out, in) draw with
    the same fans: the random numbers (and their order) Dense and Maxout kernels got when they
    were stored (out, in), so seeded runs keep their weights (see [Note: dense kernel layout]
    in deepcore.nn.layers.core)."""

    def draw(shape: Shape, dtype: Any = "float32") -> np.ndarray:
        f = init
        if isinstance(f, VarianceScaling) and f.mode != "fan_avg":  # fans of the (in, out) shape
            f = copy.copy(f)
            f.mode = "fan_out" if f.mode == "fan_in" else "fan_in"
        return np.ascontiguousarray(np.asarray(f(tuple(_shape(shape))[::-1], dtype)).T)

    return draw


def keras_fans_draw(init: Any) -> Callable[..., np.ndarray]:
    """``init`` for a weight in Keras's own layout (..., in, out) of any rank (EinsumDense's
    kernels): a variance-scaling draw with Keras's fans for that shape (fan_in = in, fan_out =
    out, each times the product of the leading sizes), which [Note: fans by weight layout]
    gives to the (out, in, ...) shape it is drawn in before being moved into place."""

    def draw(shape: Shape, dtype: Any = "float32") -> np.ndarray:
        dims = tuple(_shape(shape))
        if len(dims) < 3:
            return init(dims, dtype)
        w = np.asarray(init((dims[-1], dims[-2], *dims[:-2]), dtype))
        return np.ascontiguousarray(np.moveaxis(w, (0, 1), (-1, -2)))

    return draw


def _rng(seed: int | None = None) -> np.random.Generator:
    return _get_rng() if seed is None else np.random.default_rng(seed)


def _truncated_normal(
    shape: tuple[int, ...], mean: float, stddev: float, seed: int | None = None
) -> np.ndarray:
    """N(mean, stddev²) truncated to ±2 stddev, as Keras/TF: redraw the out-of-range samples."""
    rng = _rng(seed)
    out = rng.standard_normal(shape)
    bad = np.abs(out) > 2.0
    while bad.any():  # each round redraws ~4.6% of what is left: a handful of rounds
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2.0
    return out * stddev + mean


class Initializer:
    """Base class: ``__call__(shape, dtype)`` returns a new array."""

    def __call__(self, shape: Shape, dtype: Any = "float32") -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> Initializer:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(self.get_config().items()))))


class Zeros(Initializer):
    def __call__(self, shape: Shape, dtype: Any = "float32") -> np.ndarray:
        return np.zeros(_shape(shape), _dtype(dtype))


class Ones(Initializer):
    def __call__(self, shape: Shape, dtype: Any = "float32") -> np.ndarray:
        return np.ones(_shape(shape), _dtype(dtype))


class Constant(Initializer):
    def __init__(self, value: float = 0.0) -> None:
        self.value = float(value)

    def __call__(self, shape: Shape, dtype: Any = "float32") -> np.ndarray:
        return np.full(_shape(shape), self.value, _dtype(dtype))

    def get_config(self) -> dict:
        return {"value": self.value}


class RandomNormal(Initializer):
    """N(mean, stddev²)."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        if stddev < 0:
            raise ValueError(f"RandomNormal: stddev must be >= 0, got {stddev}")
        self.mean, self.stddev, self.seed = float(mean), float(stddev), seed

    def __call__(self, shape: Shape, dtype: Any = "float32") -> np.ndarray:
        rng = _rng(self.seed)
        d = _dtype(dtype)
        return (rng.standard_normal(_shape(shape)) * self.stddev + self.mean).astype(d)

    def get_config(self) -> dict:
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class RandomUniform(Initializer):
    """U(minval, maxval)."""

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None):
        if maxval < minval:
            raise ValueError(f"RandomUniform: maxval ({maxval}) must be >= minval ({minval})")
        self.minval, self.maxval, self.seed = float(minval), float(maxval), seed

    def __call__(self, shape: Shape, dtype: Any = "float32") -> np.ndarray:
        rng = _rng(self.seed)
        return rng.uniform(self.minval, self.maxval, _shape(shape)).astype(_dtype(dtype))

    def get_config(self) -> dict:
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class TruncatedNormal(Initializer):
    """N(mean, stddev²) with samples beyond 2 stddev redrawn (Keras's TruncatedNormal)."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        if stddev < 0:
            raise ValueError(f"TruncatedNormal: stddev must be >= 0, got {stddev}")
        self.mean, self.stddev, self.seed = float(mean), float(stddev), seed

    def __call__(self, shape: Shape, dtype: Any = "float32") -> np.ndarray:
        out = _truncated_normal(_shape(shape), self.mean, self.stddev, self.seed)
        return out.astype(_dtype(dtype))

    def get_config(self) -> dict:
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


# The standard deviation of a unit normal truncated to [-2, 2]: dividing by it makes the
# truncated draw have exactly the variance scale/n that VarianceScaling promises (Keras/TF).
_TRUNC_STD = 0.87962566103423978


class VarianceScaling(Initializer):
    """Samples with variance ``scale / n``, n = fan_in, fan_out or their mean (``mode``)."""

    _modes = ("fan_in", "fan_out", "fan_avg")
    _dists = ("truncated_normal", "untruncated_normal", "normal", "uniform")

    def __init__(
        self,
        scale: float = 1.0,
        mode: str = "fan_in",
        distribution: str = "truncated_normal",
        seed: int | None = None,
    ) -> None:
        if scale <= 0:
            raise ValueError(f"VarianceScaling: scale must be > 0, got {scale}")
        if mode not in self._modes:
            raise ValueError(f"VarianceScaling: mode must be one of {self._modes}, got {mode!r}")
        if distribution not in self._dists:
            raise ValueError(
                f"VarianceScaling: distribution must be one of {self._dists}, got {distribution!r}"
            )
        self.scale, self.mode, self.distribution = float(scale), mode, distribution
        self.seed = seed

    def __call__(self, shape: Shape, dtype: Any = "float32") -> np.ndarray:
        shape = _shape(shape)
        d = _dtype(dtype)
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        var = self.scale / max(1.0, n)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * var)
            return _rng(self.seed).uniform(-limit, limit, shape).astype(d)
        if self.distribution in ("untruncated_normal", "normal"):
            return (_rng(self.seed).standard_normal(shape) * math.sqrt(var)).astype(d)
        return _truncated_normal(shape, 0.0, math.sqrt(var) / _TRUNC_STD, self.seed).astype(d)

    def get_config(self) -> dict:
        return {
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            "seed": self.seed,
        }


class _FixedVarianceScaling(VarianceScaling):
    """A named VarianceScaling preset (Glorot, He, LeCun): no arguments to serialise."""

    _preset: tuple[float, str, str] = (1.0, "fan_in", "truncated_normal")

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(*self._preset, seed=seed)

    def get_config(self) -> dict:
        return {} if self.seed is None else {"seed": self.seed}


class GlorotUniform(_FixedVarianceScaling):
    """U(-l, l), l = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010; Xavier uniform)."""

    _preset = (1.0, "fan_avg", "uniform")


class GlorotNormal(_FixedVarianceScaling):
    """Truncated normal with variance 2 / (fan_in + fan_out) (Xavier normal)."""

    _preset = (1.0, "fan_avg", "truncated_normal")


class HeUniform(_FixedVarianceScaling):
    """U(-l, l), l = sqrt(6 / fan_in) (He et al. 2015)."""

    _preset = (2.0, "fan_in", "uniform")


class HeNormal(_FixedVarianceScaling):
    """Truncated normal with variance 2 / fan_in."""

    _preset = (2.0, "fan_in", "truncated_normal")


class LecunUniform(_FixedVarianceScaling):
    _preset = (1.0, "fan_in", "uniform")


class LecunNormal(_FixedVarianceScaling):
    _preset = (1.0, "fan_in", "truncated_normal")


class Orthogonal(Initializer):
    """A (semi-)orthogonal matrix times ``gain`` (Saxe et al. 2014), for recurrent kernels.

    The weight is viewed as (shape[0], prod(shape[1:])) — PyTorch's layout — and made to have
    orthonormal rows or columns, whichever are fewer: QR of a Gaussian matrix with the signs
    of R's diagonal folded into Q so the result is uniformly (Haar) distributed.
    """

    def __init__(self, gain: float = 1.0, seed: int | None = None) -> None:
        self.gain, self.seed = float(gain), seed

    def __call__(self, shape: Shape, dtype: Any = "float32") -> np.ndarray:
        shape = _shape(shape)
        d = _dtype(dtype)
        if len(shape) < 2:
            raise ValueError(f"Orthogonal needs a weight of rank >= 2, got shape {shape}")
        rows, cols = shape[0], math.prod(shape[1:])
        if rows == 0 or cols == 0:
            return np.zeros(shape, d)
        rng = _rng(self.seed)
        a = rng.standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return np.ascontiguousarray((self.gain * q).reshape(shape), dtype=d)  # q.T is F-order

    def get_config(self) -> dict:
        return {"gain": self.gain, "seed": self.seed}


class Identity(Initializer):
    """``gain`` times the identity matrix (2-D weights only)."""

    def __init__(self, gain: float = 1.0) -> None:
        self.gain = float(gain)

    def __call__(self, shape: Shape, dtype: Any = "float32") -> np.ndarray:
        shape = _shape(shape)
        if len(shape) != 2:
            raise ValueError(f"Identity needs a 2-D weight, got shape {shape}")
        return (self.gain * np.eye(*shape)).astype(_dtype(dtype))

    def get_config(self) -> dict:
        return {"gain": self.gain}


_CLASSES: dict[str, type[Initializer]] = {
    c.__name__: c
    for c in (
        Zeros,
        Ones,
        Constant,
        RandomNormal,
        RandomUniform,
        TruncatedNormal,
        VarianceScaling,
        GlorotUniform,
        GlorotNormal,
        HeUniform,
        HeNormal,
        LecunUniform,
        LecunNormal,
        Orthogonal,
        Identity,
    )
}

# Keras's string names (and a few common aliases) -> class.
_NAMES: dict[str, type[Initializer]] = {
    "zeros": Zeros,
    "zero": Zeros,
    "ones": Ones,
    "one": Ones,
    "constant": Constant,
    "random_normal": RandomNormal,
    "normal": RandomNormal,
    "random_uniform": RandomUniform,
    "uniform": RandomUniform,
    "truncated_normal": TruncatedNormal,
    "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform,
    "xavier_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal,
    "xavier_normal": GlorotNormal,
    "he_uniform": HeUniform,
    "kaiming_uniform": HeUniform,
    "he_normal": HeNormal,
    "kaiming_normal": HeNormal,
    "lecun_uniform": LecunUniform,
    "lecun_normal": LecunNormal,
    "orthogonal": Orthogonal,
    "identity": Identity,
}
_CANONICAL = {}
for _n, _c in _NAMES.items():
    _CANONICAL.setdefault(_c, _n)


InitializerLike = Union[str, dict, Initializer, Callable[..., np.ndarray], None]


def get(identifier: InitializerLike) -> Callable[..., np.ndarray] | None:
    """Resolve a name ('he_normal', 'HeNormal'), a config dict, an Initializer or a callable."""
    if identifier is None or isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str):
        cls = _NAMES.get(identifier.lower()) or _CLASSES.get(identifier)
        if cls is None:
            raise ValueError(
                f"unknown initializer {identifier!r}; known names: {', '.join(sorted(_NAMES))}"
            )
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise TypeError(
        f"could not interpret initializer {identifier!r}: expected a name, a config dict, "
        "an Initializer or a callable"
    )


def serialize(init: Any) -> Any:
    """JSON-able form: the Keras name for a default-configured built-in, else a config dict."""
    if init is None:
        return None
    if isinstance(init, Initializer):
        cls = type(init)
        cfg = init.get_config()
        if cls in _CANONICAL:
            try:
                default = cls().get_config()
            except TypeError:
                default = None
            if cfg == default:
                return _CANONICAL[cls]
        return {"class_name": cls.__name__, "config": cfg}
    raise ValueError(
        f"cannot serialise initializer {init!r}: only deepcore.nn.initializers objects and "
        "names can be saved (subclass Initializer and implement get_config)"
    )


def deserialize(config: Any) -> Callable[..., np.ndarray] | None:
    if config is None or isinstance(config, str):
        return get(config)
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"an initializer config needs 'class_name', got {config!r}")
    name = config["class_name"]
    cls = _CLASSES.get(name) or _NAMES.get(str(name).lower())
    if cls is None:
        for sub in _all_subclasses(Initializer):  # user-defined Initializer subclasses
            if sub.__name__ == name:
                cls = sub
                break
    if cls is None:
        raise ValueError(f"unknown initializer class {name!r}")
    return cls.from_config(dict(config.get("config", {})))


def _all_subclasses(cls: type) -> list[type]:
    out = []
    for s in cls.__subclasses__():
        out.append(s)
        out.extend(_all_subclasses(s))
    return out
