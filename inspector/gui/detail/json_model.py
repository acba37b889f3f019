"""A lazy tree model over a parsed JSON value.

Building every item up front is what made a 4.5 MB body take 3.5 s to open, so items
are made only when a view asks for them: a container reports children through
``hasChildren`` and hands them out ``CHUNK`` at a time through ``canFetchMore`` /
``fetchMore``.  Every node keeps its parent and its row, so ``parent()`` is O(1) and
nothing ever walks the tree recursively (a deep document cannot overflow the stack).

The model shows one top-level row, ``$``, for the whole document, so a body that is
a bare string or number still has a row, and JSON paths start where they should.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)

from inspector.gui.columns import column_title
from inspector.gui.plain_text import cell_text, plain_tooltip

#: Children materialised per fetchMore: enough to fill a screen, few enough to stay instant.
CHUNK = 500
#: Characters of a string shown in the value column (the copy action gives the whole value).
DISPLAY_CHARS = 300
TOOLTIP_CHARS = 2000

PATH_ROLE = Qt.ItemDataRole.UserRole + 1
TYPE_ROLE = Qt.ItemDataRole.UserRole + 2

COLUMNS = ("Key", "Value", "Type")
KEY_COLUMN, VALUE_COLUMN, TYPE_COLUMN = range(3)

_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*\Z")

AnyIndex = QModelIndex | QPersistentModelIndex
#: The invisible root's index, as a default argument (never mutated).
_TOP = QModelIndex()


def json_type(value: Any) -> str:
    """The JSON name of a Python value produced by ``json.loads``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def scalar_text(value: Any) -> str:
    """A scalar as JSON writes it, strings without their quotes (what a user wants to copy)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def path_step(key: str | int) -> str:
    """One JSONPath step: ``.name``, ``["odd key"]`` or ``[3]``."""
    if isinstance(key, int):
        return f"[{key}]"
    if _IDENTIFIER.match(key):
        return f".{key}"
    return f"[{json.dumps(key, ensure_ascii=False)}]"


def _is_container(value: Any) -> bool:
    return isinstance(value, dict | list)


def _children_of(value: Any) -> Iterator[tuple[int, str | int, Any]]:
    if isinstance(value, dict):
        for row, (key, child) in enumerate(value.items()):
            yield row, key, child
    elif isinstance(value, list):
        for row, child in enumerate(value):
            yield row, row, child


class JsonNode:
    """One item of the tree; ``key`` is None only for the document row ``$``."""

    __slots__ = ("parent", "row", "key", "value", "children", "_items")

    def __init__(self, parent: JsonNode | None, row: int, key: str | int | None, value: Any):
        self.parent = parent
        self.row = row
        self.key = key
        self.value = value
        self.children: list[JsonNode] = []
        self._items: list[tuple[str, Any]] | None = None

    @property
    def total(self) -> int:
        """How many children the value has, loaded or not."""
        return len(self.value) if _is_container(self.value) else 0

    def make_children(self, start: int, stop: int) -> list[JsonNode]:
        value = self.value
        if isinstance(value, dict):
            if self._items is None:
                self._items = list(value.items())
            items = self._items
            return [JsonNode(self, r, items[r][0], items[r][1]) for r in range(start, stop)]
        return [JsonNode(self, r, r, value[r]) for r in range(start, stop)]

    def path(self) -> str:
        """JSONPath of this node, e.g. ``$.payload.channels[0].to`` (iterative: depth-safe)."""
        steps: list[str] = []
        node: JsonNode | None = self
        while node is not None and node.key is not None:
            steps.append(path_step(node.key))
            node = node.parent
        return "$" + "".join(reversed(steps))


class JsonTreeModel(QAbstractItemModel):
    """Key / value / type columns over one JSON document, children loaded on demand."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._root = JsonNode(None, 0, None, None)
        self._document: Any = None
        self._has_document = False

    # -- content ---------------------------------------------------------------------

    def set_document(self, value: Any) -> None:
        """Show ``value`` (anything ``json.loads`` returns); only the ``$`` row is built."""
        self.beginResetModel()
        self._document = value
        self._has_document = True
        self._root = JsonNode(None, 0, None, None)
        self._root.children = [JsonNode(self._root, 0, None, value)]
        self.endResetModel()

    def clear(self) -> None:
        self.beginResetModel()
        self._document = None
        self._has_document = False
        self._root = JsonNode(None, 0, None, None)
        self.endResetModel()

    def document(self) -> Any:
        return self._document

    def has_document(self) -> bool:
        return self._has_document

    def loaded_count(self) -> int:
        """Nodes built so far (tests use it to prove laziness)."""
        count = 0
        stack = [self._root]
        while stack:
            node = stack.pop()
            count += len(node.children)
            stack.extend(node.children)
        return count

    # -- structure -------------------------------------------------------------------

    def node(self, index: AnyIndex) -> JsonNode:
        if index.isValid():
            node = index.internalPointer()
            assert isinstance(node, JsonNode)
            return node
        return self._root

    def index_of(self, node: JsonNode) -> QModelIndex:
        if node.parent is None:
            return QModelIndex()
        return self.createIndex(node.row, 0, node)

    def index(self, row: int, column: int, parent: AnyIndex = _TOP) -> QModelIndex:
        if not self.hasIndex(row, column, parent):
            return QModelIndex()
        return self.createIndex(row, column, self.node(parent).children[row])

    def parent(self, child: AnyIndex | None = None) -> Any:  # type: ignore[override]
        if child is None:
            return QObject.parent(self)
        if not child.isValid():
            return QModelIndex()
        parent = self.node(child).parent
        if parent is None or parent is self._root:
            return QModelIndex()
        return self.createIndex(parent.row, 0, parent)

    def rowCount(self, parent: AnyIndex = _TOP) -> int:
        if parent.isValid() and parent.column() != 0:
            return 0
        return len(self.node(parent).children)

    def columnCount(self, parent: AnyIndex = _TOP) -> int:
        return len(COLUMNS)

    def hasChildren(self, parent: AnyIndex = _TOP) -> bool:
        if parent.isValid() and parent.column() != 0:
            return False
        node = self.node(parent)
        if node is self._root:
            return bool(node.children)
        return node.total > 0

    def canFetchMore(self, parent: AnyIndex) -> bool:
        if parent.isValid() and parent.column() != 0:
            return False
        node = self.node(parent)
        return node is not self._root and len(node.children) < node.total

    def fetchMore(self, parent: AnyIndex) -> None:
        if self.canFetchMore(parent):
            node = self.node(parent)
            self._load(node, self.index_of(node), len(node.children) + CHUNK)

    def _load(self, node: JsonNode, parent: QModelIndex, upto: int) -> None:
        start = len(node.children)
        stop = min(node.total, upto)
        if stop <= start:
            return
        self.beginInsertRows(parent, start, stop - 1)
        node.children.extend(node.make_children(start, stop))
        self.endInsertRows()

    def index_for_rows(self, rows: Sequence[int]) -> QModelIndex:
        """The index at a path of row numbers from the top, loading the chunks on the way."""
        node = self._root
        index = QModelIndex()
        for row in rows:
            if row >= len(node.children):
                if node is self._root or row >= node.total:
                    return QModelIndex()
                upto = (row // CHUNK + 1) * CHUNK
                self._load(node, index, upto)
            node = node.children[row]
            index = self.createIndex(row, 0, node)
        return index

    # -- data ------------------------------------------------------------------------

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        return column_title(COLUMNS, section, orientation, role)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        node = self.node(index)
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == KEY_COLUMN:
                return cell_text(self.key_text(node), DISPLAY_CHARS)
            if column == VALUE_COLUMN:
                return self.value_summary(node, DISPLAY_CHARS)
            if column == TYPE_COLUMN:
                return json_type(node.value)
        elif role == Qt.ItemDataRole.ToolTipRole:
            if column == KEY_COLUMN:
                return plain_tooltip(node.path())
            if column == VALUE_COLUMN and not _is_container(node.value):
                return plain_tooltip(self.value_summary(node, TOOLTIP_CHARS))
        elif role == PATH_ROLE:
            return node.path()
        elif role == TYPE_ROLE:
            return json_type(node.value)
        return None

    @staticmethod
    def key_text(node: JsonNode) -> str:
        if node.key is None:
            return "$"
        if isinstance(node.key, int):
            return f"[{node.key}]"
        return node.key

    @staticmethod
    def value_summary(node: JsonNode, limit: int) -> str:
        """One line for the value column: ``{3 keys}``, ``[100000 items]`` or the scalar."""
        value = node.value
        if isinstance(value, dict):
            n = len(value)
            return f"{{{n} key{'s' if n != 1 else ''}}}"
        if isinstance(value, list):
            n = len(value)
            return f"[{n} item{'s' if n != 1 else ''}]"
        text = scalar_text(value)
        if isinstance(value, str):
            text = json.dumps(text[: limit + 1], ensure_ascii=False)[1:-1]
        if len(text) > limit:
            text = text[:limit] + "\u2026"
        return f'"{text}"' if isinstance(value, str) else text

    # -- copying ---------------------------------------------------------------------

    def json_path(self, index: AnyIndex) -> str:
        return self.node(index).path() if index.isValid() else ""

    def copy_text(self, index: AnyIndex) -> str:
        """The node's value for the clipboard: scalars bare, containers as indented JSON."""
        if not index.isValid():
            return ""
        value = self.node(index).value
        if not _is_container(value):
            return scalar_text(value)
        try:
            return json.dumps(value, indent=2, ensure_ascii=False)
        except RecursionError:
            return json.dumps(value, ensure_ascii=False, check_circular=False)


class JsonSearch:
    """Finds keys and scalar values containing a text, depth-first, a few nodes at a time.

    The walk is a generator over the parsed data, not over model items, so nothing is
    built until a match is found; the caller turns a match's row path into an index
    with ``JsonTreeModel.index_for_rows`` and drives the walk in slices (``step``) so a
    search through a 25 MB document never blocks the event loop for long.
    """

    def __init__(self, document: Any, query: str) -> None:
        self.query = query
        self._needle = query.casefold()
        self._walk = self._matches(document)
        self.done = False
        self.found = 0

    def step(self, budget: int = 20_000) -> tuple[int, ...] | None:
        """Visit up to ``budget`` nodes; return the next match's row path, or None."""
        for _ in range(budget):
            try:
                hit = next(self._walk)
            except StopIteration:
                self.done = True
                return None
            if hit is not None:
                self.found += 1
                return hit
        return None

    def _hit(self, key: str | int | None, value: Any) -> bool:
        needle = self._needle
        if isinstance(key, str) and needle in key.casefold():
            return True
        return not _is_container(value) and needle in scalar_text(value).casefold()

    def _matches(self, document: Any) -> Iterator[tuple[int, ...] | None]:
        if not self._needle:
            return
        if self._hit(None, document):
            yield (0,)
        path: list[int] = [0]
        stack = [_children_of(document)]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                path.pop()
                continue
            row, key, value = nxt
            yield (*path, row) if self._hit(key, value) else None
            if _is_container(value) and value:
                path.append(row)
                stack.append(_children_of(value))
