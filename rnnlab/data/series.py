"""Time series for forecasting: one numeric column of a CSV file, or a built-in real series.

    values, source = load_csv_series("sales.csv", column="units")   # float64 (n,), checked
    values, source = builtin_series("sunspots")                      # statsmodels ships it

A CSV file has a header row naming its columns, then one row per time step, oldest first. Every
problem is a DataError naming the file and, for a bad value, the line: a missing file, a missing
column (the message lists those there are), a row with too few fields, an empty value, a value
that is not a finite number, too few rows.

Built-in series come from an optional package that ships them, so nothing is downloaded:
"sunspots" is the yearly mean sunspot number 1700-2008 (309 values, statsmodels'
`datasets.sunspots`, from the Royal Observatory of Belgium's SIDC), with its ~11-year cycle.
The file is read straight from the installed package by the CSV reader below (no pandas import).
"""

from __future__ import annotations

import csv
import importlib.util
import io
from pathlib import Path

import numpy as np

from .tables import LARGEST, read_utf8, too_large
from .text import DataError

# name: (package, file inside it, value column, time column, cycle length in steps, what it is)
BUILTIN_SERIES = {
    "sunspots": (
        "statsmodels",
        "datasets/sunspots/sunspots.csv",
        "SUNACTIVITY",
        "YEAR",
        11,
        "yearly mean sunspot number 1700-2008 (statsmodels.datasets.sunspots)",
    ),
}

MIN_VALUES = 24  # fewer than this leaves nothing to train, validate and test on


def _read_text(path: Path) -> str:
    return read_utf8(path, missing="pass a CSV file with a header row (--csv FILE --column NAME)")


def parse_csv_series(text: str, source, column: str | None = None) -> tuple[np.ndarray, list[str]]:
    """The values of `column` (float64, in file order) and the labels of the first column (the
    time stamps, as text). `column` may be omitted when the file has one column only."""
    rows = [
        (number, row)
        for number, row in enumerate(csv.reader(io.StringIO(text)), start=1)
        if any(field.strip() for field in row)
    ]
    if not rows:
        raise DataError(source, "is empty; expected a header row naming the columns, then one row per time step")
    header_line, header = rows[0]
    names = [name.strip() for name in header]
    if column is None:
        if len(names) != 1:
            raise DataError(source, f"has {len(names)} columns ({', '.join(names)}); say which with --column NAME")
        column = names[0]
    if column not in names:
        raise DataError(
            source,
            f"line {header_line}: no column {column!r} in the header; "
            f"the columns are {', '.join(repr(n) for n in names)}",
        )
    k = names.index(column)
    values, stamps = [], []
    for number, row in rows[1:]:
        if len(row) <= k:
            raise DataError(
                source,
                f"line {number}: {len(row)} field(s), too few to hold column {column!r} "
                f"(field {k + 1} of the header's {len(names)})",
            )
        field = row[k].strip()
        if not field:
            raise DataError(source, f"line {number}: the value of column {column!r} is missing")
        try:
            value = float(field)
        except ValueError:
            raise DataError(source, f"line {number}: {field[:40]!r} in column {column!r} is not a number") from None
        if not np.isfinite(value):
            raise DataError(source, f"line {number}: {field!r} in column {column!r} is not a finite number")
        if too_large(value):  # standardising 1e308 overflows: refused here, not dozens of warnings later
            raise DataError(
                source,
                f"line {number}: {field!r} in column {column!r} is too large: the models read numbers up to "
                f"±{LARGEST:.1e}; rescale the column",
            )
        values.append(value)
        stamps.append(row[0].strip())
    if len(values) < MIN_VALUES:
        raise DataError(
            source,
            f"holds {len(values)} value(s) of column {column!r}; forecasting needs at "
            f"least {MIN_VALUES} (to train, validate and test on)",
        )
    return np.array(values, np.float64), stamps


def load_csv_series(path, column: str | None = None) -> tuple[np.ndarray, list[str]]:
    """`parse_csv_series` of a file; errors name the file."""
    path = Path(path)
    return parse_csv_series(_read_text(path), path, column)


def builtin_series(name: str) -> tuple[np.ndarray, list[str], int, str]:
    """(values, time stamps, cycle length, description) of a built-in series; a DataError saying
    what to install (or to pass --csv) when its package is missing."""
    if name not in BUILTIN_SERIES:
        raise DataError(name, f"no such built-in series; choose one of {', '.join(BUILTIN_SERIES)} or pass --csv FILE")
    package, inner, column, _, cycle, what = BUILTIN_SERIES[name]
    spec = importlib.util.find_spec(package)  # finds the package without importing it (and pandas)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            name,
            f'the built-in series needs {package}: pip install -e ".[series]" (or pass --csv FILE --column NAME)',
        )
    path = Path(list(spec.submodule_search_locations)[0]) / inner
    if not path.is_file():
        raise DataError(path, f"not found in the installed {package}; pass --csv FILE --column NAME instead")
    values, stamps = load_csv_series(path, column)
    return values, stamps, cycle, what


def estimate_season(values: np.ndarray, longest: int | None = None) -> int | None:
    """The lag (>= 2) of the highest local maximum of the autocorrelation of the differenced
    series (differencing removes a trend that would hide the cycle), or None when none reaches 0.25
    (white noise of 300 values has peaks near 0.15): the period a seasonal-naive forecast repeats."""
    d = np.diff(np.asarray(values, np.float64))
    d = d - d.mean()
    longest = min(longest or len(d) // 3, len(d) // 2)
    if longest < 3 or not d.any():
        return None
    acf = np.array([np.dot(d[:-lag], d[lag:]) for lag in range(1, longest + 1)]) / np.dot(d, d)  # acf[k] is lag k+1
    peaks = [k + 1 for k in range(1, len(acf) - 1) if acf[k] > acf[k - 1] and acf[k] >= acf[k + 1] and acf[k] >= 0.25]
    return max(peaks, key=lambda lag: acf[lag - 1]) if peaks else None
