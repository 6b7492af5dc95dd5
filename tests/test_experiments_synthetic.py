"""Each synthetic experiment's --quick mode runs in seconds, writes its run folder and shows
learning: a result that an untrained model cannot reach."""

import numpy as np
import pytest

from rnnlab.data.tasks import ADDING_BASELINE_MSE, copy_baseline
from rnnlab.experiments import EXPERIMENTS, run_experiment


def test_binary_addition_quick_adds_long_numbers_it_never_saw(run_quick):
    summary, out = run_quick("binary-addition")
    # chance of guessing all 9 bits of an 8-bit sum is 2**-9; of a 256-bit sum, nil
    assert summary["exact_match"][8] > 0.9 and summary["exact_match"][64] > 0.5
    assert (out / "rnn" / "metrics.jsonl").is_file() and (out / "rnn" / "best").is_dir()


def test_parity_quick_generalises_past_its_training_length_while_the_mlp_cannot(run_quick):
    summary, _ = run_quick("parity")
    assert summary["gru_final_parity"][100] > 0.9  # chance: 0.5
    assert summary["mlp"][8] == 1.0 and summary["mlp"][9] == 0.5  # the ninth bit flips half the answers


def test_adding_quick_beats_the_trivial_baseline(run_quick):
    summary, _ = run_quick("adding")
    (result,) = summary["results"].values()
    assert result["mse"] < ADDING_BASELINE_MSE / 5


def test_adding_test_counts_answers_off_by_004_or_more_as_hochreiter_and_schmidhuber_do():
    from rnnlab.experiments.adding import adding_test

    class Oracle:  # the true sum, off by 0.05 on every fourth sequence and by 0.039 elsewhere
        def parameters(self):
            return []

        def predict(self, x):
            truth = (x[..., 0] * x[..., 1]).sum(axis=0)
            off = np.where(np.arange(len(truth)) % 4 == 0, 0.05, 0.039)
            return (truth + off)[:, None]

    result = adding_test(Oracle(), 30, 2560, seed=0)
    assert result["wrong"] == 640 and result["sequences"] == 2560 and result["within_0.04"] == 0.75
    assert result["max_error"] == pytest.approx(0.05, abs=1e-6)


def test_copy_quick_beats_the_memoryless_baseline(run_quick):
    summary, _ = run_quick("copy")
    (result,) = summary["results"].values()
    assert result["cross_entropy"] < 0.95 * copy_baseline(5) and result["recalled"] > 1 / 8 + 0.05


def test_clipping_quick_unclipped_run_diverges_and_clipped_run_learns(run_quick):
    summary, out = run_quick("clipping")
    free, clipped = summary["outcomes"]["no clipping"], summary["outcomes"]["clipped to 1"]
    assert free["stop_reason"] == "diverged" and free["skipped"] > 0
    assert clipped["stop_reason"] == "max_steps" and clipped["mse"] < ADDING_BASELINE_MSE


def test_tagging_quick_bidirectional_tags_what_left_to_right_cannot(run_quick):
    summary, _ = run_quick("tagging")
    taggers = summary["taggers"]
    assert taggers["bidirectional"]["ambiguous"] > 0.9
    assert taggers["left-to-right"]["ambiguous"] < 0.75  # it must guess before the next word


def test_an_option_the_experiment_does_not_take_is_refused(tmp_path):
    with pytest.raises(ValueError, match="does not take --tsv"):
        run_experiment("parity", tmp_path / "p", quick=True, tsv="x.tsv")
    with pytest.raises(ValueError, match="unknown experiment"):
        run_experiment("nope", tmp_path / "n")


def test_every_experiment_names_its_anchor():
    assert {"binary-addition", "parity", "adding", "copy", "clipping", "sentiment", "tagging", "row-mnist"} <= set(
        EXPERIMENTS
    )
    assert all(e.anchor and e.title for e in EXPERIMENTS.values())


def test_training_stops_once_the_target_score_is_reached(tmp_path):
    import numpy as np

    from rnnlab.experiments.common import Fit, SupervisedTask, fit
    from rnnlab.nn import Linear, mse

    model = Linear(1, 1, rng=np.random.default_rng(0))
    x = np.linspace(-1, 1, 32, dtype=np.float32)[:, None]

    def evaluate():
        return mse(model.forward(x), 3 * x)[0]

    task = SupervisedTask(model, lambda step, rng: (x, None, 3 * x), lambda s, y: mse(s, y), evaluate)
    result, scores = fit(task, tmp_path / "run", Fit(steps=5000, lr=0.1, eval_every=10, target=1e-3))
    assert result.stop_reason == "target_reached" and result.steps < 5000
    assert scores[-1][1] <= 1e-3 and all(s > 1e-3 for _, s in scores[:-1])
