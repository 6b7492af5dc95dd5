"""`rnnlab info` (what is installed and which engine backend runs) and `rnnlab demo`."""

from __future__ import annotations

import importlib.util
import sys
import time

import numpy as np

from .. import __version__
from ..experiments.common import non_negative_int, positive_float, positive_int

EXTRAS = ("torch", "onnx", "onnxruntime", "matplotlib", "safetensors", "numba", "statsmodels", "h5py")


def add_commands(command) -> None:
    command(
        "info",
        run_info,
        help="version, NumPy/BLAS configuration, optional extras",
        description="Print the version, the NumPy/BLAS configuration, which optional extras are installed "
        "and which engine backend runs.",
    )
    from ..demo import EchoConfig

    e = EchoConfig()
    demo = command(
        "demo",
        run_demo,
        help="an LSTM learns to echo its input a few steps late",
        description="The engine alone: an LSTM learns to output its input from --delay "
        "steps earlier (predicting nothing scores a mean squared error of 1.0).",
    )
    demo.add_argument(
        "--delay", type=positive_int, default=e.delay, help=f"steps of delay to remember (default {e.delay})"
    )
    demo.add_argument("--hidden", type=positive_int, default=e.hidden, help=f"LSTM hidden size (default {e.hidden})")
    demo.add_argument("--steps", type=positive_int, default=e.steps, help=f"training steps (default {e.steps})")
    demo.add_argument("--lr", type=positive_float, default=e.lr, help=f"Adam learning rate (default {e.lr})")
    demo.add_argument("--seed", type=non_negative_int, default=e.seed, help=f"random seed (default {e.seed})")


def run_info(args) -> int:
    from ..nn import cells
    from ..nn.backend import describe

    print(f"rnnlab {__version__}, Python {sys.version.split()[0]}, NumPy {np.__version__}")
    try:
        from threadpoolctl import threadpool_info

        for lib in threadpool_info():
            if lib["user_api"] == "blas":
                print(
                    f"BLAS: {lib['internal_api']} {lib.get('version')}, kernel {lib.get('architecture')}, "
                    f"{lib['num_threads']} threads"
                )
    except ImportError:
        print("BLAS: threadpoolctl not installed, cannot tell")
    for extra in EXTRAS:
        print(f"{extra}: {'found' if importlib.util.find_spec(extra) else 'not installed'}")
    print(f"engine: {describe()}")
    kinds = (cells.get(name) for name in cells.names())
    print("cell kinds: " + ", ".join(f"{k.name} ({'numpy, compiled' if k.has_kernels else 'numpy'})" for k in kinds))
    return 0


def run_demo(args) -> int:
    from ..demo import EchoConfig, train_echo

    cfg = EchoConfig(delay=args.delay, hidden=args.hidden, steps=args.steps, lr=args.lr, seed=args.seed)
    if cfg.delay >= cfg.seq_len:  # the types saw to the rest
        raise ValueError(f"--delay must be below {cfg.seq_len}, the length of a sequence, got {cfg.delay}")
    from ..train.limits import require_memory, training_bytes

    H = cfg.hidden  # an LSTM(1, H) and a readout; a step records about 16 numbers per unit and time step
    activations = 16 * cfg.seq_len * cfg.batch * H
    require_memory(training_bytes(4 * H * (H + 3) + H + 1, activations), f"an LSTM of {H:,} units", "--hidden")
    print(
        f"rnnlab {__version__} demo: LSTM(1, {cfg.hidden}) learns to echo its input {cfg.delay} steps late "
        "(MSE of knowing nothing: 1.0)"
    )
    start = time.perf_counter()
    every = max(1, cfg.steps // 10)

    def report(step: int, loss: float) -> None:
        if step == 1 or step % every == 0:
            print(f"  step {step:5d}/{cfg.steps}  loss {loss:.4f}  ({time.perf_counter() - start:.1f} s)", flush=True)

    losses = train_echo(cfg, report)
    print(
        f"loss fell from {losses[0]:.4f} to {sum(losses[-10:]) / min(10, len(losses)):.4f} "
        f"(mean of the last 10 steps) in {time.perf_counter() - start:.1f} s"
    )
    return 0
