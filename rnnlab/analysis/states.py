"""A character-level language model's states over a text, and the files LSTMVis reads.

LSTMVis (Strobelt, Gehrmann, Pfister, Rush: "LSTMVis: a tool for visual analysis of hidden state
dynamics in recurrent neural networks", github.com/HendrikStrobelt/LSTMVis) shows the hidden
states of a trained model over a text. It reads a project folder; `export_lstmvis` writes one:

    lstm.yml       the project: name, description, which file holds what (below)
    states.hdf5    one float32 matrix (N, H) per layer and state: row t is the state after the
                   model has read token t (the whole text as one stream, the state carried)
    train.hdf5     `word_ids`: the N token ids, int32
    train.dict     the dictionary, one "token id" per line (a space between them)

What is assumed of LSTMVis's format (from its README's "Data format" section and its example
lstm.yml; LSTMVis itself is not installed to check against):

- lstm.yml's keys: `name`, `description`, `files` (a short name -> file: `states`, `train`,
  `words`), `word_sequence` (`file: train`, `path: word_ids`, `dict_file: words`) and `states`
  (`file: states`, `types`: a list of `{type, layer, path}`, `layer` counted from 1, `path` a
  dataset of states.hdf5). HDF5 files must end in .h5 or .hdf5, dictionaries in .dict.
- `type: state` is a layer's memory and `type: output` what it passes on. For a cell whose state
  is a pair (h, c), such as the LSTM, c is written as `state` (datasets c1, c2, ...) and h as
  `output` (h1, h2, ...); for a cell whose state is h alone (GRU, Elman RNN) h is the `state`.
- the dictionary's lines are split on whitespace, so a token holds none: a space is written
  `<space>`, a newline `<nl>`, a tab `<tab>`, a carriage return `<cr>`, any other whitespace or
  control character `<U+XXXX>`; every other character stands for itself (UTF-8).
- ids are rnnlab's vocabulary ids + 1 (LSTMVis's example data were made by Lua scripts, whose
  ids start at 1), so id 0 is never used; the dictionary maps every id it lists.

Characters of the text outside the model's vocabulary cannot be read by it: they are left out
of the sequence (and counted). The states are recorded by the model's own forward pass
(`forward(record=True)`, in the model's dtype, float32 by default) on a copy of its recurrent
layer, in windows of `window` characters with the state carried between them; the model itself
is not changed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .unroll import check_layer, layer_copy

SPECIAL = {" ": "<space>", "\n": "<nl>", "\t": "<tab>", "\r": "<cr>"}
FILES = {"states": "states.hdf5", "train": "train.hdf5", "words": "train.dict"}


def require_h5py():
    """h5py, or an ImportError that says how to install it."""
    try:
        import h5py
    except ImportError:
        raise ImportError('the LSTMVis export writes HDF5 files and needs h5py: pip install -e ".[states]"') from None
    return h5py


def token_name(ch: str) -> str:
    """How the dictionary writes one character: itself, or a name without whitespace."""
    if ch in SPECIAL:
        return SPECIAL[ch]
    if ch.isspace() or not ch.isprintable():
        return f"<U+{ord(ch):04X}>"
    return ch


def states_bytes(model, characters: int) -> int:
    """The bytes record_states takes for `characters` characters (each state of each layer)."""
    rnn = model.rnn
    return characters * rnn.hidden_size * rnn.num_layers * len(rnn.kind.states) * np.dtype(rnn.dtype).itemsize


def record_states(model, ids, window: int = 1000) -> dict[str, np.ndarray]:
    """The states of `model` (a CharLM) after each of `ids` (N,), read as one stream:
    {"h1": (N, H), "c1": (N, H), ...} (layers counted from 1; the kind's states, h first), in the
    model's dtype. The recurrent layer runs as a copy (the model keeps its tape and records)."""
    ids = np.asarray(ids)
    if ids.ndim != 1 or ids.dtype.kind not in "iu" or ids.size == 0:
        raise ValueError(f"ids must be a non-empty vector of token ids, got shape {ids.shape} of {ids.dtype}")
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    rnn = check_layer(model.rnn)
    copy = layer_copy(rnn, rnn.dtype)
    names = rnn.kind.states
    N, H = ids.size, rnn.hidden_size
    out = {f"{s}{k + 1}": np.empty((N, H), rnn.dtype) for k in range(rnn.num_layers) for s in names}
    table = model.embed.weight.data
    state = None
    for start in range(0, N, window):
        x = table[ids[start : start + window]][:, None, :]  # (W, 1, E): the embedding's lookup
        _, state = copy.forward(x, state, record=True)
        for k in range(rnn.num_layers):
            for s in names:
                out[f"{s}{k + 1}"][start : start + len(x)] = copy.recorded[f"l{k}"][s][:, 0, :]
    return out


@dataclass
class Export:
    """What export_lstmvis wrote: the folder, its files, the tokens and the characters left out."""

    folder: Path
    files: list[Path]
    tokens: int
    unknown: int
    datasets: dict[str, tuple[str, int]]  # dataset -> (LSTMVis type, layer)


def state_types(names, layers: int) -> dict[str, tuple[str, int]]:
    """{dataset: (LSTMVis type, layer)} for a kind's states: with (h, c), h is the output and c
    the state; with h alone, h is the state."""
    found = {}
    for k in range(1, layers + 1):
        for s in names:
            found[f"{s}{k}"] = ("output" if len(names) > 1 and s == names[0] else "state", k)
    return found


def lstm_yml(name: str, description: str, datasets: dict[str, tuple[str, int]]) -> str:
    """LSTMVis's lstm.yml (strings written as JSON, which YAML reads as quoted scalars)."""
    lines = [
        f"name: {json.dumps(name)}",
        f"description: {json.dumps(description)}",
        "",
        "files:",
        *(f"  {key}: {file}" for key, file in FILES.items()),
        "",
        "word_sequence:",
        "  file: train",
        "  path: word_ids",
        "  dict_file: words",
        "",
        "states:",
        "  file: states",
        "  types: [",
        ",\n".join(f"    {{type: {kind}, layer: {layer}, path: {path}}}" for path, (kind, layer) in datasets.items()),
        "  ]",
    ]
    return "\n".join(lines) + "\n"


def export_lstmvis(
    model, vocab, text: str, folder, *, name: str = "rnnlab", description: str = "", window: int = 1000
) -> Export:
    """Write the LSTMVis project of `model` (a CharLM) and its `vocab` on `text` into `folder`
    (created if missing; files of the same names are replaced). See the module docstring."""
    h5py = require_h5py()
    ids, known = vocab.encode(text)
    ids = ids[known]
    if ids.size == 0:
        raise ValueError("none of the text's characters is in the model's vocabulary: nothing to export")
    rnn = model.rnn
    names = rnn.kind.states
    states = record_states(model, ids, window)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    datasets = state_types(names, rnn.num_layers)
    with h5py.File(folder / FILES["states"], "w") as f:
        for dataset in datasets:
            f.create_dataset(dataset, data=states[dataset])
    with h5py.File(folder / FILES["train"], "w") as f:
        f.create_dataset("word_ids", data=(ids + 1).astype(np.int32))
    lines = [f"{token_name(ch)} {i + 1}\n" for i, ch in enumerate(vocab.chars)]
    (folder / FILES["words"]).write_text("".join(lines), encoding="utf-8")
    (folder / "lstm.yml").write_text(lstm_yml(name, description, datasets), encoding="utf-8")
    files = [folder / "lstm.yml", *(folder / f for f in FILES.values())]
    return Export(folder, files, int(ids.size), int((~known).sum()), datasets)
