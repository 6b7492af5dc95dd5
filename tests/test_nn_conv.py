"""Conv2d, MaxPool2d, Flatten: PyTorch as a reference over random shapes, finite differences in
float64, state dicts, MaxPool ties and overlapping windows, argument errors."""

import numpy as np
import pytest

from rnnlab.nn import Conv2d, Flatten, Linear, MaxPool2d, Sequential
from rnnlab.nn.gradcheck import gradcheck

TOL = {np.float64: 1e-10, np.float32: 1e-5}


def _assert_small(errors, tol=1e-6):
    worst = max(errors, key=errors.get)
    assert errors[worst] < tol, f"{worst}: relative error {errors[worst]:.2e} (all: {errors})"


def _random_geometry(rng):
    """Kernel 1-5, stride 1-3, padding 0-2 (each (h, w), rectangular), an input large enough."""
    k = tuple(int(v) for v in rng.integers(1, 6, 2))
    s = tuple(int(v) for v in rng.integers(1, 4, 2))
    p = tuple(int(v) for v in rng.integers(0, 3, 2))
    hw = tuple(int(max(1, kk - 2 * pp + rng.integers(0, 6))) for kk, pp in zip(k, p))
    return k, s, p, hw


def _torch_run(torch, ref, x, w):
    """ref(x) and the gradient of sum(ref(x) * w) with respect to x."""
    xt = torch.tensor(x, requires_grad=True)
    yt = ref(xt)
    (yt * torch.from_numpy(w)).sum().backward()
    return yt.detach().numpy(), xt.grad.numpy()


def _close(a, b, tol):
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape, a.dtype, b.dtype)
    np.testing.assert_allclose(a, b, rtol=0, atol=tol * max(1.0, np.abs(b).max(initial=0.0)))


# --- torch as a reference -----------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(12))
def test_conv2d_matches_torch_outputs_and_gradients(torch, seed, dtype):
    rng = np.random.default_rng(seed)
    k, s, p, (H, W) = _random_geometry(rng)
    N, C, O = (int(v) for v in rng.integers(1, 4, 3))
    bias = seed % 4 != 3
    m = Conv2d(C, O, k, stride=s, padding=p, bias=bias, dtype=dtype, rng=rng)
    ref = torch.nn.Conv2d(C, O, k, stride=s, padding=p, bias=bias).to(torch.float64 if dtype is np.float64 else None)
    ref.load_state_dict({name: torch.from_numpy(v) for name, v in m.state_dict().items()})
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    y = m.forward(x)
    w = rng.standard_normal(y.shape).astype(dtype)
    dx = m.backward(w)
    yt, dxt = _torch_run(torch, ref, x, w)
    tol = TOL[dtype]
    _close(y, yt, tol)
    _close(dx, dxt, tol)
    _close(m.weight.grad, ref.weight.grad.numpy(), tol)
    if bias:
        _close(m.bias.grad, ref.bias.grad.numpy(), tol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(12))
def test_maxpool2d_matches_torch_outputs_and_gradients(torch, seed, dtype):
    rng = np.random.default_rng(100 + seed)
    k, s, _, (H, W) = _random_geometry(rng)
    p = tuple(int(rng.integers(0, kk // 2 + 1)) for kk in k)  # torch allows at most half the kernel
    stride = None if seed % 3 == 0 else s
    m = MaxPool2d(k, stride, p)
    ref = torch.nn.MaxPool2d(k, stride, p)
    shape = (int(rng.integers(1, 3)), int(rng.integers(1, 4)), max(H + 2, k[0]), max(W + 2, k[1]))
    x = rng.standard_normal(shape).astype(dtype)
    if seed % 2:  # many ties: values from a small set
        x = rng.integers(0, 3, x.shape).astype(dtype)
    y = m.forward(x)
    w = rng.standard_normal(y.shape).astype(dtype)
    yt, dxt = _torch_run(torch, ref, x, w)
    _close(y, yt, 0)
    _close(m.backward(w), dxt, TOL[dtype])


def test_flatten_matches_torch_for_its_dims(torch):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4, 5))
    for start, end in [(1, -1), (0, -1), (1, 2), (-3, -2), (2, 2)]:
        m, ref = Flatten(start, end), torch.nn.Flatten(start, end)
        y = m.forward(x)
        w = rng.standard_normal(y.shape)
        yt, dxt = _torch_run(torch, ref, x, w)
        _close(y, yt, 0)
        _close(m.backward(w), dxt, 0)


def test_unbatched_input_matches_torch(torch):
    rng = np.random.default_rng(1)
    m = Conv2d(2, 3, 3, padding=1, dtype=np.float64, rng=rng)
    ref = torch.nn.Conv2d(2, 3, 3, padding=1).double()
    ref.load_state_dict({name: torch.from_numpy(v) for name, v in m.state_dict().items()})
    x = rng.standard_normal((2, 5, 4))
    for module, reference in [(m, ref), (MaxPool2d(2), torch.nn.MaxPool2d(2))]:
        y = module.forward(x)
        w = rng.standard_normal(y.shape)
        yt, dxt = _torch_run(torch, reference, x, w)
        _close(y, yt, 1e-12)
        _close(module.backward(w), dxt, 1e-12)


# --- finite differences -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "k, s, p, bias",
    [(3, 1, 1, True), ((2, 3), (2, 1), (0, 2), False), (1, 2, 0, True), ((3, 2), 3, (2, 1), True)],
)
def test_conv2d_backward_matches_finite_differences(k, s, p, bias):
    rng = np.random.default_rng(0)
    m = Conv2d(2, 3, k, stride=s, padding=p, bias=bias, dtype=np.float64, rng=rng)
    _assert_small(gradcheck(m, rng.standard_normal((2, 2, 5, 4)), rng=rng))


@pytest.mark.parametrize("k, s, p", [(2, None, 0), (3, 1, 1), ((3, 2), (2, 1), (1, 0))])
def test_maxpool2d_and_flatten_backward_match_finite_differences(k, s, p):
    rng = np.random.default_rng(0)
    x = rng.permutation(2 * 2 * 5 * 6).reshape(2, 2, 5, 6) * 0.1  # distinct values: no ties, a smooth max
    _assert_small(gradcheck(MaxPool2d(k, s, p), x, rng=rng))
    _assert_small(gradcheck(Flatten(), x, rng=rng))


def test_a_small_cnn_in_sequential_matches_finite_differences():
    rng = np.random.default_rng(3)
    f64 = dict(dtype=np.float64, rng=rng)
    net = Sequential(
        Conv2d(1, 2, 3, padding=1, **f64), MaxPool2d(2), Conv2d(2, 2, 2, **f64), Flatten(), Linear(2, 3, **f64)
    )
    assert [n for n, _ in net.named_parameters()] == [
        "0.weight",
        "0.bias",
        "2.weight",
        "2.bias",
        "4.weight",
        "4.bias",
    ]
    _assert_small(gradcheck(net, rng.standard_normal((2, 1, 4, 5)), rng=rng))


def test_the_finite_difference_check_catches_a_wrong_backward():
    class Wrong(Conv2d):
        def backward(self, dout):
            return super().backward(dout) * 1.01

    rng = np.random.default_rng(0)
    errors = gradcheck(Wrong(2, 2, 3, dtype=np.float64, rng=rng), rng.standard_normal((1, 2, 4, 4)), rng=rng)
    assert errors["x"] > 1e-3 and errors["weight"] < 1e-6


# --- state dicts, init, dtypes ------------------------------------------------------------------
def test_state_dict_names_and_shapes_match_torch_and_torch_weights_load(torch):
    rng = np.random.default_rng(0)
    ref = torch.nn.Conv2d(3, 5, (2, 4), stride=2, padding=1)
    m = Conv2d(3, 5, (2, 4), stride=2, padding=1, rng=rng)
    torch_state = {name: v.detach().numpy() for name, v in ref.state_dict().items()}
    assert {n: v.shape for n, v in m.state_dict().items()} == {n: v.shape for n, v in torch_state.items()}
    assert list(m.state_dict()) == list(torch_state)
    m.load_state_dict(torch_state)
    x = rng.standard_normal((2, 3, 6, 7)).astype(np.float32)
    _close(m.forward(x), ref(torch.from_numpy(x)).detach().numpy(), 1e-5)
    assert list(Conv2d(3, 5, 2, bias=False).state_dict()) == list(torch.nn.Conv2d(3, 5, 2, bias=False).state_dict())
    assert MaxPool2d(2).state_dict() == {} and Flatten().state_dict() == {}


def test_conv2d_init_is_torch_default_bound_and_float32():
    m = Conv2d(4, 64, (3, 5), rng=np.random.default_rng(0))
    bound = 1 / np.sqrt(4 * 3 * 5)
    for p in (m.weight.data, m.bias.data):
        assert p.dtype == np.float32 and bound >= np.abs(p).max() > 0.7 * bound
    assert m.weight.data.shape == (64, 4, 3, 5) and m.bias.data.shape == (64,)


def test_conv2d_gradients_accumulate_and_train_eval_change_nothing():
    rng = np.random.default_rng(0)
    m = Conv2d(2, 3, 2, stride=2, dtype=np.float64, rng=rng)
    x = rng.standard_normal((2, 2, 4, 4))
    y = m.forward(x)
    m.backward(np.ones_like(y))
    once = m.weight.grad.copy(), m.bias.grad.copy()
    m.backward(np.ones_like(y))
    np.testing.assert_allclose(m.weight.grad, 2 * once[0])
    np.testing.assert_allclose(m.bias.grad, 2 * once[1])
    np.testing.assert_array_equal(m.eval().forward(x), y)
    assert not m.training and m.train().training


def test_pooling_and_flatten_keep_the_input_dtype():
    for dtype in (np.float32, np.float64):
        x = np.arange(2 * 3 * 4 * 4, dtype=dtype).reshape(2, 3, 4, 4)
        net = Sequential(MaxPool2d(2), Flatten())
        y = net.forward(x)
        assert y.shape == (2, 12) and y.dtype == dtype
        dx = net.backward(np.ones_like(y))
        assert dx.dtype == dtype and dx.sum() == 24 and (dx[:, :, 1::2, 1::2] == 1).all()


# --- MaxPool ties and overlaps ------------------------------------------------------------------
def test_maxpool_ties_go_to_the_first_maximum_in_row_major_order(torch):
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 2] = x[0, 0, 2, 1] = 1.0  # two equal maxima in the one 3x3 window
    m = MaxPool2d(3)
    m.forward(x)
    dx = m.backward(np.ones((1, 1, 1, 1)))
    assert dx[0, 0, 1, 2] == 1 and dx.sum() == 1
    _, dxt = _torch_run(torch, torch.nn.MaxPool2d(3), x, np.ones((1, 1, 1, 1)))
    np.testing.assert_array_equal(dx, dxt)
    flat = np.zeros((1, 1, 4, 4))  # all equal: every window picks its top-left element
    m = MaxPool2d(2)
    m.forward(flat)
    dx = m.backward(np.ones((1, 1, 2, 2)))
    assert (dx[0, 0, ::2, ::2] == 1).all() and dx.sum() == 4
    np.testing.assert_array_equal(dx, _torch_run(torch, torch.nn.MaxPool2d(2), flat, np.ones((1, 1, 2, 2)))[1])


def test_maxpool_overlapping_windows_accumulate_like_torch(torch):
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1, 1] = 5.0  # the maximum of all four 3x3 windows with stride 1
    m = MaxPool2d(3, stride=1)
    y = m.forward(x)
    w = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    dx = m.backward(w)
    assert (y == 5).all() and dx[0, 0, 1, 1] == 10 and dx.sum() == 10
    np.testing.assert_array_equal(dx, _torch_run(torch, torch.nn.MaxPool2d(3, stride=1), x, w)[1])


def test_maxpool_padding_never_wins_over_negative_inputs(torch):
    x = -1 - np.arange(16.0).reshape(1, 1, 4, 4)
    m = MaxPool2d(3, stride=2, padding=1)
    y = m.forward(x)
    w = np.ones_like(y)
    yt, dxt = _torch_run(torch, torch.nn.MaxPool2d(3, stride=2, padding=1), x, w)
    np.testing.assert_array_equal(y, yt)
    np.testing.assert_array_equal(m.backward(w), dxt)


# --- argument errors ----------------------------------------------------------------------------
def test_conv2d_rejects_bad_inputs_with_one_line_errors():
    m = Conv2d(3, 4, 3)
    cases = [
        (ValueError, r"x must be 3-D or 4-D, got shape \(3, 5\)", np.zeros((3, 5), np.float32)),
        (ValueError, r"expected \(N, in_channels=3, H, W\)", np.zeros((1, 2, 5, 5), np.float32)),
        (ValueError, r"padded size \(2, 5\).*smaller than kernel_size \(3, 3\)", np.zeros((1, 3, 2, 5), np.float32)),
        (TypeError, "float64", np.zeros((1, 3, 5, 5))),
    ]
    for error, message, x in cases:
        with pytest.raises(error, match=message) as info:
            m.forward(x)
        assert "\n" not in str(info.value)
    m.forward(np.zeros((1, 3, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"dout has shape \(1, 4, 3, 2\), expected \(1, 4, 3, 3\)"):
        m.backward(np.zeros((1, 4, 3, 2), np.float32))
    for kwargs, name in [
        (dict(kernel_size=0), "kernel_size"),
        (dict(kernel_size=(2, 2, 2)), "kernel_size"),
        (dict(kernel_size=2, stride=0), "stride"),
        (dict(kernel_size=2, padding=-1), "padding"),
        (dict(kernel_size=True), "kernel_size"),
    ]:
        with pytest.raises(ValueError, match=name):
            Conv2d(3, 4, **kwargs)
    with pytest.raises(ValueError, match="in_channels"):
        Conv2d(0, 4, 3)


def test_pooling_and_flatten_reject_bad_inputs():
    with pytest.raises(ValueError, match="at most half of kernel_size"):
        MaxPool2d(2, padding=2)
    with pytest.raises(ValueError, match=r"x must be 3-D or 4-D"):
        MaxPool2d(2).forward(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="smaller than kernel_size"):
        MaxPool2d(3).forward(np.zeros((1, 1, 2, 5)))
    with pytest.raises(ValueError, match="cannot flatten"):
        Flatten().forward(np.zeros(3))
    with pytest.raises(ValueError, match="start_dim"):
        Flatten(start_dim=1.5)


@pytest.mark.parametrize("make", [lambda: Conv2d(1, 1, 1), lambda: MaxPool2d(2), Flatten])
def test_backward_before_forward_raises(make):
    with pytest.raises(ValueError, match="forward"):
        make().backward(np.zeros((1, 1, 1, 1), np.float32))
