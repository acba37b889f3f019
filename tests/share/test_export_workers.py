"""Redacted exports split over worker processes: the same bytes, and failures in one line."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from inspector.core.session.store import open_existing
from inspector.core.share import workers as workers_mod
from inspector.core.share.export import (
    ExportCancelled,
    ExportError,
    ExportOptions,
    export_to,
    write_export_file,
)
from inspector.core.share.redact import Redactor
from inspector.core.share.selection import Selection
from tests.share.conftest import catalogue_requests, delivery_variants

KEY = b"k" * 32


@pytest.fixture
def session(make_session) -> Path:
    # Enough rows for several groups per worker (a group is at most 256 rows).
    reqs = [r for _ in range(40) for r in catalogue_requests() + delivery_variants()]
    return make_session(reqs)


def _export(session: Path, fmt: str, workers: int, selection: Selection | None = None,
            **options: object) -> tuple[str, str]:
    conn = open_existing(session)
    try:
        out = io.StringIO()
        result = export_to(
            conn, out, selection,
            ExportOptions(format=fmt, redact=True, workers=workers, **options),  # type: ignore[arg-type]
            redactor=Redactor(key=KEY),
        )
    finally:
        conn.close()
    assert result.redaction is not None
    return out.getvalue(), result.redaction.sentence()


@pytest.mark.parametrize("fmt", ["har", "jsonl", "curl"])
def test_workers_write_what_this_process_writes(session: Path, fmt: str) -> None:
    here, here_summary = _export(session, fmt, 0, base_url="http://127.0.0.1:9")
    split, split_summary = _export(session, fmt, 2, base_url="http://127.0.0.1:9")
    assert split == here
    assert split_summary == here_summary
    assert "918921269123" not in split and "Priya" not in split
    assert here_summary.endswith(f"in {len(catalogue_requests() + delivery_variants()) * 40} request(s)")


def test_workers_follow_a_filter_and_empty_selections(session: Path) -> None:
    chosen = Selection.from_filter("event:sms:message:status")
    assert _export(session, "har", 2, chosen) == _export(session, "har", 0, chosen)
    nothing = Selection.of_ids([])
    text, summary = _export(session, "jsonl", 2, nothing)
    assert text == "" and summary == "nothing to redact in 0 request(s)"


def test_users_keys_and_kept_values_reach_the_workers(session: Path) -> None:
    from inspector.core.share.redact import RedactionOptions

    conn = open_existing(session)
    outs = []
    for workers in (0, 2):
        out = io.StringIO()
        options = RedactionOptions(frozenset({"provider"}), frozenset({"918921269123"}))
        export_to(conn, out, None, ExportOptions(format="jsonl", redact=True, workers=workers,
                                                 redaction=options),
                  redactor=Redactor(options, key=KEY))
        outs.append(out.getvalue())
    conn.close()
    assert outs[0] == outs[1]
    assert "918921269123" in outs[1] and '"Jio"' not in outs[1]


def test_a_worker_that_dies_is_one_line_and_nothing_is_written(
    session: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workers_mod, "worker_command",
                        lambda: [sys.executable, "-c", "import sys; sys.exit(3)"])
    conn = open_existing(session)
    target = tmp_path / "out.har"
    with pytest.raises(ExportError) as err:
        write_export_file(conn, target, None, ExportOptions(format="har", redact=True, workers=2))
    conn.close()
    assert str(err.value) == "an export worker stopped unexpectedly (exit status 3); nothing was written"
    assert not target.exists() and not list(tmp_path.glob(".export-*"))


def test_a_worker_failing_names_the_error_without_request_text(
    session: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The worker cannot open the session it is given: its error comes back as a frame.
    monkeypatch.setattr("inspector.core.share.export._session_file",
                        lambda conn: session.with_name("gone.whsession"))
    conn = open_existing(session)
    with pytest.raises(ExportError) as err:
        export_to(conn, io.StringIO(), None, ExportOptions(format="har", redact=True, workers=1))
    conn.close()
    assert "export worker" in str(err.value) and "\n" not in str(err.value)


def _children() -> set[int]:
    """This process's live children (zombies reaped or not, they have exited)."""
    me = str(os.getpid())
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me and fields[0] != "Z":
            out.add(int(stat.parent.name))
    return out


def test_cancel_stops_the_workers(session: Path) -> None:
    conn = open_existing(session)
    before = _children()
    out = io.StringIO()
    with pytest.raises(ExportCancelled):
        export_to(conn, out, None, ExportOptions(format="har", redact=True, workers=2),
                  cancelled=lambda: out.tell() > 0)
    conn.close()
    whole, _ = _export(session, "har", 0)
    assert 0 < len(out.getvalue()) < len(whole) / 2  # stopped after the first group
    assert _children() - before == set()


def test_small_exports_stay_in_this_process(session: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("workers started for a small export")

    monkeypatch.setattr("inspector.core.share.export.ExportWorkers", refuse)
    text, _ = _export(session, "har", None)  # type: ignore[arg-type]
    assert text.startswith('{"log":')


def test_the_frozen_entry_refuses_to_be_run_by_hand() -> None:
    res = subprocess.run([sys.executable, "-m", "inspector", workers_mod.FROZEN_WORKER_ARG],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode != 0
    assert res.stderr.strip() == f"error: {workers_mod.FROZEN_WORKER_ARG} is internal: a redacted export starts it"


def test_a_frozen_executable_exports_through_its_own_entry_point(
    session: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.factories import frozen_executable

    exe = frozen_executable(tmp_path, monkeypatch)
    assert workers_mod.worker_command() == [str(exe), workers_mod.FROZEN_WORKER_ARG]
    split, _ = _export(session, "jsonl", 2)
    monkeypatch.undo()
    here, _ = _export(session, "jsonl", 0)
    assert split == here
