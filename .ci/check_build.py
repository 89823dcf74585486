"""After `make book`: check the built HTML, page by page.

* ``_build/html/index.html`` exists;
* every file listed in ``_toc.yml`` produced a page;
* no page shows an error output or traceback (except cells tagged ``raises-exception``);
* each captioned figure cell produced an image (a non-inline matplotlib backend drops them);
* each chapter page has one title and a Colab launch link derived from ``_config.yml``;
* pages whose notebooks use ipywidgets (or show a widget view) embed the widget state
  (``application/vnd.jupyter.widget-state+json``), without which the static book shows nothing;
* no ``<script src>`` or ``<link href>`` leaves the build (an absolute or protocol-relative URL:
  the pages must work offline; tests/test_browser.py checks the same in a browser), and each
  kernel-free explorer's page carries at most 1 MB of its data;
* the chapter notebooks themselves are in order (``booktools.check``).

Exit code 1 with one ``FAIL:`` line per problem.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from labclip_lib.book.tools import book_root, check, repo_info, toc_files

WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_SOURCE = re.compile(r"\bipywidgets\b|\binteract(ive)?\b|labclip_lib\.(book\.)?widgets|from labclip_lib(\.book)? import widgets")
#: a script or stylesheet loaded from outside the build
EXTERNAL = re.compile(r'<(?:script|link)\b[^>]*\b(?:src|href)="((?:https?:)?//[^"]+)"')
EXPLORER_DATA = re.compile(r'<script type="application/json" class="lx-data">(.*?)</script>', re.S)
ERROR_MARKERS = ("Traceback (most recent call last)", "output_traceback", 'class="output traceback')

root = book_root(Path(__file__).resolve().parent)
html = root / "_build" / "html"
url, branch = repo_info(root)
org_repo = url.removeprefix("https://github.com/")
failures: list[str] = []


def raises_exception_cells(notebook: Path) -> int:
    cells = json.loads(notebook.read_text(encoding="utf-8")).get("cells", [])
    return sum("raises-exception" in c.get("metadata", {}).get("tags", []) for c in cells)


def figure_cells(notebook: Path) -> int:
    """Code cells that declare a captioned figure (``mystnb.figure`` metadata)."""
    cells = json.loads(notebook.read_text(encoding="utf-8")).get("cells", [])
    return sum("figure" in c.get("metadata", {}).get("mystnb", {}) for c in cells if c.get("cell_type") == "code")


def uses_widgets(notebook: Path) -> bool:
    """Does any code cell of the notebook build ipywidgets (directly or via labclip_lib.book.widgets)?"""
    cells = json.loads(notebook.read_text(encoding="utf-8")).get("cells", [])
    return any(WIDGET_SOURCE.search("".join(c.get("source", ""))) for c in cells if c.get("cell_type") == "code")


if not (html / "index.html").is_file():
    failures.append("missing _build/html/index.html")

for entry in toc_files(root):
    rel = Path(entry)
    rel = rel.with_suffix("") if rel.suffix in (".md", ".ipynb") else rel
    page = html / rel.with_suffix(".html")
    if not page.is_file():
        failures.append(f"{entry}: no page {page.relative_to(root)}")
        continue
    text = page.read_text(encoding="utf-8")
    notes = []
    outside = sorted(set(EXTERNAL.findall(text)))
    if outside:
        failures.append(f"{page.relative_to(root)}: loads from outside the build: {', '.join(outside[:3])}")
    explorers = EXPLORER_DATA.findall(text)
    if explorers:
        notes.append(f"{len(explorers)} kernel-free explorer(s), {sum(map(len, explorers)) // 1024} kB")
        if sum(map(len, explorers)) > 1_000_000:
            failures.append(f"{page.relative_to(root)}: {sum(map(len, explorers)):,} bytes of explorer data (> 1 MB)")
    source = root / rel.with_suffix(".ipynb")
    # cells tagged raises-exception show their traceback on purpose; nothing else may
    expected_errors = raises_exception_cells(source) if source.is_file() else 0
    shown = max(text.count(m) for m in ERROR_MARKERS)
    if shown > expected_errors:
        failures.append(f"{page.relative_to(root)}: shows {shown} error output(s) / tracebacks "
                        f"(expected {expected_errors}: cells tagged raises-exception)")
    if source.is_file():
        # content headings carry a headerlink (the theme repeats the title once without one)
        titles = re.findall(r"<h1\b(?:(?!</h1>).)*?class=\"headerlink\"", text, flags=re.S)
        if len(titles) != 1:
            failures.append(f"{page.relative_to(root)}: {len(titles)} top-level headings (expected 1 title)")
        figures, images = figure_cells(source), len(set(re.findall(r"<img\b[^>]*\bsrc=\"[^\"]*_images/([^\"]+)\"", text)))
        if images < figures:
            failures.append(f"{page.relative_to(root)}: {figures} captioned figure cell(s) but {images} image(s) "
                            "(figures dropped: is MPLBACKEND set to a non-inline backend?)")
        notes.append(f"{images} images")
        colab = f"https://colab.research.google.com/github/{org_repo}/blob/{branch}/{rel.as_posix()}.ipynb"
        if colab not in text:
            failures.append(f"{page.relative_to(root)}: no Colab launch link {colab}")
        if uses_widgets(source) or WIDGET_VIEW in text:
            notes.append("widgets")
            if WIDGET_STATE not in text:
                failures.append(f"{page.relative_to(root)}: uses widgets but embeds no widget state ({WIDGET_STATE})")
            if WIDGET_VIEW not in text:
                failures.append(f"{page.relative_to(root)}: uses widgets but displays no widget view")
    print(f"page ok: {page.relative_to(root)} ({len(text) // 1024} kB{', ' + ', '.join(notes) if notes else ''})")

for path, problems in check(root).items():
    failures += [f"{path.relative_to(root)}: {p}" for p in problems]

for f in failures:
    print("FAIL:", f)
print(f"{len(failures)} problem(s)")
sys.exit(1 if failures else 0)
