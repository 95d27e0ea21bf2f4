"""The stand-in V3 cloud as a Starlette app: upload API (CONTRACT.md §3) and the seed's read API."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import re
import secrets
import time
import zlib
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from .api import ApiError, JSONResponse, bad_request
from .api import error_response as _error
from .body import TOO_DEEP, BodyError, loads, split_events
from .etrack import TOKEN_TTL_S, EtrackAccount, EtrackApi
from .faults import FaultMiddleware, FaultPlan, FaultRule
from .orders import OrderApi, OrderBook
from .signing import Signer, load_or_create_key, same_text
from .store import CloudStore, EventRow, write_object_atomically
from .validate import BUCKETS, InvalidEnvelopeError, safe_key, valid_text, validate_envelope

T = TypeVar("T")
log = logging.getLogger("standin_cloud")

MAX_EVENTS_PER_BATCH = 5000
MAX_LATEST = 1000
MAX_SEARCH = 10_000
MAX_SEARCH_WINDOW_S = 3600
MAX_OBJECT_BYTES = 256 * 1024 * 1024
SEARCH_TIME_FORMAT = "%m/%d/%Y %H:%M:%S"


@dataclass(frozen=True, slots=True)
class ClientBinding:
    """The device and account a client's tokens may store events for (None: learnt on use)."""

    device_source: str | None = None
    account_ulid: str | None = None


@dataclass
class CloudConfig:
    data_dir: Path
    clients: dict[str, str]  # clientId -> clientSecret
    # clientId -> registered device/account. A client without one (or a field left None) is
    # bound to what its first accepted event says, persisted in the database.
    bindings: dict[str, ClientBinding] = field(default_factory=dict)
    token_ttl_s: int = 3600
    url_ttl_s: int = 900
    require_files: bool = True  # refuse events whose files[] were not uploaded first
    max_body_bytes: int = 64 * 1024 * 1024  # after gzip decompression too
    public_url: str | None = None  # base of file URLs; default: the URL the client used
    faults: FaultPlan = field(default_factory=FaultPlan)
    # The seed's read-API curl examples carry no Authorization header, while its Auth section
    # asks for the token on every call. By default the stand-in serves reads without a token so
    # those curls work as printed; a token, when sent, must be valid. True = token required.
    require_read_auth: bool = False
    # HTTPS: both set = serve TLS with this PEM certificate (chain) and key; the pre-signed and
    # read-API links then come out as https too (they follow the request's scheme).
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # The credential of /admin/* (header X-Admin-Token); a fresh random one unless given.
    admin_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    # Orders (docs/cloud.md): the broker they go through (None: stored, stay PENDING), the
    # cloud's MQTT client id (persistent session), and the HMAC key that signs them.
    mqtt_url: str | None = None
    mqtt_client_id: str = "standin-cloud"
    order_key: bytes | None = field(default=None, repr=False)
    # etrack's open API (seed 004, etrack.py): its accounts (account -> account and password),
    # the access token lifetime, and how long a command may wait to be carried out (None: no
    # expiry; the device's own limits apply).
    etrack_accounts: dict[str, EtrackAccount] = field(default_factory=dict)
    etrack_token_ttl_s: int = TOKEN_TTL_S
    etrack_command_ttl_s: float | None = 3600.0


def too_large(limit: int) -> ApiError:
    return ApiError(413, f"body too large: at most {limit} bytes")


def _raw_json(text: str, status: int = 200) -> Response:
    return Response(text, status_code=status, media_type="application/json")


class Cloud:
    """Handlers and the state they share; one instance per app."""

    def __init__(self, config: CloudConfig) -> None:
        self.config = config
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.signer = Signer(load_or_create_key(config.data_dir))
        # One thread owns the database: writes are serialised, the event loop never blocks.
        self._db_thread = ThreadPoolExecutor(1, thread_name_prefix="cloud-db")
        self.store = CloudStore(config.data_dir)
        self.requests: dict[str, int] = {}  # "POST /events 200" -> count
        self.tokens_not_before = 0.0  # /admin/revoke-tokens: older tokens answer 401
        self.orders = OrderBook(self, config.order_key)

    async def db(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._db_thread, fn)

    def close(self) -> None:
        self._db_thread.submit(self.store.close).result()
        self._db_thread.shutdown()

    # --- helpers -------------------------------------------------------------------------------
    def authorise(self, request: Request) -> str:
        token = request.headers.get("authorization", "")
        client = (
            self.signer.check_token(token, time.time(), self.tokens_not_before) if token else None
        )
        if client is None or client not in self.config.clients:
            raise ApiError(401, "Unauthorized")
        return client

    def authorise_admin(self, request: Request) -> None:
        # Bytes, not str: compare_digest refuses non-ASCII str (header values are latin-1).
        given = request.headers.get("x-admin-token", "").encode("latin-1")
        if not hmac.compare_digest(given, self.config.admin_token.encode()):
            raise ApiError(401, "Unauthorized")

    def authorise_read(self, request: Request) -> None:
        if self.config.require_read_auth or request.headers.get("authorization"):
            self.authorise(request)

    async def body_bytes(self, request: Request) -> bytes:
        limit = self.config.max_body_bytes
        raw = await read_capped(request, limit)
        if request.headers.get("content-encoding", "").lower() == "gzip":
            raw = await asyncio.to_thread(_gunzip, raw, limit)
        return raw

    async def body_json(self, request: Request, lenient: bool = False) -> Any:
        raw = await self.body_bytes(request)
        try:
            return loads(raw)
        except ValueError as exc:  # UnicodeDecodeError is a ValueError
            if str(exc) == TOO_DEEP:
                raise bad_request(TOO_DEEP) from None
            if lenient:
                # The seed's own examples omit commas between objects ("}{"); repair those.
                try:
                    return loads(re.sub(rb"}\s*{", b"},{", raw))
                except ValueError:
                    pass
            raise bad_request("body is not valid JSON") from None

    def base_url(self, request: Request) -> str:
        return self.config.public_url or str(request.base_url).rstrip("/")

    def object_url(self, request: Request, method: str, bucket: str, key: str, size: str) -> str:
        expires = int(time.time()) + self.config.url_ttl_s
        query = {"expires": str(expires)}
        if size:
            query["size"] = size
        query["signature"] = self.signer.object_signature(method, bucket, key, size, expires)
        return f"{self.base_url(request)}/s3/{bucket}/{quote(key)}?{urlencode(query)}"

    # --- upload side ---------------------------------------------------------------------------
    async def token(self, request: Request) -> Response:
        body = await self.body_json(request)
        if not isinstance(body, dict):
            raise bad_request("body must be an object")
        cid, secret = body.get("clientId"), body.get("clientSecret")
        if not isinstance(cid, str) or not isinstance(secret, str):
            raise bad_request("clientId and clientSecret are required")
        known = self.config.clients.get(cid)
        if known is None or not same_text(secret, known):
            raise ApiError(401, "Unauthorized")
        ttl = self.config.token_ttl_s
        now = time.time()
        token = self.signer.issue_token(cid, now, now + ttl)
        return JSONResponse({"accessToken": token, "expiresIn": ttl})

    async def post_events(self, request: Request) -> Response:
        client = self.authorise(request)
        gz = request.headers.get("content-encoding", "").lower() == "gzip"
        self.count("events bodies gzip" if gz else "events bodies plain")
        raw = await self.body_bytes(request)
        try:
            events = await asyncio.to_thread(split_events, raw)
        except BodyError as exc:
            raise bad_request(str(exc)) from None
        if len(events) > MAX_EVENTS_PER_BATCH:
            raise bad_request(f"at most {MAX_EVENTS_PER_BATCH} events per request")
        not_process = await self.db(lambda: self._ingest(client, events))
        return JSONResponse({"NotProcess": not_process or None})

    def _bound_to(self, client: str, first: dict[str, Any]) -> tuple[str, str]:
        """(deviceSource, accountulid) of ``client``: registered, else learnt from its first
        valid event (``first``), persisted so a restart keeps it (database thread)."""
        registered = self.config.bindings.get(client, ClientBinding())
        device, account = registered.device_source, registered.account_ulid
        if device is None or account is None:
            learnt = self.store.binding(client)
            if learnt is None:
                learnt = (first["deviceSource"], first["accountulid"])
                self.store.bind(client, *learnt)
            device = learnt[0] if device is None else device
            account = learnt[1] if account is None else account
        return device, account

    def _ingest(self, client: str, events: list[tuple[Any, str]]) -> list[dict[str, str]]:
        """Validate and store a batch (database thread); return the refused ones."""
        refused: list[dict[str, str]] = []
        valid: list[tuple[dict[str, Any], list[tuple[str, str]]]] = []
        texts: dict[int, str] = {}
        bound: tuple[str, str] | None = None
        for ev, text in events:
            try:
                files = validate_envelope(ev)
                # A token stores events only for its client's own device and account.
                bound = bound or self._bound_to(client, ev)
                if ev["deviceSource"] != bound[0]:
                    raise InvalidEnvelopeError("deviceSource: not the device of this token")
                if ev["accountulid"] != bound[1]:
                    raise InvalidEnvelopeError("accountulid: not the account of this token")
                valid.append((ev, files))
                texts[id(ev)] = text
            except InvalidEnvelopeError as exc:
                ulid = ev.get("ulid") if isinstance(ev, dict) else None
                refused.append(
                    {
                        "ulid": ulid if isinstance(ulid, str) else "",
                        "Error": f"{exc}(error Aplication)",
                    }
                )
        if self.config.require_files:
            missing = self.store.missing_files(ref for _, refs in valid for ref in refs)
            if missing:
                kept = []
                for ev, refs in valid:
                    gone = [r for r in refs if r in missing]
                    if gone:
                        b, k = gone[0]
                        refused.append(
                            {
                                "ulid": ev["ulid"],
                                "Error": f"file not uploaded: {b}/{k}(error Aplication)",
                            }
                        )
                    else:
                        kept.append((ev, refs))
                valid = kept
        now_ms = int(time.time() * 1000)
        rows: list[EventRow] = [
            (
                ev["ulid"],
                ev["accountulid"],
                ev["deviceSource"],
                ev["timestamp"],
                ev["sequenceNumber"],
                now_ms,
                texts[id(ev)],  # stored as the device sent it
            )
            for ev, _ in valid
        ]
        self.store.insert_events(rows)
        return refused

    async def upload_urls(self, request: Request) -> Response:
        self.authorise(request)
        body = await self.body_json(request)
        files = body.get("files") if isinstance(body, dict) else None
        if not isinstance(files, list) or not files:
            raise bad_request('body must be {"files": [...]}')
        out = []
        for i, item in enumerate(files):
            if not isinstance(item, dict):
                raise bad_request(f"files[{i}] must be an object")
            bucket, key, size = item.get("BucketName"), item.get("FileName"), item.get("Size")
            if not isinstance(bucket, str) or bucket not in BUCKETS:
                raise bad_request(f"files[{i}].BucketName: unknown bucket")
            if not isinstance(key, str) or not safe_key(key):
                raise bad_request(f"files[{i}].FileName: not a valid key")
            if type(size) is not int or not 0 <= size <= MAX_OBJECT_BYTES:
                raise bad_request(f"files[{i}].Size: must be 0..{MAX_OBJECT_BYTES}")
            url = self.object_url(request, "PUT", str(bucket), key, str(size))
            out.append({"BucketName": bucket, "FileName": key, "uploadUrl": url})
        return JSONResponse({"files": out})

    def _check_object_url(self, request: Request, method: str) -> tuple[str, str, str]:
        bucket = request.path_params["bucket"]
        key = request.path_params["key"]
        q = request.query_params
        size = q.get("size", "") if method == "PUT" else ""
        if bucket not in BUCKETS or not safe_key(key):
            raise ApiError(404, "NoSuchKey")
        problem = self.signer.check_object(
            method,
            bucket,
            key,
            size=size,
            expires=q.get("expires", ""),
            signature=q.get("signature", ""),
            now=time.time(),
        )
        if problem is not None:
            raise ApiError(403, problem)
        return bucket, key, size

    async def put_object(self, request: Request) -> Response:
        bucket, key, size = self._check_object_url(request, "PUT")
        data = await read_capped(request, int(size))  # the signed size is this body's cap
        if len(data) != int(size):
            raise bad_request(f"expected {size} bytes, got {len(data)}")
        digest = hashlib.sha256(data).hexdigest()
        path = self.store.object_path(bucket, key)
        await asyncio.to_thread(write_object_atomically, path, [data])
        ctype = request.headers.get("content-type", "application/octet-stream")
        now_ms = int(time.time() * 1000)
        await self.db(
            lambda: self.store.record_file(
                bucket, key, size=len(data), sha256=digest, content_type=ctype, now_ms=now_ms
            )
        )
        return JSONResponse({"ETag": digest}, headers={"ETag": f'"{digest}"'})

    async def get_object(self, request: Request) -> Response:
        bucket, key, _ = self._check_object_url(request, "GET")
        obj = await self.db(lambda: self.store.get_file(bucket, key))
        if obj is None or not obj.path.is_file():
            raise ApiError(404, "NoSuchKey")
        return FileResponse(
            obj.path, media_type=obj.content_type, headers={"ETag": f'"{obj.sha256}"'}
        )

    # --- read side (the seed's Events API) ---------------------------------------------------
    async def latest(self, request: Request) -> Response:
        self.authorise_read(request)
        try:
            maxkeys = int(request.headers.get("maxkeys", "100"))
        except ValueError:
            raise bad_request("maxkeys must be an integer") from None
        if not 1 <= maxkeys <= MAX_LATEST:
            raise bad_request(f"maxkeys must be 1..{MAX_LATEST}")
        body = await self.body_json(request)
        items = _items(body.get("items") if isinstance(body, dict) else None)
        texts = await self.db(lambda: self.store.latest(items, maxkeys))
        return _raw_json('{"Events":[' + ",".join(texts) + '],"NotProcess":null}')

    async def search_time(self, request: Request) -> Response:
        self.authorise_read(request)
        device = request.path_params["devicesource"]
        start = _parse_hour(request.headers.get("inithour"), "inithour")
        end = _parse_hour(request.headers.get("endhour"), "endhour")
        if end < start:
            raise bad_request("endhour is before inithour")
        if (end - start).total_seconds() > MAX_SEARCH_WINDOW_S:
            raise bad_request("Maximum time interval of 1 hour")
        start_ms = int(start.timestamp() * 1000)
        end_ms = int(end.timestamp() * 1000) + 1000  # endhour's second is included
        texts = await self.db(lambda: self.store.search(device, start_ms, end_ms, MAX_SEARCH))
        return _raw_json('{"Events":[' + ",".join(texts) + "]}")

    async def files(self, request: Request) -> Response:
        self.authorise_read(request)
        body = await self.body_json(request, lenient=True)
        files = body.get("files") if isinstance(body, dict) else None
        if not isinstance(files, list):
            raise bad_request('body must be {"files": [...]}')
        wanted: list[tuple[str, str]] = []
        for i, item in enumerate(files):
            bucket = item.get("BucketName") if isinstance(item, dict) else None
            key = item.get("FileName") if isinstance(item, dict) else None
            if not isinstance(bucket, str) or bucket not in BUCKETS:
                raise bad_request(f"files[{i}] needs a known BucketName and a FileName")
            if not isinstance(key, str) or not safe_key(key):
                raise bad_request(f"files[{i}] needs a known BucketName and a FileName")
            wanted.append((str(bucket), key))
        located = await self.db(lambda: [self._derived_locations(b, k) for b, k in wanted])
        out = [
            {
                "filename": key,
                "urlfile": self.object_url(request, "GET", bucket, key, ""),
                "urlfilethumb": self.object_url(request, "GET", *thumb, ""),
                "urlfilecrop": self.object_url(request, "GET", *crop, ""),
            }
            for (bucket, key), (thumb, crop) in zip(wanted, located, strict=True)
        ]
        return JSONResponse({"files": out})

    def _derived_locations(self, bucket: str, key: str) -> tuple[tuple[str, str], tuple[str, str]]:
        """Where the thumbnail and the face crop of ``bucket/key`` are (CONTRACT.md §2).

        Thumbnails sit beside their image, crops in v3-device-faces; whichever bucket actually
        holds the derived file wins, so the links work whatever bucket the device chose.
        """
        out = []
        for suffix, default in (("thumbnail", bucket), ("filecrop", "v3-device-faces")):
            derived = _derived(key, suffix)
            candidates = dict.fromkeys((default, bucket, "v3-device-images", "v3-device-faces"))
            found = next((b for b in candidates if self.store.get_file(b, derived)), default)
            out.append((found, derived))
        return out[0], out[1]

    # --- admin (tests and the demo) ------------------------------------------------------------
    async def admin_faults(self, request: Request) -> Response:
        self.authorise_admin(request)
        plan = self.config.faults
        if request.method == "POST":
            body = await self.body_json(request)
            rules = body if isinstance(body, list) else [body]
            try:
                parsed = [FaultRule.from_json(r) for r in rules]
            except (ValueError, TypeError, OverflowError) as exc:
                raise bad_request(str(exc)) from None
            for rule in parsed:
                plan.add(rule)
        elif request.method == "DELETE":
            plan.clear()
        return JSONResponse(plan.snapshot())

    async def admin_stats(self, request: Request) -> Response:
        self.authorise_admin(request)
        counts = await self.db(self.store.counts)
        return JSONResponse(
            {
                **counts,
                "faults": self.config.faults.snapshot()["injected"],
                "requests": dict(self.requests),
            }
        )

    async def admin_revoke_tokens(self, request: Request) -> Response:
        self.authorise_admin(request)
        # Tokens are stateless; refuse every token issued before now (the next second).
        self.tokens_not_before = time.time() + 0.001
        return JSONResponse({"notBefore": self.tokens_not_before})

    def count(self, name: str) -> None:
        self.requests[name] = self.requests.get(name, 0) + 1

    async def admin_deliveries(self, request: Request) -> Response:
        self.authorise_admin(request)
        body = await self.body_json(request)
        ulids = body.get("ulids") if isinstance(body, dict) else None
        if not isinstance(ulids, list) or not all(
            isinstance(u, str) and valid_text(u) for u in ulids
        ):
            raise bad_request('body must be {"ulids": [str, ...]}')
        found = await self.db(lambda: self.store.deliveries(ulids))
        return JSONResponse({"deliveries": found})

    async def health(self, request: Request) -> Response:
        return JSONResponse({"ok": True})


async def read_capped(request: Request, limit: int) -> bytes:
    """The request body, read as it streams in and refused (413) as soon as it passes ``limit``.

    ``request.body()`` would read a chunked body (no Content-Length) to its end, however large,
    before anything could check its size.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)  # unread rest: uvicorn closes the connection after answering
        chunks.append(chunk)
    return b"".join(chunks)


def _gunzip(raw: bytes, limit: int) -> bytes:
    dec = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = dec.decompress(raw, limit + 1)
    except zlib.error:
        raise bad_request("body is not valid gzip") from None
    if len(out) > limit or dec.unconsumed_tail:
        raise too_large(limit)
    return out


_QUOTED = re.compile(r"""['"]([^'"]+)['"]""")


def _items(value: Any) -> list[str]:
    """``items`` as a JSON list, or as the seed's string form ``"['a', 'b']"``."""
    if isinstance(value, list) and all(isinstance(v, str) and valid_text(v) for v in value):
        return [v.strip() for v in value]
    if isinstance(value, str) and valid_text(value):
        found = _QUOTED.findall(value)
        parts = found or value.strip("[] ").split(",")
        return [v.strip() for v in parts if v.strip()]
    raise bad_request('body must be {"items": [...]}')


def _parse_hour(value: str | None, name: str) -> datetime:
    if value is None:
        raise bad_request(f"{name} header is required")
    try:
        return datetime.strptime(value.strip(), SEARCH_TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise bad_request(f"{name} must be MM/DD/YYYY HH:MM:SS (UTC)") from None


def _derived(key: str, suffix: str) -> str:
    stem, dot, ext = key.rpartition(".")
    return f"{stem}_{suffix}.{ext}" if dot else f"{key}_{suffix}"


def create_app(config: CloudConfig) -> Starlette:
    cloud = Cloud(config)

    def route(route_path: str, fn: Callable[[Request], Any], methods: list[str]) -> Route:
        async def endpoint(request: Request) -> Response:
            try:
                response: Response = await fn(request)
            except ApiError as exc:
                response = _error(exc.status, exc.message)
            except ClientDisconnect:  # the client gave up (e.g. timed out on a "slow" fault)
                response = _error(400, "client disconnected")
            except Exception:
                # Last line of defence only: every known bad input is refused above with a 4xx.
                # Answering here (not re-raising) keeps the keep-alive connection open.
                log.exception("%s %s: unexpected error", request.method, route_path)
                response = _error(500, "Internal Server Error")
            cloud.count(f"{request.method} {route_path} {response.status_code}")
            return response

        return Route(route_path, endpoint, methods=methods)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        bridge_task: asyncio.Task[None] | None = None
        if config.mqtt_url is not None:
            from .mqtt import MqttBridge  # the only module importing aiomqtt

            bridge = MqttBridge(config.mqtt_url, cloud.orders, config.mqtt_client_id, cloud.count)
            cloud.orders.wake = bridge.wake
            app.state.mqtt = bridge
            bridge_task = asyncio.create_task(bridge.run(), name="standin-cloud-mqtt")
        try:
            yield
        finally:
            if bridge_task is not None:
                bridge_task.cancel()
                await asyncio.gather(bridge_task, return_exceptions=True)
            cloud.close()

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        text = {405: "Method not allowed", 404: "Not Found"}.get(exc.status_code, exc.detail)
        return _error(exc.status_code, text)

    async def server_error(request: Request, exc: Exception) -> Response:
        return _error(500, "Internal Server Error")

    search = "/events/devices/{devicesource}/events/search/time"
    routes = [
        route("/auth/token", cloud.token, ["POST"]),
        route("/events", cloud.post_events, ["POST"]),
        route("/events/files/upload", cloud.upload_urls, ["POST"]),
        route("/events/latest", cloud.latest, ["POST"]),
        route(search, cloud.search_time, ["GET"]),
        route("/events/files", cloud.files, ["POST"]),
        route("/s3/{bucket}/{key:path}", cloud.put_object, ["PUT"]),
        route("/s3/{bucket}/{key:path}", cloud.get_object, ["GET"]),
        route("/admin/faults", cloud.admin_faults, ["GET", "POST", "DELETE"]),
        route("/admin/stats", cloud.admin_stats, ["GET"]),
        route("/admin/deliveries", cloud.admin_deliveries, ["POST"]),
        route("/admin/revoke-tokens", cloud.admin_revoke_tokens, ["POST"]),
        route("/health", cloud.health, ["GET"]),
        *(route(p, fn, m) for p, fn, m in OrderApi(cloud, cloud.orders).routes()),
        *(route(p, fn, m) for p, fn, m in EtrackApi(cloud, cloud.orders).routes()),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(FaultMiddleware, plan=config.faults)],
        exception_handlers={HTTPException: http_error, Exception: server_error},
        lifespan=lifespan,
    )
    app.state.cloud = cloud
    return app
