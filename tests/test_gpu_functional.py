"""The autograd Functions of the CNN path (activations, softmax, cross-entropy, layer / batch
norm, dropout, bias add, PReLU) run unchanged on "cuda" tensors ([Note: array module]): forward
values and every input gradient against the same calls on float64 CPU tensors ([Note: GPU test
oracle] in gpu_helpers.py). Marked `gpu`."""

from __future__ import annotations

import deepcore as dc
import deepcore.nn.functional as F
import numpy as np
import pytest
from gpu_helpers import close, cupy_fixture, f64  # noqa: F401 (fixture)

pytestmark = pytest.mark.gpu


def _run(fn, arrays, device, dtype):
    ts = [dc.tensor(a.astype(dtype), device=device, requires_grad=True) for a in arrays]
    y = fn(*ts)
    g = np.random.default_rng(7).standard_normal(y.shape).astype(dtype)
    (y * dc.tensor(g, device=device)).sum().backward()
    return y.data, [t.grad.data if isinstance(t.grad, dc.Tensor) else t.grad for t in ts]


def _compare(fn, arrays, dtype=np.float32, factor=10):
    y_ref, g_ref = _run(fn, arrays, "cpu", np.float64)
    y, gs = _run(fn, arrays, "cuda", dtype)
    assert hasattr(y, "__cuda_array_interface__")
    close(y, y_ref, dtype, factor)
    for g, r in zip(gs, g_ref):
        assert hasattr(g, "__cuda_array_interface__"), "gradient left the device"
        close(g, r, dtype, factor)


RNG = np.random.default_rng(0)
X = RNG.standard_normal((4, 6, 5, 5))
ROWS = RNG.standard_normal((9, 13))


@pytest.mark.parametrize(
    "name", ["relu", "sigmoid", "tanh", "gelu", "elu", "selu", "softplus", "hard_swish"]
)
def test_activations(cp, name):
    _compare(getattr(F, name), [X])


def test_gelu_tanh_and_leaky_relu(cp):
    _compare(lambda x: F.gelu(x, approximate="tanh"), [X])
    _compare(lambda x: F.leaky_relu(x, 0.1), [X])


def test_swish_with_learnable_beta(cp):
    _compare(lambda x, b: F.swish(x, b), [X, np.array([1.3])])


@pytest.mark.parametrize("axis", [-1, 0])
def test_softmax_and_log_softmax(cp, axis):
    _compare(lambda x: F.softmax(x, axis=axis), [ROWS])
    _compare(lambda x: F.log_softmax(x, axis=axis), [ROWS])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_class_and_probability_targets(cp, reduction):
    labels = RNG.integers(0, 13, 9)
    probs = RNG.random((9, 13))
    probs /= probs.sum(axis=1, keepdims=True)
    t_cpu, t_gpu = labels, cp.asarray(labels)

    def with_labels(x):
        dev = "cuda" if hasattr(x.data, "__cuda_array_interface__") else "cpu"
        return F.cross_entropy(x, dc.tensor(t_gpu if dev == "cuda" else t_cpu), reduction)

    _compare(with_labels, [ROWS])
    _compare(lambda x, t: F.cross_entropy(x, t, reduction), [ROWS, probs])


def test_layer_norm(cp):
    _compare(lambda x, w, b: F.layer_norm(x, 13, w, b), [ROWS, RNG.random(13), RNG.random(13)])


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("axis", [1, -1])
def test_batch_norm(cp, training, axis):
    C = X.shape[axis]
    rm, rv = RNG.standard_normal(C), RNG.uniform(0.5, 2, C)

    def bn(x, w, b):
        on_gpu = hasattr(x.data, "__cuda_array_interface__")
        xp = cp if on_gpu else np
        dt = np.float32 if on_gpu else np.float64
        return F.batch_norm(
            x, xp.asarray(rm, dt), xp.asarray(rv, dt), w, b, training=training, axis=axis
        )

    _compare(bn, [X, RNG.random(C), RNG.random(C)])


def test_bias_add_and_prelu(cp):
    _compare(lambda x, b: F.bias_add(x, b, 1), [X, RNG.standard_normal(6)])
    _compare(lambda x, w: F.prelu(x, w, 1), [X, RNG.uniform(0.1, 0.3, 6)])


def test_dropout_same_mask_as_cpu_for_the_same_seed(cp):
    x = RNG.standard_normal((64, 33))
    dc.manual_seed(5)
    y_ref, g_ref = _run(lambda t: F.dropout(t, 0.3), [x], "cpu", np.float64)
    dc.manual_seed(5)
    y, gs = _run(lambda t: F.dropout(t, 0.3), [x], "cuda", np.float32)
    close(y, y_ref, np.float32)
    close(gs[0], g_ref[0], np.float32)
