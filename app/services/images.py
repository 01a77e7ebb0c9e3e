"""The optimized JPEG Instagram fetches: JPEG only, aspect ratio within 4:5 … 1.91:1, width ≤ 1440."""

from __future__ import annotations

import io

import httpx
from PIL import Image

MIN_RATIO = 4 / 5
MAX_RATIO = 1.91
MAX_WIDTH = 1440
MAX_SOURCE_BYTES = 10 * 1024 * 1024


class ImageUnavailable(Exception):
    """The campaign's image could not be fetched or read."""


async def fetch_image(client: httpx.AsyncClient, url: str) -> bytes:
    """Download the source image (one shared client: creating one costs an SSL context each time)."""
    try:
        async with client.stream("GET", url) as response:
            if response.status_code != 200:
                raise ImageUnavailable(f"the image URL answered {response.status_code}")
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data.extend(chunk)
                if len(data) > MAX_SOURCE_BYTES:
                    raise ImageUnavailable("the image is larger than 10 MB")
            return bytes(data)
    except httpx.HTTPError as exc:
        raise ImageUnavailable(f"the image could not be fetched: {type(exc).__name__}") from None


def optimize_for_instagram(source: bytes) -> bytes:
    """Center-crop into the allowed aspect ratios, shrink to 1440 px wide at most, encode as JPEG."""
    try:
        opened = Image.open(io.BytesIO(source))
        opened.load()
    except Exception as exc:  # Pillow raises many kinds for a bad file
        raise ImageUnavailable(f"the image cannot be read: {type(exc).__name__}") from None
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
