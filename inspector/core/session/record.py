"""The captured request as it travels from the listener to the session store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass(slots=True)
class CapturedRequest:
    """Exactly what arrived, plus the answer we gave; never altered after capture."""

    seq: int
    received_us: int  # microseconds since the Unix epoch, UTC
    method: str
    path: str
    query: str
    http_version: str
    remote: str
    headers: list[tuple[str, str]]
    body: bytes
    declared_size: int | None = None
    response_status: int = 200
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    response_body: bytes = b""
    #: Problems found while receiving (over the size limit, slow client...).
    capture_warnings: list[str] = field(default_factory=list)
    via_tunnel: bool = False
    client_addr: str = ""
    #: Put in the forward outbox in the same commit (forwarding to the user's app is on).
    forward: bool = False
    #: The row this request replays (None: it arrived from outside).
    replay_of: int | None = None

    @property
    def content_type(self) -> str:
        for key, value in self.headers:
            if key.lower() == "content-type":
                return value
        return ""


def rfc3339_from_us(us: int) -> str:
    """RFC 3339 UTC timestamp with microseconds, e.g. ``2026-11-25T16:37:22.123456Z``."""
    dt = datetime.fromtimestamp(us // 1_000_000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{us % 1_000_000:06d}Z"
