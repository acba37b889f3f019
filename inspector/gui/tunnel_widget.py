"""The tunnel control: start/stop an ngrok tunnel, show and copy its public and webhook URLs.

All pyngrok work runs on plain worker threads; their news comes back through queued Qt
signals, so the window stays responsive while the agent starts (or hangs).
"""

from __future__ import annotations

import html
import logging
import re
import threading
from collections.abc import Callable

import shiboken6
from PySide6.QtCore import QSize, Qt, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import (
    QColor,
    QDesktopServices,
    QGuiApplication,
    QPainter,
    QPaintEvent,
    QPalette,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressDialog,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from inspector.core.tunnel import (
    AUTHTOKEN_URL,
    REGIONS,
    StateCallback,
    TunnelError,
    TunnelManager,
    TunnelOptions,
    TunnelState,
    install_agent,
    resolve_authtoken,
    resolve_ngrok_path,
    validate_basic_auth,
)
from inspector.core.tunnel.secrets import TunnelSettings, TunnelSettingsStore

log = logging.getLogger(__name__)

ManagerFactory = Callable[[TunnelOptions, StateCallback], TunnelManager]

STATE_COLOURS: dict[TunnelState, str] = {
    TunnelState.OFF: "#9e9e9e",
    TunnelState.STARTING: "#e0a800",
    TunnelState.ONLINE: "#2e9d4a",
    TunnelState.RECONNECTING: "#e67e22",
    TunnelState.ERROR: "#d32f2f",
}
STATE_LABELS: dict[TunnelState, str] = {
    TunnelState.OFF: "Tunnel off",
    TunnelState.STARTING: "Starting…",
    TunnelState.ONLINE: "Online",
    TunnelState.RECONNECTING: "Reconnecting…",
    TunnelState.ERROR: "Tunnel error",
}

_URL_RE = re.compile(r"https?://[^\s;,)]+[^\s;,.)]")


def join_webhook_url(public_url: str, path: str) -> str:
    """The public URL plus the user's path, with exactly one slash between them."""
    path = path.strip()
    return public_url.rstrip("/") + "/" + path.lstrip("/")


def _linkify(text: str) -> str:
    """Escape ``text`` and turn its URLs into links shown without the scheme (shorter, and
    Qt would otherwise break the line right after ``https://``)."""
    escaped = html.escape(text)

    def link(m: re.Match[str]) -> str:
        url = m.group(0)
        # Non-breaking hyphens and word joiners keep the link on one line.
        shown = url.split("://", 1)[-1].replace("-", "\u2011").replace("/", "/\u2060")
        return f'<a href="{url}">{shown}</a>'

    return _URL_RE.sub(link, escaped)


class StatusLight(QWidget):
    """A coloured dot; the colour is the state, the text next to it says it in words."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._colour = QColor(STATE_COLOURS[TunnelState.OFF])
        self.setFixedSize(self.sizeHint())

    def sizeHint(self) -> QSize:
        side = max(10, self.fontMetrics().height() * 2 // 3)
        return QSize(side, side)

    def set_state(self, state: TunnelState) -> None:
        self._colour = QColor(STATE_COLOURS[state])
        self.setToolTip(STATE_LABELS[state])
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(self._colour.darker(130))
        painter.setBrush(self._colour)
        painter.drawEllipse(self.rect().adjusted(1, 1, -1, -1))


class TunnelControl(QWidget):
    """Start/stop button, status light, public URL, webhook URL, and plain-language errors.

    Give it the local port with :meth:`set_local_address` before starting. It emits
    ``public_url_changed("")`` when the URL goes away.
    """

    public_url_changed = Signal(str)
    state_changed = Signal(str)
    _sig_state = Signal(int, object, object, object)
    _sig_install_progress = Signal(int)
    _sig_install_done = Signal(object)

    def __init__(
        self,
        manager_factory: ManagerFactory | None = None,
        settings_store: TunnelSettingsStore | None = None,
        parent: QWidget | None = None,
        *,
        install_url: str | None = None,
    ) -> None:
        super().__init__(parent)
        self._factory: ManagerFactory = manager_factory or (
            lambda options, on_state: TunnelManager(options, on_state)
        )
        self._store = settings_store or TunnelSettingsStore()
        self._install_url = install_url
        self._manager: TunnelManager | None = None
        self._generation = 0
        self._workers: list[threading.Thread] = []
        self._host = "127.0.0.1"
        self._port: int | None = None
        self._state = TunnelState.OFF
        self._public_url = ""
        self._error_kind: str | None = None
        self._install_cancel: threading.Event | None = None
        self._progress: QProgressDialog | None = None

        self._build()
        self._sig_state.connect(self._on_state)
        self._sig_install_progress.connect(self._on_install_progress)
        self._sig_install_done.connect(self._on_install_done)
        self._path_edit.setText(self._store.load().webhook_path or "/")
        self._apply_state(TunnelState.OFF, None, None)

    # ----------------------------------------------------------------- layout

    def _build(self) -> None:
        self._light = StatusLight(self)
        self._status = QLabel(self)
        self._status.setObjectName("tunnelStatus")
        font = self._status.font()
        font.setBold(True)
        self._status.setFont(font)
        self._settings_button = QPushButton("Settings…", self)
        self._settings_button.clicked.connect(self.open_settings)
        self._toggle = QPushButton("Start tunnel", self)
        self._toggle.setDefault(True)
        self._toggle.clicked.connect(self._on_toggle)

        self._local = QLabel("—", self)
        self._local.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._public = QLineEdit(self)
        self._public.setReadOnly(True)
        self._public.setPlaceholderText("Start the tunnel to get a public URL")
        self._copy_public = QPushButton("Copy", self)
        self._copy_public.clicked.connect(lambda: self._copy(self._public.text(), "public"))
        self._path_edit = QLineEdit(self)
        self._path_edit.setPlaceholderText("/whatsapp")
        self._path_edit.setToolTip(
            "Path added to the public URL; the decoder uses it as the product hint."
        )
        self._path_edit.textChanged.connect(self._refresh_webhook)
        self._path_edit.editingFinished.connect(self._save_path)
        self._webhook = QLineEdit(self)
        self._webhook.setReadOnly(True)
        self._webhook.setPlaceholderText("Paste this into the provider's webhook settings")
        self._copy_webhook = QPushButton("Copy", self)
        self._copy_webhook.clicked.connect(lambda: self._copy(self._webhook.text(), "webhook"))
        width = max(
            self._copy_public.sizeHint().width(),
            self._copy_public.fontMetrics().horizontalAdvance("Copied ✓") + 24,
        )
        for copy_button in (self._copy_public, self._copy_webhook):
            copy_button.setMinimumWidth(width)

        #: The bar has no room for the dock's title: it names itself.
        self._bar_title = QLabel("ngrok tunnel", self)
        self._bar_title.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        #: Caption label of each field, by the field it names.
        self._captions: dict[QWidget, QLabel] = {}
        for text, field in (
            ("Local URL", self._local),
            ("Public URL", self._public),
            ("Webhook path", self._path_edit),
            ("Webhook URL", self._webhook),
        ):
            label = QLabel(text, self)
            label.setBuddy(field)
            self._captions[field] = label

        self._detail = QLabel(self)
        self._detail.setObjectName("tunnelDetail")
        self._detail.setWordWrap(True)
        self._detail.setTextFormat(Qt.TextFormat.RichText)
        self._detail.setOpenExternalLinks(True)
        self._detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self._detail.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Minimum)

        self._install_button = QPushButton("Install ngrok…", self)
        self._install_button.clicked.connect(self.install_ngrok)
        self._choose_button = QPushButton("Choose ngrok binary…", self)
        self._choose_button.clicked.connect(self.choose_binary)
        self._token_button = QPushButton("Get an authtoken", self)
        self._token_button.clicked.connect(lambda: QDesktopServices.openUrl(QUrl(AUTHTOKEN_URL)))
        self._enter_token_button = QPushButton("Enter authtoken…", self)
        self._enter_token_button.clicked.connect(self.open_settings)
        self._bar = False
        self._arrange()

    def _arrange(self) -> None:
        """Lay the widgets out as a form (a dock at the side) or a bar (above the table)."""
        old = self.layout()
        if old is not None:
            # Deleting a layout (and its nested ones) leaves the widgets it placed alone:
            # they are this widget's children, and the new layout takes them.
            shiboken6.delete(old)
        actions = QHBoxLayout()
        actions.setSpacing(6)
        for button in (
            self._install_button,
            self._choose_button,
            self._token_button,
            self._enter_token_button,
        ):
            actions.addWidget(button)
        actions.addStretch(1)
        centre = Qt.AlignmentFlag.AlignVCenter
        if self._bar:
            # One row, full width: the table keeps every column. The local URL is in the
            # window's toolbar already, so the bar leaves it out.
            for unused in (self._local, self._public):
                unused.hide()
                self._captions[unused].hide()
            self._copy_public.setText(self._copy_label(self._copy_public))
            self._copy_public.setToolTip("Copy the public URL (without the webhook path)")
            self._captions[self._path_edit].setText("Path")
            self._path_edit.setMaximumWidth(self.fontMetrics().horizontalAdvance("x" * 16))
            self._bar_title.show()
            row = QHBoxLayout()
            row.setSpacing(6)
            row.addWidget(self._bar_title, 0, centre)
            row.addSpacing(4)
            row.addWidget(self._light, 0, centre)
            row.addWidget(self._status, 0, centre)
            row.addSpacing(6)
            row.addWidget(self._toggle)
            row.addWidget(self._settings_button)
            row.addSpacing(12)
            row.addWidget(self._captions[self._path_edit])
            row.addWidget(self._path_edit, 1)
            row.addSpacing(12)
            row.addWidget(self._captions[self._webhook])
            row.addWidget(self._webhook, 4)
            row.addWidget(self._copy_webhook)
            row.addWidget(self._copy_public)
            second = QHBoxLayout()
            second.setSpacing(10)
            second.addWidget(self._detail, 1)
            second.addLayout(actions, 0)
            root = QVBoxLayout(self)
            root.setContentsMargins(6, 4, 6, 4)
            root.setSpacing(4)
            root.addLayout(row)
            root.addLayout(second)
            return
        for used in (self._local, self._public):
            used.show()
            self._captions[used].show()
        self._copy_public.setText(self._copy_label(self._copy_public))
        self._copy_public.setToolTip("")
        self._bar_title.hide()
        self._captions[self._path_edit].setText("Webhook path")
        self._path_edit.setMaximumWidth(16_777_215)
        header = QHBoxLayout()
        header.setSpacing(6)
        header.addWidget(self._light, 0, centre)
        header.addWidget(self._status, 0, centre)
        header.addStretch(1)
        header.addWidget(self._settings_button)
        header.addWidget(self._toggle)
        grid = QGridLayout()
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(6)
        grid.setColumnStretch(1, 1)
        rows: list[tuple[QWidget, QWidget | None]] = [
            (self._local, None),
            (self._public, self._copy_public),
            (self._path_edit, None),
            (self._webhook, self._copy_webhook),
        ]
        for n, (field, copy) in enumerate(rows):
            grid.addWidget(self._captions[field], n, 0, Qt.AlignmentFlag.AlignRight | centre)
            grid.addWidget(field, n, 1)
            if copy is not None:
                grid.addWidget(copy, n, 2)
        root = QVBoxLayout(self)
        root.setContentsMargins(8, 8, 8, 8)
        root.setSpacing(8)
        root.addLayout(header)
        root.addLayout(grid)
        root.addWidget(self._detail)
        root.addLayout(actions)
        root.addStretch(1)

    def set_bar(self, bar: bool) -> None:
        """Show as one row (docked above or below the table) or as a form (at the side)."""
        if bar != self._bar:
            self._bar = bar
            self._arrange()

    def is_bar(self) -> bool:
        return self._bar

    # ----------------------------------------------------------------- public API

    @property
    def state(self) -> TunnelState:
        return self._state

    @property
    def public_url(self) -> str:
        return self._public_url

    @property
    def webhook_url(self) -> str:
        return self._webhook.text()

    def set_local_address(self, host: str, port: int) -> None:
        """The capture listener's address; the tunnel forwards to it."""
        self._host, self._port = host, port
        shown = f"[{host}]" if ":" in host else host
        self._local.setText(f"http://{shown}:{port}/")

    @Slot()
    def start(self) -> None:
        if self._manager is not None and self._state in (
            TunnelState.STARTING,
            TunnelState.ONLINE,
            TunnelState.RECONNECTING,
        ):
            return
        if self._port is None:
            self._apply_state(
                TunnelState.ERROR,
                None,
                "The capture listener is not running yet; start capturing first.",
            )
            return
        self._retire_manager()
        self._generation += 1
        generation = self._generation
        options = self._store.tunnel_options()

        def on_state(state: TunnelState, url: str | None, message: str | None) -> None:
            try:
                self._sig_state.emit(generation, state, url, message)
            except RuntimeError:  # the widget is gone; nothing left to tell
                pass

        manager = self._factory(options, on_state)
        self._manager = manager
        self._apply_state(TunnelState.STARTING, None, "Starting the ngrok agent…")
        self._spawn("tunnel-start", self._run_start, manager, self._port, self._host)

    @Slot()
    def stop(self) -> None:
        """Stop without blocking the GUI; the state goes to off when the agent is gone."""
        manager, self._manager = self._manager, None
        if manager is None:
            self._apply_state(TunnelState.OFF, None, None)
            return
        self._spawn("tunnel-stop", manager.stop)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop everything and wait for the worker threads; call before the window closes."""
        if self._install_cancel is not None:
            self._install_cancel.set()
        manager, self._manager = self._manager, None
        if manager is not None:
            manager.stop()
        for worker in list(self._workers):
            worker.join(timeout)
        self._workers = [w for w in self._workers if w.is_alive()]

    # ----------------------------------------------------------------- workers

    def _spawn(self, name: str, target: Callable[..., object], *args: object) -> None:
        self._workers = [w for w in self._workers if w.is_alive()]
        worker = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._workers.append(worker)
        worker.start()

    @staticmethod
    def _run_start(manager: TunnelManager, port: int, host: str) -> None:
        try:
            manager.start(port, host)
        except TunnelError:
            pass  # already reported through on_state
        except Exception:
            log.exception("unexpected failure starting the tunnel")
            manager.stop()

    def _retire_manager(self) -> None:
        manager, self._manager = self._manager, None
        if manager is not None:
            self._spawn("tunnel-stop", manager.stop)

    # ----------------------------------------------------------------- state

    @Slot(int, object, object, object)
    def _on_state(
        self, generation: int, state: TunnelState, url: str | None, message: str | None
    ) -> None:
        if generation != self._generation:
            return
        if state is TunnelState.ERROR and self._manager is not None:
            error = self._manager.last_error
            self._error_kind = error.kind if error is not None else None
        self._apply_state(state, url, message)

    def _apply_state(self, state: TunnelState, url: str | None, message: str | None) -> None:
        changed = state is not self._state
        self._state = state
        if state is not TunnelState.ERROR:
            self._error_kind = None
        self._light.set_state(state)
        self._status.setText(STATE_LABELS[state])
        running = state in (TunnelState.STARTING, TunnelState.ONLINE, TunnelState.RECONNECTING)
        self._toggle.setText("Stop tunnel" if running else "Start tunnel")
        self._settings_button.setEnabled(not running)

        new_url = (url or "") if state in (TunnelState.ONLINE, TunnelState.RECONNECTING) else ""
        if state is TunnelState.RECONNECTING and not new_url:
            new_url = self._public_url
        self._public.setText(new_url)
        self._copy_public.setEnabled(bool(new_url))
        if new_url != self._public_url:
            self._public_url = new_url
            self.public_url_changed.emit(new_url)
        self._refresh_webhook()

        if state is TunnelState.ERROR and message:
            colour = STATE_COLOURS[TunnelState.ERROR]
            self._detail.setText(f'<span style="color:{colour}">{_linkify(message)}</span>')
        elif message and state is not TunnelState.ONLINE:
            self._detail.setText(_linkify(message))
        else:
            self._detail.setText("")
        self._detail.setVisible(bool(self._detail.text()))
        kind = self._error_kind if state is TunnelState.ERROR else None
        self._install_button.setVisible(kind == "missing_binary")
        self._choose_button.setVisible(kind in ("missing_binary", "download_failed"))
        self._token_button.setVisible(kind in ("no_authtoken", "bad_authtoken"))
        self._enter_token_button.setVisible(kind in ("no_authtoken", "bad_authtoken"))
        if changed:
            self.state_changed.emit(state.value)

    @Slot()
    def _refresh_webhook(self) -> None:
        url = join_webhook_url(self._public_url, self._path_edit.text()) if self._public_url else ""
        self._webhook.setText(url)
        self._copy_webhook.setEnabled(bool(url))

    @Slot()
    def _save_path(self) -> None:
        settings = self._store.load()
        path = self._path_edit.text().strip() or "/"
        if settings.webhook_path != path:
            settings.webhook_path = path
            self._store.save(settings)

    @Slot()
    def _on_toggle(self) -> None:
        if self._state in (TunnelState.STARTING, TunnelState.ONLINE, TunnelState.RECONNECTING):
            self.stop()
        else:
            self.start()

    def _copy(self, text: str, which: str) -> None:
        if not text:
            return
        QGuiApplication.clipboard().setText(text)
        button = self._copy_public if which == "public" else self._copy_webhook
        label = self._copy_label(button)
        button.setText("Copied ✓")
        QTimer.singleShot(1500, button, lambda: button.setText(label))

    def _copy_label(self, button: QPushButton) -> str:
        """In the bar the public URL has no field of its own (the toolbar shows it)."""
        return "Copy public URL" if self._bar and button is self._copy_public else "Copy"

    # ----------------------------------------------------------------- error actions

    @Slot()
    def open_settings(self) -> None:
        dialog = TunnelSettingsDialog(self._store, self)
        if dialog.exec() == QDialog.DialogCode.Accepted and self._state is TunnelState.ERROR:
            self._apply_state(TunnelState.OFF, None, None)

    @Slot()
    def choose_binary(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose the ngrok program")
        if not path:
            return
        settings = self._store.load()
        settings.ngrok_path = path
        self._store.save(settings)
        self.start()

    @Slot()
    def install_ngrok(self) -> None:
        """Download ngrok with a progress bar, then start the tunnel again."""
        settings = self._store.load()
        cancel = threading.Event()
        self._install_cancel = cancel
        progress = QProgressDialog("Downloading ngrok…", "Cancel", 0, 100, self)
        progress.setWindowTitle("Install ngrok")
        progress.setWindowModality(Qt.WindowModality.WindowModal)
        progress.setMinimumDuration(0)
        progress.canceled.connect(cancel.set)
        progress.setValue(0)
        self._progress = progress

        def run() -> None:
            try:
                result: object = install_agent(
                    self._emit_progress,
                    ngrok_path=settings.ngrok_path or None,
                    url=self._install_url,
                    cancel=cancel,
                )
            except TunnelError as exc:
                result = exc
            except Exception as exc:
                log.exception("ngrok install failed")
                result = TunnelError("download_failed", f"ngrok could not be installed ({exc}).")
            try:
                self._sig_install_done.emit(result)
            except RuntimeError:
                pass

        self._spawn("ngrok-install", run)

    def _emit_progress(self, percent: int) -> None:
        try:
            self._sig_install_progress.emit(percent)
        except RuntimeError:
            pass

    @Slot(int)
    def _on_install_progress(self, percent: int) -> None:
        if self._progress is not None:
            self._progress.setValue(percent)

    @Slot(object)
    def _on_install_done(self, result: object) -> None:
        self._install_cancel = None
        if self._progress is not None:
            self._progress.reset()
            self._progress.deleteLater()
            self._progress = None
        if isinstance(result, TunnelError):
            if result.kind == "cancelled":
                return
            self._error_kind = result.kind
            self._apply_state(TunnelState.ERROR, None, result.message)
            return
        self.start()


class TunnelSettingsDialog(QDialog):
    """Authtoken, region, reserved domain, basic auth and the ngrok binary."""

    def __init__(self, store: TunnelSettingsStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Tunnel settings")
        self._store = store
        settings = store.load()

        self.token = QLineEdit(store.authtoken() or "", self)
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        _token, source = resolve_authtoken(None)
        self.token.setPlaceholderText(
            {"env": "using NGROK_AUTHTOKEN", "ngrok_config": "using your ngrok config file"}.get(
                source or "", "paste your ngrok authtoken"
            )
        )
        show = QCheckBox("Show", self)
        show.toggled.connect(
            lambda on: self.token.setEchoMode(
                QLineEdit.EchoMode.Normal if on else QLineEdit.EchoMode.Password
            )
        )
        token_row = QHBoxLayout()
        token_row.addWidget(self.token, 1)
        token_row.addWidget(show)
        token_link = QLabel(f'<a href="{AUTHTOKEN_URL}">Get an authtoken</a> (free account)', self)
        token_link.setOpenExternalLinks(True)

        self.region = QComboBox(self)
        self.region.addItem("Automatic (closest)", "")
        for region in REGIONS:
            self.region.addItem(region, region)
        index = self.region.findData(settings.region)
        self.region.setCurrentIndex(max(0, index))

        self.domain = QLineEdit(settings.domain, self)
        self.domain.setPlaceholderText("optional, e.g. hooks.example.ngrok.app")
        self.user = QLineEdit(settings.basic_auth_user, self)
        self.user.setPlaceholderText("optional")
        self.password = QLineEdit(store.basic_auth_password() or "", self)
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("8 to 128 characters")

        self.ngrok_path = QLineEdit(settings.ngrok_path, self)
        self.ngrok_path.setPlaceholderText(resolve_ngrok_path(None))
        browse = QPushButton("Browse…", self)
        browse.clicked.connect(self._browse)
        path_row = QHBoxLayout()
        path_row.addWidget(self.ngrok_path, 1)
        path_row.addWidget(browse)

        self.error = QLabel(self)
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        self.error.setWordWrap(True)
        self.error.setStyleSheet(f"color: {STATE_COLOURS[TunnelState.ERROR]}")
        self.error.hide()

        form = QFormLayout()
        form.addRow("Authtoken", token_row)
        form.addRow("", token_link)
        form.addRow("Region", self.region)
        form.addRow("Reserved domain", self.domain)
        form.addRow("Basic auth user", self.user)
        form.addRow("Basic auth password", self.password)
        form.addRow("ngrok binary", path_row)

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)

        note = QLabel(
            "The authtoken and password are kept in the system's secret store (or a private "
            "file), never in a session or an export.",
            self,
        )
        note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.setMinimumWidth(480)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose the ngrok program")
        if path:
            self.ngrok_path.setText(path)

    def accept(self) -> None:
        user, password = self.user.text().strip(), self.password.text()
        if user or password:
            try:
                validate_basic_auth(f"{user}:{password}")
            except TunnelError as exc:
                self.error.setText(exc.message)
                self.error.show()
                return
        settings = self._store.load()
        self._store.save(
            TunnelSettings(
                region=str(self.region.currentData() or ""),
                domain=self.domain.text().strip(),
                basic_auth_user=user,
                ngrok_path=self.ngrok_path.text().strip(),
                webhook_path=settings.webhook_path,
            )
        )
        self._store.set_authtoken(self.token.text())
        self._store.set_basic_auth_password(password or None)
        super().accept()
