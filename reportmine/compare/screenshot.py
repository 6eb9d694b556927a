"""Render a page in headless Chromium, check it, and keep a screenshot.

    python -m reportmine.compare.screenshot reports/demo/index.html reports/demo/screenshot.png

Checks: Chromium loads the file with no console errors, every <img> is an inline PNG that
decodes, and the screenshot is written. Uses Debian's ``chromium`` with the flags this
closed network needs (no background networking, fresh profile).
"""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

from ..core.outputs import add_to_folder_output

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--enable-logging=stderr", "--v=0"]


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.sources.append(dict(attrs).get("src", ""))


def check_images(html: str) -> list[str]:
    # PIL is optional (the ynet extra): loaded lazily, only to decode the page's images
    from PIL import Image

    parser = _Images()
    parser.feed(html)
    problems = []
    for src in parser.sources:
        if not src.startswith("data:image/png;base64,"):
            problems.append(f"image not inline: {src[:60]}")
            continue
        try:
            Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).verify()
        except Exception as exc:  # PIL raises several types for a broken image
            problems.append(f"inline image does not decode ({type(exc).__name__})")
    return problems


def render(page: Path, png: Path, width: int = 1280, height: int = 5200, browser: str | None = None) -> list[str]:
    browser = browser or shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        return ["chromium not found (apt-get install chromium)"]
    problems = check_images(page.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
                               f"--screenshot={png}", page.resolve().as_uri()], capture_output=True, text=True,
                              timeout=120)
    console = [line for line in done.stderr.splitlines() if re.search(r"CONSOLE|Uncaught|Failed to load", line)]
    problems += [f"console: {line.strip()}" for line in console]
    if done.returncode != 0 or not png.exists():
        problems.append(f"chromium exited {done.returncode}: {done.stderr.strip().splitlines()[-1:]}")
    return problems


def main(argv=None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 2:
        print("usage: python -m reportmine.compare.screenshot PAGE.html OUT.png", file=sys.stderr)
        return 2
    problems = render(Path(args[0]), Path(args[1]))
    if Path(args[1]).exists():
        add_to_folder_output(args[1])  # a screenshot inside a page folder belongs to that output
    for p in problems:
        print(p)
    print("ok: no console errors, every image inline and decodable" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
