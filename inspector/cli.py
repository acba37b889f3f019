"""Command line: ``capture``, ``export``, ``events``; with no sub-command, the window.

Every failure a user can cause (port in use, unwritable or corrupt session) is one
line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import os
import signal
import sqlite3
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from inspector import __version__
from inspector.core.capture.engine import CaptureEngine, ListenError
from inspector.core.capture.inspection import check_config
from inspector.core.capture.limits import (
    DEFAULT_MAX_BODY,
    DEFAULT_MAX_HEADER_BYTES,
    DEFAULT_MAX_INFLIGHT_BYTES,
    MAX_MAX_HEADER_BYTES,
    SizeError,
    parse_size,
)
from inspector.core.capture.provider_settings import ProviderSettings, ProviderSettingsStore
from inspector.core.capture.rules import (
    RulesFileError,
    load_rules,
    provider_warnings,
    rules_config,
)
from inspector.core.capture.terminal import TerminalSafeFormatter
from inspector.core.capture.writer import FROZEN_WRITER_ARG, run_writer
from inspector.core.logfile import setup_logging
from inspector.core.provider.catalogue import EVENTS, PRODUCT_LABELS
from inspector.core.send.outbox import OutboxStatus
from inspector.core.send.relay import Relay
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
from inspector.core.share.workers import FROZEN_WORKER_ARG, run_worker
from inspector.core.tunnel import (
    TunnelError,
    TunnelManager,
    TunnelState,
    is_tunnel_basic_auth,
    tunnel_client_address,
)
from inspector.core.tunnel.secrets import TunnelSettingsStore

log = logging.getLogger(__name__)

EXIT_FAILED = 1
EXIT_TUNNEL = 3


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except SizeError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _header_size(text: str) -> int:
    try:
        return parse_size(text, maximum=MAX_MAX_HEADER_BYTES)
    except SizeError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
        help="largest body stored, e.g. 512K, 25M, at most 1G; larger gets 413 and is still "
        "recorded (default 25M)",
    )
    p.add_argument(
        "--max-header-size",
        type=_header_size,
        default=DEFAULT_MAX_HEADER_BYTES,
        metavar="BYTES",
        help="largest total of a request's header lines, at most 64M; larger gets 431 and is "
        "still recorded (default 1M)",
    )
    p.add_argument(
        "--max-in-flight",
        type=_size,
        default=DEFAULT_MAX_INFLIGHT_BYTES,
        metavar="BYTES",
        help="most request bytes held while waiting to be recorded; past it (or 10,000 "
        "requests) new requests get 503 until the writer catches up (default 128M)",
    )


#: Environment variables for the provider's secrets (so they need not be on a command line).
ENV_SECRET = "WEBHOOK_INSPECTOR_SECRET"
ENV_SIGNING_KEYS = "WEBHOOK_INSPECTOR_SIGNING_KEYS"
ENV_VALIDATION_KEY = "WEBHOOK_INSPECTOR_VALIDATION_KEY"
ENV_HMAC_KEYS = "WEBHOOK_INSPECTOR_HMAC_KEYS"
ENV_STANDARD_KEYS = "WEBHOOK_INSPECTOR_STANDARD_WEBHOOKS_KEYS"


def _add_provider_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "provider",
        "URL verification, authenticity checks and composed webhooks; by default the settings "
        "saved in the window, each option replacing its own",
    )
    g.add_argument(
        "--no-verification-answer",
        action="store_true",
        help="record the provider's URL verification but leave its answer to your own app",
    )
    g.add_argument(
        "--validation-key",
        metavar="KEY",
        help=f"validation key typed into the console (or {ENV_VALIDATION_KEY})",
    )
    g.add_argument(
        "--secret",
        metavar="SECRET",
        help=f"webhook secret, sent as 'Authorization: Bearer' (or {ENV_SECRET})",
    )
    g.add_argument(
        "--signing-key",
        metavar="KEY",
        action="append",
        help=f"key of the Signature header: webhook id or secret; repeatable (or {ENV_SIGNING_KEYS})",
    )
    g.add_argument("--hmac-header", metavar="NAME", help="header of a generic HMAC signature")
    g.add_argument(
        "--hmac-algorithm", choices=["sha1", "sha256", "sha512"], help="generic HMAC's hash"
    )
    g.add_argument("--hmac-encoding", choices=["hex", "base64"], help="generic HMAC's encoding")
    g.add_argument("--hmac-prefix", metavar="TEXT", help="text before the digest, e.g. sha256=")
    g.add_argument(
        "--hmac-key",
        metavar="KEY",
        action="append",
        help=f"generic HMAC key; repeatable (or {ENV_HMAC_KEYS})",
    )
    g.add_argument(
        "--standard-webhooks-key",
        metavar="WHSEC",
        action="append",
        help=f"Standard Webhooks key (whsec_...); repeatable (or {ENV_STANDARD_KEYS})",
    )
    g.add_argument(
        "--compose",
        metavar="FILE",
        type=Path,
        action="append",
        help="composed webhook template(s) to decode by (format in the README); repeatable",
    )


def _env_list(name: str) -> list[str] | None:
    value = os.environ.get(name, "").strip()
    return value.split() if value else None


def provider_settings(args: argparse.Namespace) -> ProviderSettings:
    """The saved provider settings with the command line's and environment's on top."""
    settings = ProviderSettingsStore().load()
    if args.no_verification_answer:
        settings.answer_verification = False
    key = args.validation_key or os.environ.get(ENV_VALIDATION_KEY)
    if key:
        settings.validation_key = key
    secret = args.secret or os.environ.get(ENV_SECRET)
    if secret:
        settings.secret = secret
    for attr, option, env in (
        ("signing_keys", args.signing_key, ENV_SIGNING_KEYS),
        ("hmac_keys", args.hmac_key, ENV_HMAC_KEYS),
        ("standard_webhooks_keys", args.standard_webhooks_key, ENV_STANDARD_KEYS),
    ):
        keys = option or _env_list(env)
        if keys:
            setattr(settings, attr, keys)
    for attr in ("hmac_header", "hmac_algorithm", "hmac_encoding", "hmac_prefix"):
        value = getattr(args, attr)
        if value:
            setattr(settings, attr, value)
    if args.compose:
        texts = []
        for path in args.compose:
            try:
                texts.append(path.expanduser().read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError) as exc:
                raise ValueError(f"cannot read compose file {path}: {_reason(exc)}") from exc
        settings.compose = "\n---\n".join(texts)
    return settings


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


#: The longest deadline or timeout a command takes: an hour is already far past any webhook.
MAX_SECONDS = 3600.0


def _seconds(text: str) -> float:
    try:
        value = float(text.strip().removesuffix("s"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    if not math.isfinite(value) or value > MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"at most {MAX_SECONDS:g} seconds, not {text!r}")
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
    cap.add_argument(
        "--rules",
        type=Path,
        metavar="FILE",
        help="answer with the response rules of this TOML file (see README: Answer like your app)",
    )
    _add_provider_options(cap)
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

    snd = sub.add_parser(
        "send",
        help="send the provider's events or a story, as the provider would",
        description="Send a simulated provider request (or a story of them) to a listener.",
    )
    snd.add_argument("event", nargs="?", help="event, variant, 'verification' or story:NAME")
    snd.add_argument("--list", action="store_true", help="list what can be sent, one a line")
    snd.add_argument(
        "--to",
        metavar="URL",
        help="where to send (default: the running listener, else http://127.0.0.1:8765/)",
    )
    snd.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="set a payload field (dotted for nested ones); may be repeated",
    )
    snd.add_argument(
        "--count", type=int, default=1, metavar="N", help="send it N times (fresh ids)"
    )
    snd.add_argument("--rate", type=float, metavar="R", help="at most R requests per second")
    snd.add_argument("--speed", default="1x", help="compress a story's gaps, e.g. 60x")
    snd.add_argument("--secret", default="", help="send Authorization: Bearer SECRET")
    snd.add_argument(
        "--signing-key",
        default="",
        metavar="KEY",
        help="sign WhatsApp, RCS and Viber callbacks: Signature = HMAC-SHA256(body, KEY)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [FROZEN_WRITER_ARG]:
        # A frozen build starts its session writer as itself (writer.writer_command).
        if len(argv) < 3 or not argv[2].isdigit():
            return _fail(f"{FROZEN_WRITER_ARG} is internal: the capture engine starts it")
        return run_writer(argv[1:])
    if argv[:1] == [FROZEN_WORKER_ARG]:
        # ... and its export workers (share.workers.worker_command).
        if len(argv) < 3 or not argv[2].isdigit():
            return _fail(f"{FROZEN_WORKER_ARG} is internal: a redacted export starts it")
        return run_worker(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in (None, "capture"):
        # The long-running faces keep a log file (Help > About names it).
        setup_logging()
        log.info("webhook-inspector %s: %s", __version__, args.command or "window")
    # Warnings and errors that reach stderr (those logging's last-resort handler prints:
    # no handler of their own) may quote request data: escape it (see terminal.py). With
    # the log file on the root logger the last resort is never asked, so the same handler
    # also sits on the root, passing only what the last resort would have printed.
    last_resort = logging.lastResort
    safe = logging.StreamHandler()
    safe.setLevel(logging.WARNING)
    safe.setFormatter(TerminalSafeFormatter("webhook-inspector: %(message)s"))
    safe.addFilter(_no_handler_of_its_own)
    logging.lastResort = safe
    root = logging.getLogger()
    root.addHandler(safe)
    try:
        if args.command == "capture":
            return cmd_capture(args)
        if args.command == "export":
            return cmd_export(args)
        if args.command == "import":
            return cmd_import(args)
        if args.command == "replay":
            return cmd_replay(args)
        if args.command == "events":
            return cmd_events()
        if args.command == "send":
            return cmd_send(args)
        return cmd_window(args)
    except (SessionError, ListenError, ExportError, ImportFileError) as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130
    finally:
        root.removeHandler(safe)
        logging.lastResort = last_resort


def _no_handler_of_its_own(record: logging.LogRecord) -> bool:
    """Whether no logger between ``record``'s and the root has a handler (pyngrok's, say,
    which keeps its own lines off stderr): the records logging's last resort prints."""
    logger: logging.Logger | None = logging.getLogger(record.name)
    while logger is not None and logger is not logging.root:
        if logger.handlers:
            return False
        if not logger.propagate:
            return False
        logger = logger.parent
    return True


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
    try:
        provider = provider_settings(args)
        answers, inspection = provider.answer_config(), provider.inspection_config()
        check_config(inspection)
    except ValueError as exc:
        return _fail(str(exc))
    if args.rules is not None:
        try:
            rules = load_rules(args.rules)
        except RulesFileError as exc:
            return _fail(str(exc))
        answers = {**(answers or {}), "rules": rules_config(rules)}
        for rule in rules:
            for warning in provider_warnings(rule):
                print(f"warning: rule {rule.name}: {warning}", file=sys.stderr, flush=True)
    store = SessionStore(session)
    relay = _relay(args, store)
    engine = CaptureEngine(
        store,
        host=args.host,
        port=args.port,
        max_body=args.max_body,
        max_header_bytes=args.max_header_size,
        max_inflight_bytes=args.max_in_flight,
        client_address=tunnel_client_address,
        tunnel_credential=is_tunnel_basic_auth,
        print_lines=True,
        answers=answers,
        inspection=inspection,
        relay=relay,
    )
    try:
        engine.start()
    except ListenError:
        store.close(remove_if_empty=True)  # a failed start leaves no empty session behind
        raise
    tunnel: TunnelManager | None = None
    started = False
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
        started = True
        if relay is not None and relay.target:
            print(
                f"Forwarding to {relay.target} ({relay.mode}, {relay.deadline:g} s deadline)",
                file=sys.stderr,
                flush=True,
            )
        engine.start_printing()
        overload = _OverloadReport(engine)
        stopped = _watch_recording(engine, stop, overload.check)
        overload.check()
    finally:
        if tunnel is not None:
            tunnel.stop()
        engine.stop()
        count = store.count()
        store.close(remove_if_empty=not started)
    print(f"Stopped; {count} request(s) in {session}", file=sys.stderr, flush=True)
    return EXIT_FAILED if stopped else 0


def _watch_recording(
    engine: CaptureEngine, stop: threading.Event, tick: Callable[[], None]
) -> bool:
    """Wait for Ctrl-C, saying on stderr (one line per change, not per request) when
    requests stop being recorded and when they are again, and calling ``tick`` (the
    back-pressure report) each time round.  Returns True, at once, if recording has
    stopped for good: a capture that cannot record must not go on."""
    shown: str | None = None
    while not stop.wait(0.2):
        tick()
        stopped = engine.recording_problem
        if stopped:
            print(
                f"error: recording stopped: {stopped}; requests are answered 503",
                file=sys.stderr,
                flush=True,
            )
            return True
        trouble = engine.recording_trouble
        kind = trouble.split(":", 1)[0] if trouble else None
        if kind != shown:
            if trouble:
                print(
                    f"warning: not recording: {trouble}; requests are answered 503 until it clears",
                    file=sys.stderr,
                    flush=True,
                )
            else:
                print("recording again", file=sys.stderr, flush=True)
            shown = kind
    return False


class _OverloadReport:
    """Says on stderr, once per episode, that requests are refused because the writer is
    not keeping up, and when it has caught up (with how many were refused meanwhile)."""

    def __init__(self, engine: CaptureEngine) -> None:
        self._engine = engine
        self._episodes = 0
        self._refused = 0
        self._shown = False

    def check(self) -> None:
        state = self._engine.overload
        if not self._shown and state.episodes > self._episodes:
            problem = state.problem or "the session writer was not keeping up"
            print(f"warning: {problem}", file=sys.stderr, flush=True)
            self._shown = True
        if self._shown and state.problem is None:
            refused = state.refused - self._refused
            print(
                f"recording again: the writer caught up; {refused:,} request(s) were "
                "answered 503 meanwhile",
                file=sys.stderr,
                flush=True,
            )
            self._shown = False
            self._episodes, self._refused = state.episodes, state.refused


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


# -- replay -------------------------------------------------------------------------


def _plain(text: str, limit: int = 200) -> str:
    """Request-derived text made safe for a terminal: control characters escaped."""
    out = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    return out if len(out) <= limit else out[: limit - 1] + "\u2026"


def cmd_replay(args: argparse.Namespace) -> int:
    import asyncio

    from inspector.core.capture.writer import ProcessCommitter, WriterError
    from inspector.core.send.app_client import AppClient
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
            try:
                # Rows and the app's answers are both committed by the writer.
                return await batch.run(client, CommitterSink(committer, store))
            finally:
                await client.close()
                await committer.stop()

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


# -- send ---------------------------------------------------------------------------


def cmd_send(args: argparse.Namespace) -> int:
    import asyncio

    from inspector.core.provider.simulator import SAMPLES
    from inspector.core.send.client import Delivery
    from inspector.core.send.simulate import (
        SendError,
        SendPlan,
        parse_overrides,
        parse_speed,
        run_plan,
    )
    from inspector.core.session.listening import default_target

    if args.list:
        width = max(len(name) for name in SAMPLES)
        for sample in SAMPLES.values():
            print(f"{sample.name:<{width}}  {sample.description}")
        return 0
    if not args.event:
        return _fail("send needs an EVENT (see 'webhook-inspector send --list')")
    try:
        plan = SendPlan(
            args.event,
            args.to or default_target(),
            count=args.count,
            rate=args.rate,
            speed=parse_speed(args.speed),
            secret=args.secret,
            signing_key=args.signing_key,
            overrides=parse_overrides(args.set),
        )
        plan.check()
    except SendError as exc:
        return _fail(str(exc))
    failures: list[Delivery] = []

    def show(d: Delivery) -> None:
        req = d.request
        what = req.claim.event or "?"
        step = f" ({req.label})" if req.label else ""
        if d.error:
            failures.append(d)
            answer = d.error
        else:
            verdict = "delivered" if d.delivered else "failed for the provider"
            answer = f"{d.status} in {d.elapsed * 1000:.0f} ms: {verdict}"
        url = d.url if len(d.url) <= 60 else d.url[:59] + "\u2026"
        print(f"{req.method:<4} {url}  {what}{step}  -> {answer}", flush=True)

    try:
        asyncio.run(run_plan(plan, show))
    except SendError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130
    return EXIT_FAILED if failures else 0


# -- window -------------------------------------------------------------------------


def cmd_window(args: argparse.Namespace) -> int:
    try:
        from inspector.gui.app import run_window
    except ImportError as exc:
        return _fail(f"the window is not available ({exc}); use 'webhook-inspector capture'")
    return run_window(args)
