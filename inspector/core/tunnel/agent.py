"""The agent's life: start, stop, the supervisor that restarts it with backoff.

Everything here is blocking and Qt-free: the GUI and the CLI call it from worker threads. pyngrok
keeps process-wide state keyed by the agent's path, so one :class:`TunnelManager` per binary.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import shutil
import stat
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any, Literal

from pyngrok import conf, ngrok, process
from pyngrok.exception import PyngrokError, PyngrokNgrokError, PyngrokNgrokHTTPError
from pyngrok.log import NgrokLog

from inspector.core.tunnel.credentials import hold_basic_auth, release_basic_auth
from inspector.core.tunnel.failures import (
    FATAL_KINDS,
    TunnelError,
    _first_line,
    _http_error_text,
    _is_network,
    classify_agent_error,
    missing_binary_error,
    no_authtoken_error,
)
from inspector.core.tunnel.redact import _redactor, redact
from inspector.core.tunnel.settings import (
    TunnelOptions,
    resolve_authtoken,
    resolve_ngrok_path,
    validate_basic_auth,
)

log = logging.getLogger(__name__)


class TunnelState(enum.StrEnum):
    OFF = "off"
    STARTING = "starting"
    ONLINE = "online"
    RECONNECTING = "reconnecting"
    ERROR = "error"


StateCallback = Callable[[TunnelState, str | None, str | None], None]


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
        #: Registered with ``credentials`` while the agent may be forwarding requests.
        self._basic_auth: str | None = None
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
        self._basic_auth = opts.basic_auth
        hold_basic_auth(self._basic_auth)
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
        release_basic_auth(self._basic_auth)
        self._basic_auth = None

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
