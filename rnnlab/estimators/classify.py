"""Many-to-one classification of a person's own data: texts (words or characters) or numeric
sequences, labels of any kind, two or more classes.

    est = RNNClassifier(steps=400).fit(texts, labels)        # texts: list of str
    est.predict(["not bad at all"]), est.predict_proba([...]), est.score(texts, labels)
    est = RNNClassifier().fit(series, labels)                # series: arrays (T,) or (T, F)

Preprocessing, learnt from the training rows and saved in run.json:
    text:     tokens (words: lower-cased words and punctuation; or characters) -> ids through a
              vocabulary of the tokens seen at least min_count times (the rest share <unk>); if
              that would leave some class with no known token at all, min_count falls to 1
    numbers:  each feature standardised, (x - mean) / std over every training step
    labels:   sorted (numerically when every label is an integer) -> class ids 0..C-1

Model: rnnlab.models.classifier.SequenceClassifier, an embedding (text), a recurrent encoder
(bidirectional by default) and a linear head on the final states; cross-entropy loss. The
checkpoint kept has the lowest validation error rate. Beside it, for text, a bag-of-words
logistic regression is fitted on the same training rows: the baseline every report shows.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..data.sentiment import tokenize
from ..data.seq2seq import PAD, UNK, TokenVocab
from ..data.text import DataError
from ..models.classifier import ClassifierConfig, SequenceClassifier
from ..models.encoder import PRESETS, EncoderConfig, cell_choices
from ..models.metrics import confusion_matrix, per_class_f1
from ..nn import Adam, Linear, cross_entropy
from ..train.limits import recurrent_parameters
from .base import RNNEstimator, Say, read_lines

UNITS = ("word", "char")


def tokens_of(text: str, unit: str) -> list[str]:
    """How a text becomes tokens: "word" (lower-cased words and punctuation) or "char"."""
    return tokenize(text) if unit == "word" else list(text)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _numbers(line: str, where: str) -> np.ndarray:
    """One input row of a numeric model: numbers split at commas, semicolons or spaces; anything
    else is a DataError naming `where` (the file and line)."""
    from ..data.tables import LARGEST, too_large

    fields = [f for f in re.split(r"[,;\s]+", line.strip()) if f]
    try:
        values = np.array([float(f) for f in fields], np.float64)
    except ValueError:
        bad = next(f for f in fields if not _is_number(f))
        raise DataError(where, f"{bad[:30]!r} is not a number (this model reads rows of numbers)") from None
    if any(too_large(v) for v in values):  # inf, nan, or beyond what the model reads
        raise DataError(where, f"a number beyond ±{LARGEST:.1e} (or not finite), more than the model reads")
    return values


def _softmax(scores: np.ndarray) -> np.ndarray:
    z = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def encoder_parameters(cell: str, inputs: int, hidden: int, layers: int, bidirectional: bool) -> int:
    """How many numbers the recurrent trunk (rnnlab.models.encoder) holds, from its sizes alone
    (a preset such as "irnn" counted as the kind it is made of)."""
    kind, options = PRESETS.get(cell, (cell, {}))
    return recurrent_parameters(kind, inputs, hidden, layers, bidirectional, **options)


def sorted_labels(labels: Sequence) -> list:
    """The distinct labels, sorted: numerically when every one is an integer (or its text)."""
    distinct = set(labels)
    if all(isinstance(v, str) and re.fullmatch(r"-?\d+", v.strip()) for v in distinct):
        return sorted(distinct, key=lambda v: int(v))
    try:
        return sorted(distinct)
    except TypeError:  # labels of mixed types: by their text
        return sorted(distinct, key=str)


class RNNClassifier(RNNEstimator):
    """A recurrent classifier of texts or numeric sequences (scikit-learn's estimator protocol).

    Args (keyword only; every one is a parameter that get_params/set_params and GridSearchCV see):
        model: the cell, "lstm", "gru", "rnn" or "irnn".
        hidden, layers, bidirectional, embedding: the encoder (embedding: text only).
        pool: what the head reads, "last" (the final states of both directions) or "mean" (the
            mean of the outputs over the valid steps).
        unit: "word" or "char" (text only).
        min_count: a word seen fewer times in training becomes <unk> (see the module docstring).
        max_length: tokens or steps kept from the start of each example.
        steps / minutes / epochs: the budget (steps, else minutes, else epochs passes).
        batch_size, lr, clip: Adam's batch, learning rate and gradient-norm clip (0: none).
        validation_fraction, test_fraction: rows held out to choose the checkpoint and to report
            held-out metrics (run.json and evaluation.json of the run folder).
        seed: the split, the initial weights and the batches.
        warm_start: fit() on a fitted estimator continues training (same preprocessing).
        progress: a progress bar on stderr.
        run_dir: the run folder to train into (None: a temporary one, removed after fit).

    Attributes after fit: classes_, vocab_ (text) or mean_/std_ (numbers), model_, n_steps_,
    best_validation_, test_metrics_.
    """

    task = "classify"
    _estimator_type = "classifier"
    _score_name = "error rate"

    def __init__(
        self,
        *,
        model: str = "lstm",
        hidden: int = 64,
        layers: int = 1,
        bidirectional: bool = True,
        embedding: int = 64,
        pool: str = "mean",
        unit: str = "word",
        min_count: int = 2,
        max_length: int = 200,
        steps: int | None = None,
        minutes: float | None = None,
        epochs: float = 10,
        batch_size: int = 32,
        lr: float = 2e-3,
        clip: float = 1.0,
        validation_fraction: float = 0.1,
        test_fraction: float = 0.0,
        seed: int = 0,
        warm_start: bool = False,
        progress: bool = False,
        run_dir: str | Path | None = None,
    ):
        self.model, self.hidden, self.layers, self.bidirectional = model, hidden, layers, bidirectional
        self.embedding, self.pool, self.unit = embedding, pool, unit
        self.min_count, self.max_length = min_count, max_length
        self.steps, self.minutes, self.epochs = steps, minutes, epochs
        self.batch_size, self.lr, self.clip = batch_size, lr, clip
        self.validation_fraction, self.test_fraction, self.seed = validation_fraction, test_fraction, seed
        self.warm_start, self.progress, self.run_dir = warm_start, progress, run_dir

    # --- input ---------------------------------------------------------------------------------
    def _check(self, X, y) -> tuple[list, list]:
        if self.model not in cell_choices():
            raise ValueError(f"model must be one of {', '.join(cell_choices())}, got {self.model!r}")
        if self.unit not in UNITS:
            raise ValueError(f"unit must be 'word' or 'char', got {self.unit!r}")
        X = list(X)
        if y is None:
            raise ValueError("a classifier needs labels: fit(X, y)")
        y = list(y)
        if len(X) != len(y):
            raise ValueError(f"got {len(X)} examples but {len(y)} labels")
        if not X:
            raise ValueError("no examples to learn from")
        distinct = set(y)
        if len(distinct) < 2:
            raise ValueError(f"every example has the label {y[0]!r}; a classifier needs two or more classes")
        self._label_counts = Counter(y)  # _learn sees the training rows only: a class held out whole
        return X, y

    @staticmethod
    def _is_text(X: list) -> bool:
        return isinstance(X[0], str)

    # --- preprocessing -------------------------------------------------------------------------
    def _learn(self, X: list, y: list, say: Say) -> None:
        unseen = [c for c in sorted_labels(self._label_counts) if c not in set(y)]
        if unseen:  # the model could never predict it, and scoring it would fail
            k = self._label_counts[unseen[0]]
            raise ValueError(
                f"class {unseen[0]!r} has {k} example{'s' * (k != 1)}, all held out for validation or testing by "
                "the random split, none left to train on; give every class more examples (or another seed)"
            )
        self.classes_ = sorted_labels(y)
        self.text_ = self._is_text(X)
        if self.text_:
            tokens = [tokens_of(t, self.unit)[: self.max_length] for t in X]
            self.vocab_ = TokenVocab.build(tokens, min_count=self.min_count)
            self.min_count_ = self.min_count
            unheard = [c for c in self.classes_ if not any(self._known(tok) for tok, lab in zip(tokens, y) if lab == c)]
            if unheard and self.min_count > 1:
                self.vocab_ = TokenVocab.build(tokens, min_count=1)
                self.min_count_ = 1
                say(
                    f"min_count {self.min_count} would leave class(es) {', '.join(map(repr, unheard))} without a "
                    "known word: keeping every word seen in training instead"
                )
            counts = Counter(t for seq in tokens for t in seq)
            dropped = sum(1 for c in counts.values() if c < self.min_count_)
            say(
                f"{len(X):,} training examples, {len(self.classes_)} classes; vocabulary {self.vocab_.size - 4:,} "
                f"{self.unit}s (+4 special), {dropped:,} rarer than {self.min_count_} read as <unk>"
            )
        else:
            steps = np.concatenate([self._as_steps(x) for x in X])
            self.features_ = steps.shape[1]
            self.mean_ = steps.mean(axis=0)
            self.std_ = np.where(steps.std(axis=0) > 0, steps.std(axis=0), 1.0)
            say(f"{len(X):,} training sequences of {self.features_} feature(s), {len(self.classes_)} classes")
        self._fit_baseline(X, y)

    def _known(self, tokens: list[str]) -> bool:
        return any(self.vocab_.index.get(t, UNK) != UNK for t in tokens)

    def _as_steps(self, x) -> np.ndarray:
        a = np.asarray(x, np.float64)
        if a.ndim == 1:
            a = a[:, None]
        if a.ndim != 2 or len(a) == 0:
            raise ValueError(f"a numeric example must have shape (T,) or (T, F) with T >= 1, got {a.shape}")
        if not np.isfinite(a).all():
            raise ValueError("a numeric example holds NaN or infinity")
        return a[: self.max_length]

    def _encode(self, X: list) -> tuple[np.ndarray, np.ndarray]:
        """Inputs for the model: ids (T, n) or standardised features (T, n, F), lengths (n,)."""
        if self.text_:
            if not all(isinstance(x, str) for x in X):
                raise ValueError("this classifier reads texts: every example must be a string")
            return self.vocab_.encode([tokens_of(t, self.unit)[: self.max_length] for t in X])
        series = [(self._as_steps(x) - self.mean_) / self.std_ for x in X]
        if any(s.shape[1] != self.features_ for s in series):
            raise ValueError(f"every sequence must have {self.features_} feature(s) per step, as in training")
        lengths = np.array([len(s) for s in series], np.int64)
        out = np.zeros((lengths.max(), len(series), self.features_), np.float32)
        for b, s in enumerate(series):
            out[: len(s), b] = s
        return out, lengths

    def _class_ids(self, y: list) -> np.ndarray:
        index = {c: k for k, c in enumerate(self.classes_)}
        unknown = [v for v in y if v not in index]
        if unknown:
            raise ValueError(
                f"label {unknown[0]!r} was not among the training labels ({', '.join(map(repr, self.classes_))})"
            )
        return np.array([index[v] for v in y], np.int64)

    # --- model and training --------------------------------------------------------------------
    def _parameter_count(self) -> int:
        """The model's size before it is built (the base checks that it fits in memory): the
        embedding (text), the trunk and the head, from the parameters and what _learn found."""
        width = (2 if self.bidirectional else 1) * self.hidden
        inputs = self.embedding if self.text_ else self.features_
        embed = self.vocab_.size * self.embedding if self.text_ else 0
        trunk = encoder_parameters(self.model, inputs, self.hidden, self.layers, self.bidirectional)
        return embed + trunk + (width + 1) * len(self.classes_)

    def _build_model(self, rng: np.random.Generator) -> SequenceClassifier:
        inputs = (
            {"vocab_size": self.vocab_.size, "embedding": self.embedding}
            if self.text_
            else {"input_size": self.features_}
        )
        encoder = EncoderConfig(
            **inputs, cell=self.model, hidden=self.hidden, layers=self.layers, bidirectional=self.bidirectional
        )
        return SequenceClassifier(ClassifierConfig(outputs=len(self.classes_), encoder=encoder, pool=self.pool), rng)

    def _training(self, X: list, y: list):
        x, lengths = self._encode(X)
        target = self._class_ids(y)
        n, batch = len(target), min(self.batch_size, len(target))

        def draw(step, rng):
            idx = rng.choice(n, size=batch, replace=False)
            T = int(lengths[idx].max())
            return x[:T, idx], lengths[idx], target[idx]

        return draw, cross_entropy, n

    def _validation_score(self, X: list, y: list) -> float:
        return 1.0 - self.score(X, y)

    # --- use -------------------------------------------------------------------------------------
    def decision_function(self, X) -> np.ndarray:
        """The model's logits, (n, classes)."""
        self._require_fitted()
        x, lengths = self._encode(list(X))
        return self.model_.predict(x, lengths)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (n, classes), columns in the order of classes_."""
        return _softmax(self.decision_function(X).astype(np.float64))

    def predict(self, X) -> np.ndarray:
        """The most likely label of each example."""
        ids = self.decision_function(X).argmax(axis=-1)
        return np.array([self.classes_[k] for k in ids], dtype=object)

    def score(self, X, y) -> float:
        """Accuracy (scikit-learn's score for a classifier)."""
        return float(np.mean(self._class_ids(list(y)) == self.decision_function(X).argmax(axis=-1)))

    def evaluate(self, X, y) -> dict:
        """Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix (rows: true
        labels, columns: predicted), and the bag-of-words baseline's accuracy when there is one."""
        X, y = list(X), list(y)
        truth = self._class_ids(y)
        predicted = self.decision_function(X).argmax(axis=-1)
        C = len(self.classes_)
        per_class = per_class_f1(truth, predicted, C)
        result = {
            "examples": len(y),
            "accuracy": float(np.mean(truth == predicted)),
            "macro_f1": float(np.mean(per_class["f1"])),
            "classes": [str(c) for c in self.classes_],
            "per_class": {
                str(c): {k: float(per_class[k][i]) for k in ("precision", "recall", "f1")}
                | {"support": int(per_class["support"][i])}
                for i, c in enumerate(self.classes_)
            },
            "confusion_matrix": confusion_matrix(truth, predicted, C).tolist(),
            "majority_class_accuracy": float(np.bincount(truth, minlength=C).max() / len(truth)),
        }
        if getattr(self, "baseline_", None) is not None:
            result["bag_of_words_accuracy"] = float(np.mean(self._baseline_scores(X).argmax(-1) == truth))
        return result

    # --- the command line: files in, records out -------------------------------------------------
    @classmethod
    def read_file(cls, path, *, text_column=None, label_column=None, sequence: bool = False, **_):
        """(texts or series, labels, source) from a CSV or TSV, with or without a header (both
        sniffed). Text: the text and label columns by name or index (defaults: the column with
        the longest values, and the other). sequence=True: every field but the label column is a
        number of the row's series (empty trailing fields allowed: series of different lengths)."""
        from ..data.tables import LARGEST, pick_text_and_label, read_table, too_large

        table = read_table(path)
        source = {"path": str(path), "text_column": text_column, "label_column": label_column, "sequence": sequence}
        if not sequence:
            text, label = pick_text_and_label(table, text_column, label_column)
            texts, labels = table.values(text), [v.strip() for v in table.values(label)]
            for k, v in enumerate(labels):
                if not v:
                    raise DataError(path, f"line {table.line_numbers[k]}: the label ({table.names[label]}) is empty")
            return texts, labels, source
        label = table.column(label_column if label_column is not None else 0)
        series, labels = [], []
        for row, line in zip(table.rows, table.line_numbers):
            fields = [f.strip() for k, f in enumerate(row) if k != label]
            while fields and not fields[-1]:
                fields.pop()
            try:
                series.append(np.array([float(f) for f in fields], np.float64))
            except ValueError:
                bad = next(f for f in fields if not _is_number(f))
                raise DataError(
                    path, f"line {line}: {bad[:30]!r} is not a number (--sequence rows hold numbers)"
                ) from None
            if not series[-1].size or not np.isfinite(series[-1]).all():
                raise DataError(path, f"line {line}: the series is empty or holds a non-finite number")
            if any(too_large(v) for v in series[-1]):  # standardising 1e308 overflows
                raise DataError(
                    path, f"line {line}: a number beyond ±{LARGEST:.1e}, more than the model reads; rescale the data"
                )
            labels.append(row[label].strip())
        return series, labels, source

    def inputs_from_lines(self, lines: list[str]) -> list:
        if self.text_:
            return lines
        return [_numbers(line, f"input {k}") for k, line in enumerate(lines, start=1)]

    def records_for(self, path: str | None) -> list[dict]:
        """As the base's, and a row of a numeric model's input that is not all numbers is a
        DataError naming the file and its line."""
        if self.text_:
            return super().records_for(path)
        source = path or "stdin"
        rows = [_numbers(line, f"{source}: line {k}") for k, line in enumerate(read_lines(path), 1) if line.strip()]
        if not rows:
            raise ValueError(f"{source}: no input lines to predict")
        return self.predict_records(rows)

    def predict_records(self, X) -> list[dict]:
        probs = self.predict_proba(X)
        return [
            {
                "input": x if isinstance(x, str) else np.asarray(x).tolist(),
                "label": self.classes_[int(p.argmax())],
                "probabilities": {str(c): round(float(q), 6) for c, q in zip(self.classes_, p)},
            }
            for x, p in zip(X, probs)
        ]

    def record_text(self, record: dict) -> str:
        p = record["probabilities"][str(record["label"])]
        shown = record["input"] if isinstance(record["input"], str) else " ".join(map(str, record["input"]))
        return f"{record['label']}\t{p:.3f}\t{shown}"

    def evaluation_lines(self, metrics: dict) -> list[str]:
        lines = [
            f"{metrics['examples']:,} examples: accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f}"
            f" (majority class {metrics['majority_class_accuracy']:.4f})"
        ]
        if "bag_of_words_accuracy" in metrics:
            lines.append(
                f"bag-of-words logistic regression, same training rows: accuracy {metrics['bag_of_words_accuracy']:.4f}"
            )
        for c, r in metrics["per_class"].items():
            lines.append(
                f"  {c}: precision {r['precision']:.3f} recall {r['recall']:.3f} F1 {r['f1']:.3f} ({r['support']})"
            )
        return lines

    def evaluation_plot(self, metrics: dict, X, y, path: Path) -> Path | None:
        """The confusion matrix as a picture (rows: true label, columns: predicted)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        counts = np.array(metrics["confusion_matrix"])
        names = metrics["classes"]
        size = 2.5 + 0.5 * len(names)
        fig, ax = plt.subplots(figsize=(size + 1, size), dpi=110)
        ax.imshow(counts, cmap="Blues")
        for (i, j), n in np.ndenumerate(counts):
            ax.text(j, i, str(n), ha="center", va="center", color="white" if n > counts.max() / 2 else "black")
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
        ax.set_yticks(range(len(names)), names)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"accuracy {metrics['accuracy']:.3f}, macro-F1 {metrics['macro_f1']:.3f}")
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
        return path

    # --- the bag-of-words baseline -----------------------------------------------------------------
    def _bags(self, X: list) -> np.ndarray:
        bags = np.zeros((len(X), self.vocab_.size), np.float64)
        for b, t in enumerate(X):
            bags[b, self.vocab_.ids(tokens_of(t, self.unit))] = 1.0
        bags[:, PAD] = 1.0  # a constant feature: the bias
        return bags

    def _baseline_scores(self, X: list) -> np.ndarray:
        return self._bags(X) @ self.baseline_

    def _fit_baseline(self, X: list, y: list, iterations: int = 300, lr: float = 0.1, l2: float = 1e-3) -> None:
        """Multinomial logistic regression on which words occur (order forgotten): a Linear from
        zeros (the bag's constant column is its bias), full-batch Adam on the mean cross-entropy
        with weight decay l2: what an RNN must beat to have used word order."""
        self.baseline_ = None
        if not self.text_:
            return
        bags, target = self._bags(X), self._class_ids(y)
        logreg = Linear(bags.shape[1], len(self.classes_), bias=False, dtype=np.float64)
        logreg.weight.data[:] = 0.0
        optimizer = Adam(logreg.named_parameters(), lr=lr, weight_decay=l2)
        for _ in range(iterations):
            optimizer.zero_grad()
            logreg.backward(cross_entropy(logreg.forward(bags), target)[1])
            optimizer.step()
        self.baseline_ = logreg.weight.data.T.copy()  # (words, classes): bags @ baseline_ are the logits

    # --- run.json ----------------------------------------------------------------------------------
    def _preprocessing(self) -> dict:
        d = {"classes": list(self.classes_), "input": "text" if self.text_ else "numbers"}
        if self.text_:
            d |= {"vocab": self.vocab_.to_json(), "min_count": self.min_count_, "unit": self.unit}
            if self.baseline_ is not None:
                d["bag_of_words"] = self.baseline_.round(6).tolist()
        else:
            d |= {"features": self.features_, "mean": self.mean_.tolist(), "std": self.std_.tolist()}
        return d

    def _restore(self, d: dict) -> None:
        self.classes_ = list(d["classes"])
        self.text_ = d["input"] == "text"
        if self.text_:
            self.vocab_ = TokenVocab.from_json(d["vocab"])
            self.min_count_ = d.get("min_count", self.min_count)
            self.baseline_ = np.array(d["bag_of_words"]) if d.get("bag_of_words") is not None else None
        else:
            self.features_ = int(d["features"])
            self.mean_, self.std_ = np.array(d["mean"]), np.array(d["std"])
            self.baseline_ = None
