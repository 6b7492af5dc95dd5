"""The engine: recurrent layers and cells in NumPy with hand-derived backpropagation through time."""

from .core import Module, Param
from .recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RecurrentCell, RecurrentLayer, RNNCell

__all__ = ["GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNCell", "Module", "Param",
           "RecurrentCell", "RecurrentLayer"]
