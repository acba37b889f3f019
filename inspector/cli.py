"""Command line: ``capture``, ``export``, ``events``; with no sub-command, the window.

Every failure a user can cause (port in use, unwritable or corrupt session) is one
line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path

from inspector import __version__
from inspector.core.capture.engine import CaptureEngine, ListenError
from inspector.core.capture.listener import DEFAULT_MAX_BODY
from inspector.core.provider.catalogue import EVENTS, PRODUCT_LABELS
from inspector.core.send.outbox import OutboxStatus
from inspector.core.send.relay import Relay
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


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text.strip().removesuffix("s"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return value


def _pace(text: str) -> float:
    """``original`` is 1.0 (the originals' own gaps); ``10x`` ten times faster."""
    t = text.strip().lower()
    if t == "original":
        return 1.0
    try:
        value = float(t.removesuffix("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"pace is 'original' or a speed-up like 10x, not {text!r}"
        ) from None
    if not value > 0:
        raise argparse.ArgumentTypeError("the speed-up must be more than 0")
    return value


def _forward_url(text: str) -> str:
    from inspector.core.send.relay import validate_target

    try:
        return validate_target(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_forward_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--forward-to", type=_forward_url, metavar="URL",
        help="send every request on to your app (path and query appended to the URL)",
    )  # fmt: skip
    p.add_argument(
        "--forward-mode", choices=["decoupled", "pass-through"], default="decoupled",
        help="decoupled: answer the provider at once and forward through a durable outbox "
        "(default); pass-through: the provider gets your app's answer",
    )  # fmt: skip
    p.add_argument(
        "--forward-deadline", type=_seconds, default=3.0, metavar="SECONDS",
        help="how long your app has to answer (default 3, the provider's); past it 504",
    )  # fmt: skip
    p.add_argument(
        "--forward-exact", action="store_true",
        help="send to the forward URL exactly, without appending the request's path",
    )  # fmt: skip


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
    _add_forward_options(cap)

    rep = sub.add_parser(
        "replay", help="send a session's requests again to a URL and show what it answered"
    )
    rep.add_argument("session", type=Path, help="session file")
    rep.add_argument("--to", required=True, metavar="URL", help="where to send them")
    rep.add_argument("--filter", metavar="QUERY", help="only the requests this filter finds")
    rep.add_argument(
        "--id", type=int, action="append", metavar="N", dest="ids", help="a row id (repeatable)"
    )
    rep.add_argument(
        "--concurrency", type=_positive_int, default=1, metavar="N",
        help="how many at once (default 1: one after another, in order)",
    )  # fmt: skip
    rep.add_argument(
        "--pace", type=_pace, default=None, metavar="original|Nx",
        help="keep the originals' pace (original), or N times faster (10x); default as fast as possible",
    )  # fmt: skip
    rep.add_argument(
        "--exact", action="store_true", help="send to the URL as given, without the original path"
    )
    rep.add_argument(
        "--timeout", type=_seconds, default=10.0, metavar="SECONDS",
        help="how long to wait for each answer (default 10)",
    )  # fmt: skip
    rep.add_argument(
        "--max-body", type=_size, default=DEFAULT_MAX_BODY, metavar="BYTES",
        help="largest answer body kept (default 25M); longer ones are cut and marked",
    )  # fmt: skip
    rep.add_argument(
        "--sign-key", metavar="KEY",
        help="re-sign each body (Signature: hex HMAC-SHA256) with this key",
    )  # fmt: skip

    exp = sub.add_parser("export", help="write a session's requests out")
    exp.add_argument("session", type=Path, help="session file")
    exp.add_argument("--format", choices=["jsonl"], default="jsonl", help="output format")
    exp.add_argument("-o", "--output", type=Path, help="output file (default: stdout)")

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
        if args.command == "replay":
            return cmd_replay(args)
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
    relay = _relay(args, store)
    engine = CaptureEngine(
        store,
        host=args.host,
        port=args.port,
        max_body=args.max_body,
        client_address=tunnel_client_address,
        print_lines=True,
        relay=relay,
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
        if relay is not None and relay.target:
            print(
                f"Forwarding to {relay.target} ({relay.mode}, {relay.deadline:g} s deadline)",
                file=sys.stderr,
                flush=True,
            )
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


def _relay(args: argparse.Namespace, store: SessionStore) -> Relay | None:
    """Forwarding for ``capture``: always plugged in, so an outbox left by a killed run
    is drained as soon as a forward URL is given again."""
    last: list[str] = [""]

    def on_status(status: OutboxStatus) -> None:
        # One line per change of state (down, up again, paused), not one per forward.
        if status.state not in ("down", "up", "paused") or status.state == last[0]:
            return
        if status.state == "up" and last[0] in ("", "idle", "off"):
            last[0] = status.state
            return
        last[0] = status.state
        text = status.message if status.state != "up" else "the app answers again"
        print(f"forward: {_plain(text)}", file=sys.stderr, flush=True)

    return Relay(
        store,
        target=args.forward_to,
        mode=args.forward_mode,
        deadline=args.forward_deadline,
        exact=args.forward_exact,
        max_body=args.max_body,
        on_status=on_status,
    )


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


# -- replay -------------------------------------------------------------------------


def _plain(text: str, limit: int = 200) -> str:
    """Request-derived text made safe for a terminal: control characters escaped."""
    out = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    return out if len(out) <= limit else out[: limit - 1] + "\u2026"


def cmd_replay(args: argparse.Namespace) -> int:
    import asyncio
    import concurrent.futures

    from inspector.core.capture.writer import ProcessCommitter, WriterError
    from inspector.core.send.app_client import AppClient
    from inspector.core.send.recorder import AnswerRecorder
    from inspector.core.send.relay import validate_target
    from inspector.core.send.replay import (
        CommitterSink,
        ReplayBatch,
        ReplayProgress,
        item_from_stored,
        with_signature,
    )
    from inspector.core.session.query import QueryError, compile_query, fetch_ids
    from inspector.core.session.store import get_request

    try:
        target = validate_target(args.to)
    except ValueError as exc:
        return _fail(str(exc))
    open_existing(args.session).close()  # a clear error for a missing or foreign file
    store = SessionStore(args.session)
    try:
        conn = store.open_reader()
        try:
            if args.filter:
                try:
                    query = compile_query(args.filter)
                except QueryError as exc:
                    return _fail(f"bad --filter: {exc}")
                ids = fetch_ids(conn, query, limit=-1)
                if args.ids:
                    wanted = set(args.ids)
                    ids = [i for i in ids if i in wanted]
            elif args.ids:
                ids = sorted(set(args.ids))
            else:
                ids = [r[0] for r in conn.execute("SELECT id FROM requests ORDER BY id")]
            items = []
            for rid in ids:
                req = get_request(conn, rid)
                if req is None:
                    return _fail(f"no request #{rid} in {args.session}")
                item = item_from_stored(req, target, exact=args.exact)
                if args.sign_key:
                    item = dataclasses.replace(
                        item, headers=with_signature(item.headers, item.body, args.sign_key)
                    )
                items.append(item)
        finally:
            conn.close()
        if not items:
            return _fail("no requests to replay (the filter found none)")
        printed: set[int] = set()

        def on_progress(p: ReplayProgress) -> None:
            r = p.last
            if r is None or r.index in printed:
                return
            printed.add(r.index)
            a = r.answer
            path = _plain(r.item.url.partition("://")[2].partition("/")[2] or "")
            what = f"{a.status}" if not a.error else f"failed: {_plain(a.error)}"
            if a.body_cut and not a.error:
                what += " (answer cut at the size limit)"
            row = f" -> #{r.row_id}" if r.row_id is not None else ""
            print(
                f"#{r.item.original_id}{row}  {r.item.method} /{path}  {what}  "
                f"{a.duration_ms:.0f} ms",
                flush=True,
            )

        batch = ReplayBatch(
            items,
            concurrency=args.concurrency,
            speed=args.pace,
            deadline=args.timeout,
            on_progress=on_progress,
        )

        async def run() -> ReplayProgress:
            # Rows go through a writer process, as capture's do: decoded and committed
            # off this process, and indexed in order even if a capture records alongside.
            committer = ProcessCommitter(store, summaries=False, answers=None)
            try:
                await committer.start()
            except WriterError as exc:
                raise SessionError(f"cannot record into {store.path}: {exc}") from exc
            client = AppClient(max_body=args.max_body)
            db = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="replay-db")
            conn = store.open_reader()
            recorder = AnswerRecorder(conn, db)
            try:
                return await batch.run(client, CommitterSink(committer, recorder, store))
            finally:
                await recorder.flush()
                await client.close()
                await committer.stop()
                await asyncio.get_running_loop().run_in_executor(db, conn.close)
                db.shutdown(wait=True)

        final = asyncio.run(run())
    finally:
        store.close()
    failed = final.failed
    ok = final.done - failed
    print(
        f"replayed {final.done} of {final.total} request(s) to {_plain(target)}: "
        f"{ok} answered 1xx-3xx, {failed} failed",
        flush=True,
    )
    return EXIT_FAILED if failed or final.done < final.total else 0


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
