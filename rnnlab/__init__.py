"""rnnlab: a workbench for recurrent neural networks, with an engine in NumPy."""

__version__ = "0.1.0"
