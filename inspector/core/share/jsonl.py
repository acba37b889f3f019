"""JSON Lines: one object per request in arrival order, the contract other tools parse.

Keys (never renamed; new ones only added): ``id``, ``seq``, ``received_at``, ``method``,
``path``, ``query``, ``headers``, ``body_text``, ``body_base64``, ``body_size``,
``content_type``, ``response_status``, ``event``, ``product``, ``status``, ``status_class``,
``message_id``, ``from``, ``to``, ``warnings``.  A redacted export adds ``_redacted``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

from inspector.core.session.record import rfc3339_from_us
from inspector.core.session.store import RowSummary, StoredRequest
from inspector.core.share.pieces import LARGE, base64_pieces, is_utf8, json_text_pieces
from inspector.core.share.rows import ExportRow


def decoded_columns(s: RowSummary) -> dict[str, Any]:
    """The decoded event's columns, as JSONL and HAR's ``_webhook`` name them."""
    return {
        "event": s.event,
        "product": s.product,
        "status": s.status,
        "status_class": s.status_class,
        "message_id": s.message_id,
        "from": s.from_addr,
        "to": s.to_addr,
    }


def request_to_json(req: StoredRequest, *, with_body: bool = True) -> dict[str, Any]:
    """The JSONL export contract; other tools parse these keys.  Without the body, its two
    keys are present but empty (for writing it in pieces)."""
    s = req.summary
    body_text: str | None = None
    if with_body:
        try:
            body_text = req.body.decode("utf-8")
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
        "body_base64": base64.b64encode(req.body).decode("ascii") if with_body else "",
        "body_size": s.body_size,
        "content_type": req.content_type,
        "response_status": s.response_status,
        **decoded_columns(s),
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


def relay_json(row: ExportRow) -> dict[str, Any]:
    """``forwards`` (every attempt to send the request to the user's app, oldest first:
    what it answered, or why not) and ``replay_of`` (the original's id, or null)."""
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
        for f in row.forwards
    ]
    return {"forwards": forwards, "replay_of": row.replay_of}


def redaction_note(row: ExportRow) -> dict[str, Any]:
    """What ``_redacted`` says in every format: the masks written, never the originals."""
    return {
        "changes": [{"where": c.where, "kind": c.kind, "mask": c.mask} for c in row.changes or ()],
        "dropped": list(row.dropped),
    }


_BODY_KEYS = ("body_text", "body_base64")


def _large_line(obj: dict[str, Any], body: bytes) -> Iterator[str]:
    """The same line as ``json.dumps(obj)``, with the body written in pieces."""
    keys = list(obj)
    at = keys.index("body_text")
    head = {k: obj[k] for k in keys[:at]}
    tail = {k: obj[k] for k in keys[at + 2 :]}
    yield json.dumps(head, ensure_ascii=False)[:-1] + ', "body_text": '
    if is_utf8(body):
        yield '"'
        yield from json_text_pieces(body)
        yield '"'
    else:
        yield "null"
    yield ', "body_base64": "'
    yield from base64_pieces(body)
    yield '", ' + json.dumps(tail, ensure_ascii=False)[1:] + "\n"


def jsonl_line(row: ExportRow) -> Iterator[str]:
    """One request's line (a large body in pieces)."""
    body = row.request.body
    if len(body) >= LARGE:
        obj = request_to_json(row.request, with_body=False)
    else:
        obj = request_to_json(row.request)
    obj.update(relay_json(row))
    if row.redacted:
        obj["_redacted"] = redaction_note(row)
    if len(body) >= LARGE:
        yield from _large_line(obj, body)
        return
    # json, not orjson: the same text as every earlier version wrote, and lone
    # surrogates (kept from undecodable header bytes) do not stop the export.
    yield json.dumps(obj, ensure_ascii=False) + "\n"
