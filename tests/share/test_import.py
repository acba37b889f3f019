"""Import: other tools' HAR quirks repaired, hostile files reported line by line."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from inspector.core.session.store import iter_requests, open_existing
from tests.conftest import FIXTURES
from tests.share.conftest import catalogue_requests

HAR_FIXTURES = FIXTURES / "har"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "inspector", *args], capture_output=True,
                          text=True, timeout=120)


def imported(file: Path, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], list]:
    session = tmp_path / (file.stem + ".whsession")
    res = cli("import", str(file), "--session", str(session))
    assert "Traceback" not in res.stderr, res.stderr
    if not session.exists():
        return res, []
    conn = open_existing(session)
    rows = list(iter_requests(conn))
    sources = {r[0] for r in conn.execute("SELECT imported_from FROM requests")}
    conn.close()
    assert sources <= {str(file.resolve())}
    return res, rows


def test_chrome_har(tmp_path: Path) -> None:
    res, rows = imported(HAR_FIXTURES / "chrome.har", tmp_path)
    assert res.returncode == 0, res.stderr
    sms, form = rows
    assert (sms.method, sms.path, sms.query, sms.http_version) == ("POST", "/sms", "src=chrome", "2.0")
    assert sms.headers == [("content-type", "application/json")]
    assert sms.event == "sms:message:status" and sms.status == "DELIVRD"
    assert any("pseudo-headers" in w for w in sms.warnings)
    assert sms.received_us == 1795600801250000
    assert sms.response_status == 200 and sms.response_body == b"{}"
    # text and params both present: the exact text wins
    assert form.body == b"mobile=918921269123&status=DELIVRD&id=7"
    assert form.event == "sms:message:status" and form.to_addr == "918921269123"
    assert form.response_status == 202


def test_firefox_har(tmp_path: Path) -> None:
    res, rows = imported(HAR_FIXTURES / "firefox.har", tmp_path)
    assert res.returncode == 0, res.stderr
    get, post = rows
    assert get.method == "GET" and get.body == b""
    assert get.query.startswith("message_id=abc&mobile_number=919876543210")
    assert get.received_us == 1795600800500000  # 15:30:00.5 at +05:30 is 10:00:00.5 UTC
    assert post.event == "whatsapp:message:status" and post.response_body == b""


def test_charles_har(tmp_path: Path) -> None:
    res, rows = imported(HAR_FIXTURES / "charles.har", tmp_path)
    assert res.returncode == 0, res.stderr
    (voice,) = rows
    assert voice.method == "POST"
    assert ("X-Retry", "2") in voice.headers and ("X-None", "") in voice.headers
    assert ("Cookie", "sid=abc") in voice.headers
    assert voice.event == "voice:message:out" and voice.status == "ANSWER"
    notes = " | ".join(voice.warnings)
    assert "lower case" in notes and "cookie" in notes and "int value" in notes


def test_http_toolkit_har(tmp_path: Path) -> None:
    res, rows = imported(HAR_FIXTURES / "httptoolkit.har", tmp_path)
    assert res.returncode == 0, res.stderr
    binary, big = rows
    assert binary.body == bytes(range(256)) and binary.method == "PUT"
    assert binary.response_status == 204
    assert big.body == b"" and big.declared_size == 900000
    assert any("did not keep the body" in w for w in big.warnings)


def _har(entries: list | str) -> str:
    body = entries if isinstance(entries, str) else json.dumps(entries)
    return '{"log": {"version": "1.2", "creator": {"name": "t", "version": "1"}, "entries": ' + body + "}}"


GOOD = {
    "startedDateTime": "2026-11-25T10:00:00Z",
    "request": {"method": "POST", "url": "http://h/sms", "headers": [],
                "postData": {"mimeType": "application/json",
                             "text": (FIXTURES / "catalogue" / "01_sms_message_status.json").read_text()}},
    "response": {"status": 200},
}


@pytest.mark.parametrize(
    ("name", "text", "good", "fragment"),
    [
        ("truncated.har", _har([GOOD, GOOD])[:-300], 1, "entry 2: the file ends"),
        ("not-json.har", "this is not json at all", 0, "expected '{'"),
        ("not-har.har", '{"foo": [1, 2, 3]}', 0, "no log object"),
        ("no-entries.har", '{"log": {"version": "1.2"}}', 0, "no entries"),
        ("bad-entries.har", _har([
            GOOD, 5, {"request": "x"},
            {**GOOD, "request": {**GOOD["request"], "url": "relative/path"}},
            {**GOOD, "request": {**GOOD["request"], "method": "GE T"}},
            {**GOOD, "startedDateTime": "yesterday"},
            {**GOOD, "request": {**GOOD["request"], "_content": {"text": "!!", "encoding": "base64"}}},
            GOOD]), 2, "entry 2 is not an object"),
        ("deep.har", _har("[" + "[" * 100_000 + "]" * 100_000 + "]"), 0, "nested too deeply"),
        ("syntax.har", _har("[" + json.dumps(GOOD) + ", {oops}, " + json.dumps(GOOD) + "]"), 1,
         "entry 2: not valid JSON"),
        ("binary.har", "\x00\x01\x02\xff" * 100, 0, "expected '{'"),
        ("empty.har", "", 0, "expected '{'"),
        ("lines.jsonl", '{"method": "POST", "path": "/sms", "received_at": "2026-11-25T10:00:00.000001Z", '
                        '"headers": [["Content-Type", "application/json"]], "body_text": "{}"}\n'
                        'garbage\n[1]\n{"method": "POST"}\n', 1, "line 2: not valid JSON"),
    ],
)
def test_hostile_files_one_line_each_good_entries_kept(
    tmp_path: Path, name: str, text: str, good: int, fragment: str
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    res, rows = imported(path, tmp_path)
    assert len(rows) == good
    assert fragment in res.stderr, res.stderr
    for line in res.stderr.strip().splitlines():
        assert line.startswith((f"{name}: ", "error: ", "imported ")), line
    if good:
        assert res.returncode == 0
        assert res.stderr.strip().splitlines()[-1].startswith("imported ")
    else:
        assert res.returncode != 0 and res.stderr.strip().splitlines()[-1].startswith("error: ")
        assert not (tmp_path / (path.stem + ".whsession")).exists()


def test_bad_entries_each_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.har"
    path.write_text(_har([
        GOOD, 5, {"request": "x"}, {**GOOD, "request": {**GOOD["request"], "url": "relative"}},
        {**GOOD, "request": {**GOOD["request"], "method": "GE T"}},
        {**GOOD, "startedDateTime": "yesterday"},
        {**GOOD, "request": {**GOOD["request"], "_content": {"text": "!!", "encoding": "base64"}}},
    ]))
    res, rows = imported(path, tmp_path)
    assert len(rows) == 1
    lines = res.stderr.strip().splitlines()
    assert lines[:-1] == [
        "bad.har: entry 2 is not an object; left out",
        "bad.har: entry 3 has no request; left out",
        "bad.har: entry 4 url 'relative' is not absolute; left out",
        "bad.har: entry 5 method 'GE T' is not an HTTP method; left out",
        "bad.har: entry 6 startedDateTime 'yesterday' is not a date; left out",
        "bad.har: entry 7 request _content is not valid base64; left out",
    ]
    assert "6 left out" in lines[-1]


def test_import_refuses_a_session_and_an_existing_target(tmp_path: Path, make_session) -> None:
    session = make_session(catalogue_requests()[:1])
    res = cli("import", str(session))
    assert res.returncode != 0 and res.stderr.startswith("error: ") and "open it" in res.stderr
    har = tmp_path / "x.har"
    har.write_text(_har([GOOD]))
    res = cli("import", str(har), "--session", str(session))
    assert res.returncode != 0 and "already exists" in res.stderr
    conn = sqlite3.connect(session)
    assert conn.execute("SELECT count(*) FROM requests").fetchone()[0] == 1
    conn.close()


def test_escape_sequences_in_a_file_never_reach_the_terminal(tmp_path: Path) -> None:
    path = tmp_path / "evil.har"
    path.write_text(_har([{**GOOD, "request": {**GOOD["request"], "method": "\x1b]0;x\x07"}}]))
    res, _ = imported(path, tmp_path)
    assert "\x1b" not in res.stderr and "\x07" not in res.stderr


def test_an_entry_cut_anywhere_by_the_read_buffer_is_read_whole(monkeypatch) -> None:
    """The file is read a chunk at a time: a literal (``true``, ``null``), an escape or a
    number cut at a chunk's end is read on, not reported as invalid JSON (a 100,000-entry
    export stopped at entry 36,814 on ``"via_tunnel":fa|lse``)."""
    import io

    from inspector.core.share import importer

    entries = [
        {**GOOD, "_webhook": {"via_tunnel": False, "declared_size": None, "ok": True,
                              "received_us": 1795600801250000 + i, "text": "caf\u00e9 \U0001f600"}}
        for i in range(3)
    ]
    text = json.dumps({"log": {"version": "1.2", "entries": entries}}, ensure_ascii=True)
    for chunk in range(1, len(text) // 2):
        monkeypatch.setattr(importer, "_CHUNK", chunk)
        result = importer.ImportResult()
        got = [e for _, e in importer._har_entries(io.StringIO(text), result)]
        assert result.problems == [], (chunk, result.problems)
        assert got == entries, chunk
