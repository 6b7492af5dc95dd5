"""`rnnlab fit / predict / evaluate / resume` on files made here, as a person would run them."""

import csv
import importlib.util
import json

import pytest
from test_estimators_classify import negation_data

from rnnlab.cli import main


@pytest.fixture(scope="module")
def reviews(tmp_path_factory):
    """A CSV with a header, quoted commas and string labels; a run fitted on it."""
    folder = tmp_path_factory.mktemp("own")
    texts, labels = negation_data(300, seed=0)
    texts[0] = "good, " + texts[0]  # a quoted comma
    path = folder / "reviews.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["review", "sentiment"])
        writer.writerows(zip(texts, labels))
    run = folder / "run"
    code = main(
        ["fit", "classify", "--data", str(path), "--out", str(run), "--steps", "200", "--hidden", "24"]
        + ["--lr", "0.005", "--min-count", "1", "--test-fraction", "0.2", "--no-progress"]
    )
    assert code == 0
    return path, run


def test_fit_writes_a_run_folder_with_preprocessing_and_held_out_metrics(reviews):
    path, run = reviews
    record = json.loads((run / "run.json").read_text())
    assert record["task"] == "classify" and record["source"]["path"] == str(path)
    assert record["preprocessing"]["classes"] == ["negative", "positive"]
    held_out = json.loads((run / "evaluation.json").read_text())
    assert held_out["examples"] == 60 and held_out["accuracy"] > 0.8
    assert (run / "best" / "model.safetensors").is_file()
    if importlib.util.find_spec("matplotlib"):
        assert (run / "loss.png").is_file()


def test_predict_reads_lines_and_writes_labels_with_probabilities(reviews, tmp_path, capsys):
    _, run = reviews
    inputs = tmp_path / "new.txt"
    inputs.write_text("the film was really lovely\n\nthe acting was not good\n")
    assert main(["predict", str(run), str(inputs), "--format", "jsonl"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["input"] for r in records] == ["the film was really lovely", "the acting was not good"]
    assert [r["label"] for r in records] == ["positive", "negative"]
    assert all(abs(sum(r["probabilities"].values()) - 1) < 1e-5 for r in records)


def test_evaluate_prints_and_saves_metrics_of_a_labelled_file(reviews, tmp_path, capsys):
    path, run = reviews
    out = tmp_path / "metrics.json"
    assert main(["evaluate", str(run), "--data", str(path), "--out", str(out)]) == 0
    metrics = json.loads(out.read_text())
    assert metrics["examples"] == 300 and set(metrics["per_class"]) == {"negative", "positive"}
    assert f"accuracy {metrics['accuracy']:.4f}" in capsys.readouterr().out


def test_resume_extends_a_finished_run_and_says_from_which_step(reviews, tmp_path, capsys):
    import shutil

    _, run = reviews
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    assert main(["resume", str(copy), "--steps", "20", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "continuing from" in out and "checkpoint-00000200" in out and "after 220 steps" in out
    assert json.loads((copy / "run.json").read_text())["fitted"]["steps"] == 220
    assert main(["resume", str(copy), "--no-progress"]) == 2  # finished, no budget given
    assert "finished its" in capsys.readouterr().err


@pytest.mark.parametrize(
    "content, args, message",
    [
        ("review,sentiment\nfine film,positive\ngood one,positive\n", [], "two or more classes"),
        ("review,sentiment\nfine film,positive\n", ["--label-column", "stars"], "'stars'"),
        ('review,sentiment\n"never closed,positive\nok,negative\n', [], "line 2"),
    ],
)
def test_an_input_error_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, content, args, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    out = tmp_path / "never"
    code = main(["fit", "classify", "--data", str(path), "--out", str(out), "--steps", "1", "--no-progress", *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_an_unknown_task_is_a_usage_error(capsys):
    assert main(["fit", "translate-everything", "--data", "x"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_fit_tag_on_a_conll_file_then_predict(tmp_path, capsys):
    lines = []
    for k in range(60):
        verb = k % 2 == 0
        lines += ["i\tPRON", f"{'book' if verb else 'a'}\t{'VERB' if verb else 'DET'}"]
        lines += (["the\tDET", "room\tNOUN"] if verb else ["book\tNOUN"]) + [""]
    data = tmp_path / "train.conll"
    data.write_text("-DOCSTART- O\n\n" + "\n".join(lines))
    run = tmp_path / "tagger"
    assert main(["fit", "tag", "--data", str(data), "--out", str(run), "--steps", "120", "--no-progress"]) == 0
    capsys.readouterr()
    sentences = tmp_path / "in.txt"
    sentences.write_text("i book the room\ni a book\n")
    assert main(["predict", str(run), str(sentences)]) == 0
    assert capsys.readouterr().out.splitlines() == ["i/PRON book/VERB the/DET room/NOUN", "i/PRON a/DET book/NOUN"]


def test_fit_lm_is_rnnlab_train_and_predict_continues_each_line(tmp_path, capsys):
    text = tmp_path / "abc.txt"
    text.write_text("abcabcabc " * 300)
    run = tmp_path / "lm"
    args = ["--data", str(text), "--out", str(run), "--steps", "30", "--hidden", "16", "--layers", "1"]
    assert main(["fit", "lm", *args, "--seq-len", "20", "--batch", "4", "--no-progress"]) == 0
    assert json.loads((run / "run.json").read_text())["hidden"] == 16  # TrainSpec: what `train` writes
    capsys.readouterr()
    prime = tmp_path / "prime.txt"
    prime.write_text("abc\n")
    assert main(["predict", str(run), str(prime), "--length", "5", "--format", "jsonl"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["input"] == "abc" and len(record["continuation"]) == 5
    assert main(["evaluate", str(run), "--data", str(text), "--out", str(tmp_path / "lm.json")]) == 0
    assert json.loads((tmp_path / "lm.json").read_text())["bits_per_char"] > 0
    assert main(["resume", str(run), "--steps", "5", "--no-progress"]) == 0
    assert "continuing from step 30" in capsys.readouterr().out


def test_fit_forecast_then_predict_the_months_after_the_end(tmp_path, capsys):
    from rnnlab.data.timeseries import monthly_example, write_series_csv

    stamps, values = monthly_example(n_years=6)
    data = tmp_path / "monthly.csv"
    write_series_csv(data, stamps, values, ["month", "sales"])
    run = tmp_path / "forecast"
    args = ["--data", str(data), "--out", str(run), "--horizon", "3", "--steps", "30", "--hidden", "8"]
    assert main(["fit", "forecast", *args, "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["predict", str(run)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["2016-01", "2016-02", "2016-03"]
    assert all(abs(float(line.split("\t")[2]) - values[-1]) < 50 for line in lines)


def test_examples_module_writes_a_training_and_a_test_file_per_task_that_fit_reads(tmp_path):
    from rnnlab.data.examples import write_examples
    from rnnlab.estimators import RNNForecaster, RNNSeq2Seq, RNNTagger

    paths = {p.name: p for p in write_examples(tmp_path)}
    sentences, tags, _ = RNNTagger.read_file(paths["tags-train.conll"])
    assert len(sentences) == 480 and len(RNNTagger.read_file(paths["tags-test.conll"])[0]) == 120
    book = {tag for s, ts in zip(sentences, tags) for w, tag in zip(s, ts) if w == "book"}
    assert book == {"NOUN", "VERB"}  # the ambiguity the tagger must read from context
    values, stamps, _ = RNNForecaster.read_file(paths["monthly-train.csv"])
    later, later_stamps, _ = RNNForecaster.read_file(paths["monthly-test.csv"])
    assert (
        len(values) == 132 and stamps[0] == "2010-01" and list(later_stamps) == [f"2021-{m:02d}" for m in range(1, 13)]
    )
    sources, targets, _ = RNNSeq2Seq.read_file(paths["numbers-train.tsv"])
    held = RNNSeq2Seq.read_file(paths["numbers-test.tsv"])[1]
    assert len(sources) == 9000 and sorted(map(int, targets + held)) == list(range(10_000))


def test_a_problem_only_the_whole_file_shows_names_the_file_and_writes_nothing(tmp_path, capsys):
    data = tmp_path / "short.csv"
    data.write_text("month,value\n" + "".join(f"2020-{m:02d},{m}\n" for m in range(1, 9)))
    out = tmp_path / "never"
    assert main(["fit", "forecast", "--data", str(data), "--out", str(out), "--horizon", "12"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"rnnlab: error: {data}: the series is too short") and not out.exists()
    assert main(["fit", "classify", "--data", str(data), "--out", str(out), "--test-fraction", "1"]) == 2
    assert "--test-fraction: must be in [0, 1)" in capsys.readouterr().err


def test_resume_of_an_interrupted_fit_continues_to_its_original_budget(reviews, tmp_path, capsys):
    """A run killed at step 20 of 40: its run.json, written before training, plans 40 steps and
    records none taken; resume without a budget trains from the checkpoint to step 40."""
    path, _ = reviews
    run = tmp_path / "killed"
    args = ["--data", str(path), "--out", str(run), "--steps", "20", "--hidden", "8", "--no-progress"]
    assert main(["fit", "classify", *args]) == 0
    record = json.loads((run / "run.json").read_text())
    record["fitted"] |= {"steps": None, "planned_steps": 40}
    (run / "run.json").write_text(json.dumps(record))
    capsys.readouterr()
    assert main(["resume", str(run), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "(step 20) to step 40" in out and "after 40 steps" in out


# --- ocr (issue 18): images and a labels file ----------------------------------------------------------
OCR_TINY = ["--height", "16", "--hidden", "32", "--layers", "1"]


def write_line_images(folder, n: int, seed: int):
    """n rendered lines of 1-3 letters of "abcd" saved by matplotlib as PNG files (black ink on
    white), and labels.csv (file,text) beside them; returns the labels file and the texts."""
    import matplotlib.pyplot as plt

    from rnnlab.data.images import rendered_lines

    folder.mkdir(parents=True, exist_ok=True)
    images, texts = rendered_lines(n, ("DejaVuSans", "DejaVuSerif-Bold"), seed, 1, 3, "abcd", 16)
    rows = ["file,text"]
    for k, (image, text) in enumerate(zip(images, texts)):
        plt.imsave(folder / f"line-{k:03d}.png", image, cmap="gray_r", vmin=0, vmax=255)
        rows.append(f"line-{k:03d}.png,{text}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder / "labels.csv", texts


def test_fit_ocr_on_png_files_then_predict_each_image_and_evaluate(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    labels, _ = write_line_images(tmp_path / "train", 300, seed=0)
    run = tmp_path / "reader"
    args = ["--data", str(labels), "--out", str(run), "--steps", "150", "--batch", "16", "--lr", "0.01"]
    assert main(["fit", "ocr", *args, *OCR_TINY, "--no-progress"]) == 0
    assert "training lines of 16 rows" in capsys.readouterr().out
    held, texts = write_line_images(tmp_path / "held", 30, seed=1)
    images = [str(held.parent / f"line-{k:03d}.png") for k in range(30)]
    assert main(["predict", str(run), *images]) == 0
    read = capsys.readouterr().out.splitlines()
    right = sum(r == t for r, t in zip(read, texts)) / 30
    assert len(read) == 30 and right > 0.6  # chance: 1 in 84
    assert main(["predict", str(run), images[0], "--format", "jsonl"]) == 0
    assert json.loads(capsys.readouterr().out) == {"input": images[0], "text": read[0]}
    out = tmp_path / "metrics.json"
    assert main(["evaluate", str(run), "--data", str(held), "--out", str(out)]) == 0
    metrics = json.loads(out.read_text())
    assert metrics["lines"] == 30 and metrics["sequence_accuracy"] == pytest.approx(right)
    assert f"sequence accuracy {metrics['sequence_accuracy']:.4f}" in capsys.readouterr().out


def test_fit_ocr_without_data_trains_on_rendered_lines_and_scores_held_out_fonts(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    run = tmp_path / "rendered"
    tiny = ["--hidden", "8", "--layers", "1", "--height", "16"]
    assert main(["fit", "ocr", "--out", str(run), "--lines", "60", "--steps", "2", *tiny, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "60 rendered text lines" in out and "500 lines in the fonts DejaVuSerif-Italic, DejaVuSansMono-Bold" in out
    held = json.loads((run / "evaluation.json").read_text())
    assert held["lines"] == 500 and held["fonts"] == ["DejaVuSerif-Italic", "DejaVuSansMono-Bold"]
    source = json.loads((run / "run.json").read_text())["source"]
    assert source["path"] is None and source["rendered"]["lines"] == 60 and source["rendered"]["height"] == 16
    assert main(["resume", str(run), "--steps", "1", "--no-progress"]) == 0  # renders the same lines again
    assert "after 3 steps" in capsys.readouterr().out
    assert main(["fit", "ocr", "--data", "labels.csv", "--lines", "10", "--out", str(tmp_path / "no")]) == 2
    assert "--lines" in capsys.readouterr().err
