"""The loss curve of a run, drawn from its metrics.jsonl (matplotlib, the `plot` extra)."""

from __future__ import annotations

import json
import math
from pathlib import Path


def plot_run(run_dir, unit: str = "nats/char", score: str | None = None) -> Path:
    """Write RUN_DIR/loss.png: the training loss (and a moving average) and the evaluation score
    against the step; with `score` (what the evaluation measures when it is not the training
    loss, e.g. "error rate") the evaluation gets its own axis, on the right, so two measures never
    share one scale. Raises ImportError with the install hint when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, no screen needed
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError('the loss curve needs matplotlib: pip install -e ".[plot]"') from None
    run_dir = Path(run_dir)
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    train = [(r["step"], r["loss"]) for r in records if "event" not in r and math.isfinite(r["loss"])]
    evals = [(r["step"], r["score"]) for r in records if r.get("event") == "eval"]
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    if train:
        steps, losses = zip(*train)
        ax.plot(steps, losses, color="0.75", lw=0.8, label="training batch")
        k = max(1, len(losses) // 50)
        smooth = [
            sum(losses[max(0, i - k + 1) : i + 1]) / len(losses[max(0, i - k + 1) : i + 1]) for i in range(len(losses))
        ]
        ax.plot(steps, smooth, color="tab:blue", lw=1.5, label=f"training, mean of {k}")
    right = ax.twinx() if score is not None and evals else ax
    if evals:
        right.plot(*zip(*evals), "o-", color="tab:red", lw=1.5, ms=3, label=f"validation {score or ''}".strip())
    ax.set_xlabel("step")
    what = "training loss" if right is not ax else "loss"  # one axis: training and validation loss
    ax.set_ylabel(what if unit == "loss" else f"{what} ({unit})")
    if right is not ax:
        right.set_ylabel(f"validation {score}", color="tab:red")
    ax.set_title(run_dir.name)
    ax.grid(alpha=0.3)
    lines, labels = ax.get_legend_handles_labels()
    if right is not ax:
        more = right.get_legend_handles_labels()
        lines, labels = lines + more[0], labels + more[1]
    ax.legend(lines, labels)
    fig.tight_layout()
    out = run_dir / "loss.png"
    fig.savefig(out)
    plt.close(fig)
    return out
