"""What the capture-time checks found about a stored request, in sentences for people.

Shared by the window's Event card and anything else that explains a row: the authenticity
checks, the re-delivery and what its earlier attempt was answered, the provider's verdict on
our answer, the URL verification, the status's meaning and the delivery report's extras.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from inspector.core.provider.authenticity import describe_check
from inspector.core.provider.delivery_rules import judge
from inspector.core.provider.dlr_fields import carrier_line, twin_lines, twin_problems, twin_times
from inspector.core.provider.status_table import status_meaning
from inspector.core.session.retries import earlier_attempt
from inspector.core.session.store import StoredRequest

RESULT_WORDS = {"ok": "ok", "wrong": "wrong", "mismatch": "does not match", "missing": "missing"}

#: What the authenticity badge says, per row verdict.
AUTH_TOOLTIPS: dict[str, str] = {
    "ok": "Authentic: every configured check passed (secret, signature...)",
    "failed": "Not authentic: a configured check failed (wrong secret or a signature that "
    "does not match the body)",
    "missing": "Unverified: a configured secret or signature was not sent with this request",
}


def auth_lines(request: StoredRequest) -> list[str]:
    """One line per check: ``Signature: ok. Signature matches the body: ...``."""
    return [
        f"{describe_check(check)}: {RESULT_WORDS.get(result, result)}. {detail}"
        for check, result, detail in request.auth
    ]


def _when(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6).astimezone().strftime("%H:%M:%S")


def _gap(seconds: float) -> str:
    if seconds < 1:
        return "under a second"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def retry_sentence(conn: sqlite3.Connection | None, request: StoredRequest) -> str:
    """For a re-delivery: which attempt, what the earlier one was answered, and when."""
    s = request.summary
    if s.attempt < 2:
        return ""
    earlier = earlier_attempt(conn, s.id) if conn is not None else None
    text = f"Attempt {s.attempt}: the provider re-sent the same body to the same path"
    if request.first_id is not None and (earlier is None or earlier.id != request.first_id):
        text += f" (first delivery: request #{request.first_id})"
    if earlier is None:
        return text + "."
    gap = (s.received_us - earlier.received_us) / 1e6
    return (
        f"{text}. The earlier attempt (#{earlier.id}, {_when(earlier.received_us)}, "
        f"{_gap(gap)} before) was answered {earlier.response_status}."
    )


def verdict_sentence(request: StoredRequest) -> str:
    """The provider's view of the answer this row was given (delivered or failed)."""
    s = request.summary
    verdict = judge(s.product, s.event, s.response_status)
    return verdict.sentence if verdict is not None else ""


def verification_sentence(request: StoredRequest) -> str:
    record = request.verification
    if record is None:
        return ""
    key = record.get("validation_key") or record.get("token") or ""
    answered = request.response_status == 200 and b'"challenge"' in request.response_body
    parts = [f"Validation key {key}." if key else "No validation key sent."]
    if record.get("key_matches") is True:
        parts.append("It matches.")
    elif record.get("key_matches") is False:
        parts.append("It does not match (see the warnings).")
    parts.append(
        "The challenge was answered: the console accepts the URL."
        if answered
        else "The challenge was not echoed back: the console will refuse the URL."
    )
    return " ".join(parts)


def meaning(request: StoredRequest) -> str:
    s = request.summary
    return status_meaning(s.product, s.event, s.status)


def dlr_extras(request: StoredRequest, data: Any) -> tuple[str, list[str], list[str]]:
    """The carrier line, the unix-time twins' lines and their problems, for an SMS report."""
    if request.summary.event != "sms:message:status" or not isinstance(data, dict):
        return "", [], []
    twins = twin_times(data)
    return carrier_line(data), twin_lines(twins), twin_problems(twins, data)
