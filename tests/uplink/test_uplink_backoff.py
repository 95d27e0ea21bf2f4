"""Capped exponential backoff with full jitter, and Retry-After parsing (pure, no clock)."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from agent.uplink.backoff import Backoff
from agent.uplink.client import parse_retry_after


def _upper(low: float, high: float) -> float:
    assert low == 0.0  # full jitter: always from zero
    return high


def test_delay_ceiling_doubles_from_initial_up_to_the_cap() -> None:
    b = Backoff(1.0, 20.0, uniform=_upper)
    assert [b.next_delay() for _ in range(7)] == [1.0, 2.0, 4.0, 8.0, 16.0, 20.0, 20.0]
    assert b.failures == 7


def test_reset_starts_again_from_the_initial_delay() -> None:
    b = Backoff(0.5, 300.0, uniform=_upper)
    for _ in range(5):
        b.next_delay()
    b.reset()
    assert b.failures == 0 and b.next_delay() == 0.5


def test_delays_are_spread_over_the_whole_range() -> None:
    import random

    rng = random.Random(42)
    b = Backoff(1.0, 8.0, uniform=rng.uniform)
    delays = []
    for _ in range(2000):
        b.failures = 10  # stay at the cap
        delays.append(b.next_delay())
    assert 0.0 <= min(delays) < 0.1 and 7.9 < max(delays) <= 8.0
    assert 3.7 < sum(delays) / len(delays) < 4.3  # uniform(0, 8) has mean 4


def test_a_very_long_outage_does_not_overflow() -> None:
    b = Backoff(1.0, 300.0, uniform=_upper)
    b.failures = 10_000
    assert b.next_delay() == 300.0


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="bounds"):
        Backoff(0.0, 1.0)


@pytest.mark.parametrize(
    ("header", "expected"),
    [("3", 3.0), ("0.5", 0.5), ("-4", 0.0), ("", None), (None, None), ("soon", None)],
)
def test_retry_after_delta_seconds(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, now=1_000.0) == expected


def test_retry_after_http_date_is_relative_to_now() -> None:
    now = 1_767_225_600.0
    assert parse_retry_after(formatdate(now + 120, usegmt=True), now=now) == 120.0
    assert parse_retry_after(formatdate(now - 60, usegmt=True), now=now) == 0.0
