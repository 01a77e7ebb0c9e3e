"""Command line: ``autonomous-ops serve|migrate|cycle|worker|demo|token``.

Exit codes of ``cycle``: 0 succeeded, 1 failed, 3 skipped (another cycle is running).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from app.core.config import Settings, get_settings
from app.core.logging import configure_logging


def _serve(_: argparse.Namespace) -> int:
    import uvicorn

    from app.main import announce_dashboard, create_app

    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    if settings.app_env == "development":
        announce_dashboard(settings)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        proxy_headers=False,
    )
    return 0


def _migrate(_: argparse.Namespace) -> int:
    from app.db import embedded
    from app.db import migrations as db_migrations

    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    url = embedded.resolve_database_url(settings.database_url, settings.data_dir)
    try:
        db_migrations.upgrade(url)
    finally:
        if settings.embedded:
            embedded.stop()
    logging.getLogger(__name__).info(
        "database at migrations head", extra={"head": db_migrations.head_revision()}
    )
    return 0


def _on_one_connection(work: Callable[[Any, Settings], Awaitable[Any]]) -> Any:
    """Run ``work(conn, settings)`` over one plain connection (as psql would) to DATABASE_URL or the
    embedded database, migrated first; the embedded server is stopped afterwards."""
    import asyncio

    import asyncpg

    from app.db import embedded
    from app.db import migrations as db_migrations
    from app.db.pool import _init_connection

    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    url = embedded.resolve_database_url(settings.database_url, settings.data_dir)

    async def once() -> Any:
        conn = await asyncpg.connect(url)
        try:
            await _init_connection(conn)
            return await work(conn, settings)
        finally:
            await conn.close()

    try:
        if settings.embedded:
            db_migrations.upgrade(url)
        return asyncio.run(once())
    finally:
        if settings.embedded:
            embedded.stop()


def _cycle(args: argparse.Namespace) -> int:
    """Run one cycle over a plain connection, as psql would (trigger ``cli``); print the summary."""
    import json

    from app.services.cycles import run_cycle

    async def work(conn: Any, _: Settings) -> dict[str, Any]:
        async with conn.transaction():
            return await run_cycle(conn, dry_run=args.dry_run, trigger="cli", actor=None)

    summary = _on_one_connection(work)
    print(json.dumps(summary, indent=2, default=str))
    return {"succeeded": 0, "skipped": 3}.get(str(summary["status"]), 1)


def _worker(args: argparse.Namespace) -> int:
    """The background worker (the post dispatcher): run as many as you like beside the API replicas."""
    import uvloop

    from app.db import embedded
    from app.services.worker import run_worker

    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    url = embedded.resolve_database_url(settings.database_url, settings.data_dir)
    try:
        uvloop.run(run_worker(url, settings, once=args.once, batch=args.batch))
    finally:
        if settings.embedded:
            embedded.stop()
    return 0


def _demo(_: argparse.Namespace) -> int:
    """Load the demo campaigns (Kaggle KAG Facebook ads) into DATABASE_URL or the embedded database."""
    import json

    from app.services import demo

    async def work(conn: Any, settings: Settings) -> dict[str, int]:
        return await demo.load(conn, settings.demo_value_per_conversion)

    print(json.dumps(_on_one_connection(work)))
    return 0


def _token(args: argparse.Namespace) -> int:
    from app.core.security import mint_token

    settings = get_settings()
    kind: Literal["admin", "service"] = "admin" if args.admin else "service"
    print(mint_token(settings.jwt_key(), settings.jwt_audience, kind, args.ttl, args.subject))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autonomous-ops", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the HTTP service").set_defaults(func=_serve)
    sub.add_parser("migrate", help="apply pending migrations").set_defaults(func=_migrate)
    cycle = sub.add_parser("cycle", help="run one cycle now and print its summary")
    cycle.add_argument(
        "--dry-run", action="store_true", help="show what it would do, change nothing"
    )
    cycle.set_defaults(func=_cycle)
    for name, text in (
        ("worker", "run the background worker: publish due social posts (--once for one pass)"),
        ("dispatch", "the same as worker (its former name)"),
    ):
        worker = sub.add_parser(name, help=text)
        worker.add_argument("--once", action="store_true", help="one pass, then exit")
        worker.add_argument(
            "--batch", type=int, default=50, help="deliveries claimed per pass (default 50)"
        )
        worker.set_defaults(func=_worker)
    sub.add_parser("demo", help="load the demo campaigns from the Kaggle KAG dataset").set_defaults(
        func=_demo
    )
    token = sub.add_parser("token", help="mint a bearer token for an operator")
    kind = token.add_mutually_exclusive_group(required=True)
    kind.add_argument("--admin", action="store_true", help="an admin (app_metadata.role=admin)")
    kind.add_argument("--service", action="store_true", help="a machine caller (service_role)")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default 3600)")
    token.add_argument("--subject", help="the sub claim (default: a random id)")
    token.set_defaults(func=_token)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ValueError as exc:  # settings refused (e.g. weak secrets in production)
        print(f"autonomous-ops: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
