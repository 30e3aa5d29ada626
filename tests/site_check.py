"""Checks of the static site (tests/test_site.py, and the screenshots of the issue note): served from a local
port, each page opened in headless Chromium (Playwright), every request that leaves the machine refused and
reported; links and anchors checked in the HTML files themselves."""
from __future__ import annotations

import functools
import html.parser
import http.server
import re
import threading
import urllib.parse
from pathlib import Path
from typing import Any

#: Raw TeX left in a page's visible text: math that MathJax did not typeset.
RAW_MATH = re.compile(r"\\frac|\\begin\{|\$[^$\n]{0,200}\\[A-Za-z]+[^$\n]{0,200}\$")


class _Html(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("name"):
            self.ids.add(a["name"])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])


def broken_links(root: Path) -> list[str]:
    """Internal links (relative hrefs) of every page under ``root`` whose file or anchor does not exist."""
    parsed: dict[Path, _Html] = {}

    def page(path: Path) -> _Html:
        if path not in parsed:
            p = _Html()
            p.feed(path.read_text(errors="replace"))
            parsed[path] = p
        return parsed[path]

    problems = []
    for path in sorted(root.rglob("*.html")):
        if "_static" in path.relative_to(root).parts:      # the theme's template fragments, not pages
            continue
        for href in page(path).links:
            url = urllib.parse.urlsplit(href)
            if url.scheme or url.netloc or href.startswith(("mailto:", "javascript:")):
                continue                                            # leaves the site: not ours to check
            target = (path.parent / urllib.parse.unquote(url.path)).resolve() if url.path else path
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                problems.append(f"{path.relative_to(root)}: link {href!r}: no file {target}")
            elif url.fragment and target.suffix == ".html" and url.fragment not in page(target).ids:
                problems.append(f"{path.relative_to(root)}: link {href!r}: no anchor #{url.fragment}")
    return problems


class SiteServer:
    """``root`` served on 127.0.0.1 (a free port) in a thread; ``url(path)``; ``close()``."""

    def __init__(self, root: Path) -> None:
        handler = functools.partial(_Quiet, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, rel: str) -> str:
        return self.base + rel

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def check_page(page: Any, url: str, base: str) -> dict[str, Any]:
    """Open ``url`` in ``page`` (a Playwright page) and report: console errors, requests that left ``base``
    (refused), failed requests, images not shown, raw TeX in the visible text, typeset equations, visible text."""
    seen: dict[str, list[str]] = {"console": [], "outside": [], "failed": []}
    def on_console(msg: Any) -> None:
        if msg.type == "error":
            seen["console"].append(msg.text)

    def route(r: Any) -> None:
        if r.request.url.startswith(base) or r.request.url.startswith(("data:", "blob:", "about:")):
            r.continue_()
        else:
            seen["outside"].append(r.request.url)
            r.abort()

    page.on("console", on_console)
    page.on("pageerror", lambda err: seen["console"].append(str(err)))
    page.on("requestfailed", lambda req: seen["failed"].append(f"{req.url} ({req.failure})"))
    page.route("**/*", route)
    try:
        page.goto(url, wait_until="load")
        page.evaluate("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        page.wait_for_load_state("networkidle")
        result = page.evaluate("""() => {
            const imgs = [...document.images];
            const hidden = (el) => el.closest('pre, code, .pre, .sig, .highlight, script, style, mjx-container, .cell_output');
            const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
            let text = '', n;
            while ((n = walker.nextNode())) { if (!hidden(n.parentElement)) text += n.textContent + '\\n'; }
            return {images: imgs.length,
                    broken: imgs.filter((i) => !(i.complete && i.naturalWidth > 0)).map((i) => i.src),
                    math: document.querySelectorAll('mjx-container').length,
                    prose: text, all: document.body.innerText};
        }""")
    finally:
        page.unroute("**/*")
        page.remove_listener("console", on_console)
    raw = sorted(set(m.group(0)[:80] for m in RAW_MATH.finditer(result["prose"])))
    return {**seen, **result, "raw_math": raw}


def problems_of(name: str, found: dict[str, Any]) -> list[str]:
    """The failures in one page's report."""
    out = [f"{name}: console error: {m[:200]}" for m in found["console"]]
    out += [f"{name}: a request left the machine: {u}" for u in found["outside"]]
    out += [f"{name}: request failed: {u}" for u in found["failed"]]
    out += [f"{name}: image not shown: {u}" for u in found["broken"]]
    out += [f"{name}: raw TeX in the text: {t!r}" for t in found["raw_math"]]
    return out
