"""The forecast and music experiments, run --quick on small files made here, and their CLI errors."""

import json

import numpy as np

from rnnlab import cli
from rnnlab.experiments import run_experiment


def _seasonal_csv(tmp_path, n=240, period=12):
    t = np.arange(n)
    values = 10 + 3 * np.sin(2 * np.pi * t / period) + 0.3 * np.random.default_rng(0).standard_normal(n)
    path = tmp_path / "units.csv"
    path.write_text("month,units\n" + "".join(f"{k},{v:.4f}\n" for k, v in enumerate(values)))
    return path


def test_forecast_quick_beats_the_untrained_level_and_persistence(tmp_path):
    summary = run_experiment("forecast", tmp_path / "run", quick=True, csv=str(_seasonal_csv(tmp_path)), column="units")
    rmse = summary["rmse"]
    assert summary["season"] == 12 and summary["horizon"] == 12  # estimated from the training part
    for model in ("recursive RNN", "direct RNN"):
        # an untrained model outputs ~0, the training mean: learning means far below it
        assert rmse[model]["one_step"] < 0.5 * rmse["mean"]["one_step"]
        assert rmse[model]["mean_over_leads"] < rmse["persistence"]["mean_over_leads"]
    folder = tmp_path / "run"
    assert (folder / "summary.md").is_file() and (folder / "recursive" / "metrics.jsonl").is_file()
    assert "seasonal naive" in (folder / "summary.md").read_text()


def test_forecast_cli_names_the_file_and_line_of_a_bad_value(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text(
        "t,y\n" + "".join(f"{k},{k}\n" for k in range(10)) + "10,?\n" + "".join(f"{k},{k}\n" for k in range(30))
    )
    assert (
        cli.main(
            ["experiment", "forecast", "--quick", "--csv", str(path), "--column", "y", "--out", str(tmp_path / "run")]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.csv" in err and "line 12" in err and "not a number" in err


def _chorales(tmp_path, n=40):
    """Chorales that walk a four-chord progression from a random starting chord: the next frame
    follows from the last, which a memoryless model cannot know."""
    chords = [[48, 60, 64, 67], [53, 60, 65, 69], [55, 59, 62, 67], [45, 57, 60, 64]]
    rng = np.random.default_rng(0)

    def piece():
        start = int(rng.integers(4))
        return [chords[(start + t) % 4] for t in range(int(rng.integers(12, 24)))]

    path = tmp_path / "chorales.json"
    path.write_text(json.dumps({split: [piece() for _ in range(n)] for split in ("train", "valid", "test")}))
    return path


def test_music_quick_learns_what_follows_and_writes_a_sample(tmp_path):
    summary = run_experiment("music", tmp_path / "run", quick=True, data=str(_chorales(tmp_path)))
    nll = summary["nll"]["test"]
    assert nll < 0.3 * summary["uniform_nll"]  # an untrained model scores ~88 ln 2 = 61 nats
    assert nll < summary["independent_keys_nll"]  # it used the previous frame
    midi = (tmp_path / "run" / "sample.mid").read_bytes()
    assert midi[:4] == b"MThd" and b"MTrk" in midi


def test_music_without_the_data_says_which_option_to_pass(tmp_path, capsys):
    assert (
        cli.main(
            ["experiment", "music", "--quick", "--data", str(tmp_path / "none.json"), "--out", str(tmp_path / "run")]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "none.json" in err and "--data" in err
