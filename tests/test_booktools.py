"""The repository URL lives in _config.yml only; notebooks' install cells follow it."""

from __future__ import annotations

from pathlib import Path

import nbformat

from labclip_lib import booktools

ROOT = Path(__file__).resolve().parents[1]


def test_repository_notebooks_are_in_order():
    notebooks = booktools.toc_notebooks(ROOT)
    assert notebooks, "the toc lists no notebook"
    assert booktools.check(ROOT) == {}
    url, branch = booktools.repo_info(ROOT)
    assert url.startswith("https://") and branch == "main"


def _book(tmp_path: Path, url: str) -> Path:
    (tmp_path / "_config.yml").write_text(f"repository:\n  url: {url}\n  branch: main\n")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: nb/ch\n")
    (tmp_path / "nb").mkdir()
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# A chapter"),
        nbformat.v4.new_code_cell("SEED = 0", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("print(SEED)", outputs=[nbformat.v4.new_output("stream", text="0\n")],
                                  execution_count=3),
    ])
    nbformat.write(nb, tmp_path / "nb" / "ch.ipynb")
    return tmp_path


def test_sync_inserts_install_cell_strips_outputs_and_follows_url(tmp_path):
    root = _book(tmp_path, "https://github.com/someone/fork")
    assert booktools.check(root)  # no install cell, has outputs
    assert booktools.sync(root) == [root / "nb" / "ch.ipynb"]
    assert booktools.check(root) == {}
    assert booktools.sync(root) == []  # idempotent
    nb = nbformat.read(root / "nb" / "ch.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "git+https://github.com/someone/fork@main" in code[0].source
    assert code[0].metadata["tags"] == booktools.INSTALL_TAGS
    assert all(not c.outputs and c.execution_count is None for c in code)
    # a one-line change of the URL propagates to the notebook
    cfg = root / "_config.yml"
    cfg.write_text(cfg.read_text().replace("someone/fork", "labclip/elsewhere"))
    assert booktools.check(root)
    booktools.sync(root)
    nb = nbformat.read(root / "nb" / "ch.ipynb", as_version=4)
    assert "git+https://github.com/labclip/elsewhere@main" in nb.cells[1].source
    assert len([c for c in nb.cells if c.cell_type == "code"]) == 3


def test_install_cell_runs_harmlessly_outside_colab():
    url, branch = booktools.repo_info(ROOT)
    from IPython.core.inputtransformer2 import TransformerManager

    code = TransformerManager().transform_cell(booktools.install_cell_source(url, branch))
    namespace: dict = {"get_ipython": lambda: (_ for _ in ()).throw(AssertionError("pip ran outside Colab"))}
    exec(compile(code, "<install>", "exec"), namespace)  # not on Colab: nothing is installed
    assert "run_line_magic" in code
