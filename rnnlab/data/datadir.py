"""The folder that the environment variable RNNLAB_DATA_DIR names: the outside data sets under their
usual file names (tinyshakespeare.txt, sentiment_labelled_sentences/, fra-eng.zip, jsb_chorales/,
mnist/), for machines that hold them already (tests and CI set it; nothing is downloaded then).

The experiments find their data through rnnlab.data.datasets, which looks here first, then in the
user cache, and downloads what neither holds. `data_path` is the lookup in this folder alone (no
cache, no download), for scripts that name a file in it (the benchmarks): it says which option to
pass and which variable to set, instead of failing somewhere deep.
"""

from __future__ import annotations

import os
from pathlib import Path

from .text import DataError

ENVIRONMENT_VARIABLE = "RNNLAB_DATA_DIR"


def data_path(name: str, option: str, what: str) -> Path:
    """The path of `name` (a file or folder) in $RNNLAB_DATA_DIR, or a DataError naming `option`."""
    folder = os.environ.get(ENVIRONMENT_VARIABLE)
    if folder and (Path(folder) / name).exists():
        return (Path(folder) / name).resolve()
    where = f"{folder}/{name}" if folder else f"${ENVIRONMENT_VARIABLE}/{name}"
    unset = "" if folder else f" ({ENVIRONMENT_VARIABLE} is not set)"
    hint = f"pass {option} with the path of {what}, or set {ENVIRONMENT_VARIABLE} to a folder holding {name}"
    raise DataError(where, f"not found{unset}; {hint}")
