"""packaging/install-desktop.sh: installs the menu entry for the current user, and removes it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from inspector import APP_ID
from tests.test_desktop_files import ICON_SIZES, png_size

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "packaging" / "install-desktop.sh"


def run(home: Path, *args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "XDG_DATA_HOME"}
    env["HOME"] = str(home)
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        ["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def command(tmp_path: Path) -> Path:
    """A stand-in webhook-inspector in a folder whose name needs quoting in Exec=."""
    folder = tmp_path / "my apps $HOME"
    folder.mkdir()
    exe = folder / "webhook-inspector"
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    return exe


def installed(home: Path) -> list[Path]:
    share = home / ".local" / "share"
    return [
        share / "applications" / f"{APP_ID}.desktop",
        share / "metainfo" / f"{APP_ID}.metainfo.xml",
        share / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg",
        *(share / "icons" / "hicolor" / f"{s}x{s}" / "apps" / f"{APP_ID}.png" for s in ICON_SIZES),
    ]


def test_install_finds_the_command_on_path_and_uninstall_removes_it(
    tmp_path: Path, command: Path
) -> None:
    home = tmp_path / "home"
    done = run(home, path=f"{command.parent}{os.pathsep}{os.environ['PATH']}")
    assert done.returncode == 0, done.stderr
    files = installed(home)
    for f in files:
        assert f.is_file(), f
    for size in ICON_SIZES:
        assert png_size(files[3 + ICON_SIZES.index(size)]) == (size, size)
    entry = files[0].read_text()
    # The Desktop Entry spec's quoting: "$" is \$ in a quoted argument, "\" doubled as a string.
    assert f'Exec="{command.parent.parent}/my apps \\\\$HOME/webhook-inspector"\n' in entry
    assert f"Icon={APP_ID}\n" in entry
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(
            ["desktop-file-validate", str(files[0])], capture_output=True, text=True
        )
        assert check.returncode == 0, check.stdout

    keep = home / ".local" / "share" / "applications" / "other.desktop"
    keep.write_text("[Desktop Entry]\n")
    done = run(home, "--uninstall")
    assert done.returncode == 0, done.stderr
    assert not any(f.exists() for f in files)
    assert keep.exists()


def test_install_with_an_explicit_frozen_build(tmp_path: Path, command: Path) -> None:
    home = tmp_path / "home"
    done = run(home, "--exec", str(command), path="/usr/bin:/bin")
    assert done.returncode == 0, done.stderr
    assert "Exec=" in installed(home)[0].read_text()


def test_install_without_a_command_is_one_error_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = run(home, path="/usr/bin:/bin")
    assert done.returncode != 0
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: no webhook-inspector")
    assert not (home / ".local").exists()
    done = run(home, "--exec", str(tmp_path / "missing"), path="/usr/bin:/bin")
    assert done.returncode != 0 and done.stderr.startswith("error: not an executable")
