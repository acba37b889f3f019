"""The lazy JSON tree model: chunked loading, paths, copy text, search."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex

from inspector.core.provider.lenient_json import parse_lenient
from inspector.gui.detail.json_model import (
    CHUNK,
    PATH_ROLE,
    JsonSearch,
    JsonTreeModel,
    path_step,
)

CATALOGUE = Path(__file__).parent.parent / "fixtures" / "catalogue"


def _model(qtbot: Any, value: Any) -> JsonTreeModel:
    model = JsonTreeModel()
    model.set_document(value)
    return model


def _search_all(document: Any, query: str) -> list[tuple[int, ...]]:
    search = JsonSearch(document, query)
    hits = []
    while not search.done:
        hit = search.step(1000)
        if hit is not None:
            hits.append(hit)
    return hits


def _inbound() -> Any:
    result = parse_lenient((CATALOGUE / "04_whatsapp_message_in_text.json").read_text())
    assert result.ok
    return result.value


def test_modeltester_on_catalogue_payload(qtmodeltester: Any) -> None:
    model = JsonTreeModel()
    model.set_document(_inbound())
    qtmodeltester.check(model)
    top = model.index(0, 0)
    model.fetchMore(top)
    model.fetchMore(model.index(0, 0, top))
    qtmodeltester.check(model)


def test_modeltester_on_huge_array_and_scalar(qtmodeltester: Any) -> None:
    model = JsonTreeModel()
    model.set_document({"items": list(range(2 * CHUNK + 7)), "s": "x"})
    qtmodeltester.check(model)
    scalar = JsonTreeModel()
    scalar.set_document("just a string")
    qtmodeltester.check(scalar)
    empty = JsonTreeModel()
    qtmodeltester.check(empty)


def test_hundred_thousand_items_load_one_chunk_at_a_time(qtbot: Any) -> None:
    model = _model(qtbot, list(range(100_000)))
    top = model.index(0, 0)
    assert model.rowCount() == 1
    assert model.hasChildren(top)
    assert model.rowCount(top) == 0, "nothing is built before a view asks"
    assert model.canFetchMore(top)
    model.fetchMore(top)
    assert model.rowCount(top) == CHUNK
    assert model.loaded_count() == 1 + CHUNK
    model.fetchMore(top)
    assert model.rowCount(top) == 2 * CHUNK
    assert model.data(model.index(2 * CHUNK - 1, 1, top)) == str(2 * CHUNK - 1)
    # Jumping to a far row builds only up to that row's chunk.
    far = model.index_for_rows((0, 54_321))
    assert model.json_path(far) == "$[54321]"
    assert model.rowCount(top) == 54_500  # up to the end of row 54321's chunk
    # Rows keep their indexes: parent() of a loaded child points at its real row.
    assert far.parent() == top
    assert model.index(far.row(), 0, top) == far


def test_rows_inserted_signal_when_fetching(qtbot: Any) -> None:
    model = _model(qtbot, {"a": list(range(1200))})
    top = model.index(0, 0)
    model.fetchMore(top)
    arr = model.index(0, 0, top)
    with qtbot.waitSignal(model.rowsInserted) as blocker:
        model.fetchMore(arr)
    parent, first, last = blocker.args
    assert QModelIndex(parent) == arr and (first, last) == (0, CHUNK - 1)
    model.fetchMore(arr)
    model.fetchMore(arr)
    assert model.rowCount(arr) == 1200
    assert not model.canFetchMore(arr)


def test_paths_and_copy_text(qtbot: Any) -> None:
    model = _model(qtbot, _inbound())
    to = model.index_for_rows((0, 1, 1, 0, 1))
    assert model.data(to, PATH_ROLE) == "$.payload.channels[0].to"
    assert model.copy_text(to) == "919019120xxx"
    email = model.index_for_rows((0, 1, 2, 1, 4))
    assert model.json_path(email) == "$.payload.recipient.user.email"
    assert model.copy_text(email) == "null"
    assert model.data(email.siblingAtColumn(2)) == "null"
    channels = model.index_for_rows((0, 1, 1))
    assert json.loads(model.copy_text(channels)) == [{"name": "whatsapp", "to": "919019120xxx"}]
    assert model.data(channels.siblingAtColumn(1)) == "[1 item]"
    assert model.json_path(model.index(0, 0)) == "$"


@pytest.mark.parametrize(
    ("key", "step"),
    [
        ("to", ".to"),
        (3, "[3]"),
        ("a b", '["a b"]'),
        ('q"x', '["q\\"x"]'),
        ("1st", '["1st"]'),
        ("", '[""]'),
    ],
)
def test_path_steps_quote_odd_keys(key: str | int, step: str) -> None:
    assert path_step(key) == step


def test_value_column_truncates_long_strings(qtbot: Any) -> None:
    model = _model(qtbot, {"big": "x" * 100_000, "nl": "a\nb"})
    top = model.index(0, 0)
    model.fetchMore(top)
    shown = model.data(model.index(0, 1, top))
    assert len(shown) < 400 and shown.endswith('\u2026"')
    assert model.data(model.index(1, 1, top)) == '"a\\nb"'
    assert model.copy_text(model.index(0, 1, top)) == "x" * 100_000


def test_search_finds_nested_keys_and_values_lazily(qtbot: Any) -> None:
    doc = _inbound()
    model = _model(qtbot, doc)
    hits = _search_all(doc, "USER_INFO")
    assert len(hits) == 1
    assert model.loaded_count() == 1, "searching builds nothing"
    index = model.index_for_rows(hits[0])
    assert model.json_path(index) == "$.payload.recipient.user.user_info"
    values = [model.json_path(model.index_for_rows(h)) for h in _search_all(doc, "whatsapp")]
    assert values == [
        "$.event",
        "$.payload.channels[0].name",
        "$.payload.message.payload.text",
    ]
    assert _search_all(doc, "no such text") == []
    assert _search_all(doc, "") == []


def test_search_deep_in_a_big_array(qtbot: Any) -> None:
    doc = {"rows": [{"n": i} for i in range(50_000)] + [{"needle": True}]}
    model = _model(qtbot, doc)
    (hit,) = _search_all(doc, "needle")
    index = model.index_for_rows(hit)
    assert model.json_path(index) == "$.rows[50000].needle"
    rows = model.index_for_rows((0, 0))
    assert model.rowCount(rows) == 50_001  # the chunk holding row 50000, no more


def test_deep_but_parseable_nesting_is_iterative(qtbot: Any) -> None:
    depth = 900
    doc: Any = "bottom"
    for _ in range(depth):
        doc = [doc]
    model = _model(qtbot, doc)
    hit = _search_all(doc, "bottom")[0]
    assert len(hit) == depth + 1
    index = model.index_for_rows(hit)
    assert model.json_path(index) == "$" + "[0]" * depth
    assert model.copy_text(index) == "bottom"
