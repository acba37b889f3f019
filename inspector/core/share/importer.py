"""Import HAR (ours and other tools') and our JSONL into a session, as if captured there.

Every entry goes through the same decoder and the same commit as a captured request, keeps
its arrival time, and its row names the file it came from (``requests.imported_from``).
Files are read as a stream: a HAR's ``entries`` are parsed one at a time, so a 100,000-
entry file never sits in memory as one object.

Other tools' quirks are repaired as HTTP Toolkit's importer does (``har.md``): ``null``
``mimeType``/``redirectURL``/``bodySize``/timings, a missing ``statusText``, a lower-case
method, header values that are numbers, booleans or missing, broken cookie pairs, an empty
``postData`` on a GET, a ``postData`` with ``params`` and no ``text``, a date without a
zone (taken as UTC).  What cannot be repaired is one line naming the entry and what is
wrong; the other entries are imported.  A file truncated or not JSON stops at the first
entry that cannot be read, with everything before it imported.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, urlsplit

from inspector.core.provider.decoder import EventDecoder
from inspector.core.session.record import CapturedRequest
from inspector.core.session.store import SESSION_SUFFIX, SessionStore, mark_imported

#: An entry (or JSONL line) larger than this is refused: no webhook body is that big,
#: and parsing it would hold several times as much in memory.
MAX_ENTRY_CHARS = 256 << 20
#: Problems kept word for word; past this, only counted.
MAX_PROBLEMS = 100
_COMMIT_ROWS = 1000
_CHUNK = 1 << 20
#: Longer than any JSON token but a string or a number (``false``, ``\\uD83D\\uDE00``).
_LONGEST_TOKEN = 16

_METHOD = re.compile(r"^[A-Z0-9!#$%&'*+.^_`|~-]{1,32}$")
_JSON_WS = " \t\r\n"


class ImportFileError(Exception):
    """A file that cannot be imported at all; the message is one line for the user."""


class _EntryError(Exception):
    """One entry that cannot be imported; the others can."""


@dataclass(slots=True)
class ImportResult:
    imported: int = 0
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0
    format: str = ""

    def problem(self, text: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)


# -- reading JSON as a stream ------------------------------------------------------------


class _StreamError(Exception):
    pass


class _JsonStream:
    """Values read one at a time from a large JSON text (json's own parser per value)."""

    def __init__(self, fh: IO[str]) -> None:
        self._fh = fh
        self._buf = ""
        self._pos = 0
        self._eof = False
        self._decoder = json.JSONDecoder()

    def _fill(self, want: int | None = None) -> bool:
        if self._eof:
            return False
        data = self._fh.read(want or _CHUNK)
        if not data:
            self._eof = True
            return False
        self._buf = self._buf[self._pos :] + data
        self._pos = 0
        return True

    def peek(self) -> str:
        """The next character that is not white space ('' at the end)."""
        while True:
            buf, pos = self._buf, self._pos
            while pos < len(buf) and buf[pos] in _JSON_WS:
                pos += 1
            self._pos = pos
            if pos < len(buf):
                return buf[pos]
            if not self._fill():
                return ""

    def expect(self, chars: str) -> str:
        c = self.peek()
        if not c or c not in chars:
            found = repr(c) if c else "the end of the file"
            raise _StreamError(f"expected {' or '.join(repr(x) for x in chars)}, found {found}")
        self._pos += 1
        return c

    def value(self) -> Any:
        self.peek()
        want = _CHUNK
        while True:
            try:
                obj, end = self._decoder.raw_decode(self._buf, self._pos)
            except json.JSONDecodeError as exc:
                # A value cut where the buffer ends: a string, or a token (``true``, a
                # ``\\uXXXX`` escape) that stops within a few characters of the end.
                incomplete = (
                    exc.msg.startswith("Unterminated string")
                    or exc.pos >= len(self._buf) - _LONGEST_TOKEN
                )
                if not incomplete or self._eof:
                    if self._eof and incomplete:
                        raise _StreamError("the file ends in the middle of it (truncated?)") from None
                    raise _StreamError(f"not valid JSON ({exc.msg})") from None
                if len(self._buf) - self._pos > MAX_ENTRY_CHARS:
                    raise _StreamError(f"larger than {MAX_ENTRY_CHARS >> 20} MiB") from None
                want = min(want * 2, 64 << 20)
                if not self._fill(want):
                    raise _StreamError("the file ends in the middle of it (truncated?)") from None
                continue
            except RecursionError:
                raise _StreamError("nested too deeply") from None
            self._pos = end
            return obj


def _members(stream: _JsonStream) -> Iterator[str]:
    """The keys of the object at the stream's position, each yielded after its colon:
    the caller reads the member's value (``stream.value()`` skips it)."""
    stream.expect("{")
    while stream.peek() != "}":
        key = stream.value()
        stream.expect(":")
        yield key
        if stream.peek() == ",":
            stream.expect(",")
    stream.expect("}")


def _har_entries(fh: IO[str], result: ImportResult) -> Iterator[tuple[int, Any]]:
    """(number, entry) for each entry of ``log.entries``; a broken file ends the walk with
    one problem line."""
    stream = _JsonStream(fh)
    n = 0
    try:
        found_log = False
        for key in _members(stream):
            if key != "log":
                stream.value()
                continue
            found_log = True
            found_entries = False
            for lkey in _members(stream):
                if lkey != "entries":
                    stream.value()
                    continue
                found_entries = True
                stream.expect("[")
                while stream.peek() != "]":
                    n += 1
                    try:
                        entry = stream.value()
                    except _StreamError as exc:
                        raise _StreamError(f"entry {n}: {exc}") from None
                    yield n, entry
                    if stream.expect(",]") == "]":
                        break
                else:
                    stream.expect("]")
            if not found_entries:
                result.problem("not a HAR file: log has no entries")
        if not found_log:
            result.problem("not a HAR file: no log object")
    except _StreamError as exc:
        text = str(exc)
        result.problem(text if text.startswith("entry ") else f"after entry {n}: {text}")


# -- one HAR entry ----------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _headers(raw: Any, where: str, notes: list[str]) -> list[tuple[str, str]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise _EntryError(f"{where} headers are not a list")
    try:  # the common case, checked at once: every header a {name, value} of strings
        pairs = [(h["name"], h["value"]) for h in raw]
    except (TypeError, KeyError):
        pass
    else:
        if all(type(k) is str and k and type(v) is str for k, v in pairs):
            return pairs
    out: list[tuple[str, str]] = []
    for i, h in enumerate(raw, 1):
        if not isinstance(h, dict) or not isinstance(h.get("name"), str) or not h["name"]:
            notes.append(f"{where} header {i} has no name; left out")
            continue
        value = h.get("value")
        if not isinstance(value, str):
            notes.append(f"{where} header {h['name']!r} had a {type(value).__name__} value")
        out.append((h["name"], _text(value)))
    return out


def _b64(text: Any, where: str) -> bytes:
    if not isinstance(text, str):
        raise _EntryError(f"{where} is not base64 text")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _EntryError(f"{where} is not valid base64") from None


def _request_body(request: dict[str, Any]) -> bytes:
    for holder in (request, request.get("postData") if isinstance(request.get("postData"), dict) else None):
        if holder is not None and isinstance(holder.get("_content"), dict):
            content = holder["_content"]
            if content.get("encoding") == "base64":
                return _b64(content.get("text"), "request _content")
            return _text(content.get("text")).encode("utf-8", "surrogatepass")
    post = request.get("postData")
    if post is None:
        return b""
    if not isinstance(post, dict):
        raise _EntryError("postData is not an object")
    text = post.get("text")
    if post.get("encoding") == "base64" and isinstance(text, str):
        return _b64(text, "postData.text")
    if isinstance(text, str):
        return text.encode("utf-8", "surrogatepass")
    params = post.get("params")
    if isinstance(params, list) and params:
        pairs = [
            f"{quote(_text(p.get('name')), safe='')}={quote(_text(p.get('value')), safe='')}"
            for p in params
            if isinstance(p, dict)
        ]
        return "&".join(pairs).encode("utf-8")
    return b""


def _received_us(entry: dict[str, Any], ours: dict[str, Any], notes: list[str]) -> int:
    us = ours.get("received_us")
    if isinstance(us, int) and not isinstance(us, bool) and 0 <= us < 1 << 62:
        return us
    started = entry.get("startedDateTime")
    if not isinstance(started, str):
        raise _EntryError("startedDateTime is missing")
    try:
        when = datetime.fromisoformat(started)
    except ValueError:
        raise _EntryError(f"startedDateTime {started[:40]!r} is not a date") from None
    if when.tzinfo is None:
        notes.append("startedDateTime has no time zone; taken as UTC")
        when = when.replace(tzinfo=UTC)
    delta = when - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _http_version(value: Any) -> str:
    text = _text(value).upper().removeprefix("HTTP/")
    if text in ("1.0", "1.1", "2", "2.0", "3", "3.0"):
        return text
    if text in ("H2",):
        return "2"
    return "1.1"


def _status(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value if 0 <= value < 1000 else 0
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip()) if len(value.strip()) <= 3 else 0
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return 0


def har_entry_to_request(entry: Any) -> tuple[CapturedRequest, dict[str, Any], list[str]]:
    """The captured request an entry describes, our ``_webhook`` fields, repair notes."""
    if not isinstance(entry, dict):
        raise _EntryError("is not an object")
    request = entry.get("request")
    if not isinstance(request, dict):
        raise _EntryError("has no request")
    raw_ours = entry.get("_webhook")
    ours: dict[str, Any] = raw_ours if isinstance(raw_ours, dict) else {}
    notes: list[str] = []
    method = _text(request.get("method")).strip()
    if method != method.upper():
        notes.append(f"method {method!r} written in lower case")
        method = method.upper()
    if not _METHOD.match(method):
        raise _EntryError(f"method {method[:20]!r} is not an HTTP method")
    url = request.get("url")
    if not isinstance(url, str) or not url:
        raise _EntryError("request has no url")
    if isinstance(ours.get("path"), str) and ours["path"] and isinstance(ours.get("query"), str):
        path, query = ours["path"], ours["query"]  # ours: exactly as it arrived
    else:
        try:
            parts = urlsplit(url)
        except ValueError as exc:
            raise _EntryError(f"url is not a URL ({exc})") from None
        if not parts.scheme and not url.startswith("/"):
            raise _EntryError(f"url {url[:60]!r} is not absolute")
        path = parts.path or "/"
        query = parts.query
    headers = _headers(request.get("headers"), "request", notes)
    pseudo = [k for k, _ in headers if k.startswith(":")]
    if pseudo:
        # Chrome lists HTTP/2's pseudo-headers; they are the method and URL, not headers.
        headers = [(k, v) for k, v in headers if not k.startswith(":")]
        notes.append(f"HTTP/2 pseudo-headers left out ({', '.join(pseudo)})")
    cookies = request.get("cookies")
    if isinstance(cookies, list) and cookies and not any(k.lower() == "cookie" for k, _ in headers):
        pairs = [
            f"{c['name']}={_text(c.get('value'))}"
            for c in cookies
            if isinstance(c, dict) and isinstance(c.get("name"), str) and c["name"]
        ]
        if len(pairs) != len(cookies):
            notes.append("broken cookie entries left out")
        if pairs:
            headers.append(("Cookie", "; ".join(pairs)))
    body = _request_body(request)
    declared = ours.get("declared_size")
    status_note = entry.get("_requestBodyStatus")
    if isinstance(status_note, str) and status_note.startswith("discarded"):
        notes.append(f"the exporting tool did not keep the body ({status_note[:60]})")
        size = request.get("bodySize")
        if not body and isinstance(size, int) and size > 0 and declared is None:
            declared = size
    received_us = _received_us(entry, ours, notes)
    raw_response = entry.get("response")
    response: dict[str, Any] = raw_response if isinstance(raw_response, dict) else {}
    status = _status(response.get("status"))
    resp_headers = _headers(response.get("headers"), "response", notes)
    raw_content = response.get("content")
    content: dict[str, Any] = raw_content if isinstance(raw_content, dict) else {}
    resp_text = content.get("text")
    if content.get("encoding") == "base64" and isinstance(resp_text, str):
        resp_body = _b64(resp_text, "response content")
    else:
        resp_body = _text(resp_text).encode("utf-8", "surrogatepass")
    req = CapturedRequest(
        seq=0,
        received_us=received_us,
        method=method,
        path=path,
        query=query,
        http_version=_http_version(request.get("httpVersion")),
        remote=_text(ours.get("remote")),
        headers=headers,
        body=body,
        declared_size=declared if isinstance(declared, int) and not isinstance(declared, bool) else None,
        response_status=status,
        response_headers=resp_headers,
        response_body=resp_body,
        via_tunnel=bool(ours.get("via_tunnel")),
        client_addr=_text(ours.get("client_addr")),
    )
    return req, ours, notes


def jsonl_line_to_request(obj: Any) -> tuple[CapturedRequest, dict[str, Any], list[str]]:
    """The captured request one line of our JSONL export describes."""
    if not isinstance(obj, dict):
        raise _EntryError("is not an object")
    notes: list[str] = []
    method = _text(obj.get("method")).upper()
    if not _METHOD.match(method):
        raise _EntryError(f"method {method[:20]!r} is not an HTTP method")
    path = obj.get("path")
    if not isinstance(path, str) or not path:
        raise _EntryError("has no path")
    if isinstance(obj.get("body_base64"), str):
        body = _b64(obj["body_base64"], "body_base64")
    else:
        body = _text(obj.get("body_text")).encode("utf-8", "surrogatepass")
    raw_headers = obj.get("headers") or []
    if not isinstance(raw_headers, list):
        raise _EntryError("headers are not a list")
    headers = []
    for i, h in enumerate(raw_headers, 1):
        if isinstance(h, list) and len(h) == 2 and isinstance(h[0], str) and h[0]:
            headers.append((h[0], _text(h[1])))
        else:
            notes.append(f"header {i} is not a [name, value] pair; left out")
    received = obj.get("received_at")
    if not isinstance(received, str):
        raise _EntryError("has no received_at")
    try:
        when = datetime.fromisoformat(received)
    except ValueError:
        raise _EntryError(f"received_at {received[:40]!r} is not a date") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when - datetime(1970, 1, 1, tzinfo=UTC)
    req = CapturedRequest(
        seq=0,
        received_us=(delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds,
        method=method,
        path=path,
        query=_text(obj.get("query")),
        http_version="1.1",
        remote="",
        headers=headers,
        body=body,
        response_status=_status(obj.get("response_status")),
    )
    ours = {"warnings": obj.get("warnings")}
    return req, ours, notes


# -- the import -----------------------------------------------------------------------------


def sniff_format(path: Path) -> str:
    """'har' or 'jsonl', from the name and, failing that, the first line."""
    suffix = path.suffix.lower()
    if suffix == SESSION_SUFFIX:
        raise ImportFileError(f"{path} is a session: open it instead of importing it")
    if suffix == ".har":
        return "har"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            first = fh.readline(1 << 20)
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if first.startswith("SQLite format 3"):
        raise ImportFileError(f"{path} is an SQLite file, not a HAR or JSONL export")
    try:
        obj = json.loads(first)
    except ValueError:
        return "har"
    return "jsonl" if isinstance(obj, dict) and "method" in obj else "har"


def _jsonl_entries(fh: IO[str], result: ImportResult) -> Iterator[tuple[int, Any]]:
    for n, line in enumerate(iter(lambda: fh.readline(MAX_ENTRY_CHARS), ""), 1):
        if not line.strip():
            continue
        if not line.endswith("\n") and len(line) >= MAX_ENTRY_CHARS:
            result.problem(f"line {n}: longer than {MAX_ENTRY_CHARS >> 20} MiB; import stops here")
            return
        try:
            yield n, json.loads(line)
        except RecursionError:
            result.problem(f"line {n}: nested too deeply; left out")
        except ValueError as exc:
            result.problem(f"line {n}: not valid JSON ({exc}); left out")


def _split_warnings(saved: Any, decoded: list[str]) -> list[str]:
    """The capture warnings of an exported row: its warnings less what decoding gives again
    (commit_batch stores capture warnings first, then the decoder's)."""
    if not isinstance(saved, list) or not all(isinstance(w, str) for w in saved):
        return []
    k = len(decoded)
    if k and saved[-k:] != decoded:
        return [w for w in saved if w not in decoded]
    return list(saved[: len(saved) - k])


def import_file(
    path: Path,
    store: SessionStore,
    *,
    progress: Callable[[int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> ImportResult:
    """Import ``path`` into ``store``; problems are collected, never raised per entry."""
    fmt = sniff_format(path)
    result = ImportResult(format=fmt)
    decoder = EventDecoder()
    source = str(path.resolve())
    word = "entry" if fmt == "har" else "line"
    marker = store.open_reader()
    try:
        fh = open(path, encoding="utf-8-sig", errors="replace")  # noqa: SIM115 - closed below
    except OSError as exc:
        marker.close()
        raise ImportFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    batch: list[tuple[CapturedRequest, Any]] = []

    def commit() -> None:
        if not batch:
            return
        rows = store.append(batch)
        mark_imported(marker, rows[0].id, rows[-1].id, source)
        result.imported += len(rows)
        batch.clear()
        if progress is not None:
            progress(result.imported)

    try:
        entries = _har_entries(fh, result) if fmt == "har" else _jsonl_entries(fh, result)
        convert = har_entry_to_request if fmt == "har" else jsonl_line_to_request
        for n, entry in entries:
            try:
                req, ours, notes = convert(entry)
            except _EntryError as exc:
                result.problem(f"{word} {n} {exc}; left out")
                continue
            req.seq = store.take_seq()
            dec = decoder.decode(req.method, req.path, req.query, req.headers, req.body)
            captured = _split_warnings(ours.get("warnings"), dec.warnings)
            req.capture_warnings = captured + [f"imported: {note}" for note in notes]
            batch.append((req, dec))
            if len(batch) >= _COMMIT_ROWS:
                commit()
                if cancelled is not None and cancelled():
                    break
        commit()
    finally:
        fh.close()
        marker.close()
    return result
