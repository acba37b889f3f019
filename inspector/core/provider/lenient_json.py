"""JSON parsing that survives what the provider really sends.

The provider's own examples carry trailing commas and unquoted masked numbers
(``91806828XXXX``).  Rejecting them would hide exactly the payloads a developer
needs to see, so we repair those two faults, say where they were, and parse.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?\Z")
_BARE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")
_MAX_REPORTED = 5
_KEYWORDS = frozenset({"true", "false", "null", "NaN", "Infinity", "-Infinity"})
#: Faults mended one at a time where the parser stops; past this, one pass over all tokens.
_MAX_POINT_FIXES = 20


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


def _repair(text: str) -> tuple[str, list[str]]:
    """Drop trailing commas and quote bare words outside strings; list what was changed."""
    notes: list[str] = []

    def fix(m: re.Match[str]) -> str:
        tok = m.group(0)
        first = tok[0]
        if first == '"':
            return tok
        if first == ",":
            line, col = _line_col(text, m.start())
            notes.append(f"trailing comma at line {line} column {col}")
            return ""
        if tok in ("true", "false", "null") or _NUMBER.match(tok):
            return tok
        line, col = _line_col(text, m.start())
        notes.append(f"unquoted value {tok} at line {line} column {col}")
        return json.dumps(tok)

    return _TOKEN.sub(fix, text), notes


def _repair_where_it_stops(text: str, pos: int, msg: str) -> tuple[Any, list[str]] | None:
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
        if pos >= len(cur):
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


def _lenient_warning(notes: list[str]) -> str:
    shown = "; ".join(notes[:_MAX_REPORTED])
    more = f" (and {len(notes) - _MAX_REPORTED} more)" if len(notes) > _MAX_REPORTED else ""
    return f"body is not valid JSON: {shown}{more}; decoded leniently"


def _json_problem(exc: ValueError) -> str:
    msg = getattr(exc, "msg", str(exc))
    lineno = getattr(exc, "lineno", None)
    colno = getattr(exc, "colno", None)
    where = f" at line {lineno} column {colno}" if lineno is not None else ""
    return f"body is not valid JSON: {msg}{where}"


def parse_lenient(text: str) -> ParseResult:
    """Parse ``text`` as JSON, repairing trailing commas and bare words when strict parsing fails."""
    result = ParseResult()
    try:
        # orjson is several times faster on the valid JSON most bodies are.
        result.value = orjson.loads(text)
        result.ok = True
        return result
    except orjson.JSONDecodeError as exc:
        # Where and why only: keeping the exception would tie this frame into a reference cycle.
        pos, msg = exc.pos, exc.msg
    mended = _repair_where_it_stops(text, pos, msg)
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
        return result
    except RecursionError:
        result.warnings.append("body is JSON nested too deeply to decode; shown raw only")
        return result
    except ValueError as exc:
        strict_problem = _json_problem(exc)
    repaired, notes = _repair(text)
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
            result.warnings.append(_lenient_warning(notes))
            return result
    result.warnings.append(strict_problem)
    return result
