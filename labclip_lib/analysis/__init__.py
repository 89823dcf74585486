"""Analyses of any model (the model protocol): cross-modal binding and retrieval
(:mod:`.crossmodal`), linear probes (:mod:`.probes`) of each modality (:mod:`.unimodal`), the
binding profile (:mod:`.profiles`), conjunctive search (:mod:`.conjunctive`) and the geometry of
the joint space (:mod:`.geometry`), and the image-side bound on a text-side map
(:mod:`.pairing`)."""

from . import conjunctive as _conjunctive
from . import crossmodal as _crossmodal
from . import geometry as _geometry
from . import pairing as _pairing
from . import probes as _probes
from . import profiles as _profiles
from . import unimodal as _unimodal
from .conjunctive import *  # noqa: F401,F403
from .crossmodal import *  # noqa: F401,F403
from .geometry import *  # noqa: F401,F403
from .pairing import *  # noqa: F401,F403
from .probes import *  # noqa: F401,F403
from .profiles import *  # noqa: F401,F403
from .unimodal import *  # noqa: F401,F403

__all__ = [*_probes.__all__, *_crossmodal.__all__, *_unimodal.__all__, *_profiles.__all__, *_conjunctive.__all__, *_geometry.__all__,
           *_pairing.__all__]
