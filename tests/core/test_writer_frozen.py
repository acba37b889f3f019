"""A frozen build has no ``python -m``: its writer is the executable itself, dispatched by
the CLI's entry point on a hidden first argument."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from inspector.core.capture import writer
from inspector.core.session.store import SessionStore
from tests.core.httpraw import send
from tests.factories import frozen_executable, running_engine


def test_unfrozen_command_is_python_dash_m() -> None:
    assert writer.writer_command() == [sys.executable, "-m", "inspector.core.capture.writer"]


def test_a_frozen_executable_records_through_its_own_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exe = frozen_executable(tmp_path, monkeypatch)
    assert writer.writer_command() == [str(exe), writer.FROZEN_WRITER_ARG]

    session = tmp_path / "frozen.whsession"
    with running_engine(session) as engine:
        proc = engine._committer._proc
        assert proc is not None
        for i in range(3):
            resp = send(engine.url, "POST", f"/sms/{i}", [], b'{"status":"DELIVRD"}')
            assert resp.status == 200, resp.body
    store = SessionStore(session)
    try:
        assert store.count() == 3
    finally:
        store.close()


def test_the_hidden_argument_by_hand_is_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    from inspector.cli import main

    assert main([writer.FROZEN_WRITER_ARG]) == 1
    err = capsys.readouterr().err
    assert err == f"error: {writer.FROZEN_WRITER_ARG} is internal: the capture engine starts it\n"
