"""Every test session gets its own empty cache directory: the suite never reads or writes the
user's cache, and always starts cold."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("LABCLIP_CACHE", str(tmp_path_factory.mktemp("labclip-cache")))
    yield
    mp.undo()
