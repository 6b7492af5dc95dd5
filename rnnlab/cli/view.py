"""`rnnlab view`: a trained char-LM read over a text, as one self-contained HTML page;
rnnlab.analysis.explorer computes, rnnlab.analysis.explorer_page draws, this module chooses the
text and prints."""

from __future__ import annotations

from pathlib import Path

from ..experiments.common import positive_float, positive_int
from .common import out_file

DEFAULT_VAL_FRACTION = 0.05  # the held-out share of a corpus when the run folder does not say


def add_commands(command) -> None:
    from ..analysis.explorer import DEFAULT_CHARS, DEFAULT_MAX_BYTES
    from ..data.text import CORPORA

    view = command(
        "view",
        run_view,
        help="an HTML page to look inside a trained char-LM: units, predictions, hypotheses, gates",
        description="Read a trained character language model over a text once and write one "
        "self-contained HTML file (data, script and style inline; it opens from file:// offline). "
        "The page colours the text by any unit's activation (every layer's states, h and c for an "
        "LSTM, and its gates), the units listed by how well they match a hypothesis (inside a "
        "string literal, bracket depth, position in the line, indentation, start of a word; "
        "|Pearson r|); hovering a character shows the model's five likeliest next characters and "
        "the loss there; selecting a span finds the units on over it and marks every other span "
        "where they are all on (LSTMVis); a scatter shows each gate unit's saturation (Karpathy "
        "et al. 2015). The text is, by default, the held-out end of the run's own training text "
        "(its validation part); --text reads a file's beginning, --corpus the held-out end of a "
        "built-in corpus. docs/explorer.md shows a page.",
    )
    view.add_argument("run", metavar="RUN", help="a run folder of `rnnlab train` (its best checkpoint) or a checkpoint")
    source = view.add_mutually_exclusive_group()
    source.add_argument("--text", "--data", dest="text", metavar="FILE", help="read the beginning of this text file")
    source.add_argument(
        "--corpus",
        metavar="NAME",
        help=f"read the held-out end of a built-in corpus ({', '.join(CORPORA)}) as `rnnlab train` splits it",
    )
    view.add_argument("--encoding", default="utf-8", help="the text file's encoding (default utf-8)")
    view.add_argument(
        "--chars",
        type=positive_int,
        metavar="N",
        default=DEFAULT_CHARS,
        help=f"characters to read (default {DEFAULT_CHARS:,}); the page keeps to --max-mb whatever their number",
    )
    view.add_argument(
        "--max-mb",
        type=positive_float,
        metavar="MB",
        default=DEFAULT_MAX_BYTES / 1e6,
        help=f"the page's size budget in MB (default {DEFAULT_MAX_BYTES / 1e6:g}): when every unit of a large "
        "model does not fit, the units that best match some hypothesis go in first",
    )
    view.add_argument("--out", metavar="FILE.html", help="the page to write (default RUN/view.html)")


def choose_text(args) -> tuple[str, str]:
    """(text, where it came from) for `rnnlab view`: at most --chars characters."""
    from ..data.text import builtin_corpus, load_text, split
    from ..runs.charlm import TrainSpec

    run_json = Path(args.run) / "run.json"
    if args.text:
        text = load_text(args.text, args.encoding)
        return text[: args.chars], f"{args.text} (its first {min(len(text), args.chars):,} characters)"
    if args.corpus:
        text, fraction = builtin_corpus(args.corpus), DEFAULT_VAL_FRACTION
        if run_json.is_file():
            fraction = TrainSpec.from_file(run_json).val_fraction
        source = f"corpus {args.corpus}"
    elif run_json.is_file():
        spec = TrainSpec.from_file(run_json)
        (text, source), fraction = spec.text(), spec.val_fraction
    else:
        raise ValueError(f"{args.run} has no run.json to find its training text: pass --text FILE or --corpus NAME")
    _, held_out = split(range(len(text)), fraction, source)
    start = int(held_out[0])
    line = text.find("\n", start, start + 500)  # begin at a line's start where one is near
    start = line + 1 if 0 <= line < len(text) - 2 else start
    chunk = text[start : start + args.chars]
    return chunk, f"{source}, held-out characters {start:,} to {start + len(chunk):,}"


def run_view(args) -> int:
    from ..analysis.explorer import explore
    from ..analysis.explorer_page import explorer_html
    from ..runs.charlm import describe, load_charlm

    out = out_file(args.out or Path(args.run) / "view.html")
    if out.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"--out {out}: the page is HTML; give a file name ending in .html")
    model, vocab = load_charlm(args.run)
    text, source = choose_text(args)
    print(f"reading {len(text):,} characters of {source} with the {describe(model.config)} ...", flush=True)
    found = explore(model, vocab, text, description=f"{describe(model.config)} on {source}")
    unknown = int((~found.known).sum())
    print(
        f"mean loss {found.mean_loss:.4f} nats/char ({found.mean_loss / 0.6931471805599453:.3f} bits)"
        + (f"; {unknown:,} characters outside the vocabulary" if unknown else "")
    )
    for name, hyp in found.hypotheses.items():
        best = found.rankings[name][0]
        what = f"{best.layer}/{best.name} unit {best.unit}: r = {best.r:+.3f}" if best.r else "constant over the text"
        print(f"  {hyp.title:<32} best {what}")
    page = explorer_html(found, title=str(args.run), max_bytes=int(args.max_mb * 1e6))
    out.write_text(page, encoding="utf-8")
    print(f"page: {out} ({len(page.encode()) / 1e6:.2f} MB); open it in a browser (it needs no network)")
    return 0
