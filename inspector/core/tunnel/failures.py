"""Tunnel failures: the kinds, and the plain sentences (with the way out) the user reads."""

from __future__ import annotations

import json
import logging
from typing import Literal

from pyngrok.exception import PyngrokNgrokError, PyngrokNgrokHTTPError

from inspector.core.tunnel.redact import redact

log = logging.getLogger(__name__)

AUTHTOKEN_URL = "https://dashboard.ngrok.com/get-started/your-authtoken"
AGENTS_URL = "https://dashboard.ngrok.com/agents"
DOMAINS_URL = "https://dashboard.ngrok.com/domains"


ErrorKind = Literal[
    "missing_binary",
    "no_authtoken",
    "bad_authtoken",
    "account_limit",
    "agent_exited",
    "timeout",
    "network",
    "download_failed",
    "tunnel_rejected",
    "invalid_settings",
    "cancelled",
]

#: Failures that a restart cannot fix: the supervisor gives up at once on these.
FATAL_KINDS: frozenset[str] = frozenset(
    {
        "missing_binary",
        "no_authtoken",
        "bad_authtoken",
        "account_limit",
        "tunnel_rejected",
        "invalid_settings",
    }
)


class TunnelError(Exception):
    """A tunnel failure told as one plain sentence that includes the way out."""

    def __init__(self, kind: ErrorKind, message: str, *, ngrok_code: str | None = None) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message
        self.ngrok_code = ngrok_code


_NETWORK_MARKERS = (
    "failed to dial",
    "no such host",
    "connection refused",
    "network is unreachable",
    "i/o timeout",
    "tls handshake timeout",
    "connection reset",
    "temporary failure in name",
    "dial tcp",
    "no route to host",
)
_BAD_TOKEN_CODES = {"ERR_NGROK_105", "ERR_NGROK_106", "ERR_NGROK_107"}
_NO_TOKEN_CODES = {"ERR_NGROK_4018", "ERR_NGROK_302"}
_LIMIT_CODES = {"ERR_NGROK_108", "ERR_NGROK_324", "ERR_NGROK_702", "ERR_NGROK_725"}
_DOMAIN_CODES = {"ERR_NGROK_313", "ERR_NGROK_319", "ERR_NGROK_320", "ERR_NGROK_334"}


def _first_line(text: str) -> str:
    text = text.replace("\\r", "\n").replace("\\n", "\n").replace("\r", "\n")
    for line in text.split("\n"):
        line = line.strip().rstrip(".")
        if line:
            return line
    return ""


def _is_network(text: str) -> bool:
    low = text.lower()
    return any(marker in low for marker in _NETWORK_MARKERS)


def missing_binary_error(path: str) -> TunnelError:
    return TunnelError(
        "missing_binary",
        f"ngrok is not installed at {path}; install it (Install ngrok… in the tunnel panel) "
        "or give the path of an existing ngrok binary (--ngrok-path, or Tunnel settings).",
    )


def no_authtoken_error() -> TunnelError:
    return TunnelError(
        "no_authtoken",
        f"No ngrok authtoken is set; get one at {AUTHTOKEN_URL} and enter it in Tunnel "
        "settings or set NGROK_AUTHTOKEN.",
    )


def classify_agent_error(text: str | None, code: str | None = None) -> TunnelError:
    """Turn what the agent said into one of our error kinds with a user-facing sentence."""
    text = redact(text or "")
    low = text.lower()
    if code in _BAD_TOKEN_CODES or (
        "authtoken" in low and ("not look like" in low or "invalid" in low or "revoked" in low)
    ):
        return TunnelError(
            "bad_authtoken",
            f"ngrok rejected the authtoken ({code or 'invalid authtoken'}); copy a valid one "
            f"from {AUTHTOKEN_URL} into Tunnel settings or NGROK_AUTHTOKEN.",
            ngrok_code=code,
        )
    if code in _NO_TOKEN_CODES or "requires a verified account and authtoken" in low:
        err = no_authtoken_error()
        err.ngrok_code = code
        return err
    if code in _LIMIT_CODES or "account is limited" in low or ("limit" in low and "account" in low):
        detail = _first_line(text.split(":", 1)[-1]) if ":" in text else _first_line(text)
        return TunnelError(
            "account_limit",
            f"Your ngrok account limit was reached ({detail or code}); stop your other ngrok "
            f"agents (see {AGENTS_URL}) or upgrade your plan, then start the tunnel again.",
            ngrok_code=code,
        )
    if code in _DOMAIN_CODES:
        return TunnelError(
            "tunnel_rejected",
            f"ngrok refused the reserved domain ({_first_line(text) or code}); check it at "
            f"{DOMAINS_URL} or clear the domain in Tunnel settings.",
            ngrok_code=code,
        )
    if _is_network(text):
        return TunnelError(
            "network",
            "ngrok cannot reach its servers (the network looks down); check your internet "
            "connection, proxy or firewall and start the tunnel again.",
            ngrok_code=code,
        )
    reason = _first_line(text)
    return TunnelError(
        "agent_exited",
        f"The ngrok agent stopped while starting{f' ({reason})' if reason else ''}; check that "
        "the ngrok binary in Tunnel settings is a working ngrok v3 (reinstall it if unsure) and "
        "start again.",
        ngrok_code=code,
    )


def _http_error_text(exc: PyngrokNgrokHTTPError) -> tuple[str, str | None]:
    """The agent API answers errors as JSON with ``msg`` and ``details.err``."""
    try:
        body = json.loads(exc.body)
    except (TypeError, ValueError):
        return exc.body or str(exc), PyngrokNgrokError._parse_ngrok_error_code(exc.body)
    parts = [str(body.get("msg", ""))]
    details = body.get("details")
    if isinstance(details, dict) and details.get("err"):
        parts.append(str(details["err"]))
    text = ": ".join(p for p in parts if p)
    return text, PyngrokNgrokError._parse_ngrok_error_code(text)
