"""Which implementation runs a cell's steps: the NumPy reference or the compiled kernels.

Every recurrent layer and cell takes `backend=`, as Keras' recurrent layers take `use_cudnn`:

    "numpy"     the reference: each cell's equations in NumPy (cells/<kind>.py)
    "compiled"  the same equations as numba kernels, one call per step (cells/<kind>_compiled.py);
                needs numba (`pip install -e ".[fast]"`) and a cell kind that has kernels
    "auto"      (the default) compiled where it can run, else numpy; `use_backend()` and the
                environment variable below change what "auto" picks

    with use_backend("numpy"):      # every "auto" module inside the block, e.g. a whole model
        model.forward(x)

The environment variable RNNLAB_COMPILED=0 makes "auto" mean numpy for the whole process (CI runs
the test suite once that way). It is read here, once, at import: the engine's one switch from the
environment. A module given "numpy" or "compiled" explicitly keeps its choice everywhere.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

BACKENDS = ("auto", "numpy", "compiled")
ENVIRONMENT_SWITCH = "RNNLAB_COMPILED"
INSTALL_HINT = 'pip install -e ".[fast]"'

# What "auto" means when no use_backend() block says otherwise.
_PROCESS_DEFAULT = "numpy" if os.environ.get(ENVIRONMENT_SWITCH) == "0" else "auto"
_auto_means: ContextVar[str] = ContextVar("rnnlab_auto_backend", default=_PROCESS_DEFAULT)


def numba_available() -> bool:
    """True when numba is installed (the `fast` extra); it is imported only when a kernel runs."""
    return importlib.util.find_spec("numba") is not None


def check_backend(name: str) -> str:
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(repr(b) for b in BACKENDS)}, got {name!r}")
    if name == "compiled" and not numba_available():
        raise ImportError(f"backend='compiled' needs numba, which is not installed: {INSTALL_HINT}")
    return name


def resolve(requested: str, has_kernels: bool) -> str:
    """The backend that runs ("numpy" or "compiled") for a module that asked for `requested`,
    of a cell kind that has compiled kernels or not."""
    if requested == "auto":
        requested = _auto_means.get()
    if requested == "compiled" and has_kernels:
        return "compiled"
    if requested == "auto" and has_kernels and numba_available():
        return "compiled"
    return "numpy"


@contextmanager
def use_backend(name: str) -> Iterator[None]:
    """Within the block, modules built with backend="auto" run on `name` ("numpy", "compiled" or
    "auto"); cell kinds without compiled kernels run on numpy whatever the block says."""
    token = _auto_means.set(check_backend(name))
    try:
        yield
    finally:
        _auto_means.reset(token)


def describe() -> str:
    """One line for `rnnlab info`: what backend="auto" runs now, and why."""
    auto = _auto_means.get()
    if auto == "numpy":
        why = f"{ENVIRONMENT_SWITCH}=0" if _PROCESS_DEFAULT == "numpy" else "use_backend('numpy')"
        return f"backend 'auto' runs the NumPy reference ({why})"
    if numba_available():
        return (
            f"backend 'auto' runs the compiled kernels (numba {importlib.metadata.version('numba')}); "
            f"{ENVIRONMENT_SWITCH}=0 turns them off"
        )
    return f"backend 'auto' runs the NumPy reference ({INSTALL_HINT} adds compiled kernels)"
