"""CTC loss (F.ctc_loss; Keras's losses.ctc is tested in test_keras_loss_functions.py): against
the definition (every alignment enumerated), PyTorch's torch.nn.functional.ctc_loss, the
reference loops of csrc/ref/ctc_ref.cpp, a float64 gradient check, and bad input."""

from __future__ import annotations

import deepcore as dc
import deepcore.nn.functional as F
import numpy as np
import pytest
from ctc_reference import brute_force_nll
from deepcore import _C
from deepcore.testing import gradcheck
from helpers import requires_torch


def _log_softmax(z, axis=-1):
    z = z - z.max(axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis, keepdims=True))


def _problem(seed, T, N, C, S, blank=0, repeats=False):
    """log_probs (T, N, C), padded targets (N, S), input and target lengths."""
    rng = np.random.default_rng(seed)
    lp = _log_softmax(rng.standard_normal((T, N, C)))
    labels = [c for c in range(C) if c != blank]
    tl = rng.integers(0, S + 1, N)
    tg = rng.choice(labels, size=(N, S))
    if repeats and S > 1:
        tg[:, 1] = tg[:, 0]
    il = rng.integers(0, T + 1, N)
    il[0] = T
    return lp, tg.astype(np.int64), il.astype(np.int64), tl.astype(np.int64)


# ---------------------------------------------------------------------- the definition
@pytest.mark.parametrize(
    "T, C, target",
    [
        (1, 2, []),
        (1, 2, [1]),
        (3, 3, [1, 2]),
        (4, 3, [1, 1]),  # a repeat: needs a blank between its copies
        (3, 3, [1, 1]),
        (2, 3, [1, 1]),  # too short: no alignment, nll = +inf
        (5, 3, [2, 1, 2]),
        (4, 2, []),
        (0, 3, []),
        (0, 3, [1]),
    ],
)
@pytest.mark.parametrize("blank", [0, 2])
def test_matches_the_definition(T, C, target, blank):
    blank = min(blank, C - 1)
    target = [c - 1 if c == blank else c for c in target]
    rng = np.random.default_rng(T * 7 + C)
    lp = rng.standard_normal((max(T, 1), 1, C))[:T]  # unnormalised: the sum over paths still holds
    tg = np.array([target + [1] * (3 - len(target))], np.int64)
    got = _C.ctc_loss_forward(
        np.ascontiguousarray(lp), tg, np.array([T]), np.array([len(target)]), blank
    )
    want = brute_force_nll(lp[:, 0], target, blank)
    if np.isinf(want):
        assert got[0] == np.inf
    else:
        np.testing.assert_allclose(got[0], want, rtol=1e-12)


# ---------------------------------------------------------------------- PyTorch
CASES = [
    # T, N, C, S, blank, repeats
    (1, 1, 2, 1, 0, False),
    (5, 3, 4, 2, 0, False),
    (13, 4, 5, 4, 0, True),
    (13, 4, 5, 4, 4, True),
    (30, 6, 7, 12, 3, True),  # long targets: many samples without an alignment
    (8, 1, 3, 0, 0, False),  # every target empty
    (50, 2, 20, 10, 0, False),
]


@requires_torch
@pytest.mark.parametrize("zero_infinity", [False, True])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_against_pytorch(case, zero_infinity):
    import torch

    T, N, C, S, blank, repeats = case
    lp, tg, il, tl = _problem(sum(case), T, N, C, S, blank, repeats)
    il = np.maximum(il, 1)  # PyTorch's CPU kernel needs a step per sample
    z = np.random.default_rng(1).standard_normal((T, N, C))
    for reduction in ("none", "sum", "mean"):
        x = dc.tensor(z, requires_grad=True)
        ours = F.ctc_loss(
            F.log_softmax(x, axis=-1), tg, il, tl, blank, reduction, zero_infinity=zero_infinity
        )
        xt = torch.tensor(z, requires_grad=True)
        theirs = torch.nn.functional.ctc_loss(
            torch.log_softmax(xt, -1),
            torch.tensor(tg),
            torch.tensor(il),
            torch.tensor(tl),
            blank,
            reduction,
            zero_infinity,
        )
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-9)
        finite = np.isfinite(theirs.detach().numpy()).all()
        if finite:  # gradients w.r.t. the logits (see [Note: CTC recursion])
            cot = np.random.default_rng(2).standard_normal(ours.shape)
            (ours * dc.tensor(cot)).sum().backward()
            (theirs * torch.tensor(cot)).sum().backward()
            np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-7, atol=1e-10)


@requires_torch
def test_concatenated_targets_and_unbatched_input_against_pytorch():
    import torch

    lp, tg, il, tl = _problem(5, 9, 4, 5, 3)
    flat = np.concatenate([tg[n, : tl[n]] for n in range(4)])
    il = np.maximum(il, 1)
    ours = F.ctc_loss(dc.tensor(lp), flat, il, tl, reduction="none")
    theirs = torch.nn.functional.ctc_loss(
        torch.tensor(lp), torch.tensor(flat), torch.tensor(il), torch.tensor(tl), reduction="none"
    )
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-10)
    one = F.ctc_loss(dc.tensor(lp[:, 0]), tg[0, : tl[0]], int(il[0]), int(tl[0]))
    ref = torch.nn.functional.ctc_loss(
        torch.tensor(lp[:, 0]),
        torch.tensor(tg[0, : tl[0]]),
        torch.tensor(int(il[0])),
        torch.tensor(int(tl[0])),
    )
    np.testing.assert_allclose(one.numpy(), ref.numpy(), rtol=1e-10)
    assert one.shape == ()


# ---------------------------------------------------------------------- reference loops
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_driver_matches_reference_loops(case, dtype):
    T, N, C, S, blank, repeats = case
    lp, tg, il, tl = _problem(sum(case) + 1, T, N, C, S, blank, repeats)
    lp = lp.astype(dtype)
    nll = _C.ctc_loss_forward(lp, tg, il, tl, blank)
    ref = _C.ctc_loss_forward(lp, tg, il, tl, blank, reference=True)
    np.testing.assert_allclose(nll, ref, rtol=1e-6 if dtype == np.float32 else 1e-13)
    g = np.random.default_rng(3).standard_normal(N).astype(dtype)
    for zi in (False, True):
        got = _C.ctc_loss_backward(g, lp, tg, il, tl, nll, blank, zi)
        want = _C.ctc_loss_backward(g, lp, tg, il, tl, ref, blank, zi, reference=True)
        np.testing.assert_allclose(
            got, want, rtol=1e-5 if dtype == np.float32 else 1e-11, atol=1e-12
        )
        assert np.isnan(got).any() == (not zi and np.isinf(nll[il > 0]).any())


def test_gradient_float64_unnormalised_inputs():
    """The exact gradient with respect to log_probs, whether normalised or not."""
    lp, tg, il, tl = _problem(9, 6, 3, 4, 2, repeats=True)
    il[:] = 6
    lp = lp + np.random.default_rng(4).standard_normal(lp.shape)
    for reduction in ("none", "mean"):
        gradcheck(lambda a, r=reduction: F.ctc_loss(a, tg, il, tl, reduction=r), [lp])


def test_zero_infinity_and_infinite_losses():
    lp, _, _, _ = _problem(0, 3, 2, 3, 3)
    tg = np.array([[1, 1, 1], [1, 2, 0]], np.int64)
    il, tl = np.array([3, 3]), np.array([3, 2])  # sample 0 needs 5 steps
    loss = F.ctc_loss(dc.tensor(lp), tg, il, tl, reduction="none")
    assert loss.numpy()[0] == np.inf and np.isfinite(loss.numpy()[1])
    x = dc.tensor(lp, requires_grad=True)
    out = F.ctc_loss(x, tg, il, tl, reduction="sum", zero_infinity=True)
    assert float(out) == pytest.approx(float(loss.numpy()[1]))
    out.backward()
    assert (x.grad.numpy()[:, 0] == 0).all() and np.abs(x.grad.numpy()[:, 1]).sum() > 0


def test_steps_beyond_the_input_length_get_no_gradient():
    lp, tg, _, tl = _problem(2, 7, 2, 4, 2)
    il = np.array([7, 4])
    x = dc.tensor(lp, requires_grad=True)
    F.ctc_loss(x, tg, il, np.minimum(tl, 1), reduction="sum").backward()
    assert (x.grad.numpy()[4:, 1] == 0).all() and np.abs(x.grad.numpy()[:4, 1]).sum() > 0


# ---------------------------------------------------------------------- bad input
def test_bad_input():
    lp, tg, il, tl = _problem(0, 5, 2, 4, 2)
    x = dc.tensor(lp)
    with pytest.raises(ValueError, match=r"input_lengths\[1\] = 6 is out of range"):
        F.ctc_loss(x, tg, [5, 6], tl)
    with pytest.raises(ValueError, match=r"input_lengths\[0\] = -1"):
        F.ctc_loss(x, tg, [-1, 5], tl)
    with pytest.raises(ValueError, match=r"target_lengths\[0\] = 3 is out of range"):
        F.ctc_loss(x, tg, il, [3, 1])
    with pytest.raises(ValueError, match="blank must be in"):
        F.ctc_loss(x, tg, il, tl, blank=4)
    with pytest.raises(ValueError, match="blank must be in"):
        F.ctc_loss(x, tg, il, tl, blank=-1)
    with pytest.raises(ValueError, match=r"targets\[0, 0\] = 0 is not a label"):
        F.ctc_loss(x, np.zeros((2, 2), np.int64), il, [1, 0])
    with pytest.raises(ValueError, match=r"targets\[1, 1\] = 9 is not a label"):
        F.ctc_loss(x, np.array([[1, 1], [2, 9]]), il, [2, 2])
    with pytest.raises(TypeError, match="targets must hold integers"):
        F.ctc_loss(x, tg.astype(np.float64), il, tl)
    with pytest.raises(TypeError, match="input_lengths must hold integers"):
        F.ctc_loss(x, tg, [5.0, 5.0], tl)
    with pytest.raises(ValueError, match="one row per sample"):
        F.ctc_loss(x, tg[:1], il, tl)
    with pytest.raises(ValueError, match=r"sum\(target_lengths\)"):
        F.ctc_loss(x, np.array([1, 2, 3]), il, [1, 1])
    with pytest.raises(ValueError, match="target_lengths must be >= 0"):
        F.ctc_loss(x, np.array([1, 2, 3]), il, [4, -1])
    with pytest.raises(ValueError, match="log_probs must be"):
        F.ctc_loss(dc.tensor(lp[0, 0]), tg, il, tl)
    with pytest.raises(ValueError, match="reduction"):
        F.ctc_loss(x, tg, il, tl, reduction="avg")
    with pytest.raises(TypeError, match="list"):
        F.ctc_loss(lp.tolist(), tg, il, tl)
    with pytest.raises(TypeError, match="int64"):
        _C.ctc_loss_forward(lp, tg.astype(np.int32), il, tl, 0)
    with pytest.raises(ValueError, match="3-dimensional"):
        _C.ctc_loss_forward(lp[0], tg, il, tl, 0)
