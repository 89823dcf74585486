"""Book maintenance: keep every notebook's Colab install cell derived from ``_config.yml``.

The public repository URL lives in ONE place: ``repository.url`` (with ``repository.branch``)
in the book's ``_config.yml``. The launch buttons are built from it by jupyter-book, and this
module derives the Colab install cell of every chapter from it::

    python -m labclip_lib.book.tools sync    # rewrite install cells, strip outputs
    python -m labclip_lib.book.tools check   # exit 1 if any chapter is out of order

Conventions for a chapter (an ``.ipynb`` under ``notebooks/`` listed in ``_toc.yml``):

* **first code cell**: the Colab-only install cell, exactly :func:`install_cell_source`
  (with the package extras the notebook's metadata lists under ``labclip.colab_extras``, e.g.
  ``["benchmarks"]`` for chapter 10's real data), with
  the cell tags ``colab-install`` (how ``sync`` finds it) and ``hide-cell`` (the book shows it
  collapsed, so readers can see how Colab gets ``labclip_lib``; ``remove-cell`` would hide it
  from the page entirely). Outside Colab the ``if`` is false and the cell does nothing; on Colab,
  a failed install prints the repository it tried and that ``repository.url`` names it.
* **second code cell**: tagged ``parameters`` (``MODEL_ID``, seeds, sizes).
* **no outputs or execution counts**: the book executes the notebooks itself.

``sync`` writes a notebook only when its content changes, with nbformat's own formatting
(one-space JSON indent and a trailing newline, as Jupyter writes it), so an in-order
notebook is never touched. It also drops notebook-level ``metadata.widgets`` (saved widget
state is output; Colab saves it in a form the book cannot render).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import nbformat
import yaml

from .vendor import VENDOR_DIR, vendor_assets

__all__ = [
    "INSTALL_TAGS",
    "book_root",
    "repo_info",
    "repo_url",
    "install_requirement",
    "install_cell_source",
    "notebook_extras",
    "toc_files",
    "toc_notebooks",
    "synced_text",
    "sync",
    "check",
    "main",
]

INSTALL_TAG = "colab-install"
INSTALL_TAGS = [INSTALL_TAG, "hide-cell"]
PARAMETERS_TAG = "parameters"
NOTEBOOK_DIR = "notebooks"


def book_root(start: str | Path | None = None) -> Path:
    """The folder holding ``_config.yml`` and ``_toc.yml`` (searching upwards from ``start``,
    default the current directory)."""
    here = Path(start or Path.cwd()).resolve()
    for p in (here, *here.parents):
        if (p / "_config.yml").is_file() and (p / "_toc.yml").is_file():
            return p
    raise FileNotFoundError(f"no _config.yml and _toc.yml found in {here} or its parents")


def _yaml(path: Path) -> dict:

    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


def repo_info(root: str | Path | None = None) -> tuple[str, str]:
    """``(url, branch)`` of the public repository, read from ``_config.yml``."""
    cfg = _yaml(book_root(root) / "_config.yml")
    repo = cfg.get("repository") or {}
    url, branch = repo.get("url"), repo.get("branch")
    if not url or not branch:
        raise ValueError("_config.yml must set repository.url and repository.branch")
    url = str(url).strip().rstrip("/")
    if url.endswith(".git"):
        url = url[: -len(".git")]
    return url, str(branch).strip()


def repo_url(root: str | Path | None = None) -> str:
    """The public repository URL (``repository.url`` of ``_config.yml``)."""
    return repo_info(root)[0]


_EXTRA = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def install_requirement(url: str | None = None, branch: str | None = None, root: str | Path | None = None,
                        extras: tuple[str, ...] = ()) -> str:
    """The pip requirement that installs ``labclip_lib`` from the repository (Colab's install):
    ``labclip_lib[extras] @ git+<url>@<branch>``.

    ``url``/``branch`` default to the values in ``_config.yml`` (found from ``root``);
    ``extras``: package extras to install with it (``labclip_lib[benchmarks]``).
    """
    bad = [e for e in extras if not isinstance(e, str) or not _EXTRA.match(e)]
    if bad:
        raise ValueError(f"not a package extra name: {bad}")
    if url is None or branch is None:
        cfg_url, cfg_branch = repo_info(root)
        url = cfg_url if url is None else url
        branch = cfg_branch if branch is None else branch
    package = f"labclip_lib[{','.join(extras)}]" if extras else "labclip_lib"
    return f"{package} @ git+{url.rstrip('/')}@{branch}"


def notebook_extras(nb) -> tuple[str, ...]:
    """The package extras a notebook's Colab install cell installs: its metadata's
    ``labclip.colab_extras`` (a list of names; none by default)."""
    extras = (nb.metadata.get("labclip") or {}).get("colab_extras", [])
    if not isinstance(extras, list):
        raise ValueError(f"metadata labclip.colab_extras must be a list of extra names, got {extras!r}")
    return tuple(extras)


def install_cell_source(url: str | None = None, branch: str | None = None, root: str | Path | None = None,
                        extras: tuple[str, ...] = ()) -> str:
    """The exact source of the Colab-only install cell (the first code cell of a chapter).

    Plain Python (pip in a subprocess, no IPython magic), so the cell runs the same in Jupyter,
    in the book's headless execution and on Colab; only on Colab is the condition true. When pip
    fails, the cell prints pip's message, the repository it tried and that ``repository.url`` in
    ``_config.yml`` names it (the one line a fork changes), then stops the run.
    """
    if url is None or branch is None:
        cfg_url, cfg_branch = repo_info(root)
        url = cfg_url if url is None else url
        branch = cfg_branch if branch is None else branch
    requirement = install_requirement(url, branch, extras=extras)
    hint = [
        f"Could not install labclip_lib from {url.rstrip('/')} (branch {branch}).\n",
        "That repository is repository.url (with repository.branch) in the book's _config.yml:\n",
        "for a fork, change that line and run `python -m labclip_lib.book.tools sync`.",
    ]
    return (
        "# Colab only: install labclip_lib from the book's repository\n"
        "import subprocess\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        f"    _requirement = {json.dumps(requirement)}\n"
        "    _pip = subprocess.run(\n"
        '        [sys.executable, "-m", "pip", "install", "-q", _requirement], capture_output=True, text=True\n'
        "    )\n"
        "    if _pip.returncode != 0:\n"
        "        print(_pip.stdout[-2000:] + _pip.stderr[-2000:])\n"
        "        print(\n"
        + "".join(f"            {json.dumps(line)}\n" for line in hint)
        + "        )\n"
        '        raise RuntimeError("labclip_lib is not installed: see the message above")'
    )


def toc_files(root: str | Path | None = None) -> list[str]:
    """Every ``file`` entry of ``_toc.yml`` (and its ``root``), in order, as written."""
    root = book_root(root)
    toc = _yaml(root / "_toc.yml")
    files: list[str] = [str(toc["root"])] if toc.get("root") else []

    def walk(node) -> None:
        if isinstance(node, dict):
            if "file" in node:
                files.append(str(node["file"]))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk({k: v for k, v in toc.items() if k != "root"})
    return files


def _resolve(root: Path, entry: str) -> Path | None:
    """The source file of a toc entry (``.ipynb`` preferred, then ``.md``), or None."""
    p = root / entry
    if p.suffix in (".ipynb", ".md"):
        return p if p.is_file() else None
    for ext in (".ipynb", ".md"):
        if p.with_suffix(ext).is_file():
            return p.with_suffix(ext)
    return None


def toc_notebooks(root: str | Path | None = None) -> list[Path]:
    """The chapter notebooks: every existing ``.ipynb`` under ``notebooks/`` listed in the toc."""
    root = book_root(root)
    out = []
    for entry in toc_files(root):
        p = _resolve(root, entry)
        if p is not None and p.suffix == ".ipynb" and p.relative_to(root).parts[0] == NOTEBOOK_DIR:
            out.append(p)
    return out


def _code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _fresh_cell_id(nb) -> str:
    taken = {c.get("id") for c in nb.cells}
    cid, i = INSTALL_TAG, 1
    while cid in taken:
        cid, i = f"{INSTALL_TAG}-{i}", i + 1
    return cid


def synced_text(text: str, expected_source: str) -> str:
    """The notebook JSON ``text`` after sync: install cell first, no outputs."""

    nb = nbformat.reads(text, as_version=4)
    code = _code_cells(nb)
    if code and INSTALL_TAG in _tags(code[0]):
        cell = code[0]
    else:
        tagged = [c for c in code if INSTALL_TAG in _tags(c)]
        if tagged:  # an install cell that is not first: move it to the front
            cell = tagged[0]
            nb.cells.remove(cell)
        else:
            cell = nbformat.v4.new_code_cell()
            if nb.nbformat == 4 and nb.nbformat_minor >= 5:
                cell.id = _fresh_cell_id(nb)
            else:
                cell.pop("id", None)
        first_code = _code_cells(nb)
        nb.cells.insert(nb.cells.index(first_code[0]) if first_code else len(nb.cells), cell)
    cell.source = expected_source
    tags = [t for t in _tags(cell) if t not in INSTALL_TAGS and t != "remove-cell"]
    cell.metadata["tags"] = INSTALL_TAGS + tags
    for c in _code_cells(nb):
        c.outputs = []
        c.execution_count = None
    nb.metadata.pop("widgets", None)
    return nbformat.writes(nb) + "\n"


def _expected(text: str, root: Path) -> str:
    return install_cell_source(root=root, extras=notebook_extras(nbformat.reads(text, as_version=4)))


def sync(root: str | Path | None = None) -> list[Path]:
    """Rewrite the install cell of every chapter and strip outputs.

    Returns the notebooks that changed; a notebook already in order is not written.
    """
    root = book_root(root)
    changed = []
    for path in toc_notebooks(root):
        before = path.read_text(encoding="utf-8")
        after = synced_text(before, _expected(before, root))
        if after != before:
            path.write_text(after, encoding="utf-8")
            changed.append(path)
    return changed


# A markdown cell whose every non-empty line starts with "#" and which has comment-style lines
# ("# text", or a bare "#") is almost surely py:percent text pasted into a markdown cell: it
# renders as a stack of headings.
_COMMENT_LINE = re.compile(r"^#( |$)")


def _looks_like_commented_markdown(source: str) -> bool:
    lines = [ln for ln in source.splitlines() if ln.strip()]
    if len(lines) < 2:
        return False
    return all(_COMMENT_LINE.match(ln) for ln in lines) and any(
        ln.strip() == "#" or ln.startswith("# #") for ln in lines
    )


def _problems(text: str, expected: str) -> list[str]:

    nb = nbformat.reads(text, as_version=4)
    code = _code_cells(nb)
    out = []
    if not code or INSTALL_TAG not in _tags(code[0]) or code[0].source != expected:
        out.append(
            f"the first code cell must be the Colab install cell tagged {INSTALL_TAG!r}, "
            "derived from _config.yml"
        )
    if len(code) < 2 or PARAMETERS_TAG not in _tags(code[1]):
        out.append(f"the second code cell must be tagged {PARAMETERS_TAG!r}")
    if any(c.get("outputs") or c.get("execution_count") is not None for c in code):
        out.append("has outputs or execution counts (commit notebooks stripped: the book executes them)")
    for i, c in enumerate(nb.cells):
        if c.cell_type == "markdown" and _looks_like_commented_markdown(c.source):
            out.append(f"markdown cell {i} is '# '-commented text (py:percent leaking into markdown)")
    if not out and synced_text(text, expected) != text:
        out.append("not in sync (run: python -m labclip_lib.book.tools sync)")
    return out


def check(root: str | Path | None = None) -> dict[Path, list[str]]:
    """Problems per chapter notebook (an empty dict when every chapter is in order).

    Also reports toc entries whose source file does not exist.
    """
    root = book_root(root)
    out: dict[Path, list[str]] = {}
    for entry in toc_files(root):
        if _resolve(root, entry) is None:
            out[root / entry] = ["listed in _toc.yml but no such .ipynb or .md file"]
    for path in toc_notebooks(root):
        text = path.read_text(encoding="utf-8")
        problems = _problems(text, _expected(text, root))
        if problems:
            out[path] = problems
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m labclip_lib.book.tools",
        description="Keep the chapters' Colab install cells derived from _config.yml.",
    )
    ap.add_argument("command", choices=["sync", "check", "vendor"],
                    help="sync: rewrite notebooks; check: verify only; vendor: fetch the pages' JavaScript "
                         "(MathJax, require.js, the widget manager) from the npm registry once")
    ap.add_argument("--root", default=None, help="book folder (default: found upwards from the cwd)")
    args = ap.parse_args(argv)
    if args.command == "vendor":
        print(f"vendored: {vendor_assets() / VENDOR_DIR}")
        return 0
    root = book_root(args.root)
    if args.command == "sync":
        changed = sync(root)
        for p in changed:
            print(f"synced {p.relative_to(root)}")
        print(f"{len(toc_notebooks(root))} chapter notebook(s), {len(changed)} updated; repository {repo_url(root)}")
        return 0
    problems = check(root)
    for p, msgs in problems.items():
        for m in msgs:
            print(f"{p.relative_to(root)}: {m}", file=sys.stderr)
    if not problems:
        print(f"{len(toc_notebooks(root))} chapter notebook(s) in order")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
