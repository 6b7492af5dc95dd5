"""The generation stepper (nn/stepper.py): stepping equals forward, frozen weights, bad input."""

import numpy as np
import pytest
from conftest import require
from test_nn_recurrent import KINDS, D, make, states

from rnnlab.nn import backend, use_backend

H = 6


@pytest.fixture(params=["compiled", "numpy"])
def path(request):
    """Both backends for every "auto" module made in the test; compiled where numba is installed
    (required when RNNLAB_REQUIRE_COMPILED=1)."""
    if request.param == "compiled" and not backend.numba_available():
        require("numba is not installed", "RNNLAB_REQUIRE_COMPILED", 'pip install -e ".[fast]"')
    with use_backend(request.param):
        yield request.param


def _tol(dtype):
    return 2e-6 if dtype == np.float32 else 1e-12


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows", [1, 3])
@pytest.mark.parametrize("kind", list(KINDS))
def test_stepping_a_layer_equals_its_forward(kind, rows, dtype, path):
    m = make(kind, num_layers=2, dtype=dtype)
    for p in m.parameters():  # biases and peepholes away from their zero/small defaults
        p.data += dtype(0.1)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, rows, D)).astype(dtype)
    out, final = m.forward(x)
    stepper, state, outs = m.stepper(), None, []
    assert stepper.backend == ("compiled (fused)" if path == "compiled" else "forward")
    for t in range(5):
        o, state = stepper.step(x[t], state)
        outs.append(o)
    assert np.abs(np.stack(outs) - out).max() <= _tol(dtype) * max(1, np.abs(out).max())
    for a, b in zip(states(kind, state), states(kind, final)):
        assert a.shape == b.shape and np.abs(a - b).max() <= _tol(dtype) * max(1, np.abs(b).max())


@pytest.mark.parametrize("kind", list(KINDS))
def test_stepping_a_cell_unbatched_equals_its_forward(kind, path):
    cell = make(kind, cell=True)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, D)).astype(np.float32)
    hx, state = None, None
    stepper = cell.stepper()
    for t in range(4):
        hx = cell.forward(x[t], hx)
        h, state = stepper.step(x[t], state)
        for a, b in zip(states(kind, state), states(kind, hx)):
            assert a.shape == (H,) and np.abs(a - b).max() <= 2e-6
        assert np.array_equal(h, states(kind, state)[0])


def test_the_stepper_is_frozen_and_never_changes_the_state_it_is_given(path):
    m = make("lstm", num_layers=2)
    stepper = m.stepper()
    x = np.ones((1, D), np.float32)
    _, s1 = stepper.step(x)
    kept = tuple(s.copy() for s in s1)
    before, _ = stepper.step(x, s1)
    assert all(np.array_equal(a, b) for a, b in zip(s1, kept))
    for p in m.parameters():  # training goes on: the stepper keeps the weights it was made with
        p.data *= 2
    after, _ = stepper.step(x, s1)
    assert np.array_equal(before, after)
    fresh, _ = m.stepper().step(x, s1)
    assert not np.allclose(fresh, after)


def test_stepper_bad_input_names_the_argument(path):
    stepper = make("lstm", num_layers=2).stepper()
    with pytest.raises(ValueError, match=r"x has shape \(1, 5\), expected \(B, input_size=4\)"):
        stepper.step(np.ones((1, 5), np.float32))
    with pytest.raises(TypeError, match="tuple"):
        stepper.step(np.ones((1, D), np.float32), np.zeros((2, 1, H), np.float32))
    with pytest.raises(ValueError, match=r"h0 has shape \(2, 1, 7\), expected \(2, 1, 6\)"):
        stepper.step(np.ones((1, D), np.float32), (np.zeros((2, 1, H + 1), np.float32),) * 2)
    with pytest.raises(ValueError, match="bidirectional"):
        make("gru-after", bidirectional=True).stepper()
