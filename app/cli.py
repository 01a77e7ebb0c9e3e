"""Command line: ``autonomous-ops serve|migrate|cycle|worker|sync|import|backtest|demo|token``.

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
    """The background loops (the cron, the post dispatcher, the trigger listener, the webhook sender,
    the backtest runner): run as many workers as you like beside the API replicas."""
    import uvloop

    from app.background.worker import run_worker
    from app.db import embedded

    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    url = embedded.resolve_database_url(settings.database_url, settings.data_dir)
    try:
        uvloop.run(run_worker(url, settings, once=args.once, batch=args.batch))
    finally:
        if settings.embedded:
            embedded.stop()
    return 0


def _sync(args: argparse.Namespace) -> int:
    """Sync ad accounts from their platforms: one account now (``--account``), every due one once
    (``--once``), or every account as it comes due until stopped. Prints each sync as JSON; exit 1
    when one failed."""
    import asyncio
    import json
    import uuid

    from app.core.claims import SYNC
    from app.core.crypto import TokenCipher
    from app.db import queries
    from app.db.pool import claims_transaction, create_pool
    from app.services.sync import sync_due, sync_once, worker_name

    account = uuid.UUID(args.account) if args.account else None
    failed = False

    def report(synced: dict[str, Any]) -> None:
        nonlocal failed
        failed = failed or synced.get("status") != "succeeded"
        print(json.dumps(synced, default=str), flush=True)

    async def work(_conn: Any, settings: Settings) -> None:
        cipher = TokenCipher(settings.encryption_key())
        pool = await create_pool(_conn_url(settings), 1, 2)
        worker = worker_name()
        try:
            if account is not None:
                async with claims_transaction(pool, SYNC) as conn:
                    await conn.fetchrow(queries.AD_ACCOUNT_SYNC_REQUEST, account, "cli", "cli")
                synced = await sync_once(pool, settings, cipher, worker=worker, account_id=account)
                if synced is not None:
                    report(synced)
                return
            while True:
                await sync_due(pool, settings, cipher, worker=worker, report=report)
                if args.once:
                    return
                await asyncio.sleep(60)
        finally:
            await pool.close()

    _on_one_connection(work)
    return 1 if failed else 0


def _conn_url(settings: Settings) -> str:
    from app.db import embedded

    return embedded.resolve_database_url(settings.database_url, settings.data_dir)


def _bar(label: str, done: int, total: int) -> None:
    """A progress bar on standard error (the report itself goes to standard output)."""
    width = 30
    filled = int(width * done / total) if total else width
    end = "\n" if done >= total else ""
    print(
        f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,}",
        end=end,
        file=sys.stderr,
        flush=True,
    )


def _import(args: argparse.Namespace) -> int:
    """Import a Meta Ads Manager or Google Ads daily campaign export (or the generic columns)."""
    import json
    from pathlib import Path

    from app.services.imports import ImportRefused, import_report

    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        print(f"autonomous-ops import: {exc.strerror}: {args.file}", file=sys.stderr)
        return 2

    async def work(conn: Any, _: Settings) -> dict[str, Any]:
        async with conn.transaction():  # all or nothing
            report = await import_report(
                conn, data, args.format, progress=lambda d, t: _bar("importing", d, t)
            )
        return report.model_dump(mode="json")

    try:
        print(json.dumps(_on_one_connection(work), indent=2))
    except ImportRefused as exc:
        print(f"autonomous-ops import: nothing imported: {exc}", file=sys.stderr)
        return 1
    return 0


def _backtest(args: argparse.Namespace) -> int:
    """Replay the rules over the history and print what they would have done and saved."""
    import json
    from datetime import UTC, datetime
    from pathlib import Path

    import asyncpg

    from app.background.backtests import progress_of
    from app.db import queries

    def moment(text: str) -> datetime:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    rules: Any = "active"
    if args.rules and args.rules != "active":
        rules = (
            json.loads(Path(args.rules[1:]).read_text())
            if args.rules.startswith("@")
            else [r.strip() for r in args.rules.split(",") if r.strip()]
        )

    async def work(conn: Any, _: Settings) -> dict[str, Any]:
        def on_notice(_c: Any, message: Any) -> None:
            step = progress_of(message)
            if step:
                _bar("replaying", *step)

        conn.add_log_listener(on_notice)
        async with conn.transaction():
            result: dict[str, Any] = await conn.fetchval(
                queries.BACKTEST_RUN,
                moment(args.from_),
                moment(args.to),
                args.step,
                json.dumps(rules),
                args.settings or "{}",
            )
        return result

    try:
        result = _on_one_connection(work)
    except asyncpg.PostgresError as exc:
        print(f"autonomous-ops backtest: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return 0
    print(
        f"backtest {result['backtest_id']}: {result['from']} → {result['to']}, {result['steps']} steps"
    )
    print(
        f"{'rule':<32} {'pauses':>7} {'scales':>7} {'saved':>14} {'added (est.)':>14} {'regrets':>8}"
    )
    for r in result["rules"]:
        print(
            f"{r['name'][:32]:<32} {r['pauses']:>7} {r['scales']:>7} {float(r['saved']):>14,.2f}"
            f" {float(r['added_profit_estimate']):>14,.2f} {r['regrets']:>8}"
        )
    t = result["totals"]
    print(
        f"{'total':<32} {t['pauses']:>7} {t['scales']:>7} {float(t['saved']):>14,.2f}"
        f" {float(t['added_profit_estimate']):>14,.2f} {t['regrets']:>8}"
    )
    print(result["estimate_note"])
    if t.get("scaled_without_max_budget"):
        print(
            f"{t['scaled_without_max_budget']} campaigns were scaled without a max_budget: the engine "
            "would keep raising their budgets; give them one"
        )
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
    kind: Literal["admin", "service", "scoped"] = (
        "admin" if args.admin else "scoped" if args.accounts else "service"
    )
    accounts = [a.strip() for a in (args.accounts or "").split(",") if a.strip()] or None
    print(
        mint_token(
            settings.jwt_key(), settings.jwt_audience, kind, args.ttl, args.subject, accounts
        )
    )
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
        (
            "worker",
            "run the background loops: the cron, posts, trigger rules, webhooks, backtests, syncs",
        ),
        ("dispatch", "the same as worker (its former name)"),
    ):
        worker = sub.add_parser(name, help=text)
        worker.add_argument(
            "--once", action="store_true", help="one pass of each loop but the cron, then exit"
        )
        worker.add_argument(
            "--batch", type=int, default=50, help="social posts claimed per pass (default 50)"
        )
        worker.set_defaults(func=_worker)
    sync = sub.add_parser(
        "sync", help="sync ad accounts from Meta and Google Ads (campaigns, insights)"
    )
    sync.add_argument("--account", help="sync this account (its id) now, then exit")
    sync.add_argument("--once", action="store_true", help="sync every due account once, then exit")
    sync.set_defaults(func=_sync)
    imp = sub.add_parser("import", help="import a Meta Ads Manager or Google Ads daily export")
    imp.add_argument("file", help="the CSV file")
    imp.add_argument(
        "--format",
        choices=["auto", "meta", "google", "generic"],
        default="auto",
        help="the export's shape (default: told from its columns)",
    )
    imp.set_defaults(func=_import)
    bt = sub.add_parser("backtest", help="replay the rules over the history; print what they save")
    bt.add_argument("--from", dest="from_", required=True, help="start, e.g. 2026-09-01")
    bt.add_argument("--to", required=True, help="end, e.g. 2026-11-30 (at most 400 days later)")
    bt.add_argument("--step", choices=["day", "hour"], default="day")
    bt.add_argument(
        "--rules",
        default="active",
        help="active (default), comma-separated rule ids, or @file.json with ids and rule bodies",
    )
    bt.add_argument("--settings", help="setting overrides as JSON, e.g. '{\"min_spend\": 100}'")
    bt.add_argument("--json", action="store_true", help="print the whole result as JSON")
    bt.set_defaults(func=_backtest)
    sub.add_parser("demo", help="load the demo campaigns from the Kaggle KAG dataset").set_defaults(
        func=_demo
    )
    token = sub.add_parser("token", help="mint a bearer token for an operator")
    kind = token.add_mutually_exclusive_group(required=True)
    kind.add_argument("--admin", action="store_true", help="an admin (app_metadata.role=admin)")
    kind.add_argument("--service", action="store_true", help="a machine caller (service_role)")
    kind.add_argument(
        "--accounts",
        metavar="ID,ID",
        help="a client's token: these ad accounts only (app_metadata.accounts)",
    )
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
