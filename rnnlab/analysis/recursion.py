"""The lectures' recursion studies, as functions: what a recurrence does with its past.

Scalar recursion (one unit, weight w, input weight c):
    h(t) = f(w h(t-1) + c x(t)),   h(0) = h0                                       (S)
f linear, sigmoid, tanh or relu. With a constant input b = c x the fixed points solve
h* = f(w h* + b); h* attracts when |w f'(w h* + b)| < 1 and repels when > 1. tanh with b = 0:
for |w| < 1 only h* = 0 (everything fades), for w > 1 the origin repels and two symmetric fixed
points ±h*, h* = tanh(w h*), attract: the sign of h0 is remembered for ever. linear: w^t h0,
fading (|w| < 1), exploding (|w| > 1), alternating in sign (w < 0). relu: a negative start is
cut to 0 after one step; a positive one grows like w^t when w > 1.

Vector recursion, the response to one input at t = 0:
    h(0) = x0,  h(t) = f(W h(t-1))                                                  (V)
For the linear case h(t) = W^t x0: with W = V diag(λ) V^-1, each eigen-direction scales by λ_k
per step; |λ| < 1 fades, |λ| > 1 grows, complex λ = r e^{iθ} rotates by θ per step while its
size goes as r^t (oscillation), a symmetric W has real λ and never oscillates (a negative λ
only flips sign).

Bounded input, bounded output (BIBO): for h(t) = W h(t-1) + x(t) with |x(t)| <= 1,
    ||h(t)|| <= sum_k ||W^k|| sup||x||,   finite when the spectral radius ρ(W) < 1            (B)
(for relu(W h + x) the same holds with |W|, elementwise, since |relu(a)| <= |a|); tanh and
sigmoid outputs are bounded by 1 whatever W is.

Multi-tap (deeper) recursion, k taps back in time:
    h(t) = w1 h(t-1) + w2 h(t-2) + ... + wk h(t-k) + c x(t)                            (M)
Trying h(t) = z^t in the homogeneous equation gives the characteristic polynomial
    z^k - w1 z^(k-1) - ... - wk = 0                                                     (R)
whose roots z_i are the recursion's modes: with distinct roots every impulse response is
h(t) = sum_i a_i z_i^t (the a_i fixed by the first k values). |z_i| < 1 for every root: the
memory fades, as the largest |z_i|^t; a root outside the unit circle: it explodes; a complex
pair r e^{±iθ}: the response oscillates with period 2π/θ steps inside an envelope r^t (one tap,
k = 1, has a single real root w1 and can never oscillate, only flip sign). The same roots are the
eigenvalues of the k x k companion matrix that writes (M) as a one-tap vector recursion (V).

Memory of a model: run it on x and on x with an impulse (a change) at t = 0; the memory is the
last step at which the outputs still differ by more than `threshold` times the difference at
t = 0 (for h(t) = a h(t-1) + x(t) with a linear readout the difference is a^t exactly).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

ACTIVATIONS: dict[str, tuple[Callable, Callable]] = {
    # name: (f, f') with f' written as a function of the pre-activation a
    "linear": (lambda a: a, lambda a: np.ones_like(a)),
    "sigmoid": (lambda a: 0.5 + 0.5 * np.tanh(0.5 * a), lambda a: 0.25 * (1 - np.tanh(0.5 * a) ** 2)),
    "tanh": (np.tanh, lambda a: 1 - np.tanh(a) ** 2),
    "relu": (lambda a: np.maximum(a, 0.0), lambda a: (np.asarray(a) > 0).astype(float)),
}


def _activation(name: str) -> tuple[Callable, Callable]:
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]


# --- scalar ------------------------------------------------------------------------------------
def scalar_recursion(activation: str, w: float, h0: float, steps: int, c: float = 1.0, x=None) -> np.ndarray:
    """(steps + 1,) trajectory h(0) = h0, h(t) = f(w h(t-1) + c x(t)) (S); x (steps,) or None (zeros;
    x[t-1] is the input of step t)."""
    f, _ = _activation(activation)
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    x = np.zeros(steps) if x is None else np.asarray(x, float)
    if x.shape != (steps,):
        raise ValueError(f"x has shape {x.shape}, expected ({steps},), one input per step")
    h = np.empty(steps + 1)
    h[0] = h0
    with np.errstate(over="ignore", invalid="ignore"):  # an exploding linear recursion reaches inf
        for t in range(1, steps + 1):
            h[t] = f(w * h[t - 1] + c * x[t - 1])  # (S)
    return h


@dataclass
class FixedPoint:
    value: float  # h*
    slope: float  # w f'(w h* + b): the factor by which a small deviation changes per step
    stable: bool  # |slope| < 1


def scalar_fixed_points(
    activation: str, w: float, b: float = 0.0, lo: float = -10.0, hi: float = 10.0, grid: int = 4001
) -> list[FixedPoint]:
    """The isolated fixed points h* = f(w h* + b) in [lo, hi] (b = c x, a constant input),
    found by sign changes of f(w h + b) - h on a grid and bisection, with their stability."""
    f, fprime = _activation(activation)

    def g(h):
        return f(w * h + b) - h

    hs = np.linspace(lo, hi, grid)
    gs = g(hs)
    roots = list(hs[gs == 0])
    for k in np.nonzero(gs[:-1] * gs[1:] < 0)[0]:
        a, z = hs[k], hs[k + 1]
        for _ in range(80):  # bisection to machine precision
            m = 0.5 * (a + z)
            if g(a) * g(m) <= 0:
                z = m
            else:
                a = m
        roots.append(0.5 * (a + z))
    points = []
    for r in sorted(roots):
        if points and abs(r - points[-1].value) < 1e-9:
            continue
        slope = float(w * fprime(np.asarray(w * r + b)))
        points.append(FixedPoint(float(r), slope, abs(slope) < 1))
    return points


def scalar_study(
    activations=("linear", "sigmoid", "tanh", "relu"), ws=(0.5, 0.9, 1.2, 2.0, -0.9), h0s=(0.5, -0.5), steps: int = 30
) -> dict[str, dict[tuple[float, float], np.ndarray]]:
    """Trajectories of (S) with no input for each activation, w and starting value (both signs):
    {activation: {(w, h0): (steps + 1,)}}, the data of the lectures' scalar figures."""
    return {a: {(w, h0): scalar_recursion(a, w, h0, steps) for w in ws for h0 in h0s} for a in activations}


# --- vector ------------------------------------------------------------------------------------
def rotation_matrix(radius: float, angle: float) -> np.ndarray:
    """radius * R(angle): eigenvalues radius * e^{±i angle}, an oscillation that grows or fades."""
    c, s = np.cos(angle), np.sin(angle)
    return radius * np.array([[c, -s], [s, c]])


def example_matrices() -> dict[str, np.ndarray]:
    """2x2 recurrent matrices whose impulse responses show each case of (V)."""
    q = rotation_matrix(1.0, 0.6)  # an orthonormal basis for the symmetric examples
    return {
        "real, fading (0.9, 0.5)": np.array([[0.9, 0.0], [0.3, 0.5]]),
        "real, growing (1.1, 0.5)": np.array([[1.1, 0.0], [0.3, 0.5]]),
        "complex, fading (0.9 e^{±iπ/6})": rotation_matrix(0.9, np.pi / 6),
        "complex, growing (1.05 e^{±iπ/6})": rotation_matrix(1.05, np.pi / 6),
        "symmetric (0.95, -0.8)": q @ np.diag([0.95, -0.8]) @ q.T,
    }


def vector_impulse_response(W, x0, steps: int, activation: str = "linear") -> np.ndarray:
    """(steps + 1, n): h(0) = x0, h(t) = f(W h(t-1)) (V), the response to one input at t = 0."""
    f, _ = _activation(activation)
    W, x0 = np.asarray(W, float), np.asarray(x0, float)
    if W.ndim != 2 or W.shape[0] != W.shape[1] or x0.shape != (W.shape[0],):
        raise ValueError(f"W must be square (n, n) and x0 (n,), got {W.shape} and {x0.shape}")
    h = np.empty((steps + 1, len(x0)))
    h[0] = x0
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(1, steps + 1):
            h[t] = f(W @ h[t - 1])  # (V)
    return h


# --- bounded input, bounded output -------------------------------------------------------------
# --- multi-tap ---------------------------------------------------------------------------------
def multitap_recursion(weights, steps: int, c: float = 1.0, x=None, history=None) -> np.ndarray:
    """(steps + 1,) trajectory of (M): h(t) = sum_j weights[j-1] h(t-j) + c x(t), t = 1 .. steps,
    from h(0) = history[-1], h(-1) = history[-2], ... (zeros by default; history has k values,
    oldest first). x (steps,) or None: the unit impulse x(1) = 1, zeros after."""
    w = np.asarray(weights, float)
    if w.ndim != 1 or w.size == 0:
        raise ValueError(f"weights must be a non-empty list of tap weights w1 .. wk, got {weights!r}")
    k = w.size
    past = np.zeros(k) if history is None else np.asarray(history, float)
    if past.shape != (k,):
        raise ValueError(f"history has shape {past.shape}, expected ({k},): h(1-k) .. h(0)")
    if x is None:
        x = np.zeros(steps)
        x[:1] = 1.0
    x = np.asarray(x, float)
    if x.shape != (steps,):
        raise ValueError(f"x has shape {x.shape}, expected ({steps},), one input per step")
    h = np.concatenate([past, np.empty(steps)])  # h[k - 1] is h(0)
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(k, k + steps):
            h[t] = w @ h[t - k : t][::-1] + c * x[t - k]  # (M)
    return h[k - 1 :]


def characteristic_roots(weights) -> np.ndarray:
    """The roots of (R), z^k - w1 z^(k-1) - ... - wk, largest modulus first."""
    w = np.asarray(weights, float)
    roots = np.roots(np.concatenate([[1.0], -w]))
    return roots[np.argsort(-np.abs(roots), kind="stable")]


def companion_matrix(weights) -> np.ndarray:
    """The k x k matrix A with (h(t), ..., h(t-k+1)) = A (h(t-1), ..., h(t-k)) for (M) without
    input: its eigenvalues are the characteristic roots."""
    w = np.asarray(weights, float)
    A = np.zeros((w.size, w.size))
    A[0] = w
    A[1:, :-1] = np.eye(w.size - 1)
    return A


@dataclass
class Mode:
    """One root z = r e^{iθ} of (R) and what it does to a memory."""

    root: complex
    modulus: float  # r: the envelope grows or fades as r^t
    period: float | None  # 2π/θ steps for a complex root, None for a real one
    behaviour: str  # "fades", "explodes", "persists", each "oscillating" or "alternating" where it applies

    @property
    def half_life(self) -> float | None:
        """Steps for the envelope to halve (a fading mode), else None."""
        return float(np.log(0.5) / np.log(self.modulus)) if 0 < self.modulus < 1 else None


def modes(weights, tolerance: float = 1e-9) -> list[Mode]:
    """The modes of (M): each characteristic root with its envelope, period and behaviour."""
    found = []
    for z in characteristic_roots(weights):
        r, theta = float(abs(z)), float(abs(np.angle(z)))
        size = "persists" if abs(r - 1) <= tolerance else ("fades" if r < 1 else "explodes")
        if abs(z.imag) > tolerance:
            found.append(Mode(complex(z), r, 2 * np.pi / theta, f"{size}, oscillating"))
        else:
            turn = ", alternating in sign" if z.real < 0 else ""
            found.append(Mode(complex(z.real), r, None, size + turn))
    return found


def closed_form_response(weights, steps: int, history) -> np.ndarray:
    """h(0 .. steps) of (M) without input as sum_i a_i z_i^t over the characteristic roots (for
    distinct roots), the a_i solved from the k starting values: the modes made visible."""
    z = characteristic_roots(weights)
    k = z.size
    start = np.asarray(history, float)  # h(1-k) .. h(0)
    t0 = np.arange(1 - k, 1)
    a = np.linalg.solve(z[None, :] ** t0[:, None], start.astype(complex))
    t = np.arange(steps + 1)
    return (z[None, :] ** t[:, None] @ a).real


@dataclass
class BIBOResult:
    spectral_radius: float  # ρ(W), or ρ(|W|) for relu
    bound: float  # the bound (B) on sup_t ||h(t)||_2 for inputs with |x(t)|_inf <= 1; inf if none is known
    norms: np.ndarray  # (steps,) ||h(t)||_2, the largest over the trials, at every step

    @property
    def max_norm(self) -> float:
        return float(self.norms.max())

    @property
    def bounded(self) -> bool:
        """Whether the theory guarantees a bounded output (and the run stayed within it)."""
        return bool(np.isfinite(self.bound) and self.max_norm <= self.bound * (1 + 1e-9))


def bibo_check(
    W, activation: str = "linear", steps: int = 200, rng: np.random.Generator | None = None, trials: int = 20
) -> BIBOResult:
    """Drive h(t) = f(W h(t-1) + x(t)), h(0) = 0, with inputs |x(t)| <= 1 (random in [-1, 1],
    the constant ones and its negation, and the input that pushes along W's leading eigenvector)
    and compare the largest state reached with the bound (B)."""
    f, _ = _activation(activation)
    W = np.asarray(W, float)
    if W.ndim != 2 or W.shape[0] != W.shape[1]:
        raise ValueError(f"W must be a square (n, n) matrix, got shape {W.shape}")
    n = W.shape[0]
    rng = rng if rng is not None else np.random.default_rng(0)
    if activation in ("tanh", "sigmoid"):
        radius, bound = float(np.abs(np.linalg.eigvals(W)).max()), float(np.sqrt(n))  # |h_i| <= 1
    else:
        A = np.abs(W) if activation == "relu" else W
        radius = float(np.abs(np.linalg.eigvals(A)).max())
        bound = np.inf
        if radius < 1:  # (B): sum_k ||A^k||_2 * sup ||x||_2, sup ||x||_2 = sqrt(n) for |x|_inf <= 1
            total, P = 0.0, np.eye(n)
            for _ in range(100000):
                term = np.linalg.norm(P, 2)
                total += term
                if term < 1e-12 * total:
                    break
                P = P @ A
            bound = total * np.sqrt(n)
    lead = np.linalg.eig(W)[1][:, np.argmax(np.abs(np.linalg.eigvals(W)))]
    inputs = [
        np.ones((steps, n)),
        -np.ones((steps, n)),
        np.broadcast_to(np.sign(lead.real) + (lead.real == 0), (steps, n)),
    ]
    inputs += [rng.uniform(-1, 1, (steps, n)) for _ in range(trials)]
    norms = np.zeros(steps)
    with np.errstate(over="ignore", invalid="ignore"):
        for x in inputs:
            h = np.zeros(n)
            for t in range(steps):
                h = f(W @ h + x[t])
                norms[t] = max(norms[t], np.linalg.norm(h))
    return BIBOResult(radius, bound, norms)


# --- memory of a model -------------------------------------------------------------------------
@dataclass
class ImpulseMemory:
    effect: np.ndarray  # (T,) mean |y'(t) - y(t)| at each step (over sequences and outputs)
    threshold: float  # relative to effect[0]

    @property
    def steps(self) -> int:
        """The last step t with effect[t] > threshold * effect[0] (0 if only the impulse's own step)."""
        above = np.nonzero(self.effect > self.threshold * self.effect[0])[0]
        return int(above.max()) if above.size else 0


def impulse_memory(forward: Callable[[np.ndarray], np.ndarray], x, x_impulse, threshold: float = 0.01) -> ImpulseMemory:
    """How long a change of the input at t = 0 changes a model's outputs.

    forward maps an input (T, B, ...) to outputs (T, B, ...) (e.g. a readout at every step);
    x_impulse is x changed at t = 0 only. The effect at step t is the mean absolute difference
    of the outputs; the memory is the last step where it exceeds threshold * (effect at t = 0)."""
    x, x_impulse = np.asarray(x), np.asarray(x_impulse)
    if x.shape != x_impulse.shape:
        raise ValueError(f"x_impulse has shape {x_impulse.shape}, expected x's {x.shape}")
    if not np.array_equal(x[1:], x_impulse[1:]):
        raise ValueError("x_impulse must equal x at every step after t = 0 (an impulse at t = 0 only)")
    y, y2 = np.asarray(forward(x), float), np.asarray(forward(x_impulse), float)
    effect = np.abs(y2 - y).reshape(y.shape[0], -1).mean(axis=1)
    if effect[0] == 0:
        raise ValueError("the impulse does not change the output at t = 0: nothing to follow")
    return ImpulseMemory(effect, threshold)


def charlm_impulse_memory(model, ids: np.ndarray, threshold: float = 0.01, shift: int = 1) -> ImpulseMemory:
    """Memory of a CharLM: change the first character of each sequence of ids (T, B) to another
    (id + shift mod vocabulary) and follow how much the predicted next-character distributions
    change (mean absolute difference of the probabilities) at every later step. Runs a float64
    copy of the recurrent layer; the model is left unchanged."""
    from .unroll import layer_copy

    ids = np.asarray(ids)
    if ids.ndim != 2 or ids.dtype.kind not in "iu":
        raise ValueError(f"ids must be integer character ids of shape (T, B), got {ids.dtype} {ids.shape}")
    rnn = layer_copy(model.rnn, np.float64)
    table = model.embed.weight.data.astype(np.float64)
    w, b = model.head.weight.data.astype(np.float64), model.head.bias.data.astype(np.float64)

    def probabilities(token_ids):
        out, _ = rnn.forward(table[token_ids])
        logits = out @ w.T + b
        p = np.exp(logits - logits.max(axis=-1, keepdims=True))
        return p / p.sum(axis=-1, keepdims=True)

    changed = ids.copy()
    changed[0] = (changed[0] + shift) % table.shape[0]
    return impulse_memory(probabilities, ids, changed, threshold)
