"""A Sphinx extension for the rendered pages: nothing from a CDN, no console error.

Listed in ``_config.yml`` (``sphinx.extra_extensions``). When the build's configuration is
read it points MathJax (``mathjax_path``) and MyST-NB's widget JavaScript (``nb_ipywidgets_js``:
require.js, :data:`~.vendor.WIDGET_SETUP` and the ipywidgets embed manager) at the files
:func:`~.vendor.vendor_assets` unpacked, and adds their folder to ``html_static_path``: Sphinx
copies them to ``_static/labclip-vendor/`` and every ``<script src>`` becomes relative. The
folder sits outside the book's own ``_static`` (Jupyter Book would add every ``.js`` there to
every page), so a page loads only what it uses. The widget manager gets no CDN to fetch unknown
widget modules from: the book uses core widgets only, which it bundles.

Two errors the theme stack logs on every page are fixed at the source: the pydata theme's
light/dark mode starts from ``default_mode`` (empty, it logs "invalid theme mode"), and an inline
script that both jupyter-book and the book theme add (sphinx-thebe's settings, declared twice:
"Identifier 'THEBE_JS_URL' has already been declared") is kept once.
"""

from __future__ import annotations

from .vendor import VENDOR_DIR, vendor_assets

__all__ = ["MATHJAX", "WIDGET_SCRIPTS", "setup"]

#: MathJax 3's combined TeX/MathML -> CommonHTML build (Jupyter Book's default), under ``_static``
MATHJAX = f"{VENDOR_DIR}/mathjax/tex-mml-chtml.js"
#: what MyST-NB adds to a page with widget state (its defaults, served locally), under ``_static``
WIDGET_SCRIPTS = {f"{VENDOR_DIR}/requirejs/require.js": {},
                  f"{VENDOR_DIR}/widget-setup.js": {},
                  f"{VENDOR_DIR}/html-manager/embed-amd.js": {}}


def _configure(app, config) -> None:
    root = vendor_assets()
    config.html_static_path = [*config.html_static_path, str(root)]
    config.mathjax_path = MATHJAX
    config.nb_ipywidgets_js = dict(WIDGET_SCRIPTS)
    config.html_context = {**config.html_context, "default_mode": "auto"}


def _script_key(script) -> tuple:
    """A script's file (an inline one has ``None`` or ``""``) and attributes (an inline one's body
    among them), not its priority."""
    return (str(getattr(script, "filename", script) or ""),
            tuple(sorted((k, str(v)) for k, v in getattr(script, "attributes", {}).items())))


def _once(app, pagename, templatename, context, doctree) -> None:
    """Each script of a page once (same file or same inline body and attributes)."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def setup(app) -> dict:
    """Sphinx's entry point: configure the build once its configuration is read, and keep each
    page's scripts once."""
    app.connect("config-inited", _configure)
    app.connect("html-page-context", _once, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
