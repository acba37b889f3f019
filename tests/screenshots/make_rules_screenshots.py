"""Save screenshots of the Rules panel with hit counts, the Send Test Event dialog and a
story's Timeline tab, in light and dark.

The real window on a real engine, offscreen: rules are set in the panel, the simulator's
stories are sent from the dialog over loopback, and the provider's retry story meets the
"fails twice" rule::

    .venv/bin/python tests/screenshots/make_rules_screenshots.py [--out docs/screenshots]

Writes ``rules-panel-*.png``, ``send-dialog-*.png`` and ``story-timeline-*.png``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script, only tests/screenshots is on the path
    sys.path.insert(0, str(ROOT))

from tests.screenshots import make_screenshots as shots  # noqa: E402

RULES = [
    {
        "name": "wa-status-fails-twice",
        "match": "event:whatsapp:message:status",
        "respond": "500, 500, 200",
        "body": '{"error": "try again"}',
        "headers": "Retry-After: 10",
    },
    {"name": "dlr-created", "match": "event:sms:message:status", "respond": "201"},
    {"name": "slow-viber", "match": "product:viber", "respond": "200", "delay": "4s"},
    {"name": "drop-rcs", "path": "/rcs*", "respond": "close", "enabled": False},
    {"name": "typo", "match": "evnt:whatsapp", "respond": "503"},
]


def shoot(theme: str, out: Path) -> Path:
    tmp = shots.prepare(theme, "wi-rules-shots-")

    from PySide6.QtWidgets import QApplication

    from inspector.core.session.store import SessionStore
    from inspector.gui.detail.pane import TAB_TIMELINE
    from inspector.gui.main_window import MainWindow
    from inspector.gui.theme import apply_theme

    app = QApplication(sys.argv[:1])
    apply_theme(app)
    store = SessionStore(tmp / "rules.whsession")
    engine = shots.start_engine(store)
    window = MainWindow(store, engine.url, host=engine.host, port=engine.port, engine=engine)
    window.resize(1800, 1040)
    window.show()
    window.splitter.setSizes([560, 440])
    try:
        panel = window.rules_panel
        panel.set_rules_fields(RULES)
        window.rules_action.trigger()
        window.resizeDocks([window.rules_dock], [560], shots_orientation())
        dialog = window.show_send_dialog()
        sent = 0
        # The retry story first: the provider re-sends while the rule answers 500, 500.
        for name, count in (
            ("story:retry", 3),
            ("story:whatsapp-read", 3),
            ("sms:message:status", 1),
        ):
            dialog.set_sample(name)
            # The read story at the provider's own pace, so the Timeline shows real gaps.
            dialog.speed_box.setCurrentText("1x" if name == "story:whatsapp-read" else "60x")
            dialog.send()
            sent += count
            shots.pump(lambda: dialog.send_button.isEnabled(), 30, f"{name} to be sent")
        shots.pump(lambda: window.model.rowCount() >= sent, 10, "every request to show")
        shots.pump(lambda: "6 hits" in panel.hit_text(0), 5, "the hit counts")
        dialog.set_sample("story:whatsapp-read")
        dialog.move(window.geometry().center() - dialog.rect().center())
        shots.save_grab(window, out / f"send-dialog-{theme}.png")  # lets the dialog settle
        dialog.grab().save(str(out / f"send-dialog-{theme}.png"))
        dialog.hide()
        panel.list.setCurrentRow(1)  # the 201 rule: the provider's warning shows
        window.select_request(2)  # the first retry, answered 500 by the rule
        rules = shots.save_grab(window, out / f"rules-panel-{theme}.png")
        window.rules_dock.hide()
        window.select_request(6)  # the "read" of the sent -> delivered -> read story
        window.detail.tabs.setCurrentIndex(TAB_TIMELINE)
        shots.save_grab(window, out / f"story-timeline-{theme}.png")
        return rules
    finally:
        shots.close_all(window, engine, store)


def shots_orientation():  # noqa: ANN201 - a Qt enum, imported late like the rest
    from PySide6.QtCore import Qt

    return Qt.Orientation.Horizontal


def main() -> int:
    return shots.run(shoot, __file__, (__doc__ or "").splitlines()[0])


if __name__ == "__main__":
    raise SystemExit(main())
