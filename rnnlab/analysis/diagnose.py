"""The diagnosis of a trained character language model (what `rnnlab diagnose` prints and draws).

On B windows of T characters of a text: the gradient flow of the cross-entropy at the last step
(per layer, the fitted per-step factor), the Jacobians of each layer's state on the first window
(dh_t/dh_{t-1}, for an LSTM d(h,c)_t/d(h,c)_{t-1}: mean spectral norm, the norm of the product
over the whole window), the eigenvalues of
W_hh (spectral radius per gate block), the gate statistics (LSTM, GRU) and the memory of a
change of the first character (steps until the predicted distributions differ by less than 1%
of the change at t = 0).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .gates import gate_statistics
from .gradflow import charlm_gradient_flow
from .jacobian import product_norms, recurrent_eigenvalues, singular_values, step_jacobians
from .recursion import charlm_impulse_memory


def windows(ids: np.ndarray, batch: int, steps: int, source: str = "the text") -> np.ndarray:
    """`batch` windows of `steps + 1` ids, evenly spaced over the text: (steps + 1, batch).
    `source` names the text in the error for one too short."""
    need = steps + 1
    if len(ids) < need:
        raise ValueError(
            f"{source}: {len(ids):,} character(s) that the model knows; the diagnosis needs at least {need} "
            f"(--steps {steps} plus one): pass a longer --data or a smaller --steps"
        )
    starts = np.linspace(0, len(ids) - need, batch).astype(int)
    return np.stack([ids[s : s + need] for s in starts], axis=1)


def diagnosis_bytes(model, batch: int, steps: int) -> int:
    """About the memory diagnose_charlm takes on `batch` windows of `steps` characters, from the
    sizes alone: float64 copies of the embedded inputs, the recorded states and gates of every
    layer and the logits for every step of every window (measured: 5 to 15 kB per character of a
    window for small models, which this overestimates a little), and the step Jacobians of one
    window, (T, n, n) per layer with n the whole state (2H for an LSTM)."""
    rnn, config = model.rnn, model.config
    states, blocks = len(rnn.kind.states), len(rnn.kind.blocks)
    per_character = 3 * config.embedding + 2 * config.vocab_size + rnn.num_layers * rnn.hidden_size * (6 * blocks + 4)
    n = states * rnn.hidden_size
    jacobians = 3 * steps * rnn.num_layers * n * n
    return 8 * (steps * batch * per_character + jacobians)


def diagnose_charlm(model, ids: np.ndarray, out=None) -> dict:
    """Diagnose a CharLM on ids (T + 1, B): inputs ids[:-1], the last step's target ids[-1].
    Returns a summary dict (and "figures" when `out` is given: PNGs written there)."""
    x, targets = ids[:-1], ids[1:]
    rnn = model.rnn
    flow = charlm_gradient_flow(model, x, targets)
    emb = model.embed.weight.data[x].astype(np.float64)
    eig = recurrent_eigenvalues(rnn)
    summary = {
        "model": f"{model.config.model} {rnn.num_layers}x{rnn.hidden_size}",
        "steps": int(x.shape[0]),
        "sequences": int(x.shape[1]),
        "layers": {},
    }
    products, spectra = {}, {}
    for k in range(rnn.num_layers):
        name = f"l{k}"
        # one window: (T, 1, n, n), for an LSTM the whole state (h, c), n = 2H: the h->h block
        # alone misses the path through the cell state
        J = step_jacobians(rnn, emb[:, :1], layer_index=k, full=len(rnn.kind.states) > 1)
        s = singular_values(J)[:, 0]  # (T, H)
        products[name] = product_norms(J)[:, 0]
        spectra[name] = s
        layer = {
            "gradient_factor": flow.decay_factor(name),
            "gradient_lag0": float(10 ** flow.mean_log10(name)[-1]),
            f"gradient_lag{flow.steps - 1}": float(10 ** flow.mean_log10(name)[0]),
            "jacobian_mean_norm": float(s[:, 0].mean()),
            "jacobian_product_norm": float(products[name][0]),
            "spectral_radius": {b: float(np.abs(e).max()) for b, e in eig[name].items()},
        }
        if name in flow.cell_norms:
            layer["cell_gradient_factor"] = flow.decay_factor(name, cell=True)
        summary["layers"][name] = layer
    gates = gate_statistics(rnn, emb) if rnn.kind.gates else {}
    for name, stats in gates.items():
        summary["layers"][name]["gates"] = {g: st.summary() for g, st in stats.items()}
    memory = charlm_impulse_memory(model, x)
    summary["memory_steps"] = memory.steps
    if out is not None:
        from . import plots

        out = Path(out)
        state = "(" + ",".join(rnn.kind.states) + ")" if len(rnn.kind.states) > 1 else "h"
        figures = [_gradflow_layers(plots, flow, rnn.num_layers, out / "gradflow.png")]
        figures.append(
            plots.plot_curves(
                {
                    f"||d{state}_(T-1)/d{state}_k|| (first window)": {
                        f"layer {k}": (np.arange(len(p))[::-1], p) for k, p in enumerate(products.values())
                    },
                    f"largest singular value of d{state}_t/d{state}_(t-1)": {
                        f"layer {k}": (np.arange(len(s)), s[:, 0]) for k, s in enumerate(spectra.values())
                    },
                },
                out / "jacobian.png",
                "span (left) or step t (right)",
                "spectral norm",
            )
        )
        figures.append(
            plots.plot_eigenvalues(
                {
                    f"W_hh of layer {name[1:]}, block {b}": {b: e}
                    for name, blocks in eig.items()
                    for b, e in blocks.items()
                },
                out / "eigenvalues.png",
            )
        )
        if gates:
            figures.append(
                plots.plot_gates({f"layer {name[1:]}": stats for name, stats in gates.items()}, out / "gates.png")
            )
        figures.append(
            plots.plot_curves(
                {
                    "effect of changing the first character": {
                        "mean |Δ p(next char)|": (np.arange(len(memory.effect)), memory.effect + 1e-300)
                    }
                },
                out / "memory.png",
                "t",
                "mean |change of the predicted probabilities|",
                hline=memory.threshold * memory.effect[0],
            )
        )
        summary["figures"] = [str(f) for f in figures]
    return summary


def _gradflow_layers(plots, flow, n_layers: int, path):
    return plots.plot_gradient_flow(
        {f"layer {k}": {f"layer {k}": (flow, f"l{k}")} for k in range(n_layers)}, path, cell=True
    )


def summary_lines(summary: dict) -> list[str]:
    """The summary as lines for a person."""
    lines = [f"{summary['model']} on {summary['sequences']} windows of {summary['steps']} characters"]
    for name, layer in summary["layers"].items():
        lag = next(k for k in layer if k.startswith("gradient_lag") and k != "gradient_lag0")
        line = (
            f"layer {name[1:]}: gradient x{layer['gradient_factor']:.3f}/step back "
            f"(||dL/dh|| {layer['gradient_lag0']:.2e} at lag 0, {layer[lag]:.2e} at lag {lag[12:]})"
        )
        if "cell_gradient_factor" in layer:
            line += f", cell state x{layer['cell_gradient_factor']:.3f}/step"
        lines.append(line)
        state = "(h,c)" if "cell_gradient_factor" in layer else "h"
        lines.append(
            f"  Jacobian d{state}_t/d{state}_(t-1): mean spectral norm {layer['jacobian_mean_norm']:.3f}, "
            f"product over the window {layer['jacobian_product_norm']:.2e}"
        )
        lines.append(
            "  spectral radius of W_hh: " + ", ".join(f"{b} {r:.3f}" for b, r in layer["spectral_radius"].items())
        )
        if "gates" in layer:
            lines.append(
                "  gates: "
                + "; ".join(
                    f"{g} mean {s['mean']:.2f}, {100 * s['saturated']:.0f}% saturated "
                    f"({100 * s['low']:.0f}% < 0.1, {100 * s['high']:.0f}% > 0.9)"
                    for g, s in layer["gates"].items()
                )
            )
    lines.append(
        f"memory: a changed first character still moves the predictions (> 1% of its first effect) "
        f"{summary['memory_steps']} steps later"
    )
    return lines
