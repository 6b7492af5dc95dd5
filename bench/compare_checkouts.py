#!/usr/bin/env python
"""This checkout's engine against another checkout's, interleaved in one process: did a change
make the engine slower?

Usage (from the repository root):

    git worktree add ../baseline <commit>            # the engine as it was
    .venv/bin/python bench/compare_checkouts.py --baseline ../baseline [--quick] [--out FILE]

The baseline's package is imported under another name (rnnlab_baseline), so both engines run
side by side on the same weights (the baseline's state_dict loaded into this one's) and inputs,
the outputs checked equal to 1e-4 before timing. Measured, for RNN(tanh), LSTM and GRU:

* training  : zero_grad, forward, backward of (T=100, B=32, D=H) float32, H in 64, 256, 512
* inference : forward only
* generation: B=1, H=256, 200 tokens one at a time through `layer.stepper()`

on 1 and 2 BLAS threads, on the compiled backend (and with --numpy also on the NumPy one).
Rounds of [this, baseline] alternate (bench_engine.interleave, with its settle runs on 2
threads); reported are the medians, ratio = baseline time / this time (> 1: this checkout is
faster) and the IQR of the per-round ratios as a noise gauge.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# numba's cached kernels name the module they were compiled in; the baseline's, if it was ever run
# as `rnnlab`, would not load as `rnnlab_baseline`: both sides compile afresh into a cache of their own.
os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="rnnlab-compare-")
REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))

from bench_engine import Threads, _cpu_model, _git_rev, blas_description, command_line, interleave  # noqa: E402

import rnnlab.nn as new_nn  # noqa: E402

T, B, GEN_H, GEN_STEPS = 100, 32, 256, 200


def import_baseline(checkout: Path):
    """The other checkout's rnnlab package, imported as `rnnlab_baseline`."""
    init = checkout / "rnnlab" / "__init__.py"
    if not init.is_file():
        raise SystemExit(f"{checkout} holds no rnnlab/__init__.py")
    spec = importlib.util.spec_from_file_location(
        "rnnlab_baseline", init, submodule_search_locations=[str(init.parent)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["rnnlab_baseline"] = module
    spec.loader.exec_module(module)
    return importlib.import_module("rnnlab_baseline.nn")


def on_backend(nn, name: str):
    """A context in which `nn`'s layers run on `name` ("numpy" or "compiled"), for the API of
    either side (use_backend since the cell-kind change, kernels.use_compiled before it)."""
    if hasattr(nn, "use_backend"):
        return nn.use_backend(name)
    kernels = importlib.import_module(nn.__name__ + ".kernels")

    @contextlib.contextmanager
    def switch():
        before = kernels.compiled_active()
        kernels.use_compiled(name == "compiled")
        try:
            yield
        finally:
            kernels.use_compiled(before)

    return switch()


def pair(old_nn, cell: str, H: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    new = getattr(new_nn, cell)(H, H, rng=rng)
    old = getattr(old_nn, cell)(H, H, rng=np.random.default_rng(seed))
    new.load_state_dict(old.state_dict())
    return new, old


def row(mode: str, cell: str, H: int, threads: int, fns, target: float) -> str:
    """One table row: [this, baseline] timed interleaved on `threads` threads (printed as it comes)."""
    with Threads(threads):
        new, old = interleave(fns, target, None, 0.2 if threads > 1 else 0.0)[0]
    ratios = old.block_medians / new.block_medians
    q25, q75 = np.percentile(ratios, [25, 75])
    line = (f"| {mode} | {cell} | {H} | {threads} | {new.median * 1e3:.2f} | {old.median * 1e3:.2f} | "
            f"{old.median / new.median:.3f} | {q25:.2f}-{q75:.2f} |")  # fmt: skip
    print(line, file=sys.stderr, flush=True)
    return line


def bench(old_nn, backend: str, cells, sizes, threads_list, target: float, generation: bool) -> list[str]:
    rows = []
    for cell in cells:
        for H in sizes:
            new, old = pair(old_nn, cell, H)
            x = np.random.default_rng(1).standard_normal((T, B, H)).astype(np.float32)
            dout = np.ones((T, B, H), np.float32)
            with on_backend(new_nn, backend), on_backend(old_nn, backend):
                diff = float(np.abs(new.forward(x)[0] - old.forward(x)[0]).max())
                if diff > 1e-4:
                    raise SystemExit(f"{cell} H={H}: the two engines differ by {diff:.2e}")

                def train(m, x=x, dout=dout):
                    def run():
                        m.zero_grad()
                        m.forward(x)
                        m.backward(dout)

                    return run

                for mode, make in (("training", train), ("inference", lambda m, x=x: lambda: m.forward(x))):
                    for threads in threads_list:
                        rows.append(row(mode, cell, H, threads, [make(new), make(old)], target))
        if not generation:
            continue
        new, old = pair(old_nn, cell, GEN_H)
        tokens = np.random.default_rng(2).standard_normal((GEN_STEPS, 1, GEN_H)).astype(np.float32)

        def generate(m, tokens=tokens):
            def run():
                stepper, state = m.stepper(), None
                for t in range(GEN_STEPS):
                    _, state = stepper.step(tokens[t], state)

            return run

        with on_backend(new_nn, backend), on_backend(old_nn, backend):
            for threads in threads_list:
                rows.append(row("generation", cell, GEN_H, threads, [generate(new), generate(old)], target))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline", type=Path, required=True, help="the other checkout (a folder holding rnnlab/)")
    ap.add_argument("--quick", action="store_true", help="H = 64 and 256, about 1 s per configuration")
    ap.add_argument("--numpy", action="store_true", help="also compare the NumPy backends")
    ap.add_argument("--cells", nargs="+", default=["RNN", "LSTM", "GRU"], help="which cells (default all three)")
    ap.add_argument("--sizes", nargs="+", type=int, help="hidden sizes (default 64 256 512; --quick: 64 256)")
    ap.add_argument("--seconds", type=float, help="timed seconds per configuration (default 4; --quick: 1)")
    ap.add_argument("--no-generation", action="store_true", help="leave out the generation rows")
    ap.add_argument("--out", type=Path, help="also write the Markdown report here")
    args = ap.parse_args(argv)
    old_nn = import_baseline(args.baseline.resolve())
    baseline_rev = (
        subprocess.run(
            ["git", "-C", str(args.baseline), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        or "unknown"
    )
    sizes, target = ((64, 256), 1.0) if args.quick else ((64, 256, 512), 4.0)
    sizes, target = args.sizes or sizes, args.seconds or target
    report = [
        "# This checkout's engine against a baseline checkout, interleaved",
        "",
        f"- Command: `{command_line(sys.argv, {str(args.baseline): 'BASELINE'})}`, "
        f"BASELINE a checkout of git {baseline_rev}",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M %Z')}; this checkout git {_git_rev()}; baseline git {baseline_rev}; "
        f"CPU: {_cpu_model()}",
        f"- NumPy BLAS: {blas_description()}",
        f"- Method: bench/compare_checkouts.py's docstring; T={T}, B={B}, float32; ratio = baseline time / "
        "this time (> 1: this checkout faster); IQR of the per-round ratios",
        "",
    ]
    for backend in ("compiled", "numpy") if args.numpy else ("compiled",):
        rows = bench(old_nn, backend, args.cells, sizes, (1, 2), target, not args.no_generation)
        ratios = np.array([float(row.split("|")[7]) for row in rows])
        report += [
            f"## {backend} backend",
            "",
            f"Over the {len(ratios)} rows: geometric mean ratio {np.exp(np.log(ratios).mean()):.3f}, median "
            f"{np.median(ratios):.3f}, range {ratios.min():.3f}-{ratios.max():.3f}.",
            "",
            "| mode | cell | H | threads | this (ms) | baseline (ms) | ratio | ratio IQR |",
            "|---|---|---:|---:|---:|---:|---:|---|",
            *rows,
            "",
        ]
    text = "\n".join(report)
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
