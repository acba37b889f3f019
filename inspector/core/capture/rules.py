"""Response rules: answer like the user's app would, to see how the provider reacts.

An ordered list of rules, first match wins. A rule matches on method, URL path (a glob)
and/or an expression of the filter language evaluated on the *decoded* request, which
is why rules run in the writer, after decoding and before the commit (see
:mod:`.answers`): the answer is chosen, written into the row and given only once the row
is on disk. A rule answers with a status (or a sequence of them whose last step repeats),
headers, a body, a delay, or no response at all (``hold`` the connection until the
client gives up, or ``close`` it); ``times = N`` limits it to the next N matches.

Rules are plain data (:class:`Rule`, ``to_settings``) so they cross into the writer
process; :func:`load_rules` reads the TOML file of ``capture --rules`` and refuses a
mistake with ``FILE:LINE: what is wrong``, the filter language's own message for a bad
expression. Hit counts live in the writer's policy (it decides); the parent counts the
answers it gets back, shows them, and hands them to a new writer after a restart, so a
sequence never starts over silently.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from inspector.core.capture.answers import (
    BUILDERS,
    CLOSE,
    HOLD,
    RESPOND,
    Answer,
    AnswerPolicy,
    find_handshake,
)
from inspector.core.provider.catalogue import EVENTS_BY_NAME, PRODUCTS
from inspector.core.provider.decoder import DecodedEvent, product_hint
from inspector.core.session.query import (
    And,
    Field,
    QueryError,
    _events_matching,
    compile_predicate,
    parse,
    predicate_source,
)
from inspector.core.session.record import CapturedRequest

#: The longest delay a rule may ask for (seconds); peers stop at 10-30 s.
MAX_DELAY = 120.0
#: Steps of ``respond`` that are not a status.
NO_RESPONSE = (HOLD, CLOSE)
#: The keys a rule may have, each with what it means (the TOML file and the window).
RULE_KEYS: dict[str, str] = {
    "name": "the rule's name, shown with its hit count and filterable as rule:NAME",
    "enabled": "true (default) or false",
    "match": "filter-language expression on the decoded request, e.g. event:whatsapp:message:status",
    "path": "URL path glob, e.g. /whatsapp/*",
    "method": "HTTP method, e.g. POST",
    "respond": 'a status, "hold", "close", or a sequence such as [500, 500, 200] (the last repeats)',
    "times": "answer only the next N matching requests, then let them through",
    "delay": 'wait before answering: "4s", "500ms" or seconds (at most 120 s)',
    "body": "response body text",
    "body_file": "file whose bytes are the response body (relative to the rules file)",
    "headers": 'response headers, e.g. { "Retry-After" = "10" }',
    "verification": "true: this rule also answers the provider's URL verification handshake",
}

_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
_METHOD = re.compile(r"^[A-Z]+$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|)\s*$", re.IGNORECASE)


class RuleError(ValueError):
    """A rule that cannot be used: which key is wrong (``""`` for the rule as a whole) and why."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key
        self.message = message


class RulesFileError(ValueError):
    """A rules file refused at start; the message is ``FILE:LINE: what is wrong``."""


Step = int | str


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule as the user wrote it (checked by :func:`check_rule`)."""

    name: str
    respond: tuple[Step, ...] = (200,)
    match: str = ""
    path: str = ""
    method: str = ""
    delay: float = 0.0
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()
    times: int | None = None
    enabled: bool = True
    verification: bool = False
    #: Where the body came from, when it was a file (shown back to the user, not sent).
    body_file: str = ""

    def to_settings(self) -> dict[str, Any]:
        """Plain data for the writer process (and the window's saved rules)."""
        return {
            "name": self.name,
            "respond": list(self.respond),
            "match": self.match,
            "path": self.path,
            "method": self.method,
            "delay": self.delay,
            "body": self.body,
            "headers": [list(h) for h in self.headers],
            "times": self.times,
            "enabled": self.enabled,
            "verification": self.verification,
            "body_file": self.body_file,
        }

    @classmethod
    def from_settings(cls, data: Mapping[str, Any]) -> Rule:
        """A rule from :meth:`to_settings` data; raises :class:`RuleError` if it is wrong."""
        return check_rule(dict(data), _already_parsed=True)


def parse_delay(value: object) -> float:
    """``"4s"``, ``"500ms"``, ``"1.5"`` or a number of seconds; at most :data:`MAX_DELAY`."""
    if isinstance(value, bool):
        raise RuleError("delay", f'must be a duration such as "4s" or "500ms", not {value!r}')
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        m = _DELAY.match(value)
        if m is None:
            raise RuleError(
                "delay", f'{value!r} is not a duration: write it as "4s", "500ms" or "1.5s"'
            )
        seconds = float(m.group(1)) / (1000 if m.group(2).lower() == "ms" else 1)
    else:
        raise RuleError("delay", f'must be a duration such as "4s" or "500ms", not {value!r}')
    if seconds < 0:
        raise RuleError("delay", "cannot be negative")
    if seconds > MAX_DELAY:
        raise RuleError("delay", f"{seconds:g} s is over the {MAX_DELAY:g} s limit")
    return seconds


def format_delay(seconds: float) -> str:
    """The way a user writes it: ``"4s"``, ``"500ms"``."""
    if seconds and seconds < 1 or seconds != int(seconds):
        return f"{round(seconds * 1000)}ms"
    return f"{int(seconds)}s"


def _steps(value: object) -> tuple[Step, ...]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise RuleError("respond", "the sequence is empty: give at least one status")
    out: list[Step] = []
    for item in items:
        if isinstance(item, bool):
            raise RuleError("respond", f"{item!r} is not a status")
        if isinstance(item, int):
            if not 100 <= item <= 599:
                raise RuleError("respond", f"status {item} is outside 100-599")
            out.append(item)
        elif isinstance(item, str) and item.strip().lower() in NO_RESPONSE:
            out.append(item.strip().lower())
        elif isinstance(item, str) and item.strip().isdigit():
            out.append(_steps(int(item.strip()))[0])
        else:
            raise RuleError("respond", f'{item!r} is not a status (100-599), "hold" or "close"')
    return tuple(out)


def _headers(value: object) -> tuple[tuple[str, str], ...]:
    if isinstance(value, Mapping):
        pairs = list(value.items())
    elif isinstance(value, list) and all(
        isinstance(p, (list, tuple)) and len(p) == 2 for p in value
    ):
        pairs = [(p[0], p[1]) for p in value]
    else:
        raise RuleError("headers", 'must be a table such as { "Retry-After" = "10" }')
    out = []
    for k, v in pairs:
        if not isinstance(k, str) or not _HEADER_NAME.match(k):
            raise RuleError("headers", f"{k!r} is not a valid header name")
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            raise RuleError("headers", f"the value of {k} must be text")
        text = str(v)
        if "\r" in text or "\n" in text:
            raise RuleError("headers", f"the value of {k} cannot contain a line break")
        out.append((k, text))
    return tuple(out)


def check_rule(
    data: dict[str, Any], *, base: Path | None = None, _already_parsed: bool = False
) -> Rule:
    """Check one rule's settings and build it; raises :class:`RuleError` naming the key.

    ``base``: the folder a ``body_file`` is relative to (the rules file's).
    """
    unknown = [k for k in data if k not in RULE_KEYS]
    if unknown:
        raise RuleError(unknown[0], f"unknown key (a rule has: {', '.join(RULE_KEYS)})")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise RuleError("name", 'every rule needs a name, e.g. name = "wa-fails-twice"')
    if not _NAME.match(name):
        raise RuleError("name", f"{name!r}: use letters, digits, '-', '_' or '.' (no spaces)")
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        raise RuleError("enabled", "must be true or false")
    match = data.get("match", "") or ""
    if not isinstance(match, str):
        raise RuleError("match", "must be a filter expression in quotes")
    if match.strip():
        try:
            compile_predicate(match)
        except QueryError as exc:
            raise RuleError("match", str(exc)) from None
    path = data.get("path", "") or ""
    if not isinstance(path, str) or (path and not path.startswith(("/", "*"))):
        raise RuleError("path", f"{path!r} is not a URL path glob such as /whatsapp/*")
    method = data.get("method", "") or ""
    if not isinstance(method, str) or (method and not _METHOD.match(method.upper())):
        raise RuleError("method", f"{method!r} is not an HTTP method such as POST")
    respond = _steps(data["respond"]) if "respond" in data else (200,)
    times = data.get("times")
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
        raise RuleError("times", f"must be a whole number of at least 1, not {times!r}")
    delay = parse_delay(data["delay"]) if "delay" in data else 0.0
    body: bytes | None = None
    body_file = ""
    if "body" in data and data["body"] is not None:
        raw = data["body"]
        if _already_parsed and isinstance(raw, bytes):
            body = raw
        elif isinstance(raw, str):
            body = raw.encode("utf-8")
        else:
            raise RuleError("body", "must be text in quotes (or use body_file for a file)")
    if data.get("body_file"):
        if body is not None and not _already_parsed:
            raise RuleError("body_file", "give either body or body_file, not both")
        body_file = data["body_file"]
        if not isinstance(body_file, str):
            raise RuleError("body_file", "must be a file name in quotes")
        if body is None or not _already_parsed:
            file = Path(body_file).expanduser()
            if base is not None and not file.is_absolute():
                file = base / file
            try:
                body = file.read_bytes()
            except OSError as exc:
                raise RuleError("body_file", f"cannot read {file}: {exc.strerror or exc}") from None
    headers = _headers(data["headers"]) if data.get("headers") else ()
    verification = data.get("verification", False)
    if not isinstance(verification, bool):
        raise RuleError("verification", "must be true or false")
    return Rule(
        name=name,
        respond=respond,
        match=match,
        path=path,
        method=method.upper(),
        delay=delay,
        body=body,
        headers=headers,
        times=times,
        enabled=enabled,
        verification=verification,
        body_file=body_file,
    )


def check_unique(rules: Sequence[Rule]) -> None:
    seen: set[str] = set()
    for rule in rules:
        if rule.name in seen:
            raise RuleError("name", f"two rules are named {rule.name!r}; names must differ")
        seen.add(rule.name)


# -- the TOML file ------------------------------------------------------------------------

_RULE_HEADER = re.compile(r"^\s*\[\[\s*rule\s*\]\]")
_TABLE_HEADER = re.compile(r"^\s*\[")
_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")


def _rule_lines(text: str) -> list[tuple[int, int]]:
    """For each ``[[rule]]``, its first and last line (1-based), to point errors at a line."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if _RULE_HEADER.match(line)]
    spans = []
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        for j in range(start + 1, end):
            if _TABLE_HEADER.match(lines[j]):
                end = j
                break
        spans.append((start + 1, end))
    return spans


def _key_line(text: str, span: tuple[int, int], key: str) -> int:
    lines = text.splitlines()
    pattern = re.compile(rf'^\s*("{re.escape(key)}"|{re.escape(key)})\s*=')
    for i in range(span[0], span[1]):
        if pattern.match(lines[i]):
            return i + 1
    return span[0]


def load_rules(path: str | Path) -> list[Rule]:
    """Read a rules file; raises :class:`RulesFileError` (``FILE:LINE: what is wrong``)."""
    file = Path(path).expanduser()
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise RulesFileError(f"{file}: cannot read the rules file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise RulesFileError(f"{file}:{line}: not UTF-8 text") from None
    return parse_rules(text, str(file), base=file.parent)


def parse_rules(text: str, filename: str = "<rules>", *, base: Path | None = None) -> list[Rule]:
    """Rules from TOML text; errors name ``filename`` and the line."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        m = _TOML_POSITION.search(message)
        if m:
            line = m.group(1)
        else:  # "(at end of document)"
            line = str(max(1, len(text.splitlines())))
        what = _TOML_POSITION.sub("", message).strip().rstrip(".")
        raise RulesFileError(f"{filename}:{line}: not valid TOML: {what}") from None
    extra = [k for k in doc if k != "rule"]
    if extra:
        line = next(
            (i + 1 for i, ln in enumerate(text.splitlines())
             if re.match(rf"^\s*\[?\s*\"?{re.escape(extra[0])}\b", ln)),
            1,
        )  # fmt: skip
        raise RulesFileError(
            f"{filename}:{line}: unknown key {extra[0]!r}: a rules file holds [[rule]] tables only"
        )
    tables = doc.get("rule", [])
    if not isinstance(tables, list):
        raise RulesFileError(f"{filename}:1: write each rule as a [[rule]] table")
    spans = _rule_lines(text)
    rules: list[Rule] = []
    for n, table in enumerate(tables):
        span = spans[n] if n < len(spans) else (1, 1)
        try:
            rule = check_rule(table, base=base)
            check_unique([*rules, rule])
        except RuleError as exc:
            line = _key_line(text, span, exc.key) if exc.key else span[0]
            raise RulesFileError(f"{filename}:{line}: {exc}") from None
        rules.append(rule)
    return rules


# -- what the provider makes of an answer (delivery.md section 3) -----------------------------

_COUNTS_200_202 = frozenset({"sms", "voice"})
_TIMES_OUT = frozenset({"whatsapp", "rcs", "viber"})


def products_matched(rule: Rule) -> frozenset[str] | None:
    """The products a rule can answer for, from its ``match`` and ``path``; ``None``: any."""
    found: set[str] = set()
    try:
        node = parse(rule.match) if rule.match.strip() else None
    except QueryError:
        node = None
    terms = node.nodes if isinstance(node, And) else (node,) if node is not None else ()
    for term in terms:  # only terms every match must meet narrow it down
        if isinstance(term, Field) and term.name == "product" and term.value.lower() in PRODUCTS:
            found = {term.value.lower()} if not found else found & {term.value.lower()}
        elif isinstance(term, Field) and term.name == "event":
            names = {
                EVENTS_BY_NAME[n].product
                for n in _events_matching(term.value)
                if n in EVENTS_BY_NAME
            }
            if names:
                found = names if not found else found & names
    hint, _ = product_hint(rule.path) if rule.path else ("", [])
    if hint:
        found = {hint} if not found else found & {hint}
    return frozenset(found) if found else None


def provider_warnings(rule: Rule) -> list[str]:
    """What the provider will make of this rule's answers, where it differs from what a
    developer expects (delivery.md section 3)."""
    products = products_matched(rule)
    out = []

    def may(group: frozenset[str]) -> bool:
        return products is None or bool(products & group)

    odd = sorted({s for s in rule.respond if isinstance(s, int) and 200 <= s < 300} - {200, 202})
    if odd and may(_COUNTS_200_202):
        shown = ", ".join(map(str, odd))
        out.append(
            "SMS delivery reports: the provider counts only 200 and 202 as delivered "
            f"({shown} is a failure there, and it retries 3 times, 30 minutes apart)"
        )
    slow = rule.delay > 3 or HOLD in rule.respond
    if slow and may(_TIMES_OUT):
        out.append(
            "over 3 s: WhatsApp retries in 10 s (the provider gives up after 3 s, then tries "
            "twice more, after 10 s and 100 s)"
        )
    return out


def rules_config(rules: Sequence[Rule]) -> dict[str, Any]:
    """The ``"rules"`` entry of an answer configuration (see :mod:`.answers`)."""
    return {"rules": [r.to_settings() for r in rules]}


# -- the policy, in the writer ----------------------------------------------------------------


#: The generated chain: the index of the first rule at or after ``start`` whose method, path
#: and expression match, or -1.
_FirstMatch = Callable[[CapturedRequest, DecodedEvent, int], int]


def _glob_source(pattern: str, env: dict[str, object], n: int) -> str:
    """A path glob as Python: a prefix test when it is ``/prefix*`` (the usual case)."""
    head = pattern[:-1]
    if pattern.endswith("*") and not any(c in head for c in "*?["):
        env[f"_g{n}"] = head
        return f"req.path.startswith(_g{n})"
    env[f"_g{n}"] = re.compile(fnmatch.translate(pattern)).match
    return f"_g{n}(req.path) is not None"


def compile_chain(rules: Sequence[Rule]) -> _FirstMatch:
    """One generated function testing every rule's conditions in order: the writer runs it
    on every request, so a rule costs an inline test, not a call per condition (20 rules
    that match nothing cost about a microsecond)."""
    env: dict[str, object] = {}
    lines = ["def _first(req, dec, start):"]
    for n, rule in enumerate(rules):
        parts = [f"start <= {n}"]
        if rule.method:
            env[f"_m{n}"] = rule.method
            parts.append(f"req.method == _m{n}")
        if rule.path:
            parts.append(_glob_source(rule.path, env, n))
        if rule.match.strip():
            source = predicate_source(rule.match, env)
            if source is not None:
                parts.append(source)
        lines.append(f"    if {' and '.join(parts)}:")
        lines.append(f"        return {n}")
    lines.append("    return -1")
    exec("\n".join(lines), env)  # noqa: S102 - our own code; values are bound constants
    first: _FirstMatch = env["_first"]  # type: ignore[assignment]
    return first


def _content_type(body: bytes) -> str:
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError:
        return "text/plain; charset=utf-8"
    return "application/json"


def answers_of(rule: Rule) -> tuple[Answer, ...]:
    """The answer of each step of ``rule``'s sequence, built once."""
    headers = list(rule.headers)
    body = rule.body or b""
    if body and not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", _content_type(body)))
    source = f"rule:{rule.name}"
    out = []
    for step in rule.respond:
        if isinstance(step, int):
            out.append(Answer(step, headers, body, rule.delay, source, RESPOND))
        else:
            out.append(Answer(0, [], b"", rule.delay, source, step))
    return tuple(out)


class RulesAnswer:
    """The rules in order, first match wins; counts hits per rule name."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self._rules = [r for r in rules if r.enabled]
        self._answers = [answers_of(r) for r in self._rules]
        self._first = compile_chain(self._rules)
        self._hits: dict[str, int] = {}

    def counts(self) -> dict[str, int]:
        return dict(self._hits)

    def set_counts(self, counts: Mapping[str, int]) -> None:
        self._hits = {k: int(v) for k, v in counts.items()}

    def decide(self, request: CapturedRequest, decoded: DecodedEvent) -> Answer | None:
        handshake: bool | None = None
        hits = self._hits
        i = self._first(request, decoded, 0)
        while i >= 0:
            rule = self._rules[i]
            n = hits.get(rule.name, 0)
            if rule.times is None or n < rule.times:
                if not rule.verification and handshake is None:
                    handshake = request.method == "POST" and (
                        find_handshake(request.query, request.body) is not None
                    )
                # The challenge is echoed unless a rule says verification = true.
                if rule.verification or not handshake:
                    hits[rule.name] = n + 1
                    answers = self._answers[i]
                    return answers[min(n, len(answers) - 1)]
            i = self._first(request, decoded, i + 1)
        return None


def _rules_policy(settings: Any) -> AnswerPolicy | None:
    if not isinstance(settings, Mapping):
        raise ValueError("rules settings must be a table with a 'rules' list")
    rules = [Rule.from_settings(d) for d in settings.get("rules", [])]
    check_unique(rules)
    return RulesAnswer(rules) if rules else None


BUILDERS["rules"] = _rules_policy
