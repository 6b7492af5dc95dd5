"""Sequence to sequence on a person's own pairs of texts: an encoder-decoder (with attention by
default) that learns to write the target of each source.

    est = RNNSeq2Seq(minutes=3).fit(sources, targets)          # two lists of str
    est.predict(["forty-two"]), est.score(sources, targets), est.evaluate(sources, targets)
    sources, targets, source = RNNSeq2Seq.read_file("pairs.tsv")   # source<TAB>target lines

Preprocessing, learnt from the training rows and saved in run.json:
    unit      how texts become tokens, one unit for both sides:
              "char": every character (spaces included) is a token;
              "word": words and punctuation marks, case kept; a token written against the one
                      before it (no space between) carries "##" in front, so that the output
                      tokens join back into text: "Hello, world!" -> Hello ##, world ##!
              "auto" chooses "char" when the targets are short (median <= 3 words:
              AUTO_SHORT_WORDS) or when a word vocabulary would often meet target words it has
              never seen: more than 5% (AUTO_UNSEEN) of the training targets' word tokens are of
              words seen fewer than max(2, min_count) times (Good-Turing: the share of words
              seen once estimates the share of new text's words never seen at all; words rarer
              than min_count would be <unk> besides); otherwise "word". fit() says which and why.
    vocabularies  the source's and the target's tokens seen at least min_count times (others
              are <unk>); when that would keep fewer than half of a side's token occurrences
              (or none), min_count falls to 1 for that side and fit() says so (build_vocab)
    max_length    tokens kept from the start of every source and target

Model: rnnlab.models.seq2seq.Seq2Seq, an embedding, a recurrent encoder (bidirectional by
default), a decoder started from the encoder's final state through a bridge, attention over the
encoder's outputs ("additive" by default; "dot", "general", or None), cross-entropy on the
target tokens, teacher forced. The checkpoint kept has the lowest validation error: the share of
validation outputs (greedy) that are not exactly the target, plus a hundredth of the per-token
error rate to break ties. predict() decodes greedily, or by beam search of width `beam`.

Outputs are compared with targets as texts with their whitespace normalised (split and joined by
one space): exact match, character error rate and chrF on those texts; corpus BLEU (4-grams,
exponential smoothing, as sacrebleu's default) and position-wise token accuracy on the unit's
tokens (characters or words).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np

from ..data.seq2seq import SPECIALS, TokenVocab
from ..data.text import DataError
from ..models.attention import KINDS
from ..models.metrics import character_error_rate, chrf, corpus_bleu, exact_match, token_accuracy
from ..models.seq2seq import Seq2Seq, Seq2SeqConfig
from ..nn import cells, cross_entropy
from ..train.limits import recurrent_parameters
from .base import RNNEstimator, Say, read_lines

UNITS = ("auto", "char", "word")
AUTO_SHORT_WORDS = 3  # unit="auto": targets of at most this many words (median) are read as characters
AUTO_UNSEEN = 0.05  # unit="auto": characters when more of the target words than this are rare (see above)
GLUE = "##"  # in front of a word token written against the token before it (no space between)
_WORD = re.compile(r"\w+|[^\w\s]")


# --- text <-> tokens ------------------------------------------------------------------------------
def word_tokens(text: str) -> list[str]:
    """Words and punctuation marks, case kept; one written against the one before it carries GLUE
    in front, so join_words() gives the text back (with single spaces): "J'ai froid !" ->
    J ##' ##ai froid !"""
    out, end = [], None
    for m in _WORD.finditer(text):
        out.append(GLUE + m.group() if end is not None and m.start() == end else m.group())
        end = m.end()
    return out


def join_words(tokens: list[str]) -> str:
    """word_tokens() backwards: tokens joined by spaces, a GLUE token joined without one."""
    text = ""
    for t in tokens:
        if t.startswith(GLUE) and len(t) > len(GLUE):
            text += t[len(GLUE) :]
        else:
            text += (" " if text else "") + t
    return text


def tokens_of(text: str, unit: str) -> list[str]:
    """A text's tokens: "char" (every character) or "word" (word_tokens)."""
    return list(text) if unit == "char" else word_tokens(text)


def join_tokens(tokens: list[str], unit: str) -> str:
    return "".join(tokens) if unit == "char" else join_words(tokens)


def normalise(text: str) -> str:
    """Whitespace runs as one space, none at the ends: how outputs and targets are compared."""
    return " ".join(text.split())


def choose_unit(targets: list[str], min_count: int = 1) -> tuple[str, str]:
    """unit="auto" (see the module docstring): ("char" or "word", why), from the training targets."""
    lengths = [len(word_tokens(t)) for t in targets]
    median = float(np.median(lengths)) if lengths else 0.0
    if median <= AUTO_SHORT_WORDS:
        words = "word" if median == 1 else "words"
        return "char", f"the targets are short (median {median:g} {words}, at most {AUTO_SHORT_WORDS})"
    counts = Counter(w for t in targets for w in word_tokens(t))
    rare_below = max(2, min_count)
    rare = sum(c for c in counts.values() if c < rare_below) / max(1, sum(counts.values()))
    why = (
        f"{100 * rare:.1f}% of the target words are of words seen fewer than {rare_below} times "
        f"(the share of unseen words to expect in new targets; characters above {100 * AUTO_UNSEEN:g}%)"
    )
    return ("char" if rare > AUTO_UNSEEN else "word"), why


def build_vocab(sequences, min_count: int = 1, max_size: int | None = None) -> tuple[TokenVocab, int, str | None]:
    """TokenVocab.build that never empties a vocabulary silently: (vocab, the min_count used, a
    note or None). When the tokens seen at least min_count times would cover fewer than half of
    the token occurrences, or none is, min_count falls to 1 and the note says why."""
    sequences = [list(s) for s in sequences]
    counts = Counter(t for s in sequences for t in s)
    total = sum(counts.values())
    vocab = TokenVocab.build(sequences, min_count=min_count, max_size=max_size)
    covered = sum(counts[t] for t in vocab.tokens[len(SPECIALS) :])
    if min_count <= 1 or total == 0 or (vocab.size > len(SPECIALS) and covered >= total / 2):
        return vocab, min_count, None
    kept = vocab.size - len(SPECIALS)
    note = (
        f"min_count {min_count} would keep {kept} of {len(counts)} distinct tokens, covering "
        f"{100 * covered / total:.0f}% of the {total} tokens (the rest <unk>): keeping every token seen instead"
    )
    return TokenVocab.build(sequences, min_count=1, max_size=max_size), 1, note


def decode(
    model: Seq2Seq,
    src_vocab: TokenVocab,
    tgt_vocab: TokenVocab,
    src_seqs,
    *,
    beam: int = 0,
    max_len: int = 50,
    batch: int = 256,
    alpha: float = 1.0,
):
    """Token lists out for token lists in: greedy (beam 0) or beam search of width `beam`; also the
    attention weights per sequence (None without attention)."""
    out, weights = [], []
    with model.evaluating():
        for k in range(0, len(src_seqs), batch):
            src, lengths = src_vocab.encode(src_seqs[k : k + batch])
            ids, w = (
                model.beam_search(src, lengths, beam, max_len, alpha) if beam else model.greedy(src, lengths, max_len)
            )
            out += [tgt_vocab.decode(s) for s in ids]
            weights += w
    return out, weights


class TeacherForced(Seq2Seq):
    """A Seq2Seq whose forward also takes the whole batch as one tuple (src, src_lengths, tgt_in,
    tgt_lengths): the form rnnlab.train.SupervisedTask passes (its batch's x). The weights and
    their names are Seq2Seq's."""

    def forward(self, src, src_lengths=None, tgt_in=None, tgt_lengths=None) -> np.ndarray:
        if isinstance(src, tuple):
            src, src_lengths, tgt_in, tgt_lengths = src
        return super().forward(src, src_lengths, tgt_in, tgt_lengths)


def _masked_cross_entropy(logits, target):
    tgt_out, mask = target
    return cross_entropy(logits, tgt_out, mask=mask)


class RNNSeq2Seq(RNNEstimator):
    """A recurrent encoder-decoder from source texts to target texts (scikit-learn's protocol).

    Args (keyword only; every one is a parameter that get_params/set_params and GridSearchCV see):
        unit: "auto", "char" or "word" (see the module docstring for how "auto" chooses).
        attention: "additive" (Bahdanau), "dot" or "general" (Luong), or None / "none".
        model: the cell of encoder and decoder, one of rnnlab.nn.cells.names().
        hidden, layers, bidirectional, embedding: the encoder (the decoder has
            (2 if bidirectional else 1) * hidden units and as many layers).
        min_count: a token seen fewer times in training becomes <unk> (never emptying a vocabulary).
        max_length: tokens kept from the start of every source and target.
        steps / minutes / epochs: the budget (steps, else minutes, else epochs passes).
        batch_size, lr, clip: Adam's batch, learning rate and gradient-norm clip (0: none).
        beam: predict()'s beam width (0: greedy).
        validation_fraction, test_fraction: rows held out to choose the checkpoint and to report
            held-out metrics (run.json and evaluation.json of the run folder).
        seed: the split, the initial weights and the batches.
        warm_start: fit() on a fitted estimator continues training (same preprocessing).
        progress: a progress bar on stderr.
        run_dir: the run folder to train into (None: a temporary one, removed after fit).

    Attributes after fit: unit_ (and unit_reason_), src_vocab_, tgt_vocab_, min_count_,
    max_output_ (most output tokens decoded), model_, n_steps_, best_validation_, test_metrics_.
    """

    task = "seq2seq"
    _score_name = "error rate"

    def __init__(
        self,
        *,
        unit: str = "auto",
        attention: str | None = "additive",
        model: str = "gru",
        hidden: int = 64,
        layers: int = 1,
        bidirectional: bool = True,
        embedding: int = 32,
        min_count: int = 1,
        max_length: int = 100,
        steps: int | None = None,
        minutes: float | None = None,
        epochs: float = 30,
        batch_size: int = 64,
        lr: float = 3e-3,
        clip: float = 1.0,
        beam: int = 0,
        validation_fraction: float = 0.1,
        test_fraction: float = 0.0,
        seed: int = 0,
        warm_start: bool = False,
        progress: bool = False,
        run_dir: str | Path | None = None,
    ):
        self.unit, self.attention, self.model = unit, attention, model
        self.hidden, self.layers, self.bidirectional, self.embedding = hidden, layers, bidirectional, embedding
        self.min_count, self.max_length = min_count, max_length
        self.steps, self.minutes, self.epochs = steps, minutes, epochs
        self.batch_size, self.lr, self.clip, self.beam = batch_size, lr, clip, beam
        self.validation_fraction, self.test_fraction, self.seed = validation_fraction, test_fraction, seed
        self.warm_start, self.progress, self.run_dir = warm_start, progress, run_dir

    # --- input ---------------------------------------------------------------------------------
    def _attention_kind(self) -> str | None:
        return None if self.attention in (None, "none") else self.attention

    def _check(self, X, y) -> tuple[list, list]:
        if self.model not in cells.names():
            raise ValueError(f"model must be one of {', '.join(cells.names())}, got {self.model!r}")
        if self.unit not in UNITS:
            raise ValueError(f"unit must be one of {', '.join(UNITS)}, got {self.unit!r}")
        if self.attention is not None and self.attention not in ("none", *KINDS):
            raise ValueError(f"attention must be None, 'none' or one of {', '.join(KINDS)}, got {self.attention!r}")
        if isinstance(self.beam, bool) or not isinstance(self.beam, int) or self.beam < 0:
            raise ValueError(f"beam must be 0 (greedy) or a positive width, got {self.beam!r}")
        if isinstance(self.min_count, bool) or not isinstance(self.min_count, int) or self.min_count < 1:
            raise ValueError(f"min_count must be a positive integer, got {self.min_count!r}")
        if y is None:
            raise ValueError("seq2seq needs targets: fit(sources, targets)")
        X, y = self._texts(X, "source"), self._texts(y, "target")
        if len(X) != len(y):
            raise ValueError(f"got {len(X)} sources but {len(y)} targets")
        if not X:
            raise ValueError("no pairs to learn from")
        return X, y

    @staticmethod
    def _texts(values, what: str) -> list[str]:
        if isinstance(values, str):
            raise ValueError(f"the {what}s must be a list of strings, not one string")
        values = list(values)
        for k, v in enumerate(values):
            if not isinstance(v, str):
                raise ValueError(f"{what} {k} is a {type(v).__name__}, not a string: every {what} must be a text")
        return values

    def _tokens(self, texts: list[str]) -> list[list[str]]:
        return [tokens_of(t, self.unit_)[: self.max_length] for t in texts]

    # --- preprocessing -------------------------------------------------------------------------
    def _learn(self, X: list, y: list, say: Say) -> None:
        if self.unit == "auto":
            self.unit_, self.unit_reason_ = choose_unit(y, self.min_count)
            say(f"unit: {self.unit_}s, since {self.unit_reason_}")
        else:
            self.unit_, self.unit_reason_ = self.unit, "unit given"
        src, tgt = self._tokens(X), self._tokens(y)
        self.src_vocab_, src_min, src_note = build_vocab(src, self.min_count)
        self.tgt_vocab_, tgt_min, tgt_note = build_vocab(tgt, self.min_count)
        for side, note in (("source", src_note), ("target", tgt_note)):
            if note:
                say(f"{side}: {note}")
        self.min_count_ = {"source": src_min, "target": tgt_min}
        longest = max(len(t) for t in tgt)
        self.max_output_ = int(min(self.max_length, 2 * longest + 5))
        say(
            f"{len(X):,} training pairs; vocabularies {self.src_vocab_.size - 4:,} source and "
            f"{self.tgt_vocab_.size - 4:,} target {self.unit_}s (+4 special); targets up to {longest} {self.unit_}s"
        )

    # --- model and training --------------------------------------------------------------------
    def _parameter_count(self) -> int:
        """The model's size before it is built (the base checks that it fits in memory): the
        two embeddings, the encoder, the decoder (as wide as the encoder's output), the bridge
        between their states, the attention and the head, as rnnlab.models.seq2seq builds them."""
        E, H, L = self.embedding, self.hidden, self.layers
        key = (2 if self.bidirectional else 1) * H  # the encoder's output width, the decoder's size
        count = (self.src_vocab_.size + self.tgt_vocab_.size) * E
        count += recurrent_parameters(self.model, E, H, L, self.bidirectional)
        count += recurrent_parameters(self.model, E, key, L) + (key + 1) * self.tgt_vocab_.size
        if self.bidirectional:  # the bridge: a Linear from the encoder's final states to the decoder's
            count += (key + 1) * L * key
        attention = self._attention_kind()
        if attention is not None:
            count += {"dot": 0, "general": key * key, "additive": 2 * H * key + 2 * H}[attention]
            count += (2 * key + 1) * key  # combine: [context; output] -> the decoder's size
        return count

    def _build_model(self, rng: np.random.Generator) -> TeacherForced:
        config = Seq2SeqConfig(
            self.src_vocab_.size,
            self.tgt_vocab_.size,
            embedding=self.embedding,
            cell=self.model,
            hidden=self.hidden,
            layers=self.layers,
            bidirectional=self.bidirectional,
            attention=self._attention_kind(),
            attention_size=self.hidden,
        )
        return TeacherForced(config, rng)

    def _training(self, X: list, y: list):
        src, tgt = self._tokens(X), self._tokens(y)
        n, batch = len(src), min(self.batch_size, len(src))

        def draw(step, rng):
            idx = rng.choice(n, size=batch, replace=False)
            s, s_len = self.src_vocab_.encode([src[i] for i in idx])
            tgt_in, tgt_out, t_len = self.tgt_vocab_.encode_target([tgt[i] for i in idx])
            mask = np.arange(tgt_in.shape[0])[:, None] < t_len[None, :]
            return (s, s_len, tgt_in, t_len), None, (tgt_out, mask)

        return draw, _masked_cross_entropy, n

    def _validation_score(self, X: list, y: list) -> float:
        out = self._decode(X, beam=0)
        ref = self._tokens(y)
        return 1.0 - exact_match(out, ref) + 0.01 * (1.0 - _token_accuracy(out, ref))

    # --- use -------------------------------------------------------------------------------------
    def _decode(self, X, beam: int | None = None) -> list[list[str]]:
        self._require_fitted()
        X = self._texts(X, "source")
        if not X:
            return []
        beam = self.beam if beam is None else beam
        out, _ = decode(
            self.model_, self.src_vocab_, self.tgt_vocab_, self._tokens(X), beam=beam, max_len=self.max_output_
        )
        return out

    def predict(self, X) -> list[str]:
        """The output text of every source: greedy, or beam search of width `beam`."""
        return [join_tokens(o, self.unit_) for o in self._decode(X)]

    def score(self, X, y) -> float:
        """Exact match (0..1): the share of outputs equal to their target, whitespace normalised."""
        y = self._texts(y, "target")
        out = self.predict(X)
        if len(out) != len(y):
            raise ValueError(f"got {len(out)} sources but {len(y)} targets")
        return exact_match([normalise(o) for o in out], [normalise(t) for t in y])

    def evaluate(self, X, y) -> dict:
        """pairs, exact_match (0..1), character_error_rate (0..), chrf (0..100), bleu (0..100,
        4-gram corpus BLEU with exponential smoothing on the unit's tokens), token_accuracy
        (0..1, position-wise on the unit's tokens); and up to five wrong outputs (`errors`)."""
        X, y = self._texts(X, "source"), self._texts(y, "target")
        if len(X) != len(y):
            raise ValueError(f"got {len(X)} sources but {len(y)} targets")
        out = self.predict(X)
        hyp, ref = [normalise(o) for o in out], [normalise(t) for t in y]
        hyp_tokens, ref_tokens = self._tokens(hyp), self._tokens(ref)
        wrong = [k for k in range(len(hyp)) if hyp[k] != ref[k]]
        return {
            "pairs": len(X),
            "unit": self.unit_,
            "exact_match": exact_match(hyp, ref),
            "character_error_rate": character_error_rate(hyp, ref) if any(ref) else float(any(hyp)),
            "chrf": chrf(hyp, ref),
            "bleu": corpus_bleu(hyp_tokens, ref_tokens, smooth="exp"),
            "token_accuracy": _token_accuracy(hyp_tokens, ref_tokens),
            "errors": [{"input": X[k], "output": out[k], "target": y[k]} for k in wrong[:5]],
        }

    # --- the command line: files in, records out -------------------------------------------------
    @classmethod
    def read_file(cls, path, **_) -> tuple[list[str], list[str], dict]:
        """(sources, targets, source) from a UTF-8 file of source<TAB>target lines; further
        tab-separated fields (as Tatoeba's attribution) are ignored, blank lines skipped."""
        sources, targets = [], []
        for number, line in enumerate(read_lines(path), 1):
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) < 2:
                raise DataError(path, f"line {number}: expected source<TAB>target, found no tab in {line[:60]!r}")
            source, target = fields[0].strip(), fields[1].strip()
            if not source or not target:
                raise DataError(path, f"line {number}: the {'source' if not source else 'target'} is empty")
            sources.append(source)
            targets.append(target)
        if not sources:
            raise DataError(path, "holds no source<TAB>target line")
        return sources, targets, {"path": str(path)}

    def inputs_from_lines(self, lines: list[str]) -> list:
        """A line's text before its first tab (so a source<TAB>target file can be read as inputs)."""
        return [line.split("\t", 1)[0] for line in lines]

    def predict_records(self, X) -> list[dict]:
        X = self._texts(X, "source")
        return [{"input": x, "output": o} for x, o in zip(X, self.predict(X))]

    def record_text(self, record: dict) -> str:
        return record["output"]

    def evaluation_lines(self, metrics: dict) -> list[str]:
        lines = [
            f"{metrics['pairs']:,} pairs: exact match {metrics['exact_match']:.4f}, character error rate "
            f"{metrics['character_error_rate']:.4f}, chrF {metrics['chrf']:.2f}, BLEU {metrics['bleu']:.2f} "
            f"(on {metrics['unit']}s, exp smoothing), token accuracy {metrics['token_accuracy']:.4f}"
        ]
        if metrics.get("errors"):
            lines.append("wrong outputs (source -> output / target):")
            lines += [f"  {e['input']} -> {e['output']} / {e['target']}" for e in metrics["errors"]]
        return lines

    # --- run.json ----------------------------------------------------------------------------------
    def _preprocessing(self) -> dict:
        return {
            "unit": self.unit_,
            "unit_reason": self.unit_reason_,
            "src_vocab": self.src_vocab_.to_json(),
            "tgt_vocab": self.tgt_vocab_.to_json(),
            "min_count": self.min_count_,
            "max_output": self.max_output_,
        }

    def _restore(self, d: dict) -> None:
        if d.get("unit") not in ("char", "word"):
            raise ValueError(f"run.json: the seq2seq unit must be 'char' or 'word', got {d.get('unit')!r}")
        self.unit_, self.unit_reason_ = d["unit"], d.get("unit_reason", "")
        self.src_vocab_ = TokenVocab.from_json(d["src_vocab"])
        self.tgt_vocab_ = TokenVocab.from_json(d["tgt_vocab"])
        self.min_count_ = d.get("min_count", self.min_count)
        self.max_output_ = int(d.get("max_output", self.max_length))


def _token_accuracy(hyp: list[list[str]], ref: list[list[str]]) -> float:
    """token_accuracy that reads every reference empty as perfect when the outputs are empty too."""
    if not any(ref):
        return float(not any(hyp))
    return token_accuracy(hyp, ref)
