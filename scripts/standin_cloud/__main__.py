"""``scripts/cloud``: run the stand-in V3 cloud in the foreground (see docs/cloud.md)."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
import tomllib
from pathlib import Path

from agent.errors import ConfigError
from agent.orders.model import load_order_key

from .app import ClientBinding, CloudConfig
from .etrack import EtrackAccount
from .faults import FaultPlan, parse_rule
from .mqtt import parse_url
from .server import bind, make_server, scheme

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CREDENTIALS = REPO / "config" / "cloud-demo.toml"


def load_credentials(path: Path) -> tuple[dict[str, str], dict[str, ClientBinding]]:
    """``[[clients]] clientId = ..., clientSecret = ...`` entries of a TOML file, each with an
    optional ``deviceSource`` and ``accountulid`` its tokens are bound to."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    clients: dict[str, str] = {}
    bindings: dict[str, ClientBinding] = {}
    for entry in data.get("clients", []):
        cid, secret = entry.get("clientId"), entry.get("clientSecret")
        if not isinstance(cid, str) or not isinstance(secret, str) or not cid or not secret:
            raise ValueError(f"{path}: each [[clients]] needs clientId and clientSecret strings")
        clients[cid] = secret
        device, account = entry.get("deviceSource"), entry.get("accountulid")
        for name, value in (("deviceSource", device), ("accountulid", account)):
            if value is not None and (not isinstance(value, str) or not value):
                raise ValueError(f"{path}: {cid}: {name} must be a non-empty string")
        if device is not None or account is not None:
            bindings[cid] = ClientBinding(device, account)
    if not clients:
        raise ValueError(f"{path}: no [[clients]] defined")
    return clients, bindings


def load_etrack_accounts(path: Path) -> dict[str, EtrackAccount]:
    """``[[etrack]] account = ..., password = ...`` entries (etrack's open API, seed 004), each
    with an optional ``imeis = [...]`` it may command (default: every device)."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    out: dict[str, EtrackAccount] = {}
    entries = data.get("etrack", [])
    if not isinstance(entries, list):
        raise ValueError(f"{path}: etrack must be a list of [[etrack]] tables")
    for entry in entries:
        name, password = entry.get("account"), entry.get("password")
        if not isinstance(name, str) or not isinstance(password, str) or not name or not password:
            raise ValueError(f"{path}: each [[etrack]] needs account and password strings")
        imeis = entry.get("imeis")
        if imeis is not None and (
            not isinstance(imeis, list) or not all(isinstance(i, str) and i for i in imeis)
        ):
            raise ValueError(f"{path}: etrack {name}: imeis must be a list of strings")
        if name in out:
            raise ValueError(f"{path}: etrack account {name} defined twice")
        out[name] = EtrackAccount(name, password, None if imeis is None else frozenset(imeis))
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scripts/cloud", description=__doc__)
    p.add_argument("--host", default="127.0.0.1", help="bind address (default loopback)")
    p.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    p.add_argument("--data", type=Path, required=True, help="data dir (SQLite + objects + key)")
    p.add_argument("--credentials", type=Path, default=DEFAULT_CREDENTIALS, help="clients TOML")
    p.add_argument("--token-ttl", type=int, default=3600, help="access token lifetime, s")
    p.add_argument("--url-ttl", type=int, default=900, help="pre-signed URL lifetime, s")
    p.add_argument(
        "--allow-missing-files",
        action="store_true",
        help="accept events whose files[] were not uploaded (default: refuse them in NotProcess)",
    )
    p.add_argument(
        "--require-read-auth",
        action="store_true",
        help="read API needs a token too (default: served without one, as the seed's curls are)",
    )
    p.add_argument("--public-url", default=None, help="base of file URLs (default: request's)")
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help="inject a fault, e.g. kind=500,count=3 or kind=429,count=2,retry_after=1,path=/events",
    )
    p.add_argument("--tls-cert", type=Path, default=None, help="serve HTTPS: PEM cert (chain)")
    p.add_argument("--tls-key", type=Path, default=None, help="serve HTTPS: PEM private key")
    p.add_argument(
        "--admin-token",
        default=None,
        help="credential of /admin/* (header X-Admin-Token); default: a random one, printed",
    )
    p.add_argument(
        "--mqtt",
        default=None,
        metavar="URL",
        help="publish orders through this broker, mqtt://HOST[:PORT] or mqtts://HOST[:PORT]"
        " (default: none; orders are stored and stay PENDING)",
    )
    p.add_argument(
        "--mqtt-client-id",
        default=None,
        help="the cloud's MQTT client id (default: standin-cloud-<hash of --data>)",
    )
    p.add_argument(
        "--order-key",
        type=Path,
        default=None,
        metavar="FILE",
        help="sign orders: HMAC-SHA256 key file (hex, mode 0600), as the device's order_key_file",
    )
    p.add_argument(
        "--etrack-command-ttl",
        type=float,
        default=3600.0,
        metavar="S",
        help="etrack commands expire after S seconds if not carried out (0: never; default 3600)",
    )
    p.add_argument("--print-client", action="store_true", help="print 'client: <id> <secret>'")
    p.add_argument("--access-log", action="store_true", help="log every request")
    return p


async def serve(args: argparse.Namespace) -> int:
    plan = FaultPlan()
    for spec in args.fault:
        plan.add(parse_rule(spec))
    clients, bindings = load_credentials(args.credentials)
    etrack = load_etrack_accounts(args.credentials)
    if not 0 <= args.etrack_command_ttl <= 30 * 86400:
        raise ValueError("--etrack-command-ttl must be 0..2592000 s")
    order_key = None
    if args.order_key is not None:
        try:
            order_key = load_order_key(args.order_key)
        except ConfigError as exc:
            why = str(exc).replace("orders.order_key_file", "--order-key")
            raise ValueError(why.replace("by the agent", "by the cloud")) from None
    if args.mqtt is not None:
        parse_url(args.mqtt)  # a bad URL stops start-up, with why
    data_id = hashlib.sha256(str(args.data.resolve()).encode()).hexdigest()[:8]
    config = CloudConfig(
        data_dir=args.data,
        clients=clients,
        bindings=bindings,
        token_ttl_s=args.token_ttl,
        url_ttl_s=args.url_ttl,
        require_files=not args.allow_missing_files,
        require_read_auth=args.require_read_auth,
        public_url=args.public_url,
        faults=plan,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        mqtt_url=args.mqtt,
        mqtt_client_id=args.mqtt_client_id or f"standin-cloud-{data_id}",
        order_key=order_key,
        etrack_accounts=etrack,
        etrack_command_ttl_s=args.etrack_command_ttl or None,
    )
    if args.admin_token is not None:
        if len(args.admin_token) < 16:
            raise ValueError("--admin-token must be at least 16 characters")
        config.admin_token = args.admin_token
    server = make_server(config, access_log=args.access_log)  # checks the TLS pair first
    sock = bind(args.host, args.port)
    host, port = sock.getsockname()[:2]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():  # noqa: ASYNC110 (uvicorn has no event)
        await asyncio.sleep(0.01)
    if server.started:
        print(f"cloud: {scheme(config)}://{host}:{port}", flush=True)
        if args.admin_token is None:  # generated: the operator has no other way to learn it
            print(f"admin: {config.admin_token}", flush=True)
        if args.print_client:
            cid, secret = next(iter(clients.items()))
            print(f"client: {cid} {secret}", flush=True)
    await task
    return 0 if server.started else 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return asyncio.run(serve(args))
    except (OSError, ValueError) as exc:
        print(f"cloud: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
