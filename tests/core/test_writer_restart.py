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


def test_answers_in_a_killed_writer_fail_and_later_ones_are_recorded(engine) -> None:
    """The app's answers (replays') are committed by the writer like rows: those it held
    when killed fail with a reason, never hang; those after its restart are stored."""
    from inspector.core.session.forwards import AnswerEntry, AppAnswer, forwards_for

    resp = send(engine.url, "POST", "/sms", [], b"{}")
    assert resp.status == 200
    conn = engine.store.open_reader()
    (rid,) = conn.execute("SELECT id FROM requests").fetchone()
    conn.close()
    committer = engine._committer

    def record(status: int):  # type: ignore[no-untyped-def]
        entry = AnswerEntry(rid, "replay", "http://127.0.0.1:9/sms", AppAnswer(status), 1, 1)

        async def go() -> None:
            await committer.record([entry])

        return engine.call(go())

    record(201).result(10)
    first = _writer_pid(engine)
    os.kill(first, signal.SIGKILL)
    held = record(202)
    try:
        held.result(10)
        lost = False  # sent after the new writer was up: stored
    except Exception as exc:  # noqa: BLE001
        assert "not recorded" in str(exc) or "stopped" in str(exc) or "restart" in str(exc), exc
        lost = True
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            record(203).result(10)
            break
        except Exception:  # noqa: BLE001 - the new writer is still starting
            time.sleep(0.05)
    assert _writer_pid(engine) != first
    conn = engine.store.open_reader()
    statuses = [f.answer.status for f in forwards_for(conn, rid)]
    conn.close()
    assert statuses[0] == 201 and statuses[-1] == 203
    assert (202 in statuses) != lost
