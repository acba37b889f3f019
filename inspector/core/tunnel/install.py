"""Installing the ngrok agent, with progress, for a user who has none."""

from __future__ import annotations

import logging
import os
import shutil
import tarfile
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable

from pyngrok import conf, installer
from pyngrok.exception import PyngrokError

from inspector.core.tunnel.failures import TunnelError

log = logging.getLogger(__name__)


def install_agent(
    progress_callback: Callable[[int], None] | None = None,
    *,
    ngrok_path: str | None = None,
    url: str | None = None,
    timeout: float = 10.0,
    cancel: threading.Event | None = None,
) -> str:
    """Download ngrok v3 from pyngrok's CDN address to the resolved path, reporting 0-100 %.

    pyngrok's own installer prints its progress to stdout; this one reports it to a callback
    (a progress bar) and can be cancelled. Returns the installed path.
    """
    target = ngrok_path or os.environ.get("PYNGROK_NGROK_PATH") or conf.DEFAULT_NGROK_PATH
    target = os.path.expanduser(target)
    try:
        source = url or installer.get_ngrok_cdn_url("3")
    except PyngrokError as exc:
        raise TunnelError(
            "download_failed",
            f"ngrok cannot be downloaded for this platform ({exc}); install it from "
            "https://ngrok.com/download and choose its path in Tunnel settings.",
        ) from None
    parsed = urllib.parse.urlsplit(source)
    if parsed.scheme != "https" and parsed.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"refusing to download ngrok over {parsed.scheme}")

    def report(percent: int) -> None:
        if progress_callback is not None:
            progress_callback(max(0, min(100, percent)))

    def offline() -> TunnelError:
        return TunnelError(
            "download_failed",
            "ngrok cannot be downloaded: no internet connection; connect and try again, or "
            "install ngrok yourself and choose its path in Tunnel settings.",
        )

    report(0)
    suffix = ".zip" if parsed.path.endswith(".zip") else ".tgz"
    fd, archive = tempfile.mkstemp(prefix="ngrok-download-", suffix=suffix)
    try:
        try:
            with (
                urllib.request.urlopen(source, timeout=timeout) as response,
                os.fdopen(fd, "wb") as out,
            ):
                total = int(response.headers.get("Content-Length") or 0)
                done = 0
                while True:
                    if cancel is not None and cancel.is_set():
                        raise TunnelError("cancelled", "The ngrok download was cancelled.")
                    chunk = response.read(64 * 1024)
                    if not chunk:
                        break
                    out.write(chunk)
                    done += len(chunk)
                    if total:
                        report(int(done * 95 / total))
        except urllib.error.HTTPError as exc:
            raise TunnelError(
                "download_failed",
                f"ngrok cannot be downloaded: the download server answered HTTP {exc.code}; try "
                "again later, or install ngrok yourself and choose its path in Tunnel settings.",
            ) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            log.info("ngrok download failed: %s", exc)
            raise offline() from None
        _extract_agent(archive, target)
    finally:
        try:
            os.unlink(archive)
        except OSError:
            pass
    report(100)
    return target


def _extract_agent(archive: str, target: str) -> None:
    """Copy only the ngrok executable out of the archive, atomically, as 0755."""
    name = os.path.basename(target) if os.path.basename(target).startswith("ngrok") else "ngrok"
    wanted = {name, "ngrok", "ngrok.exe"}
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    tmp = f"{target}.part"
    try:
        if archive.endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                member = next(n for n in zf.namelist() if os.path.basename(n) in wanted)
                with zf.open(member) as src, open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        else:
            with tarfile.open(archive, "r:gz") as tf:
                tmember = next(
                    m for m in tf.getmembers() if m.isfile() and os.path.basename(m.name) in wanted
                )
                packed = tf.extractfile(tmember)
                if packed is None:
                    raise StopIteration
                with packed, open(tmp, "wb") as dst:
                    shutil.copyfileobj(packed, dst)
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)
    except (StopIteration, tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as exc:
        log.info("ngrok archive unusable: %s", exc.__class__.__name__)
        raise TunnelError(
            "download_failed",
            "The downloaded ngrok archive is damaged; try the install again, or install ngrok "
            "yourself and choose its path in Tunnel settings.",
        ) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
