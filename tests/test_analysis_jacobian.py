"""Exact step Jacobians against finite differences, products and eigenvalues (rnnlab.analysis.jacobian)."""

import numpy as np
import pytest

from rnnlab.analysis import product_norms, recurrent_eigenvalues, singular_values, step_jacobians
from rnnlab.analysis.unroll import layer_cells
from rnnlab.nn import GRU, LSTM, RNN, CellKind, RecurrentLayer

CASES = [
    (RNN, {}),
    (RNN, {"nonlinearity": "relu"}),
    (LSTM, {}),
    (LSTM, {"peephole": True}),
    (GRU, {}),
    (GRU, {"reset": "before"}),
]


def numeric_jacobian(cell, x_t, state, H, full, eps=1e-6):
    """d(new state)/d(state) of one engine cell step by central differences, (B, out, in)."""
    lstm = isinstance(state, tuple)
    base = np.concatenate(state, -1) if lstm else state
    n_in = base.shape[-1] if (full or not lstm) else H
    n_out = 2 * H if full else H
    J = np.zeros((base.shape[0], n_out, n_in))
    for j in range(n_in):
        values = []
        for step in (eps, -eps):
            v = base.copy()
            v[:, j] += step
            new = cell.forward(x_t, (v[:, :H], v[:, H:]) if lstm else v)
            values.append(np.concatenate(new, -1)[:, :n_out] if lstm else new)
        J[:, :, j] = (values[0] - values[1]) / (2 * eps)
    return J


@pytest.mark.parametrize("cls,options", CASES)
def test_step_jacobians_match_finite_differences(cls, options):
    rng = np.random.default_rng(0)
    T, B, H = 4, 2, 3
    layer = cls(2, H, 2, bidirectional=True, dtype=np.float64, rng=rng, **options)
    for p in layer.parameters():  # larger weights than the default, so that no term is negligible
        p.data[...] = rng.standard_normal(p.data.shape) * 0.8
    lstm = cls is LSTM
    x = rng.standard_normal((T, B, 2))
    hx = tuple(rng.standard_normal((4, B, H)) for _ in range(2)) if lstm else rng.standard_normal((4, B, H))
    layer.forward(x, hx, record=True)
    rec, cells = layer.recorded, layer_cells(layer)
    for k in range(2):
        inp = x if k == 0 else np.concatenate([rec["l0"]["h"], rec["l0_reverse"]["h"]], -1)
        for d in range(2):
            name, index = f"l{k}" + ("_reverse" if d else ""), 2 * k + d
            for full in (False, True) if lstm else (False,):
                J = step_jacobians(layer, x, hx, layer_index=k, direction=d, full=full)
                assert J.shape == (T, B) + ((2 * H, 2 * H) if full else (H, H))
                for t in range(T):
                    prev = t + 1 if d else t - 1
                    if 0 <= prev < T:
                        state = (rec[name]["h"][prev], rec[name]["c"][prev]) if lstm else rec[name]["h"][prev]
                    else:
                        state = (hx[0][index], hx[1][index]) if lstm else hx[index]
                    expected = numeric_jacobian(cells[k][d], inp[t], state, H, full)
                    np.testing.assert_allclose(J[t], expected, atol=1e-8)


@pytest.mark.parametrize("cls,options", CASES)
def test_each_kinds_formula_equals_the_exact_jacobian_from_its_own_backward(cls, options):
    """The closed forms in cells/<kind>.py against CellKind.step_jacobian's default, which reads
    J row by row from the cell's backward: two independent derivations of one matrix."""
    rng = np.random.default_rng(5)
    layer = cls(2, 3, 2, bidirectional=True, dtype=np.float64, rng=rng, **options)
    for p in layer.parameters():
        p.data[...] = rng.standard_normal(p.data.shape) * 0.8
    from_backward = type("FromBackward", (type(layer.kind),), {"step_jacobian": CellKind.step_jacobian})()
    twin = RecurrentLayer(2, 3, 2, bidirectional=True, cell=from_backward, dtype=np.float64, **options)
    twin.load_state_dict(layer.state_dict())
    x = rng.standard_normal((5, 2, 2))
    for k in range(2):
        for d in range(2):
            for full in (False, True) if len(layer.kind.states) > 1 else (False,):
                formula = step_jacobians(layer, x, layer_index=k, direction=d, full=full)
                exact = step_jacobians(twin, x, layer_index=k, direction=d, full=full)
                np.testing.assert_allclose(formula, exact, atol=1e-12, rtol=0)


def test_elman_jacobian_in_the_linear_regime_is_w_hh():
    rng = np.random.default_rng(1)
    rnn = RNN(1, 3, nonlinearity="relu", dtype=np.float64, rng=rng)
    W = rng.uniform(0, 0.5, (3, 3))
    rnn.load_state_dict(
        {"weight_ih_l0": np.ones((3, 1)), "weight_hh_l0": W, "bias_ih_l0": np.ones(3), "bias_hh_l0": np.zeros(3)}
    )
    J = step_jacobians(rnn, rng.uniform(0, 1, (5, 2, 1)))
    np.testing.assert_array_equal(J, np.broadcast_to(W, J.shape))


def test_product_norms_are_the_norms_of_the_products():
    rng = np.random.default_rng(2)
    J = rng.standard_normal((6, 2, 3, 3))
    norms = product_norms(J)
    for k in range(6):
        M = np.eye(3)
        for t in range(5, k, -1):  # dh_5/dh_k = J_5 J_4 ... J_{k+1}
            M = M @ J[t, 1]
        assert norms[k, 1] == pytest.approx(np.linalg.norm(M, 2), rel=1e-12)
    reverse = product_norms(J, reverse=True)
    assert reverse[0, 0] == 1 and reverse[1, 0] == pytest.approx(np.linalg.norm(J[0, 0], 2))
    np.testing.assert_allclose(singular_values(J)[:, :, 0], np.linalg.norm(J, 2, axis=(2, 3)))
    with pytest.raises(ValueError, match="jacobians"):
        product_norms(J[0])


def test_eigenvalues_per_gate_block():
    rng = np.random.default_rng(3)
    lstm = LSTM(2, 3, 2, dtype=np.float64, rng=rng)
    eig = recurrent_eigenvalues(lstm)
    assert set(eig) == {"l0", "l1"} and set(eig["l0"]) == {"i", "f", "g", "o"}
    W = lstm.state_dict()["weight_hh_l1"][3:6]  # the forget block of layer 1
    np.testing.assert_allclose(np.sort_complex(eig["l1"]["f"]), np.sort_complex(np.linalg.eigvals(W)))
    rnn = RNN(1, 2, dtype=np.float64)
    rnn.load_state_dict(rnn.state_dict() | {"weight_hh_l0": np.array([[0.0, -2.0], [2.0, 0.0]])})
    np.testing.assert_allclose(np.sort_complex(recurrent_eigenvalues(rnn)["l0"]["hh"]), [-2j, 2j], atol=1e-12)


def test_bad_arguments_are_named():
    rnn = RNN(2, 3, dtype=np.float64)
    with pytest.raises(ValueError, match="layer_index"):
        step_jacobians(rnn, np.zeros((3, 1, 2)), layer_index=1)
    with pytest.raises(ValueError, match="full=True"):
        step_jacobians(rnn, np.zeros((3, 1, 2)), full=True)
    with pytest.raises(ValueError, match="input_size=2"):
        step_jacobians(rnn, np.zeros((3, 1, 5)))
    with pytest.raises(TypeError, match="recurrent layer"):
        recurrent_eigenvalues(object())
