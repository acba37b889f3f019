"""What a redacted export will change, before anything is written: the preview's pieces.

A selection may hold a million requests, so nothing here holds them all: the ids are read
a page at a time where a row is asked for, a request is redacted when it is looked at,
and the summary of the whole selection is counted by streaming it through a redactor, as
the export itself does (so the counts are the file's).  Masks depend only on a redactor's
key: a request redacted alone, with a redactor that has the export's key, gets exactly the
masks the file will have.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable, Iterator, Sequence

from inspector.core.session.query import fetch_ids, register_functions
from inspector.core.share.export import ExportCancelled, export_rows
from inspector.core.share.redact import RedactionSummary, Redactor
from inspector.core.share.rows import ExportRow
from inspector.core.share.selection import Selection

__all__ = ["SelectionIds", "count_redactions", "frozen", "redacted_rows"]

#: Rows between two calls of ``progress`` while counting.
PROGRESS_EVERY = 500


def frozen(conn: sqlite3.Connection, selection: Selection) -> Selection:
    """``selection`` as it stands now: a filter's matches bounded by the newest id, so
    requests that arrive while the user looks are neither previewed, counted nor written."""
    if selection.ids is not None:
        return selection
    newest = conn.execute("SELECT max(id) FROM requests").fetchone()[0] or 0
    query = selection.query
    bounded = dataclasses.replace(
        query, where=f"id <= ? AND ({query.where})", params=(newest, *query.params)
    )
    return Selection(bounded)


class SelectionIds:
    """The selection's ids by row (arrival order), read a page at a time when asked for."""

    def __init__(self, conn: sqlite3.Connection, selection: Selection) -> None:
        self.conn = conn
        self.selection = selection
        register_functions(conn)
        self.count = selection.count(conn)

    def ids(self, start: int, stop: int) -> list[int]:
        """Ids of rows ``start`` (inclusive) to ``stop`` (exclusive)."""
        start, stop = max(0, start), min(stop, self.count)
        if start >= stop:
            return []
        if self.selection.ids is not None:
            return list(self.selection.ids[start:stop])
        return fetch_ids(self.conn, self.selection.query, offset=start, limit=stop - start)


def redacted_rows(
    conn: sqlite3.Connection, ids: Sequence[int], redactor: Redactor
) -> Iterator[ExportRow]:
    """These requests (in id order) redacted as the export redacts them, one at a time:
    a caller can stop after any of them."""
    return export_rows(conn, Selection.of_ids(ids), redactor=redactor)


def count_redactions(
    conn: sqlite3.Connection,
    selection: Selection,
    redactor: Redactor | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    every: int = PROGRESS_EVERY,
) -> RedactionSummary:
    """Redact the whole selection, writing nothing, and return what the export's summary
    will say.  Streams: memory stays a few MiB whatever the selection holds.

    ``progress(done, total)`` is called every ``every`` rows and at the end; ``cancelled``
    is asked between rows (then :class:`~inspector.core.share.export.ExportCancelled`).
    ``redactor`` (its options) decides what is masked; its summary starts afresh.
    """
    redactor = redactor or Redactor()
    redactor.summary = RedactionSummary()
    total = selection.count(conn)
    if progress is not None:
        progress(0, total)
    done = 0
    for _row in export_rows(conn, selection, redactor=redactor, cancelled=cancelled):
        done += 1
        if cancelled is not None and cancelled():
            raise ExportCancelled()
        if progress is not None and done % every == 0:
            progress(done, total)
    if cancelled is not None and cancelled():
        raise ExportCancelled()
    if progress is not None:
        progress(done, total)
    return redactor.summary
