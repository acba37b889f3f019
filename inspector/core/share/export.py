"""Export a session: the table of formats, and writing one to a stream or a file.

Each format is a pure function from rows to text chunks (mitmproxy's ``export.py`` keeps
such a table too); redaction is a row -> row transform applied before any of them.  The
CLI and the window both call :func:`export_to` / :func:`write_export_file`, so a format,
a redaction rule or a safety check exists once.  Rows are read a few MiB at a time
(:mod:`inspector.core.share.selection`): memory stays bounded whatever the session holds.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from inspector.core.session.forwards import relay_records
from inspector.core.session.store import (
    APPLICATION_ID,
    SESSION_SUFFIX,
    StoredRequest,
    get_requests,
    import_sources,
)
from inspector.core.share.curl import CURL_HEAD, CurlOptions, curl_entry
from inspector.core.share.har import HAR_SEPARATOR, HAR_TAIL, HarOptions, har_entry_chunks, har_head
from inspector.core.share.jsonl import jsonl_line, request_to_json
from inspector.core.share.markdown import markdown_chunks
from inspector.core.share.redact import RedactionOptions, RedactionSummary, Redactor
from inspector.core.share.rows import ExportRow, without_tunnel_credentials
from inspector.core.share.selection import Selection, iter_groups
from inspector.core.share.workers import ExportWorkers, WorkerError, available_cores

log = logging.getLogger(__name__)

__all__ = [
    "FORMATS",
    "ExportError",
    "ExportCancelled",
    "ExportOptions",
    "ExportResult",
    "count_requests",
    "export_jsonl",
    "export_rows",
    "export_to",
    "request_to_json",
    "write_export_file",
]

Chunks = Callable[[Iterable[ExportRow], "ExportOptions"], Iterator[str]]


@dataclass(frozen=True, slots=True)
class Parts:
    """A format that is a head, entries that stand alone, and a tail: its entries can be
    written by worker processes (:mod:`inspector.core.share.workers`) and joined here."""

    #: The text before the first entry, from when the first request arrived (µs; None
    #: for an export of nothing).
    head: Callable[[int | None, ExportOptions], str]
    entry: Callable[[ExportRow, ExportOptions], Iterable[str]]
    separator: str = ""
    tail: str = ""

    def frame(
        self, entries: Iterable[tuple[int | None, Iterable[str]]], options: ExportOptions
    ) -> Iterator[str]:
        """The whole text of ``entries``, each (its request's arrival time, its pieces);
        only the first one's time is read."""
        first = True
        for started_us, pieces in entries:
            if first:
                yield self.head(started_us, options)
                first = False
            elif self.separator:
                yield self.separator
            yield from pieces
        if first:
            yield self.head(None, options)
        if self.tail:
            yield self.tail


@dataclass(frozen=True, slots=True)
class Format:
    name: str
    suffix: str
    label: str
    parts: Parts | None = None
    #: The text of a format that is not a run of independent entries (Markdown lists
    #: its details after the table).
    whole: Chunks | None = None

    def chunks(self, rows: Iterable[ExportRow], options: ExportOptions) -> Iterator[str]:
        if self.parts is None:
            assert self.whole is not None
            return self.whole(rows, options)
        parts = self.parts
        entries = ((row.request.summary.received_us, parts.entry(row, options)) for row in rows)
        return parts.frame(entries, options)


def _har_options(options: ExportOptions) -> HarOptions:
    return HarOptions(options.base_url, options.session_name)


def _markdown(rows: Iterable[ExportRow], options: ExportOptions) -> Iterator[str]:
    return markdown_chunks(rows)


_HAR_PARTS = Parts(
    lambda started_us, o: har_head(started_us, _har_options(o)),
    lambda row, o: har_entry_chunks(row, _har_options(o)),
    HAR_SEPARATOR,
    HAR_TAIL,
)
_JSONL_PARTS = Parts(lambda started_us, o: "", lambda row, o: jsonl_line(row))
_CURL_PARTS = Parts(
    lambda started_us, o: CURL_HEAD, lambda row, o: (curl_entry(row, CurlOptions(o.base_url)),)
)

#: Every export format by name, in the order menus list them.
FORMATS: dict[str, Format] = {
    "har": Format("har", ".har", "HAR 1.2 (browsers, Insomnia, HTTP Toolkit)", _HAR_PARTS),
    "jsonl": Format("jsonl", ".jsonl", "JSON Lines (one request per line)", _JSONL_PARTS),
    "curl": Format("curl", ".sh", "curl commands (bash)", _CURL_PARTS),
    "markdown": Format("markdown", ".md", "Markdown for an issue tracker", whole=_markdown),
}


class ExportError(Exception):
    """An export that cannot be written; the message is one line for the user."""


class ExportCancelled(Exception):
    """The user cancelled; nothing was written."""


@dataclass(frozen=True, slots=True)
class ExportOptions:
    format: str = "jsonl"
    redact: bool = False
    redaction: RedactionOptions = field(default_factory=RedactionOptions)
    base_url: str | None = None
    session_name: str = "session"
    #: Worker processes for a redacted export (redaction is most of its time); None:
    #: one per core, up to four, for :data:`PARALLEL_MIN_ROWS` rows or more; 0: none.
    workers: int | None = None


@dataclass(slots=True)
class ExportResult:
    count: int = 0
    redaction: RedactionSummary | None = None


def rows_of(
    conn: sqlite3.Connection, reqs: list[StoredRequest], redactor: Redactor | None = None
) -> Iterator[ExportRow]:
    """Stored requests as export rows: each with its import source and its relay
    records, redacted when a redactor is given."""
    ids = [r.summary.id for r in reqs]
    sources = import_sources(conn, ids)
    relayed = relay_records(conn, ids)
    for req in reqs:
        forwards, original = relayed.get(req.summary.id, ((), None))
        row = ExportRow(
            without_tunnel_credentials(req),
            sources.get(req.summary.id, ""),
            forwards=tuple(forwards),
            replay_of=original,
        )
        yield row if redactor is None else redactor.redact(row)


def export_rows(
    conn: sqlite3.Connection,
    selection: Selection,
    *,
    redactor: Redactor | None = None,
    cancelled: Callable[[], bool] | None = None,
    counter: list[int] | None = None,
) -> Iterator[ExportRow]:
    """The selected rows, each with its import source, redacted when a redactor is given."""
    for group in iter_groups(conn, selection, rows=64, cancelled=cancelled):
        for row in rows_of(conn, get_requests(conn, group), redactor):
            if counter is not None:
                counter[0] += 1
            yield row


def export_to(
    conn: sqlite3.Connection,
    out: IO[str],
    selection: Selection | None = None,
    options: ExportOptions | None = None,
    *,
    progress: Callable[[int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    redactor: Redactor | None = None,
) -> ExportResult:
    """Write the selection in the chosen format to ``out``, a chunk at a time.

    ``redactor``: the one a preview used, so the file has the masks the user saw.

    ``progress`` is called with the number of rows done every 1,000 rows and at the end;
    ``cancelled`` is asked between batches (then :class:`ExportCancelled` is raised).
    """
    opts = options or ExportOptions()
    fmt = FORMATS.get(opts.format)
    if fmt is None:
        raise ExportError(f"unknown format {opts.format!r} (one of {', '.join(FORMATS)})")
    if redactor is None and opts.redact:
        redactor = Redactor(opts.redaction)
    selection = selection or Selection()
    counter = [0]
    workers = _workers_for(conn, selection, fmt, opts, redactor)
    if workers is not None:
        with workers:
            chunks = _parallel_chunks(conn, selection, fmt, opts, workers, redactor, counter,
                                      cancelled)  # fmt: skip
            _write(out, chunks, counter, progress)
    else:
        rows = export_rows(conn, selection, redactor=redactor, cancelled=cancelled, counter=counter)
        _write(out, fmt.chunks(rows, opts), counter, progress)
    if cancelled is not None and cancelled():
        raise ExportCancelled()
    if progress is not None:
        progress(counter[0])
    return ExportResult(counter[0], redactor.summary if redactor is not None else None)


#: A redacted export of fewer rows than this is done in this process: starting workers
#: (each imports the redactor and ``phonenumbers``) costs about half a second.
PARALLEL_MIN_ROWS = 5_000
#: Request data per group handed to a worker, and rows per group at most.
_GROUP_BYTES = 1 << 20
_GROUP_ROWS = 256


def _session_file(conn: sqlite3.Connection) -> Path | None:
    for _, name, file in conn.execute("PRAGMA database_list"):
        if name == "main":
            return Path(file) if file else None
    return None


def _workers_for(
    conn: sqlite3.Connection,
    selection: Selection,
    fmt: Format,
    opts: ExportOptions,
    redactor: Redactor | None,
) -> ExportWorkers | None:
    """Workers for a redacted export worth splitting, None to export in this process."""
    if redactor is None or fmt.parts is None or opts.workers == 0:
        return None
    session = _session_file(conn)
    if session is None:
        return None
    if opts.workers is not None:
        count = opts.workers
    else:
        count = min(4, available_cores())
        if count < 2 or selection.count(conn) < PARALLEL_MIN_ROWS:
            return None
    options = dataclasses.replace(opts, redaction=redactor.options)
    try:
        return ExportWorkers(session, fmt.name, options, redactor.key, count)
    except OSError as exc:
        log.warning("export workers could not start (%s); exporting in this process", exc)
        return None


def _write(
    out: IO[str],
    chunks: Iterable[str],
    counter: list[int],
    progress: Callable[[int], None] | None,
) -> None:
    """Write an export's text, telling ``progress`` every 1,000 rows done."""
    reported = 0
    for chunk in chunks:
        out.write(chunk)
        if progress is not None and counter[0] - reported >= 1000:
            reported = counter[0]
            progress(reported)


def _parallel_chunks(
    conn: sqlite3.Connection,
    selection: Selection,
    fmt: Format,
    opts: ExportOptions,
    workers: ExportWorkers,
    redactor: Redactor | None,
    counter: list[int],
    cancelled: Callable[[], bool] | None,
) -> Iterator[str]:
    """The export's text from the workers' entries, framed as the format is."""
    parts = fmt.parts
    assert parts is not None and redactor is not None
    summary = redactor.summary
    groups = iter_groups(
        conn, selection, budget=_GROUP_BYTES, rows=_GROUP_ROWS, cancelled=cancelled
    )

    def entries() -> Iterator[tuple[int | None, Iterable[str]]]:
        try:
            for result in workers.map(groups):
                summary.by_kind.update(result.kinds)
                summary.rows += result.rows
                summary.dropped += result.dropped
                counter[0] += len(result.texts)
                for i, text in enumerate(result.texts):
                    yield (result.first_us if i == 0 else None), (text,)
                if cancelled is not None and cancelled():
                    return
        except WorkerError as exc:
            raise ExportError(str(exc)) from None

    return parts.frame(entries(), opts)


def _is_session_file(path: Path) -> bool:
    """A file that is one of our sessions, whatever its name."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(100)
    except OSError:
        return False
    return (
        len(head) == 100
        and head.startswith(b"SQLite format 3\x00")
        and int.from_bytes(head[68:72], "big") == APPLICATION_ID
    )


def check_output_path(out_path: Path, session_path: Path | None) -> None:
    """Refuse a destination that would destroy a session or cannot be a file."""
    if out_path.is_dir():
        raise ExportError(f"{out_path} is a folder; give a file name (e.g. {out_path / 'export'})")
    if out_path.suffix.lower() == SESSION_SUFFIX:
        raise ExportError(
            f"will not write an export onto {out_path}: {SESSION_SUFFIX} files are sessions"
        )
    if session_path is not None and out_path.exists():
        try:
            same = os.path.samefile(out_path, session_path)
        except OSError:
            same = False
        if same:
            raise ExportError(f"will not write the export onto the session being read ({out_path})")
    if out_path.exists() and _is_session_file(out_path):
        raise ExportError(f"will not write an export onto {out_path}: it is a session file")
    parent = out_path.parent
    if not parent.is_dir():
        raise ExportError(f"cannot write {out_path}: folder {parent} does not exist")


def write_export_file(
    conn: sqlite3.Connection,
    out_path: Path,
    selection: Selection | None = None,
    options: ExportOptions | None = None,
    *,
    session_path: Path | None = None,
    progress: Callable[[int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    redactor: Redactor | None = None,
) -> ExportResult:
    """Write the export whole or not at all: a temporary file beside it, then a rename."""
    check_output_path(out_path, session_path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".export-", suffix=".part", dir=out_path.parent)
    except OSError as exc:
        raise ExportError(f"cannot write {out_path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape", newline="") as fh:
            result = export_to(
                conn, fh, selection, options, progress=progress, cancelled=cancelled,
                redactor=redactor,
            )
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out_path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ExportError(f"cannot write {out_path}: {exc.strerror or exc}") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return result


# -- the interface of earlier versions ------------------------------------------------


def count_requests(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM requests").fetchone()[0])


def export_jsonl(
    conn: sqlite3.Connection,
    out: IO[str],
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write every request as one JSON line; returns how many were written."""
    return export_to(conn, out, progress=progress).count

