"""The diagnostics' pictures, one function per figure, each writing a PNG and returning its path.

matplotlib is the `plot` extra and is imported only when a picture is drawn; without it every
function raises ImportError with the install hint.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, no screen needed
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError('the diagnostics\' pictures need matplotlib: pip install -e ".[plot]"') from None
    return plt


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    _pyplot().close(fig)
    return path


def _grid(plt, n: int, width: float = 4.2, height: float = 3.4, cols: int = 3):
    cols = min(cols, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), dpi=100, squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()[:n]


def plot_gradient_flow(
    panels: dict[str, dict[str, object]], path, default_layer: str = "l0", cell: bool = False
) -> Path:
    """One panel per title in `panels` ({title: {label: GradientFlow or (GradientFlow, layer)}}),
    the mean log10 ||dL_T/dh_k|| of `layer` ("l0" ...) against the lag T - 1 - k, with each
    curve's fitted per-step factor (and, with cell=True, an LSTM's dL_T/dc_k dashed)."""
    plt = _pyplot()
    fig, axes = _grid(plt, len(panels), 5.5, 4.0, cols=2)
    for ax, (title, flows) in zip(axes, panels.items()):
        for label, flow in flows.items():
            flow, layer = flow if isinstance(flow, tuple) else (flow, default_layer)
            logs = flow.mean_log10(layer)
            ax.plot(flow.lags(), logs, lw=1.6, label=f"{label} (x{flow.decay_factor(layer):.3f}/step)")
            if cell and layer in flow.cell_norms:
                ax.plot(
                    flow.lags(),
                    flow.mean_log10(layer, cell=True),
                    lw=1.0,
                    ls="--",
                    label=f"{label}: dL_T/dc_k (x{flow.decay_factor(layer, cell=True):.3f}/step)",
                )
        ax.set_xlabel("time lag T - 1 - k (steps back from the loss)")
        ax.set_ylabel("log10 ||dL_T / dh_k||  (batch mean)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _save(fig, path)


def plot_eigenvalues(panels: dict[str, dict[str, np.ndarray]], path) -> Path:
    """One panel per title ({title: {label: eigenvalues}}): eigenvalues on the complex plane
    with the unit circle (|λ| > 1 grows a linear recurrence, |λ| < 1 forgets)."""
    plt = _pyplot()
    fig, axes = _grid(plt, len(panels), 4.0, 4.0)
    circle = np.exp(1j * np.linspace(0, 2 * np.pi, 400))
    for ax, (title, eigs) in zip(axes, panels.items()):
        ax.plot(circle.real, circle.imag, color="0.5", lw=1)
        for label, e in eigs.items():
            ax.scatter(np.real(e), np.imag(e), s=10, alpha=0.75, label=f"{label} (ρ={np.abs(e).max():.2f})")
        ax.set_aspect("equal")
        ax.axhline(0, color="0.85", lw=0.6)
        ax.axvline(0, color="0.85", lw=0.6)
        ax.set_xlabel("Re λ")
        ax.set_ylabel("Im λ")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7, loc="lower left")
    return _save(fig, path)


def plot_curves(
    panels: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]],
    path,
    xlabel: str,
    ylabel: str,
    log: bool = True,
    hline: float | None = None,
) -> Path:
    """One panel per title ({title: {label: (x, y)}}), y on a log scale when `log`."""
    plt = _pyplot()
    fig, axes = _grid(plt, len(panels), 5.5, 4.0, cols=2)
    for ax, (title, curves) in zip(axes, panels.items()):
        for label, (x, y) in curves.items():
            ax.plot(x, y, lw=1.5, label=label)
        if log:
            ax.set_yscale("log")
        if hline is not None:
            ax.axhline(hline, color="0.4", lw=1, ls=":")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _save(fig, path)


def plot_gates(panels: dict[str, dict[str, object]], path) -> Path:
    """For each title ({title: {gate: GateStats}}): the histogram of every gate's values and,
    beside it, the fraction of steps each unit spends saturated (< low or > high)."""
    plt = _pyplot()
    fig, axes = plt.subplots(len(panels), 2, figsize=(11, 3.4 * len(panels)), dpi=100, squeeze=False)
    for (ax_h, ax_u), (title, stats) in zip(axes, panels.items()):
        for gate, s in stats.items():
            ax_h.hist(
                s.values,
                bins=50,
                range=(0, 1),
                histtype="step",
                lw=1.5,
                label=f"{gate}: {100 * s.saturated.mean():.0f}% saturated",
                density=True,
            )
            order = np.argsort(s.saturated)
            ax_u.plot(np.arange(len(order)), s.saturated[order], marker=".", lw=1, label=gate)
        ax_h.set_title(f"{title}: gate values", fontsize=10)
        ax_h.set_xlabel("gate value")
        ax_h.set_ylabel("density")
        ax_h.legend(fontsize=7)
        ax_u.set_title(f"{title}: saturated (< 0.1 or > 0.9), per unit", fontsize=10)
        ax_u.set_xlabel("unit (sorted)")
        ax_u.set_ylim(-0.02, 1.02)
        ax_u.legend(fontsize=7)
    return _save(fig, path)


def plot_scalar_recursions(study: dict[str, dict[tuple[float, float], np.ndarray]], path) -> Path:
    """The lectures' scalar figures: h(t) = f(w h(t-1)) for each activation, w and start sign."""
    plt = _pyplot()
    fig, axes = _grid(plt, len(study), 4.6, 3.6, cols=2)
    for ax, (activation, runs) in zip(axes, study.items()):
        colors = {}
        for (w, h0), h in runs.items():
            color = colors.setdefault(w, f"C{len(colors)}")
            shown = np.clip(h, -5, 5)
            ax.plot(
                np.arange(len(h)),
                shown,
                color=color,
                ls="-" if h0 > 0 else "--",
                lw=1.3,
                label=f"w={w:g}" if h0 > 0 else None,
            )
        ax.set_title(f"h(t) = {activation}(w h(t-1)); solid h(0) > 0, dashed < 0", fontsize=9)
        ax.set_xlabel("t")
        ax.set_ylabel("h(t) (clipped to ±5)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _save(fig, path)


def plot_fixed_points(curves: dict[str, tuple[np.ndarray, list]], path) -> Path:
    """Fixed points against w ({"tanh(w h)": (ws, [fixed points per w])}, the key the right-hand
    side), filled when stable (|w f'| < 1), hollow when not: the pitchfork of tanh at w = 1."""
    plt = _pyplot()
    fig, axes = _grid(plt, len(curves), 4.6, 3.6, cols=2)
    for ax, (activation, (ws, points)) in zip(axes, curves.items()):
        found = [(w, p.value, p.stable) for w, pts in zip(ws, points) for p in pts]
        for stable, style in ((True, dict(color="C0", edgecolors="C0")), (False, dict(color="white", edgecolors="C3"))):
            chosen = [(w, v) for w, v, s in found if s == stable]
            if chosen:
                ax.scatter(*zip(*chosen), s=8, label="stable" if stable else "unstable", **style)
        ax.legend(fontsize=7)
        ax.set_title(f"fixed points of h = {activation}", fontsize=9)
        ax.set_xlabel("w")
        ax.set_ylabel("h*  (filled: stable, hollow: unstable)")
        ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_vector_recursions(responses: dict[str, tuple[np.ndarray, np.ndarray]], path) -> Path:
    """For each 2x2 W ({title: (W, h (T+1, 2))}): the impulse response's two components
    against t and its path in the plane; the eigenvalues in the title."""
    plt = _pyplot()
    fig, axes = plt.subplots(2, len(responses), figsize=(3.4 * len(responses), 6.4), dpi=100, squeeze=False)
    for k, (title, (W, h)) in enumerate(responses.items()):
        eig = np.linalg.eigvals(W)
        ax = axes[0, k]
        ax.plot(h[:, 0], lw=1.4, label="h1")
        ax.plot(h[:, 1], lw=1.4, label="h2")
        ax.set_title(f"{title}\n|λ| = {', '.join(f'{abs(e):.2f}' for e in eig)}", fontsize=8)
        ax.set_xlabel("t")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        ax = axes[1, k]
        ax.plot(h[:, 0], h[:, 1], lw=1, marker=".", ms=3)
        ax.scatter([h[0, 0]], [h[0, 1]], color="C3", zorder=3, label="t = 0")
        ax.set_xlabel("h1")
        ax.set_ylabel("h2")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _save(fig, path)


def plot_multitap(examples: dict[str, tuple[np.ndarray, np.ndarray, list]], path) -> Path:
    """For each multi-tap recursion ({title: (weights, h (T+1,), modes)}): its impulse response
    with the envelope of its slowest mode above, its characteristic roots and the unit circle below."""
    plt = _pyplot()
    fig, axes = plt.subplots(2, len(examples), figsize=(3.1 * len(examples), 6.2), dpi=100, squeeze=False)
    circle = np.exp(1j * np.linspace(0, 2 * np.pi, 200))
    for k, (title, (weights, h, found)) in enumerate(examples.items()):
        ax = axes[0, k]
        t = np.arange(len(h))
        ax.plot(t, h, lw=1.3, marker=".", ms=3)
        r = found[0].modulus
        envelope = np.abs(h).max() * r**t / max(r ** t[np.argmax(np.abs(h))], 1e-300)
        ax.plot(t, envelope, "--", color="0.5", lw=1, label=f"r^t, r = {r:.3f}")
        ax.plot(t, -envelope, "--", color="0.5", lw=1)
        ax.set_title(f"{title}\nw = {', '.join(f'{w:g}' for w in weights)}", fontsize=8)
        ax.set_xlabel("t")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        ax = axes[1, k]
        ax.plot(circle.real, circle.imag, color="0.6", lw=1)
        roots = np.array([m.root for m in found])
        ax.scatter(roots.real, roots.imag, color="C3", zorder=3)
        periods = sorted({round(m.period, 1) for m in found if m.period})
        ax.set_title(found[0].behaviour + (f", period {', '.join(map(str, periods))}" if periods else ""), fontsize=8)
        ax.set_aspect("equal")
        ax.set_xlim(-1.3, 1.3)
        ax.set_ylim(-1.3, 1.3)
        ax.set_xlabel("Re z")
        ax.set_ylabel("Im z")
        ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_mlp_gradients(result: dict[str, dict], path) -> Path:
    """log10 ||dL/dW|| per neuron against the layer, one line per activation (median over the
    neurons that get a gradient, the band from the 10th to the 90th percentile): for a batch, and
    single instances."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), dpi=100, sharey=True)
    for ax, mode in zip(axes, ("batch", "single")):
        for k, (activation, modes) in enumerate(result.items()):
            r = modes[mode]
            layers = np.arange(1, len(r["median"]) + 1)
            median, p10, p90 = (np.array(r[key], dtype=float) for key in ("median", "p10", "p90"))
            dead = max(r["zero"])
            label = activation + (f" ({dead:.0%} of a layer's neurons get no gradient, at most)" if dead else "")
            ax.plot(layers, median, marker=".", color=f"C{k}", label=label)
            ax.fill_between(layers, p10, p90, color=f"C{k}", alpha=0.15)
        ax.set_title(f"gradient per neuron at initialisation, {'a batch' if mode == 'batch' else 'single instances'}")
        ax.set_xlabel("hidden layer (1 = next to the input)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("log10 ||dL/dW|| of a neuron's incoming weights")
    return _save(fig, path)


def plot_bibo(results: dict[str, object], path) -> Path:
    """max ||h(t)|| over bounded inputs against t ({label: BIBOResult}), with each bound (B)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
    for k, (label, r) in enumerate(results.items()):
        ax.plot(
            np.arange(1, len(r.norms) + 1),
            r.norms,
            color=f"C{k}",
            lw=1.5,
            label=f"{label}: ρ={r.spectral_radius:.2f}, "
            f"bound {'none' if not np.isfinite(r.bound) else f'{r.bound:.1f}'}",
        )
        if np.isfinite(r.bound):
            ax.axhline(r.bound, color=f"C{k}", ls=":", lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("t")
    ax.set_ylabel("largest ||h(t)|| over inputs |x| <= 1")
    ax.set_title("bounded input, bounded output")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, path)
