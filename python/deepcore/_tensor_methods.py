"""Tensor's operators and methods, in one table (``_METHODS`` below): ``x + y``, ``x @ w``,
``x[idx]``, ``x.sum(axis=1)``, ``x.reshape(...)``, ``x.relu()``, ... Each is the function of
:mod:`deepcore.ops` or :mod:`deepcore.nn.functional` of the same name (``x.sum(axis=1)`` is
``deepcore.sum(x, axis=1)``), attached to :class:`deepcore.Tensor` when ``deepcore`` is
imported. The binary operators take the hot path of [Note: apply fast path] (autograd.py) for
two tensors of one dtype and reconcile dtypes as the ops' conventions say otherwise (see
deepcore/ops/__init__.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import ops
from ._array import array_module
from .autograd import Function, _state
from .nn import functional as F
from .ops._common import Scalar, _binary, _check_broadcast, _coerce
from .ops._elementwise import Add, Clone, Div, Mul, Neg, Pow, Sub, _div, _div_operands
from .ops._indexing import getitem, setitem
from .ops._matmul import matmul
from .ops._shape import reshape
from .tensor import Tensor


def _xp_asarray(v: Any, like: Tensor) -> Any:
    """A reduction's result (possibly a NumPy scalar) as an array of ``like``'s library."""
    return array_module(like.data).asarray(v)


def _binary_op(fn: type[Function], name: str, reflected: bool = False) -> Any:
    apply = fn.apply

    def op(self: Tensor, other: Any) -> Any:
        # hot path (see [Note: apply fast path]): two tensors of one dtype need no coercion
        if type(other) is Tensor and other.data.dtype is self.data.dtype:
            try:
                return apply(other, self) if reflected else apply(self, other)
            except ValueError:
                _check_broadcast(self, other, name)
                raise
        o = _coerce(other)
        if o is NotImplemented:
            return NotImplemented
        try:
            return _binary(fn, o, self) if reflected else _binary(fn, self, o)
        except ValueError:
            _check_broadcast(self, o, name)  # a clearer message for the common mistake
            raise

    op.__name__ = name
    return op


def _inplace(ufunc: str, fn: type[Function], name: str) -> Any:
    def op(self: Tensor, other: Any) -> Any:
        o = _coerce(other)
        if o is NotImplemented:
            return NotImplemented
        if _state.enabled and (self.requires_grad or (isinstance(o, Tensor) and o.requires_grad)):
            if self.requires_grad and self._ctx is None:
                raise RuntimeError(
                    f"a leaf tensor that requires grad is used in an in-place operation ({name});"
                    " update it under `with deepcore.no_grad():`"
                )
            # a graph is being recorded: compute out of place and rebind the name, so the
            # gradient stays correct (the old tensor's saved values are untouched)
            return _binary(fn, self, o)
        x = self.data
        getattr(array_module(x), ufunc)(x, o.data if isinstance(o, Tensor) else o, out=x)
        return self

    op.__name__ = name
    return op


def _compare(ufunc: str, name: str) -> Any:
    def op(self: Tensor, other: Any) -> Any:
        o = _coerce(other)
        if o is NotImplemented:
            return NotImplemented
        x = self.data
        return Tensor._wrap(
            getattr(array_module(x), ufunc)(x, o.data if isinstance(o, Tensor) else o)
        )

    op.__name__ = name
    return op


def _truediv(self: Tensor, other: Any) -> Any:
    o = _coerce(other)
    if o is NotImplemented:
        return NotImplemented
    return _div(*_div_operands(self, o))


def _rtruediv(self: Tensor, other: Any) -> Any:
    o = _coerce(other)
    if o is NotImplemented:
        return NotImplemented
    return _div(*_div_operands(o, self))


def _matmul_op(self: Tensor, other: Any) -> Any:
    if not isinstance(other, (Tensor, np.ndarray, list)):
        return NotImplemented
    return matmul(self, other)


def _rmatmul_op(self: Tensor, other: Any) -> Any:
    if not isinstance(other, (Tensor, np.ndarray, list)):
        return NotImplemented
    return matmul(other, self)


def _method_reshape(self: Tensor, *shape: Any) -> Tensor:
    return reshape(self, *shape)


def _iter(self: Tensor) -> Any:
    if self.ndim == 0:
        raise TypeError("iteration over a 0-d tensor")
    return (getitem(self, i) for i in range(self.shape[0]))


def _fill_(self: Tensor, value: Scalar) -> Tensor:
    setitem(self, Ellipsis, value)
    return self


def _zero_(self: Tensor) -> Tensor:
    return _fill_(self, 0)


_METHODS: dict[str, Any] = {
    # arithmetic operators
    "__add__": _binary_op(Add, "add"),
    "__radd__": _binary_op(Add, "add", reflected=True),
    "__sub__": _binary_op(Sub, "sub"),
    "__rsub__": _binary_op(Sub, "sub", reflected=True),
    "__mul__": _binary_op(Mul, "mul"),
    "__rmul__": _binary_op(Mul, "mul", reflected=True),
    "__truediv__": _truediv,
    "__rtruediv__": _rtruediv,
    "__pow__": _binary_op(Pow, "pow"),
    "__rpow__": _binary_op(Pow, "pow", reflected=True),
    "__matmul__": _matmul_op,
    "__rmatmul__": _rmatmul_op,
    "__neg__": lambda self: Neg.apply(self),
    "__pos__": lambda self: self,
    "__abs__": ops.abs,
    "__iadd__": _inplace("add", Add, "+="),
    "__isub__": _inplace("subtract", Sub, "-="),
    "__imul__": _inplace("multiply", Mul, "*="),
    "__itruediv__": _inplace("true_divide", Div, "/="),
    # comparisons: bool tensors, no gradient
    "__lt__": _compare("less", "__lt__"),
    "__le__": _compare("less_equal", "__le__"),
    "__gt__": _compare("greater", "__gt__"),
    "__ge__": _compare("greater_equal", "__ge__"),
    "__eq__": _compare("equal", "__eq__"),
    "__ne__": _compare("not_equal", "__ne__"),
    # logical / bitwise on bool and integer tensors (masks): no gradient
    "__and__": _compare("bitwise_and", "__and__"),
    "__rand__": _compare("bitwise_and", "__rand__"),
    "__or__": _compare("bitwise_or", "__or__"),
    "__ror__": _compare("bitwise_or", "__ror__"),
    "__xor__": _compare("bitwise_xor", "__xor__"),
    "__rxor__": _compare("bitwise_xor", "__rxor__"),
    "__invert__": lambda self: Tensor._wrap(~self.data),
    "__getitem__": getitem,
    "__setitem__": setitem,
    "__iter__": _iter,
    # named methods
    "add": ops.add,
    "sub": ops.sub,
    "mul": ops.mul,
    "div": ops.div,
    "pow": ops.pow,
    "neg": ops.neg,
    "exp": ops.exp,
    "log": ops.log,
    "sqrt": ops.sqrt,
    "abs": ops.abs,
    "clip": ops.clip,
    "clamp": ops.clip,
    "maximum": ops.maximum,
    "minimum": ops.minimum,
    "matmul": matmul,
    "sum": ops.sum,
    "mean": ops.mean,
    "max": ops.max,
    "min": ops.min,
    "var": ops.var,
    "std": ops.std,
    "argmax": ops.argmax,
    "argmin": ops.argmin,
    "cumsum": ops.cumsum,
    "cumprod": ops.cumprod,
    "cummax": ops.cummax,
    "cummin": ops.cummin,
    "logcumsumexp": ops.logcumsumexp,
    "gather": ops.gather,
    "scatter": ops.scatter,
    "scatter_add": ops.scatter_add,
    "scatter_reduce": ops.scatter_reduce,
    "reshape": _method_reshape,
    "view": ops.view,
    "flatten": ops.flatten,
    "squeeze": ops.squeeze,
    "unsqueeze": ops.unsqueeze,
    "expand": ops.expand,
    "broadcast_to": ops.expand,
    "permute": ops.permute,
    "transpose": ops.transpose,
    "swapaxes": ops.swapaxes,
    "T": property(lambda self: ops.transpose(self)),
    "mT": property(lambda self: ops.swapaxes(self, -1, -2)),
    "astype": ops.cast,
    "float": lambda self: ops.cast(self, np.float32),
    "double": lambda self: ops.cast(self, np.float64),
    "long": lambda self: ops.cast(self, np.int64),
    "bool": lambda self: ops.cast(self, np.bool_),
    "clone": lambda self: Clone.apply(self),
    "fill_": _fill_,
    "zero_": _zero_,
    "any": lambda self, axis=None: Tensor._wrap(_xp_asarray(self.data.any(axis=axis), self)),
    "all": lambda self, axis=None: Tensor._wrap(_xp_asarray(self.data.all(axis=axis), self)),
    # activations: deepcore.nn.functional's (fused native kernels)
    "relu": F.relu,
    "sigmoid": F.sigmoid,
    "tanh": F.tanh,
    "softmax": F.softmax,
    "log_softmax": F.log_softmax,
}

for _name, _fn in _METHODS.items():
    setattr(Tensor, _name, _fn)
del _name, _fn
