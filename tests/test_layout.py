"""The package's layout: folders follow the pipeline and imports only point down it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "labclip_lib"
#: pipeline order: a module may import from its own layer or a lower one, never a higher one
LAYERS = {"runtime": 0, "storage": 0, "metrics": 0, "published": 0, "distributed": 0, "world": 1, "embed": 2,
          "organisms": 3, "models": 4, "testing": 4, "analysis": 5, "alignment": 6, "experiments": 7,
          "benchmarks": 7, "book": 8, "__main__": 9}
#: optional heavy dependencies that may be imported inside a function (with a comment saying why)
LAZY = ("transformers", "ipywidgets", "myst_nb", "spacy", "datasets", "pyarrow")


def _modules() -> dict[str, Path]:
    out = {}
    for p in ROOT.rglob("*.py"):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _imports(name: str, path: Path) -> list[tuple[str, ast.AST, bool]]:
    """(imported labclip_lib module, node, inside a function?) for every import of ``name``."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    tree = ast.parse(path.read_text())
    inner = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
             for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
            out.append((target, node, id(node) in inner))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            out += [(m.removeprefix("labclip_lib.") if m.startswith("labclip_lib") else f"<ext>{m}", node,
                     id(node) in inner) for m in mods]
    return out


def _layer(module: str) -> int | None:
    return LAYERS.get(module.split(".")[0]) if module else None


MODULES = _modules()


def test_every_module_has_a_layer():
    assert not [m for m in MODULES if m and _layer(m) is None], "a module outside the pipeline's folders"


@pytest.mark.parametrize("name", sorted(m for m in MODULES if m))
def test_imports_point_down_the_pipeline(name):
    for target, node, _ in _imports(name, MODULES[name]):
        if target.startswith("<ext>") or not target:
            continue
        assert _layer(target) <= _layer(name), (
            f"labclip_lib.{name} (line {node.lineno}) imports labclip_lib.{target}, which comes later in the pipeline")


@pytest.mark.parametrize("name", sorted(m for m in MODULES if m))
def test_no_imports_inside_functions_but_optional_heavy_ones(name):
    path = MODULES[name]
    lines = path.read_text().splitlines()
    for target, node, inside in _imports(name, path):
        if not inside:
            continue
        assert target.startswith("<ext>") and target[5:].split(".")[0] in LAZY, (
            f"labclip_lib.{name} line {node.lineno}: import of {target} inside a function")
        k = node.lineno - 2
        while k > 0 and lines[k].strip().startswith(("import ", "from ")):
            k -= 1  # a block of lazy imports shares one comment
        assert lines[k].strip().startswith("#") or "#" in lines[node.lineno - 1], (
            f"labclip_lib.{name} line {node.lineno}: a lazy import needs a comment saying why")


def test_no_import_circle():
    edges = {m: set() for m in MODULES}
    for m, p in MODULES.items():
        if p.name == "__init__.py":
            continue  # package faces re-export; their edges are not the design
        for target, _, _ in _imports(m, p):
            t = target if target in MODULES else target.rsplit(".", 1)[0]
            if t in MODULES and t != m and MODULES[t].name != "__init__.py":
                edges[m].add(t)
    state: dict[str, int] = {}

    def visit(u, stack):
        state[u] = 1
        for v in edges[u]:
            assert state.get(v) != 1, "import circle: " + " -> ".join(stack[stack.index(v):] + [v])
            if not state.get(v):
                visit(v, stack + [v])
        state[u] = 2

    for m in MODULES:
        if not state.get(m):
            visit(m, [m])
