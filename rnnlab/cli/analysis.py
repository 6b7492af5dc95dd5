"""`rnnlab diagnose` (a trained char-LM's gradient flow, Jacobians, gates and memory) and
`rnnlab study` (the lectures' studies); rnnlab.analysis computes, this module prints."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ..experiments.common import non_negative_float, non_negative_int, positive_float, positive_int
from .common import one_blas_thread, out_folder, plots_available

STUDIES = ("gradflow", "recursions", "circuits", "mlp-gradients", "bouncing-ball")
NO_PICTURES = 'no pictures: they need matplotlib: pip install -e ".[plot]"'


def add_commands(command) -> None:
    from ..analysis.studies import MODEL_NAMES

    diag = command(
        "diagnose",
        run_diagnose,
        help="gradient flow, Jacobians, gates and memory of a trained char-LM",
        description="Diagnose a trained character language model on windows of a text: the "
        "gradient of the last step's cross-entropy at every earlier step (the fitted factor per "
        "step back), the Jacobians dh_t/dh_(t-1) (spectral norms, product over the window), the "
        "eigenvalues of W_hh, the gate statistics (LSTM, GRU) and how many steps a changed first "
        "character still moves the predictions. Prints a summary and writes PNGs (matplotlib, "
        "the plot extra) and summary.json into --out.",
    )
    diag.add_argument(
        "run", metavar="RUN_DIR_OR_CHECKPOINT", help="a run folder (its best checkpoint) or a checkpoint folder"
    )
    diag.add_argument("--data", metavar="FILE", help="the text to diagnose on (default: the run's own training text)")
    diag.add_argument("--encoding", default="utf-8", help="its encoding (default utf-8)")
    diag.add_argument("--out", metavar="DIR", help="where the PNGs and summary.json go (default RUN_DIR/diagnose)")
    diag.add_argument("--steps", type=positive_int, default=100, help="characters per window, T (default 100)")
    diag.add_argument("--batch", type=positive_int, default=8, help="windows, evenly spaced over the text (default 8)")
    diag.add_argument("--no-pictures", action="store_true", help="only the summary, no PNGs")

    study = command(
        "study",
        run_study,
        help="the lectures' studies: gradient flow of five RNNs, recursions, NOR circuits, a bouncing ball",
        description="gradflow: a tanh RNN, an IRNN, an LSTM with forget bias 0 and 1 and a GRU on "
        "the adding problem, measured at initialisation and after --train-steps Adam steps "
        "(gradient flow, Jacobian products, eigenvalues of W_hh, gates, impulse memory, loss); "
        "recursions: the scalar and vector recursion figures, fixed points, the BIBO check and "
        "multi-tap recursions with their characteristic roots; "
        "circuits: NOR circuits compiled into a sigmoid RNN (truth tables, a serial adder, a "
        "counter); mlp-gradients: the gradient per neuron, layer by layer, of a 19-layer, 1024-wide "
        "MLP on MNIST at initialisation for elu, relu, sigmoid and tanh, for a batch and single "
        "instances; bouncing-ball: an LSTM that reads the frames of a ball bouncing in a box and "
        "forecasts its next position, against the constant-velocity baseline (next = last + (last - "
        "previous), exact in free flight, wrong at the walls): errors near a bounce and in free "
        "flight, and a rollout that feeds the forecasts back. Writes PNGs and summary.json into --out.",
    )
    study.add_argument("name", choices=STUDIES, help="which study")
    study.add_argument("--out", metavar="DIR", help="output folder (default runs/study-NAME-<time>)")
    study.add_argument(
        "--models",
        default=",".join(MODEL_NAMES),
        help=f"gradflow: comma-separated models among {', '.join(MODEL_NAMES)} (default all)",
    )
    study.add_argument(
        "--seq-len", type=positive_int, default=50, help="gradflow: adding-problem length T (default 50)"
    )
    study.add_argument(
        "--hidden", type=positive_int, default=32, help="gradflow, bouncing-ball: hidden units (default 32)"
    )
    study.add_argument(
        "--train-steps",
        "--steps",
        type=positive_int,
        help="gradflow: Adam steps per model (default 300); bouncing-ball: Adam steps (default 2000, --quick 100)",
    )
    study.add_argument(
        "--lr", type=positive_float, default=1e-2, help="gradflow, bouncing-ball: Adam learning rate (default 0.01)"
    )
    study.add_argument(
        "--gravity",
        type=non_negative_float,
        default=0.0,
        help="bouncing-ball: pull downwards in pixels per step^2 (default 0: the baseline is exact between bounces)",
    )
    study.add_argument(
        "--encoder",
        choices=("pixels", "conv"),
        default="pixels",
        help="bouncing-ball: how a frame is read, flattened into a Linear layer or two conv blocks (default pixels)",
    )
    study.add_argument(
        "--quick", action="store_true", help="bouncing-ball: 100 steps and 64 evaluation balls, seconds (for tests)"
    )
    study.add_argument("--depth", type=positive_int, default=19, help="mlp-gradients: hidden layers (default 19)")
    study.add_argument("--width", type=positive_int, default=1024, help="mlp-gradients: units per layer (default 1024)")
    study.add_argument("--batch", type=positive_int, default=64, help="mlp-gradients: images in the batch (default 64)")
    study.add_argument(
        "--data",
        metavar="DIR",
        help="mlp-gradients: the folder with the MNIST IDX files (default: data set mnist-test, downloaded once)",
    )
    study.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default 0)")
    study.add_argument("--no-pictures", action="store_true", help="only the summary, no PNGs")


def run_diagnose(args) -> int:
    from ..analysis.diagnose import diagnose_charlm, diagnosis_bytes, summary_lines, windows
    from ..data.text import DataError, load_text
    from ..runs.charlm import TrainSpec, load_charlm
    from ..train.limits import require_memory

    model, vocab = load_charlm(args.run)
    out = out_folder(args.out, Path(args.run) / "diagnose")
    require_memory(
        diagnosis_bytes(model, args.batch, args.steps),
        f"diagnosing {args.batch:,} windows of {args.steps:,} characters",
        "--batch or --steps",
    )
    if args.data:
        text, source = load_text(args.data, args.encoding), args.data
    elif (Path(args.run) / "run.json").is_file():
        text, source = TrainSpec.from_file(Path(args.run) / "run.json").text()
    else:
        raise ValueError(f"{args.run} has no run.json to find its training text: pass --data FILE")
    ids, known = vocab.encode(text)
    if not known.any():
        raise DataError(source, f"none of its {len(text):,} characters is in the model's vocabulary of {vocab.size}")
    ids = ids[known].astype(np.int64)  # characters the model never saw are left out
    print(f"diagnosing {args.run} on {source} ({args.batch} windows of {args.steps} characters) ...", flush=True)
    drawing = not args.no_pictures and plots_available()
    with one_blas_thread():
        summary = diagnose_charlm(model, windows(ids, args.batch, args.steps, source), out if drawing else None)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    for line in summary_lines(summary):
        print(line)
    if drawing:
        print(f"pictures: {', '.join(summary['figures'])}")
    elif not args.no_pictures:
        print(NO_PICTURES)
    print(f"summary: {out / 'summary.json'}")
    return 0


def run_study(args) -> int:
    from ..analysis import studies

    out = out_folder(args.out, Path("runs") / f"study-{args.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    models = _gradflow_models(args, studies) if args.name == "gradflow" else []
    mnist = _mnist_for_study(args, studies) if args.name == "mlp-gradients" else None
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with one_blas_thread():  # small models and matrices
        if args.name == "circuits":
            lines = studies.circuits_demo(seed=args.seed)
            print("\n".join(lines))
            (out / "summary.json").write_text(json.dumps({"circuits": lines}, indent=1))
            return 0 if not any("WRONG" in line for line in lines) else 1
        drawing = not args.no_pictures and plots_available()
        if not drawing and not args.no_pictures:
            print(NO_PICTURES)
        if args.name == "recursions":
            summary = studies.recursion_study(out if drawing else None)
        elif args.name == "mlp-gradients":
            images, labels = mnist
            summary = studies.mlp_gradient_study(
                images,
                labels,
                depth=args.depth,
                width=args.width,
                batch=args.batch,
                seed=args.seed,
                out=out if drawing else None,
            )
            for line in _mlp_lines(summary):
                print(line)
        elif args.name == "bouncing-ball":
            summary = _bouncing_ball(args, out if drawing else None)
        else:
            summary = _gradflow(args, studies, out if drawing else None, models)
    summary["options"] = {k: v for k, v in vars(args).items() if k not in ("debug", "command", "handler")}
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    if drawing:
        print(f"pictures: {', '.join(summary['figures'])}")
    print(f"summary: {out / 'summary.json'} ({time.perf_counter() - start:.1f} s)")
    return 0


def _bouncing_ball(args, out: Path | None) -> dict:
    from ..analysis.ball import ball_study, summary_lines

    args.train_steps = args.train_steps or (100 if args.quick else 2000)
    print(f"bouncing ball: {args.train_steps} Adam steps (seed {args.seed}) ...", flush=True)
    summary = ball_study(
        steps=args.train_steps,
        gravity=args.gravity,
        encoder=args.encoder,
        hidden=args.hidden,
        lr=args.lr,
        seed=args.seed,
        eval_balls=64 if args.quick else 256,
        out=out,
        say=lambda line: print(line, flush=True),
    )
    for line in summary_lines(summary):
        print(line)
    return summary


def _mnist_for_study(args, studies) -> tuple[np.ndarray, np.ndarray]:
    """The MNIST test images of mlp-gradients (--data, else the data set mnist-test), after the
    sizes are checked: before --out is made."""
    from ..data import datasets
    from ..data.mnist import load_mnist
    from ..train.limits import require_memory

    require_memory(
        studies.mlp_gradient_bytes(args.depth, args.width, args.batch),
        f"an MLP of {args.depth} layers of {args.width:,} on a batch of {args.batch:,}",
        "--depth, --width or --batch",
    )
    images, labels = load_mnist(args.data or datasets.path("mnist-test"))
    if args.batch > len(images):
        raise ValueError(f"--batch {args.batch}: the MNIST test set has {len(images):,} images")
    return images, labels


def _mlp_lines(summary: dict) -> list[str]:
    lines = [f"log10 of the gradient per neuron at initialisation ({summary['setup']}), median over neurons:"]
    for activation, modes in summary["layers"].items():
        for mode, r in modes.items():
            lines.append(
                f"  {activation:<8} {mode:<7} first hidden layer {r['median'][0]:7.2f}, last {r['median'][-1]:6.2f}"
                + (f"; up to {max(r['zero']):.0%} of a layer's neurons get none" if max(r["zero"]) else "")
            )
    return lines


def _gradflow_models(args, studies) -> list[str]:
    """--models of the gradflow study, checked (and that they fit in memory) before --out is made."""
    from ..train.limits import require_memory

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(models) - set(studies.MODEL_NAMES))
    if unknown or not models:
        raise ValueError(
            f"--models: unknown {', '.join(unknown) or 'none given'}; choose among {', '.join(studies.MODEL_NAMES)}"
        )
    require_memory(
        studies.gradflow_bytes(args.hidden, args.seq_len),
        f"training the study's models of {args.hidden:,} units on sequences of {args.seq_len:,} steps",
        "--hidden or --seq-len",
    )
    return models


def _gradflow(args, studies, out: Path | None, models: list[str]) -> dict:
    args.train_steps = args.train_steps or 300
    print(
        f"gradient flow on the adding problem, T={args.seq_len}, H={args.hidden}, {args.train_steps} "
        f"Adam steps per model (lr {args.lr:g}, seed {args.seed})",
        flush=True,
    )
    reports = studies.gradflow_study(
        models,
        seq_len=args.seq_len,
        hidden=args.hidden,
        steps=args.train_steps,
        lr=args.lr,
        seed=args.seed,
        say=lambda line: print(line, flush=True),
    )
    summary = {kind: report.summary() for kind, report in reports.items()}
    for s in summary.values():
        print(
            f"{s['model']:<22} MSE {s['eval_mse']['init']:.3f} -> {s['eval_mse']['trained']:.4f}; "
            f"gradient x{s['grad_factor_init']:.3f} -> x{s['grad_factor_trained']:.3f} per step back; "
            f"memory {s['memory_steps_init']} -> {s['memory_steps_trained']} steps"
        )
    if out is not None:
        summary["figures"] = [str(p) for p in studies.gradflow_figures(reports, out)]
    return summary
