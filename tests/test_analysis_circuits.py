"""NOR circuits compiled into a sigmoid RNN run by the engine (rnnlab.analysis.circuits)."""

from itertools import product

import numpy as np
import pytest

from rnnlab.analysis.circuits import (
    Circuit,
    combinational,
    compile_circuit,
    compile_clocked,
    counter,
    flip_flop,
    rnn_weights,
    serial_adder,
)
from rnnlab.nn import RNN

TRUTH = {
    "not": lambda a: [1 - a],
    "nor": lambda a, b: [1 - (a | b)],
    "or": lambda a, b: [a | b],
    "and": lambda a, b: [a & b],
    "xor": lambda a, b: [a ^ b],
    "half_adder": lambda a, b: [a ^ b, a & b],
    "full_adder": lambda a, b, c: [(a + b + c) % 2, (a + b + c) // 2],
}


@pytest.mark.parametrize("name", sorted(TRUTH))
def test_exhaustive_truth_tables(name):
    compiled = compile_circuit(combinational(name))
    assert isinstance(compiled.rnn, RNN)  # the engine's own layer runs the circuit
    inputs, outputs = compiled.truth_table()
    n = len(compiled.circuit.inputs)
    assert [tuple(row) for row in inputs] == list(product((0, 1), repeat=n))
    for row, out in zip(inputs, outputs):
        assert list(out) == TRUTH[name](*row), (name, row)


def test_units_saturate_close_to_zero_and_one():
    compiled = compile_circuit(combinational("full_adder"))
    values, _ = compiled.run(np.ones((compiled.circuit.depth(), 1, 3)))
    settled = values[-1]
    assert np.minimum(settled, 1 - settled).max() < 1e-3  # every wire is a clean 0 or 1


def test_one_unit_per_wire_with_the_nor_weights():
    c = Circuit().input("a", "b")
    c.nor("n", "a", "b")
    c.nor("m", "n")
    c.output("m")
    w = rnn_weights(c, gain=8.0)
    np.testing.assert_array_equal(w["weight_ih_l0"], [[-4, -4], [0, 0]])  # -K/2 per input
    np.testing.assert_array_equal(w["weight_hh_l0"], [[0, 0], [-2, 0]])  # -K/4 per wire
    np.testing.assert_array_equal(w["bias_ih_l0"], [2, 0])  # K/4 (1 - wires read)


def test_serial_adder_adds_long_numbers():
    adder = compile_clocked(serial_adder())
    rng = np.random.default_rng(0)
    bits, n = 200, 4
    a, b = rng.integers(0, 2, (bits, n)), rng.integers(0, 2, (bits, n))
    symbols = np.zeros((bits + 1, n, 2))
    symbols[:bits, :, 0], symbols[:bits, :, 1] = a, b
    out, _ = adder.run(symbols)
    for j in range(n):
        number = lambda column: sum(int(v) << k for k, v in enumerate(column))  # noqa: E731
        assert number(out[:, j, 0]) == number(a[:, j]) + number(b[:, j])


def test_counter_counts_its_increments_for_a_long_run_and_continues_from_its_state():
    count = compile_clocked(counter(3))
    inc = np.random.default_rng(1).integers(0, 2, (300, 2, 1))
    first, state = count.run(inc[:150])
    second, _ = count.run(inc[150:], state)
    q = np.concatenate([first, second])
    value = (q * np.array([1, 2, 4])).sum(axis=2)
    np.testing.assert_array_equal(value, np.cumsum(inc[:, :, 0], axis=0) % 8)


def test_nor_flip_flop_holds_a_bit():
    ff = compile_circuit(flip_flop())
    s_r = [(0, 0)] * 3 + [(1, 0)] * 2 + [(0, 0)] * 20 + [(0, 1)] * 2 + [(0, 0)] * 20
    values, _ = ff.run(np.array(s_r, float)[:, None, :])
    q = (ff.wire_values(values[:, 0], ["ff.q"])[:, 0] > 0.5).astype(int)
    assert (q[:4] == 0).all() and (q[4:25] == 1).all() and (q[25:] == 0).all()  # set acts after one step, reset at once


def test_netlist_text_round_trips_and_errors_name_the_line():
    text = """# a half adder from NOR gates
input a b
n = nor a b
na = nor a
nb = nor b
carry = nor na nb
sum = nor n carry
output sum carry
"""
    c = Circuit.parse(text)
    assert c.inputs == ["a", "b"] and c.outputs == ["sum", "carry"] and len(c.gates) == 5
    assert Circuit.parse(c.to_text()).to_text() == c.to_text()
    _, out = compile_circuit(c).truth_table()
    np.testing.assert_array_equal(out, [[0, 0], [1, 0], [1, 0], [0, 1]])
    parsed = Circuit.parse(serial_adder().to_text())
    assert parsed.registers == {"carry"}
    with pytest.raises(ValueError, match="line 2"):
        Circuit.parse("input a\nx = and a a\noutput x\n")
    with pytest.raises(ValueError, match="'y'"):
        Circuit.parse("input a\nx = nor y\noutput x\n")
    with pytest.raises(ValueError, match="twice"):
        Circuit.parse("input a\na = nor a\noutput a\n")


def test_a_loop_without_a_register_cannot_be_clocked():
    with pytest.raises(ValueError, match="loop"):
        flip_flop().depth()
    with pytest.raises(ValueError, match="registers"):
        compile_clocked(combinational("xor"))
