"""--max-body sizes: whole numbers with binary suffixes, up to a stated maximum (issue 9, 13)."""

from __future__ import annotations

import subprocess
import sys

import pytest


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inspector", *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize(
    "text", ["inf", "1e400", "99999999999999G", "0.5", "0", "-1", "2G", "25MB", "1_000", "", "nan"]
)
@pytest.mark.parametrize("command", [["capture"], []], ids=["capture", "window"])
def test_bad_sizes_are_one_line_that_says_what_is_allowed(command: list[str], text: str) -> None:
    res = run(*command, "--port", "0", "--max-body", text)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr, res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert "--max-body" in last and "K, M or G" in last and "at most 1G" in last, last


@pytest.mark.parametrize(
    ("text", "value"),
    [("1", 1), ("512", 512), ("512K", 512 << 10), ("25M", 25 << 20), ("25m", 25 << 20),
     ("25MiB", 25 << 20), ("1G", 1 << 30), ("1024M", 1 << 30), (" 7k ", 7 << 10)],
)  # fmt: skip
def test_good_sizes(text: str, value: int) -> None:
    from inspector.core.capture.limits import parse_size

    assert parse_size(text) == value
