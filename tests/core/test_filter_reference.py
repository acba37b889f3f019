"""The filter language reference ships inside the package; docs/ holds the same text."""

from __future__ import annotations

import tomllib
from pathlib import Path

from inspector.core.session import query
from inspector.core.session.query import FIELDS, REFERENCE_FILE, filter_reference

ROOT = Path(__file__).resolve().parents[2]


def test_the_reference_is_package_data() -> None:
    text = filter_reference()
    assert text.startswith("# Filter language")
    for name in FIELDS:
        assert f"`{name}:" in text, f"the reference does not describe {name}:"
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shipped = config["tool"]["setuptools"]["package-data"]["inspector.core.session"]
    assert REFERENCE_FILE in shipped
    assert (Path(query.__file__).parent / REFERENCE_FILE).is_file()


def test_the_docs_copy_is_the_same_text() -> None:
    docs = (ROOT / "docs" / "filter-language.md").read_text(encoding="utf-8")
    assert docs == filter_reference(), (
        "docs/filter-language.md differs from inspector/core/session/filter-language.md: "
        "edit the package's file and copy it to docs/"
    )
