"""A person's own data, use: `rnnlab predict RUN` and `rnnlab evaluate RUN` on a run folder of
`rnnlab fit` (or of `rnnlab train`: its continuations and its loss)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..experiments.common import non_negative_float, non_negative_int, positive_int
from .common import out_file


def add_commands(command) -> None:
    predict = command(
        "predict",
        run_predict,
        help="apply a fitted model to new inputs",
        description="Apply a fitted run to raw inputs, one per line of FILE (or stdin): classify -> "
        "label and probabilities; tag -> a tag per token (tokens split on spaces); seq2seq -> the "
        "output; lm -> a continuation of each line. forecast: FILE is an optional history CSV (read "
        "like the training file); without it, the next values after the training data, with dates. "
        "ocr: each FILE is an image of one line (PNG, JPEG, ...) -> the text read from it, a line each.",
    )
    predict.add_argument("run", metavar="RUN", help="a run folder of `rnnlab fit` (or `rnnlab train`)")
    predict.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        help="inputs, one per line ('-' or none: stdin); for an ocr run, one or more images",
    )
    predict.add_argument("--format", choices=("text", "jsonl"), default="text", help="output lines (default text)")
    predict.add_argument("--beam", type=positive_int, metavar="W", help="seq2seq, ocr: beam search of width W")
    predict.add_argument("--length", type=positive_int, default=200, help="lm: characters to continue (default 200)")
    predict.add_argument(
        "--temperature", type=non_negative_float, default=0.8, help="lm: sampling temperature (default 0.8)"
    )
    predict.add_argument("--seed", type=non_negative_int, default=0, help="lm: random seed (default 0)")

    evaluate = command(
        "evaluate",
        run_evaluate,
        help="a fitted model's metrics on a labelled file",
        description="Score a fitted run on a labelled file read like its training file: accuracy, "
        "macro-F1, confusion matrix (classify); token accuracy, per-tag F1 (tag); RMSE, MAE, MASE per "
        "lead time against persistence and seasonal naive (forecast); exact match, CER, chrF, BLEU "
        "(seq2seq); sequence accuracy and character error rate (ocr: a labels file of file,text rows); "
        "nats and bits per character (lm). Printed, and saved as JSON (+ PNG).",
    )
    evaluate.add_argument("run", metavar="RUN")
    evaluate.add_argument("--data", metavar="FILE", required=True, help="the labelled file")
    evaluate.add_argument("--out", metavar="FILE.json", help="where the metrics go (default RUN/evaluate-FILE.json)")


# --- predict / evaluate ----------------------------------------------------------------------------
def _run_task(run: str) -> str:
    """The task of a run folder: run.json's, "lm" for `rnnlab train`'s (run.json without one), or
    "experiment-seq2seq" for a model folder of `rnnlab experiment dates|translate|reverse`."""
    from ..estimators import read_run_file

    folder = Path(run)
    if folder.is_dir() and not (folder / "run.json").exists() and (folder / "best" / "state.json").is_file():
        return "experiment-seq2seq"
    return read_run_file(run).get("task", "lm")


def run_predict(args) -> int:
    task = _run_task(args.run)
    if len(args.files) > 1 and task != "ocr":
        raise ValueError(f"predict: a {task} run reads one FILE (or stdin), got {len(args.files)}")
    args.file = args.files[0] if args.files else None
    if task == "lm":
        return _predict_lm(args)
    if task == "experiment-seq2seq":
        return _predict_experiment_seq2seq(args)
    from ..estimators import load

    estimator = load(args.run)
    if args.beam is not None:
        if "beam" not in estimator.get_params():
            raise ValueError(f"--beam: a {estimator.task} run has no beam search (seq2seq and ocr runs have)")
        estimator.set_params(beam=args.beam)
    for record in estimator.records_for(args.files if task == "ocr" else args.file):
        print(json.dumps(record, ensure_ascii=False) if args.format == "jsonl" else estimator.record_text(record))
    return 0


def _predict_experiment_seq2seq(args) -> int:
    """A seq2seq model of the experiments (as `rnnlab translate`), one output per input line."""
    from ..estimators.base import read_lines
    from ..experiments.seq2seq import load_translator

    translate = load_translator(args.run)
    for line in (line for line in read_lines(args.file) if line.strip()):
        output = translate([line], beam=args.beam or 0)[0][0][0]  # ([(text, ...)], unknown tokens)
        print(json.dumps({"input": line, "output": output}, ensure_ascii=False) if args.format == "jsonl" else output)
    return 0


def _predict_lm(args) -> int:
    import numpy as np

    from ..estimators.base import read_lines
    from ..models.sampling import generate
    from ..runs.charlm import load_charlm

    model, vocab = load_charlm(args.run)
    rng = np.random.default_rng(args.seed)
    for number, line in ((k, line) for k, line in enumerate(read_lines(args.file), 1) if line.strip()):
        prime = list(vocab.encode_known(line, source=f"{args.file or 'stdin'}: line {number}"))
        with model.evaluating():
            ids = list(generate(model, prime, args.length, rng, temperature=args.temperature or 1.0))
        continuation = vocab.decode(np.array(ids))
        record = {"input": line, "continuation": continuation}
        print(json.dumps(record, ensure_ascii=False) if args.format == "jsonl" else line + continuation)
    return 0


def run_evaluate(args) -> int:
    out = out_file(args.out) if args.out else Path(args.run) / f"evaluate-{Path(args.data).stem}.json"
    task = _run_task(args.run)
    if task == "experiment-seq2seq":
        raise ValueError(f"{args.run} is a model of `rnnlab experiment`: its scores are in the experiment's summary")
    if task == "lm":
        from ..data.text import load_text
        from ..runs.charlm import load_charlm, text_loss

        model, vocab = load_charlm(args.run)
        loss = text_loss(model, vocab, load_text(args.data, min_chars=2), source=args.data)
        metrics = {"nats_per_char": loss.nats, "bits_per_char": loss.bits, "predictions": loss.predictions}
        metrics["unknown_chars"] = loss.unknown
        lines = [f"loss {loss.nats:.4f} nats/char, {loss.bits:.4f} bits/char over {loss.predictions:,} predictions"]
    else:
        from ..estimators import load

        estimator = load(args.run)
        reading = {k: v for k, v in (estimator.source_ or {}).items() if k != "path"}
        X, y, _ = type(estimator).read_file(args.data, **reading)
        try:
            metrics = estimator.evaluate(X, y)
        except ValueError as err:  # what the rows hold that the model cannot score (an unknown label ...)
            if str(err).startswith(str(args.data)):
                raise
            raise ValueError(f"{args.data}: {err}") from None
        lines = estimator.evaluation_lines(metrics)
    print(f"{args.data}:")
    for line in lines:
        print(f"  {line}")
    from ..train.supervised import jsonable

    out.write_text(json.dumps(jsonable(metrics), indent=1))
    print(f"metrics: {out}")
    if task != "lm":
        try:
            picture = estimator.evaluation_plot(metrics, X, y, out.with_suffix(".png"))
        except ImportError:
            picture = None
            print('no picture: matplotlib is not installed (pip install -e ".[plot]")', file=sys.stderr)
        if picture is not None:
            print(f"picture: {picture}")
    return 0
