"""Missing X11 libraries are named in one line before Qt can abort (exit 134)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from inspector.gui.system_libraries import (
    XCB_LIBRARIES,
    missing_libraries,
    missing_message,
    uses_xcb,
)

ABSENT = {"libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1"}


def fake_loader(absent: set[str]):
    def load(soname: str) -> bool:
        return soname not in absent

    return load


def test_missing_xcb_libraries_are_named_with_their_packages() -> None:
    env = {"DISPLAY": ":0"}
    missing = missing_libraries(env, platform="linux", load=fake_loader(ABSENT))
    assert [lib.soname for lib in missing] == [
        "libxcb-cursor.so.0",
        "libxcb-icccm.so.4",
        "libxcb-keysyms.so.1",
    ]
    line = missing_message(missing)
    assert "\n" not in line
    assert line.startswith("error: ")
    assert "sudo apt install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1" in line
    assert "sudo dnf install xcb-util-cursor xcb-util-wm xcb-util-keysyms" in line


def test_fedora_packages_shared_by_several_libraries_are_named_once() -> None:
    absent = {"libxcb-shape.so.0", "libxcb-xkb.so.1"}
    missing = missing_libraries({"DISPLAY": ":0"}, platform="linux", load=fake_loader(absent))
    line = missing_message(missing)
    assert "sudo apt install libxcb-shape0 libxcb-xkb1' (Debian" in line
    assert "sudo dnf install libxcb' (Fedora)" in line


def test_xcb_libraries_only_matter_when_qt_will_use_xcb() -> None:
    load = fake_loader(ABSENT)
    assert missing_libraries({"QT_QPA_PLATFORM": "offscreen"}, platform="linux", load=load) == []
    assert (
        missing_libraries({"WAYLAND_DISPLAY": "w-0", "DISPLAY": ":0"}, platform="linux", load=load)
        == []
    )
    assert missing_libraries({"DISPLAY": ":0"}, platform="win32", load=load) == []
    assert missing_libraries({"QT_QPA_PLATFORM": "xcb"}, platform="linux", load=load)
    assert uses_xcb({"QT_QPA_PLATFORM": "xcb:display=:1"})
    assert not uses_xcb({"QT_QPA_PLATFORM": "wayland", "DISPLAY": ":0"})


def test_the_real_loader_finds_libc_and_not_a_made_up_library() -> None:
    from inspector.gui import system_libraries

    assert system_libraries._dlopen("libc.so.6")
    assert not system_libraries._dlopen("libwebhook-inspector-none.so.9")


def _start_window(
    tmp_path: Path, prelude: str, env_extra: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    script = textwrap.dedent(prelude) + textwrap.dedent(
        """
        import sys
        from inspector.cli import main
        sys.exit(main(["--port", "0", "--session", sys.argv[1]]))
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "s.whsession")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


# Makes the dynamic loader (as Python sees it) report libxcb-icccm missing, as on a fresh desktop.
_HIDE_ICCCM = """
import ctypes
_real = ctypes.CDLL
class _CDLL(_real):
    def __init__(self, name, *args, **kwargs):
        if name == "libxcb-icccm.so.4":
            raise OSError(name + ": cannot open shared object file: No such file or directory")
        super().__init__(name, *args, **kwargs)
ctypes.CDLL = _CDLL
"""


def _assert_one_clear_line(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 1, (result.returncode, result.stderr)  # not 134 / SIGABRT
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0]


@pytest.mark.slow
def test_window_start_with_a_missing_library_says_which_package_in_one_line(tmp_path: Path) -> None:
    # :99 has no server: before the check, Qt got as far as loading its xcb plugin and aborted.
    result = _start_window(tmp_path, _HIDE_ICCCM, {"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":99"})
    _assert_one_clear_line(result, "libxcb-icccm.so.4", "apt install libxcb-icccm4", "xcb-util-wm")


@pytest.mark.slow
def test_window_start_on_xcb_without_a_display_is_one_line(tmp_path: Path) -> None:
    result = _start_window(tmp_path, "", {"QT_QPA_PLATFORM": "xcb"})
    _assert_one_clear_line(result, "webhook-inspector capture")


@pytest.mark.slow
@pytest.mark.skipif(
    not missing_libraries({"QT_QPA_PLATFORM": "xcb"}),
    reason="this machine has every xcb library",
)
def test_window_start_where_this_machine_lacks_xcb_libraries(tmp_path: Path) -> None:
    """On a machine that really lacks some (this one did), without any patching."""
    names = [lib.soname for lib in missing_libraries({"QT_QPA_PLATFORM": "xcb"})]
    result = _start_window(tmp_path, "", {"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":99"})
    _assert_one_clear_line(result, *names)


def test_every_xcb_library_has_both_package_names() -> None:
    for lib in XCB_LIBRARIES:
        assert lib.soname.startswith("lib") and ".so." in lib.soname
        assert lib.debian and lib.fedora


# Every library the check asks for "loads" (a stand-in for the absent ones), as on a desktop
# that has them all; libxcb itself is real, so the display is really asked for.
_ALL_PRESENT = """
import ctypes
_real = ctypes.CDLL
class _CDLL(_real):
    def __init__(self, name, *args, **kwargs):
        try:
            super().__init__(name, *args, **kwargs)
        except OSError:
            if not str(name).startswith("libxcb-"):
                raise
            super().__init__("libc.so.6", *args, **kwargs)
ctypes.CDLL = _CDLL
"""


def _no_x_server_at(display: str) -> bool:
    return not Path(f"/tmp/.X11-unix/X{display.lstrip(':')}").exists()


@pytest.mark.skipif(not _no_x_server_at(":99"), reason="an X server runs at :99")
def test_an_x_display_nobody_answers_is_unreachable() -> None:
    from inspector.gui.system_libraries import x_display_reachable

    assert not x_display_reachable(":99")
    assert not x_display_reachable("no-such-host-xyz:0")


@pytest.mark.slow
@pytest.mark.skipif(not _no_x_server_at(":99"), reason="an X server runs at :99")
def test_window_start_with_display_nobody_answers_is_one_line(tmp_path: Path) -> None:
    result = _start_window(tmp_path, _ALL_PRESENT, {"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":99"})
    _assert_one_clear_line(result, "cannot connect to the X display ':99'", "capture")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("Xvfb") is None, reason="Xvfb is not installed")
def test_a_running_x_server_is_reachable(tmp_path: Path) -> None:
    from inspector.gui.system_libraries import x_display_reachable

    display = ":87"
    if not _no_x_server_at(display):
        pytest.skip(f"an X server already runs at {display}")
    server = subprocess.Popen(
        ["Xvfb", display, "-nolisten", "tcp"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while not x_display_reachable(display):
            assert time.monotonic() < deadline, "Xvfb did not come up"
            time.sleep(0.05)
    finally:
        server.terminate()
        server.wait(timeout=10)
