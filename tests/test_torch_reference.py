"""Reference tests: rnnlab.nn against torch.nn, number for number.

Each test builds a torch module, copies its state_dict into the matching
rnnlab module, feeds both the same random data, and compares the forward
results, the input/initial-state gradients and every parameter gradient by
name. torch is only reached through the ``torch`` fixture (tests/conftest.py),
so this module imports without torch and its tests skip (or fail under
RNNLAB_REQUIRE_TORCH=1).
"""

import zlib

import numpy as np
import pytest

from rnnlab.nn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

# Small sizes: D != H and D != 2H so that a transposed or mis-sized weight
# cannot go unnoticed.
T, B, D, H = 6, 4, 3, 5

KINDS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
RTOL64 = 1e-10
RTOL32 = 1e-5  # torch float32 vs float64 differs by <~5e-7 (scaled) here


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def assert_close(actual, expected, rtol, atol=None, name="value"):
    """|actual - expected| <= atol + rtol*|expected| elementwise.

    ``atol`` defaults to ``rtol * max(1, max|expected|)``, i.e. errors are
    measured relative to the scale of the whole array. Shapes must be equal.
    """
    assert actual is not None, f"{name}: got None"
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{name}: shape {actual.shape} != expected {expected.shape}"
    a = actual.astype(np.float64)
    b = expected.astype(np.float64)
    assert np.all(np.isfinite(a)), f"{name}: non-finite values"
    if atol is None:
        atol = rtol * max(1.0, float(np.abs(b).max()) if b.size else 1.0)
    err = np.abs(a - b)
    bad = err > atol + rtol * np.abs(b)
    if bad.any():
        idx = tuple(int(i) for i in np.unravel_index(np.argmax(err - rtol * np.abs(b)), b.shape))
        raise AssertionError(
            f"{name}: {int(bad.sum())}/{b.size} elements differ; max abs err "
            f"{err.max():.3e} (atol {atol:.1e}, rtol {rtol:.1e}); at {idx}: "
            f"got {float(a[idx])!r}, expected {float(b[idx])!r}"
        )


def seed_of(*key):
    """A stable seed from a test's parameters (Python's hash() is salted)."""
    return zlib.crc32(repr(key).encode())


def torch_dtype(torch, np_dtype):
    return torch.float64 if np_dtype == np.float64 else torch.float32


def make_torch_layer(
    torch, kind, input_size, hidden_size, num_layers, bias, batch_first, bidirectional, np_dtype, seed
):
    torch.manual_seed(seed)
    kw = dict(num_layers=num_layers, bias=bias, batch_first=batch_first, bidirectional=bidirectional)
    if kind.startswith("rnn_"):
        m = torch.nn.RNN(input_size, hidden_size, nonlinearity=kind[4:], **kw)
    elif kind == "lstm":
        m = torch.nn.LSTM(input_size, hidden_size, **kw)
    else:
        m = torch.nn.GRU(input_size, hidden_size, **kw)
    return m.to(torch_dtype(torch, np_dtype))


def make_rnnlab_layer(kind, input_size, hidden_size, num_layers, bias, batch_first, bidirectional, np_dtype, seed=0):
    kw = dict(
        num_layers=num_layers,
        bias=bias,
        batch_first=batch_first,
        bidirectional=bidirectional,
        dtype=np_dtype,
        rng=np.random.default_rng(seed),
    )
    if kind.startswith("rnn_"):
        return RNN(input_size, hidden_size, nonlinearity=kind[4:], **kw)
    if kind == "lstm":
        return LSTM(input_size, hidden_size, **kw)
    return GRU(input_size, hidden_size, **kw)


def torch_state_as_numpy(tm):
    return {k: v.detach().cpu().numpy().copy() for k, v in tm.state_dict().items()}


def load_from_torch(m, tm, np_dtype):
    """Copy torch's state_dict into ``m`` and check it really landed."""
    sd = torch_state_as_numpy(tm)
    m.load_state_dict({k: v.copy() for k, v in sd.items()})
    got = m.state_dict()
    assert sorted(got) == sorted(sd), f"state_dict keys {sorted(got)} != torch {sorted(sd)}"
    for k, v in sd.items():
        assert np.asarray(got[k]).dtype == np_dtype, f"{k}: dtype {np.asarray(got[k]).dtype}"
        np.testing.assert_array_equal(got[k], v, err_msg=f"state_dict[{k!r}] after load")


def random_case(rng, kind, num_layers, bidirectional, batch_first, np_dtype, hx=True, dh_n=True, t=T, b=B, d=D, h=H):
    """Random x, h0, c0, dout, dh, dc in the layouts of the module."""
    nd = 2 if bidirectional else 1
    x_shape = (b, t, d) if batch_first else (t, b, d)
    out_shape = (b, t, nd * h) if batch_first else (t, b, nd * h)
    st = (num_layers * nd, b, h)
    lstm = kind == "lstm"

    def r(shape):
        return rng.standard_normal(shape).astype(np_dtype)

    return dict(
        x=r(x_shape),
        h0=r(st) if hx else None,
        c0=r(st) if (hx and lstm) else None,
        dout=r(out_shape),
        dh=r(st) if dh_n else None,
        dc=r(st) if (dh_n and lstm) else None,
    )


def run_torch_layer(torch, tm, kind, case, lengths, batch_first, np_dtype):
    """Forward + backward in torch; returns numpy results (float64 copies)."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    dt = torch_dtype(torch, np_dtype)
    lstm = kind == "lstm"
    x = case["x"]
    t_len = x.shape[1] if batch_first else x.shape[0]
    st_shape = (
        tm.num_layers * (2 if tm.bidirectional else 1),
        x.shape[0] if batch_first else x.shape[1],
        tm.hidden_size,
    )

    def leaf(a):
        if a is None:  # hx=None is a zero state; keep it a leaf to get its grad
            a = np.zeros(st_shape)
        return torch.tensor(np.array(a), dtype=dt, requires_grad=True)

    xt = leaf(x)
    h0t = leaf(case["h0"])
    c0t = leaf(case["c0"]) if lstm else None
    hx = (h0t, c0t) if lstm else h0t

    tm.zero_grad()
    if lengths is None:
        out, hn = tm(xt, hx)
    else:
        packed = pack_padded_sequence(
            xt, torch.tensor(list(lengths), dtype=torch.int64), batch_first=batch_first, enforce_sorted=False
        )
        out_p, hn = tm(packed, hx)
        out, _ = pad_packed_sequence(out_p, batch_first=batch_first, total_length=t_len)
    hn, cn = hn if lstm else (hn, None)

    loss = (out * torch.tensor(case["dout"], dtype=dt)).sum()
    if case["dh"] is not None:
        loss = loss + (hn * torch.tensor(case["dh"], dtype=dt)).sum()
    if case["dc"] is not None:
        loss = loss + (cn * torch.tensor(case["dc"], dtype=dt)).sum()
    loss.backward()

    def np_(a):
        return None if a is None else a.detach().numpy().copy()

    return dict(
        out=np_(out),
        h_n=np_(hn),
        c_n=np_(cn),
        dx=np_(xt.grad),
        dh0=np_(h0t.grad),
        dc0=np_(c0t.grad) if lstm else None,
        grads={n: np_(p.grad) for n, p in tm.named_parameters()},
    )


def run_rnnlab_layer(m, kind, case, lengths):
    lstm = kind == "lstm"
    if case["h0"] is None:
        hx = None
    else:
        hx = (case["h0"].copy(), case["c0"].copy()) if lstm else case["h0"].copy()
    m.zero_grad()
    out, hn = m.forward(case["x"].copy(), hx=hx, lengths=lengths)
    hn, cn = hn if lstm else (hn, None)
    if case["dh"] is None:
        dh_n = None
    else:
        dh_n = (case["dh"].copy(), case["dc"].copy()) if lstm else case["dh"].copy()
    dx, dh0 = m.backward(case["dout"].copy(), dh_n=dh_n)
    dh0, dc0 = dh0 if lstm else (dh0, None)
    return dict(
        out=out,
        h_n=hn,
        c_n=cn,
        dx=dx,
        dh0=dh0,
        dc0=dc0,
        grads={n: None if p.grad is None else np.array(p.grad) for n, p in m.named_parameters()},
    )


def compare(got, ref, kind, rtol, what=("out", "h_n", "c_n", "dx", "dh0", "dc0")):
    for key in what:
        if key in ("c_n", "dc0") and kind != "lstm":
            continue
        assert_close(got[key], ref[key], rtol, name=key)
    assert sorted(got["grads"]) == sorted(ref["grads"]), (
        f"parameter names {sorted(got['grads'])} != torch {sorted(ref['grads'])}"
    )
    for name, g in ref["grads"].items():
        assert_close(got["grads"][name], g, rtol, name=f"{name}.grad")


def lengths_for(spec, t, b):
    if spec is None:
        return None
    # unsorted, includes a full-length and a length-1 sequence
    return np.array([t, 2, t - 1, 1][:b], dtype=np.int64)


def check_layer_against_torch(
    torch, kind, num_layers, bidirectional, batch_first, lengths_spec, np_dtype, rtol, bias=True
):
    seed = seed_of(kind, num_layers, bidirectional, batch_first, lengths_spec, np.dtype(np_dtype).name, bias)
    tm = make_torch_layer(torch, kind, D, H, num_layers, bias, batch_first, bidirectional, np_dtype, seed)
    m = make_rnnlab_layer(kind, D, H, num_layers, bias, batch_first, bidirectional, np_dtype)
    load_from_torch(m, tm, np_dtype)
    case = random_case(np.random.default_rng(seed), kind, num_layers, bidirectional, batch_first, np_dtype)
    lengths = lengths_for(lengths_spec, T, B)
    ref = run_torch_layer(torch, tm, kind, case, lengths, batch_first, np_dtype)
    got = run_rnnlab_layer(m, kind, case, lengths)
    compare(got, ref, kind, rtol)
    return got


# --------------------------------------------------------------------------
# full layers
# --------------------------------------------------------------------------


@pytest.mark.parametrize("lengths_spec", [None, "varied"], ids=["full", "lengths"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["tbd", "btd"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2, 3], ids=["L1", "L2", "L3"])
@pytest.mark.parametrize("kind", KINDS)
def test_layer_matches_torch_float64(torch, kind, num_layers, bidirectional, batch_first, lengths_spec):
    check_layer_against_torch(torch, kind, num_layers, bidirectional, batch_first, lengths_spec, np.float64, RTOL64)


@pytest.mark.parametrize(
    "num_layers,bidirectional,batch_first,lengths_spec",
    [(1, False, False, None), (2, True, True, "varied"), (3, True, False, None), (2, False, True, "varied")],
    ids=["L1-uni-tbd-full", "L2-bi-btd-lengths", "L3-bi-tbd-full", "L2-uni-btd-lengths"],
)
@pytest.mark.parametrize("kind", KINDS)
def test_layer_matches_torch_float32(torch, kind, num_layers, bidirectional, batch_first, lengths_spec):
    check_layer_against_torch(torch, kind, num_layers, bidirectional, batch_first, lengths_spec, np.float32, RTOL32)


@pytest.mark.parametrize("kind", KINDS)
def test_float32_layer_keeps_float32_results(torch, kind):
    got = check_layer_against_torch(torch, kind, 2, True, False, "varied", np.float32, RTOL32)
    for key in ("out", "h_n", "c_n", "dx", "dh0", "dc0"):
        if got[key] is not None:
            assert np.asarray(got[key]).dtype == np.float32, f"{key}: {np.asarray(got[key]).dtype}"
    for name, g in got["grads"].items():
        assert np.asarray(g).dtype == np.float32, f"{name}.grad: {np.asarray(g).dtype}"


@pytest.mark.parametrize("num_layers", [1, 2], ids=["L1", "L2"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("kind", KINDS)
def test_layer_without_bias_matches_torch(torch, kind, bidirectional, num_layers):
    got = check_layer_against_torch(
        torch, kind, num_layers, bidirectional, False, "varied", np.float64, RTOL64, bias=False
    )
    assert not any(n.startswith("bias") for n in got["grads"])


@pytest.mark.parametrize("lengths_as", [None, "list"], ids=["full", "lengths-list"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("kind", KINDS)
def test_zero_initial_state_and_no_final_state_grad_match_torch(torch, kind, bidirectional, lengths_as):
    """hx=None means a zero initial state; dh_n=None means no gradient into h_n
    (and c_n). dh0 is still the gradient w.r.t. that zero initial state."""
    num_layers, batch_first = 2, True
    seed = seed_of("hx-none", kind, bidirectional, lengths_as)
    tm = make_torch_layer(torch, kind, D, H, num_layers, True, batch_first, bidirectional, np.float64, seed)
    m = make_rnnlab_layer(kind, D, H, num_layers, True, batch_first, bidirectional, np.float64)
    load_from_torch(m, tm, np.float64)
    case = random_case(
        np.random.default_rng(seed), kind, num_layers, bidirectional, batch_first, np.float64, hx=False, dh_n=False
    )
    lengths = None if lengths_as is None else [T - 1, 1, T, 3]  # plain list
    ref = run_torch_layer(torch, tm, kind, case, lengths, batch_first, np.float64)
    got = run_rnnlab_layer(m, kind, case, lengths)
    compare(got, ref, kind, RTOL64)


@pytest.mark.parametrize("kind", KINDS)
def test_param_grads_accumulate_until_zero_grad(torch, kind):
    """Two backward passes add up in param.grad; zero_grad() starts afresh."""
    num_layers, bidirectional, batch_first = 2, True, False
    seed = seed_of("accumulate", kind)
    tm = make_torch_layer(torch, kind, D, H, num_layers, True, batch_first, bidirectional, np.float64, seed)
    m = make_rnnlab_layer(kind, D, H, num_layers, True, batch_first, bidirectional, np.float64)
    load_from_torch(m, tm, np.float64)
    rng = np.random.default_rng(seed)
    case_a = random_case(rng, kind, num_layers, bidirectional, batch_first, np.float64)
    case_b = random_case(rng, kind, num_layers, bidirectional, batch_first, np.float64)
    lengths_b = lengths_for("varied", T, B)
    ref_a = run_torch_layer(torch, tm, kind, case_a, None, batch_first, np.float64)
    ref_b = run_torch_layer(torch, tm, kind, case_b, lengths_b, batch_first, np.float64)

    def one_pass(case, lengths):
        lstm = kind == "lstm"
        hx = (case["h0"], case["c0"]) if lstm else case["h0"]
        dh_n = (case["dh"], case["dc"]) if lstm else case["dh"]
        m.forward(case["x"].copy(), hx=hx, lengths=lengths)
        m.backward(case["dout"].copy(), dh_n=dh_n)

    m.zero_grad()
    one_pass(case_a, None)
    one_pass(case_b, lengths_b)
    for name, p in m.named_parameters():
        assert_close(p.grad, ref_a["grads"][name] + ref_b["grads"][name], RTOL64, name=f"{name}.grad after two passes")
    m.zero_grad()
    one_pass(case_b, lengths_b)
    for name, p in m.named_parameters():
        assert_close(p.grad, ref_b["grads"][name], RTOL64, name=f"{name}.grad after zero_grad and one pass")


# --------------------------------------------------------------------------
# cells
# --------------------------------------------------------------------------


def make_cells(torch, kind, bias, seed):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    if kind.startswith("rnn_"):
        nl = kind[4:]
        tc = torch.nn.RNNCell(D, H, bias=bias, nonlinearity=nl)
        c = RNNCell(D, H, bias=bias, nonlinearity=nl, dtype=np.float64, rng=rng)
    elif kind == "lstm":
        tc = torch.nn.LSTMCell(D, H, bias=bias)
        c = LSTMCell(D, H, bias=bias, dtype=np.float64, rng=rng)
    else:
        tc = torch.nn.GRUCell(D, H, bias=bias)
        c = GRUCell(D, H, bias=bias, dtype=np.float64, rng=rng)
    tc = tc.double()
    load_from_torch(c, tc, np.float64)
    return tc, c


CELL_CASES = [
    (kind, bias, hx_given, dc_given)
    for kind in KINDS
    for bias in (True, False)
    for hx_given in (True, False)
    for dc_given in ((True, False) if kind == "lstm" else (False,))
]


@pytest.mark.parametrize(
    "kind,bias,hx_given,dc_given",
    CELL_CASES,
    ids=[
        f"{k}-{'bias' if b else 'nobias'}-{'hx' if h else 'hxNone'}"
        + ("" if k != "lstm" else ("-dc" if d else "-dcNone"))
        for k, b, h, d in CELL_CASES
    ],
)
def test_cell_matches_torch_float64(torch, kind, bias, hx_given, dc_given):
    lstm = kind == "lstm"
    seed = seed_of("cell", kind, bias, hx_given, dc_given)
    tc, c = make_cells(torch, kind, bias, seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, D))
    h0 = rng.standard_normal((B, H)) if hx_given else np.zeros((B, H))
    c0 = rng.standard_normal((B, H)) if hx_given else np.zeros((B, H))
    dh = rng.standard_normal((B, H))
    dc = rng.standard_normal((B, H)) if dc_given else None

    # torch (an hx=None zero state is an explicit zero leaf so it has a grad)
    xt = torch.tensor(x, requires_grad=True)
    h0t = torch.tensor(h0, requires_grad=True)
    c0t = torch.tensor(c0, requires_grad=True)
    tc.zero_grad()
    if lstm:
        ht, ct = tc(xt, (h0t, c0t))
        loss = (ht * torch.tensor(dh)).sum()
        if dc is not None:
            loss = loss + (ct * torch.tensor(dc)).sum()
    else:
        ht = tc(xt, h0t)
        loss = (ht * torch.tensor(dh)).sum()
    loss.backward()

    # rnnlab
    c.zero_grad()
    if lstm:
        hx = (h0.copy(), c0.copy()) if hx_given else None
        h, cc = c.forward(x.copy(), hx)
        assert_close(h, ht.detach().numpy(), RTOL64, name="h")
        assert_close(cc, ct.detach().numpy(), RTOL64, name="c")
        dx, (dh_prev, dc_prev) = c.backward((dh.copy(), None if dc is None else dc.copy()))
        assert_close(dc_prev, c0t.grad.numpy(), RTOL64, name="dc_prev")
    else:
        h = c.forward(x.copy(), h0.copy() if hx_given else None)
        assert_close(h, ht.detach().numpy(), RTOL64, name="h")
        dx, dh_prev = c.backward(dh.copy())
    assert_close(dx, xt.grad.numpy(), RTOL64, name="dx")
    assert_close(dh_prev, h0t.grad.numpy(), RTOL64, name="dh_prev")
    ref = {n: p.grad.numpy() for n, p in tc.named_parameters()}
    got = dict(c.named_parameters())
    assert sorted(got) == sorted(ref), f"cell parameter names {sorted(got)} != torch {sorted(ref)}"
    for n, g in ref.items():
        assert_close(got[n].grad, g, RTOL64, name=f"{n}.grad")


# --------------------------------------------------------------------------
# default initialisation
# --------------------------------------------------------------------------


INIT_CASES = [
    (kind, num_layers, bidirectional, bias)
    for kind in KINDS
    for num_layers in (1, 2, 3)
    for bidirectional in (False, True)
    for bias in (True, False)
]


@pytest.mark.parametrize(
    "kind,num_layers,bidirectional,bias",
    INIT_CASES,
    ids=[f"{k}-L{n}-{'bi' if b else 'uni'}-{'bias' if bb else 'nobias'}" for k, n, b, bb in INIT_CASES],
)
def test_default_init_matches_torch_distribution(torch, kind, num_layers, bidirectional, bias):
    """Names/shapes are torch's; every parameter is U(-1/sqrt(H), 1/sqrt(H))."""
    hidden = 64
    bound = 1.0 / np.sqrt(hidden)
    tm = make_torch_layer(torch, kind, 7, hidden, num_layers, bias, False, bidirectional, np.float32, seed=0)
    m = make_rnnlab_layer(
        kind,
        7,
        hidden,
        num_layers,
        bias,
        False,
        bidirectional,
        np.float32,
        seed=seed_of("init", kind, num_layers, bidirectional, bias),
    )
    ref_shapes = {k: tuple(v.shape) for k, v in tm.state_dict().items()}
    params = dict(m.named_parameters())
    assert {k: tuple(np.shape(p.data)) for k, p in params.items()} == ref_shapes
    sd = m.state_dict()
    assert {k: tuple(np.shape(v)) for k, v in sd.items()} == ref_shapes

    for name, p in params.items():
        a = np.asarray(p.data)
        assert a.dtype == np.float32, f"{name}: default dtype {a.dtype}"
        amax = float(np.abs(a).max())
        assert amax <= bound * (1 + 1e-6), f"{name}: max|w| {amax} > 1/sqrt(H) {bound}"
        # P(max of n |U| < q*bound) = q**n; both thresholds make that < 1e-6
        q = 0.9 if a.size >= 256 else 0.8
        assert amax > q * bound, f"{name}: max|w| {amax} <= {q}/sqrt(H); not U(-b, b)?"
    allw = np.concatenate([np.asarray(p.data, dtype=np.float64).ravel() for p in params.values()])
    # U(-b, b): mean 0, std b/sqrt(3); n >= 4k so these are > 5 sigma margins
    assert abs(allw.mean()) < 0.05 * bound, f"mean {allw.mean()}"
    assert abs(allw.std() / (bound / np.sqrt(3)) - 1) < 0.05, f"std {allw.std()}"
    assert np.mean(allw > 0) == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize("kind", KINDS)
def test_default_init_of_cells_matches_torch(torch, kind):
    hidden = 64
    bound = 1.0 / np.sqrt(hidden)
    for bias in (True, False):
        if kind.startswith("rnn_"):
            tc = torch.nn.RNNCell(7, hidden, bias=bias, nonlinearity=kind[4:])
            c = RNNCell(7, hidden, bias=bias, nonlinearity=kind[4:], rng=np.random.default_rng(1))
        elif kind == "lstm":
            tc = torch.nn.LSTMCell(7, hidden, bias=bias)
            c = LSTMCell(7, hidden, bias=bias, rng=np.random.default_rng(1))
        else:
            tc = torch.nn.GRUCell(7, hidden, bias=bias)
            c = GRUCell(7, hidden, bias=bias, rng=np.random.default_rng(1))
        ref_shapes = {k: tuple(v.shape) for k, v in tc.state_dict().items()}
        params = dict(c.named_parameters())
        assert {k: tuple(np.shape(p.data)) for k, p in params.items()} == ref_shapes
        for name, p in params.items():
            a = np.asarray(p.data)
            assert a.dtype == np.float32, f"{name}: default dtype {a.dtype}"
            amax = float(np.abs(a).max())
            assert bound * 0.8 < amax <= bound * (1 + 1e-6), f"{name}: max|w| {amax}"


@pytest.mark.parametrize("kind", KINDS)
def test_default_init_is_reproducible_from_rng(kind):
    def params(seed, dtype=np.float32):
        m = make_rnnlab_layer(kind, D, H, 2, True, False, True, dtype, seed=seed)
        return {n: np.array(p.data) for n, p in m.named_parameters()}

    a, b, c = params(5), params(5), params(6)
    assert sorted(a) == sorted(b) == sorted(c)
    for n in a:
        np.testing.assert_array_equal(a[n], b[n], err_msg=f"{n}: same rng seed, different init")
    assert any(not np.array_equal(a[n], c[n]) for n in a), "different rng seeds, same init"
    for n, v in params(5, np.float64).items():
        assert v.dtype == np.float64, f"{n}: dtype=float64 gave {v.dtype}"
