"""scikit-learn-style estimators for a person's own data, one per problem shape, and the run
folders they share with `rnnlab fit / predict / evaluate / resume`.

    from rnnlab.estimators import RNNClassifier, load
    est = RNNClassifier(steps=300).fit(texts, labels).save("runs/reviews")
    est = load("runs/reviews")          # whatever task the folder holds
"""

from __future__ import annotations

from pathlib import Path

from .base import NotFittedError, RNNEstimator, read_run_file
from .classify import RNNClassifier
from .forecast import RNNForecaster
from .lm import RNNLanguageModel
from .ocr import RNNTextReader
from .seq2seq import RNNSeq2Seq
from .tag import RNNTagger

ESTIMATORS: dict[str, type[RNNEstimator]] = {
    cls.task: cls for cls in (RNNClassifier, RNNTagger, RNNForecaster, RNNSeq2Seq, RNNLanguageModel, RNNTextReader)
}

__all__ = [
    "ESTIMATORS",
    "NotFittedError",
    "RNNClassifier",
    "RNNForecaster",
    "RNNEstimator",
    "RNNLanguageModel",
    "RNNSeq2Seq",
    "RNNTagger",
    "RNNTextReader",
    "load",
]


def load(path) -> RNNEstimator:
    """The fitted estimator a run folder holds (`rnnlab fit ... --out` or `est.save`)."""
    folder = Path(path)
    record = read_run_file(folder)
    task = record.get("task", "lm")
    if task not in ESTIMATORS:
        raise ValueError(f"{folder}/run.json: unknown task {task!r}; this rnnlab knows {', '.join(ESTIMATORS)}")
    return ESTIMATORS[task]._from_record(record, folder)
