"""Secrets in logs: pyngrok's records rewritten so tokens and passwords never reach a handler."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

log = logging.getLogger(__name__)


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


def redacting_filter() -> logging.Filter:
    """The filter that rewrites secrets in use, for a handler of the app's own (the log file):
    on a handler it sees every record that reaches it, from any logger."""
    return _redactor
