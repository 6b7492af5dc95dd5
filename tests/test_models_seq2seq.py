"""Seq2Seq (rnnlab.models.seq2seq): finite differences over every parameter for each topology
(bridge or not, one or two directions, stacked, every attention), stepping equals the
teacher-forced layer, beam search of width 1 equals greedy, scheduled sampling mixes inputs, and
a tiny task is learned."""

import numpy as np
import pytest

from rnnlab.models.seq2seq import BOS, EOS, Seq2Seq, Seq2SeqConfig, scheduled_inputs, teacher_forcing_ratio
from rnnlab.nn import Adam, cross_entropy, gradcheck

V_SRC, V_TGT = 7, 6


def _batch(rng, S=5, T=4, B=3):
    src = rng.integers(3, V_SRC, (S, B))
    tgt = rng.integers(3, V_TGT, (T, B))
    return src, np.array([S, 2, 4]), tgt, np.array([T, 3, 1])


TOPOLOGIES = {
    "lstm direct, no attention": dict(cell="lstm"),
    "gru bidirectional, bridged, additive": dict(cell="gru", bidirectional=True, attention="additive"),
    "rnn encoder, lstm decoder, dot": dict(cell="rnn", decoder_cell="lstm", attention="dot"),
    "lstm 2 layers -> gru, general": dict(
        cell="lstm", layers=2, decoder_cell="gru", decoder_hidden=3, attention="general", bridge="always"
    ),
    "gru encoder, lstm decoder, direct": dict(cell="gru", decoder_cell="lstm"),
}


@pytest.mark.parametrize("name", TOPOLOGIES)
def test_backward_matches_finite_differences(name):
    rng = np.random.default_rng(0)
    config = Seq2SeqConfig(V_SRC, V_TGT, embedding=3, hidden=4, dtype="float64", **TOPOLOGIES[name])
    model = Seq2Seq(config, rng)
    src, src_lengths, tgt, tgt_lengths = _batch(rng)
    errors = gradcheck(model, src, src_lengths=src_lengths, tgt_in=tgt, tgt_lengths=tgt_lengths)
    expected = {n for n, _ in model.named_parameters()}
    assert set(errors) == expected
    assert ("bridge.weight" in expected) == (not model.direct)
    assert max(errors.values()) < 1e-6, {k: v for k, v in errors.items() if v >= 1e-6}


def test_a_wrong_backward_fails_the_check():
    rng = np.random.default_rng(1)
    model = Seq2Seq(Seq2SeqConfig(V_SRC, V_TGT, embedding=3, hidden=4, attention="dot", dtype="float64"), rng)
    src, src_lengths, tgt, tgt_lengths = _batch(rng)
    model.combine.backward = lambda d, f=model.combine.backward: 0.5 * f(d)  # drops half the gradient
    errors = gradcheck(model, src, src_lengths=src_lengths, tgt_in=tgt, tgt_lengths=tgt_lengths)
    assert errors["combine.weight"] < 1e-6  # its own gradient is still right ...
    assert errors["decoder.weight_hh_l0"] > 0.1 and errors["encoder.weight_ih_l0"] > 0.1  # ... all below it wrong


@pytest.mark.parametrize("attention", [None, "additive"])
def test_greedy_steps_give_the_teacher_forced_layers_numbers(attention):
    rng = np.random.default_rng(2)
    model = Seq2Seq(
        Seq2SeqConfig(V_SRC, V_TGT, embedding=4, hidden=5, bidirectional=True, attention=attention, dtype="float64"),
        rng,
    )
    src, src_lengths, _, _ = _batch(rng)
    tokens, weights = model.greedy(src, src_lengths, max_len=6)
    for b, seq in enumerate(tokens):  # feed the greedy output back through the whole-sequence forward
        tgt_in = np.array([BOS] + seq)[:, None]
        S = src_lengths[b]
        logits = model.forward(src[:S, b : b + 1], None, tgt_in)
        predicted = logits[:, 0].argmax(-1)
        assert list(predicted[: len(seq)]) == seq
        if len(seq) < 6:
            assert predicted[len(seq)] == EOS
        if attention:
            assert weights[b].shape == (min(len(seq) + 1, 6), S)  # one row per step, EOS's too
            np.testing.assert_allclose(weights[b], model.weights[: len(weights[b]), 0], atol=1e-10)
        else:
            assert weights[b] is None


def test_beam_of_width_one_is_greedy_and_wider_beams_score_at_least_as_well():
    rng = np.random.default_rng(3)
    model = Seq2Seq(Seq2SeqConfig(V_SRC, V_TGT, embedding=4, hidden=5, attention="general", dtype="float64"), rng)
    src, src_lengths, _, _ = _batch(rng)
    greedy, _ = model.greedy(src, src_lengths, max_len=5)
    beam1, w1 = model.beam_search(src, src_lengths, width=1, max_len=5, alpha=0.0)
    assert beam1 == greedy

    def logp(b, seq):
        tgt_in = np.array([BOS] + seq)[:, None]
        tgt_out = np.array(seq + [EOS])
        z = model.forward(src[: src_lengths[b], b : b + 1], None, tgt_in)[:, 0]
        z = z - z.max(-1, keepdims=True)
        lp = z - np.log(np.exp(z).sum(-1, keepdims=True))
        return lp[np.arange(len(tgt_out)), tgt_out].sum()

    beam4, _ = model.beam_search(src, src_lengths, width=4, max_len=5, alpha=0.0)
    for b in range(len(greedy)):
        if len(greedy[b]) < 5 and len(beam4[b]) < 5:  # both finished with EOS
            assert logp(b, beam4[b]) >= logp(b, greedy[b]) - 1e-9


def test_teacher_forcing_ratio_schedules():
    assert teacher_forcing_ratio(500, 1000) == 1.0
    assert teacher_forcing_ratio(0, 1000, "linear", end=0.5) == 1.0
    assert teacher_forcing_ratio(500, 1000, "linear", end=0.5) == pytest.approx(0.75)
    assert teacher_forcing_ratio(5000, 1000, "linear", end=0.5) == 0.5
    ratios = [teacher_forcing_ratio(s, 1000, "inverse_sigmoid") for s in range(0, 1001, 100)]
    assert ratios[0] > 0.98 and all(a > b for a, b in zip(ratios, ratios[1:])) and ratios[-1] < 0.01
    with pytest.raises(ValueError, match="schedule must be"):
        teacher_forcing_ratio(0, 10, "cosine")


def test_scheduled_inputs_replace_a_share_by_predictions():
    rng = np.random.default_rng(4)
    model = Seq2Seq(Seq2SeqConfig(V_SRC, V_TGT, embedding=4, hidden=5), rng)
    src = rng.integers(3, V_SRC, (6, 40))
    tgt_in = np.vstack([np.full((1, 40), BOS), rng.integers(3, V_TGT, (7, 40))])
    assert scheduled_inputs(model, src, None, tgt_in, None, 1.0, rng) is tgt_in
    predicted = model.forward(src, None, tgt_in).argmax(-1)
    mixed = scheduled_inputs(model, src, None, tgt_in, None, 0.0, rng)
    assert (mixed[0] == BOS).all() and (mixed[1:] == predicted[:-1]).all()
    half = scheduled_inputs(model, src, None, tgt_in, None, 0.5, rng)
    changed = (half[1:] != tgt_in[1:]) & (predicted[:-1] != tgt_in[1:])
    possible = predicted[:-1] != tgt_in[1:]
    assert 0.3 < changed.sum() / possible.sum() < 0.7


def test_learns_to_copy_a_short_sequence():
    rng = np.random.default_rng(5)
    model = Seq2Seq(Seq2SeqConfig(8, 8, embedding=8, hidden=24, attention="dot"), rng)
    opt = Adam(model.named_parameters(), lr=1e-2)
    for _ in range(150):
        src = rng.integers(3, 8, (4, 32))
        tgt_in = np.vstack([np.full((1, 32), BOS), src])
        tgt_out = np.vstack([src, np.full((1, 32), EOS)])
        model.zero_grad()
        loss, dlogits = cross_entropy(model.forward(src, None, tgt_in), tgt_out)
        model.backward(dlogits)
        opt.step()
    src = rng.integers(3, 8, (4, 50))
    out, _ = model.greedy(src, max_len=8)
    exact = np.mean([o == list(src[:, b]) for b, o in enumerate(out)])
    assert exact > 0.8  # chance: 5**-4


def test_config_errors():
    with pytest.raises(ValueError, match="decoder_cell must be one of"):
        Seq2SeqConfig(5, 5, decoder_cell="transformer")
    with pytest.raises(ValueError, match="attention must be None or one of"):
        Seq2SeqConfig(5, 5, attention="luong")
    with pytest.raises(ValueError, match="needs tgt_in"):
        Seq2Seq(Seq2SeqConfig(5, 5)).forward(np.zeros((2, 1), int))
