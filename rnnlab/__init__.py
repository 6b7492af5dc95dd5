"""rnnlab: a workbench for recurrent neural networks, with an engine in NumPy."""

__version__ = "0.2.0"


def __getattr__(name: str):
    """rnnlab.gradcheck and rnnlab.check_stepping, imported on first use (keeps `import rnnlab` cheap)."""
    if name in ("gradcheck", "check_stepping"):
        from .analysis import checks

        return getattr(checks, name)
    raise AttributeError(f"module 'rnnlab' has no attribute {name!r}")
