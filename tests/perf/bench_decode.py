"""Decoder CPU benchmark: µs per ``EventDecoder.decode`` call, per catalogue payload.

Run by hand (not part of the test suite):

    .venv/bin/python tests/perf/bench_decode.py [--baseline REV] [--rounds 7] [--number 2000]

Each of the 19 catalogue payloads is decoded exactly as the listener passes it
(POST, the path named by the file's product word, no query, a JSON content type,
the file's bytes), followed by a few bad inputs.  The figure per input is the best
of ``--rounds`` timings of ``--number`` calls, which is what survives the noise of a
shared machine.

``--baseline REV`` also loads the provider modules (decoder, models, lenient JSON,
catalogue) as they were at git revision REV and times them in the same run, interleaved with
the working tree's, so the ratio column compares like with like.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
CATALOGUE = ROOT / "tests" / "fixtures" / "catalogue"
JSON = [("Content-Type", "application/json")]
FORM = [("Content-Type", "application/x-www-form-urlencoded")]

#: label, method, path, query, headers, body
Case = tuple[str, str, str, str, list[tuple[str, str]], bytes]


def catalogue_cases() -> list[Case]:
    return [
        (p.stem, "POST", f"/{p.stem.split('_')[1]}", "", JSON, p.read_bytes())
        for p in sorted(CATALOGUE.glob("*.json"))
    ]


def bad_cases() -> list[Case]:
    return [
        ("bad: not JSON", "POST", "/sms", "", [("Content-Type", "text/plain")], b"hello there"),
        ("bad: broken JSON", "POST", "/sms", "", JSON, b'{"id": "x", "status": '),
        (
            "bad: trailing commas",
            "POST",
            "/whatsapp",
            "",
            JSON,
            b'{"event": "whatsapp:message:status", "payload": {"id": "m", "status": "read",},}',
        ),
        (
            "bad: form SMS DLR",
            "POST",
            "/sms",
            "",
            FORM,
            b"id=abc&mobile=9191&status=DELIVRD&sent_time=2021-04-09+16%3A27%3A35",
        ),
        (
            "bad: GET query DLR",
            "GET",
            "/sms",
            "id=abc&mobile=918921269000&status=UNDELIV",
            [],
            b"",
        ),
    ]


def load_baseline(rev: str, into: Path) -> type:
    """The decoder as it was at ``rev``, importable next to the working tree's.

    Copies the provider modules of that revision, from ``inspector/core/provider/`` or,
    before the core was split into wings, from ``inspector/core/``."""
    pkg = into / "baseline_decoder"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")

    def show(path: str) -> str | None:
        res = subprocess.run(
            ["git", "show", f"{rev}:{path}"], cwd=ROOT, capture_output=True, text=True
        )
        return res.stdout if res.returncode == 0 else None

    folder = "inspector/core/provider"
    if show(f"{folder}/decoder.py") is None:
        folder = "inspector/core"
    listing = subprocess.run(
        ["git", "ls-tree", "--name-only", f"{rev}:{folder}"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    names = [n[:-3] for n in listing if n.endswith(".py") and n != "__init__.py"]
    if folder == "inspector/core":
        names = [n for n in names if n in ("decoder", "models", "lenient_json", "catalogue")]
    prefix = folder.replace("/", ".")
    for name in names:
        source = show(f"{folder}/{name}.py") or ""
        for dep in names:
            source = source.replace(f"{prefix}.{dep}", f"baseline_decoder.{dep}")
        (pkg / f"{name}.py").write_text(source)
    sys.path.insert(0, str(into))
    return importlib.import_module("baseline_decoder.decoder").EventDecoder


def best_us(decode: Callable[..., Any], case: Case, number: int) -> float:
    _, method, path, query, headers, body = case
    start = time.perf_counter()
    for _ in range(number):
        decode(method, path, query, headers, body)
    return (time.perf_counter() - start) / number * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--baseline", metavar="REV", help="git revision to compare against")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--number", type=int, default=2000)
    args = ap.parse_args()

    from inspector.core.provider.decoder import EventDecoder

    decoders: dict[str, Callable[..., Any]] = {"current": EventDecoder().decode}
    with tempfile.TemporaryDirectory() as tmp:
        if args.baseline:
            decoders = {"baseline": load_baseline(args.baseline, Path(tmp))().decode, **decoders}
        cases = catalogue_cases() + bad_cases()
        for case in cases:  # same results, or the comparison means nothing
            results = {repr(d(*case[1:])) for d in decoders.values()}
            assert len(results) == 1, f"{case[0]}: decoders disagree: {results}"
        best: dict[tuple[str, str], float] = {}
        for _ in range(args.rounds):  # rounds interleave the decoders so drift hits both alike
            for case in cases:
                for name, decode in decoders.items():
                    t = best_us(decode, case, args.number)
                    key = (case[0], name)
                    best[key] = min(best.get(key, t), t)

    names = list(decoders)
    header = f"{'input':34}" + "".join(f"{n + ' µs':>14}" for n in names)
    print(header + (f"{'ratio':>8}" if len(names) == 2 else ""))

    def row(label: str, values: list[float]) -> None:
        line = f"{label:34}" + "".join(f"{v:14.2f}" for v in values)
        if len(values) == 2:
            line += f"{values[1] / values[0]:8.2f}"
        print(line)

    for group in (catalogue_cases(), bad_cases()):
        for case in group:
            row(case[0], [best[(case[0], n)] for n in names])
        row("mean", [statistics.fmean(best[(c[0], n)] for c in group) for n in names])
        print()


if __name__ == "__main__":
    main()
