"""The filter language: parsed once into an AST, compiled once into one SQL ``WHERE`` clause.

Filtering and sorting run inside SQLite (indexes on the decoded columns, FTS5 for
body words), so a keystroke over a million requests costs about what it costs over
a hundred, and the GUI never holds more than the page it shows.  See
``docs/filter-language.md`` for the user-facing description; :data:`HELP` is the
short form the window's help dialog shows.

Nothing user-typed is ever pasted into SQL: values travel as parameters, and words
for the full-text index are quoted as FTS5 strings.
"""

from __future__ import annotations

import re
import sqlite3
import time
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

from inspector.core.provider.catalogue import (
    EVENTS,
    PRODUCT_LABELS,
    PRODUCTS,
    STATUS_CLASSES,
    UNSUBSCRIPTION,
)
from inspector.core.session.store import (
    FTS_TEXT_LIMIT,
    INDEXED_UPTO,
    SUMMARY_COLUMNS,
    RowSummary,
    keyed_ids,
)

#: Field names, each with the one-line meaning shown by autocomplete and the help dialog.
FIELDS: dict[str, str] = {
    "event": "event name or part of it: event:whatsapp:message:status, event:whatsapp, event:unsubscription",
    "product": "product: sms, whatsapp, rcs, voice, viber, vmn, contacts",
    "status": "provider's status text, whole and case-insensitive: status:failed, status:DELIVRD",
    "class": "status class: success, pending, failure, inbound, opt_out, info, unknown",
    "from": "sender starts with (prefix): from:9190; from:*123 for anywhere in it",
    "to": "recipient starts with (prefix): to:9190; to:*123 for anywhere in it",
    "id": "message id starts with (prefix): id:a418; id:*ad8a for anywhere in it",
    "method": "HTTP method: method:POST",
    "path": "URL path starts with: path:/sms",
    "has": "has:warning, has:tunnel, has:event (decoded), has:body",
    "app": "what your app answered a forward or replay: app:2xx, app:500, app:failed, app:none",
}

HAS_VALUES: dict[str, str] = {
    "warning": "warning_count > 0",
    "warnings": "warning_count > 0",
    "tunnel": "via_tunnel != 0",
    "event": "event != ''",
    "body": "body_size > 0",
}

#: Values offered by autocomplete for each field (the language accepts these and more).
KNOWN_VALUES: dict[str, tuple[str, ...]] = {
    "event": tuple(e.name for e in EVENTS) + (UNSUBSCRIPTION,),
    "product": PRODUCTS,
    "class": STATUS_CLASSES,
    "method": ("GET", "POST", "PUT", "PATCH", "DELETE"),
    "has": ("warning", "tunnel", "event", "body"),
    "app": ("2xx", "3xx", "4xx", "5xx", "failed", "none"),
    "status": (
        "delivered",
        "read",
        "sent",
        "failed",
        "deleted",
        "DELIVRD",
        "UNDELIV",
        "EXPIRED",
        "REJECTD",
        "ANSWER",
    ),
}

#: Columns the table can be sorted by; ``id`` is arrival order.
SORTABLE: frozenset[str] = frozenset(
    {
        "id",
        "seq",
        "received_us",
        "method",
        "path",
        "event",
        "product",
        "status",
        "status_class",
        "message_id",
        "from_addr",
        "to_addr",
        "body_size",
        "warning_count",
        "response_status",
    }
)

HELP = """\
Words search request bodies (prefix match: deliv finds delivered).
"two words"        exact phrase in the body
/regex/  /regex/i  Python regular expression over the body text
event:X            event name or part: event:whatsapp:message:status, event:rcs, event:unsubscription
product:X          sms, whatsapp, rcs, voice, viber, vmn, contacts
status:X           provider status text, case-insensitive, whole: status:failed
class:X            success, pending, failure, inbound, opt_out, info, unknown
from:X to:X id:X   starts with X (from:9190); *X matches anywhere (to:*1234)
method:X path:X    method:POST, path:/sms (path prefix)
has:X              has:warning, has:tunnel, has:event, has:body
app:X              your app's answer: app:2xx, app:404, app:failed (error or 4xx/5xx), app:none (never sent)
-term, not term    negation
a b, a AND b       both;   a OR b, a | b  either;   ( ) groups
field:"a b"        quote values with spaces; quote a word to search it literally ("or")
"""


class QueryError(ValueError):
    """A filter the user typed that cannot be understood; ``position`` is a 0-based column."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"column {position + 1}: {message}")
        self.message = message
        self.position = position


# -- AST ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Text:
    """Body words: a prefix search per word, or an exact phrase when quoted."""

    text: str
    phrase: bool
    pos: int


@dataclass(frozen=True, slots=True)
class Regex:
    pattern: str
    ignore_case: bool
    pos: int


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    value: str
    pos: int


@dataclass(frozen=True, slots=True)
class Not:
    node: Node


@dataclass(frozen=True, slots=True)
class And:
    nodes: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    nodes: tuple[Node, ...]


Node = Text | Regex | Field | Not | And | Or


# -- tokenizer --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # "(" ")" "or" "and" "not" "-" "term"
    pos: int
    node: Node | None = None


_FIELD_RE = re.compile(r"([A-Za-z_]+):")
_WORD_TOKEN = re.compile(r"[^\W]+", re.UNICODE)  # what unicode61 with tokenchars '_' keeps


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    """Read a "..." string starting at ``start`` (the quote); backslash escapes ``"`` and ``\\``."""
    out: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if ch == '"':
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise QueryError('unterminated quote: add the closing "', start)


def _read_regex(text: str, start: int) -> tuple[Regex, int]:
    i = start + 1
    out: list[str] = []
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] == "/":
            out.append("/")
            i += 2
            continue
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i : i + 2])
            i += 2
            continue
        if ch == "/":
            break
        out.append(ch)
        i += 1
    else:
        raise QueryError(
            "unterminated /regex/: add the closing / (for a URL path use path:/...)", start
        )
    i += 1
    flags_start = i
    while i < len(text) and text[i].isalpha():
        i += 1
    flags = text[flags_start:i]
    if flags not in ("", "i"):
        raise QueryError(
            f"unknown regex flag {flags!r}: only i (ignore case) is supported", flags_start
        )
    pattern = "".join(out)
    if not pattern:
        raise QueryError("empty /regex/", start)
    try:
        re.compile(pattern)
    except re.error as exc:
        raise QueryError(f"invalid regex: {exc.msg}", start + 1 + (exc.pos or 0)) from None
    return Regex(pattern, flags == "i", start), i


def _word_end(text: str, i: int) -> int:
    while i < len(text) and not text[i].isspace() and text[i] not in "()":
        i += 1
    return i


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch in "()":
            toks.append(_Tok(ch, i))
            i += 1
            continue
        if ch == "|":
            toks.append(_Tok("or", i))
            i += 1
            continue
        if ch == "-":
            if i + 1 >= n or text[i + 1].isspace() or text[i + 1] == ")":
                raise QueryError(
                    "'-' must be followed by the term to exclude, e.g. -has:warning", i
                )
            toks.append(_Tok("-", i))
            i += 1
            continue
        if ch == '"':
            value, end = _read_quoted(text, i)
            toks.append(_Tok("term", i, _text_node(value, True, i)))
            i = end
            continue
        if ch == "/":
            node, end = _read_regex(text, i)
            toks.append(_Tok("term", i, node))
            i = end
            continue
        m = _FIELD_RE.match(text, i)
        if m:
            name = m.group(1).lower()
            if name not in FIELDS:
                raise QueryError(
                    f"unknown field '{m.group(1)}:' (fields: {', '.join(f + ':' for f in FIELDS)}); "
                    "to search bodies for it, put it in quotes",
                    i,
                )
            j = m.end()
            if j < n and text[j] == '"':
                value, end = _read_quoted(text, j)
            else:
                end = _word_end(text, j)
                value = text[j:end]
            if not value:
                raise QueryError(f"{name}: needs a value, e.g. {_example(name)}", i)
            toks.append(_Tok("term", i, Field(name, value, i)))
            i = end
            continue
        end = _word_end(text, i)
        word = text[i:end]
        upper = word.upper()
        if upper in ("OR", "AND", "NOT"):
            toks.append(_Tok(upper.lower(), i))
        else:
            toks.append(_Tok("term", i, _text_node(word, False, i)))
        i = end
    return toks


def _example(name: str) -> str:
    examples = {
        "event": "event:whatsapp:message:status",
        "product": "product:rcs",
        "status": "status:failed",
        "class": "class:failure",
        "from": "from:9190",
        "to": "to:9190",
        "id": "id:a418",
        "method": "method:POST",
        "path": "path:/sms",
        "has": "has:warning",
        "app": "app:2xx",
    }
    return examples[name]


def _text_node(text: str, phrase: bool, pos: int) -> Text:
    if not _WORD_TOKEN.search(text):
        raise QueryError(
            f"{text!r} has no letters or digits to search for; use a /regex/ for punctuation", pos
        )
    return Text(text, phrase, pos)


# -- parser ------------------------------------------------------------------------------


class _Parser:
    def __init__(self, toks: list[_Tok], length: int) -> None:
        self.toks = toks
        self.i = 0
        self.length = length

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def parse(self) -> Node:
        node = self.parse_or()
        tok = self.peek()
        if tok is not None:
            raise QueryError("unexpected ')': no '(' opened it", tok.pos)
        return node

    def parse_or(self) -> Node:
        nodes = [self.parse_and()]
        while (tok := self.peek()) is not None and tok.kind == "or":
            self.take()
            nxt = self.peek()
            if nxt is None or nxt.kind in (")", "or", "and"):
                raise QueryError("OR needs a term on both sides", tok.pos)
            nodes.append(self.parse_and())
        return nodes[0] if len(nodes) == 1 else Or(tuple(nodes))

    def parse_and(self) -> Node:
        first = self.peek()
        if first is not None and first.kind in ("or", "and"):
            raise QueryError(f"{first.kind.upper()} needs a term on both sides", first.pos)
        nodes = [self.parse_unary()]
        while (tok := self.peek()) is not None and tok.kind not in (")", "or"):
            if tok.kind == "and":
                self.take()
                nxt = self.peek()
                if nxt is None or nxt.kind in (")", "or", "and"):
                    raise QueryError("AND needs a term on both sides", tok.pos)
            nodes.append(self.parse_unary())
        return nodes[0] if len(nodes) == 1 else And(tuple(nodes))

    def parse_unary(self) -> Node:
        tok = self.peek()
        if tok is None:
            raise QueryError("the filter ends where a term was expected", self.length)
        if tok.kind in ("-", "not"):
            self.take()
            if self.peek() is None:
                raise QueryError("NOT needs a term after it", tok.pos)
            return Not(self.parse_unary())
        if tok.kind == "(":
            self.take()
            nxt = self.peek()
            if nxt is None:
                raise QueryError("'(' is never closed", tok.pos)
            if nxt.kind == ")":
                raise QueryError("empty parentheses", tok.pos)
            node = self.parse_or()
            close = self.peek()
            if close is None or close.kind != ")":
                raise QueryError("'(' is never closed", tok.pos)
            self.take()
            return node
        if tok.kind == ")":
            raise QueryError("unexpected ')': no '(' opened it", tok.pos)
        if tok.kind in ("or", "and"):
            raise QueryError(f"{tok.kind.upper()} needs a term on both sides", tok.pos)
        self.take()
        assert tok.node is not None
        return tok.node


def parse(text: str) -> Node | None:
    """Parse a filter; ``None`` for an empty one (everything matches)."""
    toks = _tokenize(text)
    if not toks:
        return None
    return _Parser(toks, len(text)).parse()


# -- compiler ----------------------------------------------------------------------------

_PRODUCT_ALIASES: dict[str, str] = {
    **{p: p for p in PRODUCTS},
    **{label.lower(): p for p, label in PRODUCT_LABELS.items()},
    "interact": "vmn",
    "contact": "contacts",
    "wa": "whatsapp",
}
_CLASS_ALIASES: dict[str, str] = {
    **{c: c for c in STATUS_CLASSES},
    "opt-out": "opt_out",
    "optout": "opt_out",
    "failed": "failure",
    "fail": "failure",
    "ok": "success",
}
_ALL_EVENTS: tuple[str, ...] = tuple(e.name for e in EVENTS) + (UNSUBSCRIPTION,)


def _fts_string(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _prefix_bounds(prefix: str) -> tuple[str, str]:
    """``[lo, hi)`` so ``col >= lo AND col < hi`` is a prefix match an index can answer."""
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _events_matching(value: str) -> list[str]:
    """Events whose colon-separated parts contain ``value``'s parts, in order and adjacent."""
    want = value.lower().strip(":").split(":")
    out = []
    for name in _ALL_EVENTS:
        parts = name.split(":")
        for k in range(len(parts) - len(want) + 1):
            if parts[k : k + len(want)] == want:
                out.append(name)
                break
    return out


_APP_LAST = "SELECT request_id FROM app_last"


def _app_condition(value: str, pos: int) -> str:
    """``app:`` terms read each request's latest outcome at the user's app (``app_last``)."""
    v = value.lower()
    if v in ("none", "-"):
        return f"(id NOT IN ({_APP_LAST}))"
    if v in ("failed", "fail", "error"):
        return f"(id IN ({_APP_LAST} WHERE failed != 0))"
    if v in ("ok", "answered"):
        return f"(id IN ({_APP_LAST} WHERE failed = 0))"
    if len(v) == 3 and v[0] in "12345" and v[1:] == "xx":
        lo = int(v[0]) * 100
        return f"(id IN ({_APP_LAST} WHERE status >= {lo} AND status < {lo + 100}))"
    if v.isdigit() and len(v) == 3:
        return f"(id IN ({_APP_LAST} WHERE status = {int(v)}))"
    raise QueryError(
        f"app:{value} is not known (app:2xx, app:5xx, app:404, app:failed, app:none)", pos
    )


@dataclass(slots=True)
class _Compiler:
    params: list[object] = field(default_factory=list)
    uses_regexp: bool = False
    lookups: list[Lookup] = field(default_factory=list)
    #: Whether the node being compiled must hold for every matching row (it is the
    #: query or one of its top-level AND terms); only such a term can use a lookup
    #: table to find the rows: under OR or NOT every row is looked at anyway.
    required: bool = True

    def compile(self, node: Node) -> str:
        if isinstance(node, And):
            return "(" + " AND ".join(self.compile(n) for n in node.nodes) + ")"
        if isinstance(node, (Or, Not)):
            required, self.required = self.required, False
            try:
                if isinstance(node, Or):
                    return "(" + " OR ".join(self.compile(n) for n in node.nodes) + ")"
                return f"(NOT {self.compile(node.node)})"
            finally:
                self.required = required
        if isinstance(node, Text):
            expr = _fts_string(node.text) if node.phrase else _fts_string(node.text) + "*"
            self.params.extend((expr, node.text, int(node.phrase)))
            # The writer indexes body text a moment after it acknowledges a request;
            # rows past the index's reach are matched by the same rule in Python.
            return (
                "id IN (SELECT rowid FROM requests_fts WHERE requests_fts MATCH ?"
                f" UNION ALL SELECT id FROM request_data WHERE id > {INDEXED_UPTO}"
                " AND body_matches(body, ?, ?))"
            )
        if isinstance(node, Regex):
            self.uses_regexp = True
            self.params.append(("(?i)" if node.ignore_case else "") + node.pattern)
            return "id IN (SELECT id FROM request_data WHERE body REGEXP ?)"
        return self.field(node)

    def field(self, node: Field) -> str:
        name, value, pos = node.name, node.value, node.pos
        if name == "event":
            if value.lower() in ("none", "-"):
                return self.keyed("by_event", "event = ''")
            names = _events_matching(value)
            if not names:
                raise QueryError(
                    f"no event matches {value!r} (e.g. event:whatsapp:message:status, "
                    "event:sms, event:unsubscription)",
                    pos,
                )
            return self.keyed("by_event", f"event IN ({', '.join(map(_literal, names))})")
        if name == "product":
            product = _PRODUCT_ALIASES.get(value.lower())
            if product is None:
                raise QueryError(f"unknown product {value!r} (one of {', '.join(PRODUCTS)})", pos)
            self.params.append(product)
            return "(product = ?)"
        if name == "class":
            cls = _CLASS_ALIASES.get(value.lower())
            if cls is None:
                raise QueryError(
                    f"unknown status class {value!r} (one of {', '.join(STATUS_CLASSES)})", pos
                )
            return self.keyed("by_class", f"status_class = {_literal(cls)}")
        if name == "status":
            self.params.append(value)
            return "(status = ? COLLATE NOCASE)"
        if name == "method":
            self.params.append(value.upper())
            return "(method = ?)"
        if name == "app":
            return _app_condition(value, pos)
        if name == "has":
            cond = HAS_VALUES.get(value.lower())
            if cond is None:
                raise QueryError(
                    f"has:{value} is not known (has:warning, has:tunnel, has:event, has:body)", pos
                )
            return f"({cond})"
        column = {"from": "from_addr", "to": "to_addr", "id": "message_id", "path": "path"}[name]
        if value.startswith("*") and name != "path":
            needle = value.lstrip("*")
            if not needle:
                raise QueryError(f"{name}:* needs text after the *", pos)
            self.params.append(f"%{_like_escape(needle)}%")
            return f"({column} LIKE ? ESCAPE '\\')"
        lo, hi = _prefix_bounds(value)
        if column == "message_id":
            return self.keyed(
                "by_message", f"message_id >= {_literal(lo)} AND message_id < {_literal(hi)}"
            )
        self.params.extend((lo, hi))
        return f"({column} >= ? AND {column} < ?)"

    def keyed(self, table: str, condition: str) -> str:
        """A condition on a column that has a lookup table (see ``inspector.core.session.store``).

        It compiles to the plain condition, which is right for every row; when it is a
        required term it is also marked, so that :func:`bind` may swap in the lookup
        where that is cheaper.  ``condition`` names the column as both tables do and
        holds its values as literals, so both forms take the same parameters (none).
        """
        plain = f"({condition})"
        if not self.required:
            return plain
        marked = f"(/*lookup {len(self.lookups)}*/ {condition})"
        self.lookups.append(Lookup(marked, table, condition))
        return marked


class Lookup(NamedTuple):
    """A required term that a lookup table can answer: its marked text in the WHERE
    clause, the table, and the condition on the column both share."""

    marked: str
    table: str
    condition: str


@dataclass(frozen=True, slots=True)
class CompiledQuery:
    """A filter ready to run: WHERE clause text and its parameters, built once per keystroke."""

    text: str
    where: str
    params: tuple[object, ...]
    uses_regexp: bool
    lookups: tuple[Lookup, ...] = ()

    @property
    def is_empty(self) -> bool:
        return self.where == "1"


MATCH_ALL = CompiledQuery("", "1", (), False)


def compile_query(text: str) -> CompiledQuery:
    """Parse and compile; raises :class:`QueryError` saying where and what is wrong."""
    node = parse(text)
    if node is None:
        return MATCH_ALL
    comp = _Compiler()
    where = comp.compile(node)
    return CompiledQuery(text, where, tuple(comp.params), comp.uses_regexp, tuple(comp.lookups))


def _literal(value: str) -> str:
    """An SQL string literal (values of lookup conditions are inlined, see ``keyed``)."""
    if "\x00" in value:
        raise QueryError("a filter cannot contain a NUL character", 0)
    return "'" + value.replace("'", "''") + "'"


#: A lookup table is used for a term only when at most this share of the rows match:
#: collecting and fetching the rows it names costs about ten times as much per row
#: as checking a row's column during a scan.
LOOKUP_SHARE = 0.08
_LOOKUP_MIN_ROWS = 2000
_LOOKUP_CACHE_SECONDS = 2.0
_lookup_cache: dict[tuple[int, str], tuple[float, bool]] = {}


def _selective(conn: sqlite3.Connection, lookup: Lookup) -> bool:
    key = (id(conn), lookup.condition)
    now = time.monotonic()
    hit = _lookup_cache.get(key)
    if hit is not None and now - hit[0] < _LOOKUP_CACHE_SECONDS:
        return hit[1]
    rows = conn.execute("SELECT coalesce(max(id), 0) FROM requests").fetchone()[0]
    limit = max(_LOOKUP_MIN_ROWS, int(rows * LOOKUP_SHARE))
    # Counting stops at the limit, so asking costs at most that many index entries.
    found = conn.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM {lookup.table} WHERE {lookup.condition} LIMIT ?)",
        (limit,),
    ).fetchone()[0]
    selective = found < limit
    if len(_lookup_cache) > 256:
        _lookup_cache.clear()
    _lookup_cache[key] = (now, selective)
    return selective


def bind(conn: sqlite3.Connection, query: CompiledQuery) -> str:
    """The query's WHERE clause for this session: lookup tables for the required terms
    that match few rows (they then find them without a scan), plain conditions else."""
    where = query.where
    for lookup in query.lookups:
        if _selective(conn, lookup):
            ids = keyed_ids(lookup.table, lookup.condition)
            where = where.replace(lookup.marked, f"id IN ({ids})", 1)
    return where


# -- running ----------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _compiled_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _regexp(pattern: str, value: object) -> bool:
    if value is None:
        return False
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return _compiled_regex(pattern).search(text) is not None


def _tokens(text: str) -> list[str]:
    """Words as the full-text index's unicode61 tokenizer sees them (folded, no accents)."""
    folded = unicodedata.normalize("NFKD", text.lower())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return re.findall(r"[\w]+", folded)


def _body_matches(body: object, text: str, phrase: int) -> bool:
    """FTS5's rule for a quoted string, for bodies not indexed yet: the words of ``text``
    appear in a row, the last one as a prefix unless it is a phrase."""
    if not isinstance(body, bytes) or not body or len(body) > FTS_TEXT_LIMIT:
        return False
    try:
        words = _tokens(body.decode("utf-8"))
    except UnicodeDecodeError:
        return False
    want = _tokens(text)
    if not want:
        return False
    n = len(want)
    for i in range(len(words) - n + 1):
        if words[i : i + n - 1] == want[:-1]:
            last = words[i + n - 1]
            if last == want[-1] or (not phrase and last.startswith(want[-1])):
                return True
    return False


def register_functions(conn: sqlite3.Connection) -> None:
    """Give a connection the SQL functions filters need (once per connection)."""
    conn.create_function("regexp", 2, _regexp, deterministic=True)
    conn.create_function("body_matches", 3, _body_matches, deterministic=True)


def _order_by(sort_column: str, descending: bool) -> str:
    if sort_column not in SORTABLE:
        raise ValueError(f"cannot sort by {sort_column!r}")
    direction = "DESC" if descending else "ASC"
    if sort_column in ("id", "seq", "received_us"):
        return f"id {direction}"
    collate = " COLLATE NOCASE" if sort_column == "status" else ""
    return f"{sort_column}{collate} {direction}, id {direction}"


def count_matching(
    conn: sqlite3.Connection,
    query: CompiledQuery,
    max_id: int | None = None,
    *,
    min_id: int | None = None,
) -> int:
    """How many requests match (with ``min_id < id <= max_id`` where given)."""
    where, params = _bounded(conn, query, max_id, min_id)
    return int(conn.execute(f"SELECT count(*) FROM requests WHERE {where}", params).fetchone()[0])


def _bounded(
    conn: sqlite3.Connection,
    query: CompiledQuery,
    max_id: int | None,
    min_id: int | None = None,
) -> tuple[str, tuple[object, ...]]:
    where = bind(conn, query)
    params: tuple[object, ...] = query.params
    if max_id is not None:
        where = f"id <= ? AND {where}"
        params = (max_id, *params)
    if min_id is not None:
        where = f"id > ? AND {where}"
        params = (min_id, *params)
    return where, params


def fetch_ids(
    conn: sqlite3.Connection,
    query: CompiledQuery,
    *,
    sort_column: str = "id",
    descending: bool = False,
    offset: int = 0,
    limit: int = 256,
    max_id: int | None = None,
    min_id: int | None = None,
) -> list[int]:
    """One page of matching ids in the given order (ties broken by arrival)."""
    where, params = _bounded(conn, query, max_id, min_id)
    sql = (
        f"SELECT id FROM requests WHERE {where} "
        f"ORDER BY {_order_by(sort_column, descending)} LIMIT ? OFFSET ?"
    )
    return [r[0] for r in conn.execute(sql, (*params, limit, offset))]


def position_of(
    conn: sqlite3.Connection,
    query: CompiledQuery,
    request_id: int,
    *,
    sort_column: str = "id",
    descending: bool = False,
    max_id: int | None = None,
) -> int | None:
    """Row index of ``request_id`` in the filtered, sorted list; ``None`` if it does not match."""
    where, params = _bounded(conn, query, max_id)
    found = conn.execute(
        f"SELECT {_sort_expr(sort_column)} FROM requests WHERE id = ? AND {where}",
        (request_id, *params),
    ).fetchone()
    if found is None:
        return None
    op = ">" if descending else "<"
    if sort_column in ("id", "seq", "received_us"):
        before = f"id {op} ?"
        extra: tuple[object, ...] = (request_id,)
    else:
        col = _sort_expr(sort_column)
        before = f"({col} {op} ? OR ({col} = ? AND id {op} ?))"
        extra = (found[0], found[0], request_id)
    sql = f"SELECT count(*) FROM requests WHERE {where} AND {before}"
    return int(conn.execute(sql, (*params, *extra)).fetchone()[0])


def _sort_expr(sort_column: str) -> str:
    if sort_column not in SORTABLE:
        raise ValueError(f"cannot sort by {sort_column!r}")
    return "status COLLATE NOCASE" if sort_column == "status" else sort_column


_SELECT_SUMMARY = f"SELECT {', '.join(SUMMARY_COLUMNS)} FROM requests WHERE id IN "


def fetch_summaries(conn: sqlite3.Connection, ids: Iterable[int]) -> dict[int, RowSummary]:
    """Row summaries for the given ids (missing ids are simply absent)."""
    out: dict[int, RowSummary] = {}
    id_list = list(ids)
    for start in range(0, len(id_list), 500):
        chunk: Sequence[int] = id_list[start : start + 500]
        sql = _SELECT_SUMMARY + "(" + ",".join("?" for _ in chunk) + ")"
        for row in conn.execute(sql, tuple(chunk)):
            out[row[0]] = RowSummary.from_row(row)
    return out
