"""Command line: ``hub serve``, ``hub token``, ``hub plugins``, ``hub config-reference``."""

from __future__ import annotations

import argparse
import os
import sys

from hub import __version__
from hub.config import ConfigError, HubConfig, describe, load_config


def _load(args: argparse.Namespace) -> HubConfig:
    try:
        return load_config(args.config)
    except ConfigError as exc:
        print(f"hub: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_serve(args: argparse.Namespace) -> int:
    config = _load(args)
    if args.host:
        config.server.host = args.host
    if args.port is not None:
        config.server.port = args.port
    from hub.app import create_app
    from hub.logs import setup_logging
    from hub.server import serve_forever

    setup_logging(config.logging.level, config.logging.format)
    try:
        app = create_app(config)
    except ConfigError as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return 2
    for failure in app.hub.plugins.failures:
        print(f"hub: plugin {failure.name} failed to load: {failure.error}", file=sys.stderr)
    journal = (
        f"PostgreSQL journal, {config.cluster.bus} bus, node {app.hub.node_id}"
        if config.journal.backend == "postgresql"
        else f"journal {config.journal.path}"
    )
    print(
        f"hub {__version__} serving on http://{config.server.host}:{config.server.port} "
        f"({journal})",
        file=sys.stderr,
        flush=True,
    )
    serve_forever(app, config)
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    config = _load(args)
    from hub.auth import load_or_create_secret, mint_token, parse_ttl

    try:
        ttl = parse_ttl(args.ttl)
    except ValueError as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return 2
    if ttl <= 0 or ttl > config.auth.dev_token_max_ttl_s:
        print(
            f"hub: --ttl must be positive and at most {config.auth.dev_token_max_ttl_s:.0f}s",
            file=sys.stderr,
        )
        return 2
    secret = load_or_create_secret(config.auth)
    print(
        mint_token(
            secret,
            sub=args.sub,
            role=args.role,
            hospitals=args.hospital,
            patients=args.patient,
            ttl_s=ttl,
            config=config.auth,
        )
    )
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    config = _load(args)
    from hub.plugins import PluginHost

    host = PluginHost()
    host.load_entry_points(config.plugins.disabled)
    for info in host.list():
        version = f" {info.version}" if info.version else ""
        print(f"{info.name}{version} ({info.module}): {', '.join(info.hooks) or '-'}")
    for failure in host.failures:
        print(f"{failure.name}: FAILED {failure.error}")
    return 1 if host.failures else 0


def cmd_send(args: argparse.Namespace) -> int:
    import asyncio
    import ssl
    from pathlib import Path

    from adapters.hl7.client import MllpClient, split_messages
    from adapters.hl7.message import Hl7Error, parse

    context = None
    if args.tls:
        context = ssl.create_default_context(cafile=args.ca)
        if args.cert:
            context.load_cert_chain(args.cert, args.key)

    batches = [(path, split_messages(Path(path).read_bytes())) for path in args.files]

    async def run() -> int:
        worst = 0
        async with MllpClient(args.host, args.port, ssl=context) as client:
            for path, messages in batches:
                for message in messages:
                    reply = await client.send(message)
                    try:
                        ack = parse(reply)
                    except Hl7Error as exc:
                        print(f"{path}: unreadable reply: {exc.text}")
                        worst = 1
                        continue
                    code = ack.value("MSA", 1) or "?"
                    err = ack.segment("ERR")
                    detail = ack.value_of(err, 8) or ack.value("MSA", 3) or ""
                    ref = ack.value_of(err, 3, 1)
                    print(
                        f"{path}: {ack.value('MSA', 2)} {code}"
                        + (f" [{ref}] {detail}" if err is not None else "")
                    )
                    if code not in ("AA", "CA"):
                        worst = 1
        return worst

    try:
        return asyncio.run(run())
    except (OSError, ssl.SSLError, TimeoutError, ConnectionError) as exc:
        # refused, TLS handshake failed, or the hub closed on us (mutual TLS without a
        # certificate it trusts, an address not on the listener's allow-list)
        reason = str(exc) or type(exc).__name__
        print(f"hub send: {args.host}:{args.port}: {reason}", file=sys.stderr)
        return 2


def _operator(args: argparse.Namespace, sub: str, role: str) -> tuple[str, str]:
    """The hub's URL and a bearer token: given, or minted from the local secret (the CLI runs
    beside the hub it operates)."""
    config = _load(args)
    tok = args.token
    if not tok:
        from hub.auth import load_or_create_secret, mint_token

        tok = mint_token(
            load_or_create_secret(config.auth), sub=sub, role=role, ttl_s=300, config=config.auth
        )
    return args.url or f"http://{config.server.host}:{config.server.port}", tok


def cmd_alert(args: argparse.Namespace) -> int:
    import httpx

    url, tok = _operator(args, f"cli-alert:{args.by}", "admin")
    data = {"message": args.message, "raised_by": args.by}
    if args.unit:
        data["unit"] = args.unit
    try:
        r = httpx.post(
            f"{url}/api/events/hospital_alert",
            json={"hospital_id": args.hospital, "alert_type": args.type, "alert_data": data},
            headers={"Authorization": f"Bearer {tok}"},
            timeout=30,
        )
    except httpx.HTTPError as exc:
        print(f"hub alert: {url}: {exc}", file=sys.stderr)
        return 2
    body = r.json()
    if r.status_code != 202:
        print(
            f"hub alert: {r.status_code} {body.get('error')}: {body.get('detail')}", file=sys.stderr
        )
        return 1
    print(f"{args.type} alert for hospital {args.hospital}: id {body['id']} seq {body['seq']}")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    import asyncio

    config = _load(args)
    dsn = args.dsn or config.journal.dsn
    if not dsn:
        print("hub db upgrade: no PostgreSQL DSN (--dsn or HUB_JOURNAL__DSN)", file=sys.stderr)
        return 2
    try:
        from hub.journal.pg_schema import upgrade
    except ImportError as exc:
        print(f"hub db upgrade: needs the postgres extra ({exc})", file=sys.stderr)
        return 2
    try:
        applied = asyncio.run(upgrade(dsn))
    except Exception as exc:
        print(f"hub db upgrade: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if applied:
        print("applied migrations: " + ", ".join(str(v) for v in applied))
    else:
        print("schema is up to date")
    return 0


def cmd_reprocess(args: argparse.Namespace) -> int:
    import httpx

    url, tok = _operator(args, "cli-reprocess", "admin")
    status = 0
    for input_id in args.ids:
        r = httpx.post(
            f"{url}/api/inbound/{input_id}/reprocess",
            headers={"Authorization": f"Bearer {tok}"},
            timeout=60,
        )
        body = r.json()
        if r.status_code != 200:
            print(f"{input_id}: {body.get('error')}: {body.get('detail')}")
            status = 1
        else:
            print(
                f"{input_id}: {body['status']}" + (f" ({body['error']})" if body["error"] else "")
            )
            status = status or (0 if body["status"] == "processed" else 1)
    return status


def cmd_config_reference(args: argparse.Namespace) -> int:
    for key, default, description in describe():
        print(f"{key} = {default}\n    {description}")
    return 0


def cmd_reference(args: argparse.Namespace) -> int:
    if args.what == "schemas":
        import json

        from hub.events import EVENT_TYPES, json_schema

        # One document, {type: schema}, in the hub's order: web/client generates its types
        # from it, and a stable order keeps the generated file free of spurious diffs.
        print(json.dumps({t: json_schema(t) for t in EVENT_TYPES}, indent=2))
        return 0
    from hub.reference import config_markdown, events_markdown

    print(events_markdown() if args.what == "events" else config_markdown(), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hub", description="Clinical integration hub")
    parser.add_argument("--version", action="version", version=f"hub {__version__}")
    sub = parser.add_subparsers(dest="command")

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", help="TOML file (default config/hub.toml, or $HUB_CONFIG)")
        return p

    serve = with_config(sub.add_parser("serve", help="run the hub"))
    serve.add_argument("--host", help="override server.host")
    serve.add_argument("--port", type=int, help="override server.port")
    serve.set_defaults(func=cmd_serve)

    token = with_config(sub.add_parser("token", help="mint a development token (HS256)"))
    token.add_argument("--sub", required=True, help="user or service id")
    token.add_argument(
        "--role", required=True, help="role: nurse, doctor, clinician, triage, admin, service, ..."
    )
    token.add_argument("--hospital", action="append", default=[], help="hospital id (repeat)")
    token.add_argument("--patient", action="append", default=[], help="patient id (repeat)")
    token.add_argument("--ttl", default="8h", help="lifetime, e.g. 8h, 30m (default 8h)")
    token.set_defaults(func=cmd_token)

    plugins = with_config(sub.add_parser("plugins", help="list loaded plugins and their hooks"))
    plugins.set_defaults(func=cmd_plugins)

    send = sub.add_parser("send", help="send HL7 v2 files over MLLP and print each ACK")
    send.add_argument("files", nargs="+", help="files of one or more HL7 messages")
    send.add_argument("--host", default="127.0.0.1")
    send.add_argument("--port", type=int, default=2575)
    send.add_argument("--tls", action="store_true", help="connect with TLS")
    send.add_argument("--ca", help="CA bundle to verify the hub's certificate")
    send.add_argument("--cert", help="client certificate (mutual TLS)")
    send.add_argument("--key", help="client key (mutual TLS)")
    send.set_defaults(func=cmd_send)

    rep = with_config(sub.add_parser("reprocess", help="run kept inbound messages again"))
    rep.add_argument("ids", nargs="+", type=int, help="inbound message ids (GET /api/inbound)")
    rep.add_argument("--url", help="hub URL (default: server.host/port from the config)")
    rep.add_argument("--token", help="admin token (default: minted from the local secret)")
    rep.set_defaults(func=cmd_reprocess)

    db = sub.add_parser("db", help="the PostgreSQL journal's schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    upgrade = with_config(db_sub.add_parser("upgrade", help="create or upgrade the schema"))
    upgrade.add_argument("--dsn", help="PostgreSQL DSN (default: journal.dsn)")
    upgrade.set_defaults(func=cmd_db_upgrade)

    alert = with_config(sub.add_parser("alert", help="raise a hospital alert (operators)"))
    alert.add_argument("hospital", help="hospital id: the alert goes to room hospital_<id>")
    alert.add_argument("message", help="what clinicians should read (no patient names)")
    alert.add_argument(
        "--type", default="emergency", choices=("emergency", "capacity", "system"), help="class"
    )
    alert.add_argument("--unit", help="unit or ward concerned")
    alert.add_argument("--by", default=os.environ.get("USER", "operator"), help="who raised it")
    alert.add_argument("--url", help="hub URL (default: server.host/port from the config)")
    alert.add_argument("--token", help="admin token (default: minted from the local secret)")
    alert.set_defaults(func=cmd_alert)

    ref = sub.add_parser("config-reference", help="print every config key with default and help")
    ref.set_defaults(func=cmd_config_reference)

    docs = sub.add_parser(
        "reference", help="print generated reference docs (Markdown) or the event JSON Schemas"
    )
    docs.add_argument("what", choices=["events", "config", "schemas"])
    docs.set_defaults(func=cmd_reference)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        # `python -m hub` with no command runs the hub, as the quick start expects.
        args = parser.parse_args(["serve", *(argv or sys.argv[1:])])
    return int(args.func(args))
