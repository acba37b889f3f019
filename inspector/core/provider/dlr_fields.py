"""The delivery report's documented extras, read for people: unix-time twins and the carrier.

The SMS webhook page sends each time twice, as text (``deliv_time``, local to the provider,
no zone) and as unix seconds (``deliv_at``); and where the number is and who carried it
(``provider`` / ``provider_code``, ``region`` / ``region_code``, ``location``). A twin that
disagrees with its text form is worth a warning; the zone the text forms are in is whatever
offset makes them agree (the provider is in India: usually UTC+05:30).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

#: (unix twin, its text form, what it is).
TWINS: tuple[tuple[str, str, str], ...] = (
    ("submit_at", "submit_time", "submitted"),
    ("sent_at", "sent_time", "sent"),
    ("deliv_at", "deliv_time", "delivered"),
)
_TEXT_FORMAT = "%Y-%m-%d %H:%M:%S"
#: Zone offsets are whole quarter hours, within a day's width of UTC.
_QUARTER = 900
_MAX_OFFSET = 14 * 3600


class TwinTime(NamedTuple):
    """One unix-time twin: its value in UTC, and the offset (seconds) of its text form."""

    key: str
    label: str
    raw: str
    when: datetime | None
    offset: int | None


def _text_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value.strip(), _TEXT_FORMAT)
    except ValueError:
        return None


def _unix(value: Any) -> datetime | None:
    text = str(value).strip() if isinstance(value, (str, int)) else ""
    if not text.isdigit() or not 1e8 < int(text) < 1e10:
        return None
    return datetime.fromtimestamp(int(text), tz=UTC)


def twin_times(data: Any) -> list[TwinTime]:
    """The unix twins present in a delivery report, with the text forms' zone offset."""
    if not isinstance(data, Mapping):
        return []
    out: list[TwinTime] = []
    for key, text_key, label in TWINS:
        if key not in data:
            continue
        when = _unix(data[key])
        text = _text_time(data.get(text_key))
        offset = None
        if when is not None and text is not None:
            offset = int((text - when.replace(tzinfo=None)).total_seconds())
        out.append(TwinTime(key, label, str(data[key]), when, offset))
    return out


def _zone(offset: int) -> str:
    sign = "+" if offset >= 0 else "-"
    hours, rest = divmod(abs(offset), 3600)
    return f"UTC{sign}{hours:02d}:{rest // 60:02d}"


def twin_problems(twins: list[TwinTime], data: Mapping[str, Any]) -> list[str]:
    """Warnings for twins that do not agree with their text forms (or with each other)."""
    problems: list[str] = []
    offsets: dict[int, list[str]] = {}
    for t in twins:
        text_key = next(tk for k, tk, _ in TWINS if k == t.key)
        if t.when is None:
            problems.append(f"{t.key} {t.raw!r} is not a unix time in seconds")
            continue
        if t.offset is None:
            continue  # no text form to compare with
        if abs(t.offset) > _MAX_OFFSET or t.offset % _QUARTER not in (0,):
            problems.append(
                f"{t.key} ({t.when:%Y-%m-%d %H:%M:%S} UTC) disagrees with {text_key} "
                f"{data.get(text_key)!r}: no time zone makes them the same moment"
            )
            continue
        offsets.setdefault(t.offset, []).append(t.key)
    if len(offsets) > 1:
        parts = "; ".join(f"{', '.join(keys)} at {_zone(o)}" for o, keys in offsets.items())
        problems.append(
            f"the unix times disagree with their text forms by different zones ({parts})"
        )
    return problems


def twin_lines(twins: list[TwinTime]) -> list[str]:
    """One line per twin: what it says, in UTC and in the text forms' zone."""
    lines = []
    for t in twins:
        if t.when is None:
            lines.append(f"{t.label}: {t.key} {t.raw} (not a unix time)")
            continue
        text = f"{t.label}: {t.key} {t.raw} = {t.when:%Y-%m-%d %H:%M:%S} UTC"
        if t.offset is not None and abs(t.offset) <= _MAX_OFFSET and t.offset % _QUARTER == 0:
            local = t.when + timedelta(seconds=t.offset)
            text += f" = {local:%H:%M:%S} {_zone(t.offset)}"
        lines.append(text)
    return lines


def carrier_line(data: Any) -> str:
    """``Jio (RJ) · Bangalore (KA) · India``: who carried the message and where the number is."""
    if not isinstance(data, Mapping):
        return ""

    def part(name: str, code: str) -> str:
        value = data.get(name)
        value_code = data.get(code)
        text = str(value).strip() if isinstance(value, (str, int)) and value != "" else ""
        code_text = (
            str(value_code).strip()
            if isinstance(value_code, (str, int)) and value_code != ""
            else ""
        )
        if text and code_text:
            return f"{text} ({code_text})"
        return text or code_text

    location = part("location", "location_code") if data.get("location") else ""
    if not location and data.get("location_code"):
        location = str(data["location_code"])
    elif data.get("location"):
        location = str(data["location"]).strip()  # the country: its code adds nothing
    parts = [part("provider", "provider_code"), part("region", "region_code"), location]
    return " \u00b7 ".join(p for p in parts if p)
