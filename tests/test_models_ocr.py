"""The CRNN line reader: shapes and lengths, gradients through the whole model, and learning to read
synthetic glyph strings (including strings longer than any seen in training)."""

import numpy as np
import pytest

from rnnlab.data.render import glyph_crops
from rnnlab.models.ocr import CRNN, CRNNConfig, MaxlenReader, ReaderConfig, SegmentedReader
from rnnlab.nn import Adam, Module, cross_entropy, ctc_loss, gradcheck

ALPHABET = "abcd"


def tiny(layers: int = 2, dtype: str = "float64", seed: int = 0) -> CRNN:
    config = CRNNConfig(alphabet="ab", height=4, channels=(2, 3), features=4, hidden=3, layers=layers, dtype=dtype)
    return CRNN(config, np.random.default_rng(seed))


class CTCLossOf(Module):
    """forward(images) -> the summed CTC loss as a 0-d array, for gradcheck; backward -> dimages."""

    def __init__(self, model: CRNN, widths: np.ndarray, strings: list[str]):
        super().__init__()
        self.model = self.add_module("model", model)
        self.widths = widths
        self.targets, self.target_lengths = model.encode(strings)

    def forward(self, images):
        log_probs, lengths = self.model(images, self.widths)
        loss, self.dlog_probs = ctc_loss(log_probs, self.targets, lengths, self.target_lengths, reduction="sum")
        return np.asarray(loss)

    def backward(self, dloss):
        return self.model.backward(self.dlog_probs * dloss)


class WeightedLogProbs(Module):
    """forward(images) -> log_probs alone, so gradcheck's random weighted sum is a loss of log_probs."""

    def __init__(self, model: CRNN, widths: np.ndarray):
        super().__init__()
        self.model = self.add_module("model", model)
        self.widths = widths

    def forward(self, images):
        return self.model(images, self.widths)[0]

    def backward(self, dlog_probs):
        return self.model.backward(dlog_probs)


def test_ctc_loss_gradient_through_the_whole_model_matches_finite_differences():
    rng = np.random.default_rng(1)
    images = rng.random((2, 1, 4, 12))
    # T = 3 and 2 steps: "ab" and "a" can each be aligned in several ways (all finite)
    errors = gradcheck(CTCLossOf(tiny(), np.array([12, 8]), ["ab", "a"]), images)
    assert set(errors) >= {"x", "model.conv1.weight", "model.conv2.bias", "model.proj.weight", "model.head.bias"}
    assert max(errors.values()) < 1e-6, errors


def test_backward_is_log_softmax_backward_for_any_loss_of_log_probs():
    images = np.random.default_rng(2).random((2, 1, 4, 8))
    errors = gradcheck(WeightedLogProbs(tiny(layers=1, seed=3), np.array([8, 5])), images)
    assert max(errors.values()) < 1e-6, errors


def test_gradcheck_catches_a_wrong_backward():
    model = tiny(layers=1)
    model.backward = lambda d: CRNN.backward(model, d) * 1.01  # a 1% error in dimages
    images = np.random.default_rng(4).random((1, 1, 4, 8))
    errors = gradcheck(CTCLossOf(model, None, ["ab"]), images)
    assert errors["x"] > 1e-3


def test_shapes_steps_and_lengths_follow_the_widths():
    model = tiny(dtype="float32")
    images = np.zeros((3, 1, 4, 23), np.float32)
    log_probs, lengths = model(images, np.array([23, 12, 4]))
    assert log_probs.shape == (5, 3, 3) and log_probs.dtype == np.float32  # T = 23 // 4
    assert lengths.tolist() == [5, 3, 1]
    np.testing.assert_allclose(np.exp(log_probs).sum(axis=2), 1.0, rtol=1e-5)
    _, all_steps = model(images)
    assert all_steps.tolist() == [5, 5, 5]
    dimages = model.backward(np.ones_like(log_probs))
    assert dimages.shape == images.shape and dimages.dtype == np.float32
    assert model(images[:, 0])[0].shape == (5, 3, 3)  # (N, H, W) is read as one channel


def test_a_line_in_a_wider_batch_reads_as_it_does_alone_whatever_lies_right_of_its_width():
    model = tiny(seed=5)
    rng = np.random.default_rng(6)
    batch = rng.random((2, 1, 4, 20))  # sample 0 is 10 px wide: columns 10.. are junk
    alone, _ = model(batch[:1, :, :, :10])
    padded, lengths = model(batch, np.array([10, 20]))
    assert lengths.tolist() == [2, 5]
    np.testing.assert_allclose(padded[:2, 0], alone[:, 0], atol=1e-12)
    dimages = model.backward(np.ones_like(padded))
    assert not dimages[0, :, :, 10:].any()  # nothing right of the width is read


def test_bad_inputs_are_refused_with_what_was_expected():
    with pytest.raises(ValueError, match="multiple of 4"):
        CRNNConfig(alphabet="ab", height=6)
    with pytest.raises(ValueError, match="distinct"):
        CRNNConfig(alphabet="aa")
    model = tiny()
    with pytest.raises(ValueError, match="H=4"):
        model(np.zeros((1, 1, 5, 8)))
    with pytest.raises(ValueError, match="widths"):
        model(np.zeros((2, 1, 4, 8)), np.array([8, 12]))
    with pytest.raises(ValueError, match="outside the alphabet"):
        model.encode(["abc"])


# --- learning to read ------------------------------------------------------------------------------


def draw_lines(rng, glyphs, n: int, shortest: int, longest: int, width: int):
    """n images (n, 1, 8, width): strings of shortest..longest glyphs, 8 px each with 0-4 px gaps
    before each; widths: the drawn extent (+2 px, rounded up to a multiple of 4)."""
    images = np.zeros((n, 1, 8, width), np.float32)
    widths = np.zeros(n, np.int64)
    texts = []
    for i in range(n):
        while True:
            ids = rng.integers(0, len(glyphs), rng.integers(shortest, longest + 1))
            gaps = rng.integers(0, 5, ids.size)
            if gaps.sum() + 8 * ids.size <= width:
                break
        x = 0
        for c, gap in zip(ids, gaps):
            x += gap
            images[i, 0, :, x : x + 8] = glyphs[c]
            x += 8
        widths[i] = min(width, -(-(x + 2) // 4) * 4)
        texts.append("".join(ALPHABET[c] for c in ids))
    return images, widths, texts


@pytest.fixture(scope="module")
def trained():
    rng = np.random.default_rng(0)
    glyphs = (rng.random((len(ALPHABET), 8, 8)) < 0.5).astype(np.float32)
    config = CRNNConfig(alphabet=ALPHABET, height=8, channels=(8, 16), features=32, hidden=32, layers=1)
    model = CRNN(config, rng)
    optimizer = Adam(model.parameters(), lr=0.01)
    for _ in range(200):
        images, widths, texts = draw_lines(rng, glyphs, 32, 1, 4, 40)
        targets, target_lengths = model.encode(texts)
        model.zero_grad()
        log_probs, lengths = model(images, widths)
        _, dlog_probs = ctc_loss(log_probs, targets, lengths, target_lengths, reduction="mean")
        model.backward(dlog_probs)
        optimizer.step()
    return model, glyphs, np.random.default_rng(1)


def test_crnn_learns_to_read_glyph_strings_and_longer_ones_than_it_saw(trained):
    model, glyphs, rng = trained
    images, widths, texts = draw_lines(rng, glyphs, 200, 1, 4, 40)
    accuracy = np.mean([p == t for p, t in zip(model.decode(images, widths), texts)])
    assert accuracy > 0.9  # measured 0.99-1.0 over seeds
    images, widths, texts = draw_lines(rng, glyphs, 200, 5, 6, 56)  # longer than any training string
    longer = np.mean([p == t for p, t in zip(model.decode(images, widths), texts)])
    assert longer > 0.8  # measured 1.0 over seeds; chance is 4^-5 or less


def test_beam_search_agrees_with_greedy_on_the_trained_model(trained):
    model, glyphs, rng = trained
    images, widths, _ = draw_lines(rng, glyphs, 40, 1, 6, 56)
    greedy = model.decode(images, widths)
    beam = model.decode(images, widths, beam=4)
    assert np.mean([g == b for g, b in zip(greedy, beam)]) >= 0.9


# --- the lectures' two readers ----------------------------------------------------------------------


def tiny_reader(cls, dtype: str = "float64", seed: int = 0, **kw):
    config = ReaderConfig(alphabet="ab", height=4, channels=(2, 3), features=4, hidden=3, dtype=dtype, **kw)
    return cls(config, np.random.default_rng(seed))


class CrossEntropyOf(Module):
    """forward(x) -> the model's masked cross-entropy as a 0-d array, for gradcheck."""

    def __init__(self, model, targets, mask=None, lengths=None):
        super().__init__()
        self.model = self.add_module("model", model)
        self.targets, self.mask, self.lengths = targets, mask, lengths

    def forward(self, x):
        logits = self.model(x) if self.lengths is None else self.model(x, self.lengths)
        loss, self.dlogits = cross_entropy(logits, self.targets, mask=self.mask)
        return np.asarray(loss)

    def backward(self, dloss):
        return self.model.backward(self.dlogits * dloss)


def test_segmented_reader_gradients_match_finite_differences_and_padding_glyphs_get_none():
    model = tiny_reader(SegmentedReader, width=4, layers=2)
    crops = np.random.default_rng(1).random((3, 2, 4, 4))
    targets, mask = model.encode(["aba", "b"], steps=3)
    loss = CrossEntropyOf(model, targets, mask, np.array([3, 1]))
    errors = gradcheck(loss, crops)
    assert set(errors) >= {"x", "model.conv1.weight", "model.proj.weight", "model.rnn.weight_hh_l1_reverse"}
    assert max(errors.values()) < 1e-6, errors
    loss(crops)
    dcrops = loss.backward(np.ones(()))
    assert not dcrops[1:, 1].any() and dcrops[:, 0].any()  # glyph slots past "b" are never read


def test_maxlen_reader_gradients_match_finite_differences():
    model = tiny_reader(MaxlenReader, width=8, maxlen=3, seed=1)  # seed 0 puts a relu within 1e-6 of its kink
    images = np.random.default_rng(3).random((2, 1, 4, 8))
    errors = gradcheck(CrossEntropyOf(model, model.encode(["ab", "b"])), images)
    assert set(errors) >= {"x", "model.conv2.bias", "model.proj.weight", "model.rnn.weight_ih_l0"}
    assert max(errors.values()) < 1e-6, errors


def test_maxlen_reader_pads_narrow_images_refuses_wide_ones_and_cuts_long_targets():
    model = tiny_reader(MaxlenReader, dtype="float32", width=8, maxlen=2)
    narrow = np.random.default_rng(3).random((1, 4, 5)).astype(np.float32)
    padded = np.zeros((1, 4, 8), np.float32)
    padded[:, :, :5] = narrow
    np.testing.assert_array_equal(model(narrow), model(padded))
    with pytest.raises(ValueError, match="W <= 8"):
        model(np.zeros((1, 4, 12), np.float32))
    assert model.encode(["abab"]).ravel().tolist() == [1, 2]  # all it could ever write
    with pytest.raises(ValueError, match="multiple of 4"):
        ReaderConfig("ab", width=6)


def test_glyph_crops_centre_each_box_and_keep_the_centre_of_wide_ones():
    images = np.arange(2 * 1 * 10, dtype=np.float32).reshape(2, 1, 10)
    crops, lengths = glyph_crops(images, [[(0, 2), (2, 9)], [(4, 5)]], width=4)
    assert crops.shape == (2, 2, 1, 4) and lengths.tolist() == [2, 1]
    assert crops[0, 0, 0].tolist() == [0, 0, 1, 0]  # 2 columns centred in 4
    assert crops[1, 0, 0].tolist() == [3, 4, 5, 6]  # 7 columns: the central 4
    assert crops[0, 1, 0].tolist() == [0, 14, 0, 0] and not crops[1, 1].any()
    with pytest.raises(ValueError, match="box 0 of line 1"):
        glyph_crops(images, [[(0, 2)], [(8, 12)]], width=4)


def test_both_lecture_readers_learn_glyph_strings(trained):
    _, glyphs, _ = trained
    rng = np.random.default_rng(7)
    config = ReaderConfig(alphabet=ALPHABET, height=8, width=40, maxlen=4, channels=(8, 16), features=64, hidden=64)
    maxlen = MaxlenReader(config, rng)
    segmented = SegmentedReader(ReaderConfig(ALPHABET, height=8, width=8, channels=(4, 8), features=16, hidden=16), rng)
    optimizers = [Adam(maxlen.parameters(), lr=0.01), Adam(segmented.parameters(), lr=0.01)]
    for step in range(300):  # the segmented reader needs half as many steps
        images, _, texts = draw_lines(rng, glyphs, 32, 1, 4, 40)
        maxlen.zero_grad()
        maxlen.backward(cross_entropy(maxlen(images), maxlen.encode(texts))[1])
        optimizers[0].step()
        if step < 150:
            crops, lengths = glyphs_of(images, texts)
            targets, mask = segmented.encode(texts)
            segmented.zero_grad()
            segmented.backward(cross_entropy(segmented(crops, lengths), targets, mask=mask)[1])
            optimizers[1].step()
    images, _, texts = draw_lines(np.random.default_rng(8), glyphs, 200, 1, 4, 40)
    assert np.mean([p == t for p, t in zip(maxlen.read(images), texts)]) > 0.5  # measured 0.7; chance < 1/4
    crops, lengths = glyphs_of(images, texts)
    characters = "".join(texts)
    assert np.mean([p == t for p, t in zip("".join(segmented.read(crops, lengths)), characters)]) > 0.95


def glyphs_of(images, texts):
    """draw_lines' glyph boxes, found back from the ink (glyphs are 8 px wide, drawn solid-edged)."""
    boxes = []
    for image, text in zip(images[:, 0], texts):
        ink = np.flatnonzero(image.any(axis=0))
        starts, x = [], -1
        for col in ink:  # glyphs are 8 wide and touch at most end to start: walk in 8 px steps
            if col >= x:
                starts.append(col)
                x = col + 8
        boxes.append([(s, s + 8) for s in starts[: len(text)]])
    return glyph_crops(images[:, 0], boxes, width=8)
