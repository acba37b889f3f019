"""Command line: ``capture``, ``export``, ``events``; with no sub-command, the window.

Every failure a user can cause (port in use, unwritable or corrupt session) is one
line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sqlite3
import sys
import threading
from pathlib import Path

from inspector import __version__
from inspector.core.capture.engine import CaptureEngine, ListenError
from inspector.core.capture.listener import DEFAULT_MAX_BODY
from inspector.core.provider.catalogue import EVENTS, PRODUCT_LABELS
from inspector.core.session.query import QueryError
from inspector.core.session.store import (
    SessionError,
    SessionStore,
    default_session_path,
    open_existing,
)
from inspector.core.share.export import (
    FORMATS,
    ExportError,
    ExportOptions,
    export_to,
    write_export_file,
)
from inspector.core.share.importer import ImportFileError, import_file
from inspector.core.share.redact import RedactionOptions
from inspector.core.share.selection import Selection
from inspector.core.tunnel import (
    TunnelError,
    TunnelManager,
    TunnelState,
    tunnel_client_address,
)
from inspector.core.tunnel.secrets import TunnelSettingsStore

EXIT_FAILED = 1
EXIT_TUNNEL = 3


def _size(text: str) -> int:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    t = text.strip().lower().removesuffix("ib").removesuffix("b")
    mult = 1
    if t and t[-1] in units:
        mult = units[t[-1]]
        t = t[:-1]
    try:
        value = int(float(t) * mult)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a size: {text!r} (e.g. 26214400, 25M, 512K)"
        ) from None
    if value <= 0:
        raise argparse.ArgumentTypeError("size must be positive")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535 (0 = any free port), not {value}")
    return value


def _add_listen_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--port", type=_port, default=8765, help="port; 0 picks a free one (default 8765)"
    )
    p.add_argument("--session", type=Path, help="session file to record into (default: a new one)")
    p.add_argument(
        "--max-body",
        type=_size,
        default=DEFAULT_MAX_BODY,
        metavar="BYTES",
        help="largest body stored; larger gets 413 and is still recorded (default 25M)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="webhook-inspector",
        description="Capture, decode and inspect a messaging provider's webhooks.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_listen_options(parser)
    parser.add_argument("--reopen", action="store_true", help="reopen the last session (window)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    cap = sub.add_parser("capture", help="listen and record headless, one line per request")
    _add_listen_options(cap)
    cap.add_argument(
        "--tunnel", action="store_true", help="also open a public ngrok URL (needs an authtoken)"
    )
    cap.add_argument(
        "--ngrok-path", metavar="PATH", help="ngrok binary (default: PYNGROK_NGROK_PATH, pyngrok's)"
    )

    exp = sub.add_parser("export", help="write a session's requests out (HAR, JSONL, curl)")
    exp.add_argument("session", type=Path, help="session file")
    exp.add_argument(
        "--format", choices=[f for f in FORMATS if f != "markdown"], default="jsonl",
        help="output format (default jsonl)",
    )
    exp.add_argument("--filter", metavar="QUERY", help="only the requests this filter matches")
    exp.add_argument(
        "--redact", action="store_true",
        help="mask secrets, phone numbers, names, emails and message text for sharing",
    )
    exp.add_argument(
        "--redact-key", action="append", default=[], metavar="KEY",
        help="also mask the values of this JSON, query, form or header key (repeatable)",
    )
    exp.add_argument(
        "--keep-value", action="append", default=[], metavar="VALUE",
        help="never mask this exact value (repeatable)",
    )
    exp.add_argument(
        "--base-url", metavar="URL",
        help="scheme://host[:port] the HAR and curl URLs point at (default: each request's Host)",
    )
    exp.add_argument("-o", "--output", type=Path, help="output file (default: stdout)")

    imp = sub.add_parser("import", help="bring a HAR or JSONL file into a new session")
    imp.add_argument("file", type=Path, help="HAR (ours, Chrome, Firefox, Charles, HTTP Toolkit) or JSONL")
    imp.add_argument("--session", type=Path, help="new session file (default: a new one)")

    sub.add_parser("events", help="list the provider's event catalogue")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "capture":
            return cmd_capture(args)
        if args.command == "export":
            return cmd_export(args)
        if args.command == "import":
            return cmd_import(args)
        if args.command == "events":
            return cmd_events()
        return cmd_window(args)
    except (SessionError, ListenError, ExportError, ImportFileError) as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130


def _fail(message: str, code: int = EXIT_FAILED) -> int:
    print(f"error: {message}", file=sys.stderr, flush=True)
    return code


# -- capture ------------------------------------------------------------------------


def cmd_capture(args: argparse.Namespace) -> int:
    session = args.session or default_session_path()
    stop = threading.Event()

    def _on_signal(signum: int, frame: object) -> None:
        stop.set()

    # Installed before the first line is printed: a caller may signal as soon as it reads it.
    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _run_capture(args, session, stop)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _run_capture(args: argparse.Namespace, session: Path, stop: threading.Event) -> int:
    store = SessionStore(session)
    engine = CaptureEngine(
        store,
        host=args.host,
        port=args.port,
        max_body=args.max_body,
        client_address=tunnel_client_address,
        print_lines=True,
    )
    try:
        engine.start()
    except ListenError:
        store.close()
        raise
    tunnel: TunnelManager | None = None
    try:
        print(f"Listening on {engine.url}", flush=True)
        if args.tunnel:
            try:
                tunnel = _start_tunnel(args, engine, stop)
            except TunnelError as exc:
                if exc.kind == "cancelled":
                    return 130
                return _fail(exc.message, EXIT_TUNNEL)
        print(f"Recording to {store.path}  (Ctrl-C to stop)", file=sys.stderr, flush=True)
        engine.start_printing()
        while not stop.wait(0.5):
            pass
    finally:
        if tunnel is not None:
            tunnel.stop()
        engine.stop()
        count = store.count()
        store.close()
    print(f"Stopped; {count} request(s) in {session}", file=sys.stderr, flush=True)
    return 0


def _start_tunnel(
    args: argparse.Namespace, engine: CaptureEngine, stop: threading.Event
) -> TunnelManager:
    """Start ngrok off the main thread so Ctrl-C still works while the agent comes up."""
    options = TunnelSettingsStore().tunnel_options()
    if args.ngrok_path:
        options = dataclasses.replace(options, ngrok_path=args.ngrok_path)

    announced = threading.Event()

    def on_state(state: TunnelState, url: str | None, message: str | None) -> None:
        # A failed start is reported once by the caller; this is the supervisor's later news.
        if not announced.is_set():
            return
        if state is TunnelState.ONLINE and url:
            print(f"tunnel: online again at {url}", file=sys.stderr, flush=True)
        elif state in (TunnelState.RECONNECTING, TunnelState.ERROR) and message:
            print(f"tunnel: {message}", file=sys.stderr, flush=True)

    tunnel = TunnelManager(options, on_state)
    outcome: list[str | TunnelError] = []

    def run() -> None:
        try:
            outcome.append(tunnel.start(engine.port, engine.host))
        except TunnelError as exc:
            outcome.append(exc)

    starter = threading.Thread(target=run, name="tunnel-start", daemon=True)
    starter.start()
    while starter.is_alive():
        if stop.wait(0.1):
            tunnel.stop()
            starter.join()
            raise TunnelError("cancelled", "The tunnel start was cancelled.")
    result = outcome[0]
    if isinstance(result, TunnelError):
        raise result
    print(f"Public URL: {result}", flush=True)
    announced.set()
    return tunnel


# -- export -------------------------------------------------------------------------


def _base_url(text: str | None) -> str | None:
    if text is None:
        return None
    from urllib.parse import urlsplit

    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ExportError(f"--base-url must be http(s)://host[:port], not {text!r}")
    return f"{parts.scheme}://{parts.netloc}"


def cmd_export(args: argparse.Namespace) -> int:
    try:
        selection = Selection.from_filter(args.filter)
    except QueryError as exc:
        return _fail(f"--filter: {exc}")
    options = ExportOptions(
        format=args.format,
        redact=args.redact or bool(args.redact_key),
        redaction=RedactionOptions(frozenset(args.redact_key), frozenset(args.keep_value)),
        base_url=_base_url(args.base_url),
        session_name=args.session.stem,
    )
    conn = open_existing(args.session)
    try:
        if args.output is None:
            return _export_to_stdout(conn, selection, options)
        out_path: Path = args.output.expanduser()
        show = sys.stderr.isatty()
        total = selection.count(conn) if show else 0

        def progress(n: int) -> None:
            if show:
                print(f"\rexported {n}/{total}", end="", file=sys.stderr, flush=True)

        result = write_export_file(
            conn, out_path, selection, options, session_path=args.session, progress=progress
        )
        if show:
            print(file=sys.stderr)
        print(f"exported {result.count} request(s) to {out_path}", file=sys.stderr)
        if result.redaction is not None:
            print(result.redaction.sentence(), file=sys.stderr)
        return 0
    finally:
        conn.close()


def _export_to_stdout(conn: sqlite3.Connection, selection: Selection, options: ExportOptions) -> int:
    """Stream to stdout; a reader that closes the pipe (``| head``) ends it quietly."""
    try:
        result = export_to(conn, sys.stdout, selection, options)
        sys.stdout.flush()
    except BrokenPipeError:
        # Python would complain again when it flushes stdout at exit: point it at nothing.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 0
    if result.redaction is not None:
        print(result.redaction.sentence(), file=sys.stderr)
    return 0


# -- import -------------------------------------------------------------------------


def cmd_import(args: argparse.Namespace) -> int:
    source: Path = args.file.expanduser()
    if not source.is_file():
        return _fail(f"no file at {source}" if not source.is_dir() else f"{source} is a folder")
    session = (args.session or default_session_path()).expanduser()
    if session.exists():
        return _fail(f"{session} already exists; import makes a new session (give another --session)")
    store = SessionStore(session)
    try:
        result = import_file(source, store)
        count = store.count()
    except BaseException:
        count = store.count()
        store.close()
        if count == 0:
            _remove_session(session)
        raise
    store.close()
    for line in result.problems:
        print(f"{source.name}: {_printable(line)}", file=sys.stderr)
    if result.problem_count > len(result.problems):
        print(f"... and {result.problem_count - len(result.problems)} more problem(s)", file=sys.stderr)
    if count == 0:
        _remove_session(session)
        return _fail(f"nothing could be imported from {source}")
    left = f"; {result.problem_count} left out" if result.problem_count else ""
    print(f"imported {result.imported} request(s) from {source} into {session}{left}", file=sys.stderr)
    return 0


def _remove_session(session: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(session) + suffix).unlink(missing_ok=True)


def _printable(text: str) -> str:
    """Problem lines quote the file's own text: never let it steer the terminal."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


# -- events -------------------------------------------------------------------------


def cmd_events() -> int:
    width = max(len(e.name) for e in EVENTS)
    for e in EVENTS:
        print(f"{PRODUCT_LABELS[e.product]:<9} {e.name:<{width}}  {e.description}")
    return 0


# -- window -------------------------------------------------------------------------


def cmd_window(args: argparse.Namespace) -> int:
    try:
        from inspector.gui.app import run_window
    except ImportError as exc:
        return _fail(f"the window is not available ({exc}); use 'webhook-inspector capture'")
    return run_window(args)
