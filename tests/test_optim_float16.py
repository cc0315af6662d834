"""float16 parameters in the optimizers ([Note: float16 parameters] in optim/_half.py): a float32
master copy and float32 state, stepped by the same native update as float32 parameters and
written back rounded. Each optimizer is checked step by step against a float32 reference run
(the reference parameter starts at the float16 value and takes the float16 gradients as
float32): the float16 parameter must equal the reference rounded, bit for bit."""

import deepcore as dc
import numpy as np
import pytest
from deepcore import models, nn, optim

F16, F32 = np.dtype(np.float16), np.dtype(np.float32)

CASES = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("Adam", {"lr": 1e-2}),
    ("Adam", {"lr": 1e-2, "amsgrad": True}),
    ("AdamW", {"lr": 1e-2, "weight_decay": 0.1}),
    ("NAdam", {"lr": 1e-2}),
    ("RMSprop", {"lr": 1e-2, "momentum": 0.5, "centered": True}),
    ("Adagrad", {"lr": 0.1}),
    ("Adadelta", {"lr": 1.0}),
    ("SGD", {"lr": 0.1, "clipnorm": 0.5}),
    ("Adam", {"lr": 1e-2, "clipvalue": 0.01}),
]


def _pair(shape, seed):
    rng = np.random.default_rng(seed)
    p16 = dc.nn.Parameter(rng.standard_normal(shape).astype(F16))
    p32 = dc.nn.Parameter(p16.data.astype(F32))
    return rng, p16, p32


@pytest.mark.parametrize("name, kw", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_float16_parameters_match_a_float32_reference(name, kw):
    cls = getattr(optim, name)
    rng, p16, p32 = _pair((4, 7), 0)
    b16 = dc.nn.Parameter(np.zeros(7, F16))
    b32 = dc.nn.Parameter(np.zeros(7, F32))
    opt16, opt32 = cls([p16, b16], **kw), cls([p32, b32], **kw)
    for _ in range(6):
        g = rng.standard_normal((4, 7)).astype(F16)
        gb = rng.standard_normal(7).astype(F16)
        p16.grad, b16.grad = dc.tensor(g), dc.tensor(gb)
        p32.grad, b32.grad = dc.tensor(g.astype(F32)), dc.tensor(gb.astype(F32))
        opt16.step()
        opt32.step()
        assert p16.dtype == F16 and b16.dtype == F16
        np.testing.assert_array_equal(p16.data, p32.data.astype(F16))
        np.testing.assert_array_equal(b16.data, b32.data.astype(F16))
    st16 = opt16.state[p16]
    assert st16["master"].dtype == F32
    np.testing.assert_array_equal(st16["master"], p32.data)
    assert all(a.dtype == F32 for a in st16.values())


def test_updates_below_float16_spacing_accumulate_in_the_master():
    """1.0 - 10 * 1e-4: each update is below float16's spacing at 1 (2**-10 ~ 9.8e-4), so a
    float16-only step would never move; the master copy gets there."""
    p = dc.nn.Parameter(np.ones(3, F16))
    opt = optim.SGD([p], lr=1e-4)
    for _ in range(10):
        p.grad = dc.tensor(np.ones(3, F16))
        opt.step()
    np.testing.assert_array_equal(p.data, np.full(3, np.float32(1.0) - np.float32(1e-3), F16))
    assert p.data[0] != 1.0


def test_a_parameter_changed_from_outside_restarts_its_master():
    p = dc.nn.Parameter(np.ones(2, F16))
    opt = optim.SGD([p], lr=0.5)
    p.grad = dc.tensor(np.ones(2, F16))
    opt.step()
    p.data[...] = np.array([4.0, -2.0], F16)  # set_weights / load_state_dict write in place
    opt.step()
    np.testing.assert_array_equal(p.data, np.array([3.5, -2.5], F16))


def test_state_dict_keeps_the_master_copy():
    p = dc.nn.Parameter(np.ones(3, F16))
    opt = optim.Adam([p], lr=1e-4)
    for _ in range(3):
        p.grad = dc.tensor(np.full(3, 0.5, F16))
        opt.step()
    sd = opt.state_dict()
    assert sd["state"][0]["master"].dtype == F32
    q = dc.nn.Parameter(p.data.copy())
    other = optim.Adam([q], lr=1e-4)
    other.load_state_dict(sd)
    np.testing.assert_array_equal(other.state[q]["master"], opt.state[p]["master"])
    for o, t in ((opt, p), (other, q)):
        t.grad = dc.tensor(np.full(3, 0.5, F16))
        o.step()
    np.testing.assert_array_equal(p.data, q.data)
    np.testing.assert_array_equal(other.state[q]["master"], opt.state[p]["master"])


def test_a_float16_model_trains_with_fit():
    model = models.Sequential([models.Input((4,)), nn.Dense(8, activation="tanh")])
    model.add(nn.Dense(1))
    model.half()
    model.compile(optimizer=optim.Adam(1e-2), loss="mse")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype(F16)
    y = (x[:, :1] * 0.5).astype(F16)
    h = model.fit(x, y, batch_size=16, epochs=15, verbose=0)
    assert all(w.dtype == F16 for w in model.weights)
    assert h.history["loss"][-1] < 0.3 * h.history["loss"][0]


def test_integer_parameters_are_refused_by_name():
    with pytest.raises(TypeError, match="parameter 1 must be float16, float32 or float64.*int64"):
        optim.Adam([dc.nn.Parameter(np.zeros(2, F16)), dc.Tensor(np.zeros(2, np.int64))])
