"""Public URL through an ngrok agent driven by pyngrok, kept alive by a supervisor.

Everything here is blocking and Qt-free: the GUI and the CLI call it from worker threads. pyngrok
keeps process-wide state keyed by the agent's path, so one :class:`TunnelManager` per binary.
"""

from __future__ import annotations

import enum
import ipaddress
import json
import logging
import os
import shutil
import stat
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zipfile
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pyngrok import conf, installer, ngrok, process
from pyngrok.exception import PyngrokError, PyngrokNgrokError, PyngrokNgrokHTTPError
from pyngrok.log import NgrokLog

log = logging.getLogger(__name__)

AUTHTOKEN_URL = "https://dashboard.ngrok.com/get-started/your-authtoken"
AGENTS_URL = "https://dashboard.ngrok.com/agents"
DOMAINS_URL = "https://dashboard.ngrok.com/domains"

#: Regions the ngrok agent accepts for ``--region`` (empty means "closest").
REGIONS: tuple[str, ...] = ("us", "us-cal-1", "eu", "ap", "au", "sa", "jp", "in")

ErrorKind = Literal[
    "missing_binary",
    "no_authtoken",
    "bad_authtoken",
    "account_limit",
    "agent_exited",
    "timeout",
    "network",
    "download_failed",
    "tunnel_rejected",
    "invalid_settings",
    "cancelled",
]

#: Failures that a restart cannot fix: the supervisor gives up at once on these.
FATAL_KINDS: frozenset[str] = frozenset(
    {
        "missing_binary",
        "no_authtoken",
        "bad_authtoken",
        "account_limit",
        "tunnel_rejected",
        "invalid_settings",
    }
)


class TunnelState(enum.StrEnum):
    OFF = "off"
    STARTING = "starting"
    ONLINE = "online"
    RECONNECTING = "reconnecting"
    ERROR = "error"


class TunnelError(Exception):
    """A tunnel failure told as one plain sentence that includes the way out."""

    def __init__(self, kind: ErrorKind, message: str, *, ngrok_code: str | None = None) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message
        self.ngrok_code = ngrok_code


@dataclass(frozen=True)
class TunnelOptions:
    """What the user chose; secrets are kept out of ``repr`` so they never reach a log."""

    authtoken: str | None = field(default=None, repr=False)
    region: str | None = None
    domain: str | None = None
    basic_auth: str | None = field(default=None, repr=False)  # "user:password"
    ngrok_path: str | None = None
    start_timeout: float = 20.0


StateCallback = Callable[[TunnelState, str | None, str | None], None]


# --------------------------------------------------------------------------- secrets in logs


class _SecretRedactor(logging.Filter):
    """Rewrites pyngrok's log records so tokens and passwords never reach a handler.

    pyngrok logs the endpoint options (basic-auth credentials included) at DEBUG and echoes
    every agent line at INFO, and ngrok's ERR_NGROK_105 text repeats the rejected token.
    """

    def __init__(self) -> None:
        super().__init__()
        self._secrets: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, secrets: Iterable[str]) -> None:
        with self._lock:
            for s in secrets:
                if s:
                    self._secrets[s] = self._secrets.get(s, 0) + 1

    def remove(self, secrets: Iterable[str]) -> None:
        with self._lock:
            for s in secrets:
                if s in self._secrets:
                    self._secrets[s] -= 1
                    if self._secrets[s] <= 0:
                        del self._secrets[s]

    def redact(self, text: str) -> str:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for s in secrets:
            text = text.replace(s, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        clean = self.redact(message)
        if clean != message:
            record.msg = clean
            record.args = None
        return True


_redactor = _SecretRedactor()
# Every logger pyngrok writes to: a logger's filters only see records logged on that logger.
_PYNGROK_LOGGERS = (
    "pyngrok",
    "pyngrok.ngrok",
    "pyngrok.process",
    "pyngrok.process.ngrok",
    "pyngrok.installer",
    "pyngrok.conf",
    "pyngrok.agent",
)


def _guard_pyngrok_logging() -> None:
    """Attach the redactor and keep pyngrok's option dumps (DEBUG) out of our logs."""
    root = logging.getLogger("pyngrok")
    if root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    if not root.handlers:
        # Without a handler anywhere, logging's last resort prints pyngrok's echo of the
        # agent's error lines to stderr, which would break the CLI's one-line errors.
        root.addHandler(logging.NullHandler())
    for name in _PYNGROK_LOGGERS:
        lg = logging.getLogger(name)
        if _redactor not in lg.filters:
            lg.addFilter(_redactor)


_guard_pyngrok_logging()


def redact(text: str) -> str:
    """Remove every secret currently in use by a running tunnel from ``text``."""
    return _redactor.redact(text)


# --------------------------------------------------------------------------- resolution


def resolve_ngrok_path(explicit: str | None = None) -> str:
    """Explicit setting, then ``PYNGROK_NGROK_PATH``, then pyngrok's default, then ``PATH``.

    The last step finds an ngrok the user installed with a package manager; when nothing is
    found, pyngrok's default is returned so that an install puts it where pyngrok expects.
    """
    if explicit:
        return os.path.expanduser(explicit)
    env = os.environ.get("PYNGROK_NGROK_PATH")
    if env:
        return env
    default = os.path.join(installer.get_default_ngrok_dir(), installer.get_ngrok_bin())
    if os.path.exists(default):
        return default
    on_path = shutil.which("ngrok")
    return on_path or default


def user_ngrok_config_paths() -> list[Path]:
    """Where the user's own ngrok keeps its config (v3 default first, then the v2 legacy)."""
    return [
        Path(installer.get_default_ngrok_dir()) / "ngrok.yml",
        Path(os.path.expanduser("~")) / ".ngrok2" / "ngrok.yml",
    ]


def authtoken_from_ngrok_config(paths: Iterable[Path] | None = None) -> str | None:
    """Read the authtoken the user already saved with ``ngrok config add-authtoken``."""
    for path in paths if paths is not None else user_ngrok_config_paths():
        if not path.is_file():
            continue
        try:
            config = installer.get_ngrok_config(str(path), use_cache=False)
        except (OSError, ValueError, PyngrokError) as exc:
            log.info("Cannot read ngrok config %s: %s", path, exc.__class__.__name__)
            continue
        except Exception as exc:  # yaml.YAMLError and friends: an unreadable file is skipped
            log.info("Cannot parse ngrok config %s: %s", path, exc.__class__.__name__)
            continue
        if not isinstance(config, dict):
            continue
        agent = config.get("agent")
        token = agent.get("authtoken") if isinstance(agent, dict) else None
        token = token or config.get("authtoken")
        if isinstance(token, str) and token.strip():
            return token.strip()
    return None


AuthtokenSource = Literal["settings", "env", "ngrok_config"]


def resolve_authtoken(explicit: str | None) -> tuple[str | None, AuthtokenSource | None]:
    """Settings dialog, then ``NGROK_AUTHTOKEN``, then the user's ngrok config file."""
    if explicit and explicit.strip():
        return explicit.strip(), "settings"
    env = os.environ.get("NGROK_AUTHTOKEN", "").strip()
    if env:
        return env, "env"
    token = authtoken_from_ngrok_config()
    if token:
        return token, "ngrok_config"
    return None, None


# --------------------------------------------------------------------------- error wording

_NETWORK_MARKERS = (
    "failed to dial",
    "no such host",
    "connection refused",
    "network is unreachable",
    "i/o timeout",
    "tls handshake timeout",
    "connection reset",
    "temporary failure in name",
    "dial tcp",
    "no route to host",
)
_BAD_TOKEN_CODES = {"ERR_NGROK_105", "ERR_NGROK_106", "ERR_NGROK_107"}
_NO_TOKEN_CODES = {"ERR_NGROK_4018", "ERR_NGROK_302"}
_LIMIT_CODES = {"ERR_NGROK_108", "ERR_NGROK_324", "ERR_NGROK_702", "ERR_NGROK_725"}
_DOMAIN_CODES = {"ERR_NGROK_313", "ERR_NGROK_319", "ERR_NGROK_320", "ERR_NGROK_334"}


def _first_line(text: str) -> str:
    text = text.replace("\\r", "\n").replace("\\n", "\n").replace("\r", "\n")
    for line in text.split("\n"):
        line = line.strip().rstrip(".")
        if line:
            return line
    return ""


def _is_network(text: str) -> bool:
    low = text.lower()
    return any(marker in low for marker in _NETWORK_MARKERS)


def missing_binary_error(path: str) -> TunnelError:
    return TunnelError(
        "missing_binary",
        f"ngrok is not installed at {path}; install it (Install ngrok… in the tunnel panel) "
        "or give the path of an existing ngrok binary (--ngrok-path, or Tunnel settings).",
    )


def no_authtoken_error() -> TunnelError:
    return TunnelError(
        "no_authtoken",
        f"No ngrok authtoken is set; get one at {AUTHTOKEN_URL} and enter it in Tunnel "
        "settings or set NGROK_AUTHTOKEN.",
    )


def classify_agent_error(text: str | None, code: str | None = None) -> TunnelError:
    """Turn what the agent said into one of our error kinds with a user-facing sentence."""
    text = redact(text or "")
    low = text.lower()
    if code in _BAD_TOKEN_CODES or (
        "authtoken" in low and ("not look like" in low or "invalid" in low or "revoked" in low)
    ):
        return TunnelError(
            "bad_authtoken",
            f"ngrok rejected the authtoken ({code or 'invalid authtoken'}); copy a valid one "
            f"from {AUTHTOKEN_URL} into Tunnel settings or NGROK_AUTHTOKEN.",
            ngrok_code=code,
        )
    if code in _NO_TOKEN_CODES or "requires a verified account and authtoken" in low:
        err = no_authtoken_error()
        err.ngrok_code = code
        return err
    if code in _LIMIT_CODES or "account is limited" in low or ("limit" in low and "account" in low):
        detail = _first_line(text.split(":", 1)[-1]) if ":" in text else _first_line(text)
        return TunnelError(
            "account_limit",
            f"Your ngrok account limit was reached ({detail or code}); stop your other ngrok "
            f"agents (see {AGENTS_URL}) or upgrade your plan, then start the tunnel again.",
            ngrok_code=code,
        )
    if code in _DOMAIN_CODES:
        return TunnelError(
            "tunnel_rejected",
            f"ngrok refused the reserved domain ({_first_line(text) or code}); check it at "
            f"{DOMAINS_URL} or clear the domain in Tunnel settings.",
            ngrok_code=code,
        )
    if _is_network(text):
        return TunnelError(
            "network",
            "ngrok cannot reach its servers (the network looks down); check your internet "
            "connection, proxy or firewall and start the tunnel again.",
            ngrok_code=code,
        )
    reason = _first_line(text)
    return TunnelError(
        "agent_exited",
        f"The ngrok agent stopped while starting{f' ({reason})' if reason else ''}; check that "
        "the ngrok binary in Tunnel settings is a working ngrok v3 (reinstall it if unsure) and "
        "start again.",
        ngrok_code=code,
    )


def _http_error_text(exc: PyngrokNgrokHTTPError) -> tuple[str, str | None]:
    """The agent API answers errors as JSON with ``msg`` and ``details.err``."""
    try:
        body = json.loads(exc.body)
    except (TypeError, ValueError):
        return exc.body or str(exc), PyngrokNgrokError._parse_ngrok_error_code(exc.body)
    parts = [str(body.get("msg", ""))]
    details = body.get("details")
    if isinstance(details, dict) and details.get("err"):
        parts.append(str(details["err"]))
    text = ": ".join(p for p in parts if p)
    return text, PyngrokNgrokError._parse_ngrok_error_code(text)


def validate_basic_auth(value: str | None) -> None:
    """ngrok wants ``user:password`` with an 8 to 128 character password."""
    if not value:
        return
    user, sep, password = value.partition(":")
    if not sep or not user:
        raise TunnelError(
            "invalid_settings",
            "Basic auth must be a user name and a password; fill both in Tunnel settings or "
            "clear them.",
        )
    if not 8 <= len(password) <= 128:
        raise TunnelError(
            "invalid_settings",
            "The basic-auth password must be 8 to 128 characters long (an ngrok rule); change "
            "it in Tunnel settings.",
        )


# --------------------------------------------------------------------------- tunnelled requests

NGROK_HOST_SUFFIXES: tuple[str, ...] = (
    ".ngrok-free.app",
    ".ngrok-free.dev",
    ".ngrok.app",
    ".ngrok.dev",
    ".ngrok.io",
    ".ngrok.pizza",
    ".ngrok.pro",
)


def tunnel_client_address(
    headers: Iterable[tuple[str, str]],
    *,
    public_host: str | None = None,
    peer: str | None = None,
) -> str | None:
    """The real client address when a request came through the ngrok tunnel, else ``None``.

    A request counts as tunnelled when it carries ``X-Forwarded-For`` and either its
    ``X-Forwarded-Host`` is an ngrok domain or the tunnel's ``public_host`` (a reserved custom
    domain), or it has an ``Ngrok-*`` header. The agent runs on this machine, so a ``peer``
    that is not loopback cannot be the agent. ngrok appends the address it saw to
    ``X-Forwarded-For``, so the right-most entry is the one to trust: a sender can put anything
    to the left of it.
    """
    if peer is not None:
        try:
            if not ipaddress.ip_address(peer.split("%", 1)[0]).is_loopback:
                return None
        except ValueError:
            return None
    forwarded_for: list[str] = []
    forwarded_host: str | None = None
    has_ngrok_header = False
    for name, value in headers:
        low = name.lower()
        if low == "x-forwarded-for":
            forwarded_for.extend(part.strip() for part in value.split(","))
        elif low == "x-forwarded-host":
            forwarded_host = value.strip().lower()
        elif low.startswith("ngrok-"):
            has_ngrok_header = True
    forwarded_for = [p for p in forwarded_for if p]
    if not forwarded_for:
        return None
    host = (forwarded_host or "").rsplit(":", 1)[0] if forwarded_host else ""
    from_ngrok = has_ngrok_header or any(host.endswith(s) for s in NGROK_HOST_SUFFIXES)
    if public_host and host == public_host.lower():
        from_ngrok = True
    if not from_ngrok:
        return None
    return _strip_port(forwarded_for[-1])


def _strip_port(addr: str) -> str:
    if addr.startswith("["):
        return addr[1:].split("]", 1)[0]
    if addr.count(":") == 1:
        host, _, port = addr.partition(":")
        if port.isdigit():
            return host
    return addr


# --------------------------------------------------------------------------- install


def install_agent(
    progress_callback: Callable[[int], None] | None = None,
    *,
    ngrok_path: str | None = None,
    url: str | None = None,
    timeout: float = 10.0,
    cancel: threading.Event | None = None,
) -> str:
    """Download ngrok v3 from pyngrok's CDN address to the resolved path, reporting 0-100 %.

    pyngrok's own installer prints its progress to stdout; this one reports it to a callback
    (a progress bar) and can be cancelled. Returns the installed path.
    """
    target = ngrok_path or os.environ.get("PYNGROK_NGROK_PATH") or conf.DEFAULT_NGROK_PATH
    target = os.path.expanduser(target)
    try:
        source = url or installer.get_ngrok_cdn_url("3")
    except PyngrokError as exc:
        raise TunnelError(
            "download_failed",
            f"ngrok cannot be downloaded for this platform ({exc}); install it from "
            "https://ngrok.com/download and choose its path in Tunnel settings.",
        ) from None
    parsed = urllib.parse.urlsplit(source)
    if parsed.scheme != "https" and parsed.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"refusing to download ngrok over {parsed.scheme}")

    def report(percent: int) -> None:
        if progress_callback is not None:
            progress_callback(max(0, min(100, percent)))

    def offline() -> TunnelError:
        return TunnelError(
            "download_failed",
            "ngrok cannot be downloaded: no internet connection; connect and try again, or "
            "install ngrok yourself and choose its path in Tunnel settings.",
        )

    report(0)
    suffix = ".zip" if parsed.path.endswith(".zip") else ".tgz"
    fd, archive = tempfile.mkstemp(prefix="ngrok-download-", suffix=suffix)
    try:
        try:
            with (
                urllib.request.urlopen(source, timeout=timeout) as response,
                os.fdopen(fd, "wb") as out,
            ):
                total = int(response.headers.get("Content-Length") or 0)
                done = 0
                while True:
                    if cancel is not None and cancel.is_set():
                        raise TunnelError("cancelled", "The ngrok download was cancelled.")
                    chunk = response.read(64 * 1024)
                    if not chunk:
                        break
                    out.write(chunk)
                    done += len(chunk)
                    if total:
                        report(int(done * 95 / total))
        except urllib.error.HTTPError as exc:
            raise TunnelError(
                "download_failed",
                f"ngrok cannot be downloaded: the download server answered HTTP {exc.code}; try "
                "again later, or install ngrok yourself and choose its path in Tunnel settings.",
            ) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            log.info("ngrok download failed: %s", exc)
            raise offline() from None
        _extract_agent(archive, target)
    finally:
        try:
            os.unlink(archive)
        except OSError:
            pass
    report(100)
    return target


def _extract_agent(archive: str, target: str) -> None:
    """Copy only the ngrok executable out of the archive, atomically, as 0755."""
    name = os.path.basename(target) if os.path.basename(target).startswith("ngrok") else "ngrok"
    wanted = {name, "ngrok", "ngrok.exe"}
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    tmp = f"{target}.part"
    try:
        if archive.endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                member = next(n for n in zf.namelist() if os.path.basename(n) in wanted)
                with zf.open(member) as src, open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        else:
            with tarfile.open(archive, "r:gz") as tf:
                tmember = next(
                    m for m in tf.getmembers() if m.isfile() and os.path.basename(m.name) in wanted
                )
                packed = tf.extractfile(tmember)
                if packed is None:
                    raise StopIteration
                with packed, open(tmp, "wb") as dst:
                    shutil.copyfileobj(packed, dst)
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)
    except (StopIteration, tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as exc:
        log.info("ngrok archive unusable: %s", exc.__class__.__name__)
        raise TunnelError(
            "download_failed",
            "The downloaded ngrok archive is damaged; try the install again, or install ngrok "
            "yourself and choose its path in Tunnel settings.",
        ) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# --------------------------------------------------------------------------- manager

_RECONNECT_MESSAGES = (
    "session closed, starting reconnect loop",
    "failed to reconnect session",
    "heartbeat timeout, terminating session",
)
_SESSION_UP_MESSAGES = ("client session established", "tunnel session started")


class TunnelManager:
    """Starts one ngrok endpoint for a local port and keeps it up until :meth:`stop`.

    ``on_state(state, public_url, message)`` is called from worker threads (the caller of
    :meth:`start`, the supervisor, pyngrok's log monitor): a GUI must hop to its own thread.
    """

    def __init__(
        self,
        options: TunnelOptions,
        on_state: StateCallback | None = None,
        *,
        check_interval: float = 2.0,
        max_restarts: int = 6,
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
    ) -> None:
        self.options = options
        self._on_state = on_state
        self._check_interval = check_interval
        self._max_restarts = max_restarts
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max

        self._lock = threading.Lock()
        self._emit_lock = threading.RLock()
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._running = False
        self._supervisor: threading.Thread | None = None
        self._cfg: conf.PyngrokConfig | None = None
        self._config_dir: str | None = None
        self._secrets: list[str] = []
        self._upstream = ""
        self._endpoint_name = f"webhook-inspector-{uuid.uuid4().hex[:8]}"
        self._agent: process.NgrokProcess | None = None
        self._agent_errors: deque[str] = deque(maxlen=20)
        self._net_down = False

        self._state = TunnelState.OFF
        self._public_url: str | None = None
        self._message: str | None = None
        self.last_error: TunnelError | None = None

    # ----------------------------------------------------------------- public

    @property
    def state(self) -> TunnelState:
        return self._state

    @property
    def public_url(self) -> str | None:
        return self._public_url

    @property
    def message(self) -> str | None:
        return self._message

    @property
    def agent_pid(self) -> int | None:
        agent = self._agent
        return agent.proc.pid if agent is not None else None

    def start(self, local_port: int, host: str = "127.0.0.1") -> str:
        """Start the agent and the endpoint; blocks until online. Returns the public URL."""
        with self._lock:
            if self._running:
                raise RuntimeError("the tunnel is already started; stop() it first")
            self._running = True
            self._stop.clear()
            self._idle.clear()
            self._upstream = _upstream_url(host, local_port)
            self.last_error = None
        try:
            self._set_state(TunnelState.STARTING, None, "Starting the ngrok agent…")
            try:
                url = self._bring_up()
            except TunnelError as exc:
                self._teardown_agent()
                if self._stop.is_set():
                    self._finish_stopped()
                    raise TunnelError("cancelled", "The tunnel start was cancelled.") from None
                self._fail(exc)
                raise
            with self._lock:
                if self._stop.is_set():
                    cancelled = True
                else:
                    cancelled = False
                    # Started under the lock so that stop() never sees an unstarted thread;
                    # its first check comes a full interval later, after ONLINE is out.
                    self._supervisor = threading.Thread(
                        target=self._supervise, name="ngrok-supervisor", daemon=True
                    )
                    self._supervisor.start()
            if cancelled:
                self._teardown_agent()
                self._finish_stopped()
                raise TunnelError("cancelled", "The tunnel start was cancelled.")
            self._set_state(TunnelState.ONLINE, url, None)
            return url
        finally:
            self._idle.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the supervisor and the agent; safe to call from any thread, any number of times."""
        self._stop.set()
        self._kill_agent_process()
        with self._lock:
            supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None and supervisor is not threading.current_thread():
            supervisor.join(timeout)
        self._idle.wait(timeout)
        self._teardown_agent()
        self._finish_stopped()

    def __enter__(self) -> TunnelManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- state

    def _set_state(self, state: TunnelState, url: str | None, message: str | None) -> None:
        with self._emit_lock:
            if self._stop.is_set() and state in (TunnelState.ONLINE, TunnelState.RECONNECTING):
                return
            if (state, url, message) == (self._state, self._public_url, self._message):
                return
            self._state, self._public_url, self._message = state, url, message
            log.info("tunnel %s%s", state.value, f": {message}" if message else "")
            if self._on_state is not None:
                self._on_state(state, url, message)

    def _fail(self, error: TunnelError) -> None:
        self.last_error = error
        with self._lock:
            self._running = False
        self._release_secrets()
        self._remove_private_config()
        self._set_state(TunnelState.ERROR, None, error.message)

    def _finish_stopped(self) -> None:
        with self._lock:
            self._running = False
        self._release_secrets()
        self._remove_private_config()
        self._set_state(TunnelState.OFF, None, None)

    # ----------------------------------------------------------------- bring-up

    def _bring_up(self) -> str:
        opts = self.options
        path = resolve_ngrok_path(opts.ngrok_path)
        if not os.path.isfile(path) or not os.access(path, os.X_OK):
            raise missing_binary_error(path)
        token, source = resolve_authtoken(opts.authtoken)
        if not token:
            raise no_authtoken_error()
        validate_basic_auth(opts.basic_auth)
        self._hold_secrets([token, *(_basic_auth_secrets(opts.basic_auth))])
        log.info("starting ngrok %s (authtoken from %s)", path, source)

        config_path = self._write_private_config(token)
        cfg = conf.PyngrokConfig(
            ngrok_path=path,
            config_path=config_path,
            region=opts.region or None,
            startup_timeout=max(1, int(opts.start_timeout)),
            log_event_callback=self._on_agent_log,
            monitor_thread=True,
        )
        # PyngrokConfig copies NGROK_AUTHTOKEN into auth_token, which pyngrok then passes on the
        # agent's command line (visible in ps); the private config file already carries it.
        cfg.auth_token = None
        cfg.api_key = None
        self._cfg = cfg
        self._agent_errors.clear()
        self._net_down = False

        outcome: dict[str, Any] = {}

        def connect() -> None:
            try:
                outcome["url"] = self._open_endpoint(cfg)
            except BaseException as exc:  # handed to the waiting thread, never lost
                outcome["error"] = exc

        worker = threading.Thread(target=connect, name="ngrok-connect", daemon=True)
        worker.start()
        # pyngrok checks startup_timeout only between reads of the agent's output, so an agent
        # that goes quiet would block connect() forever: keep our own deadline on top.
        deadline = time.monotonic() + opts.start_timeout + 3.0
        timed_out = False
        while not outcome and worker.is_alive():
            if self._stop.is_set() or time.monotonic() > deadline:
                timed_out = not self._stop.is_set()
                self._kill_agent_process()
                break
            worker.join(0.05)
        worker.join(10.0)
        self._agent = process._current_processes.get(path)

        if "url" in outcome and not timed_out and not self._stop.is_set():
            return str(outcome["url"])
        if self._stop.is_set():
            raise TunnelError("cancelled", "The tunnel start was cancelled.")
        if timed_out:
            if self._agent_errors and _is_network(self._agent_errors[-1]):
                raise classify_agent_error(self._agent_errors[-1])
            raise TunnelError(
                "timeout",
                f"The ngrok agent did not come up within {opts.start_timeout:g} seconds; check "
                "your network or firewall (ngrok needs outbound access to "
                "connect.ngrok-agent.com:443) and start the tunnel again.",
            )
        raise self._translate(outcome.get("error"))

    def _translate(self, exc: BaseException | None) -> TunnelError:
        if isinstance(exc, TunnelError):
            return exc
        if isinstance(exc, PyngrokNgrokHTTPError):
            text, code = _http_error_text(exc)
            err = classify_agent_error(text, code)
            if err.kind == "agent_exited":
                return TunnelError(
                    "tunnel_rejected",
                    f"ngrok refused the tunnel ({_first_line(redact(text)) or exc.status_code}); "
                    "check the reserved domain and basic auth in Tunnel settings.",
                    ngrok_code=code,
                )
            return err
        if isinstance(exc, PyngrokNgrokError):
            text = exc.ngrok_error or (self._agent_errors[-1] if self._agent_errors else "")
            return classify_agent_error(text, exc.ngrok_error_code)
        if isinstance(exc, OSError):
            return TunnelError(
                "missing_binary",
                f"ngrok could not be run ({exc.strerror or exc}); reinstall it from the tunnel "
                "panel or choose another ngrok binary in Tunnel settings.",
            )
        log.warning("unexpected failure starting ngrok: %s", redact(repr(exc)))
        return classify_agent_error(redact(str(exc)))

    def _open_endpoint(self, cfg: conf.PyngrokConfig) -> str:
        """Ask the agent for our HTTP endpoint (blocking); returns its public URL."""
        tunnel = ngrok.connect(
            self._upstream,
            "http",
            name=self._endpoint_name,
            pyngrok_config=cfg,
            **self._endpoint_options(),
        )
        return str(tunnel.public_url)

    def _endpoint_options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {}
        if self.options.domain:
            domain = self.options.domain.strip().removeprefix("https://").rstrip("/")
            opts["url"] = f"https://{domain}"
        if self.options.basic_auth:
            opts["traffic_policy"] = {
                "on_http_request": [
                    {
                        "actions": [
                            {
                                "type": "basic-auth",
                                "config": {"credentials": [self.options.basic_auth]},
                            }
                        ]
                    }
                ]
            }
        return opts

    def _write_private_config(self, token: str) -> str:
        """A 0600 config in a 0700 temp dir keeps the token off the agent's command line."""
        if self._config_dir is None or not os.path.isdir(self._config_dir):
            self._config_dir = tempfile.mkdtemp(prefix="webhook-inspector-ngrok-")
        path = os.path.join(self._config_dir, "ngrok.yml")
        data = {"version": "3", "agent": {"authtoken": token}}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)  # JSON is valid YAML for both pyngrok and the agent
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
        return path

    def _remove_private_config(self) -> None:
        if self._config_dir is not None:
            shutil.rmtree(self._config_dir, ignore_errors=True)
            self._config_dir = None

    def _hold_secrets(self, secrets: list[str]) -> None:
        self._release_secrets()
        self._secrets = [s for s in secrets if s]
        _redactor.add(self._secrets)

    def _release_secrets(self) -> None:
        _redactor.remove(self._secrets)
        self._secrets = []

    # ----------------------------------------------------------------- agent process

    def _kill_agent_process(self) -> None:
        """Kill the agent without pyngrok's lock, which a blocked connect() may be holding."""
        cfg = self._cfg
        if cfg is None:
            return
        agent = process._current_processes.get(cfg.ngrok_path) or self._agent
        if agent is not None and agent.proc.poll() is None:
            try:
                agent.proc.kill()
            except OSError:
                pass

    def _teardown_agent(self) -> None:
        """Kill the agent, wait for pyngrok's monitor thread, close the pipe."""
        cfg = self._cfg
        if cfg is None:
            return
        agent = process._current_processes.get(cfg.ngrok_path) or self._agent
        monitor = agent._monitor_thread if agent is not None else None
        try:
            ngrok.kill(cfg)
        except (PyngrokError, OSError) as exc:
            log.info("killing ngrok: %s", exc)
        if agent is not None:
            if agent.proc.poll() is None:
                agent.proc.kill()
            agent.proc.wait(5)
            if monitor is not None and monitor is not threading.current_thread():
                agent.stop_monitor_thread()
                monitor.join(5)
            if agent.proc.stdout is not None and (monitor is None or not monitor.is_alive()):
                agent.proc.stdout.close()
        self._agent = None

    def _on_agent_log(self, entry: NgrokLog) -> None:
        """Runs on pyngrok's threads for every agent line: spot network loss and recovery."""
        if entry.lvl in ("ERROR", "CRITICAL") and entry.err:
            self._agent_errors.append(redact(entry.err))
        if self._stop.is_set():
            return
        msg = (entry.msg or "").lower()
        if self._state is TunnelState.ONLINE and (
            msg in _RECONNECT_MESSAGES
            or (entry.lvl == "ERROR" and entry.err and _is_network(entry.err))
        ):
            self._net_down = True
            self._set_state(
                TunnelState.RECONNECTING,
                self._public_url,
                "Network connection lost; ngrok is reconnecting by itself…",
            )
        elif (
            self._net_down
            and self._state is TunnelState.RECONNECTING
            and (msg in _SESSION_UP_MESSAGES)
        ):
            self._net_down = False
            self._set_state(TunnelState.ONLINE, self._public_url, None)

    # ----------------------------------------------------------------- supervisor

    def _supervise(self) -> None:
        wall, mono = time.time(), time.monotonic()
        unresponsive = 0
        while not self._stop.wait(self._check_interval):
            now_wall, now_mono = time.time(), time.monotonic()
            # Monotonic time stops while the machine sleeps; wall time does not.
            woke = (now_wall - wall) - (now_mono - mono) > max(5.0, 2 * self._check_interval)
            wall, mono = now_wall, now_mono
            if woke:
                self._set_state(
                    TunnelState.RECONNECTING,
                    self._public_url,
                    "The computer woke from sleep; checking the tunnel…",
                )
            problem = self._health_problem()
            if problem == "api":
                unresponsive += 1
                if unresponsive < 3:
                    continue
                problem = "dead"
            unresponsive = 0
            if problem is None:
                if self._state is TunnelState.RECONNECTING and not self._net_down:
                    self._set_state(TunnelState.ONLINE, self._public_url, None)
                continue
            if problem == "missing" and self._recreate_endpoint():
                continue
            if not self._restart_agent():
                return

    def _health_problem(self) -> Literal["dead", "api", "missing"] | None:
        agent = self._agent
        if agent is None or agent.proc.poll() is not None or agent.api_url is None:
            return "dead"
        try:
            data = ngrok.api_request(f"{agent.api_url}/api/endpoints", timeout=2)
        except PyngrokError:
            return "api"
        items = data.get("endpoints") or data.get("tunnels") or []
        if not any(item.get("name") == self._endpoint_name for item in items):
            return "missing"
        return None

    def _recreate_endpoint(self) -> bool:
        """The agent is alive but our endpoint went away: open it again in place."""
        cfg = self._cfg
        if cfg is None or self._stop.is_set():
            return False
        self._set_state(
            TunnelState.RECONNECTING,
            self._public_url,
            "The tunnel disappeared from the ngrok agent; opening it again…",
        )
        try:
            url = self._open_endpoint(cfg)
        except PyngrokError as exc:
            log.info("re-opening the endpoint failed: %s", redact(str(exc)))
            return False
        self._set_state(TunnelState.ONLINE, url, None)
        return True

    def _restart_agent(self) -> bool:
        """Restart the agent with exponential backoff; False once it gave up or was stopped."""
        delay = self._backoff_initial
        last: TunnelError | None = None
        for attempt in range(1, self._max_restarts + 1):
            if self._stop.is_set():
                return False
            self._set_state(
                TunnelState.RECONNECTING,
                self._public_url,
                f"The ngrok agent stopped; restarting it (attempt {attempt} of "
                f"{self._max_restarts})…",
            )
            self._teardown_agent()
            try:
                url = self._bring_up()
            except TunnelError as exc:
                if self._stop.is_set():
                    return False
                last = exc
                log.info("ngrok restart %d failed: %s", attempt, exc.message)
                if exc.kind in FATAL_KINDS:
                    break
                if self._stop.wait(delay):
                    return False
                delay = min(delay * 2, self._backoff_max)
                continue
            self._set_state(TunnelState.ONLINE, url, None)
            return True
        self._teardown_agent()
        assert last is not None
        if last.kind in FATAL_KINDS:
            self._fail(last)
        else:
            self._fail(
                TunnelError(
                    last.kind,
                    f"The ngrok agent could not be restarted after {self._max_restarts} attempts "
                    f"({last.message.rstrip('.')}).",
                    ngrok_code=last.ngrok_code,
                )
            )
        return False


def _upstream_url(host: str, port: int) -> str:
    """Where the agent forwards to: a wildcard bind address is reached through loopback."""
    if host in ("", "0.0.0.0", "*"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _basic_auth_secrets(value: str | None) -> list[str]:
    if not value:
        return []
    _user, _sep, password = value.partition(":")
    return [value, password] if password else [value]
