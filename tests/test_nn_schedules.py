"""Learning-rate schedules: torch.optim.lr_scheduler as the reference, checkpoints, arguments."""

import json
import math

import numpy as np
import pytest

from rnnlab.nn.core import Param
from rnnlab.nn.optim import SGD, Adam
from rnnlab.nn.schedules import CosineAnnealingLR, ExponentialLR, LinearLR, StepLR

CASES = [
    (StepLR, {"step_size": 7}),
    (StepLR, {"step_size": 3, "gamma": 0.5}),
    (ExponentialLR, {"gamma": 0.9}),
    (CosineAnnealingLR, {"T_max": 10}),  # 30 epochs: past T_max, where it rises again
    (CosineAnnealingLR, {"T_max": 25, "eta_min": 0.01}),
    (LinearLR, {}),
    (LinearLR, {"start_factor": 0.05, "end_factor": 0.8, "total_iters": 12}),
]
CASE_IDS = [f"{cls.__name__}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'defaults'}" for cls, kw in CASES]
BASE_LR = 0.1


def make_optimizer(lr=BASE_LR):
    return SGD([Param(np.zeros(2))], lr=lr)


def lr_sequence(schedule, epochs):
    """[lr at epoch 0, 1, ..., epochs], read from the optimiser and from get_last_lr()."""
    lrs = []
    for epoch in range(epochs + 1):
        if epoch:
            schedule.optimizer.step()
            schedule.step()
        assert schedule.get_last_lr() == [schedule.optimizer.lr]
        lrs.append(schedule.optimizer.lr)
    return lrs


@pytest.mark.parametrize("cls, kwargs", CASES, ids=CASE_IDS)
def test_lr_sequence_matches_torch_over_30_epochs(torch, cls, kwargs):
    ours = lr_sequence(cls(make_optimizer(), **kwargs), 30)
    topt = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=BASE_LR)
    tsched = getattr(torch.optim.lr_scheduler, cls.__name__)(topt, **kwargs)
    theirs = [tsched.get_last_lr()[0]]
    for _ in range(30):
        topt.step()
        tsched.step()
        theirs.append(tsched.get_last_lr()[0])
    assert len(set(theirs)) > 2  # the schedule does change the rate within 30 epochs
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize(
    "cls, kwargs, epoch0",
    [
        (StepLR, {"step_size": 2}, BASE_LR),
        (ExponentialLR, {"gamma": 0.5}, BASE_LR),
        (CosineAnnealingLR, {"T_max": 4}, BASE_LR),
        (LinearLR, {"start_factor": 0.25}, BASE_LR * 0.25),
    ],
)
def test_construction_sets_the_epoch_0_rate_on_the_optimiser(cls, kwargs, epoch0):
    opt = make_optimizer()
    schedule = cls(opt, **kwargs)
    assert opt.lr == pytest.approx(epoch0) and schedule.get_last_lr() == [opt.lr]
    assert schedule.last_epoch == 0 and schedule.base_lr == BASE_LR


def test_closed_forms_at_known_epochs():
    assert StepLR(make_optimizer(1.0), step_size=3, gamma=0.5).lr_at(7) == 0.25
    assert ExponentialLR(make_optimizer(1.0), gamma=0.5).lr_at(3) == 0.125
    cos = CosineAnnealingLR(make_optimizer(1.0), T_max=10, eta_min=0.1)
    assert (cos.lr_at(0), cos.lr_at(10), cos.lr_at(20)) == (1.0, 0.1, 1.0)
    assert cos.lr_at(5) == pytest.approx(0.55)
    warm = LinearLR(make_optimizer(1.0), start_factor=0.2, total_iters=4)
    assert [warm.lr_at(t) for t in (0, 2, 4, 9)] == pytest.approx([0.2, 0.6, 1.0, 1.0])


def test_schedule_drives_the_optimisers_steps_like_torch(torch):
    """SGD + StepLR end to end: the scheduled rates reach the weights as in torch."""
    rng = np.random.default_rng(0)
    p = Param(rng.standard_normal(5))
    tp = torch.tensor(p.data.copy(), requires_grad=True)
    opt, topt = SGD([p], lr=0.1, momentum=0.9), torch.optim.SGD([tp], lr=0.1, momentum=0.9)
    sched, tsched = StepLR(opt, 3, 0.5), torch.optim.lr_scheduler.StepLR(topt, 3, 0.5)
    for _ in range(10):
        g = rng.standard_normal(5)
        p.grad[...] = g
        tp.grad = torch.from_numpy(g.copy())
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
    np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("cls, kwargs", CASES, ids=CASE_IDS)
def test_state_dict_round_trip_continues_the_same_sequence(cls, kwargs):
    a = cls(make_optimizer(), **kwargs)
    lr_sequence(a, 12)
    state = json.loads(json.dumps(a.state_dict()))
    b = cls(make_optimizer(0.5), **kwargs)  # another base rate: the load must restore it
    b.load_state_dict(state)
    assert b.optimizer.lr == a.optimizer.lr and b.last_epoch == 12
    assert lr_sequence(b, 18) == lr_sequence(a, 18)
    control = cls(make_optimizer(0.5), **kwargs)
    lr_sequence(control, 12)
    assert lr_sequence(control, 18) != lr_sequence(a, 18)


@pytest.mark.parametrize(
    "change, error, match",
    [
        ({"scheduler": "ExponentialLR"}, ValueError, "ExponentialLR"),
        ({"step_size": 0}, ValueError, "step_size"),
        ({"last_epoch": -2}, ValueError, "last_epoch"),
        ({"base_lr": -0.1}, ValueError, "base_lr"),
        ({"extra": 1}, KeyError, "extra"),
    ],
)
def test_bad_load_raises_and_changes_nothing(change, error, match):
    schedule = StepLR(make_optimizer(), step_size=2, gamma=0.5)
    lr_sequence(schedule, 3)
    before, lr_before = schedule.state_dict(), schedule.optimizer.lr
    with pytest.raises(error, match=match):
        schedule.load_state_dict({**before, "last_epoch": 10, **change})
    assert schedule.state_dict() == before and schedule.optimizer.lr == lr_before
    with pytest.raises(KeyError, match="gamma"):
        schedule.load_state_dict({k: v for k, v in before.items() if k != "gamma"})


@pytest.mark.parametrize(
    "cls, kwargs, error, match",
    [
        (StepLR, {"step_size": 0}, ValueError, "step_size"),
        (StepLR, {"step_size": 2.5}, TypeError, "step_size"),
        (ExponentialLR, {"gamma": -0.5}, ValueError, "gamma"),
        (CosineAnnealingLR, {"T_max": 0}, ValueError, "T_max"),
        (CosineAnnealingLR, {"T_max": 5, "eta_min": math.nan}, ValueError, "eta_min"),
        (LinearLR, {"start_factor": 0.0}, ValueError, "start_factor"),
        (LinearLR, {"end_factor": 1.5}, ValueError, "end_factor"),
        (LinearLR, {"total_iters": 0}, ValueError, "total_iters"),
    ],
)
def test_invalid_arguments_raise_naming_them(cls, kwargs, error, match):
    with pytest.raises(error, match=match):
        cls(make_optimizer(), **kwargs)


def test_schedule_needs_an_rnnlab_optimiser():
    with pytest.raises(TypeError, match="Optimizer"):
        StepLR(object(), step_size=2)
    StepLR(Adam([Param(np.zeros(1))]), step_size=2)  # any rnnlab optimiser will do
