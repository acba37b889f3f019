"""The writer process can die (killed, out of memory); recording must go on."""

from __future__ import annotations

import os
import signal
import time

from tests.core.httpraw import send


def _writer_pid(engine) -> int:
    committer = engine._committer
    assert committer is not None and committer._proc is not None
    return committer._proc.pid


def test_a_killed_writer_is_replaced_and_nothing_acknowledged_is_lost(engine) -> None:
    acked: list[int] = []
    for i in range(5):
        resp = send(engine.url, "POST", f"/before/{i}", [], b"{}")
        assert resp.status == 200
        acked.append(resp.json()["seq"])
    first = _writer_pid(engine)
    os.kill(first, signal.SIGKILL)

    refused = 0
    deadline = time.monotonic() + 20
    after: list[int] = []
    while len(after) < 5 and time.monotonic() < deadline:
        resp = send(engine.url, "POST", "/after", [], b"{}")
        if resp.status == 200:
            after.append(resp.json()["seq"])
        else:
            assert resp.status == 503, resp.body
            assert b"not recorded" in resp.body or b"stopped" in resp.body
            refused += 1
            time.sleep(0.05)
    assert len(after) == 5, f"recording did not resume ({refused} refused)"
    assert _writer_pid(engine) != first

    conn = engine.store.open_reader()
    stored = {row[0] for row in conn.execute("SELECT seq FROM requests")}
    conn.close()
    assert set(acked + after) <= stored


def test_recording_problem_is_reported_once_restarts_run_out(engine, monkeypatch) -> None:
    import inspector.core.capture.writer as writer

    monkeypatch.setattr(writer, "_MAX_RESTARTS", 0)
    assert engine.recording_problem is None
    os.kill(_writer_pid(engine), signal.SIGKILL)
    deadline = time.monotonic() + 10
    while engine.recording_problem is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert engine.recording_problem is not None
    assert "recording has stopped" in engine.recording_problem
    resp = send(engine.url, "POST", "/late", [], b"{}")
    assert resp.status == 503
