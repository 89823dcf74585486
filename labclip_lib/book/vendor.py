"""The rendered book's JavaScript, served from the build instead of public CDNs.

Jupyter Book pages load MathJax, and pages with widgets load require.js and the ipywidgets
embed manager, from CDNs: offline (a downloaded build, a course mirror, an air-gapped lab) they
show raw LaTeX and blank widget areas. :data:`PACKAGES` names the npm packages that provide
them, pinned by version and by the registry's own sha512 integrity; :func:`vendor_assets`
downloads each tarball once from the npm registry (a package registry, as pip's), checks it and
unpacks the files the pages use under ``cache_dir("vendor")``, beside :data:`WIDGET_SETUP`, a
few lines that tell require.js where the widget manager's own files are and let the manager
typeset labels with MathJax 3. The Sphinx extension
:mod:`labclip_lib.book.pages` points the build at them. Nothing is committed to the repository.

    python -m labclip_lib.book.tools vendor    # fetch (once) and print the directory
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import io
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..runtime import cache_dir
from ..storage import write_atomic

__all__ = ["VendoredPackage", "PACKAGES", "VENDOR_DIR", "WIDGET_SETUP", "vendor_assets", "vendored_path",
           "check_integrity"]

#: the folder under the build's ``_static`` that holds the vendored files
VENDOR_DIR = "labclip-vendor"
#: the registry the tarballs come from (``$LABCLIP_NPM_REGISTRY`` for a mirror)
REGISTRY = "https://registry.npmjs.org"


@dataclass(frozen=True)
class VendoredPackage:
    """One npm package: ``name@version`` with its registry ``integrity`` (``sha512-<base64>``),
    the files kept (``fnmatch`` patterns on paths inside the package, after ``prefix``) and the
    folder they go to under :data:`VENDOR_DIR`."""

    name: str
    version: str
    integrity: str
    keep: tuple[str, ...]
    target: str
    prefix: str = ""

    @property
    def tarball(self) -> str:
        base = self.name.rsplit("/", 1)[-1]
        registry = os.environ.get("LABCLIP_NPM_REGISTRY", REGISTRY).rstrip("/")
        return f"{registry}/{self.name}/-/{base}-{self.version}.tgz"


#: what the pages load: MathJax 3 (jupyter-book's default build, tex-mml-chtml, and the fonts,
#: input extensions and menu modules it loads on demand), require.js, and the ipywidgets 8 embed
#: manager MyST-NB uses (its version; its fonts and chunks beside it)
PACKAGES: tuple[VendoredPackage, ...] = (
    VendoredPackage("mathjax", "3.2.2",
                    "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
                    ("tex-mml-chtml.js", "output/chtml/*", "input/*", "a11y/*", "ui/*", "adaptors/*", "sre/*"),
                    "mathjax", prefix="es5/"),
    VendoredPackage("requirejs", "2.3.7",
                    "sha512-DouTG8T1WanGok6Qjg2SXuCMzszOo0eHeH9hDZ5Y4x8Je+9JB38HdTLT4/VA8OaUhBa0JPVHJ0pyBkM1z+pDsw==",
                    ("require.js",), "requirejs"),
    VendoredPackage("@jupyter-widgets/html-manager", "1.0.6",
                    "sha512-+Mn+Ra8wyIHrYaUpfmf9A3dsLkt/NuwzPQN8sthdxBD35VV5cOJbpmgMhNR27n/rmP3mKyEe0PWCJrtZrXTXDQ==",
                    ("embed-amd.js", "*.embed.js", "*.woff", "*.woff2", "*.ttf", "*.eot", "*.svg"),
                    "html-manager", prefix="dist/"),
)


#: ``labclip-vendor/widget-setup.js``, loaded between require.js and the widget manager. (1) The
#: manager's bundled modules (the manager, base widgets, controls) find their fonts and chunks
#: next to the URL require.js resolves each module id to, by default the page's folder: the ids
#: are mapped into the vendored copy, found from this script's own URL (so it holds at any page
#: depth and under any site prefix). (2) The manager typesets a
#: widget's label with MathJax 2's ``MathJax.Hub.Queue`` whenever ``window.MathJax`` exists; the
#: pages load MathJax 3, which has no ``Hub``: a two-line stand-in passes the element to
#: MathJax 3's ``typesetPromise`` (else every widget label on a page with math throws).
WIDGET_SETUP = """\
// labclip: the ipywidgets embed manager's files (vendored beside this script) and MathJax 3
(function () {
  var src = document.currentScript.src;
  var base = src.slice(0, src.lastIndexOf("/") + 1);
  var here = base + "html-manager/";  // each bundled module finds its files beside its own URL
  require.config({paths: {
    "@jupyter-widgets/html-manager/dist": base + "html-manager",
    "@jupyter-widgets/html-manager": here + "html-manager",
    "@jupyter-widgets/controls": here + "controls",
    "@jupyter-widgets/base": here + "base"
  }});
  window.addEventListener("DOMContentLoaded", function () {
    var mj = window.MathJax;
    if (mj && !mj.Hub) {
      mj.Hub = {Queue: function (job) {
        var element = job && job[2];
        if (element && mj.startup && mj.typesetPromise) {
          mj.startup.promise.then(function () { return mj.typesetPromise([element]); });
        }
      }};
    }
  });
})();
"""


def check_integrity(data: bytes, integrity: str, what: str) -> None:
    """Raise ``ValueError`` unless ``data`` has the npm ``integrity`` (``sha512-<base64>``)."""
    algorithm, _, expected = integrity.partition("-")
    if algorithm != "sha512" or not expected:
        raise ValueError(f"{what}: unsupported integrity {integrity!r} (expected sha512-<base64>)")
    got = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if got != expected:
        raise ValueError(f"{what}: the download does not match its pinned integrity (sha512 {got[:16]}..., "
                         f"expected {expected[:16]}...): refusing to use it")


def _download(package: VendoredPackage, timeout: float = 60.0) -> bytes:
    """The package's tarball, checked against its integrity: from ``cache_dir("vendor")/tarballs``
    when an earlier download is there, else from the registry (and kept there)."""
    kept = cache_dir("vendor") / "tarballs" / (hashlib.sha256(package.integrity.encode()).hexdigest()[:24] + ".tgz")
    if kept.is_file():
        data = kept.read_bytes()
        try:
            check_integrity(data, package.integrity, f"{package.name}@{package.version}")
            return data
        except ValueError:  # damaged: download again
            kept.unlink()
    try:
        with urllib.request.urlopen(package.tarball, timeout=timeout) as response:
            data = response.read()
    except (urllib.error.URLError, OSError) as err:
        raise RuntimeError(f"cannot download {package.name}@{package.version} from {package.tarball} ({err}); "
                           "the book's pages need it offline: run `python -m labclip_lib.book.tools vendor` "
                           "once with access to the npm registry (or set LABCLIP_NPM_REGISTRY to a mirror)") from err
    check_integrity(data, package.integrity, f"{package.name}@{package.version}")
    write_atomic(kept, data)
    return data


def _unpack(data: bytes, package: VendoredPackage, into: Path) -> int:
    """The kept files of the tarball ``data`` under ``into``; returns how many. Only regular
    files, inside the package folder, and no path that leaves ``into``."""
    count = 0
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            top, _, inner = member.name.partition("/")
            if not member.isfile() or not inner.startswith(package.prefix):
                continue
            rel = inner[len(package.prefix):]
            if not any(fnmatch.fnmatch(rel, pattern) for pattern in package.keep) or rel.endswith(".map"):
                continue
            target = (into / rel).resolve()
            if into.resolve() not in target.parents:
                raise ValueError(f"{package.name}: member {member.name!r} would be written outside its folder")
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            target.write_bytes(source.read() if source is not None else b"")
            count += 1
    if count == 0:
        raise ValueError(f"{package.name}@{package.version}: no file matches {package.keep}")
    return count


def _stamp(packages: tuple[VendoredPackage, ...]) -> str:
    text = "\n".join([*(f"{p.name}@{p.version} {p.integrity} {p.keep} {p.prefix}" for p in packages), WIDGET_SETUP])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def vendored_path(packages: tuple[VendoredPackage, ...] = PACKAGES, cache: str | Path | None = None) -> Path:
    """Where :func:`vendor_assets` keeps ``packages``: a folder holding :data:`VENDOR_DIR`
    (the one to add to ``html_static_path``), keyed by the packages' versions and files, under
    the cache ``cache`` (default :func:`~labclip_lib.runtime.cache_dir`)."""
    root = Path(cache).expanduser() / "vendor" if cache is not None else cache_dir("vendor")
    return root / _stamp(packages)


def vendor_assets(packages: tuple[VendoredPackage, ...] = PACKAGES) -> Path:
    """The vendored files of ``packages`` (downloaded from the npm registry and checked the first
    time, then read from the cache): returns the folder that holds :data:`VENDOR_DIR`, with one
    subfolder per package (its ``target``). Written atomically: a failed download leaves nothing."""
    root = vendored_path(packages)
    if (root / VENDOR_DIR).is_dir():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".vendor-", dir=root.parent))
    try:
        for package in packages:
            _unpack(_download(package), package, tmp / VENDOR_DIR / package.target)
        (tmp / VENDOR_DIR / "widget-setup.js").write_text(WIDGET_SETUP, encoding="utf-8")
        try:
            tmp.rename(root)
        except OSError:  # another process finished first: keep theirs
            if not (root / VENDOR_DIR).is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root
