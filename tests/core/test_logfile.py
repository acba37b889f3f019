"""The log file: in the (moved) state folder, rotating, secrets redacted, set up once."""

from __future__ import annotations

import importlib
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from inspector.core import logfile

# The package re-exports the function redact(), which shadows the module of that name.
redact_module = importlib.import_module("inspector.core.tunnel.redact")


def test_log_dir_follows_the_env_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_INSPECTOR_LOG_DIR", str(tmp_path / "logs"))
    assert logfile.log_file() == tmp_path / "logs" / "webhook-inspector.log"
    monkeypatch.delenv("WEBHOOK_INSPECTOR_LOG_DIR")
    monkeypatch.setenv("WEBHOOK_INSPECTOR_DATA_DIR", str(tmp_path / "data"))
    assert logfile.log_dir() == tmp_path / "data" / "log"
    monkeypatch.delenv("WEBHOOK_INSPECTOR_DATA_DIR")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert logfile.log_dir() == tmp_path / "state" / "webhook-inspector" / "log"


def test_records_reach_the_file_with_secrets_redacted() -> None:
    path = logfile.setup_logging()
    assert path == logfile.log_file()
    assert logfile.setup_logging() == path  # a second set-up adds no second handler
    ours = [h for h in logging.getLogger().handlers if isinstance(h, logfile._AppLogHandler)]
    assert len(ours) == 1

    secret = "2abcSECRETtoken_0123456789"
    redact_module._redactor.add([secret])
    try:
        logging.getLogger("inspector.core.tunnel.agent").info("starting with %s", secret)
        logging.getLogger("some.library").warning("echo: authtoken=%s", secret)
    finally:
        redact_module._redactor.remove([secret])
    logging.getLogger("inspector.test").debug("below the level")
    for h in ours:
        h.flush()
    text = path.read_text(encoding="utf-8")
    assert secret not in text
    assert "starting with ***" in text
    assert "echo: authtoken=***" in text
    assert "below the level" not in text


def test_the_file_rotates_and_keeps_a_bounded_number(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logfile, "MAX_BYTES", 2000)
    path = logfile.setup_logging()
    assert path is not None
    lg = logging.getLogger("inspector.test.rotate")
    for i in range(200):
        lg.info("line %04d %s", i, "x" * 80)
    files = sorted(p.name for p in path.parent.iterdir())
    assert files == [
        "webhook-inspector.log",
        "webhook-inspector.log.1",
        "webhook-inspector.log.2",
        "webhook-inspector.log.3",
    ]
    assert "line 0199" in path.read_text(encoding="utf-8")


def test_an_unwritable_log_folder_does_not_stop_the_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("WEBHOOK_INSPECTOR_LOG_DIR", str(blocker / "log"))
    assert logfile.setup_logging() is None


def test_capture_writes_its_start_to_the_log(tmp_path: Path) -> None:
    log_dir = tmp_path / "log"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "inspector",
            "capture",
            "--port",
            "0",
            "--session",
            str(tmp_path / "c.whsession"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**__import__("os").environ, "WEBHOOK_INSPECTOR_LOG_DIR": str(log_dir)},
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("Listening on http://127.0.0.1:")
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "webhook-inspector 0.1.0: capture" in (log_dir / "webhook-inspector.log").read_text()


def test_an_uncaught_exception_is_logged_with_its_traceback_redacted(tmp_path: Path) -> None:
    code = (
        "import importlib, threading\n"
        "from inspector.core.logfile import setup_logging\n"
        "importlib.import_module('inspector.core.tunnel.redact')._redactor.add(['tok-SECRET-1'])\n"
        "setup_logging()\n"
        "t = threading.Thread(target=lambda: 1 / 0, name='worker'); t.start(); t.join()\n"
        "raise RuntimeError('rejected authtoken tok-SECRET-1')\n"
    )
    env = {**__import__("os").environ, "WEBHOOK_INSPECTOR_LOG_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 1
    assert "RuntimeError" in done.stderr  # Python still reports it as usual
    text = (tmp_path / "webhook-inspector.log").read_text(encoding="utf-8")
    assert text.count("CRITICAL") == 2 and "uncaught exception" in text
    assert "ZeroDivisionError" in text
    assert "RuntimeError: rejected authtoken ***" in text
    assert "tok-SECRET-1" not in text
