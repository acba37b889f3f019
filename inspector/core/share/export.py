"""Export a session: one JSON object per request, in arrival order."""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Callable
from typing import IO, Any

from inspector.core.session.record import (
    TUNNEL_CREDENTIALS_MASK,
    is_tunnel_credential,
    rfc3339_from_us,
)
from inspector.core.session.store import StoredRequest, iter_requests


def request_to_json(req: StoredRequest) -> dict[str, Any]:
    """The JSONL export contract; other tools parse these keys."""
    s = req.summary
    try:
        body_text: str | None = req.body.decode("utf-8")
    except UnicodeDecodeError:
        body_text = None
    return {
        "id": s.id,
        "seq": s.seq,
        "received_at": rfc3339_from_us(s.received_us),
        "method": s.method,
        "path": s.path,
        "query": s.query,
        "headers": [
            [k, TUNNEL_CREDENTIALS_MASK if is_tunnel_credential(k, v, req.warnings) else v]
            for k, v in req.headers
        ],
        "body_text": body_text,
        "body_base64": base64.b64encode(req.body).decode("ascii"),
        "body_size": s.body_size,
        "content_type": req.content_type,
        "response_status": s.response_status,
        "event": s.event,
        "product": s.product,
        "status": s.status,
        "status_class": s.status_class,
        "message_id": s.message_id,
        "from": s.from_addr,
        "to": s.to_addr,
        "warnings": req.warnings,
        **provider_keys(req),
    }


def provider_keys(req: StoredRequest) -> dict[str, Any]:
    """``auth``, ``attempt``, ``first_id``, ``verification``: what the capture-time checks
    found. Results and labels only: the secrets and keys themselves are never stored."""
    return {
        "auth": [{"check": c, "result": r, "detail": d} for c, r, d in req.auth],
        "attempt": req.summary.attempt,
        "first_id": req.first_id,
        "verification": req.verification,
    }


def count_requests(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM requests").fetchone()[0])


def export_jsonl(
    conn: sqlite3.Connection,
    out: IO[str],
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write every request as one JSON line; returns how many were written."""
    n = 0
    for req in iter_requests(conn):
        out.write(json.dumps(request_to_json(req), ensure_ascii=False))
        out.write("\n")
        n += 1
        if progress is not None and n % 1000 == 0:
            progress(n)
    if progress is not None:
        progress(n)
    return n
