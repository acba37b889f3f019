"""The unit every export format reads: one stored request plus what sharing adds to it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import NamedTuple

from inspector.core.session.forwards import ForwardRecord
from inspector.core.session.record import TUNNEL_CREDENTIALS_MASK, is_tunnel_credential
from inspector.core.session.store import StoredRequest


class Change(NamedTuple):
    """One value redaction replaced: where, what kind, and the mask written instead.

    ``original`` is for the local preview only; no format ever writes it.  A named
    tuple: a request has a dozen of these, and a frozen dataclass costs three times
    as much to make.
    """

    where: str
    kind: str
    original: str
    mask: str


@dataclass(frozen=True, slots=True)
class ExportRow:
    request: StoredRequest
    #: The file the row was imported from ('' when it was captured here).
    imported_from: str = ""
    #: ``None``: not redacted; else every change made (possibly none).
    changes: tuple[Change, ...] | None = None
    #: Whole parts dropped by redaction that have no single value (a binary body...).
    dropped: tuple[str, ...] = field(default_factory=tuple)
    #: Every attempt to send the request to the user's app (forwards and replays).
    forwards: tuple[ForwardRecord, ...] = ()
    #: The row this one replays, if it is a replay.
    replay_of: int | None = None

    @property
    def redacted(self) -> bool:
        return self.changes is not None


def without_tunnel_credentials(req: StoredRequest) -> StoredRequest:
    """``req`` as every export shows it: the tunnel's own basic-auth header (our password,
    not the provider's; the listener marked it) replaced, the session keeping it as it came."""
    if not any(is_tunnel_credential(k, v, req.warnings) for k, v in req.headers):
        return req
    headers = [
        (k, TUNNEL_CREDENTIALS_MASK if is_tunnel_credential(k, v, req.warnings) else v)
        for k, v in req.headers
    ]
    return dataclasses.replace(req, headers=headers)
