"""Explorers that work without a kernel: computed at build time, shown by a few lines of script.

In the rendered book no Python kernel is behind the page, so an ipywidgets explorer shows its
first setting and nothing else. A :class:`KernelFreeView` computes the explorer's view for every
setting of its controls (or a stated subset of them) when the notebook runs, and shows the
results through native ``<select>`` and ``<input type="range">`` controls and an inline script
that swaps the view on input: no request leaves the page, no library is loaded. The same output
works in Colab and Jupyter (it is an HTML output). Figures travel as PNG or JPEG data URIs,
stored once and referenced by the views that share them (a scene shown beside every model's
ranking is stored once). A page's explorer data is held to :data:`MAX_BYTES`.

The chapters' explorers (:func:`scene_view`, :func:`caption_ranker_view`, :func:`probe_view_grid`,
:func:`swap_pair_view`, :func:`refit_view`, :func:`rescue_explorer_view`) draw with the same
functions as their ipywidgets versions in :mod:`.widgets`, which stay for what only a kernel can
do (free composition, refitting with any setting).
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import itertools
import json
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

from ..analysis.crossmodal import pair_caption_set
from ..embed.protocol import EmbeddingModel
from ..world.captions import CaptionSpec, describe, swap_negative
from ..world.render import render
from ..world.scenes import COLORS, SHAPES, PlacementError, make_scene
from .plotting import plot_swap_pairs_2d
from .widgets import probe_view, refit_alignment

__all__ = ["MAX_BYTES", "Control", "KernelFreeView", "figure_uri", "image_uri", "scene_view", "caption_ranker_view",
           "rescue_explorer_view", "probe_view_grid", "swap_pair_view", "refit_view"]

#: the most explorer data one page carries (bytes of the view's HTML)
MAX_BYTES = 1_000_000


@dataclass(frozen=True)
class Control:
    """One control: its ``name`` (shown), its ``values`` (what the view function receives) and
    how each is shown (``labels``, default ``str(value)``); ``kind`` "select" (a drop-down) or
    "range" (a slider over the values in order)."""

    name: str
    values: tuple
    labels: tuple[str, ...] | None = None
    kind: str = "select"

    def __post_init__(self) -> None:
        if len(self.values) == 0:
            raise ValueError(f"control {self.name!r} has no values")
        if self.labels is not None and len(self.labels) != len(self.values):
            raise ValueError(f"control {self.name!r}: {len(self.labels)} labels for {len(self.values)} values")
        if self.kind not in ("select", "range"):
            raise ValueError(f"control {self.name!r}: kind is 'select' or 'range', got {self.kind!r}")

    @property
    def shown(self) -> tuple[str, ...]:
        return self.labels if self.labels is not None else tuple(str(v) for v in self.values)


def image_uri(pixels: np.ndarray, fmt: str = "png", quality: int = 85) -> str:
    """A ``data:`` URI of ``(H, W, 3)`` uint8 pixels as PNG or JPEG."""
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"pixels must be (H, W, 3) uint8, got {pixels.shape} {pixels.dtype}")
    buf = io.BytesIO()
    if fmt == "png":
        Image.fromarray(pixels).save(buf, "PNG", optimize=True)
    elif fmt == "jpeg":
        Image.fromarray(pixels).save(buf, "JPEG", quality=quality)
    else:
        raise ValueError(f"fmt is 'png' or 'jpeg', got {fmt!r}")
    return f"data:image/{fmt};base64," + base64.b64encode(buf.getvalue()).decode()


def figure_uri(fig, dpi: int = 60, fmt: str = "png", quality: int = 80) -> str:
    """A matplotlib figure as a PNG or JPEG ``data:`` URI (and closed). JPEG for figures that
    hold rendered scenes, which PNG compresses poorly."""
    if fmt not in ("png", "jpeg"):
        raise ValueError(f"fmt is 'png' or 'jpeg', got {fmt!r}")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    if fmt == "png":
        return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    buf.seek(0)
    return image_uri(np.asarray(Image.open(buf).convert("RGB")), "jpeg", quality)


def _script_json(value: Any) -> str:
    """JSON that is safe inside a ``<script>`` element."""
    return json.dumps(value, separators=(",", ":")).replace("</", "<\\/").replace("<!--", "\\u003c!--")


_SCRIPT = """(function () {
  var root = document.getElementById(%(id)s);
  var data = JSON.parse(root.querySelector("script.lx-data").textContent);
  var view = root.querySelector(".lx-view");
  var inputs = root.querySelectorAll("[data-lx-control]");
  function update() {
    var key = Array.prototype.map.call(inputs, function (el) {
      var out = root.querySelector('output[data-lx-for="' + el.getAttribute("data-lx-control") + '"]');
      if (out) { out.textContent = data.labels[+el.getAttribute("data-lx-control")][+el.value]; }
      return el.value;
    }).join(",");
    var shown = data.views[key];
    view.innerHTML = shown === undefined ? data.missing : shown;
    Array.prototype.forEach.call(view.querySelectorAll("img[data-lx-asset]"), function (img) {
      img.src = data.assets[img.getAttribute("data-lx-asset")];
    });
    view.setAttribute("data-lx-key", key);
  }
  Array.prototype.forEach.call(inputs, function (el) {
    el.addEventListener("input", update);
    el.addEventListener("change", update);
  });
  update();
})();"""


class KernelFreeView:
    """An explorer computed at build time: ``view(*values)`` for every combination of the
    ``controls``' values (``keys``: only these combinations, as tuples of values; the others say
    that the kernel explorer covers them), shown without a kernel (:meth:`_repr_html_`).

    ``view`` returns an HTML fragment; an ``<img data-lx-asset="ID">`` in it is filled from
    ``assets[ID]`` (a ``data:`` URI, e.g. :func:`image_uri`), so that a figure shared by many
    views is stored once. ``initial``: the combination shown first (default the first).
    Raises ``ValueError`` when the page's data would exceed ``max_bytes``."""

    def __init__(self, name: str, controls: Sequence[Control], view: Callable[..., str],
                 assets: dict[str, str] | None = None, keys: Sequence[tuple] | None = None,
                 initial: tuple | None = None, note: str = "", max_bytes: int = MAX_BYTES):
        if not controls:
            raise ValueError("a kernel-free view needs at least one control")
        self.name, self.controls, self.note = name, tuple(controls), note
        combos = list(itertools.product(*(c.values for c in self.controls))) if keys is None else [tuple(k) for k in keys]
        if not combos:
            raise ValueError(f"{name}: no combination of the controls to compute")
        self.views: dict[str, str] = {}
        for combo in combos:
            self.views[self.key(*combo)] = view(*combo)
        self.assets = dict(assets or {})  # after the views: a view function may add the assets it uses
        missing = [a for v in self.views.values() for a in _assets_in(v) if a not in self.assets]
        if missing:
            raise ValueError(f"{name}: views refer to assets that were not given: {sorted(set(missing))[:5]}")
        self.initial = self.key(*(initial if initial is not None else combos[0]))
        if self.initial not in self.views:
            raise ValueError(f"{name}: the initial combination {initial!r} was not computed")
        self.html = self._render()
        if len(self.html.encode()) > max_bytes:
            raise ValueError(f"{name}: {len(self.html.encode()):,} bytes of explorer data, more than the "
                             f"{max_bytes:,} a page carries: compute fewer combinations or smaller figures")

    def key(self, *values) -> str:
        """The key of a combination of control values: their indices, comma-separated."""
        if len(values) != len(self.controls):
            raise ValueError(f"{self.name}: {len(values)} values for {len(self.controls)} controls")
        out = []
        for control, value in zip(self.controls, values):
            if value not in control.values:
                raise ValueError(f"{self.name}: {value!r} is not a value of control {control.name!r}")
            out.append(str(control.values.index(value)))
        return ",".join(out)

    def fragment(self, *values) -> str | None:
        """The view shown for these control values (``None`` where none was computed)."""
        return self.views.get(self.key(*values))

    @property
    def nbytes(self) -> int:
        """Bytes of the HTML the page carries for this explorer."""
        return len(self.html.encode())

    def _controls_html(self, start: list[str]) -> str:
        parts = []
        for i, (control, value) in enumerate(zip(self.controls, start)):
            label = html.escape(control.name)
            if control.kind == "range":
                parts.append(
                    f'<label class="lx-control">{label} <input type="range" min="0" max="{len(control.values) - 1}" '
                    f'step="1" value="{value}" data-lx-control="{i}"> <output data-lx-for="{i}">'
                    f'{html.escape(control.shown[int(value)])}</output></label>')
            else:
                options = "".join(f'<option value="{j}"{" selected" if str(j) == value else ""}>{html.escape(s)}</option>'
                                  for j, s in enumerate(control.shown))
                parts.append(f'<label class="lx-control">{label} <select data-lx-control="{i}">{options}</select></label>')
        return " ".join(parts)

    def _render(self) -> str:
        data = {"views": self.views, "assets": self.assets, "labels": [list(c.shown) for c in self.controls],
                "missing": '<p class="lx-missing">Not computed for the static page: this setting is in the '
                           "explorer below, in Colab or Jupyter.</p>"}
        blob = _script_json(data)
        uid = "lx-" + hashlib.sha256(blob.encode()).hexdigest()[:12]
        first = _with_assets(self.views[self.initial], self.assets)  # shown as is where scripts do not run
        note = f'<p class="lx-note">{html.escape(self.note)}</p>' if self.note else ""
        style = ("<style>.labclip-explorer{border:1px solid #ccc;border-radius:6px;padding:8px;margin:8px 0}"
                 ".labclip-explorer .lx-control{margin-right:10px;white-space:nowrap;font-size:0.9em}"
                 ".labclip-explorer .lx-view{margin-top:8px;overflow-x:auto}"
                 ".labclip-explorer ol{margin:0;padding-left:2.2em;font-size:0.85em}"
                 ".labclip-explorer .lx-true{color:#1a7f37;font-weight:bold}"
                 ".labclip-explorer .lx-swap{color:#c62828;font-weight:bold}</style>")
        return (f'{style}<div class="labclip-explorer" id="{uid}" data-explorer="{html.escape(self.name)}">'
                f'<div class="lx-controls">{self._controls_html(self.initial.split(","))}</div>{note}'
                f'<div class="lx-view" data-lx-key="{self.initial}">{first}</div>'
                f'<script type="application/json" class="lx-data">{blob}</script>'
                f"<script>{_SCRIPT % {'id': json.dumps(uid)}}</script></div>")

    def _repr_html_(self) -> str:
        return self.html


def _assets_in(fragment: str) -> list[str]:
    out, start = [], 0
    marker = 'data-lx-asset="'
    while (i := fragment.find(marker, start)) >= 0:
        j = fragment.index('"', i + len(marker))
        out.append(fragment[i + len(marker):j])
        start = j
    return out


def _with_assets(fragment: str, assets: dict[str, str]) -> str:
    for a in dict.fromkeys(_assets_in(fragment)):
        fragment = fragment.replace(f'data-lx-asset="{a}"', f'data-lx-asset="{a}" src="{assets[a]}"')
    return fragment


def _img(asset: str, alt: str, width: int | None = None) -> str:
    size = f' width="{int(width)}"' if width else ""
    return f'<img data-lx-asset="{asset}" alt="{html.escape(alt)}"{size}>'


# ---------------------------------------------------------------- the chapters' explorers
def scene_view(colors: Sequence[str] = COLORS[:4], shapes: Sequence[str] = SHAPES, resolution: int = 96,
               seed: int = 0) -> KernelFreeView:
    """Chapter 1: two objects (a large rubber first object and a large metal second one, the
    explorer's defaults) of ``colors`` x ``shapes`` each, rendered at ``resolution`` px with the
    template caption and its swapped negative (layout ``seed``). The ipywidgets explorer composes
    up to four objects of every colour, size and material."""
    colors, shapes = tuple(colors), tuple(shapes)
    assets: dict[str, str] = {}

    def view(c1, s1, c2, s2) -> str:
        try:
            scene = make_scene([dict(color=c1, shape=s1, size="large", material="rubber"),
                                dict(color=c2, shape=s2, size="large", material="metal")], seed=seed)
        except PlacementError as err:
            return f"<p>{html.escape(str(err))}</p>"
        caption = describe(scene, CaptionSpec(order="left_to_right"), seed=seed)
        negative = swap_negative(caption, seed=seed, scene=scene)
        asset = f"s{len(assets)}"
        assets[asset] = image_uri(render(scene, resolution, supersample=2)[0], "jpeg")
        neg = negative.text if negative is not None else "(none: the swap would describe the same scene)"
        return (f'{_img(asset, caption.text, 2 * resolution)}<p>caption: <span class="lx-true">'
                f'{html.escape(caption.text)}</span><br>swapped: <span class="lx-swap">{html.escape(neg)}</span></p>')

    controls = [Control("colour 1", colors), Control("shape 1", shapes), Control("colour 2", colors),
                Control("shape 2", shapes)]
    return KernelFreeView("scene explorer", controls, view, assets, initial=(colors[0], shapes[0], colors[1], shapes[1]),
                          note=f"Colours {', '.join(colors)}; sizes and materials fixed; {resolution} px.")


def _ranking_html(scores: np.ndarray, texts: Sequence[str], true: int, swap: int | None, top: int) -> str:
    """An ordered list of the ``top`` captions by score, the true caption and its swap marked
    (and appended with their ranks when outside the top)."""
    order = np.argsort(-scores, kind="stable")
    rank = {int(j): r + 1 for r, j in enumerate(order)}
    items = []
    for j in [int(j) for j in order[:top]] + [k for k in (true, swap) if k is not None and rank[k] > top]:
        cls = ' class="lx-true"' if j == true else ' class="lx-swap"' if j == swap else ""
        items.append(f'<li value="{rank[j]}"{cls}>{html.escape(texts[j])} <small>({scores[j]:.3f})</small></li>')
    return f"<ol>{''.join(items)}</ol>"


def _pair_views(score_sets: dict[str, Callable], colors: Sequence[str], top: int, seed: int, resolution: int,
                choice_name: str) -> tuple[list[Control], Callable[..., str], dict[str, str], list[tuple]]:
    """Controls, view function, assets and computed keys of a two-object ranking explorer: the
    first control (``choice_name``) picks ``score_sets[choice]() -> (model, [(title, text
    embeddings of the pair captions)])`` (called once, when first needed), the others the scene's
    two objects (``colors``, two different shapes, layout ``seed``; shown at ``resolution`` px)."""
    cs = pair_caption_set()
    colors = tuple(colors)
    assets: dict[str, str] = {}
    scenes: dict[tuple, Any] = {}
    embedded: dict[str, tuple] = {}

    def scene_of(c1, s1, c2, s2, size: int):
        k = (c1, s1, c2, s2, size)
        if k not in scenes:
            scene = make_scene([(c1, s1), (c2, s2)], seed=seed)
            asset = f"p{len(assets)}"
            assets[asset] = image_uri(render(scene, resolution, supersample=2)[0], "jpeg")
            scenes[k] = (scene, render(scene, size), asset)
        return scenes[k]

    def view(choice, c1, s1, c2, s2) -> str:
        if choice not in embedded:
            embedded[choice] = score_sets[choice]()
        model, sets = embedded[choice]
        try:
            scene, image, asset = scene_of(c1, s1, c2, s2, model.image_size)
        except PlacementError as err:
            return f"<p>{html.escape(str(err))}</p>"
        img = model.encode_images(image)
        cols = []
        for title, text_emb in sets:
            scores = (img @ text_emb.T)[0].numpy()
            cols.append(f'<div style="display:inline-block;vertical-align:top;margin-right:14px">'
                        f"<b>{html.escape(title)}</b>"
                        f"{_ranking_html(scores, cs.texts, cs.caption_of(scene), cs.swap_of(scene), top)}</div>")
        return (f'<div style="display:inline-block;vertical-align:top;margin-right:14px">'
                f'{_img(asset, f"{c1} {s1} and {c2} {s2}", resolution)}<br><small>{model.image_size} px for the '
                f"model</small></div>{''.join(cols)}")

    choices = tuple(score_sets)
    keys = [(m, c1, s1, c2, s2) for m in choices for c1 in colors for s1 in SHAPES for c2 in colors for s2 in SHAPES
            if s1 != s2]
    controls = [Control(choice_name, choices), Control("colour 1", colors), Control("shape 1", SHAPES),
                Control("colour 2", colors), Control("shape 2", SHAPES)]
    return controls, view, assets, keys


def caption_ranker_view(models: dict[str, EmbeddingModel], colors: Sequence[str] = COLORS[:4], top: int = 8,
                        seed: int = 0) -> KernelFreeView:
    """Chapter 3: for each model and each two-object scene of ``colors`` (two different
    shapes, layout ``seed``), the ``top`` of all 192 pair captions by cosine, the true caption
    green and its swap red (with their ranks when outside the top). The ipywidgets explorer
    takes every colour and layout."""
    if not models:
        raise ValueError("no models to compare (empty dict)")
    cs = pair_caption_set()
    sets = {name: (lambda m=m: (m, [("ranking", m.encode_texts(list(cs.texts)))])) for name, m in models.items()}
    controls, view, assets, keys = _pair_views(sets, colors, top, seed, 96, "model")
    return KernelFreeView("caption ranker", controls, view, assets, keys,
                          note=f"Colours {', '.join(colors)}; layout seed {seed}; two different shapes.")


def rescue_explorer_view(entries: dict[str, tuple], colors: Sequence[str] = COLORS[:3], top: int = 6,
                         seed: int = 0) -> KernelFreeView:
    """Chapter 9: for each organism (``entries``: label -> ``(model, alignment)``) and each
    two-object scene of ``colors``, the ``top`` pair captions before and after its LABCLIP map."""
    if not entries:
        raise ValueError("no organisms to explore (empty dict)")
    cs = pair_caption_set()

    def sets(model, alignment):
        texts = model.encode_texts(list(cs.texts))
        return model, [("before the map", texts), ("after the map", alignment.transform(texts))]

    score_sets = {label: (lambda m=m, a=a: sets(m, a)) for label, (m, a) in entries.items()}
    controls, view, assets, keys = _pair_views(score_sets, colors, top, seed, 80, "organism")
    return KernelFreeView("rescue explorer", controls, view, assets, keys,
                          note=f"Colours {', '.join(colors)}; layout seed {seed}; two different shapes.")


def probe_view_grid(results: dict, data: dict, dpi: int = 60) -> KernelFreeView:
    """Chapter 4: :func:`~.widgets.probe_view` (confusion matrix and held-out scenes) for every
    model, modality and shape of ``results`` (``results[model]``: :func:`modality_probes`'
    output, fitted on ``data[model]``), as JPEG figures at ``dpi``."""
    if not results:
        raise ValueError("no probe results to explore (empty dict)")
    assets: dict[str, str] = {}

    def view(model, modality, shape) -> str:
        res = next(r for r in results[model][modality] if r.shape == shape)
        asset = f"f{len(assets)}"
        assets[asset] = figure_uri(probe_view(res, data[model], modality, title=model), dpi, "jpeg")
        return _img(asset, f"{model} {modality} probe, {shape}")

    controls = [Control("model", tuple(results)), Control("modality", ("image", "text")), Control("shape", SHAPES)]
    return KernelFreeView("probe explorer", controls, view, assets)


def swap_pair_view(image_xy, caption_xy, swap_xy, captions: Sequence[str], swaps: Sequence[str], margins,
                   n_pairs: int = 12, dpi: int = 80) -> KernelFreeView:
    """Chapter 5: the first ``n_pairs`` swapped pairs, each highlighted in the 2-D projection
    (:func:`~.plotting.plot_swap_pairs_2d`) with its captions and cosine margin in the title."""
    if len(captions) == 0:
        raise ValueError("no pairs to explore (empty list)")
    n = min(n_pairs, len(captions))
    assets: dict[str, str] = {}

    def view(k) -> str:
        ax = plot_swap_pairs_2d(image_xy, caption_xy, swap_xy, highlight=k)
        ax.set_title(f"caption: {captions[k]}\nswap: {swaps[k]}\n"
                     f"cos(image, caption) - cos(image, swap) = {float(margins[k]):+.3f}", fontsize=9)
        asset = f"f{k}"
        assets[asset] = figure_uri(ax.figure, dpi)
        return _img(asset, f"pair {k}")

    return KernelFreeView("swap pairs", [Control("pair", tuple(range(n)), kind="range")], view, assets,
                          note=f"The first {n} of {len(captions)} pairs.")


def refit_view(embeddings: dict, combinations: dict, fractions: Sequence[float] = (1.0, 0.5, 0.25, 0.1),
               losses: Sequence[str] = ("hnb", "sb"), lr: float = 0.01, epochs: int = 10, seed: int = 0
               ) -> KernelFreeView:
    """Chapter 6: the map re-fitted (:func:`~.widgets.refit_alignment`) for each model, loss and
    share of the training combinations (``fractions``), at one learning rate and number of
    epochs, with its validation and test binding before and after."""
    if not embeddings:
        raise ValueError("no embeddings to fit on (empty dict)")

    def view(model, loss, fraction) -> str:
        n_all = len(set(combinations[model]))
        n = max(2, round(fraction * n_all))
        r = refit_alignment(embeddings[model], combinations[model], n, lr, epochs, loss, seed=seed)
        rows = "".join(
            f"<tr><td>{part}</td><td>{r[f'{part} before']:.3f}</td><td>{r[f'{part} after']:.3f}</td>"
            f'<td><div style="background:#1f77b4;height:8px;width:{200 * r[f"{part} before"]:.0f}px"></div>'
            f'<div style="background:#ff7f0e;height:8px;width:{200 * r[f"{part} after"]:.0f}px"></div></td></tr>'
            for part in ("val", "test"))
        return (f"<p>{html.escape(model)}, {loss.upper()}: {r['combinations']} of {n_all} combinations, "
                f"{r['rows']} rows, {epochs} epochs, learning rate {lr:g}</p><table><tr><th>split</th>"
                f"<th>before (cosine)</th><th>after the map</th><th></th></tr>{rows}</table>")

    controls = [Control("model", tuple(embeddings)), Control("loss", tuple(losses)),
                Control("training combinations", tuple(fractions), tuple(f"{f:.0%}" for f in fractions))]
    return KernelFreeView("map refitter", controls, view,
                          note=f"Fitted when the page was built ({epochs} epochs, learning rate {lr:g}); the explorer "
                               "below refits with any setting in Colab or Jupyter.")
