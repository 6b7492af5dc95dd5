"""Optimisers with torch.optim's names, arguments, defaults and update rules.

Each `step()` reads every parameter's gradient g = p.grad (left unchanged) and updates p.data
in place by the update rule of torch.optim's single-tensor path, in the same order of operations
(they agree to ~1e-15 relative in float64; tests/test_nn_optim.py holds them to 1e-10).
Notation: θ a parameter, g its gradient, t the step count (1 at the first step), γ the learning
rate `lr`, λ `weight_decay`; squares, roots and divisions are element-wise.

SGD(lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False), state `momentum_buffer`
    g ← g + λθ                                    (1)  if λ ≠ 0
    b ← g                               at t = 1  (2)  if μ = momentum ≠ 0 (no dampening at t = 1)
    b ← μb + (1 − τ)g                   at t > 1  (2)  τ = dampening
    g ← g + μb if nesterov, else g ← b            (3)  if μ ≠ 0
    θ ← θ − γg                                    (4)

Adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False),
state `exp_avg` m, `exp_avg_sq` v, `max_exp_avg_sq` v̂ (amsgrad); AdamW differs only in (1)
    g ← g + λθ                          Adam      (1)  if λ ≠ 0 (L2 penalty in the gradient)
    θ ← (1 − γλ)θ                       AdamW     (1)  decoupled weight decay, default λ = 1e-2
    m ← m + (1 − β1)(g − m)                       (2)
    v ← β2v + (1 − β2)g²                          (3)
    v̂ ← max(v̂, v), and v̂ replaces v in (5)        (4)  if amsgrad
    θ ← θ − γ/(1 − β1^t) · m / (√v / √(1 − β2^t) + ε)   (5)  ε added after the bias correction

RMSprop(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False),
state `square_avg` s, `grad_avg` a (centered), `momentum_buffer` b (momentum > 0, starts at 0)
    g ← g + λθ                                    (1)  if λ ≠ 0
    s ← αs + (1 − α)g²                            (2)
    a ← a + (1 − α)(g − a)                        (3)  if centered
    d ← √(s − a²) + ε if centered, else √s + ε    (4)
    b ← μb + g/d,  θ ← θ − γb                     (5)  if μ = momentum > 0
    θ ← θ − γg/d                                  (5)  otherwise

Adagrad(lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10),
state `sum` S (starts at initial_accumulator_value)
    g ← g + λθ                                    (1)  if λ ≠ 0
    γ_t = γ / (1 + (t − 1)·lr_decay)              (2)
    S ← S + g²                                    (3)
    θ ← θ − γ_t g / (√S + ε)                      (4)

`params` is an iterable of `Param` or of `(name, Param)` pairs (`model.named_parameters()`);
unnamed parameters are called "0", "1", ... by position. The names key the state, so a
checkpoint names its arrays like PyTorch's parameters ("weight_ih_l0.exp_avg").

`lr` is a public attribute that schedules set between steps; the other hyperparameters are
fixed at construction (they decide which state arrays exist). The state arrays have each
parameter's dtype and are updated in place; the temporaries go into two scratch views shaped like
each parameter, cut from one buffer per dtype (twice the largest parameter's size) made at
construction, so a step allocates nothing the size of a parameter.

Checkpoints without pickle: `state_dict()` returns `(meta, tensors)`, meta a JSON-serialisable
dict (class name, hyperparameters, step count, parameter names) and tensors
`{"<param name>.<state name>": array}`; `load_state_dict(meta, tensors)` checks everything before
it changes anything. Like torch's, a load restores the saved hyperparameters, `lr` included.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np

from .core import FLOAT_DTYPES, Param

N_SCRATCH = 2  # temporaries per parameter a step needs (the most any update rule here uses)


# --- argument checks shared with schedules.py and clip.py ----------------------------------------
def check_number(
    name: str,
    value,
    low: float | None = 0.0,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    allow_inf: bool = False,
) -> float:
    """`value` as a float within [low, high] (ends open where asked), or a ValueError naming it."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    x = float(value)
    if math.isnan(x) or (math.isinf(x) and not allow_inf):
        raise ValueError(f"{name} must be a finite number, got {x}")
    too_low = low is not None and (x <= low if low_open else x < low)
    too_high = high is not None and (x >= high if high_open else x > high)
    if too_low or too_high:
        lo = "(-inf" if low is None else ("(" if low_open else "[") + f"{low:g}"
        hi = "inf)" if high is None else f"{high:g}" + (")" if high_open else "]")
        raise ValueError(f"{name} must lie in {lo}, {hi}, got {x}")
    return x


def check_int(name: str, value, low: int = 0) -> int:
    """`value` as an int ≥ low, or an error naming it."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < low:
        raise ValueError(f"{name} must be an integer ≥ {low}, got {value}")
    return int(value)


def check_flag(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return bool(value)


def named_params(params, who: str) -> dict[str, Param]:
    """{name: Param} from an iterable of Param or (name, Param) pairs; unnamed ones get their
    position as name. Refuses an empty list, other objects, repeated names and repeated Params."""
    if isinstance(params, Param) or not isinstance(params, Iterable):
        raise TypeError(
            f"{who} takes an iterable of Param or (name, Param) pairs, such as "
            f"model.parameters() or model.named_parameters(), got {type(params).__name__}"
        )
    named: dict[str, Param] = {}
    seen: dict[int, str] = {}
    for i, item in enumerate(params):
        if isinstance(item, Param):
            name, p = str(i), item
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) and isinstance(item[1], Param):
            name, p = item
        else:
            raise TypeError(f"params[{i}] is a {type(item).__name__}, expected a Param or a (name, Param) pair")
        if name in named:
            raise ValueError(f"params[{i}]: the name {name!r} is given twice")
        if id(p) in seen:
            raise ValueError(f"params[{i}] ({name!r}) is the same Param as {seen[id(p)]!r}")
        seen[id(p)] = name
        named[name] = p
    if not named:
        raise ValueError(f"{who} got an empty parameter list")
    return named


# --- the optimisers ------------------------------------------------------------------------------
class Optimizer:
    """Base class: named parameters, `lr`, the step count `steps`, per-parameter state, checkpoints.

    A subclass lists its hyperparameters in `hyperparameter_names`, checks them in
    `_check_hyperparameters`, names the state arrays they need in `_state_names` and applies one
    parameter's update in `_update`.
    """

    hyperparameter_names: tuple[str, ...] = ()

    def __init__(self, params, **hyperparameters):
        self.params = named_params(params, type(self).__name__)
        for name, p in self.params.items():
            if not isinstance(p.data, np.ndarray) or p.data.dtype not in FLOAT_DTYPES:
                raise TypeError(
                    f"parameter {name!r} must hold a float32 or float64 array, "
                    f"got {type(p.data).__name__} of dtype {getattr(p.data, 'dtype', None)}"
                )
        self._set_hyperparameters(self._check_hyperparameters(hyperparameters))
        self.steps = 0
        self.state: dict[str, dict[str, np.ndarray]] = {
            name: {
                s: np.full(p.data.shape, self._initial_value(s), p.data.dtype)
                for s in self._state_names(self.hyperparameters())
            }
            for name, p in self.params.items()
        }
        self._scratch = self._make_scratch()

    # --- what a subclass provides ------------------------------------------------------------------
    @classmethod
    def _check_hyperparameters(cls, hp: dict) -> dict:
        raise NotImplementedError

    @classmethod
    def _state_names(cls, hp: dict) -> tuple[str, ...]:
        raise NotImplementedError

    def _initial_value(self, state_name: str) -> float:
        return 0.0

    def _update(
        self, theta: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray], t1: np.ndarray, t2: np.ndarray
    ) -> None:
        raise NotImplementedError

    # --- hyperparameters -----------------------------------------------------------------------------
    def hyperparameters(self) -> dict:
        """The hyperparameters as JSON-ready values (tuples as lists)."""
        return {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in ((k, getattr(self, k)) for k in self.hyperparameter_names)
        }

    def _set_hyperparameters(self, hp: dict) -> None:
        for k, v in hp.items():
            setattr(self, k, v)

    def __repr__(self) -> str:
        hp = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.hyperparameter_names)
        return f"{type(self).__name__}({len(self.params)} parameters, {hp}, steps={self.steps})"

    # --- a step --------------------------------------------------------------------------------------
    def _make_scratch(self) -> dict[str, tuple[np.ndarray, ...]]:
        """N_SCRATCH views per parameter, shaped like it, into one buffer per dtype."""
        largest: dict[np.dtype, int] = {}
        for p in self.params.values():
            largest[p.data.dtype] = max(largest.get(p.data.dtype, 0), p.data.size)
        buffers = {dt: np.empty(N_SCRATCH * n, dt) for dt, n in largest.items()}
        scratch = {}
        for name, p in self.params.items():
            buffer, n = buffers[p.data.dtype], largest[p.data.dtype]
            scratch[name] = tuple(buffer[k * n : k * n + p.data.size].reshape(p.data.shape) for k in range(N_SCRATCH))
        return scratch

    def step(self) -> None:
        """Update every parameter in place from its gradient (the rules in the module docstring)."""
        for name, p in self.params.items():
            if p.grad.shape != p.data.shape or p.grad.dtype != p.data.dtype:
                raise ValueError(
                    f"parameter {name!r}: grad has shape {p.grad.shape} and dtype "
                    f"{p.grad.dtype}, expected {p.data.shape} and {p.data.dtype} like its data"
                )
        self.steps += 1
        for name, p in self.params.items():
            self._update(p.data, p.grad, self.state[name], *self._scratch[name])

    def zero_grad(self) -> None:
        """Set every parameter's gradient to zero, in place."""
        for p in self.params.values():
            p.grad.fill(0)

    # --- checkpoints ---------------------------------------------------------------------------------
    def state_dict(self) -> tuple[dict, dict[str, np.ndarray]]:
        """(meta, tensors): meta JSON-serialisable, tensors copies keyed "<param>.<state>"."""
        meta = {
            "optimizer": type(self).__name__,
            "hyperparameters": self.hyperparameters(),
            "steps": self.steps,
            "param_names": list(self.params),
        }
        tensors = {f"{name}.{s}": a.copy() for name, state in self.state.items() for s, a in state.items()}
        return meta, tensors

    def load_state_dict(self, meta: Mapping, tensors: Mapping[str, np.ndarray]) -> None:
        """Restore hyperparameters, step count and state from `state_dict()`'s (meta, tensors),
        after checking the class, the parameter names and every tensor's name, shape and dtype.
        A failed load raises (KeyError for missing or unexpected names, ValueError for wrong
        values, shapes or dtypes) and changes nothing."""
        cls = type(self).__name__
        if not isinstance(meta, Mapping):
            raise TypeError(f"meta must be a dict (the first item of state_dict()), got {type(meta).__name__}")
        missing = [k for k in ("optimizer", "hyperparameters", "steps", "param_names") if k not in meta]
        if missing:
            raise KeyError(f"meta lacks {missing}: it is not an optimiser state_dict()")
        if meta["optimizer"] != cls:
            raise ValueError(f"meta holds the state of a {meta['optimizer']} optimiser, this is a {cls}")
        saved = list(meta["param_names"])
        if set(saved) != set(self.params):
            raise KeyError(
                f"meta's parameter names do not match this optimiser's: missing "
                f"{sorted(set(self.params) - set(saved)) or 'none'}, unexpected "
                f"{sorted(set(saved) - set(self.params)) or 'none'}"
            )
        hp = dict(meta["hyperparameters"])
        if set(hp) != set(self.hyperparameter_names):
            raise KeyError(
                f"meta's hyperparameters for {cls} must be {list(self.hyperparameter_names)}, got {sorted(hp)}"
            )
        hp = self._check_hyperparameters(hp)
        steps = check_int("meta['steps']", meta["steps"])
        if not isinstance(tensors, Mapping):
            raise TypeError(f"tensors must be a dict of arrays, got {type(tensors).__name__}")
        state_names = self._state_names(hp)
        expected = {f"{name}.{s}": (name, s) for name in self.params for s in state_names}
        missing, unexpected = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
        if missing or unexpected:
            raise KeyError(
                f"tensors do not match {cls}'s state: missing {missing or 'none'}, unexpected {unexpected or 'none'}"
            )
        for key, (name, _) in expected.items():
            a, data = tensors[key], self.params[name].data
            if not isinstance(a, np.ndarray):
                raise TypeError(f"tensors[{key!r}] is a {type(a).__name__}, expected a NumPy array")
            if a.shape != data.shape:
                raise ValueError(
                    f"tensors[{key!r}] has shape {a.shape}, expected {data.shape} (the shape of parameter {name!r})"
                )
            if a.dtype != data.dtype:
                raise ValueError(
                    f"tensors[{key!r}] has dtype {a.dtype}, expected {data.dtype} (the dtype of parameter {name!r})"
                )
        # Everything checked: now change things.
        self._set_hyperparameters(hp)
        self.steps = steps
        self.state = {
            name: {s: np.array(tensors[f"{name}.{s}"], order="C", copy=True) for s in state_names}
            for name in self.params
        }


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum, as torch.optim.SGD."""

    hyperparameter_names = ("lr", "momentum", "dampening", "weight_decay", "nesterov")

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
    ):
        super().__init__(
            params, lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov
        )

    @classmethod
    def _check_hyperparameters(cls, hp: dict) -> dict:
        out = {
            "lr": check_number("lr", hp["lr"]),
            "momentum": check_number("momentum", hp["momentum"]),
            "dampening": check_number("dampening", hp["dampening"], low=None),
            "weight_decay": check_number("weight_decay", hp["weight_decay"]),
            "nesterov": check_flag("nesterov", hp["nesterov"]),
        }
        if out["nesterov"] and (out["momentum"] <= 0 or out["dampening"] != 0):
            raise ValueError(
                f"nesterov=True needs momentum > 0 and dampening = 0, got momentum="
                f"{out['momentum']} and dampening={out['dampening']}"
            )
        return out

    @classmethod
    def _state_names(cls, hp: dict) -> tuple[str, ...]:
        return ("momentum_buffer",) if hp["momentum"] != 0 else ()

    def _update(self, theta, g, state, t1, t2) -> None:
        mu = self.momentum
        if self.weight_decay != 0:
            np.multiply(theta, self.weight_decay, out=t1)
            g = np.add(t1, g, out=t1)  # (1)
        if mu != 0:
            b = state["momentum_buffer"]
            if self.steps == 1:
                b[...] = g  # (2) at t = 1
            else:
                b *= mu
                if self.dampening == 0:
                    b += g  # (2)
                else:
                    b += np.multiply(g, 1 - self.dampening, out=t2)
            if self.nesterov:
                np.multiply(b, mu, out=t2)
                g = np.add(t2, g, out=t2)  # (3)
            else:
                g = b  # (3)
        theta -= np.multiply(g, self.lr, out=t2)  # (4)


class Adam(Optimizer):
    """Adam (Kingma and Ba) with torch's bias correction, eps placement and amsgrad."""

    hyperparameter_names = ("lr", "betas", "eps", "weight_decay", "amsgrad")
    decoupled_weight_decay = False

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
    ):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)

    @classmethod
    def _check_hyperparameters(cls, hp: dict) -> dict:
        betas = hp["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        return {
            "lr": check_number("lr", hp["lr"]),
            "betas": tuple(check_number(f"betas[{i}]", b, 0.0, 1.0, high_open=True) for i, b in enumerate(betas)),
            "eps": check_number("eps", hp["eps"]),
            "weight_decay": check_number("weight_decay", hp["weight_decay"]),
            "amsgrad": check_flag("amsgrad", hp["amsgrad"]),
        }

    @classmethod
    def _state_names(cls, hp: dict) -> tuple[str, ...]:
        return ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if hp["amsgrad"] else ())

    def _update(self, theta, g, state, t1, t2) -> None:
        (beta1, beta2), lr, wd, t = self.betas, self.lr, self.weight_decay, self.steps
        m, v = state["exp_avg"], state["exp_avg_sq"]
        if wd != 0:
            if self.decoupled_weight_decay:
                theta *= 1 - lr * wd  # (1) AdamW
            else:
                np.multiply(theta, wd, out=t1)
                g = np.add(t1, g, out=t1)  # (1) Adam
        m += np.multiply(np.subtract(g, m, out=t2), 1 - beta1, out=t2)  # (2)
        v *= beta2
        v += np.multiply(np.multiply(g, g, out=t2), 1 - beta2, out=t2)  # (3)
        if self.amsgrad:
            v = np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])  # (4)
        denom = np.sqrt(v, out=t2)
        denom /= (1 - beta2**t) ** 0.5
        denom += self.eps
        step = np.divide(m, denom, out=t2)
        step *= lr / (1 - beta1**t)
        theta -= step  # (5)


class AdamW(Adam):
    """Adam with decoupled weight decay θ ← (1 − γλ)θ (Loshchilov and Hutter), as torch's AdamW."""

    decoupled_weight_decay = True

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
    ):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)


class RMSprop(Optimizer):
    """RMSprop (Hinton), optionally centered (Graves) and with momentum, as torch.optim.RMSprop."""

    hyperparameter_names = ("lr", "alpha", "eps", "weight_decay", "momentum", "centered")

    def __init__(
        self,
        params,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
    ):
        super().__init__(
            params, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum, centered=centered
        )

    @classmethod
    def _check_hyperparameters(cls, hp: dict) -> dict:
        return {
            "lr": check_number("lr", hp["lr"]),
            "alpha": check_number("alpha", hp["alpha"]),
            "eps": check_number("eps", hp["eps"]),
            "weight_decay": check_number("weight_decay", hp["weight_decay"]),
            "momentum": check_number("momentum", hp["momentum"]),
            "centered": check_flag("centered", hp["centered"]),
        }

    @classmethod
    def _state_names(cls, hp: dict) -> tuple[str, ...]:
        return (
            ("square_avg",)
            + (("momentum_buffer",) if hp["momentum"] > 0 else ())
            + (("grad_avg",) if hp["centered"] else ())
        )

    def _update(self, theta, g, state, t1, t2) -> None:
        alpha = self.alpha
        if self.weight_decay != 0:
            np.multiply(theta, self.weight_decay, out=t1)
            g = np.add(t1, g, out=t1)  # (1)
        s = state["square_avg"]
        s *= alpha
        s += np.multiply(np.multiply(g, g, out=t2), 1 - alpha, out=t2)  # (2)
        if self.centered:
            a = state["grad_avg"]
            a += np.multiply(np.subtract(g, a, out=t2), 1 - alpha, out=t2)  # (3)
            d = np.sqrt(np.subtract(s, np.multiply(a, a, out=t2), out=t2), out=t2)  # (4)
        else:
            d = np.sqrt(s, out=t2)  # (4)
        d += self.eps
        step = np.divide(g, d, out=t2)
        if self.momentum > 0:
            b = state["momentum_buffer"]
            b *= self.momentum
            b += step
            step = np.multiply(b, self.lr, out=t2)  # (5)
        else:
            step *= self.lr  # (5)
        theta -= step


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.) with torch's lr_decay and initial accumulator, as torch.optim.Adagrad."""

    hyperparameter_names = ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")

    def __init__(
        self,
        params,
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
    ):
        super().__init__(
            params,
            lr=lr,
            lr_decay=lr_decay,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
        )

    @classmethod
    def _check_hyperparameters(cls, hp: dict) -> dict:
        return {k: check_number(k, hp[k]) for k in cls.hyperparameter_names}

    @classmethod
    def _state_names(cls, hp: dict) -> tuple[str, ...]:
        return ("sum",)

    def _initial_value(self, state_name: str) -> float:
        return self.initial_accumulator_value

    def _update(self, theta, g, state, t1, t2) -> None:
        if self.weight_decay != 0:
            np.multiply(theta, self.weight_decay, out=t1)
            g = np.add(t1, g, out=t1)  # (1)
        lr_t = self.lr / (1 + (self.steps - 1) * self.lr_decay)  # (2)
        S = state["sum"]
        S += np.multiply(g, g, out=t2)  # (3)
        d = np.sqrt(S, out=t2)
        d += self.eps
        step = np.divide(g, d, out=t2)
        step *= lr_t
        theta -= step  # (4)


# The optimisers by the names the command line and the experiments' configs use.
OPTIMIZERS: dict[str, type[Optimizer]] = {
    "adam": Adam,
    "adamw": AdamW,
    "rmsprop": RMSprop,
    "sgd": SGD,
    "adagrad": Adagrad,
}


def make_optimizer(name: str, params, lr: float, **hyperparameters) -> Optimizer:
    """The optimiser called `name` (a key of OPTIMIZERS) over `params`."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](params, lr=lr, **hyperparameters)
