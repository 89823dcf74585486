"""The repository URL lives in _config.yml only; the chapters' Colab install cells follow it."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

from labclip_lib.book import tools as booktools

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- the real book
def test_config_names_the_repository_once():
    url, branch = booktools.repo_info(ROOT)
    assert url.startswith("https://github.com/") and not url.endswith("/")
    assert branch == "main"
    assert booktools.repo_url(ROOT) == url
    assert booktools.install_requirement(root=ROOT) == f"labclip_lib @ git+{url}@main"


def test_toc_entries_exist():
    missing = {p: m for p, m in booktools.check(ROOT).items() if not p.exists()}
    assert not missing, missing


def test_repository_notebooks_are_in_order():
    notebooks = booktools.toc_notebooks(ROOT)
    if not notebooks:
        pytest.skip("_toc.yml lists no chapter notebook under notebooks/ yet")
    problems = booktools.check(ROOT)
    report = "\n".join(f"{p.relative_to(ROOT)}: {m}" for p, ms in problems.items() for m in ms)
    assert not problems, f"run `python -m labclip_lib.book.tools sync` and fix:\n{report}"
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        expected = booktools.install_cell_source(root=ROOT, extras=booktools.notebook_extras(nb))
        assert code[0].source == expected, path
        assert code[0].metadata["tags"][:2] == booktools.INSTALL_TAGS, path
        assert "parameters" in code[1].metadata["tags"], path
        assert "MODEL_ID" in code[1].source or "MODEL_ID" not in "".join(c.source for c in code), path


# ----------------------------------------------------------------------------- a scratch book
def _book(tmp_path: Path, url: str, branch: str = "main") -> Path:
    (tmp_path / "_config.yml").write_text(f"repository:\n  url: {url}\n  path_to_book: ''\n  branch: {branch}\n")
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: intro\nparts:\n  - caption: Part\n    chapters:\n      - file: notebooks/ch\n"
    )
    (tmp_path / "intro.md").write_text("# Intro\n")
    (tmp_path / "notebooks").mkdir()
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# A chapter"),
        nbformat.v4.new_code_cell("SEED = 0\nMODEL_ID = None", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("print(SEED)", outputs=[nbformat.v4.new_output("stream", text="0\n")],
                                  execution_count=3),
        nbformat.v4.new_markdown_cell("Some **prose** with `code` and unicode: α → β."),
    ])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"version_major": 2}}
    nbformat.write(nb, tmp_path / "notebooks" / "ch.ipynb")
    return tmp_path


def _code(path: Path) -> list:
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def test_sync_inserts_install_cell_and_strips_outputs(tmp_path):
    root = _book(tmp_path, "https://github.com/someone/fork")
    path = root / "notebooks" / "ch.ipynb"
    problems = booktools.check(root)[path]
    assert any("install cell" in m for m in problems) and any("outputs" in m for m in problems)
    assert booktools.main(["check", "--root", str(root)]) == 1

    assert booktools.sync(root) == [path]
    assert booktools.check(root) == {}
    assert booktools.main(["check", "--root", str(root)]) == 0
    nb = nbformat.read(path, as_version=4)
    code = _code(path)
    assert len(code) == 3
    assert code[0].source == booktools.install_cell_source("https://github.com/someone/fork", "main")
    assert code[0].source.startswith(
        "# Colab only: install labclip_lib from the book's repository\n"
        "import subprocess\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        '    _requirement = "labclip_lib @ git+https://github.com/someone/fork@main"\n'
    )
    assert code[0].metadata["tags"] == booktools.INSTALL_TAGS
    assert code[1].metadata["tags"] == ["parameters"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    assert "widgets" not in nb.metadata
    assert nb.cells[0].source == "# A chapter" and nb.cells[-1].source.endswith("α → β.")
    text = path.read_text(encoding="utf-8")
    assert text.startswith('{\n "cells": [\n  {\n') and text.endswith("}\n")  # Jupyter's format


def test_sync_is_idempotent_and_leaves_in_order_files_untouched(tmp_path):
    root = _book(tmp_path, "https://github.com/someone/fork")
    path = root / "notebooks" / "ch.ipynb"
    booktools.sync(root)
    before = path.read_bytes()
    os.utime(path, (1_000_000_000, 1_000_000_000))
    assert booktools.sync(root) == []
    assert path.read_bytes() == before
    assert path.stat().st_mtime == 1_000_000_000  # not rewritten


def test_url_change_in_config_propagates(tmp_path):
    root = _book(tmp_path, "https://github.com/someone/fork")
    path = root / "notebooks" / "ch.ipynb"
    booktools.sync(root)
    cfg = root / "_config.yml"
    cfg.write_text(cfg.read_text().replace("someone/fork", "labclip/elsewhere").replace("main", "dev"))
    assert booktools.repo_info(root) == ("https://github.com/labclip/elsewhere", "dev")
    assert any("install cell" in m for m in booktools.check(root)[path])
    assert booktools.sync(root) == [path]
    code = _code(path)
    assert '"labclip_lib @ git+https://github.com/labclip/elsewhere@dev"' in code[0].source
    assert "from https://github.com/labclip/elsewhere (branch dev)" in code[0].source
    assert "someone/fork" not in path.read_text(encoding="utf-8")
    assert len(code) == 3 and booktools.check(root) == {}


def test_a_notebook_can_install_package_extras(tmp_path):
    root = _book(tmp_path, "https://github.com/someone/fork")
    path = root / "notebooks" / "ch.ipynb"
    booktools.sync(root)
    nb = nbformat.read(path, as_version=4)
    nb.metadata["labclip"] = {"colab_extras": ["benchmarks"]}
    nbformat.write(nb, path)
    assert any("install cell" in m for m in booktools.check(root)[path])
    assert booktools.sync(root) == [path] and booktools.check(root) == {}
    source = _code(path)[0].source
    assert '_requirement = "labclip_lib[benchmarks] @ git+https://github.com/someone/fork@main"' in source
    with pytest.raises(ValueError, match="extra name"):
        booktools.install_requirement("https://x", "main", extras=("bench marks",))
    nb.metadata["labclip"] = {"colab_extras": "benchmarks"}
    nbformat.write(nb, path)
    with pytest.raises(ValueError, match="must be a list"):
        booktools.check(root)


def test_stale_install_cell_is_replaced_not_duplicated(tmp_path):
    root = _book(tmp_path, "https://github.com/someone/fork")
    path = root / "notebooks" / "ch.ipynb"
    nb = nbformat.read(path, as_version=4)
    stale = nbformat.v4.new_code_cell("!pip install labclip_lib", metadata={"tags": ["colab-install", "remove-cell"]})
    nb.cells.insert(1, stale)
    nbformat.write(nb, path)
    booktools.sync(root)
    code = _code(path)
    assert len(code) == 3
    assert code[0].metadata["tags"] == booktools.INSTALL_TAGS  # remove-cell replaced by hide-cell
    assert '"-m", "pip", "install"' in code[0].source


def test_check_flags_missing_parameters_cell_and_toc_entries(tmp_path):
    root = _book(tmp_path, "https://github.com/someone/fork")
    path = root / "notebooks" / "ch.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].metadata["tags"] = []
    nbformat.write(nb, path)
    booktools.sync(root)
    assert any("parameters" in m for m in booktools.check(root)[path])
    (root / "_toc.yml").write_text((root / "_toc.yml").read_text() + "      - file: notebooks/missing\n")
    assert root / "notebooks/missing" in booktools.check(root)


def test_check_flags_commented_markdown(tmp_path):
    root = _book(tmp_path, "https://github.com/someone/fork")
    path = root / "notebooks" / "ch.ipynb"
    booktools.sync(root)
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].source = "# # 1. Title\n#\n# Text that should have been markdown."
    nbformat.write(nb, path)
    assert any("commented" in m for m in booktools.check(root)[path])


def _run_install_cell(source: str, monkeypatch, on_colab: bool, returncode: int = 0) -> list:
    """Execute an install cell with ``subprocess.run`` recorded (and answering ``returncode``),
    on Colab or not; returns the recorded calls."""
    import subprocess
    import sys
    import types

    calls = []

    def run(args, **kwargs):
        calls.append((args, kwargs))
        return subprocess.CompletedProcess(args, returncode, stdout="", stderr="ERROR: repository not found\n")

    monkeypatch.setattr(subprocess, "run", run)
    if on_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(compile(source, "<install cell>", "exec"), {})
    return calls


def test_install_cell_does_nothing_outside_colab(monkeypatch):
    source = booktools.install_cell_source(root=ROOT)
    assert not [ln for ln in source.splitlines() if ln.lstrip().startswith(("%", "!"))]  # no IPython magic
    assert _run_install_cell(source, monkeypatch, on_colab=False) == []  # nothing is installed


def test_install_cell_installs_on_colab_and_says_what_to_change_when_it_fails(monkeypatch, capsys):
    import sys

    source = booktools.install_cell_source("https://github.com/someone/fork", "dev", extras=("benchmarks",))
    calls = _run_install_cell(source, monkeypatch, on_colab=True)
    requirement = "labclip_lib[benchmarks] @ git+https://github.com/someone/fork@dev"
    assert [c[0] for c in calls] == [[sys.executable, "-m", "pip", "install", "-q", requirement]]
    assert capsys.readouterr().out == ""
    with pytest.raises(RuntimeError, match="labclip_lib is not installed"):
        _run_install_cell(source, monkeypatch, on_colab=True, returncode=1)
    out = capsys.readouterr().out
    assert "ERROR: repository not found" in out
    assert "from https://github.com/someone/fork (branch dev)" in out
    assert "repository.url" in out and "_config.yml" in out
