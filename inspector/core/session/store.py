"""One SQLite file per session: the single source of truth for captured requests.

WAL journal with ``synchronous=NORMAL``: a committed transaction survives the
process being killed (the OS holds the written pages), which is the promise the
listener makes when it answers 2xx.  One writer connection, used only by the
writer thread; readers open their own connections and never block it.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import orjson
import platformdirs

from inspector.core.provider.authenticity import overall
from inspector.core.provider.decoder import DecodedEvent
from inspector.core.provider.warning_limits import bound_warnings
from inspector.core.session.lock import SessionLock, SessionLockedError
from inspector.core.session.record import CapturedRequest
from inspector.core.session.retries import (
    BY_BODY_SCHEMA,
    COPY_BY_BODY,
    FIRST,
    RetryIndex,
    retry_key,
)

APPLICATION_ID = 0x57484B49  # "WHKI": marks the file as ours
SESSION_SUFFIX = ".whsession"
#: Body text beyond this many bytes is not put in the full-text index (it stays searchable by regex).
FTS_TEXT_LIMIT = 1 << 20

#: The lookup structures, all filled *after* a request is acknowledged (see
#: :func:`index_rows`), in batches of thousands of rows: an index on ``requests``
#: itself would cost every commit of a few dozen requests a page write per distinct
#: key (a page per request for message ids), which was a third of the writer's work.
#: Rows past ``indexed_upto`` are found by scanning them (see ``inspector.core.session.query``).
_KEY_TABLES = """
CREATE TABLE by_event (
    event TEXT NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (event, id)
) WITHOUT ROWID;
CREATE TABLE by_class (
    status_class TEXT NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (status_class, id)
) WITHOUT ROWID;
CREATE TABLE by_message (
    message_id TEXT NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (message_id, id)
) WITHOUT ROWID;
"""
_INDEX_SCHEMA = (
    _KEY_TABLES
    + """
CREATE VIRTUAL TABLE requests_fts USING fts5(
    body, content='', columnsize=0, tokenize="unicode61 remove_diacritics 2 tokenchars '_'"
);
INSERT INTO meta(key, value) VALUES ('indexed_upto', '0');
"""
)

_SCHEMA = (
    """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE requests (
    id INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL,
    received_us INTEGER NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    query TEXT NOT NULL,
    event TEXT NOT NULL,
    product TEXT NOT NULL,
    status TEXT NOT NULL,
    status_class TEXT NOT NULL,
    message_id TEXT NOT NULL,
    from_addr TEXT NOT NULL,
    to_addr TEXT NOT NULL,
    summary TEXT NOT NULL,
    body_size INTEGER NOT NULL,
    warning_count INTEGER NOT NULL,
    response_status INTEGER NOT NULL,
    via_tunnel INTEGER NOT NULL,
    client_addr TEXT NOT NULL,
    remote TEXT NOT NULL,
    http_version TEXT NOT NULL,
    declared_size INTEGER,
    content_type TEXT NOT NULL,
    warnings TEXT NOT NULL
);
-- Bytes live apart from the decoded columns so that scanning a million rows to
-- filter them reads a couple of hundred bytes per row, not every body.
CREATE TABLE request_data (
    id INTEGER PRIMARY KEY REFERENCES requests(id),
    headers TEXT NOT NULL,
    body BLOB NOT NULL,
    response_headers TEXT NOT NULL,
    response_body BLOB NOT NULL
);
"""
    + _INDEX_SCHEMA
)

#: SQL for the last row id the lookup structures cover.
INDEXED_UPTO = "(SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'indexed_upto')"

#: Lookup tables filled from ``requests`` by :func:`index_rows`: table, key column, rows kept.
_KEYS = (
    ("by_event", "event", ""),
    ("by_class", "status_class", ""),
    ("by_message", "message_id", "AND message_id != ''"),
)


def _copy_keys(after: str, upto: str) -> list[str]:
    """Statements copying the keys of rows ``after < id <= upto`` (SQL expressions) into the
    lookup tables, sorted so that a batch touches each B-tree page once."""
    return [
        f"INSERT INTO {table} ({column}, id) SELECT {column}, id FROM requests "
        f"WHERE id > {after} AND id <= {upto} {extra} ORDER BY {column}, id"
        for table, column, extra in _KEYS
    ]


def keyed_ids(table: str, condition: str) -> str:
    """SQL for the ids of the rows meeting ``condition`` on a column that has a lookup
    table: the table answers for the rows it covers, a scan for the few past
    ``indexed_upto``.  ``condition`` names the column as both tables do; any ``?`` in it
    appears twice, so its parameters are bound twice."""
    return (
        f"SELECT id FROM {table} WHERE {condition} UNION ALL "
        f"SELECT id FROM requests WHERE id > {INDEXED_UPTO} AND {condition}"
    )


#: Schema 1 kept SQL indexes on ``requests`` and only body text was indexed afterwards.
_MIGRATE_FROM_1 = (
    _KEY_TABLES
    + "UPDATE meta SET key = 'indexed_upto' WHERE key = 'fts_upto';\n"
    + "".join(f"{sql};\n" for sql in _copy_keys("0", INDEXED_UPTO))
    + """DROP INDEX IF EXISTS requests_event;
DROP INDEX IF EXISTS requests_status_class;
DROP INDEX IF EXISTS requests_message_id;
"""
)

#: Upgrades past schema 2, in order: entry ``k`` takes a session from schema ``2 + k`` to
#: ``3 + k`` (SQL run inside one transaction). A new session is created at schema 2 and
#: brought up through every step, so a fresh file and an upgraded one have the same shape.
#: A feature that needs new columns or tables appends one step here; never edit a step that
#: has shipped.
_UPGRADES: tuple[str, ...] = (
    # Response rules: who chose the answer given (filter rule:NAME), how long it waited and
    # whether it was an HTTP response at all (held or closed connections record status 0).
    """ALTER TABLE requests ADD COLUMN answer_source TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN answer_delay_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN answer_action TEXT NOT NULL DEFAULT '';""",
    # Connecting the real provider: authenticity checks, re-deliveries, URL verification.
    """ALTER TABLE requests ADD COLUMN auth_result TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN auth TEXT NOT NULL DEFAULT '[]';
ALTER TABLE requests ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
ALTER TABLE requests ADD COLUMN first_id INTEGER;
ALTER TABLE requests ADD COLUMN body_hash BLOB;
ALTER TABLE requests ADD COLUMN verification TEXT;
"""
    + BY_BODY_SCHEMA,
    # Rows brought in by ``import`` name the file they came from ('' = captured here).
    "ALTER TABLE requests ADD COLUMN imported_from TEXT NOT NULL DEFAULT '';",
    # Relay to the user's app (see inspector.core.session.forwards): the outbox of rows
    # still to forward, what the app answered to each forward and replay, and which row
    # is a replay of which.
    """
CREATE TABLE outbox (
    request_id INTEGER PRIMARY KEY,
    attempts INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'pending'
);
CREATE TABLE forwards (
    id INTEGER PRIMARY KEY,
    request_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    url TEXT NOT NULL,
    status INTEGER,
    headers TEXT NOT NULL,
    body BLOB NOT NULL,
    body_cut INTEGER NOT NULL,
    duration_ms REAL NOT NULL,
    error TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    at_us INTEGER NOT NULL,
    given INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX forwards_request ON forwards (request_id, id);
CREATE TABLE app_last (
    request_id INTEGER PRIMARY KEY,
    status INTEGER,
    failed INTEGER NOT NULL
);
CREATE TABLE replays (id INTEGER PRIMARY KEY, original INTEGER NOT NULL);
CREATE INDEX replays_original ON replays (original, id);
""",
)

SCHEMA_VERSION = 2 + len(_UPGRADES)


def _upgrade(conn: sqlite3.Connection, version: int) -> None:
    """Run the steps that take a schema-``version`` session to :data:`SCHEMA_VERSION`."""
    if version >= SCHEMA_VERSION:
        return
    steps = "\n".join(_UPGRADES[version - 2 :])
    conn.executescript(f"BEGIN;\n{steps}\nPRAGMA user_version = {SCHEMA_VERSION};\nCOMMIT;")


#: Columns of a row summary: what a table row or a CLI line needs, without the body.
SUMMARY_COLUMNS: tuple[str, ...] = (
    "id",
    "seq",
    "received_us",
    "method",
    "path",
    "query",
    "event",
    "product",
    "status",
    "status_class",
    "message_id",
    "from_addr",
    "to_addr",
    "summary",
    "body_size",
    "warning_count",
    "response_status",
    "via_tunnel",
    "client_addr",
    "remote",
    "auth_result",
    "attempt",
)

#: Stored with the summary columns, not part of a summary.
_DETAIL_COLUMNS = (
    "http_version",
    "declared_size",
    "content_type",
    "warnings",
    "auth",
    "first_id",
    "body_hash",
    "verification",
    "answer_source",
    "answer_delay_ms",
    "answer_action",
)
_INSERT_REQUEST = (
    f"INSERT INTO requests ({', '.join(SUMMARY_COLUMNS + _DETAIL_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in range(len(SUMMARY_COLUMNS) + len(_DETAIL_COLUMNS)))})"
)
_INSERT_DATA = (
    "INSERT INTO request_data (id, headers, body, response_headers, response_body) "
    "VALUES (?, ?, ?, ?, ?)"
)


class SessionError(Exception):
    """A session file that cannot be opened or written; the message is for the user."""


class RowSummary(NamedTuple):
    """What a table row or a CLI line needs, without the bytes (a tuple: cheap to build and send)."""

    id: int
    seq: int
    received_us: int
    method: str
    path: str
    query: str
    event: str
    product: str
    status: str
    status_class: str
    message_id: str
    from_addr: str
    to_addr: str
    summary: str
    body_size: int
    warning_count: int
    response_status: int
    via_tunnel: bool
    client_addr: str
    remote: str
    #: Authenticity verdict: ``ok``, ``failed``, ``missing`` or ``""`` (nothing configured).
    auth_result: str = ""
    #: 1 for a first delivery, 2, 3... for the provider's re-deliveries of it.
    attempt: int = 1

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> RowSummary:
        return cls._make((*row[:17], bool(row[17]), *row[18:]))


@dataclass(frozen=True, slots=True)
class StoredRequest:
    """A full stored request: raw bytes, decoded columns and the answer given."""

    summary: RowSummary
    http_version: str
    headers: list[tuple[str, str]]
    body: bytes
    declared_size: int | None
    content_type: str
    response_headers: list[tuple[str, str]]
    response_body: bytes
    warnings: list[str]
    #: Who chose the answer, its delay and whether it was a response (see ``CapturedRequest``).
    answer_source: str = ""
    answer_delay_ms: int = 0
    answer_action: str = ""
    #: Authenticity checks, ``(check, result, detail)`` each (empty: nothing configured).
    auth: list[tuple[str, str, str]] = field(default_factory=list)
    #: The first delivery's row id when this is a re-delivery.
    first_id: int | None = None
    #: The URL verification record, when the row is the provider's handshake.
    verification: dict[str, Any] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.summary, name)


AppendListener = Callable[[list[RowSummary]], None]


def data_dir() -> Path:
    """Where sessions live unless told otherwise (overridable for tests)."""
    override = os.environ.get("WEBHOOK_INSPECTOR_DATA_DIR")
    if override:
        return Path(override)
    return Path(platformdirs.user_data_dir("webhook-inspector", appauthor=False))


def default_session_path(now: datetime | None = None) -> Path:
    stamp = (now or datetime.now()).strftime("%Y-%m-%d_%H%M%S")
    base = data_dir() / "sessions"
    path = base / f"{stamp}{SESSION_SUFFIX}"
    n = 1
    while path.exists():
        n += 1
        path = base / f"{stamp}-{n}{SESSION_SUFFIX}"
    return path


def _fts_text(body: bytes) -> str | None:
    if not body or len(body) > FTS_TEXT_LIMIT:
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    if readonly:
        uri = f"{path.resolve().as_uri()}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
    else:
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 5000")
    return conn


def commit_batch(
    conn: sqlite3.Connection,
    batch: Sequence[tuple[CapturedRequest, DecodedEvent]],
    retries: RetryIndex | None = None,
) -> tuple[list[RowSummary], list[tuple[int, str]]]:
    """Insert decoded requests in one committed transaction.

    Returns their summaries and the body texts for the full-text index; indexing is
    left to :func:`index_rows` so it stays out of the path that acknowledges requests.
    ``retries``: the session's re-delivery index (see ``retries``); without one every row
    is a first attempt.
    """
    summaries: list[RowSummary] = []
    request_rows: list[tuple[Any, ...]] = []
    data_rows: list[tuple[Any, ...]] = []
    texts: list[tuple[int, str]] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        rid = int(conn.execute("SELECT coalesce(max(id), 0) FROM requests").fetchone()[0])
        for req, dec in batch:
            rid += 1
            warnings = bound_warnings(
                req.capture_warnings + dec.warnings if req.capture_warnings else dec.warnings
            )
            key = retry_key(req.method, req.path, req.query, req.body)
            attempt = retries.note(key, rid) if retries is not None else FIRST
            summary = RowSummary(
                rid,
                req.seq,
                req.received_us,
                req.method,
                req.path,
                req.query,
                dec.event,
                dec.product,
                dec.status,
                dec.status_class,
                dec.message_id,
                dec.from_,
                dec.to,
                dec.summary,
                len(req.body),
                len(warnings),
                req.response_status,
                req.via_tunnel,
                req.client_addr,
                req.remote,
                overall(dec.auth),
                attempt.number,
            )
            summaries.append(summary)
            request_rows.append(
                (
                    *summary[:17],
                    int(req.via_tunnel),
                    req.client_addr,
                    req.remote,
                    summary.auth_result,
                    attempt.number,
                    req.http_version,
                    req.declared_size,
                    req.content_type,
                    orjson.dumps(warnings).decode() if warnings else "[]",
                    orjson.dumps(dec.auth).decode() if dec.auth else "[]",
                    attempt.first_id,
                    key,
                    orjson.dumps(dec.verification).decode() if dec.verification else None,
                    req.answer_source,
                    req.answer_delay_ms,
                    req.answer_action,
                )
            )
            data_rows.append(
                (
                    rid,
                    orjson.dumps(req.headers).decode(),
                    req.body,
                    orjson.dumps(req.response_headers).decode(),
                    req.response_body,
                )
            )
            text = _fts_text(req.body)
            if text is not None:
                texts.append((rid, text))
        conn.executemany(_INSERT_REQUEST, request_rows)
        conn.executemany(_INSERT_DATA, data_rows)
        _relay_rows(conn, batch, summaries)
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        if retries is not None:
            retries.rolled_back()
        raise
    if retries is not None:
        retries.committed()
    return summaries, texts


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back what is left of a failed transaction, keeping the error that failed it.

    SQLite rolls a transaction back by itself on some errors (a full disk among them):
    a second ROLLBACK would raise "no transaction is active" and hide the real cause.
    """
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass


#: SQLite's primary result codes that mean the file, not the request, is the problem.
_STORAGE_CODES = {
    sqlite3.SQLITE_FULL: "disk full",
    sqlite3.SQLITE_IOERR: "disk I/O error",
    sqlite3.SQLITE_READONLY: "session file is read-only",
    sqlite3.SQLITE_CANTOPEN: "session file cannot be opened",
    sqlite3.SQLITE_CORRUPT: "session file is damaged",
    sqlite3.SQLITE_NOTADB: "session file is damaged",
    sqlite3.SQLITE_BUSY: "session file is locked by another process",
}


def storage_problem(exc: BaseException) -> str | None:
    """What about the session file made ``exc`` happen ("disk full"...), or None when the
    error lies with the rows themselves (then other rows may still be stored)."""
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None and code & 0xFF in _STORAGE_CODES:
            return _STORAGE_CODES[code & 0xFF]
        return None
    if isinstance(exc, OSError):
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return "disk full"
        return exc.strerror or str(exc)
    return None


_INT64_MAX = (1 << 63) - 1


def _storable(text: str) -> str:
    """``text`` as SQLite can store it: lone surrogates written as ``\\udXXX`` escapes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def safe_form(
    req: CapturedRequest, dec: DecodedEvent, problem: BaseException
) -> tuple[CapturedRequest, DecodedEvent]:
    """A copy of a row that could not be stored, with every value made storable.

    The body bytes are kept exactly; texts that UTF-8 refuses (lone surrogates) are
    escaped, a number too large for SQLite is dropped, and a warning says so: the
    request is recorded, flagged, like any other strange one.
    """
    fix = _storable
    declared = req.declared_size
    if declared is not None and not 0 <= declared <= _INT64_MAX:
        declared = None
    safe_req = dataclasses.replace(
        req,
        method=fix(req.method),
        path=fix(req.path),
        query=fix(req.query),
        http_version=fix(req.http_version),
        remote=fix(req.remote),
        headers=[(fix(k), fix(v)) for k, v in req.headers],
        declared_size=declared,
        response_headers=[(fix(k), fix(v)) for k, v in req.response_headers],
        capture_warnings=[fix(w) for w in req.capture_warnings],
        client_addr=fix(req.client_addr),
    )
    note = (
        f"request could not be stored as decoded ({type(problem).__name__}: "
        f"{fix(str(problem))[:200]}); stored with the unstorable text escaped"
    )
    safe_dec = DecodedEvent(
        event=fix(dec.event),
        product=fix(dec.product),
        status=fix(dec.status),
        status_class=fix(dec.status_class),
        message_id=fix(dec.message_id),
        from_=fix(dec.from_),
        to=fix(dec.to),
        summary=fix(dec.summary),
        warnings=[fix(w) for w in dec.warnings] + [note],
    )
    return safe_req, safe_dec


def _relay_rows(
    conn: sqlite3.Connection,
    batch: Sequence[tuple[CapturedRequest, DecodedEvent]],
    summaries: Sequence[RowSummary],
) -> None:
    """Outbox entries and replay links, in the same transaction as their rows: a request
    acknowledged with forwarding on is on its way to the app even after a kill -9."""
    outbox = [(s.id,) for (req, _), s in zip(batch, summaries, strict=True) if req.forward]
    if outbox:
        conn.executemany("INSERT INTO outbox (request_id) VALUES (?)", outbox)
    links = [
        (s.id, req.replay_of)
        for (req, _), s in zip(batch, summaries, strict=True)
        if req.replay_of is not None
    ]
    if links:
        conn.executemany("INSERT INTO replays (id, original) VALUES (?, ?)", links)


def index_rows(conn: sqlite3.Connection, upto: int, texts: Sequence[tuple[int, str]]) -> None:
    """Index the rows after ``indexed_upto`` up to ``upto`` and move the mark there.

    The lookup tables are filled from the stored rows by SQLite itself (see
    :func:`_copy_keys`); ``texts`` are those rows' body texts
    for the full-text index (from :func:`commit_batch`, or read back by
    :func:`catch_up_index`).
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        done = int(conn.execute(f"SELECT {INDEXED_UPTO}").fetchone()[0])
        if upto > done:
            for sql in _copy_keys("?", "?"):
                conn.execute(sql, (done, upto))
            conn.execute(COPY_BY_BODY, (done, upto))
            conn.executemany("INSERT INTO requests_fts(rowid, body) VALUES (?, ?)", texts)
            conn.execute("UPDATE meta SET value = ? WHERE key = 'indexed_upto'", (str(upto),))
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise


def catch_up_index(conn: sqlite3.Connection, chunk: int = 2000) -> int:
    """Index rows that were committed but not indexed (the writer was stopped first)."""
    done = int(conn.execute(f"SELECT {INDEXED_UPTO}").fetchone()[0])
    total = 0
    while True:
        rows = conn.execute(
            "SELECT id, body FROM request_data WHERE id > ? ORDER BY id LIMIT ?", (done, chunk)
        ).fetchall()
        if not rows:
            return total
        texts = [(rid, t) for rid, body in rows if (t := _fts_text(bytes(body))) is not None]
        index_rows(conn, rows[-1][0], texts)
        done = rows[-1][0]
        total += len(rows)


#: Sessions hold customers' phone numbers and messages: only their owner may read them.
#: SQLite gives the -wal and -shm files the database file's mode.
SESSION_FILE_MODE = 0o600
SESSION_FOLDER_MODE = 0o700
_SIDE_FILES = ("-wal", "-shm", "-journal")


class SessionStore:
    """Owns the session file: schema, the writer connection, and append notifications.

    Also the recorder's lock (see :mod:`inspector.core.session.lock`): a second store on
    the same file, in this process or another, is refused while this one is open.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()
        self._listeners: list[AppendListener] = []
        self._listeners_lock = threading.Lock()
        self._write_lock = threading.Lock()
        #: Folders and the file this store created, deepest first: see :meth:`close`.
        self._created: list[Path] = []
        self._lock: SessionLock | None = None
        self._closed = False
        try:
            self._conn = self._open()
        except BaseException:
            self._release()
            raise
        self._next_seq = self._query_next_seq()
        #: Made on the first :meth:`append` (the capture engine commits in its writer).
        self._retries: RetryIndex | None = None

    # -- opening ---------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        path = self.path
        if path.is_dir():
            raise SessionError(f"session path {path} is a folder, not a file")
        missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            for folder in reversed(missing):  # mkdir gives the mode to the last one only
                os.chmod(folder, SESSION_FOLDER_MODE)
                self._created.insert(0, folder)
        except OSError as exc:
            raise SessionError(
                f"cannot create the folder for session {path}: {exc.strerror or exc}"
            ) from exc
        if path.exists() and not os.access(path, os.W_OK):
            raise SessionError(f"session file {path} is not writable (permission denied)")
        if not path.exists() and not os.access(path.parent, os.W_OK):
            raise SessionError(f"cannot create session file {path}: permission denied")
        try:
            self._lock = SessionLock(path)
        except SessionLockedError as exc:
            raise SessionError(str(exc)) from None
        except OSError as exc:
            raise SessionError(f"cannot lock session {path}: {exc.strerror or exc}") from exc
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SESSION_FILE_MODE))
            self._created.insert(0, path)
        except FileExistsError:
            pass
        except OSError as exc:
            raise SessionError(f"cannot create session file {path}: {exc.strerror or exc}") from exc
        try:
            conn = _connect(path, readonly=False)
        except sqlite3.Error as exc:
            raise SessionError(f"cannot open session file {path}: {exc}") from exc
        try:
            self._prepare(conn)
        except sqlite3.DatabaseError as exc:
            conn.close()
            text = str(exc)
            if "not a database" in text or "malformed" in text:
                raise SessionError(
                    f"{path} is not a readable session file (corrupt or not SQLite: {text})"
                ) from exc
            raise SessionError(f"cannot open session file {path}: {text}") from exc
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if app_id == 0 and version == 0 and tables == 0:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            created = datetime.now().astimezone().isoformat()
            conn.executescript(
                f"BEGIN;\n{_SCHEMA}\n"
                f"PRAGMA application_id = {APPLICATION_ID};\n"
                "PRAGMA user_version = 2;\n"
                f"INSERT INTO meta(key, value) VALUES ('created_at', '{created}');\n"
                "COMMIT;"
            )
            _upgrade(conn, 2)
            return
        if app_id != APPLICATION_ID:
            raise SessionError(f"{self.path} is an SQLite file but not a Webhook Inspector session")
        if version > SCHEMA_VERSION:
            raise SessionError(
                f"{self.path} was written by a newer Webhook Inspector (schema {version}); "
                "update the app to open it"
            )
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        if version == 1:
            # Sessions saved by earlier versions: move their lookups to schema 2's tables.
            conn.executescript(f"BEGIN;\n{_MIGRATE_FROM_1}\nPRAGMA user_version = 2;\nCOMMIT;")
            version = 2
        _upgrade(conn, version)
        catch_up_index(conn)

    def _query_next_seq(self) -> int:
        row = self._conn.execute("SELECT max(seq) FROM requests").fetchone()
        return (row[0] or 0) + 1

    def take_seq(self) -> int:
        """Next arrival sequence number; called from the listener's loop thread only."""
        seq = self._next_seq
        self._next_seq += 1
        return seq

    # -- writing -----------------------------------------------------------------

    def add_append_listener(self, listener: AppendListener) -> None:
        with self._listeners_lock:
            self._listeners.append(listener)

    def remove_append_listener(self, listener: AppendListener) -> None:
        with self._listeners_lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def append(self, batch: Sequence[tuple[CapturedRequest, DecodedEvent]]) -> list[RowSummary]:
        """Insert a batch in one transaction, index its text, tell the listeners.

        The capture engine writes through its writer process instead; this is the
        in-process path for tools and tests that fill a session directly.
        """
        with self._write_lock:
            if self._retries is None:
                self._retries = RetryIndex(self._conn)
            summaries, texts = commit_batch(self._conn, batch, self._retries)
            if summaries:
                index_rows(self._conn, summaries[-1].id, texts)
                self._retries.indexed()
        self.notify(summaries)
        return summaries

    def notify(self, summaries: list[RowSummary]) -> None:
        """Tell every append listener about rows that are committed."""
        with self._listeners_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(summaries)

    # -- reading -----------------------------------------------------------------

    def open_reader(self) -> sqlite3.Connection:
        """A connection of the caller's own, for queries from any one thread."""
        conn = _connect(self.path, readonly=False)
        # Per connection, like the writer's: one that writes (the relay's outbox) would
        # otherwise sync the WAL on every commit (SQLite's default, FULL).
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def count(self) -> int:
        with self._write_lock:
            return int(self._conn.execute("SELECT count(*) FROM requests").fetchone()[0])

    def get(self, request_id: int) -> StoredRequest | None:
        with self._write_lock:
            return get_request(self._conn, request_id)

    def close(self, *, remove_if_empty: bool = False) -> None:
        """Close the file and let another recorder have it.

        ``remove_if_empty``: a start that failed (port in use...) leaves nothing behind:
        the file, if this store created it and it holds no request, goes with its folders.
        A session the user had before is never removed.
        """
        with self._write_lock:
            if self._closed:
                return
            self._closed = True
            empty = False
            try:
                if remove_if_empty and self.path in self._created:
                    row = self._conn.execute("SELECT count(*) FROM requests").fetchone()
                    empty = row[0] == 0
                self._conn.execute("PRAGMA optimize")
            except sqlite3.Error:
                pass
            self._conn.close()
            if not empty:
                self._created = []
            self._release()

    def _release(self) -> None:
        """Remove what this store created (all of it, or nothing, see ``close``), then unlock.

        The file goes while the lock is held (no other recorder can have opened it yet),
        the folders after the lock file has gone too."""
        created, self._created = self._created, []
        folders = [p for p in created if p != self.path]
        if self.path in created:
            for side in ("", *_SIDE_FILES):
                try:
                    self.path.with_name(self.path.name + side).unlink(missing_ok=True)
                except OSError:
                    pass
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        for folder in folders:
            try:
                folder.rmdir()  # only when empty
            except OSError:
                break


_DATA_COLUMNS = ("headers", "body", "response_headers", "response_body")
#: Columns a schema-2 session (read without upgrading it, e.g. by ``export``) lacks, and
#: the values that stand for them: what an upgraded row of that age holds.
_LATER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("auth_result", "''"),
    ("attempt", "1"),
    ("auth", "'[]'"),
    ("first_id", "NULL"),
    ("verification", "NULL"),
    ("answer_source", "''"),
    ("answer_delay_ms", "0"),
    ("answer_action", "''"),
)


def _select_full(conn: sqlite3.Connection) -> str:
    have = {row[1] for row in conn.execute("PRAGMA table_info(requests)")}
    later = {name: (f"r.{name}" if name in have else default) for name, default in _LATER_COLUMNS}
    summary = [
        later[c] if c in later else f"r.{c}" for c in SUMMARY_COLUMNS
    ]
    return (
        f"SELECT {', '.join(summary)}, r.http_version, r.declared_size, "
        f"r.content_type, r.warnings, {', '.join('d.' + c for c in _DATA_COLUMNS)}, "
        f"{later['auth']}, {later['first_id']}, {later['verification']}, "
        f"{later['answer_source']}, {later['answer_delay_ms']}, {later['answer_action']} "
        "FROM requests r LEFT JOIN request_data d ON d.id = r.id"
    )


_N_SUMMARY = len(SUMMARY_COLUMNS)


def _stored_from_row(row: Sequence[Any]) -> StoredRequest:
    summary = RowSummary.from_row(row[:_N_SUMMARY])
    (
        http_version, declared, ctype, warnings, headers, body, resp_headers, resp_body,
        auth, first_id, verification, source, delay_ms, action,
    ) = row[_N_SUMMARY:]  # fmt: skip
    return StoredRequest(
        summary=summary,
        http_version=http_version,
        headers=[(k, v) for k, v in json.loads(headers or "[]")],
        body=bytes(body or b""),
        declared_size=declared,
        content_type=ctype,
        response_headers=[(k, v) for k, v in json.loads(resp_headers or "[]")],
        response_body=bytes(resp_body or b""),
        warnings=list(json.loads(warnings)),
        auth=[(c, r, d) for c, r, d in json.loads(auth or "[]")],
        first_id=first_id,
        verification=json.loads(verification) if verification else None,
        answer_source=source,
        answer_delay_ms=delay_ms,
        answer_action=action,
    )


def get_request(conn: sqlite3.Connection, request_id: int) -> StoredRequest | None:
    row = conn.execute(f"{_select_full(conn)} WHERE r.id = ?", (request_id,)).fetchone()
    return _stored_from_row(row) if row else None


#: Bytes of request data :func:`iter_requests` holds at once (a count alone bounds nothing:
#: 256 rows of 25 MiB are 6 GiB).
READ_BUDGET = 4 << 20


def get_requests(conn: sqlite3.Connection, ids: Sequence[int]) -> list[StoredRequest]:
    """The requests with these ids, in the order given (missing ids are left out)."""
    if not ids:
        return []
    marks = ",".join("?" for _ in ids)
    sql = f"{_select_full(conn)} WHERE r.id IN ({marks})"
    rows = {r[0]: r for r in conn.execute(sql, tuple(ids))}
    return [_stored_from_row(rows[i]) for i in ids if i in rows]


def iter_requests(
    conn: sqlite3.Connection, batch: int = 256, budget: int = READ_BUDGET
) -> Iterator[StoredRequest]:
    """Every request in arrival order, up to ``batch`` rows or ``budget`` bytes at a time
    (one row when a single row is larger), so huge sessions and huge bodies stream."""
    last = -1
    while True:
        sizes = conn.execute(
            "SELECT id, length(headers) + length(body) + length(response_headers) "
            "+ length(response_body) FROM request_data WHERE id > ? ORDER BY id LIMIT ?",
            (last, batch),
        ).fetchall()
        if not sizes:
            return
        group: list[int] = []
        held = 0
        for rid, size in sizes:
            if group and held + (size or 0) > budget:
                yield from get_requests(conn, group)
                group, held = [], 0
            group.append(rid)
            held += size or 0
        yield from get_requests(conn, group)
        last = sizes[-1][0]


def import_sources(conn: sqlite3.Connection, ids: Sequence[int]) -> dict[int, str]:
    """The file each of these rows was imported from, for those that were imported (a
    session of schema 2, opened read-only, has no such column: nothing was imported)."""
    if not ids or not _has_column(conn, "requests", "imported_from"):
        return {}
    marks = ",".join("?" for _ in ids)
    sql = f"SELECT id, imported_from FROM requests WHERE imported_from != '' AND id IN ({marks})"
    return dict(conn.execute(sql, tuple(ids)).fetchall())


def mark_imported(conn: sqlite3.Connection, first_id: int, last_id: int, source: str) -> None:
    """Name the file rows ``first_id..last_id`` were imported from."""
    conn.execute(
        "UPDATE requests SET imported_from = ? WHERE id BETWEEN ? AND ?",
        (source, first_id, last_id),
    )


def _has_column(conn: sqlite3.Connection, table: str, column: str) -> bool:
    return any(row[1] == column for row in conn.execute(f"PRAGMA table_info({table})"))


def open_existing(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """Open a session file for reading only (export, inspection); clear errors if it is not one."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise SessionError(f"no session file at {p}")
    try:
        conn, app_id, version = _open_for_reading(p)
    except sqlite3.DatabaseError as exc:
        code = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
        if code in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
            raise SessionError(
                f"{p} is not a readable session file (corrupt or not SQLite: {exc})"
            ) from exc
        raise SessionError(f"cannot read session file {p}: {_read_problem(p, exc)}") from exc
    if app_id != APPLICATION_ID:
        conn.close()
        raise SessionError(f"{p} is not a Webhook Inspector session")
    if version > SCHEMA_VERSION:
        conn.close()
        raise SessionError(f"{p} was written by a newer Webhook Inspector (schema {version})")
    return conn


def _header(conn: sqlite3.Connection) -> tuple[int, int]:
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    return int(app_id), int(version)


def _open_for_reading(p: Path) -> tuple[sqlite3.Connection, int, int]:
    """A read-only connection, even where SQLite cannot write its WAL index (``-shm``).

    A session on a read-only medium (a mounted backup, a read-only share, an immutable
    folder) cannot get the ``-shm`` file that reading a WAL database needs; it is then
    opened ``immutable=1``, which reads the main file alone.  That is only right when no
    write-ahead log holds rows the file lacks, so a non-empty ``-wal`` is refused.
    """
    conn = _connect(p, readonly=True)
    try:
        return (conn, *_header(conn))
    except sqlite3.OperationalError as exc:
        conn.close()
        code = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
        if code not in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY):
            raise
        first = exc
    wal = p.with_name(p.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise first
    uri = f"{p.resolve().as_uri()}?immutable=1"
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
    try:
        return (conn, *_header(conn))
    except sqlite3.Error:
        conn.close()
        raise first from None


def _read_problem(p: Path, exc: sqlite3.Error) -> str:
    """The cause of a failed read, in the user's terms rather than SQLite's."""
    wal = p.with_name(p.name + "-wal")
    folder_writable = os.access(p.parent, os.W_OK)
    if wal.exists() and wal.stat().st_size > 0 and not folder_writable:
        return (
            "its folder is read-only and its write-ahead log "
            f"({wal.name}) holds rows not yet in the file; copy the session and its -wal "
            "file to a writable folder to read it"
        )
    if not os.access(p, os.R_OK):
        return "permission denied"
    return str(exc)
