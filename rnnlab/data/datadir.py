"""Where the data sets that rnnlab does not ship are found: the folder that the environment
variable RNNLAB_DATA_DIR names, holding them under their usual file names (tinyshakespeare.txt,
sentiment_labelled_sentences/, fra-eng.zip, jsb_chorales/, mnist/).

An experiment that needs one takes its path from its option (--data, --tsv) or looks here, and
otherwise says which option to pass and which variable to set, instead of failing somewhere deep.
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
