"""Shared test set-up."""

import pytest


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Commands that keep state in the user's cache folder (the benchmark's unfinished fits)
    keep it in a temporary folder during tests, never in the real ~/.cache; subprocesses
    inherit the variable."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg-cache"))
