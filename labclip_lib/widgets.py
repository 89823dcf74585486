"""Interactive widgets for the book (ipywidgets is imported only when a widget is built).

In the static book a widget shows its initial state only; every chapter draws a static
figure first and offers the widget for Colab / Jupyter.
"""

from __future__ import annotations

from typing import Sequence

from .captions import CaptionSpec, describe, swap_negative
from .render import render
from .scenes import COLORS, MATERIALS, SHAPES, SIZES, PlacementError, make_scene

__all__ = ["scene_explorer", "explore_scene", "caption_ranking", "caption_ranker"]

_DEFAULT_OBJECTS = (("red", "cube", "large", "rubber"), ("blue", "sphere", "large", "metal"),
                    ("green", "cylinder", "small", "rubber"), ("yellow", "sphere", "small", "metal"))


def explore_scene(objects: Sequence[tuple[str, str, str, str]], seed: int = 0, resolution: int = 128,
                  style: str = "template", ax=None):
    """Render a composed scene and title it with its caption and swapped negative.

    ``objects`` are ``(colour, shape, size, material)`` tuples. Returns the axes.
    """
    import matplotlib.pyplot as plt

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
    """
    import ipywidgets as W
    import matplotlib.pyplot as plt

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


def caption_ranking(model, objects: Sequence[tuple[str, str]], seed: int = 0, top: int = 12, caption_set=None):
    """Render a two-object scene, score it against every caption of the pair caption set.

    ``objects``: two ``(colour, shape)`` pairs with different shapes. Draws the scene (at the
    model's resolution, as the model sees it) and the ``top`` captions by cosine, the true
    caption green and its swap red. Returns the figure.
    """
    import matplotlib.pyplot as plt

    from .crossmodal import pair_caption_set
    from .plotting import plot_caption_ranking

    cs = caption_set or pair_caption_set()
    scene = make_scene(list(objects), seed=seed)
    if not cs.covers(scene):
        raise ValueError("the caption set describes two objects of different shapes; "
                         f"got {[o.noun_phrase for o in scene.objects]}")
    image = render(scene, model.image_size)
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
    """
    import ipywidgets as W
    import matplotlib.pyplot as plt

    if not models:
        raise ValueError("no models to compare (empty dict)")
    controls = {
        "model": W.Dropdown(options=list(models), description="model"),
        "c1": W.Dropdown(options=COLORS, value="red", layout=W.Layout(width="100px")),
        "s1": W.Dropdown(options=SHAPES, value="cube", layout=W.Layout(width="100px")),
        "c2": W.Dropdown(options=COLORS, value="blue", layout=W.Layout(width="100px")),
        "s2": W.Dropdown(options=SHAPES, value="sphere", layout=W.Layout(width="100px")),
        "seed": W.IntSlider(value=0, min=0, max=50, description="layout seed", continuous_update=False),
    }

    def draw(model, c1, s1, c2, s2, seed):
        if s1 == s2:
            print("pick two different shapes (the caption set names each shape once)")
            return
        try:
            caption_ranking(models[model], [(c1, s1), (c2, s2)], seed=seed)
            plt.show()
        except PlacementError as err:
            print(err)

    out = W.interactive_output(draw, controls)
    row = W.HBox([W.Label("objects"), controls["c1"], controls["s1"], W.Label("and"), controls["c2"], controls["s2"]])
    return W.VBox([controls["model"], row, controls["seed"], out])
