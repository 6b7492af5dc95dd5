"""The run folders under a folder, read as data: what `rnnlab runs` lists and `rnnlab report` draws.

    infos = [read_run(path) for path in find_runs("runs")]      # never raises for a bad folder
    print(runs_table(infos, "runs", "table"))

A folder is a run when it holds run.json, or the config.json of rnnlab.train.Trainer (with its
"train" section). Four kinds are told apart:

    lm          `rnnlab train` / `rnnlab fit lm`: run.json holds the TrainSpec
    fit         `rnnlab fit TASK`: run.json holds the task, params, source and what the fit did
    experiment  a model's folder inside the run folder of `rnnlab experiment NAME`
    trainer     any other folder the Trainer wrote

What each row says, and where it comes from:

- steps: the last step metrics.jsonl logged; best and final: the lowest and the last validation
  score of its "eval" records, under the name the run gave it (val_nats, val_error_rate, ...);
- wall: for an experiment's model, the seconds its experiment logged; else the time between
  config.json (written when the Trainer starts, or resumes) and the last line of metrics.jsonl,
  so for a resumed run the last session's time;
- status: "running" while a process holds the run's lock (RUN/.lock); "finished" when the run
  reached its step budget, ended with the final evaluation of a minutes budget, or (fit runs and
  experiments) recorded a stop reason other than an interruption; "diverged" when it logged a
  divergence; "interrupted" otherwise (stopped by Ctrl-C, or killed, before its budget);
  "broken: why" when its files contradict each other (no checkpoint at all, lines of
  metrics.jsonl that are not records); "unreadable: why" when a file cannot be read at all.

Everything is read as a hostile user may have written it (rnnlab.train.files): regular files
inside the folder only, sizes bounded, JSON within limits, links never followed while searching.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shlex
import stat
from dataclasses import dataclass, field, fields
from pathlib import Path

from ..train.checkpoint import checkpoint_step, list_checkpoints
from ..train.files import inside, read_json
from .charlm import TrainSpec

try:
    import fcntl
except ImportError:  # Windows: runs are not locked there (rnnlab.train.runlock)
    fcntl = None

MAX_METRICS = 2**31  # bytes of a metrics.jsonl read at all (a step's line is about 100 bytes)
MAX_LINE = 2**20  # bytes of one of its lines
MAX_SAMPLES, MAX_SAMPLE = 500, 4000  # samples kept per run, characters kept per sample
MAX_FOLDERS, MAX_DEPTH = 20000, 12  # how much of a tree find_runs looks at


@dataclass
class Metrics:
    """metrics.jsonl of a Trainer's run folder: (step, value) lists and counts."""

    train: list[tuple[int, float]] = field(default_factory=list)  # (step, training loss)
    evals: list[tuple[int, float]] = field(default_factory=list)  # (step, validation score)
    score_name: str = "score"
    samples: list[tuple[int, str]] = field(default_factory=list)  # (step, text) logged at evaluations
    last_step: int = 0
    skipped: int = 0
    diverged: int | None = None  # the step of a "diverged" record
    bad_lines: int = 0  # lines that are not records (a killed run's half line is not counted)


@dataclass
class RunInfo:
    """One run folder, as `rnnlab runs` and `rnnlab report` show it."""

    path: Path
    kind: str = ""  # "lm", "fit", "experiment", "trainer"
    task: str = ""
    data: str = ""
    model: str = ""  # cell, layers x hidden
    command: str = ""
    config: dict = field(default_factory=dict)  # {dotted key: value}: what a config diff compares
    metrics: Metrics = field(default_factory=Metrics)
    wall: float | None = None  # seconds
    status: str = ""

    @property
    def readable(self) -> bool:
        return not self.status.startswith("unreadable")

    @property
    def best(self) -> tuple[int, float] | None:
        evals = self.metrics.evals
        return min(evals, key=lambda e: (e[1], e[0])) if evals else None

    @property
    def final(self) -> tuple[int, float] | None:
        return self.metrics.evals[-1] if self.metrics.evals else None


# --- finding runs --------------------------------------------------------------------------------
def _is_run(folder: Path, names: set[str]) -> bool:
    if "run.json" in names:
        return True
    if "config.json" not in names:
        return False
    try:
        config = read_json(folder / "config.json", folder, limit=2**24)
    except ValueError:
        return "metrics.jsonl" in names  # a run whose config.json is broken: a row that says so
    return isinstance(config, dict) and isinstance(config.get("train"), dict)


def find_runs(root, max_depth: int = MAX_DEPTH, max_folders: int = MAX_FOLDERS) -> list[Path]:
    """The run folders under `root` (itself included), never following links nor entering a run's
    checkpoints or hidden folders; a folder that cannot be listed is returned too (its row says
    why). At most `max_folders` folders are looked at, `max_depth` levels down."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: no such folder")
    found, stack, seen = [], [(root, 0)], 0
    while stack and seen < max_folders:
        folder, depth = stack.pop()
        seen += 1
        try:
            entries = list(os.scandir(folder))
        except OSError:
            found.append(folder)
            continue
        names = {e.name for e in entries}
        if _is_run(folder, names):
            found.append(folder)
        if depth >= max_depth:
            continue
        for entry in sorted(entries, key=lambda e: e.name, reverse=True):
            skip = entry.name.startswith(".") or entry.name == "best" or entry.name.startswith("checkpoint-")
            try:
                if not skip and entry.is_dir(follow_symlinks=False):
                    stack.append((Path(entry.path), depth + 1))
            except OSError:
                continue
    return sorted(found)


# --- reading one run -------------------------------------------------------------------------------
def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _open_regular(path: Path, folder: Path, limit: int):
    """A binary file object on `path`, a regular file inside `folder` of at most `limit` bytes."""
    inside(path, folder)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise ValueError(f"{path.name} is not a regular file")
    if info.st_size > limit:
        os.close(fd)
        raise ValueError(f"{path.name} is {info.st_size:,} bytes, more than the {limit:,} read")
    return os.fdopen(fd, "rb")


def read_metrics(folder) -> Metrics:
    """metrics.jsonl of a Trainer's run folder (an empty Metrics when there is none): training
    losses, evaluations, samples; a line that is not a record is counted, not fatal."""
    folder = Path(folder)
    path = folder / "metrics.jsonl"
    m = Metrics()
    if not os.path.lexists(path):
        return m
    names: set[str] = set()
    with _open_regular(path, folder, MAX_METRICS) as f:
        while line := f.readline(MAX_LINE):
            whole = line.endswith(b"\n")
            if not whole and len(line) == MAX_LINE:
                while (rest := f.readline(MAX_LINE)) and not rest.endswith(b"\n"):
                    pass
                m.bad_lines += 1
                continue
            try:
                r = json.loads(line)
            except (ValueError, RecursionError):
                m.bad_lines += whole  # a half last line is a killed run's, not a broken file
                continue
            step = r.get("step") if isinstance(r, dict) else None
            if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step < 10**12:
                m.bad_lines += 1
                continue
            m.last_step = max(m.last_step, step)
            event = r.get("event")
            if event is None:
                if (loss := _number(r.get("loss"))) is not None:
                    m.train.append((step, loss))
            elif event == "eval":
                if (score := _number(r.get("score"))) is not None:
                    m.evals.append((step, score))
                names |= {k for k in r if k not in ("step", "event", "score", "best") and len(k) < 64}
            elif event == "sample" and isinstance(r.get("text"), str) and len(m.samples) < MAX_SAMPLES:
                m.samples.append((step, r["text"][:MAX_SAMPLE]))
            elif event == "skipped":
                m.skipped += 1
            elif event == "diverged":
                m.diverged = step
    if len(names) == 1:
        m.score_name = names.pop()
    return m


def _lock_held(folder: Path) -> bool:
    """Whether a process holds RUN/.lock (a shared lock is tried, and let go at once)."""
    path = folder / ".lock"
    if fcntl is None or path.is_symlink() or not path.is_file():
        return False
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return False
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def flatten(value, prefix: str = "", out: dict | None = None, depth: int = 0) -> dict:
    """{dotted key: scalar} of a JSON value, for a config diff: vocabularies and long lists are
    summed up ("[1,024 items]"), at most 6 levels and 400 keys."""
    out = {} if out is None else out
    if len(out) >= 400:
        return out
    if isinstance(value, dict) and depth < 6:
        for key, item in value.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if key == "vocab" or key == "preprocessing":
                out[name] = f"[{len(item):,} items]" if isinstance(item, (dict, list, str)) else item
            else:
                flatten(item, name, out, depth + 1)
    elif isinstance(value, list):
        out[prefix] = (
            value
            if len(value) <= 16 and all(not isinstance(v, (dict, list)) for v in value)
            else (f"[{len(value):,} items]")
        )
    elif isinstance(value, (dict,)):
        out[prefix] = "{...}"
    else:
        out[prefix] = value
    return out


def _spec_command(spec: dict, path: Path) -> str:
    """`rnnlab train` with the options of a run.json that differ from the defaults."""
    parts = ["rnnlab", "train"]
    for f in fields(TrainSpec):
        value = spec.get(f.name, f.default)
        budget = f.name in ("data", "corpus", "steps", "minutes")
        if value is None or (value == f.default and not budget) or value is False:
            continue
        flag = "--" + f.name.replace("_", "-")
        parts += [flag] if value is True else [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    return shlex.join([*parts, "--out", str(path)])


# `rnnlab fit`'s flags (rnnlab/cli/fit.py): the estimator parameters it takes, named as the flag
# but for batch_size; the data options of run.json's "source" it takes
FIT_PARAMS = ("model", "hidden", "layers", "bidirectional", "embedding", "unit", "min_count", "horizon", "season")
FIT_PARAMS += ("context", "attention", "height", "lines", "steps", "minutes", "epochs", "batch_size", "lr", "clip")
FIT_PARAMS += ("seed", "validation_fraction", "test_fraction")
FIT_ONLY = {"min_count": ("classify",)}  # a parameter other tasks have without a flag
FIT_SOURCE = ("text_column", "label_column", "sequence", "tag_column", "column", "time_column", "extra_columns")


def _flag(name: str) -> str:
    return "--batch" if name == "batch_size" else "--" + name.replace("_", "-")


def _fit_command(record: dict, path: Path) -> str:
    """`rnnlab fit TASK` with run.json's data options and every parameter `rnnlab fit` has a flag
    for (defaults included: run.json does not say which were given)."""
    parts = ["rnnlab", "fit", str(record.get("task"))]
    source = record.get("source") if isinstance(record.get("source"), dict) else {}
    if isinstance(source.get("path"), str):
        parts += ["--data", source["path"]]
    params = record.get("params") if isinstance(record.get("params"), dict) else {}
    budget = params.get("steps") is not None or params.get("minutes") is not None
    options = [(k, source.get(k)) for k in FIT_SOURCE] + [(k, params.get(k)) for k in FIT_PARAMS]
    for key, value in options:
        if value is None or (value is False and key == "sequence") or (key == "epochs" and budget):
            continue
        if key in FIT_ONLY and record.get("task") not in FIT_ONLY[key]:
            continue
        if isinstance(value, bool):
            parts.append(_flag(key) if value else "--no-" + _flag(key)[2:])
        elif isinstance(value, list):
            parts += [_flag(key), *(str(v) for v in value)] if value else []
        elif isinstance(value, (str, int, float)):
            parts += [_flag(key), f"{value:g}" if isinstance(value, float) else str(value)]
    return shlex.join([*parts, "--out", str(path)])


def _describe_model(cell, layers, hidden, bidirectional=False) -> str:
    if not isinstance(hidden, int) or isinstance(hidden, bool):
        return str(cell) if cell else ""
    layers = layers if isinstance(layers, int) and not isinstance(layers, bool) else 1
    return (f"{cell} " if cell else "") + f"{layers}x{hidden}" + (" bi" if bidirectional is True else "")


def _model_in(config) -> str:
    """The first dict of a config (breadth first) that names a hidden size, described."""
    queue, looked = [config], 0
    while queue and looked < 200:
        node = queue.pop(0)
        looked += 1
        if isinstance(node, dict):
            if isinstance(node.get("hidden"), int):
                cell = next((node[k] for k in ("cell", "model") if isinstance(node.get(k), str)), None)
                return _describe_model(cell, node.get("layers"), node["hidden"], node.get("bidirectional"))
            queue.extend(v for v in node.values() if isinstance(v, dict))
    return ""


def _experiment_record(folder: Path) -> tuple[dict, dict] | None:
    """(the experiment's config.json, its "trained" record of this model) when `folder` is a
    model's folder inside an experiment's run folder; None otherwise."""
    parent = folder.parent
    try:
        config = read_json(parent / "config.json", parent, limit=2**24)
    except ValueError:
        return None
    if not isinstance(config, dict) or not isinstance(config.get("experiment"), str):
        return None
    trained = {}
    try:
        with _open_regular(parent / "metrics.jsonl", parent, 2**26) as f:
            for line in f:
                if b'"trained"' in line:
                    r = json.loads(line)
                    if isinstance(r, dict) and r.get("event") == "trained" and r.get("model") == folder.name:
                        trained = r
    except (OSError, ValueError, RecursionError):
        pass
    return config, trained


def _wall(folder: Path) -> float | None:
    try:
        began = os.stat(folder / "config.json", follow_symlinks=False).st_mtime
        ended = os.stat(folder / "metrics.jsonl", follow_symlinks=False).st_mtime
    except OSError:
        return None
    return ended - began if ended >= began else None


def read_run(folder) -> RunInfo:
    """What `rnnlab runs` shows of a run folder; never raises: a folder that cannot be read gets
    the status "unreadable: why"."""
    folder = Path(folder)
    info = RunInfo(folder)
    try:
        _read(info)
    except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError) as err:
        message = " ".join(str(err).split()) or type(err).__name__
        info.status = f"unreadable: {message.replace(str(folder) + '/', '')[:300]}"
    return info


def _read(info: RunInfo) -> None:
    folder = info.path
    if not folder.is_dir():
        raise ValueError("not a folder")
    os.listdir(folder)  # a folder that cannot be listed says so here
    run_file, config_file = folder / "run.json", folder / "config.json"
    record = read_json(run_file, folder) if os.path.lexists(run_file) else None
    config = read_json(config_file, folder) if os.path.lexists(config_file) else None
    if record is not None and not isinstance(record, dict):
        raise ValueError("run.json is not a JSON object")
    if config is not None and not isinstance(config, dict):
        raise ValueError("config.json is not a JSON object")
    config = config or {}
    train = config.get("train") if isinstance(config.get("train"), dict) else {}
    stop_reason = None
    if record is not None and "params" in record:
        info.kind, info.task = "fit", str(record.get("task"))
        params = record["params"] if isinstance(record["params"], dict) else {}
        source = record.get("source") if isinstance(record.get("source"), dict) else {}
        info.data = str(source.get("path") or "")
        cell = params.get("model") or record.get("estimator")
        info.model = _describe_model(cell, params.get("layers"), params.get("hidden"), params.get("bidirectional"))
        info.command = _fit_command(record, folder)
        info.config = flatten({"task": record.get("task"), "params": params, "source": source})
        fitted = record.get("fitted") if isinstance(record.get("fitted"), dict) else {}
        stop_reason = fitted.get("stop_reason")
    elif record is not None:
        info.kind, info.task = "lm", "lm"
        known = {f.name for f in fields(TrainSpec)}
        spec = {k: v for k, v in record.items() if k in known}
        info.data = str(spec.get("data") or f"corpus {spec.get('corpus') or TrainSpec.DEFAULT_CORPUS}")
        info.model = _describe_model(spec.get("model", "lstm"), spec.get("layers", 2), spec.get("hidden", 256))
        info.command = _spec_command(spec, folder)
        info.config = flatten(spec)
    elif train:
        experiment = _experiment_record(folder)
        info.model = _model_in(config.get("task"))
        info.config = flatten({"train": train, "task": config.get("task")})
        if experiment is not None:
            exp, trained = experiment
            info.kind, info.task = "experiment", f"{exp['experiment']}/{folder.name}"
            info.command = f"{exp.get('command') or 'rnnlab experiment ' + exp['experiment']}  # model {folder.name}"
            stop_reason = trained.get("stop_reason")
            info.wall = _number(trained.get("seconds"))
        else:
            info.kind, info.task = "trainer", "trainer"
    else:
        raise ValueError("neither run.json nor the config.json of a Trainer")
    info.metrics = read_metrics(folder)
    if info.wall is None:
        info.wall = _wall(folder)
    info.status = _status(info, train, stop_reason)


def _status(info: RunInfo, train: dict, stop_reason) -> str:
    folder, m = info.path, info.metrics
    if _lock_held(folder):
        return "running"
    if m.diverged is not None:
        return "diverged"
    saved = list_checkpoints(folder)
    if m.last_step == 0 and not saved:
        return "broken: no training step logged" if info.kind != "lm" else "broken: no step logged, no checkpoint"
    if not saved and not os.path.lexists(folder / "best"):
        return "broken: no checkpoint"
    if m.bad_lines:
        return f"broken: {m.bad_lines} line(s) of metrics.jsonl are not records"
    if isinstance(stop_reason, str):
        return "interrupted" if stop_reason == "interrupted" else "finished"
    last_saved = checkpoint_step(saved[-1]) if saved else 0
    max_steps = train.get("max_steps")
    if isinstance(max_steps, int) and m.last_step >= max_steps:
        return "finished"
    final = bool(train.get("final_eval")) and bool(m.evals) and m.evals[-1][0] == m.last_step
    if max_steps is None and final and last_saved == m.last_step:
        return "finished"
    return "interrupted"


# --- the table -------------------------------------------------------------------------------------
def sort_runs(infos: list[RunInfo]) -> list[RunInfo]:
    """Readable runs first, by task, then best validation score (lowest first), then path."""

    def key(info: RunInfo):
        best = info.best
        return (not info.readable, info.task, best is None, best[1] if best else 0.0, str(info.path))

    return sorted(infos, key=key)


def clock(seconds: float | None) -> str:
    """12 s, 3:05, 1:02:03."""
    if seconds is None:
        return ""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def row(info: RunInfo, root: Path) -> dict:
    """One run as a flat record (the csv and json formats)."""
    try:
        name = str(info.path.relative_to(root)) if info.path != root else "."
    except ValueError:
        name = str(info.path)
    best, final = info.best, info.final
    return {
        "run": name,
        "task": info.task,
        "data": info.data,
        "model": info.model,
        "metric": info.metrics.score_name if best else "",
        "best": best[1] if best else None,
        "best_step": best[0] if best else None,
        "final": final[1] if final else None,
        "steps": info.metrics.last_step if info.readable else None,
        "wall_seconds": round(info.wall, 1) if info.wall is not None else None,
        "status": info.status,
    }


COLUMNS = ("run", "task", "model", "best", "steps", "wall", "status")


def runs_table(infos: list[RunInfo], root, fmt: str = "table") -> str:
    """The runs as an aligned text table, CSV or JSON (sorted by sort_runs)."""
    root = Path(root)
    rows = [row(info, root) for info in sort_runs(infos)]
    if fmt == "json":
        return json.dumps(rows, indent=1)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["run"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue().rstrip("\n")
    if fmt != "table":
        raise ValueError(f"--format must be table, csv or json, got {fmt!r}")
    cells = [list(COLUMNS)]
    for r in rows:
        best = f"{r['metric']} {r['best']:.4f}" if r["best"] is not None else ""
        steps = f"{r['steps']:,}" if r["steps"] is not None else ""
        cells.append([r["run"], r["task"], r["model"], best, steps, clock(r["wall_seconds"]), r["status"]])
    cells = [[" ".join(str(c).split()) for c in line] for line in cells]  # no newline breaks a row
    widths = [max(len(line[k]) for line in cells) for k in range(len(COLUMNS))]
    right = {"steps", "wall"}
    lines = [
        "  ".join(c.rjust(w) if COLUMNS[k] in right else c.ljust(w) for k, (c, w) in enumerate(zip(line, widths)))
        for line in cells
    ]
    return "\n".join(line.rstrip() for line in lines)
