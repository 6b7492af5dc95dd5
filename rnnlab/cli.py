"""The command line: the one place that parses argv and decides what is printed."""

from __future__ import annotations

import argparse
import sys
import time

from . import __version__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnlab",
        description="rnnlab: a workbench for recurrent neural networks. With no command it runs "
        "the demo: an LSTM, written in NumPy with hand-derived backpropagation through time, "
        "learns to echo its input a few steps late.",
    )
    parser.add_argument("--version", action="version", version=f"rnnlab {__version__}")
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="an LSTM learns a delayed echo; its loss falls (the default)",
                          description="Train an LSTM to output its input from --delay steps "
                          "earlier. Predicting nothing scores a mean squared error of 1.0.")
    _demo_options(demo)
    _demo_options(parser)  # so that a bare `rnnlab --steps 100` works too
    return parser


def _demo_options(parser: argparse.ArgumentParser) -> None:
    from .demo import EchoConfig

    d = EchoConfig()
    parser.add_argument("--delay", type=int, default=d.delay, help=f"steps of delay to remember (default {d.delay})")
    parser.add_argument("--hidden", type=int, default=d.hidden, help=f"LSTM hidden size (default {d.hidden})")
    parser.add_argument("--steps", type=int, default=d.steps, help=f"training steps (default {d.steps})")
    parser.add_argument("--lr", type=float, default=d.lr, help=f"Adam learning rate (default {d.lr})")
    parser.add_argument("--seed", type=int, default=d.seed, help=f"random seed (default {d.seed})")


def run_demo(args: argparse.Namespace) -> int:
    from .demo import EchoConfig, train_echo

    cfg = EchoConfig(delay=args.delay, hidden=args.hidden, steps=args.steps, lr=args.lr, seed=args.seed)
    if cfg.delay < 1 or cfg.delay >= cfg.seq_len or cfg.hidden < 1 or cfg.steps < 1:
        raise ValueError(f"need 1 <= --delay < {cfg.seq_len}, --hidden >= 1 and --steps >= 1")
    print(f"rnnlab {__version__} demo: LSTM(1, {cfg.hidden}) learns to echo its input "
          f"{cfg.delay} steps late (MSE of knowing nothing: 1.0)")
    start = time.perf_counter()
    every = max(1, cfg.steps // 10)

    def report(step: int, loss: float) -> None:
        if step == 1 or step % every == 0:
            print(f"  step {step:5d}/{cfg.steps}  loss {loss:.4f}  ({time.perf_counter() - start:.1f} s)",
                  flush=True)

    losses = train_echo(cfg, report)
    first, last = losses[0], sum(losses[-10:]) / min(10, len(losses))
    print(f"loss fell from {first:.4f} to {last:.4f} (mean of the last 10 steps) "
          f"in {time.perf_counter() - start:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return run_demo(args)
    except (ValueError, TypeError) as err:
        print(f"rnnlab: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rnnlab: interrupted", file=sys.stderr)
        return 130
