"""The explorer page of `rnnlab view` in a real browser: headless Chromium (tests/browser.py) loads
it from file:// and is driven like a person would (hover, drag), with no console error allowed.
Skipped without chromium, failing when RNNLAB_REQUIRE_BROWSER=1 (CI installs it)."""

import base64
import json
import re

import numpy as np
import pytest

from rnnlab.analysis.explorer import explore, page_data
from rnnlab.analysis.explorer_page import explorer_html
from rnnlab.data.text import Vocab
from rnnlab.models.charlm import CharLM, CharLMConfig

TEXT = (
    "def area(shape, scale=[1, {'k': 2}]):\n"
    '    """Area (in m\u00b2) of a shape."""\n'
    "    if shape.kind == 'circle':\n"
    '        return 3.14 * (shape.r * scale[0]) ** 2  # \U0001f600 "(\n'
    "    return shape.w * shape.h\n"
) * 8


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """(path of the page, the Explorer, its page data) of a random 2x16 LSTM over TEXT."""
    vocab = Vocab.from_text(TEXT)
    config = CharLMConfig(vocab_size=vocab.size, model="lstm", hidden=16, layers=2, embedding=8)
    found = explore(CharLM(config, np.random.default_rng(0)).eval(), vocab, TEXT, description="a test model")
    path = tmp_path_factory.mktemp("page") / "view.html"
    path.write_text(explorer_html(found, title="test run"), encoding="utf-8")
    data = json.loads(re.search(r'id="explorer-data">(.*?)</script>', path.read_text(), re.S).group(1))
    return path, found, data


@pytest.fixture
def opened(browser, page):
    browser.open(page[0])
    assert browser.evaluate("window.explorer && window.explorer.ready") is True
    yield browser
    assert browser.errors == []


def series(data, T):
    q = np.frombuffer(base64.b64decode(data["series"]), np.uint8).reshape(len(data["units"]), T)
    lo, hi = (np.array([u[k] for u in data["units"]])[:, None] for k in (2, 3))
    return lo + q / 255.0 * (hi - lo)


def test_the_page_loads_from_file_with_no_console_errors_and_no_requests(opened):
    assert opened.evaluate("location.protocol") == "file:"
    assert opened.evaluate("performance.getEntriesByType('resource').length") == 0
    assert opened.evaluate("document.title") == "test run \u00b7 rnnlab view"
    assert "a test model" in opened.evaluate("document.getElementById('summary').textContent")


def test_the_text_has_one_element_per_character_carrying_its_activation(opened, page):
    _, found, data = page
    spans = opened.evaluate(
        "Array.from(document.querySelectorAll('#text .ch'), s => [s.textContent, +s.dataset.i, +s.dataset.a])"
    )
    assert len(spans) == len(TEXT)  # astral characters too: one element per code point
    assert "".join(s[0] for s in spans) == TEXT and [s[1] for s in spans] == list(range(len(TEXT)))
    row = opened.evaluate("explorer.state.row")
    k, unit, lo, hi = data["units"][row]
    truth = found.groups[k].values[:, unit]
    assert np.abs(np.array([s[2] for s in spans]) - truth).max() <= (hi - lo) / 255 + 2e-3
    # the page opens on the best match of any hypothesis with any unit
    name = max(found.rankings, key=lambda n: abs(found.rankings[n][0].r))
    best = found.rankings[name][0]
    assert opened.evaluate("explorer.state.hyp") == list(found.hypotheses).index(name)
    assert (found.groups[k].layer, found.groups[k].name, unit) == (best.layer, best.name, best.unit)


def test_choosing_another_unit_recolours_the_text(opened, page):
    _, found, data = page
    row = len(data["units"]) - 1
    opened.click(f'#units li[data-row="{row}"]')  # 160 units: all in the list
    assert opened.evaluate("explorer.state.row") == row
    values = opened.evaluate("Array.from(document.querySelectorAll('#text .ch'), s => +s.dataset.a)")
    np.testing.assert_allclose(values, series(data, len(TEXT))[row], atol=2e-3)


def test_hovering_a_character_shows_the_five_predictions_and_the_loss(opened, page):
    _, found, _ = page
    t = 40
    assert opened.evaluate("document.getElementById('predictions').hidden") is True
    opened.hover(f'#text .ch[data-i="{t}"]')
    assert opened.evaluate("document.getElementById('predictions').hidden") is False
    rows = opened.evaluate(
        "Array.from(document.querySelectorAll('#pred-rows tr'), r => [r.cells[0].textContent, r.cells[2].textContent])"
    )
    assert len(rows) == 5
    shown = {"\n": "\u21b5", " ": "\u2423", "\t": "\u21e5"}
    expected = [found.chars[i] for i in found.top_ids[t]]
    assert [r[0] for r in rows] == [shown.get(c, c) for c in expected]
    assert [r[1] for r in rows] == [f"{100 * p:.1f}%" for p in found.top_probs[t]]
    actual = opened.evaluate("document.getElementById('pred-actual').textContent")
    assert f"loss {found.loss[t]:.3f} nats" in actual


def test_selecting_a_span_finds_the_units_on_and_marks_where_they_are_all_on(opened, page):
    _, found, data = page
    T, theta = len(TEXT), 0.3
    values = series(data, T)
    a, b = TEXT.index("'circle'"), TEXT.index("'circle'") + 7
    opened.evaluate(f"document.getElementById('threshold').value = {theta}")
    result = opened.evaluate(f"explorer.selectSpan({a}, {b})")
    row = opened.evaluate("explorer.state.row")
    g = data["units"][row][0]
    rows = [r for r, u in enumerate(data["units"]) if u[0] == g]
    on = [r for r in rows if (values[r, a : b + 1] >= theta - 1e-9).all()]
    on = [r for r in on if values[r, a - 1] < theta - 1e-9 and values[r, b + 1] < theta - 1e-9]  # off around
    assert result["units"] == [data["units"][r][1] for r in on]
    if on:
        lit = (values[on] >= theta - 1e-9).all(axis=0)
        assert sum(m[1] - m[0] + 1 for m in result["matches"]) == int(lit.sum())
        assert opened.evaluate("document.querySelectorAll('#text .ch.match').length") == int(lit.sum())
    # the same move with the mouse: a person drags over another span
    c, d = TEXT.index("return"), TEXT.index("return") + 5
    opened.drag(f'#text .ch[data-i="{c}"]', f'#text .ch[data-i="{d}"]')
    assert opened.evaluate("window.getSelection().toString()") == "return"
    assert opened.evaluate("explorer.state.selection") == [c, d]
    assert f"Span {c}\u2013{d}" in opened.evaluate("document.getElementById('selection').textContent")


def test_the_gate_saturation_scatter_has_a_dot_per_gate_unit(opened, page):
    _, found, _ = page
    dots = opened.evaluate("document.querySelectorAll('#saturation circle[data-key]').length")
    assert dots == sum(len(s.left) for s in found.saturation) == 2 * 3 * 16


def test_the_hypotheses_panel_names_each_hypothesis_with_its_best_unit(opened, page):
    _, found, _ = page
    items = opened.evaluate("Array.from(document.querySelectorAll('#hypotheses li'), li => li.textContent)")
    assert len(items) == len(found.hypotheses)
    for item, (name, hyp) in zip(items, found.hypotheses.items()):
        best = found.rankings[name][0]
        assert hyp.title in item and f"{best.layer}/{best.name}#{best.unit}" in item
    opened.click("#hypotheses li:nth-child(2)")
    assert opened.evaluate("explorer.state.hyp") == 1


def test_a_screenshot_can_be_taken(opened, tmp_path):
    opened.hover('#text .ch[data-i="12"]')
    png = opened.screenshot(tmp_path / "view.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_a_page_of_a_gru_and_of_a_model_without_gates_loads_too(browser, tmp_path):
    vocab = Vocab.from_text(TEXT)
    for kind in ("gru", "rnn"):
        config = CharLMConfig(vocab_size=vocab.size, model=kind, hidden=8, layers=1, embedding=4)
        found = explore(CharLM(config, np.random.default_rng(1)).eval(), vocab, TEXT[:300])
        path = tmp_path / f"{kind}.html"
        path.write_text(explorer_html(found), encoding="utf-8")
        browser.open(path)
        assert browser.evaluate("document.querySelectorAll('#text .ch').length") == 300
        assert browser.evaluate("document.querySelectorAll('#saturation circle[data-key]').length") == sum(
            len(s.left) for s in found.saturation
        )
        assert browser.errors == [], kind
    assert len(page_data(found)["units"]) == 8  # the Elman RNN: h only
