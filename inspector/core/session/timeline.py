"""A message's life across requests, and the timestamps inside one payload.

The provider sends one webhook per state change (sent, delivered, read...), each
carrying the same message id.  Putting them side by side, and showing how long
each step took, is what a developer debugging a slow delivery actually needs.
Pure functions over SQLite and parsed JSON: no Qt, usable from the CLI and tests.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from inspector.core.session.store import SUMMARY_COLUMNS, RowSummary, keyed_ids

_SELECT_BY_MESSAGE = (
    f"SELECT {', '.join(SUMMARY_COLUMNS)} FROM requests "
    f"WHERE id IN ({keyed_ids('by_message', 'message_id = ?')}) ORDER BY seq, id LIMIT ?"
)


def requests_for_message(
    conn: sqlite3.Connection, message_id: str, limit: int = 500
) -> list[RowSummary]:
    """Every request carrying ``message_id``, in arrival order (through the message id lookup
    table, and a scan of the few rows it does not cover yet).

    An empty id matches nothing: undecoded requests all have one and are not related.
    """
    if not message_id:
        return []
    rows = conn.execute(_SELECT_BY_MESSAGE, (message_id, message_id, limit)).fetchall()
    return [RowSummary.from_row(row) for row in rows]


_MESSAGE_IDS = keyed_ids("by_message", "message_id = ?")
_COUNT_BY_MESSAGE = f"SELECT count(*) FROM requests WHERE id IN ({_MESSAGE_IDS})"
_BEFORE_IN_MESSAGE = f"SELECT count(*) FROM requests WHERE id IN ({_MESSAGE_IDS}) AND (seq < ? OR (seq = ? AND id < ?))"
_WINDOW_BY_MESSAGE = (
    f"SELECT {', '.join(SUMMARY_COLUMNS)} FROM requests "
    f"WHERE id IN ({_MESSAGE_IDS}) ORDER BY seq, id LIMIT ? OFFSET ?"
)
_FIRST_OF_MESSAGE = (
    f"SELECT received_us FROM requests WHERE id IN ({_MESSAGE_IDS}) ORDER BY seq, id LIMIT 1"
)


@dataclass(frozen=True, slots=True)
class TimelineWindow:
    """Part of a message's timeline: ``rows`` are requests ``start``.. of ``total``."""

    rows: list[RowSummary]
    total: int
    start: int
    #: When the message's first request arrived (the base of "after first"), if any.
    first_received_us: int | None


def timeline_around(
    conn: sqlite3.Connection, message_id: str, request_id: int, limit: int = 500
) -> TimelineWindow:
    """Up to ``limit`` requests carrying ``message_id``, in arrival order, centred on
    ``request_id`` so that the request being looked at is always in its own timeline
    (a message can have thousands of requests: retries, a provider in a loop)."""
    if not message_id:
        return TimelineWindow([], 0, 0, None)
    ids = (message_id, message_id)
    total = int(conn.execute(_COUNT_BY_MESSAGE, ids).fetchone()[0])
    if total == 0:
        return TimelineWindow([], 0, 0, None)
    start = 0
    if total > limit:
        seq = conn.execute("SELECT seq FROM requests WHERE id = ?", (request_id,)).fetchone()
        position = 0
        if seq is not None:
            row = conn.execute(_BEFORE_IN_MESSAGE, (*ids, seq[0], seq[0], request_id)).fetchone()
            position = int(row[0])
        start = max(0, min(position - limit // 2, total - limit))
    rows = [
        RowSummary.from_row(r)
        for r in conn.execute(_WINDOW_BY_MESSAGE, (*ids, limit, start)).fetchall()
    ]
    first = rows[0].received_us if start == 0 and rows else None
    if first is None:
        found = conn.execute(_FIRST_OF_MESSAGE, ids).fetchone()
        first = int(found[0]) if found is not None else None
    return TimelineWindow(rows, total, start, first)


#: Payload keys that hold a point in time, in the order a message lives through them,
#: with the word a person would use for each.
TIMESTAMP_FIELDS: tuple[tuple[str, str], ...] = (
    ("sent_time", "sent"),
    ("submit_time", "submitted"),
    ("deliv_time", "delivered"),
    ("processed_at", "processed"),
    ("timestamp", "timestamp"),
    ("delivered_at", "delivered"),
    ("read_at", "read"),
    ("start_at", "call started"),
    ("end_at", "call ended"),
    ("created_at", "created"),
    ("updated_at", "updated"),
)

_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Stamp:
    """One timestamp found in a payload; ``when`` is None if the text is not a time we read."""

    key: str
    label: str
    raw: str
    when: datetime | None


@dataclass(frozen=True, slots=True)
class Delay:
    """How long after an earlier stamp a later one happened."""

    later: Stamp
    earlier: Stamp
    seconds: float

    def describe(self) -> str:
        """E.g. ``delivered 16 s after sent``."""
        if self.seconds == 0:
            return f"{self.later.label} at the same time as {self.earlier.label}"
        return f"{self.later.label} {format_duration(self.seconds)} after {self.earlier.label}"


def parse_time(value: Any) -> datetime | None:
    """Read the provider's time formats: ISO 8601 / RFC 3339, ``YYYY-MM-DD HH:MM:SS``, epoch.

    Times without a zone stay naive: the provider does not say which zone they are in,
    so they are only ever compared with each other.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        number = float(value)
        if number > 1e14:  # microseconds
            number /= 1e6
        elif number > 1e11:  # milliseconds
            number /= 1e3
        if not 1e8 < number < 1e10:  # roughly 1973..2286: anything else is not a time
            return None
        return datetime.fromtimestamp(number, tz=UTC)
    if not isinstance(value, str):
        return None
    m = _ISO.match(value.strip())
    if m is None:
        return None
    year, month, day, hour, minute, second, frac, zone = m.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    tz = None
    if zone:
        if zone.upper() == "Z":
            tz = UTC
        else:
            sign = -1 if zone[0] == "-" else 1
            digits = zone[1:].replace(":", "")
            offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            tz = timezone(sign * offset)
    try:
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro, tz
        )
    except ValueError:
        return None


def payload_body(data: Any) -> Any:
    """The part of a parsed body that holds the event's fields (unwraps ``{event, payload}``)."""
    if isinstance(data, Mapping) and isinstance(data.get("payload"), Mapping) and "event" in data:
        return data["payload"]
    return data


def extract_timestamps(data: Any) -> list[Stamp]:
    """The known timestamp fields of a payload, in lifecycle order (see ``TIMESTAMP_FIELDS``)."""
    body = payload_body(data)
    if not isinstance(body, Mapping):
        return []
    stamps: list[Stamp] = []
    for key, label in TIMESTAMP_FIELDS:
        if key not in body:
            continue
        value = body[key]
        if value is None or isinstance(value, Mapping | list):
            continue
        raw = value if isinstance(value, str) else str(value)
        stamps.append(Stamp(key, label, raw, parse_time(value)))
    return stamps


def compute_delays(stamps: list[Stamp]) -> list[Delay]:
    """Each stamp's delay after the one before it in time, and after the first if that differs.

    Stamps are put in chronological order (a payload may list ``submit_time`` before
    ``sent_time`` or carry identical times); naive and zoned times are never mixed.
    """
    delays: list[Delay] = []
    for aware in (False, True):
        timed = [s for s in stamps if s.when is not None and (s.when.tzinfo is not None) == aware]
        order = sorted(timed, key=lambda s: s.when)  # type: ignore[arg-type, return-value]
        if len(order) < 2:
            continue
        first = order[0]
        for prev, cur in zip(order, order[1:], strict=False):
            assert cur.when is not None and prev.when is not None and first.when is not None
            delays.append(Delay(cur, prev, (cur.when - prev.when).total_seconds()))
            if prev is not first:
                delays.append(Delay(cur, first, (cur.when - first.when).total_seconds()))
    return delays


def _join_labels(stamps: list[Stamp]) -> str:
    labels = list(dict.fromkeys(s.label for s in stamps))
    if len(labels) == 1:
        return labels[0]
    return ", ".join(labels[:-1]) + " and " + labels[-1]


def describe_delays(stamps: list[Stamp]) -> list[str]:
    """Sentences for the event card, e.g. ``delivered 12 s after submitted (16 s after sent)``.

    Stamps at the same instant are named together instead of as zero delays, which is
    what the provider's status examples (four identical times) would otherwise produce.
    """
    lines: list[str] = []
    for aware in (False, True):
        timed = [s for s in stamps if s.when is not None and (s.when.tzinfo is not None) == aware]
        groups: dict[datetime, list[Stamp]] = {}
        for stamp in sorted(timed, key=lambda s: s.when):  # type: ignore[arg-type, return-value]
            assert stamp.when is not None
            groups.setdefault(stamp.when, []).append(stamp)
        ordered = list(groups.items())
        if len(ordered) == 1 and len(ordered[0][1]) > 1:
            lines.append(f"{_join_labels(ordered[0][1])} at the same time")
            continue
        for n in range(1, len(ordered)):
            when, group = ordered[n]
            prev_when, prev = ordered[n - 1]
            line = (
                f"{_join_labels(group)} {format_duration((when - prev_when).total_seconds())} "
                f"after {_join_labels(prev)}"
            )
            if n > 1:
                first_when, first = ordered[0]
                line += (
                    f" ({format_duration((when - first_when).total_seconds())} "
                    f"after {_join_labels(first)})"
                )
            lines.append(line)
    return lines


def format_duration(seconds: float) -> str:
    """Short human duration: ``71 µs``, ``12 ms``, ``1.5 s``, ``16 s``, ``2 min 5 s``,
    ``1 h 3 min``, ``2 d 4 h`` (webhooks of one message often arrive microseconds apart,
    and ``7.1e-05 s`` is not something a person reads at a glance)."""
    sign = "-" if seconds < 0 else ""
    s = abs(seconds)
    if 0 < s < 1:
        micro = round(s * 1e6)
        if micro < 1000:
            return f"{sign}{micro} \u00b5s"
        milli = round(s * 1e3)
        if milli < 1000:
            return f"{sign}{milli} ms"
    if s < 10 and round(s, 1) < 10 and round(s, 1) != round(s):
        return f"{sign}{s:.1f} s"
    whole = round(s)
    if whole < 60:
        return f"{sign}{whole} s"
    minutes, sec = divmod(whole, 60)
    if minutes < 60:
        return f"{sign}{minutes} min {sec} s" if sec else f"{sign}{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{sign}{hours} h {minutes} min" if minutes else f"{sign}{hours} h"
    days, hours = divmod(hours, 24)
    return f"{sign}{days} d {hours} h" if hours else f"{sign}{days} d"
