"""The one way the service fetches a URL a user gave (campaign images, webhook deliveries).

A user-supplied URL must never make the service reach inside its own network. So the host is resolved
here, every address it resolves to is vetted (loopback, private, link-local and cloud metadata, CGNAT,
multicast, unspecified, reserved and IPv4-mapped or -embedded forms of these are refused), and the
connection goes to the vetted address itself, with the original name as Host and TLS server name: no
second lookup, so no DNS-rebinding window. Redirects are followed by hand, each target vetted the
same way, at most ``max_redirects``. The body is capped in bytes and the whole exchange in time.

Errors say only that the URL could not be fetched: the reason is logged, never answered, so the
fetcher cannot serve as a port scanner.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

MAX_BYTES = 10 * 1024 * 1024
TIMEOUT_SECONDS = 10.0
MAX_REDIRECTS = 3
REDIRECT_STATUSES = {301, 302, 303, 307, 308}

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class FetchRefused(Exception):
    """The URL was not fetched. The message is safe to show: it names no internal detail."""


@dataclass(frozen=True)
class Fetched:
    status_code: int
    headers: httpx.Headers
    content: bytes


def is_public_address(ip: IPAddress) -> bool:
    """True only for an address on the public internet (IPv4 forms inside IPv6 are unwrapped)."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None and not is_public_address(embedded):
            return False
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return False
    return ip.is_global and not (
        ip.is_multicast
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_private
        or ip.is_reserved
        or ip.is_unspecified
    )


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedFetcher:
    """Fetches user-supplied http(s) URLs without ever reaching an internal address."""

    def __init__(
        self,
        *,
        allow_private: bool = False,
        max_bytes: int = MAX_BYTES,
        timeout: float = TIMEOUT_SECONDS,
        max_redirects: int = MAX_REDIRECTS,
        resolver: Resolver = system_resolver,
        transport: httpx.AsyncBaseTransport | None = None,
        user_agent: str = "autonomous-ops",
    ) -> None:
        self.allow_private = allow_private
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.max_redirects = max_redirects
        self._resolve = resolver
        # No connection reuse: a pooled connection is keyed by address, and must never carry a
        # request for another host name than the one it was opened (and its certificate checked) for.
        self._client = httpx.AsyncClient(
            transport=transport,
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_keepalive_connections=0),
            headers={"User-Agent": user_agent},
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch(
        self,
        url: str,
        *,
        method: str = "GET",
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        follow_redirects: bool = True,
        what: str = "the URL",
    ) -> Fetched:
        """Fetch ``url``; FetchRefused("<what> could not be fetched") on any refusal or failure."""
        try:
            async with asyncio.timeout(self.timeout):
                return await self._fetch(url, method, content, headers or {}, follow_redirects)
        except FetchRefused:
            raise
        except _Refused as exc:
            log.info("fetch refused", extra={"reason": str(exc)})
            raise FetchRefused(f"{what} could not be fetched") from None
        except Exception as exc:  # whatever the URL or the host did: a refusal, never anything else
            log.info("fetch failed", extra={"error": type(exc).__name__})
            raise FetchRefused(f"{what} could not be fetched") from None

    async def vet(self, url: str, *, what: str = "the URL") -> None:
        """Check, without fetching, that ``url`` is http(s) and that every address its host resolves
        to may be reached; FetchRefused("<what> cannot be reached") otherwise. Each fetch vets again."""
        try:
            async with asyncio.timeout(self.timeout):
                await self._vet(httpx.URL(url))
        except _Refused as exc:
            log.info("url refused", extra={"reason": str(exc)})
            raise FetchRefused(f"{what} cannot be reached") from None
        except Exception as exc:  # a URL that cannot be parsed or resolved: a refusal
            log.info("url refused", extra={"error": type(exc).__name__})
            raise FetchRefused(f"{what} cannot be reached") from None

    async def _fetch(
        self,
        url: str,
        method: str,
        content: bytes | None,
        headers: dict[str, str],
        follow_redirects: bool,
    ) -> Fetched:
        target = httpx.URL(url)
        for _ in range(self.max_redirects + 1):
            address = await self._vet(target)
            request = self._client.build_request(
                method,
                target.copy_with(host=address),
                headers={**headers, "Host": _host_header(target)},
                content=content,
                extensions={"sni_hostname": target.host},
            )
            response = await self._client.send(request, stream=True)
            try:
                location = response.headers.get("location")
                if follow_redirects and response.status_code in REDIRECT_STATUSES and location:
                    target = target.join(location)
                    if response.status_code == 303 or (
                        response.status_code in (301, 302) and method == "POST"
                    ):
                        method, content = "GET", None
                    continue
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body.extend(chunk)
                    if len(body) > self.max_bytes:
                        raise _Refused(f"larger than {self.max_bytes} bytes")
                return Fetched(response.status_code, response.headers, bytes(body))
            finally:
                await response.aclose()
        raise _Refused(f"more than {self.max_redirects} redirects")

    async def _vet(self, url: httpx.URL) -> str:
        """The address to connect to for ``url``, after checking the scheme and every address."""
        if url.scheme not in ("http", "https") or not url.host:
            raise _Refused("not an http(s) URL with a host")
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            literal: IPAddress | None = ipaddress.ip_address(url.host)
        except ValueError:
            literal = None
        names = [str(literal)] if literal else await self._resolve(url.host, port)
        addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in names]
        if not addresses:
            raise _Refused("the host has no address")
        if not self.allow_private and not all(is_public_address(a) for a in addresses):
            raise _Refused("the host resolves to an internal address")
        return str(addresses[0])


class _Refused(Exception):
    """Why a fetch was refused: logged, never shown."""


def _host_header(url: httpx.URL) -> str:
    default = 443 if url.scheme == "https" else 80
    host = f"[{url.host}]" if ":" in url.host else url.host
    return host if url.port in (None, default) else f"{host}:{url.port}"
