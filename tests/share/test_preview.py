"""The preview's core: the whole selection's summary counted as the file will say it,
ids read by row, and a selection frozen when the preview opens."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from itertools import chain
from pathlib import Path

import pytest

from inspector.core.session.record import CapturedRequest
from inspector.core.session.store import SessionStore, open_existing
from inspector.core.share.export import ExportCancelled, ExportOptions, export_to
from inspector.core.share.preview import SelectionIds, count_redactions, frozen, redacted_rows
from inspector.core.share.redact import RedactionOptions, Redactor
from inspector.core.share.selection import Selection
from tests.factories import append_decoded
from tests.share.conftest import catalogue_requests, delivery_variants

MakeSession = Callable[[list[CapturedRequest]], Path]


def many(n: int) -> list[CapturedRequest]:
    """``n`` distinct requests, the catalogue over and over."""
    out: list[CapturedRequest] = []
    while len(out) < n:
        out.extend(catalogue_requests() + delivery_variants())
    return out[:n]


def har_entries(conn, selection: Selection, redactor: Redactor) -> tuple[list[dict], str]:  # noqa: ANN001
    out = io.StringIO()
    result = export_to(conn, out, selection, ExportOptions(format="har", redact=True),
                       redactor=redactor)
    assert result.redaction is not None
    return json.loads(out.getvalue())["log"]["entries"], result.redaction.sentence()


def test_the_count_says_what_the_file_says(make_session: MakeSession) -> None:
    session = make_session(many(300))
    conn = open_existing(session)
    try:
        options = RedactionOptions(frozenset({"source"}), frozenset({"918068281234"}))
        steps: list[tuple[int, int]] = []
        summary = count_redactions(conn, Selection(), Redactor(options), every=50,
                                   progress=lambda d, t: steps.append((d, t)))
        _entries, sentence = har_entries(conn, Selection(), Redactor(options))
    finally:
        conn.close()
    assert summary.sentence() == sentence and summary.rows == 300
    assert "phone numbers" in sentence and "secrets" in sentence
    assert steps[0] == (0, 300) and steps[-1] == (300, 300)
    assert [d for d, _ in steps] == sorted(d for d, _ in steps) and len(steps) >= 7


def test_the_count_is_cancelled_between_rows(make_session: MakeSession) -> None:
    session = make_session(many(200))
    conn = open_existing(session)
    seen: list[int] = []
    try:
        with pytest.raises(ExportCancelled):
            count_redactions(conn, Selection(), progress=lambda d, _t: seen.append(d),
                             every=10, cancelled=lambda: bool(seen) and seen[-1] >= 30)
    finally:
        conn.close()
    assert seen[-1] == 30


def test_a_row_redacted_alone_gets_the_masks_of_the_file(make_session: MakeSession) -> None:
    session = make_session(many(400))
    conn = open_existing(session)
    key = b"k" * 32
    try:
        entries, _ = har_entries(conn, Selection(), Redactor(key=key))
        ids = [i for page in Selection().iter_ids(conn) for i in page]
        for row in (0, 199, 399):
            alone = next(iter(redacted_rows(conn, [ids[row]], Redactor(key=key))))
            masks = [{"where": c.where, "kind": c.kind, "mask": c.mask} for c in alone.changes or ()]
            assert masks and masks == entries[row]["_redacted"]["changes"]
    finally:
        conn.close()


def test_ids_by_row_for_a_filter_and_for_chosen_ids(make_session: MakeSession) -> None:
    session = make_session(many(600))
    conn = open_existing(session)
    try:
        selection = Selection.from_filter("product:whatsapp")
        every = list(chain.from_iterable(selection.iter_ids(conn)))
        index = SelectionIds(conn, selection)
        assert index.count == len(every) > 100
        assert index.ids(0, 10) == every[:10]
        assert index.ids(index.count - 5, index.count + 50) == every[-5:]
        assert index.ids(index.count, index.count + 1) == []
        chosen = SelectionIds(conn, Selection.of_ids([9, 3, 5]))
        assert chosen.count == 3 and chosen.ids(1, 3) == [5, 9]
    finally:
        conn.close()


def test_a_frozen_selection_leaves_out_what_arrives_later(make_session: MakeSession) -> None:
    session = make_session(many(50))
    conn = open_existing(session)
    try:
        selection = frozen(conn, Selection.from_filter("product:sms"))
        before = selection.count(conn)
        store = SessionStore(session)
        more = catalogue_requests()
        for i, r in enumerate(more, 100):
            r.seq = i
        append_decoded(store, more)
        store.close()
        assert Selection.from_filter("product:sms").count(conn) > before
        assert selection.count(conn) == before
        assert count_redactions(conn, selection).rows == before
        assert SelectionIds(conn, selection).count == before
        assert frozen(conn, Selection.of_ids([1, 2])) == Selection.of_ids([1, 2])
    finally:
        conn.close()
