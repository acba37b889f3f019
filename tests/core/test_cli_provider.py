"""``capture``'s provider options: verification answer, secrets from options or the
environment, composed templates, and their one-line errors."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from inspector.core.capture.provider_settings import ProviderSettings, ProviderSettingsStore
from inspector.core.session.store import get_request, open_existing
from tests.core.httpraw import send
from tests.core.test_cli import Capture, cli, one_line_error

JSON = [("Content-Type", "application/json")]
HANDSHAKE = b'{"validation_key": "vk-1", "challenge": "ch-9",}'
WA = b'{"event":"whatsapp:message:status","payload":{"id":"m1","channel":"whatsapp","status":"read"}}'


def rows(session: Path) -> list:
    conn = open_existing(session)
    try:
        ids = [r[0] for r in conn.execute("SELECT id FROM requests ORDER BY id")]
        return [get_request(conn, i) for i in ids]
    finally:
        conn.close()


def test_no_verification_answer(tmp_path: Path) -> None:
    session = tmp_path / "s.whsession"
    cap = Capture(session, "--no-verification-answer")
    try:
        resp = send(cap.url, "POST", "/?token=vk-1", JSON, HANDSHAKE)
    finally:
        out, _ = cap.stop()
    assert "challenge" not in resp.json()
    assert "webhook:verification" in out
    assert rows(session)[0].event == "webhook:verification"


def test_secret_and_signing_key_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBHOOK_INSPECTOR_SECRET", "env-secret")
    monkeypatch.setenv("WEBHOOK_INSPECTOR_SIGNING_KEYS", "wid-1 wid-2")
    session = tmp_path / "s.whsession"
    cap = Capture(session)
    try:
        signature = hmac.new(b"wid-2", WA, hashlib.sha256).hexdigest()
        send(cap.url, "POST", "/whatsapp",
             JSON + [("Authorization", "Bearer env-secret"), ("Signature", signature)], WA)  # fmt: skip
        send(cap.url, "POST", "/whatsapp", JSON + [("Authorization", "Bearer other")], WA)
    finally:
        out, err = cap.stop()
    first, second = rows(session)
    assert [r[:2] for r in first.auth] == [("bearer", "ok"), ("signature", "ok")]
    assert "signing key 2" in first.auth[1][2]
    assert second.auth_result == "failed" and second.attempt == 2
    assert "[auth failed]" in out.splitlines()[1] and "(retry 2)" in out.splitlines()[1]
    assert "env-secret" not in out + err


def test_options_replace_saved_settings(tmp_path: Path) -> None:
    ProviderSettingsStore().save(ProviderSettings(secret="saved-secret", validation_key="vk-1"))
    session = tmp_path / "s.whsession"
    cap = Capture(session, "--secret", "cli-secret")
    try:
        send(cap.url, "POST", "/sms", JSON + [("Authorization", "Bearer cli-secret")], b"{}")
        send(cap.url, "POST", "/?token=vk-2", JSON, HANDSHAKE)
    finally:
        cap.stop()
    first, second = rows(session)
    assert first.auth[0][1] == "ok"
    # The saved validation key still applies: the handshake's keys differ from it.
    assert second.verification["key_matches"] is False


def test_compose_file(tmp_path: Path) -> None:
    template = tmp_path / "composed.txt"
    template.write_text("GET https://example.com/ack?mid=@{{id}}&st=@{{status}}\n")
    session = tmp_path / "s.whsession"
    cap = Capture(session, "--compose", str(template))
    try:
        send(cap.url, "GET", "/ack?mid=m-5&st=DELIVRD")
    finally:
        cap.stop()
    [row] = rows(session)
    assert (row.event, row.message_id, row.status_class) == ("sms:message:status", "m-5", "success")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "cannot read compose file"),
        ("GET https://x/a?m=@{{nope}}", "unknown variable(s) nope"),
        ("GET https://x/a?m=1", "no @{{variable}} placeholders"),
    ],
)
def test_bad_compose_file_is_one_line(tmp_path: Path, content: str | None, fragment: str) -> None:
    template = tmp_path / "composed.txt"
    if content is not None:
        template.write_text(content)
    res = cli("capture", "--port", "0", "--session", str(tmp_path / "s.whsession"),
              "--compose", str(template))  # fmt: skip
    one_line_error(res, fragment)


def test_bad_standard_webhooks_key_is_one_line(tmp_path: Path) -> None:
    res = cli("capture", "--port", "0", "--session", str(tmp_path / "s.whsession"),
              "--standard-webhooks-key", "whsec_!!")  # fmt: skip
    one_line_error(res, "Standard Webhooks key")


def test_secrets_are_saved_apart_from_plain_settings(tmp_path: Path) -> None:
    store = ProviderSettingsStore(tmp_path)
    store.save(ProviderSettings(secret="s-1", signing_keys=["k-1", "k-2"], hmac_header="X-Sig"))
    plain = json.loads((tmp_path / "provider.json").read_text())
    assert plain["hmac_header"] == "X-Sig"
    assert "s-1" not in json.dumps(plain) and "k-1" not in json.dumps(plain)
    assert (tmp_path / "secrets.json").stat().st_mode & 0o777 == 0o600
    loaded = store.load()
    assert (loaded.secret, loaded.signing_keys) == ("s-1", ["k-1", "k-2"])
