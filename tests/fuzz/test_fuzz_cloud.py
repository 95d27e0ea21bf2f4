"""The stand-in cloud's request bodies: its body/envelope validators directly, and every main
route through a Starlette TestClient (no socket) with arbitrary bodies, headers and paths.

Property: ``split_events`` raises only ``BodyError``, ``validate_envelope`` only
``InvalidEnvelopeError``; no request makes the cloud answer 5xx (issue 9: never a 500).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import re
import shutil
import sys
import tempfile
import time
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "uplink"))  # backbone_factory puts scripts/ on the path

from backbone_factory import ADMIN_HEADERS, CLIENT_ID, CLIENT_SECRET, telemetry  # noqa: E402
from standin_cloud import create_app  # noqa: E402
from standin_cloud.body import BodyError, loads, split_events  # noqa: E402
from standin_cloud.signing import Signer, same_text  # noqa: E402
from standin_cloud.validate import InvalidEnvelopeError, validate_envelope  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from agent.events import to_envelope  # noqa: E402

from .budget import tried  # noqa: E402
from .strategies import mutated  # noqa: E402


def _envelope() -> dict[str, Any]:
    from backbone_factory import IDENTITY
    env = to_envelope(telemetry(1), IDENTITY, 1)
    return json.loads(json.dumps(env))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=16) | st.sampled_from(["\ud800", "x" * 300, "../../etc", "a/b/c.png"]),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids,
                                                              max_size=4),
    max_leaves=20)


@st.composite
def envelope(draw: st.DrawFn) -> Any:
    ev = _envelope()
    for _ in range(draw(st.integers(0, 4))):
        key = draw(st.sampled_from(sorted(ev)) | st.text(max_size=8))
        if draw(st.booleans()):
            ev[key] = draw(JSON | st.integers(-(1 << 70), 1 << 70)
                           | st.floats(allow_nan=False) | st.sampled_from([1e308, -50, 33658]))
        else:
            ev.pop(key, None)
    return ev


def _dump(v: Any) -> bytes:
    return json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass")


BODY = st.one_of(
    st.binary(max_size=300),
    st.lists(envelope(), max_size=3).map(lambda evs: _dump({"Events": evs})),
    JSON.map(_dump),
    mutated([_dump({"Events": [_envelope()]}), b'{"clientId":"a","clientSecret":"b"}'],
            max_edits=6),
    st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n),
)


@given(BODY)
def test_split_events_and_validate(body: bytes) -> None:
    check_body(body)


def check_body(body: bytes) -> None:
    """The contract (shared with ``tests/fuzz/targets/cloud_validators.py``)."""
    tried("cloud_validators")
    try:
        events = split_events(body)
    except BodyError:
        return
    for ev, _text in events:
        with contextlib.suppress(InvalidEnvelopeError):
            validate_envelope(ev, now_ms=int(time.time() * 1000))


SIGNER = Signer(b"s" * 32)
NOW = 1_767_225_600.0  # the fixed "now" of the token checks: seeded tokens stay valid
TOKEN = SIGNER.issue_token(CLIENT_ID, NOW - 60, NOW + 3600)


def check_auth(body: bytes, token: str) -> None:
    """``POST /auth/token``'s body handling (``Cloud.body_json`` then ``Cloud.token``'s checks)
    and the ``Authorization`` header's token check, without a request: ``loads`` raises only
    ``ValueError``; the credential compare and ``Signer.check_token`` take any text and answer
    (``check_token``: the client id or ``None``), never raise. Shared with
    ``tests/fuzz/targets/cloud_auth.py``."""
    tried("cloud_auth")
    try:
        doc = loads(body)
    except ValueError:
        try:  # the lenient repair of /events/files bodies
            doc = loads(re.sub(rb"}\s*{", b"},{", body))
        except ValueError:
            doc = None
    if isinstance(doc, dict):
        cid, secret = doc.get("clientId"), doc.get("clientSecret")
        if isinstance(cid, str) and isinstance(secret, str):
            assert same_text(secret, secret)
            assert same_text(secret, CLIENT_SECRET) == (secret == CLIENT_SECRET)
    for not_before in (0.0, NOW):
        client = SIGNER.check_token(token, NOW, not_before)
        assert client is None or isinstance(client, str), client
    assert SIGNER.check_token(TOKEN, NOW) == CLIENT_ID


@given(BODY | st.builds(lambda c, s: _dump({"clientId": c, "clientSecret": s}), JSON, JSON),
       st.text(max_size=120) | st.sampled_from([TOKEN, TOKEN[:-1], TOKEN + ".x", "v1...."])
       | st.text(max_size=40).map(lambda s: TOKEN.replace(".", "." + s, 1)))
def test_token_body_and_header(body: bytes, token: str) -> None:
    check_auth(body, token)


@cache
def client() -> tuple[TestClient, str]:
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    from backbone_factory import cloud_config
    data = tempfile.mkdtemp(prefix="fuzz-cloud-")
    atexit.register(shutil.rmtree, data, ignore_errors=True)
    app = create_app(cloud_config(Path(data)))
    c = TestClient(app, raise_server_exceptions=False)
    c.__enter__()  # lifespan; closed at interpreter exit
    r = c.post("/auth/token", json={"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET})
    assert r.status_code == 200, r.text
    return c, r.json()["accessToken"]


ROUTES = [
    ("POST", "/auth/token"), ("POST", "/events"), ("POST", "/events/files/upload"),
    ("POST", "/events/latest"), ("POST", "/events/files"), ("POST", "/admin/faults"),
    ("POST", "/admin/deliveries"), ("POST", "/admin/revoke-tokens"),
    ("POST", "/order/devices/config"), ("POST", "/order/devices/batch/wifi"),
    ("POST", "/order/devices/862798050833538/command"), ("POST", "/api/command/send"),
]
PATH_PART = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40).map(
    lambda s: "".join(c if c.isalnum() or c in "._-/" else "%" + format(ord(c) % 256, "02X")
                      for c in s))


@given(st.sampled_from(ROUTES), BODY, st.sampled_from(["token", "none", "junk", "admin"]),
       st.booleans())
def test_routes_never_5xx(route: tuple[str, str], body: bytes, auth: str, gzip: bool) -> None:
    tried("cloud_http")
    c, token = client()
    headers = {"Content-Type": "application/json"}
    if auth == "token":
        headers["Authorization"] = token
    elif auth == "junk":
        headers["Authorization"] = token[:-3] + "é" if token else "x"
    elif auth == "admin":
        headers.update(ADMIN_HEADERS)
    if gzip:
        headers["Content-Encoding"] = "gzip"
    method, path = route
    if path == "/admin/revoke-tokens":
        return  # would revoke the fuzzer's own token; its bodies reach body_json like the rest
    r = c.request(method, path, content=body,
                  headers={k: v.encode("utf-8") for k, v in headers.items()})
    assert r.status_code < 500, (method, path, r.status_code, r.text[:200])


@given(st.sampled_from(["PUT", "GET"]), st.sampled_from(["events", "faces", "x"]), PATH_PART,
       st.binary(max_size=64), st.dictionaries(st.sampled_from(
           ["X-Amz-Signature", "X-Amz-Expires", "X-Amz-Date", "size", "sig", "expires"]),
           st.text(max_size=12), max_size=3))
def test_objects_and_search_never_5xx(method: str, bucket: str, key: str, body: bytes,
                                      query: dict[str, str]) -> None:
    tried("cloud_http_paths")
    c, token = client()
    r = c.request(method, f"/s3/{bucket}/{key}", content=body, params=query)
    assert r.status_code < 500, (method, key, r.status_code, r.text[:200])
    r = c.get(f"/events/devices/{key.replace('/', '')}/events/search/time", params=query,
              headers={"Authorization": token})
    assert r.status_code < 500, (key, query, r.status_code, r.text[:200])


def test_regression_order_body_with_lone_surrogate_is_400() -> None:
    """Found by this fuzzer: ``"\\ud800"`` in an order body reached ``check()``'s UTF-8 encode
    (UnicodeEncodeError -> 500); order bodies are now refused like event bodies."""
    c, token = client()
    for path in ("/order/devices/862798050833538/command", "/order/devices/config",
                 "/order/devices/862798050833538/wifi"):
        r = c.post(path, content=b'{"type":"\\ud800","x":"\\udfff"}',
                   headers={"Authorization": token, "Content-Type": "application/json"})
        assert r.status_code == 400, (path, r.status_code, r.text)
        assert "lone surrogate" in r.json()["Error"]
