"""Which requests an export covers (all, a filter's matches, chosen ids), read a few at a time.

Rows are fetched in groups bounded by their size in bytes, not by their number: 256 rows of
25 MiB each are 6 GiB, so a count alone never bounds memory.  Sizes come from SQLite's
``length()`` of the blobs, which reads a row's header, not its body.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from inspector.core.session.query import (
    MATCH_ALL,
    CompiledQuery,
    compile_query,
    count_matching,
    fetch_ids,
    register_functions,
)
from inspector.core.session.store import StoredRequest, get_requests

#: Bytes of request data (bodies and headers) held at once while exporting.
BATCH_BYTES = 4 << 20
#: Ids looked up per query while walking a filter's matches.
_ID_PAGE = 2048

_SIZES = (
    "SELECT id, length(headers) + length(body) + length(response_headers) "
    "+ length(response_body) FROM request_data WHERE id IN "
)


@dataclass(frozen=True, slots=True)
class Selection:
    """What to export: every request, those a filter matches, or the given ids (in order)."""

    query: CompiledQuery = MATCH_ALL
    ids: tuple[int, ...] | None = None

    @classmethod
    def from_filter(cls, text: str | None) -> Selection:
        """Raises :class:`~inspector.core.session.query.QueryError` for a bad filter."""
        return cls(compile_query(text or ""))

    @classmethod
    def of_ids(cls, ids: Iterable[int]) -> Selection:
        return cls(ids=tuple(sorted(set(ids))))

    def count(self, conn: sqlite3.Connection) -> int:
        if self.ids is not None:
            return len(self.ids)
        register_functions(conn)
        return count_matching(conn, self.query)

    def iter_ids(self, conn: sqlite3.Connection) -> Iterator[list[int]]:
        """The selected ids in arrival order, a page at a time."""
        if self.ids is not None:
            for start in range(0, len(self.ids), _ID_PAGE):
                yield list(self.ids[start : start + _ID_PAGE])
            return
        register_functions(conn)
        last = 0
        while True:
            page = fetch_ids(conn, self.query, limit=_ID_PAGE, min_id=last)
            if not page:
                return
            yield page
            last = page[-1]


def _size_groups(
    conn: sqlite3.Connection, ids: Sequence[int], budget: int
) -> Iterator[list[int]]:
    placeholders = ",".join("?" for _ in ids)
    sizes = dict(conn.execute(f"{_SIZES}({placeholders})", tuple(ids)).fetchall())
    group: list[int] = []
    held = 0
    for rid in ids:
        size = int(sizes.get(rid) or 0)
        if group and held + size > budget:
            yield group
            group, held = [], 0
        group.append(rid)
        held += size
    if group:
        yield group


def iter_groups(
    conn: sqlite3.Connection,
    selection: Selection,
    *,
    budget: int = BATCH_BYTES,
    rows: int = _ID_PAGE,
    cancelled: Callable[[], bool] | None = None,
) -> Iterator[list[int]]:
    """The selected ids in arrival order, in groups of about ``budget`` bytes of request
    data and at most ``rows`` ids (one id alone when a single row is larger)."""
    for page in selection.iter_ids(conn):
        for start in range(0, len(page), rows):
            for group in _size_groups(conn, page[start : start + rows], budget):
                if cancelled is not None and cancelled():
                    return
                yield group


def iter_selected(
    conn: sqlite3.Connection,
    selection: Selection = Selection(),  # noqa: B008 - frozen, immutable default
    *,
    budget: int = BATCH_BYTES,
    cancelled: Callable[[], bool] | None = None,
) -> Iterator[StoredRequest]:
    """The selected requests in arrival order, holding about ``budget`` bytes at a time
    (one row at a time when a single row is larger)."""
    for group in iter_groups(conn, selection, budget=budget, cancelled=cancelled):
        yield from get_requests(conn, group)
