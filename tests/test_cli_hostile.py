"""The command line against hostile input: every expected failure is one line on stderr, exit code
2, naming the file (and line) or the option; sizes that cannot fit are refused before anything is
allocated; a failed start leaves nothing behind to refuse the corrected command. One test per
defect of the audit (the command that showed it is in each test)."""

import json
import re

import numpy as np
import pytest

from rnnlab.cli import main
from rnnlab.data.text import DataError
from rnnlab.data.timeseries import monthly_example, write_series_csv
from rnnlab.estimators import ESTIMATORS
from rnnlab.train import limits

pytestmark = pytest.mark.backend_free  # CI's second pass (RNNLAB_COMPILED=0) leaves these out
TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n" * 40
TINY_LM = ["--hidden", "8", "--layers", "1", "--embedding", "8", "--seq-len", "16", "--batch", "4", "--no-progress"]


def one_line(capsys, *needles: str) -> str:
    """stderr, checked to be one `rnnlab... error:` line holding every needle."""
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error:" in err and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "small.txt"
    path.write_text(TEXT)
    return path


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory, text_file):
    run = tmp_path_factory.mktemp("lm") / "run"
    assert main(["train", "--data", str(text_file), "--out", str(run), "--steps", "2", *TINY_LM]) == 0
    return run


@pytest.fixture
def little_memory(monkeypatch):
    """A machine with 1 MiB free: what the size checks refuse is refused at the sizes of a test."""
    monkeypatch.setattr(limits, "available_memory", lambda: 2**20)


def write_monthly(path, n=None):
    stamps, values = monthly_example()
    n = n or len(values)
    write_series_csv(path, stamps[:n], values[:n], ["month", "value"])
    return path


def write_reviews(path, rows=20):
    words = ["good", "great", "bad", "awful"]
    path.write_text("".join(f"a {words[k % 4]} film\t{'pos' if k % 4 < 2 else 'neg'}\n" for k in range(rows)))
    return path


# --- 1. divergence ------------------------------------------------------------------------------------
def test_a_diverging_train_is_one_line_naming_the_step_and_how_to_resume(text_file, tmp_path, capsys):
    """rnnlab train --optimizer rmsprop --lr 1e6 --clip 0 ...: was a DivergedError traceback."""
    out = tmp_path / "run"
    args = ["train", "--data", str(text_file), "--out", str(out), "--optimizer", "rmsprop", "--lr", "1e6"]
    assert main([*args, "--clip", "0", "--steps", "40", *TINY_LM]) == 2
    err = one_line(capsys, "diverged", f"rnnlab resume {out}")
    assert re.search(r"at step \d+", err)


def test_a_diverging_fit_says_so_in_one_line_and_exits_2(tmp_path, capsys):
    """rnnlab fit forecast --lr 1e8 --clip 0: printed "stopped after 21 steps (diverged)", exit 0,
    after a dozen RuntimeWarning lines."""
    data = write_monthly(tmp_path / "monthly.csv")
    out = tmp_path / "run"
    args = ["fit", "forecast", "--data", str(data), "--out", str(out), "--lr", "1e8", "--clip", "0"]
    assert main([*args, "--steps", "40", "--hidden", "8", "--no-progress"]) == 2
    err = one_line(capsys, f"{out}: the run diverged at step", "--lr")
    assert "RuntimeWarning" not in err


# --- 2. option values --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv, option",
    [
        (["train", "--data", "x.txt", "--minutes", "nan"], "--minutes"),
        (["train", "--data", "x.txt", "--minutes", "inf"], "--minutes"),
        (["train", "--data", "x.txt", "--minutes", "-1"], "--minutes"),
        (["train", "--data", "x.txt", "--minutes", "1e308"], "--minutes"),
        (["fit", "tag", "--data", "x.conll", "--minutes", "1e308"], "--minutes"),
        (["resume", "RUN", "--minutes", "inf"], "--minutes"),
        (["experiment", "adding", "--quick", "--minutes", "inf"], "--minutes"),
        (["fit", "classify", "--data", "x.csv", "--minutes", "inf"], "--minutes"),
        (["fit", "classify", "--data", "x.csv", "--epochs", "inf"], "--epochs"),
        (["fit", "classify", "--data", "x.csv", "--lr", "inf"], "--lr"),
        (["fit", "classify", "--data", "x.csv", "--clip", "inf"], "--clip"),
        (["fit", "classify", "--data", "x.csv", "--seed", "-1"], "--seed"),
        (["fit", "tag", "--data", "x.conll", "--layers", "100000"], "--layers"),
        (["fit", "tag", "--data", "x.conll", "--tag-column", "0"], "--tag-column"),
        (["train", "--data", "x.txt", "--lr", "inf"], "--lr"),
        (["train", "--data", "x.txt", "--clip", "-1"], "--clip"),
        (["train", "--data", "x.txt", "--clip", "nan"], "--clip"),
        (["train", "--data", "x.txt", "--dropout", "nan"], "--dropout"),
        (["train", "--data", "x.txt", "--seed", "-1"], "--seed"),
        (["train", "--data", "x.txt", "--layers", "100000"], "--layers"),
        (["sample", "RUN", "--temperature", "nan"], "--temperature"),
        (["sample", "RUN", "--top-p", "2"], "--top-p"),
        (["predict", "RUN", "--temperature", "inf"], "--temperature"),
        (["translate", "RUN", "--alpha", "nan"], "--alpha"),
        (["demo", "--lr", "inf"], "--lr"),
        (["demo", "--hidden", "-1"], "--hidden"),
        (["study", "gradflow", "--lr", "nan"], "--lr"),
    ],
)
def test_float_and_size_options_refuse_nan_inf_and_out_of_range_naming_the_option(argv, option, capsys):
    """A value let through would fail fast on the missing file (x.txt, RUN) instead of training."""
    assert main(argv) == 2
    one_line(capsys, option)


# --- 3. sizes that cannot fit --------------------------------------------------------------------------
def test_train_too_large_is_refused_before_allocating_and_leaves_no_folder(text_file, tmp_path, capsys):
    """rnnlab train --hidden 10000000: was a MemoryError traceback (and a run.json left behind)."""
    out = tmp_path / "run"
    args = ["train", "--data", str(text_file), "--out", str(out), "--steps", "1", "--seq-len", "16", "--batch", "4"]
    assert main([*args, "--hidden", "10000000"]) == 2
    one_line(capsys, "--hidden", "memory")
    assert not out.exists()


@pytest.mark.parametrize("task", ["classify", "tag", "seq2seq"])
def test_fit_too_large_is_refused_before_allocating(task, little_memory, tmp_path, capsys):
    """rnnlab fit classify --embedding 100000000 / --hidden 10000000: MemoryError tracebacks."""
    data = write_reviews(tmp_path / "rows.tsv") if task != "tag" else tmp_path / "rows.conll"
    if task == "tag":
        data.write_text("the DET\ncat NOUN\nruns VERB\n\n" * 10)
    out = tmp_path / "run"
    args = ["fit", task, "--data", str(data), "--out", str(out), "--hidden", "512", "--steps", "1", "--no-progress"]
    assert main(args) == 2
    one_line(capsys, "parameters", "memory", "hidden")
    assert not out.exists()


def test_fit_forecast_refuses_a_batch_that_cannot_fit(tmp_path, capsys):
    """rnnlab fit forecast --batch 100000000: a forecaster's batch is not bounded by the rows."""
    data = write_monthly(tmp_path / "monthly.csv")
    assert main(["fit", "forecast", "--data", str(data), "--batch", "100000000", "--out", str(tmp_path / "r")]) == 2
    one_line(capsys, "--batch", "memory")


def test_estimators_count_their_parameters_exactly_without_building_the_model():
    """The base's memory check reads _parameter_count before _build_model: it must be the model's size."""
    texts, labels = ["good film", "bad film", "not good", "very bad"] * 5, ["p", "n", "n", "n"] * 5
    sentences, tags = [["the", "cat"], ["a", "dog", "runs"]] * 6, [["D", "N"], ["D", "N", "V"]] * 6
    sources, targets = ["one two", "three", "four five six"] * 6, ["12", "3", "456"] * 6
    fits = [
        (ESTIMATORS["classify"](hidden=5, embedding=3), texts, labels),
        (ESTIMATORS["classify"](hidden=5, model="irnn", layers=2), [np.ones((4, 2))] * 20, labels),
        (ESTIMATORS["tag"](hidden=5, embedding=3, model="gru", bidirectional=False), sentences, tags),
        (ESTIMATORS["forecast"](hidden=5, layers=2), np.sin(np.arange(120) / 5), None),
        (ESTIMATORS["seq2seq"](hidden=5, embedding=3, attention="general", bidirectional=True), sources, targets),
        (ESTIMATORS["seq2seq"](hidden=5, embedding=3, attention=None, layers=2, model="gru"), sources, targets),
    ]
    for estimator, X, y in fits:
        estimator.set_params(steps=1).fit(X, y)
        assert estimator._parameter_count() == sum(p.data.size for p in estimator.model_.parameters()), estimator


def test_diagnose_refuses_a_batch_that_cannot_fit(lm_run, text_file, little_memory, tmp_path, capsys):
    """rnnlab diagnose RUN --batch 100000: a MemoryError traceback (or the kernel's OOM killer)."""
    args = ["diagnose", str(lm_run), "--data", str(text_file), "--out", str(tmp_path / "d"), "--no-pictures"]
    assert main([*args, "--batch", "64", "--steps", "50"]) == 2
    one_line(capsys, "--batch", "memory")
    assert not (tmp_path / "d").exists()


def test_demo_and_study_refuse_sizes_that_cannot_fit(little_memory, tmp_path, capsys):
    assert main(["demo", "--hidden", "512", "--steps", "1"]) == 2
    one_line(capsys, "--hidden", "memory")
    out = tmp_path / "study"
    args = ["study", "gradflow", "--models", "tanh", "--hidden", "256", "--train-steps", "1", "--out", str(out)]
    assert main([*args, "--no-pictures"]) == 2
    one_line(capsys, "--hidden", "memory")
    assert not out.exists()


# --- 4. messages that name the file and line, or the option ---------------------------------------------
def test_a_text_too_short_for_the_batches_names_the_file_and_the_batch_option(tmp_path, capsys):
    """rnnlab fit lm --data two-lines.txt: "text: 23 characters ... a smaller --batch-size"."""
    data = tmp_path / "short.txt"
    data.write_text("good movie\t1\nbad movie\t0\n")
    assert main(["fit", "lm", "--data", str(data), "--out", str(tmp_path / "r"), "--steps", "1"]) == 2
    err = one_line(capsys, f"{data}:", "--batch or --seq-len")
    assert "--batch-size" not in err and not (tmp_path / "r").exists()
    data.write_text(TEXT[:1500])  # enough to train on, but the held-out 5% is shorter than a window
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "r"), "--steps", "1", "--batch", "2"]) == 2
    one_line(capsys, f"{data}:", "--val-fraction")


def test_diagnose_on_a_text_the_model_cannot_read_names_the_file(lm_run, tmp_path, capsys):
    """rnnlab diagnose RUN --data snowmen.txt: "the text has 0 characters"."""
    data = tmp_path / "snowmen.txt"
    data.write_text("\u2603" * 300)
    assert main(["diagnose", str(lm_run), "--data", str(data), "--out", str(tmp_path / "d"), "--no-pictures"]) == 2
    one_line(capsys, f"{data}:", "vocabulary")


def test_sentiment_experiment_with_too_few_rows_says_how_many_it_needs(tmp_path, capsys):
    """rnnlab experiment sentiment --tsv two-rows.tsv: "Cannot take a larger sample than population"."""
    data = tmp_path / "two.tsv"
    data.write_text("good movie\t1\nbad movie\t0\n")
    assert main(["experiment", "sentiment", "--quick", "--tsv", str(data), "--out", str(tmp_path / "e")]) == 2
    err = one_line(capsys, f"{data}:", "too few")
    assert re.search(r"at least \d+", err)


@pytest.mark.parametrize("label", ["7", "-1", "pos"])
def test_sentiment_experiment_refuses_labels_other_than_0_and_1(label, tmp_path, capsys):
    """rnnlab experiment sentiment --tsv FILE with labels 7, -1 or pos/neg: accepted silently (the
    order pairs and the generated sentences, which read 0 and 1, left out without a word)."""
    data = tmp_path / "labels.tsv"
    data.write_text("".join(f"sentence {k} was fine\t{[0, 1, label][k % 3]}\n" for k in range(60)))
    assert main(["experiment", "sentiment", "--quick", "--tsv", str(data), "--out", str(tmp_path / "e")]) == 2
    one_line(capsys, f"{data}: line 3:", repr(label), "0, 1")


@pytest.mark.parametrize("command", ["fit forecast", "experiment forecast", "fit classify --sequence"])
def test_values_that_overflow_are_refused_naming_the_file_and_line(command, tmp_path, capsys):
    """A CSV of +-1e308: 11 RuntimeWarning lines (overflow in the differences, the mean, the
    squares), then "x contains NaN or infinity" or "differences are all nan"."""
    data = tmp_path / "huge.csv"
    if command.endswith("--sequence"):
        data.write_text("".join(f"1,2,{'1e308' if k == 4 else k},{k % 2}\n" for k in range(40)))
        extra = ["--label-column", "3"]
    else:
        data.write_text(
            "year,value\n" + "".join(f"{1800 + k},{(-1) ** k * 1e308 if k > 2 else k}\n" for k in range(60))
        )
        extra = ["--column", "value"] if command.startswith("experiment") else []
    verb, *rest = command.split()
    where = ["--quick", "--csv"] if verb == "experiment" else ["--data"]
    argv = [verb, *rest, *where, str(data), *extra, "--out", str(tmp_path / "r"), "--no-progress"]
    assert main(argv) == 2
    one_line(capsys, f"{data}: line 5", "3.4e+38")


def test_a_series_too_short_says_a_length_that_is_enough(tmp_path, capsys):
    """rnnlab fit forecast on 2 values: "2 values leave -10 to train on ... give at least 27 values",
    and 27 values were still too few."""
    rng = np.random.default_rng(0)

    def fit(n: int) -> int:
        data = tmp_path / f"series-{n}.csv"
        data.write_text("value\n" + "".join(f"{v:.4f}\n" for v in rng.random(n)))
        return main(["fit", "forecast", "--data", str(data), "--out", str(tmp_path / f"r{n}"), "--steps", "1"])

    assert fit(2) == 2
    err = one_line(capsys, "the series is too short")
    assert "leave -" not in err
    enough = int(re.search(r"give at least (\d+) values", err).group(1))
    assert fit(enough - 1) == 2
    capsys.readouterr()
    assert fit(enough) == 0


def test_a_class_held_out_whole_names_the_file_and_the_class(tmp_path, capsys):
    """rnnlab fit classify on a 2-row TSV: "label '1' was not among the training labels ('0')"."""
    data = tmp_path / "two.tsv"
    data.write_text("good movie\t1\nbad movie\t0\n")
    out = tmp_path / "r"
    assert main(["fit", "classify", "--data", str(data), "--out", str(out), "--steps", "1"]) == 2
    one_line(capsys, f"{data}: class '1'")
    assert not out.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--data", "TEXT", "--steps", "1"],
        ["fit", "classify", "--data", "ROWS", "--steps", "1"],
        ["experiment", "parity", "--quick"],
        ["diagnose", "RUN", "--no-pictures"],
        ["study", "circuits"],
    ],
)
def test_out_pointing_at_a_file_is_one_line_naming_out(argv, text_file, lm_run, tmp_path, capsys):
    """--out FILE: "[Errno 17] File exists: 'FILE'"."""
    afile = tmp_path / "afile"
    afile.write_text("mine\n")
    names = {"TEXT": str(text_file), "ROWS": str(write_reviews(tmp_path / "rows.tsv")), "RUN": str(lm_run)}
    assert main([names.get(a, a) for a in argv] + ["--out", str(afile)]) == 2
    one_line(capsys, f"--out {afile}")
    assert afile.read_text() == "mine\n"


def test_files_to_write_that_are_folders_name_the_option(lm_run, text_file, tmp_path, capsys):
    """rnnlab export RUN --torch DIR: a RuntimeError traceback from torch; --out DIR of evaluate:
    "[Errno 21] Is a directory"."""
    assert main(["export", str(lm_run), "--torch", str(tmp_path)]) == 2
    one_line(capsys, f"--torch {tmp_path}")
    assert main(["export", str(lm_run), "--onnx", str(tmp_path / "no" / "model.onnx")]) == 2
    one_line(capsys, "--onnx", "no folder")
    assert main(["evaluate", str(lm_run), "--data", str(text_file), "--out", str(tmp_path)]) == 2
    one_line(capsys, f"--out {tmp_path}")


def test_sampling_from_an_empty_prime_names_the_option(lm_run, capsys):
    """rnnlab sample RUN --prime '': "prime_ids must be a 1-D sequence of integer token ids ..."."""
    assert main(["sample", str(lm_run), "--prime", ""]) == 2
    one_line(capsys, "--prime")


def test_predict_names_the_line_of_an_input_it_cannot_read(lm_run, tmp_path, capsys):
    """rnnlab predict RUN FILE: "FILE: character ... at position 0" (of which line?) for a
    language model; "could not convert string to float: 'abc'" for a numeric classifier."""
    inputs = tmp_path / "in.txt"
    inputs.write_text("Speak\n\u2603\n")
    assert main(["predict", str(lm_run), str(inputs)]) == 2
    one_line(capsys, f"{inputs}: line 2:")
    rows = tmp_path / "series.csv"
    rows.write_text("".join(f"{k % 3},{k % 5},{k % 7},{k % 2}\n" for k in range(30)))
    run = tmp_path / "numbers"
    args = ["fit", "classify", "--sequence", "--data", str(rows), "--label-column", "3", "--out", str(run)]
    assert main([*args, "--steps", "1", "--hidden", "4", "--no-progress"]) == 0
    capsys.readouterr()
    inputs.write_text("1,2,3\n\nabc,1\n")
    assert main(["predict", str(run), str(inputs)]) == 2
    one_line(capsys, f"{inputs}: line 3:", "'abc'")


def test_evaluate_names_the_file_of_rows_the_model_cannot_score(tmp_path, capsys):
    """rnnlab evaluate RUN --data FILE with a label the run never saw: "label 'x' was not among
    the training labels" (which file?)."""
    run = tmp_path / "run"
    argv = ["fit", "classify", "--data", str(write_reviews(tmp_path / "rows.tsv")), "--out", str(run)]
    assert main([*argv, "--steps", "1", "--no-progress"]) == 0
    capsys.readouterr()
    data = tmp_path / "other.tsv"
    data.write_text("a good film\tpos\na bad film\tmeh\n")
    assert main(["evaluate", str(run), "--data", str(data), "--out", str(tmp_path / "m.json")]) == 2
    one_line(capsys, f"{data}: label 'meh'")


def test_resume_without_its_training_text_names_run_json_and_changes_nothing(tmp_path, capsys):
    """rnnlab resume RUN --steps N where run.json names a text that is gone (or relative to
    another folder): "shk.txt: no such file", and run.json already rewritten with the new budget."""
    data = tmp_path / "text.txt"
    data.write_text(TEXT)
    run = tmp_path / "run"
    assert main(["train", "--data", str(data), "--out", str(run), "--steps", "1", *TINY_LM]) == 0
    capsys.readouterr()
    data.unlink()
    before = (run / "run.json").read_text()
    assert main(["resume", str(run), "--steps", "5", "--no-progress"]) == 2
    one_line(capsys, f"{data}:", f"{run / 'run.json'}")
    assert (run / "run.json").read_text() == before


def test_data_paths_of_the_wrong_kind_say_so(tmp_path, capsys):
    """rnnlab experiment translate --data FOLDER: "[Errno 21] Is a directory"; row-mnist --data
    FILE: "no such folder"."""
    argv = ["experiment", "translate", "--quick", "--data", str(tmp_path), "--out", str(tmp_path / "t")]
    assert main(argv) == 2
    one_line(capsys, f"{tmp_path}: is a folder")
    afile = tmp_path / "t10k-images-idx3-ubyte.gz"
    afile.write_bytes(b"")
    assert main(["experiment", "row-mnist", "--quick", "--data", str(afile), "--out", str(tmp_path / "m")]) == 2
    one_line(capsys, f"{afile}: is a file")


def test_a_horizon_from_the_season_names_the_season(tmp_path, capsys):
    """rnnlab experiment forecast --csv FILE --season 100000: "--horizon 100000 leaves no origin"
    (no --horizon was given)."""
    data = write_monthly(tmp_path / "monthly.csv", n=40)
    argv = ["experiment", "forecast", "--quick", "--csv", str(data), "--column", "value", "--season", "100000"]
    assert main([*argv, "--out", str(tmp_path / "f")]) == 2
    err = one_line(capsys, str(data), "--season")
    assert "--horizon 100000" not in err


def test_a_budget_spent_before_the_first_step_ends_without_a_traceback(text_file, tmp_path, capsys):
    """rnnlab train --minutes 1e-300: "[Errno 2] No such file or directory: 'RUN/metrics.jsonl'"."""
    out = tmp_path / "run"
    assert main(["train", "--data", str(text_file), "--out", str(out), "--minutes", "1e-300", *TINY_LM]) == 0
    assert "no training step" in capsys.readouterr().out


# --- 6. and 7. run folders -------------------------------------------------------------------------------
def test_a_failed_train_start_leaves_no_run_json_so_the_corrected_command_runs(text_file, tmp_path, capsys):
    """A refused --hidden left run.json in --out; the same command with --hidden 8 then said
    "already holds a run"."""
    out = tmp_path / "run"
    out.mkdir()  # given by the user: it stays, empty again
    base = ["train", "--data", str(text_file), "--out", str(out), "--steps", "1"]
    assert main([*base, "--hidden", "10000000", "--seq-len", "16", "--batch", "4"]) == 2
    capsys.readouterr()
    assert out.is_dir() and not any(out.iterdir())
    assert main([*base, *TINY_LM]) == 0
    assert json.loads((out / "run.json").read_text())["hidden"] == 8


def test_a_failed_fit_start_leaves_no_run_folder_so_the_corrected_command_runs(tmp_path, capsys, monkeypatch):
    """Anything that fails before the first step (here the trainer itself) takes --out with it."""
    from rnnlab.train.trainer import Trainer

    data = write_reviews(tmp_path / "rows.tsv")
    out = tmp_path / "run"
    argv = ["fit", "classify", "--data", str(data), "--out", str(out), "--steps", "1", "--no-progress"]

    def fail(self, resume=False):
        raise limits.ResourceError("no room")

    with monkeypatch.context() as patch:
        patch.setattr(Trainer, "run", fail)
        assert main(argv) == 2
    one_line(capsys, "no room")
    assert not out.exists()
    assert main(argv) == 0


@pytest.mark.parametrize("command", [["train", "--data", "TEXT"], ["fit", "classify", "--data", "ROWS"]])
def test_training_refuses_a_folder_with_another_runs_checkpoints(command, text_file, tmp_path, capsys):
    """rnnlab train --out DIR where DIR holds checkpoint-*/ and best/ but no run.json: exit 0, the
    other run's checkpoints pruned and its best/ replaced."""
    out = tmp_path / "other"
    (out / "best").mkdir(parents=True)
    (out / "best" / "model.safetensors").write_bytes(b"the other run's")
    (out / "checkpoint-00000010").mkdir()
    names = {"TEXT": str(text_file), "ROWS": str(write_reviews(tmp_path / "rows.tsv"))}
    argv = [names.get(a, a) for a in command] + ["--out", str(out), "--steps", "1", "--no-progress"]
    assert main(argv) == 2
    one_line(capsys, str(out), "checkpoints of another run", "--out")
    assert (out / "best" / "model.safetensors").read_bytes() == b"the other run's"
    assert sorted(p.name for p in out.iterdir()) == ["best", "checkpoint-00000010"]


# --- 8. --debug -----------------------------------------------------------------------------------------
def test_debug_still_shows_the_traceback(tmp_path):
    with pytest.raises(DataError):
        main(["fit", "classify", "--data", str(tmp_path / "missing.csv"), "--debug"])
    with pytest.raises(ValueError, match="--prime"):
        main(["sample", str(tmp_path), "--prime", "", "--debug"])


def test_a_fit_whose_activations_overflow_is_a_divergence(tmp_path, capsys):
    """rnnlab fit classify --lr 1e30: ended in "x contains NaN or infinity" (the engine refusing
    what overflowed inside the model) instead of the divergence guard."""
    data = write_reviews(tmp_path / "reviews.tsv", rows=40)
    args = ["fit", "classify", "--data", str(data), "--out", str(tmp_path / "run"), "--lr", "1e30", "--clip", "0"]
    assert main([*args, "--steps", "40", "--hidden", "8", "--no-progress"]) == 2
    one_line(capsys, "diverged at step")


# --- 9. ocr: a folder of images and its labels file (issue 18) ---------------------------------------------
OCR_TINY = ["--height", "16", "--hidden", "8", "--layers", "1"]


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height grey pixels, with a few bytes of data (a bomb's shape)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


@pytest.fixture
def ocr_folder(tmp_path):
    """Eight rendered lines as PNG files (Pillow) and labels.csv listing them."""
    pytest.importorskip("matplotlib")
    from PIL import Image

    from rnnlab.data.images import rendered_lines

    images, texts = rendered_lines(8, ("DejaVuSans",), 0, 1, 3, "abc", 16)
    for k, image in enumerate(images):
        Image.fromarray(255 - image).save(tmp_path / f"{k}.png")
    labels = tmp_path / "labels.csv"
    labels.write_text("file,text\n" + "".join(f"{k}.png,{t}\n" for k, t in enumerate(texts)))
    return labels


@pytest.mark.parametrize(
    "problem, needles",
    [
        ("missing", ["line 10:", "gone.png: no such image file"]),
        ("outside", ["line 10:", "'../0.png' lies outside"]),
        ("absolute", ["line 10:", "lies outside"]),
        ("truncated", ["line 10:", "cut.png: cannot be decoded"]),
        ("not an image", ["line 10:", "notes.png: is not an image"]),
        ("bomb", ["line 10:", "bomb.png:", "decompression bomb"]),
        ("too many pixels", ["line 10:", "big.png: is 5,000 x 5,000 pixels, more than the 16,777,216"]),
        ("too wide", ["line 10:", "more than 100 times as wide"]),
        ("empty text", ["line 10:", "the text of 0.png is empty"]),
        ("three fields", ["line 10:", "3 fields"]),
        ("header only", ["holds a header but no images"]),
        ("empty", ["is empty"]),
    ],
)
def test_fit_ocr_on_a_bad_labels_file_or_image_is_one_line_naming_the_file_and_line(
    problem, needles, ocr_folder, tmp_path, capsys
):
    folder, good = ocr_folder.parent, ocr_folder.read_text()
    png = (folder / "0.png").read_bytes()
    rows = {
        "missing": "gone.png,abc",
        "outside": "../0.png,abc",
        "absolute": f"{folder / '0.png'},abc",
        "truncated": "cut.png,abc",
        "not an image": "notes.png,abc",
        "bomb": "bomb.png,abc",
        "too many pixels": "big.png,abc",
        "too wide": "wide.png,abc",
        "empty text": "0.png,",
        "three fields": "0.png,a,b",
    }
    (folder / "cut.png").write_bytes(png[: len(png) // 2])
    (folder / "notes.png").write_text("not a picture\n")
    (folder / "bomb.png").write_bytes(png_claiming(100_000, 100_000))
    (folder / "big.png").write_bytes(png_claiming(5000, 5000))
    (folder / "wide.png").write_bytes(png_claiming(2000, 10))
    if problem == "header only":
        ocr_folder.write_text("file,text\n")
    elif problem == "empty":
        ocr_folder.write_text("")
    else:
        ocr_folder.write_text(good + rows[problem] + "\n")
    out = tmp_path / "run"
    assert main(["fit", "ocr", "--data", str(ocr_folder), "--out", str(out), "--steps", "1", *OCR_TINY]) == 2
    one_line(capsys, f"{ocr_folder}:", *needles)
    assert not out.exists()


def test_predict_ocr_names_the_image_it_cannot_read_and_evaluate_the_line(ocr_folder, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["fit", "ocr", "--data", str(ocr_folder), "--out", str(run), "--steps", "1", *OCR_TINY]) == 0
    capsys.readouterr()
    folder = ocr_folder.parent
    (folder / "bomb.png").write_bytes(png_claiming(100_000, 100_000))
    for name, needle in [("bomb.png", "decompression bomb"), ("gone.png", "no such image file")]:
        assert main(["predict", str(run), str(folder / "0.png"), str(folder / name)]) == 2
        one_line(capsys, f"{folder / name}:", needle)
    assert main(["predict", str(run), str(ocr_folder)]) == 2  # the labels file is no image
    one_line(capsys, f"{ocr_folder}:", "is not an image")
    assert main(["predict", str(run)]) == 2
    one_line(capsys, "rnnlab predict RUN IMAGE")
    assert main(["predict", str(run), str(folder / "0.png"), "--beam", "1000"]) == 2
    one_line(capsys, "beam")
    ocr_folder.write_text(ocr_folder.read_text() + "../x.png,abc\n")
    assert main(["evaluate", str(run), "--data", str(ocr_folder), "--out", str(tmp_path / "m.json")]) == 2
    one_line(capsys, f"{ocr_folder}: line 10:", "lies outside")


@pytest.mark.parametrize("height", ["30", "4", "256"])
def test_fit_ocr_height_that_the_model_cannot_take_names_the_option(height, capsys):
    assert main(["fit", "ocr", "--height", height]) == 2
    one_line(capsys, "--height", "multiple of 4")


def test_fit_ocr_too_large_is_refused_before_allocating(ocr_folder, little_memory, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["fit", "ocr", "--data", str(ocr_folder), "--out", str(out), "--hidden", "512", "--steps", "1"]
    assert main([*args, "--no-progress"]) == 2
    one_line(capsys, "parameters", "memory", "hidden")
    assert not out.exists()


def test_the_text_reader_counts_its_parameters_exactly_without_building_the_model():
    pytest.importorskip("matplotlib")
    from rnnlab.data.images import rendered_lines

    X, y = rendered_lines(6, ("DejaVuSans",), 0, 1, 3, "abcxyz", 16)
    for sizes in [
        {"channels": 3, "features": 5, "hidden": 4, "layers": 1},
        {"channels": 2, "features": 3, "hidden": 5},
    ]:
        estimator = ESTIMATORS["ocr"](height=16, steps=1, **sizes).fit(X, y)
        assert estimator._parameter_count() == sum(p.data.size for p in estimator.model_.parameters()), sizes
