"""Polyphonic music as piano rolls: the JSB chorales in, a Standard MIDI File out.

    splits = load_chorales("data/jsb_chorales")   # {"train": [roll, ...], "valid", "test"}
    roll = splits["train"][0]                               # (T, 88) uint8, 1 where a key sounds
    write_midi("sample.mid", roll)                          # format 0, one step = one quarter note

The JSB chorales (Boulanger-Lewandowski, Bengio & Vincent 2012, czhuang/JSB-Chorales-dataset's
jsb-chorales-quarter.json): a JSON object {"train", "valid", "test"} (229 / 76 / 77 chorales),
each chorale a list of steps on a quarter-note grid, each step the list of MIDI pitches sounding
(21..108, the 88 keys of a piano; an empty list is a rest). Every problem is a DataError naming
the file and, for a bad pitch, the split, chorale and step.

The grid does not say whether a note sounding on two steps is held or struck again; the MIDI
writer holds it (a chorale's voices mostly move on the beat, and a tied note sounds better held).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from .text import DataError

LOWEST, KEYS = 21, 88  # MIDI pitch of the piano's lowest key (A0), and how many keys
SPLITS = ("train", "valid", "test")
CHORALES_FILE = "jsb-chorales-quarter.json"


def to_roll(steps: list[list[int]]) -> np.ndarray:
    """Lists of pitches per step -> (T, 88) uint8 piano roll."""
    roll = np.zeros((len(steps), KEYS), np.uint8)
    for t, pitches in enumerate(steps):
        roll[t, [p - LOWEST for p in pitches]] = 1
    return roll


def load_chorales(path) -> dict[str, list[np.ndarray]]:
    """The piano rolls of each split of a chorales JSON file (or of the folder holding
    jsb-chorales-quarter.json)."""
    path = Path(path)
    if path.is_dir():
        path = path / CHORALES_FILE
    if not path.is_file():
        raise DataError(path, f"no such file; pass the {CHORALES_FILE} file (or its folder) with --data")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        where = f"line {err.lineno}: " if isinstance(err, json.JSONDecodeError) else ""
        raise DataError(path, f"{where}not valid JSON ({err.msg if hasattr(err, 'msg') else err})") from None
    if not isinstance(data, dict) or any(s not in data for s in SPLITS):
        found = ", ".join(map(repr, data)) if isinstance(data, dict) else type(data).__name__
        raise DataError(path, f"expected a JSON object with the keys 'train', 'valid' and 'test', found {found}")
    splits = {}
    for split in SPLITS:
        pieces = data[split]
        if not isinstance(pieces, list) or not pieces:
            raise DataError(path, f"{split!r} must be a non-empty list of chorales")
        rolls = []
        for k, piece in enumerate(pieces):
            if not isinstance(piece, list) or not piece:
                raise DataError(path, f"{split}[{k}] must be a non-empty list of steps")
            for t, step in enumerate(piece):
                if not isinstance(step, list) or any(
                    isinstance(p, bool)
                    or not isinstance(p, (int, float))
                    or p != int(p)
                    or not LOWEST <= p < LOWEST + KEYS
                    for p in step
                ):
                    raise DataError(
                        path,
                        f"{split}[{k}] step {t}: {step!r} is not a list of MIDI pitches "
                        f"{LOWEST}..{LOWEST + KEYS - 1} (the 88 piano keys)",
                    )
            rolls.append(to_roll([[int(p) for p in step] for step in piece]))
        splits[split] = rolls
    return splits


def _varlen(n: int) -> bytes:
    """A MIDI variable-length quantity: 7 bits per byte, most significant first, the high bit set
    on every byte but the last."""
    out = [n & 0x7F]
    while n > 0x7F:
        n >>= 7
        out.append((n & 0x7F) | 0x80)
    return bytes(reversed(out))


def midi_bytes(
    roll: np.ndarray, *, ticks_per_step: int = 480, bpm: float = 80.0, program: int = 19, velocity: int = 80
) -> bytes:
    """A Standard MIDI File (format 0, one track, channel 0) of a (T, 88) piano roll; each step
    lasts one quarter note (ticks_per_step ticks per quarter), a key sounding on consecutive
    steps is held. program is the General MIDI instrument, 0-based (19: church organ)."""
    roll = np.asarray(roll)
    if roll.ndim != 2 or roll.shape[1] != KEYS:
        raise ValueError(f"roll has shape {roll.shape}, expected (T, {KEYS}): steps by piano keys")
    on = np.vstack([np.zeros((1, KEYS), bool), roll.astype(bool), np.zeros((1, KEYS), bool)])
    events = []  # (tick, order, bytes): note-offs (order 0) before note-ons (order 1) at one tick
    for t in range(1, len(on)):
        tick = (t - 1) * ticks_per_step
        for key in np.flatnonzero(on[t - 1] & ~on[t]):
            events.append((tick, 0, bytes([0x80, LOWEST + key, 0])))
        for key in np.flatnonzero(on[t] & ~on[t - 1]):
            events.append((tick, 1, bytes([0x90, LOWEST + key, velocity])))
    tempo = int(round(60_000_000 / bpm))  # microseconds per quarter note
    track = bytearray(b"\x00\xff\x51\x03" + tempo.to_bytes(3, "big") + bytes([0x00, 0xC0, program]))
    now = 0
    for tick, _, message in sorted(events):
        track += _varlen(tick - now) + message
        now = tick
    track += b"\x00\xff\x2f\x00"  # end of track
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, ticks_per_step)
    return header + b"MTrk" + struct.pack(">I", len(track)) + bytes(track)


def write_midi(path, roll: np.ndarray, **options) -> Path:
    path = Path(path)
    path.write_bytes(midi_bytes(roll, **options))
    return path
