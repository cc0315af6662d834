"""Losses: NumPy float64 references, reductions, float64 gradient checks, PyTorch parity,
huge-logit stability and bad inputs."""

from __future__ import annotations

import deepcore as dc
import deepcore.nn.functional as F
import numpy as np
import pytest
from helpers import HAS_TORCH, check_op, gradcheck, requires_torch

if HAS_TORCH:
    import torch
    import torch.nn.functional as TF


def _t(fn):
    """torch_fn only when torch is importable."""
    return fn if HAS_TORCH else None


def _lse(x):
    m = x.max(axis=-1, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(axis=-1, keepdims=True)))[..., 0]


def _reduce(loss, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": lambda a: a}[reduction](loss)


def _logits(n, c, dtype=np.float64, seed=0, scale=3.0):
    return (np.random.default_rng(seed).standard_normal((n, c)) * scale).astype(dtype)


def _labels(n, c, seed=1):
    return np.random.default_rng(seed).integers(0, c, size=n)


# ------------------------------------------------------------------------- cross_entropy
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n,c", [(1, 1), (1, 5), (7, 3), (64, 10), (5, 257), (300, 1000)])
def test_cross_entropy_matches_numpy(n, c, dtype, reduction, cpu_capability):
    x = _logits(n, c, dtype)
    t = _labels(n, c)
    xt = dc.tensor(x, requires_grad=True)
    loss = F.cross_entropy(xt, t, reduction=reduction)
    x64 = x.astype(np.float64)
    per = _lse(x64) - x64[np.arange(n), t]
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(loss.data, _reduce(per, reduction), **tol)
    assert loss.dtype == dtype
    g = np.random.default_rng(2).standard_normal(loss.shape).astype(dtype)
    loss.backward(g)
    p = np.exp(x64 - _lse(x64)[:, None])
    p[np.arange(n), t] -= 1
    gl = g[:, None] if reduction == "none" else g / (n if reduction == "mean" else 1)
    np.testing.assert_allclose(xt.grad.data, p * gl, **tol)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_gradcheck(reduction):
    x = _logits(4, 5)
    gradcheck(lambda u: F.cross_entropy(u, _labels(4, 5), reduction=reduction), [x])
    probs = np.random.default_rng(3).dirichlet(np.ones(5), size=4)
    gradcheck(lambda u: F.cross_entropy(u, probs, reduction=reduction), [x])


def test_cross_entropy_soft_targets_match_one_hot_and_reference(cpu_capability):
    x = _logits(33, 7, np.float32)
    t = _labels(33, 7)
    onehot = np.eye(7, dtype=np.float32)[t]
    np.testing.assert_allclose(
        F.cross_entropy(x, onehot).data, F.cross_entropy(x, t).data, rtol=1e-6
    )
    probs = np.random.default_rng(4).dirichlet(np.ones(7), size=33).astype(np.float32)
    x64 = x.astype(np.float64)
    ref = np.mean(np.sum(-probs * (x64 - _lse(x64)[:, None]), axis=-1))
    np.testing.assert_allclose(F.cross_entropy(x, probs).data, ref, rtol=1e-5)


def test_cross_entropy_huge_logits_stable(cpu_capability):
    x = np.array([[1e4, 0.0, -1e4], [1e4, 1e4 - 1, 5.0], [-1e4, -1e4, -1e4]], np.float32)
    t = np.array([1, 0, 2])
    xt = dc.tensor(x, requires_grad=True)
    loss = F.cross_entropy(xt, t, reduction="none")
    x64 = x.astype(np.float64)
    want = _lse(x64) - x64[np.arange(3), t]
    np.testing.assert_allclose(loss.data, want, rtol=1e-6)
    loss.backward(np.ones(3, np.float32))
    p = np.exp(x64 - _lse(x64)[:, None])
    p[np.arange(3), t] -= 1
    np.testing.assert_allclose(xt.grad.data, p, rtol=1e-5, atol=1e-7)


def test_cross_entropy_class_axis_last_for_sequences():
    x = np.random.default_rng(5).standard_normal((2, 3, 4))
    t = np.random.default_rng(6).integers(0, 4, size=(2, 3))
    loss = F.cross_entropy(x, t, reduction="none")
    assert loss.shape == (2, 3)
    flat = F.cross_entropy(x.reshape(6, 4), t.reshape(6), reduction="none")
    np.testing.assert_allclose(loss.data.reshape(6), flat.data)
    assert F.cross_entropy(x, t.astype(np.float64)).item() == pytest.approx(
        F.cross_entropy(x, t).item()
    )


def test_cross_entropy_nll_equivalence():
    x = _logits(9, 6)
    t = _labels(9, 6)
    a = F.cross_entropy(x, t)
    b = F.nll_loss(F.log_softmax(dc.tensor(x)), t)
    assert a.item() == pytest.approx(b.item(), rel=1e-12)


def test_cross_entropy_empty_batch():
    x = np.zeros((0, 4), np.float32)
    t = np.zeros(0, np.int64)
    assert F.cross_entropy(x, t, reduction="sum").item() == 0.0
    assert F.cross_entropy(x, t, reduction="none").shape == (0,)
    assert np.isnan(F.cross_entropy(x, t).item())  # a mean over no samples, as PyTorch


def test_cross_entropy_bad_inputs():
    x = np.zeros((3, 4), np.float32)
    with pytest.raises(IndexError, match="target label 4 at position 1 is out of range"):
        F.cross_entropy(x, np.array([0, 4, 1]))
    with pytest.raises(IndexError, match="target label -1 at position 0 is out of range"):
        F.cross_entropy(x, np.array([-1, 0, 1]))
    with pytest.raises(ValueError, match=r"must have shape \(3,\)"):
        F.cross_entropy(x, np.array([0, 1]))
    with pytest.raises(ValueError, match="whole numbers"):
        F.cross_entropy(x, np.array([0.5, 1.0, 2.0]))
    with pytest.raises(TypeError, match="float32 or float64"):
        F.cross_entropy(np.zeros((3, 4), np.int64), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(x, np.array([0, 1, 2]), reduction="avg")
    with pytest.raises(ValueError, match="at least one class"):
        F.cross_entropy(np.zeros((3, 0), np.float32), np.array([0, 0, 0]))


@requires_torch
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_torch_parity(reduction):
    import torch

    x = _logits(64, 10, np.float32, scale=5.0)
    t = _labels(64, 10)
    xt = dc.tensor(x, requires_grad=True)
    loss = F.cross_entropy(xt, t, reduction=reduction)
    tx = torch.tensor(x, requires_grad=True)
    tl = torch.nn.functional.cross_entropy(tx, torch.tensor(t), reduction=reduction)
    np.testing.assert_allclose(loss.data, tl.detach().numpy(), rtol=1e-5, atol=1e-6)
    g = np.ones(loss.shape, np.float32)
    loss.backward(g)
    tl.backward(torch.tensor(g))
    np.testing.assert_allclose(xt.grad.data, tx.grad.numpy(), rtol=1e-5, atol=1e-7)
    probs = np.random.default_rng(7).dirichlet(np.ones(10), size=64).astype(np.float32)
    np.testing.assert_allclose(
        F.cross_entropy(x, probs, reduction=reduction).data,
        torch.nn.functional.cross_entropy(
            torch.tensor(x), torch.tensor(probs), reduction=reduction
        ).numpy(),
        rtol=1e-5,
        atol=1e-6,
    )


# ------------------------------------------------------------------ probability losses
def test_nll_loss_reference_and_gradcheck():
    logp = np.log(np.random.default_rng(8).dirichlet(np.ones(5), size=6))
    t = _labels(6, 5)
    for red in ("mean", "sum", "none"):
        np.testing.assert_allclose(
            F.nll_loss(logp, t, reduction=red).data, _reduce(-logp[np.arange(6), t], red)
        )
        gradcheck(lambda u, red=red: F.nll_loss(u, t, reduction=red), [logp])
    with pytest.raises(IndexError, match="out of range for 5 classes"):
        F.nll_loss(logp, np.array([0, 1, 2, 3, 4, 5]))


def _keras_cce(p, t, eps=1e-7):
    q = p / p.sum(axis=-1, keepdims=True)
    return -np.sum(t * np.log(np.clip(q, eps, 1 - eps)), axis=-1)


def test_categorical_crossentropy_matches_keras_formula():
    p = np.random.default_rng(9).dirichlet(np.ones(4), size=5)
    p[0] = [1.0, 0.0, 0.0, 0.0]  # exact zeros are clipped, not log(0)
    t = np.eye(4)[[1, 0, 2, 3, 3]]
    for red in ("mean", "sum", "none"):
        np.testing.assert_allclose(
            F.categorical_crossentropy(p, t, reduction=red).data, _reduce(_keras_cce(p, t), red)
        )
    labels = np.array([1, 0, 2, 3, 3])
    np.testing.assert_allclose(
        F.sparse_categorical_crossentropy(p, labels).data, np.mean(_keras_cce(p, t))
    )
    x = _logits(5, 4)
    np.testing.assert_allclose(
        F.categorical_crossentropy(x, t, from_logits=True).data, F.cross_entropy(x, t).data
    )
    np.testing.assert_allclose(
        F.sparse_categorical_crossentropy(x, labels, from_logits=True).data,
        F.cross_entropy(x, labels).data,
    )


def test_categorical_crossentropy_gradcheck():
    p = np.random.default_rng(10).dirichlet(np.ones(4), size=3) + 0.05
    t = np.random.default_rng(11).dirichlet(np.ones(4), size=3)
    gradcheck(lambda a, b: F.categorical_crossentropy(a, b), [p, t])
    gradcheck(lambda a: F.sparse_categorical_crossentropy(a, np.array([0, 3, 1])), [p])


def test_categorical_crossentropy_softmax_chain_matches_fused():
    x = _logits(8, 5)
    t = np.eye(5)[_labels(8, 5)]
    xt = dc.tensor(x, requires_grad=True)
    F.categorical_crossentropy(F.softmax(xt), t).backward()
    xf = dc.tensor(x, requires_grad=True)
    F.cross_entropy(xf, t).backward()
    np.testing.assert_allclose(xt.grad.data, xf.grad.data, rtol=1e-6, atol=1e-9)


def _bce_ref(p, t, eps=1e-7):
    pc = np.clip(p, eps, 1 - eps)
    return -(t * np.log(pc) + (1 - t) * np.log(1 - pc))


def _alternating(shape):
    """0/1 targets of ``shape``, alternating (both values present from two elements on)."""
    return (np.arange(int(np.prod(shape))) % 2).reshape(shape).astype(np.float64)


def _shapes_for(reduction):
    shapes = [(1,), (7,), (4, 3), (2, 3, 5)]
    return shapes + [(0,)] if reduction != "mean" else shapes  # a mean over nothing is nan


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy(reduction):
    check_op(
        lambda p: F.binary_cross_entropy(p, _alternating(p.shape), reduction=reduction),
        lambda p: _reduce(_bce_ref(p, _alternating(p.shape)), reduction),
        _shapes_for(reduction),
        low=0.01,
        high=0.99,
        torch_fn=_t(
            lambda p: TF.binary_cross_entropy(
                p, torch.tensor(_alternating(tuple(p.shape))), reduction=reduction
            )
        ),
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy_with_logits(reduction):
    def ref(z, t):
        sig = 1 / (1 + np.exp(-z))
        return _reduce(-(t * np.log(sig) + (1 - t) * np.log(1 - sig)), reduction)

    check_op(
        lambda z, t: F.binary_cross_entropy_with_logits(z, t, reduction=reduction),
        ref,
        [(s, s) for s in _shapes_for(reduction)],
        make_inputs=lambda case, rng: [
            rng.standard_normal(case[0]) * 3,
            rng.uniform(0, 1, case[1]),
        ],
        torch_fn=_t(lambda z, t: TF.binary_cross_entropy_with_logits(z, t, reduction=reduction)),
    )


def test_binary_cross_entropy_clips_and_logits_stable():
    p = np.array([0.0, 1.0, 0.0, 1.0], np.float32)
    t = np.array([0.0, 1.0, 1.0, 0.0], np.float32)
    loss = F.binary_cross_entropy(p, t, reduction="none").data
    assert np.all(np.isfinite(loss)) and loss[2] == pytest.approx(-np.log(1e-7), rel=1e-3)
    z = np.array([1e4, -1e4, 1e4, -1e4], np.float32)
    zt = dc.tensor(z, requires_grad=True)
    lw = F.binary_cross_entropy_with_logits(zt, t, reduction="none")
    np.testing.assert_allclose(lw.data, [1e4, 1e4, 0, 0], rtol=1e-6)
    lw.backward(np.ones(4, np.float32))
    np.testing.assert_allclose(zt.grad.data, [1, -1, 0, 0])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_l1_hinge(reduction):
    pairs = [(s, s) for s in _shapes_for(reduction)]
    check_op(
        lambda a, b: F.mse_loss(a, b, reduction=reduction),
        lambda a, b: _reduce((a - b) ** 2, reduction),
        pairs,
        torch_fn=_t(lambda a, b: TF.mse_loss(a, b, reduction=reduction)),
    )

    def apart(case, rng):  # |a - b| >= 1 either way round: no kink for the gradient check
        side = rng.choice([-1.0, 1.0], case[0])
        return [side * rng.uniform(0.5, 2, case[0]), -side * rng.uniform(0.5, 2, case[1])]

    check_op(
        lambda a, b: F.l1_loss(a, b, reduction=reduction),
        lambda a, b: _reduce(np.abs(a - b), reduction),
        pairs,
        make_inputs=apart,
        torch_fn=_t(lambda a, b: TF.l1_loss(a, b, reduction=reduction)),
    )

    def signs(shape):
        return 2 * _alternating(shape) - 1

    def off_hinge(case, rng):  # |a| in [0.3, 0.7] or [1.3, 1.7]: y * a never near the hinge at 1
        s = case[0]
        return [rng.choice([-1, 1], s) * (rng.choice([0.5, 1.5], s) + rng.uniform(-0.2, 0.2, s))]

    check_op(
        lambda a: F.hinge_loss(a, signs(a.shape), reduction=reduction),
        lambda a: _reduce(np.maximum(0, 1 - signs(a.shape) * a), reduction),
        _shapes_for(reduction),
        make_inputs=off_hinge,
    )


def test_loss_bad_inputs():
    a = np.zeros((4, 1), np.float32)
    with pytest.raises(ValueError, match=r"input has shape \(4, 1\) but target has shape \(4,\)"):
        F.mse_loss(a, np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="must match"):
        F.binary_cross_entropy(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="must match"):
        F.hinge_loss(np.zeros(3), np.zeros((3, 1)))
    with pytest.raises(TypeError, match="float32 or float64"):
        F.l1_loss(np.zeros(3, np.int64), np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(a, a, reduction="mean_over_batch")


def test_constant_target_cast_to_input_dtype():
    a = dc.tensor(np.ones(3, np.float32), requires_grad=True)
    loss = F.mse_loss(a, np.zeros(3))  # float64 labels against float32 predictions
    assert loss.dtype == np.float32
    loss.backward()
    assert a.grad.dtype == np.float32


def test_cross_entropy_kernel_matches_reference_kernel(cpu_capability):
    from deepcore import _C

    x = _logits(97, 33, np.float32, scale=10.0)
    t = _labels(97, 33)
    loss, _ = _C.cross_entropy_forward(x, t)
    ref = _C.cross_entropy_forward_ref(x.astype(np.float64), t)
    np.testing.assert_allclose(loss, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("bad", [-1, 3, 2**40])
def test_keras_sparse_crossentropy_rejects_labels_out_of_range(from_logits, bad):
    """Issue 9: on probabilities a label of -1 silently trained on the last class and a label
    of C gave NumPy's IndexError; both paths now raise the fused kernel's IndexError (with its
    message: [Note: index errors])."""
    from deepcore import losses

    p = dc.tensor(np.full((2, 3), 1 / 3, np.float32))
    loss = losses.SparseCategoricalCrossentropy(from_logits=from_logits)
    msg = rf"target label {bad} at position 1 is out of range for 3 classes \(labels must be in"
    with pytest.raises(IndexError, match=msg):
        loss(np.array([0, bad]), p)
    with pytest.raises(IndexError, match=msg):
        loss(np.array([0, bad]), p, sample_weight=np.ones(2))  # the per-sample path too
    with pytest.raises(IndexError, match=msg):
        F.sparse_categorical_crossentropy(p, np.array([0, bad]), from_logits=from_logits)
    np.testing.assert_allclose(loss(np.array([[0], [2]]), p).item(), np.log(3), rtol=1e-6)
    np.testing.assert_allclose(loss(np.array([0.0, 2.0]), p).item(), np.log(3), rtol=1e-6)
    with pytest.raises(ValueError, match="whole numbers"):  # was silently class 2
        loss(np.array([0.0, 2.7]), p)
