"""Payload text made inert before it reaches a terminal.

A request's text printed raw can clear the operator's screen, print a fake line after a
carriage return, rename the window or write to the clipboard (OSC 52), and bidi overrides
or zero-width characters can make a line read as something else. Every such character is
shown as a visible escape (``\\x1b``, ``\\u202e``) instead, so nothing is hidden either.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
import unicodedata

#: C0 and C1 controls, DEL, and the Unicode format, line/paragraph separator and surrogate
#: characters (bidi overrides and isolates, zero-width joiners, BOM, soft hyphen...).
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


@functools.cache
def _unsafe() -> re.Pattern[str]:
    """Built on first use (it walks every code point once, ~50 ms), as ranges."""
    ranges: list[tuple[int, int]] = []
    for c in range(sys.maxunicode + 1):
        if unicodedata.category(chr(c)) in _UNSAFE_CATEGORIES:
            if ranges and ranges[-1][1] == c - 1:
                ranges[-1] = (ranges[-1][0], c)
            else:
                ranges.append((c, c))
    body = "".join(
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
        for a, b in ranges
    )
    return re.compile(f"[{body}]")


_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(m: re.Match[str]) -> str:
    ch = m.group()
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def terminal_safe(text: str) -> str:
    """``text`` with every control, escape and format character shown as an escape."""
    if text.isascii() and text.isprintable():
        return text  # the usual case, and the fast one
    return _unsafe().sub(_escape, text)


class TerminalSafeFormatter(logging.Formatter):
    """Log lines on stderr quote request data (a refused request's problem, an error's
    text): escape it like the printed lines."""

    def format(self, record: logging.LogRecord) -> str:
        return terminal_safe(super().format(record))
