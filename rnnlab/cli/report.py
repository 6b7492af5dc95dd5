"""Looking at runs from outside: `rnnlab runs` (a table of the runs under a folder), `rnnlab
report` (one HTML page comparing runs) and `rnnlab export-states` (a char-LM's states for
LSTMVis). rnnlab.runs.folders, rnnlab.runs.report and rnnlab.analysis.states do the work."""

from __future__ import annotations

from pathlib import Path

from ..experiments.common import positive_int
from .common import out_file, out_folder


def add_commands(command) -> None:
    runs = command(
        "runs",
        run_runs,
        help="a table of the runs under a folder",
        description="List the run folders under DIR, searched recursively (runs of `rnnlab train`, `rnnlab fit` "
        "and the model folders of `rnnlab experiment`): task, model (cell, layers x hidden), best validation "
        "score (its name and value), steps, wall time and status (finished, interrupted, running while a "
        "process holds the run's lock, diverged, broken: why, unreadable: why). Sorted by task, then best "
        "score. A folder that cannot be read gets a row saying why; the command never stops at one.",
    )
    runs.add_argument("dir", nargs="?", default="runs", metavar="DIR", help="the folder to search (default ./runs)")
    runs.add_argument(
        "--format",
        choices=["table", "csv", "json"],
        default="table",
        help="an aligned table for a person (default), or CSV or JSON with every field for a program",
    )

    report = command(
        "report",
        run_report,
        help="one HTML page comparing runs: commands, config diff, curves, samples, figures",
        description="Write one self-contained HTML page (data, script and style inline: it opens from file:// "
        "offline) for a set of runs: each run's command and a config diff (only the settings that differ, "
        "highlighted), the training loss and the validation metric overlaid (hover for values, click a legend "
        "entry to hide or show a run), the samples the runs logged, and best and final figures.",
    )
    report.add_argument("runs", nargs="+", metavar="RUN", help="run folders (of `rnnlab train`, `fit`, an experiment)")
    report.add_argument(
        "--out",
        metavar="FILE.html",
        help="the page to write (default: RUN/report.html for one run, ./report.html for several)",
    )
    report.add_argument("--title", help="the page's title (default: the runs' names)")

    export = command(
        "export-states",
        run_export_states,
        help="a char-LM's hidden states on a text, in the files LSTMVis reads",
        description="Run a trained character-level language model over a text and write the project folder "
        "LSTMVis (Strobelt et al.) opens: states.hdf5 (h, and c for an LSTM, per layer, one row per "
        "character), train.hdf5 (the character ids), train.dict and lstm.yml. Needs h5py "
        '(pip install -e ".[states]"). Characters outside the model\'s vocabulary are left out and counted. '
        "docs/report.md says what is assumed of LSTMVis's format.",
    )
    export.add_argument("run", metavar="RUN_DIR_OR_CHECKPOINT", help="a char-LM run folder (its best checkpoint)")
    export.add_argument("--text", metavar="FILE", required=True, help="the text to run the model over")
    export.add_argument("--encoding", default="utf-8", help="its encoding (default utf-8)")
    export.add_argument("--out", metavar="DIR", required=True, help="the folder to write (created if missing)")
    export.add_argument(
        "--max-chars", type=positive_int, metavar="N", help="only the first N characters of the text (default all)"
    )
    export.add_argument("--name", help="the project's name in lstm.yml (default the run folder's name)")


def run_runs(args) -> int:
    from ..runs.folders import find_runs, read_run, runs_table

    infos = [read_run(path) for path in find_runs(args.dir)]
    if not infos and args.format == "table":
        print(f"no run folders under {args.dir}")
        return 0
    print(runs_table(infos, args.dir, args.format))
    return 0


def run_report(args) -> int:
    from ..runs.folders import read_run
    from ..runs.report import write_report

    for run in args.runs:
        if not Path(run).is_dir():
            raise ValueError(f"{run}: no such run folder")
    default = Path(args.runs[0]) / "report.html" if len(args.runs) == 1 else Path("report.html")
    out = out_file(args.out or default)
    infos = [read_run(run) for run in args.runs]
    for info in infos:
        if not info.readable:
            raise ValueError(f"{info.path}: {info.status}")
    path = write_report(infos, out, args.title)
    size = path.stat().st_size
    print(f"wrote {path} ({size / 1024:,.0f} KB, {len(infos)} run(s)); open it in a browser")
    return 0


def run_export_states(args) -> int:
    from ..analysis.states import export_lstmvis, require_h5py, states_bytes
    from ..data.text import load_text
    from ..runs.charlm import load_charlm
    from ..train.limits import gib, require_memory

    try:
        require_h5py()  # before any work
    except ImportError as err:  # one line, exit 2
        raise ValueError(str(err)) from None
    folder = out_folder(args.out, Path(args.out))
    model, vocab = load_charlm(args.run)
    text = load_text(args.text, args.encoding, min_chars=1)
    if args.max_chars:
        text = text[: args.max_chars]
    need = states_bytes(model, len(text))  # recorded, then written: about twice that at the peak
    require_memory(2 * need, f"the states of {len(text):,} characters ({gib(need)})", "--max-chars")
    name = args.name or Path(args.run).resolve().name
    about = f"rnnlab run {args.run} on {args.text}"
    done = export_lstmvis(model, vocab, text, folder, name=name, description=about)
    layers = ", ".join(f"{path} ({kind}, layer {layer})" for path, (kind, layer) in done.datasets.items())
    print(f"wrote {folder}: {', '.join(p.name for p in done.files)}")
    print(f"{done.tokens:,} characters, {done.unknown:,} outside the vocabulary left out; states {layers}")
    print("LSTMVis: put the folder into its data directory and start its server (LSTMVis's README says how)")
    return 0
