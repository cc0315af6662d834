"""Learning-rate schedules: values against their formulas, both usage styles, PyTorch parity."""

from __future__ import annotations

import json
import math

import deepcore as dc
import deepcore.optim as optim
import numpy as np
import pytest
from deepcore.optim import lr_scheduler, schedules
from helpers import requires_torch

STEPS = [0, 1, 2, 7, 10, 99, 100, 101, 1000]


@pytest.mark.parametrize(
    "sched,formula",
    [
        (schedules.StepDecay(0.1, step_size=10, gamma=0.5), lambda t: 0.1 * 0.5 ** (t // 10)),
        (schedules.ExponentialDecay(0.1, 100, 0.96), lambda t: 0.1 * 0.96 ** (t / 100)),
        (
            schedules.ExponentialDecay(0.1, 100, 0.96, staircase=True),
            lambda t: 0.1 * 0.96 ** (t // 100),
        ),
        (schedules.InverseTimeDecay(0.2, 10, 0.5), lambda t: 0.2 / (1 + 0.5 * t / 10)),
        (schedules.InverseSqrtDecay(0.3), lambda t: 0.3 / math.sqrt(t + 1)),
        (schedules.InverseSqrtDecay(0.3, decay_steps=5), lambda t: 0.3 / math.sqrt(t / 5 + 1)),
        (
            schedules.CosineDecay(0.1, 100, alpha=0.1),
            lambda t: 0.1 * (0.9 * 0.5 * (1 + math.cos(math.pi * min(t, 100) / 100)) + 0.1),
        ),
        (
            schedules.CosineDecay(0.0, 100, warmup_target=0.2, warmup_steps=10),
            lambda t: (
                0.2 * t / 10
                if t < 10
                else 0.2 * 0.5 * (1 + math.cos(math.pi * min(t - 10, 100) / 100))
            ),
        ),
        (
            schedules.PiecewiseConstantDecay([10, 100], [0.1, 0.01, 0.001]),
            lambda t: 0.1 if t <= 10 else (0.01 if t <= 100 else 0.001),
        ),
    ],
)
def test_schedule_values(sched, formula):
    for t in STEPS:
        assert sched(t) == pytest.approx(formula(t), rel=1e-12, abs=1e-15), t
    # serialisation round trip (JSON)
    again = schedules.deserialize(json.loads(json.dumps(schedules.serialize(sched))))
    assert type(again) is type(sched)
    assert [again(t) for t in STEPS] == [sched(t) for t in STEPS]


def test_keras_style_schedule_drives_optimizer():
    sched = schedules.ExponentialDecay(0.5, decay_steps=1, decay_rate=0.5)
    x = dc.tensor(np.zeros(3), requires_grad=True)
    opt = optim.SGD(learning_rate=sched)
    opt.build([x])
    moved = []
    for _ in range(4):
        assert opt.lr == sched(opt.iterations)
        x.grad = dc.tensor(np.ones(3))
        before = x.data.copy()
        opt.step()
        moved.append(float(before[0] - x.data[0]))
    np.testing.assert_allclose(moved, [0.5, 0.25, 0.125, 0.0625], rtol=1e-12)
    # the schedule is part of the optimizer's config
    cfg = json.loads(json.dumps(opt.get_config()))
    opt2 = optim.SGD.from_config(cfg)
    assert isinstance(opt2.defaults["lr"], schedules.ExponentialDecay)
    assert opt2.defaults["lr"](3) == sched(3)


def test_torch_style_schedule_updates_groups():
    a = dc.tensor(np.zeros(2), requires_grad=True)
    b = dc.tensor(np.zeros(2), requires_grad=True)
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    sched = schedules.StepDecay(opt, step_size=2, gamma=0.1)
    seen = []
    for _ in range(5):
        seen.append(sched.get_last_lr())
        sched.step()
    np.testing.assert_allclose(
        seen, [[0.1, 1.0], [0.1, 1.0], [0.01, 0.1], [0.01, 0.1], [0.001, 0.01]], rtol=1e-12
    )
    state = sched.state_dict()
    opt.lr = 5.0
    sched.load_state_dict(state)
    np.testing.assert_allclose(sched.get_last_lr(), [0.001, 0.01], rtol=1e-12)
    with pytest.raises(RuntimeError, match="optimizer"):
        schedules.StepDecay(0.1, 2).step()


@requires_torch
@pytest.mark.parametrize(
    "ours,theirs",
    [
        (
            lambda o: lr_scheduler.StepLR(o, step_size=3, gamma=0.5),
            lambda o, torch: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5),
        ),
        (
            lambda o: lr_scheduler.ExponentialLR(o, gamma=0.9),
            lambda o, torch: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9),
        ),
        (
            lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.01),
            lambda o, torch: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.01),
        ),
        (
            lambda o: lr_scheduler.LambdaLR(o, lambda e: 1.0 / (e + 1)),
            lambda o, torch: torch.optim.lr_scheduler.LambdaLR(o, lambda e: 1.0 / (e + 1)),
        ),
    ],
)
def test_matches_torch_schedulers(ours, theirs):
    import torch

    x = dc.tensor(np.zeros(2), requires_grad=True)
    opt = optim.SGD([x], lr=0.2)
    topt = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=0.2)
    s, ts = ours(opt), theirs(topt, torch)
    for _ in range(12):
        assert s.get_last_lr()[0] == pytest.approx(ts.get_last_lr()[0], rel=1e-9)
        topt.step()
        s.step()
        ts.step()


def test_bad_schedule_arguments():
    with pytest.raises(ValueError, match="step_size"):
        schedules.StepDecay(0.1, step_size=0)
    with pytest.raises(ValueError, match="initial_learning_rate"):
        schedules.ExponentialDecay(-1.0, 10, 0.9)
    with pytest.raises(ValueError, match="decay_steps"):
        schedules.CosineDecay(0.1, decay_steps=-5)
    with pytest.raises(ValueError, match="alpha"):
        schedules.CosineDecay(0.1, 10, alpha=2.0)
    with pytest.raises(ValueError, match="values"):
        schedules.PiecewiseConstantDecay([1, 2], [0.1])
    with pytest.raises(TypeError, match="Optimizer"):
        lr_scheduler.StepLR(0.1, 3)
    with pytest.raises(ValueError, match="unknown"):
        schedules.deserialize({"class_name": "Nope", "config": {}})
