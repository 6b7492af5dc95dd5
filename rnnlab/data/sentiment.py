"""Labelled sentences for many-to-one classification: the UCI "Sentiment Labelled Sentences"
(Kotzias et al. 2015; the sentiment_labelled_sentences folder) or any tab-separated file.

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

from .tables import read_utf8
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


def _read_lines(path: Path, labels: tuple[str, ...] | None = None) -> list[tuple[int, str, str]]:
    text = read_utf8(path)
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if "\t" not in line:
            raise DataError(path, f"line {number}: no tab; expected 'text<TAB>label', got {line[:60]!r}")
        sentence, label = line.rsplit("\t", 1)
        if not sentence.strip():
            raise DataError(path, f"line {number}: the text before the tab is empty")
        if not label.strip():
            raise DataError(path, f"line {number}: the label after the last tab is missing")
        if labels is not None and label.strip() not in labels:
            raise DataError(path, f"line {number}: the label {label.strip()[:30]!r} is not one of {', '.join(labels)}")
        rows.append((number, sentence.strip(), label.strip()))
    if not rows:
        raise DataError(path, "holds no examples; expected lines of 'text<TAB>label'")
    return rows


def load_labelled(path, labels: tuple[str, ...] | None = None) -> Labelled:
    """Every example of a TSV file, or of every *_labelled.txt file in a folder (sorted by name).
    `labels`, when given, are the only labels a task takes (the UCI sentences' "0", "1"): any
    other is a DataError naming the file, the line and those allowed."""
    path = Path(path)
    if not path.exists():
        raise DataError(
            path,
            "no such file or folder; pass a tab-separated file of text and label "
            "or the sentiment_labelled_sentences folder",
        )
    files = sorted(path.glob("*_labelled.txt")) if path.is_dir() else [path]
    if not files:
        raise DataError(path, "is a folder without *_labelled.txt files; pass one TSV file instead")
    rows = [(f, *row) for f in files for row in _read_lines(f, labels)]
    names = sorted({r[3] for r in rows})
    if all(re.fullmatch(r"-?\d+", n) for n in names):
        names = sorted(names, key=int)
    if len(names) < 2:
        raise DataError(files[0], f"every example has the label {names[0]!r}; a classifier needs two or more")
    index = {n: k for k, n in enumerate(names)}
    return Labelled(
        [r[2] for r in rows], np.array([index[r[3]] for r in rows], np.int64), names, [str(f) for f in files]
    )


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
            ids[: len(t), b] = t
        return ids, lengths

    def bag_of_words(self, texts: list[str], dtype=np.float32) -> np.ndarray:
        """(n, size) with 1 where the text holds the word (its order forgotten)."""
        bag = np.zeros((len(texts), self.size), dtype)
        for b, t in enumerate(texts):
            bag[b, [self.index.get(w, self.UNK) for w in tokenize(t)]] = 1
        return bag


# --- sentences whose label is set by word order ------------------------------------------------
# Words that turn or weigh the meaning of others instead of carrying a sentiment of their own: never
# taken as the polar words of generated sentences (contrast_sentences adds its own "not", "but").
FUNCTION_WORDS = frozenset(
    {
        "not",
        "never",
        "no",
        "nor",
        "neither",
        "nothing",
        "none",
        "without",
        "but",
        "however",
        "though",
        "although",
        "unless",
        "unfortunately",
        "don't",
        "didn't",
        "doesn't",
        "isn't",
        "wasn't",
        "aren't",
        "weren't",
        "won't",
        "can't",
        "couldn't",
        "wouldn't",
        "shouldn't",
    }
)
CONTRAST_NOUNS = ("sound", "battery", "staff", "plot", "screen", "acting", "music", "place", "story", "design")
_FRAMES = ("", "that was ", "this is ", "they were ", "everything was ", "the {noun} was ", "the {noun} is ")
_NEGATORS = ("not", "never")


def polar_words(texts, labels, exclude=(), min_count: int = 3, agreement: float = 0.8) -> tuple[list[str], list[str]]:
    """(positive, negative): the words (alphabetic, three letters or more, not FUNCTION_WORDS nor
    `exclude`) in at least min_count of the texts, at least `agreement` of those labelled 1
    (positive) or 0 (negative). The polarity is the data's: "jabra" is positive in the UCI reviews."""
    skip = FUNCTION_WORDS | set(exclude)
    seen: dict[str, list[int]] = {}
    for text, label in zip(texts, labels):
        for w in set(tokenize(text)):
            if w.isalpha() and len(w) >= 3 and w not in skip:
                seen.setdefault(w, [0, 0])[int(label)] += 1
    positive, negative = [], []
    for w, (neg, pos) in sorted(seen.items()):
        if neg + pos >= min_count:
            if pos >= agreement * (neg + pos):
                positive.append(w)
            elif neg >= agreement * (neg + pos):
                negative.append(w)
    return positive, negative


def contrast_sentences(positive, negative, n: int, rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
    """n sentences each holding one positive and one negative word, labelled by the word that counts
    (1 positive, 0 negative), so that only their order and the words around them decide:

        not A, B              -> B    ("not poor, nice": positive)
        THE X WAS not A, B    -> B
        A, not B              -> A    ("bland, never delicious": negative)
        not A but B           -> B
        THE X WAS A, but B    -> B
        A X but B Y           -> B    ("nice sound but poor battery": negative)

    A bag of words cannot separate "not poor, nice" from "not nice, poor"; a reader of the order can.
    """
    if not positive or not negative:
        raise ValueError("contrast_sentences needs at least one positive and one negative word")
    texts, labels = [], []

    def frame():
        return _FRAMES[rng.integers(len(_FRAMES))].format(noun=CONTRAST_NOUNS[rng.integers(len(CONTRAST_NOUNS))])

    for _ in range(n):
        words = [positive[rng.integers(len(positive))], negative[rng.integers(len(negative))]]
        first_positive = bool(rng.integers(2))
        a, b = words if first_positive else words[::-1]
        neg = _NEGATORS[rng.integers(len(_NEGATORS))]
        form = int(rng.integers(6))
        if form == 0:
            text, counts_first = f"{neg} {a}, {b}", False
        elif form == 1:
            text, counts_first = f"{frame()}{neg} {a}, {frame()}{b}", False
        elif form == 2:
            text, counts_first = f"{frame()}{a}, {neg} {b}", True
        elif form == 3:
            text, counts_first = f"{frame()}{neg} {a} but {b}", False
        elif form == 4:
            text, counts_first = f"{frame()}{a}, but {frame()}{b}", False
        else:
            nouns = rng.choice(len(CONTRAST_NOUNS), size=2, replace=False)
            text, counts_first = f"{a} {CONTRAST_NOUNS[nouns[0]]} but {b} {CONTRAST_NOUNS[nouns[1]]}", False
        texts.append(text)
        labels.append(int(first_positive == counts_first))
    return texts, np.array(labels, np.int64)
