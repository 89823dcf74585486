"""Numbers for the prose: every number a chapter's text states is glued from a cell
(``myst_nb.glue``) and cited in the markdown as ``{glue:text}`name:.2f```, never typed.

:func:`glue_quotes` glues every quoted number of :mod:`labclip_lib.published` under
``q-<key>`` (e.g. ``q-clevr-binding``); :func:`glue_values` glues the chapter's own values.
Outside the book build (Colab, plain Jupyter) ``myst_nb`` is absent and both do nothing.
"""

from __future__ import annotations

import re

from ..published import QUOTES

__all__ = ["glue_name", "glue_quotes", "glue_values"]


def glue_name(key: str, prefix: str = "q-") -> str:
    """The glue name of a quote key: ``"pug:spar binding"`` -> ``"q-pug-spar-binding"``."""
    return prefix + re.sub(r"[^a-z0-9]+", "-", key.lower()).strip("-")


def _glue(name: str, value) -> None:
    try:
        # myst_nb exists only where the book is built; elsewhere the prose shows the role
        from myst_nb import glue
    except ImportError:
        return
    glue(name, value, display=False)


def glue_quotes() -> None:
    """Glue every quoted number (``q-<key>``) for the chapter's prose. Used in chapters 2, 3, 4, 5, 6."""
    for key, q in QUOTES.items():
        _glue(glue_name(key), q.value)


def glue_values(**values) -> None:
    """Glue the chapter's own values under their names (``glue_values(lr=LR)`` -> ``lr``). Used in chapter 6."""
    for name, value in values.items():
        _glue(name, value)
