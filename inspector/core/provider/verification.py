"""The provider's URL verification: the first request a new webhook URL ever gets.

The console sends ``POST <url>?token=<validation key>`` with a JSON body
``{"validation_key": ..., "challenge": ...}`` (the documented example has a trailing comma)
and accepts the URL only if the challenge comes back. Recognising it is decoding: the row is
the event ``webhook:verification`` whether or not the inspector answers it (capture can leave
the answer to the user's own app).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from inspector.core.provider.lenient_json import parse_lenient

VERIFICATION_EVENT = "webhook:verification"

#: A body worth parsing for a challenge: cheap to test on every request.
_CHALLENGE = re.compile(rb'"challenge"\s*:')
#: The console's handshake is a few dozen bytes; anything far larger is not one.
_HANDSHAKE_MAX = 64 * 1024


@dataclass(frozen=True, slots=True)
class VerificationHandshake:
    """What the provider's console sent to verify a webhook URL."""

    token: str | None
    validation_key: str | None
    challenge: str


def find_handshake(query: str, body: bytes) -> VerificationHandshake | None:
    """The verification handshake in a request: a ``token`` query parameter and a JSON body
    with a string ``challenge`` (lenient JSON: the provider's example has a trailing comma)."""
    if len(body) > _HANDSHAKE_MAX or not _CHALLENGE.search(body):
        return None
    token = None
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key == "token":
            token = value
            break
    if token is None:
        return None
    try:
        parsed = parse_lenient(body.decode("utf-8"))
    except UnicodeDecodeError:
        return None
    data = parsed.value
    if not parsed.ok or not isinstance(data, dict):
        return None
    challenge = data.get("challenge")
    if not isinstance(challenge, str):
        return None
    validation_key = data.get("validation_key")
    if not isinstance(validation_key, str):
        validation_key = None
    return VerificationHandshake(token, validation_key, challenge)


def _first(value: str, n: int = 4) -> str:
    """The first characters of a key, enough to tell two apart without showing it whole."""
    return f"{value[:n]!r}\u2026" if len(value) > n else repr(value)


def check_handshake(
    handshake: VerificationHandshake, configured_key: str | None
) -> tuple[bool | None, list[str]]:
    """Whether the handshake's keys match, and warnings for the ones that do not.

    With a configured key both ``token`` and ``validation_key`` must equal it; without one
    they must agree with each other. ``None`` when there is nothing to compare.
    """
    warnings: list[str] = []
    sent = [("token", handshake.token), ("validation_key", handshake.validation_key)]
    if configured_key:
        for name, value in sent:
            if value is not None and value != configured_key:
                warnings.append(
                    f"verification {name} {_first(value)} differs from the configured "
                    f"validation key {_first(configured_key)}; the challenge is answered anyway"
                )
        return not warnings, warnings
    if handshake.token is not None and handshake.validation_key is not None:
        if handshake.token != handshake.validation_key:
            warnings.append(
                f"verification token {_first(handshake.token)} and validation_key "
                f"{_first(handshake.validation_key)} differ"
            )
            return False, warnings
        return True, warnings
    return None, warnings


def verification_record(
    handshake: VerificationHandshake, key_matches: bool | None
) -> dict[str, Any]:
    """The stored (and exported) form: ``{token, validation_key, challenge, key_matches}``."""
    return {
        "token": handshake.token,
        "validation_key": handshake.validation_key,
        "challenge": handshake.challenge,
        "key_matches": key_matches,
    }
