"""RNNTextReader: the preprocessing every image goes through (rnnlab.data.images), learning to read
rendered lines it never saw, a saved run folder that reads the same, and labels files read with
errors that name the file and line."""

import numpy as np
import pytest

from rnnlab.data.images import MAX_PIXELS, line_image, read_image, read_labels, rendered_lines, resize
from rnnlab.data.text import DataError
from rnnlab.estimators import ESTIMATORS, RNNTextReader, load
from rnnlab.estimators.base import NotFittedError, read_run_file
from rnnlab.estimators.ocr import columns_needed

pytest.importorskip("matplotlib")  # the fonts that lines are rendered in, and Pillow

FONTS = ("DejaVuSans", "DejaVuSerif-Bold")
SMALL = {"height": 16, "channels": 8, "features": 32, "hidden": 32, "layers": 1}


def lines(n: int, seed: int):
    """n lines of 1-3 letters of "abcd", 16 rows high, in two fonts."""
    return rendered_lines(n, FONTS, seed=seed, min_len=1, max_len=3, alphabet="abcd", height=16)


@pytest.fixture(scope="module")
def fitted():
    """A small reader fitted on 300 rendered lines (a few seconds)."""
    X, y = lines(300, seed=0)
    said = []
    est = RNNTextReader(**SMALL, steps=150, batch_size=16, lr=0.01, seed=0).fit(X, y, say=said.append)
    return est, said


# --- preprocessing ---------------------------------------------------------------------------------
def test_line_image_scales_to_the_height_keeping_the_aspect_ratio_with_ink_bright():
    image, _ = rendered_lines(1, FONTS, seed=1, height=32)
    ink = image[0].astype(np.float64) / 255
    line = line_image(ink, 16)
    assert line.shape == (16, round(ink.shape[1] / 2)) and line.dtype == np.float32
    assert line.min() == 0 and line.max() == 1 and line[0].max() == 0  # background 0, ink 1
    paper = 200 - 150 * ink  # dark grey ink on light grey paper, as a scan
    np.testing.assert_allclose(line_image(paper, 16), line, atol=1e-6)
    rgb = np.repeat(paper[..., None], 3, axis=2).astype(np.uint8)
    np.testing.assert_allclose(line_image(rgb, 16), line, atol=0.02)
    np.testing.assert_allclose(line_image(line, 16), line, atol=1e-6)  # a second pass changes nothing


def test_resize_keeps_the_mean_and_does_not_alias_when_shrinking():
    stripes = np.tile([0.0, 1.0], (8, 40))  # (8, 80): one-pixel stripes
    small = resize(stripes, 4, 20)
    assert small.shape == (4, 20)
    np.testing.assert_allclose(small, 0.5, atol=0.05)  # stripes finer than the pixels average to grey
    ramp = np.linspace(0, 1, 50)[None, :].repeat(3, axis=0)
    np.testing.assert_allclose(resize(ramp, 3, 100).mean(), ramp.mean(), atol=1e-3)


def test_images_that_cannot_be_lines_are_refused_saying_why():
    with pytest.raises(ValueError, match="more than 100 times"):
        line_image(np.ones((2, 400)), 16)
    with pytest.raises(ValueError, match="NaN"):
        line_image(np.full((4, 4), np.nan), 16)
    with pytest.raises(ValueError, match="shape"):
        line_image(np.ones((2, 3, 5)), 16)
    assert not line_image(np.full((8, 20), 0.3), 8).any()  # blank: no ink


# --- learning ----------------------------------------------------------------------------------------
def test_reads_rendered_lines_it_never_saw(fitted):
    est, said = fitted
    X, y = lines(200, seed=1)
    accuracy = est.score(X, y)
    # chance: 1 in 84 strings of 1-3 letters of four; measured 0.96-0.98 over seeds 0-4
    assert accuracy > 0.6
    metrics = est.evaluate(X, y)
    assert metrics["lines"] == 200 and metrics["sequence_accuracy"] == accuracy
    assert metrics["character_error_rate"] < 0.2
    assert est.alphabet_ == "abcd" and any("alphabet 4" in line for line in said)
    inverted = [255 - x for x in X[:20]]  # black ink on white paper reads the same
    assert est.predict(inverted) == est.predict(X[:20])


def test_counts_its_parameters_exactly_and_beam_search_agrees(fitted):
    est, _ = fitted
    assert est._parameter_count() == sum(p.data.size for p in est.model_.parameters())
    X, _ = lines(40, seed=2)
    greedy = est.predict(X)
    beam = est.set_params(beam=4).predict(X)
    est.set_params(beam=0)
    assert np.mean([g == b for g, b in zip(greedy, beam)]) >= 0.9


def test_save_and_load_read_the_same(fitted, tmp_path):
    est, _ = fitted
    est.save(tmp_path / "run")
    record = read_run_file(tmp_path / "run")
    assert record["task"] == "ocr" and record["preprocessing"] == {"alphabet": "abcd"}
    assert record["params"]["height"] == 16
    again = load(tmp_path / "run")
    assert isinstance(again, RNNTextReader) and ESTIMATORS["ocr"] is RNNTextReader
    X, _ = lines(30, seed=3)
    assert again.predict(X) == est.predict(X)


def test_clones_and_refuses_to_predict_before_fit():
    sklearn = pytest.importorskip("sklearn")
    est = RNNTextReader(hidden=8, steps=3)
    copy = sklearn.base.clone(est)
    assert copy.get_params() == est.get_params() and "hidden=8" in repr(copy)
    with pytest.raises(NotFittedError):
        est.predict([np.ones((8, 8))])


def test_fit_refuses_what_it_cannot_learn_from():
    X, y = lines(4, seed=0)
    with pytest.raises(ValueError, match="multiple of 4"):
        RNNTextReader(height=30).fit(X, y)
    with pytest.raises(ValueError, match="2 texts"):
        RNNTextReader().fit(X, y[:2])
    with pytest.raises(ValueError, match="text 1"):
        RNNTextReader().fit(X, [y[0], ""] + y[2:])
    with pytest.raises(ValueError, match="image 2"):
        RNNTextReader().fit(X[:2] + [np.ones((2, 900))] + X[3:], y)


def test_a_line_too_narrow_for_its_text_is_padded_so_ctc_can_spell_it():
    assert columns_needed("abc") == 3 and columns_needed("book") == 5  # a blank between the o's
    X = [np.eye(16)[:, :4] for _ in range(8)]  # 4 columns: one CTC step
    y = ["aab", "abab"] * 4
    est = RNNTextReader(**SMALL, steps=2, validation_fraction=0).fit(X, y)
    assert np.isfinite(est.best_validation_ if est.best_validation_ is not None else 0.0)
    assert len(est.predict(X)) == 8


# --- files ---------------------------------------------------------------------------------------------
def write_pngs(folder, n: int, seed: int, header: bool = True):
    """n rendered lines as PNG files (black on white) and labels.csv beside them."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    X, y = lines(n, seed)
    rows = ["file,text"] if header else []
    for k, (image, text) in enumerate(zip(X, y)):
        Image.fromarray(255 - image).save(folder / f"{k:03d}.png")
        rows.append(f"{k:03d}.png,{text}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder / "labels.csv", X, y


def test_read_labels_reads_the_images_beside_it_with_or_without_a_header(tmp_path):
    path, X, y = write_pngs(tmp_path / "a", 5, seed=4)
    data = read_labels(path)
    assert data.texts == y and data.files == [f"{k:03d}.png" for k in range(5)] and data.lines == [2, 3, 4, 5, 6]
    np.testing.assert_allclose(data.images[0], 1 - X[0] / 255, atol=1e-6)  # grey levels as stored
    path, _, y = write_pngs(tmp_path / "b", 3, seed=4, header=False)
    assert read_labels(path).texts == y
    images, texts, source = RNNTextReader.read_file(path)
    assert len(images) == 3 and source == {"path": str(path)}


def test_read_labels_errors_name_the_labels_file_and_line(tmp_path):
    path, _, _ = write_pngs(tmp_path, 3, seed=5)
    good = path.read_text()
    cases = [
        (good + "missing.png,abc\n", "line 5: missing.png: no such image file"),
        (good + "../outside.png,abc\n", "line 5: '../outside.png' lies outside"),
        (good + "/etc/passwd,abc\n", "line 5: '/etc/passwd' lies outside"),
        (good + "000.png,\n", "line 5: the text of 000.png is empty"),
        (good + "000.png,a,b\n", "line 5: 3 fields"),
        ("file,text\n", "holds a header but no images"),
    ]
    for content, message in cases:
        path.write_text(content)
        with pytest.raises(DataError, match=message):
            read_labels(path)
    path.write_text(good)
    png = (tmp_path / "001.png").read_bytes()
    (tmp_path / "001.png").write_bytes(png[: len(png) // 2])  # cut short: its pixels end early
    with pytest.raises(DataError, match=f"{path}: line 3: 001.png: cannot be decoded"):
        read_labels(path)
    (tmp_path / "000.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    with pytest.raises(DataError, match=f"{path}: line 2: 000.png: is not an image"):
        read_labels(path)


def test_read_image_refuses_a_header_claiming_too_many_pixels_before_decoding(tmp_path):
    from PIL import Image

    big = tmp_path / "big.png"
    Image.new("L", (5000, 5000)).save(big)  # 25 M pixels: small on disk
    assert 5000 * 5000 > MAX_PIXELS
    with pytest.raises(DataError, match="more than the 16,777,216"):
        read_image(big)
    tall = tmp_path / "tall.png"
    Image.new("L", (30, 600), 255).save(tall)
    assert read_image(tall).shape == (128, 6)  # scaled down to the tallest model height on reading
