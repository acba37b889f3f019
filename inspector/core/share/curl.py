"""curl commands for bash that send a request again with exactly its bytes.

The body goes through ``printf '%b' '...' | curl --data-binary @-``: every byte that is
not printable ASCII is an octal escape, so NUL bytes, invalid UTF-8 and newlines arrive as
they were (``$'...'`` cannot carry a NUL, a here-doc adds a newline).  Headers curl would
add by itself (``Accept``, ``User-Agent``, ``Content-Type``, ``Expect``) are switched off
when the request did not carry them; ``Content-Length`` and ``Transfer-Encoding`` are left
to curl.  ``--path-as-is`` and ``--globoff`` keep the URL as it was.  No byte of a request
reaches the terminal raw: control characters in headers and URLs are escaped too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from inspector.core.session.store import StoredRequest
from inspector.core.share.har import base_url_for
from inspector.core.share.rows import ExportRow

#: Headers curl writes itself from the command (its own length and framing).
_SKIP = frozenset({"content-length", "transfer-encoding", "host"})
#: Headers curl adds unless told not to: an empty ``-H 'Name:'`` removes them.
_CURL_ADDS = ("Accept", "User-Agent", "Content-Type", "Expect")
_SAFE_WORD = re.compile(r"[^A-Za-z0-9:._/-]")
_PLAIN = frozenset(range(0x20, 0x7F)) - {ord("'"), ord("\\")}


@dataclass(frozen=True, slots=True)
class CurlOptions:
    #: ``scheme://host[:port]`` to send to; ``None``: the request's Host header.
    base_url: str | None = None


def _printf_literal(data: bytes) -> str:
    """Single-quoted text that ``printf '%b'`` turns back into exactly ``data``."""
    out = []
    for b in data:
        if b in _PLAIN:
            out.append(chr(b))
        elif b == 0x0A:
            out.append("\\n")
        else:
            out.append(f"\\0{b:03o}")
    return "'" + "".join(out) + "'"


def header_bytes(value: str) -> bytes:
    """A header value as it was on the wire: the listener kept UTF-8 as UTF-8 and read
    anything else as ISO-8859-1."""
    try:
        latin = value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape")
    try:
        latin.decode("utf-8")
    except UnicodeDecodeError:
        return latin
    return value.encode("utf-8")


def shell_word(data: bytes) -> str:
    """A bash word for ``data``: plain single quotes, or ``$'...'`` with escapes when it
    holds a quote, a control character or a byte outside ASCII (never a NUL: headers and
    URLs cannot hold one)."""
    if all(b in _PLAIN for b in data):
        return "'" + data.decode("ascii") + "'"
    out = []
    for b in data:
        out.append(chr(b) if b in _PLAIN else f"\\x{b:02x}")
    return "$'" + "".join(out) + "'"


def _comment(req: StoredRequest) -> str:
    s = req.summary
    words = [f"request {s.id}", f"seq {s.seq}"]
    if s.event:
        words.append(s.event)
    if s.message_id:
        words.append("message " + _SAFE_WORD.sub("?", s.message_id)[:80])
    return "# " + ", ".join(words)


def curl_command(req: StoredRequest, options: CurlOptions | None = None) -> str:
    """One command (with a ``#`` line naming the request) that sends ``req`` again."""
    opts = options or CurlOptions()
    s = req.summary
    args = ["curl", "-sS", "--path-as-is", "--globoff", "-X", shell_word(s.method.encode())]
    present = {k.lower() for k, _ in req.headers}
    for key, value in req.headers:
        if key.lower() in _SKIP:
            continue
        if value == "":
            # curl drops 'Name:'; 'Name;' sends the header with an empty value.
            args += ["-H", shell_word(header_bytes(key) + b";")]
        else:
            args += ["-H", shell_word(header_bytes(key) + b": " + header_bytes(value))]
    for name in _CURL_ADDS:
        if name.lower() not in present:
            args += ["-H", f"'{name}:'"]
    # The target exactly as it arrived (HAR escapes it into a URI; curl must not).
    target = base_url_for(req, opts.base_url) + (s.path or "/") + (f"?{s.query}" if s.query else "")
    args.append(shell_word(target.encode("utf-8", "surrogateescape")))
    has_body = bool(req.body) or s.method not in ("GET", "HEAD")
    command = " \\\n  ".join(_pairs(args))
    if has_body:
        command = f"printf '%b' {_printf_literal(req.body)} |\n  {command} \\\n  --data-binary @-"
    return f"{_comment(req)}\n{command}\n"


def _pairs(args: list[str]) -> list[str]:
    """Options with their values on one line each, for a readable command."""
    lines: list[str] = [" ".join(args[:4])]
    i = 4
    while i < len(args):
        if args[i].startswith("-") and i + 1 < len(args):
            lines.append(f"{args[i]} {args[i + 1]}")
            i += 2
        else:
            lines.append(args[i])
            i += 1
    return lines


CURL_HEAD = "#!/usr/bin/env bash\n# Sends the requests again with curl, each with its exact bytes.\n"


def curl_entry(row: ExportRow, options: CurlOptions | None = None) -> str:
    """One request's command, after a blank line."""
    return "\n" + curl_command(row.request, options)
