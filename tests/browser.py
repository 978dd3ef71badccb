"""Drive Debian's headless Chromium from tests: one launch gives the DOM after scripts ran and a
screenshot, so a page can be checked the way a person would open it, not just as markup.

Chromium is a system package installed by the test set-up (``apt-get install -y chromium``); a
missing browser is a set-up error the tests report, never a reason to skip.
"""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
INSTALL_HINT = (
    f"{CHROMIUM} is missing: the test set-up must install Debian's Chromium first, as root: "
    "`apt-get update && apt-get install -y chromium`"
)
FLAGS = (
    "--headless",
    "--no-sandbox",  # tests run as root in containers, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",  # page console messages and uncaught errors appear as CONSOLE lines
    "--v=0",
)


def chromium() -> Path:
    """The browser binary, or an error that says how the set-up must provide it."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        raise FileNotFoundError(INSTALL_HINT)
    return CHROMIUM


@dataclass
class PageRun:
    """What one headless load of a page produced."""

    dom: str
    console: list[str]
    screenshot: Path | None
    seconds: float
    stderr: str = field(repr=False, default="")

    def body_attributes(self) -> dict[str, str]:
        return _BodyAttributes.of(self.dom)

    def count_tags(self, tag: str, css_class: str | None = None) -> int:
        return _TagCounter.of(self.dom, tag, css_class)


def load_page(
    page: Path,
    *,
    screenshot: Path | None = None,
    window: tuple[int, int] = (1280, 2400),
    timeout: float = 25.0,
) -> PageRun:
    """Open ``page`` (a local file) once; return the serialized DOM, console lines and screenshot.

    A fresh profile in a temporary folder keeps runs independent; the browser runs in its own
    process group so a hung run is killed with all its helper processes.
    """
    binary = chromium()
    profile = Path(tempfile.mkdtemp(prefix="anon-ops-chromium-"))
    args = [str(binary), *FLAGS, f"--user-data-dir={profile}", f"--window-size={window[0]},{window[1]}"]
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        screenshot.unlink(missing_ok=True)
        args.append(f"--screenshot={screenshot}")
    args += ["--dump-dom", page.resolve().as_uri()]
    started = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, cwd=profile)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise TimeoutError(f"chromium did not finish loading {page.name} within {timeout} s") from None
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    if proc.returncode != 0:
        raise RuntimeError(f"chromium exited with {proc.returncode}: {err[-2000:]}")
    console = [line for line in err.splitlines() if ":CONSOLE" in line]
    return PageRun(out, console, screenshot, time.perf_counter() - started, err)


class _BodyAttributes(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.attributes: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body" and not self.attributes:
            self.attributes = {k: v or "" for k, v in attrs}

    @classmethod
    def of(cls, dom: str) -> dict[str, str]:
        parser = cls()
        parser.feed(dom)
        return parser.attributes


class _TagCounter(HTMLParser):
    def __init__(self, tag: str, css_class: str | None) -> None:
        super().__init__()
        self.tag, self.css_class, self.count = tag, css_class, 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if tag == self.tag and (self.css_class is None or self.css_class in classes):
            self.count += 1

    @classmethod
    def of(cls, dom: str, tag: str, css_class: str | None) -> int:
        parser = cls(tag, css_class)
        parser.feed(dom)
        return parser.count


@dataclass(frozen=True)
class PngFacts:
    width: int
    height: int
    distinct_bytes: int  # of the decompressed image data: a blank page has a handful


def png_facts(path: Path) -> PngFacts:
    """Size and a blankness measure of a PNG, with the standard library only."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    width, height = struct.unpack(">II", data[16:24])
    pos, idat = 8, b""
    while pos < len(data):
        length = struct.unpack(">I", data[pos:pos + 4])[0]
        kind = data[pos + 4:pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    return PngFacts(width, height, len(set(zlib.decompress(idat))))
