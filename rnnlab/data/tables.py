"""Users' own tables: CSV or TSV files (sniffed), and CoNLL-style token-per-line files.

    table = read_table("reviews.csv")               # delimiter and header found by looking
    text_k, label_k = pick_text_and_label(table)      # or pick_text_and_label(table, "review", "stars")
    texts, labels = table.values(text_k), table.values(label_k)
    tagged = read_conll("train.conll")               # sentences of tokens, and their tags

Every file is read as UTF-8 (a byte-order mark is allowed and dropped; line endings of any system
are read alike). Every problem is a DataError naming the file and, for a bad row, its line (and
the column, where one is concerned); nothing is printed.

The delimiter (`sniff_delimiter`) is the one of tab, semicolon, pipe and comma that splits the
most rows of the first 64 KiB into one same number (two or more) of fields, quotes respected; at
least 80% of the rows must agree, else the file is one column (each line one field). Equal
scores go to the first in that order: a comma is the likeliest of the four to occur inside
values (decimal commas, prose). csv.Sniffer is not used: it calls "1,5;2,3" comma-separated.

Whether the first row is a header (`detect_header`), when the caller does not say:
  1. not if any of its fields is a number (decimal commas too) or looks like a date or time
     (digits and -/:.TZQ only);
  2. yes if some column holds only such values below it while the first row names it (a field
     that is not empty);
  3. otherwise (every column holds text): yes if each of its fields is absent from the rest of
     its column, and at least one column repeats its values below (a label column): a headerless
     file's first label is almost always among the labels that follow.
A file of one row has no header. The names the caller will ask for (`columns_hint`) settle it
first: when the first row holds every one of them that is not a number, it is the header.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .text import DataError

DELIMITERS = ("\t", ";", "|", ",")  # in order of preference when two split the rows equally well
_DELIMITER_NAMES = {"\t": "tab", ";": "semicolon", "|": "pipe", ",": "comma"}
SNIFF_CHARS = 65536  # the sample the delimiter is chosen on
SNIFF_ROWS = 1000  # the rows the header is judged on
AGREEMENT = 0.8  # the share of rows that must have the same number of fields for a delimiter to count

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")  # no nan, inf: words, not numbers
_DATE_LIKE = re.compile(r"[\d\s:/.+\-TZQ]*\d[\d\s:/.+\-TZQ]*")  # 2020-01-31, 13:00, 31.1.2020, 2020Q1
_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+")  # 1,5 in a semicolon-separated file


# The largest magnitude a number read from a person's file may have: the models compute in
# float32, and standardising a column (its mean, its squares, its differences, in float64) of
# values near float64's limit of 1.8e308 overflows to inf, dozens of warnings before a useless
# error. Float32's limit leaves float64 room for all of it.
LARGEST = float(np.finfo(np.float32).max)


def too_large(value: float) -> bool:
    """True for a number beyond ±LARGEST (inf and nan too): refused where files are read."""
    return not abs(value) <= LARGEST


def is_number(text: str) -> bool:
    """True for a decimal number as people write them in tables ("3", "-0.5", "1e-3"); False for
    "nan", "inf" and anything else (float() would take those)."""
    return _NUMBER.fullmatch(text) is not None


def _is_data_like(text: str) -> bool:
    return is_number(text) or _DATE_LIKE.fullmatch(text) is not None or _DECIMAL_COMMA.fullmatch(text) is not None


def read_utf8(path, missing: str = "check the path") -> str:
    """The text of a UTF-8 file, its byte-order mark dropped and line endings made "\\n"; a
    DataError for a missing (`missing` says what to do), unreadable, empty or non-UTF-8 file
    (naming the line of a bad byte). Every reader of people's own files reads through here."""
    path = Path(path)
    if path.is_dir():
        raise DataError(path, "is a folder; pass the path of a file")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(path, f"no such file; {missing}") from None
    except OSError as err:
        raise DataError(path, f"cannot be read ({err.strerror or err})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataError(path, f"line {line}: not UTF-8 at byte {err.start}; save the file as UTF-8") from None
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise DataError(path, "is empty")
    return text


# --- tables --------------------------------------------------------------------------------------


@dataclass
class Table:
    """The rows of a CSV or TSV file, every field a string stripped of surrounding spaces.

    `names` are the header's names (a header field left empty, as pandas writes above an index,
    is named by its position), or "0", "1", ... when the file has no header: as many as the
    widest row has fields. `rows` leave out the header and blank lines; `line_numbers[i]` is the
    file line where row i starts (a quoted field may run over several lines). `delimiter` is
    None for a file of one column, read a line at a time.
    """

    source: str
    names: list[str]
    rows: list[list[str]]
    line_numbers: list[int]
    has_header: bool
    delimiter: str | None = None
    header_line: int | None = field(default=None, repr=False)  # the header's line, when there is one

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def width(self) -> int:
        """The number of columns: the header's names, or the widest row's fields."""
        return len(self.names)

    def describe_columns(self) -> str:
        """The columns as an error message lists them: "'text' (0), 'label' (1)"."""
        if not self.has_header:
            return f"the file has no header row, so its columns go by number: {', '.join(self.names)}"
        return "the columns are " + ", ".join(f"{n!r} ({k})" for k, n in enumerate(self.names))

    def column(self, spec) -> int:
        """The index of the column `spec` names: a header name (exactly, else ignoring case when
        that matches one column only) or a 0-based index, as an int or as a string of digits when
        no header name is that string. Anything else is a DataError listing the columns."""
        if isinstance(spec, bool) or not isinstance(spec, (int, str)):
            raise TypeError(f"a column is a name or an index, got {spec!r}")
        if isinstance(spec, str):
            name = spec.strip()
            if name in self.names:
                return self.names.index(name)
            folded = [k for k, n in enumerate(self.names) if n.casefold() == name.casefold()]
            if len(folded) == 1:
                return folded[0]
            if not name.isdigit():
                raise DataError(self.source, f"no column {name!r}; {self.describe_columns()}")
            spec = int(name)
        if not 0 <= spec < self.width:
            raise DataError(
                self.source,
                f"no column {spec} (columns are numbered from 0 to {self.width - 1}); {self.describe_columns()}",
            )
        return spec

    def values(self, spec) -> list[str]:
        """Column `spec` (a name or an index, as `column` takes them), one string per row.

        A row too short to reach the column is a DataError "line N: row has F fields, too few for
        column NAME"; so is a row with more (non-empty) fields than the header has names, which
        is what an unquoted delimiter inside a value makes."""
        k = self.column(spec)
        out = []
        for row, line in zip(self.rows, self.line_numbers):
            if len(row) <= k:
                raise DataError(
                    self.source,
                    f"line {line}: row has {len(row)} field{'s' * (len(row) != 1)}, too few for column "
                    f"{self.names[k]!r} (field {k + 1} of {self.width})",
                )
            if len(row) > self.width and any(row[self.width :]):
                raise DataError(
                    self.source,
                    f"line {line}: row has {len(row)} fields, more than the header's {self.width}; "
                    f"put a value that holds the {_DELIMITER_NAMES.get(self.delimiter, 'delimiter')} "
                    'in double quotes ("like, this")',
                )
            out.append(row[k])
        return out


def _parse(text: str, delimiter: str) -> tuple[list[list[str]], list[int], int]:
    """(rows, the line each starts on, the line the last one ends on), blank rows left out."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    rows, lines = [], []
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            raise csv.Error(f"line {start}: {err}") from None
        # the reader counts a line with no rows as read; skip the blank lines it already passed
        if any(f.strip() for f in row):
            rows.append([f.strip() for f in row])
            lines.append(start)
    return rows, lines, reader.line_num


def _agreement(rows: list[list[str]]) -> tuple[float, int]:
    """(the share of rows with the commonest number of fields, that number; the larger on ties)."""
    counts: dict[int, int] = {}
    for r in rows:
        counts[len(r)] = counts.get(len(r), 0) + 1
    width = max(counts, key=lambda w: (counts[w], w))
    return counts[width] / len(rows), width


def sniff_delimiter(text: str) -> str | None:
    """The delimiter of a table's text (see the module's docstring), or None for one column."""
    sample = text[:SNIFF_CHARS]
    if len(text) > SNIFF_CHARS and "\n" in sample:
        sample = sample[: sample.rindex("\n") + 1]  # whole lines only
    best, best_score = None, 0.0
    for d in DELIMITERS:
        try:
            rows, lines, last = _parse(sample, d)
        except csv.Error:
            continue
        if len(rows) > 1 and lines[-1] < last:
            rows = rows[:-1]  # a quoted value cut by the sample's end, or left open: judge the rest
        if not rows:
            continue
        score, width = _agreement(rows)
        if width >= 2 and score >= AGREEMENT and score > best_score:
            best, best_score = d, score
    if best is None:
        lines = [line for line in sample.split("\n") if line.strip()]
        if lines and all("\t" in line for line in lines):
            return "\t"  # a tab on every line is a TSV whose values disagree in number
    return best


def detect_header(rows: list[list[str]]) -> bool:
    """Whether rows[0] names the columns of rows[1:] (rules 1-3 of the module's docstring)."""
    if len(rows) < 2:
        return False
    first, rest = rows[0], rows[1 : SNIFF_ROWS + 1]
    if any(_is_data_like(f) for f in first):
        return False  # rule 1
    columns = [[r[k] for r in rest if k < len(r) and r[k]] for k in range(len(first))]
    for name, values in zip(first, columns):
        if name and values and all(_is_data_like(v) for v in values):
            return True  # rule 2
    named = [(name, values) for name, values in zip(first, columns) if name]
    distinct = all(name not in values for name, values in named)
    labels = any(len(set(values)) < len(values) for _, values in named)
    return bool(named) and distinct and labels  # rule 3


def read_table(path, *, columns_hint=None, header: bool | None = None, delimiter: str | None = None) -> Table:
    """The table in a CSV or TSV file (see the module's docstring for how it is read).

    `header` True or False says whether the first row names the columns; None (the default)
    decides by looking. `columns_hint` is the columns the caller will ask for (names or
    indices): names that the first row holds make it the header. `delimiter` ("\\t", ",", ";",
    "|") overrides the sniffing. Quoted fields may hold the delimiter, quotes ("" for one) and
    line breaks. A file with no row is a DataError; a header with no row under it is a table of
    no rows.
    """
    text = read_utf8(path)
    source = str(path)
    if delimiter is None:
        delimiter = sniff_delimiter(text)
    elif delimiter not in DELIMITERS:
        raise ValueError(f"delimiter must be one of {DELIMITERS!r}, got {delimiter!r}")
    if delimiter is None:
        rows, lines = [], []
        for number, line in enumerate(text.split("\n"), start=1):
            if line.strip():
                rows.append([line.strip()])
                lines.append(number)
    else:
        try:
            rows, lines, last = _parse(text, delimiter)
        except csv.Error as err:
            raise DataError(source, f"{err}; check the quotes around that row's values") from None
        if rows and lines[-1] < last and rows[-1] and text.count('"') % 2:
            raise DataError(
                source,
                f"line {lines[-1]}: a double quote opened on this line is never closed, so the rest "
                'of the file reads as one value; close it, or double it ("") inside a quoted value',
            )
    if not rows:
        raise DataError(source, "holds no rows")
    if header is None:
        wanted = [str(c).strip() for c in (columns_hint or ()) if c is not None and not isinstance(c, (int, bool))]
        wanted = [c for c in wanted if not c.isdigit()]
        header = (bool(wanted) and all(c in rows[0] for c in wanted)) or detect_header(rows)
    if header:
        names = [name or str(k) for k, name in enumerate(rows[0])]
        return Table(source, names, rows[1:], lines[1:], True, delimiter, lines[0])
    names = [str(k) for k in range(max(len(r) for r in rows))]
    return Table(source, names, rows, lines, False, delimiter)


def pick_text_and_label(table: Table, text=None, label=None) -> tuple[int, int]:
    """(text column, label column) of a table of labelled texts, each named by the caller or
    chosen: the text column is the one with the longest values on average (the leftmost of
    equals); the label column the other one, or, of three or more columns, the one of the rest
    with the fewest distinct values (the rightmost of equals: labels usually come last). A table
    of one column is a DataError."""
    if table.width < 2:
        raise DataError(
            table.source,
            "has one column; labelled texts need two, the text and its label, separated by a tab or a comma "
            "(a text holding commas goes in double quotes)",
        )
    text_k = None if text is None else table.column(text)
    label_k = None if label is None else table.column(label)
    if text_k is not None and text_k == label_k:
        raise DataError(table.source, f"the text and the label are both column {table.names[text_k]!r}; pick two")
    if text_k is None:
        others = [k for k in range(table.width) if k != label_k]
        means = {k: sum(map(len, table.values(k))) / max(len(table), 1) for k in others}
        text_k = max(others, key=lambda k: (means[k], -k))
    if label_k is None:
        others = [k for k in range(table.width) if k != text_k]
        counts = {k: len(set(table.values(k))) for k in others}
        label_k = min(others, key=lambda k: (counts[k], -k))
    return text_k, label_k


# --- token-per-line files ------------------------------------------------------------------------


@dataclass
class Tagged:
    """Sentences of a CoNLL-style file: tokens and their tags, one list per sentence."""

    sentences: list[list[str]]  # the tokens of each sentence
    tags: list[list[str]]  # one tag per token
    line_numbers: list[int]  # the line of each sentence's first token
    source: str  # the file


def read_conll(path, tag_column: int | None = None) -> Tagged:
    """The sentences of a CoNLL-style file: one token per line, its fields split at tabs when the
    line has a tab (so a token may hold spaces) and at runs of spaces otherwise; the token is
    the first field and the tag the last, or field `tag_column` (0-based) when given. A blank
    line ends a sentence; lines starting with -DOCSTART- are skipped (and end a sentence too).
    A line of one field is a DataError saying its tag is missing."""
    if tag_column is not None and (isinstance(tag_column, bool) or not isinstance(tag_column, int) or tag_column < 1):
        raise ValueError(f"tag_column must be a field index of 1 or more (field 0 is the token), got {tag_column!r}")
    text = read_utf8(path)
    source = str(path)
    sentences, tags, starts = [], [], []
    tokens: list[str] = []
    labels: list[str] = []

    def close():
        if tokens:
            sentences.append(tokens.copy())
            tags.append(labels.copy())
            tokens.clear()
            labels.clear()

    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip() or line.lstrip().startswith("-DOCSTART-"):
            close()
            continue
        fields = [f.strip() for f in line.split("\t")] if "\t" in line else line.split()
        if len(fields) < 2:
            raise DataError(
                source,
                f"line {number}: one field ({line.strip()[:40]!r}), the tag is missing; "
                "expected the token, then its tag, separated by a tab or spaces",
            )
        if tag_column is not None and tag_column >= len(fields):
            raise DataError(
                source, f"line {number}: {len(fields)} fields, too few for the tag in field {tag_column} (from 0)"
            )
        token, tag = fields[0], fields[-1 if tag_column is None else tag_column]
        if not token or not tag:
            raise DataError(source, f"line {number}: the {'token' if not token else 'tag'} is empty")
        if not tokens:
            starts.append(number)
        tokens.append(token)
        labels.append(tag)
    close()
    if not sentences:
        raise DataError(source, "holds no tokens; expected one token and its tag per line, sentences apart")
    return Tagged(sentences, tags, starts, source)
