"""One line of text per captured request, as ``capture`` prints them."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from inspector.core.session.store import RowSummary


@lru_cache(maxsize=4)
def _clock(second: int) -> str:
    """Local HH:MM:SS of a Unix second; lines come in bursts within one second."""
    return datetime.fromtimestamp(second).strftime("%H:%M:%S")


def format_line(r: RowSummary) -> str:
    second, us = divmod(r.received_us, 1_000_000)
    t = f"{_clock(second)}.{us // 1000:03d}"
    path = r.path + (f"?{r.query}" if r.query and r.method == "GET" else "")
    if len(path) > 24:
        path = path[:23] + "\u2026"
    status = r.status if r.status and len(r.status) <= 12 else r.status_class
    party = r.from_addr if r.status_class == "inbound" else (r.to_addr or r.from_addr)
    parts = [
        t,
        f"{r.method:<6} {path:<10}",
        f"{r.event or '-':<24}",
        f"{status:<8}",
        party,
    ]
    if r.summary and r.status_class == "inbound":
        text = r.summary if len(r.summary) <= 40 else r.summary[:39] + "\u2026"
        parts.append(f'"{text}"')
    if r.attempt > 1:
        parts.append(f"(retry {r.attempt})")
    if r.auth_result and r.auth_result != "ok":
        parts.append(f"[auth {r.auth_result}]")
    if r.response_status >= 400:
        parts.append(f"[{r.response_status}]")
    if r.warning_count:
        parts.append(f"({r.warning_count} warning{'s' if r.warning_count > 1 else ''})")
    return "  ".join(p for p in parts if p)
