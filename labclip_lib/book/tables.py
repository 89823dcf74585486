"""Result tables as readers expect them: ``0.968 ± 0.013`` instead of ``mean``/``std``/``count``
column triples, seeds as an integer, no ``NaN`` cells. One helper for every chapter."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

__all__ = ["summarize", "show_table"]

_STATS = ("mean", "std", "count")


def summarize(table: pd.DataFrame, by: str | Sequence[str], values: Sequence[str] | None = None,
              sort: bool = False) -> pd.DataFrame:
    """Mean, standard deviation and count of ``values`` (default: every numeric column but ``by``
    and ``seed``) per group of ``by``: columns ``(value, mean|std|count)``, numbers kept numeric
    (format them with :func:`show_table`).

    Used in chapters 2, 3, 4, 5, 6.
    """
    if len(table) == 0:
        raise ValueError("summarize: empty table")
    keys = [by] if isinstance(by, str) else list(by)
    missing = [k for k in keys if k not in table.columns]
    if missing:
        raise KeyError(f"summarize: no column(s) {missing} in the table (columns: {list(table.columns)})")
    if values is None:
        values = [c for c in table.select_dtypes("number").columns if c not in keys and c != "seed"]
    return table.groupby(keys, sort=sort)[list(values)].agg(list(_STATS))


def _fmt(x, digits: int) -> str:
    if x is None or (isinstance(x, (float, np.floating)) and np.isnan(x)):
        return ""
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)) or (isinstance(x, (float, np.floating)) and float(x).is_integer()
                                            and abs(x) >= 10 ** digits):
        return f"{int(x):,}" if abs(x) >= 10_000 else str(int(x))
    if isinstance(x, (float, np.floating)):
        return f"{x + 0.0 if round(x, digits) else 0.0:.{digits}f}"  # never "-0.000"
    return str(x)


def _pm(mean: float, std: float, digits: int) -> str:
    if np.isnan(mean):
        return ""
    if np.isnan(std):
        return _fmt(mean, digits)
    return f"{_fmt(mean, digits)} ± {_fmt(std, digits)}"


def show_table(table: pd.DataFrame, digits: int | dict = 3, count_name: str = "seeds") -> pd.DataFrame:
    """``table`` formatted for a page: ``(value, mean|std|count)`` column groups become one column
    ``value`` holding ``mean ± std`` (just the mean with one seed); the counts become one integer
    column ``count_name`` (the row's largest), and a cell with fewer says so (``0.965 (1 seed)``);
    other numbers are rounded to ``digits`` (or ``digits[column]``, 3 for columns not named, e.g.
    ``{"training seconds": 0}``); missing values are empty cells, never ``NaN``.
    Used in chapters 2-6."""
    t = table.copy()
    places = (lambda col: int(digits.get(col, 3))) if isinstance(digits, dict) else (lambda col: int(digits))
    stats = isinstance(t.columns, pd.MultiIndex) and t.columns.nlevels == 2 and "mean" in t.columns.get_level_values(1)
    if not stats:
        return t.apply(lambda col: [_fmt(v, places(col.name)) for v in col]) if len(t) else t
    groups = list(dict.fromkeys(t.columns.get_level_values(0)))
    nan = pd.Series(np.nan, index=t.index)
    counts = pd.DataFrame({g: t[(g, "count")] for g in groups if (g, "count") in t.columns}, index=t.index)
    most = counts.max(axis=1) if len(counts.columns) else nan
    out = pd.DataFrame(index=t.index)
    for g in groups:
        if (g, "mean") not in t.columns:
            out[g] = [_fmt(v, places(g)) for v in t[g].iloc[:, 0]]
            continue
        mean, std = t[(g, "mean")], t.get((g, "std"), nan)
        n = counts[g] if g in counts else nan
        cells = []
        for i in t.index:
            cell = _pm(mean[i], std[i] if not (n[i] < 2) else np.nan, places(g))
            if cell and not np.isnan(n[i]) and n[i] < most[i]:
                cell += f" ({int(n[i])} {count_name[:-1] if n[i] == 1 and count_name.endswith('s') else count_name})"
            cells.append(cell)
        out[g] = cells
    if len(counts.columns):
        out[count_name] = [str(int(c)) if not np.isnan(c) else "" for c in most]
    return out
