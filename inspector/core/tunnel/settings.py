"""What the user chose for the tunnel, and where the agent and the authtoken are found."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pyngrok import installer
from pyngrok.exception import PyngrokError

from inspector.core.tunnel.failures import TunnelError

log = logging.getLogger(__name__)

#: Regions the ngrok agent accepts for ``--region`` (empty means "closest").
REGIONS: tuple[str, ...] = ("us", "us-cal-1", "eu", "ap", "au", "sa", "jp", "in")


@dataclass(frozen=True)
class TunnelOptions:
    """What the user chose; secrets are kept out of ``repr`` so they never reach a log."""

    authtoken: str | None = field(default=None, repr=False)
    region: str | None = None
    domain: str | None = None
    basic_auth: str | None = field(default=None, repr=False)  # "user:password"
    ngrok_path: str | None = None
    start_timeout: float = 20.0


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
