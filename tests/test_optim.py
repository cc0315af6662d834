"""deepcore.optim: every optimizer's trajectory against a float64 NumPy reference of its
published rule and against torch.optim; convergence; state round trips; clipping; bad inputs."""

from __future__ import annotations

import json
import math

import deepcore as dc
import deepcore.optim as optim
import numpy as np
import pytest
from helpers import requires_torch

SHAPES = [(), (1,), (7,), (97, 3), (0,), (2, 3, 5)]
BIG = (40_000,)  # above the kernels' OpenMP threshold


# ---------------------------------------------------------------------- NumPy reference
class Ref:
    """Float64 NumPy implementation of each update rule, written from the papers / docs
    (one array at a time, step counts from 1)."""

    def __init__(self, kind: str, hp: dict):
        self.kind, self.hp, self.st, self.t, self.mu_prod = kind, hp, {}, 0, 1.0

    def step(self, p: np.ndarray, g: np.ndarray, scale: float = 1.0) -> np.ndarray:
        h, st = self.hp, self.st
        self.t += 1
        t = self.t
        lr = h.get("lr", 1e-3)
        g = g * scale
        if h.get("clipvalue"):
            g = np.clip(g, -h["clipvalue"], h["clipvalue"])
        wd = h.get("weight_decay", 0.0)
        if h.get("decoupled_weight_decay"):
            p = p * (1 - lr * wd)
        else:
            g = g + wd * p
        k = self.kind
        if k == "sgd":
            mom, damp = h.get("momentum", 0.0), h.get("dampening", 0.0)
            if mom:
                b = g.copy() if t == 1 else mom * st["b"] + (1 - damp) * g
                st["b"] = b
                g = g + mom * b if h.get("nesterov") else b
            return p - lr * g
        if k == "adagrad":
            s = st.get("s", np.full_like(p, h.get("initial_accumulator_value", 0.1))) + g * g
            st["s"] = s
            clr = lr / (1 + (t - 1) * h.get("lr_decay", 0.0))
            eps = h["eps"]
            den = np.sqrt(s + eps) if h.get("eps_inside_sqrt", True) else np.sqrt(s) + eps
            return p - clr * g / den
        if k == "rmsprop":
            rho, eps, mom = h["alpha"], h["eps"], h.get("momentum", 0.0)
            v = rho * st.get("v", np.zeros_like(p)) + (1 - rho) * g * g
            st["v"] = v
            if h.get("centered"):
                a = rho * st.get("a", np.zeros_like(p)) + (1 - rho) * g
                st["a"] = a
                v = v - a * a
            den = np.sqrt(v + eps) if h.get("eps_inside_sqrt", True) else np.sqrt(v) + eps
            upd = g / den
            if mom:
                upd = mom * st.get("b", np.zeros_like(p)) + upd
                st["b"] = upd
            return p - lr * upd
        if k == "adadelta":
            rho, eps = h["rho"], h["eps"]
            v = rho * st.get("v", np.zeros_like(p)) + (1 - rho) * g * g
            u = st.get("u", np.zeros_like(p))
            d = np.sqrt(u + eps) / np.sqrt(v + eps) * g
            st["v"], st["u"] = v, rho * u + (1 - rho) * d * d
            return p - lr * d
        b1, b2 = h.get("betas", (0.9, 0.999))
        eps = h["eps"]
        m = b1 * st.get("m", np.zeros_like(p)) + (1 - b1) * g
        v = b2 * st.get("v", np.zeros_like(p)) + (1 - b2) * g * g
        st["m"], st["v"] = m, v
        if k == "adam":
            if h.get("amsgrad"):
                v = np.maximum(st.get("vmax", np.zeros_like(p)), v)
                st["vmax"] = v
            mhat, vhat = m / (1 - b1**t), v / (1 - b2**t)
            return p - lr * mhat / (np.sqrt(vhat) + eps)
        if k == "nadam":
            psi = h.get("momentum_decay", 4e-3)
            mu = b1 * (1 - 0.5 * 0.96 ** (t * psi))
            mu1 = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi))
            self.mu_prod *= mu
            mhat = mu1 * m / (1 - self.mu_prod * mu1) + (1 - mu) * g / (1 - self.mu_prod)
            return p - lr * mhat / (np.sqrt(v / (1 - b2**t)) + eps)
        raise AssertionError(k)


CASES = {
    "sgd": ("sgd", optim.SGD, dict(lr=0.1)),
    "sgd_momentum": ("sgd", optim.SGD, dict(lr=0.05, momentum=0.9, dampening=0.1)),
    "sgd_nesterov_wd": (
        "sgd",
        optim.SGD,
        dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01),
    ),
    "sgd_decoupled": (
        "sgd",
        optim.SGD,
        dict(lr=0.05, momentum=0.5, weight_decay=0.1, decoupled_weight_decay=True),
    ),
    "adagrad": ("adagrad", optim.Adagrad, dict(lr=0.05, eps=1e-7)),
    "adagrad_torchstyle": (
        "adagrad",
        optim.Adagrad,
        dict(
            lr=0.05,
            lr_decay=0.1,
            eps=1e-10,
            initial_accumulator_value=0.0,
            eps_inside_sqrt=False,
            weight_decay=0.01,
        ),
    ),
    "rmsprop": ("rmsprop", optim.RMSprop, dict(lr=0.01, alpha=0.9, eps=1e-7)),
    "rmsprop_centered_momentum": (
        "rmsprop",
        optim.RMSprop,
        dict(lr=0.01, alpha=0.8, eps=1e-6, centered=True, momentum=0.7, weight_decay=0.01),
    ),
    "rmsprop_momentum_outside": (
        "rmsprop",
        optim.RMSprop,
        dict(lr=0.01, alpha=0.99, eps=1e-8, momentum=0.5, eps_inside_sqrt=False),
    ),
    "rmsprop_centered": (
        "rmsprop",
        optim.RMSprop,
        dict(lr=0.01, alpha=0.9, eps=1e-7, centered=True),
    ),
    "adadelta": ("adadelta", optim.Adadelta, dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.01)),
    "adam": ("adam", optim.Adam, dict(lr=0.01, eps=1e-8)),
    "adam_amsgrad_wd": (
        "adam",
        optim.Adam,
        dict(lr=0.01, betas=(0.8, 0.99), eps=1e-7, amsgrad=True, weight_decay=0.01),
    ),
    "adamw": (
        "adam",
        optim.AdamW,
        dict(lr=0.01, eps=1e-8, weight_decay=0.1, decoupled_weight_decay=True),
    ),
    "nadam": ("nadam", optim.Nadam, dict(lr=0.01, eps=1e-8)),
    "nadam_wd": (
        "nadam",
        optim.Nadam,
        dict(lr=0.01, betas=(0.85, 0.995), eps=1e-7, weight_decay=0.02, momentum_decay=0.01),
    ),
}


def make_params(shapes, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [dc.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True) for s in shapes]


def grads_for(step, shapes, dtype, seed=1):
    rng = np.random.default_rng(seed + 1000 * step)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def ctor_kwargs(cls, hp):
    kw = dict(hp)
    if cls is optim.AdamW:
        kw.pop("decoupled_weight_decay", None)
    return kw


def run_trajectory(name, dtype, shapes, steps=6):
    kind, cls, hp = CASES[name]
    params = make_params(shapes, dtype)
    ref_p = [p.data.astype(np.float64) for p in params]
    refs = [Ref(kind, hp) for _ in shapes]
    opt = cls(params, **ctor_kwargs(cls, hp))
    for s in range(steps):
        gs = grads_for(s, shapes, dtype)
        for p, g in zip(params, gs):
            p.grad = dc.tensor(g)
        opt.step()
        ref_p = [r.step(rp, g.astype(np.float64)) for r, rp, g in zip(refs, ref_p, gs)]
    return params, ref_p


def assert_traj_close(params, ref_p, dtype):
    tol = 1e-12 if dtype == np.float64 else 2e-5
    for p, r in zip(params, ref_p):
        assert p.data.dtype == dtype
        assert p.data.shape == r.shape
        err = np.abs(p.data.astype(np.float64) - r)
        assert np.all(np.isfinite(p.data))
        assert err.size == 0 or err.max() <= tol * (1 + np.abs(r).max()), (err.max(), r.shape)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(CASES))
def test_matches_numpy_reference(name, dtype):
    params, ref_p = run_trajectory(name, dtype, SHAPES)
    assert_traj_close(params, ref_p, dtype)


@pytest.mark.parametrize(
    "name",
    [
        "sgd_momentum",
        "rmsprop_centered_momentum",
        "adam_amsgrad_wd",
        "nadam",
        "adadelta",
        "adagrad",
    ],
)
def test_every_cpu_variant_and_threaded_path(name, cpu_capability):
    # one large tensor runs the OpenMP-split loop, nine small ones (40k elements together) the
    # one-tensor-per-thread loop; the ISA fixture runs every compiled variant
    for dtype in (np.float32, np.float64):
        params, ref_p = run_trajectory(name, dtype, [BIG, (33,)] + [(5000,)] * 8, steps=3)
        assert_traj_close(params, ref_p, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(CASES))
def test_kernels_match_native_reference(name, dtype, cpu_capability):
    # the fused per-ISA kernels against the naive double loop of csrc/ref/optim_ref.cpp
    kind, cls, hp = CASES[name]
    shapes = [(7,), (33, 3), BIG] + [(5000,)] * 7
    params, clones = make_params(shapes, dtype), make_params(shapes, dtype)
    opt, ref = cls(params, **ctor_kwargs(cls, hp)), cls(clones, **ctor_kwargs(cls, hp))
    ref._reference = True
    for s in range(3):
        for p, c, g in zip(params, clones, grads_for(s, shapes, dtype)):
            p.grad, c.grad = dc.tensor(g), dc.tensor(g.copy())
        opt.step()
        ref.step()
    tol = 1e-13 if dtype == np.float64 else 3e-6
    for p, c in zip(params, clones):
        scale = 1 + np.abs(c.data).max()
        assert np.abs(p.data.astype(np.float64) - c.data).max() <= tol * scale


# ---------------------------------------------------------------------- PyTorch parity
def torch_pair(name):
    import torch

    kind, cls, hp = CASES[name]
    h = dict(hp)
    tcls = {
        "sgd": torch.optim.SGD,
        "adagrad": torch.optim.Adagrad,
        "rmsprop": torch.optim.RMSprop,
        "adadelta": torch.optim.Adadelta,
        "adam": torch.optim.Adam,
        "nadam": torch.optim.NAdam,
    }[kind]
    if cls is optim.AdamW:
        tcls = torch.optim.AdamW
    tkw = {k: v for k, v in h.items() if k not in ("decoupled_weight_decay", "eps_inside_sqrt")}
    ours = dict(h)
    if kind in ("adagrad", "rmsprop"):
        # torch adds eps after the square root; ours matches it with eps_inside_sqrt=False
        ours["eps_inside_sqrt"] = False
    if kind == "adagrad":
        tkw.setdefault("initial_accumulator_value", 0.1)
    return cls, ctor_kwargs(cls, ours), tcls, tkw


@requires_torch
@pytest.mark.parametrize("name", [n for n in CASES if n != "sgd_decoupled"])  # not in torch SGD
def test_matches_torch(name):
    import torch

    cls, kw, tcls, tkw = torch_pair(name)
    shapes = [(7,), (4, 5), (1,)]
    params = make_params(shapes, np.float64)
    tparams = [torch.tensor(p.data.copy(), requires_grad=True) for p in params]
    # torch keeps scalar state (step, NAdam's mu_product) in the default dtype: make it float64
    prev = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        opt, topt = cls(params, **kw), tcls(tparams, **tkw)
        for s in range(8):
            for p, tp, g in zip(params, tparams, grads_for(s, shapes, np.float64)):
                p.grad = dc.tensor(g)
                tp.grad = torch.tensor(g.copy())
            opt.step()
            topt.step()
    finally:
        torch.set_default_dtype(prev)
    for p, tp in zip(params, tparams):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------- convergence
@pytest.mark.parametrize(
    "cls,kw,steps",
    [
        (optim.SGD, dict(lr=0.1), 300),
        (optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True), 200),
        (optim.Adagrad, dict(lr=0.5), 300),
        (optim.RMSprop, dict(lr=0.01), 400),
        (optim.Adadelta, dict(lr=1.0, rho=0.9, eps=1e-6), 600),
        (optim.Adam, dict(lr=0.05), 400),
        (optim.AdamW, dict(lr=0.05, weight_decay=1e-4), 400),
        (optim.Nadam, dict(lr=0.05), 400),
    ],
)
def test_least_squares_converges(cls, kw, steps):
    rng = np.random.default_rng(3)
    A = rng.standard_normal((40, 6))
    x_true = rng.standard_normal(6)
    b = A @ x_true
    x = dc.tensor(np.zeros(6), requires_grad=True)
    opt = cls([x], **kw)

    def loss():
        r = A @ x.data - b
        return 0.5 * float(r @ r) / len(b)

    start = loss()
    for _ in range(steps):
        x.grad = dc.tensor(A.T @ (A @ x.data - b) / len(b))
        opt.step()
    assert loss() < 1e-3 * start, (cls.__name__, loss(), start)
    assert np.abs(x.data - x_true).max() < 0.1


# ---------------------------------------------------------------------- API behaviour
def test_grad_none_is_skipped_and_step_counts_per_param():
    a, b = make_params([(3,), (4,)], np.float64)
    b0 = b.data.copy()
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = dc.tensor(np.ones(3))
    opt.step()
    np.testing.assert_array_equal(b.data, b0)
    sd = opt.state_dict()
    assert sd["state"][0]["step"] == 1 and sd["state"][1]["step"] == 0
    # b's first real step must use t=1 bias correction: one Adam step moves by ~lr
    b.grad = dc.tensor(np.ones(4))
    a.grad = None
    opt.step()
    np.testing.assert_allclose(b.data, b0 - 0.1, rtol=0, atol=1e-6)
    assert opt.state_dict()["state"][1]["step"] == 1
    assert opt.iterations == 2


def test_zero_grad():
    (a,) = make_params([(3,)], np.float32)
    a.grad = dc.tensor(np.ones(3, np.float32))
    opt = optim.SGD([a], lr=0.1)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(a.grad.data, 0)
    opt.zero_grad()
    assert a.grad is None


def test_keras_style_construction_and_build():
    opt = optim.Adam(learning_rate=0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-6)
    assert not opt.built and opt.lr == 0.01
    assert opt.defaults["betas"] == (0.8, 0.99) and opt.defaults["eps"] == 1e-6
    (a,) = make_params([(5,)], np.float64)
    opt.build([a])
    opt.build([a])  # idempotent
    assert len(opt.param_groups) == 1 and len(opt.param_groups[0]["params"]) == 1
    ref = Ref("adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6))
    g = np.linspace(-1, 1, 5)
    expect = ref.step(a.data.copy(), g)
    opt.apply_gradients([(dc.tensor(g), a)])
    np.testing.assert_allclose(a.data, expect, rtol=1e-12)
    # positional learning rate (Keras) and the RMSprop Keras names
    r = optim.RMSprop(0.002, rho=0.8, epsilon=1e-6)
    assert r.lr == 0.002 and r.defaults["alpha"] == 0.8 and r.defaults["eps"] == 1e-6


def test_apply_gradients_builds_lazily():
    (a,) = make_params([(4,)], np.float32)
    opt = optim.SGD(learning_rate=0.5)
    a0 = a.data.copy()
    opt.apply([np.ones(4, np.float32)], [a])
    np.testing.assert_allclose(a.data, a0 - 0.5, rtol=1e-6)


@pytest.mark.parametrize(
    "name,cls",
    [
        ("sgd", optim.SGD),
        ("rmsprop", optim.RMSprop),
        ("adam", optim.Adam),
        ("adamw", optim.AdamW),
        ("adagrad", optim.Adagrad),
        ("adadelta", optim.Adadelta),
        ("nadam", optim.Nadam),
    ],
)
def test_registry_keras_defaults(name, cls):
    opt = optim.get(name)
    assert type(opt) is cls and not opt.built
    keras_lr = {"sgd": 0.01}.get(name, 0.001)
    assert opt.lr == keras_lr
    assert optim.get(opt) is opt
    again = optim.get(optim.serialize(opt))
    assert type(again) is cls and again.get_config() == opt.get_config()
    assert json.loads(json.dumps(opt.get_config())) == opt.get_config()


def test_rmsprop_defaults_are_keras():
    d = optim.RMSprop().defaults
    assert (d["lr"], d["alpha"], d["eps"], d["eps_inside_sqrt"]) == (0.001, 0.9, 1e-7, True)


def test_lr_setter_and_param_groups():
    a, b = make_params([(3,), (3,)], np.float64)
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    a0, b0 = a.data.copy(), b.data.copy()
    a.grad, b.grad = dc.tensor(np.ones(3)), dc.tensor(np.ones(3))
    opt.step()
    np.testing.assert_allclose(a.data, a0 - 0.1)
    np.testing.assert_allclose(b.data, b0 - 0.5)
    opt.lr = 0.25
    assert opt.lr == 0.25 and opt.learning_rate == 0.25
    opt.param_groups[1]["lr"] = 1.0
    a0, b0 = a.data.copy(), b.data.copy()
    opt.step()
    np.testing.assert_allclose(a.data, a0 - 0.25)
    np.testing.assert_allclose(b.data, b0 - 1.0)


def assert_continue_identically(opt, params, opt2, clones, shapes, steps):
    """Step both optimizers on the same gradients; the parameters must stay bit-identical."""
    for s in steps:
        for p, c, g in zip(params, clones, grads_for(s, shapes, np.float32)):
            p.grad, c.grad = dc.tensor(g), dc.tensor(g.copy())
        opt.step()
        opt2.step()
    for p, c in zip(params, clones):
        np.testing.assert_array_equal(p.data, c.data)


@pytest.mark.parametrize(
    "name",
    [
        "sgd_momentum",
        "rmsprop_centered_momentum",
        "adam_amsgrad_wd",
        "nadam_wd",
        "adadelta",
        "adagrad",
    ],
)
def test_state_dict_round_trip_continues_identically(name):
    kind, cls, hp = CASES[name]
    shapes = [(5,), (2, 3)]
    params = make_params(shapes, np.float32)
    opt = cls(params, **ctor_kwargs(cls, hp))
    for s in range(3):
        for p, g in zip(params, grads_for(s, shapes, np.float32)):
            p.grad = dc.tensor(g)
        opt.step()
    # through the flat (safetensors + JSON) form
    meta, arrays = optim.flatten_state_dict(opt.state_dict())
    meta = json.loads(json.dumps(meta))
    arrays = {k: v.copy() for k, v in arrays.items()}
    clones = [dc.tensor(p.data.copy(), requires_grad=True) for p in params]
    opt2 = cls(clones, lr=123.0)  # hyperparameters come back from the state_dict too
    opt2.load_state_dict(optim.unflatten_state_dict(meta, arrays))
    assert opt2.iterations == opt.iterations == 3
    assert opt2.param_groups[0]["lr"] == hp["lr"]
    assert_continue_identically(opt, params, opt2, clones, shapes, range(3, 6))


def test_load_state_dict_rejects_mismatch():
    a, b = make_params([(3,), (4,)], np.float64)
    opt = optim.Adam([a, b])
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="parameters"):
        optim.Adam([a]).load_state_dict(sd)
    c, d = make_params([(3,), (5,)], np.float64)
    with pytest.raises(ValueError, match="shape"):
        optim.Adam([c, d]).load_state_dict(sd)


# ---------------------------------------------------------------------- clipping
def grads_with(params, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    for p in params:
        p.grad = dc.tensor(np.asarray(scale * rng.standard_normal(p.shape), dtype=p.dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clip_grad_norm(dtype):
    params = make_params([(7,), (30, 3), (), (0,), BIG], dtype)
    grads_with(params, scale=3.0)
    g0 = [p.grad.data.astype(np.float64) for p in params]
    total = math.sqrt(sum(float((g * g).sum()) for g in g0))
    norm = optim.clip_grad_norm_(params, max_norm=1.0)
    rtol = 1e-12 if dtype == np.float64 else 1e-6
    assert norm == pytest.approx(total, rel=rtol) and norm.item() == pytest.approx(total, rtol)
    coef = 1.0 / (total + 1e-6)
    for p, g in zip(params, g0):
        np.testing.assert_allclose(p.grad.data, g * coef, rtol=10 * rtol, atol=1e-12)
    # below the bound: untouched, returns the norm
    before = [p.grad.data.copy() for p in params]
    n2 = optim.clip_grad_norm_(params, max_norm=10.0)
    assert n2 == pytest.approx(1.0, rel=1e-5)
    for p, g in zip(params, before):
        np.testing.assert_array_equal(p.grad.data, g)


def test_clip_grad_norm_inf_and_nonfinite():
    params = make_params([(5,), (3,)], np.float64)
    grads_with(params)
    m = max(np.abs(p.grad.data).max() for p in params)
    assert optim.clip_grad_norm_(params, 100.0, norm_type=float("inf")) == m
    params[1].grad.data[1] = np.nan
    assert math.isnan(optim.clip_grad_norm_(params, 1.0, norm_type="inf"))
    with pytest.raises(RuntimeError, match="non-finite"):
        optim.clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    with pytest.raises(ValueError, match="norm_type"):
        optim.clip_grad_norm_(params, 1.0, norm_type=1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clip_grad_value(dtype):
    params = make_params([(7,), (30, 3), BIG], dtype)
    grads_with(params, scale=2.0)
    g0 = [p.grad.data.copy() for p in params]
    optim.clip_grad_value_(params, 0.5)
    for p, g in zip(params, g0):
        np.testing.assert_array_equal(p.grad.data, np.clip(g, -0.5, 0.5))
    with pytest.raises(ValueError, match="clip_value"):
        optim.clip_grad_value_(params, -1.0)


@pytest.mark.parametrize("clip", ["clipvalue", "clipnorm", "global_clipnorm"])
def test_optimizer_clipping_kwargs(clip):
    shapes = [(6,), (3, 4)]
    params = make_params(shapes, np.float64)
    grads_with(params, scale=4.0)
    gs = [p.grad.data.copy() for p in params]
    ref_p = [p.data.copy() for p in params]
    c = 0.7
    opt = optim.Adam(params, lr=0.01, eps=1e-8, **{clip: c})
    opt.step()
    for p, g in zip(params, gs):  # .grad is not modified
        np.testing.assert_array_equal(p.grad.data, g)
    if clip == "clipvalue":
        scales = [1.0, 1.0]
        hp = dict(lr=0.01, eps=1e-8, clipvalue=c)
    elif clip == "clipnorm":
        scales = [min(1.0, c / np.linalg.norm(g)) for g in gs]
        hp = dict(lr=0.01, eps=1e-8)
    else:
        gn = math.sqrt(sum(float((g * g).sum()) for g in gs))
        scales = [min(1.0, c / gn)] * 2
        hp = dict(lr=0.01, eps=1e-8)
    for p, rp, g, s in zip(params, ref_p, gs, scales):
        np.testing.assert_allclose(p.data, Ref("adam", hp).step(rp, g, s), rtol=1e-12)
    # and the clipped gradient really is what drove a non-adaptive step
    (x,) = make_params([(4,)], np.float64)
    x.grad = dc.tensor(np.array([3.0, -4.0, 0.0, 0.0]))
    x0 = x.data.copy()
    optim.SGD([x], lr=1.0, **{clip: 2.5}).step()
    expect = np.clip(x.grad.data, -2.5, 2.5) if clip == "clipvalue" else x.grad.data * 0.5
    np.testing.assert_allclose(x0 - x.data, expect, rtol=1e-12)


# ---------------------------------------------------------------------- bad inputs
def test_bad_hyperparameters():
    (a,) = make_params([(3,)], np.float32)
    with pytest.raises(ValueError, match="lr"):
        optim.SGD([a], lr=-0.1)
    with pytest.raises(ValueError, match="momentum"):
        optim.SGD([a], lr=0.1, momentum=-0.5)
    with pytest.raises(ValueError, match="lr"):
        optim.Adam([a], lr=float("inf"))
    with pytest.raises(ValueError, match="eps"):
        optim.RMSprop([a], eps=float("nan"))
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD([a], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="beta"):
        optim.Adam([a], betas=(1.0, 0.999))
    with pytest.raises(ValueError, match="eps"):
        optim.Adam([a], eps=-1.0)
    with pytest.raises(ValueError, match="weight_decay"):
        optim.Adam([a], weight_decay=-1.0)
    with pytest.raises(ValueError, match="rho"):
        optim.RMSprop([a], rho=1.5)
    with pytest.raises(ValueError, match="only one of"):
        optim.Adam([a], clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match="clipnorm"):
        optim.Adam([a], clipnorm=0.0)
    with pytest.raises(ValueError, match="not both"):
        optim.Adam([a], lr=0.1, learning_rate=0.1)
    with pytest.raises(ValueError, match="unknown optimizer"):
        optim.get("adamax-nope")
    with pytest.raises(TypeError, match="lr"):
        optim.SGD([a], lr="fast")


def test_bad_parameters():
    with pytest.raises(TypeError, match="float32 or float64"):
        optim.SGD([dc.tensor(np.arange(3))], lr=0.1)
    with pytest.raises(TypeError, match="Tensor"):
        optim.SGD([np.zeros(3, np.float32)], lr=0.1)
    with pytest.raises(TypeError, match="iterable"):
        optim.SGD(dc.tensor(np.zeros(3, np.float32)), lr=0.1)
    with pytest.raises(ValueError, match="empty"):
        optim.SGD([], lr=0.1)
    t = dc.tensor(np.zeros((4, 4), np.float32))
    t.data = t.data[:, ::2]
    with pytest.raises(ValueError, match="C-contiguous"):
        optim.SGD([t], lr=0.1)
    (a,) = make_params([(3,)], np.float32)
    with pytest.raises(ValueError, match="more than one"):
        optim.SGD([{"params": [a]}, {"params": [a]}], lr=0.1)


def test_bad_gradients_raise_cleanly():
    (a,) = make_params([(3,)], np.float32)
    opt = optim.Adam([a])
    a0 = a.data.copy()
    a.grad = dc.tensor(np.ones(4, np.float32))
    with pytest.raises(ValueError, match=r"grads\[0\] has shape"):
        opt.step()
    a.grad = dc.tensor(np.ones(3, np.float64))
    with pytest.raises(TypeError, match="dtype"):
        opt.step()
    a.grad = dc.Tensor(np.ones(6, np.float32)[::2])  # a view, not copied
    with pytest.raises(ValueError, match="C-contiguous"):
        opt.step()
    np.testing.assert_array_equal(a.data, a0)


def test_native_binding_validates():
    p, g = np.ones(3, np.float32), np.ones(3, np.float32)
    steps = np.zeros(1, np.int64)
    with pytest.raises(ValueError, match="kind"):
        dc._C.optim_step("lion", {}, [p], [g], [[]], steps)
    with pytest.raises(ValueError, match="hold 2 arrays"):
        dc._C.optim_step("adam", {}, [p], [g], [[np.zeros(3, np.float32)]], steps)
    with pytest.raises(ValueError, match="overlap"):
        dc._C.optim_step("sgd", {}, [p], [p], [[]], steps)
    buf = np.ones(10, np.float32)
    with pytest.raises(ValueError, match=r"params\[0\] and params\[1\] share memory"):
        dc._C.optim_step(
            "sgd",
            {},
            [buf[:6], buf[4:]],
            [g[:1].repeat(6), g[:1].repeat(6)],
            [[], []],
            np.zeros(2, np.int64),
        )
    with pytest.raises(ValueError, match="steps"):
        dc._C.optim_step("sgd", {}, [p], [g], [[]], np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="lr"):
        dc._C.optim_step("sgd", {"lr": -1.0}, [p], [g], [[]], steps)
    with pytest.raises(ValueError, match="mu_products"):
        dc._C.optim_step("nadam", {}, [p], [g], [[p.copy(), p.copy()]], steps)


def test_save_load_flow_as_models_uses_it():
    # compile(): get by name, build; save: config + flat state; load: deserialize, build, load
    shapes = [(4, 3), (3,)]
    params = make_params(shapes, np.float32)
    opt = optim.get("nadam")
    opt.build(params)
    for s in range(2):
        for p, g in zip(params, grads_for(s, shapes, np.float32)):
            p.grad = dc.tensor(g)
        opt.step()
    saved_cfg = json.dumps(optim.serialize(opt))
    meta, arrays = optim.flatten_state_dict(opt.state_dict())
    saved_meta = json.dumps(meta)

    clones = [dc.tensor(p.data.copy(), requires_grad=True) for p in params]
    opt2 = optim.deserialize(json.loads(saved_cfg))
    assert type(opt2) is optim.Nadam and not opt2.built
    opt2.build(clones)
    opt2.load_state_dict(optim.unflatten_state_dict(json.loads(saved_meta), arrays))
    assert_continue_identically(opt, params, opt2, clones, shapes, range(2, 4))


def test_schedule_given_positionally_keras_style():
    sched = optim.schedules.InverseSqrtDecay(0.4)
    opt = optim.SGD(sched)
    assert opt.defaults["lr"] is sched and opt.lr == pytest.approx(0.4)
    (x,) = make_params([(2,)], np.float64)
    opt.build([x])
    for t in range(3):
        x0 = x.data.copy()
        x.grad = dc.tensor(np.ones(2))
        opt.step()
        np.testing.assert_allclose(x0 - x.data, 0.4 / math.sqrt(t + 1), rtol=1e-12)
