"""One line of text per captured request, as ``capture`` prints them.

Fixed-width columns (time, method, path, event, status, party), each cut with an ellipsis
when longer and measured in terminal cells (a CJK character takes two), so that lines stay
aligned whatever a request carries; every field that comes
from a request is made inert first (see :mod:`inspector.core.capture.terminal`).
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from functools import lru_cache

from inspector.core.capture.terminal import terminal_safe
from inspector.core.provider.catalogue import EVENTS
from inspector.core.session.store import RowSummary

_METHOD = 7  # OPTIONS
_PATH = 16
#: The longest name in the provider's catalogue (contacts:subscriber:subscription).
_EVENT = max(len(e.name) for e in EVENTS)
_STATUS = 12
_PARTY = 16
_TEXT = 40


@lru_cache(maxsize=4)
def _clock(second: int) -> str:
    """Local HH:MM:SS of a Unix second; lines come in bursts within one second."""
    return datetime.fromtimestamp(second).strftime("%H:%M:%S")


def _cells(ch: str) -> int:
    """Terminal cells of one character: 2 for wide (CJK, most emoji), 0 for combining."""
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def _cut(text: str, width: int) -> str:
    """``text`` made inert, cut with an ellipsis and padded to ``width`` terminal cells."""
    text = terminal_safe(text)
    if text.isascii():
        return text.ljust(width) if len(text) <= width else text[: width - 1] + "\u2026"
    cells = [_cells(ch) for ch in text]
    if sum(cells) <= width:
        return text + " " * (width - sum(cells))
    used = 0
    for i, n in enumerate(cells):
        if used + n > width - 1:
            return text[:i] + "\u2026" + " " * (width - 1 - used)
        used += n
    return text  # not reached


def format_line(r: RowSummary) -> str:
    second, us = divmod(r.received_us, 1_000_000)
    path = r.path + (f"?{r.query}" if r.query and r.method == "GET" else "")
    status = r.status if r.status and len(r.status) <= _STATUS else r.status_class
    party = r.from_addr if r.status_class == "inbound" else (r.to_addr or r.from_addr)
    parts = [
        f"{_clock(second)}.{us // 1000:03d}",
        _cut(r.method, _METHOD),
        _cut(path, _PATH),
        _cut(r.event or "-", _EVENT),
        _cut(status, _STATUS),
        _cut(party, _PARTY),
    ]
    if r.summary and r.status_class == "inbound":
        parts.append(f'"{_cut(r.summary, _TEXT).rstrip()}"')
    if r.attempt > 1:
        parts.append(f"(retry {r.attempt})")
    if r.auth_result and r.auth_result != "ok":
        parts.append(f"[auth {r.auth_result}]")
    if r.response_status >= 400:
        parts.append(f"[{r.response_status}]")
    if r.warning_count:
        parts.append(f"({r.warning_count} warning{'s' if r.warning_count > 1 else ''})")
    return "  ".join(parts).rstrip()
