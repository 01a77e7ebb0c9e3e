"""The optimized JPEG Instagram fetches: JPEG only, aspect ratio within 4:5 … 1.91:1, width ≤ 1440.

The campaign image is fetched through the guarded fetcher (no internal address is ever reached) and
the optimized result is cached per (campaign, image URL): a changed URL is fetched afresh, and a
failure is remembered briefly so that the public endpoint cannot be used to hammer a host.
"""

from __future__ import annotations

import asyncio
import io
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass

from PIL import Image

from app.core.guarded_fetch import FetchRefused, GuardedFetcher

MIN_RATIO = 4 / 5
MAX_RATIO = 1.91
MAX_WIDTH = 1440
MAX_PIXELS = 50_000_000  # a decompression bomb is refused before it is decoded

CANNOT_FETCH = "the image could not be fetched"
CANNOT_READ = "the image cannot be read"


class ImageUnavailable(Exception):
    """The campaign's image could not be fetched or read; the message is safe to show."""


async def fetch_image(fetcher: GuardedFetcher, url: str) -> bytes:
    """Download the source image through the guarded fetcher."""
    try:
        fetched = await fetcher.fetch(url, what="the image")
    except FetchRefused:
        raise ImageUnavailable(CANNOT_FETCH) from None
    if fetched.status_code != 200:
        raise ImageUnavailable(CANNOT_FETCH)
    return fetched.content


def optimize_for_instagram(source: bytes) -> bytes:
    """Center-crop into the allowed aspect ratios, shrink to 1440 px wide at most, encode as JPEG."""
    try:
        opened = Image.open(io.BytesIO(source))
        if opened.width * opened.height > MAX_PIXELS:
            raise ImageUnavailable(CANNOT_READ)
        opened.load()
    except ImageUnavailable:
        raise
    except Exception:  # Pillow raises many kinds for a bad file
        raise ImageUnavailable(CANNOT_READ) from None
    image: Image.Image = opened.convert("RGB")
    width, height = image.size
    ratio = width / height
    if ratio > MAX_RATIO:  # too wide: trim the sides
        new_width = int(height * MAX_RATIO)
        left = (width - new_width) // 2
        image = image.crop((left, 0, left + new_width, height))
    elif ratio < MIN_RATIO:  # too tall: trim top and bottom
        new_height = int(width / MIN_RATIO)
        top = (height - new_height) // 2
        image = image.crop((0, top, width, top + new_height))
    if image.width > MAX_WIDTH:
        image = image.resize(
            (MAX_WIDTH, round(image.height * MAX_WIDTH / image.width)), Image.Resampling.LANCZOS
        )
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


@dataclass
class _Entry:
    jpeg: bytes | None  # None: the last attempt failed
    error: str | None
    expires: float


class CampaignImages:
    """Optimized campaign images, cached per (campaign, image URL) and fetched once at a time."""

    def __init__(
        self,
        fetcher: GuardedFetcher,
        *,
        max_bytes: int = 64 * 1024 * 1024,
        ttl_seconds: float = 3600.0,
        failure_ttl_seconds: float = 60.0,
    ) -> None:
        self._fetcher = fetcher
        self._max_bytes = max_bytes
        self._ttl = ttl_seconds
        self._failure_ttl = failure_ttl_seconds
        self._entries: OrderedDict[tuple[uuid.UUID, str], _Entry] = OrderedDict()
        self._size = 0
        self._inflight: dict[tuple[uuid.UUID, str], asyncio.Future[bytes]] = {}

    async def jpeg(self, campaign_id: uuid.UUID, image_url: str) -> bytes:
        key = (campaign_id, image_url)
        entry = self._entries.get(key)
        if entry is not None and entry.expires > time.monotonic():
            self._entries.move_to_end(key)
            if entry.jpeg is None:
                raise ImageUnavailable(entry.error or CANNOT_FETCH)
            return entry.jpeg
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            jpeg = await self._make(image_url)
        except ImageUnavailable as exc:
            self._store(key, _Entry(None, str(exc), time.monotonic() + self._failure_ttl))
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waits
            raise
        except BaseException:
            future.cancel()
            raise
        finally:
            self._inflight.pop(key, None)
        self._store(key, _Entry(jpeg, None, time.monotonic() + self._ttl))
        future.set_result(jpeg)
        return jpeg

    async def _make(self, image_url: str) -> bytes:
        source = await fetch_image(self._fetcher, image_url)
        return await asyncio.to_thread(optimize_for_instagram, source)

    def _store(self, key: tuple[uuid.UUID, str], entry: _Entry) -> None:
        old = self._entries.pop(key, None)
        if old is not None and old.jpeg is not None:
            self._size -= len(old.jpeg)
        self._entries[key] = entry
        self._size += len(entry.jpeg or b"")
        while self._size > self._max_bytes and len(self._entries) > 1:
            _, evicted = self._entries.popitem(last=False)
            self._size -= len(evicted.jpeg or b"")
