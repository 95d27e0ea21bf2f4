"""Fault injection, observed from a plain HTTP client: each kind does what docs/cloud.md says."""

from __future__ import annotations

import time

import httpx
import pytest
from backbone_factory import ADMIN_HEADERS, add_fault, clear_faults, stats, telemetry
from standin_cloud import CloudServer
from standin_cloud.faults import FaultPlan, FaultRule, parse_rule

from agent.events import to_envelope


def _events(auth: dict[str, str], url: str) -> httpx.Response:
    from backbone_factory import IDENTITY

    env = to_envelope(telemetry(1), IDENTITY, 1)
    return httpx.post(f"{url}/events", headers=auth, json={"Events": [env]}, timeout=5)


def test_500_answers_without_doing_anything(cloud: CloudServer, auth: dict[str, str]) -> None:
    add_fault(cloud.url, kind="500", count=2)
    for _ in range(2):
        r = _events(auth, cloud.url)
        assert r.status_code == 500 and r.json() == {"Error": "Internal Server Error"}
    assert stats(cloud.url)["events"] == 0
    assert _events(auth, cloud.url).status_code == 200  # consumed: back to normal
    assert stats(cloud.url)["events"] == 1 and stats(cloud.url)["faults"]["500"] == 2


def test_429_carries_retry_after(cloud: CloudServer, auth: dict[str, str]) -> None:
    add_fault(cloud.url, kind="429", retry_after=7)
    r = _events(auth, cloud.url)
    assert r.status_code == 429 and r.headers["retry-after"] == "7"
    assert r.json() == {"Error": "Quota Exceeded"}


def test_drop_closes_the_socket_and_does_nothing(cloud: CloudServer, auth: dict[str, str]) -> None:
    add_fault(cloud.url, kind="drop")
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        _events(auth, cloud.url)
    assert stats(cloud.url)["events"] == 0


def test_drop_after_does_the_work_then_loses_the_answer(
    cloud: CloudServer, auth: dict[str, str]
) -> None:
    add_fault(cloud.url, kind="drop_after")
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        _events(auth, cloud.url)
    assert stats(cloud.url)["events"] == 1


def test_slow_delays_then_answers(cloud: CloudServer, auth: dict[str, str]) -> None:
    add_fault(cloud.url, kind="slow", delay_s=0.5)
    start = time.monotonic()
    assert _events(auth, cloud.url).status_code == 200
    assert time.monotonic() - start >= 0.5


def test_rules_match_by_path_and_default_to_the_device_side(
    cloud: CloudServer, auth: dict[str, str]
) -> None:
    add_fault(cloud.url, kind="500", paths=["/events/latest"])
    add_fault(cloud.url, kind="500")  # device side only
    r = httpx.get(f"{cloud.url}/health")
    assert r.status_code == 200  # read/health calls are not device side
    assert _events(auth, cloud.url).status_code == 500
    latest = httpx.post(
        f"{cloud.url}/events/latest", headers={**auth, "maxkeys": "1"}, json={"items": ["x"]}
    )
    assert latest.status_code == 500
    listed = httpx.get(f"{cloud.url}/admin/faults", headers=ADMIN_HEADERS).json()
    assert listed["pending"] == [] and listed["injected"]["500"] == 2
    add_fault(cloud.url, kind="500", count=5)
    clear_faults(cloud.url)
    assert _events(auth, cloud.url).status_code == 200


def test_bad_rules_are_refused(cloud: CloudServer) -> None:
    r = httpx.post(f"{cloud.url}/admin/faults", json={"kind": "teapot"}, headers=ADMIN_HEADERS)
    assert r.status_code == 400 and "kind" in r.json()["Error"]


def test_cli_spec_parses_into_rules() -> None:
    rule = parse_rule("kind=429,count=3,retry_after=1.5,path=/events,path=/s3/")
    assert rule == FaultRule("429", 3, ("/events", "/s3/"), retry_after=1.5)
    assert parse_rule("kind=slow,delay=2").delay_s == 2.0
    assert parse_rule("kind=drop,path=/s3/,method=put").methods == ("PUT",)
    with pytest.raises(ValueError, match="unknown fault field"):
        parse_rule("kind=500,colour=red")
    with pytest.raises(ValueError, match="name=value"):
        parse_rule("500")


def test_plan_consumes_rules_in_order() -> None:
    plan = FaultPlan()
    plan.add(FaultRule("500", 1))
    plan.add(FaultRule("drop", 1))
    assert [plan.take("POST", "/events").kind, plan.take("PUT", "/s3/b/k").kind] == ["500", "drop"]  # type: ignore[union-attr]
    assert plan.take("POST", "/events") is None
    assert plan.take("GET", "/s3/b/k") is None  # a read, not an upload
    plan.add(FaultRule("500", 2, ("/s3/",), methods=("PUT",)))
    assert plan.take("GET", "/s3/b/k") is None
    assert plan.take("PUT", "/s3/b/k") is not None
