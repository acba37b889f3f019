"""Requests that came through the tunnel: the real client address behind the agent."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable

log = logging.getLogger(__name__)


NGROK_HOST_SUFFIXES: tuple[str, ...] = (
    ".ngrok-free.app",
    ".ngrok-free.dev",
    ".ngrok.app",
    ".ngrok.dev",
    ".ngrok.io",
    ".ngrok.pizza",
    ".ngrok.pro",
)


def tunnel_client_address(
    headers: Iterable[tuple[str, str]],
    *,
    public_host: str | None = None,
    peer: str | None = None,
) -> str | None:
    """The real client address when a request came through the ngrok tunnel, else ``None``.

    A request counts as tunnelled when it carries ``X-Forwarded-For`` and either its
    ``X-Forwarded-Host`` is an ngrok domain or the tunnel's ``public_host`` (a reserved custom
    domain), or it has an ``Ngrok-*`` header. The agent runs on this machine, so a ``peer``
    that is not loopback cannot be the agent. ngrok appends the address it saw to
    ``X-Forwarded-For``, so the right-most entry is the one to trust: a sender can put anything
    to the left of it.
    """
    if peer is not None:
        try:
            if not ipaddress.ip_address(peer.split("%", 1)[0]).is_loopback:
                return None
        except ValueError:
            return None
    forwarded_for: list[str] = []
    forwarded_host: str | None = None
    has_ngrok_header = False
    for name, value in headers:
        low = name.lower()
        if low == "x-forwarded-for":
            forwarded_for.extend(part.strip() for part in value.split(","))
        elif low == "x-forwarded-host":
            forwarded_host = value.strip().lower()
        elif low.startswith("ngrok-"):
            has_ngrok_header = True
    forwarded_for = [p for p in forwarded_for if p]
    if not forwarded_for:
        return None
    host = (forwarded_host or "").rsplit(":", 1)[0] if forwarded_host else ""
    from_ngrok = has_ngrok_header or any(host.endswith(s) for s in NGROK_HOST_SUFFIXES)
    if public_host and host == public_host.lower():
        from_ngrok = True
    if not from_ngrok:
        return None
    return _strip_port(forwarded_for[-1])


def _strip_port(addr: str) -> str:
    if addr.startswith("["):
        return addr[1:].split("]", 1)[0]
    if addr.count(":") == 1:
        host, _, port = addr.partition(":")
        if port.isdigit():
            return host
    return addr
