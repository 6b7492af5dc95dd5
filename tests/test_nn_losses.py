"""cross_entropy, mse, bce_with_logits: gradients against central differences, PyTorch as a
reference, stability at large logits, masks, and argument errors."""

import math

import numpy as np
import pytest

from rnnlab.nn.gradcheck import numeric_gradient
from rnnlab.nn.losses import bce_with_logits, cross_entropy, mse, nats_to_bits

T, B, C, K = 4, 3, 5, 6


def _assert_grad_matches_central(fn, x, *args, **kw):
    loss, grad = fn(x, *args, **kw)
    assert isinstance(loss, float) and grad.shape == x.shape and grad.dtype == x.dtype
    a = x.copy()
    numeric = numeric_gradient(lambda: fn(a, *args, **kw)[0], a)
    err = np.abs(grad - numeric).max() / max(np.abs(numeric).max(), 1e-12)
    assert err < 1e-7, f"relative error {err:.2e}"


def _data(seed=0):
    rng = np.random.default_rng(seed)
    logits = 3 * rng.standard_normal((T, B, C))
    targets = rng.integers(0, C, (T, B))
    mask = np.arange(T)[:, None] < np.array([4, 2, 1])[None, :]
    return rng, logits, targets, mask


# --- gradients against central differences -----------------------------------------------------
def test_central_difference_helper_rejects_a_wrong_gradient():
    _, logits, targets, _ = _data()

    def wrong(x, t):
        loss, grad = cross_entropy(x, t)
        return loss, grad * 1.01

    with pytest.raises(AssertionError, match="relative error"):
        _assert_grad_matches_central(wrong, logits, targets)


@pytest.mark.parametrize("variant", ["plain", "mask", "ignore_index", "both", "2d", "1d"])
def test_cross_entropy_gradient_matches_central_differences(variant):
    rng, logits, targets, mask = _data(1)
    targets[3, 2] = -100  # a padded step (length 1) for the mask, an ignored one for ignore_index
    kw = {
        "plain": {},
        "mask": {"mask": mask},
        "ignore_index": {"ignore_index": -100},
        "both": {"mask": mask, "ignore_index": -100},
    }.get(variant)
    if variant == "plain":
        targets[3, 2] = 0
    if variant == "2d":
        logits, targets, kw = logits[0], targets[1], {}
    if variant == "1d":
        logits, targets, kw = logits[0, 0], np.int64(3), {}
    _assert_grad_matches_central(cross_entropy, logits, targets, **kw)


@pytest.mark.parametrize("masked", [False, True])
def test_mse_gradient_matches_central_differences(masked):
    rng, _, _, mask = _data(2)
    pred, target = rng.standard_normal((T, B, K)), rng.standard_normal((T, B, K))
    _assert_grad_matches_central(mse, pred, target, mask=mask if masked else None)


@pytest.mark.parametrize("masked", [False, True])
def test_bce_with_logits_gradient_matches_central_differences(masked):
    rng, _, _, mask = _data(3)
    logits = 4 * rng.standard_normal((T, B, K))
    targets = rng.random((T, B, K)) < 0.3
    _assert_grad_matches_central(bce_with_logits, logits, targets, mask=mask if masked else None)


# --- PyTorch as the reference (float64, 1e-10) -------------------------------------------------
def _torch_value_and_grad(torch, f, x, *args, **kw):
    xt = torch.tensor(x, requires_grad=True)
    loss = f(xt, *args, **kw)
    loss.backward()
    return loss.item(), xt.grad.numpy()


def _assert_same(ours, theirs):
    assert ours[0] == pytest.approx(theirs[0], rel=0, abs=1e-10)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=0, atol=1e-10)


@pytest.mark.parametrize("scale", [1.0, 1e4])
def test_cross_entropy_matches_torch_with_ignore_index(torch, scale):
    _, logits, targets, _ = _data(4)
    logits *= scale
    targets[1, 0] = targets[3, 2] = -100
    F = torch.nn.functional
    theirs = _torch_value_and_grad(
        torch,
        lambda z: F.cross_entropy(
            z.reshape(-1, C), torch.from_numpy(targets.reshape(-1)), ignore_index=-100, reduction="mean"
        ),
        logits,
    )
    _assert_same(cross_entropy(logits, targets, ignore_index=-100), theirs)


def test_cross_entropy_mask_equals_torch_ignoring_the_masked_targets(torch):
    _, logits, targets, mask = _data(5)
    ignored = np.where(mask, targets, -100)
    F = torch.nn.functional
    theirs = _torch_value_and_grad(
        torch, lambda z: F.cross_entropy(z.reshape(-1, C), torch.from_numpy(ignored.reshape(-1))), logits
    )
    _assert_same(cross_entropy(logits, targets, mask=mask), theirs)


def test_mse_matches_torch(torch):
    rng = np.random.default_rng(6)
    pred, target = rng.standard_normal((T, B, K)), rng.standard_normal((T, B, K))
    theirs = _torch_value_and_grad(torch, torch.nn.functional.mse_loss, pred, torch.from_numpy(target))
    _assert_same(mse(pred, target), theirs)


@pytest.mark.parametrize("scale", [1.0, 1e4])
def test_bce_with_logits_matches_torch_with_soft_targets(torch, scale):
    rng = np.random.default_rng(7)
    logits, targets = scale * rng.standard_normal((T, B, K)), rng.random((T, B, K))
    targets[0, 0] = [0, 1, 0, 1, 0, 1]
    theirs = _torch_value_and_grad(
        torch, torch.nn.functional.binary_cross_entropy_with_logits, logits, torch.from_numpy(targets)
    )
    ours = bce_with_logits(logits, targets)
    assert ours[0] == pytest.approx(theirs[0], rel=1e-13)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=0, atol=1e-10)


# --- stability at large logits -----------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_is_finite_and_exact_at_logits_of_magnitude_1e4(dtype):
    logits = np.array([[1e4, 0.0, -1e4], [1e4, 0.0, -1e4], [-1e4, -1e4, -1e4]], dtype)
    loss, grad = cross_entropy(logits, np.array([0, 2, 1]))
    # per row: 0, 2e4, ln 3
    assert loss == pytest.approx((0 + 2e4 + math.log(3)) / 3, rel=1e-6)
    assert grad.dtype == dtype and np.isfinite(grad).all()
    np.testing.assert_allclose(grad, np.array([[0, 0, 0], [1, 0, -1], [1 / 3, -2 / 3, 1 / 3]]) / 3, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_with_logits_is_finite_and_exact_at_logits_of_magnitude_1e4(dtype):
    logits = np.array([1e4, -1e4, 1e4, -1e4], dtype)
    loss, grad = bce_with_logits(logits, np.array([1, 0, 0, 1]))
    assert loss == pytest.approx((0 + 0 + 1e4 + 1e4) / 4, rel=1e-6)
    assert grad.dtype == dtype
    np.testing.assert_allclose(grad, np.array([0, 0, 1, -1]) / 4, atol=1e-7)


# --- masks, dtypes, units ----------------------------------------------------------------------
def test_mask_broadcasts_over_trailing_dims_and_accepts_0_1_numbers():
    rng, _, _, mask = _data(8)
    logits, targets = rng.standard_normal((T, B, K)), rng.random((T, B, K)) < 0.5
    loss, grad = bce_with_logits(logits, targets, mask=mask.astype(np.float64))
    sub_loss, _ = bce_with_logits(logits[mask], targets[mask])  # only the valid steps, all K keys
    assert loss == pytest.approx(sub_loss, rel=1e-12)
    assert np.all(grad[~mask] == 0)
    pred, target = rng.standard_normal((T, B, K)), rng.standard_normal((T, B, K))
    assert (
        mse(pred, target, mask=np.array([[1, 0, 0]]))[0]
        == pytest.approx(  # size-1 dim broadcasts
            mse(pred[:, :1], target[:, :1])[0], rel=1e-12
        )
    )


def test_losses_keep_float32_and_return_python_floats():
    rng, logits, targets, mask = _data(9)
    x = logits.astype(np.float32)
    for loss, grad in (
        cross_entropy(x, targets, mask=mask),
        mse(x, np.zeros_like(x)),
        bce_with_logits(x, np.ones(x.shape, bool)),
    ):
        assert type(loss) is float and grad.dtype == np.float32 and grad.shape == x.shape


def test_uniform_prediction_costs_one_bit_per_binary_choice():
    loss, _ = cross_entropy(np.zeros((10, 2)), np.zeros(10, np.int64))
    assert loss == pytest.approx(math.log(2))
    assert nats_to_bits(loss) == pytest.approx(1.0)
    np.testing.assert_allclose(nats_to_bits(np.array([math.log(4)])), [2.0])


# --- errors ------------------------------------------------------------------------------------
def test_cross_entropy_rejects_bad_targets_shapes_and_empty_selections():
    _, logits, targets, mask = _data(10)
    bad = targets.copy()
    bad[2, 1] = C + 2
    with pytest.raises(ValueError, match=r"\[0, 5\).*got 7"):
        cross_entropy(logits, bad)
    bad[2, 1] = -3
    with pytest.raises(ValueError, match="got -3"):
        cross_entropy(logits, bad)
    bad[2, 1] = 9
    cross_entropy(logits, bad, mask=np.arange(T)[:, None] != 2)  # masked: not checked
    bad[2, 1] = -100
    cross_entropy(logits, bad, ignore_index=-100)  # ignored: not checked
    with pytest.raises(ValueError, match="no valid position"):
        cross_entropy(logits, targets, mask=np.zeros((T, B), bool))
    with pytest.raises(ValueError, match="no valid position"):
        cross_entropy(logits, np.full((T, B), -100), ignore_index=-100)
    with pytest.raises(TypeError, match="integer"):
        cross_entropy(logits, targets.astype(float))
    with pytest.raises(ValueError, match=r"targets has shape \(3, 4\), expected \(4, 3\)"):
        cross_entropy(logits, targets.T)
    with pytest.raises(ValueError, match=r"mask has shape \(3,\)"):
        cross_entropy(logits, targets, mask=np.ones(B, bool))
    with pytest.raises(ValueError, match="0/1"):
        cross_entropy(logits, targets, mask=2 * mask.astype(int))
    with pytest.raises(TypeError, match="float32 or float64"):
        cross_entropy(logits.astype(int), targets)
    with pytest.raises(ValueError, match="NaN"):
        cross_entropy(np.full((2, 3), np.nan), np.zeros(2, int))


def test_mse_and_bce_reject_bad_shapes_targets_and_empty_masks():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((T, B, K))
    with pytest.raises(ValueError, match=r"target has shape \(4, 3\), expected \(4, 3, 6\)"):
        mse(x, x[..., 0])
    with pytest.raises(ValueError, match="no valid element"):
        mse(x, x, mask=np.zeros(T, bool))
    with pytest.raises(ValueError, match=r"\[0, 1\].*got 2"):
        bce_with_logits(x, np.full(x.shape, 2.0))
    y = np.zeros(x.shape)
    y[3] = 2.0
    bce_with_logits(x, y, mask=np.arange(T) < 3)  # masked: not checked
    with pytest.raises(ValueError, match="no valid element"):
        bce_with_logits(x, np.zeros(x.shape), mask=np.zeros((T, B), bool))
    with pytest.raises(ValueError, match="NaN"):
        mse(x, np.full(x.shape, np.inf))
