"""JSON parsing that survives what the provider really sends.

The provider's own examples carry trailing commas and unquoted masked numbers
(``91806828XXXX``).  Rejecting them would hide exactly the payloads a developer
needs to see, so we repair those two faults, say where they were, and parse.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?\Z")
_BARE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")
_MAX_REPORTED = 5
_KEYWORDS = frozenset({"true", "false", "null", "NaN", "Infinity", "-Infinity"})
#: Faults mended one at a time where the parser stops; past this, one pass over all tokens.
_MAX_POINT_FIXES = 20
#: Seconds one body may spend being repaired before we give up and keep it raw: a body
#: crafted with hundreds of thousands of faults must not hold up the requests behind it.
REPAIR_TIME_LIMIT = 1.0
#: How many tokens the one-pass repair mends between looks at the clock.
_CLOCK_EVERY = 4096


class RepairTimeout(Exception):
    """The repair ran past its time budget; the body is kept raw."""


@dataclass(slots=True)
class ParseResult:
    value: Any = None
    ok: bool = False
    warnings: list[str] = field(default_factory=list)


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return line, col


#: Only whitespace between a comma and the bracket that makes it a trailing one.
_CLOSER_AHEAD = re.compile(r"[ \t\r\n]*[}\]]")
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|,(?=\s*[}\]])|[A-Za-z0-9_+\-.]+')


def _repair(text: str, deadline: float) -> tuple[str, list[str], int]:
    """Drop trailing commas and quote bare words outside strings.

    Returns the mended text, where the first faults were, and how many there were in
    all.  Linear in the body: only the first :data:`_MAX_REPORTED` faults are located
    (a line/column costs a scan from the start), the rest are counted.  Raises
    :class:`RepairTimeout` past ``deadline`` (``time.monotonic()``).
    """
    notes: list[str] = []
    count = 0

    def note(what: str, pos: int) -> None:
        nonlocal count
        count += 1
        if len(notes) < _MAX_REPORTED:
            line, col = _line_col(text, pos)
            notes.append(f"{what} at line {line} column {col}")
        elif count % _CLOCK_EVERY == 0 and time.monotonic() > deadline:
            raise RepairTimeout

    def fix(m: re.Match[str]) -> str:
        tok = m.group(0)
        first = tok[0]
        if first == '"':
            return tok
        if first == ",":
            note("trailing comma", m.start())
            return ""
        if tok in ("true", "false", "null") or _NUMBER.match(tok):
            return tok
        note(f"unquoted value {tok}", m.start())
        return json.dumps(tok)

    return _TOKEN.sub(fix, text), notes, count


def _repair_where_it_stops(
    text: str, pos: int, msg: str, deadline: float
) -> tuple[Any, list[str]] | None:
    """Mend the fault at the position the parser gives up, and parse again.

    ``pos`` and ``msg`` say where and why parsing ``text`` itself failed.  A body
    has a fault or two, and the C parser finds each for us at its speed: far
    cheaper than tokenizing the whole body in Python, which matters for a 25 MB
    payload.  Only orjson's two structural complaints are mended here (a trailing
    comma, a character where a value or delimiter belongs); anything else, such
    as a bad escape inside a string, returns None.
    """
    notes: list[str] = []
    cur = text
    shift = 0  # characters added (+) or removed (-) so far, all before the next fault
    # The caller's strict parse was the first of at most _MAX_POINT_FIXES parses.
    for _ in range(_MAX_POINT_FIXES - 1):
        if pos >= len(cur) or time.monotonic() > deadline:
            return None
        if msg.startswith("trailing comma"):
            k = pos if cur[pos] == "," else cur.rfind(",", 0, pos)
            if k < 0 or not _CLOSER_AHEAD.match(cur, k + 1):
                return None
            line, col = _line_col(text, k - shift)
            notes.append(f"trailing comma at line {line} column {col}")
            cur = cur[:k] + cur[k + 1 :]
            shift -= 1
        elif msg.startswith("unexpected character") and cur[pos] in _BARE:
            start, end = pos, pos
            while start > 0 and cur[start - 1] in _BARE:
                start -= 1
            while end < len(cur) and cur[end] in _BARE:
                end += 1
            word = cur[start:end]
            if word in _KEYWORDS or _NUMBER.match(word):
                return None  # valid for the standard parser (NaN, huge integers...)
            line, col = _line_col(text, start - shift)
            notes.append(f"unquoted value {word} at line {line} column {col}")
            quoted = json.dumps(word)
            cur = cur[:start] + quoted + cur[end:]
            shift += len(quoted) - len(word)
        else:
            return None
        try:
            return orjson.loads(cur), notes
        except orjson.JSONDecodeError as exc:
            pos, msg = exc.pos, exc.msg
    return None


def _lenient_warning(notes: list[str], count: int | None = None) -> str:
    total = len(notes) if count is None else count
    shown = "; ".join(notes[:_MAX_REPORTED])
    more = f" (and {total - _MAX_REPORTED} more)" if total > _MAX_REPORTED else ""
    return f"body is not valid JSON: {shown}{more}; decoded leniently"


def _json_problem(exc: ValueError) -> str:
    msg = getattr(exc, "msg", str(exc))
    lineno = getattr(exc, "lineno", None)
    colno = getattr(exc, "colno", None)
    where = f" at line {lineno} column {colno}" if lineno is not None else ""
    return f"body is not valid JSON: {msg}{where}"


def _gave_up(time_limit: float, strict_problem: str) -> str:
    return (
        f"{strict_problem}; repairing it took over {time_limit:g} s, so it was given up "
        "(body kept raw)"
    )


def parse_lenient(text: str, time_limit: float = REPAIR_TIME_LIMIT) -> ParseResult:
    """Parse ``text`` as JSON, repairing trailing commas and bare words when strict parsing fails.

    The repair gives up after ``time_limit`` seconds (the value is then None, with a
    warning saying so): parsing valid JSON is never cut short.
    """
    result = ParseResult()
    try:
        # orjson is several times faster on the valid JSON most bodies are.
        result.value = orjson.loads(text)
        result.ok = True
        return result
    except orjson.JSONDecodeError as exc:
        # Where and why only: keeping the exception would tie this frame into a reference cycle.
        pos, msg = exc.pos, exc.msg
    deadline = time.monotonic() + time_limit
    mended = _repair_where_it_stops(text, pos, msg, deadline)
    if mended is not None and mended[1]:
        result.value = mended[0]
        result.ok = True
        result.warnings.append(_lenient_warning(mended[1]))
        return result
    # The standard parser accepts a little more (NaN, huge integers, lone surrogates),
    # and its errors and depth limit are the ones we report.
    try:
        result.value = json.loads(text)
        result.ok = True
        if "surrogate" in msg:
            line, col = _line_col(text, pos)
            result.warnings.append(
                f"body has a lone surrogate escape (half a UTF-16 character, not valid "
                f"Unicode) near line {line} column {col}; decoded as it is"
            )
        return result
    except RecursionError:
        result.warnings.append("body is JSON nested too deeply to decode; shown raw only")
        return result
    except ValueError as exc:
        strict_problem = _json_problem(exc)
    if time.monotonic() > deadline:
        result.warnings.append(_gave_up(time_limit, strict_problem))
        return result
    try:
        repaired, notes, count = _repair(text, deadline)
    except RepairTimeout:
        result.warnings.append(_gave_up(time_limit, strict_problem))
        return result
    if notes:
        try:
            result.value = json.loads(repaired)
        except RecursionError:
            result.warnings.append("body is JSON nested too deeply to decode; shown raw only")
            return result
        except ValueError:
            pass
        else:
            result.ok = True
            result.warnings.append(_lenient_warning(notes, count))
            return result
    result.warnings.append(strict_problem)
    return result
