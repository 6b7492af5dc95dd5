"""The explorer's data (rnnlab.analysis.explorer), its page (explorer_page) and `rnnlab view`:
hypotheses on hand-made strings, the ranking finding a planted unit, predictions equal to the
model's softmax, a self-contained page of bounded size, one-line errors."""

import base64
import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest

from rnnlab import cli
from rnnlab.analysis.explorer import (
    Group,
    correlations,
    embedding_order,
    explore,
    gate_saturation,
    hypotheses,
    indentation,
    line_position,
    page_data,
    python_scan,
    rank_units,
    recorded_names,
    word_starts,
)
from rnnlab.analysis.explorer_page import explorer_html
from rnnlab.data.text import Vocab
from rnnlab.models.charlm import CharLM, CharLMConfig
from rnnlab.nn import cells

CODE = (
    "def f(x, y=[1, {2: 3}]):\n"
    "    '''doc (string\n"
    "    still'''\n"
    "    s = \"a(b\" + 'it\\'s'  # \"not (a string\n"
    "\tif (x):\n"
    "\t\treturn {'k': (y)}\n"
) * 3


def bits(values) -> str:
    return "".join(str(int(v)) for v in values)


# --- hypotheses ---------------------------------------------------------------------------------


def test_string_literals_open_at_the_quote_and_close_after_it():
    inside, _ = python_scan("x = \"ab\" + 'c\\'d' # \"e\n")
    assert bits(inside) == "00001110000111110000000"
    inside, _ = python_scan('"""a\nb""" c')
    assert bits(inside) == "11111100000"  # a triple-quoted string spans lines
    inside, _ = python_scan("'ab\ncd'")
    assert bits(inside) == "1110001"  # a one-line string ends at a newline; the last quote opens one


def test_bracket_depth_counts_outside_strings_and_comments():
    _, depth = python_scan('f(a[1], {"(": 2})) # (\n(')
    assert depth.tolist() == [0, 1, 1, 2, 2, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 1, 0, 0, 0, 0, 0, 0, 0, 1]


def test_line_position_indentation_and_word_starts():
    text = "ab\n  c d\n\tx_1\n"
    assert line_position(text).tolist() == [0, 1, 2, 0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4]
    assert indentation(text).tolist() == [0, 0, 0, 1, 2, 2, 2, 2, 2, 8, 8, 8, 8, 8]
    assert bits(word_starts(text)) == "10000101001000"


def test_the_built_in_hypotheses_cover_the_text():
    found = hypotheses(CODE)
    assert list(found) == ["string", "brackets", "column", "indent", "word-start"]
    assert all(len(h.values) == len(CODE) for h in found.values())
    assert found["string"].binary and not found["brackets"].binary
    assert found["brackets"].values.max() == 3 and found["indent"].values.max() == 16


# --- units matched with hypotheses --------------------------------------------------------------


def planted_groups(y, rng):
    T = len(y)
    h = rng.standard_normal((T, 8)).astype(np.float32)
    c = rng.standard_normal((T, 6)).astype(np.float32)
    h[:, 5] = y + 0.05 * rng.standard_normal(T)  # unit 5 tracks the hypothesis
    c[:, 2] = -0.5 * y + 0.3 * rng.standard_normal(T)  # unit 2 of c anti-tracks it, noisier
    c[:, 4] = 1.0  # a constant unit
    return [Group("l0", "h", "state", h), Group("l1", "c", "state", c)]


def test_the_ranking_finds_a_planted_unit_by_absolute_correlation():
    y = hypotheses(CODE)["brackets"].values
    ranking = rank_units(planted_groups(y, np.random.default_rng(0)), y)
    assert (ranking[0].layer, ranking[0].name, ranking[0].unit) == ("l0", "h", 5) and ranking[0].r > 0.99
    assert (ranking[1].layer, ranking[1].name, ranking[1].unit) == ("l1", "c", 2) and ranking[1].r < -0.7
    assert len(ranking) == 14 and ranking[-1].r == 0.0  # the constant unit: r 0, ranked last
    r = correlations(planted_groups(y, np.random.default_rng(0)), y)["l0/h"]
    assert np.isclose(r[5], np.corrcoef(planted_groups(y, np.random.default_rng(0))[0].values[:, 5], y)[0, 1])
    assert not correlations(planted_groups(y, np.random.default_rng(0)), np.ones(len(y)))["l0/h"].any()


def test_gate_saturation_is_the_fraction_below_and_above():
    values = np.array([[0.05, 0.5], [0.95, 0.5], [0.02, 0.99], [0.5, 0.5]], np.float32)
    sat = gate_saturation([Group("l0", "h", "state", values), Group("l0", "f", "gate", values)])
    assert len(sat) == 1 and sat[0].gate == "f"
    assert sat[0].left.tolist() == [0.5, 0.0] and sat[0].right.tolist() == [0.25, 0.25]


# --- a model over a text -------------------------------------------------------------------------


def tiny(kind, vocab, layers=2, hidden=12, seed=0):
    config = CharLMConfig(vocab_size=vocab.size, model=kind, hidden=hidden, layers=layers, embedding=6)
    return CharLM(config, np.random.default_rng(seed)).eval()


@pytest.mark.parametrize("kind", cells.names())
def test_explore_records_every_layers_states_and_gates(kind):
    vocab = Vocab.from_text(CODE)
    model = tiny(kind, vocab)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    found = explore(model, vocab, CODE, window=50)  # several windows, the state carried
    names = recorded_names(model.rnn.kind)
    assert [(g.layer, g.name) for g in found.groups] == [(layer, n) for layer in ("l0", "l1") for n, _ in names]
    assert {n for n, role in names if role == "gate"} == set(model.rnn.kind.gates)
    assert all(g.values.shape == (len(CODE), 12) for g in found.groups)
    assert len(found.saturation) == 2 * len(model.rnn.kind.gates)
    # the top layer's h is the layer's output, read in one go
    ids, _ = vocab.encode(CODE)
    out, _ = model.rnn.forward(model.embed.forward(ids[:, None]))
    top_h = next(g for g in found.groups if g.layer == "l1" and g.name == "h")
    np.testing.assert_allclose(top_h.values, out[:, 0], atol=1e-5)
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())  # read, not changed


def test_top_predictions_and_loss_are_the_models_softmax():
    vocab = Vocab.from_text(CODE)
    model = tiny("lstm", vocab, layers=1)
    found = explore(model, vocab, CODE[:300])
    ids, _ = vocab.encode(CODE[:300])
    logits, _ = model.forward(ids[:, None])
    z = logits[:, 0].astype(np.float64)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    assert found.top_ids.shape == (300, 5)
    assert (found.top_probs.sum(axis=1) <= 1 + 1e-9).all() and (np.diff(found.top_probs, axis=1) <= 0).all()
    np.testing.assert_allclose(found.top_probs, np.sort(p, axis=1)[:, ::-1][:, :5], rtol=1e-4)
    np.testing.assert_allclose(np.take_along_axis(p, found.top_ids, axis=1), found.top_probs, rtol=1e-4)
    np.testing.assert_allclose(found.loss[:-1], -np.log(p[np.arange(299), ids[1:]]), rtol=1e-4)
    assert np.isnan(found.loss[-1]) and np.isclose(found.mean_loss, found.loss[:-1].mean())


def test_unknown_characters_have_no_loss_and_a_text_needs_two_known_ones():
    vocab = Vocab.from_text("abc ")
    found = explore(tiny("gru", vocab, layers=1), vocab, "ab\u00e9c a")
    assert found.known.tolist() == [True, True, False, True, True, True]
    assert np.isnan(found.loss[1]) and not np.isnan(found.loss[2])  # b -> é: unknown, no loss
    with pytest.raises(ValueError, match="at least 2"):
        explore(tiny("gru", vocab, layers=1), vocab, "a")
    with pytest.raises(ValueError, match="vocabulary"):
        explore(tiny("gru", vocab, layers=1), vocab, "\u00e9\u00e9\u00e9")


# --- the page's data and the page ----------------------------------------------------------------


def decoded(data: dict, T: int) -> np.ndarray:
    q = np.frombuffer(base64.b64decode(data["series"]), np.uint8).reshape(len(data["units"]), T)
    lo, hi = (np.array([u[k] for u in data["units"]])[:, None] for k in (2, 3))
    return lo + q / 255.0 * (hi - lo)


def test_page_data_quantises_each_unit_within_its_range():
    vocab = Vocab.from_text(CODE)
    found = explore(tiny("lstm", vocab), vocab, CODE)
    data = page_data(found)
    assert len(data["units"]) == data["totalUnits"] == 2 * 5 * 12  # everything fits
    values = decoded(data, len(CODE))
    for row, (k, unit, lo, hi) in enumerate(data["units"]):
        truth = found.groups[k].values[:, unit]
        assert np.abs(values[row] - truth).max() <= (hi - lo) / 255 + 1e-3
    probs = np.frombuffer(base64.b64decode(data["topProbs"]), "<u2").reshape(-1, 5) / data["probScale"]
    assert np.abs(probs - found.top_probs).max() <= 1e-4 and (probs.sum(axis=1) <= 1.0005).all()
    json.dumps(data, allow_nan=False)  # NaN losses travel as null


def test_a_small_budget_embeds_the_best_matching_units_first():
    vocab = Vocab.from_text(CODE)
    found = explore(tiny("lstm", vocab), vocab, CODE)
    data = page_data(found, max_bytes=len(json.dumps(page_data(found, 1))) + 200_000 + 6 * 320)
    assert 1 < len(data["units"]) < data["totalUnits"]
    index = {g.key: k for k, g in enumerate(found.groups)}
    embedded = {(k, u) for k, u, *_ in data["units"]}
    for ranking in found.rankings.values():  # every hypothesis's best unit is in the page
        assert (index[f"{ranking[0].layer}/{ranking[0].name}"], ranking[0].unit) in embedded
    assert embedded == set(embedding_order(found)[: len(embedded)])


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_the_page_is_self_contained_and_safe_for_any_text():
    text = CODE + '</script><script>alert(1)</script> <!-- "\u00e9\U0001f600" -->\n'
    vocab = Vocab.from_text(text)
    page = explorer_html(explore(tiny("gru", vocab), vocab, text), title="runs/<b>")
    parser = Tags()
    parser.feed(page)
    links = [a.get(k, "") for _, a in parser.tags for k in ("src", "href")]
    assert not any(re.match(r"\s*(https?:)?//", v) for v in links)
    assert [t for t, _ in parser.tags if t in ("link", "iframe", "img")] == []
    assert [a.get("src") for t, a in parser.tags if t == "script"] == [None, None]  # both inline
    assert page.count("</script>") == 2 and "runs/&lt;b&gt;" in page and page.isascii()
    data = json.loads(re.search(r'id="explorer-data">(.*?)</script>', page, re.S).group(1))
    assert data["text"] == text and data["title"] == "runs/<b>"


def test_the_page_stays_within_its_size_budget():
    text = (CODE * 60)[:10_000]
    vocab = Vocab.from_text(text)
    found = explore(tiny("lstm", vocab, layers=2, hidden=64), vocab, text)  # 640 series: 6.4 MB raw
    page = explorer_html(found, max_bytes=3_000_000)
    assert len(page.encode()) <= 3_000_000
    assert len(page.encode()) > 2_000_000  # and it uses the room


# --- rnnlab view -----------------------------------------------------------------------------------


def page_text(path) -> str:
    return json.loads(re.search(r'id="explorer-data">(.*?)</script>', path.read_text(), re.S).group(1))["text"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A char-LM run of two training steps on CODE."""
    folder = tmp_path_factory.mktemp("view")
    data = folder / "code.py"
    data.write_text(CODE * 4)
    args = ["train", "--data", str(data), "--out", str(folder / "run"), "--hidden", "8", "--layers", "2"]
    args += ["--embedding", "4", "--seq-len", "10", "--batch", "2", "--steps", "2", "--no-progress"]
    assert cli.main(args) == 0
    return folder / "run"


def test_view_writes_the_page_of_a_run(run, capsys):
    assert cli.main(["view", str(run), "--chars", "200"]) == 0
    out = capsys.readouterr().out
    assert "held-out characters" in out and "bracket depth" in out and "page:" in out
    held_out = page_text(run / "view.html")  # the end of the training text, from the start of a line
    assert 0 < len(held_out) <= 0.05 * len(CODE * 4) and (CODE * 4).endswith("\n" + held_out)
    other = run.parent / "other.html"
    argv = ["view", str(run), "--text", str(run.parent / "code.py"), "--chars", "120", "--out", str(other)]
    assert cli.main(argv) == 0
    assert page_text(other) == (CODE * 4)[:120]


def test_view_explains_itself(capsys):
    assert cli.main(["view", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "usage: rnnlab view" in out and "--corpus" in out and "HTML file" in out and "LSTMVis" in out


def test_view_refuses_bad_input_in_one_line(run, tmp_path, capsys):
    unknown = tmp_path / "unknown.txt"
    unknown.write_text("\u00e9\u00e8\u00ea")
    checkpoint = next(run.glob("best"))
    cases = {
        "no such run": ["view", str(tmp_path / "nope")],
        "no folder for --out": ["view", str(run), "--out", str(tmp_path / "no" / "page.html")],
        "not html": ["view", str(run), "--out", str(tmp_path / "page.txt")],
        "missing text": ["view", str(run), "--text", str(tmp_path / "missing.txt")],
        "unknown characters": ["view", str(run), "--text", str(unknown)],
        "unknown corpus": ["view", str(run), "--corpus", "nope"],
        "no run.json": ["view", str(checkpoint), "--out", str(tmp_path / "p.html")],
        "zero chars": ["view", str(run), "--chars", "0"],
        "both sources": ["view", str(run), "--text", str(unknown), "--corpus", "python-docs"],
    }
    for name, argv in cases.items():
        assert cli.main(argv) == 2, name
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err, (name, err)
