#!/usr/bin/env python
"""Training throughput of the main job (`rnnlab train` with its defaults) on the NumPy reference
path and on the compiled path, in one process.

Usage (from the repository root):

    .venv/bin/python bench/main_job.py --out docs/main_job.md   # ~3 minutes

The main job's model and data: the built-in corpus python-docs, a 2-layer LSTM of 256 units with
64-wide embeddings, windows of 100 characters, 32 streams, Adam, global-norm clipping at 5
(rnnlab.runs.charlm.TrainSpec). One training step is what the Trainer does per step (CharLMTask's
forward and backward, clipping, Adam). The two paths alternate in blocks (3 untimed steps, then
--steps timed ones) for --rounds rounds, on 1 and on 2 BLAS threads; reported are the median
step times and characters per second. The reference path is the engine as it was before the
compiled kernels (cells/*.py are unchanged), so its row is the "before".
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))

from bench_engine import (  # noqa: E402
    Threads,
    _cpu_model,
    _git_rev,
    blas_description,
    command_line,
    engine_path,
    env_description,
)
from charlm_vs_torch import RnnlabRun  # noqa: E402

from rnnlab.data.text import Vocab, builtin_corpus, split  # noqa: E402
from rnnlab.models.charlm import CharLM, CharLMConfig  # noqa: E402
from rnnlab.nn import backend, use_backend  # noqa: E402
from rnnlab.runs.charlm import TrainSpec  # noqa: E402

D = asdict(TrainSpec())  # the main job: `rnnlab train` with its defaults


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=6, help="alternations of the two paths (default 6)")
    ap.add_argument("--steps", type=int, default=5, help="timed steps per path and round (default 5)")
    ap.add_argument("--out", type=Path, help="also write the Markdown report here")
    args = ap.parse_args(argv)
    if not backend.numba_available():
        print("the compiled path needs numba: .venv/bin/pip install -e '.[fast]'", file=sys.stderr)
        return 2

    text = builtin_corpus(D["corpus"])
    vocab = Vocab.from_text(text)
    ids, _ = vocab.encode(text)
    train_ids, val_ids = split(ids, D["val_fraction"], source=D["corpus"])
    cfg = CharLMConfig(
        vocab_size=vocab.size, model=D["model"], hidden=D["hidden"], layers=D["layers"], embedding=D["embedding"]
    )
    weights = CharLM(cfg, np.random.default_rng(D["seed"])).state_dict()
    run_args = argparse.Namespace(
        batch=D["batch"],
        seq_len=D["seq_len"],
        eval_windows=1,
        lr=D["lr"],
        beta1=0.9,
        beta2=0.999,
        eps=1e-8,
        clip=D["clip"],
    )
    chars = D["batch"] * D["seq_len"]
    rows = []
    for threads in (1, 2):
        runs = {
            "reference (before)": RnnlabRun(cfg, weights, vocab, train_ids, val_ids, run_args),
            "compiled (after)": RnnlabRun(cfg, weights, vocab, train_ids, val_ids, run_args),
        }
        times = {name: [] for name in runs}
        k = 0
        with Threads(threads):
            for _ in range(args.rounds):
                for name, run in runs.items():
                    with use_backend("compiled" if name.startswith("compiled") else "numpy"):
                        for _ in range(3):
                            run.step(k)
                            k += 1
                        for _ in range(args.steps):
                            t0 = time.perf_counter()
                            run.step(k)
                            times[name].append(time.perf_counter() - t0)
                            k += 1
        before = float(np.median(times["reference (before)"]))
        for name, ts in times.items():
            median = float(np.median(ts))
            rows.append(f"| {name} | {threads} | {median * 1e3:.1f} | {chars / median:,.0f} | {before / median:.2f}x |")
            print(f"{threads} thread(s), {name}: {median * 1e3:.1f} ms/step", file=sys.stderr)

    report = [
        "# The main job's training throughput: before and after the compiled kernels",
        "",
        f"- Command: `{command_line(sys.argv)}`",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M %Z')}; git {_git_rev()}; CPU: {_cpu_model()}",
        f"- NumPy BLAS: {blas_description()}",
        f"- Environment: {env_description()}; compiled path: {engine_path()}",
        f"- The main job: `rnnlab train` defaults, {D['layers']}x{D['hidden']} LSTM, embedding "
        f"{D['embedding']}, {D['batch']} streams x {D['seq_len']} characters = {chars:,} characters "
        f"per step, on the built-in corpus {D['corpus']}; one step = forward, backward, clipping, Adam",
        f"- Method: the two paths alternate in blocks ({args.rounds} rounds of 3 untimed + "
        f"{args.steps} timed steps each); medians",
        "",
        "| path | threads | ms per step | characters/s | vs before |",
        "|---|---:|---:|---:|---:|",
        *rows,
        "",
    ]
    text_out = "\n".join(report)
    print(text_out)
    if args.out:
        args.out.write_text(text_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
