"""Sizes checked before anything is allocated: a model, a batch or a file that cannot fit in this
machine's memory is refused with both numbers in the message, instead of a MemoryError traceback
minutes later (or the kernel's out-of-memory killer, which ends the process without a word).

    require_memory(model_bytes(parameters=p, activations=a), "a 2x10000000 LSTM", "--hidden")

The estimates are deliberately simple (weights, gradients and two Adam moments; the activations a
step keeps for backpropagation through time; a fixed overhead per layer for the Python objects):
they decide refusals that are off by orders of magnitude, not close calls.
"""

from __future__ import annotations

import os

from ..nn import cells

LAYER_OVERHEAD = 64 * 1024  # bytes of Python objects and buffers per recurrent layer and direction


class ResourceError(ValueError):
    """Something asked for more memory than the machine has; the message names what and how much."""


def available_memory() -> int | None:
    """Bytes this process could still allocate: Linux's MemAvailable, else the free physical pages;
    None when the platform says neither."""
    try:
        with open("/proc/meminfo", "rb") as f:
            for line in f:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def gib(nbytes: float) -> str:
    """A size for a person: 512 MiB, 19.1 GiB, 16.3 PiB."""
    for unit, scale in (("EiB", 2**60), ("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30)):
        if nbytes >= scale:
            return f"{nbytes / scale:,.1f} {unit}"
    return f"{nbytes / 2**20:,.0f} MiB"


def require_memory(nbytes: int, what: str, option: str | None = None) -> None:
    """Raise ResourceError when `what` (needing about `nbytes`) cannot fit in available memory;
    `option` names the setting to lower (e.g. "--hidden")."""
    free = available_memory()
    if free is None or nbytes <= free:
        return
    lower = f"; lower {option}" if option else ""
    raise ResourceError(f"{what} needs about {gib(nbytes)}, more than the {gib(free)} of memory available{lower}")


def recurrent_parameters(
    model: str, input_size: int, hidden: int, layers: int, bidirectional: bool = False, **options
) -> int:
    """How many numbers a stack of `layers` recurrent layers of cell kind `model` holds (with
    biases), computed from the kind's parameter shapes without allocating any."""
    kind = cells.get(model)
    options = kind.check_options(options)
    directions = 2 if bidirectional else 1

    def layer(size: int) -> int:
        return directions * sum(_product(s) for s in kind.parameter_shapes(size, hidden, True, options).values())

    # every layer after the first reads the one below it: the same size each (no loop over layers)
    return layer(input_size) + (layers - 1) * layer(directions * hidden)


def training_bytes(parameters: int, activations: int = 0, layers: int = 1, itemsize: int = 4) -> int:
    """Memory of training a model: weights, gradients and two optimiser moments per parameter,
    the activations one step keeps, and the per-layer overhead."""
    return (4 * parameters + activations) * itemsize + layers * LAYER_OVERHEAD


def _product(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n
