"""Shared set-up for the export, import and redaction tests: sessions, and har-validator."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from inspector.core.session.record import CapturedRequest
from inspector.core.session.store import SessionStore
from tests.conftest import CATALOGUE
from tests.factories import append_decoded, captured_request

HAR_VALIDATOR = "har-validator@5.1.5"

#: The documented delivery variants (delivery.md) with the values that must never leak.
VERIFICATION_BODY = b'{"validation_key": "vk-6f1e2d3c4b5a", "challenge": "ch-9a8b7c6d5e4f3a2b",}'
BEARER = "whsec-live-5f4e3d2c1b0a99887766"
SIGNATURE = "3f1a2b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7081"
DLR_EXTRA = (
    b'{"id": "c1d2e3f4-0000-4a8b-977c-b21cd76cd7d6:1", "mobile": "918921269123", '
    b'"status": "DELIVRD", "credits": "1.0000", "units": 1, "deliv_time": "2021-04-09 16:27:51", '
    b'"sent_time": "2021-04-09 16:27:35", "submit_time": "2021-04-09 16:27:39", '
    b'"deliv_at": "1617965871", "sent_at": "1617965855", "submit_at": "1617965859", '
    b'"cid": "12344441234", "custom": "order-77A", "custom1": "Ravi Kumar", "custom2": "ravi@example.in", '
    b'"location": "India", "region": "Bangalore", "provider": "Jio", "location_code": "in", '
    b'"region_code": "KA", "provider_code": "RJ"}'
)
GET_DLR_QUERY = "message_id=abc-1&mobile_number=919876543210&message_status=DELIVRD&token=tk-55aa66bb"


def delivery_variants() -> list[CapturedRequest]:
    """Verification request, DLR with extra fields, Bearer, Signature, a GET callback."""
    return [
        captured_request(
            "/sms", VERIFICATION_BODY, seq=0, query="token=vk-6f1e2d3c4b5a",
            headers=[("Content-Type", "application/json"), ("Authorization", f"Bearer {BEARER}")],
        ),
        captured_request(
            "/sms", DLR_EXTRA, seq=0,
            headers=[("Content-Type", "application/json"), ("Authorization", f"Bearer {BEARER}")],
        ),
        captured_request(
            "/whatsapp",
            (CATALOGUE / "04_whatsapp_message_in_text.json").read_bytes().replace(
                b"user first name", b"Priya"
            ).replace(b"91XXXXXX", b"919845012345"),
            seq=0,
            headers=[("Content-Type", "application/json"), ("Signature", SIGNATURE)],
        ),
        captured_request("/ack", b"", seq=0, method="GET", query=GET_DLR_QUERY, headers=[]),
    ]


def catalogue_requests() -> list[CapturedRequest]:
    out = []
    for f in sorted(CATALOGUE.glob("*.json")):
        route = "/" + f.stem.split("_")[1]
        out.append(
            captured_request(
                route, f.read_bytes(), seq=0,
                headers=[("Host", "127.0.0.1:8765"), ("Content-Type", "application/json"),
                         ("User-Agent", "provider/2")],
            )
        )
    return out


@pytest.fixture
def make_session(tmp_path: Path) -> Callable[[list[CapturedRequest]], Path]:
    """A session file holding these requests, decoded by the real decoder."""
    counter = [0]

    def make(requests: list[CapturedRequest]) -> Path:
        counter[0] += 1
        path = tmp_path / f"s{counter[0]}.whsession"
        store = SessionStore(path)
        for i, r in enumerate(requests, 1):
            r.seq = i
        append_decoded(store, requests)
        store.close()
        return path

    return make


def _node_tools_missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the HAR validation: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def har_validator() -> Callable[[Path], None]:
    """Validates a HAR file with npm's har-validator (installed once into a cache folder).

    Skipped only outside CI when node or npm is missing; in CI that is a failure, so the
    validation can never pass silently by not running.
    """
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        _node_tools_missing("node and npm are needed to run har-validator")
    cache = Path(tempfile.gettempdir()) / "webhook-inspector-har-validator-5.1.5"
    module = cache / "node_modules" / "har-validator"
    if not module.is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        res = subprocess.run(
            [npm, "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(cache), HAR_VALIDATOR],
            capture_output=True, text=True, timeout=300,
        )
        if res.returncode != 0 or not module.is_dir():
            _node_tools_missing(f"npm install {HAR_VALIDATOR} failed: {res.stderr.strip()[-300:]}")
    script = (
        "const v=require('har-validator');const fs=require('fs');"
        "v.har(JSON.parse(fs.readFileSync(process.argv[1],'utf8')))"
        ".then(()=>console.log('valid'),e=>{console.log(JSON.stringify(e.errors||e.message));process.exit(1)})"
    )

    def validate(path: Path) -> None:
        env = dict(os.environ, NODE_PATH=str(cache / "node_modules"))
        res = subprocess.run([node, "-e", script, str(path)], capture_output=True, text=True,
                             env=env, timeout=120)
        assert res.returncode == 0 and res.stdout.strip() == "valid", (
            f"har-validator refused {path.name}: {res.stdout[:2000]} {res.stderr[:500]}"
        )

    return validate


def read_jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]
