#!/usr/bin/env python
"""Benchmark the rnnlab NumPy RNN engine against torch.nn on CPU.

Usage (from the repository root):

    .venv/bin/python bench/bench_engine.py [--quick] [--out docs/benchmarks.md]

What it measures (see bench/README.md for the method):

* training  : forward + backward over a (T=100, B=32, D=H) float32 batch,
* inference : forward only (torch under ``torch.inference_mode()``),
* generation: B=1, one token at a time, state carried between calls,

for RNN(tanh), LSTM and GRU, H in {64, 128, 256, 512}, with 1 and 2 threads
(``threadpoolctl.threadpool_limits(n)`` for NumPy's BLAS and
``torch.set_num_threads(n)`` for torch, both in every measurement).

rnnlab and torch repetitions are interleaved ([rnnlab, torch] per round; with
2 threads each turn starts with untimed runs, see interleave()) and the median
time of each is reported; ratio = rnnlab tok/s / torch tok/s, so
> 1 means rnnlab is faster.  Before timing, each configuration checks that
rnnlab (weights loaded from the torch module) gives the same forward output
as torch to 1e-4; a configuration that does not is not timed.

A Markdown report goes to stdout (and to --out); progress goes to stderr.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import math
import os
import platform
import shlex
import subprocess
import sys
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_info, threadpool_limits

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import rnnlab  # noqa: E402
import rnnlab.nn as rnn  # noqa: E402

# Entering torch.backends.mkldnn.flags() warns about TF32 on Intel GPUs; irrelevant here.
warnings.filterwarnings("ignore", message="TF32 acceleration on top of oneDNN")
_T0 = time.perf_counter()

# --------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------

CELLS = ("RNN", "LSTM", "GRU")
SIZES = (64, 128, 256, 512)
THREADS = (1, 2)
T, B = 100, 32
GEN_H, GEN_STEPS = 256, 1000
ATOL = 1e-4

WARMUP = 2  # warm-up repetitions of each library, not timed
MIN_ROUNDS = 5  # timed rounds of [rnnlab, torch], at least
MAX_ROUNDS = 300  # ... and at most (small H gets more rounds)
# Wall-clock seconds of timed rounds to aim for per configuration in the full
# run (24 training + 24 inference + 4 generation configs).  Small H hits
# MAX_ROUNDS first; measured on the 2-core box this comes to roughly 10-12
# minutes in all (more when other work competes for the CPUs, or if one library
# is very slow at H=512, because of MIN_ROUNDS).  --scale multiplies these.
TARGET_S = {"training": 18.0, "inference": 9.0, "generation": 15.0}
QUICK_ROUNDS = 3
# With more than one thread, run a library untimed for this long after the other
# one ran before timing it (see interleave()).
SETTLE_S = 0.2

TARGETS_LINE = (
    "Targets (issue 5): training >= 1.3x and inference >= 1.0x torch.nn for every cell, H "
    "and thread count; generation (the stepper, B=1, H=256) >= 5x nn.LSTM / nn.GRU per "
    "token and >= 2x nn.LSTMCell / nn.GRUCell; at H >= 512 >= 75% of the float32 GEMM "
    "peak measured in the same run; peak memory of a training step <= torch's"
)
GEN_TARGETS = {"tl": 5.0, "tc": 2.0}  # stepper vs torch layer per token, vs torch cell
EFFICIENCY_TARGET, EFFICIENCY_MIN_H = 0.75, 512
GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


def loadavg1() -> float | None:
    """1-minute load average (other people's work shows up here)."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def fmt_load(x: float | None) -> str:
    return "?" if x is None else f"{x:.1f}"


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - _T0:6.0f} s] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Thread control
# --------------------------------------------------------------------------


class Threads:
    """Limit NumPy's BLAS (threadpoolctl) and torch to n threads."""

    def __init__(self, n: int):
        self.n = n

    def __enter__(self):
        self._prev_torch = torch.get_num_threads()
        self._limiter = threadpool_limits(limits=self.n)
        self._limiter.__enter__()
        torch.set_num_threads(self.n)
        # Make sure the limits really apply before we time anything.
        blas = [d for d in threadpool_info() if d.get("user_api") == "blas"]
        bad = [d for d in blas if d.get("num_threads") != self.n]
        if bad or torch.get_num_threads() != self.n:
            raise RuntimeError(
                f"could not set threads to {self.n}: "
                f"blas={[d.get('num_threads') for d in blas]} "
                f"torch={torch.get_num_threads()}"
            )
        return self

    def __exit__(self, *exc):
        self._limiter.__exit__(*exc)
        torch.set_num_threads(self._prev_torch)
        return False


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def torch_class(cell: str):
    return {"RNN": torch.nn.RNN, "LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU}[cell]


def rnnlab_class(cell: str):
    return {"RNN": rnn.RNN, "LSTM": rnn.LSTM, "GRU": rnn.GRU}[cell]


def make_pair(cell: str, D: int, H: int, seed: int):
    """A torch module and an rnnlab module with the same weights."""
    torch.manual_seed(seed)
    kw = {"nonlinearity": "tanh"} if cell == "RNN" else {}
    tmod = torch_class(cell)(D, H, num_layers=1, bias=True, batch_first=False, dropout=0.0, bidirectional=False, **kw)
    tmod = tmod.float()
    rmod = rnnlab_class(cell)(
        D,
        H,
        num_layers=1,
        bias=True,
        batch_first=False,
        dropout=0.0,
        bidirectional=False,
        dtype=np.float32,
        rng=np.random.default_rng(seed),
        **kw,
    )
    rmod.load_state_dict({k: v.detach().numpy().copy() for k, v in tmod.state_dict().items()})
    return tmod, rmod


def _np(a) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().numpy()
    return np.asarray(a)


def maxdiff(a, b) -> float:
    a, b = _np(a), _np(b)
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch {a.shape} vs {b.shape}")
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))


def check_forward(cell: str, tmod, rmod, x: np.ndarray) -> float:
    """Max |rnnlab - torch| over out, h_n (and c_n)."""
    with torch.inference_mode():
        tout, th = tmod(torch.from_numpy(x.copy()))
    rout, rh = rmod.forward(x.copy())
    diffs = [maxdiff(rout, tout)]
    if cell == "LSTM":
        diffs += [maxdiff(rh[0], th[0]), maxdiff(rh[1], th[1])]
    else:
        diffs.append(maxdiff(rh, th))
    return max(diffs)


def check_dx(tmod, rmod, x: np.ndarray, dout: np.ndarray) -> float:
    """Relative max diff of dx between the two libraries (both compute it in the timed runs)."""
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    tmod.zero_grad()
    tout, _ = tmod(xt)
    tout.backward(torch.from_numpy(dout.copy()))
    tmod.zero_grad()
    rmod.zero_grad()
    rmod.forward(x.copy())
    dx, _ = rmod.backward(dout.copy())
    rmod.zero_grad()
    ref = xt.grad.numpy()
    return maxdiff(dx, ref) / max(1e-12, float(np.max(np.abs(ref))))


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


class Timings:
    """What interleave() measured for one function."""

    def __init__(self, times: list, blocks: list, k: int):
        self.times = np.asarray(times)  # every timed run
        self.block_medians = np.asarray([np.median(b) for b in blocks])  # one per round
        self.k = k  # timed runs per round

    @property
    def median(self) -> float:
        return float(np.median(self.times))


def interleave(fns: list, target_s: float, fixed_rounds: int | None, settle_s: float):
    """Warm up each fn WARMUP times, then run rounds of [fn0, fn1, ...].

    With settle_s == 0 (one thread) a round runs each fn once, timed.  With
    settle_s > 0 (several threads) each fn's turn in a round first runs it
    untimed for at least settle_s seconds (at least once), then k timed runs
    (k ~ settle_s / run time, 1..10): the thread pool of the library that just
    ran (OpenBLAS workers, torch's OpenMP threads) keeps spinning for a while
    after its last call and, on a 2-core machine, slows the other library down
    by up to 2x.  Busy runs let those threads go to sleep without letting this
    library's own threads go cold (a sleep() would).

    With fixed_rounds=None the number of rounds is chosen from the last
    warm-up so the rounds take about target_s seconds, clamped to
    [MIN_ROUNDS, MAX_ROUNDS].  Returns ([Timings per fn], rounds).
    """
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        last = [0.0] * len(fns)
        for _ in range(WARMUP):
            for i, fn in enumerate(fns):
                last[i] = timed(fn)
        if settle_s > 0:
            ks = [int(min(10, max(1, round(settle_s / max(t, 1e-9))))) for t in last]
            per_round = sum(k * t + max(settle_s, t) for k, t in zip(ks, last))
        else:
            ks = [1] * len(fns)
            per_round = sum(last)
        if fixed_rounds is not None:
            rounds = fixed_rounds
        else:
            rounds = int(min(MAX_ROUNDS, max(MIN_ROUNDS, math.ceil(target_s / max(per_round, 1e-9)))))
        blocks = [[] for _ in fns]
        for _ in range(rounds):
            for i, fn in enumerate(fns):
                if settle_s > 0:
                    t_switch = time.perf_counter()
                    fn()
                    while time.perf_counter() - t_switch < settle_s:
                        fn()
                blocks[i].append([timed(fn) for _ in range(ks[i])])
    finally:
        if was_enabled:
            gc.enable()
        gc.collect()
    return [Timings([t for b in bl for t in b], bl, k) for bl, k in zip(blocks, ks)], rounds


def fmt_rate(x: float | None) -> str:
    return "—" if x is None else f"{x:,.0f}"


def fmt_ratio(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}x"


def target_mark(ratio: float | None, target: float | None, q25: float | None, q75: float | None) -> str:
    if target is None:
        return "no target"
    if ratio is None:
        return f"NOT MEASURED (>= {target:g}x)"
    ok = ratio >= target
    mark = f"{'MEETS' if ok else 'MISSES'} >= {target:g}x"
    if q25 is not None and q75 is not None and q25 < target <= q75:
        mark += " (noisy: per-round IQR spans target)"
    return mark


def layer_target(mode: str) -> float:
    return 1.3 if mode == "training" else 1.0


def gemm_flops(mode: str, cell: str, H: int) -> float:
    """The GEMM work of one pass (D = H): the input projection and the recurrent matmuls forward;
    training adds the recurrent matmuls backward, dW_ih, dW_hh and dX: 6 units of 2*G*H*H*T*B."""
    units = 6 if mode == "training" else 2
    return units * 2.0 * GATES[cell] * H * H * T * B


def gemm_peak(threads: int, n: int = 2048, repeats: int = 7) -> float:
    """The machine's float32 GEMM rate (FLOP/s) through NumPy's BLAS: median of n^3 products."""
    rs = np.random.default_rng(0)
    a, b = rs.standard_normal((n, n)).astype(np.float32), rs.standard_normal((n, n)).astype(np.float32)
    out = np.empty((n, n), np.float32)
    with Threads(threads):
        np.matmul(a, b, out=out)
        times = [timed(lambda: np.matmul(a, b, out=out)) for _ in range(repeats)]
    return 2.0 * n**3 / float(np.median(times))


# --------------------------------------------------------------------------
# Training / inference
# --------------------------------------------------------------------------


def bench_layer(cell: str, H: int, threads_list, modes, opts, results: dict, counter: dict) -> None:
    D = H
    seed = 1000 + 10 * SIZES.index(H) + CELLS.index(cell) if H in SIZES else 1000 + H
    rs = np.random.default_rng(seed)
    x = rs.standard_normal((T, B, D)).astype(np.float32)
    dout = rs.standard_normal((T, B, H)).astype(np.float32)
    # Separate buffers for each library so neither can see the other's writes.
    x_r, dout_r = x.copy(), dout.copy()
    x_t, dout_t = torch.from_numpy(x.copy()), torch.from_numpy(dout.copy())

    status, note = "ok", ""
    try:
        tmod, rmod = make_pair(cell, D, H, seed)
        with Threads(1):
            diff = check_forward(cell, tmod, rmod, x)
        if not np.isfinite(diff) or diff > ATOL:
            status = "MISMATCH"
            note = f"forward max|diff| = {diff:.2e} > {ATOL:g}; not timed"
        elif "training" in modes:
            with Threads(1):
                rel = check_dx(tmod, rmod, x, dout)
            if not np.isfinite(rel) or rel > 1e-3:
                note = f"warning: dx relative max|diff| = {rel:.2e} vs torch"
    except Exception as exc:  # engine missing a feature, wrong shape, ...
        status = "ERROR"
        note = f"{type(exc).__name__}: {exc}"
        log(traceback.format_exc())

    for mode in modes:
        for n in threads_list:
            counter[mode] += 1
            key = (mode, cell, H, n)
            tag = f"[{mode} {counter[mode]}/{counter[mode + '_total']}] {cell} H={H} threads={n}"
            if status != "ok":
                results[key] = dict(status=status, note=note)
                log(f"{tag}: {status}: {note}")
                continue

            if mode == "training":
                tparams = list(tmod.parameters())
                # rnnlab's backward always returns dx, so torch computes it too: the same work.
                x_tg = x_t.clone().requires_grad_(True)

                def run_r():
                    rmod.zero_grad()
                    rmod.forward(x_r)
                    rmod.backward(dout_r)

                def run_t(x_tg=x_tg):
                    tmod.zero_grad()
                    x_tg.grad = None
                    out, _ = tmod(x_tg)
                    out.backward(dout_t)

                for p in tparams:
                    p.requires_grad_(True)
            else:

                def run_r():
                    rmod.forward(x_r)

                def run_t():
                    with torch.inference_mode():
                        tmod(x_t)

            t_start = time.perf_counter()
            try:
                with Threads(n):
                    (tr, tt), rounds = interleave(
                        [run_r, run_t], TARGET_S[mode] * opts.scale, opts.rounds, opts.settle if n > 1 else 0.0
                    )
            except Exception as exc:
                record_error(results, key, tag, exc)
                continue
            per_round = tt.block_medians / tr.block_medians  # rnnlab tok/s / torch tok/s
            r_rate, t_rate = T * B / tr.median, T * B / tt.median
            res = dict(
                status="ok",
                note=note,
                rnnlab=r_rate,
                torch=t_rate,
                ratio=r_rate / t_rate,
                q25=float(np.percentile(per_round, 25)),
                q75=float(np.percentile(per_round, 75)),
                rounds=rounds,
                load=loadavg1(),
            )
            results[key] = res
            log(
                f"{tag}: rnnlab {r_rate:,.0f} tok/s, torch {t_rate:,.0f} tok/s, "
                f"ratio {res['ratio']:.2f}x (IQR {res['q25']:.2f}-{res['q75']:.2f}, "
                f"{rounds} rounds x {tr.k}/{tt.k} timed runs, {time.perf_counter() - t_start:.1f} s, "
                f"load {fmt_load(res['load'])})"
            )
    gc.collect()


# --------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------


def _cell_state_dict(layer_sd: dict) -> dict:
    """nn.LSTM/nn.GRU state dict (weight_ih_l0, ...) -> cell names (weight_ih, ...)."""
    return {k[:-3] if k.endswith("_l0") else k: v for k, v in layer_sd.items()}


def bench_generation(family: str, H: int, steps: int, threads_list, opts, results: dict, counter: dict) -> None:
    """family in {"LSTM", "GRU"}: rnnlab layer (T=1) / rnnlab cell / torch
    layer (T=1) / torch cell, one token at a time, B=1, D=H."""
    D = H
    seed = 7000 + H + (1 if family == "GRU" else 0)
    torch.manual_seed(seed)
    TL = torch_class(family)
    TC = {"LSTM": torch.nn.LSTMCell, "GRU": torch.nn.GRUCell}[family]
    RL = rnnlab_class(family)
    RC = {"LSTM": rnn.LSTMCell, "GRU": rnn.GRUCell}[family]
    is_lstm = family == "LSTM"

    rs = np.random.default_rng(seed)
    xs = rs.standard_normal((steps, 1, 1, D)).astype(np.float32)  # (steps, T=1, B=1, D)
    xs_t = torch.from_numpy(xs.copy())
    xc = [xs[i, 0].copy() for i in range(steps)]  # (1, D) for rnnlab cells
    xl = [xs[i].copy() for i in range(steps)]  # (1, 1, D) for rnnlab layer
    xc_t = [xs_t[i, 0] for i in range(steps)]
    xl_t = [xs_t[i] for i in range(steps)]
    zr = np.zeros((1, H), np.float32)
    zt = torch.zeros(1, H)

    status, note = "ok", ""
    try:
        tl = TL(D, H).float()
        sd = {k: v.detach().numpy().copy() for k, v in tl.state_dict().items()}
        tc = TC(D, H).float()
        tc.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in _cell_state_dict(sd).items()})
        rl = RL(D, H, dtype=np.float32, rng=np.random.default_rng(seed))
        rl.load_state_dict(sd)
        rc = RC(D, H, dtype=np.float32)
        rc.load_state_dict(_cell_state_dict(sd))
    except Exception as exc:
        status, note = "ERROR", f"{type(exc).__name__}: {exc}"
        log(traceback.format_exc())

    # The four generators; each runs `n` steps from a zero state and returns the
    # final hidden state (numpy / torch).
    def gen_rl(n=steps):
        hx = None
        for i in range(n):
            _, hx = rl.forward(xl[i], hx)
        return hx[0][0] if is_lstm else hx[0]

    def gen_rs(n=steps):
        stepper = rl.stepper()  # made per run, as generation does (it freezes the weights)
        hx = None
        for i in range(n):
            _, hx = stepper.step(xc[i], hx)
        return hx[0][0] if is_lstm else hx[0]

    def gen_rc(n=steps):
        if is_lstm:
            h, c = zr, zr
            for i in range(n):
                h, c = rc.forward(xc[i], (h, c))
        else:
            h = zr
            for i in range(n):
                h = rc.forward(xc[i], h)
        return h

    def gen_tl(n=steps):
        with torch.inference_mode():
            hx = None
            for i in range(n):
                _, hx = tl(xl_t[i], hx)
        return hx[0][0] if is_lstm else hx[0]

    def gen_tn(n=steps):
        # nn.LSTM / nn.GRU per token with oneDNN off: torch's default CPU path for
        # these layers goes through oneDNN, which is slow for T=1, B=1 calls.
        with torch.backends.mkldnn.flags(enabled=False):
            return gen_tl(n)

    def gen_tc(n=steps):
        with torch.inference_mode():
            if is_lstm:
                h, c = zt, zt
                for i in range(n):
                    h, c = tc(xc_t[i], (h, c))
            else:
                h = zt
                for i in range(n):
                    h = tc(xc_t[i], h)
        return h

    if status == "ok":
        try:
            with Threads(1):
                ncheck = min(steps, 50)
                ref = gen_tl(ncheck)
                diffs = {
                    "rnnlab stepper": maxdiff(gen_rs(ncheck), ref),
                    "rnnlab layer": maxdiff(gen_rl(ncheck), ref),
                    "rnnlab cell": maxdiff(gen_rc(ncheck), ref),
                    "torch cell": maxdiff(gen_tc(ncheck), ref),
                    "torch layer, oneDNN off": maxdiff(gen_tn(ncheck), ref),
                }
            bad = {k: v for k, v in diffs.items() if not np.isfinite(v) or v > ATOL}
            if bad:
                status = "MISMATCH"
                note = (
                    "; ".join(f"{k} max|diff| = {v:.2e}" for k, v in bad.items())
                    + f" > {ATOL:g} after {ncheck} steps; not timed"
                )
        except Exception as exc:
            status, note = "ERROR", f"{type(exc).__name__}: {exc}"
            log(traceback.format_exc())

    for n in threads_list:
        counter["generation"] += 1
        tag = f"[generation {counter['generation']}/{counter['generation_total']}] {family} H={H} threads={n}"
        key = ("generation", family, H, n)
        if status != "ok":
            results[key] = dict(status=status, note=note)
            log(f"{tag}: {status}: {note}")
            continue
        t_start = time.perf_counter()
        try:
            with Threads(n):
                (s_, a, b, c, d, e), rounds = interleave(
                    [gen_rs, gen_rl, gen_rc, gen_tl, gen_tc, gen_tn],
                    TARGET_S["generation"] * opts.scale,
                    opts.rounds,
                    opts.settle if n > 1 else 0.0,
                )
        except Exception as exc:
            record_error(results, key, tag, exc)
            continue
        rates = {k: steps / v.median for k, v in (("rs", s_), ("rl", a), ("rc", b), ("tl", c), ("tc", d), ("tn", e))}
        quartiles = {
            f"{ours}_{theirs}_q": (float(np.percentile(q, 25)), float(np.percentile(q, 75)))
            for ours, mine in (("rs", s_), ("rl", a), ("rc", b))
            for theirs, other in (("tl", c), ("tc", d))
            for q in [other.block_medians / mine.block_medians]
        }
        res = dict(status="ok", note=note, rounds=rounds, load=loadavg1(), **rates, **quartiles)
        results[key] = res
        log(
            f"{tag}: rnnlab stepper {rates['rs']:,.0f}, "
            f"rnnlab layer {rates['rl']:,.0f}, rnnlab cell {rates['rc']:,.0f}, "
            f"torch layer {rates['tl']:,.0f}, torch cell {rates['tc']:,.0f}, "
            f"torch layer oneDNN off {rates['tn']:,.0f} tok/s; "
            f"stepper / torch layer {rates['rs'] / rates['tl']:.2f}x, / torch cell "
            f"{rates['rs'] / rates['tc']:.2f}x "
            f"({rounds} rounds, {time.perf_counter() - t_start:.1f} s, load {fmt_load(res['load'])})"
        )
    gc.collect()


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        names, count = [], 0
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                names.append(line.split(":", 1)[1].strip())
            if line.startswith("processor"):
                count += 1
        model = names[0] if names else "unknown"
        return f"{model} ({count} logical CPUs in /proc/cpuinfo)"
    except OSError:
        return platform.processor() or "unknown"


def command_line(args: list[str], hidden: dict[str, str] | None = None) -> str:
    """A command as anyone would type it in the repository: the interpreter relative to it, and
    arguments that are this machine's paths shown by name (`hidden`: {path: NAME})."""
    python = Path(sys.executable)
    python = python.relative_to(REPO_ROOT) if python.is_relative_to(REPO_ROOT) else Path("python")
    script = [os.path.relpath(a, REPO_ROOT) if a.endswith(".py") and Path(a).is_absolute() else a for a in args]
    return shlex.join([str(python), *((hidden or {}).get(a, a) for a in script)])


def _git_rev() -> str:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
        )
        if rev.returncode != 0:
            return "no commit"
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        return rev.stdout.strip() + (" (working tree has uncommitted changes)" if dirty else "")
    except Exception:
        return "unknown"


def _torch_backend() -> str:
    lines = torch.__config__.parallel_info().splitlines()
    keep = [
        ln.strip()
        for ln in lines
        if ln.strip().startswith(
            ("ATen parallel backend", "Intel(R) oneAPI Math Kernel", "Intel(R) MKL-DNN", "OpenBLAS")
        )
    ]
    keep.append(
        f"torch.backends.mkldnn.enabled={torch.backends.mkldnn.enabled} (nn.LSTM/nn.GRU use oneDNN on CPU when enabled)"
    )
    return "; ".join(keep)


def blas_description() -> str:
    """NumPy's BLAS as threadpoolctl sees it: library, version, kernel, threads."""
    blas = [d for d in threadpool_info() if d.get("user_api") == "blas"]
    return (
        "; ".join(
            f"internal_api={d.get('internal_api')}, version={d.get('version')}, "
            f"architecture (kernel)={d.get('architecture')}, num_threads={d.get('num_threads')}, "
            f"threading_layer={d.get('threading_layer')}, file={Path(d.get('filepath', '')).name}"
            for d in blas
        )
        or "none found"
    )


def env_description() -> str:
    """The environment variables that change BLAS/OpenMP speed (reported, never set here)."""
    return ", ".join(
        f"{k}={os.environ[k]!r}" if k in os.environ else f"{k} unset"
        for k in (
            "OPENBLAS_CORETYPE",
            "OPENBLAS_L2_SIZE",
            "OPENBLAS_NUM_THREADS",
            "OMP_NUM_THREADS",
            "OMP_WAIT_POLICY",
            "MKL_NUM_THREADS",
        )
    )


def engine_path() -> str:
    from rnnlab.nn.backend import describe

    return describe()


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def record_error(results: dict, key, tag: str, exc: Exception) -> None:
    """A config that failed: its row says so and the traceback goes to the log."""
    results[key] = dict(status="ERROR", note=f"{type(exc).__name__}: {exc}")
    log(traceback.format_exc())
    log(f"{tag}: ERROR: {exc}")


def environment(argv_line: str, quick: bool, loadavg_start: str, settle: float) -> list[str]:
    blas_s, env = blas_description(), env_description()
    affinity = usable_cpus()
    return [
        "# rnnlab engine benchmark vs torch.nn (CPU)",
        "",
        f"- Date: {_dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- Command: `{argv_line}`" + (" (quick smoke run: H=64 only, 3 rounds; not for conclusions)" if quick else ""),
        f"- CPU: {_cpu_model()}; usable by this process: {affinity}",
        f"- Load average at start: {loadavg_start}",
        f"- Python {platform.python_version()} ({platform.python_implementation()}), "
        f"numpy {np.__version__}, torch {torch.__version__}, rnnlab {rnnlab.__version__} "
        f"(git {_git_rev()})",
        f"- NumPy BLAS (threadpoolctl, at start): {blas_s}",
        f"- rnnlab gate arithmetic: {engine_path()}",
        f"- torch backend: {_torch_backend()}",
        f"- Environment: {env}",
        f"- Shapes: training/inference T={T}, B={B}, D=H, float32, 1 layer, unidirectional; "
        f"threads via threadpool_limits(n) + torch.set_num_threads(n) for both libraries",
        f"- Method: per config, {WARMUP} warm-up runs of each library, then interleaved "
        f"rounds of [rnnlab, torch]; with 2 threads each library's turn starts with "
        f"{settle:g} s of untimed runs (the other library's spinning threads slow it down "
        f"otherwise) and then times k runs; median time of each library over all timed runs; "
        f"tok/s = tokens / median s; ratio = rnnlab tok/s / torch tok/s (> 1: rnnlab faster); "
        f"ratio IQR = 25th-75th percentile of the per-round ratios; "
        f"load = 1-minute load average when the config finished (this "
        f"machine has {os.cpu_count()} CPUs: load above that means other work competed, and "
        f"2-thread rows suffer most). Forward outputs checked equal to {ATOL:g} before timing.",
        "",
        TARGETS_LINE,
        "",
    ]


def layer_table(mode: str, results: dict, cells, sizes, threads_list, peaks: dict) -> list[str]:
    lines = [
        "| cell | H | threads | rnnlab tok/s | torch tok/s | ratio | ratio IQR | rounds | load | target "
        "| rnnlab GEMM GFLOP/s | % of GEMM peak |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|",
    ]
    notes = []
    target = layer_target(mode)
    for cell in cells:
        for H in sizes:
            for n in threads_list:
                r = results.get((mode, cell, H, n))
                if r is None:
                    continue
                if r["status"] != "ok":
                    lines.append(
                        f"| {cell} | {H} | {n} | {r['status']} | — | — | — | — | — | "
                        f"{target_mark(None, target, None, None)} | — | — |"
                    )
                    notes.append(f"- {cell} H={H} threads={n}: {r['note']}")
                    continue
                rate = gemm_flops(mode, cell, H) * r["rnnlab"] / (T * B)  # FLOP/s of GEMM work
                share = rate / peaks[n]
                eff = f"{100 * share:.0f}%"
                if H >= EFFICIENCY_MIN_H:
                    eff += f" {'MEETS' if share >= EFFICIENCY_TARGET else 'MISSES'} >= {EFFICIENCY_TARGET:.0%}"
                lines.append(
                    f"| {cell} | {H} | {n} | {fmt_rate(r['rnnlab'])} | {fmt_rate(r['torch'])} | "
                    f"{fmt_ratio(r['ratio'])} | {r['q25']:.2f}-{r['q75']:.2f} | {r['rounds']} | "
                    f"{fmt_load(r['load'])} | "
                    f"{target_mark(r['ratio'], target, r['q25'], r['q75'])} | {rate / 1e9:.1f} | {eff} |"
                )
                if r.get("note"):
                    notes.append(f"- {cell} H={H} threads={n}: {r['note']}")
    if notes:
        lines += ["", *sorted(set(notes))]
    return lines


def generation_table(results: dict, H: int, steps: int, threads_list) -> list[str]:
    lines = [
        f"B=1, H={H}, D=H, {steps} tokens one at a time, state carried; forward only (torch under "
        "inference_mode). rnnlab's generation path is the stepper (`layer.stepper()`: frozen "
        "weights, one fused GEMV per layer and step; made inside each timed run); for "
        "information also rnnlab's layer forward with T=1 and its cell's forward per token. torch: "
        "nn.LSTM/nn.GRU called per token (its defaults: oneDNN, slow for one-token calls), "
        "nn.LSTMCell/nn.GRUCell per token, and the layer with oneDNN off "
        "(`torch.backends.mkldnn.flags(enabled=False)`). Targets apply to the stepper rows.",
        "",
        "| rnnlab | H | threads | rnnlab tok/s | torch layer tok/s | ratio | IQR | torch cell tok/s "
        "| ratio | IQR | torch oneDNN off tok/s | ratio | rounds | load | target |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    notes = []
    for family in ("LSTM", "GRU"):
        for n in threads_list:
            r = results.get(("generation", family, H, n))
            if r is None:
                continue
            for variant, label in (
                ("rs", f"{family}.stepper()"),
                ("rl", f"{family} forward, T=1"),
                ("rc", f"{family}Cell forward"),
            ):
                targeted = variant == "rs"
                if r["status"] != "ok":
                    lines.append(
                        f"| {label} | {H} | {n} | {r['status']} |"
                        + " — |" * 10
                        + (" NOT MEASURED |" if targeted else " |")
                    )
                    notes.append(f"- {family} threads={n}: {r['note']}")
                    continue
                ratios = {k: r[variant] / r[k] for k in ("tl", "tc", "tn")}
                marks = "; ".join(
                    target_mark(ratios[k], GEN_TARGETS[k], *r[f"{variant}_{k}_q"])
                    + (" vs layer" if k == "tl" else " vs cell")
                    for k in ("tl", "tc")
                )
                (l25, l75), (c25, c75) = r[f"{variant}_tl_q"], r[f"{variant}_tc_q"]
                lines.append(
                    f"| {label} | {H} | {n} | {fmt_rate(r[variant])} | {fmt_rate(r['tl'])} | "
                    f"{fmt_ratio(ratios['tl'])} | {l25:.2f}-{l75:.2f} | {fmt_rate(r['tc'])} | "
                    f"{fmt_ratio(ratios['tc'])} | {c25:.2f}-{c75:.2f} | {fmt_rate(r['tn'])} | "
                    f"{fmt_ratio(ratios['tn'])} | {r['rounds']} | {fmt_load(r['load'])} | "
                    f"{marks if targeted else 'information'} |"
                )
    if notes:
        lines += ["", *sorted(set(notes))]
    return lines


def summary(results: dict, peaks: dict, memory: dict) -> list[str]:
    checks = []  # (met or None when not measured)
    for (mode, cell, H, n), r in results.items():
        ok = r["status"] == "ok"
        if mode in ("training", "inference"):
            checks.append(r["ratio"] >= layer_target(mode) if ok else None)
            if H >= EFFICIENCY_MIN_H:
                share = gemm_flops(mode, cell, H) * r["rnnlab"] / (T * B) / peaks[n] if ok else None
                checks.append(None if share is None else share >= EFFICIENCY_TARGET)
        elif mode == "generation":
            for k, target in GEN_TARGETS.items():
                checks.append(r["rs"] / r[k] >= target if ok else None)
    for r in memory.values():
        checks.append(r["rnnlab"] <= r["torch"] if r.get("ok") else None)
    met, missed = checks.count(True), checks.count(False)
    return [
        f"Target rows: {met} meet, {missed} miss, {checks.count(None)} not measured "
        "(ratio of medians; see the IQR columns for how noisy each is)."
    ]


# --------------------------------------------------------------------------
# Peak memory of a training step (each measurement in a fresh process)
# --------------------------------------------------------------------------


def _status_bytes(field: str) -> int:
    """VmRSS (resident now) or VmHWM (its high-water mark) of this process, in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise OSError(f"no {field} in /proc/self/status")


def memory_probe(library: str, cell: str, H: int) -> None:
    """Child process: warm up on a tiny model of the same kind (numba's kernels load, oneDNN's
    libraries initialise; neither is the step's memory, and a warm-up on the measured model itself
    would leave its buffers in the allocator's free lists, hiding the step's peak), build the
    measured model and batch, reset the kernel's high-water mark of resident memory (writing 5 to
    /proc/self/clear_refs, Linux >= 4.0), run one training step and print the high-water mark
    minus the resident memory before the step, in bytes."""
    threadpool_limits(1)
    torch.set_num_threads(1)

    def make_step(size: int):
        rs = np.random.default_rng(0)
        x = rs.standard_normal((T, B, size)).astype(np.float32)
        dout = rs.standard_normal((T, B, size)).astype(np.float32)
        if library == "rnnlab":
            m = rnnlab_class(cell)(size, size, dtype=np.float32, rng=rs)

            def step():
                m.zero_grad()
                m.forward(x)
                m.backward(dout)

            return step
        m = torch_class(cell)(size, size)
        xt, dt = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(dout)

        def step():
            m.zero_grad()
            xt.grad = None
            out, _ = m(xt)
            out.backward(dt)

        return step

    make_step(8)()
    step = make_step(H)
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = _status_bytes("VmRSS")
    step()
    print(_status_bytes("VmHWM") - before)


def bench_memory(sizes) -> dict:
    results = {}
    for cell in CELLS:
        for H in sizes:
            row = {"ok": True}
            for library in ("rnnlab", "torch"):
                out = subprocess.run(
                    [sys.executable, __file__, "--memory-probe", library, cell, str(H)],
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                try:
                    row[library] = int(out.stdout.split()[-1])
                except (ValueError, IndexError):
                    row = {"ok": False, "note": " ".join(out.stderr.strip().splitlines()[-1:])}
                    break
            results[(cell, H)] = row
            log(f"[memory] {cell} H={H}: {row}")
    return results


def memory_table(memory: dict) -> list[str]:
    lines = [
        f"One training step (forward + backward, dx included), T={T}, B={B}, D=H, float32, 1 "
        "thread, in a fresh process per library and size: the kernel's high-water mark of "
        "resident memory (VmHWM, reset just before) during the step minus the resident memory "
        "just before it (model and batch built; the libraries warmed up on a model with H=8).",
        "",
        "| cell | H | rnnlab MiB | torch MiB | rnnlab / torch | target |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for (cell, H), r in memory.items():
        if not r.get("ok"):
            lines.append(f"| {cell} | {H} | — | — | — | NOT MEASURED ({r['note']}) |")
            continue
        ratio = r["rnnlab"] / max(r["torch"], 1)
        lines.append(
            f"| {cell} | {H} | {r['rnnlab'] / 2**20:.1f} | {r['torch'] / 2**20:.1f} | {ratio:.2f} | "
            f"{'MEETS' if r['rnnlab'] <= r['torch'] else 'MISSES'} <= torch |"
        )
    return lines


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="smoke test: H=64 only, 3 rounds (generation too)")
    ap.add_argument("--out", type=Path, default=None, help="also write the Markdown report here")
    ap.add_argument(
        "--scale", type=float, default=1.0, help="multiply the per-config time budget (default 1.0 ~ 10-15 min)"
    )
    ap.add_argument(
        "--rounds", type=int, default=None, help="fixed number of rounds per config (default: from the time budget)"
    )
    ap.add_argument("--memory-probe", nargs=3, metavar=("LIBRARY", "CELL", "H"), help=argparse.SUPPRESS)
    ap.add_argument(
        "--settle",
        type=float,
        default=SETTLE_S,
        help=f"with 2 threads, seconds of untimed runs after switching library (default {SETTLE_S})",
    )
    args = ap.parse_args(argv)
    if args.memory_probe:  # the child process of bench_memory()
        library, cell, H = args.memory_probe
        memory_probe(library, cell, int(H))
        return 0

    argv_line = command_line(sys.argv if argv is None else [__file__, *argv])
    try:
        loadavg = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        loadavg = "unknown"
    header = environment(argv_line, args.quick, loadavg, args.settle)

    sizes = (64,) if args.quick else SIZES
    gen_h = 64 if args.quick else GEN_H
    opts = argparse.Namespace(rounds=QUICK_ROUNDS if args.quick else args.rounds, scale=args.scale, settle=args.settle)
    modes = ("training", "inference")
    counter = {
        "training": 0,
        "inference": 0,
        "generation": 0,
        "training_total": len(CELLS) * len(sizes) * len(THREADS),
        "inference_total": len(CELLS) * len(sizes) * len(THREADS),
        "generation_total": 2 * len(THREADS),
    }
    results: dict = {}
    t0 = time.perf_counter()
    log(
        f"bench_engine: {'quick' if args.quick else 'full'} run, "
        f"{counter['training_total']} training + {counter['inference_total']} inference + "
        f"{counter['generation_total']} generation configs"
    )

    for cell in CELLS:
        for H in sizes:
            bench_layer(cell, H, THREADS, modes, opts, results, counter)
    for family in ("LSTM", "GRU"):
        bench_generation(family, gen_h, GEN_STEPS, THREADS, opts, results, counter)
    peaks = {n: gemm_peak(n) for n in THREADS}
    log("float32 GEMM peak (2048^3): " + ", ".join(f"{n} thread(s) {p / 1e9:.1f} GFLOP/s" for n, p in peaks.items()))
    memory = bench_memory(sizes)

    elapsed = time.perf_counter() - t0
    try:
        loadavg_end = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        loadavg_end = "unknown"
    report = header + [
        "## Training (forward + backward)",
        "",
        "Both compute dx: torch's params and x require grad, `out.backward(dout)`, "
        "`zero_grad()` each iteration; rnnlab: `zero_grad(); forward(x); backward(dout)`.",
        "",
        "GEMM GFLOP/s counts only the GEMM work a step must do (6 units of 2·G·H·H·T·B in "
        "training, 2 in inference; G = 1, 4, 3 gate blocks for RNN, LSTM, GRU) divided by rnnlab's "
        "median time; the peak is NumPy's float32 GEMM on 2048x2048 matrices in this run: "
        + ", ".join(f"{p / 1e9:.1f} GFLOP/s on {n} thread{'s' if n > 1 else ''}" for n, p in peaks.items())
        + ".",
        "",
        *layer_table("training", results, CELLS, sizes, THREADS, peaks),
        "",
        "## Inference (forward only)",
        "",
        *layer_table("inference", results, CELLS, sizes, THREADS, peaks),
        "",
        "## Generation (one token at a time)",
        "",
        *generation_table(results, gen_h, GEN_STEPS, THREADS),
        "",
        "## Peak memory of a training step",
        "",
        *memory_table(memory),
        "",
        "## Summary",
        "",
        TARGETS_LINE,
        "",
        *summary(results, peaks, memory),
        "",
        f"Total wall time {elapsed / 60:.1f} min; load average at end: {loadavg_end}.",
        "",
    ]
    text = "\n".join(report)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
        log(f"wrote {args.out}")
    bad = [k for k, r in results.items() if r["status"] != "ok"]
    log(f"done in {elapsed / 60:.1f} min" + (f"; {len(bad)} configs failed/mismatched" if bad else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
