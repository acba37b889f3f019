"""Copy for an issue tracker: a Markdown table of the requests, each one's JSON below it.

Meant to be pasted into GitHub, GitLab or Jira; always built from redacted rows by the
callers that share (the window's "Copy for issue tracker").  Cells are escaped so that
payload text cannot close the table, start a link or inject HTML.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator

from inspector.core.session.record import rfc3339_from_us
from inspector.core.share.jsonl import redaction_note
from inspector.core.share.rows import ExportRow

_CELL_ESCAPE = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def cell(text: str) -> str:
    """Plain text for one table cell (Markdown and HTML characters escaped)."""
    return _CELL_ESCAPE.sub(r"\\\1", _CONTROL.sub(" ", text)) or "—"


def _body_block(row: ExportRow) -> str:
    req = row.request
    try:
        text = req.body.decode("utf-8")
    except UnicodeDecodeError:
        return f"*binary body, {len(req.body)} bytes, not shown*"
    try:
        text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        lang = "json"
    except ValueError:
        lang = ""
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}{lang}\n{text}\n{fence}"


def markdown_chunks(rows: Iterable[ExportRow], _options: object = None) -> Iterator[str]:
    details: list[str] = []
    yield "| # | Time (UTC) | Event | Status | Message id | Answer |\n"
    yield "|---|---|---|---|---|---|\n"
    for row in rows:
        s = row.request.summary
        yield (
            f"| {s.seq} | {rfc3339_from_us(s.received_us)} | {cell(s.event)} | "
            f"{cell(s.status)} | {cell(s.message_id)} | {s.response_status} |\n"
        )
        note = ""
        if row.redacted:
            n = len(redaction_note(row)["changes"])
            note = f" (redacted: {n} value{'s' if n != 1 else ''} masked)"
        details.append(
            f"\n**#{s.seq}** {cell(s.method + ' ' + s.path)}{note}\n\n{_body_block(row)}\n"
        )
    yield from details
