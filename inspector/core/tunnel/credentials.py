"""The tunnel's own basic-auth credentials, as requests that passed it carry them.

With basic auth on, ngrok checks ``Authorization: Basic ...`` and forwards the header to
the listener unchanged: our password would be recorded in the session and exported as
if the provider had sent it. A running tunnel registers its credentials here, so the
listener can tell them apart and mark the request (see ``inspector.core.session.record``).
"""

from __future__ import annotations

import base64
import binascii
import threading

_lock = threading.Lock()
_active: dict[str, int] = {}  # "user:password" -> how many running tunnels use it


def hold_basic_auth(value: str | None) -> None:
    if value:
        with _lock:
            _active[value] = _active.get(value, 0) + 1


def release_basic_auth(value: str | None) -> None:
    if value:
        with _lock:
            left = _active.get(value, 0) - 1
            if left > 0:
                _active[value] = left
            else:
                _active.pop(value, None)


def is_tunnel_basic_auth(header_value: str) -> bool:
    """Whether an ``Authorization`` header value is a running tunnel's basic auth."""
    scheme, _, token = header_value.strip().partition(" ")
    if scheme.lower() != "basic" or not _active:
        return False
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    with _lock:
        return decoded in _active
