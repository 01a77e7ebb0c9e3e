"""A fake of the Graph and X APIs for tests, built from the recorded fixtures in tests/fixtures/api-fixtures.

Real HTTP (see tests/servers.py). It records every request it receives and every post it accepts, and
injects faults on demand: `faults.append(Fault(...))` makes the next matching requests fail.
"""

from __future__ import annotations

import asyncio
import copy
import io
import itertools
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

FIXTURES = Path(__file__).parent / "fixtures" / "api-fixtures"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())["response"]


@dataclass
class Fault:
    """Fail the next ``times`` requests whose path contains ``path``."""

    path: str
    kind: str  # "429", "500", "timeout" (accept, then hang: the client sees no answer), "token", "refuse"
    times: int = 1
    reset_in: int = 30


@dataclass
class FakePlatform:
    faults: list[Fault] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    posts: list[dict[str, Any]] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    hang_seconds: float = 3.0
    hang_next: bool = False
    delay_seconds: float = 0.0  # every post endpoint answers this late (a slow platform)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _png_cache: dict[tuple[int, int], bytes] = field(default_factory=dict)
    _http: httpx.AsyncClient | None = None

    def _fault(self, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.path in path and fault.times > 0:
                fault.times -= 1
                return fault
        return None

    async def _faulty(self, request: Request, platform: str) -> Response | None:
        fault = self._fault(request.url.path)
        if fault is None:
            return None
        if fault.kind == "timeout":
            self.hang_next = True  # the handler accepts the post, then answers too late
            return None
        if fault.kind == "500":
            return JSONResponse(
                {"error": {"message": "An unknown error occurred", "code": 1}}, status_code=500
            )
        if fault.kind == "429":
            if platform == "x":
                body = fixture("x_v2_429_too_many_requests")["body"]
                reset = str(int(time.time()) + fault.reset_in)
                return JSONResponse(body, status_code=429, headers={"x-rate-limit-reset": reset})
            return JSONResponse(
                fixture("fb_error_32_page_request_limit")["body"],
                status_code=400,
                headers={"Retry-After": str(fault.reset_in)},
            )
        if fault.kind == "token":
            if platform == "x":
                return JSONResponse(
                    fixture("x_v2_401_unauthorized")["body"],
                    status_code=401,
                    media_type="application/problem+json",
                )
            return JSONResponse(
                fixture("fb_error_190_463_session_expired")["body"], status_code=400
            )
        raise AssertionError(f"unknown fault {fault.kind}")

    async def _answer(self, response: Response) -> Response:
        if self.hang_next:
            self.hang_next = False
            await asyncio.sleep(self.hang_seconds)
        return response

    @staticmethod
    async def _form(request: Request) -> dict[str, str]:
        return dict(parse_qsl((await request.body()).decode()))

    def _new_id(self, prefix: str = "") -> str:
        return f"{prefix}{17_900_000_000_000_000 + next(self._ids)}"

    async def _record(self, request: Request) -> dict[str, Any]:
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        raw = await request.body()
        entry = {
            "method": request.method,
            "path": request.url.path,
            "query": str(request.url.query),
            "headers": dict(request.headers),
            "body": raw.decode(errors="replace"),
        }
        self.requests.append(entry)
        return entry

    # Graph API ------------------------------------------------------------------------------------

    async def feed(self, request: Request) -> Response:
        await self._record(request)
        if (faulty := await self._faulty(request, "graph")) is not None:
            return faulty
        form = await self._form(request)
        body = copy.deepcopy(fixture("fb_page_feed_post_created")["body"])
        body["id"] = f"{request.path_params['node']}_{self._new_id()}"
        self.posts.append(
            {
                "platform": "facebook",
                "id": body["id"],
                "message": form.get("message"),
                "link": form.get("link"),
            }
        )
        return await self._answer(JSONResponse(body))

    async def media(self, request: Request) -> Response:
        await self._record(request)
        if (faulty := await self._faulty(request, "graph")) is not None:
            return faulty
        form = await self._form(request)
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=10)
        image = await self._http.get(str(form["image_url"]))  # Instagram fetches the image itself
        info: dict[str, Any] = {
            "status": image.status_code,
            "content_type": image.headers.get("content-type"),
        }
        if image.status_code == 200:
            with Image.open(io.BytesIO(image.content)) as img:
                info.update(format=img.format, width=img.width, height=img.height)
        self.images.append(info)
        if image.status_code != 200 or info.get("format") != "JPEG":
            return JSONResponse(
                fixture("ig_error_9004_media_fetch_failed")["body"], status_code=400
            )
        container = self._new_id()
        self.posts.append(
            {"platform": "instagram-container", "id": container, "caption": form.get("caption")}
        )
        return JSONResponse({"id": container})

    async def container(self, request: Request) -> Response:
        await self._record(request)
        body = copy.deepcopy(fixture("ig_container_status_finished")["body"])
        body["id"] = request.path_params["node"]
        return JSONResponse(body)

    async def media_publish(self, request: Request) -> Response:
        await self._record(request)
        if (faulty := await self._faulty(request, "graph")) is not None:
            return faulty
        form = await self._form(request)
        media_id = self._new_id()
        self.posts.append(
            {"platform": "instagram", "id": media_id, "creation_id": form.get("creation_id")}
        )
        return await self._answer(JSONResponse({"id": media_id}))

    # X API ----------------------------------------------------------------------------------------

    async def tweets(self, request: Request) -> Response:
        await self._record(request)
        if (faulty := await self._faulty(request, "x")) is not None:
            return faulty
        payload = json.loads(await request.body())
        template = fixture("x_v2_create_tweet_201")
        tweet_id = str(1_456_012_973_835_788_293 + next(self._ids))
        self.posts.append(
            {
                "platform": "x",
                "id": tweet_id,
                "text": payload["text"],
                "reply_to": (payload.get("reply") or {}).get("in_reply_to_tweet_id"),
            }
        )
        return await self._answer(
            JSONResponse(
                {"data": {"id": tweet_id, "text": payload["text"]}},
                status_code=201,
                headers={"x-rate-limit-remaining": template["headers"]["x-rate-limit-remaining"]},
            )
        )

    async def image(self, request: Request) -> Response:
        """A sample campaign image: by default a 3:1 PNG, wider than Instagram allows."""
        size = (int(request.query_params.get("w", 3000)), int(request.query_params.get("h", 1000)))
        if size not in self._png_cache:
            buffer = io.BytesIO()
            Image.new("RGB", size, (200, 80, 40)).save(buffer, format="PNG")
            self._png_cache[size] = buffer.getvalue()
        return Response(self._png_cache[size], media_type="image/png")

    async def summary(self, request: Request) -> Response:
        return JSONResponse({"posts": self.posts, "requests": len(self.requests)})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v21.0/{node}/feed", self.feed, methods=["POST"]),
                Route("/v21.0/{node}/media", self.media, methods=["POST"]),
                Route("/v21.0/{node}/media_publish", self.media_publish, methods=["POST"]),
                Route("/v21.0/{node}", self.container, methods=["GET"]),
                Route("/2/tweets", self.tweets, methods=["POST"]),
                Route("/images/sample.png", self.image, methods=["GET"]),
                Route("/_posts", self.summary, methods=["GET"]),
            ]
        )


if __name__ == "__main__":  # a standalone fake for benchmarks: python -m tests.fakeplatform PORT
    import sys

    import uvicorn

    uvicorn.run(FakePlatform().app(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
