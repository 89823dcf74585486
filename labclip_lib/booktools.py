"""Book maintenance: keep every notebook's Colab install cell derived from ``_config.yml``.

The public repository URL lives in one place, ``repository.url`` (and ``branch``) of
``_config.yml``. ``python -m labclip_lib.booktools sync`` rewrites the first code cell of every
notebook listed in ``_toc.yml`` to install ``labclip_lib`` from that repository on Colab and
strips outputs; ``check`` fails when a notebook is out of sync, carries outputs, or lacks the
install cell or the ``parameters`` cell.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["book_root", "repo_info", "install_cell_source", "toc_notebooks", "sync", "check"]

INSTALL_TAGS = ["colab-install", "hide-cell"]


def book_root(start: str | Path | None = None) -> Path:
    """The folder holding ``_config.yml`` (searching upwards from ``start`` or the cwd)."""
    here = Path(start or Path.cwd()).resolve()
    for p in (here, *here.parents):
        if (p / "_config.yml").is_file() and (p / "_toc.yml").is_file():
            return p
    raise FileNotFoundError(f"no _config.yml and _toc.yml found in {here} or its parents")


def _yaml(path: Path) -> dict:
    import yaml

    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


def repo_info(root: str | Path | None = None) -> tuple[str, str]:
    """``(url, branch)`` of the public repository, from ``_config.yml``."""
    cfg = _yaml(book_root(root) / "_config.yml")
    repo = cfg.get("repository") or {}
    url, branch = repo.get("url"), repo.get("branch")
    if not url or not branch:
        raise ValueError("_config.yml must set repository.url and repository.branch")
    return str(url).rstrip("/"), str(branch)


def install_cell_source(url: str, branch: str) -> str:
    """The Colab-only install cell for the repository ``url`` at ``branch``."""
    return (
        "# Colab only: install labclip_lib from the book's repository (locally, `make book` does it)\n"
        "import sys\n"
        'if "google.colab" in sys.modules:\n'
        f'    %pip install -q "labclip_lib @ git+{url}@{branch}"'
    )


def toc_notebooks(root: str | Path | None = None) -> list[Path]:
    """Every ``.ipynb`` listed in ``_toc.yml`` that exists."""
    root = book_root(root)
    files: list[str] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            if "file" in node:
                files.append(str(node["file"]))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(_yaml(root / "_toc.yml"))
    out = []
    for f in files:
        p = root / f
        p = p if p.suffix else p.with_suffix(".ipynb")
        if p.suffix == ".ipynb" and p.is_file():
            out.append(p)
    return out


def _code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def _problems(nb, expected: str) -> list[str]:
    code = _code_cells(nb)
    out = []
    if not code or code[0].source != expected:
        out.append("first code cell is not the Colab install cell derived from _config.yml")
    if len(code) < 2 or "parameters" not in code[1].metadata.get("tags", []):
        out.append("second code cell is not tagged 'parameters'")
    if any(c.get("outputs") or c.get("execution_count") for c in code):
        out.append("has outputs (commit notebooks without outputs: the book executes them)")
    return out


def sync(root: str | Path | None = None) -> list[Path]:
    """Rewrite install cells and strip outputs; returns the notebooks that changed."""
    import nbformat

    root = book_root(root)
    expected = install_cell_source(*repo_info(root))
    changed = []
    for path in toc_notebooks(root):
        before = path.read_text(encoding="utf-8")
        nb = nbformat.reads(before, as_version=4)
        code = _code_cells(nb)
        if code and "colab-install" in code[0].metadata.get("tags", []):
            cell = code[0]
        else:
            cell = nbformat.v4.new_code_cell()
            cell.id = "colab-install"
            nb.cells.insert(nb.cells.index(code[0]) if code else 0, cell)
        cell.source = expected
        cell.metadata["tags"] = INSTALL_TAGS
        for c in _code_cells(nb):
            c.outputs = []
            c.execution_count = None
        after = nbformat.writes(nb) + "\n"
        if after != before:
            path.write_text(after, encoding="utf-8")
            changed.append(path)
    return changed


def check(root: str | Path | None = None) -> dict[Path, list[str]]:
    """Problems per notebook (empty dict when all are in order)."""
    import nbformat

    root = book_root(root)
    expected = install_cell_source(*repo_info(root))
    out = {}
    for path in toc_notebooks(root):
        problems = _problems(nbformat.read(path, as_version=4), expected)
        if problems:
            out[path] = problems
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m labclip_lib.booktools", description=__doc__)
    ap.add_argument("command", choices=["sync", "check"])
    ap.add_argument("--root", default=None, help="book folder (default: found from the cwd)")
    args = ap.parse_args(argv)
    if args.command == "sync":
        for p in sync(args.root):
            print(f"updated {p}")
        return 0
    problems = check(args.root)
    for p, msgs in problems.items():
        for m in msgs:
            print(f"{p}: {m}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
