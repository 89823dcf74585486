"""The pages' vendored JavaScript and the Sphinx extension that serves it (offline: a local
``file://`` registry stands in for npm's)."""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from labclip_lib.book import pages, vendor


def tarball(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """A local registry holding one package, ``fake@1.0.0``."""
    data = tarball({"package/dist/main.js": b"var a = 1;", "package/dist/main.js.map": b"{}",
                    "package/dist/font.woff2": b"font", "package/README.md": b"readme",
                    "package/src/other.js": b"no"})
    (tmp_path / "registry" / "fake" / "-").mkdir(parents=True)
    (tmp_path / "registry" / "fake" / "-" / "fake-1.0.0.tgz").write_bytes(data)
    monkeypatch.setenv("LABCLIP_NPM_REGISTRY", (tmp_path / "registry").as_uri())
    monkeypatch.setenv("LABCLIP_CACHE", str(tmp_path / "cache"))  # each test fetches anew
    package = vendor.VendoredPackage("fake", "1.0.0", integrity(data), ("*.js", "*.woff2"), "fake", prefix="dist/")
    return package, tmp_path / "registry" / "fake" / "-" / "fake-1.0.0.tgz"


def test_a_package_is_fetched_checked_and_kept_once(registry):
    package, path = registry
    assert package.tarball.endswith("/fake/-/fake-1.0.0.tgz")
    root = vendor.vendor_assets((package,))
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    # the kept files of the package's dist/ (no source map, nothing outside dist/) and the setup script
    assert files == [f"{vendor.VENDOR_DIR}/fake/font.woff2", f"{vendor.VENDOR_DIR}/fake/main.js",
                     f"{vendor.VENDOR_DIR}/widget-setup.js"]
    assert (root / vendor.VENDOR_DIR / "widget-setup.js").read_text() == vendor.WIDGET_SETUP
    path.unlink()  # the registry is gone: the unpacked folder is read again, nothing is fetched
    assert vendor.vendor_assets((package,)) == root == vendor.vendored_path((package,))


def test_a_tarball_that_does_not_match_its_integrity_is_refused(registry, tmp_path):
    package, path = registry
    path.write_bytes(tarball({"package/dist/main.js": b"var evil = 1;"}))
    with pytest.raises(ValueError, match="does not match its pinned integrity"):
        vendor.vendor_assets((package,))
    assert not vendor.vendored_path((package,)).exists()  # nothing half-written is left
    with pytest.raises(ValueError, match="unsupported integrity"):
        vendor.check_integrity(b"x", "md5-abc", "x")


def test_without_the_registry_the_error_says_what_to_run(registry):
    package, path = registry
    path.unlink()
    with pytest.raises(RuntimeError, match="labclip_lib.book.tools vendor"):
        vendor.vendor_assets((package,))


def test_members_outside_the_package_folder_are_refused(tmp_path):
    data = tarball({"package/dist/../../escape.js": b"x"})
    package = vendor.VendoredPackage("p", "1", integrity(data), ("*.js",), "p", prefix="dist/")
    with pytest.raises(ValueError, match="outside its folder"):
        vendor._unpack(data, package, tmp_path / "into")
    empty = vendor.VendoredPackage("p", "1", integrity(data), ("*.css",), "p", prefix="dist/")
    with pytest.raises(ValueError, match="no file matches"):
        vendor._unpack(tarball({"package/dist/a.js": b"x"}), empty, tmp_path / "other")


def test_the_pinned_packages_are_what_the_pages_load():
    names = {p.name: p for p in vendor.PACKAGES}
    assert set(names) == {"mathjax", "requirejs", "@jupyter-widgets/html-manager"}
    assert all(p.integrity.startswith("sha512-") for p in vendor.PACKAGES)
    # MyST-NB's default widget manager version, and the MathJax build jupyter-book loads
    assert names["@jupyter-widgets/html-manager"].version == "1.0.6"
    assert pages.MATHJAX.endswith("mathjax/tex-mml-chtml.js") and "tex-mml-chtml.js" in names["mathjax"].keep


def test_the_extension_points_the_build_at_the_vendored_files(monkeypatch, tmp_path):
    monkeypatch.setattr(pages, "vendor_assets", lambda: tmp_path)
    config = SimpleNamespace(html_static_path=["_static"], mathjax_path="https://cdn/x.js", nb_ipywidgets_js={},
                             html_context={"a": 1})
    pages._configure(None, config)
    assert config.html_static_path == ["_static", str(tmp_path)]
    assert config.mathjax_path == pages.MATHJAX and not config.mathjax_path.startswith(("http", "/"))
    assert list(config.nb_ipywidgets_js) == [f"{vendor.VENDOR_DIR}/requirejs/require.js",
                                             f"{vendor.VENDOR_DIR}/widget-setup.js",
                                             f"{vendor.VENDOR_DIR}/html-manager/embed-amd.js"]
    assert config.html_context == {"a": 1, "default_mode": "auto"}


def test_a_script_added_twice_is_kept_once():
    def script(filename, priority=500, **attributes):
        return SimpleNamespace(filename=filename, priority=priority, attributes=attributes)

    scripts = [script("a.js"), script(None, body="const X = 1"), script("", priority=600, body="const X = 1"),
               script("a.js", priority=200), script("b.js", defer="defer"), script("b.js")]
    context = {"script_files": scripts}
    pages._once(None, "page", "page.html", context, None)
    assert context["script_files"] == [scripts[0], scripts[1], scripts[4], scripts[5]]


def test_the_book_lists_the_extension():
    config = (Path(__file__).resolve().parents[1] / "_config.yml").read_text()
    assert "labclip_lib.book.pages" in config
