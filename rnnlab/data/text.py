"""Text for a character-level language model: files, built-in corpora, a vocabulary, batches.

    text = load_text("novel.txt")                 # or builtin_corpus("python-docs")
    vocab = Vocab.from_text(text)
    ids, known = vocab.encode(text)                 # int32 ids; known is all True here
    train_ids, val_ids = split(ids, val_fraction=0.1)
    stream = BatchStream(train_ids, batch_size=32, seq_len=64)
    x, y = stream.window(step)                      # (seq_len, batch_size) int32, y = next char

Every problem with the input is a `DataError` whose message names the file (or corpus) and says
what is wrong and what to do about it.

The corpora that run by default ship with Python itself, so nothing is downloaded:
"python-docs" is the text of the language reference's topics (`pydoc_data.topics`) and
"python-source" is the standard library's own source code. "abc-folk", sheet music as characters
(folk tunes in ABC notation), ships with music21, the `music` extra (rnnlab.data.abc).
"""

from __future__ import annotations

import codecs
import importlib.util
import os
import sysconfig
from pathlib import Path

import numpy as np

CORPORA = ("python-docs", "python-source", "abc-folk")

# What each corpus is, in a few words (`rnnlab train --list-corpora`, --corpus's help).
CORPUS_NOTES = {
    "python-docs": "the Python reference manual's topics",
    "python-source": "the Python standard library's code",
    "abc-folk": "folk tunes in ABC notation from music21's corpus; needs the music extra",
}

# "python-source" is cut here unless max_chars says otherwise: 4 M characters, more than the main
# job's three minutes read once (about 20,000 characters a second on 2 cores: docs/main_job.md,
# measured by bench/main_job.py).
SOURCE_MAX_CHARS = 4_000_000

# Standard-library folders left out of "python-source": test suites (large, repetitive, full of
# deliberately odd code), third-party packages, the IDLE GUI, the retired 2to3 tool, the codec
# tables of encodings/ (1.4 M characters of generated hex) and pydoc_data/ ("python-docs" again).
_SKIPPED_FOLDERS = frozenset(
    {"test", "tests", "site-packages", "dist-packages", "idlelib", "lib2to3", "encodings", "pydoc_data", "__pycache__"}
)


class DataError(ValueError):
    """Input text that cannot be used: a missing or undecodable file, a text too short for what
    was asked of it, an unknown corpus or a malformed vocabulary. The message names the source
    (a file path or a corpus name) and says what is wrong and what to do."""

    def __init__(self, source, problem: str):
        self.source, self.problem = str(source), problem
        super().__init__(f"{source}: {problem}")


# --- files ------------------------------------------------------------------------------------


def load_text(path, encoding: str = "utf-8", min_chars: int = 2) -> str:
    """The text of the file at `path`, decoded with `encoding`.

    Line endings are normalised to "\\n" (as Python's text mode does) and a leading byte-order
    mark is dropped, so the same text saved on Windows gives the same characters. Bytes that are
    not valid in `encoding` are an error naming the byte offset and line, never silently replaced.
    `min_chars` (default 2: one input character and the one it predicts) is the least a caller
    can use; a shorter file is a DataError saying how many characters it has.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(
            path,
            f"no such file; check the path (a built-in corpus is named without a path: one of {', '.join(CORPORA)})",
        )
    if path.is_dir():
        raise DataError(path, "is a directory, not a text file; pass the path of a file in it")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise DataError(
            path, f"unknown encoding {encoding!r}; use a Python codec name such as 'utf-8' or 'latin-1'"
        ) from None
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DataError(path, f"cannot be read ({err.strerror or err})") from None
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as err:
        line = data[: err.start].decode(encoding, errors="replace").count("\n") + 1
        bad = " ".join(f"0x{b:02x}" for b in data[err.start : min(err.end, err.start + 4)])
        raise DataError(
            path,
            f"invalid {encoding} at byte {err.start} (line {line}): {bad} "
            f"({err.reason}); pass --encoding latin-1 if the file is not "
            f"{encoding}",
        ) from None
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if not text:
        raise DataError(path, f"the file is empty; a text corpus needs at least {min_chars} characters")
    if len(text) < min_chars:
        raise DataError(path, f"holds only {len(text)} characters; at least {min_chars} are needed (use a longer text)")
    return text


# --- built-in corpora ---------------------------------------------------------------------------


def builtin_corpus(name: str, max_chars: int | None = None) -> str:
    """A corpus that ships with Python, the same characters on every run of the same Python.

    "python-docs"    the language reference's topic texts, `pydoc_data.topics.topics`, the
                     values in sorted-key order joined by blank lines. English prose with code
                     examples. On CPython 3.11.7: 465,126 characters, 103 distinct.
    "python-source"  the standard library's own .py files under `sysconfig.get_paths()["stdlib"]`
                     in sorted path order (minus the folders in _SKIPPED_FOLDERS: test suites,
                     site-packages, idlelib, lib2to3, codec tables, pydoc_data), each read as
                     UTF-8 (a file that is not is skipped), joined by newlines. On CPython 3.11.7
                     the whole is 8,894,061 characters (215 distinct) in 477 files; by default it
                     is cut at SOURCE_MAX_CHARS: 4,000,000 characters, 102 distinct, the files
                     from "__future__.py" into "importlib/".
    "abc-folk"       the ABC folk tunes of music21's corpus, each from its X: line to a blank
                     line (_abc_folk): with music21 10.5.1, 12,978 tunes from 1,146 files,
                     4,351,351 characters, 114 distinct. Needs music21 (the `music` extra);
                     without it, a DataError that says how to install it.

    `max_chars` cuts any corpus to at most that many characters; None means the corpus's
    default (all of "python-docs" and "abc-folk", SOURCE_MAX_CHARS of "python-source"). Pass a
    large number, such as 10**9, for the whole standard library. A cut keeps the first
    `max_chars` characters, so a smaller corpus is always a prefix of a larger one.
    """
    if name not in CORPORA:
        raise DataError(
            repr(name), f"unknown corpus; choose one of {', '.join(CORPORA)}, or pass the path of a text file"
        )
    if max_chars is not None and (not isinstance(max_chars, int) or max_chars < 1):
        raise ValueError(f"max_chars must be a positive integer or None, got {max_chars!r}")
    if name == "python-docs":
        text = _python_docs()
        return text if max_chars is None else text[:max_chars]
    if name == "abc-folk":
        return _abc_folk(max_chars)
    return _python_source(SOURCE_MAX_CHARS if max_chars is None else max_chars)


def corpus_sizes() -> list[tuple[str, int | None, str]]:
    """`(name, characters, note)` for every built-in corpus, in CORPORA order: the size of
    `builtin_corpus(name)` as training reads it, and CORPUS_NOTES's description; for a corpus
    this machine cannot provide, characters is None and the note says why and what to do."""
    rows = []
    for name in CORPORA:
        try:
            rows.append((name, len(builtin_corpus(name)), CORPUS_NOTES[name]))
        except DataError as err:
            rows.append((name, None, f"not available: {err.problem}"))
    return rows


def _python_docs() -> str:
    try:
        from pydoc_data.topics import topics
    except ImportError:
        raise DataError(
            "python-docs",
            "this Python was installed without pydoc_data; pass --corpus python-source or the path of a text file",
        ) from None
    return "\n\n".join(topics[k] for k in sorted(topics))


def _stdlib_sources() -> list[Path]:
    """The .py files of the standard library, minus _SKIPPED_FOLDERS, in sorted path order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [d for d in subfolders if d not in _SKIPPED_FOLDERS]
        found += [Path(folder, f).relative_to(root).as_posix() for f in files if f.endswith(".py")]
    return [root / rel for rel in sorted(found)]


def _python_source(max_chars: int) -> str:
    parts, total = [], 0
    for file in _stdlib_sources():
        try:
            text = file.read_text(encoding="utf-8")  # universal newlines, like load_text
        except (OSError, UnicodeDecodeError):
            continue
        parts.append(text)
        total += len(text) + 1
        if total >= max_chars:
            break
    if not parts:
        raise DataError(
            "python-source",
            f"found no readable .py files under "
            f"{sysconfig.get_paths()['stdlib']}; pass "
            "--corpus python-docs or the path of a text file",
        )
    return "\n".join(parts)[:max_chars]


# --- abc-folk: sheet music as characters -------------------------------------------------------
# An ABC tune starts at its `X:` (reference number) line, continues with header fields (T: title,
# M: metre, L: unit note length, K: key, which ends the header) and then the notes, and ends at
# the first blank line (abcnotation.com/wiki/abc:standard:v2.1, section 2.2). Everything between
# tunes is free text and is left out; so are lines starting with `%` inside a tune: comments, and
# `%%` directives for typesetting and MIDI programs.

INSTALL_HINT = 'install music21 with `pip install -e ".[music]"` in a clone of rnnlab (or `pip install music21`)'

# The Essen folk-song titles and notes were converted from the Atari ST character set (CP437 for
# these letters) as if it were Latin-1: nine C1 control characters stand for the letters below
# ("M\x84dchen" is "Mädchen", "Stra\x9een" is "Straßen"); they are put back.
_ATARI_LETTERS = str.maketrans(
    {
        "\x81": "ü",
        "\x82": "é",
        "\x84": "ä",
        "\x85": "à",
        "\x8e": "Ä",
        "\x94": "ö",
        "\x99": "Ö",
        "\x9a": "Ü",
        "\x9e": "ß",
    }
)


def music21_corpus_folder() -> Path:
    """The folder of music21's installed corpus (found without importing music21), or a DataError
    saying how to install it."""
    spec = importlib.util.find_spec("music21")
    if spec is None or not spec.origin:
        raise DataError("abc-folk", f"needs music21, whose corpus ships the tunes; {INSTALL_HINT}")
    folder = Path(spec.origin).parent / "corpus"
    if not folder.is_dir():
        raise DataError("abc-folk", f"music21 is installed without its corpus folder ({folder}); reinstall it")
    return folder


def abc_files(folder=None) -> list[Path]:
    """The .abc files under `folder` (default music21's corpus) in sorted order of their paths
    relative to it, so the corpus is the same on every machine with the same music21."""
    folder = Path(folder) if folder is not None else music21_corpus_folder()
    found = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.abc"))
    return [folder / rel for rel in found]


def split_tunes(text: str, complete: bool = False) -> list[str]:
    """The tunes of an ABC text, each from its `X:` line up to (not including) the next blank
    line or the next `X:` line, lines starting with `%` left out and trailing spaces stripped.

    With `complete=True` a tune that the text stops in (no blank line or `X:` line after it, as
    at the end of a sample) is left out: only tunes that a writer finished count.
    """
    tunes, tune = [], None
    for line in text.split("\n"):
        line = line.rstrip()
        if line.startswith("X:") or not line:
            if tune:
                tunes.append("\n".join(tune))
            tune = [line] if line else None
        elif tune is not None and not line.startswith("%"):
            tune.append(line)
    if tune and not complete:
        tunes.append("\n".join(tune))
    return tunes


def _abc_folk(max_chars: int | None = None) -> str:
    """The "abc-folk" corpus: every tune of the .abc files in music21's corpus (abc_files order,
    each file's tunes in their order; split_tunes), each followed by one blank line; the Essen
    titles' letters put back (_ATARI_LETTERS). rnnlab.data.abc reads such tunes as music.

    With music21 10.5.1: 1,146 files (Ryan's Mammoth Collection 1,059, O'Neill's 1850 39, Essen
    folk songs 31, Josquin 8, Aird's Airs 6, two miscellaneous and one Nottingham file) holding
    12,978 tunes (Essen 8,514, O'Neill 2,009, Aird 1,180, Ryan 1,059, misc 185, Josquin 29,
    Nottingham 2), 4,351,351 characters, 114 distinct.
    `max_chars` keeps the first that many characters (None: all).
    """
    if max_chars is not None and (not isinstance(max_chars, int) or max_chars < 1):
        raise ValueError(f"max_chars must be a positive integer or None, got {max_chars!r}")
    parts, total = [], 0
    for file in abc_files():
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for tune in split_tunes(text.translate(_ATARI_LETTERS)):
            parts.append(tune + "\n\n")
            total += len(parts[-1])
        if max_chars is not None and total >= max_chars:
            break
    if not parts:
        raise DataError("abc-folk", f"found no ABC tunes under {music21_corpus_folder()}; reinstall music21")
    text = "".join(parts)
    return text if max_chars is None else text[:max_chars]


# --- vocabulary ---------------------------------------------------------------------------------


class Vocab:
    """The distinct characters of a text, sorted by code point; a character's id is its index.

    There is no "unknown" token: `encode` gives a character outside the vocabulary id 0 and marks
    it False in the `known` mask, so a model evaluated on new text can count and skip such
    characters instead of crashing. `encode_known` is for text that must be fully known (a
    --prime string): an unknown character is a DataError naming it.
    """

    def __init__(self, chars: str):
        if not isinstance(chars, str) or not chars:
            raise DataError("vocabulary", "needs at least one character")
        if any(a >= b for a, b in zip(chars, chars[1:])):
            raise DataError("vocabulary", "characters must be distinct and sorted by code point")
        self.chars = chars
        self._codes = np.frombuffer(chars.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        # code point -> id, -1 for code points not in the vocabulary; the last entry stands for
        # every code point above the largest one (at most 4.4 MB, usually a few hundred bytes)
        self._table = np.full(int(self._codes[-1]) + 2, -1, dtype=np.int32)
        self._table[self._codes] = np.arange(len(chars), dtype=np.int32)

    @classmethod
    def from_text(cls, text: str, source: str = "text") -> Vocab:
        """The vocabulary of `text` (`source` names it in the error for an empty text)."""
        if not text:
            raise DataError(source, "is empty; a vocabulary needs at least one character")
        return cls("".join(sorted(set(text))))

    @property
    def size(self) -> int:
        return len(self.chars)

    def __len__(self) -> int:
        return len(self.chars)

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocab) and other.chars == self.chars

    def __repr__(self) -> str:
        return f"Vocab(size={self.size})"

    def encode(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """`(ids, known)`: int32 ids and a bool mask, one each per character of `text`.
        A character outside the vocabulary has id 0 and known False."""
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        ids = self._table[np.minimum(codes, len(self._table) - 1)]
        known = ids >= 0
        ids[~known] = 0
        return ids, known

    def encode_known(self, text: str, source: str = "text") -> np.ndarray:
        """int32 ids of `text`, every character of which must be in the vocabulary; otherwise a
        DataError naming `source`, the first unknown character and its position."""
        ids, known = self.encode(text)
        if not known.all():
            i = int(np.argmin(known))
            ch = text[i]
            raise DataError(
                source,
                f"character {ch!r} (U+{ord(ch):04X}) at position {i} is not "
                f"in the model's vocabulary of {self.size} characters; "
                "leave it out",
            )
        return ids

    def decode(self, ids) -> str:
        """The text of a sequence of ids (any integer array-like)."""
        ids = np.asarray(ids)
        if ids.size == 0:
            return ""
        if ids.dtype.kind not in "iu":
            raise TypeError(f"ids must be integers, got dtype {ids.dtype}")
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or hi >= self.size:
            raise ValueError(f"id {lo if lo < 0 else hi} is outside the vocabulary (ids 0..{self.size - 1})")
        return self._codes[ids.ravel()].tobytes().decode("utf-32-le", "surrogatepass")

    def to_json(self) -> dict:
        """A JSON-ready dict; `Vocab.from_json` restores it."""
        return {"kind": "char", "chars": self.chars}

    @classmethod
    def from_json(cls, d, source: str = "vocabulary") -> Vocab:
        """The Vocab saved by `to_json`; anything else is a DataError naming `source` (the file
        or checkpoint the dict came from)."""
        if not isinstance(d, dict) or d.get("kind") != "char" or not isinstance(d.get("chars"), str):
            raise DataError(
                source,
                "is not a saved character vocabulary (expected "
                "{'kind': 'char', 'chars': '...'}); was it written by "
                "Vocab.to_json?",
            )
        try:
            return cls(d["chars"])
        except DataError as err:
            raise DataError(source, f"malformed vocabulary: {err.problem}") from None


# --- splitting and batching ---------------------------------------------------------------------


def _split_sizes(n: int, val_fraction: float) -> tuple[int, int]:
    n_val = max(2, int(n * val_fraction + 1e-9))  # floor, so n_train never falls as n grows
    return n - n_val, n_val


def split(ids: np.ndarray, val_fraction: float = 0.1, source: str = "text"):
    """`(train_ids, val_ids)`: the first part and the last `val_fraction` of `ids`, contiguous
    (views, not copies), so validation text is text the model has not seen, not characters
    interleaved with it. Each part has at least 2 ids (an input and the character it predicts);
    a shorter `ids` is a DataError naming `source` and the minimum length."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1 (exclusive), got {val_fraction}")
    ids = np.asarray(ids)
    n_train, n_val = _split_sizes(len(ids), val_fraction)
    if n_train < 2:
        need = 4
        while _split_sizes(need, val_fraction)[0] < 2:
            need += 1
        raise DataError(
            source,
            f"{len(ids)} characters are too few to split into training and "
            f"validation text with val_fraction={val_fraction}; at least "
            f"{need} are needed",
        )
    return ids[:n_train], ids[n_train:]


def check_lengths(n: int, batch: int, seq_len: int, val_fraction: float, source: str = "text") -> None:
    """Refuse a text of `n` characters too short for char-rnn's batches before anything is built,
    naming `source` and what to change: after `split` holds out `val_fraction`, the training part
    needs one batch of `batch` streams of `seq_len` characters (+1 for the targets), and the
    validation part one such stream (BatchStream's own checks, said in the command line's terms)."""
    n_train, n_val = _split_sizes(n, val_fraction)
    need = BatchStream.minimum_length(batch, seq_len)
    if n_train < need:
        raise DataError(
            source,
            f"{n:,} characters leave {max(n_train, 0):,} to train on, too few for one batch of {batch} streams "
            f"of {seq_len} characters (+1 for the targets): at least {need:,} are needed; use a longer text or "
            "a smaller --batch or --seq-len",
        )
    if n_val < seq_len + 1:
        raise DataError(
            source,
            f"the {n_val:,} characters held out for validation (--val-fraction {val_fraction:g}) are fewer than "
            f"one window of {seq_len} characters (+1 for the target); use a larger --val-fraction, a smaller "
            "--seq-len or a longer text",
        )


class BatchStream:
    """char-rnn's contiguous batches: `batch_size` parallel streams read `seq_len` at a time.

    The ids are cut into `batch_size` equal contiguous streams (the remainder is dropped); stream
    b is row b of `ids[:batch_size * n].reshape(batch_size, n)`. Window k holds, for every
    stream, positions k*seq_len .. (k+1)*seq_len - 1 as `x` and the positions one later as `y`:

        x[t, b] = stream_b[k*seq_len + t]        y[t, b] = stream_b[k*seq_len + t + 1]

    both (seq_len, batch_size) int32, time-major like the recurrent layer. Window k+1 starts
    where window k stopped, so the hidden state after window k is the right initial state for
    window k+1 (truncated BPTT). `window(k)` is a pure function of k and wraps around after
    `windows_per_epoch` windows (epoch = k // windows_per_epoch), so a run's position in the data
    is just its step number. At a wrap every stream jumps back to its start: carry no state
    across it (`starts_epoch(k)` tells when).

    The arrays returned are read-only views into one buffer; copy them to modify them.
    """

    def __init__(self, ids, batch_size: int, seq_len: int, source: str = "text"):
        for name, v in (("batch_size", batch_size), ("seq_len", seq_len)):
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        ids = np.asarray(ids)
        if ids.ndim != 1 or (ids.size and ids.dtype.kind not in "iu"):
            raise ValueError(f"ids must be a 1-D integer array, got shape {ids.shape} dtype {ids.dtype}")
        need = self.minimum_length(batch_size, seq_len)
        if len(ids) < need:
            raise DataError(
                source,
                f"{len(ids)} characters are too few for one batch of "
                f"{batch_size} streams of {seq_len} characters (+1 "
                f"for the targets): at least {need} are needed; use a longer "
                "text or a smaller --batch or --seq-len",
            )
        self.batch_size, self.seq_len = int(batch_size), int(seq_len)
        n = len(ids) // batch_size
        # (n, batch_size), time-major and contiguous, so a window is a contiguous block of rows.
        self._data = np.ascontiguousarray(ids[: batch_size * n].reshape(batch_size, n).T, dtype=np.int32)
        self._data.flags.writeable = False
        self.windows_per_epoch = (n - 1) // seq_len

    @staticmethod
    def minimum_length(batch_size: int, seq_len: int) -> int:
        """The fewest ids that make one window: every stream needs seq_len inputs + 1 target."""
        return batch_size * (seq_len + 1)

    def __len__(self) -> int:
        return self.windows_per_epoch

    def epoch(self, k: int) -> int:
        """The epoch that window k belongs to."""
        return k // self.windows_per_epoch

    def starts_epoch(self, k: int) -> bool:
        """True if window k begins the streams anew (a carried hidden state should be reset)."""
        return k % self.windows_per_epoch == 0

    def window(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """`(x, y)` of window k (any k >= 0; wraps around every `windows_per_epoch`)."""
        if k < 0:
            raise ValueError(f"window index must be >= 0, got {k}")
        s = (k % self.windows_per_epoch) * self.seq_len
        return self._data[s : s + self.seq_len], self._data[s + 1 : s + self.seq_len + 1]

    def __iter__(self):
        """The windows of one epoch, in order."""
        return (self.window(k) for k in range(self.windows_per_epoch))
