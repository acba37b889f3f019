"""Helpers for the redaction tests: stored rows read back from a session."""

from __future__ import annotations

from pathlib import Path

from inspector.core.session.store import StoredRequest, iter_requests, open_existing


def stored_rows(session: Path) -> list[StoredRequest]:
    conn = open_existing(session)
    try:
        return list(iter_requests(conn))
    finally:
        conn.close()
