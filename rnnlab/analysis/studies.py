"""The comparisons behind `rnnlab study`: five recurrent models on the adding problem, and the
lectures' recursion figures. Small sizes: seconds to a few minutes on 2 cores.

Gradient-flow study. Each model reads the adding problem (rnnlab.data.tasks.adding_problem: a
value and a marker channel, target the sum of the two marked values) and predicts with a Linear
readout of its last state; the loss is the MSE at the last step, L_T. Models (H units each):

    tanh     Elman RNN, tanh, PyTorch's init U(-1/sqrt(H), 1/sqrt(H))
    irnn     Elman RNN, relu, W_hh = I, biases 0 (Le et al. 2015), Xavier input weights
    lstm_f0  LSTM, PyTorch's init with the forget-gate bias set to 0
    lstm_f1  LSTM, forget-gate bias 1 (Gers et al. 2000; Jozefowicz et al. 2015)
    gru      GRU, PyTorch's init

For each, at initialisation and after `steps` Adam steps (gradient norm clipped to 1), on one
fixed evaluation batch: the gradient flow ||dL_T/dh_k|| against the lag (gradflow), the norms of
the Jacobian products ||ds_{T-1}/ds_k|| of one sequence (s = h, for an LSTM s = (h, c)), the
eigenvalues of W_hh, the gate statistics (LSTM, GRU), and the memory of an impulse: the readout
at every step, with and without a marked value of 1 added at t = 0 (a trained model that keeps
marked values keeps this one).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..data.tasks import ADDING_BASELINE_MSE, adding_problem
from ..nn import Adam, Linear, Module, clip_grad_norm_, mse, recurrent_layer
from ..nn.init import forget_gate_bias_, init_recurrent_
from .gates import gate_statistics
from .gradflow import GradientFlow, gradient_flow
from .jacobian import product_norms, recurrent_eigenvalues, step_jacobians
from .recursion import impulse_memory


@dataclass(frozen=True)
class StudyModel:
    """One model of the study: a cell kind, its options and how it starts."""

    title: str
    cell: str  # a registered cell kind
    options: dict = field(default_factory=dict)
    identity: bool = False  # IRNN: recurrent weights start as the identity, biases as zero
    forget_bias: float | None = None  # an LSTM's forget-gate bias at the start
    plotted_blocks: tuple[str, ...] = ()  # the blocks of W_hh whose eigenvalues the figure shows


MODELS = {
    "tanh": StudyModel("tanh RNN", "rnn", {"nonlinearity": "tanh"}, plotted_blocks=("hh",)),
    "irnn": StudyModel("IRNN (relu, W=I)", "rnn", {"nonlinearity": "relu"}, identity=True, plotted_blocks=("hh",)),
    "lstm_f0": StudyModel("LSTM, forget bias 0", "lstm", forget_bias=0.0, plotted_blocks=("f", "g")),
    "lstm_f1": StudyModel("LSTM, forget bias 1", "lstm", forget_bias=1.0, plotted_blocks=("f", "g")),
    "gru": StudyModel("GRU", "gru", plotted_blocks=("z", "n")),
}
MODEL_NAMES = tuple(MODELS)
MODEL_TITLES = {name: model.title for name, model in MODELS.items()}


class AddingModel(Module):
    """A recurrent layer and a Linear readout of its last output: x (T, B, 2) -> prediction (B,)."""

    def __init__(self, kind: str, hidden: int, rng: np.random.Generator):
        super().__init__()
        if kind not in MODEL_NAMES:
            raise ValueError(f"model must be one of {', '.join(MODEL_NAMES)}, got {kind!r}")
        self.kind, spec = kind, MODELS[kind]
        rnn = recurrent_layer(spec.cell, 2, hidden, dtype=np.float64, rng=rng, **spec.options)
        if spec.identity:
            init_recurrent_(rnn, rng, hidden_init="identity", bias=0.0)
        if spec.forget_bias is not None:
            forget_gate_bias_(rnn, spec.forget_bias)
        self.rnn = self.add_module("rnn", rnn)
        self.head = self.add_module("head", Linear(hidden, 1, dtype=np.float64, rng=rng))

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, _ = self.rnn.forward(x)
        self.T = out.shape[0]
        return self.head.forward(out[-1])[:, 0]

    def backward(self, dpred: np.ndarray) -> None:
        dlast = self.head.backward(dpred[:, None])
        dout = np.zeros((self.T,) + dlast.shape)
        dout[-1] = dlast
        self.rnn.backward(dout)

    def readout_every_step(self, x: np.ndarray) -> np.ndarray:
        """The readout applied to the state at every step, (T, B), on a copy (no tape kept)."""
        from .unroll import layer_copy

        out, _ = layer_copy(self.rnn).forward(x)
        return out @ self.head.weight.data[0] + self.head.bias.data[0]

    def last_step_loss_gradient(self, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        """dL_T/d out_{T-1} as a function of the last output, L_T = MSE of the prediction."""
        w, b = self.head.weight.data, self.head.bias.data

        def dloss(last_out):
            pred = last_out @ w[0] + b[0]
            return (2 * (pred - y) / len(y))[:, None] * w  # d MSE / d pred, through the readout

        return dloss


@dataclass
class ModelReport:
    """What the study measured for one model, at "init" and "trained"."""

    kind: str
    losses: list[float] = field(default_factory=list)  # training MSE per step
    eval_mse: dict[str, float] = field(default_factory=dict)
    flow: dict[str, GradientFlow] = field(default_factory=dict)
    products: dict[str, np.ndarray] = field(default_factory=dict)  # (T,) ||ds_{T-1}/ds_k||, one sequence
    eigenvalues: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # stage -> block -> eig
    gates: dict = field(default_factory=dict)  # stage -> {gate: GateStats} (LSTM, GRU)
    memory: dict = field(default_factory=dict)  # stage -> ImpulseMemory

    def summary(self) -> dict:
        out = {"model": MODEL_TITLES[self.kind], "eval_mse": self.eval_mse}
        for stage, flow in self.flow.items():
            out[f"grad_factor_{stage}"] = flow.decay_factor("l0")
            out[f"grad_lag0_{stage}"] = float(10 ** flow.mean_log10("l0")[-1])  # ||dL_T/dh_{T-1}||, batch mean of log10
            out[f"grad_lag_max_{stage}"] = float(10 ** flow.mean_log10("l0")[0])  # ||dL_T/dh_0||
            if flow.cell_norms:
                out[f"cell_grad_factor_{stage}"] = flow.decay_factor("l0", cell=True)
        for stage, eig in self.eigenvalues.items():
            out[f"spectral_radius_{stage}"] = {b: float(np.abs(e).max()) for b, e in eig.items()}
        for stage, stats in self.gates.items():
            out[f"gates_{stage}"] = {g: s.summary() for g, s in stats.items()}
        for stage, mem in self.memory.items():
            out[f"memory_steps_{stage}"] = mem.steps
        return out


def measure(model: AddingModel, x: np.ndarray, y: np.ndarray, report: ModelReport, stage: str) -> None:
    """Fill `report` for one stage ("init" or "trained") on the evaluation batch x, y."""
    pred = model.readout_every_step(x)[-1]
    report.eval_mse[stage] = float(np.mean((pred - y) ** 2))
    report.flow[stage] = gradient_flow(model.rnn, x, model.last_step_loss_gradient(y))
    full = len(model.rnn.kind.states) > 1  # an LSTM's state is (h, c): the h->h block alone misses the carousel
    report.products[stage] = product_norms(step_jacobians(model.rnn, x[:, :1], full=full))[:, 0]
    report.eigenvalues[stage] = recurrent_eigenvalues(model.rnn)["l0"]
    if model.rnn.kind.gates:
        report.gates[stage] = gate_statistics(model.rnn, x)["l0"]
    impulse = x.copy()
    impulse[0, :, 0] += 1.0  # a value of +1 at t = 0 ...
    impulse[0, :, 1] = 1.0  # ... that is marked
    report.memory[stage] = impulse_memory(model.readout_every_step, x, impulse)


def gradflow_bytes(hidden: int, seq_len: int, batch: int = 32) -> int:
    """About the memory of gradflow_study's largest model (an LSTM, float64), from the sizes alone:
    weights, gradients and Adam's moments, what a step records of every unit (about 32 numbers
    per unit, step and sequence), and the step Jacobians of one sequence, (T, 2H, 2H)."""
    weights = 4 * hidden * (2 + hidden + 2) + hidden + 1
    return 8 * (4 * weights + 32 * seq_len * batch * hidden + 3 * seq_len * (2 * hidden) ** 2)


def gradflow_study(
    models=MODEL_NAMES,
    *,
    seq_len: int = 50,
    hidden: int = 32,
    steps: int = 300,
    batch: int = 32,
    lr: float = 1e-2,
    seed: int = 0,
    say: Callable[[str], None] | None = None,
) -> dict[str, ModelReport]:
    """Train each model on the adding problem for `steps` Adam steps and measure it before and
    after (see the module doc). `say` receives progress lines."""
    say = say or (lambda line: None)
    x_eval, y_eval = adding_problem(batch, seq_len, np.random.default_rng(seed + 1000))
    x_eval, y_eval = x_eval.astype(np.float64), y_eval.astype(np.float64)
    reports = {}
    for kind in models:
        rng = np.random.default_rng(seed)
        model = AddingModel(kind, hidden, rng)
        report = ModelReport(kind)
        measure(model, x_eval, y_eval, report, "init")
        adam = Adam(model.named_parameters(), lr=lr)
        data_rng = np.random.default_rng(seed + 1)  # every model sees the same batches
        start = time.perf_counter()
        for step in range(1, steps + 1):
            x, y = adding_problem(batch, seq_len, data_rng)
            loss, dpred = mse(model.forward(x.astype(np.float64)), y.astype(np.float64))
            adam.zero_grad()
            model.backward(dpred)
            clip_grad_norm_(model.parameters(), 1.0)
            adam.step()
            report.losses.append(loss)
            if step % max(1, steps // 5) == 0 or step == steps:
                say(
                    f"  {MODEL_TITLES[kind]:<22} step {step:4d}/{steps}  MSE {np.mean(report.losses[-20:]):.4f} "
                    f"(baseline {ADDING_BASELINE_MSE:.3f})  {time.perf_counter() - start:5.1f} s"
                )
        measure(model, x_eval, y_eval, report, "trained")
        reports[kind] = report
    return reports


def gradflow_figures(reports: dict[str, ModelReport], out) -> list:
    """gradflow.png, jacobian_products.png, eigenvalues.png, gates.png (if any gated model),
    memory.png and training.png for a gradflow_study, in the folder `out`."""
    from pathlib import Path

    from . import plots

    out = Path(out)
    titles = {k: MODEL_TITLES[k] for k in reports}
    paths = [
        plots.plot_gradient_flow(
            {
                "at initialisation": {titles[k]: r.flow["init"] for k, r in reports.items()},
                f"after {len(next(iter(reports.values())).losses)} training steps": {
                    titles[k]: r.flow["trained"] for k, r in reports.items()
                },
            },
            out / "gradflow.png",
        )
    ]
    paths.append(
        plots.plot_curves(
            {
                stage: {titles[k]: (np.arange(len(r.products[s]))[::-1], r.products[s]) for k, r in reports.items()}
                for stage, s in (("at initialisation", "init"), ("trained", "trained"))
            },
            out / "jacobian_products.png",
            "span T - 1 - k (steps)",
            "||ds_(T-1)/ds_k||, s = h or (h, c) (one sequence)",
        )
    )
    paths.append(
        plots.plot_eigenvalues(
            {
                f"{titles[k]}: {block}": {
                    "init": r.eigenvalues["init"][block],
                    "trained": r.eigenvalues["trained"][block],
                }
                for k, r in reports.items()
                for block in MODELS[k].plotted_blocks
            },
            out / "eigenvalues.png",
        )
    )
    gated = {
        f"{titles[k]}, {stage}": r.gates[stage] for k, r in reports.items() if r.gates for stage in ("init", "trained")
    }
    if gated:
        paths.append(plots.plot_gates(gated, out / "gates.png"))
    paths.append(
        plots.plot_curves(
            {
                stage: {
                    titles[k]: (np.arange(len(r.memory[s].effect)), r.memory[s].effect + 1e-300)
                    for k, r in reports.items()
                }
                for stage, s in (("at initialisation", "init"), ("trained", "trained"))
            },
            out / "memory.png",
            "t (steps after a marked impulse at t = 0)",
            "mean |change of the readout|",
        )
    )
    paths.append(
        plots.plot_curves(
            {
                "training on the adding problem": {
                    titles[k]: (np.arange(1, len(r.losses) + 1), _smooth(r.losses)) for k, r in reports.items()
                }
            },
            out / "training.png",
            "step",
            "training MSE (mean of 20 steps)",
            log=True,
            hline=ADDING_BASELINE_MSE,
        )
    )
    return paths


def _smooth(values, k: int = 20) -> np.ndarray:
    v = np.asarray(values, float)
    c = np.cumsum(np.insert(v, 0, 0.0))
    idx = np.arange(1, len(v) + 1)
    lo = np.maximum(0, idx - k)
    return (c[idx] - c[lo]) / (idx - lo)


# --- the recursion figures ---------------------------------------------------------------------
# Multi-tap recursions h(t) = w1 h(t-1) + ... + wk h(t-k) + x(t) (recursion.py, (M)): what one
# more tap back in time adds to one tap: oscillation, and memory longer than any tap weight.
MULTITAP_EXAMPLES = {
    "one tap, fades": [0.8],
    "one tap, alternates": [-0.8],
    "two taps, damped oscillation": [1.2, -0.72],
    "two taps, lasting oscillation": [1.6, -1.0],
    "two taps, slow fade": [0.5, 0.45],
    "three taps, period 3": [0.0, 0.0, 0.95],
}


def recursion_study(out=None, steps: int = 30) -> dict:
    """The lectures' recursion studies: scalar trajectories, fixed points against w, vector
    impulse responses, the BIBO check and multi-tap recursions with their characteristic roots.
    Returns a summary; writes scalar.png, fixed_points.png, vector.png, bibo.png and multitap.png
    into `out` when given (needs matplotlib)."""
    from .recursion import (
        bibo_check,
        example_matrices,
        modes,
        multitap_recursion,
        scalar_fixed_points,
        scalar_study,
        vector_impulse_response,
    )

    scalar = scalar_study(steps=steps)
    ws, ws_sig = np.linspace(-3, 3, 121), np.linspace(0, 10, 101)
    fixed = {
        "tanh(w h)": (ws, [scalar_fixed_points("tanh", w, lo=-2, hi=2, grid=801) for w in ws]),
        # with the bias -w/2 the sigmoid is symmetric about h = 1/2: two attractors for w > 4
        "sigmoid(w h - w/2)": (
            ws_sig,
            [scalar_fixed_points("sigmoid", w, b=-w / 2, lo=-1, hi=2, grid=601) for w in ws_sig],
        ),
    }
    vectors = {
        name: (W, vector_impulse_response(W, np.array([1.0, 0.0]), steps)) for name, W in example_matrices().items()
    }
    bibo = {
        "linear, W = 0.9 R(π/6)": bibo_check(0.9 * _rot(np.pi / 6), "linear", steps=4 * steps),
        "linear, W = 1.05 R(π/6)": bibo_check(1.05 * _rot(np.pi / 6), "linear", steps=4 * steps),
        "tanh, W = 3 R(π/6)": bibo_check(3 * _rot(np.pi / 6), "tanh", steps=4 * steps),
        "relu, W = 0.45 [[1, 1], [1, 1]]": bibo_check(np.full((2, 2), 0.45), "relu", steps=4 * steps),
    }
    multitap = {name: (w, multitap_recursion(w, 2 * steps), modes(w)) for name, w in MULTITAP_EXAMPLES.items()}
    summary = {
        "multi-tap modes": {
            name: [
                {
                    "root": str(np.round(m.root, 4)),
                    "modulus": round(m.modulus, 4),
                    "period": m.period,
                    "does": m.behaviour,
                }
                for m in found
            ]
            for name, (_, _, found) in multitap.items()
        },
        "tanh fixed points, w = 2": [round(p.value, 6) for p in scalar_fixed_points("tanh", 2.0)],
        "bibo": {
            k: {
                "spectral_radius": r.spectral_radius,
                "bound": r.bound if np.isfinite(r.bound) else "none",
                "max_norm": r.max_norm,
                "bounded": r.bounded,
            }
            for k, r in bibo.items()
        },
        "sigmoid(w h - w/2) fixed points, w = 6": [
            round(p.value, 6) for p in scalar_fixed_points("sigmoid", 6.0, b=-3.0)
        ],
    }
    if out is not None:
        from pathlib import Path

        from . import plots

        out = Path(out)
        summary["figures"] = [
            str(p)
            for p in (
                plots.plot_scalar_recursions(scalar, out / "scalar.png"),
                plots.plot_fixed_points(fixed, out / "fixed_points.png"),
                plots.plot_vector_recursions(vectors, out / "vector.png"),
                plots.plot_bibo(bibo, out / "bibo.png"),
                plots.plot_multitap(multitap, out / "multitap.png"),
            )
        ]
    return summary


# --- the vanishing gradients of a deep MLP (the CMU deck) ---------------------------------------
MLP_ACTIVATIONS = ("elu", "relu", "sigmoid", "tanh")


def mlp_gradient_bytes(depth: int, width: int, batch: int) -> int:
    """Memory of one forward and backward of the study's MLP: weights and gradients, and two
    arrays (pre-activation, output) of (batch, width) per layer kept for the backward."""
    weights = 784 * width + (depth - 1) * width * width + width * 10
    return 4 * (2 * weights + 2 * depth * batch * width)


def mlp_gradient_study(
    images: np.ndarray,
    labels: np.ndarray,
    activations=MLP_ACTIVATIONS,
    depth: int = 19,
    width: int = 1024,
    batch: int = 64,
    singles: int = 8,
    seed: int = 0,
    out=None,
) -> dict:
    """The CMU deck's figures: a `depth`-layer, `width`-wide MLP on MNIST at initialisation
    (PyTorch's default U(±1/sqrt(fan_in))), the gradient of the cross-entropy with respect to each
    hidden neuron's incoming weights, ||dL/dW_k[j, :]||, layer by layer, for each activation: once
    for a batch, and for `singles` single instances. Returns per layer the median and the 10th and
    90th percentiles over neurons of log10 of that norm (neurons whose gradient is exactly zero, as
    dead relu units, counted apart as "zero"); writes mlp_gradients.png into `out`."""
    from ..models.mlp import MLP
    from ..nn import cross_entropy

    x = (images[:batch].reshape(batch, -1) / 255.0).astype(np.float32)
    y = labels[:batch].astype(np.int64)
    result: dict = {}
    for activation in activations:
        model = MLP([x.shape[1]] + [width] * depth + [10], activation=activation, rng=np.random.default_rng(seed))
        per_mode = {}
        for mode, rows in (("batch", [slice(0, batch)]), ("single", [slice(k, k + 1) for k in range(singles)])):
            logs = []
            for part in rows:
                model.zero_grad()
                _, dlogits = cross_entropy(model.forward(x[part]), y[part])
                model.backward(dlogits)
                norms = np.stack([np.linalg.norm(layer.weight.grad, axis=1) for layer in model.layers[:-1]])
                with np.errstate(divide="ignore"):  # a neuron that gets no gradient at all (relu's dead ones)
                    logs.append(np.where(norms > 0, np.log10(norms), np.nan))  # (depth, width)
            logs = np.concatenate(logs, axis=1)  # single instances: every instance's neurons together
            per_mode[mode] = {
                "median": _rounded(np.nanmedian(logs, axis=1)),
                "p10": _rounded(np.nanpercentile(logs, 10, axis=1)),
                "p90": _rounded(np.nanpercentile(logs, 90, axis=1)),
                "zero": np.isnan(logs).mean(axis=1).round(3).tolist(),  # share of neurons with no gradient
            }
        result[activation] = per_mode
    summary = {
        "setup": f"{depth} hidden layers of {width}, batch {batch}, {singles} single instances, seed {seed}",
        "log10 |dL/dW| per neuron, median by layer (first, last hidden layer)": {
            a: {m: (r[m]["median"][0], r[m]["median"][-1]) for m in r} for a, r in result.items()
        },
        "layers": result,
    }
    if out is not None:
        from pathlib import Path

        from . import plots

        summary["figures"] = [str(plots.plot_mlp_gradients(result, Path(out) / "mlp_gradients.png"))]
    return summary


def _rounded(values: np.ndarray) -> list:
    return [None if np.isnan(v) else round(float(v), 3) for v in values]


def _rot(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


# --- circuits --------------------------------------------------------------------------------------
def circuits_demo(seed: int = 0, bits: int = 32, cycles: int = 40) -> list[str]:
    """Lines reporting the compiled circuits: every truth table, a serial addition of two random
    `bits`-bit numbers and a 4-bit counter over `cycles` clock cycles, all run by the engine."""
    from .circuits import combinational, compile_circuit, compile_clocked, counter, serial_adder

    lines = []
    reference = {
        "not": lambda a: [1 - a[0]],
        "nor": lambda a: [1 - (a[0] | a[1])],
        "or": lambda a: [a[0] | a[1]],
        "and": lambda a: [a[0] & a[1]],
        "xor": lambda a: [a[0] ^ a[1]],
        "half_adder": lambda a: [a[0] ^ a[1], a[0] & a[1]],
        "full_adder": lambda a: [sum(a) % 2, sum(a) // 2],
    }
    for name, ref in reference.items():
        circuit = combinational(name)
        inputs, outputs = compile_circuit(circuit).truth_table()
        right = all(list(o) == ref(list(i)) for i, o in zip(inputs, outputs))
        lines.append(
            f"{name:<11} {len(circuit.gates):2d} units, settles in {circuit.depth()} steps: "
            f"truth table {'right' if right else 'WRONG'} ({len(inputs)} rows)"
        )
    rng = np.random.default_rng(seed)
    a, b = (int(v) for v in rng.integers(0, 2**31, size=2))
    a_bits = [(a >> k) & 1 for k in range(bits + 1)]
    b_bits = [(b >> k) & 1 for k in range(bits + 1)]
    adder = compile_clocked(serial_adder())
    out, _ = adder.run(np.array([a_bits, b_bits], float).T[:, None, :])
    total = sum(int(bit) << k for k, bit in enumerate(out[:, 0, 0]))
    lines.append(
        f"serial adder: {len(adder.compiled.units)} units, clock period {adder.period} steps: "
        f"{a} + {b} = {total} ({'right' if total == a + b else 'WRONG'})"
    )
    count = compile_clocked(counter(4))
    inc = rng.integers(0, 2, size=(cycles, 1, 1))
    q, _ = count.run(inc)
    values = (q[:, 0] * (1 << np.arange(4))).sum(axis=1)
    right = bool((values == np.cumsum(inc[:, 0, 0]) % 16).all())
    lines.append(
        f"4-bit counter: {len(count.compiled.units)} units, clock period {count.period} steps, "
        f"{cycles} cycles: {'right' if right else 'WRONG'}, ends at {values[-1]} after "
        f"{int(inc.sum())} increments"
    )
    return lines
