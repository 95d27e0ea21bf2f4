"""Clock steps are told apart from elapsed time and from NTP-sized corrections."""

from __future__ import annotations

from agent.clockwatch import ClockSample, clock_step


def test_normal_ticks_and_small_corrections_are_not_steps() -> None:
    assert clock_step(ClockSample(1000.0, 50.0), ClockSample(1001.0, 51.0)) is None
    assert clock_step(ClockSample(1000.0, 50.0), ClockSample(1002.5, 51.0)) is None  # +1.5 s


def test_forward_and_backward_steps_are_reported_with_their_size() -> None:
    assert clock_step(ClockSample(1000.0, 50.0), ClockSample(4601.0, 51.0)) == 3600.0
    assert clock_step(ClockSample(1000.0, 50.0), ClockSample(941.0, 51.0)) == -60.0


def test_a_long_pause_of_both_clocks_is_not_a_step() -> None:
    # The loop stalled for 30 s (suspend, heavy load): both clocks advanced together.
    assert clock_step(ClockSample(1000.0, 50.0), ClockSample(1030.0, 80.0)) is None
