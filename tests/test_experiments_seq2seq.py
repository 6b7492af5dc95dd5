"""The seq2seq experiments (dates, reverse, translate) in --quick mode: each writes its run
folder and shows learning, attention ahead of the bottleneck; `rnnlab translate` uses the models."""

import numpy as np
import pytest

from rnnlab import cli
from rnnlab.experiments.seq2seq import load_translator


def _run(run_quick, name, **options):
    summary, out = run_quick(name, **options)
    for variant in ("attention", "no-attention"):
        assert (out / variant / "best" / "state.json").is_file()
    return summary, out


def test_dates_quick_attention_reads_dates_the_bottleneck_cannot(run_quick, capsys):
    summary, out = _run(run_quick, "dates")
    att, plain = summary["models"]["attention"], summary["models"]["no-attention"]
    # an untrained model gets no date right; the digits of a year are 1 in 10 each
    assert att["exact_match"] > 0.3 and att["token_accuracy"] > plain["token_accuracy"] + 0.15
    assert cli.main(["translate", str(out), "3 March 2021", "--beam", "2"]) == 0
    assert capsys.readouterr().out.strip().count("\n") == 0  # one line out for one line in
    translator = load_translator(out / "attention")
    results, unknown = translator(["3 March 2021"])
    assert unknown == [] and results[0][3].shape[1] == len("3 March 2021")  # attention over the characters


def test_reverse_quick_attention_holds_up_with_length(run_quick):
    summary, _ = _run(run_quick, "reverse", sampling="linear")
    att = summary["models"]["attention"]["by_length"]
    plain = summary["models"]["no-attention"]["by_length"]
    assert att[8]["token_accuracy"] > 0.9 and att[8]["token_accuracy"] > plain[8]["token_accuracy"] + 0.1
    assert plain[2]["token_accuracy"] > 0.9  # short strings fit through the bottleneck


def _pairs_file(path, n=3000):
    """English -> French word by word on a 20-word dictionary: learnable in seconds."""
    rng = np.random.default_rng(0)
    en = "i you he she we they see eat like red blue big small cat dog house car apple bread the".split()
    fr = "je tu il elle nous ils vois mange aime rouge bleu grand petit chat chien maison voiture pomme pain le".split()
    lines = []
    for _ in range(n):
        idx = rng.integers(len(en), size=rng.integers(1, 9))
        lines.append(f"{' '.join(en[i] for i in idx).capitalize()}.\t{' '.join(fr[i] for i in idx).capitalize()} .")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_translate_quick_scores_bleu_on_held_out_sentences(run_quick, tmp_path, capsys, monkeypatch):
    summary, out = _run(run_quick, "translate", data=str(_pairs_file(tmp_path / "pairs.txt")))
    att, plain = summary["models"]["attention"], summary["models"]["no-attention"]
    assert att["bleu"] > 50 and att["bleu"] > plain["bleu"]
    assert set(att["by_length"]) <= {"1-4", "5-6", "7-8", "9-10"} and summary["examples"]
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("I see the cat.\nWe like bread.\n"))
    assert cli.main(["translate", str(out / "attention")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("je")


def test_translate_errors_are_one_line(tmp_path, capsys):
    assert cli.main(["translate", str(tmp_path / "missing"), "x"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert (
        cli.main(
            ["experiment", "translate", "--quick", "--data", str(tmp_path / "none.zip"), "--out", str(tmp_path / "run")]
        )
        == 2
    )
    assert "none.zip: not found" in capsys.readouterr().err


def test_translate_units_are_char_or_chars_and_word_or_words():
    from rnnlab.experiments.seq2seq import join_tokens, tokens_of, unit_name

    assert unit_name("char") == unit_name("chars") == "chars"
    assert unit_name("word") == unit_name("words") == "words"
    assert tokens_of("Le chat.", "char") == list("Le chat.") and join_tokens(list("ab"), "char") == "ab"
    assert tokens_of("Le chat.", "word") == ["le", "chat", "."]
    for bad in ("letters", "Char", ""):
        with pytest.raises(ValueError, match="unit must be 'chars'"):
            tokens_of("x", bad)


def test_translate_scores_report_smoothed_bleu_and_exact_match():
    from rnnlab.experiments.seq2seq import _translation_scores

    refs = [[["le", "chat", "noir", "dort", "ici"]], [["oui"]], [["merci", "beaucoup"]]]
    out = [["le", "chien", "noir", "mange", "ici"], ["oui"], ["merci", "beaucoup"]]  # no 4-gram matches
    scores = _translation_scores(out, refs)
    assert scores["bleu"] == 0.0 and scores["bleu_smoothed"] > 10
    assert scores["exact_match"] == pytest.approx(2 / 3)


def _rare_words_file(path, n=400):
    """Every sentence's words are its own: at min count 2 the vocabularies would keep no word at all
    (only the special tokens), as on a small file of one's own."""
    lines = [f"Word{k} red{k}\tMot{k} rouge{k}" for k in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_translate_min_count_never_empties_the_vocabulary_silently(run_quick, tmp_path):
    summary, out = run_quick("translate", data=str(_rare_words_file(tmp_path / "rare.txt")), minutes=0.05)
    assert summary["min_count"] == {"source": 1, "target": 1} and summary["unit"] == "words"
    assert any("French vocabulary: min_count 2 would keep" in note for note in summary["notes"])
    assert "Note: French vocabulary" in (out / "summary.md").read_text()
    for variant in ("attention", "no-attention"):
        assert {"bleu", "bleu_smoothed", "exact_match"} <= set(summary["models"][variant])
