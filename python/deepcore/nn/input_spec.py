"""Layer inputs: ``InputSpec`` (what a built layer accepts: rank and fixed axis sizes, checked on
every call), and the conversion of a call's inputs to Tensors in the layer's dtype."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..symbolic import is_string_dtype
from ..tensor import Tensor

__all__ = ["InputSpec"]


class InputSpec:
    """What a built layer accepts: ``ndim`` / ``min_ndim`` and fixed sizes ``axes={-1: 64}``."""

    def __init__(
        self,
        ndim: int | None = None,
        min_ndim: int | None = None,
        max_ndim: int | None = None,
        axes: dict[int, int] | None = None,
    ) -> None:
        self.ndim, self.min_ndim, self.max_ndim = ndim, min_ndim, max_ndim
        self.axes = dict(axes or {})

    def check(self, shape: Sequence[int | None], layer: Any, index: int = 0) -> None:
        nd = len(shape)
        problem = None
        if self.ndim is not None and nd != self.ndim:
            problem = f"expected ndim={self.ndim}, found ndim={nd}"
        elif self.min_ndim is not None and nd < self.min_ndim:
            problem = f"expected min_ndim={self.min_ndim}, found ndim={nd}"
        elif self.max_ndim is not None and nd > self.max_ndim:
            problem = f"expected max_ndim={self.max_ndim}, found ndim={nd}"
        else:
            for ax, size in self.axes.items():
                if -nd <= ax < nd and shape[ax] is not None and shape[ax] != size:
                    problem = (
                        f"expected axis {ax} of size {size}, found {shape[ax]} (the layer was "
                        "built for that size)"
                    )
                    break
        if problem is not None:  # the message is only formatted on failure (hot path)
            raise ValueError(
                f"Input {index} of layer '{layer.name}' ({type(layer).__name__}) is "
                f"incompatible: {problem}; input shape {tuple(shape)}"
            )


def _shape_of(x: Any) -> Any:
    if isinstance(x, (Tensor, np.ndarray)):
        return tuple(x.shape)
    if isinstance(x, (list, tuple)):
        return [_shape_of(v) for v in x]
    raise TypeError(f"layer inputs must be Tensors (or NumPy arrays), got {type(x).__name__}")


def _as_tensor(x: Any, dtype: np.dtype) -> Any:
    """Layer inputs as Tensors, floating ones in the layer's dtype (Keras's autocast: a
    float64 NumPy batch fed to a float32 model is converted, not rejected)."""
    if isinstance(x, Tensor):
        d = x.data.dtype
        if d is not dtype and d != dtype and d.kind == "f":
            return x.to(dtype=dtype)  # differentiable cast
        return x
    if isinstance(x, np.ndarray):
        if is_string_dtype(x.dtype):  # text stays an array ([Note: string inputs], symbolic.py)
            return x
        if x.dtype.kind == "f" and x.dtype != dtype:
            x = x.astype(dtype)
        return Tensor(x)
    if isinstance(x, list):
        return [_as_tensor(v, dtype) for v in x]
    if isinstance(x, tuple):
        return tuple(_as_tensor(v, dtype) for v in x)
    return x
