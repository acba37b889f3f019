"""Helpers for tests that run real pyngrok against the stand-in agent in ``fake_ngrok.py``."""

from __future__ import annotations

import io
import json
import os
import sys
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

FAKE_AGENT = Path(__file__).with_name("fake_ngrok.py")
#: The authtoken tests hand the stand-in agent; shaped like a real one, never valid.
AUTHTOKEN = "2abcFAKEtoken_0123456789"

T = TypeVar("T")


def install_fake_agent(directory: Path, name: str = "ngrok") -> Path:
    """An executable called ``ngrok`` that pyngrok can exec: it runs the stand-in agent with
    this interpreter, so the shebang never depends on what ``python3`` is on PATH."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_AGENT}" "$@"\n', encoding="utf-8")
    path.chmod(0o755)
    return path


def tgz(name: str, payload: bytes) -> bytes:
    """A gzipped tar holding one file, ``name``, as ngrok's download archives do."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        info = tarfile.TarInfo(name)
        info.size = len(payload)
        tf.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


def wait_for(probe: Callable[[], T | None], timeout: float = 10.0, what: str = "condition") -> T:
    """Poll ``probe`` until it returns something truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def read_state(state_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((state_dir / "state.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None


def public_port(state_dir: Path, public_url: str, timeout: float = 5.0) -> int:
    """The loopback port that serves ``public_url`` in the stand-in agent."""

    def probe() -> int | None:
        state = read_state(state_dir) or {}
        for ep in state.get("endpoints", {}).values():
            if ep["public_url"] == public_url:
                return int(ep["public_port"])
        return None

    return wait_for(probe, timeout, f"a public port for {public_url}")


def send(
    port: int,
    path: str = "/",
    body: bytes = b"{}",
    headers: dict[str, str] | None = None,
    method: str = "POST",
) -> tuple[int, bytes]:
    """One request to the stand-in's public side; returns (status, body) even for 4xx/5xx."""
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=body if method not in ("GET", "HEAD") else None,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
