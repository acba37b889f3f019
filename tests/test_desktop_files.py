"""The desktop entry, the AppStream metainfo and the icons under packaging/linux/.

The validators run whenever they are installed; in CI (``CI=true``) they must be, since
``.ci/run`` installs them (Debian's desktop-file-utils and appstream), so a missing tool
fails there instead of passing silently.
"""

from __future__ import annotations

import configparser
import os
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from inspector import APP_ID

ROOT = Path(__file__).resolve().parent.parent
LINUX = ROOT / "packaging" / "linux"
DESKTOP = LINUX / f"{APP_ID}.desktop"
METAINFO = LINUX / f"{APP_ID}.metainfo.xml"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256)


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{name} is not installed; .ci/run installs it in CI")
        pytest.skip(f"{name} is not installed (apt-get install desktop-file-utils appstream)")
    return path


def desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DESKTOP, encoding="utf-8")
    return parser["Desktop Entry"]


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def test_desktop_file_validate_passes() -> None:
    done = subprocess.run(
        [tool("desktop-file-validate"), str(DESKTOP)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # Hints are not failures, but this entry has none: keep it that way.
    assert done.stdout.strip() == "", done.stdout


def test_appstreamcli_validate_passes() -> None:
    done = subprocess.run(
        [tool("appstreamcli"), "validate", "--no-net", str(METAINFO)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_entry_metainfo_and_icons_name_each_other() -> None:
    entry = desktop_entry()
    assert entry["Icon"] == APP_ID
    assert entry["Exec"] == "webhook-inspector"
    # Qt's X11 WM_CLASS is the application name run_window sets (tests/gui/test_app_identity.py).
    assert entry["StartupWMClass"] == "webhook-inspector"
    meta = ET.parse(METAINFO).getroot()
    assert meta.findtext("id") == APP_ID
    assert meta.findtext("launchable") == DESKTOP.name
    assert meta.findtext("provides/binary") == entry["Exec"]
    for size in ICON_SIZES:
        png = LINUX / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        assert png_size(png) == (size, size)


def test_metainfo_screenshots_are_the_repository_docs_images() -> None:
    meta = ET.parse(METAINFO).getroot()
    images = meta.findall("screenshots/screenshot/image")
    assert len(images) >= 2
    assert sum(1 for s in meta.findall("screenshots/screenshot") if s.get("type") == "default") == 1
    for image in images:
        url = image.text or ""
        assert url.startswith("https://") and "/docs/screenshots/" in url, url
        local = ROOT / "docs" / "screenshots" / url.rsplit("/", 1)[1]
        assert local.is_file(), f"{url} names no file in docs/screenshots"
        assert png_size(local) == (int(image.get("width", 0)), int(image.get("height", 0)))


def test_metainfo_release_is_the_package_version() -> None:
    from inspector import __version__

    meta = ET.parse(METAINFO).getroot()
    assert meta.find("releases/release").get("version") == __version__  # type: ignore[union-attr]
