"""RNNs as universal computers: a circuit of NOR gates compiled into a sigmoid RNN.

NOR is universal (NOT a = NOR(a), OR = NOT NOR, AND(a, b) = NOR(NOT a, NOT b), ...), and one
sigmoid unit with large weights is a NOR gate. Give every wire of a circuit one state unit
s_w in [0, 1]; one step of the RNN updates every gate from the values of its input wires one
step earlier (external inputs x_i enter at the same step):

    s_g(t) = σ(K (1/2 - Σ_{w ∈ in(g)} s_w(t-1) - Σ_{i ∈ in(g)} x_i(t)))                  (N1)

All inputs 0: σ(K/2) ~ 1; any input 1: at most σ(-K/2) ~ 0. With gain K = 20, σ(10) =
1 - 4.5e-5, and the next step re-saturates whatever small error came in, so the circuit runs
for ever without drift. A buffer (a one-step delay, used to align paths) is σ(K (s_w - 1/2)).

Through the engine. rnnlab's Elman RNN is tanh, and σ(a) = (1 + tanh(a/2)) / 2, so the units
run in the ±1 domain u = 2s - 1 = tanh(a/2). Substituting s_w = (u_w + 1)/2 into (N1):

    u_g(t) = tanh(K/4 (1 - n_g) - K/4 Σ_w u_w(t-1) - K/2 Σ_i x_i(t))                     (N2)

with n_g the number of state (wire) inputs of g, i.e. an engine RNN(nonlinearity="tanh") with
W_hh[g, w] = -K/4, W_ih[g, i] = -K/2, bias[g] = K/4 (1 - n_g); a buffer of wire w has
W_hh[g, w] = K/4 (of input i: W_ih[g, i] = K/2, bias -K/4). `compile_circuit` builds exactly this
`rnnlab.nn.RNN` and runs it with its own forward.

Netlist format (text, one statement per line, `#` starts a comment, names [A-Za-z_][\\w.~]*):

    input a b            external input wires, in this order (the columns of x)
    n1 = nor a b         a NOR gate (one input: NOT); any wire may be named, also a later one
    d = buf n1           a one-step delay
    output n1 d          the wires read out, in this order
    register c 0         c (a gate) holds the circuit's state between clock cycles; initial value
    init q 1             a gate's initial value for free-running circuits (default 0)

Two ways to run a circuit:

* free running (`compile_circuit`): every gate is a one-step delay, as in (N1). A combinational
  circuit, inputs held, settles after `depth` steps (its longest path), so truth tables are read
  after that. Feedback without registers is allowed: the NOR flip-flop (SR latch) holds a bit
  (a set or reset input must be held for 2 steps).
* clocked (`compile_clocked`): for sequential circuits such as a serial adder or a counter. The
  gates that carry state from one clock cycle to the next are declared `register`; gates that read
  a register see its value from the end of the previous cycle. Every path from a source (an input
  or a register) to a sink (a register or an output) is padded with buffers to the same length P,
  the clock period, so that the value of every sink at the end of a cycle is its logic function of
  that cycle's inputs and the previous cycle's registers. Each input symbol is held for P steps
  and the outputs are read at the last step of each cycle.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import product

import numpy as np

from ..nn import RNN

NAME = re.compile(r"^[A-Za-z_][\w.~]*$")
DEFAULT_GAIN = 20.0  # K in (N1): σ(K/2) = σ(10) is within 4.5e-5 of 1


@dataclass
class Gate:
    kind: str  # "nor" or "buf"
    inputs: tuple[str, ...]


@dataclass
class Circuit:
    """A netlist: input wires, gates (one state unit each), outputs, registers, initial values."""

    inputs: list[str] = field(default_factory=list)
    gates: dict[str, Gate] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)
    registers: set[str] = field(default_factory=set)
    init: dict[str, int] = field(default_factory=dict)

    # --- building -------------------------------------------------------------------------------
    def _new(self, name: str) -> str:
        if not isinstance(name, str) or not NAME.match(name):
            raise ValueError(f"wire name {name!r} is not valid: letters, digits, _ . ~, not starting with a digit")
        if name in self.gates or name in self.inputs:
            raise ValueError(f"wire {name!r} is defined twice")
        return name

    def input(self, *names: str) -> Circuit:
        for name in names:
            self.inputs.append(self._new(name))
        return self

    def nor(self, name: str, *inputs: str) -> str:
        if not inputs:
            raise ValueError(f"gate {name!r}: a NOR gate needs at least one input")
        self.gates[self._new(name)] = Gate("nor", tuple(inputs))
        return name

    def buf(self, name: str, source: str) -> str:
        self.gates[self._new(name)] = Gate("buf", (source,))
        return name

    def output(self, *names: str) -> Circuit:
        self.outputs.extend(names)
        return self

    def register(self, name: str, init: int = 0) -> Circuit:
        self.registers.add(name)
        self.init[name] = int(init)
        return self

    # --- the text format ------------------------------------------------------------------------
    @classmethod
    def parse(cls, text: str) -> Circuit:
        """A Circuit from the netlist format of the module doc; errors name the line."""
        c = cls()
        for number, raw in enumerate(text.splitlines(), 1):
            words = raw.split("#", 1)[0].split()
            if not words:
                continue
            try:
                if words[0] == "input":
                    c.input(*words[1:])
                elif words[0] == "output":
                    c.output(*words[1:])
                elif words[0] in ("register", "init"):
                    if len(words) not in (2, 3) or (len(words) == 3 and words[2] not in ("0", "1")):
                        raise ValueError(f"expected '{words[0]} NAME [0|1]'")
                    value = int(words[2]) if len(words) == 3 else 0
                    if words[0] == "register":
                        c.register(words[1], value)
                    else:
                        c.init[words[1]] = value
                elif len(words) >= 3 and words[1] == "=" and words[2] in ("nor", "buf"):
                    if words[2] == "nor":
                        c.nor(words[0], *words[3:])
                    elif len(words) != 4:
                        raise ValueError("a buffer has exactly one input: 'NAME = buf WIRE'")
                    else:
                        c.buf(words[0], words[3])
                else:
                    raise ValueError(
                        "expected 'input ...', 'output ...', 'NAME = nor A B ...', "
                        "'NAME = buf A', 'register NAME [0|1]' or 'init NAME [0|1]'"
                    )
            except ValueError as err:
                raise ValueError(f"netlist line {number} ({raw.strip()!r}): {err}") from None
        c.check()
        return c

    def to_text(self) -> str:
        lines = [f"input {' '.join(self.inputs)}"] if self.inputs else []
        lines += [f"{name} = {g.kind} {' '.join(g.inputs)}" for name, g in self.gates.items()]
        lines += [f"register {r} {self.init.get(r, 0)}" for r in sorted(self.registers)]
        lines += [f"init {n} {v}" for n, v in self.init.items() if n not in self.registers and v]
        lines += [f"output {' '.join(self.outputs)}"] if self.outputs else []
        return "\n".join(lines) + "\n"

    # --- checks and timing ----------------------------------------------------------------------
    def check(self) -> Circuit:
        wires = set(self.inputs) | set(self.gates)
        for name, g in self.gates.items():
            for w in g.inputs:
                if w not in wires:
                    raise ValueError(f"gate {name!r} reads wire {w!r}, which is neither an input nor a gate")
        for w in self.outputs:
            if w not in wires:
                raise ValueError(f"output {w!r} is neither an input nor a gate")
        for w in list(self.registers) + list(self.init):
            if w not in self.gates:
                raise ValueError(f"{w!r} is given a state (register or init) but is not a gate")
        if not self.outputs:
            raise ValueError("the circuit has no outputs")
        return self

    def levels(self, cut_registers: bool) -> dict[str, int]:
        """Longest path, in gates, from a source to each wire: inputs are level 0 and so, with
        cut_registers, is a register where another gate reads it. A loop not broken by a register
        is an error (such a circuit can only run free, not settle)."""
        self.check()
        level = {i: 0 for i in self.inputs}
        visiting = set()

        def visit(w: str) -> int:
            if w in level:
                return level[w]
            if w in visiting:
                raise ValueError(
                    f"the circuit has a loop through {w!r} that no register breaks; "
                    "declare a register on it (clocked) or run it free (compile_circuit)"
                )
            visiting.add(w)
            sources = [0 if (cut_registers and v in self.registers) else visit(v) for v in self.gates[w].inputs]
            visiting.discard(w)
            level[w] = 1 + max(sources)
            return level[w]

        for name in self.gates:
            visit(name)
        return level

    def depth(self) -> int:
        """Steps after which a combinational circuit's outputs settle (inputs held)."""
        level = self.levels(cut_registers=False)
        return max(level[w] for w in self.outputs)


# --- helpers: gates built from NORs, each returns its output wire ---------------------------------
def not_(c: Circuit, a: str, name: str) -> str:
    return c.nor(name, a)


def or_(c: Circuit, a: str, b: str, name: str) -> str:
    return c.nor(name, c.nor(name + ".nor", a, b))  # OR = NOT NOR


def and_(c: Circuit, a: str, b: str, name: str) -> str:
    return c.nor(name, c.nor(name + ".na", a), c.nor(name + ".nb", b))  # AND = NOR(NOT a, NOT b)


def xor_(c: Circuit, a: str, b: str, name: str) -> str:
    either_not = c.nor(name + ".nor", a, b)  # 1 when both are 0
    both = and_(c, a, b, name + ".and")  # 1 when both are 1
    return c.nor(name, either_not, both)  # 1 when exactly one is 1


def half_adder(c: Circuit, a: str, b: str, prefix: str) -> tuple[str, str]:
    """(sum, carry) wires: a + b = 2 carry + sum."""
    return xor_(c, a, b, prefix + ".sum"), and_(c, a, b, prefix + ".carry")


def full_adder(c: Circuit, a: str, b: str, cin: str, prefix: str, carry_name: str | None = None) -> tuple[str, str]:
    """(sum, carry) wires: a + b + cin = 2 carry + sum; carry_name names the carry gate (e.g. to
    make it a register that feeds back as cin)."""
    s1 = xor_(c, a, b, prefix + ".x")
    total = xor_(c, s1, cin, prefix + ".sum")
    carry = or_(c, and_(c, a, b, prefix + ".ab"), and_(c, s1, cin, prefix + ".xc"), carry_name or prefix + ".carry")
    return total, carry


def sr_latch(c: Circuit, s: str, r: str, prefix: str) -> tuple[str, str]:
    """The NOR flip-flop: (q, q_bar), q = NOR(r, q_bar), q_bar = NOR(s, q). s = 1 sets q to 1,
    r = 1 resets it to 0, s = r = 0 holds (starts at q = 0); hold s or r for 2 steps."""
    q, qbar = prefix + ".q", prefix + ".qbar"
    c.nor(q, r, qbar)
    c.nor(qbar, s, q)
    c.init[qbar] = 1  # a consistent start: q = 0, q_bar = 1
    return q, qbar


# --- ready-made circuits ---------------------------------------------------------------------------
def combinational(name: str) -> Circuit:
    """Inputs a, b (and cin for the full adder) and the named gate's outputs: "not", "or", "and",
    "xor", "nor", "half_adder" (sum, carry), "full_adder" (sum, carry)."""
    c = Circuit().input("a", "b")
    if name == "not":
        c = Circuit().input("a")
        c.output(not_(c, "a", "out"))
    elif name == "nor":
        c.output(c.nor("out", "a", "b"))
    elif name in ("or", "and", "xor"):
        c.output({"or": or_, "and": and_, "xor": xor_}[name](c, "a", "b", "out"))
    elif name == "half_adder":
        c.output(*half_adder(c, "a", "b", "ha"))
    elif name == "full_adder":
        c.input("cin")
        c.output(*full_adder(c, "a", "b", "cin", "fa"))
    else:
        raise ValueError(f"unknown circuit {name!r}: not, nor, or, and, xor, half_adder, full_adder")
    return c.check()


def flip_flop() -> Circuit:
    """An SR latch with inputs s, r and outputs q, q_bar."""
    c = Circuit().input("s", "r")
    c.output(*sr_latch(c, "s", "r", "ff"))
    return c.check()


def serial_adder() -> Circuit:
    """Adds two numbers bit by bit, least significant first: inputs a, b (one bit each per clock
    cycle), output sum; the carry is a register fed back into the full adder."""
    c = Circuit().input("a", "b")
    total, carry = full_adder(c, "a", "b", "carry", "fa", carry_name="carry")
    c.register(carry, 0)
    c.output(total)
    return c.check()


def counter(bits: int) -> Circuit:
    """A binary counter of `bits` bits that adds its input inc (0 or 1) every clock cycle:
    q_k <- q_k XOR carry_k, carry_0 = inc, carry_{k+1} = q_k AND carry_k; outputs q0 (least
    significant) ... q{bits-1}, which are registers."""
    if not isinstance(bits, int) or bits < 1:
        raise ValueError(f"bits must be a positive integer, got {bits!r}")
    c = Circuit().input("inc")
    carry = "inc"
    for k in range(bits):
        q = f"q{k}"
        next_carry = and_(c, q, carry, f"c{k + 1}") if k < bits - 1 else None
        xor_(c, q, carry, q)
        c.register(q, 0)
        carry = next_carry
    c.output(*[f"q{k}" for k in range(bits)])
    return c.check()


# --- compilation ------------------------------------------------------------------------------------
def rnn_weights(circuit: Circuit, gain: float = DEFAULT_GAIN) -> dict[str, np.ndarray]:
    """The engine RNN's state dict for (N2): units are the gates in circuit order, input
    columns the circuit's inputs (one zero column when it has none)."""
    circuit.check()
    units = {name: k for k, name in enumerate(circuit.gates)}
    columns = {name: k for k, name in enumerate(circuit.inputs)}
    K = float(gain)
    W_hh = np.zeros((len(units), len(units)))
    W_ih = np.zeros((len(units), max(1, len(columns))))
    bias = np.zeros(len(units))
    for name, gate in circuit.gates.items():
        g = units[name]
        if gate.kind == "buf":
            (w,) = gate.inputs
            if w in units:
                W_hh[g, units[w]] += K / 4  # u_g = tanh(K/4 u_w)
            else:
                W_ih[g, columns[w]] += K / 2  # u_g = tanh(K/2 x - K/4)
                bias[g] -= K / 4
            continue
        n_state = 0
        for w in gate.inputs:  # (N2)
            if w in units:
                W_hh[g, units[w]] -= K / 4
                n_state += 1
            else:
                W_ih[g, columns[w]] -= K / 2
        bias[g] += K / 4 * (1 - n_state)
    return {"weight_ih_l0": W_ih, "weight_hh_l0": W_hh, "bias_ih_l0": bias, "bias_hh_l0": np.zeros(len(units))}


@dataclass
class CompiledCircuit:
    """A circuit as an engine RNN (tanh units in the ±1 domain, (N2)), run free: one step per
    gate delay."""

    circuit: Circuit
    rnn: RNN
    gain: float

    @property
    def units(self) -> list[str]:
        return list(self.circuit.gates)

    def initial_state(self, batch: int) -> np.ndarray:
        """(1, batch, units) in the ±1 domain from the circuit's initial values (default 0)."""
        s = np.array([self.circuit.init.get(name, 0) for name in self.circuit.gates], float)
        return np.broadcast_to(2 * s - 1, (1, batch, len(s))).copy()

    def run(self, x, state: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """x (T, B, inputs) of 0/1 -> every unit's value s in [0, 1] at every step (T, B, units),
        and the final state (1, B, units) (±1 domain) to continue from."""
        x = np.asarray(x, float)
        n_in = len(self.circuit.inputs)
        if x.ndim != 3 or x.shape[2] != n_in:
            raise ValueError(
                f"x has shape {x.shape}, expected (T, B, {n_in}): one column per input {self.circuit.inputs}"
            )
        if n_in == 0:
            x = np.zeros(x.shape[:2] + (1,))
        h0 = self.initial_state(x.shape[1]) if state is None else state
        out, h_n = self.rnn.forward(x, h0)
        return (out + 1) / 2, h_n

    def wire_values(self, values: np.ndarray, wires) -> np.ndarray:
        """The columns of `values` (..., units) for the named gate wires."""
        index = {name: k for k, name in enumerate(self.circuit.gates)}
        return values[..., [index[w] for w in wires]]

    def truth_table(self) -> tuple[np.ndarray, np.ndarray]:
        """Every input combination (2^n, n) and the outputs after the circuit settles (2^n, outputs),
        as 0/1 (all combinations run as one batch; inputs held for `depth` steps)."""
        if any(w in self.circuit.inputs for w in self.circuit.outputs):
            raise ValueError("truth_table reads gate outputs; an output that is an input wire is its own value")
        n = len(self.circuit.inputs)
        combos = np.array(list(product((0, 1), repeat=n)), float)
        steps = self.circuit.depth()
        values, _ = self.run(np.broadcast_to(combos, (steps,) + combos.shape))
        return combos.astype(int), (self.wire_values(values[-1], self.circuit.outputs) > 0.5).astype(int)


def compile_circuit(circuit: Circuit, gain: float = DEFAULT_GAIN) -> CompiledCircuit:
    """The circuit as an engine RNN (float64) running free: one unit per gate, (N1)/(N2)."""
    weights = rnn_weights(circuit, gain)
    n_units, n_in = weights["weight_ih_l0"].shape
    rnn = RNN(n_in, n_units, nonlinearity="tanh", dtype=np.float64, rng=np.random.default_rng(0))
    rnn.load_state_dict(weights)
    return CompiledCircuit(circuit, rnn, float(gain))


def balance(circuit: Circuit) -> tuple[Circuit, int, dict[str, str]]:
    """The clocked form of a circuit with registers: buffers inserted so that every path from a
    source (input, register as read) to a sink (register, output) has the same number of gates,
    the period P. Returns (balanced circuit, P, {output: the wire to read it from})."""
    level = circuit.levels(cut_registers=True)
    sinks = [level[r] for r in circuit.registers] + [level[w] for w in circuit.outputs if w not in circuit.registers]
    period = max(sinks + [1])
    out = Circuit(inputs=list(circuit.inputs), registers=set(circuit.registers), init=dict(circuit.init))

    def source_level(w: str) -> int:
        return 0 if w in circuit.registers else level[w]

    def delayed(w: str, steps: int) -> str:
        """w seen `steps` gates later: a shared chain of buffers w~1, w~2, ..."""
        name = w
        for k in range(1, steps + 1):
            chained = f"{w}~{k}"
            if chained not in out.gates:
                out.gates[chained] = Gate("buf", (name,))
            name = chained
        return name

    target = {name: (period if name in circuit.registers else level[name]) for name in circuit.gates}
    for name, gate in circuit.gates.items():
        out.gates[name] = Gate(gate.kind, tuple(delayed(w, target[name] - 1 - source_level(w)) for w in gate.inputs))
    readout = {w: (w if w in circuit.registers else delayed(w, period - level[w])) for w in circuit.outputs}
    out.outputs = [readout[w] for w in circuit.outputs]
    return out.check(), period, readout


@dataclass
class ClockedCircuit:
    """A sequential circuit as an engine RNN: each input symbol held for `period` steps, the
    outputs read at the last step of every clock cycle."""

    compiled: CompiledCircuit
    period: int
    readout: dict[str, str]
    outputs: list[str]

    def run(self, symbols, state: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """symbols (cycles, B, inputs) of 0/1 -> outputs (cycles, B, outputs) of 0/1 and the final
        state to continue from."""
        symbols = np.asarray(symbols, float)
        if symbols.ndim != 3:
            raise ValueError(f"symbols must have shape (cycles, B, inputs), got {symbols.shape}")
        x = np.repeat(symbols, self.period, axis=0)  # each symbol held for a whole clock cycle
        values, h_n = self.compiled.run(x, state)
        at_clock = values[self.period - 1 :: self.period]
        wires = [self.readout[w] for w in self.outputs]
        return (self.compiled.wire_values(at_clock, wires) > 0.5).astype(int), h_n


def compile_clocked(circuit: Circuit, gain: float = DEFAULT_GAIN) -> ClockedCircuit:
    """A circuit with registers, balanced (`balance`) and compiled to an engine RNN."""
    if not circuit.registers:
        raise ValueError("a clocked circuit needs registers: declare the gates that hold state")
    balanced, period, readout = balance(circuit)
    # Initial values of the non-register gates do not reach the read-out phase; registers keep theirs.
    return ClockedCircuit(compile_circuit(balanced, gain), period, readout, list(circuit.outputs))
