"""The captioner (CNN encoder, LSTM decoder, optional attention over the grid): shapes, gradients
through the whole model, greedy decoding agreeing with the teacher-forced pass, and learning."""

import numpy as np
import pytest

from rnnlab.data.scenes import VOCAB, draw_scenes
from rnnlab.models.caption import CaptionConfig, Captioner
from rnnlab.models.metrics import exact_match
from rnnlab.nn import Adam, Module, clip_grad_norm_, cross_entropy, gradcheck

WORDS = np.array([[1, 1], [3, 4], [4, 2], [2, 0]])  # BOS, words, EOS, PAD: (T+1=4, N=2)


def tiny(attention=None, dtype="float64", seed=0, **kw) -> Captioner:
    config = CaptionConfig(
        vocab=5, height=4, width=4, channels=(2, 3), embedding=2, hidden=3, attention=attention, dtype=dtype, **kw
    )
    return Captioner(config, np.random.default_rng(seed))


class Logits(Module):
    """forward(images) -> the logits for fixed words in, so gradcheck differentiates the images too."""

    def __init__(self, model: Captioner, words_in: np.ndarray):
        super().__init__()
        self.model = self.add_module("model", model)
        self.words_in = words_in

    def forward(self, images):
        return self.model(images, self.words_in)

    def backward(self, dlogits):
        return self.model.backward(dlogits)


@pytest.mark.parametrize("attention, feed", [(None, True), (None, False), ("additive", True), ("general", False)])
def test_gradients_through_the_whole_model_match_finite_differences(attention, feed):
    model = tiny(attention, attention_size=4, feed=feed)
    images = np.random.default_rng(1).random((2, 3, 4, 4))
    errors = gradcheck(Logits(model, WORDS[:-1]), images)
    expected = {"x", "model.conv1.weight", "model.conv2.bias", "model.init.weight", "model.embed.weight"}
    expected |= {"model.decoder.weight_hh_l0", "model.head.weight"}
    if attention:
        expected |= {
            "model.combine.weight",
            "model.attention.bias" if attention == "additive" else "model.attention.weight",
        }
    assert expected <= set(errors), sorted(errors)
    assert max(errors.values()) < 1e-5, errors


def test_gradcheck_catches_a_wrong_backward():
    model = tiny("additive")
    model.attention.backward = lambda dc, dw=None: tuple(
        1.01 * g for g in type(model.attention).backward(model.attention, dc, dw)
    )  # a 1% error in the attention's gradients
    errors = gradcheck(Logits(model, WORDS[:-1]), np.random.default_rng(2).random((2, 3, 4, 4)))
    assert errors["x"] > 1e-4 or errors["model.conv1.weight"] > 1e-4


def test_shapes_dtypes_and_attention_weights():
    config = CaptionConfig(vocab=VOCAB.size, height=16, width=24, channels=(4, 5, 6), hidden=8, attention="additive")
    model = Captioner(config, np.random.default_rng(0))
    assert config.grid == (4, 6) and config.key_size == 8
    images = np.random.default_rng(0).random((3, 3, 16, 24)).astype(np.float32)
    words_in = np.ones((5, 3), np.int64)
    logits = model(images, words_in)
    assert logits.shape == (5, 3, VOCAB.size) and logits.dtype == np.float32
    assert model.weights.shape == (5, 3, 24)
    np.testing.assert_allclose(model.weights.sum(axis=2), 1.0, rtol=1e-5)
    dimages = model.backward(np.ones_like(logits))
    assert dimages.shape == images.shape and dimages.dtype == np.float32
    plain = Captioner(CaptionConfig(vocab=7, channels=(4,), hidden=8), np.random.default_rng(0))
    assert plain.config.grid == (32, 32)  # one block: no pool
    assert plain(np.zeros((2, 3, 32, 32)), np.ones((3, 2), np.int64)).shape == (3, 2, 7) and plain.weights is None


def test_greedy_decoding_follows_the_teacher_forced_pass():
    for attention in (None, "additive"):
        model = tiny(attention, dtype="float64", seed=3)
        images = np.random.default_rng(4).random((3, 3, 4, 4))
        tokens, maps = model.greedy(images, max_len=5, eos=99)  # no EOS: five words each
        words_in = np.concatenate([np.ones((1, 3), np.int64), np.array(tokens).T[:-1]])
        logits = model(images, words_in)
        np.testing.assert_array_equal(logits.argmax(-1).T, np.array(tokens))
        if attention:
            assert maps[0].shape == (5, 2, 2)  # one map per word (no EOS came)
            np.testing.assert_allclose(maps[1].reshape(len(maps[1]), -1), model.weights[:, 1], atol=1e-12)
        else:
            assert maps == [None, None, None]


def test_bad_configs_and_inputs_are_refused():
    with pytest.raises(ValueError, match="multiples of 4"):
        CaptionConfig(vocab=9, height=30)
    with pytest.raises(ValueError, match="attention must be"):
        CaptionConfig(vocab=9, attention="soft")
    with pytest.raises(ValueError, match="dot attention"):
        CaptionConfig(vocab=9, attention="dot")
    with pytest.raises(ValueError, match="vocab must hold"):
        CaptionConfig(vocab=2)
    with pytest.raises(ValueError, match="channels"):
        CaptionConfig(vocab=9, channels=())
    model = tiny()
    with pytest.raises(ValueError, match=r"expected \(N, 3, 4, 4\)"):
        model(np.zeros((1, 3, 8, 8)), WORDS[:-1, :1])
    with pytest.raises(ValueError, match="words_in"):
        model(np.zeros((2, 3, 4, 4)), WORDS[:-1, :1])
    with pytest.raises(ValueError, match="greedy"):
        model(np.zeros((2, 3, 4, 4)))
    with pytest.raises(ValueError, match="forward"):
        tiny().backward(np.zeros((3, 2, 5)))


@pytest.mark.parametrize("attention", [None, "additive"])
def test_a_small_captioner_learns_its_training_scenes(attention):
    """16 scenes, 150 full-batch Adam steps: the loss falls more than five-fold and at least 12 of
    the 16 captions come out exactly (none do before training)."""
    config = CaptionConfig(
        vocab=VOCAB.size,
        height=24,
        width=24,
        channels=(4, 8),
        embedding=8,
        hidden=32,
        attention=attention,
        attention_size=8,
    )
    model = Captioner(config, np.random.default_rng(0))
    scenes = draw_scenes(np.random.default_rng(1), 16, "train", height=24, width=24)
    words_in, words_out, lengths = VOCAB.encode_target(scenes.captions)
    mask = np.arange(words_in.shape[0])[:, None] < lengths[None, :]

    def exact():
        ids, _ = model.greedy(scenes.images, max_len=9)
        return exact_match([VOCAB.decode(s) for s in ids], scenes.captions)

    before = exact()
    opt = Adam(model.named_parameters(), lr=5e-3)
    losses = []
    for _ in range(150):
        model.zero_grad()
        loss, dlogits = cross_entropy(model(scenes.images, words_in), words_out, mask=mask)
        losses.append(loss)
        model.backward(dlogits)
        clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
    assert losses[-1] < losses[0] / 5, (losses[0], losses[-1])
    assert before == 0 and exact() >= 0.75
