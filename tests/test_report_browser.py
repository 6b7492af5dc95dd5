"""The page of `rnnlab report` in a real browser: headless Chromium (tests/browser.py) loads it
from file:// with no console error and no request, draws both runs' curves, shows their values
on hover and hides a run whose legend entry is clicked. Skipped without chromium, failing when
RNNLAB_REQUIRE_BROWSER=1 (CI installs it)."""

import pytest

from rnnlab import cli

TEXT = "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n" * 30


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report-page")
    data = folder / "text.txt"
    data.write_text(TEXT)
    for model, hidden in (("lstm", 8), ("gru", 6)):
        argv = ["train", "--data", str(data), "--out", str(folder / model), "--model", model, "--steps", "6"]
        argv += ["--hidden", str(hidden), "--layers", "1", "--embedding", "4", "--seq-len", "8", "--batch", "2"]
        assert cli.main([*argv, "--eval-every", "2", "--no-progress"]) == 0
    out = folder / "report.html"
    assert cli.main(["report", str(folder / "lstm"), str(folder / "gru"), "--out", str(out)]) == 0
    return out


@pytest.fixture
def opened(browser, page):
    browser.open(page)
    yield browser
    assert browser.errors == []


def curves(browser, chart: str) -> list[str]:
    return browser.evaluate(f"[...document.querySelectorAll('#{chart} polyline.curve')].map(e => e.dataset.run)")


def test_the_page_loads_from_file_with_no_request_and_draws_both_runs(opened):
    assert opened.evaluate("location.protocol") == "file:"
    assert opened.evaluate("performance.getEntriesByType('resource').length") == 0
    legend = opened.evaluate("[...document.querySelectorAll('#legend button')].map(b => b.textContent)")
    assert legend == ["lstm", "gru"]
    assert curves(opened, "train-chart") == ["0", "1"] and curves(opened, "eval-chart") == ["0", "1"]
    points = opened.evaluate("document.querySelector('#train-chart polyline').getAttribute('points').split(' ').length")
    assert points == 6  # one per training step


def test_hovering_a_chart_shows_each_runs_value_at_the_nearest_step(opened):
    opened.hover("#eval-chart svg")
    tip = opened.evaluate("(() => { const t = document.querySelector('#eval-chart .tip');"
                          " return [getComputedStyle(t).display, t.textContent]; })()")  # fmt: skip
    assert tip[0] == "block"
    assert "lstm: " in tip[1] and "gru: " in tip[1] and " at step " in tip[1]


def test_clicking_a_legend_entry_hides_and_shows_its_run(opened):
    opened.click('#legend button[data-run="0"]')
    assert curves(opened, "train-chart") == ["1"] and curves(opened, "eval-chart") == ["1"]
    assert opened.evaluate("document.querySelector('#legend button[data-run=\"0\"]').classList.contains('off')")
    opened.click('#legend button[data-run="0"]')
    assert curves(opened, "train-chart") == ["0", "1"]
