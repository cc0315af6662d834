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

from ._array import array_module
from .autograd import Function, _state
from .nn import functional as F
from .ops import raw as ops  # the unrouted functions ([Note: ops on placeholders])
from .ops._common import Scalar, _binary, _check_broadcast, _coerce, _shape_args
from .ops._elementwise import Add, Clone, Div, Mul, Neg, Pow, Sub, _div, _div_operands
from .ops._indexing import getitem, setitem
from .ops._indexing import nonzero as _indexing_nonzero
from .ops._matmul import matmul
from .ops._scatter import scatter as _torch_scatter
from .ops._shape import reshape
from .ops._sorting import sort as _sorting_sort
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


def _tensor_repeat(self: Tensor, *sizes: Any) -> Tensor:
    """PyTorch's ``x.repeat(*sizes)``: tile ([Note: repeat vs tile] in ops/_rearrange.py)."""
    reps = _shape_args(sizes)
    if len(reps) < self.ndim:
        raise ValueError(
            f"repeat: {len(reps)} sizes given for a tensor of dimension {self.ndim} (need at "
            "least one per dimension)"
        )
    return ops.tile(self, reps)


def _tensor_norm(self: Tensor, p: Any = "fro", dim: Any = None, keepdim: bool = False) -> Tensor:
    """PyTorch's ``x.norm(p, dim, keepdim)``: a vector norm over ``dim`` (all elements when
    None)."""
    return ops.norm(self, p=p, dim=dim, keepdim=keepdim)


def _reflected(fn: Any) -> Any:
    return lambda self, other: fn(other, self)


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
    "scatter": _torch_scatter,
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
    "half": lambda self: ops.cast(self, np.float16),
    "float": lambda self: ops.cast(self, np.float32),
    "double": lambda self: ops.cast(self, np.float64),
    "long": lambda self: ops.cast(self, np.int64),
    "bool": lambda self: ops.cast(self, np.bool_),
    "clone": lambda self: Clone.apply(self),
    "fill_": _fill_,
    "zero_": _zero_,
    "any": lambda self, axis=None: Tensor._wrap(_xp_asarray(self.data.any(axis=axis), self)),
    "all": lambda self, axis=None: Tensor._wrap(_xp_asarray(self.data.all(axis=axis), self)),
    # integer division, remainders, shifts ([Note: integer division] in ops/_math.py)
    "__floordiv__": ops.floor_divide,
    "__rfloordiv__": _reflected(ops.floor_divide),
    "__mod__": ops.remainder,
    "__rmod__": _reflected(ops.remainder),
    "__lshift__": ops.bitwise_left_shift,
    "__rlshift__": _reflected(ops.bitwise_left_shift),
    "__rshift__": ops.bitwise_right_shift,
    "__rrshift__": _reflected(ops.bitwise_right_shift),
    "floor_divide": ops.floor_divide,
    "remainder": ops.remainder,
    "fmod": ops.fmod,
    "true_divide": ops.div,
    "bitwise_left_shift": ops.bitwise_left_shift,
    "bitwise_right_shift": ops.bitwise_right_shift,
    # element-wise math (ops/_math.py)
    **{
        name: getattr(ops, name)
        for name in """sin cos tan asin acos atan arcsin arccos arctan sinh cosh asinh acosh atanh
        arcsinh arccosh arctanh log2 log10 log1p expm1 exp2 erf erfinv square reciprocal rsqrt
        floor ceil trunc round sign atan2 arctan2 logaddexp lerp isnan isinf isfinite isclose
        allclose logical_and logical_or logical_xor logical_not""".split()
    },
    "eq": ops.equal,
    "ne": ops.not_equal,
    "gt": ops.greater,
    "ge": ops.greater_equal,
    "lt": ops.less,
    "le": ops.less_equal,
    # reductions
    "prod": ops.prod,
    "logsumexp": ops.logsumexp,
    "norm": _tensor_norm,
    # indexing, sorting, shape (PyTorch's meanings: [Note: two audiences, one namespace])
    "index_select": ops.index_select,
    "take": ops.take,
    "take_along_dim": ops.take_along_axis,
    "masked_fill": ops.masked_fill,
    "nonzero": _indexing_nonzero,
    "sort": _sorting_sort,
    "argsort": ops.argsort,
    "topk": ops.topk,
    "flip": ops.flip,
    "roll": ops.roll,
    "repeat": _tensor_repeat,
    "repeat_interleave": ops.repeat_interleave,
    "tile": ops.tile,
    "chunk": ops.chunk,
    "unbind": ops.unbind,
    "diag": ops.diag,
    "tril": ops.tril,
    "triu": ops.triu,
    "moveaxis": ops.moveaxis,
    "movedim": ops.moveaxis,
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
