"""Real HTTP servers on 127.0.0.1 for tests: any ASGI app, in a background thread."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(app: Any, port: int | None = None, lifespan: str = "off") -> Iterator[str]:
    port = port or free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan=lifespan
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class Receiver:
    """A local webhook receiver: records every request, answers with the queued statuses (then 200),
    and can hang on the next request."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answers: list[int] = []
        self.hang_next_seconds = 0.0

    async def hook(self, request: Request) -> Response:
        self.requests.append({"headers": dict(request.headers), "body": await request.body()})
        if self.hang_next_seconds:
            seconds, self.hang_next_seconds = self.hang_next_seconds, 0.0
            await asyncio.sleep(seconds)
        status = self.answers.pop(0) if self.answers else 200
        return Response("received" if status < 300 else "not now", status_code=status)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.requests]
