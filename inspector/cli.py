"""Command line: ``capture``, ``export``, ``events``; with no sub-command, the window.

Every failure a user can cause (port in use, unwritable or corrupt session) is one
line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path

from inspector import __version__
from inspector.core.capture.engine import CaptureEngine, ListenError
from inspector.core.capture.listener import DEFAULT_MAX_BODY
from inspector.core.capture.writer import FROZEN_WRITER_ARG, run_writer
from inspector.core.logfile import setup_logging
from inspector.core.provider.catalogue import EVENTS, PRODUCT_LABELS
from inspector.core.session.store import (
    SessionError,
    SessionStore,
    default_session_path,
    open_existing,
)
from inspector.core.share.export import count_requests, export_jsonl
from inspector.core.tunnel import (
    TunnelError,
    TunnelManager,
    TunnelState,
    tunnel_client_address,
)
from inspector.core.tunnel.secrets import TunnelSettingsStore

log = logging.getLogger(__name__)

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

    exp = sub.add_parser("export", help="write a session's requests out")
    exp.add_argument("session", type=Path, help="session file")
    exp.add_argument("--format", choices=["jsonl"], default="jsonl", help="output format")
    exp.add_argument("-o", "--output", type=Path, help="output file (default: stdout)")

    sub.add_parser("events", help="list the provider's event catalogue")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [FROZEN_WRITER_ARG]:
        # A frozen build starts its session writer as itself (writer.writer_command).
        if len(argv) < 3 or not argv[2].isdigit():
            return _fail(f"{FROZEN_WRITER_ARG} is internal: the capture engine starts it")
        return run_writer(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in (None, "capture"):
        # The long-running faces keep a log file (Help > About names it).
        setup_logging()
        log.info("webhook-inspector %s: %s", __version__, args.command or "window")
    try:
        if args.command == "capture":
            return cmd_capture(args)
        if args.command == "export":
            return cmd_export(args)
        if args.command == "events":
            return cmd_events()
        return cmd_window(args)
    except (SessionError, ListenError) as exc:
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


def cmd_export(args: argparse.Namespace) -> int:
    conn = open_existing(args.session)
    try:
        if args.output is None:
            export_jsonl(conn, sys.stdout)
            sys.stdout.flush()
            return 0
        total = count_requests(conn)
        out_path: Path = args.output.expanduser()
        show = sys.stderr.isatty()

        def progress(n: int) -> None:
            if show:
                print(f"\rexported {n}/{total}", end="", file=sys.stderr, flush=True)

        try:
            fd, tmp = tempfile.mkstemp(prefix=".export-", dir=out_path.parent or Path("."))
        except OSError as exc:
            return _fail(f"cannot write {out_path}: {exc.strerror or exc}")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                n = export_jsonl(conn, fh, progress)
            os.replace(tmp, out_path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        if show:
            print(file=sys.stderr)
        print(f"exported {n} request(s) to {out_path}", file=sys.stderr)
        return 0
    finally:
        conn.close()


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
