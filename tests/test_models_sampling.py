"""Tests for rnnlab.models.sampling: one-token sampling, the generation loop and beam search."""

import itertools

import numpy as np
import pytest

from rnnlab.models.sampling import TokenModel, beam_search, generate, log_softmax, next_token, token_probs

LOGITS = np.array([2.0, 1.0, 0.5, -0.5, -1.0, 0.2])  # unique maximum at id 0; sorted: 0,1,2,5,3,4


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def draws(logits, n, seed=0, **options):
    rng = np.random.default_rng(seed)
    return np.array([next_token(logits, rng, **options) for _ in range(n)])


# --- a hand-built model: second-order Markov chain ------------------------------------------
class MarkovModel:
    """Logits of the next token depend on the last TWO tokens: table[prev, cur] (V,), where
    prev = V stands for "no token yet". The state is each row's previous token, so a beam search
    that forgot to `select` its survivors' states would score with the wrong rows' history."""

    def __init__(self, table):
        self.table = np.asarray(table, np.float64)  # (V+1, V, V)
        self.V = self.table.shape[1]
        self.calls = 0

    def initial(self, batch):
        return np.full(batch, self.V, np.intp)

    def step(self, state, ids):
        self.calls += 1
        ids = np.asarray(ids)
        assert ids.shape == state.shape
        return self.table[state, ids], ids.copy()

    def select(self, state, rows):
        return state[rows]


def brute_force(model, prime, length):
    """Every continuation of `length` tokens scored by (5): the best sequence and its score."""
    scored = [
        (sequence_score(model, prime, list(seq)), list(seq)) for seq in itertools.product(range(model.V), repeat=length)
    ]
    score, best = max(scored, key=lambda c: c[0])
    return best, score


def sequence_score(model, prime, seq):
    """(5) for one continuation `seq` of `prime`, from a fresh state."""
    state, score = model.initial(1), 0.0
    for i in prime:
        logits, state = model.step(state, np.array([i]))
    for n, tok in enumerate(seq):
        score += log_softmax(logits[0])[tok]
        if n + 1 < len(seq):
            logits, state = model.step(state, np.array([tok]))
    return score


def trap_table():
    """V = 3. After the prime, token 0 is locally best (p ~ 0.5) but leads to a near-uniform next
    step; token 1 (p ~ 0.3) leads to an almost certain next token. Greedy takes 0 and loses."""
    V = 3
    table = np.zeros((V + 1, V, V))
    table[:, :, :] = 0.0  # uniform everywhere by default
    table[V, 2] = np.log([0.5, 0.3, 0.2])  # after the prime (prev = start, cur = 2)
    table[2, 0] = 0.0  # after 2,0: uniform (log 1/3 each)
    table[2, 1] = np.log([0.98, 0.01, 0.01])  # after 2,1: token 0 almost surely
    return table


def greedy_ids(model, prime, length):
    return list(generate(model, prime, length, np.random.default_rng(0), greedy=True))


# --- next_token ------------------------------------------------------------------------------
def test_the_test_model_is_a_token_model():
    assert isinstance(MarkovModel(trap_table()), TokenModel)


@pytest.mark.parametrize("temperature", [0, 0.0, 1e-8, 1e-300])
def test_zero_and_tiny_temperature_equal_greedy(temperature):
    rng = np.random.default_rng(1)
    for _ in range(20):
        z = rng.normal(size=50) * 3
        expected = int(np.argmax(z))
        assert next_token(z, rng, greedy=True) == expected
        assert {next_token(z, rng, temperature=temperature) for _ in range(20)} == {expected}


def test_float32_logits_with_tiny_temperature_do_not_warn_or_fail():
    z = LOGITS.astype(np.float32)
    with np.errstate(all="raise"):
        assert next_token(z, np.random.default_rng(0), temperature=1e-30) == 0


def test_top_k_never_emits_tokens_outside_the_top_k():
    out = draws(LOGITS, 3000, top_k=3, temperature=2.0)  # hot: without top_k all 6 would appear
    assert set(out.tolist()) == {0, 1, 2}
    assert len(set(draws(LOGITS, 3000, temperature=2.0).tolist())) == 6  # the filter is what bites


def test_top_k_of_one_is_greedy_and_larger_than_vocabulary_keeps_everything():
    assert set(draws(LOGITS, 200, top_k=1, temperature=5.0).tolist()) == {0}
    np.testing.assert_allclose(token_probs(LOGITS, top_k=100), softmax(LOGITS))


def test_top_p_never_emits_tokens_outside_the_nucleus():
    p = softmax(LOGITS)
    order = np.argsort(-p)
    m = int(np.searchsorted(np.cumsum(p[order]), 0.8)) + 1  # smallest prefix reaching 0.8
    nucleus = set(order[:m].tolist())
    assert 1 < m < len(p)
    out = draws(LOGITS, 3000, top_p=0.8)
    assert set(out.tolist()) == nucleus


def test_top_p_keeps_at_least_the_most_likely_token():
    assert set(draws(LOGITS, 200, top_p=1e-9).tolist()) == {0}


def test_filtered_distribution_is_renormalised_and_top_k_applies_before_top_p():
    p = token_probs(LOGITS, top_k=2)
    q = softmax(LOGITS[:2])
    np.testing.assert_allclose(p, np.r_[q, 0, 0, 0, 0])
    # within the top 2, token 0 has q0 ~ 0.73 >= 0.7: the nucleus of the renormalised top-2 is {0}
    assert q[0] >= 0.7
    np.testing.assert_allclose(token_probs(LOGITS, top_k=2, top_p=0.7), np.eye(6)[0])


def test_fixed_seed_reproduces_exactly():
    a = draws(LOGITS, 500, seed=7, temperature=1.3, top_k=5, top_p=0.95)
    b = draws(LOGITS, 500, seed=7, temperature=1.3, top_k=5, top_p=0.95)
    c = draws(LOGITS, 500, seed=8, temperature=1.3, top_k=5, top_p=0.95)
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_frequencies_match_the_tempered_softmax(temperature):
    n = 20000
    counts = np.bincount(draws(LOGITS, n, seed=3, temperature=temperature), minlength=6)
    expected = n * softmax(LOGITS / temperature)
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 20.5  # chi-square, 5 degrees of freedom: P(chi2 > 20.5) ~ 0.001
    # and the test can tell temperatures apart: against the untempered softmax it fails
    if temperature != 1.0:
        wrong = n * softmax(LOGITS)
        assert ((counts - wrong) ** 2 / wrong).sum() > 100


def test_minus_infinity_logits_are_never_chosen():
    z = np.array([-np.inf, 0.0, -np.inf, 0.0])
    assert set(draws(z, 500, temperature=3.0).tolist()) == {1, 3}


@pytest.mark.parametrize(
    "options, match",
    [
        (dict(temperature=-0.1), "temperature"),
        (dict(temperature=float("nan")), "temperature"),
        (dict(temperature=True), "temperature"),
        (dict(top_k=0), "top_k"),
        (dict(top_k=2.5), "top_k"),
        (dict(top_p=0.0), "top_p"),
        (dict(top_p=1.5), "top_p"),
    ],
)
def test_bad_sampling_options_raise_naming_the_argument(options, match):
    with pytest.raises(ValueError, match=match):
        next_token(LOGITS, np.random.default_rng(0), **options)
    with pytest.raises(ValueError, match=match):  # also when greedy would not need them
        next_token(LOGITS, np.random.default_rng(0), greedy=True, **options)
    with pytest.raises(ValueError, match=match):  # generate checks before the first token
        generate(MarkovModel(trap_table()), [2], 3, np.random.default_rng(0), **options)


@pytest.mark.parametrize(
    "logits",
    [
        np.zeros((2, 3)),
        np.array([]),
        np.array([np.nan, 1.0]),
        np.array([np.inf, 1.0]),
        np.array([-np.inf, -np.inf]),
        np.array(["a", "b"]),
    ],
)
def test_bad_logits_raise(logits):
    with pytest.raises(ValueError, match="logits"):
        next_token(logits, np.random.default_rng(0))


def test_rng_must_be_a_generator():
    with pytest.raises(TypeError, match="rng"):
        next_token(LOGITS, 0)
    with pytest.raises(TypeError, match="rng"):
        generate(MarkovModel(trap_table()), [2], 3, np.random.RandomState(0))


# --- generate --------------------------------------------------------------------------------
def test_generate_streams_lazily_feeds_the_prime_and_feeds_samples_back():
    model = MarkovModel(trap_table())
    it = generate(model, [0, 2], 4, np.random.default_rng(0), greedy=True)
    assert model.calls == 0  # nothing runs until the first token is asked for
    first = next(it)
    assert model.calls == 2  # the two prime tokens, one step each
    rest = list(it)
    assert model.calls == 2 + 3  # each yielded token but the last is fed back
    # greedy through the table by hand: after (0, 2) uniform -> 0; after (2, 0) uniform -> 0; ...
    assert [first] + rest == [0, 0, 0, 0]


def test_generate_conditions_on_what_it_sampled():
    # deterministic chain: after token a the next is (a + 1) % V with certainty
    V = 5
    table = np.full((V + 1, V, V), -50.0)
    for a in range(V):
        table[:, a, (a + 1) % V] = 50.0
    out = list(generate(MarkovModel(table), [3], 7, np.random.default_rng(0), temperature=1.0))
    assert out == [4, 0, 1, 2, 3, 4, 0]


def test_generate_with_seed_reproduces_and_length_zero_yields_nothing():
    table = np.random.default_rng(0).normal(size=(5, 4, 4))

    def run(seed):
        return list(generate(MarkovModel(table), [1, 2], 30, np.random.default_rng(seed), temperature=1.5, top_k=3))

    assert run(4) == run(4) and run(4) != run(5)
    assert list(generate(MarkovModel(table), [1], 0, np.random.default_rng(0))) == []


@pytest.mark.parametrize(
    "prime, length, match",
    [
        ([], 3, "prime_ids"),
        ([[1, 2]], 3, "prime_ids"),
        ([1.5], 3, "prime_ids"),
        ([-1], 3, "prime_ids"),
        ([1], -1, "length"),
        ([1], 2.0, "length"),
    ],
)
def test_generate_bad_arguments_raise(prime, length, match):
    with pytest.raises(ValueError, match=match):
        generate(MarkovModel(trap_table()), prime, length, np.random.default_rng(0))


def test_out_of_vocabulary_prime_and_bad_model_output_raise():
    with pytest.raises(ValueError, match="out of range"):
        list(generate(_ClampedModel(), [1, 7], 2, np.random.default_rng(0)))
    with pytest.raises(ValueError, match="out of range"):
        beam_search(_ClampedModel(), [7], 2, 2)

    class WrongRows(MarkovModel):
        def step(self, state, ids):
            logits, state = super().step(state, ids)
            return np.vstack([logits, logits]), state

    with pytest.raises(ValueError, match="row"):
        list(generate(WrongRows(trap_table()), [1], 2, np.random.default_rng(0)))


class _ClampedModel(MarkovModel):
    """Accepts any id (clamps it), so that the library's own vocabulary check is what fires."""

    def __init__(self):
        super().__init__(trap_table())

    def step(self, state, ids):
        return super().step(state, np.minimum(ids, self.V - 1))


# --- beam search -----------------------------------------------------------------------------
def test_greedy_is_trapped_by_the_hand_built_table():
    model = MarkovModel(trap_table())
    best, best_score = brute_force(model, [2], 2)
    assert best == [1, 0]  # log .3 + log .98 ~ -1.22
    greedy = greedy_ids(model, [2], 2)
    assert greedy[0] == 0 and greedy != best  # log .5 + log 1/3 ~ -1.79


def test_beam_search_finds_the_brute_force_best_where_greedy_does_not():
    model = MarkovModel(trap_table())
    for length in (2, 3):  # width 2 suffices here; in general only width >= V**(L-1) is exact
        best, best_score = brute_force(model, [2], length)
        ids, score = beam_search(model, [2], length, width=2)
        assert ids == best
        assert score == pytest.approx(best_score, abs=1e-12)
        assert beam_search(model, [2], length, width=1)[0] != best


@pytest.mark.parametrize("seed", range(8))
def test_wide_beam_equals_brute_force_on_random_second_order_chains(seed):
    rng = np.random.default_rng(seed)
    V, L = 3, 4
    model = MarkovModel(rng.normal(size=(V + 1, V, V)) * 2)
    prime = rng.integers(0, V, size=2).tolist()
    best, best_score = brute_force(model, prime, L)
    ids, score = beam_search(model, prime, L, width=V ** (L - 1))  # exhaustive: exact
    assert ids == best and score == pytest.approx(best_score, abs=1e-10)
    # a narrower beam never beats the exhaustive optimum
    assert beam_search(model, prime, L, width=2)[1] <= best_score + 1e-12


@pytest.mark.parametrize("seed", range(8))
def test_width_one_equals_greedy(seed):
    rng = np.random.default_rng(seed)
    model = MarkovModel(rng.normal(size=(6, 5, 5)))
    prime = rng.integers(0, 5, size=3).tolist()
    ids, score = beam_search(model, prime, 6, width=1)
    assert ids == greedy_ids(model, prime, 6)


def reference_beam(model, prime, length, width):
    """Beam search without states: every candidate is re-scored from scratch by `sequence_score`,
    so it cannot share a bug in carrying, reordering or duplicating rows' states."""
    beams = [([], 0.0)]
    for _ in range(length):
        cand = [(seq + [tok], sequence_score(model, prime, seq + [tok])) for seq, _ in beams for tok in range(model.V)]
        beams = sorted(cand, key=lambda c: -c[1])[:width]  # sorted is stable: same tie order
    return beams[0]


@pytest.mark.parametrize("seed", range(6))
def test_narrow_beams_match_a_stateless_reference(seed):
    """Widths between greedy and exhaustive, where survivors are reordered and duplicated: the
    states must follow them (select), and the reported score must be the sequence's own."""
    rng = np.random.default_rng(100 + seed)
    V, L = 4, 5
    model = MarkovModel(rng.normal(size=(V + 1, V, V)) * 2)
    prime = rng.integers(0, V, size=2).tolist()
    for width in (2, 3, 5):
        ids, score = beam_search(model, prime, L, width)
        ref_ids, ref_score = reference_beam(model, prime, L, width)
        assert ids == ref_ids
        assert score == pytest.approx(ref_score, abs=1e-10)
        assert score == pytest.approx(sequence_score(model, prime, ids), abs=1e-10)


def test_length_norm_reports_the_mean_log_probability_and_keeps_the_ranking():
    model = MarkovModel(trap_table())
    ids, total = beam_search(model, [2], 3, width=2)
    ids_n, mean = beam_search(model, [2], 3, width=2, length_norm=True)
    assert ids_n == ids and mean == pytest.approx(total / 3)
    assert beam_search(model, [2], 0, width=2) == ([], 0.0)


@pytest.mark.parametrize(
    "prime, length, width, match",
    [
        ([2], 3, 0, "width"),
        ([2], 3, 1.5, "width"),
        ([], 3, 2, "prime_ids"),
        ([2], -2, 2, "length"),
    ],
)
def test_beam_search_bad_arguments_raise(prime, length, width, match):
    with pytest.raises(ValueError, match=match):
        beam_search(MarkovModel(trap_table()), prime, length, width)
