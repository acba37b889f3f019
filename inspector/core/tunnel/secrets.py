"""Where the ngrok authtoken and the tunnel settings live on disk (never in a session file).

Secrets go to the platform's secret store through ``keyring`` when one is usable, else to a
0600 file in the app's config dir. ``WEBHOOK_INSPECTOR_CONFIG_DIR`` moves that dir; an
overridden dir is a self-contained profile (tests, portable installs), so secrets then stay in
it too unless ``WEBHOOK_INSPECTOR_SECRET_BACKEND=keyring`` asks otherwise.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Literal

from platformdirs import user_config_dir

from inspector.core.tunnel.settings import TunnelOptions

log = logging.getLogger(__name__)

APP_NAME = "webhook-inspector"
CONFIG_DIR_ENV = "WEBHOOK_INSPECTOR_CONFIG_DIR"
SECRET_BACKEND_ENV = "WEBHOOK_INSPECTOR_SECRET_BACKEND"
KEYRING_SERVICE = "webhook-inspector"

AUTHTOKEN_KEY = "ngrok-authtoken"
BASIC_AUTH_PASSWORD_KEY = "ngrok-basic-auth-password"

Backend = Literal["keyring", "file"]


def config_dir() -> Path:
    """The app's config dir, honouring the env override so tests never touch the real one."""
    override = os.environ.get(CONFIG_DIR_ENV)
    return Path(override) if override else Path(user_config_dir(APP_NAME))


def _keyring_usable() -> bool:
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return False
    try:
        backend = keyring.get_keyring()
    except Exception as exc:  # a broken backend configuration is "no keyring", not a crash
        log.info("keyring unavailable: %s", exc.__class__.__name__)
        return False
    if isinstance(backend, fail.Keyring):
        return False
    priority = getattr(backend, "priority", 1)
    return bool(priority and priority > 0)


def choose_backend() -> Backend:
    wanted = os.environ.get(SECRET_BACKEND_ENV, "").strip().lower()
    if wanted == "file":
        return "file"
    if wanted == "keyring":
        return "keyring" if _keyring_usable() else "file"
    if os.environ.get(CONFIG_DIR_ENV):
        return "file"
    return "keyring" if _keyring_usable() else "file"


class SecretStore:
    """Small get/set/delete over keyring or a private JSON file."""

    def __init__(self, directory: Path | None = None, backend: Backend | None = None) -> None:
        self.directory = directory or config_dir()
        self.backend: Backend = backend or choose_backend()

    @property
    def file_path(self) -> Path:
        return self.directory / "secrets.json"

    def get(self, key: str) -> str | None:
        if self.backend == "keyring":
            import keyring
            import keyring.errors

            try:
                return keyring.get_password(KEYRING_SERVICE, key)
            except keyring.errors.KeyringError as exc:
                log.warning("keyring read failed (%s); using the secrets file", exc)
                self.backend = "file"
        value = self._read_file().get(key)
        return value if isinstance(value, str) else None

    def set(self, key: str, value: str | None) -> None:
        if not value:
            self.delete(key)
            return
        if self.backend == "keyring":
            import keyring
            import keyring.errors

            try:
                keyring.set_password(KEYRING_SERVICE, key, value)
                return
            except keyring.errors.KeyringError as exc:
                log.warning("keyring write failed (%s); using the secrets file", exc)
                self.backend = "file"
        data = self._read_file()
        data[key] = value
        self._write_file(data)

    def delete(self, key: str) -> None:
        if self.backend == "keyring":
            import keyring
            import keyring.errors

            try:
                keyring.delete_password(KEYRING_SERVICE, key)
            except keyring.errors.KeyringError:
                pass
        data = self._read_file()
        if key in data:
            del data[key]
            self._write_file(data)

    def _read_file(self) -> dict[str, object]:
        try:
            with open(self.file_path, encoding="utf-8") as fh:
                data = json.load(fh)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable %s: %s", self.file_path, exc.__class__.__name__)
            return {}
        return data if isinstance(data, dict) else {}

    def _write_file(self, data: dict[str, object]) -> None:
        _write_private_json(self.file_path, data)


def _write_private_json(path: Path, data: object) -> None:
    """Write atomically; mkstemp makes the file 0600 from its first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@dataclass
class TunnelSettings:
    """The non-secret tunnel settings kept in ``tunnel.json``."""

    region: str = ""
    domain: str = ""
    basic_auth_user: str = ""
    ngrok_path: str = ""
    webhook_path: str = "/"


class TunnelSettingsStore:
    """Loads and saves tunnel settings and the two secrets that go with them."""

    def __init__(self, directory: Path | None = None, secrets: SecretStore | None = None) -> None:
        self.directory = directory or config_dir()
        self.secrets = secrets or SecretStore(self.directory)

    @property
    def settings_path(self) -> Path:
        return self.directory / "tunnel.json"

    def load(self) -> TunnelSettings:
        try:
            with open(self.settings_path, encoding="utf-8") as fh:
                raw = json.load(fh)
        except FileNotFoundError:
            return TunnelSettings()
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable %s: %s", self.settings_path, exc.__class__.__name__)
            return TunnelSettings()
        known = {f.name for f in fields(TunnelSettings)}
        values = (
            {k: str(v) for k, v in raw.items() if k in known and v is not None}
            if isinstance(raw, dict)
            else {}
        )
        return TunnelSettings(**values)

    def save(self, settings: TunnelSettings) -> None:
        _write_private_json(self.settings_path, asdict(settings))

    def authtoken(self) -> str | None:
        return self.secrets.get(AUTHTOKEN_KEY)

    def set_authtoken(self, token: str | None) -> None:
        self.secrets.set(AUTHTOKEN_KEY, (token or "").strip() or None)

    def basic_auth_password(self) -> str | None:
        return self.secrets.get(BASIC_AUTH_PASSWORD_KEY)

    def set_basic_auth_password(self, password: str | None) -> None:
        self.secrets.set(BASIC_AUTH_PASSWORD_KEY, password or None)

    def tunnel_options(self, start_timeout: float = 20.0) -> TunnelOptions:
        """Everything a :class:`TunnelManager` needs, secrets included, read fresh each time."""
        s = self.load()
        password = self.basic_auth_password()
        basic_auth = f"{s.basic_auth_user}:{password}" if s.basic_auth_user and password else None
        return TunnelOptions(
            authtoken=self.authtoken(),
            region=s.region or None,
            domain=s.domain or None,
            basic_auth=basic_auth,
            ngrok_path=s.ngrok_path or None,
            start_timeout=start_timeout,
        )
