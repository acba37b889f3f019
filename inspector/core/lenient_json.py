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

_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?\Z")
_MAX_REPORTED = 5


@dataclass(slots=True)
class ParseResult:
    value: Any = None
    ok: bool = False
    warnings: list[str] = field(default_factory=list)


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return line, col


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


def parse_lenient(text: str) -> ParseResult:
    """Parse ``text`` as JSON, repairing trailing commas and bare words when strict parsing fails."""
    result = ParseResult()
    try:
        result.value = json.loads(text)
        result.ok = True
        return result
    except RecursionError:
        result.warnings.append("body is JSON nested too deeply to decode; shown raw only")
        return result
    except ValueError as exc:
        strict_error = exc
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
            shown = "; ".join(notes[:_MAX_REPORTED])
            more = f" (and {len(notes) - _MAX_REPORTED} more)" if len(notes) > _MAX_REPORTED else ""
            result.warnings.append(f"body is not valid JSON: {shown}{more}; decoded leniently")
            return result
    msg = getattr(strict_error, "msg", str(strict_error))
    lineno = getattr(strict_error, "lineno", None)
    colno = getattr(strict_error, "colno", None)
    where = f" at line {lineno} column {colno}" if lineno is not None else ""
    result.warnings.append(f"body is not valid JSON: {msg}{where}")
    return result
