"""The provider settings dialog: verification, the webhook secret and keys, composed webhooks.

It edits a :class:`ProviderSettings` and hands it back; the window saves it (plain settings
to the config dir, secrets to the secret store) and passes it to the capture engine, so the
writer checks the very next request with it. Secrets are shown masked.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase, QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from inspector.core.capture.inspection import check_config
from inspector.core.capture.provider_settings import ProviderSettings


def _note(text: str) -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
    return label


def _secret_field(value: str, placeholder: str) -> QLineEdit:
    field = QLineEdit(value)
    field.setEchoMode(QLineEdit.EchoMode.Password)
    field.setPlaceholderText(placeholder)
    return field


def _keys_text(keys: list[str]) -> str:
    return "\n".join(keys)


def _keys(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


class ProviderSettingsDialog(QDialog):
    """Edits the provider settings; :meth:`settings` gives what the user chose."""

    def __init__(
        self,
        settings: ProviderSettings,
        parent: QWidget | None = None,
        *,
        apply: Callable[[ProviderSettings], None] | None = None,
    ) -> None:
        """``apply`` is called with the new settings on OK; a ValueError it raises (settings
        the engine refuses) is shown in the dialog, which stays open."""
        super().__init__(parent)
        self.setObjectName("providerSettings")
        self.setWindowTitle("Provider settings")
        self._apply = apply
        tabs = QTabWidget(self)

        # -- verification ------------------------------------------------------------
        page = QWidget()
        form = QFormLayout(page)
        self.answer_verification = QCheckBox("Answer the URL verification with its challenge")
        self.answer_verification.setChecked(settings.answer_verification)
        self.validation_key = QLineEdit(settings.validation_key)
        self.validation_key.setPlaceholderText("the key typed into the provider's console")
        form.addRow(self.answer_verification)
        form.addRow("Validation key", self.validation_key)
        form.addRow(
            _note(
                "The console verifies a new webhook URL with a request carrying a challenge; "
                "it accepts the URL only if the challenge comes back. Turn the answer off to "
                "let your own app answer it. A request whose token or validation_key differs "
                "from the key above is still answered, and flagged."
            )
        )
        tabs.addTab(page, "Verification")

        # -- authenticity --------------------------------------------------------------
        page = QWidget()
        layout = QVBoxLayout(page)
        provider = QGroupBox("The provider")
        form = QFormLayout(provider)
        self.secret = _secret_field(settings.secret, "sent as Authorization: Bearer <secret>")
        self.signing_keys = QPlainTextEdit(_keys_text(settings.signing_keys))
        self.signing_keys.setPlaceholderText("one per line: the webhook id, or the secret")
        self.signing_keys.setFixedHeight(64)
        form.addRow("Webhook secret", self.secret)
        form.addRow("Signing keys", self.signing_keys)
        form.addRow(
            _note(
                "The Signature header of WhatsApp, RCS and Viber callbacks is an HMAC-SHA256 "
                "of the exact body; every key given is tried (the secret too) and the one "
                "that matched is named."
            )
        )
        layout.addWidget(provider)
        other = QGroupBox("Other senders")
        form = QFormLayout(other)
        self.hmac_header = QLineEdit(settings.hmac_header)
        self.hmac_header.setPlaceholderText("e.g. X-Hub-Signature-256")
        self.hmac_algorithm = QComboBox()
        self.hmac_algorithm.addItems(["sha1", "sha256", "sha512"])
        self.hmac_algorithm.setCurrentText(settings.hmac_algorithm)
        self.hmac_encoding = QComboBox()
        self.hmac_encoding.addItems(["hex", "base64"])
        self.hmac_encoding.setCurrentText(settings.hmac_encoding)
        self.hmac_prefix = QLineEdit(settings.hmac_prefix)
        self.hmac_prefix.setPlaceholderText("e.g. sha256=")
        self.hmac_keys = _secret_field(" ".join(settings.hmac_keys), "HMAC key")
        self.standard_keys = _secret_field(
            " ".join(settings.standard_webhooks_keys), "whsec_... (Standard Webhooks)"
        )
        form.addRow("HMAC header", self.hmac_header)
        form.addRow("Algorithm", self.hmac_algorithm)
        form.addRow("Encoding", self.hmac_encoding)
        form.addRow("Prefix", self.hmac_prefix)
        form.addRow("HMAC key", self.hmac_keys)
        form.addRow("Standard Webhooks key", self.standard_keys)
        layout.addWidget(other)
        layout.addWidget(_note("Keys are kept in the system's secret store, never in a session."))
        layout.addStretch(1)
        tabs.addTab(page, "Authenticity")

        # -- composed webhooks -----------------------------------------------------------
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(
            _note(
                "Paste the webhook you composed in the console: the method and URL on the first "
                "line, the body (JSON or form fields) below it; separate templates with a line "
                "---. A request to a template's path is decoded as an SMS delivery report."
            )
        )
        self.compose = QPlainTextEdit(settings.compose)
        self.compose.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.compose.setPlaceholderText(
            "GET https://example.com/ack?message_id=@{{id}}&message_status=@{{status}}"
        )
        layout.addWidget(self.compose, 1)
        tabs.addTab(page, "Composed webhooks")

        self.error = QLabel()
        self.error.setObjectName("settingsError")
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        self.error.setWordWrap(True)
        self.error.setStyleSheet("QLabel#settingsError { color: #c62828; }")
        self.error.hide()
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(tabs)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.tabs = tabs
        self.resize(560, 520)

    def settings(self) -> ProviderSettings:
        """What the dialog's fields say now."""
        return ProviderSettings(
            answer_verification=self.answer_verification.isChecked(),
            validation_key=self.validation_key.text().strip(),
            secret=self.secret.text().strip(),
            signing_keys=_keys(self.signing_keys.toPlainText()),
            hmac_header=self.hmac_header.text().strip(),
            hmac_algorithm=self.hmac_algorithm.currentText(),
            hmac_encoding=self.hmac_encoding.currentText(),
            hmac_prefix=self.hmac_prefix.text(),
            hmac_keys=self.hmac_keys.text().split(),
            standard_webhooks_keys=self.standard_keys.text().split(),
            compose=self.compose.toPlainText(),
        )

    def accept(self) -> None:
        settings = self.settings()
        try:
            check_config(settings.inspection_config())
            if self._apply is not None:
                self._apply(settings)
        except ValueError as exc:
            self.error.setText(str(exc))
            self.error.show()
            return
        super().accept()
