"""The user's provider settings, kept between runs: shared by the window and ``capture``.

Plain settings (validation key, whether to answer the verification, the generic HMAC header's
shape, composed templates) go to ``provider.json`` in the config dir; the webhook secret and
every key go to the secret store the ngrok authtoken uses (keyring, or a 0600 file), never to
a session file, an export or a log.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from inspector.core.capture.answers import DEFAULT_CONFIG, AnswerConfig
from inspector.core.capture.inspection import InspectionConfig
from inspector.core.tunnel.secrets import SecretStore, _write_private_json, config_dir

log = logging.getLogger(__name__)

SECRET_KEY = "provider-webhook-secret"
SIGNING_KEYS_KEY = "provider-signing-keys"
HMAC_KEYS_KEY = "provider-hmac-keys"
STANDARD_KEYS_KEY = "provider-standard-webhooks-keys"


@dataclass
class ProviderSettings:
    """Everything the user configured for their provider, secrets included (in memory only)."""

    answer_verification: bool = True
    validation_key: str = ""
    secret: str = ""
    signing_keys: list[str] = field(default_factory=list)
    hmac_header: str = ""
    hmac_algorithm: str = "sha256"
    hmac_encoding: str = "hex"
    hmac_prefix: str = ""
    hmac_keys: list[str] = field(default_factory=list)
    standard_webhooks_keys: list[str] = field(default_factory=list)
    #: Composed webhook templates, in the compose file's format (see ``provider.compose``).
    compose: str = ""

    def answer_config(self) -> AnswerConfig:
        """The writer's answer settings (the verification's part of them)."""
        config: dict[str, Any] = {k: dict(v) for k, v in DEFAULT_CONFIG.items()}
        config["verification"]["enabled"] = self.answer_verification
        if self.validation_key:
            config["verification"]["key"] = self.validation_key
        return config

    def inspection_config(self) -> InspectionConfig:
        """The writer's authenticity checks and composed templates."""
        auth: dict[str, Any] = {}
        if self.secret:
            auth["secret"] = self.secret
        if self.signing_keys:
            auth["signing_keys"] = list(self.signing_keys)
        if self.hmac_header or self.hmac_keys:
            auth["hmac"] = {
                "header": self.hmac_header,
                "algorithm": self.hmac_algorithm,
                "encoding": self.hmac_encoding,
                "prefix": self.hmac_prefix,
                "keys": list(self.hmac_keys),
            }
        if self.standard_webhooks_keys:
            auth["standard_webhooks"] = {"keys": list(self.standard_webhooks_keys)}
        config: dict[str, Any] = {}
        if auth:
            config["auth"] = auth
        if self.compose.strip():
            config["compose"] = [self.compose]
        return config


_PLAIN = ("answer_verification", "validation_key", "hmac_header", "hmac_algorithm",
          "hmac_encoding", "hmac_prefix", "compose")  # fmt: skip


class ProviderSettingsStore:
    """Loads and saves :class:`ProviderSettings`: plain ones to a file, secrets apart."""

    def __init__(self, directory: Path | None = None, secrets: SecretStore | None = None) -> None:
        self.directory = directory or config_dir()
        self.secrets = secrets or SecretStore(self.directory)

    @property
    def settings_path(self) -> Path:
        return self.directory / "provider.json"

    def load(self) -> ProviderSettings:
        settings = ProviderSettings()
        try:
            with open(self.settings_path, encoding="utf-8") as fh:
                raw = json.load(fh)
        except FileNotFoundError:
            raw = {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable %s: %s", self.settings_path, exc.__class__.__name__)
            raw = {}
        if isinstance(raw, dict):
            types = {f.name: f.type for f in fields(ProviderSettings)}
            for name in _PLAIN:
                value = raw.get(name)
                if name == "answer_verification":
                    if isinstance(value, bool):
                        settings.answer_verification = value
                elif isinstance(value, str) and name in types:
                    setattr(settings, name, value)
        settings.secret = self.secrets.get(SECRET_KEY) or ""
        settings.signing_keys = self._keys(SIGNING_KEYS_KEY)
        settings.hmac_keys = self._keys(HMAC_KEYS_KEY)
        settings.standard_webhooks_keys = self._keys(STANDARD_KEYS_KEY)
        return settings

    def save(self, settings: ProviderSettings) -> None:
        plain = {k: v for k, v in asdict(settings).items() if k in _PLAIN}
        _write_private_json(self.settings_path, plain)
        self.secrets.set(SECRET_KEY, settings.secret.strip() or None)
        self._set_keys(SIGNING_KEYS_KEY, settings.signing_keys)
        self._set_keys(HMAC_KEYS_KEY, settings.hmac_keys)
        self._set_keys(STANDARD_KEYS_KEY, settings.standard_webhooks_keys)

    def _keys(self, name: str) -> list[str]:
        text = self.secrets.get(name)
        if not text:
            return []
        try:
            value = json.loads(text)
        except ValueError:
            return []
        return [v for v in value if isinstance(v, str) and v] if isinstance(value, list) else []

    def _set_keys(self, name: str, keys: list[str]) -> None:
        cleaned = [k.strip() for k in keys if k.strip()]
        self.secrets.set(name, json.dumps(cleaned) if cleaned else None)
