"""The bouncing-ball forecaster and study: finite differences through the model, the distance to a
bounce, a quick study that beats the constant-velocity baseline at the walls, and the command."""

import contextlib
import importlib.util
import io
import json

import numpy as np
import pytest

from rnnlab import cli
from rnnlab.analysis.ball import distance_to_bounce
from rnnlab.data.ball import bouncing_balls, render_frames
from rnnlab.models.ball import BallForecaster, BallForecasterConfig
from rnnlab.nn import gradcheck

HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


@pytest.mark.parametrize("encoder, size", [("pixels", 5), ("conv", 4)])
def test_ball_forecaster_backward_matches_finite_differences(encoder, size):
    config = BallForecasterConfig(
        size=size, encoder=encoder, features=3, hidden=3, channels=(2, 2), forget_bias=0.5, dtype="float64"
    )
    rng = np.random.default_rng(0)
    model = BallForecaster(config, rng)
    frames = rng.uniform(0, 1, size=(3, 2, size, size))
    errors = gradcheck(model, frames, rng=np.random.default_rng(1))
    assert set(errors) >= {"x", "proj.weight", "head.bias"} and max(errors.values()) < 1e-6, errors


def test_ball_forecaster_shapes_rollout_and_errors():
    model = BallForecaster(BallForecasterConfig(size=8, features=4, hidden=5), np.random.default_rng(0))
    balls = bouncing_balls(3, 6, np.random.default_rng(1), size=8, radius=1.5)
    frames = render_frames(balls.positions[:-1], 8, 1.5)
    pred = model.predict(frames)
    assert pred.shape == (6, 3, 2) and pred.dtype == np.float32
    np.testing.assert_allclose(model(frames), pred)  # predict is forward without the tape
    drawn = []
    rolled = model.rollout(frames[:4], 3, lambda p: drawn.append(p) or render_frames(p, 8, 1.5))
    assert rolled.shape == (3, 3, 2) and len(drawn) == 2
    np.testing.assert_allclose(rolled[0], pred[3], rtol=1e-5)  # lead 1 reads the same true frames
    with pytest.raises(ValueError, match="expected \\(T, B, 8, 8\\)"):
        model(frames[:, :, :4])
    model(frames)
    with pytest.raises(ValueError, match="dpred has shape"):
        model.backward(np.zeros((6, 3, 3)))
    with pytest.raises(ValueError, match="lead must be a positive integer"):
        model.rollout(frames, 0, lambda p: render_frames(p, 8, 1.5))
    with pytest.raises(ValueError, match="encoder must be one of pixels, conv"):
        BallForecasterConfig(encoder="mlp")
    with pytest.raises(ValueError, match="multiple of 4"):
        BallForecasterConfig(size=10, encoder="conv")


def test_distance_to_bounce_counts_steps_outside_the_two_the_baseline_reads():
    bounced = np.zeros((10, 1), bool)
    bounced[5] = True  # a wall hit between steps 4 and 5
    # the forecast at t reads (t - 1, t + 1]: near the bounce for t = 4 and t = 5
    assert distance_to_bounce(bounced)[:, 0].tolist() == [4, 3, 2, 1, 0, 0, 1, 2, 3]


@pytest.fixture(scope="module")
def quick_study(tmp_path_factory):
    out, printed = tmp_path_factory.mktemp("ball"), io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert cli.main(["study", "bouncing-ball", "--quick", "--out", str(out)]) == 0
    return out, json.loads((out / "summary.json").read_text()), printed.getvalue()


def test_quick_study_beats_the_constant_velocity_baseline_near_bounces(quick_study):
    _, summary, _ = quick_study
    lstm, baseline = summary["errors_px"]["lstm"], summary["errors_px"]["baseline"]
    assert baseline["free_flight"] < 1e-9  # exact between bounces ...
    assert baseline["near_bounce"] > 1.0  # ... and off by about the speed across the wall near one
    assert lstm["near_bounce"] < 0.7 * baseline["near_bounce"], (lstm, baseline)  # the LSTM learnt the bounce
    assert lstm["all"] < baseline["all"]
    rollout = summary["rollout_px"]
    assert rollout["lstm"][-1] < rollout["baseline"][-1]  # straight on, the baseline leaves the box
    assert summary["options"]["train_steps"] == 100


def test_quick_study_prints_its_errors_and_writes_its_figure(quick_study, capsys):
    out, summary, printed = quick_study
    assert "bouncing ball: 100 Adam steps" in printed and "near a bounce, free flight" in printed
    assert "constant velocity" in printed and "rollout from step" in printed
    if HAS_MATPLOTLIB:
        assert (out / "ball.png").read_bytes()[:4] == b"\x89PNG"
        assert summary["figures"] == [str(out / "ball.png")]
    assert cli.main(["study", "bouncing-ball", "--gravity", "-1", "--steps", "1", "--out", str(out / "g")]) == 2
    assert "--gravity" in capsys.readouterr().err and not (out / "g").exists()
