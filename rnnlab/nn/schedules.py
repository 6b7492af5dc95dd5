"""Learning-rate schedules with torch.optim.lr_scheduler's names, arguments and values.

A schedule sets its optimiser's `lr` at construction (epoch 0) and again at every `step()`
(epoch 1, 2, ...), called after `optimizer.step()`. Each value is a closed form of the base rate
γ0 (the optimiser's lr when the schedule is built) and the epoch t:

    StepLR(step_size, gamma=0.1)           γ_t = γ0 · gamma^⌊t / step_size⌋
    ExponentialLR(gamma)                   γ_t = γ0 · gamma^t
    CosineAnnealingLR(T_max, eta_min=0)    γ_t = eta_min + (γ0 − eta_min)(1 + cos(π t / T_max)) / 2
    LinearLR(start_factor=1/3,             γ_t = γ0 · (s + (e − s) · min(t, n) / n),
             end_factor=1, total_iters=5)  s = start_factor, e = end_factor, n = total_iters

These are the values torch's recursive forms compute (they agree to rounding, 1e-10 relative
tested over 30 epochs; CosineAnnealingLR continues past T_max as torch's does, rising again with
period 2·T_max). Unlike torch's chainable forms, a closed form does not compound with changes
made to `optimizer.lr` by hand or by a second schedule: the schedule alone owns the rate.

`state_dict()` is a JSON-serialisable dict; `load_state_dict()` checks it, restores the epoch and
hyperparameters and sets the optimiser's lr to the restored epoch's value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from .optim import Optimizer, check_int, check_number


class LRScheduler:
    """Base class: the optimiser, its base rate `base_lr`, the epoch `last_epoch`, checkpoints.

    A subclass lists its hyperparameters in `hyperparameter_names`, checks them in
    `_check_hyperparameters` and gives the rate at any epoch in `lr_at`.
    """

    hyperparameter_names: tuple[str, ...] = ()

    def __init__(self, optimizer: Optimizer, **hyperparameters):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be an rnnlab.nn.optim Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self._set_hyperparameters(self._check_hyperparameters(hyperparameters))
        self.base_lr = check_number("optimizer.lr", optimizer.lr)
        self.last_epoch = 0
        self._apply()

    @classmethod
    def _check_hyperparameters(cls, hp: dict) -> dict:
        raise NotImplementedError

    def lr_at(self, epoch: int) -> float:
        """The learning rate this schedule gives at `epoch` (0 at construction)."""
        raise NotImplementedError

    def _set_hyperparameters(self, hp: dict) -> None:
        for k, v in hp.items():
            setattr(self, k, v)

    def _apply(self) -> None:
        self._last_lr = self.lr_at(self.last_epoch)
        self.optimizer.lr = self._last_lr

    def step(self) -> None:
        """Advance one epoch and set the optimiser's lr to that epoch's value."""
        self.last_epoch += 1
        self._apply()

    def get_last_lr(self) -> list[float]:
        """[the rate last set on the optimiser], a list as in torch (one entry per param group)."""
        return [self._last_lr]

    def __repr__(self) -> str:
        hp = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.hyperparameter_names)
        return f"{type(self).__name__}({hp}, base_lr={self.base_lr}, last_epoch={self.last_epoch})"

    def state_dict(self) -> dict:
        """{"scheduler": class name, "base_lr", "last_epoch", and each hyperparameter}: JSON-ready."""
        return {
            "scheduler": type(self).__name__,
            "base_lr": self.base_lr,
            "last_epoch": self.last_epoch,
            **{k: getattr(self, k) for k in self.hyperparameter_names},
        }

    def load_state_dict(self, state: Mapping) -> None:
        """Restore a `state_dict()`, after checking the class name, the keys and every value; a
        failed load raises (ValueError, or KeyError for missing or unexpected keys) and changes
        nothing. Sets the optimiser's lr to the restored epoch's value."""
        cls = type(self).__name__
        if not isinstance(state, Mapping):
            raise TypeError(f"state must be a dict from state_dict(), got {type(state).__name__}")
        if "scheduler" not in state:
            raise KeyError("state lacks 'scheduler': it is not a schedule's state_dict()")
        if state["scheduler"] != cls:
            raise ValueError(f"state holds a {state['scheduler']} schedule, this is a {cls}")
        expected = {"scheduler", "base_lr", "last_epoch", *self.hyperparameter_names}
        missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
        if missing or unexpected:
            raise KeyError(
                f"state does not match {cls}: missing {missing or 'none'}, unexpected {unexpected or 'none'}"
            )
        hp = self._check_hyperparameters({k: state[k] for k in self.hyperparameter_names})
        base_lr = check_number("state['base_lr']", state["base_lr"])
        last_epoch = check_int("state['last_epoch']", state["last_epoch"])
        self._set_hyperparameters(hp)
        self.base_lr, self.last_epoch = base_lr, last_epoch
        self._apply()


class StepLR(LRScheduler):
    """Multiply the rate by `gamma` every `step_size` epochs: γ_t = γ0 · gamma^⌊t / step_size⌋."""

    hyperparameter_names = ("step_size", "gamma")

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1):
        super().__init__(optimizer, step_size=step_size, gamma=gamma)

    @classmethod
    def _check_hyperparameters(cls, hp: dict) -> dict:
        return {
            "step_size": check_int("step_size", hp["step_size"], low=1),
            "gamma": check_number("gamma", hp["gamma"]),
        }

    def lr_at(self, epoch: int) -> float:
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(LRScheduler):
    """Multiply the rate by `gamma` every epoch: γ_t = γ0 · gamma^t."""

    hyperparameter_names = ("gamma",)

    def __init__(self, optimizer: Optimizer, gamma: float):
        super().__init__(optimizer, gamma=gamma)

    @classmethod
    def _check_hyperparameters(cls, hp: dict) -> dict:
        return {"gamma": check_number("gamma", hp["gamma"])}

    def lr_at(self, epoch: int) -> float:
        return self.base_lr * self.gamma**epoch


class CosineAnnealingLR(LRScheduler):
    """Half a cosine from γ0 down to eta_min over T_max epochs (SGDR without restarts):
    γ_t = eta_min + (γ0 − eta_min)(1 + cos(π t / T_max)) / 2."""

    hyperparameter_names = ("T_max", "eta_min")

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0):
        super().__init__(optimizer, T_max=T_max, eta_min=eta_min)

    @classmethod
    def _check_hyperparameters(cls, hp: dict) -> dict:
        return {"T_max": check_int("T_max", hp["T_max"], low=1), "eta_min": check_number("eta_min", hp["eta_min"])}

    def lr_at(self, epoch: int) -> float:
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2


class LinearLR(LRScheduler):
    """Linear warm-up: the factor on γ0 goes from start_factor to end_factor over total_iters
    epochs, then stays: γ_t = γ0 · (s + (e − s) · min(t, total_iters) / total_iters)."""

    hyperparameter_names = ("start_factor", "end_factor", "total_iters")

    def __init__(
        self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0, total_iters: int = 5
    ):
        super().__init__(optimizer, start_factor=start_factor, end_factor=end_factor, total_iters=total_iters)

    @classmethod
    def _check_hyperparameters(cls, hp: dict) -> dict:
        return {
            "start_factor": check_number("start_factor", hp["start_factor"], 0.0, 1.0, low_open=True),
            "end_factor": check_number("end_factor", hp["end_factor"], 0.0, 1.0),
            "total_iters": check_int("total_iters", hp["total_iters"], low=1),
        }

    def lr_at(self, epoch: int) -> float:
        s, e, n = self.start_factor, self.end_factor, self.total_iters
        return self.base_lr * (s + (e - s) * min(n, epoch) / n)
