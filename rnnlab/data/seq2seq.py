"""Data for sequence-to-sequence: a token vocabulary with BOS/EOS, dates in many human formats to
ISO 8601 (standard library only), random sequences to reverse, and English-French pairs from the
manythings.org/Tatoeba file (fra-eng.zip).

Batches are time-major: source ids (S, B) with lengths (B,); the decoder reads tgt_in = BOS y_1
... y_n and is trained to emit tgt_out = y_1 ... y_n EOS, both (n + 1) long, padded with PAD (0).
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .text import DataError

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")


class TokenVocab:
    """Tokens (characters or words) <-> ids; ids 0..3 are PAD, BOS, EOS and UNK (any token not seen)."""

    def __init__(self, tokens):
        tokens = [t for t in tokens if t not in SPECIALS]
        self.tokens = list(SPECIALS) + tokens
        self.index = {t: k for k, t in enumerate(self.tokens)}
        if len(self.index) != len(self.tokens):
            raise DataError("vocabulary", "holds a token twice")

    @classmethod
    def build(cls, sequences, min_count: int = 1, max_size: int | None = None) -> TokenVocab:
        """The tokens of `sequences` seen at least min_count times, the most frequent max_size of them."""
        counts = Counter(t for seq in sequences for t in seq)
        ranked = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
        return cls(ranked[:max_size] if max_size else ranked)

    @property
    def size(self) -> int:
        return len(self.tokens)

    def ids(self, seq) -> list[int]:
        return [self.index.get(t, UNK) for t in seq]

    def encode(self, sequences) -> tuple[np.ndarray, np.ndarray]:
        """Source side: ids (S, n) padded with PAD, lengths (n,) (an empty sequence is one UNK)."""
        rows = [self.ids(s) or [UNK] for s in sequences]
        lengths = np.array([len(r) for r in rows], np.int64)
        ids = np.full((int(lengths.max()), len(rows)), PAD, np.int64)
        for b, r in enumerate(rows):
            ids[: len(r), b] = r
        return ids, lengths

    def encode_target(self, sequences) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Target side: tgt_in (BOS y ...), tgt_out (y ... EOS), both (T, n) padded; lengths (n,)."""
        rows = [self.ids(s) for s in sequences]
        lengths = np.array([len(r) + 1 for r in rows], np.int64)
        tgt_in = np.full((int(lengths.max()), len(rows)), PAD, np.int64)
        tgt_out = tgt_in.copy()
        for b, r in enumerate(rows):
            tgt_in[: len(r) + 1, b] = [BOS] + r
            tgt_out[: len(r) + 1, b] = r + [EOS]
        return tgt_in, tgt_out, lengths

    def decode(self, ids) -> list[str]:
        """Ids -> tokens, stopping at EOS, leaving out PAD and BOS."""
        out = []
        for i in ids:
            if i == EOS:
                break
            if i not in (PAD, BOS):
                out.append(self.tokens[int(i)])
        return out

    def to_json(self) -> list[str]:
        return self.tokens[len(SPECIALS) :]

    @classmethod
    def from_json(cls, tokens) -> TokenVocab:
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise DataError("vocabulary", "must be a list of strings")
        return cls(tokens)


# --- dates -----------------------------------------------------------------------------------------
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
DATE_RANGE = (dt.date(1950, 1, 1), dt.date(2049, 12, 31))  # four-digit years only: no century guessing


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 11 <= n % 100 <= 13 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


# Each format shows the day before the month wherever both are numbers, so no date is ambiguous.
DATE_FORMATS = {
    "3 March 2021": lambda d: f"{d.day} {MONTHS[d.month - 1]} {d.year}",
    "03 Mar 2021": lambda d: f"{d.day:02d} {MONTHS[d.month - 1][:3]} {d.year}",
    "March 3, 2021": lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}",
    "Mar 3 2021": lambda d: f"{MONTHS[d.month - 1][:3]} {d.day} {d.year}",
    "Wednesday, March 3, 2021": lambda d: f"{DAYS[d.weekday()]}, {MONTHS[d.month - 1]} {d.day}, {d.year}",
    "wed 3 mar 2021": lambda d: f"{DAYS[d.weekday()][:3]} {d.day} {MONTHS[d.month - 1][:3]} {d.year}".lower(),
    "3rd of March 2021": lambda d: f"{_ordinal(d.day)} of {MONTHS[d.month - 1]} {d.year}",
    "MARCH 3RD, 2021": lambda d: f"{MONTHS[d.month - 1]} {_ordinal(d.day)}, {d.year}".upper(),
    "03/03/2021": lambda d: f"{d.day:02d}/{d.month:02d}/{d.year}",
    "3.3.2021": lambda d: f"{d.day}.{d.month}.{d.year}",
    "2021/03/03": lambda d: f"{d.year}/{d.month:02d}/{d.day:02d}",
    "2021-03-03": lambda d: d.isoformat(),
}


def date_split(rng: np.random.Generator, held_out: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Day numbers (date.toordinal) of DATE_RANGE, split into (training days, held-out days): a
    held-out day is never shown in training, in any format."""
    days = np.arange(DATE_RANGE[0].toordinal(), DATE_RANGE[1].toordinal() + 1)
    order = rng.permutation(days)
    n = int(round(held_out * len(days)))
    return np.sort(order[n:]), np.sort(order[:n])


def dates(n: int, rng: np.random.Generator, days: np.ndarray | None = None, with_formats: bool = False):
    """n (human-readable date, ISO 8601) pairs as two lists, each date drawn from `days` (day
    numbers; default all of DATE_RANGE) and shown in a random one of DATE_FORMATS; with_formats
    adds a third list, the index of each one's format."""
    if days is None:
        days = np.arange(DATE_RANGE[0].toordinal(), DATE_RANGE[1].toordinal() + 1)
    formats = list(DATE_FORMATS.values())
    picked = rng.choice(days, size=n)
    which = rng.integers(len(formats), size=n)
    human, iso = [], []
    for day, k in zip(picked, which):
        d = dt.date.fromordinal(int(day))
        human.append(formats[k](d))
        iso.append(d.isoformat())
    return (human, iso, [int(k) for k in which]) if with_formats else (human, iso)


# --- reversal --------------------------------------------------------------------------------------
REVERSE_SYMBOLS = "abcdefghijklmnopqrstuvwxyz"


def reverse_pairs(
    n: int, rng: np.random.Generator, min_len: int, max_len: int, symbols: str = REVERSE_SYMBOLS
) -> tuple[list[str], list[str]]:
    """n (random string, the string reversed) pairs, lengths uniform in min_len..max_len."""
    if not 1 <= min_len <= max_len:
        raise ValueError(f"need 1 <= min_len <= max_len, got min_len={min_len}, max_len={max_len}")
    lengths = rng.integers(min_len, max_len + 1, size=n)
    src = ["".join(rng.choice(list(symbols), size=int(k))) for k in lengths]
    return src, [s[::-1] for s in src]


# --- English-French ------------------------------------------------------------------------------
_WORD = re.compile(r"\w+|[^\w\s]")


def tokenize_words(text: str) -> list[str]:
    """Lower-cased words and punctuation marks: "J'ai froid !" -> j ' ai froid !"""
    return _WORD.findall(text.lower().replace("\u2019", "'"))


@dataclass
class Pairs:
    source: list[str]  # English sentences
    target: list[str]  # their French translations
    path: str  # where they were read from


def load_pairs(path, max_words: int | None = 10, limit: int | None = None) -> Pairs:
    """Tab-separated English<TAB>French[<TAB>attribution] lines from a .txt file or a .zip holding
    one (fra.txt); pairs whose English has more than max_words words are left out. Errors name the
    file and line."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, "not found; pass the English-French pairs (fra-eng.zip or fra.txt)")
    if path.is_dir():
        raise DataError(path, "is a folder; pass the English-French pairs file in it (fra-eng.zip or fra.txt)")
    if path.suffix == ".zip":
        try:
            with zipfile.ZipFile(path) as z:
                names = [n for n in z.namelist() if n.endswith(".txt") and not Path(n).name.startswith("_")]
                if len(names) != 1:
                    raise DataError(path, f"expected one pairs .txt file inside, found {names or 'none'}")
                raw, where = z.read(names[0]), f"{path}:{names[0]}"
        except zipfile.BadZipFile as err:
            raise DataError(path, f"is not a readable zip file ({err})") from None
    else:
        raw, where = path.read_bytes(), str(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataError(f"{where}, line {line}", "is not UTF-8") from None
    source, target = [], []
    for number, line in enumerate(io.StringIO(text), 1):
        line = line.rstrip("\n").rstrip("\r")
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2 or not fields[0].strip() or not fields[1].strip():
            raise DataError(
                f"{where}, line {number}", f"expected English<TAB>French[<TAB>attribution], got {line[:60]!r}"
            )
        if max_words is not None and len(fields[0].split()) > max_words:
            continue
        source.append(fields[0].strip())
        target.append(fields[1].strip())
        if limit is not None and len(source) >= limit:
            break
    if not source:
        raise DataError(where, f"holds no pair of at most {max_words} English words")
    return Pairs(source, target, where)


# --- numbers in words ------------------------------------------------------------------------------
_UNITS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_words(n: int) -> str:
    """n (0 to 9999) in British English words: "and" before the tens and units that follow a
    hundred or a thousand, a hyphen inside 21-99.

        0 zero   19 nineteen   42 forty-two   342 three hundred and forty-two
        1005 one thousand and five   2301 two thousand three hundred and one   1100 one thousand one hundred
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 0 <= n <= 9999:
        raise ValueError(f"number_words takes a whole number from 0 to 9999, got {n!r}")
    n = int(n)

    def below_hundred(k: int) -> str:
        if k < 20:
            return _UNITS[k]
        return _TENS[k // 10] + (f"-{_UNITS[k % 10]}" if k % 10 else "")

    thousands, hundreds, rest = n // 1000, n // 100 % 10, n % 100
    words = []
    if thousands:
        words.append(f"{_UNITS[thousands]} thousand")
    if hundreds:
        words.append(f"{_UNITS[hundreds]} hundred")
    if rest or not words:
        words.append(("and " if words else "") + below_hundred(rest))
    return " ".join(words)


def number_pairs(numbers) -> list[tuple[str, str]]:
    """(words, digits) for each number: [(number_words(n), str(n)), ...]."""
    return [(number_words(n), str(int(n))) for n in numbers]
