from __future__ import annotations

import urllib.request

from inspector.core.session.store import get_request


def test_engine_records_a_post(engine) -> None:
    req = urllib.request.Request(engine.url + "sms", data=b'{"a": 1}', method="POST")
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status == 200
    assert engine.store.count() == 1
    stored = engine.store.get(1)
    assert stored is not None and stored.body == b'{"a": 1}'
    conn = engine.store.open_reader()
    assert get_request(conn, 1).path == "/sms"
    conn.close()
