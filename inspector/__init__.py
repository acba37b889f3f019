__version__ = "0.1.0"
#: The freedesktop application id: the desktop entry's and the AppStream metainfo's file
#: names (packaging/linux/), the icon's name, and the window's desktop file name.
APP_ID = "io.github.webhook_inspector.WebhookInspector"
