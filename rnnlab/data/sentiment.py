"""Labelled sentences for many-to-one classification: the UCI "Sentiment Labelled Sentences"
(Kotzias et al. 2015; ../shared/data/sentiment_labelled_sentences) or any tab-separated file.

    data = load_labelled(path)                # a *_labelled.txt folder or one TSV file
    vocab = WordVocab.from_texts(train_texts)
    ids, lengths = vocab.encode(texts)       # (T, n) padded ids, (n,) lengths

A file holds one example per line: the text, a tab, the label (the last tab separates, so the
text may hold tabs). Every malformed line is a DataError naming the file and the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .text import DataError

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")  # words (with 's, n't) and punctuation


def tokenize(text: str) -> list[str]:
    """Lower-cased words and punctuation marks: "Not bad, good!" -> not bad , good !"""
    return _TOKEN.findall(text.lower())


@dataclass
class Labelled:
    texts: list[str]
    labels: np.ndarray  # (n,) int64 indices into classes
    classes: list[str]  # label names, sorted (numerically when they are all integers)
    sources: list[str]  # the files read


def _read_lines(path: Path) -> list[tuple[int, str, str]]:
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DataError(path, f"cannot be read ({err.strerror or err})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[:err.start].count(b"\n") + 1
        raise DataError(path, f"line {line}: not UTF-8 at byte {err.start}; save the file as UTF-8") from None
    rows = []
    for number, line in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        if not line.strip():
            continue
        if "\t" not in line:
            raise DataError(path, f"line {number}: no tab; expected 'text<TAB>label', got {line[:60]!r}")
        sentence, label = line.rsplit("\t", 1)
        if not sentence.strip():
            raise DataError(path, f"line {number}: the text before the tab is empty")
        if not label.strip():
            raise DataError(path, f"line {number}: the label after the last tab is missing")
        rows.append((number, sentence.strip(), label.strip()))
    if not rows:
        raise DataError(path, "holds no examples; expected lines of 'text<TAB>label'")
    return rows


def load_labelled(path) -> Labelled:
    """Every example of a TSV file, or of every *_labelled.txt file in a folder (sorted by name)."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, "no such file or folder; pass a tab-separated file of text and label "
                              "or the sentiment_labelled_sentences folder")
    files = sorted(path.glob("*_labelled.txt")) if path.is_dir() else [path]
    if not files:
        raise DataError(path, "is a folder without *_labelled.txt files; pass one TSV file instead")
    rows = [(f, *row) for f in files for row in _read_lines(f)]
    names = sorted({r[3] for r in rows})
    if all(re.fullmatch(r"-?\d+", n) for n in names):
        names = sorted(names, key=int)
    if len(names) < 2:
        raise DataError(files[0], f"every example has the label {names[0]!r}; a classifier needs two or more")
    index = {n: k for k, n in enumerate(names)}
    return Labelled([r[2] for r in rows], np.array([index[r[3]] for r in rows], np.int64), names,
                    [str(f) for f in files])


class WordVocab:
    """Words seen in training; id 0 pads, id 1 stands for any word not seen."""

    PAD, UNK = 0, 1

    def __init__(self, words: list[str]):
        self.words = ["<pad>", "<unk>"] + list(words)
        self.index = {w: k for k, w in enumerate(self.words)}

    @classmethod
    def from_texts(cls, texts: list[str], min_count: int = 1) -> WordVocab:
        counts: dict[str, int] = {}
        for t in texts:
            for w in tokenize(t):
                counts[w] = counts.get(w, 0) + 1
        return cls(sorted(w for w, c in counts.items() if c >= min_count))

    @property
    def size(self) -> int:
        return len(self.words)

    def encode(self, texts: list[str], max_len: int = 60) -> tuple[np.ndarray, np.ndarray]:
        """(T, n) int64 ids, padded with 0, each text cut to its first max_len tokens; (n,) lengths
        (at least 1: an empty text is one <unk>)."""
        tokens = [[self.index.get(w, self.UNK) for w in tokenize(t)][:max_len] or [self.UNK] for t in texts]
        lengths = np.array([len(t) for t in tokens], np.int64)
        ids = np.zeros((lengths.max(), len(texts)), np.int64)
        for b, t in enumerate(tokens):
            ids[:len(t), b] = t
        return ids, lengths

    def bag_of_words(self, texts: list[str], dtype=np.float32) -> np.ndarray:
        """(n, size) with 1 where the text holds the word (its order forgotten)."""
        bag = np.zeros((len(texts), self.size), dtype)
        for b, t in enumerate(texts):
            bag[b, [self.index.get(w, self.UNK) for w in tokenize(t)]] = 1
        return bag
