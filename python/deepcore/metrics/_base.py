"""The metric base classes (``Variable`` state, ``Metric``, ``Mean``, ``Sum``,
``MeanMetricWrapper``) and the weighting helpers every metric shares (see
[Note: weighted metrics] in deepcore/metrics/__init__.py)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .. import losses as losses_mod
from ..nn import initializers
from ..tensor import Tensor

EPSILON = 1e-7  # Keras's backend epsilon


def _np(x: Any) -> np.ndarray:
    """The NumPy array behind a Tensor, array or nested list."""
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _divide_no_nan(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b == 0, 0.0, a / np.where(b == 0, 1.0, b))


def _same_rank(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """``y_true`` reshaped like ``y_pred`` when they differ by a trailing axis of size 1."""
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        return y_true.reshape(y_true.shape[:-1])
    if y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        return y_true.reshape(y_true.shape + (1,))
    return y_true


def weighted_totals(values: Any, sample_weight: Any = None) -> tuple[float, float]:
    """(sum of weighted values, sum of weights) for one batch (see [Note: weighted metrics])."""
    v = np.asarray(_np(values), dtype=np.float64)
    if sample_weight is None:
        return float(v.sum()), float(v.size)
    w = np.asarray(_np(sample_weight), dtype=np.float64)
    if w.ndim == v.ndim + 1 and w.shape[-1] == 1:
        w = w.reshape(w.shape[:-1])
    elif v.ndim == w.ndim + 1 and v.shape[-1] == 1:
        v = v.reshape(v.shape[:-1])
    if w.ndim < v.ndim:
        w = w.reshape(w.shape + (1,) * (v.ndim - w.ndim))
    else:
        v = v.reshape(v.shape + (1,) * (w.ndim - v.ndim))
    try:
        v, w = np.broadcast_arrays(v, w)
    except ValueError:
        raise ValueError(
            f"sample_weight of shape {np.shape(sample_weight)} does not match the metric "
            f"values of shape {np.shape(values)}"
        ) from None
    return float((v * w).sum()), float(w.sum())


def _weights_like(sample_weight: Any, shape: tuple) -> np.ndarray:
    """Sample weights broadcast to ``shape`` along trailing axes (1 without weights)."""
    if sample_weight is None:
        return np.ones(shape, np.float64)
    w = np.asarray(_np(sample_weight), np.float64)
    if w.ndim == len(shape) + 1 and w.shape[-1] == 1:
        w = w.reshape(w.shape[:-1])
    try:
        return np.broadcast_to(w.reshape(w.shape + (1,) * (len(shape) - w.ndim)), shape)
    except ValueError:
        raise ValueError(
            f"sample_weight of shape {w.shape} does not match the predictions of shape {shape}"
        ) from None


# ---------------------------------------------------------------------- state
class Variable(Tensor):
    """A metric's state (Keras's ``Variable`` API): a Tensor updated in place by ``assign``,
    ``assign_add`` and ``assign_sub`` (its shape and dtype never change; ``value`` is the live
    state, as a backend variable's is)."""

    __slots__ = ("aggregation",)

    def __init__(self, value: Any, name: str | None = None, aggregation: str = "sum") -> None:
        super().__init__(np.array(_np(value)))
        self.name = name
        self.aggregation = aggregation

    def _operand(self, value: Any) -> Any:
        if type(value) is float and not self.data.ndim:  # the common case: a batch's sum
            return value
        v = value.data if isinstance(value, Tensor) else value
        if np.shape(v) != self.data.shape:
            try:
                np.broadcast_to(v, self.data.shape)
            except ValueError:
                raise ValueError(
                    f"cannot assign a value of shape {np.shape(v)} to the variable "
                    f"{self.name!r} of shape {self.data.shape}"
                ) from None
        return v

    def assign(self, value: Any) -> Variable:
        np.copyto(self.data, self._operand(value), casting="unsafe")
        return self

    def assign_add(self, value: Any) -> Variable:
        np.add(self.data, self._operand(value), out=self.data, casting="unsafe")
        return self

    def assign_sub(self, value: Any) -> Variable:
        np.subtract(self.data, self._operand(value), out=self.data, casting="unsafe")
        return self

    @property
    def value(self) -> Tensor:
        return Tensor._wrap(self.data)


# ---------------------------------------------------------------------- base classes
class Metric:
    """Base class of metrics (see the module docstring for the subclass pattern)."""

    #: the metric only needs the arg-max of the output, so logits serve as well as
    #: probabilities (see [Note: fused softmax cross-entropy] in deepcore.losses)
    argmax_only = False

    def __init__(self, dtype: Any = None, name: str | None = None) -> None:
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a string, got {type(name).__name__}")
        self.name = name or losses_mod._snake(type(self).__name__)
        self._dtype = np.dtype(dtype or "float32")
        self._variables: list[Variable] = []

    @property
    def dtype(self) -> str:
        return self._dtype.name

    def add_variable(
        self,
        shape: Any = (),
        initializer: Any = "zeros",
        dtype: Any = None,
        aggregation: str = "sum",
        name: str | None = None,
    ) -> Variable:
        """A new state variable of ``shape`` (reset to zeros by ``reset_state``)."""
        if "_variables" not in self.__dict__:
            raise RuntimeError(
                f"{type(self).__name__}: call super().__init__() in __init__ before add_variable()"
            )
        shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(shape)
        init = initializers.get(initializer if initializer is not None else "zeros")
        value = init(shape, np.dtype(dtype or self._dtype).name)
        v = Variable(value, name=name, aggregation=aggregation)
        self._variables.append(v)
        return v

    def add_weight(
        self, shape: Any = (), initializer: Any = None, dtype: Any = None, name: str | None = None
    ) -> Variable:
        return self.add_variable(shape, initializer, dtype, name=name)

    @property
    def variables(self) -> list[Variable]:
        return list(self._variables)

    def reset_state(self) -> None:
        """Zero every state variable (between epochs, or by hand)."""
        for v in self._variables:
            v.assign(np.zeros(v.shape, v.dtype))

    def reset_states(self) -> None:  # tf.keras 2's name
        self.reset_state()

    def update_state(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement update_state()")

    def result(self) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement result()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """``update_state(...)`` then ``result()`` (accumulates, as in Keras)."""
        self.update_state(*args, **kwargs)
        return self.result()

    def _out(self, value: Any) -> Tensor:
        """A result in the metric's dtype."""
        return Tensor(np.asarray(value, dtype=self._dtype))

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict) -> Metric:
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


class Mean(Metric):
    """The running (sample-weighted) mean of the values given to ``update_state(values)``."""

    def __init__(self, name: str = "mean", dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable((), "zeros", "float64", name="total")
        self.count = self.add_variable((), "zeros", "float64", name="count")

    def _accumulate(self, values: Any, sample_weight: Any) -> None:
        total, n = weighted_totals(values, sample_weight)
        self.total.assign_add(total)
        self.count.assign_add(n)

    def update_state(self, values: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        self._accumulate(values, sample_weight)

    def result(self) -> Tensor:
        return self._out(_divide_no_nan(self.total.data, self.count.data))


class Sum(Metric):
    """The running (sample-weighted) sum of the values."""

    def __init__(self, name: str = "sum", dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable((), "zeros", "float64", name="total")

    def update_state(self, values: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        self.total.assign_add(weighted_totals(values, sample_weight)[0])

    def result(self) -> Tensor:
        return self._out(self.total.data)


class MeanMetricWrapper(Mean):
    """The mean over samples of a per-sample function ``fn(y_true, y_pred, **kwargs)``."""

    def __init__(self, fn: Callable, name: str | None = None, dtype: Any = None, **kwargs: Any):
        super().__init__(name=name or getattr(fn, "__name__", "metric"), dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def update_state(  # type: ignore[override]
        self, y_true: Any, y_pred: Any, sample_weight: Any = None
    ) -> None:
        self._accumulate(self.fn(y_true, y_pred, **self._fn_kwargs), sample_weight)

    def get_config(self) -> dict:
        return {**super().get_config(), **self._fn_kwargs}


def _metric_class(
    cls_name: str,
    fn: Callable,
    name: str,
    doc: str,
    argmax: bool = False,
    first: tuple[tuple[str, Any], ...] = (),
    **params: Any,
) -> type:
    """A MeanMetricWrapper class over ``fn`` with Keras's signature ``(*first, name, dtype,
    *params)``."""
    order = [*first, ("name", name), ("dtype", None), *params.items()]
    return losses_mod.wrapper_class(
        MeanMetricWrapper,
        cls_name,
        fn,
        doc,
        order,
        ("name", "dtype"),
        module="deepcore.metrics",
        argmax_only=argmax,
    )
