"""Experiments on data files (sentiment, row-mnist), run --quick on small files made here, and
the `rnnlab experiment` command."""

import numpy as np

from rnnlab import cli
from rnnlab.data.mnist import write_idx
from rnnlab.experiments import run_experiment


def _sentiment_file(tmp_path, n=400):
    rng = np.random.default_rng(0)
    filler = ["the", "film", "was", "a", "phone", "really", "and", "it", "food", "very"]
    lines = []
    for k in range(n):
        label = k % 2
        words = list(rng.choice(filler, size=4)) + [("superb" if label else "dreadful")]
        rng.shuffle(words)
        lines.append(f"{' '.join(words)}\t{label}")
    path = tmp_path / "reviews.tsv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_sentiment_quick_learns_from_a_tsv_file(tmp_path):
    summary = run_experiment("sentiment", tmp_path / "run", quick=True, tsv=str(_sentiment_file(tmp_path)))
    acc = summary["test_accuracy"]
    assert acc["bag-of-words"] > 0.9 and acc["bilstm"] > 0.75  # chance: 0.5
    # labels 0/1: the order pairs are scored, and bag-of-words can get at most one of each pair
    assert summary["order_pairs"]["bag-of-words"]["pairs"] == 0.0
    # "superb" and "dreadful" are polar in the file and not in the pairs: the second pair of models
    # also trained on sentences built from them, which still leave bag-of-words one per pair at most
    assert summary["contrast_sentences"] == 400
    assert summary["results"]["contrast"]["bag-of-words"]["pairs"]["pairs"] == 0.0
    assert (
        run_experiment("sentiment", tmp_path / "plain", quick=True, tsv=str(_sentiment_file(tmp_path)), contrast=0)[
            "contrast_sentences"
        ]
        == 0
    )


def test_row_mnist_quick_learns_from_idx_files(tmp_path):
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 10, size=600)
    images = rng.integers(0, 60, size=(600, 28, 28))
    for k, label in enumerate(labels):  # the digit is which band of rows is bright
        images[k, 2 * label + 4 : 2 * label + 6] = 250
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
    summary = run_experiment("row-mnist", tmp_path / "run", quick=True, data=str(tmp_path))
    assert summary["test_accuracy"] > 0.5  # chance: 0.1


def test_cli_lists_the_experiments_with_their_anchors(capsys):
    assert cli.main(["experiment", "--list"]) == 0
    out = capsys.readouterr().out
    assert "binary-addition" in out and "anchor:" in out and "row-mnist" in out


def test_cli_runs_an_experiment_into_its_run_folder(tmp_path, capsys):
    out = tmp_path / "tagging"
    assert cli.main(["experiment", "tagging", "--quick", "--no-progress", "--out", str(out)]) == 0
    assert "bidirectional" in capsys.readouterr().out
    assert (out / "summary.md").is_file() and (out / "bidirectional" / "metrics.jsonl").is_file()


def test_cli_missing_data_file_is_one_line_naming_it(tmp_path, capsys):
    assert (
        cli.main(
            ["experiment", "sentiment", "--quick", "--tsv", str(tmp_path / "none.tsv"), "--out", str(tmp_path / "run")]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "none.tsv" in err and "no such file" in err
