#!/usr/bin/env python3
"""A stand-in for the ngrok v3 agent, speaking exactly the part pyngrok 9 uses.

pyngrok runs ``ngrok start --none --log stdout --config PATH [--authtoken T] [--region R]``,
waits for the log lines "starting web service" (with ``addr=``), "client session established"
and "tunnel session started", probes ``GET /api/endpoints`` and then ``POST``s an endpoint
(``name``, ``upstream.url``, optional ``url`` and ``traffic_policy``). This script does that on
127.0.0.1 only; each endpoint gets a "public" HTTP listener on a loopback port that forwards to
the upstream with the X-Forwarded-* headers ngrok adds, and enforces a basic-auth policy.

Stdlib only, so it runs under any python3. Switches, all environment variables:

- ``FAKE_NGROK_MODE``: ``ok`` (default), ``bad_authtoken`` (ERR_NGROK_105 and exit),
  ``account_limit`` (ERR_NGROK_108 and exit), ``exit_at_start`` (garbage line, exit 2),
  ``hang`` (say nothing, never exit), ``network`` (endless dial errors).
- ``FAKE_NGROK_DIE_AFTER``: seconds after which a running agent exits abruptly (code 1).
- ``FAKE_NGROK_STATE_DIR``: the agent writes ``state.json`` there (pid, argv, api address,
  endpoints with the loopback ``public_port`` serving each public URL).
- ``FAKE_NGROK_CLIENT_IP``: the address put in X-Forwarded-For (default: the real peer).

Signals: SIGUSR1 simulates a network loss (session closed, dial errors, the public side answers
ERR_NGROK_3200), SIGUSR2 brings the session back. SIGTERM stops it cleanly.
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

VERSION = "3.22.1"
AUTHTOKEN_URL = "https://dashboard.ngrok.com/get-started/your-authtoken"
HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
    "transfer-encoding", "upgrade",
}

_print_lock = threading.Lock()


def emit(lvl: str, msg: str, **fields: str) -> None:
    """One logfmt line the way ``ngrok --log stdout`` writes it."""
    t = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S%z")
    parts = [f"t={t}", f"lvl={lvl}", f"msg={json.dumps(msg)}"]
    for key, value in fields.items():
        text = str(value)
        needs_quotes = any(c in text for c in ' "=\n\r') or text == ""
        parts.append(f"{key}={json.dumps(text) if needs_quotes else text}")
    with _print_lock:
        sys.stdout.write(" ".join(parts) + "\n")
        sys.stdout.flush()


def read_config(paths: list[str]) -> dict[str, Any]:
    """Our configs are JSON (valid YAML); fall back to PyYAML if it happens to be there."""
    merged: dict[str, Any] = {}
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        try:
            data = json.loads(text) if text.strip() else {}
        except ValueError:
            import yaml  # only for hand-written YAML configs

            data = yaml.safe_load(text) or {}
        merged.update(data)
    return merged


class Agent:
    def __init__(self, argv: list[str], token: str | None, config_paths: list[str]) -> None:
        self.argv = argv
        self.token = token
        self.config_paths = config_paths
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.servers: dict[str, ThreadingHTTPServer] = {}
        self.lock = threading.Lock()
        self.online = threading.Event()
        self.online.set()
        self.stopping = threading.Event()
        self.api: ThreadingHTTPServer | None = None
        self.state_dir = os.environ.get("FAKE_NGROK_STATE_DIR")

    # ------------------------------------------------------------ state file for tests

    def write_state(self) -> None:
        if not self.state_dir:
            return
        assert self.api is not None
        with self.lock:
            endpoints = {
                name: {
                    "public_url": ep["url"],
                    "public_port": self.servers[name].server_address[1],
                    "upstream": ep["upstream"]["url"],
                    "basic_auth": bool(ep.get("_credentials")),
                }
                for name, ep in self.endpoints.items()
            }
        state = {
            "pid": os.getpid(),
            "argv": self.argv,
            "api_addr": f"{self.api.server_address[0]}:{self.api.server_address[1]}",
            "config_paths": self.config_paths,
            "authtoken_on_argv": "--authtoken" in self.argv,
            "endpoints": endpoints,
        }
        os.makedirs(self.state_dir, exist_ok=True)
        path = os.path.join(self.state_dir, "state.json")
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(state, fh)
        os.replace(tmp, path)

    # ------------------------------------------------------------ endpoints

    def create_endpoint(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        name = body.get("name") or f"endpoint-{secrets.token_hex(4)}"
        upstream = body.get("upstream") or {}
        if not isinstance(upstream, dict) or not upstream.get("url"):
            return 400, api_error(102, "invalid tunnel configuration", "upstream.url is required")
        with self.lock:
            if name in self.endpoints:
                return 400, api_error(
                    102, "invalid tunnel configuration", f"an endpoint named {name} exists"
                )
        credentials = basic_auth_credentials(body.get("traffic_policy"))
        url = body.get("url") or f"https://{secrets.token_hex(6)}.ngrok-free.app"
        endpoint = {
            "id": f"ep_{secrets.token_hex(12)}",
            "name": name,
            "uri": f"/api/endpoints/{name}",
            "url": url,
            "upstream": {"url": upstream["url"], "protocol": upstream.get("protocol", "http1")},
            "traffic_policy": json.dumps(body.get("traffic_policy") or {}),
            "_credentials": credentials,
        }
        server = ThreadingHTTPServer(("127.0.0.1", 0), make_public_handler(self, endpoint))
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name=f"public-{name}", daemon=True).start()
        with self.lock:
            self.endpoints[name] = endpoint
            self.servers[name] = server
        emit("info", "started tunnel", obj="tunnels", name=name, addr=upstream["url"], url=url)
        self.write_state()
        return 201, public_view(endpoint)

    def delete_endpoint(self, name: str) -> bool:
        with self.lock:
            endpoint = self.endpoints.pop(name, None)
            server = self.servers.pop(name, None)
        if server is not None:
            server.shutdown()
            server.server_close()
        self.write_state()
        return endpoint is not None

    def shutdown(self) -> None:
        for name in list(self.endpoints):
            self.delete_endpoint(name)
        if self.api is not None:
            self.api.shutdown()
            self.api.server_close()


def public_view(endpoint: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in endpoint.items() if not k.startswith("_")}


def api_error(code: int, msg: str, err: str) -> dict[str, Any]:
    return {"error_code": code, "status_code": 400, "msg": msg, "details": {"err": err}}


def basic_auth_credentials(policy: Any) -> list[str]:
    """The ``credentials`` of any basic-auth action in an on_http_request traffic policy."""
    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except ValueError:
            return []
    if not isinstance(policy, dict):
        return []
    found: list[str] = []
    for rule in policy.get("on_http_request") or []:
        for action in rule.get("actions") or []:
            if action.get("type") == "basic-auth":
                found.extend((action.get("config") or {}).get("credentials") or [])
    return found


def make_api_handler(agent: Agent) -> type[BaseHTTPRequestHandler]:
    class ApiHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def reply(self, status: int, body: dict[str, Any] | None) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            if body is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            path = urlsplit(self.path).path.rstrip("/")
            if path == "/api":
                self.reply(200, {"uri": "/api", "endpoints": "/api/endpoints"})
            elif path == "/api/endpoints":
                with agent.lock:
                    items = [public_view(ep) for ep in agent.endpoints.values()]
                self.reply(200, {"endpoints": items, "uri": "/api/endpoints"})
            elif path == "/api/tunnels":
                self.reply(200, {"tunnels": [], "uri": "/api/tunnels"})
            elif path.startswith("/api/endpoints/"):
                name = path.rsplit("/", 1)[1]
                with agent.lock:
                    ep = agent.endpoints.get(name)
                if ep is None:
                    self.reply(404, api_error(100, "endpoint not found", name))
                else:
                    self.reply(200, public_view(ep))
            else:
                self.reply(404, api_error(100, "not found", path))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if urlsplit(self.path).path.rstrip("/") != "/api/endpoints":
                self.reply(404, api_error(100, "not found", self.path))
                return
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                self.reply(400, api_error(100, "invalid json", "body is not JSON"))
                return
            status, answer = agent.create_endpoint(body)
            self.reply(status, answer)

        def do_DELETE(self) -> None:
            path = urlsplit(self.path).path.rstrip("/")
            if path.startswith("/api/endpoints/") and agent.delete_endpoint(path.rsplit("/", 1)[1]):
                self.reply(204, None)
            else:
                self.reply(404, api_error(100, "endpoint not found", path))

    return ApiHandler


def make_public_handler(agent: Agent, endpoint: dict[str, Any]) -> type[BaseHTTPRequestHandler]:
    """The "internet" side of one endpoint: check basic auth, forward, relay the answer."""
    public_host = urlsplit(endpoint["url"]).hostname or ""
    upstream = urlsplit(endpoint["upstream"]["url"])

    class PublicHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def plain(self, status: int, text: str, extra: dict[str, str] | None = None) -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def read_body(self) -> bytes:
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def handle_any(self) -> None:
            body = self.read_body()
            if not agent.online.is_set():
                self.plain(
                    404, f"The endpoint {endpoint['url']} is offline.\r\n\r\nERR_NGROK_3200\r\n"
                )
                return
            credentials = endpoint.get("_credentials") or []
            if credentials and not authorised(self.headers.get("Authorization"), credentials):
                self.plain(401, "Unauthorized", {"WWW-Authenticate": 'Basic realm="ngrok"'})
                return
            client_ip = os.environ.get("FAKE_NGROK_CLIENT_IP") or self.client_address[0]
            headers = [(k, v) for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP]
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            prior = self.headers.get("X-Forwarded-For")
            headers = [(k, v) for k, v in headers if not k.lower().startswith("x-forwarded-")]
            headers.append(("X-Forwarded-For", f"{prior}, {client_ip}" if prior else client_ip))
            headers.append(("X-Forwarded-Host", public_host))
            headers.append(("X-Forwarded-Proto", "https"))
            headers.append(("Content-Length", str(len(body))))
            conn = http.client.HTTPConnection(upstream.hostname, upstream.port or 80, timeout=30)
            try:
                conn.putrequest(self.command, self.path, skip_host=True,
                                skip_accept_encoding=True)
                for k, v in headers:
                    conn.putheader(k, v)
                conn.endheaders(body)
                resp = conn.getresponse()
                data = resp.read()
            except OSError as exc:
                emit("warn", "failed to dial upstream", obj="tunnels", err=str(exc))
                self.plain(
                    502,
                    f"The endpoint {endpoint['url']} is online but the agent cannot reach "
                    f"{endpoint['upstream']['url']}.\r\n\r\nERR_NGROK_8012\r\n",
                )
                return
            finally:
                conn.close()
            self.send_response(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = handle_any

    return PublicHandler


def authorised(header: str | None, credentials: list[str]) -> bool:
    import base64
    import binascii

    if not header or not header.lower().startswith("basic "):
        return False
    try:
        given = base64.b64decode(header.split(" ", 1)[1].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return False
    return given in credentials


def auth_failure(code: str, text: str) -> None:
    """Print the error the way ngrok 3 does when the session is refused, then exit 1."""
    err = f"authentication failed: {text}\r\n\r\n{code}\r\n"
    emit("eror", "failed to reconnect session", obj="tunnels.session", obj2="csess",
         id=secrets.token_hex(6), err=err)
    emit("eror", "session closing", obj="tunnels.session", err=err)
    emit("info", "received stop request", obj="app", stopReq="{err:<nil> restart:false}")
    emit("crit", "command failed", err=err)
    sys.exit(1)


def run_start(args: list[str], argv: list[str]) -> int:
    config_paths: list[str] = []
    token: str | None = None
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("--config", "--authtoken", "--region", "--log", "--log-format",
                   "--log-level"):
            if i + 1 >= len(args):
                print(f"ERROR:  flag needs an argument: {arg}", file=sys.stderr)
                return 1
            value = args[i + 1]
            if arg == "--config":
                config_paths.extend(p for p in value.split(",") if p)
            elif arg == "--authtoken":
                token = value
            i += 2
        elif arg in ("--none", "--all"):
            i += 1
        else:
            print(f"ERROR:  unknown flag: {arg}", file=sys.stderr)
            return 1

    mode = os.environ.get("FAKE_NGROK_MODE", "ok")
    if mode == "hang":
        while True:
            time.sleep(3600)
    if mode == "exit_at_start":
        print("panic: runtime error: invalid memory address or nil pointer dereference")
        sys.stdout.flush()
        return 2

    if not config_paths:
        emit("info", "no configuration paths supplied")
    for path in config_paths:
        emit("info", "open config file", path=path, err="nil")
    config = read_config(config_paths)
    agent_conf = config.get("agent") if isinstance(config.get("agent"), dict) else {}
    token = token or agent_conf.get("authtoken") or os.environ.get("NGROK_AUTHTOKEN")

    agent = Agent(argv, token, config_paths)
    agent.api = ThreadingHTTPServer(("127.0.0.1", 0), make_api_handler(agent))
    agent.api.daemon_threads = True
    threading.Thread(target=agent.api.serve_forever, name="api", daemon=True).start()
    host, port = agent.api.server_address[:2]
    emit("info", "starting web service", obj="web", addr=f"{host}:{port}", allow_hosts="[]")

    if not token:
        auth_failure(
            "ERR_NGROK_4018",
            "Usage of ngrok requires a verified account and authtoken.\n\nSign up for an "
            f"account: https://dashboard.ngrok.com/signup\nInstall your authtoken: {AUTHTOKEN_URL}",
        )
    if mode == "bad_authtoken":
        auth_failure(
            "ERR_NGROK_105",
            "The authtoken you specified does not look like a proper ngrok tunnel authtoken.\n"
            f"Your authtoken: {token}\nInstructions to install your authtoken are on your ngrok "
            f"dashboard:\n{AUTHTOKEN_URL}",
        )
    if mode == "account_limit":
        auth_failure(
            "ERR_NGROK_108",
            "Your account is limited to 1 simultaneous ngrok agent sessions.\nYou can run "
            "multiple simultaneous tunnels from a single agent session by defining the tunnels "
            "in your agent configuration file and starting them with the command `ngrok start "
            "--all`.\nYou can view your current agent sessions in the dashboard:\n"
            "https://dashboard.ngrok.com/agents",
        )
    if mode == "network":
        while True:
            emit("eror", "failed to reconnect session", obj="tunnels.session",
                 err='failed to dial ngrok server with address "connect.ngrok-agent.com:443": '
                     "dial tcp: lookup connect.ngrok-agent.com: no such host")
            time.sleep(0.2)

    emit("info", "client session established", obj="tunnels.session")
    emit("info", "tunnel session started", obj="tunnels.session")
    agent.write_state()

    def lose_network() -> None:
        agent.online.clear()
        emit("info", "session closed, starting reconnect loop", obj="tunnels.session")
        emit("eror", "failed to reconnect session", obj="tunnels.session",
             err='failed to dial ngrok server with address "connect.ngrok-agent.com:443": '
                 "dial tcp: lookup connect.ngrok-agent.com: no such host")

    def regain_network() -> None:
        agent.online.set()
        emit("info", "client session established", obj="tunnels.session")
        emit("info", "tunnel session started", obj="tunnels.session")

    # Signal handlers only queue the change: run inside a handler, emit() could wait
    # for the print lock held by the very code the signal interrupted (a second signal
    # arriving mid-way through the first one's lines did exactly that under load).
    network_events: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()

    def network_worker() -> None:
        while True:
            network_events.get()()

    threading.Thread(target=network_worker, daemon=True).start()

    def terminate(signum: int, frame: Any) -> None:
        agent.stopping.set()

    if hasattr(signal, "SIGUSR1"):
        signal.signal(signal.SIGUSR1, lambda signum, frame: network_events.put(lose_network))
        signal.signal(signal.SIGUSR2, lambda signum, frame: network_events.put(regain_network))
    signal.signal(signal.SIGTERM, terminate)

    die_after = float(os.environ.get("FAKE_NGROK_DIE_AFTER") or 0)
    started = time.monotonic()
    parent = os.getppid()
    while not agent.stopping.wait(0.2):
        if die_after and time.monotonic() - started > die_after:
            emit("crit", "unexpected fault", err="fake agent told to die")
            os._exit(1)
        if os.getppid() != parent:  # whoever started us is gone: do not linger as an orphan
            break
    emit("info", "received stop request", obj="app", stopReq="{err:<nil> restart:false}")
    agent.shutdown()
    return 0


def run_config(args: list[str]) -> int:
    if len(args) >= 2 and args[0] == "add-authtoken":
        path = args[args.index("--config") + 1] if "--config" in args else os.path.expanduser(
            "~/.config/ngrok/ngrok.yml"
        )
        config = read_config([path]) if os.path.exists(path) else {"version": "3"}
        config.setdefault("agent", {})["authtoken"] = args[1]
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(config, fh)
        print(f"Authtoken saved to configuration file: {path}")
        return 0
    print("ERROR:  unsupported config command", file=sys.stderr)
    return 1


def main(argv: list[str]) -> int:
    args = argv[1:]
    if args in (["--version"], ["version"], ["-v"]):
        print(f"ngrok version {VERSION}")
        return 0
    if args and args[0] == "start":
        return run_start(args[1:], argv)
    if args and args[0] == "config":
        return run_config(args[1:])
    print(f"ERROR:  unknown command {' '.join(args)!r} (fake ngrok)", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
