"""How much a request's warnings may hold: a few hundred characters each, a few dozen in all.

A warning names what is odd about a request, and sometimes quotes it: a body with a
million unexpected keys once produced one 8.9 MB warning, stored with the request and
laid out by the window's Event tab for over a minute.  Warnings are bounded before they
are stored, and again wherever they are shown (sessions written before this bound).
"""

from __future__ import annotations

from collections.abc import Sequence

#: Characters kept of one warning.
MAX_WARNING_CHARS = 500
#: Warnings kept per request; the rest are counted in a last one.
MAX_WARNINGS = 50


def bound_warning(text: str, limit: int = MAX_WARNING_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how many were left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\u2026 ({len(text) - limit:,} more characters)"


def bound_warnings(
    warnings: Sequence[str], *, count: int = MAX_WARNINGS, chars: int = MAX_WARNING_CHARS
) -> list[str]:
    """At most ``count`` warnings of at most ``chars`` characters each (the last one says
    how many more there were)."""
    if len(warnings) <= count and all(len(w) <= chars for w in warnings):
        return list(warnings)
    kept = [
        bound_warning(w, chars) for w in warnings[: count - 1 if len(warnings) > count else count]
    ]
    extra = len(warnings) - len(kept)
    if extra:
        kept.append(f"\u2026 and {extra:,} more warning{'s' if extra != 1 else ''}")
    return kept
