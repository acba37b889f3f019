"""The captured request as it travels from the listener to the session store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inspector.core.provider.decoder import DecodedEvent


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
    #: Its decoding, when already known (a replay as-is: the same bytes as its original
    #: mean the same event); None: the writer decodes it.
    known: DecodedEvent | None = None
    # Set by the writer when it chooses the answer (not sent over the wire: see the writer's
    # ``_to_wire``, whose fields are the ones above, in this order).
    #: Who chose the answer (``"verification"``, ``"rule:NAME"``; empty: the listener's own).
    answer_source: str = ""
    #: How long the answer waited after the commit, in milliseconds.
    answer_delay_ms: int = 0
    #: ``""``: an HTTP response was given; ``"hold"``: none, the connection was held until the
    #: client gave up; ``"close"``: none, the connection was closed.
    answer_action: str = ""

    @property
    def content_type(self) -> str:
        for key, value in self.headers:
            if key.lower() == "content-type":
                return value
        return ""


#: The capture warning that marks a request whose ``Authorization: Basic`` header is the
#: tunnel's own credentials (ngrok checked it, then forwarded it): ours, not the
#: provider's, so exports leave its value out (see :func:`is_tunnel_credential`).
TUNNEL_CREDENTIALS_WARNING = (
    "the Authorization header holds the tunnel's own basic-auth credentials (checked by "
    "ngrok, not sent by the provider); exports leave its value out"
)
#: What exports show instead of that header's value.
TUNNEL_CREDENTIALS_MASK = "[removed: the tunnel's basic-auth credentials]"


def is_tunnel_credential(name: str, value: str, warnings: Sequence[str]) -> bool:
    """Whether header ``name: value`` of a request with these ``warnings`` is the tunnel's
    basic auth, as the listener marked it when the request came in."""
    return (
        name.lower() == "authorization"
        and value.lstrip()[:6].lower() == "basic "
        and TUNNEL_CREDENTIALS_WARNING in warnings
    )


def rfc3339_from_us(us: int) -> str:
    """RFC 3339 UTC timestamp with microseconds, e.g. ``2026-11-25T16:37:22.123456Z``."""
    dt = datetime.fromtimestamp(us // 1_000_000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{us % 1_000_000:06d}Z"
