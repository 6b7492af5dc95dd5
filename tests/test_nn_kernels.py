"""The compiled backend (numba kernels, the `fast` extra) against the NumPy reference backend.

Every cell and option of the engine tests, in every topology they cover, runs forward and backward
once on each backend with the same weights and inputs; outputs, final states and every gradient
must agree (float32: 1e-6 of the largest magnitude; float64: 1e-12). The suite as a whole also runs
with "auto" meaning numpy (RNNLAB_COMPILED=0, read by rnnlab.nn.backend), which CI does. Without
numba these tests skip, or fail when RNNLAB_REQUIRE_COMPILED=1 (the `compiled` fixture).
"""

import math

import numpy as np
import pytest
from test_nn_recurrent import KINDS, make, state_like, states

from rnnlab.nn import LSTM, backend, use_backend

TOPOLOGIES = {
    "1 layer": dict(),
    "2 layers bidirectional": dict(num_layers=2, bidirectional=True),
    "3 layers": dict(num_layers=3),
    "batch_first bidirectional": dict(batch_first=True, bidirectional=True),
    "no bias": dict(bias=False, num_layers=2),
}
T, B, D = 6, 4, 4


def _layer_results(kind, topology, dtype, compiled, lengths=None, with_h0=False):
    m = make(kind, dtype=dtype, backend="compiled" if compiled else "numpy", **TOPOLOGIES[topology])
    rng = np.random.default_rng(7)
    shape = (B, T, D) if m.batch_first else (T, B, D)
    x = rng.standard_normal(shape).astype(dtype)
    n_cells = m.num_layers * m.num_directions
    h0 = state_like(kind, (n_cells, B, m.hidden_size), rng, dtype) if with_h0 else None
    out, hn = m.forward(x, h0, lengths=lengths)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dhn = state_like(kind, (n_cells, B, m.hidden_size), rng, dtype)
    dx, dh0 = m.backward(dout, dhn)
    return [out, *states(kind, hn), dx, *states(kind, dh0)] + [p.grad for p in m.parameters()]


def _assert_agree(reference, compiled, dtype):
    tol = 1e-6 if dtype == np.float32 else 1e-12
    assert len(reference) == len(compiled)
    for k, (a, b) in enumerate(zip(reference, compiled)):
        scale = max(float(np.abs(a).max()), 1e-30)
        assert np.abs(a - b).max() <= tol * scale, f"array {k}: {np.abs(a - b).max() / scale:.2e} relative"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("topology", list(TOPOLOGIES))
@pytest.mark.parametrize("kind", list(KINDS))
def test_compiled_layers_agree_with_the_numpy_reference(kind, topology, dtype, compiled):
    reference = _layer_results(kind, topology, dtype, compiled=False)
    compiled = _layer_results(kind, topology, dtype, compiled=True)
    _assert_agree(reference, compiled, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", list(KINDS))
def test_compiled_layers_agree_with_lengths_and_initial_state(kind, dtype, compiled):
    lengths = [6, 3, 1, 5]
    reference = _layer_results(kind, "2 layers bidirectional", dtype, False, lengths, with_h0=True)
    compiled = _layer_results(kind, "2 layers bidirectional", dtype, True, lengths, with_h0=True)
    _assert_agree(reference, compiled, dtype)


def _cell_results(kind, dtype, compiled):
    cell = make(kind, cell=True, dtype=dtype, backend="compiled" if compiled else "numpy")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((B, D)).astype(dtype)
    hx = state_like(kind, (B, cell.hidden_size), rng, dtype)
    new = cell.forward(x, hx)
    dnew = state_like(kind, (B, cell.hidden_size), rng, dtype)
    dx, dprev = cell.backward(dnew)
    return [*states(kind, new), dx, *states(kind, dprev)] + [p.grad for p in cell.parameters()]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", list(KINDS))
def test_compiled_cells_agree_with_the_numpy_reference(kind, dtype, compiled):
    _assert_agree(_cell_results(kind, dtype, False), _cell_results(kind, dtype, True), dtype)


def test_the_numpy_backend_really_runs_numpy(monkeypatch, compiled):
    """On numpy no kernel is called, on compiled it is (so the agreement tests above compare two
    different computations, not one twice); use_backend() decides for "auto" modules only."""
    from rnnlab.nn.cells import lstm_compiled  # numba: only where the `compiled` fixture let the test run

    calls = []
    real = lstm_compiled.lstm_forward
    monkeypatch.setattr(lstm_compiled, "lstm_forward", lambda *a: (calls.append(1), real(*a)))
    x = np.ones((3, 2, D), np.float32)
    make("lstm", backend="numpy").forward(x)
    assert calls == []
    make("lstm", backend="compiled").forward(x)
    assert len(calls) == 3
    auto = make("lstm")
    with use_backend("numpy"):
        auto.forward(x)
        make("lstm", backend="compiled").forward(x)  # an explicit choice is kept
    assert len(calls) == 6
    with use_backend("compiled"):
        auto.forward(x)
    assert len(calls) == 9


def test_float32_tanh_is_within_3e7_and_keeps_nan_and_infinities(compiled):
    from rnnlab.nn.cells.jit import tanh_

    x = np.linspace(-30, 30, 600_001).astype(np.float32)
    y = x.copy()
    tanh_(y)
    exact = np.tanh(x.astype(np.float64))
    assert np.abs(y - exact).max() <= 3e-7  # measured 2.57e-7 (at x = -5.21)
    small = np.abs(x) < 1e-3  # near 0 the error must be relative, not just absolute
    assert (np.abs(y[small] - exact[small]) <= 3e-7 * np.abs(exact[small]) + 1e-12).all()
    special = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0], np.float32)
    tanh_(special)
    assert math.isnan(special[0]) and special[3] == 0.0
    assert 1 - 3e-7 < special[1] <= 1 and -1 <= special[2] < -1 + 3e-7


def test_nan_in_a_weight_propagates_as_on_the_reference_path(compiled):
    """The trainer's divergence guard relies on NaN propagating (no fast-math 'no NaN' flags; the
    tanh clamp lets NaN through)."""
    for kind in KINDS:
        results = []
        for name in ("numpy", "compiled"):
            m = make(kind, backend=name)
            dict(m.named_parameters())["weight_hh_l0"].data[:, 0] = np.nan  # NaN * 0 is NaN too
            out, _ = m.forward(np.ones((3, 2, D), np.float32))
            dx, _ = m.backward(np.ones_like(out))
            results.append((np.isnan(out), np.isnan(dx)))
        (out_ref, dx_ref), (out_fast, dx_fast) = results
        assert out_ref.all() and (out_fast == out_ref).all() and (dx_fast == dx_ref).all(), kind


def test_compiled_without_numba_says_how_to_install_and_auto_falls_back(monkeypatch):
    monkeypatch.setattr(backend, "numba_available", lambda: False)
    with pytest.raises(ImportError, match=r'pip install -e "\.\[fast\]"'):
        LSTM(2, 3, backend="compiled")
    with pytest.raises(ImportError, match=r'pip install -e "\.\[fast\]"'):
        with use_backend("compiled"):
            pass
    assert LSTM(2, 3).running_backend == "numpy"


def test_a_bad_backend_is_a_clear_error_and_the_repr_says_what_runs():
    with pytest.raises(ValueError, match="backend must be one of 'auto', 'numpy', 'compiled'"):
        LSTM(2, 3, backend="cuda")
    with use_backend("numpy"):
        assert "backend='auto' (runs numpy)" in repr(LSTM(2, 3))
    assert "backend='numpy' (runs numpy)" in repr(LSTM(2, 3, backend="numpy"))
