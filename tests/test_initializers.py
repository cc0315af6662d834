"""deepcore.nn.initializers: statistics, fans, orthogonality, seeding, serialisation."""

from __future__ import annotations

import json
import math

import deepcore as dc
import numpy as np
import pytest
from deepcore.nn import initializers as init


@pytest.mark.parametrize(
    "shape,fans",
    [
        ((), (1, 1)),
        ((7,), (7, 7)),
        ((576, 64), (576, 64)),  # Dense kernel (in, out), as Keras
        ((32, 1, 3, 3), (9, 288)),  # Conv2D(32, 3) on 1 channel: Keras's numbers too
        ((64, 32, 3, 3), (288, 576)),
        ((8, 4, 5), (20, 40)),  # Conv1D
    ],
)
def test_compute_fans(shape, fans):
    assert init.compute_fans(shape) == fans


# (name, expected mean, expected variance) for a (300, 200) weight: fan_in 300, fan_out 200
_N_IN, _N_OUT = 300, 200
_STATS = [
    ("glorot_uniform", 0.0, 2.0 / (_N_IN + _N_OUT)),
    ("glorot_normal", 0.0, 2.0 / (_N_IN + _N_OUT)),
    ("he_uniform", 0.0, 2.0 / _N_IN),
    ("he_normal", 0.0, 2.0 / _N_IN),
    ("lecun_uniform", 0.0, 1.0 / _N_IN),
    ("lecun_normal", 0.0, 1.0 / _N_IN),
    ("random_normal", 0.0, 0.05**2),
    ("random_uniform", 0.0, 0.1**2 / 12),
    ("truncated_normal", 0.0, (0.05 * 0.87962566103423978) ** 2),
    ("zeros", 0.0, 0.0),
    ("ones", 1.0, 0.0),
]


@pytest.mark.parametrize("name,mean,var", _STATS)
def test_statistics(name, mean, var):
    dc.manual_seed(1)
    w = init.get(name)((_N_IN, _N_OUT))
    assert w.shape == (_N_IN, _N_OUT) and w.dtype == np.float32
    n = w.size
    # mean within 5 standard errors; variance within 5% (60k samples: s.e. of var ~0.6%)
    assert abs(w.mean() - mean) <= 5 * math.sqrt(var / n) + 1e-7
    assert w.var() == pytest.approx(var, rel=0.05, abs=1e-12)


def test_uniform_bounds_and_truncation():
    dc.manual_seed(2)
    w = init.GlorotUniform()((100, 50))
    limit = math.sqrt(6.0 / 150)
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.95 * limit  # the whole range is used
    t = init.HeNormal()((50, 100))
    std = math.sqrt(2.0 / 50) / 0.87962566103423978
    assert np.abs(t).max() <= 2 * std + 1e-6  # truncated at 2 stddev
    r = init.RandomNormal(mean=1.0, stddev=2.0)((400, 400))
    assert abs(r.mean() - 1.0) < 0.05 and r.std() == pytest.approx(2.0, rel=0.02)
    assert np.abs(r - 1.0).max() > 4 * 2.0  # untruncated: N(0, σ²) has tails


def test_conv_fans_match_keras():
    """He-uniform for a (64, 32, 3, 3) kernel: limit sqrt(6 / (32·9))."""
    dc.manual_seed(3)
    w = init.get("he_uniform")((64, 32, 3, 3))
    limit = math.sqrt(6.0 / (32 * 9))
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.98 * limit


@pytest.mark.parametrize("shape", [(6, 6), (10, 4), (4, 10), (16, 8, 3), (1, 5)])
def test_orthogonal(shape):
    dc.manual_seed(4)
    w = init.Orthogonal(gain=2.0)(shape, "float64")
    assert w.shape == shape and w.dtype == np.float64
    m = w.reshape(shape[0], -1) / 2.0
    if m.shape[0] >= m.shape[1]:
        np.testing.assert_allclose(m.T @ m, np.eye(m.shape[1]), atol=1e-12)
    else:
        np.testing.assert_allclose(m @ m.T, np.eye(m.shape[0]), atol=1e-12)


def test_orthogonal_rejects_vectors():
    with pytest.raises(ValueError, match="rank >= 2"):
        init.Orthogonal()((5,))


def test_constant_identity_dtype():
    assert np.all(init.Constant(3.5)((2, 3)) == 3.5)
    np.testing.assert_array_equal(init.Identity(2.0)((3, 3)), 2 * np.eye(3))
    assert init.get("zeros")((2,), "float64").dtype == np.float64
    with pytest.raises(TypeError, match="floating-point"):
        init.get("ones")((2,), "int32")


def test_seeding_and_rng():
    dc.manual_seed(7)
    a = init.get("glorot_uniform")((5, 5))
    b = init.get("glorot_uniform")((5, 5))
    dc.manual_seed(7)
    a2 = init.get("glorot_uniform")((5, 5))
    np.testing.assert_array_equal(a, a2)
    assert not np.array_equal(a, b)
    # a seed argument makes the initialiser deterministic on its own
    np.testing.assert_array_equal(init.RandomNormal(seed=3)((4,)), init.RandomNormal(seed=3)((4,)))


@pytest.mark.parametrize(
    "obj",
    [
        init.GlorotUniform(),
        init.HeNormal(),
        init.Zeros(),
        init.Constant(0.25),
        init.RandomNormal(0.5, 0.1),
        init.RandomUniform(-1, 2),
        init.VarianceScaling(2.0, "fan_out", "uniform"),
        init.Orthogonal(gain=1.5),
        init.TruncatedNormal(stddev=0.2),
    ],
)
def test_serialize_round_trip(obj):
    s = init.serialize(obj)
    back = init.deserialize(json.loads(json.dumps(s)))
    assert type(back) is type(obj) and back.get_config() == obj.get_config()


def test_names():
    assert init.serialize(init.GlorotUniform()) == "glorot_uniform"
    assert init.serialize(init.Constant(2.0)) == {
        "class_name": "Constant",
        "config": {"value": 2.0},
    }
    assert isinstance(init.get("GlorotNormal"), init.GlorotNormal)
    assert isinstance(init.get("xavier_uniform"), init.GlorotUniform)
    assert isinstance(init.get("kaiming_normal"), init.HeNormal)
    fn = lambda shape, dtype="float32": np.zeros(shape, dtype)  # noqa: E731
    assert init.get(fn) is fn
    with pytest.raises(ValueError, match="unknown initializer 'glorot'"):
        init.get("glorot")
    with pytest.raises(TypeError):
        init.get(3)
    with pytest.raises(ValueError, match="cannot serialise"):
        init.serialize(fn)


def test_bad_arguments():
    with pytest.raises(ValueError, match="stddev"):
        init.RandomNormal(stddev=-1)
    with pytest.raises(ValueError, match="mode"):
        init.VarianceScaling(mode="fan_sum")
    with pytest.raises(ValueError, match="maxval"):
        init.RandomUniform(1, 0)
    with pytest.raises(ValueError, match="negative"):
        init.Zeros()((2, -1))


def test_empty_shapes():
    for name in ("glorot_uniform", "he_normal", "orthogonal", "zeros"):
        assert init.get(name)((0, 3)).shape == (0, 3)
