"""Series from CSV files and built-in packages, the chorales reader and the MIDI writer: every
bad input is a DataError naming the file and, for a bad value, the line or the step."""

import importlib.util
import json
import struct

import numpy as np
import pytest

from rnnlab.data import series
from rnnlab.data.music import KEYS, LOWEST, _varlen, load_chorales, midi_bytes, to_roll, write_midi
from rnnlab.data.series import builtin_series, estimate_season, load_csv_series
from rnnlab.data.text import DataError


def _csv(tmp_path, text, name="s.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _rows(n, value=lambda i: f"{i * 0.5}"):
    return "".join(f"{i},{value(i)}\n" for i in range(n))


def test_csv_series_reads_the_named_column_in_file_order(tmp_path):
    values, stamps = load_csv_series(_csv(tmp_path, "year,level\n" + _rows(30)), "level")
    assert values.dtype == np.float64 and values[:3].tolist() == [0.0, 0.5, 1.0] and stamps[:2] == ["0", "1"]
    one_column = _csv(tmp_path, "level\n" + "".join(f"{k}\n" for k in range(30)), "one.csv")
    assert load_csv_series(one_column)[0][-1] == 29.0  # the only column needs no name


@pytest.mark.parametrize(
    "text, column, message",
    [
        ("year,level\n" + _rows(30), "sales", r"no column 'sales' in the header; the columns are 'year', 'level'"),
        ("year,level\n" + _rows(30), None, r"has 2 columns \(year, level\); say which with --column"),
        (
            "year,level\n" + _rows(5) + "5,abc\n" + _rows(30),
            "level",
            r"line 7: 'abc' in column 'level' is not a number",
        ),
        ("year,level\n" + _rows(3) + "3,\n" + _rows(30), "level", r"line 5: the value of column 'level' is missing"),
        (
            "year,level\n" + _rows(3) + "3,nan\n" + _rows(30),
            "level",
            r"line 5: 'nan' in column 'level' is not a finite",
        ),
        ("year,level\n" + _rows(3) + "3\n" + _rows(30), "level", r"line 5: 1 field\(s\), too few"),
        ("year,level\n" + _rows(10), "level", r"holds 10 value\(s\) .* at least 24"),
        ("", "level", "is empty"),
    ],
)
def test_bad_csv_files_name_the_file_and_the_line(tmp_path, text, column, message):
    path = _csv(tmp_path, text)
    with pytest.raises(DataError, match=message) as err:
        load_csv_series(path, column)
    assert str(path) in str(err.value)


def test_missing_csv_file_says_what_to_pass(tmp_path):
    with pytest.raises(DataError, match="no such file.*--csv FILE --column NAME"):
        load_csv_series(tmp_path / "none.csv", "x")


def test_season_is_estimated_from_the_autocorrelation_even_under_a_trend():
    t = np.arange(300)
    rng = np.random.default_rng(0)
    assert estimate_season(0.05 * t + np.sin(2 * np.pi * t / 12) + 0.1 * rng.standard_normal(300)) == 12
    assert estimate_season(rng.standard_normal(300)) is None  # white noise has no cycle


@pytest.mark.skipif(
    importlib.util.find_spec("statsmodels") is None, reason="statsmodels (the series extra) not installed"
)
def test_builtin_sunspots_are_read_from_the_installed_package():
    values, stamps, cycle, what = builtin_series("sunspots")
    assert len(values) == 309 and stamps[0] == "1700" and stamps[-1] == "2008" and cycle == 11
    assert values.min() >= 0 and "sunspot" in what


def test_builtin_series_without_its_package_says_what_to_install(monkeypatch):
    monkeypatch.setattr(series.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DataError, match=r'needs statsmodels: pip install -e "\.\[series\]".*--csv'):
        builtin_series("sunspots")
    with pytest.raises(DataError, match="no such built-in series"):
        builtin_series("airline")


# --- chorales ---------------------------------------------------------------------------------
def _chorales(tmp_path, data):
    path = tmp_path / "jsb-chorales-quarter.json"
    path.write_text(json.dumps(data))
    return path


def test_chorales_become_piano_rolls_per_split(tmp_path):
    piece = [[60, 64, 67], [], [59, 62, 67, 74]]
    path = _chorales(tmp_path, {"train": [piece, piece[:1]], "valid": [piece], "test": [piece]})
    splits = load_chorales(tmp_path)  # the folder finds the file
    roll = splits["train"][0]
    assert roll.shape == (3, KEYS) and roll.dtype == np.uint8 and len(splits["train"]) == 2
    assert np.flatnonzero(roll[0]).tolist() == [60 - LOWEST, 64 - LOWEST, 67 - LOWEST] and roll[1].sum() == 0
    assert load_chorales(path)["test"][0].tolist() == roll.tolist()


@pytest.mark.parametrize(
    "data, message",
    [
        ({"train": [[[60]]], "valid": [[[60]]]}, "keys 'train', 'valid' and 'test', found 'train', 'valid'"),
        (
            {"train": [[[60]]], "valid": [[[60]]], "test": [[[60], [200]]]},
            r"test\[0\] step 1: \[200\] is not a list of MIDI pitches",
        ),
        ({"train": [[[60]]], "valid": [], "test": [[[60]]]}, "'valid' must be a non-empty list"),
    ],
)
def test_bad_chorales_name_the_file_split_chorale_and_step(tmp_path, data, message):
    path = _chorales(tmp_path, data)
    with pytest.raises(DataError, match=message) as err:
        load_chorales(path)
    assert str(path) in str(err.value)


def test_chorales_that_are_not_json_or_missing_say_so(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"train": [\n oops')
    with pytest.raises(DataError, match="line 2: not valid JSON"):
        load_chorales(bad)
    with pytest.raises(DataError, match="no such file.*--data"):
        load_chorales(tmp_path / "missing")


# --- MIDI -------------------------------------------------------------------------------------
def _parse_notes(data: bytes):
    """(tick, kind, pitch) of every note event of a format-0 file: a reader independent of the writer."""
    assert data[:4] == b"MThd"
    length, fmt, tracks, division = struct.unpack(">IHHH", data[4:14])
    assert (length, fmt, tracks) == (6, 0, 1)
    assert data[14:18] == b"MTrk"
    end = 22 + struct.unpack(">I", data[18:22])[0]
    assert end == len(data)
    i, tick, notes = 22, 0, []
    while i < end:
        delta = 0
        while True:  # variable-length delta time
            delta = (delta << 7) | (data[i] & 0x7F)
            i += 1
            if data[i - 1] < 0x80:
                break
        tick += delta
        status = data[i]
        if status == 0xFF:  # meta event: type, length, data
            i += 3 + data[i + 2]
        elif status & 0xF0 == 0xC0:
            i += 2
        else:
            notes.append((tick, "on" if status & 0xF0 == 0x90 else "off", data[i + 1]))
            i += 3
    return division, notes


def test_midi_file_holds_each_note_once_for_as_long_as_it_sounds(tmp_path):
    roll = to_roll([[60, 67], [60, 69], [], [72]])  # 60 held over two steps, a rest, then 72
    division, notes = _parse_notes(write_midi(tmp_path / "a.mid", roll, ticks_per_step=96).read_bytes())
    assert division == 96
    assert sorted(notes) == sorted(
        [
            (0, "on", 60),
            (0, "on", 67),
            (96, "off", 67),
            (96, "on", 69),
            (192, "off", 60),
            (192, "off", 69),
            (288, "on", 72),
            (384, "off", 72),
        ]
    )
    assert [_varlen(n) for n in (0, 127, 128, 16383)] == [b"\x00", b"\x7f", b"\x81\x00", b"\xff\x7f"]
    with pytest.raises(ValueError, match=r"expected \(T, 88\)"):
        midi_bytes(np.zeros((4, 12)))
