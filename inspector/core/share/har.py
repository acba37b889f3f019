"""HAR 1.2 that ``har-validator`` accepts and the usual importers open (see ``har.md``).

One entry per request, written as it is read (the file is never built in memory):

- the request exactly: headers in order with duplicates, the full body; a body that is not
  UTF-8 is ``request._content = {"text": <base64>, "size": n, "encoding": "base64"}`` (HAR
  1.2 has no ``encoding`` for ``postData``; HTTP Toolkit's field of the same name), with
  an empty ``postData.text``;
- the response is what we answered (status, headers, body);
- ``comment`` names the event, its status and message id (Insomnia names requests by it);
- ``_webhook`` holds our decoded fields and what HAR has no place for (exact path and
  query, arrival time in µs, client address, warnings, the file a row was imported from);
- ``_redacted`` (redacted exports only) lists every mask written;
- one page, the session, since older Safari refused a HAR without ``pages[0]``.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, quote

import orjson

from inspector import __version__
from inspector.core.session.record import rfc3339_from_us
from inspector.core.session.store import StoredRequest
from inspector.core.share.jsonl import decoded_columns, redaction_note, relay_json
from inspector.core.share.pieces import LARGE, base64_pieces, is_utf8, json_text_pieces
from inspector.core.share.rows import ExportRow

#: Where requests are said to have gone when no ``--base-url`` is given and a request has
#: no usable ``Host`` header.
DEFAULT_BASE_URL = "http://127.0.0.1:8765"

_HOST = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$")
_PATH_SAFE = "/!$&'()*+,;=:@-._~"
_QUERY_SAFE = _PATH_SAFE + "?"
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True, slots=True)
class HarOptions:
    #: ``scheme://host[:port]`` every URL starts with; ``None``: the request's Host header.
    base_url: str | None = None
    session_name: str = "session"


def base_url_for(req: StoredRequest, base_url: str | None) -> str:
    """The scheme and host a request was sent to: the user's, else its Host header."""
    if base_url:
        return base_url.rstrip("/")
    for key, value in req.headers:
        if key.lower() == "host":
            host = value.strip()
            if _HOST.match(host):
                return f"http://{host}"
            break
    return DEFAULT_BASE_URL


def _uri_part(text: str, safe: str) -> str:
    """``text`` as URI characters: what is already a %-escape stays, the rest is escaped."""
    return quote(_BAD_PERCENT.sub("%25", text), safe=safe + "%")


def request_url(req: StoredRequest, base_url: str | None) -> str:
    s = req.summary
    url = base_url_for(req, base_url) + _uri_part(s.path or "/", _PATH_SAFE)
    if s.query:
        url += "?" + _uri_part(s.query, _QUERY_SAFE)
    return url


def _mime(content_type: str, fallback: str) -> str:
    return content_type or fallback


def _status_text(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _headers(pairs: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in pairs]


def _header(pairs: Iterable[tuple[str, str]], name: str) -> str:
    for k, v in pairs:
        if k.lower() == name:
            return v
    return ""


def entry_comment(req: StoredRequest) -> str:
    s = req.summary
    parts = [s.event or "not decoded"]
    if s.status:
        parts.append(s.status)
    if s.message_id:
        parts.append(f"message {s.message_id}")
    return " · ".join(parts)


#: Stands in for a large body in an entry while it is serialised, then the body is written
#: in its place in pieces.  Random per process: no request can contain it by design.
_SENTINEL = f"\x00{secrets.token_hex(16)}\x00"
_SENTINEL_JSON = json.dumps(_SENTINEL)[1:-1]


class _Large:
    """Bodies of one entry written in pieces, in the order their sentinels appear."""

    def __init__(self) -> None:
        self.parts: list[tuple[str, bytes]] = []  # ("text" | "base64", data)

    def text(self, kind: str, data: bytes) -> str:
        self.parts.append((kind, data))
        return _SENTINEL


def _body_text(data: bytes, large: _Large | None) -> str | None:
    """The body as text (``None`` if it is not UTF-8), or a sentinel for a large one."""
    if large is not None and len(data) >= LARGE:
        return large.text("text", data) if is_utf8(data) else None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _base64(data: bytes, large: _Large | None) -> str:
    if large is not None and len(data) >= LARGE:
        return large.text("base64", data)
    return base64.b64encode(data).decode("ascii")


def har_entry(
    row: ExportRow, options: HarOptions, large: _Large | None = None
) -> dict[str, Any]:
    """One HAR entry; with ``large``, bodies of :data:`LARGE` bytes or more are left as
    sentinels for :func:`har_entry_chunks` to write in pieces."""
    req = row.request
    s = req.summary
    request: dict[str, Any] = {
        "method": s.method,
        "url": request_url(req, options.base_url),
        "httpVersion": f"HTTP/{req.http_version}",
        "cookies": [],
        "headers": _headers(req.headers),
        "queryString": [
            {"name": k, "value": v} for k, v in parse_qsl(s.query, keep_blank_values=True)
        ],
        "headersSize": -1,
        "bodySize": len(req.body),
    }
    if req.body or s.method not in ("GET", "HEAD"):
        mime = _mime(req.content_type, "application/octet-stream")
        text = _body_text(req.body, large)
        if text is None:
            request["postData"] = {"mimeType": mime, "text": ""}
            request["_content"] = {
                "text": _base64(req.body, large),
                "size": len(req.body),
                "encoding": "base64",
            }
        else:
            post: dict[str, Any] = {"mimeType": mime, "text": text}
            if mime.split(";")[0].strip().lower() == _FORM and len(req.body) < LARGE:
                # Chrome writes both, and readers that look only at params find the fields.
                post["params"] = [
                    {"name": k, "value": v} for k, v in parse_qsl(text, keep_blank_values=True)
                ]
            request["postData"] = post
    content: dict[str, Any] = {
        "size": len(req.response_body),
        "mimeType": _header(req.response_headers, "content-type") or "application/octet-stream",
    }
    resp_text = _body_text(req.response_body, large)
    if resp_text is not None:
        content["text"] = resp_text
    else:
        content["text"] = _base64(req.response_body, large)
        content["encoding"] = "base64"
    entry: dict[str, Any] = {
        "pageref": "page_1",
        "startedDateTime": rfc3339_from_us(s.received_us),
        "time": 0,
        "request": request,
        "response": {
            "status": s.response_status,
            "statusText": _status_text(s.response_status),
            "httpVersion": f"HTTP/{req.http_version}",
            "cookies": [],
            "headers": _headers(req.response_headers),
            "content": content,
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": len(req.response_body),
        },
        "cache": {},
        "timings": {"send": 0, "wait": 0, "receive": 0},
        "comment": entry_comment(req),
        # What the user's app answered to forwards and replays of this request.
        "_forwards": relay_json(row)["forwards"],
        "_replayOf": row.replay_of,
        "_webhook": {
            "id": s.id,
            "seq": s.seq,
            "received_us": s.received_us,
            "path": s.path,
            "query": s.query,
            "remote": s.remote,
            "client_addr": s.client_addr,
            "via_tunnel": s.via_tunnel,
            "declared_size": req.declared_size,
            **decoded_columns(s),
            "summary": s.summary,
            "warnings": req.warnings,
            "imported_from": row.imported_from,
        },
    }
    if row.redacted:
        entry["_redacted"] = redaction_note(row)
    return entry


def _dumps(obj: Any) -> str:
    try:
        return orjson.dumps(obj).decode()
    except TypeError:  # a lone surrogate: json writes it as an escape
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def har_head(started_us: int | None, options: HarOptions) -> str:
    """The file up to its first entry; the page starts when the first request arrived
    (``started_us``; now, for an empty export)."""
    if started_us is None:
        started_us = int(datetime.now(UTC).timestamp() * 1_000_000)
    log_head = {
        "version": "1.2",
        "creator": {"name": "Webhook Inspector", "version": __version__},
        "pages": [
            {
                "startedDateTime": rfc3339_from_us(started_us),
                "id": "page_1",
                "title": options.session_name,
                "pageTimings": {},
            }
        ],
    }
    return '{"log":' + _dumps(log_head)[:-1] + ',"entries":[\n'


#: Between two entries, and after the last one.
HAR_SEPARATOR = ",\n"
HAR_TAIL = "\n]}}\n"


def har_entry_chunks(row: ExportRow, opts: HarOptions) -> Iterator[str]:
    """One entry's text (a large body in pieces)."""
    large = _Large()
    text = _dumps(har_entry(row, opts, large))
    if not large.parts:
        yield text
        return
    pieces = text.split(_SENTINEL_JSON)
    for (kind, data), piece in zip(large.parts, pieces, strict=False):
        yield piece
        yield from (json_text_pieces(data) if kind == "text" else base64_pieces(data))
    yield pieces[-1]
