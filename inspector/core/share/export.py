"""Export a session: one JSON object per request, in arrival order."""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Callable
from typing import IO, Any

from inspector.core.session.forwards import forwards_for, replay_of
from inspector.core.session.record import rfc3339_from_us
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
        "headers": [[k, v] for k, v in req.headers],
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
    }


def relay_to_json(conn: sqlite3.Connection, request_id: int) -> dict[str, Any]:
    """The export's ``forwards`` (every attempt to send the request to the user's app,
    oldest first) and ``replay_of`` (the original's id, or null) for one stored row."""
    forwards = [
        {
            "url": f.url,
            "status": f.answer.status,
            "headers": [[k, v] for k, v in f.answer.headers],
            "body_base64": base64.b64encode(f.answer.body).decode("ascii"),
            "duration_ms": round(f.answer.duration_ms, 3),
            "error": f.answer.error or None,
            "attempt": f.attempt,
            "at": rfc3339_from_us(f.at_us),
        }
        for f in forwards_for(conn, request_id)
    ]
    return {"forwards": forwards, "replay_of": replay_of(conn, request_id)}


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
        row = request_to_json(req)
        row.update(relay_to_json(conn, req.id))
        out.write(json.dumps(row, ensure_ascii=False))
        out.write("\n")
        n += 1
        if progress is not None and n % 1000 == 0:
            progress(n)
    if progress is not None:
        progress(n)
    return n
