"""The recursion studies: scalar fixed points, vector impulse responses, BIBO, impulse memory."""

import numpy as np
import pytest

from rnnlab.analysis import (
    bibo_check,
    example_matrices,
    impulse_memory,
    scalar_fixed_points,
    scalar_recursion,
    vector_impulse_response,
)
from rnnlab.analysis.recursion import (
    characteristic_roots,
    charlm_impulse_memory,
    closed_form_response,
    companion_matrix,
    modes,
    multitap_recursion,
    rotation_matrix,
    scalar_study,
)
from rnnlab.models.charlm import CharLM, CharLMConfig


def test_tanh_with_w_above_one_has_two_attracting_fixed_points_and_a_repelling_origin():
    points = scalar_fixed_points("tanh", 2.0)
    assert len(points) == 3
    low, origin, high = points
    assert origin.value == 0 and not origin.stable and origin.slope == pytest.approx(2.0)
    assert high.value == pytest.approx(np.tanh(2 * high.value), abs=1e-12) and high.stable
    assert low.value == pytest.approx(-high.value) and low.stable
    # the sign of the start is remembered for ever
    assert scalar_recursion("tanh", 2.0, 0.01, 60)[-1] == pytest.approx(high.value)
    assert scalar_recursion("tanh", 2.0, -0.01, 60)[-1] == pytest.approx(low.value)


def test_tanh_with_w_below_one_forgets_the_start():
    points = scalar_fixed_points("tanh", 0.8)
    assert len(points) == 1 and points[0].value == 0 and points[0].stable
    assert abs(scalar_recursion("tanh", 0.8, 0.9, 200)[-1]) < 1e-15


def test_sigmoid_fixed_point_with_input_and_its_bistable_regime():
    (p,) = scalar_fixed_points("sigmoid", 1.0, b=0.5)
    assert p.value == pytest.approx(1 / (1 + np.exp(-(p.value + 0.5))), abs=1e-12) and p.stable
    assert scalar_recursion("sigmoid", 1.0, 0.0, 100, c=0.5, x=np.ones(100))[-1] == pytest.approx(p.value)
    assert [q.stable for q in scalar_fixed_points("sigmoid", 6.0, b=-3.0)] == [True, False, True]


def test_linear_and_relu_recursions_are_powers_of_w():
    h = scalar_recursion("linear", -0.9, 2.0, 10)
    np.testing.assert_allclose(h, 2.0 * (-0.9) ** np.arange(11))
    (p,) = scalar_fixed_points("linear", 0.5, b=1.0)
    assert p.value == pytest.approx(2.0) and p.stable
    np.testing.assert_allclose(scalar_recursion("relu", 1.5, 1.0, 5), 1.5 ** np.arange(6))
    assert (scalar_recursion("relu", 1.5, -1.0, 5)[1:] == 0).all()  # a negative start is cut to 0
    study = scalar_study(steps=5)
    assert set(study) == {"linear", "sigmoid", "tanh", "relu"} and (0.5, -0.5) in study["tanh"]
    with pytest.raises(ValueError, match="activation"):
        scalar_recursion("softplus", 1.0, 0.0, 3)


def test_vector_impulse_response_follows_the_eigenvalues():
    W = rotation_matrix(0.9, np.pi / 6)  # eigenvalues 0.9 e^{±iπ/6}
    h = vector_impulse_response(W, np.array([1.0, 0.0]), 24)
    np.testing.assert_allclose(np.linalg.norm(h, axis=1), 0.9 ** np.arange(25))
    angles = np.unwrap(np.arctan2(h[:, 1], h[:, 0]))
    np.testing.assert_allclose(np.diff(angles), np.pi / 6)  # it turns by θ per step: an oscillation
    S = example_matrices()["symmetric (0.95, -0.8)"]
    values, vectors = np.linalg.eigh(S)
    response = vector_impulse_response(S, vectors[:, 0] + vectors[:, 1], 10)
    along = response @ vectors  # each eigen-direction only scales by its (real) eigenvalue
    np.testing.assert_allclose(along, values[None, :] ** np.arange(11)[:, None], atol=1e-12)


def test_bibo_linear_needs_spectral_radius_below_one_and_tanh_is_always_bounded():
    stable = bibo_check(rotation_matrix(0.9, 0.5), "linear", steps=300)
    assert stable.bounded and stable.max_norm <= stable.bound
    unstable = bibo_check(rotation_matrix(1.05, 0.5), "linear", steps=300)
    assert not unstable.bounded and unstable.norms[-1] > 100 * unstable.norms[20]
    squashed = bibo_check(rotation_matrix(5.0, 0.5), "tanh", steps=100)
    assert squashed.bounded and squashed.max_norm <= np.sqrt(2)


def test_impulse_memory_of_a_linear_recurrence_is_a_to_the_t():
    a, T = 0.5, 20

    def forward(x):  # h_t = a h_{t-1} + x_t, read out as is
        h, out = np.zeros(x.shape[1:]), []
        for t in range(T):
            h = a * h + x[t]
            out.append(h)
        return np.stack(out)

    x = np.random.default_rng(0).standard_normal((T, 3, 1))
    kicked = x.copy()
    kicked[0] += 1.0
    memory = impulse_memory(forward, x, kicked, threshold=0.01)
    np.testing.assert_allclose(memory.effect, a ** np.arange(T))
    assert memory.steps == 6  # 0.5**6 = 0.0156 > 0.01 > 0.5**7
    later = x.copy()
    later[3] += 1
    with pytest.raises(ValueError, match="t = 0"):
        impulse_memory(forward, x, later)


def test_charlm_memory_is_measured_without_touching_the_model():
    model = CharLM(CharLMConfig(vocab_size=5, hidden=4, layers=1, embedding=3), np.random.default_rng(1))
    before = model.state_dict()
    memory = charlm_impulse_memory(model, np.random.default_rng(2).integers(0, 5, (12, 2)))
    assert memory.effect.shape == (12,) and memory.effect[0] > 0 and 0 <= memory.steps < 12
    assert all(np.array_equal(v, before[k]) for k, v in model.state_dict().items())


# --- multi-tap recursions (issue 18, study ii) --------------------------------------------------------


@pytest.mark.parametrize("weights", [[0.8], [-0.8], [1.2, -0.72], [1.6, -1.0], [0.5, 0.45], [0.0, 0.0, 0.95]])
def test_a_multitap_response_is_the_sum_of_its_modes(weights):
    history = np.linspace(1.0, -0.5, len(weights))
    h = multitap_recursion(weights, 40, x=np.zeros(40), history=history)
    np.testing.assert_allclose(h, closed_form_response(weights, 40, history), atol=1e-9)
    eig = np.linalg.eigvals(companion_matrix(weights))
    np.testing.assert_allclose(np.sort_complex(eig), np.sort_complex(characteristic_roots(weights)), atol=1e-12)


def test_the_impulse_response_starts_with_the_input_weight_and_follows_the_taps():
    h = multitap_recursion([0.5, 0.25], 4, c=2.0)
    np.testing.assert_allclose(h, [0.0, 2.0, 1.0, 1.0, 0.75])  # 2; 0.5*2; 0.5*1 + 0.25*2; 0.5*1 + 0.25*1


def test_complex_roots_oscillate_with_their_period_and_one_tap_never_does():
    (a, b) = modes([1.2, -0.72])  # z^2 - 1.2 z + 0.72: 0.6 ± 0.6i, r = 0.849, θ = π/4
    assert a.behaviour == "fades, oscillating" and a.period == pytest.approx(8.0)
    assert a.modulus == pytest.approx(0.72**0.5) and a.half_life == pytest.approx(np.log(0.5) / np.log(0.72**0.5))
    h = multitap_recursion([1.6, -1.0], 400)  # on the unit circle: the oscillation lasts
    crossings = np.nonzero(np.diff(np.sign(h[2:])) != 0)[0]
    assert np.mean(np.diff(crossings)) == pytest.approx(modes([1.6, -1.0])[0].period / 2, rel=0.02)
    assert abs(h[-50:]).max() > 1.0
    for w in np.linspace(-1.5, 1.5, 13):
        assert all(m.period is None for m in modes([w]))  # one real root: no oscillation
    assert modes([-0.8])[0].behaviour == "fades, alternating in sign"


def test_two_taps_remember_longer_than_either_weight():
    """0.5 and 0.45 each fade within a few steps alone; together their slowest root is 0.966."""
    slow = modes([0.5, 0.45])[0]
    assert slow.modulus == pytest.approx((0.5 + (0.25 + 1.8) ** 0.5) / 2)
    assert slow.half_life > 19 and modes([0.5])[0].half_life == pytest.approx(1.0)


def test_multitap_inputs_are_checked():
    with pytest.raises(ValueError, match="weights must be a non-empty list"):
        multitap_recursion([], 5)
    with pytest.raises(ValueError, match=r"history has shape \(1,\), expected \(2,\)"):
        multitap_recursion([0.5, 0.2], 5, history=[1.0])
