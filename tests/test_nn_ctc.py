"""ctc_loss, ctc_greedy_decode, ctc_beam_decode: the loss against brute-force path enumeration,
central differences and torch.nn.functional.ctc_loss (loss and autograd gradient, every
reduction, padded and concatenated targets, repeats, impossible alignments, zero_infinity,
blank not 0, float32); the decoders against hand-made cases and exhaustive search; argument errors."""

import itertools
import math

import numpy as np
import pytest

from rnnlab.nn.ctc import ctc_beam_decode, ctc_greedy_decode, ctc_loss
from rnnlab.nn.gradcheck import numeric_gradient


def _log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _collapse(path, blank=0):
    return tuple(c for i, c in enumerate(path) if c != blank and (i == 0 or c != path[i - 1]))


def _labelling_log_probs(y, blank=0):
    """{labelling: log p(labelling)} for one sequence y (T, C), by enumerating all C**T paths."""
    T, C = y.shape
    total = {}
    for path in itertools.product(range(C), repeat=T):
        p = math.exp(sum(y[t, c] for t, c in enumerate(path)))
        key = _collapse(path, blank)
        total[key] = total.get(key, 0.0) + p
    return {k: math.log(v) for k, v in total.items()}


def _random_case(rng, dtype=np.float64):
    """One random batch: log_probs (T, N, C), padded targets (N, S), lengths, blank, or concatenated
    targets; some samples get repeated labels, input lengths at the minimum or below it."""
    T, N, C, S = int(rng.integers(1, 12)), int(rng.integers(1, 5)), int(rng.integers(2, 7)), int(rng.integers(0, 7))
    blank = int(rng.integers(0, C))
    labels = np.array([c for c in range(C) if c != blank])
    targets = rng.choice(labels, (N, S)) if S else np.zeros((N, 0), np.int64)
    if S >= 2 and rng.random() < 0.5:
        targets[:, 1] = targets[:, 0]  # an adjacent repeat
    target_lengths = rng.integers(0, S + 1, N)
    input_lengths = rng.integers(0, T + 1, N)
    for n in range(N):
        if rng.random() < 0.3:  # exactly the minimum length S + repeats (if it fits), or one less
            tg = targets[n, : target_lengths[n]]
            need = int(target_lengths[n] + np.sum(tg[1:] == tg[:-1]))
            input_lengths[n] = min(T, max(0, need - int(rng.integers(0, 2))))
    log_probs = _log_softmax(2 * rng.standard_normal((T, N, C))).astype(dtype)
    if rng.random() < 0.5:
        targets = np.concatenate([targets[n, : target_lengths[n]] for n in range(N)]).astype(np.int64)
    else:
        targets[np.arange(S)[None, :] >= target_lengths[:, None]] = -1 if rng.random() < 0.5 else blank  # ignored
    return log_probs, targets, input_lengths, target_lengths, blank


def _torch_ctc(torch, log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity):
    x = torch.tensor(log_probs, requires_grad=True)
    loss = torch.nn.functional.ctc_loss(
        x,
        torch.tensor(np.maximum(targets, 0)),  # torch reads no padding, but indexes it: keep it >= 0
        torch.tensor(input_lengths),
        torch.tensor(target_lengths),
        blank=blank,
        reduction=reduction,
        zero_infinity=zero_infinity,
    )
    loss.sum().backward()
    return loss.detach().numpy(), x.grad.numpy()


def _max_diff(a, b):
    """max |a - b| over the elements, requiring NaN and inf at the same places."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert np.array_equal(np.isnan(a), np.isnan(b)), "NaN at different places"
    assert np.array_equal(np.isinf(a), np.isinf(b)) and np.array_equal(a[np.isinf(a)], b[np.isinf(b)])
    ok = np.isfinite(a)
    return float(np.abs(a[ok] - b[ok]).max()) if ok.any() else 0.0


# --- the loss without torch ---------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(3))
def test_loss_equals_minus_log_of_the_summed_paths(seed):
    rng = np.random.default_rng(seed)
    T, C = 5, 3
    y = _log_softmax(rng.standard_normal((T, C)))
    probs = _labelling_log_probs(y)
    for target in [(1,), (1, 2), (1, 1), (2, 1, 2), (1, 1, 2)]:
        loss, _ = ctc_loss(y[:, None], np.array([target]), [T], [len(target)], reduction="sum")
        assert loss == pytest.approx(-probs[target], rel=1e-12)
    loss, _ = ctc_loss(y[:, None], np.zeros((1, 0), np.int64), [T], [0], reduction="sum")
    assert loss == pytest.approx(-probs[()], rel=1e-12)  # the empty target: all blanks


def test_impossible_alignment_is_infinite_and_zero_infinity_zeroes_it():
    rng = np.random.default_rng(0)
    y = _log_softmax(rng.standard_normal((6, 2, 4)))
    targets = np.array([[1, 1, 2, 2], [3, 0, 0, 0]])  # needs T >= 4 + 2 repeats = 6 for sample 0
    loss, grad = ctc_loss(y, targets, [6, 6], [4, 1], reduction="none")
    assert np.isfinite(loss).all()  # exactly the minimum length: one path
    loss, grad = ctc_loss(y, targets, [5, 6], [4, 1], reduction="none")
    assert loss[0] == np.inf and np.isfinite(loss[1])
    assert np.isnan(grad[:5, 0]).all() and (grad[5, 0] == 0).all()  # as torch: NaN within the input
    loss0, grad0 = ctc_loss(y, targets, [5, 6], [4, 1], reduction="none", zero_infinity=True)
    assert loss0[0] == 0 and (grad0[:, 0] == 0).all()
    np.testing.assert_array_equal(loss0[1], loss[1])
    np.testing.assert_array_equal(grad0[:, 1], grad[:, 1])


def test_padded_and_concatenated_targets_agree_and_padding_is_ignored():
    rng = np.random.default_rng(1)
    y = _log_softmax(rng.standard_normal((9, 3, 5)))
    padded = np.array([[1, 2, 2, -7], [4, 9, 9, 9], [3, 1, 3, 1]])
    lengths = [3, 1, 4]
    concatenated = np.array([1, 2, 2, 4, 3, 1, 3, 1])
    for reduction in ("none", "sum", "mean"):
        a, ga = ctc_loss(y, padded, [9, 7, 8], lengths, reduction=reduction)
        b, gb = ctc_loss(y, concatenated, [9, 7, 8], lengths, reduction=reduction)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(ga, gb)
        assert (ga[7:, 1] == 0).all() and (ga[8:, 2] == 0).all()  # nothing past an input's length


def test_reductions_and_shapes():
    rng = np.random.default_rng(2)
    y = _log_softmax(rng.standard_normal((8, 3, 4))).astype(np.float32)
    targets, il, tl = np.array([[1, 2], [3, 3], [2, 1]]), [8, 8, 5], [2, 2, 0]
    per, g_none = ctc_loss(y, targets, il, tl, reduction="none")
    assert per.shape == (3,) and per.dtype == np.float32 and g_none.shape == y.shape and g_none.dtype == np.float32
    total, g_sum = ctc_loss(y, targets, il, tl, reduction="sum")
    mean, g_mean = ctc_loss(y, targets, il, tl, reduction="mean")
    assert isinstance(total, float) and isinstance(mean, float)
    assert total == pytest.approx(per.sum(), rel=1e-6)
    assert mean == pytest.approx(np.mean(per / np.array([2, 2, 1])), rel=1e-6)  # target length clamped to 1
    np.testing.assert_allclose(g_mean, g_sum / np.array([6, 6, 3])[None, :, None], rtol=1e-6, atol=1e-8)
    one, g_one = ctc_loss(y[:, 0], targets[0], 8, 2, reduction="none")  # unbatched (T, C)
    assert np.shape(one) == () and g_one.shape == (8, 4)
    np.testing.assert_array_equal(one, per[0])
    np.testing.assert_array_equal(g_one, g_none[:, 0])


# --- gradient against central differences -------------------------------------------------------
def _grad_error(fn, x):
    analytic = fn(x)[1]
    numeric = numeric_gradient(lambda: fn(x)[0], x)
    return np.abs(analytic - numeric).max() / max(np.abs(numeric).max(), 1e-12)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_gradient_matches_central_differences_through_log_softmax(reduction):
    """The returned gradient (7) is the gradient with respect to the logits z of log_softmax(z):
    d/dz = g - softmax(z) sum_c g, and sum_c g = 1 - sum_s gamma = 0."""
    rng = np.random.default_rng(3)
    z = rng.standard_normal((7, 3, 4))
    targets, il, tl = np.array([[1, 1, 2], [3, 2, 0], [2, 0, 0]]), [7, 6, 4], [3, 2, 1]

    def through_log_softmax(z):
        return ctc_loss(_log_softmax(z), targets, il, tl, reduction=reduction)

    assert _grad_error(through_log_softmax, z) < 1e-7

    def wrong(z):
        loss, grad = through_log_softmax(z)
        return loss, grad * 1.01

    assert _grad_error(wrong, z) > 1e-3  # the check can fail


def test_gradient_of_free_log_probs_is_minus_the_occupancy():
    """Differentiated as a free input, (3) gives -sum gamma; (7) adds exp(y) (torch's convention)."""
    rng = np.random.default_rng(4)
    y = _log_softmax(rng.standard_normal((6, 2, 3)))
    targets, il, tl = np.array([[1, 2], [2, 2]]), [6, 5], [2, 2]
    loss, grad = ctc_loss(y, targets, il, tl, reduction="sum")
    numeric = numeric_gradient(lambda: ctc_loss(y, targets, il, tl, reduction="sum")[0], y)
    valid = (np.arange(6)[:, None] < np.array(il)[None, :])[..., None]
    np.testing.assert_allclose(grad - np.exp(y) * valid, numeric, atol=1e-7)


# --- torch as the reference ---------------------------------------------------------------------
@pytest.fixture
def torch1(torch):
    """torch on one intra-op thread for these tiny calls (a busy 2-core machine otherwise spends
    milliseconds per call in thread hand-off); the previous count is restored."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(threads)


@pytest.mark.parametrize("seed", range(4))
def test_matches_torch_float64(torch1, seed):
    rng = np.random.default_rng(100 + seed)
    worst, infinite = 0.0, 0
    for _ in range(30):
        case = _random_case(rng)
        for reduction in ("none", "sum", "mean"):
            for zero_infinity in (False, True):
                loss, grad = ctc_loss(*case, reduction=reduction, zero_infinity=zero_infinity)
                ref_loss, ref_grad = _torch_ctc(torch1, *case, reduction, zero_infinity)
                worst = max(worst, _max_diff(loss, ref_loss), _max_diff(grad, ref_grad))
                infinite += int(np.isinf(loss).any())
    assert worst < 1e-10, worst
    assert infinite > 0  # impossible alignments were exercised


@pytest.mark.parametrize("blank", [0, 3])
def test_matches_torch_at_the_minimum_length_with_repeats(torch1, blank):
    rng = np.random.default_rng(5)
    y = _log_softmax(rng.standard_normal((7, 3, 5)))
    labels = [c for c in range(5) if c != blank]
    a, b = labels[0], labels[1]
    targets = np.array([[a, a, b, b], [a, b, a, b], [b, b, b, 0 if blank else 1]])
    il, tl = np.array([6, 4, 5]), np.array([4, 4, 3])  # minimum lengths 6, 4, 5
    for shorter in (0, 1):  # at the minimum, then one short of it (impossible)
        for reduction in ("none", "sum", "mean"):
            for zero_infinity in (False, True):
                case = (y, targets, il - shorter, tl, blank)
                loss, grad = ctc_loss(*case, reduction=reduction, zero_infinity=zero_infinity)
                ref_loss, ref_grad = _torch_ctc(torch1, *case, reduction, zero_infinity)
                assert _max_diff(loss, ref_loss) < 1e-10 and _max_diff(grad, ref_grad) < 1e-10


def test_matches_torch_float32(torch1):
    rng = np.random.default_rng(6)
    worst = 0.0
    for _ in range(20):
        case = _random_case(rng, np.float32)
        for reduction in ("none", "sum", "mean"):
            loss, grad = ctc_loss(*case, reduction=reduction, zero_infinity=True)
            ref_loss, ref_grad = _torch_ctc(torch1, *case, reduction, True)
            assert grad.dtype == np.float32
            scale = max(1.0, float(np.max(np.abs(ref_loss))))
            worst = max(worst, _max_diff(loss, ref_loss) / scale, _max_diff(grad, ref_grad))
    assert worst < 1e-5, worst


def test_matches_torch_unbatched(torch1):
    rng = np.random.default_rng(7)
    y = _log_softmax(rng.standard_normal((9, 4)))
    torch = torch1
    x = torch.tensor(y, requires_grad=True)
    ref = torch.nn.functional.ctc_loss(x, torch.tensor([1, 1, 3]), torch.tensor(8), torch.tensor(3), reduction="none")
    ref.backward()
    loss, grad = ctc_loss(y, [1, 1, 3], 8, 3, reduction="none")
    assert _max_diff(loss, ref.detach().numpy()) < 1e-10 and _max_diff(grad, x.grad.numpy()) < 1e-10


# --- decoding -----------------------------------------------------------------------------------
def _peaked(path, C, p=0.9):
    """log_probs (T, C) putting probability p on path[t] at each step, the rest spread evenly."""
    y = np.full((len(path), C), (1 - p) / (C - 1))
    y[np.arange(len(path)), path] = p
    return np.log(y)


def test_greedy_collapses_repeats_then_drops_blanks():
    a = _peaked([1, 1, 0, 1, 2, 2, 0, 0], 3)
    b = _peaked([0, 2, 0, 2, 2, 1, 1, 1], 3)
    y = np.stack([a, b], axis=1)
    assert ctc_greedy_decode(y) == [[1, 1, 2], [2, 2, 1]]
    assert ctc_greedy_decode(y, input_lengths=[3, 0]) == [[1], []]
    assert ctc_greedy_decode(_peaked([2, 2, 1, 1], 3), blank=2) == [[1]]  # 2 is the blank; (T, C) input


def test_beam_finds_the_labelling_that_best_path_misses():
    """Two steps, p(blank) = 0.6 each: the best path is blank blank (0.36, labelling ''), but 'a'
    collects aa, a-, -a: 0.16 + 0.24 + 0.24 = 0.64."""
    y = np.log(np.array([[0.6, 0.4], [0.6, 0.4]]))[:, None, :]
    assert ctc_greedy_decode(y) == [[]]
    labels, scores = ctc_beam_decode(y, beam_width=4, return_scores=True)
    assert labels == [[1]] and scores[0] == pytest.approx(math.log(0.64), rel=1e-12)


def test_beam_keeps_repeated_labels_apart_only_across_a_blank():
    assert ctc_beam_decode(_peaked([1, 0, 1], 3)[:, None]) == [[1, 1]]
    assert ctc_beam_decode(_peaked([1, 1, 1], 3)[:, None]) == [[1]]
    assert ctc_beam_decode(_peaked([1, 1, 0, 1, 2], 3)[:, None]) == [[1, 1, 2]]


def test_beam_width_one_equals_greedy_on_a_peaked_case():
    rng = np.random.default_rng(8)
    paths = rng.integers(0, 4, (12, 3))
    y = np.stack([_peaked(paths[:, n], 4, p=0.97) for n in range(3)], axis=1)
    assert ctc_beam_decode(y, beam_width=1, input_lengths=[12, 9, 5]) == ctc_greedy_decode(y, [12, 9, 5])


@pytest.mark.parametrize("seed", range(4))
def test_wide_beam_is_exact_against_enumeration(seed):
    rng = np.random.default_rng(200 + seed)
    T, C, blank = 5, 3, seed % 3
    y = _log_softmax(1.5 * rng.standard_normal((T, 2, C)))
    labels, scores = ctc_beam_decode(y, beam_width=1000, blank=blank, return_scores=True)
    for n in range(2):
        probs = _labelling_log_probs(y[:, n], blank)
        best = max(probs, key=probs.get)
        assert tuple(labels[n]) == best
        assert scores[n] == pytest.approx(probs[best], rel=1e-12)
        loss, _ = ctc_loss(y[:, n : n + 1], np.array([best]), [T], [len(best)], blank=blank, reduction="sum")
        assert -loss == pytest.approx(scores[n], rel=1e-12)  # the loss scores the same labelling


# --- argument errors ----------------------------------------------------------------------------
_Y = _log_softmax(np.random.default_rng(9).standard_normal((5, 2, 4)))
_OK = {"log_probs": _Y, "targets": np.array([[1, 2], [3, 0]]), "input_lengths": [5, 4], "target_lengths": [2, 1]}


@pytest.mark.parametrize(
    "change, error, match",
    [
        ({"log_probs": _Y.astype(np.int64)}, TypeError, "log_probs must be a float32 or float64"),
        ({"log_probs": _Y[0, 0]}, ValueError, r"log_probs must be 3-D \(T, N, C\)"),
        ({"log_probs": np.full((5, 2, 4), np.nan)}, ValueError, "log_probs contains NaN"),
        ({"blank": 4}, ValueError, r"blank must lie in \[0, 4\)"),
        ({"blank": -1}, ValueError, r"blank must lie in \[0, 4\)"),
        ({"targets": np.array([[1, 4], [3, 0]])}, ValueError, r"targets must lie in \[0, 4\).*got 4"),
        ({"targets": np.array([[1, 0], [3, 0]])}, ValueError, "targets must not contain the blank label 0"),
        ({"targets": np.array([[1.0, 2.0], [3.0, 0.0]])}, TypeError, "targets must be integer"),
        ({"targets": np.array([1, 2, 3, 1])}, ValueError, r"expected sum\(target_lengths\) = 3"),
        ({"targets": np.array([[1, 2]])}, ValueError, r"expected \(N, S\) with N = 2"),
        ({"input_lengths": [6, 4]}, ValueError, r"input_lengths must lie in \[0, 5\].*got 6"),
        ({"input_lengths": [-1, 4]}, ValueError, r"input_lengths must lie in \[0, 5\].*got -1"),
        ({"input_lengths": [5]}, ValueError, "input_lengths must hold N = 2 lengths"),
        ({"target_lengths": [3, 1]}, ValueError, r"target_lengths must lie in \[0, 2\].*got 3"),
        ({"target_lengths": [2.0, 1.0]}, TypeError, "target_lengths must be integers"),
        ({"reduction": "avg"}, ValueError, "reduction must be one of"),
    ],
)
def test_ctc_loss_rejects_bad_arguments_in_one_line(change, error, match):
    with pytest.raises(error, match=match) as info:
        ctc_loss(**{**_OK, **change})
    assert "\n" not in str(info.value)


def test_decoders_reject_bad_arguments():
    with pytest.raises(ValueError, match="beam_width must be a positive integer"):
        ctc_beam_decode(_Y, beam_width=0)
    with pytest.raises(ValueError, match=r"blank must lie in \[0, 4\)"):
        ctc_greedy_decode(_Y, blank=7)
    with pytest.raises(ValueError, match=r"input_lengths must lie in \[0, 5\]"):
        ctc_beam_decode(_Y, input_lengths=[5, 9])


def test_matches_torch_with_zero_probabilities(torch1):
    """A log-probability of -inf: the loss is finite, and torch's gradient there is NaN
    (exp(lcab + nll - lp) with lp = -inf); the rest of the gradient is unaffected."""
    torch = torch1
    rng = np.random.default_rng(10)
    y = _log_softmax(rng.standard_normal((6, 2, 4)))
    y[2, :, 3] = -np.inf
    case = (y, np.array([[1, 2], [2, 3]]), np.array([6, 4]), np.array([2, 2]), 0)
    for reduction in ("none", "sum", "mean"):
        loss, grad = ctc_loss(*case, reduction=reduction)
        ref_loss, ref_grad = _torch_ctc(torch, *case, reduction, False)
        assert np.isfinite(loss).all() and np.isnan(grad).sum() == 2
        assert _max_diff(loss, ref_loss) < 1e-10 and _max_diff(grad, ref_grad) < 1e-10
