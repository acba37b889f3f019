"""Composed webhooks: a delivery report in the user's own shape, decoded by their template.

In the provider's console a user can compose a webhook: GET, POST or PUT, their own key
names, placeholders such as ``@{{id}}`` in the URL or the body. Such a request has no shape
the decoder can recognise by itself, but the user has the template; given it, a request to
the template's path is read back into the standard SMS delivery report's fields.

The template text is what the console shows, as literally as possible (see the README):

    POST https://example.com/dlr?ref=@{{id}}
    {"phone": "@{{mobile}}", "state": "@{{status}}", "units": @{{units}}}

first line the method and the URL, then the body (JSON, or form fields ``a=@{{x}}&b=...``),
several templates separated by a line ``---``; ``#`` lines are comments.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from inspector.core.provider.decoder import DecodedEvent, decode_content, header_value
from inspector.core.provider.lenient_json import parse_lenient
from inspector.core.provider.status_table import sms_status

#: The console's variables for an SMS delivery report (delivery.md, section 6).
VARIABLES = (
    "id",
    "mobile",
    "status",
    "credits",
    "units",
    "deliv_time",
    "sent_time",
    "submit_time",
    "deliv_at",
    "sent_at",
    "submit_at",
    "custom",
)
_PLACEHOLDER = re.compile(r"@\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
#: A placeholder standing for a JSON value without quotes (``"units": @{{units}}``).
_BARE = re.compile(r'(?<!["\w])(@\{\{\s*[A-Za-z_][A-Za-z0-9_]*\s*\}\})(?!["\w])')
METHODS = ("GET", "POST", "PUT")


@dataclass(frozen=True, slots=True)
class _Slot:
    """Where one or more variables sit: a value pattern and the variables it captures."""

    pattern: re.Pattern[str]
    variables: tuple[str, ...]


def _slot(text: str) -> _Slot | None:
    names = tuple(m.group(1) for m in _PLACEHOLDER.finditer(text))
    if not names:
        return None
    parts: list[str] = []
    last = 0
    for m in _PLACEHOLDER.finditer(text):
        parts.append(re.escape(text[last : m.start()]))
        parts.append("(.*?)")
        last = m.end()
    parts.append(re.escape(text[last:]))
    return _Slot(re.compile("".join(parts), re.S), names)


def _json_slots(
    value: Any, path: tuple[Any, ...], out: list[tuple[tuple[Any, ...], _Slot]]
) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _json_slots(v, (*path, k), out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _json_slots(v, (*path, i), out)
    elif isinstance(value, str):
        slot = _slot(value)
        if slot is not None:
            out.append((path, slot))


class TemplateError(ValueError):
    """A template the user gave that cannot be used; the message says why."""


@dataclass(frozen=True)
class ComposedTemplate:
    """One composed webhook: where it arrives and where its variables sit."""

    method: str
    path: str
    query_slots: tuple[tuple[str, _Slot], ...]
    body_kind: str  # "", "json" or "form"
    form_slots: tuple[tuple[str, _Slot], ...]
    json_slots: tuple[tuple[tuple[Any, ...], _Slot], ...]
    text: str

    @property
    def variables(self) -> tuple[str, ...]:
        slots = [s for _, s in self.query_slots + self.form_slots] + [s for _, s in self.json_slots]
        return tuple(dict.fromkeys(v for s in slots for v in s.variables))

    def matches(self, method: str, path: str) -> bool:
        return method.upper() == self.method and path.rstrip("/") == self.path.rstrip("/")

    def extract(
        self, query: str, headers: Sequence[tuple[str, str]], body: bytes
    ) -> tuple[dict[str, str], list[str]]:
        """The variables' values in a request, and warnings for the ones not found."""
        values: dict[str, str] = {}
        missing: list[str] = []
        params = dict(parse_qsl(query, keep_blank_values=True))
        self._from_pairs(self.query_slots, params, values, missing, "query")
        if self.body_kind:
            content, _ = decode_content(body, header_value(headers, "Content-Encoding"))
            try:
                text = content.decode("utf-8")
            except UnicodeDecodeError:
                return values, ["composed template: body is not UTF-8 text"]
            if self.body_kind == "form":
                pairs = dict(parse_qsl(text.strip(), keep_blank_values=True))
                self._from_pairs(self.form_slots, pairs, values, missing, "body")
            else:
                parsed = parse_lenient(text)
                if not parsed.ok:
                    return values, ["composed template: body is not the JSON the template has"]
                for path, slot in self.json_slots:
                    found = _walk(parsed.value, path)
                    where = ".".join(str(p) for p in path)
                    if found is None:
                        missing.append(f"{where} (for {', '.join(slot.variables)})")
                        continue
                    _fill(slot, found if isinstance(found, str) else _scalar(found), values)
        warnings = [f"composed template: request lacks {', '.join(missing)}"] if missing else []
        return values, warnings

    @staticmethod
    def _from_pairs(
        slots: Iterable[tuple[str, _Slot]],
        pairs: Mapping[str, str],
        values: dict[str, str],
        missing: list[str],
        where: str,
    ) -> None:
        for key, slot in slots:
            if key not in pairs:
                missing.append(f"{where} field {key!r}")
                continue
            _fill(slot, pairs[key], values)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode()
    return str(value)


def _fill(slot: _Slot, text: str, values: dict[str, str]) -> None:
    m = slot.pattern.fullmatch(text)
    if m is None:
        return
    for name, value in zip(slot.variables, m.groups(), strict=True):
        values.setdefault(name, value)


def _walk(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        if isinstance(step, int):
            if not isinstance(value, list) or step >= len(value):
                return None
        elif not isinstance(value, dict) or step not in value:
            return None
        value = value[step]
    return value


def parse_template(text: str) -> ComposedTemplate:
    """One template from its text (first line method and URL, the rest its body)."""
    lines = [ln for ln in text.strip().splitlines() if not ln.lstrip().startswith("#")]
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        raise TemplateError("composed template is empty: give the method and the URL")
    head = lines[0].split()
    body = "\n".join(lines[1:]).strip()
    if len(head) == 1:
        method, url = ("POST" if body else "GET"), head[0]
    elif len(head) == 2:
        method, url = head[0].upper(), head[1]
    else:
        raise TemplateError(f"composed template's first line is 'METHOD URL', not {lines[0]!r}")
    if method not in METHODS:
        raise TemplateError(f"composed template method {method!r} is not GET, POST or PUT")
    parts = urlsplit(url if "//" in url or url.startswith("/") else "/" + url)
    path = parts.path or "/"
    if _PLACEHOLDER.search(path):
        raise TemplateError("composed template: placeholders in the URL path are not supported")
    query_slots = tuple(
        (k, s) for k, v in parse_qsl(parts.query, keep_blank_values=True) if (s := _slot(v))
    )
    body_kind = ""
    form_slots: tuple[tuple[str, _Slot], ...] = ()
    json_slots: list[tuple[tuple[Any, ...], _Slot]] = []
    if body:
        if body[0] in "{[":
            body_kind = "json"
            parsed = parse_lenient(_BARE.sub(r'"\1"', body))
            if not parsed.ok:
                raise TemplateError("composed template's body starts like JSON but does not parse")
            _json_slots(parsed.value, (), json_slots)
        else:
            body_kind = "form"
            form_slots = tuple(
                (k, s) for k, v in parse_qsl(body, keep_blank_values=True) if (s := _slot(v))
            )
    template = ComposedTemplate(
        method, path, query_slots, body_kind, form_slots, tuple(json_slots), text.strip()
    )
    unknown = [v for v in template.variables if v not in VARIABLES]
    if unknown:
        raise TemplateError(
            f"composed template uses unknown variable(s) {', '.join(unknown)} "
            f"(the provider's are {', '.join(VARIABLES)})"
        )
    if not template.variables:
        raise TemplateError("composed template has no @{{variable}} placeholders")
    return template


def parse_templates(text: str) -> list[ComposedTemplate]:
    """Every template of a compose file (templates separated by a line ``---``)."""
    chunks = re.split(r"(?m)^\s*---\s*$", text)
    templates = [parse_template(c) for c in chunks if _meaningful(c)]
    if not templates:
        raise TemplateError("no composed template found")
    return templates


def _meaningful(chunk: str) -> bool:
    return any(ln.strip() and not ln.lstrip().startswith("#") for ln in chunk.splitlines())


def decode_composed(
    template: ComposedTemplate, query: str, headers: Sequence[tuple[str, str]], body: bytes
) -> DecodedEvent:
    """The request read by its template, as the SMS delivery report it stands for."""
    values, warnings = template.extract(query, headers, body)
    out = DecodedEvent(event="sms:message:status", product="sms", warnings=warnings)
    out.message_id = values.get("id", "")
    out.to = values.get("mobile", "")
    out.status = values.get("status", "")
    info = sms_status(out.status) if out.status else None
    if info is not None:
        out.status_class = info.status_class
    elif out.status:
        out.warnings.append(f"SMS status {out.status!r} is not a known delivery report code")
    out.summary = "composed webhook"
    return out


def composed_fields(
    template: ComposedTemplate, query: str, headers: Sequence[tuple[str, str]], body: bytes
) -> dict[str, str]:
    """The standard DLR fields a composed request carries (for the Event card)."""
    return template.extract(query, headers, body)[0]


def find_template(
    templates: Sequence[ComposedTemplate], method: str, path: str
) -> ComposedTemplate | None:
    for template in templates:
        if template.matches(method, path):
            return template
    return None
