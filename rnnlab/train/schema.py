"""The shape of what rnnlab reads back from JSON: types, ranges and allowed keys, checked before any
value is used, so that a hand-edited or hostile state.json or run.json is refused with one line
naming the file and the key, instead of a TypeError deep inside, a setattr of an arbitrary name or
an integer too large for C.

    config = build(CharLMConfig, data, file, "config.task.model")   # a dataclass from a dict
    check_value(value, "int | None", file, "trainer.skipped", low=0)

A type is written as the annotations of this code base write it: "int", "float", "bool", "str",
"dict", "list", or a union of them with "None". Integers are bounded (|n| <= 2**53, JSON's exact
range) and floats finite unless a range says more.
"""

from __future__ import annotations

import dataclasses
import inspect
import math

from .safetensors import CheckpointError

MAX_INT = 2**53

_TYPES = {"int": int, "float": float, "bool": bool, "str": str, "dict": dict, "list": list, "tuple": list}


def _parts(annotation: str) -> list[str]:
    return [part.strip().split("[")[0] for part in annotation.split("|")]


def check_value(value, annotation: str, file, key: str, low=None, high=None, choices=None):
    """`value` if it has the type `annotation` (and lies in [low, high] / in choices), else a
    CheckpointError naming `file` and `key`. An int where a float is expected becomes a float."""
    parts = _parts(annotation)
    if value is None:
        if "None" in parts:
            return None
        raise CheckpointError(file, f"{key} is null; it must be {annotation}")
    for part in parts:
        if part == "None" or part not in _TYPES:
            continue
        if part == "int" and isinstance(value, int) and not isinstance(value, bool):
            if not -MAX_INT <= value <= MAX_INT:
                raise CheckpointError(file, f"{key} = {_short(value)} is out of range")
            break
        if part == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = float(value)
            if not math.isfinite(value):
                raise CheckpointError(file, f"{key} = {value} is not a finite number")
            break
        if part not in ("int", "float") and isinstance(value, _TYPES[part]):
            break
    else:
        raise CheckpointError(file, f"{key} = {_short(value)} is a {type(value).__name__}; it must be {annotation}")
    if low is not None and value < low or high is not None and value > high:
        raise CheckpointError(file, f"{key} = {value} is outside [{low}, {high}]")
    if choices is not None and value not in choices:
        raise CheckpointError(file, f"{key} = {_short(value)} is not one of {', '.join(map(str, choices))}")
    return value


def check_keys(data, file, key: str, allowed, required=()) -> dict:
    """`data` if it is a dict whose keys are all in `allowed` and include `required`."""
    if not isinstance(data, dict):
        raise CheckpointError(file, f"{key or 'the file'} is a {type(data).__name__}; it must be an object")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise CheckpointError(file, f"{key or 'the file'} has unknown key(s) {', '.join(map(repr, unknown[:5]))}")
    missing = [k for k in required if k not in data]
    if missing:
        raise CheckpointError(file, f"{key or 'the file'} lacks {', '.join(map(repr, missing))}")
    return data


def arguments(data, annotations: dict[str, str], file, key: str, limits: dict | None = None) -> dict:
    """The entries of `data` checked against `annotations` (name -> type) and `limits` (name ->
    (low, high) or a tuple of choices); unknown names refused, missing ones left to the defaults."""
    check_keys(data, file, key, annotations)
    limits = limits or {}
    checked = {}
    for name, value in data.items():
        bounds = limits.get(name)
        low, high, choices = None, None, None
        if isinstance(bounds, tuple) and len(bounds) == 2 and all(isinstance(b, (int, float)) for b in bounds):
            low, high = bounds
        elif bounds is not None:
            choices = bounds
        checked[name] = check_value(
            value, annotations[name], file, f"{key}.{name}" if key else name, low, high, choices
        )
    return checked


def build(cls, data, file, key: str = "", limits: dict | None = None):
    """An instance of the dataclass `cls` from a JSON object, every field checked against its
    annotation and `limits` (default: cls.LIMITS); the class's own checks become CheckpointErrors."""
    annotations = {f.name: f.type if isinstance(f.type, str) else f.type.__name__ for f in dataclasses.fields(cls)}
    values = arguments(data, annotations, file, key, limits if limits is not None else getattr(cls, "LIMITS", None))
    return construct(cls, values, file, key)


def constructor_annotations(cls) -> dict[str, str]:
    """name -> annotation of a class's keyword-only constructor arguments (the estimators')."""
    params = inspect.signature(cls.__init__).parameters.values()
    return {p.name: str(p.annotation) for p in params if p.kind == p.KEYWORD_ONLY}


def construct(cls, values: dict, file, key: str = ""):
    """cls(**values), with the ValueError or TypeError of its own checks as a CheckpointError."""
    try:
        return cls(**values)
    except (ValueError, TypeError) as err:
        if isinstance(err, CheckpointError):
            raise
        raise CheckpointError(file, f"{key + ': ' if key else ''}{err}") from None


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
