"""Sending one simulated request over HTTP, and what came back.

An aiohttp ``ClientSession`` on the caller's event loop (the engine's, in the window;
``asyncio.run`` in the CLI). The client gives up when the provider would: after 3 s for
WhatsApp, RCS and Viber (a slower answer is a failure there), 30 s otherwise, so a
rule that holds the connection sees the provider's side hang up.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from inspector.core.provider.simulator import (
    MESSAGE_TIMEOUT,
    SIGNED_PRODUCTS,
    SimRequest,
    delivered,
)

#: How long the client waits for an answer where the provider documents no timeout.
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class Delivery:
    """One request sent: where, the answer's status (0: none), how long it took, whether
    the provider would count it as delivered, and what went wrong (empty when answered)."""

    request: SimRequest
    url: str
    status: int
    elapsed: float
    delivered: bool
    error: str = ""
    #: Nothing listened at the address at all (connection refused, unknown host).
    unreachable: bool = False


def target_url(base: str, request: SimRequest) -> str:
    """Where ``request`` goes: ``base`` with the request's own path (``/sms``, ``/whatsapp``...,
    which also tells the decoder the product) unless ``base`` names a path of its own, and
    the request's query string added to any ``base`` has."""
    parts = urlsplit(base)
    path = parts.path if parts.path not in ("", "/") else request.path
    query = "&".join(q for q in (parts.query, request.query) if q)
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))


def timeout_for(request: SimRequest) -> float:
    return MESSAGE_TIMEOUT if request.product in SIGNED_PRODUCTS else DEFAULT_TIMEOUT


async def deliver(
    session: aiohttp.ClientSession, base: str, request: SimRequest, *, give_up: float | None = None
) -> Delivery:
    """Send ``request`` to ``base``; never raises for what the other side does."""
    url = target_url(base, request)
    limit = timeout_for(request) if give_up is None else give_up
    started = time.monotonic()
    try:
        async with asyncio.timeout(limit):
            async with session.request(
                request.method,
                url,
                data=request.body if request.body or request.method != "GET" else None,
                headers=list(request.headers),
                skip_auto_headers=("User-Agent", "Content-Type"),
                allow_redirects=False,
            ) as resp:
                await resp.read()
                status = resp.status
    except TimeoutError:
        elapsed = time.monotonic() - started
        return Delivery(request, url, 0, elapsed, False, f"no answer within {limit:g} s")
    except aiohttp.ClientConnectorError as exc:
        reason = exc.os_error.strerror if exc.os_error and exc.os_error.strerror else str(exc)
        return Delivery(
            request, url, 0, time.monotonic() - started, False, f"cannot connect: {reason}", True
        )
    except (aiohttp.ClientError, OSError) as exc:
        text = str(exc) or type(exc).__name__
        return Delivery(
            request, url, 0, time.monotonic() - started, False, f"connection failed: {text}"
        )
    elapsed = time.monotonic() - started
    return Delivery(request, url, status, elapsed, delivered(request.product, status, elapsed))
