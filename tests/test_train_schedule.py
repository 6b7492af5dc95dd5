"""The trainer's clock: evaluations on a wall-clock schedule, a final evaluation when the budget is
spent, metrics.jsonl naming its score, and progress under a minutes budget."""

import json

import numpy as np

from rnnlab.nn import SGD, Linear, mse
from rnnlab.train import trainer as trainer_module
from rnnlab.train.trainer import TrainConfig, Trainer


class FitALine:
    score_name = "val_mse"

    def __init__(self):
        self.model = Linear(1, 1, rng=np.random.default_rng(0))
        self.x = np.linspace(-1, 1, 16, dtype=np.float32)[:, None]
        self.evaluations = 0

    def train_step(self, step, rng):
        loss, dpred = mse(self.model(self.x), 2 * self.x)
        self.model.backward(dpred)
        return loss

    def evaluate(self):
        self.evaluations += 1
        return mse(self.model(self.x), 2 * self.x)[0]

    def steps_per_epoch(self):
        return None

    def config(self):
        return {}

    def carried_state(self):
        return {}

    def load_carried_state(self, arrays):
        pass


def records(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def run(tmp_path, **config):
    task = FitALine()
    cfg = TrainConfig(progress=False, **config)
    result = Trainer(task, SGD(task.model.named_parameters(), lr=0.1), tmp_path, cfg).run()
    return task, result


def test_evaluations_follow_the_clock_and_each_leaves_a_checkpoint(tmp_path, monkeypatch):
    clock = iter(range(0, 10_000, 4))  # every reading of the clock is 4 s after the last
    monkeypatch.setattr(trainer_module.time, "monotonic", lambda: float(next(clock)))
    task, result = run(tmp_path, max_steps=12, eval_every=0, eval_every_seconds=10, checkpoint_every=1000)
    evals = [r["step"] for r in records(tmp_path) if r.get("event") == "eval"]
    assert result.steps == 12 and 2 <= len(evals) < 12 and evals == sorted(set(evals))
    assert (tmp_path / "best").is_dir() and len(list(tmp_path.glob("checkpoint-*"))) >= 1


def test_the_final_evaluation_is_logged_named_and_kept_as_best(tmp_path):
    task, result = run(tmp_path, max_steps=7, eval_every=0, final_eval=True)
    evals = [r for r in records(tmp_path) if r.get("event") == "eval"]
    assert task.evaluations == 1 and [r["step"] for r in evals] == [7]
    assert evals[0]["val_mse"] == evals[0]["score"] == result.best_score
    assert (tmp_path / "best").is_dir()


def test_no_second_final_evaluation_when_the_last_step_was_evaluated(tmp_path):
    task, _ = run(tmp_path, max_steps=6, eval_every=3, final_eval=True)
    assert task.evaluations == 2


def test_a_minutes_budget_away_from_a_terminal_prints_plain_lines_with_an_eta(capsys):
    bar = trainer_module._TimedBar(start=0, total_seconds=180, terminal=False, every=0)
    bar.set_postfix(loss="1.2345")
    bar.update(1)
    bar.close()
    line = capsys.readouterr().err
    assert line.startswith("step 1 | 0:00 of 3:00, ETA 3:00 | loss 1.2345") and "\r" not in line
