"""Head-motion metrics (talkgs.metrics.head_motion) on analytic motions: their values, what
raises them and when they are not computed."""

from __future__ import annotations

import numpy as np
import pytest

from talkgs.errors import TalkgsError
from talkgs.metrics.head_motion import WINDOW, head_motion_metrics
from talkgs.pose.camera import exp_so3
from talkgs.tables import HEAD_MOTION

FPS = 25.0


def turning(amplitude_deg: float, frequency_hz: float, seconds: float = 4.0, axis: int = 1):
    """``[T, 3, 3]``: the head turning about one camera axis (1: yaw) as A·sin(2π f t)."""
    t = np.arange(int(seconds * FPS)) / FPS
    rotvec = np.zeros((len(t), 3))
    rotvec[:, axis] = np.radians(amplitude_deg * np.sin(2 * np.pi * frequency_hz * t))
    return exp_so3(rotvec)


def test_a_sinusoidal_yaw_gives_its_analytic_speed_and_spread() -> None:
    metrics = head_motion_metrics(turning(3.0, 0.5))
    # mean |dθ/dt| of A sin(ωt) over whole periods: 2Aω/π = 4 A f
    assert abs(metrics["angular_velocity"] - 4 * 3.0 * 0.5) < 0.1, metrics
    assert abs(metrics["yaw_std"] - 3.0 / np.sqrt(2)) < 0.01, metrics
    assert metrics["pitch_std"] < 1e-6 and metrics["roll_std"] < 1e-6
    # jerk of A sin(ωt): mean |A ω³ cos| = 2 A ω³ / π
    omega = 2 * np.pi * 0.5
    assert abs(metrics["jerk"] - 2 * 3.0 * omega**3 / np.pi) < 0.05 * 2 * 3.0 * omega**3 / np.pi


def test_a_still_head_has_no_motion_and_noise_raises_the_jerk() -> None:
    still = head_motion_metrics(np.tile(exp_so3(np.array([0.1, 0.2, 0.0])), (50, 1, 1)))
    assert still["angular_velocity"] < 1e-6 and still["jerk"] < 1e-6
    smooth = turning(3.0, 0.5)
    noise = exp_so3(np.radians(np.random.default_rng(0).normal(scale=0.2, size=(len(smooth), 3))))
    jittery = head_motion_metrics(noise @ smooth)
    assert jittery["jerk"] > 10 * head_motion_metrics(smooth)["jerk"]


def test_velocity_fd_is_zero_for_the_same_motion_and_grows_with_a_faster_one() -> None:
    recorded = turning(3.0, 0.5)
    assert head_motion_metrics(recorded)["velocity_fd"] is None  # no reference
    same = head_motion_metrics(recorded, recorded)["velocity_fd"]
    faster = head_motion_metrics(turning(3.0, 1.0), recorded)["velocity_fd"]
    fastest = head_motion_metrics(turning(3.0, 2.0), recorded)["velocity_fd"]
    assert same is not None and same < 1e-6
    assert faster is not None and fastest is not None and 1.0 < faster < fastest


def test_too_short_is_not_computed_never_zero() -> None:
    one = head_motion_metrics(turning(3.0, 0.5)[:1])
    assert all(value is None for value in one.values()), one
    three = head_motion_metrics(turning(3.0, 0.5)[:3], turning(3.0, 0.5))
    assert three["angular_velocity"] is not None and three["jerk"] is None
    assert three["velocity_fd"] is None  # fewer than two velocity windows
    enough = turning(3.0, 0.5)[: WINDOW + 2]
    assert head_motion_metrics(enough, enough)["velocity_fd"] is not None


def test_a_steady_turn_has_its_speed_exactly_and_no_jerk() -> None:
    # 0.4° per frame about the yaw axis, at 25 and at 50 frames per second
    steady = exp_so3(np.radians(np.outer(0.4 * np.arange(30), [0.0, 1.0, 0.0])))
    metrics = head_motion_metrics(steady)
    assert metrics["angular_velocity"] == pytest.approx(0.4 * FPS, rel=1e-9)
    assert metrics["jerk"] < 1e-6
    assert metrics["yaw_std"] == pytest.approx(0.4 * np.arange(30).std(), rel=1e-9)
    assert head_motion_metrics(steady, fps=50.0)["angular_velocity"] == pytest.approx(0.4 * 50)


def test_the_table_columns_are_the_metrics_in_order() -> None:
    keys = list(head_motion_metrics(turning(3.0, 0.5)))
    assert keys == [
        "angular_velocity", "jerk", "yaw_std", "pitch_std", "roll_std", "velocity_fd"
    ]  # fmt: skip
    assert [column.key for column in HEAD_MOTION] == keys


def test_not_rotations_is_a_one_line_error() -> None:
    with pytest.raises(TalkgsError, match=r"rotations must be \[T, 3, 3\]"):
        head_motion_metrics(np.zeros((10, 3)))
    with pytest.raises(TalkgsError, match="reference"):
        head_motion_metrics(turning(3.0, 0.5), np.zeros((100, 4, 4)))
