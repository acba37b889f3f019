"""The tunnel's own basic auth is marked on the requests that carry it and kept out of
exports (issue 9, item 16): it is our password, not the provider's."""

from __future__ import annotations

import base64
import io
import json
import sys
from pathlib import Path

import pytest

from inspector.core.session.record import TUNNEL_CREDENTIALS_MASK, TUNNEL_CREDENTIALS_WARNING
from inspector.core.share.export import export_jsonl
from inspector.core.tunnel import is_tunnel_basic_auth, tunnel_client_address
from tests.core.httpraw import send
from tests.factories import running_engine

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="stand-in agent is a sh wrapper")

CREDENTIALS = "hooks:s3cret-pass-1"
BASIC = "Basic " + base64.b64encode(CREDENTIALS.encode()).decode()


def exported(engine) -> list[dict]:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    conn = engine.store.open_reader()
    try:
        export_jsonl(conn, out)
    finally:
        conn.close()
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_the_tunnels_basic_auth_is_marked_and_not_exported(
    harness, make_manager, fake_agent, session_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("FAKE_NGROK_CLIENT_IP", "203.0.113.9")
    with running_engine(
        session_path, client_address=tunnel_client_address, tunnel_credential=is_tunnel_basic_auth
    ) as eng:
        manager, _ = make_manager(basic_auth=CREDENTIALS)
        url = manager.start(eng.port)
        port = fake_agent.public_port(url)
        assert harness.send(port, "/whatsapp", b"{}")[0] == 401  # the tunnel checks it
        status, _ = harness.send(port, "/whatsapp", b'{"a": 1}', {"Authorization": BASIC})
        assert status == 200
        # Our own password, sent to the listener directly: not through the tunnel.
        assert send(eng.url, "POST", "/direct", [("Authorization", BASIC)], b"{}").status == 200
        harness.wait_for(lambda: eng.store.count() == 2, what="both requests stored")
        manager.stop()
        assert not is_tunnel_basic_auth(BASIC)  # released with the tunnel
        tunnelled, direct = eng.store.get(1), eng.store.get(2)
        assert tunnelled is not None and direct is not None
        assert tunnelled.via_tunnel and TUNNEL_CREDENTIALS_WARNING in tunnelled.warnings
        assert ("Authorization", BASIC) in tunnelled.headers  # the session keeps what came
        assert TUNNEL_CREDENTIALS_WARNING not in direct.warnings
        rows = exported(eng)
    text = json.dumps(rows[0])
    assert BASIC.split()[1] not in text and "s3cret" not in text
    assert ["Authorization", TUNNEL_CREDENTIALS_MASK] in rows[0]["headers"]
    assert ["Authorization", BASIC] in rows[1]["headers"]


def test_another_authorization_through_the_tunnel_is_kept(
    harness, make_manager, fake_agent, session_path: Path
) -> None:
    """Without basic auth on the tunnel, a provider's own Authorization is its own."""
    with running_engine(
        session_path, client_address=tunnel_client_address, tunnel_credential=is_tunnel_basic_auth
    ) as eng:
        manager, _ = make_manager()
        url = manager.start(eng.port)
        status, _ = harness.send(
            fake_agent.public_port(url), "/sms", b"{}", {"Authorization": BASIC}
        )
        assert status == 200
        harness.wait_for(lambda: eng.store.count() == 1, what="the request stored")
        manager.stop()
        rows = exported(eng)
    assert ["Authorization", BASIC] in rows[0]["headers"]
    assert TUNNEL_CREDENTIALS_WARNING not in rows[0]["warnings"]
