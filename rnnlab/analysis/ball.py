"""The bouncing-ball study behind `rnnlab study bouncing-ball`: given the frames of a ball so far,
where is it next? An LSTM that reads the frames (rnnlab.models.ball.BallForecaster) against the
constant-velocity baseline, next = p[t] + (p[t] - p[t-1]), computed from the true positions (the
best the baseline can do: no error from reading the frames).

Without gravity the baseline is exact in free flight and wrong only around a bounce: when the
ball hits a wall between t and t + 1 it forecasts a point behind the wall, and just after one
(between t - 1 and t) its velocity is out of date. A forecast at step t is "near a bounce" when a
wall is hit in (t - 1, t + 1], the two steps the baseline looks at; otherwise "free flight".
Errors are distances in pixels between the forecast and the true centre, over the steps t >= 1
of fixed evaluation trajectories (at t = 0 neither forecaster has seen any motion).

The rollout feeds forecasts back: after reading the true frames 0..t0, the LSTM draws its
forecast as the next frame and reads it, `lead` times; the baseline extrapolates
p[t0] + k (p[t0] - p[t0-1]) in a straight line.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..data.ball import BallTrajectories, bouncing_balls, constant_velocity_forecast, frame_centroids, render_frames
from ..models.ball import BallForecaster, BallForecasterConfig
from ..nn import Adam, clip_grad_norm_, mse

MAX_DISTANCE = 6  # the error-by-distance figure pools steps this far from a bounce or farther


def ball_data(n: int, seq_len: int, rng: np.random.Generator, **physics) -> tuple[np.ndarray, BallTrajectories]:
    """n balls over seq_len + 1 positions: frames 0..seq_len-1 (seq_len, n, S, S) and the
    trajectories (positions[1:] are the targets)."""
    balls = bouncing_balls(n, seq_len, rng, **physics)
    return render_frames(balls.positions[:-1], balls.size, balls.radius), balls


def distance_to_bounce(bounced: np.ndarray) -> np.ndarray:
    """For the forecast at every step t (of bounced (T + 1, n): a wall hit between t - 1 and t),
    how many steps the nearest bounce lies outside (t - 1, t + 1]: 0 near a bounce, (T, n) int;
    a ball that never bounces gets a large number."""
    steps = bounced.shape[0]
    big = 10 * steps
    times = np.arange(steps)[:, None]
    last = np.where(bounced, times, -big)
    last = np.maximum.accumulate(last, axis=0)  # the latest bounce at or before s
    nxt = np.where(bounced, times, 2 * big)
    nxt = np.minimum.accumulate(nxt[::-1], axis=0)[::-1]  # the first bounce at or after s
    t = np.arange(steps - 1)[:, None]
    before = t - last[:-1]  # steps from the last bounce at or before t: 0 if it is at t
    after = nxt[1:] - (t + 1)  # steps to the next bounce at or after t + 1: 0 if it is at t + 1
    return np.minimum(before, after)


def forecast_errors(pred: np.ndarray, balls: BallTrajectories) -> np.ndarray:
    """Distance in pixels of pred (T, n, 2), pred[t] ~ positions[t + 1], from the truth: (T, n)."""
    return np.linalg.norm(pred - balls.positions[1 : len(pred) + 1], axis=-1)


def _split(errors: np.ndarray, distance: np.ndarray) -> dict:
    """Mean error over the steps t >= 1: all, near a bounce, free flight."""
    e, d = errors[1:], distance[1:]
    return {
        "all": float(e.mean()),
        "near_bounce": float(e[d == 0].mean()),
        "free_flight": float(e[d > 0].mean()),
    }


def ball_study(
    *,
    steps: int = 2000,
    seq_len: int = 40,
    batch: int = 32,
    size: int = 16,
    radius: float = 2.0,
    speed: tuple[float, float] = (1.0, 2.0),
    gravity: float = 0.0,
    encoder: str = "pixels",
    features: int = 32,
    hidden: int = 32,
    lr: float = 1e-2,
    seed: int = 0,
    eval_balls: int = 256,
    lead: int = 10,
    out=None,
    say: Callable[[str], None] | None = None,
) -> dict:
    """Train a BallForecaster for `steps` Adam steps (fresh balls every step, gradient norm
    clipped to 1, learning rate decayed linearly to a tenth) and compare it with the
    constant-velocity baseline on `eval_balls` other balls: errors overall, near a bounce and in
    free flight, by distance to the nearest bounce, and over a `lead`-step rollout from the middle
    of the sequence. Writes ball.png into `out` when given (needs matplotlib)."""
    say = say or (lambda line: None)
    physics = dict(size=size, radius=radius, speed=speed, gravity=gravity)
    if isinstance(lead, bool) or not isinstance(lead, int) or not 1 <= lead <= seq_len // 2:
        raise ValueError(f"lead must be an integer from 1 to seq_len // 2 = {seq_len // 2}, got {lead!r}")
    eval_frames, eval_balls_ = ball_data(eval_balls, seq_len, np.random.default_rng(seed + 1000), **physics)
    config = BallForecasterConfig(size=size, encoder=encoder, features=features, hidden=hidden)
    model = BallForecaster(config, np.random.default_rng(seed))
    adam = Adam(model.named_parameters(), lr=lr)
    data_rng = np.random.default_rng(seed + 1)
    losses: list[float] = []
    start = time.perf_counter()
    for step in range(1, steps + 1):
        frames, balls = ball_data(batch, seq_len, data_rng, **physics)
        adam.lr = lr * (1 - 0.9 * (step - 1) / max(1, steps - 1))
        loss, dpred = mse(model.forward(frames), balls.positions[1:].astype(model.dtype))
        adam.zero_grad()
        model.backward(dpred)
        clip_grad_norm_(model.parameters(), 1.0)
        adam.step()
        losses.append(float(loss))
        if step % max(1, steps // 10) == 0 or step == steps:
            say(f"  step {step:5d}/{steps}  MSE {np.mean(losses[-50:]):.4f} px^2  {time.perf_counter() - start:6.1f} s")
    train_seconds = time.perf_counter() - start

    truth = eval_balls_.positions
    distance = distance_to_bounce(eval_balls_.bounced)
    forecasts = {
        "lstm": model.predict(eval_frames).astype(np.float64),
        "baseline": constant_velocity_forecast(truth[:-1]),
        "centroid_baseline": constant_velocity_forecast(frame_centroids(eval_frames)),
    }
    errors = {name: forecast_errors(pred, eval_balls_) for name, pred in forecasts.items()}
    by_distance = {
        name: [float(e[1:][np.minimum(distance[1:], MAX_DISTANCE) == d].mean()) for d in range(MAX_DISTANCE + 1)]
        for name, e in errors.items()
    }
    t0 = seq_len - lead  # read frames 0..t0, forecast positions t0 + 1 .. t0 + lead = seq_len
    rolled = model.rollout(eval_frames[: t0 + 1], lead, lambda p: render_frames(p, size, radius))
    k = np.arange(1, lead + 1)[:, None, None]
    straight = truth[t0] + k * (truth[t0] - truth[t0 - 1])
    future = truth[t0 + 1 : t0 + lead + 1]
    bounces_ahead = eval_balls_.bounced[t0 + 1 : t0 + lead + 1].cumsum(axis=0) > 0  # (lead, n)
    rollout = {
        "lstm": np.linalg.norm(rolled - future, axis=-1).mean(axis=1).tolist(),
        "baseline": np.linalg.norm(straight - future, axis=-1).mean(axis=1).tolist(),
        "share_bounced": bounces_ahead.mean(axis=1).tolist(),  # a bounce by this lead time
    }
    summary = {
        "setup": (
            f"{size}x{size} frames, radius {radius:g}, speed {speed[0]:g}-{speed[1]:g} px/step, gravity {gravity:g}; "
            f"{encoder} encoder (F={features}) + LSTM (H={hidden}); {steps} Adam steps of {batch} sequences "
            f"of {seq_len} frames, lr {lr:g}; seed {seed}; evaluated on {eval_balls} other balls"
        ),
        "errors_px": {name: _split(e, distance) for name, e in errors.items()},
        "near_bounce_share": float((distance[1:] == 0).mean()),
        "error_by_distance_px": by_distance,
        "rollout_px": {"from_step": t0, **rollout},
        "train_seconds": round(train_seconds, 1),
        "final_train_mse": float(np.mean(losses[-50:])),
        "losses": [round(v, 5) for v in losses],
    }
    if out is not None:
        summary["figures"] = [str(ball_figure(summary, eval_balls_, forecasts, Path(out) / "ball.png"))]
    return summary


def summary_lines(summary: dict) -> list[str]:
    """What `rnnlab study bouncing-ball` prints."""
    lines = [summary["setup"], "mean forecast error (pixels): all steps, near a bounce, free flight"]
    names = {"lstm": "LSTM on the frames", "baseline": "constant velocity", "centroid_baseline": "  ... from centroids"}
    for name, e in summary["errors_px"].items():
        lines.append(f"  {names[name]:<22} {e['all']:7.3f} {e['near_bounce']:7.3f} {e['free_flight']:7.3f}")
    r = summary["rollout_px"]
    lines.append(
        f"rollout from step {r['from_step']}, error at lead 1, {len(r['lstm']) // 2}, {len(r['lstm'])}: "
        f"LSTM {r['lstm'][0]:.2f}, {r['lstm'][len(r['lstm']) // 2 - 1]:.2f}, {r['lstm'][-1]:.2f}; "
        f"constant velocity {r['baseline'][0]:.2f}, {r['baseline'][len(r['lstm']) // 2 - 1]:.2f}, "
        f"{r['baseline'][-1]:.2f}"
    )
    lines.append(
        f"({summary['near_bounce_share']:.0%} of the steps are near a bounce; training {summary['train_seconds']} s)"
    )
    return lines


def ball_figure(summary: dict, balls: BallTrajectories, forecasts: dict[str, np.ndarray], path) -> Path:
    """ball.png: (a) one ball's path with both forecasts around its bounces, (b) the error against
    the distance to the nearest bounce, (c) the rollout error against the lead time, (d) the
    training loss."""
    from .plots import _pyplot, _save

    plt = _pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(11, 9), dpi=100)
    ax = axes[0, 0]
    T = len(forecasts["lstm"])
    n, s = _example(balls.bounced, T)
    window = np.arange(max(1, s - 7), min(T, s + 7))  # forecasts at t, of positions t + 1
    p = balls.positions[:, n]
    ink = render_frames(p[window[0] : window[-1] + 2], balls.size, balls.radius).sum(axis=0)
    ax.imshow(np.minimum(ink, 1), cmap="gray_r", vmin=0, vmax=4, extent=(0, balls.size, balls.size, 0))
    ax.plot(p[window + 1, 0], p[window + 1, 1], "k.-", lw=0.8, ms=5, label="true centre")
    for name, style, label in (("baseline", "x", "constant velocity"), ("lstm", "+", "LSTM")):
        f = forecasts[name][window, n]
        ax.plot(f[:, 0], f[:, 1], style, ms=9, mew=1.5, label=label)
    ax.set_xlim(-1, balls.size + 1)
    ax.set_ylim(balls.size + 1, -1)
    ax.add_patch(plt.Rectangle((0, 0), balls.size, balls.size, fill=False, lw=1.5))
    r, inner = balls.radius, balls.size - 2 * balls.radius
    ax.add_patch(plt.Rectangle((r, r), inner, inner, fill=False, lw=0.8, ls="--", ec="gray"))
    ax.text(r + 0.2, r - 0.3, "where the centre can be", fontsize=7, color="gray")
    ax.set_title(f"one ball, steps {window[0] + 1}-{window[-1] + 1}: the forecasts of each next centre")
    ax.legend(fontsize=8, loc="best")
    ax = axes[0, 1]
    d = np.arange(MAX_DISTANCE + 1)
    labels = {
        "lstm": "LSTM on the frames",
        "baseline": "constant velocity (true positions)",
        "centroid_baseline": "constant velocity (centroids of the frames)",
    }
    for name, values in summary["error_by_distance_px"].items():
        ax.plot(d, values, "o-" if name != "centroid_baseline" else ".:", label=labels[name])
    ax.set_xticks(d, [str(k) for k in d[:-1]] + [f">={MAX_DISTANCE}"])
    ax.set_xlabel("steps from the nearest bounce (0: a wall is hit in (t - 1, t + 1])")
    ax.set_ylabel("mean error (pixels)")
    ax.set_title("one step ahead: the baseline fails only at the walls")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax = axes[1, 0]
    r = summary["rollout_px"]
    k = np.arange(1, len(r["lstm"]) + 1)
    ax.plot(k, r["lstm"], "o-", label="LSTM, its forecasts drawn and fed back")
    ax.plot(k, r["baseline"], "o-", label="constant velocity, straight on")
    ax.set_xlabel(f"lead time (steps after step {r['from_step']})")
    ax.set_ylabel("mean error (pixels)")
    ax.set_title("several steps ahead")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    twin = ax.twinx()
    twin.plot(k, r["share_bounced"], color="gray", ls=":", lw=1)
    twin.set_ylim(0, 1)
    twin.set_ylabel("share of balls that have bounced by then (dotted)", color="gray")
    ax = axes[1, 1]
    losses = np.asarray(summary["losses"])
    ax.plot(np.arange(1, len(losses) + 1), losses, lw=0.5, alpha=0.5)
    ax.set_yscale("log")
    ax.set_xlabel("Adam step")
    ax.set_ylabel("training MSE (pixels squared)")
    ax.set_title("training")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def _example(bounced: np.ndarray, T: int) -> tuple[int, int]:
    """A ball and a step s of a bounce with room around it (the first ball that has one)."""
    for n in range(bounced.shape[1]):
        inside = np.flatnonzero(bounced[8 : T - 6, n])
        if len(inside):
            return n, int(inside[0]) + 8
    return 0, T // 2
