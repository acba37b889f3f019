"""File descriptors: as many as the system allows, a reserve kept, exhaustion said once.

Every connection is a descriptor. With a low soft limit (``ulimit -n`` is often 1024)
1,100 connections exhausted it: asyncio's accept loop logged a traceback each time it
retried (1.35 million lines on stderr, and a stderr pipe that filled stalled the event
loop), and the writer's restart had no descriptor left. So: the soft limit is raised to
the hard one at start; connections past the limit minus a reserve are closed as soon as
they are accepted; and running out is logged once a minute at most, not per accept.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from typing import Any

try:
    import resource
except ImportError:  # pragma: no cover - Windows has no descriptor limit to raise
    resource = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

#: Linux refuses a soft limit past ``fs.nr_open`` (1,048,576 by default) even when the
#: hard limit is "unlimited"; macOS past ``OPEN_MAX`` (10,240).
_FALLBACKS = (1 << 20, 10_240, 4096)
#: Kept free for the writer (its restart, its socket pair), SQLite and the tunnel.
_RESERVE_MAX = 256
_QUIET = 60.0


def raise_descriptor_limit() -> int:
    """Raise the soft descriptor limit to the hard one; returns the soft limit now in force
    (0 where there is none to know)."""
    if resource is None:
        return 0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    targets = [hard] if hard != resource.RLIM_INFINITY else []
    targets += [t for t in _FALLBACKS if hard == resource.RLIM_INFINITY or t < hard]
    for target in targets:
        if target <= soft and soft != resource.RLIM_INFINITY:
            break
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            continue
        soft = target
        break
    return 0 if soft == resource.RLIM_INFINITY else int(soft)


def open_descriptors() -> int:
    """How many descriptors this process has open (0 where that cannot be known)."""
    for folder in ("/proc/self/fd", "/dev/fd"):
        try:
            return len(os.listdir(folder))
        except OSError:
            continue
    return 0


def connection_cap(soft_limit: int, in_use: int) -> int:
    """Connections served at once: the limit less what is open already and a reserve (a
    quarter of a small limit, at most 256)."""
    if soft_limit <= 0:
        return 1 << 30
    return max(1, soft_limit - in_use - min(_RESERVE_MAX, soft_limit // 4))


class ExhaustionLog:
    """Says once (then at most once a minute, with a count) that descriptors ran out."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._last = -_QUIET
        self._unsaid = 0

    def note(self, what: str) -> None:
        now = time.monotonic()
        self._unsaid += 1
        if now - self._last < _QUIET:
            return
        again = f" ({self._unsaid:,} time(s) since the last message)" if self._last > 0 else ""
        log.warning(
            "too many open files (limit %s): %s; connections already open are still "
            "served, new ones are refused until some close%s",
            self.limit or "unknown",
            what,
            again,
        )
        self._last = now
        self._unsaid = 0


def is_exhaustion(context: dict[str, Any]) -> bool:
    """An event loop error that is descriptors (or buffers) running out on accept."""
    exc = context.get("exception")
    return isinstance(exc, OSError) and exc.errno in (
        errno.EMFILE,
        errno.ENFILE,
        errno.ENOBUFS,
        errno.ENOMEM,
    )
