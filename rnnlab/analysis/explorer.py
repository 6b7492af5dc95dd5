"""The data behind `rnnlab view`: a character model read over a text, one character at a time.

Karpathy, Johnson & Fei-Fei (2015, "Visualizing and Understanding Recurrent Networks") looked
inside char-LMs by colouring text with one unit's activation and found units that track quotes,
bracket depth and line length; they also plotted, per gate unit, how often it is saturated.
LSTMVis (Strobelt et al.) added the reverse question: which units are on over a span I select?
`explore` runs a model once over a text and collects what those views need, per character t
(the state after reading text[t]):

    states and gates   every layer's states (h; c for an LSTM: the kind's `states`) and gate values
                       (the kind's `gates`), (T, H) each: `Explorer.groups`
    predictions        the model's top-k next characters and their probabilities, and the loss
                       -ln p(text[t+1]) in nats (NaN at the last character or before an unknown one)
    hypotheses         0/1 or numeric sequences over the text (`hypotheses`): inside a quoted string
                       literal, bracket depth, position in the line, indentation, start of a word
    rankings           per hypothesis, every unit ranked by |Pearson r| with it (`rank_units`)
    saturation         per gate unit, the fraction of steps < 0.1 and > 0.9 (`gate_saturation`)

`page_data` makes the compact, JSON-ready form that rnnlab.analysis.explorer_page embeds in one
HTML file: activations quantised to one byte per value (each unit's own range), probabilities in
units of 1e-4, losses rounded, and, when every unit of a large model would not fit the byte budget,
the units that best match some hypothesis first. The model is read, never changed: the recurrent
layer runs as a copy (analysis.unroll.layer_copy) and the embedding and head are applied from their
weights.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass, field

import numpy as np

from .gates import gate_stats
from .unroll import layer_copy

OPENING, CLOSING = "([{", ")]}"
QUOTES = "'\""
DEFAULT_CHARS = 10_000  # characters read by default (`rnnlab view --chars`)
DEFAULT_MAX_BYTES = 5_000_000  # the page's size budget (`rnnlab view --max-mb`)
PROB_SCALE = 10_000  # probabilities travel as integers in units of 1e-4


# --- hypotheses -------------------------------------------------------------------------------


@dataclass
class Hypothesis:
    """A sequence over the text to compare units with: `values[t]` holds after reading text[t]."""

    name: str  # a short key: "string", "brackets", ...
    title: str  # what a person reads
    values: np.ndarray  # (T,) int
    binary: bool  # 0/1, or a count


def python_scan(text: str) -> tuple[np.ndarray, np.ndarray]:
    """(inside a string literal, bracket depth) after reading each character of Python-ish text.

    A string opens at ' or " (or ''' and \"\"\") outside comments, and the opening quote already counts
    as inside; a backslash escapes the next character; the closing quote counts as outside, as does
    an unescaped newline that ends an unterminated one-line string. Bracket depth counts (, [ and {
    outside strings and comments: an opening bracket counts its new depth, a closing one the depth
    after it, never below 0. A text cut from the middle of a file starts outside any string."""
    n = len(text)
    inside, depth = np.zeros(n, np.int8), np.zeros(n, np.int32)
    quote, comment, level, i = "", False, 0, 0
    while i < n:
        ch = text[i]
        if quote:
            if ch == "\\" and i + 1 < n:
                inside[i : i + 2] = 1  # an escaped quote or newline continues the string
                depth[i : i + 2] = level
                i += 2
                continue
            if text.startswith(quote, i) or (ch == "\n" and len(quote) == 1):
                width = len(quote) if ch != "\n" else 1
                depth[i : i + width] = level
                quote, i = "", i + width
                continue
            inside[i], depth[i] = 1, level
        elif comment:
            comment = ch != "\n"
            depth[i] = level
        elif ch == "#":
            comment, depth[i] = True, level
        elif ch in QUOTES:
            quote = ch * 3 if text.startswith(ch * 3, i) else ch
            inside[i : i + len(quote)] = 1
            depth[i : i + len(quote)] = level
            i += len(quote)
            continue
        else:
            if ch in OPENING:
                level += 1
            elif ch in CLOSING:
                level = max(0, level - 1)
            depth[i] = level
        i += 1
    return inside, depth


def line_position(text: str) -> np.ndarray:
    """The column of each character in its line (0 for the first; a newline ends its own line)."""
    out, col = np.zeros(len(text), np.int32), 0
    for t, ch in enumerate(text):
        out[t] = col
        col = 0 if ch == "\n" else col + 1
    return out


def indentation(text: str, tab: int = 8) -> np.ndarray:
    """The width of the current line's leading whitespace as read so far (a tab moves to the next
    multiple of `tab`, as Python's tokenizer counts): growing through the indentation, constant
    after it; a blank line has 0."""
    out, width, leading = np.zeros(len(text), np.int32), 0, True
    for t, ch in enumerate(text):
        if leading and ch == " ":
            width += 1
        elif leading and ch == "\t":
            width = (width // tab + 1) * tab
        elif ch != "\n":
            leading = False
        out[t] = width
        if ch == "\n":
            width, leading = 0, True
    return out


def word_starts(text: str) -> np.ndarray:
    """1 where a word (letters, digits, underscore) starts: a word character after a non-word one."""
    word = np.array([ch.isalnum() or ch == "_" for ch in text], bool)
    start = word.copy()
    start[1:] &= ~word[:-1]
    return start.astype(np.int8)


def hypotheses(text: str) -> dict[str, Hypothesis]:
    """The built-in hypotheses over `text`, by name."""
    inside, depth = python_scan(text)
    found = [
        Hypothesis("string", "inside a quoted string literal", inside, True),
        Hypothesis("brackets", "bracket depth: ( [ {", depth, False),
        Hypothesis("column", "position in the line", line_position(text), False),
        Hypothesis("indent", "indentation depth (columns)", indentation(text), False),
        Hypothesis("word-start", "start of a word", word_starts(text), True),
    ]
    return {h.name: h for h in found}


# --- units and their match with a hypothesis ---------------------------------------------------


@dataclass
class Group:
    """One recorded quantity of one layer: `values` (T, H), a state ("h", "c") or a gate."""

    layer: str  # "l0", "l1", ... (the keys of a layer's `recorded`)
    name: str  # the kind's name for it: "h", "c", "f", ...
    role: str  # "state" or "gate"
    values: np.ndarray

    @property
    def key(self) -> str:
        return f"{self.layer}/{self.name}"


@dataclass(frozen=True)
class UnitMatch:
    layer: str
    name: str
    unit: int
    r: float


def correlations(groups: list[Group], y) -> dict[str, np.ndarray]:
    """Pearson r of every unit of every group with the sequence y (T,): {group key: (H,)}; 0 for a
    unit or a y that is constant over the text."""
    y = np.asarray(y, np.float64)
    yc = y - y.mean()
    ny = math.sqrt(float(yc @ yc))
    out = {}
    for g in groups:
        x = np.asarray(g.values, np.float64)
        xc = x - x.mean(axis=0)
        nx = np.sqrt((xc * xc).sum(axis=0))
        with np.errstate(invalid="ignore", divide="ignore"):
            r = (xc.T @ yc) / (nx * ny)
        out[g.key] = np.where((nx > 1e-12) & (ny > 1e-12), np.clip(r, -1, 1), 0.0)
    return out


def rank_units(groups: list[Group], y) -> list[UnitMatch]:
    """Every unit of every group, best match first (by |r| with y; ties in group and unit order)."""
    found = [
        UnitMatch(g.layer, g.name, unit, float(r))
        for g, rs in zip(groups, correlations(groups, y).values())
        for unit, r in enumerate(rs)
    ]
    return sorted(found, key=lambda m: -abs(m.r))


@dataclass
class Saturation:
    """One gate of one layer: per unit the fraction of steps < low (`left`) and > high (`right`)."""

    layer: str
    gate: str
    left: np.ndarray
    right: np.ndarray


def gate_saturation(groups: list[Group], low: float = 0.1, high: float = 0.9) -> list[Saturation]:
    found = []
    for g in groups:
        if g.role == "gate":
            stats = gate_stats(g.values[:, None, :], low, high)
            found.append(Saturation(g.layer, g.name, stats.low, stats.high))
    return found


# --- reading a model over a text ---------------------------------------------------------------


@dataclass
class Explorer:
    """What `explore` found; `page_data` makes its compact form for the HTML page."""

    text: str
    known: np.ndarray  # (T,) bool: the character is in the model's vocabulary
    chars: str  # the vocabulary, id -> character
    groups: list[Group]
    top_ids: np.ndarray  # (T, k) the k likeliest next characters after text[t], likeliest first
    top_probs: np.ndarray  # (T, k) their probabilities
    loss: np.ndarray  # (T,) -ln p(text[t+1]) in nats, NaN where there is no known next character
    hypotheses: dict[str, Hypothesis]
    rankings: dict[str, list[UnitMatch]]
    saturation: list[Saturation]
    description: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def mean_loss(self) -> float:
        valid = ~np.isnan(self.loss)
        return float(self.loss[valid].mean()) if valid.any() else float("nan")


def recorded_names(kind) -> list[tuple[str, str]]:
    """(name, role) of what the explorer shows of a cell kind: its states, then its gates."""
    names = [(s, "state") for s in kind.states] + [(g, "gate") for g in kind.gates]
    return [(n, role) for n, role in names if n in kind.recorded]


def explore(model, vocab, text: str, *, top: int = 5, window: int = 1000, description: str = "") -> Explorer:
    """Run a char-LM (a models.charlm.CharLM: embed, rnn, head) over `text` as one stream and collect
    every unit's states and gates, the top-`top` predictions and the loss at every character."""
    if len(text) < 2:
        raise ValueError(f"the text holds {len(text)} character(s); the explorer needs at least 2")
    ids, known = vocab.encode(text)
    if not known.any():
        raise ValueError("none of the text's characters is in the model's vocabulary")
    top = max(1, min(int(top), vocab.size))
    layer = model.rnn
    copy = layer_copy(layer, layer.dtype)
    weight, head_w = model.embed.weight.data, model.head.weight.data
    head_b = model.head.bias.data if model.head.bias is not None else 0
    names = recorded_names(layer.kind)
    T, H = len(text), layer.hidden_size
    groups: dict[tuple[str, str], np.ndarray] = {}
    top_ids = np.zeros((T, top), np.int32)
    top_probs = np.zeros((T, top), np.float64)
    loss = np.full(T, np.nan)
    state = None
    for start in range(0, T, window):
        chunk = ids[start : start + window]
        out, state = copy.forward(weight[chunk][:, None, :], state, record=True)
        for lname, rec in copy.recorded.items():
            for name, _ in names:
                store = groups.setdefault((lname, name), np.empty((T, H), np.float32))
                store[start : start + len(chunk)] = rec[name][:, 0]
        logits = out[:, 0].astype(np.float64) @ head_w.T.astype(np.float64) + head_b
        logits -= logits.max(axis=1, keepdims=True)
        logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        best = np.argsort(-logp, axis=1, kind="stable")[:, :top]
        top_ids[start : start + len(chunk)] = best
        top_probs[start : start + len(chunk)] = np.exp(np.take_along_axis(logp, best, axis=1))
        t = np.arange(start, start + len(chunk))
        has_next = t + 1 < T
        nxt = t[has_next] + 1
        lp = -logp[np.arange(len(chunk))[has_next], ids[nxt]]
        loss[t[has_next]] = np.where(known[nxt], lp, np.nan)
    group_list = [Group(lname, name, role, groups[(lname, name)]) for lname in copy.recorded for name, role in names]
    hyps = hypotheses(text)
    rankings = {name: rank_units(group_list, h.values) for name, h in hyps.items()}
    return Explorer(
        text=text,
        known=known,
        chars=vocab.chars,
        groups=group_list,
        top_ids=top_ids,
        top_probs=top_probs,
        loss=loss,
        hypotheses=hyps,
        rankings=rankings,
        saturation=gate_saturation(group_list),
        description=description,
        meta={"kind": layer.kind.title, "layers": layer.num_layers, "hidden": H},
    )


# --- the compact form for the page ---------------------------------------------------------------


def quantise(values: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(one byte per value, lo, hi): 0 is the series' minimum, 255 its maximum."""
    lo, hi = float(values.min()), float(values.max())
    scale = (hi - lo) or 1.0
    q = np.rint((values.astype(np.float64) - lo) / scale * 255)
    return q.astype(np.uint8), lo, hi


def embedding_order(explorer: Explorer) -> list[tuple[int, int]]:
    """(group index, unit) of every unit, in the order they are embedded when the budget is short:
    by the best rank any hypothesis gives the unit (each hypothesis's best unit first), states
    before gates, then layer and unit order."""
    index = {g.key: k for k, g in enumerate(explorer.groups)}
    best = {}
    for ranking in explorer.rankings.values():
        for rank, m in enumerate(ranking):
            key = (index[f"{m.layer}/{m.name}"], m.unit)
            best[key] = min(best.get(key, rank), rank)
    units = [(k, u) for k, g in enumerate(explorer.groups) for u in range(g.values.shape[1])]
    role = {k: (0 if g.role == "state" else 1) for k, g in enumerate(explorer.groups)}
    return sorted(units, key=lambda ku: (best.get(ku, 0), role[ku[0]], ku[0], ku[1]))


def _uint16(values) -> str:
    """Integers in [0, 65535] as base64 of little-endian uint16 (2.7 bytes each in the page)."""
    return base64.b64encode(np.asarray(values).astype("<u2").tobytes()).decode("ascii")


def _rounded(values, digits: int) -> list:
    return [None if not math.isfinite(v) else round(float(v), digits) for v in values]


def page_data(explorer: Explorer, max_bytes: int = DEFAULT_MAX_BYTES, title: str = "") -> dict:
    """The JSON-ready data of the page. Activations go as one base64 string of bytes ("series",
    a unit after another, T bytes each, described by "units": group, unit, lo, hi), the top
    predictions as base64 of uint16 (ids, and probabilities in units of 1e-4); as many units
    as fit `max_bytes` with everything else, in `embedding_order`."""
    T = len(explorer.text)
    data = {
        "title": title,
        "description": explorer.description,
        "meta": explorer.meta,
        "text": explorer.text,
        "unknown": np.flatnonzero(~explorer.known).tolist(),
        "chars": explorer.chars,
        "meanLoss": round(explorer.mean_loss, 4) if math.isfinite(explorer.mean_loss) else None,
        "topIds": _uint16(explorer.top_ids),
        "topProbs": _uint16(np.rint(explorer.top_probs * PROB_SCALE)),
        "probScale": PROB_SCALE,
        "top": int(explorer.top_ids.shape[1]),
        "loss": _rounded(explorer.loss, 3),
        "groups": [
            {"layer": g.layer, "name": g.name, "role": g.role, "units": int(g.values.shape[1])} for g in explorer.groups
        ],
        "hypotheses": [
            {
                "name": h.name,
                "title": h.title,
                "binary": h.binary,
                "values": h.values.tolist(),
                "r": [_rounded(correlations([g], h.values)[g.key], 3) for g in explorer.groups],
            }
            for h in explorer.hypotheses.values()
        ],
        "saturation": [
            {"layer": s.layer, "gate": s.gate, "left": _rounded(s.left, 3), "right": _rounded(s.right, 3)}
            for s in explorer.saturation
        ],
    }
    fixed = len(json.dumps(data, separators=(",", ":")))
    per_unit = 4 * math.ceil(T / 3) + 40  # base64 bytes and the unit's description
    room = max(0, (max_bytes - fixed - 200_000) // per_unit)  # 200 kB for the page's script and style
    order = embedding_order(explorer)
    chosen = order[: max(1, room)] if room < len(order) else order
    chosen = sorted(chosen)  # group, then unit order: the page reads them in that order
    blob = np.empty((len(chosen), T), np.uint8)
    units = []
    for row, (k, u) in enumerate(chosen):
        blob[row], lo, hi = quantise(explorer.groups[k].values[:, u])
        units.append([k, u, round(lo, 4), round(hi, 4)])
    data["units"] = units
    data["totalUnits"] = len(order)
    data["series"] = base64.b64encode(blob.tobytes()).decode("ascii")
    return data
