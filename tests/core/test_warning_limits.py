"""Warnings are bounded before they are stored: one request cannot store megabytes of them."""

from __future__ import annotations

import json
from pathlib import Path

from inspector.core.provider.warning_limits import (
    MAX_WARNING_CHARS,
    MAX_WARNINGS,
    bound_warning,
    bound_warnings,
)
from inspector.core.session.store import SessionStore, get_request
from tests.factories import append_decoded, captured_request


def test_bound_warning_says_how_much_was_cut() -> None:
    assert bound_warning("short") == "short"
    cut = bound_warning("x" * 10_000)
    assert cut.startswith("x" * MAX_WARNING_CHARS)
    assert cut.endswith("(9,500 more characters)")


def test_bound_warnings_keeps_a_few_and_counts_the_rest() -> None:
    few = ["a", "b"]
    assert bound_warnings(few) == few
    many = [f"w{i}" for i in range(500)]
    kept = bound_warnings(many)
    assert len(kept) == MAX_WARNINGS
    assert kept[: MAX_WARNINGS - 1] == many[: MAX_WARNINGS - 1]
    assert kept[-1] == f"\u2026 and {500 - MAX_WARNINGS + 1} more warnings"


def test_a_body_with_many_unexpected_keys_stores_a_bounded_warning(tmp_path: Path) -> None:
    payload = {"id": "m-1", "status": "read", **{f"key{i}": i for i in range(100_000)}}
    body = json.dumps({"event": "whatsapp:message:status", "payload": payload}).encode()
    store = SessionStore(tmp_path / "s.whsession")
    try:
        (summary,) = append_decoded(store, [captured_request("/whatsapp", body, seq=1)])
        request = get_request(store.open_reader(), summary.id)
        assert request is not None
        assert request.warnings, "the unexpected keys are still reported"
        assert all(len(w) <= MAX_WARNING_CHARS + 40 for w in request.warnings)
        assert any("more characters" in w for w in request.warnings)
    finally:
        store.close()
