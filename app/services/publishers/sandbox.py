"""The embedded mode's publisher: records what would be posted, per platform, without network."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.services.publishers import compose
from app.services.publishers.base import Accepted


class SandboxPublisher:
    """Appends one JSON line per post to ``DATA_DIR/sandbox/posts.jsonl`` (no token is ever written)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "sandbox" / "posts.jsonl"
        self._lock = asyncio.Lock()

    async def publish(
        self,
        platform: str,
        account_id: str,
        token: str,
        content: dict[str, Any],
        accepted: Accepted,
        already: list[str],
    ) -> None:
        if platform == "facebook":
            posts: list[dict[str, Any]] = [compose.facebook_post(content)]
        elif platform == "instagram":
            posts = [
                {
                    "caption": compose.instagram_caption(content),
                    "image_url": content.get("image_url"),
                }
            ]
        else:
            posts = [{"text": text} for text in compose.x_thread(content)]
        previous: str | None = already[-1] if already else None
        for post in posts[len(already) :]:
            post_id = f"sandbox-{platform}-{uuid.uuid4().hex[:16]}"
            record = {
                "id": post_id,
                "platform": platform,
                "account_id": account_id,
                "in_reply_to": previous,
                "at": datetime.now(UTC).isoformat(),
                **post,
            }
            async with self._lock:
                await asyncio.to_thread(self._append, record)
            await accepted(post_id)
            previous = post_id

    def _append(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
