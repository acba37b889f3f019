"""Tunnel helpers that need no agent: header detection, install, settings and secrets."""

from __future__ import annotations

import json
import os
import socket
import stat
from pathlib import Path

import pytest

from inspector.core.tunnel import (
    TunnelError,
    TunnelOptions,
    install_agent,
    resolve_ngrok_path,
    tunnel_client_address,
    validate_basic_auth,
)
from inspector.core.tunnel import secrets as secrets_mod
from inspector.core.tunnel.secrets import (
    SecretStore,
    TunnelSettings,
    TunnelSettingsStore,
    config_dir,
)
from tests.fake_ngrok.harness import tgz

# ----------------------------------------------------------------------------- headers

NGROK_HEADERS = [
    ("Host", "abc123.ngrok-free.app"),
    ("X-Forwarded-For", "198.51.100.7"),
    ("X-Forwarded-Host", "abc123.ngrok-free.app"),
    ("X-Forwarded-Proto", "https"),
]


def test_tunnelled_request_gives_the_client_address() -> None:
    assert tunnel_client_address(NGROK_HEADERS) == "198.51.100.7"


def test_rightmost_forwarded_for_is_trusted_not_what_the_sender_wrote() -> None:
    headers = [("x-forwarded-for", "10.0.0.1, 198.51.100.7"), *NGROK_HEADERS[2:]]
    assert tunnel_client_address(headers) == "198.51.100.7"


def test_direct_local_request_is_not_tunnelled() -> None:
    assert tunnel_client_address([("Host", "127.0.0.1:8765")]) is None


def test_forwarded_by_some_other_proxy_is_not_tunnelled() -> None:
    headers = [("X-Forwarded-For", "198.51.100.7"), ("X-Forwarded-Host", "proxy.example.com")]
    assert tunnel_client_address(headers) is None
    assert tunnel_client_address(headers, public_host="proxy.example.com") == "198.51.100.7"


def test_ngrok_header_marks_a_custom_domain_tunnel() -> None:
    headers = [("X-Forwarded-For", "[2001:db8::5]:4431"), ("Ngrok-Trace-Id", "abc")]
    assert tunnel_client_address(headers) == "2001:db8::5"


def test_a_remote_peer_cannot_be_the_local_agent() -> None:
    assert tunnel_client_address(NGROK_HEADERS, peer="192.0.2.1") is None
    assert tunnel_client_address(NGROK_HEADERS, peer="127.0.0.1") == "198.51.100.7"


# ----------------------------------------------------------------------------- options


def test_options_repr_hides_secrets() -> None:
    text = repr(TunnelOptions(authtoken="2tokenXYZ", basic_auth="u:password1"))
    assert "2tokenXYZ" not in text and "password1" not in text


@pytest.mark.parametrize("value", ["nouser", ":password123", "u:short"])
def test_basic_auth_rules(value: str) -> None:
    with pytest.raises(TunnelError) as info:
        validate_basic_auth(value)
    assert info.value.kind == "invalid_settings"


def test_ngrok_path_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PYNGROK_NGROK_PATH", "/from/env/ngrok")
    assert resolve_ngrok_path("/explicit/ngrok") == "/explicit/ngrok"
    assert resolve_ngrok_path(None) == "/from/env/ngrok"
    monkeypatch.delenv("PYNGROK_NGROK_PATH")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert resolve_ngrok_path(None).endswith(os.path.join("ngrok", "ngrok"))


# ----------------------------------------------------------------------------- install


def test_install_reports_progress_and_installs_executable(
    archive_server: tuple[str, dict[str, bytes]], tmp_path: Path
) -> None:
    base, files = archive_server
    payload = b"#!/bin/sh\necho ngrok\n" + os.urandom(400_000)  # incompressible
    files["/ngrok-v3-stable-linux-amd64.tgz"] = tgz("ngrok", payload)
    seen: list[int] = []
    target = tmp_path / "bin" / "ngrok"

    path = install_agent(
        seen.append, ngrok_path=str(target), url=f"{base}/ngrok-v3-stable-linux-amd64.tgz"
    )

    assert path == str(target) and target.read_bytes() == payload
    assert os.access(target, os.X_OK)
    assert seen[0] == 0 and seen[-1] == 100 and seen == sorted(seen) and len(seen) > 3


def test_install_offline_says_it_cannot_be_downloaded(tmp_path: Path) -> None:
    with socket.socket() as s:  # a loopback port nobody listens on: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TunnelError) as info:
        install_agent(
            None, ngrok_path=str(tmp_path / "ngrok"), url=f"http://127.0.0.1:{port}/ngrok.tgz"
        )
    assert info.value.kind == "download_failed"
    assert "cannot be downloaded: no internet connection" in info.value.message
    assert not (tmp_path / "ngrok").exists()


def test_install_rejects_a_damaged_archive(
    archive_server: tuple[str, dict[str, bytes]], tmp_path: Path
) -> None:
    base, files = archive_server
    files["/ngrok.tgz"] = b"not a tarball"
    with pytest.raises(TunnelError) as info:
        install_agent(None, ngrok_path=str(tmp_path / "ngrok"), url=f"{base}/ngrok.tgz")
    assert info.value.kind == "download_failed" and "damaged" in info.value.message


# ----------------------------------------------------------------------------- settings


def test_config_dir_follows_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_INSPECTOR_CONFIG_DIR", str(tmp_path / "cfg"))
    assert config_dir() == tmp_path / "cfg"
    assert secrets_mod.choose_backend() == "file", "a test profile never uses the real keyring"


def test_settings_and_secrets_round_trip_in_private_files(tmp_path: Path) -> None:
    store = TunnelSettingsStore(tmp_path, SecretStore(tmp_path, backend="file"))
    store.save(
        TunnelSettings(
            region="eu",
            domain="hooks.example.com",
            basic_auth_user="hooks",
            ngrok_path="/opt/ngrok",
            webhook_path="/whatsapp",
        )
    )
    store.set_authtoken("  2tokenABC  ")
    store.set_basic_auth_password("pass-word-1")

    options = TunnelSettingsStore(tmp_path, SecretStore(tmp_path, backend="file")).tunnel_options()
    assert options.authtoken == "2tokenABC"
    assert options.basic_auth == "hooks:pass-word-1"
    assert (options.region, options.domain, options.ngrok_path) == (
        "eu",
        "hooks.example.com",
        "/opt/ngrok",
    )
    settings_text = store.settings_path.read_text()
    assert "2tokenABC" not in settings_text and "pass-word-1" not in settings_text
    assert json.loads(settings_text)["webhook_path"] == "/whatsapp"
    for path in (store.settings_path, store.secrets.file_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

    store.set_authtoken("")
    assert store.authtoken() is None
