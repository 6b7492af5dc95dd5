"""Gradient clipping: torch.nn.utils as the reference, non-finite norms, in place, arguments."""

import math
import warnings

import numpy as np
import pytest

from rnnlab.nn.clip import clip_grad_norm_, clip_grad_value_
from rnnlab.nn.core import Param

SHAPES = {"weight_ih_l0": (4, 3), "weight_hh_l0": (4, 1), "bias_ih_l0": (4,)}


def make_params(seed=0, scale=1.0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    params = []
    for name, shape in SHAPES.items():
        p = Param(np.zeros(shape, dtype))
        p.grad[...] = scale * rng.standard_normal(shape)
        params.append((name, p))
    return params


def torch_copies(torch, params):
    tensors = []
    for _, p in params:
        t = torch.zeros(
            p.data.shape, dtype=torch.float64 if p.data.dtype == np.float64 else torch.float32, requires_grad=True
        )
        t.grad = torch.from_numpy(p.grad.copy())
        tensors.append(t)
    return tensors


def global_norm(params, norm_type):
    flat = np.concatenate([p.grad.ravel() for _, p in params])
    if norm_type == math.inf:
        return np.max(np.abs(flat))
    return np.sum(np.abs(flat) ** norm_type) ** (1 / norm_type)


def _with_grads(grads):
    params = []
    for g in grads:
        p = Param(np.zeros_like(g))
        p.grad[...] = g
        params.append(("", p))
    return params


@pytest.mark.parametrize("norm_type", [2.0, math.inf, 1.0, 3.0])
@pytest.mark.parametrize("max_norm", [0.5, 100.0], ids=["clipped", "below-max_norm"])
def test_clip_grad_norm_matches_torch(torch, norm_type, max_norm):
    params = make_params()
    tparams = torch_copies(torch, params)
    total = clip_grad_norm_(params, max_norm, norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tparams, max_norm, norm_type, foreach=False)
    assert isinstance(total, float)
    assert total == pytest.approx(float(ttotal), rel=1e-12)
    for (name, p), t in zip(params, tparams):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12, atol=0, err_msg=name)


@pytest.mark.parametrize("norm_type", [2.0, math.inf])
def test_clip_grad_norm_returns_the_norm_before_and_leaves_max_norm_after(norm_type):
    params = make_params(scale=10.0)
    before = [p.grad.copy() for _, p in params]
    grads = [p.grad for _, p in params]
    total = clip_grad_norm_(params, 1.0, norm_type)
    assert total == pytest.approx(global_norm(_with_grads(before), norm_type), rel=1e-12)
    assert global_norm(params, norm_type) == pytest.approx(1.0, rel=1e-5)  # 1e-6 in the denominator
    assert all(p.grad is g for (_, p), g in zip(params, grads))  # in place
    for (_, p), b in zip(params, before):  # the direction is kept
        np.testing.assert_allclose(p.grad * total, b, rtol=1e-5)


def test_clip_grad_norm_below_max_norm_leaves_grads_bitwise_unchanged():
    params = make_params()
    before = [p.grad.copy() for _, p in params]
    clip_grad_norm_([p for _, p in params], 1e6)
    for (_, p), b in zip(params, before):
        np.testing.assert_array_equal(p.grad, b)


def test_clip_grad_norm_float32_matches_torch(torch):
    params = make_params(dtype=np.float32, scale=3.0)
    tparams = torch_copies(torch, params)
    total = clip_grad_norm_(params, 1.0)
    ttotal = torch.nn.utils.clip_grad_norm_(tparams, 1.0, foreach=False)
    assert total == pytest.approx(float(ttotal), rel=1e-6)
    for (_, p), t in zip(params, tparams):
        assert p.grad.dtype == np.float32
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-5)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
@pytest.mark.parametrize("norm_type", [2.0, math.inf])
def test_error_if_nonfinite_raises_and_leaves_grads_untouched(bad, norm_type):
    params = make_params()
    params[1][1].grad[0, 0] = bad
    before = [p.grad.copy() for _, p in params]
    with pytest.raises(FloatingPointError, match="norm"):
        clip_grad_norm_(params, 1.0, norm_type, error_if_nonfinite=True)
    for (_, p), b in zip(params, before):
        np.testing.assert_array_equal(p.grad, b)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
@pytest.mark.parametrize("max_norm", [1.0, math.inf])
def test_nonfinite_norm_without_error_scales_like_torch(torch, bad, max_norm):
    """torch scales by the coefficient however it came out: NaN for a NaN norm, 0 for an
    infinite one (NaN where the gradient is infinite), NaN for inf / inf."""
    params = make_params()
    params[1][1].grad[0, 0] = bad
    tparams = torch_copies(torch, params)
    total = clip_grad_norm_(params, max_norm)
    ttotal = torch.nn.utils.clip_grad_norm_(tparams, max_norm, foreach=False)
    np.testing.assert_equal(total, float(ttotal))
    for (_, p), t in zip(params, tparams):
        np.testing.assert_array_equal(p.grad, t.grad.numpy())  # NaN equals NaN here


@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.0])
def test_a_norm_that_overflows_float32_is_inf_without_a_warning(norm_type):
    """Finite float32 gradients whose norm exceeds float32's range: inf, the non-finite case the
    callers handle, and no RuntimeWarning in the user's log."""
    p = Param(np.full((4, 4), 3e38 if norm_type == 1.0 else 1e30, np.float32))
    p.grad = p.data.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert clip_grad_norm_([("w", p)], 1.0, norm_type) == math.inf


def test_clip_grad_norm_takes_named_params_a_single_param_and_nothing():
    named = make_params()
    assert clip_grad_norm_(iter(named), 1e9) == pytest.approx(global_norm(named, 2.0), rel=1e-12)
    single = named[0][1]
    assert clip_grad_norm_(single, 1e9) == pytest.approx(np.linalg.norm(single.grad), rel=1e-12)
    assert clip_grad_norm_([], 1.0) == 0.0


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"max_norm": -1.0}, ValueError, "max_norm"),
        ({"max_norm": math.nan}, ValueError, "max_norm"),
        ({"max_norm": 1.0, "norm_type": 0.0}, ValueError, "norm_type"),
        ({"max_norm": "1"}, TypeError, "max_norm"),
    ],
)
def test_clip_grad_norm_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        clip_grad_norm_(make_params(), **kwargs)
    with pytest.raises(TypeError, match=r"params\[0\]"):
        clip_grad_norm_([np.zeros(3)], 1.0)


def test_clip_grad_value_matches_torch_in_place(torch):
    params = make_params(scale=2.0)
    params[0][1].grad[0, 0] = math.nan
    tparams = torch_copies(torch, params)
    grads = [p.grad for _, p in params]
    assert clip_grad_value_(params, 0.7) is None
    torch.nn.utils.clip_grad_value_(tparams, 0.7, foreach=False)
    for (name, p), t, g in zip(params, tparams, grads):
        assert p.grad is g
        np.testing.assert_array_equal(p.grad, t.grad.numpy(), err_msg=name)
    assert np.nanmax(np.abs(np.concatenate([g.ravel() for g in grads]))) == 0.7


def test_clip_grad_value_rejects_a_negative_clip_value():
    with pytest.raises(ValueError, match="clip_value"):
        clip_grad_value_(make_params(), -1.0)
