"""The ad platforms an account can be on, one client each behind one interface (base.PlatformClient):
meta.py (Meta Marketing API), google.py (Google Ads API), and the demo's sandbox (a Meta-shaped Graph
API in process, graph.py, with the demo account of sandbox.py). A third platform is one more module
and one more branch of ``open_client``.

Every request goes through the guarded fetcher; the platforms' URLs are settings, so tests point them
at local fakes (which MEDIA_FETCH_ALLOW_PRIVATE lets through).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from functools import lru_cache

import httpx

from app.core.config import Settings
from app.core.guarded_fetch import GuardedFetcher
from app.platforms.base import Pace, PlatformClient
from app.platforms.google import GoogleAdsClient
from app.platforms.graph import MetaGraph
from app.platforms.meta import MetaClient
from app.platforms.sandbox import SANDBOX_URL, sandbox_graph

PLATFORM_TIMEOUT_SECONDS = 60.0
MAX_ANSWER_BYTES = 64 * 1024 * 1024


@lru_cache(maxsize=4)
def sandbox(value_per_conversion: Decimal) -> MetaGraph:
    """The process's sandbox platform (its report runs live as long as the process)."""
    return sandbox_graph(value_per_conversion)


async def _sandbox_address(host: str, port: int) -> list[str]:
    return ["127.0.0.1"]


@asynccontextmanager
async def open_client(
    *,
    platform: str,
    external_id: str,
    currency: str,
    is_sandbox: bool,
    credentials: dict[str, str],
    settings: Settings,
    pace: Pace,
) -> AsyncIterator[PlatformClient]:
    """A client for one account, with its own fetcher, closed on the way out."""
    if is_sandbox:
        graph = sandbox(Decimal(str(settings.demo_value_per_conversion)))
        fetcher = GuardedFetcher(
            allow_private=True,
            resolver=_sandbox_address,
            transport=httpx.ASGITransport(app=graph.app()),
            max_bytes=MAX_ANSWER_BYTES,
            timeout=PLATFORM_TIMEOUT_SECONDS,
            max_redirects=0,
        )
    else:
        fetcher = GuardedFetcher(
            allow_private=settings.media_fetch_allow_private,
            max_bytes=MAX_ANSWER_BYTES,
            timeout=PLATFORM_TIMEOUT_SECONDS,
            max_redirects=0,
            user_agent="autonomous-ops-sync",
        )
    try:
        client: PlatformClient
        if platform == "meta":
            client = MetaClient(
                fetcher,
                pace,
                graph_url=SANDBOX_URL if is_sandbox else settings.meta_graph_url,
                version=settings.meta_api_version,
                account_id=external_id,
                token="sandbox" if is_sandbox else credentials["access_token"],
                currency=currency,
                purchase_types=settings.purchase_types,
                async_rows=settings.meta_async_rows,
            )
        elif platform == "google":
            client = GoogleAdsClient(
                fetcher,
                pace,
                api_url=settings.google_ads_api_url,
                version=settings.google_ads_api_version,
                token_url=settings.google_oauth_token_url,
                account_id=external_id,
                refresh_token=credentials["refresh_token"],
                client_id=credentials["client_id"],
                client_secret=credentials["client_secret"],
                developer_token=credentials["developer_token"],
                login_customer_id=credentials.get("login_customer_id"),
            )
        else:
            raise ValueError(f"no platform client for {platform!r}")
        yield client
    finally:
        await fetcher.aclose()
