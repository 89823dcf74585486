"""Interactive widgets for the book (ipywidgets is imported only when a widget is built).

In the static book a widget shows its initial state only; every chapter draws a static
figure first and offers the widget for Colab / Jupyter.
"""

from __future__ import annotations

from typing import Sequence

from .captions import CaptionSpec, describe, swap_negative
from .render import render
from .scenes import COLORS, MATERIALS, SHAPES, SIZES, PlacementError, make_scene

__all__ = ["scene_explorer", "explore_scene"]

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
