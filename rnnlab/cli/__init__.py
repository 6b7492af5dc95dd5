"""The command line: the one place that parses argv and decides what is printed.

    rnnlab fit         fit a model to your own file: classify, tag, forecast, seq2seq, lm, ocr
    rnnlab predict     apply a fitted run to new inputs (a file or stdin)
    rnnlab evaluate    a fitted run's metrics on a labelled file (JSON and a picture)
    rnnlab train       train a character-level language model (on a built-in corpus by default)
    rnnlab sample      write text with a trained model
    rnnlab resume      continue an interrupted run exactly, or a finished one for more steps
    rnnlab eval        loss and bits per character of a trained model on any text
    rnnlab export      write a trained model for onnxruntime (ONNX) or PyTorch
    rnnlab info        version, NumPy/BLAS configuration, optional extras, engine backend
    rnnlab demo        an LSTM learns to echo its input (the engine alone)
    rnnlab experiment  the lectures' experiments (rnnlab experiment --list)
    rnnlab translate   use a trained seq2seq model of `rnnlab experiment dates|translate|reverse`
    rnnlab diagnose    gradient flow, Jacobians, gates and memory of a trained char-LM
    rnnlab study       gradient flow of five RNNs on the adding problem; recursions; NOR circuits
    rnnlab view        a self-contained HTML page to look inside a trained char-LM
    rnnlab runs        a table of the runs under a folder: task, model, best score, steps, wall time, status
    rnnlab report      one self-contained HTML page comparing runs: config diff, curves, samples, figures
    rnnlab export-states  a char-LM's hidden states on a text, in the files LSTMVis reads (HDF5)
    rnnlab data        the outside data sets: list (licences, where), fetch into the cache, path

One module per command group (fit, use, charlm, export, info, experiment, analysis, view, report,
data) adds its commands and their options beside the code that reads them; what a command does
beyond parsing and printing lives in importable modules (rnnlab.runs, rnnlab.experiments, rnnlab.analysis,
rnnlab.data.datasets) that a notebook uses the same way. Errors are one line on stderr with exit
code 2 (`--debug` shows the traceback); NumPy's floating-point warnings are summed up in one line
after a command that succeeds, and left out after one that fails (its error says what went wrong).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from .. import __version__
from . import analysis, charlm, data, experiment, export, fit, info, report, use, view
from .common import Parser

# in the order `rnnlab --help` lists them
GROUPS = (fit, use, charlm, export, info, experiment, analysis, view, report, data)


def parser() -> argparse.ArgumentParser:
    top = Parser(
        prog="rnnlab",
        description="rnnlab: a workbench for recurrent neural networks "
        "(an engine in NumPy with hand-derived backpropagation through time).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run `rnnlab COMMAND --help` for each command's options.",
    )
    top.add_argument("--version", action="version", version=f"rnnlab {__version__}")
    common = Parser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = top.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, run, **kw) -> argparse.ArgumentParser:
        """A subcommand (with --debug) whose `run(args) -> exit status` is called by main()."""
        parser = sub.add_parser(name, parents=[common], **kw)
        parser.set_defaults(handler=run)
        return parser

    for group in GROUPS:
        group.add_commands(command)
    return top


def main(argv: list[str] | None = None) -> int:
    top = parser()
    try:
        args = top.parse_args(argv)
    except SystemExit as exit_:  # --help, --version, or a usage error already printed
        return int(exit_.code or 0)
    if args.command is None:
        top.print_help()
        return 0
    if args.debug:
        return _run(args)  # tracebacks, and every warning as Python shows it
    with warnings.catch_warnings():
        numeric = _count_numeric_warnings()
        status = _run(args)
    if numeric and status == 0:  # a failure's one line says enough; a success gets one line more
        print(
            f"rnnlab: warning: non-finite arithmetic in {len(numeric)} place(s) (values too large for the "
            f"model, or a learning rate too high?), e.g. {numeric[0]}",
            file=sys.stderr,
        )
    return status


def _count_numeric_warnings() -> list[str]:
    """NumPy's floating-point warnings ("overflow encountered in matmul" ...), collected instead of
    printed: a diverging run or a file of huge values would print them by the dozen, two lines
    each. Every other warning shows as usual. Call inside warnings.catch_warnings()."""
    seen: list[str] = []
    show = warnings.showwarning

    def collect(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, RuntimeWarning) and "encountered in" in str(message):
            seen.append(f"{message} ({Path(filename).name}:{lineno})")
        else:
            show(message, category, filename, lineno, file, line)

    warnings.showwarning = collect
    return seen


def _run(args) -> int:
    """The command's handler; an expected failure becomes one line on stderr and exit code 2."""
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("rnnlab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`rnnlab predict ... | head`): stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0
    except (ValueError, TypeError, OSError) as err:  # DataError and CheckpointError are ValueErrors
        if args.debug:
            raise
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"rnnlab: error: {message}", file=sys.stderr)
        return 2
    except MemoryError as err:  # what no size check foresaw: one line, not a traceback
        if args.debug:
            raise
        print(f"rnnlab: error: out of memory ({err or 'MemoryError'}); ask for smaller sizes", file=sys.stderr)
        return 2
