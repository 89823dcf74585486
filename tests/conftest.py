"""Every test session gets its own empty cache directory: the suite never reads or writes the
user's cache, and always starts cold. Under pytest-xdist each worker has its own; the one
costly fixture every worker needs, the trained CLIP, is trained once per run and shared."""

from __future__ import annotations

from pathlib import Path

import pytest
from filelock import FileLock

from labclip_lib.testing import make_trained_clip


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("LABCLIP_CACHE", str(tmp_path_factory.mktemp("labclip-cache")))
    yield
    mp.undo()


@pytest.fixture(scope="session")
def trained_clip(tmp_path_factory, worker_id) -> Path:
    """:func:`~labclip_lib.testing.make_trained_clip`'s CLIP (read-only: copy it to change it),
    trained once per run: under pytest-xdist the first worker to ask trains and exports it into
    the run's shared temporary directory while the others wait on a lock, then read it."""
    if worker_id == "master":  # no xdist: this session's own directory
        return make_trained_clip(tmp_path_factory.mktemp("trained-clip") / "clip")
    shared = tmp_path_factory.getbasetemp().parent / "trained-clip"
    done = shared.with_name("trained-clip.done")  # written once the export is whole
    with FileLock(str(shared) + ".lock"):
        if not done.exists():
            make_trained_clip(shared)
            done.touch()
    return shared


#: long tests that do not need the shared CLIP (speed scripts, process pools)
_LONG = ("test_shards.py", "test_streaming_fit.py")


def pytest_collection_modifyitems(config, items):
    """Longest first, for pytest-xdist's one-test-at-a-time scheduling (``make test``): the test
    that trains the shared CLIP, then long tests that do not need it (while it trains), then
    those that do (whole chapters), then the rest; so that no worker waits for the CLIP and
    none is left alone with a long test at the end. Each group keeps its own order."""
    clip_first = next((i for i in items if i.path.name == "test_learned_clip.py"), None)

    def rank(item) -> int:
        if item is clip_first:
            return 0
        if item.path.name in _LONG or item.name.endswith("_quick_runs"):
            return 1
        if item.path.name in ("test_notebooks.py", "test_learned_clip.py"):
            return 2
        return 3

    items.sort(key=rank)
