"""HAR export: valid for har-validator, complete, exact, and a lossless round trip."""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import CATALOGUE
from tests.core.httpraw import send
from tests.factories import captured_request, running_engine
from tests.share.conftest import catalogue_requests, delivery_variants, read_jsonl


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inspector", *args], capture_output=True, text=True, timeout=120
    )


def odd_requests() -> list:
    return [
        captured_request("/bin", bytes(range(256)) * 3, seq=0,
                         headers=[("Content-Type", "application/octet-stream")]),
        captured_request("/form", b"mobile=918921269123&status=DELIVRD&x=%20a+b", seq=0,
                         headers=[("Content-Type", "application/x-www-form-urlencoded")]),
        captured_request("/gz", gzip.compress(b'{"a": 1}'), seq=0,
                         headers=[("Content-Type", "application/json"), ("Content-Encoding", "gzip")]),
        captured_request("/path with space/%zz/ü", b"", seq=0, method="GET",
                         query="a=1&b=%ZZ&c=<x>", headers=[("X-Empty", ""), ("X-Num", "5")]),
        captured_request("/empty", b"", seq=0, method="POST", headers=[]),
    ]


def test_har_passes_har_validator(make_session, har_validator, tmp_path: Path) -> None:
    session = make_session(catalogue_requests() + delivery_variants() + odd_requests())
    for redact in ([], ["--redact"]):
        out = tmp_path / f"out{len(redact)}.har"
        res = cli("export", str(session), "--format", "har", "-o", str(out), *redact)
        assert res.returncode == 0, res.stderr
        har_validator(out)
        assert len(json.loads(out.read_text())["log"]["entries"]) == 28


def test_har_validator_does_refuse_a_broken_har(har_validator, tmp_path: Path) -> None:
    """The check above means something: the same validator refuses what importers refuse."""
    bad = tmp_path / "bad.har"
    good_entry = {
        "startedDateTime": "2026-01-01T00:00:00.000Z", "time": 0,
        "request": {"method": "GET", "url": "http://x/", "httpVersion": "HTTP/1.1", "cookies": [],
                    "headers": [], "queryString": [], "headersSize": -1, "bodySize": 0},
        "response": {"status": "200", "statusText": "", "httpVersion": "HTTP/1.1", "cookies": [],
                     "headers": [], "content": {"size": 0, "mimeType": ""}, "redirectURL": "",
                     "headersSize": -1, "bodySize": 0},
        "cache": {}, "timings": {"send": 0, "wait": 0, "receive": 0},
    }
    bad.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": "x", "version": "1"},
                                       "entries": [good_entry]}}))
    try:
        har_validator(bad)
    except AssertionError as exc:
        assert "status" in str(exc)
    else:
        raise AssertionError("har-validator accepted a string status")


def test_har_entries_keep_everything(make_session, tmp_path: Path) -> None:
    reqs = catalogue_requests()[:1] + odd_requests()
    session = make_session(reqs)
    out = tmp_path / "o.har"
    assert cli("export", str(session), "--format", "har", "-o", str(out)).returncode == 0
    log = json.loads(out.read_text())["log"]
    assert log["pages"][0]["id"] == "page_1" and log["pages"][0]["startedDateTime"].endswith("Z")
    sms, binary, form, gz, odd, empty = log["entries"]
    assert sms["request"]["url"] == "http://127.0.0.1:8765/sms"
    assert sms["request"]["postData"]["text"] == reqs[0].body.decode()
    assert sms["comment"].startswith("sms:message:status")
    assert sms["_webhook"]["event"] == "sms:message:status" and sms["_webhook"]["from"] == ""
    assert sms["response"]["status"] == 200 and sms["response"]["statusText"] == "OK"
    # Binary: HTTP Toolkit's _content, exact; postData.text still a string for Chrome.
    assert binary["request"]["postData"]["text"] == ""
    assert binary["request"]["_content"]["encoding"] == "base64"
    assert base64.b64decode(binary["request"]["_content"]["text"]) == bytes(range(256)) * 3
    assert binary["request"]["bodySize"] == 768
    assert {"name": "mobile", "value": "918921269123"} in form["request"]["postData"]["params"]
    assert base64.b64decode(gz["request"]["_content"]["text"]) == reqs[3].body
    assert odd["request"]["url"].startswith("http://127.0.0.1:8765/path%20with%20space/%25zz/")
    assert odd["_webhook"]["path"] == "/path with space/%zz/ü"
    assert odd["_webhook"]["query"] == "a=1&b=%ZZ&c=<x>"
    assert "postData" not in odd["request"]
    assert {"name": "X-Num", "value": "5"} in odd["request"]["headers"]
    assert empty["request"]["postData"] == {"mimeType": "application/octet-stream", "text": ""}


def test_round_trip_captured_har_import_jsonl_is_exact(tmp_path: Path) -> None:
    """Requests captured over loopback -> HAR -> import -> JSONL: the JSONL of the import is
    the JSONL of the capture, line for line (bytes, headers, times, decoded fields)."""
    session = tmp_path / "cap.whsession"
    with running_engine(session) as eng:
        for f in sorted(CATALOGUE.glob("*.json")):
            send(eng.url, "POST", "/" + f.stem.split("_")[1] + "?k=v&k=w",
                 [("Content-Type", "application/json"), ("X-Dup", "1"), ("x-dup", "2")],
                 f.read_bytes())
        send(eng.url, "PUT", "/bin", [("Content-Type", "application/octet-stream")],
             b"\x00\xff\xfe\r\n'\\")
        send(eng.url, "POST", "/form", [("Content-Type", "application/x-www-form-urlencoded")],
             b"mobile=918921269123&status=DELIVRD")
        send(eng.url, "POST", "/u", [("Content-Type", "application/json")], b"\xef\xbb\xbf{}")
    har = tmp_path / "cap.har"
    assert cli("export", str(session), "--format", "har", "-o", str(har)).returncode == 0
    new = tmp_path / "imported.whsession"
    res = cli("import", str(har), "--session", str(new))
    assert res.returncode == 0, res.stderr
    assert "imported 22 request(s)" in res.stderr
    before = cli("export", str(session), "--format", "jsonl")
    after = cli("export", str(new), "--format", "jsonl")
    assert before.returncode == after.returncode == 0
    assert len(read_jsonl(before.stdout)) == 22
    assert after.stdout == before.stdout
    # and the rows say where they came from
    import sqlite3

    conn = sqlite3.connect(new)
    assert {r[0] for r in conn.execute("SELECT imported_from FROM requests")} == {str(har.resolve())}
    conn.close()
