"""What the session keeps but no export may show, in every format: the tunnel's own basic-auth
credentials, and (redacted) the provider's URL-verification key and challenge."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from inspector.core.session.record import TUNNEL_CREDENTIALS_MASK, TUNNEL_CREDENTIALS_WARNING
from inspector.core.session.store import SessionStore
from inspector.core.share.export import ExportOptions, export_to
from tests.core.httpraw import send
from tests.factories import captured_request, running_engine

BASIC = "Basic dXNlcjpodW50ZXIyLXNlY3JldA=="  # user:hunter2-secret


@pytest.mark.parametrize("fmt", ["jsonl", "har", "curl", "markdown"])
def test_the_tunnels_credentials_never_leave_the_session(tmp_path: Path, fmt: str) -> None:
    store = SessionStore(tmp_path / "t.whsession")
    try:
        req = captured_request(
            "/sms",
            b"{}",
            seq=1,
            headers=[("Content-Type", "application/json"), ("Authorization", BASIC)],
        )
        req.capture_warnings.append(TUNNEL_CREDENTIALS_WARNING)
        from tests.factories import append_decoded

        append_decoded(store, [req])
        conn = store.open_reader()
        try:
            stored = conn.execute("SELECT headers FROM request_data").fetchone()[0]
            assert BASIC in stored  # kept as it came
            out = io.StringIO()
            export_to(conn, out, options=ExportOptions(format=fmt))
        finally:
            conn.close()
    finally:
        store.close()
    text = out.getvalue()
    assert "dXNlcjpodW50ZXIyLXNlY3JldA" not in text
    if fmt in ("jsonl", "har"):
        assert TUNNEL_CREDENTIALS_MASK in text or json.dumps(TUNNEL_CREDENTIALS_MASK) in text


def test_a_redacted_export_masks_the_verification_record(session_path: Path) -> None:
    body = b'{"validation_key": "vk-4f1c2a9d", "challenge": "c8a1f9e0-3b7d-4c55",}'
    with running_engine(session_path) as eng:
        resp = send(
            eng.url, "POST", "/sms?token=vk-4f1c2a9d", [("Content-Type", "application/json")], body
        )
        assert resp.json() == {"challenge": "c8a1f9e0-3b7d-4c55"}
        conn = eng.store.open_reader()
        try:
            plain, redacted = io.StringIO(), io.StringIO()
            export_to(conn, plain, options=ExportOptions(format="jsonl"))
            export_to(conn, redacted, options=ExportOptions(format="jsonl", redact=True))
        finally:
            conn.close()
    assert json.loads(plain.getvalue())["verification"]["challenge"] == "c8a1f9e0-3b7d-4c55"
    line = json.loads(redacted.getvalue())
    assert line["verification"] is not None
    text = redacted.getvalue()
    assert "vk-4f1c2a9d" not in text and "c8a1f9e0-3b7d-4c55" not in text
