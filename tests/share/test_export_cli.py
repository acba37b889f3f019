"""The export command's safety: never onto a session, one-line errors, quiet on a closed
pipe, bounded memory whatever the body sizes, --filter, and every format from the CLI."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from inspector.core.session.store import SessionStore
from tests.factories import append_decoded, captured_request
from tests.share.conftest import catalogue_requests, read_jsonl

CMD = [sys.executable, "-m", "inspector"]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CMD, *args], capture_output=True, text=True, timeout=120)


def one_line_error(res: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert res.returncode != 0, res.stderr
    assert "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def _rows(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT count(*) FROM requests").fetchone()[0])
    finally:
        conn.close()


@pytest.mark.parametrize("fmt", ["jsonl", "har", "curl"])
def test_export_onto_the_session_itself_is_refused(make_session, fmt: str) -> None:
    """Hardening #11: `export S -o S` replaced the session with JSONL and exited 0."""
    session = make_session(catalogue_requests())
    before = session.read_bytes()
    one_line_error(cli("export", str(session), "--format", fmt, "-o", str(session)),
                   "session")
    assert session.read_bytes() == before
    assert _rows(session) == 19


def test_export_onto_any_session_file_is_refused(make_session, tmp_path: Path) -> None:
    session = make_session(catalogue_requests())
    other = make_session(catalogue_requests()[:2])
    disguised = tmp_path / "looks-like.jsonl"
    disguised.write_bytes(other.read_bytes())
    new_name = tmp_path / "fresh.whsession"
    one_line_error(cli("export", str(session), "-o", str(other)), ".whsession")
    one_line_error(cli("export", str(session), "-o", str(new_name)), ".whsession")
    one_line_error(cli("export", str(session), "-o", str(disguised)), "session file")
    assert not new_name.exists()
    assert _rows(other) == 2 and disguised.read_bytes() == other.read_bytes()


def test_export_to_a_folder_is_one_line(make_session, tmp_path: Path) -> None:
    """Hardening #11: `-o DIRECTORY` printed an IsADirectoryError traceback."""
    session = make_session(catalogue_requests())
    one_line_error(cli("export", str(session), "-o", str(tmp_path)), "is a folder")
    one_line_error(cli("export", str(session), "-o", str(tmp_path / "no" / "x.har")),
                   "does not exist")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".export-")] == []


def test_closed_pipe_ends_export_quietly(tmp_path: Path) -> None:
    """Hardening #12: `export ... | head` printed a BrokenPipeError traceback."""
    session = tmp_path / "big.whsession"
    store = SessionStore(session)
    reqs = catalogue_requests() * 200
    for i, r in enumerate(reqs, 1):
        r.seq = i
    append_decoded(store, [captured_request(r.path, r.body, seq=r.seq) for r in reqs])
    store.close()
    for fmt in ("jsonl", "har", "curl"):
        for _ in range(3):
            proc = subprocess.Popen([*CMD, "export", str(session), "--format", fmt],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            assert proc.stdout is not None and proc.stderr is not None
            proc.stdout.readline()
            proc.stdout.close()  # what head does after its lines
            err = proc.stderr.read().decode()
            proc.stderr.close()
            code = proc.wait(60)
            assert err == "", err
            assert code == 0


_MEASURED = (
    "import sys\n"
    "from inspector.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "hwm = open('/proc/self/status').read().split('VmHWM:')[1].split()[0]\n"
    "print(hwm, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def _peak_rss_kib(args: list[str]) -> int:
    """The export process's own peak resident memory (VmHWM starts afresh at exec)."""
    res = subprocess.run([sys.executable, "-c", _MEASURED, *args], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return int(res.stderr.strip().splitlines()[-1])


@pytest.mark.slow
def test_export_memory_is_bounded_whatever_the_body_sizes(tmp_path: Path) -> None:
    """Hardening, Must show: 60 requests of 25 MiB peaked at 1.7 GB because rows were read
    256 whole rows at a time. Here 24 bodies of 4 MiB (96 MiB): the export's peak must
    stay within a few bodies of a tiny export's, in every format; and the bodies written
    in pieces are exactly the bodies."""
    big = tmp_path / "big.whsession"
    tiny = tmp_path / "tiny.whsession"
    store = SessionStore(big)
    chunk = b'{"text": "' + b"x" * (4 << 20) + b'"}'
    append_decoded(store, [captured_request("/sms", chunk, seq=i) for i in range(1, 25)])
    store.close()
    store = SessionStore(tiny)
    append_decoded(store, [captured_request("/sms", b'{"text": "x"}', seq=1)])
    store.close()
    for fmt in ("jsonl", "har"):
        base = _peak_rss_kib(["export", str(tiny), "--format", fmt, "-o", str(tmp_path / "t")])
        peak = _peak_rss_kib(["export", str(big), "--format", fmt, "-o", str(tmp_path / "b")])
        grown_mib = (peak - base) / 1024
        if fmt == "jsonl":
            lines = (tmp_path / "b").read_text().splitlines()
            assert len(lines) == 24
            first = json.loads(lines[0])
            assert first["body_text"] == chunk.decode()
            assert base64.b64decode(first["body_base64"]) == chunk
        else:
            entries = json.loads((tmp_path / "b").read_text())["log"]["entries"]
            assert [e["request"]["postData"]["text"] for e in entries] == [chunk.decode()] * 24
        assert grown_mib < 40, f"{fmt}: export of 96 MiB of bodies grew by {grown_mib:.0f} MiB"


def test_filter_selects_rows_and_bad_filter_is_one_line(make_session) -> None:
    session = make_session(catalogue_requests())
    res = cli("export", str(session), "--filter", "product:voice OR event:whatsapp:message:status")
    assert res.returncode == 0, res.stderr
    rows = read_jsonl(res.stdout)
    assert [r["event"] for r in rows] == [
        "whatsapp:message:status", "voice:message:out", "voice:unsubscription"]
    one_line_error(cli("export", str(session), "--filter", "event:("), "--filter")


def test_bad_base_url_is_one_line(make_session) -> None:
    session = make_session(catalogue_requests()[:1])
    one_line_error(cli("export", str(session), "--format", "curl", "--base-url", "ftp:/x"),
                   "--base-url")


def test_failed_export_leaves_no_partial_file(make_session, tmp_path: Path) -> None:
    session = make_session(catalogue_requests())
    out = tmp_path / "keep.har"
    out.write_text("previous")
    os.chmod(tmp_path, 0o500)
    try:
        if os.access(tmp_path, os.W_OK):  # root ignores the mode
            pytest.skip("running as a user who can write anywhere")
        one_line_error(cli("export", str(session), "--format", "har", "-o", str(out)),
                       "cannot write")
    finally:
        os.chmod(tmp_path, 0o700)
    assert out.read_text() == "previous"


def test_large_bodies_written_in_pieces_are_exact(make_session, tmp_path: Path) -> None:
    """Binary and non-ASCII bodies over the piece threshold: the same text as the plain way."""
    from inspector.core.session.store import iter_requests, open_existing
    from inspector.core.share.jsonl import request_to_json

    text = ("ü€\U0001f600\"\\\n\x01 " * 200_000).encode()
    binary = bytes(range(256)) * 9000
    session = make_session([
        captured_request("/t", text, seq=0),
        captured_request("/b", binary, seq=0, headers=[("Content-Type", "application/octet-stream")]),
    ])
    res = cli("export", str(session), "--format", "jsonl")
    conn = open_existing(session)
    # Rows never forwarded nor replayed: the relay keys are empty.
    expected = "".join(
        json.dumps({**request_to_json(r), "forwards": [], "replay_of": None}, ensure_ascii=False)
        + "\n"
        for r in iter_requests(conn)
    )
    conn.close()
    assert res.stdout == expected
    out = tmp_path / "x.har"
    assert cli("export", str(session), "--format", "har", "-o", str(out)).returncode == 0
    t, b = json.loads(out.read_text())["log"]["entries"]
    assert t["request"]["postData"]["text"].encode() == text
    assert base64.b64decode(b["request"]["_content"]["text"]) == binary
