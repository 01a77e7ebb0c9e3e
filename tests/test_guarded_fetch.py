"""The guarded fetcher: no URL a user gives ever reaches an internal address, whatever its form,
its DNS answer or its redirects; the connection goes to the vetted address; size and time are capped;
errors name nothing internal. And the public image endpoint built on it."""

from __future__ import annotations

import asyncio
import contextlib
import io
import ipaddress
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from PIL import Image

from app.core.guarded_fetch import FetchRefused, GuardedFetcher, is_public_address
from app.services.images import CampaignImages
from tests.conftest import auth, make_campaign

PUBLIC = "93.184.216.34"


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # CGNAT
        ("0.0.0.0", False),
        ("224.0.0.1", False),  # multicast
        ("255.255.255.255", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped
        ("::ffff:10.0.0.1", False),
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of 169.254.169.254
    ],
)
def test_which_addresses_are_public(address, public):
    assert is_public_address(ipaddress.ip_address(address)) is public


def _resolver(table: dict[str, list[str]]):
    async def resolve(host: str, port: int) -> list[str]:
        return table[host]

    return resolve


class Recorder:
    """A transport that records every request it is asked to send and answers from a script."""

    def __init__(self, *answers: httpx.Response) -> None:
        self.requests: list[httpx.Request] = []
        self.answers = list(answers)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answers.pop(0) if self.answers else httpx.Response(200, content=b"ok")


def _fetcher(recorder: Recorder, table: dict[str, list[str]], **kw) -> GuardedFetcher:
    return GuardedFetcher(resolver=_resolver(table), transport=httpx.MockTransport(recorder), **kw)


async def test_connects_to_the_vetted_address_with_the_original_host_name():
    rec = Recorder(httpx.Response(200, content=b"image"))
    fetcher = _fetcher(rec, {"cdn.example": [PUBLIC]})
    got = await fetcher.fetch("https://cdn.example/a.png?x=1")
    assert got.content == b"image"
    (request,) = rec.requests
    assert request.url.host == PUBLIC and request.url.path == "/a.png"
    assert request.headers["host"] == "cdn.example"
    assert request.extensions["sni_hostname"] == "cdn.example"  # TLS is checked for the name


@pytest.mark.parametrize(
    ("url", "table"),
    [
        ("http://127.0.0.1/x", {}),
        ("http://[::1]/x", {}),
        ("http://[::ffff:7f00:1]/x", {}),
        ("http://10.0.0.1/x", {}),
        ("http://169.254.169.254/latest/meta-data/", {}),
        ("http://internal.example/x", {"internal.example": ["10.1.2.3"]}),
        # any internal answer among several is enough to refuse (no "first answer wins")
        ("http://mixed.example/x", {"mixed.example": [PUBLIC, "127.0.0.1"]}),
        ("file:///etc/passwd", {}),
        ("ftp://cdn.example/x", {"cdn.example": [PUBLIC]}),
        ("gopher://cdn.example/x", {"cdn.example": [PUBLIC]}),
    ],
)
async def test_internal_or_odd_urls_are_refused_before_any_request(url, table):
    rec = Recorder()
    with pytest.raises(FetchRefused) as refused:
        await _fetcher(rec, table).fetch(url, what="the image")
    assert str(refused.value) == "the image could not be fetched"
    assert rec.requests == []


async def test_each_redirect_is_vetted_and_counted():
    to_internal = Recorder(httpx.Response(302, headers={"location": "http://169.254.169.254/"}))
    with pytest.raises(FetchRefused):
        await _fetcher(to_internal, {"cdn.example": [PUBLIC]}).fetch("http://cdn.example/a")
    assert len(to_internal.requests) == 1  # the metadata address is never asked

    hop = httpx.Response(301, headers={"location": "/next"})
    three = Recorder(hop, hop, hop, httpx.Response(200, content=b"end"))
    got = await _fetcher(three, {"cdn.example": [PUBLIC]}).fetch("http://cdn.example/a")
    assert got.content == b"end" and len(three.requests) == 4

    four = Recorder(hop, hop, hop, hop, httpx.Response(200, content=b"end"))
    with pytest.raises(FetchRefused):
        await _fetcher(four, {"cdn.example": [PUBLIC]}).fetch("http://cdn.example/a")
    assert len(four.requests) == 4


async def test_size_is_capped():
    rec = Recorder(httpx.Response(200, content=b"x" * 2048))
    with pytest.raises(FetchRefused):
        await _fetcher(rec, {"cdn.example": [PUBLIC]}, max_bytes=1024).fetch("http://cdn.example/")


async def test_time_is_capped():
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200)

    fetcher = GuardedFetcher(
        resolver=_resolver({"cdn.example": [PUBLIC]}),
        transport=httpx.MockTransport(slow),
        timeout=0.2,
    )
    with pytest.raises(FetchRefused):
        await fetcher.fetch("http://cdn.example/")


# ---------------------------------------------------------------------------------------------
# GET /media/campaigns/{id}.jpg against a real listener on loopback
# ---------------------------------------------------------------------------------------------


class Listener:
    """TCP listeners on 127.0.0.1 and ::1 (one port) that count the connections they receive."""

    def __init__(self) -> None:
        self.connections = 0
        self.servers: list[asyncio.base_events.Server] = []
        self.port = 0

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.close()

    async def start(self) -> None:
        v4 = await asyncio.start_server(self._on_connect, "127.0.0.1", 0)
        self.port = v4.sockets[0].getsockname()[1]
        self.servers.append(v4)
        if socket.has_ipv6:
            with contextlib.suppress(OSError):
                self.servers.append(await asyncio.start_server(self._on_connect, "::1", self.port))


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    li = Listener()
    await li.start()
    yield li
    for server in li.servers:
        server.close()


async def test_media_never_reaches_an_internal_address(client, listener):
    p = listener.port
    urls = [
        f"http://127.0.0.1:{p}/image.png",
        f"http://localhost:{p}/image.png",
        f"http://[::1]:{p}/image.png",
        f"http://[::ffff:127.0.0.1]:{p}/image.png",
        f"http://0.0.0.0:{p}/image.png",
        "http://10.0.0.1/image.png",
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    ]
    for url in urls:
        c = await make_campaign(client, image_url=url)
        r = await client.get(f"/media/campaigns/{c['id']}.jpg")
        assert r.status_code == 502, (url, r.text)
        assert r.json()["detail"] == "the image could not be fetched"
        for internal in ("Connect", "Error", "refused", "timed out", str(p)):
            assert internal not in r.text
    await asyncio.sleep(0.05)
    assert listener.connections == 0


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(out, format="PNG")
    return out.getvalue()


async def test_media_is_optimized_once_per_campaign_and_image_url(client):
    served: list[str] = []

    def cdn(request: httpx.Request) -> httpx.Response:
        served.append(request.url.path)
        return httpx.Response(200, content=_png(3000, 1000))

    fetcher = GuardedFetcher(
        resolver=_resolver({"cdn.example": [PUBLIC]}), transport=httpx.MockTransport(cdn)
    )
    client._transport.app.state.images = CampaignImages(fetcher)  # type: ignore[attr-defined]
    c = await make_campaign(client, image_url="https://cdn.example/wide.png")
    first = await client.get(f"/media/campaigns/{c['id']}.jpg")
    second = await client.get(f"/media/campaigns/{c['id']}.jpg")
    assert first.status_code == second.status_code == 200
    assert first.content == second.content and first.headers["content-type"] == "image/jpeg"
    image = Image.open(io.BytesIO(first.content))
    assert image.format == "JPEG" and image.width <= 1440
    assert image.width / image.height == pytest.approx(1.91, abs=0.01)
    assert served == ["/wide.png"]
    await client.patch(
        f"/campaigns/{c['id']}", json={"image_url": "https://cdn.example/new.png"}, headers=auth()
    )
    assert (await client.get(f"/media/campaigns/{c['id']}.jpg")).status_code == 200
    assert served == ["/wide.png", "/new.png"]


async def test_media_fetch_allow_private_lets_local_fakes_through(listener):
    """MEDIA_FETCH_ALLOW_PRIVATE=true lifts the address check (for tests and local fakes)."""
    fetcher = GuardedFetcher(allow_private=True, timeout=2)
    with pytest.raises(FetchRefused):  # the listener closes at once: no image, but it was reached
        await fetcher.fetch(f"http://127.0.0.1:{listener.port}/image.png")
    await fetcher.aclose()
    assert listener.connections == 1
