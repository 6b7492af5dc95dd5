"""The engine: recurrent layers and cells in NumPy with hand-derived backpropagation through time,
the modules and losses around them, optimisers, schedules, clipping and initialisers."""

from . import cells
from .backend import use_backend
from .cells import CellKind
from .clip import clip_grad_norm_, clip_grad_value_
from .conv import Conv2d, Flatten, MaxPool2d
from .core import Module, Param
from .ctc import ctc_beam_decode, ctc_greedy_decode, ctc_loss
from .gradcheck import gradcheck
from .layers import Dropout, Embedding, LastStep, Linear, MeanPool, Sequential
from .losses import bce_with_logits, cross_entropy, mse, nats_to_bits
from .optim import SGD, Adagrad, Adam, AdamW, RMSprop
from .recurrent import (
    GRU,
    LSTM,
    RNN,
    GRUCell,
    LSTMCell,
    RecurrentCell,
    RecurrentLayer,
    RNNCell,
    recurrent_cell,
    recurrent_layer,
)
from .schedules import CosineAnnealingLR, ExponentialLR, LinearLR, StepLR

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "GRUCell",
    "LSTMCell",
    "RNNCell",
    "RecurrentCell",
    "RecurrentLayer",
    "recurrent_layer",
    "recurrent_cell",
    "CellKind",
    "cells",
    "use_backend",
    "Module",
    "Param",
    "Linear",
    "Embedding",
    "Dropout",
    "Sequential",
    "LastStep",
    "MeanPool",
    "Conv2d",
    "MaxPool2d",
    "Flatten",
    "cross_entropy",
    "mse",
    "bce_with_logits",
    "nats_to_bits",
    "ctc_loss",
    "ctc_greedy_decode",
    "ctc_beam_decode",
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "Adagrad",
    "StepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "LinearLR",
    "clip_grad_norm_",
    "clip_grad_value_",
    "gradcheck",
]
