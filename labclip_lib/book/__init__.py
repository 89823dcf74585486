"""What the book's pages use: plots (:mod:`.plotting`), tables (:mod:`.tables`), widgets
(:mod:`.widgets`), chapter helpers (:mod:`.chapters`) and the book's own tooling (:mod:`.tools`:
install cells, launch buttons, checks)."""

from . import plotting as _plotting
from . import widgets as _widgets
from .plotting import *  # noqa: F401,F403
from .widgets import *  # noqa: F401,F403

__all__ = [*_plotting.__all__, *_widgets.__all__]
