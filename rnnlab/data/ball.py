"""A ball bouncing in a box, and its frames: the lecture's "given an image of a ball, predict
where it goes next".

Coordinates are in pixels: x to the right, y downwards, the box is [0, size] x [0, size] and pixel
(row i, column j) covers [j, j + 1) x [i, i + 1), its centre at (j + 1/2, i + 1/2). A ball of
radius r stays inside, so its centre p keeps to [r, size - r] on each axis.

One step of the motion (semi-implicit Euler, then the walls):

    v_y = v_y + g                                                          (1)
    p = p + v                                                              (2)
    a centre past a wall is mirrored back into [lo, hi] = [r, size - r],   (3)
    and the velocity component across that wall changes sign:
        p = lo + fold(p - lo),  fold(u) = L - |L - (u mod 2L)|,  L = hi - lo
        v = -v  when the number of reflections, floor((p - lo) / L), is odd

An elastic reflection keeps the speed: it flips one component of v. Without gravity (g = 0) the
motion between bounces is uniform, so "next = last + (last - previous)" is exact there and wrong
only in the two steps around each bounce (constant_velocity_forecast, the study's baseline).

    bouncing_balls(n, steps, rng, ...)   BallTrajectories: positions, velocities, bounces
    render_frames(positions, size, r)    anti-aliased grayscale discs, (..., size, size) float32
    frame_centroids(frames)              the intensity-weighted centre of each frame, (..., 2)
    constant_velocity_forecast(p)        next = p[t] + (p[t] - p[t-1]) at every step t
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..nn.core import positive_int


@dataclass
class BallTrajectories:
    """n balls followed for steps + 1 positions each (time-major, as the engine's layers read)."""

    positions: np.ndarray  # (steps + 1, n, 2) float64, the centre (x, y) in pixels
    velocities: np.ndarray  # (steps + 1, n, 2) float64, the velocity after each step's bounce
    bounced: np.ndarray  # (steps + 1, n) bool: a wall was hit between t - 1 and t (False at t = 0)
    size: int  # the box (and frame) is size x size pixels
    radius: float  # the ball's radius in pixels
    gravity: float  # pixels per step^2, downwards (+y)


def _positive_float(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def _reflect(p: np.ndarray, v: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """(3): mirror p back into [lo, hi] (any number of times) and flip v where the number of
    reflections is odd, both in place; returns where any reflection happened."""
    L = hi - lo
    crossings = np.floor((p - lo) / L)
    u = np.mod(p - lo, 2 * L)
    p[...] = lo + L - np.abs(L - u)
    odd = np.mod(crossings, 2) == 1
    v[odd] = -v[odd]
    return crossings != 0


def bouncing_balls(
    n: int,
    steps: int,
    rng: np.random.Generator,
    *,
    size: int = 16,
    radius: float = 2.0,
    speed: tuple[float, float] = (1.0, 2.0),
    gravity: float = 0.0,
) -> BallTrajectories:
    """n trajectories of steps + 1 positions: each ball starts anywhere in the box with a speed
    uniform in `speed` (pixels per step) in a uniform direction, then moves by (1)-(3) of the
    module docstring. Deterministic given the state of `rng`."""
    n, steps, size = positive_int("n", n), positive_int("steps", steps), positive_int("size", size)
    radius, g = _positive_float("radius", radius), float(gravity)
    if not math.isfinite(g) or g < 0:
        raise ValueError(f"gravity must be a finite number >= 0 (pixels per step^2, downwards), got {gravity!r}")
    if 2 * radius >= size:
        raise ValueError(f"radius {radius:g} leaves no room in a box of {size} pixels: 2 * radius must be < size")
    try:
        low, high = speed
    except (TypeError, ValueError):
        raise ValueError(f"speed must be a pair (low, high) of pixels per step, got {speed!r}") from None
    low, high = _positive_float("speed", low), _positive_float("speed", high)
    if low > high:
        raise ValueError(f"speed must be (low, high) with low <= high, got {speed!r}")
    lo, hi = radius, size - radius
    p = np.empty((steps + 1, n, 2))
    v = np.empty((steps + 1, n, 2))
    bounced = np.zeros((steps + 1, n), bool)
    p[0] = rng.uniform(lo, hi, size=(n, 2))
    angle = rng.uniform(0, 2 * np.pi, size=n)
    s = rng.uniform(low, high, size=n)
    v[0] = np.stack([s * np.cos(angle), s * np.sin(angle)], axis=1)
    for t in range(1, steps + 1):
        vt = v[t - 1].copy()
        vt[:, 1] += g  # (1)
        pt = p[t - 1] + vt  # (2)
        bounced[t] = _reflect(pt, vt, lo, hi).any(axis=1)  # (3)
        p[t], v[t] = pt, vt
    return BallTrajectories(p, v, bounced, size, radius, g)


def render_frames(positions: np.ndarray, size: int, radius: float) -> np.ndarray:
    """The ball at each position as a size x size grayscale frame, (..., size, size) float32 in
    [0, 1]: a pixel's intensity is clip(radius + 1/2 - d, 0, 1), d the distance from its centre
    to the ball's, an anti-aliased edge one pixel wide. positions (..., 2) hold (x, y) in pixels;
    a ball partly outside the frame is cut off at its edge."""
    size, radius = positive_int("size", size), _positive_float("radius", radius)
    p = np.asarray(positions, dtype=np.float64)
    if p.ndim < 1 or p.shape[-1] != 2:
        raise ValueError(f"positions must have shape (..., 2) (x, y in pixels), got {p.shape}")
    if not np.isfinite(p).all():
        raise ValueError("positions must be finite")
    centres = np.arange(size) + 0.5
    dx = centres - p[..., 0, None]  # (..., size): columns
    dy = centres - p[..., 1, None]  # (..., size): rows
    d = np.sqrt(dy[..., :, None] ** 2 + dx[..., None, :] ** 2)
    return np.clip(radius + 0.5 - d, 0.0, 1.0).astype(np.float32)


def frame_centroids(frames: np.ndarray) -> np.ndarray:
    """The intensity-weighted mean (x, y) of each frame, (..., 2), in pixels (the ball's centre,
    read off its picture). A frame with no ink gives nan."""
    f = np.asarray(frames, dtype=np.float64)
    if f.ndim < 2:
        raise ValueError(f"frames must have shape (..., H, W), got {f.shape}")
    H, W = f.shape[-2:]
    mass = f.sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        x = (f.sum(axis=-2) * (np.arange(W) + 0.5)).sum(axis=-1) / mass
        y = (f.sum(axis=-1) * (np.arange(H) + 0.5)).sum(axis=-1) / mass
    return np.stack([x, y], axis=-1)


def constant_velocity_forecast(positions: np.ndarray) -> np.ndarray:
    """The baseline, aligned with a forecaster's output: row t forecasts positions[t + 1] as
    p[t] + (p[t] - p[t-1]) (row 0, with no velocity seen yet, as p[0]). positions (T, ..., 2) ->
    (T, ..., 2). Exact while the ball moves uniformly (no bounce in between, no gravity)."""
    p = np.asarray(positions, dtype=np.float64)
    if p.ndim < 2 or p.shape[0] < 1 or p.shape[-1] != 2:
        raise ValueError(f"positions must have shape (T, ..., 2), got {p.shape}")
    forecast = p.copy()
    forecast[1:] += p[1:] - p[:-1]
    return forecast
