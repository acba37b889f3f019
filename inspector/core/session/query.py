"""The filter language: parsed once into an AST, compiled once into one SQL ``WHERE`` clause.

Filtering and sorting run inside SQLite (indexes on the decoded columns, FTS5 for
body words), so a keystroke over a million requests costs about what it costs over
a hundred, and the GUI never holds more than the page it shows.  The user-facing
reference is ``filter-language.md`` next to this module, shipped in the package
(:func:`filter_reference`; ``docs/filter-language.md`` is a copy kept equal by a test);
:data:`HELP` is the short form.

Nothing user-typed is ever pasted into SQL: values travel as parameters, and words
for the full-text index are quoted as FTS5 strings.
"""

from __future__ import annotations

import re
import sqlite3
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import NamedTuple

from inspector.core.provider.authenticity import overall as auth_overall
from inspector.core.provider.catalogue import (
    EVENTS,
    PRODUCT_LABELS,
    PRODUCTS,
    STATUS_CLASSES,
    UNSUBSCRIPTION,
)
from inspector.core.provider.decoder import DecodedEvent
from inspector.core.provider.status_table import SMS_STATUSES
from inspector.core.session.record import CapturedRequest
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
    "rule": "response rule that answered it: rule:NAME (rule:verification for the echoed challenge)",
    "auth": "authenticity checks: auth:ok, auth:failed, auth:missing, auth:none (nothing checked)",
    "is": "is:retry (a re-delivery of an earlier request), is:first",
    "app": "what your app answered a forward or replay: app:2xx, app:500, app:failed, app:none",
}

AUTH_VALUES: dict[str, str] = {
    "ok": "auth_result = 'ok'",
    "failed": "auth_result = 'failed'",
    "fail": "auth_result = 'failed'",
    "missing": "auth_result = 'missing'",
    "none": "auth_result = ''",
}

IS_VALUES: dict[str, str] = {
    "retry": "attempt > 1",
    "retried": "attempt > 1",
    "first": "attempt = 1",
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
    "auth": ("ok", "failed", "missing", "none"),
    "is": ("retry", "first"),
    "app": ("2xx", "3xx", "4xx", "5xx", "failed", "none"),
    "status": (
        "delivered",
        "read",
        "sent",
        "failed",
        "deleted",
        *(code for code in SMS_STATUSES if code != "FAILED"),
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
        "auth_result",
        "attempt",
    }
)

#: The reference file, next to this module (package data).
REFERENCE_FILE = "filter-language.md"

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
rule:NAME          answered by that response rule (rule:verification: the echoed challenge)
auth:X             auth:ok, auth:failed, auth:missing, auth:none (secret/signature checks)
is:retry           re-deliveries of an earlier request (is:first: first deliveries)
app:X              your app's answer: app:2xx, app:404, app:failed (error or 4xx/5xx), app:none (never sent)
-term, not term    negation
a b, a AND b       both;   a OR b, a | b  either;   ( ) groups
field:"a b"        quote values with spaces; quote a word to search it literally ("or")
"""


def filter_reference() -> str:
    """The filter language reference (Markdown), from the package itself: a pip user has
    no ``docs/`` folder, and the window's help shows this text."""
    package = resources.files("inspector.core.session")
    return package.joinpath(REFERENCE_FILE).read_text(encoding="utf-8")


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
        "rule": "rule:wa-status-fails-twice",
        "auth": "auth:failed",
        "is": "is:retry",
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
        if name == "rule":
            self.params.append(_answer_source(value))
            return "(answer_source = ?)"
        if name == "app":
            return _app_condition(value, pos)
        if name == "has":
            cond = HAS_VALUES.get(value.lower())
            if cond is None:
                raise QueryError(
                    f"has:{value} is not known (has:warning, has:tunnel, has:event, has:body)", pos
                )
            return f"({cond})"
        if name in ("auth", "is"):
            table = AUTH_VALUES if name == "auth" else IS_VALUES
            cond = table.get(value.lower())
            if cond is None:
                known = "auth:ok, auth:failed, auth:missing, auth:none" if name == "auth" else (
                    "is:retry, is:first"
                )
                raise QueryError(f"{name}:{value} is not known ({known})", pos)
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


def _answer_source(value: str) -> str:
    """What a ``rule:`` term matches in ``answer_source``: ``rule:verification`` is the
    echoed challenge, any other name a response rule of that name."""
    return "verification" if value == "verification" else f"rule:{value}"


# -- one decoded request, in Python ---------------------------------------------------------

#: A filter as a test of one request as it is being decoded (the writer's response rules):
#: the same language, parser and meaning as the SQL, without a session.
RowPredicate = Callable[[CapturedRequest, DecodedEvent], bool]

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _fold(text: str) -> str:
    """SQLite's NOCASE and LIKE fold ASCII letters only; so does this."""
    return text.translate(_ASCII_LOWER)


def compile_predicate(text: str) -> RowPredicate:
    """Parse and compile a filter into a Python test of one decoded request; raises
    :class:`QueryError` exactly where :func:`compile_query` would.

    It agrees with the SQL :func:`compile_query` builds (tests/core/test_query_predicate.py
    runs both over the catalogue), so a rule's ``match`` means what the filter bar shows.
    The test is generated as one Python expression (values bound as constants, never
    pasted into the code), so twenty rules cost the writer a few microseconds a request.
    """
    env: dict[str, object] = {}
    source = predicate_source(text, env)
    if source is None:
        return lambda req, dec: True
    return eval(f"lambda req, dec: {source}", env)  # noqa: S307 - our own code, constants bound


def predicate_source(text: str, env: dict[str, object]) -> str | None:
    """The Python expression :func:`compile_predicate` evaluates, over ``req`` and ``dec``,
    with its constants and helpers put into ``env`` (``None``: the empty filter, all match).
    For callers that generate one test from several filters (the writer's rules)."""
    compile_query(text)  # the same checks and messages as the filter bar (values, events...)
    node = parse(text)
    if node is None:
        return None
    env.update(
        _body_matches=_body_matches, _regexp=_regexp, _fold=_fold, _auth_overall=auth_overall
    )
    return _predicate_source(node, env)


def _const(consts: dict[str, object], value: object) -> str:
    name = f"_k{len(consts)}"
    while name in consts:
        name += "_"
    consts[name] = value
    return name


_ATTRS = {"from": "dec.from_", "to": "dec.to", "id": "dec.message_id", "path": "req.path"}
#: Fields a decoded request does not have yet when its answer is chosen.
_AFTER_THE_ANSWER = {
    "is": "is: is known only once the request is recorded, after its answer is chosen; "
    "a rule cannot match on it",
    "app": "app: is what your app answered later; a rule cannot match on it",
}
_HAS_SOURCE = {
    "warning": "bool(dec.warnings or req.capture_warnings)",
    "warnings": "bool(dec.warnings or req.capture_warnings)",
    "tunnel": "bool(req.via_tunnel)",
    "event": "(dec.event != '')",
    "body": "(len(req.body) > 0)",
}


def _predicate_source(node: Node, consts: dict[str, object]) -> str:
    """A Python expression over ``req`` (CapturedRequest) and ``dec`` (DecodedEvent)."""
    if isinstance(node, And):
        return "(" + " and ".join(_predicate_source(n, consts) for n in node.nodes) + ")"
    if isinstance(node, Or):
        return "(" + " or ".join(_predicate_source(n, consts) for n in node.nodes) + ")"
    if isinstance(node, Not):
        return f"(not {_predicate_source(node.node, consts)})"
    if isinstance(node, Text):
        k = _const(consts, node.text)
        return f"_body_matches(req.body, {k}, {int(node.phrase)})"
    if isinstance(node, Regex):
        k = _const(consts, ("(?i)" if node.ignore_case else "") + node.pattern)
        return f"_regexp({k}, req.body)"
    name, value = node.name, node.value
    if name == "event":
        if value.lower() in ("none", "-"):
            return "(dec.event == '')"
        return f"(dec.event in {_const(consts, frozenset(_events_matching(value)))})"
    if name == "product":
        return f"(dec.product == {_const(consts, _PRODUCT_ALIASES[value.lower()])})"
    if name == "class":
        return f"(dec.status_class == {_const(consts, _CLASS_ALIASES[value.lower()])})"
    if name == "status":
        # Folding keeps the length: comparing it first skips most folds.
        return f"(len(dec.status) == {len(value)} and _fold(dec.status) == {_const(consts, _fold(value))})"
    if name == "method":
        return f"(req.method == {_const(consts, value.upper())})"
    if name == "rule":
        return f"(req.answer_source == {_const(consts, _answer_source(value))})"
    if name == "has":
        return _HAS_SOURCE[value.lower()]
    if name == "auth":
        # The checks run before the answer is chosen: their verdict, as the row will store it.
        verdict = AUTH_VALUES[value.lower()].split("=", 1)[1].strip().strip("'")
        return f"(_auth_overall(dec.auth) == {_const(consts, verdict)})"
    if name in _AFTER_THE_ANSWER:
        raise QueryError(_AFTER_THE_ANSWER[name], node.pos)
    attr = _ATTRS[name]
    if value.startswith("*") and name != "path":
        needle = _fold(value.lstrip("*"))
        if needle == needle.upper():  # no ASCII letters: folding the text changes nothing
            return f"({_const(consts, needle)} in {attr})"
        return f"({_const(consts, needle)} in _fold({attr}))"
    return f"{attr}.startswith({_const(consts, value)})"


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


@lru_cache(maxsize=256)
def _wanted(text: str) -> tuple[tuple[str, ...], tuple[bytes, ...]]:
    """The words of a search, and the same as bytes when all are ASCII (for a pre-check)."""
    want = tuple(_tokens(text))
    ascii_words = tuple(w.encode() for w in want) if all(w.isascii() for w in want) else ()
    return want, ascii_words


def _body_matches(body: object, text: str, phrase: int) -> bool:
    """FTS5's rule for a quoted string, for bodies not indexed yet: the words of ``text``
    appear in a row, the last one as a prefix unless it is a phrase."""
    if not isinstance(body, bytes) or not body or len(body) > FTS_TEXT_LIMIT:
        return False
    want_t, ascii_words = _wanted(text)
    if not want_t:
        return False
    if ascii_words and body.isascii():
        # An ASCII body's words are its lower-cased letters and digits: a word that is not
        # even a substring cannot be one of them (most bodies are ruled out here, cheaply).
        low = body.lower()
        if any(w not in low for w in ascii_words):
            return False
    try:
        words = _tokens(body.decode("utf-8"))
    except UnicodeDecodeError:
        return False
    want = list(want_t)
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
