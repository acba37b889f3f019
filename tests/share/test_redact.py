"""Redaction: no original phone number, secret, name or message text left anywhere in any
format, for every catalogue payload and the documented delivery variants."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from inspector.core.provider.lenient_json import parse_lenient
from inspector.core.session.record import CapturedRequest
from inspector.core.share.redact import Redactor
from inspector.core.share.rows import ExportRow
from tests.factories import captured_request
from tests.share.conftest import (
    BEARER,
    GET_DLR_QUERY,
    SIGNATURE,
    catalogue_requests,
    delivery_variants,
)

#: Written from events.md and delivery.md by hand (not the redactor's own table): the keys
#: whose values are a person's or a secret.
PERSONAL = {
    "mobile", "from", "to", "receiver", "bridge", "phone", "first_name", "middle_name",
    "last_name", "username", "email", "identity", "text", "caption", "url", "recording_url",
    "picture", "challenge", "validation_key", "birth_date", "custom1", "custom2",
}
NOT_SECRET = {"null", "true", "false", ""}


def _values(obj: Any, key: str | None = None) -> set[str]:
    out: set[str] = set()
    if isinstance(obj, dict):
        for k, v in obj.items():
            out |= _values(v, k)
    elif isinstance(obj, list):
        for v in obj:
            out |= _values(v, key)
    elif key in PERSONAL and obj is not None:
        out.add(str(obj))
    return out


def originals(req: CapturedRequest) -> set[str]:
    """What must not appear in a redacted export of ``req``."""
    found: set[str] = set()
    if req.body:
        parsed = parse_lenient(req.body.decode())
        found |= _values(parsed.value)
    found |= {BEARER, SIGNATURE, "vk-6f1e2d3c4b5a", "tk-55aa66bb", "919876543210"} & (
        {v for _, v in req.headers} | {req.query} | {req.body.decode(errors="replace")}
        | {w.split("=", 1)[-1] for w in req.query.split("&")}
        | {v.removeprefix("Bearer ") for _, v in req.headers}
    )
    return {v for v in found if v not in NOT_SECRET}


def requests_to_check() -> list[CapturedRequest]:
    extra = [
        captured_request(
            "/note", b'{"note": "call +91 89212 69123 or 918921269124, mail a.b@example.in",'
            b' "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcDEFghiJKL"}', seq=0,
            headers=[("Content-Type", "application/json"), ("X-Forwarded-For", "198.51.100.7"),
                     ("Cookie", "sid=abcdef123456")],
        ),
    ]
    return catalogue_requests() + delivery_variants() + extra


EXTRA_SECRETS = {"+91 89212 69123", "918921269124", "a.b@example.in", "198.51.100.7",
                 "abcdef123456", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcDEFghiJKL",
                 "8921269123"}


@pytest.mark.parametrize("fmt", ["jsonl", "har", "curl"])
def test_no_original_value_left_in_any_format(make_session, tmp_path: Path, fmt: str) -> None:
    reqs = requests_to_check()
    forbidden = set().union(*(originals(r) for r in reqs)) | EXTRA_SECRETS
    assert {"918921269xxx", "user first name", "demo@gmail.com", BEARER, SIGNATURE,
            "vk-6f1e2d3c4b5a", "ch-9a8b7c6d5e4f3a2b", "Priya", "919845012345", "Ravi Kumar",
            "This is a simple text message from whatsapp channel",
            "https://youraudiofilelocation/", "918068281234"} <= forbidden
    session = make_session(reqs)
    out = tmp_path / f"shared.{fmt}"
    res = subprocess.run([sys.executable, "-m", "inspector", "export", str(session),
                          "--format", fmt, "--redact", "-o", str(out)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "redacted" in res.stderr and "phone numbers" in res.stderr
    text = out.read_text()
    # JSON escapes (HAR, JSONL) and URL escapes must not hide a value either.
    views = [text]
    if fmt in ("jsonl", "har"):
        views.append(json.dumps(json.loads("[" + ",".join(text.splitlines()) + "]"
                                           if fmt == "jsonl" else text), ensure_ascii=False))
    leaks = sorted({v for v in forbidden for view in views if _holds(view, v)})
    assert not leaks, f"{fmt} still holds {leaks}"


#: Values that are also key names in the payloads ("username": "username"): only their
#: place as a value counts.
_KEY_NAMES = {"username"}


def _holds(text: str, value: str) -> bool:
    """``value`` as a whole word (the sender id "Demo12" does not hold the name "Demo")."""
    if value in _KEY_NAMES:
        return re.search(r':\s*\\?"' + re.escape(value) + r'\\?"', text) is not None
    return re.search(r"(?<![A-Za-z0-9])" + re.escape(value) + r"(?![A-Za-z0-9])", text) is not None


def test_redacted_har_says_so_per_entry(make_session, tmp_path: Path, har_validator) -> None:
    session = make_session(requests_to_check())
    out = tmp_path / "s.har"
    res = subprocess.run([sys.executable, "-m", "inspector", "export", str(session),
                          "--format", "har", "--redact", "-o", str(out)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    har_validator(out)
    entries = json.loads(out.read_text())["log"]["entries"]
    assert all("_redacted" in e for e in entries)
    verification = entries[19]
    kinds = {c["kind"] for c in verification["_redacted"]["changes"]}
    assert "secret" in kinds
    auth = dict((h["name"], h["value"]) for h in verification["request"]["headers"])["Authorization"]
    assert auth.startswith("Bearer secret-")
    # the masks themselves appear in every representation of the value
    assert verification["_webhook"]["from"] == ""
    dlr = entries[20]
    assert dlr["_webhook"]["to"] == json.loads(dlr["request"]["postData"]["text"])["mobile"]


def test_masks_are_consistent_and_distinct(make_session) -> None:
    """Same original -> same mask within one export (timelines line up); different
    originals -> different masks; a new export -> new masks."""
    from tests.share.support import stored_rows

    body = b'{"mobile": "%s", "status": "DELIVRD", "id": "m-1"}'
    rows = stored_rows(make_session([
        captured_request("/sms", body % b"918921269123", seq=0),
        captured_request("/sms", body % b"918921269123", seq=0),
        captured_request("/sms", body % b"918921269124", seq=0),
    ]))
    redactor = Redactor()
    a, b, c = (redactor.redact(ExportRow(r)) for r in rows)
    ma, mb, mc = (json.loads(x.request.body)["mobile"] for x in (a, b, c))
    assert ma == mb != mc
    assert a.request.summary.to_addr == ma
    again = Redactor().redact(ExportRow(rows[0]))
    assert json.loads(again.request.body)["mobile"] != ma
    # the layout of the body is kept: only the value changed
    assert a.request.body == body.replace(b"%s", ma.encode())


def test_user_keys_and_kept_values(make_session, tmp_path: Path) -> None:
    session = make_session([captured_request(
        "/sms", b'{"mobile": "918921269123", "order_ref": "ORD-4411", "cid": "CAMPAIGN7"}', seq=0)])
    res = subprocess.run([sys.executable, "-m", "inspector", "export", str(session), "--redact",
                          "--redact-key", "order_ref", "--keep-value", "918921269123"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    row = json.loads(res.stdout)
    body = json.loads(row["body_text"])
    assert body["mobile"] == "918921269123"
    assert body["order_ref"].startswith("personal-")
    assert body["cid"] == "CAMPAIGN7"


def test_binary_body_is_removed_and_said(make_session) -> None:
    from tests.share.support import stored_rows

    (row,) = stored_rows(make_session([captured_request(
        "/bin", b"\xff\xfe918921269123", seq=0, headers=[("Content-Type", "application/octet-stream"),
                                                       ("Content-Length", "14")])]))
    out = Redactor().redact(ExportRow(row))
    assert out.request.body == b""
    assert out.dropped == ("binary body of 14 bytes removed",)
    assert ("Content-Length", "0") in out.request.headers


def test_get_callback_query_masked_keeping_the_rest_exact(make_session) -> None:
    from tests.share.support import stored_rows

    (row,) = stored_rows(make_session([captured_request("/ack", b"", seq=0, method="GET",
                                                        query=GET_DLR_QUERY)]))
    out = Redactor().redact(ExportRow(row))
    q = out.request.summary.query
    assert q.startswith("message_id=abc-1&mobile_number=91XXXX")
    assert "&message_status=DELIVRD&token=secret-" in q
    assert "919876543210" not in q and "tk-55aa66bb" not in q
