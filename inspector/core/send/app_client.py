"""The one HTTP client of the engine loop: send a request to the user's app, keep its answer.

One ``aiohttp.ClientSession`` for every forward and replay (its connection pool is what
makes a thousand replays cheap). Everything an app can do wrong becomes an
:class:`AppAnswer` with the error in plain words, never an exception: an app that is
down, slow, streams forever, answers garbage or redirects is recorded as such.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Sequence

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from inspector.core.session.forwards import AppAnswer

DEFAULT_DEADLINE = 3.0
DEFAULT_MAX_BODY = 25 * 1024 * 1024

#: Headers that describe one connection, not the request (RFC 9110 7.6.1), plus the
#: framing ones aiohttp computes from the body it sends.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "host",
    }
)

#: aiohttp adds these unless told not to; the app must get the provider's headers only.
_SKIP_AUTO = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")


def describe_error(exc: BaseException, deadline: float, phase: str = "") -> str:
    """The reason an app gave no answer, in words a user reads in the table."""
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        where = f" {phase}" if phase else ""
        return f"timed out after {deadline:.1f} s{where}"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"name not resolved: {exc.host}"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return f"TLS error: {_short(exc)}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        os_error = exc.os_error
        if isinstance(os_error, ssl.SSLError):
            return f"TLS error: {_short(os_error)}"
        if isinstance(os_error, ConnectionRefusedError):
            return f"connection refused by {exc.host}:{exc.port}"
        return f"cannot connect to {exc.host}:{exc.port}: {os_error.strerror or os_error}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the app closed the connection without answering"
    if isinstance(exc, aiohttp.ClientResponseError | aiohttp.ClientPayloadError):
        return f"the app's answer is not valid HTTP: {_short(exc)}"
    if isinstance(exc, aiohttp.InvalidURL):
        return f"not a valid URL: {exc}"
    if isinstance(exc, ConnectionResetError):
        return "the app reset the connection"
    if isinstance(exc, aiohttp.ClientError | OSError):
        return f"{type(exc).__name__}: {_short(exc)}"
    return f"{type(exc).__name__}: {_short(exc)}"


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


def is_connection_failure(answer: AppAnswer) -> bool:
    """The app is not there at all (down, wrong port, name or TLS problem): worth waiting for."""
    e = answer.error
    return bool(e) and (
        e.startswith(("connection refused", "cannot connect", "name not resolved", "TLS error"))
    )


class AppClient:
    """Sends requests to the app on the engine loop; create and use it on that loop only."""

    def __init__(self, *, max_body: int = DEFAULT_MAX_BODY, limit: int = 100) -> None:
        self.max_body = max_body
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._limit, ttl_dns_cache=10)
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,  # keep the bytes the app sent
                skip_auto_headers=_SKIP_AUTO,
                cookie_jar=aiohttp.DummyCookieJar(),  # every request as the provider sent it
                timeout=aiohttp.ClientTimeout(total=None),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(
        self,
        method: str,
        url: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        *,
        deadline: float = DEFAULT_DEADLINE,
    ) -> AppAnswer:
        """Send once; redirects are answers, not followed. The deadline covers the whole
        exchange, so an app that never finishes its body is cut off there."""
        started = time.perf_counter()
        status: int | None = None
        resp_headers: list[tuple[str, str]] = []
        chunks: list[bytes] = []
        size = 0
        cut = False
        phase = "waiting for the answer"
        try:
            target = URL(url, encoded=True)
            async with asyncio.timeout(deadline):
                async with self._client().request(
                    method,
                    target,
                    headers=CIMultiDict(headers),
                    data=body if body or method not in ("GET", "HEAD") else None,
                    allow_redirects=False,
                    auto_decompress=False,
                ) as resp:
                    status = resp.status
                    resp_headers = [
                        (k.decode("latin-1"), v.decode("latin-1")) for k, v in resp.raw_headers
                    ]
                    phase = "while reading the body"
                    async for chunk in resp.content.iter_any():
                        room = self.max_body - size
                        if len(chunk) > room:
                            chunks.append(chunk[:room])
                            size += room
                            cut = True
                            resp.close()  # stop reading an answer past the limit
                            break
                        chunks.append(chunk)
                        size += len(chunk)
        except (Exception, asyncio.CancelledError) as exc:
            if isinstance(exc, asyncio.CancelledError):
                raise
            error = describe_error(exc, deadline, phase if status is not None else "")
            return AppAnswer(
                status,
                resp_headers,
                b"".join(chunks),
                body_cut=status is not None,
                duration_ms=(time.perf_counter() - started) * 1000,
                error=error,
            )
        return AppAnswer(
            status,
            resp_headers,
            b"".join(chunks),
            body_cut=cut,
            duration_ms=(time.perf_counter() - started) * 1000,
        )


def forward_url(target: str, path: str, query: str, *, exact: bool = False) -> str:
    """Where a captured request goes: the target with the request's path and query
    appended (``http://localhost:3000/hooks`` + ``/whatsapp?x=1``), or the target as is."""
    if exact:
        return target
    base, _, base_query = target.partition("?")
    base, _, fragment = base.partition("#")
    scheme, sep, rest = base.partition("://")
    host, slash, base_path = rest.partition("/")
    joined = ("/" + base_path.rstrip("/") if slash and base_path.strip("/") else "") + (
        path if path.startswith("/") else "/" + path
    )
    queries = "&".join(q for q in (base_query, query) if q)
    return f"{scheme}{sep}{host}{joined}" + (f"?{queries}" if queries else "")


def forward_headers(
    headers: Sequence[tuple[str, str]],
    *,
    target: str,
    remote: str,
    proto: str = "http",
    forwarded: bool = True,
) -> list[tuple[str, str]]:
    """The provider's headers as the app should get them: hop-by-hop ones dropped (and
    any named in ``Connection``), ``Host`` rewritten to the app, ``X-Forwarded-*`` added
    (``forwarded``; a replay keeps the original's own ``X-Forwarded-*`` instead)."""
    named = {
        token.strip().lower()
        for k, v in headers
        if k.lower() == "connection"
        for token in v.split(",")
    }
    original_host = next((v for k, v in headers if k.lower() == "host"), "")
    prior_for = [v for k, v in headers if k.lower() == "x-forwarded-for"]
    kept = [
        (k, v)
        for k, v in headers
        if k.lower() not in HOP_BY_HOP
        and k.lower() not in named
        and not (forwarded and k.lower().startswith("x-forwarded-"))
    ]
    url = URL(target, encoded=True)
    host = url.raw_host or ""
    if ":" in host:
        host = f"[{host}]"
    if url.explicit_port:
        host = f"{host}:{url.port}"
    kept.insert(0, ("Host", host))
    if not forwarded:
        return kept
    chain = ", ".join([*prior_for, remote] if remote else prior_for)
    if chain:
        kept.append(("X-Forwarded-For", chain))
    if original_host:
        kept.append(("X-Forwarded-Host", original_host))
    kept.append(("X-Forwarded-Proto", proto))
    return kept
