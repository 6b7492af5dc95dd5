"""Many-to-many sequence labelling of a person's own data: one tag per token (CoNLL-style
part-of-speech, chunk or named-entity tags).

    est = RNNTagger(steps=400).fit(sentences, tags)    # sentences: list of token lists
    est.predict([["Teddy", "bears", "sleep"]])         # -> [["B-PER", "O", "O"]]
    est.score(sentences, tags), est.evaluate(sentences, tags)

Preprocessing, learnt from the training sentences and saved in run.json:
    tokens:   (lower-cased when lowercase=True) -> ids through a vocabulary of the tokens seen at
              least min_count times; any other token, in training or later, is <unk>
    tags:     sorted (numerically when every tag is an integer) -> tag ids 0..K-1
    baseline: each known token's most frequent training tag (<unk>: the commonest tag of the
              tokens read as <unk>, else of all tokens): the per-word majority tagger, which
              cannot read context; evaluate() reports it beside the model

Model: rnnlab.models.tagger.SequenceTagger, an embedding, a recurrent encoder (bidirectional by
default, so that every tag has read the whole sentence) and a linear head at every step;
cross-entropy over the real tokens only (padded steps carry the target -1, ignored). Sentences
longer than max_length are cut into pieces of max_length tokens for training; predict() reads
every sentence whole. The checkpoint kept has the lowest validation token error rate.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from ..data.seq2seq import UNK, TokenVocab
from ..models.encoder import EncoderConfig, cell_choices
from ..models.metrics import tag_f1
from ..models.tagger import SequenceTagger, TaggerConfig
from ..nn import cross_entropy
from .base import RNNEstimator, Say
from .classify import encoder_parameters, sorted_labels

IGNORE = -1  # the target of a padded step: cross_entropy leaves it out


def _pieces(sentence: list, size: int) -> list[list]:
    """`sentence` cut into consecutive pieces of at most `size` items (one piece when it fits)."""
    return [sentence[k : k + size] for k in range(0, len(sentence), size)] or [sentence]


class RNNTagger(RNNEstimator):
    """A recurrent sequence tagger: one tag per token (scikit-learn's parameter protocol).

    Args (keyword only; every one is a parameter that get_params/set_params and GridSearchCV see):
        model: the cell, "lstm", "gru", "rnn" or "irnn".
        hidden, layers, bidirectional, embedding: the encoder.
        min_count: a token seen fewer times in training is read as <unk>.
        lowercase: read every token lower-cased (training and prediction alike).
        max_length: the longest piece of a sentence trained on (longer ones are cut into pieces);
            predict() reads every sentence whole.
        steps / minutes / epochs: the budget (steps, else minutes, else epochs passes).
        batch_size, lr, clip: Adam's batch (sentences), learning rate and gradient-norm clip (0: none).
        validation_fraction, test_fraction: sentences held out to choose the checkpoint and to
            report held-out metrics (run.json and evaluation.json of the run folder).
        seed: the split, the initial weights and the batches.
        warm_start: fit() on a fitted estimator continues training (same preprocessing).
        progress: a progress bar on stderr.
        run_dir: the run folder to train into (None: a temporary one, removed after fit).

    Attributes after fit: tags_, vocab_, lowercase_, min_count_, baseline_ (the per-word majority
    tag id of every vocabulary id), model_, n_steps_, best_validation_, test_metrics_.
    """

    task = "tag"
    _score_name = "token error rate"

    def __init__(
        self,
        *,
        model: str = "lstm",
        hidden: int = 64,
        layers: int = 1,
        bidirectional: bool = True,
        embedding: int = 32,
        min_count: int = 1,
        lowercase: bool = False,
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
        self.embedding, self.min_count, self.lowercase, self.max_length = embedding, min_count, lowercase, max_length
        self.steps, self.minutes, self.epochs = steps, minutes, epochs
        self.batch_size, self.lr, self.clip = batch_size, lr, clip
        self.validation_fraction, self.test_fraction, self.seed = validation_fraction, test_fraction, seed
        self.warm_start, self.progress, self.run_dir = warm_start, progress, run_dir

    # --- input ---------------------------------------------------------------------------------
    @staticmethod
    def _sentences(X, *, allow_empty: bool) -> list[list[str]]:
        """X as a list of token lists; a string where a token list belongs, a token that is not a
        string or (unless allow_empty) an empty sentence is a ValueError naming the sentence."""
        if isinstance(X, str):
            raise ValueError("X must be a list of sentences, each a list of tokens; got one string")
        out = []
        for k, sentence in enumerate(X):
            if isinstance(sentence, str):
                raise ValueError(
                    f"sentence {k} is a string ({sentence[:30]!r}); give each sentence as a list of tokens "
                    "(e.g. text.split())"
                )
            tokens = list(sentence)
            bad = next((t for t in tokens if not isinstance(t, str)), None)
            if bad is not None:
                raise ValueError(f"sentence {k}: token {bad!r} is not a string")
            if not tokens and not allow_empty:
                raise ValueError(f"sentence {k} is empty; every sentence needs one token or more")
            out.append(tokens)
        return out

    @staticmethod
    def _tag_lists(X: list[list[str]], y) -> list[list]:
        """y as a list of tag lists, one per sentence of X and as long as it (else a ValueError
        naming the first sentence that differs)."""
        if y is None:
            raise ValueError("a tagger needs tags: fit(X, y) with one list of tags per sentence")
        if isinstance(y, str):
            raise ValueError("y must be a list of tag lists, one per sentence; got one string")
        y = list(y)
        bad = next((k for k, tags in enumerate(y) if isinstance(tags, str)), None)
        if bad is not None:
            raise ValueError(f"the tags of sentence {bad} are one string; give a list of tags, one per token")
        y = [list(tags) for tags in y]
        if len(X) != len(y):
            raise ValueError(f"got {len(X)} sentences but {len(y)} tag lists")
        for k, (tokens, tags) in enumerate(zip(X, y)):
            if len(tokens) != len(tags):
                raise ValueError(f"sentence {k} has {len(tokens)} tokens but {len(tags)} tags")
        return y

    def _check(self, X, y) -> tuple[list, list]:
        if self.model not in cell_choices():
            raise ValueError(f"model must be one of {', '.join(cell_choices())}, got {self.model!r}")
        if isinstance(self.max_length, bool) or not isinstance(self.max_length, int) or self.max_length < 1:
            raise ValueError(f"max_length must be a positive integer, got {self.max_length!r}")
        X = self._sentences(X, allow_empty=False)
        if not X:
            raise ValueError("no sentences to learn from")
        y = self._tag_lists(X, y)
        distinct = {t for tags in y for t in tags}
        if len(distinct) < 2:
            raise ValueError(f"every token has the tag {y[0][0]!r}; a tagger needs two or more tags")
        return X, y

    # --- preprocessing -------------------------------------------------------------------------
    def _learn(self, X: list, y: list, say: Say) -> None:
        self.tags_ = sorted_labels([t for tags in y for t in tags])
        self.lowercase_ = bool(self.lowercase)
        self.min_count_ = self.min_count
        tokens = [self._normal(s) for s in X]
        self.vocab_ = TokenVocab.build(tokens, min_count=self.min_count)
        self._fit_baseline(tokens, y)
        counts = Counter(t for s in tokens for t in s)
        rare = sum(1 for c in counts.values() if c < self.min_count)
        say(
            f"{len(X):,} training sentences, {sum(counts.values()):,} tokens, {len(self.tags_)} tags; vocabulary "
            f"{self.vocab_.size - 4:,} tokens (+4 special), {rare:,} rarer than {self.min_count} read as <unk>"
        )

    def _normal(self, sentence: list[str]) -> list[str]:
        return [t.lower() for t in sentence] if self.lowercase_ else sentence

    def _encode(self, X: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
        """ids (T, n) padded with PAD and lengths (n,); an empty sentence is one <unk> step."""
        return self.vocab_.encode([self._normal(s) for s in X])

    def _tag_ids(self, y: list[list], T: int) -> np.ndarray:
        """Targets (T, n): tag ids, IGNORE past each sentence's end; an unknown tag is a ValueError."""
        index = {t: k for k, t in enumerate(self.tags_)}
        out = np.full((T, len(y)), IGNORE, np.int64)
        for b, tags in enumerate(y):
            unknown = next((t for t in tags if t not in index), None)
            if unknown is not None:
                known = ", ".join(map(repr, self.tags_))
                raise ValueError(f"sentence {b}: tag {unknown!r} was not among the training tags ({known})")
            out[: len(tags), b] = [index[t] for t in tags]
        return out

    def _fit_baseline(self, tokens: list[list[str]], y: list[list]) -> None:
        """The per-word majority tagger: baseline_[id] is the commonest training tag of token id
        (ties: the first tag in tags_ order); <unk> and the specials get the commonest tag of the
        tokens read as <unk>, or of all tokens when every token is known."""
        index = {t: k for k, t in enumerate(self.tags_)}
        counts = np.zeros((self.vocab_.size, len(self.tags_)), np.int64)
        for sentence, tags in zip(tokens, y):
            np.add.at(counts, (self.vocab_.ids(sentence), [index[t] for t in tags]), 1)
        fallback = counts[UNK] if counts[UNK].any() else counts.sum(axis=0)
        baseline = counts.argmax(axis=1)
        baseline[counts.sum(axis=1) == 0] = fallback.argmax()
        baseline[UNK] = fallback.argmax()
        self.baseline_ = baseline

    # --- model and training --------------------------------------------------------------------
    def _parameter_count(self) -> int:
        """The model's size before it is built (the base checks that it fits in memory)."""
        width = (2 if self.bidirectional else 1) * self.hidden
        trunk = encoder_parameters(self.model, self.embedding, self.hidden, self.layers, self.bidirectional)
        return self.vocab_.size * self.embedding + trunk + (width + 1) * len(self.tags_)

    def _build_model(self, rng: np.random.Generator) -> SequenceTagger:
        encoder = EncoderConfig(
            vocab_size=self.vocab_.size,
            embedding=self.embedding,
            cell=self.model,
            hidden=self.hidden,
            layers=self.layers,
            bidirectional=self.bidirectional,
        )
        return SequenceTagger(TaggerConfig(outputs=len(self.tags_), encoder=encoder), rng)

    def _training(self, X: list, y: list):
        pieces = [
            (p, q) for s, t in zip(X, y) for p, q in zip(_pieces(s, self.max_length), _pieces(t, self.max_length))
        ]
        x, lengths = self._encode([p for p, _ in pieces])
        target = self._tag_ids([q for _, q in pieces], x.shape[0])
        n, batch = len(pieces), min(self.batch_size, len(pieces))

        def draw(step, rng):
            idx = rng.choice(n, size=batch, replace=False)
            T = int(lengths[idx].max())
            return x[:T, idx], lengths[idx], target[:T, idx]

        def loss(scores, target):
            return cross_entropy(scores, target, ignore_index=IGNORE)

        return draw, loss, n

    def _validation_score(self, X: list, y: list) -> float:
        return 1.0 - self.score(X, y)

    # --- use -------------------------------------------------------------------------------------
    def decision_function(self, X) -> list[np.ndarray]:
        """The model's tag scores (logits) of each sentence, an array (length, tags) each."""
        self._require_fitted()
        X = self._sentences(X, allow_empty=True)
        if not X:
            return []
        ids, lengths = self._encode(X)
        scores = self.model_.predict(ids, lengths)
        return [scores[: len(s), b] for b, s in enumerate(X)]

    def _predict_ids(self, X) -> list[np.ndarray]:
        return [s.argmax(axis=-1) for s in self.decision_function(X)]

    def predict(self, X) -> list[list]:
        """The most likely tag of every token: one list of tags per sentence, as long as it."""
        return [[self.tags_[k] for k in ids] for ids in self._predict_ids(X)]

    def predict_proba(self, X) -> list[np.ndarray]:
        """Tag probabilities of every token, an array (length, tags) per sentence, columns in
        the order of tags_."""
        out = []
        for s in self.decision_function(X):
            z = np.exp(s.astype(np.float64) - s.max(axis=-1, keepdims=True))
            out.append(z / z.sum(axis=-1, keepdims=True))
        return out

    def _labelled(self, X, y) -> tuple[list[list[str]], list[list]]:
        X = self._sentences(X, allow_empty=True)
        return X, self._tag_lists(X, y)

    def score(self, X, y) -> float:
        """Token accuracy: the share of all tokens tagged right (higher is better); a tag never
        seen in training counts as wrong."""
        X, y = self._labelled(X, y)
        pred = self.predict(X)
        total = sum(len(t) for t in y)
        if not total:
            raise ValueError("no tokens to score")
        return sum(p == t for ps, ts in zip(pred, y) for p, t in zip(ps, ts)) / total

    def word_majority(self, X) -> list[list]:
        """The per-word majority baseline's tags (each token's commonest training tag)."""
        self._require_fitted()
        if self.baseline_ is None:
            raise ValueError("this run.json holds no per-word majority baseline")
        X = self._sentences(X, allow_empty=True)
        return [[self.tags_[k] for k in self.baseline_[self.vocab_.ids(self._normal(s))]] for s in X]

    def evaluate(self, X, y) -> dict:
        """Token accuracy, per-tag precision/recall/F1/support (token level, not CoNLL spans),
        macro-F1 and the per-word majority baseline's token accuracy."""
        X, y = self._labelled(X, y)
        scores = tag_f1(y, self.predict(X))
        result = {
            "sentences": len(X),
            "tokens": int(sum(len(t) for t in y)),
            "token_accuracy": scores["accuracy"],
            "macro_f1": scores["macro_f1"],
            "per_tag": {
                str(tag): {k: float(scores[k][i]) for k in ("precision", "recall", "f1")}
                | {"support": int(scores["support"][i])}
                for i, tag in enumerate(scores["tags"])
            },
        }
        if self.baseline_ is not None:
            result["word_majority_accuracy"] = tag_f1(y, self.word_majority(X))["accuracy"]
        return result

    # --- the command line: files in, records out -------------------------------------------------
    @classmethod
    def read_file(cls, path, *, tag_column=None, **_):
        """(sentences, tags, source) from a CoNLL-style file: one token per line with its tag (the
        last field, or field `tag_column`, 0-based, the token being field 0), a blank line
        between sentences (rnnlab.data.tables.read_conll)."""
        from ..data.tables import read_conll

        if isinstance(tag_column, str) and tag_column.strip().isdigit():
            tag_column = int(tag_column)
        tagged = read_conll(path, tag_column=tag_column)
        return tagged.sentences, tagged.tags, {"path": str(path), "tag_column": tag_column}

    def inputs_from_lines(self, lines: list[str]) -> list:
        """One sentence a line, its tokens split at white space."""
        return [line.split() for line in lines]

    def predict_records(self, X) -> list[dict]:
        X = self._sentences(X, allow_empty=True)
        return [{"tokens": s, "tags": t} for s, t in zip(X, self.predict(X))]

    def record_text(self, record: dict) -> str:
        return " ".join(f"{tok}/{tag}" for tok, tag in zip(record["tokens"], record["tags"]))

    def evaluation_lines(self, metrics: dict) -> list[str]:
        lines = [
            f"{metrics['sentences']:,} sentences, {metrics['tokens']:,} tokens: token accuracy "
            f"{metrics['token_accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f}"
            + (
                f" (per-word majority tag {metrics['word_majority_accuracy']:.4f})"
                if "word_majority_accuracy" in metrics
                else ""
            )
        ]
        width = max([3, *(len(t) for t in metrics["per_tag"])])
        lines.append(f"  {'tag':<{width}}  precision  recall      F1  support")
        for tag, r in metrics["per_tag"].items():
            lines.append(
                f"  {tag:<{width}}  {r['precision']:9.3f}  {r['recall']:6.3f}  {r['f1']:6.3f}  {r['support']:7,}"
            )
        return lines

    def evaluation_plot(self, metrics: dict, X, y, path: Path) -> Path | None:
        """Each tag's F1 as a bar, its support beside it."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        names = list(metrics["per_tag"])
        f1 = [metrics["per_tag"][t]["f1"] for t in names]
        fig, ax = plt.subplots(figsize=(6, 1.5 + 0.3 * len(names)), dpi=110)
        ax.barh(range(len(names)), f1, color="tab:blue")
        for k, t in enumerate(names):
            ax.text(min(f1[k], 1.0) + 0.01, k, f"{f1[k]:.2f} ({metrics['per_tag'][t]['support']:,})", va="center")
        ax.set_yticks(range(len(names)), names)
        ax.invert_yaxis()
        ax.set_xlim(0, 1.2)
        ax.set_xlabel("F1 (support)")
        ax.set_title(f"token accuracy {metrics['token_accuracy']:.3f}, macro-F1 {metrics['macro_f1']:.3f}")
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
        return path

    # --- run.json ----------------------------------------------------------------------------------
    def _preprocessing(self) -> dict:
        return {
            "tags": list(self.tags_),
            "vocab": self.vocab_.to_json(),
            "lowercase": self.lowercase_,
            "min_count": self.min_count_,
            "word_majority": self.baseline_.tolist(),
        }

    def _restore(self, d: dict) -> None:
        self.tags_ = list(d["tags"])
        self.vocab_ = TokenVocab.from_json(d["vocab"])
        self.lowercase_ = bool(d.get("lowercase", False))
        self.min_count_ = d.get("min_count", self.min_count)
        baseline = d.get("word_majority")
        self.baseline_ = np.array(baseline, np.int64) if baseline is not None else None
        if self.baseline_ is not None and (
            self.baseline_.shape != (self.vocab_.size,) or not np.isin(self.baseline_, range(len(self.tags_))).all()
        ):
            raise ValueError("word_majority must give one tag number per word of the vocabulary")
