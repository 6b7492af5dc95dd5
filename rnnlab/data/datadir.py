"""Where the data sets beside the checkout live: `../shared/data` (see its SOURCES.md).

They may not be copied into the project, so an experiment that needs one looks for the folder
next to the current directory and next to the checkout, and otherwise says which option to
pass (the experiment's --data, --tsv or --csv) instead of failing somewhere deep.
"""

from __future__ import annotations

from pathlib import Path

from .text import DataError

_CHECKOUT = Path(__file__).resolve().parents[2]


def shared_data(name: str, option: str, what: str) -> Path:
    """The path of `name` (a file or folder) in ../shared/data, or a DataError naming `option`."""
    candidates = [Path.cwd() / ".." / "shared" / "data" / name, _CHECKOUT.parent / "shared" / "data" / name]
    for path in candidates:
        if path.exists():
            return path.resolve()
    raise DataError(
        f"../shared/data/{name}",
        f"not found (looked beside the current directory and the checkout); pass {option} with the path of {what}",
    )
