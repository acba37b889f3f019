"""Pages in the far half of the table are read from the other end; the order must not change."""

from __future__ import annotations

from PySide6.QtCore import Qt

from inspector.core.session.store import SessionStore
from inspector.gui.table_model import COLUMN_INDEX, PAGE_SIZE, EventTableModel

from .conftest import append, status_body


def test_every_row_is_in_place_across_both_halves(store: SessionStore, qtmodeltester) -> None:
    n = PAGE_SIZE * 5 + 17
    statuses = ["sent", "delivered", "read", "failed"]
    append(
        store,
        [
            ("/whatsapp", status_body("whatsapp:message:status", statuses[i % 4], f"m-{i:05d}"))
            for i in range(n)
        ],
    )
    model = EventTableModel(store)
    try:
        assert model.rowCount() == n
        assert [model.id_at(r) for r in range(n)] == list(range(1, n + 1))
        model.sort(COLUMN_INDEX["status"], Qt.SortOrder.DescendingOrder)
        got = [model.summary_at(r) for r in range(n)]
        keys = [(s.status.lower(), s.id) for s in got if s is not None]
        assert len(keys) == n
        assert keys == sorted(keys, reverse=True), "far-half pages must keep the sort order"
        qtmodeltester.check(model)
    finally:
        model.close()
