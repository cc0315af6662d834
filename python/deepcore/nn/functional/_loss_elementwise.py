"""The element-wise losses as autograd Functions: binary cross-entropy (of probabilities or
logits), mse / l1, hinge, and the composites (KL divergence, Huber / smooth L1, cosine
similarity, margin ranking). A few vectorised NumPy expressions each (memory-bound, no Python
loops). The argument checks, reductions and [Note: loss options] are _loss.py's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import _C
from ...autograd import Function
from ...ops import _elementwise, _reductions
from ...ops._common import _broadcasts_to
from ...tensor import Tensor
from ._activation import relu, softplus
from ._loss import (
    _KERAS_EPSILON,
    ArrayOrTensor,
    _check_float,
    _check_pair,
    _check_reduction,
    _data,
    _grad_scale,
    _reduce,
    _reduce_tensor,
)

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "mse_loss",
    "l1_loss",
    "hinge_loss",
    "kl_div",
    "huber_loss",
    "smooth_l1_loss",
    "cosine_similarity",
    "margin_ranking_loss",
]


class _BCE(Function):
    """-(t log p + (1 - t) log(1 - p)) with p clipped to [eps, 1 - eps] (Keras)."""

    @staticmethod
    def forward(ctx: Any, p: np.ndarray, t: np.ndarray, eps: float, reduction: str) -> np.ndarray:
        pc = np.clip(p, eps, 1.0 - eps)
        loss = -(t * np.log(pc) + (1.0 - t) * np.log1p(-pc))
        ctx.save_for_backward(p, t, pc)
        ctx.eps, ctx.reduction = eps, reduction
        return _reduce(loss, reduction)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p, t, pc = ctx.saved
        gl = _grad_scale(g, p.shape, ctx.reduction)
        inside = (p >= ctx.eps) & (p <= 1.0 - ctx.eps)
        gp = np.where(inside, (pc - t) / (pc * (1.0 - pc)), 0.0) * gl
        gt = (np.log1p(-pc) - np.log(pc)) * gl
        return gp.astype(p.dtype, copy=False), gt.astype(t.dtype, copy=False)


def binary_cross_entropy(
    p: ArrayOrTensor,
    t: ArrayOrTensor,
    eps: float = _KERAS_EPSILON,
    reduction: str = "mean",
    *,
    weight: ArrayOrTensor | None = None,
) -> Tensor:
    """Binary cross-entropy of probabilities ``p`` against targets ``t`` in [0, 1], element-wise
    (mean over every element), p clipped to [eps, 1 - eps] as Keras does so log(0) never
    happens (PyTorch instead clamps the log at -100). ``weight`` (broadcast to p's shape)
    scales each element's loss."""
    fn = "binary_cross_entropy"
    _check_reduction(fn, reduction)
    t = _check_pair(fn, p, t)
    if weight is not None:
        loss = _BCE.apply(p, t, float(eps), "none") * _elementwise_weight(fn, "weight", weight, p)
        return _reduce_tensor(loss, reduction)
    return _BCE.apply(p, t, float(eps), reduction)


def _elementwise_weight(fn: str, name: str, weight: Any, x: ArrayOrTensor) -> Tensor:
    """A weight that broadcasts to x's shape, as a Tensor of x's dtype."""
    xd, w = _data(x), _data(weight)
    if w.dtype.kind != "f":
        raise TypeError(f"{fn}: {name} must be a float tensor, got {w.dtype}")
    if not _broadcasts_to(w.shape, xd.shape):
        raise ValueError(f"{fn}: {name} of shape {w.shape} does not broadcast to {xd.shape}")
    wt = weight if isinstance(weight, Tensor) else Tensor(w)
    return wt if wt.dtype == xd.dtype else wt.astype(xd.dtype)


class _BCEWithLogits(Function):
    """max(z, 0) - z t + log(1 + exp(-|z|)): never overflows."""

    @staticmethod
    def forward(ctx: Any, z: np.ndarray, t: np.ndarray, reduction: str) -> np.ndarray:
        loss = np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))
        ctx.save_for_backward(z, t)
        ctx.reduction = reduction
        return _reduce(loss.astype(z.dtype, copy=False), reduction)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z, t = ctx.saved
        gl = _grad_scale(g, z.shape, ctx.reduction)
        # reshape: ascontiguousarray makes a 0-d z (1,), which gave a (1,) gradient for it
        s = _C.activation_forward(np.ascontiguousarray(z), "sigmoid").reshape(z.shape)
        return ((s - t) * gl).astype(z.dtype, copy=False), (-z * gl).astype(t.dtype, copy=False)


def binary_cross_entropy_with_logits(
    logits: ArrayOrTensor,
    t: ArrayOrTensor,
    reduction: str = "mean",
    *,
    weight: ArrayOrTensor | None = None,
    pos_weight: ArrayOrTensor | None = None,
) -> Tensor:
    """Binary cross-entropy of sigmoid(logits) against ``t``, computed stably from the logits.
    ``weight`` scales each element's loss; ``pos_weight`` (broadcast along the last axis,
    one per class) scales the positive term: (1 - t)·z + (1 + (pos_weight - 1)·t)·softplus(-z),
    PyTorch's formula."""
    fn = "binary_cross_entropy_with_logits"
    _check_reduction(fn, reduction)
    t = _check_pair(fn, logits, t, "logits", "target")
    if weight is None and pos_weight is None:
        return _BCEWithLogits.apply(logits, t, reduction)
    z = logits if isinstance(logits, Tensor) else Tensor(logits)
    tt = t if isinstance(t, Tensor) else Tensor(t)
    if pos_weight is None:
        loss = _BCEWithLogits.apply(z, tt, "none")
    else:
        pw = _elementwise_weight(fn, "pos_weight", pos_weight, z)
        loss = (1.0 - tt) * z + (1.0 + (pw - 1.0) * tt) * softplus(-z, threshold=float("inf"))
    if weight is not None:
        loss = loss * _elementwise_weight(fn, "weight", weight, z)
    return _reduce_tensor(loss, reduction)


class _Pointwise(Function):
    """Element-wise losses of a difference d = a - b: "mse" d², "l1" |d|."""

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray, kind: str, reduction: str) -> np.ndarray:
        d = a - b
        loss = d * d if kind == "mse" else np.abs(d)
        ctx.save_for_backward(d)
        ctx.kind, ctx.reduction = kind, reduction
        return _reduce(loss, reduction)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        (d,) = ctx.saved
        gl = _grad_scale(g, d.shape, ctx.reduction)
        gd = (2 * d if ctx.kind == "mse" else np.sign(d)) * gl
        gd = gd.astype(d.dtype, copy=False)
        return gd, -gd


def mse_loss(a: ArrayOrTensor, b: ArrayOrTensor, reduction: str = "mean") -> Tensor:
    """Mean squared error mean((a - b)²) over every element. Shapes must match exactly
    (no broadcasting: a (N, 1) vs (N,) mix-up raises instead of silently averaging N² terms)."""
    _check_reduction("mse_loss", reduction)
    b = _check_pair("mse_loss", a, b)
    return _Pointwise.apply(a, b, "mse", reduction)


def l1_loss(a: ArrayOrTensor, b: ArrayOrTensor, reduction: str = "mean") -> Tensor:
    """Mean absolute error mean(|a - b|); the gradient at a == b is 0."""
    _check_reduction("l1_loss", reduction)
    b = _check_pair("l1_loss", a, b)
    return _Pointwise.apply(a, b, "l1", reduction)


class _Hinge(Function):
    @staticmethod
    def forward(ctx: Any, s: np.ndarray, y: np.ndarray, reduction: str) -> np.ndarray:
        m = 1.0 - y * s
        ctx.save_for_backward(s, y, m > 0)
        ctx.reduction = reduction
        return _reduce(np.maximum(m, 0).astype(s.dtype, copy=False), reduction)

    @staticmethod
    def backward(ctx: Any, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s, y, active = ctx.saved
        gl = _grad_scale(g, s.shape, ctx.reduction)
        gs = np.where(active, -y, 0) * gl
        gy = np.where(active, -s, 0) * gl
        return gs.astype(s.dtype, copy=False), gy.astype(y.dtype, copy=False)


def hinge_loss(score: ArrayOrTensor, y: ArrayOrTensor, reduction: str = "mean") -> Tensor:
    """mean(max(0, 1 - y * score)) with labels y in {-1, +1}."""
    _check_reduction("hinge_loss", reduction)
    y = _check_pair("hinge_loss", score, y, "score", "y")
    return _Hinge.apply(score, y, reduction)


# ----------------------------------------------------------------------------- composites
# The losses below are composed from Tensor ops and native activations (autograd gives
# every gradient, the target's included); each is a handful of element-wise passes.
def _float_pair(fn: str, a: ArrayOrTensor, b: ArrayOrTensor, an: str, bn: str) -> tuple:
    b = _check_pair(fn, a, b, an, bn)
    ta = a if isinstance(a, Tensor) else Tensor(a)
    tb = b if isinstance(b, Tensor) else Tensor(b)
    return ta, tb


def kl_div(
    input: ArrayOrTensor,  # noqa: A002
    target: ArrayOrTensor,
    reduction: str = "mean",
    log_target: bool = False,
) -> Tensor:
    """PyTorch's ``kl_div``: ``input`` log-probabilities, ``target`` probabilities (or
    log-probabilities with ``log_target=True``); the pointwise loss is
    target · (log target - input), 0 where target is 0. reduction "batchmean" divides the sum
    by the batch size (the KL divergence per sample); "mean" averages over every element (as
    PyTorch, which warns that this is not the KL divergence)."""
    fn = "kl_div"
    if reduction not in ("mean", "sum", "none", "batchmean"):
        raise ValueError(
            f"{fn}: reduction must be 'mean', 'batchmean', 'sum' or 'none', got {reduction!r}"
        )
    x, t = _float_pair(fn, input, target, "input", "target")
    if log_target:
        loss = _elementwise.exp(t) * (t - x)
    else:
        pos = t.detach() > 0
        safe = _elementwise.where(pos, t, 1.0)
        loss = _elementwise.where(pos, t * _elementwise.log(safe), 0.0) - t * x
    if reduction == "batchmean":
        n = x.shape[0] if x.ndim else 1
        return loss.sum() / n
    return _reduce_tensor(loss, reduction)


def _huber(d: Tensor, delta: float) -> Tensor:
    a = _elementwise.abs(d)
    return _elementwise.where(a.detach() < delta, 0.5 * d * d, delta * (a - 0.5 * delta))


def huber_loss(
    input: ArrayOrTensor,  # noqa: A002
    target: ArrayOrTensor,
    reduction: str = "mean",
    delta: float = 1.0,
) -> Tensor:
    """0.5·d² where |d| < delta, delta·(|d| - delta/2) elsewhere (d = input - target;
    PyTorch's ``huber_loss`` and Keras's ``Huber``)."""
    fn = "huber_loss"
    _check_reduction(fn, reduction)
    if not delta > 0:
        raise ValueError(f"{fn}: delta must be > 0, got {delta}")
    x, t = _float_pair(fn, input, target, "input", "target")
    return _reduce_tensor(_huber(x - t, float(delta)), reduction)


def smooth_l1_loss(
    input: ArrayOrTensor,  # noqa: A002
    target: ArrayOrTensor,
    reduction: str = "mean",
    beta: float = 1.0,
) -> Tensor:
    """0.5·d²/beta where |d| < beta, |d| - beta/2 elsewhere: huber_loss / beta (beta = 0 is
    the L1 loss)."""
    fn = "smooth_l1_loss"
    _check_reduction(fn, reduction)
    if beta < 0:
        raise ValueError(f"{fn}: beta must be >= 0, got {beta}")
    if beta == 0:
        return l1_loss(input, target, reduction)
    x, t = _float_pair(fn, input, target, "input", "target")
    return _reduce_tensor(_huber(x - t, float(beta)) * (1.0 / beta), reduction)


def cosine_similarity(
    x1: ArrayOrTensor, x2: ArrayOrTensor, axis: int = 1, eps: float = 1e-8, *, dim: Any = None
) -> Tensor:
    """sum(x1·x2) / (max(‖x1‖, eps)·max(‖x2‖, eps)) along ``axis`` (PyTorch's default axis 1,
    ``dim=``); x1 and x2 broadcast."""
    fn = "cosine_similarity"
    a = x1 if isinstance(x1, Tensor) else Tensor(x1)
    b = x2 if isinstance(x2, Tensor) else Tensor(x2)
    _check_float(fn, "x1", a.data)
    _check_float(fn, "x2", b.data)
    try:
        shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"{fn}: x1 {a.shape} and x2 {b.shape} cannot be broadcast") from None
    ax = axis if dim is None else dim
    if not -len(shape) <= ax < len(shape):
        raise ValueError(f"{fn}: axis {ax} is out of range for shape {shape}")
    n1 = _elementwise.maximum(_reductions.norm(a, p=2, dim=ax, keepdim=True), eps)
    n2 = _elementwise.maximum(_reductions.norm(b, p=2, dim=ax, keepdim=True), eps)
    return ((a / n1) * (b / n2)).sum(axis=ax)


def margin_ranking_loss(
    x1: ArrayOrTensor,
    x2: ArrayOrTensor,
    target: ArrayOrTensor,
    margin: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    """max(0, -target·(x1 - x2) + margin) with target in {1, -1} (1: x1 should rank higher)."""
    fn = "margin_ranking_loss"
    _check_reduction(fn, reduction)
    a, b = _float_pair(fn, x1, x2, "x1", "x2")
    _, y = _float_pair(fn, x1, target, "x1", "target")
    return _reduce_tensor(relu(-y * (a - b) + float(margin)), reduction)
