"""The trainer: loss falls, the divergence guard, Ctrl-C, early stopping, and exact resume after
SIGKILL (in a subprocess), with negative controls that drop the optimiser or the RNG state."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from rnnlab.train.checkpoint import list_checkpoints, load_checkpoint, save_checkpoint
from rnnlab.train.safetensors import load as load_safetensors
from rnnlab.train.trainer import DivergedError, TrainConfig, Trainer

TASK = textwrap.dedent('''
    import os, signal
    import numpy as np
    from rnnlab.nn import LSTM, Module
    from rnnlab.nn.layers import Linear
    from rnnlab.nn.losses import mse
    from rnnlab.nn.optim import Adam
    from rnnlab.nn.schedules import StepLR
    from rnnlab.train.trainer import TrainConfig, Trainer

    class EchoTask:
        """Echo the input 2 steps late; dropout between the LSTM layers; the hidden state is
        carried from one batch to the next, as in char-rnn's truncated BPTT."""

        def __init__(self, seed=0, kill_at=None, nan_at=()):
            rng = np.random.default_rng(seed)
            self.lstm = LSTM(1, 8, num_layers=2, dropout=0.2, rng=rng, dtype=np.float64)
            self.head = Linear(8, 1, rng=rng, dtype=np.float64)
            self.model = Module()
            self.model.add_module("lstm", self.lstm)
            self.model.add_module("head", self.head)
            self.h = None
            self.kill_at, self.nan_at = kill_at, set(nan_at)

        def train_step(self, step, rng):
            if step == self.kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            x = rng.choice([-1.0, 1.0], size=(12, 4, 1))
            y = np.zeros_like(x)
            y[2:] = x[:-2]
            out, self.h = self.lstm.forward(x, self.h)
            pred = self.head.forward(out)
            loss, dpred = mse(pred, y)
            self.lstm.backward(self.head.backward(dpred))
            self.h = tuple(s.copy() for s in self.h)
            if step in self.nan_at:
                return float("nan")
            return loss

        def evaluate(self):
            rng = np.random.default_rng(123)
            x = rng.choice([-1.0, 1.0], size=(12, 4, 1))
            y = np.zeros_like(x)
            y[2:] = x[:-2]
            self.model.eval()
            out, _ = self.lstm.forward(x)
            self.model.train()
            return mse(self.head.forward(out), y)[0]

        def steps_per_epoch(self):
            return None

        def config(self):
            return {"task": "echo", "hidden": 8}

        def carried_state(self):
            return {} if self.h is None else {"h": self.h[0], "c": self.h[1]}

        def load_carried_state(self, arrays):
            self.h = (arrays["h"], arrays["c"]) if arrays else None

    def make_trainer(run_dir, steps=30, **task_kw):
        task = EchoTask(**task_kw)
        opt = Adam(task.model.named_parameters(), lr=0.03)
        cfg = TrainConfig(max_steps=steps, eval_every=10, checkpoint_every=5, blas_threads=1,
                          progress=False, seed=7)
        return Trainer(task, opt, run_dir, cfg, schedule=StepLR(opt, step_size=25, gamma=0.5))
''')


@pytest.fixture()
def echo(tmp_path):
    """The task module, importable in this process and runnable in a subprocess."""
    (tmp_path / "echo_task.py").write_text(TASK)
    sys.path.insert(0, str(tmp_path))
    import echo_task

    yield echo_task
    sys.path.remove(str(tmp_path))
    sys.modules.pop("echo_task", None)


def run_in_subprocess(tmp_path, run_dir, resume=False, kill_at=None):
    code = (
        f"from echo_task import make_trainer\n"
        f"make_trainer({str(run_dir)!r}, kill_at={kill_at!r}).run(resume={resume!r})\n"
    )
    env = dict(os.environ, PYTHONPATH=str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def final_weights(run_dir):
    return load_safetensors(list_checkpoints(run_dir)[-1] / "model.safetensors")[0]


def test_loss_falls_and_the_run_folder_has_config_metrics_checkpoints_best(tmp_path, echo):
    result = echo.make_trainer(tmp_path / "run", steps=60).run()
    lines = [json.loads(ln) for ln in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in lines if "event" not in r]
    assert len(losses) == 60 and result.steps == 60 and result.stop_reason == "max_steps"
    assert np.mean(losses[-10:]) < 0.6 * np.mean(losses[:10])
    assert [r["step"] for r in lines if r.get("event") == "eval"] == [10, 20, 30, 40, 50, 60]
    steps = [r for r in lines if "event" not in r]
    assert [steps[k]["lr"] for k in (0, 25, 59)] == pytest.approx([0.03, 0.015, 0.0075])  # StepLR
    assert [p.name for p in list_checkpoints(tmp_path / "run")] == [
        "checkpoint-00000050",
        "checkpoint-00000055",
        "checkpoint-00000060",
    ]
    best = load_checkpoint(tmp_path / "run" / "best")
    assert best.state["trainer"]["best_score"] == result.best_score
    assert json.loads((tmp_path / "run" / "config.json").read_text())["blas_threads"] == 1


def test_sigkill_and_resume_end_bitwise_equal_to_an_uninterrupted_run(tmp_path, echo):
    full = run_in_subprocess(tmp_path, tmp_path / "full")
    assert full.returncode == 0, full.stderr
    killed = run_in_subprocess(tmp_path, tmp_path / "killed", kill_at=23)
    assert killed.returncode == -signal.SIGKILL
    assert list_checkpoints(tmp_path / "killed")[-1].name == "checkpoint-00000020"
    resumed = run_in_subprocess(tmp_path, tmp_path / "killed", resume=True)
    assert resumed.returncode == 0, resumed.stderr
    expected, got = final_weights(tmp_path / "full"), final_weights(tmp_path / "killed")
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)
    steps = [
        json.loads(ln)["step"]
        for ln in (tmp_path / "killed" / "metrics.jsonl").read_text().splitlines()
        if "event" not in json.loads(ln)
    ]
    assert steps == list(range(1, 31))  # steps 21-23 of the killed run were logged once, not twice

    # Negative controls: a resume that loses the optimiser's moments or the RNG state differs.
    for part in ("optimizer", "rng"):
        run_dir = tmp_path / f"no-{part}"
        assert run_in_subprocess(tmp_path, run_dir, kill_at=23).returncode == -signal.SIGKILL
        ckpt = load_checkpoint(run_dir)
        if part == "optimizer":
            ckpt.train = {k: np.zeros_like(v) if k.startswith("optim.") else v for k, v in ckpt.train.items()}
        else:
            ckpt.state["rng"] = np.random.default_rng(99).bit_generator.state
        save_checkpoint(run_dir, ckpt)
        assert run_in_subprocess(tmp_path, run_dir, resume=True).returncode == 0
        got = final_weights(run_dir)
        assert any(not np.array_equal(got[n], expected[n]) for n in expected), part


def test_a_nan_loss_is_skipped_and_never_reaches_weights_or_checkpoints(tmp_path, echo):
    trainer = echo.make_trainer(tmp_path / "run", steps=12, nan_at=(3, 4))
    result = trainer.run()
    assert result.skipped == 2 and result.steps == 12
    events = [json.loads(ln) for ln in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [e["step"] for e in events if e.get("event") == "skipped"] == [4, 5]
    for folder in list_checkpoints(tmp_path / "run"):
        for a in load_checkpoint(folder).model.values():
            assert np.isfinite(a).all()


def test_on_nonfinite_stop_raises_and_keeps_the_last_good_checkpoint(tmp_path, echo):
    trainer = echo.make_trainer(tmp_path / "run", steps=12, nan_at=(7,))
    trainer.config.on_nonfinite = "stop"
    with pytest.raises(DivergedError, match="step 8: non-finite loss"):
        trainer.run()
    assert list_checkpoints(tmp_path / "run")[-1].name == "checkpoint-00000005"


def test_ctrl_c_finishes_the_step_saves_and_stops(tmp_path, echo):
    trainer = echo.make_trainer(tmp_path / "run", steps=50)
    original = trainer.task.train_step

    def interrupting(step, rng):
        if step == 8:
            os.kill(os.getpid(), signal.SIGINT)
        return original(step, rng)

    trainer.task.train_step = interrupting
    result = trainer.run()
    assert result.stop_reason == "interrupted" and result.steps == 9
    assert list_checkpoints(tmp_path / "run")[-1].name == "checkpoint-00000009"


def test_early_stopping_stops_after_patience_evaluations_without_improvement(tmp_path, echo):
    trainer = echo.make_trainer(tmp_path / "run", steps=200)
    trainer.task.evaluate = lambda: 1.0  # never improves after the first evaluation
    trainer.config.patience = 2
    result = trainer.run()
    assert result.stop_reason == "early_stopping" and result.steps == 30


def test_a_bad_on_nonfinite_value_is_refused(tmp_path, echo):
    with pytest.raises(ValueError, match="on_nonfinite"):
        Trainer(echo.EchoTask(), None, tmp_path, TrainConfig(on_nonfinite="ignore"))


def test_epoch_and_wall_clock_budgets_and_the_progress_bar(tmp_path, echo, capsys):
    trainer = echo.make_trainer(tmp_path / "epochs", steps=None)
    trainer.task.steps_per_epoch = lambda: 4
    trainer.config.max_epochs = 2.5
    trainer.config.progress = True
    result = trainer.run()
    assert result.stop_reason == "max_epochs" and result.steps == 10
    err = capsys.readouterr().err
    assert "10/10" in err and "loss=" in err and "step/s" in err  # tqdm: count, rate, loss
    trainer = echo.make_trainer(tmp_path / "minutes", steps=None)
    trainer.config.max_minutes = 0.0
    result = trainer.run()
    assert result.stop_reason == "max_minutes" and result.steps == 0


def test_the_trainers_docstring_example_runs_as_written():
    import doctest

    from rnnlab.train import trainer

    result = doctest.testmod(trainer, raise_on_error=False, report=True)
    assert result.attempted > 0 and result.failed == 0


def test_timed_evaluations_checkpoint_even_when_no_step_count_does(tmp_path, echo):
    """A minutes budget evaluates on the clock with checkpoint_every=0 (as `rnnlab train --minutes`
    does): each timed evaluation must leave a checkpoint, or a run killed mid-way has none to resume."""
    from rnnlab.nn.optim import Adam

    task = echo.EchoTask()
    seen = []
    cfg = TrainConfig(
        max_steps=4, eval_every=0, eval_every_seconds=1e-9, checkpoint_every=0, keep_checkpoints=10, progress=False
    )
    trainer = Trainer(
        task,
        Adam(task.model.named_parameters(), lr=0.03),
        tmp_path / "run",
        cfg,
        on_eval=lambda step, score, improved: seen.append([p.name for p in list_checkpoints(tmp_path / "run")]),
    )
    trainer.run()
    # at the evaluation of step k, the checkpoints of the earlier timed evaluations are there
    assert seen[2] == ["checkpoint-00000001", "checkpoint-00000002"]
