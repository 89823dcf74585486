"""Numbers for the prose: every number a chapter's text states is glued from a cell
(``myst_nb.glue``) and cited in the markdown as ``{glue:text}`name:.2f```, never typed.

:func:`glue_quotes` glues every quoted number of :mod:`labclip_lib.published` under
``q-<key>`` (e.g. ``q-clevr-binding``); :func:`glue_values` glues the chapter's own values.
Outside the book build (Colab, plain Jupyter) ``myst_nb`` is absent and both do nothing.
"""

from __future__ import annotations

import re

from ..experiments.grids import with_points
from ..published import QUOTES
from .chapters import PROFILE_MEASURES

__all__ = ["glue_name", "glue_quotes", "glue_values", "glue_column", "glue_grid", "glue_verdicts", "glue_claim_tests",
           "glue_profiles"]


def glue_name(key: str, prefix: str = "q-") -> str:
    """The glue name of a quote key: ``"pug:spar binding"`` -> ``"q-pug-spar-binding"``."""
    return prefix + re.sub(r"[^a-z0-9]+", "-", key.lower()).strip("-")


def _glue(name: str, value) -> None:
    try:
        # myst_nb exists only where the book is built; elsewhere the prose shows the role
        from myst_nb import glue
    except ImportError:
        return
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()  # numpy scalars would be glued as "np.float64(...)", which no role can format
    glue(name, value, display=False)


def glue_quotes() -> None:
    """Glue every quoted number (``q-<key>``) for the chapter's prose. Used in chapters 2, 3, 4, 5, 6."""
    for key, q in QUOTES.items():
        _glue(glue_name(key), q.value)


def glue_values(**values) -> None:
    """Glue the chapter's own values under their names (``glue_values(lr=LR)`` -> ``lr``). Used in chapter 6."""
    for name, value in values.items():
        _glue(name, value)


def glue_column(table, column: str, prefix: str) -> list[str]:
    """Glue every row's ``column`` value as ``<prefix>-<row label>``, slugged (e.g. chapter 8's
    ``glue_column(screen, "validation binding without negatives", "screen")`` ->
    ``screen-hard-negatives-salient``), and return the names."""
    if column not in table:
        raise ValueError(f"the table has no column {column!r}; columns: {', '.join(map(str, table.columns))}")
    names = []
    for label, value in table[column].items():
        names.append(glue_name(f"{prefix} {label}", prefix=""))
        _glue(names[-1], value)
    return names


def glue_profiles(table, prefix: str, measures: tuple[str, ...] = (*PROFILE_MEASURES, "epochs")) -> list[str]:
    """Glue the mean over seeds of each of ``measures`` per architecture and diet of an
    :func:`~labclip_lib.book.chapters.architecture_profiles` table as
    ``<prefix>-<architecture>-<diet>-<measure>``, slugged (``arch-clip-natural-map-binding``), and
    return the names. Used in chapter 2."""
    means = table.groupby(["architecture", "diet"], sort=False)[list(measures)].mean()
    names = []
    for (architecture, diet), row in means.iterrows():
        for measure in measures:
            names.append(glue_name(f"{prefix} {architecture} {diet} {measure}", prefix=""))
            _glue(names[-1], row[measure])
    return names


def glue_grid(table, measures: tuple[str, ...] = ("binding", "map binding", "image probe", "text probe",
                                                  "image margin", "map gain", "epochs", "own-format binding",
                                                  "single-object binding", "colour recognition")
              ) -> list[str]:
    """Glue the mean (over seeds) of each ``measure`` at every point of the grids in ``table``
    (rows of :func:`~labclip_lib.experiments.run_grids`) as ``<grid>-<point>-<measure>``, slugged
    (e.g. ``attribute-density-attribute-density-0-25-binding``), and return the names. Used in
    chapters 7-9."""
    means = with_points(table).groupby(["grid", "point"])[[m for m in measures if m in table]].mean()
    names = []
    for (grid, point), row in means.iterrows():
        for measure, value in row.items():
            names.append(glue_name(f"{grid}-{point}-{measure}", prefix=""))
            _glue(names[-1], float(value))
    return names


def glue_verdicts(verdicts) -> None:
    """Glue each claim's verdict margin as ``claim-<number>-margin`` (``verdicts``: the table of
    :func:`~labclip_lib.experiments.claim_verdicts`). Used in chapters 7, 8."""
    for claim, row in verdicts.iterrows():
        _glue(glue_name(f"claim-{claim}-margin", prefix=""), float(row["margin"]))


def glue_claim_tests(tests) -> None:
    """Glue each claim's effect, interval and seeds as ``claim-<number>-effect`` (``-low``,
    ``-high``, ``-seeds``) (``tests``: the table of
    :func:`~labclip_lib.experiments.claim_tests`). Used in chapters 7, 8."""
    for claim, row in tests.iterrows():
        for column in ("effect", "low", "high", "seeds"):
            _glue(glue_name(f"claim-{claim}-{column}", prefix=""), row[column])
