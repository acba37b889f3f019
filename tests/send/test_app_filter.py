"""The filter language's ``app:`` terms and the stored outcomes they read."""

from __future__ import annotations

from pathlib import Path

import pytest

from inspector.core.session.forwards import AppAnswer, app_outcomes, forwards_for, record_answer
from inspector.core.session.query import QueryError, compile_query, fetch_ids
from inspector.core.session.store import SCHEMA_VERSION, SessionStore
from tests.factories import append_decoded, captured_request


@pytest.fixture
def filled(session_path: Path):  # noqa: ANN201
    store = SessionStore(session_path)
    append_decoded(store, [captured_request("/sms", b"{}", seq=store.take_seq()) for _ in range(5)])
    conn = store.open_reader()
    outcomes = {
        1: AppAnswer(200),
        2: AppAnswer(503),
        3: AppAnswer(None, error="connection refused by 127.0.0.1:9"),
        4: AppAnswer(302),
    }
    for rid, answer in outcomes.items():
        record_answer(conn, rid, kind="forward", url="http://a", answer=answer, attempt=1, at_us=1)
    # a later success replaces request 2's failure as its latest outcome
    record_answer(conn, 2, kind="forward", url="http://a", answer=AppAnswer(201), attempt=2, at_us=2)
    yield conn
    conn.close()
    store.close()


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("app:2xx", [1, 2]),
        ("app:3xx", [4]),
        ("app:5xx", []),
        ("app:failed", [3]),
        ("app:none", [5]),
        ("app:201", [2]),
        ("-app:none", [1, 2, 3, 4]),
        ("app:2xx OR app:failed", [1, 2, 3]),
    ],
)
def test_app_terms(filled, text: str, ids: list[int]) -> None:  # noqa: ANN001
    assert fetch_ids(filled, compile_query(text)) == ids


def test_unknown_app_value_is_a_clear_error() -> None:
    with pytest.raises(QueryError, match=r"app:teapot is not known \(app:2xx"):
        compile_query("app:teapot")


def test_outcomes_and_attempts(filled) -> None:  # noqa: ANN001
    assert app_outcomes(filled, [1, 2, 3, 5]) == {1: (200, False), 2: (201, False), 3: (None, True)}
    assert [f.attempt for f in forwards_for(filled, 2)] == [1, 2]


def test_fresh_session_has_the_relay_tables(session_path: Path) -> None:
    store = SessionStore(session_path)
    conn = store.open_reader()
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"outbox", "forwards", "app_last", "replays"} <= names
    finally:
        conn.close()
        store.close()


def test_a_schema_2_session_is_upgraded_in_place(session_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from inspector.core.session import store as store_mod

    # A session written just before the relay's step existed: the steps before it only.
    steps = store_mod._UPGRADES  # noqa: SLF001
    mine = next(i for i, step in enumerate(steps) if "CREATE TABLE outbox" in step)
    monkeypatch.setattr(store_mod, "_UPGRADES", steps[:mine])
    monkeypatch.setattr(store_mod, "SCHEMA_VERSION", 2 + mine)
    old = SessionStore(session_path)
    append_decoded(old, [captured_request("/sms", b'{"kept":1}', seq=1)])
    old.close()
    monkeypatch.undo()
    store = SessionStore(session_path)
    conn = store.open_reader()
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert store.get(1).body == b'{"kept":1}'  # type: ignore[union-attr]
        assert fetch_ids(conn, compile_query("app:none")) == [1]
    finally:
        conn.close()
        store.close()
