"""Text-line rendering with matplotlib's DejaVu fonts, and MNIST digit strings (rnnlab.data.render)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from rnnlab.data import render as R  # noqa: E402

SAMPLE = "Hag, jfy 0189"


def _check_boxes(line: R.RenderedLine, slack: int = 1) -> None:
    """Boxes ordered and inside the image; all ink (beyond faint antialiasing) inside their union."""
    boxes = np.array(line.boxes)
    assert len(boxes) == len(line.text)
    assert (boxes[:, 1] > boxes[:, 0]).all()
    assert (np.diff(boxes[:, 0]) >= 0).all() and (np.diff(boxes[:, 1]) >= 0).all()
    assert boxes.min() >= 0 and boxes.max() <= line.width
    covered = np.zeros(line.width, bool)
    for x0, x1 in boxes:
        covered[max(x0 - slack, 0) : x1 + slack] = True
    ink = line.image.max(axis=0) > 0.05
    assert not (ink & ~covered).any(), np.nonzero(ink & ~covered)


@pytest.mark.parametrize("font", R.fonts())
def test_every_shipped_font_renders(font):
    line = R.render_line(SAMPLE, font, height=32)
    assert line.image.dtype == np.float32 and line.image.shape[0] == 32
    assert 0.0 <= line.image.min() and line.image.max() <= 1.0 and line.image.max() > 0.9
    assert line.text == SAMPLE and line.font == font
    _check_boxes(line)


def test_font_files_exist_and_split_is_disjoint():
    files = R.fonts()
    assert all(path.is_file() for path in files.values())
    assert set(R.TRAIN_FONTS).isdisjoint(R.HELD_OUT_FONTS)
    assert set(R.TRAIN_FONTS) | set(R.HELD_OUT_FONTS) == set(files)
    assert R.HELD_OUT_FONTS == ("DejaVuSerif-Italic", "DejaVuSansMono-Bold")


def test_each_box_holds_its_own_glyph():
    line = R.render_line("a.W", "DejaVuSans")
    for char, (x0, x1) in zip(line.text, line.boxes):
        alone = R.render_line(char, "DejaVuSans")
        assert alone.image.sum() > 0
        assert x1 - x0 >= alone.boxes[0][1] - alone.boxes[0][0] - 1
    # ink of the middle character '.' lies inside its box
    x0, x1 = line.boxes[1]
    prev_end, next_start = line.boxes[0][1], line.boxes[2][0]
    gap_ink = line.image[:, max(prev_end, x0) : min(next_start, x1)]
    assert gap_ink.max() > 0.5


def test_same_seed_same_image():
    a = R.render_line(SAMPLE, "DejaVuSerif", noise=0.1, jitter=0.1, slant=0.2, rng=np.random.default_rng(3))
    b = R.render_line(SAMPLE, "DejaVuSerif", noise=0.1, jitter=0.1, slant=0.2, rng=np.random.default_rng(3))
    assert np.array_equal(a.image, b.image) and a.boxes == b.boxes
    d1 = R.text_lines(5, rng=np.random.default_rng(7), slant=0.2, noise=0.05, jitter=0.1)
    d2 = R.text_lines(5, rng=np.random.default_rng(7), slant=0.2, noise=0.05, jitter=0.1)
    assert np.array_equal(d1.images, d2.images) and d1.texts == d2.texts and d1.boxes == d2.boxes


@pytest.mark.parametrize("slant", [0.3, -0.3])
def test_slant_changes_image_not_box_count(slant):
    plain = R.render_line(SAMPLE, "DejaVuSans")
    leaned = R.render_line(SAMPLE, "DejaVuSans", slant=slant)
    assert len(leaned.boxes) == len(plain.boxes)
    assert leaned.image.shape != plain.image.shape or not np.array_equal(leaned.image, plain.image)
    _check_boxes(leaned)

    # positive slant moves the top rows' ink right, relative to the bottom rows', compared with no slant
    def lean(image):
        top, bottom, cols = image[:12].sum(0), image[20:].sum(0), np.arange(image.shape[1])
        return (top @ cols) / top.sum() - (bottom @ cols) / bottom.sum()

    assert np.sign(lean(leaned.image) - lean(plain.image)) == np.sign(slant)


def test_noise_changes_image_not_boxes():
    plain = R.render_line(SAMPLE, "DejaVuSans")
    noisy = R.render_line(SAMPLE, "DejaVuSans", noise=0.2, rng=np.random.default_rng(0))
    assert noisy.boxes == plain.boxes
    assert not np.array_equal(noisy.image, plain.image)
    assert noisy.image.min() >= 0 and noisy.image.max() <= 1


def test_jitter_changes_size():
    widths = {R.render_line("abcdefgh", "DejaVuSans", jitter=0.3, rng=np.random.default_rng(s)).width for s in range(6)}
    assert len(widths) > 1


def test_errors_are_one_line_value_errors():
    with pytest.raises(ValueError, match="non-empty string"):
        R.render_line("", "DejaVuSans")
    with pytest.raises(ValueError, match="unknown font 'Comic'"):
        R.render_line("abc", "Comic")
    with pytest.raises(ValueError, match=r"no glyph for '\\ue000' \(U\+E000\)"):
        R.render_line("a\ue000b", "DejaVuSans")
    with pytest.raises(ValueError, match="pass rng"):
        R.render_line("abc", noise=0.1)
    with pytest.raises(ValueError, match="min_len"):
        R.random_strings(np.random.default_rng(0), 3, R.DIGITS, 5, 2)
    with pytest.raises(ValueError, match="unknown font"):
        R.text_lines(2, fonts=["DejaVuSans", "Nope"], rng=np.random.default_rng(0))
    for call in (lambda: R.render_line("", "DejaVuSans"), lambda: R.render_line("x", "Comic")):
        with pytest.raises(ValueError) as info:
            call()
        assert "\n" not in str(info.value)


def test_pad_batch():
    lines = [R.render_line(t, "DejaVuSans") for t in ("a", "abcdef", "abc")]
    images, widths = R.pad_batch(lines)
    assert images.shape == (3, 32, widths.max()) and list(widths) == [line.width for line in lines]
    for image, line in zip(images, lines):
        assert np.array_equal(image[:, : line.width], line.image) and not image[:, line.width :].any()
    assert R.pad_batch(lines, width=500)[0].shape == (3, 32, 500)
    with pytest.raises(ValueError, match="narrower"):
        R.pad_batch(lines, width=5)
    with pytest.raises(ValueError, match="share a height"):
        R.pad_batch([lines[0], R.render_line("a", height=24)])


def test_random_strings_and_words():
    rng = np.random.default_rng(0)
    digits = R.random_strings(rng, 50, R.DIGITS, 2, 5)
    assert len(digits) == 50 and all(2 <= len(s) <= 5 and s.isdigit() for s in digits)
    lower = R.random_strings(rng, 50, R.LOWER)
    assert all(1 <= len(s) <= 12 and set(s) <= set(R.LOWER) for s in lower)
    words = R.random_words(rng, 20, max_words=3)
    assert all(1 <= len(s.split(" ")) <= 3 and set(s.split(" ")) <= set(R.WORDS) for s in words)


def test_text_lines_dataset():
    data = R.text_lines(
        12, fonts=R.HELD_OUT_FONTS, alphabet=R.DIGITS, min_len=3, max_len=6, rng=np.random.default_rng(1)
    )
    assert data.images.shape[:2] == (12, 32) and data.images.shape[2] == data.widths.max()
    assert set(data.fonts) <= set(R.HELD_OUT_FONTS)
    for image, width, text, boxes in zip(data.images, data.widths, data.texts, data.boxes):
        assert text.isdigit() and 3 <= len(text) <= 6 and len(boxes) == len(text)
        assert boxes[-1][1] <= width and not image[:, width:].any()
    words = R.text_lines(4, words=R.WORDS, min_len=2, max_len=2, rng=np.random.default_rng(2))
    assert all(len(t.split(" ")) == 2 and len(b) == len(t) for t, b in zip(words.texts, words.boxes))


def test_mnist_strings_place_each_digit_at_its_box():
    rng = np.random.default_rng(0)
    # 20 fake digits: digit i is a 28x28 block of the constant value 10 * (i + 1)
    images = (10 * (np.arange(20, dtype=np.uint8) + 1))[:, None, None] * np.ones((1, 28, 28), np.uint8)
    labels = np.arange(20) % 10
    data = R.mnist_strings(images, labels, 10, min_len=2, max_len=5, rng=rng, gap=(1, 4))
    assert data.images.shape[:2] == (10, 28) and data.images.dtype == np.float32
    for image, width, seq, boxes in zip(data.images, data.widths, data.labels, data.boxes):
        assert 2 <= len(seq) <= 5 and len(boxes) == len(seq) and seq.dtype == np.int64
        covered = np.zeros(image.shape[1], bool)
        for (x0, x1), label in zip(boxes, seq):
            assert x1 - x0 == 28
            values = np.unique(image[:, x0:x1])
            assert len(values) == 1
            index = round(values[0] * 255 / 10) - 1
            assert labels[index] == label
            covered[x0:x1] = True
        gaps = np.array([b[0] - a[1] for a, b in zip(boxes, boxes[1:])])
        assert ((1 <= gaps) & (gaps <= 4)).all()
        assert boxes[-1][1] == width and not image[:, ~covered].any()
    again = R.mnist_strings(images, labels, 10, min_len=2, max_len=5, rng=np.random.default_rng(0), gap=(1, 4))
    assert np.array_equal(again.images, data.images)
    with pytest.raises(ValueError, match="labels must be"):
        R.mnist_strings(images, labels[:5], 3, rng=rng)
