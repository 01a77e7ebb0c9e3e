"""The FastAPI application: lifespan (database, migrations, pool), middleware and routers."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import asyncpg
from fastapi import FastAPI

from app.api.openapi import install_openapi
from app.api.routes import (
    actions,
    ad_accounts,
    admin,
    approvals,
    backtests,
    campaigns,
    cycles,
    health,
    imports,
    ingestion,
    media,
    opportunities,
    platform_changes,
    prometheus,
    rules,
    schedules,
    social_accounts,
    stats,
    webhooks,
)
from app.api.routes import settings as settings_routes
from app.background import Background
from app.core.config import Settings, get_settings
from app.core.crypto import TokenCipher
from app.core.errors import constraint_messages, install_error_handlers
from app.core.guarded_fetch import GuardedFetcher
from app.core.logging import configure_logging
from app.core.observability import BodyLimitMiddleware, ObservabilityMiddleware, RequestMetrics
from app.core.security import mint_token
from app.db import embedded, queries
from app.db import migrations as db_migrations
from app.db.pool import create_pool
from app.services import demo
from app.services.images import CampaignImages

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = await asyncio.to_thread(
            embedded.resolve_database_url, settings.database_url, settings.data_dir
        )
        if settings.migrate_on_start:
            await asyncio.to_thread(db_migrations.upgrade, url)
        app.state.pool = await create_pool(
            url,
            settings.db_pool_min_size,
            settings.db_pool_max_size,
            connect_timeout=settings.db_acquire_timeout_seconds,
        )
        async with app.state.pool.acquire() as conn:
            app.state.constraint_messages = constraint_messages(
                await conn.fetch(queries.CONSTRAINT_MESSAGES)
            )
            await conn.execute(queries.MANUAL_ACCOUNT_CURRENCY, settings.manual_account_currency)
        if settings.load_demo_data:
            await load_demo_if_empty(app.state.pool, settings)
            async with app.state.pool.acquire() as conn:
                await demo.connect_sandbox(conn)
        # The background loops (app/background/), the same list a worker runs.
        stop_background = asyncio.Event()
        background = (
            Background(app.state.pool, url, settings, app.state.cipher)
            if settings.scheduler_enabled
            else None
        )
        app.state.background = background
        background_task = (
            asyncio.create_task(background.run(stop_background)) if background else None
        )
        fetcher = GuardedFetcher(allow_private=settings.media_fetch_allow_private)
        app.state.fetcher = fetcher
        app.state.images = CampaignImages(fetcher)
        log.info(
            "service ready",
            extra={"embedded": settings.embedded, "migrations_head": app.state.migration_head},
        )
        try:
            yield
        finally:
            if background_task is not None:
                stop_background.set()
                try:
                    await asyncio.wait_for(background_task, 15)
                except (TimeoutError, Exception):
                    log.warning("background loops did not stop cleanly")
            await fetcher.aclose()
            await app.state.pool.close()
            if settings.embedded:
                await asyncio.to_thread(embedded.stop)

    app = FastAPI(
        title="Autonomous Ops",
        version="0.1.0",
        summary="Runs paid ad campaigns on its own, with an audit trail and rollback.",
        lifespan=lifespan,
        generate_unique_id_function=lambda route: route.name,
    )
    app.state.settings = settings
    app.state.jwt_key = settings.jwt_key()
    app.state.cipher = TokenCipher(settings.encryption_key())
    app.state.migration_head = db_migrations.head_revision()
    app.state.function_files = db_migrations.function_files()
    app.state.request_metrics = RequestMetrics()
    install_error_handlers(app)
    install_openapi(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(ObservabilityMiddleware, metrics=app.state.request_metrics)
    app.include_router(health.router)
    app.include_router(prometheus.router)
    app.include_router(campaigns.router)
    app.include_router(ingestion.router)
    app.include_router(cycles.router)
    app.include_router(stats.router)
    app.include_router(actions.router)
    app.include_router(opportunities.router)
    app.include_router(rules.router)
    app.include_router(social_accounts.router)
    app.include_router(ad_accounts.router)
    app.include_router(platform_changes.router)
    app.include_router(approvals.router)
    app.include_router(schedules.router)
    app.include_router(media.router)
    app.include_router(admin.router)
    app.include_router(settings_routes.router)
    app.include_router(webhooks.router)
    app.include_router(imports.router)
    app.include_router(backtests.router)
    return app


async def load_demo_if_empty(pool: asyncpg.Pool, settings: Settings) -> None:
    """DEMO_DATA: an empty embedded database gets the demo campaigns at first start."""
    async with pool.acquire() as conn:
        if await conn.fetchval(queries.CAMPAIGNS_EXIST):
            return
        loaded = await demo.load(conn, settings.demo_value_per_conversion)
        # a backtest of the active rules over the demo's history, so that the Backtests tab has a
        # real result from the start (the runner takes it as soon as the service runs)
        await conn.fetchval(
            queries.BACKTEST_CREATE,
            datetime.now(UTC) - timedelta(days=15),
            datetime.now(UTC),
            "day",
            '"active"',
            "{}",
        )
    log.info("demo data loaded", extra=loaded)


def announce_dashboard(settings: Settings) -> None:
    """In development, a ready-to-open dashboard link with a short-lived admin token."""
    token = mint_token(settings.jwt_key(), settings.jwt_audience, "admin", ttl_seconds=8 * 3600)
    print(f"\n  Dashboard: {settings.base_url}/admin#token={token}\n", file=sys.stderr, flush=True)


def app_factory() -> FastAPI:
    """Entry point for ``uvicorn --factory app.main:app_factory``."""
    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    return create_app(settings)
