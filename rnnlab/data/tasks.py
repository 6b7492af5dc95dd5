"""Synthetic sequence tasks from the lectures, each a pure function of its sizes and an RNG.

Every generator takes `rng: np.random.Generator` and returns time-major arrays (T first, then the
batch n), the layout of the engine's recurrent layers.

    binary_addition(n, bits, rng)   bit-serial addition, least significant bit first
    running_parity(n, T, rng)       the parity of the bits seen so far, at every step
    adding_problem(n, T, rng)       Hochreiter & Schmidhuber 1997, as in Le et al. 2015
    copy_memory(n, T, rng)          Arjovsky, Shah & Bengio 2016
    name_tagging(n, rng)            a word's tag depends on the word after it ("Teddy bears"
                                    vs "Teddy Roosevelt"): what a bidirectional tagger is for

Baselines that a model which has learnt nothing scores, for reading the results:
    adding: predicting the mean, 1, scores MSE = Var(u1 + u2) = 2/12 = 1/6 ~ 0.167
    copy:   blanks until the delimiter, then a uniform guess among the 8 symbols,
            scores 10 ln 8 / (T + 20) nats per step (copy_baseline(T))
"""

from __future__ import annotations

import math

import numpy as np

from ..nn.core import positive_int

ADDING_BASELINE_MSE = 1.0 / 6.0  # Var(u1 + u2) for u ~ U[0, 1]: the MSE of always answering 1
ADDING_SOLVED_ERROR = 0.04  # Hochreiter & Schmidhuber 1997: solved when every |error| < 0.04

COPY_SYMBOLS = 8  # symbols 1..8 to remember; 0 is the blank and 9 the delimiter
COPY_LENGTH = 10  # symbols shown at the start and asked back at the end


def binary_addition(n: int, bits: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n random pairs of numbers below 2**bits, added bit-serially, least significant bit first.

    x (bits + 1, n, 2) float32: step t holds bit t of a and of b (the extra last step holds
    zeros, so the final carry has a step to come out); y (bits + 1, n) int64: bit t of a + b.
    Long numbers (bits = 256) are drawn bit by bit, never as integers.
    """
    bits = positive_int("bits", bits)
    n = positive_int("n", n)
    a = rng.integers(0, 2, size=(bits, n))
    b = rng.integers(0, 2, size=(bits, n))
    x = np.zeros((bits + 1, n, 2), np.float32)
    x[:bits, :, 0], x[:bits, :, 1] = a, b
    y = np.zeros((bits + 1, n), np.int64)
    carry = np.zeros(n, np.int64)
    for t in range(bits):  # the schoolbook algorithm: s = a + b + carry, bit s mod 2, carry s // 2
        s = a[t] + b[t] + carry
        y[t], carry = s & 1, s >> 1
    y[bits] = carry
    return x, y


def running_parity(n: int, T: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """x (T, n, 1) float32 random bits; y (T, n) int64, y[t] = (x[0] + ... + x[t]) mod 2."""
    bits = rng.integers(0, 2, size=(positive_int("T", T), positive_int("n", n)))
    return bits[:, :, None].astype(np.float32), np.cumsum(bits, axis=0) & 1


def adding_problem(n: int, T: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The adding problem: x (T, n, 2) float32, y (n,) float32.

    Channel 0 holds values u ~ U[0, 1], channel 1 marks two steps with 1, one in each half of
    the sequence (t1 < T/2 <= t2); the target is the sum of the two marked values. The model
    must find the markers among T steps and hold the first value for up to T steps.
    """
    T, n = positive_int("T", T), positive_int("n", n)
    if T < 2:
        raise ValueError(f"T must be at least 2 (one marker in each half), got {T}")
    x = np.zeros((T, n, 2), np.float32)
    x[:, :, 0] = rng.random((T, n), dtype=np.float32)
    half = T // 2
    first = rng.integers(0, half, size=n)
    second = rng.integers(half, T, size=n)
    cols = np.arange(n)
    x[first, cols, 1] = 1.0
    x[second, cols, 1] = 1.0
    y = x[first, cols, 0] + x[second, cols, 0]
    return x, y.astype(np.float32)


def copy_memory(n: int, T: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The copy-memory task: ids (T + 20, n) int64 inputs, targets (T + 20, n) int64.

    Inputs: 10 symbols from 1..8, then T - 1 blanks (0), the delimiter 9, then 10 blanks.
    Targets: blanks for the first T + 10 steps, then the 10 symbols in their order.
    """
    T, n = positive_int("T", T), positive_int("n", n)
    L = COPY_LENGTH
    symbols = rng.integers(1, COPY_SYMBOLS + 1, size=(L, n))
    ids = np.zeros((T + 2 * L, n), np.int64)
    ids[:L] = symbols
    ids[T + L - 1] = COPY_SYMBOLS + 1  # the delimiter: "now write them back"
    targets = np.zeros_like(ids)
    targets[T + L :] = symbols
    return ids, targets


def copy_baseline(T: int) -> float:
    """Cross-entropy per step (nats) of the memoryless strategy: 10 ln 8 / (T + 20)."""
    return COPY_LENGTH * math.log(COPY_SYMBOLS) / (T + 2 * COPY_LENGTH)


# --- tagging: names whose tag only the next word decides -----------------------------------------
# Each ambiguous word is a person's first name before a surname and a thing before a noun:
# "teddy roosevelt" (PER PER) vs "teddy bears" (O O), "jordan smith" vs "jordan river".
TAG_AMBIGUOUS = ("teddy", "jordan", "paris", "georgia", "virginia", "austin", "florence", "chase")
TAG_SURNAMES = ("roosevelt", "smith", "brown", "jones", "miller", "davis", "wilson", "taylor")
TAG_NOUNS = ("bears", "river", "hotel", "peaches", "creek", "street", "bank", "county")
TAG_BEFORE = ("yesterday", "i", "think", "that", "we", "saw", "the", "news", "said", "today")
TAG_AFTER = (
    "was",
    "a",
    "president",
    "are",
    "on",
    "sale",
    "is",
    "near",
    "here",
    "again",
    "very",
    "famous",
    "and",
    "old",
)
TAG_NAMES = ("O", "PER")  # tag ids 0 and 1
PAD = "<pad>"
TAG_VOCAB = (PAD,) + TAG_AMBIGUOUS + TAG_SURNAMES + TAG_NOUNS + TAG_BEFORE + TAG_AFTER


def name_tagging(n: int, rng: np.random.Generator, max_before: int = 3, max_after: int = 4):
    """n sentences "[before words] AMBIGUOUS (SURNAME | NOUN) [after words]", padded.

    Returns ids (T, n) int64 (indices into TAG_VOCAB, 0 = padding), tags (T, n) int64 (0 = O,
    1 = PER), lengths (n,) and ambiguous (T, n) bool marking the ambiguous word of each sentence,
    whose tag (PER before a surname, O before a noun) a left-to-right reader cannot know yet.
    A surname is always PER and every other word O, so only the ambiguous words need context.
    """
    n = positive_int("n", n)
    index = {w: k for k, w in enumerate(TAG_VOCAB)}
    T = max_before + 2 + max_after
    ids = np.zeros((T, n), np.int64)
    tags = np.zeros((T, n), np.int64)
    ambiguous = np.zeros((T, n), bool)
    lengths = np.zeros(n, np.int64)
    for b in range(n):
        before = rng.choice(TAG_BEFORE, size=rng.integers(0, max_before + 1))
        after = rng.choice(TAG_AFTER, size=rng.integers(0, max_after + 1))
        person = bool(rng.integers(0, 2))
        second = rng.choice(TAG_SURNAMES if person else TAG_NOUNS)
        words = [*before, rng.choice(TAG_AMBIGUOUS), second, *after]
        k = len(before)
        ids[: len(words), b] = [index[w] for w in words]
        tags[k : k + 2, b] = int(person)
        ambiguous[k, b] = True
        lengths[b] = len(words)
    return ids, tags, lengths, ambiguous
