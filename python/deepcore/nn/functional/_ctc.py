"""The CTC loss (connectionist temporal classification), PyTorch's ``F.ctc_loss``: the
alpha-beta recursion runs in native code (csrc/ctc.h, [Note: CTC recursion]); this module
normalises the arguments and reduces."""

from __future__ import annotations

from typing import Any, Union

import numpy as np

from ... import _C
from ..._checks import is_int
from ...autograd import Function
from ...tensor import Tensor
from ._activation import _contig

__all__ = ["ctc_loss"]

ArrayOrTensor = Union[Tensor, np.ndarray]


class _CTC(Function):
    """nll (N,) of log_probs (T, N, C) for padded int64 targets (N, S)."""

    @staticmethod
    def forward(ctx, log_probs, targets, input_lengths, target_lengths, blank, zero_infinity):
        lp = _contig(log_probs)
        nll = _C.ctc_loss_forward(lp, targets, input_lengths, target_lengths, blank)
        ctx.save_for_backward(lp)
        ctx.args = (targets, input_lengths, target_lengths, nll, blank, zero_infinity)
        if zero_infinity:
            nll = np.where(np.isinf(nll), nll.dtype.type(0), nll)
        return nll

    @staticmethod
    def backward(ctx, g):
        (lp,) = ctx.saved
        targets, input_lengths, target_lengths, nll, blank, zero_infinity = ctx.args
        g = _contig(np.asarray(g, dtype=lp.dtype))
        grad = _C.ctc_loss_backward(
            g, lp, targets, input_lengths, target_lengths, nll, blank, zero_infinity
        )
        return grad, None, None, None, None, None


def _int64(x: Any, name: str, ndim: tuple[int, ...]) -> np.ndarray:
    """An integer argument (Tensor, array, list or int) as a C-contiguous int64 array."""
    a = np.asarray(x.data if isinstance(x, Tensor) else x)
    if a.dtype.kind not in "iu":
        raise TypeError(f"ctc_loss: {name} must hold integers, got dtype {a.dtype}")
    if a.ndim not in ndim:
        raise ValueError(
            f"ctc_loss: {name} must be {' or '.join(f'{d}-D' for d in ndim)}, got shape {a.shape}"
        )
    if a.dtype == np.uint64 and a.size and a.max() > np.iinfo(np.int64).max:
        raise ValueError(f"ctc_loss: {name} has values too large for int64")
    return np.ascontiguousarray(a, dtype=np.int64)


def _padded(targets: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated 1-D targets (sum(lengths),) as padded rows (N, max(lengths))."""
    if (lengths < 0).any():
        raise ValueError(f"ctc_loss: target_lengths must be >= 0, got {lengths.tolist()}")
    if targets.size != lengths.sum():
        raise ValueError(
            f"ctc_loss: 1-D targets hold the labels of every sample one after another, so their "
            f"length ({targets.size}) must be sum(target_lengths) ({int(lengths.sum())})"
        )
    width = int(lengths.max()) if lengths.size else 0
    start = np.cumsum(lengths) - lengths
    pos = np.arange(width)
    inside = pos[None, :] < lengths[:, None]
    idx = np.where(inside, start[:, None] + pos[None, :], 0)
    return np.where(inside, targets[idx] if targets.size else 0, 0).astype(np.int64)


def ctc_loss(
    log_probs: ArrayOrTensor,
    targets: ArrayOrTensor,
    input_lengths: Any,
    target_lengths: Any,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> Tensor:
    """PyTorch's ``F.ctc_loss``: the negative log-likelihood of ``targets`` under every
    alignment of ``log_probs`` (T, N, C) (or (T, C) for one sample), log-probabilities of C
    classes of which ``blank`` is the blank.

    targets: (N, S) labels padded to S, or 1-D with every sample's labels one after another
    (length sum(target_lengths)); labels are in [0, C) and never the blank. input_lengths /
    target_lengths: N integers (a Tensor, array or sequence; one integer for unbatched input).
    reduction: 'mean' (each loss divided by its target length, at least 1, then the batch
    mean, as PyTorch), 'sum' or 'none' (per sample). A sample with no alignment (an input
    too short for its labels and their repeats) has loss +inf, and NaN gradients, unless
    ``zero_infinity`` (loss 0, gradient 0). The gradient is the exact one with respect to
    ``log_probs`` ([Note: CTC recursion] in csrc/ctc.h: after a log_softmax it equals
    PyTorch's)."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"ctc_loss: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if not is_int(blank):
        raise TypeError(f"ctc_loss: blank must be an int, got {type(blank).__name__}")
    lp = log_probs
    if lp.ndim not in (2, 3):
        raise ValueError(f"ctc_loss: log_probs must be (T, N, C) or (T, C), got shape {lp.shape}")
    if lp.dtype.kind != "f":
        raise TypeError(f"ctc_loss: log_probs must be float32 or float64, got {lp.dtype}")
    unbatched = lp.ndim == 2
    if not isinstance(lp, Tensor):
        lp = Tensor(lp)
    if unbatched:
        lp = lp.reshape(lp.shape[0], 1, lp.shape[1])
    il = _int64(input_lengths, "input_lengths", (0,) if unbatched else (1,)).reshape(-1)
    tl = _int64(target_lengths, "target_lengths", (0,) if unbatched else (1,)).reshape(-1)
    tg = _int64(targets, "targets", (1,) if unbatched else (1, 2))
    if unbatched:
        tg = tg.reshape(1, -1)
    elif tg.ndim == 1:
        tg = _padded(tg, tl)
    loss = _CTC.apply(lp, tg, il, tl, int(blank), bool(zero_infinity))
    if unbatched:
        loss = loss.reshape(())
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    scale = 1.0 / np.maximum(tl, 1).astype(lp.dtype)
    return (loss * Tensor(scale.reshape(loss.shape))).mean()
