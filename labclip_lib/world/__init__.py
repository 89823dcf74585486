"""The scene world: CLEVR-like scenes as data (:mod:`.scenes`), drawn from seeds (:mod:`.sampling`),
rendered (:mod:`.render`), described by captions with knobs (:mod:`.captions`), split by held-out
colour-shape combinations (:mod:`.splits`) and cached as rendered sets (:mod:`.scenesets`)."""

from . import captions as _captions
from . import render as _render
from . import sampling as _sampling
from . import scenes as _scenes
from . import scenesets as _scenesets
from . import splits as _splits
from .captions import *  # noqa: F401,F403
from .render import *  # noqa: F401,F403
from .sampling import *  # noqa: F401,F403
from .scenes import *  # noqa: F401,F403
from .scenesets import *  # noqa: F401,F403
from .splits import *  # noqa: F401,F403

__all__ = [*_scenes.__all__, *_render.__all__, *_sampling.__all__, *_captions.__all__, *_splits.__all__, *_scenesets.__all__]
