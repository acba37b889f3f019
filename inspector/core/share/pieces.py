"""Large bodies written as JSON in pieces, so an export never holds several copies of one.

A 25 MiB body written the plain way exists as bytes, as text, as JSON-escaped text, as
base64 and inside the whole line at once (about 15 times its size); written in pieces, only
the bytes and one piece are held.  Bodies under :data:`LARGE` take the plain path (faster).
"""

from __future__ import annotations

import base64
import codecs
import json
from collections.abc import Iterator

#: Bodies at least this large are written in pieces.
LARGE = 1 << 20
_PIECE = 1 << 18  # bytes per piece (a multiple of 3, for base64)
_PIECE -= _PIECE % 3


def is_utf8(data: bytes) -> bool:
    """Whether ``data`` is valid UTF-8, without building the text."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    try:
        for start in range(0, len(view), _PIECE):
            decoder.decode(view[start : start + _PIECE])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def json_text_pieces(data: bytes) -> Iterator[str]:
    """The JSON escape of ``data`` read as UTF-8 (valid: see :func:`is_utf8`), without the
    quotes, in pieces; joined, exactly ``json.dumps(text, ensure_ascii=False)[1:-1]``."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    for start in range(0, len(view), _PIECE):
        text = decoder.decode(view[start : start + _PIECE])
        if text:
            yield json.dumps(text, ensure_ascii=False)[1:-1]
    rest = decoder.decode(b"", final=True)
    if rest:
        yield json.dumps(rest, ensure_ascii=False)[1:-1]


def base64_pieces(data: bytes) -> Iterator[str]:
    """``base64.b64encode(data)`` as text, in pieces."""
    view = memoryview(data)
    for start in range(0, len(view), _PIECE):
        yield base64.b64encode(view[start : start + _PIECE]).decode("ascii")
