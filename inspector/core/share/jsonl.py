"""JSON Lines: one object per request in arrival order, the contract other tools parse.

Keys (never renamed; new ones only added): ``id``, ``seq``, ``received_at``, ``method``,
``path``, ``query``, ``headers``, ``body_text``, ``body_base64``, ``body_size``,
``content_type``, ``response_status``, ``event``, ``product``, ``status``, ``status_class``,
``message_id``, ``from``, ``to``, ``warnings``.  A redacted export adds ``_redacted``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from typing import Any

from inspector.core.session.record import rfc3339_from_us
from inspector.core.session.store import StoredRequest
from inspector.core.share.rows import ExportRow


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


def redaction_note(row: ExportRow) -> dict[str, Any]:
    """What ``_redacted`` says in every format: the masks written, never the originals."""
    return {
        "changes": [{"where": c.where, "kind": c.kind, "mask": c.mask} for c in row.changes or ()],
        "dropped": list(row.dropped),
    }


def jsonl_lines(rows: Iterable[ExportRow], _options: object = None) -> Iterator[str]:
    for row in rows:
        obj = request_to_json(row.request)
        if row.redacted:
            obj["_redacted"] = redaction_note(row)
        # json, not orjson: the same text as every earlier version wrote, and lone
        # surrogates (kept from undecodable header bytes) do not stop the export.
        yield json.dumps(obj, ensure_ascii=False) + "\n"
