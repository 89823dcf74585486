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
        return f"{x:.{digits}f}"
    return str(x)


def show_table(table: pd.DataFrame, digits: int = 3, count_name: str = "seeds") -> pd.DataFrame:
    """``table`` formatted for a page: ``(value, mean|std|count)`` column groups become one column
    ``value`` holding ``mean ± std`` (just the mean when there is one seed); counts become one
    integer column ``count_name`` (per value when they differ); other numbers are rounded to
    ``digits``; missing values are empty cells, never ``NaN``.

    Used in chapters 2, 3, 4, 5, 6.
    """
    t = table.copy()
    if isinstance(t.columns, pd.MultiIndex) and t.columns.nlevels == 2 and set(t.columns.get_level_values(1)) & {"mean"}:
        groups = list(dict.fromkeys(t.columns.get_level_values(0)))
        counts = {g: t[(g, "count")] for g in groups if (g, "count") in t.columns}
        same = len(counts) > 0 and all(c.equals(next(iter(counts.values()))) for c in counts.values())
        out = pd.DataFrame(index=t.index)
        for g in groups:
            if (g, "mean") not in t.columns:
                out[g] = [_fmt(v, digits) for v in t[g].iloc[:, 0]]
                continue
            m = t[(g, "mean")]
            s = t[(g, "std")] if (g, "std") in t.columns else pd.Series(np.nan, index=t.index)
            out[g] = [_fmt(a, digits) if np.isnan(b) or (g in counts and counts[g].loc[i] < 2)
                      else f"{a:.{digits}f} ± {b:.{digits}f}" if not np.isnan(a) else ""
                      for i, a, b in zip(t.index, m, s)]
            if g in counts and not same:
                out[f"{g} ({count_name})"] = [_fmt(int(c), digits) if not np.isnan(c) else "" for c in counts[g]]
        if same:
            out[count_name] = [str(int(c)) if not np.isnan(c) else "" for c in next(iter(counts.values()))]
        return out
    return t.apply(lambda col: [_fmt(v, digits) for v in col]) if len(t) else t
