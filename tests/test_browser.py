"""The rendered pages in a headless browser with the network cut (issue: explorers without a
kernel, pages without a CDN).

Headless Chromium (Debian's ``chromium``, driven by Playwright) opens pages from a local server;
every request to another host is aborted and fails the test, and so does any console error,
uncaught exception or failed request. On each page:

* every kernel-free explorer shows the view Python computed for its controls' values, and after
  each control is moved, the view for the new values;
* where the page has math, MathJax rendered it;
* a widget page's ipywidgets render (the embed manager served from the build).

Two books: a tiny one built here (math, an ipywidget, a kernel-free explorer), and the real one
in ``_build/html`` when it has been built (``.ci/run`` runs this file after ``make book``, with
``LABCLIP_BROWSER_REQUIRED=1`` so that a missing browser fails instead of skipping). ``make test``
skips both with a message where Chromium or Playwright is missing.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import nbformat
import pytest

from labclip_lib.book.tools import book_root, toc_files
from labclip_lib.book.vendor import VENDOR_DIR, vendored_path
from labclip_lib.runtime import cache_dir

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
#: the user's cache as the session found it (conftest gives every test an empty one): the
#: vendored JavaScript is read from there, never downloaded by a test
USER_CACHE = str(cache_dir(create=False))
REQUIRED = os.environ.get("LABCLIP_BROWSER_REQUIRED", "").strip() in ("1", "true", "yes")


def _chromium() -> str | None:
    for candidate in (os.environ.get("LABCLIP_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    return None


def _skip(reason: str):
    if REQUIRED:
        pytest.fail(reason + " (LABCLIP_BROWSER_REQUIRED is set)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _skip("no browser test: Playwright is not installed (pip install playwright; .ci/run installs it)")
    executable = _chromium()
    if executable is None:
        _skip("no browser test: no Chromium found (apt-get install chromium, or set LABCLIP_CHROMIUM)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield b
        b.close()


@contextlib.contextmanager
def serve(directory: Path):
    """A local HTTP server over ``directory``; yields its base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()


def open_page(browser, base: str, path: str):
    """The page at ``base + path`` with the network cut; returns ``(page, problems)`` where
    ``problems`` collects console errors, uncaught exceptions, failed and outside requests."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"uncaught: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed request: {r.url}"))

    def route(r):
        if r.request.url.startswith(base):
            r.continue_()
        else:
            problems.append(f"request outside the build: {r.request.url}")
            r.abort()

    page.route("**/*", route)
    page.goto(base + path, wait_until="networkidle")
    return page, problems


def _strip_src(fragment: str) -> str:
    return re.sub(r' src="data:[^"]*"', "", fragment)


def check_explorers(page) -> int:
    """Every kernel-free explorer on ``page``: the shown view is the stored view of its
    controls' values, and moving each control shows the stored view of the new values.
    Returns how many explorers were checked."""
    explorers = page.locator(".labclip-explorer")
    for i in range(explorers.count()):
        ex = explorers.nth(i)
        data = json.loads(ex.locator("script.lx-data").text_content())
        view = ex.locator(".lx-view")
        controls = ex.locator("[data-lx-control]")

        def current_key() -> str:
            return ",".join(controls.nth(j).input_value() for j in range(controls.count()))

        def shown_matches() -> None:
            key = current_key()
            assert view.get_attribute("data-lx-key") == key
            expected = data["views"].get(key, data["missing"])
            # the stored HTML as the browser parses it (it adds <tbody> to a table, for one)
            parsed = page.evaluate("html => { const d = document.createElement('div'); d.innerHTML = html; "
                                   "return d.innerHTML; }", expected)
            assert _strip_src(view.inner_html()) == _strip_src(parsed), key
            for img in view.locator("img[data-lx-asset]").all():  # figures filled from the stored assets
                assert img.get_attribute("src") == data["assets"][img.get_attribute("data-lx-asset")]

        shown_matches()
        for j in range(controls.count()):
            control = controls.nth(j)
            n = len(data["labels"][j])
            if n < 2:
                continue
            before_key, before_html = current_key(), view.inner_html()
            new = str((int(control.input_value()) + 1) % n)
            if control.evaluate("el => el.tagName") == "SELECT":
                control.select_option(new)
            else:
                control.fill(new)
            assert current_key() != before_key
            shown_matches()
            if data["views"].get(current_key()) != data["views"].get(before_key):
                assert view.inner_html() != before_html
            out = ex.locator(f'output[data-lx-for="{j}"]')
            if out.count():
                assert out.text_content() == data["labels"][j][int(new)]
    return explorers.count()


def check_math(page) -> None:
    if page.locator(".math, span.math, div.math").count() == 0:
        return
    page.wait_for_selector("mjx-container", timeout=15000)
    assert page.locator("mjx-container").count() > 0


def _vendored_cache() -> str:
    if not (vendored_path(cache=USER_CACHE) / VENDOR_DIR).is_dir():
        _skip("no browser test: the pages' JavaScript is not vendored in $LABCLIP_CACHE "
              "(run `python -m labclip_lib.book.tools vendor`; make env does)")
    return USER_CACHE


TINY_EXPLORER = """\
from labclip_lib.book.kernel_free import Control, KernelFreeView, image_uri
import numpy as np
swatch = {c: image_uri(np.full((8, 8, 3), v, np.uint8)) for c, v in (("dark", 40), ("light", 220))}
KernelFreeView("tiny", [Control("shade", ("dark", "light")), Control("n", (1, 2, 3), kind="range")],
               lambda shade, n: f'<img data-lx-asset="{shade}"><b>{shade} x {n}</b>', assets=swatch)
"""


@pytest.fixture(scope="module")
def tiny_book(tmp_path_factory, browser) -> Path:
    """A two-page book built with the book's extension: math on both pages, ipywidgets (with
    icons, which load the manager's fonts) and a kernel-free explorer on the notebook page."""
    cache = _vendored_cache()
    root = tmp_path_factory.mktemp("tiny-book")
    (root / "_config.yml").write_text(
        "title: tiny\nonly_build_toc_files: true\nexecute:\n  execute_notebooks: force\n"
        "parse:\n  myst_enable_extensions: [dollarmath, amsmath]\n"
        "sphinx:\n  extra_extensions:\n    - labclip_lib.book.pages\n")
    (root / "_toc.yml").write_text("format: jb-book\nroot: index\nchapters:\n  - file: page\n")
    (root / "index.md").write_text("# Tiny\n\nInline math $a^2 + b^2 = c^2$.\n")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Page\n\n$$x = \\frac{1}{2}$$"),
                nbformat.v4.new_code_cell("import ipywidgets as W\nW.VBox([W.IntSlider(value=3, description='n'), "
                                          "W.Dropdown(options=['a', 'b']), "
                                          "W.ToggleButtons(options=['x', 'y'], icons=['check', 'times'])])"),
                nbformat.v4.new_code_cell(TINY_EXPLORER)]
    nbformat.write(nb, root / "page.ipynb")
    jb = Path(sys.executable).with_name("jupyter-book")  # the environment's console script
    build = subprocess.run([str(jb if jb.exists() else "jupyter-book"), "build", str(root), "-W"],
                           env={**os.environ, "LABCLIP_CACHE": cache}, capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return root / "_build" / "html"


def test_a_tiny_book_needs_nothing_from_outside(browser, tiny_book):
    html = (tiny_book / "page.html").read_text()
    assert not re.findall(r'<(?:script|link)[^>]+(?:src|href)="(?:https?:)?//', html)
    with serve(tiny_book) as base:
        page, problems = open_page(browser, base, "index.html")
        check_math(page)
        page, more = open_page(browser, base, "page.html")
        check_math(page)
        page.wait_for_selector(".widget-slider, .widget-hslider", timeout=15000)
        assert check_explorers(page) == 1
        ex = page.locator(".labclip-explorer")
        ex.locator("select").select_option("1")
        ex.locator("input[type=range]").fill("2")
        assert ex.locator(".lx-view").inner_text() == "light x 3"
        assert problems + more == []


def test_the_built_book_in_a_browser(browser):
    html = ROOT / "_build" / "html"
    if not (html / "index.html").is_file():
        _skip("no browser test of the book: _build/html is not built (make book; .ci/run runs this after it)")
    root = book_root(ROOT)
    pages = [Path(entry).with_suffix(".html").as_posix() for entry in toc_files(root)]
    checked: dict[str, int] = {}
    with serve(html) as base:
        for path in pages:
            page, problems = open_page(browser, base, path)
            check_math(page)
            if page.locator('script[type="application/vnd.jupyter.widget-state+json"]').count():
                page.wait_for_selector(".jupyter-widgets", timeout=20000)
            checked[path] = check_explorers(page)
            assert problems == [], (path, problems[:5])
            page.close()
    assert sum(checked.values()) >= 6, checked  # chapters 1, 3, 4, 5, 6 and 9 each have one
