"""Parameter: a Tensor that is a trainable weight."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor

__all__ = ["Parameter"]


class Parameter(Tensor):
    """A Tensor that is a trainable weight: ``requires_grad=True`` by default, shares storage."""

    __slots__ = ()
    _autocast_var = True  # read in float16 inside a mixed_float16 layer's call (autograd.py)

    def __init__(self, data: Any, requires_grad: bool = True) -> None:
        if not isinstance(data, (Tensor, np.ndarray)):
            data = np.asarray(data, dtype=np.float32)
        super().__init__(data, requires_grad=requires_grad)

    @property
    def value(self) -> Parameter:
        """Keras's ``variable.value``: the weight itself (``v.value.grad`` after backward)."""
        return self

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
