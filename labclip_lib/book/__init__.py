"""What the book's pages use: plots (:mod:`.plotting`), tables (:mod:`.tables`), widgets
(:mod:`.widgets`) and their kernel-free views for the rendered pages (:mod:`.kernel_free`), numbers for the prose (:mod:`.glue`), chapter helpers (:mod:`.chapters`),
chapter 10's benchmark plumbing (:mod:`.benchmarks`), the appendix's
runs at one and several processes (:mod:`.scale`) and the book's own tooling (:mod:`.tools`:
install cells, launch buttons, checks)."""

from . import benchmarks as _benchmarks
from . import chapters as _chapters
from . import glue as _glue
from . import kernel_free as _kernel_free
from . import plotting as _plotting
from . import scale as _scale
from . import tables as _tables
from . import widgets as _widgets
from .benchmarks import *  # noqa: F401,F403
from .chapters import *  # noqa: F401,F403
from .glue import *  # noqa: F401,F403
from .kernel_free import *  # noqa: F401,F403
from .plotting import *  # noqa: F401,F403
from .scale import *  # noqa: F401,F403
from .tables import *  # noqa: F401,F403
from .widgets import *  # noqa: F401,F403

__all__ = [*_benchmarks.__all__, *_chapters.__all__, *_glue.__all__, *_kernel_free.__all__, *_plotting.__all__,
           *_scale.__all__, *_tables.__all__, *_widgets.__all__]
