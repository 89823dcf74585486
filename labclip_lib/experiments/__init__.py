"""Experiments over many organisms: paper 2's sweeps of data and training properties
(:mod:`.sweeps`; the book's grids and paper 2's claims: :mod:`.grids`), each organism measured with and without a LABCLIP map (:mod:`.rescue`), and the verdicts on
the papers' claims computed from the measured numbers (:mod:`.verdicts`; with intervals from a
two-stage cluster bootstrap: :mod:`.bootstrap`)."""

from . import bootstrap as _bootstrap
from . import grids as _grids
from . import rescue as _rescue
from . import sweeps as _sweeps
from . import verdicts as _verdicts
from .bootstrap import *  # noqa: F401,F403
from .grids import *  # noqa: F401,F403
from .rescue import *  # noqa: F401,F403
from .sweeps import *  # noqa: F401,F403
from .verdicts import *  # noqa: F401,F403

__all__ = [*_bootstrap.__all__, *_grids.__all__, *_rescue.__all__, *_sweeps.__all__, *_verdicts.__all__]
