"""PyTorch's loss options (class weight, ignore_index, label_smoothing, pos_weight, weight,
reduction) and the losses added with them (kl_div, huber / smooth L1, cosine_similarity,
margin_ranking): float64 NumPy references, gradients, PyTorch parity, bad inputs."""

from __future__ import annotations

import warnings

import deepcore as dc
import deepcore.nn.functional as F
import numpy as np
import pytest
from helpers import HAS_TORCH, check_op, gradcheck

if HAS_TORCH:
    import torch
    import torch.nn.functional as TF

REDUCTIONS = ["mean", "sum", "none"]


def _red(loss, reduction):
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else (loss.mean() if loss.size else np.nan)


RNG = np.random.default_rng(7)
W = np.array([0.5, 2.0, 1.0, 0.25])
LABELS = np.array([0, 3, 1, -100, 2, 1])


def _log_softmax(x):
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


def _ce_ref(x, t, w, ignore, eps, reduction):
    """PyTorch's definition, written out (class axis last)."""
    lp = _log_softmax(x)
    C = x.shape[-1]
    w = np.ones(C) if w is None else w
    valid = t != ignore
    ts = np.where(valid, t, 0)
    wt = w[ts] * valid
    nll = -lp[np.arange(len(t)), ts] * wt
    smooth = -(lp * w).sum(-1) * valid
    loss = (1 - eps) * nll + eps / C * smooth
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.sum() / wt.sum()


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight,eps", [(None, 0.1), (W, 0.0), (W, 0.2), (None, 0.0)])
def test_cross_entropy_options(reduction, weight, eps):
    check_op(
        lambda x: F.cross_entropy(x, LABELS, reduction, weight=weight, label_smoothing=eps),
        lambda x: _ce_ref(x, LABELS, weight, -100, eps, reduction),
        [(6, 4)],
        make_inputs=lambda case, rng: [rng.standard_normal((6, 4)) * 2],
        torch_fn=(
            (
                lambda x: TF.cross_entropy(
                    x.reshape(6, 4),
                    torch.tensor(LABELS),
                    weight=None if weight is None else torch.tensor(W),
                    reduction=reduction,
                    label_smoothing=eps,
                )
            )
            if HAS_TORCH
            else None
        ),
    )


def test_cross_entropy_soft_targets_with_options_and_target_gradient():
    x = RNG.standard_normal((3, 4))
    p = RNG.dirichlet(np.ones(4), size=3)

    def ref(x, p, eps=0.1):
        q = p * (1 - eps) + eps / 4
        return -(q * _log_softmax(x) * W).sum(-1).mean()

    check_op(
        lambda x, p: F.cross_entropy(x, p, weight=W, label_smoothing=0.1),
        ref,
        [((3, 4), (3, 4))],
        make_inputs=lambda case, rng: [x, p],
        torch_fn=(
            (lambda x, p: TF.cross_entropy(x, p, weight=torch.tensor(W), label_smoothing=0.1))
            if HAS_TORCH
            else None
        ),
    )


def test_ignore_index_alone_uses_the_composed_path():
    x = RNG.standard_normal((6, 4))
    got = F.cross_entropy(dc.tensor(x), LABELS).item()
    assert got == pytest.approx(_ce_ref(x, LABELS, None, -100, 0.0, "mean"), rel=1e-12)
    t = np.array([1, 1, 2, 0, 0, 3])
    got = F.cross_entropy(dc.tensor(x), t, ignore_index=0).item()
    assert got == pytest.approx(_ce_ref(x, t, None, 0, 0.0, "mean"), rel=1e-12)
    # every target ignored: a mean over nothing is nan, as PyTorch
    assert np.isnan(F.cross_entropy(dc.tensor(x), np.full(6, -100)).item())
    # a sequence: (B, T, C) logits with (B, T) targets
    xs = RNG.standard_normal((2, 3, 4))
    ts = np.array([[0, -100, 3], [1, 2, -100]])
    got = F.cross_entropy(dc.tensor(xs), ts, reduction="none")
    assert got.shape == (2, 3) and got.numpy()[0, 1] == 0


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_weight_and_ignore_index(reduction):
    def ref(lp):
        valid = LABELS != -100
        ts = np.where(valid, LABELS, 0)
        wt = W[ts] * valid
        loss = -lp[np.arange(6), ts] * wt
        return {"none": loss, "sum": loss.sum(), "mean": loss.sum() / wt.sum()}[reduction]

    check_op(
        lambda lp: F.nll_loss(lp, LABELS, reduction, weight=W),
        ref,
        [(6, 4)],
        make_inputs=lambda case, rng: [_log_softmax(rng.standard_normal(case[0]))],
        torch_fn=(
            (lambda lp: TF.nll_loss(lp, torch.tensor(LABELS), torch.tensor(W), reduction=reduction))
            if HAS_TORCH
            else None
        ),
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_pos_weight_and_weight(reduction):
    pw = np.array([1.0, 3.0, 0.5])
    wt = np.array([[1.0], [2.0]])

    def ref(z, t):
        sp = np.logaddexp(0, -z)
        loss = ((1 - t) * z + (1 + (pw - 1) * t) * sp) * wt
        return _red(loss, reduction)

    check_op(
        lambda z, t: F.binary_cross_entropy_with_logits(z, t, reduction, weight=wt, pos_weight=pw),
        ref,
        [((2, 3), (2, 3))],
        make_inputs=lambda case, rng: [
            rng.standard_normal(case[0]) * 3,
            rng.uniform(0, 1, case[1]),
        ],
        torch_fn=(
            (
                lambda z, t: TF.binary_cross_entropy_with_logits(
                    z, t, weight=torch.tensor(wt), pos_weight=torch.tensor(pw), reduction=reduction
                )
            )
            if HAS_TORCH
            else None
        ),
    )
    z = dc.tensor([1000.0, -1000.0], dtype="float64")
    t = dc.tensor([0.0, 1.0], dtype="float64")
    big = F.binary_cross_entropy_with_logits(z, t, pos_weight=dc.tensor([2.0], dtype="float64"))
    assert np.isfinite(big.item()) and big.item() == pytest.approx(1500.0)


def test_bce_weight():
    p = RNG.uniform(0.1, 0.9, (3, 2))
    t = RNG.uniform(0, 1, (3, 2))
    w = np.array([2.0, 0.5])
    got = F.binary_cross_entropy(dc.tensor(p), dc.tensor(t), weight=w, reduction="sum")
    want = (-(t * np.log(p) + (1 - t) * np.log(1 - p)) * w).sum()
    assert got.item() == pytest.approx(want, rel=1e-12)
    gradcheck(lambda u: F.binary_cross_entropy(u, t, weight=w), [p])


def _torch_kl_div(reduction, log_target):
    def f(x, t):
        with warnings.catch_warnings():  # PyTorch warns that "mean" is not the KL divergence
            warnings.simplefilter("ignore", UserWarning)
            return TF.kl_div(x, t, reduction=reduction, log_target=log_target)

    return f


@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(reduction, log_target):
    def ref(x, t):
        loss = (
            np.exp(t) * (t - x)
            if log_target
            else np.where(t > 0, t * np.log(np.where(t > 0, t, 1)), 0) - t * x
        )
        if reduction == "batchmean":
            return loss.sum() / x.shape[0]
        return _red(loss, reduction)

    def inputs(case, rng):
        x = _log_softmax(rng.standard_normal(case[0]))
        t = rng.dirichlet(np.ones(case[1][-1]), size=case[1][0])
        return [x, np.log(np.maximum(t, 1e-3)) if log_target else t]

    check_op(
        lambda x, t: F.kl_div(x, t, reduction, log_target),
        ref,
        [((3, 4), (3, 4))],
        make_inputs=inputs,
        torch_fn=_torch_kl_div(reduction, log_target) if HAS_TORCH else None,
    )
    # a zero target contributes 0 (no log(0)), with a finite gradient for the input
    x = dc.tensor([[-1.0, -0.5]], dtype="float64", requires_grad=True)
    loss = F.kl_div(x, dc.tensor([[0.0, 1.0]], dtype="float64"), "sum")
    assert loss.item() == pytest.approx(0.5)
    loss.backward()
    assert x.grad.tolist() == [[0.0, -1.0]]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("delta", [1.0, 0.3])
def test_huber_and_smooth_l1(reduction, delta):
    def huber(a, b):
        d = a - b
        loss = np.where(np.abs(d) < delta, 0.5 * d * d, delta * (np.abs(d) - 0.5 * delta))
        return _red(loss, reduction)

    shapes = [((7,), (7,)), ((2, 3), (2, 3)), ((0,), (0,))]
    check_op(
        lambda a, b: F.huber_loss(a, b, reduction, delta),
        huber,
        shapes,
        torch_fn=(
            (lambda a, b: TF.huber_loss(a, b, reduction=reduction, delta=delta))
            if HAS_TORCH
            else None
        ),
    )
    check_op(
        lambda a, b: F.smooth_l1_loss(a, b, reduction, beta=delta),
        lambda a, b: huber(a, b) / delta,
        shapes,
        torch_fn=(
            (lambda a, b: TF.smooth_l1_loss(a, b, reduction=reduction, beta=delta))
            if HAS_TORCH
            else None
        ),
    )


def test_smooth_l1_beta_zero_is_l1():
    a, b = dc.tensor([1.0, -2.0]), dc.tensor([0.5, 0.5])
    assert F.smooth_l1_loss(a, b, beta=0.0).item() == F.l1_loss(a, b).item()


def test_cosine_similarity():
    def ref(a, b, axis=1):
        n = np.maximum(np.linalg.norm(a, axis=axis, keepdims=True), 1e-8) * np.maximum(
            np.linalg.norm(b, axis=axis, keepdims=True), 1e-8
        )
        return ((a * b) / n).sum(axis)

    check_op(
        F.cosine_similarity,
        ref,
        [((3, 4), (3, 4)), ((2, 3, 2), (1, 3, 2)), ((1, 5), (1, 5))],
        torch_fn=(lambda a, b: TF.cosine_similarity(a, b)) if HAS_TORCH else None,
    )
    check_op(
        lambda a, b: F.cosine_similarity(a, b, dim=-1),
        lambda a, b: ref(a, b, -1),
        [((3, 4), (4,))],
    )
    z = dc.zeros(2, 3, requires_grad=True)  # zero vectors: similarity 0, finite gradient
    F.cosine_similarity(z, dc.ones(2, 3)).sum().backward()
    assert np.isfinite(z.grad.numpy()).all()


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_margin_ranking_loss(reduction):
    def ref(a, b, y):
        loss = np.maximum(0, -y * (a - b) + 0.5)
        return _red(loss, reduction)

    check_op(
        lambda a, b, y: F.margin_ranking_loss(a, b, y, 0.5, reduction),
        ref,
        [((6,), (6,), (6,)), ((0,), (0,), (0,))],
        make_inputs=lambda case, rng: [
            rng.uniform(-2, 2, case[0]),
            rng.uniform(-2, 2, case[1]),
            rng.choice([-1.0, 1.0], case[2]),
        ],  # fmt: skip
        torch_fn=(
            (lambda a, b, y: TF.margin_ranking_loss(a, b, y, 0.5, reduction=reduction))
            if HAS_TORCH
            else None
        ),
        gradcheck_kw=dict(check=[True, True, False]),
    )


def test_loss_option_bad_inputs():
    x = dc.tensor(RNG.standard_normal((3, 4)))
    t = np.array([0, 1, 2])
    cases = [
        (
            ValueError,
            r"weight must have shape \(4,\)",
            lambda: F.cross_entropy(x, t, weight=np.ones(3)),
        ),
        (
            TypeError,
            "weight must be a float",
            lambda: F.cross_entropy(x, t, weight=np.ones(4, int)),
        ),
        (
            ValueError,
            "label_smoothing must be in",
            lambda: F.cross_entropy(x, t, label_smoothing=1.5),
        ),
        (
            IndexError,  # [Note: index errors]
            "label 7 at position 1 is out of range",
            lambda: F.cross_entropy(x, np.array([0, 7, -100]), label_smoothing=0.1),
        ),
        (ValueError, "reduction must be", lambda: F.kl_div(x, x, "avg")),
        (ValueError, "delta must be > 0", lambda: F.huber_loss(x, x, delta=0)),
        (ValueError, "beta must be >= 0", lambda: F.smooth_l1_loss(x, x, beta=-1)),
        (
            ValueError,
            "does not broadcast",
            lambda: F.binary_cross_entropy_with_logits(x, x, pos_weight=np.ones(3)),
        ),
        (ValueError, "cannot be broadcast", lambda: F.cosine_similarity(x, dc.ones(3, 5))),
        (ValueError, "must match", lambda: F.margin_ranking_loss(x, x, dc.ones(3))),
        (TypeError, "must be a deepcore Tensor", lambda: F.kl_div([1.0], x)),
    ]
    for exc, msg, f in cases:
        with pytest.raises(exc, match=msg):
            f()
