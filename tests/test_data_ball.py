"""The bouncing ball: reflection physics, rendering and the constant-velocity baseline."""

import numpy as np
import pytest

from rnnlab.data.ball import bouncing_balls, constant_velocity_forecast, frame_centroids, render_frames


def test_ball_stays_in_the_box_and_keeps_its_speed_through_elastic_bounces():
    balls = bouncing_balls(64, 200, np.random.default_rng(0), size=16, radius=2.0, speed=(1.0, 3.0))
    p, v = balls.positions, balls.velocities
    assert p.shape == v.shape == (201, 64, 2) and balls.bounced.shape == (201, 64)
    assert p.min() >= 2.0 - 1e-12 and p.max() <= 14.0 + 1e-12  # the centre keeps a radius from each wall
    speed = np.linalg.norm(v, axis=2)
    # a reflection flips one component of the velocity: the speed never changes
    np.testing.assert_allclose(speed, np.broadcast_to(speed[0], speed.shape), rtol=1e-12)
    assert balls.bounced[1:].sum(axis=0).min() > 5  # every ball has hit walls many times
    assert not balls.bounced[0].any()
    # between bounces the motion is uniform: the step p[t] - p[t-1] is the velocity
    free = ~balls.bounced[1:]
    np.testing.assert_allclose((p[1:] - p[:-1])[free], v[1:][free], atol=1e-12)


def test_a_reflection_mirrors_the_position_and_flips_the_velocity_across_the_wall():
    rng = np.random.default_rng(1)
    balls = bouncing_balls(500, 1, rng, size=10, radius=1.0, speed=(2.0, 2.0))
    p0, p1 = balls.positions
    v0, v1 = balls.velocities
    for axis in range(2):
        unfolded = p0[:, axis] + v0[:, axis]
        hit_high = unfolded > 9.0
        np.testing.assert_allclose(p1[hit_high, axis], 18.0 - unfolded[hit_high])  # mirrored in x = 9
        np.testing.assert_allclose(v1[hit_high, axis], -v0[hit_high, axis])
        hit_low = unfolded < 1.0
        np.testing.assert_allclose(p1[hit_low, axis], 2.0 - unfolded[hit_low])
        assert hit_high.any() and hit_low.any()


def test_a_step_longer_than_the_box_folds_back_inside():
    balls = bouncing_balls(32, 20, np.random.default_rng(2), size=8, radius=1.0, speed=(15.0, 20.0))
    assert balls.positions.min() >= 1.0 - 1e-12 and balls.positions.max() <= 7.0 + 1e-12
    speed = np.linalg.norm(balls.velocities, axis=2)
    np.testing.assert_allclose(speed, np.broadcast_to(speed[0], speed.shape), rtol=1e-12)


def test_gravity_pulls_down_and_the_ball_still_stays_in_the_box():
    balls = bouncing_balls(32, 300, np.random.default_rng(3), gravity=0.2)
    assert balls.positions.min() >= balls.radius - 1e-12 and balls.positions.max() <= 16 - balls.radius + 1e-12
    vy = balls.velocities[1:, :, 1]
    no_bounce = ~balls.bounced[1:]
    np.testing.assert_allclose((vy - balls.velocities[:-1, :, 1])[no_bounce], 0.2, atol=1e-12)


def test_trajectories_are_a_function_of_the_rng_alone():
    a = bouncing_balls(4, 30, np.random.default_rng(7))
    b = bouncing_balls(4, 30, np.random.default_rng(7))
    np.testing.assert_array_equal(a.positions, b.positions)
    assert not np.array_equal(a.positions, bouncing_balls(4, 30, np.random.default_rng(8)).positions)


def test_the_centroid_of_a_rendered_frame_is_the_ball_s_centre():
    balls = bouncing_balls(50, 40, np.random.default_rng(4), size=16, radius=2.0)
    frames = render_frames(balls.positions, 16, 2.0)
    assert frames.shape == (41, 50, 16, 16) and frames.dtype == np.float32
    assert frames.min() >= 0 and frames.max() <= 1
    assert ((frames > 0) & (frames < 1)).any(axis=(2, 3)).all()  # anti-aliased edges everywhere
    err = np.abs(frame_centroids(frames) - balls.positions)
    assert err.max() < 0.05, err.max()
    mass = frames.sum(axis=(2, 3))
    np.testing.assert_allclose(mass, np.pi * 4.0, rtol=0.06)  # about the disc's area, wherever it is


def test_render_puts_x_in_columns_and_y_in_rows():
    frame = render_frames(np.array([12.5, 3.5]), 16, 1.0)
    assert np.unravel_index(np.argmax(frame), frame.shape) == (3, 12)
    assert np.isnan(frame_centroids(np.zeros((2, 4, 4)))).all()  # no ink, no centre


def test_constant_velocity_is_exact_in_free_flight_and_wrong_at_a_bounce():
    balls = bouncing_balls(64, 60, np.random.default_rng(5))
    forecast = constant_velocity_forecast(balls.positions[:-1])  # row t forecasts positions[t + 1]
    err = np.linalg.norm(forecast - balls.positions[1:], axis=2)[1:]  # t >= 1
    near = balls.bounced[1:-1] | balls.bounced[2:]  # a wall hit in (t - 1, t + 1]
    assert err[~near].max() < 1e-12
    assert err[near].mean() > 0.5
    np.testing.assert_array_equal(constant_velocity_forecast(balls.positions[:1]), balls.positions[:1])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n=0), "n must be a positive integer"),
        (dict(steps=-1), "steps must be a positive integer"),
        (dict(size=4, radius=2.0), "2 \\* radius must be < size"),
        (dict(radius=0.0), "radius must be a positive finite number"),
        (dict(radius=float("nan")), "radius must be a positive finite number"),
        (dict(speed=(2.0, 1.0)), "low <= high"),
        (dict(speed=3.0), "speed must be a pair"),
        (dict(speed=(1.0, 2.0, 3.0)), "speed must be a pair"),
        (dict(speed=(0.0, 1.0)), "speed must be a positive finite number"),
        (dict(gravity=-0.1), "gravity must be a finite number >= 0"),
    ],
)
def test_bad_arguments_are_refused_with_a_clear_message(kwargs, message):
    args = dict(n=2, steps=5, rng=np.random.default_rng(0)) | kwargs
    n, steps, rng = args.pop("n"), args.pop("steps"), args.pop("rng")
    with pytest.raises(ValueError, match=message):
        bouncing_balls(n, steps, rng, **args)


def test_render_and_baseline_refuse_bad_shapes():
    with pytest.raises(ValueError, match="positions must have shape"):
        render_frames(np.zeros((3, 3)), 16, 2.0)
    with pytest.raises(ValueError, match="finite"):
        render_frames(np.array([np.nan, 1.0]), 16, 2.0)
    with pytest.raises(ValueError, match="size must be a positive integer"):
        render_frames(np.zeros(2), 0, 2.0)
    with pytest.raises(ValueError, match="positions must have shape"):
        constant_velocity_forecast(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="frames must have shape"):
        frame_centroids(np.zeros(4))
