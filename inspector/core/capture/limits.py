"""What one request, and everything in flight, may cost the listener; and how sizes are written.

Every limit here is stated in the README's capture section: a careful user must be able to
know what gets refused, and why, before a provider finds out.
"""

from __future__ import annotations

import re

#: The default ``--max-body``: the largest body a big provider sends.
DEFAULT_MAX_BODY = 25 * 1024 * 1024
#: The largest ``--max-body`` accepted: a body is held whole in memory (and stored in one
#: SQLite row), so a limit past this only lets one request exhaust the machine.
MAX_MAX_BODY = 1 << 30

#: All the header lines of one request together (names, values and line ends): far above
#: what any webhook sends (a few KiB) and what proxies allow (8-64 KiB), low enough that a
#: flood of headers costs a few MiB, not gigabytes. Past it the request is answered 431.
DEFAULT_MAX_HEADER_BYTES = 1 << 20

#: Back-pressure: bytes and requests the listener holds while the writer has not yet
#: committed them. Past either, new requests get 503 at once (the provider retries) until
#: the writer catches up. 128 MiB is five of the largest default bodies (each held
#: twice at worst: as received and as sent to the writer); 10,000 requests is half a
#: second of the writer's full rate and about 20 MiB of small webhooks.
DEFAULT_MAX_INFLIGHT_BYTES = 128 << 20
DEFAULT_MAX_INFLIGHT_REQUESTS = 10_000

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
_SIZE = re.compile(r"([0-9]+)([kmg](?:ib)?)?", re.IGNORECASE)

#: The largest ``--max-header-size``: far past any real request, still bounded.
MAX_MAX_HEADER_BYTES = 64 << 20


def size_syntax(maximum: int) -> str:
    """What a size may be written as, for messages and ``--help``."""
    most = next(
        f"{maximum >> shift}{unit}"
        for shift, unit in ((30, "G"), (20, "M"), (10, "K"), (0, ""))
        if maximum >> shift and not maximum & ((1 << shift) - 1)
    )
    return (
        "a whole number of bytes, optionally followed by K, M or G (binary: K = 1024), "
        f"e.g. 512K or 25M; at least 1, at most {most}"
    )


class SizeError(ValueError):
    """A size the user wrote that is not one; the message says what is allowed."""


def parse_size(text: str, *, maximum: int = MAX_MAX_BODY) -> int:
    """``512``, ``512K``, ``25M``, ``25MiB``, ``1G`` -> bytes; anything else is refused.

    Strict on purpose: ``0.5``, ``1e400``, ``inf`` or ``25MB`` (decimal or binary?) would
    otherwise become a surprising limit, or a traceback.
    """
    syntax = size_syntax(maximum)
    m = _SIZE.fullmatch(text.strip())
    if m is None:
        raise SizeError(f"not a size: {text!r}; use {syntax}")
    digits, unit = m.groups()
    if len(digits) > 12:  # no int() of a thousand digits
        raise SizeError(f"size {text!r} is too large; use {syntax}")
    value = int(digits) * _UNITS[(unit or "")[:1].lower()]
    if value < 1:
        raise SizeError(f"size must be at least 1 byte, not {text!r}; use {syntax}")
    if value > maximum:
        raise SizeError(f"size {text!r} is over the maximum; use {syntax}")
    return value


