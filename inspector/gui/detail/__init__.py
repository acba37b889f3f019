"""Detail pane of the main window: Event, JSON, Raw, Headers and Timeline tabs."""

from inspector.gui.detail.pane import SHORTCUTS, DetailPane

__all__ = ["SHORTCUTS", "DetailPane"]
