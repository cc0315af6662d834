"""Losses as autograd Functions.

The hot one, softmax cross-entropy from logits, is a fused native kernel (csrc/softmax.h):
one pass computes the log-sum-exp and the loss per row, backward rebuilds the softmax from the
saved log-sum-exp, so logits of 1e4 give exact finite results. This module holds the
cross-entropies over classes (and the argument checks and reductions every loss shares); the
element-wise ones (binary cross-entropy, mse, l1, hinge, Huber, KL ...) are in
_loss_elementwise.py.

Every loss takes ``reduction``: "mean" (default), "sum" or "none" (the per-sample losses).

[Note: loss options] PyTorch's options (``weight``, ``ignore_index``, ``label_smoothing`` for
cross-entropy and NLL, ``weight`` / ``pos_weight`` for the binary ones) are keyword-only
(deepcore's third positional argument is ``reduction``). Without them the fused kernels run;
with them the loss is composed from log_softmax / softplus and Tensor ops, so autograd gives
every gradient (the target's too). Their means follow PyTorch: a class-weighted mean divides
by the sum of the weights of the (non-ignored) targets, the label-smoothing term included; a
mean over nothing (every target ignored) is nan. The class axis is the last one, as
everywhere in deepcore (PyTorch's is axis 1).
"""

from __future__ import annotations

from typing import Any, Union

import numpy as np

from ... import _C
from ..._array import array_module, contiguous
from ...autograd import Function
from ...ops import _indexing
from ...tensor import Tensor
from ._activation import log_softmax

__all__ = [
    "cross_entropy",
    "nll_loss",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
]

ArrayOrTensor = Union[Tensor, np.ndarray]
_REDUCTIONS = ("mean", "sum", "none")
_KERAS_EPSILON = 1e-7  # keras.backend.epsilon()


def _data(x: Any) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _check_reduction(fn: str, reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{fn}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _check_float(fn: str, name: str, a: np.ndarray) -> None:
    if a.dtype not in (np.float16, np.float32, np.float64):
        raise TypeError(f"{fn}: {name} must be float16, float32 or float64, got {a.dtype}")


def _check_pair(
    fn: str, a: ArrayOrTensor, b: ArrayOrTensor, an: str = "input", bn: str = "target"
) -> ArrayOrTensor:
    """Check a float input and its same-shaped partner; return the partner in a's dtype (a
    constant target is cast, e.g. float64 labels for float32 predictions; a target that needs a
    gradient must already match)."""
    ad, bd = _data(a), _data(b)
    _check_float(fn, an, ad)
    if ad.shape != bd.shape:
        raise ValueError(
            f"{fn}: {an} has shape {ad.shape} but {bn} has shape {bd.shape}; they must match"
        )
    if bd.dtype != ad.dtype:
        if isinstance(b, Tensor) and b.requires_grad:
            raise TypeError(f"{fn}: {bn} has dtype {bd.dtype} but {an} has {ad.dtype}")
        return bd.astype(ad.dtype)
    return b


def _reduce(loss: np.ndarray, reduction: str) -> np.ndarray:
    if reduction == "none":
        return loss
    s = loss.sum(dtype=loss.dtype)
    if reduction == "mean":
        s = s / loss.size if loss.size else np.nan  # a mean over nothing, as PyTorch: nan
    return array_module(loss).asarray(s, dtype=loss.dtype)


def _grad_scale(g: np.ndarray, shape: tuple, reduction: str) -> Any:
    """The upstream gradient of each per-element loss (a broadcastable array)."""
    if reduction == "none":
        return g
    n = int(np.prod(shape)) if reduction == "mean" else 1
    return g / max(n, 1)


# --------------------------------------------------------------------------- cross-entropy
def _class_targets(fn: str, logits: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Class-index targets as int64 of shape logits.shape[:-1] (float labels must be whole)."""
    want = logits.shape[:-1]
    if target.shape != want:
        raise ValueError(
            f"{fn}: class-index target must have shape {want} for logits of shape "
            f"{logits.shape}, got {target.shape}"
        )
    if target.dtype.kind == "f":
        if not bool((target % 1 == 0).all()):
            raise ValueError(f"{fn}: float class labels must be whole numbers")
    elif target.dtype.kind not in "iu":
        raise TypeError(f"{fn}: target must hold integer class indices, got {target.dtype}")
    return array_module(target).ascontiguousarray(target.reshape(-1), dtype=np.int64)


def class_indices(fn: str, probs: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``_class_targets`` and every label in [0, C): the check the fused cross-entropy kernel
    makes, with its message, for the paths that index rows by label in NumPy (a label of -1
    would silently pick the last class, one of C NumPy's IndexError); an IndexError too
    ([Note: index errors] in ops/_indexing.py)."""
    t = _class_targets(fn, probs, target)
    C = probs.shape[-1]
    bad = (t < 0) | (t >= C)
    if bad.any():
        i = int(np.argmax(bad))
        raise IndexError(  # [Note: index errors]
            f"{fn}: target label {int(t[i])} at position {i} is out of range for {C} classes "
            f"(labels must be in [0, {C}))"
        )
    return t


class _CrossEntropy(Function):
    @staticmethod
    def forward(ctx: Any, logits: np.ndarray, target: np.ndarray, reduction: str) -> np.ndarray:
        C = logits.shape[-1]
        x2 = contiguous(logits).reshape(-1, C)
        target = contiguous(target)
        loss, stats = _C.cross_entropy_forward(x2, target)
        ctx.save_for_backward(x2, target, stats)
        ctx.shape, ctx.reduction = logits.shape, reduction
        return _reduce(loss.reshape(logits.shape[:-1]), reduction)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> np.ndarray:
        x2, target, stats = ctx.saved
        n = x2.shape[0]
        xp = array_module(x2)
        if ctx.reduction == "none":
            gv, scale = xp.ascontiguousarray(g, dtype=x2.dtype).reshape(-1), 1.0
        else:
            gv = xp.asarray(g, dtype=x2.dtype).reshape(1)
            scale = 1.0 / max(n, 1) if ctx.reduction == "mean" else 1.0
        gx = None
        if ctx.needs_input_grad[0]:
            gx = _C.cross_entropy_backward(x2, target, stats, gv, scale)
        gt = None
        if ctx.needs_input_grad[1]:  # probability targets: d loss / d t = -log_softmax(x)
            logp = x2 - stats[:, :1] - stats[:, 1:]
            gt = -logp * gv[:, None] * scale
        return (None if gx is None else gx.reshape(ctx.shape)), gt, None


def cross_entropy(
    logits: ArrayOrTensor,
    target: ArrayOrTensor,
    reduction: str = "mean",
    *,
    weight: ArrayOrTensor | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
) -> Tensor:
    """Softmax cross-entropy from logits, fused and numerically stable.

    ``logits`` is (N, C) (or (..., C): the class axis is the last one). ``target`` is either
    integer class indices of shape (N,) (labels outside [0, C) raise ValueError), or one-hot /
    probability rows with the shape of ``logits`` (soft targets). reduction="mean" averages over
    the N samples (PyTorch's and Keras' default). PyTorch's options (keyword-only, see
    [Note: loss options]): ``weight`` (C,) per class, ``ignore_index`` (a class label whose
    samples count for nothing), ``label_smoothing`` in [0, 1].
    """
    fn = "cross_entropy"
    _check_reduction(fn, reduction)
    x = _data(logits)
    _check_float(fn, "logits", x)
    if x.ndim < 1 or x.shape[-1] == 0:
        raise ValueError(f"{fn}: logits must have a class axis with at least one class")
    t = _data(target)
    soft = t.dtype.kind == "f" and t.shape == x.shape
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{fn}: label_smoothing must be in [0, 1], got {label_smoothing}")
    ignored = not soft and t.dtype.kind in "iu" and bool((t == ignore_index).any())
    if weight is not None or label_smoothing or ignored:
        logp = log_softmax(logits if isinstance(logits, Tensor) else Tensor(logits), axis=-1)
        w = _class_weight(fn, weight, x)
        if soft:
            tt = target if isinstance(target, Tensor) else Tensor(t)
            if tt.dtype != x.dtype:
                tt = tt.astype(x.dtype)
            if label_smoothing:
                tt = tt * (1.0 - label_smoothing) + label_smoothing / x.shape[-1]
            per = -(tt * logp * (1.0 if w is None else w)).sum(axis=-1)
            return _reduce_tensor(per, reduction)
        return _weighted_nll(fn, logp, t, w, ignore_index, label_smoothing, reduction)
    if soft:  # one-hot / probability rows
        if isinstance(target, Tensor) and target.requires_grad:
            # the target gets its gradient too: -log_softmax(x) (scaled as the loss)
            if t.dtype != x.dtype:
                raise TypeError(f"{fn}: target has dtype {t.dtype} but logits have {x.dtype}")
            t = target.reshape(-1, x.shape[-1])
        else:
            t = array_module(t).ascontiguousarray(t, dtype=x.dtype).reshape(-1, x.shape[-1])
    else:
        t = _class_targets(fn, x, t)
    return _CrossEntropy.apply(logits, t, reduction)


def _class_weight(fn: str, weight: Any, x: np.ndarray) -> Tensor | None:
    """A per-class weight as a (C,) Tensor of the input's dtype (a constant unless it is a
    Tensor that requires grad)."""
    if weight is None:
        return None
    w = _data(weight)
    if w.shape != (x.shape[-1],):
        raise ValueError(f"{fn}: weight must have shape ({x.shape[-1]},), got {w.shape}")
    if w.dtype.kind != "f":
        raise TypeError(f"{fn}: weight must be a float tensor, got {w.dtype}")
    wt = weight if isinstance(weight, Tensor) else Tensor(w)
    return wt if wt.dtype == x.dtype else wt.astype(x.dtype)


def _reduce_tensor(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.mean()


def _weighted_nll(
    fn: str,
    logp: Tensor,
    target: np.ndarray,
    w: Tensor | None,
    ignore_index: int,
    label_smoothing: float,
    reduction: str,
) -> Tensor:
    """NLL with class weights, ignored labels and label smoothing ([Note: loss options]),
    composed from Tensor ops; class axis last."""
    C = logp.shape[-1]
    want = logp.shape[:-1]
    if target.shape != want:
        raise ValueError(
            f"{fn}: class-index target must have shape {want} for input of shape {logp.shape}, "
            f"got {target.shape}"
        )
    if target.dtype.kind not in "iu":
        if target.dtype.kind != "f" or not np.all(np.mod(target, 1) == 0):
            raise TypeError(f"{fn}: target must hold integer class indices, got {target.dtype}")
    t = target.reshape(-1).astype(np.int64)
    valid = t != ignore_index
    bad = valid & ((t < 0) | (t >= C))
    if bad.any():
        i = int(np.argmax(bad))
        raise IndexError(  # [Note: index errors]
            f"{fn}: target label {int(t[i])} at position {i} is out of range for {C} classes "
            f"(labels must be in [0, {C}) or ignore_index={ignore_index})"
        )
    safe = np.where(valid, t, 0)
    lp = logp.reshape(-1, C)
    picked = _indexing.take_along_axis(lp, safe[:, None], axis=1).reshape(-1)
    keep = Tensor(valid.astype(lp.dtype))
    wt = keep if w is None else _indexing.take(w, safe) * keep
    loss = -(picked * wt) * (1.0 - label_smoothing)
    if label_smoothing:
        smooth = -(lp * (1.0 if w is None else w)).sum(axis=1) * keep
        loss = loss + smooth * (label_smoothing / C)
    if reduction == "none":
        return loss.reshape(want)
    if reduction == "sum":
        return loss.sum()
    with np.errstate(invalid="ignore"):  # every target ignored: 0 / 0 = nan, as PyTorch
        return loss.sum() / wt.sum()


class _NLL(Function):
    @staticmethod
    def forward(ctx: Any, logp: np.ndarray, target: np.ndarray, reduction: str) -> np.ndarray:
        rows = np.arange(target.size)
        picked = logp.reshape(-1, logp.shape[-1])[rows, target]
        ctx.save_for_backward(target)
        ctx.shape, ctx.dtype, ctx.reduction = logp.shape, logp.dtype, reduction
        return _reduce(-picked.reshape(logp.shape[:-1]), reduction)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> np.ndarray:
        (target,) = ctx.saved
        C = ctx.shape[-1]
        gx = np.zeros((target.size, C), dtype=ctx.dtype)
        gl = np.broadcast_to(_grad_scale(g, ctx.shape[:-1], ctx.reduction), ctx.shape[:-1])
        gx[np.arange(target.size), target] = -gl.reshape(-1)
        return gx.reshape(ctx.shape)


def nll_loss(
    log_probs: ArrayOrTensor,
    target: ArrayOrTensor,
    reduction: str = "mean",
    *,
    weight: ArrayOrTensor | None = None,
    ignore_index: int = -100,
) -> Tensor:
    """Negative log-likelihood of class indices given log-probabilities (N, C) (class axis
    last): -log_probs[i, target[i]]. cross_entropy(x, t) == nll_loss(log_softmax(x), t).
    ``weight`` and ``ignore_index`` as in cross_entropy ([Note: loss options])."""
    fn = "nll_loss"
    _check_reduction(fn, reduction)
    x = _data(log_probs)
    _check_float(fn, "log_probs", x)
    if x.ndim < 1:
        raise ValueError(f"{fn}: log_probs must have a class axis, got a scalar")
    td = _data(target)
    if weight is not None or (td.dtype.kind in "iu" and bool((td == ignore_index).any())):
        lp = log_probs if isinstance(log_probs, Tensor) else Tensor(x)
        return _weighted_nll(fn, lp, td, _class_weight(fn, weight, x), ignore_index, 0.0, reduction)
    t = class_indices(fn, x, td)
    return _NLL.apply(log_probs, t, reduction)


class _CategoricalCE(Function):
    """-sum(t * log(clip(p / sum(p), eps, 1 - eps))) over the last axis (Keras)."""

    @staticmethod
    def forward(ctx: Any, p: np.ndarray, t: np.ndarray, eps: float, reduction: str) -> np.ndarray:
        s = p.sum(axis=-1, keepdims=True)
        q = p / s
        qc = np.clip(q, eps, 1.0 - eps)
        loss = -(t * np.log(qc)).sum(axis=-1)
        ctx.save_for_backward(p, t, s, q, qc)
        ctx.eps, ctx.reduction = eps, reduction
        return _reduce(loss, reduction)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p, t, s, q, qc = ctx.saved
        gl = _grad_scale(g, q.shape[:-1], ctx.reduction)[..., None]
        # d/dq of -t log(clip(q)) is -t/q inside the clip range, 0 outside; then through q=p/s
        dq = np.where((q >= ctx.eps) & (q <= 1.0 - ctx.eps), -t / qc, 0.0) * gl
        gp = (dq - (dq * q).sum(axis=-1, keepdims=True)) / s
        gt = -np.log(qc) * gl
        return gp.astype(p.dtype, copy=False), gt.astype(t.dtype, copy=False)


def categorical_crossentropy(
    probs: ArrayOrTensor,
    target: ArrayOrTensor,
    from_logits: bool = False,
    eps: float = _KERAS_EPSILON,
    reduction: str = "mean",
) -> Tensor:
    """Keras' categorical cross-entropy: ``target`` one-hot / probability rows, ``probs`` the
    predicted distribution over the last axis (rescaled to sum to 1 and clipped to
    [eps, 1 - eps] as Keras does). from_logits=True takes logits and uses the fused
    cross_entropy kernel."""
    fn = "categorical_crossentropy"
    _check_reduction(fn, reduction)
    target = _check_pair(fn, probs, target, "probs", "target")
    if from_logits:
        return cross_entropy(probs, target, reduction=reduction)
    return _CategoricalCE.apply(probs, target, float(eps), reduction)


def sparse_categorical_crossentropy(
    probs: ArrayOrTensor,
    target: ArrayOrTensor,
    from_logits: bool = False,
    eps: float = _KERAS_EPSILON,
    reduction: str = "mean",
) -> Tensor:
    """Keras' sparse categorical cross-entropy: integer labels, ``probs`` a distribution over
    the last axis (clipped to [eps, 1 - eps]); from_logits=True is the fused cross_entropy."""
    fn = "sparse_categorical_crossentropy"
    _check_reduction(fn, reduction)
    if from_logits:
        return cross_entropy(probs, target, reduction=reduction)
    p = _data(probs)
    _check_float(fn, "probs", p)
    t = class_indices(fn, p, _data(target))
    C = p.shape[-1]
    onehot = np.zeros((t.size, C), dtype=p.dtype)
    onehot[np.arange(t.size), t] = 1
    return _CategoricalCE.apply(probs, onehot.reshape(p.shape), float(eps), reduction)
