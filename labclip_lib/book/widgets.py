"""Interactive widgets for the book (ipywidgets is imported only when a widget is built).

In the static book a widget shows its initial state only; every chapter draws a static
figure first and offers the widget for Colab / Jupyter.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

from ..alignment import LinearAlignment
from ..analysis.crossmodal import pair_caption_set
from ..embed.protocol import EmbeddingModel
from ..metrics import binding_accuracy
from ..world.captions import CaptionSpec, describe, swap_negative
from ..world.render import render
from ..world.scenes import COLORS, MATERIALS, SHAPES, SIZES, PlacementError, make_scene
from .plotting import plot_caption_ranking, plot_confusion, plot_swap_pairs_2d

__all__ = ["scene_explorer", "explore_scene", "caption_ranking", "caption_ranker", "probe_view", "probe_explorer",
           "swap_pair_explorer", "refit_alignment", "alignment_refitter", "rescue_view",
           "rescue_explorer"]

_DEFAULT_OBJECTS = (("red", "cube", "large", "rubber"), ("blue", "sphere", "large", "metal"),
                    ("green", "cylinder", "small", "rubber"), ("yellow", "sphere", "small", "metal"))


def explore_scene(objects: Sequence[tuple[str, str, str, str]], seed: int = 0, resolution: int = 128,
                  style: str = "template", ax=None):
    """Render a composed scene and title it with its caption and swapped negative.

    ``objects`` are ``(colour, shape, size, material)`` tuples. Returns the axes.

    Used in chapter 1.
    """

    if len(objects) == 0:
        raise ValueError("compose at least one object")
    scene = make_scene([dict(color=c, shape=s, size=z, material=m) for c, s, z, m in objects], seed=seed)
    caption = describe(scene, CaptionSpec(style=style, order="left_to_right"), seed=seed)
    negative = swap_negative(caption, seed=seed, scene=scene)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 4.6))
    ax.imshow(render(scene, resolution, supersample=2)[0])
    ax.axis("off")
    neg = negative.text if negative is not None else "(no negative: the swap would describe the same scene)"
    ax.set_title(f"caption:  {caption.text}\nswapped:  {neg}", fontsize=9, loc="left")
    return ax


def scene_explorer(n_slots: int = 4):
    """Pick colours, shapes, sizes and materials of up to ``n_slots`` objects; see the scene.

    Returns an ``ipywidgets.VBox`` (display it, or let it be the cell's value).

    Used in chapter 1.
    """
    # ipywidgets only when a widget is built: the static views need matplotlib alone
    import ipywidgets as W

    rows, controls = [], {}
    for i in range(n_slots):
        c, s, z, m = _DEFAULT_OBJECTS[i % len(_DEFAULT_OBJECTS)]
        on = W.Checkbox(value=i < 2, description=f"object {i + 1}", indent=False, layout=W.Layout(width="90px"))
        color = W.Dropdown(options=COLORS, value=c, layout=W.Layout(width="100px"))
        shape = W.Dropdown(options=SHAPES, value=s, layout=W.Layout(width="100px"))
        size = W.Dropdown(options=SIZES, value=z, layout=W.Layout(width="90px"))
        material = W.Dropdown(options=MATERIALS, value=m, layout=W.Layout(width="90px"))
        controls.update({f"on{i}": on, f"color{i}": color, f"shape{i}": shape, f"size{i}": size,
                         f"material{i}": material})
        rows.append(W.HBox([on, color, shape, size, material]))
    controls["seed"] = W.IntSlider(value=0, min=0, max=50, description="layout seed", continuous_update=False)
    controls["resolution"] = W.Dropdown(options=[32, 64, 128, 224], value=128, description="pixels")
    controls["style"] = W.ToggleButtons(options=["template", "natural"], value="template")

    def draw(**kw):
        objs = [(kw[f"color{i}"], kw[f"shape{i}"], kw[f"size{i}"], kw[f"material{i}"])
                for i in range(n_slots) if kw[f"on{i}"]]
        if not objs:
            print("tick at least one object")
            return
        try:
            explore_scene(objs, seed=kw["seed"], resolution=kw["resolution"], style=kw["style"])
            plt.show()
        except PlacementError as err:
            print(err)

    out = W.interactive_output(draw, controls)
    return W.VBox([*rows, W.HBox([controls["seed"], controls["resolution"]]), controls["style"], out])


def _pair_scene(objects: Sequence[tuple[str, str]], seed: int, resolution: int, cs):
    """A two-object scene the pair caption set ``cs`` describes, and its image at ``resolution``."""
    scene = make_scene(list(objects), seed=seed)
    if not cs.covers(scene):
        raise ValueError("the caption set describes two objects of different shapes; "
                         f"got {[o.noun_phrase for o in scene.objects]}")
    return scene, render(scene, resolution)


def _pair_controls():
    """The dropdowns that compose a two-object scene (two colour-shape pairs and a layout seed)."""
    # ipywidgets only when a widget is built: the static views need matplotlib alone
    import ipywidgets as W

    controls = {
        "c1": W.Dropdown(options=COLORS, value="red", layout=W.Layout(width="100px")),
        "s1": W.Dropdown(options=SHAPES, value="cube", layout=W.Layout(width="100px")),
        "c2": W.Dropdown(options=COLORS, value="blue", layout=W.Layout(width="100px")),
        "s2": W.Dropdown(options=SHAPES, value="sphere", layout=W.Layout(width="100px")),
        "seed": W.IntSlider(value=0, min=0, max=50, description="layout seed", continuous_update=False),
    }
    row = W.HBox([W.Label("objects"), controls["c1"], controls["s1"], W.Label("and"), controls["c2"], controls["s2"]])
    return controls, row


def _draw_pair(view, **kw) -> None:
    if kw["s1"] == kw["s2"]:
        print("pick two different shapes (the caption set names each shape once)")
        return
    try:
        view([(kw["c1"], kw["s1"]), (kw["c2"], kw["s2"])], kw["seed"])
        plt.show()
    except PlacementError as err:
        print(err)


def caption_ranking(model: EmbeddingModel, objects: Sequence[tuple[str, str]], seed: int = 0, top: int = 12, caption_set=None):
    """Render a two-object scene, score it against every caption of the pair caption set.

    ``objects``: two ``(colour, shape)`` pairs with different shapes. Draws the scene (at the
    model's resolution, as the model sees it) and the ``top`` captions by cosine, the true
    caption green and its swap red. Returns the figure.

    Used in chapter 3.
    """

    cs = caption_set or pair_caption_set()
    scene, image = _pair_scene(objects, seed, model.image_size, cs)
    sims = (model.encode_images(image) @ model.encode_texts(list(cs.texts)).T)[0]
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(10, 4.2), width_ratios=[1, 2.2])
    a0.imshow(render(scene, 160, supersample=2)[0])
    a0.axis("off")
    a0.set_title(f"{model.image_size} px for the model; shown at 160 px", fontsize=8)
    plot_caption_ranking(sims.numpy(), cs.texts, cs.caption_of(scene), cs.swap_of(scene), top=top, ax=a1)
    return fig


def caption_ranker(models: dict):
    """Compose a two-object scene and watch how each model ranks all 192 pair captions.

    ``models`` maps a label to a model (``encode_images``/``encode_texts``, ``image_size``).
    Returns an ``ipywidgets.VBox``.

    Used in chapter 3.
    """
    # ipywidgets only when a widget is built: the static views need matplotlib alone
    import ipywidgets as W

    if not models:
        raise ValueError("no models to compare (empty dict)")
    controls, row = _pair_controls()
    controls["model"] = W.Dropdown(options=list(models), description="model")

    def draw(model, **kw):
        _draw_pair(lambda objects, seed: caption_ranking(models[model], objects, seed=seed), **kw)

    out = W.interactive_output(draw, controls)
    return W.VBox([controls["model"], row, controls["seed"], out])


def rescue_view(model: EmbeddingModel, alignment: LinearAlignment, objects: Sequence[tuple[str, str]],
                seed: int = 0, top: int = 8, title: str = ""):
    """A two-object scene and the ``top`` pair captions as ``model`` ranks them before and after
    its LABCLIP map (true caption green, its swap red). Returns the figure.

    Used in chapter 9.
    """
    cs = pair_caption_set()
    scene, image = _pair_scene(objects, seed, model.image_size, cs)
    img = model.encode_images(image)
    texts = model.encode_texts(list(cs.texts))
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), width_ratios=[1, 1.7, 1.7])
    axes[0].imshow(render(scene, 160, supersample=2)[0])
    axes[0].axis("off")
    axes[0].set_title(title or f"{model.image_size} px for the model", fontsize=8)
    for ax, text_emb, name in ((axes[1], texts, "before the map"),
                               (axes[2], alignment.transform(texts), "after the map")):
        plot_caption_ranking((img @ text_emb.T)[0].numpy(), cs.texts, cs.caption_of(scene), cs.swap_of(scene),
                             top=top, ax=ax)
        ax.set_title(name, fontsize=9)
    return fig


def rescue_explorer(entries: dict):
    """Pick an organism of the grids and a two-object scene; see its caption ranking before and
    after its LABCLIP map. ``entries`` maps a label to ``(model, alignment)``. Returns an
    ``ipywidgets.VBox``.

    Used in chapter 9.
    """
    # ipywidgets only when a widget is built: the static views need matplotlib alone
    import ipywidgets as W

    if not entries:
        raise ValueError("no organisms to explore (empty dict)")
    controls, row = _pair_controls()
    controls["organism"] = W.Dropdown(options=list(entries), description="organism",
                                      layout=W.Layout(width="480px"))

    def draw(organism, **kw):
        model, alignment = entries[organism]
        _draw_pair(lambda objects, seed: rescue_view(model, alignment, objects, seed=seed, title=organism), **kw)

    out = W.interactive_output(draw, controls)
    return W.VBox([controls["organism"], row, controls["seed"], out])


def probe_view(result, data, modality: str, n_examples: int = 6, title: str = ""):
    """A probe's confusion matrix beside a few held-out scenes with true and predicted colour.

    ``result``: a single-label :class:`~labclip_lib.analysis.probes.ProbeResult`; ``data``: the scenes it
    was fitted on (``scenes``, ``captions`` or ``eval_captions``). Returns the figure.

    Used in chapter 4.
    """

    if len(result.test_true) == 0:
        raise ValueError("the probe has no test rows")
    if isinstance(result.test_true[0], tuple):
        raise ValueError("probe_view shows single-label probes (multi=False)")
    captions = getattr(data, "captions", None) or [c.text for c in data.eval_captions]
    fig = plt.figure(figsize=(11, 3.6))
    grid = fig.add_gridspec(2, 1 + (n_examples + 1) // 2, width_ratios=[2.2] + [1] * ((n_examples + 1) // 2))
    plot_confusion(result.test_true, result.test_pred, COLORS, ax=fig.add_subplot(grid[:, 0]),
                   title=f"{title} {modality} probe, {result.shape}: test {result.test:.2f}".strip())
    picks = np.linspace(0, len(result.test_index) - 1, min(n_examples, len(result.test_index))).astype(int)
    for k, j in enumerate(picks):
        ax = fig.add_subplot(grid[k % 2, 1 + k // 2])
        i = int(result.test_index[j])
        ax.imshow(render(data.scenes[i], 96, supersample=2)[0])
        ax.axis("off")
        ok = result.test_true[j] == result.test_pred[j]
        ax.set_title(f"{captions[i]}\n{result.shape}: {COLORS[result.test_pred[j]]} "
                     f"({'right' if ok else 'true ' + COLORS[result.test_true[j]]})",
                     fontsize=7, color="black" if ok else "C3")
    return fig


def probe_explorer(results: dict, data: dict):
    """Choose model, modality and shape; see the probe's confusion matrix and held-out scenes.

    ``results[model]`` is the output of :func:`~labclip_lib.analysis.unimodal.modality_probes` and
    ``data[model]`` the data it was fitted on. Returns an ``ipywidgets.VBox``.

    Used in chapter 4.
    """
    # ipywidgets only when a widget is built: the static views need matplotlib alone
    import ipywidgets as W

    if not results:
        raise ValueError("no probe results to explore (empty dict)")
    controls = {"model": W.Dropdown(options=list(results), description="model"),
                "modality": W.ToggleButtons(options=["image", "text"], value="image"),
                "shape": W.ToggleButtons(options=list(SHAPES), value=SHAPES[0])}

    def draw(model, modality, shape):
        res = next(r for r in results[model][modality] if r.shape == shape)
        probe_view(res, data[model], modality, title=model)
        plt.show()

    out = W.interactive_output(draw, controls)
    return W.VBox([controls["model"], W.HBox([controls["modality"], controls["shape"]]), out])


def swap_pair_explorer(image_xy, caption_xy, swap_xy, captions: Sequence[str], swaps: Sequence[str], margins):
    """Step through swapped caption pairs in a 2-D projection (see :func:`~labclip_lib.analysis.geometry.pca_2d`).

    The chosen image, its caption and the swapped caption are drawn in colour, the others faded;
    the title gives the two captions and the image's cosine margin. Returns an ``ipywidgets.VBox``.

    Used in chapter 5.
    """
    # ipywidgets only when a widget is built: the static views need matplotlib alone
    import ipywidgets as W

    if len(captions) == 0:
        raise ValueError("no pairs to explore (empty list)")
    pick = W.IntSlider(value=0, min=0, max=len(captions) - 1, description="pair", continuous_update=False)

    def draw(k):
        ax = plot_swap_pairs_2d(image_xy, caption_xy, swap_xy, highlight=k)
        ax.set_title(f"caption: {captions[k]}\nswap: {swaps[k]}\n"
                     f"cos(image, caption) - cos(image, swap) = {float(margins[k]):+.3f}", fontsize=9)
        plt.show()

    return W.VBox([pick, W.interactive_output(draw, {"k": pick})])


def refit_alignment(emb: dict, combinations: Sequence, n_combinations: int | None = None, lr: float = 0.01,
                    epochs: int = 10, loss: str = "hnb", batch_size: int = 128, seed: int = 0) -> dict:
    """Fit a LABCLIP map on part of the training combinations and score it before / after.

    ``emb``: ``{"train": ..., "val": ..., "test": ...}``, each the output of
    :func:`~labclip_lib.analysis.geometry.pair_embeddings`; ``combinations``: the combination of each
    training row (e.g. ``scene.combination``). ``n_combinations``: how many distinct training
    combinations to keep (seeded choice; ``None``: all). Returns a dict with the map, the number
    of rows and combinations used, and binding accuracy before / after on val and test.
    """
    tr = emb["train"]
    if len(combinations) != len(tr["image"]):
        raise ValueError(f"got {len(combinations)} combinations for {len(tr['image'])} training rows")
    keys = sorted(set(combinations))
    n = len(keys) if n_combinations is None else int(n_combinations)
    if not 1 <= n <= len(keys):
        raise ValueError(f"n_combinations must be between 1 and {len(keys)}, got {n_combinations}")
    chosen = {keys[i] for i in np.random.default_rng(seed).choice(len(keys), n, replace=False)}
    rows = [i for i, c in enumerate(combinations) if c in chosen]
    if len(rows) < 2:
        raise ValueError(f"{n} combination(s) give only {len(rows)} training row(s); choose more")
    a = LinearAlignment(loss, lr=lr, epochs=epochs, batch_size=batch_size, seed=seed, progress=False)
    a.fit(tr["image"][rows], tr["caption"][rows], tr["swap"][rows])
    out = {"map": a, "rows": len(rows), "combinations": n}
    for part in ("val", "test"):
        e = emb[part]
        out[f"{part} before"] = binding_accuracy(e["image"], e["caption"], e["swap"])
        out[f"{part} after"] = a.score(e["image"], e["caption"], e["swap"])
    return out


def alignment_refitter(embeddings: dict, combinations: dict, lr: float = 0.01, epochs: int = 10):
    """Sliders for learning rate, epochs and number of training combinations; *fit* re-fits the
    map on the cached embeddings (seconds) and redraws before / after binding accuracy.

    ``embeddings[model]`` and ``combinations[model]`` are the arguments of
    :func:`refit_alignment` for each model. Returns an ``ipywidgets.VBox``.

    Used in chapter 6.
    """
    # ipywidgets only when a widget is built: the static views need matplotlib alone
    import ipywidgets as W

    if not embeddings:
        raise ValueError("no embeddings to fit on (empty dict)")
    first = next(iter(embeddings))
    n_max = len(set(combinations[first]))
    model = W.Dropdown(options=list(embeddings), description="model")
    loss = W.ToggleButtons(options=[("HNB (paper)", "hnb"), ("SB (no negatives)", "sb")], value="hnb")
    lr_w = W.FloatLogSlider(value=lr, base=10, min=-4, max=-0.5, description="learning rate", readout_format=".0e",
                            continuous_update=False)
    ep_w = W.IntSlider(value=epochs, min=1, max=50, description="epochs", continuous_update=False)
    n_w = W.IntSlider(value=n_max, min=2, max=n_max, description="combinations", continuous_update=False)
    button = W.Button(description="fit", button_style="primary")
    out = W.Output()

    def on_model(change) -> None:
        n_w.max = len(set(combinations[change["new"]]))
        n_w.value = n_w.max

    def fit(_=None) -> None:
        with out:
            out.clear_output(wait=True)
            r = refit_alignment(embeddings[model.value], combinations[model.value], n_w.value, lr_w.value,
                                ep_w.value, loss.value)
            fig, ax = plt.subplots(figsize=(5, 3))
            x = np.arange(2)
            ax.bar(x - 0.2, [r["val before"], r["test before"]], 0.4, label="before (cosine)", color="C0")
            ax.bar(x + 0.2, [r["val after"], r["test after"]], 0.4, label="after the map", color="C1")
            ax.axhline(0.5, color="0.6", linestyle="--", linewidth=1)
            ax.set_xticks(x, ["val", "test"])
            ax.set_ylim(0, 1.05)
            ax.set_ylabel("binding accuracy")
            ax.set_title(f"{model.value}: {r['combinations']} combinations, {r['rows']} rows, "
                         f"{r['map'].history_.seconds:.1f} s", fontsize=9)
            ax.legend(fontsize=8, loc="lower right")
            plt.show()

    model.observe(on_model, names="value")
    button.on_click(fit)
    fit()
    return W.VBox([W.HBox([model, loss]), W.HBox([lr_w, ep_w]), W.HBox([n_w, button]), out])
