"""GNSS lost / restored with debounce, silent receivers, and jamming suspected."""

from __future__ import annotations

from agent.events import TelemetryEventType as T
from agent.rules import TelemetryEngine
from agent.sources.readings import GnssFix
from tests.rules.helpers import engine, extra, fix, kinds, replay, route

LOST, BACK, JAM = T.GNSS_LOST, T.GNSS_RESTORED, T.GNSS_JAMMING


def quiet() -> TelemetryEngine:
    return engine(drivercoach_tracking=False, drivercoach_inertial=False)


def test_no_fix_reports_for_10_s_is_lost_and_3_s_of_fixes_is_restored() -> None:
    fixes = [fix(t, valid=not 21 <= t < 50, sats=8 if not 21 <= t < 50 else 2) for t in range(70)]
    seen = replay(quiet(), fixes, until=70)
    assert kinds(seen) == [(30, LOST), (53, BACK)]
    assert extra(seen[0]) == {"lastFixAgeS": 10.0}
    assert extra(seen[1]) == {"outageS": 30.0}
    assert seen[0].event.detail.alarm_type == 15  # type: ignore[union-attr]
    assert seen[0].event.context.fixed is False
    assert seen[1].event.context.fixed is True


def test_a_silent_receiver_is_lost_by_the_tick() -> None:
    fixes = [fix(t) for t in range(0, 21)]
    assert kinds(replay(quiet(), fixes, until=60)) == [(30, LOST)]


def test_a_short_dropout_is_not_an_event() -> None:
    fixes = [fix(t, valid=not 20 <= t < 29) for t in range(60)]
    assert replay(quiet(), fixes, until=60) == []


def test_flapping_fixes_do_not_restore_until_3_s_continuous() -> None:
    good = {*range(0, 11), 30, 32, 34, *range(40, 60)}
    fixes = [fix(t, valid=t in good) for t in range(60)]
    assert kinds(replay(quiet(), fixes, until=60)) == [(20, LOST), (43, BACK)]


def test_no_lost_event_when_there_was_never_a_fix() -> None:
    fixes = [fix(t, valid=False) for t in range(60)]
    assert replay(quiet(), fixes, until=60) == []


def test_abrupt_collapse_while_parked_is_suspected_jamming() -> None:
    fixes = [fix(t, sats=11) for t in range(0, 21)]
    fixes += [fix(t, valid=False, sats=0, visible=0) for t in range(21, 60)]
    seen = replay(quiet(), fixes, until=60)
    assert kinds(seen) == [(30, LOST), (30, JAM)]
    assert extra(seen[1]) == {"satellitesBefore": 11, "collapseS": 1.0}


def test_the_same_collapse_while_driving_is_only_lost_a_tunnel() -> None:
    fixes: list[GnssFix] = list(route(0, 20, 60.0))
    fixes += [fix(t, valid=False, sats=0, visible=0) for t in range(21, 60)]
    assert kinds(replay(quiet(), fixes, until=60)) == [(30, LOST)]


def test_a_gradual_fade_is_not_jamming() -> None:
    fixes = [fix(t, sats=11 - max(0, t - 10)) for t in range(0, 15)]  # 11 -> 7 satellites
    fixes += [fix(t, valid=False, sats=3, visible=5) for t in range(15, 25)]
    fixes += [fix(t, valid=False, sats=0, visible=0) for t in range(25, 40)]
    assert kinds(replay(quiet(), fixes, until=40)) == [(24, LOST)]


def test_one_fix_in_an_outage_then_silence_does_not_count_toward_restored() -> None:
    # Lost at 30; a lone valid fix at 40.5 (stale by the tick at 44, before the 3 s debounce),
    # the receiver silent until 60, then fixes again: the restore debounce restarts at 60
    # (it used to report restored at 60 at once, with outageS 20.5 instead of 40).
    fixes = [fix(t) for t in range(0, 21)] + [fix(40.5)] + [fix(t) for t in range(60, 80)]
    seen = replay(quiet(), fixes, until=80)
    assert kinds(seen) == [(30, LOST), (63, BACK)]
    assert extra(seen[1]) == {"outageS": 40.0}


def test_a_longer_restore_debounce_restarts_after_a_silent_gap() -> None:
    e = engine(drivercoach_tracking=False, drivercoach_inertial=False, gnss_restored_after_s=10)
    fixes = [fix(t) for t in range(0, 21)] + [fix(t) for t in (40, 41)]
    fixes += [fix(t) for t in range(60, 80)]
    seen = replay(e, fixes, until=80)
    assert kinds(seen) == [(30, LOST), (70, BACK)]
    assert extra(seen[1]) == {"outageS": 40.0}
