"""Users' own time series: a CSV or TSV file of time stamps and numbers, and its frequency.

    series = read_series("sales.csv")                  # the time column and the value column found
    series.values, series.timestamps                     # float64 (n,), datetime64[s] (n,)
    series.frequency.name, series.frequency.season       # "monthly", 12
    ahead = series.frequency.future(series.timestamps[-1], 6)
    [series.frequency.format(t) for t in ahead]          # written like the file: "2021-07", ...

The file is read by `tables.read_table` (delimiter sniffed, header found by looking), one row per
time step, oldest first. Every problem is a DataError naming the file, the line and the column.

Dates are recognised in these forms (one form for a whole column; months, days and hours may be
written with one digit or two; a time may follow a date, as 13:00 or 13:00:00, after a space or T):

    2020-01-31   2020/01/31   2020-01   2020/01   2020Q1 or 2020-Q1   31.01.2020
    31/01/2020 or 01/31/2020  day and month are told apart by a day above 12 somewhere in the
                              column; a column where every number is 12 or less is an error
                              (write such dates as 2020-01-31)
    1749         a plain 4-digit year (or 1749.0), taken as a time column only when the column's
                 name says year, date, time or period, or its years rise down the file by one same
                 step in most rows: a value column of 4-digit numbers is left alone
    20200131     an 8-digit date, taken as a time column only when the column's name says year,
                 date, time or period

Time zones are not read: stamps are naive, as numpy's datetime64 is.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .tables import LARGEST, Table, is_number, read_table
from .text import DataError

# --- frequencies -----------------------------------------------------------------------------------
_DAY, _WEEK = 86_400, 604_800
_TOKEN = re.compile(r"%(-?)([YmdHMSq])")


def _plural(k: int, unit: str) -> str:
    return f"{k} {unit}{'s' * (k != 1)}"


def _describe_seconds(s: int) -> str:
    for size, unit in ((_WEEK, "week"), (_DAY, "day"), (3600, "hour"), (60, "minute")):
        if s % size == 0:
            return _plural(s // size, unit)
    return _plural(s, "second")


@dataclass(frozen=True)
class Frequency:
    """The step between a series' time stamps: a number of calendar months, or a fixed number of
    seconds (days, hours, ... are fixed: stamps are naive, with no daylight-saving shifts).

    A calendar step keeps the day of the month: every stamp falls on day `day` of its month, or
    on the month's last day when the month is shorter, so day 31 means month ends (Jan 31, Feb
    29, Mar 31, ...) and day 1 month starts. `pattern` writes a stamp the way the file did:
    %Y (4 digits), %m %d %H %M %S (2 digits; %-m and so on without the leading zero), %q (the
    quarter, 1-4); anything else is written as it stands.
    """

    months: int = 0  # the calendar step in months (1 monthly, 3 quarterly, 12 yearly); 0 for a fixed step
    seconds: int = 0  # the fixed step in seconds (3600 hourly, 86400 daily, 604800 weekly); 0 for a calendar one
    day: int = 1  # the day of the month of a calendar step's stamps (31: the month's last day)
    pattern: str = "%Y-%m-%d"  # how stamps are written (see the class docstring)

    def __post_init__(self):
        for name in ("months", "seconds", "day"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                raise ValueError(f"Frequency.{name} must be a whole number >= 0, got {v!r}")
        if (self.months > 0) == (self.seconds > 0):
            raise ValueError(f"a Frequency has a step in months or in seconds, not both or neither: {self!r}")
        if self.months > 12 * 10_000 or self.seconds > 10_000 * 366 * 86_400:  # more than 10,000 years
            raise ValueError(f"a Frequency steps at most 10,000 years, got {self!r}")
        if not 1 <= self.day <= 31:
            raise ValueError(f"Frequency.day must be 1 to 31, got {self.day}")

    @property
    def name(self) -> str:
        """ "hourly", "daily", "weekly", "monthly", "quarterly", "yearly", else "every 2 days",
        "every 15 minutes", "every 6 months", "every 10 years" and the like."""
        if self.months:
            named = {1: "monthly", 3: "quarterly", 12: "yearly"}
            if self.months in named:
                return named[self.months]
            if self.months % 12 == 0:
                return f"every {self.months // 12} years"
            return f"every {self.months} months"
        named = {3600: "hourly", _DAY: "daily", _WEEK: "weekly"}
        return named.get(self.seconds) or f"every {_describe_seconds(self.seconds)}"

    @property
    def season(self) -> int | None:
        """The natural season in steps: 12 monthly, 4 quarterly, 7 daily (a week), 24 hourly (a
        day), 52 weekly (a year, nearly); a step that divides a year of months or a day of seconds
        fits that many times (every 6 months: 2; every 15 minutes: 96); None otherwise (yearly)."""
        if self.months:
            return 12 // self.months if self.months < 12 and 12 % self.months == 0 else None
        if self.seconds == _DAY:
            return 7
        if self.seconds == _WEEK:
            return 52
        if self.seconds < _DAY and _DAY % self.seconds == 0:
            return _DAY // self.seconds
        return None

    @property
    def step(self) -> str:
        """The step in words: "1 month", "3 months", "1 day", "15 minutes"."""
        return _plural(self.months, "month") if self.months else _describe_seconds(self.seconds)

    def future(self, last, n: int) -> np.ndarray:
        """The n stamps after `last` (datetime64 or a string numpy reads), datetime64[s] (n,).
        A calendar step keeps `last`'s time of day and the frequency's day of the month."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        last = np.datetime64(last, "s")
        k = np.arange(1, n + 1)
        if self.seconds:
            return last + k * np.timedelta64(self.seconds, "s")
        month = last.astype("datetime64[M]")
        time_of_day = last - last.astype("datetime64[D]").astype("datetime64[s]")
        months = month + k * np.timedelta64(self.months, "M")
        first = months.astype("datetime64[D]")
        length = ((months + 1).astype("datetime64[D]") - first).astype(np.int64)
        day = np.minimum(self.day, length)
        return (first + (day - 1)).astype("datetime64[s]") + time_of_day

    def format(self, stamp) -> str:
        """`stamp` (datetime64 or a string numpy reads) written in `pattern`."""
        return format_stamp(stamp, self.pattern)

    def to_json(self) -> dict:
        return {"months": self.months, "seconds": self.seconds, "day": self.day, "pattern": self.pattern}

    @classmethod
    def from_json(cls, d, source: str = "frequency") -> Frequency:
        """The Frequency saved by `to_json`; anything else is a DataError naming `source`."""
        try:
            if not isinstance(d, dict) or set(d) != {"months", "seconds", "day", "pattern"}:
                raise ValueError("expected the keys months, seconds, day and pattern")
            if not isinstance(d["pattern"], str):
                raise ValueError("pattern must be a string")
            return cls(d["months"], d["seconds"], d["day"], d["pattern"])
        except ValueError as err:
            raise DataError(source, f"is not a saved Frequency ({err}); was it written by Frequency.to_json?") from None


def format_stamp(stamp, pattern: str) -> str:
    """`stamp` written in `pattern` (the tokens of Frequency's docstring)."""
    t = np.datetime64(stamp, "s").astype(object)  # a datetime.datetime
    fields = {"Y": t.year, "m": t.month, "d": t.day, "H": t.hour, "M": t.minute, "S": t.second}

    def token(match):
        bare, key = match.group(1), match.group(2)
        if key == "Y":
            return f"{t.year:04d}"
        if key == "q":
            return str((t.month - 1) // 3 + 1)
        return str(fields[key]) if bare else f"{fields[key]:02d}"

    return _TOKEN.sub(token, pattern)


def _default_pattern(ts: np.ndarray) -> str:
    time_of_day = (ts - ts.astype("datetime64[D]").astype("datetime64[s]")).astype(np.int64)
    if not time_of_day.any():
        return "%Y-%m-%d"
    return "%Y-%m-%d %H:%M" if not (time_of_day % 60).any() else "%Y-%m-%d %H:%M:%S"


def infer_frequency(timestamps, *, pattern: str | None = None, source="time stamps", line_numbers=None) -> Frequency:
    """The Frequency of strictly increasing time stamps (two or more).

    Calendar months are tried first: when every stamp falls on the same day of its month (the
    month's last day counting as day 31, and a day past a short month's end clipped to it) at
    the same time of day, the step is a number of months; otherwise a fixed number of seconds.
    Either way the commonest step must be more than half of all steps, and every other step a
    whole multiple of it (missing stamps, a gap); anything else is a DataError that says which
    stamps break the rule. `pattern` is how the stamps were written (None: ISO 8601, with the
    time only when some stamp has one); `line_numbers` (one per stamp) let errors name lines.
    """
    ts = np.asarray(timestamps).astype("datetime64[s]")
    if ts.ndim != 1 or len(ts) < 2:
        raise DataError(source, f"a frequency needs two or more time stamps, got {ts.size}")

    def where(i: int) -> str:
        return f"line {line_numbers[i]}" if line_numbers is not None else f"stamp {i + 1}"

    seconds = ts.astype(np.int64)
    bad = np.nonzero(np.diff(seconds) <= 0)[0]
    if bad.size:
        i = int(bad[0]) + 1
        raise DataError(source, f"{where(i)}: {ts[i]} is not after {ts[i - 1]} ({where(i - 1)}); time stamps must rise")
    pattern = pattern or _default_pattern(ts)

    month = ts.astype("datetime64[M]")
    day0 = ts.astype("datetime64[D]")
    day = (day0 - month.astype("datetime64[D]")).astype(np.int64) + 1
    length = ((month + 1).astype("datetime64[D]") - month.astype("datetime64[D]")).astype(np.int64)
    time_of_day = (ts - day0.astype("datetime64[s]")).astype(np.int64)
    month_end = day == length
    anchor = 31 if month_end.mean() > 0.5 else int(np.bincount(day).argmax())
    on_day = (day == np.minimum(anchor, length)) & (time_of_day == np.bincount(time_of_day % _DAY).argmax())
    if on_day.all():
        step = _regular_step(np.diff(month.astype(np.int64)), lambda k: _plural(int(k), "month"), where, source)
        return Frequency(months=step, day=anchor, pattern=pattern)
    try:
        step = _regular_step(np.diff(seconds), lambda s: _describe_seconds(int(s)), where, source)
    except DataError:
        if on_day.mean() > 0.5:  # a calendar series with a stamp off its day: say which
            i = int(np.argmin(on_day))
            which = "on the last day of their month" if anchor == 31 else f"on day {anchor} of their month"
            raise DataError(
                source,
                f"{where(i)}: {ts[i]} breaks the series' calendar rule: the other stamps fall {which} "
                f"(at the same time of day); correct it",
            ) from None
        raise
    return Frequency(seconds=step, pattern=pattern)


def _regular_step(steps: np.ndarray, describe, where, source) -> int:
    values, counts = np.unique(steps, return_counts=True)
    k = int(np.argmax(counts))  # the smaller step of equally common ones
    step, share = int(values[k]), counts[k] / len(steps)
    if share <= 0.5:
        raise DataError(
            source,
            f"the time stamps have no regular step: the commonest, {describe(step)}, is {share:.0%} of the "
            f"{len(steps)} steps; a regular series may skip stamps, but more than half of its steps must be "
            "equal (correct the stamps, or read the file without a time column to number its rows)",
        )
    off = np.nonzero(steps % step)[0]
    if off.size:
        i = int(off[0]) + 1
        raise DataError(
            source,
            f"{where(i)}: {describe(steps[i - 1])} after {where(i - 1)}, which is not a whole number of the "
            f"series' step of {describe(step)}; correct the stamp",
        )
    return step


# --- dates in a column -------------------------------------------------------------------------------
_TIME = r"(?:(?P<sep>[T ])(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?)?(?P<Z>Z?)"
_FORMS = {
    "Y-m-d": re.compile(r"(?P<Y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})" + _TIME),
    "Y/m/d": re.compile(r"(?P<Y>\d{4})/(?P<m>\d{1,2})/(?P<d>\d{1,2})" + _TIME),
    "Y-m": re.compile(r"(?P<Y>\d{4})-(?P<m>\d{1,2})"),
    "Y/m": re.compile(r"(?P<Y>\d{4})/(?P<m>\d{1,2})"),
    "YQq": re.compile(r"(?P<Y>\d{4})(?P<qsep>-?)Q(?P<q>[1-4])"),
    "a/b/Y": re.compile(r"(?P<a>\d{1,2})/(?P<b>\d{1,2})/(?P<Y>\d{4})" + _TIME),
    "d.m.Y": re.compile(r"(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<Y>\d{4})" + _TIME),
    "Y": re.compile(r"(?P<Y>\d{4})(?P<frac>\.0+)?"),
    "Ymd": re.compile(r"(?P<Y>\d{4})(?P<m>\d{2})(?P<d>\d{2})"),
}
_NUMBER_FORMS = ("Y", "Ymd")  # dates that read as numbers too: a time column only as the docstring says
_YEAR_NAME = re.compile(r"year|yr|date|time|period", re.IGNORECASE)
FORMS_HELP = "2020-01-31, 2020-01-31 13:00, 2020/01/31, 2020-01, 2020Q1, 31.01.2020, 31/01/2020 or 1749"


def _shape(m: re.Match) -> tuple:
    g = m.groupdict()
    return tuple(g.get(k) for k in ("sep", "Z", "qsep", "frac")) + (g.get("H") is None, g.get("S") is None)


@dataclass
class _Dates:
    stamps: np.ndarray  # datetime64[s]
    pattern: str
    form: str


def _match_column(values: list[str]) -> tuple[str, list[re.Match]] | None:
    """The form every value is written in (with the same separators and precision), and the
    matches; None when there is none."""
    if not values:
        return None
    for form, regex in _FORMS.items():
        first = regex.fullmatch(values[0])
        if first is None:
            continue
        matches = [regex.fullmatch(v) for v in values]
        if all(m is not None and _shape(m) == _shape(first) for m in matches):
            return form, matches
        return None
    return None


def _parse_dates(values: list[str], form: str, matches: list[re.Match], source, name: str, lines) -> _Dates:
    """The stamps of a column whose values all match `form`; a DataError naming the line of an
    impossible date (2020-02-30) or, for a/b/Y, when day and month cannot be told apart."""

    def ints(key):
        return np.array([int(m.groupdict().get(key) or 0) for m in matches], np.int64)

    raw = {k: [m.groupdict().get(k) or "" for m in matches] for k in ("a", "b", "m", "d", "H")}
    year, month_first = ints("Y"), False
    if form == "a/b/Y":
        a, b = ints("a"), ints("b")
        if (a > 12).any() == (b > 12).any():
            why = "no number above 12 tells which" if not (a > 12).any() else "both hold numbers above 12"
            raise DataError(
                source,
                f"column {name!r}: dates like {values[0]!r} could be day/month or month/day ({why}); "
                "write them as 2020-01-31 (year-month-day)",
            )
        month_first = bool((b > 12).any())
        (month, raw["m"]), (day, raw["d"]) = ((a, raw["a"]), (b, raw["b"]))[:: 1 if month_first else -1]
    elif form == "YQq":
        month, day = (ints("q") - 1) * 3 + 1, np.ones_like(year)
    elif form == "Y":
        month, day = np.ones_like(year), np.ones_like(year)
    else:
        month = ints("m")
        day = ints("d") if form in ("Y-m-d", "Y/m/d", "d.m.Y", "Ymd") else np.ones_like(year)
    hour, minute, second = ints("H"), ints("M"), ints("S")

    months = np.clip(month, 1, 12) - 1 + (year - 1970) * 12
    first = months.astype("datetime64[M]").astype("datetime64[D]")
    length = ((months + 1).astype("datetime64[M]").astype("datetime64[D]") - first).astype(np.int64)
    ok = (month >= 1) & (month <= 12) & (day >= 1) & (day <= length) & (hour < 24) & (minute < 60) & (second < 60)
    if not ok.all():
        i = int(np.argmin(ok))
        raise DataError(source, f"line {lines[i]}: {values[i]!r} in column {name!r} is not a possible date or time")
    stamps = (first + (day - 1)).astype("datetime64[s]") + (hour * 3600 + minute * 60 + second).astype("timedelta64[s]")

    def token(key):  # %m, or %-m when the column writes some month with one digit
        return f"%-{key}" if any(len(r) == 1 for r in raw[key]) else f"%{key}"

    g = matches[0].groupdict()
    if form == "Y":
        pattern = "%Y" + (g.get("frac") or "")
    elif form == "YQq":
        pattern = f"%Y{g.get('qsep') or ''}Q%q"
    elif form == "a/b/Y":
        pattern = f"{token('m')}/{token('d')}/%Y" if month_first else f"{token('d')}/{token('m')}/%Y"
    elif form == "Ymd":
        pattern = "%Y%m%d"
    elif form == "d.m.Y":
        pattern = f"{token('d')}.{token('m')}.%Y"
    else:  # Y-m-d, Y/m/d, Y-m, Y/m
        pattern = "%Y" + "".join(f"{form[1]}{token(key)}" for key in form[2::2])
    if g.get("H") is not None:
        pattern += f"{g['sep']}{token('H')}:%M" + (":%S" if g.get("S") is not None else "")
    pattern += g.get("Z") or ""
    return _Dates(stamps, pattern, form)


def _date_column(table: Table, k: int, explicit: bool) -> _Dates | None:
    """The dates of column k, or None when it does not hold dates (an explicit time column that
    does not, or a column of dates with one missing, is a DataError). Plain years count only as
    _YEAR_NAME or rising values say."""
    name, values, lines = table.names[k], table.values(k), table.line_numbers
    found = _match_column(values)
    if found is None:
        filled = _match_column([v for v in values if v])
        dates_with_holes = filled is not None and (filled[0] not in _NUMBER_FORMS or _YEAR_NAME.search(name))
        if not explicit and not dates_with_holes:
            return None
        for i, v in enumerate(values):
            if not v:
                raise DataError(table.source, f"line {lines[i]}: the time stamp in column {name!r} is missing")
        shapes = {form: regex for form, regex in _FORMS.items() if regex.fullmatch(values[0])}
        if shapes:
            form, regex = next(iter(shapes.items()))
            first = regex.fullmatch(values[0])
            for i, v in enumerate(values):
                m = regex.fullmatch(v)
                if m is None or _shape(m) != _shape(first):
                    raise DataError(
                        table.source,
                        f"line {lines[i]}: {v!r} in column {name!r} is not a date written like "
                        f"{values[0]!r} on line {lines[0]}",
                    )
        raise DataError(
            table.source,
            f"line {lines[0]}: {values[0]!r} in column {name!r} is not a date; write dates like {FORMS_HELP}",
        )
    form, matches = found
    if form in _NUMBER_FORMS and not explicit and not _YEAR_NAME.search(name):
        if form == "Ymd":
            return None
        # unnamed 4-digit numbers are years only when they rise, by one same step in most rows
        steps = np.diff([int(m.group("Y")) for m in matches])
        if not len(steps) or (steps <= 0).any() or np.bincount(steps).max() <= len(steps) / 2:
            return None
    return _parse_dates(values, form, matches, table.source, name, lines)


# --- series ----------------------------------------------------------------------------------------


@dataclass
class Series:
    """A series read from a file: the column to forecast, extra input columns, the time stamps."""

    values: np.ndarray  # (n,) float64, the column to forecast
    extra: np.ndarray  # (n, k) float64, the extra_columns in the order asked ((n, 0) without any)
    timestamps: np.ndarray | None  # (n,) datetime64[s], or None without a time column
    time_labels: list[str]  # the time column's text as written; "1".."n" (row numbers) without one
    frequency: Frequency | None  # None without a time column, or with one row only
    names: list[str]  # the names of the value column and the extra columns, in that order
    time_name: str | None  # the time column's name, or None
    line_numbers: list[int]  # the file line of each row
    source: str  # the file


def _numbers(table: Table, k: int) -> np.ndarray:
    """Column k as float64; an empty, non-numeric or non-finite value is a DataError naming the
    line and the column."""
    name, out = table.names[k], []
    for v, line in zip(table.values(k), table.line_numbers):
        if not v:
            raise DataError(table.source, f"line {line}: the value of column {name!r} is missing")
        if not is_number(v):
            try:
                what = "not a number" if math.isfinite(float(v)) else "not a finite number"
            except ValueError:
                what = "not a number"
            if re.fullmatch(r"[+-]?\d+,\d+", v):
                what += " (a decimal comma? write 1.5, not 1,5)"
            raise DataError(table.source, f"line {line}: {v[:40]!r} in column {name!r} is {what}")
        out.append(float(v))
    values = np.array(out, np.float64)
    if not (np.abs(values) <= LARGEST).all():  # 1e999 (inf), or 1e308 that standardising overflows
        i = int(np.argmin(np.abs(values) <= LARGEST))
        raise DataError(
            table.source,
            f"line {table.line_numbers[i]}: {table.rows[i][k]!r} in column {name!r} is too large: the models "
            f"read numbers up to ±{LARGEST:.1e}; rescale the column",
        )
    return values


def _number_like(text: str) -> bool:
    try:
        float(text)  # nan, inf
        return True
    except ValueError:
        return re.fullmatch(r"[+-]?\d+,\d+", text) is not None  # a decimal comma


def _counts_rows(values: list[str]) -> bool:
    return values in ([str(i) for i in range(len(values))], [str(i) for i in range(1, len(values) + 1)])


def _mostly_numbers(values: list[str]) -> bool:
    filled = [v for v in values if v]
    return bool(filled) and sum(map(_number_like, filled)) > len(filled) / 2


def read_series(
    path,
    *,
    column=None,
    time_column=None,
    extra_columns=(),
    header: bool | None = None,
    delimiter: str | None = None,
) -> Series:
    """The series in a CSV or TSV file (rows oldest first).

    `column` (a name, or an index from 0) is the column to forecast; None takes the only column
    besides the time column and `extra_columns`, or else the only one of those that holds mostly
    numbers, a row counter (0, 1, 2, ... or 1, 2, 3, ...: the index pandas writes) left out when
    there are others (several such are a DataError listing them and asking for one); its every
    value is then checked, so a stray word is an error naming its line. `time_column` names the
    time stamps; None takes the first column whose values are all dates (dates in a form of the
    module's docstring win over plain years and 8-digit dates), or no column; False reads none
    (the stamps are the row numbers). `extra_columns` are more numeric columns read alongside.
    Every value must be a finite number; time stamps must rise strictly down the file, at a
    regular step (see `infer_frequency`). `header` and `delimiter` are passed to `read_table`.
    """
    wanted = [c for c in (column, time_column, *extra_columns) if c is not None and c is not False]
    table = read_table(path, columns_hint=wanted, header=header, delimiter=delimiter)
    if not table.rows:
        raise DataError(table.source, "has a header but no rows of values under it")
    if len(table.rows) == 1 and not table.has_header:
        raise DataError(
            table.source, "holds one row only; a series needs a header naming its columns, then one row per time step"
        )
    chosen = {table.column(c) for c in (column, *extra_columns) if c is not None}

    dates, time_k = None, None
    if time_column is not None and time_column is not False:
        time_k = table.column(time_column)
        dates = _date_column(table, time_k, explicit=True)
    elif time_column is None:
        found = [(k, d) for k in range(table.width) if k not in chosen and (d := _date_column(table, k, False))]
        if found:
            time_k, dates = min(found, key=lambda kd: (kd[1].form in _NUMBER_FORMS, kd[0]))

    if column is None:
        rest = [k for k in range(table.width) if k != time_k and k not in chosen]
        numeric = rest if len(rest) == 1 else [k for k in rest if _mostly_numbers(table.values(k))]
        if len(numeric) > 1:  # a row counter, such as the index pandas writes, is not a series
            numeric = [k for k in numeric if not _counts_rows(table.values(k))] or numeric
        if len(numeric) != 1:
            if not numeric:
                raise DataError(table.source, f"has no column of numbers to forecast; {table.describe_columns()}")
            listed = ", ".join(repr(table.names[k]) for k in numeric)
            raise DataError(
                table.source, f"has {len(numeric)} columns of numbers ({listed}); say which to forecast with --column"
            )
        value_k = numeric[0]
    else:
        value_k = table.column(column)
    if value_k == time_k:
        raise DataError(table.source, f"column {table.names[value_k]!r} is the time column; forecast another one")
    extra_k = [table.column(c) for c in extra_columns]
    values = _numbers(table, value_k)
    extra = np.stack([_numbers(table, k) for k in extra_k], axis=1) if extra_k else np.zeros((len(values), 0))

    lines = table.line_numbers
    if dates is None:
        return Series(
            values,
            extra,
            None,
            [str(i) for i in range(1, len(values) + 1)],
            None,
            [table.names[k] for k in [value_k, *extra_k]],
            None,
            lines,
            table.source,
        )
    labels = table.values(time_k)
    steps = np.diff(dates.stamps.astype(np.int64))
    if (steps <= 0).any():
        i = int(np.argmax(steps <= 0)) + 1
        same = "the same time as" if steps[i - 1] == 0 else "earlier than"
        hint = " (the file runs newest first: reverse its rows)" if (steps < 0).all() else ""
        raise DataError(
            table.source,
            f"line {lines[i]}: {labels[i]!r} in column {table.names[time_k]!r} is {same} {labels[i - 1]!r} on "
            f"line {lines[i - 1]}; the rows must run oldest first, one per time step{hint}",
        )
    frequency = (
        infer_frequency(dates.stamps, pattern=dates.pattern, source=table.source, line_numbers=lines)
        if len(values) >= 2
        else None
    )
    return Series(
        values,
        extra,
        dates.stamps,
        labels,
        frequency,
        [table.names[k] for k in [value_k, *extra_k]],
        table.names[time_k],
        lines,
        table.source,
    )


# --- an example ------------------------------------------------------------------------------------


def monthly_example(n_years: int = 12, seed: int = 0, start_year: int = 2010) -> tuple[list[str], np.ndarray]:
    """(dates, values): a made-up monthly series of n_years * 12 months from January of
    `start_year`, dates written "2010-01", values rounded to 2 decimals:

        value[t] = 100 + 0.5 t + 10 sin(2 pi t / 12) + e[t],   e[t] ~ Normal(0, 2),  t = 0, 1, ...

    (a rising trend, a yearly season peaking each April, noise from np.random.default_rng(seed))."""
    if n_years < 1:
        raise ValueError(f"n_years must be >= 1, got {n_years}")
    t = np.arange(12 * n_years)
    rng = np.random.default_rng(seed)
    values = np.round(100 + 0.5 * t + 10 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 2, len(t)), 2)
    dates = [f"{start_year + k // 12:04d}-{k % 12 + 1:02d}" for k in t]
    return dates, values


def write_series_csv(path, stamps, values, names) -> None:
    """A comma-separated file: a header of `names` (the time column's name, then one per value
    column), then one row per stamp: the stamp as str() writes it and the values as repr() writes
    floats (read back exactly). `values` is (n,) or (n, k)."""
    values = np.asarray(values, np.float64)
    values = values[:, None] if values.ndim == 1 else values
    stamps = list(stamps)
    if values.ndim != 2 or len(values) != len(stamps):
        raise ValueError(f"need one row of values per stamp: {len(stamps)} stamps, values of shape {values.shape}")
    if len(names) != 1 + values.shape[1]:
        raise ValueError(f"names must name the time column and {values.shape[1]} value column(s), got {list(names)}")
    with Path(path).open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(names)
        for stamp, row in zip(stamps, values):
            writer.writerow([str(stamp), *(repr(float(v)) for v in row)])
