"""The platforms' real HTTP APIs over httpx: Facebook Page feed, Instagram, X threads.

Outcomes follow the never-twice rule: an answer that proves nothing was posted raises RetryLater; a
mutating request that may have been sent but got no answer raises OutcomeUnknown; token errors raise
TokenExpired. Tokens travel in headers or form bodies, never in URLs, so they stay out of access logs.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from app.services.publishers import compose
from app.services.publishers.base import (
    Accepted,
    OutcomeUnknown,
    PublishFailed,
    RetryLater,
    TokenExpired,
)

GRAPH_RATE_LIMIT_CODES = {4, 17, 32, 613, 80004}
DEFAULT_RATE_LIMIT_WAIT = timedelta(minutes=15)


def _retry_after(response: httpx.Response) -> datetime | None:
    """When the platform says to come back: x-rate-limit-reset (epoch seconds) or Retry-After."""
    reset = response.headers.get("x-rate-limit-reset")
    if reset and reset.isdigit():
        return datetime.fromtimestamp(int(reset), UTC)
    after = response.headers.get("retry-after")
    if after:
        if after.isdigit():
            return datetime.now(UTC) + timedelta(seconds=int(after))
        try:
            return parsedate_to_datetime(after)
        except (TypeError, ValueError):
            return None
    return None


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


class LivePublisher:
    def __init__(
        self,
        graph_url: str,
        x_url: str,
        media_url: str,
        timeout: float = 15.0,
        poll_interval: float = 2.0,
        poll_attempts: int = 30,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 16,
    ) -> None:
        self.graph_url = graph_url.rstrip("/")
        self.x_url = x_url.rstrip("/")
        self.media_url = media_url.rstrip("/")
        self.poll_interval = poll_interval
        self.poll_attempts = poll_attempts
        # A small pool: httpcore checks every pooled connection on each request, so a large pool costs
        # more CPU than the extra parallelism brings.
        self.client = httpx.AsyncClient(
            timeout=timeout,
            transport=transport,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def publish(
        self,
        platform: str,
        account_id: str,
        token: str,
        content: dict[str, Any],
        accepted: Accepted,
        already: list[str],
    ) -> None:
        if platform == "x":
            await self._x_thread(token, content, accepted, already)
        elif already:
            return  # a single post whose id is stored is posted
        elif platform == "facebook":
            await self._facebook(account_id, token, content, accepted)
        else:
            await self._instagram(account_id, token, content, accepted)

    async def _send(
        self, method: str, url: str, *, mutating: bool, **kwargs: Any
    ) -> httpx.Response:
        try:
            return await self.client.request(method, url, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise RetryLater(f"could not connect: {type(exc).__name__}") from None
        except httpx.TransportError as exc:
            if mutating:
                raise OutcomeUnknown(f"{type(exc).__name__} after sending {method} {url}") from None
            raise RetryLater(f"{type(exc).__name__} on {method} {url}") from None

    # Facebook and Instagram: the Graph API -----------------------------------------------------------

    def _graph_check(self, response: httpx.Response) -> dict[str, Any]:
        body = _json(response)
        if response.status_code < 400 and "error" not in body:
            return body
        error = body.get("error") or {}
        code = error.get("code")
        message = str(error.get("message") or response.reason_phrase)
        if code == 190 or response.status_code == 401:
            raise TokenExpired(f"Graph error {code}: {message}")
        if code in GRAPH_RATE_LIMIT_CODES or response.status_code == 429:
            not_before = _retry_after(response) or datetime.now(UTC) + DEFAULT_RATE_LIMIT_WAIT
            raise RetryLater(f"Graph rate limit ({code}): {message}", not_before)
        if response.status_code >= 500:
            raise RetryLater(f"Graph {response.status_code}: {message}")
        raise PublishFailed(f"Graph error {code} ({response.status_code}): {message}")

    async def _facebook(
        self, page_id: str, token: str, content: dict[str, Any], accepted: Accepted
    ) -> None:
        post = compose.facebook_post(content)
        response = await self._send(
            "POST",
            f"{self.graph_url}/{page_id}/feed",
            mutating=True,
            data={**post, "access_token": token},
        )
        body = self._graph_check(response)
        await accepted(str(body["id"]))

    async def _instagram(
        self, ig_user: str, token: str, content: dict[str, Any], accepted: Accepted
    ) -> None:
        image_url = f"{self.media_url}/media/campaigns/{content['campaign_id']}.jpg"
        # Creating a container publishes nothing: a failure here is safe to retry.
        response = await self._send(
            "POST",
            f"{self.graph_url}/{ig_user}/media",
            mutating=False,
            data={
                "image_url": image_url,
                "caption": compose.instagram_caption(content),
                "access_token": token,
            },
        )
        container = str(self._graph_check(response)["id"])
        for _ in range(self.poll_attempts):
            response = await self._send(
                "GET",
                f"{self.graph_url}/{container}",
                mutating=False,
                params={"fields": "status_code"},
                headers={"Authorization": f"Bearer {token}"},
            )
            status = self._graph_check(response).get("status_code")
            if status == "FINISHED":
                break
            if status in ("ERROR", "EXPIRED"):
                raise PublishFailed(f"Instagram could not prepare the media: {status}")
            await asyncio.sleep(self.poll_interval)
        else:
            raise RetryLater("Instagram media container not ready in time")
        response = await self._send(
            "POST",
            f"{self.graph_url}/{ig_user}/media_publish",
            mutating=True,
            data={"creation_id": container, "access_token": token},
        )
        await accepted(str(self._graph_check(response)["id"]))

    # X ------------------------------------------------------------------------------------------------

    async def _x_thread(
        self, token: str, content: dict[str, Any], accepted: Accepted, already: list[str]
    ) -> None:
        tweets = compose.x_thread(content)
        previous = already[-1] if already else None
        for text in tweets[len(already) :]:
            payload: dict[str, Any] = {"text": text}
            if previous:
                payload["reply"] = {"in_reply_to_tweet_id": previous}
            response = await self._send(
                "POST",
                f"{self.x_url}/2/tweets",
                mutating=True,
                json=payload,
                headers={"Authorization": f"Bearer {token}"},
            )
            body = _json(response)
            if response.status_code == 401:
                raise TokenExpired(f"X 401: {body.get('detail') or 'Unauthorized'}")
            if response.status_code == 429:
                raise RetryLater("X 429 Too Many Requests", _retry_after(response))
            if response.status_code >= 500:
                raise RetryLater(f"X {response.status_code}")
            if response.status_code >= 400:
                detail = body.get("detail") or body.get("title") or response.reason_phrase
                raise PublishFailed(f"X {response.status_code}: {detail}")
            previous = str(body["data"]["id"])
            await accepted(previous)
