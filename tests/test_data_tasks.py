"""The synthetic tasks: each target is what its definition says, checked against plain Python."""

import math

import numpy as np
import pytest

from rnnlab.data.tasks import (
    ADDING_BASELINE_MSE,
    COPY_LENGTH,
    TAG_AMBIGUOUS,
    TAG_SURNAMES,
    TAG_VOCAB,
    adding_problem,
    binary_addition,
    copy_baseline,
    copy_memory,
    name_tagging,
    running_parity,
)


def _number(bits_lsb_first) -> int:
    return sum(int(b) << k for k, b in enumerate(bits_lsb_first))


def test_binary_addition_target_is_the_sum_of_the_two_numbers():
    x, y = binary_addition(50, 70, np.random.default_rng(0))
    assert x.shape == (71, 50, 2) and y.shape == (71, 50) and x.dtype == np.float32
    for b in range(50):
        assert _number(y[:, b]) == _number(x[:, b, 0]) + _number(x[:, b, 1])  # Python ints: no overflow
    assert (x[-1] == 0).all()  # the extra step only lets the carry out


def test_running_parity_is_the_parity_of_the_prefix():
    x, y = running_parity(8, 30, np.random.default_rng(1))
    for b in range(8):
        for t in range(30):
            assert y[t, b] == int(x[: t + 1, b, 0].sum()) % 2


def test_adding_problem_marks_one_value_in_each_half_and_sums_them():
    x, y = adding_problem(200, 50, np.random.default_rng(2))
    marks = x[:, :, 1]
    assert (marks.sum(axis=0) == 2).all()
    assert (marks[:25].sum(axis=0) == 1).all() and (marks[25:].sum(axis=0) == 1).all()
    np.testing.assert_allclose(y, (x[:, :, 0] * marks).sum(axis=0), rtol=1e-6)
    # the trivial answer 1 scores about Var(u1 + u2) = 1/6
    big_x, big_y = adding_problem(20000, 10, np.random.default_rng(3))
    assert abs(np.mean((big_y - 1) ** 2) - ADDING_BASELINE_MSE) < 0.01


def test_adding_problem_rejects_a_length_without_two_halves():
    with pytest.raises(ValueError, match="T must be at least 2"):
        adding_problem(3, 1, np.random.default_rng(0))


def test_copy_memory_asks_back_the_first_ten_symbols_after_the_delimiter():
    T = 12
    ids, targets = copy_memory(5, T, np.random.default_rng(4))
    assert ids.shape == targets.shape == (T + 20, 5)
    assert (ids[T + COPY_LENGTH - 1] == 9).all()  # the delimiter
    np.testing.assert_array_equal(targets[-COPY_LENGTH:], ids[:COPY_LENGTH])
    assert (targets[:-COPY_LENGTH] == 0).all() and (ids[COPY_LENGTH : T + COPY_LENGTH - 1] == 0).all()
    assert copy_baseline(100) == pytest.approx(10 * math.log(8) / 120)


def test_name_tagging_tags_the_ambiguous_word_by_the_word_after_it():
    ids, tags, lengths, ambiguous = name_tagging(100, np.random.default_rng(5))
    T, n = ids.shape
    assert (ambiguous.sum(axis=0) == 1).all()
    for b in range(n):
        k = int(np.flatnonzero(ambiguous[:, b])[0])
        assert TAG_VOCAB[ids[k, b]] in TAG_AMBIGUOUS
        after_is_surname = TAG_VOCAB[ids[k + 1, b]] in TAG_SURNAMES
        assert tags[k, b] == tags[k + 1, b] == int(after_is_surname)
        assert (ids[lengths[b] :, b] == 0).all() and (ids[: lengths[b], b] > 0).all()
    assert 0.3 < tags[ambiguous].mean() < 0.7  # both readings occur
