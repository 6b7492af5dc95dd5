"""The lectures' experiments, each a command: `rnnlab experiment NAME [--quick]`.

Every experiment is a `common.Experiment`: a name, a title, the anchor (the published or lecture
figure its result is read against), the command-line options it reads and `run(ctx) -> (summary,
lines)`; one that reads an outside data set names it in `datasets` (rnnlab.data.datasets).
`run_experiment` finds or downloads those data sets first (so a failed download leaves no folder
behind), then gives it a run folder (see common.py) and writes the summary. `--quick` runs in
seconds (the tests use it) and still shows that learning happened.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from ..data import datasets
from . import adding, binary_addition, caption, forecast, music, ocr, parity, row_mnist, sentiment, seq2seq, tagging
from .common import Experiment, RunFolder

EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in (
        binary_addition.EXPERIMENT,
        parity.EXPERIMENT,
        adding.ADDING,
        adding.COPY,
        adding.CLIPPING,
        sentiment.EXPERIMENT,
        tagging.EXPERIMENT,
        row_mnist.EXPERIMENT,
        seq2seq.DATES,
        seq2seq.TRANSLATE,
        seq2seq.REVERSE,
        forecast.EXPERIMENT,
        music.EXPERIMENT,
        caption.EXPERIMENT,
        ocr.EXPERIMENT,
    )
}


@dataclass
class Context:
    out: RunFolder  # the run folder
    quick: bool = False  # seconds, for tests; still asserts that learning happened
    seed: int = 0
    options: dict = field(default_factory=dict)  # data paths and experiment options
    progress: bool = False  # progress bars on stderr
    datasets: dict = field(default_factory=dict)  # {name: path} of the experiment's outside data sets

    @property
    def say(self):
        return self.out.say


def _command(name: str, quick: bool, seed: int, out: Path, options: dict) -> str:
    parts = ["rnnlab experiment", name] + (["--quick"] if quick else []) + [f"--seed {seed}"]
    for key, value in options.items():
        if value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            parts.append(flag)
        elif isinstance(value, (list, tuple)):
            parts.append(f"{flag} {' '.join(str(v) for v in value)}")
        else:
            parts.append(f"{flag} {value}")
    return " ".join(parts + [f"--out {out}"])


def run_experiment(
    name: str, out, *, quick: bool = False, seed: int = 0, say=None, progress: bool = False, **options
) -> dict:
    """Run experiment `name` into the folder `out`; returns its summary (also in summary.json)."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}")
    experiment = EXPERIMENTS[name]
    unknown = sorted(k for k, v in options.items() if v not in (None, False) and k not in experiment.option_names)
    if unknown:
        takes = ", ".join(o.flag for o in experiment.options) or "no options"
        raise ValueError(
            f"experiment {name} does not take {', '.join('--' + k.replace('_', '-') for k in unknown)} "
            f"(it takes {takes})"
        )
    options = {k: v for k, v in options.items() if k in experiment.option_names}
    data = {}
    if not any(options.get(o) not in (None, False) for o in experiment.data_options):
        for dataset in experiment.datasets:  # before the run folder: a failed download leaves none
            if datasets.located(dataset) is None:
                (say or (lambda line: None))(
                    f"downloading {dataset} ({datasets.megabytes(datasets.DATASETS[dataset].size)}) "
                    f"into {datasets.cache_dir()}"
                )
            data[dataset] = datasets.path(dataset, progress=progress)
    folder = RunFolder(out, say)
    command = _command(name, quick, seed, Path(out), options)
    folder.write_config(
        {
            "experiment": name,
            "quick": quick,
            "seed": seed,
            "options": options,
            "datasets": {k: str(v) for k, v in data.items()},
            "command": command,
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
    )
    summary, lines = experiment.run(Context(folder, quick, seed, options, progress, data))
    return folder.finish(name, command, summary, lines)


__all__ = ["EXPERIMENTS", "Context", "run_experiment"]
