"""The composite activations ([Note: composite activations] in _activation.py): one row each
through check_op (float64 reference and derivative, gradcheck away from kinks, PyTorch), their
names in the one activation registry (Keras's, PyTorch's as aliases), and bad inputs."""

from __future__ import annotations

import deepcore as dc
import deepcore.nn as nn
import deepcore.nn.functional as F
import numpy as np
import pytest
from helpers import HAS_TORCH, UNARY_SHAPES, check_op

if HAS_TORCH:
    import torch.nn.functional as TF


def _sig(x):
    return 0.5 * (1 + np.tanh(x / 2))


def _sp(x):
    return np.logaddexp(0, x)


def _kinks_away(*kinks):
    def make(case, rng):
        out = []
        for s in case:
            x = rng.uniform(-7, 7, size=s)
            for k in kinks:  # keep finite differences off the kinks
                x = np.where(np.abs(x - k) < 0.05, x + 0.1, x)
            out.append(x)
        return out

    return make


# name -> (deepcore fn, reference, derivative, torch fn, kinks)
ACTS = {
    "softsign": (F.softsign, lambda x: x / (1 + np.abs(x)), lambda x: 1 / (1 + np.abs(x)) ** 2,
                 lambda x: TF.softsign(x), ()),
    "mish": (F.mish, lambda x: x * np.tanh(_sp(x)),
             lambda x: np.tanh(_sp(x)) + x * (1 - np.tanh(_sp(x)) ** 2) * _sig(x),
             lambda x: TF.mish(x), ()),
    "celu": (lambda x: F.celu(x, 0.5), lambda x: np.where(x > 0, x, 0.5 * np.expm1(x / 0.5)),
             lambda x: np.where(x > 0, 1, np.exp(x / 0.5)), lambda x: TF.celu(x, 0.5), (0,)),
    "log_sigmoid": (F.log_sigmoid, lambda x: -_sp(-x), lambda x: _sig(-x),
                    lambda x: TF.logsigmoid(x), ()),
    "relu6": (F.relu6, lambda x: np.clip(x, 0, 6), lambda x: ((x > 0) & (x < 6)) * 1.0,
              lambda x: TF.relu6(x), (0, 6)),
    "hardtanh": (lambda x: F.hardtanh(x, -2, 3), lambda x: np.clip(x, -2, 3),
                 lambda x: ((x > -2) & (x < 3)) * 1.0, lambda x: TF.hardtanh(x, -2, 3), (-2, 3)),
    "threshold": (lambda x: F.threshold(x, 0.5, -1.0), lambda x: np.where(x > 0.5, x, -1.0),
                  lambda x: (x > 0.5) * 1.0, lambda x: TF.threshold(x, 0.5, -1.0), (0.5,)),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(ACTS))
def test_composite_activation(name):
    f, ref, d, tf, kinks = ACTS[name]
    check_op(
        f,
        ref,
        UNARY_SHAPES,
        torch_fn=tf if HAS_TORCH else None,
        make_inputs=_kinks_away(*kinks),
        np_vjp=lambda x, g: (g * d(x),),
    )


def test_softmin_and_glu():
    def softmin(x):
        e = np.exp(-x - (-x).max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    check_op(F.softmin, softmin, [(3, 4), (5,), (1, 1)],
             torch_fn=(lambda x: TF.softmin(x, -1)) if HAS_TORCH else None)  # fmt: skip
    check_op(
        lambda x: F.glu(x, dim=0),
        lambda x: x[: len(x) // 2] * _sig(x[len(x) // 2 :]),
        [(4,), (2, 3), (6, 1)],
        torch_fn=(lambda x: TF.glu(x, 0)) if HAS_TORCH else None,
    )
    with pytest.raises(ValueError, match="odd size 3"):
        F.glu(dc.ones(2, 3))


def test_log_sigmoid_is_stable():
    x = dc.tensor([-800.0, -30.0, 30.0, 800.0], dtype="float64")
    want = [-800, -30 - np.log1p(np.exp(-30)), -np.log1p(np.exp(-30)), 0]
    np.testing.assert_allclose(F.log_sigmoid(x).numpy(), want, rtol=1e-15)


def test_native_activation_after_an_op_on_a_0d_tensor():
    # a 0-d gradient from NumPy arithmetic is a NumPy scalar; the native backward took only
    # arrays (TypeError from activation_backward before the fix)
    x = dc.tensor(2.0, dtype="float64", requires_grad=True)
    (x.sigmoid() * 2).backward()
    s = 1 / (1 + np.exp(-2.0))
    assert x.grad.item() == pytest.approx(2 * s * (1 - s), rel=1e-15)


@pytest.mark.parametrize(
    "alias, name",
    [("hardswish", "hard_swish"), ("hard_silu", "hard_swish"), ("logsigmoid", "log_sigmoid"),
     ("hardtanh", "hard_tanh"), ("mish", "mish"), ("relu6", "relu6"), ("celu", "celu"),
     ("softsign", "softsign"), ("softmin", "softmin"), ("glu", "glu")],
)  # fmt: skip
def test_registered_under_keras_and_pytorch_names(alias, name):
    fn = F.get_activation(alias)
    assert fn is F.get_activation(name) and F.serialize_activation(fn) == name
    layer = nn.Dense(4, activation=alias)
    assert layer.get_config()["activation"] == name
    assert F.hardtanh is F.hard_tanh and F.hardswish is F.hard_swish
    assert F.logsigmoid is F.log_sigmoid
    out = nn.Activation(alias)(dc.ones(2, 4))
    assert out.shape == (2, 2) if name == "glu" else out.shape == (2, 4)


def test_composite_activation_bad_inputs():
    with pytest.raises(TypeError, match="must be a deepcore Tensor"):
        F.mish([1.0, 2.0])
    with pytest.raises(ValueError, match="alpha must not be 0"):
        F.celu(dc.ones(2), 0.0)
    with pytest.raises(ValueError, match="min_val 2 is above max_val 1"):
        F.hardtanh(dc.ones(2), 2, 1)
    with pytest.raises(TypeError, match="missing the replacement value"):
        F.threshold(dc.ones(2), 0.5)
