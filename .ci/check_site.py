"""Check the built documentation site as a reader would meet it.

1. Every internal link and image in every page resolves to a file in the site (anchors
   included: ``page/#section`` must name an ``id`` on that page).
2. A real headless browser (Chromium) opens the home page and one lesson from a local
   HTTP server and saves screenshots, so a person can look at them; the page must have
   rendered its title and, for the lesson, an executed cell's output and an SVG picture.

Usage: ``python .ci/check_site.py SITE_DIR SCREENSHOT_DIR``. Exits non-zero on a broken
link or a page that did not render. Without Chromium the browser half fails when ``CI``
is set and is skipped (with a message) otherwise.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

LESSON = "notebooks/01_pin_outlives_process/index.html"


class _Links(HTMLParser):
    """Collects the links, image sources and element ids of one page."""

    def __init__(self) -> None:
        super().__init__()
        self.targets: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(values["id"] or "")
        if values.get("name") and tag == "a":
            self.ids.add(values["name"] or "")
        for attribute in ("href", "src"):
            value = values.get(attribute)
            if value and tag in ("a", "img", "link", "script"):
                self.targets.append(value)


def _parse(page: Path) -> _Links:
    parser = _Links()
    parser.feed(page.read_text(errors="replace"))
    return parser


def _resolve(site: Path, page: Path, target: str) -> tuple[Path, str] | None:
    """The file and anchor an internal link names, or None for an external one."""
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or target.startswith(("mailto:", "data:", "javascript:")):
        return None
    path, anchor = urldefrag(unquote(target))
    if path.startswith("/"):  # absolute links (the 404 page's) start at the site's root
        resolved = (site / path.lstrip("/")).resolve()
    else:
        resolved = (page.parent / path).resolve() if path else page
    if resolved.is_dir():
        resolved = resolved / "index.html"
    if not str(resolved).startswith(str(site.resolve())):
        return resolved, anchor  # outside the site: reported as broken by the caller
    return resolved, anchor


def broken_links(site: Path) -> list[str]:
    """Every internal link or anchor that names nothing, as 'page: target'."""
    pages = {page.resolve(): _parse(page) for page in site.rglob("*.html")}
    broken = []
    for page, links in sorted(pages.items()):
        for target in links.targets:
            resolved = _resolve(site, page, target)
            if resolved is None:
                continue
            file, anchor = resolved
            if not file.exists():
                broken.append(f"{page.relative_to(site.resolve())}: {target}")
            elif anchor and file.suffix == ".html":
                ids = pages[file].ids if file in pages else _parse(file).ids
                if anchor not in ids:
                    broken.append(f"{page.relative_to(site.resolve())}: {target} (no anchor)")
    return broken


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def _serve(site: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def _browser(chromium: str, profile: str, *args: str) -> subprocess.CompletedProcess[str]:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1280,1600",
    ]
    return subprocess.run(
        [chromium, *flags, *args], capture_output=True, text=True, timeout=120, check=False
    )


def browse(site: Path, shots: Path) -> list[str]:
    """Screenshots of the home page and a lesson; the problems seen, if any."""
    chromium = _chromium()
    if chromium is None:
        if os.environ.get("CI"):
            return ["chromium is not installed (CI installs Debian's chromium package)"]
        print("check_site: chromium not found, browser check skipped", file=sys.stderr)
        return []
    shots.mkdir(parents=True, exist_ok=True)
    server, root = _serve(site)
    problems = []
    try:
        with tempfile.TemporaryDirectory() as profile:
            for name, page, must_show in (
                ("index", "", "pinfs"),
                ("lesson", LESSON, "<svg"),
            ):
                url = root + page
                dom = _browser(chromium, profile, "--dump-dom", url).stdout
                if must_show not in dom:
                    problems.append(f"{url} did not render {must_show!r}")
                if name == "lesson" and "jp-OutputArea" not in dom:
                    problems.append(f"{url} shows no executed cell output")
                shot = shots / f"{name}.png"
                _browser(chromium, profile, f"--screenshot={shot}", url)
                if not shot.exists() or shot.stat().st_size < 10_000:
                    problems.append(f"no screenshot of {url}")
                else:
                    print(f"check_site: screenshot {shot}")
    finally:
        server.shutdown()
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    site, shots = Path(argv[1]), Path(argv[2])
    problems = [f"broken link: {link}" for link in broken_links(site)]
    problems += browse(site, shots)
    for problem in problems:
        print(f"check_site: {problem}", file=sys.stderr)
    pages = sum(1 for _ in site.rglob("*.html"))
    print(f"check_site: {pages} pages, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
