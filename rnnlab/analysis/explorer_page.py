"""The explorer as one self-contained HTML file: the data inline as JSON, the script and the style
inline, nothing fetched (no CDN, no network), so it opens from file:// offline.

    html = explorer_html(explore(model, vocab, text), title="runs/lm")

The page (explorer_assets/: explorer.html, explorer.css, explorer.js) colours the text by one unit
at a time, one <span class="ch" data-i=t data-a=activation> per character; hovering a character
shows the model's top predictions and the loss there; a hypotheses panel ranks the units; selecting
a span finds the units on over it and marks every other span where they are all on (LSTMVis); an
SVG scatter shows gate saturation (Karpathy et al. 2015). docs/explorer.md describes it.
"""

from __future__ import annotations

import html
import json
from importlib import resources

from .explorer import DEFAULT_MAX_BYTES, Explorer, page_data

ASSETS = "explorer_assets"


def asset(name: str) -> str:
    """The text of one of the page's files (explorer.html, explorer.css, explorer.js)."""
    return (resources.files(__package__) / ASSETS / name).read_text(encoding="utf-8")


def inline_json(data: dict) -> str:
    """JSON that is safe inside <script>: every "<" escaped (no "</script>", no "<!--" can close
    or open anything), non-ASCII escaped too, so the file is ASCII whatever the text holds."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=True, allow_nan=False).replace("<", "\\u003c")


def explorer_html(explorer: Explorer, title: str = "", max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """The page for `explorer`, about `max_bytes` at most (see explorer.page_data)."""
    data = page_data(explorer, max_bytes, title)
    page = asset("explorer.html")
    parts = {
        "/*STYLE*/": asset("explorer.css"),
        "/*SCRIPT*/": asset("explorer.js").replace("</", "<\\/"),
        "__TITLE__": html.escape(title or "explorer"),
        "__DATA__": inline_json(data),
    }
    for mark, text in parts.items():  # the data last: nothing in it is read as a mark
        page = page.replace(mark, text)
    return page
