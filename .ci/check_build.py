"""After the book build: every toc page exists, no page shows an error, widgets are embedded."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

from labclip_lib.booktools import book_root, check, toc_notebooks

root = book_root(Path(__file__).parent)
html = root / "_build" / "html"
failures = []
if not (html / "index.html").is_file():
    failures.append("missing _build/html/index.html")
for nb_path in toc_notebooks(root):
    page = html / nb_path.relative_to(root).with_suffix(".html")
    if not page.is_file():
        failures.append(f"missing page {page}")
        continue
    text = page.read_text(encoding="utf-8")
    if "Traceback (most recent call last)" in text or "output_error" in text:
        failures.append(f"{page} shows an error output")
    uses_widgets = any("widget" in c.source for c in nbformat.read(nb_path, as_version=4).cells
                       if c.cell_type == "code")
    if uses_widgets and "application/vnd.jupyter.widget-state+json" not in text:
        failures.append(f"{page} uses widgets but embeds no widget state")
    print(f"ok: {page.relative_to(root)} ({len(text) // 1024} kB)")
for path, problems in check(root).items():
    failures += [f"{path}: {p}" for p in problems]
for f in failures:
    print("FAIL:", f)
sys.exit(1 if failures else 0)
