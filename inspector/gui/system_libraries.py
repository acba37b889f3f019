"""The system libraries Qt loads on Linux, checked before Qt is imported.

A fresh desktop often lacks a few of the X11 helper libraries that Qt's xcb platform
plugin links against (``libxcb-cursor0`` since Qt 6.5, ``libxcb-icccm4``,
``libxcb-keysyms1``...).  Qt then aborts the process (exit 134) with a dozen lines about
plugins that tell the user nothing about what to install.  This module asks the dynamic
loader for each library first (so a bundled copy in a frozen build counts, as it does for
Qt) and turns what is missing into one line naming the packages.

No Qt here: it must run before ``PySide6`` is imported.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Library:
    soname: str
    debian: str  #: Debian/Ubuntu package
    fedora: str  #: Fedora package


def _libs(*rows: tuple[str, str, str]) -> tuple[Library, ...]:
    return tuple(Library(*row) for row in rows)


#: What QtGui itself links against (any platform plugin, offscreen included).
GUI_LIBRARIES = _libs(
    ("libEGL.so.1", "libegl1", "libglvnd-egl"),
    ("libGL.so.1", "libgl1", "libglvnd-glx"),
    ("libfontconfig.so.1", "libfontconfig1", "fontconfig"),
    ("libfreetype.so.6", "libfreetype6", "freetype"),
    ("libxkbcommon.so.0", "libxkbcommon0", "libxkbcommon"),
    ("libglib-2.0.so.0", "libglib2.0-0", "glib2"),
    ("libX11.so.6", "libx11-6", "libX11"),
)

#: What the xcb (X11) platform plugin adds; the first three are the usual culprits.
XCB_LIBRARIES = _libs(
    ("libxcb-cursor.so.0", "libxcb-cursor0", "xcb-util-cursor"),
    ("libxcb-icccm.so.4", "libxcb-icccm4", "xcb-util-wm"),
    ("libxcb-keysyms.so.1", "libxcb-keysyms1", "xcb-util-keysyms"),
    ("libxcb-image.so.0", "libxcb-image0", "xcb-util-image"),
    ("libxcb-render-util.so.0", "libxcb-render-util0", "xcb-util-renderutil"),
    ("libxcb-util.so.1", "libxcb-util1", "xcb-util"),
    ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0", "libxkbcommon-x11"),
    ("libX11-xcb.so.1", "libx11-xcb1", "libX11-xcb"),
    ("libxcb.so.1", "libxcb1", "libxcb"),
    ("libxcb-randr.so.0", "libxcb-randr0", "libxcb"),
    ("libxcb-render.so.0", "libxcb-render0", "libxcb"),
    ("libxcb-shape.so.0", "libxcb-shape0", "libxcb"),
    ("libxcb-shm.so.0", "libxcb-shm0", "libxcb"),
    ("libxcb-sync.so.1", "libxcb-sync1", "libxcb"),
    ("libxcb-xfixes.so.0", "libxcb-xfixes0", "libxcb"),
    ("libxcb-xkb.so.1", "libxcb-xkb1", "libxcb"),
)


def _dlopen(soname: str) -> bool:
    """True when the dynamic loader finds ``soname`` (the same search Qt's loading does)."""
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def uses_xcb(env: Mapping[str, str]) -> bool:
    """Whether Qt will pick its xcb plugin: asked for, or an X11 session without Wayland."""
    qpa = env.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip().lower()
    if qpa:
        return qpa == "xcb"
    return bool(env.get("DISPLAY")) and not env.get("WAYLAND_DISPLAY")


def missing_libraries(
    env: Mapping[str, str] | None = None,
    *,
    platform: str | None = None,
    load: Callable[[str], bool] = _dlopen,
) -> list[Library]:
    """The libraries the window needs here and the loader cannot find (Linux only)."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux"):
        return []
    wanted = GUI_LIBRARIES + (XCB_LIBRARIES if uses_xcb(env) else ())
    return [lib for lib in wanted if not load(lib.soname)]


def x_display_reachable(display: str | None) -> bool:
    """Whether an X server answers at ``display``, asked the way Qt's xcb plugin will ask
    (libxcb's ``xcb_connect``): Qt aborts when it cannot connect.  True when libxcb itself
    cannot be loaded (``missing_libraries`` reports that)."""
    try:
        xcb = ctypes.CDLL("libxcb.so.1")
    except OSError:
        return True
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.restype = ctypes.c_int
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.restype = None
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    conn = xcb.xcb_connect(display.encode() if display else None, None)
    try:
        return bool(conn) and xcb.xcb_connection_has_error(conn) == 0
    finally:
        if conn:
            xcb.xcb_disconnect(conn)


def unreachable_display_message(display: str | None) -> str:
    return (
        f"error: cannot connect to the X display {display or '(DISPLAY unset)'!r}; check "
        "DISPLAY, or use 'webhook-inspector capture' to record headless"
    )


def _unique(names: list[str]) -> str:
    return " ".join(dict.fromkeys(names))


def missing_message(missing: list[Library]) -> str:
    """One line: what is missing and the install command for Debian/Ubuntu and Fedora."""
    libs = ", ".join(lib.soname for lib in missing)
    return (
        f"error: the window needs system libraries that are missing ({libs}); install them "
        f"with 'sudo apt install {_unique([lib.debian for lib in missing])}' (Debian/Ubuntu) "
        f"or 'sudo dnf install {_unique([lib.fedora for lib in missing])}' (Fedora), "
        "or use 'webhook-inspector capture' to record headless"
    )
