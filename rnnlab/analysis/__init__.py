"""Diagnostics no framework has: gradient flow, Jacobians, memory, stability, RNNs as circuits.

Each module reads a model (never changes it) and returns arrays and small dataclasses:

    unroll      a layer run as a loop of its engine cells, with the gradient at every step
    gradflow    ||dL_T/dh_k|| (and ||dL_T/dc_k||) against the time lag, the fitted decay factor
    jacobian    dh_t/dh_{t-1} exactly from the gates, singular values, product norms, eig(W_hh)
    gates       LSTM/GRU gate distributions and the fraction saturated per unit
    recursion   the lectures' scalar and vector recursions, fixed points, BIBO, impulse memory
    circuits    a NOR netlist compiled into a sigmoid RNN run by the engine (adders, counters)
    checks      gradcheck (finite differences) and check_stepping (step-by-step == whole)
    studies     the comparisons behind `rnnlab study` (gradient flow of five models on the
                adding problem, the recursion figures)
    diagnose    the diagnosis of a trained character model behind `rnnlab diagnose`
    plots       the pictures (matplotlib, imported only when drawing: pip install -e ".[plot]")
    explorer    a char-LM read over a text for `rnnlab view`: every unit's states and gates, top
                predictions, hypotheses and the units that match them, gate saturation
    explorer_page  the explorer as one self-contained HTML file (explorer_assets/)
"""

from .checks import StepCheck, check_stepping, gradcheck
from .gates import GateStats, gate_statistics, gate_stats
from .gradflow import GradientFlow, charlm_gradient_flow, decay_factor, gradient_flow
from .jacobian import product_norms, recurrent_eigenvalues, singular_values, spectral_radius, step_jacobians
from .recursion import (
    bibo_check,
    charlm_impulse_memory,
    example_matrices,
    impulse_memory,
    scalar_fixed_points,
    scalar_recursion,
    scalar_study,
    vector_impulse_response,
)
from .unroll import Unrolled, layer_cells, unroll

__all__ = [
    "StepCheck",
    "check_stepping",
    "gradcheck",
    "GateStats",
    "gate_statistics",
    "gate_stats",
    "GradientFlow",
    "charlm_gradient_flow",
    "decay_factor",
    "gradient_flow",
    "product_norms",
    "recurrent_eigenvalues",
    "singular_values",
    "spectral_radius",
    "step_jacobians",
    "bibo_check",
    "charlm_impulse_memory",
    "example_matrices",
    "impulse_memory",
    "scalar_fixed_points",
    "scalar_recursion",
    "scalar_study",
    "vector_impulse_response",
    "Unrolled",
    "layer_cells",
    "unroll",
]
